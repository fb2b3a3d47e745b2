//! Phase timings on a mirror (BENCHMARKS.md, "Where the time goes"): what opening, settling,
//! reading the ranking, a slice, the Stats and one decision cost, one line each.
//!
//!     cargo run --release --example profile_scale -- DATA_DIR
//!
//! Run it against a copy: it records one decision. DATA_DIR holds `casey.db` (for instance
//! one written by `examples/synth_mirror.rs`, settled once by `casey moves`). The clock is the
//! synthetic mirror's, 2026-11-20T15:00:00Z.

use std::collections::HashSet;
use std::time::Instant;

use caseyos::config::Config;
use caseyos::domain::MoveState;
use caseyos::domain::entities::MessageRecord;
use caseyos::store::{MirrorBatch, RankedFilter, Store};
use caseyos::tui::app::Want;
use caseyos::tui::runtime::read_snapshot;

/// Runs `f`, printing how long it took.
fn time<T>(name: &str, f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    let t = Instant::now();
    let out = f()?;
    eprintln!("{name:<28} {:>8.1} ms", t.elapsed().as_secs_f64() * 1000.0);
    Ok(out)
}

fn main() -> anyhow::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: profile_scale DATA_DIR"))?;
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-20T15:00:00Z")?.with_timezone(&chrono::Utc);
    let config = Config::default();
    let mut store = time("open", || {
        Ok(Store::open(&std::path::Path::new(&dir).join("casey.db"))?)
    })?;
    let units = time("all units", || Ok(store.all_units()?))?;
    let chunk: HashSet<String> = units
        .iter()
        .step_by((units.len() / 500).max(1))
        .take(500)
        .cloned()
        .collect();
    let ev = time("learning evidence", || Ok(store.learning_evidence(now, 14)?))?;
    time("pipeline scale", || Ok(store.pipeline_scale()?))?;
    let (mirror, ctx) = time("load a slice of 500 units", || Ok(store.load_slice(&chunk)?))?;
    time("detect the slice", || {
        Ok(caseyos::domain::detect::detect_units(
            &mirror,
            &ctx,
            &chunk,
            &ev,
            now,
            &config.moves,
            &config.aps,
        ))
    })?;
    time("settle (nothing to do)", || {
        Ok(caseyos::today::settle(&store, &config, now, |_, _| {})?)
    })?;
    time("ranked window (500)", || {
        Ok(store.ranked(RankedFilter::All, 0, 500, &config.aps)?)
    })?;
    time("ranked counts", || Ok(store.ranked_counts()?))?;
    time("ranked summary", || Ok(store.ranked_summary()?))?;
    time("mirror counts", || Ok(store.counts()?))?;
    time("stats", || {
        Ok(caseyos::stats::Stats::compute(
            &store,
            now,
            caseyos::stats::DEFAULT_DAYS,
        )?)
    })?;
    time("record outcomes", || {
        Ok(caseyos::today::record_outcomes(&mut store, &config, now)?)
    })?;
    let want = Want {
        window: caseyos::tui::app::WINDOW,
        contexts: None,
    };
    time("TUI first read", || {
        Ok(read_snapshot(&store, &config, &want, true)?)
    })?;
    let top = store.ranked(RankedFilter::Actionable, 0, 1, &config.aps)?;
    let key = top
        .first()
        .map(|m| m.key.clone())
        .ok_or_else(|| anyhow::anyhow!("no moves in {dir}"))?;
    time("a: decide", || {
        Ok(caseyos::actions::decide(&store, &key, &MoveState::Accepted, now)?)
    })?;
    time("a: settle", || {
        Ok(caseyos::today::settle(&store, &config, now, |_, _| {})?)
    })?;
    time("a: TUI read", || {
        Ok(read_snapshot(&store, &config, &want, false)?)
    })?;
    // A minute later (what the open TUI's background pass does every minute on the wall
    // clock): every score re-timed from its features, wake-ups and the top re-detected.
    let mut now = now;
    for minute in 1..=2 {
        now += chrono::Duration::minutes(1);
        let settled = time(&format!("minute {minute} later: re-time"), || {
            Ok(caseyos::today::settle(&store, &config, now, |_, _| {})?)
        })?;
        let (frames, _) = store.checkpoint()?;
        eprintln!("  ({} units re-detected, {frames} pages written)", settled.units);
    }

    // Sync pages that each change 10 threads (a new reply in each) and 5 deals (their close
    // dates move a week), different ones each round. Before each page the write-ahead log is
    // copied back into the file (a checkpoint, which SQLite otherwise runs inside whichever
    // commit fills the log: the TUI leaves that to its background connection), so each round
    // times the page's own work.
    let of = |kind: &str| -> Vec<String> { units.iter().filter(|u| u.starts_with(kind)).cloned().collect() };
    let (all_threads, all_deals) = (of("thread:"), of("deal:"));
    let mut settles = Vec::new();
    let mut checkpoints = Vec::new();
    let mut changed = Vec::new();
    for round in 0..ROUNDS {
        let threads: HashSet<String> = all_threads.iter().skip(round * 10).take(10).cloned().collect();
        let deals: HashSet<String> = all_deals.iter().skip(round * 5).take(5).cloned().collect();
        let (batch, deals_changed) = sync_page(&store, &threads, &deals, now)?;
        changed = deals_changed;
        if round == 0 {
            // What the phases above left in the log.
            let t = Instant::now();
            let (frames, _) = store.checkpoint()?;
            checkpoints.push((t.elapsed().as_secs_f64() * 1000.0, frames));
        }
        store.apply_batch(&batch)?;
        let t = Instant::now();
        let settled = caseyos::today::settle(&store, &config, now, |_, _| {})?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        let t = Instant::now();
        let (frames, _) = store.checkpoint()?;
        let cp = t.elapsed().as_secs_f64() * 1000.0;
        checkpoints.push((cp, frames));
        eprintln!(
            "sync page {round:>2}: {} messages, {} deals · re-detect {:>3} units {ms:>6.1} ms · {frames} pages written, checkpoint {cp:.1} ms",
            batch.messages.len(),
            batch.deals.len(),
            settled.units,
        );
        settles.push(ms);
    }
    settles.sort_by(f64::total_cmp);
    eprintln!(
        "{:<28} {:>8.1} ms   (median of {ROUNDS}; {:.1}–{:.1} ms)",
        "sync: re-detect a page",
        settles[ROUNDS / 2],
        settles[0],
        settles[ROUNDS - 1]
    );
    let mut cp: Vec<f64> = checkpoints.iter().skip(1).map(|c| c.0).collect();
    cp.sort_by(f64::total_cmp);
    eprintln!(
        "{:<28} {:>8.1} ms   (median after a page; the one before the first, after the phases above: {:.1} ms for {} pages)",
        "checkpoint after a page",
        cp[cp.len() / 2],
        checkpoints[0].0,
        checkpoints[0].1
    );

    // Pages whose deal amounts move the revenue scale: a little (the median moves with a
    // few amounts) and a lot (a new largest deal): every stored score is brought to the new
    // scale from its features; only the moves whose shown score moved are written.
    for (what, bump) in [("the median", 1_000.0), ("the top deal", 10_000_000.0)] {
        let mut batch = MirrorBatch::default();
        for (i, d) in changed.iter().enumerate() {
            let mut d = d.clone();
            let more = if i == 0 { bump } else { 1_000.0 };
            d.amount = Some(d.amount.unwrap_or(0.0) + more);
            batch.deals.push((d, "{}".to_string()));
        }
        store.apply_batch(&batch)?;
        let t = Instant::now();
        let settled = caseyos::today::settle(&store, &config, now, |_, _| {})?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        let (frames, _) = store.checkpoint()?;
        eprintln!(
            "{:<28} {ms:>8.1} ms   ({} units re-detected, re-scaled: {}, {frames} pages written)",
            format!("sync: 5 amounts, {what}"),
            settled.units,
            settled.rescored
        );
    }
    Ok(())
}

/// Rounds of [`sync_page`] timed.
const ROUNDS: usize = 11;

/// A sync page: a new reply in each of `threads` (from the other side, 30 minutes ago) and
/// the close date of each of `deals` a week later (amounts stay, so the revenue scale does).
fn sync_page(
    store: &Store,
    threads: &HashSet<String>,
    deals: &HashSet<String>,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<(MirrorBatch, Vec<caseyos::domain::entities::Deal>)> {
    let (slice, _) = store.load_slice(&threads.union(deals).cloned().collect())?;
    let mut batch = MirrorBatch::default();
    for t in threads.iter().filter_map(|u| u.strip_prefix("thread:")) {
        let Some(last) = slice.messages.iter().rev().find(|m| m.thread_id == t) else {
            continue;
        };
        let mut reply = last.clone();
        reply.id = format!("{}-reply", last.id);
        reply.outbound = false;
        reply.automated = false;
        if last.outbound {
            reply.from = last.to.first().cloned().unwrap_or_else(|| last.from.clone());
            reply.to = vec![last.from.clone()];
        }
        reply.at = now - chrono::Duration::minutes(30);
        reply.message_id_header = Some(format!("<{}@reply.example>", reply.id));
        batch.messages.push(MessageRecord::new(reply, None));
    }
    let changed: Vec<_> = slice
        .deals
        .iter()
        .filter(|d| deals.contains(&format!("deal:{}", d.id)))
        .cloned()
        .collect();
    for d in &changed {
        let mut d = d.clone();
        d.close_date = Some(d.close_date.unwrap_or(now) + chrono::Duration::days(7));
        batch.deals.push((d, "{}".to_string()));
    }
    Ok((batch, changed))
}
