//! Crash test: `casey outbox run` is killed (SIGKILL, a real process exit) at random moments
//! while it sends approved drafts, 50 times; afterwards every approval was sent exactly once
//! and none was lost — asserted on the fake Gmail's record of what it sent.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support {
    pub mod fake_gmail;
    pub mod gmail_client;
}

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::Duration as StdDuration;

use caseyos::connectors::gmail::compose::{Address, Outgoing, compose, new_message_id};
use caseyos::store::{NewJob, Store};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use support::fake_gmail::{FakeGmail, Fault, FaultKind, Method, OPERATOR, TOKEN};
use support::gmail_client::client;

const KILLS: usize = 50;

fn t0() -> DateTime<Utc> {
    support::fake_gmail::now()
}

/// A small deterministic generator for the kill moments (xorshift).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn casey(data: &std::path::Path, config: &std::path::Path, gmail: &str, now: DateTime<Utc>) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_casey"));
    c.env("CASEYOS_DATA_DIR", data)
        .env("CASEYOS_CONFIG", config)
        .env("CASEYOS_NOW", now.to_rfc3339())
        .env("CASEYOS_ACCOUNTS__KEYRING", "none")
        .env("CASEYOS_SAFETY__MODE", "send")
        .env("CASEYOS_SAFETY__DAILY_SEND_CAP", "1000")
        .env("CASEYOS_GOOGLE__API_BASE", gmail)
        .env("CASEYOS_GOOGLE_TOKEN", TOKEN)
        .env_remove("CASEYOS_GOOGLE_REFRESH_TOKEN")
        .env_remove("CASEYOS_HUBSPOT_TOKEN")
        .args(["outbox", "run"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_points_50_times_every_approval_is_sent_exactly_once() {
    let fake = FakeGmail::start().await;
    // Gmail takes a while to answer each send (after doing it), so kills land before, during
    // and after the send.
    fake.fail(Fault {
        method: Method::DraftsSend,
        skip: 0,
        kind: FaultKind::Slow(StdDuration::from_millis(60)),
        times: u32::MAX,
    });
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "").unwrap();
    let store = Store::open(&dir.path().join("casey.db")).unwrap();
    let gmail = client(&fake);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut drafts = Vec::new();
    let mut clock = t0();
    for i in 0..KILLS {
        // One more approval each round.
        let out = Outgoing {
            from: Address::new(OPERATOR),
            to: vec![Address::new(&format!("buyer{i}@customer.example"))],
            cc: vec![],
            subject: format!("Proposal {i}"),
            body_text: "Attached as discussed.".into(),
            message_id: new_message_id("seller.example"),
            in_reply_to: None,
            references: vec![],
            date: t0(),
        };
        let draft = gmail.create_draft(&compose(&out).unwrap(), None).await.unwrap();
        let payload = json!({"draft_id": draft.id, "thread_id": "", "approved_at": t0().to_rfc3339(), "to": [format!("buyer{i}@customer.example")]});
        store
            .queue_job(
                &NewJob {
                    idempotency_key: &format!("approval-{i}"),
                    move_key: None,
                    action: "gmail.draft.send",
                    payload: &payload,
                    not_before: None,
                },
                clock,
            )
            .unwrap();
        drafts.push(draft.id);
        // A run, killed after a random 0–250 ms (its clock moves on, so retries are due).
        clock += Duration::minutes(10);
        let mut child = casey(dir.path(), &config, &fake.uri(), clock).spawn().unwrap();
        let wait = rng.below(250);
        tokio::task::spawn_blocking(move || {
            std::thread::sleep(StdDuration::from_millis(wait));
            let _ = child.kill();
            child.wait().unwrap()
        })
        .await
        .unwrap();
    }
    // Runs to the end until nothing is left.
    for _ in 0..10 {
        clock += Duration::minutes(10);
        let status = {
            let mut cmd = casey(dir.path(), &config, &fake.uri(), clock);
            tokio::task::spawn_blocking(move || cmd.status().unwrap())
                .await
                .unwrap()
        };
        assert!(status.success());
        if store.counts().unwrap().outbox_pending == 0 {
            break;
        }
    }
    let entries = store.outbox(1000).unwrap();
    assert_eq!(entries.len(), KILLS);
    for e in &entries {
        assert_eq!(e.state, "done", "{e:?}");
    }
    let mut per_draft: HashMap<String, usize> = HashMap::new();
    for s in fake.sent() {
        *per_draft.entry(s.draft_id).or_default() += 1;
    }
    assert_eq!(per_draft.len(), KILLS, "every approval was sent");
    assert!(per_draft.values().all(|&n| n == 1), "none twice: {per_draft:?}");
    for d in &drafts {
        assert_eq!(per_draft.get(d), Some(&1), "draft {d}");
    }
    let audit = store.audit_entries().unwrap();
    let recovered = audit
        .iter()
        .filter(|a| a.action == "outbox recovered after a stop")
        .count();
    println!(
        "{KILLS} kills, {recovered} jobs recovered mid-run, {} sends",
        fake.sent().len()
    );
    assert!(recovered > 0, "some kills landed mid-send");
}
