//! The Action Priority Score: a documented, explainable 0–100 score per move.
//!
//! ```text
//! base  = (w_rev·R + w_urg·U + w_fit·F + w_eff·E) / (w_rev + w_urg + w_fit + w_eff)
//! score = min(100, base × learned)
//! ```
//! Each part R, U, F, E is 0–100 and carries the reason it has that value. The breakdown is given
//! in points: part `i` contributes `w_i·P_i / Σw`, the learned multiplier contributes
//! `base × (learned − 1)`, and when the cap at 100 bites every contribution is scaled by the same
//! factor — so the points always add up to the score.
//!
//! * **Revenue R** — `100 · ln(1 + v) / ln(1 + v_max)`, where `v` is the deal's amount × stage
//!   probability and `v_max` the largest such value in the operator's open pipeline. Without a
//!   deal, `v` is the typical deal amount × `no_deal_probability` × a company-size factor.
//! * **Urgency U** — a per-move-type curve of waiting time, closeness of the close date or
//!   overdue days (see [`urgency`]); signals older than `decay_after_days` lose half their urgency
//!   every `decay_half_life_days`.
//! * **Fit F** — lifecycle-stage score + a form-submission bonus halving every
//!   `form_half_life_days` + a bonus when the person has written to the operator before.
//! * **Effort E** — `100 · 0.5^(minutes / effort_half_life_minutes)`: cheaper moves rank higher.
//! * **Learned** — a multiplier from recorded outcomes, neutral 1.0 without evidence, bounded by
//!   `learned_min..=learned_max`: the Beta-Binomial success rate of the move's type and segment
//!   relative to the prior (see [`crate::domain::learn`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::moves::MoveKind;

/// Weights and curve parameters, read from `[aps]` in the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApsWeights {
    /// Relative weight of the revenue part.
    pub revenue: f64,
    /// Relative weight of the urgency part.
    pub urgency: f64,
    /// Relative weight of the fit/intent part.
    pub fit: f64,
    /// Relative weight of the effort part.
    pub effort: f64,
    /// Win probability assumed for a contact without an open deal.
    pub no_deal_probability: f64,
    /// Head count at which a company counts as a full ICP match.
    pub ideal_company_size: f64,
    /// Hours over which an unanswered inbound message approaches full urgency.
    pub reply_rise_hours: f64,
    /// Hours in which a new lead's urgency halves (speed to lead).
    pub lead_half_life_hours: f64,
    /// Signals older than this many days start to lose urgency.
    pub decay_after_days: f64,
    /// Half-life of that decay, in days.
    pub decay_half_life_days: f64,
    /// Fit points for each lifecycle stage; unknown stages get `lifecycle_default`.
    pub lifecycle: BTreeMap<String, f64>,
    /// Fit points when the lifecycle stage is missing or unknown.
    pub lifecycle_default: f64,
    /// Fit bonus for a form submission today; halves every `form_half_life_days`.
    pub form_bonus: f64,
    /// Half-life of the form bonus, in days.
    pub form_half_life_days: f64,
    /// Fit bonus when the person has written to the operator before.
    pub replied_bonus: f64,
    /// Estimated minutes per kind of work.
    pub effort_minutes: EffortMinutes,
    /// Minutes at which the effort part halves.
    pub effort_half_life_minutes: f64,
    /// Lower bound of the learned multiplier.
    pub learned_min: f64,
    /// Upper bound of the learned multiplier.
    pub learned_max: f64,
    /// Success rate assumed before any outcome is recorded (the prior mean; see `domain::learn`).
    #[serde(default = "default_prior_rate")]
    pub learned_prior_rate: f64,
    /// How many trials the prior is worth: more evidence is needed to move away from it.
    #[serde(default = "default_prior_strength")]
    pub learned_prior_strength: f64,
}

fn default_prior_rate() -> f64 {
    0.25
}

fn default_prior_strength() -> f64 {
    10.0
}

/// Estimated operator minutes for each kind of primary action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EffortMinutes {
    /// Approving a ready draft.
    pub approve: f64,
    /// Writing a reply.
    pub reply: f64,
    /// Writing a first touch.
    pub first_touch: f64,
    /// A phone call.
    pub call: f64,
    /// Completing or rescheduling a task.
    pub task: f64,
    /// Updating a CRM field.
    pub update: f64,
}

impl ApsWeights {
    /// Checks that every number is usable; returns `(key, problem)` for the first bad one.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let nonneg = [
            ("revenue", self.revenue),
            ("urgency", self.urgency),
            ("fit", self.fit),
            ("effort", self.effort),
            ("form_bonus", self.form_bonus),
            ("replied_bonus", self.replied_bonus),
            ("lifecycle_default", self.lifecycle_default),
            ("effort_minutes.approve", self.effort_minutes.approve),
            ("effort_minutes.reply", self.effort_minutes.reply),
            ("effort_minutes.first_touch", self.effort_minutes.first_touch),
            ("effort_minutes.call", self.effort_minutes.call),
            ("effort_minutes.task", self.effort_minutes.task),
            ("effort_minutes.update", self.effort_minutes.update),
            ("decay_after_days", self.decay_after_days),
        ];
        for (k, v) in nonneg {
            if !v.is_finite() || v < 0.0 {
                return Err((k.into(), format!("must be a number ≥ 0, got {v}")));
            }
        }
        let positive = [
            ("ideal_company_size", self.ideal_company_size),
            ("reply_rise_hours", self.reply_rise_hours),
            ("lead_half_life_hours", self.lead_half_life_hours),
            ("decay_half_life_days", self.decay_half_life_days),
            ("form_half_life_days", self.form_half_life_days),
            ("effort_half_life_minutes", self.effort_half_life_minutes),
        ];
        for (k, v) in positive {
            if !v.is_finite() || v <= 0.0 {
                return Err((k.into(), format!("must be a number > 0, got {v}")));
            }
        }
        if self.revenue + self.urgency + self.fit + self.effort <= 0.0 {
            return Err((
                "revenue".into(),
                "at least one of the four weights must be > 0".into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.no_deal_probability) {
            return Err(("no_deal_probability".into(), "must be between 0 and 1".into()));
        }
        for (stage, v) in &self.lifecycle {
            if !v.is_finite() || !(0.0..=100.0).contains(v) {
                return Err((format!("lifecycle.{stage}"), "must be between 0 and 100".into()));
            }
        }
        if !(self.learned_min > 0.0 && self.learned_min <= 1.0) {
            return Err(("learned_min".into(), "must be > 0 and ≤ 1".into()));
        }
        if !(self.learned_max >= 1.0 && self.learned_max.is_finite()) {
            return Err(("learned_max".into(), "must be ≥ 1".into()));
        }
        if !(self.learned_prior_rate > 0.0 && self.learned_prior_rate < 1.0) {
            return Err((
                "learned_prior_rate".into(),
                "must be between 0 and 1 (exclusive)".into(),
            ));
        }
        if !(self.learned_prior_strength > 0.0 && self.learned_prior_strength.is_finite()) {
            return Err(("learned_prior_strength".into(), "must be a number > 0".into()));
        }
        Ok(())
    }
}

/// The kind of work the primary action takes, for the effort part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effort {
    /// Approve a ready draft.
    Approve,
    /// Write a reply.
    Reply,
    /// Write a first-touch email.
    FirstTouch,
    /// Make a call.
    Call,
    /// Complete or reschedule a task.
    Task,
    /// Update a CRM field.
    Update,
}

impl Effort {
    fn minutes(self, m: &EffortMinutes) -> f64 {
        match self {
            Effort::Approve => m.approve,
            Effort::Reply => m.reply,
            Effort::FirstTouch => m.first_touch,
            Effort::Call => m.call,
            Effort::Task => m.task,
            Effort::Update => m.update,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Effort::Approve => "approve a draft",
            Effort::Reply => "write a reply",
            Effort::FirstTouch => "write a first touch",
            Effort::Call => "make a call",
            Effort::Task => "clear a task",
            Effort::Update => "update the CRM",
        }
    }
}

/// Value at stake, from the best open deal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DealValue {
    /// Deal name.
    pub name: String,
    /// Amount.
    pub amount: f64,
    /// Stage probability 0..=1.
    pub probability: f64,
    /// Stage label.
    pub stage: String,
    /// The next open stage (label, probability), for "what would move it".
    pub next_stage: Option<(String, f64)>,
    /// The deal has no amount; `amount` is the typical open deal's.
    #[serde(default)]
    pub amount_assumed: bool,
}

/// Everything the score is computed from. Pure data, so counterfactuals are cheap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Features {
    /// Move type.
    pub kind: MoveKind,
    /// Best open deal, if any.
    pub deal: Option<DealValue>,
    /// Company name and head count, for value without a deal.
    pub company: Option<(String, Option<u64>)>,
    /// Revenue scale: largest expected value in the open pipeline.
    pub pipeline_max_value: f64,
    /// Median open deal amount.
    pub typical_deal_amount: f64,
    /// Hours since the signal (message received, draft written, lead created, stage entered...).
    pub age_hours: f64,
    /// Days until the close date (negative when past), for `closing_soon`.
    pub days_to_close: Option<f64>,
    /// Days past due, for `overdue_task`.
    pub overdue_days: Option<f64>,
    /// Days without activity, for `stale_deal`.
    pub inactive_days: Option<f64>,
    /// Threshold in days for `stale_deal` (to measure how far past it a deal is).
    pub stale_after_days: f64,
    /// Window in days for `closing_soon`.
    pub closing_window_days: f64,
    /// High-priority task.
    pub high_priority: bool,
    /// Lifecycle stage.
    pub lifecycle: Option<String>,
    /// Days since the last form submission.
    pub form_days_ago: Option<f64>,
    /// The person has written to the operator before.
    pub replied_before: bool,
    /// Work the primary action takes.
    pub effort: Effort,
    /// Learned multiplier and its evidence.
    pub learned: (f64, String),
}

/// One part's contribution. Plain numbers, so scoring 100k moves allocates nothing; the
/// sentence saying where the part came from is built on demand by [`explain`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ApsPart {
    /// `revenue`, `urgency`, `fit`, `effort` or `learned`.
    pub name: &'static str,
    /// Contribution to the score, in points.
    pub points: f64,
    /// The part's own 0–100 value (for `learned`: the multiplier).
    pub value: f64,
}

/// A score with its breakdown; `parts` add up to `score`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Aps {
    /// 0–100.
    pub score: f64,
    /// Contributions in points: revenue, urgency, fit, effort, learned.
    pub parts: [ApsPart; 5],
}

/// A part with its provenance, for the detail view, `casey explain` and JSON output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExplainedPart {
    /// Part name.
    pub name: &'static str,
    /// Contribution in points.
    pub points: f64,
    /// The part's own value.
    pub value: f64,
    /// Where it came from, in the operator's words.
    pub why: String,
}

/// Builds a sentence only when an explanation is asked for.
macro_rules! why {
    ($on:expr, $($arg:tt)*) => {
        if $on { format!($($arg)*) } else { String::new() }
    };
}

fn combine(f: &Features, w: &ApsWeights, values: [f64; 4]) -> Aps {
    let sum_w = w.revenue + w.urgency + w.fit + w.effort;
    let weights = [w.revenue, w.urgency, w.fit, w.effort];
    let base: f64 = weights.iter().zip(values).map(|(wi, v)| wi * v).sum::<f64>() / sum_w;
    let m = if f.learned.0.is_finite() {
        f.learned.0.clamp(w.learned_min, w.learned_max)
    } else {
        1.0
    };
    let raw = base * m;
    let score = raw.clamp(0.0, 100.0);
    let scale = if raw > 0.0 { score / raw } else { 0.0 };
    let part = |i: usize, name: &'static str| ApsPart {
        name,
        points: weights[i] * values[i] / sum_w * scale,
        value: values[i],
    };
    Aps {
        score,
        parts: [
            part(0, "revenue"),
            part(1, "urgency"),
            part(2, "fit"),
            part(3, "effort"),
            ApsPart {
                name: "learned",
                points: base * (m - 1.0) * scale,
                value: m,
            },
        ],
    }
}

/// Computes the score and its breakdown in points (no text: fast enough to re-rank 100k moves).
pub fn score(f: &Features, w: &ApsWeights) -> Aps {
    let values = [
        revenue(f, w, false).0,
        urgency_part(f, w, false).0,
        fit(f, w, false).0,
        effort(f, w, false).0,
    ];
    combine(f, w, values)
}

/// The score with a sentence of provenance per part (same numbers as [`score`]).
pub fn explain(f: &Features, w: &ApsWeights) -> (Aps, Vec<ExplainedPart>) {
    let (r, r_why) = revenue(f, w, true);
    let (u, u_why) = urgency_part(f, w, true);
    let (fi, f_why) = fit(f, w, true);
    let (e, e_why) = effort(f, w, true);
    let aps = combine(f, w, [r, u, fi, e]);
    let whys = [r_why, u_why, f_why, e_why, f.learned.1.clone()];
    let parts = aps
        .parts
        .iter()
        .zip(whys)
        .map(|(p, why)| ExplainedPart {
            name: p.name,
            points: p.points,
            value: p.value,
            why,
        })
        .collect();
    (aps, parts)
}

fn money(v: f64) -> String {
    if v >= 1_000_000.0 {
        format!("${:.1}M", v / 1_000_000.0)
    } else if v >= 1_000.0 {
        format!("${:.0}k", v / 1_000.0)
    } else {
        format!("${v:.0}")
    }
}

fn revenue(f: &Features, w: &ApsWeights, on: bool) -> (f64, String) {
    let scale = (1.0 + f.pipeline_max_value.max(1.0)).ln();
    let log_scaled = |v: f64| (100.0 * (1.0 + v.max(0.0)).ln() / scale).clamp(0.0, 100.0);
    if let Some(d) = &f.deal {
        let v = d.amount * d.probability;
        let why = why!(
            on,
            "deal \"{}\" {} × {:.0}% ({}) of top {}",
            d.name,
            if d.amount_assumed {
                format!("amount not set, typical {}", money(d.amount))
            } else {
                money(d.amount)
            },
            d.probability * 100.0,
            d.stage,
            money(f.pipeline_max_value)
        );
        return (log_scaled(v), why);
    }
    let typical = f.typical_deal_amount * w.no_deal_probability;
    match &f.company {
        Some((name, employees)) => {
            let size = employees.unwrap_or(0) as f64;
            let factor = ((1.0 + size).ln() / (1.0 + w.ideal_company_size).ln()).clamp(0.1, 1.0);
            let v = typical * factor;
            (
                log_scaled(v),
                why!(
                    on,
                    "no open deal; {name} ({}) ≈ {} potential",
                    employees
                        .map(|e| format!("{e} people"))
                        .unwrap_or_else(|| "size unknown".into()),
                    money(v)
                ),
            )
        }
        None => {
            let v = typical * 0.1;
            (
                log_scaled(v),
                why!(on, "no deal or company on record ≈ {}", money(v)),
            )
        }
    }
}

/// `1 day`, `3 days` (rounded).
pub fn plural_days(n: f64) -> String {
    let n = n.round() as i64;
    if n == 1 {
        "1 day".into()
    } else {
        format!("{n} days")
    }
}

fn decay(age_days: f64, w: &ApsWeights) -> f64 {
    if age_days <= w.decay_after_days {
        1.0
    } else {
        0.5_f64.powf((age_days - w.decay_after_days) / w.decay_half_life_days)
    }
}

fn rise(x: f64, tau: f64) -> f64 {
    1.0 - (-x.max(0.0) / tau).exp()
}

/// The urgency curve of each move type, 0–100, with its reason.
pub fn urgency(f: &Features, w: &ApsWeights) -> (f64, String) {
    urgency_part(f, w, true)
}

fn urgency_part(f: &Features, w: &ApsWeights, on: bool) -> (f64, String) {
    let h = f.age_hours.max(0.0);
    let days = h / 24.0;
    let waited = || crate::domain::time::short_age_hours(h);
    let (u, why) = match f.kind {
        MoveKind::ReplyInbound => (
            (40.0 + 60.0 * rise(h, w.reply_rise_hours)) * decay(days, w),
            why!(on, "they wrote {} ago, unanswered", waited()),
        ),
        MoveKind::ApproveDraft => (
            (50.0 + 30.0 * rise(h, 24.0)) * decay(days, w),
            why!(on, "draft waiting {}", waited()),
        ),
        MoveKind::FollowUp => (
            (35.0 + 45.0 * rise(days, 7.0)) * decay(days, w),
            why!(on, "no reply for {}", waited()),
        ),
        MoveKind::StaleDeal => {
            let i = f.inactive_days.unwrap_or(0.0);
            (
                30.0 + 50.0 * rise(i - f.stale_after_days, 14.0),
                why!(
                    on,
                    "no activity for {} (threshold {})",
                    plural_days(i),
                    plural_days(f.stale_after_days)
                ),
            )
        }
        MoveKind::ClosingSoon => {
            let d = f.days_to_close.unwrap_or(0.0);
            if d >= 0.0 {
                let window = f.closing_window_days.max(1.0);
                (
                    100.0 - 50.0 * (d / window).clamp(0.0, 1.0),
                    why!(
                        on,
                        "closes in {} (window {})",
                        plural_days(d),
                        plural_days(window)
                    ),
                )
            } else {
                (
                    100.0 * decay(-d, w),
                    why!(on, "close date passed {} ago", plural_days(-d)),
                )
            }
        }
        MoveKind::NewLead => (
            20.0 + 75.0 * 0.5_f64.powf(h / w.lead_half_life_hours),
            why!(on, "lead arrived {} ago; speed to lead", waited()),
        ),
        MoveKind::OverdueTask => {
            let o = f.overdue_days.unwrap_or(0.0);
            let bonus = if f.high_priority { 10.0 } else { 0.0 };
            (
                45.0 + 45.0 * rise(o, 5.0) + bonus,
                why!(
                    on,
                    "{} overdue{}",
                    plural_days(o),
                    if f.high_priority { ", high priority" } else { "" }
                ),
            )
        }
        MoveKind::StageChanged => (
            20.0 + 60.0 * 0.5_f64.powf(days / 2.0),
            why!(on, "stage changed {} ago", waited()),
        ),
    };
    (u.clamp(0.0, 100.0), why)
}

fn fit(f: &Features, w: &ApsWeights, on: bool) -> (f64, String) {
    let stage = f.lifecycle.as_deref().unwrap_or("");
    let base = w.lifecycle.get(stage).copied().unwrap_or(w.lifecycle_default);
    let mut why = if stage.is_empty() {
        why!(on, "lifecycle unknown {base:.0}")
    } else {
        why!(on, "lifecycle {stage} {base:.0}")
    };
    let mut v = base;
    if let Some(d) = f.form_days_ago {
        let b = w.form_bonus * 0.5_f64.powf(d.max(0.0) / w.form_half_life_days);
        v += b;
        if b >= 0.5 {
            why.push_str(&why!(on, " + form {:.0}d ago {b:+.0}", d.max(0.0)));
        }
    }
    if f.replied_before {
        v += w.replied_bonus;
        why.push_str(&why!(on, " + has replied before {:+.0}", w.replied_bonus));
    }
    (v.clamp(0.0, 100.0), why)
}

fn effort(f: &Features, w: &ApsWeights, on: bool) -> (f64, String) {
    let minutes = f.effort.minutes(&w.effort_minutes);
    let v = 100.0 * 0.5_f64.powf(minutes / w.effort_half_life_minutes);
    (v, why!(on, "{} ≈ {minutes:.0} min", f.effort.label()))
}

/// An event that would change the score, and by how many points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WhatIf {
    /// The event, in the operator's words.
    pub event: String,
    /// Change in points (positive raises the move).
    pub delta: f64,
}

/// Re-scores plausible events and returns them, largest absolute change first.
pub fn what_would_move(f: &Features, w: &ApsWeights) -> Vec<WhatIf> {
    let now = score(f, w).score;
    let mut out = Vec::new();
    let mut push = |event: String, g: Features| {
        let delta = score(&g, w).score - now;
        if delta.abs() >= 0.05 {
            out.push(WhatIf { event, delta });
        }
    };
    let mut later = f.clone();
    later.age_hours += 24.0;
    later.days_to_close = later.days_to_close.map(|d| d - 1.0);
    later.overdue_days = later.overdue_days.map(|d| d + 1.0);
    later.inactive_days = later.inactive_days.map(|d| d + 1.0);
    later.form_days_ago = later.form_days_ago.map(|d| d + 1.0);
    push("it waits one more day".into(), later);
    if let Some(d) = &f.deal
        && let Some((label, p)) = &d.next_stage
    {
        let mut g = f.clone();
        if let Some(gd) = g.deal.as_mut() {
            gd.probability = *p;
        }
        push(format!("the deal advances to {label}"), g);
    }
    if matches!(
        f.kind,
        MoveKind::ReplyInbound | MoveKind::FollowUp | MoveKind::StaleDeal
    ) && f.effort != Effort::Approve
    {
        let mut g = f.clone();
        g.effort = Effort::Approve;
        push("a draft is ready to approve".into(), g);
    }
    if !f.replied_before {
        let mut g = f.clone();
        g.replied_before = true;
        push("they reply to anything".into(), g);
    }
    if f.form_days_ago.is_none_or(|d| d > 1.0) {
        let mut g = f.clone();
        g.form_days_ago = Some(0.0);
        push("they submit a form today".into(), g);
    }
    out.sort_by(|a, b| {
        b.delta
            .abs()
            .total_cmp(&a.delta.abs())
            .then_with(|| a.event.cmp(&b.event))
    });
    out
}
