//! What the runtime remembers about a conversation between turns: who the caller might be,
//! the write the agent proposed (and whether the customer saw it), windows it offered. Kept
//! as JSON on the conversation row; models see it only as facts.

use serde::{Deserialize, Serialize};

use crate::domain::{CustomerId, EscalationId, PropertyId, SlotId};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentState {
    /// Number of turns the agent has taken in this conversation.
    pub turn: u32,
    /// Customers the caller id points to (never shown to the caller).
    pub candidates: Vec<CustomerId>,
    /// Properties among which the caller must pick by street.
    pub property_candidates: Vec<PropertyId>,
    /// Verification attempts that failed in this conversation (docs/identity.md).
    pub failed_verifications: u32,
    /// The turn whose customer message already had its one verification attempt.
    pub verification_attempt_turn: Option<u32>,
    /// Too many failed attempts: this conversation can no longer verify (a person follows up).
    pub identity_locked: bool,
    pub proposal: Option<Proposal>,
    pub offered: Vec<OfferedWindow>,
    /// The escalation acknowledgement has been sent; the agent stays silent after it.
    pub acknowledged_escalation: bool,
    /// The escalation for which on-call was paged (an emergency pages once per escalation).
    pub paged_escalation: Option<EscalationId>,
    /// Free-form memory of the built-in model (e.g. the intent it is working on).
    pub memo: serde_json::Value,
}

/// A write the agent put to the customer and that needs their agreement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    pub tool: String,
    pub arguments: serde_json::Value,
    /// The concrete change (what, when, price) in the words shown to the customer.
    pub summary: String,
    /// The turn whose reply showed it; `None` until a reply carrying it was sent.
    pub shown_in_turn: Option<u32>,
    /// The newest inbound message when that reply was stored: only a later message (one
    /// the customer wrote after the question reached them) can agree to it.
    #[serde(default)]
    pub answerable_after_inbox: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfferedWindow {
    pub slot_id: SlotId,
    pub label: String,
}
