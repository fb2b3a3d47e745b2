//! The detail pane: score breakdown, what would move it, CRM context, thread and draft.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::super::app::App;
use super::super::theme::Theme;
use crate::domain::moves::{Move, MoveContext, MoveState};
use crate::domain::text::{sanitize_line, sanitize_multiline, truncate_cols};
use crate::domain::time::short_age;

/// Lines of a body shown per message in the pane (more in the full detail view).
const BODY_LINES: usize = 4;
const BODY_LINES_FULL: usize = 40;

pub(super) fn draw(frame: &mut Frame<'_>, area: Rect, app: &App, theme: &Theme, full: bool) {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.dim)
        .title(Span::styled(
            if full {
                " Detail · Esc to close "
            } else {
                " Detail "
            },
            theme.title,
        ));
    let Some(m) = app.selected_move() else {
        frame.render_widget(block, area);
        return;
    };
    let empty = MoveContext::default();
    let ctx = app.data.contexts.get(&m.key).unwrap_or(&empty);
    let lines = lines(m, ctx, app, theme, full, area.width.saturating_sub(2) as usize);
    let scroll = if full { app.detail_scroll } else { 0 };
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        area,
    );
}

fn money(v: f64) -> String {
    let whole = v.round() as i64;
    let s = whole.abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    format!("{}${out}", if whole < 0 { "-" } else { "" })
}

/// `LOGISTICS_AND_SUPPLY_CHAIN` → `Logistics and supply chain` (HubSpot enum values).
fn humanize(s: &str) -> String {
    if !s.contains('_') || s.chars().any(|c| c.is_lowercase()) {
        return s.to_string();
    }
    let lower = s.replace('_', " ").to_lowercase();
    let mut chars = lower.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn section<'a>(title: &str, theme: &Theme) -> Line<'a> {
    Line::from(Span::styled(title.to_string(), theme.title))
}

/// Builds the pane's lines (public for the `explain` command's plain-text twin).
pub(super) fn lines<'a>(
    m: &Move,
    ctx: &MoveContext,
    app: &App,
    theme: &Theme,
    full: bool,
    width: usize,
) -> Vec<Line<'a>> {
    let mut out: Vec<Line> = Vec::new();
    let state = match &m.state {
        MoveState::Accepted => " · accepted".to_string(),
        MoveState::Open => String::new(),
        other => format!(" · {}", other.as_str()),
    };
    out.push(Line::from(vec![
        Span::styled(format!("APS {:.1}  ", m.aps.score), theme.title),
        Span::styled(truncate_cols(&m.title, width.saturating_sub(12)), theme.text),
        Span::styled(state, theme.warn),
    ]));
    out.push(Line::from(vec![
        Span::styled(format!("{} · ", m.kind.as_str()), theme.dim),
        Span::styled(m.why.clone(), theme.text),
    ]));
    let mut action = vec![
        Span::styled(app.keymap.key_for(super::Command::Execute), theme.key),
        Span::styled(format!(" {}", m.action.label()), theme.text),
    ];
    if m.subject.draft_id.is_some() && m.action != crate::domain::moves::PrimaryAction::ApproveDraft {
        action.push(Span::styled("   ", theme.text));
        action.push(Span::styled(
            app.keymap.key_for(super::Command::Approve),
            theme.key,
        ));
        action.push(Span::styled(" approve the draft", theme.text));
    }
    out.push(Line::from(action));
    out.push(Line::from(""));
    out.push(section("Why this score", theme));
    let (_, explained) = crate::domain::aps::explain(&m.features, &app.weights);
    for p in &explained {
        let style = if p.points < -0.05 { theme.warn } else { theme.good };
        out.push(Line::from(vec![
            Span::styled(format!("  {:>+6.1} ", p.points), style),
            Span::styled(format!("{:<8} ", p.name), theme.text),
            Span::styled(p.why.clone(), theme.dim),
        ]));
    }
    let what_if = crate::domain::aps::what_would_move(&m.features, &app.weights);
    let up = what_if
        .iter()
        .filter(|w| w.delta > 0.0)
        .max_by(|a, b| a.delta.total_cmp(&b.delta));
    let down = what_if
        .iter()
        .filter(|w| w.delta < 0.0)
        .min_by(|a, b| a.delta.total_cmp(&b.delta));
    let mut moves_it = vec![Span::styled("  what would move it: ", theme.dim)];
    if let Some(u) = up {
        moves_it.push(Span::styled(
            format!("↑ {:+.1} if {}", u.delta, u.event),
            theme.good,
        ));
    }
    if let Some(d) = down {
        if up.is_some() {
            moves_it.push(Span::styled(" · ", theme.dim));
        }
        moves_it.push(Span::styled(
            format!("↓ {:+.1} if {}", d.delta, d.event),
            theme.warn,
        ));
    }
    if up.is_some() || down.is_some() {
        out.push(Line::from(moves_it));
    }
    out.push(Line::from(""));
    context_lines(&mut out, ctx, theme);
    thread_lines(&mut out, ctx, app, theme, full);
    if let Some(d) = &ctx.draft {
        out.push(Line::from(""));
        let to: Vec<String> = d.to.iter().map(|t| sanitize_line(&t.email)).collect();
        out.push(section(
            &format!(
                "Draft to {} — {} (written {} ago)",
                to.join(", "),
                sanitize_line(&d.subject),
                short_age(d.updated_at, app.now)
            ),
            theme,
        ));
        let limit = if full { usize::MAX } else { BODY_LINES + 2 };
        for l in sanitize_multiline(&d.body).lines().take(limit) {
            out.push(Line::from(Span::styled(format!("    {l}"), theme.text)));
        }
    }
    out
}

fn context_lines(out: &mut Vec<Line<'_>>, ctx: &MoveContext, theme: &Theme) {
    if ctx.contact.is_none() && ctx.company.is_none() && ctx.deal.is_none() && ctx.task.is_none() {
        return;
    }
    out.push(section("Context", theme));
    let row = |label: &str, value: String| {
        Line::from(vec![
            Span::styled(format!("  {label:<8} "), theme.dim),
            Span::styled(value, theme.text),
        ])
    };
    if let Some(c) = &ctx.contact {
        let mut parts = vec![sanitize_line(&c.display_name())];
        if let Some(t) = &c.job_title {
            parts.push(sanitize_line(t));
        }
        if let Some(e) = &c.email {
            parts.push(sanitize_line(e));
        }
        if let Some(l) = &c.lifecycle_stage {
            parts.push(format!("lifecycle {}", sanitize_line(l)));
        }
        out.push(row("Contact", parts.join(" — ")));
    }
    if let Some(c) = &ctx.company {
        let mut parts = vec![sanitize_line(c.name.as_deref().unwrap_or("(unnamed company)"))];
        if let Some(i) = &c.industry {
            parts.push(humanize(&sanitize_line(i)));
        }
        if let Some(e) = c.employees {
            parts.push(format!("{e} people"));
        }
        out.push(row("Company", parts.join(" — ")));
    }
    if let Some(d) = &ctx.deal {
        let mut parts = vec![sanitize_line(&d.name)];
        if let Some(a) = d.amount {
            parts.push(money(a));
        }
        if let Some(s) = &ctx.stage {
            parts.push(format!(
                "{} ({:.0}%)",
                sanitize_line(&s.label),
                s.probability * 100.0
            ));
        }
        if let Some(c) = d.close_date {
            parts.push(format!("closes {}", c.format("%a %d %b %Y")));
        }
        out.push(row("Deal", parts.join(" — ")));
    }
    if let Some(t) = &ctx.task {
        let mut parts = vec![sanitize_line(&t.subject), t.status.clone()];
        if let Some(p) = &t.priority {
            parts.push(format!("priority {p}"));
        }
        if let Some(d) = t.due_at {
            parts.push(format!("due {}", d.format("%a %d %b")));
        }
        out.push(row("Task", parts.join(" — ")));
        if let Some(b) = t.body.as_deref().filter(|b| !b.trim().is_empty()) {
            out.push(row("", sanitize_line(b)));
        }
    }
    out.push(Line::from(""));
}

fn thread_lines(out: &mut Vec<Line<'_>>, ctx: &MoveContext, app: &App, theme: &Theme, full: bool) {
    if ctx.thread.is_empty() {
        return;
    }
    let title = match (ctx.thread.len(), ctx.thread_len) {
        (1, 1) => "Thread (1 message)".to_string(),
        (shown, all) if shown == all => format!("Thread ({all} messages)"),
        (shown, all) => format!("Thread (last {shown} of {all} messages)"),
    };
    out.push(section(&title, theme));
    let per = if full { BODY_LINES_FULL } else { BODY_LINES };
    for msg in &ctx.thread {
        let who = if msg.outbound {
            "you".to_string()
        } else {
            sanitize_line(msg.from.label())
        };
        out.push(Line::from(vec![
            Span::styled(
                format!("  {who}"),
                if msg.outbound { theme.dim } else { theme.key },
            ),
            Span::styled(
                format!(
                    " · {} ago · {}",
                    short_age(msg.at, app.now),
                    sanitize_line(&msg.subject)
                ),
                theme.dim,
            ),
        ]));
        let body = sanitize_multiline(&msg.body);
        let text = if body.trim().is_empty() {
            sanitize_line(&msg.snippet)
        } else {
            body
        };
        for l in text.lines().filter(|l| !l.trim().is_empty()).take(per) {
            out.push(Line::from(Span::styled(format!("    {l}"), theme.text)));
        }
    }
}
