//! Access tokens for API clients: handed out while fresh, refreshed shortly before they expire
//! and once after the service rejects one (401). Concurrent callers share a single refresh.

use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

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
        "Google rejected the access token and CaseyOS cannot refresh it: run `casey auth google` \
         (or set CASEYOS_GOOGLE_REFRESH_TOKEN); everything already mirrored stays available offline"
    )]
    Expired,
    /// The refresh token was revoked or expired (`invalid_grant`).
    #[error(
        "Google no longer accepts CaseyOS's sign-in (invalid_grant): run `casey auth google` again \
         (or set a fresh CASEYOS_GOOGLE_REFRESH_TOKEN); everything already mirrored stays available offline"
    )]
    Revoked,
    /// The token endpoint refused for another reason (wrong client id, say).
    #[error("the token endpoint {url} refused the refresh ({status}: {reason}); check [google] client_id")]
    Refused {
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
    /// When to refresh (ahead of the real expiry).
    refresh_at: Option<Instant>,
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
        refresh_token: SecretString,
    },
}

/// Hands out access tokens for one account.
pub struct TokenSource {
    kind: Kind,
    current: tokio::sync::Mutex<Current>,
    refreshes: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.kind {
            Kind::Fixed => "fixed",
            Kind::Refresh { .. } => "refreshing",
        };
        f.debug_struct("TokenSource").field("kind", &kind).finish()
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct TokenErrorBody {
    #[serde(default)]
    error: String,
}

impl TokenSource {
    /// A ready access token that cannot be refreshed.
    pub fn fixed(token: SecretString) -> TokenSource {
        TokenSource {
            kind: Kind::Fixed,
            current: tokio::sync::Mutex::new(Current {
                token: Some(token),
                refresh_at: None,
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
            kind: Kind::Refresh {
                http: reqwest::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .user_agent(concat!("CaseyOS/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .unwrap_or_default(),
                token_url: token_url.to_string(),
                client_id: client_id.to_string(),
                client_secret,
                refresh_token,
            },
            current: tokio::sync::Mutex::new(Current {
                token: None,
                refresh_at: None,
                generation: 0,
                failed: None,
            }),
            refreshes: 0.into(),
        }
    }

    /// Refreshes done so far (tests check that concurrent callers share one).
    pub fn refreshes(&self) -> u64 {
        self.refreshes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A token good for at least another minute, refreshing first when needed.
    pub async fn access(&self) -> Result<Issued, TokenError> {
        let mut cur = self.current.lock().await;
        let fresh = cur.token.is_some() && cur.refresh_at.is_none_or(|at| Instant::now() < at);
        if !fresh {
            self.refresh(&mut cur).await?;
        }
        issued(&cur)
    }

    /// The service rejected the token of `generation` (401): get a new one, unless another
    /// caller already did meanwhile.
    pub async fn rejected(&self, generation: u64) -> Result<Issued, TokenError> {
        let mut cur = self.current.lock().await;
        if cur.generation == generation {
            if let Kind::Fixed = self.kind {
                return Err(TokenError::Expired);
            }
            self.refresh(&mut cur).await?;
        }
        issued(&cur)
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
            refresh_token,
        } = &self.kind
        else {
            return Err(TokenError::Expired);
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
        let resp = http
            .post(token_url)
            .form(&form)
            .send()
            .await
            .map_err(|e| network(e.without_url().to_string()))?;
        let status = resp.status().as_u16();
        let body = resp
            .text()
            .await
            .map_err(|e| network(e.without_url().to_string()))?;
        if !(200..300).contains(&status) {
            let reason = serde_json::from_str::<TokenErrorBody>(&body)
                .map(|b| b.error)
                .unwrap_or_default();
            tracing::warn!(status, reason, "token refresh refused");
            return Err(if reason == "invalid_grant" {
                TokenError::Revoked
            } else {
                TokenError::Refused {
                    url: token_url.clone(),
                    status,
                    reason,
                }
            });
        }
        let parsed: TokenResponse = serde_json::from_str(&body)
            .map_err(|e| network(format!("the answer is not a token response ({e})")))?;
        cur.token = Some(SecretString::from(parsed.access_token));
        cur.refresh_at = parsed.expires_in.map(|s| {
            let life = Duration::from_secs(s).min(LONGEST);
            Instant::now() + life.saturating_sub(EARLY.min(life / 2))
        });
        cur.generation += 1;
        tracing::info!(generation = cur.generation, "access token refreshed");
        Ok(())
    }
}

fn issued(cur: &Current) -> Result<Issued, TokenError> {
    match &cur.token {
        Some(t) => Ok(Issued {
            secret: t.clone(),
            generation: cur.generation,
        }),
        None => Err(TokenError::Expired),
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
        assert!(matches!(s.rejected(t.generation).await, Err(TokenError::Expired)));
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
            assert!(matches!(c.await.unwrap(), Err(TokenError::Revoked)));
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
}
