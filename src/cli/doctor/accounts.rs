//! The Accounts, Sync and Keyring checks: what each account is connected with and whether it
//! still works, how each source's last sync ended, and the keyring in use. Pure functions of
//! what was read, so every verdict is tested without a keyring or a mirror.

use chrono::{DateTime, Utc};

use super::{ACCOUNTS, Check, KEYRING, SYNC, Status, source_of};
use crate::auth::secrets::SecretStoreError;
use crate::auth::{Account, AccountStatus, Method, Origin};
use crate::config::Config;
use crate::domain::time::short_age;
use crate::store::SyncRecord;

/// `2026-11-20 14:00 UTC (1h ago)`.
fn when(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let age = short_age(t, now);
    let age = if t > now { age } else { format!("{age} ago") };
    format!("{} ({age})", t.format("%Y-%m-%d %H:%M UTC"))
}

/// `gmail.readonly` for `https://www.googleapis.com/auth/gmail.readonly`; other scopes as they are.
fn short_scope(scope: &str) -> &str {
    if scope.starts_with("https://") {
        scope.rsplit('/').next().unwrap_or(scope)
    } else {
        scope
    }
}

fn connect_hint(account: Account) -> &'static str {
    match account {
        Account::HubSpot => "run `casey auth hubspot` (or set CASEYOS_HUBSPOT_TOKEN)",
        Account::Google => "run `casey auth google` (or set CASEYOS_GOOGLE_REFRESH_TOKEN)",
    }
}

/// One account: connected or not, from where, how, and whether its token still works. Never
/// a token.
pub(super) fn account_check(
    st: &AccountStatus,
    keyring_ok: bool,
    config: &Config,
    now: DateTime<Utc>,
) -> Check {
    let account = st.account;
    let name = account.title();
    if let Some(problem) = &st.problem {
        return if keyring_ok {
            Check::new(
                ACCOUNTS,
                name,
                Status::Fail,
                format!("the stored sign-in cannot be read: {problem}"),
            )
        } else {
            Check::new(
                ACCOUNTS,
                name,
                Status::Warn,
                format!(
                    "not connected: no keyring to keep a sign-in in (see Keyring); {}",
                    connect_hint(account)
                ),
            )
        };
    }
    match st.origin {
        None => Check::new(
            ACCOUNTS,
            name,
            Status::Warn,
            format!("not connected: {}", connect_hint(account)),
        ),
        Some(Origin::Env(var)) => {
            if var == "CASEYOS_GOOGLE_REFRESH_TOKEN" && config.google.client_id.trim().is_empty() {
                Check::new(
                    ACCOUNTS,
                    name,
                    Status::Fail,
                    format!(
                        "connected from {var}, but [google] client_id is empty: a refresh token \
                         only works with the OAuth client it was issued to"
                    ),
                )
            } else if var == "CASEYOS_GOOGLE_TOKEN" {
                Check::new(
                    ACCOUNTS,
                    name,
                    Status::Ok,
                    format!(
                        "connected from {var} (environment): an access token that is not refreshed; \
                         it stops working when it expires (about an hour)"
                    ),
                )
            } else {
                Check::new(
                    ACCOUNTS,
                    name,
                    Status::Ok,
                    format!("connected from {var} (environment; it wins over the keyring)"),
                )
            }
        }
        Some(Origin::Keyring) => {
            let mut parts = vec!["connected (keyring)".to_string()];
            parts.push(
                match st.method {
                    Some(Method::Oauth) => "OAuth",
                    Some(Method::PrivateApp) => "private-app token",
                    None => "unknown method",
                }
                .to_string(),
            );
            if let Some(at) = st.connected_at {
                parts.push(format!("since {}", at.format("%Y-%m-%d")));
            }
            if !st.scopes.is_empty() {
                let scopes: Vec<&str> = st.scopes.iter().map(|s| short_scope(s)).collect();
                parts.push(format!("scopes {}", scopes.join(" ")));
            }
            let mut status = Status::Ok;
            match (st.method, st.expires_at) {
                (Some(Method::PrivateApp), _) => parts.push("does not expire".into()),
                (_, Some(at)) if st.refreshable => parts.push(format!(
                    "access token expires {}; refreshed automatically",
                    when(at, now)
                )),
                (_, Some(at)) if at <= now => {
                    status = Status::Fail;
                    parts.push(format!(
                        "access token expired {} and cannot be refreshed: run `casey auth {}` again",
                        when(at, now),
                        account.name()
                    ));
                }
                (_, Some(at)) => parts.push(format!(
                    "access token expires {} and cannot be refreshed",
                    when(at, now)
                )),
                (_, None) if st.refreshable => parts.push("refreshed automatically".into()),
                (_, None) => {}
            }
            Check::new(ACCOUNTS, name, status, parts.join(" · "))
        }
    }
}

/// How the last sync of an account's source ended. A failed last sync is a problem while the
/// account is connected (the next one will likely fail the same way); once disconnected it is
/// only history.
pub(super) fn sync_check(
    account: Account,
    record: Option<&SyncRecord>,
    connected: bool,
    now: DateTime<Utc>,
) -> Check {
    let source = source_of(account);
    let Some(r) = record else {
        return if connected {
            Check::new(
                SYNC,
                source,
                Status::Warn,
                format!("never synced: run `casey sync --{source}`"),
            )
        } else {
            Check::new(SYNC, source, Status::Warn, "never synced (not connected)")
        };
    };
    let Some(error) = &r.error else {
        return Check::new(
            SYNC,
            source,
            Status::Ok,
            format!("last synced {}", when(r.attempted_at, now)),
        );
    };
    let success = r
        .succeeded_at
        .map(|t| format!("last success {}", when(t, now)))
        .unwrap_or_else(|| "never succeeded".into());
    if connected {
        Check::new(
            SYNC,
            source,
            Status::Fail,
            format!(
                "last sync {} failed: {error} ({success})",
                when(r.attempted_at, now)
            ),
        )
    } else {
        Check::new(
            SYNC,
            source,
            Status::Warn,
            format!(
                "last sync {} failed: {error} ({success}); not connected now",
                when(r.attempted_at, now)
            ),
        )
    }
}

/// The keyring in use, or why there is none. No keyring is a problem only when an account
/// seems to need it: it synced before but is not connected now, so its sign-in may be in a
/// keyring this session cannot reach. Switched off on purpose (`none`) is never a problem.
pub(super) fn keyring_check(
    backend: &Result<String, SecretStoreError>,
    setting: &str,
    stranded: &[&str],
) -> Check {
    match backend {
        Ok(name) => Check::new(KEYRING, "backend", Status::Ok, name),
        Err(e) if setting == "none" || stranded.is_empty() => {
            Check::new(KEYRING, "backend", Status::Warn, e.to_string())
        }
        Err(e) => Check::new(
            KEYRING,
            "backend",
            Status::Fail,
            format!(
                "{} synced before but is not connected now, and {e}",
                stranded.join(" and ")
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, 15, 0, 0).unwrap()
    }

    fn status(account: Account) -> AccountStatus {
        AccountStatus::disconnected(account)
    }

    #[test]
    fn accounts_say_where_they_come_from_and_when_they_stop_working() {
        let config = Config::default();
        let none = account_check(&status(Account::HubSpot), true, &config, now());
        assert_eq!(none.status, Status::Warn);
        assert!(none.detail.contains("casey auth hubspot"), "{}", none.detail);

        let mut env = status(Account::HubSpot);
        env.origin = Some(Origin::Env("CASEYOS_HUBSPOT_TOKEN"));
        let c = account_check(&env, false, &config, now());
        assert_eq!(c.status, Status::Ok);
        assert!(c.detail.contains("CASEYOS_HUBSPOT_TOKEN"));

        // A refresh token from the environment needs the client it was issued to.
        let mut refresh = status(Account::Google);
        refresh.origin = Some(Origin::Env("CASEYOS_GOOGLE_REFRESH_TOKEN"));
        assert_eq!(account_check(&refresh, true, &config, now()).status, Status::Fail);

        let mut stored = status(Account::Google);
        stored.origin = Some(Origin::Keyring);
        stored.method = Some(Method::Oauth);
        stored.scopes = vec!["https://www.googleapis.com/auth/gmail.readonly".into()];
        stored.expires_at = Some(now() - chrono::Duration::hours(2));
        stored.refreshable = true;
        let c = account_check(&stored, true, &config, now());
        assert_eq!(c.status, Status::Ok, "{}", c.detail);
        assert!(c.detail.contains("scopes gmail.readonly"), "{}", c.detail);
        assert!(c.detail.contains("refreshed automatically"), "{}", c.detail);
        stored.refreshable = false;
        let c = account_check(&stored, true, &config, now());
        assert_eq!(c.status, Status::Fail, "{}", c.detail);
        assert!(c.detail.contains("casey auth google"), "{}", c.detail);

        // Unreadable: a problem when the keyring works, only "not connected" when there is none.
        let mut broken = status(Account::HubSpot);
        broken.problem = Some("the stored sign-in is damaged".into());
        assert_eq!(account_check(&broken, true, &config, now()).status, Status::Fail);
        assert_eq!(account_check(&broken, false, &config, now()).status, Status::Warn);
    }

    #[test]
    fn a_failed_last_sync_is_a_problem_only_while_connected() {
        let failed = SyncRecord {
            attempted_at: now() - chrono::Duration::hours(1),
            succeeded_at: None,
            error: Some("HubSpot answered 500".into()),
        };
        let c = sync_check(Account::HubSpot, Some(&failed), true, now());
        assert_eq!(c.status, Status::Fail);
        assert_eq!(
            c.detail,
            "last sync 2026-11-20 14:00 UTC (1h ago) failed: HubSpot answered 500 (never succeeded)"
        );
        assert_eq!(
            sync_check(Account::HubSpot, Some(&failed), false, now()).status,
            Status::Warn
        );
        assert_eq!(
            sync_check(Account::Google, None, true, now()).status,
            Status::Warn
        );
        let fine = SyncRecord {
            error: None,
            succeeded_at: Some(failed.attempted_at),
            ..failed
        };
        assert_eq!(
            sync_check(Account::Google, Some(&fine), true, now()).status,
            Status::Ok
        );
    }

    #[test]
    fn no_keyring_is_a_problem_only_for_an_account_that_needs_one() {
        let gone = Err(SecretStoreError::Unavailable("no OS keyring is available".into()));
        assert_eq!(keyring_check(&gone, "auto", &[]).status, Status::Warn);
        assert_eq!(keyring_check(&gone, "none", &["HubSpot"]).status, Status::Warn);
        let c = keyring_check(&gone, "auto", &["HubSpot"]);
        assert_eq!(c.status, Status::Fail);
        assert!(c.detail.starts_with("HubSpot synced before"), "{}", c.detail);
        let fine = Ok("Secret Service (D-Bus)".to_string());
        assert_eq!(keyring_check(&fine, "auto", &[]).status, Status::Ok);
    }
}
