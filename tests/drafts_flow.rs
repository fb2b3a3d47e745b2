//! From a move to Gmail and back, against the fake: `x` writes a reply from the template on
//! this machine, `y` writes it into the Gmail thread (draft-only) or sends it after the undo
//! window (send mode), with the thread headers checked on what Gmail received. The send checks
//! refuse at approval time with a clear message; an unclear create is found again by its
//! Message-ID; an edited Gmail draft is updated before it is sent; a discarded one is deleted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support {
    pub mod fake_gmail;
    pub mod gmail_client;
}

use std::sync::Arc;

use caseyos::actions::{self, ActionError};
use caseyos::config::{Config, SafetyMode};
use caseyos::domain::{Move, MoveKind};
use caseyos::outbox::remote::Live;
use caseyos::outbox::worker::drain;
use caseyos::store::{NewJob, Store, is_local_draft};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use support::fake_gmail::{FakeGmail, Fault, FaultKind, Method, NewMessage, Truth};
use support::gmail_client::{Mirror, client, run, t0};

const DANA: &str = "dana@acme.example";

/// A thread from Dana, mirrored; (fake, mirror, her message).
async fn mirrored() -> (FakeGmail, Mirror, Truth) {
    let fake = FakeGmail::start().await;
    let id = fake.add_message(NewMessage {
        from: format!("Dana Reyes <{DANA}>"),
        subject: "Renewal".into(),
        text: "Can we talk numbers?".into(),
        internal_date_ms: (t0() - Duration::hours(3)).timestamp_millis(),
        ..NewMessage::default()
    });
    let mut mirror = Mirror::new();
    run(&fake, &mut mirror.store).await;
    let parent = fake.message(&id).unwrap();
    (fake, mirror, parent)
}

fn config(mode: SafetyMode) -> Config {
    let mut c = Config::default();
    c.safety.mode = mode;
    c.drafts.signature = "Casey".into();
    c
}

fn live(fake: &FakeGmail) -> Live {
    Live {
        hubspot: None,
        gmail: Some(Arc::new(client(fake))),
    }
}

/// The move about Dana's thread, as detected now.
fn reply_move(store: &Store, config: &Config, thread: &str, now: DateTime<Utc>) -> Move {
    caseyos::today::moves(store, config, now)
        .unwrap()
        .into_iter()
        .find(|m| m.kind == MoveKind::ReplyInbound && m.subject.thread_id.as_deref() == Some(thread))
        .unwrap()
}

/// `x` on the reply move: a draft from the template; returns the move with it.
fn write(store: &Store, config: &Config, thread: &str, now: DateTime<Utc>) -> Move {
    let m = reply_move(store, config, thread, now);
    assert!(actions::writes_draft(&m));
    let said = actions::execute(store, config, &m, false, now).unwrap();
    assert!(said.contains("draft written"), "{said}");
    let m = reply_move(store, config, thread, now);
    assert!(is_local_draft(m.subject.draft_id.as_deref().unwrap()), "{m:?}");
    m
}

/// A reply to `thread` written at `at`, approved into Gmail drafts, the approval taken back
/// (the draft stays in Gmail) and mirrored again: the move is open with a Gmail draft.
async fn in_gmail(fake: &FakeGmail, mirror: &mut Mirror, cfg: &Config, thread: &str, at: DateTime<Utc>) {
    let m = write(&mirror.store, cfg, thread, at);
    actions::execute(&mirror.store, cfg, &m, false, at).unwrap();
    drain(&mirror.store, &live(fake), &cfg.safety, at).await.unwrap();
    actions::undo(&mirror.store, Some(&m.key), at).unwrap();
    run(fake, &mut mirror.store).await;
    let again = reply_move(&mirror.store, cfg, thread, at);
    assert!(
        !is_local_draft(again.subject.draft_id.as_deref().unwrap()),
        "{again:?}"
    );
}

fn states(store: &Store) -> Vec<(String, String)> {
    let mut v: Vec<_> = store
        .outbox(50)
        .unwrap()
        .into_iter()
        .map(|e| (e.action, e.state))
        .collect();
    v.reverse();
    v
}

#[tokio::test]
async fn draft_only_writes_the_template_reply_into_the_gmail_thread_and_never_sends() {
    let (fake, mut mirror, parent) = mirrored().await;
    let cfg = config(SafetyMode::DraftOnly);
    let store = &mirror.store;
    let m = write(store, &cfg, &parent.thread_id, t0());
    assert!(fake.drafts().is_empty(), "x writes on this machine only");
    let local = store
        .draft_record(m.subject.draft_id.as_deref().unwrap())
        .unwrap()
        .unwrap();
    assert!(local.draft.body.starts_with("Hi Dana,"), "{}", local.draft.body);
    assert!(local.draft.body.trim_end().ends_with("Casey"), "signature");

    let said = actions::execute(store, &cfg, &m, false, t0()).unwrap();
    assert!(said.contains("draft-only"), "{said}");
    drain(store, &live(&fake), &cfg.safety, t0()).await.unwrap();
    assert_eq!(states(store), vec![("gmail.draft.create".into(), "done".into())]);
    let drafts = fake.drafts();
    assert_eq!(drafts.len(), 1);
    let d = &drafts[0];
    assert_eq!(d.thread_id, parent.thread_id, "in the thread");
    assert_eq!(d.in_reply_to.as_deref(), Some(parent.message_id.as_str()));
    assert_eq!(d.subject, "Re: Renewal");
    assert!(d.to.contains(DANA) && d.text.starts_with("Hi Dana,"), "{d:?}");
    assert!(fake.sent().is_empty(), "draft-only never sends");

    // The mirror's draft took Gmail's id; a sync does not add a second copy, and the draft
    // stays with its move.
    assert!(
        store
            .draft_record(m.subject.draft_id.as_deref().unwrap())
            .unwrap()
            .is_none()
    );
    assert!(store.draft_record(&d.id).unwrap().is_some());
    run(&fake, &mut mirror.store).await;
    let drafts = mirror.store.drafts().unwrap();
    assert_eq!(drafts.len(), 1, "{drafts:?}");
    assert_eq!(drafts[0].id, d.id);
    assert_eq!(drafts[0].move_key.as_deref(), Some(m.key.as_str()));
}

#[tokio::test]
async fn send_mode_creates_the_draft_then_sends_it_once_after_the_undo_window() {
    let (fake, mirror, parent) = mirrored().await;
    let cfg = config(SafetyMode::Send);
    let store = &mirror.store;
    let m = write(store, &cfg, &parent.thread_id, t0());
    let our_id = store
        .draft_record(m.subject.draft_id.as_deref().unwrap())
        .unwrap()
        .unwrap()
        .message_id_header
        .unwrap();
    let said = actions::execute(store, &cfg, &m, false, t0()).unwrap();
    assert!(said.contains("u cancels"), "{said}");

    drain(store, &live(&fake), &cfg.safety, t0()).await.unwrap();
    assert_eq!(
        states(store),
        vec![
            ("gmail.draft.create".into(), "done".into()),
            ("gmail.draft.send".into(), "queued".into())
        ],
        "the send waits out its undo window"
    );
    assert!(fake.sent().is_empty());
    let window = Duration::seconds(i64::from(cfg.safety.undo_window_seconds));
    drain(store, &live(&fake), &cfg.safety, t0() + window)
        .await
        .unwrap();
    drain(store, &live(&fake), &cfg.safety, t0() + window * 10)
        .await
        .unwrap();
    let sent = fake.sent();
    assert_eq!(sent.len(), 1, "sent exactly once");
    let s = &sent[0];
    assert_eq!(s.thread_id, parent.thread_id);
    assert_eq!(s.header("In-Reply-To"), Some(parent.message_id.as_str()));
    assert!(s.header("References").unwrap().contains(&parent.message_id));
    assert_eq!(s.header("Subject"), Some("Re: Renewal"));
    assert_eq!(s.header("Message-ID"), Some(our_id.as_str()));
    assert!(String::from_utf8_lossy(&s.raw).contains("Hi Dana,"));
    assert!(fake.drafts().is_empty(), "Gmail deletes a sent draft");
    assert!(store.drafts().unwrap().is_empty(), "and so does the mirror");
}

#[tokio::test]
async fn undo_inside_the_window_sends_nothing() {
    let (fake, mirror, parent) = mirrored().await;
    let cfg = config(SafetyMode::Send);
    let store = &mirror.store;
    // Undone before the worker ran: nothing reaches Gmail at all.
    let m = write(store, &cfg, &parent.thread_id, t0());
    actions::execute(store, &cfg, &m, false, t0()).unwrap();
    let undone = actions::undo(store, Some(&m.key), t0() + Duration::seconds(3))
        .unwrap()
        .unwrap();
    assert_eq!(undone.key, m.key);
    assert_eq!(undone.message, "send cancelled · nothing was sent");
    drain(store, &live(&fake), &cfg.safety, t0() + Duration::hours(1))
        .await
        .unwrap();
    assert!(fake.sent().is_empty());
    assert_eq!(fake.drafts_created(), 0);
    assert!(
        states(store).iter().all(|(_, s)| s == "cancelled"),
        "{:?}",
        states(store)
    );
    let again = reply_move(store, &cfg, &parent.thread_id, t0());
    assert!(
        again.state.is_actionable() && again.subject.draft_id.is_some(),
        "{again:?}"
    );

    // The usual case: the worker wrote the draft to Gmail at once, the send waits out its
    // window, and `u` inside it cancels the send; the move comes back with the Gmail draft.
    actions::execute(store, &cfg, &again, false, t0() + Duration::minutes(1)).unwrap();
    drain(store, &live(&fake), &cfg.safety, t0() + Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(fake.drafts_created(), 1);
    let undone = actions::undo(
        store,
        Some(&m.key),
        t0() + Duration::minutes(1) + Duration::seconds(5),
    )
    .unwrap()
    .unwrap();
    assert_eq!(undone.message, "send cancelled · nothing was sent");
    drain(store, &live(&fake), &cfg.safety, t0() + Duration::hours(2))
        .await
        .unwrap();
    assert!(fake.sent().is_empty(), "undo inside the window sends nothing");
    let back = reply_move(store, &cfg, &parent.thread_id, t0() + Duration::hours(2));
    assert!(back.state.is_actionable());
    assert_eq!(
        back.subject.draft_id.as_deref(),
        Some(fake.drafts()[0].id.as_str())
    );

    // Sent: `u` is refused and says so; the move stays done.
    actions::execute(store, &cfg, &back, false, t0() + Duration::hours(2)).unwrap();
    drain(store, &live(&fake), &cfg.safety, t0() + Duration::hours(3))
        .await
        .unwrap();
    assert_eq!(fake.sent().len(), 1);
    let err = actions::undo(store, Some(&m.key), t0() + Duration::hours(3)).unwrap_err();
    assert!(
        err.to_string()
            .contains("too late to undo: gmail.draft.send is already done"),
        "{err}"
    );
    assert!(
        !reply_move(store, &cfg, &parent.thread_id, t0() + Duration::hours(3))
            .state
            .is_actionable()
    );
}

#[tokio::test]
async fn a_reply_after_the_draft_was_written_refuses_the_one_key_send() {
    let (fake, mut mirror, parent) = mirrored().await;
    let cfg = config(SafetyMode::Send);
    let written = t0() - Duration::hours(2);
    write(&mirror.store, &cfg, &parent.thread_id, written);
    fake.add_message(NewMessage {
        thread_id: Some(parent.thread_id.clone()),
        from: format!("Dana Reyes <{DANA}>"),
        subject: "Re: Renewal".into(),
        text: "Actually, we went with someone else.".into(),
        internal_date_ms: (t0() - Duration::hours(1)).timestamp_millis(),
        ..NewMessage::default()
    });
    run(&fake, &mut mirror.store).await;
    let m = reply_move(&mirror.store, &cfg, &parent.thread_id, t0()).clone();
    assert!(m.subject.draft_id.is_some(), "{m:?}");
    let err = actions::execute(&mirror.store, &cfg, &m, false, t0()).unwrap_err();
    assert!(matches!(err, ActionError::Refused(_)), "{err:?}");
    assert!(err.to_string().starts_with("stale draft"), "{err}");
    assert!(mirror.store.outbox(10).unwrap().is_empty(), "nothing queued");
    assert!(
        reply_move(&mirror.store, &cfg, &parent.thread_id, t0())
            .state
            .is_actionable()
    );
}

#[tokio::test]
async fn a_send_waits_for_its_draft_to_reach_gmail_and_fails_if_it_never_does() {
    let (fake, mirror, parent) = mirrored().await;
    let cfg = config(SafetyMode::Send);
    let store = &mirror.store;
    let m = write(store, &cfg, &parent.thread_id, t0());
    actions::execute(store, &cfg, &m, false, t0()).unwrap();
    // Gmail is rate-limited for the create for a while: the send, due after its window, waits.
    fake.fail(Fault {
        method: Method::DraftsCreate,
        skip: 0,
        kind: FaultKind::TooMany,
        times: 100,
    });
    let window = Duration::seconds(i64::from(cfg.safety.undo_window_seconds));
    for i in 1..=3 {
        drain(store, &live(&fake), &cfg.safety, t0() + window * (i * 10))
            .await
            .unwrap();
    }
    assert!(fake.sent().is_empty());
    let s = states(store);
    assert_eq!(
        s[1],
        ("gmail.draft.send".into(), "queued".into()),
        "{s:?} {:?}",
        store
            .outbox(10)
            .unwrap()
            .iter()
            .map(|e| e.error.clone())
            .collect::<Vec<_>>()
    );
    // The operator discards the create in the Outbox view: the send fails, nothing is sent.
    let create = store
        .outbox(10)
        .unwrap()
        .into_iter()
        .find(|e| e.action == "gmail.draft.create")
        .unwrap();
    assert!(
        store
            .cancel_job(&create.idempotency_key, t0() + window * 40)
            .unwrap()
    );
    drain(store, &live(&fake), &cfg.safety, t0() + window * 50)
        .await
        .unwrap();
    let send = store
        .outbox(10)
        .unwrap()
        .into_iter()
        .find(|e| e.action == "gmail.draft.send")
        .unwrap();
    assert_eq!(send.state, "failed");
    assert!(send.error.unwrap().contains("nothing was sent"));
    assert!(fake.sent().is_empty());
}

#[tokio::test]
async fn the_cap_counts_sends_still_waiting_and_refuses_at_approval() {
    let (_fake, mirror, parent) = mirrored().await;
    let mut cfg = config(SafetyMode::Send);
    cfg.safety.daily_send_cap = 1;
    let store = &mirror.store;
    store
        .queue_job(
            &NewJob {
                idempotency_key: "earlier",
                move_key: None,
                action: "gmail.draft.send",
                payload: &json!({"draft_id": "r-1", "to": ["someone@else.example"]}),
                not_before: Some(t0() + Duration::seconds(10)),
            },
            t0(),
        )
        .unwrap();
    let m = write(store, &cfg, &parent.thread_id, t0());
    let err = actions::execute(store, &cfg, &m, false, t0()).unwrap_err();
    assert!(
        err.to_string().contains("daily send cap reached: 1 of 1"),
        "{err}"
    );
    cfg.safety.suppression_list = vec!["@acme.example".into()];
    cfg.safety.daily_send_cap = 10;
    let err = actions::execute(store, &cfg, &m, false, t0()).unwrap_err();
    assert!(err.to_string().contains("suppression list"), "{err}");
    assert_eq!(store.outbox(10).unwrap().len(), 1, "only the earlier send");
}

#[tokio::test]
async fn an_unclear_create_is_found_by_its_message_id_and_not_created_twice() {
    let (fake, mirror, parent) = mirrored().await;
    let cfg = config(SafetyMode::DraftOnly);
    let store = &mirror.store;
    let m = write(store, &cfg, &parent.thread_id, t0());
    actions::execute(store, &cfg, &m, false, t0()).unwrap();
    fake.fail(Fault {
        method: Method::DraftsCreate,
        skip: 0,
        kind: FaultKind::AppliedThen(500),
        times: 1,
    });
    drain(store, &live(&fake), &cfg.safety, t0()).await.unwrap();
    assert_eq!(
        states(store),
        vec![("gmail.draft.create".into(), "uncertain".into())]
    );
    assert_eq!(fake.drafts_created(), 1);
    // It may be in Gmail already: no taking it back, and no approving it a second time.
    let err = actions::undo(store, Some(&m.key), t0()).unwrap_err();
    assert!(err.to_string().contains("being carried out"), "{err}");
    let err = actions::execute(store, &cfg, &m, false, t0()).unwrap_err();
    assert!(err.to_string().contains("still being written to Gmail"), "{err}");
    drain(store, &live(&fake), &cfg.safety, t0() + Duration::minutes(10))
        .await
        .unwrap();
    assert_eq!(states(store), vec![("gmail.draft.create".into(), "done".into())]);
    assert_eq!(fake.drafts_created(), 1, "found, not created again");
    let gmail_id = fake.drafts()[0].id.clone();
    assert!(
        store.draft_record(&gmail_id).unwrap().is_some(),
        "the mirror row took its id"
    );
}

#[tokio::test]
async fn an_edited_gmail_draft_is_updated_in_gmail_before_it_is_sent() {
    let (fake, mut mirror, parent) = mirrored().await;
    let cfg = config(SafetyMode::DraftOnly);
    // A reply drafted earlier and already in Gmail.
    in_gmail(
        &fake,
        &mut mirror,
        &cfg,
        &parent.thread_id,
        t0() - Duration::minutes(30),
    )
    .await;
    let store = &mirror.store;
    let gmail_id = fake.drafts()[0].id.clone();

    actions::save_draft_body(
        store,
        &gmail_id,
        "Tuesday at 10 works.\n",
        t0() - Duration::minutes(5),
    )
    .unwrap();
    let send = config(SafetyMode::Send);
    let m = reply_move(store, &send, &parent.thread_id, t0());
    assert_eq!(m.subject.draft_id.as_deref(), Some(gmail_id.as_str()));
    actions::execute(store, &send, &m, false, t0()).unwrap();
    let window = Duration::seconds(i64::from(send.safety.undo_window_seconds));
    drain(store, &live(&fake), &send.safety, t0()).await.unwrap();
    assert_eq!(
        fake.drafts()[0].text.trim_end(),
        "Tuesday at 10 works.",
        "pushed first"
    );
    drain(store, &live(&fake), &send.safety, t0() + window)
        .await
        .unwrap();
    let sent = fake.sent();
    assert_eq!(sent.len(), 1);
    assert!(String::from_utf8_lossy(&sent[0].raw).contains("Tuesday at 10 works."));
    assert_eq!(sent[0].header("In-Reply-To"), Some(parent.message_id.as_str()));
}

#[tokio::test]
async fn a_discarded_gmail_draft_is_deleted_after_the_window_and_undo_keeps_it() {
    let (fake, mut mirror, parent) = mirrored().await;
    let cfg = config(SafetyMode::DraftOnly);
    in_gmail(&fake, &mut mirror, &cfg, &parent.thread_id, t0()).await;
    let store = &mirror.store;
    let m = reply_move(store, &cfg, &parent.thread_id, t0());
    let window = Duration::seconds(i64::from(cfg.safety.undo_window_seconds));

    // Discard, then take it back inside the window: the draft stays in Gmail.
    let said = actions::discard_draft(store, &cfg, &m, false, t0()).unwrap();
    assert!(said.contains("u to undo"), "{said}");
    actions::undo(store, None, t0() + Duration::seconds(2)).unwrap();
    drain(store, &live(&fake), &cfg.safety, t0() + window)
        .await
        .unwrap();
    assert_eq!(fake.drafts().len(), 1);

    // Discard for good: deleted from Gmail and the mirror once the window is over.
    let m = reply_move(store, &cfg, &parent.thread_id, t0());
    actions::discard_draft(store, &cfg, &m, false, t0() + window).unwrap();
    drain(store, &live(&fake), &cfg.safety, t0() + window)
        .await
        .unwrap();
    assert_eq!(fake.drafts().len(), 1, "still inside its window");
    drain(store, &live(&fake), &cfg.safety, t0() + window * 2)
        .await
        .unwrap();
    assert!(fake.drafts().is_empty());
    assert!(store.drafts().unwrap().is_empty());

    // A draft only on this machine is simply dropped; `x` writes a new one.
    let (_fake2, mirror2, parent2) = mirrored().await;
    let m = write(&mirror2.store, &cfg, &parent2.thread_id, t0());
    let said = actions::discard_draft(&mirror2.store, &cfg, &m, false, t0()).unwrap();
    assert!(said.contains("x writes a new one"), "{said}");
    assert!(mirror2.store.drafts().unwrap().is_empty());
    assert!(mirror2.store.outbox(10).unwrap().is_empty());
}
