//! The customer's history: completed visits, invoices and payments, agreements, and the
//! events the customer portal reports.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::{
    in_tx, json_col, parse_col, to_json, ts, with_db, with_writer, Store, StoreError, StoreResult,
};
use crate::domain::{
    AgreementId, AgreementStatus, Cents, CustomerId, InvoiceId, InvoiceStatus, PortalEventId,
    PortalEventKind, PropertyId, ServiceId, SignatureStatus, TechnicianId, TenantId, VisitId,
};

#[derive(Debug, Clone, Serialize)]
pub struct Visit {
    pub id: VisitId,
    pub property_id: PropertyId,
    pub service_id: ServiceId,
    pub service: String,
    pub technician: String,
    pub completed_at: DateTime<Utc>,
    pub notes: String,
    pub findings: String,
    pub products: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct NewVisit {
    pub customer_id: CustomerId,
    pub property_id: PropertyId,
    pub service_id: ServiceId,
    pub technician_id: TechnicianId,
    pub completed_at: DateTime<Utc>,
    pub notes: String,
    pub findings: String,
    pub products: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Invoice {
    pub id: InvoiceId,
    pub number: String,
    pub amount_cents: Cents,
    pub balance_cents: Cents,
    pub issued_on: NaiveDate,
    pub due_on: NaiveDate,
    pub status: InvoiceStatus,
}

#[derive(Debug, Clone)]
pub struct NewInvoice {
    pub customer_id: CustomerId,
    pub number: String,
    pub amount_cents: Cents,
    pub balance_cents: Cents,
    pub issued_on: NaiveDate,
    pub due_on: NaiveDate,
    pub status: InvoiceStatus,
}

#[derive(Debug, Clone, Serialize)]
pub struct Payment {
    pub invoice_id: InvoiceId,
    pub amount_cents: Cents,
    pub method: String,
    pub paid_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Agreement {
    pub id: AgreementId,
    pub property_id: PropertyId,
    pub service_id: ServiceId,
    pub service: String,
    pub status: AgreementStatus,
    pub signature_status: SignatureStatus,
    pub starts_on: NaiveDate,
    pub renews_on: NaiveDate,
    pub price_cents: Cents,
}

#[derive(Debug, Clone)]
pub struct NewAgreement {
    pub customer_id: CustomerId,
    pub property_id: PropertyId,
    pub service_id: ServiceId,
    pub status: AgreementStatus,
    pub signature_status: SignatureStatus,
    pub starts_on: NaiveDate,
    pub renews_on: NaiveDate,
    pub price_cents: Cents,
}

#[derive(Debug, Clone, Serialize)]
pub struct PortalEvent {
    pub id: PortalEventId,
    pub kind: PortalEventKind,
    pub detail: serde_json::Value,
    pub at: DateTime<Utc>,
}

fn date(raw: &str) -> StoreResult<NaiveDate> {
    parse_col(raw, "date")
}

impl Store {
    pub async fn insert_visit(&self, tenant: TenantId, v: &NewVisit) -> StoreResult<VisitId> {
        let id: i64 = with_writer!(self, pool => sqlx::query_scalar(
            "INSERT INTO service_visits (tenant_id, customer_id, property_id, service_id, technician_id, completed_at, notes, findings, products) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id")
            .bind(tenant.0).bind(v.customer_id.0).bind(v.property_id.0).bind(v.service_id.0).bind(v.technician_id.0)
            .bind(v.completed_at.timestamp()).bind(&v.notes).bind(&v.findings).bind(to_json(&v.products))
            .fetch_one(pool).await?);
        Ok(VisitId(id))
    }

    /// Completed visits, newest first.
    pub async fn visits(&self, tenant: TenantId, customer: CustomerId) -> StoreResult<Vec<Visit>> {
        type Row = (i64, i64, i64, String, String, i64, String, String, String);
        let rows: Vec<Row> = with_db!(self, pool => sqlx::query_as(
            "SELECT v.id, v.property_id, v.service_id, s.name, t.name, v.completed_at, v.notes, v.findings, v.products \
             FROM service_visits v JOIN services s ON s.id = v.service_id JOIN technicians t ON t.id = v.technician_id \
             WHERE v.tenant_id = $1 AND v.customer_id = $2 ORDER BY v.completed_at DESC, v.id DESC")
            .bind(tenant.0).bind(customer.0).fetch_all(pool).await?);
        rows.into_iter()
            .map(
                |(id, property, service_id, service, technician, at, notes, findings, products)| {
                    Ok(Visit {
                        id: VisitId(id),
                        property_id: PropertyId(property),
                        service_id: ServiceId(service_id),
                        service,
                        technician,
                        completed_at: ts(at),
                        notes,
                        findings,
                        products: json_col(&products, "visit products")?,
                    })
                },
            )
            .collect()
    }

    pub async fn insert_invoice(&self, tenant: TenantId, i: &NewInvoice) -> StoreResult<InvoiceId> {
        let id: i64 = with_writer!(self, pool => sqlx::query_scalar(
            "INSERT INTO invoices (tenant_id, customer_id, number, amount_cents, balance_cents, issued_on, due_on, status) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id")
            .bind(tenant.0).bind(i.customer_id.0).bind(&i.number).bind(i.amount_cents.0).bind(i.balance_cents.0)
            .bind(i.issued_on.to_string()).bind(i.due_on.to_string()).bind(i.status.as_str())
            .fetch_one(pool).await
            .map_err(|e| StoreError::on_unique(e, "invoice number already exists"))?);
        Ok(InvoiceId(id))
    }

    /// Invoices, newest first.
    pub async fn invoices(
        &self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> StoreResult<Vec<Invoice>> {
        type Row = (i64, String, i64, i64, String, String, String);
        let rows: Vec<Row> = with_db!(self, pool => sqlx::query_as(
            "SELECT id, number, amount_cents, balance_cents, issued_on, due_on, status FROM invoices \
             WHERE tenant_id = $1 AND customer_id = $2 ORDER BY issued_on DESC, id DESC")
            .bind(tenant.0).bind(customer.0).fetch_all(pool).await?);
        rows.into_iter()
            .map(|(id, number, amount, balance, issued, due, status)| {
                Ok(Invoice {
                    id: InvoiceId(id),
                    number,
                    amount_cents: Cents(amount),
                    balance_cents: Cents(balance),
                    issued_on: date(&issued)?,
                    due_on: date(&due)?,
                    status: parse_col(&status, "invoice status")?,
                })
            })
            .collect()
    }

    pub async fn insert_payment(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        invoice: InvoiceId,
        amount: Cents,
        method: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        with_writer!(self, pool => sqlx::query(
            "INSERT INTO payments (tenant_id, customer_id, invoice_id, amount_cents, method, paid_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(tenant.0).bind(customer.0).bind(invoice.0).bind(amount.0).bind(method).bind(at.timestamp())
            .execute(pool).await?.rows_affected());
        Ok(())
    }

    /// Payments, newest first.
    pub async fn payments(
        &self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> StoreResult<Vec<Payment>> {
        let rows: Vec<(i64, i64, String, i64)> = with_db!(self, pool => sqlx::query_as(
            "SELECT invoice_id, amount_cents, method, paid_at FROM payments WHERE tenant_id = $1 AND customer_id = $2 ORDER BY paid_at DESC, id DESC")
            .bind(tenant.0).bind(customer.0).fetch_all(pool).await?);
        Ok(rows
            .into_iter()
            .map(|(invoice, amount, method, at)| Payment {
                invoice_id: InvoiceId(invoice),
                amount_cents: Cents(amount),
                method,
                paid_at: ts(at),
            })
            .collect())
    }

    pub async fn insert_agreement(
        &self,
        tenant: TenantId,
        a: &NewAgreement,
    ) -> StoreResult<AgreementId> {
        let id: i64 = with_writer!(self, pool => sqlx::query_scalar(
            "INSERT INTO agreements (tenant_id, customer_id, property_id, service_id, status, signature_status, starts_on, renews_on, price_cents) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id")
            .bind(tenant.0).bind(a.customer_id.0).bind(a.property_id.0).bind(a.service_id.0).bind(a.status.as_str())
            .bind(a.signature_status.as_str()).bind(a.starts_on.to_string()).bind(a.renews_on.to_string()).bind(a.price_cents.0)
            .fetch_one(pool).await?);
        Ok(AgreementId(id))
    }

    pub async fn agreements(
        &self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> StoreResult<Vec<Agreement>> {
        type Row = (i64, i64, i64, String, String, String, String, String, i64);
        let rows: Vec<Row> = with_db!(self, pool => sqlx::query_as(
            "SELECT a.id, a.property_id, a.service_id, s.name, a.status, a.signature_status, a.starts_on, a.renews_on, a.price_cents \
             FROM agreements a JOIN services s ON s.id = a.service_id WHERE a.tenant_id = $1 AND a.customer_id = $2 ORDER BY a.id")
            .bind(tenant.0).bind(customer.0).fetch_all(pool).await?);
        rows.into_iter()
            .map(
                |(id, property, service_id, service, status, sig, starts, renews, price)| {
                    Ok(Agreement {
                        id: AgreementId(id),
                        property_id: PropertyId(property),
                        service_id: ServiceId(service_id),
                        service,
                        status: parse_col(&status, "agreement status")?,
                        signature_status: parse_col(&sig, "signature status")?,
                        starts_on: date(&starts)?,
                        renews_on: date(&renews)?,
                        price_cents: Cents(price),
                    })
                },
            )
            .collect()
    }

    pub async fn insert_portal_event(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        kind: PortalEventKind,
        detail: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> StoreResult<PortalEventId> {
        in_tx!(self, tx => tx.insert_portal_event(tenant, customer, kind, detail, at))
    }

    /// Portal events, newest first, at most `limit`.
    pub async fn portal_events(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        limit: i64,
    ) -> StoreResult<Vec<PortalEvent>> {
        let rows: Vec<(i64, String, String, i64)> = with_db!(self, pool => sqlx::query_as(
            "SELECT id, kind, detail, at FROM portal_events WHERE tenant_id = $1 AND customer_id = $2 ORDER BY at DESC, id DESC LIMIT $3")
            .bind(tenant.0).bind(customer.0).bind(limit).fetch_all(pool).await?);
        rows.into_iter()
            .map(|(id, kind, detail, at)| {
                Ok(PortalEvent {
                    id: PortalEventId(id),
                    kind: parse_col(&kind, "portal event kind")?,
                    detail: json_col(&detail, "portal event detail")?,
                    at: ts(at),
                })
            })
            .collect()
    }
}
