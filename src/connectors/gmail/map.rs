//! Gmail wire resources → mirror entities.

use chrono::{DateTime, Duration, Utc};

use super::body::{message_text, parse_address_list, parse_mailbox};
use super::mime::decode_rfc2047;
use super::wire::{Draft as WireDraft, Message as WireMessage};
use crate::domain::entities::{Draft, Mailbox, Message, MessageRecord};
use crate::domain::text::decode_entities;
use crate::domain::time::parse_timestamp;

/// Labels of bulk mail that never needs an answer.
pub const AUTOMATED_LABELS: &[&str] = &[
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

/// Inbound or outbound, and whether it is machine mail that never needs an answer: from the
/// labels, the sender and what the headers said about the sender. Label changes recompute it.
pub fn classify(
    labels: &[String],
    from_email: &str,
    operator_email: &str,
    automated_sender: bool,
) -> (bool, bool) {
    let outbound =
        labels.iter().any(|l| l == "SENT") || (!operator_email.is_empty() && from_email == operator_email);
    let automated =
        !outbound && (automated_sender || labels.iter().any(|l| AUTOMATED_LABELS.contains(&l.as_str())));
    (outbound, automated)
}

/// Whether the headers alone mark the sender as a machine: a no-reply style address, a
/// mailing-list header, or an auto-reply (RFC 3834).
fn automated_sender(m: &WireMessage, from_email: &str) -> bool {
    let local = from_email.split('@').next().unwrap_or("");
    AUTOMATED_SENDERS.iter().any(|s| local.contains(s))
        || m.header("List-Unsubscribe").is_some()
        || m.header("List-Id").is_some()
        || m.header("Precedence")
            .is_some_and(|p| matches!(p.trim().to_ascii_lowercase().as_str(), "bulk" | "list" | "junk"))
        || m.header("Auto-Submitted")
            .is_some_and(|a| !a.trim().eq_ignore_ascii_case("no"))
}

/// About as much of a body as Gmail's snippets hold, on one line.
fn snippet_of(body: &str) -> String {
    body.split_whitespace()
        .flat_map(|w| [" ", w])
        .skip(1)
        .collect::<String>()
        .chars()
        .take(160)
        .collect()
}

/// A header value with RFC 2047 encoded-words decoded.
fn text_header(m: &WireMessage, name: &str) -> Option<String> {
    m.header(name).map(decode_rfc2047)
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

    fn body(m: &WireMessage, what: &str) -> String {
        match m.payload.as_ref().map(message_text) {
            Some(Ok(text)) => text,
            Some(Err(e)) => format!("[CaseyOS could not decode this {what}: {e}]"),
            None => String::new(),
        }
    }

    /// A message with its threading headers. A body that cannot be decoded is kept as a
    /// visible note instead of failing the whole message.
    pub fn message(&self, m: &WireMessage, fallback_thread: &str) -> Result<MessageRecord, MapError> {
        let unusable = |what: &str| MapError::Unusable {
            id: m.id.clone(),
            what: what.into(),
        };
        let at = self
            .date(m)
            .ok_or_else(|| unusable("no internalDate or Date header"))?;
        let from = text_header(m, "From")
            .as_deref()
            .and_then(parse_mailbox)
            .ok_or_else(|| unusable("no parsable From header"))?;
        let to = text_header(m, "To")
            .map(|h| parse_address_list(&h))
            .unwrap_or_default();
        let cc = text_header(m, "Cc")
            .map(|h| parse_address_list(&h))
            .unwrap_or_default();
        let automated_sender = automated_sender(m, &from.email);
        let (outbound, automated) =
            classify(&m.label_ids, &from.email, &self.operator_email, automated_sender);
        let message = Message {
            id: m.id.clone(),
            thread_id: m.thread_id.clone().unwrap_or_else(|| fallback_thread.to_string()),
            at,
            from,
            to,
            cc,
            subject: text_header(m, "Subject").unwrap_or_default(),
            snippet: String::new(),
            body: Self::body(m, "message body"),
            labels: m.label_ids.clone(),
            message_id_header: m.header("Message-ID").map(|v| v.trim().to_string()),
            outbound,
            automated,
        };
        let mut message = message;
        message.snippet = match m.snippet.as_deref().map(decode_entities) {
            Some(s) if !s.trim().is_empty() => s,
            // Gmail always sends one; other sources may not: the start of the body stands in.
            _ => snippet_of(&message.body),
        };
        Ok(MessageRecord {
            message,
            in_reply_to: m.header("In-Reply-To").map(|v| v.trim().to_string()),
            references: m
                .header("References")
                .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" ")),
            history_id: m.history_id.clone(),
            automated_sender,
            size_estimate: m.size_estimate,
        })
    }

    /// A draft.
    pub fn draft(&self, d: &WireDraft) -> Result<Draft, MapError> {
        let m = &d.message;
        let updated_at = self.date(m).ok_or_else(|| MapError::Unusable {
            id: d.id.clone(),
            what: "draft has no date".into(),
        })?;
        let to: Vec<Mailbox> = text_header(m, "To")
            .map(|h| parse_address_list(&h))
            .unwrap_or_default();
        Ok(Draft {
            id: d.id.clone(),
            thread_id: m.thread_id.clone(),
            to,
            subject: text_header(m, "Subject").unwrap_or_default(),
            body: Self::body(m, "draft"),
            updated_at,
            in_reply_to: m.header("In-Reply-To").map(|v| v.trim().to_string()),
            move_key: None,
        })
    }
}
