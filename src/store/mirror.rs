//! Mirror records: batched upserts (one transaction per batch) and the read model for detection.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};

use super::{Result, Store, parse_ts_opt as parse_ts, ts_opt as ts};
use crate::domain::entities::{
    Company, Contact, Deal, Draft, Mailbox, Message, MessageRecord, Mirror, Note, Stage, Task,
};
use crate::domain::moves::MoveContext;

/// A set of records written atomically: a sync page, or the whole demo data set.
#[derive(Debug, Default, Clone)]
pub struct MirrorBatch {
    /// Contacts with their vendor JSON.
    pub contacts: Vec<(Contact, String)>,
    /// Companies with their vendor JSON.
    pub companies: Vec<(Company, String)>,
    /// Deals with their vendor JSON.
    pub deals: Vec<(Deal, String)>,
    /// Pipelines as (id, label, display order).
    pub pipelines: Vec<(String, String, i64)>,
    /// Stages.
    pub stages: Vec<Stage>,
    /// Tasks with their vendor JSON.
    pub tasks: Vec<(Task, String)>,
    /// Notes with their vendor JSON.
    pub notes: Vec<(Note, String)>,
    /// Messages with their threading headers.
    pub messages: Vec<MessageRecord>,
    /// The Gmail listing these messages were fetched in (sync); `None` for the demo data.
    pub listing: Option<i64>,
    /// Drafts, with the Gmail message id behind each (when known). A draft the operator
    /// edited locally is not overwritten.
    pub drafts: Vec<(Draft, Option<String>)>,
    /// Drafts gone from Gmail (sent or deleted there), removed whoever edited them last.
    pub removed_drafts: Vec<String>,
    /// Gmail threads whose pending fetch (see [`Store::pending_threads`]) this batch settles.
    pub settled_threads: Vec<String>,
    /// The records came without associations (search results): keep the stored ones.
    pub keep_associations: bool,
}

fn req_ts(s: String) -> DateTime<Utc> {
    super::parse_ts(&s)
}

fn mailboxes(json: &str) -> Vec<Mailbox> {
    serde_json::from_str(json).unwrap_or_default()
}

impl Store {
    /// Writes a batch in one transaction: all of it lands or none of it does.
    pub fn apply_batch(&mut self, b: &MirrorBatch) -> Result<()> {
        self.apply_page(b, &[]).map(|_| ())
    }

    /// Writes a batch and moves a sync cursor in the same transaction, so an interrupted sync
    /// resumes exactly after the last page that landed and never leaves half a page.
    ///
    /// Returns how many CRM records (contacts, companies, deals, tasks, notes) are new or differ
    /// from the stored copy.
    pub fn apply_page(&mut self, b: &MirrorBatch, cursors: &[(&str, &str, &str)]) -> Result<usize> {
        // People forgotten with `casey forget` stay forgotten.
        let filtered = self.without_forgotten(b)?;
        let b = filtered.as_ref().unwrap_or(b);
        let tx = self.conn_mut().transaction()?;
        let mut changed = 0;
        for (table, rows) in [
            (
                "contacts",
                b.contacts.iter().map(|(c, raw)| (&c.id, raw)).collect::<Vec<_>>(),
            ),
            (
                "companies",
                b.companies.iter().map(|(c, raw)| (&c.id, raw)).collect(),
            ),
            ("deals", b.deals.iter().map(|(d, raw)| (&d.id, raw)).collect()),
            ("tasks", b.tasks.iter().map(|(t, raw)| (&t.id, raw)).collect()),
            ("notes", b.notes.iter().map(|(n, raw)| (&n.id, raw)).collect()),
        ] {
            if rows.is_empty() {
                continue;
            }
            let mut st = tx.prepare_cached(&format!("SELECT raw FROM {table} WHERE id = ?1"))?;
            for (id, raw) in rows {
                let stored: Option<String> = st.query_row([id], |r| r.get(0)).optional()?;
                if stored.as_deref() != Some(raw.as_str()) {
                    changed += 1;
                }
            }
        }
        super::write_cursors(&tx, cursors)?;
        {
            let mut assoc_del =
                tx.prepare_cached("DELETE FROM associations WHERE from_type = ?1 AND from_id = ?2")?;
            let mut assoc_ins = tx.prepare_cached(
                "INSERT OR IGNORE INTO associations(from_type, from_id, to_type, to_id) VALUES (?1, ?2, ?3, ?4)",
            )?;
            let keep = b.keep_associations;
            let mut link = |from_type: &str, from_id: &str, to: &[(&str, &Vec<String>)]| -> Result<()> {
                if keep {
                    return Ok(());
                }
                assoc_del.execute([from_type, from_id])?;
                for (to_type, ids) in to {
                    for id in ids.iter() {
                        assoc_ins.execute([from_type, from_id, to_type, id.as_str()])?;
                    }
                }
                Ok(())
            };
            let mut st = tx.prepare_cached(
                "INSERT INTO contacts(id, email, first_name, last_name, company_name, company_id, job_title,
                   lifecycle_stage, created_at, updated_at, recent_conversion_at, recent_conversion_event, raw)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
                 ON CONFLICT(id) DO UPDATE SET email = excluded.email, first_name = excluded.first_name,
                   last_name = excluded.last_name, company_name = excluded.company_name,
                   company_id = CASE WHEN ?14 THEN contacts.company_id ELSE excluded.company_id END,
                   job_title = excluded.job_title, lifecycle_stage = excluded.lifecycle_stage,
                   created_at = excluded.created_at, updated_at = excluded.updated_at,
                   recent_conversion_at = excluded.recent_conversion_at,
                   recent_conversion_event = excluded.recent_conversion_event, raw = excluded.raw",
            )?;
            for (c, raw) in &b.contacts {
                st.execute(params![
                    c.id,
                    c.email,
                    c.first_name,
                    c.last_name,
                    c.company_name,
                    c.company_id,
                    c.job_title,
                    c.lifecycle_stage,
                    ts(c.created_at),
                    ts(c.updated_at),
                    ts(c.recent_conversion_at),
                    c.recent_conversion_event,
                    raw,
                    keep
                ])?;
            }
            let mut st = tx.prepare_cached(
                "INSERT OR REPLACE INTO companies(id, name, domain, industry, employees, annual_revenue, lifecycle_stage,
                   updated_at, raw) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for (c, raw) in &b.companies {
                st.execute(params![
                    c.id,
                    c.name,
                    c.domain,
                    c.industry,
                    c.employees.map(|e| e as i64),
                    c.annual_revenue,
                    c.lifecycle_stage,
                    ts(c.updated_at),
                    raw
                ])?;
            }
            let mut st = tx.prepare_cached(
                "INSERT INTO pipelines(id, label, display_order) VALUES (?1, ?2, ?3)
                 ON CONFLICT(id) DO UPDATE SET label = excluded.label, display_order = excluded.display_order",
            )?;
            for (id, label, order) in &b.pipelines {
                st.execute(params![id, label, order])?;
            }
            let mut st = tx.prepare_cached(
                "INSERT INTO stages(id, pipeline_id, label, display_order, probability, is_closed)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(id) DO UPDATE SET pipeline_id = excluded.pipeline_id, label = excluded.label,
                   display_order = excluded.display_order, probability = excluded.probability,
                   is_closed = excluded.is_closed
                 WHERE stages.pipeline_id IS NOT excluded.pipeline_id OR stages.label IS NOT excluded.label
                   OR stages.display_order IS NOT excluded.display_order
                   OR stages.probability IS NOT excluded.probability OR stages.is_closed IS NOT excluded.is_closed",
            )?;
            for s in &b.stages {
                st.execute(params![
                    s.id,
                    s.pipeline_id,
                    s.label,
                    s.display_order,
                    s.probability,
                    s.is_closed
                ])?;
            }
            let mut st = tx.prepare_cached(
                "INSERT OR REPLACE INTO deals(id, name, amount, pipeline_id, stage_id, close_date, created_at, updated_at,
                   last_activity_at, stage_entered_at, raw) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            for (d, raw) in &b.deals {
                st.execute(params![
                    d.id,
                    d.name,
                    d.amount,
                    d.pipeline_id,
                    d.stage_id,
                    ts(d.close_date),
                    ts(d.created_at),
                    ts(d.updated_at),
                    ts(d.last_activity_at),
                    ts(d.stage_entered_at),
                    raw
                ])?;
                link(
                    "deals",
                    &d.id,
                    &[("contacts", &d.contact_ids), ("companies", &d.company_ids)],
                )?;
            }
            let mut st = tx.prepare_cached(
                "INSERT OR REPLACE INTO tasks(id, subject, body, status, priority, task_type, due_at, updated_at, raw)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for (t, raw) in &b.tasks {
                st.execute(params![
                    t.id,
                    t.subject,
                    t.body,
                    t.status,
                    t.priority,
                    t.task_type,
                    ts(t.due_at),
                    ts(t.updated_at),
                    raw
                ])?;
                link(
                    "tasks",
                    &t.id,
                    &[("contacts", &t.contact_ids), ("deals", &t.deal_ids)],
                )?;
            }
            let mut st =
                tx.prepare_cached("INSERT OR REPLACE INTO notes(id, body, at, raw) VALUES (?1, ?2, ?3, ?4)")?;
            for (n, raw) in &b.notes {
                st.execute(params![n.id, n.body, ts(n.at), raw])?;
                link(
                    "notes",
                    &n.id,
                    &[("contacts", &n.contact_ids), ("deals", &n.deal_ids)],
                )?;
            }
            let mut st = tx.prepare_cached(
                "INSERT OR REPLACE INTO messages(id, thread_id, at, from_name, from_email, to_json, cc_json, subject,
                   snippet, body, labels_json, message_id_header, in_reply_to, outbound, automated,
                   references_header, history_id, listing, automated_sender, size_estimate)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
            )?;
            let mut thread = tx.prepare_cached(
                "INSERT INTO threads(id, subject, last_message_at, message_count) VALUES (?1, ?2, ?3, 0)
                 ON CONFLICT(id) DO NOTHING",
            )?;
            let mut unaddress = tx.prepare_cached("DELETE FROM message_addresses WHERE message_id = ?1")?;
            let mut address = tx.prepare_cached(
                "INSERT OR IGNORE INTO message_addresses(message_id, role, email, at, dir) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut touched: Vec<&str> = Vec::new();
            for r in &b.messages {
                let m = &r.message;
                st.execute(params![
                    m.id,
                    m.thread_id,
                    ts(Some(m.at)),
                    m.from.name,
                    m.from.email,
                    serde_json::to_string(&m.to)?,
                    serde_json::to_string(&m.cc)?,
                    m.subject,
                    m.snippet,
                    m.body,
                    serde_json::to_string(&m.labels)?,
                    m.message_id_header,
                    r.in_reply_to,
                    m.outbound,
                    m.automated,
                    r.references,
                    r.history_id,
                    b.listing,
                    r.automated_sender,
                    r.size_estimate.map(|s| s.min(i64::MAX as u64) as i64)
                ])?;
                unaddress.execute([&m.id])?;
                let at = ts(Some(m.at));
                let dir = |role| super::address_dir(role, m.outbound, m.automated);
                address.execute(params![m.id, "from", m.from.email, at, dir("from")])?;
                for (role, list) in [("to", &m.to), ("cc", &m.cc)] {
                    for a in list {
                        address.execute(params![m.id, role, a.email, at, dir(role)])?;
                    }
                }
                thread.execute(params![m.thread_id, m.subject, ts(Some(m.at))])?;
                touched.push(&m.thread_id);
            }
            refresh_threads(&tx, touched)?;
            let mut settle = tx.prepare_cached("DELETE FROM gmail_pending WHERE thread_id = ?1")?;
            for t in &b.settled_threads {
                settle.execute([t])?;
            }
            let mut st = tx.prepare_cached(
                "INSERT INTO drafts(id, thread_id, to_json, subject, body, updated_at, in_reply_to, message_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT(id) DO UPDATE SET thread_id = excluded.thread_id, to_json = excluded.to_json,
                   subject = excluded.subject, body = excluded.body, updated_at = excluded.updated_at,
                   in_reply_to = excluded.in_reply_to, message_id = excluded.message_id
                 WHERE drafts.origin = 'gmail'",
            )?;
            for (d, message_id) in &b.drafts {
                st.execute(params![
                    d.id,
                    d.thread_id,
                    serde_json::to_string(&d.to)?,
                    d.subject,
                    d.body,
                    ts(Some(d.updated_at)),
                    d.in_reply_to,
                    message_id
                ])?;
            }
            let mut drop_draft = tx.prepare_cached("DELETE FROM drafts WHERE id = ?1")?;
            for id in &b.removed_drafts {
                drop_draft.execute([id])?;
            }
        }
        tx.commit()?;
        Ok(changed)
    }

    /// Removes the records of one CRM type that HubSpot no longer has: every stored record not in
    /// `present` and last modified before `before` (anything newer may have been created while
    /// `present` was being listed). Their associations go too. Returns the ids removed.
    pub fn remove_missing(
        &mut self,
        object_type: &str,
        present: &std::collections::HashSet<String>,
        before: DateTime<Utc>,
    ) -> Result<Vec<String>> {
        let (table, modified) = match object_type {
            "contacts" => ("contacts", "updated_at"),
            "companies" => ("companies", "updated_at"),
            "deals" => ("deals", "updated_at"),
            "tasks" => ("tasks", "updated_at"),
            "notes" => ("notes", "at"),
            _ => return Ok(Vec::new()),
        };
        let tx = self.conn_mut().transaction()?;
        let cutoff = super::ts(before);
        let gone: Vec<String> = {
            let mut st = tx.prepare(&format!(
                "SELECT id FROM {table} WHERE {modified} IS NULL OR {modified} < ?1"
            ))?;
            let ids = st.query_map([&cutoff], |r| r.get::<_, String>(0))?;
            ids.collect::<rusqlite::Result<Vec<_>>>()?
                .into_iter()
                .filter(|id| !present.contains(id))
                .collect()
        };
        {
            let mut del = tx.prepare(&format!("DELETE FROM {table} WHERE id = ?1"))?;
            let mut assoc = tx.prepare(
                "DELETE FROM associations WHERE (from_type = ?1 AND from_id = ?2) OR (to_type = ?1 AND to_id = ?2)",
            )?;
            let mut unlink = tx.prepare("UPDATE contacts SET company_id = NULL WHERE company_id = ?1")?;
            for id in &gone {
                del.execute([id])?;
                assoc.execute([object_type, id.as_str()])?;
                if object_type == "companies" {
                    unlink.execute([id])?;
                }
            }
        }
        tx.commit()?;
        Ok(gone)
    }

    /// Stores HubSpot owners (users records belong to), replacing what was there.
    pub fn replace_owners(&mut self, owners: &[(String, Option<String>, String, bool)]) -> Result<()> {
        let tx = self.conn_mut().transaction()?;
        tx.execute("DELETE FROM owners", [])?;
        {
            let mut st =
                tx.prepare("INSERT INTO owners(id, email, name, archived) VALUES (?1, ?2, ?3, ?4)")?;
            for (id, email, name, archived) in owners {
                st.execute(params![id, email, name, archived])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn associations(&self, from_type: &str) -> Result<HashMap<(String, String), Vec<String>>> {
        let mut st = self.conn().prepare_cached(
            "SELECT from_id, to_type, to_id FROM associations WHERE from_type = ?1 ORDER BY to_id",
        )?;
        let mut map: HashMap<(String, String), Vec<String>> = HashMap::new();
        let rows = st.query_map([from_type], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?))
        })?;
        for row in rows {
            let (from, to_type, to) = row?;
            map.entry((from, to_type)).or_default().push(to);
        }
        Ok(map)
    }

    /// Reads everything move detection needs. Message bodies are left empty (detection uses
    /// snippets); [`Store::thread_tail`] reads bodies for display.
    pub fn load_mirror(&self) -> Result<Mirror> {
        let c = self.conn();
        let operator_email = self.setting("operator_email")?;
        let contacts = c
            .prepare("SELECT * FROM contacts ORDER BY id")?
            .query_map([], contact_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let companies = c
            .prepare("SELECT * FROM companies ORDER BY id")?
            .query_map([], company_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let stages = c
            .prepare("SELECT id, pipeline_id, label, display_order, probability, is_closed FROM stages ORDER BY pipeline_id, display_order")?
            .query_map([], stage_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let deal_links = self.associations("deals")?;
        let links = |m: &HashMap<(String, String), Vec<String>>, id: &str, to: &str| {
            m.get(&(id.to_string(), to.to_string()))
                .cloned()
                .unwrap_or_default()
        };
        let mut deals = c
            .prepare("SELECT * FROM deals ORDER BY id")?
            .query_map([], deal_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for d in &mut deals {
            d.contact_ids = links(&deal_links, &d.id, "contacts");
            d.company_ids = links(&deal_links, &d.id, "companies");
        }
        let task_links = self.associations("tasks")?;
        let mut tasks = c
            .prepare("SELECT * FROM tasks ORDER BY id")?
            .query_map([], task_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for t in &mut tasks {
            t.contact_ids = links(&task_links, &t.id, "contacts");
            t.deal_ids = links(&task_links, &t.id, "deals");
        }
        let note_links = self.associations("notes")?;
        let mut notes = c
            .prepare("SELECT id, body, at FROM notes ORDER BY id")?
            .query_map([], |r| {
                Ok(Note {
                    id: r.get(0)?,
                    body: r.get(1)?,
                    at: parse_ts(r.get(2)?),
                    contact_ids: Vec::new(),
                    deal_ids: Vec::new(),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for n in &mut notes {
            n.contact_ids = links(&note_links, &n.id, "contacts");
            n.deal_ids = links(&note_links, &n.id, "deals");
        }
        let messages = c
            .prepare(
                "SELECT id, thread_id, at, from_name, from_email, to_json, cc_json, subject, snippet, '' AS body,
                        labels_json, message_id_header, outbound, automated FROM messages ORDER BY thread_id, at, id",
            )?
            .query_map([], message_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let drafts = self.drafts()?;
        Ok(Mirror {
            operator_email,
            contacts,
            companies,
            deals,
            stages,
            tasks,
            notes,
            messages,
            drafts,
        })
    }

    /// All drafts, newest first.
    pub fn drafts(&self) -> Result<Vec<Draft>> {
        Ok(self
            .conn()
            .prepare("SELECT id, thread_id, to_json, subject, body, updated_at, in_reply_to, move_key FROM drafts ORDER BY updated_at DESC, id")?
            .query_map([], draft_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The last `n` messages of a thread with bodies, oldest first, and the thread's size.
    pub fn thread_tail(&self, thread_id: &str, n: usize) -> Result<(Vec<Message>, usize)> {
        let total: i64 = self.conn().query_row(
            "SELECT count(*) FROM messages WHERE thread_id = ?1",
            [thread_id],
            |r| r.get(0),
        )?;
        let mut msgs = self
            .conn()
            .prepare_cached(
                "SELECT id, thread_id, at, from_name, from_email, to_json, cc_json, subject, snippet, body,
                        labels_json, message_id_header, outbound, automated
                 FROM messages WHERE thread_id = ?1 ORDER BY at DESC, id DESC LIMIT ?2",
            )?
            .query_map(params![thread_id, n as i64], message_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        msgs.reverse();
        Ok((msgs, total as usize))
    }

    /// Everything the detail pane shows about a move's records.
    pub fn move_context(
        &self,
        subject: &crate::domain::moves::MoveSubject,
        messages: usize,
    ) -> Result<MoveContext> {
        let c = self.conn();
        let contact = match &subject.contact_id {
            Some(id) => c
                .query_row("SELECT * FROM contacts WHERE id = ?1", [id], contact_row)
                .optional()?,
            None => None,
        };
        let company_id = subject
            .company_id
            .clone()
            .or_else(|| contact.as_ref().and_then(|c| c.company_id.clone()));
        let company = match &company_id {
            Some(id) => c
                .query_row("SELECT * FROM companies WHERE id = ?1", [id], company_row)
                .optional()?,
            None => None,
        };
        let deal = match &subject.deal_id {
            Some(id) => c
                .query_row("SELECT * FROM deals WHERE id = ?1", [id], deal_row)
                .optional()?,
            None => None,
        };
        let stage = match deal.as_ref().and_then(|d| d.stage_id.clone()) {
            Some(id) => c
                .query_row(
                    "SELECT id, pipeline_id, label, display_order, probability, is_closed FROM stages WHERE id = ?1",
                    [id],
                    stage_row,
                )
                .optional()?,
            None => None,
        };
        let (thread, thread_len) = match &subject.thread_id {
            Some(t) => self.thread_tail(t, messages)?,
            None => (Vec::new(), 0),
        };
        let draft = match &subject.draft_id {
            Some(id) => c
                .query_row(
                    "SELECT id, thread_id, to_json, subject, body, updated_at, in_reply_to, move_key FROM drafts WHERE id = ?1",
                    [id],
                    draft_row,
                )
                .optional()?,
            None => None,
        };
        let task = match &subject.task_id {
            Some(id) => c
                .query_row("SELECT * FROM tasks WHERE id = ?1", [id], task_row)
                .optional()?,
            None => None,
        };
        Ok(MoveContext {
            contact,
            company,
            deal,
            stage,
            thread,
            thread_len,
            draft,
            task,
        })
    }
}

/// Recounts the given threads after their messages changed; threads left empty are removed.
pub(crate) fn refresh_threads<'t>(
    tx: &rusqlite::Transaction<'_>,
    ids: impl IntoIterator<Item = &'t str>,
) -> Result<()> {
    let mut ids: Vec<&str> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    let mut refresh = tx.prepare_cached(
        "UPDATE threads SET
           message_count = (SELECT count(*) FROM messages WHERE thread_id = ?1),
           last_message_at = (SELECT max(at) FROM messages WHERE thread_id = ?1),
           subject = coalesce((SELECT subject FROM messages WHERE thread_id = ?1 ORDER BY at LIMIT 1), subject)
         WHERE id = ?1",
    )?;
    let mut drop_empty = tx.prepare_cached("DELETE FROM threads WHERE id = ?1 AND message_count = 0")?;
    for t in ids {
        refresh.execute([t])?;
        drop_empty.execute([t])?;
    }
    Ok(())
}

pub(crate) fn contact_row(r: &Row<'_>) -> rusqlite::Result<Contact> {
    Ok(Contact {
        id: r.get("id")?,
        email: r.get("email")?,
        first_name: r.get("first_name")?,
        last_name: r.get("last_name")?,
        company_name: r.get("company_name")?,
        company_id: r.get("company_id")?,
        job_title: r.get("job_title")?,
        lifecycle_stage: r.get("lifecycle_stage")?,
        created_at: parse_ts(r.get("created_at")?),
        updated_at: parse_ts(r.get("updated_at")?),
        recent_conversion_at: parse_ts(r.get("recent_conversion_at")?),
        recent_conversion_event: r.get("recent_conversion_event")?,
    })
}

pub(super) fn company_row(r: &Row<'_>) -> rusqlite::Result<Company> {
    Ok(Company {
        id: r.get("id")?,
        name: r.get("name")?,
        domain: r.get("domain")?,
        industry: r.get("industry")?,
        employees: r.get::<_, Option<i64>>("employees")?.map(|e| e.max(0) as u64),
        annual_revenue: r.get("annual_revenue")?,
        lifecycle_stage: r.get("lifecycle_stage")?,
        updated_at: parse_ts(r.get("updated_at")?),
    })
}

pub(super) fn stage_row(r: &Row<'_>) -> rusqlite::Result<Stage> {
    Ok(Stage {
        id: r.get(0)?,
        pipeline_id: r.get(1)?,
        label: r.get(2)?,
        display_order: r.get(3)?,
        probability: r.get(4)?,
        is_closed: r.get(5)?,
    })
}

pub(super) fn deal_row(r: &Row<'_>) -> rusqlite::Result<Deal> {
    Ok(Deal {
        id: r.get("id")?,
        name: r.get("name")?,
        amount: r.get("amount")?,
        pipeline_id: r.get("pipeline_id")?,
        stage_id: r.get("stage_id")?,
        close_date: parse_ts(r.get("close_date")?),
        created_at: parse_ts(r.get("created_at")?),
        updated_at: parse_ts(r.get("updated_at")?),
        last_activity_at: parse_ts(r.get("last_activity_at")?),
        stage_entered_at: parse_ts(r.get("stage_entered_at")?),
        contact_ids: Vec::new(),
        company_ids: Vec::new(),
    })
}

pub(super) fn task_row(r: &Row<'_>) -> rusqlite::Result<Task> {
    Ok(Task {
        id: r.get("id")?,
        subject: r.get("subject")?,
        body: r.get("body")?,
        status: r.get("status")?,
        priority: r.get("priority")?,
        task_type: r.get("task_type")?,
        due_at: parse_ts(r.get("due_at")?),
        updated_at: parse_ts(r.get("updated_at")?),
        contact_ids: Vec::new(),
        deal_ids: Vec::new(),
    })
}

pub(super) fn message_row(r: &Row<'_>) -> rusqlite::Result<Message> {
    let labels: String = r.get(10)?;
    Ok(Message {
        id: r.get(0)?,
        thread_id: r.get(1)?,
        at: req_ts(r.get(2)?),
        from: Mailbox {
            name: r.get(3)?,
            email: r.get(4)?,
        },
        to: mailboxes(&r.get::<_, String>(5)?),
        cc: mailboxes(&r.get::<_, String>(6)?),
        subject: r.get(7)?,
        snippet: r.get(8)?,
        body: r.get(9)?,
        labels: serde_json::from_str(&labels).unwrap_or_default(),
        message_id_header: r.get(11)?,
        outbound: r.get(12)?,
        automated: r.get(13)?,
    })
}

pub(super) fn draft_row(r: &Row<'_>) -> rusqlite::Result<Draft> {
    Ok(Draft {
        id: r.get(0)?,
        thread_id: r.get(1)?,
        to: mailboxes(&r.get::<_, String>(2)?),
        subject: r.get(3)?,
        body: r.get(4)?,
        updated_at: req_ts(r.get(5)?),
        in_reply_to: r.get(6)?,
        move_key: r.get(7)?,
    })
}
