//! The operator API: the tenant's settings and catalog, customer search and listing, and the
//! one-screen customer record. Every handler is scoped to the token's tenant.

use std::collections::HashMap;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::{ApiPath, ApiQuery, AppState, OperatorAuth};
use crate::domain::CustomerId;
use crate::error::{ApiError, ApiResult};
use crate::record::customer_record;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tenant", get(tenant))
        .route("/catalog", get(catalog))
        .route("/customers", get(customers))
        .route("/customers/{id}", get(customer))
        .route("/customers/{id}/record", get(record))
}

async fn tenant(
    State(state): State<AppState>,
    OperatorAuth(who): OperatorAuth,
) -> ApiResult<Json<Value>> {
    let t = super::tenant_of(&state, who.tenant_id).await?;
    Ok(Json(json!({
        "slug": t.slug,
        "name": t.name,
        "timezone": t.timezone,
        "phone_numbers": t.phone_numbers,
        "office_phone": t.office_phone,
        "on_call_number": t.on_call_number,
        "business_hours": t.business_hours,
        "policy": t.policy,
    })))
}

async fn catalog(
    State(state): State<AppState>,
    OperatorAuth(who): OperatorAuth,
) -> ApiResult<Json<Value>> {
    let services = state.store.services(who.tenant_id).await?;
    Ok(Json(json!({ "services": services })))
}

pub(super) fn parse_u32(
    params: &HashMap<String, String>,
    key: &str,
    default: u32,
    max: u32,
) -> ApiResult<u32> {
    match params.get(key) {
        None => Ok(default),
        Some(raw) => match raw.parse::<u32>() {
            Ok(v) if (1..=max).contains(&v) => Ok(v),
            _ => Err(ApiError::bad_request(
                "invalid_query",
                format!("`{key}` must be a whole number from 1 to {max}"),
            )),
        },
    }
}

async fn customers(
    State(state): State<AppState>,
    OperatorAuth(who): OperatorAuth,
    ApiQuery(params): ApiQuery<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let page = parse_u32(&params, "page", 1, 1_000_000)?;
    let per_page = parse_u32(&params, "per_page", 50, 500)?;
    if let Some(q) = params.get("q").map(|q| q.trim()).filter(|q| !q.is_empty()) {
        if q.chars().count() > 200 {
            return Err(ApiError::bad_request(
                "invalid_query",
                "`q` is limited to 200 characters",
            ));
        }
        let hits = state
            .search
            .search(who.tenant_id, q, per_page as usize)
            .map_err(|e| ApiError::Internal(e.into()))?;
        let ids: Vec<CustomerId> = hits.iter().map(|h| h.customer_id).collect();
        let found = state.store.customers_by_ids(who.tenant_id, &ids).await?;
        let results: Vec<Value> = hits
            .iter()
            .filter_map(|h| {
                let c = found.iter().find(|c| c.id == h.customer_id)?;
                Some(json!({ "customer": c, "score": h.score, "matched": h.matched }))
            })
            .collect();
        return Ok(Json(json!({ "q": q, "results": results })));
    }
    let (items, total) = state
        .store
        .list_customers(who.tenant_id, page, per_page)
        .await?;
    Ok(Json(
        json!({ "page": page, "per_page": per_page, "total": total, "customers": items }),
    ))
}

async fn customer(
    State(state): State<AppState>,
    OperatorAuth(who): OperatorAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let id: CustomerId = id.parse()?;
    let c = state
        .store
        .customer(who.tenant_id, id)
        .await
        .map_err(ApiError::from_store("customer"))?;
    let properties = state.store.properties(who.tenant_id, id).await?;
    Ok(Json(json!({ "customer": c, "properties": properties })))
}

async fn record(
    State(state): State<AppState>,
    OperatorAuth(who): OperatorAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let id: CustomerId = id.parse()?;
    let tenant = super::tenant_of(&state, who.tenant_id).await?;
    let rec = customer_record(&state.store, &tenant, id, state.clock.now())
        .await
        .map_err(ApiError::from_store("customer"))?;
    Ok(Json(
        serde_json::to_value(rec).map_err(|e| ApiError::Internal(e.into()))?,
    ))
}
