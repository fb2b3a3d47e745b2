//! `casey doctor` from the outside: a healthy installation passes, and an unreachable API, a
//! damaged mirror or a failed last sync are named and make it exit 1 — without creating or
//! changing what it checks, and without ever printing a token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support {
    pub mod cli;
    pub mod fake_hubspot;
}

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;
use support::cli::casey;
use support::fake_hubspot::{FakeHubSpot, TOKEN};
use wiremock::MockServer;

/// Nothing listens on the discard port of the loopback interface.
const CLOSED: &str = "http://127.0.0.1:9";

/// `casey` pointed at these API bases (HubSpot, Gmail).
fn casey_at(data: &Path, hubspot: &str, gmail: &str) -> Command {
    let mut c = casey(data);
    c.env("CASEYOS_HUBSPOT__API_BASE", hubspot)
        .env("CASEYOS_GOOGLE__API_BASE", gmail);
    c
}

/// Runs a command off the async runtime, so the local fakes keep answering meanwhile.
async fn run(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// The report line of one check: `  FAIL  name  detail`, the name padded to a column.
fn line<'a>(stdout: &'a str, name: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| {
            l.get(8..)
                .and_then(|rest| rest.strip_prefix(name))
                .is_some_and(|after| after.starts_with("  "))
        })
        .unwrap_or_else(|| panic!("no `{name}` line in:\n{stdout}"))
}

fn assert_no_token(out: &Output, data: &Path, token: &str) {
    assert!(!text(&out.stdout).contains(token), "token on stdout");
    assert!(!text(&out.stderr).contains(token), "token on stderr");
    let log = std::fs::read_to_string(data.join("casey.log")).unwrap_or_default();
    assert!(!log.contains(token), "token in the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_installation_passes_and_says_where_everything_is() {
    let fake = FakeHubSpot::start(2, 3, 2, 1).await;
    let gmail = MockServer::start().await;
    let data = tempfile::tempdir().unwrap();
    let mut sync = casey_at(data.path(), &fake.server.uri(), &gmail.uri());
    sync.env("CASEYOS_HUBSPOT_TOKEN", TOKEN)
        .args(["sync", "--hubspot"]);
    let out = run(sync).await;
    assert!(out.status.success(), "{}", text(&out.stderr));

    let mut doctor = casey_at(data.path(), &fake.server.uri(), &gmail.uri());
    doctor.env("CASEYOS_HUBSPOT_TOKEN", TOKEN).arg("doctor");
    let out = run(doctor).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let db = data.path().join("casey.db");
    assert!(line(&stdout, "data dir").contains(&data.path().display().to_string()));
    assert!(line(&stdout, "config file").contains("config.toml (exists)"));
    assert!(
        line(&stdout, "database").contains(&db.display().to_string()),
        "{stdout}"
    );
    assert!(line(&stdout, "integrity").starts_with("  ok"), "{stdout}");
    let current = format!("version {} (current", caseyos::store::SCHEMA_VERSION);
    assert!(line(&stdout, "schema").contains(&current), "{stdout}");
    assert!(
        line(&stdout, "contents").contains("3 contacts · 2 companies · 2 deals"),
        "{stdout}"
    );
    assert!(
        line(&stdout, "HubSpot").contains("connected from CASEYOS_HUBSPOT_TOKEN"),
        "{stdout}"
    );
    assert!(
        line(&stdout, "hubspot").contains("last synced 2026-11-20 15:00 UTC"),
        "{stdout}"
    );
    assert!(line(&stdout, "backend").contains("switched off"), "{stdout}");
    let api = line(&stdout, "HubSpot API");
    assert!(
        api.starts_with("  ok") && api.contains(&fake.server.uri()),
        "{api}"
    );
    assert!(line(&stdout, "Gmail API").starts_with("  ok"), "{stdout}");
    for group in ["Paths", "Mirror", "Accounts", "Sync", "Keyring", "Network"] {
        assert!(
            stdout.lines().any(|l| l == group),
            "no {group} group in:\n{stdout}"
        );
    }
    assert!(
        stdout.trim_end().ends_with("all checks passed (3 warnings)"),
        "{stdout}"
    );
    assert_no_token(&out, data.path(), TOKEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_api_of_a_connected_account_is_a_problem_naming_the_url() {
    let gmail = MockServer::start().await;
    let data = tempfile::tempdir().unwrap();
    let token = "pat-na1-doctor-never-prints-this";
    let mut doctor = casey_at(data.path(), CLOSED, &gmail.uri());
    doctor.env("CASEYOS_HUBSPOT_TOKEN", token).arg("doctor");
    let out = run(doctor).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let api = line(&stdout, "HubSpot API");
    assert!(api.starts_with("  FAIL"), "{api}");
    assert!(api.contains("http://127.0.0.1:9 is unreachable"), "{api}");
    assert!(api.contains("refused"), "{api}");
    assert!(stdout.trim_end().ends_with("1 problem (5 warnings)"), "{stdout}");
    assert_no_token(&out, data.path(), token);

    // Nothing connected uses it: worth a warning, not a problem.
    let mut doctor = casey_at(data.path(), CLOSED, &gmail.uri());
    doctor.arg("doctor");
    let out = run(doctor).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(line(&stdout, "HubSpot API").starts_with("  warn"), "{stdout}");
}

#[test]
fn a_fresh_installation_only_warns_and_the_mirror_is_not_created() {
    let data = tempfile::tempdir().unwrap();
    let out = casey_at(data.path(), CLOSED, CLOSED)
        .arg("doctor")
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        line(&stdout, "database").contains("not created yet (run `casey sync`)"),
        "{stdout}"
    );
    assert!(line(&stdout, "HubSpot").contains("not connected"), "{stdout}");
    assert!(line(&stdout, "gmail").contains("never synced"), "{stdout}");
    assert!(
        !data.path().join("casey.db").exists(),
        "doctor created the mirror"
    );
}

#[test]
fn a_corrupt_mirror_is_a_problem_and_is_left_untouched() {
    let data = tempfile::tempdir().unwrap();
    let db = data.path().join("casey.db");
    let junk = b"not a database at all, just some notes\n".repeat(200);
    std::fs::write(&db, &junk).unwrap();
    let out = casey_at(data.path(), CLOSED, CLOSED)
        .arg("doctor")
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let open = line(&stdout, "open");
    assert!(open.starts_with("  FAIL"), "{open}");
    assert!(open.contains("is not a readable CaseyOS database"), "{open}");
    assert!(open.contains("left untouched"), "{open}");
    assert!(line(&stdout, "hubspot").contains("could not be read"), "{stdout}");
    assert!(
        stdout.trim_end().ends_with("\n1 problem (7 warnings)"),
        "{stdout}"
    );
    assert_eq!(std::fs::read(&db).unwrap(), junk, "the file was changed");
    assert!(!data.path().join("casey.db-wal").exists());
}

#[test]
fn a_mirror_from_a_newer_casey_is_a_problem() {
    let data = tempfile::tempdir().unwrap();
    let db = data.path().join("casey.db");
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch("CREATE TABLE future(x); PRAGMA user_version = 99;")
            .unwrap();
    }
    let before = std::fs::read(&db).unwrap();
    let out = casey_at(data.path(), CLOSED, CLOSED)
        .arg("doctor")
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(line(&stdout, "open").contains("schema version 99"), "{stdout}");
    assert!(line(&stdout, "open").contains("upgrade casey"), "{stdout}");
    assert_eq!(std::fs::read(&db).unwrap(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_last_sync_is_shown_with_its_error() {
    let fake = FakeHubSpot::start(1, 1, 1, 1).await;
    let gmail = MockServer::start().await;
    let data = tempfile::tempdir().unwrap();
    let wrong = "pat-na1-wrong-token-not-to-be-printed";
    let mut sync = casey_at(data.path(), &fake.server.uri(), &gmail.uri());
    sync.env("CASEYOS_HUBSPOT_TOKEN", wrong)
        .args(["sync", "--hubspot"]);
    let out = run(sync).await;
    assert!(!out.status.success());

    let mut doctor = casey_at(data.path(), &fake.server.uri(), &gmail.uri());
    doctor.env("CASEYOS_HUBSPOT_TOKEN", wrong).arg("doctor");
    let out = run(doctor).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let hubspot = line(&stdout, "hubspot");
    assert!(hubspot.starts_with("  FAIL"), "{hubspot}");
    assert!(
        hubspot.contains("last sync 2026-11-20 15:00 UTC (0m ago) failed: HubSpot rejected the token (401)"),
        "{hubspot}"
    );
    assert!(hubspot.contains("never succeeded"), "{hubspot}");
    assert!(stdout.trim_end().ends_with("1 problem (3 warnings)"), "{stdout}");
    assert_no_token(&out, data.path(), wrong);

    // The right token: the next sync succeeds and clears the problem.
    let mut sync = casey_at(data.path(), &fake.server.uri(), &gmail.uri());
    sync.env("CASEYOS_HUBSPOT_TOKEN", TOKEN)
        .args(["sync", "--hubspot"]);
    assert!(run(sync).await.status.success());
    let mut doctor = casey_at(data.path(), &fake.server.uri(), &gmail.uri());
    doctor.env("CASEYOS_HUBSPOT_TOKEN", TOKEN).arg("doctor");
    let out = run(doctor).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(line(&text(&out.stdout), "hubspot").starts_with("  ok"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lists_every_check_and_counts_the_problems() {
    let gmail = MockServer::start().await;
    let data = tempfile::tempdir().unwrap();
    let token = "pat-na1-json-never-shows-this";
    let mut doctor = casey_at(data.path(), CLOSED, &gmail.uri());
    doctor
        .env("CASEYOS_HUBSPOT_TOKEN", token)
        .args(["doctor", "--json"]);
    let out = run(doctor).await;
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let checks = doc["checks"].as_array().unwrap();
    let order = ["Paths", "Mirror", "Accounts", "Sync", "Keyring", "Network"];
    let mut last = 0;
    for c in checks {
        for field in ["group", "name", "status", "detail"] {
            assert!(c[field].is_string(), "{field} in {c}");
        }
        assert!(
            ["ok", "warn", "fail"].contains(&c["status"].as_str().unwrap()),
            "{c}"
        );
        let group = order
            .iter()
            .position(|g| *g == c["group"].as_str().unwrap())
            .unwrap_or_else(|| panic!("unknown group in {c}"));
        assert!(group >= last, "groups out of order at {c}");
        last = group;
    }
    let fails = checks.iter().filter(|c| c["status"] == "fail").count();
    assert_eq!(doc["problems"], serde_json::json!(fails));
    assert_eq!(fails, 1);
    let failed = checks.iter().find(|c| c["status"] == "fail").unwrap();
    assert_eq!(failed["group"], "Network");
    assert_eq!(failed["name"], "HubSpot API");
    assert!(failed["detail"].as_str().unwrap().contains(CLOSED));
    assert_no_token(&out, data.path(), token);
}
