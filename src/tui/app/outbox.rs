//! The outbox as the operator sees it from the TUI: background worker runs, the send
//! countdown in the undo window, and confirming again or discarding entries. Part of [`App`]'s
//! state machine; no I/O.

use chrono::{DateTime, Utc};

use super::{App, Effect, Level, Source, View};
use crate::domain::moves::MoveState;
use crate::domain::text::sanitize_line;
use crate::store::OutboxEntry;
use crate::tui::strings;

/// The outbox action of a real send (the one with an undo window).
pub const SEND_ACTION: &str = "gmail.draft.send";

/// Whether the worker would take the entry now: waiting (or to be checked), past its undo
/// window and its retry time.
pub fn is_due(e: &OutboxEntry, now: DateTime<Utc>) -> bool {
    !e.demo
        && matches!(e.state.as_str(), "queued" | "uncertain")
        && e.not_before.is_none_or(|t| t <= now)
        && e.next_attempt_at.is_none_or(|t| t <= now)
}

/// The recipients of a send entry, from its payload, sanitized and joined (`a@x, b@y`).
pub fn recipients(e: &OutboxEntry) -> String {
    let payload: serde_json::Value = serde_json::from_str(&e.payload).unwrap_or_default();
    payload
        .get("to")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str())
                .map(sanitize_line)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// Whole seconds from `now` until `at`, rounded up (a countdown never shows 0 while waiting).
fn seconds_until(at: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    let ms = (at - now).num_milliseconds().max(0);
    (ms + 999) / 1000
}

impl App {
    /// The selected outbox entry, in the Outbox view.
    pub fn selected_entry(&self) -> Option<&OutboxEntry> {
        if self.view != View::Outbox {
            return None;
        }
        self.data.outbox.get(self.selected)
    }

    /// Entries waiting for the network (queued or to be checked, with the error that held them)
    /// and entries parked for the operator to confirm again, for the header.
    pub fn outbox_attention(&self) -> (usize, usize) {
        let live = || self.data.outbox.iter().filter(|e| !e.demo);
        let waiting = live()
            .filter(|e| matches!(e.state.as_str(), "queued" | "uncertain") && e.error.is_some())
            .count();
        let parked = live().filter(|e| e.state == "parked").count();
        (waiting, parked)
    }

    /// The newest live send entry of a move.
    fn send_entry(&self, key: &str) -> Option<&OutboxEntry> {
        // The outbox is newest first.
        self.data
            .outbox
            .iter()
            .find(|e| !e.demo && e.action == SEND_ACTION && e.move_key.as_deref() == Some(key))
    }

    /// Whether a background run should start now: live, an account connected, none running,
    /// and an entry due.
    pub(super) fn outbox_due(&self) -> bool {
        self.source == Source::Live
            && self.sync.available
            && !self.outbox_running
            && self.data.outbox.iter().any(|e| is_due(e, self.now))
    }

    /// Asks for a background outbox run (live, with an account, none under way).
    pub(super) fn start_outbox_run(&mut self) -> Vec<Effect> {
        if self.source != Source::Live || !self.sync.available || self.outbox_running {
            return vec![];
        }
        self.outbox_running = true;
        vec![Effect::RunOutbox]
    }

    /// A background run ended: say what it did (if anything) and show where the entries are.
    pub(super) fn outbox_finished(&mut self, result: Result<String, String>) -> Vec<Effect> {
        self.outbox_running = false;
        match result {
            Ok(summary) if summary.is_empty() => {}
            Ok(summary) => self.info(format!("outbox: {summary}")),
            Err(why) => self.status = Some((Level::Error, format!("outbox: {why}"))),
        }
        // Entries moved on (or a run found nothing): the mirror says where they are now.
        vec![Effect::Reload]
    }

    /// Takes back the optimistic execution of `key`: its undo entry and its countdown.
    pub(super) fn execute_failed(&mut self, key: &str, reason: String, refusal: bool) -> Vec<Effect> {
        if let Some(pos) = self.undo.iter().rposition(|u| u.key == key && u.executed) {
            self.undo.remove(pos);
        }
        if self.watched_send.as_deref() == Some(key) {
            self.watched_send = None;
        }
        let level = if refusal { Level::Warn } else { Level::Error };
        self.status = Some((level, format!("not executed: {reason}")));
        // The reload that follows every effect shows the move as it is in the mirror.
        vec![]
    }

    /// Starts watching a send that was just queued: the status line counts its undo window down.
    pub(super) fn watch_send(&mut self, key: &str) {
        self.watched_send = Some(key.to_string());
    }

    /// The status line for the watched send: the countdown in its undo window, "sending…" once
    /// it is due, then how it ended.
    pub(super) fn show_send_progress(&mut self) {
        let Some(key) = self.watched_send.clone() else {
            return;
        };
        // Not in the mirror yet (the execution is being written): keep the current line.
        let Some(e) = self.send_entry(&key) else {
            return;
        };
        let to = recipients(e);
        let to_part = if to.is_empty() {
            String::new()
        } else {
            format!(" to {to}")
        };
        let error = e.error.as_deref().map(sanitize_line);
        let (line, done) = match (e.state.as_str(), e.not_before, error) {
            ("queued", Some(at), None) if at > self.now => (
                (
                    Level::Info,
                    format!(
                        "sending{to_part} in {} s · u cancels",
                        seconds_until(at, self.now)
                    ),
                ),
                false,
            ),
            ("queued" | "uncertain", _, Some(why)) => (
                (
                    Level::Warn,
                    format!("send{to_part} waits: {why} · {}", strings::SEND_WAITS),
                ),
                true,
            ),
            ("queued" | "running" | "uncertain", _, _) => ((Level::Info, "sending…".to_string()), false),
            ("done", _, _) => ((Level::Info, format!("sent{to_part}")), true),
            ("parked" | "failed", _, why) => (
                (
                    Level::Warn,
                    format!(
                        "send{to_part} held: {} · {}",
                        why.unwrap_or_default(),
                        strings::SEND_HELD
                    ),
                ),
                true,
            ),
            // Cancelled: `u` already said so.
            _ => {
                self.watched_send = None;
                return;
            }
        };
        self.status = Some(line);
        if done {
            self.watched_send = None;
        }
    }

    /// `u` on an execution whose send has left its undo window: why nothing is taken back.
    /// `None` when the undo may go ahead (no send, or still in its window).
    pub(super) fn too_late_to_undo(&self, key: &str) -> Option<String> {
        let e = self.send_entry(key)?;
        let in_window = e.state == "queued" && e.not_before.is_some_and(|t| t > self.now);
        if in_window {
            return None;
        }
        match e.state.as_str() {
            "done" => Some(strings::TOO_LATE_SENT.to_string()),
            "running" | "uncertain" => Some(strings::TOO_LATE_SENDING.to_string()),
            "queued" => Some(strings::TOO_LATE_WAITING.to_string()),
            // Parked, failed or cancelled: nothing is on its way; the undo goes ahead.
            _ => None,
        }
    }

    /// Whether the last undo entry is a send still in its undo window.
    pub(super) fn cancels_a_send(&self, key: &str) -> bool {
        self.send_entry(key)
            .is_some_and(|e| e.state == "queued" && e.not_before.is_some_and(|t| t > self.now))
    }

    /// `x` / `y` in the Outbox view: confirm a parked or failed entry again.
    pub(super) fn retry_selected(&mut self) -> Vec<Effect> {
        let Some(e) = self.selected_entry() else {
            self.warn(strings::NO_ENTRY_SELECTED);
            return vec![];
        };
        if e.demo {
            self.warn(strings::DEMO_ENTRY);
            return vec![];
        }
        if !matches!(e.state.as_str(), "parked" | "failed") {
            let msg = format!(
                "only parked or failed entries can be retried (this one is {})",
                e.state
            );
            self.warn(msg);
            return vec![];
        }
        let idempotency_key = e.idempotency_key.clone();
        self.info(strings::CONFIRMED_AGAIN);
        let mut effects = vec![Effect::RetryJob { idempotency_key }];
        effects.extend(self.start_outbox_run());
        effects
    }

    /// `s` in the Outbox view: discard an entry that has not started.
    pub(super) fn discard_selected(&mut self) -> Vec<Effect> {
        let Some(e) = self.selected_entry() else {
            self.warn(strings::NO_ENTRY_SELECTED);
            return vec![];
        };
        if e.demo {
            self.warn(strings::DEMO_ENTRY);
            return vec![];
        }
        let refusal = match e.state.as_str() {
            "queued" | "parked" => None,
            "running" => Some("a running entry cannot be discarded".to_string()),
            "uncertain" => {
                Some("an entry being checked cannot be discarded: it may already have happened".to_string())
            }
            other => Some(format!(
                "only waiting or parked entries can be discarded (this one is {other})"
            )),
        };
        if let Some(why) = refusal {
            self.warn(why);
            return vec![];
        }
        let idempotency_key = e.idempotency_key.clone();
        self.info(strings::DISCARDED);
        vec![Effect::DiscardJob { idempotency_key }]
    }

    /// `s` in the Drafts view: discard the selected move's draft (undoable with `u`).
    pub(super) fn discard_draft(&mut self) -> Vec<Effect> {
        let Some(m) = self.selected_move() else {
            return self.nothing_selected();
        };
        let Some(draft_id) = m.subject.draft_id.as_deref() else {
            self.warn("this move has no draft to discard");
            return vec![];
        };
        let key = m.key.clone();
        if crate::store::is_local_draft(draft_id) {
            // Only on this machine: dropped at once, no decision to take back; the move stays
            // and `x` writes a new draft.
            self.info("discarding the draft…");
            return vec![Effect::DiscardDraft { key }];
        }
        let state = MoveState::Skipped {
            reason: Some("draft discarded".into()),
        };
        let Some(previous) = self.set_state(&key, state) else {
            return vec![];
        };
        self.undo.push(super::Undoable {
            key: key.clone(),
            previous,
            executed: false,
        });
        self.clamp_selection();
        self.info("draft discarded · u to undo");
        vec![Effect::DiscardDraft { key }]
    }
}
