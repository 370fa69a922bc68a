//! The customer portal's rules (`docs/portal.md`), apart from HTTP: self-serve reschedule
//! under the tenant's portal policy (what may move, to which windows, and the refusal with
//! its stable code and rule), the agreement text a customer reads and signs with its
//! SHA-256, the payment provider (`stripe`), and magic-link sign-in (`links`).

pub mod links;
pub mod stripe;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::domain::{Cents, CustomerId, PortalEventKind, TenantTz};
use crate::store::{
    Agreement, Appointment, Customer, Property, Slot, Store, StoreError, StoreResult, Tenant,
};

/// A self-serve change the portal policy does not allow: a stable code, the rule (the
/// policy setting and its value) and a sentence for the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub code: &'static str,
    pub rule: String,
    pub message: String,
}

impl Refusal {
    fn new(code: &'static str, rule: String, message: impl Into<String>) -> Self {
        Refusal {
            code,
            rule,
            message: message.into(),
        }
    }
}

/// Whether the visit itself may be moved in the portal (open, far enough away).
pub fn check_visit(tenant: &Tenant, a: &Appointment, now: DateTime<Utc>) -> Result<(), Refusal> {
    let p = &tenant.policy.portal_reschedule;
    if !a.status.is_open() {
        return Err(Refusal::new(
            "visit_not_open",
            "portal_reschedule.status".into(),
            "This visit can no longer be moved online.",
        ));
    }
    if a.window_start < now + Duration::hours(p.min_hours_ahead) {
        return Err(Refusal::new(
            "too_close_to_visit",
            format!("portal_reschedule.min_hours_ahead = {}", p.min_hours_ahead),
            format!(
                "Online rescheduling closes {} hours before a visit",
                p.min_hours_ahead
            ),
        ));
    }
    Ok(())
}

/// Whether `slot` is a window this visit may move to in the portal.
pub fn check_window(
    tenant: &Tenant,
    a: &Appointment,
    property: &Property,
    slot: &Slot,
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    let p = &tenant.policy.portal_reschedule;
    if slot.zone_id != property.zone_id || slot.id == a.slot_id {
        return Err(Refusal::new(
            "window_not_offered",
            "portal_reschedule.zone".into(),
            "That window is not offered for this address.",
        ));
    }
    if slot.starts_at < now + Duration::hours(p.min_hours_ahead) {
        return Err(Refusal::new(
            "window_too_soon",
            format!("portal_reschedule.min_hours_ahead = {}", p.min_hours_ahead),
            format!(
                "Online, a new window must start at least {} hours from now.",
                p.min_hours_ahead
            ),
        ));
    }
    if days_apart(tenant.timezone, slot.starts_at, a.original_window_start)
        > p.max_days_from_original
    {
        return Err(Refusal::new(
            "window_too_far",
            format!(
                "portal_reschedule.max_days_from_original = {}",
                p.max_days_from_original
            ),
            format!(
                "Online, a visit can move up to {} days from its original date.",
                p.max_days_from_original
            ),
        ));
    }
    if slot.booked >= slot.capacity {
        return Err(window_full());
    }
    Ok(())
}

/// The refusal for a window with no stop left (also when it filled up during the move).
pub fn window_full() -> Refusal {
    Refusal::new(
        "window_full",
        "capacity".into(),
        "That window is full. Please pick another one.",
    )
}

/// Calendar days between two instants in the tenant's zone.
fn days_apart(tz: TenantTz, a: DateTime<Utc>, b: DateTime<Utc>) -> i64 {
    (tz.local(a).date_naive() - tz.local(b).date_naive())
        .num_days()
        .abs()
}

/// The windows this visit may move to, earliest first (full ones left out).
pub async fn windows(
    store: &Store,
    tenant: &Tenant,
    a: &Appointment,
    property: &Property,
    now: DateTime<Utc>,
) -> StoreResult<Vec<Slot>> {
    let p = &tenant.policy.portal_reschedule;
    let from = (now + Duration::hours(p.min_hours_ahead))
        .max(a.original_window_start - Duration::days(p.max_days_from_original + 1));
    let to = a.original_window_start + Duration::days(p.max_days_from_original + 1);
    if from >= to {
        return Ok(Vec::new());
    }
    let slots = store
        .open_slots(tenant.id, property.zone_id, from, to, 500)
        .await?;
    Ok(slots
        .into_iter()
        .filter(|s| check_window(tenant, a, property, s, now).is_ok())
        .collect())
}

/// Outcome of a self-serve reschedule.
#[derive(Debug)]
pub enum RescheduleOutcome {
    Done,
    Refused(Refusal),
}

/// Move a visit under the portal policy. A refusal is recorded as `reschedule_refused`
/// portal activity (reason and rule) so the agent and the CSR see it; a success moves the
/// appointment, records `reschedule_done` and emits `appointment.moved` in one transaction.
pub async fn reschedule(
    store: &Store,
    tenant: &Tenant,
    customer: CustomerId,
    a: &Appointment,
    slot: &Slot,
    now: DateTime<Utc>,
) -> StoreResult<RescheduleOutcome> {
    let property = store.property(tenant.id, a.property_id).await?;
    let tz = tenant.timezone;
    let from = crate::agent::tools::window_label(tz, a.window_start, a.window_end);
    let to = crate::agent::tools::window_label(tz, slot.starts_at, slot.ends_at);
    let checked =
        check_visit(tenant, a, now).and_then(|()| check_window(tenant, a, &property, slot, now));
    let refusal = match checked {
        Ok(()) => {
            let detail = json!({ "appointment_id": a.id, "service": a.service, "from": from, "to": to,
                                  "slot_id": slot.id });
            match store
                .portal_reschedule(tenant.id, customer, a.id, slot.id, &detail, now)
                .await
            {
                Ok(_) => return Ok(RescheduleOutcome::Done),
                Err(StoreError::WindowFull) => window_full(),
                Err(e) => return Err(e),
            }
        }
        Err(r) => r,
    };
    store
        .insert_portal_event(
            tenant.id,
            customer,
            PortalEventKind::RescheduleRefused,
            &json!({ "appointment_id": a.id, "service": a.service, "from": from, "to": to,
                     "slot_id": slot.id, "code": refusal.code, "reason": refusal.message,
                     "rule": refusal.rule }),
            now,
        )
        .await?;
    Ok(RescheduleOutcome::Refused(refusal))
}

/// The exact text of an agreement as the customer reads and signs it. Any change of terms
/// changes the text, and so its hash: a new signature is needed.
pub fn agreement_text(
    tenant: &Tenant,
    customer: &Customer,
    property: &Property,
    a: &Agreement,
) -> String {
    let interval = "each scheduled service";
    format!(
        "{company} — Service agreement no. {id}\n\
         \n\
         Customer: {name}\n\
         Service address: {street}, {city}, {state} {zip}\n\
         Service: {service}\n\
         Price: {price} for {interval}\n\
         Term: from {starts} until {renews}; it renews on {renews} unless either party cancels before then.\n\
         \n\
         {company} will perform the service above at the service address on the scheduled visits. \
         The customer agrees to give access to the property on those visits and to pay each invoice \
         by its due date. Either party may cancel by notice before the renewal date.\n",
        company = tenant.name,
        id = a.id,
        name = customer.name,
        street = property.street,
        city = property.city,
        state = property.state,
        zip = property.zip,
        service = a.service,
        price = money(a.price_cents),
        starts = a.starts_on,
        renews = a.renews_on,
    )
}

/// `$1,234.50`.
pub fn money(c: Cents) -> String {
    let sign = if c.0 < 0 { "-" } else { "" };
    let abs = c.0.unsigned_abs();
    let dollars = (abs / 100).to_string();
    let mut grouped = String::new();
    for (i, ch) in dollars.chars().enumerate() {
        if i > 0 && (dollars.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    format!("{sign}${grouped}.{:02}", abs % 100)
}

/// Lowercase hex SHA-256 of the exact bytes of `text`.
pub fn sha256_hex(text: &str) -> String {
    crate::auth::hex(&Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_and_hash() {
        assert_eq!(money(Cents(123450)), "$1,234.50");
        assert_eq!(money(Cents(5)), "$0.05");
        assert_eq!(money(Cents(10_000_000)), "$100,000.00");
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
