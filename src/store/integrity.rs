//! Whole-tenant consistency counts, read from the store after a run under faults
//! (`frontdesk soak`): each is a promise of the turn pipeline, and each must be 0.

use super::{with_db, Store, StoreResult};
use crate::domain::TenantId;

/// Counts of rows that break a promise. All zero on a healthy store once it has settled
/// (no turn running, the outbox drained).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Integrity {
    /// Inbox rows in all (for the report).
    pub inbox_rows: i64,
    /// Inbox rows not yet run.
    pub inbox_pending: i64,
    /// Inbox rows that do not have exactly one inbound message in their conversation (a
    /// message run twice, or accepted and never stored).
    pub inbox_without_one_message: i64,
    /// Runs that finished with a reply that nobody delivered (not inline, not the outbox,
    /// not deliberately withheld).
    pub replies_undelivered: i64,
    /// SMS replies recorded as answered inline whose answer was never confirmed as having
    /// left its process (recovery checks them against Twilio's message list).
    pub replies_unconfirmed: i64,
    /// Runs that finished without a reply while the agent owned the conversation: a
    /// deliberate silence needs an earlier escalation in the same conversation.
    pub unanswered: i64,
    /// Slots whose `booked` differs from the appointments in them that are not cancelled.
    pub slot_mismatches: i64,
    /// Escalations with no acknowledgement: no run in their conversation both escalated and
    /// carried a reply.
    pub escalations_unacknowledged: i64,
    /// Outbox rows still waiting to be sent (queued or uncertain).
    pub outbox_unsent: i64,
    /// Outbox rows that gave up.
    pub outbox_failed: i64,
}

impl Store {
    /// Settled when no inbox row waits, no finished reply waits for delivery, and the outbox
    /// has nothing left to send.
    pub async fn settled(&self, tenant: TenantId) -> StoreResult<bool> {
        let i = self.integrity(tenant).await?;
        Ok(i.inbox_pending == 0
            && i.replies_undelivered == 0
            && i.replies_unconfirmed == 0
            && i.outbox_unsent == 0)
    }

    pub async fn integrity(&self, tenant: TenantId) -> StoreResult<Integrity> {
        const SQL: &str = "SELECT \
            (SELECT COUNT(*) FROM inbox WHERE tenant_id = $1), \
            (SELECT COUNT(*) FROM inbox WHERE tenant_id = $1 AND status <> 'done'), \
            (SELECT COUNT(*) FROM inbox i WHERE i.tenant_id = $1 AND i.status = 'done' AND 1 <> \
                (SELECT COUNT(*) FROM messages m WHERE m.tenant_id = $1 AND m.conversation_id = i.conversation_id \
                 AND m.direction = 'inbound' AND m.external_id = i.external_id)), \
            (SELECT COUNT(*) FROM inbox WHERE tenant_id = $1 AND status = 'done' AND reply IS NOT NULL \
                AND reply <> '' AND delivery IS NULL), \
            (SELECT COUNT(*) FROM inbox i JOIN conversations c ON c.id = i.conversation_id \
                WHERE i.tenant_id = $1 AND i.delivery = 'inline' AND i.delivery_wall IS NOT NULL \
                AND i.reply IS NOT NULL AND c.channel = 'sms'), \
            (SELECT COUNT(*) FROM inbox i WHERE i.tenant_id = $1 AND i.status = 'done' \
                AND (i.reply IS NULL OR i.reply = '') AND NOT EXISTS (SELECT 1 FROM inbox e WHERE e.tenant_id = $1 \
                AND e.conversation_id = i.conversation_id AND e.escalated AND e.id < i.id)), \
            (SELECT COUNT(*) FROM slots s WHERE s.tenant_id = $1 AND s.booked <> (SELECT COUNT(*) FROM appointments a \
                WHERE a.tenant_id = $1 AND a.slot_id = s.id AND a.status <> 'cancelled')), \
            (SELECT COUNT(*) FROM escalations x WHERE x.tenant_id = $1 AND NOT EXISTS (SELECT 1 FROM inbox i \
                WHERE i.tenant_id = $1 AND i.conversation_id = x.conversation_id AND i.escalated \
                AND i.reply IS NOT NULL AND i.reply <> '')), \
            (SELECT COUNT(*) FROM outbox WHERE tenant_id = $1 AND status IN ('queued', 'uncertain')), \
            (SELECT COUNT(*) FROM outbox WHERE tenant_id = $1 AND status = 'failed')";
        let row: (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64) =
            with_db!(self, pool => sqlx::query_as(SQL).bind(tenant.0).fetch_one(pool).await?);
        Ok(Integrity {
            inbox_rows: row.0,
            inbox_pending: row.1,
            inbox_without_one_message: row.2,
            replies_undelivered: row.3,
            replies_unconfirmed: row.4,
            unanswered: row.5,
            slot_mismatches: row.6,
            escalations_unacknowledged: row.7,
            outbox_unsent: row.8,
            outbox_failed: row.9,
        })
    }

    /// Each inbox row's external id (the Twilio `MessageSid`), where its reply went
    /// (`inline`, `outbox`, `withheld` or none) and the reply.
    pub async fn inbox_deliveries(
        &self,
        tenant: TenantId,
    ) -> StoreResult<Vec<(String, Option<String>, Option<String>)>> {
        Ok(with_db!(self, pool => sqlx::query_as(
            "SELECT external_id, delivery, reply FROM inbox WHERE tenant_id = $1 ORDER BY id")
            .bind(tenant.0).fetch_all(pool).await?))
    }

    /// Bodies sent through the outbox (`sent`), per recipient.
    pub async fn outbox_sent(&self, tenant: TenantId) -> StoreResult<Vec<(String, String)>> {
        Ok(with_db!(self, pool => sqlx::query_as(
            "SELECT to_addr, body FROM outbox WHERE tenant_id = $1 AND status NOT IN ('queued', 'uncertain', 'failed', 'blocked') ORDER BY id")
            .bind(tenant.0).fetch_all(pool).await?))
    }
}

/// A database name that needs no quoting: lower-case letters, digits and `_`.
fn plain_name(name: &str) -> StoreResult<&str> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(name)
    } else {
        Err(super::StoreError::Conflict(
            "a scratch database name is lower-case letters, digits and _",
        ))
    }
}

/// Create an empty PostgreSQL database `name` on the server of `admin_url` (a database the
/// user may `CREATE DATABASE` from); returns its URL.
pub async fn create_postgres_database(admin_url: &str, name: &str) -> StoreResult<String> {
    use sqlx::Connection as _;
    let name = plain_name(name)?;
    let mut conn = sqlx::PgConnection::connect(admin_url).await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    let mut url = reqwest::Url::parse(admin_url)
        .map_err(|_| super::StoreError::UnsupportedUrl(admin_url.to_string()))?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

/// Drop a database made by [`create_postgres_database`], disconnecting whoever is left.
pub async fn drop_postgres_database(admin_url: &str, name: &str) -> StoreResult<()> {
    use sqlx::Connection as _;
    let name = plain_name(name)?;
    let mut conn = sqlx::PgConnection::connect(admin_url).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}
