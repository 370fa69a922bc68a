//! Liveness, readiness and metrics endpoints.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::auth::MetricsAuth;
use super::AppState;
use crate::error::ApiError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// Ready when the store answers.
async fn readyz(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    state.store.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness check failed");
        ApiError::Unavailable
    })?;
    Ok(Json(
        json!({ "status": "ready", "store": state.store.backend_name() }),
    ))
}

async fn metrics(State(state): State<AppState>, _: MetricsAuth) -> impl IntoResponse {
    let mut text = state.metrics.render();
    text.push_str(&crate::metrics::domain().render());
    // SLA breaches now: escalations past their due time that nobody resolved.
    match state.store.overdue_escalations(state.clock.now()).await {
        Ok(rows) => {
            text.push_str("# TYPE frontdesk_escalations_overdue gauge\n");
            for (slug, n) in rows {
                let slug = crate::metrics::escape(&slug);
                text.push_str(&format!(
                    "frontdesk_escalations_overdue{{tenant=\"{slug}\"}} {n}\n"
                ));
            }
        }
        Err(e) => tracing::warn!(error = %e, "overdue escalations not counted"),
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}
