//! Pure types and logic: entities of the mirror, moves, the Action Priority Score, outcomes and
//! what is learned from them.
//!
//! Nothing in here does I/O or reads the wall clock: callers pass `now`, so the same mirror and
//! the same clock always produce the same ranking.

pub mod aps;
pub mod backtest;
pub mod decision;
pub mod detect;
pub mod entities;
pub mod learn;
pub mod moves;
pub mod outcomes;
pub mod template;
pub mod text;
pub mod time;

pub use aps::{Aps, ApsPart, ApsWeights};
pub use detect::{DetectConfig, detect_moves, detect_moves_learned};
pub use entities::Mirror;
pub use moves::{Move, MoveKind, MoveState};
