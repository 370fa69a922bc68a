//! Operator sign-in: `POST /api/v1/operator/session` (`{email, password[, tenant]}`) sets the
//! session cookie and returns the CSRF token; `GET` returns the signed-in user and the CSRF
//! token again; `DELETE` signs out (server-side). Wrong e-mail and wrong password answer the
//! same way; throttled attempts answer 429 `too_many_attempts`.

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{ClientAddress, SessionAuth};
use super::{ApiJson, AppState};
use crate::error::{ApiError, ApiResult};
use crate::operators::{self, SignInError, SESSION_ABSOLUTE_SECS, SESSION_COOKIE};
use crate::record::local;

pub fn router() -> Router<AppState> {
    Router::new().route("/session", post(sign_in).get(current).delete(sign_out))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    email: String,
    password: String,
    #[serde(default)]
    tenant: Option<String>,
}

fn cookie(state: &AppState, value: &str, max_age: i64) -> ApiResult<HeaderValue> {
    let secure = if state.settings.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .map_err(|e| ApiError::Internal(e.into()))
}

async fn sign_in(
    State(state): State<AppState>,
    ClientAddress(addr): ClientAddress,
    ApiJson(body): ApiJson<SignIn>,
) -> ApiResult<impl IntoResponse> {
    let now = state.clock.now();
    let out = operators::sign_in(
        &state.store,
        &body.email,
        &body.password,
        body.tenant.as_deref(),
        &addr,
        now,
    )
    .await
    .map_err(|e| match e {
        SignInError::Invalid => ApiError::refused(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "wrong e-mail or password",
        ),
        SignInError::Throttled => ApiError::refused(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            "too many failed sign-ins; try again later",
        ),
        SignInError::Store(s) => s.into(),
        SignInError::Internal(e) => ApiError::Internal(e),
    })?;
    let tenant = super::tenant_of(&state, out.user.tenant_id).await?;
    let mut headers = HeaderMap::new();
    headers.insert(
        SET_COOKIE,
        cookie(&state, &out.cookie_value, SESSION_ABSOLUTE_SECS)?,
    );
    Ok((
        StatusCode::CREATED,
        headers,
        Json(json!({
            "user": {
                "id": out.user.id,
                "name": out.user.name,
                "email": out.user.email,
                "role": out.user.role,
            },
            "tenant": tenant.slug,
            "csrf_token": out.csrf_token,
            "expires_at": local(tenant.timezone, crate::store::ts_pub(out.expires_at)),
        })),
    ))
}

async fn current(
    State(state): State<AppState>,
    SessionAuth(s): SessionAuth,
) -> ApiResult<Json<Value>> {
    let user = state
        .store
        .user(s.tenant_id, s.user_id)
        .await
        .map_err(|_| ApiError::Unauthorized)?;
    let tenant = super::tenant_of(&state, s.tenant_id).await?;
    Ok(Json(json!({
        "user": { "id": user.id, "name": user.name, "email": user.email, "role": user.role },
        "tenant": tenant.slug,
        "csrf_token": s.csrf_token,
        "expires_at": local(tenant.timezone, crate::store::ts_pub(s.expires_at)),
    })))
}

async fn sign_out(
    State(state): State<AppState>,
    SessionAuth(s): SessionAuth,
) -> ApiResult<impl IntoResponse> {
    operators::sign_out(&state.store, &s, state.clock.now()).await?;
    let mut headers = HeaderMap::new();
    headers.insert(SET_COOKIE, cookie(&state, "", 0)?);
    Ok((StatusCode::NO_CONTENT, headers))
}
