//! HubSpot sync under adversity, against the local fake: a sync dropped at a random page and
//! resumed, slow answers and timeouts, the search rate limit, a failing service (circuit
//! breaker), records deleted in HubSpot, extra properties and telemetry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support {
    pub mod fake_hubspot;
    pub mod hubspot_client;
}

use std::time::Duration;

use caseyos::config::ExtraProperties;
use caseyos::connectors::hubspot::client::{ClientOptions, HubSpotError};
use caseyos::connectors::politeness::BreakerState;
use caseyos::store::Store;
use caseyos::sync::hubspot::{SyncError, SyncOptions, sync};
use support::fake_hubspot::{FakeHubSpot, Fault, FaultKind, TOKEN};
use support::hubspot_client::{
    client, client_with, count, first_sync, hours, incremental, options, run, run_with, t0,
};

/// Everything mirrored from HubSpot, in a comparable form.
fn digest(store: &Store) -> String {
    let m = store.load_mirror().unwrap();
    let mut contacts = m.contacts.clone();
    contacts.sort_by(|a, b| a.id.cmp(&b.id));
    let mut deals = m.deals.clone();
    deals.sort_by(|a, b| a.id.cmp(&b.id));
    let mut companies = m.companies.clone();
    companies.sort_by(|a, b| a.id.cmp(&b.id));
    let mut tasks = m.tasks.clone();
    tasks.sort_by(|a, b| a.id.cmp(&b.id));
    let mut notes = m.notes.clone();
    notes.sort_by(|a, b| a.id.cmp(&b.id));
    format!(
        "{contacts:?}\n{deals:?}\n{companies:?}\n{tasks:?}\n{notes:?}\n{:?}\nassociations {}",
        m.stages,
        count(store, "associations")
    )
}

/// Runs a sync and drops it (like a killed task) once `stop_after` pages have landed; returns
/// whether it finished first.
async fn sync_until_page(
    fake: &FakeHubSpot,
    store: &mut Store,
    now: chrono::DateTime<chrono::Utc>,
    stop_after: u64,
) -> bool {
    let stop = tokio::sync::Notify::new();
    let client = client(fake, TOKEN);
    let options = incremental();
    let mut pages = 0;
    let run = sync(&client, store, &options, now, |_| {
        pages += 1;
        if pages == stop_after {
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

/// A small deterministic generator for "random" stop pages.
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

/// The changes every incremental scenario makes: 700 contacts (4 search pages) saved over
/// seven minutes, and 20 deals.
fn change(fake: &FakeHubSpot) {
    for minute in 0..7 {
        fake.modify(
            "contacts",
            100 + 100 * minute,
            100,
            &format!("2026-11-21T08:0{minute}:00.000Z"),
        );
    }
    fake.modify("deals", 0, 20, "2026-11-21T08:30:00.000Z");
}

#[tokio::test]
async fn a_sync_dropped_at_random_pages_and_resumed_converges_to_the_same_mirror() {
    let shape = (30, 1_200, 150, 20);
    let reference = FakeHubSpot::start(shape.0, shape.1, shape.2, shape.3).await;
    let mut expected = first_sync(&reference).await;
    let first = digest(&expected);
    change(&reference);
    run(&reference, &mut expected, hours(9)).await;
    let changed = digest(&expected);
    assert_ne!(first, changed);

    for seed in [7_u64, 42, 2026] {
        let mut rng = Lcg(seed);
        let fake = FakeHubSpot::start(shape.0, shape.1, shape.2, shape.3).await;
        let mut store = Store::open_in_memory().unwrap();
        // First sync: 17 list pages; dropped every 1–5 pages until it gets through.
        let mut kills = 0;
        while !sync_until_page(&fake, &mut store, t0(), 1 + rng.below(5)).await {
            kills += 1;
            assert!(kills < 40, "the sync makes progress between kills");
        }
        assert!(kills >= 2, "seed {seed}: killed {kills} times");
        assert_eq!(digest(&store), first, "seed {seed}: first sync");

        // The incremental sync of the changes, dropped the same way.
        change(&fake);
        let mut kills = 0;
        // Each run spends one page per finished type, so stops range over a whole run's pages.
        while !sync_until_page(&fake, &mut store, hours(9), 1 + rng.below(6)).await {
            kills += 1;
            assert!(kills < 40, "the incremental sync makes progress between kills");
        }
        assert!(kills >= 1, "seed {seed}: killed {kills} times");
        assert_eq!(digest(&store), changed, "seed {seed}: after the changes");
        // Nothing is left half done: the next run finds nothing new.
        let next = run(&fake, &mut store, hours(10)).await;
        assert_eq!(next.requests, 5, "seed {seed}");
    }
}

#[tokio::test]
async fn slow_answers_time_out_and_are_retried_until_the_mirror_converges() {
    let reference = FakeHubSpot::start(10, 300, 20, 5).await;
    let mut expected = first_sync(&reference).await;

    let fake = FakeHubSpot::start(10, 300, 20, 5).await;
    let impatient = ClientOptions {
        timeout: Duration::from_secs(1),
        ..options()
    };
    for (object_type, offset, times) in [("contacts", 100, 2), ("deals", 0, 1)] {
        fake.inject(Fault {
            object_type,
            offset,
            kind: FaultKind::Slow(Duration::from_secs(30)),
            times,
        });
    }
    let mut store = Store::open_in_memory().unwrap();
    run_with(&fake, impatient.clone(), &mut store, t0()).await;
    assert_eq!(digest(&store), digest(&expected));

    // Searches time out too.
    for f in [&reference, &fake] {
        f.modify("contacts", 0, 50, "2026-11-21T08:00:00.000Z");
    }
    run(&reference, &mut expected, hours(9)).await;
    fake.inject(Fault {
        object_type: "contacts/search",
        offset: 0,
        kind: FaultKind::Slow(Duration::from_secs(30)),
        times: 1,
    });
    run_with(&fake, impatient, &mut store, hours(9)).await;
    assert_eq!(digest(&store), digest(&expected));
    let telemetry: std::collections::HashMap<String, i64> =
        store.telemetry_counts().unwrap().into_iter().collect();
    // Each slow answer was a timeout, recorded with its endpoint (on a loaded machine an
    // ordinary answer may time out too; that is retried and recorded the same way).
    let errors = store.telemetry_payloads("integration_error", 100).unwrap();
    assert!(telemetry["integration_error"] >= 4, "{telemetry:?}");
    assert!(errors.iter().all(|e| e["error"] == "timeout"), "{errors:#?}");
    for endpoint in [
        "GET /crm/v3/objects/contacts",
        "GET /crm/v3/objects/deals",
        "POST /crm/v3/objects/contacts/search",
    ] {
        assert!(
            errors.iter().any(|e| e["endpoint"] == endpoint),
            "{endpoint}: {errors:#?}"
        );
    }
}

#[tokio::test]
async fn searches_stay_within_five_per_second() {
    let fake = FakeHubSpot::start(5, 2_000, 0, 0).await;
    let mut store = first_sync(&fake).await;
    fake.modify("contacts", 0, 2_000, "2026-11-21T08:00:00.000Z");
    fake.limit_searches(5);
    let polite = ClientOptions {
        search_per_second: 5,
        ..options()
    };
    let before = fake.searches();
    run_with(&fake, polite, &mut store, hours(9)).await;
    assert_eq!(
        fake.searches() - before,
        10 + 4,
        "ten pages of contacts, one per other type"
    );
    assert_eq!(fake.search_429s(), 0, "the client never exceeded the limit");
    assert_eq!(
        store
            .load_mirror()
            .unwrap()
            .contacts
            .iter()
            .filter(|c| c.first_name.as_deref().is_some_and(|n| n.starts_with("changed")))
            .count(),
        2_000
    );
}

#[tokio::test]
async fn a_spent_budget_announced_in_the_headers_is_waited_out() {
    let fake = FakeHubSpot::start(3, 150, 3, 0).await;
    // The very first answer says the 10-second budget is spent for the next 400 ms.
    fake.spend_budget(400);
    let store = first_sync(&fake).await;
    assert_eq!(
        fake.budget_429s(),
        0,
        "the client waited instead of collecting a 429"
    );
    assert_eq!(count(&store, "contacts"), 150);
}

#[tokio::test]
async fn a_failing_service_opens_the_breaker_and_is_left_alone() {
    let fake = FakeHubSpot::start(3, 3, 3, 0).await;
    fake.inject(Fault {
        object_type: "companies",
        offset: 0,
        kind: FaultKind::Status(503),
        times: 999,
    });
    let client = client_with(
        &fake,
        TOKEN,
        ClientOptions {
            breaker_failures: 3,
            ..options()
        },
    );
    let mut store = Store::open_in_memory().unwrap();
    let err = sync(&client, &mut store, &incremental(), t0(), |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SyncError::HubSpot(HubSpotError::Unavailable { failures: 3, .. })
        ),
        "{err}"
    );
    assert!(err.to_string().contains("pauses requests"), "{err}");
    assert_eq!(
        fake.log().len(),
        2 + 3,
        "owners, pipelines, three failures, then nothing"
    );
    assert!(matches!(client.breaker(), BreakerState::Open { .. }));

    // While open, another sync does not touch the service at all.
    let err = sync(&client, &mut store, &incremental(), t0(), |_| {})
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        SyncError::HubSpot(HubSpotError::Unavailable { .. })
    ));
    assert_eq!(fake.log().len(), 5);
    let telemetry: std::collections::HashMap<String, i64> =
        store.telemetry_counts().unwrap().into_iter().collect();
    // Every attempt has a latency row; the three failed ones an error row too.
    assert_eq!(telemetry["integration_error"], 3, "{telemetry:?}");
    assert_eq!(telemetry["integration_latency"], 5, "{telemetry:?}");
}

#[tokio::test]
async fn request_telemetry_is_kept_for_a_month() {
    let fake = FakeHubSpot::start(2, 2, 0, 0).await;
    let mut store = Store::open_in_memory().unwrap();
    let logged = |store: &Store| {
        store
            .telemetry_counts()
            .unwrap()
            .into_iter()
            .find(|(e, _)| e == "integration_latency")
            .map_or(0, |(_, n)| n as u64)
    };
    let first = run(&fake, &mut store, t0()).await.requests;
    assert_eq!(logged(&store), first, "one event per request");
    let day29 = run(&fake, &mut store, hours(24 * 29)).await.requests;
    assert_eq!(logged(&store), first + day29, "nothing is a month old yet");
    let day31 = run(&fake, &mut store, hours(24 * 31)).await.requests;
    assert_eq!(logged(&store), day29 + day31, "the first sync's events are gone");
}

#[tokio::test]
async fn records_deleted_in_hubspot_leave_the_mirror_and_the_moves() {
    let fake = FakeHubSpot::start(10, 100, 10, 10).await;
    let mut store = first_sync(&fake).await;
    let config = caseyos::config::Config::default();
    let about = |store: &Store, id: &str, now| {
        caseyos::today::moves(store, &config, now)
            .unwrap()
            .iter()
            .filter(|m| m.key.contains(id))
            .count()
    };
    let keys: Vec<String> = caseyos::today::moves(&store, &config, hours(25))
        .unwrap()
        .into_iter()
        .map(|m| m.key)
        .collect();
    assert!(
        about(&store, "410004", hours(25)) > 0,
        "task 410004 is a move: {keys:?}"
    );

    fake.delete("deals", "300004");
    fake.delete("tasks", "410004");
    fake.delete("contacts", "100009");
    fake.delete("companies", "20003");
    // Deletions are looked for once a day: an hour later nothing is removed yet...
    let soon = run(&fake, &mut store, hours(1)).await;
    assert_eq!((soon.deleted, soon.requests), (0, 5));
    assert_eq!(count(&store, "deals"), 10);
    // ...a day later they are, with their associations and moves.
    let later = run(&fake, &mut store, hours(25)).await;
    assert_eq!(later.deleted, 4);
    assert_eq!(
        (
            count(&store, "deals"),
            count(&store, "tasks"),
            count(&store, "contacts"),
            count(&store, "companies")
        ),
        (9, 9, 99, 9)
    );
    let mirror = store.load_mirror().unwrap();
    assert!(mirror.deals.iter().all(|d| d.id != "300004"));
    assert!(
        mirror
            .contacts
            .iter()
            .all(|c| c.company_id.as_deref() != Some("20003")),
        "nobody works at a deleted company"
    );
    assert!(
        mirror
            .deals
            .iter()
            .all(|d| !d.contact_ids.contains(&"100009".to_string())),
        "no deal points at a deleted contact"
    );
    assert_eq!(
        about(&store, "410004", hours(25)),
        0,
        "the deleted task's move is gone"
    );
}

#[tokio::test]
async fn extra_properties_from_config_are_mirrored_and_owners_are_fetched() {
    let fake = FakeHubSpot::start(3, 5, 0, 0).await;
    fake.set_property("contacts", "100003", "favourite_colour", "teal");
    let dir = tempfile::tempdir().unwrap();
    let with = SyncOptions {
        extra_properties: ExtraProperties {
            contacts: vec!["favourite_colour".into()],
            ..ExtraProperties::default()
        },
        ..SyncOptions::default()
    };
    for (name, options, expect) in [("with", with, true), ("without", SyncOptions::default(), false)] {
        let path = dir.path().join(format!("{name}.db"));
        let mut store = Store::open(&path).unwrap();
        sync(&client(&fake, TOKEN), &mut store, &options, t0(), |_| {})
            .await
            .unwrap();
        assert_eq!(count(&store, "owners"), 2);
        drop(store);
        let raw: String = rusqlite::Connection::open(&path)
            .unwrap()
            .query_row("SELECT raw FROM contacts WHERE id = '100003'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            raw.contains("\"favourite_colour\":\"teal\""),
            expect,
            "{name}: {raw}"
        );
    }
}

#[tokio::test]
async fn a_dropped_search_resumes_after_the_last_page_that_landed() {
    let fake = FakeHubSpot::start(5, 900, 0, 0).await;
    let mut store = first_sync(&fake).await;
    change(&fake);
    // Companies (one empty page), then the first page of contacts lands: 08:00 and 08:01.
    assert!(!sync_until_page(&fake, &mut store, hours(9), 2).await);
    let at = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_millis()
            .to_string()
    };
    assert_eq!(
        store.cursor("hubspot", "contacts:modified").unwrap(),
        Some(at("2026-11-21T08:01:00Z")),
        "the next run starts at the last timestamp that landed, not at the last sync"
    );
    let before = fake.searches();
    run(&fake, &mut store, hours(9)).await;
    // From 08:01 on: 600 records (the 08:01 group is read again), three pages instead of four.
    assert_eq!(
        fake.searches() - before,
        1 + 3 + 3,
        "companies, three contact pages, deals, tasks, notes"
    );
}
