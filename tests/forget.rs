//! `casey forget <email>`: after it, no row of any table mentions the address (checked by a
//! scan of every column of every table, and of the database file itself); the person stays
//! out at the next sync; the erasure is audited without the address. Retention purges old
//! telemetry and unapproved local drafts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support {
    pub mod cli;
}

use std::path::Path;

use caseyos::actions;
use caseyos::config::Config;
use caseyos::domain::{MoveKind, MoveState};
use caseyos::store::Store;
use caseyos::sync::demo;
use caseyos::today;
use chrono::Duration;
use support::cli::casey;

/// Whether `text` names the address `needle` (lower-case) as a whole address: not as the tail
/// of a longer one (`joann@…`) nor the head of a longer domain (`…@acme.example.au`).
fn names_whole(text: &str, needle: &str) -> bool {
    let text = text.to_lowercase();
    let addr = |c: char| c.is_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-');
    text.match_indices(needle).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let mut after = text[i + needle.len()..].chars();
        let longer = match after.next() {
            Some('.') => after.next().is_some_and(|c| c.is_alphanumeric()),
            Some(c) => addr(c) || c == '@',
            None => false,
        };
        !before.is_some_and(|c| addr(c) || c == '@') && !longer
    })
}

/// Every (table, column, rowid) whose text names `needle` as a whole address (any case).
fn mentions(db: &Path, needle: &str) -> Vec<(String, String, i64)> {
    let c = rusqlite::Connection::open(db).unwrap();
    let tables: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(tables.len() >= 20, "{tables:?}");
    let mut hits = Vec::new();
    for t in &tables {
        let cols: Vec<String> = c
            .prepare("SELECT name FROM pragma_table_info(?1)")
            .unwrap()
            .query_map([t], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for col in cols {
            let sql = format!("SELECT rowid, CAST(\"{col}\" AS TEXT) FROM \"{t}\"");
            let mut st = c.prepare(&sql).unwrap();
            let rows = st
                .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<String>>(1)?)))
                .unwrap();
            for row in rows {
                let (id, text) = row.unwrap();
                if text.is_some_and(|t| names_whole(&t, needle)) {
                    hits.push((t.clone(), col.clone(), id));
                }
            }
        }
    }
    hits
}

/// The demo mirror with history about `who`: a draft written and approved for their reply,
/// decisions, telemetry, outbox and audit lines.
fn lived_in(dir: &Path) -> (Store, String) {
    let mut store = Store::open(&dir.join("casey.db")).unwrap();
    let now = demo::anchor();
    demo::load(&mut store, now).unwrap();
    let config = Config::default();
    let moves = today::refresh(&mut store, &config, now).unwrap();
    let reply = moves
        .iter()
        .find(|m| m.kind == MoveKind::ReplyInbound && actions::writes_draft(m))
        .unwrap()
        .clone();
    let who = reply.subject.email.clone().unwrap();
    actions::execute(&store, &config, &reply, true, now).unwrap();
    let reply = today::moves(&store, &config, now)
        .unwrap()
        .into_iter()
        .find(|m| m.key == reply.key)
        .unwrap();
    actions::execute(&store, &config, &reply, true, now).unwrap();
    for m in moves
        .iter()
        .filter(|m| m.subject.email.as_deref() == Some(who.as_str()))
    {
        actions::decide(&store, &m.key, &MoveState::Accepted, now).unwrap();
    }
    store
        .audit(
            "operator",
            "note",
            Some(&who.to_uppercase()),
            &serde_json::json!({"who": who}),
            now,
        )
        .unwrap();
    (store, who)
}

#[test]
fn forgetting_leaves_no_row_mentioning_the_address_and_they_stay_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("casey.db");
    let (mut store, who) = lived_in(dir.path());
    let before = mentions(&db, &who);
    let tables: std::collections::BTreeSet<&str> = before.iter().map(|(t, _, _)| t.as_str()).collect();
    for t in [
        "contacts",
        "messages",
        "drafts",
        "outbox",
        "audit_log",
        "message_addresses",
    ] {
        assert!(tables.contains(t), "the fixture mentions them in {t}: {tables:?}");
    }
    // Someone whose address ends like theirs, and one whose domain starts like theirs.
    let neighbours = [format!("jo{who}"), format!("{who}.au")];
    for n in &neighbours {
        store
            .telemetry(
                "recommendation_accepted",
                None,
                &serde_json::json!({ "who": n }),
                demo::anchor(),
            )
            .unwrap();
        store
            .audit(
                "operator",
                "note",
                Some(n),
                &serde_json::json!({}),
                demo::anchor(),
            )
            .unwrap();
        assert_eq!(mentions(&db, n).len(), 2);
    }
    assert!(names_whole(&format!("<{who}>"), &who) && names_whole(&format!("{who}."), &who));
    assert!(!names_whole(&neighbours[0], &who) && !names_whole(&neighbours[1], &who));
    let kept_contacts = store.load_mirror().unwrap().contacts.len();

    let done = store.forget(&who.to_uppercase(), demo::anchor()).unwrap();
    assert!(done.total() > 0 && done.removed["contacts"] == 1, "{done:?}");
    assert!(done.audit_redacted >= 1);
    let after = mentions(&db, &who);
    assert!(after.is_empty(), "still mentioned: {after:?}");
    for n in &neighbours {
        assert_eq!(mentions(&db, n).len(), 2, "{n} is someone else: kept");
    }
    assert!(done.compacted);
    assert_eq!(
        store.load_mirror().unwrap().contacts.len(),
        kept_contacts - 1,
        "only them"
    );

    // The erasure is audited by hash; nothing in the file itself still holds the address.
    let audit = store.audit_entries().unwrap();
    let last = audit.last().unwrap();
    assert_eq!(last.action, "forget");
    assert!(last.target.as_deref().unwrap().starts_with("sha256:"));
    drop(store);
    for suffix in ["", "-wal"] {
        let path = format!("{}{suffix}", db.display());
        if let Ok(bytes) = std::fs::read(&path) {
            let text = String::from_utf8_lossy(&bytes);
            assert!(!names_whole(&text, &who), "{path} still holds the address");
        }
    }

    // The next sync brings everyone else back, not them.
    let mut store = Store::open(&db).unwrap();
    demo::load(&mut store, demo::anchor()).unwrap();
    assert!(mentions(&db, &who).is_empty(), "{:?}", mentions(&db, &who));
    assert_eq!(store.load_mirror().unwrap().contacts.len(), kept_contacts - 1);
}

#[test]
fn the_command_confirms_refuses_the_operator_and_nonsense_and_reports_what_went() {
    let dir = tempfile::tempdir().unwrap();
    let (store, who) = lived_in(dir.path());
    let operator = store.setting("operator_email").unwrap().unwrap();
    drop(store);
    let out = casey(dir.path())
        .args(["forget", "not-an-address"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not an email address"));
    let out = casey(dir.path())
        .args(["forget", &operator, "--yes"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("your own address"));
    // No terminal, no --yes: nothing is erased.
    let out = casey(dir.path()).args(["forget", &who]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    assert!(!mentions(&dir.path().join("casey.db"), &who).is_empty());

    let out = casey(dir.path())
        .args(["forget", &who, "--yes", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["removed"]["contacts"], 1, "{report}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&who));
    assert!(mentions(&dir.path().join("casey.db"), &who).is_empty());
    let again = casey(dir.path())
        .args(["forget", &who, "--yes"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing on this machine mentioned"));
}

#[test]
fn retention_purges_old_telemetry_and_unapproved_local_drafts_only() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = lived_in(dir.path());
    let now = demo::anchor();
    let config = Config::default();
    // A draft written long ago and never approved, next to the approved one.
    let mut s2 = Store::open(&dir.path().join("casey.db")).unwrap();
    let moves = today::refresh(&mut s2, &config, now).unwrap();
    let old = moves.iter().find(|m| actions::writes_draft(m)).unwrap().clone();
    actions::execute(&store, &config, &old, true, now - Duration::days(40)).unwrap();
    store
        .telemetry(
            "recommendation_accepted",
            None,
            &serde_json::json!({}),
            now - Duration::days(200),
        )
        .unwrap();
    let drafts_before = store.drafts().unwrap().len();
    let events_before = store
        .telemetry_counts()
        .unwrap()
        .iter()
        .map(|(_, n)| n)
        .sum::<i64>();

    assert_eq!(store.purge(now, 0, 0).unwrap(), (0, 0), "0 keeps everything");
    let (events, drafts) = store.purge(now, 180, 30).unwrap();
    assert_eq!((events, drafts), (1, 1));
    assert_eq!(store.drafts().unwrap().len(), drafts_before - 1);
    let events_after = store
        .telemetry_counts()
        .unwrap()
        .iter()
        .map(|(_, n)| n)
        .sum::<i64>();
    assert_eq!(events_after, events_before - 1);
    assert!(
        store
            .drafts()
            .unwrap()
            .iter()
            .all(|d| d.id != old.subject.draft_id.clone().unwrap_or_default()),
    );
}

#[test]
fn the_audit_log_accepts_only_a_redaction_and_only_once_someone_is_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, who) = lived_in(dir.path());
    let db = dir.path().join("casey.db");
    let c = rusqlite::Connection::open(&db).unwrap();
    let redact = "UPDATE audit_log SET detail = '{\"redacted\":\"a forgotten person\"}' WHERE id = 1";
    let err = c.execute(redact, []).unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    store.forget(&who, demo::anchor()).unwrap();
    c.execute(redact, []).unwrap();
    for tamper in [
        "UPDATE audit_log SET action = 'nothing happened' WHERE id = 1",
        "UPDATE audit_log SET detail = '{}' WHERE id = 1",
        "UPDATE audit_log SET at = '2000-01-01T00:00:00.000Z' WHERE id = 1",
        "DELETE FROM audit_log WHERE id = 1",
    ] {
        let err = c.execute(tamper, []).unwrap_err();
        assert!(err.to_string().contains("append-only"), "{tamper}: {err}");
    }
}
