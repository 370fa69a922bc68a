//! The integration test binary: every integration test is a module here, sharing the
//! harness in `tests/common` (one binary links once).

#[path = "../common/mod.rs"]
#[macro_use]
mod common;

mod agent_delivery;
mod agent_escalation;
mod agent_events;
mod agent_identity;
mod agent_openai;
mod agent_portal;
mod agent_reschedule;
mod api_edges;
mod bad_input;
mod bench_load;
mod capacity;
mod console;
mod eval;
mod fuzz_corpus;
mod masking;
mod notices;
mod notices_scale;
mod operator;
mod operators;
mod portal;
mod portal_pages;
mod queue;
mod rate_limits;
mod search;
mod seed;
mod smoke;
mod soak;
mod store;
mod tidy;
mod traces;
mod turn_safety;
mod twilio_outbound;
mod twilio_sms;
mod twilio_voice;
mod voice_security;
mod voice_stream;
#[cfg(feature = "whisper")]
mod voice_voicemail;
mod webhooks;
