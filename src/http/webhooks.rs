//! Webhook subscriptions (admin): `POST /webhooks` (`{url, kinds, secret?}`; the secret is
//! shown once), `GET /webhooks`, `DELETE /webhooks/{id}`, and `GET /webhooks/{id}/deliveries`
//! (the delivery log). Every event kind of the live stream can be subscribed; a CSR's reply
//! to an API conversation reaches the integration as `message.out`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::AdminAuth;
use super::{ApiJson, ApiPath, AppState};
use crate::error::{ApiError, ApiResult};
use crate::store::{Csr, EventKind, WebhookSubscription};

/// At most this many subscriptions per tenant.
const MAX_SUBSCRIPTIONS: usize = 20;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/webhooks", get(list).post(create))
        .route("/webhooks/{id}", delete(remove))
        .route("/webhooks/{id}/deliveries", get(deliveries))
}

fn view(s: &WebhookSubscription) -> Value {
    json!({ "id": s.id, "url": s.url, "kinds": s.kinds, "created_at": s.created_at })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewWebhook {
    url: String,
    kinds: Vec<String>,
    secret: Option<String>,
}

async fn create(
    State(state): State<AppState>,
    AdminAuth(who): AdminAuth,
    ApiJson(body): ApiJson<NewWebhook>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let url = body.url.trim();
    if url.is_empty() || url.len() > 2000 {
        return Err(ApiError::bad_request(
            "invalid_webhook_url",
            "`url` must be an http(s) URL of at most 2000 characters",
        ));
    }
    crate::webhooks::check_url(url, state.settings.webhook_allow_private)
        .await
        .map_err(|e| ApiError::bad_request("webhook_address_refused", e.to_string()))?;
    if body.kinds.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_webhook_kinds",
            "`kinds` must list at least one event kind",
        ));
    }
    let mut kinds = Vec::new();
    for k in &body.kinds {
        let kind = k.parse::<EventKind>().map_err(|()| {
            ApiError::bad_request("invalid_webhook_kinds", format!("unknown event kind `{k}`"))
        })?;
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    let secret = match body.secret {
        Some(s) if s.len() < 16 || s.len() > 200 => {
            return Err(ApiError::bad_request(
                "invalid_webhook_secret",
                "`secret` must be 16 to 200 characters",
            ))
        }
        Some(s) => s,
        None => crate::auth::generate_token().map_err(ApiError::Internal)?,
    };
    if state.store.webhooks(who.tenant_id).await?.len() >= MAX_SUBSCRIPTIONS {
        return Err(ApiError::refused(
            StatusCode::CONFLICT,
            "too_many_webhooks",
            format!("a tenant may have at most {MAX_SUBSCRIPTIONS} webhook subscriptions"),
        ));
    }
    let sub = state
        .store
        .create_webhook(
            who.tenant_id,
            &Csr::new(who.user_id, who.role),
            url,
            &secret,
            &kinds,
            state.clock.now(),
        )
        .await?;
    let mut out = view(&sub);
    out["secret"] = json!(secret);
    Ok((StatusCode::CREATED, Json(out)))
}

async fn list(State(state): State<AppState>, AdminAuth(who): AdminAuth) -> ApiResult<Json<Value>> {
    let subs = state.store.webhooks(who.tenant_id).await?;
    Ok(Json(
        json!({ "webhooks": subs.iter().map(view).collect::<Vec<_>>() }),
    ))
}

async fn remove(
    State(state): State<AppState>,
    AdminAuth(who): AdminAuth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    state
        .store
        .delete_webhook(
            who.tenant_id,
            &Csr::new(who.user_id, who.role),
            id,
            state.clock.now(),
        )
        .await
        .map_err(ApiError::from_store("webhook"))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn deliveries(
    State(state): State<AppState>,
    AdminAuth(who): AdminAuth,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Value>> {
    state
        .store
        .webhook(who.tenant_id, id)
        .await
        .map_err(ApiError::from_store("webhook"))?;
    let list = state
        .store
        .webhook_deliveries(who.tenant_id, id, 100)
        .await?;
    Ok(Json(json!({ "deliveries": list })))
}
