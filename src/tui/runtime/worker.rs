//! The screen's store work off the UI thread: a key's effect (a decision, an execution, an
//! undo…) is written, what it touched is re-detected and the screen's data is read back on a
//! thread of its own, with its own connection to the mirror. The UI thread draws the key's
//! effect at once (the app applies decisions to the screen before the store) and keeps
//! answering keys meanwhile; the answers arrive as [`Reply`]s.
//!
//! Jobs run one at a time, in the order the screen sent them, so decisions land in the order
//! they were taken. A read that an effect still waiting behind it would make stale is skipped
//! here, and dropped by the runtime when it arrives after the screen sent another effect
//! (see [`Worker::take`]). A key never works through a big pass (a first build, new weights):
//! it is left queued, and the reply asks for the background pass that does it.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::mpsc as std_mpsc;

use tokio::sync::mpsc;

use super::{NOT_CONNECTED, THREAD_TAIL, read_snapshot};
use crate::Clock;
use crate::actions;
use crate::config::Config;
use crate::domain::entities::Draft;
use crate::store::{Counts, Store};
use crate::today;
use crate::tui::app::{Action, Effect, Source, Want};

/// Work for the store thread.
enum Job {
    /// Apply an effect, then read what `Want` names (unless another effect waits).
    Effect(Effect, Want),
    /// Store an edited draft body, then read what `Want` names.
    SaveDraft {
        draft_id: String,
        body: String,
        want: Want,
    },
    /// Find the draft of a move for the editor (after everything sent before it).
    FindDraft(String),
    /// Read the detail contexts of these moves.
    Contexts(Vec<String>),
}

/// The draft to open in the editor, or what to say instead.
pub(super) enum ToEdit {
    /// Its current text.
    Draft(Draft),
    /// Nothing to edit: why, for the status line.
    Nothing(String),
}

/// What the store thread answers to one job.
#[derive(Default)]
pub(super) struct Reply {
    /// Actions for the app, in order.
    pub actions: Vec<Action>,
    /// The answer to an effect (or a saved draft); a contexts read or a draft lookup is not one.
    pub effect: bool,
    /// Units are left queued: a background pass should work through them.
    pub queued: bool,
    /// The draft for [`Job::FindDraft`].
    pub edit: Option<ToEdit>,
    /// The thread failed and stopped: why. Nothing sent after this is stored.
    pub fatal: Option<String>,
}

/// The store thread, as the UI thread sees it.
pub(super) struct Worker {
    jobs: Option<std_mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Effects sent and not yet answered.
    in_flight: usize,
    /// The mirror's counts of a whole read that was left out as stale: the next read that
    /// does not bring its own carries them.
    counts: Option<Counts>,
}

/// What the screen says when the store thread is gone.
const GONE: &str = "the store thread stopped unexpectedly (see casey.log); what was decided before was saved";

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
            counts: None,
        })
    }

    /// Hands an effect to the store thread; `Err` when the thread is gone.
    pub(super) fn effect(&mut self, effect: Effect, want: Want) -> Result<(), String> {
        self.send(Job::Effect(effect, want))?;
        self.in_flight += 1;
        Ok(())
    }

    /// Stores an edited draft body (an effect: a read follows).
    pub(super) fn save_draft(&mut self, draft_id: String, body: String, want: Want) -> Result<(), String> {
        self.send(Job::SaveDraft { draft_id, body, want })?;
        self.in_flight += 1;
        Ok(())
    }

    /// Asks for the draft of move `key`, to edit it once what was sent before has landed.
    pub(super) fn find_draft(&mut self, key: String) -> Result<(), String> {
        self.send(Job::FindDraft(key))
    }

    /// Asks for the detail contexts of `keys`.
    pub(super) fn contexts(&mut self, keys: Vec<String>) -> Result<(), String> {
        self.send(Job::Contexts(keys))
    }

    fn send(&self, job: Job) -> Result<(), String> {
        match &self.jobs {
            Some(j) if j.send(job).is_ok() => Ok(()),
            _ => Err(GONE.to_string()),
        }
    }

    /// The actions of a reply that the app should see: a read that predates an effect still
    /// on its way is left out (that effect's answer brings a newer one), keeping the mirror's
    /// counts it read for the next read.
    pub(super) fn take(&mut self, reply: &mut Reply) -> Vec<Action> {
        if reply.effect {
            self.in_flight = self.in_flight.saturating_sub(1);
        }
        let stale = self.in_flight > 0;
        let mut out = Vec::new();
        for action in std::mem::take(&mut reply.actions) {
            match action {
                Action::Loaded(s) if stale => {
                    if s.counts_read {
                        self.counts = Some(s.counts.clone());
                    }
                }
                Action::Loaded(mut s) => {
                    if let Some(kept) = self.counts.take()
                        && !s.counts_read
                    {
                        let pending = s.counts.outbox_pending;
                        s.counts = kept;
                        s.counts.outbox_pending = pending;
                        s.counts_read = true;
                    }
                    out.push(Action::Loaded(s));
                }
                other => out.push(other),
            }
        }
        out
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

/// The store thread's loop: jobs in order until the screen goes away, or a job fails so
/// badly (a panic) that the connection cannot be trusted.
fn serve(
    store: &mut Store,
    config: &Config,
    clock: &Clock,
    source: Source,
    rx: &std_mpsc::Receiver<Job>,
    tx: &mpsc::UnboundedSender<Reply>,
) {
    let mut waiting: VecDeque<Job> = VecDeque::new();
    // A whole read (the mirror's counts too) that was skipped: the next read is whole.
    let mut owe_whole = false;
    loop {
        let job = match waiting.pop_front() {
            Some(job) => job,
            None => match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        waiting.extend(rx.try_iter());
        // Another effect behind this one: its read will be the newer one.
        let read = !waiting
            .iter()
            .any(|j| matches!(j, Job::Effect(..) | Job::SaveDraft { .. }));
        let run = std::panic::AssertUnwindSafe(|| match job {
            Job::Effect(effect, want) => {
                let whole = effect == Effect::Refresh || owe_whole;
                owe_whole = whole && !read;
                let mut reply = Reply {
                    effect: true,
                    ..Reply::default()
                };
                reply.actions = perform(
                    store,
                    config,
                    clock,
                    source,
                    effect,
                    &want,
                    read,
                    whole,
                    &mut reply.queued,
                );
                reply
            }
            Job::SaveDraft { draft_id, body, want } => {
                let whole = owe_whole;
                owe_whole = whole && !read;
                let mut reply = Reply {
                    effect: true,
                    ..Reply::default()
                };
                let now = clock.now();
                reply
                    .actions
                    .push(match actions::save_draft_body(store, &draft_id, &body, now) {
                        Ok(()) => Action::Done("draft saved locally · y to approve".into()),
                        Err(e) => Action::Failed(format!("the draft was not saved: {e}")),
                    });
                if read {
                    reply
                        .actions
                        .extend(read_back(store, config, clock, &want, whole, &mut reply.queued));
                }
                reply
            }
            Job::FindDraft(key) => Reply {
                edit: Some(match find_draft(store, config, clock, &key) {
                    Ok(found) => found,
                    Err(e) => ToEdit::Nothing(e.to_string()),
                }),
                ..Reply::default()
            },
            Job::Contexts(keys) => Reply {
                actions: read_contexts(store, config, &keys),
                ..Reply::default()
            },
        });
        match std::panic::catch_unwind(run) {
            // The screen may be gone (quitting): what was given is still written.
            Ok(reply) => {
                let _ = tx.send(reply);
            }
            Err(_) => {
                tracing::error!("a store job panicked; the store thread stops");
                let _ = tx.send(Reply {
                    fatal: Some(GONE.into()),
                    ..Reply::default()
                });
                return;
            }
        }
    }
}

/// The clock a key's changes are settled at: the fixed one, or the ranking's own (re-timing
/// it to the wall clock is the background pass's job).
fn key_clock(store: &Store, clock: &Clock) -> crate::store::Result<chrono::DateTime<chrono::Utc>> {
    Ok(match clock {
        Clock::Fixed(at) => *at,
        Clock::System => today::ranked_at(store)?.unwrap_or_else(chrono::Utc::now),
    })
}

/// Settles what the effects changed (never a whole queued pass: `queued` says one is left)
/// and reads what `want` names.
fn read_back(
    store: &Store,
    config: &Config,
    clock: &Clock,
    want: &Want,
    whole: bool,
    queued: &mut bool,
) -> Vec<Action> {
    let mut read = || -> crate::store::Result<_> {
        let settled = today::settle_quickly(store, config, key_clock(store, clock)?)?;
        *queued |= settled.queued;
        read_snapshot(store, config, want, whole)
    };
    match read() {
        Ok(s) => vec![Action::Loaded(Box::new(s))],
        Err(e) => vec![Action::Failed(e.to_string())],
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

/// The draft of move `key` as stored now.
fn find_draft(store: &Store, config: &Config, clock: &Clock, key: &str) -> anyhow::Result<ToEdit> {
    today::settle_quickly(store, config, key_clock(store, clock)?)?;
    let Some(draft_id) = store
        .ranked_move(key, &config.aps)?
        .and_then(|m| m.subject.draft_id.clone())
    else {
        return Ok(ToEdit::Nothing("this move has no draft".into()));
    };
    Ok(match store.drafts()?.into_iter().find(|d| d.id == draft_id) {
        Some(d) => ToEdit::Draft(d),
        None => ToEdit::Nothing("the draft is gone from the mirror".into()),
    })
}

/// Applies `effect` and, when `read`, reads back what `want` names (the mirror's counts too
/// when `whole`).
#[allow(clippy::too_many_arguments)]
fn perform(
    store: &mut Store,
    config: &Config,
    clock: &Clock,
    source: Source,
    effect: Effect,
    want: &Want,
    read: bool,
    whole: bool,
    queued: &mut bool,
) -> Vec<Action> {
    let mut out = Vec::new();
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
        out.extend(read_back(store, config, clock, want, whole, queued));
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
            let m = find_move(store, config, clock, &key)?;
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
            let m = find_move(store, config, clock, &key)?;
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
fn find_move(
    store: &Store,
    config: &Config,
    clock: &Clock,
    key: &str,
) -> anyhow::Result<crate::domain::moves::Move> {
    today::settle_quickly(store, config, key_clock(store, clock)?)?;
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
    let m = find_move(store, config, clock, key)?;
    let writes = actions::writes_draft(&m);
    let said = actions::execute(store, config, &m, source == Source::Demo, now)?;
    Ok((writes || said.starts_with("already")).then_some(said))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::app::Snapshot;

    fn loaded(counts_read: bool, contacts: usize, outbox: usize) -> Action {
        Action::Loaded(Box::new(Snapshot {
            counts: Counts {
                contacts,
                outbox_pending: outbox,
                ..Counts::default()
            },
            counts_read,
            ..Snapshot::default()
        }))
    }

    fn worker(in_flight: usize) -> Worker {
        Worker {
            jobs: None,
            thread: None,
            in_flight,
            counts: None,
        }
    }

    #[test]
    fn a_read_older_than_an_effect_still_on_its_way_is_left_out_but_its_counts_are_kept() {
        let mut w = worker(2);
        let first = w.take(&mut Reply {
            actions: vec![Action::Done("accepted".into()), loaded(true, 58, 1)],
            effect: true,
            ..Reply::default()
        });
        assert!(
            matches!(first.as_slice(), [Action::Done(_)]),
            "the second effect's read is newer: {first:?}"
        );
        let contexts = w.take(&mut Reply {
            actions: vec![Action::Contexts(Default::default())],
            ..Reply::default()
        });
        assert_eq!(contexts.len(), 1, "contexts always count");
        let last = w.take(&mut Reply {
            actions: vec![loaded(false, 0, 2)],
            effect: true,
            ..Reply::default()
        });
        let [Action::Loaded(s)] = last.as_slice() else {
            panic!("{last:?}")
        };
        assert!(s.counts_read, "the left-out read's counts come along");
        assert_eq!((s.counts.contacts, s.counts.outbox_pending), (58, 2));
        assert_eq!(w.in_flight, 0);
        assert_eq!(w.counts, None);
    }

    #[test]
    fn a_thread_that_is_gone_is_said_not_ignored() {
        let mut w = worker(0);
        assert_eq!(w.effect(Effect::Refresh, Want::default()), Err(GONE.to_string()));
        assert_eq!(w.in_flight, 0);
        assert!(w.contexts(vec!["k".into()]).is_err());
    }
}
