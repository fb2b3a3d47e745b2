//! Access tokens for API clients: handed out while fresh, refreshed shortly before they expire
//! and once after the service rejects one (401). Concurrent callers share a single refresh.

use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::Account;

/// Refresh when less than this is left of a token's life (or half of it, for short lives).
const EARLY: Duration = Duration::from_secs(60);
/// Longest life believed (a token endpoint saying "forever" is not).
const LONGEST: Duration = Duration::from_secs(24 * 3600);
/// How long a failed refresh is remembered: callers waiting on it get its error instead of
/// each asking the token endpoint again.
const FAILURE_MEMORY: Duration = Duration::from_secs(30);

/// Why no usable token could be had; each says what to do.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TokenError {
    /// The token was rejected and there is no refresh token to get another.
    #[error(
        "{} sign-in needed: run `casey auth {}` (the access token was rejected and cannot be \
         refreshed; or {}). Everything already mirrored stays available offline",
        .account.title(), .account.name(), .account.env_hint()
    )]
    Expired {
        /// Whose token.
        account: Account,
    },
    /// The refresh token was revoked or expired (`invalid_grant`; HubSpot: `BAD_REFRESH_TOKEN`).
    #[error(
        "{} sign-in revoked or expired: run `casey auth {}` again (invalid_grant; or {}). \
         Everything already mirrored stays available offline",
        .account.title(), .account.name(), .account.env_hint()
    )]
    Revoked {
        /// Whose sign-in.
        account: Account,
    },
    /// The token endpoint refused for another reason (wrong client id, say).
    #[error(
        "the token endpoint {url} refused the refresh ({status}: {reason}); check [{}] client_id",
        .account.name()
    )]
    Refused {
        /// Whose sign-in.
        account: Account,
        /// Token endpoint.
        url: String,
        /// HTTP status.
        status: u16,
        /// The OAuth `error` code.
        reason: String,
    },
    /// The token endpoint could not be reached or answered nonsense.
    #[error("cannot refresh the access token at {url}: {detail}")]
    Network {
        /// Token endpoint.
        url: String,
        /// Why.
        detail: String,
    },
}

/// What a refresh brought: saved back to the keyring so the next run starts with it.
pub struct Refreshed {
    /// The new access token.
    pub access_token: SecretString,
    /// When it expires, as the token endpoint said.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// A new refresh token, when the provider rotates them.
    pub refresh_token: Option<SecretString>,
}

/// Called after every successful refresh.
pub type RefreshHook = Box<dyn Fn(&Refreshed) + Send + Sync>;

/// A token and which refresh produced it (so a 401 on an old token does not refresh twice).
#[derive(Clone)]
pub struct Issued {
    /// The bearer token.
    pub secret: SecretString,
    /// Increases with every refresh.
    pub generation: u64,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("secret", &"[redacted]")
            .field("generation", &self.generation)
            .finish()
    }
}

struct Current {
    token: Option<SecretString>,
    /// The refresh token (replaced when the provider rotates it).
    refresh_token: Option<SecretString>,
    /// When to refresh (ahead of the real expiry).
    refresh_at: Option<Instant>,
    /// When the token really expires (it still works between `refresh_at` and this).
    expires_at: Option<Instant>,
    generation: u64,
    /// The last refresh failed: when, and why.
    failed: Option<(Instant, TokenError)>,
}

enum Kind {
    Fixed,
    Refresh {
        http: reqwest::Client,
        token_url: String,
        client_id: String,
        client_secret: Option<SecretString>,
    },
}

/// Hands out access tokens for one account.
pub struct TokenSource {
    account: Account,
    kind: Kind,
    on_refresh: Option<RefreshHook>,
    current: tokio::sync::Mutex<Current>,
    refreshes: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            Kind::Fixed => "fixed",
            Kind::Refresh { .. } => "refreshing",
        };
        f.debug_struct("TokenSource")
            .field("account", &self.account)
            .field("kind", &kind)
            .finish()
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    refresh_token: Option<String>,
}

#[derive(Deserialize)]
struct TokenErrorBody {
    /// OAuth's error code (Google: `invalid_grant`).
    #[serde(default)]
    error: String,
    /// HubSpot's error code (`BAD_REFRESH_TOKEN` for a dead refresh token).
    #[serde(default)]
    status: String,
}

/// The HTTP client for token endpoints.
pub(crate) fn token_http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("CaseyOS/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// What a token endpoint answered.
pub(crate) enum Answer<T> {
    /// A token response.
    Token(T),
    /// A refusal: the HTTP status and the error code (OAuth's `error`, HubSpot's `status`),
    /// made safe to print.
    Refused {
        /// HTTP status.
        status: u16,
        /// Error code.
        reason: String,
    },
}

/// POSTs `form` to the token endpoint `url` and reads its answer. `Err` (unreachable, cut off,
/// not a token response) says why without quoting the answer, which may hold a token.
pub(crate) async fn post_token_form<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
) -> Result<Answer<T>, String> {
    let resp = http
        .post(url)
        .form(form)
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    let status = resp.status().as_u16();
    let body = resp.text().await.map_err(|e| e.without_url().to_string())?;
    if !(200..300).contains(&status) {
        let reason = serde_json::from_str::<TokenErrorBody>(&body)
            .map(|b| if b.error.is_empty() { b.status } else { b.error })
            .unwrap_or_default();
        let reason = crate::domain::text::sanitize_line(&reason)
            .chars()
            .take(80)
            .collect();
        return Ok(Answer::Refused { status, reason });
    }
    serde_json::from_str(&body).map(Answer::Token).map_err(|e| {
        format!(
            "the answer is not a token response (line {} column {})",
            e.line(),
            e.column()
        )
    })
}

impl TokenSource {
    /// A ready access token that cannot be refreshed.
    pub fn fixed(token: SecretString) -> TokenSource {
        TokenSource {
            account: Account::Google,
            kind: Kind::Fixed,
            on_refresh: None,
            current: tokio::sync::Mutex::new(Current {
                token: Some(token),
                refresh_token: None,
                refresh_at: None,
                expires_at: None,
                generation: 0,
                failed: None,
            }),
            refreshes: 0.into(),
        }
    }

    /// Tokens obtained from `token_url` with an OAuth refresh token (the first on first use).
    pub fn refreshing(
        token_url: &str,
        client_id: &str,
        client_secret: Option<SecretString>,
        refresh_token: SecretString,
    ) -> TokenSource {
        TokenSource {
            account: Account::Google,
            on_refresh: None,
            kind: Kind::Refresh {
                http: token_http(),
                token_url: token_url.to_string(),
                client_id: client_id.to_string(),
                client_secret,
            },
            current: tokio::sync::Mutex::new(Current {
                token: None,
                refresh_token: Some(refresh_token),
                refresh_at: None,
                expires_at: None,
                generation: 0,
                failed: None,
            }),
            refreshes: 0.into(),
        }
    }

    /// The same source for another account (its errors name that account).
    pub fn for_account(mut self, account: Account) -> TokenSource {
        self.account = account;
        self
    }

    /// Starts from a stored access token, used until shortly before `expires_at` (unknown
    /// expiry: until the service rejects it).
    pub fn with_current(
        self,
        token: SecretString,
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> TokenSource {
        let left = expires_at.map(|at| {
            (at - chrono::Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(LONGEST)
        });
        if let Ok(cur) = self.current.try_lock().as_deref_mut() {
            cur.token = Some(token);
            // A stored token is partly used: refresh once less than a minute of it is left.
            cur.refresh_at = left.map(|l| Instant::now() + l.saturating_sub(EARLY));
            cur.expires_at = left.map(|l| Instant::now() + l);
        }
        self
    }

    /// Calls `hook` after every successful refresh (to save the new token).
    pub fn on_refresh(mut self, hook: RefreshHook) -> TokenSource {
        self.on_refresh = Some(hook);
        self
    }

    /// Whose tokens these are.
    pub fn account(&self) -> Account {
        self.account
    }

    /// Refreshes done so far (tests check that concurrent callers share one).
    pub fn refreshes(&self) -> u64 {
        self.refreshes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A token good for at least another minute, refreshing first when needed.
    pub async fn access(&self) -> Result<Issued, TokenError> {
        let mut cur = self.current.lock().await;
        let fresh = cur.token.is_some() && cur.refresh_at.is_none_or(|at| Instant::now() < at);
        if !fresh && let Err(e) = self.refresh(&mut cur).await {
            // Refreshing early failed (offline, say): the current token still works until it
            // really expires.
            let alive = cur.token.is_some() && cur.expires_at.is_some_and(|at| Instant::now() < at);
            if !alive {
                return Err(e);
            }
            tracing::warn!("early token refresh failed, using the current token until it expires: {e}");
        }
        self.issued(&cur)
    }

    /// The service rejected the token of `generation` (401): get a new one, unless another
    /// caller already did meanwhile.
    pub async fn rejected(&self, generation: u64) -> Result<Issued, TokenError> {
        let mut cur = self.current.lock().await;
        if cur.generation == generation {
            if let Kind::Fixed = self.kind {
                return Err(TokenError::Expired {
                    account: self.account,
                });
            }
            self.refresh(&mut cur).await?;
        }
        self.issued(&cur)
    }

    fn issued(&self, cur: &Current) -> Result<Issued, TokenError> {
        match &cur.token {
            Some(t) => Ok(Issued {
                secret: t.clone(),
                generation: cur.generation,
            }),
            None => Err(TokenError::Expired {
                account: self.account,
            }),
        }
    }

    /// Refreshes, unless a refresh failed a moment ago: then its error, so that callers that
    /// queued behind a failing refresh do not each try again.
    async fn refresh(&self, cur: &mut Current) -> Result<(), TokenError> {
        if let Some((at, e)) = &cur.failed
            && at.elapsed() < FAILURE_MEMORY
        {
            return Err(e.clone());
        }
        let result = self.ask(cur).await;
        cur.failed = result.as_ref().err().map(|e| (Instant::now(), e.clone()));
        result
    }

    async fn ask(&self, cur: &mut Current) -> Result<(), TokenError> {
        let Kind::Refresh {
            http,
            token_url,
            client_id,
            client_secret,
        } = &self.kind
        else {
            return Err(TokenError::Expired {
                account: self.account,
            });
        };
        let Some(refresh_token) = cur.refresh_token.clone() else {
            return Err(TokenError::Expired {
                account: self.account,
            });
        };
        self.refreshes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose_secret()),
            ("client_id", client_id.as_str()),
        ];
        if let Some(s) = client_secret {
            form.push(("client_secret", s.expose_secret()));
        }
        let network = |detail: String| TokenError::Network {
            url: token_url.clone(),
            detail,
        };
        let parsed: TokenResponse = match post_token_form(http, token_url, &form).await.map_err(network)? {
            Answer::Token(t) => t,
            Answer::Refused { status, reason } => {
                tracing::warn!(status, reason, "token refresh refused");
                return Err(if reason == "invalid_grant" || reason == "BAD_REFRESH_TOKEN" {
                    TokenError::Revoked {
                        account: self.account,
                    }
                } else {
                    TokenError::Refused {
                        account: self.account,
                        url: token_url.clone(),
                        status,
                        reason,
                    }
                });
            }
        };
        let life = parsed.expires_in.map(|s| Duration::from_secs(s).min(LONGEST));
        let access = SecretString::from(parsed.access_token);
        let rotated = parsed
            .refresh_token
            .filter(|r| !r.is_empty())
            .map(SecretString::from);
        if let Some(hook) = &self.on_refresh {
            hook(&Refreshed {
                access_token: access.clone(),
                expires_at: life
                    .and_then(|l| chrono::Duration::from_std(l).ok())
                    .map(|l| chrono::Utc::now() + l),
                refresh_token: rotated.clone(),
            });
        }
        if let Some(r) = rotated {
            cur.refresh_token = Some(r);
        }
        cur.token = Some(access);
        cur.refresh_at = life.map(|life| Instant::now() + life.saturating_sub(EARLY.min(life / 2)));
        cur.expires_at = life.map(|life| Instant::now() + life);
        cur.generation += 1;
        tracing::info!(generation = cur.generation, "access token refreshed");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_fixed_token_is_handed_out_and_cannot_be_refreshed() {
        let s = TokenSource::fixed(SecretString::from("abc".to_string()));
        let t = s.access().await.unwrap();
        assert_eq!(t.secret.expose_secret(), "abc");
        assert!(matches!(
            s.rejected(t.generation).await,
            Err(TokenError::Expired { .. })
        ));
        assert!(!format!("{t:?}").contains("abc"));
    }

    async fn endpoint(answer: wiremock::ResponseTemplate) -> wiremock::MockServer {
        let server = wiremock::MockServer::start().await;
        wiremock::Mock::given(wiremock::matchers::method("POST"))
            .respond_with(answer)
            .mount(&server)
            .await;
        server
    }

    fn source(server: &wiremock::MockServer) -> TokenSource {
        TokenSource::refreshing(
            &format!("{}/token", server.uri()),
            "client",
            None,
            SecretString::from("refresh".to_string()),
        )
    }

    #[tokio::test]
    async fn an_absurd_lifetime_is_capped_and_a_short_one_is_refreshed_at_half_time() {
        let forever = endpoint(
            wiremock::ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"access_token": "a", "expires_in": u64::MAX})),
        )
        .await;
        let s = source(&forever);
        assert_eq!(s.access().await.unwrap().secret.expose_secret(), "a");
        s.access().await.unwrap();
        assert_eq!(s.refreshes(), 1, "good for a day, not forever, and no panic");
        let short = endpoint(
            wiremock::ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"access_token": "b", "expires_in": 30})),
        )
        .await;
        let s = source(&short);
        s.access().await.unwrap();
        s.access().await.unwrap();
        assert_eq!(
            s.refreshes(),
            1,
            "a 30 s token is used for 15 s, not refreshed every time"
        );
    }

    #[tokio::test]
    async fn a_failed_refresh_is_not_repeated_by_every_waiting_caller() {
        let revoked = endpoint(
            wiremock::ResponseTemplate::new(400).set_body_json(serde_json::json!({"error": "invalid_grant"})),
        )
        .await;
        let s = std::sync::Arc::new(source(&revoked));
        let callers: Vec<_> = (0..8)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(async move { s.access().await })
            })
            .collect();
        for c in callers {
            assert!(matches!(c.await.unwrap(), Err(TokenError::Revoked { .. })));
        }
        assert_eq!(s.refreshes(), 1);
        assert_eq!(revoked.received_requests().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn an_unreachable_token_endpoint_is_a_network_error_naming_it() {
        let s = TokenSource::refreshing(
            "http://127.0.0.1:9/token",
            "client",
            None,
            SecretString::from("refresh".to_string()),
        );
        let err = s.access().await.unwrap_err();
        assert!(matches!(err, TokenError::Network { .. }), "{err}");
        assert!(err.to_string().contains("127.0.0.1:9/token"));
        assert!(!err.to_string().contains("refresh\""));
    }

    #[tokio::test]
    async fn a_stored_token_is_used_until_it_expires_then_refreshed_once_for_all_callers() {
        let server = endpoint(
            wiremock::ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"access_token": "new", "expires_in": 3600})),
        )
        .await;
        let alive = source(&server).with_current(
            SecretString::from("stored".to_string()),
            Some(chrono::Utc::now() + chrono::Duration::hours(1)),
        );
        assert_eq!(alive.access().await.unwrap().secret.expose_secret(), "stored");
        assert_eq!(alive.refreshes(), 0);

        let expired = std::sync::Arc::new(source(&server).with_current(
            SecretString::from("stored".to_string()),
            Some(chrono::Utc::now() - chrono::Duration::minutes(5)),
        ));
        let callers: Vec<_> = (0..8)
            .map(|_| {
                let s = expired.clone();
                tokio::spawn(async move { s.access().await })
            })
            .collect();
        for c in callers {
            assert_eq!(c.await.unwrap().unwrap().secret.expose_secret(), "new");
        }
        assert_eq!(expired.refreshes(), 1, "eight callers, one refresh");
        assert_eq!(server.received_requests().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn an_early_refresh_that_fails_keeps_the_token_that_still_works() {
        let down = TokenSource::refreshing(
            "http://127.0.0.1:9/token",
            "client",
            None,
            SecretString::from("refresh".to_string()),
        )
        // 30 s left: inside the early-refresh margin, not yet expired.
        .with_current(
            SecretString::from("still-good".to_string()),
            Some(chrono::Utc::now() + chrono::Duration::seconds(30)),
        );
        assert_eq!(down.access().await.unwrap().secret.expose_secret(), "still-good");
        assert_eq!(down.refreshes(), 1, "it did try");
    }

    #[tokio::test]
    async fn a_refresh_saves_through_the_hook_and_adopts_a_rotated_refresh_token() {
        let server = endpoint(wiremock::ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"access_token": "a2", "expires_in": 1800, "refresh_token": "r2"}),
        ))
        .await;
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        let s = source(&server).on_refresh(Box::new(move |r: &Refreshed| {
            log.lock().unwrap().push((
                r.access_token.expose_secret().to_string(),
                r.refresh_token.as_ref().map(|t| t.expose_secret().to_string()),
                r.expires_at.is_some(),
            ));
        }));
        let t = s.access().await.unwrap();
        assert_eq!(t.secret.expose_secret(), "a2");
        assert_eq!(
            *seen.lock().unwrap(),
            vec![("a2".to_string(), Some("r2".to_string()), true)]
        );
        s.rejected(t.generation).await.unwrap();
        let forms: Vec<String> = server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
            .collect();
        assert!(
            forms[1].contains("refresh_token=r2"),
            "the rotated token is used: {forms:?}"
        );
    }

    #[tokio::test]
    async fn hubspot_bad_refresh_token_is_a_revoked_sign_in_naming_hubspot() {
        let server = endpoint(
            wiremock::ResponseTemplate::new(400).set_body_json(serde_json::json!({
                "status": "BAD_REFRESH_TOKEN",
                "message": "missing or unknown refresh token",
            })),
        )
        .await;
        let s = source(&server).for_account(Account::HubSpot);
        let err = s.access().await.unwrap_err();
        assert!(
            matches!(
                err,
                TokenError::Revoked {
                    account: Account::HubSpot
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("casey auth hubspot"), "{err}");
    }
}
