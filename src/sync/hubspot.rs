//! HubSpot first sync: every object type listed page by page into the mirror.
//!
//! Each page is written in one transaction together with its cursor (`sync_cursors`:
//! `hubspot` / `<type>:list` = the `after` token of the next page, `complete` when done), so a
//! sync stopped anywhere resumes after the last page that landed. Upserts are idempotent.
//! Incremental sync by modification date (search API) builds on these cursors next.

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
    properties: &'static [&'static str],
    associations: &'static [&'static str],
}

/// Companies first, so contacts and deals find them; tasks and notes last.
const OBJECTS: &[ObjectSpec] = &[
    ObjectSpec {
        object_type: "companies",
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

/// Lists every object type into the mirror, resuming from stored cursors. With `full`, the
/// cursors are reset first and everything is fetched again.
pub async fn sync(
    client: &HubSpotClient,
    store: &mut Store,
    full: bool,
    mut progress: impl FnMut(&Progress),
) -> Result<Summary, SyncError> {
    let started = Instant::now();
    let requests_before = client.requests();
    if full {
        store.reset_cursors(SOURCE)?;
    }
    let mapper = Mapper::default();
    let mut summary = Summary::default();
    let pipelines = client.deal_pipelines().await?;
    let mut batch = MirrorBatch::default();
    for p in pipelines.results.iter().filter(|p| !p.archived) {
        batch
            .pipelines
            .push((p.id.clone(), p.label.clone(), p.display_order));
        batch.stages.extend(mapper.stages(p));
    }
    store.apply_batch(&batch)?;
    // A run that stopped part-way is resumed: finished types are skipped and the interrupted one
    // continues from its token. Otherwise every type is listed again from the start.
    let mut cursors = Vec::new();
    for spec in OBJECTS {
        cursors.push(store.cursor(SOURCE, &format!("{}:list", spec.object_type))?);
    }
    let resuming = cursors
        .iter()
        .any(|c| c.as_deref().is_some_and(|c| c != COMPLETE));
    for (spec, cursor) in OBJECTS.iter().zip(cursors) {
        let cursor_key = format!("{}:list", spec.object_type);
        let mut after = match cursor.as_deref() {
            Some(COMPLETE) if resuming => continue,
            Some(COMPLETE) | None => None,
            Some(token) => Some(token.to_string()),
        };
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
            let mut batch = MirrorBatch::default();
            for o in page.results.iter().filter(|o| !o.archived) {
                match spec.object_type {
                    "companies" => batch.companies.push((mapper.company(o), raw(o))),
                    "contacts" => batch.contacts.push((mapper.contact(o), raw(o))),
                    "deals" => batch.deals.push((mapper.deal(o), raw(o))),
                    "tasks" => batch.tasks.push((mapper.task(o), raw(o))),
                    _ => batch.notes.push((mapper.note(o), raw(o))),
                }
            }
            let next = page.paging.and_then(|p| p.next).map(|n| n.after);
            let stored = next.as_deref().unwrap_or(COMPLETE);
            store.apply_page(&batch, Some((SOURCE, &cursor_key, stored)))?;
            p.fetched += page.results.len() as u64;
            p.pages += 1;
            summary.fetched += page.results.len() as u64;
            progress(&p);
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
    }
    summary.requests = client.requests() - requests_before;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}
