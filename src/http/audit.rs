//! `GET /api/v1/operator/audit` (admin): the tenant's audit log, newest first, filtered by
//! `actor`, `action` (exact, or a prefix ending in `.`), `target_kind`, `target_id`, `from`,
//! `to`, paged with `before_id` and `limit`.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::auth::AdminAuth;
use super::operator::parse_u32;
use super::record_actions::parse_instant;
use super::AppState;
use crate::error::{ApiError, ApiResult};
use crate::record::local;
use crate::store::AuditFilter;

pub fn router() -> Router<AppState> {
    Router::new().route("/audit", get(list))
}

async fn list(
    State(state): State<AppState>,
    AdminAuth(who): AdminAuth,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let t = super::tenant_of(&state, who.tenant_id).await?;
    let text = |k: &str| {
        params
            .get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    for k in ["actor", "action", "target_kind", "target_id"] {
        if text(k).is_some_and(|v| v.chars().count() > 200) {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("`{k}` is limited to 200 characters"),
            ));
        }
    }
    let before_id = match params.get("before_id") {
        Some(raw) => Some(raw.trim().parse::<i64>().map_err(|_| {
            ApiError::bad_request("invalid_query", "`before_id` must be a whole number")
        })?),
        None => None,
    };
    let filter = AuditFilter {
        actor: text("actor"),
        action: text("action"),
        target_kind: text("target_kind"),
        target_id: text("target_id"),
        from: params
            .get("from")
            .map(|r| parse_instant(t.timezone, r, "from"))
            .transpose()?,
        to: params
            .get("to")
            .map(|r| parse_instant(t.timezone, r, "to"))
            .transpose()?,
        before_id,
        limit: i64::from(parse_u32(&params, "limit", 100, 1000)?),
    };
    let entries = state.store.audit_entries(t.id, &filter).await?;
    let out: Vec<Value> = entries
        .iter()
        .map(|e| {
            json!({
                "id": e.id,
                "at": local(t.timezone, e.at),
                "actor": e.actor,
                "actor_role": e.actor_role,
                "action": e.action,
                "target_kind": e.target_kind,
                "target_id": e.target_id,
                "before": e.before,
                "after": e.after,
                "note": e.note,
            })
        })
        .collect();
    Ok(Json(json!({ "entries": out })))
}
