//! Every screen as text (ratatui `TestBackend` + insta), on the demo data at its anchor time,
//! and the hostile demo records rendered without anything a terminal would interpret.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use caseyos::Clock;
use caseyos::config::{Config, SafetyMode};
use caseyos::domain::text::is_terminal_safe;
use caseyos::store::Store;
use caseyos::sync::demo;
use caseyos::tui::app::{Action, App, Snapshot, Source};
use caseyos::tui::keymap::Keymap;
use caseyos::tui::runtime::snapshot;
use caseyos::tui::theme::Theme;
use caseyos::tui::view;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const W: u16 = 120;
const H: u16 = 40;

fn demo_store() -> (Store, Config, Clock) {
    let mut store = Store::open_in_memory().unwrap();
    let now = demo::anchor();
    demo::load(&mut store, now).unwrap();
    (store, Config::default(), Clock::Fixed(now))
}

fn app_over(snapshot: Snapshot, source: Source) -> App {
    let config = Config::default();
    let mut app = App::new(
        demo::anchor(),
        source,
        SafetyMode::DraftOnly,
        Keymap::defaults(),
        config.aps,
        snapshot,
    );
    app.update(Action::Resize(W, H));
    app
}

fn demo_app() -> App {
    let (mut store, config, clock) = demo_store();
    app_over(snapshot(&mut store, &config, &clock).unwrap(), Source::Demo)
}

fn press(app: &mut App, code: KeyCode) {
    app.update(Action::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

fn render_lines(app: &App, w: u16, h: u16) -> Vec<String> {
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
        .collect()
}

fn render(app: &App) -> String {
    render_lines(app, W, H).join("\n")
}

/// Every cell of the screen is free of control and bidi characters.
fn assert_screen_safe(app: &App, w: u16, h: u16) {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| view::draw(f, app, &Theme::mono())).unwrap();
    for cell in terminal.backend().buffer().content() {
        assert!(is_terminal_safe(cell.symbol()), "unsafe cell {:?}", cell.symbol());
        assert!(!cell.symbol().contains('\n'));
    }
}

#[test]
fn main_screen() {
    insta::assert_snapshot!("main_screen", render(&demo_app()));
}

#[test]
fn detail_view() {
    let mut app = demo_app();
    press(&mut app, KeyCode::Enter);
    insta::assert_snapshot!("detail_view", render(&app));
}

#[test]
fn help_overlay() {
    let mut app = demo_app();
    press(&mut app, KeyCode::Char('?'));
    insta::assert_snapshot!("help_overlay", render(&app));
}

#[test]
fn onboarding_when_nothing_is_mirrored() {
    let store = Store::open_in_memory().unwrap();
    let mut store = store;
    let snap = snapshot(&mut store, &Config::default(), &Clock::Fixed(demo::anchor())).unwrap();
    insta::assert_snapshot!("onboarding", render(&app_over(snap, Source::Live)));
}

#[test]
fn all_clear_when_every_move_is_decided() {
    let mut app = demo_app();
    for m in &mut app.data.moves {
        m.state = caseyos::domain::MoveState::Done;
    }
    app.update(Action::Resize(W, H));
    insta::assert_snapshot!("all_clear", render(&app));
}

#[test]
fn drafts_view() {
    let mut app = demo_app();
    press(&mut app, KeyCode::Tab);
    insta::assert_snapshot!("drafts_view", render(&app));
}

#[test]
fn outbox_view_after_simulated_executions() {
    let (mut store, config, clock) = demo_store();
    let moves = caseyos::today::moves(&store, &config, clock.now()).unwrap();
    for m in moves.iter().take(3) {
        caseyos::actions::execute(&store, &config, m, true, clock.now()).unwrap();
        // A reply move first gets a draft from its template; executing again approves it.
        let again = caseyos::today::moves(&store, &config, clock.now()).unwrap();
        if let Some(m) = again.iter().find(|a| a.key == m.key && a.state.is_actionable()) {
            caseyos::actions::execute(&store, &config, m, true, clock.now()).unwrap();
        }
    }
    let mut app = app_over(snapshot(&mut store, &config, &clock).unwrap(), Source::Demo);
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    insta::assert_snapshot!("outbox_view", render(&app));
}

#[test]
fn empty_outbox_view() {
    let mut app = demo_app();
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    insta::assert_snapshot!("outbox_empty", render(&app));
}

#[test]
fn stats_view() {
    let mut app = demo_app();
    let counted = app.data.stats.clone();
    press(&mut app, KeyCode::BackTab);
    // Arriving asks for them; the runtime counts them off the screen.
    app.update(Action::StatsLoaded(Ok(Box::new(counted))));
    insta::assert_snapshot!("stats_view", render(&app));
}

#[test]
fn prompts_filter_skip_snooze() {
    let mut app = demo_app();
    press(&mut app, KeyCode::Char('/'));
    for c in "deal".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    insta::assert_snapshot!("filter_prompt", render(&app));
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Char('s'));
    for c in "later".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    let skip = render_lines(&app, W, H);
    assert!(
        skip[H as usize - 2].contains("skip — reason (optional)") && skip[H as usize - 2].contains("later")
    );
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('z'));
    let snooze = render_lines(&app, W, H);
    assert!(
        snooze[H as usize - 2].contains("1 = 1 day"),
        "{}",
        snooze[H as usize - 2]
    );
}

#[test]
fn a_narrow_header_drops_whole_items_never_half_words() {
    let app = demo_app();
    let header = &render_lines(&app, 80, 24)[0];
    assert!(
        header.contains("44 open") && header.contains("draft-only"),
        "{header}"
    );
    assert!(
        header.ends_with("outbox 0"),
        "the last item that fits is whole: {header:?}"
    );
    assert!(
        !header.contains("contacts"),
        "lower-priority counts are left out at 80 columns"
    );
    let wide = &render_lines(&app, 160, 24)[0];
    assert!(wide.ends_with("78 threads"), "{wide}");
}

#[test]
fn header_shows_a_running_sync_then_a_failure_then_the_last_sync() {
    let (mut store, config, clock) = demo_store();
    let mut app = app_over(snapshot(&mut store, &config, &clock).unwrap(), Source::Live);
    app.sync.available = true;
    press(&mut app, KeyCode::Char('r'));
    app.update(Action::SyncProgress("hubspot contacts 1200".into()));
    let running = render_lines(&app, W, H);
    app.update(Action::SyncFinished(Err(
        "HubSpot rejected the token (401): run `casey auth hubspot` or check CASEYOS_HUBSPOT_TOKEN".into(),
    )));
    let failed = render_lines(&app, W, H);
    press(&mut app, KeyCode::Char('r'));
    app.update(Action::SyncFinished(Ok(
        "hubspot: 12 fetched, 3 changed, 0 deleted · 7 requests · 0.4 s".into(),
    )));
    let done = render_lines(&app, W, H);
    let footer = |lines: &[String]| lines[lines.len() - 2].clone();
    insta::assert_snapshot!(
        [
            running[0].clone(),
            footer(&running),
            failed[0].clone(),
            footer(&failed),
            done[0].clone(),
            footer(&done),
        ]
        .join("\n")
    );
}

#[test]
fn small_and_wide_terminals_render() {
    let app = demo_app();
    for (w, h) in [(40, 10), (80, 24), (200, 60), (20, 5)] {
        assert_screen_safe(&app, w, h);
    }
}

/// The hostile demo records: escape sequences in subjects, bodies and CRM fields, bidi overrides,
/// RTL and emoji text, a 2,000-message thread.
#[test]
fn hostile_records_render_without_escape_sequences() {
    let mut app = demo_app();
    let rows = app.rows();
    let hostile: Vec<usize> = rows
        .iter()
        .enumerate()
        .filter(|(_, i)| {
            let m = &app.data.moves[**i];
            let ctx = app.data.contexts.get(&m.key);
            m.title.contains("URGENT")
                || m.title.contains('🚀')
                || ctx.is_some_and(|c| c.thread_len >= 2000)
                || ctx.and_then(|c| c.contact.as_ref()).is_some_and(|c| {
                    c.job_title.as_deref().is_some_and(|t| t.contains('\u{1b}'))
                        || c.company_name.as_deref().is_some_and(|t| t.contains('\u{202e}'))
                        || c.display_name()
                            .chars()
                            .any(|ch| ('\u{0590}'..='\u{06ff}').contains(&ch))
                })
        })
        .map(|(pos, _)| pos)
        .collect();
    assert!(
        hostile.len() >= 4,
        "the demo's hostile records each produce a move; found {}",
        hostile.len()
    );
    let mut saw_escape_subject = false;
    let mut saw_big_thread = false;
    for pos in hostile {
        app.selected = pos;
        app.update(Action::Resize(W, H));
        let m = app.selected_move().unwrap().clone();
        saw_escape_subject |= m.title.contains("URGENT");
        saw_big_thread |= app.data.contexts[&m.key].thread_len >= 2000;
        assert_screen_safe(&app, W, H);
        let screen = render(&app);
        assert!(
            screen.contains(&m.who.chars().take(4).collect::<String>()),
            "the record is on screen"
        );
        press(&mut app, KeyCode::Enter);
        assert_screen_safe(&app, W, H);
        press(&mut app, KeyCode::Esc);
    }
    assert!(saw_escape_subject && saw_big_thread);
}

// ---------------------------------------------------------------------------------------------
// The outbox on a live mirror: real rows written by the store the way the worker leaves them
// ---------------------------------------------------------------------------------------------

/// The demo mirror as the operator's own, with three outbox entries the worker has been
/// through: a send parked because a reply came in (its error carries an escape sequence), a
/// HubSpot task waiting for the network, and a completed task.
fn live_outbox_app() -> App {
    use caseyos::store::{Finish, NewJob};
    let (mut store, config, clock) = demo_store();
    let now = clock.now();
    let jobs = [
        (
            "send-1",
            "gmail.draft.send",
            serde_json::json!({"to": ["ada@acme.example", "ops@acme.example"], "draft_id": "r-17", "thread_id": "1a1c60a6a75197ea"}),
        ),
        (
            "task-1",
            "hubspot.task.create",
            serde_json::json!({"subject": "Check in on the Acme renewal", "deal_ids": ["3004"]}),
        ),
        (
            "done-1",
            "hubspot.task.complete",
            serde_json::json!({"task_id": "77"}),
        ),
    ];
    for (key, action, payload) in &jobs {
        let job = NewJob {
            idempotency_key: key,
            move_key: Some("reply_inbound:thread:1a1c60a6a75197ea"),
            action,
            payload,
            not_before: None,
        };
        assert!(
            store
                .queue_job(&job, now - chrono::Duration::minutes(12))
                .unwrap()
        );
    }
    let at = now - chrono::Duration::minutes(9);
    let finishes = [
        Finish::Parked(
            "Ada replied after you approved this draft\u{1b}[2J — read her reply, then confirm again or discard"
                .into(),
        ),
        Finish::Retry {
            error: "HubSpot is not reachable: connection refused (127.0.0.1:9)".into(),
            at: now + chrono::Duration::minutes(4),
            uncertain: false,
        },
        Finish::Done {
            remote_id: "77".into(),
            reconciled: false,
        },
    ];
    for finish in &finishes {
        let job = store.claim_job(at).unwrap().unwrap();
        store.finish_job(&job, finish, at).unwrap();
    }
    let mut app = app_over(snapshot(&mut store, &config, &clock).unwrap(), Source::Live);
    app.safety = SafetyMode::Send;
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    app
}

#[test]
fn outbox_view_with_a_parked_send_and_its_error() {
    let mut app = live_outbox_app();
    press(&mut app, KeyCode::Char('G'));
    assert_eq!(app.selected_entry().unwrap().state, "parked");
    assert_screen_safe(&app, W, H);
    insta::assert_snapshot!("outbox_parked_entry", render(&app));
}

#[test]
fn outbox_view_with_an_entry_waiting_for_the_network() {
    let mut app = live_outbox_app();
    press(&mut app, KeyCode::Char('j'));
    let e = app.selected_entry().unwrap();
    assert_eq!((e.state.as_str(), e.error.is_some()), ("queued", true));
    insta::assert_snapshot!("outbox_offline_entry", render(&app));
}

#[test]
fn header_counts_entries_waiting_offline_and_to_confirm() {
    let app = live_outbox_app();
    let header = render_lines(&app, W, H)[0].clone();
    assert!(header.contains("1 waiting (offline) · 1 to confirm"), "{header}");
    insta::assert_snapshot!("header_outbox_counts", header);
    // Nothing to say: nothing shown.
    let plain = &render_lines(&demo_app(), W, H)[0];
    assert!(
        !plain.contains("waiting") && !plain.contains("to confirm"),
        "{plain}"
    );
}

#[test]
fn a_send_counts_down_on_the_status_line() {
    let (mut store, mut config, clock) = demo_store();
    config.safety.mode = SafetyMode::Send;
    let now = clock.now();
    let drafts = store.drafts().unwrap();
    let moves = caseyos::today::moves(&store, &config, now).unwrap();
    let m = moves
        .iter()
        .find(|m| {
            m.subject
                .draft_id
                .as_ref()
                .is_some_and(|d| drafts.iter().any(|x| &x.id == d && !x.to.is_empty()))
        })
        .expect("a demo move with a draft to someone");
    let mut app = app_over(snapshot(&mut store, &config, &clock).unwrap(), Source::Live);
    app.safety = SafetyMode::Send;
    press(&mut app, KeyCode::Tab);
    while app.selected_move().map(|s| s.key.as_str()) != Some(m.key.as_str()) {
        let before = app.selected;
        press(&mut app, KeyCode::Char('j'));
        assert_ne!(app.selected, before, "{} is not in the Drafts view", m.key);
    }
    let effects = app.update(Action::Key(KeyEvent::new(KeyCode::Char('y'), KeyModifiers::NONE)));
    assert!(matches!(
        effects.first(),
        Some(caseyos::tui::app::Effect::Execute { .. })
    ));
    // What the runtime does with the effect, then three ticks of a second.
    caseyos::actions::execute(&store, &config, m, false, now).unwrap();
    app.update(Action::Loaded(Box::new(
        snapshot(&mut store, &config, &clock).unwrap(),
    )));
    for s in 1..=3 {
        app.update(Action::Tick(now + chrono::Duration::seconds(s)));
    }
    let lines = render_lines(&app, W, H);
    let footer = lines[H as usize - 2..].join("\n");
    assert!(footer.contains("in 7 s · u cancels"), "{footer}");
    insta::assert_snapshot!("send_countdown", footer);
}

#[test]
fn drafts_view_footer_offers_discard() {
    let mut app = demo_app();
    press(&mut app, KeyCode::Tab);
    let footer = render_lines(&app, W, H)[H as usize - 1].clone();
    assert!(
        footer.contains("s discard") && footer.contains("e edit"),
        "{footer}"
    );
    insta::assert_snapshot!("drafts_footer", footer);
}

#[test]
fn a_background_pass_shows_updating_in_the_header_and_an_empty_list_says_so() {
    let mut app = demo_app();
    app.update(Action::Updating(Some("1200 of 60000".into())));
    let header = render_lines(&app, W, H)[0].clone();
    assert!(header.contains("updating… 1200 of 60000"), "{header}");
    insta::assert_snapshot!("updating_header", header);

    // A mirror whose ranking is still being built: the list says the moves are coming.
    let store = Store::open_in_memory().unwrap();
    let mut store = store;
    let (_, config, clock) = demo_store();
    let snap = snapshot(&mut store, &config, &clock).unwrap();
    let mut empty = app_over(snap, Source::Live);
    empty.data.counts.contacts = 100_000;
    empty.update(Action::Updating(Some(String::new())));
    let screen = render(&empty);
    assert!(screen.contains("Updating the moves"), "{screen}");
    insta::assert_snapshot!("updating_list", screen);

    // When the pass ends the header is quiet again and the screen re-reads the ranking.
    let effects = app.update(Action::Updated(Ok(true)));
    assert!(matches!(effects.as_slice(), [caseyos::tui::app::Effect::Refresh]));
    assert!(!render_lines(&app, W, H)[0].contains("updating"));
    // A pass that changed nothing needs no re-read.
    app.update(Action::Updating(Some(String::new())));
    assert!(app.update(Action::Updated(Ok(false))).is_empty());
    assert!(!render_lines(&app, W, H)[0].contains("updating"));
}

#[test]
fn a_big_mirror_shows_the_top_of_the_stored_ranking_with_whole_counts() {
    let mut app = demo_app();
    let loaded = app.data.moves.len();
    let open = app.data.moves.iter().filter(|m| m.state.is_actionable()).count();
    // As the runtime reads a mirror with more moves than its window: counts over them all.
    app.data.ranked = Some(caseyos::store::RankedCounts {
        total: 61_000,
        actionable: 60_859,
        open: 60_850,
        accepted: 9,
        drafts: 2_400,
    });
    app.update(Action::Resize(W, H));
    let lines = render_lines(&app, W, H);
    assert!(lines[0].contains("60850 open · 9 accepted"), "{}", lines[0]);
    assert!(
        lines[2].contains(&format!("Today's Moves (top {open} of 60859)")),
        "{} ({loaded} loaded)",
        lines[2]
    );
    insta::assert_snapshot!("top_of_a_big_ranking", lines[..4].join("\n"));

    // A decision shows in the whole-ranking counts at once, before the store is re-read.
    press(&mut app, KeyCode::Char('a'));
    let header = render_lines(&app, W, H)[0].clone();
    assert!(header.contains("60849 open · 10 accepted"), "{header}");
}
