//! The catalog, technicians, service windows (slots) with their capacity, and appointments.
//! Capacity is enforced here: a stop is taken with one conditional UPDATE, so racing writers
//! on either engine can never overbook a window.
//!
//! Invariant after every path (book, reschedule, cancel): a slot's `booked` equals the
//! appointments in it that are not cancelled. Only cancelling gives a stop back (a visit
//! under way or done still used its stop), and every `Tx` method here either makes all of
//! its changes or returns an error having made none — a turn commits after a tool's refusal,
//! so a half-done change would be committed with it.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{
    in_tx, json_col, parse_col, to_json, ts, with_conn, with_db, with_tx, with_writer, Store,
    StoreError, StoreResult, Tx,
};
use crate::domain::{
    AppointmentId, AppointmentStatus, Cents, CustomerId, PricingRule, PropertyId, ServiceId,
    SlotId, TechnicianId, TenantId, ZoneId,
};

#[derive(Debug, Clone, Serialize)]
pub struct Service {
    pub id: ServiceId,
    pub code: String,
    pub name: String,
    pub description: String,
    pub pests: Vec<String>,
    pub duration_minutes: i64,
    pub pricing: PricingRule,
    pub recurring_interval_days: Option<i64>,
    pub agent_bookable: bool,
}

#[derive(Debug, Clone)]
pub struct NewService {
    pub code: String,
    pub name: String,
    pub description: String,
    pub pests: Vec<String>,
    pub duration_minutes: i64,
    pub pricing: PricingRule,
    pub recurring_interval_days: Option<i64>,
    pub agent_bookable: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Technician {
    pub id: TechnicianId,
    pub name: String,
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Slot {
    pub id: SlotId,
    pub zone_id: ZoneId,
    pub technician_id: TechnicianId,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub capacity: i64,
    pub booked: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Appointment {
    pub id: AppointmentId,
    pub customer_id: CustomerId,
    pub property_id: PropertyId,
    pub service_id: ServiceId,
    pub service: String,
    pub slot_id: SlotId,
    pub technician_id: TechnicianId,
    pub technician: String,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub original_window_start: DateTime<Utc>,
    pub status: AppointmentStatus,
    pub price_cents: Cents,
    pub reschedule_count: i64,
    pub last_rescheduled_by: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewAppointment {
    pub customer_id: CustomerId,
    pub property_id: PropertyId,
    pub service_id: ServiceId,
    pub slot_id: SlotId,
    pub status: AppointmentStatus,
    pub price_cents: Cents,
}

#[derive(sqlx::FromRow)]
struct ServiceRow {
    id: i64,
    code: String,
    name: String,
    description: String,
    pests: String,
    duration_minutes: i64,
    pricing: String,
    recurring_interval_days: Option<i64>,
    agent_bookable: bool,
}

#[derive(sqlx::FromRow)]
pub(super) struct SlotRow {
    id: i64,
    zone_id: i64,
    technician_id: i64,
    starts_at: i64,
    ends_at: i64,
    capacity: i64,
    booked: i64,
}

impl From<SlotRow> for Slot {
    fn from(r: SlotRow) -> Self {
        Slot {
            id: SlotId(r.id),
            zone_id: ZoneId(r.zone_id),
            technician_id: TechnicianId(r.technician_id),
            starts_at: ts(r.starts_at),
            ends_at: ts(r.ends_at),
            capacity: r.capacity,
            booked: r.booked,
        }
    }
}

#[derive(sqlx::FromRow)]
struct AppointmentRow {
    id: i64,
    customer_id: i64,
    property_id: i64,
    service_id: i64,
    service: String,
    slot_id: i64,
    technician_id: i64,
    technician: String,
    window_start: i64,
    window_end: i64,
    original_window_start: i64,
    status: String,
    price_cents: i64,
    reschedule_count: i64,
    last_rescheduled_by: Option<String>,
}

impl AppointmentRow {
    fn into_appointment(self) -> StoreResult<Appointment> {
        Ok(Appointment {
            id: AppointmentId(self.id),
            customer_id: CustomerId(self.customer_id),
            property_id: PropertyId(self.property_id),
            service_id: ServiceId(self.service_id),
            service: self.service,
            slot_id: SlotId(self.slot_id),
            technician_id: TechnicianId(self.technician_id),
            technician: self.technician,
            window_start: ts(self.window_start),
            window_end: ts(self.window_end),
            original_window_start: ts(self.original_window_start),
            status: parse_col(&self.status, "appointment status")?,
            price_cents: Cents(self.price_cents),
            reschedule_count: self.reschedule_count,
            last_rescheduled_by: self.last_rescheduled_by,
        })
    }
}

const APPOINTMENT_SELECT: &str = "SELECT a.id, a.customer_id, a.property_id, a.service_id, s.name AS service, a.slot_id, \
     a.technician_id, t.name AS technician, a.window_start, a.window_end, a.original_window_start, a.status, a.price_cents, \
     a.reschedule_count, a.last_rescheduled_by \
     FROM appointments a JOIN services s ON s.id = a.service_id JOIN technicians t ON t.id = a.technician_id";

pub(super) const SLOT_COLS: &str =
    "id, zone_id, technician_id, starts_at, ends_at, capacity, booked";

/// Take one stop of a slot inside a transaction; `WindowFull` if none is left.
macro_rules! take_stop {
    ($tx:expr, $tenant:expr, $slot:expr) => {{
        let row: Option<(i64, i64, i64)> = sqlx::query_as(
            "UPDATE slots SET booked = booked + 1 WHERE tenant_id = $1 AND id = $2 AND booked < capacity \
             RETURNING technician_id, starts_at, ends_at",
        )
        .bind($tenant)
        .bind($slot)
        .fetch_optional(&mut *$tx)
        .await?;
        match row {
            Some(r) => r,
            None => {
                let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM slots WHERE tenant_id = $1 AND id = $2")
                    .bind($tenant)
                    .bind($slot)
                    .fetch_optional(&mut *$tx)
                    .await?;
                return Err(if exists.is_some() { StoreError::WindowFull } else { StoreError::NotFound });
            }
        }
    }};
}

/// Give one stop of a slot back inside a transaction.
macro_rules! free_stop {
    ($tx:expr, $tenant:expr, $slot:expr) => {
        sqlx::query(
            "UPDATE slots SET booked = booked - 1 WHERE tenant_id = $1 AND id = $2 AND booked > 0",
        )
        .bind($tenant)
        .bind($slot)
        .execute(&mut *$tx)
        .await?
    };
}

impl Store {
    pub async fn insert_service(&self, tenant: TenantId, s: &NewService) -> StoreResult<ServiceId> {
        let mut tx = self.begin().await?;
        let id: i64 = with_conn!(tx, c => sqlx::query_scalar(
            "INSERT INTO services (tenant_id, code, name, description, pests, duration_minutes, pricing, recurring_interval_days, agent_bookable) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id")
            .bind(tenant.0).bind(&s.code).bind(&s.name).bind(&s.description).bind(to_json(&s.pests))
            .bind(s.duration_minutes).bind(to_json(&s.pricing)).bind(s.recurring_interval_days).bind(s.agent_bookable)
            .fetch_one(&mut *c)
            .await
            .map_err(|e| StoreError::on_unique(e, "service code already exists"))?);
        tx.changed_static(tenant.0).await?;
        tx.commit().await?;
        Ok(ServiceId(id))
    }

    /// A tenant's catalog (from this process's copy when it has a current one:
    /// `store::cache`).
    pub async fn services(&self, tenant: TenantId) -> StoreResult<Vec<Service>> {
        if let Some(s) = self.hub.cache.services(tenant.0) {
            return Ok(Vec::clone(&s));
        }
        let generation = self.hub.cache.begin_read();
        let services = self.services_from_db(tenant).await?;
        if let Some(g) = generation {
            self.hub
                .cache
                .keep_services(g, tenant.0, std::sync::Arc::new(services.clone()));
        }
        Ok(services)
    }

    async fn services_from_db(&self, tenant: TenantId) -> StoreResult<Vec<Service>> {
        let rows: Vec<ServiceRow> = with_db!(self, pool => sqlx::query_as(
            "SELECT id, code, name, description, pests, duration_minutes, pricing, recurring_interval_days, agent_bookable \
             FROM services WHERE tenant_id = $1 ORDER BY code")
            .bind(tenant.0)
            .fetch_all(pool)
            .await?);
        rows.into_iter()
            .map(|r| {
                Ok(Service {
                    id: ServiceId(r.id),
                    pests: json_col(&r.pests, "service pests")?,
                    pricing: json_col(&r.pricing, "service pricing")?,
                    code: r.code,
                    name: r.name,
                    description: r.description,
                    duration_minutes: r.duration_minutes,
                    recurring_interval_days: r.recurring_interval_days,
                    agent_bookable: r.agent_bookable,
                })
            })
            .collect()
    }

    pub async fn insert_technician(
        &self,
        tenant: TenantId,
        name: &str,
        phone: Option<&str>,
        zone_days: &[(ZoneId, u32)],
    ) -> StoreResult<TechnicianId> {
        let id: i64 = with_tx!(self, tx => {
            let id: i64 = sqlx::query_scalar("INSERT INTO technicians (tenant_id, name, phone) VALUES ($1, $2, $3) RETURNING id")
                .bind(tenant.0).bind(name).bind(phone).fetch_one(&mut *tx).await?;
            for (zone, weekday) in zone_days {
                sqlx::query("INSERT INTO technician_zone_days (tenant_id, technician_id, zone_id, weekday) VALUES ($1, $2, $3, $4)")
                    .bind(tenant.0).bind(id).bind(zone.0).bind(i64::from(*weekday)).execute(&mut *tx).await?;
            }
            id
        });
        Ok(TechnicianId(id))
    }

    pub async fn technicians(&self, tenant: TenantId) -> StoreResult<Vec<Technician>> {
        let rows: Vec<(i64, String, Option<String>)> = with_db!(self, pool => sqlx::query_as(
            "SELECT id, name, phone FROM technicians WHERE tenant_id = $1 ORDER BY id")
            .bind(tenant.0).fetch_all(pool).await?);
        Ok(rows
            .into_iter()
            .map(|(id, name, phone)| Technician {
                id: TechnicianId(id),
                name,
                phone,
            })
            .collect())
    }

    /// Which technician works a zone on a weekday (0 = Monday), if any.
    pub async fn technician_for(
        &self,
        tenant: TenantId,
        zone: ZoneId,
        weekday: u32,
    ) -> StoreResult<Option<TechnicianId>> {
        let id: Option<i64> = with_db!(self, pool => sqlx::query_scalar(
            "SELECT technician_id FROM technician_zone_days WHERE tenant_id = $1 AND zone_id = $2 AND weekday = $3 ORDER BY technician_id LIMIT 1")
            .bind(tenant.0).bind(zone.0).bind(i64::from(weekday)).fetch_optional(pool).await?);
        Ok(id.map(TechnicianId))
    }

    pub async fn insert_slot(
        &self,
        tenant: TenantId,
        zone: ZoneId,
        tech: TechnicianId,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        capacity: i64,
    ) -> StoreResult<SlotId> {
        let id: i64 = with_writer!(self, pool => sqlx::query_scalar(
            "INSERT INTO slots (tenant_id, zone_id, technician_id, starts_at, ends_at, capacity) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id")
            .bind(tenant.0).bind(zone.0).bind(tech.0).bind(starts_at.timestamp()).bind(ends_at.timestamp()).bind(capacity)
            .fetch_one(pool)
            .await
            .map_err(|e| StoreError::on_unique(e, "a window already starts then in this zone"))?);
        Ok(SlotId(id))
    }

    pub async fn slot(&self, tenant: TenantId, id: SlotId) -> StoreResult<Slot> {
        let sql = format!("SELECT {SLOT_COLS} FROM slots WHERE tenant_id = $1 AND id = $2");
        let row: Option<SlotRow> = with_db!(self, pool => sqlx::query_as(&sql).bind(tenant.0).bind(id.0).fetch_optional(pool).await?);
        Ok(row.ok_or(StoreError::NotFound)?.into())
    }

    /// Windows of a zone starting in `[from, to)`, with stops left, earliest first.
    pub async fn open_slots(
        &self,
        tenant: TenantId,
        zone: ZoneId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<Slot>> {
        let sql = format!(
            "SELECT {SLOT_COLS} FROM slots WHERE tenant_id = $1 AND zone_id = $2 AND starts_at >= $3 AND starts_at < $4 \
             AND booked < capacity ORDER BY starts_at LIMIT $5"
        );
        let rows: Vec<SlotRow> = with_db!(self, pool => sqlx::query_as(&sql)
            .bind(tenant.0).bind(zone.0).bind(from.timestamp()).bind(to.timestamp()).bind(limit)
            .fetch_all(pool).await?);
        Ok(rows.into_iter().map(Slot::from).collect())
    }

    /// Book a visit: take a stop of the slot and create the appointment, atomically.
    pub async fn book_appointment(
        &self,
        tenant: TenantId,
        a: &NewAppointment,
        now: DateTime<Utc>,
    ) -> StoreResult<AppointmentId> {
        in_tx!(self, tx => tx.book_appointment(tenant, a, now))
    }

    /// Move an appointment to another slot; see [`Tx::reschedule_appointment`].
    pub async fn reschedule_appointment(
        &self,
        tenant: TenantId,
        id: AppointmentId,
        new_slot: SlotId,
        by: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        in_tx!(self, tx => tx.reschedule_appointment(tenant, id, new_slot, by, now))
    }

    /// Cancel an appointment and give its stop back.
    pub async fn cancel_appointment(
        &self,
        tenant: TenantId,
        id: AppointmentId,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        in_tx!(self, tx => tx.cancel_appointment(tenant, id, now))
    }

    pub async fn appointment(
        &self,
        tenant: TenantId,
        id: AppointmentId,
    ) -> StoreResult<Appointment> {
        let sql = format!("{APPOINTMENT_SELECT} WHERE a.tenant_id = $1 AND a.id = $2");
        let row: Option<AppointmentRow> = with_db!(self, pool => sqlx::query_as(&sql).bind(tenant.0).bind(id.0).fetch_optional(pool).await?);
        row.ok_or(StoreError::NotFound)?.into_appointment()
    }

    /// A customer's appointments, soonest first.
    pub async fn appointments(
        &self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> StoreResult<Vec<Appointment>> {
        let sql = format!("{APPOINTMENT_SELECT} WHERE a.tenant_id = $1 AND a.customer_id = $2 ORDER BY a.window_start, a.id");
        let rows: Vec<AppointmentRow> = with_db!(self, pool => sqlx::query_as(&sql).bind(tenant.0).bind(customer.0).fetch_all(pool).await?);
        rows.into_iter()
            .map(AppointmentRow::into_appointment)
            .collect()
    }
}

impl Tx {
    /// Book a visit: take a stop of the slot and create the appointment, atomically.
    pub async fn book_appointment(
        &mut self,
        tenant: TenantId,
        a: &NewAppointment,
        now: DateTime<Utc>,
    ) -> StoreResult<AppointmentId> {
        if a.status == AppointmentStatus::Cancelled {
            return Err(StoreError::Conflict("a cancelled visit holds no stop"));
        }
        let now = now.timestamp();
        let id: i64 = with_conn!(self, tx => {
            let (tech, start, end) = take_stop!(tx, tenant.0, a.slot_id.0);
            sqlx::query_scalar(
                "INSERT INTO appointments (tenant_id, customer_id, property_id, service_id, slot_id, technician_id, window_start, window_end, \
                 status, price_cents, original_window_start, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $7, $11, $11) RETURNING id")
                .bind(tenant.0).bind(a.customer_id.0).bind(a.property_id.0).bind(a.service_id.0).bind(a.slot_id.0)
                .bind(tech).bind(start).bind(end).bind(a.status.as_str()).bind(a.price_cents.0).bind(now)
                .fetch_one(&mut *tx)
                .await?
        });
        Ok(AppointmentId(id))
    }

    /// Move an appointment to another slot: take a stop there, free the old one, count the
    /// reschedule and record who did it — all or nothing, even inside a longer transaction
    /// that commits after a refusal (a turn): every check and the conditional take come before
    /// the first write, so an `Err` (`WindowFull`, `Conflict`, `NotFound`) leaves no change.
    pub async fn reschedule_appointment(
        &mut self,
        tenant: TenantId,
        id: AppointmentId,
        new_slot: SlotId,
        by: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let now = now.timestamp();
        with_conn!(self, tx => {
            // A no-op UPDATE rather than a SELECT: it takes the row lock on PostgreSQL and
            // returns the appointment as the last committed change left it.
            let old: Option<(i64, String)> = sqlx::query_as(
                "UPDATE appointments SET updated_at = updated_at WHERE tenant_id = $1 AND id = $2 RETURNING slot_id, status")
                .bind(tenant.0).bind(id.0).fetch_optional(&mut *tx).await?;
            let Some((old_slot, status)) = old else { return Err(StoreError::NotFound) };
            if !parse_col::<AppointmentStatus>(&status, "appointment status")?.is_open() {
                return Err(StoreError::Conflict("appointment is no longer open"));
            }
            if old_slot == new_slot.0 {
                return Err(StoreError::Conflict("appointment is already in that window"));
            }
            // Both slots are locked in id order (no-op UPDATEs) so crossing moves cannot
            // deadlock; then the new stop is taken first, so a full window refuses the move
            // before anything changed, and only then is the old stop given back.
            for slot in [old_slot.min(new_slot.0), old_slot.max(new_slot.0)] {
                sqlx::query("UPDATE slots SET booked = booked WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant.0).bind(slot).execute(&mut *tx).await?;
            }
            let (tech, start, end) = take_stop!(tx, tenant.0, new_slot.0);
            free_stop!(tx, tenant.0, old_slot);
            sqlx::query(
                "UPDATE appointments SET slot_id = $1, technician_id = $2, window_start = $3, window_end = $4, \
                 reschedule_count = reschedule_count + 1, last_rescheduled_by = $5, updated_at = $6 WHERE tenant_id = $7 AND id = $8")
                .bind(new_slot.0).bind(tech).bind(start).bind(end).bind(by).bind(now).bind(tenant.0).bind(id.0)
                .execute(&mut *tx).await?;
        });
        Ok(())
    }

    /// Cancel an open appointment and give its stop back; `Conflict` if it is no longer open
    /// (already cancelled, under way or done).
    pub async fn cancel_appointment(
        &mut self,
        tenant: TenantId,
        id: AppointmentId,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        with_conn!(self, tx => {
            let slot: Option<i64> = sqlx::query_scalar(
                "UPDATE appointments SET status = 'cancelled', updated_at = $1 WHERE tenant_id = $2 AND id = $3 \
                 AND status IN ('scheduled', 'confirmed') RETURNING slot_id")
                .bind(now.timestamp()).bind(tenant.0).bind(id.0).fetch_optional(&mut *tx).await?;
            let Some(slot) = slot else {
                let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM appointments WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant.0).bind(id.0).fetch_optional(&mut *tx).await?;
                return Err(if exists.is_some() {
                    StoreError::Conflict("appointment is no longer open")
                } else {
                    StoreError::NotFound
                });
            };
            free_stop!(tx, tenant.0, slot);
        });
        Ok(())
    }
}
