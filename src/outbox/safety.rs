//! The send rules, as pure functions: draft-only mode, the daily cap, the per-recipient
//! cooldown, the suppression list and the stale-draft guard. Checked when a send is approved
//! and again just before it is executed; a refusal says which rule and what to do.

use chrono::{DateTime, Duration, Utc};

use crate::config::{Safety, SafetyMode};

/// Why a send is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// `[safety] mode = "draft_only"`.
    #[error(
        "draft-only mode: CaseyOS writes the draft in Gmail and never sends (set [safety] mode = \"send\" to send)"
    )]
    DraftOnly,
    /// The daily cap is reached.
    #[error(
        "daily send cap reached: {sent} of {cap} sent today; the draft stays in Gmail (raise [safety] daily_send_cap, or send it tomorrow)"
    )]
    DailyCap {
        /// Sends today.
        sent: u32,
        /// The cap.
        cap: u32,
    },
    /// The recipient was emailed too recently.
    #[error(
        "{recipient} was emailed {ago} ago; the cooldown is {hours} h ([safety] recipient_cooldown_hours)"
    )]
    Cooldown {
        /// Who.
        recipient: String,
        /// How long ago, for people.
        ago: String,
        /// The cooldown.
        hours: u32,
    },
    /// The recipient is on the suppression list.
    #[error("{recipient} is on the suppression list ({rule}); CaseyOS never emails them")]
    Suppressed {
        /// Who.
        recipient: String,
        /// The matching entry.
        rule: String,
    },
    /// A reply arrived in the thread after the draft was written.
    #[error(
        "stale draft: a new message arrived in the thread after this draft was written; read it and approve again"
    )]
    StaleDraft,
    /// No recipient.
    #[error("the draft has no recipient")]
    NoRecipient,
}

/// One send as the rules see it.
#[derive(Debug, Clone)]
pub struct SendCheck<'a> {
    /// Every recipient (To and Cc), as email addresses.
    pub recipients: &'a [String],
    /// When the draft was last written (by CaseyOS or the operator).
    pub draft_written_at: DateTime<Utc>,
    /// The newest inbound message in the thread, if any.
    pub last_inbound_at: Option<DateTime<Utc>>,
    /// Sends already done (or under way) today.
    pub sent_today: u32,
}

/// Whether `address` matches a suppression entry: a whole address, `@domain`, or a bare
/// domain (any case).
fn suppressed_by<'a>(address: &str, list: &'a [String]) -> Option<&'a String> {
    let address = address.trim().to_ascii_lowercase();
    let domain = address.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
    list.iter().find(|rule| {
        let rule_l = rule.trim().to_ascii_lowercase();
        match rule_l.strip_prefix('@') {
            Some(d) => d == domain,
            None if rule_l.contains('@') => rule_l == address,
            None => !rule_l.is_empty() && rule_l == domain,
        }
    })
}

fn ago(d: Duration) -> String {
    if d.num_hours() >= 1 {
        format!("{} h", d.num_hours())
    } else {
        format!("{} min", d.num_minutes().max(1))
    }
}

/// Checks one send against every rule; `last_sent_to` gives the last send to an address.
pub fn check_send(
    rules: &Safety,
    send: &SendCheck<'_>,
    last_sent_to: impl Fn(&str) -> Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    if rules.mode == SafetyMode::DraftOnly {
        return Err(Refusal::DraftOnly);
    }
    if send.recipients.is_empty() {
        return Err(Refusal::NoRecipient);
    }
    for r in send.recipients {
        if let Some(rule) = suppressed_by(r, &rules.suppression_list) {
            return Err(Refusal::Suppressed {
                recipient: r.clone(),
                rule: rule.clone(),
            });
        }
    }
    if send.last_inbound_at.is_some_and(|at| at > send.draft_written_at) {
        return Err(Refusal::StaleDraft);
    }
    if send.sent_today >= rules.daily_send_cap {
        return Err(Refusal::DailyCap {
            sent: send.sent_today,
            cap: rules.daily_send_cap,
        });
    }
    let cooldown = Duration::hours(i64::from(rules.recipient_cooldown_hours));
    for r in send.recipients {
        if let Some(last) = last_sent_to(r)
            && now - last < cooldown
        {
            return Err(Refusal::Cooldown {
                recipient: r.clone(),
                ago: ago(now - last),
                hours: rules.recipient_cooldown_hours,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, 15, 0, 0).unwrap()
    }

    fn rules() -> Safety {
        Safety {
            mode: SafetyMode::Send,
            undo_window_seconds: 10,
            daily_send_cap: 3,
            recipient_cooldown_hours: 24,
            suppression_list: vec![
                "@competitor.example".into(),
                "ceo@bigco.example".into(),
                "spam.example".into(),
            ],
        }
    }

    fn send(to: &[String]) -> SendCheck<'_> {
        SendCheck {
            recipients: to,
            draft_written_at: now() - Duration::hours(1),
            last_inbound_at: Some(now() - Duration::hours(2)),
            sent_today: 0,
        }
    }

    #[test]
    fn a_clean_send_passes() {
        let to = vec!["dana@acme.example".to_string()];
        assert_eq!(check_send(&rules(), &send(&to), |_| None, now()), Ok(()));
    }

    #[test]
    fn draft_only_never_sends() {
        let to = vec!["dana@acme.example".to_string()];
        let mut r = rules();
        r.mode = SafetyMode::DraftOnly;
        assert_eq!(
            check_send(&r, &send(&to), |_| None, now()),
            Err(Refusal::DraftOnly)
        );
    }

    #[test]
    fn the_suppression_list_matches_addresses_and_domains_in_any_case() {
        for (addr, rule) in [
            ("Bob@Competitor.Example", "@competitor.example"),
            ("CEO@bigco.example", "ceo@bigco.example"),
            ("x@spam.example", "spam.example"),
        ] {
            let to = vec![addr.to_string()];
            let err = check_send(&rules(), &send(&to), |_| None, now()).unwrap_err();
            assert_eq!(
                err,
                Refusal::Suppressed {
                    recipient: addr.into(),
                    rule: rule.into()
                }
            );
        }
        let to = vec!["cfo@bigco.example".to_string(), "a@notspam.example".to_string()];
        assert_eq!(check_send(&rules(), &send(&to), |_| None, now()), Ok(()));
    }

    #[test]
    fn a_reply_after_the_draft_makes_it_stale() {
        let to = vec!["dana@acme.example".to_string()];
        let mut s = send(&to);
        s.last_inbound_at = Some(now() - Duration::minutes(5));
        let err = check_send(&rules(), &s, |_| None, now()).unwrap_err();
        assert_eq!(err, Refusal::StaleDraft);
        assert!(err.to_string().contains("approve again"));
    }

    #[test]
    fn the_cap_and_the_cooldown_refuse_with_numbers() {
        let to = vec!["dana@acme.example".to_string()];
        let mut s = send(&to);
        s.sent_today = 3;
        let err = check_send(&rules(), &s, |_| None, now()).unwrap_err();
        assert_eq!(
            err.to_string().split(';').next().unwrap(),
            "daily send cap reached: 3 of 3 sent today"
        );
        let err = check_send(&rules(), &send(&to), |_| Some(now() - Duration::hours(5)), now()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("dana@acme.example was emailed 5 h ago"),
            "{err}"
        );
        assert_eq!(
            check_send(&rules(), &send(&to), |_| Some(now() - Duration::hours(25)), now()),
            Ok(())
        );
    }
}
