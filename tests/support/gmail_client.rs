//! Shared set-up for the Gmail sync tests: a fast client for the fake, sync options, and
//! readers of the mirror to compare with the fake's ground truth.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use caseyos::auth::token::TokenSource;
use caseyos::connectors::gmail::client::{GmailClient, GmailOptions};
use caseyos::connectors::http::Retry;
use caseyos::store::Store;
use caseyos::sync::gmail::{Summary, SyncOptions, sync};
use secrecy::SecretString;

use super::fake_gmail::{FakeGmail, REFRESH_TOKEN, TOKEN};

/// Test options: tiny backoff and a quota budget that never slows the suite down (the budget
/// itself has its own tests).
pub fn options() -> GmailOptions {
    GmailOptions {
        retry: Retry {
            attempts: 6,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        },
        units_per_minute: 100_000_000,
        ..GmailOptions::default()
    }
}

/// A client with the fake's fixed access token.
pub fn client(fake: &FakeGmail) -> GmailClient {
    client_with(fake, options())
}

/// The same with other options.
pub fn client_with(fake: &FakeGmail, options: GmailOptions) -> GmailClient {
    let tokens = TokenSource::fixed(SecretString::from(TOKEN.to_string()));
    GmailClient::new(&fake.uri(), Arc::new(tokens), options).unwrap()
}

/// A client that refreshes its tokens at the fake's token endpoint, and its token source.
pub fn refreshing_client(fake: &FakeGmail) -> (GmailClient, Arc<TokenSource>) {
    let tokens = Arc::new(TokenSource::refreshing(
        &fake.token_url(),
        "casey-test-client.apps.example",
        Some(SecretString::from("desktop-secret-not-confidential".to_string())),
        SecretString::from(REFRESH_TOKEN.to_string()),
    ));
    let client = GmailClient::new(&fake.uri(), tokens.clone(), options()).unwrap();
    (client, tokens)
}

/// Sync options: the default window, listed 500 at a time.
pub fn sync_options() -> SyncOptions {
    SyncOptions::default()
}

/// Options that list the window again.
pub fn full() -> SyncOptions {
    SyncOptions {
        full: true,
        ..SyncOptions::default()
    }
}

/// The wall clock of the syncs (the fake's "now").
pub fn t0() -> chrono::DateTime<chrono::Utc> {
    super::fake_gmail::now()
}

/// One sync with the test client; must succeed.
pub async fn run(fake: &FakeGmail, store: &mut Store) -> Summary {
    sync(&client(fake), store, &sync_options(), t0(), |_| {})
        .await
        .unwrap()
}

/// A mirror in a temporary directory (so tests can read it with their own connection).
pub struct Mirror {
    pub dir: tempfile::TempDir,
    pub store: Store,
}

impl Mirror {
    /// A fresh, empty mirror.
    pub fn new() -> Mirror {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("casey.db")).unwrap();
        Mirror { dir, store }
    }

    /// A read-only connection of the test's own.
    pub fn sql(&self) -> rusqlite::Connection {
        rusqlite::Connection::open_with_flags(
            self.dir.path().join("casey.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap()
    }

    /// Every mirrored message, sorted by id.
    pub fn rows(&self) -> Vec<Row> {
        let c = self.sql();
        let mut st = c
            .prepare(
                "SELECT id, thread_id, labels_json, at, from_email, subject, message_id_header, in_reply_to,
                        references_header, body, outbound FROM messages ORDER BY id",
            )
            .unwrap();
        st.query_map([], |r| {
            Ok(Row {
                id: r.get(0)?,
                thread_id: r.get(1)?,
                labels: serde_json::from_str(&r.get::<_, String>(2)?).unwrap(),
                at_ms: chrono::DateTime::parse_from_rfc3339(&r.get::<_, String>(3)?)
                    .unwrap()
                    .timestamp_millis(),
                from: r.get(4)?,
                subject: r.get(5)?,
                message_id: r.get(6)?,
                in_reply_to: r.get(7)?,
                references: r.get(8)?,
                body: r.get(9)?,
                outbound: r.get(10)?,
            })
        })
        .unwrap()
        .collect::<rusqlite::Result<Vec<_>>>()
        .unwrap()
    }

    /// One number from SQL.
    pub fn count(&self, sql: &str) -> i64 {
        self.sql().query_row(sql, [], |r| r.get(0)).unwrap()
    }
}

/// A mirror after a first sync.
pub async fn first_sync(fake: &FakeGmail) -> Mirror {
    let mut m = Mirror::new();
    run(fake, &mut m.store).await;
    m
}

/// One mirrored message as the tests compare it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub id: String,
    pub thread_id: String,
    pub labels: Vec<String>,
    pub at_ms: i64,
    pub from: String,
    pub subject: String,
    pub message_id: Option<String>,
    pub in_reply_to: Option<String>,
    pub references: Option<String>,
    pub body: String,
    pub outbound: bool,
}

/// Sorted label list, for comparing label sets.
pub fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}
