//! What a CSR does to the record: move, cancel or book a visit, and write a note. Each is
//! one transaction that keeps the capacity invariant (through the slot primitives of
//! `schedule`), appends its audit entry with the state before and after, and emits its live
//! event — all or nothing.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use super::{
    changed_some, with_conn, with_db, Csr, EventKind, NewAppointment, NewAudit, Slot, SlotRow,
    Store, StoreError, StoreResult, Tx, SLOT_COLS,
};
use crate::domain::{AppointmentId, CustomerId, SlotId, TenantId, ZoneId};

#[derive(Debug, Clone, Serialize)]
pub struct CustomerNote {
    pub id: i64,
    pub customer_id: CustomerId,
    pub author: String,
    pub text: String,
    pub at: DateTime<Utc>,
}

/// The audit entry of a CSR action.
pub fn csr_audit(
    csr: &Csr,
    action: &str,
    target_kind: &str,
    target_id: impl ToString,
    before: Option<Value>,
    after: Option<Value>,
    note: Option<&str>,
) -> NewAudit {
    NewAudit {
        actor: csr.label.clone(),
        actor_role: csr.role.to_string(),
        action: action.into(),
        target_kind: target_kind.into(),
        target_id: Some(target_id.to_string()),
        before,
        after,
        note: note.map(str::to_string),
    }
}

/// customer, slot, window start and end, status, reschedule count, last rescheduled by
type AppointmentStateRow = (i64, i64, i64, i64, String, i64, Option<String>);

impl Tx {
    /// The scheduling state of an appointment, locking its row on PostgreSQL.
    async fn appointment_state(
        &mut self,
        tenant: TenantId,
        id: AppointmentId,
    ) -> StoreResult<(Value, CustomerId)> {
        let sql = format!(
            "SELECT customer_id, slot_id, window_start, window_end, status, reschedule_count, last_rescheduled_by \
             FROM appointments WHERE tenant_id = $1 AND id = $2{}",
            self.for_update()
        );
        let row: Option<AppointmentStateRow> = with_conn!(self, c => sqlx::query_as(&sql)
            .bind(tenant.0).bind(id.0).fetch_optional(&mut *c).await?);
        let (customer, slot, start, end, status, count, by) = row.ok_or(StoreError::NotFound)?;
        Ok((
            json!({
                "slot_id": slot,
                "window_start": super::ts(start),
                "window_end": super::ts(end),
                "status": status,
                "reschedule_count": count,
                "last_rescheduled_by": by,
            }),
            CustomerId(customer),
        ))
    }
}

impl Store {
    /// Move a visit to another window for a CSR (no agent policy limits; the reason is kept).
    pub async fn operator_reschedule(
        &self,
        tenant: TenantId,
        csr: &Csr,
        id: AppointmentId,
        slot: SlotId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let (before, customer) = tx.appointment_state(tenant, id).await?;
        tx.reschedule_appointment(tenant, id, slot, "csr", now)
            .await?;
        let (after, _) = tx.appointment_state(tenant, id).await?;
        tx.audit_and_emit(
            tenant,
            &csr_audit(
                csr,
                "appointment.reschedule",
                "appointment",
                id,
                Some(before.clone()),
                Some(after.clone()),
                Some(reason),
            ),
            EventKind::AppointmentMoved,
            json!({ "appointment_id": id, "customer_id": customer, "by": "csr", "actor": csr.label,
                    "from": before, "to": after, "reason": reason }),
            now,
        )
        .await?;
        tx.commit().await
    }

    /// Cancel a visit for a CSR and give its stop back.
    pub async fn operator_cancel(
        &self,
        tenant: TenantId,
        csr: &Csr,
        id: AppointmentId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let (before, customer) = tx.appointment_state(tenant, id).await?;
        tx.cancel_appointment(tenant, id, now).await?;
        let (after, _) = tx.appointment_state(tenant, id).await?;
        tx.audit_and_emit(
            tenant,
            &csr_audit(
                csr,
                "appointment.cancel",
                "appointment",
                id,
                Some(before),
                Some(after),
                Some(reason),
            ),
            EventKind::AppointmentCancelled,
            json!({ "appointment_id": id, "customer_id": customer, "by": "csr", "actor": csr.label, "reason": reason }),
            now,
        )
        .await?;
        tx.commit().await
    }

    /// Book a visit for a CSR.
    pub async fn operator_book(
        &self,
        tenant: TenantId,
        csr: &Csr,
        a: &NewAppointment,
        now: DateTime<Utc>,
    ) -> StoreResult<AppointmentId> {
        let mut tx = self.begin().await?;
        let id = tx.book_appointment(tenant, a, now).await?;
        let (after, _) = tx.appointment_state(tenant, id).await?;
        tx.audit_and_emit(
            tenant,
            &csr_audit(
                csr,
                "appointment.book",
                "appointment",
                id,
                None,
                Some(after.clone()),
                None,
            ),
            EventKind::AppointmentCreated,
            json!({ "appointment_id": id, "customer_id": a.customer_id, "by": "csr", "actor": csr.label,
                    "price_cents": a.price_cents, "to": after }),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Add a note to a customer's record.
    pub async fn add_customer_note(
        &self,
        tenant: TenantId,
        csr: &Csr,
        customer: CustomerId,
        text: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<CustomerNote> {
        let mut tx = self.begin().await?;
        let exists: Option<i64> = with_conn!(tx, c => sqlx::query_scalar(
            "SELECT id FROM customers WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.0).bind(customer.0).fetch_optional(&mut *c).await?);
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        let id: i64 = with_conn!(tx, c => sqlx::query_scalar(
            "INSERT INTO customer_notes (tenant_id, customer_id, author, text, at) VALUES ($1, $2, $3, $4, $5) RETURNING id")
            .bind(tenant.0).bind(customer.0).bind(&csr.label).bind(text).bind(now.timestamp())
            .fetch_one(&mut *c).await?);
        tx.audit_and_emit(
            tenant,
            &csr_audit(
                csr,
                "customer.note",
                "customer",
                customer,
                None,
                Some(json!({ "note_id": id, "text": text })),
                None,
            ),
            EventKind::CustomerNoteAdded,
            json!({ "customer_id": customer, "note_id": id, "actor": csr.label }),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(CustomerNote {
            id,
            customer_id: customer,
            author: csr.label.clone(),
            text: text.to_string(),
            at: super::ts(now.timestamp()),
        })
    }

    /// A customer's notes, newest first.
    pub async fn customer_notes(
        &self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> StoreResult<Vec<CustomerNote>> {
        let rows: Vec<(i64, String, String, i64)> = with_db!(self, pool => sqlx::query_as(
            "SELECT id, author, text, at FROM customer_notes WHERE tenant_id = $1 AND customer_id = $2 ORDER BY id DESC")
            .bind(tenant.0).bind(customer.0).fetch_all(pool).await?);
        Ok(rows
            .into_iter()
            .map(|(id, author, text, at)| CustomerNote {
                id,
                customer_id: customer,
                author,
                text,
                at: super::ts(at),
            })
            .collect())
    }

    /// Windows starting in `[from, to)` (of one zone, or all), earliest first, full ones
    /// included (the picker shows them greyed out).
    pub async fn zone_slots_between(
        &self,
        tenant: TenantId,
        zone: Option<ZoneId>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<Slot>> {
        let sql = format!(
            "SELECT {SLOT_COLS} FROM slots \
             WHERE tenant_id = $1 AND ($2 = 0 OR zone_id = $2) AND starts_at >= $3 AND starts_at < $4 \
             ORDER BY starts_at, zone_id, id LIMIT $5"
        );
        let rows: Vec<SlotRow> = with_db!(self, pool => sqlx::query_as(&sql)
            .bind(tenant.0).bind(zone.map_or(0, |z| z.0)).bind(from.timestamp()).bind(to.timestamp()).bind(limit)
            .fetch_all(pool).await?);
        Ok(rows.into_iter().map(Slot::from).collect())
    }

    /// A zone of this tenant by its code.
    pub async fn zone_by_code(&self, tenant: TenantId, code: &str) -> StoreResult<ZoneId> {
        let id: Option<i64> = with_db!(self, pool => sqlx::query_scalar(
            "SELECT id FROM zones WHERE tenant_id = $1 AND code = $2")
            .bind(tenant.0).bind(code).fetch_optional(pool).await?);
        id.map(ZoneId).ok_or(StoreError::NotFound)
    }
}

impl Store {
    /// Replace a tenant's policy, business hours and on-call number, audited with before and
    /// after, in one transaction. Every instance drops its copy of the tenant when this
    /// commits (`store::cache`: here at once, elsewhere by `NOTIFY`), so their next turns run
    /// under the new settings.
    #[allow(clippy::too_many_arguments)]
    pub async fn update_tenant_settings(
        &self,
        tenant: TenantId,
        csr: &Csr,
        policy: &crate::domain::Policy,
        hours: &crate::domain::BusinessHours,
        on_call: Option<&str>,
        before: Value,
        after: Value,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        changed_some(with_conn!(tx, c => sqlx::query(
            "UPDATE tenants SET policy = $1, business_hours = $2, on_call_number = $3 WHERE id = $4")
            .bind(super::to_json(policy)).bind(super::to_json(hours)).bind(on_call).bind(tenant.0)
            .execute(&mut *c).await?.rows_affected()))?;
        tx.changed_static(tenant.0).await?;
        tx.audit_and_emit(
            tenant,
            &csr_audit(
                csr,
                "tenant.settings",
                "tenant",
                tenant,
                Some(before),
                Some(after),
                None,
            ),
            EventKind::PolicyChanged,
            json!({ "actor": csr.label }),
            now,
        )
        .await?;
        tx.commit().await
    }
}
