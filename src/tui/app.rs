//! The TUI state machine: `App::update(Action) -> Vec<Effect>`. No I/O happens here; the runtime
//! performs the effects and reports back with actions, so every key is testable without a terminal.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use crossterm::event::KeyEvent;

use super::keymap::Keymap;

mod input;
mod outbox;
use crate::config::SafetyMode;
use crate::domain::aps::ApsWeights;
use crate::domain::moves::{Move, MoveContext, MoveKind, MoveState};
use crate::store::{Counts, OutboxEntry};
pub use outbox::{SEND_ACTION, is_due, recipients};

/// The four views, cycled with Tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Today's Moves.
    Moves,
    /// Moves that carry a draft.
    Drafts,
    /// Outbound actions.
    Outbox,
    /// Counts and telemetry.
    Stats,
}

impl View {
    /// All views in Tab order.
    pub const ALL: [View; 4] = [View::Moves, View::Drafts, View::Outbox, View::Stats];

    /// Tab title.
    pub fn title(self) -> &'static str {
        match self {
            View::Moves => "Moves",
            View::Drafts => "Drafts",
            View::Outbox => "Outbox",
            View::Stats => "Stats",
        }
    }
}

/// Where the data comes from, for the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The bundled demo data; execution is simulated.
    Demo,
    /// The operator's own mirror.
    Live,
}

/// Modal input states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Keys are commands.
    Normal,
    /// The help overlay is open.
    Help,
    /// Full-screen detail of the selected move.
    Detail,
    /// Typing a filter.
    Filter,
    /// Typing an optional skip reason for a move.
    SkipReason {
        /// The move being skipped.
        key: String,
        /// Reason typed so far.
        input: String,
    },
    /// Choosing how long to snooze.
    Snooze {
        /// The move being snoozed.
        key: String,
    },
}

/// Severity of a status-line message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Confirmation.
    Info,
    /// Something was refused or needs attention.
    Warn,
    /// Something failed.
    Error,
}

/// Inputs to the state machine.
#[derive(Debug, Clone)]
pub enum Action {
    /// A key press.
    Key(KeyEvent),
    /// The terminal was resized (columns, rows).
    Resize(u16, u16),
    /// Clock tick.
    Tick(DateTime<Utc>),
    /// Fresh data from the mirror.
    Loaded(Box<Snapshot>),
    /// A background pass re-timing the ranking is under way (with how far it got), or over.
    Updating(Option<String>),
    /// The background pass ended (or why it failed); `Ok(true)` when it changed what the
    /// screen shows, which the screen then re-reads.
    Updated(Result<bool, String>),
    /// Detail contexts read for [`App::contexts_wanted`].
    Contexts(HashMap<String, MoveContext>),
    /// The Stats view's numbers, counted for [`Effect::LoadStats`] (or why they could not be).
    StatsLoaded(Result<Box<crate::stats::Stats>, String>),
    /// An effect failed.
    Failed(String),
    /// An effect succeeded with a message for the status line.
    Done(String),
    /// A running sync reports how far it got (a few words).
    SyncProgress(String),
    /// A sync ended: its summary, or why it failed and what to do.
    SyncFinished(Result<String, String>),
    /// A background outbox run ended: what it did ("1 sent · 2 done", empty when nothing was
    /// due), or why it could not run.
    OutboxFinished(Result<String, String>),
    /// Executing a move was refused (a safety rule) or failed: nothing was queued, so the
    /// optimistic "done" and its undo entry are taken back.
    ExecuteFailed {
        /// The move.
        key: String,
        /// Why, in the operator's words.
        reason: String,
        /// A rule said no (a warning), rather than something broke (an error).
        refusal: bool,
    },
}

/// Background sync as the header shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncState {
    /// An account is connected, so `r` really syncs (otherwise it says what to connect).
    pub available: bool,
    /// Time between background syncs; `None`: only on `r`.
    pub every: Option<Duration>,
    /// While a sync runs: how far it got.
    pub running: Option<String>,
    /// When the last sync was started (app clock).
    pub started_at: Option<DateTime<Utc>>,
    /// When the last sync finished well.
    pub last_ok: Option<DateTime<Utc>>,
    /// Why the last sync failed, until one succeeds.
    pub failed: Option<String>,
}

/// Everything the screen shows that comes from the store.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// All detected moves with their states, ranked.
    pub moves: Vec<Move>,
    /// Detail context per move key.
    pub contexts: HashMap<String, MoveContext>,
    /// Mirror counts.
    pub counts: Counts,
    /// Outbox entries, newest first.
    pub outbox: Vec<OutboxEntry>,
    /// The Stats view's numbers (last [`crate::stats::DEFAULT_DAYS`] days), when `stats_read`.
    pub stats: crate::stats::Stats,
    /// Counts over the whole stored ranking, when `moves` is only its top (a big mirror).
    pub ranked: Option<crate::store::RankedCounts>,
    /// `counts` were read whole (otherwise only `outbox_pending` is new: the rest is kept).
    pub counts_read: bool,
    /// `stats` were computed (otherwise the app keeps the ones it has).
    pub stats_read: bool,
}

/// Moves the TUI reads at first: the top of the stored ranking, in every state (so a decision
/// just taken stays at hand for `u`). Scrolling near its end reads the next ones.
pub const WINDOW: usize = 500;

/// Moves after the selected one whose detail context is read with it.
pub const CONTEXTS_AHEAD: usize = 10;

/// What the screen needs from the next read of the mirror.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Want {
    /// How many moves from the top of the ranking.
    pub window: usize,
    /// Moves whose detail context to read (`None`: the top of the list).
    pub contexts: Option<Vec<String>>,
}

/// Work for the runtime.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Persist a decision.
    Decide {
        /// Move key.
        key: String,
        /// New state.
        state: MoveState,
    },
    /// Execute a move's primary action through the outbox (`approve`: the `y` key).
    Execute {
        /// Move key.
        key: String,
        /// Whether this is the one-key draft approval.
        approve: bool,
    },
    /// Write a draft for the move from its template (`x` on a move that needs an email and has
    /// no draft yet); nothing is decided or queued.
    WriteDraft {
        /// Move key.
        key: String,
    },
    /// Take back the last persisted decision.
    Undo {
        /// The move it concerned.
        key: String,
    },
    /// Open the move's draft in `$EDITOR`.
    EditDraft {
        /// Move key.
        key: String,
    },
    /// Sync now.
    Sync,
    /// Run the outbox worker in the background (live only): every due entry once.
    RunOutbox,
    /// Confirm a parked or failed outbox entry again (it is queued as approved).
    RetryJob {
        /// The entry.
        idempotency_key: String,
    },
    /// Discard an outbox entry that has not started (queued or parked).
    DiscardJob {
        /// The entry.
        idempotency_key: String,
    },
    /// Discard a move's draft (the Drafts view's skip): the move is skipped and the draft is
    /// deleted through the outbox, which `u` can take back.
    DiscardDraft {
        /// Move key.
        key: String,
    },
    /// Re-time the ranking in the background (moves age, snoozes wake, dates pass).
    Reload,
    /// Re-read the stored ranking (after a background pass, a longer window).
    Refresh,
    /// Count the Stats view's numbers, off the UI task (they read the event log: tens of
    /// milliseconds on a big mirror); they arrive as [`Action::StatsLoaded`].
    LoadStats,

    /// Leave.
    Quit,
}

/// A decision the operator can take back with `u`.
#[derive(Debug, Clone, PartialEq)]
struct Undoable {
    key: String,
    previous: MoveState,
    /// The decision was an execution (its outbox entry may be under way).
    executed: bool,
}

/// The whole UI state.
#[derive(Debug, Clone)]
pub struct App {
    /// The clock.
    pub now: DateTime<Utc>,
    /// Demo or live.
    pub source: Source,
    /// Draft-only or send.
    pub safety: SafetyMode,
    /// Key bindings.
    pub keymap: Keymap,
    /// Scoring weights (for "what would move it").
    pub weights: ApsWeights,
    /// Data from the mirror.
    pub data: Snapshot,
    /// Current view.
    pub view: View,
    /// Modal state.
    pub mode: Mode,
    /// Active filter text.
    pub filter: String,
    /// Selected row in the current list.
    pub selected: usize,
    /// First list row on screen.
    pub offset: usize,
    /// Scroll of the full detail view.
    pub detail_scroll: u16,
    /// Terminal size.
    pub size: (u16, u16),
    /// Status line.
    pub status: Option<(Level, String)>,
    undo: Vec<Undoable>,
    /// Rows of the current list and the (open, accepted) counts, recomputed when the data, the
    /// filter, the view or a decision changes — not on every frame.
    rows: Vec<usize>,
    counts: (usize, usize),
    /// When the last background pass was asked for (by the app clock): one a minute, whatever
    /// the keys do meanwhile, so ages move on and snoozes wake while the operator works.
    pub loaded_at: DateTime<Utc>,
    /// Set once the operator quits.
    pub quitting: bool,
    /// Background sync.
    pub sync: SyncState,
    /// A background outbox run is under way.
    pub outbox_running: bool,
    /// The move whose send is in its undo window (the status line counts down).
    watched_send: Option<String>,
    /// A background pass is re-timing the ranking: how far it got (the header says "updating").
    pub updating: Option<String>,
    /// How many moves from the top of the ranking the screen reads ([`WINDOW`] and more as
    /// the operator scrolls towards its end).
    pub window: usize,
    /// Contexts asked for and not yet arrived.
    contexts_pending: std::collections::HashSet<String>,
    /// The Stats view's numbers are being counted ([`Effect::LoadStats`]).
    pub stats_loading: bool,
    /// The Stats view's numbers were counted at least once (else the view says it is counting).
    pub stats_loaded: bool,
    /// Something changed while they were being counted: count again when they arrive.
    stats_again: bool,
    /// (open, accepted) among the loaded moves when they were read.
    window_base: (usize, usize),
}

/// How often an open TUI re-detects moves while idle.
pub const REFRESH_EVERY: Duration = Duration::minutes(1);

/// Rows of the screen that are not list rows (header, tabs, borders, detail, footer).
pub fn list_rows_for(height: u16) -> usize {
    // Header 1 + tabs 1 + footer 2 + list borders 2, then the list gets ~45% of what is left.
    let rest = height.saturating_sub(6) as usize;
    (rest * 45 / 100).max(3)
}

impl App {
    /// A fresh app over a snapshot.
    pub fn new(
        now: DateTime<Utc>,
        source: Source,
        safety: SafetyMode,
        keymap: Keymap,
        weights: ApsWeights,
        data: Snapshot,
    ) -> App {
        let stats_loaded = data.stats_read;
        let mut app = App {
            now,
            source,
            safety,
            keymap,
            weights,
            data,
            view: View::Moves,
            mode: Mode::Normal,
            filter: String::new(),
            selected: 0,
            offset: 0,
            detail_scroll: 0,
            size: (120, 40),
            status: None,
            undo: Vec::new(),
            rows: Vec::new(),
            counts: (0, 0),
            loaded_at: now,
            quitting: false,
            sync: SyncState::default(),
            outbox_running: false,
            watched_send: None,
            updating: None,
            window: WINDOW,
            contexts_pending: Default::default(),
            stats_loading: false,
            stats_loaded,
            stats_again: false,
            window_base: (0, 0),
        };
        app.note_window_base();
        app.refresh_rows();
        app
    }

    /// Indices (into `data.moves`) of the rows of the current list.
    pub fn rows(&self) -> Vec<usize> {
        self.rows.clone()
    }

    /// The same rows, borrowed (for rendering).
    pub fn row_indices(&self) -> &[usize] {
        &self.rows
    }

    /// Recomputes the cached rows and counts after the data, filter, view or a state changed.
    pub fn refresh_rows(&mut self) {
        self.rows = self.compute_rows();
        let open = self
            .data
            .moves
            .iter()
            .filter(|m| m.state == MoveState::Open)
            .count();
        let accepted = self
            .data
            .moves
            .iter()
            .filter(|m| m.state == MoveState::Accepted)
            .count();
        // Over the whole ranking: its stored counts, moved by the decisions taken on the
        // screen since it was read (the screen shows them before the store has them).
        let (base_open, base_accepted) = self.window_base;
        let moved = |stored: usize, now: usize, base: usize| (stored + now).saturating_sub(base);
        self.counts = match self.beyond_window() {
            Some(r) => (
                moved(r.open, open, base_open),
                moved(r.accepted, accepted, base_accepted),
            ),
            None => (open, accepted),
        };
    }

    /// Notes the (open, accepted) counts of the loaded moves as read from the store.
    fn note_window_base(&mut self) {
        let count = |s: MoveState| self.data.moves.iter().filter(|m| m.state == s).count();
        self.window_base = (count(MoveState::Open), count(MoveState::Accepted));
    }

    /// Counts over the whole stored ranking when `data.moves` holds only its top (a big
    /// mirror); `None` when every move is loaded.
    pub fn beyond_window(&self) -> Option<crate::store::RankedCounts> {
        self.data.ranked.filter(|r| r.total > self.data.moves.len())
    }

    fn compute_rows(&self) -> Vec<usize> {
        let needle = self.filter.to_lowercase();
        self.data
            .moves
            .iter()
            .enumerate()
            .filter(|(_, m)| m.state.is_actionable())
            .filter(|(_, m)| match self.view {
                View::Drafts => m.subject.draft_id.is_some() || m.kind == MoveKind::ApproveDraft,
                _ => true,
            })
            .filter(|(_, m)| {
                needle.is_empty()
                    || m.title.to_lowercase().contains(&needle)
                    || m.who.to_lowercase().contains(&needle)
                    || m.why.to_lowercase().contains(&needle)
                    || m.kind.as_str().contains(&needle)
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// The selected move, if the current view lists moves.
    pub fn selected_move(&self) -> Option<&Move> {
        if !matches!(self.view, View::Moves | View::Drafts) {
            return None;
        }
        self.rows.get(self.selected).map(|&i| &self.data.moves[i])
    }

    /// Rows the list shows at the current terminal height.
    pub fn list_rows(&self) -> usize {
        list_rows_for(self.size.1)
    }

    /// Rows of the current view: moves, outbox entries, or none (Stats).
    pub fn row_count(&self) -> usize {
        match self.view {
            View::Moves | View::Drafts => self.rows.len(),
            View::Outbox => self.data.outbox.len(),
            View::Stats => 0,
        }
    }

    fn clamp_selection(&mut self) {
        let n = self.row_count();
        self.selected = if n == 0 { 0 } else { self.selected.min(n - 1) };
        let page = self.list_rows().max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + page {
            self.offset = self.selected + 1 - page;
        }
        self.offset = self.offset.min(n.saturating_sub(page));
    }

    fn info(&mut self, s: impl Into<String>) {
        self.status = Some((Level::Info, s.into()));
    }

    fn warn(&mut self, s: impl Into<String>) {
        self.status = Some((Level::Warn, s.into()));
    }

    fn set_state(&mut self, key: &str, state: MoveState) -> Option<MoveState> {
        let m = self.data.moves.iter_mut().find(|m| m.key == key)?;
        let previous = std::mem::replace(&mut m.state, state);
        self.refresh_rows();
        Some(previous)
    }

    /// Records a decision locally (optimistically) and asks the runtime to persist it.
    fn decide(&mut self, key: String, state: MoveState, message: String) -> Vec<Effect> {
        let Some(previous) = self.set_state(&key, state.clone()) else {
            self.warn("that move is gone after the last refresh; nothing was recorded");
            return vec![];
        };
        self.undo.push(Undoable {
            key: key.clone(),
            previous,
            executed: false,
        });
        self.clamp_selection();
        self.info(format!("{message} · u to undo"));
        vec![Effect::Decide { key, state }]
    }

    /// The state machine.
    pub fn update(&mut self, action: Action) -> Vec<Effect> {
        self.step(action)
    }

    /// What the next read of the mirror must bring (the runtime asks before each).
    pub fn wants(&self) -> Want {
        Want {
            window: self.window,
            contexts: Some(self.context_keys()),
        }
    }

    /// The selected move and the next few on the list: their contexts are read together.
    fn context_keys(&self) -> Vec<String> {
        if !matches!(self.view, View::Moves | View::Drafts) {
            return Vec::new();
        }
        self.rows
            .iter()
            .skip(self.selected)
            .take(CONTEXTS_AHEAD + 1)
            .map(|&i| self.data.moves[i].key.clone())
            .collect()
    }

    /// The moves whose detail context the screen lacks, when the selected one is among them
    /// (it and the next few, asked for once): the runtime reads them before it draws and
    /// answers with [`Action::Contexts`].
    pub fn contexts_wanted(&mut self) -> Option<Vec<String>> {
        let key = self.selected_move().map(|m| m.key.clone())?;
        if self.data.contexts.contains_key(&key) || self.contexts_pending.contains(&key) {
            return None;
        }
        let keys: Vec<String> = self
            .context_keys()
            .into_iter()
            .filter(|k| !self.data.contexts.contains_key(k) && !self.contexts_pending.contains(k))
            .collect();
        self.contexts_pending.extend(keys.iter().cloned());
        Some(keys)
    }

    /// Reads more of the ranking when the selection nears the end of what is loaded.
    fn window_wanted(&mut self) -> Vec<Effect> {
        let n = self.row_count();
        let page = self.list_rows().max(1);
        let near_end = self.selected + 2 * page >= n;
        if matches!(self.view, View::Moves | View::Drafts)
            && self.filter.is_empty()
            && near_end
            && self.beyond_window().is_some()
        {
            self.window += WINDOW;
            return vec![Effect::Refresh];
        }
        vec![]
    }

    fn step(&mut self, action: Action) -> Vec<Effect> {
        match action {
            Action::Key(k) => self.key(k),
            Action::Resize(w, h) => {
                self.size = (w, h);
                self.refresh_rows();
                self.clamp_selection();
                vec![]
            }
            Action::Tick(now) => {
                self.now = now;
                self.show_send_progress();
                if let Some(every) = self.sync.every.filter(|_| self.sync.available)
                    && self.sync.running.is_none()
                    && self.sync.started_at.is_none_or(|at| now - at >= every)
                {
                    return self.start_sync(false);
                }
                let mut effects = Vec::new();
                if self.outbox_due() {
                    effects.extend(self.start_outbox_run());
                }
                if now - self.loaded_at >= REFRESH_EVERY {
                    self.loaded_at = now;
                    effects.push(Effect::Reload);
                }
                effects
            }
            Action::SyncProgress(text) => {
                if self.sync.running.is_some() {
                    self.sync.running = Some(text);
                }
                vec![]
            }
            Action::SyncFinished(Ok(summary)) => {
                self.sync.running = None;
                // An account was connected while the TUI was open: background syncs start.
                self.sync.available = true;
                self.sync.last_ok = Some(self.now);
                self.sync.failed = None;
                self.info(summary);
                // New and changed records: detect again; then what waited for the network goes.
                let mut effects = vec![Effect::Reload];
                effects.extend(self.start_outbox_run());
                effects
            }
            Action::SyncFinished(Err(why)) => {
                self.sync.running = None;
                self.status = Some((Level::Error, format!("sync failed: {why}")));
                self.sync.failed = Some(why);
                // Whatever landed before the failure (or from the other service) is shown.
                vec![Effect::Reload]
            }
            Action::Loaded(snapshot) => {
                let selected_key = self.selected_move().map(|m| m.key.clone());
                let selected_entry = self.selected_entry().map(|e| e.idempotency_key.clone());
                let mut snapshot = *snapshot;
                if !snapshot.stats_read {
                    snapshot.stats = std::mem::take(&mut self.data.stats);
                }
                if !snapshot.counts_read {
                    let pending = snapshot.counts.outbox_pending;
                    snapshot.counts = self.data.counts.clone();
                    snapshot.counts.outbox_pending = pending;
                }
                self.contexts_pending.clear();
                self.data = snapshot;
                self.note_window_base();
                self.refresh_rows();
                if let Some(k) = selected_key
                    && let Some(pos) = self.rows.iter().position(|&i| self.data.moves[i].key == k)
                {
                    self.selected = pos;
                }
                if let Some(k) = selected_entry
                    && let Some(pos) = self.data.outbox.iter().position(|e| e.idempotency_key == k)
                {
                    self.selected = pos;
                }
                self.clamp_selection();
                self.show_send_progress();
                // What changed the ranking may change the numbers on show.
                if self.view == View::Stats {
                    return self.load_stats();
                }
                vec![]
            }
            Action::StatsLoaded(result) => {
                self.stats_loading = false;
                match result {
                    Ok(stats) => {
                        self.data.stats = *stats;
                        self.stats_loaded = true;
                    }
                    Err(why) => {
                        self.stats_again = false;
                        self.status = Some((Level::Error, format!("counting the Stats failed: {why}")));
                    }
                }
                if std::mem::take(&mut self.stats_again) && self.view == View::Stats {
                    return self.load_stats();
                }
                vec![]
            }
            Action::Contexts(found) => {
                for k in found.keys() {
                    self.contexts_pending.remove(k);
                }
                self.data.contexts.extend(found);
                vec![]
            }
            Action::Updating(progress) => {
                self.updating = progress;
                vec![]
            }
            Action::Updated(result) => {
                self.updating = None;
                match result {
                    // Nothing moved: the screen already shows the ranking as it is.
                    Ok(false) => vec![],
                    Ok(true) => vec![Effect::Refresh],
                    Err(why) => {
                        self.status = Some((Level::Error, format!("updating the moves failed: {why}")));
                        vec![Effect::Refresh]
                    }
                }
            }
            Action::OutboxFinished(result) => self.outbox_finished(result),
            Action::ExecuteFailed { key, reason, refusal } => self.execute_failed(&key, reason, refusal),
            Action::Failed(msg) => {
                self.status = Some((Level::Error, msg));
                vec![]
            }
            Action::Done(msg) => {
                self.info(msg);
                vec![]
            }
        }
    }

    /// Asks for the Stats view's numbers, unless they are being counted already (then once
    /// more when those arrive, since something changed meanwhile).
    pub(crate) fn load_stats(&mut self) -> Vec<Effect> {
        if self.stats_loading {
            self.stats_again = true;
            return vec![];
        }
        self.stats_loading = true;
        vec![Effect::LoadStats]
    }

    /// Starts a sync unless one is running (the `r` key and the background timer).
    fn start_sync(&mut self, manual: bool) -> Vec<Effect> {
        if self.sync.running.is_some() {
            self.info("a sync is already running");
            return vec![];
        }
        if self.sync.available {
            self.sync.started_at = Some(self.now);
            self.sync.running = Some("starting".into());
            if manual {
                self.info("syncing in the background · keys keep working");
            }
        }
        vec![Effect::Sync]
    }

    /// Moves in the list by state, for the header.
    pub fn actionable_count(&self) -> (usize, usize) {
        self.counts
    }
}
