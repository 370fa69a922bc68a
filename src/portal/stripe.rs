//! Stripe, the payment provider, as its API documents it: a Checkout Session (hosted payment
//! page; card data never reaches frontdesk) created over REST with a form-encoded body and an
//! `Idempotency-Key`, and the `Stripe-Signature` check of a webhook — HMAC-SHA256 of
//! `t` + `.` + the raw body with the endpoint secret, any `v1` matching in constant time, the
//! timestamp within a tolerance (300 s, as Stripe's libraries default).

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::config::StripeSettings;
use crate::domain::{Cents, CustomerId, InvoiceId, TenantId};

/// The provider's name as stored on payments and sessions.
pub const PROVIDER: &str = "stripe";

/// How far a webhook's timestamp may be from now, in seconds.
pub const TOLERANCE_SECS: i64 = 300;

/// What to ask Stripe for: one line, the invoice's balance.
#[derive(Debug, Clone)]
pub struct CheckoutRequest<'a> {
    pub tenant: TenantId,
    pub customer: CustomerId,
    pub invoice: InvoiceId,
    pub invoice_number: &'a str,
    pub company: &'a str,
    pub amount: Cents,
    pub success_url: &'a str,
    pub cancel_url: &'a str,
    pub customer_email: Option<&'a str>,
}

impl CheckoutRequest<'_> {
    /// The form fields, in Stripe's bracket notation.
    pub fn form(&self) -> Vec<(String, String)> {
        let mut f: Vec<(String, String)> = vec![
            ("mode".into(), "payment".into()),
            ("success_url".into(), self.success_url.into()),
            ("cancel_url".into(), self.cancel_url.into()),
            (
                "client_reference_id".into(),
                format!("{}-{}", self.tenant, self.invoice),
            ),
            ("metadata[tenant_id]".into(), self.tenant.to_string()),
            ("metadata[customer_id]".into(), self.customer.to_string()),
            ("metadata[invoice_id]".into(), self.invoice.to_string()),
            ("line_items[0][quantity]".into(), "1".into()),
            ("line_items[0][price_data][currency]".into(), "usd".into()),
            (
                "line_items[0][price_data][unit_amount]".into(),
                self.amount.0.to_string(),
            ),
            (
                "line_items[0][price_data][product_data][name]".into(),
                format!("{} invoice {}", self.company, self.invoice_number),
            ),
        ];
        if let Some(email) = self.customer_email {
            f.push(("customer_email".into(), email.into()));
        }
        f
    }

    /// The same invoice at the same balance is the same request: a retry (or a second click)
    /// gets Stripe's first answer back instead of a second session.
    pub fn idempotency_key(&self) -> String {
        format!(
            "frontdesk-checkout-{}-{}-{}",
            self.tenant, self.invoice, self.amount.0
        )
    }
}

/// A created session: where to send the customer.
#[derive(Debug, Clone, Deserialize)]
pub struct CheckoutSession {
    pub id: String,
    pub url: String,
}

#[derive(Debug, Deserialize)]
struct StripeErrorBody {
    error: StripeErrorDetail,
}

#[derive(Debug, Deserialize)]
struct StripeErrorDetail {
    #[serde(default)]
    message: String,
}

/// The one HTTP client for Stripe calls (connection reuse across requests).
pub fn client() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(reqwest::Client::new)
}

/// Create a Checkout Session (`POST /v1/checkout/sessions`).
pub async fn create_checkout_session(
    http: &reqwest::Client,
    settings: &StripeSettings,
    req: &CheckoutRequest<'_>,
) -> anyhow::Result<CheckoutSession> {
    let key = settings
        .secret_key
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("no Stripe secret key is configured"))?;
    let res = http
        .post(format!("{}/v1/checkout/sessions", settings.api_base))
        .bearer_auth(key.expose())
        .header("Idempotency-Key", req.idempotency_key())
        .form(&req.form())
        .timeout(std::time::Duration::from_secs(15))
        .send()
        .await?;
    let status = res.status();
    let body = res.bytes().await?;
    if !status.is_success() {
        let message = serde_json::from_slice::<StripeErrorBody>(&body)
            .map(|e| e.error.message)
            .unwrap_or_default();
        anyhow::bail!("Stripe answered {status}: {message}");
    }
    Ok(serde_json::from_slice(&body)?)
}

/// Why a webhook signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header is missing or malformed")]
    Malformed,
    #[error("no v1 signature matches")]
    NoMatch,
    #[error("the timestamp is outside the tolerance")]
    Stale,
}

fn mac(secret: &str, t: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length.
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    m.update(t.as_bytes());
    m.update(b".");
    m.update(body);
    m
}

/// The header Stripe would send for `body` at `t` (tests and the loopback fake use it).
pub fn signature_header(secret: &str, t: i64, body: &[u8]) -> String {
    let sig = mac(secret, &t.to_string(), body).finalize().into_bytes();
    format!("t={t},v1={}", crate::auth::hex(&sig))
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

/// Check `Stripe-Signature` over the raw body: `t=` once, any `v1=` equal (constant time) to
/// HMAC-SHA256(secret, t + "." + body), and |now − t| ≤ tolerance. Other schemes are ignored.
pub fn verify_signature(
    header: &str,
    body: &[u8],
    secret: &str,
    now: i64,
    tolerance: i64,
) -> Result<(), SignatureError> {
    let mut t: Option<&str> = None;
    let mut v1: Vec<Vec<u8>> = Vec::new();
    for part in header.split(',') {
        let Some((k, v)) = part.trim().split_once('=') else {
            continue;
        };
        match k {
            "t" if t.is_none() => t = Some(v),
            "t" => return Err(SignatureError::Malformed),
            "v1" => {
                if let Some(bytes) = unhex(v) {
                    v1.push(bytes);
                }
            }
            _ => {}
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    let ts: i64 = t
        .parse()
        .ok()
        .filter(|_| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
        .ok_or(SignatureError::Malformed)?;
    if v1.is_empty() {
        return Err(SignatureError::NoMatch);
    }
    let expected = mac(secret, t, body).finalize().into_bytes();
    let mut matched = subtle::Choice::from(0u8);
    for candidate in &v1 {
        matched |= candidate.as_slice().ct_eq(expected.as_slice());
    }
    if !bool::from(matched) {
        return Err(SignatureError::NoMatch);
    }
    if (now - ts).abs() > tolerance {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";

    #[test]
    fn signatures_as_stripe_documents_them() {
        let body = br#"{"id":"evt_1","type":"checkout.session.completed"}"#;
        let header = signature_header(SECRET, 1_700_000_000, body);
        assert_eq!(
            verify_signature(&header, body, SECRET, 1_700_000_100, 300),
            Ok(())
        );
        // Any v1 may match; other schemes are ignored.
        let sig = header.split("v1=").nth(1).expect("v1");
        let several = format!("t=1700000000,v0=abc,v1={},v1={sig}", "00".repeat(32));
        assert_eq!(
            verify_signature(&several, body, SECRET, 1_700_000_000, 300),
            Ok(())
        );
        // One byte of the body changed, another secret, a stale or future timestamp.
        let mut changed = body.to_vec();
        changed[3] = b'X';
        assert_eq!(
            verify_signature(&header, &changed, SECRET, 1_700_000_000, 300),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify_signature(&header, body, "whsec_other", 1_700_000_000, 300),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify_signature(&header, body, SECRET, 1_700_000_301, 300),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify_signature(&header, body, SECRET, 1_699_999_699, 300),
            Err(SignatureError::Stale)
        );
        for bad in ["", "v1=00", "t=abc,v1=00", "t=-5,v1=00", "t=1,t=2,v1=00"] {
            assert!(
                verify_signature(bad, body, SECRET, 1, 300).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_checkout_form_uses_brackets_and_the_balance() {
        let req = CheckoutRequest {
            tenant: TenantId(1),
            customer: CustomerId(2),
            invoice: InvoiceId(3),
            invoice_number: "INV-3",
            company: "Greenleaf",
            amount: Cents(12_345),
            success_url: "https://x.test/ok?session_id={CHECKOUT_SESSION_ID}",
            cancel_url: "https://x.test/no",
            customer_email: None,
        };
        let form = req.form();
        let get = |k: &str| {
            form.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("mode"), Some("payment"));
        assert_eq!(get("line_items[0][price_data][unit_amount]"), Some("12345"));
        assert_eq!(get("metadata[invoice_id]"), Some("3"));
        assert_eq!(req.idempotency_key(), "frontdesk-checkout-1-3-12345");
    }
}
