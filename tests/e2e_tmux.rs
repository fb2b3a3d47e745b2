//! End-to-end: the real `casey demo` binary in a real terminal (tmux), driven by keys.
//! Skipped, with the reason printed, where tmux is not installed (`.ci/run` installs it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support {
    pub mod fake_gmail;
    pub mod fake_hubspot;
}

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    /// A detached 120×30 session running `cmd` (sh -c), its server on a socket in `dir`.
    fn start(dir: &Path, cmd: &str) -> Tmux {
        let tmux = Tmux {
            socket: dir.join("tmux.sock"),
        };
        let started = Command::new("tmux")
            .arg("-S")
            .arg(&tmux.socket)
            .args([
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                "casey",
                "-x",
                "120",
                "-y",
                "30",
                "sh",
                "-c",
                cmd,
            ])
            .status()
            .unwrap();
        assert!(started.success());
        tmux
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "casey"])
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "casey"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// Waits (bounded) until the screen satisfies `pred`; returns the last screen either way.
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(["kill-server"])
            .output();
    }
}

fn wait_for_file(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(s) = std::fs::read_to_string(path)
            && s.ends_with('\n')
        {
            return s;
        }
        assert!(Instant::now() < deadline, "casey did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A temporary data dir with an empty config, and the shell command that runs `casey ARGS`
/// there with `env` set, writing its exit code to `rc` when it ends.
struct Scene {
    dir: tempfile::TempDir,
    config: PathBuf,
    rc: PathBuf,
    cmd: String,
}

fn scene(env: &str, args: &str) -> Scene {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "").unwrap();
    let rc = dir.path().join("rc");
    let cmd = scene_cmd(dir.path(), &config, &rc, env, args);
    Scene { dir, config, rc, cmd }
}

/// The shell command running `casey ARGS` on the data dir `dir` with `env`, writing its exit
/// code to `rc`.
fn scene_cmd(dir: &Path, config: &Path, rc: &Path, env: &str, args: &str) -> String {
    format!(
        "env CASEYOS_DATA_DIR='{}' CASEYOS_CONFIG='{}' CASEYOS_ACCOUNTS__KEYRING=none {env} TERM=xterm-256color '{}' {args}; echo $? > '{}'",
        dir.display(),
        config.display(),
        env!("CARGO_BIN_EXE_casey"),
        rc.display()
    )
}

/// The kernel keyring under `service`, or `None` after saying why the test is skipped (a
/// failure instead when `CASEYOS_REQUIRE_KEYRING` is set, as in `.ci/run`).
fn kernel_keyring(service: &str) -> Option<std::sync::Arc<dyn caseyos::auth::secrets::SecretStore>> {
    let accounts = caseyos::config::Accounts {
        keyring: "keyutils".into(),
        keyring_service: service.into(),
        sign_in_timeout_seconds: 60,
    };
    match caseyos::auth::secrets::open(&accounts) {
        Ok(s) => Some(s),
        Err(e) if std::env::var("CASEYOS_REQUIRE_KEYRING").is_ok_and(|v| !v.is_empty() && v != "0") => {
            panic!("CASEYOS_REQUIRE_KEYRING is set but the kernel keyring is unavailable: {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED: no kernel keyring here ({e})");
            None
        }
    }
}

/// `casey --demo moves --json` on the demo copy in `dir`, at the demo's clock.
fn demo_moves(dir: &Path, config: &Path) -> Vec<serde_json::Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_casey"))
        .env("CASEYOS_DATA_DIR", dir)
        .env("CASEYOS_CONFIG", config)
        .env("CASEYOS_NOW", "2026-11-20T15:00:00Z")
        .args(["--demo", "moves", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn tmux_missing() -> bool {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("SKIPPED: tmux is not installed (apt-get install tmux); the end-to-end test needs it");
        return true;
    }
    false
}

#[test]
fn demo_tui_in_tmux_accepts_persists_and_quits_cleanly() {
    if tmux_missing() {
        return;
    }
    let Scene { dir, config, rc, cmd } = scene("CASEYOS_NOW=2026-11-20T15:00:00Z", "demo");
    let tmux = Tmux::start(dir.path(), &cmd);

    // The first frame can be captured while the terminal is still receiving it, so wait for
    // the whole of it (list and detail pane) rather than for its first line.
    let screen = tmux.wait_for("the moves list with the detail pane", |s| {
        s.contains("Today's Moves (") && s.contains("Why this score")
    });
    assert!(screen.contains("DEMO"), "{screen}");
    assert!(!screen.contains('\u{1b}'));

    // Second move: accept it.
    tmux.keys(&["j"]);
    tmux.keys(&["a"]);
    tmux.wait_for("the accepted status", |s| s.contains("accepted · u to undo"));

    // Help overlay opens and closes.
    tmux.keys(&["?"]);
    tmux.wait_for("the help overlay", |s| {
        s.contains(" Keys ") && s.contains("rebindable")
    });
    tmux.keys(&["Escape"]);
    tmux.wait_for("help to close", |s| !s.contains("rebindable"));

    // Views cycle.
    tmux.keys(&["Tab"]);
    tmux.wait_for("the drafts view", |s| s.contains("Drafts awaiting approval"));
    tmux.keys(&["Tab", "Tab", "Tab"]);
    tmux.wait_for("back to moves", |s| s.contains("Today's Moves ("));

    tmux.keys(&["q"]);
    assert_eq!(wait_for_file(&rc).trim(), "0", "casey exits 0 on q");

    // The decision survived the process: the demo copy now has one accepted move.
    let moves = demo_moves(dir.path(), &config);
    let accepted: Vec<_> = moves.iter().filter(|m| m["state"] == "accepted").collect();
    assert_eq!(
        accepted.len(),
        1,
        "exactly the move accepted in the TUI is accepted"
    );
    assert_eq!(accepted[0]["rank"], 2, "it was the second move");
}

#[test]
fn editing_a_draft_and_a_decision_just_before_quitting_both_land_in_the_mirror() {
    if tmux_missing() {
        return;
    }
    // The "editor" appends a line to the file it is given.
    let tools = tempfile::tempdir().unwrap();
    let editor = tools.path().join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\necho 'P.S. written in the editor' >> \"$1\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).unwrap();
    let env = format!(
        "CASEYOS_NOW=2026-11-20T15:00:00Z EDITOR='{}' VISUAL=",
        editor.display()
    );
    let Scene { dir, config, rc, cmd } = scene(&env, "demo");
    let tmux = Tmux::start(dir.path(), &cmd);
    // A fresh demo copy is ranked in the background: wait for the ranked list itself.
    let ranked = |s: &str| s.lines().any(|l| l.starts_with("│  1 ")) && !s.contains("Updating the moves");
    tmux.wait_for("the ranked moves", |s| s.contains("Today's Moves (") && ranked(s));
    tmux.keys(&["Tab"]);
    tmux.wait_for("the drafts", |s| {
        s.contains("Drafts awaiting approval (") && ranked(s)
    });
    // The draft is looked up by the store thread, edited here, stored by the store thread.
    tmux.keys(&["e"]);
    tmux.wait_for("the saved draft", |s| s.contains("draft saved locally"));
    // Back on the list: accept the first move and quit at once, without waiting for anything.
    tmux.keys(&["Tab", "Tab", "Tab", "a", "q"]);
    assert_eq!(wait_for_file(&rc).trim(), "0", "casey exits 0 on q");

    let db = rusqlite::Connection::open(dir.path().join("demo").join("casey-demo.db")).unwrap();
    let edited: i64 = db
        .query_row(
            "SELECT count(*) FROM drafts WHERE body LIKE '%P.S. written in the editor%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(edited, 1, "the edited body is stored");
    let moves = demo_moves(dir.path(), &config);
    assert_eq!(
        moves.iter().filter(|m| m["state"] == "accepted").count(),
        1,
        "the decision taken just before q was written before casey exited"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_tui_syncs_hubspot_in_the_background_and_shows_the_new_moves() {
    use support::fake_hubspot::{FakeHubSpot, TOKEN};
    if tmux_missing() {
        return;
    }
    let fake = FakeHubSpot::start(5, 20, 5, 5).await;
    let base = fake.server.uri();
    let Scene { dir, rc, cmd, .. } = scene(
        &format!(
            "CASEYOS_NOW=2026-11-21T00:00:00Z CASEYOS_HUBSPOT__API_BASE='{base}' CASEYOS_HUBSPOT_TOKEN='{TOKEN}'"
        ),
        "",
    );
    let screen = tokio::task::spawn_blocking(move || {
        let tmux = Tmux::start(dir.path(), &cmd);
        // Nothing is mirrored at first; the background sync starts on the first tick, and
        // the moves it brings (five overdue tasks) appear without a key press.
        let screen = tmux.wait_for("the synced moves", |s| {
            s.contains("synced 00:00") && s.contains("Today's Moves (5)")
        });
        tmux.keys(&["r"]);
        tmux.wait_for("the second sync", |s| s.contains("hubspot: 0 fetched"));
        tmux.keys(&["q"]);
        assert_eq!(wait_for_file(&rc).trim(), "0", "casey exits 0 on q");
        screen
    })
    .await
    .unwrap();
    assert!(screen.contains("overdue"), "{screen}");
    assert!(!screen.contains(TOKEN));
    assert!(
        fake.log().iter().any(|r| r.starts_with("/crm/v3/objects/tasks")),
        "the TUI synced against the fake"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_tui_runs_the_outbox_in_the_background_after_x() {
    use support::fake_hubspot::{FakeHubSpot, TOKEN};
    if tmux_missing() {
        return;
    }
    let fake = FakeHubSpot::start(5, 20, 5, 5).await;
    let base = fake.server.uri();
    let Scene { dir, rc, cmd, .. } = scene(
        &format!(
            "CASEYOS_NOW=2026-11-21T00:00:00Z CASEYOS_HUBSPOT__API_BASE='{base}' CASEYOS_HUBSPOT_TOKEN='{TOKEN}'"
        ),
        "",
    );
    let screen = tokio::task::spawn_blocking(move || {
        let tmux = Tmux::start(dir.path(), &cmd);
        tmux.wait_for("the synced moves", |s| {
            s.contains("synced 00:00") && s.contains("Today's Moves (5)")
        });
        // x on an overdue task: queued in the outbox, then completed by the background worker
        // with the sync's HubSpot client, without another key.
        tmux.keys(&["x"]);
        let screen = tmux.wait_for("the outbox run", |s| s.contains("outbox: 1 done"));
        tmux.keys(&["Tab", "Tab"]);
        tmux.wait_for("the outbox view", |s| {
            s.contains("Outbox (1)") && s.contains("hubspot.task.complete")
        });
        tmux.keys(&["q"]);
        assert_eq!(wait_for_file(&rc).trim(), "0", "casey exits 0 on q");
        screen
    })
    .await
    .unwrap();
    assert!(screen.contains("Today's Moves (4)"), "{screen}");
    let patches = fake.patches();
    assert_eq!(patches.len(), 1, "one task completed, once: {patches:?}");
    assert_eq!(
        (patches[0].object_type.as_str(), patches[0].status),
        ("tasks", 200)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_tui_syncs_gmail_in_the_background_and_shows_the_replies_waiting() {
    use support::fake_gmail::{FakeGmail, Method, TOKEN};
    if tmux_missing() {
        return;
    }
    let fake = FakeGmail::with_mailbox(60, 20).await;
    let base = fake.uri();
    let Scene { dir, rc, cmd, .. } = scene(
        &format!(
            "CASEYOS_NOW=2026-11-21T00:00:00Z CASEYOS_GOOGLE__API_BASE='{base}' CASEYOS_GOOGLE_TOKEN='{TOKEN}' \
             CASEYOS_HUBSPOT_TOKEN= CASEYOS_GOOGLE_REFRESH_TOKEN="
        ),
        "",
    );
    let screen = tokio::task::spawn_blocking(move || {
        let tmux = Tmux::start(dir.path(), &cmd);
        // The mailbox arrives in the background and the threads waiting for an answer appear.
        let screen = tmux.wait_for("the synced replies", |s| {
            s.contains("synced 00:00") && s.contains("Reply:")
        });
        tmux.keys(&["r"]);
        tmux.wait_for("the second sync", |s| s.contains("gmail: 0 fetched"));
        tmux.keys(&["q"]);
        assert_eq!(wait_for_file(&rc).trim(), "0", "casey exits 0 on q");
        screen
    })
    .await
    .unwrap();
    assert!(!screen.contains(TOKEN));
    assert!(
        fake.calls(Method::MessagesList) >= 1,
        "the TUI listed the mailbox"
    );
    assert_eq!(
        fake.calls(Method::HistoryList),
        1,
        "the second sync read the history"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_google_sign_in_says_run_casey_auth_google_and_the_tui_keeps_working() {
    use support::fake_gmail::{FakeGmail, REFRESH_TOKEN};
    if tmux_missing() {
        return;
    }
    let fake = FakeGmail::with_mailbox(60, 20).await;
    let env = format!(
        "CASEYOS_NOW=2026-11-21T00:00:00Z CASEYOS_GOOGLE__API_BASE='{}' CASEYOS_GOOGLE__TOKEN_URL='{}' \
         CASEYOS_GOOGLE__CLIENT_ID=casey-test CASEYOS_GOOGLE_REFRESH_TOKEN='{REFRESH_TOKEN}' \
         CASEYOS_HUBSPOT_TOKEN= CASEYOS_GOOGLE_TOKEN=",
        fake.uri(),
        fake.token_url()
    );
    // A first sync mirrors the mailbox; then Google revokes the sign-in.
    let Scene { dir, rc, cmd, .. } = scene(&env, "sync --gmail");
    let synced = tokio::task::spawn_blocking(move || {
        let out = Command::new("sh").arg("-c").arg(&cmd).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        (dir, rc)
    })
    .await
    .unwrap();
    fake.revoke_refresh_token();
    let (dir, _) = synced;
    let config = dir.path().join("config.toml");
    let cmd = format!(
        "env CASEYOS_DATA_DIR='{}' CASEYOS_CONFIG='{}' CASEYOS_ACCOUNTS__KEYRING=none {env} TERM=xterm-256color '{}'; echo $? > '{}'",
        dir.path().display(),
        config.display(),
        env!("CARGO_BIN_EXE_casey"),
        dir.path().join("rc2").display()
    );
    let rc2 = dir.path().join("rc2");
    let screen = tokio::task::spawn_blocking(move || {
        let tmux = Tmux::start(dir.path(), &cmd);
        // The background sync fails; the screen says what to do, the mirror stays usable.
        // The first frame comes from the stored ranking; the moves arrive once the
        // background pass has settled it.
        let screen = tmux.wait_for("the sign-in error and the moves", |s| {
            s.contains("sign-in revoked or expired: run `casey auth google` again") && s.contains("Reply:")
        });
        assert!(
            screen.contains("Reply:"),
            "the mirrored moves are still there:\n{screen}"
        );
        tmux.keys(&["j"]);
        tmux.keys(&["q"]);
        assert_eq!(wait_for_file(&rc2).trim(), "0", "casey exits 0 on q");
        screen
    })
    .await
    .unwrap();
    assert!(screen.contains("sync failed"), "{screen}");
    assert!(!screen.contains(REFRESH_TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_hubspot_while_the_tui_is_open_takes_effect_at_the_next_sync() {
    use support::fake_hubspot::{FakeHubSpot, TOKEN};
    if tmux_missing() {
        return;
    }
    let service = format!("caseyos-test-e2e-{}", std::process::id());
    let Some(store) = kernel_keyring(&service) else {
        return;
    };
    let fake = FakeHubSpot::start(5, 20, 5, 5).await;
    let env = format!(
        "CASEYOS_NOW=2026-11-21T00:00:00Z CASEYOS_HUBSPOT__API_BASE='{}' CASEYOS_ACCOUNTS__KEYRING=keyutils \
         CASEYOS_ACCOUNTS__KEYRING_SERVICE='{service}' CASEYOS_HUBSPOT_TOKEN= CASEYOS_GOOGLE_TOKEN= \
         CASEYOS_GOOGLE_REFRESH_TOKEN=",
        fake.server.uri()
    );
    let Scene {
        dir, rc, cmd, config, ..
    } = scene(&env, "");
    let auth = format!(
        "echo '{TOKEN}' | env CASEYOS_DATA_DIR='{}' CASEYOS_CONFIG='{}' {env} '{}' auth hubspot --token-stdin",
        dir.path().display(),
        config.display(),
        env!("CARGO_BIN_EXE_casey"),
    );
    tokio::task::spawn_blocking(move || {
        let tmux = Tmux::start(dir.path(), &cmd);
        tmux.wait_for("the onboarding screen", |s| s.contains("casey auth hubspot"));
        // Connected in another terminal while the TUI stays open…
        let out = Command::new("sh").arg("-c").arg(&auth).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        // …and the next sync uses it.
        tmux.keys(&["r"]);
        tmux.wait_for("the synced moves", |s| s.contains("Today's Moves (5)"));
        tmux.keys(&["q"]);
        assert_eq!(wait_for_file(&rc).trim(), "0", "casey exits 0 on q");
    })
    .await
    .unwrap();
    store.delete("hubspot").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_prompt_does_not_echo_what_is_typed() {
    use support::fake_hubspot::{FakeHubSpot, TOKEN};
    if tmux_missing() {
        return;
    }
    let service = format!("caseyos-test-prompt-{}", std::process::id());
    let Some(store) = kernel_keyring(&service) else {
        return;
    };
    let fake = FakeHubSpot::start(1, 2, 1, 1).await;
    let Scene { dir, rc, cmd, .. } = scene(
        &format!(
            "CASEYOS_HUBSPOT__API_BASE='{}' CASEYOS_ACCOUNTS__KEYRING=keyutils \
             CASEYOS_ACCOUNTS__KEYRING_SERVICE='{service}' CASEYOS_HUBSPOT_TOKEN=",
            fake.server.uri()
        ),
        "auth hubspot --token-stdin",
    );
    // The pane stays open after casey exits, so everything it showed can be read.
    let cmd = format!("{cmd}; sleep 60");
    let screen = tokio::task::spawn_blocking(move || {
        let tmux = Tmux::start(dir.path(), &cmd);
        tmux.wait_for("the prompt", |s| s.contains("input hidden"));
        tmux.keys(&["-l", TOKEN]);
        tmux.keys(&["Enter"]);
        assert_eq!(wait_for_file(&rc).trim(), "0", "casey auth succeeded");
        tmux.wait_for("the confirmation", |s| s.contains("Connected HubSpot"))
    })
    .await
    .unwrap();
    assert!(!screen.contains(TOKEN), "the token was echoed:\n{screen}");
    let stored = caseyos::auth::Vault::with_store(store.clone())
        .load(caseyos::auth::Account::HubSpot)
        .unwrap()
        .unwrap();
    assert_eq!(secrecy::ExposeSecret::expose_secret(&stored.access_token), TOKEN);
    store.delete("hubspot").unwrap();
}

/// `casey ARGS` with the scene's data dir and `env`, outside tmux; its stdout.
fn casey(dir: &Path, config: &Path, env: &[(&str, String)], args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_casey"))
        .env("CASEYOS_DATA_DIR", dir)
        .env("CASEYOS_CONFIG", config)
        .env("CASEYOS_ACCOUNTS__KEYRING", "none")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "casey {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_mode_in_the_tui_counts_down_and_u_inside_the_window_sends_nothing() {
    use support::fake_gmail::{FakeGmail, NewMessage, TOKEN};
    if tmux_missing() {
        return;
    }
    // The TUI runs on the wall clock here (the undo window has to pass), so Dana wrote an hour
    // before it.
    let fake = FakeGmail::start().await;
    fake.add_message(NewMessage {
        from: "Dana Reyes <dana@acme.example>".into(),
        subject: "Renewal".into(),
        text: "Can we talk numbers?".into(),
        internal_date_ms: (chrono::Utc::now() - chrono::Duration::hours(1)).timestamp_millis(),
        ..NewMessage::default()
    });
    let base = fake.uri();
    let env = |window: u32| {
        format!(
            "CASEYOS_GOOGLE__API_BASE='{base}' CASEYOS_GOOGLE_TOKEN='{TOKEN}' CASEYOS_HUBSPOT_TOKEN= \
             CASEYOS_GOOGLE_REFRESH_TOKEN= CASEYOS_SAFETY__MODE=send CASEYOS_SAFETY__UNDO_WINDOW_SECONDS={window}"
        )
    };
    let Scene { dir, config, rc, cmd } = scene(&env(600), "");
    let dir_path = dir.path().to_path_buf();
    let rc2 = rc.clone();
    let screens = tokio::task::spawn_blocking(move || {
        let tmux = Tmux::start(&dir_path, &cmd);
        tmux.wait_for("Dana's thread", |s| s.contains("Reply: Renewal"));
        tmux.keys(&["x"]);
        tmux.wait_for("the draft from the template", |s| s.contains("draft written"));
        tmux.keys(&["y"]);
        let counting = tmux.wait_for("the countdown", |s| {
            s.contains("sending to dana@acme.example in") && s.contains("u cancels")
        });
        tmux.keys(&["u"]);
        let cancelled = tmux.wait_for("the cancellation", |s| {
            s.contains("send cancelled · nothing was sent")
        });
        tmux.keys(&["q"]);
        assert_eq!(wait_for_file(&rc2).trim(), "0");
        (counting, cancelled)
    })
    .await
    .unwrap();
    assert!(
        screens.1.contains("Reply: Renewal"),
        "the move is back:\n{}",
        screens.1
    );

    // Long after the window, the worker finds nothing to send.
    let later = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let cli_env = [
        ("CASEYOS_GOOGLE__API_BASE", base.clone()),
        ("CASEYOS_GOOGLE_TOKEN", TOKEN.to_string()),
        ("CASEYOS_HUBSPOT_TOKEN", String::new()),
        ("CASEYOS_GOOGLE_REFRESH_TOKEN", String::new()),
        ("CASEYOS_SAFETY__MODE", "send".to_string()),
        ("CASEYOS_NOW", later),
    ];
    casey(dir.path(), &config, &cli_env, &["outbox", "run"]);
    assert!(fake.sent().is_empty(), "undo inside the window sends nothing");
    let list: serde_json::Value = serde_json::from_str(&casey(
        dir.path(),
        &config,
        &cli_env,
        &["outbox", "list", "--json"],
    ))
    .unwrap();
    let send = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "gmail.draft.send")
        .unwrap();
    assert_eq!(send["state"], "cancelled", "{list}");

    // Approved again with a 1-second window and left alone: it goes out, once. (No sync this
    // time: the fake dates the drafts it stores by its own fixed clock, days before this wall
    // clock, which would make the draft look older than Dana's message.)
    let _ = std::fs::remove_file(&rc);
    let cmd = scene_cmd(
        dir.path(),
        &config,
        &rc,
        &format!("{} CASEYOS_GENERAL__SYNC_INTERVAL_MINUTES=0", env(1)),
        "",
    );
    let dir_path = dir.path().to_path_buf();
    let sent_screen = tokio::task::spawn_blocking(move || {
        let tmux = Tmux::start(&dir_path, &cmd);
        tmux.wait_for("Dana's thread", |s| s.contains("Reply: Renewal"));
        tmux.keys(&["y"]);
        let s = tmux.wait_for("the send", |s| s.contains("sent to dana@acme.example"));
        tmux.keys(&["q"]);
        assert_eq!(wait_for_file(&rc).trim(), "0");
        s
    })
    .await
    .unwrap();
    assert!(!sent_screen.contains("Reply: Renewal"), "{sent_screen}");
    let sent = fake.sent();
    assert_eq!(sent.len(), 1, "sent exactly once");
    assert!(sent[0].header("In-Reply-To").is_some(), "a reply in the thread");
}
