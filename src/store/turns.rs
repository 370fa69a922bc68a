//! The turn pipeline's storage: finding or opening the conversation of a participant, the
//! inbox that makes inbound delivery exactly-once and ordered, per-conversation locking, the
//! agent's per-conversation state, and the outbox of messages to send.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{
    in_tx, json_col, to_json, ts, with_conn, with_db, with_writer, Backend, Conversation, Store,
    StoreError, StoreResult, Tx, CONVERSATION_COLS,
};
use crate::domain::{
    Caller, Channel, ConversationId, CustomerId, EscalationId, IdentityLevel, PhoneE164,
    PropertyId, TenantId,
};

/// A conversation idle this long is closed; the next message opens a new one.
pub const CONVERSATION_IDLE_SECS: i64 = 24 * 3600;

#[derive(Debug, Clone)]
pub enum Enqueued {
    /// A new inbound message, waiting for its turn.
    New {
        inbox_id: i64,
        conversation_id: ConversationId,
        /// The conversation's lease was taken with the message (`Store::enqueue_inbound`).
        leased: bool,
    },
    /// This external id was seen before from the same sender on the same channel.
    Duplicate {
        inbox_id: i64,
        conversation_id: ConversationId,
        done: bool,
        /// The earlier delivery carried the same text (a true redelivery); otherwise the id
        /// was re-used for a different message.
        same_text: bool,
    },
}

/// An inbound message to record before its turn runs.
#[derive(Debug, Clone)]
pub struct NewInbound<'a> {
    pub conversation: ConversationId,
    /// External ids are unique per scope (the channel and sender), never across senders.
    pub scope: &'a str,
    pub external_id: &'a str,
    pub text: &'a str,
    pub media: &'a [String],
    /// What the channel asserted about the sender.
    pub caller: &'a Caller,
    /// Our number the customer wrote to: a reply sent later goes out from it.
    pub reply_from: Option<&'a str>,
}

/// Our own deliveries to one number that a message in Twilio's list could be.
#[derive(Debug, Default)]
pub struct DeliveriesLike {
    /// The SIDs Twilio gave our sent outbox rows with the same text.
    pub sids: Vec<String>,
    /// SMS answers confirmed as delivered inline to the number (Twilio never tells us their
    /// SIDs): each reply and whether it escalated (which lets it take one more segment).
    pub inline_replies: Vec<(String, bool)>,
}

/// Which finished reply `Tx::deliver_by_outbox` hands to the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handover {
    /// Nobody delivered it.
    Undelivered,
    /// Recorded as answered inline, but the answer never left its process.
    Unconfirmed,
}

/// Where a finished turn's reply went (it is delivered exactly once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// In the answer to the request that carried the message (TwiML, JSON, WebSocket).
    Inline,
    /// Queued in the outbox (the request had stopped waiting, or the process died).
    Outbox,
    /// Deliberately not sent: the number's replies were throttled (a reply loop with another
    /// bot). The message and the reply stay in the conversation for people to see.
    Withheld,
}

impl Delivery {
    fn as_str(self) -> &'static str {
        match self {
            Delivery::Inline => "inline",
            Delivery::Outbox => "outbox",
            Delivery::Withheld => "withheld",
        }
    }
    fn parse(raw: Option<&str>) -> Option<Delivery> {
        match raw {
            Some("inline") => Some(Delivery::Inline),
            Some("outbox") => Some(Delivery::Outbox),
            Some("withheld") => Some(Delivery::Withheld),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct InboxItem {
    pub id: i64,
    pub tenant_id: TenantId,
    pub conversation_id: ConversationId,
    pub external_id: String,
    pub text: String,
    pub media: Vec<String>,
    #[serde(skip)]
    pub caller: Caller,
    pub reply_from: Option<String>,
    pub received_at: DateTime<Utc>,
    pub done: bool,
    /// The message is stored in the conversation and its emergency check ran.
    pub started: bool,
    /// Model steps already taken (assistant tool calls and their results), so a turn
    /// interrupted between steps resumes instead of running its tools again.
    pub journal: serde_json::Value,
    pub reply: Option<String>,
    pub escalated: bool,
    #[serde(skip)]
    pub delivery: Option<Delivery>,
}

#[derive(sqlx::FromRow)]
struct InboxRow {
    id: i64,
    tenant_id: i64,
    conversation_id: i64,
    external_id: String,
    text: String,
    media: String,
    caller: String,
    reply_from: Option<String>,
    received_at: i64,
    status: String,
    started: bool,
    journal: String,
    reply: Option<String>,
    escalated: bool,
    delivery: Option<String>,
}

fn inbox_item(r: InboxRow) -> StoreResult<InboxItem> {
    Ok(InboxItem {
        id: r.id,
        tenant_id: TenantId(r.tenant_id),
        conversation_id: ConversationId(r.conversation_id),
        external_id: r.external_id,
        text: r.text,
        media: json_col(&r.media, "inbox media")?,
        caller: json_col(&r.caller, "inbox caller")?,
        reply_from: r.reply_from,
        received_at: ts(r.received_at),
        done: r.status == "done",
        started: r.started,
        journal: json_col(&r.journal, "inbox journal")?,
        reply: r.reply,
        escalated: r.escalated,
        delivery: Delivery::parse(r.delivery.as_deref()),
    })
}

const INBOX_COLS: &str =
    "id, tenant_id, conversation_id, external_id, text, media, caller, reply_from, \
     received_at, status, started, journal, reply, escalated, delivery";

/// A conversation as a turn's first step reads it (locked).
#[derive(Debug, Clone)]
pub struct TurnConversation {
    pub conversation: Conversation,
    /// The agent's state (JSON).
    pub state: serde_json::Value,
    /// A notice the customer may be answering (`notices`), not yet cleared.
    pub notice: Option<serde_json::Value>,
    /// Who holds the conversation's lease (`Store::take_lease`).
    pub lease_owner: Option<String>,
}

#[derive(sqlx::FromRow)]
struct TurnConversationRow {
    #[sqlx(flatten)]
    conversation: super::conversations::ConversationRow,
    state: String,
    notice: Option<String>,
    lease_owner: Option<String>,
}

/// Seconds on the wall clock (leases and recovery never use a pinned demo clock).
pub fn wall_now() -> i64 {
    Utc::now().timestamp()
}

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
    /// Send attempts so far (counted when a sender leases the row).
    pub attempts: i64,
    pub created_at: DateTime<Utc>,
    /// The subject line of an e-mail (channel `email`).
    pub subject: Option<String>,
    /// The lease of the claim that returned this row (wall clock seconds).
    pub lease_until: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct OutboundRow {
    id: i64,
    tenant_id: i64,
    conversation_id: Option<i64>,
    channel: String,
    to_addr: String,
    from_addr: String,
    body: String,
    purpose: String,
    status: String,
    provider_id: Option<String>,
    error: Option<String>,
    attempts: i64,
    created_at: i64,
    subject: Option<String>,
    lease_until: Option<i64>,
}

fn outbound(r: OutboundRow) -> Outbound {
    Outbound {
        id: r.id,
        tenant_id: TenantId(r.tenant_id),
        conversation_id: r.conversation_id.map(ConversationId),
        channel: r.channel,
        to: r.to_addr,
        from: r.from_addr,
        body: r.body,
        purpose: r.purpose,
        status: r.status,
        provider_id: r.provider_id,
        error: r.error,
        attempts: r.attempts,
        created_at: ts(r.created_at),
        subject: r.subject,
        lease_until: r.lease_until,
    }
}

const OUTBOX_COLS: &str = "id, tenant_id, conversation_id, channel, to_addr, from_addr, body, purpose, status, provider_id, error, CAST(attempts AS BIGINT) AS attempts, created_at, subject, lease_until";

/// Take or renew a conversation's lease: `$1` holder, `$2` until, `$3` tenant, `$4`
/// conversation, `$5` the wall clock now (an expired lease is taken over).
const TAKE_LEASE: &str =
    "UPDATE conversations SET lease_owner = $1, lease_until = $2 WHERE tenant_id = $3 AND id = $4 \
     AND (lease_owner IS NULL OR lease_owner = $1 OR lease_until < $5)";

impl Store {
    /// The open conversation of this participant on this channel, opened if there is none (or
    /// the last one went idle). Safe against two first messages racing: one open conversation
    /// per participant is a unique index.
    pub async fn open_conversation(
        &self,
        tenant: TenantId,
        channel: Channel,
        participant: &str,
        caller_phone: Option<&PhoneE164>,
        now: DateTime<Utc>,
    ) -> StoreResult<ConversationId> {
        let now_s = now.timestamp();
        // The usual case, read without the writer: an open conversation that is not idle
        // (the write below would neither close it nor open another).
        let open: Option<(i64, i64, String)> = with_db!(self, pool => sqlx::query_as(
            "SELECT id, updated_at, owner FROM conversations WHERE tenant_id = $1 AND channel = $2 AND participant = $3 AND status = 'open'")
            .bind(tenant.0).bind(channel.as_str()).bind(participant)
            .fetch_optional(pool).await?);
        if let Some((id, updated_at, owner)) = open {
            if updated_at >= now_s - CONVERSATION_IDLE_SECS || owner != "agent" {
                return Ok(ConversationId(id));
            }
        }
        let id: i64 = with_writer!(self, pool => {
            sqlx::query("UPDATE conversations SET status = 'closed' WHERE tenant_id = $1 AND channel = $2 AND participant = $3 \
                         AND status = 'open' AND updated_at < $4 AND owner = 'agent'")
                .bind(tenant.0).bind(channel.as_str()).bind(participant).bind(now_s - CONVERSATION_IDLE_SECS)
                .execute(pool).await?;
            sqlx::query("INSERT INTO conversations (tenant_id, channel, identity_level, owner, participant, caller_phone, status, created_at, updated_at) \
                         VALUES ($1, $2, 'anonymous', 'agent', $3, $4, 'open', $5, $5) \
                         ON CONFLICT (tenant_id, channel, participant) WHERE status = 'open' DO NOTHING")
                .bind(tenant.0).bind(channel.as_str()).bind(participant).bind(caller_phone.map(PhoneE164::as_str)).bind(now_s)
                .execute(pool).await?;
            sqlx::query_scalar("SELECT id FROM conversations WHERE tenant_id = $1 AND channel = $2 AND participant = $3 AND status = 'open'")
                .bind(tenant.0).bind(channel.as_str()).bind(participant)
                .fetch_one(pool).await?
        });
        Ok(ConversationId(id))
    }

    /// Record an inbound message before its turn runs (committed at once: nothing slow
    /// happens before it), and with `lease` (holder, until) take the conversation's lease in
    /// the same write when nobody holds it (as [`Store::take_lease`] would). A repeated
    /// external id from the same scope is reported as a duplicate, with whether its turn
    /// already finished and whether the text matches.
    pub async fn enqueue_inbound(
        &self,
        tenant: TenantId,
        m: &NewInbound<'_>,
        now: DateTime<Utc>,
        lease: Option<(&str, i64)>,
    ) -> StoreResult<Enqueued> {
        // Messages of one conversation are recorded one at a time (the conversation row is
        // locked; SQLite has one writer anyway), so their ids are committed in id order and
        // whoever drains the conversation never sees a later message before an earlier one.
        const INSERT: &str = "INSERT INTO inbox (tenant_id, conversation_id, scope, external_id, text, media, caller, reply_from, received_at, accepted_wall, status) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending') ON CONFLICT (tenant_id, scope, external_id) DO NOTHING RETURNING id";
        let (media, caller) = (to_json(&m.media), to_json(m.caller));
        let mut tx = self.begin().await?;
        let (inserted, leased) = with_conn!(tx, c => {
            if matches!(self.db, Backend::Postgres(_)) {
                // PostgreSQL need not flush this commit before going on: the turn's own
                // commit, synchronous, flushes it before the message is answered, and a
                // request answered without its turn (past the reply budget) is answered
                // seconds later, long after the WAL writer flushed it (within
                // 3 × `wal_writer_delay`, 0.6 s by default).
                sqlx::query("SELECT set_config('synchronous_commit', 'off', true) FROM conversations WHERE tenant_id = $1 AND id = $2 FOR UPDATE")
                    .bind(tenant.0).bind(m.conversation.0).fetch_optional(&mut *c).await?;
            }
            let inserted: Option<i64> = sqlx::query_scalar(INSERT)
                .bind(tenant.0).bind(m.conversation.0).bind(m.scope).bind(m.external_id).bind(m.text).bind(&media)
                .bind(&caller).bind(m.reply_from).bind(now.timestamp()).bind(wall_now())
                .fetch_optional(&mut *c).await?;
            let leased = match (inserted, lease) {
                (Some(_), Some((owner, until))) => sqlx::query(TAKE_LEASE)
                    .bind(owner).bind(until).bind(tenant.0).bind(m.conversation.0).bind(wall_now())
                    .execute(&mut *c).await?.rows_affected() == 1,
                _ => false,
            };
            (inserted, leased)
        });
        tx.commit().await?;
        if let Some(inbox_id) = inserted {
            return Ok(Enqueued::New {
                inbox_id,
                conversation_id: m.conversation,
                leased,
            });
        }
        let sql = format!(
            "SELECT {INBOX_COLS} FROM inbox WHERE tenant_id = $1 AND scope = $2 AND external_id = $3"
        );
        let row: Option<InboxRow> = with_db!(self, pool => sqlx::query_as(&sql).bind(tenant.0).bind(m.scope).bind(m.external_id).fetch_optional(pool).await?);
        let item = inbox_item(row.ok_or(StoreError::NotFound)?)?;
        Ok(Enqueued::Duplicate {
            inbox_id: item.id,
            conversation_id: item.conversation_id,
            done: item.done,
            same_text: item.text == m.text,
        })
    }

    /// Make sure an accepted message is on disk before its request is answered without its
    /// turn (see `enqueue_inbound`): on PostgreSQL a synchronous commit that touches its
    /// row flushes the write-ahead log past the message; SQLite's commits need nothing more.
    pub async fn flush_accepted(&self, tenant: TenantId, inbox_id: i64) -> StoreResult<()> {
        if let Backend::Postgres(pool) = &self.db {
            sqlx::query(
                "UPDATE inbox SET accepted_wall = accepted_wall WHERE tenant_id = $1 AND id = $2",
            )
            .bind(tenant.0)
            .bind(inbox_id)
            .execute(pool)
            .await?;
        }
        Ok(())
    }

    /// Inbound messages of a conversation still waiting for their turn, in arrival order.
    pub async fn pending_inbox(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
    ) -> StoreResult<Vec<InboxItem>> {
        let sql = format!("SELECT {INBOX_COLS} FROM inbox WHERE tenant_id = $1 AND conversation_id = $2 AND status = 'pending' ORDER BY id");
        let rows: Vec<InboxRow> = with_db!(self, pool => sqlx::query_as(&sql).bind(tenant.0).bind(conversation.0).fetch_all(pool).await?);
        rows.into_iter().map(inbox_item).collect()
    }

    /// Take (or renew) the right to run this conversation's turns until `until` (wall clock
    /// seconds). Only one holder at a time; an expired lease (its holder died) is taken over.
    pub async fn take_lease(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        owner: &str,
        until: i64,
    ) -> StoreResult<bool> {
        let n = with_writer!(self, pool => sqlx::query(TAKE_LEASE)
            .bind(owner).bind(until).bind(tenant.0).bind(conversation.0).bind(wall_now())
            .execute(pool).await?.rows_affected());
        Ok(n == 1)
    }

    pub async fn release_lease(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        owner: &str,
    ) -> StoreResult<()> {
        with_writer!(self, pool => sqlx::query(
            "UPDATE conversations SET lease_owner = NULL, lease_until = NULL WHERE tenant_id = $1 AND id = $2 AND lease_owner = $3")
            .bind(tenant.0).bind(conversation.0).bind(owner)
            .execute(pool).await?.rows_affected());
        Ok(())
    }

    /// Conversations with messages waiting whose turn nobody runs (no lease, or the holder
    /// died), accepted at least `min_age_secs` ago.
    pub async fn stalled_conversations(
        &self,
        min_age_secs: i64,
    ) -> StoreResult<Vec<(TenantId, ConversationId)>> {
        let now = wall_now();
        let rows: Vec<(i64, i64)> = with_db!(self, pool => sqlx::query_as(
            "SELECT DISTINCT i.tenant_id, i.conversation_id FROM inbox i JOIN conversations c ON c.id = i.conversation_id AND c.tenant_id = i.tenant_id \
             WHERE i.status = 'pending' AND i.accepted_wall <= $1 AND (c.lease_owner IS NULL OR c.lease_until < $2) ORDER BY 1, 2 LIMIT 100")
            .bind(now - min_age_secs).bind(now)
            .fetch_all(pool).await?);
        Ok(rows
            .into_iter()
            .map(|(t, c)| (TenantId(t), ConversationId(c)))
            .collect())
    }

    /// Finished SMS turns whose reply nobody delivered (the request stopped waiting or the
    /// process died), finished at least `min_age_secs` ago, with the customer's number.
    pub async fn undelivered_sms_replies(
        &self,
        min_age_secs: i64,
    ) -> StoreResult<Vec<(InboxItem, String)>> {
        self.sms_replies_where(
            "i.status = 'done' AND i.delivery IS NULL AND i.processed_wall <= $1",
            min_age_secs,
        )
        .await
    }

    /// Record who delivers a finished turn's reply; `false` when someone already did.
    pub async fn claim_delivery(
        &self,
        tenant: TenantId,
        inbox_id: i64,
        how: Delivery,
    ) -> StoreResult<bool> {
        // An inline answer is unconfirmed until it has left the process (`confirm_inline`).
        let wall = (how == Delivery::Inline).then(wall_now);
        let n = with_writer!(self, pool => sqlx::query(
            "UPDATE inbox SET delivery = $1, delivery_wall = $4 WHERE tenant_id = $2 AND id = $3 AND status = 'done' AND delivery IS NULL")
            .bind(how.as_str()).bind(tenant.0).bind(inbox_id).bind(wall)
            .execute(pool).await?.rows_affected());
        Ok(n == 1)
    }

    /// The inline answer carrying this reply has been handed to the connection. PostgreSQL
    /// need not flush this commit at once (`synchronous_commit` off for this statement's
    /// transaction): only a crash of PostgreSQL itself could lose it, and then the reply
    /// counts as unconfirmed, which recovery checks against Twilio's message list.
    pub async fn confirm_inline(&self, tenant: TenantId, inbox_id: i64) -> StoreResult<()> {
        let lazily = match self.db {
            Backend::Sqlite(_) => "",
            Backend::Postgres(_) => " AND set_config('synchronous_commit', 'off', true) = 'off'",
        };
        let sql = format!("UPDATE inbox SET delivery_wall = NULL WHERE tenant_id = $1 AND id = $2 AND delivery = 'inline'{lazily}");
        with_writer!(self, pool => sqlx::query(&sql)
            .bind(tenant.0).bind(inbox_id).execute(pool).await?.rows_affected());
        Ok(())
    }

    /// Our deliveries to `to` other than outbox row `except` that a message with exactly
    /// `body` in Twilio's list could be: see [`DeliveriesLike`].
    pub async fn deliveries_like(
        &self,
        tenant: TenantId,
        except: i64,
        to: &str,
        body: &str,
    ) -> StoreResult<DeliveriesLike> {
        let sids: Vec<(String,)> = with_db!(self, pool => sqlx::query_as(
            "SELECT provider_id FROM outbox WHERE tenant_id = $1 AND to_addr = $2 AND body = $3 AND id <> $4 \
             AND status = 'sent' AND provider_id IS NOT NULL")
            .bind(tenant.0).bind(to).bind(body).bind(except).fetch_all(pool).await?);
        let inline_replies: Vec<(String, bool)> = with_db!(self, pool => sqlx::query_as(
            "SELECT i.reply, i.escalated FROM inbox i JOIN conversations c ON c.id = i.conversation_id AND c.tenant_id = i.tenant_id \
             WHERE i.tenant_id = $1 AND c.participant = $2 AND c.channel = 'sms' AND i.delivery = 'inline' \
             AND i.delivery_wall IS NULL AND i.reply IS NOT NULL AND i.reply <> ''")
            .bind(tenant.0).bind(to).fetch_all(pool).await?);
        Ok(DeliveriesLike {
            sids: sids.into_iter().map(|(s,)| s).collect(),
            inline_replies,
        })
    }

    /// SMS replies claimed for an inline answer at least `min_age_secs` ago that never left
    /// the process as far as anyone recorded (it died in between), with the customer.
    pub async fn unconfirmed_inline_replies(
        &self,
        min_age_secs: i64,
    ) -> StoreResult<Vec<(InboxItem, String)>> {
        self.sms_replies_where(
            "i.delivery = 'inline' AND i.delivery_wall IS NOT NULL AND i.delivery_wall <= $1",
            min_age_secs,
        )
        .await
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

    /// SMS turns with a reply that match `cond` (`$1`: the wall clock `min_age_secs` ago),
    /// oldest first, at most 100, each with the customer's number.
    async fn sms_replies_where(
        &self,
        cond: &str,
        min_age_secs: i64,
    ) -> StoreResult<Vec<(InboxItem, String)>> {
        let sql = format!(
            "SELECT i.tenant_id, i.id, c.participant FROM inbox i JOIN conversations c ON c.id = i.conversation_id AND c.tenant_id = i.tenant_id \
             WHERE {cond} AND i.reply IS NOT NULL AND c.channel = 'sms' ORDER BY i.id LIMIT 100"
        );
        let rows: Vec<(i64, i64, String)> = with_db!(self, pool => sqlx::query_as(&sql)
            .bind(wall_now() - min_age_secs).fetch_all(pool).await?);
        let mut out = Vec::with_capacity(rows.len());
        for (tenant, id, participant) in rows {
            out.push((self.inbox_by_id(TenantId(tenant), id).await?, participant));
        }
        Ok(out)
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
        in_tx!(self, tx => tx.enqueue_outbound(tenant, m, now))
    }

    /// Lease up to `limit` messages that are due (queued, or whose send had an uncertain
    /// outcome), on-call pages first, then oldest first. A leased row is not handed to any
    /// other sender until the lease expires (its sender died) — `FOR UPDATE SKIP LOCKED`
    /// on PostgreSQL, SQLite's single writer otherwise.
    pub async fn claim_outbound(
        &self,
        now: DateTime<Utc>,
        limit: i64,
        lease_secs: i64,
    ) -> StoreResult<Vec<Outbound>> {
        let wall = wall_now();
        let lock = self.skip_locked();
        // Most wake-ups find nothing due: a read says so without waiting for the writer.
        let due: Option<i64> = with_db!(self, pool => sqlx::query_scalar(
            "SELECT id FROM outbox WHERE status IN ('queued', 'uncertain') AND not_before <= $1 \
             AND (lease_until IS NULL OR lease_until < $2) LIMIT 1")
            .bind(now.timestamp()).bind(wall).fetch_optional(pool).await?);
        if due.is_none() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "UPDATE outbox SET lease_until = $1, attempts = attempts + 1 WHERE id IN (\
               SELECT id FROM outbox WHERE status IN ('queued', 'uncertain') AND not_before <= $2 \
               AND (lease_until IS NULL OR lease_until < $3) \
               ORDER BY CASE WHEN purpose = 'page' THEN 0 ELSE 1 END, id LIMIT $4{lock}) \
             RETURNING {OUTBOX_COLS}"
        );
        let mut rows: Vec<OutboundRow> = with_writer!(self, pool => sqlx::query_as(&sql)
            .bind(wall + lease_secs).bind(now.timestamp()).bind(wall).bind(limit)
            .fetch_all(pool).await?);
        rows.sort_by_key(|r| (r.purpose != "page", r.id));
        Ok(rows.into_iter().map(outbound).collect())
    }

    /// Extend a claim's lease just before sending, if the claim still holds the row: a
    /// sender whose lease ran out (a slow batch) must not send what another sender may have
    /// taken over. Returns whether the claim still holds it.
    pub async fn renew_outbound(&self, m: &mut Outbound, lease_secs: i64) -> StoreResult<bool> {
        let until = wall_now() + lease_secs;
        let n = with_writer!(self, pool => sqlx::query(
            "UPDATE outbox SET lease_until = $1 WHERE tenant_id = $2 AND id = $3 AND lease_until = $4 \
             AND status IN ('queued', 'uncertain')")
            .bind(until).bind(m.tenant_id.0).bind(m.id).bind(m.lease_until)
            .execute(pool).await?.rows_affected());
        if n == 1 {
            m.lease_until = Some(until);
        }
        Ok(n == 1)
    }

    /// Try a leased message again no sooner than `after_wall` (wall clock seconds), with
    /// its new status (`queued`, or `uncertain` when the last attempt may have gone out). A
    /// row that got its outcome meanwhile (`sent`, `failed`) keeps it.
    pub async fn retry_outbound(
        &self,
        id: i64,
        status: &str,
        after_wall: i64,
        error: &str,
    ) -> StoreResult<()> {
        with_writer!(self, pool => sqlx::query(
            "UPDATE outbox SET status = $1, lease_until = $2, error = $3, updated_at = $4 \
             WHERE id = $5 AND status IN ('queued', 'uncertain')")
            .bind(status).bind(after_wall).bind(error).bind(wall_now()).bind(id)
            .execute(pool).await?.rows_affected());
        Ok(())
    }

    /// Put a leased message back until `not_before` (the tenant's quiet hours end).
    pub async fn defer_outbound(&self, id: i64, not_before: DateTime<Utc>) -> StoreResult<()> {
        with_writer!(self, pool => sqlx::query(
            "UPDATE outbox SET not_before = $1, lease_until = NULL, attempts = attempts - 1, updated_at = $2 WHERE id = $3")
            .bind(not_before.timestamp()).bind(wall_now()).bind(id)
            .execute(pool).await?.rows_affected());
        Ok(())
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
        with_writer!(self, pool => sqlx::query(
            "UPDATE outbox SET status = $1, provider_id = COALESCE($2, provider_id), error = $3, updated_at = $4, lease_until = NULL WHERE id = $5")
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
        let n = with_writer!(self, pool => sqlx::query("UPDATE outbox SET status = $1, error = COALESCE($2, error), updated_at = $3 WHERE provider_id = $4 AND tenant_id = $5")
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
        let sql = format!(
            "SELECT {CONVERSATION_COLS} FROM conversations WHERE tenant_id = $1 AND id = $2{}",
            self.for_update()
        );
        let row: Option<super::conversations::ConversationRow> = with_conn!(self, c => sqlx::query_as(&sql).bind(tenant.0).bind(id.0).fetch_optional(&mut *c).await?);
        row.ok_or(StoreError::NotFound)?.into_conversation()
    }

    /// [`Tx::lock_conversation`] for a turn's first step, with what that step reads of the
    /// row in the same statement: the agent's state and a pending notice (see
    /// `Tx::take_conversation_notice`; call [`Tx::clear_conversation_notice`] when there is
    /// one).
    pub async fn lock_conversation_for_turn(
        &mut self,
        tenant: TenantId,
        id: ConversationId,
    ) -> StoreResult<TurnConversation> {
        let sql = format!(
            "SELECT {CONVERSATION_COLS}, state, notice, lease_owner FROM conversations WHERE tenant_id = $1 AND id = $2{}",
            self.for_update()
        );
        let row: Option<TurnConversationRow> = with_conn!(self, c => sqlx::query_as(&sql).bind(tenant.0).bind(id.0).fetch_optional(&mut *c).await?);
        let row = row.ok_or(StoreError::NotFound)?;
        let state = json_col(&row.state, "conversation state")?;
        let notice = row.notice.and_then(|raw| serde_json::from_str(&raw).ok());
        Ok(TurnConversation {
            conversation: row.conversation.into_conversation()?,
            state,
            notice,
            lease_owner: row.lease_owner,
        })
    }

    /// A notice read by [`Tx::lock_conversation_for_turn`] is answered once.
    pub async fn clear_conversation_notice(
        &mut self,
        tenant: TenantId,
        id: ConversationId,
    ) -> StoreResult<()> {
        with_conn!(self, c => sqlx::query("UPDATE conversations SET notice = NULL WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.0).bind(id.0).execute(&mut *c).await?.rows_affected());
        Ok(())
    }

    /// Append a message without touching the conversation's `updated_at`: for a caller that
    /// saves the conversation in the same transaction anyway (`Tx::update_conversation`).
    /// A repeated `external_id` is a conflict.
    pub async fn append_message(
        &mut self,
        tenant: TenantId,
        conversation: ConversationId,
        m: &super::NewMessage,
        now: DateTime<Utc>,
    ) -> StoreResult<crate::domain::MessageId> {
        let id: i64 = with_conn!(self, c => sqlx::query_scalar(
            "INSERT INTO messages (tenant_id, conversation_id, direction, author, text, external_id, media, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id")
            .bind(tenant.0).bind(conversation.0).bind(m.direction.as_str()).bind(&m.author).bind(&m.text)
            .bind(&m.external_id).bind(to_json(&m.media)).bind(now.timestamp())
            .fetch_one(&mut *c).await
            .map_err(|e| StoreError::on_unique(e, "message already received"))?);
        Ok(crate::domain::MessageId(id))
    }

    /// Give the conversation's lease back in a turn's last transaction, if `owner` holds it
    /// and no message of the conversation is waiting (the turn's own inbox row is finished
    /// first). Returns whether it was given back; if not, the holder runs what is waiting.
    /// A message recorded after this commits finds the lease free (recording it waits for
    /// this transaction: the conversation's row lock on PostgreSQL, the writer on SQLite).
    pub async fn release_lease_if_idle(
        &mut self,
        tenant: TenantId,
        conversation: ConversationId,
        owner: &str,
    ) -> StoreResult<bool> {
        let n = with_conn!(self, c => sqlx::query(
            "UPDATE conversations SET lease_owner = NULL, lease_until = NULL WHERE tenant_id = $1 AND id = $2 AND lease_owner = $3 \
             AND NOT EXISTS (SELECT 1 FROM inbox WHERE tenant_id = $1 AND conversation_id = $2 AND status = 'pending')")
            .bind(tenant.0).bind(conversation.0).bind(owner)
            .execute(&mut *c).await?.rows_affected());
        Ok(n == 1)
    }

    /// Make the conversation's unresolved escalation urgent (due no later than `due`) and
    /// note why in its summary; returns it, or `None` when there is none.
    pub async fn raise_open_escalation(
        &mut self,
        tenant: TenantId,
        conversation: ConversationId,
        due: DateTime<Utc>,
        note: &str,
    ) -> StoreResult<Option<EscalationId>> {
        let id: Option<i64> = with_conn!(self, c => sqlx::query_scalar(
            "UPDATE escalations SET priority = 'urgent', due_at = CASE WHEN due_at < $1 THEN due_at ELSE $1 END, summary = summary || $2 \
             WHERE id = (SELECT MAX(id) FROM escalations WHERE tenant_id = $3 AND conversation_id = $4 AND status <> 'resolved') RETURNING id")
            .bind(due.timestamp()).bind(note).bind(tenant.0).bind(conversation.0)
            .fetch_optional(&mut *c).await?);
        Ok(id.map(EscalationId))
    }

    /// The message is stored in its conversation and its emergency check ran.
    pub async fn mark_inbox_started(&mut self, tenant: TenantId, id: i64) -> StoreResult<()> {
        with_conn!(self, c => sqlx::query("UPDATE inbox SET started = TRUE WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.0).bind(id).execute(&mut *c).await?.rows_affected());
        Ok(())
    }

    /// Save the model steps a turn has taken so far (with the tool writes they made).
    pub async fn save_inbox_journal(
        &mut self,
        tenant: TenantId,
        id: i64,
        journal: &serde_json::Value,
    ) -> StoreResult<()> {
        with_conn!(self, c => sqlx::query("UPDATE inbox SET journal = $1 WHERE tenant_id = $2 AND id = $3")
            .bind(to_json(journal)).bind(tenant.0).bind(id).execute(&mut *c).await?.rows_affected());
        Ok(())
    }

    /// Stage a turn's reply in the transaction that makes it certain (an escalation and its
    /// acknowledgement, an answer to a notice): a turn cut short before its last step
    /// resumes with this reply instead of going silent or asking the model again.
    pub async fn stage_inbox_reply(
        &mut self,
        tenant: TenantId,
        id: i64,
        reply: &str,
        escalated: bool,
    ) -> StoreResult<()> {
        with_conn!(self, c => sqlx::query("UPDATE inbox SET reply = $1, escalated = $2 WHERE tenant_id = $3 AND id = $4 AND status <> 'done'")
            .bind(reply).bind(escalated).bind(tenant.0).bind(id).execute(&mut *c).await?.rows_affected());
        Ok(())
    }

    /// The newest inbound message of a conversation recorded so far: a message with a
    /// higher id arrived after this moment.
    pub async fn latest_inbox_id(
        &mut self,
        tenant: TenantId,
        conversation: ConversationId,
    ) -> StoreResult<i64> {
        let id: Option<i64> = with_conn!(self, c => sqlx::query_scalar("SELECT MAX(id) FROM inbox WHERE tenant_id = $1 AND conversation_id = $2")
            .bind(tenant.0).bind(conversation.0).fetch_one(&mut *c).await?);
        Ok(id.unwrap_or(0))
    }

    /// The turn of inbox row `id` is done with its reply (none: silent) and whether it
    /// escalated; `delivery`: who delivers the reply, claimed here for the request that waits
    /// for it (as [`Store::claim_delivery`] would, without a write of its own).
    pub async fn finish_inbox(
        &mut self,
        tenant: TenantId,
        id: i64,
        (reply, escalated): (Option<&str>, bool),
        now: DateTime<Utc>,
        delivery: Option<Delivery>,
    ) -> StoreResult<()> {
        let wall = wall_now();
        let delivery_wall = (delivery == Some(Delivery::Inline)).then_some(wall);
        with_conn!(self, c => sqlx::query("UPDATE inbox SET status = 'done', reply = $1, escalated = $2, processed_at = $3, processed_wall = $4, \
                                           delivery = $7, delivery_wall = $8 WHERE tenant_id = $5 AND id = $6")
            .bind(reply).bind(escalated).bind(now.timestamp()).bind(wall).bind(tenant.0).bind(id)
            .bind(delivery.map(Delivery::as_str)).bind(delivery_wall)
            .execute(&mut *c).await?.rows_affected());
        Ok(())
    }

    /// Queue a finished turn's reply for sending, unless someone already took care of it:
    /// `Handover::Undelivered` — nobody delivered it; `Handover::Unconfirmed` — it was
    /// recorded as answered inline but the answer never left its process, so it is queued
    /// `uncertain` and the outbox looks for it in Twilio's message list (an answered
    /// webhook's reply is a message there) before sending.
    pub async fn deliver_by_outbox(
        &mut self,
        tenant: TenantId,
        inbox_id: i64,
        m: &NewOutbound,
        now: DateTime<Utc>,
        from: Handover,
    ) -> StoreResult<Option<i64>> {
        let claim = match from {
            Handover::Undelivered => "UPDATE inbox SET delivery = 'outbox' WHERE tenant_id = $1 AND id = $2 AND status = 'done' AND delivery IS NULL",
            Handover::Unconfirmed => "UPDATE inbox SET delivery = 'outbox', delivery_wall = NULL WHERE tenant_id = $1 AND id = $2 AND delivery = 'inline' AND delivery_wall IS NOT NULL",
        };
        let n = with_conn!(self, c => sqlx::query(claim)
            .bind(tenant.0).bind(inbox_id).execute(&mut *c).await?.rows_affected());
        if n == 0 {
            return Ok(None);
        }
        let id = self.enqueue_outbound(tenant, m, now).await?;
        if from == Handover::Unconfirmed {
            with_conn!(self, c => sqlx::query("UPDATE outbox SET status = 'uncertain' WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.0).bind(id).execute(&mut *c).await?.rows_affected());
        }
        Ok(Some(id))
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
