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
use caseyos::domain::outcomes::{
    Execution, NewOutcome, Outcome, OutcomePass, Sources, Synced, detect_outcomes,
};
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

/// No source ever synced (demo data): the clock alone closes windows.
fn clock() -> Sources {
    Sources::default()
}

/// Our send in t1 shortly after execution (`x` sent it, not only drafted it).
fn sent() -> Message {
    msg("sent", t0() + Duration::minutes(1), true)
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
    let first = detect_outcomes(&mirror(), &[exec(key)], &HashSet::new(), t0(), 14, &clock());
    let (_, _, _, watch) = first.watches[0].clone();
    let ex = Execution {
        watch: Some(watch),
        ..exec(key)
    };
    detect_outcomes(later, &[ex], &HashSet::new(), now, 14, &clock())
        .outcomes
        .into_iter()
        .map(|o| (o.outcome, o.evidence))
        .collect()
}

// --- outcome detection -----------------------------------------------------------------------

#[test]
fn a_reply_in_the_thread_after_execution_is_reply_received_with_the_message_as_evidence() {
    let mut m = mirror();
    m.messages.push(sent());
    m.messages.push(msg("m1", t0() + Duration::days(2), false));
    let got = outcomes_after("follow_up:thread:t1", &m, t0() + Duration::days(3));
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, Outcome::ReplyReceived);
    assert_eq!(got[0].1["message_id"], "m1");
    assert_eq!(got[0].1["after_sent"], "sent");
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
    let first = detect_outcomes(
        &m,
        &[exec("stale_deal:deal:d1")],
        &HashSet::new(),
        t0(),
        14,
        &clock(),
    );
    let watch = first.watches[0].3.clone();
    assert_eq!(watch.from_stage_id.as_deref(), Some("proposal"));
    let mut later = mirror();
    later.deals = vec![deal("qualified", Some(t0() + Duration::days(1)))];
    let ex = Execution {
        watch: Some(watch),
        ..exec("stale_deal:deal:d1")
    };
    let pass = detect_outcomes(
        &later,
        &[ex],
        &HashSet::new(),
        t0() + Duration::days(2),
        14,
        &clock(),
    );
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
        &clock(),
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
    let sources = store.outcome_sources().unwrap();
    let pass: OutcomePass = detect_outcomes(m, &execs, &recorded, now, 14, &sources);
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
    later.messages.push(sent());
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
    // Not a trial while its window is open; then one finished trial, a success.
    assert!(store.learning_evidence(now, 14).unwrap().is_empty());
    let e = store.learning_evidence(now + Duration::days(30), 14).unwrap();
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
    let e = store.learning_evidence(t0() + Duration::days(15), 14).unwrap();
    assert_eq!((e.overall().successes, e.overall().trials), (0, 1));
}

#[test]
fn a_reply_to_a_move_that_sent_nothing_is_no_reply_and_only_replies_after_our_send_count() {
    // Draft-only mode: `x` wrote a Gmail draft, nothing was sent; alice wrote again anyway.
    let mut m = mirror();
    m.messages.push(msg("m1", t0() + Duration::days(2), false));
    let got = outcomes_after("follow_up:thread:t1", &m, t0() + Duration::days(3));
    assert!(got.is_empty(), "{got:?}");
    // The draft went out on day 3: her earlier message is still not a reply to it.
    m.messages.push(msg("late-send", t0() + Duration::days(3), true));
    let got = outcomes_after("follow_up:thread:t1", &m, t0() + Duration::days(4));
    assert!(got.is_empty(), "{got:?}");
    m.messages.push(msg("m2", t0() + Duration::days(5), false));
    let got = outcomes_after("follow_up:thread:t1", &m, t0() + Duration::days(6));
    assert_eq!(
        got.iter().map(|g| g.0).collect::<Vec<_>>(),
        [Outcome::ReplyReceived]
    );
    assert_eq!(got[0].1["message_id"], "m2");
    assert_eq!(got[0].1["after_sent"], "late-send");
}

#[test]
fn no_outcome_waits_until_the_watched_sources_synced_after_the_deadline() {
    let deadline = t0() + Duration::days(14);
    let now = t0() + Duration::days(40);
    let stale = Synced::LastSuccess(Some(deadline - Duration::days(1)));
    let fresh = Synced::LastSuccess(Some(deadline + Duration::hours(1)));
    let run = |m: &Mirror, key: &str, sources: Sources| {
        detect_outcomes(m, &[exec(key)], &HashSet::new(), now, 14, &sources)
            .outcomes
            .into_iter()
            .map(|o| o.outcome)
            .collect::<Vec<_>>()
    };
    let thread = "follow_up:thread:t1";
    // Weeks offline: Gmail last synced before the deadline, so a reply may sit unsynced.
    let offline = Sources {
        gmail: stale,
        hubspot: fresh,
    };
    assert!(run(&mirror(), thread, offline).is_empty());
    // Gmail never synced successfully at all.
    let never = Sources {
        gmail: Synced::LastSuccess(None),
        hubspot: fresh,
    };
    assert!(run(&mirror(), thread, never).is_empty());
    // The thread move also watches alice's deal: HubSpot must be past the deadline too.
    let hubspot_stale = Sources {
        gmail: fresh,
        hubspot: stale,
    };
    assert!(run(&mirror(), thread, hubspot_stale).is_empty());
    let both = Sources {
        gmail: fresh,
        hubspot: fresh,
    };
    assert_eq!(run(&mirror(), thread, both), [Outcome::NoOutcome]);
    // A deal move with nobody to hear from waits for HubSpot only.
    let mut m = mirror();
    m.deals[0].contact_ids.clear();
    let deal_only = Sources {
        gmail: stale,
        hubspot: fresh,
    };
    assert_eq!(run(&m, "stale_deal:deal:d1", deal_only), [Outcome::NoOutcome]);
    assert!(run(&m, "stale_deal:deal:d1", hubspot_stale).is_empty());
    // No sync record at all (demo data): the clock decides, as before.
    assert_eq!(run(&mirror(), thread, clock()), [Outcome::NoOutcome]);
}

#[test]
fn a_stale_mirror_writes_no_no_outcome_and_a_later_success_replaces_one() {
    let mut store = Store::open_in_memory().unwrap();
    let key = "follow_up:thread:t1";
    store.record_decision(key, &MoveState::Done, t0()).unwrap();
    assert_eq!(pass_once(&mut store, &mirror(), t0() + Duration::minutes(1)), 0);
    // Synced once early on, then weeks offline while the TUI and stats keep running passes.
    store
        .record_sync("gmail", t0() + Duration::days(3), None)
        .unwrap();
    store
        .record_sync("hubspot", t0() + Duration::days(3), None)
        .unwrap();
    assert_eq!(pass_once(&mut store, &mirror(), t0() + Duration::days(40)), 0);
    assert!(outcome_rows(&store).is_empty());
    // A failed sync after the deadline proves nothing either.
    store
        .record_sync("gmail", t0() + Duration::days(41), Some("offline"))
        .unwrap();
    assert_eq!(pass_once(&mut store, &mirror(), t0() + Duration::days(41)), 0);
    // Synced after the deadline, and still nothing: the window is closed.
    store
        .record_sync("gmail", t0() + Duration::days(42), None)
        .unwrap();
    store
        .record_sync("hubspot", t0() + Duration::days(42), None)
        .unwrap();
    assert_eq!(pass_once(&mut store, &mirror(), t0() + Duration::days(42)), 1);
    assert_eq!(
        outcome_rows(&store),
        [(key.to_string(), "no_outcome".to_string())]
    );
    // A reply within the window shows up later (a thread re-synced in full): it replaces it.
    let mut later = mirror();
    later.messages.push(sent());
    later.messages.push(msg("m1", t0() + Duration::days(2), false));
    assert_eq!(pass_once(&mut store, &later, t0() + Duration::days(43)), 1);
    assert_eq!(
        outcome_rows(&store),
        [(key.to_string(), "reply_received".to_string())]
    );
    assert_eq!(pass_once(&mut store, &later, t0() + Duration::days(44)), 0);
    let e = store.learning_evidence(t0() + Duration::days(44), 14).unwrap();
    assert_eq!((e.overall().successes, e.overall().trials), (1, 1));
}

/// Ten follow-ups executed at `t0()` on threads `t0`..`t9`, each sent; the first three replied
/// within the hour.
fn ten_follow_ups(store: &mut Store) -> Mirror {
    let mut m = mirror();
    m.messages.clear();
    for n in 0..10 {
        let thread = format!("t{n}");
        store
            .record_decision(&format!("follow_up:thread:{thread}"), &MoveState::Done, t0())
            .unwrap();
        let mut out = sent();
        out.id = format!("sent{n}");
        out.thread_id = thread.clone();
        m.messages.push(out);
        if n < 3 {
            let mut reply = msg(&format!("r{n}"), t0() + Duration::hours(1), false);
            reply.thread_id = thread;
            m.messages.push(reply);
        }
    }
    m
}

#[test]
fn recent_executions_do_not_count_as_trials_until_their_window_closed() {
    let mut store = Store::open_in_memory().unwrap();
    let m = ten_follow_ups(&mut store);
    let today = t0() + Duration::hours(2);
    assert_eq!(pass_once(&mut store, &m, today), 3);
    // 3 replies out of 10 executed today is not 3 of 3.
    let e = store.learning_evidence(today, 14).unwrap();
    assert_eq!(e.of_kind(MoveKind::FollowUp).trials, 0, "{e:?}");
    // Once the windows closed, all ten count, whether or not the pass already ran.
    let later = t0() + Duration::days(15);
    let e = store.learning_evidence(later, 14).unwrap();
    assert_eq!(
        (
            e.of_kind(MoveKind::FollowUp).successes,
            e.of_kind(MoveKind::FollowUp).trials
        ),
        (3, 10)
    );
    assert_eq!(pass_once(&mut store, &m, later), 7);
    assert_eq!(store.learning_evidence(later, 14).unwrap(), e);
}

#[test]
fn an_earlier_clock_does_not_see_outcomes_recorded_after_it() {
    let mut store = Store::open_in_memory().unwrap();
    let m = ten_follow_ups(&mut store);
    // The replies of the first hour were only synced and recorded on day 20.
    assert_eq!(pass_once(&mut store, &m, t0() + Duration::days(20)), 10);
    let tally = |now| {
        let e = store.learning_evidence(now, 14).unwrap();
        let t = e.of_kind(MoveKind::FollowUp);
        (t.successes, t.trials)
    };
    assert_eq!(tally(t0() + Duration::days(15)), (0, 10));
    assert_eq!(tally(t0() + Duration::days(20)), (3, 10));
    // Deterministic: the same clock gives the same evidence.
    assert_eq!(tally(t0() + Duration::days(20)), (3, 10));
}

#[test]
fn a_move_with_nothing_to_watch_gets_no_outcome_and_is_no_trial() {
    let mut store = Store::open_in_memory().unwrap();
    let config = Config::default();
    // An overdue task with no contact, deal or thread: nothing could ever be observed.
    store
        .record_decision("overdue_task:task:gone", &MoveState::Done, t0())
        .unwrap();
    caseyos::today::refresh(&mut store, &config, t0() + Duration::minutes(1)).unwrap();
    caseyos::today::refresh(&mut store, &config, t0() + Duration::days(30)).unwrap();
    assert!(outcome_rows(&store).is_empty(), "{:?}", outcome_rows(&store));
    assert!(
        store
            .learning_evidence(t0() + Duration::days(30), 14)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn an_undone_move_no_longer_feeds_learning_and_its_history_stays() {
    let mut store = Store::open_in_memory().unwrap();
    let key = "follow_up:thread:t1";
    store.record_decision(key, &MoveState::Done, t0()).unwrap();
    assert_eq!(pass_once(&mut store, &mirror(), t0() + Duration::minutes(1)), 0);
    let mut later = mirror();
    later.messages.push(sent());
    later.messages.push(msg("m1", t0() + Duration::days(2), false));
    assert_eq!(pass_once(&mut store, &later, t0() + Duration::days(3)), 1);
    let after = t0() + Duration::days(30);
    assert_eq!(store.learning_evidence(after, 14).unwrap().overall().trials, 1);
    // `u` takes the `done` back.
    assert_eq!(
        store
            .undo_last_decision(t0() + Duration::days(3))
            .unwrap()
            .as_deref(),
        Some(key)
    );
    assert!(store.learning_evidence(after, 14).unwrap().is_empty());
    later.messages.push(msg("m2", t0() + Duration::days(4), false));
    later.deals = vec![deal("proposal", Some(t0() + Duration::days(4)))];
    assert_eq!(pass_once(&mut store, &later, after), 0, "the pass ignores it");
    assert_eq!(
        outcome_rows(&store),
        [(key.to_string(), "reply_received".to_string())],
        "history is kept"
    );
    let h = {
        store
            .telemetry(
                "recommendation_generated",
                Some(key),
                &serde_json::json!({}),
                t0(),
            )
            .unwrap();
        store.backtest_history().unwrap()
    };
    assert!(!h[0].executed && !h[0].is_candidate());
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

/// Ten days of 20 executed moves each; urgency runs against revenue. The urgent ones (12..20)
/// succeeded after they were recommended; 8..12 had succeeded only *before* it (no hit); the
/// rest came to nothing. Each day also has 10 moves that score high under any weights but
/// were never executed: they are not ranked.
fn history() -> Vec<Recommended> {
    let parts = |revenue: f64, urgency: f64| {
        serde_json::json!({
            "kind": "follow_up",
            "parts": {"revenue": revenue, "urgency": urgency, "fit": 50.0, "effort": 50.0, "learned": 1.0},
        })
    };
    let mut out = Vec::new();
    for day in 0..10 {
        for i in 0..20 {
            let urgency = 5.0 * f64::from(i);
            let at = t0() + Duration::days(day) + Duration::minutes(i64::from(i));
            let outcome = match i {
                12.. => (Outcome::ReplyReceived, at + Duration::days(1)),
                8..12 => (Outcome::ReplyReceived, at - Duration::hours(1)),
                _ => (Outcome::NoOutcome, at + Duration::days(14)),
            };
            out.push(Recommended {
                move_key: format!("follow_up:thread:d{day}-{i}"),
                at,
                payload: parts(100.0 - urgency, urgency),
                executed: true,
                outcomes: vec![outcome],
            });
        }
        for j in 0..10 {
            out.push(Recommended {
                move_key: format!("follow_up:thread:d{day}-x{j}"),
                at: t0() + Duration::days(day),
                payload: parts(100.0, 100.0),
                executed: false,
                outcomes: vec![],
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
    assert_eq!((r.moves, r.executed, r.successes, r.unscored), (300, 200, 80, 0));
    assert_eq!(other.days, 10);
    assert_eq!((other.hits, other.picked), (80, 100));
    assert!(other.rate > r.current.rate, "{other:?} vs {:?}", r.current);
    assert_eq!(r.current.hits, 0);
    assert!(
        r.text().contains("the weights file would have done better"),
        "{}",
        r.text()
    );
    assert!(
        r.text().contains("Only executed moves are ranked"),
        "{}",
        r.text()
    );
}

#[test]
fn backtest_history_marks_executions_and_a_hit_needs_an_outcome_after_the_recommendation() {
    let mut store = Store::open_in_memory().unwrap();
    let payload = serde_json::json!({"kind": "follow_up", "parts": {"revenue": 50.0, "urgency": 50.0, "fit": 50.0, "effort": 50.0}});
    let recommend = |store: &Store, key: &str, at: DateTime<Utc>| {
        store
            .telemetry("recommendation_generated", Some(key), &payload, at)
            .unwrap();
    };
    // a: recommended, executed, replied the next day. b: replied before it was (first)
    // recommended. c: never executed.
    recommend(&store, "follow_up:thread:a", t0());
    recommend(&store, "follow_up:thread:b", t0() + Duration::days(2));
    recommend(&store, "follow_up:thread:c", t0());
    for key in ["follow_up:thread:a", "follow_up:thread:b"] {
        store
            .record_decision(key, &MoveState::Done, t0() + Duration::hours(1))
            .unwrap();
    }
    let reply = |key: &str| NewOutcome {
        move_key: key.into(),
        kind: MoveKind::FollowUp,
        outcome: Outcome::ReplyReceived,
        outcome_at: t0() + Duration::days(1),
        executed_at: t0() + Duration::hours(1),
        evidence: serde_json::json!({}),
    };
    let pass = OutcomePass {
        outcomes: vec![reply("follow_up:thread:a"), reply("follow_up:thread:b")],
        ..OutcomePass::default()
    };
    store.apply_outcome_pass(&pass, t0() + Duration::days(3)).unwrap();
    let h = store.backtest_history().unwrap();
    let get = |k: &str| h.iter().find(|r| r.move_key.ends_with(k)).unwrap();
    let (a, b, c) = (get(":a"), get(":b"), get(":c"));
    assert!(a.is_candidate() && a.succeeded());
    assert!(
        b.is_candidate() && !b.succeeded(),
        "its reply came before the recommendation"
    );
    assert!(!c.executed && !c.is_candidate());
    let r = backtest(&h, &weights(), None, 10);
    assert_eq!((r.moves, r.executed, r.successes), (3, 2, 1));
    assert_eq!((r.current.hits, r.current.picked), (1, 2));
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
