//! Work off the UI thread: background syncs and outbox runs, on their own connections to the
//! mirror, with clients shared between them; each reports back to the UI loop as an action.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::NOT_CONNECTED;
use crate::config::Config;
use crate::connectors::gmail::client::GmailClient;
use crate::connectors::hubspot::client::HubSpotClient;
use crate::outbox::remote::Live;
use crate::outbox::worker::Step;
use crate::store::{Finish, Store};
use crate::sync::gmail::SyncOptions as GmailSyncOptions;
use crate::sync::hubspot::SyncOptions;
use crate::tui::app::{Action, SEND_ACTION};

/// Runs syncs and the outbox worker in the background, each on its own connection to the
/// mirror, reporting to the UI loop. A sync goes HubSpot first (so Gmail finds the contacts),
/// then Gmail, each on its own — one failing does not stop the other. Syncs and the worker
/// share the same clients ([`Clients`]).
pub(super) struct Syncer {
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
    pub(super) fn new(
        store: &Store,
        config: &Config,
        tx: mpsc::UnboundedSender<Action>,
    ) -> Option<(Syncer, bool)> {
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
    pub(super) fn start(&self, now: chrono::DateTime<chrono::Utc>) {
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
    pub(super) fn run_outbox(&self, now: chrono::DateTime<chrono::Utc>) {
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
                .and_then(|mut store| {
                    let steps = handle.block_on(crate::outbox::worker::drain(
                        &store,
                        &live,
                        &clients.config.safety,
                        now,
                    ));
                    live.record_events(&mut store, now);
                    let steps = steps?;
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
