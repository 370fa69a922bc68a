//! `GET /twilio/voice/stream/{token}`: the Media Streams WebSocket of a live call.
//!
//! Every `<Connect><Stream>` names its own URL: a single-use token bound to the call and valid
//! for a few minutes (`voice::call::issue_stream_token`). The handshake is signature-checked
//! over that `wss://` URL and spends the token before the upgrade; a `start` naming another
//! call ends the stream. Messages are capped at [`MAX_MESSAGE_BYTES`] (Twilio's are well
//! under 1 KB). Caller audio
//! (8 kHz µ-law) is decoded to 16 kHz, cut into turns by the energy end-of-turn detector, and
//! each finished utterance is transcribed (initial prompt: company, the caller's name and
//! street when the caller id matches one customer, pests), run as a voice turn, and answered
//! by updating the call through Twilio's REST API: `<Say>` the reply, then `<Connect>` a new
//! stream (Twilio ends this one). The turn number travels as a stream parameter, so external
//! ids `CallSid:stream:<n>` stay unique across reconnections. DTMF `0` transfers like the
//! gather flow.

use std::collections::VecDeque;
use std::time::Instant;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use tokio::sync::mpsc;

use super::twilio::{
    forbidden, sounds_like_emergency, to_a_person, trouble, CallNumbers, SILENT_AGENT, VOICE,
};
use super::AppState;
use crate::channels::twilio::media::{
    mulaw_8k_to_f32_16k, EndOfTurn, StreamEvent, Track, TurnConfig, TurnEvent, Upsampler,
};
use crate::channels::twilio::rest::{Credentials, TwilioRest};
use crate::channels::twilio::signature::{PublicBaseUrl, Validator, HEADER};
use crate::channels::twilio::twiml::{self, Say, Stream};
use crate::domain::TenantId;
use crate::store::Tenant;

pub const PATH: &str = "/twilio/voice/stream";
/// The URL a `<Connect><Stream>` names: the path plus its single-use token.
pub const TOKEN_PATH: &str = "/twilio/voice/stream/{token}";
/// Audio kept from before the detector fired, so the first syllable is not clipped.
const PRE_ROLL_CHUNKS: usize = 10;

/// The largest WebSocket message or frame taken from Twilio: its messages (20 ms of audio,
/// a start with a few parameters) are well under this.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        // The fixed URL opens nothing: a stream needs the token its TwiML named.
        .route(PATH, get(|| async { forbidden() }))
        .route(TOKEN_PATH, get(stream))
}

/// The public `wss://` URL of a stream token.
fn stream_url(base: &PublicBaseUrl, token: &str) -> String {
    base.websocket_url(&format!("{PATH}/{token}"))
}

/// What a spent stream token binds the socket to.
struct Bound {
    tenant: TenantId,
    call_sid: String,
}

/// The handshake: a token that exists, signed by its tenant's auth token (or the
/// account-wide one) over the URL naming it, then spent; exactly one handshake wins it.
async fn check_handshake(
    state: &AppState,
    headers: &HeaderMap,
    token: &str,
) -> Result<Bound, Response> {
    let refuse = |why: &str| {
        tracing::warn!(path = PATH, why, "media stream handshake refused");
        forbidden()
    };
    let hash = crate::auth::hash_token(token);
    let issued = match state.store.stream_token(&hash).await {
        Ok(Some(t)) => t,
        Ok(None) => return Err(refuse("unknown token")),
        Err(e) => {
            tracing::error!(error = %e, "stream token lookup failed");
            return Err(forbidden());
        }
    };
    let base = PublicBaseUrl::parse(&state.settings.public_url).map_err(|_| forbidden())?;
    let url = stream_url(&base, token);
    let signature = headers.get(HEADER).and_then(|v| v.to_str().ok());
    let token = match state.store.tenant(issued.tenant_id).await {
        Ok(t) => Credentials::auth_token(&t, &state.settings.twilio),
        Err(_) => return Err(refuse("no tenant")),
    };
    let signed = token.is_some_and(|t| {
        Validator::new(t)
            .validate_stream_handshake(&url, signature)
            .is_ok()
    });
    if !signed {
        return Err(refuse("signature"));
    }
    match state.store.use_stream_token(&hash, state.clock.now()).await {
        Ok(true) => Ok(Bound {
            tenant: issued.tenant_id,
            call_sid: issued.call_sid,
        }),
        Ok(false) => Err(refuse("token used or expired")),
        Err(e) => {
            tracing::error!(error = %e, "could not spend a stream token");
            Err(forbidden())
        }
    }
}

async fn stream(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let bound = match check_handshake(&state, &headers, &token).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    ws.max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| async move {
            if let Err(e) = run(state, socket, bound).await {
                tracing::warn!(error = %e, "media stream ended with an error");
            }
        })
}

/// What a turn worker needs about the call.
#[derive(Clone)]
struct Call {
    tenant: Tenant,
    call_sid: String,
    from: String,
    to: String,
    prompt: String,
}

impl Call {
    fn numbers(&self) -> CallNumbers {
        CallNumbers {
            from: self.from.clone(),
            to: self.to.clone(),
        }
    }
}

enum Work {
    Utterance { pcm: Vec<f32>, ended: Instant },
    Transfer,
}

async fn run(state: AppState, mut socket: WebSocket, bound: Bound) -> anyhow::Result<()> {
    let mut upsampler = Upsampler::new();
    let mut detector = EndOfTurn::new(TurnConfig::default(), 16_000);
    let mut utterance: Vec<f32> = Vec::new();
    let mut pre_roll: VecDeque<Vec<f32>> = VecDeque::with_capacity(PRE_ROLL_CHUNKS);
    let mut worker: Option<(mpsc::Sender<Work>, tokio::task::JoinHandle<()>)> = None;
    let mut chunk = Vec::with_capacity(320);
    while let Some(msg) = socket.recv().await {
        let text = match msg? {
            Message::Text(t) => t,
            Message::Close(_) => break,
            Message::Binary(_) => {
                tracing::warn!("binary frame on a media stream");
                break;
            }
            _ => continue,
        };
        let event = match StreamEvent::parse(text.as_str()) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "unreadable media stream frame");
                continue;
            }
        };
        match event {
            StreamEvent::Connected { .. } | StreamEvent::Mark(_) | StreamEvent::Unknown => {}
            StreamEvent::Start(start) => {
                if worker.is_some() || start.start.call_sid.as_str() != bound.call_sid {
                    tracing::warn!("media stream start for another call than its token's");
                    break;
                }
                let params = &start.start.custom_parameters;
                let to = start.start.called();
                let tenant = match state.store.tenant_by_number(&to).await? {
                    Some(t) if t.id == bound.tenant => t,
                    _ => {
                        tracing::warn!("media stream for an unknown number");
                        break;
                    }
                };
                let n: u32 = params.get("n").and_then(|n| n.parse().ok()).unwrap_or(1);
                let from = start.start.caller();
                let prompt = crate::voicemail::caller_prompt(&state.store, &tenant, &from).await;
                let call = Call {
                    tenant,
                    call_sid: start.start.call_sid.to_string(),
                    from,
                    to,
                    prompt,
                };
                let (tx, rx) = mpsc::channel(4);
                let handle = tokio::spawn(turns(state.clone(), call, n, rx));
                worker = Some((tx, handle));
            }
            StreamEvent::Media(m) => {
                if !matches!(m.media.track, Track::Inbound | Track::Unknown) {
                    continue;
                }
                let Ok(mulaw) = m.media.mulaw() else { continue };
                chunk.clear();
                mulaw_8k_to_f32_16k(&mut upsampler, &mulaw, &mut chunk);
                let in_turn_before = detector.in_turn();
                let events = detector.push(&chunk);
                if in_turn_before || detector.in_turn() {
                    if !in_turn_before {
                        utterance = pre_roll.iter().flatten().copied().collect();
                    }
                    utterance.extend_from_slice(&chunk);
                }
                for e in events {
                    match e {
                        TurnEvent::Ended(_) => {
                            let pcm = std::mem::take(&mut utterance);
                            if let Some((tx, _)) = &worker {
                                let _ = tx
                                    .send(Work::Utterance {
                                        pcm,
                                        ended: Instant::now(),
                                    })
                                    .await;
                            }
                        }
                        TurnEvent::Discarded => utterance.clear(),
                        _ => {}
                    }
                }
                if pre_roll.len() == PRE_ROLL_CHUNKS {
                    pre_roll.pop_front();
                }
                pre_roll.push_back(chunk.clone());
            }
            StreamEvent::Dtmf(d) => {
                if d.dtmf.digit == "0" {
                    if let Some((tx, _)) = &worker {
                        let _ = tx.send(Work::Transfer).await;
                    }
                }
            }
            StreamEvent::Stop(_) => break,
        }
    }
    // Let a turn already under way finish (it answers by REST, not on this socket).
    if let Some((tx, handle)) = worker {
        drop(tx);
        let _ = handle.await;
    }
    Ok(())
}

/// One call's turns, in order.
async fn turns(state: AppState, call: Call, mut n: u32, mut rx: mpsc::Receiver<Work>) {
    let rest = match TwilioRest::new(&state.settings.twilio, &state.settings.public_url) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "no Twilio client");
            return;
        }
    };
    while let Some(work) = rx.recv().await {
        let twiml = match work {
            Work::Transfer => to_a_person(&state, &call.tenant, &call.numbers(), "Of course."),
            Work::Utterance { pcm, ended } => match turn(&state, &call, n, pcm).await {
                Ok(Some(t)) => {
                    tracing::info!(call = %call.call_sid, n, took_ms = ended.elapsed().as_millis() as u64, "stream turn answered");
                    n += 1;
                    t
                }
                Ok(None) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "stream turn failed");
                    to_a_person(&state, &call.tenant, &call.numbers(), &trouble(false))
                }
            },
        };
        if let Err(e) = rest
            .update_call(&call.tenant, &call.call_sid, &twiml.to_xml())
            .await
        {
            tracing::error!(error = %e, call = %call.call_sid, "could not update the call");
        }
    }
}

/// Transcribe and run one utterance; `None` when nothing was understood.
async fn turn(
    state: &AppState,
    call: &Call,
    n: u32,
    pcm: Vec<f32>,
) -> anyhow::Result<Option<twiml::Response>> {
    let Some(t) = state.transcriber.clone() else {
        // No speech model: a person has to take the call.
        return Ok(Some(to_a_person(
            state,
            &call.tenant,
            &call.numbers(),
            "Let me get you to someone who can help.",
        )));
    };
    let prompt = call.prompt.clone();
    let text = tokio::task::spawn_blocking(move || t.transcribe(&pcm, &prompt)).await??;
    let text = text.trim().to_string();
    if text.is_empty() {
        return Ok(None);
    }
    let emergency = sounds_like_emergency(state, &call.tenant, &text);
    let inbound = crate::voice::call::inbound(
        call.tenant.id,
        &call.call_sid,
        &call.from,
        text,
        format!("{}:stream:{n}", call.call_sid),
        vec![],
    );
    let out = match state.agent.handle(inbound).await {
        Ok(out) => out,
        Err(e) => {
            tracing::error!(error = %e, "stream turn failed");
            return Ok(Some(to_a_person(
                state,
                &call.tenant,
                &call.numbers(),
                &trouble(emergency),
            )));
        }
    };
    state.outbox.notify_one();
    if out.duplicate {
        return Ok(None);
    }
    Ok(Some(match out.reply.filter(|r| !r.trim().is_empty()) {
        Some(reply) if out.escalated => to_a_person(state, &call.tenant, &call.numbers(), &reply),
        Some(reply) => speak_and_listen(state, call, n + 1, &reply).await?,
        None => to_a_person(state, &call.tenant, &call.numbers(), SILENT_AGENT),
    }))
}

/// `<Say>` the reply, then reconnect the media stream for the next turn (a new token).
async fn speak_and_listen(
    state: &AppState,
    call: &Call,
    next: u32,
    reply: &str,
) -> anyhow::Result<twiml::Response> {
    let base = PublicBaseUrl::parse(&state.settings.public_url)?;
    let token = crate::voice::call::issue_stream_token(
        &state.store,
        call.tenant.id,
        &call.call_sid,
        state.clock.now(),
    )
    .await?;
    let stream = Stream::new(stream_url(&base, &token))?
        .call_numbers(call.from.clone(), call.to.clone())
        .parameter("n", next.to_string());
    Ok(twiml::Response::new()
        .say(Say::new(reply).voice(VOICE))
        .connect_stream(stream))
}
