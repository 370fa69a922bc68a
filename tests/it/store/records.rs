//! Service records.

use super::*;

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
