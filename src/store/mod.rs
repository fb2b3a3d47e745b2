//! The SQLite mirror: schema, migrations and one method per query.
//!
//! WAL mode, short transactions. Sync and the outbox write through here; the UI only reads.
//! Opening a file written by a newer CaseyOS, or a file that is not a healthy SQLite database,
//! fails with a clear error and leaves the file exactly as it was.

mod drafts;
mod forget;
mod gmail;
mod health;
mod mirror;
mod outbox;
mod outcomes;
mod ranked;
mod state;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension};

pub use drafts::{DraftRecord, LOCAL_DRAFT_PREFIX, ReplyTarget, is_local_draft};
pub use forget::{Forgotten, address_hash, addresses_in};
pub use gmail::{LabelState, Reply};
pub use health::{SYNC_ERROR_MAX, SyncRecord};
pub use mirror::MirrorBatch;
pub use outbox::{Finish, Job, NewJob};
pub use outcomes::Recommendation;
pub use ranked::{Basis, DirtySet, RankedCounts, RankedFilter, RankedSummary};
pub use state::{AuditEntry, Counts, OutboxEntry, UndoOutcome};

/// Embedded migrations; index + 1 is the schema version each one produces.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_owners.sql"),
    include_str!("migrations/0003_gmail.sql"),
    include_str!("migrations/0004_outbox.sql"),
    include_str!("migrations/0005_local_drafts.sql"),
    include_str!("migrations/0006_outcomes.sql"),
    include_str!("migrations/0007_forgotten.sql"),
    include_str!("migrations/0008_ranked_moves.sql"),
    include_str!("migrations/0009_lookup_indexes.sql"),
    include_str!("migrations/0010_ranked_groups.sql"),
];

/// Every table of the schema (the names [`Store::table_count`] accepts).
pub(crate) const TABLES: &[&str] = &[
    "contacts",
    "companies",
    "deals",
    "pipelines",
    "stages",
    "associations",
    "tasks",
    "notes",
    "threads",
    "messages",
    "drafts",
    "moves",
    "decisions",
    "outcomes",
    "telemetry",
    "owners",
    "message_addresses",
    "gmail_pending",
    "outbox",
    "sync_cursors",
    "audit_log",
    "outcome_watch",
    "forgotten",
    "ranked_moves",
    "move_dirty",
    "move_wake",
    "ranked_groups",
];

/// The schema version this build reads and writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Problems opening or using the mirror.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Written by a newer CaseyOS.
    #[error(
        "{path} uses schema version {found}, but this casey only knows up to {supported}; \
         upgrade casey (the file was not changed)"
    )]
    NewerSchema {
        /// The file.
        path: PathBuf,
        /// Version in the file.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// Not an SQLite database, or damaged.
    #[error(
        "{path} is not a readable CaseyOS database ({detail}); the file was left untouched — \
         move it aside (or restore a backup) and run casey again to start a fresh mirror"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What SQLite said.
        detail: String,
    },
    /// The data directory could not be created.
    #[error("cannot create the data directory {path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Any other SQLite error.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Stored JSON that does not parse (a bug or tampering).
    #[error("stored data is malformed: {0}")]
    Json(#[from] serde_json::Error),
}

/// Stored timestamps are RFC 3339 UTC with milliseconds, so they also sort correctly as text.
pub(crate) fn ts(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub(crate) fn ts_opt(t: Option<chrono::DateTime<chrono::Utc>>) -> Option<String> {
    t.map(ts)
}

/// Reads a stored timestamp; an unreadable one (never written by CaseyOS) reads as the epoch.
pub(crate) fn parse_ts(s: &str) -> chrono::DateTime<chrono::Utc> {
    parse_ts_opt(Some(s.to_string())).unwrap_or(chrono::DateTime::<chrono::Utc>::UNIX_EPOCH)
}

pub(crate) fn parse_ts_opt(s: Option<String>) -> Option<chrono::DateTime<chrono::Utc>> {
    s.and_then(|s| chrono::DateTime::parse_from_rfc3339(&s).ok())
        .map(|d| d.with_timezone(&chrono::Utc))
}

/// Whether an address row of a message counts in the per-address mail figures
/// (`message_addresses.dir`): 1 our mail to it (To or Cc), 2 its mail to us (From), `None`
/// anything else (automated mail, the operator as sender, copies of inbound mail).
pub(crate) fn address_dir(role: &str, outbound: bool, automated: bool) -> Option<i64> {
    match (automated, outbound, role) {
        (true, _, _) => None,
        (false, true, "to" | "cc") => Some(1),
        (false, false, "from") => Some(2),
        _ => None,
    }
}

/// Upserts `(source, object_type, cursor)` rows inside a transaction.
pub(crate) fn write_cursors(tx: &rusqlite::Transaction<'_>, cursors: &[(&str, &str, &str)]) -> Result<()> {
    let mut st = tx.prepare_cached(
        "INSERT INTO sync_cursors(source, object_type, cursor, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(source, object_type) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
    )?;
    for (source, object_type, value) in cursors {
        st.execute(rusqlite::params![
            source,
            object_type,
            value,
            ts(chrono::Utc::now())
        ])?;
    }
    Ok(())
}

/// Result alias for store operations.
pub type Result<T> = std::result::Result<T, StoreError>;

/// Reads the schema and the first row of every table, so a file whose pages were overwritten
/// is refused at open instead of failing half-way through a command. (`PRAGMA quick_check`
/// reads every page: seconds on a seller's mirror; `casey doctor` still runs the full check.)
fn probe(conn: &Connection) -> rusqlite::Result<()> {
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for name in tables {
        let sql = format!("SELECT 1 FROM \"{}\" LIMIT 1", name.replace('"', "\"\""));
        conn.prepare(&sql)?.exists([])?;
    }
    Ok(())
}

/// An open mirror.
pub struct Store {
    conn: Connection,
    path: Option<PathBuf>,
}

impl Store {
    /// Opens (creating if needed) the mirror at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let existed = path.exists() && std::fs::metadata(path).map(|m| m.len() > 0).unwrap_or(false);
        let corrupt = |detail: String| StoreError::Corrupt {
            path: path.to_path_buf(),
            detail,
        };
        if existed {
            // Refuse anything that is not SQLite before SQLite gets a chance to write to it.
            let mut header = [0u8; 16];
            let ok = std::fs::File::open(path)
                .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut header))
                .is_ok();
            if !ok || &header != b"SQLite format 3\0" {
                return Err(corrupt("no SQLite header".into()));
            }
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| corrupt(e.to_string()))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| corrupt(e.to_string()))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                path: path.to_path_buf(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        if existed {
            // A cheap probe, not a full check (that reads every page: seconds on a big mirror;
            // `casey doctor` runs it). SQLite recovers its own WAL after a crash; what this
            // catches is a file damaged from outside: the schema and each table's first page.
            probe(&conn).map_err(|e| corrupt(e.to_string()))?;
        }
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| corrupt(e.to_string()))?;
        let mut store = Store {
            conn,
            path: Some(path.to_path_buf()),
        };
        store.configure()?;
        store.migrate(version)?;
        Ok(store)
    }

    /// An in-memory mirror, for tests and benchmarks.
    pub fn open_in_memory() -> Result<Store> {
        let conn = Connection::open_in_memory()?;
        let mut store = Store { conn, path: None };
        store.configure()?;
        store.migrate(0)?;
        Ok(store)
    }

    fn configure(&mut self) -> Result<()> {
        // Every write transaction takes the write lock up front: a transaction that read first
        // and wrote later would fail outright ("database is locked") when another connection
        // (a background sync, the outbox worker, a settle pass) wrote in between.
        self.conn
            .set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
        self.conn.pragma_update(None, "foreign_keys", "ON")?;
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(())
    }

    fn migrate(&mut self, from: i64) -> Result<()> {
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(from.max(0) as usize) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(())
    }

    /// Leaves copying the write-ahead log back into the file to [`Store::checkpoint`] calls
    /// (SQLite otherwise does it inside whichever commit fills 1,000 pages of log: a few tens
    /// of milliseconds that the TUI's own connection must never spend on a key press).
    pub fn leave_checkpoints_to_others(&self) -> Result<()> {
        self.conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        Ok(())
    }

    /// Copies what the write-ahead log holds back into the database file, without waiting for
    /// readers or writers (a passive checkpoint). Returns (frames in the log, frames copied).
    pub fn checkpoint(&self) -> Result<(i64, i64)> {
        Ok(self.conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get(1)?, r.get(2)?))
        })?)
    }

    /// The schema version of the open file.
    pub fn schema_version(&self) -> Result<i64> {
        Ok(self.conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    /// Where the file lives (None in memory).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// A setting value.
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    /// Stores a setting.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO settings(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [key, value],
        )?;
        Ok(())
    }

    /// Runs `f` as one unit: everything it writes lands, or (on an error) none of it does.
    /// Nests (a savepoint), so store calls that are atomic on their own can be grouped.
    pub fn atomically<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce() -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        // Outermost: take the write lock up front (see `configure`); nested: a savepoint.
        let outer = self.conn.is_autocommit();
        self.conn
            .execute_batch(if outer {
                "BEGIN IMMEDIATE; SAVEPOINT atomically"
            } else {
                "SAVEPOINT atomically"
            })
            .map_err(|e| E::from(StoreError::from(e)))?;
        match f() {
            Ok(v) => {
                self.conn
                    .execute_batch(if outer {
                        "RELEASE atomically; COMMIT"
                    } else {
                        "RELEASE atomically"
                    })
                    .map_err(|e| E::from(StoreError::from(e)))?;
                Ok(v)
            }
            Err(e) => {
                if let Err(undo) = self.conn.execute_batch(if outer {
                    "ROLLBACK TO atomically; RELEASE atomically; COMMIT"
                } else {
                    "ROLLBACK TO atomically; RELEASE atomically"
                }) {
                    tracing::error!("could not roll back a failed write: {undo}");
                }
                Err(e)
            }
        }
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_file_gets_latest_schema_and_wal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/casey.db");
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        let mode: String = store
            .conn()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        drop(store);
        // Reopening is a no-op migration.
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn every_table_the_product_needs_exists() {
        let store = Store::open_in_memory().unwrap();
        for t in TABLES {
            let n: i64 = store
                .conn()
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE type='table' AND name=?1",
                    [t],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(n, 1, "missing table {t}");
        }
    }

    #[test]
    fn migration_from_an_older_version_applies_the_rest() {
        // A file at version 0 (empty database someone created) is migrated in place.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch("CREATE TABLE unrelated(x); INSERT INTO unrelated VALUES (1);")
                .unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        let x: i64 = store
            .conn()
            .query_row("SELECT x FROM unrelated", [], |r| r.get(0))
            .unwrap();
        assert_eq!(x, 1, "existing data is kept");
    }

    #[test]
    fn outbox_rows_survive_the_version_4_rebuild() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v3.db");
        {
            let c = Connection::open(&path).unwrap();
            for sql in &MIGRATIONS[..3] {
                c.execute_batch(sql).unwrap();
            }
            c.execute_batch(
                "PRAGMA user_version = 3;
                 INSERT INTO outbox(idempotency_key, move_key, action, payload, state, attempts, demo, created_at, updated_at)
                 VALUES ('k', 'm', 'gmail.draft.push', '{}', 'queued', 2, 0, '2026-11-20T15:00:00.000Z', '2026-11-20T15:00:00.000Z');",
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        let entries = store.outbox(10).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(
            (entries[0].idempotency_key.as_str(), entries[0].state.as_str()),
            ("k", "queued")
        );
        let job = store.claim_job(chrono::Utc::now()).unwrap().unwrap();
        assert_eq!(job.attempts, 3, "attempts carried over");
    }

    #[test]
    fn newer_schema_is_refused_and_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.db");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch("CREATE TABLE future(x); PRAGMA user_version = 99;")
                .unwrap();
        }
        let before = std::fs::read(&path).unwrap();
        let err = Store::open(&path).err().unwrap();
        assert!(matches!(err, StoreError::NewerSchema { found: 99, .. }), "{err}");
        assert!(err.to_string().contains("upgrade casey"));
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn garbage_file_is_refused_and_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("casey.db");
        let junk = b"this is not a database, it is a shopping list\n".repeat(100);
        std::fs::write(&path, &junk).unwrap();
        let err = Store::open(&path).err().unwrap();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("left untouched"));
        assert_eq!(std::fs::read(&path).unwrap(), junk);
        assert!(!dir.path().join("casey.db-wal").exists());
    }

    #[test]
    fn damaged_database_is_refused_and_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("casey.db");
        {
            let s = Store::open(&path).unwrap();
            s.conn()
                .execute_batch("PRAGMA journal_mode=DELETE; BEGIN;")
                .unwrap();
            for i in 0..2000 {
                s.set_setting(&format!("k{i}"), &"v".repeat(200)).unwrap();
            }
            s.conn().execute_batch("COMMIT;").unwrap();
        }
        // Keep the header, scribble over the pages after it.
        let mut bytes = std::fs::read(&path).unwrap();
        for b in bytes.iter_mut().skip(4096).step_by(7) {
            *b = 0xA5;
        }
        std::fs::write(&path, &bytes).unwrap();
        let err = Store::open(&path).err().unwrap();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }

    #[test]
    fn audit_log_is_append_only() {
        let store = Store::open_in_memory().unwrap();
        store
            .conn()
            .execute(
                "INSERT INTO audit_log(at, actor, action) VALUES ('t','me','x')",
                [],
            )
            .unwrap();
        assert!(
            store
                .conn()
                .execute("UPDATE audit_log SET action = 'y'", [])
                .is_err()
        );
        assert!(store.conn().execute("DELETE FROM audit_log", []).is_err());
    }
}
