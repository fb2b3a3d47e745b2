//! Gmail wire resources → mirror entities.

use chrono::{DateTime, Duration, Utc};

use super::body::{message_text, parse_address_list, parse_mailbox};
use super::wire::{Draft as WireDraft, Message as WireMessage};
use crate::domain::entities::{Draft, Mailbox, Message};
use crate::domain::text::decode_entities;
use crate::domain::time::parse_timestamp;

/// Labels of bulk mail that never needs an answer.
const AUTOMATED_LABELS: &[&str] = &[
    "CATEGORY_PROMOTIONS",
    "CATEGORY_UPDATES",
    "CATEGORY_SOCIAL",
    "CATEGORY_FORUMS",
    "SPAM",
    "TRASH",
];

/// Sender local parts of machines.
const AUTOMATED_SENDERS: &[&str] = &[
    "noreply",
    "no-reply",
    "donotreply",
    "do-not-reply",
    "notifications",
    "newsletter",
    "mailer-daemon",
    "postmaster",
];

/// Why a message could not be mirrored.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MapError {
    /// No usable sender or date.
    #[error("message {id}: {what}")]
    Unusable {
        /// Message id.
        id: String,
        /// What is missing.
        what: String,
    },
}

/// Converts Gmail resources for one operator address.
#[derive(Debug, Clone)]
pub struct Mapper {
    /// The mailbox owner's address (lower-case).
    pub operator_email: String,
    /// Added to every timestamp (zero for live data).
    pub shift: Duration,
}

impl Mapper {
    fn date(&self, m: &WireMessage) -> Option<DateTime<Utc>> {
        m.internal_date
            .as_deref()
            .and_then(parse_timestamp)
            .or_else(|| m.header("Date").and_then(parse_timestamp))
            .map(|t| t + self.shift)
    }

    /// A message, plus its `In-Reply-To` header. A body that cannot be decoded is kept as a
    /// visible note instead of failing the whole message.
    pub fn message(
        &self,
        m: &WireMessage,
        fallback_thread: &str,
    ) -> Result<(Message, Option<String>), MapError> {
        let unusable = |what: &str| MapError::Unusable {
            id: m.id.clone(),
            what: what.into(),
        };
        let at = self
            .date(m)
            .ok_or_else(|| unusable("no internalDate or Date header"))?;
        let from = m
            .header("From")
            .and_then(parse_mailbox)
            .ok_or_else(|| unusable("no parsable From header"))?;
        let to = m.header("To").map(parse_address_list).unwrap_or_default();
        let cc = m.header("Cc").map(parse_address_list).unwrap_or_default();
        let body = match m.payload.as_ref().map(message_text) {
            Some(Ok(text)) => text,
            Some(Err(e)) => format!("[CaseyOS could not decode this message body: {e}]"),
            None => String::new(),
        };
        let outbound = m.label_ids.iter().any(|l| l == "SENT") || from.email == self.operator_email;
        let local = from.email.split('@').next().unwrap_or("");
        let automated = !outbound
            && (m.label_ids.iter().any(|l| AUTOMATED_LABELS.contains(&l.as_str()))
                || AUTOMATED_SENDERS.iter().any(|s| local.contains(s))
                || m.header("List-Unsubscribe").is_some());
        let message = Message {
            id: m.id.clone(),
            thread_id: m.thread_id.clone().unwrap_or_else(|| fallback_thread.to_string()),
            at,
            from,
            to,
            cc,
            subject: m.header("Subject").unwrap_or("").to_string(),
            snippet: decode_entities(m.snippet.as_deref().unwrap_or_default()),
            body,
            labels: m.label_ids.clone(),
            message_id_header: m.header("Message-ID").map(str::to_string),
            outbound,
            automated,
        };
        Ok((message, m.header("In-Reply-To").map(str::to_string)))
    }

    /// A draft.
    pub fn draft(&self, d: &WireDraft) -> Result<Draft, MapError> {
        let m = &d.message;
        let updated_at = self.date(m).ok_or_else(|| MapError::Unusable {
            id: d.id.clone(),
            what: "draft has no date".into(),
        })?;
        let body = match m.payload.as_ref().map(message_text) {
            Some(Ok(text)) => text,
            Some(Err(e)) => format!("[CaseyOS could not decode this draft: {e}]"),
            None => String::new(),
        };
        let to: Vec<Mailbox> = m.header("To").map(parse_address_list).unwrap_or_default();
        Ok(Draft {
            id: d.id.clone(),
            thread_id: m.thread_id.clone(),
            to,
            subject: m.header("Subject").unwrap_or("").to_string(),
            body,
            updated_at,
            in_reply_to: m.header("In-Reply-To").map(str::to_string),
        })
    }
}
