//! Draft templates (`assets/templates/*.txt`): a `Subject:` line, a blank line, a body, with
//! `{{name}}` placeholders filled from the mirror. Pure: loading a file is the caller's job.

use std::collections::BTreeMap;

/// The templates bundled with casey, by name.
pub const BUILTIN: [(&str, &str); 4] = [
    ("reply", include_str!("../../assets/templates/reply.txt")),
    ("follow_up", include_str!("../../assets/templates/follow_up.txt")),
    ("check_in", include_str!("../../assets/templates/check_in.txt")),
    (
        "first_touch",
        include_str!("../../assets/templates/first_touch.txt"),
    ),
];

/// The bundled template called `name`.
pub fn builtin(name: &str) -> Option<&'static str> {
    BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// A filled template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filled {
    /// The subject line.
    pub subject: String,
    /// The body.
    pub body: String,
}

/// Why a template cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The first line is not `Subject: …` followed by a blank line.
    #[error("template {name}: the first line must be `Subject: …`, then a blank line, then the body")]
    NoSubject {
        /// Template name.
        name: String,
    },
    /// `{{x}}` with an `x` CaseyOS does not know.
    #[error("template {name}: unknown placeholder {{{{{placeholder}}}}} (known: {known})")]
    Unknown {
        /// Template name.
        name: String,
        /// The placeholder.
        placeholder: String,
        /// The known ones, comma-separated.
        known: String,
    },
    /// `{{` without `}}`.
    #[error("template {name}: a `{{{{` is never closed")]
    Unclosed {
        /// Template name.
        name: String,
    },
}

fn fill(name: &str, text: &str, vars: &BTreeMap<&str, String>) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let close = after
            .find("}}")
            .ok_or_else(|| TemplateError::Unclosed { name: name.into() })?;
        let key = after[..close].trim();
        let value = vars.get(key).ok_or_else(|| TemplateError::Unknown {
            name: name.into(),
            placeholder: key.into(),
            known: vars.keys().copied().collect::<Vec<_>>().join(", "),
        })?;
        out.push_str(value);
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Fills template `text` (called `name` in messages) with `vars`. Placeholder values are put
/// in as they are: no placeholder syntax inside a value is expanded again.
pub fn render(name: &str, text: &str, vars: &BTreeMap<&str, String>) -> Result<Filled, TemplateError> {
    let text = text.replace("\r\n", "\n");
    let (first, body) = text
        .split_once('\n')
        .ok_or_else(|| TemplateError::NoSubject { name: name.into() })?;
    let subject = first
        .strip_prefix("Subject:")
        .ok_or_else(|| TemplateError::NoSubject { name: name.into() })?;
    let body = body
        .strip_prefix('\n')
        .ok_or_else(|| TemplateError::NoSubject { name: name.into() })?;
    let subject = fill(name, subject.trim(), vars)?;
    let body = fill(name, body, vars)?;
    // No trailing blank lines (an empty signature leaves some).
    let body = format!("{}\n", body.trim_end());
    Ok(Filled {
        subject: subject.split_whitespace().collect::<Vec<_>>().join(" "),
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> BTreeMap<&'static str, String> {
        [
            ("first_name", "Ada"),
            ("name", "Ada Lovelace"),
            ("company", "Acme"),
            ("company_suffix", " at Acme"),
            ("deal", "Acme renewal"),
            ("subject", "Pricing"),
            ("my_company", "Casey Co"),
            ("signature", "— Casey"),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_string()))
        .collect()
    }

    #[test]
    fn every_bundled_template_fills_with_the_documented_placeholders() {
        for (name, text) in BUILTIN {
            let f = render(name, text, &vars()).unwrap();
            assert!(!f.subject.is_empty() && !f.subject.contains("{{"), "{name}");
            assert!(f.body.starts_with("Hi Ada,"), "{name}: {}", f.body);
            assert!(f.body.ends_with("— Casey\n") && !f.body.contains("{{"), "{name}");
        }
        let check_in = render("check_in", builtin("check_in").unwrap(), &vars()).unwrap();
        assert_eq!(check_in.subject, "Checking in on Acme renewal");
    }

    #[test]
    fn values_are_not_expanded_again_and_unknown_or_broken_placeholders_are_named() {
        let mut v = vars();
        v.insert("first_name", "{{signature}}".into());
        let f = render("t", "Subject: x\n\nHi {{ first_name }}!", &v).unwrap();
        assert_eq!(f.body, "Hi {{signature}}!\n");
        let e = render("t", "Subject: x\n\n{{nope}}", &v).unwrap_err();
        assert!(e.to_string().contains("unknown placeholder {{nope}}"), "{e}");
        assert!(e.to_string().contains("first_name"), "lists the known ones: {e}");
        assert_eq!(
            render("t", "Subject: x\n\nHi {{first_name", &v),
            Err(TemplateError::Unclosed { name: "t".into() })
        );
        assert_eq!(
            render("t", "Hello\n\nbody", &v),
            Err(TemplateError::NoSubject { name: "t".into() })
        );
    }

    #[test]
    fn an_empty_signature_leaves_no_trailing_blank_lines_and_crlf_files_work() {
        let mut v = vars();
        v.insert("signature", String::new());
        let f = render("t", "Subject: Hi\r\n\r\nHello\r\n\r\n{{signature}}\r\n", &v).unwrap();
        assert_eq!(f.body, "Hello\n");
    }
}
