//! Whether the configured API endpoints answer: one plain GET each, all at once, with a short
//! timeout. Any HTTP answer (even 404 or 401) means the host is reachable; no answer (refused,
//! unknown host, TLS failure, timeout) means it is not. No token is ever sent.

use std::time::{Duration, Instant};

use super::{Check, NETWORK, Status};
use crate::auth::{Account, AccountStatus, Origin};
use crate::config::Config;

/// How long one endpoint may take to answer.
pub(super) const TIMEOUT: Duration = Duration::from_secs(5);

/// An endpoint's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Answer {
    /// The HTTP status it answered with.
    pub status: u16,
    /// How long the answer took.
    pub millis: u128,
}

/// Asks every URL at once; the outcomes come back in the same order, an error saying why the
/// endpoint could not be reached.
pub(super) fn probe_all(urls: &[String], timeout: Duration) -> Vec<Result<Answer, String>> {
    let failed_all = |why: String| urls.iter().map(|_| Err(why.clone())).collect();
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return failed_all(format!("cannot start the network check: {e}")),
    };
    let client = match reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("CaseyOS/", env!("CARGO_PKG_VERSION"), " (doctor)"))
        .build()
    {
        Ok(c) => c,
        Err(e) => return failed_all(format!("cannot start the network check: {}", chain(&e))),
    };
    rt.block_on(futures::future::join_all(
        urls.iter().map(|url| probe(&client, url, timeout)),
    ))
}

async fn probe(client: &reqwest::Client, url: &str, timeout: Duration) -> Result<Answer, String> {
    let started = Instant::now();
    match client.get(url).send().await {
        Ok(response) => Ok(Answer {
            status: response.status().as_u16(),
            millis: started.elapsed().as_millis(),
        }),
        Err(e) if e.is_timeout() => Err(format!("no answer within {} s", timeout.as_secs())),
        Err(e) if e.is_connect() => Err(format!("cannot connect: {}", root_cause(&e))),
        Err(e) => Err(chain(&e)),
    }
}

/// The innermost cause ("Connection refused (os error 111)", "failed to lookup address
/// information: …"): what actually went wrong, without the layers that wrapped it.
fn root_cause(e: &reqwest::Error) -> String {
    let mut deepest: &dyn std::error::Error = e;
    while let Some(s) = deepest.source() {
        deepest = s;
    }
    deepest.to_string()
}

/// The causes under reqwest's own "error sending request" line ("Connection refused (os error
/// 111)", "dns error: …"), which say what actually went wrong.
fn causes(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    if parts.is_empty() {
        e.to_string()
    } else {
        parts.join(": ")
    }
}

fn chain(e: &reqwest::Error) -> String {
    let under = causes(e);
    let top = e.to_string();
    if under == top {
        top
    } else {
        format!("{top}: {under}")
    }
}

/// One endpoint to try, and whether anything connected uses it.
struct Endpoint {
    name: &'static str,
    url: String,
    used: bool,
}

fn endpoints(config: &Config, accounts: &[AccountStatus]) -> Vec<Endpoint> {
    let of = |a: Account| accounts.iter().find(|s| s.account == a);
    let connected = |a: Account| of(a).is_some_and(|s| s.connected());
    let refreshes = |a: Account| {
        of(a).is_some_and(|s| {
            s.connected() && (s.refreshable || s.origin == Some(Origin::Env("CASEYOS_GOOGLE_REFRESH_TOKEN")))
        })
    };
    let mut list = vec![
        Endpoint {
            name: "HubSpot API",
            url: config.hubspot.api_base.clone(),
            used: connected(Account::HubSpot),
        },
        Endpoint {
            name: "Gmail API",
            url: config.google.api_base.clone(),
            used: connected(Account::Google),
        },
    ];
    // Token endpoints matter only to sign-ins that refresh.
    if refreshes(Account::HubSpot) {
        list.push(Endpoint {
            name: "HubSpot sign-in",
            url: config.hubspot.token_url.clone(),
            used: true,
        });
    }
    if refreshes(Account::Google) {
        list.push(Endpoint {
            name: "Google sign-in",
            url: config.google.token_url.clone(),
            used: true,
        });
    }
    list
}

/// One check per endpoint: the API bases always, the token endpoints of sign-ins that refresh.
/// Unreachable is a problem for an endpoint something connected uses, else a warning.
pub(super) fn checks(config: &Config, accounts: &[AccountStatus]) -> Vec<Check> {
    let list = endpoints(config, accounts);
    let urls: Vec<String> = list.iter().map(|e| e.url.clone()).collect();
    let answers = probe_all(&urls, TIMEOUT);
    list.iter()
        .zip(answers)
        .map(|(e, answer)| endpoint_check(e, answer))
        .collect()
}

fn endpoint_check(e: &Endpoint, answer: Result<Answer, String>) -> Check {
    match answer {
        Ok(a) => Check::new(
            NETWORK,
            e.name,
            Status::Ok,
            format!("{} answered (HTTP {}, {} ms)", e.url, a.status, a.millis),
        ),
        Err(why) if e.used => Check::new(
            NETWORK,
            e.name,
            Status::Fail,
            format!("{} is unreachable: {why}", e.url),
        ),
        Err(why) => Check::new(
            NETWORK,
            e.name,
            Status::Warn,
            format!("{} is unreachable: {why} (nothing connected uses it yet)", e.url),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(account: Account) -> AccountStatus {
        AccountStatus::disconnected(account)
    }

    #[test]
    fn a_closed_port_is_unreachable_and_says_why_at_once() {
        // Bind then drop a listener: the port is free and nothing answers on it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let started = Instant::now();
        let out = probe_all(&[format!("http://127.0.0.1:{port}")], TIMEOUT);
        let err = out[0].clone().unwrap_err();
        assert!(err.starts_with("cannot connect"), "{err}");
        assert!(started.elapsed() < TIMEOUT, "refused is immediate, not a timeout");
    }

    #[test]
    fn token_endpoints_are_checked_only_for_sign_ins_that_refresh() {
        let config = Config::default();
        let mut hubspot = status(Account::HubSpot);
        hubspot.origin = Some(Origin::Env("CASEYOS_HUBSPOT_TOKEN"));
        let mut google = status(Account::Google);
        google.origin = Some(Origin::Keyring);
        google.refreshable = true;
        let list = endpoints(&config, &[hubspot, google]);
        let names: Vec<&str> = list.iter().map(|e| e.name).collect();
        assert_eq!(names, ["HubSpot API", "Gmail API", "Google sign-in"]);
        assert!(list.iter().all(|e| e.used));
        let list = endpoints(&config, &[status(Account::HubSpot), status(Account::Google)]);
        assert_eq!(list.len(), 2);
        assert!(list.iter().all(|e| !e.used));
    }
}
