//! Gmail sync against the local fake: an exact first sync, incremental syncs that fetch only
//! what changed, the expired-history resync, drafts, replies, the window and contact links.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support {
    pub mod fake_gmail;
    pub mod gmail_client;
}

use std::collections::{BTreeMap, HashSet};

use caseyos::config::Config;
use caseyos::domain::entities::Contact;
use caseyos::domain::moves::{MoveKind, MoveState};
use caseyos::store::{MirrorBatch, Store};
use caseyos::sync::gmail::{SyncOptions, sync};
use support::fake_gmail::{FakeGmail, Method, NewMessage, OPERATOR, Truth};
use support::gmail_client::{Mirror, client, first_sync, full, run, sorted, t0};

/// The address in a header value like `"Doe, Jane" <Jane@X.example>`, lower-cased.
fn address(header: &str) -> String {
    match (header.rfind('<'), header.rfind('>')) {
        (Some(a), Some(b)) if a < b => header[a + 1..b].trim().to_ascii_lowercase(),
        _ => header.trim().to_ascii_lowercase(),
    }
}

fn words(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Asserts the mirror holds exactly `expected` (the fake's ground truth, drafts excluded).
fn assert_mirrors(m: &Mirror, expected: &[Truth]) {
    let rows = m.rows();
    let got: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let want: Vec<&str> = expected.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(got.len(), want.len(), "message count");
    assert_eq!(got, want, "message ids");
    for (r, t) in rows.iter().zip(expected) {
        assert_eq!(r.thread_id, t.thread_id, "{}: thread", t.id);
        assert_eq!(
            sorted(r.labels.clone()),
            sorted(t.labels.clone()),
            "{}: labels",
            t.id
        );
        assert_eq!(r.at_ms, t.internal_date_ms, "{}: date", t.id);
        assert_eq!(r.from, address(&t.from), "{}: sender", t.id);
        assert_eq!(r.subject, t.subject, "{}: subject", t.id);
        assert_eq!(
            r.message_id.as_deref(),
            Some(t.message_id.as_str()),
            "{}: Message-ID",
            t.id
        );
        assert_eq!(r.in_reply_to, t.in_reply_to, "{}: In-Reply-To", t.id);
        assert_eq!(r.references, t.references, "{}: References", t.id);
        assert_eq!(r.outbound, address(&t.from) == OPERATOR, "{}: direction", t.id);
        if t.html_only {
            assert_eq!(words(&r.body), words(&t.text), "{}: html body", t.id);
        } else {
            assert_eq!(r.body, t.text, "{}: body", t.id);
        }
    }
}

/// HubSpot contacts for the first `n` correspondents of the fake.
fn contacts_for(fake: &FakeGmail, n: usize) -> Vec<Contact> {
    fake.correspondents()
        .into_iter()
        .take(n)
        .enumerate()
        .map(|(i, email)| Contact {
            id: format!("c{i}"),
            email: Some(email),
            first_name: Some(format!("Person {i}")),
            last_name: None,
            company_name: None,
            company_id: None,
            job_title: None,
            lifecycle_stage: Some("lead".into()),
            created_at: None,
            updated_at: None,
            recent_conversion_at: None,
            recent_conversion_event: None,
        })
        .collect()
}

fn add_contacts(store: &mut Store, contacts: &[Contact]) {
    let batch = MirrorBatch {
        contacts: contacts.iter().map(|c| (c.clone(), "{}".to_string())).collect(),
        ..MirrorBatch::default()
    };
    store.apply_batch(&batch).unwrap();
}

#[tokio::test]
async fn first_sync_of_2000_messages_in_600_threads_mirrors_exactly() {
    let fake = FakeGmail::with_mailbox(2_000, 600).await;
    let mut m = Mirror::new();
    // Half the people are known in HubSpot, some of them before the sync and some after.
    let contacts = contacts_for(&fake, 80);
    add_contacts(&mut m.store, &contacts[..40]);
    let mut pages = 0;
    let summary = sync(
        &client(&fake),
        &mut m.store,
        &SyncOptions::default(),
        t0(),
        |_| pages += 1,
    )
    .await
    .unwrap();
    add_contacts(&mut m.store, &contacts[40..]);

    let truth = fake.truth();
    assert_eq!(truth.len(), 2_000);
    assert_mirrors(&m, &truth);
    assert_eq!(summary.fetched, 2_000);
    assert_eq!((summary.deleted, summary.skipped, summary.replies), (0, 0, 0));
    assert!(pages >= 4, "progress after each of the 4 list pages");

    // Threads grouped as Gmail groups them.
    let mut sizes: BTreeMap<String, i64> = BTreeMap::new();
    for t in &truth {
        *sizes.entry(t.thread_id.clone()).or_default() += 1;
    }
    assert_eq!(sizes.len(), 600);
    let stored: BTreeMap<String, i64> = {
        let c = m.sql();
        let mut st = c.prepare("SELECT id, message_count FROM threads").unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    };
    assert_eq!(stored, sizes);
    assert_eq!(
        m.store.setting("operator_email").unwrap().as_deref(),
        Some(OPERATOR)
    );

    // Every message fetched exactly once: whole threads in one call where that is cheaper.
    let by_thread: usize = fake
        .log()
        .iter()
        .filter(|(method, _)| *method == Method::ThreadsGet)
        .map(|(_, id)| fake.thread(id).len())
        .sum();
    let distinct: HashSet<String> = fake
        .log()
        .iter()
        .flat_map(|(method, id)| match method {
            Method::ThreadsGet => fake.thread(id),
            Method::MessagesGet => vec![id.clone()],
            _ => vec![],
        })
        .collect();
    assert_eq!(distinct.len(), 2_000);
    assert_eq!(
        by_thread + fake.calls(Method::MessagesGet),
        2_000,
        "no message fetched twice"
    );
    // The fewest units that fetch every message: each thread whole (10) or its only message (5).
    let floor: u64 = 1
        + 4 * 5
        + 5
        + fake
            .thread_ids()
            .iter()
            .map(|t| (5 * fake.thread(t).len() as u64).min(10))
            .sum::<u64>();
    assert_eq!(summary.units, floor);
    assert!(fake.calls(Method::ThreadsGet) > 0 && fake.calls(Method::MessagesGet) > 0);
    assert_eq!(fake.calls(Method::MessagesList), 4);
    assert_eq!(
        summary.units,
        fake.units(),
        "the client counts what Gmail charges"
    );
    assert!(
        summary.units < 5 * 2_000,
        "cheaper than one messages.get per message: {} units",
        summary.units
    );

    // Contacts are linked by address, also those mirrored after the messages.
    let known: BTreeMap<String, String> = contacts
        .iter()
        .map(|c| (c.email.clone().unwrap(), c.id.clone()))
        .collect();
    let mut linked = 0;
    for t in &truth {
        let mut expected: Vec<String> = std::iter::once(t.from.as_str())
            .chain(t.to.split(','))
            .chain(t.cc.iter().flat_map(|c| c.split(',')))
            .filter_map(|h| known.get(&address(h)).cloned())
            .collect();
        expected.sort();
        expected.dedup();
        let got: Vec<String> = m
            .store
            .contacts_of_message(&t.id)
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(got, expected, "{}: linked contacts", t.id);
        linked += usize::from(!got.is_empty());
    }
    assert!(linked > 500, "{linked} messages linked");
    let of_first = m.store.messages_of_contact("c0").unwrap();
    assert!(!of_first.is_empty());
    for id in &of_first {
        let t = fake.message(id).unwrap();
        assert!(
            [t.from.as_str(), t.to.as_str(), t.cc.as_deref().unwrap_or("")]
                .join(",")
                .to_ascii_lowercase()
                .contains(contacts[0].email.as_deref().unwrap())
        );
    }
}

#[tokio::test]
async fn an_incremental_sync_fetches_only_new_messages_and_applies_labels_and_deletions() {
    let fake = FakeGmail::with_mailbox(400, 120).await;
    let mut m = first_sync(&fake).await;
    let truth = fake.truth();
    fake.clear_log();

    // New mail: two replies in existing threads and a new thread.
    let t1 = &truth[10];
    let r1 = fake.add_message(NewMessage {
        thread_id: Some(t1.thread_id.clone()),
        from: "Dana Buyer <dana@acme.example>".into(),
        subject: format!("Re: {}", t1.subject),
        text: "Sounds good, send the contract.".into(),
        in_reply_to: Some(t1.message_id.clone()),
        ..NewMessage::default()
    });
    let t2 = truth[200..].iter().find(|t| t.thread_id != t1.thread_id).unwrap();
    let r2 = fake.add_message(NewMessage {
        thread_id: Some(t2.thread_id.clone()),
        from: format!("Morgan Seller <{OPERATOR}>"),
        to: "someone@else.example".into(),
        subject: format!("Re: {}", t2.subject),
        text: "Following up.".into(),
        labels: vec!["SENT".into()],
        ..NewMessage::default()
    });
    let r3 = fake.add_message(NewMessage {
        from: "New Lead <lead@new.example>".into(),
        subject: "Pricing question".into(),
        text: "How much for 50 seats?".into(),
        ..NewMessage::default()
    });
    // Label changes on ten messages, and four deletions.
    for t in &truth[20..30] {
        fake.add_labels(&t.id, &["STARRED", "IMPORTANT"]);
        fake.remove_labels(&t.id, &["UNREAD", "IMPORTANT"]);
    }
    for t in &truth[50..54] {
        fake.delete(&t.id);
    }
    let summary = run(&fake, &mut m.store).await;

    assert_mirrors(&m, &fake.truth());
    assert_eq!(summary.fetched, 3);
    assert_eq!(summary.deleted, 4);
    let relabelled = truth[20..30]
        .iter()
        .filter(|t| {
            let now = fake.message(&t.id).unwrap().labels;
            sorted(now) != sorted(t.labels.clone())
        })
        .count();
    assert_eq!(summary.relabelled as usize, relabelled);
    let fetched: HashSet<String> = fake
        .log()
        .into_iter()
        .filter(|(method, _)| *method == Method::MessagesGet)
        .map(|(_, id)| id)
        .collect();
    assert_eq!(fetched, HashSet::from([r1, r2, r3]), "only the new messages");
    assert_eq!(fake.calls(Method::ThreadsGet), 0);
    assert_eq!(fake.calls(Method::MessagesList), 0, "no listing");
    assert_eq!(fake.calls(Method::HistoryList), 1);
    assert_eq!(fake.calls(Method::Profile), 0);

    // Nothing changed: one history page, two quota units.
    fake.clear_log();
    let quiet = run(&fake, &mut m.store).await;
    assert_eq!((quiet.requests, quiet.units, quiet.fetched), (1, 2, 0));
    assert_mirrors(&m, &fake.truth());
}

#[tokio::test]
async fn an_expired_history_triggers_exactly_one_full_listing_and_converges() {
    let fake = FakeGmail::with_mailbox(300, 90).await;
    let mut m = first_sync(&fake).await;
    let truth = fake.truth();
    // A week offline: changes happen and Gmail forgets the history behind them.
    for t in &truth[0..5] {
        fake.delete(&t.id);
    }
    for t in &truth[5..15] {
        fake.add_labels(&t.id, &["STARRED"]);
    }
    let new = fake.add_message(NewMessage {
        from: "Late Reply <late@example.com>".into(),
        subject: "Back from holiday".into(),
        text: "Let's talk next week.".into(),
        ..NewMessage::default()
    });
    fake.forget_history();
    fake.clear_log();

    let summary = run(&fake, &mut m.store).await;
    assert!(summary.resynced, "{}", summary.describe());
    assert!(summary.describe().contains("history had expired"));
    assert_eq!(
        fake.attempts(Method::HistoryList),
        1,
        "asked the history once, no loop"
    );
    assert_eq!(fake.calls(Method::Profile), 1, "one fresh start point");
    assert_eq!(fake.calls(Method::MessagesList), 1, "one listing");
    assert_eq!(summary.deleted, 5, "messages deleted meanwhile are gone");
    assert_mirrors(&m, &fake.truth());
    assert!(m.rows().iter().any(|r| r.id == new));

    // Converged: the next sync is incremental again, from the history id of the listing.
    fake.clear_log();
    let next = run(&fake, &mut m.store).await;
    assert!(!next.resynced);
    assert_eq!(
        (fake.calls(Method::HistoryList), fake.calls(Method::MessagesList)),
        (1, 0)
    );
    assert_eq!(next.fetched, 0);
}

#[tokio::test]
async fn a_full_sync_lists_again_and_removes_what_left_the_window() {
    let fake = FakeGmail::with_mailbox(120, 40).await;
    fake.add_old_threads(6, 3);
    let mut m = first_sync(&fake).await;
    let in_window: Vec<Truth> = fake
        .truth()
        .into_iter()
        .filter(|t| t.internal_date_ms > (t0() - chrono::Duration::days(180)).timestamp_millis())
        .collect();
    assert_eq!(in_window.len(), 120, "old threads are outside newer_than:180d");
    assert_mirrors(&m, &in_window);

    for t in &in_window[0..3] {
        fake.delete(&t.id);
    }
    let summary = sync(&client(&fake), &mut m.store, &full(), t0(), |_| {})
        .await
        .unwrap();
    assert_eq!(summary.deleted, 3);
    assert_eq!(summary.fetched, 117, "a full sync refreshes every message");
    let expected: Vec<Truth> = in_window[3..].to_vec();
    assert_mirrors(&m, &expected);
}

#[tokio::test]
async fn drafts_are_mirrored_and_only_changed_drafts_are_fetched_again() {
    let fake = FakeGmail::with_mailbox(60, 20).await;
    let thread = fake.truth()[0].thread_id.clone();
    let d1 = fake.create_draft(Some(&thread), "dana@acme.example", "Re: renewal", "Draft one");
    let d2 = fake.create_draft(None, "lee@beta.example", "Intro", "Draft two");
    let d3 = fake.create_draft(None, "kim@gamma.example", "Pricing", "Draft three");
    let mut m = first_sync(&fake).await;
    let drafts = m.store.drafts().unwrap();
    assert_eq!(drafts.len(), 3);
    let first = drafts.iter().find(|d| d.id == d1).unwrap();
    assert_eq!(first.thread_id.as_deref(), Some(thread.as_str()));
    assert_eq!(first.body, "Draft one");
    assert_eq!(first.to[0].email, "dana@acme.example");
    assert!(first.in_reply_to.is_some(), "a reply draft knows what it answers");
    assert_eq!(
        m.count("SELECT count(*) FROM messages WHERE labels_json LIKE '%DRAFT%'"),
        0
    );

    fake.update_draft(&d2, "Draft two, edited");
    fake.delete_draft(&d3);
    fake.clear_log();
    let summary = run(&fake, &mut m.store).await;
    let drafts = m.store.drafts().unwrap();
    let ids: HashSet<&str> = drafts.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, HashSet::from([d1.as_str(), d2.as_str()]));
    assert_eq!(
        drafts.iter().find(|d| d.id == d2).unwrap().body,
        "Draft two, edited"
    );
    assert_eq!(fake.calls(Method::DraftsGet), 1, "only the edited draft");
    assert_eq!(fake.calls(Method::MessagesGet), 0, "draft saves are not messages");
    assert_eq!(summary.drafts, 2);

    // The operator edits d1 here; a later save in Gmail does not overwrite the edit.
    m.store
        .update_draft_body(&d1, "My edit, not sent yet", t0())
        .unwrap();
    fake.update_draft(&d1, "Gmail's version");
    run(&fake, &mut m.store).await;
    let body = |m: &Mirror, id: &str| {
        m.store
            .drafts()
            .unwrap()
            .into_iter()
            .find(|d| d.id == id)
            .map(|d| d.body)
    };
    assert_eq!(body(&m, &d1).as_deref(), Some("My edit, not sent yet"));
    // Sent or deleted in Gmail: gone here too, edited or not (approving it would send it twice).
    fake.delete_draft(&d1);
    run(&fake, &mut m.store).await;
    assert_eq!(body(&m, &d1), None);
    assert!(body(&m, &d2).is_some());
}

#[tokio::test]
async fn a_reply_to_our_message_is_detected_and_recorded_as_the_outcome_of_the_follow_up() {
    let fake = FakeGmail::with_mailbox(200, 60).await;
    let mut m = first_sync(&fake).await;
    // A thread whose last message is ours.
    let thread = fake
        .thread_ids()
        .into_iter()
        .find(|t| {
            let ids = fake.thread(t);
            let last = fake.message(ids.last().unwrap()).unwrap();
            address(&last.from) == OPERATOR && ids.len() >= 2
        })
        .unwrap();
    let last = fake.message(fake.thread(&thread).last().unwrap()).unwrap();
    let key = format!("follow_up:thread:{thread}");
    m.store
        .record_decision(&key, &MoveState::Done, t0() - chrono::Duration::hours(2))
        .unwrap();
    let customer = address(last.to.split(',').next().unwrap());
    // The follow-up the operator sent after executing the move.
    let ours = fake.add_message(NewMessage {
        thread_id: Some(thread.clone()),
        from: format!("Me <{OPERATOR}>"),
        to: format!("Customer <{customer}>"),
        subject: format!("Re: {}", last.subject),
        text: "Any news?".into(),
        in_reply_to: Some(last.message_id.clone()),
        internal_date_ms: (t0() - chrono::Duration::hours(1)).timestamp_millis(),
        ..NewMessage::default()
    });
    let ours = fake.message(&ours).unwrap();
    let reply = fake.add_message(NewMessage {
        thread_id: Some(thread.clone()),
        from: format!("Customer <{customer}>"),
        subject: format!("Re: {}", last.subject),
        text: "Yes, let's do it.".into(),
        in_reply_to: Some(ours.message_id.clone()),
        internal_date_ms: (t0() - chrono::Duration::minutes(30)).timestamp_millis(),
        ..NewMessage::default()
    });
    let summary = run(&fake, &mut m.store).await;
    assert_eq!(summary.replies, 1, "{}", summary.describe());
    assert!(summary.describe().contains("1 new reply"));
    // The outcome pass that follows every sync (as `casey sync` runs it).
    assert_eq!(
        caseyos::today::record_outcomes(&mut m.store, &Config::default(), t0()).unwrap(),
        1
    );
    let (outcome, evidence): (String, String) = m
        .sql()
        .query_row(
            "SELECT outcome, evidence FROM outcomes WHERE move_key = ?1",
            [&key],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(outcome, "reply_received");
    assert!(evidence.contains(&reply));
    // The thread now asks for a reply instead of a follow-up.
    let moves = caseyos::today::moves(&m.store, &Config::default(), t0()).unwrap();
    let on_thread: Vec<MoveKind> = moves
        .iter()
        .filter(|mv| mv.subject.thread_id.as_deref() == Some(thread.as_str()))
        .map(|mv| mv.kind)
        .collect();
    assert_eq!(on_thread, vec![MoveKind::ReplyInbound]);
    // The same reply is never counted twice.
    let again = run(&fake, &mut m.store).await;
    assert_eq!(again.replies, 0);
    caseyos::today::record_outcomes(&mut m.store, &Config::default(), t0()).unwrap();
    assert_eq!(m.count("SELECT count(*) FROM outcomes"), 1);
}

#[tokio::test]
async fn only_threads_with_known_contacts_are_kept_when_configured() {
    let fake = FakeGmail::with_mailbox(300, 100).await;
    let mut m = Mirror::new();
    let contacts = contacts_for(&fake, 20);
    add_contacts(&mut m.store, &contacts);
    let options = SyncOptions {
        only_known_contacts: true,
        ..SyncOptions::default()
    };
    sync(&client(&fake), &mut m.store, &options, t0(), |_| {})
        .await
        .unwrap();
    let known: HashSet<String> = contacts.iter().map(|c| c.email.clone().unwrap()).collect();
    let truth = fake.truth();
    let keep: HashSet<String> = truth
        .iter()
        .filter(|t| {
            std::iter::once(t.from.as_str())
                .chain(t.to.split(','))
                .chain(t.cc.iter().flat_map(|c| c.split(',')))
                .any(|h| known.contains(&address(h)))
        })
        .map(|t| t.thread_id.clone())
        .collect();
    let expected: Vec<Truth> = truth
        .into_iter()
        .filter(|t| keep.contains(&t.thread_id))
        .collect();
    assert!(!expected.is_empty() && expected.len() < 300);
    assert_mirrors(&m, &expected);
}

/// Runs `casey` on the data dir with these Google tokens set (and no other account), off the
/// async runtime the fake answers on; returns (success, stdout, stderr).
async fn casey(dir: &std::path::Path, tokens: &[(&str, &str)], args: &[&str]) -> (bool, String, String) {
    let dir = dir.to_path_buf();
    let tokens: Vec<(String, String)> = tokens
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let mut cmd = assert_cmd::Command::cargo_bin("casey").unwrap();
        cmd.env("CASEYOS_DATA_DIR", &dir)
            .env("CASEYOS_CONFIG", dir.join("config.toml"))
            .env("CASEYOS_LOG", "debug")
            .env("CASEYOS_ACCOUNTS__KEYRING", "none");
        for var in [
            "CASEYOS_GOOGLE_TOKEN",
            "CASEYOS_GOOGLE_REFRESH_TOKEN",
            "CASEYOS_HUBSPOT_TOKEN",
        ] {
            cmd.env_remove(var);
        }
        for (k, v) in &tokens {
            cmd.env(k, v);
        }
        let out = cmd.args(&args).output().unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).to_string();
        (out.status.success(), text(&out.stdout), text(&out.stderr))
    })
    .await
    .unwrap()
}

/// Asserts `secret` is nowhere in the output or in the data dir (but the config file).
fn assert_nowhere(secret: &str, dir: &std::path::Path, output: &[&str]) {
    for text in output {
        assert!(!text.contains(secret), "a token in the output");
    }
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.ends_with("config.toml") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap_or_default();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "a token found in {}",
            path.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn casey_sync_gmail_end_to_end_shows_progress_and_never_leaks_a_token() {
    use support::fake_gmail::{REFRESH_TOKEN, TOKEN};
    let fake = FakeGmail::with_mailbox(150, 50).await;
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("config.toml");
    std::fs::write(&config, format!("[google]\napi_base = \"{}\"\n", fake.uri())).unwrap();
    let (ok, stdout, stderr) = casey(
        data.path(),
        &[("CASEYOS_GOOGLE_TOKEN", TOKEN)],
        &["sync", "--gmail"],
    )
    .await;
    assert!(ok, "{stderr}");
    assert!(stdout.starts_with("gmail: 150 fetched"), "{stdout}");
    assert!(stdout.contains("quota units"), "{stdout}");
    assert_nowhere(TOKEN, data.path(), &[&stdout, &stderr]);
    let store = Store::open(&data.path().join("casey.db")).unwrap();
    assert_eq!(store.counts().unwrap().messages, 150);
    drop(store);

    // With a refresh token: CaseyOS gets its own access token (plain `casey sync` syncs every
    // connected account); neither token shows anywhere.
    std::fs::write(
        &config,
        format!(
            "[google]\napi_base = \"{}\"\ntoken_url = \"{}\"\nclient_id = \"casey-cli.apps.example\"\n",
            fake.uri(),
            fake.token_url()
        ),
    )
    .unwrap();
    fake.expire_token();
    fake.add_message(NewMessage {
        from: "Fresh <fresh@example.com>".into(),
        subject: "New".into(),
        text: "hello".into(),
        ..NewMessage::default()
    });
    let (ok, stdout, stderr) = casey(
        data.path(),
        &[("CASEYOS_GOOGLE_REFRESH_TOKEN", REFRESH_TOKEN)],
        &["sync"],
    )
    .await;
    assert!(ok, "{stderr}");
    assert!(stdout.starts_with("gmail: 1 fetched"), "{stdout}");
    assert_eq!(fake.token_requests().len(), 1);
    for secret in [REFRESH_TOKEN.to_string(), fake.current_token(), TOKEN.to_string()] {
        assert_nowhere(&secret, data.path(), &[&stdout, &stderr]);
    }

    // No Gmail account connected: a clear error, nothing else touched.
    let (ok, _, stderr) = casey(data.path(), &[], &["sync", "--gmail"]).await;
    assert!(!ok);
    assert!(stderr.contains("casey auth google"), "{stderr}");
}

#[tokio::test]
async fn trashed_mail_leaves_the_mirror_and_comes_back_when_restored() {
    let fake = FakeGmail::with_mailbox(80, 25).await;
    let mut m = first_sync(&fake).await;
    let t = fake.truth()[7].clone();
    let spam = fake.truth()[9].clone();
    fake.add_labels(&t.id, &["TRASH"]);
    fake.add_labels(&spam.id, &["SPAM"]);
    let summary = run(&fake, &mut m.store).await;
    assert_eq!(summary.deleted, 2);
    let ids: HashSet<String> = m.rows().into_iter().map(|r| r.id).collect();
    assert!(!ids.contains(&t.id) && !ids.contains(&spam.id));
    assert_eq!(ids.len(), 78);

    fake.remove_labels(&t.id, &["TRASH"]);
    fake.clear_log();
    let summary = run(&fake, &mut m.store).await;
    assert_eq!(summary.fetched, 1);
    assert_eq!(fake.calls(Method::MessagesGet), 1);
    let expected: Vec<Truth> = fake.truth().into_iter().filter(|x| x.id != spam.id).collect();
    assert_mirrors(&m, &expected);
}

#[tokio::test]
async fn each_sync_records_how_it_ended_for_casey_doctor() {
    let fake = FakeGmail::with_mailbox(5, 3).await;
    let mut store = Store::open_in_memory().unwrap();
    assert_eq!(store.last_sync("gmail").unwrap(), None);
    let rejected = caseyos::connectors::gmail::client::GmailClient::new(
        &fake.uri(),
        std::sync::Arc::new(caseyos::auth::token::TokenSource::fixed(
            secrecy::SecretString::from("ya29.wrong".to_string()),
        )),
        support::gmail_client::options(),
    )
    .unwrap();
    let err = sync(&rejected, &mut store, &SyncOptions::default(), t0(), |_| {})
        .await
        .unwrap_err();
    let record = store.last_sync("gmail").unwrap().unwrap();
    assert_eq!(record.attempted_at, t0());
    assert_eq!(record.succeeded_at, None);
    assert_eq!(record.error, Some(err.to_string()));
    assert!(!err.to_string().contains("ya29.wrong"));

    let later = t0() + chrono::Duration::minutes(5);
    sync(&client(&fake), &mut store, &SyncOptions::default(), later, |_| {})
        .await
        .unwrap();
    let record = store.last_sync("gmail").unwrap().unwrap();
    assert_eq!((record.attempted_at, record.succeeded_at), (later, Some(later)));
    assert_eq!(record.error, None);
    assert_eq!(store.last_sync("hubspot").unwrap(), None, "per source");
}
