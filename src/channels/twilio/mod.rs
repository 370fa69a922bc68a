//! Twilio's wire formats: webhook signatures, form bodies, the typed parameters of inbound
//! SMS, calls and callbacks, TwiML replies, SMS segments and compliance keywords, and the
//! Media Streams WebSocket messages and audio, all pure and without IO; and the one REST
//! client with its credential resolver (`rest`). Only this module knows TwiML and Twilio's
//! parameter names.

/// Compiled for tests and `frontdesk soak` (the `test-support` feature); never part of a
/// release build.
#[cfg(any(test, feature = "test-support"))]
pub mod fake;
pub mod form;
pub mod media;
pub mod rest;
pub mod signature;
pub mod sms;
pub mod twiml;
pub mod webhook;
