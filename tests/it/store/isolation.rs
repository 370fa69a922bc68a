//! No read or write ever crosses tenants.

use super::*;

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
