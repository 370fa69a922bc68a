//! frontdesk: the after-hours front desk of a field-service company. The library holds
//! everything; `main.rs` only parses the command line and calls in.

pub mod agent;
pub mod app;
pub mod auth;
pub mod bench;
pub mod channels;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod email;
pub mod error;
pub mod eval;
/// The properties checked by the fuzz targets in `fuzz/` and by the corpus replay test.
#[cfg(feature = "test-support")]
pub mod fuzzing;
pub mod http;
pub mod instance;
pub mod jobs;
pub mod loadgen;
pub mod metrics;
pub mod notices;
pub mod operators;
pub mod outbound;
pub mod portal;
pub mod ratelimit;
pub mod record;
pub mod search;
pub mod seed;
/// The run under faults (`frontdesk soak`); it carries the loopback fakes, so it is built
/// only with the `test-support` feature.
#[cfg(feature = "test-support")]
pub mod soak;
pub mod store;
pub mod telemetry;
pub mod voice;
pub mod voicemail;
pub mod webhooks;
