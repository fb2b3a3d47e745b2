//! Move detection: turns the mirror into candidate moves, each scored and explained.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::aps::{self, ApsWeights, Effort};
use super::entities::{Contact, Deal, Draft, Message, Mirror, MirrorContext, MirrorIndex};
use super::learn::Evidence;
use super::moves::{Move, MoveKind, PrimaryAction, rank};
use super::text::{sanitize_line, truncate_cols};
use super::time::{business_days_between, hours_between, short_age};

mod candidate;

pub use super::decision::{Decision, effective_state};
use candidate::Candidate;

/// Thresholds for the signals, read from `[moves]` in the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectConfig {
    /// Follow up after this many business days without a reply.
    pub follow_up_business_days: i64,
    /// Stop suggesting a follow-up after this many days.
    pub follow_up_max_days: i64,
    /// Unanswered inbound mail older than this stops being a move.
    pub reply_max_age_days: i64,
    /// A deal with no activity for this many days is stale.
    pub stale_deal_days: i64,
    /// A deal closing within this many days is closing soon.
    pub closing_soon_days: i64,
    /// Close dates passed more than this many days ago are ignored.
    pub closing_past_max_days: i64,
    /// Contacts created within this many days can be new leads.
    pub new_lead_days: i64,
    /// Lifecycle stages that make a contact a lead.
    pub new_lead_stages: Vec<String>,
    /// A stage change within this many days is recent.
    pub stage_changed_days: i64,
    /// An executed move with no outcome within this many days is recorded as `no_outcome`.
    #[serde(default = "default_outcome_window_days")]
    pub outcome_window_days: i64,
}

fn default_outcome_window_days() -> i64 {
    14
}

impl DetectConfig {
    /// Checks every threshold; returns `(key, problem)` for the first bad one.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let checks = [
            ("follow_up_business_days", self.follow_up_business_days, 1),
            ("follow_up_max_days", self.follow_up_max_days, 1),
            ("reply_max_age_days", self.reply_max_age_days, 1),
            ("stale_deal_days", self.stale_deal_days, 1),
            ("closing_soon_days", self.closing_soon_days, 0),
            ("closing_past_max_days", self.closing_past_max_days, 0),
            ("new_lead_days", self.new_lead_days, 1),
            ("stage_changed_days", self.stage_changed_days, 1),
            ("outcome_window_days", self.outcome_window_days, 1),
        ];
        for (k, v, min) in checks {
            if v < min || v > 3650 {
                return Err((k.into(), format!("must be between {min} and 3650, got {v}")));
            }
        }
        Ok(())
    }
}

/// Detects, scores and ranks every move in the mirror at `now`. States are all `Open`; the
/// caller applies stored decisions. The learned part is neutral (see [`detect_moves_learned`]).
pub fn detect_moves(m: &Mirror, now: DateTime<Utc>, cfg: &DetectConfig, w: &ApsWeights) -> Vec<Move> {
    detect_moves_learned(m, &Evidence::new(), now, cfg, w)
}

/// [`detect_moves`] with the outcomes learned so far feeding each move's `learned` part.
pub fn detect_moves_learned(
    m: &Mirror,
    learned: &Evidence,
    now: DateTime<Utc>,
    cfg: &DetectConfig,
    w: &ApsWeights,
) -> Vec<Move> {
    let (mut out, _) = detect_with(m, MirrorIndex::new(m), learned, now, cfg, w);
    rank(&mut out);
    out
}

/// Detection over a slice of the mirror (see `Store::load_slice`): the moves of the given
/// detection units (see [`unit_of_key`]), unranked, exactly as [`detect_moves_learned`] over
/// the whole mirror gives them, provided the slice holds everything those units read.
pub fn detect_units(
    m: &Mirror,
    ctx: &MirrorContext,
    units: &HashSet<String>,
    learned: &Evidence,
    now: DateTime<Utc>,
    cfg: &DetectConfig,
    w: &ApsWeights,
) -> (Vec<Move>, HashMap<String, DateTime<Utc>>) {
    let (mut out, mut wakes) = detect_with(m, MirrorIndex::with_context(m, ctx), learned, now, cfg, w);
    out.retain(|mv| unit_of_key(&mv.key).is_some_and(|u| units.contains(&u)));
    wakes.retain(|u, _| units.contains(u));
    (out, wakes)
}

/// Brings the time-dependent features of a move detected earlier to `now` (ages, days to the
/// close date, days overdue or inactive, days since the form), exactly as detection at `now`
/// computes them. What makes a move appear or go at a time is not covered: detection reports
/// those instants as wake-ups (see [`detect_units`]).
pub fn retime_features(
    f: &mut super::aps::Features,
    signal_at: DateTime<Utc>,
    close_at: Option<DateTime<Utc>>,
    form_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) {
    let days = |t: DateTime<Utc>| hours_between(t, now) / 24.0;
    f.age_hours = hours_between(signal_at, now).max(0.0);
    match f.kind {
        MoveKind::ClosingSoon => f.days_to_close = close_at.map(|c| (-days(c)).ceil()),
        MoveKind::OverdueTask => f.overdue_days = Some(days(signal_at).floor()),
        MoveKind::StaleDeal => f.inactive_days = Some(days(signal_at).floor()),
        _ => {}
    }
    f.form_days_ago = form_at.filter(|t| *t <= now).map(|t| days(t).floor());
}

/// The detection unit a move key belongs to: the record whose changes can change the move
/// (`thread:ID`, `deal:ID`, `contact:ID`, `task:ID`, `draft:ID`).
pub fn unit_of_key(key: &str) -> Option<String> {
    let mut parts = key.splitn(3, ':');
    let kind = parts.next()?;
    let entity = parts.next()?;
    let rest = parts.next()?;
    let id = match (kind, entity) {
        ("stage_changed", "deal") => rest.split_once(':').map(|(id, _)| id).unwrap_or(rest),
        _ => rest,
    };
    matches!(entity, "thread" | "deal" | "contact" | "task" | "draft").then(|| format!("{entity}:{id}"))
}

fn detect_with<'a>(
    m: &'a Mirror,
    ix: MirrorIndex<'a>,
    learned: &'a Evidence,
    now: DateTime<Utc>,
    cfg: &'a DetectConfig,
    w: &'a ApsWeights,
) -> (Vec<Move>, HashMap<String, DateTime<Utc>>) {
    let by_move = m
        .drafts
        .iter()
        .filter_map(|d| d.move_key.as_deref().map(|k| (k, d)))
        .collect();
    let mut d = Detector {
        m,
        ix,
        by_move,
        now,
        cfg,
        w,
        learned,
        out: Vec::new(),
        wakes: HashMap::new(),
    };
    d.threads();
    d.deals();
    d.leads();
    d.tasks();
    // Last: a draft not taken by the move it was written for becomes a move of its own.
    d.drafts();
    (d.out, d.wakes)
}

struct Detector<'a> {
    m: &'a Mirror,
    ix: MirrorIndex<'a>,
    /// Drafts CaseyOS wrote, by the move they were written for.
    by_move: HashMap<&'a str, &'a Draft>,
    now: DateTime<Utc>,
    cfg: &'a DetectConfig,
    w: &'a ApsWeights,
    learned: &'a Evidence,
    out: Vec<Move>,
    /// Per detection unit, the next instant at which time alone may change its moves (one
    /// appears or goes): a settle pass re-detects the unit once the clock passes it.
    wakes: HashMap<String, DateTime<Utc>>,
}

/// Keeps the earliest wake-up of `unit` (see [`Detector::wake`]).
fn wake(wakes: &mut HashMap<String, DateTime<Utc>>, now: DateTime<Utc>, unit: &str, at: DateTime<Utc>) {
    if at + Duration::seconds(1) < now {
        return;
    }
    let e = wakes.entry(unit.to_string()).or_insert(at);
    if at < *e {
        *e = at;
    }
}

/// A subject without its `Re:`/`Fwd:` prefixes, for titles (the thread is shown elsewhere).
pub(crate) fn bare_subject(s: &str) -> String {
    let mut t = sanitize_line(s);
    loop {
        let lower = t.to_ascii_lowercase();
        let cut = ["re:", "fwd:", "fw:", "aw:", "sv:"]
            .iter()
            .find(|p| lower.starts_with(*p))
            .map(|p| p.len());
        match cut {
            Some(n) => t = t[n..].trim_start().to_string(),
            None => break,
        }
    }
    if t.is_empty() {
        "(no subject)".to_string()
    } else {
        t
    }
}

fn quote(s: &str, cols: usize) -> String {
    format!("“{}”", truncate_cols(&sanitize_line(s), cols))
}

impl<'a> Detector<'a> {
    fn days(&self, t: DateTime<Utc>) -> f64 {
        hours_between(t, self.now) / 24.0
    }

    /// Notes that `unit`'s moves may change at `at` by time alone. Instants up to a second in
    /// the past still count (timestamps carry milliseconds; ages are counted in seconds).
    fn wake(&mut self, unit: &str, at: DateTime<Utc>) {
        wake(&mut self.wakes, self.now, unit, at);
    }

    fn drafts_by_thread(&self) -> HashMap<&'a str, &'a Draft> {
        let mut map: HashMap<&str, &Draft> = HashMap::new();
        for d in &self.m.drafts {
            if let Some(t) = d.thread_id.as_deref() {
                let e = map.entry(t).or_insert(d);
                if (d.updated_at, &d.id) > (e.updated_at, &e.id) {
                    *e = d;
                }
            }
        }
        map
    }

    /// reply_inbound and follow_up, from the last real message of each thread.
    fn threads(&mut self) {
        let drafts = self.drafts_by_thread();
        let mut thread_ids: Vec<&str> = self.ix.threads.keys().copied().collect();
        thread_ids.sort_unstable();
        for tid in thread_ids {
            let msgs = &self.ix.threads[tid];
            // The last message a person wrote: drafts, auto-replies and notifications don't
            // answer anything and don't need an answer.
            let Some(last) = msgs
                .iter()
                .rev()
                .find(|m| !m.automated && !m.labels.iter().any(|l| l == "DRAFT"))
            else {
                continue;
            };
            let last_inbound = msgs.iter().rev().find(|m| !m.outbound).map(|m| m.at);
            let draft = drafts.get(tid).copied();
            let unit = format!("thread:{tid}");
            if !last.outbound {
                wake(
                    &mut self.wakes,
                    self.now,
                    &unit,
                    last.at + Duration::days(self.cfg.reply_max_age_days),
                );
            } else {
                wake(
                    &mut self.wakes,
                    self.now,
                    &unit,
                    last.at + Duration::days(self.cfg.follow_up_max_days),
                );
                let n = self.cfg.follow_up_business_days;
                if let Some(due) = (1..=n * 2 + 7)
                    .map(|k| last.at + Duration::days(k))
                    .find(|t| business_days_between(last.at, *t) >= n)
                {
                    wake(&mut self.wakes, self.now, &unit, due);
                }
            }
            if !last.outbound {
                if self.days(last.at) > self.cfg.reply_max_age_days as f64 {
                    continue;
                }
                self.reply_inbound(tid, last, msgs.len(), draft, last_inbound);
            } else {
                let bdays = business_days_between(last.at, self.now);
                if bdays < self.cfg.follow_up_business_days
                    || self.days(last.at) > self.cfg.follow_up_max_days as f64
                {
                    continue;
                }
                self.follow_up(tid, last, bdays, draft, last_inbound);
            }
        }
    }

    fn reply_inbound(
        &mut self,
        tid: &str,
        last: &'a Message,
        count: usize,
        draft: Option<&'a Draft>,
        last_inbound: Option<DateTime<Utc>>,
    ) {
        let contact = self.ix.contact_by_email.get(last.from.email.as_str()).copied();
        let subject = bare_subject(&last.subject);
        let (action, effort) = match draft {
            Some(_) => (PrimaryAction::ApproveDraft, Effort::Approve),
            None => (PrimaryAction::ReplyDraft, Effort::Reply),
        };
        let mut c = Candidate::new(
            MoveKind::ReplyInbound,
            format!("reply_inbound:thread:{tid}"),
            action,
            effort,
            last.at,
        );
        c.who_fallback = sanitize_line(last.from.label());
        c.contact = contact;
        c.email = Some(last.from.email.clone());
        c.thread_id = Some(tid.to_string());
        c.draft = draft;
        c.last_inbound_at = last_inbound;
        c.title = format!("Reply: {}", truncate_cols(&subject, 80));
        let draft_note = if draft.is_some() { " · draft ready" } else { "" };
        let size = if count > 1 {
            format!(" ({count} messages)")
        } else {
            String::new()
        };
        c.why = format!(
            "wrote {} ago{size}: {}{draft_note}",
            short_age(last.at, self.now),
            quote(&last.snippet, 60)
        );
        self.push(c);
    }

    fn follow_up(
        &mut self,
        tid: &str,
        last: &'a Message,
        bdays: i64,
        draft: Option<&'a Draft>,
        last_inbound: Option<DateTime<Utc>>,
    ) {
        let recipients: Vec<_> = last.to.iter().chain(last.cc.iter()).collect();
        let contact = recipients
            .iter()
            .find_map(|r| self.ix.contact_by_email.get(r.email.as_str()).copied());
        let Some(first) = recipients.first() else { return };
        let (action, effort) = match draft {
            Some(_) => (PrimaryAction::ApproveDraft, Effort::Approve),
            None => (PrimaryAction::FollowUpDraft, Effort::Reply),
        };
        let mut c = Candidate::new(
            MoveKind::FollowUp,
            format!("follow_up:thread:{tid}"),
            action,
            effort,
            last.at,
        );
        c.who_fallback = sanitize_line(first.label());
        c.email = contact
            .and_then(|c| c.email.clone())
            .or_else(|| Some(first.email.clone()));
        c.contact = contact;
        c.thread_id = Some(tid.to_string());
        c.draft = draft;
        c.last_inbound_at = last_inbound;
        c.title = format!("Follow up: {}", truncate_cols(&bare_subject(&last.subject), 80));
        c.why = format!("you wrote {bdays} business days ago, no reply yet");
        self.push(c);
    }

    /// approve_draft for drafts not already attached to a thread move.
    fn drafts(&mut self) {
        let attached: HashSet<String> = self
            .out
            .iter()
            .filter_map(|m| m.subject.draft_id.clone())
            .collect();
        let mut drafts: Vec<&Draft> = self
            .m
            .drafts
            .iter()
            .filter(|d| !attached.contains(&d.id))
            .collect();
        drafts.sort_by(|a, b| a.id.cmp(&b.id));
        for d in drafts {
            let to = d.to.first();
            let contact = to.and_then(|t| self.ix.contact_by_email.get(t.email.as_str()).copied());
            let mut c = Candidate::new(
                MoveKind::ApproveDraft,
                format!("approve_draft:draft:{}", d.id),
                PrimaryAction::ApproveDraft,
                Effort::Approve,
                d.updated_at,
            );
            c.who_fallback = to
                .map(|t| sanitize_line(t.label()))
                .unwrap_or_else(|| "(no recipient)".into());
            c.email = to.map(|t| t.email.clone());
            c.contact = contact;
            c.thread_id = d.thread_id.clone();
            c.draft = Some(d);
            let subject = bare_subject(&d.subject);
            c.title = format!("Approve draft: {}", truncate_cols(&subject, 80));
            c.why = format!(
                "draft written {} ago: {}",
                short_age(d.updated_at, self.now),
                quote(&d.body, 60)
            );
            self.push(c);
        }
    }

    fn deal_contact(&self, d: &Deal) -> Option<&'a Contact> {
        d.contact_ids
            .iter()
            .filter_map(|id| self.ix.contact_by_id.get(id.as_str()).copied())
            .find(|c| c.email.is_some())
    }

    /// stale_deal, closing_soon and stage_changed.
    fn deals(&mut self) {
        let mut deals: Vec<&'a Deal> = self.m.deals.iter().collect();
        deals.sort_by(|a, b| a.id.cmp(&b.id));
        for d in deals {
            if !self.ix.deal_is_open(d) {
                continue;
            }
            let name = sanitize_line(&d.name);
            let contact = self.deal_contact(d);
            // Last activity: logged activity, notes, or any email with the deal's contacts.
            let mut last = [
                d.last_activity_at,
                self.ix.last_note_by_deal.get(d.id.as_str()).copied(),
            ]
            .into_iter()
            .flatten()
            .max();
            for cid in &d.contact_ids {
                if let Some(e) = self
                    .ix
                    .contact_by_id
                    .get(cid.as_str())
                    .and_then(|c| c.email.as_deref())
                    && let Some(t) = self.ix.last_exchange_by_email.get(e)
                {
                    last = last.max(Some(*t));
                }
            }
            let last = last.or(d.created_at);
            let unit = format!("deal:{}", d.id);
            if let Some(last) = last {
                self.wake(&unit, last + Duration::days(self.cfg.stale_deal_days));
            }
            if let Some(close) = d.close_date {
                self.wake(&unit, close - Duration::days(self.cfg.closing_soon_days));
                self.wake(&unit, close + Duration::days(self.cfg.closing_past_max_days));
            }
            if let Some(entered) = d.stage_entered_at {
                self.wake(&unit, entered);
                self.wake(&unit, entered + Duration::days(self.cfg.stage_changed_days));
            }
            if let Some(last) = last {
                let inactive = self.days(last);
                if inactive >= self.cfg.stale_deal_days as f64 {
                    let (action, effort) = if contact.is_some() {
                        (PrimaryAction::CheckInDraft, Effort::Reply)
                    } else {
                        (PrimaryAction::DealTask, Effort::Task)
                    };
                    let mut c = Candidate::new(
                        MoveKind::StaleDeal,
                        format!("stale_deal:deal:{}", d.id),
                        action,
                        effort,
                        last,
                    );
                    c.title = format!("Revive: {name}");
                    c.why = format!(
                        "no activity for {}{}",
                        aps::plural_days(inactive.floor()),
                        self.stage_text(d)
                    );
                    c.inactive_days = Some(inactive.floor());
                    self.deal_candidate(c, d, contact);
                }
            }
            if let Some(close) = d.close_date {
                let days_to_close = -self.days(close);
                if days_to_close <= self.cfg.closing_soon_days as f64
                    && days_to_close >= -(self.cfg.closing_past_max_days as f64)
                {
                    let mut c = Candidate::new(
                        MoveKind::ClosingSoon,
                        format!("closing_soon:deal:{}", d.id),
                        PrimaryAction::DealTask,
                        Effort::Task,
                        // Stable signal time: when the deal entered the window.
                        close - Duration::days(self.cfg.closing_soon_days),
                    );
                    c.title = format!("Close: {name}");
                    c.why = if days_to_close >= 0.0 {
                        format!(
                            "close date {} (in {}){}",
                            close.format("%a %d %b"),
                            aps::plural_days(days_to_close.ceil()),
                            self.stage_text(d)
                        )
                    } else {
                        format!(
                            "close date passed {} ago — update it or push{}",
                            aps::plural_days(-days_to_close.floor()),
                            self.stage_text(d)
                        )
                    };
                    c.days_to_close = Some(days_to_close.ceil());
                    self.deal_candidate(c, d, contact);
                }
            }
            if let Some(entered) = d.stage_entered_at
                && self.days(entered) <= self.cfg.stage_changed_days as f64
                && entered <= self.now
            {
                let stage = d.stage_id.clone().unwrap_or_default();
                let mut c = Candidate::new(
                    MoveKind::StageChanged,
                    format!("stage_changed:deal:{}:{stage}", d.id),
                    PrimaryAction::NextStepTask,
                    Effort::Task,
                    entered,
                );
                let label = self
                    .ix
                    .stage_of(d)
                    .map(|s| sanitize_line(&s.label))
                    .unwrap_or(stage);
                c.title = format!("Next step: {name}");
                c.why = format!(
                    "moved to {label} {} ago — set the next step",
                    short_age(entered, self.now)
                );
                self.deal_candidate(c, d, contact);
            }
        }
    }

    fn stage_text(&self, d: &Deal) -> String {
        self.ix
            .stage_of(d)
            .map(|s| format!(" · {}", sanitize_line(&s.label)))
            .unwrap_or_default()
    }

    fn deal_candidate(&mut self, mut c: Candidate<'a>, d: &'a Deal, contact: Option<&'a Contact>) {
        c.deal = Some(d);
        c.contact = contact;
        c.email = contact.and_then(|c| c.email.clone());
        c.who_fallback = sanitize_line(&d.name);
        self.push(c);
    }

    /// new_lead: recent leads nobody has written to yet.
    fn leads(&mut self) {
        let mut contacts: Vec<&'a Contact> = self.m.contacts.iter().collect();
        contacts.sort_by(|a, b| a.id.cmp(&b.id));
        let window = self.cfg.new_lead_days as f64;
        for ct in contacts {
            let Some(email) = ct.email.as_deref() else {
                continue;
            };
            if self.ix.emailed.contains(email) {
                continue;
            }
            let unit = format!("contact:{}", ct.id);
            for t in [ct.created_at, ct.recent_conversion_at].into_iter().flatten() {
                self.wake(&unit, t);
                self.wake(&unit, t + Duration::days(self.cfg.new_lead_days));
            }
            let stage_is_lead = ct
                .lifecycle_stage
                .as_deref()
                .is_some_and(|s| self.cfg.new_lead_stages.iter().any(|l| l.eq_ignore_ascii_case(s)));
            let created_recent = ct
                .created_at
                .filter(|t| self.days(*t) <= window && *t <= self.now);
            let form_recent = ct
                .recent_conversion_at
                .filter(|t| self.days(*t) <= window && *t <= self.now);
            let signal = match (stage_is_lead, created_recent, form_recent) {
                (_, _, Some(f)) => f,
                (true, Some(c), None) => c,
                _ => continue,
            };
            let mut c = Candidate::new(
                MoveKind::NewLead,
                format!("new_lead:contact:{}", ct.id),
                PrimaryAction::FirstTouchDraft,
                Effort::FirstTouch,
                signal,
            );
            c.contact = Some(ct);
            c.email = Some(email.to_string());
            c.who_fallback = email.to_string();
            c.deal = self.ix.best_open_deal(ct);
            c.title = format!("First touch: {}", sanitize_line(&ct.display_name()));
            let source = ct
                .recent_conversion_event
                .as_deref()
                .map(|e| format!("submitted {}", quote(e, 40)))
                .unwrap_or_else(|| "new lead".into());
            c.why = format!("{source} {} ago, no outreach yet", short_age(signal, self.now));
            self.push(c);
        }
    }

    /// overdue_task.
    fn tasks(&mut self) {
        let mut tasks: Vec<_> = self.m.tasks.iter().filter(|t| t.is_open()).collect();
        tasks.sort_by(|a, b| a.id.cmp(&b.id));
        for t in tasks {
            if let Some(due) = t.due_at {
                self.wake(&format!("task:{}", t.id), due);
            }
            let Some(due) = t.due_at.filter(|d| *d < self.now) else {
                continue;
            };
            let contact = t
                .contact_ids
                .iter()
                .find_map(|id| self.ix.contact_by_id.get(id.as_str()).copied());
            let deal = t
                .deal_ids
                .iter()
                .find_map(|id| self.ix.deal_by_id.get(id.as_str()).copied());
            let effort = if t.task_type.as_deref() == Some("CALL") {
                Effort::Call
            } else {
                Effort::Task
            };
            let mut c = Candidate::new(
                MoveKind::OverdueTask,
                format!("overdue_task:task:{}", t.id),
                PrimaryAction::CompleteTask,
                effort,
                due,
            );
            c.contact = contact;
            c.email = contact.and_then(|c| c.email.clone());
            c.deal = deal.filter(|d| self.ix.deal_is_open(d));
            c.task_id = Some(t.id.clone());
            c.who_fallback = deal
                .map(|d| sanitize_line(&d.name))
                .unwrap_or_else(|| "(no contact)".into());
            c.high_priority = t.priority.as_deref() == Some("HIGH");
            c.overdue_days = Some(self.days(due).floor());
            c.title = format!("Task: {}", truncate_cols(&sanitize_line(&t.subject), 80));
            c.why = format!(
                "due {} ({} ago)",
                due.format("%a %d %b"),
                short_age(due, self.now)
            );
            self.push(c);
        }
    }
}
