//! The `casey` binary from the outside, on a data dir of its own.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use assert_cmd::Command;

/// The instant every run happens at (`CASEYOS_NOW`), so the demo's shifted dates, recorded
/// sync times and every age are reproducible.
pub const NOW: &str = "2026-11-20T15:00:00Z";

/// The binary on `data`: an explicit empty config (the developer's own file cannot leak in),
/// no keyring (the developer's real one is never touched), no tokens from the developer's
/// environment, no colours.
pub fn casey(data: &Path) -> Command {
    let config = data.join("config.toml");
    if !config.exists() {
        std::fs::write(&config, "").unwrap();
    }
    let mut c = Command::cargo_bin("casey").unwrap();
    c.env("CASEYOS_DATA_DIR", data)
        .env("CASEYOS_CONFIG", &config)
        .env("CASEYOS_NOW", NOW)
        .env("NO_COLOR", "1")
        .env("CASEYOS_ACCOUNTS__KEYRING", "none")
        .env_remove("CASEYOS_HUBSPOT_TOKEN")
        .env_remove("CASEYOS_GOOGLE_TOKEN")
        .env_remove("CASEYOS_GOOGLE_REFRESH_TOKEN");
    c
}
