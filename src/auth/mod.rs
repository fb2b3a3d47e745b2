//! Accounts: signing in (OAuth 2 with PKCE, or a HubSpot private-app token), keeping the
//! sign-in in the OS keyring, and handing API clients fresh access tokens.
//!
//! Where a client's tokens come from, first match wins:
//! 1. the environment (scripts, CI): `CASEYOS_HUBSPOT_TOKEN`; `CASEYOS_GOOGLE_REFRESH_TOKEN`
//!    (with `[google] client_id`) or `CASEYOS_GOOGLE_TOKEN`;
//! 2. the sign-in stored in the keyring by `casey auth google|hubspot`.
//!
//! Tokens live in memory as `secrecy` types and on disk only inside the keyring: never in the
//! mirror, the config, the log or any output.

pub mod oauth;
pub mod secrets;
pub mod token;

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use secrets::{SecretStore, SecretStoreError};
use token::TokenSource;

/// An account CaseyOS can connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Account {
    /// Gmail, through a Google sign-in.
    Google,
    /// HubSpot CRM.
    #[serde(rename = "hubspot")]
    HubSpot,
}

impl Account {
    /// Both accounts, in the order they are shown.
    pub const ALL: [Account; 2] = [Account::HubSpot, Account::Google];

    /// The name in commands and the keyring (`casey auth google`).
    pub fn name(self) -> &'static str {
        match self {
            Account::Google => "google",
            Account::HubSpot => "hubspot",
        }
    }

    /// The provider's name for people.
    pub fn title(self) -> &'static str {
        match self {
            Account::Google => "Google",
            Account::HubSpot => "HubSpot",
        }
    }

    /// The environment alternative to a stored sign-in, for error messages.
    pub fn env_hint(self) -> &'static str {
        match self {
            Account::Google => "set a fresh CASEYOS_GOOGLE_REFRESH_TOKEN",
            Account::HubSpot => "set a fresh CASEYOS_HUBSPOT_TOKEN",
        }
    }

    /// Parses `google` / `hubspot` (any case).
    pub fn parse(s: &str) -> Option<Account> {
        match s.to_ascii_lowercase().as_str() {
            "google" | "gmail" => Some(Account::Google),
            "hubspot" => Some(Account::HubSpot),
            _ => None,
        }
    }
}

/// How an account was connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// OAuth 2 authorization code with PKCE: an access token and a refresh token.
    Oauth,
    /// A HubSpot private-app token (does not expire, cannot be refreshed).
    PrivateApp,
}

/// A stored sign-in: what `casey auth` puts in the keyring (as one JSON secret).
#[derive(Clone)]
pub struct Grant {
    /// OAuth or private-app token.
    pub method: Method,
    /// The access (or private-app) token.
    pub access_token: SecretString,
    /// The refresh token (OAuth).
    pub refresh_token: Option<SecretString>,
    /// When the access token expires (OAuth).
    pub expires_at: Option<DateTime<Utc>>,
    /// Scopes granted.
    pub scopes: Vec<String>,
    /// The OAuth client id the tokens belong to (refreshes must use the same one).
    pub client_id: String,
    /// When the account was connected.
    pub connected_at: DateTime<Utc>,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field("method", &self.method)
            .field("access_token", &"[redacted]")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// The keyring's JSON form of a [`Grant`]; exists only while converting.
#[derive(Serialize, Deserialize)]
struct GrantRecord {
    version: u32,
    method: Method,
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    client_id: String,
    connected_at: DateTime<Utc>,
}

impl Grant {
    /// The sign-in as one secret (JSON) for the keyring.
    pub fn to_secret(&self) -> Result<SecretString, AuthError> {
        let record = GrantRecord {
            version: 1,
            method: self.method,
            access_token: self.access_token.expose_secret().to_string(),
            refresh_token: self.refresh_token.as_ref().map(|r| r.expose_secret().to_string()),
            expires_at: self.expires_at,
            scopes: self.scopes.clone(),
            client_id: self.client_id.clone(),
            connected_at: self.connected_at,
        };
        serde_json::to_string(&record)
            .map(SecretString::from)
            .map_err(|e| AuthError::Corrupt(e.to_string()))
    }

    /// Reads a sign-in stored by [`Grant::to_secret`].
    pub fn from_secret(secret: &SecretString) -> Result<Grant, AuthError> {
        // The serde error could quote the secret; say only where it broke.
        let record: GrantRecord = serde_json::from_str(secret.expose_secret())
            .map_err(|e| AuthError::Corrupt(format!("line {} column {}", e.line(), e.column())))?;
        Ok(Grant {
            method: record.method,
            access_token: SecretString::from(record.access_token),
            refresh_token: record.refresh_token.map(SecretString::from),
            expires_at: record.expires_at,
            scopes: record.scopes,
            client_id: record.client_id,
            connected_at: record.connected_at,
        })
    }
}

/// Why an account could not be read, stored or connected.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    /// No keyring (or it refused).
    #[error(transparent)]
    Store(#[from] SecretStoreError),
    /// The stored sign-in is not readable.
    #[error("the stored sign-in is damaged ({0}); run `casey auth logout <account>` and connect again")]
    Corrupt(String),
}

/// The keyring as the rest of CaseyOS sees it: opened on first use (so tokens from the
/// environment never touch it).
#[derive(Clone)]
pub struct Vault {
    accounts: crate::config::Accounts,
    /// The store once one answered; a failure is not kept, so a keyring that comes up later
    /// (started, unlocked) is found by the next call.
    store: Arc<Mutex<Option<Arc<dyn SecretStore>>>>,
}

impl Vault {
    /// The keyring chosen in `[accounts]`; a missing keyring is not fatal (env tokens and the
    /// offline mirror still work).
    pub fn open(config: &Config) -> Vault {
        Vault {
            accounts: config.accounts.clone(),
            store: Arc::default(),
        }
    }

    /// A vault over a given store (tests).
    pub fn with_store(store: Arc<dyn SecretStore>) -> Vault {
        Vault {
            accounts: Config::default().accounts,
            store: Arc::new(Mutex::new(Some(store))),
        }
    }

    fn opened(&self) -> Result<Arc<dyn SecretStore>, SecretStoreError> {
        let mut kept = self.store.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(store) = kept.as_ref() {
            return Ok(store.clone());
        }
        let store = secrets::open(&self.accounts)?;
        *kept = Some(store.clone());
        Ok(store)
    }

    /// The keyring backend in use, or why there is none.
    pub fn backend(&self) -> Result<String, SecretStoreError> {
        self.opened().map(|s| s.backend())
    }

    fn store(&self) -> Result<Arc<dyn SecretStore>, AuthError> {
        Ok(self.opened()?)
    }

    /// The stored sign-in of `account`, if any.
    pub fn load(&self, account: Account) -> Result<Option<Grant>, AuthError> {
        match self.store()?.get(account.name())? {
            Some(secret) => Grant::from_secret(&secret).map(Some),
            None => Ok(None),
        }
    }

    /// Stores (replaces) the sign-in of `account`.
    pub fn save(&self, account: Account, grant: &Grant) -> Result<(), AuthError> {
        let store = self.store()?;
        let mut secret = grant.to_secret()?;
        // Too big for the backend (Windows keeps 2,560 bytes; Google's access tokens may take
        // 2,048): keep the refresh token, and fetch a new access token on first use.
        if let (Some(max), Some(_)) = (store.max_len(), &grant.refresh_token)
            && secret.expose_secret().len() > max
        {
            let mut lean = grant.clone();
            lean.access_token = SecretString::from(String::new());
            lean.expires_at = Some(DateTime::<Utc>::UNIX_EPOCH);
            secret = lean.to_secret()?;
        }
        store.set(account.name(), &secret)?;
        Ok(())
    }

    /// Deletes the sign-in of `account`; whether there was one.
    pub fn delete(&self, account: Account) -> Result<bool, AuthError> {
        Ok(self.store()?.delete(account.name())?)
    }
}

fn env_secret(name: &str) -> Option<SecretString> {
    std::env::var(name)
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .map(SecretString::from)
}

fn configured(s: &str) -> Option<SecretString> {
    let s = s.trim();
    (!s.is_empty()).then(|| SecretString::from(s.to_string()))
}

/// The OAuth client secret of `account`: its environment variable, else the config.
pub fn client_secret(config: &Config, account: Account) -> Option<SecretString> {
    match account {
        Account::Google => {
            env_secret("CASEYOS_GOOGLE_CLIENT_SECRET").or_else(|| configured(&config.google.client_secret))
        }
        Account::HubSpot => {
            env_secret("CASEYOS_HUBSPOT_CLIENT_SECRET").or_else(|| configured(&config.hubspot.client_secret))
        }
    }
}

/// Where an account's tokens would come from now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// An environment variable (it wins over the keyring).
    Env(&'static str),
    /// The keyring.
    Keyring,
}

/// The environment variable that connects `account`, if one is set.
pub fn env_origin(account: Account) -> Option<&'static str> {
    let names: &[&'static str] = match account {
        Account::Google => &["CASEYOS_GOOGLE_REFRESH_TOKEN", "CASEYOS_GOOGLE_TOKEN"],
        Account::HubSpot => &["CASEYOS_HUBSPOT_TOKEN"],
    };
    names.iter().copied().find(|n| env_secret(n).is_some())
}

fn from_env(config: &Config, account: Account) -> Option<TokenSource> {
    match account {
        Account::Google => {
            if let Some(refresh) = env_secret("CASEYOS_GOOGLE_REFRESH_TOKEN") {
                return Some(TokenSource::refreshing(
                    &config.google.token_url,
                    &config.google.client_id,
                    client_secret(config, account),
                    refresh,
                ));
            }
            env_secret("CASEYOS_GOOGLE_TOKEN").map(TokenSource::fixed)
        }
        Account::HubSpot => {
            env_secret("CASEYOS_HUBSPOT_TOKEN").map(|t| TokenSource::fixed(t).for_account(Account::HubSpot))
        }
    }
}

/// A token source for a stored sign-in; refreshed tokens are saved back to the vault.
pub fn from_grant(config: &Config, vault: &Vault, account: Account, grant: Grant) -> TokenSource {
    let token_url = match account {
        Account::Google => &config.google.token_url,
        Account::HubSpot => &config.hubspot.token_url,
    };
    let source = match (&grant.method, &grant.refresh_token) {
        (Method::Oauth, Some(refresh)) => TokenSource::refreshing(
            token_url,
            &grant.client_id,
            client_secret(config, account),
            refresh.clone(),
        )
        .with_current(grant.access_token.clone(), grant.expires_at),
        _ => TokenSource::fixed(grant.access_token.clone()),
    };
    let vault = vault.clone();
    let kept = Mutex::new(grant);
    source
        .for_account(account)
        .on_refresh(Box::new(move |fresh: &token::Refreshed| {
            let Ok(mut grant) = kept.lock() else { return };
            grant.access_token = fresh.access_token.clone();
            grant.expires_at = fresh.expires_at;
            if let Some(r) = &fresh.refresh_token {
                grant.refresh_token = Some(r.clone());
            }
            // Only over the same sign-in: never over a newer `casey auth`, never back after a
            // logout. Not fatal either way: the refresh token works next time too.
            match vault.load(account) {
                Ok(Some(stored)) if stored.connected_at == grant.connected_at => {
                    if let Err(e) = vault.save(account, &grant) {
                        tracing::warn!(
                            account = account.name(),
                            "could not save the refreshed token: {e}"
                        );
                    }
                }
                Ok(_) => tracing::info!(
                    account = account.name(),
                    "the sign-in changed since this one was read; the refreshed token is not saved"
                ),
                Err(e) => tracing::warn!(
                    account = account.name(),
                    "could not save the refreshed token: {e}"
                ),
            }
        }))
}

/// Tokens for `account`: the environment first, then the keyring. `Ok(None)`: not connected.
pub fn tokens(config: &Config, vault: &Vault, account: Account) -> Result<Option<TokenSource>, AuthError> {
    if let Some(source) = from_env(config, account) {
        return Ok(Some(source));
    }
    Ok(vault
        .load(account)?
        .map(|grant| from_grant(config, vault, account, grant)))
}

/// The sign-in `account` would use now, as a marker that changes whenever it is connected
/// again (or its environment variable changes), with its tokens. `Ok(None)`: not connected;
/// `Err`: the keyring could not be asked (which says nothing about the sign-in).
pub fn current_sign_in(
    config: &Config,
    vault: &Vault,
    account: Account,
) -> Result<Option<(String, TokenSource)>, AuthError> {
    if let Some(var) = env_origin(account) {
        return Ok(from_env(config, account).map(|t| (format!("env:{var}"), t)));
    }
    Ok(vault.load(account)?.map(|grant| {
        (
            format!("keyring:{}", grant.connected_at.to_rfc3339()),
            from_grant(config, vault, account, grant),
        )
    }))
}

/// One account's state for `casey auth status` and `casey doctor`; never a token.
#[derive(Debug, Clone)]
pub struct AccountStatus {
    /// Which account.
    pub account: Account,
    /// Where its tokens come from; `None`: not connected.
    pub origin: Option<Origin>,
    /// How it was connected (keyring sign-ins only).
    pub method: Option<Method>,
    /// Scopes granted (keyring sign-ins only).
    pub scopes: Vec<String>,
    /// When the stored access token expires (it is refreshed automatically when there is a
    /// refresh token).
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether a refresh token is stored.
    pub refreshable: bool,
    /// When it was connected.
    pub connected_at: Option<DateTime<Utc>>,
    /// Why the stored sign-in could not be read, if so.
    pub problem: Option<String>,
}

impl AccountStatus {
    /// An account that is not connected.
    pub fn disconnected(account: Account) -> AccountStatus {
        AccountStatus {
            account,
            origin: None,
            method: None,
            scopes: Vec::new(),
            expires_at: None,
            refreshable: false,
            connected_at: None,
            problem: None,
        }
    }

    /// Connected (from the environment or the keyring) and readable.
    pub fn connected(&self) -> bool {
        self.origin.is_some() && self.problem.is_none()
    }
}

/// The state of every account: environment first (it wins), then the keyring.
pub fn status(vault: &Vault) -> Vec<AccountStatus> {
    Account::ALL
        .iter()
        .map(|&account| {
            let mut st = AccountStatus::disconnected(account);
            if let Some(var) = env_origin(account) {
                st.origin = Some(Origin::Env(var));
                return st;
            }
            match vault.load(account) {
                Ok(Some(g)) => {
                    st.origin = Some(Origin::Keyring);
                    st.method = Some(g.method);
                    st.scopes = g.scopes;
                    st.expires_at = g.expires_at;
                    st.refreshable = g.refresh_token.is_some();
                    st.connected_at = Some(g.connected_at);
                }
                // No keyring at all: simply not connected (the keyring line says why).
                Ok(None) | Err(AuthError::Store(SecretStoreError::Unavailable(_))) => {}
                Err(e) => st.problem = Some(e.to_string()),
            }
            st
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> Grant {
        Grant {
            method: Method::Oauth,
            access_token: SecretString::from("ya29.access".to_string()),
            refresh_token: Some(SecretString::from("1//refresh".to_string())),
            expires_at: Some(Utc::now()),
            scopes: vec!["a".into()],
            client_id: "client".into(),
            connected_at: Utc::now(),
        }
    }

    #[test]
    fn a_grant_round_trips_through_its_secret_form_and_never_prints_tokens() {
        let g = grant();
        let back = Grant::from_secret(&g.to_secret().unwrap()).unwrap();
        assert_eq!(back.access_token.expose_secret(), "ya29.access");
        assert_eq!(back.refresh_token.unwrap().expose_secret(), "1//refresh");
        assert_eq!(back.scopes, vec!["a".to_string()]);
        let shown = format!("{g:?}");
        assert!(!shown.contains("ya29") && !shown.contains("1//"), "{shown}");
    }

    #[test]
    fn a_damaged_entry_is_an_error_that_does_not_quote_it() {
        let err = Grant::from_secret(&SecretString::from(
            "{\"version\":1,\"access_token\":\"tok-123".to_string(),
        ))
        .unwrap_err();
        assert!(!err.to_string().contains("tok-123"), "{err}");
        assert!(err.to_string().contains("casey auth logout"), "{err}");
    }

    #[test]
    fn the_vault_stores_per_account() {
        let vault = Vault::with_store(Arc::new(secrets::MemoryStore::new()));
        vault.save(Account::Google, &grant()).unwrap();
        assert!(vault.load(Account::Google).unwrap().is_some());
        assert!(vault.load(Account::HubSpot).unwrap().is_none());
        assert!(vault.delete(Account::Google).unwrap());
        assert!(vault.load(Account::Google).unwrap().is_none());
    }

    #[test]
    fn without_a_keyring_loading_says_how_to_get_one() {
        let mut config = Config::default();
        config.accounts.keyring = "none".into();
        let vault = Vault::open(&config);
        let err = vault.load(Account::Google).unwrap_err();
        assert!(err.to_string().contains("keyring"), "{err}");
    }

    #[tokio::test]
    async fn a_refresh_is_saved_only_over_the_same_sign_in() {
        let server = wiremock::MockServer::start().await;
        wiremock::Mock::given(wiremock::matchers::method("POST"))
            .respond_with(
                wiremock::ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!({"access_token": "fresh", "expires_in": 3600})),
            )
            .mount(&server)
            .await;
        let mut config = Config::default();
        config.google.token_url = format!("{}/token", server.uri());
        let mut old = grant();
        old.expires_at = Some(Utc::now() - chrono::Duration::minutes(1));
        let vault = Vault::with_store(Arc::new(secrets::MemoryStore::new()));

        // Same sign-in: the refreshed token is saved.
        vault.save(Account::Google, &old).unwrap();
        let source = from_grant(&config, &vault, Account::Google, old.clone());
        source.access().await.unwrap();
        let saved = vault.load(Account::Google).unwrap().unwrap();
        assert_eq!(saved.access_token.expose_secret(), "fresh");

        // Signed in again meanwhile: the newer sign-in stays.
        let mut newer = grant();
        newer.connected_at = old.connected_at + chrono::Duration::seconds(5);
        newer.access_token = SecretString::from("newer".to_string());
        let source = from_grant(&config, &vault, Account::Google, old.clone());
        vault.save(Account::Google, &newer).unwrap();
        source.access().await.unwrap();
        let kept = vault.load(Account::Google).unwrap().unwrap();
        assert_eq!(kept.access_token.expose_secret(), "newer");

        // Logged out meanwhile: nothing comes back.
        let source = from_grant(&config, &vault, Account::Google, old);
        vault.delete(Account::Google).unwrap();
        source.access().await.unwrap();
        assert!(vault.load(Account::Google).unwrap().is_none());
    }

    #[test]
    fn a_sign_in_too_big_for_the_keyring_keeps_its_refresh_token() {
        let store = Arc::new(secrets::MemoryStore::with_limit(600));
        let vault = Vault::with_store(store);
        let mut big = grant();
        big.access_token = SecretString::from("a".repeat(2048));
        vault.save(Account::Google, &big).unwrap();
        let back = vault.load(Account::Google).unwrap().unwrap();
        assert_eq!(back.refresh_token.unwrap().expose_secret(), "1//refresh");
        assert!(back.expires_at.unwrap() < Utc::now(), "refreshed on first use");
    }
}
