//! Parsing a whole RFC 5322 / MIME message (Gmail's `format=raw`, base64url-decoded) into the
//! same [`MessagePart`] tree Gmail's `format=full` returns, so one body decoder serves both.

use std::ops::Range;

use base64::Engine;

use super::{base64_lenient, decode_quoted_printable, decode_rfc2047, parse_content_type, parse_params};
use crate::connectors::gmail::wire::{Header, MessagePart, PartBody};

/// Deepest nesting parsed; anything deeper becomes a `text/plain` leaf.
const MAX_DEPTH: usize = 32;
/// Most parts parsed; the remaining content of a multipart becomes one `text/plain` leaf.
const MAX_PARTS: usize = 1000;

/// Parses a raw RFC 2822 / MIME message into a Gmail-shaped part tree, because drafts,
/// `format=raw` fetches and forwarded `message/rfc822` attachments arrive as raw bytes.
///
/// Headers are unfolded but not RFC 2047-decoded (non-UTF-8 bytes are replaced); leaf
/// `body.data` is base64url of the bytes after transfer decoding, `body.size` their length;
/// part ids are `""` for the root, then `"0"`, `"1"`, `"0.1"`... A `message/rfc822` part gets
/// the enclosed message as its one child. Never fails: a multipart without a usable boundary,
/// or nested deeper than 32 levels, or past 1,000 parts, becomes a `text/plain` leaf.
pub fn parse_raw(raw: &[u8]) -> MessagePart {
    let mut count = 0;
    parse_entity(raw, String::new(), 0, "text/plain", &mut count)
}

fn parse_entity(raw: &[u8], part_id: String, depth: usize, default: &str, count: &mut usize) -> MessagePart {
    *count += 1;
    let (headers, body) = split_headers(raw);
    let content_type = find(&headers, "Content-Type").map(parse_content_type);
    let mime = content_type
        .as_ref()
        .map_or(default, |ct| ct.mime.as_str())
        .to_string();
    let encoding = find(&headers, "Content-Transfer-Encoding").map(|v| v.trim().to_ascii_lowercase());
    let may_nest = depth < MAX_DEPTH && *count < MAX_PARTS;
    let filename = filename(
        &headers,
        content_type.as_ref().and_then(|ct| ct.params.get("name")),
    );

    if mime.starts_with("multipart/") && may_nest {
        let boundary = content_type.as_ref().and_then(|ct| ct.boundary());
        if let Some(ranges) = boundary.and_then(|b| split_multipart(body, b.as_bytes())) {
            let child_default = if mime == "multipart/digest" {
                "message/rfc822"
            } else {
                "text/plain"
            };
            let end = ranges.last().map_or(0, |r| r.end);
            let mut parts = Vec::with_capacity(ranges.len());
            for (i, range) in ranges.into_iter().enumerate() {
                let id = child_id(&part_id, i);
                if *count >= MAX_PARTS {
                    let rest = body.get(range.start..end).unwrap_or_default();
                    parts.push(leaf(Vec::new(), id, "text/plain", String::new(), rest.to_vec()));
                    break;
                }
                let child = body.get(range).unwrap_or_default();
                parts.push(parse_entity(child, id, depth + 1, child_default, count));
            }
            return node(headers, part_id, mime, 0, parts);
        }
    }
    let bytes = match encoding.as_deref() {
        Some("base64") => base64_lenient(body),
        Some("quoted-printable") => decode_quoted_printable(body),
        _ => body.to_vec(),
    };
    if mime == "message/rfc822" && may_nest {
        let child = parse_entity(&bytes, child_id(&part_id, 0), depth + 1, "text/plain", count);
        return node(headers, part_id, mime, bytes.len(), vec![child]);
    }
    let mime = if mime.starts_with("multipart/") || mime == "message/rfc822" {
        "text/plain".to_string()
    } else {
        mime
    };
    leaf(headers, part_id, &mime, filename, bytes)
}

/// A part with children (multipart or `message/rfc822`); like Gmail, it carries no data.
fn node(
    headers: Vec<Header>,
    part_id: String,
    mime: String,
    size: usize,
    parts: Vec<MessagePart>,
) -> MessagePart {
    MessagePart {
        part_id: Some(part_id),
        mime_type: mime,
        filename: Some(String::new()),
        headers,
        body: Some(PartBody {
            attachment_id: None,
            size: size as u64,
            data: None,
        }),
        parts,
    }
}

fn leaf(headers: Vec<Header>, part_id: String, mime: &str, filename: String, bytes: Vec<u8>) -> MessagePart {
    let data = (!bytes.is_empty()).then(|| base64::engine::general_purpose::URL_SAFE.encode(&bytes));
    MessagePart {
        part_id: Some(part_id),
        mime_type: mime.to_string(),
        filename: Some(filename),
        headers,
        body: Some(PartBody {
            attachment_id: None,
            size: bytes.len() as u64,
            data,
        }),
        parts: Vec::new(),
    }
}

fn child_id(parent: &str, i: usize) -> String {
    if parent.is_empty() {
        i.to_string()
    } else {
        format!("{parent}.{i}")
    }
}

fn find<'a>(headers: &'a [Header], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

/// `Content-Disposition` `filename`, else the `Content-Type` `name`, RFC 2047-decoded as Gmail
/// does (both may also be RFC 2231, which parameter parsing handles); `""` when neither.
fn filename(headers: &[Header], type_name: Option<&String>) -> String {
    let disposition = find(headers, "Content-Disposition")
        .and_then(|v| v.split_once(';'))
        .map(|(_, params)| parse_params(params));
    disposition
        .as_ref()
        .and_then(|p| p.get("filename"))
        .or(type_name)
        .map(|name| decode_rfc2047(name.trim()))
        .unwrap_or_default()
}

/// Lines of `bytes` as `(start, content end without CR/LF, start of next line)`.
fn lines(bytes: &[u8]) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || {
        let rest = bytes.get(pos..).filter(|r| !r.is_empty())?;
        let start = pos;
        let (mut end, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (start + i, start + i + 1),
            None => (bytes.len(), bytes.len()),
        };
        if end > start && bytes.get(end - 1) == Some(&b'\r') {
            end -= 1;
        }
        pos = next;
        Some((start, end, next))
    })
}

/// Splits a header block from the body. Headers end at the first empty line, or at the first
/// line that is neither a header nor a continuation (then that line starts the body).
fn split_headers(raw: &[u8]) -> (Vec<Header>, &[u8]) {
    let mut headers: Vec<Header> = Vec::new();
    for (start, end, next) in lines(raw) {
        let line = raw.get(start..end).unwrap_or_default();
        if line.is_empty() {
            return (trimmed(headers), raw.get(next..).unwrap_or_default());
        }
        let folded = matches!(line.first(), Some(b' ' | b'\t'));
        match headers.last_mut() {
            Some(last) if folded => last.value.push_str(&String::from_utf8_lossy(line)),
            _ => match header_colon(line) {
                Some(colon) => headers.push(Header {
                    name: String::from_utf8_lossy(line.get(..colon).unwrap_or_default())
                        .trim_end()
                        .to_string(),
                    value: String::from_utf8_lossy(line.get(colon + 1..).unwrap_or_default())
                        .trim_start()
                        .to_string(),
                }),
                None => return (trimmed(headers), raw.get(start..).unwrap_or_default()),
            },
        }
    }
    (trimmed(headers), &[])
}

fn trimmed(mut headers: Vec<Header>) -> Vec<Header> {
    for h in &mut headers {
        h.value.truncate(h.value.trim_end().len());
    }
    headers
}

/// Position of the `:` ending a field name (printable ASCII, optionally followed by blanks).
fn header_colon(line: &[u8]) -> Option<usize> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = line.get(..colon)?;
    let trimmed_len = name.len()
        - name
            .iter()
            .rev()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
    let name = name.get(..trimmed_len)?;
    (!name.is_empty() && name.iter().all(|&b| (33..=126).contains(&b))).then_some(colon)
}

/// Byte ranges of the body parts between `--boundary` delimiter lines, or `None` when the
/// boundary never delimits a part. The line break before a delimiter belongs to it; a missing
/// close delimiter lets the last part run to the end; preamble and epilogue are dropped.
fn split_multipart(body: &[u8], boundary: &[u8]) -> Option<Vec<Range<usize>>> {
    let mut ranges = Vec::new();
    let mut open: Option<usize> = None;
    for (start, end, next) in lines(body) {
        let Some(close) = delimiter(body.get(start..end).unwrap_or_default(), boundary) else {
            continue;
        };
        if let Some(part_start) = open {
            let mut part_end = start;
            if part_end > part_start && body.get(part_end - 1) == Some(&b'\n') {
                part_end -= 1;
                if part_end > part_start && body.get(part_end - 1) == Some(&b'\r') {
                    part_end -= 1;
                }
            }
            ranges.push(part_start..part_end);
        }
        if close {
            open = None;
            break;
        }
        open = Some(next);
    }
    if let Some(part_start) = open {
        ranges.push(part_start..body.len());
    }
    (!ranges.is_empty()).then_some(ranges)
}

/// `Some(is_close)` when `line` is `--boundary` or `--boundary--` (trailing blanks allowed).
fn delimiter(line: &[u8], boundary: &[u8]) -> Option<bool> {
    let rest = line.strip_prefix(b"--")?.strip_prefix(boundary)?;
    if rest.starts_with(b"--") {
        return Some(true);
    }
    rest.iter().all(|&b| b == b' ' || b == b'\t').then_some(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::gmail::body::{decode_base64url, message_text};

    fn data(p: &MessagePart) -> Vec<u8> {
        let d = p.body.as_ref().and_then(|b| b.data.as_deref()).unwrap_or("");
        decode_base64url(d).unwrap()
    }

    #[test]
    fn simple_text_message() {
        let raw = b"From: a@x.example\r\nSubject: =?utf-8?Q?caf=C3=A9?=\r\n  folded\r\n\r\nHello\r\n";
        let p = parse_raw(raw);
        assert_eq!(p.part_id.as_deref(), Some(""));
        assert_eq!(p.mime_type, "text/plain");
        assert_eq!(p.filename.as_deref(), Some(""));
        assert_eq!(p.header("subject"), Some("=?utf-8?Q?caf=C3=A9?=  folded"));
        assert_eq!(data(&p), b"Hello\r\n");
        assert_eq!(p.body.as_ref().unwrap().size, 7);
        assert!(p.parts.is_empty());
    }

    #[test]
    fn alternative_with_qp_plain_and_base64_html() {
        let raw = concat!(
            "Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n",
            "preamble\r\n--b1\r\n",
            "Content-Type: text/plain; charset=iso-8859-1\r\n",
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n",
            "caf=E9 =\r\nau lait\r\n--b1 \r\n",
            "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n",
            "PHA+Y2Fmw6k8L3A+\r\n--b1--\r\nepilogue\r\n"
        );
        let p = parse_raw(raw.as_bytes());
        assert_eq!(p.mime_type, "multipart/alternative");
        assert_eq!(p.parts.len(), 2);
        assert_eq!(p.parts[0].part_id.as_deref(), Some("0"));
        assert_eq!(data(&p.parts[0]), b"caf\xe9 au lait");
        assert_eq!(p.parts[1].part_id.as_deref(), Some("1"));
        assert_eq!(p.parts[1].mime_type, "text/html");
        assert_eq!(data(&p.parts[1]), "<p>café</p>".as_bytes());
        assert_eq!(message_text(&p).unwrap(), "café au lait");
    }

    #[test]
    fn nested_mixed_with_attachment() {
        let raw = concat!(
            "Content-Type: multipart/mixed; boundary=outer\n\n",
            "--outer\nContent-Type: multipart/alternative; boundary=inner\n\n",
            "--inner\nContent-Type: text/plain\n\nplain body\n",
            "--inner\nContent-Type: text/html\n\n<b>html body</b>\n--inner--\n",
            "--outer\nContent-Type: application/pdf; name=\"=?utf-8?B?4oKs?=.pdf\"\n",
            "Content-Disposition: attachment; filename*=utf-8''%E2%82%AC%20q.pdf\n",
            "Content-Transfer-Encoding: base64\n\nJVBE\nRi0=\n--outer--\n"
        );
        let p = parse_raw(raw.as_bytes());
        assert_eq!(p.parts.len(), 2);
        let alt = &p.parts[0];
        assert_eq!(alt.mime_type, "multipart/alternative");
        assert_eq!(alt.parts[0].part_id.as_deref(), Some("0.0"));
        assert_eq!(alt.parts[1].part_id.as_deref(), Some("0.1"));
        assert_eq!(data(&alt.parts[0]), b"plain body");
        let pdf = &p.parts[1];
        assert_eq!(pdf.filename.as_deref(), Some("€ q.pdf"));
        assert_eq!(data(pdf), b"%PDF-");
        assert_eq!(message_text(&p).unwrap(), "plain body");
    }

    #[test]
    fn filename_from_encoded_type_name() {
        let raw = "Content-Type: image/png; name=\"=?utf-8?B?4oKs?=.png\"\n\n";
        assert_eq!(parse_raw(raw.as_bytes()).filename.as_deref(), Some("€.png"));
    }

    #[test]
    fn forwarded_message_is_a_child_message() {
        let raw = concat!(
            "Content-Type: multipart/mixed; boundary=m\n\n--m\nContent-Type: text/plain\n\nSee below.\n",
            "--m\nContent-Type: message/rfc822\n\n",
            "From: b@y.example\nSubject: Original\nContent-Type: text/plain; charset=utf-8\n\n",
            "Original text\n--m--\n"
        );
        let p = parse_raw(raw.as_bytes());
        let fwd = &p.parts[1];
        assert_eq!(fwd.mime_type, "message/rfc822");
        assert_eq!(fwd.parts.len(), 1);
        let inner = &fwd.parts[0];
        assert_eq!(inner.part_id.as_deref(), Some("1.0"));
        assert_eq!(inner.header("Subject"), Some("Original"));
        assert_eq!(data(inner), b"Original text");
        assert_eq!(message_text(&p).unwrap(), "See below.\n\nOriginal text");
    }

    #[test]
    fn tolerates_broken_structure() {
        // Missing close delimiter: the last part runs to the end.
        let p = parse_raw(b"Content-Type: multipart/mixed; boundary=x\n\n--x\n\none\n--x\n\ntwo\n");
        assert_eq!(p.parts.len(), 2);
        assert_eq!(data(&p.parts[0]), b"one");
        assert_eq!(data(&p.parts[1]), b"two\n");
        // No boundary parameter, or a boundary that never appears: one text/plain leaf.
        for raw in [
            &b"Content-Type: multipart/mixed\n\nbody text"[..],
            b"Content-Type: multipart/mixed; boundary=zz\n\nbody text",
        ] {
            let p = parse_raw(raw);
            assert_eq!(p.mime_type, "text/plain");
            assert!(p.parts.is_empty());
            assert_eq!(data(&p), b"body text");
        }
        // Headers without a body, a body without headers, non-UTF-8 header bytes.
        let p = parse_raw(b"Subject: only headers");
        assert_eq!(p.header("Subject"), Some("only headers"));
        assert!(p.body.as_ref().unwrap().data.is_none());
        let p = parse_raw(b"just a body line\nand another");
        assert!(p.headers.is_empty());
        assert_eq!(data(&p), b"just a body line\nand another");
        let p = parse_raw(b"Subject: caf\xe9\n\nx");
        assert_eq!(p.header("Subject"), Some("caf\u{fffd}"));
        assert_eq!(parse_raw(b"").mime_type, "text/plain");
        // Bad base64 in a raw part is decoded leniently.
        let p = parse_raw(b"Content-Transfer-Encoding: base64\n\naG!!k*\n=x");
        assert_eq!(data(&p), b"hi");
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let depth = 10_000;
        let mut raw = String::new();
        for i in 0..depth {
            raw.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=b{i}\n\n--b{i}\n"
            ));
        }
        raw.push_str("Content-Type: text/plain\n\ncore\n");
        for i in (0..depth).rev() {
            raw.push_str(&format!("--b{i}--\n"));
        }
        let started = std::time::Instant::now();
        let p = parse_raw(raw.as_bytes());
        let mut levels = 0;
        let mut cur = &p;
        while let Some(child) = cur.parts.first() {
            levels += 1;
            cur = child;
        }
        assert_eq!(levels, MAX_DEPTH);
        assert_eq!(cur.mime_type, "text/plain");
        let _ = message_text(&p).unwrap();
        assert!(started.elapsed().as_secs() < 10);
    }

    #[test]
    fn part_count_is_bounded() {
        let mut raw = String::from("Content-Type: multipart/mixed; boundary=p\n\n");
        for i in 0..3000 {
            raw.push_str(&format!("--p\n\npart {i}\n"));
        }
        let p = parse_raw(raw.as_bytes());
        assert!(p.parts.len() < MAX_PARTS + 1);
        let last = p.parts.last().unwrap();
        assert!(String::from_utf8(data(last)).unwrap().contains("part 2999"));
    }

    #[test]
    fn five_megabyte_body_is_capped() {
        let line = "The quick brown fox jumps over the lazy dog. 0123456789\n";
        let text = line.repeat(5 * 1024 * 1024 / line.len());
        let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
        let mut raw =
            String::from("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n");
        for chunk in encoded.as_bytes().chunks(76) {
            raw.push_str(std::str::from_utf8(chunk).unwrap());
            raw.push('\n');
        }
        let started = std::time::Instant::now();
        let p = parse_raw(raw.as_bytes());
        assert_eq!(p.body.as_ref().unwrap().size, text.len() as u64);
        let out = message_text(&p).unwrap();
        assert!(out.len() < crate::connectors::gmail::body::MAX_BODY_BYTES + 100);
        assert!(out.ends_with("KB more in Gmail]"), "{}", &out[out.len() - 80..]);
        assert!(started.elapsed().as_secs() < 20);
    }
}
