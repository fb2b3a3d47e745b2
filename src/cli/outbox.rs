//! `casey outbox [list|run|retry|discard]`.

use std::sync::Arc;

use super::commands::open_store;
use super::{Context, OutboxAction, output};
use crate::auth::{Account, Vault};
use crate::outbox::remote::Live;
use crate::store::{Finish, OutboxEntry, Store};

/// Runs one `casey outbox` action.
pub fn run(ctx: &Context, action: Option<OutboxAction>) -> anyhow::Result<()> {
    if ctx.demo {
        anyhow::bail!("the demo's outbox is simulated; open `casey demo` to see it");
    }
    let mut store = open_store(ctx, false, false)?;
    match action.unwrap_or(OutboxAction::List { json: false }) {
        OutboxAction::List { json } => list(&store, json),
        OutboxAction::Run => work(ctx, &mut store),
        OutboxAction::Retry { key } => {
            let key = find(&store, &key)?;
            if !store.requeue_job(&key, ctx.clock.now())? {
                anyhow::bail!("{key} is not parked or failed; only those can be confirmed again");
            }
            output::print(&format!("queued again: {key}\n"))
        }
        OutboxAction::Discard { key } => {
            let key = find(&store, &key)?;
            if !store.cancel_job(&key, ctx.clock.now())? {
                anyhow::bail!("{key} has started or ended; only waiting or parked entries can be discarded");
            }
            output::print(&format!("discarded: {key}\n"))
        }
    }
}

/// The one key that equals or contains `query`.
fn find(store: &Store, query: &str) -> anyhow::Result<String> {
    let entries = store.outbox(10_000)?;
    if let Some(e) = entries.iter().find(|e| e.idempotency_key == query) {
        return Ok(e.idempotency_key.clone());
    }
    let hits: Vec<&OutboxEntry> = entries
        .iter()
        .filter(|e| e.idempotency_key.contains(query))
        .collect();
    match hits.as_slice() {
        [one] => Ok(one.idempotency_key.clone()),
        [] => anyhow::bail!("no outbox entry matches {query:?}"),
        many => anyhow::bail!(
            "{} outbox entries match {query:?}; give more of the key",
            many.len()
        ),
    }
}

fn list(store: &Store, json: bool) -> anyhow::Result<()> {
    let entries = store.outbox(500)?;
    if json {
        return output::print(&format!("{}\n", serde_json::to_string_pretty(&entries)?));
    }
    if entries.is_empty() {
        return output::print("The outbox is empty.\n");
    }
    let mut out = String::new();
    for e in &entries {
        let error = e
            .error
            .as_deref()
            .map(|x| format!(" · {}", crate::domain::text::sanitize_line(x)))
            .unwrap_or_default();
        out.push_str(&format!(
            "{:<10} {:<22} {}{}{error}\n",
            e.state,
            e.action,
            crate::domain::text::sanitize_line(&e.idempotency_key),
            if e.demo { " (DEMO)" } else { "" },
        ));
    }
    output::print(&out)
}

/// The connected services for the worker.
fn live(ctx: &Context) -> Live {
    let vault = Vault::open(&ctx.config);
    let tokens = |account| {
        crate::auth::tokens(&ctx.config, &vault, account)
            .ok()
            .flatten()
            .map(Arc::new)
    };
    Live {
        hubspot: tokens(Account::HubSpot).and_then(|t| {
            crate::connectors::hubspot::client::HubSpotClient::from_config(&ctx.config.hubspot, t)
                .ok()
                .map(Arc::new)
        }),
        gmail: tokens(Account::Google).and_then(|t| {
            crate::connectors::gmail::client::GmailClient::from_config(&ctx.config.google, t)
                .ok()
                .map(Arc::new)
        }),
    }
}

/// `casey outbox run`: every due entry once; parked and failed ones say why.
fn work(ctx: &Context, store: &mut Store) -> anyhow::Result<()> {
    let remote = live(ctx);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let steps = rt.block_on(crate::outbox::worker::drain(
        &*store,
        &remote,
        &ctx.config.safety,
        ctx.clock.now(),
    ));
    remote.record_events(store, ctx.clock.now());
    let steps = steps?;
    let mut out = String::new();
    for s in &steps {
        let what = match &s.finish {
            Finish::Done {
                reconciled: false, ..
            } => "done".to_string(),
            Finish::Done { reconciled: true, .. } => "done (it had already happened)".to_string(),
            Finish::Failed(e) => format!("failed: {e}"),
            Finish::Parked(why) => format!("parked: {why} (`casey outbox retry` to confirm)"),
            Finish::Retry { error, .. } => format!("waiting: {error}"),
        };
        out.push_str(&format!(
            "{}: {what}\n",
            crate::domain::text::sanitize_line(&s.key)
        ));
    }
    if steps.is_empty() {
        out.push_str("nothing is due\n");
    }
    output::print(&out)
}
