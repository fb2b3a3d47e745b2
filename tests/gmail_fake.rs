//! Self-checks of the Gmail fake (`tests/support/fake_gmail.rs`) with plain reqwest: its
//! shapes, paging, history, tokens, faults and quota units — not the product.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support {
    pub mod fake_gmail;
}

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE;
use serde_json::Value;
use support::fake_gmail::{
    FakeGmail, Fault, FaultKind, Method, NewMessage, OPERATOR, REFRESH_TOKEN, TOKEN, Truth, now,
};

const API: &str = "/gmail/v1/users/me";

async fn get_with(fake: &FakeGmail, token: &str, path_and_query: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("{}{API}/{path_and_query}", fake.uri()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn get(fake: &FakeGmail, path_and_query: &str) -> (u16, Value) {
    get_with(fake, &fake.current_token(), path_and_query).await
}

async fn ok(fake: &FakeGmail, path_and_query: &str) -> Value {
    let (status, body) = get(fake, path_and_query).await;
    assert_eq!(status, 200, "{path_and_query}: {body}");
    body
}

fn ids(list: &Value, key: &str) -> Vec<String> {
    list[key]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

/// Every id of `messages.list` for a query, following `nextPageToken`.
async fn list_all(fake: &FakeGmail, query: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let page = ok(
            fake,
            &format!("messages?maxResults=500&{query}&pageToken={token}"),
        )
        .await;
        out.extend(ids(&page, "messages"));
        match page["nextPageToken"].as_str() {
            Some(t) => token = t.to_string(),
            None => return out,
        }
    }
}

fn decode_leaf(part: &Value) -> Vec<u8> {
    URL_SAFE.decode(part["body"]["data"].as_str().unwrap()).unwrap()
}

fn header<'a>(part: &'a Value, name: &str) -> Option<&'a str> {
    part["headers"]
        .as_array()?
        .iter()
        .find(|h| h["name"].as_str().unwrap().eq_ignore_ascii_case(name))
        .and_then(|h| h["value"].as_str())
}

fn first_leaf<'a>(part: &'a Value, mime: &str) -> Option<&'a Value> {
    match part["parts"].as_array() {
        Some(children) => children.iter().find_map(|c| first_leaf(c, mime)),
        None => {
            (part["mimeType"] == mime && part["filename"].as_str().unwrap_or("").is_empty()).then_some(part)
        }
    }
}

#[tokio::test]
async fn profile_and_list_paging_return_every_message_once_newest_first() {
    let fake = FakeGmail::with_mailbox(2_000, 600).await;
    let profile = ok(&fake, "profile").await;
    assert_eq!(profile["emailAddress"], OPERATOR);
    assert_eq!(profile["messagesTotal"], 2_000);
    assert_eq!(profile["threadsTotal"], 600);
    assert_eq!(profile["historyId"], fake.history_id().to_string());

    let listed = list_all(&fake, "").await;
    assert_eq!(fake.calls(Method::MessagesList), 4, "pages of 500");
    assert_eq!(listed.len(), 2_000);
    assert_eq!(listed.iter().collect::<HashSet<_>>().len(), 2_000, "each id once");
    let truth: HashMap<String, Truth> = fake.truth().into_iter().map(|t| (t.id.clone(), t)).collect();
    assert_eq!(truth.len(), 2_000);
    let dates: Vec<i64> = listed.iter().map(|id| truth[id].internal_date_ms).collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]), "newest first");
    let (lo, hi) = (
        (now() - chrono::Duration::days(170)).timestamp_millis(),
        (now() - chrono::Duration::days(1)).timestamp_millis(),
    );
    assert!(dates.iter().all(|d| (lo..=hi).contains(d)));
    assert!(
        truth
            .keys()
            .all(|id| id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit()))
    );
    assert!(fake.correspondents().len() > 50);
    assert!(
        !fake
            .correspondents()
            .iter()
            .any(|c| c == OPERATOR || c.starts_with("noreply@"))
    );

    let (status, body) = get(&fake, "messages?pageToken=bogus").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["errors"][0]["reason"], "invalidArgument");
    let unread = list_all(&fake, "labelIds=INBOX&labelIds=UNREAD").await;
    assert!(!unread.is_empty() && unread.len() < 2_000);
    assert!(
        unread
            .iter()
            .all(|id| truth[id].labels.iter().any(|l| l == "UNREAD"))
    );
}

#[tokio::test]
async fn newer_than_excludes_old_threads() {
    let fake = FakeGmail::with_mailbox(200, 60).await;
    fake.add_old_threads(5, 3);
    assert_eq!(list_all(&fake, "").await.len(), 215);
    assert_eq!(list_all(&fake, "q=newer_than:180d").await.len(), 200);
    assert_eq!(list_all(&fake, "q=older_than:6m").await.len(), 15);
    let trashed = fake.truth()[0].id.clone();
    fake.add_labels(&trashed, &["TRASH"]);
    assert_eq!(list_all(&fake, "").await.len(), 214, "trash is hidden");
    assert_eq!(list_all(&fake, "includeSpamTrash=true").await.len(), 215);
    assert_eq!(list_all(&fake, "q=in:trash").await, [trashed]);
    let promotions = list_all(&fake, "q=category:promotions").await;
    assert!(
        promotions
            .iter()
            .all(|id| fake.message(id).unwrap().from.contains("noreply@vendor.example"))
    );
    let someone = fake.correspondents()[0].clone();
    let from = list_all(&fake, &format!("q=from:{someone}%20newer_than:1y")).await;
    assert!(
        from.iter()
            .all(|id| fake.message(id).unwrap().from.to_lowercase().contains(&someone))
    );
}

#[tokio::test]
async fn threads_come_oldest_first_with_reply_headers_and_bodies_match_truth() {
    let fake = FakeGmail::with_mailbox(300, 80).await;
    let truth = fake.truth();
    let long = fake
        .thread_ids()
        .into_iter()
        .find(|t| fake.thread(t).len() >= 3)
        .unwrap();
    let thread = ok(&fake, &format!("threads/{long}")).await;
    let messages = thread["messages"].as_array().unwrap();
    assert_eq!(messages.len(), fake.thread(&long).len());
    assert_eq!(messages[0]["id"], long.as_str(), "thread id = first message id");
    let dates: Vec<i64> = messages
        .iter()
        .map(|m| m["internalDate"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(dates.windows(2).all(|w| w[0] < w[1]), "oldest first");
    let second = &messages[1]["payload"];
    assert_eq!(
        header(second, "In-Reply-To"),
        header(&messages[0]["payload"], "Message-ID")
    );
    assert!(header(second, "Subject").unwrap().starts_with("Re: "));

    // Every plain-text body decodes (in its charset) to the truth; HTML-only ones are flagged.
    let mut kinds = HashSet::new();
    for t in truth.iter().take(40) {
        let m = ok(&fake, &format!("messages/{}", t.id)).await;
        let payload = &m["payload"];
        kinds.insert(payload["mimeType"].as_str().unwrap().to_string());
        match first_leaf(payload, "text/plain") {
            Some(leaf) => {
                let bytes = decode_leaf(leaf);
                let text = if header(leaf, "Content-Type").unwrap().contains("ISO-8859-1") {
                    bytes.iter().map(|&b| b as char).collect()
                } else {
                    String::from_utf8(bytes).unwrap()
                };
                assert_eq!(text.replace("\r\n", "\n").trim_end(), t.text);
                assert!(!t.html_only);
            }
            None => assert!(t.html_only && first_leaf(payload, "text/html").is_some()),
        }
        let raw = ok(&fake, &format!("messages/{}?format=raw", t.id)).await;
        let rfc822 = String::from_utf8(URL_SAFE.decode(raw["raw"].as_str().unwrap()).unwrap()).unwrap();
        assert!(rfc822.contains(&format!("Message-ID: <{}@mail.example>\r\n", t.id)));
        assert!(rfc822.is_ascii(), "raw is 7-bit");
    }
    assert!(kinds.len() >= 4, "{kinds:?}");

    let meta = ok(
        &fake,
        &format!("messages/{long}?format=metadata&metadataHeaders=Subject"),
    )
    .await;
    assert_eq!(meta["payload"]["headers"].as_array().unwrap().len(), 1);
    assert!(meta["payload"].get("parts").is_none());
    let minimal = ok(&fake, &format!("messages/{long}?format=minimal")).await;
    assert!(minimal.get("payload").is_none() && minimal["labelIds"].is_array());
    assert_eq!(get(&fake, "messages/0123456789abcdef").await.0, 404);
    assert_eq!(get(&fake, "threads/0123456789abcdef").await.0, 404);
}

#[tokio::test]
async fn history_records_changes_pages_and_expires() {
    let fake = FakeGmail::start().await;
    let start = fake.history_id();
    assert_eq!(start, 1000);
    let id = fake.add_message(NewMessage {
        from: "Jane Doe <jane.doe1@company1.example>".into(),
        subject: "Hello".into(),
        text: "Hi there".into(),
        ..NewMessage::default()
    });
    fake.add_labels(&id, &["UNREAD", "IMPORTANT"]);
    fake.remove_labels(&id, &["UNREAD"]);
    let other = fake.add_message(NewMessage {
        thread_id: Some(id.clone()),
        from: format!("Me <{OPERATOR}>"),
        labels: vec!["SENT".into()],
        ..NewMessage::default()
    });
    fake.delete(&other);
    assert_eq!(fake.history_id(), start + 5);

    let all = ok(&fake, &format!("history?startHistoryId={start}")).await;
    let records = all["history"].as_array().unwrap();
    assert_eq!(records.len(), 5);
    assert_eq!(all["historyId"], fake.history_id().to_string());
    assert_eq!(records[0]["messagesAdded"][0]["message"]["id"], id.as_str());
    assert_eq!(
        records[1]["labelsAdded"][0]["labelIds"],
        serde_json::json!(["UNREAD", "IMPORTANT"])
    );
    assert_eq!(
        records[2]["labelsRemoved"][0]["labelIds"],
        serde_json::json!(["UNREAD"])
    );
    assert_eq!(records[4]["messagesDeleted"][0]["message"]["id"], other.as_str());
    assert!(records[4].get("messagesAdded").is_none());

    let added = ok(
        &fake,
        &format!("history?startHistoryId={start}&historyTypes=messageAdded"),
    )
    .await;
    assert_eq!(added["history"].as_array().unwrap().len(), 2);
    let later = ok(&fake, &format!("history?startHistoryId={}", start + 3)).await;
    assert_eq!(later["history"].as_array().unwrap().len(), 2);

    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = ok(
            &fake,
            &format!("history?startHistoryId={start}&maxResults=2&pageToken={token}"),
        )
        .await;
        seen.extend(ids(&page, "history"));
        match page["nextPageToken"].as_str() {
            Some(t) => token = t.to_string(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    assert_eq!(fake.calls(Method::HistoryList), 3 + 3);

    // Drafts: update = delete + add, drafts are listed and in their thread, not in the truth.
    let draft = fake.create_draft(Some(&id), "jane.doe1@company1.example", "Re: Hello", "Draft one");
    let before = fake.history_id();
    fake.update_draft(&draft, "Draft two");
    let changes = ok(&fake, &format!("history?startHistoryId={before}")).await;
    let changes = changes["history"].as_array().unwrap();
    assert!(changes[0].get("messagesDeleted").is_some() && changes[1].get("messagesAdded").is_some());
    let listed = ok(&fake, "drafts").await;
    assert_eq!(listed["drafts"][0]["id"], draft.as_str());
    let got = ok(&fake, &format!("drafts/{draft}")).await;
    assert_eq!(got["message"]["labelIds"], serde_json::json!(["DRAFT"]));
    assert_eq!(
        header(&got["message"]["payload"], "In-Reply-To").unwrap(),
        format!("<{id}@mail.example>")
    );
    assert_eq!(fake.drafts()[0].text, "Draft two");
    assert_eq!(
        ok(&fake, &format!("threads/{id}")).await["messages"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(fake.truth().len(), 1);

    fake.forget_history();
    let (status, body) = get(&fake, &format!("history?startHistoryId={start}")).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["status"], "NOT_FOUND");
    assert_eq!(body["error"]["errors"][0]["reason"], "notFound");
    let current = ok(&fake, &format!("history?startHistoryId={}", fake.history_id())).await;
    assert!(current.get("history").is_none());
}

#[tokio::test]
async fn expired_tokens_get_401_until_a_refresh() {
    let fake = FakeGmail::start().await;
    assert_eq!(get_with(&fake, "wrong", "profile").await.0, 401);
    assert_eq!(get_with(&fake, TOKEN, "profile").await.0, 200);
    fake.expire_token();
    let (status, body) = get_with(&fake, TOKEN, "profile").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["status"], "UNAUTHENTICATED");

    let client = reqwest::Client::new();
    let refresh = |refresh_token: &'static str| {
        client
            .post(fake.token_url())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "grant_type=refresh_token&refresh_token={}&client_id=casey-desktop.apps.example",
                refresh_token.replace('/', "%2F")
            ))
            .send()
    };
    let answer: Value = refresh(REFRESH_TOKEN).await.unwrap().json().await.unwrap();
    let new_token = answer["access_token"].as_str().unwrap().to_string();
    assert_ne!(new_token, TOKEN);
    assert_eq!(answer["expires_in"], 3599);
    assert_eq!(new_token, fake.current_token());
    assert_eq!(get_with(&fake, &new_token, "profile").await.0, 200);
    assert_eq!(get_with(&fake, TOKEN, "profile").await.0, 401);
    assert_eq!(
        fake.token_requests()[0]["client_id"],
        "casey-desktop.apps.example"
    );
    assert_eq!(fake.token_requests()[0]["refresh_token"], REFRESH_TOKEN);

    let wrong = refresh("1//nope").await.unwrap();
    assert_eq!(wrong.status().as_u16(), 400);
    fake.revoke_refresh_token();
    let revoked = refresh(REFRESH_TOKEN).await.unwrap();
    assert_eq!(revoked.status().as_u16(), 400);
    assert_eq!(revoked.json::<Value>().await.unwrap()["error"], "invalid_grant");
    assert_eq!(fake.calls(Method::Token), 1);
    assert_eq!(fake.attempts(Method::Token), 3);
}

#[tokio::test]
async fn faults_are_served_then_normal_answers_resume() {
    let fake = FakeGmail::with_mailbox(20, 10).await;
    let id = fake.truth()[0].id.clone();
    fake.fail(Fault {
        method: Method::MessagesGet,
        skip: 1,
        kind: FaultKind::Server(503),
        times: 2,
    });
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(get(&fake, &format!("messages/{id}")).await.0);
    }
    assert_eq!(statuses, [200, 503, 503, 200]);
    assert_eq!(
        (
            fake.calls(Method::MessagesGet),
            fake.attempts(Method::MessagesGet)
        ),
        (2, 4)
    );

    for (kind, status, reason) in [
        (FaultKind::UserRateLimit, 403, "userRateLimitExceeded"),
        (FaultKind::RateLimit, 403, "rateLimitExceeded"),
        (FaultKind::DailyLimit, 403, "dailyLimitExceeded"),
        (FaultKind::TooMany, 429, "rateLimitExceeded"),
        (FaultKind::NotFound, 404, "notFound"),
    ] {
        fake.fail(Fault {
            method: Method::Profile,
            skip: 0,
            kind,
            times: 1,
        });
        let (got, body) = get(&fake, "profile").await;
        assert_eq!(
            (got, body["error"]["errors"][0]["reason"].as_str()),
            (status, Some(reason))
        );
    }
    fake.fail(Fault {
        method: Method::MessagesList,
        skip: 0,
        kind: FaultKind::Malformed,
        times: 1,
    });
    let (status, body) = get(&fake, "messages").await;
    assert!(status == 200 && body.is_string(), "not JSON");
    fake.fail(Fault {
        method: Method::MessagesList,
        skip: 0,
        kind: FaultKind::Slow(Duration::from_millis(200)),
        times: 1,
    });
    let t = std::time::Instant::now();
    assert_eq!(get(&fake, "messages").await.0, 200);
    assert!(t.elapsed() >= Duration::from_millis(200));

    fake.random_faults(500, 7, FaultKind::Server(500));
    let mut failures = 0;
    for _ in 0..40 {
        failures += usize::from(get(&fake, "labels").await.0 == 500);
    }
    assert!((5..35).contains(&failures), "{failures}");
}

#[tokio::test]
async fn units_and_quota_follow_the_gmail_table() {
    let fake = FakeGmail::with_mailbox(10, 4).await;
    let t = fake.truth()[0].clone();
    let draft = fake.create_draft(None, "a@b.example", "Hi", "Body");
    fake.clear_log();
    ok(&fake, "profile").await;
    ok(&fake, "labels").await;
    ok(&fake, "messages").await;
    ok(&fake, &format!("messages/{}", t.id)).await;
    ok(&fake, &format!("threads/{}", t.thread_id)).await;
    ok(&fake, &format!("history?startHistoryId={}", fake.history_id())).await;
    ok(&fake, "drafts").await;
    ok(&fake, &format!("drafts/{draft}")).await;
    assert_eq!(get(&fake, "messages/ffffffffffffffff").await.0, 404);
    assert_eq!(fake.units(), 1 + 1 + 5 + 5 + 10 + 2 + 5 + 5);
    assert_eq!(fake.log().len(), 9);
    assert_eq!(fake.log()[3], (Method::MessagesGet, t.id.clone()));

    fake.quota_per_minute(12);
    assert_eq!(get(&fake, "profile").await.0, 200);
    assert_eq!(get(&fake, "messages").await.0, 200);
    assert_eq!(get(&fake, "messages").await.0, 200);
    let (status, body) = get(&fake, "messages").await;
    assert_eq!(status, 429);
    assert_eq!(body["error"]["status"], "RESOURCE_EXHAUSTED");
    assert_eq!(get(&fake, "profile").await.0, 200, "rejected calls cost nothing");
    assert_eq!(fake.quota_rejections(), 1);
}
