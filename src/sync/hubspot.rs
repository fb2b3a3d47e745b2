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
//! * `pipelines` — when the pipelines and owners were last fetched (at most daily);
//! * `<type>:deletions` — when records deleted or archived in HubSpot were last looked for.
//!
//! Search results carry no associations, so each changed page is followed by a v4 batch read
//! of its associations, and the page lands with them in one transaction. Deletions and
//! archives never show up in a search: every `deletion_check_hours` the ids of each type are
//! listed and whatever the mirror holds beyond them is removed (with its moves).
//!
//! Incremental search walks `modified >= cursor` in ascending order. The search API
//! stops at 10,000 results per query, so a query that reaches the cap restarts from the last
//! timestamp it saw; when more than a window's worth of records share one timestamp, those are
//! walked by `hs_object_id` instead. Every restart moves strictly forward: no loop, no gap.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use crate::config::ExtraProperties;
use crate::connectors::hubspot::client::{HubSpotClient, HubSpotError};
use crate::connectors::hubspot::map::Mapper;
use crate::connectors::hubspot::wire::{AssociationPage, AssociationRef, AssociationTo, CrmObject};
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
            "hubspot_owner_id",
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
            "hubspot_owner_id",
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
    /// Another HubSpot sync is running on this mirror.
    #[error(transparent)]
    Busy(#[from] super::Busy),
}

/// What a sync is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// First sync: listing every record.
    Listing,
    /// Incremental: searching for changes.
    Searching,
    /// Listing ids to find records deleted in HubSpot.
    CheckingDeletions,
}

/// Progress reported after each page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// Object type being synced.
    pub object_type: &'static str,
    /// What is being done to it.
    pub phase: Phase,
    /// Records of that type fetched in this run.
    pub fetched: u64,
    /// Pages of that type fetched in this run.
    pub pages: u64,
    /// Records expected, when HubSpot says (search results carry a total).
    pub total: Option<u64>,
}

impl Progress {
    fn new(object_type: &'static str, phase: Phase) -> Progress {
        Progress {
            object_type,
            phase,
            fetched: 0,
            pages: 0,
            total: None,
        }
    }

    /// One line for a terminal: what, how far, and a bar when the total is known.
    pub fn describe(&self) -> String {
        let phase = match self.phase {
            Phase::Listing => "listing",
            Phase::Searching => "changes",
            Phase::CheckingDeletions => "deletions",
        };
        let head = format!("hubspot {:<9} {phase:<9}", self.object_type);
        match self.total {
            Some(total) if total > 0 => {
                format!(
                    "{head} {} · {} pages",
                    super::bar(self.fetched, total),
                    self.pages
                )
            }
            _ => format!("{head} {} records · {} pages", self.fetched, self.pages),
        }
    }

    /// A few words for the TUI header: `hubspot contacts 1200`.
    pub fn short(&self) -> String {
        format!("hubspot {} {}", self.object_type, self.fetched)
    }
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Records fetched (all types).
    pub fetched: u64,
    /// Records that were new or differed from the mirror.
    pub changed: u64,
    /// Records removed because HubSpot deleted or archived them.
    pub deleted: u64,
    /// HTTP requests sent (retries included).
    pub requests: u64,
    /// Wall time.
    pub seconds: f64,
}

impl Summary {
    /// The closing line of a sync.
    pub fn describe(&self) -> String {
        format!(
            "hubspot: {} fetched, {} changed, {} deleted · {} requests · {:.1} s",
            self.fetched, self.changed, self.deleted, self.requests, self.seconds
        )
    }
}

/// How to sync; [`SyncOptions::from_config`] reads `[hubspot]`.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// List everything again instead of searching for changes.
    pub full: bool,
    /// Properties to mirror on top of CaseyOS's own.
    pub extra_properties: ExtraProperties,
    /// Hours between deletion checks.
    pub deletion_check_hours: u32,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            full: false,
            extra_properties: ExtraProperties::default(),
            deletion_check_hours: 24,
        }
    }
}

impl SyncOptions {
    /// Options from configuration.
    pub fn from_config(c: &crate::config::HubSpot, full: bool) -> SyncOptions {
        SyncOptions {
            full,
            extra_properties: c.extra_properties.clone(),
            deletion_check_hours: c.deletion_check_hours,
        }
    }
}

/// The vendor JSON kept with each record: everything but the associations, which live in
/// their own table (and which search results lack), so that an unchanged record serializes
/// the same whichever endpoint it came from.
fn raw(o: &CrmObject) -> String {
    let bare = CrmObject {
        associations: BTreeMap::new(),
        ..o.clone()
    };
    serde_json::to_string(&bare).unwrap_or_default()
}

/// How far before a sync's start the next one searches again: search results are eventually
/// consistent, so a record saved just before the last sync may only show up now.
pub const OVERLAP_MS: i64 = 5 * 60 * 1000;
pub use super::TELEMETRY_DAYS;
/// Results one search query can page through (HubSpot answers 400 beyond it).
const SEARCH_CAP: usize = 10_000;
const SEARCH_PAGE: usize = 200;

fn modified_ms(o: &CrmObject, prop: &str) -> Option<i64> {
    o.prop(prop)
        .and_then(crate::domain::time::parse_timestamp)
        .map(|t| t.timestamp_millis())
}

/// A cursor holding milliseconds since the epoch (`<type>:modified`, `pipelines`...).
fn ms_cursor(store: &Store, key: &str) -> Result<Option<i64>, SyncError> {
    Ok(store.cursor(SOURCE, key)?.and_then(|c| c.parse().ok()))
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

/// Per-run state shared by the passes: the client, the mapper, telemetry and counters.
struct Run<'a> {
    client: &'a HubSpotClient,
    mapper: Mapper,
    now: chrono::DateTime<chrono::Utc>,
    /// Everything modified before this was indexed by search when this sync started.
    floor: i64,
    summary: Summary,
}

impl Run<'_> {
    /// Writes the telemetry of the requests made since the last call (latency and errors).
    fn flush_telemetry(&self, store: &mut Store) -> Result<(), SyncError> {
        super::record_requests(store, SOURCE, &self.client.take_events(), self.now)?;
        Ok(())
    }

    /// Writes one page (and cursors) and counts what changed.
    fn apply(
        &mut self,
        store: &mut Store,
        batch: &MirrorBatch,
        cursors: &[(&str, &str, &str)],
    ) -> Result<(), SyncError> {
        self.summary.changed += store.apply_page(batch, cursors)? as u64;
        self.flush_telemetry(store)
    }
}

/// Brings the mirror up to date: resumes or starts the first sync of each object type,
/// searches for changes on types already listed, and looks for deletions when one is due.
/// With `options.full`, everything is listed again.
///
/// Telemetry of every request is written as it goes, also when the sync fails. How the run
/// ended is recorded for `casey doctor` ([`Store::last_sync`]); a run refused because another
/// sync holds the mirror changes nothing and is not recorded.
pub async fn sync(
    client: &HubSpotClient,
    store: &mut Store,
    options: &SyncOptions,
    now: chrono::DateTime<chrono::Utc>,
    progress: impl FnMut(&Progress),
) -> Result<Summary, SyncError> {
    let _lock = super::SyncLock::take(store, "HubSpot", SOURCE)?;
    let result = sync_locked(client, store, options, now, progress).await;
    super::record_outcome(store, SOURCE, now, &result);
    result
}

async fn sync_locked(
    client: &HubSpotClient,
    store: &mut Store,
    options: &SyncOptions,
    now: chrono::DateTime<chrono::Utc>,
    mut progress: impl FnMut(&Progress),
) -> Result<Summary, SyncError> {
    let started = Instant::now();
    let requests_before = client.requests();
    let mut run = Run {
        client,
        mapper: Mapper::default(),
        now,
        floor: now.timestamp_millis() - OVERLAP_MS,
        summary: Summary::default(),
    };
    let result = run_all(&mut run, store, options, &mut progress).await;
    // Whatever happened, the latency and errors of the requests made are kept (for a month).
    let flushed = run.flush_telemetry(store);
    result?;
    flushed?;
    super::prune_requests(store, now)?;
    let mut summary = run.summary;
    summary.requests = client.requests() - requests_before;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

async fn run_all(
    run: &mut Run<'_>,
    store: &mut Store,
    options: &SyncOptions,
    progress: &mut impl FnMut(&Progress),
) -> Result<(), SyncError> {
    if options.full {
        store.reset_cursors(SOURCE)?;
    }
    let now_ms = run.now.timestamp_millis();
    let floor = run.floor;
    let daily_due = |store: &Store, key: &str, hours: u32| -> Result<bool, SyncError> {
        Ok(ms_cursor(store, key)?.is_none_or(|at| now_ms - at >= i64::from(hours) * 3600 * 1000))
    };
    if daily_due(store, "pipelines", 24)? {
        reference_data(run, store, now_ms).await?;
    }
    for spec in OBJECTS {
        let mut properties: Vec<String> = spec.properties.iter().map(|p| p.to_string()).collect();
        for extra in options.extra_properties.of(spec.object_type) {
            if !properties.contains(extra) {
                properties.push(extra.clone());
            }
        }
        let list_key = format!("{}:list", spec.object_type);
        let pass = Pass {
            spec,
            properties: &properties,
        };
        match store.cursor(SOURCE, &list_key)?.as_deref() {
            Some(COMPLETE) => {
                let since = ms_cursor(store, &pass.key("modified"))?.unwrap_or(0);
                incremental(run, store, &pass, since, floor, progress).await?;
                if daily_due(store, &pass.key("deletions"), options.deletion_check_hours)? {
                    deletions(run, store, &pass, floor, progress).await?;
                }
            }
            token => {
                let token = token.map(str::to_string);
                list(run, store, &pass, token, floor, progress).await?;
            }
        }
    }
    Ok(())
}

/// Pipelines (with stages) and owners: small, rarely changing, fetched at most daily.
async fn reference_data(run: &mut Run<'_>, store: &mut Store, now_ms: i64) -> Result<(), SyncError> {
    let mut owners = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = run.client.owners_page(after.as_deref()).await?;
        for o in page.results {
            let name = [o.first_name.as_deref(), o.last_name.as_deref()]
                .into_iter()
                .flatten()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            owners.push((o.id, o.email, name, o.archived));
        }
        match page.paging.and_then(|p| p.next).map(|n| n.after) {
            Some(n) if after.as_deref() != Some(n.as_str()) => after = Some(n),
            _ => break,
        }
    }
    store.replace_owners(&owners)?;
    let pipelines = run.client.deal_pipelines().await?;
    let mut batch = MirrorBatch::default();
    for p in pipelines.results.iter().filter(|p| !p.archived) {
        batch
            .pipelines
            .push((p.id.clone(), p.label.clone(), p.display_order));
        batch.stages.extend(run.mapper.stages(p));
    }
    run.apply(store, &batch, &[(SOURCE, "pipelines", &now_ms.to_string())])
}

/// One object type and the properties asked for it.
struct Pass<'a> {
    spec: &'a ObjectSpec,
    properties: &'a [String],
}

impl Pass<'_> {
    fn key(&self, what: &str) -> String {
        format!("{}:{what}", self.spec.object_type)
    }

    fn batch(&self, run: &Run<'_>, results: &[CrmObject]) -> MirrorBatch {
        to_batch(self.spec, &run.mapper, results)
    }
}

/// The first sync of one type: list pages from `after` (None = the start) to the end.
async fn list(
    run: &mut Run<'_>,
    store: &mut Store,
    pass: &Pass<'_>,
    mut after: Option<String>,
    floor: i64,
    progress: &mut impl FnMut(&Progress),
) -> Result<(), SyncError> {
    let list_key = pass.key("list");
    let modified_key = pass.key("modified");
    let deletions_key = pass.key("deletions");
    // Changes made while the listing runs are caught by the first search, which starts before
    // the listing did (a resumed listing keeps the start of the first attempt).
    let start = match (&after, ms_cursor(store, &modified_key)?) {
        (Some(_), Some(earlier)) => earlier,
        _ => floor,
    };
    let start_text = start.to_string();
    let mut p = Progress::new(pass.spec.object_type, Phase::Listing);
    loop {
        let page = run
            .client
            .list_page(
                pass.spec.object_type,
                pass.properties,
                pass.spec.associations,
                after.as_deref(),
            )
            .await?;
        let next = page
            .paging
            .as_ref()
            .and_then(|p| p.next.as_ref())
            .map(|n| n.after.clone());
        let stored = next.as_deref().unwrap_or(COMPLETE).to_string();
        let mut cursors = vec![
            (SOURCE, list_key.as_str(), stored.as_str()),
            (SOURCE, &modified_key, &start_text),
        ];
        if next.is_none() {
            // A complete listing is as good as a deletion check.
            cursors.push((SOURCE, &deletions_key, &start_text));
        }
        run.apply(store, &pass.batch(run, &page.results), &cursors)?;
        p.fetched += page.results.len() as u64;
        p.pages += 1;
        run.summary.fetched += page.results.len() as u64;
        progress(&p);
        match next {
            Some(n) => after = Some(n),
            None => return Ok(()),
        }
    }
}

/// Fills in the associations of freshly searched records with v4 batch reads (100 ids each).
async fn fetch_associations(
    run: &Run<'_>,
    pass: &Pass<'_>,
    results: &mut [CrmObject],
) -> Result<(), SyncError> {
    if results.is_empty() {
        return Ok(());
    }
    for to_type in pass.spec.associations {
        let mut found: BTreeMap<String, Vec<AssociationRef>> = BTreeMap::new();
        for chunk in results.chunks(100) {
            let ids: Vec<&str> = chunk.iter().map(|o| o.id.as_str()).collect();
            let batch = run
                .client
                .associations(pass.spec.object_type, to_type, &ids)
                .await?;
            for r in batch.results {
                found
                    .entry(r.from.id)
                    .or_default()
                    .extend(
                        r.to.iter()
                            .filter_map(AssociationTo::id)
                            .map(|id| AssociationRef {
                                id,
                                kind: String::new(),
                            }),
                    );
            }
        }
        for o in results.iter_mut() {
            let refs = found.remove(&o.id).unwrap_or_default();
            o.associations.insert(
                to_type.to_string(),
                AssociationPage {
                    results: refs,
                    paging: None,
                },
            );
        }
    }
    Ok(())
}

/// One search query paged to its end or to the 10,000-result cap; returns whether it hit the
/// cap and the last record's (modified, id).
///
/// Results come in ascending modification order, so each page moves the type's cursor up to
/// its last timestamp in the same transaction (never past the floor, never below `since`): a
/// sync stopped mid-way resumes from the last page that landed, not from the start.
async fn search_window(
    run: &mut Run<'_>,
    store: &mut Store,
    pass: &Pass<'_>,
    (filters, sort_by, since): (serde_json::Value, &str, i64),
    p: &mut Progress,
    progress: &mut impl FnMut(&Progress),
) -> Result<(bool, Option<(i64, i64)>), SyncError> {
    let spec = pass.spec;
    let mut after: Option<String> = None;
    let mut seen = 0usize;
    let mut last = None;
    loop {
        let mut body = serde_json::json!({
            "filterGroups": [{ "filters": filters }],
            "sorts": [{ "propertyName": sort_by, "direction": "ASCENDING" }],
            "properties": pass.properties,
            "limit": SEARCH_PAGE,
        });
        if let Some(a) = &after {
            body["after"] = serde_json::Value::String(a.clone());
        }
        let mut page = run.client.search_page(spec.object_type, &body).await?;
        // Search results carry no associations: read them, so the page lands complete.
        fetch_associations(run, pass, &mut page.results).await?;
        if let Some(o) = page.results.last() {
            last = Some((modified_ms(o, spec.modified).unwrap_or(0), object_id(o)));
        }
        let resume = last
            .map_or(since, |(t, _)| t.min(run.floor).max(since))
            .to_string();
        run.apply(
            store,
            &pass.batch(run, &page.results),
            &[(SOURCE, &pass.key("modified"), &resume)],
        )?;
        seen += page.results.len();
        p.fetched += page.results.len() as u64;
        p.pages += 1;
        p.total = page.total.map(|t| t.min(SEARCH_CAP as u64));
        run.summary.fetched += page.results.len() as u64;
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
    run: &mut Run<'_>,
    store: &mut Store,
    pass: &Pass<'_>,
    since: i64,
    floor: i64,
    progress: &mut impl FnMut(&Progress),
) -> Result<(), SyncError> {
    let spec = pass.spec;
    let modified_key = pass.key("modified");
    let mut p = Progress::new(spec.object_type, Phase::Searching);
    let mut lower = since.max(0);
    loop {
        // Everything below `lower` is fetched: a run stopped from here on resumes at it.
        run.apply(
            store,
            &MirrorBatch::default(),
            &[(SOURCE, &modified_key, &lower.min(floor).max(since).to_string())],
        )?;
        let filters = serde_json::json!([{ "propertyName": spec.modified, "operator": "GTE", "value": lower.to_string() }]);
        let (capped, last) = search_window(
            run,
            store,
            pass,
            (filters, spec.modified, since),
            &mut p,
            progress,
        )
        .await?;
        let Some((t, _)) = last.filter(|_| capped) else {
            run.apply(
                store,
                &MirrorBatch::default(),
                &[(SOURCE, &modified_key, &floor.max(since).to_string())],
            )?;
            return Ok(());
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
                run,
                store,
                pass,
                (filters, "hs_object_id", since),
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

/// Finds records deleted or archived in HubSpot: lists every id of the type (no properties,
/// 100 per page) and removes what the mirror holds beyond them. Nothing is removed unless
/// the listing reached its end; records modified after the check began are kept.
async fn deletions(
    run: &mut Run<'_>,
    store: &mut Store,
    pass: &Pass<'_>,
    floor: i64,
    progress: &mut impl FnMut(&Progress),
) -> Result<(), SyncError> {
    let spec = pass.spec;
    let mut present = HashSet::new();
    let mut after: Option<String> = None;
    let mut p = Progress::new(spec.object_type, Phase::CheckingDeletions);
    loop {
        let page = run
            .client
            .list_page(
                spec.object_type,
                &["hs_object_id".to_string()],
                &[],
                after.as_deref(),
            )
            .await?;
        present.extend(page.results.into_iter().filter(|o| !o.archived).map(|o| o.id));
        p.pages += 1;
        p.fetched = present.len() as u64;
        progress(&p);
        match page.paging.and_then(|p| p.next).map(|n| n.after) {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    let before = chrono::DateTime::from_timestamp_millis(floor).unwrap_or(run.now);
    let gone = store.remove_missing(spec.object_type, &present, before)?;
    if !gone.is_empty() {
        tracing::info!(
            object_type = spec.object_type,
            removed = gone.len(),
            "records deleted in HubSpot removed from the mirror"
        );
    }
    run.summary.deleted += gone.len() as u64;
    run.apply(
        store,
        &MirrorBatch::default(),
        &[(
            SOURCE,
            &pass.key("deletions"),
            &run.now.timestamp_millis().to_string(),
        )],
    )
}
