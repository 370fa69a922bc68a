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
    /// What `usage` cost in US dollars, when the model has prices.
    fn cost_usd(&self, _usage: &Usage) -> Option<f64> {
        None
    }
    /// Whether a step is computed in this process without waiting on anything (the built-in
    /// model): a turn keeps its transaction open across such a step. A model that waits on
    /// a network answer must not (`agent::runtime::TurnTx`).
    fn in_process(&self) -> bool {
        false
    }
}

/// Text that is a tool call written out instead of made: `functions.escalate: {…}`,
/// `<tool_call>…</tool_call>`, `[TOOL_CALLS]…`, `<function=…>`, a bare
/// `{"name": …, "arguments": …}` object. A reply like that is malformed, never a message.
pub fn is_tool_call_syntax(text: &str) -> bool {
    const MARKERS: &[&str] = &[
        "<tool_call>",
        "</tool_call>",
        "<|tool_call",
        "<tool_calls>",
        "[tool_calls]",
        "<function=",
        "<|python_tag|>",
        "<functioncall>",
    ];
    let t = text.trim();
    let lower = t.to_lowercase();
    if MARKERS.iter().any(|m| lower.contains(m)) {
        return true;
    }
    // `functions.name:` / `functions.name(` / `functions.name {` anywhere in the text.
    let mut rest = lower.as_str();
    while let Some(i) = rest.find("functions.") {
        let after = &rest[i + "functions.".len()..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        if name_len > 0 {
            let next = after[name_len..].trim_start().chars().next();
            if matches!(next, None | Some(':' | '(' | '{')) {
                return true;
            }
        }
        rest = after;
    }
    // A JSON object naming a function and its arguments.
    if t.starts_with('{') {
        if let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(t) {
            let named = m.contains_key("name") || m.contains_key("function");
            let args = m.contains_key("arguments") || m.contains_key("parameters");
            return named && args;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::is_tool_call_syntax;

    #[test]
    fn tool_call_syntax_is_recognised() {
        for text in [
            "functions.escalate:",
            "functions.reschedule_appointment: {\"appointment_id\": 3}",
            "Sure. functions.find_open_windows({})",
            "<tool_call>{\"name\": \"escalate\"}</tool_call>",
            "[TOOL_CALLS][{\"name\": \"escalate\"}]",
            "<function=escalate>{}</function>",
            "{\"name\": \"escalate\", \"arguments\": {\"reason\": \"other\"}}",
        ] {
            assert!(is_tool_call_syntax(text), "{text}");
        }
        for text in [
            "Your visit is on Tuesday, 8 AM–12 PM.",
            "The functions of our treatment: ants and roaches.",
            "{not json at all",
            "I can move it to Friday. Reply YES to confirm.",
        ] {
            assert!(!is_tool_call_syntax(text), "{text}");
        }
    }
}
