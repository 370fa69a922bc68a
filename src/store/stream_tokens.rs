//! Media Streams tokens: issued with the TwiML that opens a stream, used once by the
//! handshake. Only the SHA-256 hash of a token is stored.

use chrono::{DateTime, Utc};

use super::{with_db, with_writer, Store, StoreResult};
use crate::domain::TenantId;

/// Expired tokens are kept this long (for the log trail), then deleted when others are issued.
const KEEP_EXPIRED_SECS: i64 = 24 * 3600;

/// An issued stream token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamToken {
    pub tenant_id: TenantId,
    pub call_sid: String,
    pub expires_at: DateTime<Utc>,
    pub used: bool,
}

impl Store {
    pub async fn insert_stream_token(
        &self,
        tenant: TenantId,
        token_hash: &str,
        call_sid: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        with_writer!(self, pool => sqlx::query("DELETE FROM stream_tokens WHERE expires_at < $1")
            .bind(now.timestamp() - KEEP_EXPIRED_SECS)
            .execute(pool).await.map(|_| ()))?;
        with_writer!(self, pool => sqlx::query(
            "INSERT INTO stream_tokens (token_hash, tenant_id, call_sid, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(token_hash).bind(tenant.0).bind(call_sid).bind(expires_at.timestamp())
            .execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    pub async fn stream_token(&self, token_hash: &str) -> StoreResult<Option<StreamToken>> {
        let row: Option<(i64, String, i64, Option<i64>)> = with_db!(self, pool => sqlx::query_as(
            "SELECT tenant_id, call_sid, expires_at, used_at FROM stream_tokens WHERE token_hash = $1")
            .bind(token_hash).fetch_optional(pool).await)?;
        Ok(row.map(|(tenant, call_sid, expires, used)| StreamToken {
            tenant_id: TenantId(tenant),
            call_sid,
            expires_at: DateTime::from_timestamp(expires, 0).unwrap_or_default(),
            used: used.is_some(),
        }))
    }

    /// Mark a token used; `false` when it was already used or has expired (exactly one
    /// handshake can win).
    pub async fn use_stream_token(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let n = with_writer!(self, pool => sqlx::query(
            "UPDATE stream_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1")
            .bind(now.timestamp()).bind(token_hash)
            .execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }
}
