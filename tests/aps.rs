//! Action Priority Score: the breakdown adds up, the curves have the documented shapes, weights
//! are validated, and "what would move it" points the right way. Public API only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use caseyos::config::Config;
use caseyos::domain::aps::{
    Aps, ApsWeights, DealValue, Effort, Features, WhatIf, score, urgency, what_would_move,
};
use caseyos::domain::moves::MoveKind;
use rstest::rstest;

const EPS: f64 = 1e-9;

fn weights() -> ApsWeights {
    Config::default().aps
}

fn deal(amount: f64, probability: f64) -> DealValue {
    DealValue {
        name: "Acme renewal".into(),
        amount,
        probability,
        stage: "Qualified".into(),
        next_stage: Some(("Contract sent".into(), 0.8)),
        amount_assumed: false,
    }
}

/// A plain feature set for `kind`: no deal, no company, neutral learned multiplier.
fn base(kind: MoveKind) -> Features {
    Features {
        kind,
        deal: None,
        company: None,
        pipeline_max_value: 100_000.0,
        typical_deal_amount: 20_000.0,
        age_hours: 30.0,
        days_to_close: None,
        overdue_days: None,
        inactive_days: None,
        stale_after_days: 14.0,
        closing_window_days: 7.0,
        high_priority: false,
        lifecycle: None,
        form_days_ago: None,
        replied_before: false,
        effort: Effort::Reply,
        learned: (1.0, "neutral".into()),
    }
}

/// Features with the fields each kind actually uses filled in, the way detection fills them.
fn typical(kind: MoveKind) -> Features {
    let mut f = base(kind);
    match kind {
        MoveKind::ReplyInbound => {
            f.age_hours = 5.0;
            f.effort = Effort::Reply;
        }
        MoveKind::ApproveDraft => {
            f.age_hours = 2.0;
            f.effort = Effort::Approve;
        }
        MoveKind::FollowUp => {
            f.age_hours = 4.0 * 24.0;
            f.effort = Effort::Reply;
        }
        MoveKind::StaleDeal => {
            f.inactive_days = Some(20.0);
            f.age_hours = 20.0 * 24.0;
            f.effort = Effort::Reply;
        }
        MoveKind::ClosingSoon => {
            f.days_to_close = Some(3.0);
            f.age_hours = 4.0 * 24.0;
            f.effort = Effort::Task;
        }
        MoveKind::NewLead => {
            f.age_hours = 12.0;
            f.lifecycle = Some("lead".into());
            f.form_days_ago = Some(0.0);
            f.effort = Effort::FirstTouch;
        }
        MoveKind::OverdueTask => {
            f.overdue_days = Some(2.0);
            f.age_hours = 2.0 * 24.0;
            f.high_priority = true;
            f.effort = Effort::Call;
        }
        MoveKind::StageChanged => {
            f.age_hours = 20.0;
            f.effort = Effort::Task;
        }
    }
    f
}

fn part<'a>(aps: &'a Aps, name: &str) -> &'a caseyos::domain::aps::ApsPart {
    aps.parts
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no part {name} in {aps:?}"))
}

fn value(f: &Features, name: &str) -> f64 {
    part(&score(f, &weights()), name).value
}

fn points_sum(aps: &Aps) -> f64 {
    aps.parts.iter().map(|p| p.points).sum()
}

fn assert_adds_up(f: &Features, w: &ApsWeights) -> Aps {
    let aps = score(f, w);
    assert!(aps.score.is_finite(), "score not finite for {f:?}: {aps:?}");
    assert!(
        (0.0..=100.0).contains(&aps.score),
        "score {} out of range for {f:?}",
        aps.score
    );
    let sum = points_sum(&aps);
    assert!(
        (sum - aps.score).abs() <= EPS,
        "points add up to {sum}, score is {} (diff {:e}) for {f:?}",
        aps.score,
        (sum - aps.score).abs()
    );
    let names: Vec<&str> = aps.parts.iter().map(|p| p.name).collect();
    let (explained_aps, explained) = caseyos::domain::aps::explain(f, w);
    assert_eq!(explained_aps, aps, "explain gives the same numbers as score");
    assert_eq!(names, ["revenue", "urgency", "fit", "effort", "learned"]);
    for (p, e) in aps.parts[..4].iter().zip(&explained) {
        assert!(
            (0.0..=100.0).contains(&p.value),
            "part {} value {} out of 0..=100",
            p.name,
            p.value
        );
        assert!(
            p.points >= 0.0,
            "part {} has negative points {}",
            p.name,
            p.points
        );
        assert!(!e.why.is_empty(), "part {} has no provenance", p.name);
    }
    aps
}

// ---------------------------------------------------------------------------------------------
// (a) The breakdown adds up to the score, and the score stays in 0..=100.
// ---------------------------------------------------------------------------------------------

#[rstest]
fn parts_add_up_to_score(
    #[values(
        MoveKind::ReplyInbound,
        MoveKind::ApproveDraft,
        MoveKind::FollowUp,
        MoveKind::StaleDeal,
        MoveKind::ClosingSoon,
        MoveKind::NewLead,
        MoveKind::OverdueTask,
        MoveKind::StageChanged
    )]
    kind: MoveKind,
    #[values(false, true)] with_deal: bool,
    #[values(false, true)] with_company: bool,
    #[values(0.5, 1.0, 1.5)] learned: f64,
) {
    let mut f = typical(kind);
    if with_deal {
        f.deal = Some(deal(48_000.0, 0.6));
    }
    if with_company {
        f.company = Some(("Acme".into(), Some(250)));
    }
    f.learned = (learned, format!("×{learned:.2}"));
    let aps = assert_adds_up(&f, &weights());
    let learned_part = part(&aps, "learned");
    assert_eq!(learned_part.value, learned);
    if learned == 1.0 {
        assert_eq!(learned_part.points, 0.0, "a neutral multiplier adds nothing");
    } else if learned < 1.0 {
        assert!(
            learned_part.points < 0.0,
            "a multiplier below 1 takes points away"
        );
    } else {
        assert!(learned_part.points > 0.0, "a multiplier above 1 adds points");
    }
}

#[test]
fn learned_multiplier_pushing_raw_score_above_100_is_capped_and_still_adds_up() {
    let w = weights();
    let mut f = base(MoveKind::ReplyInbound);
    f.deal = Some(deal(100_000.0, 1.0)); // the pipeline's top value: revenue 100
    f.age_hours = 48.0;
    f.lifecycle = Some("opportunity".into());
    f.form_days_ago = Some(0.0);
    f.replied_before = true;
    f.effort = Effort::Approve;
    let neutral = score(&f, &w).score;
    assert!(
        neutral * 1.5 > 100.0,
        "fixture must push the raw score over 100, base is {neutral}"
    );
    f.learned = (1.5, "×1.50 (12 of 20 replied)".into());
    let aps = assert_adds_up(&f, &w);
    assert_eq!(aps.score, 100.0);
    // The cap scales every contribution by the same factor.
    let scale = 100.0 / (neutral * 1.5);
    let neutral_aps = score(
        &Features {
            learned: (1.0, String::new()),
            ..f.clone()
        },
        &w,
    );
    for (capped, plain) in aps.parts[..4].iter().zip(&neutral_aps.parts[..4]) {
        assert!(
            (capped.points - plain.points * scale).abs() < EPS,
            "{capped:?} vs {plain:?}"
        );
    }
}

#[test]
fn learned_multiplier_is_clamped_to_configured_bounds() {
    let w = weights();
    let mut f = typical(MoveKind::ReplyInbound);
    f.learned = (5.0, "wild".into());
    let high = assert_adds_up(&f, &w);
    assert_eq!(part(&high, "learned").value, w.learned_max);
    f.learned = (0.01, "wild".into());
    let low = assert_adds_up(&f, &w);
    assert_eq!(part(&low, "learned").value, w.learned_min);
}

/// A small deterministic generator, so the sweep below covers many odd combinations
/// reproducibly without a dependency.
struct Lcg(u64);

impl Lcg {
    fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 11
    }
    fn unit(&mut self) -> f64 {
        self.next_u64() as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[(self.next_u64() % xs.len() as u64) as usize]
    }
    fn coin(&mut self) -> bool {
        self.next_u64().is_multiple_of(2)
    }
}

#[test]
fn parts_add_up_for_a_sweep_of_random_features_and_weights() {
    let mut rng = Lcg(0x00C0_FFEE);
    let efforts = [
        Effort::Approve,
        Effort::Reply,
        Effort::FirstTouch,
        Effort::Call,
        Effort::Task,
        Effort::Update,
    ];
    let stages = [
        "lead",
        "opportunity",
        "customer",
        "subscriber",
        "unknown-stage",
        "",
    ];
    for i in 0..2_000 {
        let mut w = weights();
        if i % 3 == 0 {
            w.revenue = rng.range(0.0, 3.0);
            w.urgency = rng.range(0.0, 3.0);
            w.fit = rng.range(0.0, 3.0);
            w.effort = rng.range(0.01, 3.0);
        }
        let kind = rng.pick(&MoveKind::ALL);
        let mut f = base(kind);
        f.pipeline_max_value = rng.range(0.0, 2_000_000.0);
        f.typical_deal_amount = rng.range(0.0, 200_000.0);
        f.age_hours = rng.range(-5.0, 24.0 * 90.0);
        f.days_to_close = rng.coin().then(|| rng.range(-60.0, 30.0));
        f.overdue_days = rng.coin().then(|| rng.range(0.0, 60.0));
        f.inactive_days = rng.coin().then(|| rng.range(0.0, 200.0));
        f.high_priority = rng.coin();
        let stage = rng.pick(&stages);
        f.lifecycle = (!stage.is_empty()).then(|| stage.to_string());
        f.form_days_ago = rng.coin().then(|| rng.range(-1.0, 100.0));
        f.replied_before = rng.coin();
        f.effort = rng.pick(&efforts);
        if rng.coin() {
            f.deal = Some(deal(rng.range(0.0, 3_000_000.0), rng.range(0.0, 1.0)));
        }
        if rng.coin() {
            let size = rng.coin().then(|| rng.next_u64() % 50_000);
            f.company = Some(("Co".into(), size));
        }
        f.learned = (rng.range(0.3, 2.0), "sweep".into());
        assert_adds_up(&f, &w);
    }
}

// ---------------------------------------------------------------------------------------------
// (b) Determinism.
// ---------------------------------------------------------------------------------------------

fn bits(aps: &Aps) -> Vec<u64> {
    std::iter::once(aps.score.to_bits())
        .chain(
            aps.parts
                .iter()
                .flat_map(|p| [p.points.to_bits(), p.value.to_bits()]),
        )
        .collect()
}

#[rstest]
fn same_features_and_weights_give_bit_identical_results(
    #[values(
        MoveKind::ReplyInbound,
        MoveKind::ApproveDraft,
        MoveKind::FollowUp,
        MoveKind::StaleDeal,
        MoveKind::ClosingSoon,
        MoveKind::NewLead,
        MoveKind::OverdueTask,
        MoveKind::StageChanged
    )]
    kind: MoveKind,
) {
    let mut f = typical(kind);
    f.deal = Some(deal(31_337.0, 0.37));
    f.company = Some(("Acme".into(), Some(77)));
    f.learned = (1.13, "×1.13".into());
    let w = weights();
    let a = score(&f, &w);
    let b = score(&f.clone(), &w.clone());
    assert_eq!(bits(&a), bits(&b));
    assert_eq!(a, b);
    let wa = what_would_move(&f, &w);
    let wb = what_would_move(&f, &w);
    assert_eq!(wa, wb);
    assert!(
        wa.iter()
            .zip(&wb)
            .all(|(x, y)| x.delta.to_bits() == y.delta.to_bits())
    );
}

// ---------------------------------------------------------------------------------------------
// (c) Curve shapes.
// ---------------------------------------------------------------------------------------------

fn urgency_at(kind: MoveKind, edit: impl Fn(&mut Features)) -> f64 {
    let mut f = base(kind);
    edit(&mut f);
    let (u, why) = urgency(&f, &weights());
    assert!(!why.is_empty());
    u
}

fn strictly_increasing(xs: &[f64]) -> bool {
    xs.windows(2).all(|p| p[0] < p[1])
}

fn strictly_decreasing(xs: &[f64]) -> bool {
    xs.windows(2).all(|p| p[0] > p[1])
}

#[test]
fn reply_urgency_rises_with_waiting_then_decays_after_decay_after_days() {
    let w = weights();
    let u = |h: f64| urgency_at(MoveKind::ReplyInbound, |f| f.age_hours = h);
    let rising: Vec<f64> = [0.0, 1.0, 6.0, 12.0, 24.0, 72.0, 7.0 * 24.0]
        .iter()
        .map(|h| u(*h))
        .collect();
    assert!(strictly_increasing(&rising), "{rising:?}");
    assert!((u(0.0) - 40.0).abs() < EPS, "a brand-new reply starts at 40");
    // No decay up to decay_after_days ...
    let edge = w.decay_after_days * 24.0;
    assert!(u(edge) > u(edge - 24.0));
    // ... then it halves every decay_half_life_days.
    let decaying: Vec<f64> = [1.0, 3.0, 10.0, 20.0, 40.0]
        .iter()
        .map(|d| u(edge + d * 24.0))
        .collect();
    assert!(strictly_decreasing(&decaying), "{decaying:?}");
    let one_half_life = u(edge + w.decay_half_life_days * 24.0);
    assert!(
        (one_half_life - 50.0).abs() < 1e-6,
        "after one half-life past the decay start, urgency is half of ~100: {one_half_life}"
    );
}

#[test]
fn closing_soon_urgency_is_higher_the_nearer_the_close_date_and_highest_when_past() {
    let u = |d: f64| urgency_at(MoveKind::ClosingSoon, |f| f.days_to_close = Some(d));
    let approaching: Vec<f64> = [7.0, 6.0, 4.0, 2.0, 1.0, 0.0].iter().map(|d| u(*d)).collect();
    assert!(strictly_increasing(&approaching), "{approaching:?}");
    assert!((u(7.0) - 50.0).abs() < EPS, "edge of the 7-day window is 50");
    assert!((u(0.0) - 100.0).abs() < EPS);
    // Past the close date: maximal, nothing that is still ahead beats it.
    for past in [-1.0, -5.0, -14.0] {
        assert!((u(past) - 100.0).abs() < EPS, "u({past}) = {}", u(past));
        assert!(u(past) > u(1.0));
    }
    // Long past: decays (half after decay_after + half_life days).
    let long_past: Vec<f64> = [-15.0, -20.0, -28.0, -40.0].iter().map(|d| u(*d)).collect();
    assert!(strictly_decreasing(&long_past), "{long_past:?}");
    assert!((u(-28.0) - 50.0).abs() < 1e-6);
    assert!(u(-28.0) < u(-1.0));
}

#[test]
fn new_lead_urgency_falls_with_age_speed_to_lead() {
    let w = weights();
    let u = |h: f64| urgency_at(MoveKind::NewLead, |f| f.age_hours = h);
    let falling: Vec<f64> = [0.0, 1.0, 12.0, 48.0, 96.0, 14.0 * 24.0]
        .iter()
        .map(|h| u(*h))
        .collect();
    assert!(strictly_decreasing(&falling), "{falling:?}");
    assert!((u(0.0) - 95.0).abs() < EPS);
    // The part above the floor of 20 halves every lead_half_life_hours.
    let halved = u(w.lead_half_life_hours);
    assert!((halved - (20.0 + 75.0 / 2.0)).abs() < 1e-9, "{halved}");
}

#[test]
fn overdue_task_urgency_rises_with_overdue_days_and_high_priority_adds() {
    let u = |o: f64, high: bool| {
        urgency_at(MoveKind::OverdueTask, |f| {
            f.overdue_days = Some(o);
            f.high_priority = high;
        })
    };
    let rising: Vec<f64> = [0.0, 1.0, 3.0, 7.0, 30.0].iter().map(|o| u(*o, false)).collect();
    assert!(strictly_increasing(&rising), "{rising:?}");
    for o in [0.0, 2.0, 10.0, 60.0] {
        let diff = u(o, true) - u(o, false);
        assert!(
            (diff - 10.0).abs() < EPS,
            "high priority adds 10 at {o} days, got {diff}"
        );
        assert!(u(o, true) <= 100.0);
    }
}

#[test]
fn stale_deal_urgency_grows_past_the_threshold_only() {
    let u = |i: f64| urgency_at(MoveKind::StaleDeal, |f| f.inactive_days = Some(i));
    assert!((u(5.0) - 30.0).abs() < EPS);
    assert!((u(14.0) - 30.0).abs() < EPS, "at the threshold it is the floor");
    let rising: Vec<f64> = [14.0, 15.0, 21.0, 40.0].iter().map(|i| u(*i)).collect();
    assert!(strictly_increasing(&rising), "{rising:?}");
}

#[test]
fn stage_changed_and_approve_draft_and_follow_up_urgency_shapes() {
    let stage: Vec<f64> = [0.0, 24.0, 48.0, 72.0]
        .iter()
        .map(|h| urgency_at(MoveKind::StageChanged, |f| f.age_hours = *h))
        .collect();
    assert!(
        strictly_decreasing(&stage),
        "a fresh stage change is the most urgent: {stage:?}"
    );
    let draft: Vec<f64> = [0.0, 6.0, 24.0, 72.0]
        .iter()
        .map(|h| urgency_at(MoveKind::ApproveDraft, |f| f.age_hours = *h))
        .collect();
    assert!(strictly_increasing(&draft), "{draft:?}");
    let follow: Vec<f64> = [72.0, 120.0, 240.0]
        .iter()
        .map(|h| urgency_at(MoveKind::FollowUp, |f| f.age_hours = *h))
        .collect();
    assert!(strictly_increasing(&follow), "{follow:?}");
}

#[test]
fn effort_approve_scores_higher_than_call() {
    let w = weights();
    assert_eq!(w.effort_minutes.approve, 1.0);
    assert_eq!(w.effort_minutes.call, 15.0);
    let with = |e: Effort| {
        let mut f = typical(MoveKind::OverdueTask);
        f.effort = e;
        score(&f, &w)
    };
    let approve = with(Effort::Approve);
    let call = with(Effort::Call);
    let e_approve = part(&approve, "effort");
    let e_call = part(&call, "effort");
    assert!((e_approve.value - 100.0 * 0.5_f64.powf(0.1)).abs() < 1e-9);
    assert!((e_call.value - 100.0 * 0.5_f64.powf(1.5)).abs() < 1e-9);
    assert!(e_approve.points > e_call.points);
    assert!(approve.score > call.score);
    // The full order of the documented minutes: approve 1 < update 2 < task 3 < reply 5 < first touch 10 < call 15.
    let order: Vec<f64> = [
        Effort::Approve,
        Effort::Update,
        Effort::Task,
        Effort::Reply,
        Effort::FirstTouch,
        Effort::Call,
    ]
    .into_iter()
    .map(|e| part(&with(e), "effort").value)
    .collect();
    assert!(strictly_decreasing(&order), "{order:?}");
    let mut call = base(MoveKind::OverdueTask);
    call.effort = Effort::Call;
    let why = &caseyos::domain::aps::explain(&call, &weights()).1[3].why;
    assert!(why.contains("15 min"), "{why}");
}

#[test]
fn revenue_grows_with_expected_value_log_scaled_and_capped() {
    let rev = |amount: f64, p: f64| {
        let mut f = typical(MoveKind::StaleDeal);
        f.pipeline_max_value = 100_000.0;
        f.deal = Some(deal(amount, p));
        value(&f, "revenue")
    };
    let r10 = rev(10_000.0, 1.0);
    let r20 = rev(20_000.0, 1.0);
    assert!(r20 > r10, "larger amount, more revenue");
    assert!(
        r20 < 2.0 * r10,
        "log-scaled: doubling the value does not double the part"
    );
    assert!(
        rev(20_000.0, 0.5) < rev(20_000.0, 0.9),
        "higher probability, more revenue"
    );
    assert!(
        (rev(20_000.0, 0.5) - r10).abs() < EPS,
        "only amount × probability counts"
    );
    let expected = 100.0 * (1.0_f64 + 10_000.0).ln() / (1.0_f64 + 100_000.0).ln();
    assert!((r10 - expected).abs() < 1e-9, "{r10} vs {expected}");
    assert!(
        (rev(100_000.0, 1.0) - 100.0).abs() < EPS,
        "the pipeline's top value is 100"
    );
    assert_eq!(rev(5_000_000.0, 1.0), 100.0, "capped at 100");
    assert_eq!(rev(0.0, 0.5), 0.0);
    assert_eq!(
        rev(-5.0, 0.5),
        0.0,
        "a negative amount is worth nothing, not less"
    );
}

#[test]
fn revenue_without_deal_uses_company_size_and_no_deal_probability() {
    let rev = |company: Option<(String, Option<u64>)>| {
        let mut f = typical(MoveKind::NewLead);
        f.company = company;
        value(&f, "revenue")
    };
    let none = rev(None);
    let unknown = rev(Some(("Acme".into(), None)));
    let small = rev(Some(("Acme".into(), Some(10))));
    let big = rev(Some(("Acme".into(), Some(1_000))));
    let huge = rev(Some(("Acme".into(), Some(100_000))));
    assert!(
        (unknown - none).abs() < EPS,
        "unknown size counts like no company"
    );
    assert!(small > none && big > small);
    assert!(
        (huge - big).abs() < EPS,
        "beyond the ideal size there is no extra value"
    );
    // Ideal size: typical amount × no_deal_probability.
    let w = weights();
    let v = 20_000.0 * w.no_deal_probability;
    let expected = 100.0 * (1.0 + v).ln() / (1.0_f64 + 100_000.0).ln();
    assert!((big - expected).abs() < 1e-9, "{big} vs {expected}");
}

#[test]
fn fit_uses_lifecycle_map_form_bonus_halving_and_replied_bonus() {
    let w = weights();
    let fit = |stage: Option<&str>, form: Option<f64>, replied: bool| {
        let mut f = base(MoveKind::NewLead);
        f.lifecycle = stage.map(str::to_string);
        f.form_days_ago = form;
        f.replied_before = replied;
        value(&f, "fit")
    };
    assert_eq!(fit(Some("opportunity"), None, false), w.lifecycle["opportunity"]);
    assert_eq!(fit(Some("lead"), None, false), 40.0);
    assert_eq!(fit(Some("subscriber"), None, false), 20.0);
    assert_eq!(fit(Some("martian"), None, false), w.lifecycle_default);
    assert_eq!(fit(None, None, false), w.lifecycle_default);
    // Form bonus: full today, halving every form_half_life_days.
    let hl = w.form_half_life_days;
    assert!((fit(Some("lead"), Some(0.0), false) - (40.0 + w.form_bonus)).abs() < EPS);
    assert!((fit(Some("lead"), Some(hl), false) - (40.0 + w.form_bonus / 2.0)).abs() < EPS);
    assert!((fit(Some("lead"), Some(2.0 * hl), false) - (40.0 + w.form_bonus / 4.0)).abs() < EPS);
    assert!((fit(Some("lead"), None, true) - (40.0 + w.replied_bonus)).abs() < EPS);
    // Everything at once is capped at 100.
    assert_eq!(fit(Some("opportunity"), Some(0.0), true), 100.0);
    let mut f = base(MoveKind::NewLead);
    f.lifecycle = Some("lead".into());
    f.form_days_ago = Some(0.0);
    f.replied_before = true;
    let why = caseyos::domain::aps::explain(&f, &w).1[2].why.clone();
    assert!(why.contains("lifecycle lead 40"), "{why}");
    assert!(why.contains("form"), "{why}");
    assert!(why.contains("replied before"), "{why}");
}

// ---------------------------------------------------------------------------------------------
// (d) Weights.
// ---------------------------------------------------------------------------------------------

#[rstest]
#[case::revenue("revenue")]
#[case::urgency("urgency")]
#[case::fit("fit")]
#[case::effort("effort")]
fn zero_weight_removes_that_part(#[case] name: &str) {
    let mut w = weights();
    match name {
        "revenue" => w.revenue = 0.0,
        "urgency" => w.urgency = 0.0,
        "fit" => w.fit = 0.0,
        _ => w.effort = 0.0,
    }
    assert!(w.validate().is_ok());
    let mut f = typical(MoveKind::ReplyInbound);
    f.deal = Some(deal(48_000.0, 0.6));
    f.lifecycle = Some("opportunity".into());
    let before = part(&score(&f, &weights()), name).points;
    assert!(
        before > 0.0,
        "fixture must give {name} points with default weights"
    );
    let aps = assert_adds_up(&f, &w);
    assert_eq!(part(&aps, name).points, 0.0);
    assert!(
        part(&aps, name).value > 0.0,
        "the part's own value is still shown"
    );
}

#[test]
fn a_single_weight_makes_the_score_that_part() {
    let mut w = weights();
    w.revenue = 0.0;
    w.fit = 0.0;
    w.effort = 0.0;
    w.urgency = 2.5;
    let f = typical(MoveKind::OverdueTask);
    let aps = score(&f, &w);
    let (u, _) = urgency(&f, &w);
    assert!((aps.score - u).abs() < EPS);
}

#[test]
fn default_weights_validate() {
    assert_eq!(weights().validate(), Ok(()));
}

type Edit = fn(&mut ApsWeights);

#[rstest]
#[case::negative_revenue(|w: &mut ApsWeights| w.revenue = -0.1, "revenue")]
#[case::negative_urgency(|w: &mut ApsWeights| w.urgency = -1.0, "urgency")]
#[case::negative_fit(|w: &mut ApsWeights| w.fit = -1.0, "fit")]
#[case::negative_effort(|w: &mut ApsWeights| w.effort = -1.0, "effort")]
#[case::nan_revenue(|w: &mut ApsWeights| w.revenue = f64::NAN, "revenue")]
#[case::nan_fit(|w: &mut ApsWeights| w.fit = f64::NAN, "fit")]
#[case::infinite_urgency(|w: &mut ApsWeights| w.urgency = f64::INFINITY, "urgency")]
#[case::all_zero(
    |w: &mut ApsWeights| {
        w.revenue = 0.0;
        w.urgency = 0.0;
        w.fit = 0.0;
        w.effort = 0.0;
    },
    "revenue"
)]
#[case::no_deal_probability_above_one(|w: &mut ApsWeights| w.no_deal_probability = 1.5, "no_deal_probability")]
#[case::no_deal_probability_negative(|w: &mut ApsWeights| w.no_deal_probability = -0.1, "no_deal_probability")]
#[case::no_deal_probability_nan(|w: &mut ApsWeights| w.no_deal_probability = f64::NAN, "no_deal_probability")]
#[case::learned_min_zero(|w: &mut ApsWeights| w.learned_min = 0.0, "learned_min")]
#[case::learned_min_above_one(|w: &mut ApsWeights| w.learned_min = 1.2, "learned_min")]
#[case::learned_min_nan(|w: &mut ApsWeights| w.learned_min = f64::NAN, "learned_min")]
#[case::lifecycle_above_100(
    |w: &mut ApsWeights| {
        w.lifecycle.insert("opportunity".into(), 120.0);
    },
    "lifecycle.opportunity"
)]
#[case::lifecycle_negative(
    |w: &mut ApsWeights| {
        w.lifecycle.insert("lead".into(), -1.0);
    },
    "lifecycle.lead"
)]
#[case::lifecycle_nan(
    |w: &mut ApsWeights| {
        w.lifecycle.insert("customer".into(), f64::NAN);
    },
    "lifecycle.customer"
)]
#[case::negative_form_bonus(|w: &mut ApsWeights| w.form_bonus = -5.0, "form_bonus")]
#[case::negative_call_minutes(|w: &mut ApsWeights| w.effort_minutes.call = -1.0, "effort_minutes.call")]
#[case::zero_reply_rise(|w: &mut ApsWeights| w.reply_rise_hours = 0.0, "reply_rise_hours")]
#[case::zero_lead_half_life(|w: &mut ApsWeights| w.lead_half_life_hours = 0.0, "lead_half_life_hours")]
#[case::zero_decay_half_life(|w: &mut ApsWeights| w.decay_half_life_days = 0.0, "decay_half_life_days")]
#[case::zero_effort_half_life(|w: &mut ApsWeights| w.effort_half_life_minutes = 0.0, "effort_half_life_minutes")]
#[case::negative_ideal_size(|w: &mut ApsWeights| w.ideal_company_size = -10.0, "ideal_company_size")]
fn validate_rejects_bad_weights_naming_the_key(#[case] edit: Edit, #[case] key: &str) {
    let mut w = weights();
    edit(&mut w);
    match w.validate() {
        Ok(()) => panic!("expected {key} to be rejected"),
        Err((k, message)) => {
            assert_eq!(k, key, "message: {message}");
            assert!(!message.is_empty());
        }
    }
}

#[rstest]
#[case::only_effort(|w: &mut ApsWeights| {
    w.revenue = 0.0;
    w.urgency = 0.0;
    w.fit = 0.0;
})]
#[case::no_deal_probability_bounds(|w: &mut ApsWeights| w.no_deal_probability = 1.0)]
#[case::learned_neutral_bounds(|w: &mut ApsWeights| {
    w.learned_min = 1.0;
    w.learned_max = 1.0;
})]
#[case::lifecycle_at_100(|w: &mut ApsWeights| {
    w.lifecycle.insert("opportunity".into(), 100.0);
})]
fn validate_accepts_values_at_the_limits(#[case] edit: Edit) {
    let mut w = weights();
    edit(&mut w);
    assert_eq!(w.validate(), Ok(()));
}

#[test]
fn validate_rejects_learned_max_below_one() {
    let mut w = weights();
    w.learned_max = 0.9;
    assert!(w.validate().is_err());
    w.learned_max = f64::NAN;
    assert!(w.validate().is_err());
}

#[test]
fn validate_names_learned_max_when_learned_max_is_wrong() {
    let mut w = weights();
    w.learned_max = 0.9;
    let (key, _) = w.validate().unwrap_err();
    assert_eq!(key, "learned_max");
}

// ---------------------------------------------------------------------------------------------
// (e) What would move it.
// ---------------------------------------------------------------------------------------------

fn find<'a>(ws: &'a [WhatIf], prefix: &str) -> Option<&'a WhatIf> {
    ws.iter().find(|w| w.event.starts_with(prefix))
}

fn assert_sorted_by_abs_delta(ws: &[WhatIf]) {
    for pair in ws.windows(2) {
        assert!(
            pair[0].delta.abs() >= pair[1].delta.abs(),
            "not sorted by |delta|: {ws:?}"
        );
    }
}

#[test]
fn reply_without_draft_a_ready_draft_raises_the_score() {
    let w = weights();
    let mut f = typical(MoveKind::ReplyInbound);
    f.effort = Effort::Reply;
    let ws = what_would_move(&f, &w);
    let draft = find(&ws, "a draft is ready to approve").expect("draft event");
    assert!(draft.delta > 0.0, "{draft:?}");
    let with_draft = Features {
        effort: Effort::Approve,
        ..f.clone()
    };
    let expected = score(&with_draft, &w).score - score(&f, &w).score;
    assert!((draft.delta - expected).abs() < EPS);
    assert_sorted_by_abs_delta(&ws);
    // Once the draft is there, it is no longer a what-if.
    assert!(find(&what_would_move(&with_draft, &w), "a draft is ready").is_none());
}

#[test]
fn deal_with_next_stage_advancing_raises_the_score() {
    let w = weights();
    let mut f = typical(MoveKind::StaleDeal);
    f.deal = Some(deal(48_000.0, 0.4));
    let ws = what_would_move(&f, &w);
    let adv = find(&ws, "the deal advances to Contract sent").expect("advance event");
    assert!(adv.delta > 0.0, "{adv:?}");
    assert_sorted_by_abs_delta(&ws);
    // Without a next stage, there is nothing to advance to.
    let mut last = f.clone();
    last.deal.as_mut().unwrap().next_stage = None;
    assert!(find(&what_would_move(&last, &w), "the deal advances").is_none());
}

#[test]
fn what_ifs_are_sorted_by_absolute_delta_with_mixed_signs() {
    let w = weights();
    // A new lead loses urgency by waiting (negative), gains from a reply or a form (positive).
    let mut f = typical(MoveKind::NewLead);
    f.form_days_ago = Some(10.0);
    let ws = what_would_move(&f, &w);
    assert!(ws.len() >= 3, "{ws:?}");
    assert!(ws.iter().any(|x| x.delta < 0.0), "{ws:?}");
    assert!(ws.iter().any(|x| x.delta > 0.0), "{ws:?}");
    let wait = find(&ws, "it waits one more day").expect("wait event");
    assert!(wait.delta < 0.0, "a lead cools off: {wait:?}");
    assert_sorted_by_abs_delta(&ws);
    assert!(ws.iter().all(|x| x.delta.abs() >= 0.05));
    // Every delta is exactly the re-scored difference for its event.
    let now = score(&f, &w).score;
    let replied = Features {
        replied_before: true,
        ..f.clone()
    };
    let reply = find(&ws, "they reply to anything").expect("reply event");
    assert!((reply.delta - (score(&replied, &w).score - now)).abs() < EPS);
}

#[test]
fn closing_soon_waiting_a_day_raises_urgency() {
    let w = weights();
    let mut f = typical(MoveKind::ClosingSoon);
    f.days_to_close = Some(5.0);
    let ws = what_would_move(&f, &w);
    let wait = find(&ws, "it waits one more day").expect("wait event");
    assert!(wait.delta > 0.0, "{wait:?}");
}
