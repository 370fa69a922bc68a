//! Field events from the technicians' app: `POST /api/v1/operator/appointments/{id}/status`
//! with `en_route` (+ `eta_minutes`), `started`, `paused` (+ a customer-facing `note`) or
//! `completed` (+ `findings`, `products`). The change, its field event, audit entry, live
//! event and the customer's notice are one transaction (`notices::field_update`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ApiJson, AppState, OperatorAuth};
use crate::domain::AppointmentId;
use crate::error::{ApiError, ApiResult};
use crate::notices::{FieldError, FieldUpdate};
use crate::store::Csr;

const MAX_NOTE_CHARS: usize = 300;
const MAX_FINDINGS_CHARS: usize = 4000;
const MAX_PRODUCTS: usize = 20;
const MAX_ETA_MINUTES: i64 = 600;

pub fn router() -> Router<AppState> {
    Router::new().route("/appointments/{id}/status", post(status))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusBody {
    /// `en_route`, `started`, `paused`, `completed`.
    status: String,
    eta_minutes: Option<i64>,
    note: Option<String>,
    findings: Option<String>,
    #[serde(default)]
    products: Vec<String>,
}

fn update(body: &StatusBody) -> ApiResult<FieldUpdate> {
    Ok(match body.status.as_str() {
        "en_route" => {
            let eta = body.eta_minutes.ok_or_else(|| {
                ApiError::bad_request("eta_required", "`en_route` needs `eta_minutes`")
            })?;
            if !(1..=MAX_ETA_MINUTES).contains(&eta) {
                return Err(ApiError::bad_request(
                    "invalid_eta",
                    format!("`eta_minutes` must be from 1 to {MAX_ETA_MINUTES}"),
                ));
            }
            FieldUpdate::EnRoute { eta_minutes: eta }
        }
        "started" => FieldUpdate::Started,
        "paused" => FieldUpdate::Paused {
            note: super::required_text(
                body.note.as_deref().unwrap_or(""),
                "note",
                MAX_NOTE_CHARS,
                "note_required",
            )?
            .to_string(),
        },
        "completed" => {
            let findings = super::required_text(
                body.findings.as_deref().unwrap_or(""),
                "findings",
                MAX_FINDINGS_CHARS,
                "findings_required",
            )?
            .to_string();
            if body.products.len() > MAX_PRODUCTS {
                return Err(ApiError::bad_request(
                    "too_many_products",
                    format!("at most {MAX_PRODUCTS} products"),
                ));
            }
            let mut products = Vec::new();
            for p in &body.products {
                products
                    .push(super::required_text(p, "products", 200, "empty_product")?.to_string());
            }
            FieldUpdate::Completed { findings, products }
        }
        _ => {
            return Err(ApiError::bad_request(
                "invalid_field_status",
                "`status` must be en_route, started, paused or completed",
            ))
        }
    })
}

async fn status(
    State(state): State<AppState>,
    OperatorAuth(who): OperatorAuth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<StatusBody>,
) -> ApiResult<Json<Value>> {
    let id: AppointmentId = id.parse()?;
    let update = update(&body)?;
    let tenant = super::tenant_of(&state, who.tenant_id).await?;
    let csr = Csr::new(who.user_id, who.role);
    let out = crate::notices::field_update(
        &state.store,
        &tenant,
        &csr,
        id,
        &update,
        &state.settings.public_url,
        state.clock.now(),
    )
    .await
    .map_err(|e| match e {
        FieldError::InvalidTransition(..) => {
            ApiError::refused(StatusCode::CONFLICT, "invalid_status_change", e.to_string())
        }
        FieldError::Store(e) => ApiError::from_store("appointment")(e),
    })?;
    if out.notified {
        state.outbox.notify_one();
    }
    Ok(Json(json!({
        "appointment_id": id,
        "status": out.status,
        "field_event_id": out.field_event_id,
        "notified": out.notified,
        "invoice_id": out.invoice_id,
    })))
}
