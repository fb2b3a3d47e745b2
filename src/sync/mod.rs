//! Bringing data into the mirror: the bundled demo data set, HubSpot and Gmail. The engines
//! write page by page, each write with the cursor that says where to resume (Gmail's history
//! applies its changes first and moves its cursor in the last write), so a sync stopped
//! anywhere resumes without gaps. They record the latency and errors of their requests as
//! telemetry, and take a lock so that two syncs of one source never run on one mirror.

pub mod demo;
pub mod gmail;
pub mod hubspot;

use crate::connectors::http::ApiEvent;
use crate::store::{Store, StoreError};

/// Another sync of the same source is running on this mirror.
#[derive(Debug, thiserror::Error)]
#[error(
    "another casey is syncing {service} into this mirror right now (the TUI's background sync or \
     `casey sync` in another terminal); this run changed nothing — try again when it finishes"
)]
pub struct Busy {
    /// `HubSpot` or `Gmail`.
    pub service: &'static str,
}

/// Keeps two syncs of one source off the same mirror at once: an OS file lock beside the
/// database, released when dropped or when the process ends (so a crash never leaves it held).
/// An in-memory mirror (tests) needs none.
pub(crate) struct SyncLock {
    _file: Option<std::fs::File>,
}

impl SyncLock {
    /// Takes the lock of `source` for `store`, or says it is held.
    pub(crate) fn take(store: &Store, source: &'static str, name: &str) -> Result<SyncLock, Busy> {
        let Some(db) = store.path() else {
            return Ok(SyncLock { _file: None });
        };
        let path = std::path::PathBuf::from(format!("{}.{name}.lock", db.display()));
        let file = match std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
        {
            Ok(f) => f,
            // A read-only data dir cannot hold a lock file; the sync will fail on its own.
            Err(e) => {
                tracing::warn!("cannot create the sync lock {}: {e}", path.display());
                return Ok(SyncLock { _file: None });
            }
        };
        match file.try_lock() {
            Ok(()) => Ok(SyncLock { _file: Some(file) }),
            Err(std::fs::TryLockError::WouldBlock) => Err(Busy { service: source }),
            Err(std::fs::TryLockError::Error(e)) => {
                tracing::warn!("cannot lock {}: {e}", path.display());
                Ok(SyncLock { _file: None })
            }
        }
    }

    /// Whether a lock is held (false for in-memory mirrors).
    #[cfg(test)]
    fn held(&self) -> bool {
        self._file.is_some()
    }
}

/// Days request telemetry is kept.
pub const TELEMETRY_DAYS: i64 = 30;

/// Writes the `integration_latency` / `integration_error` telemetry of the request attempts
/// made for `service` (see [`crate::telemetry`]): endpoint, status, milliseconds, attempt and
/// error — never a token or record contents.
pub(crate) fn record_requests(
    store: &mut Store,
    service: &str,
    events: &[ApiEvent],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), StoreError> {
    crate::telemetry::record_api_events(store, service, events, now)
}

/// Drops request telemetry older than [`TELEMETRY_DAYS`].
pub(crate) fn prune_requests(
    store: &mut Store,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), StoreError> {
    store.prune_telemetry(
        &[
            crate::telemetry::INTEGRATION_LATENCY,
            crate::telemetry::INTEGRATION_ERROR,
        ],
        now - chrono::Duration::days(TELEMETRY_DAYS),
    )?;
    Ok(())
}

/// Notes how a sync of `source` that started at `at` ended, for `casey doctor`. Not being able
/// to note it is logged and never changes the sync's own result.
pub(crate) fn record_outcome<T, E: std::fmt::Display>(
    store: &mut Store,
    source: &str,
    at: chrono::DateTime<chrono::Utc>,
    result: &Result<T, E>,
) {
    let error = result.as_ref().err().map(|e| e.to_string());
    if let Err(e) = store.record_sync(source, at, error.as_deref()) {
        tracing::warn!(source, "could not record how the sync ended: {e}");
    }
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
    use crate::store::Store;

    #[test]
    fn a_second_sync_of_the_same_source_is_refused_until_the_first_ends() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("casey.db")).unwrap();
        let first = super::SyncLock::take(&store, "Gmail", "gmail").unwrap();
        assert!(first.held());
        let err = super::SyncLock::take(&store, "Gmail", "gmail").err().unwrap();
        assert!(
            err.to_string().contains("another casey is syncing Gmail"),
            "{err}"
        );
        assert!(
            super::SyncLock::take(&store, "HubSpot", "hubspot").is_ok(),
            "other sources are free"
        );
        drop(first);
        assert!(super::SyncLock::take(&store, "Gmail", "gmail").is_ok());
        let memory = Store::open_in_memory().unwrap();
        assert!(!super::SyncLock::take(&memory, "Gmail", "gmail").unwrap().held());
    }

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
