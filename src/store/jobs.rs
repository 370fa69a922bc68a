//! The durable job scheduler's SQL: scheduled work (reminders, field notices, invoice
//! notices) as rows unique per tenant and key, claimed under a lease — `FOR UPDATE SKIP
//! LOCKED` on PostgreSQL, one conditional `UPDATE … RETURNING` under SQLite's write lock —
//! and finished only by the runner whose lease is still the row's, in the transaction that
//! writes the job's effects (its outbox rows). Field events and survey answers live here too.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::{
    in_tx, to_json, ts, wall_now, with_conn, with_db, with_writer, Store, StoreResult, Tx,
};
use crate::domain::{AppointmentId, AppointmentStatus, ConversationId, CustomerId, TenantId};

/// Work to schedule.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// `reminder`, `invoice_notice`, …
    pub kind: String,
    /// Unique per tenant: scheduling the same key twice keeps the first.
    pub key: String,
    /// What the job is about (an appointment, an invoice).
    pub subject_id: Option<i64>,
    /// The version of the subject it was planned for (e.g. the appointment's window start).
    pub subject_at: Option<i64>,
    pub payload: Value,
    pub due_at: DateTime<Utc>,
}

/// A stored job. `lease_until` identifies the claim that holds it.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub id: i64,
    pub tenant_id: TenantId,
    pub kind: String,
    pub key: String,
    pub subject_id: Option<i64>,
    pub subject_at: Option<i64>,
    pub payload: Value,
    pub due_at: DateTime<Utc>,
    /// `pending`, `done`, `skipped` (nothing to send any more) or `failed`.
    pub status: String,
    pub lease_until: Option<i64>,
    pub attempts: i64,
    pub error: Option<String>,
}

type JobRow = (
    i64,
    i64,
    String,
    String,
    Option<i64>,
    Option<i64>,
    String,
    i64,
    String,
    Option<i64>,
    i64,
    Option<String>,
);

const JOB_COLS: &str = "id, tenant_id, kind, key, subject_id, subject_at, payload, due_at, status, lease_until, CAST(attempts AS BIGINT), error";

fn job(r: JobRow) -> Job {
    Job {
        id: r.0,
        tenant_id: TenantId(r.1),
        kind: r.2,
        key: r.3,
        subject_id: r.4,
        subject_at: r.5,
        payload: serde_json::from_str(&r.6).unwrap_or(Value::Null),
        due_at: ts(r.7),
        status: r.8,
        lease_until: r.9,
        attempts: r.10,
        error: r.11,
    }
}

/// An appointment the reminder planner has not planned for its current window.
#[derive(Debug, Clone)]
pub struct UnplannedAppointment {
    pub tenant_id: TenantId,
    pub id: AppointmentId,
    pub window_start: DateTime<Utc>,
}

/// What a technician reported about a visit.
#[derive(Debug, Clone, Serialize)]
pub struct FieldEvent {
    pub id: i64,
    pub appointment_id: AppointmentId,
    /// `en_route`, `started`, `paused`, `completed`.
    pub kind: String,
    pub eta_minutes: Option<i64>,
    pub note: Option<String>,
    pub findings: Option<String>,
    pub products: Option<String>,
    pub at: DateTime<Utc>,
}

impl Store {
    /// Schedule a job unless one with its key exists. Returns whether it was added.
    pub async fn schedule_job(
        &self,
        tenant: TenantId,
        j: &NewJob,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        in_tx!(self, tx => tx.schedule_job(tenant, j, now))
    }

    /// Lease up to `limit` pending jobs due by `now`, oldest due first. A leased job is not
    /// handed to another runner until its lease (wall clock) expires.
    pub async fn claim_jobs(
        &self,
        now: DateTime<Utc>,
        limit: i64,
        lease_secs: i64,
    ) -> StoreResult<Vec<Job>> {
        let wall = wall_now();
        let lock = self.skip_locked();
        let sql = format!(
            "UPDATE jobs SET lease_until = $1, attempts = attempts + 1 WHERE id IN (\
               SELECT id FROM jobs WHERE status = 'pending' AND due_at <= $2 \
               AND (lease_until IS NULL OR lease_until < $3) \
               ORDER BY due_at, id LIMIT $4{lock}) \
             RETURNING {JOB_COLS}"
        );
        let mut rows: Vec<JobRow> = with_writer!(self, pool => sqlx::query_as(&sql)
            .bind(wall + lease_secs).bind(now.timestamp()).bind(wall).bind(limit)
            .fetch_all(pool).await?);
        rows.sort_by_key(|r| (r.7, r.0));
        Ok(rows.into_iter().map(job).collect())
    }

    /// Give a claimed job back to be tried again no sooner than `after_wall` (wall clock),
    /// if this claim still holds it.
    pub async fn retry_job(&self, j: &Job, after_wall: i64, error: &str) -> StoreResult<bool> {
        let n = with_writer!(self, pool => sqlx::query(
            "UPDATE jobs SET lease_until = $1, error = $2, updated_at = $3 \
             WHERE tenant_id = $4 AND id = $5 AND status = 'pending' AND lease_until = $6")
            .bind(after_wall).bind(error).bind(wall_now()).bind(j.tenant_id.0).bind(j.id).bind(j.lease_until)
            .execute(pool).await?.rows_affected());
        Ok(n == 1)
    }

    /// Move a claimed job to a new due time (its rule says later), releasing the lease.
    pub async fn postpone_job(&self, j: &Job, due_at: DateTime<Utc>) -> StoreResult<bool> {
        let n = with_writer!(self, pool => sqlx::query(
            "UPDATE jobs SET due_at = $1, lease_until = NULL, updated_at = $2 \
             WHERE tenant_id = $3 AND id = $4 AND status = 'pending' AND lease_until = $5")
            .bind(due_at.timestamp()).bind(wall_now()).bind(j.tenant_id.0).bind(j.id).bind(j.lease_until)
            .execute(pool).await?.rows_affected());
        Ok(n == 1)
    }

    /// A tenant's jobs, optionally of one kind, in id order.
    pub async fn jobs_of(&self, tenant: TenantId, kind: Option<&str>) -> StoreResult<Vec<Job>> {
        let sql = format!(
            "SELECT {JOB_COLS} FROM jobs WHERE tenant_id = $1 AND ($2 IS NULL OR kind = $2) ORDER BY id"
        );
        let rows: Vec<JobRow> = with_db!(self, pool => sqlx::query_as(&sql)
            .bind(tenant.0).bind(kind).fetch_all(pool).await?);
        Ok(rows.into_iter().map(job).collect())
    }

    /// Open appointments (any tenant) starting between `from` and `until` that have no
    /// `kind` job planned for their current window, at most `limit`.
    pub async fn unplanned_appointments(
        &self,
        kind: &str,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<UnplannedAppointment>> {
        let rows: Vec<(i64, i64, i64)> = with_db!(self, pool => sqlx::query_as(
            "SELECT a.tenant_id, a.id, a.window_start FROM appointments a \
             WHERE a.status IN ('scheduled', 'confirmed') AND a.window_start > $1 AND a.window_start <= $2 \
             AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.tenant_id = a.tenant_id AND j.kind = $3 \
                             AND j.subject_id = a.id AND j.subject_at = a.window_start) \
             ORDER BY a.window_start, a.id LIMIT $4")
            .bind(from.timestamp()).bind(until.timestamp()).bind(kind).bind(limit)
            .fetch_all(pool).await?);
        Ok(rows
            .into_iter()
            .map(|(t, id, ws)| UnplannedAppointment {
                tenant_id: TenantId(t),
                id: AppointmentId(id),
                window_start: ts(ws),
            })
            .collect())
    }

    /// What technicians reported about an appointment, oldest first.
    pub async fn field_events(
        &self,
        tenant: TenantId,
        appointment: AppointmentId,
    ) -> StoreResult<Vec<FieldEvent>> {
        let rows: Vec<FieldRow> = with_db!(self, pool => sqlx::query_as(
            "SELECT id, appointment_id, kind, eta_minutes, note, findings, products, at FROM field_events \
             WHERE tenant_id = $1 AND appointment_id = $2 ORDER BY id")
            .bind(tenant.0).bind(appointment.0).fetch_all(pool).await?);
        Ok(rows.into_iter().map(field_event).collect())
    }

    /// What technicians reported about a customer's visits, oldest first.
    pub async fn field_events_of_customer(
        &self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> StoreResult<Vec<FieldEvent>> {
        let rows: Vec<FieldRow> = with_db!(self, pool => sqlx::query_as(
            "SELECT f.id, f.appointment_id, f.kind, f.eta_minutes, f.note, f.findings, f.products, f.at FROM field_events f \
             JOIN appointments a ON a.id = f.appointment_id AND a.tenant_id = f.tenant_id \
             WHERE f.tenant_id = $1 AND a.customer_id = $2 ORDER BY f.id")
            .bind(tenant.0).bind(customer.0).fetch_all(pool).await?);
        Ok(rows.into_iter().map(field_event).collect())
    }

    /// The survey answers about a customer's visits: `(appointment, rating)`.
    pub async fn survey_answers(
        &self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> StoreResult<Vec<(AppointmentId, i64)>> {
        let rows: Vec<(i64, i64)> = with_db!(self, pool => sqlx::query_as(
            "SELECT appointment_id, rating FROM survey_answers WHERE tenant_id = $1 AND customer_id = $2 ORDER BY id")
            .bind(tenant.0).bind(customer.0).fetch_all(pool).await?);
        Ok(rows
            .into_iter()
            .map(|(a, r)| (AppointmentId(a), r))
            .collect())
    }
}

type FieldRow = (
    i64,
    i64,
    String,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
);

fn field_event(r: FieldRow) -> FieldEvent {
    FieldEvent {
        id: r.0,
        appointment_id: AppointmentId(r.1),
        kind: r.2,
        eta_minutes: r.3,
        note: r.4,
        findings: r.5,
        products: r.6,
        at: ts(r.7),
    }
}

impl Tx {
    /// [`Store::schedule_job`] inside a transaction.
    pub async fn schedule_job(
        &mut self,
        tenant: TenantId,
        j: &NewJob,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let n = with_conn!(self, c => sqlx::query(
            "INSERT INTO jobs (tenant_id, kind, key, subject_id, subject_at, payload, due_at, status, attempts, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, $8) ON CONFLICT (tenant_id, key) DO NOTHING")
            .bind(tenant.0).bind(&j.kind).bind(&j.key).bind(j.subject_id).bind(j.subject_at)
            .bind(to_json(&j.payload)).bind(j.due_at.timestamp()).bind(now.timestamp())
            .execute(&mut *c).await?.rows_affected());
        Ok(n == 1)
    }

    /// Finish a claimed job (`done`, `skipped`, `failed`) if this claim still holds it: the
    /// job's effects are written in the same transaction, so they happen once. `false` means
    /// another runner took it over (the caller rolls back).
    pub async fn finish_job(
        &mut self,
        j: &Job,
        status: &str,
        note: Option<&str>,
    ) -> StoreResult<bool> {
        let n = with_conn!(self, c => sqlx::query(
            "UPDATE jobs SET status = $1, error = $2, lease_until = NULL, updated_at = $3 \
             WHERE tenant_id = $4 AND id = $5 AND status = 'pending' AND lease_until = $6")
            .bind(status).bind(note).bind(wall_now()).bind(j.tenant_id.0).bind(j.id).bind(j.lease_until)
            .execute(&mut *c).await?.rows_affected());
        Ok(n == 1)
    }

    /// Record a technician's report about an appointment.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_field_event(
        &mut self,
        tenant: TenantId,
        appointment: AppointmentId,
        kind: &str,
        eta_minutes: Option<i64>,
        note: Option<&str>,
        findings: Option<&str>,
        products: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<i64> {
        Ok(with_conn!(self, c => sqlx::query_scalar(
            "INSERT INTO field_events (tenant_id, appointment_id, kind, eta_minutes, note, findings, products, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id")
            .bind(tenant.0).bind(appointment.0).bind(kind).bind(eta_minutes).bind(note).bind(findings)
            .bind(products).bind(now.timestamp())
            .fetch_one(&mut *c).await?))
    }

    /// Set an appointment's status (field events, a reminder's "C"). Returns whether it
    /// changed; only statuses in `from` are changed.
    pub async fn set_appointment_status(
        &mut self,
        tenant: TenantId,
        appointment: AppointmentId,
        from: &[AppointmentStatus],
        to: AppointmentStatus,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let allowed: Vec<String> = from.iter().map(|s| format!("'{}'", s.as_str())).collect();
        let sql = format!(
            "UPDATE appointments SET status = $1, updated_at = $2 WHERE tenant_id = $3 AND id = $4 \
             AND status IN ({})",
            allowed.join(", ")
        );
        let n = with_conn!(self, c => sqlx::query(&sql)
            .bind(to.as_str()).bind(now.timestamp()).bind(tenant.0).bind(appointment.0)
            .execute(&mut *c).await?.rows_affected());
        Ok(n == 1)
    }

    /// Store a survey answer (the first one per visit counts). Returns whether it was new.
    pub async fn insert_survey_answer(
        &mut self,
        tenant: TenantId,
        appointment: AppointmentId,
        customer: CustomerId,
        rating: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let n = with_conn!(self, c => sqlx::query(
            "INSERT INTO survey_answers (tenant_id, appointment_id, customer_id, rating, at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (tenant_id, appointment_id) DO NOTHING")
            .bind(tenant.0).bind(appointment.0).bind(customer.0).bind(rating).bind(now.timestamp())
            .execute(&mut *c).await?.rows_affected());
        Ok(n == 1)
    }

    /// Queue an e-mail in the outbox (channel `email`, with a subject).
    #[allow(clippy::too_many_arguments)]
    pub async fn enqueue_email(
        &mut self,
        tenant: TenantId,
        to: &str,
        from: &str,
        subject: &str,
        body: &str,
        purpose: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<i64> {
        Ok(with_conn!(self, c => sqlx::query_scalar(
            "INSERT INTO outbox (tenant_id, conversation_id, channel, to_addr, from_addr, body, purpose, status, subject, created_at, updated_at) \
             VALUES ($1, NULL, 'email', $2, $3, $4, $5, 'queued', $6, $7, $7) RETURNING id")
            .bind(tenant.0).bind(to).bind(from).bind(body).bind(purpose).bind(subject).bind(now.timestamp())
            .fetch_one(&mut *c).await?))
    }

    /// Remember the proactive message a conversation's customer may answer next.
    pub async fn set_conversation_notice(
        &mut self,
        tenant: TenantId,
        conversation: ConversationId,
        notice: &Value,
    ) -> StoreResult<()> {
        with_conn!(self, c => sqlx::query("UPDATE conversations SET notice = $1 WHERE tenant_id = $2 AND id = $3")
            .bind(to_json(notice)).bind(tenant.0).bind(conversation.0)
            .execute(&mut *c).await?.rows_affected());
        Ok(())
    }

    /// The proactive message the customer may be answering, cleared (it is answered once).
    pub async fn take_conversation_notice(
        &mut self,
        tenant: TenantId,
        conversation: ConversationId,
    ) -> StoreResult<Option<Value>> {
        let raw: Option<Option<String>> = with_conn!(self, c => sqlx::query_scalar(
            "SELECT notice FROM conversations WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.0).bind(conversation.0).fetch_optional(&mut *c).await?);
        let Some(raw) = raw.flatten() else {
            return Ok(None);
        };
        with_conn!(self, c => sqlx::query("UPDATE conversations SET notice = NULL WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.0).bind(conversation.0).execute(&mut *c).await?.rows_affected());
        Ok(serde_json::from_str(&raw).ok())
    }
}

impl Store {
    /// The newest message a customer wrote on any channel, in a conversation with them or
    /// from their phone (their language is read from it).
    pub async fn latest_customer_text(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        phone: Option<&str>,
    ) -> StoreResult<Option<String>> {
        Ok(with_db!(self, pool => sqlx::query_scalar(
            "SELECT m.text FROM messages m JOIN conversations c ON c.id = m.conversation_id \
             WHERE m.tenant_id = $1 AND c.tenant_id = $1 AND (c.customer_id = $2 OR c.caller_phone = $3) \
             AND m.direction = 'inbound' ORDER BY m.id DESC LIMIT 1")
            .bind(tenant.0).bind(customer.0).bind(phone).fetch_optional(pool).await?))
    }
}

/// An invoice with money owed, as notices need it.
#[derive(Debug, Clone)]
pub struct UnpaidInvoice {
    pub tenant_id: TenantId,
    pub id: i64,
    pub customer_id: CustomerId,
    pub number: String,
    pub amount_cents: i64,
    pub balance_cents: i64,
    pub issued_on: chrono::NaiveDate,
    pub due_on: chrono::NaiveDate,
}

type InvoiceRow = (i64, i64, i64, String, i64, i64, String, String);

fn unpaid(r: InvoiceRow) -> UnpaidInvoice {
    let day = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default();
    UnpaidInvoice {
        tenant_id: TenantId(r.0),
        id: r.1,
        customer_id: CustomerId(r.2),
        number: r.3,
        amount_cents: r.4,
        balance_cents: r.5,
        issued_on: day(&r.6),
        due_on: day(&r.7),
    }
}

const UNPAID: &str = "SELECT i.tenant_id, i.id, i.customer_id, i.number, i.amount_cents, i.balance_cents, i.issued_on, i.due_on \
                      FROM invoices i WHERE i.status IN ('open', 'overdue') AND i.balance_cents > 0";

impl Store {
    /// Unpaid invoices (any tenant) that have no notices planned yet, at most `limit`.
    pub async fn unplanned_invoices(&self, limit: i64) -> StoreResult<Vec<UnpaidInvoice>> {
        let sql = format!(
            "{UNPAID} AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.tenant_id = i.tenant_id \
             AND j.kind = 'invoice_notice' AND j.subject_id = i.id) ORDER BY i.id LIMIT $1"
        );
        let rows: Vec<InvoiceRow> =
            with_db!(self, pool => sqlx::query_as(&sql).bind(limit).fetch_all(pool).await?);
        Ok(rows.into_iter().map(unpaid).collect())
    }

    /// One invoice if money is still owed on it.
    pub async fn unpaid_invoice(
        &self,
        tenant: TenantId,
        id: i64,
    ) -> StoreResult<Option<UnpaidInvoice>> {
        let sql = format!("{UNPAID} AND i.tenant_id = $1 AND i.id = $2");
        let row: Option<InvoiceRow> = with_db!(self, pool => sqlx::query_as(&sql)
            .bind(tenant.0).bind(id).fetch_optional(pool).await?);
        Ok(row.map(unpaid))
    }
}

impl Tx {
    /// A completed visit's record (what the portal and the operator record show).
    pub async fn insert_visit(
        &mut self,
        tenant: TenantId,
        v: &super::NewVisit,
    ) -> StoreResult<crate::domain::VisitId> {
        let id: i64 = with_conn!(self, c => sqlx::query_scalar(
            "INSERT INTO service_visits (tenant_id, customer_id, property_id, service_id, technician_id, completed_at, notes, findings, products) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id")
            .bind(tenant.0).bind(v.customer_id.0).bind(v.property_id.0).bind(v.service_id.0).bind(v.technician_id.0)
            .bind(v.completed_at.timestamp()).bind(&v.notes).bind(&v.findings).bind(to_json(&v.products))
            .fetch_one(&mut *c).await?);
        Ok(crate::domain::VisitId(id))
    }

    /// An invoice, in the caller's transaction.
    pub async fn insert_invoice(
        &mut self,
        tenant: TenantId,
        i: &super::NewInvoice,
    ) -> StoreResult<crate::domain::InvoiceId> {
        let id: i64 = with_conn!(self, c => sqlx::query_scalar(
            "INSERT INTO invoices (tenant_id, customer_id, number, amount_cents, balance_cents, issued_on, due_on, status) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id")
            .bind(tenant.0).bind(i.customer_id.0).bind(&i.number).bind(i.amount_cents.0).bind(i.balance_cents.0)
            .bind(i.issued_on.to_string()).bind(i.due_on.to_string()).bind(i.status.as_str())
            .fetch_one(&mut *c).await
            .map_err(|e| super::StoreError::on_unique(e, "invoice number already exists"))?);
        Ok(crate::domain::InvoiceId(id))
    }
}
