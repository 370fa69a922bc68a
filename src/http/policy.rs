//! `GET` and `PUT /api/v1/operator/policy` (admin): every number of the policy table
//! (`docs/policy.md`), business hours, on-call number and quiet hours. `PUT` takes a partial
//! document merged over the current settings; refusals carry stable codes (`policy_out_of_range`,
//! `policy_inconsistent`, `unknown_setting`, `invalid_policy`, `invalid_business_hours`,
//! `invalid_on_call_number`, `invalid_settings`). Changes are audited with before and after.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use super::auth::AdminAuth;
use super::{ApiJson, AppState};
use crate::error::{ApiError, ApiResult};
use crate::operators::policy::{apply, Settings};
use crate::store::{Csr, Tenant};

pub fn router() -> Router<AppState> {
    Router::new().route("/policy", get(show).put(update))
}

fn settings_of(t: &Tenant) -> Settings {
    Settings {
        policy: t.policy.clone(),
        business_hours: t.business_hours.clone(),
        on_call_number: t.on_call_number.clone(),
    }
}

fn to_value(s: &Settings) -> ApiResult<Value> {
    serde_json::to_value(s).map_err(|e| ApiError::Internal(e.into()))
}

async fn show(State(state): State<AppState>, AdminAuth(who): AdminAuth) -> ApiResult<Json<Value>> {
    let t = super::tenant_of(&state, who.tenant_id).await?;
    Ok(Json(to_value(&settings_of(&t))?))
}

async fn update(
    State(state): State<AppState>,
    AdminAuth(who): AdminAuth,
    ApiJson(patch): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let t = super::tenant_of(&state, who.tenant_id).await?;
    let current = settings_of(&t);
    let next = apply(&current, &patch).map_err(|e| ApiError::bad_request(e.code, e.message))?;
    let (before, after) = (to_value(&current)?, to_value(&next)?);
    state
        .store
        .update_tenant_settings(
            t.id,
            &Csr::new(who.user_id, who.role),
            &next.policy,
            &next.business_hours,
            next.on_call_number.as_deref(),
            before,
            after.clone(),
            state.clock.now(),
        )
        .await
        .map_err(ApiError::from_store("tenant"))?;
    Ok(Json(after))
}
