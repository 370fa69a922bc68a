//! The agent: what turns a customer's message into tool calls and a reply. `builtin` is the
//! offline, deterministic model that is the default and the evals' baseline.

pub mod builtin;
