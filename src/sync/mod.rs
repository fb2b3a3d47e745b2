//! Bringing data into the mirror: the bundled demo data set, HubSpot and Gmail. Every engine
//! writes page by page with its cursors in the same transaction, and records the latency and
//! errors of its requests as telemetry.

pub mod demo;
pub mod gmail;
pub mod hubspot;

use crate::connectors::http::ApiEvent;
use crate::store::{Store, StoreError};

/// Days request telemetry is kept.
pub const TELEMETRY_DAYS: i64 = 30;

/// Writes one `api_request` / `api_error` telemetry event per request attempt: endpoint,
/// status, milliseconds, attempt and error — never a token or record contents.
pub(crate) fn record_requests(
    store: &mut Store,
    service: &str,
    events: &[ApiEvent],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let rows: Vec<(&str, serde_json::Value)> = events
        .iter()
        .map(|e| {
            (
                if e.is_error() { "api_error" } else { "api_request" },
                serde_json::json!({
                    "service": service,
                    "endpoint": e.endpoint,
                    "status": e.status,
                    "ms": e.millis,
                    "attempt": e.attempt,
                    "error": e.error,
                }),
            )
        })
        .collect();
    store.telemetry_many(&rows, now)
}

/// Drops request telemetry older than [`TELEMETRY_DAYS`].
pub(crate) fn prune_requests(
    store: &mut Store,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), StoreError> {
    store.prune_telemetry(
        &["api_request", "api_error"],
        now - chrono::Duration::days(TELEMETRY_DAYS),
    )?;
    Ok(())
}

/// `[████····] done/total` for progress lines (20 cells).
pub(crate) fn bar(done: u64, total: u64) -> String {
    let done = done.min(total);
    let filled = (done * 20 / total.max(1)) as usize;
    format!(
        "[{}{}] {done}/{total}",
        "█".repeat(filled),
        "·".repeat(20 - filled)
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_bar_fills_in_twentieths_and_never_overflows() {
        assert_eq!(super::bar(0, 40), format!("[{}] 0/40", "·".repeat(20)));
        assert_eq!(
            super::bar(10, 40),
            format!("[{}{}] 10/40", "█".repeat(5), "·".repeat(15))
        );
        assert_eq!(super::bar(50, 40), format!("[{}] 40/40", "█".repeat(20)));
    }
}
