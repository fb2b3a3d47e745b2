//! Every sentence the TUI shows that is not built from data, in one place.

/// Product name in the header.
pub const APP: &str = "CaseyOS";
/// Title of the main list.
pub const TODAYS_MOVES: &str = "Today's Moves";
/// Onboarding: shown when the mirror is empty.
pub const ONBOARDING: &[&str] = &[
    "Welcome to CaseyOS.",
    "",
    "No accounts are connected yet, so there is nothing to rank.",
    "",
    "  1. casey auth hubspot     connect your CRM (private-app token or OAuth)",
    "  2. casey auth google      connect Gmail (opens your browser)",
    "  3. casey sync             mirror both into this machine",
    "",
    "Or look around first with the bundled demo data:",
    "",
    "  casey demo",
    "",
    "Press q to quit.",
];
/// When every move has been decided.
pub const ALL_CLEAR: &[&str] = &[
    "All clear — no open moves.",
    "",
    "Everything today is done, skipped or snoozed.",
    "Press u to undo the last decision, r to sync, Tab for other views.",
];
/// When the filter hides everything.
pub const NO_MATCH: &str = "No move matches the filter. Esc clears it.";

/// Header note while a background pass re-times the ranking.
pub const UPDATING: &str = "updating…";

/// The list while the first pass builds the ranking.
pub const UPDATING_LIST: &str = "Updating the moves… they appear here in a moment.";
/// Drafts view with nothing in it.
pub const NO_DRAFTS: &str = "No drafts waiting. Replies and follow-ups you execute show up here first.";
/// Outbox view with nothing in it.
pub const EMPTY_OUTBOX: &str = "The outbox is empty. Executed moves wait here until they are done.";
/// Footer prompt while filtering.
pub const FILTER_PROMPT: &str = "filter: ";
/// Prompt for a skip reason.
pub const SKIP_PROMPT: &str = "skip — reason (optional), Enter to confirm, Esc to cancel: ";
/// Snooze menu.
pub const SNOOZE_MENU: &str =
    "snooze: 1 = 1 day · 3 = 3 days · w = 1 week · r = until they reply · Esc = cancel";
/// Demo badge.
pub const DEMO_BADGE: &str = " DEMO ";
/// Label for the safety mode in the header.
pub const DRAFT_ONLY: &str = "draft-only";
/// Label for the send mode.
pub const SEND_MODE: &str = "send mode";
/// Outbox view: a key that acts on an entry, with none listed.
pub const NO_ENTRY_SELECTED: &str = "no outbox entry selected";
/// Outbox view: a key on a simulated entry.
pub const DEMO_ENTRY: &str = "DEMO entries were simulated: there is nothing to confirm or discard";
/// Outbox view: a parked or failed entry confirmed again.
pub const CONFIRMED_AGAIN: &str = "confirmed again · it goes out with the next outbox run";
/// Outbox view: an entry discarded.
pub const DISCARDED: &str = "discarded · it will not run";
/// Status line: `u` cancelled a send in its undo window.
pub const SEND_CANCELLED: &str = "send cancelled · nothing was sent";
/// Status line: a send that waits for the network.
pub const SEND_WAITS: &str = "it goes out once back online";
/// Status line: a send the worker parked or refused.
pub const SEND_HELD: &str = "the Outbox view confirms it again or discards it";
/// `u` after the send went out.
pub const TOO_LATE_SENT: &str = "too late to cancel: the email was sent · nothing was undone";
/// `u` while the send is under way.
pub const TOO_LATE_SENDING: &str = "too late to cancel: the email is being sent · nothing was undone";
/// `u` after the undo window, with the send still waiting (offline).
pub const TOO_LATE_WAITING: &str =
    "the undo window has passed · nothing was undone · the Outbox view can still discard it while it waits";
