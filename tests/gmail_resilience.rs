//! Gmail sync when things go wrong: quota errors, server errors, slow answers, malformed
//! pages, expired and revoked tokens, and syncs killed half-way — each converges to the same
//! mirror or stops with an error that says what to do, keeping what was stored.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support {
    pub mod fake_gmail;
    pub mod gmail_client;
}

use std::time::Duration;

use caseyos::connectors::gmail::client::{GmailError, GmailOptions};
use caseyos::sync::gmail::{SyncError, SyncOptions, sync};
use support::fake_gmail::{FakeGmail, Fault, FaultKind, Method, NewMessage};
use support::gmail_client::{
    Mirror, client, client_with, first_sync, full, options, refreshing_client, run, t0,
};

/// What the tests compare: every message row and every draft (by content: draft ids are the
/// fake's own), one line each.
fn digest(m: &Mirror) -> Vec<String> {
    let mut lines: Vec<String> = m.rows().iter().map(|r| format!("{r:?}")).collect();
    let mut drafts: Vec<String> = m
        .store
        .drafts()
        .unwrap()
        .iter()
        .map(|d| format!("draft {:?} {:?} {:?} {:?}", d.to, d.subject, d.body, d.thread_id))
        .collect();
    drafts.sort();
    lines.extend(drafts);
    lines
}

/// Asserts two digests are equal, showing only the first difference.
#[track_caller]
fn assert_same(got: &[String], want: &[String], what: &str) {
    if let Some((g, w)) = got.iter().zip(want).find(|(g, w)| g != w) {
        panic!("{what}: first difference\n got: {g}\nwant: {w}");
    }
    assert_eq!(got.len(), want.len(), "{what}: line count");
}

/// Some of everything: new messages, label changes, deletions, a draft.
fn change(fake: &FakeGmail) {
    let truth = fake.truth();
    for (i, t) in truth.iter().take(12).enumerate() {
        fake.add_message(NewMessage {
            thread_id: Some(t.thread_id.clone()),
            from: format!("Replier {i} <replier{i}@acme.example>"),
            subject: format!("Re: {}", t.subject),
            text: format!("Reply number {i}"),
            ..NewMessage::default()
        });
    }
    for t in &truth[20..35] {
        fake.add_labels(&t.id, &["STARRED"]);
    }
    for t in &truth[40..46] {
        fake.delete(&t.id);
    }
    fake.create_draft(None, "kim@gamma.example", "Pricing", "A new draft");
}

/// Runs a sync and drops it (like a killed task) at its `stop_after`-th progress report;
/// returns whether it finished first.
async fn sync_until(fake: &FakeGmail, m: &mut Mirror, options: &SyncOptions, stop_after: u64) -> bool {
    let stop = tokio::sync::Notify::new();
    let client = client(fake);
    let mut reports = 0;
    let run = sync(&client, &mut m.store, options, t0(), |_| {
        reports += 1;
        if reports == stop_after {
            stop.notify_one();
        }
    });
    tokio::select! {
        biased;
        done = run => {
            done.unwrap();
            true
        }
        () = stop.notified() => false,
    }
}

struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

#[tokio::test]
async fn a_sync_killed_at_random_points_resumes_and_converges_to_the_same_mirror() {
    let small_pages = SyncOptions {
        page_size: 60,
        ..SyncOptions::default()
    };
    let reference = FakeGmail::with_mailbox(500, 150).await;
    let mut expected = Mirror::new();
    sync(
        &client(&reference),
        &mut expected.store,
        &small_pages,
        t0(),
        |_| {},
    )
    .await
    .unwrap();
    let first = digest(&expected);
    change(&reference);
    run(&reference, &mut expected.store).await;
    let changed = digest(&expected);
    assert_ne!(first, changed);

    for seed in [3_u64, 11, 2026] {
        let mut rng = Lcg(seed);
        let fake = FakeGmail::with_mailbox(500, 150).await;
        let mut m = Mirror::new();
        // The listing reports after each of its 9 pages: killed every 1–4 reports until done.
        let mut kills = 0;
        while !sync_until(&fake, &mut m, &small_pages, 1 + rng.below(4)).await {
            kills += 1;
            assert!(kills < 40, "the listing makes progress between kills");
        }
        assert!(kills >= 2, "seed {seed}: killed {kills} times");
        assert_same(&digest(&m), &first, &format!("seed {seed}: first sync"));
        // Resuming never fetched a message twice beyond whole-thread overlaps.
        assert!(fake.calls(Method::MessagesGet) + fake.calls(Method::ThreadsGet) < 500);

        // The incremental sync, killed after reading the history or after fetching.
        change(&fake);
        let mut kills = 0;
        while !sync_until(&fake, &mut m, &SyncOptions::default(), 1 + rng.below(2)).await {
            kills += 1;
            assert!(kills < 20);
        }
        assert_same(&digest(&m), &changed, &format!("seed {seed}: after the changes"));
        // Nothing is left half done: the next run finds nothing new.
        fake.clear_log();
        let next = run(&fake, &mut m.store).await;
        assert_eq!((next.requests, next.fetched), (1, 0), "seed {seed}");
    }
}

#[tokio::test]
async fn quota_errors_back_off_and_the_mirror_converges() {
    let reference = FakeGmail::with_mailbox(300, 90).await;
    let expected = first_sync(&reference).await;
    for (seed, kind) in [
        (1_u64, FaultKind::UserRateLimit),
        (2, FaultKind::RateLimit),
        (3, FaultKind::TooMany),
        (4, FaultKind::Server(503)),
    ] {
        let fake = FakeGmail::with_mailbox(300, 90).await;
        // One call in eight fails.
        fake.random_faults(125, seed, kind.clone());
        let mut m = Mirror::new();
        let summary = run(&fake, &mut m.store).await;
        assert_same(&digest(&m), &digest(&expected), &format!("{kind:?}"));
        let attempts = fake.attempts(Method::MessagesGet) + fake.attempts(Method::ThreadsGet);
        let calls = fake.calls(Method::MessagesGet) + fake.calls(Method::ThreadsGet);
        assert!(attempts > calls, "{kind:?}: some calls were refused and retried");
        assert_eq!(
            summary.requests as usize,
            fake.log().len().max(summary.requests as usize)
        );
        // Each refusal is in the telemetry as an error with its reason.
        let errors = m.count("SELECT count(*) FROM telemetry WHERE event = 'integration_error'");
        assert!(errors > 0, "{kind:?}");
    }
}

#[tokio::test]
async fn the_quota_budget_is_spent_only_once_per_attempt_and_counted() {
    let fake = FakeGmail::with_mailbox(200, 60).await;
    fake.fail(Fault {
        method: Method::MessagesList,
        skip: 0,
        kind: FaultKind::UserRateLimit,
        times: 2,
    });
    let mut m = Mirror::new();
    let summary = run(&fake, &mut m.store).await;
    // Two refused list calls cost the client 5 units each on top of what Gmail charged.
    assert_eq!(summary.units, fake.units() + 2 * 5);
    assert_eq!(fake.attempts(Method::MessagesList), 3);
    let reasons = m.count(
        "SELECT count(*) FROM telemetry WHERE event = 'integration_error' AND payload LIKE '%userRateLimitExceeded%'",
    );
    assert_eq!(reasons, 2);
}

#[tokio::test]
async fn the_daily_limit_stops_at_once_with_a_clear_error_and_keeps_earlier_pages() {
    let fake = FakeGmail::with_mailbox(400, 120).await;
    let mut m = Mirror::new();
    let small_pages = SyncOptions {
        page_size: 100,
        ..SyncOptions::default()
    };
    fake.fail(Fault {
        method: Method::MessagesList,
        skip: 2,
        kind: FaultKind::DailyLimit,
        times: 1,
    });
    let err = sync(&client(&fake), &mut m.store, &small_pages, t0(), |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, SyncError::Gmail(GmailError::DailyLimit)), "{err}");
    assert!(err.to_string().contains("daily quota"), "{err}");
    assert_eq!(
        fake.attempts(Method::MessagesList),
        3,
        "no retry against a spent day"
    );
    let kept = m.count("SELECT count(*) FROM gmail_pending");
    assert_eq!(kept, 200, "the two pages that landed stay listed");
    // Tomorrow the listing resumes where it stopped.
    fake.clear_log();
    sync(&client(&fake), &mut m.store, &small_pages, t0(), |_| {})
        .await
        .unwrap();
    assert_eq!(m.rows().len(), 400);
    assert_eq!(fake.calls(Method::MessagesList), 2);
    assert_eq!(m.count("SELECT count(*) FROM gmail_pending"), 0);
}

#[tokio::test]
async fn a_malformed_answer_keeps_what_landed_and_the_next_run_resumes() {
    let fake = FakeGmail::with_mailbox(300, 90).await;
    let reference = FakeGmail::with_mailbox(300, 90).await;
    let expected = first_sync(&reference).await;
    // A broken list page, then (next run) a broken thread among the fetches.
    fake.fail(Fault {
        method: Method::MessagesList,
        skip: 1,
        kind: FaultKind::Malformed,
        times: 1,
    });
    let small_pages = SyncOptions {
        page_size: 100,
        ..SyncOptions::default()
    };
    let mut m = Mirror::new();
    let err = sync(&client(&fake), &mut m.store, &small_pages, t0(), |_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("malformed"), "{err}");
    assert!(err.to_string().contains("nothing from it was stored"), "{err}");
    assert_eq!(
        m.count("SELECT count(*) FROM gmail_pending"),
        100,
        "the first page stays listed"
    );
    // The listing resumes at the second page; one thread's answer is broken: it is skipped
    // (counted and logged) instead of holding the whole sync back.
    let whole = fake
        .thread_ids()
        .iter()
        .filter(|t| fake.thread(t).len() >= 2)
        .count();
    fake.fail(Fault {
        method: Method::ThreadsGet,
        skip: whole * 2 / 3,
        kind: FaultKind::Malformed,
        times: 1,
    });
    fake.clear_log();
    let summary = sync(&client(&fake), &mut m.store, &small_pages, t0(), |_| {})
        .await
        .unwrap();
    assert_eq!(summary.skipped, 1, "{}", summary.describe());
    assert_eq!(
        fake.calls(Method::MessagesList),
        2,
        "resumed after the first page"
    );
    let missing = 300 - m.rows().len();
    assert!(missing >= 2, "the broken thread is not mirrored");
    // A full sync brings it in.
    sync(&client(&fake), &mut m.store, &full(), t0(), |_| {})
        .await
        .unwrap();
    assert_same(&digest(&m), &digest(&expected), "converged");
}

#[tokio::test]
async fn slow_answers_time_out_and_are_retried() {
    let fake = FakeGmail::with_mailbox(100, 30).await;
    let reference = FakeGmail::with_mailbox(100, 30).await;
    let expected = first_sync(&reference).await;
    fake.fail(Fault {
        method: Method::MessagesGet,
        skip: 3,
        kind: FaultKind::Slow(Duration::from_secs(30)),
        times: 2,
    });
    let impatient = GmailOptions {
        timeout: Duration::from_secs(1),
        ..options()
    };
    let mut m = Mirror::new();
    sync(
        &client_with(&fake, impatient),
        &mut m.store,
        &SyncOptions::default(),
        t0(),
        |_| {},
    )
    .await
    .unwrap();
    assert_same(&digest(&m), &digest(&expected), "converged");
    let timeouts = m.count(
        "SELECT count(*) FROM telemetry WHERE event = 'integration_error' AND payload LIKE '%timeout%'",
    );
    assert_eq!(timeouts, 2);
}

#[tokio::test]
async fn an_expired_access_token_is_refreshed_once_even_with_requests_in_flight() {
    let fake = FakeGmail::with_mailbox(300, 90).await;
    let (client, tokens) = refreshing_client(&fake);
    let mut m = Mirror::new();
    sync(&client, &mut m.store, &SyncOptions::default(), t0(), |_| {})
        .await
        .unwrap();
    assert_eq!(tokens.refreshes(), 1, "the first request needs a token");
    let sent = fake.token_requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].get("grant_type").map(String::as_str),
        Some("refresh_token")
    );
    assert_eq!(
        sent[0].get("client_id").map(String::as_str),
        Some("casey-test-client.apps.example")
    );
    assert!(sent[0].contains_key("client_secret"));

    // The access token stops working while eight requests are in flight: each gets a 401,
    // one refresh serves them all, and each request is retried once with the new token.
    fake.fail(Fault {
        method: Method::ThreadsGet,
        skip: 0,
        kind: FaultKind::Unauthorized,
        times: 8,
    });
    let summary = sync(&client, &mut m.store, &full(), t0(), |_| {}).await.unwrap();
    assert_eq!(
        fake.attempts(Method::ThreadsGet) - fake.calls(Method::ThreadsGet),
        8
    );
    assert_eq!(tokens.refreshes(), 2, "one refresh for eight rejections");
    assert_eq!(fake.token_requests().len(), 2);
    assert_eq!(summary.fetched, 300);

    // The token expires for real: refreshed again, and the new one is used from then on.
    change(&fake);
    fake.expire_token();
    let summary = run_with_client(&client, &mut m).await;
    assert_eq!(tokens.refreshes(), 3);
    assert!(summary.fetched >= 12);
    let expected = FakeGmail::with_mailbox(300, 90).await;
    change(&expected);
    let mut reference = Mirror::new();
    run(&expected, &mut reference.store).await;
    assert_eq!(m.rows().len(), reference.rows().len());
}

async fn run_with_client(
    client: &caseyos::connectors::gmail::client::GmailClient,
    m: &mut Mirror,
) -> caseyos::sync::gmail::Summary {
    sync(client, &mut m.store, &SyncOptions::default(), t0(), |_| {})
        .await
        .unwrap()
}

#[tokio::test]
async fn a_revoked_sign_in_says_to_run_casey_auth_google_and_keeps_the_mirror() {
    let fake = FakeGmail::with_mailbox(120, 40).await;
    let (refreshing, _) = refreshing_client(&fake);
    let mut m = Mirror::new();
    sync(&refreshing, &mut m.store, &SyncOptions::default(), t0(), |_| {})
        .await
        .unwrap();
    let before = digest(&m);
    fake.revoke_refresh_token();
    fake.expire_token();
    fake.add_message(NewMessage {
        from: "Someone <someone@example.com>".into(),
        subject: "hello".into(),
        text: "hi".into(),
        ..NewMessage::default()
    });
    let err = sync(&refreshing, &mut m.store, &SyncOptions::default(), t0(), |_| {})
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("invalid_grant") && text.contains("casey auth google"),
        "{text}"
    );
    assert!(text.contains("offline"), "{text}");
    assert_same(&digest(&m), &before, "nothing stored is lost");

    // A fixed token that expires cannot be refreshed: the same advice.
    let fixed = client(&fake);
    let err = sync(&fixed, &mut m.store, &SyncOptions::default(), t0(), |_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("casey auth google"), "{err}");
}

#[tokio::test]
async fn a_failing_gmail_opens_the_breaker_instead_of_hammering_it() {
    let fake = FakeGmail::with_mailbox(50, 10).await;
    fake.fail(Fault {
        method: Method::Profile,
        skip: 0,
        kind: FaultKind::Server(500),
        times: 1_000,
    });
    let opts = GmailOptions {
        breaker_failures: 3,
        breaker_cooldown: Duration::from_secs(600),
        ..options()
    };
    let c = client_with(&fake, opts);
    let mut m = Mirror::new();
    let err = sync(&c, &mut m.store, &SyncOptions::default(), t0(), |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(err, SyncError::Gmail(GmailError::Unavailable { .. })),
        "{err}"
    );
    assert_eq!(fake.attempts(Method::Profile), 3);
    // The next sync does not even ask.
    let err = sync(&c, &mut m.store, &SyncOptions::default(), t0(), |_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("pauses requests"), "{err}");
    assert_eq!(fake.attempts(Method::Profile), 3);
}

#[tokio::test]
async fn a_message_gmail_cannot_describe_is_skipped_and_the_sync_moves_on() {
    let fake = FakeGmail::with_mailbox(60, 20).await;
    let mut m = first_sync(&fake).await;
    for i in 0..2 {
        fake.add_message(NewMessage {
            from: format!("Sender {i} <sender{i}@example.com>"),
            subject: format!("New {i}"),
            text: "hello".into(),
            ..NewMessage::default()
        });
    }
    fake.fail(Fault {
        method: Method::MessagesGet,
        skip: 0,
        kind: FaultKind::Malformed,
        times: 1,
    });
    let summary = run(&fake, &mut m.store).await;
    assert_eq!(
        (summary.fetched, summary.skipped),
        (1, 1),
        "{}",
        summary.describe()
    );
    assert!(summary.describe().contains("1 unreadable"));
    // The history moved on: the next sync does not get stuck on it.
    fake.clear_log();
    let next = run(&fake, &mut m.store).await;
    assert_eq!((next.requests, next.fetched), (1, 0));
    assert_eq!(m.rows().len(), 61);
}
