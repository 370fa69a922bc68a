//! Acceptance for the job scheduler and the outbox: real `frontdesk serve` processes (the
//! built binary) on one database with a loopback Twilio fake that counts. On PostgreSQL two
//! instances send 1,000 due reminders, each exactly once, also when one instance is killed
//! (SIGKILL) in the middle and started again; on SQLite one instance is killed and
//! restarted: none lost, none doubled.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, NaiveTime, Utc};
use frontdesk::clock::Clock;
use frontdesk::domain::{CustomerStatus, PhoneE164};
use frontdesk::instance::{free_port, Instance};
use frontdesk::store::{NewCustomer, Store};

use crate::common::app::{CLOCK, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN};
use crate::common::twilio::{eventually, fake_twilio, FakeTwilio};
use crate::common::TestDb;

const REMINDERS: usize = 1000;

/// One `frontdesk serve` process (killed with SIGKILL when dropped) on `db`.
async fn start(db: &TestDb, twilio: &FakeTwilio, clock: &str) -> Instance {
    let env = [
        ("FRONTDESK_DATABASE_URL", db.url().to_string()),
        ("FRONTDESK_PUBLIC_URL", "https://frontdesk.test".to_string()),
        ("FRONTDESK_CLOCK", clock.to_string()),
        (
            "FRONTDESK_TWILIO_ACCOUNT_SID",
            TWILIO_ACCOUNT_SID.to_string(),
        ),
        ("FRONTDESK_TWILIO_AUTH_TOKEN", TWILIO_AUTH_TOKEN.to_string()),
        ("FRONTDESK_TWILIO_API_BASE", twilio.api_base()),
        ("FRONTDESK_WHISPER_MODEL", "off".to_string()),
        ("FRONTDESK_LEASE_SECS", "5".to_string()),
        ("RUST_LOG", "warn".to_string()),
    ];
    let port = free_port().expect("a free port");
    Instance::start(
        env!("CARGO_BIN_EXE_frontdesk").as_ref(),
        port,
        &[],
        &env,
        std::path::Path::new("/dev/null"),
    )
    .await
    .expect("frontdesk serve comes up")
}

/// The numbers of the load-test customers (the demo's numbers on this exchange end in 1000
/// or more).
fn phone(i: usize) -> String {
    format!("+1737555{i:04}")
}

/// `REMINDERS` customers with a visit in Rachel Kim's window, their reminders planned at the
/// demo's "now"; returns the instant (17:30 the evening before) at which all are due.
async fn arrange(db: &TestDb) -> DateTime<Utc> {
    let store: Store = db.store();
    let now = Clock::parse(CLOCK).expect("clock").now();
    let demo = frontdesk::seed::seed_demo(&store, now).await.expect("seed");
    let rachel = store
        .appointment(demo.demo, demo.rachel_kim_appointment.expect("visit"))
        .await
        .expect("appointment");
    let customers: Vec<NewCustomer> = (0..REMINDERS)
        .map(|i| NewCustomer {
            first_name: format!("Load{i}"),
            last_name: "Loadtest".into(),
            company: None,
            status: CustomerStatus::Active,
            autopay: false,
            phones: vec![PhoneE164::parse(&phone(i)).expect("phone")],
            emails: vec![],
            properties: vec![],
        })
        .collect();
    store
        .insert_customers(demo.demo, &customers, now.timestamp())
        .await
        .expect("customers");
    let sql = format!(
        "INSERT INTO appointments (tenant_id, customer_id, property_id, service_id, slot_id, technician_id, \
         window_start, window_end, status, price_cents, reschedule_count, original_window_start, created_at, updated_at) \
         SELECT c.tenant_id, c.id, {p}, {s}, {slot}, {t}, {ws}, {we}, 'scheduled', 9900, 0, {ws}, {now}, {now} \
         FROM customers c WHERE c.tenant_id = {tenant} AND c.last_name = 'Loadtest'",
        p = rachel.property_id.0,
        s = rachel.service_id.0,
        slot = rachel.slot_id.0,
        t = rachel.technician_id.0,
        ws = rachel.window_start.timestamp(),
        we = rachel.window_end.timestamp(),
        now = now.timestamp(),
        tenant = demo.demo.0,
    );
    assert_eq!(db.execute(&sql).await, REMINDERS as u64);
    while frontdesk::notices::plan_reminders(&store, now)
        .await
        .expect("plan")
        > 0
    {}
    let t = store.tenant(demo.demo).await.expect("tenant");
    let day = t.timezone.local(rachel.window_start).date_naive() - chrono::Duration::days(1);
    t.timezone
        .instant(day, NaiveTime::from_hms_opt(17, 30, 0).expect("time"))
}

/// Messages the fake accepted, per load-test number.
fn per_number(twilio: &FakeTwilio) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for m in twilio.messages() {
        if m.answered_sid.is_none() {
            continue;
        }
        // The demo world's own numbers share the exchange (suffixes 1000 and up).
        let load = |to: &&str| {
            to.strip_prefix("+1737555")
                .and_then(|n| n.parse::<usize>().ok())
                .is_some_and(|n| n < REMINDERS)
        };
        if let Some(to) = m.field("To").filter(load) {
            *counts.entry(to.to_string()).or_insert(0) += 1;
        }
    }
    counts
}

/// Wait until every load-test number got its reminder and nothing is left to send.
async fn settle(db: &TestDb, twilio: &FakeTwilio, due: DateTime<Utc>) {
    let all = eventually(Duration::from_secs(100), || async {
        (per_number(twilio).len() == REMINDERS).then_some(())
    })
    .await;
    assert!(
        all.is_some(),
        "only {} of {REMINDERS} numbers got their reminder",
        per_number(twilio).len()
    );
    let drained = eventually(Duration::from_secs(60), || async {
        let open = db
            .scalar(
                "SELECT COUNT(*) FROM outbox WHERE purpose = 'reminder' AND status IN ('queued', 'uncertain')",
            )
            .await;
        let pending = db
            .scalar(&format!(
                "SELECT COUNT(*) FROM jobs WHERE kind = 'reminder' AND status = 'pending' AND due_at <= {}",
                due.timestamp()
            ))
            .await;
        (open == 0 && pending == 0).then_some(())
    })
    .await;
    assert!(drained.is_some(), "reminders left unsent");
}

fn assert_exactly_once(db_engine: &str, twilio: &FakeTwilio) {
    let counts = per_number(twilio);
    let doubled: Vec<_> = counts.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        doubled.is_empty(),
        "{db_engine}: sent more than once: {doubled:?}"
    );
    assert_eq!(counts.len(), REMINDERS, "{db_engine}: none lost");
}

async fn wait_for_some(twilio: &FakeTwilio, n: usize) {
    let got = eventually(Duration::from_secs(100), || async {
        (per_number(twilio).len() >= n).then_some(())
    })
    .await;
    assert!(got.is_some(), "sending never got to {n}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_postgresql_send_each_reminder_once() {
    let db = TestDb::postgres().await;
    db.bounded(async {
        let due = arrange(&db).await;
        let clock = due.to_rfc3339();

        // Two instances, nobody killed.
        let twilio = fake_twilio().await;
        let a = start(&db, &twilio, &clock).await;
        let b = start(&db, &twilio, &clock).await;
        settle(&db, &twilio, due).await;
        assert_exactly_once("postgres", &twilio);
        drop((a, b));
        twilio.stop().await;
    })
    .await;
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_postgresql_an_instance_killed_mid_run_loses_and_doubles_nothing() {
    let db = TestDb::postgres().await;
    db.bounded(async {
        let due = arrange(&db).await;
        let clock = due.to_rfc3339();
        let twilio = fake_twilio().await;
        let mut a = start(&db, &twilio, &clock).await;
        let b = start(&db, &twilio, &clock).await;
        wait_for_some(&twilio, REMINDERS / 4).await;
        a.kill().expect("kill -9");
        let a2 = start(&db, &twilio, &clock).await;
        settle(&db, &twilio, due).await;
        assert_exactly_once("postgres", &twilio);
        drop((a2, b));
        twilio.stop().await;
    })
    .await;
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_sqlite_an_instance_killed_and_restarted_loses_and_doubles_nothing() {
    let db = TestDb::sqlite().await;
    db.bounded(async {
        let due = arrange(&db).await;
        let clock = due.to_rfc3339();
        let twilio = fake_twilio().await;
        let mut a = start(&db, &twilio, &clock).await;
        wait_for_some(&twilio, REMINDERS / 4).await;
        a.kill().expect("kill -9");
        let a2 = start(&db, &twilio, &clock).await;
        settle(&db, &twilio, due).await;
        assert_exactly_once("sqlite", &twilio);
        drop(a2);
        twilio.stop().await;
    })
    .await;
    db.finish().await;
}
