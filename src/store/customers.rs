//! Customers, their contacts and properties, and the zones properties sit in.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{
    parse_col, with_conn, with_db, with_tx, with_writer, Backend, Store, StoreError, StoreResult,
    Tx,
};
use crate::domain::{
    CustomerId, CustomerStatus, PhoneE164, PropertyId, PropertyKind, TenantId, ZoneId,
};

#[derive(Debug, Clone, Serialize)]
pub struct Customer {
    pub id: CustomerId,
    pub first_name: String,
    pub last_name: String,
    pub company: Option<String>,
    pub name: String,
    pub status: CustomerStatus,
    pub autopay: bool,
    pub phones: Vec<PhoneE164>,
    pub emails: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Property {
    pub id: PropertyId,
    pub customer_id: CustomerId,
    pub street: String,
    pub city: String,
    pub state: String,
    pub zip: String,
    pub zone_id: ZoneId,
    pub zone: String,
    pub sq_ft: Option<i64>,
    pub kind: PropertyKind,
}

#[derive(Debug, Clone)]
pub struct NewProperty {
    pub street: String,
    pub city: String,
    pub state: String,
    pub zip: String,
    pub zone_id: ZoneId,
    pub sq_ft: Option<i64>,
    pub kind: PropertyKind,
}

#[derive(Debug, Clone)]
pub struct NewCustomer {
    pub first_name: String,
    pub last_name: String,
    pub company: Option<String>,
    pub status: CustomerStatus,
    pub autopay: bool,
    pub phones: Vec<PhoneE164>,
    pub emails: Vec<String>,
    pub properties: Vec<NewProperty>,
}

impl NewCustomer {
    /// The text the PostgreSQL trigram index searches: names, company, addresses, contacts.
    pub(crate) fn search_text(&self) -> String {
        let mut s = format!("{} {}", self.first_name, self.last_name);
        if let Some(c) = &self.company {
            s.push(' ');
            s.push_str(c);
        }
        for p in &self.properties {
            s.push_str(&format!(" {} {} {}", p.street, p.city, p.zip));
        }
        for p in &self.phones {
            s.push(' ');
            s.push_str(p.as_str());
        }
        for e in &self.emails {
            s.push(' ');
            s.push_str(e);
        }
        s.to_lowercase()
    }
}

/// What a customer is called on screen and in summaries.
pub fn display_name(first: &str, last: &str, company: Option<&str>) -> String {
    match company {
        Some(c) if first.is_empty() && last.is_empty() => c.to_string(),
        Some(c) => format!("{first} {last} ({c})"),
        None => format!("{first} {last}").trim().to_string(),
    }
}

#[derive(sqlx::FromRow)]
struct CustomerRow {
    id: i64,
    first_name: String,
    last_name: String,
    company: Option<String>,
    status: String,
    autopay: bool,
}

#[derive(sqlx::FromRow)]
struct PropertyRow {
    id: i64,
    customer_id: i64,
    street: String,
    city: String,
    state: String,
    zip: String,
    zone_id: i64,
    zone: String,
    sq_ft: Option<i64>,
    kind: String,
}

impl PropertyRow {
    fn into_property(self) -> StoreResult<Property> {
        Ok(Property {
            id: PropertyId(self.id),
            customer_id: CustomerId(self.customer_id),
            kind: parse_col(&self.kind, "property kind")?,
            street: self.street,
            city: self.city,
            state: self.state,
            zip: self.zip,
            zone_id: ZoneId(self.zone_id),
            zone: self.zone,
            sq_ft: self.sq_ft,
        })
    }
}

/// A customer id with one phone number or email address.
type ContactRow = (i64, String);

/// A phone's customers. `(customer_id, phone)` is the key, so each customer comes once.
const CUSTOMERS_BY_PHONE: &str =
    "SELECT customer_id FROM customer_phones WHERE tenant_id = $1 AND phone = $2 ORDER BY customer_id";

const PROPERTY_SELECT: &str = "SELECT p.id, p.customer_id, p.street, p.city, p.state, p.zip, p.zone_id, z.name AS zone, p.sq_ft, p.kind \
     FROM properties p JOIN zones z ON z.id = p.zone_id";

/// One customer as the search index needs it.
#[derive(Debug, Clone)]
pub struct CustomerDoc {
    pub id: CustomerId,
    pub name: String,
    pub addresses: Vec<(String, String, String)>,
    pub phones: Vec<String>,
    pub emails: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Zone {
    pub id: ZoneId,
    pub code: String,
    pub name: String,
}

impl Store {
    pub async fn insert_zone(
        &self,
        tenant: TenantId,
        code: &str,
        name: &str,
    ) -> StoreResult<ZoneId> {
        let id: i64 = with_writer!(self, pool => sqlx::query_scalar("INSERT INTO zones (tenant_id, code, name) VALUES ($1, $2, $3) RETURNING id")
            .bind(tenant.0)
            .bind(code)
            .bind(name)
            .fetch_one(pool)
            .await
            .map_err(|e| StoreError::on_unique(e, "zone code already exists"))?);
        Ok(ZoneId(id))
    }

    pub async fn zones(&self, tenant: TenantId) -> StoreResult<Vec<Zone>> {
        let rows: Vec<(i64, String, String)> = with_db!(self, pool => sqlx::query_as("SELECT id, code, name FROM zones WHERE tenant_id = $1 ORDER BY code")
            .bind(tenant.0)
            .fetch_all(pool)
            .await?);
        Ok(rows
            .into_iter()
            .map(|(id, code, name)| Zone {
                id: ZoneId(id),
                code,
                name,
            })
            .collect())
    }

    /// Insert customers with their contacts and properties in one transaction; returns ids
    /// in input order. Used by the seeders (hundreds to a million rows) and imports.
    pub async fn insert_customers(
        &self,
        tenant: TenantId,
        customers: &[NewCustomer],
        now: i64,
    ) -> StoreResult<Vec<CustomerId>> {
        let mut ids = Vec::with_capacity(customers.len());
        with_tx!(self, tx => {
            for c in customers {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO customers (tenant_id, first_name, last_name, company, status, autopay, search_text, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                )
                .bind(tenant.0)
                .bind(&c.first_name)
                .bind(&c.last_name)
                .bind(&c.company)
                .bind(c.status.as_str())
                .bind(c.autopay)
                .bind(c.search_text())
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                for p in &c.phones {
                    sqlx::query("INSERT INTO customer_phones (tenant_id, customer_id, phone) VALUES ($1, $2, $3)")
                        .bind(tenant.0)
                        .bind(id)
                        .bind(p.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
                for e in &c.emails {
                    sqlx::query("INSERT INTO customer_emails (tenant_id, customer_id, email) VALUES ($1, $2, $3)")
                        .bind(tenant.0)
                        .bind(id)
                        .bind(e)
                        .execute(&mut *tx)
                        .await?;
                }
                for p in &c.properties {
                    sqlx::query(
                        "INSERT INTO properties (tenant_id, customer_id, street, city, state, zip, zone_id, sq_ft, kind) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(tenant.0)
                    .bind(id)
                    .bind(&p.street)
                    .bind(&p.city)
                    .bind(&p.state)
                    .bind(&p.zip)
                    .bind(p.zone_id.0)
                    .bind(p.sq_ft)
                    .bind(p.kind.as_str())
                    .execute(&mut *tx)
                    .await?;
                }
                ids.push(CustomerId(id));
            }
        });
        Ok(ids)
    }

    async fn hydrate_customers(
        &self,
        tenant: TenantId,
        rows: Vec<CustomerRow>,
    ) -> StoreResult<Vec<Customer>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let lo = rows.iter().map(|r| r.id).min().unwrap_or(0);
        let hi = rows.iter().map(|r| r.id).max().unwrap_or(0);
        let (phones, emails): (Vec<ContactRow>, Vec<ContactRow>) = with_db!(self, pool => {
            let phones = sqlx::query_as("SELECT customer_id, phone FROM customer_phones WHERE tenant_id = $1 AND customer_id BETWEEN $2 AND $3 ORDER BY customer_id, phone")
                .bind(tenant.0).bind(lo).bind(hi).fetch_all(pool).await?;
            let emails = sqlx::query_as("SELECT customer_id, email FROM customer_emails WHERE tenant_id = $1 AND customer_id BETWEEN $2 AND $3 ORDER BY customer_id, email")
                .bind(tenant.0).bind(lo).bind(hi).fetch_all(pool).await?;
            (phones, emails)
        });
        rows.into_iter()
            .map(|r| {
                Ok(Customer {
                    id: CustomerId(r.id),
                    name: display_name(&r.first_name, &r.last_name, r.company.as_deref()),
                    status: parse_col(&r.status, "customer status")?,
                    autopay: r.autopay,
                    phones: phones
                        .iter()
                        .filter(|(c, _)| *c == r.id)
                        .map(|(_, p)| {
                            PhoneE164::parse(p).map_err(|e| StoreError::Corrupt(e.message))
                        })
                        .collect::<StoreResult<_>>()?,
                    emails: emails
                        .iter()
                        .filter(|(c, _)| *c == r.id)
                        .map(|(_, e)| e.clone())
                        .collect(),
                    first_name: r.first_name,
                    last_name: r.last_name,
                    company: r.company,
                })
            })
            .collect()
    }

    pub async fn customer(&self, tenant: TenantId, id: CustomerId) -> StoreResult<Customer> {
        let row: Option<CustomerRow> = with_db!(self, pool => sqlx::query_as(
            "SELECT id, first_name, last_name, company, status, autopay FROM customers WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.0)
            .bind(id.0)
            .fetch_optional(pool)
            .await?);
        let row = row.ok_or(StoreError::NotFound)?;
        self.hydrate_customers(tenant, vec![row])
            .await?
            .pop()
            .ok_or(StoreError::NotFound)
    }

    /// Customers by id, in the order asked; unknown ids are skipped.
    pub async fn customers_by_ids(
        &self,
        tenant: TenantId,
        ids: &[CustomerId],
    ) -> StoreResult<Vec<Customer>> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            match self.customer(tenant, *id).await {
                Ok(c) => out.push(c),
                Err(StoreError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// One page of customers by id; `page` counts from 1.
    pub async fn list_customers(
        &self,
        tenant: TenantId,
        page: u32,
        per_page: u32,
    ) -> StoreResult<(Vec<Customer>, i64)> {
        let offset = i64::from(page.saturating_sub(1)) * i64::from(per_page);
        let (rows, total): (Vec<CustomerRow>, i64) = with_db!(self, pool => {
            let rows = sqlx::query_as("SELECT id, first_name, last_name, company, status, autopay FROM customers WHERE tenant_id = $1 ORDER BY id LIMIT $2 OFFSET $3")
                .bind(tenant.0).bind(i64::from(per_page)).bind(offset).fetch_all(pool).await?;
            let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM customers WHERE tenant_id = $1").bind(tenant.0).fetch_one(pool).await?;
            (rows, total)
        });
        Ok((self.hydrate_customers(tenant, rows).await?, total))
    }

    /// Every customer whose contacts include this phone (families share numbers): how a
    /// caller is identified, so it is one index lookup (`customers_by_phone_plan` shows it).
    pub async fn customers_by_phone(
        &self,
        tenant: TenantId,
        phone: &PhoneE164,
    ) -> StoreResult<Vec<CustomerId>> {
        let ids: Vec<i64> = with_db!(self, pool => sqlx::query_scalar(CUSTOMERS_BY_PHONE)
            .bind(tenant.0)
            .bind(phone.as_str())
            .fetch_all(pool)
            .await?);
        Ok(ids.into_iter().map(CustomerId).collect())
    }

    /// The engine's plan for [`Store::customers_by_phone`], one line per step, so a
    /// benchmark can check on real data that the lookup uses the phone index.
    pub async fn customers_by_phone_plan(
        &self,
        tenant: TenantId,
        phone: &PhoneE164,
    ) -> StoreResult<Vec<String>> {
        match &self.db {
            Backend::Sqlite(pool) => {
                let rows: Vec<(i64, i64, i64, String)> =
                    sqlx::query_as(&format!("EXPLAIN QUERY PLAN {CUSTOMERS_BY_PHONE}"))
                        .bind(tenant.0)
                        .bind(phone.as_str())
                        .fetch_all(pool)
                        .await?;
                Ok(rows.into_iter().map(|r| r.3).collect())
            }
            Backend::Postgres(pool) => {
                Ok(sqlx::query_scalar(&format!("EXPLAIN {CUSTOMERS_BY_PHONE}"))
                    .bind(tenant.0)
                    .bind(phone.as_str())
                    .fetch_all(pool)
                    .await?)
            }
        }
    }

    pub async fn properties(
        &self,
        tenant: TenantId,
        customer: CustomerId,
    ) -> StoreResult<Vec<Property>> {
        let sql = format!(
            "{PROPERTY_SELECT} WHERE p.tenant_id = $1 AND p.customer_id = $2 ORDER BY p.id"
        );
        let rows: Vec<PropertyRow> = with_db!(self, pool => sqlx::query_as(&sql).bind(tenant.0).bind(customer.0).fetch_all(pool).await?);
        rows.into_iter().map(PropertyRow::into_property).collect()
    }

    pub async fn property(&self, tenant: TenantId, id: PropertyId) -> StoreResult<Property> {
        let sql = format!("{PROPERTY_SELECT} WHERE p.tenant_id = $1 AND p.id = $2");
        let row: Option<PropertyRow> = with_db!(self, pool => sqlx::query_as(&sql).bind(tenant.0).bind(id.0).fetch_optional(pool).await?);
        row.ok_or(StoreError::NotFound)?.into_property()
    }

    pub async fn count_customers(&self, tenant: TenantId) -> StoreResult<i64> {
        Ok(
            with_db!(self, pool => sqlx::query_scalar("SELECT COUNT(*) FROM customers WHERE tenant_id = $1")
            .bind(tenant.0)
            .fetch_one(pool)
            .await?),
        )
    }

    /// Stream every customer of a tenant as search documents, in id order, `batch` at a time.
    pub async fn customer_docs(
        &self,
        tenant: TenantId,
        after: CustomerId,
        batch: i64,
    ) -> StoreResult<Vec<CustomerDoc>> {
        let rows: Vec<(i64, String, String, Option<String>)> = with_db!(self, pool => sqlx::query_as(
            "SELECT id, first_name, last_name, company FROM customers WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3")
            .bind(tenant.0).bind(after.0).bind(batch).fetch_all(pool).await?);
        let (Some(lo), Some(hi)) = (rows.first().map(|r| r.0), rows.last().map(|r| r.0)) else {
            return Ok(Vec::new());
        };
        type Addr = (i64, String, String, String);
        let (props, phones, emails): (Vec<Addr>, Vec<ContactRow>, Vec<ContactRow>) = with_db!(self, pool => {
            let props = sqlx::query_as("SELECT customer_id, street, city, zip FROM properties WHERE tenant_id = $1 AND customer_id BETWEEN $2 AND $3 ORDER BY customer_id, id")
                .bind(tenant.0).bind(lo).bind(hi).fetch_all(pool).await?;
            let phones = sqlx::query_as("SELECT customer_id, phone FROM customer_phones WHERE tenant_id = $1 AND customer_id BETWEEN $2 AND $3 ORDER BY customer_id")
                .bind(tenant.0).bind(lo).bind(hi).fetch_all(pool).await?;
            let emails = sqlx::query_as("SELECT customer_id, email FROM customer_emails WHERE tenant_id = $1 AND customer_id BETWEEN $2 AND $3 ORDER BY customer_id")
                .bind(tenant.0).bind(lo).bind(hi).fetch_all(pool).await?;
            (props, phones, emails)
        });
        let mut docs: Vec<CustomerDoc> = rows
            .into_iter()
            .map(|(id, first, last, company)| CustomerDoc {
                id: CustomerId(id),
                name: display_name(&first, &last, company.as_deref()),
                addresses: Vec::new(),
                phones: Vec::new(),
                emails: Vec::new(),
            })
            .collect();
        let index_of =
            |docs: &[CustomerDoc], id: i64| docs.binary_search_by_key(&id, |d| d.id.0).ok();
        for (cid, street, city, zip) in props {
            if let Some(i) = index_of(&docs, cid) {
                docs[i].addresses.push((street, city, zip));
            }
        }
        for (cid, phone) in phones {
            if let Some(i) = index_of(&docs, cid) {
                docs[i].phones.push(phone);
            }
        }
        for (cid, email) in emails {
            if let Some(i) = index_of(&docs, cid) {
                docs[i].emails.push(email);
            }
        }
        Ok(docs)
    }

    /// PostgreSQL trigram search over the customer search text (None on SQLite). Kept for
    /// comparison with the search index and as a fallback on PostgreSQL.
    pub async fn trigram_search(
        &self,
        tenant: TenantId,
        q: &str,
        limit: i64,
    ) -> StoreResult<Option<Vec<(CustomerId, f32)>>> {
        let Backend::Postgres(pool) = &self.db else {
            return Ok(None);
        };
        let rows: Vec<(i64, f32)> = sqlx::query_as(
            "SELECT id, word_similarity($2, search_text) AS score FROM customers \
             WHERE tenant_id = $1 AND $2 <% search_text ORDER BY score DESC, id LIMIT $3",
        )
        .bind(tenant.0)
        .bind(q.to_lowercase())
        .bind(limit)
        .fetch_all(pool)
        .await?;
        Ok(Some(
            rows.into_iter().map(|(i, s)| (CustomerId(i), s)).collect(),
        ))
    }
}

impl Tx {
    /// Failed verification attempts (`verify_identity` refused with `identity.no_match`) from
    /// one participant (a phone) since `since`, across all of its conversations and channels.
    /// Read in the turn's transaction, so it counts this turn's own attempts too.
    pub async fn failed_verifications(
        &mut self,
        tenant: TenantId,
        participant: &str,
        since: DateTime<Utc>,
    ) -> StoreResult<i64> {
        let n: i64 = with_conn!(self, tx => sqlx::query_scalar(
            "SELECT COUNT(*) FROM tool_calls tc JOIN conversations c ON c.id = tc.conversation_id \
             WHERE tc.tenant_id = $1 AND c.tenant_id = $1 AND COALESCE(c.caller_phone, c.participant) = $2 \
             AND tc.tool = 'verify_identity' AND tc.rule = 'identity.no_match' AND tc.at >= $3")
            .bind(tenant.0).bind(participant).bind(since.timestamp())
            .fetch_one(&mut *tx).await?);
        Ok(n)
    }
}
