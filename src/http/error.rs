//! How an [`ApiError`] reaches a client: `{"error":{"code","message"}}` with the variant's
//! status; internal failures are logged here and answered with a generic message.

use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::error::ApiError;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = match &self {
            ApiError::Internal(e) => {
                tracing::error!(error = ?e, "internal error");
                "something went wrong on our side; it has been logged".to_string()
            }
            ApiError::Unavailable => {
                tracing::warn!("store unavailable");
                self.to_string()
            }
            other => other.to_string(),
        };
        let mut body = json!({ "error": { "code": self.code(), "message": message } });
        if let ApiError::PolicyRefused { rule, .. } = &self {
            body["error"]["rule"] = json!(rule);
        }
        let mut response = (self.status(), Json(body)).into_response();
        if let ApiError::RateLimited { retry_after_secs } = self {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(retry_after_secs),
            );
        }
        response
    }
}
