//! The generic inbound-message API for integrations and answering services:
//! `POST /api/v1/messages` with an integration (or admin) token. `to` picks the tenant the
//! way a Twilio number would, and must belong to the token's tenant.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::bearer;
use super::{ApiJson, AppState};
use crate::agent::{Caller, Inbound};
use crate::auth::{authenticate, Principal};
use crate::domain::{Channel, PhoneE164, Role};
use crate::error::{ApiError, ApiResult};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/messages", post(inbound))
}

/// An integration or admin token.
pub struct IntegrationAuth(pub Principal);

impl FromRequestParts<AppState> for IntegrationAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let principal = authenticate(&state.store, bearer(parts)?)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        if !matches!(principal.role, Role::Integration | Role::Admin) {
            return Err(ApiError::Forbidden);
        }
        Ok(IntegrationAuth(principal))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundMessage {
    pub channel: String,
    pub from: String,
    pub to: String,
    pub text: String,
    pub external_id: Option<String>,
}

/// Longest accepted message text (Twilio's SMS limit).
pub const MAX_TEXT_CHARS: usize = 1600;

async fn inbound(
    State(state): State<AppState>,
    IntegrationAuth(who): IntegrationAuth,
    ApiJson(body): ApiJson<InboundMessage>,
) -> ApiResult<Json<Value>> {
    let channel: Channel = body.channel.parse()?;
    let from = PhoneE164::parse(&body.from)
        .map_err(|e| ApiError::bad_request("invalid_from", e.message))?;
    let to =
        PhoneE164::parse(&body.to).map_err(|e| ApiError::bad_request("invalid_to", e.message))?;
    let text = super::required_text(&body.text, "text", MAX_TEXT_CHARS, "empty_text")?;
    if body.external_id.as_ref().is_some_and(|e| e.len() > 200) {
        return Err(ApiError::bad_request(
            "invalid_external_id",
            "`external_id` is limited to 200 characters",
        ));
    }
    let tenant = state.store.tenant_by_number(to.as_str()).await?;
    let tenant = match tenant {
        Some(t) if t.id == who.tenant_id => t,
        _ => {
            return Err(ApiError::bad_request(
                "unknown_number",
                "`to` is not a number of this tenant",
            ))
        }
    };
    let outcome = state
        .agent
        .handle(Inbound {
            tenant: tenant.id,
            channel,
            participant: from.to_string(),
            text: text.to_string(),
            external_id: body.external_id.clone(),
            media: vec![],
            caller: Caller::Phone {
                phone: from.clone(),
                verifies: true,
            },
            reply_from: None,
        })
        .await?;
    Ok(Json(json!({
        "conversation_id": outcome.conversation_id,
        "reply": outcome.reply,
        "escalated": outcome.escalated,
        "duplicate": outcome.duplicate,
    })))
}
