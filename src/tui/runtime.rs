//! The runtime: reads terminal events, feeds them to [`App::update`], performs the effects
//! against the mirror and redraws. The only place in the TUI that does I/O.

use std::path::PathBuf;
use std::sync::Arc;

use crossterm::event::{Event, EventStream, KeyEventKind};
use futures::StreamExt;
use tokio::sync::mpsc;

use super::app::{Action, App, Effect, Snapshot, Source};
use super::keymap::Keymap;
use super::terminal::TerminalGuard;
use super::theme::Theme;
use super::view;
use crate::Clock;
use crate::actions;
use crate::config::Config;
use crate::connectors::gmail::client::GmailClient;
use crate::connectors::hubspot::client::HubSpotClient;
use crate::outbox::remote::Live;
use crate::outbox::worker::Step;
use crate::store::{Finish, Store};
use crate::sync::gmail::SyncOptions as GmailSyncOptions;
use crate::sync::hubspot::SyncOptions;
use crate::today;
use crate::tui::app::SEND_ACTION;

/// Messages shown per thread in the detail pane.
pub const THREAD_TAIL: usize = 3;

/// What `r` says while no account is connected.
const NOT_CONNECTED: &str = "no account is connected yet: run `casey auth hubspot` and `casey auth google` \
                             (or set CASEYOS_HUBSPOT_TOKEN / CASEYOS_GOOGLE_REFRESH_TOKEN)";

/// Reads everything the screen needs from the mirror.
pub fn snapshot(store: &mut Store, config: &Config, clock: &Clock) -> crate::store::Result<Snapshot> {
    let moves = today::refresh(store, config, clock.now())?;
    let actionable: Vec<_> = moves
        .iter()
        .filter(|m| m.state.is_actionable())
        .cloned()
        .collect();
    let contexts = today::contexts(store, &actionable, THREAD_TAIL)?;
    Ok(Snapshot {
        moves,
        contexts,
        counts: store.counts()?,
        outbox: store.outbox(200)?,
        telemetry: store.telemetry_counts()?,
    })
}

/// Runs syncs and the outbox worker in the background, each on its own connection to the
/// mirror, reporting to the UI loop. A sync goes HubSpot first (so Gmail finds the contacts),
/// then Gmail, each on its own — one failing does not stop the other. Syncs and the worker
/// share the same clients ([`Clients`]).
struct Syncer {
    clients: Clients,
    database: PathBuf,
    tx: mpsc::UnboundedSender<Action>,
}

/// The connected services, shared by syncs and outbox runs. A client lives as long as its
/// sign-in, so circuit breakers, rate windows and the Gmail quota budget carry over from one
/// run to the next; every run re-reads the sign-ins (off the UI thread), so `casey auth …` in
/// another terminal takes effect at the next run without restarting.
#[derive(Clone)]
struct Clients {
    config: Arc<Config>,
    vault: crate::auth::Vault,
    hubspot: Slot<HubSpotClient, SyncOptions>,
    gmail: Slot<GmailClient, GmailSyncOptions>,
}

/// HubSpot and Gmail clients (with their sync options), each if connected.
type Connected = (
    Option<(Arc<HubSpotClient>, SyncOptions)>,
    Option<(Arc<GmailClient>, GmailSyncOptions)>,
);

impl Clients {
    /// The clients for the sign-ins of now (reads the keyring: call it off the UI thread).
    fn connect(&self) -> Connected {
        let config = &self.config;
        let sign_in = |account| crate::auth::current_sign_in(config, &self.vault, account);
        let hubspot = reconnect(&self.hubspot, sign_in(crate::auth::Account::HubSpot), |tokens| {
            let client = HubSpotClient::from_config(&config.hubspot, Arc::new(tokens)).ok()?;
            Some((client, SyncOptions::from_config(&config.hubspot, false)))
        });
        let gmail = reconnect(&self.gmail, sign_in(crate::auth::Account::Google), |tokens| {
            let client = GmailClient::from_config(&config.google, Arc::new(tokens)).ok()?;
            Some((client, GmailSyncOptions::from_config(&config.google, false)))
        });
        (hubspot, gmail)
    }
}

/// A one-line account of an outbox run ("1 sent · 2 done · 1 parked"); empty when nothing was
/// due. `action` names each step's outbox action by its idempotency key.
fn outbox_summary(steps: &[Step], action: impl Fn(&str) -> Option<String>) -> String {
    let mut counts = [0usize; 5];
    for s in steps {
        let i = match &s.finish {
            Finish::Done { .. } if action(&s.key).as_deref() == Some(SEND_ACTION) => 0,
            Finish::Done { .. } => 1,
            Finish::Retry { .. } => 2,
            Finish::Parked(_) => 3,
            Finish::Failed(_) => 4,
        };
        counts[i] += 1;
    }
    ["sent", "done", "waiting", "parked", "failed"]
        .iter()
        .zip(counts)
        .filter(|(_, n)| *n > 0)
        .map(|(label, n)| format!("{n} {label}"))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// A service's client with its options, and the sign-in it was built for.
type Slot<C, O> = Arc<std::sync::Mutex<Option<(Arc<C>, O, String)>>>;

/// The client for the sign-in of `now`: the kept one while the sign-in is the same, a new one
/// after `casey auth`, none after a logout.
fn reconnect<C, O: Clone>(
    slot: &Slot<C, O>,
    now: Result<Option<(String, crate::auth::token::TokenSource)>, crate::auth::AuthError>,
    build: impl FnOnce(crate::auth::token::TokenSource) -> Option<(C, O)>,
) -> Option<(Arc<C>, O)> {
    let mut kept = slot.lock().unwrap_or_else(|p| p.into_inner());
    match now {
        Ok(None) => *kept = None,
        Ok(Some((marker, tokens))) => {
            if kept.as_ref().map(|k| &k.2) != Some(&marker) {
                *kept = build(tokens).map(|(c, o)| (Arc::new(c), o, marker));
            }
        }
        // The keyring cannot be asked now (locked, restarting): the kept client goes on.
        Err(e) => tracing::warn!("cannot read the sign-ins now ({e}); keeping the current ones"),
    }
    kept.as_ref().map(|(c, o, _)| (c.clone(), o.clone()))
}

impl Syncer {
    /// A syncer for the operator's mirror, and whether an account is connected now.
    fn new(store: &Store, config: &Config, tx: mpsc::UnboundedSender<Action>) -> Option<(Syncer, bool)> {
        let database = store.path()?.to_path_buf();
        let vault = crate::auth::Vault::open(config);
        let connected = crate::auth::Account::ALL
            .iter()
            .any(|&a| matches!(crate::auth::current_sign_in(config, &vault, a), Ok(Some(_))));
        let syncer = Syncer {
            clients: Clients {
                config: Arc::new(config.clone()),
                vault,
                hubspot: Slot::default(),
                gmail: Slot::default(),
            },
            database,
            tx,
        };
        Some((syncer, connected))
    }

    /// Starts one sync; its progress and end arrive as actions on the channel. Dropping it
    /// half-way (quitting) is safe: every page lands whole with its cursor.
    fn start(&self, now: chrono::DateTime<chrono::Utc>) {
        let clients = self.clients.clone();
        let database = self.database.clone();
        let tx = self.tx.clone();
        let done_tx = self.tx.clone();
        let task = tokio::spawn(async move {
            let progress_tx = tx.clone();
            let report = move |text: String| {
                let _ = progress_tx.send(Action::SyncProgress(text));
            };
            let (hubspot, gmail) = clients.connect();
            if hubspot.is_none() && gmail.is_none() {
                let _ = tx.send(Action::SyncFinished(Err(NOT_CONNECTED.into())));
                return;
            }
            let mut store = match Store::open(&database) {
                Ok(s) => s,
                Err(e) => {
                    let _ = tx.send(Action::SyncFinished(Err(e.to_string())));
                    return;
                }
            };
            let mut done = Vec::new();
            let mut failed = Vec::new();
            if let Some((client, options)) = hubspot {
                match crate::sync::hubspot::sync(&client, &mut store, &options, now, |p| report(p.short()))
                    .await
                {
                    Ok(s) => done.push(s.describe()),
                    Err(e) => failed.push(format!("HubSpot: {e}")),
                }
            }
            if let Some((client, options)) = gmail {
                match crate::sync::gmail::sync(&client, &mut store, &options, now, |p| report(p.short()))
                    .await
                {
                    Ok(s) => done.push(s.describe()),
                    Err(e) => failed.push(format!("Gmail: {e}")),
                }
            }
            let result = if failed.is_empty() {
                Ok(done.join(" · "))
            } else {
                Err(failed.join(" · "))
            };
            let _ = tx.send(Action::SyncFinished(result));
        });
        // A sync that panicked still ends, so the next one is not refused as "already running".
        tokio::spawn(async move {
            if let Err(e) = task.await
                && e.is_panic()
            {
                tracing::error!("the background sync stopped unexpectedly: {e}");
                let _ = done_tx.send(Action::SyncFinished(Err(
                    "the sync stopped unexpectedly (see casey.log); nothing stored was lost".into(),
                )));
            }
        });
    }

    /// Starts one outbox run: every entry due at `now`, on its own connection to the mirror,
    /// with the sync's clients; its end arrives as [`Action::OutboxFinished`]. With no account
    /// connected the entries just wait. Quitting half-way is safe: an entry left running is
    /// checked against the remote side before it is tried again.
    fn run_outbox(&self, now: chrono::DateTime<chrono::Utc>) {
        let clients = self.clients.clone();
        let database = self.database.clone();
        let tx = self.tx.clone();
        let done_tx = self.tx.clone();
        // The worker borrows its store across awaits (a connection is not `Sync`), so it runs
        // on a blocking thread, driven by this runtime (its timers, sockets and the clients'
        // connection pools stay here).
        let handle = tokio::runtime::Handle::current();
        let task = tokio::task::spawn_blocking(move || {
            let (hubspot, gmail) = clients.connect();
            if hubspot.is_none() && gmail.is_none() {
                let _ = tx.send(Action::OutboxFinished(Ok(String::new())));
                return;
            }
            let live = Live {
                hubspot: hubspot.map(|(c, _)| c),
                gmail: gmail.map(|(c, _)| c),
            };
            let result = Store::open(&database)
                .and_then(|store| {
                    let steps = handle.block_on(crate::outbox::worker::drain(
                        &store,
                        &live,
                        &clients.config.safety,
                        now,
                    ))?;
                    let entries = if steps.is_empty() {
                        Vec::new()
                    } else {
                        store.outbox(1000)?
                    };
                    Ok(outbox_summary(&steps, |key| {
                        entries
                            .iter()
                            .find(|e| e.idempotency_key == key)
                            .map(|e| e.action.clone())
                    }))
                })
                .map_err(|e| e.to_string());
            let _ = tx.send(Action::OutboxFinished(result));
        });
        tokio::spawn(async move {
            if let Err(e) = task.await
                && e.is_panic()
            {
                tracing::error!("the outbox run stopped unexpectedly: {e}");
                let _ = done_tx.send(Action::OutboxFinished(Err(
                    "the outbox run stopped unexpectedly (see casey.log); every entry is checked before it is tried again"
                        .into(),
                )));
            }
        });
    }
}

/// Runs the TUI until the operator quits.
pub async fn run(mut store: Store, config: Config, source: Source, clock: Clock) -> anyhow::Result<()> {
    let keymap =
        Keymap::from_config(&config.keys).map_err(|(k, m)| anyhow::anyhow!("config key `keys.{k}`: {m}"))?;
    let theme = Theme::named(&config.theme.name, std::env::var_os("NO_COLOR").is_some());
    let data = snapshot(&mut store, &config, &clock)?;
    let mut app = App::new(
        clock.now(),
        source,
        config.safety.mode,
        keymap,
        config.aps.clone(),
        data,
    );
    let (sync_tx, mut sync_rx) = mpsc::unbounded_channel();
    let syncer = match source {
        Source::Live => Syncer::new(&store, &config, sync_tx),
        Source::Demo => None,
    }
    .map(|(syncer, connected)| {
        app.sync.available = connected;
        syncer
    });
    if config.general.sync_interval_minutes > 0 {
        app.sync.every = Some(chrono::Duration::minutes(i64::from(
            config.general.sync_interval_minutes,
        )));
    }
    let mut guard = TerminalGuard::enter()?;
    let size = guard.terminal.size()?;
    app.update(Action::Resize(size.width, size.height));
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        guard.terminal.draw(|f| view::draw(f, &app, &theme))?;
        let action = tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Event::Key(k))) if k.kind == KeyEventKind::Press => Action::Key(k),
                Some(Ok(Event::Resize(w, h))) => Action::Resize(w, h),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e.into()),
                None => break,
            },
            _ = tick.tick() => Action::Tick(clock.now()),
            Some(action) = sync_rx.recv() => action,
        };
        let mut queue = app.update(action);
        while !queue.is_empty() {
            let effects = std::mem::take(&mut queue);
            for effect in effects {
                if effect == Effect::Quit {
                    return Ok(());
                }
                if effect == Effect::Sync
                    && let Some(syncer) = &syncer
                {
                    syncer.start(clock.now());
                    continue;
                }
                if effect == Effect::RunOutbox {
                    match &syncer {
                        Some(syncer) => syncer.run_outbox(clock.now()),
                        // Nothing to run it with (the demo never asks): the run is over.
                        None => queue.extend(app.update(Action::OutboxFinished(Ok(String::new())))),
                    }
                    continue;
                }
                let reply = perform(&mut store, &config, &clock, source, effect, &mut guard);
                for action in reply {
                    queue.extend(app.update(action));
                }
            }
        }
        if app.quitting {
            break;
        }
    }
    Ok(())
}

fn perform(
    store: &mut Store,
    config: &Config,
    clock: &Clock,
    source: Source,
    effect: Effect,
    guard: &mut TerminalGuard,
) -> Vec<Action> {
    let mut out = Vec::new();
    let result = match effect {
        Effect::EditDraft { key } => edit_draft(store, config, clock, &key, guard),
        Effect::Execute { key, .. } => {
            if let Err(e) = execute(store, config, clock, source, &key) {
                // A rule said no (stale draft, daily cap…) unless the mirror itself failed.
                let refusal = e.downcast_ref::<crate::store::StoreError>().is_none();
                out.push(Action::ExecuteFailed {
                    key,
                    reason: e.to_string(),
                    refusal,
                });
            }
            Ok(None)
        }
        other => apply(store, config, clock, source, other),
    };
    match result {
        Ok(Some(msg)) => out.push(Action::Done(msg)),
        Ok(None) => {}
        Err(e) => out.push(Action::Failed(e.to_string())),
    }
    match snapshot(store, config, clock) {
        Ok(s) => out.push(Action::Loaded(Box::new(s))),
        Err(e) => out.push(Action::Failed(e.to_string())),
    }
    out
}

/// Performs the store-side effects (everything but editing and quitting).
fn apply(
    store: &mut Store,
    config: &Config,
    clock: &Clock,
    source: Source,
    effect: Effect,
) -> anyhow::Result<Option<String>> {
    let now = clock.now();
    match effect {
        Effect::Decide { key, state } => {
            actions::decide(store, &key, &state, now)?;
            Ok(None)
        }
        // `perform` reports a failed execution as `ExecuteFailed`; this is the plain path.
        Effect::Execute { key, .. } => {
            execute(store, config, clock, source, &key)?;
            Ok(None)
        }
        Effect::RetryJob { idempotency_key } => {
            if !store.requeue_job(&idempotency_key, now)? {
                return Err(anyhow::anyhow!(
                    "nothing changed: that entry is no longer parked or failed"
                ));
            }
            Ok(None)
        }
        Effect::DiscardJob { idempotency_key } => {
            if !store.cancel_job(&idempotency_key, now)? {
                return Err(anyhow::anyhow!(
                    "nothing changed: that entry has started or ended; only waiting or parked entries can be discarded"
                ));
            }
            Ok(None)
        }
        Effect::DiscardDraft { key } => {
            let m = find_move(store, config, now, &key)?;
            Ok(Some(super::discard_stub::discard_draft(
                store,
                config,
                &m,
                source == Source::Demo,
                now,
            )?))
        }
        Effect::Undo { .. } => {
            actions::undo(store, now)?;
            Ok(None)
        }
        // Reached only when there is nothing to sync with (a syncer takes it otherwise).
        Effect::Sync => Ok(Some(match source {
            Source::Demo => "demo data is bundled with casey: there is nothing to sync".to_string(),
            Source::Live => return Err(anyhow::anyhow!(NOT_CONNECTED)),
        })),
        // `perform` reloads after every effect; nothing else to do. (A worker run is started
        // by the loop, never here.)
        Effect::Reload | Effect::EditDraft { .. } | Effect::RunOutbox | Effect::Quit => Ok(None),
    }
}

/// The move `key` as detected from the mirror now.
fn find_move(
    store: &Store,
    config: &Config,
    now: chrono::DateTime<chrono::Utc>,
    key: &str,
) -> anyhow::Result<crate::domain::moves::Move> {
    today::moves(store, config, now)?
        .into_iter()
        .find(|m| m.key == key)
        .ok_or_else(|| anyhow::anyhow!("that move is gone after the last refresh; nothing was done"))
}

/// Executes a move through the outbox (simulated in the demo).
fn execute(store: &Store, config: &Config, clock: &Clock, source: Source, key: &str) -> anyhow::Result<()> {
    let now = clock.now();
    let m = find_move(store, config, now, key)?;
    actions::execute(store, config, &m, source == Source::Demo, now)?;
    Ok(())
}

/// Opens the move's draft in `$VISUAL` / `$EDITOR` (else `vi`) and stores the edited body.
fn edit_draft(
    store: &mut Store,
    config: &Config,
    clock: &Clock,
    key: &str,
    guard: &mut TerminalGuard,
) -> anyhow::Result<Option<String>> {
    let moves = today::moves(store, config, clock.now())?;
    let Some(draft_id) = moves
        .iter()
        .find(|m| m.key == key)
        .and_then(|m| m.subject.draft_id.clone())
    else {
        return Ok(Some("this move has no draft".into()));
    };
    let Some(draft) = store.drafts()?.into_iter().find(|d| d.id == draft_id) else {
        return Ok(Some("the draft is gone from the mirror".into()));
    };
    let path = std::env::temp_dir().join(format!(
        "casey-draft-{}-{}.txt",
        std::process::id(),
        clock.now().timestamp()
    ));
    std::fs::write(&path, &draft.body)?;
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".into());
    let status = guard.suspend(|| std::process::Command::new(&editor).arg(&path).status());
    let body = std::fs::read_to_string(&path);
    let _ = std::fs::remove_file(&path);
    let status = status??;
    if !status.success() {
        return Err(anyhow::anyhow!(
            "{editor} exited with {status}; the draft was not changed"
        ));
    }
    let body = body?;
    if body == draft.body {
        return Ok(Some("draft unchanged".into()));
    }
    actions::save_draft_body(store, &draft.id, &body, clock.now())?;
    Ok(Some("draft saved locally · y to approve".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::AuthError;
    use crate::auth::token::TokenSource;
    use secrecy::SecretString;

    fn tokens() -> TokenSource {
        TokenSource::fixed(SecretString::from("t".to_string()))
    }

    #[test]
    fn a_client_lives_as_long_as_its_sign_in() {
        let slot: Slot<String, u8> = Slot::default();
        let first = reconnect(&slot, Ok(Some(("a".into(), tokens()))), |_| {
            Some(("c1".into(), 1))
        })
        .unwrap();
        let same = reconnect(&slot, Ok(Some(("a".into(), tokens()))), |_| {
            Some(("c2".into(), 2))
        })
        .unwrap();
        assert!(
            Arc::ptr_eq(&first.0, &same.0),
            "same sign-in, same client (breaker, budgets kept)"
        );
        let unreadable = reconnect(&slot, Err(AuthError::Corrupt("locked".into())), |_| None).unwrap();
        assert!(
            Arc::ptr_eq(&first.0, &unreadable.0),
            "a keyring hiccup keeps the client"
        );
        let again = reconnect(&slot, Ok(Some(("b".into(), tokens()))), |_| {
            Some(("c3".into(), 3))
        })
        .unwrap();
        assert_eq!(
            (again.0.as_str(), again.1),
            ("c3", 3),
            "signed in again: a new client"
        );
        assert!(
            reconnect(&slot, Ok(None), |_| Some(("c4".into(), 4))).is_none(),
            "logged out"
        );
    }

    #[test]
    fn an_outbox_run_is_summed_up_in_one_line() {
        let step = |key: &str, finish: Finish| Step {
            key: key.into(),
            finish,
        };
        let done = || Finish::Done {
            remote_id: "r".into(),
            reconciled: false,
        };
        let steps = vec![
            step("send", done()),
            step("task", done()),
            step("note", done()),
            step("parked", Finish::Parked("a reply arrived".into())),
        ];
        let action = |key: &str| {
            Some(
                if key == "send" {
                    SEND_ACTION
                } else {
                    "hubspot.task.create"
                }
                .to_string(),
            )
        };
        assert_eq!(outbox_summary(&steps, action), "1 sent · 2 done · 1 parked");
        assert_eq!(outbox_summary(&[], action), "", "nothing due: nothing to say");
        let waiting = vec![step(
            "x",
            Finish::Retry {
                error: "offline".into(),
                at: chrono::Utc::now(),
                uncertain: false,
            },
        )];
        assert_eq!(outbox_summary(&waiting, |_| None), "1 waiting");
    }
}
