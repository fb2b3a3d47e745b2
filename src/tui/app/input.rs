//! Key handling: what each key means in each mode. Part of [`App`]'s state machine.

use chrono::Duration;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{App, Effect, Mode, Source, Undoable, View};
use crate::config::SafetyMode;
use crate::domain::moves::MoveState;
use crate::tui::keymap::Command;
use crate::tui::strings;

impl App {
    pub(super) fn key(&mut self, k: KeyEvent) -> Vec<Effect> {
        match self.mode.clone() {
            Mode::Help => {
                let closes = matches!(k.code, KeyCode::Esc | KeyCode::Enter)
                    || matches!(self.keymap.command(&k), Some(Command::Help | Command::Quit));
                if closes {
                    self.mode = Mode::Normal;
                }
                vec![]
            }
            Mode::Filter => {
                match k.code {
                    KeyCode::Esc => {
                        self.filter.clear();
                        self.mode = Mode::Normal;
                    }
                    KeyCode::Enter => self.mode = Mode::Normal,
                    KeyCode::Backspace => {
                        self.filter.pop();
                    }
                    KeyCode::Char(c) if !k.modifiers.contains(KeyModifiers::CONTROL) => self.filter.push(c),
                    _ => {}
                }
                self.selected = 0;
                self.offset = 0;
                self.refresh_rows();
                self.clamp_selection();
                vec![]
            }
            Mode::SkipReason { key, mut input } => match k.code {
                KeyCode::Esc => {
                    self.mode = Mode::Normal;
                    self.info("skip cancelled");
                    vec![]
                }
                KeyCode::Enter => {
                    self.mode = Mode::Normal;
                    let reason = Some(input.trim().to_string()).filter(|r| !r.is_empty());
                    let msg = match &reason {
                        Some(r) => format!("skipped ({r})"),
                        None => "skipped".to_string(),
                    };
                    self.decide(key, MoveState::Skipped { reason }, msg)
                }
                KeyCode::Backspace => {
                    input.pop();
                    self.mode = Mode::SkipReason { key, input };
                    vec![]
                }
                KeyCode::Char(c) if !k.modifiers.contains(KeyModifiers::CONTROL) => {
                    if input.chars().count() < 200 {
                        input.push(c);
                    }
                    self.mode = Mode::SkipReason { key, input };
                    vec![]
                }
                _ => vec![],
            },
            Mode::Snooze { key } => {
                let plain = !k.modifiers.contains(KeyModifiers::CONTROL);
                let choice = match k.code {
                    _ if !plain => None,
                    KeyCode::Char('1') | KeyCode::Char('d') => {
                        Some((Some(Duration::days(1)), false, "1 day"))
                    }
                    KeyCode::Char('3') => Some((Some(Duration::days(3)), false, "3 days")),
                    KeyCode::Char('7') | KeyCode::Char('w') => {
                        Some((Some(Duration::weeks(1)), false, "1 week"))
                    }
                    KeyCode::Char('r') => Some((None, true, "until they reply")),
                    _ => None,
                };
                match choice {
                    Some((d, until_reply, label)) => {
                        self.mode = Mode::Normal;
                        let until = d.map(|d| self.now + d);
                        self.decide(
                            key,
                            MoveState::Snoozed { until, until_reply },
                            format!("snoozed {label}"),
                        )
                    }
                    None if k.code == KeyCode::Esc || k.code == KeyCode::Char('q') => {
                        self.mode = Mode::Normal;
                        self.info("snooze cancelled");
                        vec![]
                    }
                    None => vec![],
                }
            }
            Mode::Detail => {
                // Esc, the detail key and a plain quit key close the detail (like a pager);
                // ctrl-c still quits from anywhere.
                let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
                let cmd = self.keymap.command(&k);
                if k.code == KeyCode::Esc
                    || cmd == Some(Command::Detail)
                    || (cmd == Some(Command::Quit) && !ctrl)
                {
                    self.mode = Mode::Normal;
                    return vec![];
                }
                match cmd {
                    Some(Command::Down) => self.detail_scroll = self.detail_scroll.saturating_add(1),
                    Some(Command::Up) => self.detail_scroll = self.detail_scroll.saturating_sub(1),
                    Some(Command::PageDown) => self.detail_scroll = self.detail_scroll.saturating_add(10),
                    Some(Command::PageUp) => self.detail_scroll = self.detail_scroll.saturating_sub(10),
                    Some(Command::Top) => self.detail_scroll = 0,
                    Some(
                        cmd @ (Command::Accept
                        | Command::Skip
                        | Command::Snooze
                        | Command::Execute
                        | Command::Approve
                        | Command::Edit
                        | Command::Undo
                        | Command::Quit),
                    ) => {
                        self.mode = Mode::Normal;
                        return self.command(cmd);
                    }
                    _ => {}
                }
                vec![]
            }
            Mode::Normal => match self.keymap.command(&k) {
                Some(cmd) => self.command(cmd),
                None if k.code == KeyCode::Esc && !self.filter.is_empty() => {
                    self.filter.clear();
                    self.refresh_rows();
                    self.clamp_selection();
                    vec![]
                }
                None => vec![],
            },
        }
    }

    fn command(&mut self, cmd: Command) -> Vec<Effect> {
        let n = self.row_count();
        let page = self.list_rows().max(1);
        match cmd {
            Command::Down => {
                self.selected = (self.selected + 1).min(n.saturating_sub(1));
                self.clamp_selection();
                return self.window_wanted();
            }
            Command::Up => self.selected = self.selected.saturating_sub(1),
            Command::Top => self.selected = 0,
            Command::Bottom => {
                self.selected = n.saturating_sub(1);
                self.clamp_selection();
                return self.window_wanted();
            }
            Command::PageDown => {
                self.selected = (self.selected + page).min(n.saturating_sub(1));
                self.clamp_selection();
                return self.window_wanted();
            }
            Command::PageUp => self.selected = self.selected.saturating_sub(page),
            Command::Detail => {
                if self.selected_move().is_some() {
                    self.detail_scroll = 0;
                    self.mode = Mode::Detail;
                }
            }
            Command::Help => self.mode = Mode::Help,
            Command::Filter => {
                if matches!(self.view, View::Moves | View::Drafts) {
                    self.mode = Mode::Filter;
                }
            }
            Command::NextView | Command::PrevView => {
                let i = View::ALL.iter().position(|v| *v == self.view).unwrap_or(0);
                let step = if cmd == Command::NextView {
                    1
                } else {
                    View::ALL.len() - 1
                };
                self.view = View::ALL[(i + step) % View::ALL.len()];
                self.refresh_rows();
                self.selected = 0;
                self.offset = 0;
                // The Stats view's numbers are counted when it is shown, not with every read.
                if self.view == View::Stats {
                    self.clamp_selection();
                    return self.load_stats();
                }
            }
            Command::Quit => {
                self.quitting = true;
                return vec![Effect::Quit];
            }
            Command::Sync => return self.start_sync(true),
            Command::Undo => return self.undo(),
            Command::Accept => {
                let Some(m) = self.selected_move() else {
                    return self.nothing_selected();
                };
                if m.state == MoveState::Accepted {
                    self.info("already accepted · x to execute");
                    return vec![];
                }
                let key = m.key.clone();
                return self.decide(key, MoveState::Accepted, "accepted".into());
            }
            Command::Skip if self.view == View::Outbox => return self.discard_selected(),
            Command::Skip if self.view == View::Drafts => return self.discard_draft(),
            Command::Skip => {
                let Some(m) = self.selected_move() else {
                    return self.nothing_selected();
                };
                self.mode = Mode::SkipReason {
                    key: m.key.clone(),
                    input: String::new(),
                };
            }
            Command::Snooze => {
                let Some(m) = self.selected_move() else {
                    return self.nothing_selected();
                };
                self.mode = Mode::Snooze { key: m.key.clone() };
            }
            Command::Execute | Command::Approve if self.view == View::Outbox => {
                return self.retry_selected();
            }
            Command::Execute | Command::Approve => return self.execute(cmd == Command::Approve),
            Command::Edit => {
                let Some(m) = self.selected_move() else {
                    return self.nothing_selected();
                };
                if m.subject.draft_id.is_none() {
                    self.warn("this move has no draft to edit yet · x creates one");
                    return vec![];
                }
                return vec![Effect::EditDraft { key: m.key.clone() }];
            }
        }
        self.clamp_selection();
        vec![]
    }

    pub(super) fn nothing_selected(&mut self) -> Vec<Effect> {
        self.warn("no move selected");
        vec![]
    }

    fn execute(&mut self, approve: bool) -> Vec<Effect> {
        let Some(m) = self.selected_move() else {
            return self.nothing_selected();
        };
        if approve && m.subject.draft_id.is_none() {
            self.warn("no draft to approve on this move · x runs its primary action");
            return vec![];
        }
        let key = m.key.clone();
        if !approve && crate::actions::writes_draft(m) {
            // A draft from the template, on this machine only: the move stays open with it.
            self.info("writing a draft from the template…");
            return vec![Effect::WriteDraft { key }];
        }
        let label = if approve {
            "draft approved"
        } else {
            m.action.label()
        };
        let where_to = match (self.source, self.safety) {
            (Source::Demo, _) => "DEMO: simulated, nothing left this machine",
            (Source::Live, SafetyMode::DraftOnly) => "queued in the outbox (draft-only: nothing is sent)",
            (Source::Live, SafetyMode::Send) => "queued in the outbox",
        };
        let msg = format!("{label} · {where_to}");
        // In send mode a move with a draft is executed by sending it, after the undo window.
        let sends =
            self.source == Source::Live && self.safety == SafetyMode::Send && m.subject.draft_id.is_some();
        let Some(previous) = self.set_state(&key, MoveState::Done) else {
            return vec![];
        };
        self.undo.push(Undoable {
            key: key.clone(),
            previous,
            executed: true,
        });
        self.clamp_selection();
        self.info(format!("{msg} · u to undo"));
        if sends {
            self.watch_send(&key);
        }
        let mut effects = vec![Effect::Execute { key, approve }];
        effects.extend(self.start_outbox_run());
        effects
    }

    fn undo(&mut self) -> Vec<Effect> {
        let Some(last) = self.undo.pop() else {
            self.warn("nothing to undo");
            return vec![];
        };
        let mut message = "undone";
        if last.executed {
            if let Some(why) = self.too_late_to_undo(&last.key) {
                // What went out cannot be called back; the move stays done.
                self.warn(why);
                return vec![];
            }
            if self.cancels_a_send(&last.key) {
                message = strings::SEND_CANCELLED;
            }
            if self.watched_send.as_deref() == Some(last.key.as_str()) {
                self.watched_send = None;
            }
        }
        self.set_state(&last.key, last.previous);
        if let Some(pos) = self.rows.iter().position(|&i| self.data.moves[i].key == last.key) {
            self.selected = pos;
        }
        self.clamp_selection();
        self.info(message);
        vec![Effect::Undo { key: last.key }]
    }
}
