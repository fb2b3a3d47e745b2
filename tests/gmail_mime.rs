//! Hostile mail through the whole path: Gmail's JSON → sync → mirror → moves → screen. Bad
//! charsets, deep multiparts, a 5 MB body, escape sequences in headers, encoded words, a part
//! that is not base64 and a message without a sender are stored readably (or skipped with a
//! reason) and rendered without anything a terminal would interpret.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support {
    pub mod fake_gmail;
    pub mod gmail_client;
}

use base64::Engine;
use caseyos::Clock;
use caseyos::config::{Config, SafetyMode};
use caseyos::domain::text::is_terminal_safe;
use caseyos::tui::app::{Action, App, Source};
use caseyos::tui::keymap::Keymap;
use caseyos::tui::runtime::snapshot;
use caseyos::tui::theme::Theme;
use caseyos::tui::view;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::{Value, json};
use support::fake_gmail::{FakeGmail, OPERATOR};
use support::gmail_client::{Mirror, run, t0};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn headers(from: &str, subject: &str, content_type: &str) -> Value {
    json!([
        {"name": "From", "value": from},
        {"name": "To", "value": format!("Morgan Seller <{OPERATOR}>")},
        {"name": "Subject", "value": subject},
        {"name": "Date", "value": "Fri, 20 Nov 2026 10:00:00 +0000"},
        {"name": "Message-ID", "value": format!("<{}@hostile.example>", subject.len())},
        {"name": "Content-Type", "value": content_type},
    ])
}

fn leaf(mime: &str, charset: &str, bytes: &[u8]) -> Value {
    json!({
        "mimeType": mime,
        "filename": "",
        "headers": [{"name": "Content-Type", "value": format!("{mime}; charset=\"{charset}\"")}],
        "body": {"size": bytes.len(), "data": b64(bytes)},
    })
}

fn hours_ago(h: i64) -> i64 {
    (t0() - chrono::Duration::hours(h)).timestamp_millis()
}

/// Inserts one hostile message per case; returns their ids in order.
fn hostile_mailbox(fake: &FakeGmail) -> Vec<String> {
    let mut ids = Vec::new();
    // 1. A charset nobody knows, with Latin-1 bytes.
    let mut p = leaf("text/plain", "x-no-such-charset", b"Gr\xfc\xdfe aus M\xfcnchen");
    p["headers"] = headers(
        "Anna Bauer <anna@bauer.example>",
        "Angebot",
        "text/plain; charset=\"x-no-such-charset\"",
    );
    ids.push(fake.insert_payload(None, &["INBOX"], hours_ago(5), p));
    // 2. Forty nested multiparts around the text, with plain and HTML alternatives near the top.
    let mut inner = leaf("text/plain", "utf-8", "deep text survives".as_bytes());
    for depth in 0..40 {
        let mut parts = vec![inner];
        if depth == 37 {
            parts.push(json!({"mimeType": "multipart/alternative", "filename": "", "headers": [], "body": {"size": 0},
                "parts": [leaf("text/plain", "utf-8", b"plain twin"), leaf("text/html", "utf-8", b"<p>html twin</p>")]}));
        }
        inner = json!({"mimeType": "multipart/mixed", "filename": "", "headers": [], "body": {"size": 0}, "parts": parts});
    }
    inner["headers"] = headers(
        "Deep Nest <deep@nest.example>",
        "Nested",
        "multipart/mixed; boundary=x",
    );
    ids.push(fake.insert_payload(None, &["INBOX"], hours_ago(6), inner));
    // 3. A 5 MB body.
    let big = "All work and no play makes a very long email. ".repeat(110_000);
    let mut p = leaf("text/plain", "utf-8", big.as_bytes());
    p["headers"] = headers(
        "Big Sender <big@bulk.example>",
        "Huge",
        "text/plain; charset=utf-8",
    );
    ids.push(fake.insert_payload(None, &["INBOX"], hours_ago(7), p));
    // 4. Escape sequences in the headers and the body.
    let mut p = leaf(
        "text/plain",
        "utf-8",
        "Pay now\u{1b}[8m hidden\u{1b}[0m \u{1b}]8;;http://evil.example\u{7}link\u{1b}]8;;\u{7}".as_bytes(),
    );
    p["headers"] = headers(
        "\u{1b}]0;pwned\u{7}Eve \u{1b}[31mEvil <eve@evil.example>",
        "\u{1b}[2J\u{1b}[31mURGENT\u{1b}[0m invoice \u{202e}fdp.exe",
        "text/plain; charset=utf-8",
    );
    ids.push(fake.insert_payload(None, &["INBOX"], hours_ago(1), p));
    // 5. Encoded words in the subject and the sender's name.
    let mut p = leaf("text/plain", "utf-8", b"Bonjour");
    p["headers"] = headers(
        "=?UTF-8?Q?Ren=C3=A9e_Dupont?= <renee@dupont.example>",
        "=?UTF-8?B?w4lsw6lnYW50?= offer",
        "text/plain; charset=utf-8",
    );
    ids.push(fake.insert_payload(None, &["INBOX"], hours_ago(8), p));
    // 6. One alternative is not base64 at all: the other one is used.
    let mut broken = leaf("text/plain", "utf-8", b"");
    broken["body"]["data"] = json!("!!! not base64 !!!");
    let mut p = json!({"mimeType": "multipart/alternative", "filename": "", "body": {"size": 0},
        "parts": [broken, leaf("text/html", "utf-8", b"<p>readable <b>html</b></p><script>alert(1)</script>")]});
    p["headers"] = headers(
        "Half Broken <half@broken.example>",
        "Broken part",
        "multipart/alternative; boundary=y",
    );
    ids.push(fake.insert_payload(None, &["INBOX"], hours_ago(9), p));
    // 7. No sender at all: skipped with a reason, the rest still lands.
    let mut p = leaf("text/plain", "utf-8", b"who am I");
    p["headers"] = json!([{"name": "Subject", "value": "Anonymous"}]);
    ids.push(fake.insert_payload(None, &["INBOX"], hours_ago(10), p));
    ids
}

fn body_of(m: &Mirror, id: &str) -> String {
    m.sql()
        .query_row("SELECT body FROM messages WHERE id = ?1", [id], |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn hostile_mime_is_stored_readably_and_nothing_stored_is_lost() {
    let fake = FakeGmail::start().await;
    let ids = hostile_mailbox(&fake);
    let mut m = Mirror::new();
    let summary = run(&fake, &mut m.store).await;
    assert_eq!(summary.fetched, 6, "{}", summary.describe());
    assert_eq!(summary.skipped, 1, "the message without a sender");
    assert!(summary.describe().contains("1 unreadable (see the log)"));

    assert_eq!(body_of(&m, &ids[0]), "Grüße aus München");
    let deep = body_of(&m, &ids[1]);
    assert_eq!(deep, "deep text survives\n\nplain twin");
    let huge = body_of(&m, &ids[2]);
    assert!(huge.len() < 300 * 1024, "{} bytes kept", huge.len());
    assert!(huge.starts_with("All work and no play"));
    assert!(
        huge.contains("truncated by CaseyOS"),
        "{}",
        &huge[huge.len() - 100..]
    );
    // Stored as written: sanitizing happens on the way to the screen.
    assert!(body_of(&m, &ids[3]).contains('\u{1b}'));
    let (name, subject): (String, String) = m
        .sql()
        .query_row(
            "SELECT from_name, subject FROM messages WHERE id = ?1",
            [&ids[4]],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (name.as_str(), subject.as_str()),
        ("Renée Dupont", "Élégant offer")
    );
    let half = body_of(&m, &ids[5]);
    assert_eq!(half.split_whitespace().collect::<Vec<_>>(), ["readable", "html"]);
    assert_eq!(m.count("SELECT count(*) FROM messages"), 6);

    // A later sync that meets more hostile mail keeps everything already stored.
    let mut p = leaf("text/plain", "utf-8", b"late");
    p["headers"] = headers("Late <late@x.example>", "Late", "text/plain");
    fake.insert_payload(None, &["INBOX"], hours_ago(0), p);
    run(&fake, &mut m.store).await;
    assert_eq!(m.count("SELECT count(*) FROM messages"), 7);
    assert_eq!(body_of(&m, &ids[0]), "Grüße aus München");
}

fn render(app: &App) -> (String, bool) {
    let (w, h) = (120, 40);
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| view::draw(f, app, &Theme::mono())).unwrap();
    let buf = terminal.backend().buffer().clone();
    let safe = buf
        .content()
        .iter()
        .all(|c| is_terminal_safe(c.symbol()) && !c.symbol().contains('\n'));
    let text = (0..h)
        .map(|y| {
            (0..w)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n");
    (text, safe)
}

#[tokio::test]
async fn hostile_mail_renders_without_escape_sequences() {
    let fake = FakeGmail::start().await;
    let ids = hostile_mailbox(&fake);
    let mut m = Mirror::new();
    run(&fake, &mut m.store).await;
    let config = Config::default();
    let clock = Clock::Fixed(t0());
    let data = snapshot(&mut m.store, &config, &clock).unwrap();
    let mut app = App::new(
        t0(),
        Source::Live,
        SafetyMode::DraftOnly,
        Keymap::defaults(),
        config.aps,
        data,
    );
    app.update(Action::Resize(120, 40));
    // Every stored hostile message asks for a reply; each row and each detail view is safe.
    assert_eq!(app.rows().len(), 6, "one reply move per readable message");
    let (list, safe) = render(&app);
    assert!(safe, "{list}");
    assert!(list.contains("URGENT invoice"), "{list}");
    assert!(list.contains("Élégant offer"), "{list}");
    for pos in 0..app.rows().len() {
        app.selected = pos;
        app.update(Action::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
        let (screen, safe) = render(&app);
        assert!(safe, "row {pos}:\n{screen}");
        app.update(Action::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)));
    }
    // The escape-sequence message in full detail, as the operator sees it.
    let evil = app
        .rows()
        .iter()
        .position(|&i| app.data.moves[i].subject.thread_id.as_deref() == Some(ids[3].as_str()))
        .unwrap();
    app.selected = evil;
    app.update(Action::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
    let (screen, _) = render(&app);
    assert!(screen.contains("Pay now") && screen.contains("link"), "{screen}");
    insta::assert_snapshot!("hostile_message_detail", screen);
}
