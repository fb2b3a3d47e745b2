//! CaseyOS: a local-first, keyboard-first terminal command center for people who sell.
//!
//! Module map (dependencies point down; `domain` imports nothing of the rest):
//!
//! ```text
//! main.rs        thin: → caseyos::run()
//! cli            clap definitions and the handlers of each subcommand
//! tui            app (state machine: update(Action) -> Vec<Effect>), keymap, view (pure
//!                render fns), runtime (terminal events + effects; a store thread applies
//!                the effects and reads back, background passes re-time), terminal (restore
//!                guard)
//! actions        what decisions and executions write: decision, outbox, audit, telemetry
//! today          Today's Moves kept in the mirror: settle passes re-detect the units a
//!                change marked dirty (or re-time from stored features), readers read rows
//! sync           bringing data into the mirror: the bundled demo set, HubSpot, Gmail
//! outbox         outbound actions: send rules, the worker (claim, reconcile, park, retry)
//! auth           sign-ins (OAuth + PKCE, OS keyring) and access tokens for the clients
//! connectors     hubspot/ and gmail/: HTTP clients, vendor wire models, MIME decoding,
//!                mapping to entities; http (retries, telemetry), politeness (rate windows,
//!                quota budget, circuit breaker)
//! stats          numbers for `casey stats` and the Stats view, computed from telemetry,
//!                outcomes and the outbox
//! telemetry      the local event log: event names, API call latency and errors
//! store          the SQLite mirror: schema, embedded migrations, one method per query;
//!                ranked (the stored ranking, dirty marks, slices read for detection)
//! config         embedded defaults → user file → CASEYOS_* env; typed and validated
//! domain         entities, moves, move detection, the APS, outcomes, learning, backtest,
//!                text sanitizing, time; no I/O
//! logging        tracing to a file in the data dir (stdout belongs to the TUI or to data)
//! ```

pub mod actions;
pub mod auth;
pub mod cli;
pub mod config;
pub mod connectors;
pub mod domain;
pub mod logging;
pub mod outbox;
pub mod stats;
pub mod store;
pub mod sync;
pub mod telemetry;
pub mod today;
pub mod tui;

use chrono::{DateTime, Utc};

/// Where "now" comes from: the system clock, or a fixed instant (`--now`, tests, benchmarks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// The wall clock.
    System,
    /// A fixed instant.
    Fixed(DateTime<Utc>),
}

impl Clock {
    /// The current instant.
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Fixed(t) => *t,
        }
    }
}

/// Entry point of the `casey` binary; returns the process exit code.
pub fn run() -> std::process::ExitCode {
    cli::main()
}
