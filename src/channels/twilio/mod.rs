//! Twilio's wire formats, pure and without IO: webhook signatures, form bodies, the typed
//! parameters of inbound SMS, calls and callbacks, TwiML replies, SMS segments and compliance
//! keywords, and the Media Streams WebSocket messages and audio. Only this module knows TwiML.

pub mod form;
pub mod media;
pub mod signature;
pub mod sms;
pub mod twiml;
pub mod webhook;
