//! Gmail API v1 HTTP client: bearer tokens from the auth layer, quota accounting, typed errors
//! and polite retries, for reads and for the draft writes CaseyOS executes.
//!
//! The base URL comes from `[google] api_base`, so tests point it at a local fake. Every method
//! has its quota cost from Google's table; before each attempt the client waits until its
//! rolling one-minute budget (`units_per_minute`, 15,000 by default as Google allows) has room,
//! so a big first sync slows down instead of collecting errors. A 401 refreshes the token and
//! retries once; 403 `userRateLimitExceeded`/`rateLimitExceeded` and 429 back off
//! exponentially with jitter (honouring `Retry-After`) and hold the other requests too; a
//! circuit breaker stops asking a service that keeps failing.
//!
//! # Reads and writes retry differently
//!
//! A read (GET) is retried after anything transient: 5xx, timeouts, dropped connections, a
//! cut-off body. A write (`drafts.create`, `drafts.update`, `drafts.send`, `drafts.delete`) is
//! retried **only when Gmail certainly did not apply it**: a 429, a 403 rate limit, a 401 (once,
//! after refreshing the token) and a connection that was refused before the request went out.
//! When Gmail may have applied it (a timeout, a connection dropped after the request was sent,
//! a cut-off or unreadable 2xx body, any 5xx) the write is not retried and the client returns
//! [`GmailError::Uncertain`]: retrying `drafts.send` there could send the mail twice. The
//! caller reconciles instead, e.g. with [`GmailClient::find_message_by_rfc822_id`] for the
//! `Message-ID` it wrote, or [`GmailClient::draft`] for a draft that may be gone.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;

use super::wire::{
    Draft, DraftId, DraftList, DraftRef, DraftWrite, ErrorEnvelope, HistoryPage, LabelList, Message,
    MessageList, MessageRef, Profile, RawMessage, Thread,
};
use crate::auth::token::{TokenError, TokenSource};
use crate::connectors::http::{ApiEvent, Backoff, EventLog, Retry, body_excerpt, retry_after};
use crate::connectors::politeness::{BreakerState, CircuitBreaker, UnitWindow};

/// Quota units of each method (Google's published table).
pub mod units {
    /// `users.getProfile`.
    pub const PROFILE: u64 = 1;
    /// `users.labels.list`.
    pub const LABELS_LIST: u64 = 1;
    /// `users.messages.list`.
    pub const MESSAGES_LIST: u64 = 5;
    /// `users.messages.get`.
    pub const MESSAGES_GET: u64 = 5;
    /// `users.threads.get`.
    pub const THREADS_GET: u64 = 10;
    /// `users.history.list`.
    pub const HISTORY_LIST: u64 = 2;
    /// `users.drafts.list`.
    pub const DRAFTS_LIST: u64 = 5;
    /// `users.drafts.get`.
    pub const DRAFTS_GET: u64 = 5;
    /// `users.drafts.create`.
    pub const DRAFTS_CREATE: u64 = 10;
    /// `users.drafts.update`.
    pub const DRAFTS_UPDATE: u64 = 15;
    /// `users.drafts.send`.
    pub const DRAFTS_SEND: u64 = 100;
    /// `users.drafts.delete`.
    pub const DRAFTS_DELETE: u64 = 10;
}

/// What can go wrong talking to Gmail, each with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum GmailError {
    /// No usable access token.
    #[error(transparent)]
    Auth(#[from] TokenError),
    /// 401 even with a freshly refreshed token.
    #[error(
        "Gmail rejected a freshly refreshed token (401): run `casey auth google` again \
         (or set a fresh CASEYOS_GOOGLE_REFRESH_TOKEN)"
    )]
    Unauthorized,
    /// 403 for another reason than rate limits (a missing scope, Gmail API disabled).
    #[error(
        "Gmail refused access (403: {0}); sign in again with read access to Gmail \
         (`casey auth google`, or a refresh token with the gmail.readonly scope)"
    )]
    Forbidden(String),
    /// Still rate limited after every retry.
    #[error("Gmail rate limit still hit after {attempts} attempts; the next sync will carry on")]
    RateLimited {
        /// Attempts made.
        attempts: u32,
    },
    /// 403 `dailyLimitExceeded`: the project's daily quota is spent.
    #[error("Gmail's daily quota for CaseyOS is spent; syncing resumes tomorrow (nothing is lost)")]
    DailyLimit,
    /// 404 on `history.list`: the stored history id is too old (Gmail keeps about a week).
    #[error("Gmail no longer has the changes since the last sync; a full sync is needed")]
    HistoryGone,
    /// Any other non-success status (after retries for 5xx).
    #[error("Gmail answered {status} for {endpoint}: {message}")]
    Status {
        /// HTTP status.
        status: u16,
        /// Which method.
        endpoint: String,
        /// Google's message, if any.
        message: String,
    },
    /// The body is not the JSON Gmail documents.
    #[error("Gmail sent a malformed response for {endpoint}: {source}; nothing from it was stored")]
    Malformed {
        /// Which method.
        endpoint: String,
        /// Parse error.
        source: serde_json::Error,
    },
    /// The circuit breaker is open.
    #[error(
        "Gmail is failing ({failures} errors in a row); CaseyOS pauses requests for {retry_in_secs} s \
         (see https://www.google.com/appsstatus)"
    )]
    Unavailable {
        /// Failures in a row that opened the breaker.
        failures: u32,
        /// Seconds until one trial request is let through.
        retry_in_secs: u64,
    },
    /// Connection refused, DNS, TLS, timeout after retries.
    #[error("cannot reach Gmail at {base}: {detail}")]
    Network {
        /// The base URL.
        base: String,
        /// Why (without the request URL, which may carry ids).
        detail: String,
    },
    /// A write Gmail may or may not have applied (timeout, connection lost after sending, a
    /// 5xx, an unreadable answer). It was not retried; the caller must look in Gmail first.
    #[error(
        "the outcome of Gmail {operation} is unknown ({detail}); CaseyOS checks Gmail before trying again"
    )]
    Uncertain {
        /// Which method (`users.drafts.send`...).
        operation: String,
        /// What happened (no ids, tokens or message text).
        detail: String,
    },
    /// CaseyOS refused to build the request (an argument Gmail would misread).
    #[error("CaseyOS did not send {endpoint} to Gmail: {reason}")]
    InvalidRequest {
        /// Which method.
        endpoint: String,
        /// Why.
        reason: String,
    },
}

/// Everything tunable about a client; [`GmailOptions::from_config`] reads `[google]`.
#[derive(Debug, Clone)]
pub struct GmailOptions {
    /// Retries and backoff.
    pub retry: Retry,
    /// Quota units per rolling minute.
    pub units_per_minute: u64,
    /// Failures in a row that open the circuit breaker.
    pub breaker_failures: u32,
    /// How long an open breaker refuses requests.
    pub breaker_cooldown: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl Default for GmailOptions {
    fn default() -> Self {
        GmailOptions {
            retry: Retry::default(),
            units_per_minute: 15_000,
            breaker_failures: 5,
            breaker_cooldown: Duration::from_secs(60),
            timeout: Duration::from_secs(30),
        }
    }
}

impl GmailOptions {
    /// Options from the `[google]` configuration section.
    pub fn from_config(c: &crate::config::Google) -> GmailOptions {
        GmailOptions {
            units_per_minute: u64::from(c.units_per_minute),
            timeout: Duration::from_secs(c.timeout_seconds.max(1)),
            ..GmailOptions::default()
        }
    }
}

/// How much of a message to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Headers and decoded MIME tree with bodies.
    Full,
    /// Headers only.
    Metadata,
    /// Ids and labels only.
    Minimal,
}

impl Format {
    fn as_str(self) -> &'static str {
        match self {
            Format::Full => "full",
            Format::Metadata => "metadata",
            Format::Minimal => "minimal",
        }
    }
}

struct Gate {
    quota: UnitWindow,
    breaker: CircuitBreaker,
}

/// A Gmail client for one mailbox (`users/me`).
pub struct GmailClient {
    http: reqwest::Client,
    base: String,
    tokens: Arc<TokenSource>,
    backoff: Backoff,
    requests: AtomicU64,
    units: AtomicU64,
    gate: Mutex<Gate>,
    events: EventLog,
}

impl std::fmt::Debug for GmailClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GmailClient")
            .field("base", &self.base)
            .field("tokens", &self.tokens)
            .finish()
    }
}

/// What one attempt came to.
enum Attempt<T> {
    Done(Option<T>),
    Retry(Duration),
    Refresh,
}

/// One API request: which method, where, and with what.
struct Call<'a> {
    /// Method name for errors and telemetry (`users.drafts.send`).
    endpoint: &'a str,
    /// HTTP verb; anything but GET is a write (see the module doc for what that changes).
    verb: reqwest::Method,
    /// Path under `/gmail/v1/users/me`.
    path: &'a str,
    query: &'a [(&'a str, String)],
    /// JSON body, for writes.
    body: Option<serde_json::Value>,
    /// Quota units.
    cost: u64,
}

impl<'a> Call<'a> {
    fn get(endpoint: &'a str, path: &'a str, query: &'a [(&'a str, String)], cost: u64) -> Call<'a> {
        Call {
            endpoint,
            verb: reqwest::Method::GET,
            path,
            query,
            body: None,
            cost,
        }
    }

    fn write(
        endpoint: &'a str,
        verb: reqwest::Method,
        path: &'a str,
        body: Option<serde_json::Value>,
        cost: u64,
    ) -> Call<'a> {
        Call {
            endpoint,
            verb,
            path,
            query: &[],
            body,
            cost,
        }
    }

    fn is_write(&self) -> bool {
        self.verb != reqwest::Method::GET
    }
}

impl GmailClient {
    /// The client `[google]` describes (base URL, quota, concurrency, timeout).
    pub fn from_config(
        config: &crate::config::Google,
        tokens: Arc<TokenSource>,
    ) -> Result<GmailClient, GmailError> {
        GmailClient::new(&config.api_base, tokens, GmailOptions::from_config(config))
    }

    /// A client for `api_base` (no trailing slash needed).
    pub fn new(
        api_base: &str,
        tokens: Arc<TokenSource>,
        options: GmailOptions,
    ) -> Result<GmailClient, GmailError> {
        let base = api_base.trim_end_matches('/').to_string();
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .user_agent(concat!("CaseyOS/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| GmailError::Network {
                base: base.clone(),
                detail: e.to_string(),
            })?;
        Ok(GmailClient {
            http,
            base,
            tokens,
            backoff: Backoff::new(options.retry),
            requests: AtomicU64::new(0),
            units: AtomicU64::new(0),
            gate: Mutex::new(Gate {
                quota: UnitWindow::new(options.units_per_minute, Duration::from_secs(60)),
                breaker: CircuitBreaker::new(options.breaker_failures, options.breaker_cooldown),
            }),
            events: EventLog::default(),
        })
    }

    /// Requests sent so far (retries included).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Quota units spent so far (every attempt sent counts, as Google counts them).
    pub fn units(&self) -> u64 {
        self.units.load(Ordering::Relaxed)
    }

    /// The circuit breaker as it stands.
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

    /// `users.getProfile`: the mailbox address and its current history id.
    pub async fn profile(&self) -> Result<Profile, GmailError> {
        self.required(Call::get("users.getProfile", "/profile", &[], units::PROFILE))
            .await
    }

    /// `users.labels.list`: the mailbox's labels (names for the ids messages carry).
    pub async fn labels(&self) -> Result<LabelList, GmailError> {
        self.required(Call::get("users.labels.list", "/labels", &[], units::LABELS_LIST))
            .await
    }

    /// One page of `users.messages.list` for a search query, newest first.
    pub async fn list_messages(
        &self,
        query: &str,
        page_token: Option<&str>,
        max_results: u32,
    ) -> Result<MessageList, GmailError> {
        let mut q = vec![
            ("q", query.to_string()),
            ("maxResults", max_results.clamp(1, 500).to_string()),
        ];
        if let Some(t) = page_token {
            q.push(("pageToken", t.to_string()));
        }
        self.required(Call::get(
            "users.messages.list",
            "/messages",
            &q,
            units::MESSAGES_LIST,
        ))
        .await
    }

    /// `users.messages.get`; `None` when the message no longer exists.
    pub async fn message(&self, id: &str, format: Format) -> Result<Option<Message>, GmailError> {
        let q = [("format", format.as_str().to_string())];
        self.call(
            "users.messages.get",
            &format!("/messages/{}", segment(id)),
            &q,
            units::MESSAGES_GET,
        )
        .await
    }

    /// `users.threads.get` (`format=full`): every message of a thread, oldest first; `None`
    /// when the thread no longer exists.
    pub async fn thread(&self, id: &str) -> Result<Option<Thread>, GmailError> {
        let q = [("format", "full".to_string())];
        self.call(
            "users.threads.get",
            &format!("/threads/{}", segment(id)),
            &q,
            units::THREADS_GET,
        )
        .await
    }

    /// One page of `users.history.list` since `start` (messages added and deleted, labels
    /// added and removed). [`GmailError::HistoryGone`] when `start` is too old.
    pub async fn history(&self, start: &str, page_token: Option<&str>) -> Result<HistoryPage, GmailError> {
        let mut q = vec![
            ("startHistoryId", start.to_string()),
            ("maxResults", "500".to_string()),
        ];
        for t in ["messageAdded", "messageDeleted", "labelAdded", "labelRemoved"] {
            q.push(("historyTypes", t.to_string()));
        }
        if let Some(t) = page_token {
            q.push(("pageToken", t.to_string()));
        }
        self.call("users.history.list", "/history", &q, units::HISTORY_LIST)
            .await?
            .ok_or(GmailError::HistoryGone)
    }

    /// One page of `users.drafts.list`.
    pub async fn list_drafts(&self, page_token: Option<&str>) -> Result<DraftList, GmailError> {
        let mut q = vec![("maxResults", "500".to_string())];
        if let Some(t) = page_token {
            q.push(("pageToken", t.to_string()));
        }
        self.required(Call::get("users.drafts.list", "/drafts", &q, units::DRAFTS_LIST))
            .await
    }

    /// `users.drafts.get` (`format=full`); `None` when the draft is gone.
    pub async fn draft(&self, id: &str) -> Result<Option<Draft>, GmailError> {
        let q = [("format", "full".to_string())];
        self.call(
            "users.drafts.get",
            &format!("/drafts/{}", segment(id)),
            &q,
            units::DRAFTS_GET,
        )
        .await
    }

    /// `users.drafts.create`: a draft from RFC 2822 bytes (see
    /// [`compose`](super::compose::compose)), in `thread_id` when given (a reply stays in its
    /// thread only with the thread id **and** matching `In-Reply-To`/`References`/subject).
    /// Never retried once Gmail may have applied it: [`GmailError::Uncertain`] then.
    pub async fn create_draft(&self, raw: &[u8], thread_id: Option<&str>) -> Result<DraftRef, GmailError> {
        const ENDPOINT: &str = "users.drafts.create";
        let body = draft_body(None, raw, thread_id, ENDPOINT)?;
        let call = Call::write(
            ENDPOINT,
            reqwest::Method::POST,
            "/drafts",
            Some(body),
            units::DRAFTS_CREATE,
        );
        self.execute(call).await?.ok_or_else(|| not_found(ENDPOINT))
    }

    /// `users.drafts.update`: replaces the draft's message (Gmail gives it a new message id).
    /// A 404 (no such draft, or no such thread) is a [`GmailError::Status`]; never retried
    /// once Gmail may have applied it.
    pub async fn update_draft(
        &self,
        draft_id: &str,
        raw: &[u8],
        thread_id: Option<&str>,
    ) -> Result<DraftRef, GmailError> {
        const ENDPOINT: &str = "users.drafts.update";
        let id = segment(draft_id);
        let body = draft_body(Some(&id), raw, thread_id, ENDPOINT)?;
        let path = format!("/drafts/{id}");
        let call = Call::write(
            ENDPOINT,
            reqwest::Method::PUT,
            &path,
            Some(body),
            units::DRAFTS_UPDATE,
        );
        self.execute(call).await?.ok_or_else(|| not_found(ENDPOINT))
    }

    /// `users.drafts.send`: sends the draft as it stands; the answer is the sent message (the
    /// draft's message, now labelled SENT). A 404 (the draft is gone: perhaps sent already) is a
    /// [`GmailError::Status`]. **Never retried** once Gmail may have sent it:
    /// [`GmailError::Uncertain`] then, and the caller looks for the Message-ID with
    /// [`GmailClient::find_message_by_rfc822_id`] before anything else.
    pub async fn send_draft(&self, draft_id: &str) -> Result<MessageRef, GmailError> {
        const ENDPOINT: &str = "users.drafts.send";
        let id = segment(draft_id);
        if id.is_empty() {
            return Err(not_found(ENDPOINT));
        }
        let body = to_json(&DraftId { id }, ENDPOINT)?;
        let call = Call::write(
            ENDPOINT,
            reqwest::Method::POST,
            "/drafts/send",
            Some(body),
            units::DRAFTS_SEND,
        );
        self.execute(call).await?.ok_or_else(|| not_found(ENDPOINT))
    }

    /// `users.drafts.delete`: `true` when deleted, `false` when there was no such draft (404).
    pub async fn delete_draft(&self, draft_id: &str) -> Result<bool, GmailError> {
        let path = format!("/drafts/{}", segment(draft_id));
        let call = Call::write(
            "users.drafts.delete",
            reqwest::Method::DELETE,
            &path,
            None,
            units::DRAFTS_DELETE,
        );
        let done: Option<serde::de::IgnoredAny> = self.execute(call).await?;
        Ok(done.is_some())
    }

    /// The messages (drafts, sent mail, spam and trash included) whose `Message-ID` header is
    /// `message_id_header` (with or without angle brackets), with their labels: after a crash
    /// or an [`GmailError::Uncertain`] send, a match labelled `SENT` means the mail went out.
    /// One `messages.list` (`q=rfc822msgid:`) plus one `messages.get` (`format=minimal`) per
    /// match; a match deleted in between is left out.
    pub async fn find_message_by_rfc822_id(
        &self,
        message_id_header: &str,
    ) -> Result<Vec<MessageRef>, GmailError> {
        const ENDPOINT: &str = "users.messages.list";
        let trimmed = message_id_header.trim();
        let inner = trimmed
            .strip_prefix('<')
            .and_then(|s| s.strip_suffix('>'))
            .unwrap_or(trimmed);
        let valid = !inner.is_empty()
            && inner
                .bytes()
                .all(|b| (33..=126).contains(&b) && !matches!(b, b'<' | b'>' | b'"' | b'(' | b')'));
        if !valid {
            return Err(GmailError::InvalidRequest {
                endpoint: ENDPOINT.into(),
                reason: "the Message-ID to look for is empty or has spaces, quotes or brackets".into(),
            });
        }
        let q = [
            ("q", format!("rfc822msgid:{inner}")),
            ("includeSpamTrash", "true".to_string()),
            ("maxResults", "100".to_string()),
        ];
        let list: MessageList = self
            .required(Call::get(ENDPOINT, "/messages", &q, units::MESSAGES_LIST))
            .await?;
        let mut out = Vec::with_capacity(list.messages.len());
        for r in list.messages {
            if let Some(m) = self.message(&r.id, Format::Minimal).await? {
                out.push(MessageRef {
                    id: m.id,
                    thread_id: m.thread_id.or(r.thread_id),
                    label_ids: Some(m.label_ids),
                });
            }
        }
        Ok(out)
    }

    async fn required<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T, GmailError> {
        let endpoint = call.endpoint;
        self.execute(call).await?.ok_or_else(|| not_found(endpoint))
    }

    /// A GET; `Ok(None)` on 404.
    async fn call<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        path: &str,
        query: &[(&str, String)],
        cost: u64,
    ) -> Result<Option<T>, GmailError> {
        self.execute(Call::get(endpoint, path, query, cost)).await
    }

    /// Waits for quota room; refuses at once while the breaker is open.
    async fn admit(&self, cost: u64) -> Result<(), GmailError> {
        loop {
            let wait = {
                let mut g = self.gate.lock().map_err(|_| GmailError::Unavailable {
                    failures: 0,
                    retry_in_secs: 0,
                })?;
                let now = Instant::now();
                let Gate { quota, breaker } = &mut *g;
                match breaker.admit_with(now, || quota.reserve(now, cost)) {
                    Ok(None) => return Ok(()),
                    Ok(Some(wait)) => wait,
                    Err((failures, retry_in_secs)) => {
                        return Err(GmailError::Unavailable {
                            failures,
                            retry_in_secs,
                        });
                    }
                }
            };
            tracing::debug!(?wait, "Gmail quota window full, waiting");
            tokio::time::sleep(wait).await;
        }
    }

    fn outcome(&self, failed: bool) {
        if let Ok(mut g) = self.gate.lock() {
            g.breaker.record(failed, Instant::now());
        }
    }

    /// Holds every request for `wait` (the server said to slow down).
    fn hold(&self, wait: Duration) {
        if let Ok(mut g) = self.gate.lock() {
            g.quota.block(Instant::now(), wait);
        }
    }

    /// Sends a request with retries (for a write, only those that are certainly safe; see the
    /// module doc); `Ok(None)` on 404 (and for a path whose id was empty).
    async fn execute<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<Option<T>, GmailError> {
        if call.path.ends_with('/') {
            return Ok(None);
        }
        let url = format!("{}/gmail/v1/users/me{}", self.base, call.path);
        let attempts = self.backoff.retry().attempts;
        let mut attempt = 0;
        let mut refreshed = false;
        let mut token = self.tokens.access().await?;
        loop {
            attempt += 1;
            self.admit(call.cost).await?;
            self.requests.fetch_add(1, Ordering::Relaxed);
            self.units.fetch_add(call.cost, Ordering::Relaxed);
            let started = Instant::now();
            let mut request = self
                .http
                .request(call.verb.clone(), &url)
                .bearer_auth(token.secret.expose_secret())
                .query(call.query);
            if let Some(body) = &call.body {
                request = request.json(body);
            }
            let sent = request.send().await;
            let last = attempt >= attempts;
            match self.answer(&call, sent, started, attempt, last).await? {
                Attempt::Done(v) => return Ok(v),
                Attempt::Retry(wait) => {
                    tokio::time::sleep(wait).await;
                }
                Attempt::Refresh if !refreshed => {
                    refreshed = true;
                    attempt -= 1;
                    token = self.tokens.rejected(token.generation).await?;
                }
                Attempt::Refresh => return Err(GmailError::Unauthorized),
            }
        }
    }

    /// Reads one answer: the value, or whether and how to try again. A write whose outcome is
    /// unknown is [`GmailError::Uncertain`] at once.
    async fn answer<T: DeserializeOwned>(
        &self,
        call: &Call<'_>,
        sent: Result<reqwest::Response, reqwest::Error>,
        started: Instant,
        attempt: u32,
        last: bool,
    ) -> Result<Attempt<T>, GmailError> {
        let endpoint = call.endpoint;
        let write = call.is_write();
        let network = |e: reqwest::Error| GmailError::Network {
            base: self.base.clone(),
            detail: e.without_url().to_string(),
        };
        let uncertain = |detail: String| GmailError::Uncertain {
            operation: endpoint.to_string(),
            detail,
        };
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                self.outcome(true);
                let kind = if e.is_timeout() {
                    "timeout"
                } else if e.is_connect() {
                    "no connection"
                } else {
                    "connection lost"
                };
                self.events
                    .record(endpoint, None, started, attempt, Some(kind.into()));
                // Refused before the request went out: certainly not applied. Anything later
                // (a timeout, a reset after sending) may have been.
                if write && !e.is_connect() {
                    tracing::warn!(endpoint, attempt, "Gmail write outcome unknown: {kind}");
                    return Err(uncertain(kind.to_string()));
                }
                if !last && (e.is_timeout() || e.is_connect() || e.is_request()) {
                    tracing::warn!(endpoint, attempt, "Gmail request failed, retrying: {kind}");
                    return Ok(Attempt::Retry(self.backoff.delay(attempt)));
                }
                return Err(network(e));
            }
        };
        let status = resp.status().as_u16();
        let wait_hint = retry_after(resp.headers());
        let body = match resp.text().await {
            Ok(b) => b,
            Err(e) => {
                self.outcome(true);
                self.events.record(
                    endpoint,
                    Some(status),
                    started,
                    attempt,
                    Some("body cut off".into()),
                );
                if write {
                    return Err(uncertain(format!("HTTP {status}, answer cut off")));
                }
                if !last {
                    return Ok(Attempt::Retry(self.backoff.delay(attempt)));
                }
                return Err(network(e));
            }
        };
        self.outcome(status >= 500);
        let reason = (status >= 400).then(|| error_reason(&body)).flatten();
        let error = (status >= 400).then(|| match &reason {
            Some(r) => format!("HTTP {status} {r}"),
            None => format!("HTTP {status}"),
        });
        self.events
            .record(endpoint, Some(status), started, attempt, error);
        let rate_limited = status == 429
            || (status == 403
                && matches!(
                    reason.as_deref(),
                    Some("userRateLimitExceeded" | "rateLimitExceeded")
                ));
        match status {
            200..=299 => {
                // A DELETE answers 204 with nothing.
                let text = if body.trim().is_empty() {
                    "null"
                } else {
                    body.as_str()
                };
                match serde_json::from_str(text) {
                    Ok(v) => Ok(Attempt::Done(Some(v))),
                    Err(_) if write => Err(uncertain(format!("HTTP {status} with an unreadable answer"))),
                    Err(source) => Err(GmailError::Malformed {
                        endpoint: endpoint.to_string(),
                        source,
                    }),
                }
            }
            404 => Ok(Attempt::Done(None)),
            401 => Ok(Attempt::Refresh),
            _ if rate_limited => {
                if last {
                    return Err(GmailError::RateLimited { attempts: attempt });
                }
                let wait = wait_hint
                    .unwrap_or_else(|| self.backoff.delay(attempt))
                    .min(self.backoff.retry().max_delay);
                tracing::warn!(endpoint, attempt, ?wait, "Gmail rate limit, backing off");
                self.hold(wait);
                Ok(Attempt::Retry(Duration::ZERO))
            }
            403 if reason.as_deref() == Some("dailyLimitExceeded") => Err(GmailError::DailyLimit),
            403 => Err(GmailError::Forbidden(error_message(&body))),
            500..=599 if write => {
                tracing::warn!(
                    endpoint,
                    attempt,
                    status,
                    "Gmail write outcome unknown: server error"
                );
                Err(uncertain(format!("HTTP {status}")))
            }
            500..=599 if !last => {
                tracing::warn!(endpoint, attempt, status, "Gmail server error, retrying");
                Ok(Attempt::Retry(self.backoff.delay(attempt)))
            }
            _ => Err(GmailError::Status {
                status,
                endpoint: endpoint.to_string(),
                message: error_message(&body),
            }),
        }
    }
}

/// The `{"id"?, "message": {"raw", "threadId"?}}` body of `drafts.create` / `drafts.update`.
fn draft_body(
    id: Option<&str>,
    raw: &[u8],
    thread_id: Option<&str>,
    endpoint: &str,
) -> Result<serde_json::Value, GmailError> {
    let thread_id = thread_id.map(segment).filter(|t| !t.is_empty());
    let body = DraftWrite {
        id: id.map(str::to_string),
        message: RawMessage {
            raw: base64::engine::general_purpose::URL_SAFE.encode(raw),
            thread_id,
        },
    };
    to_json(&body, endpoint)
}

fn to_json<T: serde::Serialize>(body: &T, endpoint: &str) -> Result<serde_json::Value, GmailError> {
    serde_json::to_value(body).map_err(|e| GmailError::InvalidRequest {
        endpoint: endpoint.to_string(),
        reason: e.to_string(),
    })
}

fn not_found(endpoint: &str) -> GmailError {
    GmailError::Status {
        status: 404,
        endpoint: endpoint.to_string(),
        message: "not found".into(),
    }
}

/// An id as one URL path segment (ids are hex, but stored data is never trusted).
fn segment(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .collect()
}

fn error_reason(body: &str) -> Option<String> {
    let e: ErrorEnvelope = serde_json::from_str(body).ok()?;
    e.error
        .errors
        .iter()
        .find_map(|d| d.reason.clone())
        .or(e.error.status)
}

fn error_message(body: &str) -> String {
    serde_json::from_str::<ErrorEnvelope>(body)
        .ok()
        .map(|e| e.error.message)
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| body_excerpt(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_cannot_escape_their_path_segment() {
        assert_eq!(segment("18c2f1a0b3d4e5f6"), "18c2f1a0b3d4e5f6");
        assert_eq!(segment("../../profile?x=1"), "profilex1");
    }

    #[test]
    fn error_reasons_come_from_googles_envelope() {
        let body = r#"{"error":{"code":403,"message":"User-rate limit exceeded.","errors":[{"domain":"usageLimits","reason":"userRateLimitExceeded"}],"status":"PERMISSION_DENIED"}}"#;
        assert_eq!(error_reason(body).as_deref(), Some("userRateLimitExceeded"));
        assert_eq!(error_message(body), "User-rate limit exceeded.");
        let bare = r#"{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED"}}"#;
        assert_eq!(error_reason(bare).as_deref(), Some("RESOURCE_EXHAUSTED"));
        assert_eq!(error_reason("<html>"), None);
        assert_eq!(error_message("\u{1b}[31m<html>"), "<html>");
    }
}
