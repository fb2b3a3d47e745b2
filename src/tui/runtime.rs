//! The runtime: reads terminal events, feeds them to [`App::update`], performs the effects
//! against the mirror and redraws. The only place in the TUI that does I/O.

use crossterm::event::{Event, EventStream, KeyEventKind};
use futures::StreamExt;
use tokio::sync::mpsc;

mod background;

use super::app::{Action, App, Effect, Snapshot, Source};
use super::keymap::Keymap;
use super::terminal::TerminalGuard;
use super::theme::Theme;
use super::view;
use crate::Clock;
use crate::actions;
use crate::config::Config;
use crate::store::Store;
use crate::today;
use background::Syncer;

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
        stats: true,
        contexts: None,
    };
    let mut s = settled_snapshot(store, config, clock, &everything, true)?;
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
    read_snapshot(store, config, clock, want, whole)
}

/// The screen's data as stored now, without settling anything: the window of the ranking, the
/// contexts `want` names, the outbox, the Stats only when they are shown, and the mirror's
/// counts when `whole`.
pub fn read_snapshot(
    store: &Store,
    config: &Config,
    clock: &Clock,
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
        stats: if want.stats {
            crate::stats::Stats::compute(store, clock.now(), crate::stats::DEFAULT_DAYS)?
        } else {
            Default::default()
        },
        ranked: Some(store.ranked_counts()?),
        counts_read: whole,
        stats_read: want.stats,
    })
}

/// The detail contexts of `keys` (moves in the window of the stored ranking).
fn read_contexts(store: &Store, config: &Config, keys: &[String]) -> Vec<Action> {
    let mut found = Vec::new();
    for k in keys {
        match store.ranked_move(k, &config.aps) {
            Ok(Some(m)) => found.push(m),
            Ok(None) => {}
            Err(e) => return vec![Action::Failed(e.to_string())],
        }
    }
    match today::contexts(store, &found, THREAD_TAIL) {
        Ok(map) => vec![Action::Contexts(map)],
        Err(e) => vec![Action::Failed(e.to_string())],
    }
}

/// Re-times the ranking to `clock` (outcomes recorded, time-driven rules, snoozes): on its own
/// connection and thread when the mirror is a file, so the screen never waits for it; the
/// end arrives as [`Action::Updated`], and the screen then re-reads the ranking.
fn reload_in_background(
    store: &mut Store,
    config: &Config,
    clock: &Clock,
    tx: &mpsc::UnboundedSender<Action>,
) -> Vec<Action> {
    let Some(path) = store.path().map(|p| p.to_path_buf()) else {
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
            today::refresh_quietly(&mut store, &config, clock.now(), |done, total| {
                let _ = progress_tx.send(Action::Updating(Some(format!("{done} of {total}"))));
            })
        });
        // The screen re-reads on its own connection, so it also shows what keys did meanwhile.
        let _ = tx.send(Action::Updated(
            result.map(|s| s.changed()).map_err(|e| e.to_string()),
        ));
    });
    Vec::new()
}

/// Runs the TUI until the operator quits.
pub async fn run(mut store: Store, config: Config, source: Source, clock: Clock) -> anyhow::Result<()> {
    let keymap =
        Keymap::from_config(&config.keys).map_err(|(k, m)| anyhow::anyhow!("config key `keys.{k}`: {m}"))?;
    let theme = Theme::named(&config.theme.name, std::env::var_os("NO_COLOR").is_some());
    // The first frame comes from the stored ranking as it is; re-timing it runs behind.
    let first = Want {
        window: WINDOW,
        stats: false,
        contexts: None,
    };
    let data = read_snapshot(&store, &config, &clock, &first, true)?;
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
    app.update(Action::Updating(Some(String::new())));
    let mut guard = TerminalGuard::enter()?;
    let size = guard.terminal.size()?;
    app.update(Action::Resize(size.width, size.height));
    // The first frame before the background pass starts, so the two do not compete for it.
    guard.terminal.draw(|f| view::draw(f, &app, &theme))?;
    for action in reload_in_background(&mut store, &config, &clock, &reload_tx) {
        app.update(action);
    }
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
            Some(action) = reload_rx.recv() => action,
        };
        let mut queue = app.update(action);
        if !queue.is_empty() {
            // What the key did shows at once (decisions are applied to the screen before the
            // store); the effects' work follows.
            guard.terminal.draw(|f| view::draw(f, &app, &theme))?;
        }
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
                if effect == Effect::Reload {
                    queue.extend(app.update(Action::Updating(Some(String::new()))));
                    for action in reload_in_background(&mut store, &config, &clock, &reload_tx) {
                        queue.extend(app.update(action));
                    }
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
                let want = app.wants();
                let reply = perform(&mut store, &config, &clock, source, effect, &want, &mut guard);
                for action in reply {
                    queue.extend(app.update(action));
                }
            }
        }
        if app.quitting {
            break;
        }
        // The detail pane of the selection, read for it alone (with the next few moves).
        if let Some(keys) = app.contexts_wanted() {
            for action in read_contexts(&store, &config, &keys) {
                app.update(action);
            }
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
    want: &Want,
    guard: &mut TerminalGuard,
) -> Vec<Action> {
    let mut out = Vec::new();
    // A re-read after a background pass or a sync brings the mirror's counts too.
    let whole = effect == Effect::Refresh;
    let result = match effect {
        Effect::EditDraft { key } => edit_draft(store, config, clock, &key, guard),
        Effect::Execute { key, .. } => match execute(store, config, clock, source, &key) {
            Ok(said) => Ok(said),
            Err(e) => {
                // A rule said no (stale draft, daily cap…) unless the mirror itself failed.
                let refusal = !matches!(
                    e.downcast_ref::<actions::ActionError>(),
                    Some(actions::ActionError::Store(_)) | None
                );
                out.push(Action::ExecuteFailed {
                    key,
                    reason: e.to_string(),
                    refusal,
                });
                Ok(None)
            }
        },
        other => apply(store, config, clock, source, other),
    };
    match result {
        Ok(Some(msg)) => out.push(Action::Done(msg)),
        Ok(None) => {}
        Err(e) => out.push(Action::Failed(e.to_string())),
    }
    match settled_snapshot(store, config, clock, want, whole) {
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
        Effect::Execute { key, .. } => execute(store, config, clock, source, &key),
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
        Effect::WriteDraft { key } => {
            let m = find_move(store, config, &key)?;
            if !actions::writes_draft(&m) {
                // The screen was older than the mirror: never approve what was not seen.
                return Err(anyhow::anyhow!(
                    "a draft arrived for this move meanwhile; nothing was written — read it, then y approves it"
                ));
            }
            actions::write_draft(store, config, &m, now)?;
            Ok(Some(
                "draft written from the template, on this machine only · e to edit · y to approve".into(),
            ))
        }
        Effect::DiscardDraft { key } => {
            let m = find_move(store, config, &key)?;
            Ok(Some(actions::discard_draft(
                store,
                config,
                &m,
                source == Source::Demo,
                now,
            )?))
        }
        Effect::Undo { key } => Ok(actions::undo(store, Some(&key), now)?.map(|u| u.message)),
        // Reached only when there is nothing to sync with (a syncer takes it otherwise).
        Effect::Sync => Ok(Some(match source {
            Source::Demo => "demo data is bundled with casey: there is nothing to sync".to_string(),
            Source::Live => return Err(anyhow::anyhow!(NOT_CONNECTED)),
        })),
        // `perform` reloads after every effect; nothing else to do. (A worker run is started
        // by the loop, never here.)
        Effect::Reload | Effect::Refresh | Effect::EditDraft { .. } | Effect::RunOutbox | Effect::Quit => {
            Ok(None)
        }
    }
}

/// The move `key` as the stored ranking has it once pending changes are settled.
fn find_move(store: &Store, config: &Config, key: &str) -> anyhow::Result<crate::domain::moves::Move> {
    today::settle_changes(store, config)?;
    store
        .ranked_move(key, &config.aps)?
        .ok_or_else(|| anyhow::anyhow!("that move is gone after the last refresh; nothing was done"))
}

/// Executes a move (simulated in the demo); what to say when the app's own message does not
/// fit: a draft written from the template, or nothing to write.
fn execute(
    store: &Store,
    config: &Config,
    clock: &Clock,
    source: Source,
    key: &str,
) -> anyhow::Result<Option<String>> {
    let now = clock.now();
    let m = find_move(store, config, key)?;
    let writes = actions::writes_draft(&m);
    let said = actions::execute(store, config, &m, source == Source::Demo, now)?;
    Ok((writes || said.starts_with("already")).then_some(said))
}

/// Opens the move's draft in `$VISUAL` / `$EDITOR` (else `vi`) and stores the edited body.
fn edit_draft(
    store: &mut Store,
    config: &Config,
    clock: &Clock,
    key: &str,
    guard: &mut TerminalGuard,
) -> anyhow::Result<Option<String>> {
    today::settle_changes(store, config)?;
    let Some(draft_id) = store
        .ranked_move(key, &config.aps)?
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
