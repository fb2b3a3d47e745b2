//! MIME decoding for mail headers and bodies: RFC 2047 encoded words, quoted-printable,
//! charsets, `Content-Type` parameters (RFC 2045 and RFC 2231) and, in [`parse_raw`], a whole
//! message parsed into the tree shape Gmail's `format=full` returns.
//!
//! Email is hostile input. Every function here is total (never panics), runs in linear time
//! and tolerates what real mailers send: lying charset labels, broken encodings, missing
//! boundaries.

use std::collections::BTreeMap;

use encoding_rs::Encoding;

mod raw;

pub use raw::parse_raw;

/// Decodes RFC 2047 encoded words (`=?utf-8?B?...?=`, `=?iso-8859-1?Q?...?=`) in a header
/// value, because raw headers (and some Gmail fields) carry non-ASCII text that way.
///
/// Whitespace between adjacent encoded words is dropped (RFC 2047 §6.2); adjacent words in the
/// same charset are joined before charset decoding, so a character split across two words
/// survives. Malformed words are left as written.
pub fn decode_rfc2047(s: &str) -> String {
    if !s.contains("=?") {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut pending: Vec<u8> = Vec::new();
    let mut pending_charset = "";
    let mut literal_start = 0;
    let mut after_word = false;
    let mut search = 0;
    while let Some(offset) = s.get(search..).and_then(|rest| rest.find("=?")) {
        let start = search + offset;
        let Some(word) = encoded_word(s, start) else {
            search = start + 2;
            continue;
        };
        let gap = s.get(literal_start..start).unwrap_or("");
        let drop_gap = after_word && gap.chars().all(char::is_whitespace);
        if !drop_gap || !word.charset.eq_ignore_ascii_case(pending_charset) {
            flush_words(&mut out, &mut pending, pending_charset);
        }
        if !drop_gap {
            out.push_str(gap);
        }
        pending.extend_from_slice(&word.bytes);
        pending_charset = word.charset;
        literal_start = word.end;
        search = word.end;
        after_word = true;
    }
    flush_words(&mut out, &mut pending, pending_charset);
    out.push_str(s.get(literal_start..).unwrap_or(""));
    out
}

fn flush_words(out: &mut String, pending: &mut Vec<u8>, charset: &str) {
    if !pending.is_empty() {
        out.push_str(&decode_charset(pending, Some(charset)));
        pending.clear();
    }
}

/// One decoded encoded word: its charset label, its bytes and where it ends in the input.
struct EncodedWord<'a> {
    charset: &'a str,
    bytes: Vec<u8>,
    end: usize,
}

/// Parses `=?charset?E?text?=` at `start`. Each scan stops at whitespace or at one of the next
/// three `?`, so trying every `=?` in a header stays linear.
fn encoded_word(s: &str, start: usize) -> Option<EncodedWord<'_>> {
    let b = s.as_bytes();
    let charset_start = start + 2;
    let charset_end = charset_start + scan_to_question(b.get(charset_start..)?)?;
    let charset = s.get(charset_start..charset_end).filter(|c| !c.is_empty())?;
    let encoding = *b.get(charset_end + 1)?;
    if b.get(charset_end + 2) != Some(&b'?') {
        return None;
    }
    let text_start = charset_end + 3;
    let text_end = text_start + scan_to_question(b.get(text_start..)?)?;
    if b.get(text_end + 1) != Some(&b'=') {
        return None;
    }
    let text = b.get(text_start..text_end)?;
    let bytes = match encoding {
        b'B' | b'b' => {
            let valid = text
                .iter()
                .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'='));
            if !valid {
                return None;
            }
            base64_lenient(text)
        }
        b'Q' | b'q' => decode_q(text),
        _ => return None,
    };
    Some(EncodedWord {
        charset,
        bytes,
        end: text_end + 2,
    })
}

/// Offset of the first `?` in `b`, or `None` when whitespace or the end comes first.
fn scan_to_question(b: &[u8]) -> Option<usize> {
    for (i, &c) in b.iter().enumerate() {
        if c == b'?' {
            return Some(i);
        }
        if c.is_ascii_whitespace() {
            return None;
        }
    }
    None
}

/// The `Q` encoding: `_` is a space, `=XX` a byte, anything else itself.
fn decode_q(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while let Some(&c) = text.get(i) {
        match c {
            b'_' => out.push(b' '),
            b'=' => {
                if let Some(byte) = hex_pair(text.get(i + 1..i + 3)) {
                    out.push(byte);
                    i += 3;
                    continue;
                }
                out.push(c);
            }
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

fn hex_pair(pair: Option<&[u8]>) -> Option<u8> {
    let pair = pair?;
    let hi = (*pair.first()? as char).to_digit(16)?;
    let lo = (*pair.get(1)? as char).to_digit(16)?;
    u8::try_from(hi * 16 + lo).ok()
}

/// Base64 that never fails: characters outside both alphabets (standard and URL-safe) are
/// skipped, `=` ends a quantum (so concatenated padded chunks decode), a missing pad is fine.
fn base64_lenient(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() / 4 * 3 + 3);
    let mut acc: u32 = 0;
    let mut n = 0;
    for &c in input {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => {
                flush_quantum(&mut out, acc, n);
                (acc, n) = (0, 0);
                continue;
            }
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        n += 1;
        if n == 4 {
            out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
            (acc, n) = (0, 0);
        }
    }
    flush_quantum(&mut out, acc, n);
    out
}

/// Emits the bytes of a partial base64 quantum of `n` sextets (one sextet alone is dropped).
fn flush_quantum(out: &mut Vec<u8>, acc: u32, n: u8) {
    match n {
        2 => out.push((acc >> 4) as u8),
        3 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
        _ => {}
    }
}

/// Decodes quoted-printable (RFC 2045 §6.7), the transfer encoding of most non-ASCII text
/// parts. `=XX` in either case becomes a byte, `=` before a line break (optionally with
/// trailing whitespace in between) is a soft break and vanishes, as does a final `=`; any
/// other `=` is kept literally. Linear time.
pub fn decode_quoted_printable(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&c) = input.get(i) {
        if c != b'=' {
            out.push(c);
            i += 1;
            continue;
        }
        if let Some(byte) = hex_pair(input.get(i + 1..i + 3)) {
            out.push(byte);
            i += 3;
            continue;
        }
        let mut j = i + 1;
        while matches!(input.get(j), Some(b' ' | b'\t')) {
            j += 1;
        }
        match (input.get(j), input.get(j + 1)) {
            (None, _) => i = j,
            (Some(b'\r'), Some(b'\n')) => i = j + 2,
            (Some(b'\n' | b'\r'), _) => i = j + 1,
            _ => {
                out.push(b'=');
                i += 1;
            }
        }
    }
    out
}

/// What a charset label resolves to.
enum Charset {
    /// A label encoding_rs knows.
    Known(&'static Encoding),
    /// Missing or ASCII: decode as UTF-8, since that is what such mail really carries.
    Utf8,
    /// Bogus: UTF-8 if the bytes are valid UTF-8, else windows-1252.
    Unknown,
}

fn lookup_charset(label: Option<&str>) -> Charset {
    let label = label
        .unwrap_or("")
        .trim()
        .trim_matches(['"', '\''])
        .split('*')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match label.as_str() {
        "" | "us-ascii" | "ascii" | "ansi_x3.4-1968" | "us" | "iso646-us" | "utf8" => Charset::Utf8,
        "cp932" => Charset::Known(encoding_rs::SHIFT_JIS),
        "cp936" => Charset::Known(encoding_rs::GBK),
        "cp949" | "ks_c_5601" => Charset::Known(encoding_rs::EUC_KR),
        _ => Encoding::for_label_no_replacement(label.as_bytes()).map_or(Charset::Unknown, Charset::Known),
    }
}

/// Converts a part's bytes to text using its declared charset (via encoding_rs), because
/// Gmail hands bodies over transfer-decoded but not charset-converted.
///
/// A missing or ASCII label means UTF-8; an unknown label means UTF-8 when the bytes are valid
/// UTF-8, else windows-1252. A byte-order mark is stripped (and, as in browsers, wins over the
/// label). Invalid sequences become U+FFFD; this never fails.
pub fn decode_charset(bytes: &[u8], charset: Option<&str>) -> String {
    match lookup_charset(charset) {
        Charset::Known(encoding) => encoding.decode(bytes).0.into_owned(),
        Charset::Utf8 => encoding_rs::UTF_8.decode(bytes).0.into_owned(),
        Charset::Unknown => match std::str::from_utf8(bytes) {
            Ok(s) => s.strip_prefix('\u{feff}').unwrap_or(s).to_string(),
            Err(_) => encoding_rs::WINDOWS_1252.decode(bytes).0.into_owned(),
        },
    }
}

/// A parsed `Content-Type` header: the media type and its parameters, which decide how a
/// part is split (`boundary`) and decoded (`charset`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentType {
    /// Lower-cased `type/subtype`; `text/plain` when the header is empty or garbage.
    pub mime: String,
    /// Parameters by lower-cased name, unquoted, with RFC 2231 sections joined and decoded.
    pub params: BTreeMap<String, String>,
}

impl ContentType {
    /// The `charset` parameter, if present and non-empty.
    pub fn charset(&self) -> Option<&str> {
        self.param("charset")
    }

    /// The `boundary` parameter (trailing whitespace removed), if present and non-empty.
    pub fn boundary(&self) -> Option<&str> {
        self.param("boundary")
            .map(str::trim_end)
            .filter(|b| !b.is_empty())
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }
}

/// Parses a `Content-Type` header value (`text/plain; charset="utf-8"`), because the media
/// type and its parameters drive every other decoding step. Never fails: garbage gives
/// `text/plain` with whatever parameters could be read.
pub fn parse_content_type(value: &str) -> ContentType {
    let (head, rest) = value.split_once(';').unwrap_or((value, ""));
    ContentType {
        mime: media_type(head).unwrap_or_else(|| "text/plain".to_string()),
        params: parse_params(rest),
    }
}

/// `type/subtype`, lower-cased, with a trailing comment dropped; `None` if not a valid type.
fn media_type(head: &str) -> Option<String> {
    let head = head.split('(').next().unwrap_or("").trim();
    let (ty, sub) = head.split_once('/')?;
    let (ty, sub) = (ty.trim(), sub.trim());
    let is_token = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|c| c.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&c))
    };
    (is_token(ty) && is_token(sub)).then(|| format!("{ty}/{sub}").to_ascii_lowercase())
}

/// Parses `; name=value; name="quoted \"value\""...` into a map, joining RFC 2231 sections
/// (`name*0*=`, `name*1*=`) and decoding `name*=charset'lang'%XX` values. When both a plain and
/// an RFC 2231 form exist the RFC 2231 one wins; otherwise the first occurrence wins.
fn parse_params(s: &str) -> BTreeMap<String, String> {
    let mut plain: BTreeMap<String, String> = BTreeMap::new();
    let mut sections: BTreeMap<String, BTreeMap<u32, (String, bool)>> = BTreeMap::new();
    for (name, value) in raw_params(s) {
        let (name, extended) = match name.strip_suffix('*') {
            Some(n) => (n, true),
            None => (name.as_str(), false),
        };
        let numbered = name
            .rsplit_once('*')
            .and_then(|(base, n)| Some((base, n.parse::<u32>().ok()?)));
        match (numbered, extended) {
            (Some((base, n)), _) => {
                let entry = sections.entry(base.to_string()).or_default();
                entry.entry(n).or_insert((value, extended));
            }
            (None, true) => {
                let entry = sections.entry(name.to_string()).or_default();
                entry.entry(0).or_insert((value, true));
            }
            (None, false) => {
                plain.entry(name.to_string()).or_insert(value);
            }
        }
    }
    for (name, parts) in sections {
        plain.insert(name, join_rfc2231(&parts));
    }
    plain
}

/// Joins RFC 2231 sections in order; extended sections are percent-decoded and the charset
/// named in the first one applies to the whole value.
fn join_rfc2231(parts: &BTreeMap<u32, (String, bool)>) -> String {
    let mut charset = None;
    let mut bytes = Vec::new();
    for (&n, (value, extended)) in parts {
        if !extended {
            bytes.extend_from_slice(value.as_bytes());
            continue;
        }
        let mut value = value.as_str();
        if n == 0
            && let Some((cs, rest)) = value.split_once('\'')
            && let Some((_lang, encoded)) = rest.split_once('\'')
        {
            charset = Some(cs);
            value = encoded;
        }
        percent_decode(value.as_bytes(), &mut bytes);
    }
    decode_charset(&bytes, charset)
}

fn percent_decode(value: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while let Some(&c) = value.get(i) {
        if c == b'%'
            && let Some(byte) = hex_pair(value.get(i + 1..i + 3))
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(c);
        i += 1;
    }
}

/// Splits a parameter list into `(lower-cased name, unquoted value)` pairs. Pieces without
/// `=` are skipped; `;` inside quotes does not split; an unterminated quote runs to the end.
fn raw_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|&c| c == ';' || c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return out;
        }
        let mut name = String::new();
        while let Some(c) = chars.next_if(|&c| c != '=' && c != ';') {
            name.push(c);
        }
        if chars.next_if_eq(&'=').is_none() {
            continue;
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => value.extend(chars.next()),
                    c => value.push(c),
                }
            }
            while chars.next_if(|&c| c != ';').is_some() {}
        } else {
            while let Some(c) = chars.next_if(|&c| c != ';') {
                value.push(c);
            }
            value.truncate(value.trim_end().len());
        }
        let name = name.trim().to_ascii_lowercase();
        if !name.is_empty() {
            out.push((name, value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2047_b_and_q_words() {
        assert_eq!(decode_rfc2047("=?UTF-8?B?Y2Fmw6k=?="), "café");
        assert_eq!(
            decode_rfc2047("=?iso-8859-1?q?caf=E9_cr=e8me?= ok"),
            "café crème ok"
        );
        assert_eq!(decode_rfc2047("Re: =?utf-8?Q?=E2=82=AC?=5"), "Re: €5");
        assert_eq!(decode_rfc2047("=?utf-8*en?Q?hi?="), "hi");
        let plain = "no encoded words, =? alone";
        assert_eq!(decode_rfc2047(plain), plain);
    }

    #[test]
    fn rfc2047_adjacent_words_join() {
        assert_eq!(
            decode_rfc2047("=?utf-8?q?a?= \r\n =?utf-8?q?b?= c =?utf-8?q?d?="),
            "ab c d"
        );
        // A multi-byte character split across two words survives.
        assert_eq!(decode_rfc2047("=?utf-8?B?4oI=?= =?utf-8?B?rA==?="), "€");
        assert_eq!(decode_rfc2047("=?utf-8?q?x?= =?iso-8859-1?q?=E9?="), "xé");
    }

    #[test]
    fn rfc2047_bad_charset_and_malformed_words() {
        assert_eq!(decode_rfc2047("=?x-bogus?Q?caf=C3=A9?="), "café");
        assert_eq!(decode_rfc2047("=?x-bogus?Q?caf=E9?="), "café");
        for malformed in [
            "=?utf-8?X?abc?=",
            "=?utf-8?B?not*base64?=",
            "=?utf-8?Q?unterminated",
            "=??Q?empty-charset?=",
            "=?utf-8?Q?has space?=",
            "=?=?=?=?",
        ] {
            assert_eq!(decode_rfc2047(malformed), malformed);
        }
        assert_eq!(decode_rfc2047("=?x=?utf-8?q?ok?="), "=?xok");
        let hostile = "=?a?".repeat(50_000);
        assert_eq!(decode_rfc2047(&hostile), hostile);
    }

    #[test]
    fn quoted_printable() {
        let qp = |s: &[u8]| decode_quoted_printable(s);
        assert_eq!(qp(b"a=3Db=3db"), b"a=b=b");
        assert_eq!(qp(b"caf=C3=a9"), "café".as_bytes());
        assert_eq!(
            qp(b"soft=\r\nbreak soft=\nbreak soft= \t\r\nbreak"),
            b"softbreak softbreak softbreak"
        );
        assert_eq!(qp(b"bad =ZZ and =4"), b"bad =ZZ and =4");
        assert_eq!(qp(b"keep = sign"), b"keep = sign");
        assert_eq!(qp(b"trailing="), b"trailing");
        assert_eq!(qp(b"trailing= "), b"trailing");
        assert_eq!(qp(b"line\r\nnext"), b"line\r\nnext");
        assert_eq!(qp(&b"=".repeat(100_000)).len(), 99_999);
    }

    #[test]
    fn charsets() {
        assert_eq!(decode_charset(b"caf\xe9", Some("ISO-8859-1")), "café");
        assert_eq!(
            decode_charset(b"\x93quoted\x94 \x80", Some("\"windows-1252\"")),
            "“quoted” €"
        );
        assert_eq!(decode_charset(b"\x93\xfa\x96\x7b", Some("shift_jis")), "日本");
        assert_eq!(decode_charset(b"\x93\xfa\x96\x7b", Some("cp932")), "日本");
        assert_eq!(decode_charset(b"h\0i\0", Some("utf-16le")), "hi");
        assert_eq!(decode_charset(b"\xff\xfeh\0i\0", Some("utf-16")), "hi");
        assert_eq!(
            decode_charset("café".as_bytes(), Some("x-unknown-garbage")),
            "café"
        );
        assert_eq!(decode_charset(b"caf\xe9", Some("x-unknown-garbage")), "café");
        assert_eq!(
            decode_charset("\u{feff}hi".as_bytes(), Some("x-unknown-garbage")),
            "hi"
        );
        assert_eq!(decode_charset("\u{feff}hi".as_bytes(), Some("utf-8")), "hi");
        assert_eq!(decode_charset("\u{feff}hi".as_bytes(), None), "hi");
        assert_eq!(decode_charset("café".as_bytes(), Some("us-ascii")), "café");
        assert_eq!(decode_charset("café".as_bytes(), Some("utf8")), "café");
        assert_eq!(decode_charset(b"caf\xe9", None), "caf\u{fffd}");
        // Labels encoding_rs maps to the "replacement" encoding are treated as unknown.
        assert_eq!(decode_charset(b"plain", Some("iso-2022-kr")), "plain");
    }

    #[test]
    fn content_type_params() {
        let ct = parse_content_type(r#"Text/HTML; Charset="UTF-8"; name="a \"b\"; c.txt" ; format=flowed"#);
        assert_eq!(ct.mime, "text/html");
        assert_eq!(ct.charset(), Some("UTF-8"));
        assert_eq!(ct.params["name"], r#"a "b"; c.txt"#);
        assert_eq!(ct.params["format"], "flowed");
        let ct = parse_content_type("multipart/mixed; boundary=\"----=_Part_1 \"");
        assert_eq!(ct.boundary(), Some("----=_Part_1"));
        let ct = parse_content_type("application/pdf; name*=utf-8''%E2%82%AC%20rate.pdf; name=fallback.pdf");
        assert_eq!(ct.params["name"], "€ rate.pdf");
        let ct = parse_content_type(
            "text/plain; title*0*=us-ascii'en'This%20is; title*1*=%20long; title*2=\" x\"",
        );
        assert_eq!(ct.params["title"], "This is long x");
        let ct = parse_content_type("application/x; name*=iso-8859-1'fr'caf%E9");
        assert_eq!(ct.params["name"], "café");
    }

    #[test]
    fn content_type_garbage() {
        for garbage in [
            "",
            "   ",
            "garbage",
            "text/",
            "/html",
            "te xt/plain",
            ";;;",
            "text/plain\"oops",
        ] {
            assert_eq!(parse_content_type(garbage).mime, "text/plain", "{garbage:?}");
        }
        let ct = parse_content_type("text/plain (comment); charset=utf-8; junk; =x; b=\"unterminated");
        assert_eq!(ct.mime, "text/plain");
        assert_eq!(ct.charset(), Some("utf-8"));
        assert_eq!(ct.params["b"], "unterminated");
        assert_eq!(ct.params.len(), 2);
        assert_eq!(
            parse_content_type("multipart/mixed; boundary=\"\"").boundary(),
            None
        );
        assert_eq!(parse_content_type("text/plain; charset=").charset(), None);
    }
}
