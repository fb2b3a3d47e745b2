//! HubSpot sync against the local fake: exact mirroring, paging, incremental search, resume
//! after failure, retries, and errors that say what to do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support {
    pub mod fake_hubspot;
    pub mod hubspot_client;
}

use caseyos::connectors::hubspot::client::HubSpotError;
use caseyos::store::Store;
use caseyos::sync::hubspot::{SyncError, sync};
use support::fake_hubspot::{FakeHubSpot, Fault, FaultKind, TOKEN};
use support::hubspot_client::{client, count, first_sync, full, hours, incremental, run, t0};

#[tokio::test]
async fn first_sync_of_5000_contacts_mirrors_exactly() {
    let fake = FakeHubSpot::start(200, 5_000, 300, 50).await;
    let mut store = Store::open_in_memory().unwrap();
    let mut pages = 0;
    let summary = sync(&client(&fake, TOKEN), &mut store, &incremental(), t0(), |_| {
        pages += 1
    })
    .await
    .unwrap();
    assert_eq!(summary.fetched, 200 + 5_000 + 300 + 50 + 50);
    // Owners, pipelines, then 2 + 50 + 3 + 1 + 1 list pages.
    assert_eq!(summary.requests, 59);
    assert_eq!(summary.changed, summary.fetched, "everything is new");
    assert_eq!(pages, 57);
    for (table, n) in [
        ("companies", 200),
        ("contacts", 5_000),
        ("deals", 300),
        ("tasks", 50),
        ("notes", 50),
        ("stages", 5),
    ] {
        assert_eq!(count(&store, table), n, "{table}");
    }
    let mirror = store.load_mirror().unwrap();
    let c = mirror.contacts.iter().find(|c| c.id == "104999").unwrap();
    assert_eq!(
        c.email.as_deref(),
        Some("person4999@c199.example"),
        "emails are lower-cased"
    );
    assert_eq!(c.company_id.as_deref(), Some("20199"));
    let d = mirror.deals.iter().find(|d| d.id == "300007").unwrap();
    assert_eq!(
        (d.contact_ids.clone(), d.company_ids.clone()),
        (vec!["100007".to_string()], vec!["20007".to_string()])
    );
    assert_eq!(d.amount, Some(8_000.0));
    let stage = mirror.stages.iter().find(|s| s.id == "contractsent").unwrap();
    assert_eq!(stage.probability, 0.9);
}

#[tokio::test]
async fn a_rejected_token_says_what_to_run_and_stores_nothing() {
    let fake = FakeHubSpot::start(5, 5, 5, 5).await;
    let mut store = Store::open_in_memory().unwrap();
    let err = sync(
        &client(&fake, "pat-wrong"),
        &mut store,
        &incremental(),
        t0(),
        |_| {},
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, SyncError::HubSpot(HubSpotError::Unauthorized)),
        "{err}"
    );
    assert!(err.to_string().contains("casey auth hubspot"));
    assert_eq!(count(&store, "contacts"), 0);
    assert_eq!(fake.log().len(), 1, "a 401 is not retried");
}

#[tokio::test]
async fn a_malformed_page_keeps_earlier_pages_and_the_next_run_resumes_there() {
    let fake = FakeHubSpot::start(150, 450, 10, 0).await;
    fake.inject(Fault {
        object_type: "contacts",
        offset: 200,
        kind: FaultKind::Malformed,
        times: 1,
    });
    let mut store = Store::open_in_memory().unwrap();
    let err = sync(&client(&fake, TOKEN), &mut store, &incremental(), t0(), |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(err, SyncError::HubSpot(HubSpotError::Malformed { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("nothing from it was stored"));
    assert_eq!(count(&store, "companies"), 150, "finished types stay");
    assert_eq!(
        count(&store, "contacts"),
        200,
        "the two pages before the bad one stay"
    );
    assert_eq!(
        store.cursor("hubspot", "contacts:list").unwrap().as_deref(),
        Some("200")
    );

    let before = fake.log().len();
    run(&fake, &mut store, t0()).await;
    assert_eq!(count(&store, "contacts"), 450);
    assert_eq!(count(&store, "companies"), 150);
    let resumed: Vec<String> = fake.log()[before..].to_vec();
    assert!(
        !resumed
            .iter()
            .any(|r| r.starts_with("/crm/v3/objects/companies?")),
        "finished types are not listed again: {resumed:?}"
    );
    assert_eq!(
        resumed
            .iter()
            .filter(|r| r.starts_with("/crm/v3/objects/contacts?"))
            .count(),
        3,
        "{resumed:?}"
    );
    assert!(resumed.contains(&"/crm/v3/objects/contacts?after=200".to_string()));
    assert_eq!(
        store.cursor("hubspot", "contacts:list").unwrap().as_deref(),
        Some("complete")
    );
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_and_converge() {
    let clean = FakeHubSpot::start(30, 250, 40, 5).await;
    let expected = first_sync(&clean).await;

    let flaky = FakeHubSpot::start(30, 250, 40, 5).await;
    flaky.inject(Fault {
        object_type: "contacts",
        offset: 0,
        kind: FaultKind::RateLimit,
        times: 2,
    });
    flaky.inject(Fault {
        object_type: "deals",
        offset: 0,
        kind: FaultKind::Status(502),
        times: 1,
    });
    flaky.inject(Fault {
        object_type: "contacts",
        offset: 100,
        kind: FaultKind::Status(500),
        times: 2,
    });
    let mut store = Store::open_in_memory().unwrap();
    let summary = run(&flaky, &mut store, t0()).await;
    assert_eq!(
        summary.requests,
        2 + 1 + 3 + 1 + 1 + 1 + 5,
        "every retry is counted"
    );
    for table in ["companies", "contacts", "deals", "tasks", "notes", "associations"] {
        assert_eq!(count(&store, table), count(&expected, table), "{table}");
    }
    assert_eq!(
        store.load_mirror().unwrap().contacts,
        expected.load_mirror().unwrap().contacts,
        "the same mirror, record for record"
    );
}

#[tokio::test]
async fn persistent_server_errors_give_up_with_the_status() {
    let fake = FakeHubSpot::start(3, 3, 3, 0).await;
    fake.inject(Fault {
        object_type: "companies",
        offset: 0,
        kind: FaultKind::Status(503),
        times: 99,
    });
    let mut store = Store::open_in_memory().unwrap();
    let err = sync(&client(&fake, TOKEN), &mut store, &incremental(), t0(), |_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("503"), "{err}");
    assert_eq!(
        fake.log().len(),
        2 + 5,
        "owners and pipelines, then five attempts"
    );
}

#[tokio::test]
async fn a_full_sync_starts_over() {
    let fake = FakeHubSpot::start(10, 120, 0, 0).await;
    let mut store = first_sync(&fake).await;
    let before = fake.log().len();
    let summary = sync(&client(&fake, TOKEN), &mut store, &full(), t0(), |_| {})
        .await
        .unwrap();
    assert_eq!(summary.fetched, 130);
    assert!(fake.log().len() > before);
    assert_eq!(count(&store, "contacts"), 120, "upserts are idempotent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn casey_sync_hubspot_end_to_end_never_leaks_the_token() {
    let fake = FakeHubSpot::start(20, 230, 15, 3).await;
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("config.toml");
    std::fs::write(&config, "").unwrap();
    let base = fake.server.uri();
    let dir = data.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        assert_cmd::Command::cargo_bin("casey")
            .unwrap()
            .env("CASEYOS_DATA_DIR", &dir)
            .env("CASEYOS_CONFIG", dir.join("config.toml"))
            .env("CASEYOS_ACCOUNTS__KEYRING", "none")
            .env("CASEYOS_HUBSPOT__API_BASE", &base)
            .env("CASEYOS_HUBSPOT_TOKEN", TOKEN)
            .env("CASEYOS_LOG", "trace")
            .args(["sync", "--hubspot"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("hubspot: 271 fetched, 271 changed, 0 deleted · 9 requests"),
        "{stdout}"
    );
    assert!(!stdout.contains(TOKEN) && !stderr.contains(TOKEN));
    for entry in std::fs::read_dir(data.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap_or_default();
        assert!(
            !bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
            "token found on disk"
        );
    }
    let store = Store::open(&data.path().join("casey.db")).unwrap();
    assert_eq!(count(&store, "contacts"), 230);
}

#[test]
fn casey_sync_without_a_token_or_on_the_demo_says_what_to_do() {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("config.toml");
    std::fs::write(&config, "").unwrap();
    let run = |args: &[&str]| {
        assert_cmd::Command::cargo_bin("casey")
            .unwrap()
            .env("CASEYOS_DATA_DIR", data.path())
            .env("CASEYOS_CONFIG", &config)
            .env("CASEYOS_ACCOUNTS__KEYRING", "none")
            .env_remove("CASEYOS_HUBSPOT_TOKEN")
            .env_remove("CASEYOS_GOOGLE_TOKEN")
            .env_remove("CASEYOS_GOOGLE_REFRESH_TOKEN")
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["sync"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("CASEYOS_HUBSPOT_TOKEN"));
    let out = run(&["--demo", "sync"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to sync"));
    let out = run(&["sync", "--hubspot"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("CASEYOS_HUBSPOT_TOKEN"));
    let out = run(&["sync", "--gmail"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("casey auth google"));
}

fn names(store: &Store) -> std::collections::HashMap<String, String> {
    store
        .load_mirror()
        .unwrap()
        .contacts
        .into_iter()
        .map(|c| (c.id, c.first_name.unwrap_or_default()))
        .collect()
}

#[tokio::test]
async fn a_second_sync_after_300_changes_fetches_only_those() {
    let fake = FakeHubSpot::start(50, 3_000, 100, 10).await;
    let mut store = first_sync(&fake).await;
    let associations = store.table_count("associations").unwrap();
    assert_eq!(
        associations,
        2 * 100 + 10 + 10,
        "deal, task and note links (a contact's company is a column)"
    );
    fake.modify("contacts", 1_000, 300, "2026-11-21T08:00:00.000Z");
    // One of them also moved to another company.
    fake.associate("contacts", "101150", "companies", &["20007".to_string()]);
    let mut fetched = std::collections::HashMap::new();
    let summary = sync(&client(&fake, TOKEN), &mut store, &incremental(), hours(9), |p| {
        fetched.insert(p.object_type, p.fetched);
    })
    .await
    .unwrap();
    assert_eq!(fetched["contacts"], 300, "{fetched:?}");
    for t in ["companies", "deals", "tasks", "notes"] {
        assert_eq!(fetched[t], 0, "{t}: nothing changed");
    }
    assert_eq!(
        summary.requests,
        2 + 3 + 4,
        "two search pages for contacts and three association reads (100 ids each) for them, \
         one search per other type, no pipelines"
    );
    assert_eq!(summary.changed, 300);
    let names = names(&store);
    assert_eq!(names.values().filter(|n| n.starts_with("changed")).count(), 300);
    assert_eq!(names["101150"], "changed 101150");
    assert_eq!(store.table_count("contacts").unwrap(), 3_000);
    let company = |id: &str| {
        store
            .load_mirror()
            .unwrap()
            .contacts
            .into_iter()
            .find(|c| c.id == id)
            .unwrap()
            .company_id
    };
    assert_eq!(
        company("101150").as_deref(),
        Some("20007"),
        "changed records come with their current associations (v4 batch read)"
    );
    assert_eq!(
        company("101151").as_deref(),
        Some("20001"),
        "the others keep theirs (1151 % 50 companies)"
    );
    assert_eq!(
        store.table_count("associations").unwrap(),
        associations,
        "no association was lost"
    );
}

#[tokio::test]
async fn a_no_change_incremental_sync_is_one_request_per_object_type() {
    let fake = FakeHubSpot::start(20, 300, 20, 5).await;
    let mut store = first_sync(&fake).await;
    let summary = run(&fake, &mut store, hours(1)).await;
    assert_eq!(
        summary.requests, 5,
        "companies, contacts, deals, tasks, notes; pipelines at most daily"
    );
    assert_eq!(fake.searches(), 5);
}

#[tokio::test]
async fn more_than_10k_changes_sharing_one_timestamp_complete_without_gaps() {
    let fake = FakeHubSpot::start(5, 12_500, 0, 0).await;
    let mut store = first_sync(&fake).await;
    fake.modify("contacts", 0, 12_500, "2026-11-21T08:00:00.000Z");
    let before = fake.searches();
    run(&fake, &mut store, hours(9)).await;
    let names = names(&store);
    assert_eq!(names.len(), 12_500);
    assert!(
        names.values().all(|n| n.starts_with("changed")),
        "every change landed"
    );
    let searches = fake.searches() - before;
    // Window to the cap, restart at the shared timestamp (cap again), then walk it by id.
    assert!(
        searches <= 3 * (12_500 / 200) + 10,
        "bounded: {searches} search requests"
    );
    // The next sync finds nothing new: one request per type.
    let third = run(&fake, &mut store, hours(10)).await;
    assert_eq!(third.requests, 5);
}

#[tokio::test]
async fn late_indexed_records_inside_the_overlap_are_still_picked_up() {
    let fake = FakeHubSpot::start(5, 50, 0, 0).await;
    let mut store = first_sync(&fake).await;
    // Saved 2 minutes before the last sync started, but indexed by search only after it.
    let late = (t0() - chrono::Duration::minutes(2)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    fake.modify("contacts", 7, 1, &late);
    run(&fake, &mut store, hours(1)).await;
    assert_eq!(names(&store)["100007"], "changed 100007");
}

#[tokio::test]
async fn each_sync_records_how_it_ended_for_casey_doctor() {
    let fake = FakeHubSpot::start(2, 2, 2, 2).await;
    let mut store = Store::open_in_memory().unwrap();
    assert_eq!(store.last_sync("hubspot").unwrap(), None);
    sync(
        &client(&fake, "pat-wrong"),
        &mut store,
        &incremental(),
        t0(),
        |_| {},
    )
    .await
    .unwrap_err();
    let record = store.last_sync("hubspot").unwrap().unwrap();
    assert_eq!(record.attempted_at, t0());
    assert_eq!(record.succeeded_at, None);
    assert!(
        record
            .error
            .as_deref()
            .unwrap()
            .starts_with("HubSpot rejected the token (401)"),
        "{record:?}"
    );

    let later = t0() + chrono::Duration::minutes(5);
    sync(&client(&fake, TOKEN), &mut store, &incremental(), later, |_| {})
        .await
        .unwrap();
    let record = store.last_sync("hubspot").unwrap().unwrap();
    assert_eq!((record.attempted_at, record.succeeded_at), (later, Some(later)));
    assert_eq!(record.error, None);
}
