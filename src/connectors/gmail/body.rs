//! Decoding Gmail message bodies and address headers.

use base64::Engine;

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

/// The readable text of a message: the first `text/plain` leaf, else the first `text/html`
/// leaf converted to text. Invalid UTF-8 is replaced, never fatal.
pub fn message_text(root: &MessagePart) -> Result<String, BodyError> {
    if let Some(part) = find_leaf(root, "text/plain") {
        return decode_part(part);
    }
    if let Some(part) = find_leaf(root, "text/html") {
        return decode_part(part).map(|h| html_to_text(&h));
    }
    Ok(String::new())
}

fn find_leaf<'a>(p: &'a MessagePart, mime: &str) -> Option<&'a MessagePart> {
    if p.parts.is_empty() {
        let is_attachment = p.filename.as_deref().is_some_and(|f| !f.is_empty());
        return (p.mime_type.eq_ignore_ascii_case(mime) && !is_attachment).then_some(p);
    }
    p.parts.iter().find_map(|c| find_leaf(c, mime))
}

fn decode_part(p: &MessagePart) -> Result<String, BodyError> {
    let Some(data) = p.body.as_ref().and_then(|b| b.data.as_deref()) else {
        return Ok(String::new());
    };
    let bytes = decode_base64url(data).ok_or_else(|| BodyError::Base64 {
        part: p.part_id.clone().unwrap_or_default(),
    })?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
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
