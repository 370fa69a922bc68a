//! Credentials: operator/integration API tokens (random, shown once, stored as SHA-256),
//! who a checked token speaks for (`Principal`), and signed portal tokens. No IO: the store
//! keeps tokens (`Store::create_token`, `Store::authenticate`), and the HTTP extractor that
//! reads the bearer header lives in `http::auth`.

use sha2::{Digest, Sha256};

use crate::domain::{Role, TenantId, TokenId, UserId};

/// A new random API token: `fd_` + 64 hex characters (256 bits).
pub fn generate_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness available: {e}"))?;
    Ok(format!("fd_{}", hex(&bytes)))
}

/// Compare a presented secret with the expected one without a timing signal on where they
/// differ (both are hashed first, so lengths do not leak either).
pub fn same_secret(given: &str, expected: &str) -> bool {
    let a = Sha256::digest(given.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
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

/// Who is calling, once a token checked out.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The API token used; `None` for a signed-in person (session cookie).
    pub token_id: Option<TokenId>,
    pub tenant_id: TenantId,
    pub user_id: Option<UserId>,
    pub role: Role,
    /// The token was declared to verify its callers (integration tokens only).
    pub verifies_callers: bool,
}

impl Principal {
    pub fn is_operator(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Csr)
    }
}

/// Whether a presented bearer value has the shape [`generate_token`] gives (checked before
/// any lookup).
pub fn looks_like_token(token: &str) -> bool {
    token.starts_with("fd_") && token.len() == 67
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

    /// A claim field: plain decimal digits only (no sign, no spaces), as `sign` writes it.
    fn number(s: &str) -> Option<i64> {
        if s.is_empty() || s.len() > 18 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    }

    /// Length of the hex signature: HMAC-SHA256 is 32 bytes.
    const SIG_HEX_LEN: usize = 64;

    /// The claims a token carries, without checking it (to find the tenant's key). The whole
    /// token must have exactly the shape `sign` writes, signature included.
    pub fn peek(token: &str) -> Option<PortalClaims> {
        let mut parts = token.split('.');
        if parts.next()? != "fdp" {
            return None;
        }
        let tenant = TenantId(number(parts.next()?)?);
        let customer = CustomerId(number(parts.next()?)?);
        let expires_at = number(parts.next()?)?;
        let sig = parts.next()?;
        if parts.next().is_some()
            || sig.len() != SIG_HEX_LEN
            || !sig.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return None;
        }
        Some(PortalClaims {
            tenant,
            customer,
            expires_at,
        })
    }

    /// Check the whole signature (constant time) over the exact payload, and expiry.
    pub fn verify(key: &str, token: &str, now: i64) -> Option<PortalClaims> {
        let claims = peek(token)?;
        let (payload, sig_hex) = token.rsplit_once('.')?;
        let sig: Vec<u8> = (0..SIG_HEX_LEN / 2)
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
                "fdp.+1.42.2000.00",
                "fdp.1.2.3",
                "fdp.x.2.3.aa",
                "fdp.1.2.3.zz",
                "fdp.1.2.3.ab.cd",
            ] {
                assert_eq!(verify("k1", bad, 0), None, "{bad}");
            }
        }

        #[test]
        fn finding_16_nothing_may_be_appended_or_changed() {
            let c = PortalClaims {
                tenant: TenantId(1),
                customer: CustomerId(42),
                expires_at: 2_000,
            };
            let t = sign("k1", c);
            assert_eq!(verify("k1", &t, 1_000), Some(c));
            for suffix in ["0", "a", "f", "00", "0a", "x", ".", "=", " ", "\u{0}"] {
                let bad = format!("{t}{suffix}");
                assert_eq!(verify("k1", &bad, 1_000), None, "appended {suffix:?}");
            }
            let mut short = t.clone();
            short.pop();
            assert_eq!(verify("k1", &short, 1_000), None, "one character short");
            let (payload, sig) = t.rsplit_once('.').expect("signed");
            let upper = format!("{payload}.{}", sig.to_uppercase());
            assert_eq!(verify("k1", &upper, 1_000), None, "upper-case signature");
            for (from, to) in [("fdp.1.", "fdp.01."), ("fdp.1.42.", "fdp.1.+42.")] {
                let bad = t.replacen(from, to, 1);
                assert_eq!(verify("k1", &bad, 1_000), None, "{bad}");
            }
        }
    }
}
