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
use crate::store::Store;
use crate::sync::gmail::SyncOptions as GmailSyncOptions;
use crate::sync::hubspot::SyncOptions;
use crate::today;

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

/// Runs syncs in the background on their own connection to the mirror, reporting progress to
/// the UI loop: HubSpot first (so Gmail finds the contacts), then Gmail, each on its own — one
/// failing does not stop the other. A client lives as long as its sign-in, so circuit breakers,
/// rate windows and the Gmail quota budget carry over from one sync to the next; each sync
/// re-reads the sign-ins (off the UI thread), so `casey auth …` in another terminal takes effect
/// at the next sync without restarting.
struct Syncer {
    config: Arc<Config>,
    vault: crate::auth::Vault,
    hubspot: Slot<HubSpotClient, SyncOptions>,
    gmail: Slot<GmailClient, GmailSyncOptions>,
    database: PathBuf,
    tx: mpsc::UnboundedSender<Action>,
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
            config: Arc::new(config.clone()),
            vault,
            hubspot: Slot::default(),
            gmail: Slot::default(),
            database,
            tx,
        };
        Some((syncer, connected))
    }

    /// Starts one sync; its progress and end arrive as actions on the channel. Dropping it
    /// half-way (quitting) is safe: every page lands whole with its cursor.
    fn start(&self, now: chrono::DateTime<chrono::Utc>) {
        let (config, vault) = (self.config.clone(), self.vault.clone());
        let (hubspot_slot, gmail_slot) = (self.hubspot.clone(), self.gmail.clone());
        let database = self.database.clone();
        let tx = self.tx.clone();
        let done_tx = self.tx.clone();
        let task = tokio::spawn(async move {
            let progress_tx = tx.clone();
            let report = move |text: String| {
                let _ = progress_tx.send(Action::SyncProgress(text));
            };
            let sign_in = |account| crate::auth::current_sign_in(&config, &vault, account);
            let hubspot = reconnect(&hubspot_slot, sign_in(crate::auth::Account::HubSpot), |tokens| {
                let client = HubSpotClient::from_config(&config.hubspot, Arc::new(tokens)).ok()?;
                Some((client, SyncOptions::from_config(&config.hubspot, false)))
            });
            let gmail = reconnect(&gmail_slot, sign_in(crate::auth::Account::Google), |tokens| {
                let client = GmailClient::from_config(&config.google, Arc::new(tokens)).ok()?;
                Some((client, GmailSyncOptions::from_config(&config.google, false)))
            });
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
    let result = match effect {
        Effect::EditDraft { key } => edit_draft(store, config, clock, &key, guard),
        other => apply(store, config, clock, source, other),
    };
    let mut out = Vec::new();
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
        Effect::Execute { key, .. } => {
            let moves = today::moves(store, config, now)?;
            let m = moves.iter().find(|m| m.key == key).ok_or_else(|| {
                anyhow::anyhow!("that move is gone after the last refresh; nothing was executed")
            })?;
            actions::execute(store, config, m, source == Source::Demo, now)?;
            Ok(None)
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
        // `perform` reloads after every effect; nothing else to do.
        Effect::Reload | Effect::EditDraft { .. } | Effect::Quit => Ok(None),
    }
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
}
