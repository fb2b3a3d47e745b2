//! Placeholder; replaced by the MIME module.

/// Decodes RFC 2047 encoded-words.
pub fn decode_rfc2047(s: &str) -> String {
    s.to_string()
}
