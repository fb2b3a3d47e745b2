//! HubSpot sync: a first sync that lists every object type, then incremental syncs that search
//! for what changed since.
//!
//! Cursors (`sync_cursors`, source `hubspot`), each written in the same transaction as the page
//! it describes, so a sync stopped anywhere resumes after the last page that landed and never
//! leaves half a page:
//! * `<type>:list` — the `after` token of the next list page, `complete` once listed;
//! * `<type>:modified` — where the next search starts (ms since the epoch): the wall-clock time
//!   of the last complete pass minus an overlap, because search is eventually consistent — a
//!   record saved just before a sync may be indexed only after it;
//! * `pipelines` — when the pipelines were last fetched (they are fetched at most daily).
//!
//! Incremental search walks `modified >= cursor` in ascending order. The search API
//! stops at 10,000 results per query, so a query that reaches the cap restarts from the last
//! timestamp it saw; when more than a window's worth of records share one timestamp, those are
//! walked by `hs_object_id` instead. Every restart moves strictly forward: no loop, no gap.

use std::time::Instant;

use crate::connectors::hubspot::client::{HubSpotClient, HubSpotError};
use crate::connectors::hubspot::map::Mapper;
use crate::connectors::hubspot::wire::CrmObject;
use crate::store::{MirrorBatch, Store, StoreError};

/// Source name in `sync_cursors`.
pub const SOURCE: &str = "hubspot";
const COMPLETE: &str = "complete";

/// One object type to mirror: its properties and associations.
struct ObjectSpec {
    object_type: &'static str,
    /// The modification-time property the search API filters on.
    modified: &'static str,
    properties: &'static [&'static str],
    associations: &'static [&'static str],
}

/// Companies first, so contacts and deals find them; tasks and notes last.
const OBJECTS: &[ObjectSpec] = &[
    ObjectSpec {
        object_type: "companies",
        modified: "hs_lastmodifieddate",
        properties: &[
            "name",
            "domain",
            "industry",
            "numberofemployees",
            "annualrevenue",
            "lifecyclestage",
            "hs_lastmodifieddate",
        ],
        associations: &[],
    },
    ObjectSpec {
        object_type: "contacts",
        modified: "lastmodifieddate",
        properties: &[
            "email",
            "firstname",
            "lastname",
            "company",
            "jobtitle",
            "lifecyclestage",
            "createdate",
            "lastmodifieddate",
            "recent_conversion_date",
            "recent_conversion_event_name",
        ],
        associations: &["companies"],
    },
    ObjectSpec {
        object_type: "deals",
        modified: "hs_lastmodifieddate",
        properties: &[
            "dealname",
            "amount",
            "dealstage",
            "pipeline",
            "closedate",
            "createdate",
            "hs_lastmodifieddate",
            "notes_last_updated",
            "hs_v2_date_entered_current_stage",
        ],
        associations: &["contacts", "companies"],
    },
    ObjectSpec {
        object_type: "tasks",
        modified: "hs_lastmodifieddate",
        properties: &[
            "hs_task_subject",
            "hs_task_body",
            "hs_task_status",
            "hs_task_priority",
            "hs_task_type",
            "hs_timestamp",
            "hs_lastmodifieddate",
        ],
        associations: &["contacts", "deals"],
    },
    ObjectSpec {
        object_type: "notes",
        modified: "hs_lastmodifieddate",
        properties: &["hs_note_body", "hs_timestamp", "hs_lastmodifieddate"],
        associations: &["contacts", "deals"],
    },
];

/// Why a sync stopped. Everything stored before the failing page stays stored.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// HubSpot or the network failed.
    #[error(transparent)]
    HubSpot(#[from] HubSpotError),
    /// The mirror could not be written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Progress reported after each page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// Object type being synced.
    pub object_type: &'static str,
    /// Records of that type fetched in this run.
    pub fetched: u64,
    /// Pages of that type fetched in this run.
    pub pages: u64,
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Records fetched (all types).
    pub fetched: u64,
    /// HTTP requests sent (retries included).
    pub requests: u64,
    /// Wall time.
    pub seconds: f64,
}

fn raw(o: &CrmObject) -> String {
    serde_json::to_string(o).unwrap_or_default()
}

/// How far before a sync's start the next one searches again: search results are eventually
/// consistent, so a record saved just before the last sync may only show up now.
pub const OVERLAP_MS: i64 = 5 * 60 * 1000;
/// Results one search query can page through (HubSpot answers 400 beyond it).
const SEARCH_CAP: usize = 10_000;
const SEARCH_PAGE: usize = 200;

fn modified_ms(o: &CrmObject, prop: &str) -> Option<i64> {
    o.prop(prop)
        .and_then(crate::domain::time::parse_timestamp)
        .map(|t| t.timestamp_millis())
}

fn object_id(o: &CrmObject) -> i64 {
    o.id.parse().unwrap_or(0)
}

fn to_batch(spec: &ObjectSpec, mapper: &Mapper, results: &[CrmObject]) -> MirrorBatch {
    let mut batch = MirrorBatch::default();
    for o in results.iter().filter(|o| !o.archived) {
        match spec.object_type {
            "companies" => batch.companies.push((mapper.company(o), raw(o))),
            "contacts" => batch.contacts.push((mapper.contact(o), raw(o))),
            "deals" => batch.deals.push((mapper.deal(o), raw(o))),
            "tasks" => batch.tasks.push((mapper.task(o), raw(o))),
            _ => batch.notes.push((mapper.note(o), raw(o))),
        }
    }
    batch
}

/// Brings the mirror up to date: resumes or starts the first sync of each object type, and
/// searches for changes on types already listed. With `full`, everything is listed again.
pub async fn sync(
    client: &HubSpotClient,
    store: &mut Store,
    full: bool,
    now: chrono::DateTime<chrono::Utc>,
    mut progress: impl FnMut(&Progress),
) -> Result<Summary, SyncError> {
    let started = Instant::now();
    let requests_before = client.requests();
    if full {
        store.reset_cursors(SOURCE)?;
    }
    let mapper = Mapper::default();
    let mut summary = Summary::default();
    let now_ms = now.timestamp_millis();
    // Everything modified before this was indexed by the time this sync started.
    let floor = now_ms - OVERLAP_MS;
    let pipelines_due = store
        .cursor(SOURCE, "pipelines")?
        .and_then(|c| c.parse::<i64>().ok())
        .is_none_or(|at| now_ms - at >= 24 * 3600 * 1000);
    if pipelines_due {
        let pipelines = client.deal_pipelines().await?;
        let mut batch = MirrorBatch::default();
        for p in pipelines.results.iter().filter(|p| !p.archived) {
            batch
                .pipelines
                .push((p.id.clone(), p.label.clone(), p.display_order));
            batch.stages.extend(mapper.stages(p));
        }
        store.apply_page(&batch, &[(SOURCE, "pipelines", &now_ms.to_string())])?;
    }
    for spec in OBJECTS {
        let list_key = format!("{}:list", spec.object_type);
        let fetched = match store.cursor(SOURCE, &list_key)?.as_deref() {
            Some(COMPLETE) => {
                let since = store
                    .cursor(SOURCE, &format!("{}:modified", spec.object_type))?
                    .and_then(|c| c.parse::<i64>().ok())
                    .unwrap_or(0);
                incremental(client, store, &mapper, spec, since, floor, &mut progress).await?
            }
            token => {
                let token = token.map(str::to_string);
                list(client, store, &mapper, spec, token, floor, &mut progress).await?
            }
        };
        summary.fetched += fetched;
    }
    summary.requests = client.requests() - requests_before;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// The first sync of one type: list pages from `after` (None = the start) to the end.
async fn list(
    client: &HubSpotClient,
    store: &mut Store,
    mapper: &Mapper,
    spec: &ObjectSpec,
    mut after: Option<String>,
    floor: i64,
    progress: &mut impl FnMut(&Progress),
) -> Result<u64, SyncError> {
    let list_key = format!("{}:list", spec.object_type);
    let modified_key = format!("{}:modified", spec.object_type);
    // Changes made while the listing runs are caught by the first search, which starts before
    // the listing did (a resumed listing keeps the start of the first attempt).
    let start = match (
        &after,
        store
            .cursor(SOURCE, &modified_key)?
            .and_then(|c| c.parse::<i64>().ok()),
    ) {
        (Some(_), Some(earlier)) => earlier,
        _ => floor,
    };
    let start_text = start.to_string();
    let mut p = Progress {
        object_type: spec.object_type,
        fetched: 0,
        pages: 0,
    };
    loop {
        let page = client
            .list_page(
                spec.object_type,
                spec.properties,
                spec.associations,
                after.as_deref(),
            )
            .await?;
        let next = page
            .paging
            .as_ref()
            .and_then(|p| p.next.as_ref())
            .map(|n| n.after.clone());
        let stored = next.as_deref().unwrap_or(COMPLETE).to_string();
        store.apply_page(
            &to_batch(spec, mapper, &page.results),
            &[(SOURCE, &list_key, &stored), (SOURCE, &modified_key, &start_text)],
        )?;
        p.fetched += page.results.len() as u64;
        p.pages += 1;
        progress(&p);
        match next {
            Some(n) => after = Some(n),
            None => return Ok(p.fetched),
        }
    }
}

/// One search query paged to its end or to the 10,000-result cap; returns whether it hit the
/// cap and the last record's (modified, id).
async fn search_window(
    client: &HubSpotClient,
    store: &mut Store,
    mapper: &Mapper,
    spec: &ObjectSpec,
    (filters, sort_by): (serde_json::Value, &str),
    p: &mut Progress,
    progress: &mut impl FnMut(&Progress),
) -> Result<(bool, Option<(i64, i64)>), SyncError> {
    let mut after: Option<String> = None;
    let mut seen = 0usize;
    let mut last = None;
    loop {
        let mut body = serde_json::json!({
            "filterGroups": [{ "filters": filters }],
            "sorts": [{ "propertyName": sort_by, "direction": "ASCENDING" }],
            "properties": spec.properties,
            "limit": SEARCH_PAGE,
        });
        if let Some(a) = &after {
            body["after"] = serde_json::Value::String(a.clone());
        }
        let page = client.search_page(spec.object_type, &body).await?;
        // Search results carry no associations: the stored ones stay as they are.
        let mut batch = to_batch(spec, mapper, &page.results);
        batch.keep_associations = true;
        store.apply_page(&batch, &[])?;
        if let Some(o) = page.results.last() {
            last = Some((modified_ms(o, spec.modified).unwrap_or(0), object_id(o)));
        }
        seen += page.results.len();
        p.fetched += page.results.len() as u64;
        p.pages += 1;
        progress(p);
        match page.paging.and_then(|p| p.next).map(|n| n.after) {
            Some(_) if seen + SEARCH_PAGE > SEARCH_CAP => return Ok((true, last)),
            Some(n) => after = Some(n),
            None => return Ok((false, last)),
        }
    }
}

/// Incremental sync of one type: everything modified since `since` (minus the overlap).
async fn incremental(
    client: &HubSpotClient,
    store: &mut Store,
    mapper: &Mapper,
    spec: &ObjectSpec,
    since: i64,
    floor: i64,
    progress: &mut impl FnMut(&Progress),
) -> Result<u64, SyncError> {
    let modified_key = format!("{}:modified", spec.object_type);
    let mut p = Progress {
        object_type: spec.object_type,
        fetched: 0,
        pages: 0,
    };
    let mut lower = since.max(0);
    loop {
        // Everything below `lower` is fetched: a run stopped from here on resumes at it.
        store.apply_page(
            &MirrorBatch::default(),
            &[(SOURCE, &modified_key, &lower.min(floor).max(since).to_string())],
        )?;
        let filters = serde_json::json!([{ "propertyName": spec.modified, "operator": "GTE", "value": lower.to_string() }]);
        let (capped, last) = search_window(
            client,
            store,
            mapper,
            spec,
            (filters, spec.modified),
            &mut p,
            progress,
        )
        .await?;
        let Some((t, _)) = last.filter(|_| capped) else {
            store.apply_page(
                &MirrorBatch::default(),
                &[(SOURCE, &modified_key, &floor.max(since).to_string())],
            )?;
            return Ok(p.fetched);
        };
        if t > lower {
            // Restart from the last timestamp seen: strictly later than where this query began.
            lower = t;
            continue;
        }
        // A whole window shares one timestamp: walk all of it by object id (the order within one
        // timestamp is arbitrary, so the window above says nothing about which ids were seen),
        // then move past it.
        let mut last_id: i64 = -1;
        loop {
            let filters = serde_json::json!([
                { "propertyName": spec.modified, "operator": "EQ", "value": t.to_string() },
                { "propertyName": "hs_object_id", "operator": "GT", "value": last_id.to_string() },
            ]);
            let (capped, last) = search_window(
                client,
                store,
                mapper,
                spec,
                (filters, "hs_object_id"),
                &mut p,
                progress,
            )
            .await?;
            match last {
                Some((_, id)) if capped && id > last_id => last_id = id,
                _ => break,
            }
        }
        lower = t + 1;
    }
}
