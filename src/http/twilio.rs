//! Twilio webhooks: inbound SMS, status callbacks and voice (speech gather, voicemail).
//! Every request is signature-checked against the public URL Twilio used before anything
//! else happens; a failure is a bare 403. The tenant is the owner of the `To` number.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

use super::AppState;
use crate::agent::runtime::{Accepted, AgentError};
use crate::agent::{Caller, Inbound, TurnOutcome};
use crate::channels::twilio::form;
use crate::channels::twilio::rest::Credentials;
use crate::channels::twilio::signature::{PublicBaseUrl, Validator, HEADER};
use crate::channels::twilio::sms::{fit_sms, keyword, Keyword};
use crate::channels::twilio::twiml::{self, Dial, Gather, Record, Say};
use crate::channels::twilio::webhook::{
    self, GatherResult, InboundSms, MessageStatusCallback, RecordingCallback, VoiceCall,
};
use crate::domain::{Channel, PhoneE164, TenantId};
use crate::store::{Delivery, StoreError, Tenant};

pub(super) const VOICE: &str = "Polly.Joanna";
const SPEECH_MODEL: &str = "phone_call";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/twilio/sms", post(sms))
        .route("/twilio/status", post(status))
        .route("/twilio/voice", post(voice))
        .route("/twilio/voice/turn", post(voice_turn))
        .route("/twilio/voice/recording", post(recording))
}

/// An answer without a body: what Twilio gets when there is nothing to say (204), when a
/// check fails (403) or when it should try again (503).
pub(super) fn bare(status: StatusCode) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain")], "").into_response()
}

pub(super) fn forbidden() -> Response {
    bare(StatusCode::FORBIDDEN)
}

/// A store failure Twilio should retry after: logged, answered 503.
fn unavailable<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> Response {
    move |e| {
        tracing::error!(error = %e, "{what}");
        bare(StatusCode::SERVICE_UNAVAILABLE)
    }
}

fn twiml_response(r: twiml::Response) -> Response {
    ([(header::CONTENT_TYPE, twiml::CONTENT_TYPE)], r.to_xml()).into_response()
}

/// A checked webhook: the decoded parameters and the tenant that owns `To`.
struct Verified {
    params: Vec<(String, String)>,
    tenant: Tenant,
}

/// Check the signature of a form POST to `path` against the tenant that owns its `To`.
async fn verify(
    state: &AppState,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Verified, Response> {
    let unverified = form::decode(body).map_err(|_| forbidden())?;
    // Recording status callbacks carry no `To`: the URL we gave Twilio names our number
    // (`?to=`), and the signature covers that URL.
    let to = webhook::to_param(&unverified)
        .map(str::to_string)
        .or_else(|| query_param(query, "to"))
        .unwrap_or_default();
    verify_for(state, &to, path, query, headers, body).await
}

/// Check the signature of a form POST to `path`. The tenant is the owner of `ours`, our
/// number as the (unverified) request names it, since its auth token is what signs the
/// request; nothing is trusted until the signature holds.
async fn verify_for(
    state: &AppState,
    ours: &str,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Verified, Response> {
    let tenant = match state.store.tenant_by_number(ours).await {
        Ok(Some(t)) => t,
        _ => return Err(forbidden()),
    };
    let token = Credentials::auth_token(&tenant, &state.settings.twilio).ok_or_else(forbidden)?;
    let base = PublicBaseUrl::parse(&state.settings.public_url).map_err(|_| forbidden())?;
    let url = base.request_url(path, query);
    let signature = headers.get(HEADER).and_then(|v| v.to_str().ok());
    match Validator::new(token).validate_form(&url, body, signature) {
        Ok(params) => Ok(Verified { params, tenant }),
        Err(e) => {
            tracing::warn!(code = e.code(), path, "twilio signature rejected");
            Err(forbidden())
        }
    }
}

/// One parameter of a raw query string, decoded.
fn query_param(query: Option<&str>, key: &str) -> Option<String> {
    let pairs = form::decode(query?.as_bytes()).ok()?;
    pairs.into_iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn bad_webhook(code: &str) -> Response {
    tracing::warn!(code, "malformed twilio webhook");
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "text/plain")],
        code.to_string(),
    )
        .into_response()
}

/// Run a turn and answer within the budget. The message is stored first (an error there
/// answers 503, so Twilio retries and nothing is lost). Exactly one party delivers the reply,
/// recorded on the inbox row: this request (inline TwiML) if the turn finishes in time;
/// otherwise the turn, still running in the background, queues it for the REST sender. A
/// redelivery of a finished message is answered only if nobody delivered its reply yet (the
/// process died between finishing the turn and answering).
///
/// With `withhold` (the number's replies are throttled) the turn runs and its reply is
/// recorded as withheld instead of being sent.
async fn turn_within_budget(
    state: &AppState,
    inbound: Inbound,
    withhold: bool,
) -> Result<Option<TurnOutcome>, StoreError> {
    let how = if withhold {
        Delivery::Withheld
    } else {
        Delivery::Inline
    };
    let budget = state.settings.twilio.reply_budget;
    let deadline = tokio::time::Instant::now() + budget;
    let pending = match state.agent.accept_to_run(&inbound).await {
        Ok(Accepted::Done(out)) => {
            let item = state
                .store
                .inbox_by_id(inbound.tenant, out.inbox_id)
                .await?;
            return Ok(match item.delivery {
                Some(_) => None,
                None => state
                    .store
                    .claim_delivery(inbound.tenant, out.inbox_id, how)
                    .await?
                    .then_some(out)
                    .filter(|_| !withhold),
            });
        }
        Ok(Accepted::Pending(pending)) => pending,
        Err(AgentError::Store(e)) => return Err(e),
        Err(e) => {
            tracing::warn!(error = %e, "inbound message refused");
            return Ok(None);
        }
    };
    let inbox_id = pending.inbox_id;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task_state = state.clone();
    let (tenant, customer) = (inbound.tenant, inbound.participant.clone());
    // The turn runs to completion whatever happens to this request.
    tokio::spawn(async move {
        let result = task_state.agent.wait_for(tenant, pending, Some(how)).await;
        // The turn may have queued a page to the on-call number: send now.
        task_state.outbox.notify_one();
        // Nobody waits any more: the reply goes out by REST (unless already delivered).
        if let Err(Ok(out)) = tx.send(result) {
            if withhold {
                if let Err(e) = task_state
                    .store
                    .claim_delivery(tenant, out.inbox_id, Delivery::Withheld)
                    .await
                {
                    tracing::error!(error = %e, "could not record a withheld reply");
                }
                return;
            }
            // A turn that recorded its reply as answered inline hands it to the outbox as
            // unconfirmed: sent unless Twilio's message list has it.
            let from = match out.delivery {
                Some(Delivery::Inline) => crate::store::Handover::Unconfirmed,
                _ => crate::store::Handover::Undelivered,
            };
            match task_state.store.inbox_by_id(tenant, out.inbox_id).await {
                Ok(item) => match task_state.agent.queue_reply(&item, &customer, from).await {
                    Ok(Some(_)) => task_state.outbox.notify_one(),
                    Ok(None) => {}
                    Err(e) => tracing::error!(error = %e, "could not queue a late reply"),
                },
                Err(e) => tracing::error!(error = %e, "could not read a finished turn"),
            }
        }
    });
    match tokio::time::timeout_at(deadline, rx).await {
        Ok(Ok(Ok(out))) => {
            // Claimed with the turn when this request's task ran it.
            let claimed = match out.delivery {
                Some(d) => d == how,
                None => {
                    state
                        .store
                        .claim_delivery(inbound.tenant, out.inbox_id, how)
                        .await?
                }
            };
            Ok(claimed.then_some(out).filter(|_| !withhold))
        }
        other => {
            match other {
                Ok(Ok(Err(e))) => tracing::error!(error = %e, "turn failed"),
                Err(_) => {
                    tracing::info!("turn slower than the reply budget; the reply goes out by REST")
                }
                _ => {}
            }
            // Answered without its turn: the message must be on disk first.
            state.store.flush_accepted(inbound.tenant, inbox_id).await?;
            Ok(None)
        }
    }
}

async fn sms(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Response> {
    let v = verify(&state, "/twilio/sms", query.as_deref(), &headers, &body).await?;
    let msg = InboundSms::from_form(&v.params).map_err(|e| bad_webhook(e.code()))?;
    let Some(from) = msg.from.phone().cloned() else {
        return Ok(twiml_response(twiml::Response::new()));
    };
    let tenant = v.tenant;
    let now = state.clock.now();
    let opted_out = state
        .store
        .opted_out(tenant.id, &from)
        .await
        .map_err(unavailable("opt-out lookup failed"))?
        .is_some();
    match keyword(&msg.body) {
        Some(Keyword::OptOut) => {
            state
                .store
                .opt_out(tenant.id, &from, now)
                .await
                .map_err(unavailable("could not record an opt-out"))?;
            // The carrier confirms the opt-out itself; we send nothing more.
            return Ok(twiml_response(twiml::Response::new()));
        }
        Some(Keyword::OptIn) if opted_out => {
            if let Err(e) = state.store.opt_in(tenant.id, &from).await {
                tracing::error!(error = %e, "could not record an opt-in");
            }
            return Ok(twiml_response(twiml::Response::new().message(format!(
                "{}: you're subscribed again. Reply HELP for help, STOP to opt out.",
                tenant.name
            ))));
        }
        Some(Keyword::Help) => {
            return Ok(twiml_response(
                twiml::Response::new().message(help_text(&tenant)),
            ))
        }
        _ => {}
    }
    let inbound = Inbound {
        tenant: tenant.id,
        channel: Channel::Sms,
        participant: from.to_string(),
        text: msg.body.clone(),
        external_id: Some(msg.message_sid.to_string()),
        media: msg.media.iter().map(|m| m.url.clone()).collect(),
        caller: Caller::Phone {
            phone: from.clone(),
            verifies: true,
        },
        reply_from: Some(msg.to.as_str().to_string()),
    };
    // A number texting faster than people do is answered at most at the guard's rate; its
    // messages are still stored, run and shown to people.
    let withhold = state
        .limits
        .sms_replies_per_number
        .check(&format!("{}:{from}", tenant.id))
        .is_err();
    if withhold {
        tracing::warn!(tenant = %tenant.id, "replies to a number are throttled (reply loop?)");
    }
    let out = turn_within_budget(&state, inbound, withhold)
        .await
        .map_err(unavailable("could not store an inbound message"))?;
    Ok(match out {
        // An opted-out number is never texted.
        Some(out) if !opted_out => match out.reply {
            Some(reply) if !reply.trim().is_empty() => {
                let max = tenant.policy.sms_reply_segments(out.escalated);
                confirm_when_sent(
                    twiml::Response::new().message(fit_sms(&reply, max)),
                    &state,
                    tenant.id,
                    out.inbox_id,
                )
            }
            _ => twiml_response(twiml::Response::new()),
        },
        _ => twiml_response(twiml::Response::new()),
    })
}

/// The answer, confirmed as delivered only once the whole of it has been handed to the
/// connection (until then the reply's inline delivery is unconfirmed, and recovery checks it
/// against Twilio's message list if this process dies first). The body has a known length, so
/// the connection takes it in one piece and writes it out in the same step; confirming in
/// the body's own stream, before its end was written, let a kill between the two cut an
/// answer that was already recorded as sent.
fn confirm_when_sent(
    answer: twiml::Response,
    state: &AppState,
    tenant: TenantId,
    inbox_id: i64,
) -> Response {
    let store = state.store.clone();
    let background = state.background.clone();
    let confirm = move || {
        background.spawn(async move {
            if let Err(e) = store.confirm_inline(tenant, inbox_id).await {
                tracing::warn!(error = %e, "could not confirm an inline reply");
            }
        })
    };
    let body = SentInOnePiece {
        data: Some(Bytes::from(answer.to_xml())),
        handed_over: false,
        on_handed_over: Some(Box::new(confirm)),
    };
    (
        [(header::CONTENT_TYPE, twiml::CONTENT_TYPE)],
        axum::body::Body::new(body),
    )
        .into_response()
}

/// A body of one known-length chunk that runs `on_handed_over` when it is dropped after the
/// connection took the chunk (never when the connection went away before that).
struct SentInOnePiece {
    data: Option<Bytes>,
    handed_over: bool,
    on_handed_over: Option<Box<dyn FnOnce() + Send>>,
}

impl http_body::Body for SentInOnePiece {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let frame = this.data.take().map(|data| {
            this.handed_over = true;
            Ok(http_body::Frame::data(data))
        });
        std::task::Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.data.as_ref().map_or(0, |d| d.len() as u64))
    }
}

impl Drop for SentInOnePiece {
    fn drop(&mut self) {
        if self.handed_over && tokio::runtime::Handle::try_current().is_ok() {
            if let Some(confirm) = self.on_handed_over.take() {
                confirm();
            }
        }
    }
}

fn help_text(tenant: &Tenant) -> String {
    let office = tenant.office_phone.as_deref().unwrap_or_else(|| {
        tenant
            .phone_numbers
            .first()
            .map(String::as_str)
            .unwrap_or("")
    });
    format!("{}: automated assistant for appointments and quotes. Call the office at {office}. Reply STOP to opt out.", tenant.name)
}

async fn status(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Response> {
    // Status callbacks carry `From` = our number, `To` = the customer: sign-check against
    // the tenant that owns `From`.
    let swapped = form::decode(&body).map_err(|_| forbidden())?;
    let from = webhook::from_param(&swapped).unwrap_or_default();
    let path = "/twilio/status";
    let v = verify_for(&state, from, path, query.as_deref(), &headers, &body).await?;
    let cb = MessageStatusCallback::from_form(&v.params).map_err(|e| bad_webhook(e.code()))?;
    let error = cb.error_code.map(|c| format!("twilio error {c}"));
    state
        .store
        .outbound_status(
            v.tenant.id,
            &cb.message_sid.to_string(),
            cb.message_status.as_str(),
            error.as_deref(),
            state.clock.now(),
        )
        .await
        .map_err(unavailable("could not record a delivery status"))?;
    Ok(bare(StatusCode::NO_CONTENT))
}

// ----------------------------------------------------------------------------------------
// Voice

fn gather(state: &AppState, tenant: &Tenant, n: u32, prompt: &str) -> twiml::Response {
    let base = state.settings.public_url.clone();
    let hints = "appointment, reschedule, ants, roaches, mosquitoes, termites, rodents, wasps, bed bugs, price, agent, representative";
    twiml::Response::new()
        .gather(
            Gather::speech(format!("{base}/twilio/voice/turn?n={n}"), SPEECH_MODEL)
                .hints(hints)
                .say(Say::new(prompt).voice(VOICE)),
        )
        .say(
            Say::new(format!(
                "Sorry, I didn't hear anything. You can call {} back any time. Goodbye.",
                tenant.name
            ))
            .voice(VOICE),
        )
        .hangup()
}

/// The numbers of the call travel in the callback URL: Twilio's recording status callback
/// names neither the caller nor the number called.
fn voicemail(state: &AppState, call: &CallNumbers, prompt: &str) -> twiml::Response {
    let base = state.settings.public_url.clone();
    let numbers = form::encode(&[("to", call.to.as_str()), ("from", call.from.as_str())]);
    twiml::Response::new()
        .say(Say::new(prompt).voice(VOICE))
        .record(
            Record::new(format!("{base}/twilio/voice/recording?stage=done"))
                .max_length(120)
                .play_beep(true)
                .recording_status_callback(format!("{base}/twilio/voice/recording?{numbers}"))
                .recording_status_callback_event("completed"),
        )
}

/// Who called which of our numbers.
pub(super) struct CallNumbers {
    pub(super) from: String,
    pub(super) to: String,
}

impl CallNumbers {
    fn of(params: &[(String, String)]) -> Self {
        CallNumbers {
            from: webhook::from_param(params).unwrap_or_default().to_string(),
            to: webhook::to_param(params).unwrap_or_default().to_string(),
        }
    }
}

/// A person: the office during business hours, voicemail after.
pub(super) fn to_a_person(
    state: &AppState,
    tenant: &Tenant,
    call: &CallNumbers,
    said: &str,
) -> twiml::Response {
    let open = tenant
        .business_hours
        .is_open(tenant.timezone, state.clock.now());
    match (open, tenant.office_phone.as_deref().and_then(|p| PhoneE164::parse(p).ok())) {
        (true, Some(office)) => twiml::Response::new().say(Say::new(format!("{said} Connecting you to our office now.")).voice(VOICE)).dial(Dial::number(office).timeout(25)),
        _ => voicemail(state, call, &format!("{said} Our office is closed right now. Please leave a message after the beep and we'll get back to you.")),
    }
}

async fn voice(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Response> {
    let v = verify(&state, "/twilio/voice", query.as_deref(), &headers, &body).await?;
    VoiceCall::from_form(&v.params).map_err(|e| bad_webhook(e.code()))?;
    let greeting = format!(
        "Thanks for calling {}. I'm the automated assistant. I can move an appointment, give you a price, or book a visit. Say agent or press zero at any time for a person. How can I help?",
        v.tenant.name
    );
    Ok(twiml_response(gather(&state, &v.tenant, 1, &greeting)))
}

fn wants_person(g: &GatherResult) -> bool {
    if g.digits.as_deref() == Some("0") {
        return true;
    }
    let said = g.speech_result.as_deref().unwrap_or("").to_lowercase();
    let words: Vec<&str> = said
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    words.len() <= 4
        && words.iter().any(|w| {
            matches!(
                *w,
                "agent" | "representative" | "operator" | "person" | "human"
            )
        })
}

async fn voice_turn(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Response> {
    let path = "/twilio/voice/turn";
    let v = verify(&state, path, query.as_deref(), &headers, &body).await?;
    let g = GatherResult::from_form(&v.params).map_err(|e| bad_webhook(e.code()))?;
    let n: u32 = query
        .as_deref()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("n=")))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let call = CallNumbers::of(&v.params);
    let tenant = v.tenant;
    if wants_person(&g) {
        return Ok(twiml_response(to_a_person(
            &state,
            &tenant,
            &call,
            "Of course.",
        )));
    }
    let speech = g.speech_result.clone().unwrap_or_default();
    if speech.trim().is_empty() || g.confidence.is_some_and(|c| c < 0.35) {
        return Ok(twiml_response(gather(
            &state,
            &tenant,
            n + 1,
            "Sorry, I didn't catch that. Could you say it another way?",
        )));
    }
    let emergency = sounds_like_emergency(&state, &tenant, &speech);
    let inbound = crate::voice::call::inbound(
        tenant.id,
        g.call_sid.as_str(),
        &call.from,
        speech,
        format!("{}:{n}", g.call_sid),
        vec![],
    );
    // The turn runs on its own task: the webhook answers within the budget, and a slower turn
    // still completes (its escalation and on-call page included), never cancelled halfway.
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task_state = state.clone();
    tokio::spawn(async move {
        let result = task_state.agent.handle(inbound).await;
        task_state.outbox.notify_one();
        let _ = tx.send(result);
    });
    let out = match tokio::time::timeout(state.settings.twilio.reply_budget, rx).await {
        Ok(Ok(Ok(out))) => Some(out),
        Ok(Ok(Err(e))) => {
            tracing::error!(error = %e, "voice turn failed");
            None
        }
        Ok(Err(_)) => {
            tracing::error!("voice turn ended without a result");
            None
        }
        Err(_) => {
            tracing::info!(
                "voice turn slower than the reply budget; it completes in the background"
            );
            None
        }
    };
    Ok(twiml_response(match out {
        None => to_a_person(&state, &tenant, &call, &trouble(emergency)),
        Some(out) => match out.reply.filter(|r| !r.trim().is_empty()) {
            Some(reply) if out.escalated => to_a_person(&state, &tenant, &call, &reply),
            Some(reply) => gather(&state, &tenant, n + 1, &reply),
            // The agent stays silent (a person owns the conversation): never leave the
            // caller in silence, take them to that person.
            None => to_a_person(&state, &tenant, &call, SILENT_AGENT),
        },
    }))
}

/// What the caller hears when the agent has nothing to say on a call.
pub(super) const SILENT_AGENT: &str = "Let me get you to someone who can help.";

/// What the caller hears when a turn failed or is still running: safety guidance first when
/// what they said sounds like an emergency.
pub(super) fn trouble(emergency: bool) -> String {
    let sorry = "Sorry, I'm having trouble right now.";
    if emergency {
        format!("{} {sorry}", crate::agent::prompts::safety_guidance())
    } else {
        sorry.to_string()
    }
}

/// Whether the built-in understanding reads `text` as an emergency (stinging insects indoors,
/// an allergic reaction, structural risk), without any model call.
pub(super) fn sounds_like_emergency(state: &AppState, tenant: &Tenant, text: &str) -> bool {
    let ctx = crate::agent::builtin::Context {
        now_local: tenant.timezone.local(state.clock.now()).naive_local(),
    };
    crate::agent::builtin::understand(text, &ctx)
        .intents
        .contains(&crate::agent::builtin::Intent::Emergency)
}

async fn recording(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Response> {
    let path = "/twilio/voice/recording";
    let v = verify(&state, path, query.as_deref(), &headers, &body).await?;
    // The <Record> action (caller hung up or finished): just end the call.
    if query_param(query.as_deref(), "stage").as_deref() == Some("done") {
        return Ok(twiml_response(
            twiml::Response::new()
                .say(Say::new("Thank you. Goodbye.").voice(VOICE))
                .hangup(),
        ));
    }
    let cb = RecordingCallback::from_form(&v.params).map_err(|e| bad_webhook(e.code()))?;
    let from = webhook::from_param(&v.params)
        .map(str::to_string)
        .or_else(|| query_param(query.as_deref(), "from"))
        .unwrap_or_default();
    let task_state = state.clone();
    let tenant = v.tenant;
    state.background.spawn(async move {
        if let Err(e) = crate::voicemail::handle(&task_state, &tenant, &from, &cb).await {
            tracing::error!(error = %e, "voicemail handling failed");
        }
    });
    Ok(bare(StatusCode::NO_CONTENT))
}
