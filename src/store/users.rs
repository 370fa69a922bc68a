//! Operator sign-in state: password hashes, server-side sessions (stored as SHA-256 of the
//! cookie value, revocable), and the failed sign-ins that throttle guessing.

use super::{changed_some, parse_col, with_db, with_writer, Store, StoreError, StoreResult};
use crate::domain::{Role, TenantId, UserId};

/// An operator user with what sign-in needs.
#[derive(Debug, Clone)]
pub struct UserCredentials {
    pub id: UserId,
    pub tenant_id: TenantId,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub password_hash: Option<String>,
}

/// A stored session, valid or not (the caller checks expiry).
#[derive(Debug, Clone)]
pub struct SessionRow {
    pub id: i64,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub role: Role,
    pub csrf_token: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

type UserTuple = (i64, i64, String, String, String, Option<String>);

fn user_from(t: UserTuple) -> StoreResult<UserCredentials> {
    Ok(UserCredentials {
        id: UserId(t.0),
        tenant_id: TenantId(t.1),
        name: t.2,
        email: t.3,
        role: parse_col(&t.4, "role")?,
        password_hash: t.5,
    })
}

impl Store {
    /// Operator users with this e-mail (case-insensitive), in any tenant.
    pub async fn users_by_email(&self, email: &str) -> StoreResult<Vec<UserCredentials>> {
        let rows: Vec<UserTuple> = with_db!(self, pool => sqlx::query_as(
            "SELECT id, tenant_id, name, email, role, password_hash FROM operator_users WHERE lower(email) = lower($1) ORDER BY id")
            .bind(email).fetch_all(pool).await?);
        rows.into_iter().map(user_from).collect()
    }

    pub async fn user_by_email(
        &self,
        tenant: TenantId,
        email: &str,
    ) -> StoreResult<UserCredentials> {
        let row: Option<UserTuple> = with_db!(self, pool => sqlx::query_as(
            "SELECT id, tenant_id, name, email, role, password_hash FROM operator_users WHERE tenant_id = $1 AND lower(email) = lower($2)")
            .bind(tenant.0).bind(email).fetch_optional(pool).await?);
        user_from(row.ok_or(StoreError::NotFound)?)
    }

    pub async fn user(&self, tenant: TenantId, id: UserId) -> StoreResult<UserCredentials> {
        let row: Option<UserTuple> = with_db!(self, pool => sqlx::query_as(
            "SELECT id, tenant_id, name, email, role, password_hash FROM operator_users WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.0).bind(id.0).fetch_optional(pool).await?);
        user_from(row.ok_or(StoreError::NotFound)?)
    }

    /// Set a user's password hash and revoke their sessions, in one transaction.
    pub async fn set_password_hash(
        &self,
        tenant: TenantId,
        user: UserId,
        hash: &str,
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        changed_some(super::with_conn!(tx, c => sqlx::query(
            "UPDATE operator_users SET password_hash = $1 WHERE tenant_id = $2 AND id = $3")
            .bind(hash).bind(tenant.0).bind(user.0).execute(&mut *c).await?.rows_affected()))?;
        super::with_conn!(tx, c => sqlx::query(
            "UPDATE operator_sessions SET revoked_at = $1 WHERE tenant_id = $2 AND user_id = $3 AND revoked_at IS NULL")
            .bind(now).bind(tenant.0).bind(user.0).execute(&mut *c).await?.rows_affected());
        tx.commit().await
    }

    pub async fn insert_session(
        &self,
        tenant: TenantId,
        user: UserId,
        token_hash: &str,
        csrf_token: &str,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<i64> {
        let id: i64 = with_writer!(self, pool => sqlx::query_scalar(
            "INSERT INTO operator_sessions (tenant_id, user_id, token_hash, csrf_token, created_at, last_seen_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $5, $6) RETURNING id")
            .bind(tenant.0).bind(user.0).bind(token_hash).bind(csrf_token).bind(now).bind(expires_at)
            .fetch_one(pool).await?);
        Ok(id)
    }

    /// The session with this cookie hash, with its user's current role.
    pub async fn session_by_hash(&self, token_hash: &str) -> StoreResult<Option<SessionRow>> {
        type Row = (i64, i64, i64, String, String, i64, i64, i64, Option<i64>);
        let row: Option<Row> = with_db!(self, pool => sqlx::query_as(
            "SELECT s.id, s.tenant_id, s.user_id, u.role, s.csrf_token, s.created_at, s.last_seen_at, s.expires_at, s.revoked_at \
             FROM operator_sessions s JOIN operator_users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id \
             WHERE s.token_hash = $1")
            .bind(token_hash).fetch_optional(pool).await?);
        row.map(|r| {
            Ok(SessionRow {
                id: r.0,
                tenant_id: TenantId(r.1),
                user_id: UserId(r.2),
                role: parse_col(&r.3, "role")?,
                csrf_token: r.4,
                created_at: r.5,
                last_seen_at: r.6,
                expires_at: r.7,
                revoked_at: r.8,
            })
        })
        .transpose()
    }

    /// Record activity on a session (extends its idle expiry).
    pub async fn touch_session(&self, tenant: TenantId, id: i64, now: i64) -> StoreResult<()> {
        with_writer!(self, pool => sqlx::query(
            "UPDATE operator_sessions SET last_seen_at = $1 WHERE tenant_id = $2 AND id = $3 AND last_seen_at < $1")
            .bind(now).bind(tenant.0).bind(id).execute(pool).await?.rows_affected());
        Ok(())
    }

    /// Revoke one session; true if it was live.
    pub async fn revoke_session(&self, tenant: TenantId, id: i64, now: i64) -> StoreResult<bool> {
        let n = with_writer!(self, pool => sqlx::query(
            "UPDATE operator_sessions SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL")
            .bind(now).bind(tenant.0).bind(id).execute(pool).await?.rows_affected());
        Ok(n > 0)
    }

    pub async fn record_sign_in_failure(&self, key: &str, now: i64) -> StoreResult<()> {
        with_writer!(self, pool => sqlx::query("INSERT INTO sign_in_failures (key, at) VALUES ($1, $2)")
            .bind(key).bind(now).execute(pool).await?.rows_affected());
        Ok(())
    }

    /// Failed sign-ins under this key since `since`.
    pub async fn sign_in_failures_since(&self, key: &str, since: i64) -> StoreResult<i64> {
        let n: i64 = with_db!(self, pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM sign_in_failures WHERE key = $1 AND at >= $2")
            .bind(key).bind(since).fetch_one(pool).await?);
        Ok(n)
    }

    /// Forget an account's failures after a successful sign-in.
    pub async fn clear_sign_in_failures(&self, key: &str) -> StoreResult<()> {
        with_writer!(self, pool => sqlx::query("DELETE FROM sign_in_failures WHERE key = $1")
            .bind(key).execute(pool).await?.rows_affected());
        Ok(())
    }
}
