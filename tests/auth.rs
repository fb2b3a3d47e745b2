//! Accounts end to end against the fake Google (authorization + token + revoke endpoints and
//! Gmail): the installed-app flow with PKCE verified by the server, a forged `state` refused,
//! refresh before expiry and after a 401 saved back to the secret store, `invalid_grant`
//! handled, logout revoking — with the sign-in landing in an in-memory secret store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support {
    pub mod fake_gmail;
    pub mod fake_hubspot;
    pub mod gmail_client;
}

use std::sync::Arc;
use std::time::Duration;

use caseyos::auth::oauth::{self, Provider, SignInError};
use caseyos::auth::secrets::{MemoryStore, SecretStore};
use caseyos::auth::{Account, Method, Vault};
use caseyos::config::Config;
use caseyos::connectors::gmail::client::GmailClient;
use caseyos::store::Store;
use secrecy::{ExposeSecret, SecretString};
use support::fake_gmail::{AuthorizeTwist, FakeGmail, REFRESH_TOKEN};
use support::gmail_client::{options, sync_options, t0};

const CLIENT_ID: &str = "casey-test-client.apps.example";

fn config(fake: &FakeGmail) -> Config {
    let mut c = Config::default();
    c.google.api_base = fake.uri();
    c.google.auth_url = fake.auth_url();
    c.google.token_url = fake.token_url();
    c.google.revoke_url = fake.revoke_url();
    c.google.client_id = CLIENT_ID.into();
    c.google.client_secret = "desktop-secret-not-confidential".into();
    c
}

/// The operator's browser: follows the authorization URL, whose redirect lands on the
/// loopback listener.
fn browser(url: &str) {
    let url = url.to_string();
    tokio::spawn(async move {
        let _ = reqwest::get(url).await;
    });
}

async fn sign_in(fake: &FakeGmail) -> Result<caseyos::auth::Grant, SignInError> {
    let provider = Provider::google(&config(fake)).unwrap();
    oauth::sign_in(&provider, Duration::from_secs(30), browser).await
}

fn vault() -> (Vault, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    (Vault::with_store(store.clone()), store)
}

#[tokio::test]
async fn the_google_flow_signs_in_with_pkce_syncs_refreshes_and_survives_revocation() {
    let fake = FakeGmail::with_mailbox(30, 10).await;
    let cfg = config(&fake);
    let (vault, store) = vault();

    let grant = sign_in(&fake).await.unwrap();
    vault.save(Account::Google, &grant).unwrap();

    // The server saw a proper authorization request and verified the PKCE verifier.
    let auths = fake.authorizations();
    assert_eq!(auths.len(), 1);
    let a = &auths[0];
    assert_eq!(a["code_challenge_method"], "S256");
    assert_eq!(a["access_type"], "offline");
    assert!(a["redirect_uri"].starts_with("http://127.0.0.1:"));
    assert!(a["scope"].contains("gmail.readonly") && a["scope"].contains("gmail.compose"));
    assert!(a["state"].len() >= 32, "a random state");
    assert_eq!(fake.pkce_verified(), 1);
    let exchange = &fake.token_requests()[0];
    assert_eq!(exchange["grant_type"], "authorization_code");
    assert_eq!(exchange["code_verifier"].len(), 64);
    assert!(
        !a.values().any(|v| v == &exchange["code_verifier"]),
        "the verifier never travels in the URL"
    );

    // What landed in the store: access + refresh token, expiry, the granted scopes.
    let stored = vault.load(Account::Google).unwrap().unwrap();
    assert_eq!(stored.method, Method::Oauth);
    assert_eq!(stored.access_token.expose_secret(), fake.current_token());
    assert_eq!(
        stored.refresh_token.as_ref().unwrap().expose_secret(),
        REFRESH_TOKEN
    );
    assert!(stored.expires_at.unwrap() > chrono::Utc::now() + chrono::Duration::minutes(50));
    assert_eq!(stored.scopes.len(), 2);
    assert_eq!(stored.client_id, CLIENT_ID);

    // A sync with the stored sign-in uses the stored access token: no refresh needed.
    let tokens = Arc::new(
        caseyos::auth::tokens(&cfg, &vault, Account::Google)
            .unwrap()
            .unwrap(),
    );
    let client = GmailClient::new(&fake.uri(), tokens.clone(), options()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut mirror = Store::open(&dir.path().join("casey.db")).unwrap();
    caseyos::sync::gmail::sync(&client, &mut mirror, &sync_options(), t0(), |_| {})
        .await
        .unwrap();
    assert_eq!(tokens.refreshes(), 0);
    let mirrored = mirror.table_count("messages").unwrap();
    assert!(mirrored > 0);

    // The token dies: one refresh after the 401, and the new token is saved back.
    fake.expire_token();
    fake.add_message(support::fake_gmail::NewMessage {
        from: "Ada <ada@customer.example>".into(),
        subject: "New".into(),
        text: "hello".into(),
        labels: vec!["INBOX".into()],
        internal_date_ms: t0().timestamp_millis() - 1000,
        ..Default::default()
    });
    caseyos::sync::gmail::sync(&client, &mut mirror, &sync_options(), t0(), |_| {})
        .await
        .unwrap();
    assert_eq!(tokens.refreshes(), 1);
    let saved = vault.load(Account::Google).unwrap().unwrap();
    assert_eq!(saved.access_token.expose_secret(), fake.current_token());
    assert_ne!(
        saved.access_token.expose_secret(),
        stored.access_token.expose_secret()
    );
    assert_eq!(
        saved.refresh_token.unwrap().expose_secret(),
        REFRESH_TOKEN,
        "kept"
    );

    // Revoked at Google: the sync says to sign in again, and the mirror is untouched.
    fake.revoke_refresh_token();
    fake.expire_token();
    let before = mirror.table_count("messages").unwrap();
    let err = caseyos::sync::gmail::sync(&client, &mut mirror, &sync_options(), t0(), |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("invalid_grant") && err.contains("casey auth google"),
        "{err}"
    );
    assert_eq!(mirror.table_count("messages").unwrap(), before);

    // Nothing in the store but the one sign-in.
    assert!(store.get("hubspot").unwrap().is_none());
}

#[tokio::test]
async fn a_forged_state_is_refused_and_nothing_is_exchanged_or_stored() {
    let fake = FakeGmail::with_mailbox(5, 2).await;
    fake.twist_next_authorization(AuthorizeTwist::WrongState);
    let err = sign_in(&fake).await.unwrap_err();
    assert!(matches!(err, SignInError::StateMismatch), "{err}");
    assert!(err.to_string().contains("nothing stored"));
    assert!(
        fake.token_requests().is_empty(),
        "the forged code was never exchanged"
    );
}

#[tokio::test]
async fn a_denied_consent_is_reported_and_nothing_is_exchanged() {
    let fake = FakeGmail::with_mailbox(5, 2).await;
    fake.twist_next_authorization(AuthorizeTwist::Deny);
    let err = sign_in(&fake).await.unwrap_err();
    assert!(
        matches!(&err, SignInError::Denied { error, .. } if error == "access_denied"),
        "{err}"
    );
    assert!(fake.token_requests().is_empty());
}

#[tokio::test]
async fn the_server_refuses_a_code_with_the_wrong_verifier() {
    let fake = FakeGmail::with_mailbox(5, 2).await;
    let provider = Provider::google(&config(&fake)).unwrap();
    // Play the browser by hand: authorize with one challenge, exchange with another verifier.
    let lb = oauth::Loopback::bind("127.0.0.1", 0).await.unwrap();
    let redirect = lb.redirect_uri();
    let pkce = oauth::Pkce::new().unwrap();
    let url = oauth::authorize_url(&provider, &redirect, "st8", &pkce.challenge);
    browser(&url);
    let code = lb.wait("st8", "Google", Duration::from_secs(30)).await.unwrap();
    let other = oauth::Pkce::new().unwrap();
    let err = oauth::exchange(&provider, &code, &other.verifier, &redirect)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SignInError::Exchange { reason, .. } if reason == "invalid_grant"),
        "{err}"
    );
    assert_eq!(fake.pkce_verified(), 0);
}

#[tokio::test]
async fn logout_revokes_at_google() {
    let fake = FakeGmail::with_mailbox(5, 2).await;
    let grant = sign_in(&fake).await.unwrap();
    assert!(
        oauth::revoke(&config(&fake), Account::Google, &grant)
            .await
            .unwrap()
    );
    assert_eq!(fake.revoked(), vec![REFRESH_TOKEN.to_string()]);
    // Revoking again is not an error: the goal is reached.
    assert!(
        oauth::revoke(&config(&fake), Account::Google, &grant)
            .await
            .unwrap()
    );
}

#[test]
fn without_a_client_id_the_flow_says_how_to_get_one() {
    let err = Provider::google(&Config::default()).unwrap_err().to_string();
    assert!(
        err.contains("[google] client_id") && err.contains("Desktop app"),
        "{err}"
    );
    let err = Provider::hubspot(&Config::default()).unwrap_err().to_string();
    assert!(err.contains("--token-stdin"), "{err}");
}

#[tokio::test]
async fn a_private_app_grant_is_fixed_and_its_401_says_run_casey_auth_hubspot() {
    let fake = support::fake_hubspot::FakeHubSpot::start(1, 2, 1, 1).await;
    let (vault, _) = vault();
    let mut cfg = Config::default();
    cfg.hubspot.api_base = fake.server.uri();
    vault
        .save(
            Account::HubSpot,
            &caseyos::auth::Grant {
                method: Method::PrivateApp,
                access_token: SecretString::from("pat-wrong".to_string()),
                refresh_token: None,
                expires_at: None,
                scopes: vec![],
                client_id: String::new(),
                connected_at: chrono::Utc::now(),
            },
        )
        .unwrap();
    let err = hubspot_sync(&cfg, &vault).await.result.unwrap_err();
    assert!(err.contains("casey auth hubspot"), "{err}");
}

/// One HubSpot sync with the stored sign-in, into a fresh mirror.
struct HubSpotRun {
    result: Result<(), String>,
    tokens: Arc<caseyos::auth::token::TokenSource>,
    mirror: Store,
    _dir: tempfile::TempDir,
}

async fn hubspot_sync(cfg: &Config, vault: &Vault) -> HubSpotRun {
    use caseyos::connectors::hubspot::client::{ClientOptions, HubSpotClient};
    let tokens = Arc::new(
        caseyos::auth::tokens(cfg, vault, Account::HubSpot)
            .unwrap()
            .unwrap(),
    );
    let client =
        HubSpotClient::with_tokens(&cfg.hubspot.api_base, tokens.clone(), ClientOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut mirror = Store::open(&dir.path().join("casey.db")).unwrap();
    let options = caseyos::sync::hubspot::SyncOptions::default();
    let result = caseyos::sync::hubspot::sync(&client, &mut mirror, &options, t0(), |_| {})
        .await
        .map(|_| ())
        .map_err(|e| e.to_string());
    HubSpotRun {
        result,
        tokens,
        mirror,
        _dir: dir,
    }
}

/// A token endpoint that hands out `access` (or refuses with `invalid_grant`), counting calls.
async fn token_endpoint(answer: serde_json::Value, status: u16) -> wiremock::MockServer {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path("/oauth/v1/token"))
        .respond_with(wiremock::ResponseTemplate::new(status).set_body_json(answer))
        .mount(&server)
        .await;
    server
}

fn hubspot_oauth_grant(access: &str) -> caseyos::auth::Grant {
    caseyos::auth::Grant {
        method: Method::Oauth,
        access_token: SecretString::from(access.to_string()),
        refresh_token: Some(SecretString::from("hs-refresh-not-a-secret".to_string())),
        // Still "valid" for an hour as far as CaseyOS knows: only the 401 says otherwise.
        expires_at: Some(chrono::Utc::now() + chrono::Duration::hours(1)),
        scopes: vec!["crm.objects.contacts.read".into()],
        client_id: "hs-client".into(),
        connected_at: chrono::Utc::now(),
    }
}

#[tokio::test]
async fn a_hubspot_oauth_sign_in_refreshes_once_after_a_401_and_saves_the_new_token() {
    let fake = support::fake_hubspot::FakeHubSpot::start(2, 5, 2, 2).await;
    let tokens_at = token_endpoint(
        serde_json::json!({"access_token": support::fake_hubspot::TOKEN, "refresh_token": "hs-refresh-not-a-secret", "expires_in": 1800}),
        200,
    )
    .await;
    let mut cfg = Config::default();
    cfg.hubspot.api_base = fake.server.uri();
    cfg.hubspot.token_url = format!("{}/oauth/v1/token", tokens_at.uri());
    cfg.hubspot.client_secret = "hs-app-secret".into();
    let (vault, _) = vault();
    vault
        .save(Account::HubSpot, &hubspot_oauth_grant("stale-hubspot-access"))
        .unwrap();

    let run = hubspot_sync(&cfg, &vault).await;
    run.result.unwrap();
    assert_eq!(run.tokens.refreshes(), 1, "one refresh for the whole sync");
    assert_eq!(run.mirror.table_count("contacts").unwrap(), 5);
    let requests = tokens_at.received_requests().await.unwrap();
    let form: std::collections::HashMap<String, String> = url::form_urlencoded::parse(&requests[0].body)
        .into_owned()
        .collect();
    assert_eq!(form["grant_type"], "refresh_token");
    assert_eq!(form["client_id"], "hs-client");
    assert_eq!(
        form["client_secret"], "hs-app-secret",
        "HubSpot needs the app secret"
    );
    let saved = vault.load(Account::HubSpot).unwrap().unwrap();
    assert_eq!(saved.access_token.expose_secret(), support::fake_hubspot::TOKEN);
}

#[tokio::test]
async fn a_revoked_hubspot_sign_in_says_run_casey_auth_hubspot() {
    let fake = support::fake_hubspot::FakeHubSpot::start(1, 2, 1, 1).await;
    let tokens_at = token_endpoint(
        serde_json::json!({"status": "BAD_REFRESH_TOKEN", "message": "missing or unknown refresh token", "correlationId": "c0ffee"}),
        400,
    )
    .await;
    let mut cfg = Config::default();
    cfg.hubspot.api_base = fake.server.uri();
    cfg.hubspot.token_url = format!("{}/oauth/v1/token", tokens_at.uri());
    let (vault, _) = vault();
    vault
        .save(Account::HubSpot, &hubspot_oauth_grant("stale"))
        .unwrap();
    let err = hubspot_sync(&cfg, &vault).await.result.unwrap_err();
    assert!(
        err.contains("HubSpot sign-in revoked or expired: run `casey auth hubspot` again"),
        "{err}"
    );
}

#[tokio::test]
async fn logout_revokes_a_hubspot_oauth_refresh_token() {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("DELETE"))
        .and(wiremock::matchers::path(
            "/oauth/v1/refresh-tokens/hs-refresh-not-a-secret",
        ))
        .respond_with(wiremock::ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let mut cfg = Config::default();
    cfg.hubspot.api_base = server.uri();
    assert!(
        oauth::revoke(&cfg, Account::HubSpot, &hubspot_oauth_grant("a"))
            .await
            .unwrap()
    );
    // A private-app token cannot be revoked from outside: nothing is asked.
    let mut private = hubspot_oauth_grant("pat");
    private.method = Method::PrivateApp;
    assert!(!oauth::revoke(&cfg, Account::HubSpot, &private).await.unwrap());
}

#[tokio::test]
async fn the_hubspot_flow_redirects_to_the_registered_localhost_port() {
    // The fake Google serves as any OAuth server here: it checks PKCE the same way.
    let fake = FakeGmail::with_mailbox(5, 2).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cfg = Config::default();
    cfg.hubspot.auth_url = fake.auth_url();
    cfg.hubspot.token_url = fake.token_url();
    cfg.hubspot.client_id = "hs-app".into();
    cfg.hubspot.client_secret = "hs-app-secret".into();
    cfg.hubspot.redirect_port = port;
    let provider = Provider::hubspot(&cfg).unwrap();
    let grant = oauth::sign_in(&provider, Duration::from_secs(30), browser)
        .await
        .unwrap();
    assert_eq!(grant.method, Method::Oauth);
    assert_eq!(
        fake.authorizations()[0]["redirect_uri"],
        format!("http://localhost:{port}/")
    );
    assert_eq!(fake.pkce_verified(), 1);
    let exchange = &fake.token_requests()[0];
    assert_eq!(exchange["client_secret"], "hs-app-secret");
    assert_eq!(exchange["redirect_uri"], format!("http://localhost:{port}/"));
}
