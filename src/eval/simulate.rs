//! A simulated customer: an LLM (any OpenAI-compatible endpoint, through the same `Model`
//! trait the agent uses) plays the customer of a scenario from its `goal` and `persona`,
//! one message per turn, and ends the conversation by writing `###STOP###`.
//!
//! From the simulator's side the roles are swapped: the agent's replies are the "user"
//! messages and the customer's own earlier messages are the "assistant" ones.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::agent::model::{ChatMessage, Model, ModelRequest, ModelStep, TurnFacts, Usage};

use super::scenario::Scenario;

// What a trial records, turn by turn: read by the runner's checks and by the simulated
// customer (which writes the next message from it).

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToolCallRecord {
    pub tool: String,
    pub arguments: Value,
    pub decision: String,
    pub rule: String,
    pub result: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TurnRecord {
    pub customer: String,
    /// What the customer received (`None`: no reply, e.g. a human owns the conversation).
    pub reply: Option<String>,
    pub escalated: bool,
    pub identity: String,
    pub tool_calls: Vec<ToolCallRecord>,
    pub latency_ms: f64,
    /// Set when the SMS compliance layer answered instead of the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handled_by: Option<String>,
}

/// Written by the simulated customer when the conversation is over.
pub const STOP_MARKER: &str = "###STOP###";

#[derive(Clone)]
pub struct Simulator {
    pub model: Arc<dyn Model>,
}

impl Simulator {
    pub fn new(model: Arc<dyn Model>) -> Simulator {
        Simulator { model }
    }

    /// The customer's next message and whether it is their last, or `None` when they are
    /// done (the marker alone, or an empty answer). Text before the marker is still sent.
    pub async fn next_message(
        &self,
        scenario: &Scenario,
        turns: &[TurnRecord],
    ) -> anyhow::Result<Option<SimulatedMessage>> {
        let request = request_for(scenario, turns);
        let response = self
            .model
            .complete(&request)
            .await
            .map_err(|e| anyhow::anyhow!("simulated customer: {e}"))?;
        let text = match response.step {
            ModelStep::Reply { text } => text,
            ModelStep::ToolCalls { text, .. } => text.unwrap_or_default(),
        };
        let (before, stopped) = match text.find(STOP_MARKER) {
            Some(i) => (text[..i].trim().to_string(), true),
            None => (text.trim().to_string(), false),
        };
        if before.is_empty() {
            return Ok(None);
        }
        Ok(Some(SimulatedMessage {
            text: before,
            last: stopped,
            usage: response.usage,
        }))
    }
}

#[derive(Debug, Clone)]
pub struct SimulatedMessage {
    pub text: String,
    /// The customer wrote the stop marker: send this, then end.
    pub last: bool,
    pub usage: Usage,
}

/// The prompt for the customer's next message.
pub fn request_for(scenario: &Scenario, turns: &[TurnRecord]) -> ModelRequest {
    let channel = match scenario.channel.as_str() {
        "voice" => "talking on the phone with (your words are transcribed)",
        "chat" => "chatting in the customer portal with",
        _ => "texting",
    };
    let system = format!(
        "You are role-playing a customer of a pest control company, {channel} its automated \
         front desk. Stay in character; write only the customer's next message, short and \
         natural for the channel; never play the company's side.\n\
         Your goal: {goal}\n\
         Who you are and how you write: {persona}\n\
         If the assistant asks for details you have (name, street, zip), give them. Agree to \
         a proposed change only if it fits your goal. When your goal is met, or clearly \
         cannot be met in this conversation, write a short closing message ending with \
         {STOP_MARKER}.",
        goal = scenario.goal.as_deref().unwrap_or("get help"),
        persona = scenario
            .persona
            .as_deref()
            .unwrap_or("an ordinary customer"),
    );
    let mut messages = vec![ChatMessage::User {
        content: "(The conversation starts. Write your first message.)".into(),
    }];
    for t in turns {
        messages.push(ChatMessage::Assistant {
            content: Some(t.customer.clone()),
            tool_calls: vec![],
        });
        messages.push(ChatMessage::User {
            content: t
                .reply
                .clone()
                .unwrap_or_else(|| "(no answer yet)".to_string()),
        });
    }
    ModelRequest {
        system,
        messages,
        tools: vec![],
        facts: TurnFacts::default(),
    }
}
