//! Sign-in, sessions and the demo operators' passwords.
//!
//! - A session is a random cookie value; only its SHA-256 is stored, with a CSRF token, an
//!   idle expiry (`SESSION_IDLE_SECS` since the last request) and an absolute one
//!   (`SESSION_ABSOLUTE_SECS` since sign-in). Signing out, changing the password or
//!   revocation ends it server-side.
//! - Failed sign-ins are counted per account (the e-mail as typed, known or not) and per
//!   client address over `THROTTLE_WINDOW_SECS`; past the limit every attempt is refused
//!   the same way, right password or not. An unknown e-mail is checked against a decoy
//!   hash, so it answers like a wrong password, in about the same time.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::password::{decoy_hash, generate_password, hash_password, verify_password};
use crate::auth::{generate_token, hash_token};
use crate::domain::{Role, TenantId, UserId};
use crate::store::{NewAudit, SessionRow, Store, StoreError, UserCredentials};

pub const SESSION_IDLE_SECS: i64 = 60 * 60;
pub const SESSION_ABSOLUTE_SECS: i64 = 12 * 60 * 60;
pub const THROTTLE_WINDOW_SECS: i64 = 15 * 60;
/// Failed sign-ins per account within the window before it is throttled.
pub const ACCOUNT_FAILURE_LIMIT: i64 = 5;
/// Failed sign-ins per client address within the window before it is throttled.
pub const ADDRESS_FAILURE_LIMIT: i64 = 20;
/// The cookie carrying the session.
pub const SESSION_COOKIE: &str = "fd_session";

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("wrong e-mail or password")]
    Invalid,
    #[error("too many failed sign-ins; try again later")]
    Throttled,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// A new session: the cookie value (shown once) and what the console needs.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub cookie_value: String,
    pub csrf_token: String,
    pub session_id: i64,
    pub user: UserCredentials,
    pub expires_at: i64,
}

/// A live session after a request checked it.
#[derive(Debug, Clone)]
pub struct LiveSession {
    pub id: i64,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub role: Role,
    pub csrf_token: String,
    /// When it ends at the latest (absolute expiry).
    pub expires_at: i64,
}

fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

fn account_key(email: &str) -> String {
    format!("account:{}", normalize_email(email))
}

fn address_key(address: &str) -> String {
    format!("address:{address}")
}

fn audit_entry(user: &UserCredentials, action: &str, note: Option<String>) -> NewAudit {
    NewAudit {
        actor: format!("user:{}", user.id),
        actor_role: user.role.to_string(),
        action: action.into(),
        target_kind: "user".into(),
        target_id: Some(user.id.to_string()),
        before: None,
        after: None,
        note,
    }
}

/// Check an e-mail and password; on success open a session. `tenant` (a slug) narrows the
/// account when one e-mail is an operator of several tenants; without it the first tenant
/// whose password matches wins.
pub async fn sign_in(
    store: &Store,
    email: &str,
    password: &str,
    tenant: Option<&str>,
    address: &str,
    now: DateTime<Utc>,
) -> Result<SignedIn, SignInError> {
    let at = now.timestamp();
    let since = at - THROTTLE_WINDOW_SECS;
    let account = account_key(email);
    let addr = address_key(address);
    let mut candidates = store.users_by_email(&normalize_email(email)).await?;
    if let Some(slug) = tenant {
        let t = store.tenant_by_slug(slug).await?;
        candidates.retain(|u| t.as_ref().is_some_and(|t| t.id == u.tenant_id));
    }
    if store.sign_in_failures_since(&account, since).await? >= ACCOUNT_FAILURE_LIMIT
        || store.sign_in_failures_since(&addr, since).await? >= ADDRESS_FAILURE_LIMIT
    {
        // Still hash, so a throttled answer takes as long as any other.
        verify_password(password, decoy_hash());
        for u in &candidates {
            store
                .audit(
                    u.tenant_id,
                    &audit_entry(u, "session.sign_in_throttled", Some(address.into())),
                    now,
                )
                .await?;
        }
        return Err(SignInError::Throttled);
    }
    let mut matched = None;
    let mut checked = false;
    for u in &candidates {
        if let Some(h) = &u.password_hash {
            checked = true;
            if verify_password(password, h) {
                matched = Some(u.clone());
                break;
            }
        }
    }
    if !checked {
        verify_password(password, decoy_hash());
    }
    let Some(user) = matched else {
        store.record_sign_in_failure(&account, at).await?;
        store.record_sign_in_failure(&addr, at).await?;
        for u in &candidates {
            store
                .audit(
                    u.tenant_id,
                    &audit_entry(u, "session.sign_in_failed", Some(address.into())),
                    now,
                )
                .await?;
        }
        return Err(SignInError::Invalid);
    };
    store.clear_sign_in_failures(&account).await?;
    let cookie_value = generate_token()?;
    let csrf_token = generate_token()?;
    let expires_at = at + SESSION_ABSOLUTE_SECS;
    let session_id = store
        .insert_session(
            user.tenant_id,
            user.id,
            &hash_token(&cookie_value),
            &csrf_token,
            at,
            expires_at,
        )
        .await?;
    let mut entry = audit_entry(&user, "session.sign_in", Some(address.into()));
    entry.after = Some(json!({ "session_id": session_id }));
    store.audit(user.tenant_id, &entry, now).await?;
    Ok(SignedIn {
        cookie_value,
        csrf_token,
        session_id,
        user,
        expires_at,
    })
}

/// The live session behind a cookie value, or `None` when it is unknown, revoked, idle too
/// long or past its absolute expiry. A live session's idle clock restarts.
pub async fn check_session(
    store: &Store,
    cookie_value: &str,
    now: DateTime<Utc>,
) -> Result<Option<LiveSession>, StoreError> {
    if !cookie_value.starts_with("fd_") || cookie_value.len() != 67 {
        return Ok(None);
    }
    let Some(s): Option<SessionRow> = store.session_by_hash(&hash_token(cookie_value)).await?
    else {
        return Ok(None);
    };
    let at = now.timestamp();
    if s.revoked_at.is_some() || at >= s.expires_at || at - s.last_seen_at >= SESSION_IDLE_SECS {
        return Ok(None);
    }
    store.touch_session(s.tenant_id, s.id, at).await?;
    Ok(Some(LiveSession {
        id: s.id,
        tenant_id: s.tenant_id,
        user_id: s.user_id,
        role: s.role,
        csrf_token: s.csrf_token,
        expires_at: s.expires_at.min(at + SESSION_IDLE_SECS),
    }))
}

/// End a session (sign out).
pub async fn sign_out(
    store: &Store,
    s: &LiveSession,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    store
        .revoke_session(s.tenant_id, s.id, now.timestamp())
        .await?;
    store
        .audit(
            s.tenant_id,
            &NewAudit {
                actor: format!("user:{}", s.user_id),
                actor_role: s.role.to_string(),
                action: "session.sign_out".into(),
                target_kind: "user".into(),
                target_id: Some(s.user_id.to_string()),
                before: Some(json!({ "session_id": s.id })),
                ..NewAudit::default()
            },
            now,
        )
        .await?;
    Ok(())
}

/// Set a user's password (checked and hashed here); their sessions are revoked.
pub async fn set_password(
    store: &Store,
    tenant: TenantId,
    email: &str,
    password: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<UserCredentials> {
    super::password::check_new_password(password)?;
    let user = store
        .user_by_email(tenant, &normalize_email(email))
        .await
        .map_err(|e| match e {
            StoreError::NotFound => {
                anyhow::anyhow!("no operator with e-mail `{email}` in this tenant")
            }
            other => other.into(),
        })?;
    store
        .set_password_hash(tenant, user.id, &hash_password(password)?, now.timestamp())
        .await?;
    store
        .audit(
            tenant,
            &NewAudit {
                actor: actor.into(),
                actor_role: "admin".into(),
                action: "user.password_set".into(),
                target_kind: "user".into(),
                target_id: Some(user.id.to_string()),
                ..NewAudit::default()
            },
            now,
        )
        .await?;
    Ok(user)
}

/// Add an operator user (without a password: set one with [`set_password`]).
pub async fn add_user(
    store: &Store,
    tenant: TenantId,
    email: &str,
    name: &str,
    role: Role,
    actor: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<UserId> {
    let email = normalize_email(email);
    if !email.contains('@') || email.len() > 254 {
        anyhow::bail!("`{email}` is not an e-mail address");
    }
    if role == Role::Integration {
        anyhow::bail!("operator users are admin or csr; integrations use API tokens");
    }
    let id = store
        .insert_operator_user(tenant, name.trim(), &email, role)
        .await?;
    store
        .audit(
            tenant,
            &NewAudit {
                actor: actor.into(),
                actor_role: "admin".into(),
                action: "user.add".into(),
                target_kind: "user".into(),
                target_id: Some(id.to_string()),
                after: Some(json!({ "email": email, "name": name.trim(), "role": role })),
                ..NewAudit::default()
            },
            now,
        )
        .await?;
    Ok(id)
}

/// First start of the demo: give each operator of the tenant without a password a random
/// one, and return them (e-mail, password) to print once.
pub async fn demo_passwords(
    store: &Store,
    tenant: TenantId,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for u in store.operator_users(tenant).await? {
        let creds = store.user(tenant, u.id).await?;
        if creds.password_hash.is_some() {
            continue;
        }
        let password = generate_password()?;
        set_password(
            store,
            tenant,
            &u.email,
            &password,
            "system:first-start",
            now,
        )
        .await?;
        out.push((u.email, password));
    }
    Ok(out)
}
