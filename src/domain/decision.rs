//! The operator's decisions and how they combine with a freshly detected move.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::moves::{Move, MoveState};

/// A stored decision about a move.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The move's key.
    pub move_key: String,
    /// The state the operator chose.
    pub state: MoveState,
    /// When.
    pub decided_at: DateTime<Utc>,
}

/// Applies the latest decision to a move, waking snoozes whose time has come or whose awaited
/// reply arrived, and reopening skipped/done moves whose signal is newer than the decision.
pub fn effective_state(m: &Move, decision: Option<&Decision>, now: DateTime<Utc>) -> MoveState {
    let Some(d) = decision else { return MoveState::Open };
    match &d.state {
        MoveState::Snoozed { until, until_reply } => {
            let time_up = until.is_some_and(|u| u <= now);
            let replied = *until_reply && m.last_inbound_at.is_some_and(|t| t > d.decided_at);
            if time_up || replied {
                MoveState::Open
            } else {
                d.state.clone()
            }
        }
        // A new signal after the decision (a fresh inbound message, say) is a new reason to act.
        MoveState::Skipped { .. } | MoveState::Done if m.signal_at > d.decided_at + Duration::seconds(1) => {
            MoveState::Open
        }
        s => s.clone(),
    }
}
