//! The turn: inbound message → exactly-once inbox → per-conversation lock → identity →
//! bounded model/tool loop → reply → everything persisted in one transaction.
//!
//! Ordering and exactly-once: every inbound message is first written to the inbox (unique
//! per external id), then whoever holds the conversation lock processes ALL pending inbox
//! items of that conversation in arrival order, each in the same transaction as its tool
//! writes, reply and audit trail. A crash rolls the whole turn back; the item stays pending
//! and the redelivery (or the next message) completes it once.

use crate::metrics::record;
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
    Caller, Channel, ConversationId, Direction, EscalationReason, IdentityLevel, TenantId,
};
use crate::search::SearchIndex;
use crate::store::{
    Conversation, Delivery, Enqueued, EventKind, Handover, InboxItem, NewInbound, NewMessage,
    NewOutbound, Store, StoreError, Tenant, Tx,
};

/// At most this many model steps per turn; a model that keeps calling tools past it is
/// treated as failed (the customer is handed to a person rather than left waiting).
pub const MAX_STEPS: usize = 8;
/// How long one model step may take before the fallback answers (never more than what is
/// left of the turn's budget).
pub const MODEL_TIMEOUT: StdDuration = StdDuration::from_secs(20);
/// How long a request waits for its message's turn when someone else runs it.
const WAIT_FOR_TURN: StdDuration = StdDuration::from_secs(60);
/// The model reads at most this many of a conversation's latest messages (a conversation
/// stays open while it is active, so its transcript has no bound of its own).
pub const HISTORY_MESSAGES: i64 = 60;
/// A conversation's lease, renewed before every step: a holder that dies is replaced after it.
pub const LEASE_SECS: i64 = 30;

#[derive(Debug, Clone)]
pub struct Inbound {
    pub tenant: TenantId,
    pub channel: Channel,
    /// The conversation key on this channel: an E.164 phone for SMS and the API, the call
    /// for voice, `portal:<customer id>` for chat. Never used to identify the customer.
    pub participant: String,
    pub text: String,
    pub external_id: Option<String>,
    pub media: Vec<String>,
    /// Who the channel says is writing, and how far that can be trusted.
    pub caller: Caller,
    /// Our number the customer wrote to (SMS, voice): a reply sent later goes out from it.
    pub reply_from: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TurnOutcome {
    pub conversation_id: ConversationId,
    /// The inbox row of the message (who delivers its reply is recorded there).
    pub inbox_id: i64,
    /// `None`: the agent stays silent (a human owns the conversation).
    pub reply: Option<String>,
    pub escalated: bool,
    pub duplicate: bool,
    pub usage: Usage,
    /// How the reply's delivery was recorded with the turn itself: the request waiting for
    /// it asked for that (`Agent::wait_for`) and ran the turn. `None`: still to claim.
    #[serde(skip)]
    pub delivery: Option<Delivery>,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the message's turn is still running elsewhere")]
    Busy,
    #[error("this external id was already used for a different message")]
    ExternalIdReused,
}

/// Bounds how many turns one instance runs at once, so a burst of messages cannot take
/// every pooled connection and starve the reads the running turns need.
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

/// A turn's place at the [`TurnGate`]: held while the turn works on the store, handed back
/// while it waits for a model (which can take seconds and uses no connection), so a slow
/// or hanging model cannot queue every other conversation behind it.
pub struct GateSlot {
    gate: Option<TurnGate>,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl GateSlot {
    /// Wait for a place at the gate.
    pub async fn enter(gate: &TurnGate) -> Result<GateSlot, AgentError> {
        let permit = gate
            .0
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| AgentError::Busy)?;
        Ok(GateSlot {
            gate: Some(gate.clone()),
            permit: Some(permit),
        })
    }

    /// Outside any gate (recovery runs a few conversations at a time on its own).
    pub fn ungated() -> GateSlot {
        GateSlot {
            gate: None,
            permit: None,
        }
    }

    /// Await `wait` with the place handed back; queue for it again afterwards.
    async fn while_waiting<T>(
        &mut self,
        wait: impl std::future::Future<Output = T>,
    ) -> Result<T, AgentError> {
        self.permit = None;
        let out = wait.await;
        if let Some(gate) = &self.gate {
            self.permit = Some(
                gate.0
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| AgentError::Busy)?,
            );
        }
        Ok(out)
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
    /// Keeps turns away from a model that keeps failing.
    pub breaker: Arc<super::breaker::Breaker>,
    pub clock: Clock,
    /// How long the model may take within one turn before the fallback answers instead, so
    /// every customer gets an answer inside the channel's reply budget.
    pub turn_budget: StdDuration,
}

/// What `Agent::accept` did with a message.
#[derive(Debug, Clone)]
pub enum Accepted {
    /// Recorded (or a redelivery of one still running): its turn is pending.
    Pending(Pending),
    /// A redelivery of a message whose turn already finished.
    Done(TurnOutcome),
}

/// A recorded message whose turn has not finished.
#[derive(Debug, Clone)]
pub struct Pending {
    pub inbox_id: i64,
    pub conversation: ConversationId,
    /// A redelivery of a message whose turn is still running.
    pub duplicate: bool,
    /// The conversation's lease, taken with the message (`Agent::accept_to_run`): whoever
    /// waits for the message runs the conversation's turns with it.
    pub lease: Option<String>,
}

/// How a message's turn finished: what its inbox row now says.
struct Finished {
    reply: Option<String>,
    escalated: bool,
    /// The turn's last transaction gave the conversation's lease back (nothing else was
    /// pending).
    released: bool,
    /// Who delivers the reply, recorded in the turn's last transaction.
    delivery: Option<Delivery>,
}

/// What a turn carries between its steps (which may be committed separately: `TurnTx`).
#[derive(Default)]
struct Carry {
    escalated: Option<escalation::Escalated>,
    confirm_text: Option<String>,
    actions: Vec<String>,
}

impl Carry {
    /// What a batch of tools leaves for the next step.
    fn from_tools(ctx: &mut ToolCtx<'_>) -> Carry {
        Carry {
            escalated: ctx.escalated.take(),
            confirm_text: ctx.confirm_text.take(),
            actions: std::mem::take(&mut ctx.actions),
        }
    }
}

/// A fresh random token (a lease holder, an id for a message that came without one).
fn token() -> Result<String, StoreError> {
    crate::auth::generate_token().map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Until when a lease taken now runs (wall clock seconds).
fn lease_until() -> i64 {
    crate::store::wall_now() + LEASE_SECS
}

/// The message a waiting request wants answered, and how it will deliver the reply.
#[derive(Clone, Copy)]
struct Wanted {
    inbox_id: i64,
    delivery: Option<Delivery>,
}

/// A turn's open transaction. It stays open across steps computed in this process (the
/// built-in model) and tool batches that only read, so a usual turn commits once; it is
/// committed before the turn waits on anything outside the process (a remote model's step)
/// and after writes that later steps read back outside it (a tool that books or moves a
/// visit, an answered notice). Dropped uncommitted, it rolls the turn back.
struct TurnTx<'s> {
    store: &'s Store,
    tenant: TenantId,
    conversation: ConversationId,
    inbox_id: i64,
    open: Option<Tx>,
    /// Who owns the conversation as the open transaction has it.
    owner: String,
    /// The open transaction stored the message without marking its inbox row started
    /// (needed only if something commits before the turn's last step).
    unmarked: bool,
}

impl TurnTx<'_> {
    /// The open transaction, or a new one holding the conversation's row.
    async fn tx(&mut self) -> Result<&mut Tx, StoreError> {
        let tx = match self.open.take() {
            Some(tx) => tx,
            None => {
                let mut tx = self.store.begin().await?;
                self.owner = tx
                    .lock_conversation(self.tenant, self.conversation)
                    .await?
                    .owner;
                tx
            }
        };
        Ok(self.open.insert(tx))
    }

    /// Who owns the conversation now (read in a new transaction if none is open).
    async fn owner(&mut self) -> Result<String, StoreError> {
        self.tx().await?;
        Ok(self.owner.clone())
    }

    /// Commit a step a crash must not repeat (the turn resumes after it).
    async fn commit(&mut self) -> Result<(), StoreError> {
        if let Some(mut tx) = self.open.take() {
            if std::mem::take(&mut self.unmarked) {
                tx.mark_inbox_started(self.tenant, self.inbox_id).await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    /// Commit the turn's last step (its inbox row is finished in it).
    async fn finish(&mut self) -> Result<(), StoreError> {
        self.unmarked = false;
        self.commit().await
    }
}

impl Agent {
    /// Record the message, then run its turn (or wait for whoever runs it) and answer.
    pub async fn handle(&self, inbound: Inbound) -> Result<TurnOutcome, AgentError> {
        match self.accept_to_run(&inbound).await? {
            Accepted::Done(out) => Ok(out),
            Accepted::Pending(pending) => self.wait_for(inbound.tenant, pending, None).await,
        }
    }

    /// [`Agent::accept`], taking the conversation's lease with the message when nobody
    /// holds it: for a caller that waits for the turn next ([`Agent::wait_for`]).
    pub async fn accept_to_run(&self, inbound: &Inbound) -> Result<Accepted, AgentError> {
        self.accept_with(inbound, Some(token()?)).await
    }

    /// Store the message before anything slow happens (secrets masked first). External ids
    /// are unique per channel and sender: a redelivery is recognised, and an id re-used for
    /// different text is refused rather than answered with another message's reply.
    pub async fn accept(&self, inbound: &Inbound) -> Result<Accepted, AgentError> {
        self.accept_with(inbound, None).await
    }

    async fn accept_with(
        &self,
        inbound: &Inbound,
        lease: Option<String>,
    ) -> Result<Accepted, AgentError> {
        let now = self.clock.now();
        let external_id = match &inbound.external_id {
            Some(e) if !e.trim().is_empty() => e.trim().to_string(),
            _ => format!("gen-{}", token()?),
        };
        let text = builtin::mask_secrets(&inbound.text);
        let conversation = self
            .store
            .open_conversation(
                inbound.tenant,
                inbound.channel,
                &inbound.participant,
                match &inbound.caller {
                    Caller::Phone { phone, .. } => Some(phone),
                    _ => None,
                },
                now,
            )
            .await?;
        let scope = format!("{}:{}", inbound.channel, inbound.participant);
        let new = NewInbound {
            conversation,
            scope: &scope,
            external_id: &external_id,
            text: &text,
            media: &inbound.media,
            caller: &inbound.caller,
            reply_from: inbound.reply_from.as_deref(),
        };
        Ok(
            match self
                .store
                .enqueue_inbound(
                    inbound.tenant,
                    &new,
                    now,
                    lease.as_deref().map(|l| (l, lease_until())),
                )
                .await?
            {
                Enqueued::New {
                    inbox_id,
                    conversation_id,
                    leased,
                } => Accepted::Pending(Pending {
                    inbox_id,
                    conversation: conversation_id,
                    duplicate: false,
                    lease: lease.filter(|_| leased),
                }),
                Enqueued::Duplicate {
                    same_text: false, ..
                } => return Err(AgentError::ExternalIdReused),
                Enqueued::Duplicate {
                    inbox_id,
                    done: true,
                    ..
                } => {
                    let item = self.store.inbox_by_id(inbound.tenant, inbox_id).await?;
                    Accepted::Done(outcome_of(&item, true))
                }
                Enqueued::Duplicate {
                    inbox_id,
                    conversation_id,
                    done: false,
                    ..
                } => Accepted::Pending(Pending {
                    inbox_id,
                    conversation: conversation_id,
                    duplicate: true,
                    lease: None,
                }),
            },
        )
    }

    /// Run the conversation's pending turns (or let their runner finish) until this message
    /// is answered. `delivery`: how the caller will deliver the reply, recorded with the
    /// turn when this call runs it (`TurnOutcome::delivery`).
    pub async fn wait_for(
        &self,
        tenant: TenantId,
        pending: Pending,
        delivery: Option<Delivery>,
    ) -> Result<TurnOutcome, AgentError> {
        let Pending {
            inbox_id,
            conversation,
            duplicate,
            mut lease,
        } = pending;
        let deadline = tokio::time::Instant::now() + WAIT_FOR_TURN;
        let mut usage = Usage::default();
        loop {
            let mine = {
                let mut slot = GateSlot::enter(&self.gate).await?;
                let wanted = Wanted { inbox_id, delivery };
                let held = lease.take();
                self.drain_for(
                    tenant,
                    conversation,
                    (&mut usage, &mut slot),
                    held,
                    Some(wanted),
                )
                .await?
                .1
            };
            // This call ran the message's turn: its outcome is known without a read.
            if let Some(f) = mine {
                return Ok(TurnOutcome {
                    conversation_id: conversation,
                    inbox_id,
                    reply: f.reply,
                    escalated: f.escalated,
                    duplicate,
                    usage,
                    delivery: f.delivery,
                });
            }
            let item = self.store.inbox_by_id(tenant, inbox_id).await?;
            if item.done {
                let mut out = outcome_of(&item, duplicate);
                out.usage = usage;
                return Ok(out);
            }
            if tokio::time::Instant::now() > deadline {
                return Err(AgentError::Busy);
            }
            // Another worker (possibly another instance) holds the conversation's lease.
            tokio::time::sleep(StdDuration::from_millis(20)).await;
        }
    }

    /// Finish what a crash or a hung request left behind: run the turns of conversations
    /// whose messages wait with nobody holding their lease, and send SMS replies that no
    /// request delivered. Called at start-up and periodically; safe on every instance.
    pub async fn recover(
        &self,
        min_age: StdDuration,
        reply_grace: StdDuration,
    ) -> Result<usize, AgentError> {
        let mut done = 0;
        for (tenant, conversation) in self
            .store
            .stalled_conversations(min_age.as_secs() as i64)
            .await?
        {
            let mut usage = Usage::default();
            if self
                .drain(tenant, conversation, &mut usage, &mut GateSlot::ungated())
                .await?
            {
                done += 1;
            }
        }
        let grace = reply_grace.as_secs() as i64;
        for from in [Handover::Undelivered, Handover::Unconfirmed] {
            let replies = match from {
                Handover::Undelivered => self.store.undelivered_sms_replies(grace).await?,
                Handover::Unconfirmed => self.store.unconfirmed_inline_replies(grace).await?,
            };
            for (item, customer) in replies {
                if self.queue_reply(&item, &customer, from).await?.is_some() {
                    done += 1;
                }
            }
        }
        Ok(done)
    }

    /// Send a finished SMS turn's reply through the outbox, unless it was delivered already
    /// (`Handover::Unconfirmed`: a reply claimed for an inline answer by a process that died
    /// before the answer left; sent only if Twilio's message list does not have it).
    pub async fn queue_reply(
        &self,
        item: &InboxItem,
        customer: &str,
        from: Handover,
    ) -> Result<Option<i64>, AgentError> {
        let Some(m) = self.late_reply(item, customer).await? else {
            return Ok(None);
        };
        let mut tx = self.store.begin().await?;
        let id = tx
            .deliver_by_outbox(item.tenant_id, item.id, &m, self.clock.now(), from)
            .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// A finished SMS turn's reply as the outbox sends it: the same text an inline answer
    /// carries (fitted to the tenant's segments, one more for an escalation).
    async fn late_reply(
        &self,
        item: &InboxItem,
        customer: &str,
    ) -> Result<Option<NewOutbound>, AgentError> {
        let (Some(reply), Some(from)) = (&item.reply, &item.reply_from) else {
            return Ok(None);
        };
        let tenant = self.store.tenant(item.tenant_id).await?;
        Ok(Some(NewOutbound {
            conversation_id: Some(item.conversation_id),
            channel: Channel::Sms,
            to: customer.to_string(),
            from: from.clone(),
            body: crate::channels::twilio::sms::fit_sms(
                reply,
                tenant.policy.sms_reply_segments(item.escalated),
            ),
            purpose: "late_reply".into(),
        }))
    }

    /// Put an inbound item straight into the human queue (a voicemail that cannot be
    /// answered by text): stored as a customer message with an escalation, exactly once.
    pub async fn file_for_humans(
        &self,
        inbound: Inbound,
        reason: EscalationReason,
        summary: &str,
    ) -> Result<ConversationId, AgentError> {
        let (inbox_id, conversation) = match self.accept(&inbound).await? {
            Accepted::Done(out) => return Ok(out.conversation_id),
            Accepted::Pending(p) => (p.inbox_id, p.conversation),
        };
        let now = self.clock.now();
        let tenant = self.store.tenant(inbound.tenant).await?;
        let mut tx = self.store.begin().await?;
        let conv = tx.lock_conversation(tenant.id, conversation).await?;
        let item = self.store.inbox_by_id(tenant.id, inbox_id).await?;
        if item.done {
            return Ok(conversation);
        }
        insert_customer_message(&mut tx, tenant.id, &conv, &item, &conv.owner, now, true).await?;
        tx.finish_inbox(tenant.id, item.id, (None, true), now, None)
            .await?;
        let customer = match (conv.customer_id, &inbound.caller) {
            (Some(c), _) => Some(c),
            (None, Caller::Phone { phone: p, .. }) => {
                match self
                    .store
                    .customers_by_phone(tenant.id, p)
                    .await?
                    .as_slice()
                {
                    [one] => Some(*one),
                    _ => None,
                }
            }
            _ => None,
        };
        let summary = format!(
            "From {} via {}. {summary}",
            inbound.participant, inbound.channel
        );
        let opening = escalation::Opening {
            conversation,
            customer,
            reason,
            priority: None,
            summary: &summary,
        };
        escalation::open(&mut tx, &tenant, opening, now).await?;
        tx.commit().await?;
        Ok(conversation)
    }

    /// Run every pending message of a conversation in arrival order, unless another worker
    /// holds its lease. Returns whether this call ran them.
    pub async fn drain(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        usage: &mut Usage,
        slot: &mut GateSlot,
    ) -> Result<bool, AgentError> {
        Ok(self
            .drain_for(tenant, conversation, (usage, slot), None, None)
            .await?
            .0)
    }

    /// [`Agent::drain`], also returning how the turn of the `want`ed message finished when
    /// this call ran it; `held`: the conversation's lease, when the caller holds it already.
    async fn drain_for(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        (usage, slot): (&mut Usage, &mut GateSlot),
        held: Option<String>,
        want: Option<Wanted>,
    ) -> Result<(bool, Option<Finished>), AgentError> {
        let owner = match held {
            Some(owner) => owner,
            None => {
                let owner = token()?;
                if !self
                    .store
                    .take_lease(tenant, conversation, &owner, lease_until())
                    .await?
                {
                    return Ok((false, None));
                }
                owner
            }
        };
        let mut mine = None;
        let mut released = false;
        let result = async {
            let tenant_row = self.store.tenant(tenant).await?;
            // The lease was just taken: the first message needs no renewal.
            let mut renew = false;
            loop {
                let pending = self.store.pending_inbox(tenant, conversation).await?;
                if pending.is_empty() {
                    return Ok::<(), AgentError>(());
                }
                for item in pending {
                    if renew
                        && !self
                            .store
                            .take_lease(tenant, conversation, &owner, lease_until())
                            .await?
                    {
                        // Stalled past the lease: someone else runs the rest now.
                        return Err(AgentError::Busy);
                    }
                    renew = true;
                    let wanted = want.filter(|w| w.inbox_id == item.id);
                    let delivery = wanted.and_then(|w| w.delivery);
                    let finished = self
                        .process(
                            &tenant_row,
                            conversation,
                            item,
                            usage,
                            slot,
                            (&owner, delivery),
                        )
                        .await?;
                    // The turn's last transaction gave the lease back: nothing was pending.
                    released = finished.released;
                    if wanted.is_some() {
                        mine = Some(finished);
                    }
                    if released {
                        return Ok(());
                    }
                }
            }
        }
        .await;
        if !released {
            self.store
                .release_lease(tenant, conversation, &owner)
                .await?;
        }
        result.map(|()| (true, mine))
    }

    /// One message's turn, in three steps: (1) store the message and handle an emergency —
    /// its page is committed before any remote model call; (2) the model loop, a batch of
    /// tool calls that wrote committed with the state and a journal of the steps so far;
    /// (3) the reply, the state, the inbox row and, when the waiting request asked,
    /// who delivers the reply (`lease`: the conversation's lease and that delivery). The
    /// steps share one transaction until something waits outside the process (`TurnTx`):
    /// no transaction is open while a remote model runs. A crash between commits resumes
    /// from the journal; nothing runs twice.
    #[tracing::instrument(name = "turn", skip_all, fields(tenant_id = tenant.id.0, conversation_id = conversation.0, inbox_id = item.id, channel, outcome))]
    async fn process(
        &self,
        tenant: &Tenant,
        conversation: ConversationId,
        item: InboxItem,
        usage: &mut Usage,
        slot: &mut GateSlot,
        (lease, delivery): (&str, Option<Delivery>),
    ) -> Result<Finished, AgentError> {
        let now = self.clock.now();
        let started = tokio::time::Instant::now();
        let context = builtin::Context {
            now_local: tenant.timezone.local(now).naive_local(),
        };
        let understanding = builtin::understand(&item.text, &context);
        let spanish = understanding.language == builtin::Lang::Es;
        let emergency = understanding.has(builtin::Intent::Emergency);
        let first_run = !item.started;
        // What the model reads of the conversation, read before the turn takes the writer;
        // this message joins it in the turn's transaction below.
        let mut history = self
            .store
            .recent_messages(tenant.id, conversation, HISTORY_MESSAGES)
            .await?;
        if first_run {
            if history.len() as i64 >= HISTORY_MESSAGES {
                history.remove(0);
            }
            history.push(crate::store::Message {
                id: crate::domain::MessageId(0),
                direction: Direction::Inbound,
                author: "customer".into(),
                text: item.text.clone(),
                external_id: Some(item.external_id.clone()),
                media: item.media.clone(),
                at: now,
            });
        }
        let mut turn = TurnTx {
            store: &self.store,
            tenant: tenant.id,
            conversation,
            inbox_id: item.id,
            open: None,
            owner: String::new(),
            unmarked: false,
        };
        // The first step's transaction stays open to the turn's last step (`TurnTx`) unless
        // the model runs elsewhere; the last step then saves the conversation and finishes
        // the inbox row, so this step need not.
        let in_process = self.model.in_process();

        // (1) The message joins the conversation; an emergency is handled at once.
        let mut tx = self.store.begin().await?;
        let locked = tx
            .lock_conversation_for_turn(tenant.id, conversation)
            .await?;
        // Only under the conversation's lease: a lease taken with the message may have run
        // out before its holder got here (and someone else runs the conversation now).
        if locked.lease_owner.as_deref() != Some(lease) {
            return Err(AgentError::Busy);
        }
        let conv_now = locked.conversation;
        let conv = &conv_now;
        let mut state: AgentState = serde_json::from_value(locked.state).unwrap_or_default();
        let mut identity = Identity {
            level: conv_now.identity_level,
            customer: conv_now.customer_id,
            property: conv_now.property_id,
        };
        let mut carry = Carry::default();
        let mut early_reply: Option<String> = None;
        // What a short answer to a notice means, for the model ("R" → a reschedule request).
        let mut rewritten: Option<String> = None;
        // An emergency raised an escalation a person already owned.
        let mut raised = false;
        if first_run {
            // (The conversation is saved in this transaction: below, or by the last step.)
            insert_customer_message(
                &mut tx,
                tenant.id,
                &conv_now,
                &item,
                &conv_now.owner,
                now,
                false,
            )
            .await?;
            if conv_now.owner != "agent" && !emergency {
                // A person owns the conversation: the escalation is marked "customer
                // waiting" for the console, and the agent says nothing.
                let waiting = tx
                    .mark_customer_waiting(tenant.id, conversation, now)
                    .await?;
                tx.emit_event(
                    tenant.id,
                    EventKind::CustomerWaiting,
                    json!({ "conversation_id": conversation, "escalation_ids": waiting,
                            "owner": conv_now.owner, "channel": conv.channel }),
                    now,
                )
                .await?;
            }
            if conv_now.owner == "agent" {
                if state.turn == 0 {
                    self.resolve_caller(tenant, &item.caller, &mut identity, &mut state)
                        .await?;
                }
                state.turn += 1;
            }
            // A reply to a reminder or a survey (`notices`): answered here, or passed on
            // to the model as what it means.
            let notice = locked.notice;
            if notice.is_some() {
                tx.clear_conversation_notice(tenant.id, conversation)
                    .await?;
            }
            if let (Some(notice), "agent", false) = (notice, conv_now.owner.as_str(), emergency) {
                let mut ctx = self.tool_ctx(
                    &mut tx,
                    (tenant, conv, &item),
                    &mut identity,
                    &mut state,
                    now,
                    (spanish, false),
                    Carry::default(),
                );
                let answered = crate::notices::answer(&mut ctx, &notice).await?;
                early_reply = answered.reply;
                carry.escalated = answered.escalated;
                rewritten = answered.means;
            }
            if emergency {
                let mut ctx = self.tool_ctx(
                    &mut tx,
                    (tenant, conv, &item),
                    &mut identity,
                    &mut state,
                    now,
                    (spanish, false),
                    Carry::default(),
                );
                early_reply = Some(if conv_now.owner == "agent" {
                    let req = EscalationRequest {
                        reason: EscalationReason::Emergency,
                        priority: None,
                        model_summary: String::new(),
                    };
                    let e = tools::open_escalation(&mut ctx, req).await?;
                    let text = e.acknowledgement.clone();
                    carry.escalated = Some(e);
                    text
                } else {
                    // A person owns the conversation: page once, raise it to urgent, and
                    // give the caller safety guidance — never silence for an emergency.
                    raised = true;
                    tools::emergency_while_queued(&mut ctx).await?
                });
            }
            let owner = if carry.escalated.is_some() {
                "queue"
            } else {
                conv_now.owner.as_str()
            };
            turn.owner = owner.to_string();
            if in_process && rewritten.is_none() && conv_now.owner == "agent" {
                turn.unmarked = true;
            } else {
                tx.mark_inbox_started(tenant.id, item.id).await?;
                save_conversation(
                    &mut tx,
                    tenant.id,
                    conversation,
                    &identity,
                    owner,
                    &state,
                    now,
                )
                .await?;
            }
            if let Some(text) = &early_reply {
                tx.stage_inbox_reply(
                    tenant.id,
                    item.id,
                    text,
                    carry.escalated.is_some() || raised,
                )
                .await?;
            }
        }
        if !first_run {
            turn.owner = conv_now.owner.clone();
        }
        // An answered notice may have changed visits the model's tools read (a reminder
        // confirmed, a visit cancelled); a remote model must not find the writer held.
        turn.open = Some(tx);
        if rewritten.is_some() || !in_process {
            turn.commit().await?;
        }
        // A turn cut short after a step that made its reply certain resumes with that reply
        // (an escalation's acknowledgement, safety guidance, an answer to a notice).
        let staged = if first_run { None } else { item.reply.clone() };
        let resumed_escalated = staged.is_some() && item.escalated;

        if early_reply.is_none() && staged.is_none() && conv_now.owner != "agent" {
            // A human owns the conversation: the agent stays silent.
            let tx = turn.tx().await?;
            tx.finish_inbox(
                tenant.id,
                item.id,
                (None, false),
                self.clock.now(),
                delivery,
            )
            .await?;
            let released = tx
                .release_lease_if_idle(tenant.id, conversation, lease)
                .await?;
            turn.finish().await?;
            record::turn(conv.channel.as_str(), "silent", started.elapsed());
            return Ok(Finished {
                reply: None,
                escalated: false,
                released,
                delivery,
            });
        }

        // (2) The model loop.
        let understanding = match &rewritten {
            Some(text) => builtin::understand(text, &context),
            None => understanding,
        };
        let reply = match early_reply.or(staged) {
            Some(text) => Some(text),
            None => {
                self.model_loop(
                    &mut turn,
                    (tenant, conv, &item),
                    history,
                    &understanding,
                    rewritten.as_deref(),
                    &mut identity,
                    &mut state,
                    &mut carry,
                    started,
                    usage,
                    slot,
                )
                .await?
            }
        };

        // (3) The reply.
        let current_owner = turn.owner().await?;
        let tx = turn.tx().await?;
        let escalated = carry.escalated.take();
        let confirm = carry.confirm_text.take();
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
                // Only a message that arrives after this reply can agree to it: one sent
                // before (even a moment before) never saw the question.
                let latest = tx.latest_inbox_id(tenant.id, conversation).await?;
                if let Some(p) = state.proposal.as_mut() {
                    p.shown_in_turn = Some(state.turn);
                    p.answerable_after_inbox = Some(latest);
                }
            }
        }
        if escalated.is_some() || resumed_escalated {
            state.acknowledged_escalation = true;
            state.proposal = None;
        }
        // A proposal stands for the customer's next message only: one that this reply does
        // not put to the customer (again) is dropped, so a later "yes" cannot run a change
        // the customer moved on from (or already declined).
        if state
            .proposal
            .as_ref()
            .is_some_and(|p| p.shown_in_turn != Some(state.turn))
        {
            state.proposal = None;
        }
        let owner = if escalated.is_some() {
            "queue".to_string()
        } else {
            current_owner
        };
        let now = self.clock.now();
        // (The conversation is saved below in this transaction.)
        let message_id = tx
            .append_message(
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
        save_conversation(tx, tenant.id, conversation, &identity, &owner, &state, now).await?;
        let escalated_now = escalated.is_some() || raised || resumed_escalated;
        tx.finish_inbox(
            tenant.id,
            item.id,
            (Some(&text), escalated_now),
            now,
            delivery,
        )
        .await?;
        let released = tx
            .release_lease_if_idle(tenant.id, conversation, lease)
            .await?;
        tx.emit_event(
            tenant.id,
            EventKind::MessageOut,
            json!({ "conversation_id": conversation, "message_id": message_id, "author": "agent",
                    "owner": owner, "channel": conv.channel, "text": text }),
            now,
        )
        .await?;
        turn.finish().await?;
        let outcome = if escalated_now {
            "escalated"
        } else {
            "replied"
        };
        record::turn(conv.channel.as_str(), outcome, started.elapsed());
        Ok(Finished {
            reply: Some(text),
            escalated: escalated_now,
            released,
            delivery,
        })
    }

    /// Model steps until a reply, an escalation or the step bound. A batch of tool calls
    /// that wrote, or one before a remote model's step, is committed with the state and the
    /// steps taken so far (`TurnTx`); `history`: the conversation with this message.
    #[allow(clippy::too_many_arguments)]
    async fn model_loop(
        &self,
        turn: &mut TurnTx<'_>,
        (tenant, conv, item): (&Tenant, &Conversation, &InboxItem),
        history: Vec<crate::store::Message>,
        understanding: &builtin::Understanding,
        means: Option<&str>,
        identity: &mut Identity,
        state: &mut AgentState,
        carry: &mut Carry,
        started: tokio::time::Instant,
        usage: &mut Usage,
        slot: &mut GateSlot,
    ) -> Result<Option<String>, AgentError> {
        let now = self.clock.now();
        let conversation = conv.id;
        let affirmed = understanding.yes_no == Some(true);
        let spanish = understanding.language == builtin::Lang::Es;
        let in_process = self.model.in_process();
        let mut messages = history_messages(&history);
        // A short answer to a notice ("R") is read as what it means ("I need to reschedule
        // my appointment"); the transcript keeps what the customer wrote.
        if let Some(means) = means {
            if let Some(ChatMessage::User { content }) = messages
                .iter_mut()
                .rev()
                .find(|m| matches!(m, ChatMessage::User { .. }))
            {
                *content = means.to_string();
            }
        }
        let mut journal: Vec<ChatMessage> =
            serde_json::from_value(item.journal.clone()).unwrap_or_default();
        messages.extend(journal.iter().cloned());

        let customer_name = match identity.customer {
            Some(c) if identity.level == IdentityLevel::Verified => {
                self.store.customer(tenant.id, c).await.ok().map(|c| c.name)
            }
            _ => None,
        };
        let portal_activity: Vec<_> = match (conv.channel, identity.customer) {
            (Channel::Chat, Some(c)) => self.store.portal_events(tenant.id, c, 5).await?,
            _ => Vec::new(),
        }
        .into_iter()
        .map(|e| crate::store::PortalEvent {
            detail: builtin::mask_json(&e.detail),
            ..e
        })
        .collect();
        let system = system_prompt(
            tenant,
            conv.channel,
            identity,
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
                channel: conv.channel.as_str().into(),
                now_local: crate::record::local(tenant.timezone, now).to_rfc3339(),
                identity_level: identity.level.as_str().into(),
                customer_name,
                state: json!({}),
            },
        };
        let deadline = started + self.turn_budget;
        let steps_taken = journal
            .iter()
            .filter(|m| matches!(m, ChatMessage::Assistant { .. }))
            .count();
        // The built-in model takes the rest of the turn over when the model fails or does
        // not finish in MAX_STEPS: an answer it can give beats a `model_failure` escalation.
        // It gets MAX_STEPS of its own from the step it took over at.
        let mut on_fallback = false;
        let fallback_differs = self.model.name() != self.fallback.name();
        let mut handed_over: Option<usize> = None;
        let mut steps = steps_taken;
        loop {
            let limit = handed_over.map_or(MAX_STEPS, |h| (h + MAX_STEPS).max(MAX_STEPS));
            if steps >= limit {
                if handed_over.is_some() || !fallback_differs {
                    break;
                }
                tracing::warn!(model = %self.model.name(), "model did not finish; the built-in model takes the turn over");
                record::fallback("unfinished");
                on_fallback = true;
                handed_over = Some(steps);
            }
            steps += 1;
            request.facts.identity_level = identity.level.as_str().into();
            request.facts.state = facts_state(state, &portal_activity);
            if !in_process {
                turn.commit().await?;
            }
            let step = self
                .step(&request, deadline, &mut on_fallback, slot)
                .await?;
            if on_fallback && fallback_differs && handed_over.is_none() {
                handed_over = Some(steps - 1);
            }
            let step = match step {
                Ok(resp) => {
                    usage.prompt_tokens += resp.usage.prompt_tokens;
                    usage.completion_tokens += resp.usage.completion_tokens;
                    resp.step
                }
                Err(e) => {
                    tracing::warn!(error = %e, "model and fallback failed");
                    self.escalate_for_failure(
                        turn,
                        (tenant, conv, item),
                        identity,
                        state,
                        carry,
                        spanish,
                        EscalationRequest {
                            reason: EscalationReason::ModelFailure,
                            priority: None,
                            model_summary: String::new(),
                        },
                    )
                    .await?;
                    return Ok(None);
                }
            };
            let (text, calls) = match step {
                ModelStep::Reply { text } => return Ok(Some(text)),
                ModelStep::ToolCalls { text, calls } => (text, calls),
            };
            let calls: Vec<ToolCallRequest> = calls.into_iter().take(8).collect();
            let assistant = ChatMessage::Assistant {
                content: text,
                tool_calls: calls.clone(),
            };
            request.messages.push(assistant.clone());
            journal.push(assistant);

            let tx = turn.tx().await?;
            let mut ctx = self.tool_ctx(
                tx,
                (tenant, conv, item),
                &mut *identity,
                &mut *state,
                now,
                (spanish, affirmed),
                std::mem::take(carry),
            );
            for call in &calls {
                let outcome = tools::run(&mut ctx, &call.name, &call.arguments).await?;
                let result = ChatMessage::Tool {
                    call_id: call.id.clone(),
                    name: call.name.clone(),
                    content: outcome.result.to_string(),
                };
                request.messages.push(result.clone());
                journal.push(result);
                if ctx.escalated.is_some() {
                    break;
                }
            }
            *carry = Carry::from_tools(&mut ctx);
            drop(ctx);
            // What a batch wrote is committed before the next step reads records outside
            // the transaction; a batch that only read is carried to the reply's commit.
            let wrote =
                carry.escalated.is_some() || calls.iter().any(|c| !tools::reads_only(&c.name));
            if wrote || !in_process {
                let owner = if carry.escalated.is_some() {
                    "queue"
                } else {
                    "agent"
                };
                save_conversation(tx, tenant.id, conversation, identity, owner, state, now).await?;
                tx.save_inbox_journal(
                    tenant.id,
                    item.id,
                    &serde_json::to_value(&journal).unwrap_or_default(),
                )
                .await?;
                if let Some(e) = &carry.escalated {
                    tx.stage_inbox_reply(tenant.id, item.id, &e.acknowledgement, true)
                        .await?;
                }
                turn.commit().await?;
            }
            if carry.escalated.is_some() {
                return Ok(None);
            }
        }
        self.escalate_for_failure(
            turn,
            (tenant, conv, item),
            identity,
            state,
            carry,
            spanish,
            EscalationRequest {
                reason: EscalationReason::ModelFailure,
                priority: None,
                model_summary: format!("the agent did not finish within {steps} steps"),
            },
        )
        .await?;
        Ok(None)
    }

    /// Hand the customer to a person when the model failed, committed at once with the
    /// acknowledgement staged (a turn cut short after it resumes with that reply).
    #[allow(clippy::too_many_arguments)]
    async fn escalate_for_failure(
        &self,
        turn: &mut TurnTx<'_>,
        (tenant, conv, item): (&Tenant, &Conversation, &InboxItem),
        identity: &mut Identity,
        state: &mut AgentState,
        carry: &mut Carry,
        spanish: bool,
        req: EscalationRequest,
    ) -> Result<(), AgentError> {
        let now = self.clock.now();
        let tx = turn.tx().await?;
        let actions = Carry {
            actions: std::mem::take(&mut carry.actions),
            ..Carry::default()
        };
        let mut ctx = self.tool_ctx(
            tx,
            (tenant, conv, item),
            &mut *identity,
            &mut *state,
            now,
            (spanish, false),
            actions,
        );
        let e = tools::open_escalation(&mut ctx, req).await?;
        carry.actions = std::mem::take(&mut ctx.actions);
        drop(ctx);
        save_conversation(tx, tenant.id, conv.id, identity, "queue", state, now).await?;
        tx.stage_inbox_reply(tenant.id, item.id, &e.acknowledgement, true)
            .await?;
        turn.commit().await?;
        carry.escalated = Some(e);
        Ok(())
    }

    /// The tools' view of a turn inside `tx`: the one place a [`ToolCtx`] is made. `flags`:
    /// (the customer writes in Spanish, the customer's message agrees to the last proposal);
    /// `carried`: what earlier steps of the turn left (an escalation, a confirmation
    /// question, the actions so far).
    #[allow(clippy::too_many_arguments)]
    fn tool_ctx<'a>(
        &'a self,
        tx: &'a mut Tx,
        (tenant, conv, item): (&'a Tenant, &'a Conversation, &'a InboxItem),
        identity: &'a mut Identity,
        state: &'a mut AgentState,
        now: DateTime<Utc>,
        (spanish, affirmed): (bool, bool),
        carried: Carry,
    ) -> ToolCtx<'a> {
        ToolCtx {
            store: &self.store,
            tx,
            search: &self.search,
            tenant,
            conversation: conv.id,
            inbox_id: item.id,
            channel: conv.channel,
            participant: conv.reach(),
            caller_verifies: item.caller.verifies(),
            identity,
            state,
            now,
            customer_affirmed: affirmed,
            customer_text: &item.text,
            escalated: carried.escalated,
            confirm_text: carried.confirm_text,
            spanish,
            actions: carried.actions,
        }
    }

    /// One model step; the fallback answers when the model fails, times out, or would run
    /// past the turn's deadline, and then keeps the rest of the turn (`on_fallback`).
    async fn step(
        &self,
        request: &ModelRequest,
        deadline: tokio::time::Instant,
        on_fallback: &mut bool,
        slot: &mut GateSlot,
    ) -> Result<Result<super::model::ModelResponse, ModelError>, AgentError> {
        if *on_fallback {
            return Ok(complete_recorded(&*self.fallback, request, None).await);
        }
        *on_fallback = true;
        let left = deadline
            .saturating_duration_since(tokio::time::Instant::now())
            .min(MODEL_TIMEOUT);
        let reason = if left.is_zero() {
            tracing::warn!(model = %self.model.name(), "no time left in the turn; using the fallback");
            "no_budget"
        } else if !self.breaker.allow(std::time::Instant::now()) {
            tracing::debug!(model = %self.model.name(), "the model keeps failing; using the fallback");
            "breaker_open"
        } else {
            let call = complete_recorded(&*self.model, request, Some(left));
            // A step computed here keeps the turn's place (and its open transaction,
            // `TurnTx`): handing the place back to queue for it again while holding SQLite's
            // writer would wait on turns that wait for the writer.
            let answer = if self.model.in_process() {
                call.await
            } else {
                slot.while_waiting(call).await?
            };
            match answer {
                Ok(r) => {
                    self.breaker.success();
                    *on_fallback = false;
                    return Ok(Ok(r));
                }
                Err(ModelError::Timeout) => {
                    self.breaker.failure(std::time::Instant::now());
                    tracing::warn!(model = %self.model.name(), "model timed out; using the fallback");
                    "timeout"
                }
                Err(e) => {
                    self.breaker.failure(std::time::Instant::now());
                    tracing::warn!(model = %self.model.name(), error = %e, "model failed; using the fallback");
                    "error"
                }
            }
        };
        if self.model.name() != self.fallback.name() {
            record::fallback(reason);
        }
        Ok(complete_recorded(&*self.fallback, request, None).await)
    }

    /// First turn of a conversation: what the caller id (or portal token) says about who
    /// this is. Nothing here is revealed to the caller.
    async fn resolve_caller(
        &self,
        tenant: &Tenant,
        caller: &Caller,
        identity: &mut Identity,
        state: &mut AgentState,
    ) -> Result<(), StoreError> {
        let t = tenant.id;
        let (customers, phone_verifies) = match caller {
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

/// One call of `model` (cut off after `limit`), recorded as a model step: latency, outcome,
/// tokens and, when the model has prices, cost.
#[tracing::instrument(
    name = "model_step",
    skip_all,
    fields(model, result, prompt_tokens, completion_tokens)
)]
async fn complete_recorded(
    model: &dyn Model,
    request: &ModelRequest,
    limit: Option<StdDuration>,
) -> Result<super::model::ModelResponse, ModelError> {
    let started = tokio::time::Instant::now();
    let result = match limit {
        Some(limit) => tokio::time::timeout(limit, model.complete(request))
            .await
            .unwrap_or(Err(ModelError::Timeout)),
        None => model.complete(request).await,
    };
    let elapsed = started.elapsed();
    match &result {
        Ok(r) => record::model_step(
            &model.name(),
            "ok",
            elapsed,
            (r.usage.prompt_tokens, r.usage.completion_tokens),
            model.cost_usd(&r.usage),
        ),
        Err(ModelError::Timeout) => {
            record::model_step(&model.name(), "timeout", elapsed, (0, 0), None)
        }
        Err(_) => record::model_step(&model.name(), "error", elapsed, (0, 0), None),
    }
    result
}

fn outcome_of(item: &InboxItem, duplicate: bool) -> TurnOutcome {
    TurnOutcome {
        conversation_id: item.conversation_id,
        inbox_id: item.id,
        reply: item.reply.clone(),
        escalated: item.escalated,
        duplicate,
        usage: Usage::default(),
        delivery: None,
    }
}

/// The conversation as the model reads it: the customer's messages, and the company's —
/// the agent's and, after a hand-back, what a CSR wrote — as the assistant's, so the agent
/// carries on from where the person left off.
/// A short answer to a notice ("R" after a reminder) reads as what it means.
fn history_messages(history: &[crate::store::Message]) -> Vec<ChatMessage> {
    let mut previous: Option<&str> = None;
    history
        .iter()
        .filter_map(|m| match m.direction {
            Direction::Inbound => {
                let content = previous
                    .take()
                    .and_then(|p| crate::notices::meaning_of_reply(p, &m.text))
                    .map_or_else(|| m.text.clone(), str::to_string);
                Some(ChatMessage::User { content })
            }
            Direction::Outbound if m.author == "agent" || m.author.starts_with("csr:") => {
                previous = Some(&m.text);
                Some(ChatMessage::Assistant {
                    content: Some(m.text.clone()),
                    tool_calls: vec![],
                })
            }
            Direction::Outbound => None,
        })
        .collect()
}

/// The customer's message in the conversation transcript, with its `message.in` event
/// (`owner`: who owns the conversation as the message arrives; `touch`: mark the
/// conversation active — not needed when the caller saves it in the same transaction).
async fn insert_customer_message(
    tx: &mut Tx,
    tenant: TenantId,
    conv: &Conversation,
    item: &InboxItem,
    owner: &str,
    now: DateTime<Utc>,
    touch: bool,
) -> Result<(), StoreError> {
    let conversation = conv.id;
    let message = NewMessage {
        direction: Direction::Inbound,
        author: "customer".into(),
        text: item.text.clone(),
        external_id: Some(item.external_id.clone()),
        media: item.media.clone(),
    };
    let id = if touch {
        tx.insert_message(tenant, conversation, &message, now)
            .await?
    } else {
        tx.append_message(tenant, conversation, &message, now)
            .await?
    };
    tx.emit_event(
        tenant,
        EventKind::MessageIn,
        json!({ "conversation_id": conversation, "message_id": id, "author": "customer",
                "owner": owner, "channel": conv.channel, "text": item.text }),
        now,
    )
    .await?;
    Ok(())
}

/// Save who the conversation is with, who owns it, and the agent's state.
async fn save_conversation(
    tx: &mut Tx,
    tenant: TenantId,
    conversation: ConversationId,
    identity: &Identity,
    owner: &str,
    state: &AgentState,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let state_json = serde_json::to_value(state).unwrap_or_default();
    tx.update_conversation(
        tenant,
        conversation,
        identity.customer,
        identity.property,
        identity.level,
        owner,
        &state_json,
        now,
    )
    .await
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
