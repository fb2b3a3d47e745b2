//! The real services behind the worker: each outbox action as find / check / apply calls on
//! the HubSpot and Gmail clients.
//!
//! Payloads (JSON, written when the action is approved):
//! - `gmail.draft.send`: `draft_id`, `thread_id`, `approved_at` (RFC 3339), `to`. Gmail deletes
//!   a draft when it sends it, so "was it sent?" is "is the draft gone?": a draft that is still
//!   there was not sent, and a gone one is never sent again.
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

/// What a Gmail failure means for a job.
fn classify_gmail(e: GmailError) -> RemoteError {
    match e {
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

impl Live {
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

impl Remote for Live {
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
            // Completing a task twice is harmless: apply again.
            "hubspot.task.complete" => Ok(None),
            other => Err(refused(format!("this version of CaseyOS cannot run {other} yet"))),
        }
    }

    async fn check(&self, job: &Job) -> Result<World, RemoteError> {
        let p = &job.payload;
        match job.action.as_str() {
            "gmail.draft.send" => {
                let gmail = self.gmail()?;
                let draft = required(p, "draft_id")?;
                if gmail.draft(&draft).await.map_err(classify_gmail)?.is_none() {
                    return Err(refused(
                        "the draft is no longer in Gmail (sent or deleted there); nothing was sent",
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
            "hubspot.task.create" | "hubspot.note.create" | "hubspot.task.complete" => Ok(World::Unchanged),
            other => Err(refused(format!("this version of CaseyOS cannot run {other} yet"))),
        }
    }

    async fn apply(&self, job: &Job) -> Result<String, RemoteError> {
        let p = &job.payload;
        if job.action == "gmail.draft.send" {
            let sent = self
                .gmail()?
                .send_draft(&required(p, "draft_id")?)
                .await
                .map_err(classify_gmail)?;
            return Ok(sent.id);
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
