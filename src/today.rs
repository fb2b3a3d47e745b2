//! Today's Moves: detection over the mirror plus the operator's stored decisions.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::domain::detect::{detect_moves_learned, effective_state};
use crate::domain::moves::{Move, MoveContext};
use crate::domain::outcomes::detect_outcomes;
use crate::store::{Result, Store};

/// Every detected move at `now` with its effective state, ranked (all states included).
pub fn moves(store: &Store, config: &Config, now: DateTime<Utc>) -> Result<Vec<Move>> {
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
    let mirror = store.load_mirror()?;
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

/// Records outcomes, detects moves and notes them as seen (first/last sighting,
/// `recommendation_generated`).
pub fn refresh(store: &mut Store, config: &Config, now: DateTime<Utc>) -> Result<Vec<Move>> {
    let recorded = record_outcomes(store, config, now)?;
    if recorded > 0 {
        tracing::info!(recorded, "outcomes recorded");
    }
    let moves = moves(store, config, now)?;
    let known: i64 = store
        .conn()
        .query_row("SELECT count(*) FROM moves", [], |r| r.get(0))?;
    let new: Vec<&Move> = if known == 0 {
        moves.iter().collect()
    } else {
        let mut st = store.conn().prepare("SELECT key FROM moves")?;
        let seen: std::collections::HashSet<String> =
            st.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        moves.iter().filter(|m| !seen.contains(&m.key)).collect()
    };
    for m in new {
        store.telemetry(
            "recommendation_generated",
            Some(&m.key),
            &recommendation_payload(m),
            now,
        )?;
    }
    store.record_seen_moves(&moves, now)?;
    Ok(moves)
}

/// Detail-pane context for each move (last `messages` messages of its thread).
pub fn contexts(store: &Store, moves: &[Move], messages: usize) -> Result<HashMap<String, MoveContext>> {
    moves
        .iter()
        .map(|m| Ok((m.key.clone(), store.move_context(&m.subject, messages)?)))
        .collect()
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
        [] => Err(format!("no move matches {query:?}; see `casey moves` for keys")),
        many => Err(format!(
            "{query:?} matches {} moves ({}, ...); give more of the key",
            many.len(),
            many.iter()
                .take(3)
                .map(|m| m.key.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}
