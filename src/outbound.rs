//! Outbound delivery: messages queued in the outbox (late SMS replies, CSR replies, on-call
//! pages) are sent through Twilio's Messages REST API
//! ([`TwilioRest`]). Opted-out numbers are never messaged
//! (the row is marked `blocked`); proactive messages wait out the tenant's quiet hours; pages
//! and replies to a customer who just wrote go at once.

use std::time::Duration;

use chrono::{DateTime, Timelike, Utc};

pub use crate::channels::twilio::rest::{SendError, TwilioRest};
use crate::channels::twilio::sms::fit_sms;
use crate::domain::PhoneE164;
use crate::email::{MailError, Mailer};
use crate::metrics::record;
use crate::store::{Outbound, Store, StoreResult, Tenant};

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

/// Purposes that may go out during quiet hours (a sign-in link was just asked for).
fn urgent(purpose: &str) -> bool {
    matches!(purpose, "page" | "reply" | "late_reply" | "portal_link")
}

/// How long a sender holds a leased row before another sender may take it over (the
/// default of `FRONTDESK_LEASE_SECS`).
pub const LEASE_SECS: i64 = 60;
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
    Ok(deliver_batch(store, twilio, None, now, limit, LEASE_SECS)
        .await?
        .0)
}

/// [`deliver_pending`] with a mailer for `email` rows and a lease length; also returns how
/// many rows were claimed.
pub async fn deliver_batch(
    store: &Store,
    twilio: &TwilioRest,
    mailer: Option<&Mailer>,
    now: DateTime<Utc>,
    limit: i64,
    lease_secs: i64,
) -> StoreResult<(usize, usize)> {
    let mut changed = 0;
    let mut tenants: Vec<Tenant> = Vec::new();
    let claimed = store.claim_outbound(now, limit, lease_secs).await?;
    let n = claimed.len();
    for mut m in claimed {
        let tenant = match tenants.iter().find(|t| t.id == m.tenant_id) {
            Some(t) => t.clone(),
            None => {
                let t = store.tenant(m.tenant_id).await?;
                tenants.push(t.clone());
                t
            }
        };
        changed += usize::from(
            deliver_one(store, twilio, mailer, &tenant, &mut m, now, lease_secs).await?,
        );
    }
    Ok((changed, n))
}

/// Which of the messages Twilio lists with this row's text (`listed`, newest first) is this
/// row's own send, if any. A reply can repeat an earlier one word for word ("Got it. What
/// can I help you with today?"), so a listed message counts as this send only when our other
/// deliveries of the same text to the number — outbox rows sent with their SIDs, answers
/// confirmed inline (whose SIDs we never learn) — do not account for it.
async fn this_send(
    store: &Store,
    tenant: &Tenant,
    m: &Outbound,
    listed: Vec<String>,
) -> StoreResult<Option<String>> {
    if listed.is_empty() {
        return Ok(None);
    }
    let others = store
        .deliveries_like(tenant.id, m.id, &m.to, &m.body)
        .await?;
    let unaccounted: Vec<String> = listed
        .into_iter()
        .filter(|sid| !others.sids.contains(sid))
        .collect();
    let inline = others
        .inline_replies
        .iter()
        .filter(|(reply, escalated)| {
            fit_sms(reply, tenant.policy.sms_reply_segments(*escalated)) == m.body
        })
        .count();
    Ok(if unaccounted.len() > inline {
        unaccounted.into_iter().next()
    } else {
        None
    })
}

async fn deliver_one(
    store: &Store,
    twilio: &TwilioRest,
    mailer: Option<&Mailer>,
    tenant: &Tenant,
    m: &mut Outbound,
    now: DateTime<Utc>,
    lease_secs: i64,
) -> StoreResult<bool> {
    if let Ok(phone) = PhoneE164::parse(&m.to) {
        if m.purpose != "page" && store.opted_out(tenant.id, &phone).await?.is_some() {
            return finish(store, m, "blocked", None, Some("recipient opted out"), now).await;
        }
    }
    if !urgent(&m.purpose) && in_quiet_hours(tenant, now) {
        store
            .defer_outbound(m.id, quiet_hours_end(tenant, now))
            .await?;
        record::outbound(&m.channel, &m.purpose, "deferred");
        return Ok(false);
    }
    // This claim must still hold the row (its lease may have run out in a slow batch).
    if !store.renew_outbound(m, lease_secs).await? {
        return Ok(false);
    }
    let m = &*m;
    if m.channel == "email" {
        return deliver_email(store, mailer, m, now).await;
    }
    // An uncertain outcome, or an earlier lease that ended without a recorded outcome (its
    // sender died mid-send): the message may have reached Twilio, so look before sending.
    if m.status == "uncertain" || m.attempts > 1 {
        match twilio
            .sent_like(tenant, &m.from, &m.to, &m.body, m.created_at)
            .await
        {
            Ok(listed) => {
                if let Some(sid) = this_send(store, tenant, m, listed).await? {
                    return finish(store, m, "sent", Some(&sid), None, now).await;
                }
            }
            Err(e) => {
                tracing::warn!(outbox = m.id, error = %e, "could not check an uncertain send; will retry");
                return retry_later(store, m, now, "uncertain", &e.to_string()).await;
            }
        }
    }
    match twilio.send_sms(tenant, &m.from, &m.to, &m.body).await {
        Ok(sid) => finish(store, m, "sent", Some(&sid), None, now).await,
        Err(SendError::NotSent(e)) => {
            tracing::warn!(outbox = m.id, error = %e, "send failed before reaching Twilio; will retry");
            retry_later(store, m, now, "queued", &e).await
        }
        Err(SendError::Transport(e)) => {
            // Twilio may have accepted it: the next attempt checks the message list first.
            tracing::warn!(outbox = m.id, error = %e, "send outcome unknown; will check before retrying");
            retry_later(store, m, now, "uncertain", &e).await
        }
        Err(e) => finish(store, m, "failed", None, Some(&e.to_string()), now).await,
    }
}

/// Record a row's outcome (`sent`, `failed`, `blocked`) and count it; the row changed state.
async fn finish(
    store: &Store,
    m: &Outbound,
    status: &'static str,
    sid: Option<&str>,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    store.mark_outbound(m.id, status, sid, error, now).await?;
    record::outbound(&m.channel, &m.purpose, status);
    Ok(true)
}

/// An `email` row: without a mailer it fails at once (the deployment has no SMTP server);
/// a refused or unreachable server is retried with backoff. SMTP has no message list to
/// check, so an e-mail whose sender died mid-send may go out twice.
async fn deliver_email(
    store: &Store,
    mailer: Option<&Mailer>,
    m: &Outbound,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let Some(mailer) = mailer else {
        let error = "e-mail is not configured (FRONTDESK_SMTP_URL)";
        return finish(store, m, "failed", None, Some(error), now).await;
    };
    match mailer
        .send(&m.to, m.subject.as_deref().unwrap_or(""), &m.body)
        .await
    {
        Ok(()) => finish(store, m, "sent", None, None, now).await,
        Err(MailError::Invalid(e)) => finish(store, m, "failed", None, Some(&e), now).await,
        Err(MailError::Smtp(e)) => {
            tracing::warn!(outbox = m.id, error = %e, "e-mail not sent; will retry");
            retry_later(store, m, now, "queued", &e).await
        }
    }
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
        return finish(store, m, "failed", None, Some(error), now).await;
    }
    let backoff = 1i64 << m.attempts.clamp(1, 9);
    store
        .retry_outbound(m.id, status, crate::store::wall_now() + backoff, error)
        .await?;
    record::outbound(&m.channel, &m.purpose, "retried");
    Ok(false)
}

/// Deliver the outbox when woken and at least every `every`, until `stop` flips.
#[allow(clippy::too_many_arguments)]
pub async fn run_sender(
    store: Store,
    twilio: TwilioRest,
    mailer: Option<Mailer>,
    clock: crate::clock::Clock,
    wake: std::sync::Arc<tokio::sync::Notify>,
    every: Duration,
    lease_secs: i64,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    const BATCH: i64 = 50;
    loop {
        match deliver_batch(
            &store,
            &twilio,
            mailer.as_ref(),
            clock.now(),
            BATCH,
            lease_secs,
        )
        .await
        {
            // A full batch: more may be waiting.
            Ok((_, claimed)) if claimed as i64 >= BATCH && !*stop.borrow() => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "outbox delivery failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = wake.notified() => {}
            _ = stop.changed() => break,
        }
    }
}
