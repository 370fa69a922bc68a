//! Magic-link sign-in: `request` answers the same whether or not the contact is on file,
//! counts every request against a per-contact and a per-address limit, and for each customer
//! the contact belongs to stores a single-use link (hashed) that lives 15 minutes. A phone's
//! link goes out as an SMS through the outbox (Twilio REST); an e-mail's link is handed to
//! [`send_link_email`]. `redeem` uses a link once and returns a portal token.

use chrono::{DateTime, Duration, Utc};

use crate::auth::portal::{self, PortalClaims};
use crate::channels::twilio::rest::Credentials;
use crate::domain::{Channel, PhoneE164};
use crate::store::{NewOutbound, Store, StoreResult, Tenant};

/// How long a link may be used.
pub const LINK_LIFETIME: Duration = Duration::minutes(15);
/// How long a portal session (the token a link becomes) lasts.
pub const SESSION_LIFETIME: Duration = Duration::hours(12);
/// The window the limits count over.
pub const LIMIT_WINDOW: Duration = Duration::hours(1);
/// Link requests per contact (phone or e-mail) per window.
pub const PER_CONTACT_LIMIT: i64 = 5;
/// Link requests per client address per window.
pub const PER_ADDRESS_LIMIT: i64 = 20;
/// At most this many customers get a link for one shared contact.
const MAX_CUSTOMERS_PER_CONTACT: usize = 5;

/// A contact to send a link to, parsed at the edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contact {
    Phone(PhoneE164),
    Email(String),
}

impl Contact {
    /// A lowercased e-mail with one `@` and a dot in the domain.
    pub fn email(raw: &str) -> Option<Contact> {
        let e = raw.trim().to_ascii_lowercase();
        let (local, domain) = e.split_once('@')?;
        let ok = !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
            && e.len() <= 254
            && !e.chars().any(|c| c.is_whitespace() || c.is_control());
        ok.then_some(Contact::Email(e))
    }

    fn key(&self) -> String {
        match self {
            Contact::Phone(p) => format!("contact:{p}"),
            Contact::Email(e) => format!("contact:{e}"),
        }
    }
}

/// A request refused by a limit: which one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    Contact,
    Address,
}

/// The link's URL for a token.
pub fn link_url(public_url: &str, token: &str) -> String {
    format!("{public_url}/portal/link/{token}")
}

/// Ask for a sign-in link. `Ok(())` whatever the contact (the caller answers the same
/// either way); `Err` only when a limit is reached.
pub async fn request(
    store: &Store,
    twilio: &crate::config::TwilioSettings,
    public_url: &str,
    tenant: &Tenant,
    contact: &Contact,
    address: &str,
    now: DateTime<Utc>,
) -> StoreResult<Result<(), Limited>> {
    let keys = [contact.key(), format!("address:{address}")];
    let counts = store
        .count_login_request(tenant.id, &keys, now - LIMIT_WINDOW, now)
        .await?;
    if counts[0] >= PER_CONTACT_LIMIT {
        return Ok(Err(Limited::Contact));
    }
    if counts[1] >= PER_ADDRESS_LIMIT {
        return Ok(Err(Limited::Address));
    }
    let customers = match contact {
        Contact::Phone(p) => store.customers_by_phone(tenant.id, p).await?,
        Contact::Email(e) => store.customers_by_email(tenant.id, e).await?,
    };
    for customer in customers.into_iter().take(MAX_CUSTOMERS_PER_CONTACT) {
        let Ok(token) = crate::auth::generate_token() else {
            tracing::error!("no randomness for a sign-in link");
            continue;
        };
        let (channel, to) = match contact {
            Contact::Phone(p) => ("sms", p.to_string()),
            Contact::Email(e) => ("email", e.clone()),
        };
        store
            .insert_portal_link(
                tenant.id,
                customer,
                &crate::auth::hash_token(&token),
                channel,
                &to,
                now,
                now + LINK_LIFETIME,
            )
            .await?;
        let url = link_url(public_url, &token);
        let name = store.customer(tenant.id, customer).await?.first_name;
        match contact {
            Contact::Phone(_) => {
                let from = tenant.phone_numbers.first().cloned().unwrap_or_default();
                if Credentials::resolve(tenant, twilio).is_none() {
                    tracing::warn!(
                        "no Twilio credentials: the sign-in link SMS waits in the outbox"
                    );
                }
                store
                    .enqueue_outbound(
                        tenant.id,
                        &NewOutbound {
                            conversation_id: None,
                            channel: Channel::Sms,
                            to,
                            from,
                            body: format!(
                                "{}: hi {name}, sign in to your account: {url} (works once, for 15 minutes). Didn't ask? Ignore this.",
                                tenant.name
                            ),
                            purpose: "portal_link".into(),
                        },
                        now,
                    )
                    .await?;
            }
            Contact::Email(_) => send_link_email(tenant, &to, &name, &url),
        }
    }
    Ok(Ok(()))
}

/// Where the e-mail delivery of a sign-in link plugs in. The link is stored (and usable)
/// already; this is the one place that hands it to the mailer. Until a mailer is configured
/// it is logged without the link itself.
pub fn send_link_email(tenant: &Tenant, to: &str, first_name: &str, url: &str) {
    let _ = (first_name, url);
    tracing::warn!(tenant = %tenant.id, to_domain = to.split('@').nth(1).unwrap_or(""),
        "sign-in link stored for an e-mail contact; no mailer is configured to send it");
}

/// Use a link once: a portal token for its customer, or `None` (unknown, used or expired).
pub async fn redeem(
    store: &Store,
    token: &str,
    now: DateTime<Utc>,
) -> StoreResult<Option<(PortalClaims, String)>> {
    let Some(link) = store
        .use_portal_link(&crate::auth::hash_token(token), now)
        .await?
    else {
        return Ok(None);
    };
    let tenant = store.tenant(link.tenant).await?;
    let claims = PortalClaims {
        tenant: link.tenant,
        customer: link.customer,
        expires_at: (now + SESSION_LIFETIME).timestamp(),
    };
    Ok(Some((claims, portal::sign(&tenant.portal_key, claims))))
}
