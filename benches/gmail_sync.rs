#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Gmail sync throughput and quota efficiency (see BENCHMARKS.md).
//!
//! * `gmail_first_sync/2000_messages_600_threads` — a whole first sync (profile, 4 list pages
//!   of 500, whole threads or single messages with `format=full`, MIME decoding, drafts list)
//!   against the test fake on 127.0.0.1 into a fresh in-memory mirror, 8 requests in flight.
//!   Includes the fake's own JSON work, so it is a floor for messages/s, not Gmail's speed
//!   (which the quota caps: 15,000 units a minute).
//! * Before measuring, one sync is counted: quota units spent per 1,000 messages, against the
//!   floor for that mailbox (each thread fetched the cheaper way, whole for 10 units or message
//!   by message for 5 each, plus profile, list pages and the drafts list) and against one
//!   `messages.get` per message.
//!
//! Run with `cargo bench --bench gmail_sync`.

#[path = "../tests/support/fake_gmail.rs"]
mod fake_gmail;

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;

use caseyos::auth::token::TokenSource;
use caseyos::connectors::gmail::client::{GmailClient, GmailOptions};
use caseyos::store::Store;
use caseyos::sync::gmail::{SyncOptions, sync};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use fake_gmail::{FakeGmail, TOKEN};

const MESSAGES: usize = 2_000;
const THREADS: usize = 600;

fn client(fake: &FakeGmail) -> GmailClient {
    let tokens = TokenSource::fixed(secrecy::SecretString::from(TOKEN.to_string()));
    let options = GmailOptions {
        units_per_minute: u64::MAX / 4,
        ..GmailOptions::default()
    };
    GmailClient::new(&fake.uri(), Arc::new(tokens), options).unwrap()
}

/// Units of one first sync, the floor for this mailbox, and one `messages.get` per message.
fn quota(rt: &tokio::runtime::Runtime, fake: &FakeGmail) {
    let mut store = Store::open_in_memory().unwrap();
    let summary = rt
        .block_on(sync(
            &client(fake),
            &mut store,
            &SyncOptions::default(),
            fake_gmail::now(),
            |_| {},
        ))
        .unwrap();
    let mut sizes: HashMap<String, u64> = HashMap::new();
    for t in fake.truth() {
        *sizes.entry(t.thread_id).or_default() += 1;
    }
    let pages = MESSAGES.div_ceil(500) as u64;
    let fixed = 1 + 5 * pages + 5; // profile, list pages, drafts list
    let floor: u64 = fixed + sizes.values().map(|&n| (5 * n).min(10)).sum::<u64>();
    let naive = fixed + 5 * MESSAGES as u64;
    let per_k = |u: u64| u as f64 * 1_000.0 / MESSAGES as f64;
    eprintln!(
        "gmail first sync of {MESSAGES} messages in {THREADS} threads: {} requests, {} units \
         = {:.0} per 1,000 messages (floor for this mailbox {:.0}, one messages.get each {:.0})",
        summary.requests,
        summary.units,
        per_k(summary.units),
        per_k(floor),
        per_k(naive)
    );
}

fn first_sync(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let fake = rt.block_on(FakeGmail::with_mailbox(MESSAGES, THREADS));
    quota(&rt, &fake);
    let mut g = c.benchmark_group("gmail_first_sync");
    g.sample_size(10);
    g.throughput(Throughput::Elements(MESSAGES as u64));
    g.bench_function("2000_messages_600_threads", |b| {
        b.iter_batched(
            || Store::open_in_memory().unwrap(),
            |mut store| {
                rt.block_on(async {
                    let summary = sync(
                        &client(&fake),
                        &mut store,
                        &SyncOptions::default(),
                        fake_gmail::now(),
                        |_| {},
                    )
                    .await
                    .unwrap();
                    assert_eq!(summary.fetched, MESSAGES as u64);
                    black_box(store)
                })
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

criterion_group!(benches, first_sync);
criterion_main!(benches);
