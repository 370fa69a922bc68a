//! Voicemail: fetch the recording Twilio made, transcribe it locally, run it as a voice
//! turn and answer by SMS; when it cannot be transcribed or answered by text, it goes to the
//! human queue with its transcript (if any) and the recording link.

use std::time::Duration;

use crate::agent::{Caller, Inbound};
use crate::channels::twilio::sms::fit_sms;
use crate::channels::twilio::webhook::RecordingCallback;
use crate::domain::{Channel, EscalationReason, PhoneE164};
use crate::http::AppState;
use crate::store::{NewOutbound, Tenant};

/// Download a recording (WAV). Twilio may require the account's basic auth.
pub async fn fetch_recording(
    state: &AppState,
    tenant: &Tenant,
    url: &str,
) -> anyhow::Result<Vec<u8>> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()?;
    let mut req = client.get(url);
    let sid = tenant
        .twilio_account_sid
        .clone()
        .or_else(|| state.settings.twilio.account_sid.clone());
    let token = tenant.twilio_auth_token.clone().or_else(|| {
        state
            .settings
            .twilio
            .auth_token
            .as_ref()
            .map(|s| s.expose().to_string())
    });
    if let (Some(sid), Some(token)) = (sid, token) {
        req = req.basic_auth(sid, Some(token));
    }
    let res = req
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("recording fetch failed: {}", e.without_url()))?;
    if !res.status().is_success() {
        anyhow::bail!("recording fetch answered {}", res.status());
    }
    Ok(res.bytes().await?.to_vec())
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
    let Ok(phone) = PhoneE164::parse(from) else {
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
    let transcript = match &state.transcriber {
        Some(t) => {
            let audio = fetch_recording(state, tenant, &url).await?;
            let pcm = crate::voice::wav_to_16k_mono(&audio)?;
            let t = t.clone();
            let prompt = caller_prompt(&state.store, tenant, from).await;
            let text = tokio::task::spawn_blocking(move || t.transcribe(&pcm, &prompt)).await??;
            Some(text.trim().to_string()).filter(|s| !s.is_empty())
        }
        None => None,
    };
    let phone = PhoneE164::parse(from).ok();
    let can_text = match &phone {
        Some(p) => state.store.opted_out(tenant.id, p).await?.is_none(),
        None => false,
    };
    match (transcript, can_text) {
        (Some(text), true) => {
            let out = state
                .agent
                .handle(Inbound {
                    tenant: tenant.id,
                    channel: Channel::Voice,
                    participant: from.to_string(),
                    text,
                    external_id: Some(external_id),
                    media: vec![url],
                    caller: Caller::phone(from, false),
                    reply_from: None,
                })
                .await?;
            if let (Some(reply), false) = (out.reply, out.duplicate) {
                let from_number = tenant.phone_numbers.first().cloned().unwrap_or_default();
                let m = NewOutbound {
                    conversation_id: Some(out.conversation_id),
                    channel: Channel::Sms,
                    to: from.to_string(),
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
                    Inbound {
                        tenant: tenant.id,
                        channel: Channel::Voice,
                        participant: from.to_string(),
                        text: text.clone(),
                        external_id: Some(external_id),
                        media: vec![url],
                        caller: Caller::phone(from, false),
                        reply_from: None,
                    },
                    EscalationReason::Voicemail,
                    &text,
                )
                .await?;
        }
    }
    Ok(())
}
