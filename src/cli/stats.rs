//! `casey stats [--json] [--days N]`: what was recommended, decided and executed, the funnel,
//! the APS distribution and the health of each connector (see [`crate::stats`] for what each
//! number means).

use super::commands::open_store;
use super::{Context, output};
use crate::domain::text::sanitize_line;
use crate::stats::{Stats, millis, percent};

/// Prints the stats of the last `days` days as text tables or JSON.
pub fn run(ctx: &Context, json: bool, days: u32) -> anyhow::Result<()> {
    let mut store = open_store(ctx, ctx.demo, false)?;
    // As the TUI does when it opens: moves seen for the first time now are counted too.
    crate::today::record_outcomes(&mut store, &ctx.config, ctx.clock.now())?;
    super::commands::settle_for_reading(ctx, &store)?;
    let stats = Stats::compute(&store, ctx.clock.now(), days)?;
    if json {
        return output::print(&format!("{}\n", serde_json::to_string_pretty(&stats)?));
    }
    output::print(&text(&stats))
}

/// The plain-text report.
pub fn text(s: &Stats) -> String {
    let mut out = String::new();
    let first = s.daily.first().map(|d| d.date.to_string()).unwrap_or_default();
    let last = s.daily.last().map(|d| d.date.to_string()).unwrap_or_default();
    out.push_str(&format!(
        "Stats for the last {} day{} ({first} to {last}, UTC days)\n\n",
        s.days,
        if s.days == 1 { "" } else { "s" }
    ));
    out.push_str("Moves per day\n");
    let row = |label: &str, g: u64, a: u64, sk: u64, sn: u64, e: u64| {
        format!("  {label:<10} {g:>9} {a:>9} {sk:>8} {sn:>8} {e:>9}\n")
    };
    out.push_str(&format!(
        "  {:<10} {:>9} {:>9} {:>8} {:>8} {:>9}\n",
        "date", "generated", "accepted", "skipped", "snoozed", "executed"
    ));
    for d in &s.daily {
        out.push_str(&row(
            &d.date.to_string(),
            d.generated,
            d.accepted,
            d.skipped,
            d.snoozed,
            d.executed,
        ));
    }
    let t = &s.totals;
    out.push_str(&row(
        "total",
        t.generated,
        t.accepted,
        t.skipped,
        t.snoozed,
        t.executed,
    ));
    out.push_str(&format!(
        "  acceptance rate: {} ({} of {} decided moves accepted or executed; {} undone)\n\n",
        percent(s.acceptance_rate),
        s.decided_taken,
        s.decided,
        t.undone
    ));
    out.push_str("Funnel (distinct moves)\n");
    out.push_str(&format!(
        "  {:<14} {:>6} {:>12}\n",
        "stage", "moves", "of previous"
    ));
    for (i, f) in s.funnel.iter().enumerate() {
        let rate = if i == 0 { String::new() } else { percent(f.rate) };
        let line = format!("  {:<14} {:>6} {:>12}", f.stage, f.moves, rate);
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let outcomes: Vec<String> = s
        .outcomes
        .iter()
        .map(|o| format!("{} {}", o.outcome, o.count))
        .collect();
    out.push_str(&format!("  outcomes: {}\n\n", outcomes.join(" · ")));
    out.push_str("APS of new moves\n");
    let max = s.aps.iter().map(|b| b.count).max().unwrap_or(0).max(1);
    for b in &s.aps {
        let bar = "█".repeat((b.count * 40).div_ceil(max) as usize);
        let line = format!("  {:<7} {:>5} {bar}", b.label(), b.count);
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push('\n');
    out.push_str("Integrations\n");
    out.push_str(&format!(
        "  {:<10} {:>6} {:>7} {:>6} {:>9} {:>9}  {}\n",
        "connector", "calls", "errors", "error%", "p50", "p95", "last success"
    ));
    for c in &s.integrations {
        let last = c.last_success.map_or_else(
            || "never".to_string(),
            |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
        );
        out.push_str(&format!(
            "  {:<10} {:>6} {:>7} {:>6} {:>9} {:>9}  {last}\n",
            sanitize_line(&c.connector),
            c.calls,
            c.errors,
            percent(c.error_rate),
            millis(c.p50_ms),
            millis(c.p95_ms),
        ));
    }
    out
}
