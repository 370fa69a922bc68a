//! The CSR's queue actions under `/api/v1/operator`: list escalations most urgent first,
//! claim, resolve (closing the conversation or handing it back to the agent), hand a
//! conversation back, and reply to the customer on their channel (SMS through the outbox,
//! chat stored for the portal to read). The acting CSR is the token's user, or its role when
//! the token has no user; every id is looked up within the token's tenant, so another
//! tenant's ids are simply not found.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::messages::MAX_TEXT_CHARS;
use super::operator::parse_u32;
use super::{ApiJson, ApiPath, ApiQuery, AppState, OperatorAuth};
use crate::domain::{Channel, ConversationId, EscalationId, EscalationStatus, PhoneE164};
use crate::error::{ApiError, ApiResult};
use crate::record::local;
use crate::store::{Csr, NewOutbound, QueueFilter, QueueItem, Tenant, OUTCOMES};

/// Longest accepted resolution note.
const MAX_RESOLUTION_CHARS: usize = 2000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/escalations", get(list))
        .route("/escalations/{id}", get(show))
        .route("/escalations/{id}/claim", post(claim))
        .route("/escalations/{id}/resolve", post(resolve))
        .route("/conversations/{id}/hand-back", post(hand_back))
        .route("/conversations/{id}/reply", post(reply))
}

fn item_json(tenant: &Tenant, item: &QueueItem) -> Value {
    let e = &item.escalation;
    let tz = tenant.timezone;
    json!({
        "id": e.id,
        "status": e.status,
        "reason": e.reason,
        "priority": e.priority,
        "due_at": local(tz, e.due_at),
        "created_at": local(tz, e.created_at),
        "summary": e.summary,
        "customer_id": e.customer_id,
        "customer_name": item.customer_name,
        "conversation_id": e.conversation_id,
        "channel": item.channel,
        "conversation_owner": item.conversation_owner,
        "conversation_status": item.conversation_status,
        "customer_waiting_since": item.customer_waiting_since.map(|at| local(tz, at)),
        "assignee": item.holder().or_else(|| e.assignee.map(|u| format!("csr:{u}"))),
        "resolved_at": e.resolved_at.map(|at| local(tz, at)),
        "resolution": e.resolution,
    })
}

async fn list(
    State(state): State<AppState>,
    OperatorAuth(who): OperatorAuth,
    ApiQuery(params): ApiQuery<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let filter = match params.get("status").map(|s| s.trim()) {
        None | Some("") => QueueFilter::Unresolved,
        Some(raw) => QueueFilter::Status(raw.parse::<EscalationStatus>().map_err(|_| {
            ApiError::bad_request(
                "invalid_query",
                "`status` must be one of open, claimed, resolved",
            )
        })?),
    };
    let page = parse_u32(&params, "page", 1, 1_000_000)?;
    let per_page = parse_u32(&params, "per_page", 50, 500)?;
    let tenant = super::tenant_of(&state, who.tenant_id).await?;
    let (items, total) = state
        .store
        .escalation_queue(who.tenant_id, filter, page, per_page)
        .await?;
    let escalations: Vec<Value> = items.iter().map(|i| item_json(&tenant, i)).collect();
    Ok(Json(json!({
        "page": page,
        "per_page": per_page,
        "total": total,
        "escalations": escalations,
    })))
}

async fn show(
    State(state): State<AppState>,
    OperatorAuth(who): OperatorAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let id: EscalationId = id.parse()?;
    let tenant = super::tenant_of(&state, who.tenant_id).await?;
    let item = state
        .store
        .queue_item(who.tenant_id, id)
        .await
        .map_err(ApiError::from_store("escalation"))?;
    Ok(Json(item_json(&tenant, &item)))
}

async fn claim(
    State(state): State<AppState>,
    OperatorAuth(who): OperatorAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let id: EscalationId = id.parse()?;
    let csr = Csr::new(who.user_id, who.role);
    let tenant = super::tenant_of(&state, who.tenant_id).await?;
    let item = state
        .store
        .claim_escalation(who.tenant_id, id, &csr, state.clock.now())
        .await
        .map_err(ApiError::from_store("escalation"))?;
    Ok(Json(item_json(&tenant, &item)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Resolve {
    /// The CSR's note on how it ended.
    resolution: String,
    /// One of `store::OUTCOMES`; `other` when left out.
    #[serde(default)]
    outcome: Option<String>,
    #[serde(default)]
    hand_back: bool,
}

async fn resolve(
    State(state): State<AppState>,
    OperatorAuth(who): OperatorAuth,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Resolve>,
) -> ApiResult<Json<Value>> {
    let id: EscalationId = id.parse()?;
    let resolution = super::required_text(
        &body.resolution,
        "resolution",
        MAX_RESOLUTION_CHARS,
        "empty_resolution",
    )?;
    let outcome = match body.outcome.as_deref().map(str::trim) {
        None | Some("") => "other",
        Some(o) => OUTCOMES.iter().copied().find(|k| *k == o).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_outcome",
                format!("`outcome` must be one of {}", OUTCOMES.join(", ")),
            )
        })?,
    };
    let csr = Csr::new(who.user_id, who.role);
    let tenant = super::tenant_of(&state, who.tenant_id).await?;
    let item = state
        .store
        .resolve_escalation(
            who.tenant_id,
            id,
            &csr,
            resolution,
            outcome,
            body.hand_back,
            state.clock.now(),
        )
        .await
        .map_err(ApiError::from_store("escalation"))?;
    Ok(Json(item_json(&tenant, &item)))
}

async fn hand_back(
    State(state): State<AppState>,
    OperatorAuth(who): OperatorAuth,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let id: ConversationId = id.parse()?;
    let csr = Csr::new(who.user_id, who.role);
    let out = state
        .store
        .hand_back(who.tenant_id, id, &csr, state.clock.now())
        .await
        .map_err(ApiError::from_store("conversation"))?;
    Ok(Json(json!({
        "conversation_id": out.conversation.id,
        "owner": out.conversation.owner,
        "status": out.conversation.status,
        "resolved": out.resolved,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Reply {
    text: String,
}

async fn reply(
    State(state): State<AppState>,
    OperatorAuth(who): OperatorAuth,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Reply>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let id: ConversationId = id.parse()?;
    let text = super::required_text(&body.text, "text", MAX_TEXT_CHARS, "empty_text")?;
    let csr = Csr::new(who.user_id, who.role);
    let conv = state
        .store
        .conversation(who.tenant_id, id)
        .await
        .map_err(ApiError::from_store("conversation"))?;
    let outbound = match conv.channel {
        Channel::Sms | Channel::Voice => {
            let to = PhoneE164::parse(conv.reach()).map_err(|_| {
                ApiError::Conflict("this conversation has no phone number to text".into())
            })?;
            if state.store.opted_out(who.tenant_id, &to).await?.is_some() {
                return Err(ApiError::OptedOut);
            }
            let tenant = super::tenant_of(&state, who.tenant_id).await?;
            let from = tenant.phone_numbers.first().cloned().ok_or_else(|| {
                ApiError::Conflict("this tenant has no number to text from".into())
            })?;
            Some(NewOutbound {
                conversation_id: Some(id),
                channel: Channel::Sms,
                to: to.to_string(),
                from,
                body: text.to_string(),
                purpose: "csr_reply".into(),
            })
        }
        // The portal and integrations read the conversation; nothing to send.
        Channel::Chat | Channel::Api => None,
    };
    let out = state
        .store
        .csr_reply(
            who.tenant_id,
            id,
            &csr,
            text,
            outbound.as_ref(),
            state.clock.now(),
        )
        .await
        .map_err(ApiError::from_store("conversation"))?;
    if out.outbound_id.is_some() {
        state.outbox.notify_one();
    }
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "conversation_id": id,
            "message_id": out.message_id,
            "author": csr.label,
            "delivery": if out.outbound_id.is_some() { "sms_queued" } else { "stored" },
            "outbound_id": out.outbound_id,
            "claimed": out.claimed,
        })),
    ))
}
