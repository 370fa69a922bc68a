//! Outbound webhooks: a tenant's subscriptions (URL, secret, event kinds), one delivery job
//! per event and subscription, and a log of every attempt. Deliveries are planned from the
//! event table (a cursor per subscription; planning twice is harmless), claimed with a
//! short lease so one instance sends each attempt, and retried with backoff.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use super::{
    changed_some, csr_audit, json_col, parse_col, to_json, ts, with_conn, with_db, with_writer,
    Csr, EventKind, Store, StoreError, StoreResult,
};
use crate::domain::TenantId;

/// Attempts before a delivery is given up as failed.
pub const WEBHOOK_MAX_ATTEMPTS: i64 = 8;

#[derive(Debug, Clone, Serialize)]
pub struct WebhookSubscription {
    pub id: i64,
    pub url: String,
    #[serde(skip)]
    pub secret: String,
    pub kinds: Vec<EventKind>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WebhookAttempt {
    pub at: DateTime<Utc>,
    pub status_code: Option<i64>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WebhookDelivery {
    pub id: i64,
    pub event_id: i64,
    pub kind: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub log: Vec<WebhookAttempt>,
}

/// A delivery claimed for one attempt.
#[derive(Debug, Clone)]
pub struct DueWebhook {
    pub id: i64,
    pub tenant_id: TenantId,
    pub url: String,
    pub secret: String,
    pub body: String,
    pub attempts: i64,
}

type SubRow = (i64, String, String, String, i64);

fn sub_of(r: SubRow) -> StoreResult<WebhookSubscription> {
    let (id, url, secret, kinds, created_at) = r;
    let kinds: Vec<String> = json_col(&kinds, "webhook kinds")?;
    Ok(WebhookSubscription {
        id,
        url,
        secret,
        kinds: kinds
            .iter()
            .map(|k| parse_col::<EventKind>(k, "webhook kind"))
            .collect::<StoreResult<_>>()?,
        created_at: ts(created_at),
    })
}

impl Store {
    /// Subscribe a URL to event kinds; it hears of events from now on. Audited.
    pub async fn create_webhook(
        &self,
        tenant: TenantId,
        csr: &Csr,
        url: &str,
        secret: &str,
        kinds: &[EventKind],
        now: DateTime<Utc>,
    ) -> StoreResult<WebhookSubscription> {
        let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        let mut tx = self.begin().await?;
        let id: i64 = with_conn!(tx, c => {
            let cursor: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM events WHERE tenant_id = $1")
                .bind(tenant.0).fetch_one(&mut *c).await?;
            sqlx::query_scalar(
                "INSERT INTO webhook_subscriptions (tenant_id, url, secret, kinds, event_cursor, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id")
                .bind(tenant.0).bind(url).bind(secret).bind(to_json(&json!(names)))
                .bind(cursor.unwrap_or(0)).bind(now.timestamp())
                .fetch_one(&mut *c).await?
        });
        tx.changed_static(tenant.0).await?;
        tx.audit(
            tenant,
            &csr_audit(
                csr,
                "webhook.create",
                "webhook",
                id,
                None,
                Some(json!({ "url": url, "kinds": names })),
                None,
            ),
            now,
        )
        .await?;
        tx.commit().await?;
        self.webhook(tenant, id).await
    }

    pub async fn webhook(&self, tenant: TenantId, id: i64) -> StoreResult<WebhookSubscription> {
        let row: Option<SubRow> = with_db!(self, pool => sqlx::query_as(
            "SELECT id, url, secret, kinds, created_at FROM webhook_subscriptions \
             WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL")
            .bind(tenant.0).bind(id).fetch_optional(pool).await?);
        sub_of(row.ok_or(StoreError::NotFound)?)
    }

    /// The tenant's live subscriptions, oldest first.
    pub async fn webhooks(&self, tenant: TenantId) -> StoreResult<Vec<WebhookSubscription>> {
        let rows: Vec<SubRow> = with_db!(self, pool => sqlx::query_as(
            "SELECT id, url, secret, kinds, created_at FROM webhook_subscriptions \
             WHERE tenant_id = $1 AND deleted_at IS NULL ORDER BY id")
            .bind(tenant.0).fetch_all(pool).await?);
        rows.into_iter().map(sub_of).collect()
    }

    /// Remove a subscription; its pending deliveries are cancelled. Audited.
    pub async fn delete_webhook(
        &self,
        tenant: TenantId,
        csr: &Csr,
        id: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let before = self.webhook(tenant, id).await?;
        let mut tx = self.begin().await?;
        let n = with_conn!(tx, c => {
            let n = sqlx::query("UPDATE webhook_subscriptions SET deleted_at = $1 WHERE tenant_id = $2 AND id = $3 AND deleted_at IS NULL")
                .bind(now.timestamp()).bind(tenant.0).bind(id).execute(&mut *c).await?.rows_affected();
            sqlx::query("UPDATE webhook_deliveries SET status = 'cancelled' WHERE tenant_id = $1 AND subscription_id = $2 AND status = 'pending'")
                .bind(tenant.0).bind(id).execute(&mut *c).await?;
            n
        });
        changed_some(n)?;
        tx.changed_static(tenant.0).await?;
        tx.audit(
            tenant,
            &csr_audit(
                csr,
                "webhook.delete",
                "webhook",
                id,
                Some(json!({ "url": before.url, "kinds": before.kinds })),
                None,
                None,
            ),
            now,
        )
        .await?;
        tx.commit().await
    }

    /// Whether any tenant has a live subscription (from this process's copy when it has a
    /// current one: `store::cache`). The worker asks after every committed event.
    async fn any_live_webhooks(&self) -> StoreResult<bool> {
        if let Some(any) = self.hub.cache.any_webhooks() {
            return Ok(any);
        }
        let generation = self.hub.cache.begin_read();
        let any: bool = with_db!(self, pool => sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM webhook_subscriptions WHERE deleted_at IS NULL)")
            .fetch_one(pool).await?);
        if let Some(g) = generation {
            self.hub.cache.keep_any_webhooks(g, any);
        }
        Ok(any)
    }

    /// Turn new events into delivery jobs for every live subscription that wants them.
    /// Returns how many jobs were added.
    pub async fn plan_webhook_deliveries(&self, wall_now: i64) -> StoreResult<usize> {
        if !self.any_live_webhooks().await? {
            return Ok(0);
        }
        type Row = (i64, i64, String, i64);
        let subs: Vec<Row> = with_db!(self, pool => sqlx::query_as(
            "SELECT id, tenant_id, kinds, event_cursor FROM webhook_subscriptions WHERE deleted_at IS NULL ORDER BY id")
            .fetch_all(pool).await?);
        let mut added = 0;
        for (id, tenant, kinds, cursor) in subs {
            let kinds: Vec<String> = json_col(&kinds, "webhook kinds")?;
            let events = self.events_after(TenantId(tenant), cursor, 200).await?;
            let Some(last) = events.last().map(|e| e.id) else {
                continue;
            };
            let mut tx = self.begin().await?;
            for e in events
                .iter()
                .filter(|e| kinds.iter().any(|k| k == e.kind.as_str()))
            {
                let body = json!({ "id": e.id, "kind": e.kind, "at": e.at, "payload": e.payload });
                added += with_conn!(tx, c => sqlx::query(
                    "INSERT INTO webhook_deliveries (tenant_id, subscription_id, event_id, kind, body, status, attempts, next_attempt_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6) ON CONFLICT (subscription_id, event_id) DO NOTHING")
                    .bind(tenant).bind(id).bind(e.id).bind(e.kind.as_str()).bind(body.to_string()).bind(wall_now)
                    .execute(&mut *c).await?.rows_affected()) as usize;
            }
            with_conn!(tx, c => sqlx::query(
                "UPDATE webhook_subscriptions SET event_cursor = $1 WHERE id = $2 AND event_cursor < $1")
                .bind(last).bind(id).execute(&mut *c).await?.rows_affected());
            tx.commit().await?;
        }
        Ok(added)
    }

    /// Claim deliveries that are due, each for `lease` seconds (another instance skips them).
    pub async fn claim_due_webhooks(
        &self,
        wall_now: i64,
        limit: i64,
        lease: i64,
    ) -> StoreResult<Vec<DueWebhook>> {
        // Deliveries of deleted subscriptions are never claimed: without a live one, none.
        if !self.any_live_webhooks().await? {
            return Ok(Vec::new());
        }
        type Row = (i64, i64, String, String, String, i64, i64);
        let rows: Vec<Row> = with_db!(self, pool => sqlx::query_as(
            "SELECT d.id, d.tenant_id, s.url, s.secret, d.body, d.attempts, d.next_attempt_at \
             FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id \
             WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND s.deleted_at IS NULL \
             ORDER BY d.next_attempt_at, d.id LIMIT $2")
            .bind(wall_now).bind(limit).fetch_all(pool).await?);
        let mut out = Vec::new();
        for (id, tenant, url, secret, body, attempts, due) in rows {
            let claimed = with_writer!(self, pool => sqlx::query(
                "UPDATE webhook_deliveries SET next_attempt_at = $1 WHERE id = $2 AND status = 'pending' AND next_attempt_at = $3")
                .bind(wall_now + lease).bind(id).bind(due).execute(pool).await?.rows_affected());
            if claimed == 1 {
                out.push(DueWebhook {
                    id,
                    tenant_id: TenantId(tenant),
                    url,
                    secret,
                    body,
                    attempts,
                });
            }
        }
        Ok(out)
    }

    /// Log one attempt: delivered, retried at `retry_at`, or failed for good when `retry_at`
    /// is `None`.
    pub async fn record_webhook_attempt(
        &self,
        d: &DueWebhook,
        delivered: bool,
        status_code: Option<u16>,
        error: Option<&str>,
        retry_at: Option<i64>,
        wall_now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        with_conn!(tx, c => {
            sqlx::query(
                "INSERT INTO webhook_attempts (tenant_id, delivery_id, at, status_code, error) VALUES ($1, $2, $3, $4, $5)")
                .bind(d.tenant_id.0).bind(d.id).bind(wall_now).bind(status_code.map(i64::from)).bind(error)
                .execute(&mut *c).await?;
            let (status, next) = match (delivered, retry_at) {
                (true, _) => ("delivered", wall_now),
                (false, Some(at)) => ("pending", at),
                (false, None) => ("failed", wall_now),
            };
            sqlx::query(
                "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, next_attempt_at = $2, \
                 delivered_at = CASE WHEN $1 = 'delivered' THEN $3 ELSE delivered_at END WHERE id = $4")
                .bind(status).bind(next).bind(wall_now).bind(d.id)
                .execute(&mut *c).await?.rows_affected()
        });
        tx.commit().await
    }

    /// A subscription's deliveries, newest first, each with its attempts.
    pub async fn webhook_deliveries(
        &self,
        tenant: TenantId,
        subscription: i64,
        limit: i64,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        type Row = (i64, i64, String, String, i64, i64, Option<i64>);
        let rows: Vec<Row> = with_db!(self, pool => sqlx::query_as(
            "SELECT id, event_id, kind, status, attempts, next_attempt_at, delivered_at FROM webhook_deliveries \
             WHERE tenant_id = $1 AND subscription_id = $2 ORDER BY id DESC LIMIT $3")
            .bind(tenant.0).bind(subscription).bind(limit).fetch_all(pool).await?);
        let mut out = Vec::new();
        for (id, event_id, kind, status, attempts, next, delivered) in rows {
            let log: Vec<(i64, Option<i64>, Option<String>)> = with_db!(self, pool => sqlx::query_as(
                "SELECT at, status_code, error FROM webhook_attempts WHERE tenant_id = $1 AND delivery_id = $2 ORDER BY id")
                .bind(tenant.0).bind(id).fetch_all(pool).await?);
            out.push(WebhookDelivery {
                id,
                event_id,
                kind,
                status,
                attempts,
                next_attempt_at: ts(next),
                delivered_at: delivered.map(ts),
                log: log
                    .into_iter()
                    .map(|(at, status_code, error)| WebhookAttempt {
                        at: ts(at),
                        status_code,
                        error,
                    })
                    .collect(),
            });
        }
        Ok(out)
    }
}
