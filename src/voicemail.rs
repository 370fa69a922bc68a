//! Voicemail: fetch the recording Twilio made, transcribe it locally, run it as a voice
//! turn and answer by SMS; when it cannot be transcribed or answered by text, it goes to the
//! human queue with its transcript (if any) and the recording link.

use std::time::Duration;

use crate::app::AppState;
use crate::channels::twilio::rest::Credentials;
use crate::channels::twilio::sms::fit_sms;
use crate::channels::twilio::webhook::RecordingCallback;
use crate::domain::{Channel, EscalationReason};
use crate::store::{NewOutbound, Tenant};

/// The largest recording fetched: 120 s of 16-bit mono WAV at 8 kHz is under 2 MB, so this
/// leaves room for other encodings and never reads an unbounded body.
pub const MAX_RECORDING_BYTES: usize = 10 * 1024 * 1024;

/// Twilio's media host; the configured API base (`FRONTDESK_TWILIO_API_BASE`) is the other.
const TWILIO_MEDIA_ORIGIN: &str = "https://api.twilio.com";

/// A recording URL is fetched (with the account's credentials) only from Twilio: the same
/// scheme, host and port as Twilio's API or the configured API base.
fn recording_url(state: &AppState, raw: &str) -> anyhow::Result<reqwest::Url> {
    let url = reqwest::Url::parse(raw).map_err(|_| anyhow::anyhow!("recording url unreadable"))?;
    let origin = |u: &reqwest::Url| {
        (
            u.scheme().to_string(),
            u.host_str().map(str::to_ascii_lowercase),
            u.port_or_known_default(),
        )
    };
    let allowed = [TWILIO_MEDIA_ORIGIN, state.settings.twilio.api_base.as_str()]
        .iter()
        .filter_map(|a| reqwest::Url::parse(a).ok())
        .any(|a| origin(&a) == origin(&url));
    if !allowed || !url.username().is_empty() || url.password().is_some() {
        anyhow::bail!(
            "recording url is not on a Twilio media host ({})",
            url.host_str().unwrap_or("")
        );
    }
    Ok(url)
}

/// Download a recording (WAV) from Twilio, with the account's basic auth, at most
/// [`MAX_RECORDING_BYTES`]. Any other host is refused before a request is made.
pub async fn fetch_recording(
    state: &AppState,
    tenant: &Tenant,
    url: &str,
) -> anyhow::Result<Vec<u8>> {
    let url = recording_url(state, url)?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()?;
    let mut req = client.get(url);
    if let Some(c) = Credentials::resolve(tenant, &state.settings.twilio) {
        req = req.basic_auth(c.account_sid, Some(c.auth_token));
    }
    let mut res = req
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("recording fetch failed: {}", e.without_url()))?;
    if !res.status().is_success() {
        anyhow::bail!("recording fetch answered {}", res.status());
    }
    let too_big = || anyhow::anyhow!("recording larger than {MAX_RECORDING_BYTES} bytes");
    if res
        .content_length()
        .is_some_and(|n| n > MAX_RECORDING_BYTES as u64)
    {
        return Err(too_big());
    }
    let mut body = Vec::new();
    while let Some(chunk) = res
        .chunk()
        .await
        .map_err(|e| anyhow::anyhow!("recording fetch failed: {}", e.without_url()))?
    {
        if body.len() + chunk.len() > MAX_RECORDING_BYTES {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Words that help the recogniser: the company, services and common pests.
pub fn initial_prompt(tenant: &Tenant) -> String {
    format!(
        "{} pest control. Appointment, reschedule, technician, ants, roaches, mosquitoes, termites, mice, rats, wasps, bed bugs, spiders, scorpions.",
        tenant.name
    )
}

/// [`initial_prompt`] plus the caller's name and street when the caller id is exactly one
/// customer's (a shared family phone adds nothing: no one else's details leak into it).
pub async fn caller_prompt(store: &crate::store::Store, tenant: &Tenant, from: &str) -> String {
    let mut prompt = initial_prompt(tenant);
    let Some(phone) = crate::channels::twilio::webhook::caller_number(from) else {
        return prompt;
    };
    let Ok(ids) = store.customers_by_phone(tenant.id, &phone).await else {
        return prompt;
    };
    let [id] = ids.as_slice() else {
        return prompt;
    };
    if let Ok(c) = store.customer(tenant.id, *id).await {
        prompt.push(' ');
        prompt.push_str(&c.name);
        if let Ok(props) = store.properties(tenant.id, *id).await {
            if let [p] = props.as_slice() {
                prompt.push_str(", ");
                prompt.push_str(&p.street);
            }
        }
        prompt.push('.');
    }
    prompt
}

pub async fn handle(
    state: &AppState,
    tenant: &Tenant,
    from: &str,
    cb: &RecordingCallback,
) -> anyhow::Result<()> {
    let url = cb.recording_url.clone();
    let external_id = format!("rec:{}", cb.recording_sid);
    let call_sid = cb.call_sid.as_str();
    let transcript = match &state.transcriber {
        // A recording that cannot be fetched or read still reaches a person, with its link.
        Some(t) => match transcribe(state, tenant, t.clone(), from, &url).await {
            Ok(text) => Some(text.trim().to_string()).filter(|s| !s.is_empty()),
            Err(e) => {
                tracing::warn!(error = %e, "voicemail not transcribed");
                None
            }
        },
        None => None,
    };
    // Answers go by SMS to the caller id; a withheld one cannot be texted.
    let phone = crate::channels::twilio::webhook::caller_number(from);
    let can_text = match &phone {
        Some(p) => state.store.opted_out(tenant.id, p).await?.is_none(),
        None => false,
    };
    match (transcript, phone.filter(|_| can_text)) {
        (Some(text), Some(phone)) => {
            let out = state
                .agent
                .handle(crate::voice::call::inbound(
                    tenant.id,
                    call_sid,
                    from,
                    text,
                    external_id,
                    vec![url],
                ))
                .await?;
            state.outbox.notify_one();
            if let (Some(reply), false) = (out.reply, out.duplicate) {
                let from_number = tenant.phone_numbers.first().cloned().unwrap_or_default();
                let m = NewOutbound {
                    conversation_id: Some(out.conversation_id),
                    channel: Channel::Sms,
                    to: phone.to_string(),
                    from: from_number,
                    body: fit_sms(&format!("Thanks for your voicemail. {reply}"), 3),
                    purpose: "reply".into(),
                };
                state
                    .store
                    .enqueue_outbound(tenant.id, &m, state.clock.now())
                    .await?;
                state.outbox.notify_one();
            }
        }
        (transcript, _) => {
            let text = match transcript {
                Some(t) => format!("Voicemail: \"{t}\" (recording: {url})"),
                None => format!("Voicemail, not transcribed (recording: {url})"),
            };
            state
                .agent
                .file_for_humans(
                    crate::voice::call::inbound(
                        tenant.id,
                        call_sid,
                        from,
                        text.clone(),
                        external_id,
                        vec![url],
                    ),
                    EscalationReason::Voicemail,
                    &text,
                )
                .await?;
        }
    }
    Ok(())
}

async fn transcribe(
    state: &AppState,
    tenant: &Tenant,
    t: std::sync::Arc<dyn crate::voice::Transcriber>,
    from: &str,
    url: &str,
) -> anyhow::Result<String> {
    let audio = fetch_recording(state, tenant, url).await?;
    let pcm = crate::voice::wav_to_16k_mono(&audio)?;
    let prompt = caller_prompt(&state.store, tenant, from).await;
    tokio::task::spawn_blocking(move || t.transcribe(&pcm, &prompt)).await?
}
