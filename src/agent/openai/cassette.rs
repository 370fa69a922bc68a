//! Cassettes: exchanges with real chat-completions servers (`tests/cassettes/*.json`),
//! replayed against the loopback fake so the client is tested on what real servers sent.
//! Each cassette says where its exchanges come from (`source`: a recording, or a server's
//! documented shape) and, per exchange, the request this client sent (checked byte for byte
//! as JSON on replay), the server's answer, and what the client must make of it (`expect`,
//! written by hand when the cassette was made).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::agent::model::{ChatMessage, ModelRequest, ToolCallRequest, TurnFacts};
use crate::domain::Channel;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cassette {
    /// The server and model, e.g. `llama-cpp-python 0.3.36 …`.
    pub server: String,
    /// `recorded` (a real exchange) or `documented` (written from the server's docs).
    pub source: String,
    pub note: String,
    /// The client settings the requests were sent with.
    pub model: String,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
    pub exchanges: Vec<Exchange>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Exchange {
    /// One of [`requests`]' names; `raw:` exchanges were sent as-is (not by this client) to
    /// show how the server treats a shape.
    pub name: String,
    pub request: Value,
    pub status: u16,
    pub response: Value,
    /// `reply`, `tool_calls:<name>`, `malformed`, or `final_error` (not retried).
    pub expect: String,
}

/// The requests cassettes are made of: a system prompt like production's, the real tool
/// specs, and a few customer messages.
pub fn requests() -> Vec<(&'static str, ModelRequest)> {
    let system = crate::agent::prompts::system_prompt(&[
        ("company", "Greenleaf Pest Control"),
        ("channel", "sms"),
        ("now", "2026-11-23T20:15:00-06:00 (Monday)"),
        ("timezone", "America/Chicago"),
        ("hours", "Mon–Fri 8 AM–6 PM, Sat 9 AM–1 PM"),
        ("identity", "Verified customer: Rachel Kim."),
        (
            "channel_style",
            crate::agent::prompts::channel_style(Channel::Sms),
        ),
    ]);
    let tools = crate::agent::tools::specs();
    let req = |messages: Vec<ChatMessage>| ModelRequest {
        system: system.clone(),
        messages,
        tools: tools.clone(),
        facts: TurnFacts::default(),
    };
    let user = |t: &str| ChatMessage::User {
        content: t.to_string(),
    };
    vec![
        (
            "price_question",
            req(vec![user("how much is mosquito treatment?")]),
        ),
        (
            "move_a_week",
            req(vec![user("can u bump my appt out like 7 days")]),
        ),
        (
            "wants_a_person",
            req(vec![user("i want to talk to a real person please")]),
        ),
        (
            "after_a_tool_call",
            req(vec![
                user("how much is mosquito treatment?"),
                ChatMessage::Assistant {
                    content: None,
                    tool_calls: vec![ToolCallRequest {
                        id: "call_q".into(),
                        name: "quote_price".into(),
                        arguments: serde_json::json!({ "service_code": "MOSQ" }),
                    }],
                },
                ChatMessage::Tool {
                    call_id: "call_q".into(),
                    name: "quote_price".into(),
                    content: serde_json::json!({
                        "service": "Mosquito Control", "service_code": "MOSQ",
                        "per_visit": "$65.00", "initial_fee": "$0.00",
                        "first_visit_total": "$65.00", "per_visit_cents": 6500,
                        "first_visit_total_cents": 6500, "recurring_interval_days": 30,
                        "rule": "flat", "size_basis": "property on file"
                    })
                    .to_string(),
                },
            ]),
        ),
    ]
}
