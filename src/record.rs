//! The operator record: everything about one customer on one screen, plus a single merged
//! timeline, newest first. Built from the store; knows nothing of HTTP.

use chrono::{DateTime, FixedOffset, Utc};
use serde::Serialize;

use crate::domain::{Cents, CustomerId, InvoiceStatus, TenantTz};
use crate::store::{
    Agreement, AgreementSignature, Conversation, Customer, Escalation, Invoice, Message, Payment,
    PortalEvent, Property, Store, StoreResult, Tenant, ToolCall, Visit,
};

#[derive(Debug, Serialize)]
pub struct CustomerRecord {
    pub customer: CustomerView,
    pub properties: Vec<Property>,
    pub service_history: Vec<Visit>,
    pub billing: Billing,
    pub schedule: Vec<ScheduleItem>,
    pub agreements: Vec<Agreement>,
    /// Signatures given in the portal (signer, time, address, user agent, SHA-256 of the
    /// exact text; the signed copy is kept with each).
    pub signatures: Vec<AgreementSignature>,
    pub portal_activity: Vec<PortalEvent>,
    pub conversations: Vec<ConversationView>,
    pub escalations: Vec<Escalation>,
    /// What technicians reported about this customer's visits (on the way, paused, done).
    pub field_events: Vec<crate::store::FieldEvent>,
    pub timeline: Vec<TimelineEntry>,
}

/// The customer's profile with their SMS opt-out state.
#[derive(Debug, Serialize)]
pub struct CustomerView {
    #[serde(flatten)]
    pub customer: Customer,
    /// Any of the customer's phones texted STOP: nothing may be texted to it.
    pub opted_out: bool,
    /// Which phones opted out, and when.
    pub opt_outs: Vec<OptOut>,
}

#[derive(Debug, Serialize)]
pub struct OptOut {
    pub phone: crate::domain::PhoneE164,
    pub at: DateTime<FixedOffset>,
}

#[derive(Debug, Serialize)]
pub struct Billing {
    pub balance_cents: Cents,
    pub overdue_cents: Cents,
    pub overdue: bool,
    pub autopay: bool,
    pub invoices: Vec<Invoice>,
    pub payments: Vec<Payment>,
}

/// An appointment as the CSR reads it: window in the tenant's local time with its offset.
#[derive(Debug, Serialize)]
pub struct ScheduleItem {
    pub id: crate::domain::AppointmentId,
    pub property_id: crate::domain::PropertyId,
    pub service: String,
    pub technician: String,
    pub window_start: DateTime<FixedOffset>,
    pub window_end: DateTime<FixedOffset>,
    pub status: crate::domain::AppointmentStatus,
    pub price_cents: Cents,
    pub reschedule_count: i64,
    pub last_rescheduled_by: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ConversationView {
    #[serde(flatten)]
    pub conversation: Conversation,
    pub messages: Vec<Message>,
    pub tool_calls: Vec<ToolCall>,
}

#[derive(Debug, Serialize)]
pub struct TimelineEntry {
    pub at: DateTime<FixedOffset>,
    /// `visit`, `appointment`, `invoice`, `payment`, `agreement`, `portal`, `message`,
    /// `tool_call`, `escalation`, `field`.
    pub kind: &'static str,
    pub summary: String,
    /// The id of the entry in its own list.
    pub ref_id: i64,
}

/// How many portal events the record shows.
const PORTAL_EVENTS_SHOWN: i64 = 100;

pub async fn customer_record(
    store: &Store,
    tenant: &Tenant,
    id: CustomerId,
    now: DateTime<Utc>,
) -> StoreResult<CustomerRecord> {
    let t = tenant.id;
    let customer = store.customer(t, id).await?;
    let properties = store.properties(t, id).await?;
    let service_history = store.visits(t, id).await?;
    let invoices = store.invoices(t, id).await?;
    let payments = store.payments(t, id).await?;
    let appointments = store.appointments(t, id).await?;
    let agreements = store.agreements(t, id).await?;
    let signatures = store.agreement_signatures(t, id).await?;
    let portal_activity = store.portal_events(t, id, PORTAL_EVENTS_SHOWN).await?;
    let escalations = store.escalations_of(t, id).await?;
    let mut opt_outs = Vec::new();
    for phone in &customer.phones {
        if let Some(at) = store.opted_out(t, phone).await? {
            opt_outs.push(OptOut {
                phone: phone.clone(),
                at: local(tenant.timezone, at),
            });
        }
    }
    let mut conversations = Vec::new();
    for c in store.conversations_of(t, id).await? {
        let messages = store.messages(t, c.id).await?;
        let tool_calls = store.tool_calls(t, c.id).await?;
        conversations.push(ConversationView {
            conversation: c,
            messages,
            tool_calls,
        });
    }

    let tz = tenant.timezone;
    let today = tz.local(now).date_naive();
    let balance_cents: Cents = invoices
        .iter()
        .filter(|i| i.status != InvoiceStatus::Void)
        .map(|i| i.balance_cents)
        .sum();
    let overdue_cents: Cents = invoices
        .iter()
        .filter(|i| {
            i.balance_cents > Cents::ZERO
                && (i.status == InvoiceStatus::Overdue
                    || (i.status == InvoiceStatus::Open && i.due_on < today))
        })
        .map(|i| i.balance_cents)
        .sum();
    let billing = Billing {
        balance_cents,
        overdue_cents,
        overdue: overdue_cents > Cents::ZERO,
        autopay: customer.autopay,
        invoices,
        payments,
    };

    let schedule: Vec<ScheduleItem> = appointments
        .into_iter()
        .map(|a| ScheduleItem {
            id: a.id,
            property_id: a.property_id,
            service: a.service,
            technician: a.technician,
            window_start: local(tz, a.window_start),
            window_end: local(tz, a.window_end),
            status: a.status,
            price_cents: a.price_cents,
            reschedule_count: a.reschedule_count,
            last_rescheduled_by: a.last_rescheduled_by,
        })
        .collect();

    let field_events = store.field_events_of_customer(t, id).await?;
    let mut timeline = timeline(
        tz,
        &service_history,
        &billing,
        &schedule,
        &agreements,
        &portal_activity,
        &conversations,
        &escalations,
    );
    for f in &field_events {
        let detail = [f.note.as_deref(), f.findings.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("; ");
        let eta = f
            .eta_minutes
            .map(|m| format!(", about {m} minutes"))
            .unwrap_or_default();
        timeline.push(TimelineEntry {
            at: local(tz, f.at),
            kind: "field",
            summary: format!(
                "Technician: {}{eta}{}",
                f.kind,
                if detail.is_empty() {
                    String::new()
                } else {
                    format!(": {detail}")
                }
            ),
            ref_id: f.id,
        });
    }
    timeline.sort_by(|a, b| b.at.cmp(&a.at).then(b.ref_id.cmp(&a.ref_id)));
    Ok(CustomerRecord {
        customer: CustomerView {
            customer,
            opted_out: !opt_outs.is_empty(),
            opt_outs,
        },
        properties,
        service_history,
        billing,
        schedule,
        agreements,
        signatures,
        portal_activity,
        conversations,
        escalations,
        field_events,
        timeline,
    })
}

pub fn local(tz: TenantTz, at: DateTime<Utc>) -> DateTime<FixedOffset> {
    tz.local(at).fixed_offset()
}

#[allow(clippy::too_many_arguments)]
fn timeline(
    tz: TenantTz,
    visits: &[Visit],
    billing: &Billing,
    schedule: &[ScheduleItem],
    agreements: &[Agreement],
    portal: &[PortalEvent],
    conversations: &[ConversationView],
    escalations: &[Escalation],
) -> Vec<TimelineEntry> {
    let mut out = Vec::new();
    let mut push = |at: DateTime<FixedOffset>, kind: &'static str, summary: String, ref_id: i64| {
        out.push(TimelineEntry {
            at,
            kind,
            summary,
            ref_id,
        });
    };
    for v in visits {
        push(
            local(tz, v.completed_at),
            "visit",
            format!("{} by {}: {}", v.service, v.technician, v.findings),
            v.id.0,
        );
    }
    for a in schedule {
        push(
            a.window_start,
            "appointment",
            format!("{} ({}) with {}", a.service, a.status, a.technician),
            a.id.0,
        );
    }
    let midday = |d: chrono::NaiveDate| {
        local(
            tz,
            tz.instant(
                d,
                chrono::NaiveTime::from_hms_opt(12, 0, 0).unwrap_or_default(),
            ),
        )
    };
    for i in &billing.invoices {
        push(
            midday(i.issued_on),
            "invoice",
            format!(
                "Invoice {} for {}, balance {} ({})",
                i.number, i.amount_cents, i.balance_cents, i.status
            ),
            i.id.0,
        );
    }
    for p in &billing.payments {
        push(
            local(tz, p.paid_at),
            "payment",
            format!("Payment of {} by {}", p.amount_cents, p.method),
            p.invoice_id.0,
        );
    }
    for a in agreements {
        push(
            midday(a.starts_on),
            "agreement",
            format!(
                "{} agreement ({}, signature {})",
                a.service, a.status, a.signature_status
            ),
            a.id.0,
        );
    }
    for e in portal {
        push(local(tz, e.at), "portal", portal_summary(e), e.id.0);
    }
    for c in conversations {
        for m in &c.messages {
            push(
                local(tz, m.at),
                "message",
                format!(
                    "{} {} ({}): {}",
                    c.conversation.channel, m.direction, m.author, m.text
                ),
                m.id.0,
            );
        }
        for t in &c.tool_calls {
            push(
                local(tz, t.at),
                "tool_call",
                format!("{} {} ({})", t.tool, t.decision, t.rule),
                t.id.0,
            );
        }
    }
    for e in escalations {
        push(
            local(tz, e.created_at),
            "escalation",
            format!("Escalated ({}, {}): {}", e.reason, e.priority, e.status),
            e.id.0,
        );
    }
    out.sort_by(|a, b| b.at.cmp(&a.at).then(b.ref_id.cmp(&a.ref_id)));
    out
}

fn portal_summary(e: &PortalEvent) -> String {
    let detail = e
        .detail
        .get("reason")
        .or_else(|| e.detail.get("summary"))
        .and_then(|v| v.as_str())
        .map(|s| format!(": {s}"))
        .unwrap_or_default();
    format!("Portal {}{detail}", e.kind)
}
