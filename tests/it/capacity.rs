//! Racing writers on service windows, on both engines: many tasks released at once by a
//! barrier try to book or move into the same window. A window never holds more stops than
//! its capacity, losers get `WindowFull` and nothing else (no busy or deadlock errors), and
//! every slot's `booked` equals the open appointments actually in it.

use chrono::Duration;
use frontdesk::domain::{AppointmentId, SlotId, TenantId};
use frontdesk::store::{Store, StoreError, StoreResult};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration as StdDuration;
use tokio::sync::Barrier;

use crate::common::world::{self, MiniWorld};
use crate::common::TestDb;

/// Bound on any single wait in these tests.
const WAIT: StdDuration = StdDuration::from_secs(60);

/// Spawn one task per job, release them together, and collect their results in job order.
async fn race<T, F, Fut>(jobs: Vec<T>, run: F) -> Vec<StoreResult<()>>
where
    T: Send + 'static,
    F: Fn(T) -> Fut,
    Fut: Future<Output = StoreResult<()>> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(jobs.len()));
    let handles: Vec<_> = jobs
        .into_iter()
        .map(|job| {
            let barrier = barrier.clone();
            let work = run(job);
            tokio::spawn(async move {
                tokio::time::timeout(WAIT, barrier.wait())
                    .await
                    .expect("every racer reached the start line");
                work.await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(handles.len());
    for handle in handles {
        let result = tokio::time::timeout(WAIT, handle)
            .await
            .expect("a racer finished in time")
            .expect("a racer did not panic");
        results.push(result);
    }
    results
}

/// Every listed slot's `booked` equals the open appointments the table holds for it.
async fn assert_counts_match(db: &TestDb, tenant: TenantId, slots: &[SlotId]) {
    let store = db.store();
    for slot in slots {
        let booked = store.slot(tenant, *slot).await.expect("read slot").booked;
        let rows = db
            .scalar(&format!(
                "SELECT COUNT(*) FROM appointments WHERE slot_id = {} AND status IN ('scheduled', 'confirmed')",
                slot.0
            ))
            .await;
        assert_eq!(
            booked, rows,
            "slot {slot} says {booked} booked but holds {rows} open appointments"
        );
    }
}

fn unexpected(results: &[StoreResult<()>], allowed: fn(&StoreError) -> bool) -> Vec<String> {
    results
        .iter()
        .filter_map(|r| match r {
            Err(e) if !allowed(e) => Some(format!("{e:?}")),
            _ => None,
        })
        .collect()
}

async fn book_all(store: &Store, w: &MiniWorld, slot: SlotId, n: usize) -> Vec<AppointmentId> {
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        ids.push(w.book(store, slot).await);
    }
    ids
}

store_test!(
    fn racing_bookings_fill_a_window_exactly_to_capacity(db: &TestDb) {
        const CAPACITY: i64 = 5;
        const RACERS: usize = 40;
        let store = db.store();
        let w = world::minimal(&store).await;
        let slot = w.slot(&store, 72, CAPACITY).await;

        let results = race(vec![(); RACERS], |()| {
            let (store, w) = (store.clone(), w.clone());
            async move {
                store
                    .book_appointment(w.tenant, &w.appointment(slot), w.now)
                    .await
                    .map(|_| ())
            }
        })
        .await;

        let odd = unexpected(&results, |e| matches!(e, StoreError::WindowFull));
        assert!(odd.is_empty(), "losers may only see WindowFull: {odd:?}");
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            CAPACITY as usize
        );
        assert_eq!(
            store.slot(w.tenant, slot).await.expect("slot").booked,
            CAPACITY
        );
        let rows = db
            .scalar(&format!(
                "SELECT COUNT(*) FROM appointments WHERE slot_id = {}",
                slot.0
            ))
            .await;
        assert_eq!(rows, CAPACITY);
        assert_eq!(
            store
                .appointments(w.tenant, w.customer)
                .await
                .expect("appointments")
                .len(),
            CAPACITY as usize
        );
    }
);

store_test!(
    fn racing_reschedules_into_one_window_move_exactly_its_capacity(db: &TestDb) {
        const CAPACITY: i64 = 5;
        const SOURCES: usize = 4;
        const PER_SOURCE: usize = 3;
        let store = db.store();
        let w = world::minimal(&store).await;
        let target = w.slot(&store, 150, CAPACITY).await;
        let mut sources = Vec::new();
        let mut moving = Vec::new();
        for i in 0..SOURCES {
            let source = w.slot(&store, 96 + 4 * i as i64, PER_SOURCE as i64).await;
            for id in book_all(&store, &w, source, PER_SOURCE).await {
                moving.push((id, source));
            }
            sources.push(source);
        }
        let mut before = Vec::new();
        for (id, _) in &moving {
            before.push(store.appointment(w.tenant, *id).await.expect("appointment"));
        }

        let results = race(moving.clone(), |(id, _)| {
            let (store, w) = (store.clone(), w.clone());
            async move {
                store
                    .reschedule_appointment(
                        w.tenant,
                        id,
                        target,
                        "agent",
                        w.now + Duration::minutes(1),
                    )
                    .await
            }
        })
        .await;

        let odd = unexpected(&results, |e| matches!(e, StoreError::WindowFull));
        assert!(odd.is_empty(), "losers may only see WindowFull: {odd:?}");
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            CAPACITY as usize
        );
        let target_slot = store.slot(w.tenant, target).await.expect("slot");
        assert_eq!(target_slot.booked, CAPACITY);
        for ((result, (id, source)), old) in results.iter().zip(&moving).zip(&before) {
            let now = store.appointment(w.tenant, *id).await.expect("appointment");
            if result.is_ok() {
                assert_eq!(
                    (now.slot_id, now.window_start, now.window_end),
                    (target, target_slot.starts_at, target_slot.ends_at)
                );
                assert_eq!(
                    (now.reschedule_count, now.last_rescheduled_by.as_deref()),
                    (1, Some("agent"))
                );
                assert_eq!(now.original_window_start, old.window_start);
            } else {
                assert_eq!(
                    (now.slot_id, now.window_start, now.window_end),
                    (*source, old.window_start, old.window_end)
                );
                assert_eq!(
                    (now.reschedule_count, now.last_rescheduled_by.as_deref()),
                    (0, None)
                );
            }
        }
        for source in &sources {
            let stayed = results
                .iter()
                .zip(&moving)
                .filter(|(r, (_, s))| r.is_err() && s == source)
                .count();
            assert_eq!(
                store.slot(w.tenant, *source).await.expect("slot").booked,
                stayed as i64
            );
        }
        let mut all = sources.clone();
        all.push(target);
        assert_counts_match(db, w.tenant, &all).await;
    }
);

store_test!(
    fn crossing_reschedules_between_two_windows_neither_deadlock_nor_drift(db: &TestDb) {
        const EACH_WAY: usize = 8;
        const ROUNDS: usize = 3;
        let store = db.store();
        let w = world::minimal(&store).await;
        let x = w.slot(&store, 96, 2 * EACH_WAY as i64).await;
        let y = w.slot(&store, 100, 2 * EACH_WAY as i64).await;
        let mut in_x = book_all(&store, &w, x, EACH_WAY).await;
        let mut in_y = book_all(&store, &w, y, EACH_WAY).await;

        for round in 0..ROUNDS {
            let jobs: Vec<(AppointmentId, SlotId)> = in_x
                .iter()
                .map(|id| (*id, y))
                .chain(in_y.iter().map(|id| (*id, x)))
                .collect();
            let results = race(jobs, |(id, to)| {
                let (store, w) = (store.clone(), w.clone());
                async move {
                    store
                        .reschedule_appointment(w.tenant, id, to, "agent", w.now)
                        .await
                }
            })
            .await;
            let odd = unexpected(&results, |_| false);
            assert!(
                odd.is_empty(),
                "round {round}: every swap has room, yet: {odd:?}"
            );
            std::mem::swap(&mut in_x, &mut in_y);
            for (ids, slot) in [(&in_x, x), (&in_y, y)] {
                for id in ids {
                    let a = store.appointment(w.tenant, *id).await.expect("appointment");
                    assert_eq!((a.slot_id, a.reschedule_count), (slot, round as i64 + 1));
                }
            }
            assert_counts_match(db, w.tenant, &[x, y]).await;
            assert_eq!(
                store.slot(w.tenant, x).await.expect("slot").booked,
                EACH_WAY as i64
            );
        }
    }
);

store_test!(
    fn racing_changes_to_one_appointment_keep_every_count_true(db: &TestDb) {
        const APPOINTMENTS: usize = 4;
        const DESTINATIONS: usize = 5;
        let store = db.store();
        let w = world::minimal(&store).await;
        let home = w.slot(&store, 96, APPOINTMENTS as i64).await;
        let mut destinations = Vec::new();
        for i in 0..DESTINATIONS {
            destinations.push(
                w.slot(&store, 100 + 4 * i as i64, APPOINTMENTS as i64)
                    .await,
            );
        }
        let ids = book_all(&store, &w, home, APPOINTMENTS).await;

        // Every appointment is moved to each destination and cancelled, all at once.
        #[derive(Clone, Copy)]
        enum Change {
            Move(AppointmentId, SlotId),
            Cancel(AppointmentId),
        }
        let mut jobs = Vec::new();
        for id in &ids {
            jobs.extend(destinations.iter().map(|d| Change::Move(*id, *d)));
            jobs.push(Change::Cancel(*id));
        }
        let results = race(jobs.clone(), |change| {
            let (store, w) = (store.clone(), w.clone());
            async move {
                match change {
                    Change::Move(id, to) => {
                        store
                            .reschedule_appointment(w.tenant, id, to, "agent", w.now)
                            .await
                    }
                    Change::Cancel(id) => store.cancel_appointment(w.tenant, id, w.now).await,
                }
            }
        })
        .await;

        // A move may only lose to the cancel (Conflict): every destination has room.
        let odd = unexpected(&results, |e| matches!(e, StoreError::Conflict(_)));
        assert!(odd.is_empty(), "{odd:?}");
        for id in &ids {
            let a = store.appointment(w.tenant, *id).await.expect("appointment");
            let moves = jobs
                .iter()
                .zip(&results)
                .filter(|(j, r)| matches!(j, Change::Move(m, _) if m == id) && r.is_ok())
                .count();
            let cancelled = jobs
                .iter()
                .zip(&results)
                .any(|(j, r)| matches!(j, Change::Cancel(c) if c == id) && r.is_ok());
            assert!(cancelled, "the cancel of {id} always finds it open");
            assert_eq!(a.status, frontdesk::domain::AppointmentStatus::Cancelled);
            assert_eq!(a.reschedule_count, moves as i64, "appointment {id}");
        }
        let mut all = destinations.clone();
        all.push(home);
        assert_counts_match(db, w.tenant, &all).await;
        for slot in &all {
            assert_eq!(
                store.slot(w.tenant, *slot).await.expect("slot").booked,
                0,
                "slot {slot}"
            );
        }
    }
);

/// A small seeded generator (xorshift64*), so a failing run can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }
}

store_test!(
    fn finding_09_refused_reschedules_in_committed_turns_keep_booked_true(db: &TestDb) {
        // A turn commits whatever a tool did before it refused: each move here runs in its
        // own transaction that commits even when the store refuses the move.
        const SLOTS: usize = 5;
        const CAPACITY: i64 = 2;
        const APPOINTMENTS: usize = 8;
        const MOVES: usize = 40;
        let store = db.store();
        let w = world::minimal(&store).await;
        let mut slots = Vec::new();
        for i in 0..SLOTS {
            slots.push(w.slot(&store, 96 + 4 * i as i64, CAPACITY).await);
        }
        let mut ids = Vec::new();
        for i in 0..APPOINTMENTS {
            ids.push(w.book(&store, slots[i % SLOTS]).await);
        }
        let mut rng = Rng(0x5EED_0009);
        let jobs: Vec<(AppointmentId, SlotId)> = (0..MOVES)
            .map(|_| (ids[rng.below(ids.len())], slots[rng.below(SLOTS)]))
            .collect();
        let results = race(jobs, |(id, to)| {
            let (store, w) = (store.clone(), w.clone());
            async move {
                let mut tx = store.begin().await?;
                let moved = tx
                    .reschedule_appointment(w.tenant, id, to, "agent", w.now)
                    .await;
                tx.commit().await?;
                moved
            }
        })
        .await;
        let odd = unexpected(&results, |e| {
            matches!(e, StoreError::WindowFull | StoreError::Conflict(_))
        });
        assert!(odd.is_empty(), "{odd:?}");
        assert!(
            results
                .iter()
                .any(|r| matches!(r, Err(StoreError::WindowFull))),
            "some moves were refused for capacity"
        );
        assert_counts_match(db, w.tenant, &slots).await;
        let total: i64 = {
            let mut n = 0;
            for s in &slots {
                n += store.slot(w.tenant, *s).await.expect("slot").booked;
            }
            n
        };
        assert_eq!(total, APPOINTMENTS as i64);
    }
);
