//! The model boundary. A model sees the rendered system prompt, the transcript (including
//! tool calls and their results within the turn), the tool specs and a few structured facts,
//! and answers with either tool calls or a reply. Everything that decides what may happen —
//! identity, policy, confirmation — stays outside, in the runtime and the tools.

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

/// A tool as the model is told about it (from `tools/*.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCallRequest {
    /// Opaque id pairing a call with its result (the model's own, or generated).
    pub id: String,
    pub name: String,
    pub arguments: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum ChatMessage {
    User {
        content: String,
    },
    Assistant {
        content: Option<String>,
        tool_calls: Vec<ToolCallRequest>,
    },
    Tool {
        call_id: String,
        name: String,
        content: String,
    },
}

/// Facts the runtime already knows, for models that do not read prose (the built-in one).
/// LLMs get the same facts rendered into the system prompt.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TurnFacts {
    pub company: String,
    /// Office hours in words, e.g. "Mon–Fri 8 AM–6 PM, Sat 9 AM–1 PM".
    pub hours: String,
    pub office_phone: Option<String>,
    pub channel: String,
    /// Tenant-local "now", RFC 3339 with offset.
    pub now_local: String,
    pub identity_level: String,
    pub customer_name: Option<String>,
    /// Free-form structured state the runtime keeps per conversation (pending proposal,
    /// offered windows, identity progress); see `agent::state`.
    pub state: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelRequest {
    pub system: String,
    pub messages: Vec<ChatMessage>,
    pub tools: Vec<ToolSpec>,
    pub facts: TurnFacts,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelStep {
    /// Say this to the customer; the turn ends.
    Reply { text: String },
    /// Run these tools, then ask again. `text` is an optional interim remark.
    ToolCalls {
        text: Option<String>,
        calls: Vec<ToolCallRequest>,
    },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelResponse {
    pub step: ModelStep,
    pub usage: Usage,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ModelError {
    #[error("model timed out")]
    Timeout,
    #[error("model transport failed: {0}")]
    Transport(String),
    #[error("model endpoint answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("model answer was malformed: {0}")]
    Malformed(String),
}

pub type ModelFuture<'a> =
    Pin<Box<dyn Future<Output = Result<ModelResponse, ModelError>> + Send + 'a>>;

pub trait Model: Send + Sync {
    /// A short name for logs, reports and cost accounting (e.g. `builtin`, `openai:gpt-4o-mini`).
    fn name(&self) -> String;
    fn complete<'a>(&'a self, request: &'a ModelRequest) -> ModelFuture<'a>;
}
