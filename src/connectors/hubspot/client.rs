//! HubSpot CRM v3 HTTP client: bearer token, paging, typed errors, polite retries.
//!
//! The base URL comes from `[hubspot] api_base`, so tests point it at a local fake. Every
//! request is counted (the sync summary reports it) and timed (telemetry). Before each attempt
//! the client waits for a slot in the rolling 10-second window (`requests_per_10s`) and, for
//! search, the per-second search limit; a circuit breaker refuses requests for a while after
//! several failures in a row. 429 honours `Retry-After`; 5xx and timeouts are retried with
//! exponential backoff and jitter, up to a cap.

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

    async fn send<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<T, HubSpotError> {
        let url = format!("{}{path}", self.base);
        let search = path.ends_with("/search");
        let endpoint = format!("{} {path}", if body.is_some() { "POST" } else { "GET" });
        let mut attempt = 0;
        let mut refreshed = false;
        let mut token = self.tokens.access().await.map_err(unauthorized)?;
        loop {
            attempt += 1;
            self.admit(search).await?;
            self.requests.fetch_add(1, Ordering::Relaxed);
            let request = match body {
                Some(b) => self.http.post(&url).json(b),
                None => self.http.get(&url),
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
                    if !last && (e.is_timeout() || e.is_connect() || e.is_request()) {
                        tracing::warn!(path, attempt, "HubSpot request failed, retrying: {e}");
                        tokio::time::sleep(self.backoff.delay(attempt)).await;
                        continue;
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
                    return Err(HubSpotError::Network {
                        base: self.base.clone(),
                        source,
                    });
                }
            };
            self.outcome(status >= 500);
            let error = (status >= 400).then(|| format!("HTTP {status}"));
            self.events
                .record(&endpoint, Some(status), started, attempt, error);
            match status {
                200..=299 => {
                    return serde_json::from_str(&body).map_err(|source| HubSpotError::Malformed {
                        path: path.to_string(),
                        source,
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
                500..=599 if !last => {
                    tracing::warn!(path, attempt, status, "HubSpot server error, retrying");
                    tokio::time::sleep(self.backoff.delay(attempt)).await;
                }
                _ => {
                    return Err(HubSpotError::Status {
                        status,
                        path: path.to_string(),
                        message: error_message(&body),
                    });
                }
            }
        }
    }
}

fn error_message(body: &str) -> String {
    serde_json::from_str::<ErrorBody>(body)
        .ok()
        .and_then(|e| e.message)
        .unwrap_or_else(|| body_excerpt(body))
}
