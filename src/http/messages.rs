//! The generic inbound-message API for integrations and answering services:
//! `POST /api/v1/messages` with an integration (or admin) token. `to` picks the tenant the
//! way a Twilio number would, and must belong to the token's tenant.
//!
//! What an integration may assert: `from` is a caller id it reports, not proof. The caller is
//! at most *matched* to the customers on file with that phone (a knowledge factor verifies,
//! as on a voice call), unless the token was created with `--verifies-callers` (an answering
//! service that checked who is calling itself); then a phone on file verifies, as an SMS from
//! the carrier does. `channel` is the channel the integration's customer used; it is
//! validated but does not choose the conversation: every API message belongs to an API
//! conversation of its own token and caller (`api:<token id>:<phone>`), never to the
//! carrier's SMS or voice thread with that phone, nor to another token's.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::bearer;
use super::{ApiJson, AppState};
use crate::agent::{Caller, Inbound};
use crate::auth::Principal;
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
        let principal = state
            .store
            .authenticate(bearer(parts)?)
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
    let external_id = super::optional_id(
        body.external_id.as_deref(),
        "external_id",
        200,
        "invalid_external_id",
    )?;
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
    // Integrations authenticate with a token (see `IntegrationAuth`).
    let token = who.token_id.ok_or(ApiError::Unauthorized)?;
    state.limits.messages_per_token.check(&token.to_string())?;
    tracing::debug!(%channel, %token, "integration message");
    let outcome = state
        .agent
        .handle(Inbound {
            tenant: tenant.id,
            channel: Channel::Api,
            // One integration's conversations (and their external ids) are its own: never a
            // carrier's thread, never another token's.
            participant: format!("api:{token}:{from}"),
            text: text.to_string(),
            external_id: external_id.map(str::to_string),
            media: vec![],
            caller: Caller::Phone {
                phone: from.clone(),
                verifies: who.verifies_callers,
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
