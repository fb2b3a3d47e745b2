//! Subcommand handlers.

use std::process::ExitCode;

use anyhow::Context as _;

use super::Context;
use super::output;
use crate::auth::Account;
use crate::config::{Paths, describe_path};
use crate::store::{RankedFilter, Store};
use crate::sync::demo;
use crate::today;
use crate::tui::app::Source;

/// Opens the mirror for a command: the operator's, or the demo copy (created on first use,
/// recreated when `fresh`).
pub fn open_store(ctx: &Context, demo_data: bool, fresh: bool) -> anyhow::Result<Store> {
    if !demo_data {
        let path = ctx.paths.database();
        return Store::open(&path).with_context(|| format!("opening the mirror {}", path.display()));
    }
    let path = ctx.paths.demo_database();
    if fresh {
        for suffix in ["", "-wal", "-shm"] {
            let p = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("resetting the demo copy {}", p.display())),
            }
        }
    }
    let mut store =
        Store::open(&path).with_context(|| format!("opening the demo copy {}", path.display()))?;
    if store.setting("source")?.as_deref() != Some("demo") {
        let summary = demo::load(&mut store, ctx.clock.now()).context("loading the bundled demo data")?;
        tracing::info!(counts = ?summary.counts, skipped = summary.skipped.len(), "demo data loaded");
    }
    Ok(store)
}

/// Purges what is past its `[retention]`.
fn purge(ctx: &Context, store: &Store) -> anyhow::Result<()> {
    let r = &ctx.config.retention;
    store
        .purge(ctx.clock.now(), r.telemetry_days, r.drafts_days)
        .context("purging old telemetry and drafts")?;
    Ok(())
}

/// `casey` and `casey demo`.
pub fn tui(ctx: &Context, demo_data: bool, keep: bool) -> anyhow::Result<()> {
    let demo_data = demo_data || ctx.demo;
    // What is past its `[retention]` is purged by the TUI's first background pass.
    let store = open_store(ctx, demo_data, demo_data && !keep)?;
    let source = if demo_data { Source::Demo } else { Source::Live };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(crate::tui::runtime::run(
        store,
        ctx.config.clone(),
        source,
        ctx.clock,
    ))
}

/// How old the stored ranking may be for a read command before it is re-timed to the clock.
const FRESH: chrono::Duration = chrono::Duration::minutes(1);

/// Brings the stored ranking up to date for a read command: the changes since the last pass,
/// at the ranking's clock when that is under a minute old (else at now, which re-times it).
/// A first build of a big mirror reports its progress on stderr.
pub(super) fn settle_for_reading(ctx: &Context, store: &Store) -> anyhow::Result<()> {
    let at = today::reading_clock(store, ctx.clock.now(), FRESH)?;
    let mut shown = false;
    today::settle(store, &ctx.config, at, |done, total| {
        if total >= 20_000 {
            eprint!("\rupdating the moves: {done} of {total}");
            shown = true;
        }
    })?;
    if shown {
        eprintln!();
    }
    Ok(())
}

/// `casey moves`.
pub fn moves(ctx: &Context, json: bool, limit: Option<usize>, all: bool) -> anyhow::Result<()> {
    let store = open_store(ctx, ctx.demo, false)?;
    settle_for_reading(ctx, &store)?;
    let filter = if all {
        RankedFilter::All
    } else {
        RankedFilter::Actionable
    };
    let moves = store.ranked(filter, 0, limit.unwrap_or(usize::MAX), &ctx.config.aps)?;
    let shown: Vec<_> = moves.iter().collect();
    let out = if json {
        output::moves_json(&shown, &ctx.config.aps, ctx.clock.now())?
    } else {
        output::moves_table(&shown, ctx.clock.now())
    };
    output::print(&out)
}

/// `casey explain`.
pub fn explain(ctx: &Context, query: &str, json: bool) -> anyhow::Result<()> {
    let store = open_store(ctx, ctx.demo, false)?;
    settle_for_reading(ctx, &store)?;
    let found = today::find_stored(&store, query, &ctx.config.aps)?.map_err(anyhow::Error::msg)?;
    let m = &found;
    let out = if json {
        output::explain_json(m, &ctx.config.aps)?
    } else {
        let context = store.move_context(&m.subject, 1)?;
        output::explain_text(m, &context, &ctx.config.aps, ctx.clock.now())
    };
    output::print(&out)
}

/// `casey whats-up`.
pub fn whats_up(ctx: &Context) -> anyhow::Result<()> {
    let store = open_store(ctx, ctx.demo, false)?;
    let counts = store.counts()?;
    if counts.is_empty() {
        return output::print(
            "Nothing mirrored yet. Connect accounts with `casey auth hubspot` and `casey auth google`, or try `casey demo`.\n",
        );
    }
    settle_for_reading(ctx, &store)?;
    let top = store.ranked(RankedFilter::Actionable, 0, 1, &ctx.config.aps)?;
    let summary = store.ranked_summary()?;
    output::print(&output::whats_up(&summary, top.first(), &counts, ctx.clock.now()))
}

/// `casey config path`.
pub fn config_path(paths: &Paths) -> ExitCode {
    println!("config file: {}", describe_path(&paths.config_file));
    println!("data dir:    {}", paths.data_dir.display());
    println!("mirror:      {}", paths.database().display());
    println!("log:         {}", paths.log_file().display());
    ExitCode::SUCCESS
}

/// `casey config check` (loading already validated it; say so and show the effective mode).
pub fn config_check(ctx: &Context) -> anyhow::Result<()> {
    let source = if ctx.paths.config_file.exists() {
        ctx.paths.config_file.display().to_string()
    } else {
        "embedded defaults (no config file yet)".to_string()
    };
    output::print(&format!(
        "ok: {source}\n  safety mode: {:?} · undo window {} s · daily cap {}\n  APS weights: revenue {} · urgency {} · fit {} · effort {}\n",
        ctx.config.safety.mode,
        ctx.config.safety.undo_window_seconds,
        ctx.config.safety.daily_send_cap,
        ctx.config.aps.revenue,
        ctx.config.aps.urgency,
        ctx.config.aps.fit,
        ctx.config.aps.effort
    ))
}

/// `casey sync`: the named sources, or every connected one. Each source syncs on its own; a
/// failure of one does not stop the other, and the command fails if any did.
pub fn sync(ctx: &Context, hubspot: bool, gmail: bool, full: bool) -> anyhow::Result<()> {
    if ctx.demo {
        anyhow::bail!("the demo data is bundled with casey; there is nothing to sync");
    }
    let vault = crate::auth::Vault::open(&ctx.config);
    let hubspot_tokens = crate::auth::tokens(&ctx.config, &vault, Account::HubSpot);
    let google_tokens = crate::auth::tokens(&ctx.config, &vault, Account::Google);
    let named = hubspot || gmail;
    let (hubspot, gmail) = if named {
        (hubspot, gmail)
    } else {
        (
            matches!(hubspot_tokens, Ok(Some(_))),
            matches!(google_tokens, Ok(Some(_))),
        )
    };
    if !hubspot && !gmail {
        let why = [&hubspot_tokens, &google_tokens]
            .iter()
            .find_map(|t| t.as_ref().err().map(|e| format!(" ({e})")))
            .unwrap_or_default();
        anyhow::bail!(
            "no account is connected: run `casey auth hubspot` and `casey auth google` \
             (or set CASEYOS_HUBSPOT_TOKEN / CASEYOS_GOOGLE_REFRESH_TOKEN){why}"
        );
    }
    let mut store = open_store(ctx, false, false)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let interactive = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let show = |line: String| {
        if interactive {
            eprint!("\r\x1b[2K{line}");
        }
    };
    let mut failures = Vec::new();
    if hubspot {
        let result = (|| -> anyhow::Result<String> {
            let tokens = connected(hubspot_tokens, Account::HubSpot)?;
            let client = crate::connectors::hubspot::client::HubSpotClient::from_config(
                &ctx.config.hubspot,
                std::sync::Arc::new(tokens),
            )?;
            let options = crate::sync::hubspot::SyncOptions::from_config(&ctx.config.hubspot, full);
            let summary = rt.block_on(crate::sync::hubspot::sync(
                &client,
                &mut store,
                &options,
                ctx.clock.now(),
                |p: &crate::sync::hubspot::Progress| show(p.describe()),
            ));
            Ok(summary?.describe())
        })();
        finish(interactive, result, &mut failures)?;
    }
    if gmail {
        let result = (|| -> anyhow::Result<String> {
            let tokens = connected(google_tokens, Account::Google)?;
            let client = crate::connectors::gmail::client::GmailClient::from_config(
                &ctx.config.google,
                std::sync::Arc::new(tokens),
            )?;
            let options = crate::sync::gmail::SyncOptions::from_config(&ctx.config.google, full);
            let summary = rt.block_on(crate::sync::gmail::sync(
                &client,
                &mut store,
                &options,
                ctx.clock.now(),
                |p: &crate::sync::gmail::Progress| show(p.describe()),
            ));
            Ok(summary?.describe())
        })();
        finish(interactive, result, &mut failures)?;
    }
    // What the new data says about moves executed earlier (replies, stage changes, nothing).
    let recorded = today::record_outcomes(&mut store, &ctx.config, ctx.clock.now())?;
    if recorded > 0 {
        tracing::info!(recorded, "outcomes recorded after sync");
    }
    purge(ctx, &store)?;
    match failures.as_slice() {
        [] => Ok(()),
        [one] => Err(anyhow::anyhow!("{one}")),
        many => Err(anyhow::anyhow!("{}", many.join("\nerror: "))),
    }
}

/// The account's tokens, or an error saying how to connect it (and, when the keyring is what is
/// missing, why).
fn connected(
    tokens: Result<Option<crate::auth::token::TokenSource>, crate::auth::AuthError>,
    account: Account,
) -> anyhow::Result<crate::auth::token::TokenSource> {
    let hint = match account {
        Account::HubSpot => "CASEYOS_HUBSPOT_TOKEN to a private-app token",
        Account::Google => "CASEYOS_GOOGLE_REFRESH_TOKEN (with [google] client_id) or CASEYOS_GOOGLE_TOKEN",
    };
    let not_connected = |why: String| {
        anyhow::anyhow!(
            "{} is not connected: run `casey auth {}` (or set {hint}){why}",
            account.title(),
            account.name()
        )
    };
    match tokens {
        Ok(Some(t)) => Ok(t),
        Ok(None) => Err(not_connected(String::new())),
        Err(crate::auth::AuthError::Store(e @ crate::auth::secrets::SecretStoreError::Unavailable(_))) => {
            Err(not_connected(format!("; {e}")))
        }
        Err(e) => Err(e.into()),
    }
}

/// Ends one source's progress line and prints its summary, or keeps its error for the end.
fn finish(
    interactive: bool,
    result: anyhow::Result<String>,
    failures: &mut Vec<String>,
) -> anyhow::Result<()> {
    if interactive {
        eprintln!();
    }
    match result {
        Ok(line) => output::print(&format!("{line}\n")),
        Err(e) => {
            tracing::error!("{e:#}");
            failures.push(format!("{e:#}"));
            Ok(())
        }
    }
}

/// `casey forget <email>`: erases a person from the mirror after a confirmation (or `--yes`).
pub fn forget(ctx: &Context, email: &str, yes: bool, json: bool) -> anyhow::Result<()> {
    let address = email.trim().to_lowercase();
    let plausible = address.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !address.contains(char::is_whitespace)
    });
    if !plausible {
        anyhow::bail!(
            "{email:?} is not an email address; give the address to forget, e.g. casey forget dana@acme.example"
        );
    }
    let mut store = open_store(ctx, ctx.demo, false)?;
    let own = [
        ctx.config.general.operator_email.trim().to_lowercase(),
        store
            .setting("operator_email")?
            .unwrap_or_default()
            .to_lowercase(),
    ];
    if own.contains(&address) {
        anyhow::bail!(
            "{address} is your own address; forgetting it would erase your whole mailbox (remove the data directory instead)"
        );
    }
    if !yes {
        use std::io::{BufRead, IsTerminal, Write};
        if !std::io::stdin().is_terminal() {
            anyhow::bail!(
                "casey forget erases data for good; run it in a terminal to confirm, or pass --yes"
            );
        }
        print!("Erase everything this machine holds about {address}? This cannot be undone. [y/N] ");
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            println!("nothing was erased");
            return Ok(());
        }
    }
    let done = store.forget(&address, ctx.clock.now())?;
    if json {
        println!("{}", serde_json::to_string_pretty(&done)?);
        return Ok(());
    }
    if done.total() == 0 && done.audit_redacted == 0 {
        println!("nothing on this machine mentioned {address}; it will be left out of future syncs");
        return Ok(());
    }
    println!("forgot {address}: {} rows erased", done.total());
    for (table, n) in &done.removed {
        println!("  {table:<18} {n:>6}");
    }
    if done.audit_redacted > 0 {
        println!("  {:<18} {:>6} (redacted)", "audit_log", done.audit_redacted);
    }
    println!("they stay out of the mirror at later syncs; HubSpot and Gmail themselves are not changed");
    if !done.compacted {
        println!(
            "casey is open elsewhere, so the file could not be compacted yet: close it and run this again to leave no trace in it"
        );
    }
    Ok(())
}
