//! The seeded worlds across engines: the demo world is the same on PostgreSQL as on SQLite
//! and the same for the same `now`; large generated loads are complete on both.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use frontdesk::domain::{
    AgreementStatus, CustomerStatus, PhoneE164, PropertyKind, SignatureStatus, TenantId,
};
use frontdesk::seed::{seed_demo, seed_large, seed_large_with_progress};
use frontdesk::store::{NewCustomer, NewProperty, Store};

use crate::common::TestDb;

/// Thursday afternoon in Austin, three days before clocks spring forward.
fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-05T21:00:00Z")
        .expect("rfc3339")
        .with_timezone(&Utc)
}

fn phone(s: &str) -> PhoneE164 {
    PhoneE164::parse(s).expect("phone")
}

async fn memory_store() -> Store {
    Store::connect("sqlite::memory:", 1)
        .await
        .expect("sqlite store")
}

/// Everything a customer-facing screen shows about a tenant, as text, without row ids.
async fn snapshot(store: &Store, tenant: TenantId) -> Vec<String> {
    let mut out = Vec::new();
    let (customers, _) = store
        .list_customers(tenant, 1, 100_000)
        .await
        .expect("customers");
    for c in customers {
        out.push(format!(
            "customer {} {:?} {:?} {} {}",
            c.name, c.phones, c.emails, c.status, c.autopay
        ));
        for p in store.properties(tenant, c.id).await.expect("properties") {
            out.push(format!(
                "  property {}, {} {} {} {:?} {}",
                p.street, p.city, p.zip, p.zone, p.sq_ft, p.kind
            ));
        }
        for a in store
            .appointments(tenant, c.id)
            .await
            .expect("appointments")
        {
            out.push(format!(
                "  appointment {} {} {} {} {} {} {:?} {}",
                a.service,
                a.technician,
                a.window_start,
                a.window_end,
                a.status,
                a.price_cents,
                a.last_rescheduled_by,
                a.reschedule_count
            ));
        }
        for v in store.visits(tenant, c.id).await.expect("visits") {
            out.push(format!(
                "  visit {} {} {} {} {:?}",
                v.service, v.completed_at, v.notes, v.findings, v.products
            ));
        }
        for i in store.invoices(tenant, c.id).await.expect("invoices") {
            out.push(format!(
                "  invoice {} {} {} {} {} {}",
                i.number, i.amount_cents, i.balance_cents, i.issued_on, i.due_on, i.status
            ));
        }
        for p in store.payments(tenant, c.id).await.expect("payments") {
            out.push(format!(
                "  payment {} {} {}",
                p.amount_cents, p.method, p.paid_at
            ));
        }
        for a in store.agreements(tenant, c.id).await.expect("agreements") {
            out.push(format!(
                "  agreement {} {} {} {} {} {}",
                a.service, a.status, a.signature_status, a.starts_on, a.renews_on, a.price_cents
            ));
        }
        for e in store
            .portal_events(tenant, c.id, 1000)
            .await
            .expect("portal events")
        {
            out.push(format!("  portal {} {} {}", e.kind, e.at, e.detail));
        }
    }
    out
}

#[tokio::test]
async fn same_now_gives_the_same_world_and_agreements_are_consistent() {
    let now = now();
    let a = memory_store().await;
    let b = memory_store().await;
    let sa = seed_demo(&a, now).await.expect("seed a");
    let sb = seed_demo(&b, now).await.expect("seed b");
    let (xa, xb) = (snapshot(&a, sa.demo).await, snapshot(&b, sb.demo).await);
    assert!(xa.len() > 2000, "{} lines", xa.len());
    assert_eq!(xa, xb);
    assert_eq!(
        snapshot(&a, sa.northwind).await,
        snapshot(&b, sb.northwind).await
    );

    // A different `now` moves the world with it: same people, other dates.
    let c = memory_store().await;
    let sc = seed_demo(&c, now + Duration::days(40))
        .await
        .expect("seed c");
    let xc = snapshot(&c, sc.demo).await;
    let people = |x: &[String]| -> Vec<String> {
        x.iter()
            .filter(|l| l.starts_with("customer "))
            .cloned()
            .collect()
    };
    assert_eq!(people(&xa), people(&xc));
    assert_ne!(xa, xc);

    // Plan agreements renew in the future; pending renewals are within 30 days.
    let today = frontdesk::domain::TenantTz::parse("America/Chicago")
        .expect("tz")
        .local(now)
        .date_naive();
    let (customers, _) = a.list_customers(sa.demo, 1, 10_000).await.expect("list");
    for cu in customers {
        for ag in a.agreements(sa.demo, cu.id).await.expect("agreements") {
            if ag.status != AgreementStatus::Cancelled {
                assert!(ag.renews_on > today, "{ag:?}");
            }
            if ag.status == AgreementStatus::PendingRenewal {
                assert!(ag.renews_on <= today + Duration::days(30));
                assert_eq!(ag.signature_status, SignatureStatus::Pending);
            }
        }
    }
}

#[tokio::test]
async fn demo_world_on_postgres_matches_sqlite() {
    let now = now();
    let db = TestDb::postgres().await;
    let pg = db.store();
    let s = seed_demo(&pg, now).await.expect("seed on postgres");
    assert!(s.created && s.counts.customers >= 200);
    assert_eq!(
        pg.customers_by_phone(s.demo, &phone("+15125550111"))
            .await
            .expect("phone"),
        vec![s.maria_garcia, s.jose_garcia]
    );
    assert!(
        pg.properties(s.demo, s.dana_whitfield)
            .await
            .expect("props")
            .len()
            >= 10
    );
    let hits = pg
        .trigram_search(s.demo, "jon smyth", 5)
        .await
        .expect("trigram")
        .expect("postgres search");
    assert!(hits.iter().any(|(id, _)| *id == s.jon_smyth), "{hits:?}");

    let lite = memory_store().await;
    let sl = seed_demo(&lite, now).await.expect("seed on sqlite");
    assert_eq!(s.counts, sl.counts);
    assert_eq!(snapshot(&pg, s.demo).await, snapshot(&lite, sl.demo).await);

    let again = seed_demo(&pg, now).await.expect("second seed");
    assert!(!again.created);
    assert_eq!(again.counts, s.counts);
    db.finish().await;
}

/// Load `n` generated customers and check every one has a phone, an e-mail and a property,
/// and that about 3% share a phone.
async fn check_large(store: &Store, n: usize) {
    let now = now();
    let mut reports = Vec::new();
    let t = seed_large_with_progress(store, now, "bulk", n, |p| reports.push(p.done))
        .await
        .expect("seed_large");
    assert_eq!(reports.last().copied(), Some(n));
    let c = store.tenant_counts(t).await.expect("counts");
    assert_eq!(c.customers as usize, n);
    assert_eq!(c.customer_phones as usize, n);
    assert_eq!(c.customer_emails as usize, n);
    assert_eq!(c.properties as usize, n);
    assert!(c.zones >= 4 && c.services >= 8 && c.slots > 0, "{c:?}");

    let mut phones = Vec::new();
    let mut after = frontdesk::domain::CustomerId(0);
    loop {
        let docs = store.customer_docs(t, after, 2000).await.expect("docs");
        let Some(last) = docs.last() else { break };
        after = last.id;
        for d in &docs {
            assert_eq!(d.phones.len(), 1);
            assert_eq!(d.addresses.len(), 1);
            phones.push(d.phones[0].clone());
        }
    }
    assert_eq!(phones.len(), n);
    let distinct: BTreeSet<&String> = phones.iter().collect();
    let shared = n - distinct.len();
    assert!(
        shared * 100 >= n && shared * 100 <= n * 6,
        "{shared} of {n} share a phone"
    );
    // A shared phone resolves to every customer using it.
    let dup = phones
        .windows(2)
        .find(|w| w[0] == w[1])
        .map(|w| w[0].clone())
        .expect("a shared phone");
    let owners = store
        .customers_by_phone(t, &phone(&dup))
        .await
        .expect("by phone");
    assert!(owners.len() >= 2);
    // The search text is filled like the per-row insert does it.
    let (first, _) = store.list_customers(t, 1, 1).await.expect("first page");
    let cu = &first[0];
    let docs = store
        .customer_docs(t, frontdesk::domain::CustomerId(cu.id.0 - 1), 1)
        .await
        .expect("doc");
    assert_eq!(docs[0].name, cu.name);
    // Loading the same slug twice is refused.
    assert!(seed_large(store, now, "bulk", 10).await.is_err());
}

store_test! {
    /// A large load on each engine, into a store that already holds the demo world (so
    /// reserved ids must start past it); on PostgreSQL the trigram index sees the bulk rows
    /// and the identity sequence moved past them.
    fn seed_large_loads_every_customer_completely(store: Store) {
        seed_demo(&store, now()).await.expect("demo first");
        check_large(&store, 5_000).await;
        let t = store
            .tenant_by_slug("bulk")
            .await
            .expect("lookup")
            .expect("tenant")
            .id;
        let (page, _) = store.list_customers(t, 1, 1).await.expect("page");
        if let Some(hits) = store
            .trigram_search(t, &page[0].name, 50)
            .await
            .expect("search")
        {
            assert!(hits.iter().any(|(id, _)| *id == page[0].id), "{hits:?}");
        }
        let z = store.zones(t).await.expect("zones")[0].id;
        let id = store
            .insert_customers(
                t,
                &[NewCustomer {
                    first_name: "After".into(),
                    last_name: "Bulk".into(),
                    company: None,
                    status: CustomerStatus::Active,
                    autopay: false,
                    phones: vec![],
                    emails: vec![],
                    properties: vec![NewProperty {
                        street: "1 Main St".into(),
                        city: "Austin".into(),
                        state: "TX".into(),
                        zip: "78701".into(),
                        zone_id: z,
                        sq_ft: None,
                        kind: PropertyKind::Residential,
                    }],
                }],
                0,
            )
            .await
            .expect("insert after bulk");
        assert_eq!(store.count_customers(t).await.expect("count"), 5_001);
        assert!(!id.is_empty());
    }
}
