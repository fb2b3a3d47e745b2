//! HubSpot write actions: create tasks and notes, move a deal to another stage, complete a
//! task, and the reads that make them safe to repeat (a deal's current stage, a record found
//! by its marker).
//!
//! Every task and note CaseyOS creates carries a marker ([`marker`]) on the last line of its
//! body: one search token derived from the action's idempotency key. When a create ends in
//! [`HubSpotError::Uncertain`] (or the process stopped mid-way), the caller asks
//! [`HubSpotClient::find_by_marker`] whether the record exists before creating it again. How
//! each call is retried is described in [`super::client`].

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use sha2::{Digest, Sha256};

use super::client::{Call, HubSpotClient, HubSpotError, Replay, Verb};
use super::wire::{
    AssociationFrom, AssociationSpec, CreateObject, CrmObject, NewAssociation, ObjectPage, UpdateObject,
};

/// What every marker starts with.
const MARKER_PREFIX: &str = "caseyos";

/// The marker for an idempotency key: `caseyos` and 32 hex digits of the key's SHA-256, one word
/// of lower-case letters and digits, so HubSpot's search tokenizer keeps it whole and a
/// `CONTAINS_TOKEN` filter finds exactly it. The same key always gives the same marker.
pub fn marker(idempotency_key: &str) -> String {
    let digest = Sha256::digest(idempotency_key.as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{MARKER_PREFIX}{hex}")
}

/// Whether `s` is a marker [`marker`] could have made (one search token).
fn is_marker(s: &str) -> bool {
    s.len() > MARKER_PREFIX.len()
        && s.starts_with(MARKER_PREFIX)
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// A body without the marker line CaseyOS added ([`with_marker`]), for display; any other
/// text is kept as it is.
pub fn strip_marker(body: &str) -> String {
    // HubSpot may turn the line break before it into HTML and back: look at the last `[…]`.
    let trimmed = body.trim_end();
    if let Some(open) = trimmed.rfind('[')
        && let Some(inner) = trimmed[open + 1..].strip_suffix(']')
        && is_marker(inner)
    {
        return trimmed[..open].trim_end().to_string();
    }
    body.to_string()
}

/// The body as sent: the caller's text, then the marker on a line of its own (`[caseyos…]`;
/// the brackets are punctuation, so the marker stays a token of its own).
fn with_marker(body: &str, marker: &str) -> String {
    let body = body.trim_end();
    if body.is_empty() {
        format!("[{marker}]")
    } else {
        format!("{body}\n\n[{marker}]")
    }
}

/// Records a new task or note is associated with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Associations {
    /// Contact ids.
    pub contact_ids: Vec<String>,
    /// Deal ids.
    pub deal_ids: Vec<String>,
    /// Company ids.
    pub company_ids: Vec<String>,
}

impl Associations {
    /// The wire form, with the HubSpot-defined type ids for contacts, deals and companies
    /// (tasks: 204, 216, 192; notes: 202, 214, 190).
    fn wire(&self, [contact, deal, company]: [u32; 3]) -> Vec<NewAssociation> {
        [
            (&self.contact_ids, contact),
            (&self.deal_ids, deal),
            (&self.company_ids, company),
        ]
        .into_iter()
        .flat_map(|(ids, type_id)| {
            ids.iter().map(move |id| NewAssociation {
                to: AssociationFrom { id: id.clone() },
                types: vec![AssociationSpec {
                    association_category: "HUBSPOT_DEFINED".into(),
                    association_type_id: type_id,
                }],
            })
        })
        .collect()
    }

    fn ids(&self) -> impl Iterator<Item = &String> {
        self.contact_ids
            .iter()
            .chain(&self.deal_ids)
            .chain(&self.company_ids)
    }
}

/// Task → contact, deal, company association type ids.
const TASK_TYPES: [u32; 3] = [204, 216, 192];
/// Note → contact, deal, company association type ids.
const NOTE_TYPES: [u32; 3] = [202, 214, 190];

/// A task's priority (`hs_task_priority`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskPriority {
    /// `LOW`.
    Low,
    /// `MEDIUM`.
    Medium,
    /// `HIGH`.
    High,
}

impl TaskPriority {
    /// The value HubSpot stores.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskPriority::Low => "LOW",
            TaskPriority::Medium => "MEDIUM",
            TaskPriority::High => "HIGH",
        }
    }
}

/// A task to create in HubSpot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTask {
    /// `hs_task_subject`.
    pub subject: String,
    /// `hs_task_body` (plain text; the marker is appended).
    pub body: String,
    /// When it is due (`hs_timestamp`).
    pub due: DateTime<Utc>,
    /// `hs_task_priority`, if any.
    pub priority: Option<TaskPriority>,
    /// `hubspot_owner_id`, if any.
    pub owner_id: Option<String>,
    /// Records to associate it with.
    pub associations: Associations,
    /// The marker put in the body ([`marker`] of the action's idempotency key).
    pub marker: String,
}

impl NewTask {
    /// A task with a subject and due time, marked with `idempotency_key`'s [`marker`]; no
    /// body, priority, owner or associations yet.
    pub fn new(idempotency_key: &str, subject: &str, due: DateTime<Utc>) -> NewTask {
        NewTask {
            subject: subject.to_string(),
            body: String::new(),
            due,
            priority: None,
            owner_id: None,
            associations: Associations::default(),
            marker: marker(idempotency_key),
        }
    }

    fn wire(&self) -> CreateObject {
        let mut properties = BTreeMap::from([
            ("hs_task_subject".to_string(), self.subject.clone()),
            ("hs_task_body".to_string(), with_marker(&self.body, &self.marker)),
            ("hs_timestamp".to_string(), iso(self.due)),
            ("hs_task_status".to_string(), "NOT_STARTED".to_string()),
        ]);
        if let Some(p) = self.priority {
            properties.insert("hs_task_priority".into(), p.as_str().into());
        }
        if let Some(o) = &self.owner_id {
            properties.insert("hubspot_owner_id".into(), o.clone());
        }
        CreateObject {
            properties,
            associations: self.associations.wire(TASK_TYPES),
        }
    }
}

/// A note to create in HubSpot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNote {
    /// `hs_note_body` (plain text; the marker is appended).
    pub body: String,
    /// When it happened (`hs_timestamp`, where HubSpot puts it on the timeline).
    pub at: DateTime<Utc>,
    /// `hubspot_owner_id`, if any.
    pub owner_id: Option<String>,
    /// Records to associate it with.
    pub associations: Associations,
    /// The marker put in the body ([`marker`] of the action's idempotency key).
    pub marker: String,
}

impl NewNote {
    /// A note with a body and time, marked with `idempotency_key`'s [`marker`]; no owner or
    /// associations yet.
    pub fn new(idempotency_key: &str, body: &str, at: DateTime<Utc>) -> NewNote {
        NewNote {
            body: body.to_string(),
            at,
            owner_id: None,
            associations: Associations::default(),
            marker: marker(idempotency_key),
        }
    }

    fn wire(&self) -> CreateObject {
        let mut properties = BTreeMap::from([
            ("hs_note_body".to_string(), with_marker(&self.body, &self.marker)),
            ("hs_timestamp".to_string(), iso(self.at)),
        ]);
        if let Some(o) = &self.owner_id {
            properties.insert("hubspot_owner_id".into(), o.clone());
        }
        CreateObject {
            properties,
            associations: self.associations.wire(NOTE_TYPES),
        }
    }
}

/// `2026-11-25T09:00:00.000Z`, the ISO form HubSpot accepts for datetime properties.
fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Refused before sending: the request could not be right.
fn refused(what: &str, message: String) -> HubSpotError {
    HubSpotError::Invalid {
        path: what.to_string(),
        message,
        details: Vec::new(),
    }
}

/// HubSpot record ids are numbers; anything else would change the URL's path.
fn check_id(what: &str, id: &str) -> Result<(), HubSpotError> {
    if !id.is_empty() && id.len() <= 30 && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(refused(
            what,
            format!("{id:?} is not a HubSpot record id (digits only)"),
        ))
    }
}

/// The body property searched for markers.
fn body_property(object_type: &str) -> Option<&'static str> {
    match object_type {
        "tasks" => Some("hs_task_body"),
        "notes" => Some("hs_note_body"),
        _ => None,
    }
}

impl HubSpotClient {
    /// Creates a task (`POST /crm/v3/objects/tasks`, status `NOT_STARTED`) with its
    /// associations; returns its id. Never sent twice when HubSpot may have applied it:
    /// [`HubSpotError::Uncertain`] then says to look for [`NewTask::marker`] first.
    pub async fn create_task(&self, task: &NewTask) -> Result<String, HubSpotError> {
        self.create("tasks", &task.marker, &task.associations, &task.wire())
            .await
    }

    /// Creates a note (`POST /crm/v3/objects/notes`) with its associations; returns its id.
    /// Retried like [`HubSpotClient::create_task`].
    pub async fn create_note(&self, note: &NewNote) -> Result<String, HubSpotError> {
        self.create("notes", &note.marker, &note.associations, &note.wire())
            .await
    }

    async fn create(
        &self,
        object_type: &str,
        marker: &str,
        associations: &Associations,
        body: &CreateObject,
    ) -> Result<String, HubSpotError> {
        let path = format!("/crm/v3/objects/{object_type}");
        if !is_marker(marker) {
            return Err(refused(
                &path,
                format!("{marker:?} is not a CaseyOS marker (make it with `marker`)"),
            ));
        }
        for id in associations.ids() {
            check_id(&path, id)?;
        }
        let json = serde_json::to_value(body).map_err(|source| HubSpotError::Malformed {
            path: path.clone(),
            source,
        })?;
        let created: CrmObject = self
            .request(Call {
                verb: Verb::Post,
                path: &path,
                query: &[],
                body: Some(&json),
                replay: Replay::Once,
            })
            .await?;
        Ok(created.id)
    }

    /// Moves a deal to a stage (`PATCH /crm/v3/objects/deals/{id}` with `dealstage`). Setting
    /// the same stage twice is harmless, so this is retried like a read. An unknown stage is
    /// [`HubSpotError::Invalid`], an unknown deal [`HubSpotError::NotFound`].
    pub async fn update_deal_stage(&self, deal_id: &str, stage_id: &str) -> Result<(), HubSpotError> {
        if stage_id.trim().is_empty() {
            return Err(refused("deal stage", "the stage id is empty".into()));
        }
        self.patch("deals", deal_id, "dealstage", stage_id).await
    }

    /// Marks a task done (`PATCH /crm/v3/objects/tasks/{id}`, `hs_task_status: COMPLETED`);
    /// retried like a read. An unknown task is [`HubSpotError::NotFound`].
    pub async fn complete_task(&self, task_id: &str) -> Result<(), HubSpotError> {
        self.patch("tasks", task_id, "hs_task_status", "COMPLETED").await
    }

    async fn patch(
        &self,
        object_type: &str,
        id: &str,
        property: &str,
        value: &str,
    ) -> Result<(), HubSpotError> {
        check_id(&format!("/crm/v3/objects/{object_type}"), id)?;
        let path = format!("/crm/v3/objects/{object_type}/{id}");
        let body = UpdateObject {
            properties: BTreeMap::from([(property.to_string(), value.to_string())]),
        };
        let json = serde_json::to_value(&body).map_err(|source| HubSpotError::Malformed {
            path: path.clone(),
            source,
        })?;
        let _updated: CrmObject = self
            .request(Call {
                verb: Verb::Patch,
                path: &path,
                query: &[],
                body: Some(&json),
                replay: Replay::Safe,
            })
            .await?;
        Ok(())
    }

    /// A deal's current stage (`GET /crm/v3/objects/deals/{id}?properties=dealstage`), read
    /// just before moving it: `None` when the deal is gone (404) or has no stage.
    pub async fn get_deal_stage(&self, deal_id: &str) -> Result<Option<String>, HubSpotError> {
        check_id("/crm/v3/objects/deals", deal_id)?;
        let path = format!("/crm/v3/objects/deals/{deal_id}");
        let query = [("properties", "dealstage".to_string())];
        let read: Result<CrmObject, _> = self
            .request(Call {
                verb: Verb::Get,
                path: &path,
                query: &query,
                body: None,
                replay: Replay::Safe,
            })
            .await;
        match read {
            Ok(deal) => Ok(deal.prop("dealstage").map(str::to_string)),
            Err(HubSpotError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The id of the task or note (`object_type`: `tasks` or `notes`) whose body holds
    /// `marker`, found with a `CONTAINS_TOKEN` search; the lowest id if there are several.
    ///
    /// Search is eventually consistent: a record created a few seconds ago may not be found
    /// yet, so `None` right after an uncertain create is not proof of absence.
    pub async fn find_by_marker(
        &self,
        object_type: &str,
        marker: &str,
    ) -> Result<Option<String>, HubSpotError> {
        let Some(property) = body_property(object_type) else {
            return Err(refused(
                object_type,
                "markers are searched on tasks and notes only".into(),
            ));
        };
        if !is_marker(marker) {
            return Err(refused(
                object_type,
                format!("{marker:?} is not a CaseyOS marker"),
            ));
        }
        let body = serde_json::json!({
            "filterGroups": [{ "filters": [
                { "propertyName": property, "operator": "CONTAINS_TOKEN", "value": marker }
            ]}],
            "sorts": [{ "propertyName": "hs_object_id", "direction": "ASCENDING" }],
            "properties": [property],
            "limit": 10,
        });
        let page: ObjectPage = self.search_page(object_type, &body).await?;
        // The tokenizer is HubSpot's: keep only records whose body really holds the marker.
        Ok(page
            .results
            .into_iter()
            .find(|o| o.prop(property).is_some_and(|b| b.contains(marker)))
            .map(|o| o.id))
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_marker_line_is_stripped_for_display_and_nothing_else() {
        let m = marker("key-1");
        assert_eq!(
            strip_marker(&with_marker("Call Dana\nabout pricing", &m)),
            "Call Dana\nabout pricing"
        );
        assert_eq!(strip_marker(&with_marker("", &m)), "");
        assert_eq!(
            strip_marker("Notes [caseyosnot-a-marker]"),
            "Notes [caseyosnot-a-marker]"
        );
        assert_eq!(strip_marker("Plain text\n[see above]"), "Plain text\n[see above]");
        assert_eq!(
            strip_marker(&format!("Call Dana [{m}]")),
            "Call Dana",
            "same line"
        );
    }

    use super::*;

    #[test]
    fn a_marker_is_one_lowercase_alphanumeric_word_and_stable() {
        let m = marker("move:deal-300001/stage closedwon");
        assert!(m.starts_with("caseyos"), "{m}");
        assert_eq!(m.len(), "caseyos".len() + 32);
        assert!(is_marker(&m), "{m}");
        assert_eq!(m, marker("move:deal-300001/stage closedwon"));
        assert_ne!(m, marker("move:deal-300001/stage closedlost"));
        assert!(!is_marker("caseyos-abc"));
        assert!(!is_marker("caseyos"));
        assert!(!is_marker("other123"));
    }

    #[test]
    fn the_marker_ends_the_body_on_a_line_of_its_own() {
        assert_eq!(
            with_marker("Call back\n", "caseyos00"),
            "Call back\n\n[caseyos00]"
        );
        assert_eq!(with_marker("  ", "caseyos00"), "[caseyos00]");
    }

    #[test]
    fn a_task_body_lists_each_association_with_its_type_id() {
        let due = DateTime::parse_from_rfc3339("2026-11-25T09:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default();
        let mut task = NewTask::new("k1", "Send pricing", due);
        task.priority = Some(TaskPriority::High);
        task.associations = Associations {
            contact_ids: vec!["101".into()],
            deal_ids: vec!["301".into()],
            company_ids: vec!["201".into()],
        };
        let wire = serde_json::to_value(task.wire()).unwrap_or_default();
        assert_eq!(wire["properties"]["hs_timestamp"], "2026-11-25T09:00:00.000Z");
        assert_eq!(wire["properties"]["hs_task_priority"], "HIGH");
        let types: Vec<(String, u64)> = wire["associations"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                (
                    a["to"]["id"].as_str().unwrap_or_default().to_string(),
                    a["types"][0]["associationTypeId"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        assert_eq!(
            types,
            [
                ("101".to_string(), 204),
                ("301".to_string(), 216),
                ("201".to_string(), 192)
            ]
        );
    }

    #[test]
    fn ids_that_would_change_the_path_are_refused() {
        assert!(check_id("x", "300001").is_ok());
        for bad in ["", "../owners", "1/2", "12a"] {
            assert!(
                matches!(check_id("x", bad), Err(HubSpotError::Invalid { .. })),
                "{bad}"
            );
        }
    }
}
