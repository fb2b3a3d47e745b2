//! Forgetting a person (`casey forget <email>`): every row of the mirror that mentions their
//! address goes — the contact, messages to or from them, drafts, the moves about them with
//! their decisions, outcomes, telemetry and outbox entries, and any other record whose text
//! names them. Audit lines that name them are redacted rather than dropped, and one audit line
//! records the erasure (with a hash, never the address). SQLite's `secure_delete` overwrites
//! what is deleted, the file is rebuilt (`VACUUM`) and the write-ahead log truncated, so the
//! address does not linger in the file either.
//!
//! The address is remembered only as a SHA-256 hash, so that the next sync does not bring the
//! person back: records naming a forgotten address are left out of every mirrored batch.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use rusqlite::params;
use sha2::{Digest, Sha256};

use super::mirror::{MirrorBatch, refresh_threads};
use super::{Result, Store, ts};

/// What forgetting removed: rows per table, and audit lines redacted.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Forgotten {
    /// Rows removed, by table (tables with none are left out).
    pub removed: BTreeMap<String, usize>,
    /// Audit lines whose text named the person, redacted.
    pub audit_redacted: usize,
    /// The file was rebuilt and its write-ahead log emptied, so no copy of the deleted rows
    /// is left in it (false when casey was open elsewhere: run it again once it is closed).
    pub compacted: bool,
}

impl Forgotten {
    /// Rows removed in all.
    pub fn total(&self) -> usize {
        self.removed.values().sum()
    }
}

/// The hash a forgotten address is remembered by (SHA-256 of the trimmed, lower-cased
/// address, hex).
pub fn address_hash(address: &str) -> String {
    let digest = Sha256::digest(address.trim().to_lowercase().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The email addresses written anywhere in `text` (lower-cased): every run of address
/// characters around an `@`.
pub fn addresses_in(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !(c.is_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-' | '@')))
        .filter(|t| t.contains('@'))
        .map(|t| t.trim_matches(|c| matches!(c, '.' | '-' | '@')).to_lowercase())
        .filter(|t| t.contains('@'))
}

fn mentions(text: &str, forgotten: &HashSet<String>) -> bool {
    addresses_in(text).any(|a| forgotten.contains(&address_hash(&a)))
}

/// The rowids of `table`'s rows with a text column that `names` accepts.
fn rows_naming(
    tx: &rusqlite::Transaction<'_>,
    table: &str,
    names: &impl Fn(&str) -> bool,
) -> Result<Vec<i64>> {
    let mut st = tx.prepare(&format!("SELECT rowid, * FROM \"{table}\""))?;
    let columns = st.column_count();
    let mut rows = st.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        for i in 1..columns {
            if let rusqlite::types::ValueRef::Text(bytes) = r.get_ref(i)?
                && names(&String::from_utf8_lossy(bytes))
            {
                out.push(r.get(0)?);
                break;
            }
        }
    }
    Ok(out)
}

/// Tables whose rows are the person's data and go when they mention the address; `audit_log`
/// is redacted instead, `forgotten` is the list itself.
const KEEP: [&str; 2] = ["audit_log", "forgotten"];

impl Store {
    /// The hashes of every forgotten address.
    pub fn forgotten_hashes(&self) -> Result<HashSet<String>> {
        let mut st = self.conn().prepare_cached("SELECT hash FROM forgotten")?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<rusqlite::Result<HashSet<_>>>()?)
    }

    /// Erases everything the mirror holds about `address` (see the module docs). The caller
    /// checks that it is a plausible address and not the operator's own.
    pub fn forget(&mut self, address: &str, now: DateTime<Utc>) -> Result<Forgotten> {
        let needle = address.trim().to_lowercase();
        let mut out = Forgotten::default();
        self.conn().pragma_update(None, "secure_delete", true)?;
        let tx = self.conn_mut().transaction()?;
        {
            // Whole addresses only: forgetting ann@acme.example leaves joann@acme.example be.
            let names = |text: &str| addresses_in(text).any(|a| a == needle);
            let ids = |sql: &str| -> Result<Vec<String>> {
                let mut st = tx.prepare(sql)?;
                let mut rows = st.query([])?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    if names(&r.get::<_, String>(1)?) {
                        out.push(r.get::<_, String>(0)?);
                    }
                }
                Ok(out)
            };
            let contacts = ids("SELECT id, coalesce(email, '') || ' ' || raw FROM contacts")?;
            let messages = ids(
                "SELECT id, from_email || ' ' || to_json || ' ' || cc_json || ' ' || subject || ' ' || snippet || ' ' || body
                 FROM messages",
            )?;
            let drafts = ids("SELECT id, to_json || ' ' || subject || ' ' || body FROM drafts")?;
            let mut threads: Vec<String> = Vec::new();
            {
                let mut st = tx.prepare("SELECT thread_id FROM messages WHERE id = ?1")?;
                for m in &messages {
                    threads.push(st.query_row([m], |r| r.get(0))?);
                }
            }
            // The moves about them: their lead, their threads, their drafts.
            let mut moves: Vec<String> = contacts.iter().map(|c| format!("new_lead:contact:{c}")).collect();
            for t in &threads {
                moves.push(format!("reply_inbound:thread:{t}"));
                moves.push(format!("follow_up:thread:{t}"));
            }
            moves.extend(drafts.iter().map(|d| format!("approve_draft:draft:{d}")));
            moves.sort();
            moves.dedup();

            let mut count = |table: &str, n: usize| {
                if n > 0 {
                    *out.removed.entry(table.to_string()).or_insert(0) += n;
                }
            };
            let by_id = |table: &str, column: &str, values: &[String]| -> Result<usize> {
                let mut st = tx.prepare(&format!("DELETE FROM {table} WHERE {column} = ?1"))?;
                let mut n = 0;
                for v in values {
                    n += st.execute([v])?;
                }
                Ok(n)
            };
            let n = by_id("associations", "from_id", &contacts)?;
            let n2 = by_id("associations", "to_id", &contacts)?;
            count("associations", n + n2);
            count("contacts", by_id("contacts", "id", &contacts)?);
            count(
                "message_addresses",
                by_id("message_addresses", "message_id", &messages)?,
            );
            count("gmail_pending", by_id("gmail_pending", "message_id", &messages)?);
            count("messages", by_id("messages", "id", &messages)?);
            refresh_threads(&tx, threads.iter().map(String::as_str))?;
            count("drafts", by_id("drafts", "id", &drafts)?);
            count("moves", by_id("moves", "key", &moves)?);
            count("outcome_watch", by_id("outcome_watch", "move_key", &moves)?);
            count("outcome_watch", by_id("outcome_watch", "contact_id", &contacts)?);
            for table in ["decisions", "outcomes", "telemetry", "outbox"] {
                count(table, by_id(table, "move_key", &moves)?);
            }

            // Then any other row, in any table, whose text names them.
            let tables: Vec<String> = {
                let mut st = tx.prepare(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
                )?;
                let rows = st.query_map([], |r| r.get::<_, String>(0))?;
                rows.collect::<rusqlite::Result<Vec<_>>>()?
            };
            for table in tables.iter().filter(|t| !KEEP.contains(&t.as_str())) {
                let hits = rows_naming(&tx, table, &names)?;
                let mut del = tx.prepare(&format!("DELETE FROM \"{table}\" WHERE rowid = ?1"))?;
                for rowid in &hits {
                    del.execute([rowid])?;
                }
                count(table, hits.len());
            }
            // Remembered (by hash) before the audit lines naming them are redacted: the log
            // accepts a redaction only then.
            let hash = address_hash(&needle);
            tx.execute(
                "INSERT OR IGNORE INTO forgotten(hash, at) VALUES (?1, ?2)",
                params![hash, ts(now)],
            )?;
            // The audit log keeps its lines; those naming them lose the target and detail.
            let audit: Vec<(i64, bool, bool)> = {
                let mut st = tx.prepare("SELECT id, coalesce(target, ''), detail FROM audit_log")?;
                let mut rows = st.query([])?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    let (target, detail) = (names(&r.get::<_, String>(1)?), names(&r.get::<_, String>(2)?));
                    if target || detail {
                        out.push((r.get(0)?, target, detail));
                    }
                }
                out
            };
            for (id, target, detail) in &audit {
                tx.execute(
                    "UPDATE audit_log SET target = CASE WHEN ?2 THEN '(forgotten)' ELSE target END,
                            detail = CASE WHEN ?3 THEN '{\"redacted\":\"a forgotten person\"}' ELSE detail END
                     WHERE id = ?1",
                    params![id, target, detail],
                )?;
            }
            out.audit_redacted = audit.len();
            tx.execute(
                "INSERT INTO audit_log(at, actor, action, target, detail) VALUES (?1, 'operator', 'forget', ?2, ?3)",
                params![
                    ts(now),
                    format!("sha256:{}", &hash[..16]),
                    serde_json::json!({ "removed": out.removed, "audit_redacted": out.audit_redacted }).to_string()
                ],
            )?;
        }
        tx.commit()?;
        self.conn().pragma_update(None, "secure_delete", false)?;
        // Copies left in free pages by earlier writes go with a rebuild of the file, and nothing
        // of them is left in the write-ahead log either. Both need the file to themselves: with
        // casey open elsewhere they wait for next time (the rows are gone already).
        let compacted = self.conn().execute_batch("VACUUM").is_ok()
            && self
                .conn()
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get::<_, i64>(0))
                .is_ok_and(|busy| busy == 0);
        out.compacted = compacted;
        if !compacted {
            tracing::warn!("forget: the file could not be compacted now (casey is open elsewhere)");
        }
        Ok(out)
    }

    /// Purges local data past its retention (`0` days: keep forever): telemetry events, and
    /// drafts CaseyOS wrote that were never approved (no outbox entry still needs them).
    /// Returns (events, drafts) removed.
    pub fn purge(&self, now: DateTime<Utc>, telemetry_days: u32, drafts_days: u32) -> Result<(usize, usize)> {
        let cutoff = |days: u32| ts(now - chrono::Duration::days(i64::from(days)));
        let events = if telemetry_days == 0 {
            0
        } else {
            self.conn()
                .execute("DELETE FROM telemetry WHERE at < ?1", [cutoff(telemetry_days)])?
        };
        let drafts = if drafts_days == 0 {
            0
        } else {
            self.conn().execute(
                "DELETE FROM drafts WHERE id LIKE 'local-%' AND updated_at < ?1
                   AND NOT EXISTS (SELECT 1 FROM outbox o WHERE json_extract(o.payload, '$.draft_id') = drafts.id
                                   AND o.state IN ('queued', 'running', 'uncertain', 'parked'))",
                [cutoff(drafts_days)],
            )?
        };
        if events + drafts > 0 {
            tracing::info!(events, drafts, "purged local data past its retention");
        }
        Ok((events, drafts))
    }

    /// `b` without the records that name a forgotten address, when there are any; `None`
    /// when nothing needs leaving out (the common case costs one small query).
    pub(crate) fn without_forgotten(&self, b: &MirrorBatch) -> Result<Option<MirrorBatch>> {
        let forgotten = self.forgotten_hashes()?;
        if forgotten.is_empty() {
            return Ok(None);
        }
        let m = |text: &str| mentions(text, &forgotten);
        let mut out = b.clone();
        out.contacts
            .retain(|(c, raw)| !m(raw) && !c.email.as_deref().is_some_and(&m));
        out.companies.retain(|(_, raw)| !m(raw));
        out.deals.retain(|(_, raw)| !m(raw));
        out.tasks.retain(|(_, raw)| !m(raw));
        out.notes.retain(|(_, raw)| !m(raw));
        out.messages.retain(|r| {
            let x = &r.message;
            !(m(&x.from.email)
                || x.to.iter().chain(x.cc.iter()).any(|a| m(&a.email))
                || m(&x.subject)
                || m(&x.snippet)
                || m(&x.body))
        });
        out.drafts
            .retain(|(d, _)| !(d.to.iter().any(|a| m(&a.email)) || m(&d.subject) || m(&d.body)));
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_found_in_any_text_and_compared_without_case() {
        let found: Vec<String> =
            addresses_in("Hi <Dana.Reyes@Acme.example>, cc: bob+x@b.io; mailto:eve@c.org. Not: a@ or @b")
                .collect();
        assert_eq!(found, ["dana.reyes@acme.example", "bob+x@b.io", "eve@c.org"]);
        let set: HashSet<String> = [address_hash(" DANA.reyes@acme.example ")].into_iter().collect();
        assert!(mentions("From: Dana.Reyes@ACME.example", &set));
        assert!(!mentions("From: dana@acme.example", &set));
    }
}
