//! frontdesk: the after-hours front desk of a field-service company. The library holds
//! everything; `main.rs` only parses the command line and calls in.

pub mod domain;
pub mod search;
pub mod store;
