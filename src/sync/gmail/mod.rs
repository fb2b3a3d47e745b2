//! Gmail sync: a full listing of the mirrored window, then incremental syncs from the history.
//!
//! **Listing** (first sync, `--full`, or when the history has expired): `getProfile` gives the
//! history id to continue from; `messages.list` pages through `[google] first_sync_query`
//! (default `newer_than:180d`, 500 ids a page), and each page's ids land as *pending* with the
//! token of the next page. Then the pending messages are fetched with `format=full` — whole
//! MIME trees, so bodies are readable offline and a reply can be drafted on a plane — a few at
//! a time (`concurrency`), thread by thread: a thread with two or more pending messages in one
//! `threads.get` (10 units; its older messages come along), a lone message with `messages.get`
//! (5 units). That is the fewest quota units that fetch every listed message, also for threads
//! spread over several list pages. Each round of threads lands in one transaction that also
//! settles their pending rows, so a stopped listing resumes where it stopped and fetches
//! nothing twice. Each listing has a number; when it completes, messages it did not refresh
//! (deleted in Gmail meanwhile, or out of the window) are removed and the history id from its
//! start becomes the incremental cursor.
//!
//! **Incremental**: `history.list` from the stored history id (messages added and deleted,
//! labels added and removed; 2 units a page). Only added messages are fetched; deletions and
//! label changes are applied to the mirror directly. The new history id is stored only after
//! the last page and every change of it are in. A 404 (history older than Gmail keeps) starts
//! one full listing in the same run — never a loop: the listing ends with a fresh history id.
//!
//! **Drafts** are listed during a listing (so the messages behind them are not fetched as
//! mail), when the history shows a draft changed, and at least daily; only drafts whose message
//! changed are fetched. A draft the operator edited here keeps the edit while Gmail still has
//! it, and leaves with it when it was sent or deleted in Gmail. New inbound messages answering
//! the operator are replies: they are counted here; the outcome pass after the sync records
//! them for the moves executed on their thread (a reply after our send, within the window).
//!
//! A message Gmail cannot describe (an answer that does not parse) is skipped, counted and
//! logged rather than holding every later sync back; the next full listing tries it again.

mod changes;

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use futures::{StreamExt, TryStreamExt};

pub use changes::Changes;

use crate::connectors::gmail::client::{Format, GmailClient, GmailError};
use crate::connectors::gmail::map::{Mapper, classify};
use crate::connectors::gmail::wire::{Message as WireMessage, MessageRef};
use crate::domain::entities::MessageRecord;
use crate::store::{MirrorBatch, Store, StoreError};

/// Source name in `sync_cursors`.
pub const SOURCE: &str = "gmail";
/// Cursor: the history id incremental syncs start from.
const HISTORY: &str = "history";
/// Cursor: the page token of the listing's next page (`""` = its first), `listed`, or
/// `complete`.
const LIST: &str = "list";
/// Cursor: the number of the current (or last) listing.
const LISTING: &str = "listing";
/// Cursor: the history id taken when the current listing began.
const LIST_HISTORY: &str = "list:history";
/// Cursor: when drafts were last listed (ms), or `due` when a change asks for a listing.
const DRAFTS: &str = "drafts";
const DUE: &str = "due";
const COMPLETE: &str = "complete";
/// `list` cursor once every id is listed and what is pending is being fetched.
const LISTED: &str = "listed";
/// Threads fetched per transaction during a listing.
const FETCH_THREADS: usize = 25;
/// Messages written per transaction when applying history.
const WRITE_CHUNK: usize = 200;
/// Hours between draft listings when the history shows no draft change.
const DRAFTS_EVERY_HOURS: i64 = 24;

/// Why a sync stopped. Everything stored before stays stored.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Gmail or the network failed.
    #[error(transparent)]
    Gmail(#[from] GmailError),
    /// The mirror could not be written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another Gmail sync is running on this mirror.
    #[error(transparent)]
    Busy(#[from] super::Busy),
}

/// How to sync; [`SyncOptions::from_config`] reads `[google]`.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// List the window again instead of reading the history.
    pub full: bool,
    /// Gmail search query of the mirrored window.
    pub query: String,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Keep only threads with an address known in HubSpot.
    pub only_known_contacts: bool,
    /// Ids per `messages.list` page (at most 500).
    pub page_size: u32,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            full: false,
            query: "newer_than:180d".into(),
            concurrency: 8,
            only_known_contacts: false,
            page_size: 500,
        }
    }
}

impl SyncOptions {
    /// Options from configuration.
    pub fn from_config(c: &crate::config::Google, full: bool) -> SyncOptions {
        SyncOptions {
            full,
            query: c.first_sync_query.clone(),
            concurrency: c.concurrency.max(1) as usize,
            only_known_contacts: c.only_known_contacts,
            ..SyncOptions::default()
        }
    }
}

/// What a sync is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Listing the window and fetching its messages.
    Listing,
    /// Reading the history.
    History,
    /// Fetching what the history added.
    Fetching,
    /// Listing drafts.
    Drafts,
}

/// Progress reported after each page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// What is being done.
    pub phase: Phase,
    /// Messages (or history records, or drafts) done in this phase.
    pub done: u64,
    /// Pages read in this phase.
    pub pages: u64,
    /// How many there are, when Gmail says (its listing estimate).
    pub total: Option<u64>,
}

impl Progress {
    fn new(phase: Phase) -> Progress {
        Progress {
            phase,
            done: 0,
            pages: 0,
            total: None,
        }
    }

    fn noun(&self) -> &'static str {
        match self.phase {
            Phase::Listing | Phase::Fetching => "messages",
            Phase::History => "changes",
            Phase::Drafts => "drafts",
        }
    }

    /// One line for a terminal: what, how far, and a bar when the total is known.
    pub fn describe(&self) -> String {
        let phase = match self.phase {
            Phase::Listing => "listing",
            Phase::History => "history",
            Phase::Fetching => "fetching",
            Phase::Drafts => "drafts",
        };
        let head = format!("gmail   {phase:<9}");
        match self.total {
            Some(total) if total > 0 => format!(
                "{head} {} {} · {} pages",
                super::bar(self.done, total),
                self.noun(),
                self.pages
            ),
            _ => format!("{head} {} {} · {} pages", self.done, self.noun(), self.pages),
        }
    }

    /// A few words for the TUI header: `gmail messages 1200`.
    pub fn short(&self) -> String {
        format!("gmail {} {}", self.noun(), self.done)
    }
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Messages fetched and stored.
    pub fetched: u64,
    /// Messages removed (deleted in Gmail, or out of the window after a listing).
    pub deleted: u64,
    /// Messages whose labels changed without fetching them.
    pub relabelled: u64,
    /// Drafts fetched or removed.
    pub drafts: u64,
    /// New replies to the operator.
    pub replies: u64,
    /// Messages that could not be mirrored (no sender, no date), with reasons in the log.
    pub skipped: u64,
    /// The history had expired, so the window was listed again.
    pub resynced: bool,
    /// HTTP requests sent (retries included).
    pub requests: u64,
    /// Quota units spent.
    pub units: u64,
    /// Wall time.
    pub seconds: f64,
}

impl Summary {
    /// The closing line of a sync.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "gmail: {} fetched, {} deleted, {} relabelled, {} drafts",
            self.fetched, self.deleted, self.relabelled, self.drafts
        );
        if self.replies > 0 {
            s.push_str(&format!(
                ", {} new repl{}",
                self.replies,
                if self.replies == 1 { "y" } else { "ies" }
            ));
        }
        if self.skipped > 0 {
            s.push_str(&format!(", {} unreadable (see the log)", self.skipped));
        }
        s.push_str(&format!(
            " · {} requests · {} quota units · {:.1} s",
            self.requests, self.units, self.seconds
        ));
        if self.resynced {
            s.push_str(" · history had expired: listed the window again");
        }
        s
    }
}

/// Per-run state: the client, options, mapper and counters.
struct Run<'a> {
    client: &'a GmailClient,
    options: &'a SyncOptions,
    mapper: Mapper,
    now: chrono::DateTime<chrono::Utc>,
    /// Count replies (not on the very first listing, where every old reply would be "new").
    track_replies: bool,
    summary: Summary,
}

fn cursor_i64(store: &Store, key: &str) -> Result<Option<i64>, SyncError> {
    Ok(store.cursor(SOURCE, key)?.and_then(|c| c.parse().ok()))
}

/// Brings the mirror up to date with Gmail: resumes or starts a listing, or reads the history
/// since the last sync (listing again, once, if it has expired); then drafts and replies.
/// With `options.full`, the window is listed again.
///
/// Telemetry of every request is written as it goes, also when the sync fails. How the run
/// ended is recorded for `casey doctor` ([`Store::last_sync`]); a run refused because another
/// sync holds the mirror changes nothing and is not recorded.
pub async fn sync(
    client: &GmailClient,
    store: &mut Store,
    options: &SyncOptions,
    now: chrono::DateTime<chrono::Utc>,
    progress: impl FnMut(&Progress),
) -> Result<Summary, SyncError> {
    let _lock = super::SyncLock::take(store, "Gmail", SOURCE)?;
    let result = sync_locked(client, store, options, now, progress).await;
    super::record_outcome(store, SOURCE, now, &result);
    result
}

async fn sync_locked(
    client: &GmailClient,
    store: &mut Store,
    options: &SyncOptions,
    now: chrono::DateTime<chrono::Utc>,
    mut progress: impl FnMut(&Progress),
) -> Result<Summary, SyncError> {
    let started = Instant::now();
    let (requests, units) = (client.requests(), client.units());
    let mut run = Run {
        client,
        options,
        mapper: Mapper {
            operator_email: store.setting("operator_email")?.unwrap_or_default(),
            shift: chrono::Duration::zero(),
        },
        now,
        track_replies: store.cursor(SOURCE, HISTORY)?.is_some(),
        summary: Summary::default(),
    };
    let result = run_all(&mut run, store, &mut progress).await;
    let flushed = super::record_requests(store, SOURCE, &client.take_events(), now);
    result?;
    flushed?;
    super::prune_requests(store, now)?;
    let mut summary = run.summary;
    summary.requests = client.requests() - requests;
    summary.units = client.units() - units;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

async fn run_all(
    run: &mut Run<'_>,
    store: &mut Store,
    progress: &mut impl FnMut(&Progress),
) -> Result<(), SyncError> {
    if run.options.full {
        begin_listing(run, store).await?;
    }
    let list = store.cursor(SOURCE, LIST)?;
    let history = store.cursor(SOURCE, HISTORY)?;
    match (list.as_deref(), history) {
        (Some(COMPLETE), Some(h)) => match incremental(run, store, &h, progress).await {
            Err(SyncError::Gmail(GmailError::HistoryGone)) => {
                tracing::warn!("Gmail history since {h} has expired; listing the window again");
                run.summary.resynced = true;
                begin_listing(run, store).await?;
                listing(run, store, progress).await?;
            }
            other => other?,
        },
        (Some(token), _)
            if token != COMPLETE && store.cursor(SOURCE, LIST_HISTORY)?.is_some_and(|h| !h.is_empty()) =>
        {
            listing(run, store, progress).await?;
        }
        _ => {
            begin_listing(run, store).await?;
            listing(run, store, progress).await?;
        }
    }
    // `due` (or no cursor) parses as no time: list them.
    let drafts_at = cursor_i64(store, DRAFTS)?;
    if drafts_at.is_none_or(|at| run.now.timestamp_millis() - at >= DRAFTS_EVERY_HOURS * 3600 * 1000) {
        drafts(run, store, progress).await?;
    }
    Ok(())
}

/// Starts a listing: takes the profile (the history id to continue from, and the operator's
/// address) and numbers the listing.
async fn begin_listing(run: &mut Run<'_>, store: &mut Store) -> Result<(), SyncError> {
    let profile = run.client.profile().await?;
    let address = profile.email_address.trim().to_ascii_lowercase();
    if !address.is_empty() {
        store.set_setting("operator_email", &address)?;
        run.mapper.operator_email = address;
    }
    let number = cursor_i64(store, LISTING)?.unwrap_or(0) + 1;
    store.start_listing(&[
        (SOURCE, LIST, ""),
        (SOURCE, LISTING, &number.to_string()),
        (SOURCE, LIST_HISTORY, &profile.history_id),
    ])?;
    Ok(())
}

/// Lists the window from the stored page token to the end (noting the ids to fetch), then
/// fetches what is pending, a few threads at a time, and closes the listing.
async fn listing(
    run: &mut Run<'_>,
    store: &mut Store,
    progress: &mut impl FnMut(&Progress),
) -> Result<(), SyncError> {
    let number = cursor_i64(store, LISTING)?.unwrap_or(1);
    let start_history = store.cursor(SOURCE, LIST_HISTORY)?.unwrap_or_default();
    let token = store.cursor(SOURCE, LIST)?.unwrap_or_default();
    if token != LISTED {
        let from = Some(token).filter(|t| !t.is_empty());
        list_ids(run, store, number, from, progress).await?;
        // The drafts now: their messages need not be fetched as mail.
        let draft_messages: Vec<String> = drafts(run, store, progress).await?.into_iter().collect();
        store.drop_pending(&draft_messages)?;
    }
    let mut p = Progress::new(Phase::Fetching);
    p.total = Some(store.pending_count()?);
    loop {
        let pending = store.pending_threads(FETCH_THREADS)?;
        if pending.is_empty() {
            break;
        }
        let mut threads: Vec<String> = pending.iter().map(|(_, t)| t.clone()).collect();
        threads.dedup();
        let refs: Vec<MessageRef> = pending
            .iter()
            .map(|(id, thread)| MessageRef {
                id: id.clone(),
                thread_id: Some(thread.clone()),
                label_ids: None,
            })
            .collect();
        let fetched = fetch(run, &refs).await?;
        write(run, store, fetched, Some(number), threads, &[])?;
        p.done += pending.len() as u64;
        p.pages += 1;
        progress(&p);
    }
    let removed = store.remove_messages_before_listing(
        number,
        &[(SOURCE, LIST, COMPLETE), (SOURCE, HISTORY, &start_history)],
    )?;
    if removed > 0 {
        tracing::info!(
            removed,
            "messages gone from Gmail or out of the window removed from the mirror"
        );
    }
    run.summary.deleted += removed as u64;
    Ok(())
}

/// Pages through `messages.list` from `token`, noting every id this listing has not fetched
/// yet as pending, each page with the token of the next.
async fn list_ids(
    run: &mut Run<'_>,
    store: &mut Store,
    number: i64,
    mut token: Option<String>,
    progress: &mut impl FnMut(&Progress),
) -> Result<(), SyncError> {
    let mut p = Progress::new(Phase::Listing);
    let mut restarted = false;
    loop {
        let page = match run
            .client
            .list_messages(&run.options.query, token.as_deref(), run.options.page_size)
            .await
        {
            Ok(page) => page,
            // A stored page token Gmail no longer knows: list from the start (what this
            // listing fetched already is not fetched again).
            Err(GmailError::Status { status: 400, .. }) if token.is_some() && !restarted => {
                tracing::warn!("Gmail refused the stored page token; listing from the start");
                restarted = true;
                token = None;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let ids: Vec<String> = page.messages.iter().map(|m| m.id.clone()).collect();
        let done = store.messages_in_listing(&ids, number)?;
        let refs: Vec<(String, String)> = page
            .messages
            .iter()
            .filter(|m| !done.contains(&m.id))
            .map(|m| (m.id.clone(), m.thread_id.clone().unwrap_or_else(|| m.id.clone())))
            .collect();
        let next = page.next_page_token.clone();
        // With the last page, the drafts fall due (in the same write, so a run stopped before
        // they are listed still lists them next time).
        let mut cursors = vec![(SOURCE, LIST, next.as_deref().unwrap_or(LISTED))];
        if next.is_none() {
            cursors.push((SOURCE, DRAFTS, DUE));
        }
        store.add_pending(&refs, &cursors)?;
        p.done += page.messages.len() as u64;
        p.pages += 1;
        p.total = page.result_size_estimate.map(|t| t.max(p.done));
        progress(&p);
        match next {
            Some(n) => token = Some(n),
            None => return Ok(()),
        }
    }
}

/// Reads the history since `start` and applies it.
async fn incremental(
    run: &mut Run<'_>,
    store: &mut Store,
    start: &str,
    progress: &mut impl FnMut(&Progress),
) -> Result<(), SyncError> {
    let mut changes = Changes::default();
    let mut token: Option<String> = None;
    let mut latest = start.to_string();
    let mut p = Progress::new(Phase::History);
    loop {
        let page = run.client.history(start, token.as_deref()).await?;
        changes.absorb(&page.history);
        if let Some(h) = page.history_id {
            latest = h;
        }
        p.done = changes.records as u64;
        p.pages += 1;
        progress(&p);
        match page.next_page_token {
            Some(t) if token.as_deref() != Some(t.as_str()) => token = Some(t),
            _ => break,
        }
    }
    // Deleted draft messages carry no labels in some records: the drafts table knows them.
    let draft_messages: HashSet<String> = store
        .draft_states()?
        .into_values()
        .filter_map(|(_, message)| message)
        .collect();
    if changes.deleted.iter().any(|id| draft_messages.contains(id)) {
        changes.drafts_touched = true;
    }
    // Deleted, or moved to spam or trash: out of the mirror.
    let hidden = changes.hidden();
    let mut gone: Vec<String> = changes.deleted.iter().cloned().collect();
    gone.extend(hidden.iter().cloned());
    run.summary.deleted += store.remove_messages(&gone)? as u64;
    // Added messages already mirrored were fetched by a run that stopped half-way.
    let added_ids: Vec<String> = changes.added.iter().map(|m| m.id.clone()).collect();
    let present = store.messages_present(&added_ids)?;
    let todo: Vec<MessageRef> = changes
        .added
        .iter()
        .filter(|m| !present.contains(&m.id) && !hidden.contains(&m.id))
        .cloned()
        .collect();
    let mut f = Progress::new(Phase::Fetching);
    f.total = Some(todo.len() as u64);
    let number = cursor_i64(store, LISTING)?;
    // About WRITE_CHUNK messages per transaction, never splitting a thread (which would fetch
    // it twice).
    let mut chunk: Vec<MessageRef> = Vec::new();
    let mut groups = by_thread(&todo).into_iter().peekable();
    while let Some(group) = groups.next() {
        chunk.extend(group);
        if chunk.len() < WRITE_CHUNK && groups.peek().is_some() {
            continue;
        }
        let fetched = fetch(run, &chunk).await?;
        write(run, store, fetched, number, Vec::new(), &[])?;
        f.done += chunk.len() as u64;
        f.pages += 1;
        progress(&f);
        chunk.clear();
    }
    // Label changes on messages that were not fetched anew.
    let fetched: HashSet<&str> = todo.iter().map(|m| m.id.as_str()).collect();
    let relabel: Vec<String> = changes
        .labels
        .keys()
        .filter(|id| !fetched.contains(id.as_str()) && !hidden.contains(id))
        .cloned()
        .collect();
    let mut updates = Vec::new();
    for (id, state) in store.label_states(&relabel)? {
        let Some(labels) = changes.relabel(&id, &state.labels) else {
            continue;
        };
        if labels == state.labels {
            continue;
        }
        let (outbound, automated) = classify(
            &labels,
            &state.from_email,
            &run.mapper.operator_email,
            state.automated_sender,
        );
        updates.push((id, labels, outbound, automated));
    }
    updates.sort();
    run.summary.relabelled += updates.len() as u64;
    // The new history id only now that every change of it is in (with the drafts marked due
    // if it touched any, so a run stopped before listing them still lists them next time).
    let mut cursors = vec![(SOURCE, HISTORY, latest.as_str())];
    if changes.drafts_touched {
        cursors.push((SOURCE, DRAFTS, DUE));
    }
    store.update_labels(&updates, &cursors)?;
    Ok(())
}

/// What to fetch for a group of ids.
enum Job {
    Thread(String),
    Message(String),
}

/// Groups message refs by thread, in the order their threads first appear (a ref without a
/// thread id is a group of its own).
fn by_thread(refs: &[MessageRef]) -> Vec<Vec<MessageRef>> {
    let mut groups: Vec<Vec<MessageRef>> = Vec::new();
    let mut at: HashMap<&str, usize> = HashMap::new();
    for r in refs {
        match r.thread_id.as_deref().and_then(|t| at.get(t)) {
            Some(&i) => groups[i].push(r.clone()),
            None => {
                if let Some(t) = r.thread_id.as_deref() {
                    at.insert(t, groups.len());
                }
                groups.push(vec![r.clone()]);
            }
        }
    }
    groups
}

/// Fetches messages with `format=full`, `concurrency` requests at a time: threads with two or
/// more of the ids in one `threads.get`, lone messages with `messages.get`. Messages deleted
/// meanwhile (404) are left out; an answer that does not parse is skipped (counted, logged),
/// so one broken message cannot hold the sync back for good.
async fn fetch(run: &mut Run<'_>, refs: &[MessageRef]) -> Result<Vec<WireMessage>, SyncError> {
    let jobs: Vec<Job> = by_thread(refs)
        .into_iter()
        .filter_map(
            |mut group| match group.first().and_then(|r| r.thread_id.clone()) {
                Some(t) if group.len() >= 2 => Some(Job::Thread(t)),
                _ => group.pop().map(|r| Job::Message(r.id)),
            },
        )
        .collect();
    let client = run.client;
    let results: Vec<Result<Vec<WireMessage>, GmailError>> = futures::stream::iter(jobs)
        .map(|job| async move {
            match job {
                Job::Thread(t) => client
                    .thread(&t)
                    .await
                    .map(|t| t.map(|t| t.messages).unwrap_or_default()),
                Job::Message(id) => client
                    .message(&id, Format::Full)
                    .await
                    .map(|m| m.into_iter().collect()),
            }
        })
        .buffered(run.options.concurrency.max(1))
        .collect()
        .await;
    let mut out = Vec::new();
    for r in results {
        match r {
            Ok(messages) => out.extend(messages),
            Err(e @ GmailError::Malformed { .. }) => {
                tracing::warn!("skipped: {e}");
                run.summary.skipped += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

/// Maps and stores fetched messages with the cursors, in one transaction; counts them and
/// notes new replies. Drafts (mirrored from the drafts list instead), spam and trash are left
/// out; with `only_known_contacts`, so are threads without a known address that the mirror does
/// not hold yet.
fn write(
    run: &mut Run<'_>,
    store: &mut Store,
    fetched: Vec<WireMessage>,
    listing: Option<i64>,
    settled_threads: Vec<String>,
    cursors: &[(&str, &str, &str)],
) -> Result<(), SyncError> {
    let mut records: Vec<MessageRecord> = Vec::with_capacity(fetched.len());
    let shown = |m: &&WireMessage| !m.label_ids.iter().any(|l| changes::HIDDEN.contains(&l.as_str()));
    for m in fetched.iter().filter(shown) {
        match run.mapper.message(m, &m.id) {
            Ok(r) => records.push(r),
            Err(e) => {
                tracing::warn!("Gmail message not mirrored: {e}");
                run.summary.skipped += 1;
            }
        }
    }
    if run.options.only_known_contacts {
        let known = store.contact_emails()?;
        let threads: Vec<String> = records.iter().map(|r| r.message.thread_id.clone()).collect();
        let mut keep = store.threads_present(&threads)?;
        keep.extend(
            records
                .iter()
                .filter(|r| {
                    let m = &r.message;
                    std::iter::once(&m.from)
                        .chain(&m.to)
                        .chain(&m.cc)
                        .any(|a| known.contains(&a.email))
                })
                .map(|r| r.message.thread_id.clone()),
        );
        records.retain(|r| keep.contains(&r.message.thread_id));
    }
    records.sort_by(|a, b| a.message.id.cmp(&b.message.id));
    records.dedup_by(|a, b| a.message.id == b.message.id);
    let ids: Vec<String> = records.iter().map(|r| r.message.id.clone()).collect();
    let present = if run.track_replies {
        store.messages_present(&ids)?
    } else {
        HashSet::new()
    };
    // A thread fetched whole brings messages this listing already has: not counted again.
    let again = match listing {
        Some(n) => store.messages_in_listing(&ids, n)?.len(),
        None => 0,
    };
    run.summary.fetched += (records.len() - again) as u64;
    let batch = MirrorBatch {
        messages: records,
        listing,
        settled_threads,
        ..MirrorBatch::default()
    };
    store.apply_page(&batch, cursors)?;
    if run.track_replies {
        // Outcomes are recorded once per move, so replies written by a run that stopped before
        // recording them are recorded now; only new ones count as new replies.
        let replies = store.replies_among(&ids)?;
        run.summary.replies += replies
            .iter()
            .filter(|r| !present.contains(&r.message_id))
            .count() as u64;
        // Outcomes (a reply after our send, within the window) are recorded by the outcome
        // pass that follows every sync (`today::record_outcomes`), which checks both.
    }
    Ok(())
}

/// Mirrors the drafts: fetches those whose message changed, and removes those gone from
/// Gmail (sent or deleted there; also when the operator edited them here, since approving
/// one would send it again). A draft edited here and still in Gmail keeps the edit. Fetches,
/// removals and the cursor land in one transaction. Returns the message ids behind Gmail's
/// drafts.
async fn drafts(
    run: &mut Run<'_>,
    store: &mut Store,
    progress: &mut impl FnMut(&Progress),
) -> Result<HashSet<String>, SyncError> {
    let known = store.draft_states()?;
    let mut listed: Vec<(String, String)> = Vec::new();
    let mut token: Option<String> = None;
    let mut p = Progress::new(Phase::Drafts);
    loop {
        let page = run.client.list_drafts(token.as_deref()).await?;
        listed.extend(page.drafts.into_iter().map(|d| (d.id, d.message.id)));
        p.pages += 1;
        match page.next_page_token {
            Some(t) if token.as_deref() != Some(t.as_str()) => token = Some(t),
            _ => break,
        }
    }
    let todo: Vec<String> = listed
        .iter()
        .filter(|(id, message)| match known.get(id) {
            Some((true, _)) => false,
            Some((false, Some(m))) => m != message,
            _ => true,
        })
        .map(|(id, _)| id.clone())
        .collect();
    let client = run.client;
    let fetched: Vec<(String, Option<crate::connectors::gmail::wire::Draft>)> = futures::stream::iter(todo)
        .map(|id| async move { client.draft(&id).await.map(|d| (id, d)) })
        .buffered(run.options.concurrency.max(1))
        .try_collect()
        .await?;
    let mut batch = MirrorBatch::default();
    let mut vanished: HashSet<String> = HashSet::new();
    for (id, d) in fetched {
        let Some(d) = d else {
            // Listed a moment ago, gone now: sent or deleted meanwhile.
            vanished.insert(id);
            continue;
        };
        match run.mapper.draft(&d) {
            Ok(draft) => batch.drafts.push((draft, Some(d.message.id.clone()))),
            Err(e) => {
                tracing::warn!("Gmail draft not mirrored: {e}");
                run.summary.skipped += 1;
            }
        }
    }
    let listed_ids: HashSet<&str> = listed
        .iter()
        .map(|(id, _)| id.as_str())
        .filter(|id| !vanished.contains(*id))
        .collect();
    batch.removed_drafts = known
        .iter()
        .filter(|(id, (_, message))| message.is_some() && !listed_ids.contains(id.as_str()))
        .map(|(id, _)| id.clone())
        .collect();
    batch.removed_drafts.sort();
    let edited_gone = batch
        .removed_drafts
        .iter()
        .filter(|id| known.get(*id).is_some_and(|(edited, _)| *edited))
        .count();
    if edited_gone > 0 {
        tracing::info!(
            edited_gone,
            "drafts edited here were sent or deleted in Gmail; removed"
        );
    }
    run.summary.drafts += (batch.drafts.len() + batch.removed_drafts.len()) as u64;
    let now_ms = run.now.timestamp_millis().to_string();
    store.apply_page(&batch, &[(SOURCE, DRAFTS, &now_ms)])?;
    p.done = listed.len() as u64;
    progress(&p);
    Ok(listed
        .into_iter()
        .filter(|(id, _)| !vanished.contains(id))
        .map(|(_, message)| message)
        .collect())
}
