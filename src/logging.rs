//! Logging to a file in the data directory (never to stdout, which belongs to the TUI or to
//! JSON output). Filter with `CASEYOS_LOG` (e.g. `CASEYOS_LOG=debug`).

use std::path::Path;
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;

/// Starts file logging; a failure to open the log is reported and otherwise ignored.
pub fn init(log_file: &Path) {
    if let Some(dir) = log_file.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let file = match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_file)
    {
        Ok(f) => f,
        Err(e) => {
            eprintln!(
                "warning: cannot open log file {}: {e}; continuing without a log",
                log_file.display()
            );
            return;
        }
    };
    let filter = EnvFilter::try_from_env("CASEYOS_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_target(false)
        .with_writer(Mutex::new(file))
        .try_init();
}
