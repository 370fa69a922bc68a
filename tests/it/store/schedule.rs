//! Slots and appointments: capacity, moves, cancellations.

use super::*;

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
