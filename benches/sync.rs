#![allow(clippy::unwrap_used, clippy::expect_used)]
//! HubSpot sync throughput (see BENCHMARKS.md).
//!
//! * `hubspot_first_sync/5600_records` — a whole first sync (owners, pipelines, 200 companies,
//!   5,000 contacts, 300 deals, 50 tasks, 50 notes: 59 requests) against the test fake on
//!   127.0.0.1 into a fresh in-memory mirror. Includes the fake's own JSON work, so it is a
//!   floor for records/s, not HubSpot's speed (which the rate limit caps at ~100 requests/10 s).
//! * `mirror_write/10k_contacts_in_pages_of_100` — only the store side: 100 `apply_page`
//!   transactions of 100 contacts (with change detection and a cursor each) into a fresh mirror.
//!
//! Run with `cargo bench --bench sync`.

#[path = "../tests/support/fake_hubspot.rs"]
mod fake_hubspot;

use std::hint::black_box;

use caseyos::connectors::hubspot::client::{ClientOptions, HubSpotClient};
use caseyos::domain::entities::Contact;
use caseyos::store::{MirrorBatch, Store};
use caseyos::sync::hubspot::{SyncOptions, sync};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use fake_hubspot::{FakeHubSpot, TOKEN};

fn first_sync(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let fake = rt.block_on(FakeHubSpot::start(200, 5_000, 300, 50));
    let options = ClientOptions {
        requests_per_10s: 1_000_000,
        search_per_second: 1_000_000,
        ..ClientOptions::default()
    };
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-21T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let mut g = c.benchmark_group("hubspot_first_sync");
    g.sample_size(10);
    g.throughput(Throughput::Elements(5_600));
    g.bench_function("5600_records", |b| {
        b.iter_batched(
            || Store::open_in_memory().unwrap(),
            |mut store| {
                rt.block_on(async {
                    let client = HubSpotClient::new(
                        &fake.server.uri(),
                        secrecy::SecretString::from(TOKEN.to_string()),
                        options.clone(),
                    )
                    .unwrap();
                    let summary = sync(&client, &mut store, &SyncOptions::default(), now, |_| {})
                        .await
                        .unwrap();
                    assert_eq!(summary.fetched, 5_600);
                    black_box(store)
                })
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

fn contact(i: usize) -> (Contact, String) {
    let c = Contact {
        id: format!("{}", 100_000 + i),
        email: Some(format!("person{i}@c{}.example", i % 200)),
        first_name: Some(format!("P{i}")),
        last_name: Some("Tester".into()),
        company_name: None,
        company_id: Some(format!("{}", 20_000 + i % 200)),
        job_title: None,
        lifecycle_stage: Some("lead".into()),
        created_at: None,
        updated_at: None,
        recent_conversion_at: None,
        recent_conversion_event: None,
    };
    let raw = format!(
        r#"{{"id":"{}","properties":{{"email":"person{i}@c.example"}}}}"#,
        c.id
    );
    (c, raw)
}

fn mirror_write(c: &mut Criterion) {
    let pages: Vec<MirrorBatch> = (0..100)
        .map(|p| MirrorBatch {
            contacts: (0..100).map(|i| contact(p * 100 + i)).collect(),
            ..MirrorBatch::default()
        })
        .collect();
    let mut g = c.benchmark_group("mirror_write");
    g.sample_size(10);
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("10k_contacts_in_pages_of_100", |b| {
        b.iter_batched(
            || Store::open_in_memory().unwrap(),
            |mut store| {
                for (i, page) in pages.iter().enumerate() {
                    let after = (i * 100).to_string();
                    store
                        .apply_page(page, &[("hubspot", "contacts:list", &after)])
                        .unwrap();
                }
                black_box(store)
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

criterion_group!(benches, first_sync, mirror_write);
criterion_main!(benches);
