//! The `casey` binary from the outside: config fixtures, JSON output, errors and exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support {
    pub mod cli;
}

use std::path::{Path, PathBuf};

use predicates::prelude::*;
use support::cli::casey;

fn fixtures(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
    v.sort();
    v
}

#[test]
fn every_valid_config_fixture_checks_ok() {
    let data = tempfile::tempdir().unwrap();
    let files = fixtures("valid_configs");
    assert!(files.len() >= 4);
    for f in files {
        casey(data.path())
            .args(["--config", f.to_str().unwrap(), "config", "check"])
            .assert()
            .success()
            .stdout(predicate::str::starts_with("ok: "));
    }
}

#[test]
fn every_invalid_config_fixture_names_file_line_and_key() {
    let expected = [
        ("bad_mode.toml", 5, "safety.mode"),
        ("bad_property.toml", 3, "hubspot.extra_properties.contacts"),
        ("bad_type.toml", 3, "aps.revenue"),
        ("file_keyring.toml", 3, "accounts.keyring"),
        ("key_conflict.toml", 2, "keys.skip"),
        ("negative_weight.toml", 3, "aps.fit"),
        ("plain_http.toml", 2, "hubspot.api_base"),
        ("syntax.toml", 3, "moves.closing_soon_days"),
        ("unknown_key.toml", 3, "safety.send_everything"),
        ("zero_rate.toml", 2, "hubspot.search_per_second"),
    ];
    let data = tempfile::tempdir().unwrap();
    let files = fixtures("invalid_configs");
    assert_eq!(files.len(), expected.len(), "every fixture has an expectation");
    for (name, line, key) in expected {
        let path = files.iter().find(|f| f.ends_with(name)).unwrap();
        let out = casey(data.path())
            // `config check` never opens the keyring; let the fixture's own choice stand.
            .env_remove("CASEYOS_ACCOUNTS__KEYRING")
            .args(["--config", path.to_str().unwrap(), "config", "check"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name} exits 2");
        let err = String::from_utf8(out.stderr).unwrap();
        let location = if line > 0 {
            format!("{name}:{line}: key `{key}`")
        } else {
            format!("key `{key}`")
        };
        assert!(
            err.contains(&location),
            "{name}: expected {location:?} in {err:?}"
        );
        assert!(out.stdout.is_empty(), "nothing on stdout for {name}");
    }
}

#[test]
fn an_invalid_config_stops_every_command_not_just_check() {
    let data = tempfile::tempdir().unwrap();
    let bad = fixtures("invalid_configs")
        .into_iter()
        .find(|f| f.ends_with("negative_weight.toml"))
        .unwrap();
    casey(data.path())
        .args(["--config", bad.to_str().unwrap(), "--demo", "moves"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("aps.fit"));
}

#[test]
fn environment_overrides_are_validated_too() {
    let data = tempfile::tempdir().unwrap();
    casey(data.path())
        .env("CASEYOS_APS__URGENCY", "-3")
        .args(["config", "check"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("CASEYOS_APS__URGENCY").and(predicate::str::contains("aps.urgency")),
        );
    casey(data.path())
        .env("CASEYOS_SAFETY__MODE", "send")
        .args(["config", "check"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Send"));
}

#[test]
fn config_path_names_the_locations() {
    let data = tempfile::tempdir().unwrap();
    casey(data.path())
        .args(["config", "path"])
        .assert()
        .success()
        .stdout(predicate::str::contains("casey.db").and(predicate::str::contains("config.toml (exists)")));
}

#[test]
fn demo_moves_json_has_the_documented_shape_and_parts_sum_to_aps() {
    let data = tempfile::tempdir().unwrap();
    let out = casey(data.path())
        .args(["--demo", "moves", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let moves: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        moves.len() >= 20,
        "the demo has plenty of moves, got {}",
        moves.len()
    );
    let mut kinds = std::collections::BTreeSet::new();
    let mut last = f64::INFINITY;
    for m in &moves {
        for field in ["key", "type", "title", "state"] {
            assert!(m[field].is_string(), "{field} in {m}");
        }
        let aps = m["aps"].as_f64().unwrap();
        assert!((0.0..=100.0).contains(&aps));
        assert!(aps <= last + 1e-9, "ranked by APS");
        last = aps;
        let parts = m["parts"].as_array().unwrap();
        let names: Vec<&str> = parts.iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["revenue", "urgency", "fit", "effort", "learned"]);
        let sum: f64 = parts.iter().map(|p| p["points"].as_f64().unwrap()).sum();
        assert!((sum - aps).abs() <= 0.5, "{}: parts {sum} vs aps {aps}", m["key"]);
        assert!(parts.iter().all(|p| !p["why"].as_str().unwrap().is_empty()));
        kinds.insert(m["type"].as_str().unwrap().to_string());
    }
    for k in [
        "reply_inbound",
        "approve_draft",
        "follow_up",
        "stale_deal",
        "closing_soon",
        "new_lead",
        "overdue_task",
        "stage_changed",
    ] {
        assert!(kinds.contains(k), "demo shows a {k} move; got {kinds:?}");
    }
}

#[test]
fn json_output_has_no_raw_control_characters() {
    let data = tempfile::tempdir().unwrap();
    let out = casey(data.path())
        .args(["--demo", "moves", "--json", "--all"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!out.stdout.contains(&0x1b), "no ESC byte in the JSON");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        !text.contains("\\u001b"),
        "escape sequences were removed, not merely escaped"
    );
}

#[test]
fn limit_and_plain_table() {
    let data = tempfile::tempdir().unwrap();
    let out = casey(data.path())
        .args(["--demo", "moves", "--json", "--limit", "3"])
        .output()
        .unwrap();
    let moves: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(moves.len(), 3);
    casey(data.path())
        .args(["--demo", "moves", "--limit", "2"])
        .assert()
        .success()
        .stdout(predicate::str::contains("  1  ").and(predicate::str::contains("  2  ")));
}

#[test]
fn explain_by_rank_key_and_fragment() {
    let data = tempfile::tempdir().unwrap();
    let out = casey(data.path())
        .args(["--demo", "moves", "--json", "--limit", "1"])
        .output()
        .unwrap();
    let top: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let key = top[0]["key"].as_str().unwrap().to_string();
    for query in ["1", key.as_str()] {
        casey(data.path())
            .args(["--demo", "explain", query])
            .assert()
            .success()
            .stdout(
                predicate::str::contains("APS")
                    .and(predicate::str::contains("revenue"))
                    .and(predicate::str::contains("What would move it"))
                    .and(predicate::str::contains(key.as_str())),
            );
    }
    let out = casey(data.path())
        .args(["--demo", "explain", &key, "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["key"], key.as_str());
    assert!(v["what_would_move_it"].is_array());
    casey(data.path())
        .args(["--demo", "explain", "no-such-move-anywhere"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("no move matches"));
}

#[test]
fn whats_up_summarises_the_demo() {
    let data = tempfile::tempdir().unwrap();
    casey(data.path())
        .args(["--demo", "whats-up"])
        .assert()
        .success()
        .stdout(predicate::str::contains("replies waiting").and(predicate::str::contains("top move")));
}

#[test]
fn empty_mirror_says_what_to_do() {
    let data = tempfile::tempdir().unwrap();
    casey(data.path())
        .args(["moves", "--json"])
        .assert()
        .success()
        .stdout("[]\n");
    casey(data.path())
        .args(["whats-up"])
        .assert()
        .success()
        .stdout(predicate::str::contains("casey auth hubspot"));
}

#[test]
fn a_newer_schema_is_refused_and_left_alone() {
    let data = tempfile::tempdir().unwrap();
    let db = data.path().join("casey.db");
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch("CREATE TABLE future(x); PRAGMA user_version = 42;")
            .unwrap();
    }
    let before = std::fs::read(&db).unwrap();
    casey(data.path())
        .args(["moves"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("schema version 42").and(predicate::str::contains("upgrade casey")));
    assert_eq!(std::fs::read(&db).unwrap(), before);
}

#[test]
fn a_corrupt_file_is_refused_and_left_alone() {
    let data = tempfile::tempdir().unwrap();
    let db = data.path().join("casey.db");
    std::fs::write(&db, b"definitely not sqlite").unwrap();
    casey(data.path())
        .args(["whats-up"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("left untouched"));
    assert_eq!(std::fs::read(&db).unwrap(), b"definitely not sqlite");
}

#[test]
fn completions_are_generated() {
    let data = tempfile::tempdir().unwrap();
    casey(data.path())
        .args(["completions", "bash"])
        .assert()
        .success()
        .stdout(predicate::str::contains("casey"));
}

#[test]
fn logs_go_to_the_data_dir_not_stdout() {
    let data = tempfile::tempdir().unwrap();
    let out = casey(data.path())
        .env("CASEYOS_LOG", "debug")
        .args(["--demo", "moves", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("stdout is pure JSON");
    let log = std::fs::read_to_string(data.path().join("casey.log")).unwrap();
    assert!(log.contains("demo data loaded"), "{log}");
}
