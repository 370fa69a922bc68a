//! The turn: inbound message → exactly-once inbox → per-conversation lock → identity →
//! bounded model/tool loop → reply → everything persisted in one transaction.
//!
//! Ordering and exactly-once: every inbound message is first written to the inbox (unique
//! per external id), then whoever holds the conversation lock processes ALL pending inbox
//! items of that conversation in arrival order, each in the same transaction as its tool
//! writes, reply and audit trail. A crash rolls the whole turn back; the item stays pending
//! and the redelivery (or the next message) completes it once.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::builtin;
use super::escalation::{self, EscalationRequest};
use super::model::{
    ChatMessage, Model, ModelError, ModelRequest, ModelStep, ToolCallRequest, TurnFacts, Usage,
};
use super::prompts;
use super::state::AgentState;
use super::tools::{self, Identity, ToolCtx};
use crate::clock::Clock;
use crate::domain::{
    Channel, ConversationId, CustomerId, Direction, EscalationReason, IdentityLevel, PhoneE164,
    TenantId,
};
use crate::search::SearchIndex;
use crate::store::{Enqueued, InboxItem, NewMessage, Store, StoreError, Tenant, Tx};

/// At most this many model steps per turn; a model that keeps calling tools past it is
/// treated as failed (the customer is handed to a person rather than left waiting).
pub const MAX_STEPS: usize = 8;
/// How long one model step may take before the fallback answers.
pub const MODEL_TIMEOUT: StdDuration = StdDuration::from_secs(20);
/// Waiting for another worker that holds a duplicate's turn.
const DUPLICATE_WAIT: StdDuration = StdDuration::from_secs(10);

#[derive(Debug, Clone)]
pub struct Inbound {
    pub tenant: TenantId,
    pub channel: Channel,
    /// The conversation key: an E.164 phone for SMS/API, `portal:<customer id>` for chat,
    /// `call:<CallSid>` for voice.
    pub participant: String,
    pub text: String,
    pub external_id: Option<String>,
    pub media: Vec<String>,
    /// Who the channel says is writing, and how far that can be trusted.
    pub caller: Caller,
}

impl Inbound {
    /// How a person can reach the writer: the caller's number when the channel reported one,
    /// else the conversation key (a voice conversation is keyed by its call, not the number).
    pub fn reach(&self) -> String {
        match &self.caller {
            Caller::Phone { phone, .. } => phone.to_string(),
            _ => self.participant.clone(),
        }
    }
}

/// What the channel (not the message text) says about who is writing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A phone number reported by the carrier or an integration. `verifies`: a phone on file
    /// counts as verified for scheduling actions (SMS from the carrier; an integration token
    /// trusted to have verified the caller itself). Voice caller ids can be spoofed: they
    /// only match.
    Phone { phone: PhoneE164, verifies: bool },
    /// A customer signed in to the portal (the token proved who this is).
    Portal(CustomerId),
    /// No usable caller id (withheld, or not a phone number): never matches anyone.
    Unknown,
}

impl Caller {
    /// A caller id as a channel reports it; anything that is not an E.164 number is unknown.
    pub fn phone(raw: &str, verifies: bool) -> Caller {
        match PhoneE164::parse(raw) {
            Ok(phone) => Caller::Phone { phone, verifies },
            Err(_) => Caller::Unknown,
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TurnOutcome {
    pub conversation_id: ConversationId,
    /// `None`: the agent stays silent (a human owns the conversation).
    pub reply: Option<String>,
    pub escalated: bool,
    pub duplicate: bool,
    pub usage: Usage,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a duplicate delivery is still being processed elsewhere")]
    Busy,
}

/// Bounds how many turns one instance runs at once. A turn holds one pooled connection for
/// its transaction (possibly waiting on the conversation lock) and borrows a second one for
/// reads; without a bound, a burst of messages fills the pool with waiting transactions and
/// the turn holding the lock can never get its second connection.
#[derive(Clone, Debug)]
pub struct TurnGate(Arc<tokio::sync::Semaphore>);

impl TurnGate {
    /// A gate for a store whose pool has `max_connections` connections: a third of them may
    /// be in turns, leaving room for reads and for requests outside the agent.
    pub fn for_pool(max_connections: u32) -> Self {
        let permits = (max_connections as usize / 3).max(1);
        TurnGate(Arc::new(tokio::sync::Semaphore::new(permits)))
    }
}

#[derive(Clone)]
pub struct Agent {
    pub store: Store,
    /// Turns running at once in this instance.
    pub gate: TurnGate,
    pub search: Arc<SearchIndex>,
    pub model: Arc<dyn Model>,
    /// Answers when `model` fails or times out.
    pub fallback: Arc<dyn Model>,
    pub clock: Clock,
}

impl Agent {
    pub async fn handle(&self, inbound: Inbound) -> Result<TurnOutcome, AgentError> {
        let now = self.clock.now();
        let external_id = match &inbound.external_id {
            Some(e) if !e.trim().is_empty() => e.trim().to_string(),
            _ => format!(
                "gen-{}",
                crate::auth::generate_token().map_err(|e| StoreError::Corrupt(e.to_string()))?
            ),
        };
        let text = builtin::mask_secrets(&inbound.text);
        // Enqueueing writes too (SQLite: waits for the write lock): it holds a turn's place.
        let permit = self.gate.0.acquire().await.map_err(|_| AgentError::Busy)?;
        let conversation = self
            .store
            .open_conversation(inbound.tenant, inbound.channel, &inbound.participant, now)
            .await?;
        let (inbox_id, conversation, duplicate) = match self
            .store
            .enqueue_inbound(
                inbound.tenant,
                conversation,
                &external_id,
                &text,
                &inbound.media,
                now,
            )
            .await?
        {
            Enqueued::New {
                inbox_id,
                conversation_id,
            } => (inbox_id, conversation_id, false),
            Enqueued::Duplicate {
                inbox_id,
                conversation_id,
                done: true,
            } => {
                let item = self.store.inbox_by_id(inbound.tenant, inbox_id).await?;
                return Ok(outcome_of(conversation_id, &item, true));
            }
            Enqueued::Duplicate {
                inbox_id,
                conversation_id,
                done: false,
            } => (inbox_id, conversation_id, true),
        };
        drop(permit);

        let deadline = tokio::time::Instant::now() + DUPLICATE_WAIT;
        loop {
            let mut usage = Usage::default();
            {
                let _permit = self.gate.0.acquire().await.map_err(|_| AgentError::Busy)?;
                self.drain(&inbound, conversation, &mut usage).await?;
            }
            let item = self.store.inbox_by_id(inbound.tenant, inbox_id).await?;
            if item.done {
                let mut out = outcome_of(conversation, &item, duplicate);
                out.usage = usage;
                return Ok(out);
            }
            if tokio::time::Instant::now() > deadline {
                return Err(AgentError::Busy);
            }
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        }
    }

    /// Put an inbound item straight into the human queue (a voicemail that cannot be
    /// answered by text): stored as a customer message with an escalation, exactly once.
    pub async fn file_for_humans(
        &self,
        inbound: Inbound,
        reason: EscalationReason,
        summary: &str,
    ) -> Result<ConversationId, AgentError> {
        let now = self.clock.now();
        let external_id = inbound
            .external_id
            .clone()
            .unwrap_or_else(|| format!("human-{}", now.timestamp_nanos_opt().unwrap_or_default()));
        let conversation = self
            .store
            .open_conversation(inbound.tenant, inbound.channel, &inbound.participant, now)
            .await?;
        let conversation = match self
            .store
            .enqueue_inbound(
                inbound.tenant,
                conversation,
                &external_id,
                &inbound.text,
                &inbound.media,
                now,
            )
            .await?
        {
            Enqueued::New {
                conversation_id, ..
            } => conversation_id,
            Enqueued::Duplicate {
                conversation_id, ..
            } => return Ok(conversation_id),
        };
        let tenant = self.store.tenant(inbound.tenant).await?;
        let mut tx = self.store.begin().await?;
        let conv = tx.lock_conversation(tenant.id, conversation).await?;
        for item in tx.pending_inbox(conversation).await? {
            tx.insert_message(
                tenant.id,
                conversation,
                &NewMessage {
                    direction: Direction::Inbound,
                    author: "customer".into(),
                    text: item.text.clone(),
                    external_id: Some(item.external_id.clone()),
                    media: item.media.clone(),
                },
                now,
            )
            .await?;
            tx.finish_inbox(item.id, None, true, now).await?;
        }
        let customer = match (conv.customer_id, &inbound.caller) {
            (Some(c), _) => Some(c),
            (None, Caller::Phone { phone: p, .. }) => match self
                .store
                .customers_by_phone(tenant.id, p)
                .await?
                .as_slice()
            {
                [one] => Some(*one),
                _ => None,
            },
            _ => None,
        };
        let priority = escalation::default_priority(reason);
        let e = crate::store::NewEscalation {
            conversation_id: conversation,
            customer_id: customer,
            reason,
            priority,
            summary: format!(
                "From {} via {}. {summary}",
                inbound.reach(),
                inbound.channel
            ),
            due_at: escalation::due_at(&tenant, priority, now),
        };
        tx.insert_escalation(tenant.id, &e, now).await?;
        tx.commit().await?;
        Ok(conversation)
    }

    /// Take the conversation lock and run every pending inbound message in order.
    async fn drain(
        &self,
        inbound: &Inbound,
        conversation: ConversationId,
        usage: &mut Usage,
    ) -> Result<(), AgentError> {
        let mut tx = self.store.begin().await?;
        tx.lock_conversation(inbound.tenant, conversation).await?;
        let pending = tx.pending_inbox(conversation).await?;
        if pending.is_empty() {
            return Ok(());
        }
        let tenant = self.store.tenant(inbound.tenant).await?;
        for item in pending {
            let (reply, escalated) = self
                .turn(&mut tx, &tenant, inbound, conversation, &item, usage)
                .await?;
            tx.finish_inbox(item.id, reply.as_deref(), escalated, self.clock.now())
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn turn(
        &self,
        tx: &mut Tx,
        tenant: &Tenant,
        inbound: &Inbound,
        conversation: ConversationId,
        item: &InboxItem,
        usage: &mut Usage,
    ) -> Result<(Option<String>, bool), AgentError> {
        let now = self.clock.now();
        let conv = tx.lock_conversation(tenant.id, conversation).await?;
        let history = self.store.messages(tenant.id, conversation).await?;
        tx.insert_message(
            tenant.id,
            conversation,
            &NewMessage {
                direction: Direction::Inbound,
                author: "customer".into(),
                text: item.text.clone(),
                external_id: Some(item.external_id.clone()),
                media: item.media.clone(),
            },
            now,
        )
        .await?;
        let mut state: AgentState =
            serde_json::from_value(tx.conversation_state(tenant.id, conversation).await?)
                .unwrap_or_default();
        let mut identity = Identity {
            level: conv.identity_level,
            customer: conv.customer_id,
            property: conv.property_id,
        };

        // A human owns the conversation: the agent stays silent.
        if conv.owner != "agent" {
            return Ok((None, false));
        }
        if state.turn == 0 {
            self.resolve_caller(tenant, inbound, &mut identity, &mut state)
                .await?;
        }
        state.turn += 1;

        let understanding = builtin::understand(
            &item.text,
            &builtin::Context {
                now_local: tenant.timezone.local(now).naive_local(),
            },
        );
        let affirmed = understanding.yes_no == Some(true);
        let spanish = understanding.language == builtin::Lang::Es;

        let mut messages: Vec<ChatMessage> = history
            .iter()
            .filter_map(|m| match (m.direction, m.author.as_str()) {
                (Direction::Inbound, _) => Some(ChatMessage::User {
                    content: m.text.clone(),
                }),
                (Direction::Outbound, "agent") => Some(ChatMessage::Assistant {
                    content: Some(m.text.clone()),
                    tool_calls: vec![],
                }),
                _ => None,
            })
            .collect();
        messages.push(ChatMessage::User {
            content: item.text.clone(),
        });

        let customer_name = match identity.customer {
            Some(c) if identity.level == IdentityLevel::Verified => {
                self.store.customer(tenant.id, c).await.ok().map(|c| c.name)
            }
            _ => None,
        };
        let portal_activity = match (inbound.channel, identity.customer) {
            (Channel::Chat, Some(c)) => self.store.portal_events(tenant.id, c, 5).await?,
            _ => Vec::new(),
        };
        let system = system_prompt(
            tenant,
            inbound.channel,
            &identity,
            customer_name.as_deref(),
            &portal_activity,
            now,
        );
        let mut request = ModelRequest {
            system,
            messages,
            tools: tools::specs(),
            facts: TurnFacts {
                company: tenant.name.clone(),
                hours: tenant.business_hours.describe(),
                office_phone: tenant.office_phone.clone(),
                channel: inbound.channel.as_str().into(),
                now_local: crate::record::local(tenant.timezone, now).to_rfc3339(),
                identity_level: identity.level.as_str().into(),
                customer_name,
                state: json!({}),
            },
        };

        let participant = inbound.reach();
        let mut ctx = ToolCtx {
            store: &self.store,
            tx,
            search: &self.search,
            tenant,
            conversation,
            channel: inbound.channel,
            participant: &participant,
            identity: &mut identity,
            state: &mut state,
            now,
            customer_affirmed: affirmed,
            customer_text: &item.text,
            escalated: None,
            confirm_text: None,
            spanish,
            actions: Vec::new(),
        };
        let mut reply: Option<String> = None;
        for _ in 0..MAX_STEPS {
            request.facts.identity_level = ctx.identity.level.as_str().into();
            request.facts.state = facts_state(ctx.state, &portal_activity);
            let step = match self.step(&request).await {
                Ok(resp) => {
                    usage.prompt_tokens += resp.usage.prompt_tokens;
                    usage.completion_tokens += resp.usage.completion_tokens;
                    resp.step
                }
                Err(e) => {
                    tracing::warn!(error = %e, "model and fallback failed");
                    let req = EscalationRequest {
                        reason: EscalationReason::ModelFailure,
                        priority: None,
                        model_summary: String::new(),
                    };
                    ctx.escalated = Some(escalation::open(&mut ctx, req).await?);
                    break;
                }
            };
            match step {
                ModelStep::Reply { text } => {
                    reply = Some(text);
                    break;
                }
                ModelStep::ToolCalls { text, calls } => {
                    let calls: Vec<ToolCallRequest> = calls.into_iter().take(8).collect();
                    request.messages.push(ChatMessage::Assistant {
                        content: text,
                        tool_calls: calls.clone(),
                    });
                    for call in &calls {
                        let outcome = tools::run(&mut ctx, &call.name, &call.arguments).await?;
                        request.messages.push(ChatMessage::Tool {
                            call_id: call.id.clone(),
                            name: call.name.clone(),
                            content: outcome.result.to_string(),
                        });
                        if ctx.escalated.is_some() {
                            break;
                        }
                    }
                    if ctx.escalated.is_some() {
                        break;
                    }
                }
            }
        }
        if reply.is_none() && ctx.escalated.is_none() {
            let req = EscalationRequest {
                reason: EscalationReason::ModelFailure,
                priority: None,
                model_summary: format!("the agent did not finish within {MAX_STEPS} steps"),
            };
            ctx.escalated = Some(escalation::open(&mut ctx, req).await?);
        }

        let escalated = ctx.escalated.take();
        let confirm = ctx.confirm_text.take();
        let mut text = match &escalated {
            Some(e) => e.acknowledgement.clone(),
            None => reply.unwrap_or_default(),
        };
        if escalated.is_none() {
            if let Some(question) = confirm {
                // The change must be shown to the customer, word for word, before it can run.
                // A reply that does not carry the question is replaced by it: whatever else a
                // model wrote may contradict it ("Done!" when nothing was written).
                if !text.contains(&question) {
                    text = question;
                }
                if let Some(p) = ctx.state.proposal.as_mut() {
                    p.shown_in_turn = Some(ctx.state.turn);
                }
            }
        }
        if escalated.is_some() {
            ctx.state.acknowledged_escalation = true;
            ctx.state.proposal = None;
        }
        // A proposal stands for the customer's next message only: one that this reply does
        // not put to the customer (again) is dropped, so a later "yes" cannot run a change
        // the customer moved on from (or already declined).
        if ctx
            .state
            .proposal
            .as_ref()
            .is_some_and(|p| p.shown_in_turn != Some(ctx.state.turn))
        {
            ctx.state.proposal = None;
        }
        let owner = if escalated.is_some() {
            "queue"
        } else {
            "agent"
        };
        let (level, customer, property) = (
            ctx.identity.level,
            ctx.identity.customer,
            ctx.identity.property,
        );
        let state_json = serde_json::to_value(&*ctx.state).unwrap_or_default();
        drop(ctx);
        tx.insert_message(
            tenant.id,
            conversation,
            &NewMessage {
                direction: Direction::Outbound,
                author: "agent".into(),
                text: text.clone(),
                external_id: None,
                media: vec![],
            },
            now,
        )
        .await?;
        tx.update_conversation(
            tenant.id,
            conversation,
            customer,
            property,
            level,
            owner,
            &state_json,
            now,
        )
        .await?;
        Ok((Some(text), escalated.is_some()))
    }

    async fn step(
        &self,
        request: &ModelRequest,
    ) -> Result<super::model::ModelResponse, ModelError> {
        let primary = tokio::time::timeout(MODEL_TIMEOUT, self.model.complete(request)).await;
        match primary {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => {
                tracing::warn!(model = %self.model.name(), error = %e, "model failed; using the fallback");
                self.fallback.complete(request).await
            }
            Err(_) => {
                tracing::warn!(model = %self.model.name(), "model timed out; using the fallback");
                self.fallback.complete(request).await
            }
        }
    }

    /// First turn of a conversation: what the caller id (or portal token) says about who
    /// this is. Nothing here is revealed to the caller.
    async fn resolve_caller(
        &self,
        tenant: &Tenant,
        inbound: &Inbound,
        identity: &mut Identity,
        state: &mut AgentState,
    ) -> Result<(), StoreError> {
        let t = tenant.id;
        let (customers, phone_verifies) = match &inbound.caller {
            Caller::Portal(c) => (vec![*c], true),
            Caller::Phone { phone, verifies } => {
                (self.store.customers_by_phone(t, phone).await?, *verifies)
            }
            Caller::Unknown => (Vec::new(), false),
        };
        if customers.is_empty() {
            return Ok(());
        }
        let mut properties = Vec::new();
        for c in &customers {
            properties.extend(self.store.properties(t, *c).await?);
        }
        state.candidates = customers.clone();
        if customers.len() == 1 {
            identity.customer = Some(customers[0]);
            if properties.len() == 1 {
                identity.property = Some(properties[0].id);
            }
            identity.level = if phone_verifies {
                IdentityLevel::Verified
            } else {
                IdentityLevel::Matched
            };
        } else {
            identity.level = IdentityLevel::Matched;
        }
        if properties.len() > 1 {
            state.property_candidates = properties.iter().map(|p| p.id).collect();
        }
        Ok(())
    }
}

fn outcome_of(conversation: ConversationId, item: &InboxItem, duplicate: bool) -> TurnOutcome {
    TurnOutcome {
        conversation_id: conversation,
        reply: item.reply.clone(),
        escalated: item.escalated,
        duplicate,
        usage: Usage::default(),
    }
}

/// The state facts a model may see: what was offered and proposed, and identity progress
/// (counts, never other customers' data).
fn facts_state(state: &AgentState, portal: &[crate::store::PortalEvent]) -> serde_json::Value {
    let event =
        |e: &crate::store::PortalEvent| json!({ "kind": e.kind, "detail": e.detail, "at": e.at });
    json!({
        "turn": state.turn,
        "needs_property_choice": !state.property_candidates.is_empty(),
        "failed_verifications": state.failed_verifications,
        "proposal": state.proposal,
        "offered": state.offered,
        "latest_portal_event": portal.first().map(event),
        "recent_portal_events": portal.iter().map(event).collect::<Vec<_>>(),
    })
}

fn system_prompt(
    tenant: &Tenant,
    channel: Channel,
    identity: &Identity,
    name: Option<&str>,
    portal: &[crate::store::PortalEvent],
    now: DateTime<Utc>,
) -> String {
    // Whether a caller id matched a record is never stated: a model that knows could let it
    // show, and a caller must not learn whose number it is.
    let who = match (identity.level, name) {
        (IdentityLevel::Verified, Some(n)) => format!("Verified customer: {n}."),
        _ => "NOT verified yet. Ask for the full name, service address and ZIP code, and call `verify_identity` with whatever they give.".to_string(),
    };
    let mut identity_text = who;
    for e in portal {
        identity_text.push_str(&format!(
            "\nPortal activity {}: {} {}",
            e.at.to_rfc3339(),
            e.kind,
            e.detail
        ));
    }
    let hours = tenant.business_hours.describe();
    let now_local = crate::record::local(tenant.timezone, now)
        .format("%A %B %-d, %Y %-I:%M %p")
        .to_string();
    prompts::system_prompt(&[
        ("company", &tenant.name),
        ("channel", channel.as_str()),
        ("now", &now_local),
        ("timezone", tenant.timezone.name()),
        ("hours", &hours),
        ("identity", &identity_text),
        ("channel_style", prompts::channel_style(channel)),
    ])
}
