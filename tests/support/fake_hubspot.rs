//! A stateful fake of the HubSpot CRM API on 127.0.0.1, speaking the real JSON shapes: v3 list
//! (`limit`/`after` paging with `paging.next.after`, `properties`, associations blocks), v3
//! search (filters, one sort, the 10,000-result cap, optionally the 5/s limit), v4 association
//! batch reads, pipelines and owners, bearer-token checks, and injectable faults (malformed
//! JSON, 401, 429, 5xx, slow answers).
//!
//! Writes: `POST /crm/v3/objects/{tasks,notes}` creates a record (with its associations, both
//! ways, and fresh modification dates so an incremental sync finds it), `PATCH` of deals and
//! tasks (stages checked against the pipeline, 404 for unknown ids), `GET` of one record, and
//! `CONTAINS_TOKEN` search on text properties. Write faults can refuse a request or apply it
//! and then fail the answer (a 5xx, or an answer that comes too late), the uncertain outcome a
//! client must not retry blindly. [`FakeHubSpot::writes`], [`FakeHubSpot::created`] and
//! [`FakeHubSpot::patches`] are the ground truth.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// When the newest record of each type was modified.
pub fn newest() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-11-01T10:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc)
}

/// The token the fake accepts.
pub const TOKEN: &str = "pat-test-not-a-secret";

/// A fault served instead of one page, `times` times.
#[derive(Clone, Debug)]
pub struct Fault {
    /// Object type (`contacts`...) for its list pages, `contacts/search` for its search pages.
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
    /// The right answer, but only after this long.
    Slow(Duration),
}

/// A fault served instead of (or after) one write, `times` times.
#[derive(Clone, Debug)]
pub struct WriteFault {
    /// `POST` (create) or `PATCH`.
    pub method: &'static str,
    /// Object type written (`tasks`, `notes`, `deals`).
    pub object_type: &'static str,
    /// What happens.
    pub kind: WriteFaultKind,
    /// How many times.
    pub times: u32,
}

/// Kinds of write faults.
#[derive(Clone, Debug)]
pub enum WriteFaultKind {
    /// Refused without applying anything: this status with HubSpot's error body (429 is the
    /// rate-limit answer with `Retry-After: 0`).
    Reject(u16),
    /// Applied, then answered with this status (the client cannot tell it was applied).
    ApplyThenStatus(u16),
    /// Applied, answered only after this long (past the client's timeout).
    ApplyThenSlow(Duration),
}

/// One write request as the fake received it.
#[derive(Clone, Debug, PartialEq)]
pub struct Write {
    /// `POST` or `PATCH`.
    pub method: String,
    /// Request path.
    pub path: String,
    /// The JSON body.
    pub body: Value,
}

/// One PATCH as received, and what the fake answered.
#[derive(Clone, Debug, PartialEq)]
pub struct Patch {
    /// Object type.
    pub object_type: String,
    /// Record id.
    pub id: String,
    /// The `properties` sent.
    pub properties: Value,
    /// The status answered (200, 400, 404, or a fault's).
    pub status: u16,
}

#[derive(Default)]
struct State {
    objects: HashMap<String, Vec<Value>>,
    faults: Vec<Fault>,
    write_faults: Vec<WriteFault>,
    writes: Vec<Write>,
    patches: Vec<Patch>,
    /// Ids created by POST, by object type, in order.
    created: HashMap<String, Vec<String>>,
    next_id: u64,
    /// The time writes are stamped with (None: the wall clock); moves 1 s per write.
    clock: Option<chrono::DateTime<chrono::Utc>>,
    log: Vec<String>,
    searches: usize,
    /// Search requests allowed per second (None = unlimited).
    search_limit: Option<usize>,
    recent_searches: VecDeque<Instant>,
    search_429s: usize,
    /// Announce a spent 10-second budget on the next answer: (interval ms, when announced).
    spend_budget: Option<(u64, Option<Instant>)>,
    budget_429s: usize,
}

/// Keeps only the requested properties (and the modification date HubSpot always sends).
fn select_properties(record: &Value, wanted: Option<&[String]>) -> Value {
    let mut r = record.clone();
    if let Some(o) = r.as_object_mut() {
        o.remove("associations");
        o.remove("_num");
    }
    if let (Some(wanted), Some(props)) = (wanted, r["properties"].as_object_mut()) {
        props.retain(|k, _| {
            wanted.iter().any(|w| w == k) || k == "lastmodifieddate" || k == "hs_lastmodifieddate"
        });
    }
    r
}

/// A record's value for a search property: timestamps as ms, `hs_object_id` as the id. The
/// parsed values are kept in a hidden `_num` object (refreshed whenever a record changes), so
/// that searching 12,500 records two hundred times stays quick.
fn sort_value(record: &Value, property: &str) -> i64 {
    if let Some(n) = record["_num"][property].as_i64() {
        return n;
    }
    if property == "hs_object_id" {
        return record["id"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0);
    }
    record["properties"][property]
        .as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.timestamp_millis())
        .unwrap_or(0)
}

/// Recomputes a record's hidden numeric search values.
fn index(record: &mut Value) {
    if let Some(o) = record.as_object_mut() {
        o.remove("_num");
    }
    let mut num = serde_json::Map::new();
    for prop in ["hs_object_id", "lastmodifieddate", "hs_lastmodifieddate"] {
        num.insert(prop.to_string(), json!(sort_value(record, prop)));
    }
    record["_num"] = Value::Object(num);
}

/// `CONTAINS_TOKEN`: the text split at every character that is not a letter or digit (stricter
/// than HubSpot, which keeps some punctuation inside words), compared case-insensitively with
/// a value that must itself be one token.
fn contains_token(text: &str, value: &str) -> bool {
    let value = value.to_lowercase();
    if value.is_empty() || !value.chars().all(char::is_alphanumeric) {
        return false;
    }
    text.split(|c: char| !c.is_alphanumeric())
        .any(|t| t.to_lowercase() == value)
}

/// The search endpoint: OR of filter groups, AND of filters, one ascending sort, 10k cap.
fn search(all: &[Value], body: &Value) -> ResponseTemplate {
    let matches = |r: &Value| {
        body["filterGroups"].as_array().into_iter().flatten().any(|g| {
            g["filters"].as_array().into_iter().flatten().all(|f| {
                let prop = f["propertyName"].as_str().unwrap_or("");
                if f["operator"] == "CONTAINS_TOKEN" {
                    return contains_token(
                        r["properties"][prop].as_str().unwrap_or(""),
                        f["value"].as_str().unwrap_or(""),
                    );
                }
                let want: i64 = f["value"].as_str().and_then(|v| v.parse().ok()).unwrap_or(0);
                let have = sort_value(r, prop);
                match f["operator"].as_str().unwrap_or("") {
                    "EQ" => have == want,
                    "GT" => have > want,
                    "GTE" => have >= want,
                    "LT" => have < want,
                    "LTE" => have <= want,
                    _ => false,
                }
            })
        })
    };
    let sort = body["sorts"][0]["propertyName"]
        .as_str()
        .unwrap_or("hs_object_id")
        .to_string();
    let mut hits: Vec<(i64, &Value)> = all
        .iter()
        .filter(|r| matches(r))
        .map(|r| (sort_value(r, &sort), r))
        .collect();
    // Like HubSpot, records with equal sort values come back in no particular order: here a
    // scrambled one, so a sync that assumes id order within a timestamp loses records.
    hits.sort_by_cached_key(|(k, r)| (*k, sort_value(r, "hs_object_id").wrapping_mul(7_919) % 10_007));
    let limit = body["limit"].as_u64().unwrap_or(10).min(200) as usize;
    let offset: usize = body["after"].as_str().and_then(|a| a.parse().ok()).unwrap_or(0);
    let wanted: Option<Vec<String>> = body["properties"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect());
    if offset + limit > 10_000 {
        return error(
            400,
            "VALIDATION_ERROR",
            "paging beyond 10000 results is not supported",
        );
    }
    let page: Vec<Value> = hits
        .iter()
        .skip(offset)
        .take(limit)
        .map(|(_, r)| select_properties(r, wanted.as_deref()))
        .collect();
    let mut out = json!({ "total": hits.len(), "results": page });
    if offset + limit < hits.len() {
        out["paging"] = json!({ "next": { "after": (offset + limit).to_string() } });
    }
    ResponseTemplate::new(200).set_body_json(out)
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
        // A spent budget: the answer says `Remaining: 0`; asking again within (most of) the
        // interval is a 429, as HubSpot would answer.
        let announce = {
            let mut st = self.0.lock().unwrap();
            match st.spend_budget {
                Some((interval, Some(at))) => {
                    if at.elapsed() < Duration::from_millis(interval * 8 / 10) {
                        st.budget_429s += 1;
                        return rate_limited("TEN_SECONDLY_ROLLING");
                    }
                    st.spend_budget = None;
                    None
                }
                Some((interval, None)) => {
                    st.spend_budget = Some((interval, Some(Instant::now())));
                    Some(interval)
                }
                None => None,
            }
        };
        let answer = self.handle(req);
        match announce {
            Some(interval) => answer
                .insert_header("X-HubSpot-RateLimit-Max", "100")
                .insert_header("X-HubSpot-RateLimit-Remaining", "0")
                .insert_header(
                    "X-HubSpot-RateLimit-Interval-Milliseconds",
                    interval.to_string().as_str(),
                ),
            None => answer,
        }
    }
}

impl Handler {
    fn handle(&self, req: &Request) -> ResponseTemplate {
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
        // Writes, and reads of one record (`/crm/v3/objects/{type}/{id}`).
        if let Some(rest) = req.url.path().strip_prefix("/crm/v3/objects/")
            && !rest.ends_with("/search")
            && (req.method.as_str() != "GET" || rest.contains('/'))
        {
            let rest = rest.to_string();
            return write(&mut st, req, &rest, &query);
        }
        if req.url.path() == "/crm/v3/owners" {
            return ResponseTemplate::new(200).set_body_json(json!({"results": [
                {"id": "901", "email": "ana@seller.example", "firstName": "Ana", "lastName": "Ruiz", "userId": 11, "archived": false},
                {"id": "902", "email": "bo@seller.example", "firstName": "Bo", "lastName": null, "userId": 12, "archived": false},
            ]}));
        }
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        if let Some(rest) = req.url.path().strip_prefix("/crm/v4/associations/") {
            let (from, to) = rest
                .strip_suffix("/batch/read")
                .and_then(|r| r.split_once('/'))
                .unwrap_or(("", ""));
            return associations_batch(st.objects.get(from), to, &body);
        }
        let endpoint = req.url.path().trim_start_matches("/crm/v3/objects/").to_string();
        let offset: usize = if endpoint.ends_with("/search") {
            body["after"].as_str().and_then(|a| a.parse().ok()).unwrap_or(0)
        } else {
            query.get("after").and_then(|a| a.parse().ok()).unwrap_or(0)
        };
        let mut slow = None;
        if let Some(f) = st
            .faults
            .iter_mut()
            .find(|f| f.object_type == endpoint && f.offset == offset && f.times > 0)
        {
            f.times -= 1;
            match f.kind {
                FaultKind::Malformed => {
                    return ResponseTemplate::new(200)
                        .set_body_string("{\"results\": [{\"id\": \"1\", \"propert");
                }
                FaultKind::Status(code) => return error(code, "INTERNAL_ERROR", "fake failure"),
                FaultKind::RateLimit => return rate_limited("TEN_SECONDLY_ROLLING"),
                FaultKind::Slow(d) => slow = Some(d),
            }
        }
        let answer = self.answer(&mut st, req, &endpoint, offset, &query, &body);
        match slow {
            Some(d) => answer.set_delay(d),
            None => answer,
        }
    }
}

/// Association type id → the type it links to, per object type created.
fn association_target(object_type: &str, type_id: u64) -> Option<&'static str> {
    match (object_type, type_id) {
        ("tasks", 204) | ("notes", 202) => Some("contacts"),
        ("tasks", 216) | ("notes", 214) => Some("deals"),
        ("tasks", 192) | ("notes", 190) => Some("companies"),
        _ => None,
    }
}

fn validation(message: &str, errors: Value) -> ResponseTemplate {
    ResponseTemplate::new(400).set_body_json(json!({
        "status": "error", "message": message, "correlationId": "00000000-fake",
        "category": "VALIDATION_ERROR", "errors": errors
    }))
}

fn stamp(st: &mut State) -> String {
    let now = st.clock.unwrap_or_else(chrono::Utc::now);
    st.clock = st.clock.map(|c| c + chrono::Duration::seconds(1));
    now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `hs_timestamp` as HubSpot stores it: ms since the epoch become ISO-8601.
fn normalize_timestamp(v: &str) -> Option<String> {
    if let Ok(ms) = v.parse::<i64>() {
        return chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    }
    chrono::DateTime::parse_from_rfc3339(v).ok().map(|t| {
        t.with_timezone(&chrono::Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    })
}

/// Serves a write (or a GET of one record), applying faults.
fn write(st: &mut State, req: &Request, rest: &str, query: &HashMap<String, String>) -> ResponseTemplate {
    let method = req.method.as_str().to_string();
    let (object_type, id) = match rest.split_once('/') {
        Some((t, id)) => (t.to_string(), Some(id.to_string())),
        None => (rest.to_string(), None),
    };
    if method == "GET" {
        let wanted: Option<Vec<String>> = query
            .get("properties")
            .map(|p| p.split(',').map(str::to_string).collect());
        let id = id.unwrap_or_default();
        return match st
            .objects
            .get(&object_type)
            .and_then(|rs| rs.iter().find(|r| r["id"] == id))
        {
            Some(r) => ResponseTemplate::new(200).set_body_json(select_properties(r, wanted.as_deref())),
            None => error(
                404,
                "OBJECT_NOT_FOUND",
                "Object not found. objectId are usually numeric.",
            ),
        };
    }
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    st.writes.push(Write {
        method: method.clone(),
        path: req.url.path().to_string(),
        body: body.clone(),
    });
    let fault = st
        .write_faults
        .iter_mut()
        .find(|f| f.method == method && f.object_type == object_type && f.times > 0)
        .map(|f| {
            f.times -= 1;
            f.kind.clone()
        });
    let answer = |st: &mut State| match (&method[..], &id) {
        ("POST", None) => create(st, &object_type, &body),
        ("PATCH", Some(id)) => patch(st, &object_type, id, &body),
        _ => (405, error(405, "METHOD_NOT_ALLOWED", "not supported by the fake")),
    };
    let log_patch = |st: &mut State, status: u16| {
        if method == "PATCH" {
            st.patches.push(Patch {
                object_type: object_type.clone(),
                id: id.clone().unwrap_or_default(),
                properties: body["properties"].clone(),
                status,
            });
        }
    };
    match fault {
        Some(WriteFaultKind::Reject(429)) => {
            log_patch(st, 429);
            rate_limited("TEN_SECONDLY_ROLLING")
        }
        Some(WriteFaultKind::Reject(code)) => {
            log_patch(st, code);
            error(code, "INTERNAL_ERROR", "fake failure")
        }
        Some(WriteFaultKind::ApplyThenStatus(code)) => {
            let _ = answer(st);
            log_patch(st, code);
            error(code, "INTERNAL_ERROR", "fake failure after applying")
        }
        Some(WriteFaultKind::ApplyThenSlow(d)) => {
            let (status, applied) = answer(st);
            log_patch(st, status);
            applied.set_delay(d)
        }
        None => {
            let (status, answer) = answer(st);
            log_patch(st, status);
            answer
        }
    }
}

/// A write refused: the status and the answer.
type Refusal = Box<(u16, ResponseTemplate)>;

fn refuse(status: u16, answer: ResponseTemplate) -> Result<Value, Refusal> {
    Err(Box::new((status, answer)))
}

/// `POST /crm/v3/objects/{tasks,notes}`: the status and the answer.
fn create(st: &mut State, object_type: &str, body: &Value) -> (u16, ResponseTemplate) {
    match create_inner(st, object_type, body) {
        Ok(created) => (201, ResponseTemplate::new(201).set_body_json(created)),
        Err(refusal) => *refusal,
    }
}

fn create_inner(st: &mut State, object_type: &str, body: &Value) -> Result<Value, Refusal> {
    if !matches!(object_type, "tasks" | "notes") {
        return refuse(
            405,
            error(405, "METHOD_NOT_ALLOWED", "the fake creates tasks and notes only"),
        );
    }
    let Some(props) = body["properties"].as_object() else {
        return refuse(400, validation("properties are required", json!([])));
    };
    let mut properties = serde_json::Map::new();
    for (k, v) in props {
        let Some(v) = v.as_str() else {
            return refuse(400, validation(&format!("{k} must be a string"), json!([])));
        };
        properties.insert(k.clone(), json!(v));
    }
    let Some(due) = properties
        .get("hs_timestamp")
        .and_then(Value::as_str)
        .and_then(normalize_timestamp)
    else {
        return refuse(
            400,
            validation(
                "Property values were not valid",
                json!([{"message": "hs_timestamp is required and must be a date", "code": "INVALID_DATE",
                    "context": {"propertyName": ["hs_timestamp"]}}]),
            ),
        );
    };
    properties.insert("hs_timestamp".into(), json!(due));
    if object_type == "tasks" {
        let status = properties
            .get("hs_task_status")
            .and_then(Value::as_str)
            .unwrap_or("NOT_STARTED");
        if !TASK_STATUSES.contains(&status) {
            return refuse(
                400,
                validation(
                    "Property values were not valid",
                    json!([{"message": format!("{status} was not one of the allowed options"), "code": "INVALID_OPTION"}]),
                ),
            );
        }
        properties.insert("hs_task_status".into(), json!(status));
    }
    let mut links: Vec<(&'static str, String)> = Vec::new();
    for a in body["associations"].as_array().into_iter().flatten() {
        let to = a["to"]["id"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| a["to"]["id"].to_string());
        for t in a["types"].as_array().into_iter().flatten() {
            let target = (t["associationCategory"] == "HUBSPOT_DEFINED")
                .then(|| {
                    t["associationTypeId"]
                        .as_u64()
                        .and_then(|id| association_target(object_type, id))
                })
                .flatten();
            let Some(target) = target else {
                return refuse(
                    400,
                    validation(&format!("invalid association type {t}"), json!([])),
                );
            };
            if !st
                .objects
                .get(target)
                .is_some_and(|rs| rs.iter().any(|r| r["id"] == to))
            {
                return refuse(
                    400,
                    validation(
                        "One or more associations are invalid",
                        json!([{"message": format!("No {target} with ID {to} exists"), "code": "INVALID_ASSOCIATION"}]),
                    ),
                );
            }
            links.push((target, to.clone()));
        }
    }
    st.next_id += 1;
    let id = format!("{}", 900_000 + st.next_id);
    let now = stamp(st);
    properties.insert("hs_object_id".into(), json!(id));
    properties.insert("hs_createdate".into(), json!(now));
    properties.insert("hs_lastmodifieddate".into(), json!(now));
    let singular = &object_type[..object_type.len() - 1];
    let mut record = json!({"id": id, "properties": properties, "createdAt": now, "updatedAt": now,
        "archived": false, "associations": {}});
    for (target, to) in &links {
        let list = record["associations"][*target]["results"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut list = list;
        list.push(json!({"id": to, "type": format!("{singular}_to_{}", &target[..target.len() - 1])}));
        record["associations"][*target] = json!({"results": list});
        if let Some(other) = st
            .objects
            .get_mut(*target)
            .and_then(|rs| rs.iter_mut().find(|r| r["id"] == *to))
        {
            let mut back = other["associations"][object_type]["results"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            back.push(json!({"id": id, "type": format!("{}_to_{singular}", &target[..target.len() - 1])}));
            other["associations"][object_type] = json!({"results": back});
        }
    }
    index(&mut record);
    let answer = select_properties(&record, None);
    st.objects
        .entry(object_type.to_string())
        .or_default()
        .push(record);
    st.created.entry(object_type.to_string()).or_default().push(id);
    Ok(answer)
}

const TASK_STATUSES: [&str; 5] = ["NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED"];

/// `PATCH /crm/v3/objects/{deals,tasks}/{id}`: the status and the answer.
fn patch(st: &mut State, object_type: &str, id: &str, body: &Value) -> (u16, ResponseTemplate) {
    match patch_inner(st, object_type, id, body) {
        Ok(updated) => (200, ResponseTemplate::new(200).set_body_json(updated)),
        Err(refusal) => *refusal,
    }
}

fn patch_inner(st: &mut State, object_type: &str, id: &str, body: &Value) -> Result<Value, Refusal> {
    let Some(props) = body["properties"].as_object().cloned() else {
        return refuse(400, validation("properties are required", json!([])));
    };
    let Some(pos) = st
        .objects
        .get(object_type)
        .and_then(|rs| rs.iter().position(|r| r["id"] == id))
    else {
        return refuse(
            404,
            error(
                404,
                "OBJECT_NOT_FOUND",
                "Object not found. objectId are usually numeric.",
            ),
        );
    };
    let record = st.objects[object_type][pos].clone();
    for (k, v) in &props {
        let Some(v) = v.as_str() else {
            return refuse(400, validation(&format!("{k} must be a string"), json!([])));
        };
        let allowed: Option<Vec<String>> = match (object_type, k.as_str()) {
            ("deals", "dealstage") => {
                let pipeline = record["properties"]["pipeline"].as_str().unwrap_or("default");
                Some(
                    pipelines()["results"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|p| p["id"] == pipeline)
                        .flat_map(|p| p["stages"].as_array().cloned().unwrap_or_default())
                        .filter_map(|s| s["id"].as_str().map(str::to_string))
                        .collect(),
                )
            }
            ("tasks", "hs_task_status") => Some(TASK_STATUSES.iter().map(|s| s.to_string()).collect()),
            _ => None,
        };
        if let Some(allowed) = allowed
            && !allowed.iter().any(|a| a == v)
        {
            let message = format!("{v} was not one of the allowed options: [{}]", allowed.join(", "));
            return refuse(
                400,
                validation(
                    &format!("Property values were not valid: {message}"),
                    json!([{"message": message, "code": "INVALID_OPTION", "context": {"propertyName": [k]}}]),
                ),
            );
        }
    }
    let now = stamp(st);
    let modified = if object_type == "contacts" {
        "lastmodifieddate"
    } else {
        "hs_lastmodifieddate"
    };
    let Some(r) = st.objects.get_mut(object_type).and_then(|rs| rs.get_mut(pos)) else {
        return refuse(404, error(404, "OBJECT_NOT_FOUND", "gone"));
    };
    for (k, v) in &props {
        if k == "dealstage" && r["properties"]["dealstage"] != *v {
            r["properties"]["hs_v2_date_entered_current_stage"] = json!(now);
        }
        r["properties"][k] = v.clone();
    }
    r["properties"][modified] = json!(now);
    r["updatedAt"] = json!(now);
    index(r);
    Ok(select_properties(r, None))
}

fn rate_limited(policy: &str) -> ResponseTemplate {
    ResponseTemplate::new(429)
        .insert_header("Retry-After", "0")
        .set_body_json(json!({
            "status": "error", "message": format!("You have reached your {} limit.", policy.to_lowercase()),
            "errorType": "RATE_LIMIT", "correlationId": "00000000-fake", "policyName": policy
        }))
}

/// `POST /crm/v4/associations/{from}/{to}/batch/read`: records without any such association
/// go to `errors`, like HubSpot does.
fn associations_batch(records: Option<&Vec<Value>>, to: &str, body: &Value) -> ResponseTemplate {
    let mut results = Vec::new();
    let mut errors = Vec::new();
    let by_id: HashMap<&str, &Value> = records
        .into_iter()
        .flatten()
        .map(|r| (r["id"].as_str().unwrap_or(""), r))
        .collect();
    for input in body["inputs"].as_array().into_iter().flatten() {
        let id = input["id"].as_str().unwrap_or("");
        let linked: Vec<Value> = by_id
            .get(id)
            .and_then(|r| r["associations"][to]["results"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .map(|a| {
                let n: u64 = a["id"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0);
                json!({"toObjectId": n, "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 1, "label": null}]})
            })
            .collect();
        if linked.is_empty() {
            errors.push(json!({"status": "error", "category": "OBJECT_NOT_FOUND", "message": format!("No {to} is associated with {id}")}));
        } else {
            results.push(json!({"from": {"id": id}, "to": linked}));
        }
    }
    ResponseTemplate::new(if errors.is_empty() { 200 } else { 207 }).set_body_json(json!({
        "status": "COMPLETE", "results": results, "errors": errors,
        "startedAt": "2026-11-01T00:00:00Z", "completedAt": "2026-11-01T00:00:01Z"
    }))
}

impl Handler {
    fn answer(
        &self,
        st: &mut State,
        req: &Request,
        endpoint: &str,
        offset: usize,
        query: &HashMap<String, String>,
        body: &Value,
    ) -> ResponseTemplate {
        if let Some(object_type) = endpoint.strip_suffix("/search") {
            if body.is_null() {
                return error(400, "VALIDATION_ERROR", "body is not JSON");
            }
            st.searches += 1;
            if let Some(limit) = st.search_limit {
                // HubSpot allows 5 searches per second; the window here is a little shorter
                // than a second so that transit jitter never turns a polite client into a 429.
                let now = Instant::now();
                while st
                    .recent_searches
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= Duration::from_millis(900))
                {
                    st.recent_searches.pop_front();
                }
                st.recent_searches.push_back(now);
                if st.recent_searches.len() > limit {
                    st.search_429s += 1;
                    return rate_limited("SECONDLY");
                }
            }
            let empty = Vec::new();
            return search(st.objects.get(object_type).unwrap_or(&empty), body);
        }
        let object_type = endpoint.to_string();
        let limit: usize = query
            .get("limit")
            .and_then(|l| l.parse().ok())
            .unwrap_or(10)
            .min(100);
        let wanted: Option<Vec<String>> = query
            .get("properties")
            .map(|p| p.split(',').map(str::to_string).collect());
        let with_associations: Vec<&str> = query
            .get("associations")
            .map(|a| a.split(',').collect())
            .unwrap_or_default();
        let total = st.objects.get(&object_type).map(Vec::len).unwrap_or(0);
        let page: Vec<Value> = st
            .objects
            .get(&object_type)
            .into_iter()
            .flatten()
            .skip(offset)
            .take(limit)
            .map(|r| {
                let mut out = select_properties(r, wanted.as_deref());
                for kind in &with_associations {
                    if let Some(a) = r["associations"].get(*kind) {
                        out["associations"][*kind] = a.clone();
                    }
                }
                out
            })
            .collect();
        let mut body = json!({ "results": page });
        if offset + limit < total {
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
        // Record i of every type was last modified i hours before the newest one.
        let modified = |i: usize| {
            (newest() - chrono::Duration::hours(i as i64))
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        };
        st.objects.insert(
            "companies".into(),
            (0..companies)
                .map(|i| json!({"id": company_id(i), "properties": {"name": format!("Company {i}"), "domain": format!("c{i}.example"),
                    "numberofemployees": format!("{}", 10 + i), "hs_lastmodifieddate": modified(i)},
                    "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-11-01T10:00:00Z", "archived": false}))
                .collect(),
        );
        st.objects.insert(
            "contacts".into(),
            (0..contacts)
                .map(|i| json!({"id": contact_id(i), "properties": {"email": format!("Person{i}@C{}.example", i % companies.max(1)),
                    "firstname": format!("P{i}"), "lastname": "Tester", "lifecyclestage": "lead",
                    "createdate": "2026-10-01T09:00:00.000Z", "lastmodifieddate": modified(i)},
                    "createdAt": "2026-10-01T09:00:00Z", "updatedAt": "2026-11-01T10:00:00Z", "archived": false,
                    "associations": {"companies": assoc("contact_to_company", &[company_id(i % companies.max(1))])}}))
                .collect(),
        );
        st.objects.insert(
            "deals".into(),
            (0..deals)
                .map(|i| json!({"id": format!("{}", 300_000 + i), "properties": {"dealname": format!("Deal {i}"),
                    "amount": format!("{}", 1000 * (i + 1)), "dealstage": "qualifiedtobuy", "pipeline": "default",
                    "closedate": "2026-12-15T00:00:00.000Z", "hs_lastmodifieddate": modified(i)},
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
                        body_key: format!("{kind} {i}"), "hs_task_status": "NOT_STARTED", "hs_timestamp": "2026-11-10T10:00:00.000Z",
                        "hs_lastmodifieddate": modified(i)},
                        "archived": false, "associations": {"contacts": assoc("x", &[contact_id(i)])}}))
                    .collect(),
            );
        }
        for records in st.objects.values_mut() {
            records.iter_mut().for_each(index);
        }
        let state = Arc::new(Mutex::new(st));
        Mock::given(method("GET"))
            .and(path_regex(r"^/crm/v3/objects/[a-z]+$"))
            .respond_with(Handler(state.clone()))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path_regex(r"^/crm/v3/objects/[a-z]+/search$"))
            .respond_with(Handler(state.clone()))
            .mount(&server)
            .await;
        for endpoint in ["/crm/v3/pipelines/deals", "/crm/v3/owners"] {
            Mock::given(method("GET"))
                .and(path(endpoint))
                .respond_with(Handler(state.clone()))
                .mount(&server)
                .await;
        }
        Mock::given(method("POST"))
            .and(path_regex(r"^/crm/v4/associations/[a-z]+/[a-z]+/batch/read$"))
            .respond_with(Handler(state.clone()))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path_regex(r"^/crm/v3/objects/[a-z]+$"))
            .respond_with(Handler(state.clone()))
            .mount(&server)
            .await;
        for verb in ["GET", "PATCH"] {
            Mock::given(method(verb))
                .and(path_regex(r"^/crm/v3/objects/[a-z]+/[^/]+$"))
                .respond_with(Handler(state.clone()))
                .mount(&server)
                .await;
        }
        FakeHubSpot { server, state }
    }

    /// Adds a write fault.
    pub fn inject_write(&self, fault: WriteFault) {
        self.state.lock().unwrap().write_faults.push(fault);
    }

    /// Stamps the following writes with `t` (then one second later each).
    pub fn set_clock(&self, t: chrono::DateTime<chrono::Utc>) {
        self.state.lock().unwrap().clock = Some(t);
    }

    /// Every write request received (POST creates and PATCHes), in order, faults included.
    pub fn writes(&self) -> Vec<Write> {
        self.state.lock().unwrap().writes.clone()
    }

    /// The records of a type created by POST, as they are now (properties and associations).
    pub fn created(&self, object_type: &str) -> Vec<Value> {
        let st = self.state.lock().unwrap();
        let ids = st.created.get(object_type).cloned().unwrap_or_default();
        ids.iter()
            .filter_map(|id| {
                st.objects
                    .get(object_type)
                    .and_then(|rs| rs.iter().find(|r| r["id"] == *id))
                    .map(|r| {
                        let mut r = r.clone();
                        if let Some(o) = r.as_object_mut() {
                            o.remove("_num");
                        }
                        r
                    })
            })
            .collect()
    }

    /// Every PATCH received, with the status answered.
    pub fn patches(&self) -> Vec<Patch> {
        self.state.lock().unwrap().patches.clone()
    }

    /// One record as the fake holds it now (`None` if there is no such record).
    pub fn record(&self, object_type: &str, id: &str) -> Option<Value> {
        let st = self.state.lock().unwrap();
        st.objects
            .get(object_type)
            .and_then(|rs| rs.iter().find(|r| r["id"] == id))
            .map(|r| {
                let mut r = r.clone();
                if let Some(o) = r.as_object_mut() {
                    o.remove("_num");
                }
                r
            })
    }

    /// Adds a fault.
    pub fn inject(&self, fault: Fault) {
        self.state.lock().unwrap().faults.push(fault);
    }

    /// Changes `n` records of a type starting at `first`: a new name/subject and a new
    /// modification time (RFC 3339).
    pub fn modify(&self, object_type: &str, first: usize, n: usize, modified: &str) {
        let mut st = self.state.lock().unwrap();
        let prop = if object_type == "contacts" {
            "lastmodifieddate"
        } else {
            "hs_lastmodifieddate"
        };
        let name = match object_type {
            "contacts" => "firstname",
            "companies" => "name",
            "deals" => "dealname",
            "tasks" => "hs_task_subject",
            _ => "hs_note_body",
        };
        for r in st
            .objects
            .get_mut(object_type)
            .unwrap()
            .iter_mut()
            .skip(first)
            .take(n)
        {
            r["properties"][prop] = json!(modified);
            r["properties"][name] = json!(format!("changed {}", r["id"].as_str().unwrap()));
            index(r);
        }
    }

    /// Enforces HubSpot's search limit: more than `per_second` searches within a second get 429.
    pub fn limit_searches(&self, per_second: usize) {
        self.state.lock().unwrap().search_limit = Some(per_second);
    }

    /// The next answer says the 10-second budget is spent (`Remaining: 0`) for `interval_ms`;
    /// requests inside that interval are refused with 429 and counted.
    pub fn spend_budget(&self, interval_ms: u64) {
        self.state.lock().unwrap().spend_budget = Some((interval_ms, None));
    }

    /// Requests refused because they ignored a spent budget.
    pub fn budget_429s(&self) -> usize {
        self.state.lock().unwrap().budget_429s
    }

    /// Searches refused by the search limit.
    pub fn search_429s(&self) -> usize {
        self.state.lock().unwrap().search_429s
    }

    /// Deletes (or archives: the default listing and search no longer show it) one record.
    pub fn delete(&self, object_type: &str, id: &str) {
        let mut st = self.state.lock().unwrap();
        let records = st.objects.get_mut(object_type).unwrap();
        let before = records.len();
        records.retain(|r| r["id"] != id);
        assert_eq!(records.len() + 1, before, "{object_type} {id} exists");
    }

    /// Sets a property on one record without touching its modification date (a custom
    /// property HubSpot does not index as a change, or a value seen only when asked for).
    pub fn set_property(&self, object_type: &str, id: &str, name: &str, value: &str) {
        self.edit(object_type, id, |r| {
            r["properties"][name] = json!(value);
            index(r);
        });
    }

    fn edit(&self, object_type: &str, id: &str, change: impl FnOnce(&mut Value)) {
        let mut st = self.state.lock().unwrap();
        let record = st
            .objects
            .get_mut(object_type)
            .unwrap()
            .iter_mut()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("{object_type} {id} exists"));
        change(record);
    }

    /// Replaces the associations of one record to one type (`contacts` → `companies`...).
    pub fn associate(&self, object_type: &str, id: &str, to_type: &str, to_ids: &[String]) {
        self.edit(object_type, id, |r| {
            r["associations"][to_type] = assoc("x", to_ids)
        });
    }

    /// Search requests served so far.
    pub fn searches(&self) -> usize {
        self.state.lock().unwrap().searches
    }

    /// Requests served so far (`path?after=...`).
    pub fn log(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }
}
