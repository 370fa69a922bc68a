//! The HTTP surface: shared state, the router assembled from each area's own routes, and the
//! middleware every request passes (tracing, metrics, timeout, body limit, JSON errors).
//! Only this module and its children know axum.

mod audit;
mod auth;
mod console;
mod error;
mod events;
mod field;
mod health;
mod messages;
pub mod openapi;
mod operator;
mod policy;
mod portal;
mod portal_api;
mod portal_pages;
mod queue;
mod record_actions;
mod reports;
mod session;
mod stream;
mod stripe;
mod twilio;
mod webhooks;

pub use auth::{AdminAuth, OperatorAuth, ReaderAuth, SessionAuth};

use std::time::Instant;

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

// What every handler can reach; it lives with the application that builds it.
use crate::app::AppState;
use crate::error::ApiError;

pub fn router(state: AppState) -> Router {
    let settings = state.settings.clone();
    Router::new()
        .merge(health::router())
        .merge(messages::router())
        .merge(openapi::router())
        .nest(
            "/api/v1/operator",
            operator::router()
                .merge(queue::router())
                .merge(session::router())
                .merge(record_actions::router())
                .merge(field::router())
                .merge(audit::router())
                .merge(events::router())
                .merge(policy::router())
                .merge(reports::router())
                .merge(webhooks::router()),
        )
        .nest(
            "/api/v1/portal",
            portal::router().merge(portal_api::router()),
        )
        .merge(stripe::router())
        .merge(console::router())
        .merge(portal_pages::router())
        .merge(twilio::router())
        .merge(stream::router())
        .fallback(|| async { ApiError::NotFound("route") })
        .method_not_allowed_fallback(|| async {
            ApiError::Rejected {
                status: StatusCode::METHOD_NOT_ALLOWED,
                code: "method_not_allowed",
                message: "this route does not accept that method".into(),
            }
            .into_response()
        })
        .layer(RequestBodyLimitLayer::new(settings.body_limit_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            settings.request_timeout,
        ))
        // Outside the limit and timeout layers, so their bodiless answers become JSON too.
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn_with_state(state.clone(), track))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<Body>| {
                let route = req
                    .extensions()
                    .get::<MatchedPath>()
                    .map(|m| m.as_str().to_string())
                    .unwrap_or_default();
                tracing::info_span!("http", method = %req.method(), route = %route)
            }),
        )
        .with_state(state)
}

/// Serve the router on `listener` until `shutdown` resolves, then finish in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The peer address reaches handlers (`/metrics` serves loopback peers without a token).
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Count and time every request by its route template (never the raw path, which may hold ids).
async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().as_str().to_string();
    let started = Instant::now();
    let res = next.run(req).await;
    state
        .metrics
        .observe_http(&method, &route, res.status().as_u16(), started.elapsed());
    res
}

/// One error shape for everything a client can get back. Handlers answer `ApiError`s; what
/// the framework or a layer refuses on its own (an unreadable path or query, a body it cannot
/// take, a handshake that is not one, a timeout) comes as plain text or without a body, and is
/// rewritten here into `{"error":{"code","message"}}` with its status kept. The only answers
/// left alone are the Twilio webhooks' own (TwiML, bare 403s), which speak to Twilio, and the
/// console's and the portal's HTML error pages, which speak to people.
async fn json_errors(req: Request, next: Next) -> Response {
    let for_twilio = req.uri().path().starts_with("/twilio/");
    let for_console =
        req.uri().path().starts_with("/console") || req.uri().path().starts_with("/portal");
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let is_html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if is_json
        || (for_twilio && res.headers().contains_key(header::CONTENT_TYPE))
        || (for_console && is_html)
    {
        return res;
    }
    let text = match axum::body::to_bytes(res.into_body(), 4096).await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_string(),
        Err(_) => String::new(),
    };
    let (code, fallback) = rejection_code(status);
    let err = if status.is_server_error() {
        ApiError::Internal(anyhow::anyhow!("{status} without a JSON body: {text}"))
    } else {
        let message = if text.is_empty() || text.chars().count() > 300 {
            fallback.to_string()
        } else {
            text
        };
        ApiError::Rejected {
            status,
            code,
            message,
        }
    };
    let mut out = err.into_response();
    *out.status_mut() = status;
    out
}

/// The stable code (and a message when the refusal had none) for a status the framework or
/// a layer answered with.
fn rejection_code(status: StatusCode) -> (&'static str, &'static str) {
    match status {
        StatusCode::UNAUTHORIZED => ("unauthorized", "missing or invalid credentials"),
        StatusCode::FORBIDDEN => ("forbidden", "this token may not do that"),
        StatusCode::NOT_FOUND => ("route_not_found", "no such route"),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this route does not accept that method",
        ),
        StatusCode::REQUEST_TIMEOUT => ("request_timeout", "the request took too long"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "the request body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ("unsupported_media_type", "unsupported content type")
        }
        StatusCode::UPGRADE_REQUIRED => ("websocket_required", "this route is a WebSocket"),
        s if s.is_server_error() => ("internal", "internal error"),
        _ => ("bad_request", "the request could not be read"),
    }
}

/// The tenant a credential speaks for; one that is gone is `not_found` (`tenant`).
pub(crate) async fn tenant_of(
    state: &AppState,
    id: crate::domain::TenantId,
) -> Result<crate::store::Tenant, ApiError> {
    state
        .store
        .tenant(id)
        .await
        .map_err(ApiError::from_store("tenant"))
}

/// What every inbound text or id is checked for, whatever its source: NUL (U+0000) has no
/// meaning in a message, and PostgreSQL cannot store it in text, so it is refused here with
/// `invalid_characters` (the same answer on both stores) rather than failing in the store.
pub(crate) fn reject_nul(value: &str, field: &str) -> Result<(), ApiError> {
    if value.contains('\0') {
        return Err(ApiError::bad_request(
            "invalid_characters",
            format!("`{field}` must not contain NUL (U+0000) characters"),
        ));
    }
    Ok(())
}

/// The same check over a whole JSON document: every string and every key.
fn reject_nul_in_json(value: &serde_json::Value, path: &mut String) -> Result<(), ApiError> {
    use serde_json::Value;
    match value {
        Value::String(s) => reject_nul(s, if path.is_empty() { "body" } else { path }),
        Value::Array(items) => items.iter().enumerate().try_for_each(|(i, v)| {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            let r = reject_nul_in_json(v, path);
            path.truncate(len);
            r
        }),
        Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            reject_nul(k, "a key")?;
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(k);
            let r = reject_nul_in_json(v, path);
            path.truncate(len);
            r
        }),
        _ => Ok(()),
    }
}

/// A JSON document (a request body or a WebSocket frame) into `T`: `invalid_json` when it is
/// not one or does not fit, `invalid_characters` when any string in it holds a NUL.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
) -> Result<T, ApiError> {
    reject_nul_in_json(&value, &mut String::new())?;
    serde_json::from_value(value).map_err(|e| ApiError::bad_request("invalid_json", e.to_string()))
}

/// A required free-text field: trimmed, not empty (`empty_code`), at most `max` characters
/// (`text_too_long`).
pub(crate) fn required_text<'a>(
    raw: &'a str,
    field: &str,
    max: usize,
    empty_code: &'static str,
) -> Result<&'a str, ApiError> {
    reject_nul(raw, field)?;
    let text = raw.trim();
    if text.is_empty() {
        return Err(ApiError::bad_request(
            empty_code,
            format!("`{field}` must not be empty"),
        ));
    }
    if text.chars().count() > max {
        return Err(ApiError::bad_request(
            "text_too_long",
            format!("`{field}` is limited to {max} characters"),
        ));
    }
    Ok(text)
}

/// An optional client-chosen id (`external_id`, `client_message_id`): trimmed, blank is
/// none, at most `max` characters (else `too_long_code`), no NUL.
pub(crate) fn optional_id<'a>(
    raw: Option<&'a str>,
    field: &str,
    max: usize,
    too_long_code: &'static str,
) -> Result<Option<&'a str>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    reject_nul(raw, field)?;
    let id = raw.trim();
    if id.chars().count() > max {
        return Err(ApiError::bad_request(
            too_long_code,
            format!("`{field}` is limited to {max} characters"),
        ));
    }
    Ok((!id.is_empty()).then_some(id))
}

/// JSON body extractor whose rejections use the API error shape; every string in the body
/// passes `reject_nul`.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<serde_json::Value>::from_request(req, state).await {
            Ok(axum::Json(v)) => parse_json(v).map(ApiJson),
            Err(rej) => Err(match rej.status() {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
                StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::Rejected {
                    status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    code: "unsupported_media_type",
                    message: "send application/json".into(),
                },
                _ => ApiError::bad_request("invalid_json", rej.body_text()),
            }),
        }
    }
}

/// Path parameters (in this API, ids): a path that cannot be read is `malformed_id`.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(rej) => Err(ApiError::bad_request(
                "malformed_id",
                format!("the id in the path cannot be read: {}", rej.body_text()),
            )),
        }
    }
}

/// Query parameters: a query that cannot be read is `invalid_query`.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(rej) => Err(ApiError::bad_request("invalid_query", rej.body_text())),
        }
    }
}

/// A WebSocket handshake: a request that is not one is `websocket_required` (with the
/// status the framework chose: 400, 405 or 426).
pub struct ApiWebSocket(pub axum::extract::ws::WebSocketUpgrade);

impl<S> FromRequestParts<S> for ApiWebSocket
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::ws::WebSocketUpgrade::from_request_parts(parts, state).await {
            Ok(ws) => Ok(ApiWebSocket(ws)),
            Err(rej) => Err(ApiError::Rejected {
                status: rej.status(),
                code: "websocket_required",
                message: format!(
                    "this route expects a WebSocket handshake: {}",
                    rej.body_text()
                ),
            }),
        }
    }
}
