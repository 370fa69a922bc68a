//! The integration test binary: every integration test is a module here, sharing the
//! harness in `tests/common` (one binary links once).

#[path = "../common/mod.rs"]
#[macro_use]
mod common;

mod capacity;
mod smoke;
mod store;
mod voice_stream;
#[cfg(feature = "whisper")]
mod voice_voicemail;
