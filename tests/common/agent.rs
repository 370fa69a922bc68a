//! Driving the agent like a customer: a `Conversation` sends messages in-process through
//! `Agent::handle` (or over `POST /api/v1/messages`) and exposes what the turn left in the
//! store — the conversation row, tool calls, escalations, messages and outbox rows.

use std::sync::atomic::{AtomicU64, Ordering};

use frontdesk::agent::{Caller, Inbound, TurnOutcome};
use frontdesk::domain::{Channel, ConversationId, CustomerId, Role, TenantId};
use frontdesk::store::{Appointment, Conversation as ConversationRow, Slot, ToolCall};
use serde_json::{json, Value};

use super::app::TestApp;
use super::TestDb;

/// The demo tenant's first Twilio number.
pub const DEMO_NUMBER: &str = "+15125550000";
pub const RACHEL: &str = "+15125550155";
pub const GARCIAS: &str = "+15125550111";
pub const GREG: &str = "+15125550166";
pub const JOHN_SMITH: &str = "+15125550133";
/// A number no demo customer uses.
pub const STRANGER: &str = "+15125557777";

static EXTERNAL: AtomicU64 = AtomicU64::new(1);

/// One customer's side of a conversation.
pub struct Conversation<'a> {
    pub app: &'a TestApp,
    pub tenant: TenantId,
    pub channel: Channel,
    pub from: String,
    pub caller: Caller,
    pub id: Option<ConversationId>,
    pub replies: Vec<Option<String>>,
    /// The integration token `post` uses (an API conversation belongs to its token).
    pub api_token: Option<String>,
}

impl<'a> Conversation<'a> {
    pub fn sms(app: &'a TestApp, from: &str) -> Self {
        Conversation {
            app,
            tenant: app.demo.demo,
            channel: Channel::Sms,
            from: from.to_string(),
            caller: Caller::phone(from, true),
            id: None,
            replies: Vec::new(),
            api_token: None,
        }
    }

    pub fn portal(app: &'a TestApp, customer: CustomerId) -> Self {
        Conversation {
            app,
            tenant: app.demo.demo,
            channel: Channel::Chat,
            from: format!("portal:{customer}"),
            caller: Caller::Portal(customer),
            id: None,
            replies: Vec::new(),
            api_token: None,
        }
    }

    /// Send one message in-process and return the whole outcome.
    pub async fn send(&mut self, text: &str) -> TurnOutcome {
        let n = EXTERNAL.fetch_add(1, Ordering::Relaxed);
        let out = self
            .app
            .state
            .agent
            .handle(Inbound {
                tenant: self.tenant,
                channel: self.channel,
                participant: self.from.clone(),
                text: text.to_string(),
                external_id: Some(format!("conv-{}-{n}", self.from)),
                media: vec![],
                caller: self.caller.clone(),
                reply_from: None,
            })
            .await
            .expect("the turn runs");
        self.id = Some(out.conversation_id);
        self.replies.push(out.reply.clone());
        out
    }

    /// Send one message and return the agent's reply (which must exist).
    pub async fn say(&mut self, text: &str) -> String {
        let out = self.send(text).await;
        out.reply
            .unwrap_or_else(|| panic!("the agent answered `{text}`"))
    }

    /// Send over `POST /api/v1/messages` with an integration token that verifies its callers
    /// (the same one for the whole conversation); the JSON answer.
    pub async fn post(&mut self, text: &str, external_id: &str) -> Value {
        if self.api_token.is_none() {
            let token = self
                .app
                .state
                .store
                .create_token_with(
                    self.tenant,
                    None,
                    Role::Integration,
                    "answering service",
                    true,
                    0,
                )
                .await
                .expect("token");
            self.api_token = Some(token);
        }
        let token = self.api_token.clone().unwrap_or_default();
        let res = self
            .app
            .http
            .post(self.app.url("/api/v1/messages"))
            .bearer_auth(&token)
            .json(&json!({ "channel": "sms", "from": self.from, "to": DEMO_NUMBER, "text": text, "external_id": external_id }))
            .send()
            .await
            .expect("post a message");
        assert_eq!(res.status(), 200, "POST /api/v1/messages `{text}`");
        let body: Value = res.json().await.expect("json answer");
        self.id = body["conversation_id"]
            .as_i64()
            .map(ConversationId)
            .or(self.id);
        body
    }

    pub fn id(&self) -> ConversationId {
        self.id.expect("a message was sent first")
    }

    pub async fn row(&self) -> ConversationRow {
        self.app
            .state
            .store
            .conversation(self.tenant, self.id())
            .await
            .expect("the conversation row")
    }

    pub async fn tool_calls(&self) -> Vec<ToolCall> {
        self.app
            .state
            .store
            .tool_calls(self.tenant, self.id())
            .await
            .expect("tool calls")
    }

    /// `(tool, decision, rule)` of every tool call, in order.
    pub async fn decisions(&self) -> Vec<(String, String, String)> {
        self.tool_calls()
            .await
            .into_iter()
            .map(|c| (c.tool, c.decision, c.rule))
            .collect()
    }

    /// Tool calls of one tool that were allowed (i.e. that ran).
    pub async fn allowed(&self, tool: &str) -> usize {
        self.tool_calls()
            .await
            .iter()
            .filter(|c| c.tool == tool && c.decision == "allowed")
            .count()
    }

    /// Escalations of this conversation as `(reason, priority, status)`.
    pub async fn escalations(&self, db: &TestDb) -> Vec<(String, String, String)> {
        let id = self.id().0;
        let n = db
            .scalar(&format!(
                "SELECT COUNT(*) FROM escalations WHERE conversation_id = {id}"
            ))
            .await;
        let mut out = Vec::new();
        for reason in REASONS {
            for priority in ["low", "normal", "high", "urgent"] {
                for status in ["open", "claimed", "resolved"] {
                    let k = db
                        .scalar(&format!(
                            "SELECT COUNT(*) FROM escalations WHERE conversation_id = {id} \
                             AND reason = '{reason}' AND priority = '{priority}' AND status = '{status}'"
                        ))
                        .await;
                    for _ in 0..k {
                        out.push((reason.to_string(), priority.to_string(), status.to_string()));
                    }
                }
            }
        }
        assert_eq!(out.len() as i64, n, "every escalation has a known reason");
        out
    }

    /// The reasons of this conversation's escalations.
    pub async fn escalation_reasons(&self, db: &TestDb) -> Vec<String> {
        self.escalations(db)
            .await
            .into_iter()
            .map(|(r, _, _)| r)
            .collect()
    }

    /// Every message text stored for this conversation, both directions.
    pub async fn stored_texts(&self) -> Vec<String> {
        self.app
            .state
            .store
            .messages(self.tenant, self.id())
            .await
            .expect("messages")
            .into_iter()
            .map(|m| m.text)
            .collect()
    }
}

const REASONS: &[&str] = &[
    "customer_request",
    "out_of_policy",
    "cancellation",
    "renegotiation",
    "billing_dispute",
    "emergency",
    "identity_unresolved",
    "model_failure",
    "voicemail",
    "other",
];

/// Run a conversation's pending turns in this task, outside the turn gate (as recovery does).
pub async fn drain_now(app: &TestApp, conversation: frontdesk::domain::ConversationId) {
    let mut usage = Default::default();
    app.state
        .agent
        .drain(
            app.demo.demo,
            conversation,
            &mut usage,
            &mut frontdesk::agent::runtime::GateSlot::ungated(),
        )
        .await
        .expect("drained");
}

pub async fn appointment(app: &TestApp, id: frontdesk::domain::AppointmentId) -> Appointment {
    app.state
        .store
        .appointment(app.demo.demo, id)
        .await
        .expect("the appointment")
}

pub async fn slot(app: &TestApp, id: frontdesk::domain::SlotId) -> Slot {
    app.state
        .store
        .slot(app.demo.demo, id)
        .await
        .expect("the slot")
}

/// Rachel Kim's one upcoming appointment.
pub async fn rachel_appointment(app: &TestApp) -> Appointment {
    appointment(
        app,
        app.demo
            .rachel_kim_appointment
            .expect("Rachel Kim has an upcoming visit"),
    )
    .await
}

/// Appointments (any status) in the demo tenant, for "nothing was written" checks.
pub async fn appointment_count(db: &TestDb) -> i64 {
    db.scalar("SELECT COUNT(*) FROM appointments").await
}

/// Sum of `booked` over all slots: changes with every booking or cancellation.
pub async fn booked_total(db: &TestDb) -> i64 {
    db.scalar("SELECT CAST(COALESCE(SUM(booked), 0) AS BIGINT) FROM slots")
        .await
}

/// Allowed writes (reschedules and bookings) in the whole database.
pub async fn writes(db: &TestDb) -> i64 {
    db.scalar(
        "SELECT COUNT(*) FROM tool_calls WHERE decision = 'allowed' \
         AND tool IN ('reschedule_appointment', 'book_service')",
    )
    .await
}

/// The reply contains none of these (case-insensitive).
#[track_caller]
pub fn assert_says_none(reply: &str, forbidden: &[&str]) {
    let lower = reply.to_lowercase();
    for f in forbidden {
        assert!(
            !lower.contains(&f.to_lowercase()),
            "the reply must not contain `{f}`: {reply}"
        );
    }
}

/// The reply contains all of these (case-insensitive).
#[track_caller]
pub fn assert_says_all(reply: &str, wanted: &[&str]) {
    let lower = reply.to_lowercase();
    for w in wanted {
        assert!(
            lower.contains(&w.to_lowercase()),
            "the reply must contain `{w}`: {reply}"
        );
    }
}

/// "Mon Nov 30" as window labels show a local date.
pub fn day_label(at: chrono::DateTime<chrono::Utc>) -> String {
    at.with_timezone(&chrono_tz::America::Chicago)
        .format("%a %b %-d")
        .to_string()
}

/// A second, independent agent over the same database (its own pool, search index and
/// state), as a second instance behind a load balancer would have.
pub async fn second_agent(db: &TestDb) -> frontdesk::agent::Agent {
    let settings = frontdesk::config::RawSettings {
        database_url: Some(db.url().to_string()),
        clock: Some(super::app::CLOCK.into()),
        ..Default::default()
    }
    .resolve()
    .expect("settings of the second instance");
    let store = frontdesk::store::Store::connect(db.url(), super::POOL_SIZE)
        .await
        .expect("the second instance's store");
    frontdesk::app::build_state(settings, store)
        .await
        .expect("the second instance")
        .agent
        .clone()
}
