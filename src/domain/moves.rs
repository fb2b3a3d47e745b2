//! Moves: the candidate next actions shown on Today's Moves, and their decision states.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::aps::{Aps, Features};

/// The eight kinds of move (see PRODUCT.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MoveKind {
    /// The last message in a thread is from the contact and unanswered.
    ReplyInbound,
    /// A draft awaits approval.
    ApproveDraft,
    /// We wrote N business days ago and heard nothing.
    FollowUp,
    /// An open deal has gone quiet.
    StaleDeal,
    /// An open deal's close date is near or past.
    ClosingSoon,
    /// A new lead with no outreach yet.
    NewLead,
    /// A CRM task is past due.
    OverdueTask,
    /// A deal moved stage recently.
    StageChanged,
}

impl MoveKind {
    /// All kinds, in display order.
    pub const ALL: [MoveKind; 8] = [
        MoveKind::ReplyInbound,
        MoveKind::ApproveDraft,
        MoveKind::FollowUp,
        MoveKind::StaleDeal,
        MoveKind::ClosingSoon,
        MoveKind::NewLead,
        MoveKind::OverdueTask,
        MoveKind::StageChanged,
    ];

    /// The wire name (`reply_inbound`...), also the first segment of a move key.
    pub fn as_str(self) -> &'static str {
        match self {
            MoveKind::ReplyInbound => "reply_inbound",
            MoveKind::ApproveDraft => "approve_draft",
            MoveKind::FollowUp => "follow_up",
            MoveKind::StaleDeal => "stale_deal",
            MoveKind::ClosingSoon => "closing_soon",
            MoveKind::NewLead => "new_lead",
            MoveKind::OverdueTask => "overdue_task",
            MoveKind::StageChanged => "stage_changed",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<MoveKind> {
        MoveKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Short label for the list column.
    pub fn label(self) -> &'static str {
        match self {
            MoveKind::ReplyInbound => "reply",
            MoveKind::ApproveDraft => "approve",
            MoveKind::FollowUp => "follow-up",
            MoveKind::StaleDeal => "stale deal",
            MoveKind::ClosingSoon => "closing",
            MoveKind::NewLead => "new lead",
            MoveKind::OverdueTask => "overdue",
            MoveKind::StageChanged => "stage",
        }
    }
}

impl std::fmt::Display for MoveKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What executing the move does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrimaryAction {
    /// Write (or approve) a reply draft in the thread.
    ReplyDraft,
    /// Approve the draft: send it, or push it to Gmail drafts in draft-only mode.
    ApproveDraft,
    /// Follow-up draft in the same thread.
    FollowUpDraft,
    /// Check-in draft to the deal's contact.
    CheckInDraft,
    /// Create a HubSpot task for the deal.
    DealTask,
    /// First-touch draft from a template.
    FirstTouchDraft,
    /// Complete the HubSpot task.
    CompleteTask,
    /// Create the next-step task for the new stage.
    NextStepTask,
}

impl PrimaryAction {
    /// What the `x` key will do, in the operator's words.
    pub fn label(&self) -> &'static str {
        match self {
            PrimaryAction::ReplyDraft => "draft a reply in the thread",
            PrimaryAction::ApproveDraft => "approve the draft",
            PrimaryAction::FollowUpDraft => "draft a follow-up in the thread",
            PrimaryAction::CheckInDraft => "draft a check-in",
            PrimaryAction::DealTask => "create a HubSpot task for the deal",
            PrimaryAction::FirstTouchDraft => "draft a first touch",
            PrimaryAction::CompleteTask => "complete the HubSpot task",
            PrimaryAction::NextStepTask => "create the next-step task",
        }
    }
}

/// The records a move is about (any may be absent).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveSubject {
    /// Contact id.
    pub contact_id: Option<String>,
    /// Company id.
    pub company_id: Option<String>,
    /// Deal id.
    pub deal_id: Option<String>,
    /// Gmail thread id.
    pub thread_id: Option<String>,
    /// Gmail draft id.
    pub draft_id: Option<String>,
    /// HubSpot task id.
    pub task_id: Option<String>,
    /// Email address of the person (also for senders not in the CRM).
    pub email: Option<String>,
}

/// Where a move stands after the operator's decisions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum MoveState {
    /// Waiting for a decision.
    Open,
    /// The operator committed to it.
    Accepted,
    /// Set aside, with an optional reason.
    Skipped {
        /// Why, in the operator's words.
        reason: Option<String>,
    },
    /// Hidden until a time or until the person replies.
    Snoozed {
        /// Wake-up time, if snoozed by date.
        until: Option<DateTime<Utc>>,
        /// Snoozed until a reply arrives in the thread.
        until_reply: bool,
    },
    /// Executed, or resolved by the world.
    Done,
}

impl MoveState {
    /// The wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            MoveState::Open => "open",
            MoveState::Accepted => "accepted",
            MoveState::Skipped { .. } => "skipped",
            MoveState::Snoozed { .. } => "snoozed",
            MoveState::Done => "done",
        }
    }

    /// Whether the move belongs on Today's Moves.
    pub fn is_actionable(&self) -> bool {
        matches!(self, MoveState::Open | MoveState::Accepted)
    }
}

/// One candidate action.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Move {
    /// Stable identity: `type:entity-ids`, survives re-ranking and restarts.
    pub key: String,
    /// Move type.
    pub kind: MoveKind,
    /// One-line title (already sanitized).
    pub title: String,
    /// Who it is about (already sanitized).
    pub who: String,
    /// One-line reason (already sanitized).
    pub why: String,
    /// The records involved.
    pub subject: MoveSubject,
    /// What `x` does.
    pub action: PrimaryAction,
    /// When the underlying signal happened (for the age column).
    pub signal_at: DateTime<Utc>,
    /// Latest inbound message in the move's thread, to wake snooze-until-reply.
    pub last_inbound_at: Option<DateTime<Utc>>,
    /// Score and breakdown.
    pub aps: Aps,
    /// The inputs of the score (boxed: it is most of a move's size, and ranking moves moves).
    pub features: Box<Features>,
    /// Decision state.
    pub state: MoveState,
}

/// The score a move is ranked by: its APS as the list shows it, to a tenth of a point. Moves
/// that show the same score are ordered by key. The stored ranking keeps this value, so the
/// passing of a minute (which moves nearly every exact score a little) rewrites only the few
/// moves whose shown score moved: ~1% of them at 100k contacts, instead of 86%.
pub fn rank_score(score: f64) -> f64 {
    (score * 10.0).round() / 10.0
}

/// Sorts moves by [`rank_score`] (highest first), ties broken by key, so ranking is
/// deterministic.
///
/// Sorts a small index array, then applies the permutation in place, instead of shuffling the
/// large structs around during the sort.
pub fn rank(moves: &mut [Move]) {
    let mut order: Vec<(f64, usize)> = moves
        .iter()
        .enumerate()
        .map(|(i, m)| (rank_score(m.aps.score), i))
        .collect();
    order.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
    // Break ties by key, touching the (scattered) key strings only inside runs of equal scores.
    let mut start = 0;
    while start < order.len() {
        let score = order[start].0;
        let end = start
            + order[start..]
                .iter()
                .take_while(|(s, _)| s.total_cmp(&score).is_eq())
                .count();
        if end - start > 1 {
            order[start..end].sort_unstable_by(|a, b| moves[a.1].key.cmp(&moves[b.1].key));
        }
        start = end;
    }
    // Apply the permutation in place, cycle by cycle: no second buffer, each move swapped once.
    let mut placed = vec![false; order.len()];
    for start in 0..order.len() {
        if placed[start] {
            continue;
        }
        let mut at = start;
        loop {
            placed[at] = true;
            let from = order[at].1;
            if from == start {
                break;
            }
            moves.swap(at, from);
            at = from;
        }
    }
}
/// The records behind a move, for the detail pane (read from the mirror by the caller).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MoveContext {
    /// The person.
    pub contact: Option<super::entities::Contact>,
    /// Their company.
    pub company: Option<super::entities::Company>,
    /// The deal.
    pub deal: Option<super::entities::Deal>,
    /// The deal's stage.
    pub stage: Option<super::entities::Stage>,
    /// Last messages of the thread, oldest first, with bodies.
    pub thread: Vec<super::entities::Message>,
    /// How many messages the whole thread has.
    pub thread_len: usize,
    /// The draft.
    pub draft: Option<super::entities::Draft>,
    /// The task.
    pub task: Option<super::entities::Task>,
}
