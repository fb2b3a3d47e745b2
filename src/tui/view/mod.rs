//! Pure render functions: they take `&App` and draw; they never mutate.
//!
//! Every string that came from email or the CRM passes through `domain::text` sanitizers
//! before it is drawn, so no escape sequence from outside reaches the terminal.

mod detail;
mod list;
mod outbox;
mod overlay;
mod tables;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::app::{App, Level, Mode, Source, View};
use super::keymap::Command;
use super::strings;
use super::theme::Theme;
use crate::config::SafetyMode;

/// Draws the whole screen.
pub fn draw(frame: &mut Frame<'_>, app: &App, theme: &Theme) {
    let [header, tabs, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(2),
    ])
    .areas(frame.area());
    draw_header(frame, header, app, theme);
    draw_tabs(frame, tabs, app, theme);
    if app.source == Source::Live && app.data.counts.is_empty() {
        overlay::onboarding(frame, body, theme);
    } else {
        match app.view {
            View::Moves | View::Drafts => draw_moves(frame, body, app, theme),
            View::Outbox => outbox::draw(frame, body, app, theme),
            View::Stats => tables::stats(frame, body, app, theme),
        }
    }
    draw_footer(frame, footer, app, theme);
    if app.mode == Mode::Help {
        overlay::help(frame, frame.area(), app, theme);
    }
}

fn draw_moves(frame: &mut Frame<'_>, area: Rect, app: &App, theme: &Theme) {
    if app.mode == Mode::Detail {
        detail::draw(frame, area, app, theme, true);
        return;
    }
    let list_height = (app.list_rows() as u16 + 2).min(area.height.saturating_sub(3));
    let [list_area, detail_area] =
        Layout::vertical([Constraint::Length(list_height), Constraint::Min(3)]).areas(area);
    list::draw(frame, list_area, app, theme);
    detail::draw(frame, detail_area, app, theme, false);
}

fn draw_header(frame: &mut Frame<'_>, area: Rect, app: &App, theme: &Theme) {
    let (open, accepted) = app.actionable_count();
    let c = &app.data.counts;
    let mut spans = vec![
        Span::styled(format!(" {} ", strings::APP), theme.title),
        Span::styled(format!("· {} · ", app.now.format("%a %d %b")), theme.text),
    ];
    match app.source {
        Source::Demo => spans.push(Span::styled(strings::DEMO_BADGE, theme.badge)),
        Source::Live => spans.push(Span::styled("mirror", theme.dim)),
    }
    let mode = match app.safety {
        SafetyMode::DraftOnly => strings::DRAFT_ONLY,
        SafetyMode::Send => strings::SEND_MODE,
    };
    // Most important first; whatever does not fit the width is left out whole.
    let extras = [
        (format!(" · {open} open · {accepted} accepted"), theme.text),
        updating_item(app, theme),
        sync_item(app, theme),
        outbox_item(app, theme),
        (format!(" · {mode}"), theme.dim),
        (format!(" · outbox {}", c.outbox_pending), theme.text),
        (
            format!(
                " · {} contacts · {} deals · {} threads",
                c.contacts, c.deals, c.threads
            ),
            theme.dim,
        ),
    ];
    let mut used: usize = spans.iter().map(|s| s.width()).sum();
    for (text, style) in extras {
        let w = unicode_width::UnicodeWidthStr::width(text.as_str());
        if used + w <= area.width as usize {
            used += w;
            spans.push(Span::styled(text, style));
        }
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// "updating…" while a background pass re-times the ranking (with its progress).
fn updating_item(app: &App, theme: &Theme) -> (String, ratatui::style::Style) {
    match app.updating.as_deref() {
        None => (String::new(), theme.dim),
        Some("") => (format!(" · {}", strings::UPDATING), theme.dim),
        Some(p) => (format!(" · {} {p}", strings::UPDATING), theme.dim),
    }
}

/// The sync state for the header: running (with progress), failed, or when it last worked.
fn sync_item(app: &App, theme: &Theme) -> (String, ratatui::style::Style) {
    let s = &app.sync;
    if let Some(progress) = &s.running {
        (
            format!(" · ⟳ {}", crate::domain::text::sanitize_line(progress)),
            theme.warn,
        )
    } else if s.failed.is_some() {
        (" · sync failed".to_string(), theme.error)
    } else if let Some(at) = s.last_ok {
        (format!(" · synced {}", at.format("%H:%M")), theme.dim)
    } else {
        (String::new(), theme.dim)
    }
}

/// Outbox entries that need the network or the operator: "2 waiting (offline) · 1 to confirm".
fn outbox_item(app: &App, theme: &Theme) -> (String, ratatui::style::Style) {
    let (waiting, parked) = app.outbox_attention();
    let mut text = String::new();
    if waiting > 0 {
        text.push_str(&format!(" · {waiting} waiting (offline)"));
    }
    if parked > 0 {
        text.push_str(&format!(" · {parked} to confirm"));
    }
    (text, theme.warn)
}

fn draw_tabs(frame: &mut Frame<'_>, area: Rect, app: &App, theme: &Theme) {
    let mut spans = vec![Span::raw(" ")];
    for (i, v) in View::ALL.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" · ", theme.dim));
        }
        let style = if *v == app.view { theme.title } else { theme.dim };
        let label = if *v == View::Moves {
            strings::TODAYS_MOVES
        } else {
            v.title()
        };
        spans.push(Span::styled(label, style));
    }
    if !app.filter.is_empty() && app.mode != Mode::Filter {
        spans.push(Span::styled(
            format!("   filter: {}", crate::domain::text::sanitize_line(&app.filter)),
            theme.warn,
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn hint(app: &App, theme: &Theme, cmd: Command, what: &str) -> Vec<Span<'static>> {
    vec![
        Span::styled(app.keymap.key_for(cmd), theme.key),
        Span::styled(format!(" {what}  "), theme.dim),
    ]
}

/// The keys worth showing in the footer of each view.
fn footer_hints(view: View) -> &'static [(Command, &'static str)] {
    match view {
        View::Moves => &[
            (Command::Down, "down"),
            (Command::Detail, "detail"),
            (Command::Accept, "accept"),
            (Command::Skip, "skip"),
            (Command::Snooze, "snooze"),
            (Command::Execute, "execute"),
            (Command::Approve, "approve"),
            (Command::Undo, "undo"),
            (Command::Filter, "filter"),
            (Command::NextView, "view"),
            (Command::Help, "help"),
            (Command::Quit, "quit"),
        ],
        View::Drafts => &[
            (Command::Down, "down"),
            (Command::Detail, "detail"),
            (Command::Approve, "approve"),
            (Command::Edit, "edit"),
            (Command::Skip, "discard"),
            (Command::Snooze, "snooze"),
            (Command::Undo, "undo"),
            (Command::Filter, "filter"),
            (Command::NextView, "view"),
            (Command::Help, "help"),
            (Command::Quit, "quit"),
        ],
        View::Outbox => &[
            (Command::Down, "down"),
            (Command::Execute, "confirm again"),
            (Command::Skip, "discard"),
            (Command::Undo, "undo"),
            (Command::Sync, "sync"),
            (Command::NextView, "view"),
            (Command::Help, "help"),
            (Command::Quit, "quit"),
        ],
        View::Stats => &[
            (Command::NextView, "view"),
            (Command::Sync, "sync"),
            (Command::Help, "help"),
            (Command::Quit, "quit"),
        ],
    }
}

fn draw_footer(frame: &mut Frame<'_>, area: Rect, app: &App, theme: &Theme) {
    let [status_area, keys_area] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(area);
    let status = match &app.mode {
        Mode::Filter => Line::from(vec![
            Span::styled(strings::FILTER_PROMPT, theme.key),
            Span::styled(
                format!("{}▏", crate::domain::text::sanitize_line(&app.filter)),
                theme.text,
            ),
        ]),
        Mode::SkipReason { input, .. } => Line::from(vec![
            Span::styled(strings::SKIP_PROMPT, theme.key),
            Span::styled(
                format!("{}▏", crate::domain::text::sanitize_line(input)),
                theme.text,
            ),
        ]),
        Mode::Snooze { .. } => Line::from(Span::styled(strings::SNOOZE_MENU, theme.key)),
        _ => match &app.status {
            Some((level, msg)) => {
                let style = match level {
                    Level::Info => theme.good,
                    Level::Warn => theme.warn,
                    Level::Error => theme.error,
                };
                // Messages can quote addresses and errors from outside (a refusal names the
                // recipient): sanitized like everything else that reaches the terminal.
                Line::from(Span::styled(
                    format!(" {}", crate::domain::text::sanitize_line(msg)),
                    style,
                ))
            }
            None => Line::from(""),
        },
    };
    frame.render_widget(Paragraph::new(status), status_area);
    let mut spans = vec![Span::raw(" ")];
    for (cmd, what) in footer_hints(app.view) {
        spans.extend(hint(app, theme, *cmd, what));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), keys_area);
}
