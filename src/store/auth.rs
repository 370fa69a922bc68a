//! Operator users and API tokens. Tokens are stored as SHA-256 hashes only; the plain token
//! is shown once, when it is created.

use serde::Serialize;

use super::{parse_col, with_db, with_writer, Store, StoreError, StoreResult};
use crate::auth::{generate_token, hash_token, looks_like_token, Principal};
use crate::domain::{Role, TenantId, TokenId, UserId};

#[derive(Debug, Clone, Serialize)]
pub struct OperatorUser {
    pub id: UserId,
    pub name: String,
    pub email: String,
    pub role: Role,
}

/// Who a valid token belongs to.
#[derive(Debug, Clone)]
pub struct TokenOwner {
    pub token_id: TokenId,
    pub tenant_id: TenantId,
    pub user_id: Option<UserId>,
    pub role: Role,
    /// Declared to verify its callers itself (an answering service): see `api_tokens`.
    pub verifies_callers: bool,
}

impl Store {
    pub async fn insert_operator_user(
        &self,
        tenant: TenantId,
        name: &str,
        email: &str,
        role: Role,
    ) -> StoreResult<UserId> {
        let id: i64 = with_writer!(self, pool => sqlx::query_scalar(
            "INSERT INTO operator_users (tenant_id, name, email, role) VALUES ($1, $2, $3, $4) RETURNING id")
            .bind(tenant.0).bind(name).bind(email).bind(role.as_str())
            .fetch_one(pool).await
            .map_err(|e| StoreError::on_unique(e, "an operator with this email exists"))?);
        Ok(UserId(id))
    }

    pub async fn operator_users(&self, tenant: TenantId) -> StoreResult<Vec<OperatorUser>> {
        let rows: Vec<(i64, String, String, String)> = with_db!(self, pool => sqlx::query_as(
            "SELECT id, name, email, role FROM operator_users WHERE tenant_id = $1 ORDER BY id")
            .bind(tenant.0).fetch_all(pool).await?);
        rows.into_iter()
            .map(|(id, name, email, role)| {
                Ok(OperatorUser {
                    id: UserId(id),
                    name,
                    email,
                    role: parse_col(&role, "role")?,
                })
            })
            .collect()
    }

    pub async fn insert_token(
        &self,
        tenant: TenantId,
        user: Option<UserId>,
        role: Role,
        label: &str,
        token_hash: &str,
        now: i64,
    ) -> StoreResult<TokenId> {
        self.insert_token_with(tenant, user, role, label, token_hash, false, now)
            .await
    }

    /// `insert_token`, saying whether the token verifies its callers.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_token_with(
        &self,
        tenant: TenantId,
        user: Option<UserId>,
        role: Role,
        label: &str,
        token_hash: &str,
        verifies_callers: bool,
        now: i64,
    ) -> StoreResult<TokenId> {
        let id: i64 = with_writer!(self, pool => sqlx::query_scalar(
            "INSERT INTO api_tokens (tenant_id, user_id, role, label, token_hash, created_at, verifies_callers) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id")
            .bind(tenant.0).bind(user.map(|u| u.0)).bind(role.as_str()).bind(label).bind(token_hash).bind(now).bind(verifies_callers)
            .fetch_one(pool).await
            .map_err(|e| StoreError::on_unique(e, "token already exists"))?);
        Ok(TokenId(id))
    }

    /// The owner of an unrevoked token with this hash.
    pub async fn token_owner(&self, token_hash: &str) -> StoreResult<Option<TokenOwner>> {
        let row: Option<(i64, i64, Option<i64>, String, bool)> = with_db!(self, pool => sqlx::query_as(
            "SELECT id, tenant_id, user_id, role, verifies_callers FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL")
            .bind(token_hash).fetch_optional(pool).await?);
        row.map(|(id, tenant, user, role, verifies_callers)| {
            Ok(TokenOwner {
                token_id: TokenId(id),
                tenant_id: TenantId(tenant),
                user_id: user.map(UserId),
                role: parse_col(&role, "role")?,
                verifies_callers,
            })
        })
        .transpose()
    }

    /// Create and store a token for a tenant; returns the plain token (the only time it
    /// exists).
    pub async fn create_token(
        &self,
        tenant: TenantId,
        user: Option<UserId>,
        role: Role,
        label: &str,
        now: i64,
    ) -> StoreResult<String> {
        self.create_token_with(tenant, user, role, label, false, now)
            .await
    }

    /// `create_token` for a token that may be declared to verify its callers itself (an
    /// answering service that checked who is calling; integration tokens only). Only such a
    /// token makes a phone on file count as verified in the messages API.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_token_with(
        &self,
        tenant: TenantId,
        user: Option<UserId>,
        role: Role,
        label: &str,
        verifies_callers: bool,
        now: i64,
    ) -> StoreResult<String> {
        if verifies_callers && role != Role::Integration {
            return Err(StoreError::Conflict(
                "only an integration token can be declared to verify its callers",
            ));
        }
        let token = generate_token().map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.insert_token_with(
            tenant,
            user,
            role,
            label,
            &hash_token(&token),
            verifies_callers,
            now,
        )
        .await?;
        Ok(token)
    }

    /// Who a presented token speaks for (`None`: malformed, unknown or revoked).
    pub async fn authenticate(&self, token: &str) -> StoreResult<Option<Principal>> {
        if !looks_like_token(token) {
            return Ok(None);
        }
        Ok(self
            .token_owner(&hash_token(token))
            .await?
            .map(|o| Principal {
                token_id: Some(o.token_id),
                tenant_id: o.tenant_id,
                user_id: o.user_id,
                role: o.role,
                verifies_callers: o.verifies_callers && o.role == Role::Integration,
            }))
    }

    pub async fn revoke_token(&self, id: TokenId, now: i64) -> StoreResult<()> {
        with_writer!(self, pool => sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2")
            .bind(now).bind(id.0).execute(pool).await?.rows_affected());
        Ok(())
    }
}
