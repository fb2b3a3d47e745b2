//! Gmail writes against the local fake: reply drafts composed by CaseyOS land in their thread
//! with the right headers, updates replace them, a send goes out exactly once and the next
//! sync mirrors it; rate limits and expired tokens are retried, while a send whose outcome is
//! unknown (a 5xx after Gmail applied it, a timeout, a dropped connection) is never retried
//! and can be reconciled by its Message-ID.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support {
    pub mod fake_gmail;
    pub mod gmail_client;
}

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use caseyos::auth::token::TokenSource;
use caseyos::connectors::gmail::client::{GmailClient, GmailError, GmailOptions};
use caseyos::connectors::gmail::compose::{Address, Outgoing, compose, new_message_id, parse_references};
use caseyos::connectors::gmail::mime::{decode_rfc2047, parse_raw};
use secrecy::SecretString;
use support::fake_gmail::{FakeGmail, Fault, FaultKind, Method, NewMessage, OPERATOR, OPERATOR_NAME, TOKEN};
use support::gmail_client::{client, client_with, first_sync, options, refreshing_client, run};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const JANE: &str = "jane.doe@acme.example";

/// A mailbox with one two-message thread (Jane asks, the operator answers, Jane again);
/// returns the fake and the thread id.
async fn mailbox() -> (FakeGmail, String) {
    let fake = FakeGmail::start().await;
    let first = fake.add_message(NewMessage {
        from: format!("Jane Doe <{JANE}>"),
        subject: "Pricing for Acme".into(),
        text: "What would 40 seats cost?".into(),
        internal_date_ms: support::fake_gmail::now().timestamp_millis() - 7_200_000,
        ..NewMessage::default()
    });
    let t = fake.message(&first).unwrap();
    fake.add_message(NewMessage {
        thread_id: Some(t.thread_id.clone()),
        from: format!("Jane Doe <{JANE}>"),
        subject: "Re: Pricing for Acme".into(),
        text: "And with annual billing?".into(),
        in_reply_to: Some(t.message_id.clone()),
        references: Some(t.message_id.clone()),
        ..NewMessage::default()
    });
    (fake, t.thread_id)
}

/// The reply CaseyOS would write to the last message of `thread_id`.
fn reply_to(fake: &FakeGmail, thread_id: &str, body: &str) -> Outgoing {
    let ids = fake.thread(thread_id);
    let parent = fake.message(ids.last().unwrap()).unwrap();
    Outgoing {
        from: Address::named(OPERATOR_NAME, OPERATOR),
        to: vec![Address::named("Jane Doe", JANE)],
        cc: vec![],
        subject: "Pricing for Acme".into(),
        body_text: body.into(),
        message_id: new_message_id("seller.example"),
        in_reply_to: Some(parent.message_id.clone()),
        references: parse_references(parent.references.as_deref().unwrap_or("")),
        date: support::fake_gmail::now(),
    }
}

/// The reply CaseyOS would write to `thread_id`, created as a Gmail draft in that thread.
async fn reply_draft(
    gmail: &GmailClient,
    fake: &FakeGmail,
    thread_id: &str,
    body: &str,
) -> (Outgoing, caseyos::connectors::gmail::wire::DraftRef) {
    let out = reply_to(fake, thread_id, body);
    let draft = gmail
        .create_draft(&compose(&out).unwrap(), Some(thread_id))
        .await
        .unwrap();
    (out, draft)
}

fn header(raw: &[u8], name: &str) -> String {
    decode_rfc2047(parse_raw(raw).header(name).unwrap_or_else(|| panic!("no {name}")))
}

/// A client with a short timeout and no retry delays.
fn impatient(fake: &FakeGmail) -> GmailClient {
    client_with(
        fake,
        GmailOptions {
            timeout: Duration::from_secs(1),
            ..options()
        },
    )
}

#[tokio::test]
async fn a_reply_draft_lands_in_its_thread_with_threading_headers() {
    let (fake, thread) = mailbox().await;
    let gmail = client(&fake);
    let ids = fake.thread(&thread);
    let (first, second) = (fake.message(&ids[0]).unwrap(), fake.message(&ids[1]).unwrap());
    let out = reply_to(
        &fake,
        &thread,
        "Hi Jane,\n\n40 seats, annual: €12,000 — see the attached ✓.\n",
    );
    let raw = compose(&out).unwrap();

    let draft = gmail.create_draft(&raw, Some(&thread)).await.unwrap();
    assert_eq!(draft.message.thread_id.as_deref(), Some(thread.as_str()));
    assert_eq!(draft.message.label_ids, Some(vec!["DRAFT".to_string()]));
    assert_eq!(fake.drafts_created(), 1);
    assert_eq!(fake.thread(&thread).len(), 3, "the draft joined the thread");

    // What the fake received is what CaseyOS composed, byte for byte.
    let received = fake.draft_raw(&draft.id).unwrap();
    assert_eq!(received, raw);
    assert_eq!(header(&received, "Subject"), "Re: Pricing for Acme");
    assert_eq!(header(&received, "In-Reply-To"), second.message_id);
    assert_eq!(
        header(&received, "References"),
        format!("{} {}", first.message_id, second.message_id)
    );
    assert_eq!(header(&received, "Message-ID"), out.message_id);
    assert_eq!(header(&received, "To"), format!("Jane Doe <{JANE}>"));

    // drafts.get sees it, with the decoded text.
    let got = gmail.draft(&draft.id).await.unwrap().unwrap();
    assert_eq!(got.message.id, draft.message.id);
    assert_eq!(got.message.header("Subject"), Some("Re: Pricing for Acme"));
    let d = &fake.drafts()[0];
    assert_eq!(
        d.text,
        "Hi Jane,\n\n40 seats, annual: €12,000 — see the attached ✓."
    );
    assert_eq!(d.in_reply_to.as_deref(), Some(second.message_id.as_str()));

    // A new message (no threading headers) starts its own thread even when asked otherwise,
    // as in Gmail.
    let stray = Outgoing {
        in_reply_to: None,
        references: vec![],
        subject: "Something else".into(),
        message_id: new_message_id("seller.example"),
        ..out
    };
    let other = gmail
        .create_draft(&compose(&stray).unwrap(), Some(&thread))
        .await
        .unwrap();
    assert_ne!(other.message.thread_id.as_deref(), Some(thread.as_str()));
    assert_eq!(
        other.message.thread_id.as_deref(),
        Some(other.message.id.as_str())
    );
}

#[tokio::test]
async fn the_fake_validates_writes_like_gmail() {
    let (fake, thread) = mailbox().await;
    let gmail = client(&fake);
    let raw = compose(&reply_to(&fake, &thread, "Hi")).unwrap();
    // A thread that does not exist: 404, nothing created.
    let err = gmail
        .create_draft(&raw, Some("18cdeadbeef00000"))
        .await
        .unwrap_err();
    assert!(matches!(err, GmailError::Status { status: 404, .. }), "{err:?}");
    // Sending or updating a draft that does not exist: 404; deleting it: false.
    let err = gmail.send_draft("r123").await.unwrap_err();
    assert!(matches!(err, GmailError::Status { status: 404, .. }), "{err:?}");
    let err = gmail.update_draft("r123", &raw, None).await.unwrap_err();
    assert!(matches!(err, GmailError::Status { status: 404, .. }), "{err:?}");
    assert!(!gmail.delete_draft("r123").await.unwrap());
    assert_eq!(fake.drafts_created(), 0);
    assert!(fake.sent().is_empty());
    // Invalid base64 in `raw`: 400.
    let resp = reqwest::Client::new()
        .post(format!("{}/gmail/v1/users/me/drafts", fake.uri()))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"message": {"raw": "not base64!"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    assert_eq!(fake.drafts_created(), 0);
    // A draft without a recipient cannot be sent (400), and stays a draft.
    let nobody = "From: me@seller.example\r\nSubject: x\r\n\r\nbody\r\n";
    let draft = gmail.create_draft(nobody.as_bytes(), None).await.unwrap();
    let err = gmail.send_draft(&draft.id).await.unwrap_err();
    assert!(matches!(err, GmailError::Status { status: 400, .. }), "{err:?}");
    assert!(fake.sent().is_empty());
    assert_eq!(fake.drafts().len(), 1);
    // An id CaseyOS would not search for.
    let err = gmail.find_message_by_rfc822_id("<a b@c>").await.unwrap_err();
    assert!(matches!(err, GmailError::InvalidRequest { .. }), "{err:?}");
}

#[tokio::test]
async fn update_replaces_the_drafts_message() {
    let (fake, thread) = mailbox().await;
    let gmail = client(&fake);
    let (mut out, created) = reply_draft(&gmail, &fake, &thread, "First version").await;
    out.body_text = "Second version, longer: ".to_string() + &"x".repeat(200);
    let raw = compose(&out).unwrap();
    let updated = gmail
        .update_draft(&created.id, &raw, Some(&thread))
        .await
        .unwrap();
    assert_eq!(updated.id, created.id, "the draft id is stable");
    assert_ne!(updated.message.id, created.message.id, "the message is replaced");
    assert_eq!(updated.message.thread_id.as_deref(), Some(thread.as_str()));
    assert!(fake.message(&created.message.id).is_none(), "old message gone");
    assert_eq!(fake.drafts_updated(), 1);
    let drafts = fake.drafts();
    assert_eq!(drafts.len(), 1);
    assert_eq!(drafts[0].message_id, updated.message.id);
    assert_eq!(drafts[0].text, out.body_text);
    assert_eq!(fake.draft_raw(&created.id).unwrap(), raw);
    // Deleting it: true, then false.
    assert!(gmail.delete_draft(&created.id).await.unwrap());
    assert!(gmail.draft(&created.id).await.unwrap().is_none());
    assert!(!gmail.delete_draft(&created.id).await.unwrap());
    assert_eq!(fake.drafts_deleted(), 1);
    assert_eq!(fake.thread(&thread).len(), 2);
}

#[tokio::test]
async fn send_goes_out_once_and_the_next_sync_mirrors_it_as_outbound() {
    let (fake, thread) = mailbox().await;
    let mut m = first_sync(&fake).await;
    let gmail = client(&fake);
    let (out, draft) = reply_draft(&gmail, &fake, &thread, "Hi Jane,\n\nDone — contract attached.\n").await;
    let sent = gmail.send_draft(&draft.id).await.unwrap();

    assert_eq!(sent.id, draft.message.id, "the draft's message is the sent one");
    assert_eq!(sent.thread_id.as_deref(), Some(thread.as_str()));
    assert_eq!(sent.label_ids, Some(vec!["SENT".to_string()]));
    let log = fake.sent();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].draft_id, draft.id);
    assert_eq!(log[0].header("Message-ID"), Some(out.message_id.as_str()));
    assert_eq!(log[0].raw, compose(&out).unwrap());
    assert!(fake.drafts().is_empty(), "the draft is gone");
    assert!(gmail.draft(&draft.id).await.unwrap().is_none());
    let truth = fake.message(&sent.id).unwrap();
    assert_eq!(truth.labels, vec!["SENT".to_string()]);

    // The next (incremental) sync mirrors it in its thread, outbound.
    let summary = run(&fake, &mut m.store).await;
    assert!(!summary.resynced);
    let rows = m.rows();
    let row = rows
        .iter()
        .find(|r| r.id == sent.id)
        .expect("sent message mirrored");
    assert!(row.outbound);
    assert_eq!(row.thread_id, thread);
    assert_eq!(row.labels, vec!["SENT".to_string()]);
    assert_eq!(row.message_id.as_deref(), Some(out.message_id.as_str()));
    assert_eq!(row.subject, "Re: Pricing for Acme");
    assert_eq!(row.in_reply_to, out.in_reply_to);
    assert_eq!(row.body, "Hi Jane,\n\nDone — contract attached.");
    assert_eq!(rows.len(), 3);
    assert!(m.store.drafts().unwrap().is_empty());

    // Sending it again is refused by Gmail (the draft is gone), not sent twice.
    let err = gmail.send_draft(&draft.id).await.unwrap_err();
    assert!(matches!(err, GmailError::Status { status: 404, .. }), "{err:?}");
    assert_eq!(fake.sent().len(), 1);
}

#[tokio::test]
async fn rate_limits_on_writes_are_retried_and_send_once() {
    let (fake, thread) = mailbox().await;
    let gmail = client(&fake);
    fake.fail(Fault {
        method: Method::DraftsCreate,
        skip: 0,
        kind: FaultKind::UserRateLimit,
        times: 1,
    });
    let (_, draft) = reply_draft(&gmail, &fake, &thread, "Hi").await;
    assert_eq!(fake.attempts(Method::DraftsCreate), 2);
    assert_eq!(fake.drafts_created(), 1);
    fake.fail(Fault {
        method: Method::DraftsSend,
        skip: 0,
        kind: FaultKind::TooMany,
        times: 2,
    });
    let sent = gmail.send_draft(&draft.id).await.unwrap();
    assert_eq!(fake.attempts(Method::DraftsSend), 3);
    assert_eq!(fake.calls(Method::DraftsSend), 1);
    assert_eq!(fake.sent().len(), 1);
    assert_eq!(fake.sent()[0].id, sent.id);
}

#[tokio::test]
async fn a_5xx_after_gmail_sent_is_uncertain_not_retried_and_found_by_message_id() {
    let (fake, thread) = mailbox().await;
    let gmail = client(&fake);
    let (out, draft) = reply_draft(&gmail, &fake, &thread, "Hi").await;
    fake.fail(Fault {
        method: Method::DraftsSend,
        skip: 0,
        kind: FaultKind::AppliedThen(500),
        times: 1,
    });
    let err = gmail.send_draft(&draft.id).await.unwrap_err();
    match &err {
        GmailError::Uncertain { operation, detail } => {
            assert_eq!(operation, "users.drafts.send");
            assert_eq!(detail, "HTTP 500");
        }
        other => panic!("expected Uncertain, got {other:?}"),
    }
    assert!(
        err.to_string().contains("checks Gmail before trying again"),
        "{err}"
    );
    assert_eq!(fake.attempts(Method::DraftsSend), 1, "not retried");
    assert_eq!(fake.sent().len(), 1, "sent exactly once");

    // Reconciling: the Message-ID is in Sent.
    let found = gmail.find_message_by_rfc822_id(&out.message_id).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, fake.sent()[0].id);
    assert_eq!(found[0].thread_id.as_deref(), Some(thread.as_str()));
    assert_eq!(found[0].label_ids, Some(vec!["SENT".to_string()]));
    // Without brackets too; another id finds nothing.
    let bare = out.message_id.trim_matches(['<', '>']);
    assert_eq!(gmail.find_message_by_rfc822_id(bare).await.unwrap(), found);
    let other = new_message_id("seller.example");
    assert!(gmail.find_message_by_rfc822_id(&other).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_5xx_before_sending_is_uncertain_too_and_the_search_shows_a_draft() {
    let (fake, thread) = mailbox().await;
    let gmail = client(&fake);
    let (out, draft) = reply_draft(&gmail, &fake, &thread, "Hi").await;
    fake.fail(Fault {
        method: Method::DraftsSend,
        skip: 0,
        kind: FaultKind::Server(503),
        times: 1,
    });
    let err = gmail.send_draft(&draft.id).await.unwrap_err();
    assert!(matches!(err, GmailError::Uncertain { .. }), "{err:?}");
    assert_eq!(fake.attempts(Method::DraftsSend), 1, "not retried");
    assert!(fake.sent().is_empty());
    // The search tells the caller it is still only a draft: safe to send now.
    let found = gmail.find_message_by_rfc822_id(&out.message_id).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, draft.message.id);
    assert_eq!(found[0].label_ids, Some(vec!["DRAFT".to_string()]));
    gmail.send_draft(&draft.id).await.unwrap();
    assert_eq!(fake.sent().len(), 1);
    // Writes do not retry 5xx, but reads still do.
    fake.fail(Fault {
        method: Method::DraftsGet,
        skip: 0,
        kind: FaultKind::Server(503),
        times: 2,
    });
    assert!(gmail.draft(&draft.id).await.unwrap().is_none());
    assert_eq!(fake.attempts(Method::DraftsGet), 3);
}

#[tokio::test]
async fn a_timeout_on_send_is_uncertain_and_not_retried() {
    let (fake, thread) = mailbox().await;
    let gmail = impatient(&fake);
    let (out, draft) = reply_draft(&gmail, &fake, &thread, "Hi").await;
    fake.fail(Fault {
        method: Method::DraftsSend,
        skip: 0,
        kind: FaultKind::AppliedThenHang,
        times: 1,
    });
    let err = gmail.send_draft(&draft.id).await.unwrap_err();
    match &err {
        GmailError::Uncertain { detail, .. } => assert_eq!(detail, "timeout"),
        other => panic!("expected Uncertain, got {other:?}"),
    }
    assert_eq!(fake.attempts(Method::DraftsSend), 1, "not retried");
    assert_eq!(fake.sent().len(), 1);
    let found = gmail.find_message_by_rfc822_id(&out.message_id).await.unwrap();
    assert_eq!(found[0].label_ids, Some(vec!["SENT".to_string()]));
    // A timed-out create is uncertain as well (and was applied).
    fake.fail(Fault {
        method: Method::DraftsCreate,
        skip: 0,
        kind: FaultKind::AppliedThenHang,
        times: 1,
    });
    let second = reply_to(&fake, &thread, "Again");
    let err = gmail
        .create_draft(&compose(&second).unwrap(), Some(&thread))
        .await
        .unwrap_err();
    assert!(matches!(err, GmailError::Uncertain { .. }), "{err:?}");
    assert_eq!(fake.drafts_created(), 2);
    let found = gmail.find_message_by_rfc822_id(&second.message_id).await.unwrap();
    assert_eq!(found[0].label_ids, Some(vec!["DRAFT".to_string()]));
}

#[tokio::test]
async fn a_401_on_a_write_refreshes_the_token_once_and_succeeds() {
    let (fake, thread) = mailbox().await;
    let (gmail, tokens) = refreshing_client(&fake);
    gmail.profile().await.unwrap();
    let refreshes = tokens.refreshes();
    fake.expire_token();
    let (_, draft) = reply_draft(&gmail, &fake, &thread, "Hi").await;
    assert_eq!(tokens.refreshes(), refreshes + 1);
    assert_eq!(fake.attempts(Method::DraftsCreate), 2);
    assert_eq!(fake.drafts_created(), 1);
    // A 401 served on send: one refresh, one send.
    fake.fail(Fault {
        method: Method::DraftsSend,
        skip: 0,
        kind: FaultKind::Unauthorized,
        times: 1,
    });
    gmail.send_draft(&draft.id).await.unwrap();
    assert_eq!(tokens.refreshes(), refreshes + 2);
    assert_eq!(fake.attempts(Method::DraftsSend), 2);
    assert_eq!(fake.sent().len(), 1);
    // A 401 that persists after the refresh: Unauthorized, nothing more sent.
    let again = reply_to(&fake, &thread, "Again");
    let d2 = gmail
        .create_draft(&compose(&again).unwrap(), Some(&thread))
        .await
        .unwrap();
    fake.fail(Fault {
        method: Method::DraftsSend,
        skip: 0,
        kind: FaultKind::Unauthorized,
        times: 2,
    });
    let err = gmail.send_draft(&d2.id).await.unwrap_err();
    assert!(matches!(err, GmailError::Unauthorized), "{err:?}");
    assert_eq!(fake.sent().len(), 1);
}

#[tokio::test]
async fn write_quota_units_are_counted() {
    let (fake, thread) = mailbox().await;
    let gmail = client(&fake);
    let out = reply_to(&fake, &thread, "Hi");
    let raw = compose(&out).unwrap();
    let d = gmail.create_draft(&raw, Some(&thread)).await.unwrap();
    assert_eq!(gmail.units(), 10);
    gmail.update_draft(&d.id, &raw, Some(&thread)).await.unwrap();
    assert_eq!(gmail.units(), 25);
    gmail.send_draft(&d.id).await.unwrap();
    assert_eq!(gmail.units(), 125);
    let d2 = gmail.create_draft(&raw, None).await.unwrap();
    assert!(gmail.delete_draft(&d2.id).await.unwrap());
    assert_eq!(gmail.units(), 145);
    // One list and one minimal get per match.
    assert_eq!(
        gmail
            .find_message_by_rfc822_id(&out.message_id)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(gmail.units(), 155);
    assert_eq!(fake.units(), 155);
    assert_eq!(gmail.requests(), 7);
}

/// A client for a bare local server (its breaker never opens: every attempt is counted).
fn client_for(base: &str) -> GmailClient {
    let tokens = TokenSource::fixed(SecretString::from(TOKEN.to_string()));
    let options = GmailOptions {
        breaker_failures: 100,
        ..options()
    };
    GmailClient::new(base, Arc::new(tokens), options).unwrap()
}

/// Serves each connection by reading one whole request, then answering `answer` (possibly
/// cut short) and closing. Counts connections.
async fn one_shot_server(answer: &'static [u8]) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let n = sock.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text[..end]
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + length {
                        break;
                    }
                }
            }
            let _ = sock.write_all(answer).await;
            let _ = sock.shutdown().await;
        }
    });
    (base, seen)
}

#[tokio::test]
async fn a_connection_lost_after_sending_or_a_cut_off_answer_is_uncertain() {
    // The request is read in full, then the connection closes without an answer.
    let (base, seen) = one_shot_server(b"").await;
    let err = client_for(&base).send_draft("r1").await.unwrap_err();
    assert!(
        matches!(&err, GmailError::Uncertain { detail, .. } if detail == "connection lost"),
        "{err:?}"
    );
    assert_eq!(seen.load(Ordering::SeqCst), 1, "not retried");
    // A 200 whose body stops half-way.
    let (base, seen) = one_shot_server(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"id\": \"18c",
    )
    .await;
    let err = client_for(&base).send_draft("r1").await.unwrap_err();
    assert!(
        matches!(&err, GmailError::Uncertain { detail, .. } if detail == "HTTP 200, answer cut off"),
        "{err:?}"
    );
    assert_eq!(seen.load(Ordering::SeqCst), 1, "not retried");
    // The same for a read is retried.
    let (base, seen) = one_shot_server(b"").await;
    let err = client_for(&base).profile().await.unwrap_err();
    assert!(matches!(err, GmailError::Network { .. }), "{err:?}");
    assert_eq!(seen.load(Ordering::SeqCst), 6, "every attempt");
}

#[tokio::test]
async fn a_refused_connection_is_safe_to_retry_and_ends_as_a_network_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let gmail = client_for(&base);
    let err = gmail
        .create_draft(b"To: a@b.example\r\n\r\nx", None)
        .await
        .unwrap_err();
    assert!(matches!(err, GmailError::Network { .. }), "{err:?}");
    assert_eq!(gmail.requests(), 6, "every attempt was made");
}
