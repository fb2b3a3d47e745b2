//! The outbox as the worker runs it: queue with an undo window, claim one job at a time,
//! finish it (done, failed, parked, or back in the queue), recover after a crash.
//!
//! Every transition is one SQLite transaction together with its audit line, so a crash leaves
//! either the old state or the new one, never half of each.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use serde_json::json;

use super::{Result, Store, parse_ts_opt, ts};

/// An outbound action to queue.
#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    /// Unique per intended effect; queuing the same key twice keeps the first.
    pub idempotency_key: &'a str,
    /// The move it comes from.
    pub move_key: Option<&'a str>,
    /// e.g. `gmail.draft.send`.
    pub action: &'a str,
    /// What to do, and what the world looked like when it was approved.
    pub payload: &'a serde_json::Value,
    /// Not before this instant (the undo window of a send).
    pub not_before: Option<DateTime<Utc>>,
}

/// A job the worker claimed.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Row id.
    pub id: i64,
    /// Idempotency key.
    pub idempotency_key: String,
    /// The move it comes from.
    pub move_key: Option<String>,
    /// The action.
    pub action: String,
    /// Its parameters.
    pub payload: serde_json::Value,
    /// Attempts including this one.
    pub attempts: u32,
    /// The effect may already have happened (a crash or an unclear answer): ask the remote
    /// side before doing anything.
    pub reconcile: bool,
    /// Since when its effect has been in doubt (with `reconcile`).
    pub uncertain_since: Option<DateTime<Utc>>,
}

/// How a claimed job ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Finish {
    /// Done; the remote id of what was created or changed.
    Done {
        /// Remote id.
        remote_id: String,
        /// Found by reconciliation rather than done now.
        reconciled: bool,
    },
    /// Refused for good (a rule, a validation error).
    Failed(String),
    /// The world changed since the approval: the operator must confirm again.
    Parked(String),
    /// Try again at `at` (offline, rate-limited); `uncertain` when the effect may have happened.
    Retry {
        /// Why.
        error: String,
        /// When.
        at: DateTime<Utc>,
        /// Reconcile first next time.
        uncertain: bool,
    },
}

impl Store {
    /// Queues a job; false when its idempotency key is already there.
    pub fn queue_job(&self, job: &NewJob<'_>, now: DateTime<Utc>) -> Result<bool> {
        self.atomically(|| self.queue_job_now(job, now))
    }

    fn queue_job_now(&self, job: &NewJob<'_>, now: DateTime<Utc>) -> Result<bool> {
        let tx = self.conn();
        let n = tx.execute(
            "INSERT OR IGNORE INTO outbox(idempotency_key, move_key, action, payload, state, demo, created_at, updated_at, not_before)
             VALUES (?1, ?2, ?3, ?4, 'queued', 0, ?5, ?5, ?6)",
            params![
                job.idempotency_key,
                job.move_key,
                job.action,
                job.payload.to_string(),
                ts(now),
                job.not_before.map(ts)
            ],
        )?;
        if n == 1 {
            audit(
                tx,
                "operator",
                "outbox queued",
                job.idempotency_key,
                json!({"action": job.action, "not_before": job.not_before}),
                now,
            )?;
        }
        Ok(n == 1)
    }

    /// After a crash: jobs left `running` may or may not have happened; they become
    /// `uncertain`, to be reconciled before anything else. Returns how many.
    pub fn recover_running(&self, now: DateTime<Utc>) -> Result<usize> {
        let tx = self.conn().unchecked_transaction()?;
        let keys: Vec<String> = {
            let mut st = tx.prepare("SELECT idempotency_key FROM outbox WHERE state = 'running'")?;
            st.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?
        };
        for key in &keys {
            audit(
                &tx,
                "worker",
                "outbox recovered after a stop",
                key,
                json!({}),
                now,
            )?;
        }
        tx.execute(
            "UPDATE outbox SET state = 'uncertain', error = 'interrupted while running; checking before retrying', updated_at = ?1,
                    uncertain_since = COALESCE(uncertain_since, ?1)
             WHERE state = 'running'",
            params![ts(now)],
        )?;
        tx.commit()?;
        Ok(keys.len())
    }

    /// Claims the oldest job that is due (past its undo window and retry time): it becomes
    /// `running` before anything is sent.
    pub fn claim_job(&self, now: DateTime<Utc>) -> Result<Option<Job>> {
        let tx = self.conn().unchecked_transaction()?;
        let row = tx
            .query_row(
                "SELECT id, idempotency_key, move_key, action, payload, attempts, state, uncertain_since FROM outbox
                 WHERE state IN ('queued', 'uncertain') AND demo = 0
                   AND (not_before IS NULL OR not_before <= ?1)
                   AND (next_attempt_at IS NULL OR next_attempt_at <= ?1)
                 ORDER BY id LIMIT 1",
                params![ts(now)],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, u32>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, Option<String>>(7)?,
                    ))
                },
            )
            .optional()?;
        let Some((id, key, move_key, action, payload, attempts, state, uncertain_since)) = row else {
            return Ok(None);
        };
        tx.execute(
            "UPDATE outbox SET state = 'running', attempts = attempts + 1, updated_at = ?2 WHERE id = ?1",
            params![id, ts(now)],
        )?;
        tx.commit()?;
        Ok(Some(Job {
            id,
            idempotency_key: key,
            move_key,
            action,
            payload: serde_json::from_str(&payload)?,
            attempts: attempts + 1,
            reconcile: state == "uncertain",
            uncertain_since: parse_ts_opt(uncertain_since).filter(|_| state == "uncertain"),
        }))
    }

    /// Ends a claimed job, with its audit line.
    pub fn finish_job(&self, job: &Job, finish: &Finish, now: DateTime<Utc>) -> Result<()> {
        let tx = self.conn().unchecked_transaction()?;
        let (what, detail) = match finish {
            Finish::Done {
                remote_id,
                reconciled,
            } => {
                tx.execute(
                    "UPDATE outbox SET state = 'done', remote_id = ?2, error = NULL, done_at = ?3, updated_at = ?3 WHERE id = ?1",
                    params![job.id, remote_id, ts(now)],
                )?;
                after_done(&tx, job, remote_id)?;
                let what = if *reconciled {
                    "outbox done (found already done)"
                } else {
                    "outbox executed"
                };
                (what, json!({"action": job.action, "remote_id": remote_id}))
            }
            Finish::Failed(error) => {
                tx.execute(
                    "UPDATE outbox SET state = 'failed', error = ?2, updated_at = ?3 WHERE id = ?1",
                    params![job.id, error, ts(now)],
                )?;
                ("outbox failed", json!({"action": job.action, "error": error}))
            }
            Finish::Parked(why) => {
                tx.execute(
                    "UPDATE outbox SET state = 'parked', error = ?2, updated_at = ?3 WHERE id = ?1",
                    params![job.id, why, ts(now)],
                )?;
                ("outbox parked", json!({"action": job.action, "why": why}))
            }
            Finish::Retry { error, at, uncertain } => {
                let state = if *uncertain { "uncertain" } else { "queued" };
                tx.execute(
                    "UPDATE outbox SET state = ?2, error = ?3, next_attempt_at = ?4, updated_at = ?5,
                            uncertain_since = CASE WHEN ?2 = 'uncertain' THEN COALESCE(uncertain_since, ?5) END
                     WHERE id = ?1",
                    params![job.id, state, error, ts(*at), ts(now)],
                )?;
                tx.commit()?;
                // Waiting is not an execution: no audit line for every retry.
                return Ok(());
            }
        };
        audit(&tx, "worker", what, &job.idempotency_key, detail, now)?;
        tx.commit()?;
        Ok(())
    }

    /// Cancels a job that has not started (the undo window, or the Outbox view): true when it
    /// was still waiting. A running or finished job cannot be cancelled.
    pub fn cancel_job(&self, idempotency_key: &str, now: DateTime<Utc>) -> Result<bool> {
        self.operator_move(
            idempotency_key,
            "UPDATE outbox SET state = 'cancelled', updated_at = ?2
             WHERE idempotency_key = ?1 AND state IN ('queued', 'parked') AND demo = 0",
            "outbox cancelled",
            now,
        )
    }

    /// Confirms a parked (or failed) job again: it is queued as it was approved, and a send
    /// counts as approved now (the operator has seen what parked it).
    pub fn requeue_job(&self, idempotency_key: &str, now: DateTime<Utc>) -> Result<bool> {
        self.operator_move(
            idempotency_key,
            "UPDATE outbox SET state = 'queued', error = NULL, next_attempt_at = NULL, updated_at = ?2,
                    payload = CASE WHEN action = 'gmail.draft.send' THEN json_set(payload, '$.approved_at', ?2)
                                   ELSE payload END
             WHERE idempotency_key = ?1 AND state IN ('parked', 'failed') AND demo = 0",
            "outbox confirmed again",
            now,
        )
    }

    /// One operator decision on a job (`sql` with ?1 = key, ?2 = now), audited when it applied.
    fn operator_move(
        &self,
        idempotency_key: &str,
        sql: &str,
        what: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let tx = self.conn().unchecked_transaction()?;
        let n = tx.execute(sql, params![idempotency_key, ts(now)])?;
        if n == 1 {
            audit(&tx, "operator", what, idempotency_key, json!({}), now)?;
        }
        tx.commit()?;
        Ok(n == 1)
    }

    /// Sends done since `since`, plus those under way (for the daily cap).
    pub fn sends_since(&self, since: DateTime<Utc>) -> Result<u32> {
        Ok(self.conn().query_row(
            "SELECT count(*) FROM outbox WHERE action = 'gmail.draft.send' AND demo = 0
               AND ((state = 'done' AND done_at >= ?1) OR state IN ('running', 'uncertain'))",
            params![ts(since)],
            |r| r.get(0),
        )?)
    }

    /// The state and last error of a job, by idempotency key.
    pub fn job_state(&self, idempotency_key: &str) -> Result<Option<(String, Option<String>)>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT state, error FROM outbox WHERE idempotency_key = ?1",
                [idempotency_key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// An outbox entry still writing draft `draft_id` to Gmail (queued, running, uncertain or
    /// parked), by idempotency key: approving the draft again must wait for it.
    pub fn draft_write_pending(&self, draft_id: &str) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT idempotency_key FROM outbox
                 WHERE action IN ('gmail.draft.create', 'gmail.draft.push') AND demo = 0
                   AND state IN ('queued', 'running', 'uncertain', 'parked')
                   AND json_extract(payload, '$.draft_id') = ?1
                 ORDER BY id LIMIT 1",
                [draft_id],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Sends approved and not yet under way (queued or parked): they count against the daily
    /// cap when another send is approved.
    pub fn sends_waiting(&self) -> Result<u32> {
        Ok(self.conn().query_row(
            "SELECT count(*) FROM outbox WHERE action = 'gmail.draft.send' AND demo = 0
               AND state IN ('queued', 'parked')",
            [],
            |r| r.get(0),
        )?)
    }

    /// The last send to `address` (any case), from the recipients in the send's payload (`to`).
    pub fn last_send_to(&self, address: &str) -> Result<Option<DateTime<Utc>>> {
        let at: Option<String> = self.conn().query_row(
            "SELECT max(o.done_at) FROM outbox o, json_each(o.payload, '$.to') r
             WHERE o.action = 'gmail.draft.send' AND o.state = 'done' AND o.demo = 0
               AND lower(r.value) = lower(?1)",
            params![address.trim()],
            |r| r.get(0),
        )?;
        Ok(parse_ts_opt(at))
    }
}

/// What a finished Gmail draft action means for the mirror's drafts, written with the job's
/// end so the two never disagree:
/// - created: the local draft takes Gmail's id (a copy a sync brought in meanwhile gives way),
///   and jobs still waiting on the local id (a send approved with it) follow;
/// - pushed: Gmail has the operator's version, so the next sync may refresh it again;
/// - sent or deleted: the draft is gone.
fn after_done(tx: &rusqlite::Transaction<'_>, job: &Job, remote_id: &str) -> Result<()> {
    let Some(draft) = job.payload.get("draft_id").and_then(|v| v.as_str()) else {
        return Ok(());
    };
    match job.action.as_str() {
        // Found already sent (from Gmail itself): no draft is left to keep.
        "gmail.draft.create" if remote_id.starts_with("sent:") => {
            tx.execute("DELETE FROM drafts WHERE id = ?1", [draft])?;
        }
        "gmail.draft.create" if draft != remote_id => {
            tx.execute("DELETE FROM drafts WHERE id = ?1", [remote_id])?;
            tx.execute(
                "UPDATE drafts SET id = ?2, origin = 'gmail', message_id = NULL WHERE id = ?1",
                [draft, remote_id],
            )?;
            tx.execute(
                "UPDATE outbox SET payload = json_set(payload, '$.draft_id', ?2)
                 WHERE json_extract(payload, '$.draft_id') = ?1 AND state NOT IN ('done', 'cancelled')
                   AND id <> ?3 AND action <> 'gmail.draft.create'",
                params![draft, remote_id, job.id],
            )?;
        }
        "gmail.draft.push" => {
            tx.execute(
                "UPDATE drafts SET origin = 'gmail', message_id = NULL WHERE id = ?1",
                [draft],
            )?;
        }
        "gmail.draft.send" | "gmail.draft.delete" => {
            tx.execute("DELETE FROM drafts WHERE id = ?1", [draft])?;
        }
        _ => {}
    }
    Ok(())
}

fn audit(
    tx: &rusqlite::Connection,
    actor: &str,
    action: &str,
    target: &str,
    detail: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<()> {
    tx.execute(
        "INSERT INTO audit_log(at, actor, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![ts(now), actor, action, target, detail.to_string()],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, 15, 0, 0).unwrap()
    }

    fn queue(store: &Store, key: &str, not_before: Option<DateTime<Utc>>) {
        let payload = json!({"to": ["Dana@Acme.example"]});
        assert!(
            store
                .queue_job(
                    &NewJob {
                        idempotency_key: key,
                        move_key: Some("m"),
                        action: "gmail.draft.send",
                        payload: &payload,
                        not_before,
                    },
                    now(),
                )
                .unwrap()
        );
    }

    #[test]
    fn a_job_waits_out_its_undo_window_and_is_claimed_once() {
        let store = Store::open_in_memory().unwrap();
        queue(&store, "k1", Some(now() + Duration::seconds(10)));
        assert!(
            store.claim_job(now()).unwrap().is_none(),
            "inside the undo window"
        );
        let job = store.claim_job(now() + Duration::seconds(10)).unwrap().unwrap();
        assert_eq!((job.attempts, job.reconcile), (1, false));
        assert!(
            store.claim_job(now() + Duration::seconds(11)).unwrap().is_none(),
            "running: not claimed twice"
        );
        assert!(!store.cancel_job("k1", now()).unwrap(), "too late to cancel");
    }

    #[test]
    fn the_same_key_is_queued_once_and_cancelling_in_the_window_stops_it() {
        let store = Store::open_in_memory().unwrap();
        queue(&store, "k1", Some(now() + Duration::seconds(10)));
        let payload = json!({});
        let again = NewJob {
            idempotency_key: "k1",
            move_key: None,
            action: "gmail.draft.send",
            payload: &payload,
            not_before: None,
        };
        assert!(!store.queue_job(&again, now()).unwrap());
        assert!(store.cancel_job("k1", now() + Duration::seconds(3)).unwrap());
        assert!(store.claim_job(now() + Duration::minutes(1)).unwrap().is_none());
        let actions: Vec<String> = store
            .audit_entries()
            .unwrap()
            .into_iter()
            .map(|a| a.action)
            .collect();
        assert_eq!(actions, vec!["outbox queued", "outbox cancelled"]);
    }

    #[test]
    fn a_job_running_at_a_crash_is_reconciled_before_anything_else() {
        let store = Store::open_in_memory().unwrap();
        queue(&store, "k1", None);
        store.claim_job(now()).unwrap().unwrap();
        // The process dies here. The next worker:
        assert_eq!(store.recover_running(now()).unwrap(), 1);
        let job = store.claim_job(now()).unwrap().unwrap();
        assert!(job.reconcile);
        assert_eq!(job.attempts, 2);
        store
            .finish_job(
                &job,
                &Finish::Done {
                    remote_id: "msg-1".into(),
                    reconciled: true,
                },
                now(),
            )
            .unwrap();
        assert_eq!(store.sends_since(now() - Duration::hours(1)).unwrap(), 1);
        assert_eq!(store.last_send_to("dana@acme.EXAMPLE").unwrap(), Some(now()));
        assert_eq!(store.last_send_to("someone@else.example").unwrap(), None);
    }

    #[test]
    fn retries_wait_and_parked_jobs_wait_for_the_operator() {
        let store = Store::open_in_memory().unwrap();
        queue(&store, "k1", None);
        let job = store.claim_job(now()).unwrap().unwrap();
        let later = now() + Duration::seconds(30);
        store
            .finish_job(
                &job,
                &Finish::Retry {
                    error: "offline".into(),
                    at: later,
                    uncertain: false,
                },
                now(),
            )
            .unwrap();
        assert!(store.claim_job(now() + Duration::seconds(29)).unwrap().is_none());
        let job = store.claim_job(later).unwrap().unwrap();
        assert!(!job.reconcile);
        store
            .finish_job(&job, &Finish::Parked("a reply arrived".into()), later)
            .unwrap();
        assert!(
            store.claim_job(later + Duration::hours(1)).unwrap().is_none(),
            "parked until confirmed"
        );
        assert!(store.requeue_job("k1", later).unwrap());
        assert!(store.claim_job(later).unwrap().is_some());
    }
}
