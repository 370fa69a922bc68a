//! Tracing set-up: logs on standard error, filtered by `RUST_LOG` (default `info`), as
//! human-readable text (coloured only when standard error is a terminal) or, with
//! `log_format = "json"`, one JSON object per line for log collectors.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// The filter when `RUST_LOG` is unset: `info` for the service; warnings only for batch
/// commands (`eval`) whose output is a report, not a log.
pub fn default_filter(quiet: bool) -> &'static str {
    if quiet {
        "warn"
    } else {
        "info,sqlx=warn,tower_http=info,tantivy=warn"
    }
}

/// Install the process's subscriber (once; later calls change nothing).
pub fn init(format: LogFormat, quiet: bool) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter(quiet)));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}
