//! Decoding Gmail message bodies and address headers.

use base64::Engine;

use super::mime::{decode_charset, parse_content_type, parse_raw};
use super::wire::MessagePart;
use crate::domain::entities::Mailbox;
use crate::domain::text::html_to_text;

/// Why a body could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BodyError {
    /// The `data` field is not base64url.
    #[error("message part {part} is not valid base64url")]
    Base64 {
        /// Part id.
        part: String,
    },
}

/// Decodes base64url with or without padding (Gmail sends both in the wild).
pub fn decode_base64url(data: &str) -> Option<Vec<u8>> {
    let trimmed: String = data.chars().filter(|c| !c.is_whitespace()).collect();
    let unpadded = trimmed.trim_end_matches('=');
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(unpadded)
        .ok()
        .or_else(|| {
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(unpadded)
                .ok()
        })
}

/// Longest message text CaseyOS keeps (bytes of UTF-8), because a 5 MB newsletter should not
/// bloat the mirror or the pager. Longer texts are cut and end with a truncation line.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Deepest part nesting walked (Gmail trees are shallow; this only guards hostile input).
const MAX_DEPTH: usize = 64;

/// The readable text of a message, decoded charset-aware from its MIME tree.
///
/// `multipart/alternative` gives its best child (plain text, else HTML converted to text, else
/// the last child with text); other multiparts give their inline text children joined by blank
/// lines, skipping attachments; forwarded `message/rfc822` parts are included. A part whose data
/// is not base64url becomes an inline `[CaseyOS could not decode part N]` note; only a root that
/// is itself a single undecodable leaf is an error. Line endings become `\n`; texts over
/// [`MAX_BODY_BYTES`] are cut and end with `[… message truncated by CaseyOS: N KB more in Gmail]`.
/// Escape sequences are kept: sanitizing is the renderer's job.
pub fn message_text(root: &MessagePart) -> Result<String, BodyError> {
    let mut walker = Walker::default();
    if root.parts.is_empty() && kind(root) != Kind::Message {
        walker.leaf(root)?;
    } else {
        walker.part(root, 0);
    }
    Ok(walker.finish())
}

/// How a part is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Plain,
    Html,
    Alternative,
    Multipart,
    Message,
    Other,
}

fn kind(p: &MessagePart) -> Kind {
    let mime = p
        .mime_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "text/plain" | "" => Kind::Plain,
        "text/html" => Kind::Html,
        "message/rfc822" => Kind::Message,
        "multipart/alternative" => Kind::Alternative,
        m if m.starts_with("multipart/") => Kind::Multipart,
        _ => Kind::Other,
    }
}

/// A leaf with a file name or `Content-Disposition: attachment` (forwarded messages never are).
fn is_attachment(p: &MessagePart) -> bool {
    p.parts.is_empty()
        && kind(p) != Kind::Message
        && (p.filename.as_deref().is_some_and(|f| !f.trim().is_empty())
            || p.header("Content-Disposition").is_some_and(|d| {
                d.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case("attachment")
            }))
}

fn data(p: &MessagePart) -> Option<&str> {
    p.body.as_ref().and_then(|b| b.data.as_deref())
}

/// Accumulates the text of a tree, with a size budget.
#[derive(Default)]
struct Walker {
    out: String,
    /// Estimated bytes of text parts not converted because the cap was already reached.
    skipped: u64,
}

impl Walker {
    fn full(&self) -> bool {
        self.out.len() > MAX_BODY_BYTES
    }

    /// Appends the text of any part.
    fn part(&mut self, p: &MessagePart, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        if self.full() {
            self.skipped += estimate(p, depth);
            return;
        }
        match kind(p) {
            Kind::Message => self.message(p, depth),
            Kind::Alternative if !p.parts.is_empty() => self.alternative(p, depth),
            _ if !p.parts.is_empty() => {
                for child in p.parts.iter().filter(|c| !is_attachment(c)) {
                    self.block(|w| w.part(child, depth + 1));
                }
            }
            _ => {
                if self.leaf(p).is_err() {
                    self.note(p);
                }
            }
        }
    }

    /// A forwarded message: its parsed children, or its raw data parsed here.
    fn message(&mut self, p: &MessagePart, depth: usize) {
        if !p.parts.is_empty() {
            for child in &p.parts {
                self.block(|w| w.part(child, depth + 1));
            }
            return;
        }
        let Some(data) = data(p) else { return };
        match decode_base64url(data) {
            Some(bytes) => {
                let inner = parse_raw(&bytes);
                self.block(|w| w.part(&inner, depth + 1));
            }
            None => {
                self.block(|w| w.note(p));
            }
        }
    }

    /// The first alternative that yields text, in order of preference.
    fn alternative(&mut self, p: &MessagePart, depth: usize) {
        let inline: Vec<&MessagePart> = p.parts.iter().filter(|c| !is_attachment(c)).collect();
        let is_leaf_of = |c: &MessagePart, k: Kind| c.parts.is_empty() && kind(c) == k;
        let candidates = inline
            .iter()
            .filter(|c| is_leaf_of(c, Kind::Plain))
            .chain(inline.iter().filter(|c| is_leaf_of(c, Kind::Html)))
            .chain(
                inline
                    .iter()
                    .rev()
                    .filter(|c| !is_leaf_of(c, Kind::Plain) && !is_leaf_of(c, Kind::Html)),
            );
        let mut failed = None;
        for child in candidates {
            let wrote = self.block(|w| {
                if child.parts.is_empty() && kind(child) != Kind::Message {
                    if w.leaf(child).is_err() {
                        failed.get_or_insert(*child);
                    }
                } else {
                    w.part(child, depth + 1);
                }
            });
            if wrote {
                return;
            }
        }
        if let Some(child) = failed {
            self.block(|w| w.note(child));
        }
    }

    /// Runs `f` as a paragraph: a blank line before it if text precedes, nothing if it wrote
    /// nothing. Returns whether it wrote.
    fn block(&mut self, f: impl FnOnce(&mut Self)) -> bool {
        let mark = self.out.len();
        // Texts never end in a line break, so one at the end is an enclosing block's separator.
        if !self.out.is_empty() && !self.out.ends_with('\n') {
            self.out.push_str("\n\n");
        }
        let start = self.out.len();
        f(self);
        if self.out.len() == start {
            self.out.truncate(mark);
            return false;
        }
        true
    }

    /// Appends a text leaf's text; non-text leaves add nothing. Errors on bad base64.
    fn leaf(&mut self, p: &MessagePart) -> Result<(), BodyError> {
        let html = match kind(p) {
            Kind::Plain => false,
            Kind::Html => true,
            _ => return Ok(()),
        };
        if self.full() {
            self.skipped += p.body.as_ref().map_or(0, |b| b.size);
            return Ok(());
        }
        let Some(data) = data(p) else { return Ok(()) };
        let bytes = decode_base64url(data).ok_or_else(|| BodyError::Base64 {
            part: p.part_id.clone().unwrap_or_default(),
        })?;
        let content_type = parse_content_type(p.header("Content-Type").unwrap_or(""));
        let text = decode_charset(&bytes, content_type.charset());
        drop(bytes);
        if html {
            self.push_text(&html_to_text(&text));
        } else {
            self.push_text(&text);
        }
        Ok(())
    }

    fn note(&mut self, p: &MessagePart) {
        let id = p.part_id.as_deref().filter(|id| !id.is_empty()).unwrap_or("?");
        self.push_text(&format!("[CaseyOS could not decode part {id}]"));
    }

    /// Appends text with line endings normalised to `\n`, without leading blank lines or
    /// trailing whitespace.
    fn push_text(&mut self, text: &str) {
        let text = text.trim_end().trim_start_matches(['\r', '\n']);
        let mut pieces = text.split('\r');
        self.out.push_str(pieces.next().unwrap_or(""));
        for piece in pieces {
            self.out.push('\n');
            self.out.push_str(piece.strip_prefix('\n').unwrap_or(piece));
        }
    }

    /// The final text, cut to [`MAX_BODY_BYTES`] with a truncation line when needed.
    fn finish(self) -> String {
        let mut out = self.out;
        out.truncate(out.trim_end().len());
        if out.len() <= MAX_BODY_BYTES && self.skipped == 0 {
            return out;
        }
        let mut cut = MAX_BODY_BYTES.min(out.len());
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        let more = (out.len() - cut) as u64 + self.skipped;
        out.truncate(cut);
        out.truncate(out.trim_end().len());
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&format!(
            "[… message truncated by CaseyOS: {} KB more in Gmail]",
            more.div_ceil(1024)
        ));
        out
    }
}

/// Rough size of the text a part would yield, for the truncation line once the cap is hit.
fn estimate(p: &MessagePart, depth: usize) -> u64 {
    if depth > MAX_DEPTH || is_attachment(p) {
        return 0;
    }
    let size = p.body.as_ref().map_or(0, |b| b.size);
    match kind(p) {
        Kind::Plain | Kind::Html if p.parts.is_empty() => size,
        Kind::Alternative => {
            let pick = |k: Kind| p.parts.iter().find(|c| c.parts.is_empty() && kind(c) == k);
            pick(Kind::Plain)
                .or_else(|| pick(Kind::Html))
                .or(p.parts.last())
                .map_or(0, |c| estimate(c, depth + 1))
        }
        Kind::Message if p.parts.is_empty() => size,
        _ => p.parts.iter().map(|c| estimate(c, depth + 1)).sum(),
    }
}

/// Parses an address header (`"Doe, Jane" <jane@x.example>, bob@y.example`) into mailboxes.
/// Commas inside quotes or angle brackets do not split; addresses are lower-cased.
pub fn parse_address_list(header: &str) -> Vec<Mailbox> {
    let mut out = Vec::new();
    let mut current = String::new();
    let (mut in_quotes, mut in_angle) = (false, false);
    for c in header.chars() {
        match c {
            '"' => in_quotes = !in_quotes,
            '<' if !in_quotes => in_angle = true,
            '>' if !in_quotes => in_angle = false,
            ',' if !in_quotes && !in_angle => {
                out.extend(parse_mailbox(&current));
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    out.extend(parse_mailbox(&current));
    out
}

/// Parses one mailbox (`Name <addr>` or a bare address).
pub fn parse_mailbox(s: &str) -> Option<Mailbox> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let (Some(open), Some(close)) = (s.rfind('<'), s.rfind('>'))
        && open < close
    {
        let email = s[open + 1..close].trim().to_ascii_lowercase();
        let name = s[..open].trim().trim_matches('"').trim().to_string();
        return (!email.is_empty()).then(|| Mailbox {
            name: (!name.is_empty()).then_some(name),
            email,
        });
    }
    s.contains('@').then(|| Mailbox {
        name: None,
        email: s.trim_matches(['<', '>', '"']).to_ascii_lowercase(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::gmail::wire::PartBody;

    fn leaf(mime: &str, text: &str) -> MessagePart {
        MessagePart {
            part_id: Some("0".into()),
            mime_type: mime.into(),
            filename: None,
            headers: vec![],
            body: Some(PartBody {
                attachment_id: None,
                size: text.len() as u64,
                data: Some(base64::engine::general_purpose::URL_SAFE.encode(text)),
            }),
            parts: vec![],
        }
    }

    #[test]
    fn prefers_plain_text_and_falls_back_to_html() {
        let alt = MessagePart {
            part_id: Some(String::new()),
            mime_type: "multipart/alternative".into(),
            filename: None,
            headers: vec![],
            body: None,
            parts: vec![
                leaf("text/html", "<p>Hi <b>there</b></p>"),
                leaf("text/plain", "Hi there"),
            ],
        };
        assert_eq!(message_text(&alt).unwrap(), "Hi there");
        let html_only = MessagePart {
            parts: vec![leaf("text/html", "<p>Hi &amp; bye</p>")],
            ..alt
        };
        assert_eq!(message_text(&html_only).unwrap(), "Hi & bye");
    }

    #[test]
    fn bad_base64_is_an_error_not_a_panic() {
        let mut p = leaf("text/plain", "x");
        p.body = Some(PartBody {
            attachment_id: None,
            size: 1,
            data: Some("!!!not base64!!!".into()),
        });
        assert!(matches!(message_text(&p), Err(BodyError::Base64 { .. })));
        assert_eq!(decode_base64url("aGk").unwrap(), b"hi");
        assert_eq!(decode_base64url("aGk=").unwrap(), b"hi");
    }

    fn bytes_leaf(id: &str, mime: &str, content_type: &str, bytes: &[u8]) -> MessagePart {
        MessagePart {
            part_id: Some(id.into()),
            headers: vec![crate::connectors::gmail::wire::Header {
                name: "Content-Type".into(),
                value: content_type.into(),
            }],
            body: Some(PartBody {
                attachment_id: None,
                size: bytes.len() as u64,
                data: Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)),
            }),
            ..leaf(mime, "")
        }
    }

    fn multipart(mime: &str, parts: Vec<MessagePart>) -> MessagePart {
        MessagePart {
            part_id: Some(String::new()),
            mime_type: mime.into(),
            filename: Some(String::new()),
            headers: vec![],
            body: None,
            parts,
        }
    }

    #[test]
    fn charset_comes_from_each_part() {
        let latin = bytes_leaf(
            "0",
            "text/plain",
            "text/plain; charset=\"ISO-8859-1\"",
            b"caf\xe9",
        );
        assert_eq!(message_text(&latin).unwrap(), "café");
        let bogus = bytes_leaf(
            "0",
            "text/plain",
            "text/plain; charset=x-unknown-garbage",
            b"na\xefve",
        );
        assert_eq!(message_text(&bogus).unwrap(), "naïve");
        let sjis = bytes_leaf(
            "1",
            "text/html",
            "text/html; charset=Shift_JIS",
            b"<p>\x93\xfa\x96\x7b</p>",
        );
        assert_eq!(
            message_text(&multipart("multipart/mixed", vec![latin, sjis])).unwrap(),
            "café\n\n日本"
        );
    }

    #[test]
    fn attachments_are_skipped_and_inline_parts_joined() {
        let mut pdf = leaf("application/pdf", "%PDF-1.4");
        pdf.filename = Some("deck.pdf".into());
        let mut csv = leaf("text/csv", "a,b");
        csv.filename = Some(String::new());
        let mut named_text = leaf("text/plain", "attached notes");
        named_text.filename = Some("notes.txt".into());
        let mut disposed = leaf("text/plain", "disposed");
        disposed.headers.push(crate::connectors::gmail::wire::Header {
            name: "content-disposition".into(),
            value: "ATTACHMENT; filename=\"x\"".into(),
        });
        let root = multipart(
            "multipart/mixed",
            vec![
                leaf("text/plain", "Hello\r\nworld\r\n\r\n"),
                pdf,
                csv,
                named_text,
                disposed,
                leaf("text/plain", "\r\n  -- sig  \r\n"),
            ],
        );
        assert_eq!(message_text(&root).unwrap(), "Hello\nworld\n\n  -- sig");
    }

    #[test]
    fn alternative_prefers_plain_then_html_then_last() {
        let related = multipart(
            "multipart/related",
            vec![leaf("text/html", "<div>rich</div>"), leaf("image/png", "png")],
        );
        let alt = multipart(
            "multipart/alternative",
            vec![leaf("text/plain", "  \r\n"), related.clone()],
        );
        assert_eq!(message_text(&alt).unwrap(), "rich");
        let alt = multipart(
            "multipart/alternative",
            vec![related, leaf("text/plain", "plain")],
        );
        assert_eq!(message_text(&alt).unwrap(), "plain");
        let alt = multipart(
            "multipart/alternative",
            vec![leaf("text/enriched", "x"), leaf("text/html", "<b>bold</b>")],
        );
        assert_eq!(message_text(&alt).unwrap(), "bold");
        let outer = multipart("multipart/mixed", vec![alt, leaf("text/plain", "footer")]);
        assert_eq!(message_text(&outer).unwrap(), "bold\n\nfooter");
    }

    #[test]
    fn bad_base64_in_one_part_keeps_the_rest() {
        let mut bad = leaf("text/plain", "");
        bad.part_id = Some("0.1".into());
        bad.body = Some(PartBody {
            attachment_id: None,
            size: 3,
            data: Some("!!!".into()),
        });
        let root = multipart("multipart/mixed", vec![bad.clone(), leaf("text/plain", "kept")]);
        assert_eq!(
            message_text(&root).unwrap(),
            "[CaseyOS could not decode part 0.1]\n\nkept"
        );
        let alt = multipart(
            "multipart/alternative",
            vec![bad.clone(), leaf("text/html", "<p>html</p>")],
        );
        assert_eq!(message_text(&alt).unwrap(), "html");
        let alt = multipart("multipart/alternative", vec![bad]);
        assert_eq!(message_text(&alt).unwrap(), "[CaseyOS could not decode part 0.1]");
    }

    #[test]
    fn forwarded_message_leaf_is_parsed() {
        let raw = "From: a@x.example\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\
                   Content-Transfer-Encoding: quoted-printable\r\n\r\nr=E9sum=E9\r\n";
        let mut fwd = leaf("message/rfc822", raw);
        fwd.filename = Some("fwd.eml".into());
        let root = multipart("multipart/mixed", vec![leaf("text/plain", "FYI"), fwd.clone()]);
        assert_eq!(message_text(&root).unwrap(), "FYI\n\nrésumé");
        assert_eq!(message_text(&fwd).unwrap(), "résumé");
    }

    #[test]
    fn escape_sequences_are_kept_for_the_renderer() {
        let text = "a\u{1b}[31mred\u{1b}[0m \u{1b}]0;title\u{7} \u{202e}x";
        assert_eq!(message_text(&leaf("text/plain", text)).unwrap(), text);
    }

    #[test]
    fn long_text_is_truncated_with_a_marker() {
        let body = "é".repeat(MAX_BODY_BYTES); // 2 bytes each: twice the cap
        let out = message_text(&leaf("text/plain", &body)).unwrap();
        let (kept, marker) = out.rsplit_once('\n').unwrap();
        assert_eq!(kept.len(), MAX_BODY_BYTES);
        assert_eq!(marker, "[… message truncated by CaseyOS: 256 KB more in Gmail]");
        // Parts after the cap are not converted but are counted.
        let root = multipart(
            "multipart/mixed",
            vec![
                leaf("text/plain", &"x".repeat(MAX_BODY_BYTES + 10)),
                leaf("text/html", &"y".repeat(4096)),
            ],
        );
        let out = message_text(&root).unwrap();
        assert!(out.ends_with("\n[… message truncated by CaseyOS: 5 KB more in Gmail]"));
        assert!(!out.contains("yy"));
        let exact = "z".repeat(MAX_BODY_BYTES);
        assert_eq!(message_text(&leaf("text/plain", &exact)).unwrap(), exact);
    }

    #[test]
    fn address_lists_respect_quotes() {
        let v = parse_address_list(r#""Doe, Jane" <Jane@X.example>, bob@y.example, , Ann <ann@z.example>"#);
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].name.as_deref(), Some("Doe, Jane"));
        assert_eq!(v[0].email, "jane@x.example");
        assert_eq!(v[1].email, "bob@y.example");
        assert_eq!(v[2].label(), "Ann");
        assert!(parse_mailbox("undisclosed-recipients:;").is_none());
    }
}
