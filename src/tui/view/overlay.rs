//! Overlays and whole-body messages: help, onboarding.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::super::app::App;
use super::super::keymap::{ACTIONS, Command};
use super::super::strings;
use super::super::theme::Theme;

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let [v] = Layout::vertical([Constraint::Length(h.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [c] = Layout::horizontal([Constraint::Length(w.min(area.width))])
        .flex(Flex::Center)
        .areas(v);
    c
}

pub(super) fn help(frame: &mut Frame<'_>, area: Rect, app: &App, theme: &Theme) {
    let mut lines: Vec<Line> = ACTIONS
        .iter()
        .map(|(_, cmd, what)| {
            Line::from(vec![
                Span::styled(format!("  {:<14}", app.keymap.keys_for(*cmd)), theme.key),
                Span::styled(what.to_string(), theme.text),
            ])
        })
        .collect();
    let key = |cmd| app.keymap.key_for(cmd);
    lines.push(Line::from(""));
    for (view, what) in [
        (
            "In Drafts",
            format!(
                "{} discards the draft ({} takes it back)",
                key(Command::Skip),
                key(Command::Undo)
            ),
        ),
        (
            "In Outbox",
            format!(
                "{}/{} confirm a parked or failed entry again · {} discards a waiting one",
                key(Command::Execute),
                key(Command::Approve),
                key(Command::Skip)
            ),
        ),
    ] {
        lines.push(Line::from(vec![
            Span::styled(format!("  {view:<14}"), theme.key),
            Span::styled(what, theme.text),
        ]));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        "  Keys are rebindable in [keys] of your config · Esc closes",
        theme.dim,
    )));
    let rect = centered(area, 88, lines.len() as u16 + 2);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(Span::styled(" Keys ", theme.title)),
        ),
        rect,
    );
}

pub(super) fn onboarding(frame: &mut Frame<'_>, area: Rect, theme: &Theme) {
    let lines: Vec<Line> = strings::ONBOARDING
        .iter()
        .enumerate()
        .map(|(i, l)| Line::from(Span::styled(*l, if i == 0 { theme.title } else { theme.text })))
        .collect();
    let rect = centered(area, 76, lines.len() as u16 + 2);
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).border_style(theme.dim)),
        rect,
    );
}
