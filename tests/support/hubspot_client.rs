//! Shared set-up for the HubSpot sync tests: a fast client for the fake, sync options and
//! the test clock.
#![allow(dead_code)]

use std::time::Duration;

use caseyos::connectors::hubspot::client::{ClientOptions, HubSpotClient, Retry};
use caseyos::store::Store;
use caseyos::sync::hubspot::{Summary, SyncOptions, sync};
use secrecy::SecretString;

use super::fake_hubspot::{FakeHubSpot, TOKEN};

/// Test options: tiny backoff, and rate limits high enough not to slow the suite down (the
/// limits themselves have their own test).
pub fn options() -> ClientOptions {
    ClientOptions {
        retry: Retry {
            attempts: 5,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        },
        requests_per_10s: 100_000,
        search_per_second: 10_000,
        ..ClientOptions::default()
    }
}

pub fn client(fake: &FakeHubSpot, token: &str) -> HubSpotClient {
    client_with(fake, token, options())
}

pub fn client_with(fake: &FakeHubSpot, token: &str, options: ClientOptions) -> HubSpotClient {
    HubSpotClient::new(&fake.server.uri(), SecretString::from(token.to_string()), options).unwrap()
}

pub fn incremental() -> SyncOptions {
    SyncOptions::default()
}

pub fn full() -> SyncOptions {
    SyncOptions {
        full: true,
        ..SyncOptions::default()
    }
}

/// The wall clock of the first sync in each test.
pub fn t0() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-11-21T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc)
}

pub fn hours(h: i64) -> chrono::DateTime<chrono::Utc> {
    t0() + chrono::Duration::hours(h)
}

pub fn count(store: &Store, table: &str) -> usize {
    store.table_count(table).unwrap()
}

/// One incremental sync (or the first) against the fake with the test client; must succeed.
pub async fn run(fake: &FakeHubSpot, store: &mut Store, now: chrono::DateTime<chrono::Utc>) -> Summary {
    run_with(fake, options(), store, now).await
}

/// The same with a client of other options.
pub async fn run_with(
    fake: &FakeHubSpot,
    options: ClientOptions,
    store: &mut Store,
    now: chrono::DateTime<chrono::Utc>,
) -> Summary {
    sync(
        &client_with(fake, TOKEN, options),
        store,
        &incremental(),
        now,
        |_| {},
    )
    .await
    .unwrap()
}

/// A fresh in-memory mirror after a first sync at [`t0`].
pub async fn first_sync(fake: &FakeHubSpot) -> Store {
    let mut store = Store::open_in_memory().unwrap();
    run(fake, &mut store, t0()).await;
    store
}
