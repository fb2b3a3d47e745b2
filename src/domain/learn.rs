//! Learning from outcomes: the APS `learned` multiplier.
//!
//! Every observable executed move (a `done` decision still in force, with a thread, person or
//! deal to watch) whose outcome window is **closed** (the window passed and its sources synced
//! after it) is one Bernoulli trial in its **cell**: move type × segment (contact lifecycle
//! stage, company industry, deal size band). Success is any outcome but `no_outcome` recorded
//! within the window, at or before the clock. Moves still inside their window are not counted
//! at all, so early successes do not inflate a rate before the failures could show. Rates are
//! Beta-Binomial posterior means, each level shrunk toward the one above with a prior worth
//! `k = learned_prior_strength` trials:
//!
//! ```text
//! p0     = (S + k·r0)               / (N + k)             overall, shrunk toward learned_prior_rate r0
//! p_rest = (s_t − s_c + k·p0)       / (n_t − n_c + k)     the type in the other segments, prior p0
//! p_cell = (s_c + k·p_rest)         / (n_c + k)           the type in this segment, prior p_rest
//! learned = clamp(p_cell / p0, learned_min, learned_max)
//! ```
//!
//! (`S/N` all trials, `s_t/n_t` the move type's, `s_c/n_c` the type's in the segment; each trial
//! is counted once on the way down, so with a single segment `p_cell` is the type's posterior.)
//!
//! With no finished trial of the type the multiplier is exactly 1.0 (neutral); with few trials
//! the posterior stays near its prior, so the multiplier stays near 1 and grows with evidence.
//! The breakdown shows the evidence, e.g. `follow-up converted 12/30, 1.60× the prior 25%`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::aps::ApsWeights;
use super::entities::{Company, Contact};
use super::moves::MoveKind;
use super::text::sanitize_line;

/// The segment a move counts in: who it is about and how big the money is.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Segment {
    /// Contact lifecycle stage, lower-case (`""` when unknown).
    pub lifecycle: String,
    /// Company industry, lower-case (`""` when unknown).
    pub industry: String,
    /// Deal size band (see [`size_band`]; `""` without a deal).
    pub size_band: String,
}

/// The size band of a deal amount: `<10k`, `10k-50k` or `50k+` (`""` without an amount).
pub fn size_band(amount: Option<f64>) -> String {
    match amount.filter(|a| a.is_finite()) {
        None => String::new(),
        Some(a) if a < 10_000.0 => "<10k".into(),
        Some(a) if a < 50_000.0 => "10k-50k".into(),
        Some(_) => "50k+".into(),
    }
}

impl Segment {
    /// The segment of a move about `contact` at `company` with a deal of `deal_amount`.
    pub fn of(contact: Option<&Contact>, company: Option<&Company>, deal_amount: Option<f64>) -> Segment {
        let norm = |s: Option<&str>| sanitize_line(s.unwrap_or("")).trim().to_lowercase();
        Segment {
            lifecycle: norm(contact.and_then(|c| c.lifecycle_stage.as_deref())),
            industry: norm(company.and_then(|c| c.industry.as_deref())),
            size_band: size_band(deal_amount),
        }
    }

    /// `lead · software · 10k-50k`, leaving out unknown dimensions.
    pub fn label(&self) -> String {
        let parts: Vec<&str> = [&self.lifecycle, &self.industry, &self.size_band]
            .into_iter()
            .map(String::as_str)
            .filter(|s| !s.is_empty())
            .collect();
        if parts.is_empty() {
            "no segment".into()
        } else {
            parts.join(" · ")
        }
    }
}

/// Successes out of finished trials.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Executed moves that led to an outcome other than `no_outcome`.
    pub successes: u32,
    /// Executed moves whose outcome is known.
    pub trials: u32,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.successes += other.successes;
        self.trials += other.trials;
    }
}

/// Finished trials per move type and segment: what the learned part is computed from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evidence {
    cells: BTreeMap<(MoveKind, Segment), Tally>,
}

impl Evidence {
    /// No evidence at all: every multiplier is neutral.
    pub fn new() -> Evidence {
        Evidence::default()
    }

    /// Adds one finished trial.
    pub fn add(&mut self, kind: MoveKind, segment: Segment, success: bool) {
        let t = self.cells.entry((kind, segment)).or_default();
        t.trials += 1;
        t.successes += u32::from(success);
    }

    /// Whether nothing has been recorded.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// All trials.
    pub fn overall(&self) -> Tally {
        let mut t = Tally::default();
        for v in self.cells.values() {
            t.add(*v);
        }
        t
    }

    /// Trials of one move type, over every segment.
    pub fn of_kind(&self, kind: MoveKind) -> Tally {
        let mut t = Tally::default();
        for ((k, _), v) in &self.cells {
            if *k == kind {
                t.add(*v);
            }
        }
        t
    }

    /// Trials of one move type in one segment.
    pub fn of_cell(&self, kind: MoveKind, segment: &Segment) -> Tally {
        self.cells
            .get(&(kind, segment.clone()))
            .copied()
            .unwrap_or_default()
    }
}

/// The text of a neutral multiplier.
pub const NEUTRAL: &str = "×1.00 neutral: no outcomes recorded yet";

fn posterior(t: Tally, prior_mean: f64, strength: f64) -> f64 {
    (f64::from(t.successes) + strength * prior_mean) / (f64::from(t.trials) + strength)
}

/// The learned multiplier of a move of `kind` in `segment`, with its evidence in words.
pub fn learned(e: &Evidence, kind: MoveKind, segment: &Segment, w: &ApsWeights) -> (f64, String) {
    let of_kind = e.of_kind(kind);
    if of_kind.trials == 0 {
        return (1.0, NEUTRAL.into());
    }
    let k = w.learned_prior_strength;
    let p0 = posterior(e.overall(), w.learned_prior_rate, k);
    let cell = e.of_cell(kind, segment);
    let rest = Tally {
        successes: of_kind.successes - cell.successes,
        trials: of_kind.trials - cell.trials,
    };
    let p_rest = posterior(rest, p0, k);
    let p_cell = posterior(cell, p_rest, k);
    let raw = if p0 > 0.0 { p_cell / p0 } else { 1.0 };
    let m = if raw.is_finite() {
        raw.clamp(w.learned_min, w.learned_max)
    } else {
        1.0
    };
    let segment_note = if cell.trials > 0 {
        format!(" ({}: {}/{})", segment.label(), cell.successes, cell.trials)
    } else {
        String::new()
    };
    let bound = if (m - raw).abs() > 1e-12 { ", bounded" } else { "" };
    (
        m,
        format!(
            "{} converted {}/{}{segment_note}, {m:.2}× the prior {:.0}%{bound}",
            kind.label(),
            of_kind.successes,
            of_kind.trials,
            p0 * 100.0
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w() -> ApsWeights {
        crate::config::Config::default().aps
    }

    #[test]
    fn no_evidence_is_exactly_neutral() {
        let (m, why) = learned(&Evidence::new(), MoveKind::FollowUp, &Segment::default(), &w());
        assert_eq!(m, 1.0);
        assert_eq!(why, NEUTRAL);
    }

    #[test]
    fn evidence_of_other_types_only_leaves_a_type_neutral() {
        let mut e = Evidence::new();
        for i in 0..20 {
            e.add(MoveKind::ReplyInbound, Segment::default(), i % 2 == 0);
        }
        assert_eq!(learned(&e, MoveKind::NewLead, &Segment::default(), &w()).0, 1.0);
    }

    #[test]
    fn better_converting_type_rises_and_worse_falls_and_both_stay_bounded() {
        let mut e = Evidence::new();
        for i in 0..30 {
            e.add(MoveKind::FollowUp, Segment::default(), i < 24);
            e.add(MoveKind::StaleDeal, Segment::default(), i < 3);
        }
        let w = w();
        let (up, why) = learned(&e, MoveKind::FollowUp, &Segment::default(), &w);
        let (down, _) = learned(&e, MoveKind::StaleDeal, &Segment::default(), &w);
        assert!(up > 1.0 && up <= w.learned_max, "{up}");
        assert!(down < 1.0 && down >= w.learned_min, "{down}");
        assert!(why.contains("converted 24/30"), "{why}");
        assert!(why.contains("× the prior"), "{why}");
    }

    #[test]
    fn little_evidence_shrinks_toward_one() {
        let w = w();
        let mut few = Evidence::new();
        let mut many = Evidence::new();
        for i in 0..4 {
            few.add(MoveKind::FollowUp, Segment::default(), true);
            few.add(MoveKind::StaleDeal, Segment::default(), i == 0);
        }
        for i in 0..40 {
            many.add(MoveKind::FollowUp, Segment::default(), true);
            many.add(MoveKind::StaleDeal, Segment::default(), i % 4 == 0);
        }
        let a = learned(&few, MoveKind::FollowUp, &Segment::default(), &w).0;
        let b = learned(&many, MoveKind::FollowUp, &Segment::default(), &w).0;
        assert!(a > 1.0 && a < b, "{a} < {b}");
    }

    #[test]
    fn extreme_evidence_is_clamped_to_the_bounds() {
        let mut e = Evidence::new();
        for _ in 0..500 {
            e.add(MoveKind::FollowUp, Segment::default(), true);
        }
        for _ in 0..5000 {
            e.add(MoveKind::StaleDeal, Segment::default(), false);
        }
        let w = w();
        let (up, why) = learned(&e, MoveKind::FollowUp, &Segment::default(), &w);
        assert_eq!(up, w.learned_max);
        assert!(why.ends_with("bounded"), "{why}");
        assert_eq!(
            learned(&e, MoveKind::StaleDeal, &Segment::default(), &w).0,
            w.learned_min
        );
    }

    #[test]
    fn segment_evidence_separates_cells_of_one_type() {
        let lead = Segment {
            lifecycle: "lead".into(),
            ..Segment::default()
        };
        let customer = Segment {
            lifecycle: "customer".into(),
            ..Segment::default()
        };
        let mut e = Evidence::new();
        for i in 0..30 {
            e.add(MoveKind::FollowUp, lead.clone(), i < 25);
            e.add(MoveKind::FollowUp, customer.clone(), i < 5);
        }
        let w = w();
        let (a, why) = learned(&e, MoveKind::FollowUp, &lead, &w);
        let (b, _) = learned(&e, MoveKind::FollowUp, &customer, &w);
        assert!(a > 1.0 && b < 1.0, "{a} {b}");
        assert!(why.contains("(lead: 25/30)"), "{why}");
    }

    #[test]
    fn size_bands() {
        assert_eq!(size_band(None), "");
        assert_eq!(size_band(Some(9_999.0)), "<10k");
        assert_eq!(size_band(Some(10_000.0)), "10k-50k");
        assert_eq!(size_band(Some(50_000.0)), "50k+");
    }
}
