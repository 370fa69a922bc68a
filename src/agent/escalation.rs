//! Escalation to the human queue: reason, priority, an SLA due time from business hours, a
//! summary written for the CSR, the acknowledgement the customer gets, and a page to the
//! on-call number for emergencies. [`open`] is the one way an escalation row is made (a
//! turn's tools through `tools::open_escalation`, a voicemail filed for humans directly).

use chrono::{DateTime, Duration, Utc};

use crate::domain::{
    Channel, ConversationId, CustomerId, EscalationId, EscalationReason, Priority,
};
use crate::store::{NewEscalation, NewOutbound, StoreError, Tenant, Tx};

pub struct EscalationRequest {
    pub reason: EscalationReason,
    /// A priority the rules chose (never a model's); `None` is the reason's default.
    pub priority: Option<Priority>,
    pub model_summary: String,
}

#[derive(Debug, Clone)]
pub struct Escalated {
    pub id: EscalationId,
    pub reason: EscalationReason,
    pub priority: Priority,
    pub due_at: DateTime<Utc>,
    /// "within 15 minutes", "by 8:15 AM tomorrow".
    pub follow_up: String,
    /// What the customer is told.
    pub acknowledgement: String,
}

pub fn default_priority(reason: EscalationReason) -> Priority {
    match reason {
        EscalationReason::Emergency => Priority::Urgent,
        EscalationReason::BillingDispute
        | EscalationReason::Cancellation
        | EscalationReason::ModelFailure
        | EscalationReason::UnhappyCustomer => Priority::High,
        _ => Priority::Normal,
    }
}

/// When a CSR must have picked it up: urgent ones on the wall clock (on-call), the rest in
/// business minutes (after hours, the clock starts at the next opening).
pub fn due_at(tenant: &Tenant, priority: Priority, now: DateTime<Utc>) -> DateTime<Utc> {
    let e = &tenant.policy.escalation;
    let minutes = match priority {
        Priority::Urgent => return now + Duration::minutes(e.sla_urgent_minutes),
        Priority::High => e.sla_high_minutes,
        Priority::Normal => e.sla_normal_minutes,
        Priority::Low => e.sla_low_minutes,
    };
    tenant
        .business_hours
        .add_business_minutes(tenant.timezone, now, minutes)
        .unwrap_or(now + Duration::minutes(minutes))
}

/// The promise in the customer's words, relative to their local day.
pub fn follow_up_text(tenant: &Tenant, due: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let mins = (due - now).num_minutes();
    if mins <= 60 {
        return format!("within {} minutes", mins.max(5));
    }
    let tz = tenant.timezone;
    let d = tz.local(due);
    let n = tz.local(now);
    let time = d.format("%-I:%M %p");
    let days = (d.date_naive() - n.date_naive()).num_days();
    match days {
        0 => format!("by {time} today"),
        1 => format!("by {time} tomorrow"),
        _ => format!("by {time} on {}", d.format("%A")),
    }
}

/// The follow-up promise in Spanish ("by 8:30 AM tomorrow" → "mañana antes de las 8:30 AM").
fn follow_up_es(en: &str) -> String {
    if let Some(mins) = en
        .strip_prefix("within ")
        .and_then(|r| r.strip_suffix(" minutes"))
    {
        return format!("en menos de {mins} minutos");
    }
    let Some(rest) = en.strip_prefix("by ") else {
        return en.to_string();
    };
    let (time, when) = match rest.find(" AM").or_else(|| rest.find(" PM")) {
        Some(i) => (&rest[..i + 3], rest[i + 3..].trim()),
        None => (rest, ""),
    };
    let day = match when {
        "today" => "hoy".to_string(),
        "tomorrow" => "mañana".to_string(),
        other => match other.strip_prefix("on ") {
            Some("Monday") => "el lunes".into(),
            Some("Tuesday") => "el martes".into(),
            Some("Wednesday") => "el miércoles".into(),
            Some("Thursday") => "el jueves".into(),
            Some("Friday") => "el viernes".into(),
            Some("Saturday") => "el sábado".into(),
            Some("Sunday") => "el domingo".into(),
            _ => other.to_string(),
        },
    };
    format!("{day} antes de las {time}").trim().to_string()
}

fn reason_text(r: EscalationReason) -> &'static str {
    match r {
        EscalationReason::CustomerRequest => "the customer asked for a person",
        EscalationReason::OutOfPolicy => "the request is outside what the agent may do",
        EscalationReason::Cancellation => "cancellations go to retention",
        EscalationReason::Renegotiation => "contract changes need a CSR",
        EscalationReason::BillingDispute => "billing disputes need a CSR",
        EscalationReason::Emergency => "emergency: on-call paged",
        EscalationReason::IdentityUnresolved => "the caller could not be verified",
        EscalationReason::ModelFailure => "the model failed",
        EscalationReason::Voicemail => "voicemail left",
        EscalationReason::UnhappyCustomer => "the customer rated a visit poorly",
        EscalationReason::Other => "needs a human",
    }
}

/// A new escalation, before the rules set its priority and due time.
pub struct Opening<'a> {
    pub conversation: ConversationId,
    pub customer: Option<CustomerId>,
    pub reason: EscalationReason,
    /// A priority the rules chose (never a model's); `None` is the reason's default.
    pub priority: Option<Priority>,
    /// For the CSR (card numbers are masked before it is stored).
    pub summary: &'a str,
}

/// What [`open`] stored.
#[derive(Debug, Clone)]
pub struct Opened {
    pub id: EscalationId,
    pub priority: Priority,
    pub due_at: DateTime<Utc>,
    /// The summary as stored (masked).
    pub summary: String,
}

/// The one way an escalation is opened: the priority by the rules (an emergency is always
/// urgent), the SLA due time, the masked summary, the row in `tx`, and the metric.
pub async fn open(
    tx: &mut Tx,
    tenant: &Tenant,
    opening: Opening<'_>,
    now: DateTime<Utc>,
) -> Result<Opened, StoreError> {
    let priority = if opening.reason == EscalationReason::Emergency {
        Priority::Urgent
    } else {
        opening
            .priority
            .unwrap_or_else(|| default_priority(opening.reason))
    };
    let due = due_at(tenant, priority, now);
    let summary = super::builtin::mask_secrets(opening.summary);
    let id = tx
        .insert_escalation(
            tenant.id,
            &NewEscalation {
                conversation_id: opening.conversation,
                customer_id: opening.customer,
                reason: opening.reason,
                priority,
                summary: summary.clone(),
                due_at: due,
            },
            now,
        )
        .await?;
    crate::metrics::record::escalation(opening.reason.as_str(), priority.as_str());
    Ok(Opened {
        id,
        priority,
        due_at: due,
        summary,
    })
}

/// The summary a CSR reads: who, what they want, what was done, and why the agent stopped.
pub fn summary(
    who: &str,
    wants: &str,
    done: &str,
    channel: Channel,
    reason: EscalationReason,
) -> String {
    format!(
        "Who: {who} via {channel}. Wants: {wants}. Done: {done}. Stopped because {}.",
        reason_text(reason)
    )
}

/// What the customer is told once an escalation is open (`paged`: on-call was paged for an
/// emergency).
pub fn acknowledgement(
    tenant: &Tenant,
    reason: EscalationReason,
    spanish: bool,
    paged: bool,
    follow_up: &str,
) -> String {
    let company = &tenant.name;
    if reason == EscalationReason::Emergency {
        emergency_acknowledgement(spanish, paged, follow_up)
    } else if spanish {
        format!(
            "Pasé su mensaje a nuestro equipo de {company}. Una persona le dará seguimiento {}.",
            follow_up_es(follow_up)
        )
    } else {
        format!("I've passed this to our team at {company}. A person will follow up {follow_up}.")
    }
}

/// Text the on-call number (when the tenant pages for emergencies) about the conversation
/// with `participant`. Pages go first in the outbox and are never held by quiet hours.
/// Returns whether a page was queued.
pub async fn page_on_call(
    tx: &mut Tx,
    tenant: &Tenant,
    conversation: ConversationId,
    participant: &str,
    summary: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    if !tenant.policy.escalation.page_on_call_for_emergencies {
        return Ok(false);
    }
    let (Some(on_call), Some(from)) = (&tenant.on_call_number, tenant.phone_numbers.first()) else {
        return Ok(false);
    };
    let page = NewOutbound {
        conversation_id: Some(conversation),
        channel: Channel::Sms,
        to: on_call.clone(),
        from: from.clone(),
        body: format!(
            "URGENT {}: {summary} Reach them at {participant}.",
            tenant.name
        ),
        purpose: "page".into(),
    };
    tx.enqueue_outbound(tenant.id, &page, now).await?;
    Ok(true)
}

/// Safety guidance, then who will call back and when — promising on-call only when paged.
pub fn emergency_acknowledgement(spanish: bool, paged: bool, follow_up: &str) -> String {
    let guidance = super::prompts::safety_guidance();
    match (spanish, paged) {
        (true, true) => format!(
            "{guidance} Avisé a nuestro técnico de guardia; se comunicará con usted {}.",
            follow_up_es(follow_up)
        ),
        (true, false) => format!(
            "{guidance} Una persona de nuestro equipo se comunicará con usted {}.",
            follow_up_es(follow_up)
        ),
        (false, true) => format!(
            "{guidance} I've alerted our on-call technician; they will contact you {follow_up}."
        ),
        (false, false) => {
            format!("{guidance} A person from our team will contact you {follow_up}.")
        }
    }
}
