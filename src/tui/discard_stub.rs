//! TEMPORARY: replaced by actions::discard_draft at merge.
//!
//! Stands in for `actions::discard_draft` (being written on another branch) so the Drafts
//! view's discard key works end to end: it records the move as skipped ("draft discarded"),
//! which `u` takes back. The real one also queues the Gmail draft delete through the outbox.

use chrono::{DateTime, Utc};

use crate::actions;
use crate::config::Config;
use crate::domain::moves::{Move, MoveState};
use crate::store::{Result, Store};

// TEMPORARY: replaced by actions::discard_draft at merge
/// Discards a move's draft: records a "skipped: draft discarded" decision and returns the
/// status-line message.
pub fn discard_draft(
    store: &Store,
    _config: &Config,
    m: &Move,
    _demo: bool,
    now: DateTime<Utc>,
) -> Result<String> {
    actions::decide(
        store,
        &m.key,
        &MoveState::Skipped {
            reason: Some("draft discarded".into()),
        },
        now,
    )?;
    Ok("draft discarded · u to undo".into())
}
