//! `casey auth google|hubspot|status|logout`: connecting accounts. Sign-ins go to the OS
//! keyring only; no token is ever printed, logged or written to the mirror.

use std::io::{IsTerminal, Read, Write};
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};

use super::{AuthAction, Context, output};
use crate::auth::oauth::{self, Provider};
use crate::auth::{Account, AccountStatus, Grant, Method, Origin, Vault};

/// Runs one `casey auth` action.
pub fn run(ctx: &Context, action: AuthAction) -> anyhow::Result<()> {
    match action {
        AuthAction::Google { no_browser } => sign_in(ctx, Account::Google, no_browser),
        AuthAction::Hubspot {
            token_stdin: true, ..
        } => private_app(ctx),
        AuthAction::Hubspot { no_browser, .. } => sign_in(ctx, Account::HubSpot, no_browser),
        AuthAction::Status { json } => status(ctx, json),
        AuthAction::Logout { account } => logout(ctx, &account),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// The keyring, or why there is none — asked before anything else, so a sign-in is never
/// started that could not be kept.
fn keyring(ctx: &Context) -> anyhow::Result<(Vault, String)> {
    let vault = Vault::open(&ctx.config);
    let backend = vault.backend()?;
    Ok((vault, backend))
}

fn env_note(account: Account) {
    if let Some(var) = crate::auth::env_origin(account) {
        eprintln!("note: {var} is set and wins over the keyring; unset it to use this sign-in");
    }
}

/// The browser flow for Google or HubSpot.
fn sign_in(ctx: &Context, account: Account, no_browser: bool) -> anyhow::Result<()> {
    let provider = match account {
        Account::Google => Provider::google(&ctx.config)?,
        Account::HubSpot => Provider::hubspot(&ctx.config)?,
    };
    let (vault, backend) = keyring(ctx)?;
    let timeout = Duration::from_secs(ctx.config.accounts.sign_in_timeout_seconds);
    let grant = runtime()?.block_on(oauth::sign_in(&provider, timeout, |url| {
        eprintln!(
            "Sign in to {} in your browser{}:\n\n  {url}\n\nWaiting up to {} s for the browser to come back to 127.0.0.1 …",
            account.title(),
            if no_browser {
                " (open this address on this machine)"
            } else {
                " (opening it; if nothing opens, copy this address)"
            },
            timeout.as_secs()
        );
        if !no_browser && !oauth::open_browser(url) {
            eprintln!("(could not start a browser; open the address above yourself)");
        }
    }))?;
    vault
        .save(account, &grant)
        .with_context(|| format!("storing the {} sign-in in the {backend}", account.title()))?;
    tracing::info!(account = account.name(), backend, "account connected");
    output::print(&format!(
        "Connected {}: {} · kept in the {backend}. Next: `casey sync`.\n",
        account.title(),
        describe_scopes(&grant.scopes)
    ))?;
    env_note(account);
    Ok(())
}

fn describe_scopes(scopes: &[String]) -> String {
    if scopes.is_empty() {
        return "scopes of the private app".into();
    }
    let short: Vec<&str> = scopes.iter().map(|s| s.rsplit('/').next().unwrap_or(s)).collect();
    format!("scopes {}", short.join(", "))
}

/// Reads a private-app token: a prompt that does not echo on a terminal, else all of stdin.
fn read_token() -> anyhow::Result<SecretString> {
    let stdin = std::io::stdin();
    let raw = if stdin.is_terminal() {
        eprint!("HubSpot private-app token (input hidden, Enter to finish): ");
        std::io::stderr().flush()?;
        let t = read_hidden()?;
        eprintln!();
        t
    } else {
        let mut s = String::new();
        stdin
            .lock()
            .take(64 * 1024)
            .read_to_string(&mut s)
            .context("reading the token from stdin")?;
        s
    };
    let token = raw.trim().to_string();
    if token.is_empty() {
        anyhow::bail!("no token was given; nothing was stored");
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) || token.len() > 4096 {
        anyhow::bail!("that does not look like a HubSpot token (one line, no spaces); nothing was stored");
    }
    Ok(SecretString::from(token))
}

/// Reads a line from the terminal without echoing it.
fn read_hidden() -> anyhow::Result<String> {
    use crossterm::event::{Event, KeyCode, KeyEventKind, KeyModifiers, read};
    crossterm::terminal::enable_raw_mode()?;
    let mut s = String::new();
    let result = loop {
        match read() {
            Ok(Event::Key(k)) if k.kind != KeyEventKind::Release => match k.code {
                KeyCode::Enter => break Ok(()),
                KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => {
                    break Err(anyhow::anyhow!("cancelled; nothing was stored"));
                }
                KeyCode::Char('u') if k.modifiers.contains(KeyModifiers::CONTROL) => s.clear(),
                KeyCode::Backspace => {
                    s.pop();
                }
                KeyCode::Char(c) => s.push(c),
                _ => {}
            },
            Ok(Event::Paste(p)) => s.push_str(&p),
            Ok(_) => {}
            Err(e) => break Err(e.into()),
        }
    };
    crossterm::terminal::disable_raw_mode()?;
    result.map(|()| s)
}

/// What HubSpot says about a token, asked with one cheap read.
enum Verdict {
    Accepted,
    Rejected,
    MissingScope,
    Unknown(String),
}

async fn verify_hubspot(api_base: &str, token: &SecretString) -> Verdict {
    let url = format!(
        "{}/crm/v3/objects/contacts?limit=1",
        api_base.trim_end_matches('/')
    );
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .user_agent(concat!("CaseyOS/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => return Verdict::Unknown(e.to_string()),
    };
    match client.get(url).bearer_auth(token.expose_secret()).send().await {
        Ok(r) => match r.status().as_u16() {
            200..=299 => Verdict::Accepted,
            401 => Verdict::Rejected,
            403 => Verdict::MissingScope,
            s => Verdict::Unknown(format!("HubSpot answered HTTP {s}")),
        },
        Err(e) => Verdict::Unknown(e.without_url().to_string()),
    }
}

/// `casey auth hubspot --token-stdin`.
fn private_app(ctx: &Context) -> anyhow::Result<()> {
    let (vault, backend) = keyring(ctx)?;
    let token = read_token()?;
    match runtime()?.block_on(verify_hubspot(&ctx.config.hubspot.api_base, &token)) {
        Verdict::Accepted => {}
        Verdict::Rejected => anyhow::bail!(
            "HubSpot rejected this token (401); nothing was stored. Copy the access token from \
             HubSpot → Settings → Integrations → Private Apps"
        ),
        Verdict::MissingScope => eprintln!(
            "warning: the token works but cannot read contacts (403); give the private app the \
             crm.objects.contacts/companies/deals read scopes"
        ),
        Verdict::Unknown(why) => eprintln!(
            "warning: could not check the token with HubSpot ({why}); stored anyway, the next sync will tell"
        ),
    }
    let grant = Grant {
        method: Method::PrivateApp,
        access_token: token,
        refresh_token: None,
        expires_at: None,
        scopes: Vec::new(),
        client_id: String::new(),
        connected_at: Utc::now(),
    };
    vault
        .save(Account::HubSpot, &grant)
        .with_context(|| format!("storing the HubSpot token in the {backend}"))?;
    tracing::info!(account = "hubspot", backend, "account connected");
    output::print(&format!(
        "Connected HubSpot with a private-app token · kept in the {backend}. Next: `casey sync`.\n"
    ))?;
    env_note(Account::HubSpot);
    Ok(())
}

fn describe(st: &AccountStatus, now: chrono::DateTime<Utc>) -> String {
    if let Some(problem) = &st.problem {
        return format!("cannot be read: {problem}");
    }
    match st.origin {
        None => format!("not connected · run `casey auth {}`", st.account.name()),
        Some(Origin::Env(var)) => format!("connected · from {var} (wins over the keyring)"),
        Some(Origin::Keyring) => {
            let mut parts = vec!["connected".to_string()];
            parts.push(
                match st.method {
                    Some(Method::PrivateApp) => "private-app token",
                    _ => "OAuth",
                }
                .to_string(),
            );
            if st.method != Some(Method::PrivateApp) {
                parts.push(describe_scopes(&st.scopes));
            }
            if let Some(at) = st.expires_at {
                let when = at.format("%Y-%m-%d %H:%M UTC");
                parts.push(match (at > now, st.refreshable) {
                    (true, true) => format!("access token until {when}, then refreshed automatically"),
                    (false, true) => format!("access token expired {when}; refreshed on next use"),
                    (true, false) => format!("access token until {when} (no refresh token)"),
                    (false, false) => format!("expired {when}: run `casey auth {}`", st.account.name()),
                });
            }
            if let Some(at) = st.connected_at {
                parts.push(format!("connected {}", at.format("%Y-%m-%d")));
            }
            parts.join(" · ")
        }
    }
}

/// `casey auth status`.
fn status(ctx: &Context, json: bool) -> anyhow::Result<()> {
    let vault = Vault::open(&ctx.config);
    let statuses = crate::auth::status(&vault);
    let backend = vault.backend();
    let now = ctx.clock.now();
    if json {
        let accounts: Vec<serde_json::Value> = statuses
            .iter()
            .map(|st| {
                serde_json::json!({
                    "account": st.account.name(),
                    "connected": st.connected(),
                    "origin": match st.origin {
                        Some(Origin::Env(var)) => serde_json::json!({"env": var}),
                        Some(Origin::Keyring) => serde_json::json!("keyring"),
                        None => serde_json::Value::Null,
                    },
                    "method": st.method,
                    "scopes": st.scopes,
                    "expires_at": st.expires_at,
                    "refreshable": st.refreshable,
                    "problem": st.problem,
                })
            })
            .collect();
        let doc = serde_json::json!({
            "accounts": accounts,
            "keyring": match &backend {
                Ok(b) => serde_json::json!({"backend": b}),
                Err(e) => serde_json::json!({"unavailable": e.to_string()}),
            },
        });
        return output::print(&format!("{}\n", serde_json::to_string_pretty(&doc)?));
    }
    let mut out = String::new();
    for st in &statuses {
        out.push_str(&format!("{:<8} {}\n", st.account.title(), describe(st, now)));
    }
    out.push_str(&match backend {
        Ok(b) => format!("keyring  {b}\n"),
        Err(e) => format!("keyring  unavailable: {e}\n"),
    });
    output::print(&out)
}

/// `casey auth logout <account>`.
fn logout(ctx: &Context, name: &str) -> anyhow::Result<()> {
    let account = Account::parse(name)
        .ok_or_else(|| anyhow::anyhow!("unknown account {name:?}: use `google` or `hubspot`"))?;
    let (vault, backend) = keyring(ctx)?;
    let grant = match vault.load(account) {
        Ok(Some(grant)) => grant,
        Ok(None) => {
            output::print(&format!(
                "{} has no sign-in in the {backend}; nothing to do.\n",
                account.title()
            ))?;
            env_note(account);
            return Ok(());
        }
        // A damaged entry cannot be revoked, but it must still be possible to remove it.
        Err(crate::auth::AuthError::Corrupt(why)) => {
            vault.delete(account)?;
            output::print(&format!(
                "Removed the damaged {} sign-in ({why}) from the {backend}; it could not be revoked \
                 at the provider. Run `casey auth {}` to connect again.\n",
                account.title(),
                account.name()
            ))?;
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let revoked = runtime()?.block_on(oauth::revoke(&ctx.config, account, &grant));
    let revoke_line = match (revoked, account) {
        (Ok(true), _) => format!("revoked at {}", account.title()),
        (Ok(false), _) => "a private-app token cannot be revoked from here: rotate or delete it in \
                           HubSpot → Settings → Integrations → Private Apps"
            .to_string(),
        (Err(why), Account::Google) => format!(
            "could not revoke at Google ({why}); remove CaseyOS at https://myaccount.google.com/permissions"
        ),
        (Err(why), Account::HubSpot) => format!(
            "could not revoke at HubSpot ({why}); uninstall the app under HubSpot → Settings → Integrations → Connected Apps"
        ),
    };
    vault.delete(account)?;
    tracing::info!(account = account.name(), "account disconnected");
    output::print(&format!(
        "Disconnected {} ({revoke_line}); removed from the {backend}. The mirror stays on this machine.\n",
        account.title()
    ))?;
    env_note(account);
    Ok(())
}
