//! The turn pipeline's storage: finding or opening the conversation of a participant, the
//! inbox that makes inbound delivery exactly-once and ordered, per-conversation locking, the
//! agent's per-conversation state, and the outbox of messages to send.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{
    json_col, to_json, ts, with_conn, with_db, Backend, Conversation, Store, StoreError,
    StoreResult, Tx,
};
use crate::domain::{Channel, ConversationId, CustomerId, IdentityLevel, PropertyId, TenantId};

/// A conversation idle this long is closed; the next message opens a new one.
pub const CONVERSATION_IDLE_SECS: i64 = 24 * 3600;

#[derive(Debug, Clone)]
pub enum Enqueued {
    /// A new inbound message, waiting for its turn.
    New {
        inbox_id: i64,
        conversation_id: ConversationId,
    },
    /// This external id was seen before.
    Duplicate {
        inbox_id: i64,
        conversation_id: ConversationId,
        done: bool,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct InboxItem {
    pub id: i64,
    pub conversation_id: ConversationId,
    pub external_id: String,
    pub text: String,
    pub media: Vec<String>,
    pub received_at: DateTime<Utc>,
    pub done: bool,
    pub reply: Option<String>,
    pub escalated: bool,
}

type InboxRow = (
    i64,
    i64,
    String,
    String,
    String,
    i64,
    String,
    Option<String>,
    bool,
);

fn inbox_item(r: InboxRow) -> StoreResult<InboxItem> {
    let (id, conversation, external_id, text, media, received_at, status, reply, escalated) = r;
    Ok(InboxItem {
        id,
        conversation_id: ConversationId(conversation),
        external_id,
        text,
        media: json_col(&media, "inbox media")?,
        received_at: ts(received_at),
        done: status == "done",
        reply,
        escalated,
    })
}

const INBOX_COLS: &str =
    "id, conversation_id, external_id, text, media, received_at, status, reply, escalated";

#[derive(Debug, Clone)]
pub struct NewOutbound {
    pub conversation_id: Option<ConversationId>,
    pub channel: Channel,
    pub to: String,
    pub from: String,
    pub body: String,
    /// `reply`, `late_reply`, `csr_reply`, `page`.
    pub purpose: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outbound {
    pub id: i64,
    pub tenant_id: TenantId,
    pub conversation_id: Option<ConversationId>,
    pub channel: String,
    pub to: String,
    pub from: String,
    pub body: String,
    pub purpose: String,
    pub status: String,
    pub provider_id: Option<String>,
    pub error: Option<String>,
}

type OutboundRow = (
    i64,
    i64,
    Option<i64>,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

fn outbound(r: OutboundRow) -> Outbound {
    let (id, tenant, conversation, channel, to, from, body, purpose, status, provider_id, error) =
        r;
    Outbound {
        id,
        tenant_id: TenantId(tenant),
        conversation_id: conversation.map(ConversationId),
        channel,
        to,
        from,
        body,
        purpose,
        status,
        provider_id,
        error,
    }
}

const OUTBOX_COLS: &str = "id, tenant_id, conversation_id, channel, to_addr, from_addr, body, purpose, status, provider_id, error";

impl Store {
    /// The open conversation of this participant on this channel, opened if there is none (or
    /// the last one went idle). Safe against two first messages racing: one open conversation
    /// per participant is a unique index.
    pub async fn open_conversation(
        &self,
        tenant: TenantId,
        channel: Channel,
        participant: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<ConversationId> {
        let now_s = now.timestamp();
        let id: i64 = with_db!(self, pool => {
            sqlx::query("UPDATE conversations SET status = 'closed' WHERE tenant_id = $1 AND channel = $2 AND participant = $3 \
                         AND status = 'open' AND updated_at < $4 AND owner = 'agent'")
                .bind(tenant.0).bind(channel.as_str()).bind(participant).bind(now_s - CONVERSATION_IDLE_SECS)
                .execute(pool).await?;
            sqlx::query("INSERT INTO conversations (tenant_id, channel, identity_level, owner, participant, status, created_at, updated_at) \
                         VALUES ($1, $2, 'anonymous', 'agent', $3, 'open', $4, $4) \
                         ON CONFLICT (tenant_id, channel, participant) WHERE status = 'open' DO NOTHING")
                .bind(tenant.0).bind(channel.as_str()).bind(participant).bind(now_s)
                .execute(pool).await?;
            sqlx::query_scalar("SELECT id FROM conversations WHERE tenant_id = $1 AND channel = $2 AND participant = $3 AND status = 'open'")
                .bind(tenant.0).bind(channel.as_str()).bind(participant)
                .fetch_one(pool).await?
        });
        Ok(ConversationId(id))
    }

    /// Record an inbound message before its turn runs; a repeated external id is reported as
    /// a duplicate (with whether its turn already finished).
    pub async fn enqueue_inbound(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        external_id: &str,
        text: &str,
        media: &[String],
        now: DateTime<Utc>,
    ) -> StoreResult<Enqueued> {
        let inserted: Option<i64> = with_db!(self, pool => sqlx::query_scalar(
            "INSERT INTO inbox (tenant_id, conversation_id, external_id, text, media, received_at, status) \
             VALUES ($1, $2, $3, $4, $5, $6, 'pending') ON CONFLICT (tenant_id, external_id) DO NOTHING RETURNING id")
            .bind(tenant.0).bind(conversation.0).bind(external_id).bind(text).bind(to_json(&media)).bind(now.timestamp())
            .fetch_optional(pool).await?);
        if let Some(inbox_id) = inserted {
            return Ok(Enqueued::New {
                inbox_id,
                conversation_id: conversation,
            });
        }
        let item = self
            .inbox_item(tenant, external_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok(Enqueued::Duplicate {
            inbox_id: item.id,
            conversation_id: item.conversation_id,
            done: item.done,
        })
    }

    pub async fn inbox_item(
        &self,
        tenant: TenantId,
        external_id: &str,
    ) -> StoreResult<Option<InboxItem>> {
        let sql =
            format!("SELECT {INBOX_COLS} FROM inbox WHERE tenant_id = $1 AND external_id = $2");
        let row: Option<InboxRow> = with_db!(self, pool => sqlx::query_as(&sql).bind(tenant.0).bind(external_id).fetch_optional(pool).await?);
        row.map(inbox_item).transpose()
    }

    pub async fn inbox_by_id(&self, tenant: TenantId, id: i64) -> StoreResult<InboxItem> {
        let sql = format!("SELECT {INBOX_COLS} FROM inbox WHERE tenant_id = $1 AND id = $2");
        let row: Option<InboxRow> = with_db!(self, pool => sqlx::query_as(&sql).bind(tenant.0).bind(id).fetch_optional(pool).await?);
        inbox_item(row.ok_or(StoreError::NotFound)?)
    }

    /// Queue a message for delivery by the outbound sender.
    pub async fn enqueue_outbound(
        &self,
        tenant: TenantId,
        m: &NewOutbound,
        now: DateTime<Utc>,
    ) -> StoreResult<i64> {
        let mut tx = self.begin().await?;
        let id = tx.enqueue_outbound(tenant, m, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Messages waiting to be sent, oldest first.
    pub async fn pending_outbound(&self, limit: i64) -> StoreResult<Vec<Outbound>> {
        let sql = format!(
            "SELECT {OUTBOX_COLS} FROM outbox WHERE status = 'queued' ORDER BY id LIMIT $1"
        );
        let rows: Vec<OutboundRow> =
            with_db!(self, pool => sqlx::query_as(&sql).bind(limit).fetch_all(pool).await?);
        Ok(rows.into_iter().map(outbound).collect())
    }

    pub async fn outbound_of(
        &self,
        tenant: TenantId,
        conversation: Option<ConversationId>,
    ) -> StoreResult<Vec<Outbound>> {
        let sql = format!("SELECT {OUTBOX_COLS} FROM outbox WHERE tenant_id = $1 AND ($2 IS NULL OR conversation_id = $2) ORDER BY id");
        let rows: Vec<OutboundRow> = with_db!(self, pool => sqlx::query_as(&sql).bind(tenant.0).bind(conversation.map(|c| c.0)).fetch_all(pool).await?);
        Ok(rows.into_iter().map(outbound).collect())
    }

    /// Record what happened to a queued message (`sent`, `failed`, `blocked`, or a provider
    /// delivery status).
    pub async fn mark_outbound(
        &self,
        id: i64,
        status: &str,
        provider_id: Option<&str>,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        with_db!(self, pool => sqlx::query(
            "UPDATE outbox SET status = $1, provider_id = COALESCE($2, provider_id), error = $3, updated_at = $4 WHERE id = $5")
            .bind(status).bind(provider_id).bind(error).bind(now.timestamp()).bind(id)
            .execute(pool).await?.rows_affected());
        Ok(())
    }

    /// A delivery status callback, keyed by the provider's message id, for a message the
    /// tenant whose number sent it queued.
    pub async fn outbound_status(
        &self,
        tenant: TenantId,
        provider_id: &str,
        status: &str,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let n = with_db!(self, pool => sqlx::query("UPDATE outbox SET status = $1, error = COALESCE($2, error), updated_at = $3 WHERE provider_id = $4 AND tenant_id = $5")
            .bind(status).bind(error).bind(now.timestamp()).bind(provider_id).bind(tenant.0)
            .execute(pool).await?.rows_affected());
        Ok(n > 0)
    }
}

impl Tx {
    /// Serialise turns of one conversation: PostgreSQL locks the row until commit (other
    /// instances wait); SQLite already holds the database write lock (`BEGIN IMMEDIATE`).
    pub async fn lock_conversation(
        &mut self,
        tenant: TenantId,
        id: ConversationId,
    ) -> StoreResult<Conversation> {
        let suffix = if self.is_postgres() {
            " FOR UPDATE"
        } else {
            ""
        };
        let sql = format!(
            "SELECT id, channel, customer_id, property_id, identity_level, owner, participant, status, created_at, updated_at \
             FROM conversations WHERE tenant_id = $1 AND id = $2{suffix}"
        );
        let row: Option<super::conversations::ConversationRow> = with_conn!(self, c => sqlx::query_as(&sql).bind(tenant.0).bind(id.0).fetch_optional(&mut *c).await?);
        row.ok_or(StoreError::NotFound)?.into_conversation()
    }

    /// Inbound messages of a conversation still waiting for their turn, in arrival order.
    pub async fn pending_inbox(
        &mut self,
        conversation: ConversationId,
    ) -> StoreResult<Vec<InboxItem>> {
        let sql = format!("SELECT {INBOX_COLS} FROM inbox WHERE conversation_id = $1 AND status = 'pending' ORDER BY id");
        let rows: Vec<InboxRow> = with_conn!(self, c => sqlx::query_as(&sql).bind(conversation.0).fetch_all(&mut *c).await?);
        rows.into_iter().map(inbox_item).collect()
    }

    pub async fn finish_inbox(
        &mut self,
        id: i64,
        reply: Option<&str>,
        escalated: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        with_conn!(self, c => sqlx::query("UPDATE inbox SET status = 'done', reply = $1, escalated = $2, processed_at = $3 WHERE id = $4")
            .bind(reply).bind(escalated).bind(now.timestamp()).bind(id)
            .execute(&mut *c).await?.rows_affected());
        Ok(())
    }

    pub async fn conversation_state(
        &mut self,
        tenant: TenantId,
        id: ConversationId,
    ) -> StoreResult<serde_json::Value> {
        let raw: Option<String> = with_conn!(self, c => sqlx::query_scalar("SELECT state FROM conversations WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.0).bind(id.0).fetch_optional(&mut *c).await?);
        json_col(&raw.ok_or(StoreError::NotFound)?, "conversation state")
    }

    /// Save who the conversation is with, how sure we are, who owns it, and the agent state.
    #[allow(clippy::too_many_arguments)]
    pub async fn update_conversation(
        &mut self,
        tenant: TenantId,
        id: ConversationId,
        customer: Option<CustomerId>,
        property: Option<PropertyId>,
        level: IdentityLevel,
        owner: &str,
        state: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        with_conn!(self, c => sqlx::query(
            "UPDATE conversations SET customer_id = $1, property_id = $2, identity_level = $3, owner = $4, state = $5, updated_at = $6 \
             WHERE tenant_id = $7 AND id = $8")
            .bind(customer.map(|x| x.0)).bind(property.map(|x| x.0)).bind(level.as_str()).bind(owner).bind(to_json(state))
            .bind(now.timestamp()).bind(tenant.0).bind(id.0)
            .execute(&mut *c).await?.rows_affected());
        Ok(())
    }

    pub async fn enqueue_outbound(
        &mut self,
        tenant: TenantId,
        m: &NewOutbound,
        now: DateTime<Utc>,
    ) -> StoreResult<i64> {
        Ok(with_conn!(self, c => sqlx::query_scalar(
            "INSERT INTO outbox (tenant_id, conversation_id, channel, to_addr, from_addr, body, purpose, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', $8, $8) RETURNING id")
            .bind(tenant.0).bind(m.conversation_id.map(|c| c.0)).bind(m.channel.as_str()).bind(&m.to).bind(&m.from)
            .bind(&m.body).bind(&m.purpose).bind(now.timestamp())
            .fetch_one(&mut *c).await?))
    }
}

impl Backend {
    pub fn is_postgres(&self) -> bool {
        matches!(self, Backend::Postgres(_))
    }
}
