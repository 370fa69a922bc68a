//! Zones, technicians and the service catalog.

use super::*;

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
