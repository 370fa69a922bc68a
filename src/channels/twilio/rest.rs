//! Twilio's REST API, the one client: SMS sends (with the delivery status callback), the
//! message list checked before resending after an unknown outcome, and live-call updates.
//! [`Credentials::resolve`] is the one place that decides which account's credentials a
//! tenant's requests (and webhook signatures) use.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::config::TwilioSettings;
use crate::store::Tenant;

/// An account SID and its auth token (the token signs webhooks and authorises REST calls).
#[derive(Clone)]
pub struct Credentials {
    pub account_sid: String,
    pub auth_token: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"[redacted]")
            .finish()
    }
}

impl Credentials {
    /// The tenant's own account when it has one (SID and token), else the deployment's
    /// (`twilio_account_sid` / `twilio_auth_token` settings); `None` when neither is complete.
    pub fn resolve(tenant: &Tenant, defaults: &TwilioSettings) -> Option<Credentials> {
        if let (Some(sid), Some(token)) = (&tenant.twilio_account_sid, &tenant.twilio_auth_token) {
            return Some(Credentials {
                account_sid: sid.clone(),
                auth_token: token.clone(),
            });
        }
        Some(Credentials {
            account_sid: defaults.account_sid.clone()?,
            auth_token: defaults.auth_token.as_ref()?.expose().to_string(),
        })
    }

    /// Just the auth token, for checking a webhook's signature.
    pub fn auth_token(tenant: &Tenant, defaults: &TwilioSettings) -> Option<String> {
        Self::resolve(tenant, defaults).map(|c| c.auth_token)
    }
}

/// Twilio's answer to a message create (only what we keep).
#[derive(Debug, Deserialize)]
struct CreatedMessage {
    sid: String,
    status: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct TwilioError {
    code: Option<i64>,
    message: Option<String>,
}

/// A refusal as Twilio's error body tells it (its HTTP status when the body does not).
fn refused(status: reqwest::StatusCode, text: &str) -> SendError {
    let err: TwilioError = serde_json::from_str(text).unwrap_or_default();
    SendError::Refused {
        code: err.code.unwrap_or(i64::from(status.as_u16())),
        message: err.message.unwrap_or_else(|| format!("HTTP {status}")),
    }
}

#[derive(Clone)]
pub struct TwilioRest {
    http: reqwest::Client,
    api_base: String,
    /// The deployment's credentials, for tenants without their own (the demo tenant).
    defaults: TwilioSettings,
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
            defaults: settings.clone(),
            status_callback: Some(format!("{public_url}/twilio/status")),
        })
    }

    fn credentials(&self, tenant: &Tenant) -> Result<(String, String), SendError> {
        let c = Credentials::resolve(tenant, &self.defaults).ok_or(SendError::NoCredentials)?;
        Ok((c.account_sid, c.auth_token))
    }

    /// `POST /2010-04-01/Accounts/{sid}/Messages.json`; returns the message SID.
    pub async fn send_sms(
        &self,
        tenant: &Tenant,
        from: &str,
        to: &str,
        body: &str,
    ) -> Result<String, SendError> {
        let (sid, token) = self.credentials(tenant)?;
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
        Err(refused(status, &text))
    }
}

impl TwilioRest {
    /// The messages with this body that went from `from` to `to` since `since`, newest first
    /// (`GET …/Messages.json?To=&From=&DateSent>=`): the check before resending after an
    /// attempt whose outcome is unknown. Returns their SIDs; which of them (if any) is the
    /// attempt in question is for the caller to tell, since a text can repeat an earlier one.
    pub async fn sent_like(
        &self,
        tenant: &Tenant,
        from: &str,
        to: &str,
        body: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<String>, SendError> {
        let (sid, token) = self.credentials(tenant)?;
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
            .filter(|m| m.body.as_deref() == Some(body))
            .map(|m| m.sid)
            .collect())
    }

    /// `POST /2010-04-01/Accounts/{sid}/Calls/{CallSid}.json` with new TwiML for a live call
    /// (speak a reply, reconnect the media stream, transfer).
    pub async fn update_call(
        &self,
        tenant: &Tenant,
        call_sid: &str,
        twiml: &str,
    ) -> Result<(), SendError> {
        let (sid, token) = self.credentials(tenant)?;
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
        Err(refused(status, &text))
    }
}
