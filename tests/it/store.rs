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

// ---------------------------------------------------------------- tenants

store_test!(
    fn tenant_round_trips_and_is_found_by_slug_and_number(store: Store) {
        let now = world::now().timestamp();
        let mut t = world::new_tenant("acme", &["+15125550100", "+15125550001"]);
        t.policy.agent_reschedule.max_reschedules = 1;
        let id = store.insert_tenant(&t, now).await.expect("insert tenant");

        let got = store.tenant(id).await.expect("tenant by id");
        assert_eq!(got.id, id);
        assert_eq!(got.slug, "acme");
        assert_eq!(got.name, t.name);
        assert_eq!(got.timezone.name(), "America/Chicago");
        assert_eq!(got.business_hours, t.business_hours);
        assert_eq!(got.policy, t.policy);
        assert_eq!(got.phone_numbers, vec!["+15125550001", "+15125550100"]);
        assert_eq!(got.on_call_number, t.on_call_number);
        assert_eq!(got.office_phone, t.office_phone);
        assert_eq!(got.branding, t.branding);
        assert_eq!(got.twilio_account_sid, None);

        let by_slug = store.tenant_by_slug("acme").await.expect("by slug");
        assert_eq!(by_slug.map(|t| t.id), Some(id));
        assert!(store
            .tenant_by_slug("nope")
            .await
            .expect("by slug")
            .is_none());
        let by_number = store
            .tenant_by_number("+15125550001")
            .await
            .expect("by number");
        assert_eq!(by_number.map(|t| t.id), Some(id));
        assert!(store
            .tenant_by_number("+19995550000")
            .await
            .expect("by number")
            .is_none());
        assert_eq!(
            store.list_tenants().await.expect("list"),
            vec![(id, "acme".to_string())]
        );
        assert_err!(
            store.tenant(TenantId(id.0 + 100)).await,
            StoreError::NotFound
        );

        store
            .set_twilio_credentials(id, "AC123", "secret")
            .await
            .expect("set credentials");
        let got = store.tenant(id).await.expect("tenant by id");
        assert_eq!(got.twilio_account_sid.as_deref(), Some("AC123"));
        assert_eq!(got.twilio_auth_token.as_deref(), Some("secret"));
    }
);

store_test!(
    fn duplicate_tenant_slug_is_a_conflict(store: Store) {
        let now = world::now().timestamp();
        store
            .insert_tenant(&world::new_tenant("acme", &["+15125550100"]), now)
            .await
            .expect("insert tenant");
        let again = store
            .insert_tenant(&world::new_tenant("acme", &["+15125550200"]), now)
            .await;
        assert_err!(again, StoreError::Conflict(_));
        assert_eq!(store.list_tenants().await.expect("list").len(), 1);
        assert!(store
            .tenant_by_number("+15125550200")
            .await
            .expect("by number")
            .is_none());
    }
);

store_test!(
    fn a_number_owned_by_another_tenant_is_a_conflict_and_nothing_is_written(store: Store) {
        let now = world::now().timestamp();
        let acme = store
            .insert_tenant(&world::new_tenant("acme", &["+15125550100"]), now)
            .await
            .expect("insert tenant");
        let bayou = store
            .insert_tenant(
                &world::new_tenant("bayou", &["+15045550100", "+15125550100"]),
                now,
            )
            .await;
        assert_err!(bayou, StoreError::Conflict(_));
        // The tenant row and its first number were rolled back with the failed one.
        assert!(store
            .tenant_by_slug("bayou")
            .await
            .expect("by slug")
            .is_none());
        assert!(store
            .tenant_by_number("+15045550100")
            .await
            .expect("by number")
            .is_none());
        let owner = store
            .tenant_by_number("+15125550100")
            .await
            .expect("by number");
        assert_eq!(owner.map(|t| t.id), Some(acme));
    }
);

store_test!(
    fn policy_update_round_trips(store: Store) {
        let w = world::minimal(&store).await;
        let mut policy = Policy::default();
        policy.agent_reschedule.max_reschedules = 1;
        policy.agent_reschedule.min_hours_ahead = 24;
        policy.booking.allow_commercial = true;
        policy.escalation.sla_urgent_minutes = 5;
        store
            .update_policy(w.tenant, &policy)
            .await
            .expect("update policy");

        assert_eq!(store.tenant(w.tenant).await.expect("tenant").policy, policy);
        assert_eq!(
            store.tenant(w.other_tenant).await.expect("tenant").policy,
            Policy::default()
        );
        assert_err!(
            store
                .update_policy(TenantId(w.other_tenant.0 + 100), &policy)
                .await,
            StoreError::NotFound
        );
    }
);

// ---------------------------------------------------------------- customers

store_test!(
    fn customer_round_trips_with_contacts_and_properties(store: Store) {
        let w = world::minimal(&store).await;
        let c = store
            .customer(w.tenant, w.customer)
            .await
            .expect("customer");
        assert_eq!(
            (c.first_name.as_str(), c.last_name.as_str()),
            ("Maria", "Lopez")
        );
        assert_eq!(c.name, "Maria Lopez");
        assert_eq!(c.company, None);
        assert_eq!(c.status, CustomerStatus::Active);
        assert!(c.autopay);
        assert_eq!(
            c.phones,
            vec![world::phone("+15125550142"), world::phone("+15125550199")]
        );
        assert_eq!(c.emails, vec!["maria@example.com"]);

        let props = store
            .properties(w.tenant, w.customer)
            .await
            .expect("properties");
        assert_eq!(props.len(), 1);
        let p = &props[0];
        assert_eq!((p.id, p.customer_id), (w.property, w.customer));
        assert_eq!(
            (
                p.street.as_str(),
                p.city.as_str(),
                p.state.as_str(),
                p.zip.as_str()
            ),
            ("1200 Oak St", "Austin", "TX", "78701")
        );
        assert_eq!((p.zone_id, p.zone.as_str()), (w.zone, "North Austin"));
        assert_eq!((p.sq_ft, p.kind), (Some(1_800), PropertyKind::Residential));
        assert_eq!(
            store
                .property(w.tenant, w.property)
                .await
                .expect("property")
                .street,
            "1200 Oak St"
        );

        assert_err!(
            store
                .customer(w.tenant, CustomerId(w.customer.0 + 1_000))
                .await,
            StoreError::NotFound
        );
        assert_err!(
            store
                .property(w.tenant, PropertyId(w.property.0 + 1_000))
                .await,
            StoreError::NotFound
        );
    }
);

store_test!(
    fn a_property_manager_holds_many_properties(store: Store) {
        let w = world::minimal(&store).await;
        let east = store
            .insert_zone(w.tenant, "east", "East Austin")
            .await
            .expect("zone");
        let mut office = world::new_property("500 Congress Ave", w.zone);
        office.kind = PropertyKind::Commercial;
        office.sq_ft = None;
        let manager = NewCustomer {
            first_name: String::new(),
            last_name: String::new(),
            company: Some("Oakwood Rentals".into()),
            status: CustomerStatus::Prospect,
            autopay: false,
            phones: Vec::new(),
            emails: vec!["ops@oakwood.test".into(), "billing@oakwood.test".into()],
            properties: vec![
                world::new_property("12 Elm St", east),
                office,
                world::new_property("14 Elm St", east),
            ],
        };
        let id = store
            .insert_customers(w.tenant, &[manager], w.now.timestamp())
            .await
            .expect("insert")
            .pop()
            .expect("one id");

        let c = store.customer(w.tenant, id).await.expect("customer");
        assert_eq!(c.name, "Oakwood Rentals");
        assert_eq!(c.status, CustomerStatus::Prospect);
        assert!(c.phones.is_empty());
        assert_eq!(c.emails, vec!["billing@oakwood.test", "ops@oakwood.test"]);
        let props = store.properties(w.tenant, id).await.expect("properties");
        let summary: Vec<_> = props
            .iter()
            .map(|p| (p.street.as_str(), p.zone.as_str(), p.kind, p.sq_ft))
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    "12 Elm St",
                    "East Austin",
                    PropertyKind::Residential,
                    Some(1_800)
                ),
                (
                    "500 Congress Ave",
                    "North Austin",
                    PropertyKind::Commercial,
                    None
                ),
                (
                    "14 Elm St",
                    "East Austin",
                    PropertyKind::Residential,
                    Some(1_800)
                ),
            ]
        );
    }
);

store_test!(
    fn customers_are_listed_a_page_at_a_time_with_the_total(store: Store) {
        let w = world::minimal(&store).await;
        let more: Vec<NewCustomer> = ["Ann", "Ben", "Cy", "Dee"]
            .iter()
            .enumerate()
            .map(|(i, name)| {
                world::new_customer(
                    name,
                    "Park",
                    &[&format!("+1512555020{i}")],
                    &format!("{i} Pine St"),
                    w.zone,
                )
            })
            .collect();
        let mut all = vec![w.customer];
        all.extend(
            store
                .insert_customers(w.tenant, &more, w.now.timestamp())
                .await
                .expect("insert"),
        );
        assert_eq!(all.len(), 5);

        let (page, total) = store.list_customers(w.tenant, 1, 2).await.expect("page 1");
        assert_eq!(total, 5);
        assert_eq!(
            page.iter().map(|c| c.id).collect::<Vec<_>>(),
            all[0..2].to_vec()
        );
        assert_eq!(page[0].phones.len(), 2, "contacts are loaded with the page");
        let (page, total) = store.list_customers(w.tenant, 2, 2).await.expect("page 2");
        assert_eq!(
            (page.iter().map(|c| c.id).collect::<Vec<_>>(), total),
            (all[2..4].to_vec(), 5)
        );
        for c in &page {
            // Each customer carries only their own contacts.
            assert_eq!(c.phones.len(), 1, "{c:?}");
            assert_eq!(
                c.emails,
                vec![format!("{}@example.com", c.first_name.to_lowercase())]
            );
        }
        let (page, _) = store.list_customers(w.tenant, 3, 2).await.expect("page 3");
        assert_eq!(page.iter().map(|c| c.id).collect::<Vec<_>>(), vec![all[4]]);
        let (page, total) = store.list_customers(w.tenant, 4, 2).await.expect("page 4");
        assert!(page.is_empty());
        assert_eq!(total, 5);
        assert_eq!(store.count_customers(w.tenant).await.expect("count"), 5);

        let picked = store
            .customers_by_ids(w.tenant, &[all[3], CustomerId(all[4].0 + 1_000), all[1]])
            .await
            .expect("by ids");
        assert_eq!(
            picked.iter().map(|c| c.id).collect::<Vec<_>>(),
            vec![all[3], all[1]]
        );
    }
);

store_test!(
    fn a_shared_phone_finds_every_customer_on_it(store: Store) {
        let w = world::minimal(&store).await;
        let luis = store
            .insert_customers(
                w.tenant,
                &[world::new_customer(
                    "Luis",
                    "Lopez",
                    &["+15125550142", "+15125550143"],
                    "1200 Oak St",
                    w.zone,
                )],
                w.now.timestamp(),
            )
            .await
            .expect("insert")
            .pop()
            .expect("one id");

        let on_shared = store
            .customers_by_phone(w.tenant, &w.phone)
            .await
            .expect("by phone");
        assert_eq!(on_shared, vec![w.customer, luis]);
        let on_own = store
            .customers_by_phone(w.tenant, &world::phone("+15125550199"))
            .await
            .expect("by phone");
        assert_eq!(on_own, vec![w.customer]);
        let nobody = store
            .customers_by_phone(w.tenant, &world::phone("+15125550000"))
            .await
            .expect("by phone");
        assert!(nobody.is_empty());

        let plan = store
            .customers_by_phone_plan(w.tenant, &w.phone)
            .await
            .expect("plan");
        assert!(
            plan.iter()
                .any(|step| step.contains(frontdesk::search::bench::PHONE_INDEX)),
            "{plan:?}"
        );
    }
);

store_test!(
    fn customer_docs_stream_in_id_order_batch_by_batch(store: Store) {
        let w = world::minimal(&store).await;
        let more: Vec<NewCustomer> = (0..4)
            .map(|i| {
                world::new_customer(
                    &format!("P{i}"),
                    "Nguyen",
                    &[&format!("+1512555030{i}")],
                    &format!("{i}0 Cedar Ln"),
                    w.zone,
                )
            })
            .collect();
        let mut all = vec![w.customer];
        all.extend(
            store
                .insert_customers(w.tenant, &more, w.now.timestamp())
                .await
                .expect("insert"),
        );

        let mut docs = Vec::new();
        let mut sizes = Vec::new();
        let mut after = CustomerId(0);
        loop {
            let batch = store.customer_docs(w.tenant, after, 2).await.expect("docs");
            let Some(last) = batch.last() else { break };
            after = last.id;
            sizes.push(batch.len());
            docs.extend(batch);
            assert!(sizes.len() <= 5, "customer_docs never ran dry");
        }
        assert_eq!(sizes, vec![2, 2, 1]);
        assert_eq!(docs.iter().map(|d| d.id).collect::<Vec<_>>(), all);
        let maria = &docs[0];
        assert_eq!(maria.name, "Maria Lopez");
        assert_eq!(
            maria.addresses,
            vec![(
                "1200 Oak St".to_string(),
                "Austin".to_string(),
                "78701".to_string()
            )]
        );
        assert_eq!(maria.phones.len(), 2);
        assert_eq!(maria.emails, vec!["maria@example.com"]);
        for (i, d) in docs[1..].iter().enumerate() {
            assert_eq!(d.phones, vec![format!("+1512555030{i}")]);
            assert_eq!(d.addresses[0].0, format!("{i}0 Cedar Ln"));
        }
    }
);

store_test!(
    fn trigram_search_runs_on_postgres_only(store: Store) {
        let w = world::minimal(&store).await;
        let found = store
            .trigram_search(w.tenant, "Maria Lopez", 5)
            .await
            .expect("search");
        match store.backend_name() {
            "sqlite" => assert!(found.is_none()),
            _ => {
                let hits = found.expect("PostgreSQL searches");
                assert_eq!(hits.first().map(|h| h.0), Some(w.customer), "{hits:?}");
                let elsewhere = store
                    .trigram_search(w.other_tenant, "Maria Lopez", 5)
                    .await
                    .expect("search");
                assert_eq!(elsewhere.map(|h| h.len()), Some(0));
            }
        }
    }
);

// ---------------------------------------------------------------- zones, technicians, catalog

store_test!(
    fn zones_and_technicians(store: Store) {
        let w = world::minimal(&store).await;
        let east = store
            .insert_zone(w.tenant, "east", "East Austin")
            .await
            .expect("zone");
        let zones = store.zones(w.tenant).await.expect("zones");
        assert_eq!(
            zones
                .iter()
                .map(|z| (z.id, z.code.as_str()))
                .collect::<Vec<_>>(),
            vec![(east, "east"), (w.zone, "north")]
        );
        assert_err!(
            store.insert_zone(w.tenant, "north", "Again").await,
            StoreError::Conflict(_)
        );
        store
            .insert_zone(w.other_tenant, "north", "Their north")
            .await
            .expect("codes are per tenant");

        assert_eq!(
            store
                .technician_for(w.tenant, w.zone, 0)
                .await
                .expect("lookup"),
            Some(w.technician)
        );
        assert_eq!(
            store
                .technician_for(w.tenant, w.zone, 5)
                .await
                .expect("lookup"),
            None
        );
        let saturday = store
            .insert_technician(w.tenant, "Sam Ortiz", None, &[(w.zone, 5), (east, 5)])
            .await
            .expect("technician");
        assert_eq!(
            store
                .technician_for(w.tenant, w.zone, 5)
                .await
                .expect("lookup"),
            Some(saturday)
        );
        assert_eq!(
            store
                .technician_for(w.tenant, east, 5)
                .await
                .expect("lookup"),
            Some(saturday)
        );
        let techs = store.technicians(w.tenant).await.expect("technicians");
        let summary: Vec<_> = techs
            .iter()
            .map(|t| (t.id, t.name.as_str(), t.phone.as_deref()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (w.technician, "Dana Reyes", Some("+15125550177")),
                (saturday, "Sam Ortiz", None)
            ]
        );
    }
);

store_test!(
    fn services_round_trip_their_pricing_exactly(store: Store) {
        let w = world::minimal(&store).await;
        let termite_pricing = PricingRule {
            base_cents: Cents(89_500),
            size_tiers: Vec::new(),
            per_extra_1000_sq_ft_cents: Cents::ZERO,
            initial_fee_cents: Cents(25_000),
            add_ons: Vec::new(),
        };
        let mut termite = world::new_service("TERM", termite_pricing.clone());
        termite.recurring_interval_days = None;
        termite.agent_bookable = false;
        termite.pests = vec!["termites".into()];
        let term_id = store
            .insert_service(w.tenant, &termite)
            .await
            .expect("insert service");

        let services = store.services(w.tenant).await.expect("services");
        assert_eq!(
            services.iter().map(|s| s.code.as_str()).collect::<Vec<_>>(),
            vec!["GPC", "TERM"]
        );
        let gpc = &services[0];
        assert_eq!(gpc.id, w.service);
        assert_eq!(gpc.pricing, w.pricing);
        assert_eq!(
            serde_json::to_value(&gpc.pricing).expect("json"),
            serde_json::to_value(&w.pricing).expect("json")
        );
        assert_eq!(gpc.pests, vec!["ants", "roaches", "spiders"]);
        assert_eq!(
            (
                gpc.duration_minutes,
                gpc.recurring_interval_days,
                gpc.agent_bookable
            ),
            (45, Some(90), true)
        );
        let term = &services[1];
        assert_eq!(term.id, term_id);
        assert_eq!(term.pricing, termite_pricing);
        assert_eq!(
            (term.recurring_interval_days, term.agent_bookable),
            (None, false)
        );
        // The stored rule quotes what the original quotes.
        assert_eq!(
            gpc.pricing.quote(Some(5_200), &["garage".into()]),
            w.pricing.quote(Some(5_200), &["garage".into()])
        );

        assert_err!(
            store
                .insert_service(w.tenant, &world::new_service("GPC", w.pricing.clone()))
                .await,
            StoreError::Conflict(_)
        );
        assert_eq!(store.services(w.tenant).await.expect("services").len(), 2);
    }
);

// ---------------------------------------------------------------- slots and appointments

store_test!(
    fn booking_takes_a_stop_and_copies_the_window(store: Store) {
        let w = world::minimal(&store).await;
        let [a, b] = w.slots;
        let slot = store.slot(w.tenant, a).await.expect("slot");
        assert_eq!(
            (slot.capacity, slot.booked, slot.zone_id, slot.technician_id),
            (3, 0, w.zone, w.technician)
        );

        let id = w.book(&store, a).await;
        let appt = store.appointment(w.tenant, id).await.expect("appointment");
        assert_eq!(
            (
                appt.customer_id,
                appt.property_id,
                appt.service_id,
                appt.slot_id
            ),
            (w.customer, w.property, w.service, a)
        );
        assert_eq!(
            (
                appt.service.as_str(),
                appt.technician_id,
                appt.technician.as_str()
            ),
            ("Service GPC", w.technician, "Dana Reyes")
        );
        assert_eq!(
            (appt.window_start, appt.window_end),
            (slot.starts_at, slot.ends_at)
        );
        assert_eq!(appt.original_window_start, slot.starts_at);
        assert_eq!(
            (appt.status, appt.price_cents),
            (AppointmentStatus::Scheduled, Cents(12_900))
        );
        assert_eq!(
            (appt.reschedule_count, appt.last_rescheduled_by.as_deref()),
            (0, None)
        );
        assert_eq!(booked(&store, w.tenant, a).await, 1);
        assert_eq!(booked(&store, w.tenant, b).await, 0);

        let later = w.book(&store, b).await;
        let mine = store
            .appointments(w.tenant, w.customer)
            .await
            .expect("appointments");
        assert_eq!(
            mine.iter().map(|a| a.id).collect::<Vec<_>>(),
            vec![id, later],
            "soonest first"
        );
    }
);

store_test!(
    fn open_slots_skip_full_windows_and_respect_range_and_limit(store: Store) {
        let w = world::minimal(&store).await;
        let [a, b] = w.slots;
        let tight = w.slot(&store, 72, 1).await;
        let week = w.now + Duration::days(7);
        let ids = |slots: Vec<frontdesk::store::Slot>| {
            slots.into_iter().map(|s| s.id).collect::<Vec<_>>()
        };

        assert_eq!(
            ids(store
                .open_slots(w.tenant, w.zone, w.now, week, 10)
                .await
                .expect("open")),
            vec![a, b, tight]
        );
        w.book(&store, tight).await;
        assert_eq!(
            ids(store
                .open_slots(w.tenant, w.zone, w.now, week, 10)
                .await
                .expect("open")),
            vec![a, b]
        );
        assert_eq!(
            ids(store
                .open_slots(w.tenant, w.zone, w.now, week, 1)
                .await
                .expect("open")),
            vec![a]
        );
        let a_start = store.slot(w.tenant, a).await.expect("slot").starts_at;
        let from_after_a = a_start + Duration::seconds(1);
        assert_eq!(
            ids(store
                .open_slots(w.tenant, w.zone, from_after_a, week, 10)
                .await
                .expect("open")),
            vec![b]
        );
        assert_eq!(
            ids(store
                .open_slots(w.tenant, w.zone, w.now, a_start, 10)
                .await
                .expect("open")),
            Vec::<SlotId>::new()
        );
    }
);

store_test!(
    fn a_full_window_refuses_another_booking(store: Store) {
        let w = world::minimal(&store).await;
        let slot = w.slot(&store, 72, 2).await;
        w.book(&store, slot).await;
        w.book(&store, slot).await;
        assert_err!(
            store
                .book_appointment(w.tenant, &w.appointment(slot), w.now)
                .await,
            StoreError::WindowFull
        );
        assert_eq!(booked(&store, w.tenant, slot).await, 2);
        assert_eq!(
            store
                .appointments(w.tenant, w.customer)
                .await
                .expect("appointments")
                .len(),
            2
        );
    }
);

store_test!(
    fn booking_an_unknown_slot_is_not_found(store: Store) {
        let w = world::minimal(&store).await;
        let unknown = SlotId(w.slots[1].0 + 1_000);
        assert_err!(
            store
                .book_appointment(w.tenant, &w.appointment(unknown), w.now)
                .await,
            StoreError::NotFound
        );
        // Another tenant's slot is unknown too.
        assert_err!(
            store
                .book_appointment(w.other_tenant, &w.appointment(w.slots[0]), w.now)
                .await,
            StoreError::NotFound
        );
        assert_eq!(booked(&store, w.tenant, w.slots[0]).await, 0);
        assert!(store
            .appointments(w.tenant, w.customer)
            .await
            .expect("appointments")
            .is_empty());
    }
);

store_test!(
    fn reschedule_moves_the_window_frees_the_old_stop_and_records_who(store: Store) {
        let w = world::minimal(&store).await;
        let [a, b] = w.slots;
        let (slot_a, slot_b) = (
            store.slot(w.tenant, a).await.expect("slot"),
            store.slot(w.tenant, b).await.expect("slot"),
        );
        let id = w.book(&store, a).await;

        store
            .reschedule_appointment(w.tenant, id, b, "agent", w.now + Duration::hours(1))
            .await
            .expect("reschedule");
        let appt = store.appointment(w.tenant, id).await.expect("appointment");
        assert_eq!(appt.slot_id, b);
        assert_eq!(
            (appt.window_start, appt.window_end),
            (slot_b.starts_at, slot_b.ends_at)
        );
        assert_eq!(appt.original_window_start, slot_a.starts_at);
        assert_eq!(
            (appt.reschedule_count, appt.last_rescheduled_by.as_deref()),
            (1, Some("agent"))
        );
        assert_eq!(
            (
                booked(&store, w.tenant, a).await,
                booked(&store, w.tenant, b).await
            ),
            (0, 1)
        );

        store
            .reschedule_appointment(w.tenant, id, a, "csr:7", w.now + Duration::hours(2))
            .await
            .expect("reschedule back");
        let appt = store.appointment(w.tenant, id).await.expect("appointment");
        assert_eq!((appt.slot_id, appt.window_start), (a, slot_a.starts_at));
        assert_eq!(appt.original_window_start, slot_a.starts_at);
        assert_eq!(
            (appt.reschedule_count, appt.last_rescheduled_by.as_deref()),
            (2, Some("csr:7"))
        );
        assert_eq!(
            (
                booked(&store, w.tenant, a).await,
                booked(&store, w.tenant, b).await
            ),
            (1, 0)
        );
    }
);

store_test!(
    fn rescheduling_into_the_same_window_is_a_conflict(store: Store) {
        let w = world::minimal(&store).await;
        let id = w.book(&store, w.slots[0]).await;
        let before = appointment_snapshot(&store, &w, id).await;
        assert_err!(
            store
                .reschedule_appointment(w.tenant, id, w.slots[0], "agent", w.now)
                .await,
            StoreError::Conflict(_)
        );
        assert_eq!(appointment_snapshot(&store, &w, id).await, before);
        assert_eq!(booked(&store, w.tenant, w.slots[0]).await, 1);
    }
);

store_test!(
    fn a_cancelled_or_completed_appointment_cannot_be_rescheduled(store: Store) {
        let w = world::minimal(&store).await;
        let [a, b] = w.slots;
        let id = w.book(&store, a).await;
        store
            .cancel_appointment(w.tenant, id, w.now)
            .await
            .expect("cancel");
        assert_err!(
            store
                .reschedule_appointment(w.tenant, id, b, "agent", w.now)
                .await,
            StoreError::Conflict(_)
        );
        let appt = store.appointment(w.tenant, id).await.expect("appointment");
        assert_eq!(
            (appt.status, appt.slot_id, appt.reschedule_count),
            (AppointmentStatus::Cancelled, a, 0)
        );
        assert_eq!(
            (
                booked(&store, w.tenant, a).await,
                booked(&store, w.tenant, b).await
            ),
            (0, 0)
        );

        let mut done = w.appointment(a);
        done.status = AppointmentStatus::Completed;
        let done = store
            .book_appointment(w.tenant, &done, w.now)
            .await
            .expect("book");
        assert_err!(
            store
                .reschedule_appointment(w.tenant, done, b, "agent", w.now)
                .await,
            StoreError::Conflict(_)
        );
        assert_eq!(booked(&store, w.tenant, b).await, 0);
    }
);

store_test!(
    fn cancel_frees_the_stop_once(store: Store) {
        let w = world::minimal(&store).await;
        let a = w.slots[0];
        let keep = w.book(&store, a).await;
        let drop = w.book(&store, a).await;
        assert_eq!(booked(&store, w.tenant, a).await, 2);

        store
            .cancel_appointment(w.tenant, drop, w.now + Duration::hours(1))
            .await
            .expect("cancel");
        assert_eq!(
            store
                .appointment(w.tenant, drop)
                .await
                .expect("appointment")
                .status,
            AppointmentStatus::Cancelled
        );
        assert_eq!(
            store
                .appointment(w.tenant, keep)
                .await
                .expect("appointment")
                .status,
            AppointmentStatus::Scheduled
        );
        assert_eq!(booked(&store, w.tenant, a).await, 1);

        // A second cancel changes nothing and says why.
        assert_err!(
            store.cancel_appointment(w.tenant, drop, w.now).await,
            StoreError::Conflict(_)
        );
        assert_eq!(booked(&store, w.tenant, a).await, 1);
        assert_err!(
            store
                .cancel_appointment(w.tenant, AppointmentId(drop.0 + 1_000), w.now)
                .await,
            StoreError::NotFound
        );
    }
);

store_test!(
    fn a_failed_reschedule_leaves_both_windows_and_the_appointment_untouched(store: Store) {
        let w = world::minimal(&store).await;
        let [a, b] = w.slots;
        let full = w.slot(&store, 72, 1).await;
        w.book(&store, full).await;
        let id = w.book(&store, a).await;
        let before = appointment_snapshot(&store, &w, id).await;

        assert_err!(
            store
                .reschedule_appointment(w.tenant, id, full, "agent", w.now)
                .await,
            StoreError::WindowFull
        );
        assert_eq!(appointment_snapshot(&store, &w, id).await, before);
        assert_eq!(
            (
                booked(&store, w.tenant, a).await,
                booked(&store, w.tenant, full).await
            ),
            (1, 1)
        );

        assert_err!(
            store
                .reschedule_appointment(w.tenant, id, SlotId(full.0 + 1_000), "agent", w.now)
                .await,
            StoreError::NotFound
        );
        assert_eq!(appointment_snapshot(&store, &w, id).await, before);
        assert_eq!(booked(&store, w.tenant, a).await, 1);

        assert_err!(
            store
                .reschedule_appointment(w.tenant, AppointmentId(id.0 + 1_000), b, "agent", w.now)
                .await,
            StoreError::NotFound
        );
        assert_eq!(booked(&store, w.tenant, b).await, 0);
    }
);

// ---------------------------------------------------------------- records

store_test!(
    fn visits_come_newest_first(store: Store) {
        let w = world::minimal(&store).await;
        for (days_ago, notes) in [(30, "quarterly"), (90, "initial"), (10, "callback")] {
            store
                .insert_visit(
                    w.tenant,
                    &NewVisit {
                        customer_id: w.customer,
                        property_id: w.property,
                        service_id: w.service,
                        technician_id: w.technician,
                        completed_at: w.now - Duration::days(days_ago),
                        notes: notes.into(),
                        findings: format!("{notes} findings"),
                        products: vec!["Termidor SC".into(), "Advion gel".into()],
                    },
                )
                .await
                .expect("insert visit");
        }
        let visits = store.visits(w.tenant, w.customer).await.expect("visits");
        assert_eq!(
            visits.iter().map(|v| v.notes.as_str()).collect::<Vec<_>>(),
            vec!["callback", "quarterly", "initial"]
        );
        let v = &visits[0];
        assert_eq!(v.completed_at, w.now - Duration::days(10));
        assert_eq!((v.property_id, v.service_id), (w.property, w.service));
        assert_eq!(
            (v.service.as_str(), v.technician.as_str()),
            ("Service GPC", "Dana Reyes")
        );
        assert_eq!(v.findings, "callback findings");
        assert_eq!(v.products, vec!["Termidor SC", "Advion gel"]);
    }
);

store_test!(
    fn invoices_and_payments_come_newest_first(store: Store) {
        let w = world::minimal(&store).await;
        let invoice =
            |number: &str, issued: NaiveDate, balance: i64, status: InvoiceStatus| NewInvoice {
                customer_id: w.customer,
                number: number.into(),
                amount_cents: Cents(12_900),
                balance_cents: Cents(balance),
                issued_on: issued,
                due_on: issued + Duration::days(30),
                status,
            };
        let march = store
            .insert_invoice(
                w.tenant,
                &invoice("INV-1001", date(2026, 3, 1), 0, InvoiceStatus::Paid),
            )
            .await
            .expect("invoice");
        let april = store
            .insert_invoice(
                w.tenant,
                &invoice("INV-1002", date(2026, 4, 1), 4_900, InvoiceStatus::Open),
            )
            .await
            .expect("invoice");
        assert_err!(
            store
                .insert_invoice(
                    w.tenant,
                    &invoice("INV-1001", date(2026, 4, 2), 0, InvoiceStatus::Open)
                )
                .await,
            StoreError::Conflict(_)
        );

        let invoices = store
            .invoices(w.tenant, w.customer)
            .await
            .expect("invoices");
        assert_eq!(
            invoices.iter().map(|i| i.id).collect::<Vec<_>>(),
            vec![april, march]
        );
        let i = &invoices[0];
        assert_eq!(
            (i.number.as_str(), i.amount_cents, i.balance_cents, i.status),
            ("INV-1002", Cents(12_900), Cents(4_900), InvoiceStatus::Open)
        );
        assert_eq!(
            (i.issued_on, i.due_on),
            (date(2026, 4, 1), date(2026, 5, 1))
        );

        store
            .insert_payment(
                w.tenant,
                w.customer,
                march,
                Cents(12_900),
                "card",
                w.now - Duration::days(60),
            )
            .await
            .expect("payment");
        store
            .insert_payment(
                w.tenant,
                w.customer,
                april,
                Cents(8_000),
                "ach",
                w.now - Duration::days(5),
            )
            .await
            .expect("payment");
        let payments = store
            .payments(w.tenant, w.customer)
            .await
            .expect("payments");
        let summary: Vec<_> = payments
            .iter()
            .map(|p| (p.invoice_id, p.amount_cents, p.method.as_str(), p.paid_at))
            .collect();
        assert_eq!(
            summary,
            vec![
                (april, Cents(8_000), "ach", w.now - Duration::days(5)),
                (march, Cents(12_900), "card", w.now - Duration::days(60)),
            ]
        );
    }
);

store_test!(
    fn agreements_round_trip(store: Store) {
        let w = world::minimal(&store).await;
        let id = store
            .insert_agreement(
                w.tenant,
                &NewAgreement {
                    customer_id: w.customer,
                    property_id: w.property,
                    service_id: w.service,
                    status: AgreementStatus::PendingRenewal,
                    signature_status: SignatureStatus::Pending,
                    starts_on: date(2025, 6, 1),
                    renews_on: date(2026, 6, 1),
                    price_cents: Cents(49_900),
                },
            )
            .await
            .expect("insert agreement");
        let agreements = store
            .agreements(w.tenant, w.customer)
            .await
            .expect("agreements");
        assert_eq!(agreements.len(), 1);
        let a = &agreements[0];
        assert_eq!(
            (a.id, a.property_id, a.service_id, a.service.as_str()),
            (id, w.property, w.service, "Service GPC")
        );
        assert_eq!(
            (a.status, a.signature_status),
            (AgreementStatus::PendingRenewal, SignatureStatus::Pending)
        );
        assert_eq!(
            (a.starts_on, a.renews_on, a.price_cents),
            (date(2025, 6, 1), date(2026, 6, 1), Cents(49_900))
        );
    }
);

store_test!(
    fn portal_events_come_newest_first_with_their_detail_and_a_limit(store: Store) {
        let w = world::minimal(&store).await;
        let refused = json!({
            "appointment_id": 41,
            "reason": "less than 48 hours ahead",
            "asked": { "window": ["2026-05-05T13:00:00Z", "2026-05-05T17:00:00Z"] },
            "notes": "línea 2 — ünïcode ✓"
        });
        let events = [
            (4, PortalEventKind::Login, json!({})),
            (1, PortalEventKind::RescheduleRefused, refused.clone()),
            (
                3,
                PortalEventKind::InvoiceViewed,
                json!({ "invoice": "INV-1002" }),
            ),
            (2, PortalEventKind::Payment, json!({ "amount_cents": 8000 })),
        ];
        for (hours_ago, kind, detail) in &events {
            store
                .insert_portal_event(
                    w.tenant,
                    w.customer,
                    *kind,
                    detail,
                    w.now - Duration::hours(*hours_ago),
                )
                .await
                .expect("insert event");
        }
        let newest = store
            .portal_events(w.tenant, w.customer, 3)
            .await
            .expect("events");
        let kinds: Vec<_> = newest.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            vec![
                PortalEventKind::RescheduleRefused,
                PortalEventKind::Payment,
                PortalEventKind::InvoiceViewed
            ]
        );
        assert_eq!(newest[0].detail, refused);
        assert_eq!(newest[0].at, w.now - Duration::hours(1));
        assert_eq!(
            store
                .portal_events(w.tenant, w.customer, 10)
                .await
                .expect("events")
                .len(),
            4
        );
    }
);

// ---------------------------------------------------------------- conversations

store_test!(
    fn messages_come_back_in_order_and_touch_the_conversation(store: Store) {
        let w = world::minimal(&store).await;
        let conv = sms_conversation(&store, &w, 0).await;
        let c = store
            .conversation(w.tenant, conv)
            .await
            .expect("conversation");
        assert_eq!(
            (c.channel, c.customer_id, c.property_id, c.identity_level),
            (
                Channel::Sms,
                Some(w.customer),
                None,
                IdentityLevel::Verified
            )
        );
        assert_eq!(
            (c.owner.as_str(), c.status.as_str(), c.participant.as_str()),
            ("agent", "open", "+15125550142")
        );
        assert_eq!((c.created_at, c.updated_at), (w.now, w.now));

        let mut photo = message(Direction::Inbound, "here is the nest", Some("SM2"));
        photo.media = vec!["https://media.example.test/nest.jpg".into()];
        let sent = [
            message(Direction::Inbound, "Can you move my visit?", Some("SM1")),
            message(Direction::Outbound, "Sure — Thursday 8–12 works?", None),
            photo,
        ];
        for (i, m) in sent.iter().enumerate() {
            store
                .insert_message(w.tenant, conv, m, w.now + Duration::minutes(i as i64 + 1))
                .await
                .expect("insert message");
        }
        let got = store.messages(w.tenant, conv).await.expect("messages");
        let summary: Vec<_> = got
            .iter()
            .map(|m| {
                (
                    m.direction,
                    m.author.as_str(),
                    m.text.as_str(),
                    m.external_id.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    Direction::Inbound,
                    "customer",
                    "Can you move my visit?",
                    Some("SM1")
                ),
                (
                    Direction::Outbound,
                    "agent",
                    "Sure — Thursday 8–12 works?",
                    None
                ),
                (
                    Direction::Inbound,
                    "customer",
                    "here is the nest",
                    Some("SM2")
                ),
            ]
        );
        assert_eq!(got[2].media, vec!["https://media.example.test/nest.jpg"]);
        assert_eq!(got[2].at, w.now + Duration::minutes(3));
        let c = store
            .conversation(w.tenant, conv)
            .await
            .expect("conversation");
        assert_eq!(c.updated_at, w.now + Duration::minutes(3));
    }
);

store_test!(
    fn a_repeated_external_id_is_a_conflict_and_writes_nothing(store: Store) {
        let w = world::minimal(&store).await;
        let conv = sms_conversation(&store, &w, 0).await;
        store
            .insert_message(
                w.tenant,
                conv,
                &message(Direction::Inbound, "first delivery", Some("SM1")),
                w.now + Duration::minutes(1),
            )
            .await
            .expect("insert message");
        let again = store
            .insert_message(
                w.tenant,
                conv,
                &message(Direction::Inbound, "redelivery", Some("SM1")),
                w.now + Duration::minutes(5),
            )
            .await;
        assert_err!(again, StoreError::Conflict(_));
        let got = store.messages(w.tenant, conv).await.expect("messages");
        assert_eq!(
            got.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
            vec!["first delivery"]
        );
        let c = store
            .conversation(w.tenant, conv)
            .await
            .expect("conversation");
        assert_eq!(c.updated_at, w.now + Duration::minutes(1));

        // Messages without an external id never collide.
        for _ in 0..2 {
            store
                .insert_message(
                    w.tenant,
                    conv,
                    &message(Direction::Outbound, "ok", None),
                    w.now + Duration::minutes(2),
                )
                .await
                .expect("insert message");
        }
        // External ids are unique per tenant, not across tenants.
        let theirs = store
            .insert_conversation(
                w.other_tenant,
                &NewConversation {
                    channel: Channel::Sms,
                    customer_id: None,
                    identity_level: IdentityLevel::Anonymous,
                    participant: "+15045550123".into(),
                },
                w.now,
            )
            .await
            .expect("insert conversation");
        store
            .insert_message(
                w.other_tenant,
                theirs,
                &message(Direction::Inbound, "hello", Some("SM1")),
                w.now,
            )
            .await
            .expect("the same id in another tenant");
        assert_eq!(
            store
                .messages(w.tenant, conv)
                .await
                .expect("messages")
                .len(),
            3
        );
    }
);

store_test!(
    fn tool_calls_keep_their_arguments_and_results(store: Store) {
        let w = world::minimal(&store).await;
        let conv = sms_conversation(&store, &w, 0).await;
        let args = json!({ "appointment_id": 7, "slot_id": 12, "confirm": true });
        let result = json!({
            "ok": true,
            "window": { "start": "2026-05-07T13:00:00Z", "end": "2026-05-07T17:00:00Z" },
            "reschedules_left": [2]
        });
        store
            .insert_tool_call(
                w.tenant,
                conv,
                &NewToolCall {
                    tool: "reschedule_appointment".into(),
                    arguments: args.clone(),
                    result: result.clone(),
                    decision: frontdesk::domain::Decision::Allowed,
                    rule: "agent_reschedule".into(),
                },
                w.now + Duration::minutes(1),
            )
            .await
            .expect("insert tool call");
        let refused = json!({ "error": "out_of_policy", "rule": "max_reschedules" });
        store
            .insert_tool_call(
                w.tenant,
                conv,
                &NewToolCall {
                    tool: "reschedule_appointment".into(),
                    arguments: args.clone(),
                    result: refused.clone(),
                    decision: frontdesk::domain::Decision::Refused,
                    rule: "agent_reschedule.max_reschedules".into(),
                },
                w.now + Duration::minutes(2),
            )
            .await
            .expect("insert tool call");

        let calls = store.tool_calls(w.tenant, conv).await.expect("tool calls");
        assert_eq!(calls.len(), 2);
        assert_eq!(
            (
                calls[0].tool.as_str(),
                &calls[0].arguments,
                &calls[0].result
            ),
            ("reschedule_appointment", &args, &result)
        );
        assert_eq!(
            (
                calls[0].decision.as_str(),
                calls[0].rule.as_str(),
                calls[0].at
            ),
            ("allowed", "agent_reschedule", w.now + Duration::minutes(1))
        );
        assert_eq!(
            (calls[1].decision.as_str(), &calls[1].result),
            ("refused", &refused)
        );
    }
);

store_test!(
    fn escalating_hands_the_conversation_to_the_queue(store: Store) {
        let w = world::minimal(&store).await;
        let conv = sms_conversation(&store, &w, 0).await;
        let at = w.now + Duration::minutes(2);
        let first = store
            .insert_escalation(
                w.tenant,
                &NewEscalation {
                    conversation_id: conv,
                    customer_id: Some(w.customer),
                    reason: EscalationReason::BillingDispute,
                    priority: Priority::High,
                    summary: "Maria Lopez (verified by SMS) disputes INV-1002".into(),
                    due_at: w.now + Duration::hours(1),
                },
                at,
            )
            .await
            .expect("insert escalation");
        let c = store
            .conversation(w.tenant, conv)
            .await
            .expect("conversation");
        assert_eq!((c.owner.as_str(), c.updated_at), ("queue", at));

        let urgent = store
            .insert_escalation(
                w.tenant,
                &NewEscalation {
                    conversation_id: conv,
                    customer_id: Some(w.customer),
                    reason: EscalationReason::Emergency,
                    priority: Priority::Urgent,
                    summary: "wasps indoors".into(),
                    due_at: w.now + Duration::minutes(15),
                },
                at,
            )
            .await
            .expect("insert escalation");
        let list = store
            .escalations_of(w.tenant, w.customer)
            .await
            .expect("escalations");
        assert_eq!(
            list.iter().map(|e| e.id).collect::<Vec<_>>(),
            vec![urgent, first],
            "soonest due first"
        );
        let e = &list[1];
        assert_eq!((e.conversation_id, e.customer_id), (conv, Some(w.customer)));
        assert_eq!(
            (e.reason, e.priority, e.status),
            (
                EscalationReason::BillingDispute,
                Priority::High,
                EscalationStatus::Open
            )
        );
        assert_eq!(e.summary, "Maria Lopez (verified by SMS) disputes INV-1002");
        assert_eq!(
            (e.assignee, e.due_at, e.created_at),
            (None, w.now + Duration::hours(1), at)
        );
        assert_eq!((e.resolved_at, e.resolution.as_deref()), (None, None));
    }
);

store_test!(
    fn a_customers_conversations_list_open_ones_first(db: &TestDb) {
        let store = db.store();
        let w = world::minimal(&store).await;
        // One open conversation per participant and channel: three channels.
        let oldest = conversation_on(&store, &w, Channel::Sms, 0).await;
        let middle = conversation_on(&store, &w, Channel::Chat, 1).await;
        let closed = conversation_on(&store, &w, Channel::Api, 2).await;
        // A message makes the oldest the most recently active.
        store
            .insert_message(
                w.tenant,
                oldest,
                &message(Direction::Inbound, "still there?", None),
                w.now + Duration::minutes(10),
            )
            .await
            .expect("insert message");
        // No store method closes a conversation yet; arrange it directly. The closed one is the
        // most recently touched of all, so only the open-first rule puts it last.
        let touched = db
            .execute(&format!(
                "UPDATE conversations SET status = 'closed', updated_at = {} WHERE id = {}",
                (w.now + Duration::hours(1)).timestamp(),
                closed.0
            ))
            .await;
        assert_eq!(touched, 1);
        let anonymous = store
            .insert_conversation(
                w.tenant,
                &NewConversation {
                    channel: Channel::Voice,
                    customer_id: None,
                    identity_level: IdentityLevel::Anonymous,
                    participant: "+15125550000".into(),
                },
                w.now,
            )
            .await
            .expect("insert conversation");

        let list = store
            .conversations_of(w.tenant, w.customer)
            .await
            .expect("conversations");
        assert_eq!(
            list.iter().map(|c| c.id).collect::<Vec<_>>(),
            vec![oldest, middle, closed]
        );
        assert!(!list.iter().any(|c| c.id == anonymous));
    }
);

store_test!(
    fn opt_out_and_opt_in_are_idempotent(store: Store) {
        let w = world::minimal(&store).await;
        assert_eq!(
            store.opted_out(w.tenant, &w.phone).await.expect("read"),
            None
        );
        store
            .opt_out(w.tenant, &w.phone, w.now)
            .await
            .expect("opt out");
        store
            .opt_out(w.tenant, &w.phone, w.now + Duration::hours(1))
            .await
            .expect("opt out again");
        assert_eq!(
            store.opted_out(w.tenant, &w.phone).await.expect("read"),
            Some(w.now),
            "the first STOP counts"
        );
        assert_eq!(
            store
                .opted_out(w.other_tenant, &w.phone)
                .await
                .expect("read"),
            None
        );

        store.opt_in(w.tenant, &w.phone).await.expect("opt in");
        store
            .opt_in(w.tenant, &w.phone)
            .await
            .expect("opt in again");
        assert_eq!(
            store.opted_out(w.tenant, &w.phone).await.expect("read"),
            None
        );
        store
            .opt_out(w.tenant, &w.phone, w.now + Duration::hours(2))
            .await
            .expect("opt out");
        assert_eq!(
            store.opted_out(w.tenant, &w.phone).await.expect("read"),
            Some(w.now + Duration::hours(2))
        );
    }
);

// ---------------------------------------------------------------- operators and tokens

store_test!(
    fn tokens_resolve_to_their_owner_until_revoked(store: Store) {
        let w = world::minimal(&store).await;
        let now = w.now.timestamp();
        let casey = store
            .insert_operator_user(w.tenant, "Casey", "casey@acme.test", Role::Csr)
            .await
            .expect("user");
        assert_err!(
            store
                .insert_operator_user(w.tenant, "Casey 2", "casey@acme.test", Role::Admin)
                .await,
            StoreError::Conflict(_)
        );
        store
            .insert_operator_user(w.other_tenant, "Casey", "casey@acme.test", Role::Admin)
            .await
            .expect("emails are per tenant");
        let users = store.operator_users(w.tenant).await.expect("users");
        assert_eq!(
            users
                .iter()
                .map(|u| (u.id, u.name.as_str(), u.role))
                .collect::<Vec<_>>(),
            vec![(casey, "Casey", Role::Csr)]
        );

        let console = store
            .insert_token(
                w.tenant,
                Some(casey),
                Role::Csr,
                "console",
                "hash-console",
                now,
            )
            .await
            .expect("token");
        let integration = store
            .insert_token(w.tenant, None, Role::Integration, "crm", "hash-crm", now)
            .await
            .expect("token");
        assert_err!(
            store
                .insert_token(
                    w.other_tenant,
                    None,
                    Role::Admin,
                    "dup",
                    "hash-console",
                    now
                )
                .await,
            StoreError::Conflict(_)
        );

        let owner = store
            .token_owner("hash-console")
            .await
            .expect("lookup")
            .expect("a live token");
        assert_eq!(
            (owner.token_id, owner.tenant_id, owner.user_id, owner.role),
            (console, w.tenant, Some(casey), Role::Csr)
        );
        let owner = store
            .token_owner("hash-crm")
            .await
            .expect("lookup")
            .expect("a live token");
        assert_eq!(
            (owner.token_id, owner.user_id, owner.role),
            (integration, None, Role::Integration)
        );
        assert!(store
            .token_owner("hash-unknown")
            .await
            .expect("lookup")
            .is_none());

        store.revoke_token(console, now + 60).await.expect("revoke");
        assert!(store
            .token_owner("hash-console")
            .await
            .expect("lookup")
            .is_none());
        assert!(store
            .token_owner("hash-crm")
            .await
            .expect("lookup")
            .is_some());
    }
);

// ---------------------------------------------------------------- tenant isolation

store_test!(
    fn another_tenant_sees_none_of_it(store: Store) {
        let w = world::minimal(&store).await;
        let b = w.other_tenant;
        // Give tenant A one of everything.
        let appt = w.book(&store, w.slots[0]).await;
        store
            .insert_visit(
                w.tenant,
                &NewVisit {
                    customer_id: w.customer,
                    property_id: w.property,
                    service_id: w.service,
                    technician_id: w.technician,
                    completed_at: w.now - Duration::days(3),
                    notes: "n".into(),
                    findings: "f".into(),
                    products: Vec::new(),
                },
            )
            .await
            .expect("visit");
        let invoice = store
            .insert_invoice(
                w.tenant,
                &NewInvoice {
                    customer_id: w.customer,
                    number: "INV-1".into(),
                    amount_cents: Cents(100),
                    balance_cents: Cents(100),
                    issued_on: date(2026, 4, 1),
                    due_on: date(2026, 5, 1),
                    status: InvoiceStatus::Open,
                },
            )
            .await
            .expect("invoice");
        store
            .insert_payment(w.tenant, w.customer, invoice, Cents(50), "card", w.now)
            .await
            .expect("payment");
        store
            .insert_agreement(
                w.tenant,
                &NewAgreement {
                    customer_id: w.customer,
                    property_id: w.property,
                    service_id: w.service,
                    status: AgreementStatus::Active,
                    signature_status: SignatureStatus::Signed,
                    starts_on: date(2026, 1, 1),
                    renews_on: date(2027, 1, 1),
                    price_cents: Cents(100),
                },
            )
            .await
            .expect("agreement");
        store
            .insert_portal_event(
                w.tenant,
                w.customer,
                PortalEventKind::Login,
                &json!({}),
                w.now,
            )
            .await
            .expect("event");
        let conv = sms_conversation(&store, &w, 0).await;
        store
            .insert_message(
                w.tenant,
                conv,
                &message(Direction::Inbound, "hi", Some("SM1")),
                w.now,
            )
            .await
            .expect("message");
        store
            .insert_tool_call(
                w.tenant,
                conv,
                &NewToolCall {
                    tool: "lookup".into(),
                    arguments: json!({}),
                    result: json!({}),
                    decision: frontdesk::domain::Decision::Allowed,
                    rule: "r".into(),
                },
                w.now,
            )
            .await
            .expect("tool call");
        store
            .insert_escalation(
                w.tenant,
                &NewEscalation {
                    conversation_id: conv,
                    customer_id: Some(w.customer),
                    reason: EscalationReason::Other,
                    priority: Priority::Low,
                    summary: "s".into(),
                    due_at: w.now,
                },
                w.now,
            )
            .await
            .expect("escalation");
        store
            .opt_out(w.tenant, &w.phone, w.now)
            .await
            .expect("opt out");
        store
            .insert_operator_user(w.tenant, "Casey", "casey@acme.test", Role::Csr)
            .await
            .expect("user");

        // Tenant B asks for all of it by A's ids.
        assert_err!(store.customer(b, w.customer).await, StoreError::NotFound);
        assert!(store
            .customers_by_ids(b, &[w.customer])
            .await
            .expect("by ids")
            .is_empty());
        let (page, total) = store.list_customers(b, 1, 50).await.expect("list");
        assert!(page.is_empty());
        assert_eq!(total, 0);
        assert_eq!(store.count_customers(b).await.expect("count"), 0);
        assert!(store
            .customers_by_phone(b, &w.phone)
            .await
            .expect("by phone")
            .is_empty());
        assert!(store
            .customer_docs(b, CustomerId(0), 100)
            .await
            .expect("docs")
            .is_empty());
        assert!(store
            .properties(b, w.customer)
            .await
            .expect("properties")
            .is_empty());
        assert_err!(store.property(b, w.property).await, StoreError::NotFound);
        assert!(store.zones(b).await.expect("zones").is_empty());
        assert!(store.services(b).await.expect("services").is_empty());
        assert!(store.technicians(b).await.expect("technicians").is_empty());
        assert_eq!(
            store.technician_for(b, w.zone, 0).await.expect("lookup"),
            None
        );
        assert_err!(store.slot(b, w.slots[0]).await, StoreError::NotFound);
        assert!(store
            .open_slots(b, w.zone, w.now, w.now + Duration::days(30), 10)
            .await
            .expect("open")
            .is_empty());
        assert_err!(store.appointment(b, appt).await, StoreError::NotFound);
        assert!(store
            .appointments(b, w.customer)
            .await
            .expect("appointments")
            .is_empty());
        assert!(store
            .visits(b, w.customer)
            .await
            .expect("visits")
            .is_empty());
        assert!(store
            .invoices(b, w.customer)
            .await
            .expect("invoices")
            .is_empty());
        assert!(store
            .payments(b, w.customer)
            .await
            .expect("payments")
            .is_empty());
        assert!(store
            .agreements(b, w.customer)
            .await
            .expect("agreements")
            .is_empty());
        assert!(store
            .portal_events(b, w.customer, 10)
            .await
            .expect("events")
            .is_empty());
        assert_err!(store.conversation(b, conv).await, StoreError::NotFound);
        assert!(store
            .conversations_of(b, w.customer)
            .await
            .expect("conversations")
            .is_empty());
        assert!(store.messages(b, conv).await.expect("messages").is_empty());
        assert!(store
            .tool_calls(b, conv)
            .await
            .expect("tool calls")
            .is_empty());
        assert!(store
            .escalations_of(b, w.customer)
            .await
            .expect("escalations")
            .is_empty());
        assert_eq!(store.opted_out(b, &w.phone).await.expect("opt-out"), None);
        assert!(store.operator_users(b).await.expect("users").is_empty());

        // Nor can B change A's schedule or conversations.
        let before = appointment_snapshot(&store, &w, appt).await;
        assert_err!(
            store
                .reschedule_appointment(b, appt, w.slots[1], "agent", w.now)
                .await,
            StoreError::NotFound
        );
        assert_err!(
            store.cancel_appointment(b, appt, w.now).await,
            StoreError::NotFound
        );
        assert_eq!(appointment_snapshot(&store, &w, appt).await, before);
        assert_eq!(
            (
                booked(&store, w.tenant, w.slots[0]).await,
                booked(&store, w.tenant, w.slots[1]).await
            ),
            (1, 0)
        );
        assert_err!(
            store
                .insert_message(
                    b,
                    conv,
                    &message(Direction::Outbound, "hijack", None),
                    w.now
                )
                .await,
            StoreError::NotFound
        );
        assert_err!(
            store
                .insert_escalation(
                    b,
                    &NewEscalation {
                        conversation_id: conv,
                        customer_id: None,
                        reason: EscalationReason::Other,
                        priority: Priority::Low,
                        summary: "s".into(),
                        due_at: w.now,
                    },
                    w.now
                )
                .await,
            StoreError::NotFound
        );
        assert_eq!(
            store
                .messages(w.tenant, conv)
                .await
                .expect("messages")
                .len(),
            1
        );
        assert_eq!(
            store
                .escalations_of(w.tenant, w.customer)
                .await
                .expect("escalations")
                .len(),
            1
        );
    }
);

store_test!(
    fn one_open_conversation_per_participant_and_channel(store: Store) {
        let w = world::minimal(&store).await;
        sms_conversation(&store, &w, 0).await;
        let again = store
            .insert_conversation(
                w.tenant,
                &NewConversation {
                    channel: Channel::Sms,
                    customer_id: Some(w.customer),
                    identity_level: IdentityLevel::Verified,
                    participant: w.phone.as_str().into(),
                },
                w.now,
            )
            .await;
        assert_err!(again, StoreError::Conflict(_));
        // The turn pipeline's lookup returns the same open conversation, never a second one.
        let a = store
            .open_conversation(
                w.tenant,
                Channel::Sms,
                w.phone.as_str(),
                Some(&w.phone),
                w.now,
            )
            .await
            .expect("open");
        let b = store
            .open_conversation(
                w.tenant,
                Channel::Sms,
                w.phone.as_str(),
                Some(&w.phone),
                w.now,
            )
            .await
            .expect("open");
        assert_eq!(a, b);
    }
);
