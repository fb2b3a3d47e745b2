//! Accounts: where API clients get their access tokens.
//!
//! For now tokens come from the environment (a ready access token, or a refresh token that
//! CaseyOS exchanges at the provider's token endpoint); the OS keyring and the browser sign-in
//! flow (`casey auth google`) plug in behind the same [`token::TokenSource`].

pub mod token;

use secrecy::SecretString;

use crate::config::Config;
use token::TokenSource;

fn env_secret(name: &str) -> Option<SecretString> {
    std::env::var(name)
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .map(SecretString::from)
}

/// Where Gmail's access tokens come from, if a Google account is connected:
/// `CASEYOS_GOOGLE_REFRESH_TOKEN` (refreshed at `[google] token_url` with `client_id` and
/// `client_secret`), else a ready access token in `CASEYOS_GOOGLE_TOKEN` (which cannot be
/// refreshed: when it expires, the sync says to run `casey auth google`).
pub fn google_tokens(config: &Config) -> Option<TokenSource> {
    if let Some(refresh) = env_secret("CASEYOS_GOOGLE_REFRESH_TOKEN") {
        let secret = env_secret("CASEYOS_GOOGLE_CLIENT_SECRET").or_else(|| {
            let s = config.google.client_secret.trim();
            (!s.is_empty()).then(|| SecretString::from(s.to_string()))
        });
        return Some(TokenSource::refreshing(
            &config.google.token_url,
            &config.google.client_id,
            secret,
            refresh,
        ));
    }
    env_secret("CASEYOS_GOOGLE_TOKEN").map(TokenSource::fixed)
}
