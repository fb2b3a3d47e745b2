//! The Outbox view: every outbound action with its state, and the selected one in detail —
//! what it acts on, when it runs, and the full error that held it. Works from the mirror
//! alone, offline.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use serde_json::Value;

use super::super::app::{App, SEND_ACTION, recipients};
use super::super::keymap::Command;
use super::super::strings;
use super::super::theme::Theme;
use crate::domain::text::{sanitize_line, truncate_cols};
use crate::domain::time::short_age;
use crate::store::OutboxEntry;

pub(super) fn draw(frame: &mut Frame<'_>, area: Rect, app: &App, theme: &Theme) {
    let entries = &app.data.outbox;
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.dim)
        .title(Span::styled(format!(" Outbox ({}) ", entries.len()), theme.title));
    if entries.is_empty() {
        frame.render_widget(
            Paragraph::new(Span::styled(strings::EMPTY_OUTBOX, theme.dim)).block(block),
            area,
        );
        return;
    }
    // Borders, the column header and the rows the selection pages by.
    let list_height = (app.list_rows() as u16 + 3).min(area.height.saturating_sub(3));
    let [list_area, detail_area] =
        Layout::vertical([Constraint::Length(list_height), Constraint::Min(3)]).areas(area);
    list(frame, list_area, app, theme, block);
    if let Some(e) = app.selected_entry() {
        detail(frame, detail_area, app, theme, e);
    }
}

fn state_style(e: &OutboxEntry, theme: &Theme) -> Style {
    match e.state.as_str() {
        "failed" | "uncertain" | "parked" => theme.error,
        "queued" if e.error.is_some() => theme.warn,
        "cancelled" => theme.dim,
        "done" => theme.good,
        _ => theme.text,
    }
}

fn list(frame: &mut Frame<'_>, area: Rect, app: &App, theme: &Theme, block: Block<'_>) {
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = inner.width as usize;
    let mut lines = vec![Line::from(Span::styled(
        format!(
            "  {:>4}  {:<10} {:<24} {:<6} {:>5}  move",
            "id", "state", "action", "", "age"
        ),
        theme.dim,
    ))];
    let rows = inner.height.saturating_sub(1) as usize;
    for (pos, e) in app.data.outbox.iter().enumerate().skip(app.offset).take(rows) {
        let selected = pos == app.selected;
        let pick = |s: Style| if selected { theme.selected } else { s };
        let head = format!(
            "  {:>4}  {:<10} {:<24} {:<6} {:>5}  ",
            e.id,
            e.state,
            truncate_cols(&sanitize_line(&e.action), 24),
            if e.demo { "DEMO" } else { "" },
            short_age(e.created_at, app.now)
        );
        let rest = width.saturating_sub(head.chars().count());
        let tail = sanitize_line(e.move_key.as_deref().unwrap_or("-"));
        let tail = truncate_cols(&tail, rest);
        let mut spans = vec![Span::styled(head, pick(state_style(e, theme)))];
        let used = width.saturating_sub(rest) + tail.chars().count();
        spans.push(Span::styled(tail, pick(theme.dim)));
        if let Some(err) = &e.error {
            let room = width.saturating_sub(used + 2);
            spans.push(Span::styled(
                format!("  {}", truncate_cols(&sanitize_line(err), room)),
                pick(theme.error),
            ));
        }
        lines.push(Line::from(spans));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// A future instant as "in 7 s" (under two minutes) or "in 5m".
fn until(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (at - now).num_seconds();
    if secs < 120 {
        format!("in {} s", secs.max(0))
    } else {
        short_age(at, now)
    }
}

/// What the entry acts on, from its payload: recipients, subject, records.
fn acts_on(e: &OutboxEntry) -> Vec<String> {
    let payload: Value = serde_json::from_str(&e.payload).unwrap_or_default();
    let text = |key: &str| {
        payload
            .get(key)
            .and_then(Value::as_str)
            .map(sanitize_line)
            .filter(|s| !s.is_empty())
    };
    let mut out = Vec::new();
    let to = recipients(e);
    if !to.is_empty() {
        out.push(format!("to {to}"));
    }
    for (key, label) in [
        ("subject", "subject"),
        ("deal_id", "deal"),
        ("to_stage", "to stage"),
        ("task_id", "task"),
        ("thread_id", "thread"),
        ("draft_id", "draft"),
    ] {
        if let Some(v) = text(key) {
            out.push(format!("{label} {v}"));
        }
    }
    for (key, label) in [
        ("contact_ids", "contacts"),
        ("deal_ids", "deals"),
        ("company_ids", "companies"),
    ] {
        let ids: Vec<String> = payload
            .get(key)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(sanitize_line).collect())
            .unwrap_or_default();
        if !ids.is_empty() {
            out.push(format!("{label} {}", ids.join(", ")));
        }
    }
    out
}

/// What the operator can do about the entry, in its state.
fn advice(app: &App, e: &OutboxEntry) -> Option<String> {
    let confirm = app.keymap.key_for(Command::Execute);
    let discard = app.keymap.key_for(Command::Skip);
    if e.demo {
        return Some("simulated by the demo: nothing left this machine".into());
    }
    Some(match e.state.as_str() {
        "parked" => format!(
            "the world changed since it was approved: {confirm} confirms it again, {discard} discards it"
        ),
        "failed" => format!("refused: {confirm} tries it again as approved, {discard} leaves it"),
        "queued" if e.error.is_some() => {
            format!("waiting for the network; it goes by itself when back online · {discard} discards it")
        }
        "queued" => format!("waiting to run · {discard} discards it"),
        "uncertain" => "may already have happened: checked with the remote side before any retry".into(),
        "running" => "running now".into(),
        _ => return None,
    })
}

fn detail(frame: &mut Frame<'_>, area: Rect, app: &App, theme: &Theme, e: &OutboxEntry) {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.dim)
        .title(Span::styled(format!(" Entry {} ", e.id), theme.title));
    let row = |label: &str, value: String, style: Style| {
        Line::from(vec![
            Span::styled(format!("  {label:<9} "), theme.dim),
            Span::styled(value, style),
        ])
    };
    let now = app.now;
    let mut lines = Vec::new();
    let kind = if e.action == SEND_ACTION { " (send)" } else { "" };
    let demo = if e.demo { " · DEMO" } else { "" };
    lines.push(row(
        "action",
        format!("{}{kind}{demo}", sanitize_line(&e.action)),
        theme.text,
    ));
    let attempts = match e.attempts {
        _ if e.demo => "simulated".to_string(),
        0 => "not tried yet".to_string(),
        1 => "1 attempt".to_string(),
        n => format!("{n} attempts"),
    };
    lines.push(row(
        "state",
        format!("{} · {attempts}", e.state),
        state_style(e, theme),
    ));
    let mut when = vec![format!("queued {} ago", short_age(e.created_at, now))];
    if let Some(at) = e.not_before.filter(|t| *t > now && e.state == "queued") {
        when.push(format!("undo window ends {}", until(at, now)));
    }
    if let Some(at) = e.next_attempt_at.filter(|t| *t > now && e.state != "done") {
        when.push(format!("next try {}", until(at, now)));
    }
    if let Some(at) = e.done_at {
        when.push(format!("done {} ago", short_age(at, now)));
    } else if e.updated_at > e.created_at {
        when.push(format!("last change {} ago", short_age(e.updated_at, now)));
    }
    lines.push(row("when", when.join(" · "), theme.text));
    let targets = acts_on(e);
    for (i, t) in targets.into_iter().enumerate() {
        lines.push(row(if i == 0 { "acts on" } else { "" }, t, theme.text));
    }
    if let Some(m) = &e.move_key {
        lines.push(row("move", sanitize_line(m), theme.dim));
    }
    if let Some(err) = &e.error {
        lines.push(row("error", sanitize_line(err), theme.error));
    }
    if let Some(id) = &e.remote_id {
        lines.push(row("remote", sanitize_line(id), theme.dim));
    }
    lines.push(row("key", sanitize_line(&e.idempotency_key), theme.dim));
    if let Some(a) = advice(app, e) {
        lines.push(Line::from(""));
        lines.push(Line::from(Span::styled(format!("  {a}"), theme.warn)));
    }
    frame.render_widget(
        Paragraph::new(lines).block(block).wrap(Wrap { trim: false }),
        area,
    );
}
