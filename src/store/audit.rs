//! The audit log: every operator action with who, when, target and the state before and
//! after. Append-only: there is no update or delete path here, and the database refuses
//! both (triggers on each engine).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::{in_tx, json_col, to_json, ts, with_conn, with_db, EventKind, Store, StoreResult, Tx};
use crate::domain::TenantId;

/// One entry to append.
#[derive(Debug, Clone, Default)]
pub struct NewAudit {
    /// `user:<id>`, `token:<role>` or `anonymous`.
    pub actor: String,
    pub actor_role: String,
    /// Dotted action name, e.g. `appointment.reschedule`.
    pub action: String,
    pub target_kind: String,
    pub target_id: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub actor_role: String,
    pub action: String,
    pub target_kind: String,
    pub target_id: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub note: Option<String>,
}

/// Which entries to list; every field narrows.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    /// Exact action, or a prefix ending in `.` (`appointment.`).
    pub action: Option<String>,
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Only entries with a smaller id (paging backwards, newest first).
    pub before_id: Option<i64>,
    pub limit: i64,
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: i64,
    at: i64,
    actor: String,
    actor_role: String,
    action: String,
    target_kind: String,
    target_id: Option<String>,
    before_state: Option<String>,
    after_state: Option<String>,
    note: Option<String>,
}

impl Tx {
    /// Append one entry in this transaction.
    pub async fn audit(
        &mut self,
        tenant: TenantId,
        e: &NewAudit,
        now: DateTime<Utc>,
    ) -> StoreResult<i64> {
        let id: i64 = with_conn!(self, c => sqlx::query_scalar(
            "INSERT INTO audit_log (tenant_id, at, actor, actor_role, action, target_kind, target_id, before_state, after_state, note) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id")
            .bind(tenant.0).bind(now.timestamp()).bind(&e.actor).bind(&e.actor_role).bind(&e.action)
            .bind(&e.target_kind).bind(&e.target_id)
            .bind(e.before.as_ref().map(to_json)).bind(e.after.as_ref().map(to_json)).bind(&e.note)
            .fetch_one(&mut *c).await?);
        Ok(id)
    }

    /// Append an operator action's entry and emit its live event, in this transaction.
    pub(crate) async fn audit_and_emit(
        &mut self,
        tenant: TenantId,
        e: &NewAudit,
        kind: EventKind,
        payload: Value,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.audit(tenant, e, now).await?;
        self.emit_event(tenant, kind, payload, now).await?;
        Ok(())
    }
}

impl Store {
    /// Append one entry on its own.
    pub async fn audit(
        &self,
        tenant: TenantId,
        e: &NewAudit,
        now: DateTime<Utc>,
    ) -> StoreResult<i64> {
        in_tx!(self, tx => tx.audit(tenant, e, now))
    }

    /// Entries of a tenant, newest first.
    pub async fn audit_entries(
        &self,
        tenant: TenantId,
        f: &AuditFilter,
    ) -> StoreResult<Vec<AuditEntry>> {
        let mut sql = String::from(
            "SELECT id, at, actor, actor_role, action, target_kind, target_id, before_state, after_state, note \
             FROM audit_log WHERE tenant_id = $1",
        );
        let mut texts: Vec<String> = Vec::new();
        let mut ints: Vec<i64> = Vec::new();
        let mut n = 1;
        let mut text_cond = |sql: &mut String, cond: &str, v: String| {
            n += 1;
            sql.push_str(&format!(" AND {cond} ${n}"));
            texts.push(v);
        };
        if let Some(a) = &f.actor {
            text_cond(&mut sql, "actor =", a.clone());
        }
        if let Some(a) = &f.action {
            if a.ends_with('.') {
                let cond = format!("substr(action, 1, {}) =", a.chars().count());
                text_cond(&mut sql, &cond, a.clone());
            } else {
                text_cond(&mut sql, "action =", a.clone());
            }
        }
        if let Some(k) = &f.target_kind {
            text_cond(&mut sql, "target_kind =", k.clone());
        }
        if let Some(t) = &f.target_id {
            text_cond(&mut sql, "target_id =", t.clone());
        }
        let mut int_cond = |sql: &mut String, cond: &str, v: i64| {
            n += 1;
            sql.push_str(&format!(" AND {cond} ${n}"));
            ints.push(v);
        };
        if let Some(from) = f.from {
            int_cond(&mut sql, "at >=", from.timestamp());
        }
        if let Some(to) = f.to {
            int_cond(&mut sql, "at <", to.timestamp());
        }
        if let Some(b) = f.before_id {
            int_cond(&mut sql, "id <", b);
        }
        n += 1;
        sql.push_str(&format!(" ORDER BY id DESC LIMIT ${n}"));
        let limit = f.limit.clamp(1, 1000);
        let rows: Vec<AuditRow> = with_db!(self, pool => {
            let mut q = sqlx::query_as(&sql).bind(tenant.0);
            for t in &texts {
                q = q.bind(t);
            }
            for i in &ints {
                q = q.bind(*i);
            }
            q.bind(limit).fetch_all(pool).await?
        });
        rows.into_iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.id,
                    at: ts(r.at),
                    actor: r.actor,
                    actor_role: r.actor_role,
                    action: r.action,
                    target_kind: r.target_kind,
                    target_id: r.target_id,
                    before: r
                        .before_state
                        .as_deref()
                        .map(|s| json_col(s, "audit before"))
                        .transpose()?,
                    after: r
                        .after_state
                        .as_deref()
                        .map(|s| json_col(s, "audit after"))
                        .transpose()?,
                    note: r.note,
                })
            })
            .collect()
    }
}
