//! The store's behaviour, each test on SQLite and on PostgreSQL: what goes in comes back
//! out, in the promised order, with conflicts reported as `StoreError` kinds, failed writes
//! leaving no trace, and no read ever crossing tenants.

use chrono::{Duration, NaiveDate};
use frontdesk::domain::{
    AgreementStatus, AppointmentId, AppointmentStatus, Cents, Channel, ConversationId, CustomerId,
    CustomerStatus, Direction, EscalationReason, EscalationStatus, IdentityLevel, InvoiceStatus,
    Policy, PortalEventKind, PricingRule, Priority, PropertyId, PropertyKind, Role,
    SignatureStatus, SlotId, TenantId,
};
use frontdesk::store::{
    Appointment, NewAgreement, NewConversation, NewCustomer, NewEscalation, NewInvoice, NewMessage,
    NewToolCall, NewVisit, Store, StoreError,
};
use serde_json::json;

use crate::common::world::{self, MiniWorld};

mod catalog;
mod conversations;
mod customers;
mod isolation;
mod operators;
mod records;
mod schedule;
mod tenants;

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid date")
}

fn message(direction: Direction, text: &str, external_id: Option<&str>) -> NewMessage {
    NewMessage {
        direction,
        author: match direction {
            Direction::Inbound => "customer".into(),
            Direction::Outbound => "agent".into(),
        },
        text: text.into(),
        external_id: external_id.map(str::to_string),
        media: Vec::new(),
    }
}

async fn sms_conversation(store: &Store, w: &MiniWorld, at_minutes: i64) -> ConversationId {
    conversation_on(store, w, Channel::Sms, at_minutes).await
}

async fn conversation_on(
    store: &Store,
    w: &MiniWorld,
    channel: Channel,
    at_minutes: i64,
) -> ConversationId {
    store
        .insert_conversation(
            w.tenant,
            &NewConversation {
                channel,
                customer_id: Some(w.customer),
                identity_level: IdentityLevel::Verified,
                participant: w.phone.as_str().into(),
            },
            w.now + Duration::minutes(at_minutes),
        )
        .await
        .expect("insert conversation")
}

async fn booked(store: &Store, tenant: TenantId, slot: SlotId) -> i64 {
    store.slot(tenant, slot).await.expect("read slot").booked
}

/// An appointment as JSON, to compare every field at once.
fn snapshot(a: &Appointment) -> serde_json::Value {
    serde_json::to_value(a).expect("appointments serialise")
}

async fn appointment_snapshot(
    store: &Store,
    w: &MiniWorld,
    id: AppointmentId,
) -> serde_json::Value {
    snapshot(
        &store
            .appointment(w.tenant, id)
            .await
            .expect("read appointment"),
    )
}
