//! Signed outbound webhooks to integrations. Each delivery is a `POST` of the event as JSON
//! with `Frontdesk-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`;
//! any 2xx answer counts as delivered, anything else (or no answer) is retried with
//! exponential backoff up to [`WEBHOOK_MAX_ATTEMPTS`] attempts, each attempt logged.
//!
//! Addresses pass a policy: http(s) only, and every address the host resolves to must be
//! public (no loopback, private, link-local, shared or otherwise special ranges) unless
//! `FRONTDESK_WEBHOOK_ALLOW_PRIVATE` is set. The policy is checked when a subscription is
//! made and again on every attempt, and the request goes to the address that was checked.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::store::{wall_now, DueWebhook, Store, WEBHOOK_MAX_ATTEMPTS};

/// The signature header.
pub const SIGNATURE_HEADER: &str = "Frontdesk-Signature";
/// How long one attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// A claimed delivery is not picked up by another instance for this long.
const LEASE_SECS: i64 = 60;
/// Look for due retries at least this often.
const POLL_EVERY: Duration = Duration::from_secs(1);

/// `t=<t>,v1=<hex hmac>` for a body sent at `t`.
pub fn signature(secret: &str, t: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{t}.{body}").as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={t},v1={hex}")
}

/// Seconds before attempt `n + 1` after `n` failed ones: 1, 2, 4, … capped at an hour.
pub fn backoff_secs(failed: i64) -> i64 {
    (1i64 << (failed - 1).clamp(0, 12)).min(3600)
}

/// Whether an address is on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    fn v4(ip: Ipv4Addr) -> bool {
        let [a, b, ..] = ip.octets();
        !(ip.is_loopback()
            || ip.is_private()
            || ip.is_link_local()
            || ip.is_unspecified()
            || ip.is_broadcast()
            || ip.is_documentation()
            || ip.is_multicast()
            || a == 0
            || (a == 100 && (64..128).contains(&b))
            || (a == 192 && b == 0)
            || (a == 198 && (18..20).contains(&b))
            || a >= 240)
    }
    fn v6(ip: Ipv6Addr) -> bool {
        if let Some(m) = ip.to_ipv4_mapped() {
            return v4(m);
        }
        let first = ip.segments()[0];
        !(ip.is_loopback()
            || ip.is_unspecified()
            || ip.is_multicast()
            || (first & 0xfe00) == 0xfc00
            || (first & 0xffc0) == 0xfe80
            || first == 0x2001 && ip.segments()[1] == 0x0db8)
    }
    match ip {
        IpAddr::V4(ip) => v4(ip),
        IpAddr::V6(ip) => v6(ip),
    }
}

/// Why a callback URL is refused, in words for the client.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AddressRefused(pub String);

/// Check a callback URL against the address policy; the host and the address to send to.
pub async fn check_url(
    url: &str,
    allow_private: bool,
) -> Result<(String, SocketAddr), AddressRefused> {
    let refuse = |m: &str| AddressRefused(m.to_string());
    let parsed = reqwest::Url::parse(url).map_err(|_| refuse("the URL cannot be read"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(refuse("only http and https URLs are allowed"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(refuse("credentials in the URL are not allowed"));
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| refuse("the URL has no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = parsed
        .port_or_known_default()
        .ok_or_else(|| refuse("the URL has no port"))?;
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|_| refuse("the host does not resolve"))?
        .collect();
    let first = *addrs
        .first()
        .ok_or_else(|| refuse("the host does not resolve"))?;
    if !allow_private && addrs.iter().any(|a| !is_public(a.ip())) {
        return Err(refuse(
            "the host resolves to a loopback, private or otherwise non-public address",
        ));
    }
    Ok((host, first))
}

/// One attempt: `Ok(status)` when the receiver answered, `Err` when it could not be reached
/// (or the address was refused).
async fn attempt(d: &DueWebhook, allow_private: bool) -> Result<u16, String> {
    let (host, addr) = check_url(&d.url, allow_private)
        .await
        .map_err(|e| e.to_string())?;
    let client = reqwest::Client::builder()
        .timeout(ATTEMPT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .resolve(&host, addr)
        .build()
        .map_err(|e| e.to_string())?;
    let t = wall_now();
    let res = client
        .post(&d.url)
        .header("content-type", "application/json")
        .header(SIGNATURE_HEADER, signature(&d.secret, t, &d.body))
        .body(d.body.clone())
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    Ok(res.status().as_u16())
}

/// Plan deliveries from new events and send what is due, once.
pub async fn deliver_due(store: &Store, allow_private: bool) -> anyhow::Result<usize> {
    store.plan_webhook_deliveries(wall_now()).await?;
    let due = store.claim_due_webhooks(wall_now(), 20, LEASE_SECS).await?;
    let n = due.len();
    for d in due {
        let outcome = attempt(&d, allow_private).await;
        let now = wall_now();
        let failed = d.attempts + 1;
        let retry_at = (failed < WEBHOOK_MAX_ATTEMPTS).then(|| now + backoff_secs(failed));
        match outcome {
            Ok(code) if (200..300).contains(&code) => {
                store
                    .record_webhook_attempt(&d, true, Some(code), None, None, now)
                    .await?
            }
            Ok(code) => {
                tracing::warn!(
                    delivery = d.id,
                    status = code,
                    "webhook refused; will retry"
                );
                store
                    .record_webhook_attempt(&d, false, Some(code), None, retry_at, now)
                    .await?
            }
            Err(e) => {
                tracing::warn!(delivery = d.id, error = %e, "webhook failed; will retry");
                store
                    .record_webhook_attempt(&d, false, None, Some(&e), retry_at, now)
                    .await?
            }
        }
    }
    Ok(n)
}

/// Deliver webhooks when events are written and at least every second (for retries),
/// until `stop` flips.
pub async fn run_webhooks(
    store: Store,
    allow_private: bool,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut wake = store.event_wakeups();
    loop {
        wake.borrow_and_update();
        if let Err(e) = deliver_due(&store, allow_private).await {
            tracing::warn!(error = %e, "webhook delivery pass failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL_EVERY) => {}
            _ = wake.changed() => {}
            _ = stop.changed() => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_policy_refuses_non_public_ranges() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(ip.parse().expect("ip")), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:4700::1111"] {
            assert!(is_public(ip.parse().expect("ip")), "{ip}");
        }
    }

    #[test]
    fn signatures_are_hmac_sha256_over_time_and_body() {
        let s = signature("key", 1, "x");
        assert!(s.starts_with("t=1,v1="));
        assert_eq!(s.len(), "t=1,v1=".len() + 64);
        assert_ne!(s, signature("other", 1, "x"));
        assert_ne!(s, signature("key", 2, "x"));
        assert_eq!(backoff_secs(1), 1);
        assert_eq!(backoff_secs(3), 4);
        assert_eq!(backoff_secs(40), 3600);
    }
}
