//! HubSpot write actions against the local fake: the exact JSON sent, the mirror after the next
//! sync, and the retry policy that keeps a create from happening twice.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support {
    pub mod fake_hubspot;
    pub mod hubspot_client;
}

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use caseyos::auth::Account;
use caseyos::auth::token::TokenSource;
use caseyos::connectors::hubspot::client::{ClientOptions, HubSpotClient, HubSpotError};
use caseyos::connectors::hubspot::write::{Associations, NewNote, NewTask, TaskPriority, marker};
use secrecy::SecretString;
use serde_json::json;
use support::fake_hubspot::{FakeHubSpot, TOKEN, WriteFault, WriteFaultKind};
use support::hubspot_client::{client, client_with, first_sync, hours, options, run};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn due() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-11-25T09:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc)
}

fn task(key: &str) -> NewTask {
    let mut t = NewTask::new(key, "Send pricing", due());
    t.body = "Prices as discussed on the call.".into();
    t.priority = Some(TaskPriority::High);
    t.owner_id = Some("901".into());
    t.associations = Associations {
        contact_ids: vec!["100001".into()],
        deal_ids: vec!["300001".into()],
        company_ids: vec![],
    };
    t
}

fn fault(method: &'static str, object_type: &'static str, kind: WriteFaultKind, times: u32) -> WriteFault {
    WriteFault {
        method,
        object_type,
        kind,
        times,
    }
}

/// Requests the fake saw for one path (401s included, which never reach the write log).
fn hits(fake: &FakeHubSpot, path: &str) -> usize {
    fake.log()
        .iter()
        .filter(|l| l.split('?').next() == Some(path))
        .count()
}

#[tokio::test]
async fn a_task_for_a_contact_and_a_deal_is_sent_exactly_and_the_next_sync_mirrors_it() {
    let fake = FakeHubSpot::start(3, 5, 3, 2).await;
    let mut store = first_sync(&fake).await;
    fake.set_clock(hours(1));
    let t = task("move-17:task");
    let id = client(&fake, TOKEN).create_task(&t).await.unwrap();

    let writes = fake.writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].method, "POST");
    assert_eq!(writes[0].path, "/crm/v3/objects/tasks");
    let body_text = format!("Prices as discussed on the call.\n\n[{}]", marker("move-17:task"));
    assert_eq!(
        writes[0].body,
        json!({
            "properties": {
                "hs_task_subject": "Send pricing",
                "hs_task_body": body_text,
                "hs_timestamp": "2026-11-25T09:00:00.000Z",
                "hs_task_status": "NOT_STARTED",
                "hs_task_priority": "HIGH",
                "hubspot_owner_id": "901",
            },
            "associations": [
                {"to": {"id": "100001"}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 204}]},
                {"to": {"id": "300001"}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 216}]},
            ]
        })
    );
    let created = fake.created("tasks");
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["id"], id.as_str());
    assert_eq!(
        created[0]["associations"]["contacts"]["results"][0]["id"],
        "100001"
    );
    assert_eq!(created[0]["associations"]["deals"]["results"][0]["id"], "300001");
    // Both ways: the contact and the deal know their new task.
    for (object_type, other) in [("contacts", "100001"), ("deals", "300001")] {
        let r = fake.record(object_type, other).unwrap();
        assert_eq!(
            r["associations"]["tasks"]["results"][0]["id"],
            id.as_str(),
            "{object_type}"
        );
    }

    run(&fake, &mut store, hours(2)).await;
    let mirror = store.load_mirror().unwrap();
    let mirrored = mirror
        .tasks
        .iter()
        .find(|x| x.id == id)
        .expect("the task is mirrored");
    assert_eq!(mirrored.subject, "Send pricing");
    assert_eq!(mirrored.status, "NOT_STARTED");
    assert_eq!(mirrored.priority.as_deref(), Some("HIGH"));
    assert_eq!(mirrored.due_at, Some(due()));
    assert_eq!(mirrored.contact_ids, ["100001"]);
    assert_eq!(mirrored.deal_ids, ["300001"]);
    assert_eq!(
        mirrored.body.as_deref(),
        Some("Prices as discussed on the call."),
        "mirrored without the marker CaseyOS added"
    );

    // The marker finds it again (and nothing else).
    let c = client(&fake, TOKEN);
    assert_eq!(c.find_by_marker("tasks", &t.marker).await.unwrap(), Some(id));
    assert_eq!(
        c.find_by_marker("tasks", &marker("move-18:task")).await.unwrap(),
        None
    );
    assert_eq!(c.find_by_marker("notes", &t.marker).await.unwrap(), None);
    let searched = fake.log().iter().filter(|l| l.contains("/search")).count();
    assert!(matches!(
        c.find_by_marker("tasks", "caseyos-not-one-token").await,
        Err(HubSpotError::Invalid { .. })
    ));
    assert!(matches!(
        c.find_by_marker("deals", &t.marker).await,
        Err(HubSpotError::Invalid { .. })
    ));
    assert_eq!(
        fake.log().iter().filter(|l| l.contains("/search")).count(),
        searched,
        "refused before asking HubSpot"
    );
}

#[tokio::test]
async fn a_note_is_created_with_note_association_types_and_mirrored() {
    let fake = FakeHubSpot::start(3, 5, 3, 2).await;
    let mut store = first_sync(&fake).await;
    fake.set_clock(hours(1));
    let mut note = NewNote::new("move-3:note", "Met at the conference; wants a demo.", due());
    note.associations = Associations {
        contact_ids: vec!["100002".into()],
        deal_ids: vec!["300002".into()],
        company_ids: vec!["20002".into()],
    };
    let id = client(&fake, TOKEN).create_note(&note).await.unwrap();

    let body = &fake.writes()[0].body;
    assert_eq!(
        body["properties"],
        json!({
            "hs_note_body": format!("Met at the conference; wants a demo.\n\n[{}]", note.marker),
            "hs_timestamp": "2026-11-25T09:00:00.000Z",
        })
    );
    let types: Vec<(&str, u64)> = body["associations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["to"]["id"].as_str().unwrap(),
                a["types"][0]["associationTypeId"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(types, [("100002", 202), ("300002", 214), ("20002", 190)]);
    assert_eq!(fake.created("notes").len(), 1);
    assert_eq!(
        fake.record("companies", "20002").unwrap()["associations"]["notes"]["results"][0]["id"],
        id.as_str()
    );

    run(&fake, &mut store, hours(2)).await;
    let mirror = store.load_mirror().unwrap();
    let mirrored = mirror
        .notes
        .iter()
        .find(|n| n.id == id)
        .expect("the note is mirrored");
    assert!(
        mirrored.body.starts_with("Met at the conference; wants a demo."),
        "{}",
        mirrored.body
    );
    assert_eq!(mirrored.at, Some(due()));
    assert_eq!(mirrored.contact_ids, ["100002"]);
    assert_eq!(mirrored.deal_ids, ["300002"]);
    assert_eq!(
        client(&fake, TOKEN)
            .find_by_marker("notes", &note.marker)
            .await
            .unwrap(),
        Some(id)
    );
}

#[tokio::test]
async fn a_create_for_a_record_that_does_not_exist_is_refused_as_invalid() {
    let fake = FakeHubSpot::start(1, 2, 1, 0).await;
    let mut t = task("k");
    t.associations.contact_ids = vec!["199999".into()];
    let err = client(&fake, TOKEN).create_task(&t).await.unwrap_err();
    match &err {
        HubSpotError::Invalid { details, .. } => {
            assert!(details.iter().any(|d| d.contains("199999")), "{details:?}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.writes().len(), 1, "a validation error is not retried");
    assert!(fake.created("tasks").is_empty());
    // Ids that would change the URL never leave the client.
    t.associations.contact_ids = vec!["../owners".into()];
    assert!(matches!(
        client(&fake, TOKEN).create_task(&t).await,
        Err(HubSpotError::Invalid { .. })
    ));
    t.associations.contact_ids = vec![];
    t.marker = "not a marker".into();
    assert!(matches!(
        client(&fake, TOKEN).create_task(&t).await,
        Err(HubSpotError::Invalid { .. })
    ));
    assert_eq!(fake.writes().len(), 1);
}

#[tokio::test]
async fn a_deal_moves_to_a_stage_and_an_unknown_stage_is_refused_clearly() {
    let fake = FakeHubSpot::start(3, 5, 3, 2).await;
    let mut store = first_sync(&fake).await;
    fake.set_clock(hours(1));
    let c = client(&fake, TOKEN);
    assert_eq!(
        c.get_deal_stage("300001").await.unwrap().as_deref(),
        Some("qualifiedtobuy")
    );
    c.update_deal_stage("300001", "contractsent").await.unwrap();
    let patches = fake.patches();
    assert_eq!(patches.len(), 1);
    assert_eq!(
        (
            patches[0].object_type.as_str(),
            patches[0].id.as_str(),
            patches[0].status
        ),
        ("deals", "300001", 200)
    );
    assert_eq!(patches[0].properties, json!({"dealstage": "contractsent"}));
    assert_eq!(
        fake.writes()[0].body,
        json!({"properties": {"dealstage": "contractsent"}})
    );
    assert_eq!(
        c.get_deal_stage("300001").await.unwrap().as_deref(),
        Some("contractsent")
    );

    let err = c.update_deal_stage("300001", "nosuchstage").await.unwrap_err();
    assert!(matches!(err, HubSpotError::Invalid { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("nosuchstage"), "{message}");
    assert!(message.contains("allowed options"), "{message}");
    assert_eq!(fake.patches().len(), 2, "not retried");
    assert_eq!(fake.patches()[1].status, 400);
    assert_eq!(
        fake.record("deals", "300001").unwrap()["properties"]["dealstage"],
        "contractsent"
    );

    assert!(matches!(
        c.update_deal_stage("399999", "closedwon").await,
        Err(HubSpotError::NotFound { .. })
    ));
    assert_eq!(c.get_deal_stage("399999").await.unwrap(), None);

    run(&fake, &mut store, hours(2)).await;
    let mirror = store.load_mirror().unwrap();
    let deal = mirror.deals.iter().find(|d| d.id == "300001").unwrap();
    assert_eq!(deal.stage_id.as_deref(), Some("contractsent"));
    assert_eq!(deal.stage_entered_at, Some(hours(1)));
    let other = mirror.deals.iter().find(|d| d.id == "300002").unwrap();
    assert_eq!(other.stage_id.as_deref(), Some("qualifiedtobuy"));
}

#[tokio::test]
async fn a_completed_task_is_mirrored_as_completed() {
    let fake = FakeHubSpot::start(3, 5, 3, 3).await;
    let mut store = first_sync(&fake).await;
    let before = store.load_mirror().unwrap();
    assert_eq!(
        before.tasks.iter().find(|t| t.id == "410001").unwrap().status,
        "NOT_STARTED"
    );
    fake.set_clock(hours(1));
    let c = client(&fake, TOKEN);
    c.complete_task("410001").await.unwrap();
    assert_eq!(
        fake.patches()[0].properties,
        json!({"hs_task_status": "COMPLETED"})
    );
    assert!(matches!(
        c.complete_task("499999").await,
        Err(HubSpotError::NotFound { .. })
    ));

    run(&fake, &mut store, hours(2)).await;
    let mirror = store.load_mirror().unwrap();
    let status = |id: &str| mirror.tasks.iter().find(|t| t.id == id).unwrap().status.clone();
    assert_eq!(status("410001"), "COMPLETED");
    assert_eq!(status("410002"), "NOT_STARTED");
}

#[tokio::test]
async fn a_rate_limited_create_is_retried_and_creates_once() {
    let fake = FakeHubSpot::start(1, 3, 2, 0).await;
    fake.inject_write(fault("POST", "tasks", WriteFaultKind::Reject(429), 2));
    let id = client(&fake, TOKEN).create_task(&task("k-429")).await.unwrap();
    assert_eq!(fake.writes().len(), 3, "two 429s, then the create");
    let created = fake.created("tasks");
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["id"], id.as_str());
}

#[tokio::test]
async fn a_create_applied_then_failed_is_uncertain_not_retried_and_found_by_its_marker() {
    let fake = FakeHubSpot::start(1, 3, 2, 0).await;
    fake.inject_write(fault("POST", "tasks", WriteFaultKind::ApplyThenStatus(500), 1));
    let t = task("k-500");
    let c = client(&fake, TOKEN);
    let err = c.create_task(&t).await.unwrap_err();
    assert!(
        matches!(&err, HubSpotError::Uncertain { operation, .. } if operation == "POST /crm/v3/objects/tasks"),
        "{err:?}"
    );
    assert!(err.to_string().contains("outcome is unknown"), "{err}");
    assert_eq!(fake.writes().len(), 1, "never sent twice");
    let created = fake.created("tasks");
    assert_eq!(created.len(), 1, "HubSpot did apply it");
    assert_eq!(
        c.find_by_marker("tasks", &t.marker).await.unwrap().as_deref(),
        created[0]["id"].as_str()
    );
}

#[tokio::test]
async fn a_server_error_on_create_is_uncertain_even_when_nothing_was_applied() {
    let fake = FakeHubSpot::start(1, 3, 2, 0).await;
    fake.inject_write(fault("POST", "notes", WriteFaultKind::Reject(503), 1));
    let note = NewNote::new("k-503", "hello", due());
    let c = client(&fake, TOKEN);
    let err = c.create_note(&note).await.unwrap_err();
    assert!(matches!(err, HubSpotError::Uncertain { .. }), "{err:?}");
    assert_eq!(fake.writes().len(), 1);
    // Reconciling says it is not there, so the caller may create it.
    assert_eq!(c.find_by_marker("notes", &note.marker).await.unwrap(), None);
    c.create_note(&note).await.unwrap();
    assert_eq!(fake.created("notes").len(), 1);
}

/// A bare HTTP server on 127.0.0.1 that reads each request and answers it with `answer`
/// (possibly not a whole HTTP response), then closes the connection; counts the requests.
async fn raw_server(answer: &'static [u8]) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            // The whole request: headers, then as many bytes as Content-Length says.
            while let Ok(n) = socket.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                seen.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&seen).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length: usize = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .and_then(|v| v.trim().parse().ok())
                        })
                        .unwrap_or(0);
                    if seen.len() >= end + 4 + length {
                        break;
                    }
                }
            }
            counted.fetch_add(1, Ordering::SeqCst);
            let _ = socket.write_all(answer).await;
            let _ = socket.shutdown().await;
        }
    });
    (uri, requests)
}

#[tokio::test]
async fn a_cut_off_answer_or_a_dropped_connection_after_a_create_is_uncertain_and_not_retried() {
    for (answer, expected) in [
        (
            &b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 4096\r\n\r\n{\"id\": \"9"[..],
            "cut off",
        ),
        (&b""[..], "connection dropped"),
    ] {
        let (uri, requests) = raw_server(answer).await;
        let c = HubSpotClient::new(&uri, SecretString::from(TOKEN.to_string()), options()).unwrap();
        let err = c
            .create_note(&NewNote::new("k-cut", "hello", due()))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, HubSpotError::Uncertain { detail, .. } if detail.contains(expected)),
            "{err:?}"
        );
        assert_eq!(requests.load(Ordering::SeqCst), 1, "{expected}: never sent twice");
    }
    // The same answers to a read are retried as usual.
    let (uri, requests) = raw_server(b"").await;
    let c = HubSpotClient::new(&uri, SecretString::from(TOKEN.to_string()), options()).unwrap();
    assert!(c.get_deal_stage("300001").await.is_err());
    assert_eq!(requests.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn a_create_answered_too_late_is_uncertain_and_not_retried() {
    let fake = FakeHubSpot::start(1, 3, 2, 0).await;
    fake.inject_write(fault(
        "POST",
        "tasks",
        WriteFaultKind::ApplyThenSlow(Duration::from_secs(30)),
        1,
    ));
    let impatient = ClientOptions {
        timeout: Duration::from_millis(500),
        ..options()
    };
    let t = task("k-slow");
    let err = client_with(&fake, TOKEN, impatient)
        .create_task(&t)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, HubSpotError::Uncertain { detail, .. } if detail.starts_with("timeout")),
        "{err:?}"
    );
    assert_eq!(fake.writes().len(), 1);
    assert_eq!(fake.created("tasks").len(), 1);
    assert!(
        client(&fake, TOKEN)
            .find_by_marker("tasks", &t.marker)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_refused_connection_is_a_network_error_not_an_uncertain_create() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = HubSpotClient::new(
        &format!("http://127.0.0.1:{port}"),
        SecretString::from(TOKEN.to_string()),
        options(),
    )
    .unwrap();
    let err = c.create_task(&task("k-offline")).await.unwrap_err();
    assert!(matches!(err, HubSpotError::Network { .. }), "{err:?}");
    assert_eq!(c.requests(), 5, "nothing was sent, so every attempt was made");
}

#[tokio::test]
async fn patches_are_idempotent_and_retried_on_server_errors() {
    let fake = FakeHubSpot::start(1, 3, 2, 2).await;
    fake.inject_write(fault("PATCH", "deals", WriteFaultKind::Reject(503), 2));
    let c = client(&fake, TOKEN);
    c.update_deal_stage("300000", "closedwon").await.unwrap();
    let statuses: Vec<u16> = fake.patches().iter().map(|p| p.status).collect();
    assert_eq!(statuses, [503, 503, 200]);
    // Applied, then failed: sending it again sets the same value.
    fake.inject_write(fault("PATCH", "tasks", WriteFaultKind::ApplyThenStatus(500), 1));
    c.complete_task("410000").await.unwrap();
    let tasks: Vec<_> = fake
        .patches()
        .into_iter()
        .filter(|p| p.object_type == "tasks")
        .collect();
    assert_eq!(tasks.len(), 2);
    assert!(
        tasks
            .iter()
            .all(|p| p.properties == json!({"hs_task_status": "COMPLETED"}))
    );
    assert_eq!(
        fake.record("tasks", "410000").unwrap()["properties"]["hs_task_status"],
        "COMPLETED"
    );
    assert_eq!(
        fake.record("deals", "300000").unwrap()["properties"]["dealstage"],
        "closedwon"
    );
}

#[tokio::test]
async fn a_401_on_a_write_refreshes_the_token_once_and_creates_once() {
    let fake = FakeHubSpot::start(1, 3, 2, 2).await;
    let tokens_at = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path("/oauth/v1/token"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(
            json!({"access_token": TOKEN, "refresh_token": "hs-refresh-not-a-secret", "expires_in": 1800}),
        ))
        .mount(&tokens_at)
        .await;
    let tokens = Arc::new(
        TokenSource::refreshing(
            &format!("{}/oauth/v1/token", tokens_at.uri()),
            "hs-client",
            None,
            SecretString::from("hs-refresh-not-a-secret".to_string()),
        )
        .for_account(Account::HubSpot)
        .with_current(
            SecretString::from("stale-access".to_string()),
            Some(chrono::Utc::now() + chrono::Duration::hours(1)),
        ),
    );
    let c = HubSpotClient::with_tokens(&fake.server.uri(), tokens.clone(), options()).unwrap();
    let id = c.create_task(&task("k-401")).await.unwrap();
    assert_eq!(tokens.refreshes(), 1);
    assert_eq!(
        hits(&fake, "/crm/v3/objects/tasks"),
        2,
        "the 401, then the create"
    );
    assert_eq!(fake.created("tasks").len(), 1);
    assert_eq!(fake.created("tasks")[0]["id"], id.as_str());
    // The new token serves the following writes without another refresh.
    c.complete_task(&id).await.unwrap();
    c.update_deal_stage("300000", "closedlost").await.unwrap();
    assert_eq!(tokens.refreshes(), 1);
    assert_eq!(tokens_at.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_rejected_fixed_token_on_a_write_says_what_to_run() {
    let fake = FakeHubSpot::start(1, 3, 2, 0).await;
    let err = client(&fake, "pat-wrong")
        .create_task(&task("k"))
        .await
        .unwrap_err();
    assert!(matches!(err, HubSpotError::Unauthorized), "{err:?}");
    assert_eq!(hits(&fake, "/crm/v3/objects/tasks"), 1);
    assert!(fake.created("tasks").is_empty());
}
