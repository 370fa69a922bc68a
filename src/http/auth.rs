//! Bearer-token extractors. A missing or unknown token is 401; a valid token with the wrong
//! role is 403. The tenant of every operator request comes from the token, never the URL.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::AppState;
use crate::auth::{authenticate, Principal};
use crate::error::ApiError;

/// A CSR or admin of one tenant.
pub struct OperatorAuth(pub Principal);

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

impl FromRequestParts<AppState> for OperatorAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?;
        let principal = authenticate(&state.store, token)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        if !principal.is_operator() {
            return Err(ApiError::Forbidden);
        }
        Ok(OperatorAuth(principal))
    }
}
