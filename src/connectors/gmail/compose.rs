//! Building the RFC 2822 bytes of a message CaseyOS writes (a reply or a new message), for
//! `drafts.create` / `drafts.update`.
//!
//! [`compose`] is pure: the same [`Outgoing`] always gives the same bytes. Lines end in CRLF;
//! the body is `text/plain; charset=UTF-8` in quoted-printable with soft breaks at 76
//! columns; non-ASCII subjects and display names become RFC 2047 encoded words (UTF-8, `B`);
//! long headers are folded at spaces. Every header value is checked before it is written: a
//! CR or LF (or any other control character) in a subject or a name, an address that is not a
//! plain `local@domain`, or a Message-ID that is not `<id>` is an error, so no input can add a
//! header of its own (header injection).
//!
//! A reply (an `in_reply_to`) gets `Re: ` before its subject unless it already starts with a
//! reply prefix (`Re:`, `RE:`, `Aw:`, `Sv:`, `Antw:`), and `References` = the parent's
//! references followed by the parent's Message-ID: with the thread id, that is what keeps
//! Gmail (and the recipient's mailer) threading it.

use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};

/// A mailbox: an optional display name and an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// Display name (`Jane Doe`); `None` or empty for a bare address.
    pub name: Option<String>,
    /// The address (`jane@acme.example`): ASCII `local@domain`.
    pub email: String,
}

impl Address {
    /// A bare address.
    pub fn new(email: &str) -> Address {
        Address {
            name: None,
            email: email.to_string(),
        }
    }

    /// An address with a display name.
    pub fn named(name: &str, email: &str) -> Address {
        Address {
            name: Some(name.to_string()),
            email: email.to_string(),
        }
    }
}

/// A message to write: a reply when `in_reply_to` is set, else a new message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The sender (the operator).
    pub from: Address,
    /// Recipients (at least one).
    pub to: Vec<Address>,
    /// Copied recipients.
    pub cc: Vec<Address>,
    /// Subject as the operator sees it (without `Re: `; it is added for replies).
    pub subject: String,
    /// Plain-text body; any line ending becomes CRLF.
    pub body_text: String,
    /// This message's `Message-ID` (`<...>`), e.g. from [`new_message_id`]; kept so a crash
    /// can be reconciled by searching for it.
    pub message_id: String,
    /// The parent's `Message-ID` for a reply.
    pub in_reply_to: Option<String>,
    /// The parent's `References` ids (see [`parse_references`]); the parent's own id is
    /// appended when missing.
    pub references: Vec<String>,
    /// The `Date` header.
    pub date: DateTime<Utc>,
}

/// Why a message could not be composed; nothing is written for invalid input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComposeError {
    /// An address that is not a plain ASCII `local@domain`.
    #[error("{field} has an invalid address {address:?}; CaseyOS only writes plain name@domain addresses")]
    InvalidAddress {
        /// Which header (`From`, `To`, `Cc`).
        field: &'static str,
        /// The address as given.
        address: String,
    },
    /// A header text with a line break or another control character, or too long.
    #[error("{field} cannot be written as a mail header: {reason}")]
    InvalidHeader {
        /// Which header or part of it (`Subject`, `To display name`...).
        field: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// A Message-ID that is not `<id>` (printable ASCII, no spaces or brackets inside).
    #[error("{field} has an invalid message id {id:?}")]
    InvalidMessageId {
        /// Which header.
        field: &'static str,
        /// The id as given.
        id: String,
    },
    /// No `To` recipient.
    #[error("a message needs at least one To recipient")]
    NoRecipients,
}

/// Longest display name or subject accepted, in characters.
const MAX_TEXT: usize = 998;
/// Fold headers before this column.
const FOLD_AT: usize = 78;
/// Most bytes of UTF-8 in one encoded word (52 base64 characters, 64 with the wrapping).
const WORD_BYTES: usize = 39;

/// The RFC 2822 bytes of `m`, ready to be base64url-encoded into a draft's `raw`.
pub fn compose(m: &Outgoing) -> Result<Vec<u8>, ComposeError> {
    if m.to.is_empty() {
        return Err(ComposeError::NoRecipients);
    }
    let mut out = String::new();
    header(
        &mut out,
        "From",
        &mailboxes("From", std::slice::from_ref(&m.from))?,
    );
    header(&mut out, "To", &mailboxes("To", &m.to)?);
    if !m.cc.is_empty() {
        header(&mut out, "Cc", &mailboxes("Cc", &m.cc)?);
    }
    let subject = match &m.in_reply_to {
        Some(_) => reply_subject(&m.subject),
        None => m.subject.clone(),
    };
    header(&mut out, "Subject", &text_tokens("Subject", &subject)?);
    header(&mut out, "Date", &[m.date.to_rfc2822()]);
    header(
        &mut out,
        "Message-ID",
        &[message_id("Message-ID", &m.message_id)?],
    );
    if let Some(parent) = &m.in_reply_to {
        let parent = message_id("In-Reply-To", parent)?;
        let mut refs = m
            .references
            .iter()
            .map(|r| message_id("References", r))
            .collect::<Result<Vec<_>, _>>()?;
        if !refs.contains(&parent) {
            refs.push(parent.clone());
        }
        header(&mut out, "In-Reply-To", &[parent]);
        header(&mut out, "References", &refs);
    } else if !m.references.is_empty() {
        let refs = m
            .references
            .iter()
            .map(|r| message_id("References", r))
            .collect::<Result<Vec<_>, _>>()?;
        header(&mut out, "References", &refs);
    }
    header(&mut out, "MIME-Version", &["1.0".to_string()]);
    header(
        &mut out,
        "Content-Type",
        &["text/plain; charset=UTF-8".to_string()],
    );
    header(
        &mut out,
        "Content-Transfer-Encoding",
        &["quoted-printable".to_string()],
    );
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&quoted_printable(&crlf(&m.body_text)));
    Ok(bytes)
}

/// `Re: subject` unless `subject` already starts with a reply prefix (`Re:`, `RE:`, `Aw:`,
/// `Sv:`, `Antw:`, any case).
pub fn reply_subject(subject: &str) -> String {
    let trimmed = subject.trim_start();
    let prefixed = trimmed.split_once(':').is_some_and(|(p, _)| {
        ["re", "aw", "sv", "antw"]
            .iter()
            .any(|x| p.trim_end().eq_ignore_ascii_case(x))
    });
    if prefixed {
        subject.to_string()
    } else {
        format!("Re: {subject}")
    }
}

/// The `<...>` ids of a `References` (or `In-Reply-To`) header value, in order, each with its
/// angle brackets; text outside brackets and ids with spaces inside are skipped.
pub fn parse_references(header: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = header;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('>') else { break };
        let id = &after[..close];
        if valid_id_text(id) {
            out.push(format!("<{id}>"));
        }
        rest = &after[close + 1..];
    }
    out
}

/// A fresh Message-ID: `<caseyos.{22 random url-safe characters}@{domain}>`. `domain` is the
/// sender's domain; characters that cannot appear in a domain are dropped (an empty result
/// becomes `caseyos.invalid`).
pub fn new_message_id(domain: &str) -> String {
    let mut domain: String = domain
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
        .collect();
    if domain.trim_matches('.').is_empty() {
        domain = "caseyos.invalid".into();
    }
    format!("<caseyos.{}@{domain}>", URL_SAFE_NO_PAD.encode(random_bytes()))
}

/// 16 random bytes from the OS; should that ever fail, a hash of the clock, the process id
/// and a counter (still unique per process and run).
fn random_bytes() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_ok() {
        return bytes;
    }
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    h.update(nanos.to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    h.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    let digest = h.finalize();
    for (b, d) in bytes.iter_mut().zip(digest.iter()) {
        *b = *d;
    }
    bytes
}

// ---------------------------------------------------------------------------------------------
// Headers
// ---------------------------------------------------------------------------------------------

/// Writes `Name: t1 t2 ...` folding between tokens (a fold is CRLF + space, which unfolds to
/// the space it replaced), so tokens must not contain CR or LF (the callers guarantee it).
fn header(out: &mut String, name: &str, tokens: &[String]) {
    out.push_str(name);
    out.push(':');
    let mut col = name.len() + 1;
    for (i, token) in tokens.iter().enumerate() {
        if i > 0 && !token.is_empty() && col + 1 + token.len() > FOLD_AT {
            out.push_str("\r\n");
            col = 0;
        }
        out.push(' ');
        out.push_str(token);
        col += 1 + token.len();
    }
    out.push_str("\r\n");
}

/// Rejects control characters (CR, LF, NUL, ESC...) and overlong text.
fn check_text(field: &'static str, s: &str) -> Result<(), ComposeError> {
    if s.chars().any(char::is_control) {
        return Err(ComposeError::InvalidHeader {
            field,
            reason: "it contains a line break or another control character",
        });
    }
    if s.chars().count() > MAX_TEXT {
        return Err(ComposeError::InvalidHeader {
            field,
            reason: "it is longer than 998 characters",
        });
    }
    Ok(())
}

/// Free text (a subject) as header tokens: ASCII words as they are; encoded words when the
/// text is not ASCII, has a word too long to fold, or contains `=?` (which a reader would take
/// for an encoded word).
fn text_tokens(field: &'static str, s: &str) -> Result<Vec<String>, ComposeError> {
    check_text(field, s)?;
    let plain = s.is_ascii() && !s.contains("=?") && s.split(' ').all(|w| w.len() <= FOLD_AT - 12);
    if plain {
        Ok(s.split(' ').map(str::to_string).collect())
    } else {
        Ok(encoded_words(s))
    }
}

/// RFC 2047 `=?UTF-8?B?...?=` words of at most [`WORD_BYTES`] bytes each, never splitting a
/// character. Readers drop the whitespace between adjacent encoded words.
fn encoded_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in s.chars() {
        if chunk.len() + c.len_utf8() > WORD_BYTES {
            words.push(format!("=?UTF-8?B?{}?=", STANDARD.encode(&chunk)));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() || words.is_empty() {
        words.push(format!("=?UTF-8?B?{}?=", STANDARD.encode(&chunk)));
    }
    words
}

/// Characters allowed unquoted in a display name (RFC 5322 `atext`).
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c)
}

/// An address list as header tokens: `Name <a@b>,` ... (the comma stays with its mailbox).
fn mailboxes(field: &'static str, list: &[Address]) -> Result<Vec<String>, ComposeError> {
    let mut tokens = Vec::new();
    for (i, a) in list.iter().enumerate() {
        let email = address(field, &a.email)?;
        let name = a.name.as_deref().map(str::trim).unwrap_or("");
        check_text(field, name)?;
        let mut mailbox: Vec<String> = if name.is_empty() {
            Vec::new()
        } else if !name.is_ascii() || name.contains("=?") {
            encoded_words(name)
        } else if name.split(' ').all(|w| !w.is_empty() && w.chars().all(is_atext)) {
            name.split(' ').map(str::to_string).collect()
        } else {
            let escaped = name.replace('\\', "\\\\").replace('"', "\\\"");
            vec![format!("\"{escaped}\"")]
        };
        let last = if i + 1 < list.len() { "," } else { "" };
        mailbox.push(if name.is_empty() {
            format!("{email}{last}")
        } else {
            format!("<{email}>{last}")
        });
        tokens.extend(mailbox);
    }
    Ok(tokens)
}

/// Checks a plain `local@domain` address: printable ASCII, one `@`, a dot-atom local part, a
/// domain of letters, digits, hyphens and dots.
fn address(field: &'static str, email: &str) -> Result<String, ComposeError> {
    let bad = || ComposeError::InvalidAddress {
        field,
        address: email.to_string(),
    };
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local.chars().all(|c| is_atext(c) || c == '.');
    let domain_ok = !domain.is_empty()
        && domain.len() <= 253
        && domain
            .split('.')
            .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'))
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'));
    if local_ok && domain_ok {
        Ok(email.to_string())
    } else {
        Err(bad())
    }
}

/// The text between a Message-ID's brackets: printable ASCII without spaces or brackets.
fn valid_id_text(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 900
        && id
            .bytes()
            .all(|b| (33..=126).contains(&b) && b != b'<' && b != b'>')
}

/// A Message-ID with its angle brackets, given with or without them.
fn message_id(field: &'static str, id: &str) -> Result<String, ComposeError> {
    let inner = id
        .strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(id);
    if valid_id_text(inner) {
        Ok(format!("<{inner}>"))
    } else {
        Err(ComposeError::InvalidMessageId {
            field,
            id: id.to_string(),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Body
// ---------------------------------------------------------------------------------------------

/// The text with every line ending (`\r\n`, `\n`, a lone `\r`) as CRLF.
fn crlf(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 32);
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                if b.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

/// Quoted-printable (RFC 2045 §6.7) of bytes whose line breaks are CRLF: printable ASCII
/// except `=` as is, spaces and tabs as is unless they end a line, everything else `=XX`;
/// encoded lines are at most 76 characters, ending in a soft break `=` where a line was cut.
/// A line that would start with `.` or `From ` has that character encoded (mail relays mangle
/// both).
pub fn quoted_printable(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 8);
    let mut lines = bytes.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let more = lines.peek().is_some();
        let line = if more {
            line.strip_suffix(b"\r").unwrap_or(line)
        } else {
            line
        };
        qp_line(line, &mut out);
        if more {
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

fn qp_line(line: &[u8], out: &mut Vec<u8>) {
    let mut col = 0;
    for (i, &b) in line.iter().enumerate() {
        let last = i + 1 == line.len();
        let at_start = col == 0;
        let risky_start = at_start && (b == b'.' || (b == b'F' && line.get(i..i + 5) == Some(b"From ")));
        let literal =
            !risky_start && (((b == b' ' || b == b'\t') && !last) || ((33..=126).contains(&b) && b != b'='));
        let width = if literal { 1 } else { 3 };
        // Room for the piece, plus the soft break `=` unless this is the line's last piece.
        let limit = if last { 76 } else { 75 };
        if col + width > limit {
            out.extend_from_slice(b"=\r\n");
            col = 0;
            if b == b'.' || (b == b'F' && line.get(i..i + 5) == Some(b"From ")) {
                out.extend_from_slice(format!("={b:02X}").as_bytes());
                col = 3;
                continue;
            }
        }
        if literal {
            out.push(b);
        } else {
            out.extend_from_slice(format!("={b:02X}").as_bytes());
        }
        col += width;
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::connectors::gmail::body::{decode_base64url, parse_address_list};
    use crate::connectors::gmail::mime::{decode_quoted_printable, decode_rfc2047, parse_raw};
    use crate::connectors::gmail::wire::MessagePart;

    fn date() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 9, 30, 0).single().unwrap()
    }

    fn reply() -> Outgoing {
        Outgoing {
            from: Address::named("Morgan Seller", "me@seller.example"),
            to: vec![Address::named("José García", "jose.garcia@acme.example")],
            cc: vec![
                Address::named("Doe, Jane", "jane@acme.example"),
                Address::new("ops@acme.example"),
            ],
            subject: "Café meeting next week ☕".into(),
            body_text: "Hi José,\n\nThanks — see you Tuesday.\n\nMorgan".into(),
            message_id: "<caseyos.abc@seller.example>".into(),
            in_reply_to: Some("<p2@mail.example>".into()),
            references: vec!["<p0@mail.example>".into(), "<p1@mail.example>".into()],
            date: date(),
        }
    }

    fn body(p: &MessagePart) -> String {
        let d = p.body.as_ref().and_then(|b| b.data.as_deref()).unwrap_or("");
        String::from_utf8(decode_base64url(d).unwrap()).unwrap()
    }

    fn header(p: &MessagePart, name: &str) -> String {
        decode_rfc2047(p.header(name).unwrap_or_else(|| panic!("header {name}")))
    }

    #[test]
    fn reply_round_trips_through_the_parser() {
        let m = reply();
        let raw = compose(&m).unwrap();
        let text = String::from_utf8(raw.clone()).unwrap();
        // Every line ends in CRLF and fits in 78 columns; no bare LF or CR anywhere.
        for line in text.split("\r\n") {
            assert!(!line.contains('\n') && !line.contains('\r'), "{line:?}");
            assert!(line.len() <= 78, "{line:?}");
        }
        assert!(text.is_ascii());
        let p = parse_raw(&raw);
        assert_eq!(p.mime_type, "text/plain");
        assert_eq!(header(&p, "Subject"), "Re: Café meeting next week ☕");
        assert_eq!(header(&p, "Message-ID"), "<caseyos.abc@seller.example>");
        assert_eq!(header(&p, "In-Reply-To"), "<p2@mail.example>");
        assert_eq!(
            header(&p, "References"),
            "<p0@mail.example> <p1@mail.example> <p2@mail.example>"
        );
        assert_eq!(header(&p, "MIME-Version"), "1.0");
        assert_eq!(header(&p, "Content-Transfer-Encoding"), "quoted-printable");
        assert_eq!(header(&p, "Date"), "Sat, 21 Nov 2026 09:30:00 +0000");
        let from = parse_address_list(&header(&p, "From"));
        assert_eq!(from.len(), 1);
        assert_eq!(from[0].name.as_deref(), Some("Morgan Seller"));
        assert_eq!(from[0].email, "me@seller.example");
        let to = parse_address_list(&header(&p, "To"));
        assert_eq!(to[0].name.as_deref(), Some("José García"));
        assert_eq!(to[0].email, "jose.garcia@acme.example");
        let cc = parse_address_list(&header(&p, "Cc"));
        assert_eq!(cc.len(), 2);
        assert_eq!(cc[0].name.as_deref(), Some("Doe, Jane"));
        assert_eq!(cc[0].email, "jane@acme.example");
        assert_eq!(cc[1].name, None);
        assert_eq!(cc[1].email, "ops@acme.example");
        assert_eq!(
            body(&p),
            "Hi José,\r\n\r\nThanks — see you Tuesday.\r\n\r\nMorgan"
        );
    }

    #[test]
    fn long_lines_and_long_subjects_round_trip() {
        let long_line = "word ".repeat(60) + "ünïcödé " + &"x".repeat(300) + " tail   ";
        let text = format!("{long_line}\n.starts with a dot\nFrom the start\n=equals= and\ttab\t\n\nend");
        let subject = "A rather long subject line that will need folding because it keeps going \
                       and going past seventy-eight columns, with a €uro sign near the end €"
            .to_string();
        let m = Outgoing {
            subject: subject.clone(),
            body_text: text.clone(),
            in_reply_to: None,
            references: vec![],
            ..reply()
        };
        let raw = compose(&m).unwrap();
        let s = String::from_utf8(raw.clone()).unwrap();
        let (head, encoded_body) = s.split_once("\r\n\r\n").unwrap();
        for line in head.split("\r\n") {
            assert!(line.len() <= 78, "{line:?}");
        }
        for line in encoded_body.split("\r\n") {
            assert!(line.len() <= 76, "{} {line:?}", line.len());
            assert!(!line.starts_with('.') && !line.starts_with("From "), "{line:?}");
            assert!(!line.ends_with(' ') && !line.ends_with('\t'), "{line:?}");
        }
        let p = parse_raw(&raw);
        assert_eq!(header(&p, "Subject"), subject);
        assert!(p.header("In-Reply-To").is_none() && p.header("References").is_none());
        assert_eq!(body(&p), text.replace('\n', "\r\n"));
    }

    #[test]
    fn quoted_printable_decodes_to_the_input() {
        for input in [
            &b""[..],
            b"=",
            b"trailing space \r\n",
            b"\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac",
            b"a\r\n\r\n.\r\nFrom x\r\n",
        ] {
            let enc = quoted_printable(input);
            assert_eq!(decode_quoted_printable(&enc), input, "{enc:?}");
            for line in enc.split(|&b| b == b'\n') {
                assert!(line.len() <= 77, "{line:?}");
            }
        }
        let long = "a".repeat(200);
        let enc = String::from_utf8(quoted_printable(long.as_bytes())).unwrap();
        assert_eq!(enc.lines().next().unwrap().len(), 76);
        assert!(enc.lines().next().unwrap().ends_with('='));
    }

    #[test]
    fn header_injection_is_impossible() {
        let evil = [
            "Hello\r\nBcc: victim@x.example",
            "Hi\nX: y",
            "Hi\rX: y",
            "a\u{0}b",
        ];
        for s in evil {
            let m = Outgoing {
                subject: s.into(),
                ..reply()
            };
            assert!(
                matches!(
                    compose(&m),
                    Err(ComposeError::InvalidHeader { field: "Subject", .. })
                ),
                "{s:?}"
            );
            let m = Outgoing {
                to: vec![Address::named(s, "a@b.example")],
                ..reply()
            };
            assert!(
                matches!(compose(&m), Err(ComposeError::InvalidHeader { .. })),
                "{s:?}"
            );
        }
        for a in [
            "a@b.example\r\nBcc: victim@x.example",
            "a@b.example>, <victim@x.example",
            "<a@b.example>",
            "a b@c.example",
            "no-at-sign",
            "two@@c.example",
            "a@-c.example",
            "jösé@c.example",
            "a@c.example\n",
            "",
        ] {
            let m = Outgoing {
                cc: vec![Address::new(a)],
                ..reply()
            };
            assert_eq!(
                compose(&m),
                Err(ComposeError::InvalidAddress {
                    field: "Cc",
                    address: a.into()
                }),
                "{a:?}"
            );
        }
        for id in ["<a@b>\r\nBcc: x@y", "<a b@c>", "<a<b@c>", "", "<>"] {
            let m = Outgoing {
                message_id: id.into(),
                ..reply()
            };
            assert!(
                matches!(compose(&m), Err(ComposeError::InvalidMessageId { .. })),
                "{id:?}"
            );
            let m = Outgoing {
                in_reply_to: Some(id.into()),
                ..reply()
            };
            assert!(
                matches!(compose(&m), Err(ComposeError::InvalidMessageId { .. })),
                "{id:?}"
            );
            let m = Outgoing {
                references: vec![id.into()],
                ..reply()
            };
            assert!(
                matches!(compose(&m), Err(ComposeError::InvalidMessageId { .. })),
                "{id:?}"
            );
        }
        let m = Outgoing {
            to: vec![],
            ..reply()
        };
        assert_eq!(compose(&m), Err(ComposeError::NoRecipients));
        // Body text cannot add headers: it is after the blank line, and encoded.
        let m = Outgoing {
            body_text: "\r\n\r\nBcc: victim@x.example".into(),
            ..reply()
        };
        let raw = compose(&m).unwrap();
        assert!(parse_raw(&raw).header("Bcc").is_none());
    }

    #[test]
    fn re_prefix_is_added_once() {
        assert_eq!(reply_subject("Pricing"), "Re: Pricing");
        assert_eq!(reply_subject("Re: Pricing"), "Re: Pricing");
        assert_eq!(reply_subject("RE: Pricing"), "RE: Pricing");
        assert_eq!(reply_subject("re:Pricing"), "re:Pricing");
        assert_eq!(reply_subject("Aw: Angebot"), "Aw: Angebot");
        assert_eq!(reply_subject("Regarding: x"), "Re: Regarding: x");
        assert_eq!(reply_subject(""), "Re: ");
        // A new message keeps its subject as given.
        let m = Outgoing {
            subject: "Pricing".into(),
            in_reply_to: None,
            references: vec![],
            ..reply()
        };
        assert_eq!(
            parse_raw(&compose(&m).unwrap()).header("Subject"),
            Some("Pricing")
        );
        let m = Outgoing {
            subject: "RE: Pricing".into(),
            ..reply()
        };
        assert_eq!(
            parse_raw(&compose(&m).unwrap()).header("Subject"),
            Some("RE: Pricing")
        );
    }

    #[test]
    fn references_are_bracketed_deduplicated_and_folded() {
        let refs: Vec<String> = (0..12)
            .map(|i| format!("CAF{i}xxxxxxxxxxxxxxxxxxxx@mail.gmail.com"))
            .collect();
        let m = Outgoing {
            in_reply_to: Some("CAF11xxxxxxxxxxxxxxxxxxxx@mail.gmail.com".into()),
            references: refs.clone(),
            ..reply()
        };
        let raw = compose(&m).unwrap();
        let s = String::from_utf8(raw.clone()).unwrap();
        assert!(s.contains("References: <CAF0"));
        assert!(s.lines().all(|l| l.trim_end().len() <= 78));
        let p = parse_raw(&raw);
        let want: Vec<String> = refs.iter().map(|r| format!("<{r}>")).collect();
        assert_eq!(parse_references(p.header("References").unwrap()), want);
        assert_eq!(
            p.header("In-Reply-To"),
            Some("<CAF11xxxxxxxxxxxxxxxxxxxx@mail.gmail.com>")
        );
        assert_eq!(
            parse_references("<a@x> junk <b c@y>\r\n <c@z>"),
            vec!["<a@x>".to_string(), "<c@z>".to_string()]
        );
    }

    #[test]
    fn message_ids_are_fresh_and_well_formed() {
        let a = new_message_id("seller.example");
        let b = new_message_id("seller.example");
        assert_ne!(a, b);
        let inner = a
            .strip_prefix("<caseyos.")
            .and_then(|s| s.strip_suffix("@seller.example>"))
            .unwrap();
        assert_eq!(inner.len(), 22);
        assert!(
            inner
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert!(new_message_id("x\r\n>evil").ends_with("@xevil>"));
        assert!(new_message_id("").ends_with("@caseyos.invalid>"));
        let m = Outgoing {
            message_id: a.clone(),
            ..reply()
        };
        assert_eq!(
            parse_raw(&compose(&m).unwrap()).header("Message-ID"),
            Some(a.as_str())
        );
    }
}
