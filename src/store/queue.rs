//! The human queue as CSRs work it: escalations listed most urgent first, and the state
//! changes a CSR makes — claim, resolve, hand a conversation back to the agent, reply to the
//! customer. Each change runs in one transaction that first locks the conversation, so it
//! serialises with the agent's turns on that conversation (PostgreSQL `FOR UPDATE`, SQLite
//! `BEGIN IMMEDIATE`) and a human never talks over the agent or the other way round.

use chrono::{DateTime, Utc};

use super::conversations::{EscalationRow, ESCALATION_COLS};
use serde_json::json;

use super::{
    csr_audit, parse_col, with_conn, with_db, Conversation, Escalation, EventKind, NewMessage,
    NewOutbound, Store, StoreError, StoreResult, Tx,
};
use crate::domain::{
    Channel, ConversationId, Direction, EscalationId, EscalationStatus, MessageId, Role, TenantId,
    UserId,
};

/// Resolution recorded on escalations closed by handing the conversation back.
pub const HANDED_BACK: &str = "handed back";

/// Who acts on the queue: an operator user, or — for a token without a user — its role.
/// `label` is what conversations record as their owner and messages as their author
/// (`csr:<user id>`, or `csr:<role>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Csr {
    pub user: Option<UserId>,
    pub label: String,
    /// The acting role, recorded in the audit log.
    pub role: Role,
}

impl Csr {
    pub fn new(user: Option<UserId>, role: Role) -> Csr {
        let label = match user {
            Some(u) => format!("csr:{u}"),
            None => format!("csr:{role}"),
        };
        Csr { user, label, role }
    }
}

/// How a resolved escalation ended, for reports and the record.
pub const OUTCOMES: &[&str] = &[
    "answered",
    "rescheduled",
    "cancelled",
    "booked",
    "billing_adjusted",
    "callback_scheduled",
    "technician_dispatched",
    "no_action_needed",
    "other",
];

/// One escalation as the queue shows it, with what the CSR needs from its conversation.
#[derive(Debug, Clone)]
pub struct QueueItem {
    pub escalation: Escalation,
    /// The customer's display name, when the customer is known.
    pub customer_name: Option<String>,
    pub channel: Channel,
    pub conversation_owner: String,
    pub conversation_status: String,
    /// Since when the customer has been waiting for a person (wrote after the queue took
    /// the conversation and nobody has answered since).
    pub customer_waiting_since: Option<DateTime<Utc>>,
}

impl QueueItem {
    /// Who holds a claimed escalation (`csr:<user id>` or `csr:<role>`); `None` unless claimed.
    pub fn holder(&self) -> Option<String> {
        holder(&self.escalation, &self.conversation_owner)
    }
}

fn holder(e: &Escalation, conversation_owner: &str) -> Option<String> {
    if e.status != EscalationStatus::Claimed {
        return None;
    }
    Some(match e.assignee {
        Some(u) => format!("csr:{u}"),
        None if conversation_owner.starts_with("csr:") => conversation_owner.to_string(),
        None => "csr:unknown".to_string(),
    })
}

/// Which escalations the queue lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueFilter {
    /// Open and claimed.
    Unresolved,
    Status(EscalationStatus),
}

/// What a hand-back changed.
#[derive(Debug, Clone)]
pub struct HandBack {
    pub conversation: Conversation,
    pub resolved: Vec<EscalationId>,
}

/// What a CSR reply stored.
#[derive(Debug, Clone)]
pub struct CsrReply {
    pub message_id: MessageId,
    pub outbound_id: Option<i64>,
    pub claimed: Vec<EscalationId>,
}

#[derive(sqlx::FromRow)]
struct QueueRow {
    #[sqlx(flatten)]
    escalation: EscalationRow,
    channel: String,
    owner: String,
    conversation_status: String,
    customer_waiting_since: Option<i64>,
    first_name: Option<String>,
    last_name: Option<String>,
    company: Option<String>,
}

impl QueueRow {
    fn into_item(self) -> StoreResult<QueueItem> {
        let customer_name = match (&self.first_name, &self.last_name) {
            (Some(f), Some(l)) => Some(super::display_name(f, l, self.company.as_deref())),
            _ => None,
        };
        Ok(QueueItem {
            escalation: self.escalation.into_escalation()?,
            customer_name,
            channel: parse_col(&self.channel, "conversation channel")?,
            conversation_owner: self.owner,
            conversation_status: self.conversation_status,
            customer_waiting_since: self.customer_waiting_since.map(super::ts),
        })
    }
}

const QUEUE_SELECT: &str =
    "SELECT e.id, e.conversation_id, e.customer_id, e.reason, e.priority, e.summary, e.status, \
     e.assignee, e.due_at, e.created_at, e.resolved_at, e.resolution, \
     e.customer_waiting_since, c.channel, c.owner, c.status AS conversation_status, cu.first_name, cu.last_name, cu.company \
     FROM escalations e \
     JOIN conversations c ON c.tenant_id = e.tenant_id AND c.id = e.conversation_id \
     LEFT JOIN customers cu ON cu.tenant_id = e.tenant_id AND cu.id = e.customer_id";

const URGENCY_ORDER: &str = "CASE e.priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 ELSE 3 END, e.due_at, e.id";

impl Store {
    /// Announce escalations close to breaching their due time: open or claimed ones with a
    /// fifth (or less) of their time from creation to due left, each once across instances
    /// (`near_breach_at` is set by a conditional update in the transaction that emits
    /// `escalation.sla_near_breach`). At most `limit` per call; returns how many.
    pub async fn flag_near_breaches(&self, now: DateTime<Utc>, limit: i64) -> StoreResult<usize> {
        let now_s = now.timestamp();
        let due: Vec<(i64, i64, i64, i64, String, String, String)> = with_db!(self, pool => sqlx::query_as(
            "SELECT id, tenant_id, conversation_id, due_at, reason, priority, status FROM escalations \
             WHERE status IN ('open', 'claimed') AND near_breach_at IS NULL \
             AND due_at - $1 <= (due_at - created_at) / 5 ORDER BY due_at LIMIT $2")
            .bind(now_s).bind(limit).fetch_all(pool).await?);
        let mut flagged = 0;
        for (id, tenant, conversation, due_at, reason, priority, status) in due {
            let tenant = TenantId(tenant);
            let mut tx = self.begin().await?;
            let n = with_conn!(tx, c => sqlx::query(
                "UPDATE escalations SET near_breach_at = $1 WHERE tenant_id = $2 AND id = $3 AND near_breach_at IS NULL")
                .bind(now_s).bind(tenant.0).bind(id).execute(&mut *c).await?.rows_affected());
            if n == 1 {
                tx.emit_event(
                    tenant,
                    EventKind::SlaNearBreach,
                    json!({ "escalation_id": id, "conversation_id": conversation, "reason": reason,
                            "priority": priority, "claimed": status == "claimed",
                            "due_at": DateTime::from_timestamp(due_at, 0),
                            "overdue": due_at <= now_s }),
                    now,
                )
                .await?;
                flagged += 1;
            }
            tx.commit().await?;
        }
        Ok(flagged)
    }

    /// Open or claimed escalations past their due time, per tenant slug (the SLA breaches a
    /// metrics scrape reports). Every tenant: this is the deployment's own view.
    pub async fn overdue_escalations(&self, now: DateTime<Utc>) -> StoreResult<Vec<(String, i64)>> {
        let rows: Vec<(String, i64)> = with_db!(self, pool => sqlx::query_as(
            "SELECT t.slug, COUNT(e.id) FROM tenants t JOIN escalations e ON e.tenant_id = t.id \
             WHERE e.status IN ('open', 'claimed') AND e.due_at < $1 GROUP BY t.slug ORDER BY t.slug")
            .bind(now.timestamp()).fetch_all(pool).await?);
        Ok(rows)
    }

    /// A page of the queue, most urgent first (priority, then due time), and how many
    /// escalations match in all.
    pub async fn escalation_queue(
        &self,
        tenant: TenantId,
        filter: QueueFilter,
        page: u32,
        per_page: u32,
    ) -> StoreResult<(Vec<QueueItem>, i64)> {
        let (cond, status) = match filter {
            QueueFilter::Unresolved => ("e.status <> $2", EscalationStatus::Resolved.as_str()),
            QueueFilter::Status(s) => ("e.status = $2", s.as_str()),
        };
        let sql = format!(
            "{QUEUE_SELECT} WHERE e.tenant_id = $1 AND {cond} ORDER BY {URGENCY_ORDER} LIMIT $3 OFFSET $4"
        );
        let count_sql =
            format!("SELECT COUNT(*) FROM escalations e WHERE e.tenant_id = $1 AND {cond}");
        let limit = i64::from(per_page);
        let offset = i64::from(page.saturating_sub(1)) * limit;
        let (rows, total): (Vec<QueueRow>, i64) = with_db!(self, pool => {
            let rows = sqlx::query_as(&sql).bind(tenant.0).bind(status).bind(limit).bind(offset)
                .fetch_all(pool).await?;
            let total = sqlx::query_scalar(&count_sql).bind(tenant.0).bind(status)
                .fetch_one(pool).await?;
            (rows, total)
        });
        let items = rows
            .into_iter()
            .map(QueueRow::into_item)
            .collect::<StoreResult<_>>()?;
        Ok((items, total))
    }

    /// One escalation of this tenant, as the queue shows it.
    pub async fn queue_item(&self, tenant: TenantId, id: EscalationId) -> StoreResult<QueueItem> {
        let sql = format!("{QUEUE_SELECT} WHERE e.tenant_id = $1 AND e.id = $2");
        let row: Option<QueueRow> = with_db!(self, pool => sqlx::query_as(&sql).bind(tenant.0).bind(id.0).fetch_optional(pool).await?);
        row.ok_or(StoreError::NotFound)?.into_item()
    }

    /// Claim an open escalation: it becomes `claimed` with this CSR as assignee and the CSR
    /// owns the conversation. Claiming again by the same CSR changes nothing; an escalation
    /// claimed by someone else, or resolved, is a conflict.
    pub async fn claim_escalation(
        &self,
        tenant: TenantId,
        id: EscalationId,
        csr: &Csr,
        now: DateTime<Utc>,
    ) -> StoreResult<QueueItem> {
        let mut tx = self.begin().await?;
        let (conv, e) = tx.lock_escalation(tenant, id).await?;
        check_unresolved_and_held(&e, &conv, csr)?;
        if e.status == EscalationStatus::Open {
            check_not_owned_by_other(&conv, csr)?;
            with_conn!(tx, c => sqlx::query(
                "UPDATE escalations SET status = 'claimed', assignee = $1 WHERE tenant_id = $2 AND id = $3 AND status = 'open'")
                .bind(csr.user.map(|u| u.0)).bind(tenant.0).bind(id.0)
                .execute(&mut *c).await?.rows_affected());
            tx.set_owner(tenant, conv.id, &csr.label, now).await?;
            tx.audit_and_emit(
                tenant,
                &csr_audit(
                    csr,
                    "escalation.claim",
                    "escalation",
                    id,
                    Some(json!({ "status": e.status, "owner": conv.owner })),
                    Some(json!({ "status": "claimed", "owner": csr.label })),
                    None,
                ),
                EventKind::EscalationClaimed,
                json!({ "escalation_id": id, "conversation_id": conv.id, "owner": csr.label }),
                now,
            )
            .await?;
        }
        tx.commit().await?;
        self.queue_item(tenant, id).await
    }

    /// Resolve an escalation. With `hand_back` the conversation goes back to the agent (its
    /// other unresolved escalations are resolved as handed back); without it the
    /// conversation is closed and the customer's next message starts a new one.
    #[allow(clippy::too_many_arguments)]
    pub async fn resolve_escalation(
        &self,
        tenant: TenantId,
        id: EscalationId,
        csr: &Csr,
        resolution: &str,
        outcome: &str,
        hand_back: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<QueueItem> {
        let mut tx = self.begin().await?;
        let (conv, e) = tx.lock_escalation(tenant, id).await?;
        check_unresolved_and_held(&e, &conv, csr)?;
        check_not_owned_by_other(&conv, csr)?;
        with_conn!(tx, c => sqlx::query(
            "UPDATE escalations SET status = 'resolved', resolution = $1, outcome = $2, resolved_at = $3, assignee = COALESCE(assignee, $4) \
             WHERE tenant_id = $5 AND id = $6")
            .bind(resolution).bind(outcome).bind(now.timestamp()).bind(csr.user.map(|u| u.0)).bind(tenant.0).bind(id.0)
            .execute(&mut *c).await?.rows_affected());
        tx.audit_and_emit(
            tenant,
            &csr_audit(
                csr,
                "escalation.resolve",
                "escalation",
                id,
                Some(json!({ "status": e.status, "owner": conv.owner })),
                Some(json!({ "status": "resolved", "outcome": outcome, "hand_back": hand_back })),
                Some(resolution),
            ),
            EventKind::EscalationResolved,
            json!({ "escalation_id": id, "conversation_id": conv.id, "outcome": outcome,
                    "hand_back": hand_back, "actor": csr.label }),
            now,
        )
        .await?;
        if hand_back {
            tx.resolve_all(tenant, conv.id, csr, HANDED_BACK, now)
                .await?;
            tx.set_owner(tenant, conv.id, "agent", now).await?;
            tx.emit_event(
                tenant,
                EventKind::EscalationHandedBack,
                json!({ "conversation_id": conv.id, "owner": "agent", "actor": csr.label }),
                now,
            )
            .await?;
        } else {
            with_conn!(tx, c => sqlx::query(
                "UPDATE conversations SET status = 'closed', owner = $1, updated_at = $2 WHERE tenant_id = $3 AND id = $4")
                .bind(&csr.label).bind(now.timestamp()).bind(tenant.0).bind(conv.id.0)
                .execute(&mut *c).await?.rows_affected());
        }
        tx.commit().await?;
        self.queue_item(tenant, id).await
    }

    /// Give an open conversation back to the agent: its unresolved escalations are resolved
    /// as handed back and the agent answers the next message.
    pub async fn hand_back(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        csr: &Csr,
        now: DateTime<Utc>,
    ) -> StoreResult<HandBack> {
        let mut tx = self.begin().await?;
        let conv = tx.lock_conversation(tenant, conversation).await?;
        tx.check_takeover(tenant, &conv, csr).await?;
        let resolved = tx
            .resolve_all(tenant, conversation, csr, HANDED_BACK, now)
            .await?;
        tx.set_owner(tenant, conversation, "agent", now).await?;
        tx.audit_and_emit(
            tenant,
            &csr_audit(
                csr,
                "conversation.hand_back",
                "conversation",
                conversation,
                Some(json!({ "owner": conv.owner })),
                Some(json!({ "owner": "agent", "resolved": resolved })),
                None,
            ),
            EventKind::EscalationHandedBack,
            json!({ "conversation_id": conversation, "owner": "agent", "resolved": resolved, "actor": csr.label }),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(HandBack {
            conversation: self.conversation(tenant, conversation).await?,
            resolved,
        })
    }

    /// Store a CSR's message to the customer and take the conversation over: the CSR owns it
    /// and its open escalations are claimed. `outbound`, when given, is queued for delivery
    /// in the same transaction.
    pub async fn csr_reply(
        &self,
        tenant: TenantId,
        conversation: ConversationId,
        csr: &Csr,
        text: &str,
        outbound: Option<&NewOutbound>,
        now: DateTime<Utc>,
    ) -> StoreResult<CsrReply> {
        let mut tx = self.begin().await?;
        let conv = tx.lock_conversation(tenant, conversation).await?;
        tx.check_takeover(tenant, &conv, csr).await?;
        let message_id = tx
            .insert_message(
                tenant,
                conversation,
                &NewMessage {
                    direction: Direction::Outbound,
                    author: csr.label.clone(),
                    text: text.to_string(),
                    external_id: None,
                    media: vec![],
                },
                now,
            )
            .await?;
        with_conn!(tx, c => sqlx::query(
            "UPDATE escalations SET customer_waiting_since = NULL WHERE tenant_id = $1 AND conversation_id = $2")
            .bind(tenant.0).bind(conversation.0).execute(&mut *c).await?.rows_affected());
        let claimed: Vec<i64> = with_conn!(tx, c => sqlx::query_scalar(
            "UPDATE escalations SET status = 'claimed', assignee = $1 WHERE tenant_id = $2 AND conversation_id = $3 AND status = 'open' RETURNING id")
            .bind(csr.user.map(|u| u.0)).bind(tenant.0).bind(conversation.0)
            .fetch_all(&mut *c).await?);
        tx.set_owner(tenant, conversation, &csr.label, now).await?;
        let outbound_id = match outbound {
            Some(m) => Some(tx.enqueue_outbound(tenant, m, now).await?),
            None => None,
        };
        tx.audit_and_emit(
            tenant,
            &csr_audit(csr, "conversation.reply", "conversation", conversation,
                Some(json!({ "owner": conv.owner })),
                Some(json!({ "owner": csr.label, "message_id": message_id, "text": text, "claimed": claimed })), None),
            EventKind::MessageOut,
            json!({ "conversation_id": conversation, "message_id": message_id, "author": csr.label,
                    "owner": csr.label, "channel": conv.channel, "text": text }),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(CsrReply {
            message_id,
            outbound_id,
            claimed: claimed.into_iter().map(EscalationId).collect(),
        })
    }
}

/// Refuse to act on a resolved escalation, or on one another CSR has claimed.
fn check_unresolved_and_held(e: &Escalation, conv: &Conversation, csr: &Csr) -> StoreResult<()> {
    match e.status {
        EscalationStatus::Resolved => {
            Err(StoreError::Conflict("this escalation is already resolved"))
        }
        EscalationStatus::Claimed
            if holder(e, &conv.owner).as_deref() != Some(csr.label.as_str()) =>
        {
            Err(StoreError::Conflict(
                "this escalation is claimed by another CSR",
            ))
        }
        _ => Ok(()),
    }
}

/// Refuse when another CSR has taken this conversation over.
fn check_not_owned_by_other(conv: &Conversation, csr: &Csr) -> StoreResult<()> {
    if conv.owner.starts_with("csr:") && conv.owner != csr.label {
        return Err(StoreError::Conflict("another CSR owns this conversation"));
    }
    Ok(())
}

impl Tx {
    /// Lock an escalation's conversation (the same lock a turn takes), then read the
    /// escalation under it.
    async fn lock_escalation(
        &mut self,
        tenant: TenantId,
        id: EscalationId,
    ) -> StoreResult<(Conversation, Escalation)> {
        let conversation: Option<i64> = with_conn!(self, c => sqlx::query_scalar(
            "SELECT conversation_id FROM escalations WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.0).bind(id.0).fetch_optional(&mut *c).await?);
        let conversation = ConversationId(conversation.ok_or(StoreError::NotFound)?);
        let conv = self.lock_conversation(tenant, conversation).await?;
        let sql =
            format!("SELECT {ESCALATION_COLS} FROM escalations WHERE tenant_id = $1 AND id = $2");
        let row: Option<EscalationRow> = with_conn!(self, c => sqlx::query_as(&sql)
            .bind(tenant.0).bind(id.0).fetch_optional(&mut *c).await?);
        Ok((conv, row.ok_or(StoreError::NotFound)?.into_escalation()?))
    }

    /// Refuse to act on a closed conversation, or one another CSR holds (owns it, or has
    /// claimed one of its escalations).
    async fn check_takeover(
        &mut self,
        tenant: TenantId,
        conv: &Conversation,
        csr: &Csr,
    ) -> StoreResult<()> {
        if conv.status != "open" {
            return Err(StoreError::Conflict("this conversation is closed"));
        }
        check_not_owned_by_other(conv, csr)?;
        let sql = format!(
            "SELECT {ESCALATION_COLS} FROM escalations WHERE tenant_id = $1 AND conversation_id = $2 AND status = 'claimed'"
        );
        let rows: Vec<EscalationRow> = with_conn!(self, c => sqlx::query_as(&sql)
            .bind(tenant.0).bind(conv.id.0).fetch_all(&mut *c).await?);
        for row in rows {
            let e = row.into_escalation()?;
            if holder(&e, &conv.owner).as_deref() != Some(csr.label.as_str()) {
                return Err(StoreError::Conflict(
                    "an escalation of this conversation is claimed by another CSR",
                ));
            }
        }
        Ok(())
    }

    /// Resolve every unresolved escalation of a conversation; returns their ids.
    async fn resolve_all(
        &mut self,
        tenant: TenantId,
        conversation: ConversationId,
        csr: &Csr,
        resolution: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<EscalationId>> {
        let ids: Vec<i64> = with_conn!(self, c => sqlx::query_scalar(
            "UPDATE escalations SET status = 'resolved', resolution = $1, resolved_at = $2, assignee = COALESCE(assignee, $3) \
             WHERE tenant_id = $4 AND conversation_id = $5 AND status <> 'resolved' RETURNING id")
            .bind(resolution).bind(now.timestamp()).bind(csr.user.map(|u| u.0)).bind(tenant.0).bind(conversation.0)
            .fetch_all(&mut *c).await?);
        Ok(ids.into_iter().map(EscalationId).collect())
    }

    /// Set who owns an open conversation (`agent`, `queue`, or a CSR label).
    async fn set_owner(
        &mut self,
        tenant: TenantId,
        conversation: ConversationId,
        owner: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        with_conn!(self, c => sqlx::query(
            "UPDATE conversations SET owner = $1, updated_at = $2 WHERE tenant_id = $3 AND id = $4 AND status = 'open'")
            .bind(owner).bind(now.timestamp()).bind(tenant.0).bind(conversation.0)
            .execute(&mut *c).await?.rows_affected());
        Ok(())
    }
}

impl Tx {
    /// The customer wrote while a person owns the conversation: its unresolved escalations
    /// are marked as waiting (since the first unanswered message). Their ids.
    pub async fn mark_customer_waiting(
        &mut self,
        tenant: TenantId,
        conversation: ConversationId,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<EscalationId>> {
        let ids: Vec<i64> = with_conn!(self, c => sqlx::query_scalar(
            "UPDATE escalations SET customer_waiting_since = COALESCE(customer_waiting_since, $1) \
             WHERE tenant_id = $2 AND conversation_id = $3 AND status <> 'resolved' RETURNING id")
            .bind(now.timestamp()).bind(tenant.0).bind(conversation.0)
            .fetch_all(&mut *c).await?);
        Ok(ids.into_iter().map(EscalationId).collect())
    }
}
