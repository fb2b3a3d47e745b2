//! The local event log: what CaseyOS recommended, what the operator did with it, what came of
//! it, and how the services answered. Rows live in the `telemetry` table and never leave the
//! machine; [`crate::stats`] reads them back.
//!
//! | event | written by | payload |
//! |---|---|---|
//! | `recommendation_generated` | [`crate::today::refresh`], first sighting of a move | `kind`, `aps` |
//! | `recommendation_accepted` / `_dismissed` / `_snoozed` / `_reopened` | [`crate::actions::decide`] | skip reason, snooze |
//! | `recommendation_undone` | [`crate::actions::undo`] | `{}` |
//! | `action_executed` | [`crate::actions::decide`] with `done` (`x`, `y`, demo included) | `{}` |
//! | `outcome_recorded` | the store, when an outcome is recorded | `outcome` |
//! | `integration_latency` | after each sync and outbox run, one per API call attempt | `connector`, `endpoint`, `status`, `ms`, `attempt`, `error` |
//! | `integration_error` | the same, once more for each failed attempt | same as above |
//!
//! Every attempt gets an `integration_latency` row (so latency percentiles see slow failures
//! too) and a failed one also an `integration_error` row: the error rate is errors / latency
//! rows. A batch of API events is written in one transaction.

use chrono::{DateTime, Utc};

use crate::connectors::http::ApiEvent;
use crate::store::{Store, StoreError};

/// A move was detected for the first time.
pub const RECOMMENDATION_GENERATED: &str = "recommendation_generated";
/// The operator accepted a move (`a`).
pub const RECOMMENDATION_ACCEPTED: &str = "recommendation_accepted";
/// The operator skipped a move (`s`).
pub const RECOMMENDATION_DISMISSED: &str = "recommendation_dismissed";
/// The operator snoozed a move (`z`).
pub const RECOMMENDATION_SNOOZED: &str = "recommendation_snoozed";
/// A move was executed (`x` / `y`; simulated in the demo).
pub const ACTION_EXECUTED: &str = "action_executed";
/// An outcome was recorded for an executed move.
pub const OUTCOME_RECORDED: &str = "outcome_recorded";
/// One API call attempt, successful or not, with its latency.
pub const INTEGRATION_LATENCY: &str = "integration_latency";
/// One failed API call attempt (also counted in [`INTEGRATION_LATENCY`]).
pub const INTEGRATION_ERROR: &str = "integration_error";

/// The telemetry rows for `events` made by `connector` (`hubspot`, `gmail`): one latency row
/// per attempt, plus an error row per failed one. Never a token or record contents.
pub fn api_rows(connector: &str, events: &[ApiEvent]) -> Vec<(&'static str, serde_json::Value)> {
    let mut rows = Vec::with_capacity(events.len());
    for e in events {
        let payload = serde_json::json!({
            "connector": connector,
            "endpoint": e.endpoint,
            "status": e.status,
            "ms": e.millis,
            "attempt": e.attempt,
            "error": e.error,
        });
        if e.is_error() {
            rows.push((INTEGRATION_ERROR, payload.clone()));
        }
        rows.push((INTEGRATION_LATENCY, payload));
    }
    rows
}

/// Writes the API events of one sync or outbox run in one transaction (nothing when empty).
pub fn record_api_events(
    store: &mut Store,
    connector: &str,
    events: &[ApiEvent],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    store.telemetry_many(&api_rows(connector, events), now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(status: Option<u16>, error: Option<&str>) -> ApiEvent {
        ApiEvent {
            endpoint: "GET /gmail/v1/users/me/messages".into(),
            status,
            millis: 42,
            attempt: 1,
            error: error.map(str::to_string),
        }
    }

    #[test]
    fn every_attempt_has_a_latency_row_and_a_failure_an_error_row_too() {
        let rows = api_rows(
            "gmail",
            &[event(Some(200), None), event(Some(503), Some("503 unavailable"))],
        );
        let names: Vec<&str> = rows.iter().map(|r| r.0).collect();
        assert_eq!(
            names,
            [INTEGRATION_LATENCY, INTEGRATION_ERROR, INTEGRATION_LATENCY]
        );
        assert_eq!(rows[0].1["connector"], "gmail");
        assert_eq!(rows[0].1["ms"], 42);
        assert_eq!(rows[1].1["status"], 503);
    }

    #[test]
    fn a_batch_lands_in_the_store() {
        let mut store = Store::open_in_memory().unwrap();
        record_api_events(&mut store, "hubspot", &[], Utc::now()).unwrap();
        assert!(store.telemetry_counts().unwrap().is_empty());
        record_api_events(&mut store, "hubspot", &[event(None, Some("timeout"))], Utc::now()).unwrap();
        let counts = store.telemetry_counts().unwrap();
        assert_eq!(
            counts,
            [
                (INTEGRATION_ERROR.to_string(), 1),
                (INTEGRATION_LATENCY.to_string(), 1)
            ]
        );
    }
}
