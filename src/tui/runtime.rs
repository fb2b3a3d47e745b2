//! The runtime: reads terminal events, feeds them to [`App::update`], performs the effects
//! against the mirror and redraws. The only place in the TUI that does I/O.

use crossterm::event::{Event, EventStream, KeyEventKind};
use futures::StreamExt;
use tokio::sync::mpsc;

mod background;
mod worker;

use super::app::{Action, App, Effect, Snapshot, Source};
use super::keymap::Keymap;
use super::terminal::TerminalGuard;
use super::theme::Theme;
use super::view;
use crate::Clock;
use crate::config::Config;
use crate::domain::entities::Draft;
use crate::store::Store;
use crate::today;
use background::Syncer;
use worker::{ToEdit, Worker};

/// Messages shown per thread in the detail pane.
pub const THREAD_TAIL: usize = 3;

/// What `r` says while no account is connected.
const NOT_CONNECTED: &str = "no account is connected yet: run `casey auth hubspot` and `casey auth google` \
                             (or set CASEYOS_HUBSPOT_TOKEN / CASEYOS_GOOGLE_REFRESH_TOKEN)";

pub use super::app::WINDOW;
use super::app::{CONTEXTS_AHEAD, Want};

/// Reads what the screen shows from the stored ranking after bringing in the changes since the
/// last pass (a key press re-detects only what it touched; no full detection here).
///
/// A fixed clock (`--now`, tests) is the ranking's clock: the ranking is settled at it. On the
/// wall clock, re-timing is the background pass's job ([`Effect::Reload`]).
///
/// Everything at once, as the screen has it once each move was visited: the Stats and the
/// detail context of every actionable move in the window (tests and benches; the runtime reads
/// by need).
pub fn snapshot(store: &mut Store, config: &Config, clock: &Clock) -> crate::store::Result<Snapshot> {
    let everything = Want {
        window: WINDOW,
        contexts: None,
    };
    let mut s = settled_snapshot(store, config, clock, &everything, true)?;
    s.stats = crate::stats::Stats::compute(store, clock.now(), crate::stats::DEFAULT_DAYS)?;
    s.stats_read = true;
    let open: Vec<_> = s
        .moves
        .iter()
        .filter(|m| m.state.is_actionable())
        .cloned()
        .collect();
    s.contexts = today::contexts(store, &open, THREAD_TAIL)?;
    Ok(s)
}

/// [`snapshot`] of what `want` names; `whole` also re-reads the mirror's counts (they change
/// with a sync, not with a key).
fn settled_snapshot(
    store: &mut Store,
    config: &Config,
    clock: &Clock,
    want: &Want,
    whole: bool,
) -> crate::store::Result<Snapshot> {
    match clock {
        Clock::Fixed(at) => today::settle(store, config, *at, |_, _| {})?,
        Clock::System => today::settle_changes(store, config)?,
    };
    read_snapshot(store, config, want, whole)
}

/// The screen's data as stored now, without settling anything: the window of the ranking, the
/// contexts `want` names, the outbox, and the mirror's counts when `whole`. Never the Stats
/// (see [`Effect::LoadStats`]).
pub fn read_snapshot(
    store: &Store,
    config: &Config,
    want: &Want,
    whole: bool,
) -> crate::store::Result<Snapshot> {
    let moves = store.ranked(crate::store::RankedFilter::All, 0, want.window, &config.aps)?;
    let keys: Vec<String> = match &want.contexts {
        Some(keys) => keys.clone(),
        None => moves
            .iter()
            .filter(|m| m.state.is_actionable())
            .take(CONTEXTS_AHEAD + 1)
            .map(|m| m.key.clone())
            .collect(),
    };
    let wanted: Vec<_> = keys
        .iter()
        .filter_map(|k| moves.iter().find(|m| &m.key == k))
        .cloned()
        .collect();
    let contexts = today::contexts(store, &wanted, THREAD_TAIL)?;
    let counts = if whole {
        store.counts()?
    } else {
        crate::store::Counts {
            outbox_pending: store.outbox_pending()?,
            ..Default::default()
        }
    };
    Ok(Snapshot {
        moves,
        contexts,
        counts,
        outbox: store.outbox(200)?,
        stats: Default::default(),
        ranked: Some(store.ranked_counts()?),
        counts_read: whole,
        stats_read: false,
    })
}

/// Re-times the ranking to `clock` (outcomes recorded, time-driven rules, snoozes): on its own
/// connection and thread when the mirror is a file, so the screen never waits for it; the
/// end arrives as [`Action::Updated`], and the screen then re-reads the ranking. With `purge`,
/// what is past its `[retention]` goes first (the launch's pass: a scan of the telemetry
/// that the first frame need not wait for).
fn reload_in_background(
    store: &mut Store,
    config: &Config,
    clock: &Clock,
    tx: &mpsc::UnboundedSender<Action>,
    purge: bool,
) -> Vec<Action> {
    let Some(path) = store.path().map(|p| p.to_path_buf()) else {
        if purge {
            purge_retention(store, config, clock);
        }
        let result = today::refresh_quietly(store, config, clock.now(), |_, _| {});
        return vec![Action::Updated(
            result.map(|s| s.changed()).map_err(|e| e.to_string()),
        )];
    };
    let config = config.clone();
    let clock = *clock;
    let tx = tx.clone();
    tokio::task::spawn_blocking(move || {
        let progress_tx = tx.clone();
        let result = Store::open(&path).and_then(|mut store| {
            if purge {
                purge_retention(&store, &config, &clock);
            }
            let settled = today::refresh_quietly(&mut store, &config, clock.now(), |done, total| {
                let _ = progress_tx.send(Action::Updating(Some(format!("{done} of {total}"))));
            });
            // The screen's connection leaves this to the background (see `run`).
            if let Err(e) = store.checkpoint() {
                tracing::warn!("copying the write-ahead log into the mirror: {e}");
            }
            settled
        });
        // The screen re-reads on its own connection, so it also shows what keys did meanwhile.
        let _ = tx.send(Action::Updated(
            result.map(|s| s.changed()).map_err(|e| e.to_string()),
        ));
    });
    Vec::new()
}

/// Counts the Stats view's numbers at `clock` on their own connection and thread when the
/// mirror is a file (the answer arrives as [`Action::StatsLoaded`]), else at once.
fn stats_in_background(store: &Store, clock: &Clock, tx: &mpsc::UnboundedSender<Action>) -> Vec<Action> {
    let count = |store: &Store, now| {
        crate::stats::Stats::compute(store, now, crate::stats::DEFAULT_DAYS)
            .map(Box::new)
            .map_err(|e| e.to_string())
    };
    let now = clock.now();
    let Some(path) = store.path().map(|p| p.to_path_buf()) else {
        return vec![Action::StatsLoaded(count(store, now))];
    };
    let tx = tx.clone();
    tokio::task::spawn_blocking(move || {
        let result = Store::open(&path)
            .map_err(|e| e.to_string())
            .and_then(|store| count(&store, now));
        let _ = tx.send(Action::StatsLoaded(result));
    });
    Vec::new()
}

/// Purges what is past its `[retention]`; a failure is logged (the next launch tries again).
fn purge_retention(store: &Store, config: &Config, clock: &Clock) {
    let r = &config.retention;
    if let Err(e) = store.purge(clock.now(), r.telemetry_days, r.drafts_days) {
        tracing::warn!("purging old telemetry and drafts: {e}");
    }
}

/// Runs the TUI until the operator quits. The mirror must be a file: a key's store work runs
/// on a thread of its own with its own connection ([`worker`]), so the screen never waits.
pub async fn run(mut store: Store, config: Config, source: Source, clock: Clock) -> anyhow::Result<()> {
    let path = store
        .path()
        .map(|p| p.to_path_buf())
        .ok_or_else(|| anyhow::anyhow!("the TUI needs a mirror file, not an in-memory one"))?;
    let keymap =
        Keymap::from_config(&config.keys).map_err(|(k, m)| anyhow::anyhow!("config key `keys.{k}`: {m}"))?;
    let theme = Theme::named(&config.theme.name, std::env::var_os("NO_COLOR").is_some());
    // The first frame comes from the stored ranking as it is; re-timing it runs behind.
    let first = Want {
        window: WINDOW,
        contexts: None,
    };
    let data = read_snapshot(&store, &config, &first, true)?;
    // Keys write on this connection; the log is copied back into the file by the background
    // passes (every minute and after each sync), never inside a key's commit.
    store.leave_checkpoints_to_others()?;
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
    let (reload_tx, mut reload_rx) = mpsc::unbounded_channel();
    let (worker_tx, mut worker_rx) = mpsc::unbounded_channel();
    app.update(Action::Updating(Some(String::new())));
    // Declared before the terminal so that, on the way out, the terminal is given back first
    // and the store thread then finishes what it was given.
    let mut worker: Worker;
    let mut guard = TerminalGuard::enter()?;
    let size = guard.terminal.size()?;
    app.update(Action::Resize(size.width, size.height));
    // The first frame before the background pass starts, so the two do not compete for it.
    guard.terminal.draw(|f| view::draw(f, &app, &theme))?;
    worker = Worker::start(&path, &config, clock, source, worker_tx)?;
    let purge = source == Source::Live;
    for action in reload_in_background(&mut store, &config, &clock, &reload_tx, purge) {
        app.update(action);
    }
    // Effects to dispatch with the next action (a background pass a key's answer asked for).
    let mut pending: Vec<Effect> = Vec::new();
    // A draft to open in the editor (the store thread found it).
    let mut editing: Option<Draft> = None;
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        guard.terminal.draw(|f| view::draw(f, &app, &theme))?;
        let actions = tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Event::Key(k))) if k.kind == KeyEventKind::Press => vec![Action::Key(k)],
                Some(Ok(Event::Resize(w, h))) => vec![Action::Resize(w, h)],
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e.into()),
                None => break,
            },
            _ = tick.tick() => vec![Action::Tick(clock.now())],
            Some(action) = sync_rx.recv() => vec![action],
            Some(action) = reload_rx.recv() => vec![action],
            Some(mut reply) = worker_rx.recv() => {
                if let Some(why) = reply.fatal.take() {
                    return Err(anyhow::anyhow!(why));
                }
                let mut actions = worker.take(&mut reply);
                match reply.edit.take() {
                    Some(ToEdit::Draft(draft)) => editing = Some(draft),
                    Some(ToEdit::Nothing(why)) => actions.push(Action::Done(why)),
                    None => {}
                }
                // A key left a big pass queued: the background pass works through it.
                if reply.queued && app.updating.is_none() {
                    pending.push(Effect::Reload);
                }
                actions
            }
        };
        let mut actions = actions;
        if let Some(draft) = editing.take() {
            // The key reader stops while the editor runs (it would take the editor's keys).
            drop(events);
            match edit_body(&draft, &clock, &mut guard) {
                Ok(Some(body)) => worker
                    .save_draft(draft.id, body, app.wants())
                    .map_err(|e| anyhow::anyhow!(e))?,
                Ok(None) => actions.push(Action::Done("draft unchanged".into())),
                Err(e) => actions.push(Action::Failed(e.to_string())),
            }
            events = EventStream::new();
        }
        let mut queue = std::mem::take(&mut pending);
        for action in actions {
            queue.extend(app.update(action));
        }
        if !queue.is_empty() {
            // What the key did shows at once (decisions are applied to the screen before the
            // store); the effects' work follows, on the store thread.
            guard.terminal.draw(|f| view::draw(f, &app, &theme))?;
        }
        while !queue.is_empty() {
            let effects = std::mem::take(&mut queue);
            for effect in effects {
                match effect {
                    // Leaving lets the store thread finish what it was given (see `Worker`).
                    Effect::Quit => return Ok(()),
                    Effect::Sync if syncer.is_some() => {
                        if let Some(syncer) = &syncer {
                            syncer.start(clock.now());
                        }
                    }
                    Effect::Reload => {
                        queue.extend(app.update(Action::Updating(Some(String::new()))));
                        for action in reload_in_background(&mut store, &config, &clock, &reload_tx, false) {
                            queue.extend(app.update(action));
                        }
                    }
                    Effect::LoadStats => {
                        for action in stats_in_background(&store, &clock, &reload_tx) {
                            queue.extend(app.update(action));
                        }
                    }
                    Effect::RunOutbox => match &syncer {
                        Some(syncer) => syncer.run_outbox(clock.now()),
                        // Nothing to run it with (the demo never asks): the run is over.
                        None => queue.extend(app.update(Action::OutboxFinished(Ok(String::new())))),
                    },
                    // The draft is looked up after what was sent before it; the editor then
                    // opens on this thread (it needs the terminal) when the answer arrives.
                    Effect::EditDraft { key } => worker.find_draft(key).map_err(|e| anyhow::anyhow!(e))?,
                    other => worker
                        .effect(other, app.wants())
                        .map_err(|e| anyhow::anyhow!(e))?,
                }
            }
        }
        if app.quitting {
            break;
        }
        // The detail pane of the selection, read for it alone (with the next few moves).
        if let Some(keys) = app.contexts_wanted() {
            worker.contexts(keys).map_err(|e| anyhow::anyhow!(e))?;
        }
    }
    Ok(())
}

/// Opens `draft` in `$VISUAL` / `$EDITOR` (else `vi`); the edited body when it changed.
fn edit_body(draft: &Draft, clock: &Clock, guard: &mut TerminalGuard) -> anyhow::Result<Option<String>> {
    let path = std::env::temp_dir().join(format!(
        "casey-draft-{}-{}.txt",
        std::process::id(),
        clock.now().timestamp()
    ));
    std::fs::write(&path, &draft.body)?;
    // An empty variable is as good as none (`VISUAL= casey`), as in git and less.
    let set = |name| std::env::var(name).ok().filter(|v: &String| !v.trim().is_empty());
    let editor = set("VISUAL")
        .or_else(|| set("EDITOR"))
        .unwrap_or_else(|| "vi".into());
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
    Ok((body != draft.body).then_some(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Events older than the default telemetry retention, counted.
    fn old_events(store: &Store) -> i64 {
        store
            .conn()
            .query_row(
                "SELECT count(*) FROM telemetry WHERE event = 'recommendation_accepted' AND at < '2020-01-01'",
                [],
                |r| r.get(0),
            )
            .unwrap()
    }

    #[test]
    fn the_launch_pass_purges_what_is_past_its_retention_and_later_passes_do_not() {
        let now = crate::sync::demo::anchor();
        let clock = Clock::Fixed(now);
        let config = Config::default();
        let (tx, _rx) = mpsc::unbounded_channel();
        let mut store = Store::open_in_memory().unwrap();
        crate::sync::demo::load(&mut store, now).unwrap();
        let old = chrono::DateTime::parse_from_rfc3339("2019-06-01T00:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        store
            .telemetry("recommendation_accepted", None, &serde_json::json!({}), old)
            .unwrap();
        let later = reload_in_background(&mut store, &config, &clock, &tx, false);
        assert!(matches!(later.as_slice(), [Action::Updated(Ok(_))]), "{later:?}");
        assert_eq!(old_events(&store), 1, "only the launch's pass purges");
        let first = reload_in_background(&mut store, &config, &clock, &tx, true);
        assert!(matches!(first.as_slice(), [Action::Updated(Ok(_))]), "{first:?}");
        assert_eq!(old_events(&store), 0, "past the retention: purged");
    }
}
