//! The operator's own state: decisions, seen moves, the outbox, the audit log and telemetry.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{Result, Store, parse_ts as parse, parse_ts_opt as parse_opt, ts};
use crate::domain::detect::Decision;
use crate::domain::moves::{Move, MoveState};

/// One outbound action waiting in, or finished by, the outbox.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OutboxEntry {
    /// Row id.
    pub id: i64,
    /// Unique per intended effect; a second enqueue with the same key is ignored.
    pub idempotency_key: String,
    /// The move it came from.
    pub move_key: Option<String>,
    /// e.g. `gmail.draft.create`, `hubspot.task.complete`.
    pub action: String,
    /// Action parameters (JSON).
    pub payload: String,
    /// `queued`, `running`, `done`, `failed`, `uncertain`, `parked`, `cancelled`.
    pub state: String,
    /// Last error, if any (why it waits, failed or was parked).
    pub error: Option<String>,
    /// Tries so far.
    pub attempts: u32,
    /// End of the undo window of a send: not run before this instant.
    pub not_before: Option<DateTime<Utc>>,
    /// While offline or rate-limited: the next try, not before this instant.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// What the remote side calls the result, once done.
    pub remote_id: Option<String>,
    /// When it was done.
    pub done_at: Option<DateTime<Utc>>,
    /// Simulated by the demo.
    pub demo: bool,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// How taking back a decision ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UndoOutcome {
    /// Taken back, with the outbox entries it had queued.
    Undone {
        /// The move.
        key: String,
        /// Outbox entries cancelled.
        cancelled: usize,
        /// A send among them.
        sends_cancelled: bool,
    },
    /// Its effect is under way or done; nothing changed. Says why.
    TooLate(String),
    /// No decision to take back.
    Nothing,
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// `operator`, `demo`, `worker`.
    pub actor: String,
    /// What happened.
    pub action: String,
    /// What it happened to.
    pub target: Option<String>,
    /// Details (JSON).
    pub detail: String,
}

/// Row counts for headers and `casey doctor`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Contacts mirrored.
    pub contacts: usize,
    /// Companies mirrored.
    pub companies: usize,
    /// Deals mirrored.
    pub deals: usize,
    /// Threads mirrored.
    pub threads: usize,
    /// Messages mirrored.
    pub messages: usize,
    /// Drafts mirrored.
    pub drafts: usize,
    /// Tasks mirrored.
    pub tasks: usize,
    /// Outbox entries not yet done.
    pub outbox_pending: usize,
}

impl Counts {
    /// Whether the mirror holds nothing at all (no account connected or synced yet).
    pub fn is_empty(&self) -> bool {
        self.contacts + self.companies + self.deals + self.messages + self.drafts + self.tasks == 0
    }
}

pub(super) fn state_row(
    state: &str,
    reason: Option<String>,
    until: Option<String>,
    until_reply: bool,
) -> MoveState {
    match state {
        "accepted" => MoveState::Accepted,
        "skipped" => MoveState::Skipped { reason },
        "snoozed" => MoveState::Snoozed {
            until: until.as_deref().map(parse),
            until_reply,
        },
        "done" => MoveState::Done,
        _ => MoveState::Open,
    }
}

impl Store {
    /// Records a decision (append-only).
    pub fn record_decision(&self, key: &str, state: &MoveState, at: DateTime<Utc>) -> Result<()> {
        let (reason, until, until_reply) = match state {
            MoveState::Skipped { reason } => (reason.clone(), None, false),
            MoveState::Snoozed { until, until_reply } => (None, until.map(ts), *until_reply),
            _ => (None, None, false),
        };
        self.conn().execute(
            "INSERT INTO decisions(move_key, state, reason, snooze_until, until_reply, decided_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![key, state.as_str(), reason, until, until_reply, ts(at)],
        )?;
        Ok(())
    }

    /// Takes back the latest decision still in force on move `key` (or on any move), with what
    /// it put in the outbox, in one write transaction, so a worker in another process either
    /// claimed an entry first (then it is too late) or never will.
    ///
    /// Too late when an entry of that execution is being carried out (`running`, `uncertain`)
    /// or is done with an effect that cannot be called back (a send, a HubSpot write, a
    /// deletion); a draft already written to Gmail is fine (the move comes back with it).
    pub fn undo_decision(&self, key: Option<&str>, at: DateTime<Utc>) -> Result<UndoOutcome> {
        let tx = rusqlite::Transaction::new_unchecked(self.conn(), rusqlite::TransactionBehavior::Immediate)?;
        let last: Option<(i64, String, String)> = tx
            .query_row(
                "SELECT id, move_key, decided_at FROM decisions
                 WHERE undone_at IS NULL AND (?1 IS NULL OR move_key = ?1) ORDER BY id DESC LIMIT 1",
                [key],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((id, key, decided_at)) = last else {
            return Ok(UndoOutcome::Nothing);
        };
        let blocking: Option<(String, String)> = tx
            .query_row(
                "SELECT action, state FROM outbox
                 WHERE move_key = ?1 AND demo = 0 AND created_at >= ?2
                   AND (state IN ('running', 'uncertain')
                        OR (state = 'done' AND action NOT IN ('gmail.draft.create', 'gmail.draft.push')))
                 ORDER BY id LIMIT 1",
                params![key, decided_at],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((action, state)) = blocking {
            let why = if state == "done" {
                format!("too late to undo: {action} is already done; nothing was taken back")
            } else {
                format!("too late to undo: {action} is being carried out right now (see the Outbox view)")
            };
            return Ok(UndoOutcome::TooLate(why));
        }
        tx.execute(
            "UPDATE decisions SET undone_at = ?1 WHERE id = ?2",
            params![ts(at), id],
        )?;
        let sends: i64 = tx.query_row(
            "SELECT count(*) FROM outbox WHERE move_key = ?1 AND demo = 0 AND created_at >= ?2
               AND state IN ('queued', 'parked') AND action = 'gmail.draft.send'",
            params![key, decided_at],
            |r| r.get(0),
        )?;
        let cancelled = tx.execute(
            "UPDATE outbox SET state = 'cancelled', updated_at = ?3
             WHERE move_key = ?1 AND created_at >= ?2
               AND ((demo = 1 AND state IN ('queued', 'done')) OR (demo = 0 AND state IN ('queued', 'parked')))",
            params![key, decided_at, ts(at)],
        )?;
        tx.commit()?;
        Ok(UndoOutcome::Undone {
            key,
            cancelled,
            sends_cancelled: sends > 0,
        })
    }

    /// Takes back the most recent decision still in force; returns its move key.
    pub fn undo_last_decision(&self, at: DateTime<Utc>) -> Result<Option<String>> {
        let last: Option<(i64, String)> = self
            .conn()
            .query_row(
                "SELECT id, move_key FROM decisions WHERE undone_at IS NULL ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((id, key)) = last else { return Ok(None) };
        self.conn().execute(
            "UPDATE decisions SET undone_at = ?1 WHERE id = ?2",
            params![ts(at), id],
        )?;
        Ok(Some(key))
    }

    /// The decision in force for every move that has one.
    pub fn current_decisions(&self) -> Result<HashMap<String, Decision>> {
        let mut st = self.conn().prepare(
            "SELECT move_key, state, reason, snooze_until, until_reply, decided_at FROM decisions d
             WHERE undone_at IS NULL AND id = (SELECT max(id) FROM decisions e WHERE e.move_key = d.move_key AND e.undone_at IS NULL)",
        )?;
        let rows = st.query_map([], |r| {
            let key: String = r.get(0)?;
            let state: String = r.get(1)?;
            let decided: String = r.get(5)?;
            Ok(Decision {
                move_key: key,
                state: state_row(&state, r.get(2)?, r.get(3)?, r.get(4)?),
                decided_at: parse(&decided),
            })
        })?;
        let mut map = HashMap::new();
        for d in rows {
            let d = d?;
            map.insert(d.move_key.clone(), d);
        }
        Ok(map)
    }

    /// Notes every move seen in this detection run (first and last sighting).
    pub fn record_seen_moves(&mut self, moves: &[Move], now: DateTime<Utc>) -> Result<()> {
        let tx = self.conn_mut().transaction()?;
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO moves(key, kind, title, aps, first_seen, last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?5)
                 ON CONFLICT(key) DO UPDATE SET title = excluded.title, aps = excluded.aps, last_seen = excluded.last_seen",
            )?;
            let now = ts(now);
            for m in moves {
                st.execute(params![m.key, m.kind.as_str(), m.title, m.aps.score, now])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Queues an outbound action; returns false when the idempotency key was already queued.
    #[allow(clippy::too_many_arguments)]
    pub fn enqueue_outbox(
        &self,
        idempotency_key: &str,
        move_key: Option<&str>,
        action: &str,
        payload: &serde_json::Value,
        state: &str,
        demo: bool,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let n = self.conn().execute(
            "INSERT OR IGNORE INTO outbox(idempotency_key, move_key, action, payload, state, demo, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
            params![idempotency_key, move_key, action, payload.to_string(), state, demo, ts(at)],
        )?;
        Ok(n == 1)
    }

    /// Cancels a move's outbox entries that have not started (undo): a live one still waiting
    /// (in its undo window, or queued), and a simulated demo one; returns how many. Anything
    /// already running or done in the real world stays as it is.
    pub fn cancel_outbox_for_move(&self, move_key: &str, at: DateTime<Utc>) -> Result<usize> {
        Ok(self.conn().execute(
            "UPDATE outbox SET state = 'cancelled', updated_at = ?2
             WHERE move_key = ?1 AND ((demo = 1 AND state IN ('queued', 'done')) OR (demo = 0 AND state IN ('queued', 'parked')))",
            params![move_key, ts(at)],
        )?)
    }

    /// Outbox entries, newest first.
    pub fn outbox(&self, limit: usize) -> Result<Vec<OutboxEntry>> {
        let mut st = self.conn().prepare(
            "SELECT id, idempotency_key, move_key, action, payload, state, error, demo, created_at, updated_at,
                    attempts, not_before, next_attempt_at, remote_id, done_at
             FROM outbox ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = st.query_map([limit as i64], |r| {
            Ok(OutboxEntry {
                id: r.get(0)?,
                idempotency_key: r.get(1)?,
                move_key: r.get(2)?,
                action: r.get(3)?,
                payload: r.get(4)?,
                state: r.get(5)?,
                error: r.get(6)?,
                demo: r.get(7)?,
                created_at: parse(&r.get::<_, String>(8)?),
                updated_at: parse(&r.get::<_, String>(9)?),
                attempts: r.get(10)?,
                not_before: parse_opt(r.get(11)?),
                next_attempt_at: parse_opt(r.get(12)?),
                remote_id: r.get(13)?,
                done_at: parse_opt(r.get(14)?),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Appends to the audit log.
    pub fn audit(
        &self,
        actor: &str,
        action: &str,
        target: Option<&str>,
        detail: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.conn().execute(
            "INSERT INTO audit_log(at, actor, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![ts(at), actor, action, target, detail.to_string()],
        )?;
        Ok(())
    }

    /// The audit log, oldest first.
    pub fn audit_entries(&self) -> Result<Vec<AuditEntry>> {
        let mut st = self
            .conn()
            .prepare("SELECT at, actor, action, target, detail FROM audit_log ORDER BY id")?;
        let rows = st.query_map([], |r| {
            Ok(AuditEntry {
                at: parse(&r.get::<_, String>(0)?),
                actor: r.get(1)?,
                action: r.get(2)?,
                target: r.get(3)?,
                detail: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Records a local telemetry event (never leaves the machine).
    pub fn telemetry(
        &self,
        event: &str,
        move_key: Option<&str>,
        payload: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> Result<()> {
        // A first sighting's score also goes in its own column (the Stats histogram).
        let aps = payload.get("aps").and_then(serde_json::Value::as_f64);
        self.conn()
            .prepare_cached(
                "INSERT INTO telemetry(event, move_key, payload, at, aps) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![event, move_key, payload.to_string(), ts(at), aps])?;
        Ok(())
    }

    /// Forgets events of the given kinds recorded before `before` (request telemetry would
    /// otherwise grow by thousands of rows a day). Returns how many were removed.
    pub fn prune_telemetry(&self, events: &[&str], before: DateTime<Utc>) -> Result<usize> {
        let mut removed = 0;
        let mut st = self
            .conn()
            .prepare_cached("DELETE FROM telemetry WHERE event = ?1 AND at < ?2")?;
        for event in events {
            removed += st.execute(params![event, ts(before)])?;
        }
        Ok(removed)
    }

    /// Records several telemetry events in one transaction.
    pub fn telemetry_many(&mut self, events: &[(&str, serde_json::Value)], at: DateTime<Utc>) -> Result<()> {
        let tx = self.conn_mut().transaction()?;
        {
            let mut st =
                tx.prepare_cached("INSERT INTO telemetry(event, payload, at) VALUES (?1, ?2, ?3)")?;
            for (event, payload) in events {
                st.execute(params![event, payload.to_string(), ts(at)])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The payloads of the latest `limit` events of one kind, newest first.
    pub fn telemetry_payloads(&self, event: &str, limit: usize) -> Result<Vec<serde_json::Value>> {
        let mut st = self
            .conn()
            .prepare_cached("SELECT payload FROM telemetry WHERE event = ?1 ORDER BY id DESC LIMIT ?2")?;
        let rows = st.query_map(params![event, limit as i64], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(serde_json::from_str(&row?)?);
        }
        Ok(out)
    }

    /// Telemetry event counts by name.
    pub fn telemetry_counts(&self) -> Result<Vec<(String, i64)>> {
        let mut st = self
            .conn()
            .prepare("SELECT event, count(*) FROM telemetry GROUP BY event ORDER BY event")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Replaces a draft's body (edited by the operator) and marks it as CaseyOS's.
    pub fn update_draft_body(&self, draft_id: &str, body: &str, at: DateTime<Utc>) -> Result<()> {
        self.conn().execute(
            "UPDATE drafts SET body = ?2, updated_at = ?3, origin = 'caseyos' WHERE id = ?1",
            params![draft_id, body, ts(at)],
        )?;
        Ok(())
    }

    /// A sync cursor (`source`, `object_type`), if one was stored.
    pub fn cursor(&self, source: &str, object_type: &str) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT cursor FROM sync_cursors WHERE source = ?1 AND object_type = ?2",
                [source, object_type],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Forgets a source's cursors (`casey sync --full`).
    pub fn reset_cursors(&self, source: &str) -> Result<usize> {
        Ok(self
            .conn()
            .execute("DELETE FROM sync_cursors WHERE source = ?1", [source])?)
    }

    /// Rows in one mirror table (for `casey doctor` and tests); unknown names are refused.
    pub fn table_count(&self, table: &str) -> Result<usize> {
        let Some(t) = super::TABLES.iter().find(|t| **t == table) else {
            return Err(rusqlite::Error::InvalidParameterName(table.to_string()).into());
        };
        let n: i64 = self
            .conn()
            .query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))?;
        Ok(n as usize)
    }

    /// Outbox entries not finished: waiting, running, to confirm or parked.
    pub fn outbox_pending(&self) -> Result<usize> {
        let n: i64 = self.conn().query_row(
            "SELECT count(*) FROM outbox WHERE state IN ('queued', 'running', 'uncertain', 'parked')",
            [],
            |r| r.get(0),
        )?;
        Ok(n as usize)
    }

    /// Row counts.
    pub fn counts(&self) -> Result<Counts> {
        let n = |table: &str| -> Result<usize> {
            let sql = format!("SELECT count(*) FROM {table}");
            Ok(self.conn().query_row(&sql, [], |r| r.get::<_, i64>(0))? as usize)
        };
        let outbox_pending = self.outbox_pending()?;
        Ok(Counts {
            contacts: n("contacts")?,
            companies: n("companies")?,
            deals: n("deals")?,
            threads: n("threads")?,
            messages: n("messages")?,
            drafts: n("drafts")?,
            tasks: n("tasks")?,
            outbox_pending,
        })
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
    fn decisions_survive_reopen_and_undo_takes_back_the_latest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        {
            let s = Store::open(&path).unwrap();
            s.record_decision("a", &MoveState::Accepted, t(9)).unwrap();
            s.record_decision(
                "b",
                &MoveState::Skipped {
                    reason: Some("not now".into()),
                },
                t(10),
            )
            .unwrap();
            s.record_decision("a", &MoveState::Done, t(11)).unwrap();
        }
        let s = Store::open(&path).unwrap();
        let d = s.current_decisions().unwrap();
        assert_eq!(d["a"].state, MoveState::Done);
        assert_eq!(
            d["b"].state,
            MoveState::Skipped {
                reason: Some("not now".into())
            }
        );
        assert_eq!(s.undo_last_decision(t(12)).unwrap().as_deref(), Some("a"));
        assert_eq!(s.current_decisions().unwrap()["a"].state, MoveState::Accepted);
        assert_eq!(s.undo_last_decision(t(12)).unwrap().as_deref(), Some("b"));
        assert_eq!(s.undo_last_decision(t(12)).unwrap().as_deref(), Some("a"));
        assert!(s.current_decisions().unwrap().is_empty());
        assert_eq!(s.undo_last_decision(t(12)).unwrap(), None);
    }

    #[test]
    fn snooze_round_trips() {
        let s = Store::open_in_memory().unwrap();
        let st = MoveState::Snoozed {
            until: Some(t(15)),
            until_reply: false,
        };
        s.record_decision("k", &st, t(9)).unwrap();
        assert_eq!(s.current_decisions().unwrap()["k"].state, st);
        let st = MoveState::Snoozed {
            until: None,
            until_reply: true,
        };
        s.record_decision("k", &st, t(9)).unwrap();
        assert_eq!(s.current_decisions().unwrap()["k"].state, st);
    }

    #[test]
    fn outbox_is_idempotent() {
        let s = Store::open_in_memory().unwrap();
        let p = serde_json::json!({"thread": "t1"});
        assert!(
            s.enqueue_outbox("k1", Some("m"), "gmail.draft.create", &p, "done", true, t(9))
                .unwrap()
        );
        assert!(
            !s.enqueue_outbox("k1", Some("m"), "gmail.draft.create", &p, "done", true, t(9))
                .unwrap()
        );
        assert_eq!(s.outbox(10).unwrap().len(), 1);
        assert_eq!(s.cancel_outbox_for_move("m", t(10)).unwrap(), 1);
        assert_eq!(s.outbox(10).unwrap()[0].state, "cancelled");
    }

    #[test]
    fn outbox_entries_carry_their_timing() {
        let s = Store::open_in_memory().unwrap();
        let p = serde_json::json!({"to": ["ada@x.test"]});
        let job = crate::store::NewJob {
            idempotency_key: "k1",
            move_key: Some("m"),
            action: "gmail.draft.send",
            payload: &p,
            not_before: Some(t(10)),
        };
        assert!(s.queue_job(&job, t(9)).unwrap());
        let e = &s.outbox(10).unwrap()[0];
        assert_eq!((e.state.as_str(), e.attempts), ("queued", 0));
        assert_eq!(e.not_before, Some(t(10)));
        assert_eq!(
            (e.next_attempt_at, e.done_at, e.remote_id.clone()),
            (None, None, None)
        );
        let claimed = s.claim_job(t(11)).unwrap().unwrap();
        let finish = crate::store::Finish::Retry {
            error: "offline".into(),
            at: t(12),
            uncertain: false,
        };
        s.finish_job(&claimed, &finish, t(11)).unwrap();
        let e = &s.outbox(10).unwrap()[0];
        assert_eq!((e.attempts, e.next_attempt_at), (1, Some(t(12))));
        assert_eq!(e.error.as_deref(), Some("offline"));
    }
}
