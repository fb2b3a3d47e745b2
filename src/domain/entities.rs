//! The mirrored records, in the operator's terms, independent of any vendor's wire format.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A person in the CRM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    /// HubSpot id.
    pub id: String,
    /// Lower-cased primary email address.
    pub email: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Free-text company name from the contact record.
    pub company_name: Option<String>,
    /// Associated company id (the primary one).
    pub company_id: Option<String>,
    /// Job title.
    pub job_title: Option<String>,
    /// HubSpot lifecycle stage (`lead`, `customer`, ...).
    pub lifecycle_stage: Option<String>,
    /// When the record was created.
    pub created_at: Option<DateTime<Utc>>,
    /// Last modification in HubSpot.
    pub updated_at: Option<DateTime<Utc>>,
    /// Most recent form submission.
    pub recent_conversion_at: Option<DateTime<Utc>>,
    /// Name of that form.
    pub recent_conversion_event: Option<String>,
}

impl Contact {
    /// "First Last", falling back to the email address or the id.
    pub fn display_name(&self) -> String {
        let name = [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .filter(|s| !s.trim().is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if !name.is_empty() {
            name
        } else if let Some(e) = &self.email {
            e.clone()
        } else {
            format!("contact {}", self.id)
        }
    }
}

/// An organisation in the CRM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Company {
    /// HubSpot id.
    pub id: String,
    /// Company name.
    pub name: Option<String>,
    /// Web domain.
    pub domain: Option<String>,
    /// Industry label.
    pub industry: Option<String>,
    /// Head count.
    pub employees: Option<u64>,
    /// Annual revenue in the account currency.
    pub annual_revenue: Option<f64>,
    /// Lifecycle stage of the company.
    pub lifecycle_stage: Option<String>,
    /// Last modification in HubSpot.
    pub updated_at: Option<DateTime<Utc>>,
}

/// A pipeline stage with the probability the operator's CRM assigns to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    /// Stage id (a deal's `dealstage`).
    pub id: String,
    /// Pipeline the stage belongs to.
    pub pipeline_id: String,
    /// Human label.
    pub label: String,
    /// Order within the pipeline.
    pub display_order: i64,
    /// Win probability 0..=1.
    pub probability: f64,
    /// Closed won or closed lost.
    pub is_closed: bool,
}

/// An opportunity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deal {
    /// HubSpot id.
    pub id: String,
    /// Deal name.
    pub name: String,
    /// Amount in the account currency.
    pub amount: Option<f64>,
    /// Pipeline id.
    pub pipeline_id: Option<String>,
    /// Current stage id.
    pub stage_id: Option<String>,
    /// Expected close date.
    pub close_date: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: Option<DateTime<Utc>>,
    /// Last modification in HubSpot.
    pub updated_at: Option<DateTime<Utc>>,
    /// Last logged activity (`notes_last_updated`).
    pub last_activity_at: Option<DateTime<Utc>>,
    /// When the deal entered its current stage.
    pub stage_entered_at: Option<DateTime<Utc>>,
    /// Associated contact ids.
    pub contact_ids: Vec<String>,
    /// Associated company ids.
    pub company_ids: Vec<String>,
}

/// A CRM task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// HubSpot id.
    pub id: String,
    /// Subject line.
    pub subject: String,
    /// Body (plain text).
    pub body: Option<String>,
    /// `NOT_STARTED`, `IN_PROGRESS`, `WAITING`, `COMPLETED`, `DEFERRED`.
    pub status: String,
    /// `HIGH`, `MEDIUM`, `LOW`.
    pub priority: Option<String>,
    /// `EMAIL`, `CALL`, `TODO`.
    pub task_type: Option<String>,
    /// Due time.
    pub due_at: Option<DateTime<Utc>>,
    /// Last modification.
    pub updated_at: Option<DateTime<Utc>>,
    /// Associated contacts.
    pub contact_ids: Vec<String>,
    /// Associated deals.
    pub deal_ids: Vec<String>,
}

impl Task {
    /// Whether the task still needs doing.
    pub fn is_open(&self) -> bool {
        !self.status.eq_ignore_ascii_case("COMPLETED")
    }
}

/// A CRM note (logged activity).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Note {
    /// HubSpot id.
    pub id: String,
    /// Plain-text body.
    pub body: String,
    /// When the activity happened.
    pub at: Option<DateTime<Utc>>,
    /// Associated contacts.
    pub contact_ids: Vec<String>,
    /// Associated deals.
    pub deal_ids: Vec<String>,
}

/// An email address with an optional display name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mailbox {
    /// Display name, if any.
    pub name: Option<String>,
    /// Lower-cased address.
    pub email: String,
}

impl Mailbox {
    /// The display name, or the address.
    pub fn label(&self) -> &str {
        self.name
            .as_deref()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or(&self.email)
    }
}

/// One email message in the mirror.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Gmail message id.
    pub id: String,
    /// Gmail thread id.
    pub thread_id: String,
    /// When Gmail received or sent it.
    pub at: DateTime<Utc>,
    /// Sender.
    pub from: Mailbox,
    /// Recipients.
    pub to: Vec<Mailbox>,
    /// Carbon copies.
    pub cc: Vec<Mailbox>,
    /// Subject header.
    pub subject: String,
    /// Gmail snippet.
    pub snippet: String,
    /// Decoded plain-text body.
    pub body: String,
    /// Gmail labels.
    pub labels: Vec<String>,
    /// RFC 2822 Message-ID header.
    pub message_id_header: Option<String>,
    /// Sent by the operator.
    pub outbound: bool,
    /// Bulk or machine mail (promotions, updates, no-reply senders) that never needs an answer.
    pub automated: bool,
}

/// A message as the mirror stores it: the domain view plus the threading headers a reply in
/// thread needs and what sync keeps track of.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRecord {
    /// The message.
    pub message: Message,
    /// `In-Reply-To` header.
    pub in_reply_to: Option<String>,
    /// `References` header.
    pub references: Option<String>,
    /// Gmail history id of its last change.
    pub history_id: Option<String>,
    /// The headers alone mark the sender as a machine (no-reply address, `List-Unsubscribe`).
    pub automated_sender: bool,
    /// Gmail's size estimate in bytes.
    pub size_estimate: Option<u64>,
}

impl MessageRecord {
    /// A record with only the `In-Reply-To` header (demo data, tests).
    pub fn new(message: Message, in_reply_to: Option<String>) -> MessageRecord {
        MessageRecord {
            message,
            in_reply_to,
            references: None,
            history_id: None,
            automated_sender: false,
            size_estimate: None,
        }
    }
}

/// A draft waiting in Gmail or created by CaseyOS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Draft {
    /// Gmail draft id.
    pub id: String,
    /// Thread the draft replies in (Gmail assigns one even to new drafts).
    pub thread_id: Option<String>,
    /// Recipients.
    pub to: Vec<Mailbox>,
    /// Subject.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
    /// When the draft was last written.
    pub updated_at: DateTime<Utc>,
    /// Message-ID the draft replies to.
    pub in_reply_to: Option<String>,
    /// The move CaseyOS wrote it for (a draft from a template); `None` for drafts found in Gmail.
    #[serde(default)]
    pub move_key: Option<String>,
}

/// Everything move detection needs, loaded from the mirror in one read.
#[derive(Debug, Clone, Default)]
pub struct Mirror {
    /// The operator's own address (lower-case), to tell inbound from outbound.
    pub operator_email: Option<String>,
    /// Contacts.
    pub contacts: Vec<Contact>,
    /// Companies.
    pub companies: Vec<Company>,
    /// Deals.
    pub deals: Vec<Deal>,
    /// Pipeline stages.
    pub stages: Vec<Stage>,
    /// Tasks.
    pub tasks: Vec<Task>,
    /// Notes.
    pub notes: Vec<Note>,
    /// Messages, any order.
    pub messages: Vec<Message>,
    /// Drafts.
    pub drafts: Vec<Draft>,
}

/// What a slice of the mirror cannot compute from its own records: figures over the whole
/// mirror, read with indexed queries (see `Store::load_slice`), so detection over a few
/// threads or deals gives exactly what detection over everything gives for them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MirrorContext {
    /// Mail figures per address, over every message of the mirror.
    pub email_stats: HashMap<String, EmailStats>,
    /// Latest note time per deal, over every note.
    pub last_note_by_deal: HashMap<String, DateTime<Utc>>,
    /// Revenue scale over every open deal (see [`MirrorIndex::pipeline_max_value`]).
    pub pipeline_max_value: f64,
    /// Median open deal amount over every open deal.
    pub typical_deal_amount: f64,
}

/// Mail figures for one address (non-automated messages only).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EmailStats {
    /// Latest message either way.
    pub last_exchange: Option<DateTime<Utc>>,
    /// The operator wrote to it.
    pub emailed: bool,
    /// It wrote to the operator.
    pub replied: bool,
}

/// The revenue scale and the typical deal over open deals given as (amount, probability):
/// the median positive amount, and the largest amount × probability (a deal without an amount
/// counts as a typical one).
pub fn pipeline_scale(open: &[(Option<f64>, f64)]) -> (f64, f64) {
    let mut amounts: Vec<f64> = open
        .iter()
        .filter_map(|(a, _)| a.filter(|a| a.is_finite() && *a > 0.0))
        .collect();
    amounts.sort_by(f64::total_cmp);
    let typical_deal_amount = amounts.get(amounts.len() / 2).copied().unwrap_or(10_000.0);
    let pipeline_max_value = open
        .iter()
        .map(|(a, p)| {
            a.filter(|a| a.is_finite() && *a > 0.0)
                .unwrap_or(typical_deal_amount)
                * p
        })
        .fold(0.0_f64, f64::max);
    // With no open deal at all, one typical deal is the scale.
    let pipeline_max_value = if pipeline_max_value > 0.0 {
        pipeline_max_value
    } else {
        typical_deal_amount
    };
    (pipeline_max_value, typical_deal_amount)
}

/// Lookup tables over a [`Mirror`], built once per detection run.
pub struct MirrorIndex<'a> {
    /// Contacts by id.
    pub contact_by_id: HashMap<&'a str, &'a Contact>,
    /// Contacts by lower-case email.
    pub contact_by_email: HashMap<&'a str, &'a Contact>,
    /// Companies by id.
    pub company_by_id: HashMap<&'a str, &'a Company>,
    /// Deals by id.
    pub deal_by_id: HashMap<&'a str, &'a Deal>,
    /// Stages by id.
    pub stage_by_id: HashMap<&'a str, &'a Stage>,
    /// Messages grouped by thread, oldest first.
    pub threads: HashMap<&'a str, Vec<&'a Message>>,
    /// Latest message time (either direction, non-automated) per contact email.
    pub last_exchange_by_email: HashMap<&'a str, DateTime<Utc>>,
    /// Emails the operator ever wrote to.
    pub emailed: std::collections::HashSet<&'a str>,
    /// Emails that ever wrote to the operator.
    pub replied: std::collections::HashSet<&'a str>,
    /// Open deals by contact id.
    pub open_deals_by_contact: HashMap<&'a str, Vec<&'a Deal>>,
    /// Open deals by company id.
    pub open_deals_by_company: HashMap<&'a str, Vec<&'a Deal>>,
    /// Latest note time per deal.
    pub last_note_by_deal: HashMap<&'a str, DateTime<Utc>>,
    /// Largest expected value (amount × probability) of an open deal: the revenue scale.
    pub pipeline_max_value: f64,
    /// Median amount of open deals, used to value a contact with no deal.
    pub typical_deal_amount: f64,
}

impl<'a> MirrorIndex<'a> {
    /// Builds the indexes.
    pub fn new(m: &'a Mirror) -> Self {
        let contact_by_id = m.contacts.iter().map(|c| (c.id.as_str(), c)).collect();
        let contact_by_email = m
            .contacts
            .iter()
            .filter_map(|c| c.email.as_deref().map(|e| (e, c)))
            .collect();
        let company_by_id = m.companies.iter().map(|c| (c.id.as_str(), c)).collect();
        let deal_by_id = m.deals.iter().map(|d| (d.id.as_str(), d)).collect();
        let stage_by_id: HashMap<&str, &Stage> = m.stages.iter().map(|s| (s.id.as_str(), s)).collect();
        let mut threads: HashMap<&str, Vec<&Message>> = HashMap::new();
        let mut last_exchange_by_email: HashMap<&str, DateTime<Utc>> = HashMap::new();
        let mut emailed = std::collections::HashSet::new();
        let mut replied = std::collections::HashSet::new();
        for msg in &m.messages {
            threads.entry(msg.thread_id.as_str()).or_default().push(msg);
            if msg.automated {
                continue;
            }
            let people: Vec<&str> = if msg.outbound {
                msg.to
                    .iter()
                    .chain(msg.cc.iter())
                    .map(|b| b.email.as_str())
                    .collect()
            } else {
                vec![msg.from.email.as_str()]
            };
            for p in people {
                let e = last_exchange_by_email.entry(p).or_insert(msg.at);
                if msg.at > *e {
                    *e = msg.at;
                }
                if msg.outbound {
                    emailed.insert(p);
                } else {
                    replied.insert(p);
                }
            }
        }
        for msgs in threads.values_mut() {
            msgs.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.id.cmp(&b.id)));
        }
        let is_open = |d: &Deal| {
            d.stage_id
                .as_deref()
                .and_then(|s| stage_by_id.get(s))
                .map(|s| !s.is_closed)
                .unwrap_or(true)
        };
        let mut open_deals_by_contact: HashMap<&str, Vec<&Deal>> = HashMap::new();
        let mut open_deals_by_company: HashMap<&str, Vec<&Deal>> = HashMap::new();
        let mut open_amounts = Vec::new();
        for d in m.deals.iter().filter(|d| is_open(d)) {
            for c in &d.contact_ids {
                open_deals_by_contact.entry(c.as_str()).or_default().push(d);
            }
            for c in &d.company_ids {
                open_deals_by_company.entry(c.as_str()).or_default().push(d);
            }
            let p = d
                .stage_id
                .as_deref()
                .and_then(|s| stage_by_id.get(s))
                .map(|s| s.probability)
                .unwrap_or(0.0);
            open_amounts.push((d.amount, p));
        }
        // Deals without an amount count as a typical deal, here and in the revenue part, so a
        // CRM without amounts still ranks people with open deals above people without.
        let (pipeline_max_value, typical_deal_amount) = pipeline_scale(&open_amounts);
        let mut last_note_by_deal: HashMap<&str, DateTime<Utc>> = HashMap::new();
        for n in &m.notes {
            let Some(at) = n.at else { continue };
            for d in &n.deal_ids {
                let e = last_note_by_deal.entry(d.as_str()).or_insert(at);
                if at > *e {
                    *e = at;
                }
            }
        }
        MirrorIndex {
            contact_by_id,
            contact_by_email,
            company_by_id,
            deal_by_id,
            stage_by_id,
            threads,
            last_exchange_by_email,
            emailed,
            replied,
            open_deals_by_contact,
            open_deals_by_company,
            last_note_by_deal,
            pipeline_max_value,
            typical_deal_amount,
        }
    }

    /// Indexes over a slice of the mirror, with the figures over the whole mirror taken from
    /// `ctx` instead of from the slice's own messages, notes and deals.
    pub fn with_context(m: &'a Mirror, ctx: &'a MirrorContext) -> Self {
        let mut ix = MirrorIndex::new(m);
        ix.last_exchange_by_email.clear();
        ix.emailed.clear();
        ix.replied.clear();
        for (email, st) in &ctx.email_stats {
            if let Some(t) = st.last_exchange {
                ix.last_exchange_by_email.insert(email.as_str(), t);
            }
            if st.emailed {
                ix.emailed.insert(email.as_str());
            }
            if st.replied {
                ix.replied.insert(email.as_str());
            }
        }
        ix.last_note_by_deal = ctx
            .last_note_by_deal
            .iter()
            .map(|(d, t)| (d.as_str(), *t))
            .collect();
        ix.pipeline_max_value = ctx.pipeline_max_value;
        ix.typical_deal_amount = ctx.typical_deal_amount;
        ix
    }

    /// The stage of a deal, if known.
    pub fn stage_of(&self, d: &Deal) -> Option<&'a Stage> {
        d.stage_id
            .as_deref()
            .and_then(|s| self.stage_by_id.get(s).copied())
    }

    /// Whether a deal is still open (unknown stages count as open).
    pub fn deal_is_open(&self, d: &Deal) -> bool {
        self.stage_of(d).map(|s| !s.is_closed).unwrap_or(true)
    }

    /// The most valuable open deal (amount × probability) for a contact or its company.
    pub fn best_open_deal(&self, contact: &Contact) -> Option<&'a Deal> {
        let by_contact = self.open_deals_by_contact.get(contact.id.as_str());
        let by_company = contact
            .company_id
            .as_deref()
            .and_then(|c| self.open_deals_by_company.get(c));
        by_contact
            .into_iter()
            .chain(by_company)
            .flatten()
            .copied()
            .max_by(|a, b| {
                self.expected_value(a)
                    .total_cmp(&self.expected_value(b))
                    .then_with(|| b.id.cmp(&a.id))
            })
    }

    /// amount × stage probability.
    pub fn expected_value(&self, d: &Deal) -> f64 {
        d.amount.unwrap_or(0.0) * self.stage_of(d).map(|s| s.probability).unwrap_or(0.0)
    }
}
