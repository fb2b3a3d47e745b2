//! OAuth 2 for an installed app: authorization code with PKCE (S256) and a random `state`,
//! a one-shot redirect listener on 127.0.0.1 (random free port, loopback only), the code
//! exchange, and revocation.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::token::{Answer, post_token_form, token_http};
use super::{Account, Grant, Method};

/// Why a sign-in did not complete. Nothing is stored after any of these.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// The account has no OAuth client configured.
    #[error("{0}")]
    NotConfigured(String),
    /// The loopback listener could not be opened.
    #[error("cannot listen on 127.0.0.1 for the browser's answer: {0}")]
    Listen(std::io::Error),
    /// The browser did not come back in time.
    #[error("no answer from the browser within {0} s; nothing was stored (run the command again)")]
    TimedOut(u64),
    /// The answer carried another `state` than the one sent: possibly forged.
    #[error(
        "the browser's answer did not carry the state CaseyOS sent (possible forgery); refused, nothing stored"
    )]
    StateMismatch,
    /// The provider (or the operator) refused.
    #[error("{provider} refused the sign-in ({error}); nothing was stored")]
    Denied {
        /// Provider.
        provider: &'static str,
        /// OAuth `error` code (sanitized).
        error: String,
    },
    /// The token endpoint refused the code.
    #[error("the token endpoint {url} refused the code ({status}: {reason}); nothing was stored")]
    Exchange {
        /// Token endpoint.
        url: String,
        /// HTTP status.
        status: u16,
        /// OAuth `error` code.
        reason: String,
    },
    /// The token endpoint could not be reached or answered nonsense.
    #[error("cannot exchange the code at {url}: {detail}; nothing was stored")]
    Network {
        /// Token endpoint.
        url: String,
        /// Why.
        detail: String,
    },
    /// The provider returned no refresh token (the sign-in would die within the hour).
    #[error(
        "{0} returned no refresh token; remove CaseyOS's access in your account's security settings and sign in again"
    )]
    NoRefreshToken(&'static str),
}

/// One OAuth provider as configured.
#[derive(Debug, Clone)]
pub struct Provider {
    /// Which account this signs in.
    pub account: Account,
    /// Authorization endpoint.
    pub auth_url: String,
    /// Token endpoint.
    pub token_url: String,
    /// Client id.
    pub client_id: String,
    /// Client secret (Google desktop apps: not confidential but sent; HubSpot: required).
    pub client_secret: Option<SecretString>,
    /// Scopes asked for.
    pub scopes: Vec<String>,
    /// Provider-specific authorization parameters.
    pub extra: Vec<(String, String)>,
    /// The redirect's host: `127.0.0.1` (Google), or `localhost` (HubSpot allows plain http
    /// only there).
    pub redirect_host: &'static str,
    /// The redirect's port; 0: any free one (Google accepts any loopback port; HubSpot needs
    /// the one registered with the app).
    pub redirect_port: u16,
}

impl Provider {
    /// Google's installed-app flow from `[google]`.
    pub fn google(config: &crate::config::Config) -> Result<Provider, SignInError> {
        let g = &config.google;
        if g.client_id.trim().is_empty() {
            return Err(SignInError::NotConfigured(
                "no Google OAuth client: create a Desktop app client in Google Cloud Console \
                 (APIs & Services → Credentials), enable the Gmail API, and put its id in \
                 [google] client_id and its secret in [google] client_secret (or CASEYOS_GOOGLE_CLIENT_SECRET)"
                    .into(),
            ));
        }
        Ok(Provider {
            account: Account::Google,
            auth_url: g.auth_url.clone(),
            token_url: g.token_url.clone(),
            client_id: g.client_id.trim().to_string(),
            client_secret: super::client_secret(config, Account::Google),
            scopes: g.scopes.clone(),
            // A refresh token, and a consent screen every time (else Google omits the refresh
            // token on a second sign-in).
            extra: vec![
                ("access_type".into(), "offline".into()),
                ("prompt".into(), "consent".into()),
            ],
            redirect_host: "127.0.0.1",
            redirect_port: 0,
        })
    }

    /// HubSpot's OAuth flow from `[hubspot]` (needs the app's client secret).
    pub fn hubspot(config: &crate::config::Config) -> Result<Provider, SignInError> {
        let h = &config.hubspot;
        let secret = super::client_secret(config, Account::HubSpot);
        if h.client_id.trim().is_empty() || secret.is_none() {
            return Err(SignInError::NotConfigured(
                "no HubSpot OAuth app: set [hubspot] client_id and client_secret (or \
                 CASEYOS_HUBSPOT_CLIENT_SECRET), or connect with a private-app token: \
                 `casey auth hubspot --token-stdin`"
                    .into(),
            ));
        }
        Ok(Provider {
            account: Account::HubSpot,
            auth_url: h.auth_url.clone(),
            token_url: h.token_url.clone(),
            client_id: h.client_id.trim().to_string(),
            client_secret: secret,
            scopes: h.scopes.clone(),
            extra: Vec::new(),
            redirect_host: "localhost",
            redirect_port: h.redirect_port,
        })
    }
}

/// A PKCE verifier and its S256 challenge.
pub struct Pkce {
    /// Sent with the code exchange.
    pub verifier: SecretString,
    /// Sent with the authorization request.
    pub challenge: String,
}

/// `n` random bytes, URL-safe base64 without padding.
pub fn random_token(n: usize) -> Result<String, std::io::Error> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The S256 challenge of a verifier: base64url(SHA-256(verifier)), no padding.
pub fn challenge_of(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

impl Pkce {
    /// A fresh verifier (64 characters from 48 random bytes) and its challenge.
    pub fn new() -> Result<Pkce, std::io::Error> {
        let verifier = random_token(48)?;
        Ok(Pkce {
            challenge: challenge_of(&verifier),
            verifier: SecretString::from(verifier),
        })
    }
}

/// The authorization URL the browser opens.
pub fn authorize_url(provider: &Provider, redirect_uri: &str, state: &str, challenge: &str) -> String {
    let scope = provider.scopes.join(" ");
    let mut params: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", &provider.client_id),
        ("redirect_uri", redirect_uri),
        ("scope", &scope),
        ("state", state),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in &provider.extra {
        params.push((k, v));
    }
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let sep = if provider.auth_url.contains('?') { '&' } else { '?' };
    format!("{}{sep}{query}", provider.auth_url)
}

/// The one-shot redirect listener, on loopback only: 127.0.0.1 (and ::1 too when the redirect
/// names `localhost`, which a browser may resolve either way).
pub struct Loopback {
    listeners: Vec<TcpListener>,
    host: &'static str,
    port: u16,
}

/// The largest request head read from the browser.
const MAX_REQUEST: usize = 16 * 1024;

impl Loopback {
    /// Binds 127.0.0.1 on `port` (0: one the OS picks) for a redirect to `host`
    /// (`127.0.0.1` or `localhost`).
    pub async fn bind(host: &'static str, port: u16) -> Result<Loopback, SignInError> {
        let v4 = TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(SignInError::Listen)?;
        let port = v4.local_addr().map_err(SignInError::Listen)?.port();
        let mut listeners = vec![v4];
        if host == "localhost" {
            match TcpListener::bind(("::1", port)).await {
                Ok(v6) => listeners.push(v6),
                Err(e) => tracing::debug!("no IPv6 loopback listener: {e}"),
            }
        }
        Ok(Loopback {
            listeners,
            host,
            port,
        })
    }

    /// The `redirect_uri` to register with the request.
    pub fn redirect_uri(&self) -> String {
        format!("http://{}:{}/", self.host, self.port)
    }

    /// Waits for the browser's redirect and returns the code once `state` matches. Each
    /// connection is answered on its own (an idle preconnect does not hold up the real
    /// answer); other requests (a favicon, a prefetch) get a 404 and waiting goes on.
    pub async fn wait(
        self,
        state: &str,
        provider: &'static str,
        timeout: Duration,
    ) -> Result<SecretString, SignInError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let (tx, mut rx) = tokio::sync::mpsc::channel(8);
        let state: std::sync::Arc<str> = state.into();
        let mut tasks = tokio::task::JoinSet::new();
        for listener in self.listeners {
            let (tx, state) = (tx.clone(), state.clone());
            tasks.spawn(async move {
                let mut answers = tokio::task::JoinSet::new();
                loop {
                    let stream = match listener.accept().await {
                        Ok((stream, _)) => stream,
                        Err(e) => {
                            tracing::warn!("loopback accept failed: {e}");
                            continue;
                        }
                    };
                    let (tx, state) = (tx.clone(), state.clone());
                    answers.spawn(async move {
                        if let Some(done) = answer(stream, &state, provider, deadline).await {
                            let _ = tx.send(done).await;
                        }
                    });
                }
            });
        }
        drop(tx);
        // Dropping the tasks (JoinSet) on return closes the listeners.
        tokio::select! {
            Some(done) = rx.recv() => done,
            () = tokio::time::sleep_until(deadline) => Err(SignInError::TimedOut(timeout.as_secs())),
        }
    }
}

/// Reads one request and answers it; `Some` when it ends the sign-in.
async fn answer(
    mut stream: TcpStream,
    state: &str,
    provider: &'static str,
    deadline: tokio::time::Instant,
) -> Option<Result<SecretString, SignInError>> {
    let per_request = (tokio::time::Instant::now() + Duration::from_secs(10)).min(deadline);
    let head = tokio::time::timeout_at(per_request, read_head(&mut stream))
        .await
        .ok()?
        .ok()?;
    let target = head.split_whitespace().nth(1).unwrap_or("").to_string();
    let Ok(url) = url::Url::parse(&format!("http://127.0.0.1{target}")) else {
        reply(&mut stream, 400, "Bad request.").await;
        return None;
    };
    if url.path() != "/" {
        reply(&mut stream, 404, "Not found.").await;
        return None;
    }
    let get = |key: &str| {
        url.query_pairs()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    };
    let (code, error, got_state) = (get("code"), get("error"), get("state"));
    if code.is_none() && error.is_none() {
        reply(
            &mut stream,
            400,
            "Waiting for the sign-in; this address is only for the browser's answer.",
        )
        .await;
        return None;
    }
    if !same(got_state.as_deref().unwrap_or(""), state) {
        reply(
            &mut stream,
            400,
            "CaseyOS refused this answer: it does not belong to the sign-in in progress. Nothing was stored.",
        )
        .await;
        return Some(Err(SignInError::StateMismatch));
    }
    if let Some(error) = error {
        let error = crate::domain::text::sanitize_line(&error)
            .chars()
            .take(100)
            .collect::<String>();
        reply(
            &mut stream,
            200,
            &format!(
                "The sign-in was refused ({}). Nothing was stored; you can close this tab.",
                html_escape(&error)
            ),
        )
        .await;
        return Some(Err(SignInError::Denied { provider, error }));
    }
    reply(
        &mut stream,
        200,
        &format!(
            "CaseyOS received the {provider} sign-in. You can close this tab and return to the terminal."
        ),
    )
    .await;
    code.map(|c| Ok(SecretString::from(c)))
}

async fn read_head(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while buf.len() < MAX_REQUEST {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let line_end = buf
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(buf.len());
    Ok(String::from_utf8_lossy(&buf[..line_end]).into_owned())
}

async fn reply(stream: &mut TcpStream, status: u16, message: &str) {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Bad Request",
    };
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>CaseyOS</title></head>\
         <body style=\"font-family:sans-serif;margin:3em\"><h1>CaseyOS</h1><p>{message}</p></body></html>"
    );
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if let Err(e) = stream.write_all(response.as_bytes()).await {
        tracing::debug!("loopback reply failed: {e}");
    }
    let _ = stream.shutdown().await;
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Compares without stopping at the first difference.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    scope: Option<String>,
}

/// Exchanges an authorization code (with the PKCE verifier) for a grant.
pub async fn exchange(
    provider: &Provider,
    code: &SecretString,
    verifier: &SecretString,
    redirect_uri: &str,
) -> Result<Grant, SignInError> {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.expose_secret()),
        ("redirect_uri", redirect_uri),
        ("client_id", provider.client_id.as_str()),
        ("code_verifier", verifier.expose_secret()),
    ];
    if let Some(s) = &provider.client_secret {
        form.push(("client_secret", s.expose_secret()));
    }
    let network = |detail: String| SignInError::Network {
        url: provider.token_url.clone(),
        detail,
    };
    let answer: TokenAnswer = match post_token_form(&token_http(), &provider.token_url, &form)
        .await
        .map_err(network)?
    {
        Answer::Token(t) => t,
        Answer::Refused { status, reason } => {
            return Err(SignInError::Exchange {
                url: provider.token_url.clone(),
                status,
                reason,
            });
        }
    };
    let refresh_token = answer.refresh_token.filter(|r| !r.is_empty());
    if refresh_token.is_none() {
        return Err(SignInError::NoRefreshToken(provider.account.title()));
    }
    let now = Utc::now();
    Ok(Grant {
        method: Method::Oauth,
        access_token: SecretString::from(answer.access_token),
        refresh_token: refresh_token.map(SecretString::from),
        expires_at: answer
            .expires_in
            .map(|s| now + chrono::Duration::seconds(s.clamp(0, 24 * 3600))),
        scopes: answer
            .scope
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .unwrap_or_else(|| provider.scopes.clone()),
        client_id: provider.client_id.clone(),
        connected_at: now,
    })
}

/// The whole installed-app flow: listen on loopback, hand the authorization URL to `open`
/// (which opens a browser and prints it), wait for the redirect, check `state`, exchange the
/// code. The caller stores the grant.
pub async fn sign_in(
    provider: &Provider,
    timeout: Duration,
    open: impl FnOnce(&str),
) -> Result<Grant, SignInError> {
    let loopback = Loopback::bind(provider.redirect_host, provider.redirect_port).await?;
    let redirect_uri = loopback.redirect_uri();
    let pkce = Pkce::new().map_err(SignInError::Listen)?;
    let state = random_token(24).map_err(SignInError::Listen)?;
    open(&authorize_url(provider, &redirect_uri, &state, &pkce.challenge));
    let code = loopback.wait(&state, provider.account.title(), timeout).await?;
    exchange(provider, &code, &pkce.verifier, &redirect_uri).await
}

/// Revokes a sign-in at the provider, where it supports that: Google's revoke endpoint (the
/// refresh token, which also ends its access tokens), HubSpot's refresh-token endpoint. A
/// private-app token cannot be revoked from outside HubSpot.
pub async fn revoke(config: &crate::config::Config, account: Account, grant: &Grant) -> Result<bool, String> {
    if grant.method == Method::PrivateApp {
        return Ok(false);
    }
    let token = grant.refresh_token.as_ref().unwrap_or(&grant.access_token);
    let request = match account {
        Account::Google => token_http()
            .post(&config.google.revoke_url)
            .form(&[("token", token.expose_secret())]),
        Account::HubSpot => {
            let base = config.hubspot.api_base.trim_end_matches('/');
            let mut url =
                url::Url::parse(&format!("{base}/oauth/v1/refresh-tokens/")).map_err(|e| e.to_string())?;
            url.path_segments_mut()
                .map_err(|_| "the HubSpot api_base cannot take a path".to_string())?
                .pop_if_empty()
                .push(token.expose_secret());
            token_http().delete(url)
        }
    };
    let resp = request.send().await.map_err(|e| e.without_url().to_string())?;
    let status = resp.status().as_u16();
    match (status, account) {
        (200..=299, _) => Ok(true),
        // Already revoked or expired: the goal is reached. (Google answers 400 invalid_token,
        // HubSpot 404 for a refresh token it does not know.)
        (400, Account::Google) | (404, Account::HubSpot) => Ok(true),
        _ => Err(format!("the provider answered HTTP {status}")),
    }
}

/// Opens `url` in the default browser; false when no opener could be started.
pub fn open_browser(url: &str) -> bool {
    let mut command = if cfg!(target_os = "macos") {
        std::process::Command::new("open")
    } else if cfg!(target_os = "windows") {
        let mut c = std::process::Command::new("rundll32");
        c.arg("url.dll,FileProtocolHandler");
        c
    } else {
        std::process::Command::new("xdg-open")
    };
    command
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_challenge_is_the_rfc_7636_example() {
        // RFC 7636, appendix B.
        assert_eq!(
            challenge_of("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let p = Pkce::new().unwrap();
        assert_eq!(p.verifier.expose_secret().len(), 64);
        assert_eq!(p.challenge, challenge_of(p.verifier.expose_secret()));
        assert_ne!(random_token(24).unwrap(), random_token(24).unwrap());
    }

    #[test]
    fn the_authorization_url_carries_pkce_state_and_scopes() {
        let provider = Provider {
            account: Account::Google,
            auth_url: "https://accounts.example/auth".into(),
            token_url: String::new(),
            client_id: "id.apps".into(),
            client_secret: None,
            scopes: vec!["a b".into(), "c".into()],
            extra: vec![("access_type".into(), "offline".into())],
            redirect_host: "127.0.0.1",
            redirect_port: 0,
        };
        let u = url::Url::parse(&authorize_url(&provider, "http://127.0.0.1:5/", "st", "ch")).unwrap();
        let q: std::collections::HashMap<_, _> = u.query_pairs().into_owned().collect();
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["code_challenge"], "ch");
        assert_eq!(q["state"], "st");
        assert_eq!(q["redirect_uri"], "http://127.0.0.1:5/");
        assert_eq!(q["scope"], "a b c");
        assert_eq!(q["access_type"], "offline");
        assert_eq!(q["response_type"], "code");
    }

    #[tokio::test]
    async fn the_listener_is_on_loopback_and_ignores_strays_until_the_answer() {
        let lb = Loopback::bind("127.0.0.1", 0).await.unwrap();
        assert!(lb.redirect_uri().starts_with("http://127.0.0.1:"));
        assert_eq!(lb.listeners.len(), 1);
        assert!(lb.listeners[0].local_addr().unwrap().ip().is_loopback());
        let uri = lb.redirect_uri();
        let waiting = tokio::spawn(async move { lb.wait("s", "Google", Duration::from_secs(60)).await });
        let favicon = reqwest::get(format!("{uri}favicon.ico")).await.unwrap();
        assert_eq!(favicon.status().as_u16(), 404);
        let bare = reqwest::get(&uri).await.unwrap();
        assert_eq!(bare.status().as_u16(), 400);
        let ok = reqwest::get(format!("{uri}?state=s&code=c0de")).await.unwrap();
        assert_eq!(ok.status().as_u16(), 200);
        let code = waiting.await.unwrap().unwrap();
        assert_eq!(code.expose_secret(), "c0de");
    }

    #[tokio::test]
    async fn an_idle_preconnect_does_not_hold_up_the_answer() {
        let lb = Loopback::bind("127.0.0.1", 0).await.unwrap();
        let uri = lb.redirect_uri();
        let addr = lb.listeners[0].local_addr().unwrap();
        let waiting = tokio::spawn(async move { lb.wait("s", "Google", Duration::from_secs(60)).await });
        // A browser opens a spare connection and sends nothing on it.
        let _idle = tokio::net::TcpStream::connect(addr).await.unwrap();
        reqwest::get(format!("{uri}?state=s&code=c")).await.unwrap();
        // Handled one at a time, the answer would wait out the idle one's 10 s read limit.
        let code = tokio::time::timeout(Duration::from_secs(5), waiting).await;
        assert_eq!(code.unwrap().unwrap().unwrap().expose_secret(), "c");
    }

    #[tokio::test]
    async fn a_localhost_redirect_listens_on_both_loopbacks() {
        let lb = Loopback::bind("localhost", 0).await.unwrap();
        assert!(lb.redirect_uri().starts_with("http://localhost:"));
        for l in &lb.listeners {
            assert!(l.local_addr().unwrap().ip().is_loopback());
        }
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_ends_cleanly_at_the_timeout() {
        let lb = Loopback::bind("127.0.0.1", 0).await.unwrap();
        let err = lb
            .wait("s", "Google", Duration::from_secs(300))
            .await
            .unwrap_err();
        assert!(matches!(err, SignInError::TimedOut(300)), "{err}");
        assert!(err.to_string().contains("nothing was stored"));
    }

    #[tokio::test]
    async fn a_denied_sign_in_is_reported_with_its_code_escaped() {
        let lb = Loopback::bind("127.0.0.1", 0).await.unwrap();
        let uri = lb.redirect_uri();
        let waiting = tokio::spawn(async move { lb.wait("s", "Google", Duration::from_secs(30)).await });
        let page = reqwest::get(format!("{uri}?state=s&error=%3Cb%3Eaccess_denied"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("&lt;b&gt;access_denied"), "{page}");
        let err = waiting.await.unwrap().unwrap_err();
        assert!(
            matches!(&err, SignInError::Denied { error, .. } if error == "<b>access_denied"),
            "{err}"
        );
    }
}
