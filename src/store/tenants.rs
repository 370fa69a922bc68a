//! Tenants: a service company with its zone, hours, numbers and policy.

use serde::Serialize;

use std::sync::Arc;

use super::{changed_some, json_col, to_json, with_conn, with_db, Store, StoreError, StoreResult};
use crate::domain::{BusinessHours, Policy, TenantId, TenantTz};

#[derive(Debug, Clone, Serialize)]
pub struct Tenant {
    pub id: TenantId,
    pub slug: String,
    pub name: String,
    pub timezone: TenantTz,
    pub business_hours: BusinessHours,
    pub policy: Policy,
    pub phone_numbers: Vec<String>,
    pub on_call_number: Option<String>,
    pub office_phone: Option<String>,
    pub branding: serde_json::Value,
    #[serde(skip)]
    pub twilio_account_sid: Option<String>,
    #[serde(skip)]
    pub twilio_auth_token: Option<String>,
    /// Signs customer portal tokens; never leaves the server.
    #[serde(skip)]
    pub portal_key: String,
}

#[derive(Debug, Clone)]
pub struct NewTenant {
    pub slug: String,
    pub name: String,
    pub timezone: TenantTz,
    pub business_hours: BusinessHours,
    pub policy: Policy,
    pub phone_numbers: Vec<String>,
    pub on_call_number: Option<String>,
    pub office_phone: Option<String>,
    pub branding: serde_json::Value,
}

#[derive(sqlx::FromRow)]
struct TenantRow {
    id: i64,
    slug: String,
    name: String,
    timezone: String,
    business_hours: String,
    policy: String,
    on_call_number: Option<String>,
    office_phone: Option<String>,
    branding: String,
    twilio_account_sid: Option<String>,
    twilio_auth_token: Option<String>,
    portal_key: String,
}

const TENANT_COLS: &str = "id, slug, name, timezone, business_hours, policy, on_call_number, office_phone, branding, twilio_account_sid, twilio_auth_token, portal_key";

impl TenantRow {
    fn into_tenant(self, phone_numbers: Vec<String>) -> StoreResult<Tenant> {
        Ok(Tenant {
            id: TenantId(self.id),
            timezone: TenantTz::parse(&self.timezone)
                .map_err(|e| StoreError::Corrupt(e.message))?,
            business_hours: json_col(&self.business_hours, "tenant business hours")?,
            policy: json_col(&self.policy, "tenant policy")?,
            branding: json_col(&self.branding, "tenant branding")?,
            slug: self.slug,
            name: self.name,
            phone_numbers,
            on_call_number: self.on_call_number,
            office_phone: self.office_phone,
            twilio_account_sid: self.twilio_account_sid,
            twilio_auth_token: self.twilio_auth_token,
            portal_key: self.portal_key,
        })
    }
}

impl Store {
    pub async fn insert_tenant(&self, t: &NewTenant, now: i64) -> StoreResult<TenantId> {
        let portal_key =
            crate::auth::generate_token().map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut tx = self.begin().await?;
        let id: i64 = with_conn!(tx, c => {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO tenants (slug, name, timezone, business_hours, policy, on_call_number, office_phone, branding, created_at, portal_key) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
            )
            .bind(&t.slug)
            .bind(&t.name)
            .bind(t.timezone.name())
            .bind(to_json(&t.business_hours))
            .bind(to_json(&t.policy))
            .bind(&t.on_call_number)
            .bind(&t.office_phone)
            .bind(to_json(&t.branding))
            .bind(now)
            .bind(&portal_key)
            .fetch_one(&mut *c)
            .await
            .map_err(|e| StoreError::on_unique(e, "tenant slug already exists"))?;
            for n in &t.phone_numbers {
                sqlx::query("INSERT INTO tenant_numbers (number, tenant_id) VALUES ($1, $2)")
                    .bind(n)
                    .bind(id)
                    .execute(&mut *c)
                    .await
                    .map_err(|e| StoreError::on_unique(e, "phone number already belongs to a tenant"))?;
            }
            id
        });
        tx.changed_static(id).await?;
        tx.commit().await?;
        Ok(TenantId(id))
    }

    async fn tenant_numbers(&self, id: i64) -> StoreResult<Vec<String>> {
        Ok(
            with_db!(self, pool => sqlx::query_scalar("SELECT number FROM tenant_numbers WHERE tenant_id = $1 ORDER BY number")
            .bind(id)
            .fetch_all(pool)
            .await?),
        )
    }

    async fn tenant_where(&self, clause: &str, arg: TenantKey<'_>) -> StoreResult<Option<Tenant>> {
        let sql = format!("SELECT {TENANT_COLS} FROM tenants WHERE {clause}");
        let row: Option<TenantRow> = with_db!(self, pool => {
            let q = sqlx::query_as::<_, TenantRow>(&sql);
            let q = match arg { TenantKey::Id(i) => q.bind(i), TenantKey::Text(s) => q.bind(s) };
            q.fetch_optional(pool).await?
        });
        match row {
            Some(r) => {
                let numbers = self.tenant_numbers(r.id).await?;
                Ok(Some(r.into_tenant(numbers)?))
            }
            None => Ok(None),
        }
    }

    /// A tenant by id (from this process's copy when it has a current one: `store::cache`).
    pub async fn tenant(&self, id: TenantId) -> StoreResult<Tenant> {
        if let Some(t) = self.hub.cache.tenant(id.0) {
            return Ok(Tenant::clone(&t));
        }
        let generation = self.hub.cache.begin_read();
        let t = self
            .tenant_where("id = $1", TenantKey::Id(id.0))
            .await?
            .ok_or(StoreError::NotFound)?;
        if let Some(g) = generation {
            self.hub.cache.keep_tenant(g, Arc::new(t.clone()));
        }
        Ok(t)
    }

    pub async fn tenant_by_slug(&self, slug: &str) -> StoreResult<Option<Tenant>> {
        self.tenant_where("slug = $1", TenantKey::Text(slug)).await
    }

    /// The tenant owning a phone number (the `To` of an inbound message).
    /// (From this process's copy when it has a current one: `store::cache`; a number that
    /// belongs to no tenant is asked of the database every time.)
    pub async fn tenant_by_number(&self, number: &str) -> StoreResult<Option<Tenant>> {
        if let Some(t) = self.hub.cache.tenant_by_number(number) {
            return Ok(Some(Tenant::clone(&t)));
        }
        let generation = self.hub.cache.begin_read();
        let t = self
            .tenant_where(
                "id = (SELECT tenant_id FROM tenant_numbers WHERE number = $1)",
                TenantKey::Text(number),
            )
            .await?;
        if let (Some(g), Some(t)) = (generation, &t) {
            self.hub.cache.keep_tenant(g, Arc::new(t.clone()));
        }
        Ok(t)
    }

    pub async fn list_tenants(&self) -> StoreResult<Vec<(TenantId, String)>> {
        let rows: Vec<(i64, String)> = with_db!(self, pool => sqlx::query_as("SELECT id, slug FROM tenants ORDER BY id")
            .fetch_all(pool)
            .await?);
        Ok(rows.into_iter().map(|(i, s)| (TenantId(i), s)).collect())
    }

    pub async fn update_policy(&self, id: TenantId, policy: &Policy) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        changed_some(
            with_conn!(tx, c => sqlx::query("UPDATE tenants SET policy = $1 WHERE id = $2")
            .bind(to_json(policy))
            .bind(id.0)
            .execute(&mut *c)
            .await?
            .rows_affected()),
        )?;
        tx.changed_static(id.0).await?;
        tx.commit().await
    }

    pub async fn set_twilio_credentials(
        &self,
        id: TenantId,
        account_sid: &str,
        auth_token: &str,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        with_conn!(tx, c => sqlx::query("UPDATE tenants SET twilio_account_sid = $1, twilio_auth_token = $2 WHERE id = $3")
            .bind(account_sid)
            .bind(auth_token)
            .bind(id.0)
            .execute(&mut *c)
            .await?.rows_affected());
        tx.changed_static(id.0).await?;
        tx.commit().await
    }
}

enum TenantKey<'a> {
    Id(i64),
    Text(&'a str),
}
