//! The outbox worker against the fake HubSpot: each action done once, an unclear answer
//! reconciled instead of repeated, a changed deal parked, offline jobs waiting and then done.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support {
    pub mod fake_hubspot;
    pub mod hubspot_client;
}

use std::sync::Arc;

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
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};
use support::fake_hubspot::{FakeHubSpot, TOKEN, WriteFault, WriteFaultKind};
use support::hubspot_client::client;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, 0).unwrap()
}

fn live(fake: &FakeHubSpot) -> Live {
    Live {
        hubspot: Some(Arc::new(client(fake, TOKEN))),
        gmail: None,
    }
}

fn queue(store: &Store, key: &str, action: &str, payload: Value) {
    assert!(
        store
            .queue_job(
                &NewJob {
                    idempotency_key: key,
                    move_key: Some("move"),
                    action,
                    payload: &payload,
                    not_before: None,
                },
                now(),
            )
            .unwrap()
    );
}

fn entry(store: &Store, key: &str) -> caseyos::store::OutboxEntry {
    store
        .outbox(100)
        .unwrap()
        .into_iter()
        .find(|e| e.idempotency_key == key)
        .unwrap()
}

fn task_payload() -> Value {
    json!({
        "subject": "Call Dana about the renewal",
        "body": "She asked for numbers.",
        "due": "2026-11-24T09:00:00Z",
        "contact_ids": ["100001"],
        "deal_ids": ["300001"],
    })
}

#[tokio::test]
async fn a_task_is_created_once_with_its_associations_and_marker() {
    let fake = FakeHubSpot::start(2, 3, 2, 1).await;
    let store = Store::open_in_memory().unwrap();
    queue(&store, "task-1", "hubspot.task.create", task_payload());
    let steps = drain(&store, &live(&fake), &rules(), now()).await.unwrap();
    assert_eq!(steps.len(), 1);
    let created = fake.created("tasks");
    assert_eq!(created.len(), 1);
    let props = &created[0]["properties"];
    assert_eq!(props["hs_task_subject"], "Call Dana about the renewal");
    let marker = caseyos::connectors::hubspot::write::marker("task-1");
    assert!(props["hs_task_body"].as_str().unwrap().contains(&marker));
    let e = entry(&store, "task-1");
    assert_eq!(e.state, "done");
    // Running the worker again does nothing more.
    assert!(
        drain(&store, &live(&fake), &rules(), now() + Duration::hours(1))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(fake.created("tasks").len(), 1);
    let audit: Vec<String> = store
        .audit_entries()
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .collect();
    assert_eq!(audit, vec!["outbox queued", "outbox executed"]);
}

#[tokio::test]
async fn a_create_applied_behind_an_error_is_found_not_repeated() {
    let fake = FakeHubSpot::start(2, 3, 2, 1).await;
    fake.inject_write(WriteFault {
        method: "POST",
        object_type: "tasks",
        kind: WriteFaultKind::ApplyThenStatus(502),
        times: 1,
    });
    let store = Store::open_in_memory().unwrap();
    queue(&store, "task-2", "hubspot.task.create", task_payload());
    let first = drain(&store, &live(&fake), &rules(), now()).await.unwrap();
    assert!(
        matches!(&first[0].finish, Finish::Retry { uncertain: true, .. }),
        "{first:?}"
    );
    assert_eq!(entry(&store, "task-2").state, "uncertain");
    assert_eq!(fake.created("tasks").len(), 1, "HubSpot did create it");
    let later = now() + retry_delay(1);
    let second = drain(&store, &live(&fake), &rules(), later).await.unwrap();
    assert_eq!(
        second[0].finish,
        Finish::Done {
            remote_id: fake.created("tasks")[0]["id"].as_str().unwrap().to_string(),
            reconciled: true
        }
    );
    assert_eq!(
        fake.created("tasks").len(),
        1,
        "found by its marker, not created again"
    );
}

#[tokio::test]
async fn a_deal_that_moved_since_the_approval_is_parked_and_a_matching_one_moves() {
    let fake = FakeHubSpot::start(2, 3, 2, 1).await;
    let store = Store::open_in_memory().unwrap();
    let seen = fake.record("deals", "300001").unwrap()["properties"]["dealstage"]
        .as_str()
        .unwrap()
        .to_string();
    let other = if seen == "contractsent" {
        "closedwon"
    } else {
        "contractsent"
    };
    queue(
        &store,
        "stage-stale",
        "hubspot.deal.stage",
        json!({"deal_id": "300001", "from_stage": "somewhere-else", "to_stage": other}),
    );
    queue(
        &store,
        "stage-ok",
        "hubspot.deal.stage",
        json!({"deal_id": "300001", "from_stage": seen, "to_stage": other}),
    );
    drain(&store, &live(&fake), &rules(), now()).await.unwrap();
    let parked = entry(&store, "stage-stale");
    assert_eq!(parked.state, "parked");
    assert!(parked.error.unwrap().contains("since you approved"));
    assert_eq!(entry(&store, "stage-ok").state, "done");
    assert_eq!(
        fake.record("deals", "300001").unwrap()["properties"]["dealstage"],
        other
    );
    assert_eq!(fake.patches().len(), 1, "the parked one changed nothing");
}

#[tokio::test]
async fn offline_jobs_wait_then_each_is_done_once() {
    let fake = FakeHubSpot::start(2, 3, 2, 1).await;
    let store = Store::open_in_memory().unwrap();
    for i in 0..5 {
        queue(
            &store,
            &format!("note-{i}"),
            "hubspot.note.create",
            json!({
                "body": format!("Call summary {i}"),
                "at": "2026-11-21T08:30:00Z",
                "contact_ids": ["100001"],
            }),
        );
    }
    queue(
        &store,
        "done-task",
        "hubspot.task.complete",
        json!({"task_id": "410000"}),
    );
    // HubSpot cannot be reached: nothing is lost, nothing is failed.
    let down = Live {
        hubspot: Some(Arc::new(
            caseyos::connectors::hubspot::client::HubSpotClient::new(
                "http://127.0.0.1:9",
                secrecy::SecretString::from(TOKEN.to_string()),
                support::hubspot_client::options(),
            )
            .unwrap(),
        )),
        gmail: None,
    };
    drain(&store, &down, &rules(), now()).await.unwrap();
    for e in store.outbox(100).unwrap() {
        assert_eq!(e.state, "queued", "{e:?}");
        assert!(e.error.unwrap().contains("waiting to reach the service"));
    }
    assert_eq!(store.counts().unwrap().outbox_pending, 6);
    // Back online: every job once.
    drain(&store, &live(&fake), &rules(), now() + Duration::minutes(10))
        .await
        .unwrap();
    for e in store.outbox(100).unwrap() {
        assert_eq!(e.state, "done", "{e:?}");
    }
    assert_eq!(fake.created("notes").len(), 5);
    assert_eq!(
        fake.record("tasks", "410000").unwrap()["properties"]["hs_task_status"],
        "COMPLETED"
    );
}

#[tokio::test]
async fn an_action_this_version_cannot_run_fails_clearly() {
    let fake = FakeHubSpot::start(1, 1, 1, 1).await;
    let store = Store::open_in_memory().unwrap();
    queue(&store, "x", "hubspot.meeting.book", json!({}));
    drain(&store, &live(&fake), &rules(), now()).await.unwrap();
    let e = entry(&store, "x");
    assert_eq!(e.state, "failed");
    assert!(e.error.unwrap().contains("cannot run hubspot.meeting.book"));
}

#[test]
fn casey_outbox_lists_discards_and_confirms_again() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "").unwrap();
    {
        let store = Store::open(&dir.path().join("casey.db")).unwrap();
        queue(&store, "task-abc", "hubspot.task.create", task_payload());
        queue(&store, "stage-xyz", "hubspot.deal.stage", json!({"deal_id": "1"}));
        let job = store.claim_job(now()).unwrap().unwrap();
        assert_eq!(job.idempotency_key, "task-abc");
        store
            .finish_job(&job, &Finish::Parked("the deal moved".into()), now())
            .unwrap();
    }
    let casey = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_casey"))
            .env("CASEYOS_DATA_DIR", dir.path())
            .env("CASEYOS_CONFIG", &config)
            .env("CASEYOS_ACCOUNTS__KEYRING", "none")
            .env_remove("CASEYOS_HUBSPOT_TOKEN")
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, list, _) = casey(&["outbox"]);
    assert!(ok);
    assert!(
        list.contains("parked") && list.contains("the deal moved"),
        "{list}"
    );
    assert!(list.contains("queued") && list.contains("stage-xyz"), "{list}");
    let (ok, out, _) = casey(&["outbox", "retry", "abc"]);
    assert!(ok, "{out}");
    assert!(out.contains("queued again: task-abc"));
    let (ok, out, _) = casey(&["outbox", "discard", "xyz"]);
    assert!(ok, "{out}");
    let (ok, _, err) = casey(&["outbox", "discard", "xyz"]);
    assert!(!ok && err.contains("only waiting or parked entries"), "{err}");
    let (ok, _, err) = casey(&["outbox", "retry", "-"]);
    assert!(!ok && err.contains("2 outbox entries match"), "{err}");
    let (_, json, _) = casey(&["outbox", "list", "--json"]);
    let v: Value = serde_json::from_str(&json).unwrap();
    let states: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, vec!["cancelled", "queued"]);
    // Without HubSpot connected, running waits instead of failing.
    let (ok, out, _) = casey(&["outbox", "run"]);
    assert!(ok);
    assert!(
        out.contains("task-abc: waiting: waiting to reach the service: HubSpot is not connected"),
        "{out}"
    );
}
