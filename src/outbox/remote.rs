//! The real services behind the worker: each outbox action as find / check / apply calls on
//! the HubSpot and Gmail clients.
//!
//! Payloads (JSON, written when the action is approved):
//! - `gmail.draft.send`: `draft_id`, `thread_id`, `approved_at` (RFC 3339), `to`. Gmail deletes
//!   a draft when it sends it, so "was it sent?" is "is the draft gone?": a draft that is still
//!   there was not sent, and a gone one is never sent again.
//! - `gmail.draft.create` / `gmail.draft.push`: `draft_id` (a `local-…` id for create, Gmail's
//!   for push) and `content` (`from`, `to` [{name, email}], `subject`, `body`, `in_reply_to`,
//!   `references`, `message_id_header`): the text as approved. A created draft is found again
//!   by its Message-ID; a push (update) is harmless to repeat.
//! - `gmail.draft.delete`: `draft_id`; a draft already gone counts as deleted.
//! - `hubspot.task.create`: `subject`, `body`, `due` (RFC 3339), `contact_ids`, `deal_ids`,
//!   `company_ids`, `owner_id`?
//! - `hubspot.note.create`: `body`, `at`, `contact_ids`, `deal_ids`, `company_ids`
//! - `hubspot.task.complete`: `task_id`
//! - `hubspot.deal.stage`: `deal_id`, `from_stage` (the stage the operator saw), `to_stage`
//!
//! Creates carry a marker derived from the idempotency key, so "was it done?" is a search for
//! the marker; the PATCH actions are idempotent and say "done" when the record already is.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::worker::{Remote, RemoteError, World};
use crate::connectors::gmail::client::{GmailClient, GmailError};
use crate::connectors::gmail::compose::{Address, Outgoing, compose, parse_references};
use crate::connectors::hubspot::client::{HubSpotClient, HubSpotError};
use crate::connectors::hubspot::write::{Associations, NewNote, NewTask, marker};
use crate::store::Job;

/// The connected services.
#[derive(Clone, Default)]
pub struct Live {
    /// HubSpot, if connected.
    pub hubspot: Option<Arc<HubSpotClient>>,
    /// Gmail, if connected.
    pub gmail: Option<Arc<GmailClient>>,
}

impl Live {
    /// Writes the latency and errors of the API calls the clients made since the last call
    /// (the worker's finds, checks and applies) as telemetry, one transaction per connector.
    /// A failure to write is logged: it never changes what the worker did.
    pub fn record_events(&self, store: &mut crate::store::Store, now: DateTime<Utc>) {
        let events = [
            ("hubspot", self.hubspot.as_ref().map(|c| c.take_events())),
            ("gmail", self.gmail.as_ref().map(|c| c.take_events())),
        ];
        for (connector, events) in events {
            let Some(events) = events else { continue };
            if let Err(e) = crate::telemetry::record_api_events(store, connector, &events, now) {
                tracing::warn!(connector, "could not record the outbox run's API telemetry: {e}");
            }
        }
    }
}

/// What a Gmail failure means for a job.
fn classify_gmail(e: GmailError) -> RemoteError {
    match e {
        // Reading works but writing does not: the sign-in lacks the compose scope.
        GmailError::Forbidden(why) => RemoteError::Refused(format!(
            "Gmail refused the write ({why}); CaseyOS needs the gmail.compose scope to write drafts \
             and send: run `casey auth google` again and allow it, then retry this entry"
        )),
        GmailError::Uncertain { .. } => RemoteError::Uncertain(e.to_string()),
        GmailError::Network { .. }
        | GmailError::RateLimited { .. }
        | GmailError::DailyLimit
        | GmailError::Unavailable { .. }
        | GmailError::Unauthorized
        | GmailError::Auth(_) => RemoteError::Offline(e.to_string()),
        GmailError::Status { status, .. } if status >= 500 => RemoteError::Offline(e.to_string()),
        other => RemoteError::Refused(other.to_string()),
    }
}

fn refused(e: impl std::fmt::Display) -> RemoteError {
    RemoteError::Refused(e.to_string())
}

/// What a HubSpot failure means for a job.
fn classify(e: HubSpotError) -> RemoteError {
    match e {
        HubSpotError::Uncertain { .. } => RemoteError::Uncertain(e.to_string()),
        HubSpotError::Network { .. }
        | HubSpotError::RateLimited { .. }
        | HubSpotError::Unavailable { .. } => RemoteError::Offline(e.to_string()),
        HubSpotError::Status { status, .. } if status >= 500 => RemoteError::Offline(e.to_string()),
        // A sign-in problem waits for `casey auth hubspot`, it is not a verdict on the action.
        HubSpotError::Unauthorized | HubSpotError::Auth(_) => RemoteError::Offline(e.to_string()),
        other => RemoteError::Refused(other.to_string()),
    }
}

fn text(p: &Value, key: &str) -> String {
    p.get(key).and_then(Value::as_str).unwrap_or_default().to_string()
}

fn required(p: &Value, key: &str) -> Result<String, RemoteError> {
    let v = text(p, key);
    if v.is_empty() {
        return Err(refused(format!("the outbox entry has no {key}")));
    }
    Ok(v)
}

fn ids(p: &Value, key: &str) -> Vec<String> {
    p.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

fn time(p: &Value, key: &str) -> Result<DateTime<Utc>, RemoteError> {
    DateTime::parse_from_rfc3339(&required(p, key)?)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| refused(format!("the outbox entry's {key} is not a time: {e}")))
}

fn associations(p: &Value) -> Associations {
    Associations {
        contact_ids: ids(p, "contact_ids"),
        deal_ids: ids(p, "deal_ids"),
        company_ids: ids(p, "company_ids"),
    }
}

/// What a Gmail draft holds beyond one plain-text body and To recipients (Cc, Bcc,
/// attachments, an HTML part), said for people; `None` when CaseyOS can rewrite it faithfully.
fn beyond_plain_text(m: &crate::connectors::gmail::wire::Message) -> Option<&'static str> {
    let part = m.payload.as_ref()?;
    if part.header("Cc").is_some_and(|v| !v.trim().is_empty()) {
        return Some("Cc recipients");
    }
    if part.header("Bcc").is_some_and(|v| !v.trim().is_empty()) {
        return Some("Bcc recipients");
    }
    fn walk(p: &crate::connectors::gmail::wire::MessagePart) -> Option<&'static str> {
        if p.filename.as_deref().is_some_and(|f| !f.is_empty()) {
            return Some("attachments");
        }
        if p.mime_type.eq_ignore_ascii_case("text/html") {
            return Some("formatting (HTML)");
        }
        p.parts.iter().find_map(walk)
    }
    walk(part)
}

/// The RFC 2822 bytes of a draft's approved `content`.
fn draft_message(p: &Value) -> Result<(Vec<u8>, Option<String>), RemoteError> {
    let c = p
        .get("content")
        .ok_or_else(|| refused("the outbox entry has no draft content"))?;
    let to: Vec<Address> = c
        .get("to")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|m| {
                    let email = m.get("email")?.as_str()?;
                    Some(
                        match m.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()) {
                            Some(name) => Address::named(name, email),
                            None => Address::new(email),
                        },
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let in_reply_to = Some(text(c, "in_reply_to")).filter(|s| !s.is_empty());
    let out = Outgoing {
        from: Address::new(&required(c, "from")?),
        to,
        cc: Vec::new(),
        subject: text(c, "subject"),
        body_text: text(c, "body"),
        message_id: required(c, "message_id_header")?,
        in_reply_to,
        references: parse_references(&text(c, "references")),
        date: Utc::now(),
    };
    let raw = compose(&out).map_err(refused)?;
    let thread = Some(text(p, "thread_id")).filter(|t| !t.is_empty());
    Ok((raw, thread))
}

impl Live {
    /// Finds a draft created with our Message-ID: its Gmail draft id, or `sent:<message>`
    /// when it was sent from Gmail meanwhile.
    async fn find_created_draft(&self, p: &Value) -> Result<Option<String>, RemoteError> {
        let gmail = self.gmail()?;
        let content = p.get("content").cloned().unwrap_or(Value::Null);
        let found = gmail
            .find_message_by_rfc822_id(&required(&content, "message_id_header")?)
            .await
            .map_err(classify_gmail)?;
        let has = |m: &crate::connectors::gmail::wire::MessageRef, label: &str| {
            m.label_ids.as_ref().is_some_and(|l| l.iter().any(|x| x == label))
        };
        if let Some(sent) = found.iter().find(|m| has(m, "SENT")) {
            return Ok(Some(format!("sent:{}", sent.id)));
        }
        let Some(message) = found.iter().find(|m| has(m, "DRAFT")) else {
            return Ok(None);
        };
        let mut token: Option<String> = None;
        loop {
            let page = gmail
                .list_drafts(token.as_deref())
                .await
                .map_err(classify_gmail)?;
            if let Some(d) = page.drafts.iter().find(|d| d.message.id == message.id) {
                return Ok(Some(d.id.clone()));
            }
            match page.next_page_token {
                Some(t) if token.as_deref() != Some(t.as_str()) => token = Some(t),
                _ => break,
            }
        }
        // The message is there but no draft lists it yet: ask again later, never create twice.
        Err(RemoteError::Uncertain(
            "the draft's message is in Gmail but its draft is not listed yet".into(),
        ))
    }

    fn gmail(&self) -> Result<&GmailClient, RemoteError> {
        self.gmail
            .as_deref()
            .ok_or_else(|| RemoteError::Offline("Gmail is not connected (run `casey auth google`)".into()))
    }

    fn hubspot(&self) -> Result<&HubSpotClient, RemoteError> {
        self.hubspot
            .as_deref()
            .ok_or_else(|| RemoteError::Offline("HubSpot is not connected (run `casey auth hubspot`)".into()))
    }
}

/// How long HubSpot's search may take to list a record just created (it is eventually
/// consistent; seconds in practice).
pub const HUBSPOT_SEARCH_SETTLE: chrono::Duration = chrono::Duration::seconds(60);

/// How long Gmail's message search may take to find a draft just created.
pub const GMAIL_SEARCH_SETTLE: chrono::Duration = chrono::Duration::seconds(60);

impl Remote for Live {
    fn settle(&self, job: &Job) -> chrono::Duration {
        match job.action.as_str() {
            "hubspot.task.create" | "hubspot.note.create" => HUBSPOT_SEARCH_SETTLE,
            // Gmail's `rfc822msgid:` search can lag a fresh draft too.
            "gmail.draft.create" => GMAIL_SEARCH_SETTLE,
            _ => chrono::Duration::zero(),
        }
    }

    async fn find(&self, job: &Job) -> Result<Option<String>, RemoteError> {
        let p = &job.payload;
        match job.action.as_str() {
            "gmail.draft.send" => {
                let draft = required(p, "draft_id")?;
                match self.gmail()?.draft(&draft).await.map_err(classify_gmail)? {
                    Some(_) => Ok(None),
                    None => Ok(Some(format!("draft {draft} (no longer in Gmail: sent)"))),
                }
            }
            "hubspot.task.create" => self
                .hubspot()?
                .find_by_marker("tasks", &marker(&job.idempotency_key))
                .await
                .map_err(classify),
            "hubspot.note.create" => self
                .hubspot()?
                .find_by_marker("notes", &marker(&job.idempotency_key))
                .await
                .map_err(classify),
            "hubspot.deal.stage" => {
                let deal = required(p, "deal_id")?;
                let stage = self.hubspot()?.get_deal_stage(&deal).await.map_err(classify)?;
                Ok((stage.as_deref() == Some(required(p, "to_stage")?.as_str())).then_some(deal))
            }
            "gmail.draft.create" => self.find_created_draft(p).await,
            // Writing the same text again, completing a task again or deleting a deleted draft
            // is harmless: apply again.
            "gmail.draft.push" | "gmail.draft.delete" | "hubspot.task.complete" => Ok(None),
            other => Err(refused(format!("this version of CaseyOS cannot run {other} yet"))),
        }
    }

    async fn check(&self, job: &Job) -> Result<World, RemoteError> {
        let p = &job.payload;
        match job.action.as_str() {
            "gmail.draft.send" => {
                let gmail = self.gmail()?;
                let draft = required(p, "draft_id")?;
                let Some(current) = gmail.draft(&draft).await.map_err(classify_gmail)? else {
                    return Err(refused(
                        "the draft is no longer in Gmail (sent or deleted there); nothing was sent",
                    ));
                };
                // Approved as it was then: a draft changed in Gmail since is not what was approved.
                let approved_version = text(p, "message_id");
                if !approved_version.is_empty() && current.message.id != approved_version {
                    return Ok(World::Changed(
                        "the draft was changed in Gmail after you approved; read it and approve again".into(),
                    ));
                }
                let approved = time(p, "approved_at")?.timestamp_millis();
                let thread = text(p, "thread_id");
                if thread.is_empty() {
                    return Ok(World::Unchanged);
                }
                let newer = gmail
                    .thread(&thread)
                    .await
                    .map_err(classify_gmail)?
                    .map(|t| {
                        t.messages.iter().any(|m| {
                            let ours = m.label_ids.iter().any(|l| l == "SENT" || l == "DRAFT");
                            let at = m
                                .internal_date
                                .as_deref()
                                .and_then(|d| d.parse::<i64>().ok())
                                .unwrap_or(0);
                            !ours && at > approved
                        })
                    })
                    .unwrap_or(false);
                Ok(if newer {
                    World::Changed(
                        "a new message arrived in the thread after you approved; read it and approve again"
                            .into(),
                    )
                } else {
                    World::Unchanged
                })
            }
            "hubspot.deal.stage" => {
                let deal = required(p, "deal_id")?;
                let expected = text(p, "from_stage");
                match self.hubspot()?.get_deal_stage(&deal).await.map_err(classify)? {
                    None => Ok(World::Changed("the deal no longer exists in HubSpot".into())),
                    Some(now) if !expected.is_empty() && now != expected && now != text(p, "to_stage") => {
                        Ok(World::Changed(format!(
                            "the deal moved to {now} since you approved (it was {expected})"
                        )))
                    }
                    Some(_) => Ok(World::Unchanged),
                }
            }
            "gmail.draft.push" => {
                let draft = required(p, "draft_id")?;
                match self.gmail()?.draft(&draft).await.map_err(classify_gmail)? {
                    Some(d) => match beyond_plain_text(&d.message) {
                        // Writing the plain text over it would lose them.
                        Some(what) => Err(refused(format!(
                            "the draft in Gmail has {what}, which CaseyOS cannot keep when it rewrites a \
                             draft; make your edit in Gmail instead (nothing was changed)"
                        ))),
                        None => Ok(World::Unchanged),
                    },
                    None => Err(refused(
                        "the draft is no longer in Gmail (sent or deleted there); your edit was not written",
                    )),
                }
            }
            "gmail.draft.create" | "gmail.draft.delete" => {
                self.gmail()?;
                Ok(World::Unchanged)
            }
            "hubspot.task.create" | "hubspot.note.create" | "hubspot.task.complete" => Ok(World::Unchanged),
            other => Err(refused(format!("this version of CaseyOS cannot run {other} yet"))),
        }
    }

    async fn apply(&self, job: &Job) -> Result<String, RemoteError> {
        let p = &job.payload;
        match job.action.as_str() {
            "gmail.draft.send" => {
                let sent = self
                    .gmail()?
                    .send_draft(&required(p, "draft_id")?)
                    .await
                    .map_err(classify_gmail)?;
                return Ok(sent.id);
            }
            "gmail.draft.create" => {
                let (raw, thread) = draft_message(p)?;
                let made = self
                    .gmail()?
                    .create_draft(&raw, thread.as_deref())
                    .await
                    .map_err(classify_gmail)?;
                return Ok(made.id);
            }
            "gmail.draft.push" => {
                let (raw, thread) = draft_message(p)?;
                let draft = required(p, "draft_id")?;
                let made = self
                    .gmail()?
                    .update_draft(&draft, &raw, thread.as_deref())
                    .await
                    .map_err(classify_gmail)?;
                return Ok(made.id);
            }
            "gmail.draft.delete" => {
                let draft = required(p, "draft_id")?;
                self.gmail()?.delete_draft(&draft).await.map_err(classify_gmail)?;
                return Ok(draft);
            }
            _ => {}
        }
        let hubspot = self.hubspot()?;
        match job.action.as_str() {
            "hubspot.task.create" => {
                let mut task = NewTask::new(&job.idempotency_key, &required(p, "subject")?, time(p, "due")?);
                task.body = text(p, "body");
                task.owner_id = Some(text(p, "owner_id")).filter(|o| !o.is_empty());
                task.associations = associations(p);
                hubspot.create_task(&task).await.map_err(classify)
            }
            "hubspot.note.create" => {
                let mut note = NewNote::new(&job.idempotency_key, &required(p, "body")?, time(p, "at")?);
                note.associations = associations(p);
                hubspot.create_note(&note).await.map_err(classify)
            }
            "hubspot.task.complete" => {
                let task = required(p, "task_id")?;
                hubspot.complete_task(&task).await.map_err(classify)?;
                Ok(task)
            }
            "hubspot.deal.stage" => {
                let deal = required(p, "deal_id")?;
                hubspot
                    .update_deal_stage(&deal, &required(p, "to_stage")?)
                    .await
                    .map_err(classify)?;
                Ok(deal)
            }
            other => Err(refused(format!("this version of CaseyOS cannot run {other} yet"))),
        }
    }
}
