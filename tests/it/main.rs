//! The integration test binary: every integration test is a module here, sharing the
//! harness in `tests/common` (one binary links once).

#[path = "../common/mod.rs"]
#[macro_use]
mod common;

mod capacity;
mod eval;
mod operator;
mod queue;
mod smoke;
mod store;
mod twilio_outbound;
mod twilio_sms;
mod twilio_voice;
