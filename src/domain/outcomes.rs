//! Outcomes of executed moves: what happened after the operator acted.
//!
//! A move counts as executed from its first `done` decision still in force (undone decisions
//! are ignored). From then on, for `outcome_window_days`, the mirror is watched for:
//!
//! * `reply_received` — a person's inbound message in the move's thread after our send (a
//!   thread move counts only once an outbound message appeared in the thread at or after its
//!   execution: a draft written by `x`/`y` in draft-only mode sends nothing), or, for moves
//!   without a thread, a message from the move's contact;
//! * `meeting_booked` — the move's deal entered a stage whose label or id says "appointment" or
//!   "meeting" (HubSpot meeting engagements are not mirrored);
//! * `deal_advanced` — the deal moved to a later open stage of its pipeline;
//! * `deal_won` / `deal_lost` — the deal entered a closed stage (won when its probability is at
//!   least 50% or its label says "won");
//! * `no_outcome` — the window passed with none of the above. A window is only **closed** once
//!   every source the move is watched in synced successfully after its deadline (Gmail for a
//!   thread or a person, HubSpot for a deal; see [`Sources`]), so a pass run offline (TUI, stats)
//!   does not mistake unsynced replies for silence. A source with no sync record at all (demo
//!   data) falls back to the clock. A success found later still replaces a `no_outcome`.
//!
//! A move with nothing to watch (no thread, person or deal) is not observable: it gets no
//! outcome at all and is not a learning trial.
//!
//! [`detect_outcomes`] is pure: mirror + executions + outcomes already recorded → new rows.
//! Each outcome is recorded at most once per move, so running it again adds nothing.
//! Where a deal stood when the move was executed is captured in a [`Watch`] the first time the
//! execution is seen; a stage change is only compared against that.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::entities::{Contact, Deal, Message, Mirror, MirrorIndex, Stage};
use super::learn::Segment;
use super::moves::MoveKind;

/// What came of an executed move. The wire names are what Stats counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The person wrote back.
    ReplyReceived,
    /// The deal entered a meeting / appointment stage.
    MeetingBooked,
    /// The deal moved to a later open stage.
    DealAdvanced,
    /// The deal closed won.
    DealWon,
    /// The deal closed lost.
    DealLost,
    /// Nothing within the window.
    NoOutcome,
}

impl Outcome {
    /// Every outcome.
    pub const ALL: [Outcome; 6] = [
        Outcome::ReplyReceived,
        Outcome::MeetingBooked,
        Outcome::DealAdvanced,
        Outcome::DealWon,
        Outcome::DealLost,
        Outcome::NoOutcome,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::ReplyReceived => "reply_received",
            Outcome::MeetingBooked => "meeting_booked",
            Outcome::DealAdvanced => "deal_advanced",
            Outcome::DealWon => "deal_won",
            Outcome::DealLost => "deal_lost",
            Outcome::NoOutcome => "no_outcome",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// Whether the outcome counts as a success for learning (anything but `no_outcome`).
    pub fn is_success(self) -> bool {
        self != Outcome::NoOutcome
    }
}

/// What an executed move was about, captured when it is first seen executed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watch {
    /// The Gmail thread a reply would arrive in.
    pub thread_id: Option<String>,
    /// The deal whose stage is watched.
    pub deal_id: Option<String>,
    /// The person.
    pub contact_id: Option<String>,
    /// The deal's stage at execution (`None` when unknown: it changed before it was seen).
    pub from_stage_id: Option<String>,
    /// The segment the move counts in for learning.
    pub segment: Segment,
}

impl Watch {
    /// Whether anything about the move can be watched: a thread, a person or a deal.
    pub fn is_observable(&self) -> bool {
        self.thread_id.is_some() || self.contact_id.is_some() || self.deal_id.is_some()
    }

    /// Whether the outcome window of a move executed at `executed_at` is closed at `now`: the
    /// deadline passed, and every source this watch looks at synced successfully at or after it
    /// (Gmail for a thread or a person's replies, HubSpot for a deal). An unobservable watch
    /// never closes.
    pub fn window_closed(
        &self,
        executed_at: DateTime<Utc>,
        window_days: i64,
        now: DateTime<Utc>,
        sources: &Sources,
    ) -> bool {
        let deadline = executed_at + Duration::days(window_days);
        if now < deadline || !self.is_observable() {
            return false;
        }
        let gmail = self.thread_id.is_some() || self.contact_id.is_some();
        let hubspot = self.deal_id.is_some();
        (!gmail || sources.gmail.covers(deadline)) && (!hubspot || sources.hubspot.covers(deadline))
    }
}

/// How far one source's mirror is known to be complete, for closing outcome windows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Synced {
    /// The source has no sync record at all (demo data): the clock alone closes a window.
    #[default]
    Unrecorded,
    /// The source syncs; its latest successful sync started at this time (`None`: none ever
    /// succeeded, so no window watched in it closes).
    LastSuccess(Option<DateTime<Utc>>),
}

impl Synced {
    /// Whether everything up to `deadline` is known to be in the mirror.
    pub fn covers(self, deadline: DateTime<Utc>) -> bool {
        match self {
            Synced::Unrecorded => true,
            Synced::LastSuccess(at) => at.is_some_and(|t| t >= deadline),
        }
    }
}

/// The sync state of the sources outcomes are watched in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sources {
    /// Replies (threads, people).
    pub gmail: Synced,
    /// Deal stages.
    pub hubspot: Synced,
}

/// An executed move.
#[derive(Debug, Clone, PartialEq)]
pub struct Execution {
    /// The move's key.
    pub move_key: String,
    /// Its type.
    pub kind: MoveKind,
    /// When the operator executed it (first `done` decision in force).
    pub executed_at: DateTime<Utc>,
    /// What it is about, when already captured.
    pub watch: Option<Watch>,
}

/// An outcome to record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewOutcome {
    /// The move's key.
    pub move_key: String,
    /// Its type.
    pub kind: MoveKind,
    /// What happened.
    pub outcome: Outcome,
    /// When it happened (for `no_outcome`: when the window closed).
    pub outcome_at: DateTime<Utc>,
    /// When the move was executed.
    pub executed_at: DateTime<Utc>,
    /// Message id, stage change, or window.
    pub evidence: serde_json::Value,
}

/// What one pass found: watches to store for newly seen executions, new outcomes, and the
/// `no_outcome` rows a success has since replaced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutcomePass {
    /// `(move key, kind, executed at, watch)` for executions seen for the first time.
    pub watches: Vec<(String, MoveKind, DateTime<Utc>, Watch)>,
    /// Outcomes to record, in a stable order.
    pub outcomes: Vec<NewOutcome>,
    /// Move keys whose recorded `no_outcome` a success (new or already recorded) replaces.
    pub superseded: Vec<String>,
}

impl OutcomePass {
    /// Whether the pass has nothing to store.
    pub fn is_empty(&self) -> bool {
        self.watches.is_empty() && self.outcomes.is_empty() && self.superseded.is_empty()
    }
}

/// The kind of a move key (its first segment).
pub fn kind_of_key(key: &str) -> Option<MoveKind> {
    key.split(':').next().and_then(MoveKind::parse)
}

fn key_part<'k>(key: &'k str, entity: &str) -> Option<&'k str> {
    let mut it = key.split(':');
    it.next()?;
    (it.next()? == entity).then_some(())?;
    it.next().filter(|s| !s.is_empty())
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn looks_like_meeting(s: &Stage) -> bool {
    let text = format!("{} {}", s.id, s.label).to_lowercase();
    text.contains("appointment") || text.contains("meeting")
}

fn is_won(s: &Stage) -> bool {
    let text = format!("{} {}", s.id, s.label).to_lowercase();
    !text.contains("lost") && (s.probability >= 0.5 || text.contains("won"))
}

/// Resolves what an executed move is about from its key and the mirror as it is now.
pub fn watch_for(m: &Mirror, ix: &MirrorIndex<'_>, key: &str, executed_at: DateTime<Utc>) -> Watch {
    let operator = m.operator_email.as_deref().unwrap_or("");
    let mut thread_id = key_part(key, "thread").map(str::to_string);
    let mut deal: Option<&Deal> = key_part(key, "deal").and_then(|d| ix.deal_by_id.get(d).copied());
    let mut contact: Option<&Contact> =
        key_part(key, "contact").and_then(|c| ix.contact_by_id.get(c).copied());
    if let Some(draft) = key_part(key, "draft").and_then(|d| m.drafts.iter().find(|x| x.id == d)) {
        thread_id = thread_id.or_else(|| draft.thread_id.clone());
        contact = contact.or_else(|| {
            draft
                .to
                .iter()
                .find_map(|t| ix.contact_by_email.get(t.email.as_str()).copied())
        });
    }
    if let Some(task) = key_part(key, "task").and_then(|t| m.tasks.iter().find(|x| x.id == t)) {
        deal = deal.or_else(|| {
            task.deal_ids
                .iter()
                .find_map(|d| ix.deal_by_id.get(d.as_str()).copied())
        });
        contact = contact.or_else(|| {
            task.contact_ids
                .iter()
                .find_map(|c| ix.contact_by_id.get(c.as_str()).copied())
        });
    }
    if contact.is_none()
        && let Some(msgs) = thread_id.as_deref().and_then(|t| ix.threads.get(t))
    {
        contact = msgs.iter().find_map(|msg| {
            std::iter::once(&msg.from)
                .chain(msg.to.iter())
                .chain(msg.cc.iter())
                .filter(|b| b.email != operator)
                .find_map(|b| ix.contact_by_email.get(b.email.as_str()).copied())
        });
    }
    if contact.is_none() {
        contact = deal.and_then(|d| {
            d.contact_ids
                .iter()
                .find_map(|c| ix.contact_by_id.get(c.as_str()).copied())
        });
    }
    if deal.is_none() {
        deal = contact.and_then(|c| ix.best_open_deal(c));
    }
    let company = contact
        .and_then(|c| c.company_id.as_deref())
        .or_else(|| deal.and_then(|d| d.company_ids.first().map(String::as_str)))
        .and_then(|id| ix.company_by_id.get(id).copied());
    // The stage now is the stage at execution unless it was entered after it.
    let from_stage_id = deal.and_then(|d| {
        let moved_since = d.stage_entered_at.is_some_and(|t| t > executed_at);
        if moved_since { None } else { d.stage_id.clone() }
    });
    Watch {
        thread_id,
        deal_id: deal.map(|d| d.id.clone()),
        contact_id: contact.map(|c| c.id.clone()),
        from_stage_id,
        segment: Segment::of(contact, company, deal.and_then(|d| d.amount)),
    }
}

/// Finds the outcomes of `executions` not yet in `recorded` (`(move key, outcome)` pairs), at
/// `now`. `no_outcome` is only found for a closed window (see [`Watch::window_closed`]); a
/// success within the window is found even after a `no_outcome` was recorded, and replaces it.
pub fn detect_outcomes(
    m: &Mirror,
    executions: &[Execution],
    recorded: &HashSet<(String, Outcome)>,
    now: DateTime<Utc>,
    window_days: i64,
    sources: &Sources,
) -> OutcomePass {
    let ix = MirrorIndex::new(m);
    let mut pass = OutcomePass::default();
    let mut sorted: Vec<&Execution> = executions.iter().collect();
    sorted.sort_by(|a, b| a.move_key.cmp(&b.move_key));
    for ex in sorted {
        let watch = match &ex.watch {
            Some(w) => w.clone(),
            None => {
                let w = watch_for(m, &ix, &ex.move_key, ex.executed_at);
                pass.watches
                    .push((ex.move_key.clone(), ex.kind, ex.executed_at, w.clone()));
                w
            }
        };
        if !watch.is_observable() {
            continue;
        }
        let has = |o: Outcome| recorded.contains(&(ex.move_key.clone(), o));
        let deadline = ex.executed_at + Duration::days(window_days);
        let in_window = |t: DateTime<Utc>| t > ex.executed_at && t <= deadline && t <= now;
        let mut found: Vec<(Outcome, DateTime<Utc>, serde_json::Value)> = Vec::new();
        if let Some(reply) = first_reply(m, &ix, &watch, ex.executed_at, &in_window) {
            found.push(reply);
        }
        found.extend(deal_outcome(&ix, &watch, now, &in_window));
        let success_before = Outcome::ALL.iter().any(|o| o.is_success() && has(*o));
        let success_now = !found.is_empty();
        for (outcome, at, evidence) in found {
            if has(outcome) {
                continue;
            }
            pass.outcomes.push(NewOutcome {
                move_key: ex.move_key.clone(),
                kind: ex.kind,
                outcome,
                outcome_at: at,
                executed_at: ex.executed_at,
                evidence,
            });
        }
        if has(Outcome::NoOutcome) {
            if success_before || success_now {
                pass.superseded.push(ex.move_key.clone());
            }
        } else if !success_before
            && !success_now
            && watch.window_closed(ex.executed_at, window_days, now, sources)
        {
            pass.outcomes.push(NewOutcome {
                move_key: ex.move_key.clone(),
                kind: ex.kind,
                outcome: Outcome::NoOutcome,
                outcome_at: deadline,
                executed_at: ex.executed_at,
                evidence: serde_json::json!({ "window_days": window_days }),
            });
        }
    }
    pass
}

fn first_reply(
    m: &Mirror,
    ix: &MirrorIndex<'_>,
    w: &Watch,
    executed_at: DateTime<Utc>,
    in_window: &dyn Fn(DateTime<Utc>) -> bool,
) -> Option<(Outcome, DateTime<Utc>, serde_json::Value)> {
    let is_reply = |msg: &&Message| !msg.outbound && !msg.automated && in_window(msg.at);
    let (found, sent) = match w.thread_id.as_deref() {
        Some(t) => {
            // Oldest first: our first send at or after execution, then the first reply to it.
            let msgs = ix.threads.get(t)?;
            let sent = msgs
                .iter()
                .copied()
                .find(|msg| msg.outbound && (msg.at == executed_at || in_window(msg.at)))?;
            let reply = msgs
                .iter()
                .copied()
                .filter(|msg| msg.at > sent.at)
                .find(is_reply)?;
            (reply, Some(sent))
        }
        None => {
            let email = w
                .contact_id
                .as_deref()
                .and_then(|c| ix.contact_by_id.get(c))
                .and_then(|c| c.email.as_deref())?;
            let reply = m
                .messages
                .iter()
                .filter(|msg| msg.from.email == email)
                .filter(is_reply)
                .min_by(|a, b| a.at.cmp(&b.at).then_with(|| a.id.cmp(&b.id)))?;
            (reply, None)
        }
    };
    let mut evidence = serde_json::json!({
        "message_id": found.id,
        "thread_id": found.thread_id,
        "at": stamp(found.at),
    });
    if let Some(sent) = sent {
        evidence["after_sent"] = serde_json::json!(sent.id);
    }
    Some((Outcome::ReplyReceived, found.at, evidence))
}

fn deal_outcome(
    ix: &MirrorIndex<'_>,
    w: &Watch,
    now: DateTime<Utc>,
    in_window: &dyn Fn(DateTime<Utc>) -> bool,
) -> Option<(Outcome, DateTime<Utc>, serde_json::Value)> {
    let deal = ix.deal_by_id.get(w.deal_id.as_deref()?).copied()?;
    let to = ix.stage_of(deal)?;
    if w.from_stage_id.as_deref() == Some(to.id.as_str()) {
        return None;
    }
    // Without a recorded entry time the change is dated when it is seen.
    let at = deal.stage_entered_at.unwrap_or(now);
    if !in_window(at) {
        return None;
    }
    let from = w
        .from_stage_id
        .as_deref()
        .and_then(|s| ix.stage_by_id.get(s).copied());
    let outcome = if to.is_closed {
        if is_won(to) {
            Outcome::DealWon
        } else {
            Outcome::DealLost
        }
    } else if looks_like_meeting(to) {
        Outcome::MeetingBooked
    } else {
        let from = from?;
        if from.pipeline_id != to.pipeline_id || to.display_order <= from.display_order {
            return None;
        }
        Outcome::DealAdvanced
    };
    Some((
        outcome,
        at,
        serde_json::json!({
            "deal_id": deal.id,
            "from_stage": w.from_stage_id,
            "to_stage": to.id,
            "at": stamp(at),
        }),
    ))
}
