//! Text and JSON renderings of moves for stdout. All text in moves is already sanitized.

use std::io::Write;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::aps::{ApsWeights, what_would_move};
use crate::domain::moves::{Move, MoveContext, MoveKind, MoveState};
use crate::domain::text::{sanitize_line, truncate_cols};
use crate::domain::time::short_age;
use crate::store::{Counts, RankedSummary};

/// Writes to stdout; a closed pipe (`casey moves | head`) is not an error.
pub fn print(s: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// One part of the JSON breakdown.
#[derive(Serialize)]
struct PartJson {
    name: &'static str,
    points: f64,
    value: f64,
    why: String,
}

/// One move in `casey moves --json`.
#[derive(Serialize)]
struct MoveJson<'a> {
    rank: usize,
    key: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
    who: &'a str,
    why: &'a str,
    aps: f64,
    parts: Vec<PartJson>,
    state: &'a str,
    action: &'a str,
    age: String,
    signal_at: DateTime<Utc>,
}

fn to_json<'a>(rank: usize, m: &'a Move, weights: &ApsWeights, now: DateTime<Utc>) -> MoveJson<'a> {
    let (_, explained) = crate::domain::aps::explain(&m.features, weights);
    MoveJson {
        rank,
        key: &m.key,
        kind: m.kind.as_str(),
        title: &m.title,
        who: &m.who,
        why: &m.why,
        aps: round1(m.aps.score),
        parts: explained
            .into_iter()
            .map(|p| PartJson {
                name: p.name,
                points: round1(p.points),
                value: round1(p.value * 100.0) / 100.0,
                why: p.why,
            })
            .collect(),
        state: m.state.as_str(),
        action: m.action.label(),
        age: short_age(m.signal_at, now),
        signal_at: m.signal_at,
    }
}

/// `casey moves --json`.
pub fn moves_json(moves: &[&Move], weights: &ApsWeights, now: DateTime<Utc>) -> anyhow::Result<String> {
    let items: Vec<MoveJson> = moves
        .iter()
        .enumerate()
        .map(|(i, m)| to_json(i + 1, m, weights, now))
        .collect();
    Ok(serde_json::to_string_pretty(&items)? + "\n")
}

/// `casey moves`.
pub fn moves_table(moves: &[&Move], now: DateTime<Utc>) -> String {
    if moves.is_empty() {
        return "No open moves.\n".into();
    }
    let mut s = String::new();
    for (i, m) in moves.iter().enumerate() {
        let state = if m.state == MoveState::Open {
            String::new()
        } else {
            format!(" [{}]", m.state.as_str())
        };
        s.push_str(&format!(
            "{:>3}  {:>5.1}  {:<10} {:<24} {}{}  ({})\n     {}\n",
            i + 1,
            m.aps.score,
            m.kind.label(),
            truncate_cols(&m.who, 24),
            truncate_cols(&m.title, 70),
            state,
            short_age(m.signal_at, now),
            m.key
        ));
    }
    s
}

/// `casey explain --json`.
pub fn explain_json(m: &Move, weights: &ApsWeights) -> anyhow::Result<String> {
    #[derive(Serialize)]
    struct Explained<'a> {
        #[serde(flatten)]
        m: &'a Move,
        what_would_move_it: Vec<crate::domain::aps::WhatIf>,
    }
    let e = Explained {
        m,
        what_would_move_it: what_would_move(&m.features, weights),
    };
    Ok(serde_json::to_string_pretty(&e)? + "\n")
}

/// `casey explain`.
pub fn explain_text(m: &Move, ctx: &MoveContext, weights: &ApsWeights, now: DateTime<Utc>) -> String {
    let mut s = format!(
        "{}\n{} · {} · {} ago · {}\n  {}\n\n",
        m.title,
        m.kind,
        m.who,
        short_age(m.signal_at, now),
        m.state.as_str(),
        m.why
    );
    s.push_str(&format!("APS {:.1} = sum of the parts below\n", m.aps.score));
    let (_, explained) = crate::domain::aps::explain(&m.features, weights);
    for p in &explained {
        let value = if p.name == "learned" {
            format!("×{:.2}", p.value)
        } else {
            format!("{:>5.1}", p.value)
        };
        s.push_str(&format!(
            "  {:>+6.1}  {:<8} {value}  {}\n",
            p.points, p.name, p.why
        ));
    }
    let what_if = what_would_move(&m.features, weights);
    if !what_if.is_empty() {
        s.push_str("\nWhat would move it:\n");
        for w in what_if.iter().take(4) {
            s.push_str(&format!("  {:>+6.1}  if {}\n", w.delta, w.event));
        }
    }
    s.push_str(&format!("\nPrimary action (x): {}\n", m.action.label()));
    if let Some(c) = &ctx.contact {
        s.push_str(&format!("Contact: {}", sanitize_line(&c.display_name())));
        if let Some(e) = &c.email {
            s.push_str(&format!(" <{}>", sanitize_line(e)));
        }
        s.push('\n');
    }
    if let Some(d) = &ctx.deal {
        s.push_str(&format!("Deal: {}\n", sanitize_line(&d.name)));
    }
    s.push_str(&format!("Key: {}\n", m.key));
    s
}

/// `casey whats-up`.
pub fn whats_up(sum: &RankedSummary, top: Option<&Move>, counts: &Counts, now: DateTime<Utc>) -> String {
    let of = |k: MoveKind| sum.by_kind.get(&k).copied().unwrap_or(0);
    let mut s = String::new();
    s.push_str(&format!(
        "{} replies waiting{}\n",
        of(MoveKind::ReplyInbound),
        sum.oldest_reply
            .map(|t| format!(" (oldest {})", short_age(t, now)))
            .unwrap_or_default()
    ));
    s.push_str(&format!("{} drafts awaiting approval\n", sum.with_draft));
    s.push_str(&format!(
        "{} follow-ups due · {} overdue tasks · {} deals closing soon · {} stale deals · {} new leads\n",
        of(MoveKind::FollowUp),
        of(MoveKind::OverdueTask),
        of(MoveKind::ClosingSoon),
        of(MoveKind::StaleDeal),
        of(MoveKind::NewLead)
    ));
    s.push_str(&format!(
        "{} moves open ({} accepted) · outbox {} pending\n",
        sum.actionable, sum.accepted, counts.outbox_pending
    ));
    if let Some(top) = top {
        s.push_str(&format!(
            "top move: {:.0}  {} — {}\n",
            top.aps.score,
            sanitize_line(&top.who),
            sanitize_line(&top.title)
        ));
    }
    s
}
