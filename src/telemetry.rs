//! Tracing set-up: human-readable logs on standard error, filtered by `RUST_LOG` (default
//! `info`), coloured only when standard error is a terminal.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

pub fn init() {
    init_with_default("info,sqlx=warn,tower_http=info,tantivy=warn");
}

/// For batch commands (`eval`) whose output is a report, not a log: warnings only unless
/// `RUST_LOG` says otherwise.
pub fn init_quiet() {
    init_with_default("warn");
}

fn init_with_default(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
