//! The raw records office reports are computed from (`operators::reports`): read as rows in
//! one window, so both engines feed the same arithmetic.

use chrono::{DateTime, Utc};

use super::{with_db, Store, StoreResult};
use crate::domain::TenantId;

/// (escalation id, reason, priority, created_at, due_at, resolved_at, first claim at)
pub type EscalationFacts = (i64, String, String, i64, i64, Option<i64>, Option<i64>);

/// Records of one tenant in `[from, to)`.
#[derive(Debug, Clone, Default)]
pub struct ReportRows {
    /// (conversation id, channel, created_at, has an escalation)
    pub conversations: Vec<(i64, String, i64, bool)>,
    pub escalations: Vec<EscalationFacts>,
    /// Appointments booked by the agent: (created_at, price_cents)
    pub agent_bookings: Vec<(i64, i64)>,
    /// Appointments created in the window, any author: created_at
    pub bookings: Vec<i64>,
    pub agent_reschedules: i64,
    pub csr_reschedules: i64,
    pub portal_reschedules: i64,
    pub opt_outs: i64,
}

impl Store {
    pub async fn report_rows(
        &self,
        tenant: TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<ReportRows> {
        let (f, t, id) = (from.timestamp(), to.timestamp(), tenant.0);
        Ok(with_db!(self, pool => {
            let conversations: Vec<(i64, String, i64, i64)> = sqlx::query_as(
                "SELECT c.id, c.channel, c.created_at, \
                 (SELECT COUNT(*) FROM escalations e WHERE e.tenant_id = c.tenant_id AND e.conversation_id = c.id) \
                 FROM conversations c WHERE c.tenant_id = $1 AND c.created_at >= $2 AND c.created_at < $3 ORDER BY c.id")
                .bind(id).bind(f).bind(t).fetch_all(pool).await?;
            let escalations = sqlx::query_as(
                "SELECT e.id, e.reason, e.priority, e.created_at, e.due_at, e.resolved_at, \
                 (SELECT MIN(a.at) FROM audit_log a WHERE a.tenant_id = e.tenant_id AND a.action = 'escalation.claim' \
                  AND a.target_kind = 'escalation' AND a.target_id = CAST(e.id AS TEXT)) \
                 FROM escalations e WHERE e.tenant_id = $1 AND e.created_at >= $2 AND e.created_at < $3 ORDER BY e.id")
                .bind(id).bind(f).bind(t).fetch_all(pool).await?;
            let calls: Vec<(String, String)> = sqlx::query_as(
                "SELECT tool, result FROM tool_calls WHERE tenant_id = $1 AND at >= $2 AND at < $3 \
                 AND decision = 'allowed' AND tool IN ('book_service', 'reschedule_appointment') ORDER BY id")
                .bind(id).bind(f).bind(t).fetch_all(pool).await?;
            let mut agent_bookings = Vec::new();
            let mut agent_reschedules = 0;
            for (tool, result) in calls {
                let v: serde_json::Value = serde_json::from_str(&result).unwrap_or_default();
                if tool == "reschedule_appointment" {
                    if v["status"] == "rescheduled" {
                        agent_reschedules += 1;
                    }
                    continue;
                }
                let Some(aid) = v["appointment_id"].as_i64().filter(|_| v["status"] == "booked") else { continue };
                let row: Option<(i64, i64)> = sqlx::query_as(
                    "SELECT created_at, price_cents FROM appointments WHERE tenant_id = $1 AND id = $2")
                    .bind(id).bind(aid).fetch_optional(pool).await?;
                agent_bookings.extend(row);
            }
            let bookings: Vec<i64> = sqlx::query_scalar(
                "SELECT created_at FROM appointments WHERE tenant_id = $1 AND created_at >= $2 AND created_at < $3 ORDER BY id")
                .bind(id).bind(f).bind(t).fetch_all(pool).await?;
            let csr_reschedules: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM audit_log WHERE tenant_id = $1 AND action = 'appointment.reschedule' AND at >= $2 AND at < $3")
                .bind(id).bind(f).bind(t).fetch_one(pool).await?;
            let portal_reschedules: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM portal_events WHERE tenant_id = $1 AND kind = 'reschedule_done' AND at >= $2 AND at < $3")
                .bind(id).bind(f).bind(t).fetch_one(pool).await?;
            let opt_outs: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM opt_outs WHERE tenant_id = $1 AND at >= $2 AND at < $3")
                .bind(id).bind(f).bind(t).fetch_one(pool).await?;
            ReportRows {
                conversations: conversations.into_iter().map(|(c, ch, at, n)| (c, ch, at, n > 0)).collect(),
                escalations,
                agent_bookings,
                bookings,
                agent_reschedules,
                csr_reschedules,
                portal_reschedules,
                opt_outs,
            }
        }))
    }
}
