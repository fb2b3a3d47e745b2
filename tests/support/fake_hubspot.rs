//! A stateful fake of the HubSpot CRM v3 list API on 127.0.0.1, speaking the real JSON shapes:
//! `limit`/`after` paging with `paging.next.after`, associations blocks, the pipelines
//! endpoint, bearer-token checks and injectable faults (malformed JSON, 401, 429, 5xx).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The token the fake accepts.
pub const TOKEN: &str = "pat-test-not-a-secret";

/// A fault served instead of one page, `times` times.
#[derive(Clone, Debug)]
pub struct Fault {
    /// Object type (`contacts`...).
    pub object_type: &'static str,
    /// Offset of the page (`after`), 0 for the first.
    pub offset: usize,
    /// What to send.
    pub kind: FaultKind,
    /// How many times.
    pub times: u32,
}

/// Kinds of faults.
#[derive(Clone, Debug)]
pub enum FaultKind {
    /// A 200 with a body that is not JSON.
    Malformed,
    /// A status code with HubSpot's error body.
    Status(u16),
    /// 429 with `Retry-After: 0`.
    RateLimit,
}

#[derive(Default)]
struct State {
    objects: HashMap<String, Vec<Value>>,
    faults: Vec<Fault>,
    log: Vec<String>,
}

/// The fake server and its data.
pub struct FakeHubSpot {
    /// The server (its `uri()` is the api_base).
    pub server: MockServer,
    state: Arc<Mutex<State>>,
}

struct Handler(Arc<Mutex<State>>);

fn error(status: u16, category: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "status": "error", "message": message, "correlationId": "00000000-fake", "category": category
    }))
}

impl Respond for Handler {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut st = self.0.lock().unwrap();
        let query: HashMap<String, String> = req.url.query_pairs().into_owned().collect();
        st.log.push(format!(
            "{}?after={}",
            req.url.path(),
            query.get("after").cloned().unwrap_or_default()
        ));
        let auth = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if auth != format!("Bearer {TOKEN}") {
            return error(
                401,
                "INVALID_AUTHENTICATION",
                "Authentication credentials not found.",
            );
        }
        if req.url.path() == "/crm/v3/pipelines/deals" {
            return ResponseTemplate::new(200).set_body_json(pipelines());
        }
        let object_type = req.url.path().trim_start_matches("/crm/v3/objects/").to_string();
        let offset: usize = query.get("after").and_then(|a| a.parse().ok()).unwrap_or(0);
        let limit: usize = query
            .get("limit")
            .and_then(|l| l.parse().ok())
            .unwrap_or(10)
            .min(100);
        if let Some(f) = st
            .faults
            .iter_mut()
            .find(|f| f.object_type == object_type && f.offset == offset && f.times > 0)
        {
            f.times -= 1;
            return match f.kind {
                FaultKind::Malformed => ResponseTemplate::new(200).set_body_string("{\"results\": [{\"id\": \"1\", \"propert"),
                FaultKind::Status(code) => error(code, "INTERNAL_ERROR", "fake failure"),
                FaultKind::RateLimit => ResponseTemplate::new(429).insert_header("Retry-After", "0").set_body_json(json!({
                    "status": "error", "message": "You have reached your ten_secondly_rolling limit.",
                    "errorType": "RATE_LIMIT", "correlationId": "00000000-fake", "policyName": "TEN_SECONDLY_ROLLING"
                })),
            };
        }
        let all = st.objects.get(&object_type).cloned().unwrap_or_default();
        let page: Vec<Value> = all.iter().skip(offset).take(limit).cloned().collect();
        let mut body = json!({ "results": page });
        if offset + limit < all.len() {
            let after = (offset + limit).to_string();
            body["paging"] =
                json!({ "next": { "after": after, "link": format!("{}?after={after}", req.url.path()) } });
        }
        ResponseTemplate::new(200).set_body_json(body)
    }
}

fn pipelines() -> Value {
    let stage = |id: &str, order: i64, p: &str, closed: &str| json!({"id": id, "label": id, "displayOrder": order, "metadata": {"probability": p, "isClosed": closed}, "archived": false});
    json!({"results": [{"id": "default", "label": "Sales Pipeline", "displayOrder": 0, "archived": false, "stages": [
        stage("appointmentscheduled", 0, "0.2", "false"),
        stage("qualifiedtobuy", 1, "0.4", "false"),
        stage("contractsent", 2, "0.9", "false"),
        stage("closedwon", 3, "1.0", "true"),
        stage("closedlost", 4, "0.0", "true"),
    ]}]})
}

fn assoc(kind: &str, ids: &[String]) -> Value {
    json!({ "results": ids.iter().map(|id| json!({"id": id, "type": kind})).collect::<Vec<_>>() })
}

impl FakeHubSpot {
    /// Starts a fake holding `companies`, `contacts` (each at company i % companies), `deals`
    /// (each with one contact and its company), and as many tasks and notes.
    pub async fn start(companies: usize, contacts: usize, deals: usize, tasks: usize) -> FakeHubSpot {
        let server = MockServer::start().await;
        let mut st = State::default();
        let company_id = |i: usize| format!("{}", 20_000 + i);
        let contact_id = |i: usize| format!("{}", 100_000 + i);
        st.objects.insert(
            "companies".into(),
            (0..companies)
                .map(|i| json!({"id": company_id(i), "properties": {"name": format!("Company {i}"), "domain": format!("c{i}.example"),
                    "numberofemployees": format!("{}", 10 + i), "hs_lastmodifieddate": "2026-11-01T10:00:00.000Z"},
                    "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-11-01T10:00:00Z", "archived": false}))
                .collect(),
        );
        st.objects.insert(
            "contacts".into(),
            (0..contacts)
                .map(|i| json!({"id": contact_id(i), "properties": {"email": format!("Person{i}@C{}.example", i % companies.max(1)),
                    "firstname": format!("P{i}"), "lastname": "Tester", "lifecyclestage": "lead",
                    "createdate": "2026-10-01T09:00:00.000Z", "lastmodifieddate": "2026-11-01T10:00:00.000Z"},
                    "createdAt": "2026-10-01T09:00:00Z", "updatedAt": "2026-11-01T10:00:00Z", "archived": false,
                    "associations": {"companies": assoc("contact_to_company", &[company_id(i % companies.max(1))])}}))
                .collect(),
        );
        st.objects.insert(
            "deals".into(),
            (0..deals)
                .map(|i| json!({"id": format!("{}", 300_000 + i), "properties": {"dealname": format!("Deal {i}"),
                    "amount": format!("{}", 1000 * (i + 1)), "dealstage": "qualifiedtobuy", "pipeline": "default",
                    "closedate": "2026-12-15T00:00:00.000Z", "hs_lastmodifieddate": "2026-11-01T10:00:00.000Z"},
                    "createdAt": "2026-09-01T00:00:00Z", "updatedAt": "2026-11-01T10:00:00Z", "archived": false,
                    "associations": {"contacts": assoc("deal_to_contact", &[contact_id(i)]),
                                     "companies": assoc("deal_to_company", &[company_id(i % companies.max(1))])}}))
                .collect(),
        );
        for (kind, body_key) in [("tasks", "hs_task_subject"), ("notes", "hs_note_body")] {
            st.objects.insert(
                kind.into(),
                (0..tasks)
                    .map(|i| json!({"id": format!("{}{}", if kind == "tasks" { 4 } else { 5 }, 10_000 + i), "properties": {
                        body_key: format!("{kind} {i}"), "hs_task_status": "NOT_STARTED", "hs_timestamp": "2026-11-10T10:00:00.000Z"},
                        "archived": false, "associations": {"contacts": assoc("x", &[contact_id(i)])}}))
                    .collect(),
            );
        }
        let state = Arc::new(Mutex::new(st));
        Mock::given(method("GET"))
            .and(path_regex(r"^/crm/v3/objects/[a-z]+$"))
            .respond_with(Handler(state.clone()))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/crm/v3/pipelines/deals"))
            .respond_with(Handler(state.clone()))
            .mount(&server)
            .await;
        FakeHubSpot { server, state }
    }

    /// Adds a fault.
    pub fn inject(&self, fault: Fault) {
        self.state.lock().unwrap().faults.push(fault);
    }

    /// Requests served so far (`path?after=...`).
    pub fn log(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }
}
