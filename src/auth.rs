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

/// Customer portal tokens: `fdp.<tenant>.<customer>.<expiry unix>.<hex HMAC-SHA256>`, signed
/// with the tenant's portal key. Stateless, so any instance can check them.
pub mod portal {
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    use crate::domain::{CustomerId, TenantId};

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct PortalClaims {
        pub tenant: TenantId,
        pub customer: CustomerId,
        pub expires_at: i64,
    }

    fn mac(key: &str, payload: &str) -> Option<Hmac<Sha256>> {
        let mut m = Hmac::<Sha256>::new_from_slice(key.as_bytes()).ok()?;
        m.update(payload.as_bytes());
        Some(m)
    }

    pub fn sign(key: &str, claims: PortalClaims) -> String {
        let payload = format!(
            "fdp.{}.{}.{}",
            claims.tenant, claims.customer, claims.expires_at
        );
        let sig = mac(key, &payload)
            .map(|m| super::hex(&m.finalize().into_bytes()))
            .unwrap_or_default();
        format!("{payload}.{sig}")
    }

    /// The claims a token carries, without checking it (to find the tenant's key).
    pub fn peek(token: &str) -> Option<PortalClaims> {
        let mut parts = token.split('.');
        if parts.next()? != "fdp" {
            return None;
        }
        let tenant = TenantId(parts.next()?.parse().ok()?);
        let customer = CustomerId(parts.next()?.parse().ok()?);
        let expires_at = parts.next()?.parse().ok()?;
        parts.next()?;
        if parts.next().is_some() {
            return None;
        }
        Some(PortalClaims {
            tenant,
            customer,
            expires_at,
        })
    }

    /// Check signature (constant time) and expiry.
    pub fn verify(key: &str, token: &str, now: i64) -> Option<PortalClaims> {
        let claims = peek(token)?;
        let (payload, sig_hex) = token.rsplit_once('.')?;
        let sig: Vec<u8> = (0..sig_hex.len() / 2)
            .map(|i| u8::from_str_radix(sig_hex.get(2 * i..2 * i + 2)?, 16).ok())
            .collect::<Option<_>>()?;
        mac(key, payload)?.verify_slice(&sig).ok()?;
        (claims.expires_at > now).then_some(claims)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn round_trip_tamper_and_expiry() {
            let c = PortalClaims {
                tenant: TenantId(1),
                customer: CustomerId(42),
                expires_at: 2_000,
            };
            let t = sign("k1", c);
            assert_eq!(verify("k1", &t, 1_000), Some(c));
            assert_eq!(verify("k2", &t, 1_000), None, "other key");
            assert_eq!(verify("k1", &t, 2_000), None, "expired");
            let forged = t.replace("fdp.1.42.", "fdp.1.43.");
            assert_eq!(verify("k1", &forged, 1_000), None, "changed customer");
            for bad in [
                "",
                "fdp",
                "fdp.1.2.3",
                "fdp.x.2.3.aa",
                "fdp.1.2.3.zz",
                "fdp.1.2.3.ab.cd",
            ] {
                assert_eq!(verify("k1", bad, 0), None, "{bad}");
            }
        }
    }
}
