//! Decisions and simulated execution against a real (temp-file) mirror loaded with the demo data.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use caseyos::actions;
use caseyos::config::Config;
use caseyos::domain::MoveState;
use caseyos::store::Store;
use caseyos::sync::demo;
use caseyos::today;

fn demo_store(dir: &std::path::Path) -> Store {
    let mut store = Store::open(&dir.join("casey.db")).unwrap();
    demo::load(&mut store, demo::anchor()).unwrap();
    store
}

#[test]
fn demo_execution_is_recorded_as_demo_in_outbox_and_audit_and_leaves_the_list() {
    let dir = tempfile::tempdir().unwrap();
    let store = demo_store(dir.path());
    let config = Config::default();
    let now = demo::anchor();
    let moves = today::moves(&store, &config, now).unwrap();
    let reply = moves
        .iter()
        .find(|m| actions::writes_draft(m) && m.kind == caseyos::domain::MoveKind::ReplyInbound)
        .unwrap()
        .clone();
    // `x` on a reply writes a draft from the template, on this machine only: nothing queued.
    let said = actions::execute(&store, &config, &reply, true, now).unwrap();
    assert!(said.contains("draft written"), "{said}");
    assert!(store.outbox(10).unwrap().is_empty());
    let moves = today::moves(&store, &config, now).unwrap();
    let target = moves.iter().find(|m| m.key == reply.key).unwrap().clone();
    assert!(target.state.is_actionable(), "the move stays open with its draft");
    let draft_id = target.subject.draft_id.clone().unwrap();
    assert!(caseyos::store::is_local_draft(&draft_id), "{draft_id}");
    assert_eq!(
        store.audit_entries().unwrap().len(),
        1,
        "draft written is audited"
    );

    // Approving it writes it to Gmail drafts: simulated in the demo.
    actions::execute(&store, &config, &target, true, now).unwrap();
    let outbox = store.outbox(10).unwrap();
    assert_eq!(outbox.len(), 1);
    assert!(outbox[0].demo && outbox[0].state == "done");
    assert_eq!(
        outbox[0].action, "gmail.draft.create",
        "draft-only mode never sends"
    );
    assert_eq!(outbox[0].move_key.as_deref(), Some(target.key.as_str()));
    let audit = store.audit_entries().unwrap();
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[1].actor, "demo");
    assert!(audit[1].action.contains("DEMO"));

    let after = today::moves(&store, &config, now).unwrap();
    let m = after.iter().find(|m| m.key == target.key).unwrap();
    assert_eq!(m.state, MoveState::Done);
    assert!(!m.state.is_actionable());

    // Undo brings it back and cancels the simulated outbox entry; the audit log only grows.
    assert_eq!(
        actions::undo(&store, None, now)
            .unwrap()
            .map(|u| u.key)
            .as_deref(),
        Some(target.key.as_str())
    );
    assert_eq!(store.outbox(10).unwrap()[0].state, "cancelled");
    assert_eq!(store.audit_entries().unwrap().len(), 3);
    let again = today::moves(&store, &config, now).unwrap();
    assert_eq!(
        again.iter().find(|m| m.key == target.key).unwrap().state,
        MoveState::Open
    );
}

#[test]
fn send_mode_maps_approval_to_a_send_and_live_execution_is_queued() {
    let dir = tempfile::tempdir().unwrap();
    let store = demo_store(dir.path());
    let mut config = Config::default();
    config.safety.mode = caseyos::config::SafetyMode::Send;
    let now = demo::anchor();
    let moves = today::moves(&store, &config, now).unwrap();
    let with_draft = moves.iter().find(|m| m.subject.draft_id.is_some()).unwrap();
    assert_eq!(
        actions::outbox_action(with_draft, config.safety.mode),
        "gmail.draft.send"
    );
    let task = moves
        .iter()
        .find(|m| m.kind == caseyos::domain::MoveKind::OverdueTask)
        .unwrap();
    actions::execute(&store, &config, task, false, now).unwrap();
    let e = &store.outbox(10).unwrap()[0];
    assert_eq!(
        (e.action.as_str(), e.state.as_str(), e.demo),
        ("hubspot.task.complete", "queued", false)
    );
    assert_eq!(store.counts().unwrap().outbox_pending, 1);

    // A task for a stale deal carries what HubSpot needs to create it.
    let deal_move = moves
        .iter()
        .find(|m| actions::outbox_action(m, config.safety.mode) == "hubspot.task.create")
        .unwrap();
    actions::execute(&store, &config, deal_move, false, now).unwrap();
    let create = store
        .outbox(10)
        .unwrap()
        .into_iter()
        .find(|e| e.action == "hubspot.task.create")
        .unwrap();
    let p: serde_json::Value = serde_json::from_str(&create.payload).unwrap();
    assert_eq!(p["subject"], deal_move.title.as_str());
    assert!(p["due"].as_str().unwrap().starts_with("20"), "{p}");
    assert_eq!(
        p["deal_ids"][0],
        deal_move.subject.deal_id.clone().unwrap().as_str()
    );
    assert_eq!(
        actions::undo(&store, None, now)
            .unwrap()
            .map(|u| u.key)
            .as_deref(),
        Some(deal_move.key.as_str())
    );

    // Approving the draft queues a send that waits out the undo window; `u` inside it cancels.
    let before = store.audit_entries().unwrap().len();
    actions::execute(&store, &config, with_draft, false, now).unwrap();
    let window = chrono::Duration::seconds(i64::from(config.safety.undo_window_seconds));
    let early = now + window - chrono::Duration::seconds(1);
    let first = store.claim_job(early).unwrap().unwrap();
    assert_eq!(first.action, "hubspot.task.complete", "no undo window for a task");
    assert!(
        store.claim_job(early).unwrap().is_none(),
        "the send waits out its undo window"
    );
    assert_eq!(
        actions::undo(&store, None, now)
            .unwrap()
            .map(|u| u.key)
            .as_deref(),
        Some(with_draft.key.as_str())
    );
    let send = store
        .outbox(10)
        .unwrap()
        .into_iter()
        .find(|e| e.action == "gmail.draft.send")
        .unwrap();
    assert_eq!(send.state, "cancelled");
    let payload: serde_json::Value = serde_json::from_str(&send.payload).unwrap();
    assert!(!payload["to"].as_array().unwrap().is_empty(), "{payload}");
    assert_eq!(payload["approved_at"], now.to_rfc3339());
    assert_eq!(payload["draft_id"], with_draft.subject.draft_id.clone().unwrap());
    assert!(
        store.claim_job(now + window * 10).unwrap().is_none(),
        "nothing left to send"
    );
    assert!(store.audit_entries().unwrap().len() > before);
}

#[test]
fn decisions_survive_a_restart_and_are_applied_to_fresh_detection() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::default();
    let now = demo::anchor();
    let (accepted, skipped, snoozed) = {
        let store = demo_store(dir.path());
        let moves = today::moves(&store, &config, now).unwrap();
        let (a, s, z) = (moves[0].key.clone(), moves[1].key.clone(), moves[2].key.clone());
        actions::decide(&store, &a, &MoveState::Accepted, now).unwrap();
        actions::decide(
            &store,
            &s,
            &MoveState::Skipped {
                reason: Some("wrong person".into()),
            },
            now,
        )
        .unwrap();
        let until = Some(now + chrono::Duration::days(1));
        actions::decide(
            &store,
            &z,
            &MoveState::Snoozed {
                until,
                until_reply: false,
            },
            now,
        )
        .unwrap();
        (a, s, z)
    };
    let store = Store::open(&dir.path().join("casey.db")).unwrap();
    let moves = today::moves(&store, &config, now).unwrap();
    let state = |k: &str| moves.iter().find(|m| m.key == k).unwrap().state.clone();
    assert_eq!(state(&accepted), MoveState::Accepted);
    assert_eq!(
        state(&skipped),
        MoveState::Skipped {
            reason: Some("wrong person".into())
        }
    );
    assert!(matches!(state(&snoozed), MoveState::Snoozed { .. }));
    // The snooze wakes the next day.
    let tomorrow = today::moves(
        &store,
        &config,
        now + chrono::Duration::days(1) + chrono::Duration::minutes(1),
    )
    .unwrap();
    assert_eq!(
        tomorrow.iter().find(|m| m.key == snoozed).unwrap().state,
        MoveState::Open
    );
    // Telemetry recorded each decision locally.
    let events: std::collections::HashMap<String, i64> =
        store.telemetry_counts().unwrap().into_iter().collect();
    assert_eq!(events["recommendation_accepted"], 1);
    assert_eq!(events["recommendation_dismissed"], 1);
    assert_eq!(events["recommendation_snoozed"], 1);
}

#[test]
fn refresh_records_moves_once_and_generation_events_only_for_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = demo_store(dir.path());
    let config = Config::default();
    let now = demo::anchor();
    let first = today::refresh(&mut store, &config, now).unwrap();
    let second = today::refresh(&mut store, &config, now).unwrap();
    assert_eq!(
        first.iter().map(|m| &m.key).collect::<Vec<_>>(),
        second.iter().map(|m| &m.key).collect::<Vec<_>>()
    );
    let events: std::collections::HashMap<String, i64> =
        store.telemetry_counts().unwrap().into_iter().collect();
    assert_eq!(events["recommendation_generated"], first.len() as i64);
}

#[test]
fn find_accepts_rank_key_and_unique_fragment() {
    let dir = tempfile::tempdir().unwrap();
    let store = demo_store(dir.path());
    let moves = today::moves(&store, &Config::default(), demo::anchor()).unwrap();
    assert_eq!(today::find(&moves, "1").unwrap().key, moves[0].key);
    assert_eq!(today::find(&moves, &moves[3].key).unwrap().key, moves[3].key);
    assert!(today::find(&moves, "0").is_err());
    assert!(today::find(&moves, "9999").is_err());
    let err = today::find(&moves, "reply_inbound").unwrap_err();
    assert!(
        err.contains("matches") && err.contains("more of the key"),
        "{err}"
    );
    let task = moves
        .iter()
        .find(|m| m.key.starts_with("overdue_task:task:"))
        .unwrap();
    let id = task.key.rsplit(':').next().unwrap();
    assert_eq!(
        today::find(&moves, &format!("overdue_task:task:{id}"))
            .unwrap()
            .key,
        task.key
    );
}
