//! Tests of the seeded worlds on SQLite in memory; the comparisons across engines and the
//! large loads are integration tests (`tests/it/seed.rs`).

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Timelike, Utc};

use super::fixtures::Fixtures;
use super::*;
use crate::domain::{InvoiceStatus, PhoneE164, PortalEventKind, SignatureStatus};
use crate::store::Store;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("rfc3339")
        .with_timezone(&Utc)
}

/// Thursday afternoon in Austin, three days before clocks spring forward: the windows span
/// the DST change.
fn now() -> DateTime<Utc> {
    utc("2026-03-05T21:00:00Z")
}

fn phone(s: &str) -> PhoneE164 {
    PhoneE164::parse(s).expect("phone")
}

async fn memory_store() -> Store {
    Store::connect("sqlite::memory:", 1)
        .await
        .expect("sqlite store")
}

#[test]
fn fixtures_parse_and_describe_a_believable_company() {
    let fx = Fixtures::load().expect("fixtures");
    let demo = fx.tenant(DEMO_SLUG).expect("demo tenant");
    assert_eq!(demo.name, "Greenleaf Pest Control");
    assert_eq!(demo.timezone.name(), "America/Chicago");
    assert!(demo.zones.len() >= 4);
    assert!(demo.technicians.len() >= 6);
    assert!(demo.services.len() >= 8);
    assert!(fx.people.first_names.len() >= 200);
    assert!(fx.people.last_names.len() >= 300);
    let unique: BTreeSet<&String> = fx.people.last_names.iter().collect();
    assert_eq!(
        unique.len(),
        fx.people.last_names.len(),
        "no repeated last names"
    );
    let not_bookable: Vec<&str> = fx
        .catalog
        .iter()
        .filter(|s| !s.agent_bookable)
        .map(|s| s.code.as_str())
        .collect();
    for code in ["TERMT", "COMM", "WILD"] {
        assert!(not_bookable.contains(&code), "{code} must need a human");
    }
    let gpq = fx
        .catalog
        .iter()
        .find(|s| s.code == "GPQ")
        .expect("quarterly plan");
    let q = gpq
        .pricing
        .quote(Some(2400), &["GARAGE".into()])
        .expect("quote");
    assert_eq!(q.per_visit_cents.0, 14_900);
    assert_eq!(q.first_visit_total_cents.0, 14_900 + 9_900 + 2_500);
    assert_eq!(gpq.recurring_interval_days, Some(91));
}

#[tokio::test]
async fn demo_world_on_sqlite_has_everything_and_the_hard_cases() {
    let store = memory_store().await;
    let now = now();
    let s = seed_demo(&store, now).await.expect("seed");
    assert!(s.created);
    let t = s.demo;
    let c = &s.counts;
    assert!(c.customers >= 200, "{c:?}");
    assert!(
        c.zones >= 4 && c.technicians >= 6 && c.services >= 8,
        "{c:?}"
    );
    assert!(c.service_visits >= 200 && c.payments >= 100, "{c:?}");
    assert_eq!(c.operator_users, 2);
    assert_eq!(c.opt_outs, 1);

    // Windows: two a day per worked zone-day, 08:00–12:00 and 12:00–16:00 local, across the
    // DST change, from a week back to four weeks ahead, never over capacity.
    let tenant = store.tenant(t).await.expect("tenant");
    assert_eq!(
        tenant.phone_numbers,
        vec!["+15125550000".to_string(), "+15125550001".to_string()]
    );
    let slots = store
        .slots_between(t, now - Duration::days(8), now + Duration::days(30))
        .await
        .expect("slots");
    assert_eq!(slots.len() as i64, c.slots);
    for sl in &slots {
        let (start, end) = (
            tenant.timezone.local(sl.starts_at),
            tenant.timezone.local(sl.ends_at),
        );
        assert!(
            matches!((start.hour(), end.hour()), (8, 12) | (12, 16)) && start.minute() == 0,
            "window {start} – {end}"
        );
        assert_eq!(sl.capacity, 6);
        assert!(sl.booked <= sl.capacity);
    }
    assert!(slots.iter().any(|s| s.starts_at < now - Duration::days(6)));
    assert!(slots.iter().any(|s| s.starts_at > now + Duration::days(27)));
    let full = slots.iter().filter(|s| s.booked >= s.capacity).count();
    assert_eq!(full, s.full_windows.len());
    assert_eq!(
        full, 2,
        "exactly the two windows filled on purpose are full"
    );
    let roomy = slots
        .iter()
        .filter(|s| s.starts_at > now && s.booked < s.capacity)
        .count();
    assert!(roomy * 10 > slots.iter().filter(|s| s.starts_at > now).count() * 9);

    // Bookings, billing, agreements and portal activity over all customers.
    let (customers, total) = store.list_customers(t, 1, 10_000).await.expect("list");
    assert_eq!(total, c.customers);
    let (mut upcoming, mut overdue, mut pending, mut events) = (0, 0, 0, 0);
    let mut kinds = std::collections::HashSet::new();
    for cu in &customers {
        for a in store.appointments(t, cu.id).await.expect("appointments") {
            if a.status.is_open()
                && a.window_start > now
                && a.window_start < now + Duration::days(28)
            {
                upcoming += 1;
            }
        }
        overdue += store
            .invoices(t, cu.id)
            .await
            .expect("invoices")
            .iter()
            .filter(|i| i.status == InvoiceStatus::Overdue && i.balance_cents.0 > 0)
            .count();
        pending += store
            .agreements(t, cu.id)
            .await
            .expect("agreements")
            .iter()
            .filter(|a| a.signature_status == SignatureStatus::Pending)
            .count();
        for e in store.portal_events(t, cu.id, 100).await.expect("events") {
            events += 1;
            kinds.insert(e.kind);
            assert!(e.at <= now, "portal events are in the past");
        }
    }
    assert!(upcoming >= 50, "{upcoming} upcoming appointments");
    assert!(overdue >= 5, "{overdue} overdue invoices");
    assert!(pending >= 3, "{pending} agreements awaiting signature");
    assert!(events >= 100, "{events} portal events");
    for k in [
        PortalEventKind::Login,
        PortalEventKind::InvoiceViewed,
        PortalEventKind::Payment,
        PortalEventKind::RescheduleDone,
        PortalEventKind::RescheduleRefused,
        PortalEventKind::AgreementSigned,
        PortalEventKind::ChatOpened,
    ] {
        assert!(kinds.contains(&k), "no {k} event");
    }

    // Shared phone: two customers, two properties, both with something upcoming.
    let garcias = store
        .customers_by_phone(t, &phone("+15125550111"))
        .await
        .expect("by phone");
    assert_eq!(garcias, vec![s.maria_garcia, s.jose_garcia]);
    for g in &garcias {
        let ahead = store.appointments(t, *g).await.expect("appointments");
        assert!(ahead
            .iter()
            .any(|a| a.status.is_open() && a.window_start > now));
    }
    let (mp, jp) = (
        store.properties(t, s.maria_garcia).await.expect("props"),
        store.properties(t, s.jose_garcia).await.expect("props"),
    );
    assert_ne!(mp[0].street, jp[0].street);

    // The property manager.
    let dana = store.customer(t, s.dana_whitfield).await.expect("dana");
    assert_eq!(
        dana.company.as_deref(),
        Some("Hill Country Property Management")
    );
    assert_eq!(dana.phones, vec![phone("+15125550122")]);
    assert!(store.properties(t, dana.id).await.expect("props").len() >= 10);

    // Near-identical names, each its own record.
    let john = store.customer(t, s.john_smith).await.expect("john");
    assert_eq!(john.phones, vec![phone("+15125550133")]);
    let jp = store.properties(t, john.id).await.expect("props");
    assert_eq!(
        (jp[0].street.as_str(), jp[0].zip.as_str()),
        ("1402 Oak Hollow Dr", "78745")
    );
    for (id, name, ph) in [
        (s.jon_smith, "Jon Smith", Some("+15125550134")),
        (s.jon_smyth, "Jon Smyth", Some("+15125550135")),
        (s.jane_smythe, "Jane Smythe", None),
    ] {
        let cu = store.customer(t, id).await.expect("customer");
        assert_eq!(cu.name, name);
        if let Some(ph) = ph {
            assert_eq!(cu.phones, vec![phone(ph)]);
        }
    }
    assert_eq!(
        store
            .customers_named(t, "John", "Smith")
            .await
            .expect("named")
            .len(),
        1
    );

    // E-mail only.
    let eleanor = store.customer(t, s.eleanor_price).await.expect("eleanor");
    assert!(eleanor.phones.is_empty());
    assert_eq!(
        eleanor.emails,
        vec!["eleanor.price@example.org".to_string()]
    );

    // Opted out.
    let tom = store.customer(t, s.tom_becker).await.expect("tom");
    assert_eq!(tom.phones, vec![phone("+15125550144")]);
    assert!(store
        .opted_out(t, &phone("+15125550144"))
        .await
        .expect("opt-out")
        .is_some());
    assert!(store
        .opted_out(t, &phone("+15125550133"))
        .await
        .expect("opt-out")
        .is_none());

    // Rachel Kim: one upcoming visit, more than two days out, never moved, in a window with
    // room; the afternoon of that day is full; one overdue invoice.
    let rachel_appts: Vec<_> = store
        .appointments(t, s.rachel_kim)
        .await
        .expect("appointments")
        .into_iter()
        .filter(|a| a.window_start > now)
        .collect();
    assert_eq!(rachel_appts.len(), 1);
    let ra = &rachel_appts[0];
    assert_eq!(Some(ra.id), s.rachel_kim_appointment);
    assert!(ra.window_start - now > Duration::days(2));
    assert!(ra.status.is_open());
    assert_eq!(
        (ra.reschedule_count, ra.last_rescheduled_by.as_deref()),
        (0, None)
    );
    let ra_slot = store.slot(t, ra.slot_id).await.expect("slot");
    assert!(ra_slot.booked < ra_slot.capacity);
    let afternoon = slots
        .iter()
        .find(|sl| {
            sl.zone_id == ra_slot.zone_id && sl.starts_at == ra.window_start + Duration::hours(4)
        })
        .expect("afternoon window");
    assert_eq!(
        afternoon.booked, afternoon.capacity,
        "Rachel's afternoon is full"
    );
    let rachel_invoices = store.invoices(t, s.rachel_kim).await.expect("invoices");
    let overdue: Vec<_> = rachel_invoices
        .iter()
        .filter(|i| i.status == InvoiceStatus::Overdue)
        .collect();
    assert_eq!(overdue.len(), 1);
    assert!(overdue[0].due_on < tenant.timezone.local(now).date_naive());
    assert_eq!(overdue[0].balance_cents, overdue[0].amount_cents);

    // Jose Garcia: visit less than 48 h away, portal refused to move it and said why.
    let ja = store
        .appointment(t, s.jose_garcia_appointment.expect("jose's appointment"))
        .await
        .expect("appointment");
    assert!(ja.window_start > now && ja.window_start - now < Duration::hours(48));
    let refused = store
        .portal_events(t, s.jose_garcia, 50)
        .await
        .expect("events")
        .into_iter()
        .find(|e| e.kind == PortalEventKind::RescheduleRefused)
        .expect("refused reschedule");
    let reason = refused.detail["reason"].as_str().expect("reason");
    assert!(reason.contains("48 hours"), "{reason}");
    assert_eq!(refused.detail["appointment_id"], serde_json::json!(ja.id));

    // Greg Holloway: rescheduled three times already.
    let greg = store.appointments(t, s.greg_holloway).await.expect("appts");
    assert!(greg
        .iter()
        .any(|a| a.reschedule_count == 3 && a.status.is_open()));

    // Operators.
    let ops = store.operator_users(t).await.expect("operators");
    assert_eq!(ops.len(), 2);
    assert!(ops
        .iter()
        .any(|o| o.id == s.olivia_reyes && o.email == "olivia@greenleaf.example"));
    assert!(ops
        .iter()
        .any(|o| o.id == s.carlos_mendez && o.email == "carlos@greenleaf.example"));

    // Northwind: its own world; its John Smith shares the number but not the tenant.
    let nw = store
        .tenant_by_number("+16175550000")
        .await
        .expect("lookup")
        .expect("northwind");
    assert_eq!(
        (nw.id, nw.timezone.name()),
        (s.northwind, "America/New_York")
    );
    let john_phone = phone("+15125550133");
    assert_eq!(
        store
            .customers_by_phone(t, &john_phone)
            .await
            .expect("demo"),
        vec![s.john_smith]
    );
    assert_eq!(
        store
            .customers_by_phone(s.northwind, &john_phone)
            .await
            .expect("nw"),
        vec![s.northwind_john_smith]
    );
    assert!(store.customer(t, s.northwind_john_smith).await.is_err());
    assert!(store.customer(s.northwind, s.john_smith).await.is_err());
    let n = &s.northwind_counts;
    assert!(
        n.customers >= 3 && n.zones == 1 && n.technicians == 1 && n.services >= 3 && n.slots > 0,
        "{n:?}"
    );
    assert!(store
        .appointments(s.northwind, s.northwind_john_smith)
        .await
        .expect("nw appts")
        .iter()
        .any(|a| a.window_start > now));

    // Seeding again is a no-op that still reports the same world.
    let again = seed_demo(&store, now + Duration::hours(1))
        .await
        .expect("second seed");
    assert!(!again.created);
    assert_eq!(again.counts, s.counts);
    assert_eq!(again.rachel_kim, s.rachel_kim);
    assert_eq!(again.jose_garcia_appointment, s.jose_garcia_appointment);
}

#[tokio::test]
async fn hard_cases_hold_whatever_the_day_and_hour() {
    // Weekend evenings, a Saturday morning just after the last reachable window, Sunday.
    for at in [
        "2026-06-05T23:30:00Z", // Friday 18:30 CDT
        "2026-06-06T15:01:00Z", // Saturday 10:01 CDT
        "2026-06-07T19:00:00Z", // Sunday 14:00 CDT
        "2026-10-31T16:05:00Z", // Saturday 11:05 CDT, the night before clocks fall back
        "2026-12-31T05:59:59Z", // New Year's Eve, just before midnight CST
    ] {
        let now = utc(at);
        let store = memory_store().await;
        let s = seed_demo(&store, now).await.expect("seed");
        let ja = store
            .appointment(s.demo, s.jose_garcia_appointment.expect("jose"))
            .await
            .expect("appointment");
        let refused_at = now - Duration::minutes(45);
        assert!(
            ja.window_start > now && ja.window_start - refused_at < Duration::hours(48),
            "{at}: Jose's visit at {}",
            ja.window_start
        );
        let ra = store
            .appointment(s.demo, s.rachel_kim_appointment.expect("rachel"))
            .await
            .expect("appointment");
        assert!(ra.window_start - now > Duration::days(2), "{at}");
        assert_eq!(s.full_windows.len(), 2, "{at}: {:?}", s.full_windows);
    }
}
