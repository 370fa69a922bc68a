//! The people side of frontdesk: operator passwords (argon2id), sign-in with throttling,
//! server-side sessions with CSRF tokens, and the demo operators' first passwords. No HTTP
//! here; `http::session` and `http::auth` put it on the wire.

pub mod password;
pub mod policy;
pub mod reports;
pub mod session;

pub use session::*;
