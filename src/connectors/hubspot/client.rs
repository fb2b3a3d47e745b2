//! HubSpot CRM v3 HTTP client: bearer token, paging, typed errors, polite retries.
//!
//! The base URL comes from `[hubspot] api_base`, so tests point it at a local fake. Every
//! request is counted (the sync summary reports it) and timed (telemetry). Before each attempt
//! the client waits for a slot in the rolling 10-second window (`requests_per_10s`) and, for
//! search, the per-second search limit; a circuit breaker refuses requests for a while after
//! several failures in a row. 429 honours `Retry-After`; 5xx and timeouts are retried with
//! exponential backoff and jitter, up to a cap.
//!
//! # Writes and retries
//!
//! Writes ([`super::write`]) go through the same gates, token refresh and telemetry, but a
//! retry must never make a second record:
//! * **PATCH** (move a deal, complete a task) sets absolute values, so applying it twice is the
//!   same as once: it is retried like a read (429, 5xx, timeouts, dropped connections).
//! * **POST creates** (tasks, notes) are sent again only when HubSpot surely did not apply the
//!   first attempt: a 429 (refused by the rate limiter), a connection that could not be opened
//!   (nothing was sent), and a 401 after the token was refreshed once. A timeout, a connection
//!   dropped after sending, a cut-off or unreadable answer, or a 5xx ends the call with
//!   [`HubSpotError::Uncertain`]: the record may exist. The caller puts a marker in what it
//!   creates ([`super::write::marker`]) and asks [`HubSpotClient::find_by_marker`] before it
//!   tries again.
//! * A 400 `VALIDATION_ERROR` is [`HubSpotError::Invalid`] (nothing changed, do not retry); a
//!   404 is [`HubSpotError::NotFound`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use std::sync::{Arc, Mutex};

use secrecy::{ExposeSecret, SecretString};

use crate::auth::Account;
use crate::auth::token::{TokenError, TokenSource};
use serde::de::DeserializeOwned;

use super::wire::{AssociationBatch, ErrorBody, ObjectPage, OwnerPage, PipelineList};
pub use crate::connectors::http::{ApiEvent, Retry};
use crate::connectors::http::{Backoff, EventLog, body_excerpt, retry_after};
use crate::connectors::politeness::{BreakerState, CircuitBreaker, RateWindow};

/// What can go wrong talking to HubSpot, each with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum HubSpotError {
    /// 401: the token is missing, expired or revoked.
    #[error("HubSpot rejected the token (401): run `casey auth hubspot` or check CASEYOS_HUBSPOT_TOKEN")]
    Unauthorized,
    /// The OAuth sign-in could not give a token (revoked, say); the message says what to do.
    #[error(transparent)]
    Auth(#[from] TokenError),
    /// 403: the token lacks a scope.
    #[error("HubSpot refused access (403: {0}); give the private app the crm.objects.*.read scopes")]
    Forbidden(String),
    /// 429 after every retry.
    #[error("HubSpot rate limit ({policy}) still hit after {attempts} attempts; try again in a minute")]
    RateLimited {
        /// `TEN_SECONDLY_ROLLING` or `DAILY`.
        policy: String,
        /// Attempts made.
        attempts: u32,
    },
    /// Any other non-success status (after retries for 5xx).
    #[error("HubSpot answered {status} for {path}: {message}")]
    Status {
        /// HTTP status.
        status: u16,
        /// Request path.
        path: String,
        /// HubSpot's message, if any.
        message: String,
    },
    /// The body is not the JSON HubSpot documents.
    #[error("HubSpot sent a malformed response for {path}: {source}; nothing from it was stored")]
    Malformed {
        /// Request path.
        path: String,
        /// Parse error.
        source: serde_json::Error,
    },
    /// The circuit breaker is open: HubSpot failed too often in a row, so CaseyOS stopped asking.
    #[error(
        "HubSpot is failing ({failures} errors in a row); CaseyOS pauses requests for {retry_in_secs} s \
         instead of hammering it (see https://status.hubspot.com)"
    )]
    Unavailable {
        /// Failures in a row that opened the breaker.
        failures: u32,
        /// Seconds until one trial request is let through.
        retry_in_secs: u64,
    },
    /// 400 `VALIDATION_ERROR`: HubSpot refused the request as invalid (an unknown deal stage,
    /// a missing property), so nothing was changed; sending it again will not help.
    #[error("HubSpot refused {path} as invalid: {message}{}", details_suffix(.details))]
    Invalid {
        /// Request path (or, refused before sending, what was asked).
        path: String,
        /// HubSpot's message.
        message: String,
        /// The messages of HubSpot's `errors[]`, one per problem.
        details: Vec<String>,
    },
    /// 404: no such record (deleted, merged, or never there).
    #[error("HubSpot has no record at {path} (404); it may have been deleted or merged")]
    NotFound {
        /// Request path.
        path: String,
    },
    /// A create reached HubSpot but no clear answer came back (a timeout, a dropped connection,
    /// a cut-off answer or a server error): it may or may not have been applied, so it is not
    /// sent again blindly. Look for its marker ([`HubSpotClient::find_by_marker`]) first.
    #[error(
        "HubSpot may or may not have applied {operation} ({detail}): the outcome is unknown; \
         CaseyOS checks HubSpot before trying again"
    )]
    Uncertain {
        /// What was asked, e.g. `POST /crm/v3/objects/tasks`.
        operation: String,
        /// What happened instead of an answer.
        detail: String,
    },
    /// Connection refused, DNS, TLS, timeout after retries.
    #[error("cannot reach HubSpot at {base}: {source}")]
    Network {
        /// The base URL.
        base: String,
        /// Why.
        source: reqwest::Error,
    },
}

/// Everything tunable about a client; [`ClientOptions::from_config`] reads `[hubspot]`.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Retries and backoff.
    pub retry: Retry,
    /// Requests per rolling 10-second window (100, 190 or 110 depending on the app).
    pub requests_per_10s: u32,
    /// Search requests per second (HubSpot allows 5).
    pub search_per_second: u32,
    /// Failures in a row that open the circuit breaker.
    pub breaker_failures: u32,
    /// How long an open breaker refuses requests.
    pub breaker_cooldown: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            retry: Retry::default(),
            requests_per_10s: 100,
            search_per_second: 5,
            breaker_failures: 5,
            breaker_cooldown: Duration::from_secs(60),
            timeout: Duration::from_secs(30),
        }
    }
}

impl ClientOptions {
    /// Options from the `[hubspot]` configuration section.
    pub fn from_config(c: &crate::config::HubSpot) -> ClientOptions {
        ClientOptions {
            requests_per_10s: c.requests_per_10s,
            search_per_second: c.search_per_second,
            breaker_failures: c.breaker_failures,
            breaker_cooldown: Duration::from_secs(c.breaker_cooldown_seconds),
            timeout: Duration::from_secs(c.timeout_seconds.max(1)),
            ..ClientOptions::default()
        }
    }
}

/// A token that cannot be refreshed keeps the plain 401 message; other token errors say
/// what the sign-in needs.
fn unauthorized(e: TokenError) -> HubSpotError {
    match e {
        TokenError::Expired { .. } => HubSpotError::Unauthorized,
        other => HubSpotError::Auth(other),
    }
}

struct Gate {
    window: RateWindow,
    search: RateWindow,
    breaker: CircuitBreaker,
}

/// A HubSpot client for one account.
pub struct HubSpotClient {
    http: reqwest::Client,
    base: String,
    tokens: Arc<TokenSource>,
    backoff: Backoff,
    requests: AtomicU64,
    gate: Mutex<Gate>,
    events: EventLog,
}

impl std::fmt::Debug for HubSpotClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubSpotClient")
            .field("base", &self.base)
            .field("tokens", &self.tokens)
            .finish()
    }
}

impl HubSpotClient {
    /// A client for `api_base` (no trailing slash needed) with a fixed (private-app) token.
    pub fn new(
        api_base: &str,
        token: SecretString,
        options: ClientOptions,
    ) -> Result<HubSpotClient, HubSpotError> {
        let tokens = TokenSource::fixed(token).for_account(Account::HubSpot);
        HubSpotClient::with_tokens(api_base, Arc::new(tokens), options)
    }

    /// The client `[hubspot]` describes (base URL, rate limits, breaker, timeout).
    pub fn from_config(
        config: &crate::config::HubSpot,
        tokens: Arc<TokenSource>,
    ) -> Result<HubSpotClient, HubSpotError> {
        HubSpotClient::with_tokens(&config.api_base, tokens, ClientOptions::from_config(config))
    }

    /// A client whose tokens come from `tokens` (an OAuth sign-in is refreshed before expiry
    /// and once after a 401).
    pub fn with_tokens(
        api_base: &str,
        tokens: Arc<TokenSource>,
        options: ClientOptions,
    ) -> Result<HubSpotClient, HubSpotError> {
        let base = api_base.trim_end_matches('/').to_string();
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .user_agent(concat!("CaseyOS/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| HubSpotError::Network {
                base: base.clone(),
                source,
            })?;
        Ok(HubSpotClient {
            http,
            base,
            tokens,
            backoff: Backoff::new(options.retry),
            requests: AtomicU64::new(0),
            gate: Mutex::new(Gate {
                window: RateWindow::new(options.requests_per_10s, Duration::from_secs(10)),
                search: RateWindow::new(options.search_per_second, Duration::from_secs(1)),
                breaker: CircuitBreaker::new(options.breaker_failures, options.breaker_cooldown),
            }),
            events: EventLog::default(),
        })
    }

    /// The circuit breaker as it stands (the TUI shows it).
    pub fn breaker(&self) -> BreakerState {
        self.gate
            .lock()
            .map(|g| g.breaker.state(Instant::now()))
            .unwrap_or(BreakerState::Closed)
    }

    /// Takes the telemetry of the requests made since the last call.
    pub fn take_events(&self) -> Vec<ApiEvent> {
        self.events.take()
    }

    /// Waits for a slot in the rate windows; refuses at once while the breaker is open.
    async fn admit(&self, search: bool) -> Result<(), HubSpotError> {
        loop {
            let wait = {
                let mut g = self.gate.lock().map_err(|_| HubSpotError::Unavailable {
                    failures: 0,
                    retry_in_secs: 0,
                })?;
                let now = Instant::now();
                let Gate {
                    window,
                    search: searches,
                    breaker,
                } = &mut *g;
                let take = || {
                    let general = window.wait(now);
                    let searching = if search { searches.wait(now) } else { None };
                    let wait = general.max(searching);
                    if wait.is_none() {
                        window.take(now);
                        if search {
                            searches.take(now);
                        }
                    }
                    wait
                };
                match breaker.admit_with(now, take) {
                    Ok(None) => return Ok(()),
                    Ok(Some(wait)) => wait,
                    Err((failures, retry_in_secs)) => {
                        return Err(HubSpotError::Unavailable {
                            failures,
                            retry_in_secs,
                        });
                    }
                }
            };
            tracing::debug!(?wait, "HubSpot rate window full, waiting");
            tokio::time::sleep(wait).await;
        }
    }

    fn outcome(&self, failed: bool) {
        if let Ok(mut g) = self.gate.lock() {
            g.breaker.record(failed, Instant::now());
        }
    }

    /// `X-HubSpot-RateLimit-Remaining: 0` means the server's window is spent: hold off for
    /// its interval rather than collect a 429.
    fn observe_budget(&self, headers: &reqwest::header::HeaderMap) {
        let num = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        if num("x-hubspot-ratelimit-remaining") == Some(0) {
            let interval = num("x-hubspot-ratelimit-interval-milliseconds").unwrap_or(10_000);
            if let Ok(mut g) = self.gate.lock() {
                g.window
                    .block(Instant::now(), Duration::from_millis(interval.min(60_000)));
            }
        }
    }

    /// Requests sent so far (retries included).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// One page of `GET /crm/v3/objects/{object_type}` (100 records, the documented maximum).
    pub async fn list_page(
        &self,
        object_type: &str,
        properties: &[String],
        associations: &[&str],
        after: Option<&str>,
    ) -> Result<ObjectPage, HubSpotError> {
        let mut query = vec![("limit", "100".to_string()), ("archived", "false".to_string())];
        if !properties.is_empty() {
            query.push(("properties", properties.join(",")));
        }
        if !associations.is_empty() {
            query.push(("associations", associations.join(",")));
        }
        if let Some(a) = after {
            query.push(("after", a.to_string()));
        }
        self.get(&format!("/crm/v3/objects/{object_type}"), &query).await
    }

    /// One page of `POST /crm/v3/objects/{object_type}/search` with a ready-made body
    /// (filterGroups, sorts, properties, limit ≤ 200, after).
    pub async fn search_page(
        &self,
        object_type: &str,
        body: &serde_json::Value,
    ) -> Result<ObjectPage, HubSpotError> {
        self.send(&format!("/crm/v3/objects/{object_type}/search"), &[], Some(body))
            .await
    }

    /// `POST /crm/v4/associations/{from}/{to}/batch/read` for up to 100 ids.
    pub async fn associations(
        &self,
        from_type: &str,
        to_type: &str,
        ids: &[&str],
    ) -> Result<AssociationBatch, HubSpotError> {
        let inputs: Vec<_> = ids.iter().map(|id| serde_json::json!({ "id": id })).collect();
        self.send(
            &format!("/crm/v4/associations/{from_type}/{to_type}/batch/read"),
            &[],
            Some(&serde_json::json!({ "inputs": inputs })),
        )
        .await
    }

    /// One page of `GET /crm/v3/owners`.
    pub async fn owners_page(&self, after: Option<&str>) -> Result<OwnerPage, HubSpotError> {
        let mut query = vec![("limit", "100".to_string())];
        if let Some(a) = after {
            query.push(("after", a.to_string()));
        }
        self.get("/crm/v3/owners", &query).await
    }

    /// `GET /crm/v3/pipelines/deals`.
    pub async fn deal_pipelines(&self) -> Result<PipelineList, HubSpotError> {
        self.get("/crm/v3/pipelines/deals", &[]).await
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, HubSpotError> {
        self.send(path, query, None).await
    }

    /// A read: GET, or POST for search and batch reads (which change nothing).
    async fn send<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<T, HubSpotError> {
        let verb = if body.is_some() { Verb::Post } else { Verb::Get };
        self.request(Call {
            verb,
            path,
            query,
            body,
            replay: Replay::Safe,
        })
        .await
    }

    /// Sends one call through the rate windows and the breaker, refreshing the token once after
    /// a 401 and retrying as its [`Replay`] allows (see the module documentation).
    pub(super) async fn request<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T, HubSpotError> {
        let Call {
            verb,
            path,
            query,
            body,
            replay,
        } = call;
        let url = format!("{}{path}", self.base);
        let search = path.ends_with("/search");
        let endpoint = endpoint_label(verb, path);
        let once = replay == Replay::Once;
        let uncertain = |detail: String| HubSpotError::Uncertain {
            operation: endpoint.clone(),
            detail,
        };
        let mut attempt = 0;
        let mut refreshed = false;
        let mut token = self.tokens.access().await.map_err(unauthorized)?;
        loop {
            attempt += 1;
            self.admit(search).await?;
            self.requests.fetch_add(1, Ordering::Relaxed);
            let request = match verb {
                Verb::Get => self.http.get(&url),
                Verb::Post => self.http.post(&url),
                Verb::Patch => self.http.patch(&url),
            };
            let request = match body {
                Some(b) => request.json(b),
                None => request,
            };
            let started = Instant::now();
            let sent = request
                .bearer_auth(token.secret.expose_secret())
                .query(query)
                .send()
                .await;
            let last = attempt >= self.backoff.retry().attempts;
            let resp = match sent {
                Ok(r) => r,
                Err(e) => {
                    self.outcome(true);
                    let kind = if e.is_timeout() {
                        "timeout"
                    } else {
                        "no connection"
                    };
                    self.events
                        .record(&endpoint, None, started, attempt, Some(kind.to_string()));
                    // A refused connection never carried the request; anything later (a
                    // timeout, a reset) may have reached HubSpot.
                    let unsent = e.is_connect() || e.is_builder();
                    let retry = if once {
                        unsent
                    } else {
                        e.is_timeout() || e.is_connect() || e.is_request()
                    };
                    if !last && retry {
                        tracing::warn!(path, attempt, "HubSpot request failed, retrying: {e}");
                        tokio::time::sleep(self.backoff.delay(attempt)).await;
                        continue;
                    }
                    if once && !unsent {
                        let what = if e.is_timeout() {
                            "timeout"
                        } else {
                            "connection dropped"
                        };
                        return Err(uncertain(format!("{what}: {e}")));
                    }
                    return Err(HubSpotError::Network {
                        base: self.base.clone(),
                        source: e,
                    });
                }
            };
            let status = resp.status().as_u16();
            self.observe_budget(resp.headers());
            let retry_after = retry_after(resp.headers());
            let body = match resp.text().await {
                Ok(b) => b,
                Err(source) => {
                    self.outcome(true);
                    self.events.record(
                        &endpoint,
                        Some(status),
                        started,
                        attempt,
                        Some("body cut off".into()),
                    );
                    // A 4xx says the request was refused, whatever its body; a cut-off success
                    // or server error leaves a create's outcome unknown.
                    if once && !(400..500).contains(&status) {
                        return Err(uncertain(format!("HTTP {status}, answer cut off: {source}")));
                    }
                    if !once || status == 429 {
                        return Err(HubSpotError::Network {
                            base: self.base.clone(),
                            source,
                        });
                    }
                    String::new()
                }
            };
            self.outcome(status >= 500);
            let error = (status >= 400).then(|| format!("HTTP {status}"));
            self.events
                .record(&endpoint, Some(status), started, attempt, error);
            match status {
                200..=299 => {
                    return serde_json::from_str(&body).map_err(|source| {
                        if once {
                            uncertain(format!("HTTP {status} with an unreadable answer: {source}"))
                        } else {
                            HubSpotError::Malformed {
                                path: path.to_string(),
                                source,
                            }
                        }
                    });
                }
                401 if !refreshed => {
                    refreshed = true;
                    attempt -= 1;
                    token = self
                        .tokens
                        .rejected(token.generation)
                        .await
                        .map_err(unauthorized)?;
                }
                401 => return Err(HubSpotError::Unauthorized),
                403 => return Err(HubSpotError::Forbidden(error_message(&body))),
                404 => {
                    return Err(HubSpotError::NotFound {
                        path: path.to_string(),
                    });
                }
                429 => {
                    let policy = serde_json::from_str::<ErrorBody>(&body)
                        .ok()
                        .and_then(|e| e.policy_name)
                        .unwrap_or_else(|| "TEN_SECONDLY_ROLLING".into());
                    if last || policy == "DAILY" {
                        return Err(HubSpotError::RateLimited {
                            policy,
                            attempts: attempt,
                        });
                    }
                    let wait = retry_after
                        .unwrap_or_else(|| self.backoff.delay(attempt))
                        .min(self.backoff.retry().max_delay);
                    tracing::warn!(path, attempt, ?wait, "HubSpot rate limit ({policy}), waiting");
                    tokio::time::sleep(wait).await;
                }
                500..=599 if once => {
                    return Err(uncertain(format!("HTTP {status}: {}", error_message(&body))));
                }
                500..=599 if !last => {
                    tracing::warn!(path, attempt, status, "HubSpot server error, retrying");
                    tokio::time::sleep(self.backoff.delay(attempt)).await;
                }
                _ => return Err(status_error(status, path, &body)),
            }
        }
    }
}

/// The HTTP verbs CaseyOS uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verb {
    /// Reads.
    Get,
    /// Creates, searches and batch reads.
    Post,
    /// Updates of one record.
    Patch,
}

/// Whether a call may be sent again when its first attempt may have reached HubSpot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Replay {
    /// Reads, searches and PATCHes that set absolute values: sending twice does no harm.
    Safe,
    /// Creates: sent again only when HubSpot surely did not apply the first attempt.
    Once,
}

/// One API call.
pub(super) struct Call<'a> {
    /// The verb.
    pub(super) verb: Verb,
    /// Path below the API base, e.g. `/crm/v3/objects/tasks`.
    pub(super) path: &'a str,
    /// Query parameters.
    pub(super) query: &'a [(&'a str, String)],
    /// JSON body, if any.
    pub(super) body: Option<&'a serde_json::Value>,
    /// Whether it may be sent again after an unclear outcome.
    pub(super) replay: Replay,
}

/// `PATCH /crm/v3/objects/deals/{id}` for telemetry and errors: record ids become `{id}`, so
/// the request log groups by endpoint and holds no record identifiers.
fn endpoint_label(verb: Verb, path: &str) -> String {
    let verb = match verb {
        Verb::Get => "GET",
        Verb::Post => "POST",
        Verb::Patch => "PATCH",
    };
    let path: Vec<&str> = path
        .split('/')
        .map(|seg| {
            if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
                "{id}"
            } else {
                seg
            }
        })
        .collect();
    format!("{verb} {}", path.join("/"))
}

/// A 400 `VALIDATION_ERROR` becomes [`HubSpotError::Invalid`]; other statuses stay plain.
fn status_error(status: u16, path: &str, body: &str) -> HubSpotError {
    if status == 400
        && let Ok(e) = serde_json::from_str::<ErrorBody>(body)
        && e.category.as_deref() == Some("VALIDATION_ERROR")
    {
        let details = e
            .errors
            .iter()
            .filter_map(|d| d.message.as_deref())
            .map(body_excerpt)
            .collect();
        return HubSpotError::Invalid {
            path: path.to_string(),
            message: e
                .message
                .as_deref()
                .map(body_excerpt)
                .unwrap_or_else(|| "validation failed".into()),
            details,
        };
    }
    HubSpotError::Status {
        status,
        path: path.to_string(),
        message: error_message(body),
    }
}

/// ` (detail; detail)` after an [`HubSpotError::Invalid`] message, or nothing.
fn details_suffix(details: &[String]) -> String {
    if details.is_empty() {
        String::new()
    } else {
        format!(" ({})", details.join("; "))
    }
}

fn error_message(body: &str) -> String {
    serde_json::from_str::<ErrorBody>(body)
        .ok()
        .and_then(|e| e.message)
        .unwrap_or_else(|| body_excerpt(body))
}
