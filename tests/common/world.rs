//! Small fixture worlds for tests that do not need the full demo data: one tenant with a
//! zone, a technician, a bookable service, a customer with a property, and two service
//! windows, plus a second tenant to prove isolation. Builders for the pieces are public so a
//! test can add more of the same.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use frontdesk::domain::{
    AddOn, AppointmentId, AppointmentStatus, BusinessHours, Cents, CustomerId, CustomerStatus,
    DayHours, PhoneE164, Policy, PricingRule, PropertyId, PropertyKind, ServiceId, SizeTier,
    SlotId, TechnicianId, TenantId, TenantTz, ZoneId,
};
use frontdesk::store::{NewAppointment, NewCustomer, NewProperty, NewService, NewTenant, Store};

/// The ids of a minimal world, and the instant it was built at.
#[derive(Debug, Clone)]
pub struct MiniWorld {
    pub now: DateTime<Utc>,
    pub tenant: TenantId,
    /// A second tenant with nothing in it but its own number.
    pub other_tenant: TenantId,
    pub zone: ZoneId,
    pub technician: TechnicianId,
    pub service: ServiceId,
    pub pricing: PricingRule,
    pub customer: CustomerId,
    /// The customer's first phone (they have two).
    pub phone: PhoneE164,
    pub property: PropertyId,
    /// Two windows two days after `now`, 13:00–17:00 and 17:00–21:00 UTC, three stops each.
    pub slots: [SlotId; 2],
}

pub const TENANT_NUMBER: &str = "+15125550100";
pub const OTHER_TENANT_NUMBER: &str = "+15045550100";

/// The instant fixtures are built at: Monday 2026-05-04 12:00 UTC.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 4, 12, 0, 0)
        .single()
        .expect("a valid instant")
}

pub fn phone(raw: &str) -> PhoneE164 {
    PhoneE164::parse(raw).expect("a valid test phone number")
}

pub fn business_hours() -> BusinessHours {
    let h = |open: u32, close: u32| {
        Some(DayHours {
            open: NaiveTime::from_hms_opt(open, 0, 0).expect("valid time"),
            close: NaiveTime::from_hms_opt(close, 0, 0).expect("valid time"),
        })
    };
    BusinessHours {
        mon: h(8, 18),
        tue: h(8, 18),
        wed: h(8, 18),
        thu: h(8, 18),
        fri: h(8, 18),
        sat: h(9, 13),
        sun: None,
    }
}

pub fn new_tenant(slug: &str, numbers: &[&str]) -> NewTenant {
    NewTenant {
        slug: slug.to_string(),
        name: format!("{slug} Pest Control"),
        timezone: TenantTz::parse("America/Chicago").expect("a known zone"),
        business_hours: business_hours(),
        policy: Policy::default(),
        phone_numbers: numbers.iter().map(|n| n.to_string()).collect(),
        on_call_number: Some("+15125550911".into()),
        office_phone: Some("+15125550101".into()),
        branding: serde_json::json!({ "sign_off": format!("— {slug}") }),
    }
}

pub fn pricing() -> PricingRule {
    PricingRule {
        base_cents: Cents(12_900),
        size_tiers: vec![
            SizeTier {
                max_sq_ft: 2_000,
                price_cents: Cents(12_900),
            },
            SizeTier {
                max_sq_ft: 3_500,
                price_cents: Cents(14_900),
            },
        ],
        per_extra_1000_sq_ft_cents: Cents(2_000),
        initial_fee_cents: Cents(9_900),
        add_ons: vec![AddOn {
            code: "garage".into(),
            name: "Garage treatment".into(),
            price_cents: Cents(2_500),
        }],
    }
}

pub fn new_service(code: &str, pricing: PricingRule) -> NewService {
    NewService {
        code: code.to_string(),
        name: format!("Service {code}"),
        description: "Interior and exterior treatment".into(),
        pests: vec!["ants".into(), "roaches".into(), "spiders".into()],
        duration_minutes: 45,
        pricing,
        recurring_interval_days: Some(90),
        agent_bookable: true,
    }
}

pub fn new_property(street: &str, zone: ZoneId) -> NewProperty {
    NewProperty {
        street: street.to_string(),
        city: "Austin".into(),
        state: "TX".into(),
        zip: "78701".into(),
        zone_id: zone,
        sq_ft: Some(1_800),
        kind: PropertyKind::Residential,
    }
}

/// A residential customer with the given phones and one property on `street`.
pub fn new_customer(
    first: &str,
    last: &str,
    phones: &[&str],
    street: &str,
    zone: ZoneId,
) -> NewCustomer {
    NewCustomer {
        first_name: first.to_string(),
        last_name: last.to_string(),
        company: None,
        status: CustomerStatus::Active,
        autopay: false,
        phones: phones.iter().map(|p| phone(p)).collect(),
        emails: vec![format!("{}@example.com", first.to_lowercase())],
        properties: vec![new_property(street, zone)],
    }
}

/// Build the minimal world.
pub async fn minimal(store: &Store) -> MiniWorld {
    let now = now();
    let tenant = store
        .insert_tenant(&new_tenant("acme", &[TENANT_NUMBER]), now.timestamp())
        .await
        .expect("insert tenant");
    let other_tenant = store
        .insert_tenant(
            &new_tenant("bayou", &[OTHER_TENANT_NUMBER]),
            now.timestamp(),
        )
        .await
        .expect("insert the other tenant");
    let zone = store
        .insert_zone(tenant, "north", "North Austin")
        .await
        .expect("insert zone");
    let weekdays: Vec<(ZoneId, u32)> = (0..5).map(|d| (zone, d)).collect();
    let technician = store
        .insert_technician(tenant, "Dana Reyes", Some("+15125550177"), &weekdays)
        .await
        .expect("insert technician");
    let pricing = pricing();
    let service = store
        .insert_service(tenant, &new_service("GPC", pricing.clone()))
        .await
        .expect("insert service");
    let mut customer = new_customer(
        "Maria",
        "Lopez",
        &["+15125550142", "+15125550199"],
        "1200 Oak St",
        zone,
    );
    customer.autopay = true;
    let customer = store
        .insert_customers(tenant, &[customer], now.timestamp())
        .await
        .expect("insert customer")
        .pop()
        .expect("one customer id");
    let property = store
        .properties(tenant, customer)
        .await
        .expect("list properties")
        .first()
        .expect("the customer has a property")
        .id;
    let mut world = MiniWorld {
        now,
        tenant,
        other_tenant,
        zone,
        technician,
        service,
        pricing,
        customer,
        phone: phone("+15125550142"),
        property,
        slots: [SlotId(0); 2],
    };
    world.slots = [
        world.slot(store, 48 + 1, 3).await,
        world.slot(store, 48 + 5, 3).await,
    ];
    world
}

impl MiniWorld {
    /// A four-hour window in the world's zone starting `hours` after `now`.
    pub async fn slot(&self, store: &Store, hours: i64, capacity: i64) -> SlotId {
        let start = self.now + Duration::hours(hours);
        store
            .insert_slot(
                self.tenant,
                self.zone,
                self.technician,
                start,
                start + Duration::hours(4),
                capacity,
            )
            .await
            .expect("insert slot")
    }

    /// The world's customer, property and service in `slot`, scheduled.
    pub fn appointment(&self, slot: SlotId) -> NewAppointment {
        NewAppointment {
            customer_id: self.customer,
            property_id: self.property,
            service_id: self.service,
            slot_id: slot,
            status: AppointmentStatus::Scheduled,
            price_cents: Cents(12_900),
        }
    }

    /// Book the world's customer into `slot`.
    pub async fn book(&self, store: &Store, slot: SlotId) -> AppointmentId {
        store
            .book_appointment(self.tenant, &self.appointment(slot), self.now)
            .await
            .expect("book appointment")
    }
}
