//! The screen's store work off the UI thread: a key's effect (a decision, an execution, an
//! undo…) is written, what it touched is re-detected and the screen's data is read back on a
//! thread of its own, with its own connection to the mirror. The UI thread draws the key's
//! effect at once (the app applies decisions to the screen before the store) and keeps
//! answering keys meanwhile; the answers arrive as [`Reply`]s.
//!
//! Jobs run one at a time, in the order the screen sent them, so decisions land in the order
//! they were taken. A read that an effect still waiting behind it would make stale is skipped
//! here, and dropped by the runtime when it arrives after the screen sent another effect
//! (see [`Worker::take`]).

use std::collections::VecDeque;
use std::path::Path;
use std::sync::mpsc as std_mpsc;

use tokio::sync::mpsc;

use super::{NOT_CONNECTED, THREAD_TAIL, settled_snapshot};
use crate::Clock;
use crate::actions;
use crate::config::Config;
use crate::store::Store;
use crate::today;
use crate::tui::app::{Action, Effect, Source, Want};

/// Work for the store thread.
enum Job {
    /// Apply an effect, then read what `Want` names (unless another effect waits).
    Effect(Effect, Want),
    /// Read the detail contexts of these moves.
    Contexts(Vec<String>),
}

/// What the store thread answers to one job.
pub(super) struct Reply {
    /// Actions for the app, in order.
    pub actions: Vec<Action>,
    /// The answer to an [`Effect`] job (a contexts read is not one).
    pub effect: bool,
}

/// The store thread, as the UI thread sees it.
pub(super) struct Worker {
    jobs: Option<std_mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Effects sent and not yet answered.
    in_flight: usize,
}

impl Worker {
    /// Starts the thread on its own connection to the mirror at `path`; replies go to `tx`.
    pub(super) fn start(
        path: &Path,
        config: &Config,
        clock: Clock,
        source: Source,
        tx: mpsc::UnboundedSender<Reply>,
    ) -> crate::store::Result<Worker> {
        let mut store = Store::open(path)?;
        // As for the screen's own connection: the log is copied back by background passes.
        store.leave_checkpoints_to_others()?;
        let (jobs, rx) = std_mpsc::channel();
        let config = config.clone();
        let thread = std::thread::Builder::new()
            .name("casey-store".into())
            .spawn(move || serve(&mut store, &config, &clock, source, &rx, &tx))
            .map_err(|e| crate::store::StoreError::Io {
                path: path.to_path_buf(),
                source: e,
            })?;
        Ok(Worker {
            jobs: Some(jobs),
            thread: Some(thread),
            in_flight: 0,
        })
    }

    /// Hands an effect to the store thread.
    pub(super) fn effect(&mut self, effect: Effect, want: Want) {
        if self.send(Job::Effect(effect, want)) {
            self.in_flight += 1;
        }
    }

    /// Asks for the detail contexts of `keys`.
    pub(super) fn contexts(&mut self, keys: Vec<String>) {
        self.send(Job::Contexts(keys));
    }

    fn send(&self, job: Job) -> bool {
        self.jobs.as_ref().is_some_and(|j| j.send(job).is_ok())
    }

    /// The actions of a reply that the app should see: a read that predates an effect still
    /// on its way is left out (that effect's answer brings a newer one).
    pub(super) fn take(&mut self, reply: Reply) -> Vec<Action> {
        if reply.effect {
            self.in_flight = self.in_flight.saturating_sub(1);
        }
        let stale = self.in_flight > 0;
        reply
            .actions
            .into_iter()
            .filter(|a| !(stale && matches!(a, Action::Loaded(_))))
            .collect()
    }
}

impl Drop for Worker {
    /// Lets the thread finish what it was given (a decision taken just before quitting is
    /// written), then waits for it.
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the store thread stopped unexpectedly");
        }
    }
}

/// The store thread's loop: jobs in order until the screen goes away.
fn serve(
    store: &mut Store,
    config: &Config,
    clock: &Clock,
    source: Source,
    rx: &std_mpsc::Receiver<Job>,
    tx: &mpsc::UnboundedSender<Reply>,
) {
    let mut waiting: VecDeque<Job> = VecDeque::new();
    loop {
        let job = match waiting.pop_front() {
            Some(job) => job,
            None => match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        waiting.extend(rx.try_iter());
        let reply = match job {
            Job::Effect(effect, want) => {
                // Another effect behind this one: its read will be the newer one.
                let read = !waiting.iter().any(|j| matches!(j, Job::Effect(..)));
                Reply {
                    actions: perform(store, config, clock, source, effect, &want, read),
                    effect: true,
                }
            }
            Job::Contexts(keys) => Reply {
                actions: read_contexts(store, config, &keys),
                effect: false,
            },
        };
        // The screen may be gone (quitting): what was given is still written.
        let _ = tx.send(reply);
    }
}

/// The detail contexts of `keys` (moves in the window of the stored ranking).
fn read_contexts(store: &Store, config: &Config, keys: &[String]) -> Vec<Action> {
    let mut found = Vec::new();
    for k in keys {
        match store.ranked_move(k, &config.aps) {
            Ok(Some(m)) => found.push(m),
            Ok(None) => {}
            Err(e) => return vec![Action::Failed(e.to_string())],
        }
    }
    match today::contexts(store, &found, THREAD_TAIL) {
        Ok(map) => vec![Action::Contexts(map)],
        Err(e) => vec![Action::Failed(e.to_string())],
    }
}

/// Applies `effect` and, when `read`, reads back what `want` names.
fn perform(
    store: &mut Store,
    config: &Config,
    clock: &Clock,
    source: Source,
    effect: Effect,
    want: &Want,
    read: bool,
) -> Vec<Action> {
    let mut out = Vec::new();
    // A re-read after a background pass or a sync brings the mirror's counts too.
    let whole = effect == Effect::Refresh;
    let result = match effect {
        Effect::Execute { key, .. } => match execute(store, config, clock, source, &key) {
            Ok(said) => Ok(said),
            Err(e) => {
                // A rule said no (stale draft, daily cap…) unless the mirror itself failed.
                let refusal = !matches!(
                    e.downcast_ref::<actions::ActionError>(),
                    Some(actions::ActionError::Store(_)) | None
                );
                out.push(Action::ExecuteFailed {
                    key,
                    reason: e.to_string(),
                    refusal,
                });
                Ok(None)
            }
        },
        other => apply(store, config, clock, source, other),
    };
    match result {
        Ok(Some(msg)) => out.push(Action::Done(msg)),
        Ok(None) => {}
        Err(e) => out.push(Action::Failed(e.to_string())),
    }
    // (Skipped, the next effect's read settles what this one changed.)
    if read {
        match settled_snapshot(store, config, clock, want, whole) {
            Ok(s) => out.push(Action::Loaded(Box::new(s))),
            Err(e) => out.push(Action::Failed(e.to_string())),
        }
    }
    out
}

/// Performs the store-side effects (everything but editing, quitting and what the UI thread
/// starts itself).
fn apply(
    store: &mut Store,
    config: &Config,
    clock: &Clock,
    source: Source,
    effect: Effect,
) -> anyhow::Result<Option<String>> {
    let now = clock.now();
    match effect {
        Effect::Decide { key, state } => {
            actions::decide(store, &key, &state, now)?;
            Ok(None)
        }
        // `perform` reports a failed execution as `ExecuteFailed`; this is the plain path.
        Effect::Execute { key, .. } => execute(store, config, clock, source, &key),
        Effect::RetryJob { idempotency_key } => {
            if !store.requeue_job(&idempotency_key, now)? {
                return Err(anyhow::anyhow!(
                    "nothing changed: that entry is no longer parked or failed"
                ));
            }
            Ok(None)
        }
        Effect::DiscardJob { idempotency_key } => {
            if !store.cancel_job(&idempotency_key, now)? {
                return Err(anyhow::anyhow!(
                    "nothing changed: that entry has started or ended; only waiting or parked entries can be discarded"
                ));
            }
            Ok(None)
        }
        Effect::WriteDraft { key } => {
            let m = find_move(store, config, &key)?;
            if !actions::writes_draft(&m) {
                // The screen was older than the mirror: never approve what was not seen.
                return Err(anyhow::anyhow!(
                    "a draft arrived for this move meanwhile; nothing was written — read it, then y approves it"
                ));
            }
            actions::write_draft(store, config, &m, now)?;
            Ok(Some(
                "draft written from the template, on this machine only · e to edit · y to approve".into(),
            ))
        }
        Effect::DiscardDraft { key } => {
            let m = find_move(store, config, &key)?;
            Ok(Some(actions::discard_draft(
                store,
                config,
                &m,
                source == Source::Demo,
                now,
            )?))
        }
        Effect::Undo { key } => Ok(actions::undo(store, Some(&key), now)?.map(|u| u.message)),
        // Reached only when there is nothing to sync with (a syncer takes it otherwise).
        Effect::Sync => Ok(Some(match source {
            Source::Demo => "demo data is bundled with casey: there is nothing to sync".to_string(),
            Source::Live => return Err(anyhow::anyhow!(NOT_CONNECTED)),
        })),
        // A re-read only (it follows every effect). Editing, quitting, background passes,
        // Stats and worker runs are started by the UI thread, never here.
        Effect::Reload
        | Effect::Refresh
        | Effect::LoadStats
        | Effect::EditDraft { .. }
        | Effect::RunOutbox
        | Effect::Quit => Ok(None),
    }
}

/// The move `key` as the stored ranking has it once pending changes are settled.
pub(super) fn find_move(
    store: &Store,
    config: &Config,
    key: &str,
) -> anyhow::Result<crate::domain::moves::Move> {
    today::settle_changes(store, config)?;
    store
        .ranked_move(key, &config.aps)?
        .ok_or_else(|| anyhow::anyhow!("that move is gone after the last refresh; nothing was done"))
}

/// Executes a move (simulated in the demo); what to say when the app's own message does not
/// fit: a draft written from the template, or nothing to write.
fn execute(
    store: &Store,
    config: &Config,
    clock: &Clock,
    source: Source,
    key: &str,
) -> anyhow::Result<Option<String>> {
    let now = clock.now();
    let m = find_move(store, config, key)?;
    let writes = actions::writes_draft(&m);
    let said = actions::execute(store, config, &m, source == Source::Demo, now)?;
    Ok((writes || said.starts_with("already")).then_some(said))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded() -> Action {
        Action::Loaded(Box::default())
    }

    #[test]
    fn a_read_older_than_an_effect_still_on_its_way_is_left_out() {
        let mut w = Worker {
            jobs: None,
            thread: None,
            in_flight: 2,
        };
        let first = w.take(Reply {
            actions: vec![Action::Done("accepted".into()), loaded()],
            effect: true,
        });
        assert!(
            matches!(first.as_slice(), [Action::Done(_)]),
            "the second effect's read is newer: {first:?}"
        );
        let contexts = w.take(Reply {
            actions: vec![Action::Contexts(Default::default())],
            effect: false,
        });
        assert_eq!(contexts.len(), 1, "contexts always count");
        let last = w.take(Reply {
            actions: vec![loaded()],
            effect: true,
        });
        assert!(matches!(last.as_slice(), [Action::Loaded(_)]), "{last:?}");
        assert_eq!(w.in_flight, 0);
    }
}
