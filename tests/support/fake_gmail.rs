//! A stateful fake of the Gmail API v1 (and Google's OAuth token endpoint) on 127.0.0.1,
//! speaking the real JSON shapes: `users.getProfile`, `labels.list`, `messages.list` (with a
//! small `q` language, `labelIds`, `includeSpamTrash`, paging), `messages.get` in all four
//! formats (`full` MIME trees, `metadata`, `minimal`, `raw` RFC 2822), `threads.get`,
//! `history.list` (with history ids that expire), `drafts.list`/`drafts.get`, the draft writes
//! `drafts.create`/`drafts.update`/`drafts.send`/`drafts.delete` (raw RFC 2822 parsed with
//! CaseyOS's own MIME parser, Gmail's threading rules, every sent message kept as ground truth
//! in [`FakeGmail::sent`]), `messages.list` with `q=rfc822msgid:`, bearer tokens
//! that expire and are refreshed at `POST /token`, Google's error envelope, the per-method
//! quota units, a rolling per-minute quota, and injectable faults (403/429 rate limits, 5xx,
//! malformed JSON, slow answers, 401, 404, and for writes "applied, then failed": the write
//! happens but the client gets a 5xx or no answer in time), fixed or pseudo-random.
//!
//! The synthetic mailbox ([`FakeGmail::with_mailbox`]) is deterministic and exercises the MIME
//! decoding a client needs (UTF-8 and Latin-1 text, `multipart/alternative`, HTML-only mail,
//! attachments); [`FakeGmail::truth`] gives the expected decoded view of every message.
//!
//! Include it from an integration test with
//! `mod support { pub mod fake_gmail; }` (or `#[path = "support/fake_gmail.rs"] mod fake_gmail;`)
//! and from a bench with `#[path = "../tests/support/fake_gmail.rs"] mod fake_gmail;`. It
//! depends on no other support file (it uses `caseyos`'s MIME parser for drafts written to it).

#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use serde_json::{Value, json};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The access token the fake accepts at start.
pub const TOKEN: &str = "ya29.test-access-not-a-secret";
/// The refresh token `/token` accepts (until [`FakeGmail::revoke_refresh_token`]).
pub const REFRESH_TOKEN: &str = "1//test-refresh-not-a-secret";
/// The mailbox owner.
pub const OPERATOR: &str = "me@seller.example";
/// The mailbox owner's display name in synthetic mail.
pub const OPERATOR_NAME: &str = "Morgan Seller";
/// The sender of the synthetic automated (promotional) threads.
pub const VENDOR: &str = "noreply@vendor.example";
/// How many distinct people the synthetic mailbox draws from.
pub const PEOPLE: usize = 150;

const DAY_MS: i64 = 86_400_000;

/// The fake's clock: 2026-11-21T00:00:00Z. `newer_than:`/`older_than:` are relative to it and
/// the synthetic mailbox lies before it.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 0, 0, 0).single().unwrap()
}

fn now_ms() -> i64 {
    now().timestamp_millis()
}

/// The API methods the fake serves (and `/token`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    /// `GET users/me/profile`.
    Profile,
    /// `GET users/me/labels`.
    LabelsList,
    /// `GET users/me/messages`.
    MessagesList,
    /// `GET users/me/messages/{id}`.
    MessagesGet,
    /// `GET users/me/threads/{id}`.
    ThreadsGet,
    /// `GET users/me/history`.
    HistoryList,
    /// `GET users/me/drafts`.
    DraftsList,
    /// `GET users/me/drafts/{id}`.
    DraftsGet,
    /// `POST users/me/drafts`.
    DraftsCreate,
    /// `PUT users/me/drafts/{id}`.
    DraftsUpdate,
    /// `POST users/me/drafts/send`.
    DraftsSend,
    /// `DELETE users/me/drafts/{id}`.
    DraftsDelete,
    /// `POST /token` (OAuth: refresh, or a code with its PKCE verifier).
    Token,
    /// `GET /o/oauth2/v2/auth` (the browser's authorization request; answers with a redirect).
    Authorize,
    /// `POST /revoke`.
    Revoke,
}

impl Method {
    /// Quota units of one successful call, per Google's table (`/token` costs nothing).
    pub fn units(self) -> u64 {
        match self {
            Method::Profile | Method::LabelsList => 1,
            Method::MessagesList | Method::MessagesGet | Method::DraftsList | Method::DraftsGet => 5,
            Method::ThreadsGet => 10,
            Method::HistoryList => 2,
            Method::DraftsCreate | Method::DraftsDelete => 10,
            Method::DraftsUpdate => 15,
            Method::DraftsSend => 100,
            Method::Token | Method::Authorize | Method::Revoke => 0,
        }
    }
}

/// What a fault sends.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultKind {
    /// 403, reason `userRateLimitExceeded`.
    UserRateLimit,
    /// 403, reason `rateLimitExceeded`.
    RateLimit,
    /// 429 `RESOURCE_EXHAUSTED`, reason `rateLimitExceeded`, `Retry-After: 0`.
    TooMany,
    /// 403, reason `dailyLimitExceeded`.
    DailyLimit,
    /// This status with Google's envelope (reason `backendError`).
    Server(u16),
    /// A 200 whose body is not JSON.
    Malformed,
    /// The right answer, but only after this long.
    Slow(Duration),
    /// 401 `UNAUTHENTICATED`.
    Unauthorized,
    /// 404 `NOT_FOUND`, reason `notFound`.
    NotFound,
    /// The call is carried out (a write is applied, a send sends) and then this status is
    /// answered with Google's envelope (reason `backendError`): the client cannot know.
    AppliedThen(u16),
    /// The call is carried out and the answer only comes after a minute (a client with a
    /// shorter timeout sees a timeout): the client cannot know.
    AppliedThenHang,
}

/// A fault served instead of the answer to calls of one method.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    /// Which calls.
    pub method: Method,
    /// Let this many calls of that method pass first (counted from when the fault is added).
    pub skip: usize,
    /// What to send.
    pub kind: FaultKind,
    /// How many times.
    pub times: u32,
}

/// A message to add with [`FakeGmail::add_message`]: a `text/plain; charset=utf-8` body
/// (quoted-printable in `raw`). `Default` is an inbound INBOX message to the operator an hour
/// before [`now`], with empty sender, subject and text.
#[derive(Clone, Debug, PartialEq)]
pub struct NewMessage {
    /// The thread to add to (must exist); `None` starts a new thread.
    pub thread_id: Option<String>,
    /// `From` header value.
    pub from: String,
    /// `To` header value.
    pub to: String,
    /// `Cc` header value.
    pub cc: Option<String>,
    /// `Subject`.
    pub subject: String,
    /// Body text (`\n` line ends; sent with `\r\n`).
    pub text: String,
    /// Label ids.
    pub labels: Vec<String>,
    /// `internalDate` (ms since the epoch); the `Date` header agrees.
    pub internal_date_ms: i64,
    /// `In-Reply-To` header value.
    pub in_reply_to: Option<String>,
    /// `References` header value.
    pub references: Option<String>,
}

impl Default for NewMessage {
    fn default() -> Self {
        NewMessage {
            thread_id: None,
            from: String::new(),
            to: format!("{OPERATOR_NAME} <{OPERATOR}>"),
            cc: None,
            subject: String::new(),
            text: String::new(),
            labels: vec!["INBOX".into()],
            internal_date_ms: now_ms() - 3_600_000,
            in_reply_to: None,
            references: None,
        }
    }
}

/// The expected decoded view of one message.
#[derive(Clone, Debug, PartialEq)]
pub struct Truth {
    /// Gmail message id.
    pub id: String,
    /// Thread id.
    pub thread_id: String,
    /// Current label ids.
    pub labels: Vec<String>,
    /// `internalDate`, ms.
    pub internal_date_ms: i64,
    /// `From` header value ("" when absent).
    pub from: String,
    /// `To` header value ("" when absent).
    pub to: String,
    /// `Cc` header value.
    pub cc: Option<String>,
    /// `Subject` ("" when absent).
    pub subject: String,
    /// `Message-ID` header value, with its angle brackets ("" when absent).
    pub message_id: String,
    /// `In-Reply-To` header value.
    pub in_reply_to: Option<String>,
    /// `References` header value.
    pub references: Option<String>,
    /// The decoded plain text (`\n` line ends, no trailing newline); for HTML-only mail the
    /// visible text with words separated by single spaces (compare after collapsing
    /// whitespace). Empty for [`FakeGmail::insert_payload`] messages.
    pub text: String,
    /// The message has no `text/plain` part.
    pub html_only: bool,
}

/// The expected view of one draft.
#[derive(Clone, Debug, PartialEq)]
pub struct DraftTruth {
    /// Draft id.
    pub id: String,
    /// Id of its current message.
    pub message_id: String,
    /// Thread id.
    pub thread_id: String,
    /// `To` header value.
    pub to: String,
    /// `Subject`.
    pub subject: String,
    /// Body text.
    pub text: String,
    /// `In-Reply-To` (the last message of the thread when created in a thread).
    pub in_reply_to: Option<String>,
    /// `internalDate`, ms.
    pub internal_date_ms: i64,
}

/// A message sent with `drafts.send`, as the fake received it.
#[derive(Clone, Debug, PartialEq)]
pub struct Sent {
    /// Gmail message id (the draft's message, now labelled SENT).
    pub id: String,
    /// Thread id.
    pub thread_id: String,
    /// The draft it was sent from.
    pub draft_id: String,
    /// The RFC 2822 bytes the client wrote.
    pub raw: Vec<u8>,
    /// Root headers, RFC 2047-decoded, in order.
    pub headers: Vec<(String, String)>,
}

impl Sent {
    /// First header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// splitmix64: small, deterministic, no dependency.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n == 0`).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

struct Msg {
    id: String,
    thread_id: String,
    labels: Vec<String>,
    internal_date_ms: i64,
    history_id: u64,
    snippet: String,
    mime_type: String,
    /// Root headers, in order.
    headers: Vec<(String, String)>,
    /// The `format=full` payload as JSON text (rendered once), and as given for
    /// [`FakeGmail::insert_payload`] messages.
    payload_json: String,
    payload: Option<Value>,
    /// Attachment bytes by attachment id (for `raw`).
    attachments: HashMap<String, Vec<u8>>,
    /// base64url of the RFC 2822 rendering, made on first use.
    raw: Option<String>,
    /// base64url of the RFC 2822 bytes a client wrote (drafts.create/update), served as `raw`.
    given_raw: Option<String>,
    size_estimate: usize,
    text: String,
    html_only: bool,
}

impl Msg {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn has(&self, label: &str) -> bool {
        self.labels.iter().any(|l| l == label)
    }

    fn truth(&self) -> Truth {
        let h = |n: &str| self.header(n).map(str::to_string);
        Truth {
            id: self.id.clone(),
            thread_id: self.thread_id.clone(),
            labels: self.labels.clone(),
            internal_date_ms: self.internal_date_ms,
            from: h("From").unwrap_or_default(),
            to: h("To").unwrap_or_default(),
            cc: h("Cc"),
            subject: h("Subject").unwrap_or_default(),
            message_id: h("Message-ID").unwrap_or_default(),
            in_reply_to: h("In-Reply-To"),
            references: h("References"),
            text: self.text.clone(),
            html_only: self.html_only,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Change {
    Added,
    Deleted,
    LabelsAdded(Vec<String>),
    LabelsRemoved(Vec<String>),
}

impl Change {
    fn history_type(&self) -> &'static str {
        match self {
            Change::Added => "messageAdded",
            Change::Deleted => "messageDeleted",
            Change::LabelsAdded(_) => "labelAdded",
            Change::LabelsRemoved(_) => "labelRemoved",
        }
    }
}

struct Record {
    id: u64,
    message_id: String,
    thread_id: String,
    /// The message's labels just after the change (before, for a deletion).
    labels: Vec<String>,
    change: Change,
}

struct RandomFaults {
    per_mille: u32,
    rng: Rng,
    kind: FaultKind,
}

struct State {
    messages: HashMap<String, Msg>,
    /// Message ids of each thread, in insertion order.
    threads: HashMap<String, Vec<String>>,
    /// All message ids newest first (rebuilt after a change).
    order: Option<Vec<String>>,
    /// Draft id → message id.
    drafts: BTreeMap<String, String>,
    history_id: u64,
    /// The oldest `startHistoryId` still answered.
    min_history: u64,
    history: Vec<Record>,
    rng: Rng,
    ids: HashSet<String>,
    thread_seq: usize,
    variant: usize,
    token: String,
    token_expired: bool,
    token_counter: u64,
    refresh_revoked: bool,
    token_requests: Vec<HashMap<String, String>>,
    /// Codes handed out at `/o/oauth2/v2/auth`: code → (challenge, redirect_uri, client_id).
    codes: HashMap<String, (String, String, String)>,
    /// Every authorization request's parameters.
    authorizations: Vec<HashMap<String, String>>,
    /// What the next authorization redirect does instead of answering honestly.
    authorize_twist: Option<AuthorizeTwist>,
    /// Code exchanges whose PKCE verifier matched.
    pkce_verified: usize,
    /// Tokens revoked at `/revoke`.
    revoked: Vec<String>,
    /// Faults with how many calls each has let pass.
    faults: Vec<(Fault, usize)>,
    random: Option<RandomFaults>,
    quota: Option<u64>,
    window: VecDeque<(Instant, u64)>,
    quota_rejections: usize,
    calls: HashMap<Method, usize>,
    attempts: HashMap<Method, usize>,
    units: u64,
    log: Vec<(Method, String)>,
    /// Every message sent with `drafts.send`, in order.
    sent: Vec<Sent>,
    drafts_created: usize,
    drafts_updated: usize,
    drafts_deleted: usize,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The fake server and its mailbox.
pub struct FakeGmail {
    /// The server: its `uri()` is the api_base and also serves `/token`.
    pub server: MockServer,
    state: Arc<Mutex<State>>,
}

// ---------------------------------------------------------------------------------------------
// Synthetic people and content
// ---------------------------------------------------------------------------------------------

struct Person {
    header: String,
    email: String,
    first: String,
    first_ascii: String,
    tz_secs: i32,
}

const FIRST: [&str; 20] = [
    "Jane", "Omar", "Priya", "Luca", "Mei", "Tom", "Ana", "Kwame", "Sofia", "Liam", "Hana", "Noah", "Grace",
    "Ivan", "Ravi", "Emma", "Yuki", "Diego", "Nora", "Felix",
];
const LAST: [(&str, &str); 17] = [
    ("Doe", "doe"),
    ("Smith", "smith"),
    ("Okafor", "okafor"),
    ("Tanaka", "tanaka"),
    ("O'Brien", "obrien"),
    ("Nguyen", "nguyen"),
    ("Kowalski", "kowalski"),
    ("Larsen", "larsen"),
    ("Rossi", "rossi"),
    ("Chen", "chen"),
    ("Patel", "patel"),
    ("Silva", "silva"),
    ("Byrne", "byrne"),
    ("Novak", "novak"),
    ("Haddad", "haddad"),
    ("Mensah", "mensah"),
    ("Varga", "varga"),
];
/// A few people whose names are not ASCII: (first, last, first in the address, last in it).
const SPECIAL: [(&str, &str, &str, &str); 5] = [
    ("José", "García", "jose", "garcia"),
    ("Zoë", "Müller", "zoe", "muller"),
    ("Łukasz", "Żak", "lukasz", "zak"),
    ("Søren", "Østergaard", "soren", "ostergaard"),
    ("Chloé", "Dubois", "chloe", "dubois"),
];

/// Person `k` of the synthetic mailbox: `first.last{k}@company{k % 40}.example`.
fn person(k: usize) -> Person {
    let (first, last, fa, la) = if k % 30 == 7 {
        SPECIAL[(k / 30) % SPECIAL.len()]
    } else {
        let first = FIRST[k % FIRST.len()];
        let (last, la) = LAST[(k * 7 + 3) % LAST.len()];
        (first, last, first, la)
    };
    let fa = fa.to_ascii_lowercase();
    let email = format!("{fa}.{la}{k}@company{}.example", k % 40);
    let header = if k % 23 == 4 {
        email.clone()
    } else if k % 10 == 3 {
        format!("\"{last}, {first}\" <{email}>")
    } else if k % 41 == 9 {
        format!("\"{first} J. {last}\" <{email}>")
    } else {
        format!("{first} {last} <{email}>")
    };
    const TZ: [i32; 5] = [0, -5 * 3600, 3600, 9 * 3600, -8 * 3600];
    Person {
        header,
        email,
        first: first.to_string(),
        first_ascii: fa[..1].to_ascii_uppercase() + &fa[1..],
        tz_secs: TZ[k % TZ.len()],
    }
}

fn operator_header() -> String {
    format!("{OPERATOR_NAME} <{OPERATOR}>")
}

const TOPICS: [&str; 12] = [
    "Pricing for {co}",
    "Follow-up: demo on Tuesday",
    "Contract redline v2",
    "Intro: {co} <> Seller",
    "Q4 renewal & expansion",
    "Security questionnaire",
    "Tom's notes from the pilot",
    "Café meeting next week ☕",
    "Angebot für München",
    "Onboarding plan for {co}",
    "Invoice INV-2041",
    "Quick question about SSO",
];

/// A body, by MIME shape.
enum Content {
    /// `text/plain; charset=UTF-8`, quoted-printable.
    Plain(String),
    /// `multipart/alternative` [plain, html].
    Alternative { text: String, html: String },
    /// `text/html` only; `visible` is the expected text.
    Html { html: String, visible: String },
    /// `text/plain; charset=ISO-8859-1`, quoted-printable.
    Latin1(String),
    /// `multipart/mixed` [alternative [plain, html], pdf attachment].
    Mixed {
        text: String,
        html: String,
        filename: String,
    },
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Gmail's snippet: the first ~100 characters of the text, whitespace collapsed, HTML-escaped.
fn snippet_of(text: &str) -> String {
    let collapsed = collapse(text);
    let cut: String = collapsed.chars().take(100).collect();
    esc(cut.trim_end())
}

struct Words<'a> {
    from_first: &'a str,
    from_ascii: &'a str,
    to_first: &'a str,
    to_ascii: &'a str,
    topic: &'a str,
    company: &'a str,
    n: usize,
}

fn content(variant: usize, w: &Words<'_>) -> Content {
    let Words {
        from_first,
        from_ascii,
        to_first,
        to_ascii,
        topic,
        company,
        n,
    } = *w;
    match variant % 5 {
        0 => Content::Plain(format!(
            "Hi {to_first},\n\nThanks for the update on \"{topic}\". Café — naïve ✓ works for us; \
             let's keep the price & terms as discussed.\n\nBest,\n{from_first}"
        )),
        1 => Content::Alternative {
            text: format!(
                "Hello {to_first},\n\nBelow is the summary for {topic}. We'd like to move forward \
                 & schedule a call with {company}.\n\nThanks,\n{from_first}"
            ),
            html: format!(
                "<div dir=\"ltr\"><p>Hello {},</p>\r\n<p>Below is the summary for <b>{}</b>. We&#39;d \
                 like to move forward &amp; schedule a call with {}.</p>\r\n<p>Thanks,<br>{}</p></div>",
                esc(to_first),
                esc(topic),
                esc(company),
                esc(from_first)
            ),
        },
        2 => {
            let paragraphs = [
                format!("Hi {to_first},"),
                format!("Quick reminder about {topic} & the pilot timeline. Don't hesitate to reach out."),
                "Cheers,".to_string(),
                from_first.to_string(),
            ];
            let html = format!(
                "<html><head><style>p {{ margin: 0 }}</style></head><body>\r\n<p>{}</p>\r\n<p>{}</p>\r\n\
                 <p>{}<br>{}</p>\r\n</body></html>",
                esc(&paragraphs[0]),
                esc(&paragraphs[1]),
                esc(&paragraphs[2]),
                esc(&paragraphs[3])
            );
            Content::Html {
                html,
                visible: collapse(&paragraphs.join(" ")),
            }
        }
        3 => Content::Latin1(format!(
            "Grüße aus München, {to_ascii}!\n\nDas Angebot für {company} ist fertig. Schöne Grüße \
             & bis bald.\n\n{from_ascii}"
        )),
        _ => Content::Mixed {
            text: format!(
                "Hi {to_first},\n\nPlease find the proposal for {company} attached (proposal-{n}.pdf). \
                 It covers {topic}.\n\nRegards,\n{from_first}"
            ),
            html: format!(
                "<div><p>Hi {},</p><p>Please find the proposal for {} attached (proposal-{n}.pdf). It \
                 covers {}.</p><p>Regards,<br>{}</p></div>",
                esc(to_first),
                esc(company),
                esc(topic),
                esc(from_first)
            ),
            filename: format!("proposal-{n}.pdf"),
        },
    }
}

fn newsletter(seq: usize) -> Content {
    Content::Alternative {
        text: format!(
            "This week's deals: 20% off all plans & free onboarding (issue {seq}).\n\nUnsubscribe any time."
        ),
        html: format!(
            "<table><tr><td><h1>This week&#39;s deals</h1></td></tr><tr><td>20% off all plans &amp; free \
             onboarding (issue {seq}).</td></tr><tr><td><a href=\"https://vendor.example/u\">Unsubscribe</a> \
             any time.</td></tr></table>"
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// MIME building
// ---------------------------------------------------------------------------------------------

fn crlf(text: &str) -> String {
    let mut s = text.replace("\r\n", "\n").replace('\n', "\r\n");
    s.push_str("\r\n");
    s
}

fn normalize_text(text: &str) -> String {
    text.replace("\r\n", "\n").trim_end_matches('\n').to_string()
}

/// A JSON string literal. The payloads are written as text, not built as `serde_json::Value`s:
/// a debug build makes a 2,000-message mailbox several times faster that way.
fn js(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn headers_js(headers: &[(String, String)]) -> String {
    let items: Vec<String> = headers
        .iter()
        .map(|(n, v)| format!("{{\"name\":{},\"value\":{}}}", js(n), js(v)))
        .collect();
    format!("[{}]", items.join(","))
}

fn h(name: &str, value: impl Into<String>) -> (String, String) {
    (name.to_string(), value.into())
}

fn part_js(part_id: &str, mime: &str, filename: &str, headers: &[(String, String)], body: &str) -> String {
    format!(
        "{{\"partId\":{},\"mimeType\":{},\"filename\":{},\"headers\":{},\"body\":{body}",
        js(part_id),
        js(mime),
        js(filename),
        headers_js(headers)
    )
}

/// A leaf part with inline data.
fn leaf(part_id: &str, mime: &str, headers: &[(String, String)], bytes: &[u8]) -> String {
    let body = if bytes.is_empty() {
        "{\"size\":0}".to_string()
    } else {
        format!(
            "{{\"size\":{},\"data\":\"{}\"}}",
            bytes.len(),
            URL_SAFE.encode(bytes)
        )
    };
    part_js(part_id, mime, "", headers, &body) + "}"
}

fn multipart(part_id: &str, mime: &str, headers: &[(String, String)], parts: &[String]) -> String {
    part_js(part_id, mime, "", headers, "{\"size\":0}") + ",\"parts\":[" + &parts.join(",") + "]}"
}

fn text_headers(mime: &str, charset: &str, cte: &str) -> Vec<(String, String)> {
    vec![
        h("Content-Type", format!("{mime}; charset=\"{charset}\"")),
        h("Content-Transfer-Encoding", cte),
    ]
}

struct Built {
    payload_json: String,
    /// The payload as given (only for [`FakeGmail::insert_payload`]).
    payload: Option<Value>,
    mime_type: String,
    headers: Vec<(String, String)>,
    attachments: HashMap<String, Vec<u8>>,
    text: String,
    html_only: bool,
    /// The raw bytes (base64url) of a message a client wrote.
    given_raw: Option<String>,
}

/// The `format=full` tree of a message with these root headers and this body.
fn build(id: &str, mut headers: Vec<(String, String)>, content: &Content) -> Built {
    let mut attachments = HashMap::new();
    let boundary = |n: u32| format!("0000000000{n}{id}");
    let (payload_json, text, html_only) = match content {
        Content::Plain(text) => {
            let text = normalize_text(text);
            headers.extend(text_headers("text/plain", "UTF-8", "quoted-printable"));
            let p = leaf("", "text/plain", &headers, crlf(&text).as_bytes());
            (p, text, false)
        }
        Content::Latin1(text) => {
            let text: String = normalize_text(text)
                .chars()
                .map(|c| if (c as u32) < 256 { c } else { '?' })
                .collect();
            let bytes: Vec<u8> = crlf(&text).chars().map(|c| c as u32 as u8).collect();
            headers.extend(text_headers("text/plain", "ISO-8859-1", "quoted-printable"));
            (leaf("", "text/plain", &headers, &bytes), text, false)
        }
        Content::Html { html, visible } => {
            headers.extend(text_headers("text/html", "UTF-8", "base64"));
            let p = leaf("", "text/html", &headers, crlf(html).as_bytes());
            (p, visible.clone(), true)
        }
        Content::Alternative { text, html } => {
            let text = normalize_text(text);
            let b = boundary(1);
            headers.push(h(
                "Content-Type",
                format!("multipart/alternative; boundary=\"{b}\""),
            ));
            let parts = [
                leaf(
                    "0",
                    "text/plain",
                    &text_headers("text/plain", "UTF-8", "quoted-printable"),
                    crlf(&text).as_bytes(),
                ),
                leaf(
                    "1",
                    "text/html",
                    &text_headers("text/html", "UTF-8", "base64"),
                    crlf(html).as_bytes(),
                ),
            ];
            (
                multipart("", "multipart/alternative", &headers, &parts),
                text,
                false,
            )
        }
        Content::Mixed { text, html, filename } => {
            let text = normalize_text(text);
            let (outer, inner) = (boundary(2), boundary(3));
            headers.push(h(
                "Content-Type",
                format!("multipart/mixed; boundary=\"{outer}\""),
            ));
            let alternative = multipart(
                "0",
                "multipart/alternative",
                &[h(
                    "Content-Type",
                    format!("multipart/alternative; boundary=\"{inner}\""),
                )],
                &[
                    leaf(
                        "0.0",
                        "text/plain",
                        &text_headers("text/plain", "UTF-8", "quoted-printable"),
                        crlf(&text).as_bytes(),
                    ),
                    leaf(
                        "0.1",
                        "text/html",
                        &text_headers("text/html", "UTF-8", "quoted-printable"),
                        crlf(html).as_bytes(),
                    ),
                ],
            );
            let pdf: Vec<u8> = [
                b"%PDF-1.4\n%".as_slice(),
                &[0xE2, 0xE3, 0xCF, 0xD3],
                format!("\n% fake proposal for message {id}\n%%EOF\n").as_bytes(),
            ]
            .concat();
            let attachment_id = format!("ANGjdJ8{}_att1", id.to_ascii_uppercase());
            let attachment = part_js(
                "1",
                "application/pdf",
                filename,
                &[
                    h("Content-Type", format!("application/pdf; name=\"{filename}\"")),
                    h(
                        "Content-Disposition",
                        format!("attachment; filename=\"{filename}\""),
                    ),
                    h("Content-Transfer-Encoding", "base64"),
                    h("X-Attachment-Id", format!("f_{id}")),
                ],
                &format!(
                    "{{\"attachmentId\":{},\"size\":{}}}",
                    js(&attachment_id),
                    pdf.len()
                ),
            ) + "}";
            attachments.insert(attachment_id, pdf);
            (
                multipart("", "multipart/mixed", &headers, &[alternative, attachment]),
                text,
                false,
            )
        }
    };
    let mime_type = match content {
        Content::Plain(_) | Content::Latin1(_) => "text/plain",
        Content::Html { .. } => "text/html",
        Content::Alternative { .. } => "multipart/alternative",
        Content::Mixed { .. } => "multipart/mixed",
    };
    Built {
        payload_json,
        payload: None,
        mime_type: mime_type.to_string(),
        headers,
        attachments,
        text,
        html_only,
        given_raw: None,
    }
}

/// The RFC 2822 `Date` of a time in ms, shown in a time zone.
fn date_header(ms: i64, tz_secs: i32) -> String {
    let tz = FixedOffset::east_opt(tz_secs).unwrap();
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or_else(now)
        .with_timezone(&tz)
        .to_rfc2822()
}

/// Root headers shared by every message the fake makes.
struct Envelope {
    from: String,
    to: String,
    cc: Option<String>,
    subject: String,
    date_ms: i64,
    tz_secs: i32,
    in_reply_to: Option<String>,
    references: Option<String>,
    /// Headers placed before the standard ones (`Delivered-To`...).
    before: Vec<(String, String)>,
    /// Headers placed after them (`List-Unsubscribe`...).
    after: Vec<(String, String)>,
}

fn envelope_headers(id: &str, e: &Envelope) -> Vec<(String, String)> {
    let mut out = e.before.clone();
    out.push(h("MIME-Version", "1.0"));
    out.push(h("Date", date_header(e.date_ms, e.tz_secs)));
    if let Some(r) = &e.references {
        out.push(h("References", r.clone()));
    }
    if let Some(r) = &e.in_reply_to {
        out.push(h("In-Reply-To", r.clone()));
    }
    out.push(h("Message-ID", format!("<{id}@mail.example>")));
    out.push(h("Subject", e.subject.clone()));
    out.push(h("From", e.from.clone()));
    out.push(h("To", e.to.clone()));
    if let Some(cc) = &e.cc {
        out.push(h("Cc", cc.clone()));
    }
    out.extend(e.after.iter().cloned());
    out
}

// ---------------------------------------------------------------------------------------------
// RFC 2822 rendering (format=raw)
// ---------------------------------------------------------------------------------------------

/// Quoted-printable of bytes whose lines end in CRLF; lines kept under 77 characters.
fn quoted_printable(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() * 11 / 10);
    let mut lines: Vec<&[u8]> = Vec::new();
    let mut rest = bytes;
    while let Some(i) = rest.windows(2).position(|w| w == b"\r\n") {
        lines.push(&rest[..i]);
        rest = &rest[i + 2..];
    }
    let trailing_newline = rest.is_empty() && !lines.is_empty();
    if !rest.is_empty() || lines.is_empty() {
        lines.push(rest);
    }
    for (n, line) in lines.iter().enumerate() {
        let mut col = 0;
        for (i, &b) in line.iter().enumerate() {
            let last = i + 1 == line.len();
            let literal = ((b == b' ' || b == b'\t') && !last) || ((33..=126).contains(&b) && b != b'=');
            let piece: Vec<u8> = if literal {
                vec![b]
            } else {
                format!("={b:02X}").into_bytes()
            };
            if col + piece.len() > 75 {
                out.extend_from_slice(b"=\r\n");
                col = 0;
            }
            col += piece.len();
            out.extend_from_slice(&piece);
        }
        if n + 1 < lines.len() || trailing_newline {
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

/// base64 in 76-character lines, each ending in CRLF.
fn base64_lines(bytes: &[u8]) -> Vec<u8> {
    let encoded = STANDARD.encode(bytes);
    let mut out = Vec::with_capacity(encoded.len() + encoded.len() / 38 + 2);
    for chunk in encoded.as_bytes().chunks(76) {
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// RFC 2047 encoded words (UTF-8, B) for a non-ASCII phrase, each under 76 characters.
fn encoded_words(s: &str) -> String {
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in s.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(format!("=?UTF-8?B?{}?=", STANDARD.encode(&chunk)));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(format!("=?UTF-8?B?{}?=", STANDARD.encode(&chunk)));
    }
    words.join(" ")
}

/// Splits an address list at commas outside quotes and angle brackets.
fn split_addresses(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let (mut quoted, mut angle) = (false, false);
    for c in value.chars() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                out.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    out.push(current);
    out.into_iter()
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
        .collect()
}

/// The lower-case address of one mailbox (`Name <addr>` or a bare address).
fn address_of(mailbox: &str) -> Option<String> {
    let s = mailbox.trim();
    if let (Some(open), Some(close)) = (s.rfind('<'), s.rfind('>'))
        && open < close
    {
        let a = s[open + 1..close].trim().to_ascii_lowercase();
        return (!a.is_empty()).then_some(a);
    }
    s.contains('@')
        .then(|| s.trim_matches(['<', '>', '"']).to_ascii_lowercase())
}

/// A header value as it is written in RFC 2822 (non-ASCII as encoded words).
fn header_for_raw(name: &str, value: &str) -> String {
    if value.is_ascii() {
        return value.to_string();
    }
    let address = ["from", "to", "cc", "bcc", "reply-to", "sender"]
        .iter()
        .any(|n| n.eq_ignore_ascii_case(name));
    if !address {
        return encoded_words(value);
    }
    split_addresses(value)
        .iter()
        .map(|mailbox| match mailbox.rfind('<') {
            Some(open) if !mailbox[..open].is_ascii() => {
                let name = mailbox[..open].trim().trim_matches('"').replace("\\\"", "\"");
                format!("{} {}", encoded_words(&name), &mailbox[open..])
            }
            _ => mailbox.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes `Name: value` folded at spaces to about 78 characters.
fn write_header(out: &mut Vec<u8>, name: &str, value: &str) {
    let value = header_for_raw(name, value);
    let mut line_len = name.len() + 1;
    out.extend_from_slice(name.as_bytes());
    out.push(b':');
    for (i, word) in value.split(' ').enumerate() {
        if i > 0 && line_len + 1 + word.len() > 78 && line_len > 1 {
            out.extend_from_slice(b"\r\n");
            line_len = 0;
        }
        out.push(b' ');
        out.extend_from_slice(word.as_bytes());
        line_len += 1 + word.len();
    }
    out.extend_from_slice(b"\r\n");
}

fn part_headers(part: &Value) -> Vec<(String, String)> {
    part["headers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| Some((h["name"].as_str()?.to_string(), h["value"].as_str()?.to_string())))
        .collect()
}

fn boundary_param(content_type: &str) -> Option<String> {
    let lower = content_type.to_ascii_lowercase();
    let at = lower.find("boundary=")? + "boundary=".len();
    let rest = &content_type[at..];
    let value = if let Some(quoted) = rest.strip_prefix('"') {
        quoted.split('"').next().unwrap_or("")
    } else {
        rest.split([';', ' ']).next().unwrap_or("")
    };
    (!value.is_empty()).then(|| value.to_string())
}

/// Lenient base64url (padded or not, or standard alphabet).
fn decode_b64(data: &str) -> Option<Vec<u8>> {
    let clean: String = data.chars().filter(|c| !c.is_whitespace() && *c != '=').collect();
    URL_SAFE_NO_PAD.decode(&clean).ok().or_else(|| {
        base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(&clean)
            .ok()
    })
}

fn render_part(part: &Value, attachments: &HashMap<String, Vec<u8>>, path: &str, out: &mut Vec<u8>) {
    let headers = part_headers(part);
    for (n, v) in &headers {
        write_header(out, n, v);
    }
    out.extend_from_slice(b"\r\n");
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    if let Some(children) = part["parts"].as_array().filter(|c| !c.is_empty()) {
        let boundary = get("Content-Type")
            .and_then(boundary_param)
            .unwrap_or_else(|| format!("=_fake_{path}"));
        for (i, child) in children.iter().enumerate() {
            out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            render_part(child, attachments, &format!("{path}.{i}"), out);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        return;
    }
    let body = &part["body"];
    let bytes = body["data"]
        .as_str()
        .and_then(decode_b64)
        .or_else(|| {
            body["attachmentId"]
                .as_str()
                .and_then(|a| attachments.get(a).cloned())
        })
        .unwrap_or_default();
    match get("Content-Transfer-Encoding").map(|c| c.trim().to_ascii_lowercase()) {
        Some(c) if c == "quoted-printable" => out.extend(quoted_printable(&bytes)),
        Some(c) if c == "base64" => out.extend(base64_lines(&bytes)),
        _ => out.extend_from_slice(&bytes),
    }
}

fn render_raw(payload: &Value, attachments: &HashMap<String, Vec<u8>>) -> String {
    let mut out = Vec::new();
    render_part(payload, attachments, "x", &mut out);
    URL_SAFE.encode(out)
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

fn status_name(code: u16) -> &'static str {
    match code {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        500 => "INTERNAL",
        501 => "NOT_IMPLEMENTED",
        502 | 503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "UNKNOWN",
    }
}

/// Google's error envelope.
fn google_error(code: u16, domain: &str, reason: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(code).set_body_json(json!({"error": {
        "code": code,
        "message": message,
        "errors": [{"message": message, "domain": domain, "reason": reason}],
        "status": status_name(code),
    }}))
}

fn unauthorized() -> ResponseTemplate {
    google_error(
        401,
        "global",
        "authError",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie \
         or other valid authentication credential.",
    )
    .insert_header(
        "WWW-Authenticate",
        "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\"",
    )
}

fn not_found() -> ResponseTemplate {
    google_error(404, "global", "notFound", "Requested entity was not found.")
}

/// An error answer, boxed (a `ResponseTemplate` is large).
type Fail = Box<ResponseTemplate>;

fn missing() -> Fail {
    Box::new(not_found())
}

fn invalid_argument(message: &str) -> Fail {
    Box::new(google_error(400, "global", "invalidArgument", message))
}

fn fault_response(kind: &FaultKind) -> ResponseTemplate {
    match kind {
        FaultKind::UserRateLimit => google_error(
            403,
            "usageLimits",
            "userRateLimitExceeded",
            "User Rate Limit Exceeded",
        ),
        FaultKind::RateLimit => google_error(403, "usageLimits", "rateLimitExceeded", "Rate Limit Exceeded"),
        FaultKind::TooMany => google_error(
            429,
            "usageLimits",
            "rateLimitExceeded",
            "Too many concurrent requests for user.",
        )
        .insert_header("Retry-After", "0"),
        FaultKind::DailyLimit => {
            google_error(403, "usageLimits", "dailyLimitExceeded", "Daily Limit Exceeded")
        }
        FaultKind::Server(code) => google_error(*code, "global", "backendError", "Backend Error"),
        FaultKind::Malformed => ResponseTemplate::new(200).set_body_raw(
            "{\"messages\": [{\"id\": \"18c0ffee\", \"threadId\": "
                .as_bytes()
                .to_vec(),
            "application/json; charset=UTF-8",
        ),
        FaultKind::Unauthorized => unauthorized(),
        FaultKind::NotFound => not_found(),
        FaultKind::AppliedThen(code) => google_error(*code, "global", "backendError", "Backend Error"),
        // Slow answers are handled by the caller.
        FaultKind::Slow(_) | FaultKind::AppliedThenHang => ResponseTemplate::new(200),
    }
}

fn quota_exceeded() -> ResponseTemplate {
    google_error(
        429,
        "global",
        "rateLimitExceeded",
        "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user' of service \
         'gmail.googleapis.com' for consumer 'project_number:000000000000'.",
    )
}

fn json_ok(body: String) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.into_bytes(), "application/json; charset=UTF-8")
}

fn page_token(kind: &str, offset: usize) -> String {
    let check = (offset as u64 ^ kind.len() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 44;
    URL_SAFE_NO_PAD.encode(format!("{kind}:{offset}:{check:x}"))
}

fn parse_page_token(kind: &str, token: &str) -> Option<usize> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()?;
    let offset: usize = text
        .strip_prefix(kind)?
        .strip_prefix(':')?
        .split(':')
        .next()?
        .parse()
        .ok()?;
    (page_token(kind, offset) == token).then_some(offset)
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

struct Query(Vec<(String, String)>);

impl Query {
    fn one(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Repeated parameters (commas also split).
    fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(',').map(|s| s.trim().to_string()))
            .filter(|s| !s.is_empty())
            .collect()
    }

    fn max_results(&self) -> Result<usize, Fail> {
        match self.one("maxResults") {
            None => Ok(100),
            Some(v) => v
                .parse::<usize>()
                .map(|n| n.clamp(1, 500))
                .map_err(|_| invalid_argument(&format!("Invalid value '{v}' for maxResults"))),
        }
    }

    fn offset(&self, kind: &str) -> Result<usize, Fail> {
        match self.one("pageToken") {
            None | Some("") => Ok(0),
            Some(t) => parse_page_token(kind, t).ok_or_else(|| invalid_argument("Invalid pageToken")),
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Full,
    Metadata,
    Minimal,
    Raw,
}

fn format_of(q: &Query) -> Result<Format, Fail> {
    match q.one("format").map(str::to_ascii_lowercase).as_deref() {
        None | Some("full") => Ok(Format::Full),
        Some("metadata") => Ok(Format::Metadata),
        Some("minimal") => Ok(Format::Minimal),
        Some("raw") => Ok(Format::Raw),
        Some(other) => Err(invalid_argument(&format!("Invalid value '{other}' for format"))),
    }
}

/// `(method, rest)` for a served path: `rest` is the id of a `.../{id}` call.
fn route(req: &Request) -> Option<(Method, String)> {
    let path = req.url.path();
    let verb = req.method.as_str();
    if path == "/token" {
        return (verb == "POST").then(|| (Method::Token, String::new()));
    }
    if path == "/o/oauth2/v2/auth" {
        return (verb == "GET").then(|| (Method::Authorize, String::new()));
    }
    if path == "/revoke" {
        return (verb == "POST").then(|| (Method::Revoke, String::new()));
    }
    let rest = path.strip_prefix("/gmail/v1/users/")?;
    let (user, rest) = rest.split_once('/')?;
    if user != "me" && !user.eq_ignore_ascii_case(OPERATOR) {
        return None;
    }
    let (collection, id) = match rest.split_once('/') {
        Some((c, id)) if !id.is_empty() && !id.contains('/') => (c, Some(id)),
        Some(_) => return None,
        None => (rest, None),
    };
    let method = match (verb, collection, id) {
        ("GET", "profile", None) => Method::Profile,
        ("GET", "labels", None) => Method::LabelsList,
        ("GET", "messages", None) => Method::MessagesList,
        ("GET", "messages", Some(_)) => Method::MessagesGet,
        ("GET", "threads", Some(_)) => Method::ThreadsGet,
        ("GET", "history", None) => Method::HistoryList,
        ("GET", "drafts", None) => Method::DraftsList,
        ("GET", "drafts", Some(_)) => Method::DraftsGet,
        ("POST", "drafts", None) => Method::DraftsCreate,
        ("POST", "drafts", Some("send")) => Method::DraftsSend,
        ("PUT", "drafts", Some(_)) => Method::DraftsUpdate,
        ("DELETE", "drafts", Some(_)) => Method::DraftsDelete,
        _ => return None,
    };
    Some((method, id.unwrap_or("").to_string()))
}

/// One `q` term the fake understands: `newer_than:`/`older_than:` (`Nd`, `Nm`, `Ny` before
/// [`now`]), `from:`/`to:` (substring of the header, case-insensitive), `in:`/`label:`/`is:`/
/// `category:` (a label id: `in:inbox`, `is:unread`, `category:promotions`...), `in:anywhere`.
/// Other terms are ignored.
enum Term {
    After(i64),
    Before(i64),
    From(String),
    To(String),
    Label(String),
    /// `in:anywhere`: spam and trash too.
    Anywhere,
    /// `rfc822msgid:<id>`: the `Message-ID` header is exactly this id (brackets optional).
    Rfc822(String),
}

fn cutoff(spec: &str) -> Option<i64> {
    let unit = spec.chars().last()?;
    let n: u32 = spec[..spec.len() - unit.len_utf8()].parse().ok()?;
    let t = match unit.to_ascii_lowercase() {
        'd' => now() - chrono::Duration::days(i64::from(n)),
        'm' => now().checked_sub_months(chrono::Months::new(n))?,
        'y' => now().checked_sub_months(chrono::Months::new(n.checked_mul(12)?))?,
        _ => return None,
    };
    Some(t.timestamp_millis())
}

fn parse_q(q: &str) -> Vec<Term> {
    q.split_whitespace()
        .filter_map(|term| {
            let (key, value) = term.split_once(':')?;
            let value = value.trim_matches('"');
            match key.to_ascii_lowercase().as_str() {
                "newer_than" => cutoff(value).map(Term::After),
                "older_than" => cutoff(value).map(Term::Before),
                "from" => Some(Term::From(value.to_ascii_lowercase())),
                "to" => Some(Term::To(value.to_ascii_lowercase())),
                "in" if value.eq_ignore_ascii_case("anywhere") => Some(Term::Anywhere),
                "in" | "label" | "is" => Some(Term::Label(match value.to_ascii_lowercase().as_str() {
                    "drafts" => "DRAFT".to_string(),
                    v => v.to_ascii_uppercase(),
                })),
                "category" => Some(Term::Label(format!("CATEGORY_{}", value.to_ascii_uppercase()))),
                "rfc822msgid" => Some(Term::Rfc822(strip_brackets(value).to_string())),
                _ => None,
            }
        })
        .collect()
}

impl State {
    fn new() -> State {
        State {
            messages: HashMap::new(),
            threads: HashMap::new(),
            order: None,
            drafts: BTreeMap::new(),
            history_id: 1000,
            min_history: 1000,
            history: Vec::new(),
            rng: Rng(0x6761_6d69_6c5f_6661),
            ids: HashSet::new(),
            thread_seq: 0,
            variant: 0,
            token: TOKEN.to_string(),
            token_expired: false,
            token_counter: 0,
            refresh_revoked: false,
            token_requests: Vec::new(),
            codes: HashMap::new(),
            authorizations: Vec::new(),
            authorize_twist: None,
            pkce_verified: 0,
            revoked: Vec::new(),
            faults: Vec::new(),
            random: None,
            quota: None,
            window: VecDeque::new(),
            quota_rejections: 0,
            calls: HashMap::new(),
            attempts: HashMap::new(),
            units: 0,
            log: Vec::new(),
            sent: Vec::new(),
            drafts_created: 0,
            drafts_updated: 0,
            drafts_deleted: 0,
        }
    }

    fn new_id(&mut self) -> String {
        loop {
            let id = format!("{:016x}", self.rng.next_u64() | (1 << 60));
            if self.ids.insert(id.clone()) {
                return id;
            }
        }
    }

    fn new_draft_id(&mut self) -> String {
        loop {
            let id = format!("r{}", self.rng.next_u64() % 10_000_000_000_000_000_000);
            if !self.drafts.contains_key(&id) && self.ids.insert(id.clone()) {
                return id;
            }
        }
    }

    fn record(&mut self, m: &Msg, change: Change) -> u64 {
        self.history_id += 1;
        self.history.push(Record {
            id: self.history_id,
            message_id: m.id.clone(),
            thread_id: m.thread_id.clone(),
            labels: m.labels.clone(),
            change,
        });
        self.history_id
    }

    /// Adds a message made from a built payload; records `messageAdded`.
    fn insert(&mut self, id: String, thread_id: String, labels: Vec<String>, date_ms: i64, built: Built) {
        let header_bytes: usize = built.headers.iter().map(|(n, v)| n.len() + v.len() + 4).sum();
        let mut m = Msg {
            snippet: snippet_of(&built.text),
            mime_type: built.mime_type,
            size_estimate: header_bytes + built.payload_json.len() * 3 / 4,
            id,
            thread_id,
            labels,
            internal_date_ms: date_ms,
            history_id: 0,
            headers: built.headers,
            payload: built.payload,
            payload_json: built.payload_json,
            attachments: built.attachments,
            raw: None,
            given_raw: built.given_raw,
            text: built.text,
            html_only: built.html_only,
        };
        m.history_id = self.record(&m, Change::Added);
        self.threads
            .entry(m.thread_id.clone())
            .or_default()
            .push(m.id.clone());
        self.messages.insert(m.id.clone(), m);
        self.order = None;
    }

    fn remove(&mut self, id: &str) -> Msg {
        let m = self
            .messages
            .remove(id)
            .unwrap_or_else(|| panic!("message {id} exists"));
        if let Some(ids) = self.threads.get_mut(&m.thread_id) {
            ids.retain(|i| i != id);
            if ids.is_empty() {
                self.threads.remove(&m.thread_id);
            }
        }
        self.drafts.retain(|_, mid| mid != id);
        self.record(&m, Change::Deleted);
        self.order = None;
        m
    }

    fn change_labels(&mut self, id: &str, labels: &[&str], add: bool) {
        let m = self
            .messages
            .get_mut(id)
            .unwrap_or_else(|| panic!("message {id} exists"));
        let mut changed: Vec<String> = Vec::new();
        for l in labels {
            if add != m.labels.iter().any(|x| x == l) && !changed.iter().any(|c| c == l) {
                changed.push(l.to_string());
            }
        }
        if changed.is_empty() {
            return;
        }
        if add {
            m.labels.extend(changed.iter().cloned());
        } else {
            m.labels.retain(|l| !changed.contains(l));
        }
        m.raw = None;
        let (mid, tid, now_labels) = (m.id.clone(), m.thread_id.clone(), m.labels.clone());
        self.history_id += 1;
        let hid = self.history_id;
        self.history.push(Record {
            id: hid,
            message_id: mid,
            thread_id: tid,
            labels: now_labels,
            change: if add {
                Change::LabelsAdded(changed)
            } else {
                Change::LabelsRemoved(changed)
            },
        });
        if let Some(m) = self.messages.get_mut(id) {
            m.history_id = hid;
        }
    }

    fn thread_ids_sorted(&self, thread_id: &str) -> Vec<String> {
        let mut ids: Vec<&Msg> = self
            .threads
            .get(thread_id)
            .into_iter()
            .flatten()
            .filter_map(|id| self.messages.get(id))
            .collect();
        ids.sort_by(|a, b| (a.internal_date_ms, &a.id).cmp(&(b.internal_date_ms, &b.id)));
        ids.into_iter().map(|m| m.id.clone()).collect()
    }

    /// The last non-draft message of a thread.
    fn thread_tail(&self, thread_id: &str) -> Option<&Msg> {
        self.thread_ids_sorted(thread_id)
            .iter()
            .rev()
            .filter_map(|id| self.messages.get(id))
            .find(|m| !m.has("DRAFT"))
    }

    // -----------------------------------------------------------------------------------------
    // Synthetic generation
    // -----------------------------------------------------------------------------------------

    /// `messages` messages in `threads` threads (uneven sizes), times within `[lo, hi]` ms.
    fn generate(&mut self, threads: usize, messages: usize, lo: i64, hi: i64) {
        if messages == 0 {
            return;
        }
        let threads = threads.clamp(1, messages);
        let mut cumulative = Vec::with_capacity(threads);
        let mut total = 0u64;
        for _ in 0..threads {
            total += if self.rng.below(12) == 0 {
                20 + self.rng.below(30)
            } else {
                1 + self.rng.below(3)
            };
            cumulative.push(total);
        }
        let mut counts = vec![1usize; threads];
        for _ in threads..messages {
            let x = self.rng.below(total);
            counts[cumulative.partition_point(|&c| c <= x)] += 1;
        }
        for n in counts {
            self.generate_thread(n, lo, hi);
        }
    }

    fn generate_thread(&mut self, n: usize, lo: i64, hi: i64) {
        let seq = self.thread_seq;
        self.thread_seq += 1;
        let automated = seq % 29 == 7;
        let k = ((self.rng.unit().powf(1.6)) * PEOPLE as f64) as usize % PEOPLE;
        let p = person(k);
        let company = format!("Company{}", k % 40);
        let cc = (!automated && self.rng.below(7) == 0).then(|| {
            let colleague = if k + 40 < PEOPLE { k + 40 } else { k - 40 };
            person(colleague).header
        });
        let subject = if automated {
            format!("Vendor Weekly #{seq}: deals & updates")
        } else {
            TOPICS[(seq * 7) % TOPICS.len()].replace("{co}", &company)
        };
        // Times: sorted uniform draws after a uniform start, whole seconds, strictly ascending.
        let top = (hi - n as i64 * 1000).max(lo);
        let start = lo + self.rng.below((top - lo) as u64 + 1) as i64;
        let mut times: Vec<i64> = (0..n)
            .map(|j| {
                let t = if j == 0 {
                    start
                } else {
                    start + self.rng.below((top - start) as u64 + 1) as i64
                };
                t - t.rem_euclid(1000)
            })
            .collect();
        times.sort_unstable();
        for j in 1..n {
            if times[j] <= times[j - 1] {
                times[j] = times[j - 1] + 1000;
            }
        }
        let mut inbound = automated || self.rng.below(100) < 65;
        let mut chain: Vec<String> = Vec::new();
        let mut thread_id: Option<String> = None;
        for (j, &date_ms) in times.iter().enumerate() {
            if j > 0 && !automated && self.rng.below(100) < 80 {
                inbound = !inbound;
            }
            let id = self.new_id();
            let op = operator_header();
            let (from, to, tz) = if automated {
                (format!("Vendor News <{VENDOR}>"), OPERATOR.to_string(), 0)
            } else if inbound {
                (p.header.clone(), op, p.tz_secs)
            } else {
                (op, p.header.clone(), 3600)
            };
            let (from_first, from_ascii, to_first, to_ascii) = if inbound {
                (p.first.as_str(), p.first_ascii.as_str(), "Morgan", "Morgan")
            } else {
                ("Morgan", "Morgan", p.first.as_str(), p.first_ascii.as_str())
            };
            let reply = j > 0 && !automated;
            let mut labels: Vec<String> = Vec::new();
            if automated {
                if self.rng.below(2) == 0 {
                    labels.push("UNREAD".into());
                }
                labels.extend(["CATEGORY_PROMOTIONS".into(), "INBOX".into()]);
            } else if inbound {
                if self.rng.below(4) == 0 {
                    labels.push("UNREAD".into());
                }
                if self.rng.below(5) == 0 {
                    labels.push("IMPORTANT".into());
                }
                labels.extend(["CATEGORY_PERSONAL".into(), "INBOX".into()]);
            } else {
                labels.push("SENT".into());
            }
            let mut before = Vec::new();
            let mut after = Vec::new();
            if inbound {
                before.push(h("Delivered-To", OPERATOR));
            }
            if automated {
                after.push(h(
                    "List-Unsubscribe",
                    format!("<mailto:unsubscribe@vendor.example?subject=unsubscribe>, <https://vendor.example/u?m={id}>"),
                ));
                after.push(h("Precedence", "bulk"));
            }
            let envelope = Envelope {
                from,
                to,
                cc: cc.clone(),
                subject: if reply {
                    format!("Re: {subject}")
                } else {
                    subject.clone()
                },
                date_ms,
                tz_secs: tz,
                in_reply_to: if reply { chain.last().cloned() } else { None },
                references: if reply { Some(chain.join(" ")) } else { None },
                before,
                after,
            };
            let body = if automated {
                newsletter(seq)
            } else {
                let v = self.variant;
                self.variant += 1;
                content(
                    v,
                    &Words {
                        from_first,
                        from_ascii,
                        to_first,
                        to_ascii,
                        topic: &subject,
                        company: &company,
                        n: v,
                    },
                )
            };
            let built = build(&id, envelope_headers(&id, &envelope), &body);
            chain.push(format!("<{id}@mail.example>"));
            let tid = thread_id.get_or_insert_with(|| id.clone()).clone();
            self.insert(id, tid, labels, date_ms, built);
        }
    }

    // -----------------------------------------------------------------------------------------
    // Rendering
    // -----------------------------------------------------------------------------------------

    fn ensure_order(&mut self) {
        if self.order.is_none() {
            let mut all: Vec<(&i64, &String)> = self
                .messages
                .values()
                .map(|m| (&m.internal_date_ms, &m.id))
                .collect();
            all.sort_unstable_by(|a, b| b.cmp(a));
            self.order = Some(all.into_iter().map(|(_, id)| id.clone()).collect());
        }
    }

    fn resource(&mut self, id: &str, format: Format, wanted: &[String]) -> Option<String> {
        let m = self.messages.get_mut(id)?;
        let mut s = String::with_capacity(m.payload_json.len() + 400);
        s.push_str("{\"id\":");
        s.push_str(&js(&m.id));
        s.push_str(",\"threadId\":");
        s.push_str(&js(&m.thread_id));
        if !m.labels.is_empty() {
            let labels: Vec<String> = m.labels.iter().map(|l| js(l)).collect();
            s.push_str(",\"labelIds\":[");
            s.push_str(&labels.join(","));
            s.push(']');
        }
        s.push_str(",\"snippet\":");
        s.push_str(&js(&m.snippet));
        match format {
            Format::Full => {
                s.push_str(",\"payload\":");
                s.push_str(&m.payload_json);
            }
            Format::Metadata => {
                let headers: Vec<(String, String)> = m
                    .headers
                    .iter()
                    .filter(|(n, _)| wanted.is_empty() || wanted.iter().any(|w| w.eq_ignore_ascii_case(n)))
                    .cloned()
                    .collect();
                s.push_str(",\"payload\":");
                s.push_str(&format!(
                    "{{\"partId\":\"\",\"mimeType\":{},\"filename\":\"\",\"headers\":{}}}",
                    js(&m.mime_type),
                    headers_js(&headers)
                ));
            }
            Format::Minimal => {}
            Format::Raw => {
                if m.raw.is_none() && m.given_raw.is_some() {
                    m.raw = m.given_raw.clone();
                }
                if m.raw.is_none() {
                    let parsed;
                    let payload = match &m.payload {
                        Some(p) => p,
                        None => {
                            parsed = serde_json::from_str(&m.payload_json).unwrap_or(Value::Null);
                            &parsed
                        }
                    };
                    m.raw = Some(render_raw(payload, &m.attachments));
                }
                s.push_str(",\"raw\":\"");
                s.push_str(m.raw.as_deref().unwrap_or(""));
                s.push('"');
            }
        }
        s.push_str(&format!(
            ",\"sizeEstimate\":{},\"historyId\":\"{}\",\"internalDate\":\"{}\"}}",
            m.size_estimate, m.history_id, m.internal_date_ms
        ));
        Some(s)
    }

    // -----------------------------------------------------------------------------------------
    // Endpoints
    // -----------------------------------------------------------------------------------------

    fn handle(&mut self, req: &Request) -> ResponseTemplate {
        let Some((method, id)) = route(req) else {
            return not_found();
        };
        let query = Query(req.url.query_pairs().into_owned().collect());
        let detail = match method {
            Method::MessagesGet
            | Method::ThreadsGet
            | Method::DraftsGet
            | Method::DraftsUpdate
            | Method::DraftsDelete => id.clone(),
            Method::DraftsCreate => String::new(),
            Method::DraftsSend => serde_json::from_slice::<Value>(&req.body)
                .ok()
                .and_then(|v| v["id"].as_str().map(str::to_string))
                .unwrap_or_default(),
            Method::MessagesList | Method::DraftsList => query.one("pageToken").unwrap_or("").to_string(),
            Method::HistoryList => {
                let start = query.one("startHistoryId").unwrap_or("");
                match query.one("pageToken").filter(|t| !t.is_empty()) {
                    Some(t) => format!("{start} {t}"),
                    None => start.to_string(),
                }
            }
            Method::Profile | Method::LabelsList | Method::Token | Method::Authorize | Method::Revoke => {
                String::new()
            }
        };
        *self.attempts.entry(method).or_default() += 1;
        self.log.push((method, detail));

        let mut slow = None;
        let mut after = None;
        match self.take_fault(method) {
            Some(FaultKind::Slow(d)) => slow = Some(d),
            Some(FaultKind::AppliedThenHang) => slow = Some(Duration::from_secs(60)),
            Some(kind @ FaultKind::AppliedThen(_)) => after = Some(kind),
            Some(kind) => return fault_response(&kind),
            None => {}
        }
        let answer = if method == Method::Token {
            self.token(req)
        } else if method == Method::Authorize {
            return self.authorize(&query);
        } else if method == Method::Revoke {
            self.revoke(req)
        } else {
            let auth = req
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if self.token_expired || auth.strip_prefix("Bearer ") != Some(self.token.as_str()) {
                return unauthorized();
            }
            let cost = method.units();
            if let Some(limit) = self.quota {
                let now = Instant::now();
                while self
                    .window
                    .front()
                    .is_some_and(|(t, _)| now.duration_since(*t) >= Duration::from_secs(60))
                {
                    self.window.pop_front();
                }
                let spent: u64 = self.window.iter().map(|(_, u)| u).sum();
                if spent + cost > limit {
                    self.quota_rejections += 1;
                    return quota_exceeded();
                }
            }
            self.api(method, &id, &query, &req.body)
        };
        match answer {
            Ok(body) => {
                *self.calls.entry(method).or_default() += 1;
                let cost = method.units();
                self.units += cost;
                if self.quota.is_some() && cost > 0 {
                    self.window.push_back((Instant::now(), cost));
                }
                if let Some(kind) = after {
                    return fault_response(&kind);
                }
                let r = if method == Method::DraftsDelete {
                    ResponseTemplate::new(204)
                } else {
                    json_ok(body)
                };
                match slow {
                    Some(d) => r.set_delay(d),
                    None => r,
                }
            }
            Err(e) => *e,
        }
    }

    /// The fault to serve for this call, if any.
    fn take_fault(&mut self, method: Method) -> Option<FaultKind> {
        let mut chosen = None;
        for (f, passed) in self.faults.iter_mut().filter(|(f, _)| f.method == method) {
            if *passed < f.skip {
                *passed += 1;
            } else if f.times > 0 && chosen.is_none() {
                f.times -= 1;
                chosen = Some(f.kind.clone());
            }
        }
        self.faults.retain(|(f, passed)| f.times > 0 || *passed < f.skip);
        if chosen.is_some() || matches!(method, Method::Token | Method::Authorize | Method::Revoke) {
            return chosen;
        }
        let r = self.random.as_mut()?;
        (r.rng.below(1000) < u64::from(r.per_mille)).then(|| r.kind.clone())
    }

    fn api(&mut self, method: Method, id: &str, q: &Query, body: &[u8]) -> Result<String, Fail> {
        match method {
            Method::Profile => Ok(json!({
                "emailAddress": OPERATOR,
                "messagesTotal": self.messages.len(),
                "threadsTotal": self.threads.len(),
                "historyId": self.history_id.to_string(),
            })
            .to_string()),
            Method::LabelsList => Ok(labels_json()),
            Method::MessagesList => self.list_messages(q),
            Method::MessagesGet => {
                let format = format_of(q)?;
                self.resource(id, format, &q.all("metadataHeaders"))
                    .ok_or_else(missing)
            }
            Method::ThreadsGet => self.thread(id, q),
            Method::HistoryList => self.list_history(q),
            Method::DraftsList => self.list_drafts(q),
            Method::DraftsGet => {
                let format = format_of(q)?;
                let message_id = self.drafts.get(id).cloned().ok_or_else(missing)?;
                let message = self
                    .resource(&message_id, format, &q.all("metadataHeaders"))
                    .ok_or_else(missing)?;
                Ok(format!("{{\"id\":{},\"message\":{message}}}", js(id)))
            }
            Method::DraftsCreate => self.write_draft(None, body),
            Method::DraftsUpdate => self.write_draft(Some(id), body),
            Method::DraftsSend => self.send_draft(body),
            Method::DraftsDelete => {
                let message_id = self.drafts.get(id).cloned().ok_or_else(missing)?;
                self.remove(&message_id);
                self.drafts_deleted += 1;
                Ok(String::new())
            }
            Method::Token | Method::Authorize | Method::Revoke => Err(missing()),
        }
    }

    fn list_messages(&mut self, q: &Query) -> Result<String, Fail> {
        let max = q.max_results()?;
        let offset = q.offset("messages")?;
        let label_ids = q.all("labelIds");
        let terms = parse_q(q.one("q").unwrap_or(""));
        let mut allowed_hidden: Vec<&str> = Vec::new();
        if q.one("includeSpamTrash")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
            || terms.iter().any(|t| matches!(t, Term::Anywhere))
        {
            allowed_hidden.extend(["SPAM", "TRASH"]);
        }
        for l in label_ids.iter().chain(terms.iter().filter_map(|t| match t {
            Term::Label(l) => Some(l),
            _ => None,
        })) {
            if l == "SPAM" || l == "TRASH" {
                allowed_hidden.push(l.as_str());
            }
        }
        self.ensure_order();
        let order = self.order.as_deref().unwrap_or_default();
        let matched: Vec<&Msg> = order
            .iter()
            .filter_map(|id| self.messages.get(id))
            .filter(|m| {
                ["SPAM", "TRASH"]
                    .iter()
                    .all(|hidden| !m.has(hidden) || allowed_hidden.contains(hidden))
                    && label_ids.iter().all(|l| m.has(l))
                    && terms.iter().all(|t| match t {
                        Term::After(ms) => m.internal_date_ms > *ms,
                        Term::Before(ms) => m.internal_date_ms < *ms,
                        Term::From(a) => m
                            .header("From")
                            .is_some_and(|v| v.to_ascii_lowercase().contains(a)),
                        Term::To(a) => m.header("To").is_some_and(|v| v.to_ascii_lowercase().contains(a)),
                        Term::Label(l) => m.has(l),
                        Term::Anywhere => true,
                        Term::Rfc822(id) => m
                            .header("Message-ID")
                            .is_some_and(|v| strip_brackets(v.trim()) == id),
                    })
            })
            .collect();
        let page: Vec<Value> = matched
            .iter()
            .skip(offset)
            .take(max)
            .map(|m| json!({"id": m.id, "threadId": m.thread_id}))
            .collect();
        let mut out = serde_json::Map::new();
        if !page.is_empty() {
            out.insert("messages".into(), Value::Array(page));
        }
        if offset + max < matched.len() {
            out.insert(
                "nextPageToken".into(),
                json!(page_token("messages", offset + max)),
            );
        }
        out.insert("resultSizeEstimate".into(), json!(matched.len()));
        Ok(Value::Object(out).to_string())
    }

    fn thread(&mut self, id: &str, q: &Query) -> Result<String, Fail> {
        let format = format_of(q)?;
        let wanted = q.all("metadataHeaders");
        let ids = self.thread_ids_sorted(id);
        let Some(last) = ids.last() else {
            return Err(missing());
        };
        let snippet = self
            .messages
            .get(last)
            .map(|m| m.snippet.clone())
            .unwrap_or_default();
        let history_id = ids
            .iter()
            .filter_map(|i| self.messages.get(i))
            .map(|m| m.history_id)
            .max()
            .unwrap_or(0);
        let mut rendered = Vec::with_capacity(ids.len());
        for i in &ids {
            rendered.extend(self.resource(i, format, &wanted));
        }
        Ok(format!(
            "{{\"id\":{},\"snippet\":{},\"historyId\":\"{history_id}\",\"messages\":[{}]}}",
            js(id),
            js(&snippet),
            rendered.join(",")
        ))
    }

    fn list_history(&self, q: &Query) -> Result<String, Fail> {
        let start: u64 = match q.one("startHistoryId") {
            None => return Err(invalid_argument("Missing required parameter startHistoryId")),
            Some(s) => s
                .parse()
                .map_err(|_| invalid_argument(&format!("Invalid value '{s}' for startHistoryId")))?,
        };
        if start < self.min_history {
            return Err(missing());
        }
        let types = q.all("historyTypes");
        const KNOWN: [&str; 4] = ["messageAdded", "messageDeleted", "labelAdded", "labelRemoved"];
        if let Some(bad) = types.iter().find(|t| !KNOWN.contains(&t.as_str())) {
            return Err(invalid_argument(&format!(
                "Invalid value '{bad}' for historyTypes"
            )));
        }
        let label = q.one("labelId");
        let max = q.max_results()?;
        let offset = q.offset(&format!("history{start}"))?;
        let first = self.history.partition_point(|r| r.id <= start);
        let matched: Vec<&Record> = self.history[first..]
            .iter()
            .filter(|r| types.is_empty() || types.iter().any(|t| t == r.change.history_type()))
            .filter(|r| {
                label.is_none_or(|l| {
                    r.labels.iter().any(|x| x == l)
                        || matches!(&r.change, Change::LabelsAdded(c) | Change::LabelsRemoved(c) if c.iter().any(|x| x == l))
                })
            })
            .collect();
        let page: Vec<Value> = matched
            .iter()
            .skip(offset)
            .take(max)
            .map(|r| {
                let message = json!({"id": r.message_id, "threadId": r.thread_id, "labelIds": r.labels});
                let mut rec = json!({
                    "id": r.id.to_string(),
                    "messages": [{"id": r.message_id, "threadId": r.thread_id}],
                });
                match &r.change {
                    Change::Added => rec["messagesAdded"] = json!([{"message": message}]),
                    Change::Deleted => rec["messagesDeleted"] = json!([{"message": message}]),
                    Change::LabelsAdded(l) => {
                        rec["labelsAdded"] = json!([{"message": message, "labelIds": l}])
                    }
                    Change::LabelsRemoved(l) => {
                        rec["labelsRemoved"] = json!([{"message": message, "labelIds": l}])
                    }
                }
                rec
            })
            .collect();
        let mut out = serde_json::Map::new();
        if !page.is_empty() {
            out.insert("history".into(), Value::Array(page));
        }
        if offset + max < matched.len() {
            out.insert(
                "nextPageToken".into(),
                json!(page_token(&format!("history{start}"), offset + max)),
            );
        }
        out.insert("historyId".into(), json!(self.history_id.to_string()));
        Ok(Value::Object(out).to_string())
    }

    fn sorted_drafts(&self) -> Vec<(String, &Msg)> {
        let mut drafts: Vec<(String, &Msg)> = self
            .drafts
            .iter()
            .filter_map(|(d, mid)| Some((d.clone(), self.messages.get(mid)?)))
            .collect();
        drafts.sort_by(|a, b| (b.1.internal_date_ms, &b.0).cmp(&(a.1.internal_date_ms, &a.0)));
        drafts
    }

    fn list_drafts(&self, q: &Query) -> Result<String, Fail> {
        let max = q.max_results()?;
        let offset = q.offset("drafts")?;
        let drafts = self.sorted_drafts();
        let page: Vec<Value> = drafts
            .iter()
            .skip(offset)
            .take(max)
            .map(|(d, m)| json!({"id": d, "message": {"id": m.id, "threadId": m.thread_id}}))
            .collect();
        let mut out = serde_json::Map::new();
        if !page.is_empty() {
            out.insert("drafts".into(), Value::Array(page));
        }
        if offset + max < drafts.len() {
            out.insert("nextPageToken".into(), json!(page_token("drafts", offset + max)));
        }
        out.insert("resultSizeEstimate".into(), json!(drafts.len()));
        Ok(Value::Object(out).to_string())
    }

    fn token(&mut self, req: &Request) -> Result<String, Fail> {
        let mut url = req.url.clone();
        url.set_query(Some(&String::from_utf8_lossy(&req.body)));
        let form: HashMap<String, String> = url.query_pairs().into_owned().collect();
        self.token_requests.push(form.clone());
        let oauth_error = |error: &str, description: &str| {
            Box::new(
                ResponseTemplate::new(400)
                    .set_body_json(json!({"error": error, "error_description": description})),
            )
        };
        if form.get("grant_type").map(String::as_str) == Some("authorization_code") {
            return self.exchange(&form);
        }
        if form.get("grant_type").map(String::as_str) != Some("refresh_token") {
            return Err(oauth_error("unsupported_grant_type", "Invalid grant_type"));
        }
        if form.get("client_id").is_none_or(|c| c.is_empty()) {
            return Err(oauth_error(
                "invalid_request",
                "Could not determine client ID from request.",
            ));
        }
        if self.refresh_revoked || form.get("refresh_token").map(String::as_str) != Some(REFRESH_TOKEN) {
            return Err(oauth_error("invalid_grant", "Token has been expired or revoked."));
        }
        self.token_counter += 1;
        self.token = format!("ya29.test-access-{}-not-a-secret", self.token_counter);
        self.token_expired = false;
        Ok(json!({
            "access_token": self.token,
            "expires_in": 3599,
            "token_type": "Bearer",
            "scope": "https://www.googleapis.com/auth/gmail.readonly",
        })
        .to_string())
    }
}

impl State {
    /// The browser's authorization request: checks what Google checks, then redirects to the
    /// loopback `redirect_uri` with a one-time code and the `state` (or a twist of them).
    fn authorize(&mut self, q: &Query) -> ResponseTemplate {
        self.authorizations.push(q.0.iter().cloned().collect());
        let get = |k: &str| q.one(k).unwrap_or("").to_string();
        let redirect = get("redirect_uri");
        let bad = |why: &str| ResponseTemplate::new(400).set_body_string(format!("Error 400: {why}"));
        if !redirect.starts_with("http://127.0.0.1:") && !redirect.starts_with("http://localhost:") {
            return bad("invalid_request: redirect_uri must be a loopback address");
        }
        if get("response_type") != "code" || get("client_id").is_empty() {
            return bad("invalid_request");
        }
        if get("code_challenge_method") != "S256" || get("code_challenge").len() != 43 {
            return bad("invalid_request: PKCE S256 required");
        }
        let state = get("state");
        let location = match self.authorize_twist.take() {
            Some(AuthorizeTwist::Deny) => {
                format!("{redirect}?error=access_denied&state={}", url_encode(&state))
            }
            Some(AuthorizeTwist::WrongState) => {
                self.codes.insert(
                    "4/forged-code".into(),
                    (get("code_challenge"), redirect.clone(), get("client_id")),
                );
                format!("{redirect}?code=4%2Fforged-code&state=forged")
            }
            None => {
                self.token_counter += 1;
                let code = format!("4/test-code-{}", self.token_counter);
                self.codes.insert(
                    code.clone(),
                    (get("code_challenge"), redirect.clone(), get("client_id")),
                );
                format!(
                    "{redirect}?state={}&code={}&scope={}",
                    url_encode(&state),
                    url_encode(&code),
                    url_encode(&get("scope"))
                )
            }
        };
        ResponseTemplate::new(302).insert_header("Location", location.as_str())
    }

    /// `grant_type=authorization_code`: the code must be one handed out (once), for the same
    /// client and redirect, and SHA-256 of `code_verifier` must be the challenge sent with it.
    fn exchange(&mut self, form: &HashMap<String, String>) -> Result<String, Fail> {
        let oauth_error = |error: &str, description: &str| {
            Box::new(
                ResponseTemplate::new(400)
                    .set_body_json(json!({"error": error, "error_description": description})),
            )
        };
        let field = |k: &str| form.get(k).cloned().unwrap_or_default();
        let Some((challenge, redirect, client)) = self.codes.remove(&field("code")) else {
            return Err(oauth_error("invalid_grant", "Malformed auth code."));
        };
        if redirect != field("redirect_uri") || client != field("client_id") {
            return Err(oauth_error("invalid_grant", "redirect_uri or client mismatch."));
        }
        use sha2::Digest;
        let computed = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(field("code_verifier").as_bytes()));
        if computed != challenge {
            return Err(oauth_error("invalid_grant", "Invalid code verifier."));
        }
        self.pkce_verified += 1;
        self.refresh_revoked = false;
        self.token_counter += 1;
        self.token = format!("ya29.test-access-{}-not-a-secret", self.token_counter);
        self.token_expired = false;
        Ok(json!({
            "access_token": self.token,
            "refresh_token": REFRESH_TOKEN,
            "expires_in": 3599,
            "token_type": "Bearer",
            "scope": "https://www.googleapis.com/auth/gmail.readonly https://www.googleapis.com/auth/gmail.compose",
        })
        .to_string())
    }

    /// `POST /revoke` with `token=`: a known refresh or access token stops working.
    fn revoke(&mut self, req: &Request) -> Result<String, Fail> {
        let form: HashMap<String, String> = url::form_urlencoded::parse(&req.body).into_owned().collect();
        let token = form.get("token").cloned().unwrap_or_default();
        if token == REFRESH_TOKEN || token == self.token {
            self.revoked.push(token);
            self.refresh_revoked = true;
            self.token_expired = true;
            Ok("{}".into())
        } else {
            Err(Box::new(
                ResponseTemplate::new(400).set_body_json(json!({"error": "invalid_token"})),
            ))
        }
    }
}

/// The id inside `<...>` (or the text as it is).
fn strip_brackets(s: &str) -> &str {
    s.strip_prefix('<').and_then(|x| x.strip_suffix('>')).unwrap_or(s)
}

/// A subject without reply/forward prefixes, for Gmail's threading rule.
fn thread_subject(s: &str) -> String {
    let mut s = s.trim();
    while let Some((prefix, rest)) = s.split_once(':') {
        if !["re", "aw", "sv", "antw", "fw", "fwd"]
            .iter()
            .any(|p| prefix.trim().eq_ignore_ascii_case(p))
        {
            break;
        }
        s = rest.trim_start();
    }
    s.to_lowercase()
}

/// Strict base64url (or standard) as Gmail's `raw` field wants it: `None` for anything else.
fn decode_raw_field(data: &str) -> Option<Vec<u8>> {
    let ok = data
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'+' | b'/' | b'='));
    if !ok || data.trim_end_matches('=').len() % 4 == 1 {
        return None;
    }
    decode_b64(data)
}

/// A message as a client wrote it: parsed with CaseyOS's MIME parser, root headers decoded
/// (as `format=full` gives them), the bytes kept for `format=raw`.
fn built_from_raw(bytes: &[u8]) -> Built {
    use caseyos::connectors::gmail::{body::message_text, mime};
    let part = mime::parse_raw(bytes);
    let headers: Vec<(String, String)> = part
        .headers
        .iter()
        .map(|h| (h.name.clone(), mime::decode_rfc2047(&h.value)))
        .collect();
    let mut payload = serde_json::to_value(&part).unwrap();
    payload["headers"] = Value::Array(
        headers
            .iter()
            .map(|(n, v)| json!({"name": n, "value": v}))
            .collect(),
    );
    let text = message_text(&part)
        .map(|t| normalize_text(&t))
        .unwrap_or_default();
    Built {
        payload_json: payload.to_string(),
        payload: Some(payload),
        mime_type: part.mime_type.clone(),
        headers,
        attachments: HashMap::new(),
        text,
        html_only: false,
        given_raw: Some(URL_SAFE.encode(bytes)),
    }
}

impl State {
    /// Whether a message with these headers joins `thread_id` (Gmail's rule): its
    /// `In-Reply-To`/`References` name a message of the thread and its subject matches the
    /// thread's (reply prefixes aside). `skip` is a message not to count (a replaced draft).
    fn reply_fits(&self, thread_id: &str, headers: &[(String, String)], skip: Option<&str>) -> bool {
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
                .unwrap_or("")
        };
        let named: Vec<&str> = get("References")
            .split_whitespace()
            .chain(get("In-Reply-To").split_whitespace())
            .map(strip_brackets)
            .collect();
        let members: Vec<&Msg> = self
            .thread_ids_sorted(thread_id)
            .iter()
            .filter(|id| Some(id.as_str()) != skip)
            .filter_map(|id| self.messages.get(id))
            .collect::<Vec<_>>();
        let linked = members.iter().any(|m| {
            m.header("Message-ID")
                .is_some_and(|mid| named.contains(&strip_brackets(mid.trim())))
        });
        let subject = members
            .first()
            .map(|m| thread_subject(m.header("Subject").unwrap_or("")));
        linked && subject.is_some_and(|s| s == thread_subject(get("Subject")))
    }

    /// `drafts.create` (`draft_id` None) and `drafts.update`.
    fn write_draft(&mut self, draft_id: Option<&str>, body: &[u8]) -> Result<String, Fail> {
        let v: Value =
            serde_json::from_slice(body).map_err(|_| invalid_argument("Invalid JSON payload received."))?;
        let old = match draft_id {
            Some(d) => {
                let old = self.drafts.get(d).cloned().ok_or_else(missing)?;
                if v["id"].as_str().is_some_and(|b| b != d) {
                    return Err(invalid_argument("Draft id in the body does not match the path"));
                }
                Some(old)
            }
            None => None,
        };
        let raw = v["message"]["raw"]
            .as_str()
            .ok_or_else(|| invalid_argument("Missing draft message"))?;
        let bytes = decode_raw_field(raw).ok_or_else(|| {
            invalid_argument("Invalid value at 'draft.message.raw' (TYPE_BYTES), Base64 decoding failed")
        })?;
        let built = built_from_raw(&bytes);
        let old_thread = old
            .as_deref()
            .and_then(|o| self.messages.get(o))
            .map(|m| m.thread_id.clone());
        let wanted = v["message"]["threadId"].as_str().filter(|t| !t.is_empty());
        let keep = match wanted {
            Some(t) if !self.threads.contains_key(t) => return Err(missing()),
            // A draft alone in its own thread stays there.
            Some(t)
                if old_thread.as_deref() == Some(t) && self.threads.get(t).is_some_and(|m| m.len() == 1) =>
            {
                Some(t.to_string())
            }
            Some(t) => self
                .reply_fits(t, &built.headers, old.as_deref())
                .then(|| t.to_string()),
            None => None,
        };
        if let Some(o) = &old {
            self.remove(o);
        }
        let message_id = self.new_id();
        let draft_id = match draft_id {
            Some(d) => {
                self.drafts_updated += 1;
                d.to_string()
            }
            None => {
                self.drafts_created += 1;
                self.new_draft_id()
            }
        };
        let thread_id = keep.unwrap_or_else(|| message_id.clone());
        self.insert(
            message_id.clone(),
            thread_id.clone(),
            vec!["DRAFT".into()],
            now_ms(),
            built,
        );
        self.drafts.insert(draft_id.clone(), message_id.clone());
        Ok(json!({
            "id": draft_id,
            "message": {"id": message_id, "threadId": thread_id, "labelIds": ["DRAFT"]},
        })
        .to_string())
    }

    /// `drafts.send`: the draft's message loses DRAFT and gains SENT (history: `labelRemoved`,
    /// `labelAdded`, then `messageAdded` with its new labels), the draft is gone.
    fn send_draft(&mut self, body: &[u8]) -> Result<String, Fail> {
        let v: Value =
            serde_json::from_slice(body).map_err(|_| invalid_argument("Invalid JSON payload received."))?;
        let draft_id = v["id"]
            .as_str()
            .filter(|d| !d.is_empty())
            .ok_or_else(|| invalid_argument("Invalid draft"))?
            .to_string();
        let message_id = self.drafts.get(&draft_id).cloned().ok_or_else(missing)?;
        let m = self.messages.get(&message_id).ok_or_else(missing)?;
        let recipients = ["To", "Cc", "Bcc"]
            .iter()
            .any(|h| m.header(h).is_some_and(|v| v.contains('@')));
        if !recipients {
            return Err(invalid_argument("Invalid To header"));
        }
        let raw = match &m.given_raw {
            Some(r) => decode_b64(r).unwrap_or_default(),
            None => decode_b64(&render_raw(
                &serde_json::from_str(&m.payload_json).unwrap_or(Value::Null),
                &m.attachments,
            ))
            .unwrap_or_default(),
        };
        let headers = m.headers.clone();
        self.drafts.remove(&draft_id);
        self.change_labels(&message_id, &["DRAFT"], false);
        self.change_labels(&message_id, &["SENT"], true);
        self.history_id += 1;
        let hid = self.history_id;
        let m = self.messages.get_mut(&message_id).ok_or_else(missing)?;
        m.history_id = hid;
        let (thread_id, labels) = (m.thread_id.clone(), m.labels.clone());
        self.history.push(Record {
            id: hid,
            message_id: message_id.clone(),
            thread_id: thread_id.clone(),
            labels: labels.clone(),
            change: Change::Added,
        });
        self.sent.push(Sent {
            id: message_id.clone(),
            thread_id: thread_id.clone(),
            draft_id,
            raw,
            headers,
        });
        Ok(json!({"id": message_id, "threadId": thread_id, "labelIds": labels}).to_string())
    }
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// How the fake's next authorization redirect misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthorizeTwist {
    /// The operator clicked "Cancel": `error=access_denied`.
    Deny,
    /// The redirect carries another `state` (a forged answer).
    WrongState,
}

fn labels_json() -> String {
    let mut labels: Vec<Value> = [
        "CHAT",
        "SENT",
        "INBOX",
        "IMPORTANT",
        "TRASH",
        "DRAFT",
        "SPAM",
        "CATEGORY_FORUMS",
        "CATEGORY_UPDATES",
        "CATEGORY_PERSONAL",
        "CATEGORY_PROMOTIONS",
        "CATEGORY_SOCIAL",
        "STARRED",
        "UNREAD",
    ]
    .iter()
    .map(|l| json!({"id": l, "name": l, "type": "system"}))
    .collect();
    labels.push(json!({"id": "Label_1", "name": "Customers", "type": "user"}));
    json!({ "labels": labels }).to_string()
}

struct Handler(Arc<Mutex<State>>);

impl Respond for Handler {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        lock(&self.0).handle(req)
    }
}

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

impl FakeGmail {
    /// An empty mailbox; `historyId` starts at 1000.
    pub async fn start() -> FakeGmail {
        FakeGmail::with_state(State::new()).await
    }

    /// A deterministic synthetic mailbox of `messages` messages in `threads` threads (each
    /// with at least one message; `threads` is clamped to `1..=messages`), all between 1 and
    /// 170 days before [`now`]. History before the returned state is not kept: the current
    /// `historyId` is the oldest valid `startHistoryId`.
    pub async fn with_mailbox(messages: usize, threads: usize) -> FakeGmail {
        let mut st = State::new();
        st.generate(threads, messages, now_ms() - 170 * DAY_MS, now_ms() - DAY_MS);
        st.history.clear();
        st.min_history = st.history_id;
        FakeGmail::with_state(st).await
    }

    async fn with_state(st: State) -> FakeGmail {
        let server = MockServer::builder().disable_request_recording().start().await;
        let state = Arc::new(Mutex::new(st));
        Mock::given(wiremock::matchers::any())
            .respond_with(Handler(state.clone()))
            .mount(&server)
            .await;
        FakeGmail { server, state }
    }

    fn st(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// The api_base (`https://gmail.googleapis.com` in production); also serves `/token`.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// The OAuth token endpoint: `uri() + "/token"`.
    pub fn token_url(&self) -> String {
        format!("{}/token", self.server.uri())
    }

    // ---- ground truth ----

    /// Every message in the mailbox except drafts (messages with the DRAFT label), by id.
    pub fn truth(&self) -> Vec<Truth> {
        let st = self.st();
        let mut out: Vec<Truth> = st
            .messages
            .values()
            .filter(|m| !m.has("DRAFT"))
            .map(Msg::truth)
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// The expected view of one message (drafts included), if it exists.
    pub fn message(&self, id: &str) -> Option<Truth> {
        self.st().messages.get(id).map(Msg::truth)
    }

    /// Ids of a thread's messages (drafts included), oldest first.
    pub fn thread(&self, thread_id: &str) -> Vec<String> {
        self.st().thread_ids_sorted(thread_id)
    }

    /// Every thread id (threads with at least one message), sorted.
    pub fn thread_ids(&self) -> Vec<String> {
        let st = self.st();
        let mut ids: Vec<String> = st.threads.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// The lower-case addresses of the people (not the operator) in the From/To/Cc headers of
    /// the non-draft messages, sorted. Automated mail (a `List-Unsubscribe` header or the
    /// CATEGORY_PROMOTIONS label) is skipped, so the vendor's `noreply` is not a correspondent.
    pub fn correspondents(&self) -> Vec<String> {
        let st = self.st();
        let mut out = BTreeSet::new();
        for m in st.messages.values() {
            if m.has("DRAFT") || m.has("CATEGORY_PROMOTIONS") || m.header("List-Unsubscribe").is_some() {
                continue;
            }
            for name in ["From", "To", "Cc"] {
                for mailbox in split_addresses(m.header(name).unwrap_or("")) {
                    if let Some(a) = address_of(&mailbox)
                        && a != OPERATOR
                    {
                        out.insert(a);
                    }
                }
            }
        }
        out.into_iter().collect()
    }

    /// The drafts, newest first.
    pub fn drafts(&self) -> Vec<DraftTruth> {
        let st = self.st();
        st.sorted_drafts()
            .into_iter()
            .map(|(d, m)| DraftTruth {
                id: d,
                message_id: m.id.clone(),
                thread_id: m.thread_id.clone(),
                to: m.header("To").unwrap_or("").to_string(),
                subject: m.header("Subject").unwrap_or("").to_string(),
                text: m.text.clone(),
                in_reply_to: m.header("In-Reply-To").map(str::to_string),
                internal_date_ms: m.internal_date_ms,
            })
            .collect()
    }

    /// The current `historyId`.
    pub fn history_id(&self) -> u64 {
        self.st().history_id
    }

    // ---- mutations ----

    /// Adds a message (a `text/plain` UTF-8 body); records `messageAdded`. Returns its id.
    /// Panics if `thread_id` names no thread.
    pub fn add_message(&self, m: NewMessage) -> String {
        let mut st = self.st();
        if let Some(t) = &m.thread_id {
            assert!(st.threads.contains_key(t), "thread {t} exists");
        }
        let id = st.new_id();
        let inbound = !m.labels.iter().any(|l| l == "SENT" || l == "DRAFT");
        let envelope = Envelope {
            from: m.from,
            to: m.to,
            cc: m.cc,
            subject: m.subject,
            date_ms: m.internal_date_ms,
            tz_secs: 0,
            in_reply_to: m.in_reply_to,
            references: m.references,
            before: if inbound {
                vec![h("Delivered-To", OPERATOR)]
            } else {
                vec![]
            },
            after: vec![],
        };
        let built = build(&id, envelope_headers(&id, &envelope), &Content::Plain(m.text));
        let thread_id = m.thread_id.unwrap_or_else(|| id.clone());
        st.insert(id.clone(), thread_id, m.labels, m.internal_date_ms, built);
        id
    }

    /// Adds whole synthetic threads 200–300 days old, `messages_per_thread` each; every
    /// message is recorded as `messageAdded`.
    pub fn add_old_threads(&self, threads: usize, messages_per_thread: usize) {
        let mut st = self.st();
        for _ in 0..threads {
            st.generate_thread(
                messages_per_thread.max(1),
                now_ms() - 300 * DAY_MS,
                now_ms() - 200 * DAY_MS,
            );
        }
    }

    /// Adds labels (only those not already there count); records `labelAdded` when any.
    pub fn add_labels(&self, id: &str, labels: &[&str]) {
        self.st().change_labels(id, labels, true);
    }

    /// Removes labels (only those present count); records `labelRemoved` when any.
    pub fn remove_labels(&self, id: &str, labels: &[&str]) {
        self.st().change_labels(id, labels, false);
    }

    /// Deletes a message permanently (and its draft, if it is one); records `messageDeleted`.
    pub fn delete(&self, id: &str) {
        self.st().remove(id);
    }

    /// Adds a message whose `format=full` payload is exactly `payload` (any shape, hostile
    /// input welcome); root headers are read from `payload.headers` when it has them. Records
    /// `messageAdded`; its truth has an empty `text`. Returns the id.
    pub fn insert_payload(
        &self,
        thread_id: Option<&str>,
        labels: &[&str],
        internal_date_ms: i64,
        payload: Value,
    ) -> String {
        let mut st = self.st();
        let id = st.new_id();
        let built = Built {
            headers: part_headers(&payload),
            payload_json: payload.to_string(),
            mime_type: payload["mimeType"].as_str().unwrap_or("").to_string(),
            payload: Some(payload),
            attachments: HashMap::new(),
            text: String::new(),
            html_only: false,
            given_raw: None,
        };
        let thread = thread_id.map(str::to_string).unwrap_or_else(|| id.clone());
        st.insert(
            id.clone(),
            thread,
            labels.iter().map(|l| l.to_string()).collect(),
            internal_date_ms,
            built,
        );
        id
    }

    /// Creates a draft from the operator (label DRAFT, dated [`now`]); in a thread it replies
    /// to the thread's last message (`In-Reply-To`, `References`). Records `messageAdded`.
    /// Returns the draft id (`r` + digits; not the message id).
    pub fn create_draft(&self, thread_id: Option<&str>, to: &str, subject: &str, body: &str) -> String {
        let mut st = self.st();
        let draft_id = st.new_draft_id();
        let (in_reply_to, references) = match thread_id.and_then(|t| st.thread_tail(t)) {
            Some(tail) => {
                let mid = tail.header("Message-ID").unwrap_or("").to_string();
                let refs = match tail.header("References") {
                    Some(r) => format!("{r} {mid}"),
                    None => mid.clone(),
                };
                (Some(mid), Some(refs))
            }
            None => (None, None),
        };
        let message_id = st.new_id();
        let envelope = Envelope {
            from: operator_header(),
            to: to.to_string(),
            cc: None,
            subject: subject.to_string(),
            date_ms: now_ms(),
            tz_secs: 3600,
            in_reply_to,
            references,
            before: vec![],
            after: vec![],
        };
        let built = build(
            &message_id,
            envelope_headers(&message_id, &envelope),
            &Content::Plain(body.to_string()),
        );
        let thread = thread_id
            .map(str::to_string)
            .unwrap_or_else(|| message_id.clone());
        st.insert(message_id.clone(), thread, vec!["DRAFT".into()], now_ms(), built);
        st.drafts.insert(draft_id.clone(), message_id);
        draft_id
    }

    /// Replaces a draft's body: its message gets a new id, like Gmail (records
    /// `messageDeleted` for the old message and `messageAdded` for the new one).
    pub fn update_draft(&self, draft_id: &str, body: &str) {
        let mut st = self.st();
        let old_id = st
            .drafts
            .get(draft_id)
            .cloned()
            .unwrap_or_else(|| panic!("draft {draft_id} exists"));
        let old = st.remove(&old_id);
        let new_id = st.new_id();
        let mut headers: Vec<(String, String)> = old
            .headers
            .iter()
            .filter(|(n, _)| !n.to_ascii_lowercase().starts_with("content-"))
            .cloned()
            .collect();
        for (n, v) in headers.iter_mut() {
            if n.eq_ignore_ascii_case("Message-ID") {
                *v = format!("<{new_id}@mail.example>");
            } else if n.eq_ignore_ascii_case("Date") {
                *v = date_header(now_ms(), 3600);
            }
        }
        let built = build(&new_id, headers, &Content::Plain(body.to_string()));
        st.insert(
            new_id.clone(),
            old.thread_id.clone(),
            old.labels.clone(),
            now_ms(),
            built,
        );
        st.drafts.insert(draft_id.to_string(), new_id);
    }

    /// Deletes a draft (its message: `messageDeleted`).
    pub fn delete_draft(&self, draft_id: &str) {
        let mut st = self.st();
        let id = st
            .drafts
            .get(draft_id)
            .cloned()
            .unwrap_or_else(|| panic!("draft {draft_id} exists"));
        st.remove(&id);
    }

    /// Forgets all history: any `startHistoryId` older than the current one gets 404.
    pub fn forget_history(&self) {
        let mut st = self.st();
        st.min_history = st.history_id;
        st.history.clear();
    }

    // ---- auth ----

    /// The current access token stops working (401) until a refresh at `/token`.
    pub fn expire_token(&self) {
        self.st().token_expired = true;
    }

    /// The access token currently accepted (after the last refresh).
    pub fn current_token(&self) -> String {
        self.st().token.clone()
    }

    /// `/token` answers 400 `invalid_grant` from now on.
    pub fn revoke_refresh_token(&self) {
        self.st().refresh_revoked = true;
    }

    /// The authorization endpoint (`[google] auth_url`).
    pub fn auth_url(&self) -> String {
        format!("{}/o/oauth2/v2/auth", self.server.uri())
    }

    /// The revocation endpoint (`[google] revoke_url`).
    pub fn revoke_url(&self) -> String {
        format!("{}/revoke", self.server.uri())
    }

    /// The next authorization redirect misbehaves this way.
    pub fn twist_next_authorization(&self, twist: AuthorizeTwist) {
        self.st().authorize_twist = Some(twist);
    }

    /// The parameters of every authorization request, in order.
    pub fn authorizations(&self) -> Vec<HashMap<String, String>> {
        self.st().authorizations.clone()
    }

    /// Code exchanges whose PKCE verifier matched the challenge.
    pub fn pkce_verified(&self) -> usize {
        self.st().pkce_verified
    }

    /// Tokens revoked at `/revoke`.
    pub fn revoked(&self) -> Vec<String> {
        self.st().revoked.clone()
    }

    /// The form fields of every `/token` request, in order.
    pub fn token_requests(&self) -> Vec<HashMap<String, String>> {
        self.st().token_requests.clone()
    }

    // ---- faults and quota ----

    /// Adds a fault. Faults of the same method are served in the order added.
    pub fn fail(&self, f: Fault) {
        self.st().faults.push((f, 0));
    }

    /// Each API call (not `/token`) fails with probability `per_mille`/1000 with `kind`,
    /// deterministically given the seed and the order of calls. `per_mille == 0` turns it off.
    pub fn random_faults(&self, per_mille: u32, seed: u64, kind: FaultKind) {
        self.st().random = (per_mille > 0).then_some(RandomFaults {
            per_mille,
            rng: Rng(seed),
            kind,
        });
    }

    /// A rolling 60-second budget of quota units (real time): a call that would exceed it
    /// gets 429 `RESOURCE_EXHAUSTED` and costs nothing.
    pub fn quota_per_minute(&self, units: u64) {
        let mut st = self.st();
        st.quota = Some(units);
        st.window.clear();
    }

    /// Calls refused by [`FakeGmail::quota_per_minute`].
    pub fn quota_rejections(&self) -> usize {
        self.st().quota_rejections
    }

    // ---- observation ----

    /// Every message sent with `drafts.send` (applied-then-failed sends included), in order.
    pub fn sent(&self) -> Vec<Sent> {
        self.st().sent.clone()
    }

    /// Drafts created with `drafts.create`.
    pub fn drafts_created(&self) -> usize {
        self.st().drafts_created
    }

    /// Drafts replaced with `drafts.update`.
    pub fn drafts_updated(&self) -> usize {
        self.st().drafts_updated
    }

    /// Drafts deleted with `drafts.delete`.
    pub fn drafts_deleted(&self) -> usize {
        self.st().drafts_deleted
    }

    /// The RFC 2822 bytes of a draft's current message as a client wrote them (`None` for an
    /// unknown draft or one made with [`FakeGmail::create_draft`]).
    pub fn draft_raw(&self, draft_id: &str) -> Option<Vec<u8>> {
        let st = self.st();
        let mid = st.drafts.get(draft_id)?;
        decode_b64(st.messages.get(mid)?.given_raw.as_deref()?)
    }

    /// Calls of a method carried out (2xx, not a fault; slow and applied-then-failed answers
    /// count).
    pub fn calls(&self, method: Method) -> usize {
        self.st().calls.get(&method).copied().unwrap_or(0)
    }

    /// All calls of a method, failures included.
    pub fn attempts(&self, method: Method) -> usize {
        self.st().attempts.get(&method).copied().unwrap_or(0)
    }

    /// Quota units of the calls carried out.
    pub fn units(&self) -> u64 {
        self.st().units
    }

    /// Every call: (method, detail). Detail: the id for `messages.get`/`threads.get`/
    /// `drafts.get`/`drafts.update`/`drafts.delete`/`drafts.send`, the `pageToken` ("" for the first page) for `messages.list`/`drafts.list`,
    /// `startHistoryId` (then a space and the `pageToken`, if any) for `history.list`, "" else.
    pub fn log(&self) -> Vec<(Method, String)> {
        self.st().log.clone()
    }

    /// Resets calls, attempts, units and the log.
    pub fn clear_log(&self) {
        let mut st = self.st();
        st.calls.clear();
        st.attempts.clear();
        st.units = 0;
        st.log.clear();
    }
}
