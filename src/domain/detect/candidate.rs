//! Candidates: what each detector fills in, and how a candidate becomes a scored [`Move`].

use chrono::{DateTime, Utc};

use super::Detector;
use crate::domain::aps::{self, DealValue, Effort, Features};
use crate::domain::entities::{Contact, Deal, Draft};
use crate::domain::learn::{self, Segment};
use crate::domain::moves::{Move, MoveKind, MoveState, MoveSubject, PrimaryAction};
use crate::domain::text::sanitize_line;
use crate::domain::time::hours_between;

/// The parts of a move that differ per type; the rest is filled in by [`Detector::push`].
pub(super) struct Candidate<'a> {
    pub(super) kind: MoveKind,
    pub(super) key: String,
    pub(super) title: String,
    pub(super) why: String,
    pub(super) contact: Option<&'a Contact>,
    pub(super) email: Option<String>,
    pub(super) who_fallback: String,
    pub(super) deal: Option<&'a Deal>,
    pub(super) thread_id: Option<String>,
    pub(super) draft: Option<&'a Draft>,
    pub(super) task_id: Option<String>,
    pub(super) action: PrimaryAction,
    pub(super) effort: Effort,
    pub(super) signal_at: DateTime<Utc>,
    pub(super) last_inbound_at: Option<DateTime<Utc>>,
    pub(super) days_to_close: Option<f64>,
    pub(super) overdue_days: Option<f64>,
    pub(super) inactive_days: Option<f64>,
    pub(super) high_priority: bool,
}

impl<'a> Candidate<'a> {
    pub(super) fn new(
        kind: MoveKind,
        key: String,
        action: PrimaryAction,
        effort: Effort,
        signal_at: DateTime<Utc>,
    ) -> Self {
        Candidate {
            kind,
            key,
            title: String::new(),
            why: String::new(),
            contact: None,
            email: None,
            who_fallback: String::new(),
            deal: None,
            thread_id: None,
            draft: None,
            task_id: None,
            action,
            effort,
            signal_at,
            last_inbound_at: None,
            days_to_close: None,
            overdue_days: None,
            inactive_days: None,
            high_priority: false,
        }
    }
}

impl<'a> Detector<'a> {
    fn features(&self, c: &Candidate<'a>, deal: Option<&'a Deal>) -> Features {
        let contact = c.contact;
        let deal_value = deal.map(|d| {
            let stage = self.ix.stage_of(d);
            let next_stage = stage.and_then(|s| {
                self.m
                    .stages
                    .iter()
                    .filter(|n| {
                        n.pipeline_id == s.pipeline_id && !n.is_closed && n.display_order > s.display_order
                    })
                    .min_by_key(|n| n.display_order)
                    .map(|n| (sanitize_line(&n.label), n.probability))
            });
            DealValue {
                name: sanitize_line(&d.name),
                amount: d.amount.unwrap_or(self.ix.typical_deal_amount),
                amount_assumed: d.amount.is_none(),
                probability: stage.map(|s| s.probability).unwrap_or(0.0),
                stage: stage
                    .map(|s| sanitize_line(&s.label))
                    .unwrap_or_else(|| "unknown stage".into()),
                next_stage,
            }
        });
        let company_id = contact
            .and_then(|ct| ct.company_id.clone())
            .or_else(|| deal.and_then(|d| d.company_ids.first().cloned()));
        let company = company_id
            .as_deref()
            .and_then(|id| self.ix.company_by_id.get(id))
            .map(|co| {
                (
                    sanitize_line(co.name.as_deref().unwrap_or("company")),
                    co.employees,
                )
            });
        let email = c.email.as_deref();
        Features {
            kind: c.kind,
            deal: deal_value,
            company,
            pipeline_max_value: self.ix.pipeline_max_value,
            typical_deal_amount: self.ix.typical_deal_amount,
            age_hours: hours_between(c.signal_at, self.now).max(0.0),
            days_to_close: c.days_to_close,
            overdue_days: c.overdue_days,
            inactive_days: c.inactive_days,
            stale_after_days: self.cfg.stale_deal_days as f64,
            closing_window_days: self.cfg.closing_soon_days as f64,
            high_priority: c.high_priority,
            lifecycle: contact.and_then(|ct| ct.lifecycle_stage.clone()),
            form_days_ago: contact
                .and_then(|ct| ct.recent_conversion_at)
                .filter(|t| *t <= self.now)
                .map(|t| self.days(t).floor()),
            replied_before: email.is_some_and(|e| self.ix.replied.contains(e)),
            effort: c.effort,
            learned: learn::learned(
                self.learned,
                c.kind,
                &Segment::of(
                    contact,
                    company_id
                        .as_deref()
                        .and_then(|id| self.ix.company_by_id.get(id).copied()),
                    deal.and_then(|d| d.amount),
                ),
                self.w,
            ),
        }
    }

    pub(super) fn push(&mut self, mut c: Candidate<'a>) {
        // A draft written for this move (from a template) is what `y` approves.
        if c.draft.is_none()
            && let Some(d) = self.by_move.get(c.key.as_str()).copied()
        {
            c.draft = Some(d);
            c.action = PrimaryAction::ApproveDraft;
            c.effort = Effort::Approve;
            c.why = format!("{} · draft ready", c.why);
        }
        // The deal that carries the revenue part, so the detail pane shows where it came from.
        let deal = c
            .deal
            .or_else(|| c.contact.and_then(|ct| self.ix.best_open_deal(ct)));
        let features = self.features(&c, deal);
        let aps = aps::score(&features, self.w);
        let who = c
            .contact
            .map(|ct| sanitize_line(&ct.display_name()))
            .unwrap_or_else(|| c.who_fallback.clone());
        let subject = MoveSubject {
            contact_id: c.contact.map(|ct| ct.id.clone()),
            company_id: features_company_id(c.contact, deal),
            deal_id: deal.map(|d| d.id.clone()),
            thread_id: c.thread_id.clone(),
            draft_id: c.draft.map(|d| d.id.clone()),
            task_id: c.task_id.clone(),
            email: c.email.clone(),
        };
        self.out.push(Move {
            key: c.key,
            kind: c.kind,
            title: sanitize_line(&c.title),
            who,
            why: sanitize_line(&c.why),
            subject,
            action: c.action,
            signal_at: c.signal_at,
            last_inbound_at: c.last_inbound_at,
            aps,
            features: Box::new(features),
            state: MoveState::Open,
        });
    }
}

fn features_company_id(contact: Option<&Contact>, deal: Option<&Deal>) -> Option<String> {
    contact
        .and_then(|c| c.company_id.clone())
        .or_else(|| deal.and_then(|d| d.company_ids.first().cloned()))
}
