//! What the customer portal writes, each in one transaction with its portal activity row and
//! live event: a self-serve reschedule, a provider payment (once per provider event id), an
//! agreement signature, the autopay flag, and single-use sign-in links with their throttle.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use super::{
    changed_some, to_json, ts, with_conn, with_db, with_writer, EventKind, Store, StoreError,
    StoreResult, Tx,
};
use crate::domain::{
    AgreementId, AppointmentId, Cents, CustomerId, InvoiceId, PortalEventId, PortalEventKind,
    SlotId, TenantId,
};

/// One stored signature of an agreement text.
#[derive(Debug, Clone, Serialize)]
pub struct AgreementSignature {
    pub id: i64,
    pub agreement_id: AgreementId,
    pub signer_name: String,
    pub signed_at: DateTime<Utc>,
    pub ip_address: String,
    pub user_agent: String,
    pub text_sha256: String,
}

/// What a signature records besides the agreement.
#[derive(Debug, Clone)]
pub struct NewSignature<'a> {
    pub signer_name: &'a str,
    pub ip_address: &'a str,
    pub user_agent: &'a str,
    pub document: &'a str,
    pub text_sha256: &'a str,
}

/// A provider's confirmed payment of an invoice, as its webhook reported it.
#[derive(Debug, Clone)]
pub struct ProviderPayment<'a> {
    pub provider: &'a str,
    pub event_id: &'a str,
    pub event_kind: &'a str,
    pub tenant: TenantId,
    pub invoice: InvoiceId,
    pub amount: Cents,
    /// The provider's reference (a checkout session id).
    pub reference: &'a str,
}

/// How a provider event was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentOutcome {
    Recorded {
        balance_after: Cents,
    },
    /// This event id was handled before: nothing done.
    Duplicate,
}

/// A sign-in link found by its hash.
#[derive(Debug, Clone)]
pub struct PortalLink {
    pub id: i64,
    pub tenant: TenantId,
    pub customer: CustomerId,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

impl Tx {
    /// Record one portal activity row and its `portal.activity` event in this transaction.
    pub async fn insert_portal_event(
        &mut self,
        tenant: TenantId,
        customer: CustomerId,
        kind: PortalEventKind,
        detail: &Value,
        at: DateTime<Utc>,
    ) -> StoreResult<PortalEventId> {
        let id: i64 = with_conn!(self, c => sqlx::query_scalar(
            "INSERT INTO portal_events (tenant_id, customer_id, kind, detail, at) VALUES ($1, $2, $3, $4, $5) RETURNING id")
            .bind(tenant.0).bind(customer.0).bind(kind.as_str()).bind(to_json(detail)).bind(at.timestamp())
            .fetch_one(&mut *c).await?);
        self.emit_event(
            tenant,
            EventKind::PortalActivity,
            json!({ "portal_event_id": id, "customer_id": customer, "kind": kind, "detail": detail }),
            at,
        )
        .await?;
        Ok(PortalEventId(id))
    }
}

impl Store {
    /// Move a visit for the customer in the portal: the store's reschedule (capacity kept),
    /// the `reschedule_done` activity and the `appointment.moved` event, all or nothing.
    /// `WindowFull` when the new window filled up meanwhile (nothing changed).
    pub async fn portal_reschedule(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        id: AppointmentId,
        slot: SlotId,
        detail: &Value,
        now: DateTime<Utc>,
    ) -> StoreResult<PortalEventId> {
        let mut tx = self.begin().await?;
        tx.reschedule_appointment(tenant, id, slot, "portal", now)
            .await?;
        let event = tx
            .insert_portal_event(
                tenant,
                customer,
                PortalEventKind::RescheduleDone,
                detail,
                now,
            )
            .await?;
        tx.emit_event(
            tenant,
            EventKind::AppointmentMoved,
            json!({ "appointment_id": id, "customer_id": customer, "by": "portal",
                    "slot_id": slot, "portal_event_id": event, "detail": detail }),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(event)
    }

    /// Take a provider's payment once per event id: the event id is stored in the same
    /// transaction that records the payment, lowers the balance (never below zero; paid at
    /// zero) and records the `payment` activity with its event.
    pub async fn record_provider_payment(
        &self,
        p: &ProviderPayment<'_>,
        now: DateTime<Utc>,
    ) -> StoreResult<PaymentOutcome> {
        let mut tx = self.begin().await?;
        let t = p.tenant.0;
        let fresh = with_conn!(tx, c => sqlx::query(
            "INSERT INTO payment_events (tenant_id, provider, event_id, kind, received_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (provider, event_id) DO NOTHING")
            .bind(t).bind(p.provider).bind(p.event_id).bind(p.event_kind).bind(now.timestamp())
            .execute(&mut *c).await?.rows_affected());
        if fresh == 0 {
            return Ok(PaymentOutcome::Duplicate);
        }
        let sql = format!(
            "SELECT customer_id, number, balance_cents FROM invoices WHERE tenant_id = $1 AND id = $2{}",
            tx.for_update()
        );
        let row: Option<(i64, String, i64)> = with_conn!(tx, c => sqlx::query_as(&sql)
            .bind(t).bind(p.invoice.0).fetch_optional(&mut *c).await?);
        let (customer, number, balance) = row.ok_or(StoreError::NotFound)?;
        let after = (balance - p.amount.0).max(0);
        let status_sql = if after == 0 {
            "UPDATE invoices SET balance_cents = $1, status = 'paid' WHERE tenant_id = $2 AND id = $3"
        } else {
            "UPDATE invoices SET balance_cents = $1 WHERE tenant_id = $2 AND id = $3"
        };
        with_conn!(tx, c => {
            sqlx::query(status_sql).bind(after).bind(t).bind(p.invoice.0).execute(&mut *c).await?;
            sqlx::query(
                "INSERT INTO payments (tenant_id, customer_id, invoice_id, amount_cents, method, paid_at, external_ref) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)")
                .bind(t).bind(customer).bind(p.invoice.0).bind(p.amount.0).bind(p.provider).bind(now.timestamp()).bind(p.reference)
                .execute(&mut *c).await?;
        });
        tx.insert_portal_event(
            p.tenant,
            CustomerId(customer),
            PortalEventKind::Payment,
            &json!({ "invoice_id": p.invoice, "invoice": number, "amount_cents": p.amount,
                     "balance_cents": after, "provider": p.provider, "reference": p.reference }),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(PaymentOutcome::Recorded {
            balance_after: Cents(after),
        })
    }

    /// Remember the checkout page a provider opened for an invoice.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_checkout_session(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        invoice: InvoiceId,
        provider: &str,
        session_id: &str,
        amount: Cents,
        url: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        with_writer!(self, pool => sqlx::query(
            "INSERT INTO checkout_sessions (tenant_id, customer_id, invoice_id, provider, session_id, amount_cents, url, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (provider, session_id) DO NOTHING")
            .bind(tenant.0).bind(customer.0).bind(invoice.0).bind(provider).bind(session_id).bind(amount.0).bind(url).bind(now.timestamp())
            .execute(pool).await?.rows_affected());
        Ok(())
    }

    /// The invoice a provider's checkout session was opened for, if frontdesk opened it.
    pub async fn checkout_session_invoice(
        &self,
        tenant: TenantId,
        provider: &str,
        session_id: &str,
    ) -> StoreResult<Option<InvoiceId>> {
        let id: Option<i64> = with_db!(self, pool => sqlx::query_scalar(
            "SELECT invoice_id FROM checkout_sessions WHERE tenant_id = $1 AND provider = $2 AND session_id = $3")
            .bind(tenant.0).bind(provider).bind(session_id).fetch_optional(pool).await?);
        Ok(id.map(InvoiceId))
    }

    /// Turn autopay on or off; the change is portal activity like any other.
    pub async fn set_autopay(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        on: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        changed_some(with_conn!(tx, c => sqlx::query(
            "UPDATE customers SET autopay = $1 WHERE tenant_id = $2 AND id = $3")
            .bind(on).bind(tenant.0).bind(customer.0).execute(&mut *c).await?.rows_affected()))?;
        tx.emit_event(
            tenant,
            EventKind::PortalActivity,
            json!({ "customer_id": customer, "kind": "autopay", "detail": { "autopay": on } }),
            now,
        )
        .await?;
        tx.commit().await
    }

    /// Store a signature of the exact text shown, mark the agreement signed and record the
    /// `agreement_signed` activity with its event. The same text signed again is a `Conflict`.
    pub async fn sign_agreement(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        agreement: AgreementId,
        s: &NewSignature<'_>,
        now: DateTime<Utc>,
    ) -> StoreResult<i64> {
        let mut tx = self.begin().await?;
        let id: i64 = with_conn!(tx, c => {
            let n = sqlx::query(
                "UPDATE agreements SET signature_status = 'signed' WHERE tenant_id = $1 AND customer_id = $2 AND id = $3")
                .bind(tenant.0).bind(customer.0).bind(agreement.0).execute(&mut *c).await?.rows_affected();
            changed_some(n)?;
            sqlx::query_scalar(
                "INSERT INTO agreement_signatures (tenant_id, customer_id, agreement_id, signer_name, signed_at, ip_address, \
                 user_agent, text_sha256, document) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id")
                .bind(tenant.0).bind(customer.0).bind(agreement.0).bind(s.signer_name).bind(now.timestamp())
                .bind(s.ip_address).bind(s.user_agent).bind(s.text_sha256).bind(s.document)
                .fetch_one(&mut *c).await
                .map_err(|e| StoreError::on_unique(e, "this text is already signed"))?
        });
        tx.insert_portal_event(
            tenant,
            customer,
            PortalEventKind::AgreementSigned,
            &json!({ "agreement_id": agreement, "signature_id": id, "signer_name": s.signer_name,
                     "text_sha256": s.text_sha256 }),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// A customer's signatures, newest first.
    pub async fn agreement_signatures(
        &self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> StoreResult<Vec<AgreementSignature>> {
        type Row = (i64, i64, String, i64, String, String, String);
        let rows: Vec<Row> = with_db!(self, pool => sqlx::query_as(
            "SELECT id, agreement_id, signer_name, signed_at, ip_address, user_agent, text_sha256 FROM agreement_signatures \
             WHERE tenant_id = $1 AND customer_id = $2 ORDER BY id DESC")
            .bind(tenant.0).bind(customer.0).fetch_all(pool).await?);
        Ok(rows
            .into_iter()
            .map(
                |(id, agreement, signer_name, at, ip_address, user_agent, text_sha256)| {
                    AgreementSignature {
                        id,
                        agreement_id: AgreementId(agreement),
                        signer_name,
                        signed_at: ts(at),
                        ip_address,
                        user_agent,
                        text_sha256,
                    }
                },
            )
            .collect())
    }

    /// The signed copy of one signature.
    pub async fn signed_document(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        signature: i64,
    ) -> StoreResult<String> {
        let doc: Option<String> = with_db!(self, pool => sqlx::query_scalar(
            "SELECT document FROM agreement_signatures WHERE tenant_id = $1 AND customer_id = $2 AND id = $3")
            .bind(tenant.0).bind(customer.0).bind(signature).fetch_optional(pool).await?);
        doc.ok_or(StoreError::NotFound)
    }

    /// Count a sign-in link request under each key and say how many each key had in the
    /// window before this one (the caller refuses above its limits; refused requests count
    /// too, so hammering does not reset the window).
    pub async fn count_login_request(
        &self,
        tenant: TenantId,
        keys: &[String],
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<i64>> {
        let mut tx = self.begin().await?;
        let mut counts = Vec::with_capacity(keys.len());
        for key in keys {
            let n: i64 = with_conn!(tx, c => {
                let n: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM portal_login_requests WHERE tenant_id = $1 AND key = $2 AND at >= $3")
                    .bind(tenant.0).bind(key).bind(since.timestamp()).fetch_one(&mut *c).await?;
                sqlx::query("INSERT INTO portal_login_requests (tenant_id, key, at) VALUES ($1, $2, $3)")
                    .bind(tenant.0).bind(key).bind(now.timestamp()).execute(&mut *c).await?;
                n
            });
            counts.push(n);
        }
        tx.commit().await?;
        Ok(counts)
    }

    /// Store a sign-in link (its hash only).
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_portal_link(
        &self,
        tenant: TenantId,
        customer: CustomerId,
        token_hash: &str,
        channel: &str,
        contact: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<i64> {
        let id: i64 = with_writer!(self, pool => sqlx::query_scalar(
            "INSERT INTO portal_links (tenant_id, customer_id, token_hash, channel, contact, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id")
            .bind(tenant.0).bind(customer.0).bind(token_hash).bind(channel).bind(contact)
            .bind(now.timestamp()).bind(expires_at.timestamp())
            .fetch_one(pool).await?);
        Ok(id)
    }

    /// Use a sign-in link once: marks it used and records the `login` activity, atomically.
    /// `None` when no link has this hash, it expired, or it was used already.
    pub async fn use_portal_link(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<PortalLink>> {
        let mut tx = self.begin().await?;
        let row: Option<(i64, i64, i64, i64)> = with_conn!(tx, c => sqlx::query_as(
            "UPDATE portal_links SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 \
             RETURNING id, tenant_id, customer_id, expires_at")
            .bind(now.timestamp()).bind(token_hash).fetch_optional(&mut *c).await?);
        let Some((id, tenant, customer, expires_at)) = row else {
            return Ok(None);
        };
        tx.insert_portal_event(
            TenantId(tenant),
            CustomerId(customer),
            PortalEventKind::Login,
            &json!({ "method": "link", "link_id": id }),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(Some(PortalLink {
            id,
            tenant: TenantId(tenant),
            customer: CustomerId(customer),
            expires_at,
            used_at: Some(now.timestamp()),
        }))
    }

    /// Customers of a tenant with this e-mail on file (case-insensitive).
    pub async fn customers_by_email(
        &self,
        tenant: TenantId,
        email: &str,
    ) -> StoreResult<Vec<CustomerId>> {
        let ids: Vec<i64> = with_db!(self, pool => sqlx::query_scalar(
            "SELECT DISTINCT customer_id FROM customer_emails WHERE tenant_id = $1 AND LOWER(email) = LOWER($2) ORDER BY customer_id")
            .bind(tenant.0).bind(email).fetch_all(pool).await?);
        Ok(ids.into_iter().map(CustomerId).collect())
    }
}
