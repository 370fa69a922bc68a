//! The customer portal API, with a signed customer token: who am I, report portal activity,
//! and chat with the agent over HTTP or a WebSocket. The agent sees the customer's recent
//! portal activity and starts out verified.

use axum::extract::ws::{Message as WsMessage, WebSocket};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::bearer;
use super::messages::MAX_TEXT_CHARS;
use super::{ApiJson, ApiWebSocket, AppState};
use crate::agent::{Caller, Inbound};
use crate::auth::portal::{self, PortalClaims};
use crate::domain::{Channel, PortalEventKind};
use crate::error::{ApiError, ApiResult};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/me", get(me))
        .route("/events", post(report_event))
        .route("/chat", post(chat).get(chat_ws))
}

pub struct PortalAuth(pub PortalClaims);

impl FromRequestParts<AppState> for PortalAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // Browsers cannot set headers on a WebSocket: accept `?token=` there too.
        let token = match bearer(parts) {
            Ok(t) => t.to_string(),
            Err(e) => parts
                .uri
                .query()
                .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("token=")))
                .map(str::to_string)
                .ok_or(e)?,
        };
        let claims = portal::peek(&token).ok_or(ApiError::Unauthorized)?;
        let tenant = state
            .store
            .tenant(claims.tenant)
            .await
            .map_err(|_| ApiError::Unauthorized)?;
        let claims = portal::verify(&tenant.portal_key, &token, state.clock.now().timestamp())
            .ok_or(ApiError::Unauthorized)?;
        state
            .store
            .customer(claims.tenant, claims.customer)
            .await
            .map_err(|_| ApiError::Unauthorized)?;
        Ok(PortalAuth(claims))
    }
}

async fn me(State(state): State<AppState>, PortalAuth(c): PortalAuth) -> ApiResult<Json<Value>> {
    let customer = state.store.customer(c.tenant, c.customer).await?;
    let properties = state.store.properties(c.tenant, c.customer).await?;
    Ok(Json(
        json!({ "customer": customer, "properties": properties }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PortalEventBody {
    kind: String,
    #[serde(default)]
    detail: Value,
}

async fn report_event(
    State(state): State<AppState>,
    PortalAuth(c): PortalAuth,
    ApiJson(body): ApiJson<PortalEventBody>,
) -> ApiResult<Json<Value>> {
    let kind: PortalEventKind = body.kind.parse()?;
    if !(body.detail.is_object() || body.detail.is_null()) {
        return Err(ApiError::bad_request(
            "invalid_detail",
            "`detail` must be an object",
        ));
    }
    let detail = if body.detail.is_null() {
        json!({})
    } else {
        crate::agent::builtin::mask_json(&body.detail)
    };
    let id = state
        .store
        .insert_portal_event(c.tenant, c.customer, kind, &detail, state.clock.now())
        .await?;
    Ok(Json(json!({ "id": id })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChatBody {
    text: String,
    client_message_id: Option<String>,
}

async fn run_chat(state: &AppState, c: PortalClaims, body: ChatBody) -> ApiResult<Value> {
    let text = super::required_text(&body.text, "text", MAX_TEXT_CHARS, "empty_text")?;
    let client_id = super::optional_id(
        body.client_message_id.as_deref(),
        "client_message_id",
        200,
        "invalid_client_message_id",
    )?;
    let out = state
        .agent
        .handle(Inbound {
            tenant: c.tenant,
            channel: Channel::Chat,
            participant: format!("portal:{}", c.customer),
            text: text.to_string(),
            external_id: client_id.map(|id| format!("portal:{}:{id}", c.customer)),
            media: vec![],
            caller: Caller::Portal(c.customer),
            reply_from: None,
        })
        .await?;
    Ok(
        json!({ "conversation_id": out.conversation_id, "reply": out.reply, "escalated": out.escalated, "duplicate": out.duplicate }),
    )
}

async fn chat(
    State(state): State<AppState>,
    PortalAuth(c): PortalAuth,
    ApiJson(body): ApiJson<ChatBody>,
) -> ApiResult<Json<Value>> {
    Ok(Json(run_chat(&state, c, body).await?))
}

async fn chat_ws(
    State(state): State<AppState>,
    PortalAuth(c): PortalAuth,
    ApiWebSocket(ws): ApiWebSocket,
) -> Response {
    ws.max_message_size(64 * 1024)
        .on_upgrade(move |socket| chat_socket(state, c, socket))
}

/// One JSON object per text frame each way: `{"text", "client_message_id"}` in,
/// `{"conversation_id", "reply", "escalated"}` or `{"error": {...}}` out.
async fn chat_socket(state: AppState, c: PortalClaims, mut socket: WebSocket) {
    while let Some(Ok(frame)) = socket.recv().await {
        let answer = match frame {
            WsMessage::Text(t) => {
                let body = serde_json::from_str::<Value>(t.as_str())
                    .map_err(|e| ApiError::bad_request("invalid_json", e.to_string()))
                    .and_then(super::parse_json::<ChatBody>);
                match body {
                    Ok(body) => match run_chat(&state, c, body).await {
                        Ok(v) => v,
                        Err(e) => ws_error(&e),
                    },
                    Err(e) => ws_error(&e),
                }
            }
            WsMessage::Close(_) => break,
            _ => continue,
        };
        if socket
            .send(WsMessage::Text(answer.to_string().into()))
            .await
            .is_err()
        {
            break;
        }
    }
}

/// An error as a WebSocket frame: the API's error shape, internal details only in the log.
fn ws_error(e: &ApiError) -> Value {
    if let ApiError::Internal(inner) = e {
        tracing::error!(error = ?inner, "internal error");
        return json!({ "error": { "code": e.code(), "message": "something went wrong on our side; it has been logged" } });
    }
    json!({ "error": { "code": e.code(), "message": e.to_string() } })
}
