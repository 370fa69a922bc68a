//! Many rows at once: the batch writes the seeders and imports need (each batch is one
//! transaction), the fast customer loader (multi-row `INSERT` on SQLite, `COPY` on
//! PostgreSQL), and the read-side helpers that check what a seed produced.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Postgres;

use super::{
    to_json, with_db, with_tx, Backend, NewAgreement, NewCustomer, NewInvoice, NewVisit, Slot,
    SlotRow, Store, StoreResult, SLOT_COLS,
};
use crate::domain::{
    AgreementId, Cents, CustomerId, InvoiceId, PortalEventKind, SlotId, TechnicianId, TenantId,
    ZoneId,
};

/// One service window to create.
#[derive(Debug, Clone)]
pub struct NewSlot {
    pub zone_id: ZoneId,
    pub technician_id: TechnicianId,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub capacity: i64,
}

#[derive(Debug, Clone)]
pub struct NewPayment {
    pub customer_id: CustomerId,
    pub invoice_id: InvoiceId,
    pub amount_cents: Cents,
    pub method: String,
    pub paid_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewPortalEvent {
    pub customer_id: CustomerId,
    pub kind: PortalEventKind,
    pub detail: serde_json::Value,
    pub at: DateTime<Utc>,
}

/// How many rows of each kind a tenant holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TenantCounts {
    pub customers: i64,
    pub customer_phones: i64,
    pub customer_emails: i64,
    pub properties: i64,
    pub zones: i64,
    pub technicians: i64,
    pub services: i64,
    pub slots: i64,
    pub appointments: i64,
    pub service_visits: i64,
    pub invoices: i64,
    pub payments: i64,
    pub agreements: i64,
    pub portal_events: i64,
    pub opt_outs: i64,
    pub operator_users: i64,
}

/// Rows per multi-row statement on SQLite: 1,000 rows of at most 10 columns stays far below
/// SQLite's 32,766 bound parameters, and a fixed size lets the prepared statement be reused.
const SQLITE_ROWS_PER_INSERT: usize = 1000;
/// Bytes of `COPY` text buffered before they are sent to PostgreSQL.
const COPY_CHUNK_BYTES: usize = 1 << 20;

/// `(?, ?, ?), (?, ?, ?), ...` for `rows` rows of `cols` columns. Anonymous parameters on
/// purpose: SQLite resolves a named `$n` by scanning its whole parameter list (at prepare
/// time and again for every bind), which makes a 10,000-parameter statement quadratic.
fn sqlite_placeholders(rows: usize, cols: usize) -> String {
    let mut row = String::with_capacity(cols * 3 + 2);
    row.push('(');
    for c in 0..cols {
        if c > 0 {
            row.push_str(", ");
        }
        row.push('?');
    }
    row.push(')');
    let mut s = String::with_capacity(rows * (row.len() + 2));
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push_str(&row);
    }
    s
}

/// A buffer of rows in PostgreSQL's `COPY ... FROM STDIN` text format.
struct CopyText {
    buf: String,
}

impl CopyText {
    fn new() -> Self {
        Self {
            buf: String::with_capacity(COPY_CHUNK_BYTES + 4096),
        }
    }

    fn text(&mut self, v: &str) -> &mut Self {
        for ch in v.chars() {
            match ch {
                '\\' => self.buf.push_str("\\\\"),
                '\t' => self.buf.push_str("\\t"),
                '\n' => self.buf.push_str("\\n"),
                '\r' => self.buf.push_str("\\r"),
                c => self.buf.push(c),
            }
        }
        self.buf.push('\t');
        self
    }

    fn opt_text(&mut self, v: Option<&str>) -> &mut Self {
        match v {
            Some(v) => self.text(v),
            None => {
                self.buf.push_str("\\N\t");
                self
            }
        }
    }

    fn int(&mut self, v: i64) -> &mut Self {
        self.buf.push_str(&v.to_string());
        self.buf.push('\t');
        self
    }

    fn opt_int(&mut self, v: Option<i64>) -> &mut Self {
        match v {
            Some(v) => self.int(v),
            None => {
                self.buf.push_str("\\N\t");
                self
            }
        }
    }

    fn boolean(&mut self, v: bool) -> &mut Self {
        self.buf.push_str(if v { "t\t" } else { "f\t" });
        self
    }

    fn end_row(&mut self) {
        if self.buf.ends_with('\t') {
            self.buf.pop();
        }
        self.buf.push('\n');
    }

    fn full(&self) -> bool {
        self.buf.len() >= COPY_CHUNK_BYTES
    }
}

/// Stream rows into one table with `COPY`; `write` appends one row for each item.
async fn copy_rows<T>(
    conn: &mut sqlx::PgConnection,
    statement: &str,
    items: impl Iterator<Item = T>,
    mut write: impl FnMut(&mut CopyText, T),
) -> StoreResult<u64> {
    let mut copy = conn.copy_in_raw(statement).await?;
    let mut text = CopyText::new();
    for item in items {
        write(&mut text, item);
        if text.full() {
            if let Err(e) = copy.send(text.buf.as_bytes()).await {
                // Best effort: the transaction rolls back either way.
                let _ = copy.abort("bulk load failed").await;
                return Err(e.into());
            }
            text.buf.clear();
        }
    }
    if !text.buf.is_empty() {
        if let Err(e) = copy.send(text.buf.as_bytes()).await {
            let _ = copy.abort("bulk load failed").await;
            return Err(e.into());
        }
    }
    Ok(copy.finish().await?)
}

impl Store {
    /// Load many customers with their phones, e-mails and properties, fast: ids are reserved
    /// up front, then every table is written in bulk — multi-row `INSERT`s on SQLite (under
    /// the write lock, so the reserved ids cannot collide), `COPY` on PostgreSQL (ids drawn
    /// from the identity sequence, so concurrent writers are safe). One transaction per call;
    /// returns the new ids in input order.
    pub async fn bulk_load_customers(
        &self,
        tenant: TenantId,
        customers: &[NewCustomer],
        now: i64,
    ) -> StoreResult<Vec<CustomerId>> {
        if customers.is_empty() {
            return Ok(Vec::new());
        }
        let n = customers.len();
        let search: Vec<String> = customers.iter().map(NewCustomer::search_text).collect();
        let ids: Vec<i64> = match &self.db {
            Backend::Sqlite(pool) => {
                let (_writer, mut tx) = self.sqlite_write_tx(pool).await?;
                // AUTOINCREMENT never reuses an id, so start past both the largest live id and
                // the largest ever handed out.
                let base: i64 = sqlx::query_scalar(
                    "SELECT MAX(COALESCE((SELECT MAX(id) FROM customers), 0), \
                     COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'customers'), 0))",
                )
                .fetch_one(&mut *tx)
                .await?;
                let ids: Vec<i64> = (1..=n as i64).map(|i| base + i).collect();
                for (chunk_no, chunk) in customers.chunks(SQLITE_ROWS_PER_INSERT).enumerate() {
                    let offset = chunk_no * SQLITE_ROWS_PER_INSERT;
                    let sql = format!(
                        "INSERT INTO customers (id, tenant_id, first_name, last_name, company, status, autopay, search_text, created_at) VALUES {}",
                        sqlite_placeholders(chunk.len(), 9)
                    );
                    let mut q = sqlx::query(&sql);
                    for (i, c) in chunk.iter().enumerate() {
                        q = q
                            .bind(ids[offset + i])
                            .bind(tenant.0)
                            .bind(&c.first_name)
                            .bind(&c.last_name)
                            .bind(&c.company)
                            .bind(c.status.as_str())
                            .bind(c.autopay)
                            .bind(&search[offset + i])
                            .bind(now);
                    }
                    q.execute(&mut *tx).await?;
                }
                let phones: Vec<(i64, &str)> = customers
                    .iter()
                    .zip(&ids)
                    .flat_map(|(c, id)| c.phones.iter().map(move |p| (*id, p.as_str())))
                    .collect();
                for chunk in phones.chunks(SQLITE_ROWS_PER_INSERT) {
                    let sql = format!(
                        "INSERT INTO customer_phones (tenant_id, customer_id, phone) VALUES {}",
                        sqlite_placeholders(chunk.len(), 3)
                    );
                    let mut q = sqlx::query(&sql);
                    for (id, phone) in chunk {
                        q = q.bind(tenant.0).bind(*id).bind(*phone);
                    }
                    q.execute(&mut *tx).await?;
                }
                let emails: Vec<(i64, &str)> = customers
                    .iter()
                    .zip(&ids)
                    .flat_map(|(c, id)| c.emails.iter().map(move |e| (*id, e.as_str())))
                    .collect();
                for chunk in emails.chunks(SQLITE_ROWS_PER_INSERT) {
                    let sql = format!(
                        "INSERT INTO customer_emails (tenant_id, customer_id, email) VALUES {}",
                        sqlite_placeholders(chunk.len(), 3)
                    );
                    let mut q = sqlx::query(&sql);
                    for (id, email) in chunk {
                        q = q.bind(tenant.0).bind(*id).bind(*email);
                    }
                    q.execute(&mut *tx).await?;
                }
                let props: Vec<(i64, &super::NewProperty)> = customers
                    .iter()
                    .zip(&ids)
                    .flat_map(|(c, id)| c.properties.iter().map(move |p| (*id, p)))
                    .collect();
                for chunk in props.chunks(SQLITE_ROWS_PER_INSERT) {
                    let sql = format!(
                        "INSERT INTO properties (tenant_id, customer_id, street, city, state, zip, zone_id, sq_ft, kind) VALUES {}",
                        sqlite_placeholders(chunk.len(), 9)
                    );
                    let mut q = sqlx::query(&sql);
                    for (id, p) in chunk {
                        q = q
                            .bind(tenant.0)
                            .bind(*id)
                            .bind(&p.street)
                            .bind(&p.city)
                            .bind(&p.state)
                            .bind(&p.zip)
                            .bind(p.zone_id.0)
                            .bind(p.sq_ft)
                            .bind(p.kind.as_str());
                    }
                    q.execute(&mut *tx).await?;
                }
                tx.commit().await?;
                ids
            }
            Backend::Postgres(pool) => {
                let mut tx: sqlx::Transaction<'_, Postgres> = pool.begin().await?;
                let mut ids: Vec<i64> = sqlx::query_scalar(
                    "SELECT nextval(pg_get_serial_sequence('customers', 'id')) FROM generate_series(1, $1)",
                )
                .bind(n as i64)
                .fetch_all(&mut *tx)
                .await?;
                ids.sort_unstable();
                // Let the trigram index queue this batch (64 MB pending list) instead of merging
                // every 4 MB; `finish_bulk_load` merges it once at the end.
                sqlx::query("SET LOCAL gin_pending_list_limit = 65536")
                    .execute(&mut *tx)
                    .await?;
                copy_rows(
                    &mut tx,
                    "COPY customers (id, tenant_id, first_name, last_name, company, status, autopay, search_text, created_at) FROM STDIN",
                    customers.iter().zip(&ids).zip(&search),
                    |t, ((c, id), search)| {
                        t.int(*id)
                            .int(tenant.0)
                            .text(&c.first_name)
                            .text(&c.last_name)
                            .opt_text(c.company.as_deref())
                            .text(c.status.as_str())
                            .boolean(c.autopay)
                            .text(search)
                            .int(now)
                            .end_row();
                    },
                )
                .await?;
                copy_rows(
                    &mut tx,
                    "COPY customer_phones (tenant_id, customer_id, phone) FROM STDIN",
                    customers
                        .iter()
                        .zip(&ids)
                        .flat_map(|(c, id)| c.phones.iter().map(move |p| (*id, p))),
                    |t, (id, p)| t.int(tenant.0).int(id).text(p.as_str()).end_row(),
                )
                .await?;
                copy_rows(
                    &mut tx,
                    "COPY customer_emails (tenant_id, customer_id, email) FROM STDIN",
                    customers
                        .iter()
                        .zip(&ids)
                        .flat_map(|(c, id)| c.emails.iter().map(move |e| (*id, e))),
                    |t, (id, e)| t.int(tenant.0).int(id).text(e).end_row(),
                )
                .await?;
                copy_rows(
                    &mut tx,
                    "COPY properties (tenant_id, customer_id, street, city, state, zip, zone_id, sq_ft, kind) FROM STDIN",
                    customers
                        .iter()
                        .zip(&ids)
                        .flat_map(|(c, id)| c.properties.iter().map(move |p| (*id, p))),
                    |t, (id, p)| {
                        t.int(tenant.0)
                            .int(id)
                            .text(&p.street)
                            .text(&p.city)
                            .text(&p.state)
                            .text(&p.zip)
                            .int(p.zone_id.0)
                            .opt_int(p.sq_ft)
                            .text(p.kind.as_str())
                            .end_row();
                    },
                )
                .await?;
                tx.commit().await?;
                ids
            }
        };
        Ok(ids.into_iter().map(CustomerId).collect())
    }

    /// After [`Store::bulk_load_customers`] calls: on PostgreSQL merge the trigram index's
    /// pending entries (so searches do not scan them) and refresh planner statistics; on
    /// SQLite refresh statistics.
    pub async fn finish_bulk_load(&self) -> StoreResult<()> {
        match &self.db {
            Backend::Sqlite(pool) => {
                sqlx::query("PRAGMA optimize").execute(pool).await?;
            }
            Backend::Postgres(pool) => {
                sqlx::query(
                    "SELECT gin_clean_pending_list(c.oid) FROM pg_class c \
                     WHERE c.relname = 'customers_search_trgm' AND c.relkind = 'i'",
                )
                .execute(pool)
                .await?;
                sqlx::query("ANALYZE customers, customer_phones, customer_emails, properties")
                    .execute(pool)
                    .await?;
            }
        }
        Ok(())
    }

    /// Create many service windows in one transaction; ids in input order.
    pub async fn insert_slots(
        &self,
        tenant: TenantId,
        slots: &[NewSlot],
    ) -> StoreResult<Vec<SlotId>> {
        let mut ids = Vec::with_capacity(slots.len());
        with_tx!(self, tx => {
            for s in slots {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO slots (tenant_id, zone_id, technician_id, starts_at, ends_at, capacity) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id")
                    .bind(tenant.0).bind(s.zone_id.0).bind(s.technician_id.0).bind(s.starts_at.timestamp()).bind(s.ends_at.timestamp()).bind(s.capacity)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| super::StoreError::on_unique(e, "a window already starts then in this zone"))?;
                ids.push(SlotId(id));
            }
        });
        Ok(ids)
    }

    /// Record many completed visits in one transaction.
    pub async fn insert_visits(&self, tenant: TenantId, visits: &[NewVisit]) -> StoreResult<usize> {
        let mut tx = self.begin().await?;
        for v in visits {
            tx.insert_visit(tenant, v).await?;
        }
        tx.commit().await?;
        Ok(visits.len())
    }

    /// Create many invoices in one transaction; ids in input order.
    pub async fn insert_invoices(
        &self,
        tenant: TenantId,
        invoices: &[NewInvoice],
    ) -> StoreResult<Vec<InvoiceId>> {
        let mut tx = self.begin().await?;
        let mut ids = Vec::with_capacity(invoices.len());
        for i in invoices {
            ids.push(tx.insert_invoice(tenant, i).await?);
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// Record many payments in one transaction.
    pub async fn insert_payments(
        &self,
        tenant: TenantId,
        payments: &[NewPayment],
    ) -> StoreResult<usize> {
        with_tx!(self, tx => {
            for p in payments {
                sqlx::query(
                    "INSERT INTO payments (tenant_id, customer_id, invoice_id, amount_cents, method, paid_at) VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(tenant.0).bind(p.customer_id.0).bind(p.invoice_id.0).bind(p.amount_cents.0).bind(&p.method).bind(p.paid_at.timestamp())
                    .execute(&mut *tx).await?;
            }
        });
        Ok(payments.len())
    }

    /// Create many agreements in one transaction; ids in input order.
    pub async fn insert_agreements(
        &self,
        tenant: TenantId,
        agreements: &[NewAgreement],
    ) -> StoreResult<Vec<AgreementId>> {
        let mut ids = Vec::with_capacity(agreements.len());
        with_tx!(self, tx => {
            for a in agreements {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO agreements (tenant_id, customer_id, property_id, service_id, status, signature_status, starts_on, renews_on, price_cents) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id")
                    .bind(tenant.0).bind(a.customer_id.0).bind(a.property_id.0).bind(a.service_id.0).bind(a.status.as_str())
                    .bind(a.signature_status.as_str()).bind(a.starts_on.to_string()).bind(a.renews_on.to_string()).bind(a.price_cents.0)
                    .fetch_one(&mut *tx).await?;
                ids.push(AgreementId(id));
            }
        });
        Ok(ids)
    }

    /// Record many portal events in one transaction.
    pub async fn insert_portal_events(
        &self,
        tenant: TenantId,
        events: &[NewPortalEvent],
    ) -> StoreResult<usize> {
        with_tx!(self, tx => {
            for e in events {
                sqlx::query("INSERT INTO portal_events (tenant_id, customer_id, kind, detail, at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(tenant.0).bind(e.customer_id.0).bind(e.kind.as_str()).bind(to_json(&e.detail)).bind(e.at.timestamp())
                    .execute(&mut *tx).await?;
            }
        });
        Ok(events.len())
    }

    /// Every window of a tenant starting in `[from, to)`, full ones included, by start then zone.
    pub async fn slots_between(
        &self,
        tenant: TenantId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<Slot>> {
        let sql = format!(
            "SELECT {SLOT_COLS} FROM slots \
             WHERE tenant_id = $1 AND starts_at >= $2 AND starts_at < $3 ORDER BY starts_at, zone_id"
        );
        let rows: Vec<SlotRow> = with_db!(self, pool => sqlx::query_as(&sql)
            .bind(tenant.0).bind(from.timestamp()).bind(to.timestamp()).fetch_all(pool).await?);
        Ok(rows.into_iter().map(Slot::from).collect())
    }

    /// Customers with exactly this first and last name, oldest first.
    pub async fn customers_named(
        &self,
        tenant: TenantId,
        first_name: &str,
        last_name: &str,
    ) -> StoreResult<Vec<CustomerId>> {
        let ids: Vec<i64> = with_db!(self, pool => sqlx::query_scalar(
            "SELECT id FROM customers WHERE tenant_id = $1 AND first_name = $2 AND last_name = $3 ORDER BY id")
            .bind(tenant.0).bind(first_name).bind(last_name).fetch_all(pool).await?);
        Ok(ids.into_iter().map(CustomerId).collect())
    }

    /// Row counts of everything a tenant holds (for seed reports and checks).
    pub async fn tenant_counts(&self, tenant: TenantId) -> StoreResult<TenantCounts> {
        let mut c = TenantCounts::default();
        // Each count is named after its table; read one after the other.
        for (table, n) in [
            ("customers", &mut c.customers),
            ("customer_phones", &mut c.customer_phones),
            ("customer_emails", &mut c.customer_emails),
            ("properties", &mut c.properties),
            ("zones", &mut c.zones),
            ("technicians", &mut c.technicians),
            ("services", &mut c.services),
            ("slots", &mut c.slots),
            ("appointments", &mut c.appointments),
            ("service_visits", &mut c.service_visits),
            ("invoices", &mut c.invoices),
            ("payments", &mut c.payments),
            ("agreements", &mut c.agreements),
            ("portal_events", &mut c.portal_events),
            ("opt_outs", &mut c.opt_outs),
            ("operator_users", &mut c.operator_users),
        ] {
            let sql = format!("SELECT COUNT(*) FROM {table} WHERE tenant_id = $1");
            *n = with_db!(self, pool => sqlx::query_scalar(&sql).bind(tenant.0).fetch_one(pool).await?);
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_cover_rows_times_columns() {
        assert_eq!(sqlite_placeholders(2, 3), "(?, ?, ?), (?, ?, ?)");
        assert_eq!(sqlite_placeholders(1, 1), "(?)");
    }

    #[test]
    fn copy_text_escapes_separators_and_nulls() {
        let mut t = CopyText::new();
        t.text("a\tb\\c\nd")
            .opt_text(None)
            .int(-5)
            .boolean(true)
            .end_row();
        assert_eq!(t.buf, "a\\tb\\\\c\\nd\t\\N\t-5\tt\n");
    }
}
