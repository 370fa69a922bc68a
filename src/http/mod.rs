//! The HTTP surface: shared state, the router assembled from each area's own routes, and the
//! middleware every request passes (tracing, metrics, timeout, body limit, JSON errors).
//! Only this module and its children know axum.

mod audit;
mod auth;
mod events;
mod health;
mod messages;
mod openapi;
mod operator;
mod policy;
mod portal;
mod queue;
mod record_actions;
mod reports;
mod session;
mod stream;
mod twilio;

pub use auth::{AdminAuth, OperatorAuth, ReaderAuth, SessionAuth};

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{FromRequest, MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::agent::Agent;
use crate::clock::Clock;
use crate::config::Settings;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::search::SearchIndex;
use crate::store::Store;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub search: Arc<SearchIndex>,
    pub agent: Agent,
    pub settings: Arc<Settings>,
    pub clock: Clock,
    pub metrics: Arc<Metrics>,
    /// Wakes the outbound sender when something was queued.
    pub outbox: Arc<tokio::sync::Notify>,
    pub transcriber: crate::voice::SharedTranscriber,
}

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
                .merge(audit::router())
                .merge(events::router())
                .merge(policy::router())
                .merge(reports::router()),
        )
        .nest("/api/v1/portal", portal::router())
        .merge(twilio::router())
        .merge(stream::router())
        .fallback(|| async { ApiError::NotFound("route") })
        .method_not_allowed_fallback(|| async {
            ApiError::bad_request(
                "method_not_allowed",
                "this route does not accept that method",
            )
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

/// Count and time every request by its route template (never the raw path, which may hold ids).
async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let started = Instant::now();
    let res = next.run(req).await;
    state
        .metrics
        .observe_http(&method, &route, res.status().as_u16(), started.elapsed());
    res
}

/// Responses produced by layers (body limit, timeout) come without a body; give them the
/// same JSON error shape as everything else.
async fn json_errors(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json || !(res.status().is_client_error() || res.status().is_server_error()) {
        return res;
    }
    let err = match res.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        StatusCode::REQUEST_TIMEOUT => {
            ApiError::bad_request("request_timeout", "the request took too long")
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ApiError::bad_request("unsupported_media_type", "unsupported content type")
        }
        // Responses that are deliberately not JSON (TwiML, Twilio 403s) keep their content type.
        _ if res.headers().contains_key(header::CONTENT_TYPE) => return res,
        StatusCode::FORBIDDEN => ApiError::Forbidden,
        s if s.is_server_error() => ApiError::Internal(anyhow::anyhow!("layer returned {s}")),
        _ => return res,
    };
    let mut out = err.into_response();
    if res.status() != out.status() {
        *out.status_mut() = res.status();
    }
    out
}

/// A required free-text field: trimmed, not empty (`empty_code`), at most `max` characters
/// (`text_too_long`).
pub(crate) fn required_text<'a>(
    raw: &'a str,
    field: &str,
    max: usize,
    empty_code: &'static str,
) -> Result<&'a str, ApiError> {
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

/// JSON body extractor whose rejections use the API error shape.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rej) => Err(match rej.status() {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
                StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                    ApiError::bad_request("unsupported_media_type", "send application/json")
                }
                _ => ApiError::bad_request("invalid_json", rej.body_text()),
            }),
        }
    }
}
