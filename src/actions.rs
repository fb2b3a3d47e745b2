//! What the operator's keys do to the mirror: decisions, execution through the outbox, undo.
//!
//! Shared by the TUI runtime and the command line so both record the same rows: a decision,
//! an outbox entry with an idempotency key, an audit line and a telemetry event.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::config::{Config, SafetyMode};
use crate::domain::moves::{Move, MoveState, PrimaryAction};
use crate::store::{Result, Store};

/// Telemetry event name for a decision.
fn decision_event(state: &MoveState) -> &'static str {
    match state {
        MoveState::Accepted => "recommendation_accepted",
        MoveState::Skipped { .. } => "recommendation_dismissed",
        MoveState::Snoozed { .. } => "recommendation_snoozed",
        MoveState::Done => "action_executed",
        MoveState::Open => "recommendation_reopened",
    }
}

/// Records a decision and its telemetry event.
pub fn decide(store: &Store, key: &str, state: &MoveState, now: DateTime<Utc>) -> Result<()> {
    store.record_decision(key, state, now)?;
    let detail = match state {
        MoveState::Skipped { reason } => json!({ "reason": reason }),
        MoveState::Snoozed { until, until_reply } => json!({ "until": until, "until_reply": until_reply }),
        _ => json!({}),
    };
    store.telemetry(decision_event(state), Some(key), &detail, now)
}

/// The outbox action a move's primary action becomes. A move that carries a draft is executed
/// by approving that draft: pushed to Gmail drafts in draft-only mode, sent in send mode.
pub fn outbox_action(m: &Move, mode: SafetyMode) -> &'static str {
    if m.subject.draft_id.is_some() {
        return match mode {
            SafetyMode::DraftOnly => "gmail.draft.push",
            SafetyMode::Send => "gmail.draft.send",
        };
    }
    match m.action {
        PrimaryAction::ReplyDraft
        | PrimaryAction::FollowUpDraft
        | PrimaryAction::CheckInDraft
        | PrimaryAction::FirstTouchDraft
        | PrimaryAction::ApproveDraft => "gmail.draft.create",
        PrimaryAction::CompleteTask => "hubspot.task.complete",
        PrimaryAction::DealTask | PrimaryAction::NextStepTask => "hubspot.task.create",
    }
}

/// Executes a move: writes the outbox entry first (idempotency key = move + action + time),
/// then the audit line, then marks the move done. In the demo the entry is recorded as done
/// and labelled DEMO: nothing leaves the machine.
pub fn execute(store: &Store, config: &Config, m: &Move, demo: bool, now: DateTime<Utc>) -> Result<()> {
    let action = outbox_action(m, config.safety.mode);
    let idempotency_key = format!("{}|{}|{}", m.key, action, now.timestamp_millis());
    let mut payload = json!({
        "move": m.key,
        "kind": m.kind.as_str(),
        "thread_id": m.subject.thread_id,
        "draft_id": m.subject.draft_id,
        "deal_id": m.subject.deal_id,
        "task_id": m.subject.task_id,
        "contact_id": m.subject.contact_id,
        "mode": match config.safety.mode { SafetyMode::DraftOnly => "draft_only", SafetyMode::Send => "send" },
    });
    if action == "gmail.draft.send"
        && let Some(draft_id) = &m.subject.draft_id
        && let Some(draft) = store.drafts()?.into_iter().find(|d| &d.id == draft_id)
    {
        // What the worker checks before sending: who it goes to (cap, cooldown, suppression)
        // and when it was approved (a reply after that parks it).
        let to: Vec<&str> = draft.to.iter().map(|t| t.email.as_str()).collect();
        payload["to"] = json!(to);
        payload["approved_at"] = json!(now.to_rfc3339());
        payload["draft_written_at"] = json!(draft.updated_at.to_rfc3339());
    }
    if action == "hubspot.task.create" {
        // A follow-up task for tomorrow on the records the move is about.
        payload["subject"] = json!(m.title);
        payload["body"] = json!(format!("From CaseyOS: {}", m.kind.as_str()));
        payload["due"] = json!((now + chrono::Duration::days(1)).to_rfc3339());
        payload["contact_ids"] = json!(m.subject.contact_id.iter().collect::<Vec<_>>());
        payload["deal_ids"] = json!(m.subject.deal_id.iter().collect::<Vec<_>>());
    }
    if demo {
        store.enqueue_outbox(
            &idempotency_key,
            Some(&m.key),
            action,
            &payload,
            "done",
            true,
            now,
        )?;
    } else {
        // A real send waits out the undo window (`u` cancels it until then).
        let not_before = (action == "gmail.draft.send")
            .then(|| now + chrono::Duration::seconds(i64::from(config.safety.undo_window_seconds)));
        store.queue_job(
            &crate::store::NewJob {
                idempotency_key: &idempotency_key,
                move_key: Some(&m.key),
                action,
                payload: &payload,
                not_before,
            },
            now,
        )?;
    }
    let actor = if demo { "demo" } else { "operator" };
    let what = if demo {
        "execute (simulated, DEMO)"
    } else {
        "execute (queued)"
    };
    store.audit(
        actor,
        what,
        Some(&m.key),
        &json!({ "action": action, "idempotency_key": idempotency_key }),
        now,
    )?;
    decide(store, &m.key, &MoveState::Done, now)
}

/// Takes back the last decision; a simulated execution is cancelled in the outbox too.
pub fn undo(store: &Store, now: DateTime<Utc>) -> Result<Option<String>> {
    let Some(key) = store.undo_last_decision(now)? else {
        return Ok(None);
    };
    let cancelled = store.cancel_outbox_for_move(&key, now)?;
    store.audit(
        "operator",
        "undo",
        Some(&key),
        &json!({ "outbox_cancelled": cancelled }),
        now,
    )?;
    store.telemetry("recommendation_undone", Some(&key), &json!({}), now)?;
    Ok(Some(key))
}

/// Replaces a draft's body after the operator edited it.
pub fn save_draft_body(store: &Store, draft_id: &str, body: &str, now: DateTime<Utc>) -> Result<()> {
    store.update_draft_body(draft_id, body, now)?;
    store.audit(
        "operator",
        "draft edited",
        Some(draft_id),
        &json!({ "chars": body.chars().count() }),
        now,
    )
}
