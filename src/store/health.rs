//! What `casey doctor` asks the mirror: how the last sync of each source ended, and whether
//! SQLite finds the file sound. Sync outcomes live in `settings` (`sync.<source>.*`), so
//! recording them needs no schema change.

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::Serialize;

use super::{Result, Store, parse_ts_opt, ts};
use crate::domain::text::{sanitize_line, truncate_cols};

/// Longest error text kept for a sync, in terminal columns (one line in the doctor's report).
pub const SYNC_ERROR_MAX: usize = 300;

/// How the latest sync of one source ended, so `casey doctor` can say when each source last
/// synced and why it failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncRecord {
    /// When the latest sync started (by the clock the sync ran with).
    pub attempted_at: DateTime<Utc>,
    /// When the latest sync that succeeded started; `None` if none ever did.
    pub succeeded_at: Option<DateTime<Utc>>,
    /// Why the latest sync failed (one sanitized line); `None` when it succeeded.
    pub error: Option<String>,
}

impl SyncRecord {
    /// Whether the latest sync ended with an error.
    pub fn failed(&self) -> bool {
        self.error.is_some()
    }
}

fn key(source: &str, what: &str) -> String {
    format!("sync.{source}.{what}")
}

impl Store {
    /// Records the end of a sync of `source` (`hubspot`, `gmail`) that started at `at`: a
    /// success when `error` is `None`, else the error, kept as one sanitized line of at most
    /// [`SYNC_ERROR_MAX`] columns.
    pub fn record_sync(&mut self, source: &str, at: DateTime<Utc>, error: Option<&str>) -> Result<()> {
        let at = ts(at);
        let tx = self.conn_mut().transaction()?;
        {
            let mut set = tx.prepare_cached(
                "INSERT INTO settings(key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            )?;
            set.execute(params![key(source, "last_attempt"), at])?;
            match error {
                None => {
                    set.execute(params![key(source, "last_success"), at])?;
                    tx.execute("DELETE FROM settings WHERE key = ?1", [key(source, "last_error")])?;
                }
                Some(e) => {
                    let mut line = truncate_cols(&sanitize_line(e), SYNC_ERROR_MAX);
                    if line.is_empty() {
                        line = "unknown error".into();
                    }
                    set.execute(params![key(source, "last_error"), line])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// How the latest sync of `source` ended; `None` if it never synced.
    pub fn last_sync(&self, source: &str) -> Result<Option<SyncRecord>> {
        let Some(attempted_at) = parse_ts_opt(self.setting(&key(source, "last_attempt"))?) else {
            return Ok(None);
        };
        Ok(Some(SyncRecord {
            attempted_at,
            succeeded_at: parse_ts_opt(self.setting(&key(source, "last_success"))?),
            error: self.setting(&key(source, "last_error"))?,
        }))
    }

    /// SQLite's full integrity check (`PRAGMA integrity_check`): the problems it reports, at
    /// most `limit` of them; empty when the file is sound.
    pub fn integrity_check(&self, limit: usize) -> Result<Vec<String>> {
        let limit = limit.clamp(1, 1000);
        let mut st = self.conn().prepare(&format!("PRAGMA integrity_check({limit})"))?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        let mut problems = Vec::new();
        for row in rows {
            let row = row?;
            if row != "ok" {
                problems.push(row);
            }
        }
        Ok(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, h, 0, 0).unwrap()
    }

    #[test]
    fn sync_outcomes_round_trip_per_source_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("casey.db");
        {
            let mut s = Store::open(&path).unwrap();
            assert_eq!(s.last_sync("hubspot").unwrap(), None);
            s.record_sync("hubspot", t(9), None).unwrap();
            s.record_sync("hubspot", t(10), Some("HubSpot answered 500\nfor /crm/v3"))
                .unwrap();
            s.record_sync("gmail", t(11), None).unwrap();
        }
        let mut s = Store::open(&path).unwrap();
        let hubspot = s.last_sync("hubspot").unwrap().unwrap();
        assert_eq!(
            hubspot,
            SyncRecord {
                attempted_at: t(10),
                succeeded_at: Some(t(9)),
                error: Some("HubSpot answered 500 for /crm/v3".into()),
            }
        );
        assert!(hubspot.failed());
        let gmail = s.last_sync("gmail").unwrap().unwrap();
        assert_eq!(gmail.succeeded_at, Some(t(11)));
        assert!(!gmail.failed());
        // A later success clears the error and moves both times.
        s.record_sync("hubspot", t(12), None).unwrap();
        assert_eq!(
            s.last_sync("hubspot").unwrap().unwrap(),
            SyncRecord {
                attempted_at: t(12),
                succeeded_at: Some(t(12)),
                error: None,
            }
        );
    }

    #[test]
    fn a_recorded_error_is_one_safe_short_line() {
        let mut s = Store::open_in_memory().unwrap();
        let long = format!("\u{1b}[31mboom\u{1b}[0m\r\n{}", "x".repeat(1000));
        s.record_sync("gmail", t(9), Some(&long)).unwrap();
        let e = s.last_sync("gmail").unwrap().unwrap().error.unwrap();
        assert!(e.starts_with("boom x"), "{e}");
        assert!(crate::domain::text::is_terminal_safe(&e));
        assert!(!e.contains('\n'));
        assert_eq!(e.chars().count(), SYNC_ERROR_MAX);
        assert_eq!(s.last_sync("gmail").unwrap().unwrap().succeeded_at, None);
        s.record_sync("gmail", t(9), Some(" \n ")).unwrap();
        assert_eq!(
            s.last_sync("gmail").unwrap().unwrap().error.as_deref(),
            Some("unknown error")
        );
    }

    #[test]
    fn a_sound_file_passes_the_integrity_check() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("casey.db")).unwrap();
        assert_eq!(s.integrity_check(10).unwrap(), Vec::<String>::new());
    }
}
