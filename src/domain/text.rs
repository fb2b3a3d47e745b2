//! Sanitizing untrusted text (email and CRM fields) before it reaches a terminal.
//!
//! Email subjects and bodies can carry ANSI/OSC/DCS escape sequences that recolour the screen,
//! retitle the window, plant hyperlinks or clear the display, and bidirectional overrides that
//! reorder what the operator reads. Everything drawn from external data passes through here.

/// Removes terminal escape sequences, replaces other control characters with a visible
/// placeholder, strips bidi override/isolate controls, and flattens line breaks into spaces.
/// The result is safe to draw on one line.
///
/// ```
/// use caseyos::domain::text::{is_terminal_safe, sanitize_line};
/// let subject = "\u{1b}[31mURGENT\u{1b}[0m: renewal\u{1b}]0;pwned\u{7} \u{202e}txt";
/// assert_eq!(sanitize_line(subject), "URGENT: renewal txt");
/// assert!(is_terminal_safe(&sanitize_line(subject)));
/// ```
pub fn sanitize_line(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for piece in sanitize_multiline(input).split('\n') {
        let piece = piece.trim();
        if piece.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(piece);
    }
    collapse_spaces(&out)
}

/// Like [`sanitize_line`] but keeps line breaks (`\n`), for message bodies shown as paragraphs.
/// Tabs become four spaces; carriage returns are dropped.
pub fn sanitize_multiline(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => skip_escape(&mut chars),
            // C1 CSI/OSC/DCS introducers act like ESC [ / ESC ] / ESC P on some terminals.
            '\u{9b}' => skip_csi_body(&mut chars),
            '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => skip_string_body(&mut chars),
            '\n' => out.push('\n'),
            '\r' => {}
            '\t' => out.push_str("    "),
            c if is_bidi_control(c) => {}
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Whether a string is free of anything a terminal would interpret (used by tests and asserts).
pub fn is_terminal_safe(s: &str) -> bool {
    !s.chars()
        .any(|c| (c.is_control() && c != '\n') || is_bidi_control(c))
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
}

fn skip_escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match chars.peek().copied() {
        Some('[') => {
            chars.next();
            skip_csi_body(chars);
        }
        Some(']') | Some('P') | Some('X') | Some('^') | Some('_') => {
            chars.next();
            skip_string_body(chars);
        }
        // Two-character sequences (ESC c, ESC 7, ESC ( B ...): drop the next char, and one more
        // for the charset designators.
        Some('(') | Some(')') | Some('*') | Some('+') => {
            chars.next();
            chars.next();
        }
        Some(_) => {
            chars.next();
        }
        None => {}
    }
}

/// CSI: parameters and intermediates, ended by a final byte in `@`..=`~`.
fn skip_csi_body(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for c in chars.by_ref() {
        if ('@'..='~').contains(&c) {
            break;
        }
        if !(' '..='?').contains(&c) {
            // Malformed: stop swallowing at the first byte that cannot belong to a CSI.
            break;
        }
    }
}

/// OSC/DCS/SOS/PM/APC: runs until BEL, ST (`ESC \`) or the C1 ST.
fn skip_string_body(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            '\u{7}' | '\u{9c}' => break,
            '\u{1b}' => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                break;
            }
            _ => {}
        }
    }
}

fn collapse_spaces(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_space = false;
    for c in s.chars() {
        if c == ' ' {
            if !prev_space {
                out.push(c);
            }
            prev_space = true;
        } else {
            out.push(c);
            prev_space = false;
        }
    }
    out
}

/// Converts simple HTML (CRM notes, HTML-only mail parts) into readable plain text: tags dropped,
/// block ends become line breaks, common entities decoded. A `<` that cannot open a tag (as in
/// `a < b`), or one never closed, is kept as text. Linear time.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    let mut skip_until: Option<&str> = None;
    let mut search = 0;
    while let Some(offset) = rest.get(search..).and_then(|r| r.find('<')) {
        let start = search + offset;
        let after = rest.get(start + 1..).unwrap_or("");
        if !after.starts_with(|c: char| c.is_ascii_alphabetic() || matches!(c, '/' | '!' | '?')) {
            search = start + 1;
            continue;
        }
        let (tag_len, closed) = if after.starts_with("!--") {
            match after.find("-->") {
                Some(e) => (e + 2, true),
                None => (after.len(), true),
            }
        } else {
            match after.find('>') {
                Some(e) => (e, true),
                None => (after.len(), false),
            }
        };
        if !closed {
            // No `>` anywhere after: not a tag, and no later `<` can be one either.
            break;
        }
        if skip_until.is_none() {
            out.push_str(&decode_entities(rest.get(..start).unwrap_or("")));
        }
        let tag = after.get(..tag_len).unwrap_or("").trim().to_ascii_lowercase();
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        if let Some(close) = skip_until {
            if tag.starts_with('/') && name == close {
                skip_until = None;
            }
        } else if (name == "style" || name == "script" || name == "head") && !tag.starts_with('/') {
            skip_until = Some(match name.as_str() {
                "style" => "style",
                "script" => "script",
                _ => "head",
            });
        } else if matches!(
            name.as_str(),
            "br" | "p" | "div" | "li" | "tr" | "h1" | "h2" | "h3" | "blockquote"
        ) {
            if !out.ends_with('\n') && !out.is_empty() {
                out.push('\n');
            }
            if name == "li" && !tag.starts_with('/') {
                out.push_str("• ");
            }
        }
        rest = after.get(tag_len + 1..).unwrap_or("");
        search = 0;
    }
    if skip_until.is_none() {
        out.push_str(&decode_entities(rest));
    }
    out.trim().to_string()
}

/// Decodes the HTML entities mail and CRM text carries (`&amp;`, `&#39;`, `&#x2014;`...);
/// Gmail snippets arrive HTML-escaped. Unknown entities are kept as written.
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        // Entity names are short: look for `;` in the next few bytes only, so a long run of `&`
        // without `;` stays linear.
        let end = after.bytes().take(11).position(|b| b == b';');
        let decoded = end.and_then(|e| {
            let name = &after[..e];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                _ => {
                    let num = name.strip_prefix('#')?;
                    let code = match num.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => num.parse().ok()?,
                    };
                    char::from_u32(code)
                }
            }?;
            Some((c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &after[e + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Truncates to at most `max` terminal columns, ending with `…` when cut.
pub fn truncate_cols(s: &str, max: usize) -> String {
    use unicode_width::UnicodeWidthChar;
    let total: usize = s.chars().map(|c| c.width().unwrap_or(0)).sum();
    if total <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > max.saturating_sub(1) {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("\u{1b}[31mURGENT\u{1b}[0m deal", "URGENT deal")]
    #[case("a\u{1b}]0;pwned\u{7}b", "ab")]
    #[case("x\u{1b}]8;;http://evil.example/\u{1b}\\click\u{1b}]8;;\u{1b}\\y", "xclicky")]
    #[case("clear\u{1b}[2Jme\u{7}", "clearme\u{fffd}")]
    #[case("rtl \u{202e}evil\u{202c} text", "rtl evil text")]
    #[case("line1\r\nline2\n\nline3", "line1 line2 line3")]
    #[case("\u{9b}31mC1\u{9d}0;t\u{9c}x", "C1x")]
    #[case("🚀 Q1 rollout 🎉 مرحبا", "🚀 Q1 rollout 🎉 مرحبا")]
    #[case("unterminated \u{1b}]0;title", "unterminated")]
    fn sanitize_line_cases(#[case] input: &str, #[case] expected: &str) {
        let out = sanitize_line(input);
        assert_eq!(out, expected);
        assert!(is_terminal_safe(&out));
    }

    #[test]
    fn multiline_keeps_breaks_and_expands_tabs() {
        assert_eq!(sanitize_multiline("a\tb\r\nc\u{1b}[1m"), "a    b\nc");
    }

    #[test]
    fn html_to_text_drops_tags_and_styles() {
        let t =
            html_to_text("<html><head><style>p{}</style></head><p>Hi &amp; welcome</p><ul><li>one</li></ul>");
        assert_eq!(t, "Hi & welcome\n• one");
    }

    #[test]
    fn html_to_text_keeps_stray_angle_brackets() {
        assert_eq!(
            html_to_text("<p>a < b and c > d</p><p>x<3</p>"),
            "a < b and c > d\nx<3"
        );
        assert_eq!(
            html_to_text("<b>price</b> <unclosed tag and more text"),
            "price <unclosed tag and more text"
        );
        assert_eq!(html_to_text("a<!-- <p> hidden > --><br>b"), "a\nb");
        assert_eq!(html_to_text("<style>p{}"), "");
    }

    #[test]
    fn html_to_text_is_linear_on_hostile_input() {
        let started = std::time::Instant::now();
        for hostile in [
            "<a".repeat(200_000),
            "< ".repeat(200_000),
            "&".repeat(400_000),
            "&amp".repeat(100_000),
        ] {
            assert!(!html_to_text(&hostile).is_empty());
        }
        assert!(started.elapsed().as_secs() < 5);
    }

    #[test]
    fn entities_decode_named_and_numeric() {
        assert_eq!(
            decode_entities("Tom&#39;s &amp; Jerry&#x2019;s &lt;b&gt; &bogus; &"),
            "Tom's & Jerry’s <b> &bogus; &"
        );
    }

    #[test]
    fn truncation_respects_wide_chars() {
        assert_eq!(truncate_cols("🚀🚀🚀", 5), "🚀🚀…");
        assert_eq!(truncate_cols("abc", 3), "abc");
        assert_eq!(truncate_cols("abcd", 3), "ab…");
    }
}
