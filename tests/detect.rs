//! Move detection on small hand-built mirrors with an injected clock: every move type, its key
//! format and thresholds, draft attachment, deterministic ranking, stored decisions, and text that
//! is safe to draw.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use caseyos::config::Config;
use caseyos::domain::aps::Effort;
use caseyos::domain::detect::{Decision, detect_moves, effective_state};
use caseyos::domain::entities::{Company, Contact, Deal, Draft, Mailbox, Message, Mirror, Note, Stage, Task};
use caseyos::domain::moves::{Move, MoveKind, MoveState, PrimaryAction, rank_score};
use caseyos::domain::text::is_terminal_safe;
use chrono::{DateTime, Duration, Utc};
use rstest::rstest;

const ME: &str = "casey@seller.test";

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Friday 20 November 2026, 15:00 UTC.
fn now() -> DateTime<Utc> {
    at("2026-11-20T15:00:00Z")
}

fn days(n: i64) -> Duration {
    Duration::days(n)
}

fn hours(n: i64) -> Duration {
    Duration::hours(n)
}

fn detect_at(m: &Mirror, t: DateTime<Utc>) -> Vec<Move> {
    let c = Config::default();
    detect_moves(m, t, &c.moves, &c.aps)
}

fn detect(m: &Mirror) -> Vec<Move> {
    detect_at(m, now())
}

fn keys(moves: &[Move]) -> Vec<&str> {
    moves.iter().map(|m| m.key.as_str()).collect()
}

fn get<'a>(moves: &'a [Move], key: &str) -> &'a Move {
    moves
        .iter()
        .find(|m| m.key == key)
        .unwrap_or_else(|| panic!("no move {key}; have {:?}", keys(moves)))
}

fn has(moves: &[Move], key: &str) -> bool {
    moves.iter().any(|m| m.key == key)
}

fn of_kind(moves: &[Move], kind: MoveKind) -> Vec<&Move> {
    moves.iter().filter(|m| m.kind == kind).collect()
}

// --- builders --------------------------------------------------------------------------------

fn mirror() -> Mirror {
    Mirror {
        operator_email: Some(ME.into()),
        stages: stages(""),
        ..Mirror::default()
    }
}

fn stages(prefix: &str) -> Vec<Stage> {
    let s = |id: &str, label: &str, order: i64, p: f64, closed: bool| Stage {
        id: id.into(),
        pipeline_id: "sales".into(),
        label: format!("{prefix}{label}"),
        display_order: order,
        probability: p,
        is_closed: closed,
    };
    vec![
        s("appointmentscheduled", "Appointment scheduled", 0, 0.2, false),
        s("qualifiedtobuy", "Qualified to buy", 1, 0.4, false),
        s("contractsent", "Contract sent", 2, 0.8, false),
        s("closedwon", "Closed won", 3, 1.0, true),
        s("closedlost", "Closed lost", 4, 0.0, true),
    ]
}

fn mb(email: &str) -> Mailbox {
    Mailbox {
        name: None,
        email: email.into(),
    }
}

fn named(name: &str, email: &str) -> Mailbox {
    Mailbox {
        name: Some(name.into()),
        email: email.into(),
    }
}

fn contact(id: &str, email: &str, first: &str, last: &str) -> Contact {
    Contact {
        id: id.into(),
        email: Some(email.into()),
        first_name: Some(first.into()),
        last_name: Some(last.into()),
        company_name: None,
        company_id: None,
        job_title: None,
        lifecycle_stage: None,
        created_at: None,
        updated_at: None,
        recent_conversion_at: None,
        recent_conversion_event: None,
    }
}

fn alice() -> Contact {
    contact("c1", "alice@acme.test", "Alice", "Adams")
}

fn bob() -> Contact {
    contact("c2", "bob@beta.test", "Bob", "Brown")
}

fn inbound(id: &str, thread: &str, t: DateTime<Utc>, from: Mailbox, subject: &str) -> Message {
    Message {
        id: id.into(),
        thread_id: thread.into(),
        at: t,
        from,
        to: vec![mb(ME)],
        cc: vec![],
        subject: subject.into(),
        snippet: "Could you send the pricing for 40 seats?".into(),
        body: "Could you send the pricing for 40 seats?".into(),
        labels: vec!["INBOX".into()],
        message_id_header: Some(format!("<{id}@mail.test>")),
        outbound: false,
        automated: false,
    }
}

fn outbound(id: &str, thread: &str, t: DateTime<Utc>, to: Mailbox, subject: &str) -> Message {
    Message {
        id: id.into(),
        thread_id: thread.into(),
        at: t,
        from: mb(ME),
        to: vec![to],
        cc: vec![],
        subject: subject.into(),
        snippet: "Here is the proposal we discussed.".into(),
        body: "Here is the proposal we discussed.".into(),
        labels: vec!["SENT".into()],
        message_id_header: Some(format!("<{id}@mail.test>")),
        outbound: true,
        automated: false,
    }
}

fn draft(id: &str, thread: Option<&str>, to: Vec<Mailbox>, t: DateTime<Utc>) -> Draft {
    Draft {
        id: id.into(),
        thread_id: thread.map(str::to_string),
        to,
        subject: "Re: Pricing".into(),
        body: "Hi, pricing attached.".into(),
        updated_at: t,
        in_reply_to: None,
        move_key: None,
    }
}

fn deal(id: &str, name: &str, stage: &str) -> Deal {
    Deal {
        id: id.into(),
        name: name.into(),
        amount: Some(48_000.0),
        pipeline_id: Some("sales".into()),
        stage_id: Some(stage.into()),
        close_date: None,
        created_at: None,
        updated_at: None,
        last_activity_at: None,
        stage_entered_at: None,
        contact_ids: vec![],
        company_ids: vec![],
    }
}

fn task(id: &str, subject: &str, due: Option<DateTime<Utc>>) -> Task {
    Task {
        id: id.into(),
        subject: subject.into(),
        body: None,
        status: "NOT_STARTED".into(),
        priority: Some("MEDIUM".into()),
        task_type: Some("TODO".into()),
        due_at: due,
        updated_at: None,
        contact_ids: vec![],
        deal_ids: vec![],
    }
}

/// Alice wrote at 09:00 today in thread t1, after our message on Wednesday.
fn reply_mirror() -> Mirror {
    let mut m = mirror();
    m.contacts.push(alice());
    m.messages.push(outbound(
        "m1",
        "t1",
        at("2026-11-18T10:00:00Z"),
        named("Alice Adams", "alice@acme.test"),
        "Pricing",
    ));
    m.messages.push(inbound(
        "m2",
        "t1",
        at("2026-11-20T09:00:00Z"),
        named("Alice Adams", "alice@acme.test"),
        "Re: Pricing",
    ));
    m
}

// --- reply_inbound ---------------------------------------------------------------------------

#[test]
fn reply_inbound_for_an_unanswered_message() {
    let moves = detect(&reply_mirror());
    let mv = get(&moves, "reply_inbound:thread:t1");
    assert_eq!(mv.kind, MoveKind::ReplyInbound);
    assert_eq!(mv.title, "Reply: Pricing");
    assert_eq!(mv.who, "Alice Adams");
    assert_eq!(mv.action, PrimaryAction::ReplyDraft);
    assert_eq!(mv.state, MoveState::Open);
    assert_eq!(mv.signal_at, at("2026-11-20T09:00:00Z"));
    assert_eq!(mv.last_inbound_at, Some(at("2026-11-20T09:00:00Z")));
    assert_eq!(mv.subject.thread_id.as_deref(), Some("t1"));
    assert_eq!(mv.subject.contact_id.as_deref(), Some("c1"));
    assert_eq!(mv.subject.email.as_deref(), Some("alice@acme.test"));
    assert_eq!(mv.subject.draft_id, None);
    assert_eq!(mv.features.effort, Effort::Reply);
    assert!(mv.why.contains("6h ago"), "{}", mv.why);
    assert!(mv.why.contains("(2 messages)"), "{}", mv.why);
    assert!(mv.why.contains("pricing for 40 seats"), "{}", mv.why);
    assert!(!has(&moves, "follow_up:thread:t1"));
    assert_eq!(of_kind(&moves, MoveKind::ReplyInbound).len(), 1);
}

#[test]
fn reply_inbound_from_a_sender_not_in_the_crm_uses_the_mailbox_name() {
    let mut m = mirror();
    m.messages.push(inbound(
        "m1",
        "t5",
        at("2026-11-20T08:00:00Z"),
        named("Carol Chen", "carol@unknown.test"),
        "Fwd: RE: Partnership",
    ));
    let moves = detect(&m);
    let mv = get(&moves, "reply_inbound:thread:t5");
    assert_eq!(mv.who, "Carol Chen");
    assert_eq!(mv.title, "Reply: Partnership", "Re:/Fwd: prefixes are stripped");
    assert_eq!(mv.subject.contact_id, None);
    assert_eq!(mv.subject.email.as_deref(), Some("carol@unknown.test"));
}

#[rstest]
#[case::automated(|m: &mut Message| m.automated = true)]
#[case::newsletter(|m: &mut Message| {
    m.automated = true;
    m.from = named("Weekly Digest", "newsletter@news.test");
    m.labels = vec!["CATEGORY_PROMOTIONS".into()];
})]
fn no_reply_move_for_automated_inbound(#[case] edit: fn(&mut Message)) {
    let mut m = reply_mirror();
    edit(&mut m.messages[1]);
    let moves = detect(&m);
    assert!(
        of_kind(&moves, MoveKind::ReplyInbound).is_empty(),
        "{:?}",
        keys(&moves)
    );
}

#[test]
fn no_reply_move_once_we_replied() {
    let mut m = reply_mirror();
    m.messages.push(outbound(
        "m3",
        "t1",
        at("2026-11-20T10:00:00Z"),
        mb("alice@acme.test"),
        "Re: Pricing",
    ));
    let moves = detect(&m);
    assert!(
        of_kind(&moves, MoveKind::ReplyInbound).is_empty(),
        "{:?}",
        keys(&moves)
    );
    // Our reply is hours old: no follow-up either.
    assert!(
        of_kind(&moves, MoveKind::FollowUp).is_empty(),
        "{:?}",
        keys(&moves)
    );
}

#[test]
fn a_draft_labelled_message_is_not_a_reply() {
    let mut m = reply_mirror();
    let mut d = outbound(
        "m3",
        "t1",
        at("2026-11-20T10:00:00Z"),
        mb("alice@acme.test"),
        "Re: Pricing",
    );
    d.labels = vec!["DRAFT".into()];
    m.messages.push(d);
    assert!(has(&detect(&m), "reply_inbound:thread:t1"));
}

#[rstest]
#[case::exactly_30_days(days(30), true)]
#[case::one_hour_more(days(30) + hours(1), false)]
fn reply_inbound_stops_after_reply_max_age_days(#[case] age: Duration, #[case] expected: bool) {
    let mut m = mirror();
    m.contacts.push(alice());
    m.messages.push(inbound(
        "m1",
        "t1",
        now() - age,
        mb("alice@acme.test"),
        "Question",
    ));
    assert_eq!(has(&detect(&m), "reply_inbound:thread:t1"), expected);
}

#[test]
fn reply_inbound_takes_revenue_from_the_contacts_best_open_deal() {
    let mut m = reply_mirror();
    let mut small = deal("d1", "Acme pilot", "appointmentscheduled");
    small.contact_ids = vec!["c1".into()];
    small.amount = Some(5_000.0);
    small.last_activity_at = Some(now());
    let mut big = deal("d2", "Acme renewal", "contractsent");
    big.contact_ids = vec!["c1".into()];
    big.last_activity_at = Some(now());
    let mut won = deal("d3", "Acme old", "closedwon");
    won.contact_ids = vec!["c1".into()];
    won.amount = Some(1_000_000.0);
    m.deals.extend([small, big, won]);
    let moves = detect(&m);
    let mv = get(&moves, "reply_inbound:thread:t1");
    assert_eq!(mv.subject.deal_id.as_deref(), Some("d2"));
    let d = mv.features.deal.as_ref().unwrap();
    assert_eq!(d.name, "Acme renewal");
    assert_eq!(d.probability, 0.8);
    assert_eq!(d.stage, "Contract sent");
    assert_eq!(d.next_stage, None, "closed stages are not a next stage");
    let revenue = mv.aps.parts.iter().find(|p| p.name == "revenue").unwrap();
    assert!(
        (revenue.value - 100.0).abs() < 1e-9,
        "the biggest open deal sets the scale: {}",
        revenue.value
    );
    let why = &caseyos::domain::aps::explain(&mv.features, &Config::default().aps).1[0].why;
    assert!(why.contains("Acme renewal"), "{why}");
    // In the same pipeline, the same reply from someone without a deal is worth less.
    m.contacts.push(bob());
    m.messages.push(inbound(
        "m3",
        "t2",
        at("2026-11-20T09:00:00Z"),
        mb("bob@beta.test"),
        "Pricing",
    ));
    let moves = detect(&m);
    let alice = get(&moves, "reply_inbound:thread:t1");
    let bob = get(&moves, "reply_inbound:thread:t2");
    assert!(alice.aps.score > bob.aps.score);
    let pos = |key: &str| keys(&moves).iter().position(|k| *k == key).unwrap();
    assert!(pos("reply_inbound:thread:t1") < pos("reply_inbound:thread:t2"));
}

/// Two people wrote at the same moment; Alice has an open deal whose amount is not filled in
/// (common in small CRMs), Bob has no deal at all.
#[test]
fn a_contact_with_an_open_deal_does_not_rank_below_one_without() {
    let mut m = reply_mirror();
    let mut d = deal("d1", "Acme renewal", "qualifiedtobuy");
    d.amount = None;
    d.contact_ids = vec!["c1".into()];
    d.last_activity_at = Some(now());
    m.deals.push(d);
    m.contacts.push(bob());
    m.messages.push(inbound(
        "m3",
        "t2",
        at("2026-11-20T09:00:00Z"),
        mb("bob@beta.test"),
        "Pricing",
    ));
    let moves = detect(&m);
    let revenue = |k: &str| {
        get(&moves, k)
            .aps
            .parts
            .iter()
            .find(|p| p.name == "revenue")
            .unwrap()
            .value
    };
    let (alice, bob) = (
        revenue("reply_inbound:thread:t1"),
        revenue("reply_inbound:thread:t2"),
    );
    assert!(
        bob < 100.0,
        "a guess of ≈$100 must not score full revenue, got {bob}"
    );
    assert!(alice >= bob, "open deal {alice} < no deal {bob}");
}

#[test]
fn reply_inbound_subject_company_follows_the_deal_it_is_scored_on() {
    let mut m = reply_mirror();
    m.companies.push(Company {
        id: "co1".into(),
        name: Some("Acme".into()),
        domain: None,
        industry: None,
        employees: Some(250),
        annual_revenue: None,
        lifecycle_stage: None,
        updated_at: None,
    });
    let mut d = deal("d2", "Acme renewal", "contractsent");
    d.contact_ids = vec!["c1".into()];
    d.company_ids = vec!["co1".into()];
    d.last_activity_at = Some(now());
    m.deals.push(d);
    let moves = detect(&m);
    let mv = get(&moves, "reply_inbound:thread:t1");
    assert_eq!(mv.subject.deal_id.as_deref(), Some("d2"));
    assert_eq!(mv.features.company.as_ref().map(|c| c.0.as_str()), Some("Acme"));
    assert_eq!(mv.subject.company_id.as_deref(), Some("co1"));
}

// --- approve_draft ---------------------------------------------------------------------------

#[test]
fn approve_draft_for_a_draft_outside_any_thread_move() {
    let mut m = mirror();
    m.contacts.push(contact("c4", "dana@delta.test", "Dana", "Diaz"));
    let mut d = draft(
        "dr1",
        Some("t-new"),
        vec![mb("dana@delta.test")],
        now() - hours(3),
    );
    d.subject = "Intro".into();
    d.body = "Hi Dana, quick intro.".into();
    m.drafts.push(d);
    let moves = detect(&m);
    let mv = get(&moves, "approve_draft:draft:dr1");
    assert_eq!(mv.kind, MoveKind::ApproveDraft);
    assert_eq!(mv.title, "Approve draft: Intro");
    assert_eq!(mv.who, "Dana Diaz");
    assert_eq!(mv.action, PrimaryAction::ApproveDraft);
    assert_eq!(mv.subject.draft_id.as_deref(), Some("dr1"));
    assert_eq!(mv.subject.thread_id.as_deref(), Some("t-new"));
    assert_eq!(mv.subject.contact_id.as_deref(), Some("c4"));
    assert_eq!(mv.signal_at, now() - hours(3));
    assert!(mv.why.contains("3h ago"), "{}", mv.why);
    assert!(mv.why.contains("Hi Dana"), "{}", mv.why);
}

#[test]
fn approve_draft_without_recipient_says_so() {
    let mut m = mirror();
    m.drafts.push(draft("dr2", None, vec![], now() - hours(1)));
    let moves = detect(&m);
    let mv = get(&moves, "approve_draft:draft:dr2");
    assert_eq!(mv.who, "(no recipient)");
    assert_eq!(mv.subject.thread_id, None);
}

#[test]
fn draft_in_a_thread_with_unanswered_inbound_is_attached_to_the_reply_move() {
    let mut m = reply_mirror();
    m.drafts.push(draft(
        "dr7",
        Some("t1"),
        vec![mb("alice@acme.test")],
        at("2026-11-20T11:00:00Z"),
    ));
    let moves = detect(&m);
    let mv = get(&moves, "reply_inbound:thread:t1");
    assert_eq!(mv.action, PrimaryAction::ApproveDraft);
    assert_eq!(mv.subject.draft_id.as_deref(), Some("dr7"));
    assert_eq!(mv.features.effort, Effort::Approve);
    assert!(mv.why.contains("draft ready"), "{}", mv.why);
    assert!(!has(&moves, "approve_draft:draft:dr7"), "{:?}", keys(&moves));
    assert!(of_kind(&moves, MoveKind::ApproveDraft).is_empty());
    // A ready draft makes the move cheaper, so it ranks at least as high as without it.
    let without = detect(&reply_mirror());
    assert!(mv.aps.score > get(&without, "reply_inbound:thread:t1").aps.score);
}

#[test]
fn draft_in_a_follow_up_thread_is_attached_to_the_follow_up() {
    let mut m = mirror();
    m.contacts.push(bob());
    m.messages.push(outbound(
        "m1",
        "t2",
        at("2026-11-17T10:00:00Z"),
        mb("bob@beta.test"),
        "Proposal",
    ));
    m.drafts.push(draft(
        "dr8",
        Some("t2"),
        vec![mb("bob@beta.test")],
        now() - hours(1),
    ));
    let moves = detect(&m);
    let mv = get(&moves, "follow_up:thread:t2");
    assert_eq!(mv.action, PrimaryAction::ApproveDraft);
    assert_eq!(mv.subject.draft_id.as_deref(), Some("dr8"));
    assert!(!has(&moves, "approve_draft:draft:dr8"));
}

#[test]
fn draft_in_a_thread_without_a_thread_move_gets_its_own_move() {
    // We wrote yesterday (too early to follow up): the draft stands on its own.
    let mut m = mirror();
    m.contacts.push(bob());
    m.messages.push(outbound(
        "m1",
        "t2",
        now() - days(1),
        mb("bob@beta.test"),
        "Proposal",
    ));
    m.drafts.push(draft(
        "dr9",
        Some("t2"),
        vec![mb("bob@beta.test")],
        now() - hours(1),
    ));
    let moves = detect(&m);
    assert!(!has(&moves, "follow_up:thread:t2"));
    let mv = get(&moves, "approve_draft:draft:dr9");
    assert_eq!(mv.who, "Bob Brown");
}

// --- follow_up -------------------------------------------------------------------------------

fn follow_up_mirror(sent: DateTime<Utc>) -> Mirror {
    let mut m = mirror();
    m.contacts.push(bob());
    m.messages.push(outbound(
        "m1",
        "t2",
        sent,
        named("Bob Brown", "bob@beta.test"),
        "Proposal",
    ));
    m
}

#[test]
fn follow_up_after_three_business_days() {
    let moves = detect(&follow_up_mirror(at("2026-11-17T10:00:00Z")));
    let mv = get(&moves, "follow_up:thread:t2");
    assert_eq!(mv.kind, MoveKind::FollowUp);
    assert_eq!(mv.title, "Follow up: Proposal");
    assert_eq!(mv.who, "Bob Brown");
    assert_eq!(mv.action, PrimaryAction::FollowUpDraft);
    assert_eq!(mv.subject.thread_id.as_deref(), Some("t2"));
    assert_eq!(mv.subject.contact_id.as_deref(), Some("c2"));
    assert_eq!(mv.subject.email.as_deref(), Some("bob@beta.test"));
    assert_eq!(mv.why, "you wrote 3 business days ago, no reply yet");
    assert_eq!(mv.last_inbound_at, None);
}

#[rstest]
// Now is Friday 2026-11-20 15:00.
#[case::tue_three_days("2026-11-17T10:00:00Z", "2026-11-20T15:00:00Z", true)]
#[case::wed_two_days("2026-11-18T10:00:00Z", "2026-11-20T15:00:00Z", false)]
#[case::tue_late_not_three_whole_days("2026-11-17T16:00:00Z", "2026-11-20T15:00:00Z", false)]
// Over a weekend (now is Monday 2026-11-23 15:00): Thu → Mon is four calendar days but two business days.
#[case::thu_to_mon_weekend_skipped("2026-11-19T10:00:00Z", "2026-11-23T15:00:00Z", false)]
#[case::wed_to_mon_three("2026-11-18T10:00:00Z", "2026-11-23T15:00:00Z", true)]
#[case::fri_to_mon_one("2026-11-20T10:00:00Z", "2026-11-23T15:00:00Z", false)]
// Saturday and Sunday alone never count.
#[case::fri_to_sun("2026-11-20T10:00:00Z", "2026-11-22T15:00:00Z", false)]
// follow_up_max_days = 30.
#[case::exactly_30_days("2026-10-21T15:00:00Z", "2026-11-20T15:00:00Z", true)]
#[case::past_30_days("2026-10-21T14:00:00Z", "2026-11-20T15:00:00Z", false)]
fn follow_up_thresholds(#[case] sent: &str, #[case] now: &str, #[case] expected: bool) {
    let moves = detect_at(&follow_up_mirror(at(sent)), at(now));
    assert_eq!(
        has(&moves, "follow_up:thread:t2"),
        expected,
        "sent {sent}, now {now}: {:?}",
        keys(&moves)
    );
}

#[test]
fn no_follow_up_once_they_replied() {
    let mut m = follow_up_mirror(at("2026-11-16T10:00:00Z"));
    m.messages.push(inbound(
        "m2",
        "t2",
        at("2026-11-17T10:00:00Z"),
        mb("bob@beta.test"),
        "Re: Proposal",
    ));
    let moves = detect(&m);
    assert!(!has(&moves, "follow_up:thread:t2"));
    assert!(has(&moves, "reply_inbound:thread:t2"));
}

#[test]
fn follow_up_to_someone_outside_the_crm_names_the_recipient() {
    let mut m = mirror();
    m.messages.push(outbound(
        "m1",
        "t3",
        at("2026-11-16T10:00:00Z"),
        named("Evan Ellis", "evan@elsewhere.test"),
        "Re: Intro",
    ));
    let moves = detect(&m);
    let mv = get(&moves, "follow_up:thread:t3");
    assert_eq!(mv.who, "Evan Ellis");
    assert_eq!(mv.title, "Follow up: Intro");
    assert_eq!(mv.why, "you wrote 4 business days ago, no reply yet");
}

#[test]
fn automated_auto_reply_does_not_cancel_the_follow_up() {
    let mut m = follow_up_mirror(at("2026-11-16T10:00:00Z"));
    let mut ack = inbound(
        "m2",
        "t2",
        at("2026-11-16T10:01:00Z"),
        named("Beta Support", "noreply@beta.test"),
        "Automatic reply: Proposal",
    );
    ack.automated = true;
    m.messages.push(ack);
    let moves = detect(&m);
    assert!(has(&moves, "follow_up:thread:t2"), "{:?}", keys(&moves));
}

// --- stale_deal ------------------------------------------------------------------------------

fn stale_mirror(last_activity: DateTime<Utc>) -> Mirror {
    let mut m = mirror();
    m.contacts.push(alice());
    let mut d = deal("d1", "Acme renewal", "qualifiedtobuy");
    d.contact_ids = vec!["c1".into()];
    d.last_activity_at = Some(last_activity);
    m.deals.push(d);
    m
}

#[test]
fn stale_deal_after_fourteen_quiet_days() {
    let moves = detect(&stale_mirror(now() - days(20)));
    let mv = get(&moves, "stale_deal:deal:d1");
    assert_eq!(mv.kind, MoveKind::StaleDeal);
    assert_eq!(mv.title, "Revive: Acme renewal");
    assert_eq!(mv.who, "Alice Adams");
    assert_eq!(mv.action, PrimaryAction::CheckInDraft);
    assert_eq!(mv.subject.deal_id.as_deref(), Some("d1"));
    assert_eq!(mv.subject.contact_id.as_deref(), Some("c1"));
    assert_eq!(mv.signal_at, now() - days(20));
    assert_eq!(mv.why, "no activity for 20 days · Qualified to buy");
    assert_eq!(mv.features.inactive_days, Some(20.0));
}

#[test]
fn stale_deal_without_a_contact_makes_a_task() {
    let mut m = mirror();
    let mut d = deal("d1", "Acme renewal", "qualifiedtobuy");
    d.created_at = Some(now() - days(40));
    m.deals.push(d);
    let moves = detect(&m);
    let mv = get(&moves, "stale_deal:deal:d1");
    assert_eq!(mv.who, "Acme renewal");
    assert_eq!(mv.action, PrimaryAction::DealTask);
}

#[rstest]
#[case::exactly_14_days(days(14), true)]
#[case::an_hour_short(days(14) - hours(1), false)]
fn stale_deal_threshold(#[case] quiet: Duration, #[case] expected: bool) {
    assert_eq!(
        has(&detect(&stale_mirror(now() - quiet)), "stale_deal:deal:d1"),
        expected
    );
}

#[test]
fn recent_email_with_the_deal_contact_keeps_the_deal_fresh() {
    let mut m = stale_mirror(now() - days(40));
    m.messages.push(outbound(
        "m1",
        "t1",
        now() - days(2),
        mb("alice@acme.test"),
        "Renewal",
    ));
    assert!(!has(&detect(&m), "stale_deal:deal:d1"));
}

#[test]
fn recent_note_on_the_deal_keeps_it_fresh() {
    let mut m = stale_mirror(now() - days(40));
    m.notes.push(Note {
        id: "n1".into(),
        body: "Call went well".into(),
        at: Some(now() - days(1)),
        contact_ids: vec![],
        deal_ids: vec!["d1".into()],
    });
    assert!(!has(&detect(&m), "stale_deal:deal:d1"));
}

#[rstest]
#[case::won("closedwon")]
#[case::lost("closedlost")]
fn closed_deals_are_never_stale_closing_or_stage_changed(#[case] stage: &str) {
    let mut m = stale_mirror(now() - days(60));
    m.deals[0].stage_id = Some(stage.into());
    m.deals[0].close_date = Some(now() + days(2));
    m.deals[0].stage_entered_at = Some(now() - days(1));
    let moves = detect(&m);
    assert!(
        moves.iter().all(|mv| mv.subject.deal_id.as_deref() != Some("d1")),
        "{:?}",
        keys(&moves)
    );
    // The same deal open produces all three.
    m.deals[0].stage_id = Some("qualifiedtobuy".into());
    let moves = detect(&m);
    assert!(has(&moves, "stale_deal:deal:d1"));
    assert!(has(&moves, "closing_soon:deal:d1"));
    assert!(has(&moves, "stage_changed:deal:d1:qualifiedtobuy"));
}

#[test]
fn deal_without_any_dates_is_not_stale() {
    let mut m = mirror();
    m.deals.push(deal("d1", "Acme renewal", "qualifiedtobuy"));
    assert!(detect(&m).is_empty());
}

// --- closing_soon ----------------------------------------------------------------------------

fn closing_mirror(close: DateTime<Utc>) -> Mirror {
    let mut m = mirror();
    m.contacts.push(bob());
    let mut d = deal("d2", "Beta expansion", "contractsent");
    d.contact_ids = vec!["c2".into()];
    d.close_date = Some(close);
    d.last_activity_at = Some(now() - days(1));
    m.deals.push(d);
    m
}

#[test]
fn closing_soon_within_the_window() {
    let moves = detect(&closing_mirror(at("2026-11-23T12:00:00Z")));
    let mv = get(&moves, "closing_soon:deal:d2");
    assert_eq!(mv.kind, MoveKind::ClosingSoon);
    assert_eq!(mv.title, "Close: Beta expansion");
    assert_eq!(mv.who, "Bob Brown");
    assert_eq!(mv.action, PrimaryAction::DealTask);
    assert_eq!(mv.subject.deal_id.as_deref(), Some("d2"));
    assert_eq!(mv.why, "close date Mon 23 Nov (in 3 days) · Contract sent");
    assert_eq!(mv.features.days_to_close, Some(3.0));
    assert!(!has(&moves, "stale_deal:deal:d2"));
}

#[test]
fn closing_soon_when_the_close_date_passed() {
    let moves = detect(&closing_mirror(now() - days(2)));
    let mv = get(&moves, "closing_soon:deal:d2");
    assert!(mv.why.starts_with("close date passed 2 days ago"), "{}", mv.why);
}

#[rstest]
#[case::exactly_7_days_ahead(days(7), true)]
#[case::an_hour_beyond_the_window(days(7) + hours(1), false)]
#[case::far_ahead(days(40), false)]
#[case::today(hours(2), true)]
#[case::passed_30_days_ago(-days(30), true)]
#[case::passed_longer_ago(-days(30) - hours(1), false)]
fn closing_soon_window(#[case] offset: Duration, #[case] expected: bool) {
    let moves = detect(&closing_mirror(now() + offset));
    assert_eq!(
        has(&moves, "closing_soon:deal:d2"),
        expected,
        "{:?}",
        keys(&moves)
    );
}

#[test]
fn nearer_close_date_ranks_higher() {
    let near = detect(&closing_mirror(now() + days(1)));
    let far = detect(&closing_mirror(now() + days(6)));
    assert!(get(&near, "closing_soon:deal:d2").aps.score > get(&far, "closing_soon:deal:d2").aps.score);
}

// --- new_lead --------------------------------------------------------------------------------

fn lead() -> Contact {
    let mut c = contact("c5", "nora@lead.test", "Nora", "New");
    c.lifecycle_stage = Some("lead".into());
    c.created_at = Some(now() - days(2));
    c
}

#[test]
fn new_lead_for_a_fresh_lead_nobody_wrote_to() {
    let mut m = mirror();
    m.contacts.push(lead());
    let moves = detect(&m);
    let mv = get(&moves, "new_lead:contact:c5");
    assert_eq!(mv.kind, MoveKind::NewLead);
    assert_eq!(mv.title, "First touch: Nora New");
    assert_eq!(mv.who, "Nora New");
    assert_eq!(mv.action, PrimaryAction::FirstTouchDraft);
    assert_eq!(mv.subject.contact_id.as_deref(), Some("c5"));
    assert_eq!(mv.subject.email.as_deref(), Some("nora@lead.test"));
    assert_eq!(mv.why, "new lead 2d ago, no outreach yet");
    assert_eq!(mv.signal_at, now() - days(2));
}

#[test]
fn new_lead_from_a_form_submission() {
    let mut m = mirror();
    let mut c = contact("c6", "fred@form.test", "Fred", "Form");
    c.lifecycle_stage = Some("customer".into());
    c.recent_conversion_at = Some(now() - hours(5));
    c.recent_conversion_event = Some("Demo request".into());
    m.contacts.push(c);
    let moves = detect(&m);
    let mv = get(&moves, "new_lead:contact:c6");
    assert_eq!(mv.why, "submitted “Demo request” 5h ago, no outreach yet");
    assert_eq!(mv.signal_at, now() - hours(5));
    assert_eq!(mv.features.form_days_ago, Some(0.0));
}

#[test]
fn no_new_lead_when_we_already_emailed_them() {
    let mut m = mirror();
    m.contacts.push(lead());
    m.messages.push(outbound(
        "m1",
        "t1",
        now() - days(1),
        mb("nora@lead.test"),
        "Welcome",
    ));
    let moves = detect(&m);
    assert!(!has(&moves, "new_lead:contact:c5"), "{:?}", keys(&moves));
}

#[rstest]
#[case::exactly_14_days(days(14), true)]
#[case::an_hour_older(days(14) + hours(1), false)]
#[case::created_in_the_future(-hours(1), false)]
fn new_lead_window(#[case] age: Duration, #[case] expected: bool) {
    let mut m = mirror();
    let mut c = lead();
    c.created_at = Some(now() - age);
    m.contacts.push(c);
    assert_eq!(has(&detect(&m), "new_lead:contact:c5"), expected);
}

#[rstest]
#[case::customer_without_form(Some("customer"), true, false)]
#[case::no_stage(None, true, false)]
#[case::lead_stage_is_case_insensitive(Some("Lead"), true, true)]
#[case::mql(Some("marketingqualifiedlead"), true, true)]
#[case::lead_without_email(Some("lead"), false, false)]
fn new_lead_needs_a_lead_stage_and_an_email(
    #[case] stage: Option<&str>,
    #[case] with_email: bool,
    #[case] expected: bool,
) {
    let mut m = mirror();
    let mut c = lead();
    c.lifecycle_stage = stage.map(str::to_string);
    if !with_email {
        c.email = None;
    }
    m.contacts.push(c);
    assert_eq!(has(&detect(&m), "new_lead:contact:c5"), expected);
}

// --- overdue_task ----------------------------------------------------------------------------

#[test]
fn overdue_task_for_an_open_task_past_due() {
    let mut m = mirror();
    m.contacts.push(alice());
    let mut t = task("k1", "Call about renewal", Some(now() - days(2)));
    t.contact_ids = vec!["c1".into()];
    t.priority = Some("HIGH".into());
    t.task_type = Some("CALL".into());
    m.tasks.push(t);
    let moves = detect(&m);
    let mv = get(&moves, "overdue_task:task:k1");
    assert_eq!(mv.kind, MoveKind::OverdueTask);
    assert_eq!(mv.title, "Task: Call about renewal");
    assert_eq!(mv.who, "Alice Adams");
    assert_eq!(mv.action, PrimaryAction::CompleteTask);
    assert_eq!(mv.subject.task_id.as_deref(), Some("k1"));
    assert_eq!(mv.subject.contact_id.as_deref(), Some("c1"));
    assert_eq!(mv.why, "due Wed 18 Nov (2d ago)");
    assert!(mv.features.high_priority);
    assert_eq!(mv.features.effort, Effort::Call);
    assert_eq!(mv.features.overdue_days, Some(2.0));
}

#[test]
fn overdue_task_who_falls_back_to_the_deal_then_a_placeholder() {
    let mut m = mirror();
    m.deals.push(deal("d2", "Beta expansion", "contractsent"));
    let mut t = task("k1", "Send contract", Some(now() - days(1)));
    t.deal_ids = vec!["d2".into()];
    m.tasks.push(t);
    m.tasks.push(task("k2", "Tidy CRM", Some(now() - days(1))));
    let moves = detect(&m);
    let with_deal = get(&moves, "overdue_task:task:k1");
    assert_eq!(with_deal.who, "Beta expansion");
    assert_eq!(with_deal.subject.deal_id.as_deref(), Some("d2"));
    assert_eq!(get(&moves, "overdue_task:task:k2").who, "(no contact)");
}

#[rstest]
#[case::completed("COMPLETED", false)]
#[case::completed_lowercase("completed", false)]
#[case::not_started("NOT_STARTED", true)]
#[case::in_progress("IN_PROGRESS", true)]
#[case::waiting("WAITING", true)]
fn overdue_task_status(#[case] status: &str, #[case] expected: bool) {
    let mut m = mirror();
    let mut t = task("k1", "Send contract", Some(now() - days(3)));
    t.status = status.into();
    m.tasks.push(t);
    assert_eq!(has(&detect(&m), "overdue_task:task:k1"), expected);
}

#[rstest]
#[case::a_second_ago(Some(-Duration::seconds(1)), true)]
#[case::due_right_now(Some(Duration::zero()), false)]
#[case::due_later(Some(hours(1)), false)]
#[case::no_due_date(None, false)]
fn overdue_task_due_threshold(#[case] offset: Option<Duration>, #[case] expected: bool) {
    let mut m = mirror();
    m.tasks
        .push(task("k1", "Send contract", offset.map(|o| now() + o)));
    assert_eq!(has(&detect(&m), "overdue_task:task:k1"), expected);
}

#[test]
fn more_overdue_and_high_priority_rank_higher() {
    let mut m = mirror();
    m.tasks.push(task("k1", "A", Some(now() - days(1))));
    m.tasks.push(task("k2", "B", Some(now() - days(6))));
    let mut hi = task("k3", "C", Some(now() - days(1)));
    hi.priority = Some("HIGH".into());
    m.tasks.push(hi);
    let moves = detect(&m);
    let s = |k: &str| get(&moves, k).aps.score;
    assert!(s("overdue_task:task:k2") > s("overdue_task:task:k1"));
    assert!(s("overdue_task:task:k3") > s("overdue_task:task:k1"));
}

// --- stage_changed ---------------------------------------------------------------------------

fn stage_mirror(entered: DateTime<Utc>) -> Mirror {
    let mut m = mirror();
    let mut d = deal("d3", "Gamma pilot", "contractsent");
    d.stage_entered_at = Some(entered);
    d.last_activity_at = Some(entered);
    m.deals.push(d);
    m
}

#[test]
fn stage_changed_for_a_recent_stage_move() {
    let moves = detect(&stage_mirror(now() - days(1)));
    let mv = get(&moves, "stage_changed:deal:d3:contractsent");
    assert_eq!(mv.kind, MoveKind::StageChanged);
    assert_eq!(mv.title, "Next step: Gamma pilot");
    assert_eq!(mv.who, "Gamma pilot");
    assert_eq!(mv.action, PrimaryAction::NextStepTask);
    assert_eq!(mv.subject.deal_id.as_deref(), Some("d3"));
    assert_eq!(mv.why, "moved to Contract sent 1d ago — set the next step");
}

#[rstest]
#[case::exactly_3_days(days(3), true)]
#[case::an_hour_older(days(3) + hours(1), false)]
#[case::in_the_future(-hours(1), false)]
fn stage_changed_window(#[case] age: Duration, #[case] expected: bool) {
    let moves = detect(&stage_mirror(now() - age));
    assert_eq!(has(&moves, "stage_changed:deal:d3:contractsent"), expected);
}

#[test]
fn stage_changed_key_changes_with_the_stage() {
    let mut m = stage_mirror(now() - hours(5));
    m.deals[0].stage_id = Some("qualifiedtobuy".into());
    let moves = detect(&m);
    assert!(has(&moves, "stage_changed:deal:d3:qualifiedtobuy"));
    assert!(!has(&moves, "stage_changed:deal:d3:contractsent"));
}

// --- ranking ---------------------------------------------------------------------------------

/// A mirror with all eight kinds of move. `x` is prepended to every piece of external text.
fn full_mirror(x: &str) -> Mirror {
    let mut m = mirror();
    m.stages = stages(x);
    m.companies.push(Company {
        id: "co1".into(),
        name: Some(format!("{x}Acme")),
        domain: Some("acme.test".into()),
        industry: Some(format!("{x}Software")),
        employees: Some(250),
        annual_revenue: None,
        lifecycle_stage: None,
        updated_at: None,
    });
    let person = |id: &str, email: &str, first: &str, last: &str| {
        let mut c = contact(id, email, &format!("{x}{first}"), &format!("{last}{x}"));
        c.job_title = Some(format!("{x}VP"));
        c
    };
    let mut a = person("c1", "alice@acme.test", "Alice", "Adams");
    a.company_id = Some("co1".into());
    a.lifecycle_stage = Some("opportunity".into());
    m.contacts.push(a);
    m.contacts.push(person("c2", "bob@beta.test", "Bob", "Brown"));
    let mut n = person("c5", "nora@lead.test", "Nora", "New");
    n.lifecycle_stage = Some("lead".into());
    n.created_at = Some(now() - days(2));
    n.recent_conversion_at = Some(now() - days(1));
    n.recent_conversion_event = Some(format!("{x}Demo request"));
    m.contacts.push(n);
    m.contacts.push(person("c6", "dana@delta.test", "Dana", "Diaz"));
    let mut cold = person("c7", "owen@old.test", "Owen", "Old");
    cold.lifecycle_stage = Some("lead".into());
    cold.created_at = Some(now() - days(3));
    m.contacts.push(cold);

    let mut d1 = deal("d1", &format!("{x}Delta renewal{x}"), "qualifiedtobuy");
    d1.contact_ids = vec!["c6".into()];
    d1.last_activity_at = Some(now() - days(20));
    let mut d2 = deal("d2", &format!("{x}Beta expansion"), "contractsent");
    d2.contact_ids = vec!["c2".into()];
    d2.close_date = Some(now() + days(3));
    let mut d3 = deal("d3", &format!("{x}Gamma pilot"), "appointmentscheduled");
    d3.company_ids = vec!["co1".into()];
    d3.stage_entered_at = Some(now() - days(1));
    d3.last_activity_at = Some(now() - days(1));
    d3.amount = Some(120_000.0);
    m.deals.extend([d1, d2, d3]);

    let mut m1 = outbound(
        "m1",
        "t1",
        at("2026-11-18T10:00:00Z"),
        named(&format!("{x}Alice"), "alice@acme.test"),
        &format!("{x}Pricing"),
    );
    m1.snippet = format!("{x}proposal");
    let mut m2 = inbound(
        "m2",
        "t1",
        at("2026-11-20T09:00:00Z"),
        named(&format!("{x}Alice Adams"), "alice@acme.test"),
        &format!("Re: {x}Pricing{x}"),
    );
    m2.snippet = format!("{x}Can we talk?{x}");
    let m3 = outbound(
        "m3",
        "t2",
        at("2026-11-17T10:00:00Z"),
        named(&format!("{x}Bob"), "bob@beta.test"),
        &format!("{x}Proposal"),
    );
    let m4 = outbound(
        "m4",
        "t3",
        at("2026-11-16T10:00:00Z"),
        named(&format!("{x}Evan{x}"), "evan@elsewhere.test"),
        &format!("{x}Intro"),
    );
    let mut m5 = inbound(
        "m5",
        "t4",
        at("2026-11-20T11:00:00Z"),
        named(&format!("{x}Stranger"), "stranger@unknown.test"),
        &format!("{x}Hello"),
    );
    m5.snippet = format!("{x}hello there");
    m.messages.extend([m1, m2, m3, m4, m5]);

    let mut dr = draft(
        "dr1",
        Some("t9"),
        vec![named(&format!("{x}Dana"), "dana@delta.test")],
        now() - hours(3),
    );
    dr.subject = format!("{x}Checking in");
    dr.body = format!("{x}Hi Dana{x}");
    let mut dr2 = draft(
        "dr2",
        None,
        vec![named(&format!("{x}Zed"), "zed@nowhere.test")],
        now() - hours(30),
    );
    dr2.subject = format!("{x}Cold intro");
    dr2.body = format!("{x}Hello");
    m.drafts.extend([dr, dr2]);

    let mut k1 = task("k1", &format!("{x}Send contract"), Some(now() - days(2)));
    k1.deal_ids = vec!["d2".into()];
    let mut k2 = task("k2", &format!("{x}Call Alice"), Some(now() - days(1)));
    k2.contact_ids = vec!["c1".into()];
    k2.priority = Some("HIGH".into());
    k2.task_type = Some("CALL".into());
    m.tasks.extend([k1, k2]);
    m
}

fn assert_all_kinds(moves: &[Move]) {
    for kind in MoveKind::ALL {
        assert!(!of_kind(moves, kind).is_empty(), "no {kind} in {:?}", keys(moves));
    }
}

fn ranking(moves: &[Move]) -> Vec<(String, u64)> {
    moves
        .iter()
        .map(|m| (m.key.clone(), m.aps.score.to_bits()))
        .collect()
}

#[test]
fn ranking_is_deterministic_and_independent_of_input_order() {
    let m = full_mirror("");
    let first = detect(&m);
    assert_all_kinds(&first);
    let second = detect(&m);
    assert_eq!(ranking(&first), ranking(&second));
    assert_eq!(first, second);

    let mut reversed = m.clone();
    reversed.contacts.reverse();
    reversed.companies.reverse();
    reversed.deals.reverse();
    reversed.stages.reverse();
    reversed.tasks.reverse();
    reversed.messages.reverse();
    reversed.drafts.reverse();
    assert_eq!(ranking(&first), ranking(&detect(&reversed)));

    for pair in first.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let (sa, sb) = (rank_score(a.aps.score), rank_score(b.aps.score));
        assert!(
            sa > sb || (sa == sb && a.key < b.key),
            "{} ({}) before {} ({})",
            a.key,
            a.aps.score,
            b.key,
            b.aps.score
        );
    }
    // Keys are unique.
    let mut ks = keys(&first);
    ks.sort_unstable();
    ks.dedup();
    assert_eq!(ks.len(), first.len());
}

#[test]
fn equal_scores_are_ordered_by_key() {
    let mut m = mirror();
    for (id, email) in [
        ("c-b", "b@leads.test"),
        ("c-a", "a@leads.test"),
        ("c-c", "c@leads.test"),
    ] {
        let mut c = contact(id, email, "Same", "Person");
        c.lifecycle_stage = Some("lead".into());
        c.created_at = Some(now() - days(1));
        m.contacts.push(c);
    }
    let moves = detect(&m);
    assert_eq!(moves.len(), 3);
    assert!(moves.iter().all(|mv| mv.aps.score == moves[0].aps.score));
    assert_eq!(
        keys(&moves),
        [
            "new_lead:contact:c-a",
            "new_lead:contact:c-b",
            "new_lead:contact:c-c"
        ]
    );
    m.contacts.reverse();
    assert_eq!(
        keys(&detect(&m)),
        [
            "new_lead:contact:c-a",
            "new_lead:contact:c-b",
            "new_lead:contact:c-c"
        ]
    );
}

#[test]
fn every_move_adds_up() {
    for mv in detect(&full_mirror("")) {
        let sum: f64 = mv.aps.parts.iter().map(|p| p.points).sum();
        assert!(
            (sum - mv.aps.score).abs() < 1e-9,
            "{}: {sum} vs {}",
            mv.key,
            mv.aps.score
        );
        assert!((0.0..=100.0).contains(&mv.aps.score));
        let kind_prefix = format!("{}:", mv.kind.as_str());
        assert!(mv.key.starts_with(&kind_prefix), "{}", mv.key);
    }
}

// --- effective_state -------------------------------------------------------------------------

fn reply_move(m: &Mirror, t: DateTime<Utc>) -> Move {
    get(&detect_at(m, t), "reply_inbound:thread:t1").clone()
}

fn decision(state: MoveState, decided_at: DateTime<Utc>) -> Decision {
    Decision {
        move_key: "reply_inbound:thread:t1".into(),
        state,
        decided_at,
    }
}

/// Alice writes again in thread t1 at `t`.
fn with_new_inbound(t: DateTime<Utc>) -> Mirror {
    let mut m = reply_mirror();
    m.messages
        .push(inbound("m9", "t1", t, mb("alice@acme.test"), "Re: Pricing"));
    m
}

#[test]
fn no_decision_means_open() {
    let mv = reply_move(&reply_mirror(), now());
    assert_eq!(effective_state(&mv, None, now()), MoveState::Open);
}

#[test]
fn snooze_by_date_wakes_at_the_date() {
    let mv = reply_move(&reply_mirror(), now());
    let snoozed = MoveState::Snoozed {
        until: Some(now() + days(1)),
        until_reply: false,
    };
    let d = decision(snoozed.clone(), now());
    assert_eq!(effective_state(&mv, Some(&d), now()), snoozed);
    assert_eq!(
        effective_state(&mv, Some(&d), now() + days(1) - Duration::seconds(1)),
        snoozed
    );
    assert_eq!(effective_state(&mv, Some(&d), now() + days(1)), MoveState::Open);
    assert_eq!(effective_state(&mv, Some(&d), now() + days(3)), MoveState::Open);
}

#[test]
fn snooze_until_reply_wakes_when_they_write_again() {
    let snoozed = MoveState::Snoozed {
        until: None,
        until_reply: true,
    };
    let d = decision(snoozed.clone(), now());
    // Nothing new: still snoozed, however long we wait.
    let later = now() + days(5);
    assert_eq!(
        effective_state(&reply_move(&reply_mirror(), later), Some(&d), later),
        snoozed
    );
    // A new inbound message after the decision wakes it.
    let t = now() + hours(2);
    let mv = reply_move(&with_new_inbound(t), t + hours(1));
    assert_eq!(mv.last_inbound_at, Some(t));
    assert_eq!(effective_state(&mv, Some(&d), t + hours(1)), MoveState::Open);
    // One that arrived before the decision does not.
    let early = decision(snoozed.clone(), t + Duration::minutes(30));
    assert_eq!(effective_state(&mv, Some(&early), t + hours(1)), snoozed);
}

#[test]
fn snooze_until_reply_with_a_date_wakes_on_either() {
    let snoozed = MoveState::Snoozed {
        until: Some(now() + days(3)),
        until_reply: true,
    };
    let d = decision(snoozed.clone(), now());
    let mv = reply_move(&reply_mirror(), now());
    assert_eq!(effective_state(&mv, Some(&d), now() + days(2)), snoozed);
    assert_eq!(effective_state(&mv, Some(&d), now() + days(3)), MoveState::Open);
}

#[test]
fn skip_stays_skipped_unless_a_newer_signal_arrives() {
    let skipped = MoveState::Skipped {
        reason: Some("not now".into()),
    };
    let d = decision(skipped.clone(), now());
    let mv = reply_move(&reply_mirror(), now());
    assert_eq!(effective_state(&mv, Some(&d), now()), skipped);
    assert_eq!(
        effective_state(
            &reply_move(&reply_mirror(), now() + days(4)),
            Some(&d),
            now() + days(4)
        ),
        skipped
    );
    let t = now() + hours(1);
    let fresh = reply_move(&with_new_inbound(t), t + hours(1));
    assert_eq!(fresh.signal_at, t);
    assert_eq!(effective_state(&fresh, Some(&d), t + hours(1)), MoveState::Open);
}

#[test]
fn done_reopens_only_on_a_newer_signal() {
    let d = decision(MoveState::Done, now());
    assert_eq!(
        effective_state(&reply_move(&reply_mirror(), now()), Some(&d), now()),
        MoveState::Done
    );
    let t = now() + hours(1);
    assert_eq!(
        effective_state(&reply_move(&with_new_inbound(t), t), Some(&d), t),
        MoveState::Open
    );
}

#[test]
fn accepted_stays_accepted() {
    let d = decision(MoveState::Accepted, now());
    assert_eq!(
        effective_state(&reply_move(&reply_mirror(), now()), Some(&d), now() + days(2)),
        MoveState::Accepted
    );
    let t = now() + hours(1);
    assert_eq!(
        effective_state(&reply_move(&with_new_inbound(t), t), Some(&d), t + hours(1)),
        MoveState::Accepted
    );
}

// --- terminal safety -------------------------------------------------------------------------

const HOSTILE: &str =
    "\u{1b}[31m\u{1b}]0;pwned\u{7}\u{1b}]8;;http://evil.test/\u{1b}\\\u{202e}\u{9b}2J\u{7}\r\n\u{0}\u{8}\t";

#[test]
fn move_text_is_terminal_safe_with_escape_sequences_in_every_input() {
    // The fixture is really hostile.
    assert!(!is_terminal_safe(HOSTILE));
    let moves = detect(&full_mirror(HOSTILE));
    assert_all_kinds(&moves);
    assert_eq!(
        keys(&moves).len(),
        detect(&full_mirror("")).len(),
        "escape sequences do not change which moves exist"
    );
    for mv in &moves {
        for (field, text) in [("title", &mv.title), ("who", &mv.who), ("why", &mv.why)] {
            assert!(
                is_terminal_safe(text),
                "{} {field} is not terminal-safe: {text:?}",
                mv.key
            );
            assert!(!text.contains('\n'), "{} {field} spans lines: {text:?}", mv.key);
        }
        for p in &caseyos::domain::aps::explain(&mv.features, &Config::default().aps).1 {
            assert!(
                is_terminal_safe(&p.why),
                "{} aps {} why: {:?}",
                mv.key,
                p.name,
                p.why
            );
        }
    }
    // And the visible text survives sanitizing.
    let reply = get(&moves, "reply_inbound:thread:t1");
    assert!(reply.title.contains("Pricing"), "{}", reply.title);
    assert!(reply.who.contains("Alice"), "{}", reply.who);
    assert!(reply.why.contains("Can we talk?"), "{}", reply.why);
    let stale = get(&moves, "stale_deal:deal:d1");
    assert!(stale.title.contains("Delta renewal"), "{}", stale.title);
    assert!(stale.why.contains("Qualified to buy"), "{}", stale.why);
    let follow = get(&moves, "follow_up:thread:t3");
    assert!(follow.who.contains("Evan"), "{}", follow.who);
    let task = get(&moves, "overdue_task:task:k1");
    assert!(task.who.contains("Beta expansion"), "{}", task.who);
}

#[test]
fn scores_that_show_the_same_are_ordered_by_key_and_a_tenth_apart_by_score() {
    let mut m = mirror();
    // The later lead scores a hair higher (speed to lead), not a tenth of a point higher.
    for (id, email, minutes) in [("c-a", "a@leads.test", 2), ("c-b", "b@leads.test", 0)] {
        let mut c = contact(id, email, "Same", "Person");
        c.lifecycle_stage = Some("lead".into());
        c.created_at = Some(now() - days(1) - chrono::Duration::minutes(minutes));
        m.contacts.push(c);
    }
    let moves = detect(&m);
    let (a, b) = (&moves[0], &moves[1]);
    assert!(b.aps.score > a.aps.score, "{} vs {}", a.aps.score, b.aps.score);
    assert_eq!(rank_score(a.aps.score), rank_score(b.aps.score));
    assert_eq!(keys(&moves), ["new_lead:contact:c-a", "new_lead:contact:c-b"]);

    // A day apart: the fresher lead shows a higher score and comes first.
    let mut c = contact("c-0", "0@leads.test", "Older", "Lead");
    c.lifecycle_stage = Some("lead".into());
    c.created_at = Some(now() - days(3));
    m.contacts.push(c);
    let moves = detect(&m);
    assert_eq!(
        moves.last().map(|mv| mv.key.as_str()),
        Some("new_lead:contact:c-0")
    );
    assert!(rank_score(moves[2].aps.score) < rank_score(moves[1].aps.score));
}
