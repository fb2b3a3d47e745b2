//! Serde models for Gmail API v1 resources (`users.messages`, `users.threads`, `users.drafts`,
//! `users.getProfile`), matching the JSON Google sends with `format=full`.

use serde::{Deserialize, Serialize};

/// `GET /gmail/v1/users/me/profile`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// The mailbox owner's address: the operator.
    pub email_address: String,
    /// Total messages in the mailbox.
    #[serde(default)]
    pub messages_total: Option<u64>,
    /// Total threads in the mailbox.
    #[serde(default)]
    pub threads_total: Option<u64>,
    /// Current history id (a decimal string), the start point of incremental sync.
    pub history_id: String,
}

/// A thread resource (`threads.get`, `format=full`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Thread {
    /// Thread id.
    pub id: String,
    /// Snippet of the latest message.
    #[serde(default)]
    pub snippet: Option<String>,
    /// History id of the latest change.
    #[serde(default)]
    pub history_id: Option<String>,
    /// Messages, oldest first.
    #[serde(default)]
    pub messages: Vec<Message>,
}

/// A message resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// Message id.
    pub id: String,
    /// The thread it belongs to.
    #[serde(default)]
    pub thread_id: Option<String>,
    /// Labels such as `INBOX`, `SENT`, `DRAFT`, `UNREAD`.
    #[serde(default)]
    pub label_ids: Vec<String>,
    /// Short plain-text excerpt.
    #[serde(default)]
    pub snippet: Option<String>,
    /// History id of the last change to this message.
    #[serde(default)]
    pub history_id: Option<String>,
    /// Milliseconds since the epoch, as a decimal string.
    #[serde(default)]
    pub internal_date: Option<String>,
    /// Parsed MIME tree.
    #[serde(default)]
    pub payload: Option<MessagePart>,
    /// Size in bytes.
    #[serde(default)]
    pub size_estimate: Option<u64>,
    /// RFC 2822 message, base64url (only with `format=raw`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
}

impl Message {
    /// First header with this name (case-insensitive), from the top-level part.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.payload.as_ref().and_then(|p| p.header(name))
    }
}

/// One node of the MIME tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessagePart {
    /// Part id (`""` for the root, `"0"`, `"0.1"`...).
    #[serde(default)]
    pub part_id: Option<String>,
    /// MIME type, e.g. `multipart/alternative`, `text/plain`.
    #[serde(default)]
    pub mime_type: String,
    /// File name for attachments.
    #[serde(default)]
    pub filename: Option<String>,
    /// Headers of this part.
    #[serde(default)]
    pub headers: Vec<Header>,
    /// Body of a leaf part.
    #[serde(default)]
    pub body: Option<PartBody>,
    /// Child parts of a multipart.
    #[serde(default)]
    pub parts: Vec<MessagePart>,
}

impl MessagePart {
    /// First header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }
}

/// A header name/value pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Header name as sent.
    pub name: String,
    /// Header value, already decoded from RFC 2047 by Gmail.
    pub value: String,
}

/// Leaf body: inline `data` (base64url) or an `attachmentId`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartBody {
    /// Attachment id for bodies fetched separately.
    #[serde(default)]
    pub attachment_id: Option<String>,
    /// Body size in bytes.
    #[serde(default)]
    pub size: u64,
    /// Base64url-encoded body bytes.
    #[serde(default)]
    pub data: Option<String>,
}

/// A draft resource (`drafts.get`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Draft {
    /// Draft id (differs from the message id).
    pub id: String,
    /// The draft's message.
    pub message: Message,
}

/// Google's error envelope: `{"error": {"code", "message", "errors": [...], "status"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    /// The error.
    pub error: ErrorBody,
}

/// The body of Google's error envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// HTTP status code.
    pub code: u16,
    /// Human message.
    #[serde(default)]
    pub message: String,
    /// Machine status, e.g. `RESOURCE_EXHAUSTED`.
    #[serde(default)]
    pub status: Option<String>,
    /// Details with `reason` such as `userRateLimitExceeded`.
    #[serde(default)]
    pub errors: Vec<ErrorDetail>,
}

/// One entry of `error.errors`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// e.g. `usageLimits`.
    #[serde(default)]
    pub domain: Option<String>,
    /// e.g. `rateLimitExceeded`.
    #[serde(default)]
    pub reason: Option<String>,
    /// Human message.
    #[serde(default)]
    pub message: Option<String>,
}

/// A message or thread reference as lists and history records give it (`{id, threadId}`,
/// sometimes with `labelIds`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageRef {
    /// Message id.
    pub id: String,
    /// Thread id.
    #[serde(default)]
    pub thread_id: Option<String>,
    /// Labels, where the endpoint includes them (history records do).
    #[serde(default)]
    pub label_ids: Option<Vec<String>>,
}

/// `GET /gmail/v1/users/me/messages`: one page of ids, newest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageList {
    /// Absent when nothing matches.
    #[serde(default)]
    pub messages: Vec<MessageRef>,
    /// Token of the next page; absent on the last.
    #[serde(default)]
    pub next_page_token: Option<String>,
    /// Google's estimate of the total.
    #[serde(default)]
    pub result_size_estimate: Option<u64>,
}

/// `GET /gmail/v1/users/me/history`: one page of changes since a history id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryPage {
    /// Records in ascending order; absent when nothing changed.
    #[serde(default)]
    pub history: Vec<HistoryRecord>,
    /// Token of the next page; absent on the last.
    #[serde(default)]
    pub next_page_token: Option<String>,
    /// The mailbox's current history id: where the next sync starts once every page is in.
    #[serde(default)]
    pub history_id: Option<String>,
}

/// One change of the mailbox.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryRecord {
    /// History id of this change.
    #[serde(default)]
    pub id: String,
    /// Messages added (new mail, sent mail, draft saves).
    #[serde(default)]
    pub messages_added: Vec<HistoryMessage>,
    /// Messages deleted for good.
    #[serde(default)]
    pub messages_deleted: Vec<HistoryMessage>,
    /// Labels added to messages.
    #[serde(default)]
    pub labels_added: Vec<HistoryLabels>,
    /// Labels removed from messages.
    #[serde(default)]
    pub labels_removed: Vec<HistoryLabels>,
}

/// `{message}` in `messagesAdded` / `messagesDeleted`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryMessage {
    /// The message.
    pub message: MessageRef,
}

/// `{message, labelIds}` in `labelsAdded` / `labelsRemoved`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryLabels {
    /// The message.
    pub message: MessageRef,
    /// The labels added or removed.
    #[serde(default)]
    pub label_ids: Vec<String>,
}

/// `GET /gmail/v1/users/me/drafts`: one page of drafts (ids and their message ids).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DraftList {
    /// Absent when there are none.
    #[serde(default)]
    pub drafts: Vec<DraftRef>,
    /// Token of the next page; absent on the last.
    #[serde(default)]
    pub next_page_token: Option<String>,
}

/// A draft in a list: its id and current message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DraftRef {
    /// Draft id.
    pub id: String,
    /// The draft's current message (a new id after every save).
    pub message: MessageRef,
}

/// `GET /gmail/v1/users/me/labels`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LabelList {
    /// System and user labels.
    #[serde(default)]
    pub labels: Vec<Label>,
}

/// A label: `INBOX`, `SENT`, `CATEGORY_PROMOTIONS`, or one of the user's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    /// Label id (what messages carry in `labelIds`).
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// `system` or `user`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// The body of `drafts.create` (`{message}`) and `drafts.update` (`{id, message}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DraftWrite {
    /// The draft id (update only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The message to store in the draft.
    pub message: RawMessage,
}

/// A message given as RFC 2822 bytes: `{raw, threadId?}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawMessage {
    /// The whole message, base64url.
    pub raw: String,
    /// The thread it belongs to (a reply); absent for a new thread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
}

/// The body of `drafts.send`: `{id}` of the draft to send as it stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DraftId {
    /// Draft id.
    pub id: String,
}
