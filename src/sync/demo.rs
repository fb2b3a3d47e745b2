//! The bundled demo data (`assets/demo`): real HubSpot v3 and Gmail v1 JSON, loaded through the
//! same wire models and mappers as live data, with dates moved so the demo is always "today".

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde::de::DeserializeOwned;

use crate::connectors::gmail::map::Mapper as GmailMapper;
use crate::connectors::gmail::wire::{Draft as WireDraft, Profile, Thread};
use crate::connectors::hubspot::map::Mapper as HubSpotMapper;
use crate::connectors::hubspot::wire::{ObjectPage, PipelineList};
use crate::store::{MirrorBatch, Store, StoreError};

/// The demo files, embedded so `casey demo` works from any directory.
pub const FILES: &[(&str, &str)] = &[
    (
        "hubspot/contacts.json",
        include_str!("../../assets/demo/hubspot/contacts.json"),
    ),
    (
        "hubspot/companies.json",
        include_str!("../../assets/demo/hubspot/companies.json"),
    ),
    (
        "hubspot/deals.json",
        include_str!("../../assets/demo/hubspot/deals.json"),
    ),
    (
        "hubspot/tasks.json",
        include_str!("../../assets/demo/hubspot/tasks.json"),
    ),
    (
        "hubspot/notes.json",
        include_str!("../../assets/demo/hubspot/notes.json"),
    ),
    (
        "hubspot/pipelines.json",
        include_str!("../../assets/demo/hubspot/pipelines.json"),
    ),
    (
        "gmail/profile.json",
        include_str!("../../assets/demo/gmail/profile.json"),
    ),
    (
        "gmail/threads.json",
        include_str!("../../assets/demo/gmail/threads.json"),
    ),
    (
        "gmail/threads-large.json",
        include_str!("../../assets/demo/gmail/threads-large.json"),
    ),
    (
        "gmail/drafts.json",
        include_str!("../../assets/demo/gmail/drafts.json"),
    ),
];

/// The moment the demo data was written for ("now" in its story).
pub fn anchor() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 15, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// Whole days to add to every demo timestamp so its story ends within the last 24 hours before
/// `now`: never in the future, and with its times of day kept.
pub fn shift_for(now: DateTime<Utc>) -> Duration {
    Duration::days((now - anchor()).num_seconds().div_euclid(86_400))
}

/// Problems loading the demo data.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A bundled file does not parse (a packaging bug).
    #[error("demo file {file} is malformed: {source}")]
    Malformed {
        /// The file.
        file: String,
        /// The parse error (with line and column).
        source: serde_json::Error,
    },
    /// The mirror could not be written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What was loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DemoSummary {
    /// Records per kind.
    pub counts: Vec<(&'static str, usize)>,
    /// Messages skipped as unusable (with reasons).
    pub skipped: Vec<String>,
}

fn parse<T: DeserializeOwned>(name: &str, files: &[(&str, &str)]) -> Result<T, DemoError> {
    let text = files
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
        .unwrap_or("null");
    serde_json::from_str(text).map_err(|source| DemoError::Malformed {
        file: name.to_string(),
        source,
    })
}

/// Parses the demo files into one batch (nothing is written).
pub fn batch(
    files: &[(&str, &str)],
    shift: Duration,
) -> Result<(MirrorBatch, String, DemoSummary), DemoError> {
    let hs = HubSpotMapper { shift };
    let raw = |o: &crate::connectors::hubspot::wire::CrmObject| serde_json::to_string(o).unwrap_or_default();
    let mut b = MirrorBatch::default();
    let contacts: ObjectPage = parse("hubspot/contacts.json", files)?;
    b.contacts = contacts.results.iter().map(|o| (hs.contact(o), raw(o))).collect();
    let companies: ObjectPage = parse("hubspot/companies.json", files)?;
    b.companies = companies
        .results
        .iter()
        .map(|o| (hs.company(o), raw(o)))
        .collect();
    let deals: ObjectPage = parse("hubspot/deals.json", files)?;
    b.deals = deals.results.iter().map(|o| (hs.deal(o), raw(o))).collect();
    let tasks: ObjectPage = parse("hubspot/tasks.json", files)?;
    b.tasks = tasks.results.iter().map(|o| (hs.task(o), raw(o))).collect();
    let notes: ObjectPage = parse("hubspot/notes.json", files)?;
    b.notes = notes.results.iter().map(|o| (hs.note(o), raw(o))).collect();
    let pipelines: PipelineList = parse("hubspot/pipelines.json", files)?;
    for p in &pipelines.results {
        b.pipelines.push((p.id.clone(), p.label.clone(), p.display_order));
        b.stages.extend(hs.stages(p));
    }
    let profile: Profile = parse("gmail/profile.json", files)?;
    let operator = profile.email_address.to_ascii_lowercase();
    let gm = GmailMapper {
        operator_email: operator.clone(),
        shift,
    };
    let mut summary = DemoSummary::default();
    let mut threads: Vec<Thread> = parse("gmail/threads.json", files)?;
    threads.extend(parse::<Vec<Thread>>("gmail/threads-large.json", files)?);
    for t in &threads {
        for m in &t.messages {
            match gm.message(m, &t.id) {
                Ok(record) => b.messages.push(record),
                Err(e) => summary.skipped.push(e.to_string()),
            }
        }
    }
    let drafts: Vec<WireDraft> = parse("gmail/drafts.json", files)?;
    for d in &drafts {
        match gm.draft(d) {
            Ok(draft) => b.drafts.push((draft, Some(d.message.id.clone()))),
            Err(e) => summary.skipped.push(e.to_string()),
        }
    }
    summary.counts = vec![
        ("contacts", b.contacts.len()),
        ("companies", b.companies.len()),
        ("deals", b.deals.len()),
        ("tasks", b.tasks.len()),
        ("notes", b.notes.len()),
        ("threads", threads.len()),
        ("messages", b.messages.len()),
        ("drafts", b.drafts.len()),
    ];
    Ok((b, operator, summary))
}

/// Loads the bundled demo data into an (empty) mirror, dated so its story happens at `now`.
pub fn load(store: &mut Store, now: DateTime<Utc>) -> Result<DemoSummary, DemoError> {
    let (batch, operator, summary) = batch(FILES, shift_for(now))?;
    store.apply_batch(&batch)?;
    store.set_setting("operator_email", &operator)?;
    store.set_setting("source", "demo")?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shift_keeps_the_story_in_the_past() {
        let a = anchor();
        assert_eq!(shift_for(a), Duration::zero());
        assert_eq!(shift_for(a + Duration::hours(23)), Duration::zero());
        assert_eq!(shift_for(a + Duration::hours(34)), Duration::days(1));
        assert_eq!(shift_for(a - Duration::hours(1)), Duration::days(-1));
        for h in [0, 5, 11, 13, 24, 200, 1000] {
            let now = a + Duration::hours(h);
            let end = a + shift_for(now);
            assert!(end <= now && now - end < Duration::days(1), "{h}h");
        }
    }

    #[test]
    fn the_bundled_files_parse_and_nothing_is_skipped() {
        let (batch, operator, summary) = batch(FILES, Duration::zero()).unwrap();
        assert_eq!(operator, "jordan@lumenlabs.example");
        assert!(summary.skipped.is_empty(), "{:?}", summary.skipped);
        assert!(batch.contacts.len() >= 40 && batch.companies.len() >= 15 && batch.deals.len() >= 12);
        assert!(
            batch.drafts.len() >= 3
                && batch
                    .tasks
                    .iter()
                    .any(|(t, _)| t.due_at.is_some_and(|d| d < anchor()))
        );
        let threads: std::collections::HashSet<&str> = batch
            .messages
            .iter()
            .map(|r| r.message.thread_id.as_str())
            .collect();
        assert!(threads.len() >= 60);
        assert!(
            batch
                .messages
                .iter()
                .filter(|r| r.message.thread_id == batch.messages.last().unwrap().message.thread_id)
                .count()
                >= 2000
        );
    }

    #[test]
    fn a_malformed_file_is_a_clear_error_naming_the_file() {
        let mut files: Vec<(&str, &str)> = FILES.to_vec();
        files[2] = ("hubspot/deals.json", "{\"results\": [{\"id\": 5}]}");
        let err = batch(&files, Duration::zero()).unwrap_err().to_string();
        assert!(
            err.contains("hubspot/deals.json") && err.contains("line 1"),
            "{err}"
        );
    }
}
