//! Who a call is, for the agent: the conversation belongs to the call (its `CallSid`), never
//! to the caller id, so nothing one call earned (a verified identity, a transcript) carries
//! over to the next call from the same number; a withheld caller id matches no one. Every
//! voice path (speech gather, Media Streams, voicemail) builds its turns here.
//!
//! Also the Media Streams URL tokens: a `<Connect><Stream>` names a single-use token bound to
//! its call and valid for [`STREAM_TOKEN_TTL_SECS`]; the handshake spends it.

use chrono::{DateTime, Duration, Utc};

use crate::agent::Inbound;
use crate::channels::twilio::webhook::caller_number;
use crate::domain::Caller;
use crate::domain::{Channel, TenantId};
use crate::store::Store;

/// How long a stream URL may wait for its handshake: Twilio first speaks the reply that
/// precedes the `<Connect>`, so this covers the longest reply plus the connection.
pub const STREAM_TOKEN_TTL_SECS: i64 = 180;

/// The conversation key of a call.
pub fn participant(call_sid: &str) -> String {
    format!("call:{call_sid}")
}

/// What a caller id is worth: a number to match (never to verify: caller ids can be spoofed),
/// or nothing.
pub fn caller(raw_from: &str) -> Caller {
    match caller_number(raw_from) {
        Some(phone) => Caller::Phone {
            phone,
            verifies: false,
        },
        None => Caller::Unknown,
    }
}

/// One voice turn of the call `call_sid`.
pub fn inbound(
    tenant: TenantId,
    call_sid: &str,
    raw_from: &str,
    text: String,
    external_id: String,
    media: Vec<String>,
) -> Inbound {
    Inbound {
        tenant,
        channel: Channel::Voice,
        participant: participant(call_sid),
        text,
        external_id: Some(external_id),
        media,
        caller: caller(raw_from),
        // Voice replies are spoken; nothing is texted later from a call's turn.
        reply_from: None,
    }
}

/// A new stream token for `call_sid` (random, 256 bits; only its hash is stored).
pub async fn issue_stream_token(
    store: &Store,
    tenant: TenantId,
    call_sid: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<String> {
    let token = crate::auth::generate_token()?;
    let expires = now + Duration::seconds(STREAM_TOKEN_TTL_SECS);
    store
        .insert_stream_token(
            tenant,
            &crate::auth::hash_token(&token),
            call_sid,
            expires,
            now,
        )
        .await?;
    Ok(token)
}
