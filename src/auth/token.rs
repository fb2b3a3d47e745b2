//! Access tokens for API clients: handed out while fresh, refreshed shortly before they expire
//! and once after the service rejects one (401). Concurrent callers share a single refresh.

use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// Refresh when less than this is left of a token's life.
const EARLY: Duration = Duration::from_secs(60);

/// Why no usable token could be had; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The token was rejected and there is no refresh token to get another.
    #[error(
        "Google rejected the access token and CaseyOS cannot refresh it: run `casey auth google` \
         (or set CASEYOS_GOOGLE_REFRESH_TOKEN); everything already mirrored stays available offline"
    )]
    Expired,
    /// The refresh token was revoked or expired (`invalid_grant`).
    #[error(
        "Google no longer accepts CaseyOS's sign-in (invalid_grant): run `casey auth google` again; \
         everything already mirrored stays available offline"
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
    expires_at: Option<Instant>,
    generation: u64,
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
                expires_at: None,
                generation: 0,
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
                expires_at: None,
                generation: 0,
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
        let fresh = cur.token.is_some()
            && cur
                .expires_at
                .is_none_or(|at| at.saturating_duration_since(Instant::now()) > EARLY);
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

    async fn refresh(&self, cur: &mut Current) -> Result<(), TokenError> {
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
        cur.expires_at = parsed.expires_in.map(|s| Instant::now() + Duration::from_secs(s));
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
