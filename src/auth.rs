//! Credentials: operator/integration API tokens (random, shown once, stored as SHA-256) and
//! the role checks on them. The HTTP extractor that reads the bearer header lives in
//! `http::auth`; this module does no IO beyond the store.

use sha2::{Digest, Sha256};

use crate::domain::{Role, TenantId, UserId};
use crate::store::{Store, StoreResult};

/// A new random API token: `fd_` + 64 hex characters (256 bits).
pub fn generate_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness available: {e}"))?;
    Ok(format!("fd_{}", hex(&bytes)))
}

pub fn hash_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

/// Create and store a token for a tenant; returns the plain token (the only time it exists).
pub async fn create_token(
    store: &Store,
    tenant: TenantId,
    user: Option<UserId>,
    role: Role,
    label: &str,
    now: i64,
) -> anyhow::Result<String> {
    let token = generate_token()?;
    store
        .insert_token(tenant, user, role, label, &hash_token(&token), now)
        .await?;
    Ok(token)
}

/// Who is calling, once a token checked out.
#[derive(Debug, Clone)]
pub struct Principal {
    pub tenant_id: TenantId,
    pub user_id: Option<UserId>,
    pub role: Role,
}

impl Principal {
    pub fn is_operator(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Csr)
    }
}

pub async fn authenticate(store: &Store, token: &str) -> StoreResult<Option<Principal>> {
    if !token.starts_with("fd_") || token.len() != 67 {
        return Ok(None);
    }
    Ok(store
        .token_owner(&hash_token(token))
        .await?
        .map(|o| Principal {
            tenant_id: o.tenant_id,
            user_id: o.user_id,
            role: o.role,
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashes_stable() {
        let a = generate_token().expect("token");
        let b = generate_token().expect("token");
        assert_ne!(a, b);
        assert_eq!(a.len(), 67);
        assert_eq!(
            hash_token("x"),
            "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
        );
    }
}
