//! Drafts as CaseyOS writes them: a draft from a template lives only in the mirror (id
//! `local-…`) until the operator approves it; the outbox then creates it in Gmail and the row
//! takes Gmail's draft id. What a reply needs to stay in its thread comes from the mirror too.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{Result, Store, parse_ts_opt, ts};
use crate::domain::entities::{Draft, Mailbox};

/// The prefix of a draft id that Gmail has not seen yet.
pub const LOCAL_DRAFT_PREFIX: &str = "local-";

/// Whether a draft id is one CaseyOS made up (not yet in Gmail).
pub fn is_local_draft(id: &str) -> bool {
    id.starts_with(LOCAL_DRAFT_PREFIX)
}

/// A draft with what the mirror knows about its way to Gmail.
#[derive(Debug, Clone, PartialEq)]
pub struct DraftRecord {
    /// The draft as the screens show it.
    pub draft: Draft,
    /// Edited in CaseyOS (or written by it) since Gmail last had it.
    pub edited_here: bool,
    /// The Message-ID CaseyOS gave it (drafts from templates).
    pub message_id_header: Option<String>,
    /// The References chain of the message it answers.
    pub references: Option<String>,
    /// The Gmail message behind the draft as last mirrored (a new one after every save in
    /// Gmail); `None` for drafts only on this machine or not refreshed yet.
    pub gmail_message_id: Option<String>,
}

/// The message a reply answers: the last real message of a thread.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplyTarget {
    /// Its sender.
    pub from: Mailbox,
    /// Its recipients (To), for a follow-up on our own message.
    pub to: Vec<Mailbox>,
    /// Its subject.
    pub subject: String,
    /// Its Message-ID.
    pub message_id_header: Option<String>,
    /// Its References header.
    pub references: Option<String>,
    /// Sent by the operator.
    pub outbound: bool,
}

impl Store {
    /// Stores a draft CaseyOS wrote (its id starts with `local-`); replaces an earlier one with
    /// the same id.
    pub fn insert_local_draft(
        &self,
        d: &Draft,
        message_id_header: &str,
        references: Option<&str>,
    ) -> Result<()> {
        self.conn().execute(
            "INSERT INTO drafts(id, thread_id, to_json, subject, body, updated_at, in_reply_to, origin,
                                move_key, message_id_header, references_header)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'caseyos', ?8, ?9, ?10)
             ON CONFLICT(id) DO UPDATE SET thread_id = excluded.thread_id, to_json = excluded.to_json,
               subject = excluded.subject, body = excluded.body, updated_at = excluded.updated_at,
               in_reply_to = excluded.in_reply_to, move_key = excluded.move_key,
               message_id_header = excluded.message_id_header, references_header = excluded.references_header",
            params![
                d.id,
                d.thread_id,
                serde_json::to_string(&d.to)?,
                d.subject,
                d.body,
                ts(d.updated_at),
                d.in_reply_to,
                d.move_key,
                message_id_header,
                references
            ],
        )?;
        Ok(())
    }

    /// One draft with its bookkeeping.
    pub fn draft_record(&self, id: &str) -> Result<Option<DraftRecord>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT id, thread_id, to_json, subject, body, updated_at, in_reply_to, move_key,
                        origin <> 'gmail', message_id_header, references_header, message_id
                 FROM drafts WHERE id = ?1",
                [id],
                |r| {
                    Ok(DraftRecord {
                        draft: super::mirror::draft_row(r)?,
                        edited_here: r.get(8)?,
                        message_id_header: r.get(9)?,
                        references: r.get(10)?,
                        gmail_message_id: r.get(11)?,
                    })
                },
            )
            .optional()?)
    }

    /// Forgets a draft (discarded before Gmail had it, or gone from Gmail).
    pub fn remove_draft(&self, id: &str) -> Result<bool> {
        Ok(self.conn().execute("DELETE FROM drafts WHERE id = ?1", [id])? > 0)
    }

    /// The last real message of a thread (not a draft, not machine mail), if any.
    pub fn reply_target(&self, thread_id: &str) -> Result<Option<ReplyTarget>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT from_name, from_email, to_json, subject, message_id_header, references_header, outbound
                 FROM messages
                 WHERE thread_id = ?1 AND automated = 0 AND labels_json NOT LIKE '%\"DRAFT\"%'
                 ORDER BY at DESC, id DESC LIMIT 1",
                [thread_id],
                |r| {
                    Ok(ReplyTarget {
                        from: Mailbox {
                            name: r.get(0)?,
                            email: r.get(1)?,
                        },
                        to: serde_json::from_str(&r.get::<_, String>(2)?).unwrap_or_default(),
                        subject: r.get(3)?,
                        message_id_header: r.get(4)?,
                        references: r.get(5)?,
                        outbound: r.get(6)?,
                    })
                },
            )
            .optional()?)
    }

    /// When the newest message from someone else arrived in a thread.
    pub fn last_inbound_at(&self, thread_id: &str) -> Result<Option<DateTime<Utc>>> {
        let at: Option<String> = self.conn().query_row(
            "SELECT max(at) FROM messages WHERE thread_id = ?1 AND outbound = 0
               AND labels_json NOT LIKE '%\"DRAFT\"%'",
            [thread_id],
            |r| r.get(0),
        )?;
        Ok(parse_ts_opt(at))
    }
}
