//! Gmail-side mirror operations: what sync asks before fetching, label updates and deletions
//! from the history, drafts bookkeeping, links between messages and contacts, and replies.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::mirror::refresh_threads;
use super::{Result, Store, write_cursors};
use crate::domain::entities::Contact;

/// A message's labels and what its inbound/automated flags are computed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelState {
    /// Current labels.
    pub labels: Vec<String>,
    /// Sender address.
    pub from_email: String,
    /// The headers marked the sender as a machine.
    pub automated_sender: bool,
}

/// A new inbound message answering the operator: the evidence of a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The thread.
    pub thread_id: String,
    /// The inbound message.
    pub message_id: String,
    /// When it arrived.
    pub at: DateTime<Utc>,
    /// Who wrote it.
    pub from_email: String,
}

/// Runs `f` over `ids` in chunks small enough for SQLite's parameter limit.
fn chunked<T>(ids: &[String], mut f: impl FnMut(&[String]) -> Result<Vec<T>>) -> Result<Vec<T>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        out.extend(f(chunk)?);
    }
    Ok(out)
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(",")
}

impl Store {
    /// Which of `ids` a query (`SELECT id FROM … WHERE … id IN (…)`, given up to the `IN`)
    /// finds, in chunks below SQLite's parameter limit.
    fn ids_among(&self, query: &str, ids: &[String]) -> Result<HashSet<String>> {
        let found = chunked(ids, |chunk| {
            let mut st = self
                .conn()
                .prepare(&format!("{query} ({})", placeholders(chunk.len())))?;
            let rows = st.query_map(rusqlite::params_from_iter(chunk), |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })?;
        Ok(found.into_iter().collect())
    }

    /// Which of `ids` are in the mirror.
    pub fn messages_present(&self, ids: &[String]) -> Result<HashSet<String>> {
        self.ids_among("SELECT id FROM messages WHERE id IN", ids)
    }

    /// Which of the thread `ids` the mirror holds.
    pub fn threads_present(&self, ids: &[String]) -> Result<HashSet<String>> {
        self.ids_among("SELECT id FROM threads WHERE id IN", ids)
    }

    /// Which of `ids` were fetched by listing number `listing` (the one under way).
    pub fn messages_in_listing(&self, ids: &[String], listing: i64) -> Result<HashSet<String>> {
        self.ids_among(
            &format!("SELECT id FROM messages WHERE listing = {listing} AND id IN"),
            ids,
        )
    }

    /// Starts a Gmail listing: forgets what an earlier one left pending and writes `cursors`.
    pub fn start_listing(&mut self, cursors: &[(&str, &str, &str)]) -> Result<()> {
        let tx = self.conn_mut().transaction()?;
        tx.execute("DELETE FROM gmail_pending", [])?;
        write_cursors(&tx, cursors)?;
        tx.commit()?;
        Ok(())
    }

    /// Notes listed messages to fetch, `(message id, thread id)`, with the cursors of the page
    /// that listed them, in one transaction.
    pub fn add_pending(&mut self, refs: &[(String, String)], cursors: &[(&str, &str, &str)]) -> Result<()> {
        let tx = self.conn_mut().transaction()?;
        {
            let mut st = tx.prepare_cached(
                "INSERT OR IGNORE INTO gmail_pending(message_id, thread_id) VALUES (?1, ?2)",
            )?;
            for (id, thread) in refs {
                st.execute([id, thread])?;
            }
            write_cursors(&tx, cursors)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Forgets pending messages that need no fetching (the messages behind drafts).
    pub fn drop_pending(&mut self, ids: &[String]) -> Result<()> {
        let tx = self.conn_mut().transaction()?;
        {
            let mut st = tx.prepare_cached("DELETE FROM gmail_pending WHERE message_id = ?1")?;
            for id in ids {
                st.execute([id])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The pending messages of the next `threads` threads, in the order they were listed
    /// (newest mail first): `(message id, thread id)`.
    pub fn pending_threads(&self, threads: usize) -> Result<Vec<(String, String)>> {
        let mut st = self.conn().prepare_cached(
            "SELECT p.message_id, p.thread_id FROM gmail_pending p
               JOIN (SELECT thread_id, min(rowid) AS first FROM gmail_pending GROUP BY thread_id
                     ORDER BY first LIMIT ?1) t ON t.thread_id = p.thread_id
             ORDER BY t.first, p.rowid",
        )?;
        let rows = st.query_map([threads as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Messages listed and not fetched yet.
    pub fn pending_count(&self) -> Result<u64> {
        Ok(self
            .conn()
            .query_row("SELECT count(*) FROM gmail_pending", [], |r| r.get::<_, i64>(0))?
            .max(0) as u64)
    }

    /// The label state of the given messages that are in the mirror.
    pub fn label_states(&self, ids: &[String]) -> Result<HashMap<String, LabelState>> {
        let rows = chunked(ids, |chunk| {
            let mut st = self.conn().prepare(&format!(
                "SELECT id, labels_json, from_email, automated_sender FROM messages WHERE id IN ({})",
                placeholders(chunk.len())
            ))?;
            let rows = st.query_map(rusqlite::params_from_iter(chunk), |r| {
                let labels: String = r.get(1)?;
                Ok((
                    r.get::<_, String>(0)?,
                    LabelState {
                        labels: serde_json::from_str(&labels).unwrap_or_default(),
                        from_email: r.get(2)?,
                        automated_sender: r.get(3)?,
                    },
                ))
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })?;
        Ok(rows.into_iter().collect())
    }

    /// Writes new labels (with the recomputed inbound/automated flags) and, in the same
    /// transaction, the given cursors.
    pub fn update_labels(
        &mut self,
        updates: &[(String, Vec<String>, bool, bool)],
        cursors: &[(&str, &str, &str)],
    ) -> Result<()> {
        let tx = self.conn_mut().transaction()?;
        {
            let mut st = tx.prepare_cached(
                "UPDATE messages SET labels_json = ?2, outbound = ?3, automated = ?4 WHERE id = ?1",
            )?;
            // The address rows carry the flags too (the per-address figures read them).
            let mut addresses = tx.prepare_cached(
                "UPDATE message_addresses SET dir = CASE WHEN ?3 THEN NULL
                     WHEN ?2 AND role <> 'from' THEN 1 WHEN NOT ?2 AND role = 'from' THEN 2 END
                 WHERE message_id = ?1",
            )?;
            for (id, labels, outbound, automated) in updates {
                st.execute(params![id, serde_json::to_string(labels)?, outbound, automated])?;
                addresses.execute(params![id, outbound, automated])?;
            }
            write_cursors(&tx, cursors)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Removes messages (deleted in Gmail, moved to spam or trash, or out of the window after a
    /// listing) with their address links; their threads are recounted and dropped when empty.
    /// Returns how many were in the mirror.
    pub fn remove_messages(&mut self, ids: &[String]) -> Result<usize> {
        let tx = self.conn_mut().transaction()?;
        let mut removed = 0;
        {
            let mut thread_of = tx.prepare_cached("SELECT thread_id FROM messages WHERE id = ?1")?;
            let mut del = tx.prepare_cached("DELETE FROM messages WHERE id = ?1")?;
            let mut unaddress = tx.prepare_cached("DELETE FROM message_addresses WHERE message_id = ?1")?;
            let mut threads = Vec::new();
            for id in ids {
                if let Some(t) = thread_of.query_row([id], |r| r.get::<_, String>(0)).optional()? {
                    threads.push(t);
                }
                removed += del.execute([id])?;
                unaddress.execute([id])?;
            }
            refresh_threads(&tx, threads.iter().map(String::as_str))?;
        }
        tx.commit()?;
        Ok(removed)
    }

    /// Removes every message a completed listing did not refresh (from an earlier listing, or
    /// never fetched by a sync) and then writes the cursors that end the listing. Returns how
    /// many messages went.
    pub fn remove_messages_before_listing(
        &mut self,
        listing: i64,
        cursors: &[(&str, &str, &str)],
    ) -> Result<usize> {
        let ids: Vec<String> = {
            let mut st = self
                .conn()
                .prepare("SELECT id FROM messages WHERE listing IS NULL OR listing < ?1")?;
            let rows = st.query_map([listing], |r| r.get::<_, String>(0))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()?
        };
        let removed = self.remove_messages(&ids)?;
        self.set_cursors(cursors)?;
        Ok(removed)
    }

    /// Every draft in the mirror: draft id → (edited locally by the operator, the Gmail
    /// message id behind it when Gmail has it).
    pub fn draft_states(&self) -> Result<HashMap<String, (bool, Option<String>)>> {
        let mut st = self
            .conn()
            .prepare("SELECT id, origin <> 'gmail', message_id FROM drafts")?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                (r.get::<_, bool>(1)?, r.get::<_, Option<String>>(2)?),
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<HashMap<_, _>>>()?)
    }

    /// Lower-case email addresses of every mirrored HubSpot contact.
    pub fn contact_emails(&self) -> Result<HashSet<String>> {
        let mut st = self
            .conn()
            .prepare("SELECT lower(email) FROM contacts WHERE email IS NOT NULL AND email <> ''")?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<rusqlite::Result<HashSet<_>>>()?)
    }

    /// The HubSpot contacts on a message (sender and recipients), by email address.
    pub fn contacts_of_message(&self, message_id: &str) -> Result<Vec<Contact>> {
        let mut st = self.conn().prepare_cached(
            "SELECT DISTINCT c.* FROM message_addresses a JOIN contacts c ON lower(c.email) = a.email
             WHERE a.message_id = ?1 ORDER BY c.id",
        )?;
        let rows = st.query_map([message_id], super::mirror::contact_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Ids of the messages a contact sent or received, newest first.
    pub fn messages_of_contact(&self, contact_id: &str) -> Result<Vec<String>> {
        let mut st = self.conn().prepare_cached(
            "SELECT DISTINCT m.id, m.at FROM contacts c
               JOIN message_addresses a ON a.email = lower(c.email)
               JOIN messages m ON m.id = a.message_id
             WHERE c.id = ?1 ORDER BY m.at DESC, m.id DESC",
        )?;
        let rows = st.query_map([contact_id], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Replies among the given new messages: inbound, written by a person, after an outbound
    /// message of the operator in the same thread.
    pub fn replies_among(&self, message_ids: &[String]) -> Result<Vec<Reply>> {
        let mut out = Vec::new();
        let mut st = self.conn().prepare_cached(
            "SELECT m.thread_id, m.id, m.at, m.from_email FROM messages m
             WHERE m.id = ?1 AND m.outbound = 0 AND m.automated = 0
               AND EXISTS (SELECT 1 FROM messages o WHERE o.thread_id = m.thread_id AND o.outbound = 1 AND o.at < m.at)",
        )?;
        for id in message_ids {
            if let Some((thread_id, message_id, at, from_email)) = st
                .query_row([id], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get(3)?,
                    ))
                })
                .optional()?
            {
                out.push(Reply {
                    thread_id,
                    message_id,
                    at: super::parse_ts(&at),
                    from_email,
                });
            }
        }
        out.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.message_id.cmp(&b.message_id)));
        Ok(out)
    }

    /// Writes sync cursors on their own (a phase ended with nothing else to store).
    pub fn set_cursors(&mut self, cursors: &[(&str, &str, &str)]) -> Result<()> {
        let tx = self.conn_mut().transaction()?;
        write_cursors(&tx, cursors)?;
        tx.commit()?;
        Ok(())
    }
}
