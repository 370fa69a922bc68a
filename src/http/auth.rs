//! Who is calling, checked in the handler's type. Operators come with a bearer API token or
//! with the session cookie of a signed-in user; a cookie-authenticated write must also carry
//! the session's CSRF token in `x-csrf-token`. A missing or unknown credential is 401; a
//! valid one with the wrong role is 403. The tenant comes from the credential, never the URL.
//!
//! | extractor | roles |
//! |---|---|
//! | [`AdminAuth`] | admin |
//! | [`OperatorAuth`] | admin, csr |
//! | [`ReaderAuth`] | admin, csr, integration (read-only feeds such as events) |
//! | [`SessionAuth`] | a signed-in user's live session (cookie only) |
//!
//! Integrations' own routes use `messages::IntegrationAuth`; customers' use `PortalAuth`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use subtle::ConstantTimeEq;

use super::AppState;
use crate::auth::Principal;
use crate::domain::Role;
use crate::error::ApiError;
use crate::operators::{check_session, LiveSession, SESSION_COOKIE};

/// A CSR or admin of one tenant.
pub struct OperatorAuth(pub Principal);

/// An admin of one tenant.
pub struct AdminAuth(pub Principal);

/// An operator or an integration token (read-only feeds).
pub struct ReaderAuth(pub Principal);

/// The caller's live cookie session.
pub struct SessionAuth(pub LiveSession);

pub(crate) fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or(ApiError::Unauthorized)?;
    let value = value.to_str().map_err(|_| ApiError::Unauthorized)?;
    let (scheme, token) = value.split_once(' ').ok_or(ApiError::Unauthorized)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::Unauthorized);
    }
    Ok(token.trim())
}

/// Who may read `GET /metrics`: with `FRONTDESK_METRICS_TOKEN` set, a request bearing that
/// token (wrong or missing: 401); without it, only a loopback peer (anyone else: 403). Behind
/// a reverse proxy on the same host every peer is loopback: set the token there.
pub struct MetricsAuth;

impl FromRequestParts<AppState> for MetricsAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match &state.settings.metrics_token {
            Some(expected) => {
                let given = bearer(parts)?;
                if crate::auth::same_secret(given, expected.expose()) {
                    Ok(MetricsAuth)
                } else {
                    Err(ApiError::Unauthorized)
                }
            }
            None => {
                let loopback = parts
                    .extensions
                    .get::<ConnectInfo<SocketAddr>>()
                    .is_some_and(|ConnectInfo(peer)| peer.ip().is_loopback());
                if loopback {
                    Ok(MetricsAuth)
                } else {
                    Err(ApiError::Forbidden)
                }
            }
        }
    }
}

/// The session cookie's value, if the request has one.
pub(crate) fn session_cookie(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.trim())
}

fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

async fn live_session(parts: &Parts, state: &AppState) -> Result<LiveSession, ApiError> {
    let cookie = session_cookie(parts).ok_or(ApiError::Unauthorized)?;
    let s = check_session(&state.store, cookie, state.clock.now())
        .await?
        .ok_or(ApiError::Unauthorized)?;
    if is_write(&parts.method) {
        let sent = parts
            .headers
            .get("x-csrf-token")
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if !bool::from(sent.ct_eq(s.csrf_token.as_bytes())) {
            return Err(ApiError::refused(
                StatusCode::FORBIDDEN,
                "csrf_token_invalid",
                "a signed-in write needs the session's `x-csrf-token` header",
            ));
        }
    }
    Ok(s)
}

/// The caller, by bearer token when an `authorization` header is present, else by session.
pub(crate) async fn caller(parts: &Parts, state: &AppState) -> Result<Principal, ApiError> {
    if parts.headers.contains_key(AUTHORIZATION) {
        return state
            .store
            .authenticate(bearer(parts)?)
            .await?
            .ok_or(ApiError::Unauthorized);
    }
    let s = live_session(parts, state).await?;
    Ok(Principal {
        token_id: None,
        tenant_id: s.tenant_id,
        user_id: Some(s.user_id),
        role: s.role,
        verifies_callers: false,
    })
}

async fn with_roles(
    parts: &Parts,
    state: &AppState,
    roles: &[Role],
) -> Result<Principal, ApiError> {
    let p = caller(parts, state).await?;
    if !roles.contains(&p.role) {
        return Err(ApiError::Forbidden);
    }
    Ok(p)
}

impl FromRequestParts<AppState> for OperatorAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        with_roles(parts, state, &[Role::Admin, Role::Csr])
            .await
            .map(OperatorAuth)
    }
}

impl FromRequestParts<AppState> for AdminAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        with_roles(parts, state, &[Role::Admin])
            .await
            .map(AdminAuth)
    }
}

impl FromRequestParts<AppState> for ReaderAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        with_roles(parts, state, &[Role::Admin, Role::Csr, Role::Integration])
            .await
            .map(ReaderAuth)
    }
}

impl FromRequestParts<AppState> for SessionAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        live_session(parts, state).await.map(SessionAuth)
    }
}

/// The client's address as the socket saw it, for per-address limits and the audit log.
pub struct ClientAddress(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(client_address(parts)))
    }
}

/// The client's address as the socket saw it (`unknown` when not served over a socket).
pub(crate) fn client_address(parts: &Parts) -> String {
    parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}
