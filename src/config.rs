//! Configuration: embedded defaults (`config/default.toml`) → the user's file → `CASEYOS_*` env.
//!
//! Every section falls back to the embedded defaults key by key, so a user file only holds what
//! it changes. Any problem names the file, the line and the key, and the command exits non-zero.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::domain::{ApsWeights, DetectConfig};

/// The shipped defaults, documented key by key.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// Errors that stop CaseyOS from starting with the given configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid, or a key has a wrong name, type or value.
    #[error("{path}:{line}: key `{key}`: {message}\n  fix the file, or check it with `casey config check`")]
    Invalid {
        /// The file (or `environment` / `embedded defaults`).
        path: String,
        /// 1-based line, 0 when unknown.
        line: usize,
        /// Dotted key path.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// `[general]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct General {
    /// The operator's own email address (empty: from the Gmail profile).
    pub operator_email: String,
    /// Minutes between background syncs in the TUI (0 = manual only).
    pub sync_interval_minutes: u32,
}

/// `[hubspot]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubSpot {
    /// API base URL.
    pub api_base: String,
    /// OAuth authorize URL.
    pub auth_url: String,
    /// OAuth token URL.
    pub token_url: String,
    /// OAuth app client id (empty: private-app tokens only).
    pub client_id: String,
    /// OAuth app client secret.
    pub client_secret: String,
    /// Scopes asked for when connecting with OAuth.
    pub scopes: Vec<String>,
    /// Port of the OAuth redirect `http://localhost:PORT/` registered with the app.
    pub redirect_port: u16,
    /// Rate limit per 10-second window.
    pub requests_per_10s: u32,
    /// Search requests per second.
    pub search_per_second: u32,
    /// Failures in a row that pause requests (circuit breaker).
    pub breaker_failures: u32,
    /// Seconds the breaker pauses requests.
    pub breaker_cooldown_seconds: u64,
    /// Per-request timeout in seconds.
    pub timeout_seconds: u64,
    /// Hours between checks for records deleted or archived in HubSpot.
    pub deletion_check_hours: u32,
    /// Properties to mirror on top of the ones CaseyOS needs.
    pub extra_properties: ExtraProperties,
}

/// `[hubspot.extra_properties]`: property names per object type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraProperties {
    /// Extra contact properties.
    pub contacts: Vec<String>,
    /// Extra company properties.
    pub companies: Vec<String>,
    /// Extra deal properties.
    pub deals: Vec<String>,
    /// Extra task properties.
    pub tasks: Vec<String>,
    /// Extra note properties.
    pub notes: Vec<String>,
}

impl ExtraProperties {
    /// The extra properties of one object type.
    pub fn of(&self, object_type: &str) -> &[String] {
        match object_type {
            "contacts" => &self.contacts,
            "companies" => &self.companies,
            "deals" => &self.deals,
            "tasks" => &self.tasks,
            "notes" => &self.notes,
            _ => &[],
        }
    }
}

/// `[google]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Google {
    /// Gmail API base URL.
    pub api_base: String,
    /// OAuth authorize URL.
    pub auth_url: String,
    /// OAuth token URL.
    pub token_url: String,
    /// Desktop OAuth client id.
    pub client_id: String,
    /// Desktop OAuth client secret (not confidential for installed apps).
    pub client_secret: String,
    /// Scopes asked for by `casey auth google`.
    pub scopes: Vec<String>,
    /// Token revocation endpoint.
    pub revoke_url: String,
    /// Gmail search query of the messages to mirror.
    pub first_sync_query: String,
    /// Mirror only threads with an address known in HubSpot.
    pub only_known_contacts: bool,
    /// Quota units per minute CaseyOS may spend.
    pub units_per_minute: u32,
    /// Requests in flight at once during a sync.
    pub concurrency: u32,
    /// Per-request timeout in seconds.
    pub timeout_seconds: u64,
}

/// `[accounts]`: where sign-ins are kept and how long a browser sign-in may take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accounts {
    /// `auto`, `secret-service`, `keyutils` or `none`.
    pub keyring: String,
    /// Keyring service name of the entries.
    pub keyring_service: String,
    /// Seconds to wait for the browser during `casey auth`.
    pub sign_in_timeout_seconds: u64,
}

/// Outbound safety mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SafetyMode {
    /// Never send: create or update Gmail drafts only.
    DraftOnly,
    /// Send after the undo window.
    Send,
}

/// `[safety]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Safety {
    /// Draft-only or send.
    pub mode: SafetyMode,
    /// Seconds during which a send can be cancelled.
    pub undo_window_seconds: u32,
    /// Maximum sends per day.
    pub daily_send_cap: u32,
    /// Hours before the same recipient can be emailed again.
    pub recipient_cooldown_hours: u32,
    /// Addresses or `@domain`s never to email.
    pub suppression_list: Vec<String>,
}

/// `[drafts]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Drafts {
    /// Appended to drafts from templates (`{{signature}}`).
    pub signature: String,
    /// Your company's name (`{{my_company}}`).
    pub my_company: String,
    /// A folder with your own versions of the templates (`reply.txt`...); empty: the bundled ones.
    pub templates_dir: String,
}

/// `[retention]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Days local telemetry events are kept (0: forever).
    pub telemetry_days: u32,
    /// Days a draft CaseyOS wrote and nobody approved is kept (0: forever).
    pub drafts_days: u32,
}

/// `[theme]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Theme {
    /// `dark`, `light` or `mono`.
    pub name: String,
}

/// The whole configuration, typed and validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// General settings.
    pub general: General,
    /// HubSpot connection.
    pub hubspot: HubSpot,
    /// Google connection.
    pub google: Google,
    /// Where sign-ins are kept.
    pub accounts: Accounts,
    /// Move detection thresholds.
    pub moves: DetectConfig,
    /// Scoring weights and curves.
    pub aps: ApsWeights,
    /// Outbound safety.
    pub safety: Safety,
    /// Drafts written from templates.
    pub drafts: Drafts,
    /// How long local data is kept.
    pub retention: Retention,
    /// Key bindings: action name → keys.
    pub keys: BTreeMap<String, Vec<String>>,
    /// Colours.
    pub theme: Theme,
}

fn embedded() -> &'static Config {
    static DEFAULTS: OnceLock<Config> = OnceLock::new();
    DEFAULTS.get_or_init(|| {
        // The embedded file is checked by a unit test; parsing it cannot fail in a built binary.
        #[allow(clippy::expect_used)]
        toml::from_str(DEFAULT_TOML).expect("embedded config/default.toml is valid")
    })
}

fn embedded_table() -> toml::Table {
    #[allow(clippy::expect_used)]
    toml::from_str(DEFAULT_TOML).expect("embedded config/default.toml is valid")
}

impl Default for Config {
    fn default() -> Self {
        embedded().clone()
    }
}

/// Merges `over` into `base`: tables merge key by key, everything else replaces.
fn deep_merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => deep_merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// Where CaseyOS keeps things.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// The user config file (may not exist).
    pub config_file: PathBuf,
    /// Whether the file was named explicitly (`--config` / `CASEYOS_CONFIG`): then it must exist.
    pub config_explicit: bool,
    /// Data directory: the mirror database and logs.
    pub data_dir: PathBuf,
}

impl Paths {
    /// Resolves paths from explicit choices, falling back to the platform directories.
    pub fn resolve(config: Option<PathBuf>, data_dir: Option<PathBuf>) -> Paths {
        let dirs = directories::ProjectDirs::from("", "", "caseyos");
        let config_explicit = config.is_some();
        let config_file = config.unwrap_or_else(|| {
            dirs.as_ref()
                .map(|d| d.config_dir().join("config.toml"))
                .unwrap_or_else(|| PathBuf::from("caseyos.toml"))
        });
        let data_dir = data_dir.unwrap_or_else(|| {
            dirs.as_ref()
                .map(|d| d.data_dir().to_path_buf())
                .unwrap_or_else(|| PathBuf::from(".caseyos"))
        });
        Paths {
            config_file,
            config_explicit,
            data_dir,
        }
    }

    /// The operator's mirror database.
    pub fn database(&self) -> PathBuf {
        self.data_dir.join("casey.db")
    }

    /// The demo mirror database (a fresh copy of the bundled demo data).
    pub fn demo_database(&self) -> PathBuf {
        self.data_dir.join("demo").join("casey-demo.db")
    }

    /// The log file.
    pub fn log_file(&self) -> PathBuf {
        self.data_dir.join("casey.log")
    }
}

impl Config {
    /// Loads the configuration: defaults, then the file at `paths.config_file` if present (it
    /// must be present when named explicitly), then `CASEYOS_<SECTION>__<KEY>` variables from `env`.
    pub fn load(paths: &Paths, env: &[(String, String)]) -> Result<Config, ConfigError> {
        let (text, source) = match std::fs::read_to_string(&paths.config_file) {
            Ok(text) => (text, paths.config_file.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !paths.config_explicit => {
                (String::new(), "embedded defaults".to_string())
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: paths.config_file.clone(),
                    source,
                });
            }
        };
        Config::layered(&text, &source, env)
    }

    /// Parses one user document over the defaults (no environment); errors carry line and key.
    pub fn parse(text: &str, source: &str) -> Result<Config, ConfigError> {
        Config::layered(text, source, &[])
    }

    fn layered(text: &str, source: &str, env: &[(String, String)]) -> Result<Config, ConfigError> {
        let user: toml::Table = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(0);
            ConfigError::Invalid {
                path: source.to_string(),
                line,
                key: key_at_line(text, line),
                message: e.message().trim().to_string(),
            }
        })?;
        let mut merged = embedded_table();
        deep_merge(&mut merged, user);
        let mut from_env: Vec<(String, String)> = Vec::new();
        for (name, value) in env {
            let Some((section, key)) = name.strip_prefix("CASEYOS_").and_then(|r| r.split_once("__")) else {
                continue;
            };
            let dotted = format!(
                "{}.{}",
                section.to_ascii_lowercase(),
                key.to_ascii_lowercase().replace("__", ".")
            );
            let mut path: Vec<String> = dotted.split('.').map(str::to_string).collect();
            let last = path.pop().unwrap_or_default();
            let mut table = &mut merged;
            for p in path {
                let entry = table
                    .entry(p.clone())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                let toml::Value::Table(t) = entry else {
                    return Err(ConfigError::Invalid {
                        path: format!("environment variable {name}"),
                        line: 0,
                        key: dotted.clone(),
                        message: format!("`{p}` is not a table"),
                    });
                };
                table = t;
            }
            table.insert(last, parse_env_value(value));
            from_env.push((dotted, name.clone()));
        }
        // Round-trip through text so serde errors come with a span we can turn into a key.
        let merged_text = toml::to_string(&merged).map_err(|e| ConfigError::Invalid {
            path: source.to_string(),
            line: 0,
            key: String::new(),
            message: e.to_string(),
        })?;
        let config: Config = toml::from_str(&merged_text).map_err(|e| {
            let key = e
                .span()
                .map(|s| key_at_line(&merged_text, line_of(&merged_text, s.start)))
                .unwrap_or_default();
            locate(text, source, &from_env, key, e.message().trim().to_string())
        })?;
        config
            .validate()
            .map_err(|(key, message)| locate(text, source, &from_env, key, message))?;
        Ok(config)
    }

    /// Cross-field checks the types cannot express; returns `(dotted key, problem)`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        self.aps.validate().map_err(|(k, m)| (format!("aps.{k}"), m))?;
        self.moves
            .validate()
            .map_err(|(k, m)| (format!("moves.{k}"), m))?;
        if !matches!(self.theme.name.as_str(), "dark" | "light" | "mono") {
            return Err((
                "theme.name".into(),
                format!(
                    "must be \"dark\", \"light\" or \"mono\", got {:?}",
                    self.theme.name
                ),
            ));
        }
        for (name, url) in [
            ("hubspot.api_base", &self.hubspot.api_base),
            ("hubspot.auth_url", &self.hubspot.auth_url),
            ("hubspot.token_url", &self.hubspot.token_url),
            ("google.api_base", &self.google.api_base),
            ("google.auth_url", &self.google.auth_url),
            ("google.token_url", &self.google.token_url),
            ("google.revoke_url", &self.google.revoke_url),
        ] {
            let ok = url.starts_with("https://")
                || url.starts_with("http://127.0.0.1")
                || url.starts_with("http://localhost")
                || url.starts_with("http://[::1]");
            if !ok {
                return Err((
                    name.into(),
                    format!("must be an https:// URL (plain http only on loopback), got {url:?}"),
                ));
            }
        }
        for (key, value) in [
            ("requests_per_10s", u64::from(self.hubspot.requests_per_10s)),
            ("search_per_second", u64::from(self.hubspot.search_per_second)),
            ("breaker_failures", u64::from(self.hubspot.breaker_failures)),
            ("timeout_seconds", self.hubspot.timeout_seconds),
            ("redirect_port", u64::from(self.hubspot.redirect_port)),
            (
                "deletion_check_hours",
                u64::from(self.hubspot.deletion_check_hours),
            ),
        ] {
            if value == 0 {
                return Err((format!("hubspot.{key}"), "must be at least 1".into()));
            }
        }
        for (key, value) in [
            ("units_per_minute", u64::from(self.google.units_per_minute)),
            ("concurrency", u64::from(self.google.concurrency)),
            ("timeout_seconds", self.google.timeout_seconds),
        ] {
            if value == 0 {
                return Err((format!("google.{key}"), "must be at least 1".into()));
            }
        }
        if !matches!(
            self.accounts.keyring.as_str(),
            "auto" | "secret-service" | "keyutils" | "none"
        ) {
            return Err((
                "accounts.keyring".into(),
                format!(
                    "must be \"auto\", \"secret-service\", \"keyutils\" or \"none\", got {:?}",
                    self.accounts.keyring
                ),
            ));
        }
        if self.accounts.keyring_service.trim().is_empty() {
            return Err(("accounts.keyring_service".into(), "must not be empty".into()));
        }
        if self.accounts.sign_in_timeout_seconds == 0 {
            return Err((
                "accounts.sign_in_timeout_seconds".into(),
                "must be at least 1".into(),
            ));
        }
        if self.google.concurrency > 50 {
            return Err((
                "google.concurrency".into(),
                "at most 50 requests in flight (Google's advice for batches); 8 is plenty".into(),
            ));
        }
        if self.google.first_sync_query.trim().is_empty() {
            return Err((
                "google.first_sync_query".into(),
                "must not be empty (it would mirror the whole mailbox); the default is \"newer_than:180d\""
                    .into(),
            ));
        }
        for (kind, names) in [
            ("contacts", &self.hubspot.extra_properties.contacts),
            ("companies", &self.hubspot.extra_properties.companies),
            ("deals", &self.hubspot.extra_properties.deals),
            ("tasks", &self.hubspot.extra_properties.tasks),
            ("notes", &self.hubspot.extra_properties.notes),
        ] {
            if let Some(bad) = names
                .iter()
                .find(|n| n.is_empty() || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            {
                return Err((
                    format!("hubspot.extra_properties.{kind}"),
                    format!("{bad:?} is not a HubSpot property name (letters, digits and _ only)"),
                ));
            }
        }
        crate::tui::keymap::Keymap::from_config(&self.keys).map_err(|(k, m)| (format!("keys.{k}"), m))?;
        Ok(())
    }
}

/// Reads an env value as TOML when it parses as one (`0.5`, `true`, `["a"]`), else as a string.
fn parse_env_value(v: &str) -> toml::Value {
    let doc = format!("v = {v}");
    match toml::from_str::<toml::Table>(&doc) {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(v.to_string())),
        Err(_) => toml::Value::String(v.to_string()),
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Says where a bad key came from: an environment variable, a line of the user file, or the
/// defaults (which a unit test keeps valid).
fn locate(
    text: &str,
    source: &str,
    from_env: &[(String, String)],
    key: String,
    message: String,
) -> ConfigError {
    if let Some((_, var)) = from_env
        .iter()
        .find(|(k, _)| *k == key || key.starts_with(&format!("{k}.")))
    {
        return ConfigError::Invalid {
            path: format!("environment variable {var}"),
            line: 0,
            key,
            message,
        };
    }
    let line = locate_key(text, &key).unwrap_or(0);
    ConfigError::Invalid {
        path: source.to_string(),
        line,
        key,
        message,
    }
}

/// The dotted key defined on a 1-based line: the section header above it plus the key name.
fn key_at_line(text: &str, line: usize) -> String {
    let mut section = String::new();
    for (i, l) in text.lines().enumerate() {
        let t = l.trim();
        if t.starts_with('[') {
            section = t.trim_matches(|c| c == '[' || c == ']').trim().to_string();
            if i + 1 == line {
                return section;
            }
        } else if i + 1 == line {
            let key = t.split('=').next().unwrap_or("").trim().trim_matches('"');
            return if section.is_empty() {
                key.to_string()
            } else {
                format!("{section}.{key}")
            };
        }
    }
    section
}

/// The 1-based line that sets a dotted key in a document, if it does.
fn locate_key(text: &str, dotted: &str) -> Option<usize> {
    let mut section = String::new();
    for (i, l) in text.lines().enumerate() {
        let t = l.trim();
        if t.starts_with('[') {
            section = t.trim_matches(|c| c == '[' || c == ']').trim().to_string();
            continue;
        }
        let Some((k, _)) = t.split_once('=') else { continue };
        let k = k.trim().trim_matches('"');
        let full = if section.is_empty() {
            k.to_string()
        } else {
            format!("{section}.{k}")
        };
        if full == dotted {
            return Some(i + 1);
        }
    }
    None
}

/// Environment variables as pairs, for [`Config::load`].
pub fn env_pairs() -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(k, _)| k.starts_with("CASEYOS_"))
        .collect()
}

/// Writes nothing; says whether a config file exists at `path`.
pub fn describe_path(path: &Path) -> String {
    if path.exists() {
        format!("{} (exists)", path.display())
    } else {
        format!("{} (not created yet; defaults apply)", path.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_parse_and_validate() {
        let c = Config::parse(DEFAULT_TOML, "default.toml").unwrap();
        assert_eq!(c, Config::default());
        c.validate().unwrap();
        assert_eq!(c.safety.mode, SafetyMode::DraftOnly);
        assert_eq!(c.moves.follow_up_business_days, 3);
        assert_eq!(c.aps.effort_minutes.approve, 1.0);
        // Every action of the key map is bound.
        for action in [
            "down", "up", "accept", "skip", "snooze", "execute", "approve", "undo", "quit",
        ] {
            assert!(c.keys.contains_key(action), "{action}");
        }
    }

    #[test]
    fn every_default_key_is_documented_by_a_comment() {
        // Each `key = value` line is preceded by a comment in its section, or the section's
        // header is directly preceded by one (tables of like keys, e.g. [aps.lifecycle]).
        let mut commented_section = false;
        let mut previous_was_comment = false;
        for line in DEFAULT_TOML.lines() {
            let t = line.trim();
            let was_comment = std::mem::replace(&mut previous_was_comment, t.starts_with('#'));
            if t.starts_with('[') {
                commented_section = was_comment;
            } else if t.starts_with('#') {
                commented_section = true;
            } else if t.contains('=') {
                assert!(commented_section, "undocumented key: {t}");
            }
        }
    }

    #[test]
    fn partial_user_file_overrides_only_its_keys() {
        let c = Config::parse(
            "[aps]\nurgency = 0.5\n[aps.lifecycle]\nlead = 50.0\n",
            "user.toml",
        )
        .unwrap();
        assert_eq!(c.aps.urgency, 0.5);
        assert_eq!(c.aps.revenue, Config::default().aps.revenue);
        assert_eq!(c.aps.lifecycle["lead"], 50.0);
        assert_eq!(c.aps.lifecycle["customer"], 75.0);
        assert_eq!(c.safety, Config::default().safety);
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let err = Config::parse(
            "[safety]\nmode = \"draft_only\"\nsend_everything = true\n",
            "u.toml",
        )
        .unwrap_err();
        let ConfigError::Invalid { line, key, path, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(
            (path.as_str(), *line, key.as_str()),
            ("u.toml", 3, "safety.send_everything")
        );
    }

    #[test]
    fn wrong_type_names_line_and_key() {
        let err = Config::parse("\n[aps]\nrevenue = \"lots\"\n", "u.toml").unwrap_err();
        let ConfigError::Invalid { line, key, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!((*line, key.as_str()), (3, "aps.revenue"));
    }

    #[test]
    fn invalid_weight_is_located_by_validation() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[aps]\nfit = -1.0\n").unwrap();
        let paths = Paths {
            config_file: file.clone(),
            config_explicit: true,
            data_dir: dir.path().into(),
        };
        let err = Config::load(&paths, &[]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("c.toml:2: key `aps.fit`"), "{msg}");
    }

    #[test]
    fn env_overrides_file_and_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths {
            config_file: dir.path().join("none.toml"),
            config_explicit: false,
            data_dir: dir.path().into(),
        };
        let env = vec![
            ("CASEYOS_SAFETY__MODE".to_string(), "send".to_string()),
            ("CASEYOS_APS__URGENCY".to_string(), "0.9".to_string()),
            ("CASEYOS_DATA_DIR".to_string(), "/ignored".to_string()),
        ];
        let c = Config::load(&paths, &env).unwrap();
        assert_eq!(c.safety.mode, SafetyMode::Send);
        assert_eq!(c.aps.urgency, 0.9);
        let bad = vec![("CASEYOS_SAFETY__MODE".to_string(), "yolo".to_string())];
        let err = Config::load(&paths, &bad).unwrap_err().to_string();
        assert!(
            err.contains("environment") && err.contains("safety.mode"),
            "{err}"
        );
    }

    #[test]
    fn missing_explicit_file_is_an_error() {
        let paths = Paths {
            config_file: "/nonexistent/c.toml".into(),
            config_explicit: true,
            data_dir: "/tmp".into(),
        };
        assert!(matches!(Config::load(&paths, &[]), Err(ConfigError::Read { .. })));
    }
}
