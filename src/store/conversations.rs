//! Conversations with their messages and tool calls, escalations to the human queue, and
//! the per-tenant SMS opt-out list.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{
    changed_some, in_tx, json_col, parse_col, to_json, ts, with_conn, with_db, with_writer, Store,
    StoreError, StoreResult, Tx,
};
use crate::domain::{
    Channel, ConversationId, CustomerId, Direction, EscalationId, EscalationReason,
    EscalationStatus, IdentityLevel, MessageId, PhoneE164, Priority, PropertyId, TenantId,
    ToolCallId, UserId,
};

#[derive(Debug, Clone, Serialize)]
pub struct Conversation {
    pub id: ConversationId,
    pub channel: Channel,
    pub customer_id: Option<CustomerId>,
    pub property_id: Option<PropertyId>,
    pub identity_level: IdentityLevel,
    /// `agent`, `queue`, or `csr:<user id>`.
    pub owner: String,
    /// The conversation key on its channel: a phone number, `call:<CallSid>`,
    /// `portal:<customer id>`, an API caller.
    pub participant: String,
    /// The number the channel reported for the writer, when it reported one.
    pub caller_phone: Option<PhoneE164>,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub id: MessageId,
    pub direction: Direction,
    /// `customer`, `agent`, `system`, or `csr:<user id>`.
    pub author: String,
    pub text: String,
    pub external_id: Option<String>,
    pub media: Vec<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ToolCall {
    pub id: ToolCallId,
    pub tool: String,
    pub arguments: serde_json::Value,
    pub result: serde_json::Value,
    /// `allowed`, `refused`, or `error`.
    pub decision: String,
    pub rule: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Escalation {
    pub id: EscalationId,
    pub conversation_id: ConversationId,
    pub customer_id: Option<CustomerId>,
    pub reason: EscalationReason,
    pub priority: Priority,
    pub summary: String,
    pub status: EscalationStatus,
    pub assignee: Option<UserId>,
    pub due_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolution: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewConversation {
    pub channel: Channel,
    pub customer_id: Option<CustomerId>,
    pub identity_level: IdentityLevel,
    pub participant: String,
}

#[derive(Debug, Clone)]
pub struct NewMessage {
    pub direction: Direction,
    pub author: String,
    pub text: String,
    pub external_id: Option<String>,
    pub media: Vec<String>,
}

/// One tool call as the audit trail keeps it.
#[derive(Debug, Clone)]
pub struct NewToolCall {
    pub tool: String,
    pub arguments: serde_json::Value,
    pub result: serde_json::Value,
    pub decision: crate::domain::Decision,
    /// The policy rule that allowed or refused it.
    pub rule: String,
}

#[derive(Debug, Clone)]
pub struct NewEscalation {
    pub conversation_id: ConversationId,
    pub customer_id: Option<CustomerId>,
    pub reason: EscalationReason,
    pub priority: Priority,
    pub summary: String,
    pub due_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct ConversationRow {
    id: i64,
    channel: String,
    customer_id: Option<i64>,
    property_id: Option<i64>,
    identity_level: String,
    owner: String,
    participant: String,
    caller_phone: Option<String>,
    status: String,
    created_at: i64,
    updated_at: i64,
}

impl Conversation {
    /// How a person reaches the writer: the number the channel reported, else the key.
    pub fn reach(&self) -> &str {
        self.caller_phone
            .as_ref()
            .map_or(self.participant.as_str(), PhoneE164::as_str)
    }
}

impl ConversationRow {
    pub(crate) fn into_conversation(self) -> StoreResult<Conversation> {
        Ok(Conversation {
            id: ConversationId(self.id),
            channel: parse_col(&self.channel, "conversation channel")?,
            customer_id: self.customer_id.map(CustomerId),
            property_id: self.property_id.map(PropertyId),
            identity_level: parse_col(&self.identity_level, "identity level")?,
            owner: self.owner,
            participant: self.participant,
            caller_phone: self.caller_phone.and_then(|p| PhoneE164::parse(&p).ok()),
            status: self.status,
            created_at: ts(self.created_at),
            updated_at: ts(self.updated_at),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct EscalationRow {
    id: i64,
    conversation_id: i64,
    customer_id: Option<i64>,
    reason: String,
    priority: String,
    summary: String,
    status: String,
    assignee: Option<i64>,
    due_at: i64,
    created_at: i64,
    resolved_at: Option<i64>,
    resolution: Option<String>,
}

impl EscalationRow {
    pub(crate) fn into_escalation(self) -> StoreResult<Escalation> {
        Ok(Escalation {
            id: EscalationId(self.id),
            conversation_id: ConversationId(self.conversation_id),
            customer_id: self.customer_id.map(CustomerId),
            reason: parse_col(&self.reason, "escalation reason")?,
            priority: parse_col(&self.priority, "escalation priority")?,
            summary: self.summary,
            status: parse_col(&self.status, "escalation status")?,
            assignee: self.assignee.map(UserId),
            due_at: ts(self.due_at),
            created_at: ts(self.created_at),
            resolved_at: self.resolved_at.map(ts),
            resolution: self.resolution,
        })
    }
}

pub(crate) const CONVERSATION_COLS: &str = "id, channel, customer_id, property_id, identity_level, owner, participant, caller_phone, status, created_at, updated_at";
pub(crate) const ESCALATION_COLS: &str = "id, conversation_id, customer_id, reason, priority, summary, status, assignee, due_at, created_at, resolved_at, resolution";

impl Store {
    pub async fn insert_conversation(
        &self,
        tenant: TenantId,
        c: &NewConversation,
        now: DateTime<Utc>,
    ) -> StoreResult<ConversationId> {
        let id: i64 = with_writer!(self, pool => sqlx::query_scalar(
            "INSERT INTO conversations (tenant_id, channel, customer_id, identity_level, owner, participant, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'agent', $5, 'open', $6, $6) RETURNING id")
            .bind(tenant.0).bind(c.channel.as_str()).bind(c.customer_id.map(|c| c.0)).bind(c.identity_level.as_str())
            .bind(&c.participant).bind(now.timestamp())
            .fetch_one(pool).await
            .map_err(|e| StoreError::on_unique(e, "this participant already has an open conversation on this channel"))?);
        Ok(ConversationId(id))
    }

    pub async fn conversation(
        &self,
        tenant: TenantId,
        id: ConversationId,
    ) -> StoreResult<Conversation> {
        let sql = format!(
            "SELECT {CONVERSATION_COLS} FROM conversations WHERE tenant_id = $1 AND id = $2"
        );
        let row: Option<ConversationRow> = with_db!(self, pool => sqlx::query_as(&sql).bind(tenant.0).bind(id.0).fetch_optional(pool).await?);
        row.ok_or(StoreError::NotFound)?.into_conversation()
    }

    /// A customer's portal chat: the open one, else the most recently active.
    pub async fn portal_chat_conversation(
        &self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> StoreResult<Option<Conversation>> {
        let sql = format!(
            "SELECT {CONVERSATION_COLS} FROM conversations WHERE tenant_id = $1 AND channel = 'chat' AND participant = $2 \
             ORDER BY CASE WHEN status = 'open' THEN 0 ELSE 1 END, updated_at DESC, id DESC LIMIT 1"
        );
        let row: Option<ConversationRow> = with_db!(self, pool => sqlx::query_as(&sql)
            .bind(tenant.0).bind(format!("portal:{customer}")).fetch_optional(pool).await?);
        row.map(ConversationRow::into_conversation).transpose()
    }

    /// A customer's conversations: open ones first, then most recently active.
    pub async fn conversations_of(
        &self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> StoreResult<Vec<Conversation>> {
        let sql = format!(
            "SELECT {CONVERSATION_COLS} FROM conversations WHERE tenant_id = $1 AND customer_id = $2 \
             ORDER BY CASE WHEN status = 'open' THEN 0 ELSE 1 END, updated_at DESC, id DESC"
        );
        let rows: Vec<ConversationRow> = with_db!(self, pool => sqlx::query_as(&sql).bind(tenant.0).bind(customer.0).fetch_all(pool).await?);
        rows.into_iter()
            .map(ConversationRow::into_conversation)
            .collect()
    }

    /// Append a message; a repeated `external_id` is a conflict (the delivery was a duplicate).
    pub async fn insert_message(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        m: &NewMessage,
        now: DateTime<Utc>,
    ) -> StoreResult<MessageId> {
        in_tx!(self, tx => tx.insert_message(tenant, conversation, m, now))
    }

    /// The last `limit` messages of a conversation, in order.
    pub async fn recent_messages(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        limit: i64,
    ) -> StoreResult<Vec<Message>> {
        let mut rows: Vec<MessageRow> = with_db!(self, pool => sqlx::query_as(
            "SELECT id, direction, author, text, external_id, media, at FROM messages WHERE tenant_id = $1 AND conversation_id = $2 ORDER BY id DESC LIMIT $3")
            .bind(tenant.0).bind(conversation.0).bind(limit).fetch_all(pool).await?);
        rows.reverse();
        rows.into_iter().map(message_from_row).collect()
    }

    /// Messages of a conversation in order.
    pub async fn messages(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
    ) -> StoreResult<Vec<Message>> {
        let rows: Vec<MessageRow> = with_db!(self, pool => sqlx::query_as(
            "SELECT id, direction, author, text, external_id, media, at FROM messages WHERE tenant_id = $1 AND conversation_id = $2 ORDER BY id")
            .bind(tenant.0).bind(conversation.0).fetch_all(pool).await?);
        rows.into_iter().map(message_from_row).collect()
    }

    pub async fn insert_tool_call(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        call: &NewToolCall,
        now: DateTime<Utc>,
    ) -> StoreResult<ToolCallId> {
        in_tx!(self, tx => tx.insert_tool_call(tenant, conversation, call, now))
    }

    pub async fn tool_calls(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
    ) -> StoreResult<Vec<ToolCall>> {
        type Row = (i64, String, String, String, String, String, i64);
        let rows: Vec<Row> = with_db!(self, pool => sqlx::query_as(
            "SELECT id, tool, arguments, result, decision, rule, at FROM tool_calls WHERE tenant_id = $1 AND conversation_id = $2 ORDER BY id")
            .bind(tenant.0).bind(conversation.0).fetch_all(pool).await?);
        rows.into_iter()
            .map(|(id, tool, args, result, decision, rule, at)| {
                Ok(ToolCall {
                    id: ToolCallId(id),
                    tool,
                    arguments: json_col(&args, "tool arguments")?,
                    result: json_col(&result, "tool result")?,
                    decision,
                    rule,
                    at: ts(at),
                })
            })
            .collect()
    }

    /// Open an escalation and hand the conversation to the queue.
    pub async fn insert_escalation(
        &self,
        tenant: TenantId,
        e: &NewEscalation,
        now: DateTime<Utc>,
    ) -> StoreResult<EscalationId> {
        in_tx!(self, tx => tx.insert_escalation(tenant, e, now))
    }

    /// A customer's escalations: unresolved first, then by due time.
    pub async fn escalations_of(
        &self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> StoreResult<Vec<Escalation>> {
        let sql = format!(
            "SELECT {ESCALATION_COLS} FROM escalations WHERE tenant_id = $1 AND customer_id = $2 \
             ORDER BY CASE WHEN status = 'resolved' THEN 1 ELSE 0 END, due_at, id"
        );
        let rows: Vec<EscalationRow> = with_db!(self, pool => sqlx::query_as(&sql).bind(tenant.0).bind(customer.0).fetch_all(pool).await?);
        rows.into_iter()
            .map(EscalationRow::into_escalation)
            .collect()
    }

    /// Escalations of one conversation, oldest first.
    pub async fn escalations_of_conversation(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
    ) -> StoreResult<Vec<Escalation>> {
        let sql = format!(
            "SELECT {ESCALATION_COLS} FROM escalations WHERE tenant_id = $1 AND conversation_id = $2 ORDER BY id"
        );
        let rows: Vec<EscalationRow> = with_db!(self, pool => sqlx::query_as(&sql).bind(tenant.0).bind(conversation.0).fetch_all(pool).await?);
        rows.into_iter()
            .map(EscalationRow::into_escalation)
            .collect()
    }

    pub async fn opt_out(
        &self,
        tenant: TenantId,
        phone: &PhoneE164,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        with_writer!(self, pool => sqlx::query("INSERT INTO opt_outs (tenant_id, phone, at) VALUES ($1, $2, $3) ON CONFLICT (tenant_id, phone) DO NOTHING")
            .bind(tenant.0).bind(phone.as_str()).bind(now.timestamp()).execute(pool).await?.rows_affected());
        Ok(())
    }

    pub async fn opt_in(&self, tenant: TenantId, phone: &PhoneE164) -> StoreResult<()> {
        with_writer!(self, pool => sqlx::query("DELETE FROM opt_outs WHERE tenant_id = $1 AND phone = $2")
            .bind(tenant.0).bind(phone.as_str()).execute(pool).await?.rows_affected());
        Ok(())
    }

    /// When the number opted out, if it has.
    pub async fn opted_out(
        &self,
        tenant: TenantId,
        phone: &PhoneE164,
    ) -> StoreResult<Option<DateTime<Utc>>> {
        let at: Option<i64> = with_db!(self, pool => sqlx::query_scalar("SELECT at FROM opt_outs WHERE tenant_id = $1 AND phone = $2")
            .bind(tenant.0).bind(phone.as_str()).fetch_optional(pool).await?);
        Ok(at.map(ts))
    }
}

impl Tx {
    /// Append a message; a repeated `external_id` is a conflict (the delivery was a duplicate).
    pub async fn insert_message(
        &mut self,
        tenant: TenantId,
        conversation: ConversationId,
        m: &NewMessage,
        now: DateTime<Utc>,
    ) -> StoreResult<MessageId> {
        changed_some(
            with_conn!(self, c => sqlx::query("UPDATE conversations SET updated_at = $1 WHERE tenant_id = $2 AND id = $3")
            .bind(now.timestamp()).bind(tenant.0).bind(conversation.0).execute(&mut *c).await?
            .rows_affected()),
        )?;
        self.append_message(tenant, conversation, m, now).await
    }

    pub async fn insert_tool_call(
        &mut self,
        tenant: TenantId,
        conversation: ConversationId,
        call: &NewToolCall,
        now: DateTime<Utc>,
    ) -> StoreResult<ToolCallId> {
        let id: i64 = with_conn!(self, pool => sqlx::query_scalar(
            "INSERT INTO tool_calls (tenant_id, conversation_id, tool, arguments, result, decision, rule, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id")
            .bind(tenant.0).bind(conversation.0).bind(&call.tool).bind(to_json(&call.arguments)).bind(to_json(&call.result))
            .bind(call.decision.as_str()).bind(&call.rule).bind(now.timestamp())
            .fetch_one(&mut *pool).await?);
        Ok(ToolCallId(id))
    }

    pub async fn insert_escalation(
        &mut self,
        tenant: TenantId,
        e: &NewEscalation,
        now: DateTime<Utc>,
    ) -> StoreResult<EscalationId> {
        let id: i64 = with_conn!(self, pool => {
            let touched = sqlx::query("UPDATE conversations SET owner = 'queue', updated_at = $1 WHERE tenant_id = $2 AND id = $3")
                .bind(now.timestamp()).bind(tenant.0).bind(e.conversation_id.0).execute(&mut *pool).await?
                .rows_affected();
            changed_some(touched)?;
            let id = sqlx::query_scalar(
                "INSERT INTO escalations (tenant_id, conversation_id, customer_id, reason, priority, summary, status, due_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $8) RETURNING id")
                .bind(tenant.0).bind(e.conversation_id.0).bind(e.customer_id.map(|c| c.0)).bind(e.reason.as_str())
                .bind(e.priority.as_str()).bind(&e.summary).bind(e.due_at.timestamp()).bind(now.timestamp())
                .fetch_one(&mut *pool).await?;
            id
        });
        self.emit_event(
            tenant,
            super::EventKind::EscalationOpened,
            serde_json::json!({
                "escalation_id": id, "conversation_id": e.conversation_id, "customer_id": e.customer_id,
                "reason": e.reason, "priority": e.priority, "due_at": e.due_at, "owner": "queue",
            }),
            now,
        )
        .await?;
        Ok(EscalationId(id))
    }
}

/// A `messages` row: id, direction, author, text, external id, media, time.
type MessageRow = (i64, String, String, String, Option<String>, String, i64);

fn message_from_row(
    (id, direction, author, text, external_id, media, at): MessageRow,
) -> StoreResult<Message> {
    Ok(Message {
        id: MessageId(id),
        direction: parse_col(&direction, "message direction")?,
        author,
        text,
        external_id,
        media: json_col(&media, "message media")?,
        at: ts(at),
    })
}
