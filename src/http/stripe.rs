//! `POST /webhooks/stripe`: the payment provider's webhook. The `Stripe-Signature` header is
//! checked over the raw body before anything is parsed (400 `invalid_signature` otherwise, and
//! nothing changes); a completed, paid Checkout Session of a session frontdesk opened records
//! the payment once per event id (`store::Store::record_provider_payment`).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::AppState;
use crate::domain::{Cents, InvoiceId, TenantId};
use crate::error::{ApiError, ApiResult};
use crate::portal::stripe::{self, TOLERANCE_SECS};
use crate::store::{PaymentOutcome, ProviderPayment};

pub fn router() -> Router<AppState> {
    Router::new().route("/webhooks/stripe", post(webhook))
}

fn bad(code: &'static str, message: &str) -> ApiError {
    ApiError::bad_request(code, message.to_string())
}

async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let Some(secret) = state.settings.stripe.webhook_secret.as_ref() else {
        return Err(ApiError::refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "payments_unavailable",
            "no Stripe webhook secret is configured",
        ));
    };
    let header = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let now = state.clock.now();
    if let Err(e) = stripe::verify_signature(
        header,
        &body,
        secret.expose(),
        now.timestamp(),
        TOLERANCE_SECS,
    ) {
        tracing::warn!(reason = %e, "Stripe webhook refused");
        return Err(bad(
            "invalid_signature",
            "the Stripe-Signature header does not verify",
        ));
    }
    let event: Value =
        serde_json::from_slice(&body).map_err(|_| bad("invalid_json", "the event is not JSON"))?;
    let event_id = event["id"].as_str().unwrap_or("");
    let kind = event["type"].as_str().unwrap_or("");
    if event_id.is_empty() || event_id.len() > 255 {
        return Err(bad("invalid_event", "the event has no id"));
    }
    let o = &event["data"]["object"];
    let fulfils = matches!(
        kind,
        "checkout.session.completed" | "checkout.session.async_payment_succeeded"
    ) && o["payment_status"].as_str() == Some("paid");
    if !fulfils {
        return Ok((
            StatusCode::OK,
            Json(json!({ "received": true, "handled": false })),
        ));
    }
    let number = |v: &Value| -> Option<i64> {
        v.as_str()
            .and_then(|s| s.parse().ok())
            .or_else(|| v.as_i64())
    };
    let (Some(tenant), Some(invoice), Some(amount), Some(session)) = (
        number(&o["metadata"]["tenant_id"]),
        number(&o["metadata"]["invoice_id"]),
        o["amount_total"].as_i64(),
        o["id"].as_str(),
    ) else {
        return Err(bad(
            "invalid_event",
            "the session lacks its invoice, amount or id",
        ));
    };
    // Only sessions frontdesk opened, for the invoice it opened them for.
    let known = state
        .store
        .checkout_session_invoice(TenantId(tenant), stripe::PROVIDER, session)
        .await?;
    if known != Some(InvoiceId(invoice)) || amount <= 0 {
        tracing::warn!(
            session,
            "Stripe session not opened by frontdesk for this invoice"
        );
        return Ok((
            StatusCode::OK,
            Json(json!({ "received": true, "handled": false })),
        ));
    }
    let outcome = state
        .store
        .record_provider_payment(
            &ProviderPayment {
                provider: stripe::PROVIDER,
                event_id,
                event_kind: kind,
                tenant: TenantId(tenant),
                invoice: InvoiceId(invoice),
                amount: Cents(amount),
                reference: session,
            },
            now,
        )
        .await?;
    let duplicate = outcome == PaymentOutcome::Duplicate;
    Ok((
        StatusCode::OK,
        Json(json!({ "received": true, "handled": true, "duplicate": duplicate })),
    ))
}
