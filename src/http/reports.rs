//! `GET /api/v1/operator/reports/summary?from=&to=[&format=csv]` (admin): the office summary
//! of `operators::reports` for the window `[from, to)` (dates are local midnights).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::auth::AdminAuth;
use super::record_actions::parse_instant;
use super::AppState;
use crate::error::{ApiError, ApiResult};
use crate::operators::reports::{summarize, to_csv};
use crate::record::local;

pub fn router() -> Router<AppState> {
    Router::new().route("/reports/summary", get(summary))
}

async fn summary(
    State(state): State<AppState>,
    AdminAuth(who): AdminAuth,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let t = super::tenant_of(&state, who.tenant_id).await?;
    let (Some(from), Some(to)) = (params.get("from"), params.get("to")) else {
        return Err(ApiError::bad_request(
            "invalid_query",
            "`from` and `to` are required",
        ));
    };
    let from = parse_instant(t.timezone, from, "from")?;
    let to = parse_instant(t.timezone, to, "to")?;
    if to <= from || to - from > chrono::Duration::days(366) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "`to` must come after `from`, at most 366 days later",
        ));
    }
    let rows = state.store.report_rows(t.id, from, to).await?;
    let s = summarize(&rows, t.timezone, &t.business_hours, to, state.clock.now());
    match params.get("format").map(String::as_str) {
        None | Some("json") => Ok(Json(json!({
            "from": local(t.timezone, from),
            "to": local(t.timezone, to),
            "summary": s,
        }))
        .into_response()),
        Some("csv") => {
            Ok(([(CONTENT_TYPE, "text/csv; charset=utf-8")], to_csv(&s)).into_response())
        }
        Some(_) => Err(ApiError::bad_request(
            "invalid_query",
            "`format` is json or csv",
        )),
    }
}
