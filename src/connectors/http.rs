//! What the HTTP clients share: the retry policy, jittered backoff and per-request telemetry.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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

/// Exponential backoff with up to +50% jitter, so that clients that failed together do not
/// come back together.
#[derive(Debug)]
pub struct Backoff {
    retry: Retry,
    state: AtomicU64,
}

impl Backoff {
    /// A backoff for `retry`, seeded from the clock.
    pub fn new(retry: Retry) -> Backoff {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9)
            | 1;
        Backoff {
            retry,
            state: AtomicU64::new(seed),
        }
    }

    /// The policy.
    pub fn retry(&self) -> Retry {
        self.retry
    }

    /// How long to wait before retry number `attempt` (1 = after the first failure).
    pub fn delay(&self, attempt: u32) -> Duration {
        // xorshift jitter.
        let mut x = self.state.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state.store(x, Ordering::Relaxed);
        let exp = self.retry.base_delay.saturating_mul(1u32 << attempt.min(16));
        let jitter = exp.mul_f64((x % 1000) as f64 / 2000.0);
        (exp + jitter).min(self.retry.max_delay)
    }
}

/// One request as telemetry records it: never the token, never record contents.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiEvent {
    /// What was asked, e.g. `GET /crm/v3/objects/contacts`.
    pub endpoint: String,
    /// HTTP status, or `None` when no answer came (timeout, connection refused).
    pub status: Option<u16>,
    /// Round-trip time in milliseconds.
    pub millis: u64,
    /// Attempt number of this request (1 = first try).
    pub attempt: u32,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

impl ApiEvent {
    /// Whether this was a failure (no answer, or an error status).
    pub fn is_error(&self) -> bool {
        self.error.is_some()
    }
}

/// Collects [`ApiEvent`]s until the sync engine writes them to telemetry.
#[derive(Debug, Default)]
pub struct EventLog(Mutex<Vec<ApiEvent>>);

impl EventLog {
    /// Notes one attempt, timed from `started`.
    pub fn record(
        &self,
        endpoint: &str,
        status: Option<u16>,
        started: Instant,
        attempt: u32,
        error: Option<String>,
    ) {
        let event = ApiEvent {
            endpoint: endpoint.to_string(),
            status,
            millis: started.elapsed().as_millis() as u64,
            attempt,
            error,
        };
        if let Ok(mut e) = self.0.lock() {
            e.push(event);
        }
    }

    /// Takes what was recorded since the last call.
    pub fn take(&self) -> Vec<ApiEvent> {
        self.0
            .lock()
            .map(|mut e| std::mem::take(&mut *e))
            .unwrap_or_default()
    }
}

/// A service's error body when it is not the JSON it documents: one safe line of at most 200
/// columns, for the error message.
pub fn body_excerpt(body: &str) -> String {
    crate::domain::text::truncate_cols(&crate::domain::text::sanitize_line(body), 200)
}

/// The `Retry-After` header in seconds, if present and numeric.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_stays_under_the_cap() {
        let b = Backoff::new(Retry {
            attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        });
        for attempt in 1..=3 {
            let d = b.delay(attempt);
            let exp = Duration::from_millis(100 * (1 << attempt));
            assert!(d >= exp && d <= exp.mul_f64(1.5), "{attempt}: {d:?}");
        }
        assert_eq!(b.delay(10), Duration::from_secs(1));
    }
}
