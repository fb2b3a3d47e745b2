//! The real OS keyring, and `casey auth` through the binary with it.
//!
//! Each test runs once per backend this machine offers (on Linux: the Secret Service and the
//! kernel keyring). Without one it prints why and passes, so plain `cargo test` stays green
//! anywhere; `.ci/run` installs both and sets `CASEYOS_REQUIRE_KEYRING=1`, which turns a
//! missing backend into a failure. Entries go under a service name unique to the test run and
//! are deleted at the end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support {
    pub mod fake_gmail;
    pub mod fake_hubspot;
}

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use caseyos::auth::secrets::{self, SecretStore};
use caseyos::auth::{Account, Vault};
use caseyos::config::Accounts;
use secrecy::{ExposeSecret, SecretString};
use support::fake_gmail::{FakeGmail, REFRESH_TOKEN};
use support::fake_hubspot::FakeHubSpot;

/// The backends to exercise on this platform.
fn backends() -> &'static [&'static str] {
    if cfg!(target_os = "linux") {
        &["secret-service", "keyutils"]
    } else {
        &["auto"]
    }
}

fn required() -> bool {
    std::env::var("CASEYOS_REQUIRE_KEYRING").is_ok_and(|v| !v.is_empty() && v != "0")
}

fn unique_service(test: &str) -> String {
    format!(
        "caseyos-test-{test}-{}-{}",
        std::process::id(),
        caseyos::auth::oauth::random_token(6).unwrap()
    )
}

fn accounts(backend: &str, service: &str) -> Accounts {
    Accounts {
        keyring: backend.into(),
        keyring_service: service.into(),
        sign_in_timeout_seconds: 60,
    }
}

/// The store for `backend`, or `None` after saying why it is skipped.
fn open(backend: &str, service: &str) -> Option<Arc<dyn SecretStore>> {
    match secrets::open(&accounts(backend, service)) {
        Ok(store) => Some(store),
        Err(e) if required() => panic!("CASEYOS_REQUIRE_KEYRING is set but {backend} is unavailable: {e}"),
        Err(e) => {
            eprintln!("SKIPPED {backend}: {e}");
            None
        }
    }
}

#[test]
fn each_backend_round_trips_replaces_and_deletes_a_sign_in() {
    for backend in backends() {
        let service = unique_service("roundtrip");
        let Some(store) = open(backend, &service) else {
            continue;
        };
        assert!(!store.backend().is_empty());
        assert!(
            store.get("google").unwrap().is_none(),
            "{backend}: a fresh service is empty"
        );
        // A realistic sign-in: JSON of ~2 KB with non-ASCII in it.
        let big = format!("{{\"k\":\"{}é✓\"}}", "x".repeat(2000));
        store
            .set("google", &SecretString::from("first".to_string()))
            .unwrap();
        store.set("google", &SecretString::from(big.clone())).unwrap();
        assert_eq!(
            store.get("google").unwrap().unwrap().expose_secret(),
            big,
            "{backend}"
        );
        assert!(
            store.get("hubspot").unwrap().is_none(),
            "{backend}: entries are per account"
        );
        assert!(store.delete("google").unwrap(), "{backend}");
        assert!(
            !store.delete("google").unwrap(),
            "{backend}: deleting twice is fine"
        );
        assert!(store.get("google").unwrap().is_none(), "{backend}");

        // Through the vault, as `casey auth` uses it.
        let vault = Vault::with_store(store.clone());
        let grant = caseyos::auth::Grant {
            method: caseyos::auth::Method::PrivateApp,
            access_token: SecretString::from("pat-na1-roundtrip".to_string()),
            refresh_token: None,
            expires_at: None,
            scopes: vec![],
            client_id: String::new(),
            connected_at: chrono::Utc::now(),
        };
        vault.save(Account::HubSpot, &grant).unwrap();
        let back = vault.load(Account::HubSpot).unwrap().unwrap();
        assert_eq!(back.access_token.expose_secret(), "pat-na1-roundtrip");
        assert!(vault.delete(Account::HubSpot).unwrap());
    }
}

/// One `casey` run's result.
struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// A sandbox: config and data in temporary directories, the fakes, one keyring service.
struct Bench {
    config_dir: tempfile::TempDir,
    data: tempfile::TempDir,
    outputs: Vec<String>,
}

impl Bench {
    fn new(backend: &str, service: &str, gmail: &FakeGmail, hubspot: &FakeHubSpot) -> Bench {
        let config_dir = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        let config = format!(
            r#"
[hubspot]
api_base = "{hubspot}"

[google]
api_base = "{gmail}"
auth_url = "{auth}"
token_url = "{token}"
revoke_url = "{revoke}"
client_id = "casey-test-client.apps.example"
client_secret = "desktop-secret-not-confidential"

[accounts]
keyring = "{backend}"
keyring_service = "{service}"
sign_in_timeout_seconds = 60
"#,
            hubspot = hubspot.server.uri(),
            gmail = gmail.uri(),
            auth = gmail.auth_url(),
            token = gmail.token_url(),
            revoke = gmail.revoke_url(),
        );
        std::fs::write(config_dir.path().join("config.toml"), config).unwrap();
        Bench {
            config_dir,
            data,
            outputs: Vec::new(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_casey"));
        c.env("CASEYOS_DATA_DIR", self.data.path())
            .env("CASEYOS_CONFIG", self.config_dir.path().join("config.toml"))
            .env("CASEYOS_LOG", "trace")
            .env("NO_COLOR", "1")
            .env_remove("CASEYOS_HUBSPOT_TOKEN")
            .env_remove("CASEYOS_GOOGLE_TOKEN")
            .env_remove("CASEYOS_GOOGLE_REFRESH_TOKEN")
            .env_remove("CASEYOS_GOOGLE_CLIENT_SECRET")
            .args(args);
        c
    }

    fn keep(&mut self, out: std::process::Output) -> Run {
        let run = Run {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        self.outputs.push(run.stdout.clone());
        self.outputs.push(run.stderr.clone());
        run
    }

    /// Runs `casey` to the end (off the runtime the fakes answer on).
    async fn casey(&mut self, args: &[&str], stdin: Option<&str>) -> Run {
        let mut cmd = self.command(args);
        let stdin = stdin.map(str::to_string);
        let out = tokio::task::spawn_blocking(move || {
            cmd.stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
            let mut child = cmd.spawn().unwrap();
            if let Some(text) = stdin {
                child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
            }
            child.wait_with_output().unwrap()
        })
        .await
        .unwrap();
        self.keep(out)
    }

    /// `casey auth google --no-browser`, playing the browser: reads the address it prints and
    /// follows it (the fake redirects to casey's loopback listener).
    async fn sign_in_google(&mut self) -> Run {
        let mut child = self
            .command(&["auth", "google", "--no-browser"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let reader = tokio::task::spawn_blocking(move || {
            let mut seen = String::new();
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let line = line.unwrap();
                if let Some(url) = line.trim().strip_prefix("http")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(format!("http{url}"));
                }
                seen.push_str(&line);
                seen.push('\n');
            }
            seen
        });
        let url = rx.await.expect("casey printed the sign-in address");
        let page = reqwest::get(&url).await.unwrap().text().await.unwrap();
        assert!(page.contains("You can close this tab"), "{page}");
        let stderr = reader.await.unwrap();
        let mut out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
            .await
            .unwrap();
        out.stderr = stderr.into_bytes();
        self.keep(out)
    }

    /// Every file under the data dir (mirror, WAL, log).
    fn data_files(&self) -> Vec<(String, Vec<u8>)> {
        fn walk(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push((
                        path.display().to_string(),
                        std::fs::read(&path).unwrap_or_default(),
                    ));
                }
            }
        }
        let mut out = Vec::new();
        walk(self.data.path(), &mut out);
        out
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_sync_refresh_and_logout_through_the_binary_leave_no_token_anywhere() {
    for backend in backends() {
        let service = unique_service("binary");
        let Some(store) = open(backend, &service) else {
            continue;
        };
        let gmail = FakeGmail::with_mailbox(40, 12).await;
        let hubspot = FakeHubSpot::start(3, 12, 3, 3).await;
        let mut bench = Bench::new(backend, &service, &gmail, &hubspot);

        // Connect both accounts.
        let run = bench.sign_in_google().await;
        assert!(run.ok, "{backend}: {}", run.stderr);
        assert!(run.stdout.contains("Connected Google"), "{}", run.stdout);
        assert_eq!(gmail.pkce_verified(), 1);
        let run = bench
            .casey(
                &["auth", "hubspot", "--token-stdin"],
                Some(&format!("{}\n", support::fake_hubspot::TOKEN)),
            )
            .await;
        assert!(run.ok, "{backend}: {}", run.stderr);
        assert!(
            run.stdout.contains("Connected HubSpot with a private-app token"),
            "{}",
            run.stdout
        );

        // The sign-ins are in the keyring, under this run's service name.
        let stored = Vault::with_store(store.clone())
            .load(Account::Google)
            .unwrap()
            .unwrap();
        assert_eq!(stored.access_token.expose_secret(), gmail.current_token());
        assert!(store.get("hubspot").unwrap().is_some());

        let run = bench.casey(&["auth", "status"], None).await;
        assert!(run.ok, "{}", run.stderr);
        assert!(
            run.stdout.contains("HubSpot  connected · private-app token"),
            "{}",
            run.stdout
        );
        assert!(
            run.stdout
                .contains("Google   connected · OAuth · scopes gmail.readonly, gmail.compose"),
            "{}",
            run.stdout
        );
        assert!(
            run.stdout.contains(&store.backend()),
            "names the backend: {}",
            run.stdout
        );

        let run = bench.casey(&["auth", "status", "--json"], None).await;
        let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let google = &doc["accounts"][1];
        assert_eq!(google["account"], "google");
        assert_eq!(google["connected"], true);
        assert_eq!(google["origin"], "keyring");
        assert_eq!(google["method"], "oauth");
        assert_eq!(google["refreshable"], true);
        assert_eq!(doc["accounts"][0]["method"], "private_app");
        assert_eq!(doc["keyring"]["backend"], store.backend());

        // Sync both with the stored sign-ins.
        let run = bench.casey(&["sync"], None).await;
        assert!(run.ok, "{backend}: {}", run.stderr);
        assert!(
            run.stdout.contains("hubspot:") && run.stdout.contains("gmail:"),
            "{}",
            run.stdout
        );

        // The access token dies: the sync refreshes it and saves the new one to the keyring.
        gmail.expire_token();
        let run = bench.casey(&["sync", "--gmail"], None).await;
        assert!(run.ok, "{backend}: {}", run.stderr);
        let saved = Vault::with_store(store.clone())
            .load(Account::Google)
            .unwrap()
            .unwrap();
        assert_eq!(saved.access_token.expose_secret(), gmail.current_token());
        assert_ne!(
            saved.access_token.expose_secret(),
            stored.access_token.expose_secret()
        );

        // Revoked at Google: the sync says what to do, the mirror still reads.
        gmail.revoke_refresh_token();
        gmail.expire_token();
        let run = bench.casey(&["sync", "--gmail"], None).await;
        assert!(!run.ok);
        assert!(
            run.stderr.contains("run `casey auth google` again"),
            "{}",
            run.stderr
        );
        let run = bench.casey(&["whats-up"], None).await;
        assert!(run.ok, "the mirror works offline: {}", run.stderr);

        // Sign in again, then log out of both.
        let run = bench.sign_in_google().await;
        assert!(run.ok, "{}", run.stderr);
        let run = bench.casey(&["auth", "logout", "google"], None).await;
        assert!(run.ok, "{}", run.stderr);
        assert!(run.stdout.contains("revoked at Google"), "{}", run.stdout);
        assert_eq!(gmail.revoked(), vec![REFRESH_TOKEN.to_string()]);
        let run = bench.casey(&["auth", "logout", "hubspot"], None).await;
        assert!(run.ok, "{}", run.stderr);
        assert!(
            run.stdout.contains("cannot be revoked from here"),
            "{}",
            run.stdout
        );
        assert!(store.get("google").unwrap().is_none() && store.get("hubspot").unwrap().is_none());
        let run = bench.casey(&["auth", "status"], None).await;
        assert!(
            run.stdout.contains("not connected · run `casey auth google`"),
            "{}",
            run.stdout
        );

        // A damaged entry shows as such and can still be removed.
        store
            .set("hubspot", &SecretString::from("{not json".to_string()))
            .unwrap();
        let run = bench.casey(&["auth", "status"], None).await;
        assert!(
            run.stdout
                .contains("HubSpot  cannot be read: the stored sign-in is damaged"),
            "{}",
            run.stdout
        );
        let run = bench.casey(&["auth", "logout", "hubspot"], None).await;
        assert!(run.ok, "{}", run.stderr);
        assert!(
            run.stdout.contains("Removed the damaged HubSpot sign-in"),
            "{}",
            run.stdout
        );
        assert!(store.get("hubspot").unwrap().is_none());

        // No token, refresh token or secret in the data dir or in anything casey printed.
        let mut secrets = vec![
            REFRESH_TOKEN.to_string(),
            support::fake_hubspot::TOKEN.to_string(),
            "ya29.test-access".to_string(),
            "desktop-secret-not-confidential".to_string(),
            "4/test-code".to_string(),
        ];
        secrets.push(gmail.current_token());
        let files = bench.data_files();
        assert!(
            files.iter().any(|(p, _)| p.ends_with("casey.db")),
            "the mirror is there"
        );
        assert!(
            files.iter().any(|(p, b)| p.contains("log") && !b.is_empty()),
            "a trace log was written"
        );
        for secret in &secrets {
            for (path, bytes) in &files {
                assert!(!contains(bytes, secret), "{backend}: {secret:?} found in {path}");
            }
            for out in &bench.outputs {
                assert!(
                    !out.contains(secret.as_str()),
                    "{backend}: {secret:?} printed:\n{out}"
                );
            }
        }
        println!("{backend}: ok ({})", store.backend());
    }
}

#[test]
fn without_a_keyring_auth_refuses_to_store_and_says_how_to_get_one() {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("config.toml");
    std::fs::write(&config, "[accounts]\nkeyring = \"none\"\n").unwrap();
    let run = |args: &[&str], stdin: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_casey"))
            .env("CASEYOS_DATA_DIR", data.path())
            .env("CASEYOS_CONFIG", &config)
            .env_remove("CASEYOS_HUBSPOT_TOKEN")
            .env_remove("CASEYOS_GOOGLE_TOKEN")
            .env_remove("CASEYOS_GOOGLE_REFRESH_TOKEN")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, _, err) = run(&["auth", "hubspot", "--token-stdin"], "pat-na1-not-stored\n");
    assert!(!ok);
    assert!(err.contains("keyring is switched off"), "{err}");
    assert!(!err.contains("pat-na1-not-stored"));
    let (ok, out, _) = run(&["auth", "status"], "");
    assert!(ok);
    assert!(out.contains("keyring  unavailable"), "{out}");
    assert!(out.contains("not connected"), "{out}");
    let (ok, _, err) = run(&["auth", "logout", "salesforce"], "");
    assert!(!ok);
    assert!(err.contains("use `google` or `hubspot`"), "{err}");
    let (ok, _, err) = run(&["auth", "google", "--no-browser"], "");
    assert!(!ok);
    assert!(err.contains("[google] client_id"), "{err}");
    // Nothing was written anywhere in the data dir but the config the test made.
    for entry in std::fs::read_dir(data.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap_or_default();
        assert!(!contains(&bytes, "pat-na1-not-stored"));
    }
}
