//! Outbound delivery: messages queued in the outbox (late SMS replies, CSR replies, on-call
//! pages) are sent through Twilio's Messages REST API. Opted-out numbers are never messaged
//! (the row is marked `blocked`); proactive messages wait out the tenant's quiet hours; pages
//! and replies to a customer who just wrote go at once.

use std::time::Duration;

use chrono::{DateTime, Timelike, Utc};
use serde::Deserialize;

use crate::config::{Secret, TwilioSettings};
use crate::domain::PhoneE164;
use crate::store::{Outbound, Store, StoreResult, Tenant};

/// Twilio's answer to a message create (only what we keep).
#[derive(Debug, Deserialize)]
struct CreatedMessage {
    sid: String,
    status: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TwilioError {
    code: Option<i64>,
    message: Option<String>,
}

#[derive(Clone)]
pub struct TwilioRest {
    http: reqwest::Client,
    api_base: String,
    /// Used when a tenant has no credentials of its own (the demo tenant).
    default_account_sid: Option<String>,
    default_auth_token: Option<Secret>,
    /// Where Twilio reports delivery (`{public_url}/twilio/status`).
    status_callback: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("no Twilio credentials for this tenant")]
    NoCredentials,
    #[error("Twilio refused the message ({code}): {message}")]
    Refused { code: i64, message: String },
    /// The request never reached Twilio (connection refused, DNS): safe to send again.
    #[error("Twilio could not be reached: {0}")]
    NotSent(String),
    /// The request may have reached Twilio (timeout, broken answer): sending again could
    /// send twice.
    #[error("no usable answer from Twilio: {0}")]
    Transport(String),
}

fn transport(e: reqwest::Error) -> SendError {
    if e.is_connect() || e.is_builder() {
        SendError::NotSent(e.without_url().to_string())
    } else {
        SendError::Transport(e.without_url().to_string())
    }
}

/// A page of Twilio's message list (only what we compare).
#[derive(Debug, Deserialize)]
struct MessageList {
    messages: Vec<ListedMessage>,
}

#[derive(Debug, Deserialize)]
struct ListedMessage {
    sid: String,
    body: Option<String>,
}

impl TwilioRest {
    pub fn new(settings: &TwilioSettings, public_url: &str) -> anyhow::Result<TwilioRest> {
        Ok(TwilioRest {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
            api_base: settings.api_base.clone(),
            default_account_sid: settings.account_sid.clone(),
            default_auth_token: settings.auth_token.clone(),
            status_callback: Some(format!("{public_url}/twilio/status")),
        })
    }

    fn credentials(&self, tenant: &Tenant) -> Option<(String, String)> {
        match (&tenant.twilio_account_sid, &tenant.twilio_auth_token) {
            (Some(sid), Some(token)) => Some((sid.clone(), token.clone())),
            _ => Some((
                self.default_account_sid.clone()?,
                self.default_auth_token.as_ref()?.expose().to_string(),
            )),
        }
    }

    /// `POST /2010-04-01/Accounts/{sid}/Messages.json`; returns the message SID.
    pub async fn send_sms(
        &self,
        tenant: &Tenant,
        from: &str,
        to: &str,
        body: &str,
    ) -> Result<String, SendError> {
        let (sid, token) = self.credentials(tenant).ok_or(SendError::NoCredentials)?;
        let url = format!("{}/2010-04-01/Accounts/{sid}/Messages.json", self.api_base);
        let mut form: Vec<(&str, &str)> = vec![("To", to), ("From", from), ("Body", body)];
        if let Some(cb) = &self.status_callback {
            form.push(("StatusCallback", cb));
        }
        let res = self
            .http
            .post(&url)
            .basic_auth(&sid, Some(&token))
            .form(&form)
            .send()
            .await
            .map_err(transport)?;
        let status = res.status();
        let text = res
            .text()
            .await
            .map_err(|e| SendError::Transport(e.without_url().to_string()))?;
        if status.is_success() {
            let created: CreatedMessage = serde_json::from_str(&text)
                .map_err(|e| SendError::Transport(format!("unreadable answer: {e}")))?;
            tracing::debug!(sid = %created.sid, status = ?created.status, "sms accepted");
            return Ok(created.sid);
        }
        let err: TwilioError = serde_json::from_str(&text).unwrap_or(TwilioError {
            code: None,
            message: None,
        });
        Err(SendError::Refused {
            code: err.code.unwrap_or(i64::from(status.as_u16())),
            message: err.message.unwrap_or_else(|| format!("HTTP {status}")),
        })
    }
}

impl TwilioRest {
    /// Whether a message with this body already went from `from` to `to` since `since`
    /// (`GET …/Messages.json?To=&From=&DateSent>=`): the check before resending after an
    /// attempt whose outcome is unknown. Returns its SID.
    pub async fn find_sent(
        &self,
        tenant: &Tenant,
        from: &str,
        to: &str,
        body: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<String>, SendError> {
        let (sid, token) = self.credentials(tenant).ok_or(SendError::NoCredentials)?;
        let url = format!("{}/2010-04-01/Accounts/{sid}/Messages.json", self.api_base);
        let day = (since - chrono::Duration::days(1))
            .format("%Y-%m-%d")
            .to_string();
        let res = self
            .http
            .get(&url)
            .basic_auth(&sid, Some(&token))
            .query(&[
                ("To", to),
                ("From", from),
                ("DateSent>", day.as_str()),
                ("PageSize", "50"),
            ])
            .send()
            .await
            .map_err(transport)?;
        if !res.status().is_success() {
            return Err(SendError::Transport(format!("HTTP {}", res.status())));
        }
        let list: MessageList = res
            .json()
            .await
            .map_err(|e| SendError::Transport(format!("unreadable message list: {e}")))?;
        Ok(list
            .messages
            .into_iter()
            .find(|m| m.body.as_deref() == Some(body))
            .map(|m| m.sid))
    }

    /// `POST /2010-04-01/Accounts/{sid}/Calls/{CallSid}.json` with new TwiML for a live call
    /// (speak a reply, reconnect the media stream, transfer).
    pub async fn update_call(
        &self,
        tenant: &Tenant,
        call_sid: &str,
        twiml: &str,
    ) -> Result<(), SendError> {
        let (sid, token) = self.credentials(tenant).ok_or(SendError::NoCredentials)?;
        let url = format!(
            "{}/2010-04-01/Accounts/{sid}/Calls/{call_sid}.json",
            self.api_base
        );
        let res = self
            .http
            .post(&url)
            .basic_auth(&sid, Some(&token))
            .form(&[("Twiml", twiml)])
            .send()
            .await
            .map_err(|e| SendError::Transport(e.without_url().to_string()))?;
        let status = res.status();
        if status.is_success() {
            return Ok(());
        }
        let text = res.text().await.unwrap_or_default();
        let err: TwilioError = serde_json::from_str(&text).unwrap_or(TwilioError {
            code: None,
            message: None,
        });
        Err(SendError::Refused {
            code: err.code.unwrap_or(i64::from(status.as_u16())),
            message: err.message.unwrap_or_else(|| format!("HTTP {status}")),
        })
    }
}

/// Whether `at` falls in the tenant's quiet hours (local time).
pub fn in_quiet_hours(tenant: &Tenant, at: DateTime<Utc>) -> bool {
    let h = tenant.timezone.local(at).hour() as u8;
    let (start, end) = (
        tenant.policy.quiet_hours_start,
        tenant.policy.quiet_hours_end,
    );
    if start == end {
        false
    } else if start < end {
        h >= start && h < end
    } else {
        h >= start || h < end
    }
}

/// When the quiet hours that contain `at` end (local time).
pub fn quiet_hours_end(tenant: &Tenant, at: DateTime<Utc>) -> DateTime<Utc> {
    let local = tenant.timezone.local(at);
    let end = chrono::NaiveTime::from_hms_opt(u32::from(tenant.policy.quiet_hours_end), 0, 0)
        .unwrap_or_default();
    let today = tenant.timezone.instant(local.date_naive(), end);
    if today > at {
        today
    } else {
        tenant
            .timezone
            .instant(local.date_naive() + chrono::Duration::days(1), end)
    }
}

/// Purposes that may go out during quiet hours.
fn urgent(purpose: &str) -> bool {
    matches!(purpose, "page" | "reply" | "late_reply")
}

/// How long a sender holds a leased row before another sender may take it over.
const LEASE_SECS: i64 = 60;
/// Attempts before a message that keeps failing to reach Twilio is given up (and logged).
const MAX_ATTEMPTS: i64 = 8;

/// Send what is due (bounded per call): pages first, each row leased so no other sender
/// (in this or another instance) sends it at the same time. Returns how many rows changed
/// state.
pub async fn deliver_pending(
    store: &Store,
    twilio: &TwilioRest,
    now: DateTime<Utc>,
    limit: i64,
) -> StoreResult<usize> {
    let mut changed = 0;
    let mut tenants: Vec<Tenant> = Vec::new();
    for m in store.claim_outbound(now, limit, LEASE_SECS).await? {
        let tenant = match tenants.iter().find(|t| t.id == m.tenant_id) {
            Some(t) => t.clone(),
            None => {
                let t = store.tenant(m.tenant_id).await?;
                tenants.push(t.clone());
                t
            }
        };
        changed += usize::from(deliver_one(store, twilio, &tenant, &m, now).await?);
    }
    Ok(changed)
}

async fn deliver_one(
    store: &Store,
    twilio: &TwilioRest,
    tenant: &Tenant,
    m: &Outbound,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    if let Ok(phone) = PhoneE164::parse(&m.to) {
        if m.purpose != "page" && store.opted_out(tenant.id, &phone).await?.is_some() {
            store
                .mark_outbound(m.id, "blocked", None, Some("recipient opted out"), now)
                .await?;
            return Ok(true);
        }
    }
    if !urgent(&m.purpose) && in_quiet_hours(tenant, now) {
        store
            .defer_outbound(m.id, quiet_hours_end(tenant, now))
            .await?;
        return Ok(false);
    }
    if m.status == "uncertain" {
        // The last attempt may have reached Twilio: look before sending again.
        match twilio
            .find_sent(tenant, &m.from, &m.to, &m.body, m.created_at)
            .await
        {
            Ok(Some(sid)) => {
                store
                    .mark_outbound(m.id, "sent", Some(&sid), None, now)
                    .await?;
                return Ok(true);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(outbox = m.id, error = %e, "could not check an uncertain send; will retry");
                return retry_later(store, m, now, "uncertain", &e.to_string()).await;
            }
        }
    }
    match twilio.send_sms(tenant, &m.from, &m.to, &m.body).await {
        Ok(sid) => {
            store
                .mark_outbound(m.id, "sent", Some(&sid), None, now)
                .await?
        }
        Err(SendError::NotSent(e)) => {
            tracing::warn!(outbox = m.id, error = %e, "send failed before reaching Twilio; will retry");
            return retry_later(store, m, now, "queued", &e).await;
        }
        Err(SendError::Transport(e)) => {
            // Twilio may have accepted it: the next attempt checks the message list first.
            tracing::warn!(outbox = m.id, error = %e, "send outcome unknown; will check before retrying");
            return retry_later(store, m, now, "uncertain", &e).await;
        }
        Err(e) => {
            store
                .mark_outbound(m.id, "failed", None, Some(&e.to_string()), now)
                .await?
        }
    }
    Ok(true)
}

/// Back off (2, 4, 8 … seconds on the wall clock) and try again, at most `MAX_ATTEMPTS`
/// times.
async fn retry_later(
    store: &Store,
    m: &Outbound,
    now: DateTime<Utc>,
    status: &str,
    error: &str,
) -> StoreResult<bool> {
    if m.attempts >= MAX_ATTEMPTS {
        tracing::error!(
            outbox = m.id,
            attempts = m.attempts,
            error,
            "giving up on a message"
        );
        store
            .mark_outbound(m.id, "failed", None, Some(error), now)
            .await?;
        return Ok(true);
    }
    let backoff = 1i64 << m.attempts.clamp(1, 9);
    store
        .retry_outbound(m.id, status, crate::store::wall_now() + backoff, error)
        .await?;
    Ok(false)
}

/// Deliver the outbox when woken and at least every `every`, until `stop` flips.
pub async fn run_sender(
    store: Store,
    twilio: TwilioRest,
    clock: crate::clock::Clock,
    wake: std::sync::Arc<tokio::sync::Notify>,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if let Err(e) = deliver_pending(&store, &twilio, clock.now(), 50).await {
            tracing::warn!(error = %e, "outbox delivery failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = wake.notified() => {}
            _ = stop.changed() => break,
        }
    }
}

/// For a tenant, the number messages go out from.
pub fn sender_number(tenant: &Tenant) -> Option<&str> {
    tenant.phone_numbers.first().map(String::as_str)
}
