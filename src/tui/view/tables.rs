//! The Stats view.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::super::app::App;
use super::super::theme::Theme;
use crate::domain::moves::MoveKind;

pub(super) fn stats(frame: &mut Frame<'_>, area: Rect, app: &App, theme: &Theme) {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.dim)
        .title(Span::styled(" Stats ", theme.title));
    let mut lines = vec![Line::from(Span::styled(
        format!(
            "  {:<14} {:>5} {:>9} {:>6} {:>8} {:>8}",
            "move type", "open", "accepted", "done", "skipped", "snoozed"
        ),
        theme.dim,
    ))];
    let mut totals = [0usize; 5];
    for kind in MoveKind::ALL {
        let mut row = [0usize; 5];
        for m in app.data.moves.iter().filter(|m| m.kind == kind) {
            let i = match m.state.as_str() {
                "open" => 0,
                "accepted" => 1,
                "done" => 2,
                "skipped" => 3,
                _ => 4,
            };
            row[i] += 1;
            totals[i] += 1;
        }
        lines.push(Line::from(Span::styled(
            format!(
                "  {:<14} {:>5} {:>9} {:>6} {:>8} {:>8}",
                kind.as_str(),
                row[0],
                row[1],
                row[2],
                row[3],
                row[4]
            ),
            theme.text,
        )));
    }
    lines.push(Line::from(Span::styled(
        format!(
            "  {:<14} {:>5} {:>9} {:>6} {:>8} {:>8}",
            "total", totals[0], totals[1], totals[2], totals[3], totals[4]
        ),
        theme.title,
    )));
    lines.push(Line::from(""));
    let scores: Vec<f64> = app
        .data
        .moves
        .iter()
        .filter(|m| m.state.is_actionable())
        .map(|m| m.aps.score)
        .collect();
    if !scores.is_empty() {
        let mean = scores.iter().sum::<f64>() / scores.len() as f64;
        let max = scores.iter().copied().fold(0.0, f64::max);
        lines.push(Line::from(Span::styled(
            format!(
                "  APS of open moves: mean {mean:.1} · max {max:.1} · {} moves",
                scores.len()
            ),
            theme.text,
        )));
        lines.push(Line::from(""));
    }
    lines.push(Line::from(Span::styled(
        "  Local events (never leave this machine)",
        theme.dim,
    )));
    if app.data.telemetry.is_empty() {
        lines.push(Line::from(Span::styled("  none yet", theme.dim)));
    }
    for (event, n) in &app.data.telemetry {
        lines.push(Line::from(Span::styled(
            format!("  {event:<28} {n:>6}"),
            theme.text,
        )));
    }
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
