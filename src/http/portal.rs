//! The customer portal API, with a signed customer token: who am I, report portal activity,
//! and chat with the agent over HTTP or a WebSocket. The agent sees the customer's recent
//! portal activity and starts out verified. A CSR's replies reach an open chat WebSocket
//! live (fed from the tenant's event stream) and `GET /chat/messages` when the customer
//! comes back.

use axum::extract::ws::{Message as WsMessage, WebSocket};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{bearer, ClientAddress};
use super::messages::MAX_TEXT_CHARS;
use super::{ApiJson, ApiWebSocket, AppState};
use crate::agent::{Caller, Inbound};
use crate::auth::portal::{self, PortalClaims};
use crate::domain::{Channel, ConversationId, Direction, PortalEventKind};
use crate::error::{ApiError, ApiResult};
use crate::store::EventKind;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/me", get(me))
        .route("/events", post(report_event))
        .route("/chat", post(chat).get(chat_ws))
        .route("/chat/messages", get(chat_messages))
}

pub struct PortalAuth(pub PortalClaims);

/// The portal pages' session cookie: the same signed token as the API's bearer token.
pub const PORTAL_COOKIE: &str = "fd_portal";

/// The portal pages' cookie, if the request carries a non-empty one.
pub(super) fn cookie_token(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == PORTAL_COOKIE)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The token of a portal request: bearer header, else the pages' cookie (writes then need
/// the page's `x-csrf-token`), else `?token=` (browsers cannot set headers on a WebSocket).
fn portal_token(parts: &Parts) -> Result<(String, bool), ApiError> {
    if let Ok(t) = bearer(parts) {
        return Ok((t.to_string(), false));
    }
    if let Some(c) = cookie_token(parts) {
        return Ok((c, true));
    }
    parts
        .uri
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("token=")))
        .map(|t| (t.to_string(), false))
        .ok_or(ApiError::Unauthorized)
}

/// The CSRF token of a portal cookie session: derived from the session token, so any
/// instance can check it without storing it.
pub fn portal_csrf(portal_key: &str, token: &str) -> String {
    crate::auth::hash_token(&format!("csrf:{portal_key}:{token}"))[..32].to_string()
}

/// The claims of a checked portal token (signature, expiry, customer still on file).
pub(crate) async fn check_portal_token(
    state: &AppState,
    token: &str,
) -> ApiResult<(PortalClaims, String)> {
    let claims = portal::peek(token).ok_or(ApiError::Unauthorized)?;
    let tenant = state
        .store
        .tenant(claims.tenant)
        .await
        .map_err(|_| ApiError::Unauthorized)?;
    let claims = portal::verify(&tenant.portal_key, token, state.clock.now().timestamp())
        .ok_or(ApiError::Unauthorized)?;
    state
        .store
        .customer(claims.tenant, claims.customer)
        .await
        .map_err(|_| ApiError::Unauthorized)?;
    Ok((claims, tenant.portal_key))
}

impl FromRequestParts<AppState> for PortalAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let (token, by_cookie) = portal_token(parts)?;
        let (claims, key) = check_portal_token(state, &token).await?;
        if by_cookie
            && !matches!(
                parts.method,
                axum::http::Method::GET | axum::http::Method::HEAD
            )
        {
            let sent = parts
                .headers
                .get("x-csrf-token")
                .map(|v| v.as_bytes())
                .unwrap_or_default();
            let expected = portal_csrf(&key, &token);
            if !crate::auth::same_secret(&String::from_utf8_lossy(sent), &expected) {
                return Err(ApiError::refused(
                    axum::http::StatusCode::FORBIDDEN,
                    "csrf_token_invalid",
                    "a signed-in write needs the page's `x-csrf-token` header",
                ));
            }
        }
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
    // Payments, signatures, reschedules and sign-ins are recorded by the server when they
    // happen; a browser can only truthfully say what it showed.
    if !matches!(
        kind,
        PortalEventKind::InvoiceViewed | PortalEventKind::ChatOpened
    ) {
        return Err(ApiError::bad_request(
            "event_kind_not_reportable",
            format!(
                "`{kind}` is recorded by the server when it happens; report only `invoice_viewed` or `chat_opened`"
            ),
        ));
    }
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

async fn run_chat(
    state: &AppState,
    c: PortalClaims,
    address: &str,
    body: ChatBody,
) -> ApiResult<Value> {
    state
        .limits
        .portal_chat_per_customer
        .check(&format!("{}:{}", c.tenant, c.customer))?;
    state.limits.portal_chat_per_address.check(address)?;
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

/// Who wrote a message, as the customer sees it: never a CSR's user id.
fn public_author(direction: Direction, author: &str) -> &'static str {
    match direction {
        Direction::Inbound => "customer",
        Direction::Outbound if author == "agent" => "agent",
        Direction::Outbound => "staff",
    }
}

/// The customer's portal chat as they see it: their messages and the company's replies
/// (no tool calls, notes or anything internal).
pub(super) async fn chat_messages(
    State(state): State<AppState>,
    PortalAuth(c): PortalAuth,
) -> ApiResult<Json<Value>> {
    let Some(conv) = state
        .store
        .portal_chat_conversation(c.tenant, c.customer)
        .await?
    else {
        return Ok(Json(json!({ "conversation_id": null, "messages": [] })));
    };
    let tz = state.store.tenant(c.tenant).await?.timezone;
    let messages: Vec<Value> = state
        .store
        .messages(c.tenant, conv.id)
        .await?
        .into_iter()
        .map(|m| {
            json!({
                "id": m.id,
                "direction": m.direction,
                "author": public_author(m.direction, &m.author),
                "text": m.text,
                "at": crate::record::local(tz, m.at),
            })
        })
        .collect();
    Ok(Json(
        json!({ "conversation_id": conv.id, "status": conv.status, "messages": messages }),
    ))
}

async fn chat(
    State(state): State<AppState>,
    PortalAuth(c): PortalAuth,
    ClientAddress(address): ClientAddress,
    ApiJson(body): ApiJson<ChatBody>,
) -> ApiResult<Json<Value>> {
    Ok(Json(run_chat(&state, c, &address, body).await?))
}

async fn chat_ws(
    State(state): State<AppState>,
    PortalAuth(c): PortalAuth,
    ClientAddress(address): ClientAddress,
    ApiWebSocket(ws): ApiWebSocket,
) -> Response {
    ws.max_message_size(64 * 1024)
        .on_upgrade(move |socket| chat_socket(state, c, address, socket))
}

/// One JSON object per text frame each way: `{"text", "client_message_id"}` in,
/// `{"conversation_id", "reply", "escalated"}` or `{"error": {...}}` out.
async fn chat_socket(state: AppState, c: PortalClaims, address: String, mut socket: WebSocket) {
    let mut live = match LiveReplies::start(&state, c).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "portal chat could not follow events");
            return;
        }
    };
    loop {
        let frame = tokio::select! {
            frame = socket.recv() => frame,
            () = live.changed() => {
                for frame in live.take(&state).await {
                    if socket.send(WsMessage::Text(frame.to_string().into())).await.is_err() {
                        return;
                    }
                }
                continue;
            }
        };
        let Some(Ok(frame)) = frame else { break };
        let answer = match frame {
            WsMessage::Text(t) => {
                let body = serde_json::from_str::<Value>(t.as_str())
                    .map_err(|e| ApiError::bad_request("invalid_json", e.to_string()))
                    .and_then(super::parse_json::<ChatBody>);
                match body {
                    Ok(body) => match run_chat(&state, c, &address, body).await {
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

/// A CSR's replies to this customer's portal chat, followed on the tenant's event stream
/// from the moment the socket opened. Frames: `{"type": "message", "conversation_id",
/// "message_id", "author": "staff", "text", "at"}`.
struct LiveReplies {
    claims: PortalClaims,
    after: i64,
    wake: tokio::sync::watch::Receiver<u64>,
    /// Conversations known to be (or not to be) this customer's portal chat.
    mine: std::collections::HashMap<i64, bool>,
}

/// Re-read at least this often even without a wake-up (as the operator event stream does).
const LIVE_FALLBACK_POLL: std::time::Duration = std::time::Duration::from_secs(5);

impl LiveReplies {
    async fn start(state: &AppState, claims: PortalClaims) -> ApiResult<Self> {
        let mut wake = state.store.event_wakeups();
        wake.borrow_and_update();
        let after = state.store.last_event_id(claims.tenant).await?;
        Ok(LiveReplies {
            claims,
            after,
            wake,
            mine: Default::default(),
        })
    }

    /// Resolves when something may have been written (a wake-up or the fallback poll).
    async fn changed(&mut self) {
        let _ = tokio::time::timeout(LIVE_FALLBACK_POLL, self.wake.changed()).await;
    }

    /// The frames to send for events written since the last look.
    async fn take(&mut self, state: &AppState) -> Vec<Value> {
        self.wake.borrow_and_update();
        let (tenant, customer) = (self.claims.tenant, self.claims.customer);
        let events = match state.store.events_after(tenant, self.after, 200).await {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(error = %e, "portal chat could not read events");
                return Vec::new();
            }
        };
        let mut frames = Vec::new();
        for e in events {
            self.after = e.id;
            if e.kind != EventKind::MessageOut {
                continue;
            }
            let p = &e.payload;
            let author = p["author"].as_str().unwrap_or("");
            let Some(conv) = p["conversation_id"].as_i64() else {
                continue;
            };
            if author == "agent" {
                // The agent's answers come back on the socket as the answer to the frame.
                continue;
            }
            let mine = match self.mine.get(&conv) {
                Some(m) => *m,
                None => {
                    let m = state
                        .store
                        .conversation(tenant, ConversationId(conv))
                        .await
                        .is_ok_and(|c| {
                            c.channel == Channel::Chat
                                && c.participant == format!("portal:{customer}")
                        });
                    self.mine.insert(conv, m);
                    m
                }
            };
            if mine {
                frames.push(json!({
                    "type": "message",
                    "conversation_id": conv,
                    "message_id": p["message_id"],
                    "author": "staff",
                    "text": p["text"],
                    "at": e.at,
                }));
            }
        }
        frames
    }
}
