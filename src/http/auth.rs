//! Bearer-token extractors. A missing or unknown token is 401; a valid token with the wrong
//! role is 403. The tenant of every operator request comes from the token, never the URL.

use axum::extract::FromRequestParts;
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
