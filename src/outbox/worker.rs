//! The outbox worker: takes one due job at a time and brings it to an end, never doing an
//! effect twice.
//!
//! For each job:
//! 1. It is claimed (`running`) in the mirror before anything leaves the machine.
//! 2. If its effect may already have happened (the worker stopped while it was `running`, or
//!    the remote side gave an unclear answer), the remote side is asked first ("is a message
//!    with our Message-ID in Sent?", "does a task with our marker exist?"). Found: done.
//! 3. The world is checked against what the operator approved (a new reply in the thread, a
//!    deal that moved): changed jobs are parked for the operator to confirm again.
//! 4. The effect is applied once. Offline: the job waits and is tried again later. An unclear
//!    answer: the job becomes `uncertain` and step 2 runs next time — never a blind retry.

use chrono::{DateTime, Duration, Utc};

use super::safety::{Refusal, SendCheck, check_send};
use crate::config::Safety;
use crate::store::{Finish, Job, Store, StoreError};

/// How a remote operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteError {
    /// Not reached (no network, service down, rate-limited): nothing happened; try later.
    Offline(String),
    /// The request may have been applied (timeout, 5xx after sending): reconcile first.
    Uncertain(String),
    /// Refused for good (validation, permissions, a safety rule).
    Refused(String),
}

/// What the world looks like compared with the approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum World {
    /// As approved: go ahead.
    Unchanged,
    /// Something moved (said in the operator's words): ask again.
    Changed(String),
}

/// The services a job acts on (Gmail, HubSpot; a fake in tests).
pub trait Remote {
    /// Whether the job's effect already happened; its remote id if so.
    fn find(
        &self,
        job: &Job,
    ) -> impl std::future::Future<Output = Result<Option<String>, RemoteError>> + Send;
    /// Whether the world still looks as it did when the job was approved.
    fn check(&self, job: &Job) -> impl std::future::Future<Output = Result<World, RemoteError>> + Send;
    /// Does the effect; the remote id of the result.
    fn apply(&self, job: &Job) -> impl std::future::Future<Output = Result<String, RemoteError>> + Send;
    /// How long after an unclear answer [`Remote::find`] can be trusted to see the effect
    /// (a search index catching up); until then "not found" means "ask again later".
    fn settle(&self, _job: &Job) -> Duration {
        Duration::zero()
    }
}

/// What one step did, for progress lines and tests.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The job's idempotency key.
    pub key: String,
    /// How it ended this time.
    pub finish: Finish,
}

/// Waiting time before attempt `attempts + 1`: 5 s, doubling, at most 5 minutes.
pub fn retry_delay(attempts: u32) -> Duration {
    let secs = 5i64.saturating_mul(1i64 << attempts.saturating_sub(1).min(6));
    Duration::seconds(secs.min(300))
}

fn retry(error: String, attempts: u32, uncertain: bool, now: DateTime<Utc>) -> Finish {
    Finish::Retry {
        error,
        at: now + retry_delay(attempts),
        uncertain,
    }
}

/// The send rules for a claimed send (draft-only, suppression, daily cap, cooldown), from
/// what the mirror knows; other actions pass.
fn send_rules(
    store: &Store,
    job: &Job,
    rules: &Safety,
    now: DateTime<Utc>,
) -> Result<Result<(), Refusal>, StoreError> {
    if job.action != "gmail.draft.send" {
        return Ok(Ok(()));
    }
    let to: Vec<String> = job
        .payload
        .get("to")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_str()).map(str::to_string).collect())
        .unwrap_or_default();
    let day = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|d| d.and_utc())
        .unwrap_or(now);
    // The count includes this job, which is running.
    let sent_today = store.sends_since(day)?.saturating_sub(1);
    let mut last = std::collections::HashMap::new();
    for r in &to {
        last.insert(r.clone(), store.last_send_to(r)?);
    }
    let check = SendCheck {
        recipients: &to,
        // Replies after the approval are the remote check's business (it parks the job).
        draft_written_at: now,
        last_inbound_at: None,
        sent_today,
    };
    Ok(check_send(rules, &check, |r| last.get(r).copied().flatten(), now))
}

/// Runs the next due job, if any, to its end for now.
pub async fn step<R: Remote>(
    store: &Store,
    remote: &R,
    rules: &Safety,
    now: DateTime<Utc>,
) -> Result<Option<Step>, StoreError> {
    let Some(job) = store.claim_job(now)? else {
        return Ok(None);
    };
    let allowed = send_rules(store, &job, rules, now)?;
    let before = prerequisite(store, &job)?;
    let finish = run(&job, remote, allowed, before, now).await;
    store.finish_job(&job, &finish, now)?;
    tracing::info!(key = job.idempotency_key, action = job.action, outcome = ?finish, "outbox step");
    Ok(Some(Step {
        key: job.idempotency_key,
        finish,
    }))
}

/// Where the job a job waits for (`after` in its payload: the draft's creation or update in
/// Gmail before its send) stands.
#[derive(Debug, Clone, PartialEq)]
enum Before {
    /// Nothing to wait for, or it is done.
    Ready,
    /// Still to run: wait.
    Waiting(String),
    /// It ended without its effect: this job cannot run as approved.
    Broken(String),
}

fn prerequisite(store: &Store, job: &Job) -> Result<Before, StoreError> {
    let Some(after) = job.payload.get("after").and_then(|v| v.as_str()) else {
        return Ok(Before::Ready);
    };
    Ok(match store.job_state(after)? {
        Some((state, _)) if state == "done" => Before::Ready,
        Some((state, error)) if state == "failed" || state == "cancelled" => Before::Broken(format!(
            "the draft could not be written to Gmail first ({state}{}); nothing was sent",
            error.map(|e| format!(": {e}")).unwrap_or_default()
        )),
        Some((state, _)) => Before::Waiting(format!("waiting for the draft to reach Gmail first ({state})")),
        None => Before::Broken("the step it waits for is missing from the outbox; nothing was sent".into()),
    })
}

async fn run<R: Remote>(
    job: &Job,
    remote: &R,
    allowed: Result<(), Refusal>,
    before: Before,
    now: DateTime<Utc>,
) -> Finish {
    if job.reconcile {
        match remote.find(job).await {
            Ok(Some(remote_id)) => {
                return Finish::Done {
                    remote_id,
                    reconciled: true,
                };
            }
            Ok(None) => {
                let settle = remote.settle(job);
                if let Some(since) = job.uncertain_since
                    && now - since < settle
                {
                    return Finish::Retry {
                        error: format!(
                            "not found yet; the service's search needs up to {} s to see it, checking again then",
                            settle.num_seconds()
                        ),
                        at: since + settle,
                        uncertain: true,
                    };
                }
            }
            // Still cannot tell: stay uncertain, never act blind.
            Err(RemoteError::Offline(e) | RemoteError::Uncertain(e) | RemoteError::Refused(e)) => {
                return retry(
                    format!("cannot check whether it was done yet: {e}"),
                    job.attempts,
                    true,
                    now,
                );
            }
        }
    }
    // Checked after reconciling: a send that already happened is recorded whatever the rules
    // say now; one that did not is held to them.
    if let Err(refusal) = allowed {
        return Finish::Failed(refusal.to_string());
    }
    match before {
        Before::Ready => {}
        // Not a failure of this job: look again soon, without backing off.
        Before::Waiting(why) => return retry(why, 1, false, now),
        Before::Broken(why) => return Finish::Failed(why),
    }
    match remote.check(job).await {
        Ok(World::Unchanged) => {}
        Ok(World::Changed(why)) => return Finish::Parked(why),
        Err(RemoteError::Offline(e) | RemoteError::Uncertain(e)) => {
            return retry(
                format!("waiting to reach the service: {e}"),
                job.attempts,
                false,
                now,
            );
        }
        Err(RemoteError::Refused(e)) => return Finish::Failed(e),
    }
    match remote.apply(job).await {
        Ok(remote_id) => Finish::Done {
            remote_id,
            reconciled: false,
        },
        Err(RemoteError::Offline(e)) => retry(
            format!("waiting to reach the service: {e}"),
            job.attempts,
            false,
            now,
        ),
        Err(RemoteError::Uncertain(e)) => retry(
            format!("no clear answer ({e}); checking before trying again"),
            job.attempts,
            true,
            now,
        ),
        Err(RemoteError::Refused(e)) => Finish::Failed(e),
    }
}

/// Runs every job that is due now, after recovering jobs a previous worker left running.
pub async fn drain<R: Remote>(
    store: &Store,
    remote: &R,
    rules: &Safety,
    now: DateTime<Utc>,
) -> Result<Vec<Step>, StoreError> {
    store.recover_running(now)?;
    let mut steps = Vec::new();
    while let Some(s) = step(store, remote, rules, now).await? {
        steps.push(s);
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewJob;
    use chrono::TimeZone;
    use serde_json::json;
    use std::collections::{HashMap, VecDeque};
    use std::sync::Mutex;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, 15, 0, 0).unwrap()
    }

    fn rules() -> Safety {
        crate::config::Config::default().safety
    }

    /// A remote side with scripted answers and a record of what it did.
    #[derive(Default)]
    struct Fake {
        applied: Mutex<HashMap<String, String>>,
        apply_answers: Mutex<VecDeque<Result<(), RemoteError>>>,
        world: Mutex<Option<String>>,
        calls: Mutex<Vec<String>>,
        /// The remote's search does not see applied jobs yet, and needs this long to.
        search_lag: Mutex<Option<Duration>>,
    }

    impl Fake {
        fn log(&self, what: &str, job: &Job) {
            self.calls
                .lock()
                .unwrap()
                .push(format!("{what} {}", job.idempotency_key));
        }
    }

    impl Remote for Fake {
        async fn find(&self, job: &Job) -> Result<Option<String>, RemoteError> {
            self.log("find", job);
            if self.search_lag.lock().unwrap().is_some() {
                return Ok(None);
            }
            Ok(self.applied.lock().unwrap().get(&job.idempotency_key).cloned())
        }
        fn settle(&self, _job: &Job) -> Duration {
            self.search_lag.lock().unwrap().unwrap_or_else(Duration::zero)
        }
        async fn check(&self, job: &Job) -> Result<World, RemoteError> {
            self.log("check", job);
            Ok(match self.world.lock().unwrap().clone() {
                Some(why) => World::Changed(why),
                None => World::Unchanged,
            })
        }
        async fn apply(&self, job: &Job) -> Result<String, RemoteError> {
            self.log("apply", job);
            let answer = self.apply_answers.lock().unwrap().pop_front().unwrap_or(Ok(()));
            match answer {
                // Applied, whatever the client heard.
                Ok(()) | Err(RemoteError::Uncertain(_)) => {
                    let id = format!("r-{}", job.idempotency_key);
                    self.applied
                        .lock()
                        .unwrap()
                        .insert(job.idempotency_key.clone(), id.clone());
                    answer.map(|()| id)
                }
                Err(e) => Err(e),
            }
        }
    }

    fn queue(store: &Store, key: &str) {
        let payload = json!({});
        store
            .queue_job(
                &NewJob {
                    idempotency_key: key,
                    move_key: None,
                    action: "hubspot.task.create",
                    payload: &payload,
                    not_before: None,
                },
                now(),
            )
            .unwrap();
    }

    fn state(store: &Store, key: &str) -> String {
        store
            .outbox(100)
            .unwrap()
            .into_iter()
            .find(|e| e.idempotency_key == key)
            .unwrap()
            .state
    }

    #[tokio::test]
    async fn a_job_is_checked_then_applied_once() {
        let store = Store::open_in_memory().unwrap();
        let fake = Fake::default();
        queue(&store, "a");
        let steps = drain(&store, &fake, &rules(), now()).await.unwrap();
        assert_eq!(steps.len(), 1);
        assert_eq!(*fake.calls.lock().unwrap(), vec!["check a", "apply a"]);
        assert_eq!(state(&store, "a"), "done");
    }

    #[tokio::test]
    async fn an_unclear_answer_is_reconciled_not_retried() {
        let store = Store::open_in_memory().unwrap();
        let fake = Fake::default();
        fake.apply_answers
            .lock()
            .unwrap()
            .push_back(Err(RemoteError::Uncertain("timeout".into())));
        queue(&store, "a");
        drain(&store, &fake, &rules(), now()).await.unwrap();
        assert_eq!(state(&store, "a"), "uncertain");
        let later = now() + Duration::minutes(1);
        drain(&store, &fake, &rules(), later).await.unwrap();
        assert_eq!(state(&store, "a"), "done");
        assert_eq!(
            *fake.calls.lock().unwrap(),
            vec!["check a", "apply a", "find a"],
            "found, not applied again"
        );
    }

    #[tokio::test]
    async fn not_found_is_trusted_only_once_the_search_had_time_to_see_it() {
        let store = Store::open_in_memory().unwrap();
        let fake = Fake::default();
        *fake.search_lag.lock().unwrap() = Some(Duration::seconds(60));
        fake.apply_answers
            .lock()
            .unwrap()
            .push_back(Err(RemoteError::Uncertain("timeout".into())));
        queue(&store, "a");
        drain(&store, &fake, &rules(), now()).await.unwrap();
        let early = now() + retry_delay(1);
        let steps = drain(&store, &fake, &rules(), early).await.unwrap();
        assert!(
            matches!(&steps[0].finish, Finish::Retry { uncertain: true, at, .. } if *at == now() + Duration::seconds(60)),
            "{steps:?}"
        );
        assert_eq!(state(&store, "a"), "uncertain");
        assert!(
            drain(&store, &fake, &rules(), now() + Duration::seconds(59))
                .await
                .unwrap()
                .is_empty()
        );
        // The search caught up: found, and never applied a second time.
        *fake.search_lag.lock().unwrap() = None;
        drain(&store, &fake, &rules(), now() + Duration::seconds(60))
            .await
            .unwrap();
        assert_eq!(state(&store, "a"), "done");
        assert_eq!(
            *fake.calls.lock().unwrap(),
            vec!["check a", "apply a", "find a", "find a"],
        );
    }

    #[tokio::test]
    async fn offline_jobs_wait_and_go_out_once_when_back() {
        let store = Store::open_in_memory().unwrap();
        let fake = Fake::default();
        fake.apply_answers
            .lock()
            .unwrap()
            .push_back(Err(RemoteError::Offline("no network".into())));
        queue(&store, "a");
        drain(&store, &fake, &rules(), now()).await.unwrap();
        assert_eq!(state(&store, "a"), "queued");
        assert!(
            drain(&store, &fake, &rules(), now() + Duration::seconds(1))
                .await
                .unwrap()
                .is_empty(),
            "not yet"
        );
        drain(&store, &fake, &rules(), now() + retry_delay(1))
            .await
            .unwrap();
        assert_eq!(state(&store, "a"), "done");
        assert_eq!(fake.applied.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_changed_world_parks_the_job() {
        let store = Store::open_in_memory().unwrap();
        let fake = Fake::default();
        *fake.world.lock().unwrap() = Some("Dana replied after you approved".into());
        queue(&store, "a");
        drain(&store, &fake, &rules(), now()).await.unwrap();
        assert_eq!(state(&store, "a"), "parked");
        assert!(fake.applied.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_worker_stopped_mid_job_leaves_it_to_be_found_not_redone() {
        let store = Store::open_in_memory().unwrap();
        let fake = Fake::default();
        queue(&store, "a");
        // The first worker claims and applies, then dies before recording it.
        let job = store.claim_job(now()).unwrap().unwrap();
        fake.apply(&job).await.unwrap();
        drain(&store, &fake, &rules(), now()).await.unwrap();
        assert_eq!(state(&store, "a"), "done");
        assert_eq!(fake.applied.lock().unwrap().len(), 1);
        assert_eq!(fake.calls.lock().unwrap().last().unwrap(), "find a");
    }

    #[test]
    fn retries_back_off_to_five_minutes() {
        assert_eq!(retry_delay(1), Duration::seconds(5));
        assert_eq!(retry_delay(2), Duration::seconds(10));
        assert_eq!(retry_delay(30), Duration::seconds(300));
    }
}
