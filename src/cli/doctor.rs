//! `casey doctor`: checks the installation and says what needs attention.
//!
//! Every check is one line: a group (Paths, Mirror, Accounts, Sync, Keyring, Network), a name,
//! a status and a detail. `FAIL` is a problem that keeps casey from working (a damaged mirror,
//! a sign-in that cannot be read, a sync that ended in an error, an API it uses that does not
//! answer) and makes the command exit 1; `warn` is worth knowing but normal on the way in
//! (nothing connected yet, no mirror yet). Doctor never creates the mirror, and never prints a
//! token: the account states it reads carry none.

mod accounts;
mod network;

use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;

use super::Context;
use super::output;
use crate::auth::Account;
use crate::domain::text::sanitize_line;
use crate::store::{SCHEMA_VERSION, Store};

const PATHS: &str = "Paths";
const MIRROR: &str = "Mirror";
const ACCOUNTS: &str = "Accounts";
const SYNC: &str = "Sync";
const KEYRING: &str = "Keyring";
const NETWORK: &str = "Network";

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    /// Fine.
    Ok,
    /// Worth knowing; not a problem.
    Warn,
    /// A problem: the command exits 1.
    Fail,
}

impl Status {
    fn mark(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct Check {
    group: &'static str,
    name: String,
    status: Status,
    detail: String,
}

impl Check {
    /// A check; the detail is made safe for one terminal line (it may quote paths, errors and
    /// what a server said).
    fn new(group: &'static str, name: impl Into<String>, status: Status, detail: impl AsRef<str>) -> Check {
        Check {
            group,
            name: name.into(),
            status,
            detail: sanitize_line(detail.as_ref()),
        }
    }
}

/// Every check, in group order.
#[derive(Debug, Serialize)]
struct Report {
    checks: Vec<Check>,
    problems: usize,
    warnings: usize,
}

impl Report {
    fn new(checks: Vec<Check>) -> Report {
        let count = |s: Status| checks.iter().filter(|c| c.status == s).count();
        Report {
            problems: count(Status::Fail),
            warnings: count(Status::Warn),
            checks,
        }
    }

    fn summary(&self) -> String {
        let warnings = match self.warnings {
            0 => String::new(),
            1 => " (1 warning)".into(),
            n => format!(" ({n} warnings)"),
        };
        match self.problems {
            0 => format!("all checks passed{warnings}"),
            1 => format!("1 problem{warnings}"),
            n => format!("{n} problems{warnings}"),
        }
    }

    fn text(&self) -> String {
        let width = self
            .checks
            .iter()
            .map(|c| c.name.chars().count())
            .max()
            .unwrap_or(0);
        let mut s = String::new();
        let mut group = "";
        for c in &self.checks {
            if c.group != group {
                if !group.is_empty() {
                    s.push('\n');
                }
                group = c.group;
                s.push_str(group);
                s.push('\n');
            }
            s.push_str(&format!(
                "  {:<4}  {:<width$}  {}\n",
                c.status.mark(),
                c.name,
                c.detail
            ));
        }
        s.push('\n');
        s.push_str(&self.summary());
        s.push('\n');
        s
    }
}

/// Runs every check, prints the report, and exits 1 when a check failed.
pub fn run(ctx: &Context, json: bool) -> ExitCode {
    let report = Report::new(checks(ctx));
    let out = if json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => s + "\n",
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        report.text()
    };
    if let Err(e) = output::print(&out) {
        eprintln!("error: {e:#}");
        return ExitCode::FAILURE;
    }
    if report.problems > 0 {
        tracing::warn!(problems = report.problems, "casey doctor found problems");
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn checks(ctx: &Context) -> Vec<Check> {
    let now = ctx.clock.now();
    let mut checks = paths(ctx);
    let mirror = mirror(&ctx.paths.database(), &mut checks);

    let vault = crate::auth::Vault::open(&ctx.config);
    let keyring = vault.backend();
    let accounts = crate::auth::status(&vault);
    for st in &accounts {
        checks.push(accounts::account_check(st, keyring.is_ok(), &ctx.config, now));
    }

    let mut synced_before_but_disconnected = Vec::new();
    for st in &accounts {
        let source = source_of(st.account);
        let check = match &mirror {
            Mirror::Missing => Check::new(SYNC, source, Status::Warn, "never synced (no mirror yet)"),
            Mirror::Unreadable => Check::new(
                SYNC,
                source,
                Status::Warn,
                "unknown: the mirror could not be read (see Mirror)",
            ),
            Mirror::Open(store) => match store.last_sync(source) {
                Ok(record) => {
                    if !st.connected() && record.as_ref().is_some_and(|r| r.succeeded_at.is_some()) {
                        synced_before_but_disconnected.push(st.account.title());
                    }
                    accounts::sync_check(st.account, record.as_ref(), st.connected(), now)
                }
                Err(e) => Check::new(
                    SYNC,
                    source,
                    Status::Fail,
                    format!("cannot read the sync record: {e}"),
                ),
            },
        };
        checks.push(check);
    }

    checks.push(accounts::keyring_check(
        &keyring,
        &ctx.config.accounts.keyring,
        &synced_before_but_disconnected,
    ));
    checks.extend(network::checks(&ctx.config, &accounts));
    checks
}

/// The mirror's source name of an account's data.
fn source_of(account: Account) -> &'static str {
    match account {
        Account::HubSpot => crate::sync::hubspot::SOURCE,
        Account::Google => crate::sync::gmail::SOURCE,
    }
}

fn paths(ctx: &Context) -> Vec<Check> {
    let mut checks = Vec::new();
    let mut overrides: Vec<String> = crate::config::env_pairs()
        .into_iter()
        .filter_map(|(name, _)| {
            let rest = name.strip_prefix("CASEYOS_")?;
            let (section, key) = rest.split_once("__")?;
            Some(format!(
                "{}.{}",
                section.to_ascii_lowercase(),
                key.to_ascii_lowercase().replace("__", ".")
            ))
        })
        .collect();
    overrides.sort();
    let mut config = crate::config::describe_path(&ctx.paths.config_file);
    if !overrides.is_empty() {
        config.push_str(&format!(" · set by the environment: {}", overrides.join(", ")));
    }
    checks.push(Check::new(PATHS, "config file", Status::Ok, config));

    let dir = &ctx.paths.data_dir;
    checks.push(match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => Check::new(
            PATHS,
            "data dir",
            Status::Fail,
            format!("{} is not a directory", dir.display()),
        ),
        Ok(m) if m.permissions().readonly() => Check::new(
            PATHS,
            "data dir",
            Status::Fail,
            format!(
                "{} is read-only: casey cannot write its mirror or log there",
                dir.display()
            ),
        ),
        Ok(_) => Check::new(PATHS, "data dir", Status::Ok, dir.display().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Check::new(
            PATHS,
            "data dir",
            Status::Warn,
            format!("{} (not created yet)", dir.display()),
        ),
        Err(e) => Check::new(
            PATHS,
            "data dir",
            Status::Fail,
            format!("cannot read {}: {e}", dir.display()),
        ),
    });

    let log = ctx.paths.log_file();
    let detail = match std::fs::metadata(&log) {
        Ok(m) => format!("{} ({})", log.display(), human_size(m.len())),
        Err(_) => format!("{} (not created yet)", log.display()),
    };
    checks.push(Check::new(PATHS, "log file", Status::Ok, detail));
    checks
}

/// What became of the mirror.
enum Mirror {
    /// No file yet (or an empty one): nothing synced.
    Missing,
    /// There is a file, but it cannot be used.
    Unreadable,
    /// Open and checked.
    Open(Store),
}

fn mirror(path: &Path, checks: &mut Vec<Check>) -> Mirror {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            checks.push(Check::new(
                MIRROR,
                "database",
                Status::Warn,
                format!("{}: not created yet (run `casey sync`)", path.display()),
            ));
            return Mirror::Missing;
        }
        Err(e) => {
            checks.push(Check::new(
                MIRROR,
                "database",
                Status::Fail,
                format!("cannot read {}: {e}", path.display()),
            ));
            return Mirror::Unreadable;
        }
        Ok(m) if m.len() == 0 => {
            checks.push(Check::new(
                MIRROR,
                "database",
                Status::Warn,
                format!("{}: empty; casey sets it up on the next sync", path.display()),
            ));
            return Mirror::Missing;
        }
        Ok(m) => {
            let wal = std::fs::metadata(format!("{}-wal", path.display()))
                .map(|w| w.len())
                .unwrap_or(0);
            let size = if wal > 0 {
                format!("{} + {} write-ahead log", human_size(m.len()), human_size(wal))
            } else {
                human_size(m.len())
            };
            checks.push(Check::new(
                MIRROR,
                "database",
                Status::Ok,
                format!("{} ({size})", path.display()),
            ));
        }
    }
    // Opening refuses a damaged file or a newer schema before writing anything to it.
    let store = match Store::open(path) {
        Ok(s) => s,
        Err(e) => {
            checks.push(Check::new(MIRROR, "open", Status::Fail, e.to_string()));
            return Mirror::Unreadable;
        }
    };
    checks.push(match store.integrity_check(5) {
        Ok(problems) if problems.is_empty() => {
            Check::new(MIRROR, "integrity", Status::Ok, "ok (SQLite integrity check)")
        }
        Ok(problems) => Check::new(
            MIRROR,
            "integrity",
            Status::Fail,
            format!(
                "damaged: {}; move the file aside (or restore a backup) and run `casey sync` for a fresh mirror",
                problems.join("; ")
            ),
        ),
        Err(e) => Check::new(MIRROR, "integrity", Status::Fail, format!("cannot check: {e}")),
    });
    checks.push(match store.schema_version() {
        Ok(v) if v == SCHEMA_VERSION => Check::new(
            MIRROR,
            "schema",
            Status::Ok,
            format!("version {v} (current for this casey)"),
        ),
        Ok(v) => Check::new(
            MIRROR,
            "schema",
            Status::Fail,
            format!("version {v}, but this casey uses {SCHEMA_VERSION}"),
        ),
        Err(e) => Check::new(MIRROR, "schema", Status::Fail, format!("cannot read: {e}")),
    });
    checks.push(match store.counts() {
        Ok(c) => Check::new(
            MIRROR,
            "contents",
            Status::Ok,
            format!(
                "{} contacts · {} companies · {} deals · {} tasks · {} threads · {} messages · {} drafts · outbox {} pending",
                c.contacts,
                c.companies,
                c.deals,
                c.tasks,
                c.threads,
                c.messages,
                c.drafts,
                c.outbox_pending
            ),
        ),
        Err(e) => Check::new(MIRROR, "contents", Status::Fail, format!("cannot count: {e}")),
    });
    Mirror::Open(store)
}

/// `1.4 MB`, `12 kB`, `512 B`.
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if value < 10.0 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_a_person_wrote_them() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(1_400), "1.4 kB");
        assert_eq!(human_size(45_000), "45 kB");
        assert_eq!(human_size(3_200_000), "3.2 MB");
    }

    #[test]
    fn the_summary_counts_problems_and_warnings_and_only_problems_fail() {
        let c = |s| Check::new(MIRROR, "x", s, "d");
        let ok = Report::new(vec![c(Status::Ok), c(Status::Warn)]);
        assert_eq!(ok.summary(), "all checks passed (1 warning)");
        assert_eq!(ok.problems, 0);
        let bad = Report::new(vec![c(Status::Fail), c(Status::Fail), c(Status::Ok)]);
        assert_eq!(bad.summary(), "2 problems");
        let text = bad.text();
        assert!(text.starts_with("Mirror\n  FAIL  x  d\n"), "{text}");
        assert!(text.ends_with("\n2 problems\n"), "{text}");
    }

    #[test]
    fn details_are_one_safe_line() {
        let c = Check::new(SYNC, "gmail", Status::Fail, "boom\n\u{1b}[2Jagain");
        assert_eq!(c.detail, "boom again");
    }
}
