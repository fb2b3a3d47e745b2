//! The Stats view: daily activity as sparklines, the APS distribution and executions per day
//! as bar charts, the funnel and the health of each connector as tables. Every number comes
//! from [`crate::stats::Stats`] (computed by the runtime); nothing here reads the store.
//!
//! Readable without colour: bars are block characters, days without activity show `·`.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, BarGroup, Block, Borders, Paragraph, Row, Sparkline, Table};

use super::super::app::{App, Source};
use super::super::theme::Theme;
use crate::domain::text::{sanitize_line, truncate_cols};
use crate::domain::time::short_age;
use crate::stats::{Stats, percent};

/// Rows of the top and bottom bands (borders included).
const BAND: u16 = 8;
/// Tallest the executions-per-day chart gets.
const CHART_MAX: u16 = 20;
/// Shortest the executions-per-day chart is worth drawing.
const CHART_MIN: u16 = 6;

fn block<'a>(title: String, theme: &Theme) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(theme.dim)
        .title(Span::styled(title, theme.title))
}

pub(super) fn stats(frame: &mut Frame<'_>, area: Rect, app: &App, theme: &Theme) {
    if !app.stats_loaded {
        // Counted off the screen's thread; tens of milliseconds on a big mirror.
        let text = if app.stats_loading {
            format!(" Counting the last {} days…", crate::stats::DEFAULT_DAYS)
        } else {
            " The numbers could not be counted; Tab away and back to try again.".to_string()
        };
        frame.render_widget(
            Paragraph::new(Span::styled(text, theme.dim)).block(block(" Stats ".into(), theme)),
            area,
        );
        return;
    }
    let s = &app.data.stats;
    let chart = area.height.saturating_sub(2 * BAND).min(CHART_MAX);
    let chart = if chart >= CHART_MIN { chart } else { 0 };
    let [top, middle, bottom, _] = Layout::vertical([
        Constraint::Length(BAND),
        Constraint::Length(chart),
        Constraint::Length(BAND),
        Constraint::Min(0),
    ])
    .areas(area);
    let [days, aps] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(top);
    daily(frame, days, s, app.stats_loading, theme);
    aps_chart(frame, aps, s, theme);
    if chart > 0 {
        executed_chart(frame, middle, s, theme);
    }
    let [funnel_area, health_area] =
        Layout::horizontal([Constraint::Length(32), Constraint::Min(20)]).areas(bottom);
    funnel(frame, funnel_area, s, theme);
    health(frame, health_area, app, theme);
}

/// One sparkline per count, one column per day (the latest days when narrow); the title says
/// when newer numbers are being counted.
fn daily(frame: &mut Frame<'_>, area: Rect, s: &Stats, updating: bool, theme: &Theme) {
    let more = if updating { "· updating… " } else { "" };
    let outer = block(format!(" Last {} days (UTC) {more}", s.days), theme);
    let inner = outer.inner(area);
    frame.render_widget(outer, area);
    let t = &s.totals;
    let series: [(&str, u64, Vec<u64>); 5] = [
        (
            "generated",
            t.generated,
            s.daily.iter().map(|d| d.generated).collect(),
        ),
        (
            "accepted",
            t.accepted,
            s.daily.iter().map(|d| d.accepted).collect(),
        ),
        ("skipped", t.skipped, s.daily.iter().map(|d| d.skipped).collect()),
        ("snoozed", t.snoozed, s.daily.iter().map(|d| d.snoozed).collect()),
        (
            "executed",
            t.executed,
            s.daily.iter().map(|d| d.executed).collect(),
        ),
    ];
    let rows = Layout::vertical([Constraint::Length(1); 6]).split(inner);
    for (i, (label, total, values)) in series.iter().enumerate() {
        let Some(&row) = rows.get(i) else { break };
        let [text, spark] = Layout::horizontal([Constraint::Length(16), Constraint::Min(0)]).areas(row);
        frame.render_widget(
            Paragraph::new(Span::styled(format!(" {label:<10}{total:>4} "), theme.text)),
            text,
        );
        let shown = values.len().min(spark.width as usize);
        let tail = &values[values.len() - shown..];
        // A day with any activity shows at least the lowest bar, however busy the top day.
        let floor = tail.iter().copied().max().unwrap_or(0).div_ceil(8);
        let data: Vec<Option<u64>> = tail.iter().map(|&v| (v > 0).then_some(v.max(floor))).collect();
        frame.render_widget(
            Sparkline::default()
                .data(data)
                .style(theme.bar)
                .absent_value_symbol("·")
                .absent_value_style(theme.dim),
            spark,
        );
    }
    if let Some(&row) = rows.get(5) {
        let line = format!(
            " accepted {} ({} of {} decided)",
            percent(s.acceptance_rate),
            s.decided_taken,
            s.decided
        );
        frame.render_widget(Paragraph::new(Span::styled(line, theme.title)), row);
    }
}

/// Bar width and gap so that `n` bars fill at most `width` columns (at least 1 column each).
fn bar_width(width: u16, n: u16, max: u16) -> u16 {
    ((width + 1) / n.max(1)).saturating_sub(1).clamp(1, max)
}

/// The APS of newly generated moves in ten buckets.
fn aps_chart(frame: &mut Frame<'_>, area: Rect, s: &Stats, theme: &Theme) {
    let outer = block(" APS of new moves ".to_string(), theme);
    let inner = outer.inner(area);
    let bars: Vec<Bar<'_>> = s
        .aps
        .iter()
        .map(|b| {
            Bar::default()
                .value(b.count)
                .label(Line::from(b.from.to_string()))
        })
        .collect();
    let chart = BarChart::default()
        .block(outer)
        .data(BarGroup::default().bars(&bars))
        .bar_width(bar_width(inner.width, 10, 6))
        .bar_gap(1)
        .bar_style(theme.bar)
        .value_style(theme.selected)
        .label_style(theme.dim);
    frame.render_widget(chart, area);
}

/// Moves executed on each day (as many of the latest days as fit).
fn executed_chart(frame: &mut Frame<'_>, area: Rect, s: &Stats, theme: &Theme) {
    let outer = block(" Moves executed per day ".to_string(), theme);
    let inner = outer.inner(area);
    let width = bar_width(inner.width, s.daily.len() as u16, 5).max(2);
    let fit = ((inner.width + 1) / (width + 1)) as usize;
    let shown = s.daily.len().min(fit);
    let bars: Vec<Bar<'_>> = s.daily[s.daily.len() - shown..]
        .iter()
        .map(|d| {
            Bar::default()
                .value(d.executed)
                .label(Line::from(d.date.format("%d").to_string()))
        })
        .collect();
    let chart = BarChart::default()
        .block(outer)
        .data(BarGroup::default().bars(&bars))
        .bar_width(width)
        .bar_gap(1)
        .bar_style(theme.bar)
        .value_style(theme.selected)
        .label_style(theme.dim);
    frame.render_widget(chart, area);
}

/// draft → sent → reply → meeting → deal advanced, with each stage's share of the one before.
fn funnel(frame: &mut Frame<'_>, area: Rect, s: &Stats, theme: &Theme) {
    let rows: Vec<Row<'_>> = s
        .funnel
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let rate = if i == 0 { String::new() } else { percent(f.rate) };
            Row::new(vec![
                f.stage.replace('_', " "),
                format!("{:>5}", f.moves),
                format!("{rate:>7}"),
            ])
            .style(theme.text)
        })
        .collect();
    let table = Table::new(
        rows,
        [
            Constraint::Length(13),
            Constraint::Length(5),
            Constraint::Length(7),
        ],
    )
    .header(Row::new(vec!["stage", "moves", "of prev"]).style(theme.dim))
    .block(block(" Funnel ".to_string(), theme));
    frame.render_widget(table, area);
}

/// Calls, error rate, latency percentiles and the last success of each connector.
fn health(frame: &mut Frame<'_>, area: Rect, app: &App, theme: &Theme) {
    let s = &app.data.stats;
    let dash = |v: Option<u64>| v.map_or_else(|| "–".to_string(), |v| v.to_string());
    let rows: Vec<Row<'_>> = s
        .integrations
        .iter()
        .map(|c| {
            let last = c
                .last_success
                .map_or_else(|| "never".to_string(), |t| short_age(t, s.now));
            Row::new(vec![
                truncate_cols(&sanitize_line(&c.connector), 9),
                format!("{:>5}", c.calls),
                format!("{:>5}", percent(c.error_rate)),
                format!("{:>6}", dash(c.p50_ms)),
                format!("{:>6}", dash(c.p95_ms)),
                format!("{last:>7}"),
            ])
            .style(theme.text)
        })
        .collect();
    let note = if app.source == Source::Demo {
        Some("DEMO: simulated, no API calls")
    } else if s.integrations.iter().all(|c| c.calls == 0) {
        Some("no API calls recorded yet")
    } else {
        None
    };
    let outer = block(" Integrations ".to_string(), theme);
    let inner = outer.inner(area);
    frame.render_widget(outer, area);
    let table = Table::new(
        rows,
        [
            Constraint::Length(9),
            Constraint::Length(5),
            Constraint::Length(5),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Length(7),
        ],
    )
    .header(Row::new(vec!["connector", "calls", "err%", "p50ms", "p95ms", "last ok"]).style(theme.dim));
    frame.render_widget(table, inner);
    if let Some(note) = note
        && inner.height > 4
    {
        let line = Rect {
            y: inner.y + inner.height - 1,
            height: 1,
            ..inner
        };
        frame.render_widget(Paragraph::new(Span::styled(note, theme.dim)), line);
    }
}
