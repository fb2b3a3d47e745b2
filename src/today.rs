//! Today's Moves: detection over the mirror plus the operator's stored decisions, kept in the
//! mirror's `ranked_moves` table.
//!
//! A change to the mirror marks what it touched (`move_dirty`, by triggers, in the change's own
//! transaction). [`settle`] brings the stored ranking to a clock: the dirty detection units
//! (`thread:`, `deal:`, `contact:`, `task:`, `draft:`) are re-detected from a slice read with
//! indexed queries; a later clock re-scores every move from its stored features and re-detects
//! only the units whose wake-up time passed (a follow-up falls due, a deal goes stale) and the
//! top of the list (its "3h ago" texts); a new configuration, learning evidence or detection
//! version re-detects everything, in resumable chunks. Readers (the CLI, the TUI) read rows of
//! the table and never detect.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::domain::Mirror;
use crate::domain::detect::{detect_moves_learned, detect_units, effective_state, unit_of_key};
use crate::domain::moves::{Move, MoveContext};
use crate::domain::outcomes::detect_outcomes;
use crate::store::{RankedFilter, Result, Store};

/// Every detected move at `now` with its effective state, ranked (all states included): the
/// stored ranking, settled at `now` first (see [`settle`]).
pub fn moves(store: &Store, config: &Config, now: DateTime<Utc>) -> Result<Vec<Move>> {
    settle(store, config, now, |_, _| {})?;
    store.ranked(RankedFilter::All, 0, usize::MAX, &config.aps)
}

/// Bump when detection changes what it gives for the same mirror: stored rankings are rebuilt.
const DETECTION_VERSION: &str = "1";

/// Units re-detected per transaction: small enough that a key press never waits long behind a
/// background pass, big enough that the per-chunk queries stay few.
const CHUNK: usize = 500;

/// Top moves re-detected when the clock moves on, so the texts on screen tell the right age.
const RETEXT: usize = 200;

/// What a settle pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settled {
    /// Detection units re-detected.
    pub units: usize,
    /// Everything was re-detected (first build, new weights, revenue scale or evidence, a
    /// clock set back).
    pub full: bool,
    /// The clock moved on: scores re-timed, time-driven moves re-detected.
    pub retimed: bool,
    /// Every score was brought to a new clock or revenue scale.
    pub rescored: bool,
    /// Outcomes recorded before settling ([`refresh_quietly`]).
    pub outcomes: usize,
    /// Units left queued for a background pass ([`settle_quickly`] does not work through a
    /// queue).
    pub queued: bool,
}

impl Settled {
    /// Whether the pass changed anything a reader shows (else the screen need not re-read).
    pub fn changed(&self) -> bool {
        self.units > 0 || self.full || self.retimed || self.rescored || self.outcomes > 0
    }
}

fn fingerprint(config: &Config) -> String {
    use sha2::Digest;
    let text = format!(
        "{DETECTION_VERSION}|{}|{}",
        serde_json::to_string(&config.moves).unwrap_or_default(),
        serde_json::to_string(&config.aps).unwrap_or_default()
    );
    format!("{:x}", sha2::Sha256::digest(text.as_bytes()))
}

fn evidence_print(e: &crate::domain::learn::Evidence) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(format!("{e:?}").as_bytes()))
}

/// The clock the stored ranking was settled at, if it was.
pub fn ranked_at(store: &Store) -> Result<Option<DateTime<Utc>>> {
    Ok(store
        .setting("moves_ranked_at")?
        .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
        .map(|t| t.with_timezone(&Utc)))
}

/// The clock a reader should settle at: `now`, or the ranking's own clock when that is less
/// than `fresh` older (the wall clock moves on every run; the ranking is re-timed once a minute
/// rather than on every command).
pub fn reading_clock(store: &Store, now: DateTime<Utc>, fresh: chrono::Duration) -> Result<DateTime<Utc>> {
    Ok(match ranked_at(store)? {
        Some(at) if at <= now && now - at < fresh => at,
        _ => now,
    })
}

/// Brings the changes since the last settle into the ranking, at the ranking's own clock
/// (a key press: only what it touched is re-detected).
pub fn settle_changes(store: &Store, config: &Config) -> Result<Settled> {
    let at = ranked_at(store)?.unwrap_or_else(Utc::now);
    settle(store, config, at, |_, _| {})
}

/// [`settle`] for a key press: what the key (or a change since) touched is re-detected at
/// once, but a big pass (a first build, new weights, more units than one chunk) is only
/// queued, never worked through here; `queued` then says a background pass should run.
pub fn settle_quickly(store: &Store, config: &Config, at: DateTime<Utc>) -> Result<Settled> {
    settle_inner(store, config, at, RETEXT, false, |_, _| {})
}

/// Brings the stored ranking up to date at `at`: re-detects the units that changed since the
/// last settle (marked by the store's triggers in the same transaction as each change), or
/// everything when the clock, the weights, the revenue scale or the learned evidence moved.
/// Big passes go in chunks, each its own transaction, so an interrupted one resumes where it
/// stopped; `progress(done, total)` reports after each chunk.
pub fn settle(
    store: &Store,
    config: &Config,
    at: DateTime<Utc>,
    progress: impl FnMut(usize, usize),
) -> Result<Settled> {
    settle_with(store, config, at, RETEXT, progress)
}

/// [`settle`], re-detecting the top `retext` moves when the clock moved on (0: only what time
/// makes appear or go; the equivalence tests check the wake-ups alone that way).
pub fn settle_with(
    store: &Store,
    config: &Config,
    at: DateTime<Utc>,
    retext: usize,
    progress: impl FnMut(usize, usize),
) -> Result<Settled> {
    settle_inner(store, config, at, retext, true, progress)
}

/// [`settle_with`]; with `drain` false, a queue is left for a background pass.
fn settle_inner(
    store: &Store,
    config: &Config,
    at: DateTime<Utc>,
    retext: usize,
    drain: bool,
    mut progress: impl FnMut(usize, usize),
) -> Result<Settled> {
    let evidence = store.learning_evidence(at, config.moves.outcome_window_days)?;
    let mut report = Settled::default();
    // Phase one, in one write transaction: decide, then either do the small work right away
    // or queue the big work as `unit` rows.
    let queued = immediate(store, || {
        let fp = fingerprint(config);
        let ev = evidence_print(&evidence);
        // The revenue scale reads every open deal: only when a deal or stage changed since.
        let (max, typical) = match store.stored_scale()? {
            Some(kept) if !store.deals_dirty()? => kept,
            _ => store.pipeline_scale()?,
        };
        let scale = crate::store::Basis::scale_text(max, typical);
        let stamp = crate::store::ts(at);
        let ranked = store.ranked_clock()?;
        let full = store.setting("moves_fingerprint")?.as_deref() != Some(fp.as_str())
            || ranked.is_none_or(|r| at < r)
            || store.setting("moves_evidence")?.as_deref() != Some(ev.as_str())
            || store.basis()?.is_none();
        let clock_moved = ranked.is_some_and(|r| r < at);
        let rescaled = store.setting("moves_scale")?.as_deref() != Some(scale.as_str());
        let mut timed: BTreeSet<String> = BTreeSet::new();
        if full {
            store.mark_all_dirty()?;
        } else if clock_moved || rescaled {
            // Only the clock or the revenue scale moved: every score is brought to them from
            // the stored features; the units whose moves time makes appear or go are
            // re-detected, and the top of the list too (its "wrote 3h ago" texts).
            store.set_setting("moves_ranked_at", &stamp)?;
            store.set_setting("moves_scale", &scale)?;
            let basis = crate::store::Basis {
                at,
                pipeline_max_value: max,
                typical_deal_amount: typical,
            };
            store.rescore_all(&basis, &config.aps)?;
            report.rescored = true;
            if clock_moved {
                timed.extend(store.woken_units(at)?);
                timed.extend(store.top_units(retext)?);
                store.draft_dependents(&mut timed)?;
                store.refresh_all_states(at, &config.aps)?;
                report.retimed = true;
            }
        }
        let mut dirty = store.dirty()?;
        if !dirty.all {
            dirty.units.extend(timed);
        }
        if dirty.all {
            report.full = true;
            store.queue_units(&store.all_units()?)?;
            store.clear_dirty(&dirty.rows)?;
            store.set_setting("moves_fingerprint", &fp)?;
            store.set_setting("moves_ranked_at", &stamp)?;
            store.set_setting("moves_evidence", &ev)?;
            store.set_setting("moves_scale", &scale)?;
            return Ok(true);
        }
        if dirty.units.len() > CHUNK {
            store.queue_units(&dirty.units.iter().cloned().collect::<Vec<_>>())?;
            store.refresh_states(&dirty.states, at, &config.aps)?;
            store.clear_dirty(&dirty.rows)?;
            return Ok(true);
        }
        let units: HashSet<String> = dirty.units.iter().cloned().collect();
        report.units += units.len();
        redetect(store, config, &evidence, &units, at, (max, typical))?;
        store.refresh_states(&dirty.states, at, &config.aps)?;
        store.clear_dirty(&dirty.rows)?;
        Ok(!store.queued_units(1)?.is_empty())
    })?;
    if !queued {
        return Ok(report);
    }
    if !drain {
        report.queued = true;
        return Ok(report);
    }
    // Phase two: the queue, chunk by chunk.
    let scale = store.pipeline_scale()?;
    let total = store.queued_count()? + report.units;
    loop {
        let chunk = store.queued_units(CHUNK)?;
        if chunk.is_empty() {
            break;
        }
        immediate(store, || {
            let units: HashSet<String> = chunk.iter().cloned().collect();
            redetect(store, config, &evidence, &units, at, scale)?;
            store.unqueue_units(&chunk)
        })?;
        report.units += chunk.len();
        progress(report.units.min(total), total);
    }
    Ok(report)
}

/// Runs `f` in one write transaction taken up front, so no other writer slips in between what
/// it read and what it writes.
fn immediate<T>(store: &Store, f: impl FnOnce() -> Result<T>) -> Result<T> {
    store.immediately(f)
}

/// Re-detects `units` and stores what they give, noting first sightings.
fn redetect(
    store: &Store,
    config: &Config,
    evidence: &crate::domain::learn::Evidence,
    units: &HashSet<String>,
    at: DateTime<Utc>,
    scale: (f64, f64),
) -> Result<()> {
    if units.is_empty() {
        return Ok(());
    }
    let (mirror, ctx) = store.load_slice_scaled(units, scale)?;
    let (mut moves, wakes) = detect_units(&mirror, &ctx, units, evidence, at, &config.moves, &config.aps);
    let new = store.replace_unit_moves(units, &mut moves, &wakes, at)?;
    for i in new {
        let m = &moves[i];
        store.telemetry(
            "recommendation_generated",
            Some(&m.key),
            &recommendation_payload(m),
            at,
        )?;
    }
    Ok(())
}

/// Detection from scratch over the whole mirror (loaded into memory): what the stored ranking
/// must equal. For tests and checks only; it reads everything.
pub fn moves_from_scratch(store: &Store, config: &Config, now: DateTime<Utc>) -> Result<Vec<Move>> {
    let mirror = store.load_mirror()?;
    let learned = store.learning_evidence(now, config.moves.outcome_window_days)?;
    let mut moves = detect_moves_learned(&mirror, &learned, now, &config.moves, &config.aps);
    let decisions = store.current_decisions()?;
    for m in &mut moves {
        m.state = effective_state(m, decisions.get(&m.key), now);
    }
    Ok(moves)
}

/// Records the outcomes of executed moves that the mirror now shows (replies, meetings, deal
/// stage changes, or nothing within the window once the sources synced past it). Idempotent;
/// returns how many were recorded.
pub fn record_outcomes(store: &mut Store, config: &Config, now: DateTime<Utc>) -> Result<usize> {
    let executions = store.executions()?;
    if executions.is_empty() {
        return Ok(0);
    }
    let mirror = outcome_slice(store, &executions)?;
    let recorded = store.recorded_outcomes()?;
    let sources = store.outcome_sources()?;
    let pass = detect_outcomes(
        &mirror,
        &executions,
        &recorded,
        now,
        config.moves.outcome_window_days,
        &sources,
    );
    if pass.is_empty() {
        return Ok(0);
    }
    store.apply_outcome_pass(&pass, now)
}

/// What outcome detection reads for `executions`: their detection units and what their watches
/// name (thread, deal, person), as [`Store::load_slice`] reads them, plus every message the
/// slice's people sent (a reply may arrive in a new thread). Never the whole mirror.
pub fn outcome_slice(store: &Store, executions: &[crate::domain::outcomes::Execution]) -> Result<Mirror> {
    let mut units: HashSet<String> = HashSet::new();
    for ex in executions {
        units.extend(unit_of_key(&ex.move_key));
        if let Some(w) = &ex.watch {
            units.extend(w.thread_id.as_ref().map(|t| format!("thread:{t}")));
            units.extend(w.deal_id.as_ref().map(|d| format!("deal:{d}")));
            units.extend(w.contact_id.as_ref().map(|c| format!("contact:{c}")));
        }
    }
    let (mut mirror, _) = store.load_slice(&units)?;
    let senders: std::collections::BTreeSet<String> =
        mirror.contacts.iter().filter_map(|c| c.email.clone()).collect();
    let have: HashSet<String> = mirror.messages.iter().map(|m| m.id.clone()).collect();
    let more = store.messages_from(&senders)?;
    mirror
        .messages
        .extend(more.into_iter().filter(|m| !have.contains(&m.id)));
    mirror.messages.sort_by(|a, b| {
        a.thread_id
            .cmp(&b.thread_id)
            .then(a.at.cmp(&b.at))
            .then(a.id.cmp(&b.id))
    });
    Ok(mirror)
}

/// The `recommendation_generated` payload: type, score, each part's value and the score's
/// inputs, so `casey backtest` can re-score the move with other weights.
pub fn recommendation_payload(m: &Move) -> serde_json::Value {
    let round = |v: f64| (v * 1000.0).round() / 1000.0;
    let parts: serde_json::Map<String, serde_json::Value> = m
        .aps
        .parts
        .iter()
        .map(|p| (p.name.to_string(), serde_json::json!(round(p.value))))
        .collect();
    serde_json::json!({
        "kind": m.kind.as_str(),
        "aps": (m.aps.score * 10.0).round() / 10.0,
        "parts": parts,
        "features": m.features,
    })
}

/// Records outcomes, then settles the stored ranking at `now` (first sightings are noted as
/// `recommendation_generated` as moves are stored); returns every move, ranked.
pub fn refresh(store: &mut Store, config: &Config, now: DateTime<Utc>) -> Result<Vec<Move>> {
    refresh_quietly(store, config, now, |_, _| {})?;
    store.ranked(RankedFilter::All, 0, usize::MAX, &config.aps)
}

/// [`refresh`] without reading the ranking back: for background passes.
pub fn refresh_quietly(
    store: &mut Store,
    config: &Config,
    now: DateTime<Utc>,
    progress: impl FnMut(usize, usize),
) -> Result<Settled> {
    let recorded = record_outcomes(store, config, now)?;
    if recorded > 0 {
        tracing::info!(recorded, "outcomes recorded");
    }
    let mut settled = settle(store, config, now, progress)?;
    settled.outcomes = recorded;
    Ok(settled)
}

/// Detail-pane context for each move (last `messages` messages of its thread).
pub fn contexts(store: &Store, moves: &[Move], messages: usize) -> Result<HashMap<String, MoveContext>> {
    moves
        .iter()
        .map(|m| Ok((m.key.clone(), store.move_context(&m.subject, messages)?)))
        .collect()
}

/// [`find`] over the stored ranking: by exact key, 1-based rank among actionable moves, or a
/// unique part of a key; reads only the rows it needs.
pub fn find_stored(
    store: &Store,
    query: &str,
    w: &crate::domain::aps::ApsWeights,
) -> Result<std::result::Result<Move, String>> {
    if let Some(m) = store.ranked_move(query, w)? {
        return Ok(Ok(m));
    }
    if let Ok(rank) = query.parse::<usize>() {
        let found = if rank >= 1 {
            store.ranked(RankedFilter::Actionable, rank - 1, 1, w)?.pop()
        } else {
            None
        };
        return Ok(found.ok_or_else(|| format!("there is no move ranked {rank}; see `casey moves`")));
    }
    let hits = store.ranked_keys_like(query, 1000)?;
    Ok(match hits.as_slice() {
        [one] => store.ranked_move(one, w)?.ok_or_else(|| no_match(query)),
        [] => Err(no_match(query)),
        many => Err(ambiguous(query, many.iter().map(String::as_str), many.len())),
    })
}

fn no_match(query: &str) -> String {
    format!("no move matches {query:?}; see `casey moves` for keys")
}

fn ambiguous<'a>(query: &str, keys: impl Iterator<Item = &'a str>, n: usize) -> String {
    let first: Vec<&str> = keys.take(3).collect();
    format!(
        "{query:?} matches {n} moves ({}, ...); give more of the key",
        first.join(", ")
    )
}

/// Finds a move by exact key, unique key prefix, or 1-based rank among actionable moves.
pub fn find<'a>(moves: &'a [Move], query: &str) -> std::result::Result<&'a Move, String> {
    if let Some(m) = moves.iter().find(|m| m.key == query) {
        return Ok(m);
    }
    if let Ok(rank) = query.parse::<usize>() {
        return moves
            .iter()
            .filter(|m| m.state.is_actionable())
            .nth(rank.saturating_sub(1))
            .filter(|_| rank >= 1)
            .ok_or_else(|| format!("there is no move ranked {rank}; see `casey moves`"));
    }
    let hits: Vec<&Move> = moves
        .iter()
        .filter(|m| m.key.starts_with(query) || m.key.contains(query))
        .collect();
    match hits.as_slice() {
        [one] => Ok(one),
        [] => Err(no_match(query)),
        many => Err(ambiguous(query, many.iter().map(|m| m.key.as_str()), many.len())),
    }
}
