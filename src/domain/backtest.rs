//! Backtest: would other weights have put the moves that later succeeded on top?
//!
//! History is the `recommendation_generated` events: each move as it was first generated, with
//! the inputs of its score. For every day with recommendations, the moves generated that day
//! are ranked under a set of weights; the **hit rate** is the share of each day's top `k` that
//! later succeeded (an outcome other than `no_outcome`, at or after the recommendation), over
//! all days.
//!
//! Only moves the operator **executed** and whose outcome is known are ranked. A move that was
//! never executed cannot succeed, and the operator executed what the current weights put on
//! top, so ranking every recommendation would favour the current weights by construction.
//! Ranking only the executed moves gives both weight sets the same candidates, each with a
//! known outcome; the question answered is "which weights order what was done best".

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::aps::{self, ApsWeights, Features};
use super::outcomes::Outcome;

/// A move as it was recommended, whether it was executed, and what came of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Recommended {
    /// The move's key.
    pub move_key: String,
    /// When it was generated.
    pub at: DateTime<Utc>,
    /// The `recommendation_generated` payload (`features`, or `parts` for re-scoring).
    pub payload: serde_json::Value,
    /// The operator executed it (a `done` decision still in force).
    pub executed: bool,
    /// The outcomes recorded for it, with when each happened.
    pub outcomes: Vec<(Outcome, DateTime<Utc>)>,
}

impl Recommended {
    /// It succeeded after it was recommended: a success outcome at or after [`Self::at`].
    pub fn succeeded(&self) -> bool {
        self.outcomes.iter().any(|(o, t)| o.is_success() && *t >= self.at)
    }

    /// It is ranked: executed, with an outcome recorded (a success, or `no_outcome`).
    pub fn is_candidate(&self) -> bool {
        self.executed && !self.outcomes.is_empty()
    }
}

/// How one set of weights did.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HitRate {
    /// Days with at least one ranked (executed, outcome known) move.
    pub days: usize,
    /// Moves in the top `k` over all days.
    pub picked: usize,
    /// Of those, how many succeeded.
    pub hits: usize,
    /// `hits / picked` (0 with nothing picked).
    pub rate: f64,
}

/// The whole comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BacktestReport {
    /// Top-k size per day.
    pub top_k: usize,
    /// Recommendations replayed.
    pub moves: usize,
    /// Of those, the ones ranked: executed, with a known outcome.
    pub executed: usize,
    /// Of the ranked ones, how many succeeded (the rate a random pick would get).
    pub successes: usize,
    /// Recommendations that could not be re-scored (recorded before scores were kept).
    pub unscored: usize,
    /// The current weights.
    pub current: HitRate,
    /// The other weights, when given.
    pub other: Option<HitRate>,
}

/// The score of a recorded recommendation under `w`: from its recorded inputs when present,
/// else from its recorded part values; `None` when the payload has neither.
pub fn rescore(payload: &serde_json::Value, w: &ApsWeights) -> Option<f64> {
    if let Some(f) = payload
        .get("features")
        .and_then(|f| serde_json::from_value::<Features>(f.clone()).ok())
    {
        return Some(aps::score(&f, w).score);
    }
    let parts = payload.get("parts")?;
    let v = |name: &str| parts.get(name).and_then(serde_json::Value::as_f64);
    let values = [v("revenue")?, v("urgency")?, v("fit")?, v("effort")?];
    let weights = [w.revenue, w.urgency, w.fit, w.effort];
    let sum_w: f64 = weights.iter().sum();
    if sum_w <= 0.0 {
        return None;
    }
    let base = weights.iter().zip(values).map(|(a, b)| a * b).sum::<f64>() / sum_w;
    let learned = v("learned").unwrap_or(1.0).clamp(w.learned_min, w.learned_max);
    Some((base * learned).clamp(0.0, 100.0))
}

fn hit_rate(history: &[Recommended], w: &ApsWeights, top_k: usize) -> HitRate {
    let mut days: std::collections::BTreeMap<NaiveDate, Vec<(f64, &Recommended)>> = Default::default();
    for r in history.iter().filter(|r| r.is_candidate()) {
        if let Some(s) = rescore(&r.payload, w) {
            days.entry(r.at.date_naive()).or_default().push((s, r));
        }
    }
    let (mut picked, mut hits) = (0, 0);
    for moves in days.values_mut() {
        moves.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.move_key.cmp(&b.1.move_key)));
        for (_, r) in moves.iter().take(top_k) {
            picked += 1;
            hits += usize::from(r.succeeded());
        }
    }
    HitRate {
        days: days.len(),
        picked,
        hits,
        rate: if picked > 0 {
            hits as f64 / picked as f64
        } else {
            0.0
        },
    }
}

/// Replays `history` under the current weights and, when given, another set, ranking each day's
/// executed moves with a known outcome (see the module docs).
pub fn backtest(
    history: &[Recommended],
    current: &ApsWeights,
    other: Option<&ApsWeights>,
    top_k: usize,
) -> BacktestReport {
    BacktestReport {
        top_k,
        moves: history.len(),
        executed: history.iter().filter(|r| r.is_candidate()).count(),
        successes: history
            .iter()
            .filter(|r| r.is_candidate() && r.succeeded())
            .count(),
        unscored: history
            .iter()
            .filter(|r| rescore(&r.payload, current).is_none())
            .count(),
        current: hit_rate(history, current, top_k),
        other: other.map(|w| hit_rate(history, w, top_k)),
    }
}

impl BacktestReport {
    /// Plain-text report for the terminal.
    pub fn text(&self) -> String {
        let line = |name: &str, h: &HitRate| {
            format!(
                "{name:<16} {:>5.1}%  ({} of {} top-{} picks over {} days succeeded)\n",
                h.rate * 100.0,
                h.hits,
                h.picked,
                self.top_k,
                h.days
            )
        };
        let mut out = format!(
            "Replayed {} recommendations; {} were executed with a known outcome, {} of them \
             later succeeded ({:.1}% base rate).\n\
             Only executed moves are ranked, so both weight sets order the same candidates.\n",
            self.moves,
            self.executed,
            self.successes,
            if self.executed > 0 {
                self.successes as f64 * 100.0 / self.executed as f64
            } else {
                0.0
            }
        );
        if self.unscored > 0 {
            out.push_str(&format!(
                "{} recorded before scores were kept could not be re-scored.\n",
                self.unscored
            ));
        }
        out.push_str(&format!(
            "\nHit rate of the top {} executed moves per day:\n",
            self.top_k
        ));
        out.push_str(&line("current weights", &self.current));
        if let Some(o) = &self.other {
            out.push_str(&line("--weights file", o));
            let verdict = match o.rate.total_cmp(&self.current.rate) {
                std::cmp::Ordering::Greater => "the weights file would have done better",
                std::cmp::Ordering::Less => "the current weights did better",
                std::cmp::Ordering::Equal => "both did the same",
            };
            out.push_str(&format!("\n{verdict}.\n"));
        }
        if self.moves == 0 {
            out.push_str(
                "\nNo history yet: recommendations are recorded as the TUI refreshes Today's Moves.\n",
            );
        }
        out
    }
}
