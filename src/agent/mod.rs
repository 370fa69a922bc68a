//! The agent: the model boundary, the built-in model, an OpenAI-compatible model, tools
//! under policy, escalation, and the turn runtime that ties them together.

pub mod breaker;
pub mod builtin;
pub mod builtin_model;
pub mod escalation;
pub mod model;
pub mod openai;
pub mod prompts;
pub mod runtime;
pub mod state;
pub mod tools;

pub use crate::domain::Caller;
pub use model::ToolSpec;
pub use runtime::{Agent, Inbound, TurnOutcome};
