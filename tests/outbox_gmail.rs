//! The outbox worker sending Gmail drafts against the fake: sent exactly once, an unclear
//! answer reconciled by the draft's absence, a thread that got a reply parked, offline
//! sends waiting and then going out once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support {
    pub mod fake_gmail;
    pub mod gmail_client;
}

use std::sync::Arc;

use caseyos::connectors::gmail::compose::{Address, Outgoing, compose, new_message_id, parse_references};
use caseyos::outbox::remote::Live;
use caseyos::outbox::worker::{drain, retry_delay};

/// Send mode, generous limits: the rules have their own tests.
fn rules() -> caseyos::config::Safety {
    let mut r = caseyos::config::Config::default().safety;
    r.mode = caseyos::config::SafetyMode::Send;
    r.daily_send_cap = 1000;
    r
}
use caseyos::store::{Finish, NewJob, Store};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use support::fake_gmail::{FakeGmail, Fault, FaultKind, Method, NewMessage, OPERATOR, OPERATOR_NAME};
use support::gmail_client::client;

const DANA: &str = "dana@acme.example";

fn t0() -> DateTime<Utc> {
    support::fake_gmail::now()
}

/// A thread from Dana and a reply draft to it in Gmail; (fake, thread id, draft id).
async fn drafted() -> (FakeGmail, String, String) {
    let fake = FakeGmail::start().await;
    let first = fake.add_message(NewMessage {
        from: format!("Dana Reyes <{DANA}>"),
        subject: "Renewal".into(),
        text: "Can we talk numbers?".into(),
        internal_date_ms: (t0() - Duration::hours(3)).timestamp_millis(),
        ..NewMessage::default()
    });
    let parent = fake.message(&first).unwrap();
    let out = Outgoing {
        from: Address::named(OPERATOR_NAME, OPERATOR),
        to: vec![Address::named("Dana Reyes", DANA)],
        cc: vec![],
        subject: "Renewal".into(),
        body_text: "Happy to. Tuesday?".into(),
        message_id: new_message_id("seller.example"),
        in_reply_to: Some(parent.message_id.clone()),
        references: parse_references(parent.references.as_deref().unwrap_or("")),
        date: t0() - Duration::hours(1),
    };
    let draft = client(&fake)
        .create_draft(&compose(&out).unwrap(), Some(&parent.thread_id))
        .await
        .unwrap();
    (fake, parent.thread_id, draft.id)
}

fn live(fake: &FakeGmail) -> Live {
    Live {
        hubspot: None,
        gmail: Some(Arc::new(client(fake))),
    }
}

fn queue_send(store: &Store, key: &str, thread: &str, draft: &str) {
    queue_send_to(store, key, thread, draft, DANA);
}

fn queue_send_to(store: &Store, key: &str, thread: &str, draft: &str, to: &str) {
    let payload =
        json!({"draft_id": draft, "thread_id": thread, "approved_at": t0().to_rfc3339(), "to": [to]});
    store
        .queue_job(
            &NewJob {
                idempotency_key: key,
                move_key: Some("reply"),
                action: "gmail.draft.send",
                payload: &payload,
                not_before: Some(t0() + Duration::seconds(10)),
            },
            t0(),
        )
        .unwrap();
}

fn state(store: &Store, key: &str) -> (String, Option<String>) {
    let e = store
        .outbox(50)
        .unwrap()
        .into_iter()
        .find(|e| e.idempotency_key == key)
        .unwrap();
    (e.state, e.error)
}

#[tokio::test]
async fn an_approved_draft_is_sent_once_after_its_undo_window() {
    let (fake, thread, draft) = drafted().await;
    let store = Store::open_in_memory().unwrap();
    queue_send(&store, "send-1", &thread, &draft);
    assert!(
        drain(&store, &live(&fake), &rules(), t0())
            .await
            .unwrap()
            .is_empty(),
        "inside the undo window"
    );
    assert!(fake.sent().is_empty());
    let after = t0() + Duration::seconds(10);
    drain(&store, &live(&fake), &rules(), after).await.unwrap();
    assert_eq!(fake.sent().len(), 1);
    assert_eq!(fake.sent()[0].thread_id, thread);
    assert_eq!(state(&store, "send-1").0, "done");
    assert!(
        drain(&store, &live(&fake), &rules(), after + Duration::hours(1))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(fake.sent().len(), 1);
    assert_eq!(store.last_send_to("Dana@acme.example").unwrap(), Some(after));
}

#[tokio::test]
async fn a_send_gmail_did_behind_an_error_is_not_sent_again() {
    let (fake, thread, draft) = drafted().await;
    fake.fail(Fault {
        method: Method::DraftsSend,
        skip: 0,
        kind: FaultKind::AppliedThen(500),
        times: 1,
    });
    let store = Store::open_in_memory().unwrap();
    queue_send(&store, "send-2", &thread, &draft);
    let at = t0() + Duration::seconds(10);
    let first = drain(&store, &live(&fake), &rules(), at).await.unwrap();
    assert!(
        matches!(&first[0].finish, Finish::Retry { uncertain: true, .. }),
        "{first:?}"
    );
    assert_eq!(fake.sent().len(), 1, "Gmail did send it");
    let second = drain(&store, &live(&fake), &rules(), at + retry_delay(1))
        .await
        .unwrap();
    assert!(
        matches!(&second[0].finish, Finish::Done { reconciled: true, .. }),
        "{second:?}"
    );
    assert_eq!(fake.sent().len(), 1, "never twice");
    assert_eq!(fake.calls(Method::DraftsSend), 1);
}

#[tokio::test]
async fn a_reply_after_the_approval_parks_the_send() {
    let (fake, thread, draft) = drafted().await;
    let store = Store::open_in_memory().unwrap();
    queue_send(&store, "send-3", &thread, &draft);
    fake.add_message(NewMessage {
        thread_id: Some(thread.clone()),
        from: format!("Dana Reyes <{DANA}>"),
        subject: "Re: Renewal".into(),
        text: "Actually, we signed with someone else.".into(),
        internal_date_ms: (t0() + Duration::seconds(5)).timestamp_millis(),
        ..NewMessage::default()
    });
    drain(&store, &live(&fake), &rules(), t0() + Duration::seconds(10))
        .await
        .unwrap();
    let (st, why) = state(&store, "send-3");
    assert_eq!(st, "parked");
    assert!(why.unwrap().contains("arrived in the thread after you approved"));
    assert!(fake.sent().is_empty());
    // Confirmed again after reading the reply: approved as of now, so it goes out, once.
    let confirmed = t0() + Duration::minutes(5);
    assert!(store.requeue_job("send-3", confirmed).unwrap());
    drain(&store, &live(&fake), &rules(), confirmed).await.unwrap();
    assert_eq!(state(&store, "send-3").0, "done");
    assert_eq!(fake.sent().len(), 1);
}

#[tokio::test]
async fn ten_sends_approved_offline_go_out_once_each_when_gmail_is_back() {
    let fake = FakeGmail::start().await;
    let store = Store::open_in_memory().unwrap();
    let mut drafts = Vec::new();
    for i in 0..10 {
        let out = Outgoing {
            from: Address::named(OPERATOR_NAME, OPERATOR),
            to: vec![Address::new(&format!("p{i}@customer.example"))],
            cc: vec![],
            subject: format!("Hello {i}"),
            body_text: "Hi".into(),
            message_id: new_message_id("seller.example"),
            in_reply_to: None,
            references: vec![],
            date: t0(),
        };
        let d = client(&fake)
            .create_draft(&compose(&out).unwrap(), None)
            .await
            .unwrap();
        queue_send_to(
            &store,
            &format!("send-{i}"),
            "",
            &d.id,
            &format!("p{i}@customer.example"),
        );
        drafts.push(d.id);
    }
    let down = Live {
        hubspot: None,
        gmail: Some(Arc::new(
            caseyos::connectors::gmail::client::GmailClient::new(
                "http://127.0.0.1:9",
                Arc::new(caseyos::auth::token::TokenSource::fixed(
                    secrecy::SecretString::from(support::fake_gmail::TOKEN.to_string()),
                )),
                support::gmail_client::options(),
            )
            .unwrap(),
        )),
    };
    let at = t0() + Duration::seconds(10);
    drain(&store, &down, &rules(), at).await.unwrap();
    assert_eq!(store.counts().unwrap().outbox_pending, 10);
    assert!(fake.sent().is_empty());
    drain(&store, &live(&fake), &rules(), at + Duration::minutes(5))
        .await
        .unwrap();
    assert_eq!(fake.sent().len(), 10);
    let mut sent_drafts: Vec<String> = fake.sent().iter().map(|s| s.draft_id.clone()).collect();
    sent_drafts.sort();
    drafts.sort();
    assert_eq!(sent_drafts, drafts, "each draft once");
}

#[tokio::test]
async fn draft_only_never_sends_and_the_cap_and_cooldown_refuse_clearly() {
    let (fake, thread, draft) = drafted().await;
    let store = Store::open_in_memory().unwrap();
    let at = t0() + Duration::seconds(10);

    // Draft-only (the default): the approved send fails with the reason, Gmail sends nothing.
    queue_send(&store, "send-draft-only", &thread, &draft);
    let draft_only = caseyos::config::Config::default().safety;
    drain(&store, &live(&fake), &draft_only, at).await.unwrap();
    let (st, why) = state(&store, "send-draft-only");
    assert_eq!(st, "failed");
    assert!(why.unwrap().starts_with("draft-only mode"));
    assert_eq!(fake.calls(Method::DraftsSend), 0, "send was never called");

    // Send mode with a cap of 1: the first send goes, the next one to the same person is
    // refused by the cooldown, one to someone else by the cap.
    let mut capped = rules();
    capped.daily_send_cap = 1;
    assert!(store.requeue_job("send-draft-only", at).unwrap());
    drain(&store, &live(&fake), &capped, at).await.unwrap();
    assert_eq!(state(&store, "send-draft-only").0, "done");
    let second = client(&fake)
        .create_draft(b"To: dana@acme.example\r\nSubject: again\r\n\r\nhi\r\n", None)
        .await
        .unwrap();
    queue_send(&store, "send-again", "", &second.id);
    let mut uncapped = rules();
    uncapped.recipient_cooldown_hours = 24;
    drain(&store, &live(&fake), &uncapped, at + Duration::minutes(1))
        .await
        .unwrap();
    let (st, why) = state(&store, "send-again");
    assert_eq!(st, "failed");
    assert!(why.unwrap().contains("was emailed"), "cooldown");
    assert!(store.requeue_job("send-again", at).unwrap());
    let mut no_cooldown = capped.clone();
    no_cooldown.recipient_cooldown_hours = 0;
    drain(&store, &live(&fake), &no_cooldown, at + Duration::minutes(2))
        .await
        .unwrap();
    let (st, why) = state(&store, "send-again");
    assert_eq!(st, "failed");
    assert!(why.unwrap().starts_with("daily send cap reached: 1 of 1"), "cap");
    assert_eq!(fake.sent().len(), 1);
}
