//! Outcomes of executed moves on hand-built mirrors, the learned APS part fed by them, and the
//! backtest over synthetic histories. Injected clock, in-memory store, no network.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;

use caseyos::config::Config;
use caseyos::domain::aps::ApsWeights;
use caseyos::domain::backtest::{Recommended, backtest};
use caseyos::domain::detect::{detect_moves, detect_moves_learned};
use caseyos::domain::entities::{Contact, Deal, Mailbox, Message, Mirror, Stage};
use caseyos::domain::learn::{Evidence, NEUTRAL, Segment};
use caseyos::domain::moves::{MoveKind, MoveState};
use caseyos::domain::outcomes::{Execution, Outcome, OutcomePass, detect_outcomes};
use caseyos::store::Store;
use chrono::{DateTime, Duration, Utc};

const ME: &str = "casey@seller.test";

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// When the moves were executed.
fn t0() -> DateTime<Utc> {
    at("2026-11-02T10:00:00Z")
}

fn mb(email: &str) -> Mailbox {
    Mailbox {
        name: None,
        email: email.into(),
    }
}

fn stages() -> Vec<Stage> {
    let s = |id: &str, label: &str, order: i64, p: f64, closed: bool| Stage {
        id: id.into(),
        pipeline_id: "sales".into(),
        label: label.into(),
        display_order: order,
        probability: p,
        is_closed: closed,
    };
    vec![
        s("qualified", "Qualified", 0, 0.2, false),
        s("appointmentscheduled", "Appointment scheduled", 1, 0.3, false),
        s("proposal", "Proposal", 2, 0.6, false),
        s("closedwon", "Closed won", 3, 1.0, true),
        s("closedlost", "Closed lost", 4, 0.0, true),
    ]
}

fn alice() -> Contact {
    Contact {
        id: "c1".into(),
        email: Some("alice@acme.test".into()),
        first_name: Some("Alice".into()),
        last_name: None,
        company_name: None,
        company_id: None,
        job_title: None,
        lifecycle_stage: Some("lead".into()),
        created_at: None,
        updated_at: None,
        recent_conversion_at: None,
        recent_conversion_event: None,
    }
}

fn deal(stage: &str, entered: Option<DateTime<Utc>>) -> Deal {
    Deal {
        id: "d1".into(),
        name: "Acme renewal".into(),
        amount: Some(20_000.0),
        pipeline_id: Some("sales".into()),
        stage_id: Some(stage.into()),
        close_date: None,
        created_at: Some(t0() - Duration::days(60)),
        updated_at: None,
        last_activity_at: None,
        stage_entered_at: entered,
        contact_ids: vec!["c1".into()],
        company_ids: vec![],
    }
}

fn msg(id: &str, t: DateTime<Utc>, outbound: bool) -> Message {
    Message {
        id: id.into(),
        thread_id: "t1".into(),
        at: t,
        from: mb(if outbound { ME } else { "alice@acme.test" }),
        to: vec![mb(if outbound { "alice@acme.test" } else { ME })],
        cc: vec![],
        subject: "Pricing".into(),
        snippet: "…".into(),
        body: String::new(),
        labels: vec![],
        message_id_header: None,
        outbound,
        automated: false,
    }
}

fn mirror() -> Mirror {
    Mirror {
        operator_email: Some(ME.into()),
        contacts: vec![alice()],
        stages: stages(),
        deals: vec![deal("qualified", Some(t0() - Duration::days(10)))],
        messages: vec![msg("m0", t0() - Duration::days(4), true)],
        ..Mirror::default()
    }
}

fn exec(key: &str) -> Execution {
    Execution {
        move_key: key.into(),
        kind: caseyos::domain::outcomes::kind_of_key(key).unwrap(),
        executed_at: t0(),
        watch: None,
    }
}

/// Detects with watches captured at execution time (the mirror as it was then), then again
/// on the mirror of `later` at `now`.
fn outcomes_after(key: &str, later: &Mirror, now: DateTime<Utc>) -> Vec<(Outcome, serde_json::Value)> {
    let first = detect_outcomes(&mirror(), &[exec(key)], &HashSet::new(), t0(), 14);
    let (_, _, _, watch) = first.watches[0].clone();
    let ex = Execution {
        watch: Some(watch),
        ..exec(key)
    };
    detect_outcomes(later, &[ex], &HashSet::new(), now, 14)
        .outcomes
        .into_iter()
        .map(|o| (o.outcome, o.evidence))
        .collect()
}

// --- outcome detection -----------------------------------------------------------------------

#[test]
fn a_reply_in_the_thread_after_execution_is_reply_received_with_the_message_as_evidence() {
    let mut m = mirror();
    m.messages.push(msg("m1", t0() + Duration::days(2), false));
    let got = outcomes_after("follow_up:thread:t1", &m, t0() + Duration::days(3));
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, Outcome::ReplyReceived);
    assert_eq!(got[0].1["message_id"], "m1");
}

#[test]
fn a_message_before_execution_or_an_automated_one_is_no_reply() {
    let mut m = mirror();
    m.messages.push(msg("early", t0() - Duration::hours(1), false));
    let mut auto = msg("auto", t0() + Duration::days(1), false);
    auto.automated = true;
    m.messages.push(auto);
    assert!(outcomes_after("follow_up:thread:t1", &m, t0() + Duration::days(3)).is_empty());
}

#[test]
fn a_stage_moving_forward_is_deal_advanced_with_from_and_to() {
    let mut m = mirror();
    m.deals = vec![deal("proposal", Some(t0() + Duration::days(5)))];
    let got = outcomes_after("stale_deal:deal:d1", &m, t0() + Duration::days(6));
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, Outcome::DealAdvanced);
    assert_eq!(got[0].1["from_stage"], "qualified");
    assert_eq!(got[0].1["to_stage"], "proposal");
}

#[test]
fn an_appointment_stage_is_meeting_booked() {
    let mut m = mirror();
    m.deals = vec![deal("appointmentscheduled", Some(t0() + Duration::days(1)))];
    let got = outcomes_after("stale_deal:deal:d1", &m, t0() + Duration::days(2));
    assert_eq!(
        got.iter().map(|g| g.0).collect::<Vec<_>>(),
        [Outcome::MeetingBooked]
    );
}

#[test]
fn closed_stages_are_won_or_lost() {
    for (stage, want) in [("closedwon", Outcome::DealWon), ("closedlost", Outcome::DealLost)] {
        let mut m = mirror();
        m.deals = vec![deal(stage, Some(t0() + Duration::days(3)))];
        let got = outcomes_after("closing_soon:deal:d1", &m, t0() + Duration::days(4));
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), [want], "{stage}");
    }
}

#[test]
fn a_stage_moving_back_is_no_advance() {
    let mut m = mirror();
    m.deals = vec![deal("proposal", Some(t0() - Duration::days(10)))];
    // Executed while in proposal; the deal later slid back to qualified.
    let first = detect_outcomes(&m, &[exec("stale_deal:deal:d1")], &HashSet::new(), t0(), 14);
    let watch = first.watches[0].3.clone();
    assert_eq!(watch.from_stage_id.as_deref(), Some("proposal"));
    let mut later = mirror();
    later.deals = vec![deal("qualified", Some(t0() + Duration::days(1)))];
    let ex = Execution {
        watch: Some(watch),
        ..exec("stale_deal:deal:d1")
    };
    let pass = detect_outcomes(&later, &[ex], &HashSet::new(), t0() + Duration::days(2), 14);
    assert!(pass.outcomes.is_empty(), "{:?}", pass.outcomes);
}

#[test]
fn nothing_within_the_window_is_no_outcome_once_it_passed_and_not_before() {
    let mut m = mirror();
    // A reply after the window closed does not count.
    m.messages.push(msg("late", t0() + Duration::days(20), false));
    assert!(outcomes_after("follow_up:thread:t1", &m, t0() + Duration::days(13)).is_empty());
    let got = outcomes_after("follow_up:thread:t1", &m, t0() + Duration::days(21));
    assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), [Outcome::NoOutcome]);
    assert_eq!(got[0].1["window_days"], 14);
}

#[test]
fn a_move_with_a_success_never_gets_no_outcome() {
    let mut m = mirror();
    m.messages.push(msg("m1", t0() + Duration::days(2), false));
    let recorded: HashSet<_> = [("follow_up:thread:t1".to_string(), Outcome::ReplyReceived)].into();
    let pass = detect_outcomes(
        &m,
        &[exec("follow_up:thread:t1")],
        &recorded,
        t0() + Duration::days(30),
        14,
    );
    assert!(pass.outcomes.is_empty(), "{:?}", pass.outcomes);
}

fn outcome_rows(store: &Store) -> Vec<(String, String)> {
    let mut v = Vec::new();
    for o in Outcome::ALL {
        let n = store.recorded_outcomes().unwrap();
        for (k, got) in n {
            if got == o {
                v.push((k, o.as_str().to_string()));
            }
        }
    }
    v.sort();
    v
}

fn pass_once(store: &mut Store, m: &Mirror, now: DateTime<Utc>) -> usize {
    let execs = store.executions().unwrap();
    let recorded = store.recorded_outcomes().unwrap();
    let pass: OutcomePass = detect_outcomes(m, &execs, &recorded, now, 14);
    store.apply_outcome_pass(&pass, now).unwrap()
}

#[test]
fn the_store_pass_is_idempotent_and_ignores_undone_decisions() {
    let mut store = Store::open_in_memory().unwrap();
    store
        .record_decision("follow_up:thread:t1", &MoveState::Done, t0())
        .unwrap();
    // Executed, then taken back with `u`: not an execution.
    store
        .record_decision("stale_deal:deal:d1", &MoveState::Done, t0())
        .unwrap();
    store.undo_last_decision(t0() + Duration::seconds(5)).unwrap();
    // First pass at execution time captures the watch, records nothing.
    assert_eq!(pass_once(&mut store, &mirror(), t0() + Duration::minutes(1)), 0);
    let mut later = mirror();
    later.messages.push(msg("m1", t0() + Duration::days(2), false));
    later.deals = vec![deal("proposal", Some(t0() + Duration::days(3)))];
    let now = t0() + Duration::days(4);
    assert_eq!(pass_once(&mut store, &later, now), 2, "reply and advance");
    assert_eq!(pass_once(&mut store, &later, now), 0, "idempotent");
    assert_eq!(
        pass_once(&mut store, &later, now + Duration::days(30)),
        0,
        "no no_outcome after success"
    );
    assert_eq!(
        outcome_rows(&store),
        [
            ("follow_up:thread:t1".to_string(), "deal_advanced".to_string()),
            ("follow_up:thread:t1".to_string(), "reply_received".to_string()),
        ]
    );
    let events = store.telemetry_payloads("outcome_recorded", 10).unwrap();
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e["kind"] == "follow_up"));
    // One finished trial, a success, in alice's segment.
    let e = store.learning_evidence().unwrap();
    assert_eq!(e.of_kind(MoveKind::FollowUp).trials, 1);
    assert_eq!(e.of_kind(MoveKind::FollowUp).successes, 1);
    assert_eq!(e.of_kind(MoveKind::StaleDeal).trials, 0);
}

#[test]
fn today_refresh_records_no_outcome_once_the_window_passed() {
    let mut store = Store::open_in_memory().unwrap();
    let config = Config::default();
    store
        .record_decision("follow_up:thread:t1", &MoveState::Done, t0())
        .unwrap();
    caseyos::today::refresh(&mut store, &config, t0() + Duration::days(15)).unwrap();
    // The mirror is empty: nothing came of it within the window.
    assert_eq!(
        outcome_rows(&store),
        [("follow_up:thread:t1".to_string(), "no_outcome".to_string())]
    );
    let e = store.learning_evidence().unwrap();
    assert_eq!((e.overall().successes, e.overall().trials), (0, 1));
}

// --- learning ---------------------------------------------------------------------------------

fn weights() -> ApsWeights {
    Config::default().aps
}

/// A mirror with one follow-up (t1, to alice) and one stale deal (d1, no contact).
fn two_kinds() -> (Mirror, DateTime<Utc>) {
    let now = at("2026-11-20T15:00:00Z");
    let mut m = Mirror {
        operator_email: Some(ME.into()),
        contacts: vec![alice()],
        stages: stages(),
        ..Mirror::default()
    };
    m.messages.push(msg("m0", now - Duration::days(5), true));
    let mut d = deal("proposal", Some(now - Duration::days(40)));
    d.contact_ids.clear();
    d.last_activity_at = Some(now - Duration::days(20));
    m.deals.push(d);
    (m, now)
}

#[test]
fn no_evidence_leaves_every_move_exactly_neutral() {
    let (m, now) = two_kinds();
    let c = Config::default();
    let moves = detect_moves_learned(&m, &Evidence::new(), now, &c.moves, &c.aps);
    assert_eq!(moves, detect_moves(&m, now, &c.moves, &c.aps));
    for mv in &moves {
        assert_eq!(mv.features.learned, (1.0, NEUTRAL.to_string()));
        assert_eq!(mv.aps.parts[4].points, 0.0);
    }
}

#[test]
fn a_type_that_converts_better_rises_and_the_ranking_follows() {
    let (m, now) = two_kinds();
    let c = Config::default();
    let neutral = detect_moves(&m, now, &c.moves, &c.aps);
    let order = |ms: &[caseyos::domain::moves::Move]| ms.iter().map(|m| m.kind).collect::<Vec<_>>();
    let before = order(&neutral);
    assert_eq!(before.len(), 2, "{before:?}");
    // Teach it that whichever type ranks second converts far better than the first.
    let (winner, loser) = (before[1], before[0]);
    let mut e = Evidence::new();
    for i in 0..40 {
        e.add(winner, Segment::default(), i < 30);
        e.add(loser, Segment::default(), i < 3);
    }
    let learned = detect_moves_learned(&m, &e, now, &c.moves, &c.aps);
    let of =
        |ms: &[caseyos::domain::moves::Move], k: MoveKind| ms.iter().find(|m| m.kind == k).unwrap().clone();
    let (w_before, w_after) = (of(&neutral, winner), of(&learned, winner));
    assert!(w_after.features.learned.0 > 1.0, "{:?}", w_after.features.learned);
    assert!(w_after.aps.score > w_before.aps.score);
    assert!(of(&learned, loser).features.learned.0 < 1.0);
    assert!(
        w_after.features.learned.1.contains("converted 30/40"),
        "{}",
        w_after.features.learned.1
    );
    assert_eq!(order(&learned), [winner, loser], "the ranking flipped");
    // Bounded.
    for mv in &learned {
        let l = mv.features.learned.0;
        assert!(l >= weights().learned_min && l <= weights().learned_max);
    }
}

// --- backtest ---------------------------------------------------------------------------------

/// Ten days of 20 moves each; the moves that later succeeded are exactly the urgent ones, and
/// urgency runs against revenue. Weights leaning on urgency made this history.
fn history() -> Vec<Recommended> {
    let mut out = Vec::new();
    for day in 0..10 {
        for i in 0..20 {
            let urgency = 5.0 * f64::from(i);
            let revenue = 100.0 - urgency;
            out.push(Recommended {
                move_key: format!("follow_up:thread:d{day}-{i}"),
                at: t0() + Duration::days(day) + Duration::minutes(i64::from(i)),
                payload: serde_json::json!({
                    "kind": "follow_up",
                    "parts": {"revenue": revenue, "urgency": urgency, "fit": 50.0, "effort": 50.0, "learned": 1.0},
                }),
                succeeded: i >= 12,
            });
        }
    }
    out
}

#[test]
fn casey_backtest_runs_on_an_empty_mirror_and_reads_a_weights_file() {
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("w.toml");
    std::fs::write(&weights, "[aps]\nurgency = 0.9\n").unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "").unwrap();
    let run = |args: &[&str]| {
        assert_cmd::Command::cargo_bin("casey")
            .unwrap()
            .env("CASEYOS_DATA_DIR", dir.path())
            .env("CASEYOS_CONFIG", &config)
            .env("CASEYOS_NOW", "2026-11-20T15:00:00Z")
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["backtest", "--json", "--weights", weights.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["moves"], 0);
    assert_eq!(v["top_k"], 10);
    assert!(v["other"].is_object());
    let out = run(&["backtest"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("No history yet"));
    std::fs::write(&weights, "[aps]\nurgency = -1\n").unwrap();
    let out = run(&["backtest", "--weights", weights.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("aps.urgency"));
}

#[test]
fn backtest_prefers_the_weights_that_generated_the_successful_history() {
    let mut urgent = weights();
    urgent.urgency = 0.8;
    urgent.revenue = 0.1;
    let mut money = weights();
    money.urgency = 0.1;
    money.revenue = 0.8;
    let h = history();
    let r = backtest(&h, &money, Some(&urgent), 10);
    let other = r.other.unwrap();
    assert_eq!((r.moves, r.successes, r.unscored), (200, 80, 0));
    assert_eq!(other.days, 10);
    assert_eq!((other.hits, other.picked), (80, 100));
    assert!(other.rate > r.current.rate, "{other:?} vs {:?}", r.current);
    assert_eq!(r.current.hits, 0);
    assert!(
        r.text().contains("the weights file would have done better"),
        "{}",
        r.text()
    );
}

#[test]
fn backtest_rescoring_from_recorded_features_matches_the_score_of_the_day() {
    let (m, now) = two_kinds();
    let c = Config::default();
    for mv in detect_moves(&m, now, &c.moves, &c.aps) {
        let payload = caseyos::today::recommendation_payload(&mv);
        let s = caseyos::domain::backtest::rescore(&payload, &c.aps).unwrap();
        assert!((s - mv.aps.score).abs() < 1e-9);
        // Without the inputs, the recorded part values re-score it too.
        let parts_only = serde_json::json!({"parts": payload["parts"]});
        let p = caseyos::domain::backtest::rescore(&parts_only, &c.aps).unwrap();
        assert!((p - mv.aps.score).abs() < 0.01, "{p} vs {}", mv.aps.score);
    }
}
