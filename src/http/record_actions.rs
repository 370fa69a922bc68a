//! A CSR's actions on the record under `/api/v1/operator`: move, cancel and book visits,
//! write notes, and list windows for the picker. Each action is one store transaction that
//! keeps slot capacity, writes its audit entry and emits its live event.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ApiJson, AppState, OperatorAuth};
use crate::domain::{AppointmentId, AppointmentStatus, CustomerId, PropertyId, SlotId, TenantTz};
use crate::error::{ApiError, ApiResult};
use crate::record::local;
use crate::store::{Csr, NewAppointment, Tenant};

const MAX_REASON_CHARS: usize = 1000;
const MAX_NOTE_CHARS: usize = 4000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/appointments/{id}/reschedule", post(reschedule))
        .route("/appointments/{id}/cancel", post(cancel))
        .route("/customers/{id}/appointments", post(book))
        .route("/customers/{id}/notes", post(add_note).get(notes))
        .route("/slots", get(slots))
}

async fn appointment_json(state: &AppState, t: &Tenant, id: AppointmentId) -> ApiResult<Value> {
    let a = state
        .store
        .appointment(t.id, id)
        .await
        .map_err(ApiError::from_store("appointment"))?;
    Ok(json!({
        "id": a.id,
        "customer_id": a.customer_id,
        "property_id": a.property_id,
        "service": a.service,
        "slot_id": a.slot_id,
        "technician": a.technician,
        "window_start": local(t.timezone, a.window_start),
        "window_end": local(t.timezone, a.window_end),
        "status": a.status,
        "price_cents": a.price_cents,
        "reschedule_count": a.reschedule_count,
        "last_rescheduled_by": a.last_rescheduled_by,
    }))
}

/// A window the CSR picked: it exists in this tenant, lies ahead, and — for a property — is in
/// the property's zone.
async fn check_slot(
    state: &AppState,
    t: &Tenant,
    slot: SlotId,
    property: PropertyId,
) -> ApiResult<()> {
    let s = state
        .store
        .slot(t.id, slot)
        .await
        .map_err(ApiError::from_store("slot"))?;
    if s.starts_at <= state.clock.now() {
        return Err(ApiError::refused(
            StatusCode::CONFLICT,
            "slot_in_past",
            "that window has already started",
        ));
    }
    let p = state
        .store
        .property(t.id, property)
        .await
        .map_err(ApiError::from_store("property"))?;
    if p.zone_id != s.zone_id {
        return Err(ApiError::refused(
            StatusCode::CONFLICT,
            "slot_wrong_zone",
            "that window serves another zone than the property's",
        ));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Reschedule {
    slot_id: SlotId,
    reason: String,
}

async fn reschedule(
    State(state): State<AppState>,
    OperatorAuth(who): OperatorAuth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Reschedule>,
) -> ApiResult<Json<Value>> {
    let id: AppointmentId = id.parse()?;
    let reason = super::required_text(&body.reason, "reason", MAX_REASON_CHARS, "empty_reason")?;
    let t = super::tenant_of(&state, who.tenant_id).await?;
    let current = state
        .store
        .appointment(t.id, id)
        .await
        .map_err(ApiError::from_store("appointment"))?;
    check_slot(&state, &t, body.slot_id, current.property_id).await?;
    let csr = Csr::new(who.user_id, who.role);
    state
        .store
        .operator_reschedule(t.id, &csr, id, body.slot_id, reason, state.clock.now())
        .await
        .map_err(ApiError::from_store("appointment"))?;
    Ok(Json(appointment_json(&state, &t, id).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cancel {
    reason: String,
}

async fn cancel(
    State(state): State<AppState>,
    OperatorAuth(who): OperatorAuth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Cancel>,
) -> ApiResult<Json<Value>> {
    let id: AppointmentId = id.parse()?;
    let reason = super::required_text(&body.reason, "reason", MAX_REASON_CHARS, "empty_reason")?;
    let t = super::tenant_of(&state, who.tenant_id).await?;
    let csr = Csr::new(who.user_id, who.role);
    state
        .store
        .operator_cancel(t.id, &csr, id, reason, state.clock.now())
        .await
        .map_err(ApiError::from_store("appointment"))?;
    Ok(Json(appointment_json(&state, &t, id).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Book {
    property_id: PropertyId,
    /// The service's code in the catalog.
    service: String,
    slot_id: SlotId,
}

async fn book(
    State(state): State<AppState>,
    OperatorAuth(who): OperatorAuth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Book>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let customer: CustomerId = id.parse()?;
    let t = super::tenant_of(&state, who.tenant_id).await?;
    state
        .store
        .customer(t.id, customer)
        .await
        .map_err(ApiError::from_store("customer"))?;
    let property = state
        .store
        .property(t.id, body.property_id)
        .await
        .map_err(ApiError::from_store("property"))?;
    if property.customer_id != customer {
        return Err(ApiError::NotFound("property"));
    }
    let service = state
        .store
        .services(t.id)
        .await?
        .into_iter()
        .find(|s| s.code == body.service.trim())
        .ok_or_else(|| {
            ApiError::bad_request(
                "unknown_service",
                "no service with that code in the catalog",
            )
        })?;
    check_slot(&state, &t, body.slot_id, property.id).await?;
    let quote = service
        .pricing
        .quote(property.sq_ft, &[])
        .map_err(|e| ApiError::refused(StatusCode::CONFLICT, "not_quotable", e.to_string()))?;
    let csr = Csr::new(who.user_id, who.role);
    let id = state
        .store
        .operator_book(
            t.id,
            &csr,
            &NewAppointment {
                customer_id: customer,
                property_id: property.id,
                service_id: service.id,
                slot_id: body.slot_id,
                status: AppointmentStatus::Scheduled,
                price_cents: quote.first_visit_total_cents,
            },
            state.clock.now(),
        )
        .await
        .map_err(ApiError::from_store("slot"))?;
    Ok((
        StatusCode::CREATED,
        Json(appointment_json(&state, &t, id).await?),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Note {
    text: String,
}

async fn add_note(
    State(state): State<AppState>,
    OperatorAuth(who): OperatorAuth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Note>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let customer: CustomerId = id.parse()?;
    let text = super::required_text(&body.text, "text", MAX_NOTE_CHARS, "empty_text")?;
    let csr = Csr::new(who.user_id, who.role);
    let note = state
        .store
        .add_customer_note(who.tenant_id, &csr, customer, text, state.clock.now())
        .await
        .map_err(ApiError::from_store("customer"))?;
    Ok((StatusCode::CREATED, Json(json!(note))))
}

async fn notes(
    State(state): State<AppState>,
    OperatorAuth(who): OperatorAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let customer: CustomerId = id.parse()?;
    state
        .store
        .customer(who.tenant_id, customer)
        .await
        .map_err(ApiError::from_store("customer"))?;
    let notes = state.store.customer_notes(who.tenant_id, customer).await?;
    Ok(Json(json!({ "notes": notes })))
}

/// An instant from a query: RFC 3339, or a date (midnight in the tenant's zone).
pub(crate) fn parse_instant(tz: TenantTz, raw: &str, field: &str) -> ApiResult<DateTime<Utc>> {
    let raw = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return Ok(tz.instant(d, NaiveTime::MIN));
    }
    Err(ApiError::bad_request(
        "invalid_query",
        format!("`{field}` must be a date (YYYY-MM-DD) or an RFC 3339 time"),
    ))
}

async fn slots(
    State(state): State<AppState>,
    OperatorAuth(who): OperatorAuth,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let t = super::tenant_of(&state, who.tenant_id).await?;
    let now = state.clock.now();
    let from = match params.get("from") {
        Some(raw) => parse_instant(t.timezone, raw, "from")?,
        None => now,
    };
    let to = match params.get("to") {
        Some(raw) => parse_instant(t.timezone, raw, "to")?,
        None => from + chrono::Duration::days(14),
    };
    if to <= from || to - from > chrono::Duration::days(92) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "`to` must come after `from`, at most 92 days later",
        ));
    }
    let zone = match params
        .get("zone")
        .map(|z| z.trim())
        .filter(|z| !z.is_empty())
    {
        Some(code) => Some(
            state
                .store
                .zone_by_code(t.id, code)
                .await
                .map_err(ApiError::from_store("zone"))?,
        ),
        None => None,
    };
    let slots = state
        .store
        .zone_slots_between(t.id, zone, from, to, 1000)
        .await?;
    let out: Vec<Value> = slots
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "zone_id": s.zone_id,
                "technician_id": s.technician_id,
                "starts_at": local(t.timezone, s.starts_at),
                "ends_at": local(t.timezone, s.ends_at),
                "capacity": s.capacity,
                "booked": s.booked,
                "left": (s.capacity - s.booked).max(0),
            })
        })
        .collect();
    Ok(Json(json!({ "slots": out })))
}
