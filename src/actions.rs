//! What the operator's keys do to the mirror: decisions, execution through the outbox, undo.
//!
//! Shared by the TUI runtime and the command line so both record the same rows: a decision,
//! an outbox entry with an idempotency key, an audit line and a telemetry event.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::config::{Config, SafetyMode};
use crate::connectors::gmail::compose::{new_message_id, parse_references, reply_subject};
use crate::domain::entities::{Draft, Mailbox};
use crate::domain::moves::{Move, MoveState, PrimaryAction};
use crate::domain::template::{self, TemplateError};
use crate::domain::text::sanitize_line;
use crate::outbox::safety::{Refusal, SendCheck, check_send};
use crate::store::{DraftRecord, LOCAL_DRAFT_PREFIX, Result, Store, StoreError, UndoOutcome, is_local_draft};

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

/// Why an action was not taken. Nothing was recorded or queued.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// A send rule said no (stale draft, cap, cooldown, suppression).
    #[error("{0}")]
    Refused(#[from] Refusal),
    /// The move cannot be acted on as it stands (said in the operator's words).
    #[error("{0}")]
    Cannot(String),
    /// A draft template cannot be used.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// The mirror failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Result of an action.
pub type ActionResult<T> = std::result::Result<T, ActionError>;

/// Whether `x` on this move writes a draft from a template first (it has none yet).
pub fn writes_draft(m: &Move) -> bool {
    m.subject.draft_id.is_none()
        && matches!(
            m.action,
            PrimaryAction::ReplyDraft
                | PrimaryAction::FollowUpDraft
                | PrimaryAction::CheckInDraft
                | PrimaryAction::FirstTouchDraft
        )
}

/// The outbox action a move's primary action becomes. A move that carries a draft is executed
/// by approving that draft: written to Gmail drafts in draft-only mode, sent in send mode.
/// A move that needs a draft and has none gets one written locally first (`draft.write`).
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
        | PrimaryAction::ApproveDraft => "draft.write",
        PrimaryAction::CompleteTask => "hubspot.task.complete",
        PrimaryAction::DealTask | PrimaryAction::NextStepTask => "hubspot.task.create",
    }
}

/// One outbox entry an approval turns into.
struct Planned {
    action: &'static str,
    payload: serde_json::Value,
    /// Waits out the undo window.
    undo_window: bool,
    /// Runs only after the entry before it is done.
    after_previous: bool,
}

fn base_payload(m: &Move, mode: SafetyMode) -> serde_json::Value {
    json!({
        "move": m.key,
        "kind": m.kind.as_str(),
        "thread_id": m.subject.thread_id,
        "draft_id": m.subject.draft_id,
        "deal_id": m.subject.deal_id,
        "task_id": m.subject.task_id,
        "contact_id": m.subject.contact_id,
        "mode": match mode { SafetyMode::DraftOnly => "draft_only", SafetyMode::Send => "send" },
    })
}

/// The operator's address: `[general] operator_email`, else the Gmail profile's.
fn operator_email(store: &Store, config: &Config) -> ActionResult<String> {
    let configured = config.general.operator_email.trim().to_ascii_lowercase();
    if !configured.is_empty() {
        return Ok(configured);
    }
    Ok(store.setting("operator_email")?.unwrap_or_default())
}

/// The checks a send must pass when it is approved: the rules of `[safety]` and the
/// stale-draft guard (a message from someone else arrived after the draft was written).
fn approve_send(store: &Store, config: &Config, rec: &DraftRecord, now: DateTime<Utc>) -> ActionResult<()> {
    let recipients: Vec<String> = rec.draft.to.iter().map(|t| t.email.clone()).collect();
    let last_inbound_at = match &rec.draft.thread_id {
        Some(t) => store.last_inbound_at(t)?,
        None => None,
    };
    let day = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|d| d.and_utc())
        .unwrap_or(now);
    let sent_today = store.sends_since(day)? + store.sends_waiting()?;
    let mut last = std::collections::HashMap::new();
    for r in &recipients {
        last.insert(r.clone(), store.last_send_to(r)?);
    }
    let check = SendCheck {
        recipients: &recipients,
        draft_written_at: rec.draft.updated_at,
        last_inbound_at,
        sent_today,
    };
    check_send(&config.safety, &check, |r| last.get(r).copied().flatten(), now)?;
    Ok(())
}

/// What Gmail needs to write a draft: the approved text itself, so what goes out is what was
/// approved.
fn draft_content(
    store: &Store,
    config: &Config,
    rec: &DraftRecord,
    message_id: &str,
) -> ActionResult<serde_json::Value> {
    let from = operator_email(store, config)?;
    if from.is_empty() {
        return Err(ActionError::Cannot(
            "your own address is not known yet: set [general] operator_email or sync Gmail once".into(),
        ));
    }
    if rec.draft.to.is_empty() {
        return Err(ActionError::Refused(Refusal::NoRecipient));
    }
    Ok(json!({
        "from": from,
        "to": rec.draft.to,
        "subject": rec.draft.subject,
        "body": rec.draft.body,
        "in_reply_to": rec.draft.in_reply_to,
        "references": rec.references,
        "message_id_header": message_id,
    }))
}

/// The outbox entries approving a move's draft becomes, after the approval-time checks.
fn plan_draft(
    store: &Store,
    config: &Config,
    m: &Move,
    draft_id: &str,
    now: DateTime<Utc>,
) -> ActionResult<Vec<Planned>> {
    let Some(rec) = store.draft_record(draft_id)? else {
        return Err(ActionError::Cannot(
            "the draft is no longer in the mirror (sent or deleted in Gmail?); sync and look again".into(),
        ));
    };
    if store.draft_write_pending(draft_id)?.is_some() {
        // Approving again now could write it to Gmail twice.
        return Err(ActionError::Cannot(
            "this draft is still being written to Gmail (see the Outbox view); approve it once that is done"
                .into(),
        ));
    }
    let mode = config.safety.mode;
    if mode == SafetyMode::Send {
        approve_send(store, config, &rec, now)?;
    }
    let mut plan = Vec::new();
    let local = is_local_draft(draft_id);
    if local || rec.edited_here {
        let message_id = match (&rec.message_id_header, local) {
            (Some(id), true) => id.clone(),
            _ => new_message_id(
                operator_email(store, config)?
                    .rsplit('@')
                    .next()
                    .unwrap_or("caseyos.local"),
            ),
        };
        let mut payload = base_payload(m, mode);
        payload["content"] = draft_content(store, config, &rec, &message_id)?;
        plan.push(Planned {
            action: if local {
                "gmail.draft.create"
            } else {
                "gmail.draft.push"
            },
            payload,
            undo_window: false,
            after_previous: false,
        });
    }
    if mode == SafetyMode::Send {
        // What the worker checks before sending: who it goes to (cap, cooldown, suppression)
        // and when it was approved (a reply after that parks it).
        let mut payload = base_payload(m, mode);
        let to: Vec<&str> = rec.draft.to.iter().map(|t| t.email.as_str()).collect();
        payload["to"] = json!(to);
        payload["approved_at"] = json!(now.to_rfc3339());
        payload["draft_written_at"] = json!(rec.draft.updated_at.to_rfc3339());
        let after_previous = !plan.is_empty();
        if !after_previous && let Some(version) = &rec.gmail_message_id {
            // The version approved: a draft changed in Gmail meanwhile is parked, not sent.
            payload["message_id"] = json!(version);
        }
        plan.push(Planned {
            action: "gmail.draft.send",
            payload,
            undo_window: true,
            after_previous,
        });
    }
    Ok(plan)
}

/// Executes a move (`x`, or `y` on its draft) and says what happened, for the status line.
///
/// - A move that needs an email and has no draft gets one written from its template, on this
///   machine only (`e` edits it, `y` approves it); the move stays open.
/// - Approving a draft runs the send checks (send mode), then queues: the draft's creation or
///   update in Gmail when Gmail does not have this version, and in send mode the send, which
///   waits out the undo window and runs only after the draft is in Gmail. A Gmail draft
///   unchanged here needs nothing in draft-only mode: it is already in Gmail.
/// - Other moves queue their HubSpot action.
///
/// Every entry is written to the outbox first (idempotency key = move + action + time), then
/// the audit line, then the move is marked done. In the demo the entries are recorded as done
/// and labelled DEMO: nothing leaves the machine.
pub fn execute(
    store: &Store,
    config: &Config,
    m: &Move,
    demo: bool,
    now: DateTime<Utc>,
) -> ActionResult<String> {
    if writes_draft(m) {
        write_draft(store, config, m, now)?;
        return Ok("draft written from the template, on this machine only · e to edit · y to approve".into());
    }
    let mode = config.safety.mode;
    let plan = match &m.subject.draft_id {
        Some(draft_id) => plan_draft(store, config, m, draft_id, now)?,
        None => {
            let action = outbox_action(m, mode);
            let mut payload = base_payload(m, mode);
            if action == "hubspot.task.create" {
                // A follow-up task for tomorrow on the records the move is about.
                payload["subject"] = json!(m.title);
                payload["body"] = json!(format!("From CaseyOS: {}", m.kind.as_str()));
                payload["due"] = json!((now + chrono::Duration::days(1)).to_rfc3339());
                payload["contact_ids"] = json!(m.subject.contact_id.iter().collect::<Vec<_>>());
                payload["deal_ids"] = json!(m.subject.deal_id.iter().collect::<Vec<_>>());
            }
            vec![Planned {
                action,
                payload,
                undo_window: false,
                after_previous: false,
            }]
        }
    };
    // The entries, the audit line and the decision land together or not at all: a crash in
    // between never leaves a send queued under a move that still looks open.
    let actions: Vec<&str> = store.atomically(|| -> ActionResult<Vec<&str>> {
        let mut keys = Vec::new();
        for (i, mut p) in plan.into_iter().enumerate() {
            let idempotency_key = format!("{}|{}|{}", m.key, p.action, now.timestamp_millis());
            if p.after_previous
                && let Some((previous, _)) = keys.get(i.wrapping_sub(1))
            {
                p.payload["after"] = json!(previous);
            }
            if demo {
                store.enqueue_outbox(
                    &idempotency_key,
                    Some(&m.key),
                    p.action,
                    &p.payload,
                    "done",
                    true,
                    now,
                )?;
            } else {
                // A real send waits out the undo window (`u` cancels it until then).
                let not_before = p
                    .undo_window
                    .then(|| now + chrono::Duration::seconds(i64::from(config.safety.undo_window_seconds)));
                store.queue_job(
                    &crate::store::NewJob {
                        idempotency_key: &idempotency_key,
                        move_key: Some(&m.key),
                        action: p.action,
                        payload: &p.payload,
                        not_before,
                    },
                    now,
                )?;
            }
            keys.push((idempotency_key, p.action));
        }
        let actor = if demo { "demo" } else { "operator" };
        let what = if demo {
            "execute (simulated, DEMO)"
        } else {
            "execute (queued)"
        };
        let actions: Vec<&str> = keys.iter().map(|(_, a)| *a).collect();
        let idempotency_keys: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
        store.audit(
            actor,
            what,
            Some(&m.key),
            &json!({ "actions": actions, "idempotency_keys": idempotency_keys }),
            now,
        )?;
        decide(store, &m.key, &MoveState::Done, now)?;
        Ok(actions)
    })?;
    Ok(match (demo, actions.as_slice()) {
        (true, _) => "DEMO: simulated, nothing left this machine".to_string(),
        (false, []) => "already in your Gmail drafts: nothing to write (draft-only mode)".to_string(),
        (false, a) if a.contains(&"gmail.draft.send") => format!(
            "send queued · goes out in {} s · u cancels",
            config.safety.undo_window_seconds
        ),
        (false, a) if a.contains(&"gmail.draft.create") || a.contains(&"gmail.draft.push") => {
            "queued: written to your Gmail drafts when online (draft-only: nothing is sent)".to_string()
        }
        (false, _) => "queued in the outbox".to_string(),
    })
}

/// The template a move's draft is written from.
fn template_name(m: &Move) -> &'static str {
    match m.action {
        PrimaryAction::FollowUpDraft => "follow_up",
        PrimaryAction::CheckInDraft => "check_in",
        PrimaryAction::FirstTouchDraft => "first_touch",
        _ => "reply",
    }
}

/// The template text: the operator's own file in `[drafts] templates_dir`, else the bundled one.
fn template_text(config: &Config, name: &str) -> ActionResult<String> {
    let dir = config.drafts.templates_dir.trim();
    if !dir.is_empty() {
        let path = std::path::Path::new(dir).join(format!("{name}.txt"));
        match std::fs::read_to_string(&path) {
            Ok(text) => return Ok(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(ActionError::Cannot(format!(
                    "cannot read the template {}: {e}",
                    path.display()
                )));
            }
        }
    }
    template::builtin(name)
        .map(str::to_string)
        .ok_or_else(|| ActionError::Cannot(format!("no template called {name}")))
}

/// Writes a draft for a move from its template, filled from the mirror: a reply in the thread
/// (to the sender, `Re:` subject, `In-Reply-To`/`References`), a follow-up on our own message
/// (to its recipients), or a new email to the move's contact. The draft is stored on this
/// machine only (id `local-…`); the move shows it as "draft ready". Returns the draft's id.
pub fn write_draft(store: &Store, config: &Config, m: &Move, now: DateTime<Utc>) -> ActionResult<String> {
    let ctx = store.move_context(&m.subject, 0)?;
    let name = template_name(m);
    let text = template_text(config, name)?;
    let target = match &m.subject.thread_id {
        Some(t) => store.reply_target(t)?,
        None => None,
    };
    let contact_name = ctx.contact.as_ref().map(|c| c.display_name());
    let first_name = ctx
        .contact
        .as_ref()
        .and_then(|c| c.first_name.clone())
        .or_else(|| {
            target
                .as_ref()
                .filter(|t| !t.outbound)
                .and_then(|t| t.from.name.as_deref())
                .and_then(|n| n.split_whitespace().next())
                .map(str::to_string)
        })
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "there".into());
    let company = ctx
        .company
        .as_ref()
        .and_then(|c| c.name.clone())
        .or_else(|| ctx.contact.as_ref().and_then(|c| c.company_name.clone()))
        .unwrap_or_default();
    let thread_subject = target.as_ref().map(|t| t.subject.clone()).unwrap_or_default();
    let vars: BTreeMap<&str, String> = [
        ("first_name", sanitize_line(&first_name)),
        (
            "name",
            sanitize_line(&contact_name.unwrap_or_else(|| m.subject.email.clone().unwrap_or_default())),
        ),
        (
            "company_suffix",
            if company.is_empty() {
                String::new()
            } else {
                format!(" at {}", sanitize_line(&company))
            },
        ),
        ("company", sanitize_line(&company)),
        (
            "deal",
            ctx.deal
                .as_ref()
                .map(|d| sanitize_line(&d.name))
                .unwrap_or_else(|| "our conversation".into()),
        ),
        (
            "subject",
            sanitize_line(&crate::domain::detect::bare_subject(&thread_subject)),
        ),
        ("my_company", config.drafts.my_company.clone()),
        ("signature", config.drafts.signature.replace("\\n", "\n")),
    ]
    .into_iter()
    .collect();
    let filled = template::render(name, &text, &vars)?;
    let (to, subject, in_reply_to, references) = match &target {
        Some(t) => {
            let to = if t.outbound {
                t.to.clone()
            } else {
                vec![t.from.clone()]
            };
            let mut refs = t
                .references
                .clone()
                .map(|r| parse_references(&r))
                .unwrap_or_default();
            if let Some(id) = &t.message_id_header
                && !refs.contains(id)
            {
                refs.push(id.clone());
            }
            let refs = (!refs.is_empty()).then(|| refs.join(" "));
            (to, reply_subject(&t.subject), t.message_id_header.clone(), refs)
        }
        None => {
            let email = m
                .subject
                .email
                .clone()
                .or_else(|| ctx.contact.as_ref().and_then(|c| c.email.clone()))
                .ok_or_else(|| ActionError::Cannot("this move has no email address to write to".into()))?;
            let name = ctx.contact.as_ref().map(|c| c.display_name());
            (vec![Mailbox { name, email }], filled.subject.clone(), None, None)
        }
    };
    if to.is_empty() {
        return Err(ActionError::Refused(Refusal::NoRecipient));
    }
    let digest = Sha256::digest(format!("{}|{}", m.key, now.timestamp_millis()).as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let id = format!("{LOCAL_DRAFT_PREFIX}{hex}");
    let from = operator_email(store, config)?;
    let message_id = new_message_id(
        from.rsplit('@')
            .next()
            .filter(|d| !d.is_empty())
            .unwrap_or("caseyos.local"),
    );
    let draft = Draft {
        id: id.clone(),
        thread_id: m.subject.thread_id.clone(),
        to,
        subject,
        body: filled.body,
        updated_at: now,
        in_reply_to,
        move_key: Some(m.key.clone()),
    };
    store.insert_local_draft(&draft, &message_id, references.as_deref())?;
    store.audit(
        "operator",
        "draft written",
        Some(&m.key),
        &json!({ "draft_id": id, "template": name }),
        now,
    )?;
    Ok(id)
}

/// Discards a move's draft (`s` in the Drafts view). A draft only on this machine is deleted
/// at once (`x` writes a fresh one). A draft in Gmail is deleted there by the outbox after the
/// undo window, and the move is set aside; `u` brings both back until then.
pub fn discard_draft(
    store: &Store,
    config: &Config,
    m: &Move,
    demo: bool,
    now: DateTime<Utc>,
) -> ActionResult<String> {
    let Some(draft_id) = &m.subject.draft_id else {
        return Err(ActionError::Cannot("this move has no draft to discard".into()));
    };
    if is_local_draft(draft_id) {
        store.remove_draft(draft_id)?;
        store.audit(
            "operator",
            "draft discarded",
            Some(&m.key),
            &json!({ "draft_id": draft_id }),
            now,
        )?;
        return Ok("draft discarded · x writes a new one".into());
    }
    let idempotency_key = format!("{}|gmail.draft.delete|{}", m.key, now.timestamp_millis());
    let payload = json!({ "move": m.key, "draft_id": draft_id, "thread_id": m.subject.thread_id });
    if demo {
        store.enqueue_outbox(
            &idempotency_key,
            Some(&m.key),
            "gmail.draft.delete",
            &payload,
            "done",
            true,
            now,
        )?;
    } else {
        store.queue_job(
            &crate::store::NewJob {
                idempotency_key: &idempotency_key,
                move_key: Some(&m.key),
                action: "gmail.draft.delete",
                payload: &payload,
                not_before: Some(
                    now + chrono::Duration::seconds(i64::from(config.safety.undo_window_seconds)),
                ),
            },
            now,
        )?;
    }
    store.audit(
        if demo { "demo" } else { "operator" },
        "draft discarded",
        Some(&m.key),
        &json!({ "draft_id": draft_id, "idempotency_key": idempotency_key }),
        now,
    )?;
    decide(
        store,
        &m.key,
        &MoveState::Skipped {
            reason: Some("draft discarded".into()),
        },
        now,
    )?;
    Ok(if demo {
        "draft discarded · DEMO: simulated, nothing left this machine".into()
    } else {
        format!(
            "draft discarded · deleted from Gmail drafts in {} s · u to undo",
            config.safety.undo_window_seconds
        )
    })
}

/// Takes back the last decision on move `key` (or the last one of all), with the outbox
/// entries it queued that have not started; returns the move's key. Refused, with the reason,
/// when what it queued is under way or done (a send that went out cannot be called back).
pub fn undo(store: &Store, key: Option<&str>, now: DateTime<Utc>) -> ActionResult<Option<Undone>> {
    let (key, cancelled, sends) = match store.undo_decision(key, now)? {
        UndoOutcome::Nothing => return Ok(None),
        UndoOutcome::TooLate(why) => return Err(ActionError::Cannot(why)),
        UndoOutcome::Undone {
            key,
            cancelled,
            sends_cancelled,
        } => (key, cancelled, sends_cancelled),
    };
    store.audit(
        "operator",
        "undo",
        Some(&key),
        &json!({ "outbox_cancelled": cancelled }),
        now,
    )?;
    store.telemetry("recommendation_undone", Some(&key), &json!({}), now)?;
    let message = match (sends, cancelled) {
        (true, _) => "send cancelled · nothing was sent".to_string(),
        (false, 0) => "undone".to_string(),
        (false, n) => format!(
            "undone · {n} outbox {} cancelled",
            if n == 1 { "entry" } else { "entries" }
        ),
    };
    Ok(Some(Undone { key, message }))
}

/// A decision taken back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undone {
    /// The move it was about.
    pub key: String,
    /// What happened, for the status line (from what the mirror did, not what the screen
    /// expected).
    pub message: String,
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
