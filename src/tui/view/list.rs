//! The ranked list. Only the rows on screen are built, so 100k moves cost the same as 20.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::super::app::{App, View};
use super::super::strings;
use super::super::theme::Theme;
use crate::domain::moves::MoveState;
use crate::domain::text::truncate_cols;
use crate::domain::time::short_age;

/// A 10-cell bar for a 0–100 score, with eighth-block resolution.
pub fn aps_bar(score: f64) -> String {
    const PARTIAL: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    let eighths = (score.clamp(0.0, 100.0) / 100.0 * 80.0).round() as usize;
    let mut s = "█".repeat(eighths / 8);
    if eighths / 8 < 10 {
        s.push(PARTIAL[eighths % 8]);
    }
    while s.chars().count() < 10 {
        s.push(' ');
    }
    s
}

fn pad(s: &str, cols: usize) -> String {
    use unicode_width::UnicodeWidthStr;
    let t = truncate_cols(s, cols);
    let w = t.width();
    format!("{t}{}", " ".repeat(cols.saturating_sub(w)))
}

pub(super) fn draw(frame: &mut Frame<'_>, area: Rect, app: &App, theme: &Theme) {
    let rows = app.row_indices();
    let title = match app.view {
        View::Drafts => format!(" Drafts awaiting approval ({}) ", rows.len()),
        _ => match app
            .beyond_window()
            .filter(|r| r.actionable > rows.len() && app.filter.is_empty())
        {
            Some(r) => format!(
                " {} (top {} of {}) ",
                strings::TODAYS_MOVES,
                rows.len(),
                r.actionable
            ),
            None => format!(" {} ({}) ", strings::TODAYS_MOVES, rows.len()),
        },
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(title, theme.title))
        .border_style(theme.dim);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if rows.is_empty() {
        let text: Vec<Line> = if !app.filter.is_empty() {
            vec![Line::from(Span::styled(strings::NO_MATCH, theme.dim))]
        } else if app.updating.is_some() {
            vec![Line::from(Span::styled(strings::UPDATING_LIST, theme.dim))]
        } else if app.view == View::Drafts {
            vec![Line::from(Span::styled(strings::NO_DRAFTS, theme.dim))]
        } else {
            strings::ALL_CLEAR
                .iter()
                .map(|l| Line::from(Span::styled(*l, theme.dim)))
                .collect()
        };
        frame.render_widget(Paragraph::new(text), inner);
        return;
    }
    let width = inner.width as usize;
    // rank 4 + bar 11 + score 4 + kind 11 + who 22 + age 5 = 57 fixed columns.
    let who_w = 22.min(width.saturating_sub(40) / 2).max(8);
    let why_w = width.saturating_sub(4 + 11 + 4 + 11 + who_w + 1 + 5);
    let lines: Vec<Line> = rows
        .iter()
        .enumerate()
        .skip(app.offset)
        .take(inner.height as usize)
        .map(|(pos, &i)| {
            let m = &app.data.moves[i];
            let marker = if m.state == MoveState::Accepted {
                "✓"
            } else {
                " "
            };
            let text_style = if pos == app.selected {
                theme.selected
            } else {
                theme.text
            };
            let bar_style = if pos == app.selected {
                theme.selected
            } else {
                theme.bar
            };
            let dim = if pos == app.selected {
                theme.selected
            } else {
                theme.dim
            };
            let subject = if m.title.is_empty() {
                m.why.clone()
            } else {
                format!("{} — {}", m.title, m.why)
            };
            Line::from(vec![
                Span::styled(format!("{:>3}{marker}", pos + 1), dim),
                Span::styled(format!("{} ", aps_bar(m.aps.score)), bar_style),
                Span::styled(format!("{:>3} ", m.aps.score.round() as i64), text_style),
                Span::styled(format!("{:<10} ", m.kind.label()), dim),
                Span::styled(format!("{} ", pad(&m.who, who_w)), text_style),
                Span::styled(pad(&subject, why_w), text_style),
                Span::styled(format!(" {:>4}", short_age(m.signal_at, app.now)), dim),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

#[cfg(test)]
mod tests {
    use super::aps_bar;

    #[test]
    fn bar_has_ten_cells_and_scales() {
        assert_eq!(aps_bar(0.0).chars().count(), 10);
        assert_eq!(aps_bar(100.0), "██████████");
        assert_eq!(aps_bar(50.0), "█████     ");
        assert_eq!(aps_bar(55.0).chars().nth(5), Some('▌'));
        assert_eq!(aps_bar(150.0), "██████████");
    }
}
