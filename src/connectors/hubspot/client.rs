//! HubSpot CRM v3 HTTP client: bearer token, paging, typed errors, polite retries.
//!
//! The base URL comes from `[hubspot] api_base`, so tests point it at a local fake. Every
//! request is counted (the sync summary reports it). 429 honours `Retry-After`; 5xx and
//! timeouts are retried with exponential backoff and jitter, up to a cap.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;

use super::wire::{ErrorBody, ObjectPage, PipelineList};

/// What can go wrong talking to HubSpot, each with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum HubSpotError {
    /// 401: the token is missing, expired or revoked.
    #[error("HubSpot rejected the token (401): run `casey auth hubspot` or check CASEYOS_HUBSPOT_TOKEN")]
    Unauthorized,
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
    /// Connection refused, DNS, TLS, timeout after retries.
    #[error("cannot reach HubSpot at {base}: {source}")]
    Network {
        /// The base URL.
        base: String,
        /// Why.
        source: reqwest::Error,
    },
}

/// Retry policy; tests shrink the delays to nothing.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Attempts per request, including the first.
    pub attempts: u32,
    /// First backoff delay; doubles each retry.
    pub base_delay: Duration,
    /// Longest single wait (also caps `Retry-After`).
    pub max_delay: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

/// A HubSpot client for one account.
pub struct HubSpotClient {
    http: reqwest::Client,
    base: String,
    token: SecretString,
    retry: Retry,
    requests: AtomicU64,
    jitter: AtomicU64,
}

impl std::fmt::Debug for HubSpotClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubSpotClient")
            .field("base", &self.base)
            .field("token", &"[redacted]")
            .finish()
    }
}

impl HubSpotClient {
    /// A client for `api_base` (no trailing slash needed) with a private-app or OAuth token.
    pub fn new(api_base: &str, token: SecretString, retry: Retry) -> Result<HubSpotClient, HubSpotError> {
        let base = api_base.trim_end_matches('/').to_string();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("CaseyOS/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| HubSpotError::Network {
                base: base.clone(),
                source,
            })?;
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9)
            | 1;
        Ok(HubSpotClient {
            http,
            base,
            token,
            retry,
            requests: AtomicU64::new(0),
            jitter: AtomicU64::new(seed),
        })
    }

    /// Requests sent so far (retries included).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// One page of `GET /crm/v3/objects/{object_type}` (100 records, the documented maximum).
    pub async fn list_page(
        &self,
        object_type: &str,
        properties: &[&str],
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

    /// `GET /crm/v3/pipelines/deals`.
    pub async fn deal_pipelines(&self) -> Result<PipelineList, HubSpotError> {
        self.get("/crm/v3/pipelines/deals", &[]).await
    }

    fn backoff(&self, attempt: u32) -> Duration {
        // xorshift jitter: up to +50% on top of the exponential delay.
        let mut x = self.jitter.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.jitter.store(x, Ordering::Relaxed);
        let exp = self.retry.base_delay.saturating_mul(1u32 << attempt.min(16));
        let jitter = exp.mul_f64((x % 1000) as f64 / 2000.0);
        (exp + jitter).min(self.retry.max_delay)
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
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.requests.fetch_add(1, Ordering::Relaxed);
            let request = match body {
                Some(b) => self.http.post(&url).json(b),
                None => self.http.get(&url),
            };
            let sent = request
                .bearer_auth(self.token.expose_secret())
                .query(query)
                .send()
                .await;
            let last = attempt >= self.retry.attempts;
            let resp = match sent {
                Ok(r) => r,
                Err(e) if !last && (e.is_timeout() || e.is_connect() || e.is_request()) => {
                    tracing::warn!(path, attempt, "HubSpot request failed, retrying: {e}");
                    tokio::time::sleep(self.backoff(attempt)).await;
                    continue;
                }
                Err(source) => {
                    return Err(HubSpotError::Network {
                        base: self.base.clone(),
                        source,
                    });
                }
            };
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = resp.text().await.map_err(|source| HubSpotError::Network {
                base: self.base.clone(),
                source,
            })?;
            match status {
                200..=299 => {
                    return serde_json::from_str(&body).map_err(|source| HubSpotError::Malformed {
                        path: path.to_string(),
                        source,
                    });
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
                        .unwrap_or_else(|| self.backoff(attempt))
                        .min(self.retry.max_delay);
                    tracing::warn!(path, attempt, ?wait, "HubSpot rate limit ({policy}), waiting");
                    tokio::time::sleep(wait).await;
                }
                500..=599 if !last => {
                    tracing::warn!(path, attempt, status, "HubSpot server error, retrying");
                    tokio::time::sleep(self.backoff(attempt)).await;
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
        .unwrap_or_else(|| crate::domain::text::truncate_cols(&crate::domain::text::sanitize_line(body), 200))
}
