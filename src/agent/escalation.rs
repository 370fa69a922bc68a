//! Escalation to the human queue: reason, priority, an SLA due time from business hours, a
//! summary written for the CSR, the acknowledgement the customer gets, and a page to the
//! on-call number for emergencies.

use chrono::{DateTime, Datelike, Duration, Utc};

use super::tools::ToolCtx;
use crate::domain::{Channel, EscalationId, EscalationReason, IdentityLevel, Priority};
use crate::store::{NewEscalation, NewOutbound, StoreError, Tenant};

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
        _ => format!("by {time} on {}", weekday_name(d.weekday())),
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

fn weekday_name(w: chrono::Weekday) -> &'static str {
    match w {
        chrono::Weekday::Mon => "Monday",
        chrono::Weekday::Tue => "Tuesday",
        chrono::Weekday::Wed => "Wednesday",
        chrono::Weekday::Thu => "Thursday",
        chrono::Weekday::Fri => "Friday",
        chrono::Weekday::Sat => "Saturday",
        chrono::Weekday::Sun => "Sunday",
    }
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

pub async fn open(ctx: &mut ToolCtx<'_>, req: EscalationRequest) -> Result<Escalated, StoreError> {
    let tenant = ctx.tenant;
    let priority = req.priority.unwrap_or_else(|| default_priority(req.reason));
    let priority = if req.reason == EscalationReason::Emergency {
        Priority::Urgent
    } else {
        priority
    };
    let due = due_at(tenant, priority, ctx.now);
    let follow_up = follow_up_text(tenant, due, ctx.now);

    let who = match ctx.identity.customer {
        Some(c) => match ctx.store.customer(tenant.id, c).await {
            Ok(c) => format!("{} (customer #{}, {})", c.name, c.id, ctx.identity.level),
            Err(_) => format!("customer #{c}"),
        },
        None if ctx.identity.level == IdentityLevel::Anonymous
            && !ctx.state.candidates.is_empty() =>
        {
            format!(
                "unverified caller {} (caller id matches {} record(s))",
                ctx.participant,
                ctx.state.candidates.len()
            )
        }
        None => format!("unknown caller {}", ctx.participant),
    };
    let wants = if req.model_summary.trim().is_empty() {
        format!("Last message: \"{}\"", ctx.customer_text)
    } else {
        req.model_summary.clone()
    };
    let done = if ctx.actions.is_empty() {
        "nothing yet".to_string()
    } else {
        ctx.actions.join("; ")
    };
    let summary = super::builtin::mask_secrets(&format!(
        "Who: {who} via {}. Wants: {wants}. Done: {done}. Stopped because {}.",
        ctx.channel,
        reason_text(req.reason)
    ));
    let id = ctx
        .tx
        .insert_escalation(
            tenant.id,
            &NewEscalation {
                conversation_id: ctx.conversation,
                customer_id: ctx.identity.customer,
                reason: req.reason,
                priority,
                summary: summary.clone(),
                due_at: due,
            },
            ctx.now,
        )
        .await?;
    crate::metrics::record::escalation(req.reason.as_str(), priority.as_str());

    let company = &tenant.name;
    let acknowledgement = if req.reason == EscalationReason::Emergency {
        let paged = page_on_call(ctx, &summary).await?;
        emergency_acknowledgement(ctx.spanish, paged, &follow_up)
    } else if ctx.spanish {
        format!(
            "Pasé su mensaje a nuestro equipo de {company}. Una persona le dará seguimiento {}.",
            follow_up_es(&follow_up)
        )
    } else {
        format!("I've passed this to our team at {company}. A person will follow up {follow_up}.")
    };
    ctx.state.paged_escalation = (req.reason == EscalationReason::Emergency).then_some(id);
    Ok(Escalated {
        id,
        reason: req.reason,
        priority,
        due_at: due,
        follow_up,
        acknowledgement,
    })
}

/// Text the on-call number (when the tenant pages for emergencies). Pages go first in the
/// outbox and are never held by quiet hours.
/// Returns whether a page was queued.
async fn page_on_call(ctx: &mut ToolCtx<'_>, summary: &str) -> Result<bool, StoreError> {
    let tenant = ctx.tenant;
    if !tenant.policy.escalation.page_on_call_for_emergencies {
        return Ok(false);
    }
    let (Some(on_call), Some(from)) = (&tenant.on_call_number, tenant.phone_numbers.first()) else {
        return Ok(false);
    };
    let page = NewOutbound {
        conversation_id: Some(ctx.conversation),
        channel: Channel::Sms,
        to: on_call.clone(),
        from: from.clone(),
        body: format!(
            "URGENT {}: {summary} Reach them at {}.",
            tenant.name, ctx.participant
        ),
        purpose: "page".into(),
    };
    ctx.tx.enqueue_outbound(tenant.id, &page, ctx.now).await?;
    Ok(true)
}

/// Safety guidance, then who will call back and when — promising on-call only when paged.
fn emergency_acknowledgement(spanish: bool, paged: bool, follow_up: &str) -> String {
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

/// An emergency in a conversation a person already owns: the open escalation becomes
/// urgent and on-call is paged — once per escalation — and the customer gets the safety
/// guidance and the promise. Returns what the customer is told.
pub async fn emergency_while_queued(ctx: &mut ToolCtx<'_>) -> Result<String, StoreError> {
    let tenant = ctx.tenant;
    let due = due_at(tenant, Priority::Urgent, ctx.now);
    let note = format!(
        " EMERGENCY reported while waiting: \"{}\"",
        ctx.customer_text
    );
    let raised = ctx
        .tx
        .raise_open_escalation(tenant.id, ctx.conversation, due, &note)
        .await?;
    let mut paged = false;
    if let Some(id) = raised {
        paged = ctx.state.paged_escalation == Some(id);
        if !paged {
            let summary = format!("Customer reported an emergency: \"{}\"", ctx.customer_text);
            paged = page_on_call(ctx, &summary).await?;
            ctx.state.paged_escalation = Some(id);
        }
    }
    let follow_up = follow_up_text(tenant, due, ctx.now);
    Ok(emergency_acknowledgement(ctx.spanish, paged, &follow_up))
}
