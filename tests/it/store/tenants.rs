//! Tenants and their settings.

use super::*;

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
