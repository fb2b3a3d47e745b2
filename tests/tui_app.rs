//! `App::update` for every key, without a terminal: a hand-made mirror at a fixed `now`, its
//! detected moves in a snapshot, and key actions asserted on the effects and the resulting state.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use caseyos::config::{Config, SafetyMode};
use caseyos::domain::entities::{Contact, Deal, Draft, Mailbox, Message, Mirror, Stage, Task};
use caseyos::domain::{Move, MoveKind, MoveState, detect_moves};
use caseyos::store::OutboxEntry;
use caseyos::tui::app::{
    Action, App, Effect, Level, Mode, SEND_ACTION, Snapshot, Source, View, list_rows_for,
};
use caseyos::tui::keymap::Keymap;
use chrono::{DateTime, Duration, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

// ---------------------------------------------------------------------------------------------
// Fixture
// ---------------------------------------------------------------------------------------------

const OPERATOR: &str = "casey@seller.test";

const K_REPLY: &str = "reply_inbound:thread:t1";
const K_REPLY_DRAFT: &str = "reply_inbound:thread:t2";
const K_FOLLOW_UP: &str = "follow_up:thread:t3";
const K_DRAFT: &str = "approve_draft:draft:dr2";
const K_CLOSING: &str = "closing_soon:deal:d1";
const K_STAGE: &str = "stage_changed:deal:d1:s2";
const K_STALE: &str = "stale_deal:deal:d2";
const K_TASK: &str = "overdue_task:task:tk1";

const ALL_KEYS: [&str; 8] = [
    K_REPLY,
    K_REPLY_DRAFT,
    K_FOLLOW_UP,
    K_DRAFT,
    K_CLOSING,
    K_STAGE,
    K_STALE,
    K_TASK,
];

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 15, 0, 0).unwrap()
}

fn contact(id: &str, first: &str, last: &str, email: &str, company: Option<&str>) -> Contact {
    Contact {
        id: id.into(),
        email: Some(email.into()),
        first_name: Some(first.into()),
        last_name: Some(last.into()),
        company_name: None,
        company_id: company.map(Into::into),
        job_title: None,
        lifecycle_stage: Some("customer".into()),
        created_at: Some(now() - Duration::days(200)),
        updated_at: Some(now() - Duration::days(10)),
        recent_conversion_at: None,
        recent_conversion_event: None,
    }
}

fn mailbox(name: &str, email: &str) -> Mailbox {
    Mailbox {
        name: Some(name.into()),
        email: email.into(),
    }
}

#[allow(clippy::too_many_arguments)]
fn message(
    id: &str,
    thread: &str,
    at: DateTime<Utc>,
    from: Mailbox,
    to: Mailbox,
    subject: &str,
    snippet: &str,
    outbound: bool,
) -> Message {
    Message {
        id: id.into(),
        thread_id: thread.into(),
        at,
        from,
        to: vec![to],
        cc: vec![],
        subject: subject.into(),
        snippet: snippet.into(),
        body: snippet.into(),
        labels: vec![if outbound { "SENT" } else { "INBOX" }.into()],
        message_id_header: Some(format!("<{id}@mail.test>")),
        outbound,
        automated: false,
    }
}

fn stage(id: &str, label: &str, order: i64, probability: f64, closed: bool) -> Stage {
    Stage {
        id: id.into(),
        pipeline_id: "p1".into(),
        label: label.into(),
        display_order: order,
        probability,
        is_closed: closed,
    }
}

/// Four contacts, two deals (one closing soon that just changed stage, one stale), an unanswered
/// inbound thread, an unanswered inbound thread with a draft, a follow-up thread, an overdue
/// task and a standalone draft.
fn mirror() -> Mirror {
    let n = now();
    let me = mailbox("Casey", OPERATOR);
    let ada = mailbox("Ada Lovelace", "ada@acme.test");
    let bob = mailbox("Bob Builder", "bob@globex.test");
    let cara = mailbox("Cara Diaz", "cara@initech.test");
    Mirror {
        operator_email: Some(OPERATOR.into()),
        contacts: vec![
            contact("c1", "Ada", "Lovelace", "ada@acme.test", None),
            contact("c2", "Bob", "Builder", "bob@globex.test", None),
            contact("c3", "Cara", "Diaz", "cara@initech.test", None),
            contact("c4", "Dan", "Umber", "dan@umbrella.test", None),
        ],
        companies: vec![],
        deals: vec![
            Deal {
                id: "d1".into(),
                name: "Acme expansion".into(),
                amount: Some(50_000.0),
                pipeline_id: Some("p1".into()),
                stage_id: Some("s2".into()),
                close_date: Some(n + Duration::days(3)),
                created_at: Some(n - Duration::days(60)),
                updated_at: Some(n - Duration::days(1)),
                last_activity_at: Some(n - Duration::days(2)),
                stage_entered_at: Some(n - Duration::days(1)),
                contact_ids: vec!["c1".into()],
                company_ids: vec![],
            },
            Deal {
                id: "d2".into(),
                name: "Globex renewal".into(),
                amount: Some(20_000.0),
                pipeline_id: Some("p1".into()),
                stage_id: Some("s1".into()),
                close_date: None,
                created_at: Some(n - Duration::days(90)),
                updated_at: Some(n - Duration::days(40)),
                last_activity_at: Some(n - Duration::days(40)),
                stage_entered_at: Some(n - Duration::days(40)),
                contact_ids: vec![],
                company_ids: vec![],
            },
        ],
        stages: vec![
            stage("s1", "Qualified", 1, 0.2, false),
            stage("s2", "Proposal", 2, 0.6, false),
            stage("s3", "Closed won", 3, 1.0, true),
        ],
        tasks: vec![Task {
            id: "tk1".into(),
            subject: "Call Ada about renewal".into(),
            body: None,
            status: "NOT_STARTED".into(),
            priority: Some("HIGH".into()),
            task_type: Some("CALL".into()),
            due_at: Some(n - Duration::days(2)),
            updated_at: Some(n - Duration::days(5)),
            contact_ids: vec!["c1".into()],
            deal_ids: vec!["d1".into()],
        }],
        notes: vec![],
        messages: vec![
            message(
                "m1",
                "t1",
                n - Duration::hours(2),
                ada.clone(),
                me.clone(),
                "Pricing question",
                "Could you send the enterprise pricing?",
                false,
            ),
            message(
                "m2",
                "t2",
                n - Duration::days(1),
                cara.clone(),
                me.clone(),
                "Contract redlines",
                "Here are our redlines on section 4.",
                false,
            ),
            message(
                "m3",
                "t3",
                n - Duration::days(7),
                me.clone(),
                bob.clone(),
                "Proposal for Globex",
                "Attached is the proposal we discussed.",
                true,
            ),
        ],
        drafts: vec![
            Draft {
                id: "dr1".into(),
                thread_id: Some("t2".into()),
                to: vec![cara],
                subject: "Re: Contract redlines".into(),
                body: "Thanks Cara, we accept the redlines.".into(),
                updated_at: n - Duration::hours(3),
                in_reply_to: Some("<m2@mail.test>".into()),
                move_key: None,
            },
            Draft {
                id: "dr2".into(),
                thread_id: None,
                to: vec![mailbox("Dan Umber", "dan@umbrella.test")],
                subject: "Intro".into(),
                body: "Hi Dan, great to meet you at the conference.".into(),
                updated_at: n - Duration::hours(5),
                in_reply_to: None,
                move_key: None,
            },
        ],
    }
}

fn moves() -> Vec<Move> {
    let c = Config::default();
    detect_moves(&mirror(), now(), &c.moves, &c.aps)
}

fn snapshot() -> Snapshot {
    Snapshot {
        moves: moves(),
        ..Snapshot::default()
    }
}

fn app_with(source: Source, safety: SafetyMode, keymap: Keymap, snap: Snapshot) -> App {
    App::new(now(), source, safety, keymap, Config::default().aps, snap)
}

fn demo() -> App {
    app_with(
        Source::Demo,
        SafetyMode::DraftOnly,
        Keymap::defaults(),
        snapshot(),
    )
}

fn live(safety: SafetyMode) -> App {
    app_with(Source::Live, safety, Keymap::defaults(), snapshot())
}

fn empty() -> App {
    app_with(
        Source::Demo,
        SafetyMode::DraftOnly,
        Keymap::defaults(),
        Snapshot::default(),
    )
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn key(app: &mut App, code: KeyCode) -> Vec<Effect> {
    app.update(Action::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn ch(app: &mut App, c: char) -> Vec<Effect> {
    key(app, KeyCode::Char(c))
}

fn ctrl(app: &mut App, c: char) -> Vec<Effect> {
    app.update(Action::Key(KeyEvent::new(
        KeyCode::Char(c),
        KeyModifiers::CONTROL,
    )))
}

fn typed(app: &mut App, s: &str) {
    for c in s.chars() {
        assert_eq!(ch(app, c), vec![], "typing {c:?} emitted an effect");
    }
}

fn selected_key(app: &App) -> Option<String> {
    app.selected_move().map(|m| m.key.clone())
}

fn row_keys(app: &App) -> Vec<String> {
    app.rows()
        .into_iter()
        .map(|i| app.data.moves[i].key.clone())
        .collect()
}

fn state_of(app: &App, key: &str) -> MoveState {
    app.data
        .moves
        .iter()
        .find(|m| m.key == key)
        .unwrap_or_else(|| panic!("no move {key}"))
        .state
        .clone()
}

/// Moves the selection onto `target` with `g` then `j`, as the operator would.
fn select(app: &mut App, target: &str) {
    ch(app, 'g');
    for _ in 0..=app.rows().len() {
        if selected_key(app).as_deref() == Some(target) {
            return;
        }
        ch(app, 'j');
    }
    panic!("{target} is not listed: {:?}", row_keys(app));
}

fn status(app: &App) -> (Level, String) {
    app.status.clone().expect("a status message")
}

fn assert_visible(app: &App) {
    let page = app.list_rows();
    let n = app.rows().len();
    if n == 0 {
        assert_eq!(app.selected, 0);
        return;
    }
    assert!(app.selected < n, "selected {} of {n}", app.selected);
    assert!(
        app.offset <= app.selected && app.selected < app.offset + page,
        "selected {} not within offset {} + page {page}",
        app.selected,
        app.offset
    );
}

// ---------------------------------------------------------------------------------------------
// The fixture itself
// ---------------------------------------------------------------------------------------------

#[test]
fn fixture_detects_one_move_of_each_expected_kind() {
    let ms = moves();
    let mut keys: Vec<&str> = ms.iter().map(|m| m.key.as_str()).collect();
    keys.sort_unstable();
    let mut expected = ALL_KEYS.to_vec();
    expected.sort_unstable();
    assert_eq!(keys, expected);
    assert!(ms.iter().all(|m| m.state == MoveState::Open));
    let with_draft: Vec<&str> = ms
        .iter()
        .filter(|m| m.subject.draft_id.is_some())
        .map(|m| m.key.as_str())
        .collect();
    assert_eq!(with_draft.len(), 2);
    assert!(with_draft.contains(&K_REPLY_DRAFT) && with_draft.contains(&K_DRAFT));
    let app = demo();
    assert_eq!(app.rows().len(), 8);
    assert_eq!(app.view, View::Moves);
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(app.now, now());
    assert_eq!(app.actionable_count(), (8, 0));
    // The top-ranked move is selected on start.
    assert_eq!(selected_key(&app), Some(app.data.moves[0].key.clone()));
}

// ---------------------------------------------------------------------------------------------
// Navigation
// ---------------------------------------------------------------------------------------------

#[test]
fn j_k_and_arrows_move_one_row_without_wrapping() {
    let mut app = demo();
    let order = row_keys(&app);
    assert_eq!(ch(&mut app, 'k'), vec![]);
    assert_eq!(app.selected, 0, "k on the first row stays there");
    assert_eq!(key(&mut app, KeyCode::Up), vec![]);
    assert_eq!(app.selected, 0);
    assert_eq!(ch(&mut app, 'j'), vec![]);
    assert_eq!(app.selected, 1);
    assert_eq!(selected_key(&app).as_deref(), Some(order[1].as_str()));
    assert_eq!(key(&mut app, KeyCode::Down), vec![]);
    assert_eq!(app.selected, 2);
    assert_eq!(key(&mut app, KeyCode::Up), vec![]);
    assert_eq!(app.selected, 1);
    ch(&mut app, 'k');
    assert_eq!(app.selected, 0);
    for _ in 0..20 {
        ch(&mut app, 'j');
    }
    assert_eq!(app.selected, 7, "j stops on the last row");
    key(&mut app, KeyCode::Down);
    assert_eq!(app.selected, 7);
    assert_eq!(selected_key(&app).as_deref(), Some(order[7].as_str()));
    assert_eq!(app.status, None, "navigation sets no status");
}

#[test]
fn g_and_shift_g_jump_to_the_ends() {
    let mut app = demo();
    assert_eq!(
        app.update(Action::Key(KeyEvent::new(
            KeyCode::Char('G'),
            KeyModifiers::SHIFT
        ))),
        vec![]
    );
    assert_eq!(app.selected, 7);
    ch(&mut app, 'g');
    assert_eq!(app.selected, 0);
    // Without the SHIFT modifier flag (some terminals) it is still G.
    ch(&mut app, 'G');
    assert_eq!(app.selected, 7);
    key(&mut app, KeyCode::Home);
    assert_eq!(app.selected, 0);
    key(&mut app, KeyCode::End);
    assert_eq!(app.selected, 7);
}

#[test]
fn page_keys_move_by_the_list_height_and_stop_at_the_ends() {
    let mut app = demo();
    app.update(Action::Resize(120, 10));
    assert_eq!(app.list_rows(), 3);
    assert_eq!(key(&mut app, KeyCode::PageDown), vec![]);
    assert_eq!(app.selected, 3);
    assert_visible(&app);
    assert_eq!(ctrl(&mut app, 'd'), vec![]);
    assert_eq!(app.selected, 6);
    assert_visible(&app);
    key(&mut app, KeyCode::PageDown);
    assert_eq!(app.selected, 7, "page down stops on the last row");
    ctrl(&mut app, 'd');
    assert_eq!(app.selected, 7);
    assert_visible(&app);
    assert_eq!(key(&mut app, KeyCode::PageUp), vec![]);
    assert_eq!(app.selected, 4);
    assert_visible(&app);
    assert_eq!(ctrl(&mut app, 'u'), vec![]);
    assert_eq!(app.selected, 1);
    ctrl(&mut app, 'u');
    assert_eq!(app.selected, 0, "page up stops on the first row");
    key(&mut app, KeyCode::PageUp);
    assert_eq!(app.selected, 0);
    assert_visible(&app);
    assert!(!app.quitting);
}

#[test]
fn page_down_on_a_tall_screen_goes_to_the_last_row() {
    let mut app = demo();
    assert_eq!(app.list_rows(), list_rows_for(40));
    assert!(app.list_rows() > 8);
    ctrl(&mut app, 'd');
    assert_eq!(app.selected, 7);
    assert_eq!(app.offset, 0);
    ctrl(&mut app, 'u');
    assert_eq!(app.selected, 0);
}

#[test]
fn resize_changes_list_rows_and_keeps_the_selection_visible() {
    let mut app = demo();
    assert_eq!(app.size, (120, 40));
    let tall = app.list_rows();
    assert_eq!(app.update(Action::Resize(100, 10)), vec![]);
    assert_eq!(app.size, (100, 10));
    assert_eq!(app.list_rows(), 3);
    assert!(app.list_rows() < tall);
    ch(&mut app, 'G');
    assert_eq!(app.selected, 7);
    assert_eq!(app.offset, 5);
    assert_visible(&app);
    ch(&mut app, 'g');
    assert_eq!(app.offset, 0);
    for _ in 0..4 {
        ch(&mut app, 'j');
        assert_visible(&app);
    }
    assert_eq!(app.selected, 4);
    assert_eq!(app.offset, 2);
    // Growing the screen scrolls back so that no empty rows are wasted.
    app.update(Action::Resize(120, 40));
    assert_eq!(app.list_rows(), tall);
    assert_eq!(app.offset, 0);
    assert_eq!(app.selected, 4);
    // Shrinking again with the selection at the bottom scrolls it into view.
    ch(&mut app, 'G');
    app.update(Action::Resize(120, 12));
    assert_eq!(app.list_rows(), list_rows_for(12));
    assert_visible(&app);
    assert_eq!(app.offset, 8 - app.list_rows());
    // A tiny terminal still shows at least three rows.
    app.update(Action::Resize(20, 1));
    assert_eq!(app.list_rows(), 3);
    assert_visible(&app);
}

#[test]
fn every_key_on_an_empty_list_is_harmless() {
    let keys: Vec<KeyEvent> = [
        'j', 'k', 'g', 'G', 'a', 's', 'z', 'x', 'y', 'e', 'u', '/', 'r', '?',
    ]
    .into_iter()
    .map(|c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
    .chain(
        [
            KeyCode::Down,
            KeyCode::Up,
            KeyCode::Home,
            KeyCode::End,
            KeyCode::PageDown,
            KeyCode::PageUp,
            KeyCode::Enter,
            KeyCode::Esc,
            KeyCode::Backspace,
            KeyCode::Tab,
            KeyCode::BackTab,
        ]
        .into_iter()
        .map(|c| KeyEvent::new(c, KeyModifiers::NONE)),
    )
    .chain(
        ['d', 'u']
            .into_iter()
            .map(|c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)),
    )
    .collect();
    for view_steps in 0..4 {
        let mut app = empty();
        for _ in 0..view_steps {
            key(&mut app, KeyCode::Tab);
        }
        for k in &keys {
            let fx = app.update(Action::Key(*k));
            assert!(
                // (Tab onto Stats asks for their numbers: a read, nothing else.)
                fx.iter().all(|e| matches!(
                    e,
                    Effect::Sync | Effect::Undo { .. } | Effect::Refresh | Effect::LoadStats
                )),
                "{k:?} on an empty list gave {fx:?}"
            );
            assert_eq!(app.selected, 0);
            assert_eq!(app.offset, 0);
            assert_eq!(app.selected_move(), None);
            // Leave whatever modal state the key opened, so the next key is a command again.
            if app.mode != Mode::Normal {
                key(&mut app, KeyCode::Esc);
            }
            assert_eq!(app.mode, Mode::Normal, "after {k:?}");
        }
        app.update(Action::Resize(80, 5));
        assert_eq!(app.selected, 0);
        assert!(!app.quitting);
    }
    // Commands that need a move say so.
    let mut app = empty();
    for c in ['a', 's', 'z', 'x', 'y', 'e'] {
        app.status = None;
        assert_eq!(ch(&mut app, c), vec![]);
        assert_eq!(app.mode, Mode::Normal, "{c}");
        assert_eq!(status(&app).0, Level::Warn, "{c}");
    }
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.mode, Mode::Normal, "no detail without a move");
    assert_eq!(ch(&mut app, 'q'), vec![Effect::Quit]);
}

// ---------------------------------------------------------------------------------------------
// Detail
// ---------------------------------------------------------------------------------------------

#[test]
fn enter_opens_detail_j_k_scroll_and_esc_closes() {
    let mut app = demo();
    ch(&mut app, 'j');
    let before = selected_key(&app);
    assert_eq!(key(&mut app, KeyCode::Enter), vec![]);
    assert_eq!(app.mode, Mode::Detail);
    assert_eq!(app.detail_scroll, 0);
    ch(&mut app, 'j');
    ch(&mut app, 'j');
    key(&mut app, KeyCode::Down);
    assert_eq!(app.detail_scroll, 3);
    assert_eq!(app.selected, 1, "j scrolls the detail, not the list");
    ch(&mut app, 'k');
    assert_eq!(app.detail_scroll, 2);
    key(&mut app, KeyCode::Up);
    ch(&mut app, 'k');
    ch(&mut app, 'k');
    assert_eq!(app.detail_scroll, 0, "scrolling up stops at the top");
    ctrl(&mut app, 'd');
    assert_eq!(app.detail_scroll, 10);
    key(&mut app, KeyCode::PageDown);
    assert_eq!(app.detail_scroll, 20);
    ctrl(&mut app, 'u');
    assert_eq!(app.detail_scroll, 10);
    ch(&mut app, 'g');
    assert_eq!(app.detail_scroll, 0);
    key(&mut app, KeyCode::PageUp);
    assert_eq!(app.detail_scroll, 0);
    // Keys that are not detail commands are ignored.
    assert_eq!(ch(&mut app, '/'), vec![]);
    assert_eq!(key(&mut app, KeyCode::Tab), vec![]);
    assert_eq!(ch(&mut app, 'r'), vec![]);
    assert_eq!(app.mode, Mode::Detail);
    assert_eq!(app.view, View::Moves);
    assert_eq!(key(&mut app, KeyCode::Esc), vec![]);
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(selected_key(&app), before);
    assert!(app.data.moves.iter().all(|m| m.state == MoveState::Open));
}

#[test]
fn detail_resets_its_scroll_and_enter_or_q_closes_it() {
    let mut app = demo();
    key(&mut app, KeyCode::Enter);
    ch(&mut app, 'j');
    assert_eq!(key(&mut app, KeyCode::Enter), vec![]);
    assert_eq!(app.mode, Mode::Normal, "Enter toggles the detail");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.detail_scroll, 0, "a new detail starts at the top");
    assert_eq!(ch(&mut app, 'q'), vec![], "q leaves the detail, not the app");
    assert_eq!(app.mode, Mode::Normal);
    assert!(!app.quitting);
}

#[test]
fn accept_inside_detail_acts_and_closes() {
    let mut app = demo();
    select(&mut app, K_FOLLOW_UP);
    key(&mut app, KeyCode::Enter);
    ch(&mut app, 'j');
    assert_eq!(
        ch(&mut app, 'a'),
        vec![Effect::Decide {
            key: K_FOLLOW_UP.into(),
            state: MoveState::Accepted
        }]
    );
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(state_of(&app, K_FOLLOW_UP), MoveState::Accepted);
}

#[test]
fn other_actions_inside_detail_act_on_the_shown_move() {
    let mut app = demo();
    select(&mut app, K_REPLY_DRAFT);
    key(&mut app, KeyCode::Enter);
    assert_eq!(
        ch(&mut app, 'e'),
        vec![Effect::EditDraft {
            key: K_REPLY_DRAFT.into()
        }]
    );
    assert_eq!(app.mode, Mode::Normal);
    key(&mut app, KeyCode::Enter);
    assert_eq!(
        ch(&mut app, 'y'),
        vec![Effect::Execute {
            key: K_REPLY_DRAFT.into(),
            approve: true
        }]
    );
    assert_eq!(app.mode, Mode::Normal);
    select(&mut app, K_TASK);
    key(&mut app, KeyCode::Enter);
    assert_eq!(ch(&mut app, 's'), vec![]);
    assert_eq!(
        app.mode,
        Mode::SkipReason {
            key: K_TASK.into(),
            input: String::new()
        }
    );
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Enter);
    assert_eq!(ch(&mut app, 'z'), vec![]);
    assert_eq!(app.mode, Mode::Snooze { key: K_TASK.into() });
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Enter);
    assert_eq!(
        ch(&mut app, 'u'),
        vec![Effect::Undo {
            key: K_REPLY_DRAFT.into()
        }]
    );
    assert_eq!(app.mode, Mode::Normal);
    key(&mut app, KeyCode::Enter);
    assert_eq!(ctrl(&mut app, 'c'), vec![Effect::Quit]);
    assert!(app.quitting);
}

// ---------------------------------------------------------------------------------------------
// Accept
// ---------------------------------------------------------------------------------------------

#[test]
fn accept_emits_one_decision_and_keeps_the_move_listed() {
    let mut app = demo();
    select(&mut app, K_STALE);
    let pos = app.selected;
    assert_eq!(
        ch(&mut app, 'a'),
        vec![Effect::Decide {
            key: K_STALE.into(),
            state: MoveState::Accepted
        }]
    );
    assert_eq!(state_of(&app, K_STALE), MoveState::Accepted);
    assert!(row_keys(&app).contains(&K_STALE.to_string()));
    assert_eq!(app.rows().len(), 8);
    assert_eq!(app.selected, pos);
    assert_eq!(selected_key(&app).as_deref(), Some(K_STALE));
    let (level, msg) = status(&app);
    assert_eq!(level, Level::Info);
    assert!(msg.contains("accepted"), "{msg}");
    assert_eq!(app.actionable_count(), (7, 1));

    app.status = None;
    assert_eq!(ch(&mut app, 'a'), vec![], "accepting twice emits nothing");
    let (_, msg) = status(&app);
    assert!(msg.contains("already accepted"), "{msg}");
    assert_eq!(state_of(&app, K_STALE), MoveState::Accepted);
    // Only one decision is on the undo stack.
    assert_eq!(ch(&mut app, 'u'), vec![Effect::Undo { key: K_STALE.into() }]);
    assert_eq!(ch(&mut app, 'u'), vec![]);
}

// ---------------------------------------------------------------------------------------------
// Skip
// ---------------------------------------------------------------------------------------------

#[test]
fn skip_with_a_reason() {
    let mut app = demo();
    select(&mut app, K_FOLLOW_UP);
    assert_eq!(ch(&mut app, 's'), vec![]);
    assert_eq!(
        app.mode,
        Mode::SkipReason {
            key: K_FOLLOW_UP.into(),
            input: String::new()
        }
    );
    typed(&mut app, "no budget");
    assert_eq!(
        app.mode,
        Mode::SkipReason {
            key: K_FOLLOW_UP.into(),
            input: "no budget".into()
        }
    );
    assert_eq!(
        state_of(&app, K_FOLLOW_UP),
        MoveState::Open,
        "nothing decided while typing"
    );
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Effect::Decide {
            key: K_FOLLOW_UP.into(),
            state: MoveState::Skipped {
                reason: Some("no budget".into())
            }
        }]
    );
    assert_eq!(app.mode, Mode::Normal);
    assert!(!row_keys(&app).contains(&K_FOLLOW_UP.to_string()));
    assert_eq!(app.rows().len(), 7);
    assert_visible(&app);
    let (level, msg) = status(&app);
    assert_eq!(level, Level::Info);
    assert!(msg.contains("no budget"), "{msg}");
}

#[test]
fn skip_without_a_reason_gives_none() {
    for input in ["", "   "] {
        let mut app = demo();
        select(&mut app, K_TASK);
        ch(&mut app, 's');
        typed(&mut app, input);
        assert_eq!(
            key(&mut app, KeyCode::Enter),
            vec![Effect::Decide {
                key: K_TASK.into(),
                state: MoveState::Skipped { reason: None }
            }],
            "input {input:?}"
        );
        assert_eq!(state_of(&app, K_TASK), MoveState::Skipped { reason: None });
        assert!(!row_keys(&app).contains(&K_TASK.to_string()));
    }
}

#[test]
fn skip_reason_is_trimmed() {
    let mut app = demo();
    select(&mut app, K_TASK);
    ch(&mut app, 's');
    typed(&mut app, "  done by phone ");
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Effect::Decide {
            key: K_TASK.into(),
            state: MoveState::Skipped {
                reason: Some("done by phone".into())
            }
        }]
    );
}

#[test]
fn skip_escape_cancels_without_effect() {
    let mut app = demo();
    select(&mut app, K_STAGE);
    ch(&mut app, 's');
    typed(&mut app, "later");
    assert_eq!(key(&mut app, KeyCode::Esc), vec![]);
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(state_of(&app, K_STAGE), MoveState::Open);
    assert_eq!(app.rows().len(), 8);
    assert_eq!(selected_key(&app).as_deref(), Some(K_STAGE));
    assert!(status(&app).1.contains("cancel"));
    assert_eq!(ch(&mut app, 'u'), vec![], "a cancelled skip is nothing to undo");
    // A new skip starts with an empty reason.
    ch(&mut app, 's');
    assert_eq!(
        app.mode,
        Mode::SkipReason {
            key: K_STAGE.into(),
            input: String::new()
        }
    );
}

#[test]
fn skip_backspace_edits_and_command_keys_are_text() {
    let mut app = demo();
    select(&mut app, K_CLOSING);
    ch(&mut app, 's');
    typed(&mut app, "no budgex");
    assert_eq!(key(&mut app, KeyCode::Backspace), vec![]);
    assert_eq!(key(&mut app, KeyCode::Backspace), vec![]);
    typed(&mut app, "et");
    assert_eq!(
        app.mode,
        Mode::SkipReason {
            key: K_CLOSING.into(),
            input: "no budget".into()
        }
    );
    // Command keys are plain text here: nothing quits, accepts or moves.
    typed(&mut app, " qaxjy?/");
    assert!(!app.quitting);
    assert_eq!(state_of(&app, K_CLOSING), MoveState::Open);
    // Control chords and navigation keys are not typed.
    assert_eq!(ctrl(&mut app, 'c'), vec![]);
    assert_eq!(key(&mut app, KeyCode::Down), vec![]);
    assert_eq!(key(&mut app, KeyCode::Tab), vec![]);
    assert!(!app.quitting);
    assert_eq!(app.view, View::Moves);
    for _ in 0.." qaxjy?/".len() {
        key(&mut app, KeyCode::Backspace);
    }
    assert_eq!(
        app.mode,
        Mode::SkipReason {
            key: K_CLOSING.into(),
            input: "no budget".into()
        }
    );
    // Backspace on an empty reason is harmless.
    for _ in 0..20 {
        key(&mut app, KeyCode::Backspace);
    }
    assert_eq!(
        app.mode,
        Mode::SkipReason {
            key: K_CLOSING.into(),
            input: String::new()
        }
    );
}

#[test]
fn skip_reason_is_capped_at_200_characters() {
    let mut app = demo();
    ch(&mut app, 's');
    typed(&mut app, &"é".repeat(250));
    let Mode::SkipReason { input, .. } = &app.mode else {
        panic!("not in skip mode: {:?}", app.mode);
    };
    assert_eq!(input.chars().count(), 200);
}

// ---------------------------------------------------------------------------------------------
// Snooze
// ---------------------------------------------------------------------------------------------

fn snooze_with(c: char) -> (App, Vec<Effect>) {
    let mut app = demo();
    select(&mut app, K_REPLY);
    assert_eq!(ch(&mut app, 'z'), vec![]);
    assert_eq!(app.mode, Mode::Snooze { key: K_REPLY.into() });
    let fx = ch(&mut app, c);
    (app, fx)
}

#[test]
fn snooze_by_days_and_weeks() {
    for (c, days) in [('1', 1), ('d', 1), ('3', 3), ('w', 7), ('7', 7)] {
        let (app, fx) = snooze_with(c);
        let state = MoveState::Snoozed {
            until: Some(now() + Duration::days(days)),
            until_reply: false,
        };
        assert_eq!(
            fx,
            vec![Effect::Decide {
                key: K_REPLY.into(),
                state: state.clone()
            }],
            "key {c}"
        );
        assert_eq!(app.mode, Mode::Normal);
        assert_eq!(state_of(&app, K_REPLY), state);
        assert!(
            !row_keys(&app).contains(&K_REPLY.to_string()),
            "snoozed moves leave the list"
        );
        assert_eq!(app.rows().len(), 7);
        assert!(status(&app).1.contains("snoozed"));
    }
}

#[test]
fn snooze_until_reply() {
    let (app, fx) = snooze_with('r');
    assert_eq!(
        fx,
        vec![Effect::Decide {
            key: K_REPLY.into(),
            state: MoveState::Snoozed {
                until: None,
                until_reply: true
            }
        }]
    );
    assert_eq!(app.mode, Mode::Normal);
    assert!(!row_keys(&app).contains(&K_REPLY.to_string()));
}

#[test]
fn snooze_counts_from_the_ticking_clock() {
    let mut app = demo();
    let later = now() + Duration::hours(5);
    // A tick after a long idle also asks for fresh data.
    assert_eq!(app.update(Action::Tick(later)), vec![Effect::Reload]);
    assert_eq!(app.now, later);
    select(&mut app, K_STALE);
    ch(&mut app, 'z');
    assert_eq!(
        ch(&mut app, '3'),
        vec![Effect::Decide {
            key: K_STALE.into(),
            state: MoveState::Snoozed {
                until: Some(later + Duration::days(3)),
                until_reply: false
            }
        }]
    );
}

#[test]
fn snooze_escape_cancels_and_other_keys_are_ignored() {
    let (mut app, fx) = snooze_with('a');
    assert_eq!(fx, vec![]);
    for k in [
        KeyCode::Char('x'),
        KeyCode::Char('j'),
        KeyCode::Char('2'),
        KeyCode::Char('u'),
        KeyCode::Char('?'),
        KeyCode::Enter,
        KeyCode::Tab,
        KeyCode::Down,
        KeyCode::Backspace,
    ] {
        assert_eq!(key(&mut app, k), vec![], "{k:?}");
        assert_eq!(
            app.mode,
            Mode::Snooze { key: K_REPLY.into() },
            "{k:?} left the snooze menu"
        );
    }
    assert_eq!(state_of(&app, K_REPLY), MoveState::Open);
    assert_eq!(selected_key(&app).as_deref(), Some(K_REPLY));
    assert_eq!(app.view, View::Moves);
    assert_eq!(key(&mut app, KeyCode::Esc), vec![]);
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(state_of(&app, K_REPLY), MoveState::Open);
    assert_eq!(app.rows().len(), 8);
    assert!(status(&app).1.contains("cancel"));
    assert_eq!(ch(&mut app, 'u'), vec![], "a cancelled snooze is nothing to undo");
}

// ---------------------------------------------------------------------------------------------
// Execute, approve, edit
// ---------------------------------------------------------------------------------------------

#[test]
fn execute_in_demo_is_simulated_and_the_move_leaves_the_list() {
    let mut app = demo();
    select(&mut app, K_CLOSING);
    let label = app.selected_move().unwrap().action.label();
    assert_eq!(
        ch(&mut app, 'x'),
        vec![Effect::Execute {
            key: K_CLOSING.into(),
            approve: false
        }]
    );
    assert_eq!(state_of(&app, K_CLOSING), MoveState::Done);
    assert!(!row_keys(&app).contains(&K_CLOSING.to_string()));
    assert_eq!(app.rows().len(), 7);
    let (level, msg) = status(&app);
    assert_eq!(level, Level::Info);
    assert!(msg.contains("DEMO"), "{msg}");
    assert!(msg.contains(label), "names the action: {msg}");
}

#[test]
fn x_on_a_move_without_a_draft_writes_one_and_the_move_stays_open() {
    for app in [&mut demo(), &mut live(SafetyMode::Send)] {
        select(app, K_REPLY);
        assert_eq!(
            ch(app, 'x'),
            vec![Effect::WriteDraft { key: K_REPLY.into() }],
            "no outbox run: nothing is queued"
        );
        assert_eq!(state_of(app, K_REPLY), MoveState::Open);
        assert!(row_keys(app).contains(&K_REPLY.to_string()));
        assert!(status(app).1.contains("writing a draft"), "{:?}", status(app));
        assert_eq!(
            ch(app, 'u'),
            vec![],
            "nothing to undo: writing a draft is not a decision"
        );
    }
}

#[test]
fn execute_live_in_draft_only_says_nothing_is_sent() {
    let mut app = live(SafetyMode::DraftOnly);
    select(&mut app, K_REPLY_DRAFT);
    assert_eq!(
        ch(&mut app, 'x'),
        vec![Effect::Execute {
            key: K_REPLY_DRAFT.into(),
            approve: false
        }]
    );
    assert!(!row_keys(&app).contains(&K_REPLY_DRAFT.to_string()));
    let (_, msg) = status(&app);
    assert!(msg.contains("draft-only"), "{msg}");
    assert!(!msg.contains("DEMO"), "{msg}");
}

#[test]
fn execute_live_in_send_mode_queues_in_the_outbox() {
    let mut app = live(SafetyMode::Send);
    select(&mut app, K_TASK);
    assert_eq!(
        ch(&mut app, 'x'),
        vec![Effect::Execute {
            key: K_TASK.into(),
            approve: false
        }]
    );
    let (_, msg) = status(&app);
    assert!(msg.contains("outbox"), "{msg}");
    assert!(!msg.contains("draft-only") && !msg.contains("DEMO"), "{msg}");
}

#[test]
fn execute_the_last_row_moves_the_selection_up() {
    let mut app = demo();
    // The follow-up is last and has no draft yet (x would write one): set it aside first.
    select(&mut app, K_FOLLOW_UP);
    ch(&mut app, 's');
    key(&mut app, KeyCode::Enter);
    ch(&mut app, 'G');
    let last = selected_key(&app).unwrap();
    let above = row_keys(&app)[5].clone();
    assert_eq!(
        ch(&mut app, 'x'),
        vec![Effect::Execute {
            key: last,
            approve: false
        }]
    );
    assert_eq!(app.selected, 5, "{:?}", row_keys(&app));
    assert_eq!(selected_key(&app), Some(above));
    assert_visible(&app);
}

#[test]
fn execute_an_accepted_move() {
    let mut app = demo();
    select(&mut app, K_CLOSING);
    ch(&mut app, 'a');
    assert_eq!(
        ch(&mut app, 'x'),
        vec![Effect::Execute {
            key: K_CLOSING.into(),
            approve: false
        }]
    );
    assert_eq!(state_of(&app, K_CLOSING), MoveState::Done);
}

#[test]
fn approve_without_a_draft_is_refused() {
    let mut app = demo();
    select(&mut app, K_REPLY);
    assert_eq!(ch(&mut app, 'y'), vec![]);
    let (level, msg) = status(&app);
    assert_eq!(level, Level::Warn);
    assert!(msg.contains("no draft"), "{msg}");
    assert_eq!(state_of(&app, K_REPLY), MoveState::Open);
    assert_eq!(app.rows().len(), 8);
    assert_eq!(ch(&mut app, 'u'), vec![], "a refused approval is nothing to undo");
}

#[test]
fn approve_with_a_draft_executes_the_approval() {
    for target in [K_REPLY_DRAFT, K_DRAFT] {
        let mut app = demo();
        select(&mut app, target);
        assert_eq!(
            ch(&mut app, 'y'),
            vec![Effect::Execute {
                key: target.into(),
                approve: true
            }]
        );
        assert_eq!(state_of(&app, target), MoveState::Done);
        assert!(!row_keys(&app).contains(&target.to_string()));
        let (level, msg) = status(&app);
        assert_eq!(level, Level::Info);
        assert!(msg.contains("draft approved") && msg.contains("DEMO"), "{msg}");
    }
}

#[test]
fn edit_without_a_draft_is_refused() {
    let mut app = demo();
    select(&mut app, K_STALE);
    assert_eq!(ch(&mut app, 'e'), vec![]);
    let (level, msg) = status(&app);
    assert_eq!(level, Level::Warn);
    assert!(msg.contains("no draft"), "{msg}");
    assert_eq!(state_of(&app, K_STALE), MoveState::Open);
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn edit_with_a_draft_opens_the_editor() {
    for target in [K_REPLY_DRAFT, K_DRAFT] {
        let mut app = demo();
        select(&mut app, target);
        assert_eq!(ch(&mut app, 'e'), vec![Effect::EditDraft { key: target.into() }]);
        // Editing is not a decision: the move stays open and listed.
        assert_eq!(state_of(&app, target), MoveState::Open);
        assert!(row_keys(&app).contains(&target.to_string()));
        assert_eq!(ch(&mut app, 'u'), vec![]);
    }
}

// ---------------------------------------------------------------------------------------------
// Undo
// ---------------------------------------------------------------------------------------------

#[test]
fn undo_restores_the_previous_state_and_reselects_the_move() {
    let mut app = demo();
    select(&mut app, K_STALE);
    ch(&mut app, 'x');
    assert!(!row_keys(&app).contains(&K_STALE.to_string()));
    ch(&mut app, 'g');
    assert_ne!(selected_key(&app).as_deref(), Some(K_STALE));
    app.status = None;
    assert_eq!(ch(&mut app, 'u'), vec![Effect::Undo { key: K_STALE.into() }]);
    assert_eq!(state_of(&app, K_STALE), MoveState::Open);
    assert_eq!(app.rows().len(), 8);
    assert_eq!(selected_key(&app).as_deref(), Some(K_STALE));
    assert_visible(&app);
    let (level, msg) = status(&app);
    assert_eq!(level, Level::Info);
    assert!(msg.contains("undone"), "{msg}");
}

#[test]
fn undo_selects_the_move_even_when_it_is_off_screen() {
    let mut app = demo();
    app.update(Action::Resize(120, 10));
    ch(&mut app, 'G');
    let last = selected_key(&app).unwrap();
    ch(&mut app, 'a');
    ch(&mut app, 'g');
    assert_eq!(app.offset, 0);
    assert_eq!(ch(&mut app, 'u'), vec![Effect::Undo { key: last.clone() }]);
    assert_eq!(selected_key(&app), Some(last));
    assert_visible(&app);
}

#[test]
fn several_decisions_undo_in_reverse_order() {
    let mut app = demo();
    select(&mut app, K_STALE);
    ch(&mut app, 'a');
    // The same move decided twice: accepted, then skipped.
    ch(&mut app, 's');
    typed(&mut app, "lost");
    key(&mut app, KeyCode::Enter);
    select(&mut app, K_REPLY);
    ch(&mut app, 'z');
    ch(&mut app, 'w');
    select(&mut app, K_DRAFT);
    ch(&mut app, 'y');
    assert_eq!(app.rows().len(), 5);

    assert_eq!(ch(&mut app, 'u'), vec![Effect::Undo { key: K_DRAFT.into() }]);
    assert_eq!(state_of(&app, K_DRAFT), MoveState::Open);
    assert_eq!(selected_key(&app).as_deref(), Some(K_DRAFT));
    assert_eq!(ch(&mut app, 'u'), vec![Effect::Undo { key: K_REPLY.into() }]);
    assert_eq!(state_of(&app, K_REPLY), MoveState::Open);
    assert_eq!(selected_key(&app).as_deref(), Some(K_REPLY));
    assert_eq!(ch(&mut app, 'u'), vec![Effect::Undo { key: K_STALE.into() }]);
    assert_eq!(
        state_of(&app, K_STALE),
        MoveState::Accepted,
        "undoing the skip goes back to accepted"
    );
    assert_eq!(selected_key(&app).as_deref(), Some(K_STALE));
    assert_eq!(ch(&mut app, 'u'), vec![Effect::Undo { key: K_STALE.into() }]);
    assert_eq!(state_of(&app, K_STALE), MoveState::Open);
    assert_eq!(app.rows().len(), 8);
    assert!(app.data.moves.iter().all(|m| m.state == MoveState::Open));

    assert_eq!(ch(&mut app, 'u'), vec![]);
    let (level, msg) = status(&app);
    assert_eq!(level, Level::Warn);
    assert!(msg.contains("nothing to undo"), "{msg}");
}

#[test]
fn undo_with_nothing_to_undo_warns() {
    let mut app = demo();
    assert_eq!(ch(&mut app, 'u'), vec![]);
    assert_eq!(status(&app).0, Level::Warn);
    assert_eq!(app.selected, 0);
    assert!(app.data.moves.iter().all(|m| m.state == MoveState::Open));
}

// ---------------------------------------------------------------------------------------------
// Filter
// ---------------------------------------------------------------------------------------------

#[test]
fn filter_narrows_case_insensitively_and_enter_keeps_it() {
    let mut app = demo();
    ch(&mut app, 'j');
    assert_eq!(ch(&mut app, '/'), vec![]);
    assert_eq!(app.mode, Mode::Filter);
    typed(&mut app, "PRICING");
    assert_eq!(app.filter, "PRICING");
    assert_eq!(row_keys(&app), vec![K_REPLY.to_string()], "title match");
    assert_eq!(app.selected, 0);
    assert_eq!(selected_key(&app).as_deref(), Some(K_REPLY));
    assert_eq!(key(&mut app, KeyCode::Enter), vec![]);
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(app.filter, "PRICING", "Enter keeps the filter");
    assert_eq!(row_keys(&app), vec![K_REPLY.to_string()]);
    // Keys are commands again, on the filtered list.
    assert_eq!(
        ch(&mut app, 'a'),
        vec![Effect::Decide {
            key: K_REPLY.into(),
            state: MoveState::Accepted
        }]
    );
}

#[test]
fn filter_matches_who_why_and_type() {
    let cases: [(&str, &[&str]); 4] = [
        // who
        ("bob builder", &[K_FOLLOW_UP]),
        // why
        ("no reply yet", &[K_FOLLOW_UP]),
        ("enterprise", &[K_REPLY]),
        // type (wire name)
        ("Overdue_Task", &[K_TASK]),
    ];
    for (needle, expected) in cases {
        let mut app = demo();
        ch(&mut app, '/');
        typed(&mut app, needle);
        let mut got = row_keys(&app);
        got.sort();
        let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(got, want, "filter {needle:?}");
    }
    // A person on several moves matches them all.
    let mut app = demo();
    ch(&mut app, '/');
    typed(&mut app, "ada lovelace");
    let mut got = row_keys(&app);
    got.sort();
    let mut want = vec![
        K_REPLY.to_string(),
        K_CLOSING.to_string(),
        K_STAGE.to_string(),
        K_TASK.to_string(),
    ];
    want.sort();
    assert_eq!(got, want);
    assert!(
        app.data
            .moves
            .iter()
            .filter(|m| got.contains(&m.key))
            .all(|m| m.who == "Ada Lovelace")
    );
    assert!(
        app.rows()
            .iter()
            .all(|&i| app.data.moves[i].kind != MoveKind::FollowUp)
    );
}

#[test]
fn filter_escape_clears_it() {
    let mut app = demo();
    ch(&mut app, '/');
    typed(&mut app, "acme");
    assert!(app.rows().len() < 8);
    assert_eq!(key(&mut app, KeyCode::Esc), vec![]);
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(app.filter, "");
    assert_eq!(app.rows().len(), 8);

    // A filter kept with Enter is cleared by Esc in normal mode too.
    ch(&mut app, '/');
    typed(&mut app, "acme");
    key(&mut app, KeyCode::Enter);
    let narrowed = app.rows().len();
    assert!(narrowed < 8);
    assert_eq!(key(&mut app, KeyCode::Esc), vec![]);
    assert_eq!(app.filter, "");
    assert_eq!(app.rows().len(), 8);
    assert_visible(&app);
}

#[test]
fn filter_backspace_edits_and_resets_the_selection() {
    let mut app = demo();
    ch(&mut app, 'G');
    ch(&mut app, '/');
    typed(&mut app, "redlinesx");
    assert_eq!(app.rows().len(), 0);
    assert_eq!(key(&mut app, KeyCode::Backspace), vec![]);
    assert_eq!(app.filter, "redlines");
    assert_eq!(row_keys(&app), vec![K_REPLY_DRAFT.to_string()]);
    assert_eq!(app.selected, 0);
    assert_eq!(app.offset, 0);
    for _ in 0..30 {
        key(&mut app, KeyCode::Backspace);
    }
    assert_eq!(app.filter, "");
    assert_eq!(
        app.mode,
        Mode::Filter,
        "backspace on an empty filter stays in filter mode"
    );
    assert_eq!(app.rows().len(), 8);
    // Command keys are text while filtering; control chords are not.
    typed(&mut app, "q");
    assert!(!app.quitting);
    assert_eq!(app.filter, "q");
    assert_eq!(ctrl(&mut app, 'c'), vec![]);
    assert_eq!(app.filter, "q");
    assert!(!app.quitting);
}

#[test]
fn filter_matching_nothing_is_an_empty_list_where_keys_are_harmless() {
    let mut app = demo();
    ch(&mut app, '/');
    typed(&mut app, "zzz-nothing");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.rows(), Vec::<usize>::new());
    assert_eq!(app.selected_move(), None);
    for c in ['j', 'k', 'G', 'g'] {
        assert_eq!(ch(&mut app, c), vec![]);
        assert_eq!(app.selected, 0);
    }
    ctrl(&mut app, 'd');
    assert_eq!(app.selected, 0);
    for c in ['a', 'x', 'y', 'e', 's', 'z'] {
        assert_eq!(ch(&mut app, c), vec![], "{c}");
        assert_eq!(app.mode, Mode::Normal);
        assert_eq!(status(&app).0, Level::Warn);
    }
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.mode, Mode::Normal);
    assert!(app.data.moves.iter().all(|m| m.state == MoveState::Open));
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.rows().len(), 8);
}

#[test]
fn filter_is_only_available_in_move_lists() {
    let mut app = demo();
    key(&mut app, KeyCode::Tab);
    ch(&mut app, '/');
    assert_eq!(app.mode, Mode::Filter, "drafts can be filtered");
    typed(&mut app, "intro");
    assert_eq!(row_keys(&app), vec![K_DRAFT.to_string()]);
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.view, View::Outbox);
    ch(&mut app, '/');
    assert_eq!(app.mode, Mode::Normal, "the outbox has no filter");
    key(&mut app, KeyCode::Tab);
    ch(&mut app, '/');
    assert_eq!(app.mode, Mode::Normal, "stats have no filter");
}

// ---------------------------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------------------------

#[test]
fn tab_and_backtab_cycle_the_views() {
    let mut app = demo();
    let forward = [View::Drafts, View::Outbox, View::Stats, View::Moves];
    // Arriving on Stats asks for its numbers; the other views need nothing.
    let effects_on = |v: View| {
        if v == View::Stats {
            vec![Effect::LoadStats]
        } else {
            vec![]
        }
    };
    let answer = |app: &mut App| {
        if app.view == View::Stats {
            app.update(Action::StatsLoaded(Ok(Box::default())));
        }
    };
    for v in forward {
        assert_eq!(key(&mut app, KeyCode::Tab), effects_on(v));
        assert_eq!(app.view, v);
        answer(&mut app);
    }
    let backward = [View::Stats, View::Outbox, View::Drafts, View::Moves];
    for v in backward {
        assert_eq!(key(&mut app, KeyCode::BackTab), effects_on(v));
        assert_eq!(app.view, v);
        answer(&mut app);
    }
    assert_eq!(View::ALL.map(View::title), ["Moves", "Drafts", "Outbox", "Stats"]);
}

#[test]
fn switching_views_resets_the_selection() {
    let mut app = demo();
    ch(&mut app, 'G');
    assert_eq!(app.selected, 7);
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.selected, 0);
    assert_eq!(app.offset, 0);
    key(&mut app, KeyCode::BackTab);
    assert_eq!(app.selected, 0);
}

#[test]
fn drafts_view_lists_only_moves_with_a_draft() {
    let mut app = demo();
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.view, View::Drafts);
    let mut keys = row_keys(&app);
    keys.sort();
    assert_eq!(keys, vec![K_DRAFT.to_string(), K_REPLY_DRAFT.to_string()]);
    assert!(
        app.rows()
            .iter()
            .all(|&i| app.data.moves[i].subject.draft_id.is_some())
    );
    ch(&mut app, 'G');
    assert_eq!(app.selected, 1);
    ch(&mut app, 'j');
    assert_eq!(app.selected, 1);
    let target = selected_key(&app).unwrap();
    assert_eq!(ch(&mut app, 'e'), vec![Effect::EditDraft { key: target.clone() }]);
    assert_eq!(
        ch(&mut app, 'y'),
        vec![Effect::Execute {
            key: target.clone(),
            approve: true
        }]
    );
    assert_eq!(app.rows().len(), 1);
    assert_eq!(app.selected, 0);
    assert_eq!(ch(&mut app, 'u'), vec![Effect::Undo { key: target.clone() }]);
    assert_eq!(app.rows().len(), 2);
    assert_eq!(selected_key(&app), Some(target));
    assert_eq!(app.view, View::Drafts, "undo stays in the drafts view");
}

#[test]
fn outbox_and_stats_have_no_selected_move() {
    for tabs in [2, 3] {
        let mut app = demo();
        for _ in 0..tabs {
            key(&mut app, KeyCode::Tab);
        }
        assert!(matches!(app.view, View::Outbox | View::Stats));
        assert_eq!(app.selected_move(), None);
        for c in ['a', 'x', 'y', 'e', 's', 'z'] {
            app.status = None;
            assert_eq!(ch(&mut app, c), vec![], "{c} in {:?}", app.view);
            assert_eq!(app.mode, Mode::Normal);
            let (level, msg) = status(&app);
            assert_eq!(level, Level::Warn);
            // In the (empty) Outbox, x/y confirm and s discards an entry.
            let expected = if app.view == View::Outbox && matches!(c, 'x' | 'y' | 's') {
                "no outbox entry selected"
            } else {
                "no move selected"
            };
            assert!(msg.contains(expected), "{c}: {msg}");
        }
        key(&mut app, KeyCode::Enter);
        assert_eq!(app.mode, Mode::Normal, "no detail in {:?}", app.view);
        assert!(app.data.moves.iter().all(|m| m.state == MoveState::Open));
        // Global keys still work there.
        assert_eq!(ch(&mut app, 'r'), vec![Effect::Sync]);
        assert_eq!(ch(&mut app, 'q'), vec![Effect::Quit]);
    }
}

// ---------------------------------------------------------------------------------------------
// Sync, help, quit
// ---------------------------------------------------------------------------------------------

#[test]
fn r_asks_for_a_sync_even_with_nothing_to_sync_and_the_runtime_answers() {
    let mut app = demo();
    assert_eq!(ch(&mut app, 'r'), vec![Effect::Sync]);
    assert_eq!(app.sync.running, None, "no account: nothing runs");
    assert_eq!(app.mode, Mode::Normal);
    assert!(!app.quitting);
    app.update(Action::Done(
        "demo data is bundled with casey: there is nothing to sync".into(),
    ));
    assert!(status(&app).1.contains("nothing to sync"));
}

fn connected(every_minutes: Option<i64>) -> App {
    let mut app = app_with(
        Source::Live,
        SafetyMode::DraftOnly,
        Keymap::defaults(),
        snapshot(),
    );
    app.sync.available = true;
    app.sync.every = every_minutes.map(Duration::minutes);
    app
}

#[test]
fn r_starts_one_sync_at_a_time() {
    let mut app = connected(None);
    assert_eq!(ch(&mut app, 'r'), vec![Effect::Sync]);
    assert_eq!(app.sync.running.as_deref(), Some("starting"));
    assert_eq!(app.sync.started_at, Some(now()));
    assert_eq!(ch(&mut app, 'r'), vec![], "not twice at once");
    assert!(status(&app).1.contains("already running"));
    app.update(Action::SyncFinished(Ok("hubspot: 3 fetched".into())));
    assert_eq!(ch(&mut app, 'r'), vec![Effect::Sync], "again once it ended");
}

#[test]
fn background_sync_runs_every_interval_and_never_overlaps() {
    let mut app = connected(Some(10));
    // The first tick of a session syncs at once.
    assert_eq!(app.update(Action::Tick(now())), vec![Effect::Sync]);
    assert_eq!(
        app.update(Action::Tick(now() + Duration::minutes(11))),
        vec![Effect::Reload],
        "still running: no second sync, only the idle re-detection"
    );
    assert_eq!(
        app.update(Action::SyncFinished(Ok(
            "hubspot: 12 fetched, 3 changed, 0 deleted".into()
        ))),
        vec![Effect::Reload, Effect::RunOutbox],
        "new and changed records are detected again, then what waited for the network goes"
    );
    assert_eq!(app.sync.last_ok, Some(now() + Duration::minutes(11)));
    assert_eq!(
        status(&app),
        (Level::Info, "hubspot: 12 fetched, 3 changed, 0 deleted".into())
    );
    // Ten minutes after the last start, not after the last end.
    assert_eq!(app.update(Action::Tick(now() + Duration::minutes(9))), vec![]);
    assert_eq!(
        app.update(Action::Tick(now() + Duration::minutes(20))),
        vec![Effect::Sync]
    );
}

#[test]
fn no_background_sync_without_an_account_or_an_interval() {
    for mut app in [connected(None), {
        let mut a = connected(Some(10));
        a.sync.available = false;
        a
    }] {
        for m in [0, 30, 600] {
            let fx = app.update(Action::Tick(now() + Duration::minutes(m)));
            assert!(!fx.contains(&Effect::Sync), "{fx:?}");
        }
        assert_eq!(app.sync.running, None);
    }
}

#[test]
fn sync_progress_and_failures_reach_the_header_and_the_status_line() {
    let mut app = connected(None);
    app.update(Action::SyncProgress("late message".into()));
    assert_eq!(app.sync.running, None, "progress of no running sync is ignored");
    ch(&mut app, 'r');
    app.update(Action::SyncProgress("hubspot contacts 1200".into()));
    assert_eq!(app.sync.running.as_deref(), Some("hubspot contacts 1200"));
    let why = "HubSpot rejected the token (401): run `casey auth hubspot` or check CASEYOS_HUBSPOT_TOKEN";
    // What landed before the failure (or from the other service) is shown.
    assert_eq!(
        app.update(Action::SyncFinished(Err(why.into()))),
        vec![Effect::Reload]
    );
    assert_eq!(app.sync.running, None);
    assert_eq!(app.sync.failed.as_deref(), Some(why));
    let (level, msg) = status(&app);
    assert_eq!(level, Level::Error);
    assert!(
        msg.starts_with("sync failed: ") && msg.contains("casey auth hubspot"),
        "{msg}"
    );
    // The next good sync clears the failure.
    ch(&mut app, 'r');
    app.update(Action::SyncFinished(Ok("hubspot: 0 fetched".into())));
    assert_eq!(app.sync.failed, None);
    assert!(app.sync.last_ok.is_some());
}

#[test]
fn help_opens_and_closes_and_swallows_other_keys() {
    let mut app = demo();
    assert_eq!(ch(&mut app, '?'), vec![]);
    assert_eq!(app.mode, Mode::Help);
    for k in [
        KeyCode::Char('j'),
        KeyCode::Char('a'),
        KeyCode::Char('x'),
        KeyCode::Char('y'),
        KeyCode::Char('r'),
        KeyCode::Char('u'),
        KeyCode::Char('/'),
        KeyCode::Tab,
        KeyCode::Down,
    ] {
        assert_eq!(key(&mut app, k), vec![], "{k:?}");
        assert_eq!(app.mode, Mode::Help, "{k:?} closed help");
    }
    assert_eq!(ctrl(&mut app, 'c'), vec![]);
    assert!(!app.quitting);
    assert_eq!(app.selected, 0);
    assert_eq!(app.view, View::Moves);
    assert!(app.data.moves.iter().all(|m| m.state == MoveState::Open));
    assert_eq!(key(&mut app, KeyCode::Esc), vec![]);
    assert_eq!(app.mode, Mode::Normal);
    ch(&mut app, '?');
    assert_eq!(app.mode, Mode::Help);
    assert_eq!(ch(&mut app, '?'), vec![]);
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn q_and_ctrl_c_quit() {
    let mut app = demo();
    assert_eq!(ch(&mut app, 'q'), vec![Effect::Quit]);
    assert!(app.quitting);
    let mut app = live(SafetyMode::Send);
    assert_eq!(ch(&mut app, 'c'), vec![], "plain c is not bound");
    assert!(!app.quitting);
    assert_eq!(ctrl(&mut app, 'c'), vec![Effect::Quit]);
    assert!(app.quitting);
}

// ---------------------------------------------------------------------------------------------
// Non-key actions
// ---------------------------------------------------------------------------------------------

#[test]
fn loaded_keeps_the_selection_on_the_same_move() {
    let mut app = demo();
    select(&mut app, K_TASK);
    let mut snap = snapshot();
    snap.moves.reverse();
    snap.moves.retain(|m| m.key != K_REPLY);
    assert_eq!(app.update(Action::Loaded(Box::new(snap))), vec![]);
    assert_eq!(app.rows().len(), 7);
    assert_eq!(selected_key(&app).as_deref(), Some(K_TASK));
    assert_visible(&app);
}

#[test]
fn loaded_keeps_the_selection_on_a_small_screen() {
    let mut app = demo();
    app.update(Action::Resize(120, 10));
    ch(&mut app, 'g');
    let first = selected_key(&app).unwrap();
    let mut snap = snapshot();
    snap.moves.reverse();
    app.update(Action::Loaded(Box::new(snap)));
    assert_eq!(selected_key(&app), Some(first));
    assert_eq!(app.selected, 7);
    assert_visible(&app);
}

#[test]
fn loaded_without_the_selected_move_clamps_the_selection() {
    let mut app = demo();
    ch(&mut app, 'G');
    let gone = selected_key(&app).unwrap();
    let mut snap = snapshot();
    snap.moves.retain(|m| m.key != gone);
    snap.moves.truncate(3);
    app.update(Action::Loaded(Box::new(snap)));
    assert_eq!(app.rows().len(), 3);
    assert_eq!(app.selected, 2);
    assert_visible(&app);
    // An empty reload is fine too.
    app.update(Action::Loaded(Box::default()));
    assert_eq!(app.selected, 0);
    assert_eq!(app.selected_move(), None);
    assert_eq!(ch(&mut app, 'a'), vec![]);
}

#[test]
fn loaded_state_from_the_store_replaces_the_optimistic_one() {
    let mut app = demo();
    select(&mut app, K_STAGE);
    ch(&mut app, 'a');
    let mut snap = snapshot();
    for m in &mut snap.moves {
        if m.key == K_STAGE {
            m.state = MoveState::Accepted;
        }
    }
    app.update(Action::Loaded(Box::new(snap)));
    assert_eq!(state_of(&app, K_STAGE), MoveState::Accepted);
    assert_eq!(selected_key(&app).as_deref(), Some(K_STAGE));
}

#[test]
fn failed_done_and_tick() {
    let mut app = demo();
    assert_eq!(app.update(Action::Failed("gmail: 503".into())), vec![]);
    assert_eq!(app.status, Some((Level::Error, "gmail: 503".into())));
    assert_eq!(app.update(Action::Done("synced 3 threads".into())), vec![]);
    assert_eq!(app.status, Some((Level::Info, "synced 3 threads".into())));
    let t = now() + Duration::seconds(59);
    assert_eq!(app.update(Action::Tick(t)), vec![]);
    assert_eq!(app.now, t);
    assert_eq!(app.rows().len(), 8);
    assert_eq!(app.mode, Mode::Normal);
}

// ---------------------------------------------------------------------------------------------
// Key map
// ---------------------------------------------------------------------------------------------

fn rebound(action: &str, keys: &[&str]) -> Keymap {
    let mut map: BTreeMap<String, Vec<String>> = Config::default().keys;
    map.insert(action.into(), keys.iter().map(|k| k.to_string()).collect());
    Keymap::from_config(&map).unwrap()
}

#[test]
fn a_rebound_accept_key_replaces_the_default() {
    let mut app = app_with(
        Source::Demo,
        SafetyMode::DraftOnly,
        rebound("accept", &["A"]),
        snapshot(),
    );
    let first = selected_key(&app).unwrap();
    assert_eq!(ch(&mut app, 'a'), vec![], "plain a is no longer bound");
    assert_eq!(app.status, None);
    assert_eq!(state_of(&app, &first), MoveState::Open);
    assert_eq!(
        app.update(Action::Key(KeyEvent::new(
            KeyCode::Char('A'),
            KeyModifiers::SHIFT
        ))),
        vec![Effect::Decide {
            key: first.clone(),
            state: MoveState::Accepted
        }]
    );
    assert_eq!(state_of(&app, &first), MoveState::Accepted);
    // Other bindings are untouched.
    assert_eq!(ch(&mut app, 'r'), vec![Effect::Sync]);
}

#[test]
fn rebound_keys_work_inside_the_detail_view() {
    let keymap = rebound("down", &["n"]);
    let mut app = app_with(Source::Live, SafetyMode::DraftOnly, keymap, snapshot());
    ch(&mut app, 'j');
    assert_eq!(app.selected, 0, "j is unbound");
    ch(&mut app, 'n');
    assert_eq!(app.selected, 1);
    key(&mut app, KeyCode::Enter);
    ch(&mut app, 'n');
    ch(&mut app, 'j');
    assert_eq!(app.detail_scroll, 1);
}

#[test]
fn a_conflicting_rebinding_is_rejected() {
    let mut map: BTreeMap<String, Vec<String>> = Config::default().keys;
    map.insert("accept".into(), vec!["x".into()]);
    let (action, problem) = Keymap::from_config(&map).unwrap_err();
    assert!(action == "accept" || action == "execute", "{action}");
    assert!(problem.contains("already bound"), "{problem}");
}

#[test]
fn a_rebound_detail_key_also_closes_the_detail() {
    let mut app = app_with(
        Source::Demo,
        SafetyMode::DraftOnly,
        rebound("detail", &["o"]),
        snapshot(),
    );
    ch(&mut app, 'o');
    assert_eq!(app.mode, Mode::Detail);
    ch(&mut app, 'o');
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn ticks_ask_for_a_reload_once_a_minute_whatever_the_keys_do() {
    let mut app = demo();
    let start = app.now;
    assert!(app.update(Action::Tick(start + Duration::seconds(30))).is_empty());
    assert_eq!(
        app.update(Action::Tick(start + Duration::seconds(61))),
        vec![Effect::Reload]
    );
    assert!(
        app.update(Action::Tick(start + Duration::seconds(90))).is_empty(),
        "not again right away"
    );
    // Keys and their reads meanwhile do not put it off: ages move on and snoozes wake while
    // the operator works through the list.
    ch(&mut app, 'j');
    app.update(Action::Loaded(Box::new(snapshot())));
    assert_eq!(
        app.update(Action::Tick(start + Duration::seconds(125))),
        vec![Effect::Reload]
    );
}

// ---------------------------------------------------------------------------------------------
// Outbox: background runs, the send countdown, the Outbox view's keys
// ---------------------------------------------------------------------------------------------

/// An outbox entry as the mirror would hold it (newest entries get higher ids).
fn entry(id: i64, move_key: &str, action: &str, state: &str) -> OutboxEntry {
    OutboxEntry {
        id,
        idempotency_key: format!("{move_key}|{action}|{id}"),
        move_key: Some(move_key.into()),
        action: action.into(),
        payload: "{}".into(),
        state: state.into(),
        created_at: now(),
        updated_at: now(),
        ..OutboxEntry::default()
    }
}

/// The send of `move_key` to `to`, queued at `now()` with a ten-second undo window.
fn send(id: i64, move_key: &str, to: &str, state: &str) -> OutboxEntry {
    OutboxEntry {
        payload: serde_json::json!({ "to": [to], "draft_id": "dr1", "thread_id": "t2" }).to_string(),
        not_before: Some(now() + Duration::seconds(10)),
        ..entry(id, move_key, SEND_ACTION, state)
    }
}

/// The mirror as the runtime reloads it after an effect: the moves as they are, this outbox.
fn reload(app: &mut App, outbox: Vec<OutboxEntry>) {
    let mut snap = snapshot();
    for m in &mut snap.moves {
        if let Some(now) = app.data.moves.iter().find(|n| n.key == m.key) {
            m.state = now.state.clone();
        }
    }
    snap.outbox = outbox;
    assert_eq!(app.update(Action::Loaded(Box::new(snap))), vec![]);
}

fn connected_live(safety: SafetyMode) -> App {
    let mut app = live(safety);
    app.sync.available = true;
    app
}

fn tick(app: &mut App, secs: i64) -> Vec<Effect> {
    app.update(Action::Tick(now() + Duration::seconds(secs)))
}

#[test]
fn execute_live_with_an_account_starts_one_outbox_run() {
    let mut app = connected_live(SafetyMode::DraftOnly);
    select(&mut app, K_REPLY_DRAFT);
    assert_eq!(
        ch(&mut app, 'x'),
        vec![
            Effect::Execute {
                key: K_REPLY_DRAFT.into(),
                approve: false
            },
            Effect::RunOutbox
        ]
    );
    assert!(app.outbox_running);
    select(&mut app, K_TASK);
    assert_eq!(
        ch(&mut app, 'x'),
        vec![Effect::Execute {
            key: K_TASK.into(),
            approve: false
        }],
        "a run is under way: it takes the new entry, or the next tick does"
    );
    assert_eq!(
        app.update(Action::OutboxFinished(Ok("2 done".into()))),
        vec![Effect::Reload]
    );
    assert!(!app.outbox_running);
    assert_eq!(status(&app), (Level::Info, "outbox: 2 done".into()));
}

#[test]
fn execute_without_an_account_or_in_the_demo_runs_nothing() {
    for mut app in [live(SafetyMode::Send), demo()] {
        select(&mut app, K_TASK);
        assert_eq!(
            ch(&mut app, 'x'),
            vec![Effect::Execute {
                key: K_TASK.into(),
                approve: false
            }]
        );
        assert!(!app.outbox_running);
    }
}

#[test]
fn an_outbox_run_that_did_nothing_keeps_the_status_and_a_failed_one_says_why() {
    let mut app = connected_live(SafetyMode::DraftOnly);
    app.status = Some((Level::Info, "accepted".into()));
    app.outbox_running = true;
    assert_eq!(
        app.update(Action::OutboxFinished(Ok(String::new()))),
        vec![Effect::Reload]
    );
    assert_eq!(status(&app), (Level::Info, "accepted".into()));
    app.outbox_running = true;
    assert_eq!(
        app.update(Action::OutboxFinished(Err("the mirror is locked".into()))),
        vec![Effect::Reload]
    );
    assert!(!app.outbox_running);
    assert_eq!(
        status(&app),
        (Level::Error, "outbox: the mirror is locked".into())
    );
}

#[test]
fn ticks_run_the_outbox_only_when_an_entry_is_due() {
    let mut app = connected_live(SafetyMode::Send);
    let mut waiting = entry(3, K_TASK, "hubspot.task.complete", "queued");
    waiting.error = Some("HubSpot is not reachable".into());
    waiting.next_attempt_at = Some(now() + Duration::seconds(30));
    let mut demo_entry = entry(2, K_STALE, "hubspot.task.create", "queued");
    demo_entry.demo = true;
    let parked = entry(1, K_CLOSING, "hubspot.deal.stage", "parked");
    reload(
        &mut app,
        vec![
            send(4, K_REPLY_DRAFT, "cara@initech.test", "queued"),
            waiting,
            demo_entry,
            parked,
        ],
    );
    assert_eq!(tick(&mut app, 5), vec![], "the send is in its undo window");
    assert_eq!(tick(&mut app, 10), vec![Effect::RunOutbox], "the send is due");
    assert_eq!(tick(&mut app, 11), vec![], "one run at a time");
    app.update(Action::OutboxFinished(Ok("1 sent".into())));
    // The reload after the run: the send went out; the waiting entry is due at +30 s.
    let mut rest = app.data.outbox.clone();
    rest[0].state = "done".into();
    reload(&mut app, rest);
    assert_eq!(tick(&mut app, 29), vec![]);
    assert_eq!(tick(&mut app, 30), vec![Effect::RunOutbox]);
    // Without an account, or in the demo, ticks never run it.
    for mut other in [live(SafetyMode::Send), demo()] {
        other.data.outbox = app.data.outbox.clone();
        assert_eq!(tick(&mut other, 40), vec![]);
    }
}

#[test]
fn a_send_counts_down_its_undo_window_and_u_cancels_it() {
    let mut app = connected_live(SafetyMode::Send);
    select(&mut app, K_REPLY_DRAFT);
    assert_eq!(
        ch(&mut app, 'y'),
        vec![
            Effect::Execute {
                key: K_REPLY_DRAFT.into(),
                approve: true
            },
            Effect::RunOutbox
        ]
    );
    app.update(Action::OutboxFinished(Ok(String::new())));
    reload(
        &mut app,
        vec![send(1, K_REPLY_DRAFT, "cara@initech.test", "queued")],
    );
    assert_eq!(
        status(&app),
        (
            Level::Info,
            "sending to cara@initech.test in 10 s · u cancels".into()
        )
    );
    tick(&mut app, 3);
    assert_eq!(status(&app).1, "sending to cara@initech.test in 7 s · u cancels");
    assert_eq!(
        ch(&mut app, 'u'),
        vec![Effect::Undo {
            key: K_REPLY_DRAFT.into()
        }]
    );
    assert_eq!(
        status(&app),
        (Level::Info, "send cancelled · nothing was sent".into())
    );
    assert_eq!(state_of(&app, K_REPLY_DRAFT), MoveState::Open);
    // The countdown stops at once, before the reload shows the entry cancelled.
    tick(&mut app, 4);
    assert_eq!(status(&app).1, "send cancelled · nothing was sent");
    let mut cancelled = send(1, K_REPLY_DRAFT, "cara@initech.test", "cancelled");
    cancelled.updated_at = now() + Duration::seconds(4);
    reload(&mut app, vec![cancelled]);
    assert_eq!(status(&app).1, "send cancelled · nothing was sent");
}

#[test]
fn after_the_undo_window_u_is_too_late_and_the_move_stays_done() {
    let mut app = connected_live(SafetyMode::Send);
    select(&mut app, K_STALE);
    ch(&mut app, 'a');
    select(&mut app, K_REPLY_DRAFT);
    ch(&mut app, 'x');
    app.update(Action::OutboxFinished(Ok(String::new())));
    reload(
        &mut app,
        vec![send(1, K_REPLY_DRAFT, "cara@initech.test", "queued")],
    );
    assert_eq!(tick(&mut app, 10), vec![Effect::RunOutbox]);
    assert_eq!(status(&app), (Level::Info, "sending…".into()));
    reload(
        &mut app,
        vec![send(1, K_REPLY_DRAFT, "cara@initech.test", "running")],
    );
    assert_eq!(ch(&mut app, 'u'), vec![]);
    assert_eq!(
        status(&app),
        (
            Level::Warn,
            "too late to cancel: the email is being sent · nothing was undone".into()
        )
    );
    assert_eq!(state_of(&app, K_REPLY_DRAFT), MoveState::Done);
    app.update(Action::OutboxFinished(Ok("1 sent".into())));
    reload(
        &mut app,
        vec![send(1, K_REPLY_DRAFT, "cara@initech.test", "done")],
    );
    assert_eq!(status(&app), (Level::Info, "sent to cara@initech.test".into()));
    // The send is off the undo stack: the next u takes back the decision before it.
    assert_eq!(ch(&mut app, 'u'), vec![Effect::Undo { key: K_STALE.into() }]);
}

#[test]
fn u_after_the_send_went_out_says_it_was_sent() {
    let mut app = connected_live(SafetyMode::Send);
    select(&mut app, K_REPLY_DRAFT);
    ch(&mut app, 'y');
    reload(
        &mut app,
        vec![send(1, K_REPLY_DRAFT, "cara@initech.test", "done")],
    );
    tick(&mut app, 12);
    assert_eq!(ch(&mut app, 'u'), vec![]);
    assert_eq!(
        status(&app),
        (
            Level::Warn,
            "too late to cancel: the email was sent · nothing was undone".into()
        )
    );
}

#[test]
fn an_offline_send_past_its_window_says_it_waits_and_u_points_to_the_outbox() {
    let mut app = connected_live(SafetyMode::Send);
    select(&mut app, K_REPLY_DRAFT);
    ch(&mut app, 'y');
    let mut waiting = send(1, K_REPLY_DRAFT, "cara@initech.test", "queued");
    waiting.error = Some("Gmail is not reachable (network)\u{1b}[2J".into());
    waiting.attempts = 1;
    waiting.next_attempt_at = Some(now() + Duration::seconds(15));
    app.update(Action::Tick(now() + Duration::seconds(10)));
    reload(&mut app, vec![waiting]);
    let (level, msg) = status(&app);
    assert_eq!(level, Level::Warn);
    assert!(
        msg.starts_with("send to cara@initech.test waits: Gmail is not reachable (network)"),
        "{msg}"
    );
    assert!(!msg.contains('\u{1b}'), "the error is sanitized: {msg:?}");
    assert_eq!(ch(&mut app, 'u'), vec![]);
    assert!(status(&app).1.contains("the Outbox view can still discard it"));
}

#[test]
fn a_parked_send_says_it_is_held() {
    let mut app = connected_live(SafetyMode::Send);
    select(&mut app, K_REPLY_DRAFT);
    ch(&mut app, 'y');
    let mut parked = send(1, K_REPLY_DRAFT, "cara@initech.test", "parked");
    parked.error = Some("Cara replied after you approved the draft".into());
    tick(&mut app, 10);
    reload(&mut app, vec![parked]);
    let (level, msg) = status(&app);
    assert_eq!(level, Level::Warn);
    assert!(
        msg.contains("held: Cara replied after you approved the draft"),
        "{msg}"
    );
    // A parked send sent nothing: u takes the approval back (and cancels the entry).
    assert_eq!(
        ch(&mut app, 'u'),
        vec![Effect::Undo {
            key: K_REPLY_DRAFT.into()
        }]
    );
}

#[test]
fn draft_only_mode_has_no_countdown() {
    let mut app = connected_live(SafetyMode::DraftOnly);
    select(&mut app, K_REPLY_DRAFT);
    ch(&mut app, 'y');
    let before = status(&app);
    reload(
        &mut app,
        vec![entry(1, K_REPLY_DRAFT, "gmail.draft.push", "queued")],
    );
    tick(&mut app, 3);
    assert_eq!(status(&app), before);
}

#[test]
fn a_refused_execute_drops_its_undo_entry_and_says_why() {
    let mut app = connected_live(SafetyMode::Send);
    select(&mut app, K_STAGE);
    ch(&mut app, 'a');
    select(&mut app, K_REPLY_DRAFT);
    ch(&mut app, 'y');
    assert_eq!(
        app.update(Action::ExecuteFailed {
            key: K_REPLY_DRAFT.into(),
            reason: "stale draft: Cara wrote again after this draft".into(),
            refusal: true,
        }),
        vec![]
    );
    assert_eq!(
        status(&app),
        (
            Level::Warn,
            "not executed: stale draft: Cara wrote again after this draft".into()
        )
    );
    // The reload shows the move open again; no countdown for a send that was never queued.
    reload(&mut app, vec![]);
    tick(&mut app, 3);
    assert!(status(&app).1.starts_with("not executed"));
    assert_eq!(
        ch(&mut app, 'u'),
        vec![Effect::Undo { key: K_STAGE.into() }],
        "u takes back the decision before the refused one"
    );
    assert_eq!(ch(&mut app, 'u'), vec![]);
    assert!(status(&app).1.contains("nothing to undo"));
}

#[test]
fn a_failed_execute_is_an_error() {
    let mut app = live(SafetyMode::DraftOnly);
    select(&mut app, K_TASK);
    ch(&mut app, 'x');
    app.update(Action::ExecuteFailed {
        key: K_TASK.into(),
        reason: "database is locked".into(),
        refusal: false,
    });
    assert_eq!(
        status(&app),
        (Level::Error, "not executed: database is locked".into())
    );
    assert_eq!(ch(&mut app, 'u'), vec![]);
}

/// The Outbox view over one entry in each state, newest first.
fn outbox_app() -> App {
    let mut app = connected_live(SafetyMode::Send);
    let mut parked = send(8, K_REPLY_DRAFT, "cara@initech.test", "parked");
    parked.error = Some("Cara replied after you approved the draft".into());
    let mut failed = entry(7, K_TASK, "hubspot.task.complete", "failed");
    failed.error = Some("HubSpot refused: task not found".into());
    let mut demo_done = entry(2, K_STALE, "hubspot.task.create", "done");
    demo_done.demo = true;
    let outbox = vec![
        parked,
        failed,
        entry(6, K_FOLLOW_UP, "gmail.draft.create", "queued"),
        entry(5, K_CLOSING, "hubspot.task.create", "running"),
        entry(4, K_STAGE, "hubspot.task.create", "uncertain"),
        entry(3, K_REPLY, "gmail.draft.create", "done"),
        demo_done,
        entry(1, K_DRAFT, "gmail.draft.push", "cancelled"),
    ];
    reload(&mut app, outbox);
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.view, View::Outbox);
    app
}

fn selected_id(app: &App) -> i64 {
    app.selected_entry().expect("an entry is selected").id
}

#[test]
fn j_k_g_select_outbox_entries() {
    let mut app = outbox_app();
    assert_eq!(selected_id(&app), 8);
    ch(&mut app, 'j');
    assert_eq!(selected_id(&app), 7);
    ch(&mut app, 'G');
    assert_eq!(selected_id(&app), 1);
    ch(&mut app, 'j');
    assert_eq!(selected_id(&app), 1, "no wrap");
    ch(&mut app, 'k');
    assert_eq!(selected_id(&app), 2);
    ch(&mut app, 'g');
    assert_eq!(selected_id(&app), 8);
    assert_eq!(app.selected_move(), None);
    key(&mut app, KeyCode::Enter);
    assert_eq!(
        app.mode,
        Mode::Normal,
        "entries have their detail on screen already"
    );
    // A small screen pages the entries like the move list.
    app.update(Action::Resize(120, 10));
    ch(&mut app, 'G');
    assert!(app.offset > 0 && app.offset <= app.selected);
    assert!(app.selected < app.offset + app.list_rows());
}

#[test]
fn a_reload_keeps_the_selected_entry() {
    let mut app = outbox_app();
    ch(&mut app, 'j');
    ch(&mut app, 'j');
    assert_eq!(selected_id(&app), 6);
    let mut outbox = app.data.outbox.clone();
    outbox.insert(0, entry(9, K_TASK, "hubspot.task.create", "queued"));
    reload(&mut app, outbox);
    assert_eq!(selected_id(&app), 6);
    assert_eq!(app.selected, 3);
    // Fewer entries: the selection is clamped.
    reload(&mut app, vec![entry(1, K_DRAFT, "gmail.draft.push", "done")]);
    assert_eq!(selected_id(&app), 1);
}

#[test]
fn x_or_y_confirm_a_parked_or_failed_entry_again() {
    let mut app = outbox_app();
    let parked = app.selected_entry().unwrap().idempotency_key.clone();
    assert_eq!(
        ch(&mut app, 'x'),
        vec![
            Effect::RetryJob {
                idempotency_key: parked
            },
            Effect::RunOutbox
        ]
    );
    assert_eq!(
        status(&app),
        (
            Level::Info,
            "confirmed again · it goes out with the next outbox run".into()
        )
    );
    ch(&mut app, 'j');
    let failed = app.selected_entry().unwrap().idempotency_key.clone();
    assert_eq!(
        ch(&mut app, 'y'),
        vec![Effect::RetryJob {
            idempotency_key: failed
        }],
        "a run is already under way"
    );
    for (down, state) in [
        (1, "queued"),
        (1, "running"),
        (1, "uncertain"),
        (1, "done"),
        (2, "cancelled"),
    ] {
        for _ in 0..down {
            ch(&mut app, 'j');
        }
        assert_eq!(app.selected_entry().unwrap().state, state);
        assert_eq!(ch(&mut app, 'x'), vec![], "{state}");
        assert_eq!(
            status(&app),
            (
                Level::Warn,
                format!("only parked or failed entries can be retried (this one is {state})")
            )
        );
    }
}

#[test]
fn s_discards_a_queued_or_parked_entry_and_refuses_the_rest() {
    let mut app = outbox_app();
    let expect = [
        (8, Ok(())),
        (
            7,
            Err("only waiting or parked entries can be discarded (this one is failed)"),
        ),
        (6, Ok(())),
        (5, Err("a running entry cannot be discarded")),
        (
            4,
            Err("an entry being checked cannot be discarded: it may already have happened"),
        ),
        (
            3,
            Err("only waiting or parked entries can be discarded (this one is done)"),
        ),
        (
            2,
            Err("DEMO entries were simulated: there is nothing to confirm or discard"),
        ),
        (
            1,
            Err("only waiting or parked entries can be discarded (this one is cancelled)"),
        ),
    ];
    for (id, outcome) in expect {
        assert_eq!(selected_id(&app), id);
        let key = app.selected_entry().unwrap().idempotency_key.clone();
        let effects = ch(&mut app, 's');
        match outcome {
            Ok(()) => {
                assert_eq!(effects, vec![Effect::DiscardJob { idempotency_key: key }]);
                assert_eq!(status(&app), (Level::Info, "discarded · it will not run".into()));
            }
            Err(why) => {
                assert_eq!(effects, vec![], "{id}");
                assert_eq!(status(&app), (Level::Warn, why.into()), "{id}");
            }
        }
        assert_eq!(app.mode, Mode::Normal, "s never asks for a skip reason here");
        ch(&mut app, 'j');
    }
    // The demo entry cannot be confirmed again either.
    ch(&mut app, 'k');
    assert_eq!(selected_id(&app), 2);
    assert_eq!(ch(&mut app, 'x'), vec![]);
    assert!(status(&app).1.contains("DEMO"));
}

#[test]
fn the_header_counts_entries_waiting_offline_and_to_confirm() {
    let mut app = outbox_app();
    assert_eq!(app.outbox_attention(), (0, 1));
    let mut outbox = app.data.outbox.clone();
    for e in &mut outbox {
        if matches!(e.state.as_str(), "queued" | "uncertain") {
            e.error = Some("offline".into());
        }
    }
    reload(&mut app, outbox);
    assert_eq!(app.outbox_attention(), (2, 1));
    reload(&mut app, vec![]);
    assert_eq!(app.outbox_attention(), (0, 0));
}

#[test]
fn s_in_the_drafts_view_discards_the_draft_and_u_takes_it_back() {
    let mut app = demo();
    key(&mut app, KeyCode::Tab);
    select(&mut app, K_DRAFT);
    assert_eq!(
        ch(&mut app, 's'),
        vec![Effect::DiscardDraft { key: K_DRAFT.into() }]
    );
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(
        state_of(&app, K_DRAFT),
        MoveState::Skipped {
            reason: Some("draft discarded".into())
        }
    );
    assert!(!row_keys(&app).contains(&K_DRAFT.to_string()));
    assert_eq!(status(&app), (Level::Info, "draft discarded · u to undo".into()));
    assert_eq!(ch(&mut app, 'u'), vec![Effect::Undo { key: K_DRAFT.into() }]);
    assert_eq!(state_of(&app, K_DRAFT), MoveState::Open);
    // In the Moves view s still asks for a skip reason.
    key(&mut app, KeyCode::BackTab);
    select(&mut app, K_DRAFT);
    assert_eq!(ch(&mut app, 's'), vec![]);
    assert!(matches!(app.mode, Mode::SkipReason { .. }));
}

#[test]
fn s_on_a_draft_only_on_this_machine_drops_it_without_an_undo_entry() {
    let mut app = demo();
    key(&mut app, KeyCode::Tab);
    select(&mut app, K_DRAFT);
    let m = app.data.moves.iter_mut().find(|m| m.key == K_DRAFT).unwrap();
    m.subject.draft_id = Some("local-0123456789abcdef".into());
    assert_eq!(
        ch(&mut app, 's'),
        vec![Effect::DiscardDraft { key: K_DRAFT.into() }]
    );
    assert_eq!(
        state_of(&app, K_DRAFT),
        MoveState::Open,
        "the move stays; x writes a new draft"
    );
    assert_eq!(ch(&mut app, 'u'), vec![], "nothing to take back");
    assert_eq!(status(&app).0, Level::Warn);
}

// ----- reading the mirror by need (a big mirror: issue 13) -----

#[test]
fn the_selected_moves_context_is_asked_for_once_with_the_next_few() {
    let mut app = demo();
    // The first frame's read brought no context for the selected move: asked for with the
    // moves after it, once.
    ch(&mut app, 'j');
    let keys = app.contexts_wanted().expect("the selected move's context");
    assert_eq!(
        keys.first(),
        selected_key(&app).as_ref(),
        "the selected move first"
    );
    let rows = row_keys(&app);
    assert_eq!(
        keys[..],
        rows[1..rows.len().min(1 + 11)],
        "and the next ones on the list"
    );
    assert_eq!(app.contexts_wanted(), None, "asked for once");
    ch(&mut app, 'k');
    let above = app.contexts_wanted().expect("the move above, not asked for yet");
    assert_eq!(above, vec![rows[0].clone()]);
    // When they arrive, moving onto a move that has one asks for nothing.
    let found = keys
        .iter()
        .chain(&above)
        .map(|k| (k.clone(), Default::default()))
        .collect();
    app.update(Action::Contexts(found));
    ch(&mut app, 'j');
    assert_eq!(app.contexts_wanted(), None);
}

#[test]
fn scrolling_near_the_end_of_the_window_reads_more_of_the_ranking() {
    let mut snap = snapshot();
    let loaded = snap.moves.len();
    snap.ranked = Some(caseyos::store::RankedCounts {
        total: loaded + 5_000,
        actionable: loaded + 4_000,
        open: loaded + 4_000,
        accepted: 0,
        drafts: 0,
    });
    let mut app = app_with(Source::Demo, SafetyMode::DraftOnly, Keymap::defaults(), snap);
    assert_eq!(app.wants().window, caseyos::tui::app::WINDOW);
    let effects = ch(&mut app, 'G');
    assert!(effects.contains(&Effect::Refresh), "{effects:?}");
    assert_eq!(app.wants().window, 2 * caseyos::tui::app::WINDOW);

    // Everything loaded: the end of the list is the end.
    let mut small = demo();
    assert!(!ch(&mut small, 'G').contains(&Effect::Refresh));
    assert_eq!(small.wants().window, caseyos::tui::app::WINDOW);
}

#[test]
fn stats_are_counted_off_the_screen_when_their_view_is_shown_and_kept_across_reads() {
    let mut app = demo();
    let mut effects = Vec::new();
    while app.view != View::Stats {
        effects = key(&mut app, KeyCode::Tab);
    }
    assert_eq!(effects, vec![Effect::LoadStats]);
    assert!(app.stats_loading);

    // A read of the ranking meanwhile (a key, a background pass) changes what they count:
    // once they arrive they are counted again, never twice at once.
    let mut without = snapshot();
    without.counts.outbox_pending = 2;
    assert_eq!(app.update(Action::Loaded(Box::new(without))), vec![]);
    let mut first = caseyos::stats::Stats::default();
    first.totals.generated = 7;
    assert_eq!(
        app.update(Action::StatsLoaded(Ok(Box::new(first)))),
        vec![Effect::LoadStats]
    );
    assert_eq!(
        app.data.stats.totals.generated, 7,
        "shown while the next count runs"
    );
    let mut second = caseyos::stats::Stats::default();
    second.totals.generated = 8;
    assert_eq!(app.update(Action::StatsLoaded(Ok(Box::new(second)))), vec![]);
    assert!(!app.stats_loading);
    assert_eq!(app.data.stats.totals.generated, 8);

    // Reads of the ranking bring no Stats: the counted ones stay, the mirror's counts too.
    let mut with_counts = snapshot();
    with_counts.counts_read = true;
    with_counts.counts.contacts = 58;
    assert_eq!(
        app.update(Action::Loaded(Box::new(with_counts))),
        vec![Effect::LoadStats]
    );
    let mut without = snapshot();
    without.counts.outbox_pending = 3;
    app.update(Action::Loaded(Box::new(without)));
    assert_eq!(app.data.stats.totals.generated, 8);
    assert_eq!(app.data.counts.contacts, 58, "the mirror's counts are kept");
    assert_eq!(
        app.data.counts.outbox_pending, 3,
        "the outbox count is always fresh"
    );

    // A failure is said; the next visit counts again.
    app.update(Action::StatsLoaded(Err("disk I/O error".into())));
    assert!(
        app.status
            .as_ref()
            .is_some_and(|(_, m)| m.contains("counting the Stats failed: disk I/O error")),
        "{:?}",
        app.status
    );
    key(&mut app, KeyCode::Tab);
    assert_eq!(key(&mut app, KeyCode::BackTab), vec![Effect::LoadStats]);

    // Elsewhere, reads never ask for them.
    app.update(Action::StatsLoaded(Ok(Box::default())));
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.view, View::Moves);
    assert_eq!(app.update(Action::Loaded(Box::new(snapshot()))), vec![]);
}
