//! Command-line interface: clap definitions and dispatch. Handlers live in `cli/`.

mod auth;
mod backtest;
mod commands;
mod doctor;
mod outbox;
mod output;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};

use crate::Clock;
use crate::config::{Config, ConfigError, Paths};

/// CaseyOS — Today's Moves for people who sell, in your terminal.
#[derive(Debug, Parser)]
#[command(name = "casey", version, about, long_about = None)]
pub struct Cli {
    /// Config file (default: the platform config dir, see `casey config path`).
    #[arg(long, global = true, env = "CASEYOS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory holding the mirror and the log.
    #[arg(long, global = true, env = "CASEYOS_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Read commands use the bundled demo data instead of your mirror.
    #[arg(long, global = true)]
    pub demo: bool,
    /// Pretend it is this instant (RFC 3339); for reproducible output and tests.
    #[arg(long, global = true, env = "CASEYOS_NOW", value_name = "TIME", hide = true, value_parser = parse_now)]
    pub now: Option<DateTime<Utc>>,
    /// What to do (default: open the TUI on your mirror).
    #[command(subcommand)]
    pub command: Option<Command>,
}

fn parse_now(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| format!("expected an RFC 3339 time like 2026-11-20T15:00:00Z: {e}"))
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the TUI on a fresh copy of the bundled demo data (execution is simulated).
    Demo {
        /// Continue the previous demo session instead of starting fresh.
        #[arg(long)]
        keep: bool,
    },
    /// List Today's Moves, ranked.
    Moves {
        /// Print JSON: [{key, type, title, aps, parts:[{name, points, why}], state, ...}].
        #[arg(long)]
        json: bool,
        /// Show at most N moves.
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        /// Include skipped, snoozed and done moves.
        #[arg(long)]
        all: bool,
    },
    /// Explain one move's score: parts, provenance, and what would move it.
    Explain {
        /// Move key, a unique part of it, or its rank in `casey moves`.
        #[arg(value_name = "MOVE")]
        query: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// A short summary: new replies, moves due, drafts, outbox.
    WhatsUp,
    /// What was recommended, decided and executed, the funnel, the APS distribution and the
    /// health of each connector, over the last N days.
    Stats {
        /// Print JSON (stable field names; see the `stats` module docs).
        #[arg(long)]
        json: bool,
        /// Days covered, today included (1 to 366).
        #[arg(long, value_name = "N", default_value_t = crate::stats::DEFAULT_DAYS,
              value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::stats::MAX_DAYS)))]
        days: u32,
    },
    /// Mirror HubSpot and Gmail into the local database, with progress (every connected
    /// account when no source is named).
    Sync {
        /// Sync HubSpot.
        #[arg(long)]
        hubspot: bool,
        /// Sync Gmail.
        #[arg(long)]
        gmail: bool,
        /// List everything again instead of fetching only what changed.
        #[arg(long)]
        full: bool,
    },
    /// Connect, inspect or disconnect accounts (sign-ins live in the OS keyring).
    Auth {
        /// google | hubspot | status | logout
        #[command(subcommand)]
        action: AuthAction,
    },
    /// Check the installation: paths, mirror integrity, accounts, last syncs, keyring, APIs.
    /// Exits non-zero when something needs attention.
    Doctor {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The outbox: what is queued, running, parked or done; run it, confirm or discard entries.
    Outbox {
        /// list (default) | run | retry KEY | discard KEY
        #[command(subcommand)]
        action: Option<OutboxAction>,
    },
    /// Erase a person from this machine: their contact, messages, drafts, moves, outcomes and
    /// every other record naming their address (audited; they stay forgotten at later syncs).
    Forget {
        /// Their email address.
        #[arg(value_name = "EMAIL")]
        email: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// Print JSON: {removed: {table: rows}, audit_redacted}.
        #[arg(long)]
        json: bool,
    },
    /// Show or check the configuration.
    Config {
        /// path | check
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Replay recorded recommendations: hit rate of each day's top 10 that later succeeded,
    /// with the current weights and (optionally) the `[aps]` weights of another file.
    Backtest {
        /// A TOML file with an `[aps]` table to compare with (keys not given stay as they are).
        #[arg(long, value_name = "FILE")]
        weights: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print shell completions.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

/// `casey auth ...`.
#[derive(Debug, Subcommand)]
pub enum AuthAction {
    /// Connect Gmail: signs in with Google in your browser (OAuth with PKCE).
    Google {
        /// Do not open a browser; only print the address to open (SSH sessions).
        #[arg(long)]
        no_browser: bool,
    },
    /// Connect HubSpot: a private-app token (--token-stdin), or OAuth when the config sets hubspot.client_id.
    Hubspot {
        /// Read a private-app token from stdin (or a prompt that does not echo, on a terminal).
        #[arg(long)]
        token_stdin: bool,
        /// Do not open a browser (OAuth); only print the address to open.
        #[arg(long)]
        no_browser: bool,
    },
    /// Show each account: connected, scopes, expiry, keyring backend (never a token).
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Disconnect an account: revoke the sign-in where the provider allows it and delete it
    /// from the keyring. The mirror is kept.
    Logout {
        /// google or hubspot.
        #[arg(value_name = "ACCOUNT")]
        account: String,
    },
}

/// `casey outbox ...`.
#[derive(Debug, Subcommand)]
pub enum OutboxAction {
    /// List the entries, newest first.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Carry out every entry that is due now (each at most once), then exit.
    Run,
    /// Confirm a parked or failed entry again (by its key or a unique part of it).
    Retry {
        /// Idempotency key, or a unique part of it.
        key: String,
    },
    /// Discard an entry that has not started (by its key or a unique part of it).
    Discard {
        /// Idempotency key, or a unique part of it.
        key: String,
    },
}

/// `casey config ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Print where the config file and the data live.
    Path,
    /// Validate the configuration (defaults + file + environment) and say what is wrong.
    Check,
}

/// Everything a handler needs.
pub struct Context {
    /// Resolved paths.
    pub paths: Paths,
    /// Loaded configuration.
    pub config: Config,
    /// The clock.
    pub clock: Clock,
    /// `--demo`.
    pub demo: bool,
}

/// Parses arguments, loads the configuration, starts logging and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let paths = Paths::resolve(cli.config.clone(), cli.data_dir.clone());
    if let Some(Command::Completions { shell }) = &cli.command {
        let mut cmd = <Cli as clap::CommandFactory>::command();
        clap_complete::generate(*shell, &mut cmd, "casey", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    if let Some(Command::Config {
        action: ConfigAction::Path,
    }) = &cli.command
    {
        return commands::config_path(&paths);
    }
    let config = match Config::load(&paths, &crate::config::env_pairs()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(match e {
                ConfigError::Invalid { .. } | ConfigError::Read { .. } => 2,
            });
        }
    };
    crate::logging::init(&paths.log_file());
    let clock = cli.now.map(Clock::Fixed).unwrap_or(Clock::System);
    let ctx = Context {
        paths,
        config,
        clock,
        demo: cli.demo,
    };
    let result = match cli.command {
        None => commands::tui(&ctx, false, true),
        Some(Command::Demo { keep }) => commands::tui(&ctx, true, keep),
        Some(Command::Moves { json, limit, all }) => commands::moves(&ctx, json, limit, all),
        Some(Command::Explain { query, json }) => commands::explain(&ctx, &query, json),
        Some(Command::WhatsUp) => commands::whats_up(&ctx),
        Some(Command::Stats { json, days }) => stats::run(&ctx, json, days),
        Some(Command::Sync { hubspot, gmail, full }) => commands::sync(&ctx, hubspot, gmail, full),
        Some(Command::Auth { action }) => auth::run(&ctx, action),
        Some(Command::Doctor { json }) => return doctor::run(&ctx, json),
        Some(Command::Outbox { action }) => outbox::run(&ctx, action),
        Some(Command::Forget { email, yes, json }) => commands::forget(&ctx, &email, yes, json),
        Some(Command::Backtest { weights, json }) => backtest::run(&ctx, weights.as_deref(), json),
        Some(Command::Config {
            action: ConfigAction::Check,
        }) => commands::config_check(&ctx),
        Some(Command::Config {
            action: ConfigAction::Path,
        })
        | Some(Command::Completions { .. }) => Ok(()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
