//! Stats against a hand-computed history: known telemetry, outbox and outcome rows go in, every
//! number that comes out is checked (per-day counts, acceptance, funnel, APS buckets, p50/p95,
//! error rates, last success); the same through `casey stats --json`; and the Stats view as
//! text snapshots (empty, populated, 80×24).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support {
    pub mod cli;
}

use std::path::Path;

use caseyos::Clock;
use caseyos::config::{Config, SafetyMode};
use caseyos::stats::Stats;
use caseyos::store::{Counts, Store};
use caseyos::sync::demo;
use caseyos::tui::app::{Action, App, Snapshot, Source, View};
use caseyos::tui::keymap::Keymap;
use caseyos::tui::theme::Theme;
use caseyos::tui::view;
use chrono::{DateTime, Utc};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use rusqlite::{Connection, params};
use serde_json::json;
use support::cli::{NOW, casey};

fn now() -> DateTime<Utc> {
    NOW.parse().unwrap()
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn event(c: &Connection, event: &str, key: Option<&str>, payload: serde_json::Value, at: &str) {
    c.execute(
        "INSERT INTO telemetry(event, move_key, payload, at) VALUES (?1, ?2, ?3, ?4)",
        params![event, key, payload.to_string(), at],
    )
    .unwrap();
}

fn outbox(c: &Connection, key: &str, action: &str, state: &str, created: &str, done: Option<&str>) {
    c.execute(
        "INSERT INTO outbox(idempotency_key, move_key, action, payload, state, demo, created_at, updated_at, done_at)
         VALUES (?1, ?2, ?3, '{}', ?4, 0, ?5, ?5, ?6)",
        params![format!("{key}|{action}|{created}"), key, action, state, created, done],
    )
    .unwrap();
}

/// An outcome of move `key`, which was executed (a `done` decision in force) before it.
fn outcome(c: &Connection, key: &str, outcome: &str, at: &str) {
    c.execute(
        "INSERT INTO decisions(move_key, state, decided_at)
         SELECT ?1, 'done', '2026-11-01T00:00:00.000Z'
         WHERE NOT EXISTS (SELECT 1 FROM decisions WHERE move_key = ?1)",
        params![key],
    )
    .unwrap();
    c.execute(
        "INSERT INTO outcomes(move_key, outcome, evidence, recorded_at) VALUES (?1, ?2, '{}', ?3)",
        params![key, outcome, at],
    )
    .unwrap();
}

fn call(c: &Connection, connector: &str, ms: u64, error: Option<&str>, at: &str) {
    let payload = json!({
        "connector": connector, "endpoint": "GET /x", "status": if error.is_some() { None } else { Some(200) },
        "ms": ms, "attempt": 1, "error": error,
    });
    if error.is_some() {
        event(c, "integration_error", None, payload.clone(), at);
    }
    event(c, "integration_latency", None, payload, at);
}

/// The history every number below is computed from by hand (window: 7 days, 14–20 Nov).
fn write_history(db: &Path) {
    let c = Connection::open(db).unwrap();
    let generated = |key: &str, aps: f64, when: &str| {
        event(
            &c,
            "recommendation_generated",
            Some(key),
            json!({"kind": "follow_up", "aps": aps}),
            when,
        )
    };
    generated("m1", 95.0, "2026-11-20T09:00:00.000Z");
    generated("m2", 100.0, "2026-11-20T09:00:00.000Z");
    generated("m3", 42.5, "2026-11-19T10:00:00.000Z");
    generated("m4", 9.9, "2026-11-14T00:00:00.000Z"); // first instant of the window
    generated("m5", 55.0, "2026-11-13T23:59:59.999Z"); // just before it
    generated("m6", 70.0, "2026-11-20T15:00:01.000Z"); // after now
    let e = |name: &str, key: &str, when: &str| event(&c, name, Some(key), json!({}), when);
    e("recommendation_accepted", "m1", "2026-11-20T10:00:00.000Z");
    e("action_executed", "m1", "2026-11-20T11:00:00.000Z");
    e("recommendation_dismissed", "m3", "2026-11-19T12:00:00.000Z");
    e("recommendation_snoozed", "m2", "2026-11-18T08:00:00.000Z");
    e("action_executed", "m4", "2026-11-18T09:00:00.000Z");
    e("recommendation_dismissed", "m2", "2026-11-20T12:00:00.000Z");
    e("recommendation_undone", "m2", "2026-11-20T12:01:00.000Z");

    outbox(
        &c,
        "m1",
        "gmail.draft.create",
        "done",
        "2026-11-20T11:00:00.000Z",
        Some("2026-11-20T11:01:00.000Z"),
    );
    outbox(
        &c,
        "m1",
        "gmail.draft.send",
        "done",
        "2026-11-20T11:00:00.000Z",
        Some("2026-11-20T11:10:00.000Z"),
    );
    outbox(
        &c,
        "m7",
        "gmail.draft.push",
        "queued",
        "2026-11-19T09:00:00.000Z",
        None,
    );
    outbox(
        &c,
        "m8",
        "gmail.draft.send",
        "cancelled",
        "2026-11-19T09:00:00.000Z",
        None,
    );
    outbox(
        &c,
        "m9",
        "gmail.draft.send",
        "done",
        "2026-11-10T09:00:00.000Z",
        Some("2026-11-10T09:01:00.000Z"),
    );
    outbox(
        &c,
        "m10",
        "hubspot.task.create",
        "done",
        "2026-11-20T09:00:00.000Z",
        Some("2026-11-20T09:01:00.000Z"),
    );
    // A simulated (demo) send: done, without done_at; its update time counts.
    outbox(
        &c,
        "m11",
        "gmail.draft.send",
        "done",
        "2026-11-17T09:00:00.000Z",
        None,
    );

    outcome(&c, "m1", "reply_received", "2026-11-20T13:00:00.000Z");
    outcome(&c, "m11", "reply_received", "2026-11-18T09:00:00.000Z");
    outcome(&c, "m11", "reply_received", "2026-11-19T09:00:00.000Z");
    outcome(&c, "m1", "meeting_booked", "2026-11-20T14:00:00.000Z");
    outcome(&c, "m11", "deal_won", "2026-11-19T10:00:00.000Z");
    outcome(&c, "m9", "deal_lost", "2026-11-12T10:00:00.000Z");
    outcome(&c, "m4", "no_outcome", "2026-11-19T10:00:00.000Z");
    // An execution taken back with `u`: its reply does not count anywhere.
    outcome(&c, "m-undone", "reply_received", "2026-11-20T12:00:00.000Z");
    c.execute(
        "UPDATE decisions SET undone_at = '2026-11-02T00:00:00.000Z' WHERE move_key = 'm-undone'",
        [],
    )
    .unwrap();

    call(&c, "hubspot", 120, None, "2026-11-19T08:00:00.000Z");
    call(&c, "hubspot", 80, None, "2026-11-19T08:00:00.000Z");
    call(&c, "hubspot", 300, None, "2026-11-20T08:00:00.000Z");
    call(&c, "hubspot", 50, None, "2026-11-20T08:00:00.000Z");
    call(&c, "hubspot", 1000, Some("timeout"), "2026-11-20T09:00:00.000Z");
    call(&c, "hubspot", 5, None, "2026-11-01T08:00:00.000Z"); // outside the window
    call(
        &c,
        "gmail",
        400,
        Some("503 unavailable"),
        "2026-11-20T07:00:00.000Z",
    );
    call(
        &c,
        "gmail",
        200,
        Some("429 rate limited"),
        "2026-11-20T07:00:00.000Z",
    );
    call(&c, "slack", 10, None, "2026-11-20T06:00:00.000Z");
}

/// A mirror file with the history (and a successful HubSpot sync at 08:30).
fn history_store(dir: &Path) -> Store {
    let db = dir.join("casey.db");
    let mut store = Store::open(&db).unwrap();
    write_history(&db);
    store
        .record_sync("hubspot", at("2026-11-20T08:30:00Z"), None)
        .unwrap();
    store
        .record_sync("gmail", at("2026-11-20T07:00:00Z"), Some("503"))
        .unwrap();
    store
}

#[test]
fn every_number_matches_the_hand_computed_history() {
    let dir = tempfile::tempdir().unwrap();
    let store = history_store(dir.path());
    let s = Stats::compute(&store, now(), 7).unwrap();

    assert_eq!(s.days, 7);
    assert_eq!(s.since, at("2026-11-14T00:00:00Z"));
    let days: Vec<(String, [u64; 5])> = s
        .daily
        .iter()
        .map(|d| {
            (
                d.date.to_string(),
                [d.generated, d.accepted, d.skipped, d.snoozed, d.executed],
            )
        })
        .collect();
    assert_eq!(
        days,
        [
            ("2026-11-14".into(), [1, 0, 0, 0, 0]),
            ("2026-11-15".into(), [0, 0, 0, 0, 0]),
            ("2026-11-16".into(), [0, 0, 0, 0, 0]),
            ("2026-11-17".into(), [0, 0, 0, 0, 0]),
            ("2026-11-18".into(), [0, 0, 0, 1, 1]),
            ("2026-11-19".into(), [1, 0, 1, 0, 0]),
            ("2026-11-20".into(), [2, 1, 1, 0, 1]),
        ]
    );
    let t = &s.totals;
    assert_eq!(
        [
            t.generated,
            t.accepted,
            t.skipped,
            t.snoozed,
            t.executed,
            t.undone
        ],
        [4, 1, 2, 1, 2, 1]
    );
    // Taken: m1 (accepted, executed), m4 (executed); decided: those and m3, m2 (skipped).
    assert_eq!((s.decided_taken, s.decided), (2, 4));
    assert_eq!(s.acceptance_rate, Some(0.5));

    // 9.9 → 0-9, 42.5 → 40-49, 95 and 100 → 90-100.
    let aps: Vec<u64> = s.aps.iter().map(|b| b.count).collect();
    assert_eq!(aps, [1, 0, 0, 0, 1, 0, 0, 0, 0, 2]);
    assert_eq!(s.aps[4].label(), "40-49");

    // draft: m1, m7, m11 (m8 cancelled, m9 before the window); sent: m1, m11 (demo, by
    // update time); reply: m1, m11 (twice, counted once); meeting: m1; deal advanced: m11 (won).
    let funnel: Vec<(&str, u64, Option<f64>)> = s
        .funnel
        .iter()
        .map(|f| (f.stage.as_str(), f.moves, f.rate))
        .collect();
    assert_eq!(
        funnel,
        [
            ("draft", 3, None),
            ("sent", 2, Some(2.0 / 3.0)),
            ("reply", 2, Some(1.0)),
            ("meeting", 1, Some(0.5)),
            ("deal_advanced", 1, Some(1.0)),
        ]
    );
    let outcomes: Vec<(&str, u64)> = s.outcomes.iter().map(|o| (o.outcome.as_str(), o.count)).collect();
    assert_eq!(
        outcomes,
        [
            ("reply_received", 3),
            ("meeting_booked", 1),
            ("deal_advanced", 0),
            ("deal_won", 1),
            ("deal_lost", 0),
            ("no_outcome", 1),
        ]
    );

    // HubSpot: [50, 80, 120, 300, 1000] → p50 = 3rd = 120, p95 = ⌈4.75⌉ = 5th = 1000; one
    // error of five; last success = the sync at 08:30 (later than the last good call at 08:00).
    let h = &s.integrations[0];
    assert_eq!(h.connector, "hubspot");
    assert_eq!((h.calls, h.errors), (5, 1));
    assert_eq!(h.error_rate, Some(0.2));
    assert_eq!((h.p50_ms, h.p95_ms), (Some(120), Some(1000)));
    assert_eq!(h.last_success, Some(at("2026-11-20T08:30:00Z")));
    // Gmail: two failed calls [200, 400], nothing ever succeeded.
    let g = &s.integrations[1];
    assert_eq!(g.connector, "gmail");
    assert_eq!((g.calls, g.errors, g.error_rate), (2, 2, Some(1.0)));
    assert_eq!((g.p50_ms, g.p95_ms), (Some(200), Some(400)));
    assert_eq!(g.last_success, None);
    // Any other connector seen comes after the two known ones.
    let o = &s.integrations[2];
    assert_eq!(o.connector, "slack");
    assert_eq!((o.calls, o.errors, o.error_rate), (1, 0, Some(0.0)));
    assert_eq!((o.p50_ms, o.p95_ms), (Some(10), Some(10)));
    assert_eq!(o.last_success, Some(at("2026-11-20T06:00:00Z")));
    assert_eq!(s.integrations.len(), 3);

    // One day: only today's rows.
    let today = Stats::compute(&store, now(), 1).unwrap();
    assert_eq!(today.totals.generated, 2);
    assert_eq!(today.funnel[0].moves, 1, "m1's draft");
    assert_eq!(
        (today.integrations[0].calls, today.integrations[0].errors),
        (3, 1)
    );
}

#[test]
fn stats_json_through_the_binary_has_the_documented_fields() {
    let dir = tempfile::tempdir().unwrap();
    drop(history_store(dir.path()));
    let out = casey(dir.path())
        .args(["stats", "--json", "--days", "7"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "acceptance_rate",
            "aps",
            "daily",
            "days",
            "decided",
            "decided_taken",
            "funnel",
            "integrations",
            "now",
            "outcomes",
            "since",
            "totals"
        ]
    );
    assert_eq!(v["days"], 7);
    assert_eq!(v["since"], "2026-11-14T00:00:00Z");
    assert_eq!(
        v["daily"][6],
        json!({"date": "2026-11-20", "generated": 2, "accepted": 1, "skipped": 1, "snoozed": 0, "executed": 1})
    );
    assert_eq!(
        v["totals"],
        json!({"generated": 4, "accepted": 1, "skipped": 2, "snoozed": 1, "executed": 2, "undone": 1})
    );
    assert_eq!(v["acceptance_rate"], 0.5);
    assert_eq!(v["funnel"][1]["stage"], "sent");
    assert_eq!(v["funnel"][1]["moves"], 2);
    assert_eq!(v["aps"][9], json!({"from": 90, "to": 100, "count": 2}));
    assert_eq!(
        v["integrations"][0],
        json!({"connector": "hubspot", "calls": 5, "errors": 1, "error_rate": 0.2, "p50_ms": 120,
               "p95_ms": 1000, "last_success": "2026-11-20T08:30:00Z"})
    );

    let text = casey(dir.path()).args(["stats", "--days", "7"]).output().unwrap();
    assert!(text.status.success());
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("acceptance rate: 50% (2 of 4"), "{text}");
    assert!(
        text.contains("  hubspot         5       1    20%    120 ms   1000 ms  2026-11-20 08:30 UTC"),
        "{text}"
    );

    casey(dir.path())
        .args(["stats", "--days", "0"])
        .assert()
        .failure()
        .code(2);
}

const W: u16 = 120;
const H: u16 = 40;

/// The app on the Stats view once its numbers (those of `data`) have been counted.
fn app(source: Source, data: Snapshot, size: (u16, u16)) -> App {
    let stats = data.stats.clone();
    let mut app = arriving(source, data, size);
    assert!(app.stats_loading, "arriving on Stats counts them");
    app.update(Action::StatsLoaded(Ok(Box::new(stats))));
    app
}

fn render(app: &App, w: u16, h: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| view::draw(f, app, &Theme::mono())).unwrap();
    let buf = terminal.backend().buffer().clone();
    (0..h)
        .map(|y| {
            (0..w)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The demo mirror with the hand-made history on top, as the runtime reads it.
fn populated() -> Snapshot {
    let dir = tempfile::tempdir().unwrap();
    let mut store = history_store(dir.path());
    demo::load(&mut store, now()).unwrap();
    caseyos::tui::runtime::snapshot(&mut store, &Config::default(), &Clock::Fixed(now())).unwrap()
}

#[test]
fn stats_view_empty() {
    let store = Store::open_in_memory().unwrap();
    let data = Snapshot {
        stats: Stats::compute(&store, now(), caseyos::stats::DEFAULT_DAYS).unwrap(),
        counts: Counts {
            contacts: 1,
            ..Counts::default()
        },
        ..Snapshot::default()
    };
    insta::assert_snapshot!("stats_view_empty", render(&app(Source::Live, data, (W, H)), W, H));
}

#[test]
fn stats_view_populated() {
    let app = app(Source::Live, populated(), (W, H));
    insta::assert_snapshot!("stats_view_populated", render(&app, W, H));
}

#[test]
fn stats_view_at_80_by_24() {
    let app = app(Source::Live, populated(), (80, 24));
    insta::assert_snapshot!("stats_view_80x24", render(&app, 80, 24));
}

/// The app arriving on the Stats view, its numbers not counted yet.
fn arriving(source: Source, data: Snapshot, (w, h): (u16, u16)) -> App {
    let mut app = App::new(
        now(),
        source,
        SafetyMode::DraftOnly,
        Keymap::defaults(),
        Config::default().aps,
        data,
    );
    app.update(Action::Resize(w, h));
    while app.view != View::Stats {
        app.update(Action::Key(crossterm::event::KeyEvent::new(
            crossterm::event::KeyCode::Tab,
            crossterm::event::KeyModifiers::NONE,
        )));
    }
    app
}

#[test]
fn stats_view_while_its_numbers_are_first_counted() {
    let mut data = populated();
    data.stats_read = false;
    let app = arriving(Source::Live, data, (80, 24));
    let screen = render(&app, 80, 24);
    assert!(screen.contains("Counting the last 14 days…"), "{screen}");
    insta::assert_snapshot!("stats_view_counting_80x24", screen);
}

#[test]
fn stats_view_shows_the_numbers_it_has_while_newer_ones_are_counted() {
    let app = arriving(Source::Live, populated(), (W, H));
    let screen = render(&app, W, H);
    assert!(screen.contains("Last 14 days (UTC) · updating…"), "{screen}");
    insta::assert_snapshot!("stats_view_updating", screen);
}

#[test]
fn stats_view_survives_tiny_terminals() {
    let data = populated();
    for (w, h) in [(20, 5), (40, 10), (60, 30), (200, 60)] {
        let app = app(Source::Live, data.clone(), (w, h));
        let screen = render(&app, w, h);
        assert!(screen.chars().all(|c| !c.is_control() || c == '\n'));
    }
}

#[test]
fn simulated_demo_executions_show_in_the_stats() {
    let mut store = Store::open_in_memory().unwrap();
    let config = Config::default();
    demo::load(&mut store, now()).unwrap();
    let moves = caseyos::today::refresh(&mut store, &config, now()).unwrap();
    let m = moves
        .iter()
        .find(|m| !caseyos::actions::writes_draft(m) && m.subject.draft_id.is_none())
        .unwrap();
    caseyos::actions::execute(&store, &config, m, true, now()).unwrap();
    let s = Stats::compute(&store, now(), 1).unwrap();
    assert_eq!(s.totals.generated, moves.len() as u64);
    assert_eq!(s.totals.executed, 1);
    assert_eq!((s.decided_taken, s.decided, s.acceptance_rate), (1, 1, Some(1.0)));
    assert_eq!(s.aps.iter().map(|b| b.count).sum::<u64>(), moves.len() as u64);
}
