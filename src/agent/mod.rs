//! The agent: the model boundary, the built-in model, tools under policy, and the turn runtime.

pub mod model;
pub mod openai;
