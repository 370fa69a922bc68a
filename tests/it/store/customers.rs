//! Customers, properties and phones.

use super::*;

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
