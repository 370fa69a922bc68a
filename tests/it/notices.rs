//! Proactive messages on the demo world: reminders planned once and sent when due (C
//! confirms, R reschedules through the SMS webhook), quiet hours, opt-outs, Spanish, e-mail
//! for a customer without a phone (loopback SMTP), field events with the survey (a 2 opens
//! `unhappy_customer`), invoice notices, notice settings through the policy API, and an agent
//! that promises reminders only where the tenant sends them.

use std::time::Duration;

use chrono::{DateTime, NaiveTime, Utc};
use frontdesk::clock::Clock;
use frontdesk::domain::{AppointmentId, AppointmentStatus, Channel, Direction, Role, TenantId};
use frontdesk::store::{Csr, NewMessage, Outbound, Store};
use serde_json::json;

use crate::common::agent::{assert_says_all, day_label, rachel_appointment, Conversation, RACHEL};
use crate::common::api::{check, get_ok, Req};
use crate::common::app::{TestApp, CLOCK, PUBLIC_URL};
use crate::common::smtp::FakeSmtp;
use crate::common::twilio::{eventually, fake_twilio, FakeTwilio, TwilioClient, TOM_BECKER};
use crate::common::TestDb;

const GARCIAS: &str = "+15125550111";
const ENDING: &str = "Reply C to confirm or R to reschedule";

fn clock_now() -> DateTime<Utc> {
    Clock::parse(CLOCK).expect("clock").now()
}

/// 17:30 local on the day before a visit: its day-before reminder (17:00) is due.
async fn evening_before(store: &Store, tenant: TenantId, at: DateTime<Utc>) -> DateTime<Utc> {
    let t = store.tenant(tenant).await.expect("tenant");
    let day = t.timezone.local(at).date_naive() - chrono::Duration::days(1);
    t.timezone
        .instant(day, NaiveTime::from_hms_opt(17, 30, 0).expect("time"))
}

/// Change the demo tenant's notice settings the way an admin would (audited).
async fn set_notices(
    store: &Store,
    tenant: TenantId,
    change: impl FnOnce(&mut frontdesk::domain::NoticePolicy),
) {
    let t = store.tenant(tenant).await.expect("tenant");
    let mut policy = t.policy.clone();
    change(&mut policy.notices);
    store
        .update_tenant_settings(
            tenant,
            &Csr::new(None, Role::Admin),
            &policy,
            &t.business_hours,
            t.on_call_number.as_deref(),
            json!({}),
            json!({}),
            clock_now(),
        )
        .await
        .expect("settings");
}

/// The reminder rows of the outbox for one appointment's customer address.
async fn outbox_to(store: &Store, tenant: TenantId, to: &str) -> Vec<Outbound> {
    store
        .outbound_of(tenant, None)
        .await
        .expect("outbox")
        .into_iter()
        .filter(|m| m.to == to)
        .collect()
}

async fn reminder_jobs(store: &Store, tenant: TenantId, a: AppointmentId) -> Vec<(String, String)> {
    store
        .jobs_of(tenant, Some("reminder"))
        .await
        .expect("jobs")
        .into_iter()
        .filter(|j| j.subject_id == Some(a.0))
        .map(|j| {
            (
                j.payload["variant"].as_str().unwrap_or("").to_string(),
                j.status,
            )
        })
        .collect()
}

/// Plan now, then run the scheduler at `at` (as an instance would when that time comes).
async fn run_at(store: &Store, at: DateTime<Utc>) -> frontdesk::jobs::Pass {
    frontdesk::notices::plan_reminders(store, clock_now())
        .await
        .expect("plan");
    frontdesk::jobs::run_pass(store, PUBLIC_URL, at, 1000, 60)
        .await
        .expect("pass")
}

store_test!(
    fn reminders_are_planned_once_per_window_and_sent_once(db: &TestDb) {
        let store = db.store();
        let now = clock_now();
        let demo = frontdesk::seed::seed_demo(&store, now).await.expect("seed");
        let rachel = demo.rachel_kim_appointment.expect("visit");
        let a = store
            .appointment(demo.demo, rachel)
            .await
            .expect("appointment");

        let planned = frontdesk::notices::plan_reminders(&store, now)
            .await
            .expect("plan");
        assert!(planned > 0);
        assert_eq!(
            frontdesk::notices::plan_reminders(&store, now)
                .await
                .expect("plan again"),
            0,
            "planning twice plans once"
        );
        let mut jobs = reminder_jobs(&store, demo.demo, rachel).await;
        jobs.sort();
        assert_eq!(
            jobs,
            vec![
                ("day_before".into(), "pending".into()),
                ("morning_of".into(), "pending".into())
            ]
        );

        let at = evening_before(&store, demo.demo, a.window_start).await;
        run_at(&store, at).await;
        let sent = outbox_to(&store, demo.demo, RACHEL).await;
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0].purpose, "reminder");
        assert!(sent[0].body.ends_with(ENDING), "{}", sent[0].body);
        assert!(sent[0].body.contains("Greenleaf"), "{}", sent[0].body);
        assert!(
            sent[0].body.contains(&day_label(a.window_start)),
            "{}",
            sent[0].body
        );
        // Running again (another instance, a restart) sends nothing more.
        run_at(&store, at + chrono::Duration::minutes(1)).await;
        assert_eq!(outbox_to(&store, demo.demo, RACHEL).await.len(), 1);
        let mut jobs = reminder_jobs(&store, demo.demo, rachel).await;
        jobs.sort();
        // The morning-of reminder is off by default: skipped when its time came? Not yet due.
        assert_eq!(jobs[0], ("day_before".into(), "done".into()));
        assert_eq!(jobs[1], ("morning_of".into(), "pending".into()));

        // The morning of, it is skipped (turned off), not sent.
        let t = store.tenant(demo.demo).await.expect("tenant");
        let morning = t.timezone.instant(
            t.timezone.local(a.window_start).date_naive(),
            NaiveTime::from_hms_opt(8, 0, 0).expect("time"),
        );
        run_at(&store, morning).await;
        let mut jobs = reminder_jobs(&store, demo.demo, rachel).await;
        jobs.sort();
        assert_eq!(jobs[1], ("morning_of".into(), "skipped".into()));
        assert_eq!(outbox_to(&store, demo.demo, RACHEL).await.len(), 1);
    }
);

store_test!(
    fn a_moved_visit_is_reminded_of_its_new_window_only(db: &TestDb) {
        let store = db.store();
        let now = clock_now();
        let demo = frontdesk::seed::seed_demo(&store, now).await.expect("seed");
        let rachel = demo.rachel_kim_appointment.expect("visit");
        let a = store
            .appointment(demo.demo, rachel)
            .await
            .expect("appointment");
        frontdesk::notices::plan_reminders(&store, now)
            .await
            .expect("plan");
        // Move it two days later (any window of her zone with room).
        let later = a.window_start + chrono::Duration::days(2);
        let zone = store
            .property(demo.demo, a.property_id)
            .await
            .expect("property")
            .zone_id;
        let slot = store
            .open_slots(
                demo.demo,
                zone,
                later,
                later + chrono::Duration::days(5),
                50,
            )
            .await
            .expect("slots")
            .into_iter()
            .find(|s| s.starts_at >= later)
            .expect("a later window");
        store
            .operator_reschedule(
                demo.demo,
                &Csr::new(None, Role::Admin),
                rachel,
                slot.id,
                "test",
                now,
            )
            .await
            .expect("move");
        assert!(
            frontdesk::notices::plan_reminders(&store, now)
                .await
                .expect("plan")
                >= 2
        );
        // The old evening: nothing goes out for the old window.
        run_at(
            &store,
            evening_before(&store, demo.demo, a.window_start).await,
        )
        .await;
        assert!(outbox_to(&store, demo.demo, RACHEL).await.is_empty());
        // The new evening: one reminder naming the new day.
        run_at(
            &store,
            evening_before(&store, demo.demo, slot.starts_at).await,
        )
        .await;
        let sent = outbox_to(&store, demo.demo, RACHEL).await;
        assert_eq!(sent.len(), 1);
        assert!(
            sent[0].body.contains(&day_label(slot.starts_at)),
            "{}",
            sent[0].body
        );
    }
);

store_test!(
    fn opted_out_numbers_get_no_reminder_and_spanish_writers_get_spanish(db: &TestDb) {
        let store = db.store();
        let now = clock_now();
        let demo = frontdesk::seed::seed_demo(&store, now).await.expect("seed");
        // The Garcias last wrote in Spanish.
        let phone = frontdesk::domain::PhoneE164::parse(GARCIAS).expect("phone");
        let conv = store
            .open_conversation(demo.demo, Channel::Sms, GARCIAS, Some(&phone), now)
            .await
            .expect("conversation");
        let mut tx = store.begin().await.expect("tx");
        tx.insert_message(
            demo.demo,
            conv,
            &NewMessage {
                direction: Direction::Inbound,
                author: "customer".into(),
                text: "Hola, tengo hormigas en la cocina otra vez".into(),
                external_id: None,
                media: vec![],
            },
            now,
        )
        .await
        .expect("message");
        tx.commit().await.expect("commit");

        let tom = store
            .appointments(demo.demo, demo.tom_becker)
            .await
            .expect("tom");
        let tom_visit = tom
            .iter()
            .find(|a| a.status.is_open())
            .expect("Tom's visit")
            .clone();
        let maria = store
            .appointments(demo.demo, demo.maria_garcia)
            .await
            .expect("maria");
        let maria_visit = maria
            .iter()
            .find(|a| a.status.is_open())
            .expect("Maria's visit")
            .clone();
        frontdesk::notices::plan_reminders(&store, now)
            .await
            .expect("plan");
        // The scheduler runs forward in time: the earlier evening first.
        let mut visits = [&tom_visit, &maria_visit];
        visits.sort_by_key(|a| a.window_start);
        for a in visits {
            run_at(
                &store,
                evening_before(&store, demo.demo, a.window_start).await,
            )
            .await;
        }
        assert!(
            outbox_to(&store, demo.demo, TOM_BECKER).await.is_empty(),
            "never to an opted-out number"
        );
        let skipped: Vec<_> = store
            .jobs_of(demo.demo, Some("reminder"))
            .await
            .expect("jobs")
            .into_iter()
            .filter(|j| {
                j.subject_id == Some(tom_visit.id.0) && j.payload["variant"] == "day_before"
            })
            .collect();
        assert_eq!(skipped[0].status, "skipped");
        assert_eq!(skipped[0].error.as_deref(), Some("recipient opted out"));

        let sent = outbox_to(&store, demo.demo, GARCIAS).await;
        let es = sent
            .iter()
            .find(|m| m.purpose == "reminder")
            .expect("Maria's reminder");
        assert!(es.body.starts_with("Hola Maria"), "{}", es.body);
        assert!(
            es.body
                .contains("Responda C para confirmar o R para cambiar la cita"),
            "{}",
            es.body
        );
    }
);

store_test!(
    fn reminders_wait_out_quiet_hours(db: &TestDb) {
        let store = db.store();
        let now = clock_now();
        let demo = frontdesk::seed::seed_demo(&store, now).await.expect("seed");
        // The tenant sends its day-before reminder at 22:00, inside quiet hours (21–8).
        set_notices(&store, demo.demo, |n| n.reminder_day_before_hour = 22).await;
        let a = store
            .appointment(demo.demo, demo.rachel_kim_appointment.expect("visit"))
            .await
            .expect("appointment");
        let t = store.tenant(demo.demo).await.expect("tenant");
        let day = t.timezone.local(a.window_start).date_naive() - chrono::Duration::days(1);
        let ten_pm = t
            .timezone
            .instant(day, NaiveTime::from_hms_opt(22, 5, 0).expect("t"));
        run_at(&store, ten_pm).await;
        let queued = outbox_to(&store, demo.demo, RACHEL).await;
        assert_eq!(queued.len(), 1);

        let fake = fake_twilio().await;
        let settings = frontdesk::config::RawSettings {
            twilio_account_sid: Some(crate::common::app::TWILIO_ACCOUNT_SID.into()),
            twilio_auth_token: Some(frontdesk::config::Secret::new(
                crate::common::app::TWILIO_AUTH_TOKEN,
            )),
            twilio_api_base: Some(fake.api_base()),
            ..Default::default()
        }
        .resolve()
        .expect("settings");
        let rest =
            frontdesk::outbound::TwilioRest::new(&settings.twilio, PUBLIC_URL).expect("rest");
        frontdesk::outbound::deliver_pending(&store, &rest, ten_pm, 50)
            .await
            .expect("deliver");
        assert!(
            fake.messages_to(RACHEL).is_empty(),
            "held during quiet hours"
        );
        assert_eq!(
            outbox_to(&store, demo.demo, RACHEL).await[0].status,
            "queued"
        );
        let eight = t.timezone.instant(
            day + chrono::Duration::days(1),
            NaiveTime::from_hms_opt(8, 1, 0).expect("t"),
        );
        frontdesk::outbound::deliver_pending(&store, &rest, eight, 50)
            .await
            .expect("deliver");
        assert_eq!(
            fake.messages_to(RACHEL).len(),
            1,
            "sent when quiet hours end"
        );
        fake.stop().await;
    }
);

store_test!(
    fn a_customer_without_a_phone_is_emailed_and_told_replies_are_not_read(db: &TestDb) {
        let store = db.store();
        let now = clock_now();
        let demo = frontdesk::seed::seed_demo(&store, now).await.expect("seed");
        let eleanor = store
            .appointments(demo.demo, demo.eleanor_price)
            .await
            .expect("visits");
        let visit = eleanor
            .iter()
            .find(|a| a.status.is_open())
            .expect("her visit")
            .clone();
        run_at(
            &store,
            evening_before(&store, demo.demo, visit.window_start).await,
        )
        .await;
        let rows = outbox_to(&store, demo.demo, "eleanor.price@example.org").await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].channel, "email");

        let smtp = FakeSmtp::start().await;
        let mailer =
            frontdesk::email::Mailer::new(&smtp.url(), "Greenleaf <office@greenleaf.example>")
                .expect("mailer");
        let rest = frontdesk::outbound::TwilioRest::new(
            &frontdesk::config::RawSettings::default()
                .resolve()
                .expect("s")
                .twilio,
            PUBLIC_URL,
        )
        .expect("rest");
        frontdesk::outbound::deliver_batch(&store, &rest, Some(&mailer), now, 50, 60)
            .await
            .expect("deliver");
        let mails = smtp.wait_for(1, Duration::from_secs(10)).await;
        assert_eq!(mails.len(), 1);
        let m = &mails[0];
        assert_eq!(m.to, vec!["eleanor.price@example.org".to_string()]);
        assert_eq!(m.from, "office@greenleaf.example");
        assert!(m
            .header("Subject")
            .unwrap_or_default()
            .contains("appointment reminder"));
        let body = m.body();
        assert!(body.contains("Hi Eleanor"), "{body}");
        assert!(body.contains(ENDING), "{body}");
        assert!(
            body.contains("Replies to this e-mail are not read"),
            "{body}"
        );
        assert_eq!(
            outbox_to(&store, demo.demo, "eleanor.price@example.org").await[0].status,
            "sent"
        );
        smtp.stop();
    }
);

/// Wait (bounded) for a text to Rachel containing `needle`; returns its body.
async fn texted(fake: &FakeTwilio, needle: &str) -> String {
    eventually(Duration::from_secs(20), || async move {
        fake.messages_to(RACHEL)
            .into_iter()
            .filter_map(|m| m.field("Body").map(str::to_string))
            .find(|b| b.contains(needle))
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "no text to Rachel with {needle:?}: {:?}",
            fake.messages_to(RACHEL)
        )
    })
}

/// Spawn the app with the fake Twilio and send Rachel's reminder (its evening has come).
async fn reminded(db: &TestDb, fake: &FakeTwilio) -> TestApp {
    let app = TestApp::spawn_with(db, |raw| raw.twilio_api_base = Some(fake.api_base())).await;
    let a = rachel_appointment(&app).await;
    run_at(
        &app.state.store,
        evening_before(&app.state.store, app.demo.demo, a.window_start).await,
    )
    .await;
    app.state.outbox.notify_one();
    let body = texted(fake, ENDING).await;
    assert_eq!(fake.messages_to(RACHEL).len(), 1, "{body}");
    app
}

store_test!(
    fn reminder_then_c_confirms_the_visit(db: &TestDb) {
        let fake = fake_twilio().await;
        let app = reminded(db, &fake).await;
        let client = TwilioClient::new(&app);
        let reply = client.sms(RACHEL, "C").await;
        let text = reply.message();
        let a = rachel_appointment(&app).await;
        assert_eq!(a.status, AppointmentStatus::Confirmed, "{text}");
        assert_says_all(&text, &["confirmed", &day_label(a.window_start)]);
        // The reminder and the answer are in the conversation.
        let mut conv = Conversation::sms(&app, RACHEL);
        let phone = frontdesk::domain::PhoneE164::parse(RACHEL).expect("phone");
        conv.id = Some(
            app.state
                .store
                .open_conversation(
                    app.demo.demo,
                    Channel::Sms,
                    RACHEL,
                    Some(&phone),
                    clock_now(),
                )
                .await
                .expect("her SMS conversation"),
        );
        let texts = conv.stored_texts().await;
        assert!(texts.iter().any(|t| t.ends_with(ENDING)), "{texts:?}");
        // A second C is a normal turn: nothing changes twice.
        let events = app
            .state
            .store
            .events_after(app.demo.demo, 0, 1000)
            .await
            .expect("events");
        assert_eq!(
            events
                .iter()
                .filter(|e| e.kind.as_str() == "appointment.confirmed")
                .count(),
            1
        );
        app.stop().await;
        fake.stop().await;
    }
);

store_test!(
    fn reminder_then_r_offers_a_window_and_yes_moves_it(db: &TestDb) {
        let fake = fake_twilio().await;
        let app = reminded(db, &fake).await;
        let before = rachel_appointment(&app).await;
        let client = TwilioClient::new(&app);
        let offer = client.sms(RACHEL, "R").await.message();
        assert_says_all(&offer, &["1)"]);
        let proposal = client.sms(RACHEL, "the first one").await.message();
        assert_says_all(&proposal, &["Move your", "?"]);
        assert_eq!(
            rachel_appointment(&app).await.slot_id,
            before.slot_id,
            "no move before yes"
        );
        let done = client.sms(RACHEL, "yes").await.message();
        let after = rachel_appointment(&app).await;
        assert_ne!(after.slot_id, before.slot_id, "moved: {done}");
        assert_eq!(after.last_rescheduled_by.as_deref(), Some("agent"));
        assert_says_all(&done, &[&day_label(after.window_start)]);
        app.stop().await;
        fake.stop().await;
    }
);

store_test!(
    fn field_events_text_the_customer_and_a_low_survey_escalates(db: &TestDb) {
        let fake = fake_twilio().await;
        let app = TestApp::spawn_with(db, |raw| raw.twilio_api_base = Some(fake.api_base())).await;
        let token = app.token(app.demo.demo, Role::Csr).await;
        let a = rachel_appointment(&app).await;
        let path = format!("/api/v1/operator/appointments/{}/status", a.id);

        check(
            &app,
            Req::post(&path, json!({ "status": "en_route" })).token(&token),
            400,
            Some("eta_required"),
        )
        .await;
        check(
            &app,
            Req::post(&path, json!({ "status": "paused", "note": "x" })).token(&token),
            409,
            Some("invalid_status_change"),
        )
        .await;
        check(
            &app,
            Req::post(&path, json!({ "status": "flying" })).token(&token),
            400,
            Some("invalid_field_status"),
        )
        .await;

        let out = check(
            &app,
            Req::post(&path, json!({ "status": "en_route", "eta_minutes": 25 })).token(&token),
            200,
            None,
        )
        .await;
        assert_eq!(out["status"], "en_route");
        assert_eq!(out["notified"], true);
        let tech = a
            .technician
            .split_whitespace()
            .next()
            .expect("name")
            .to_string();
        texted(&fake, &format!("{tech} is on the way, about 25 minutes")).await;

        check(
            &app,
            Req::post(&path, json!({ "status": "started" })).token(&token),
            200,
            None,
        )
        .await;
        check(
            &app,
            Req::post(
                &path,
                json!({ "status": "paused", "note": "Back in 20 minutes with more bait." }),
            )
            .token(&token),
            200,
            None,
        )
        .await;
        texted(&fake, "Back in 20 minutes with more bait.").await;

        let done = check(
            &app,
            Req::post(&path, json!({ "status": "completed", "findings": "Ant trails at the kitchen door; treated the perimeter.", "products": ["Termidor SC"] })).token(&token),
            200,
            None,
        )
        .await;
        let invoice = done["invoice_id"].as_i64().expect("an invoice");
        let body = texted(&fake, &format!("{PUBLIC_URL}/portal/invoices/{invoice}")).await;
        assert!(body.contains("Ant trails"), "{body}");
        assert!(body.contains("Reply 1 (poor) to 5 (great)"), "{body}");
        assert_eq!(
            rachel_appointment(&app).await.status,
            AppointmentStatus::Completed
        );
        let visits = app
            .state
            .store
            .visits(app.demo.demo, a.customer_id)
            .await
            .expect("visits");
        assert!(visits.iter().any(|v| v.findings.contains("Ant trails")));
        let kinds: Vec<String> = app
            .state
            .store
            .field_events(app.demo.demo, a.id)
            .await
            .expect("events")
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(kinds, ["en_route", "started", "paused", "completed"]);

        // The survey answer "2" reaches the office.
        let reply = TwilioClient::new(&app).sms(RACHEL, "2").await.message();
        assert!(!reply.is_empty());
        let reasons: Vec<String> = app
            .state
            .store
            .escalations_of(app.demo.demo, a.customer_id)
            .await
            .expect("escalations")
            .into_iter()
            .map(|e| e.reason.to_string())
            .collect();
        assert!(
            reasons.contains(&"unhappy_customer".to_string()),
            "{reasons:?}"
        );
        assert_eq!(
            app.state
                .store
                .survey_answers(app.demo.demo, a.customer_id)
                .await
                .expect("answers"),
            vec![(a.id, 2)]
        );
        // The operator record shows the field events as they happened.
        let record = get_ok(
            &app,
            &format!("/api/v1/operator/customers/{}/record", a.customer_id),
            &token,
        )
        .await;
        let kinds: Vec<&str> = record["field_events"]
            .as_array()
            .expect("field events in the record")
            .iter()
            .filter_map(|e| e["kind"].as_str())
            .collect();
        assert_eq!(kinds, ["en_route", "started", "paused", "completed"]);
        assert!(record["timeline"]
            .as_array()
            .expect("timeline")
            .iter()
            .any(|e| e["kind"] == "field"
                && e["summary"]
                    .as_str()
                    .unwrap_or("")
                    .contains("Back in 20 minutes")));
        app.stop().await;
        fake.stop().await;
    }
);

store_test!(
    fn notice_settings_are_read_and_changed_through_the_policy_api(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let token = app.token(app.demo.demo, Role::Admin).await;
        let current = get_ok(&app, "/api/v1/operator/policy", &token).await;
        assert_eq!(current["policy"]["notices"]["reminder_day_before"], true);
        assert_eq!(current["policy"]["notices"]["reminder_day_before_hour"], 17);
        let put = |body| {
            Req::new(reqwest::Method::PUT, "/api/v1/operator/policy")
                .token(&token)
                .raw_body(serde_json::to_string(&body).expect("json"))
        };
        check(
            &app,
            put(json!({ "policy": { "notices": { "reminder_day_before_hour": 24 } } })),
            400,
            Some("policy_out_of_range"),
        )
        .await;
        check(
            &app,
            put(json!({ "policy": { "notices": { "reminder_weekly": true } } })),
            400,
            Some("unknown_setting"),
        )
        .await;
        check(&app, put(json!({ "policy": { "notices": { "reminder_morning_of": true, "reminder_morning_of_hour": 9 } } })), 200, None).await;
        let t = app.state.store.tenant(app.demo.demo).await.expect("tenant");
        assert!(t.policy.notices.reminder_morning_of);
        assert_eq!(t.policy.notices.reminder_morning_of_hour, 9);
        app.stop().await;
    }
);

store_test!(
    fn the_agent_promises_reminders_only_when_the_tenant_sends_them(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let mut conv = Conversation::sms(&app, RACHEL);
        conv.say("can u mvoe my appt to thurs morning").await;
        let done = conv.say("yes").await;
        assert!(
            done.contains("We'll text a reminder the day before."),
            "{done}"
        );
        app.stop().await;
    }
);

store_test!(
    fn the_agent_promises_nothing_when_notices_are_off(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        set_notices(&app.state.store, app.demo.demo, |n| {
            n.reminder_day_before = false;
            n.reminder_morning_of = false;
            n.en_route = false;
        })
        .await;
        let mut conv = Conversation::sms(&app, RACHEL);
        conv.say("can u mvoe my appt to thurs morning").await;
        let done = conv.say("yes").await;
        assert!(done.contains("Thu Nov 26"), "{done}");
        let lower = done.to_lowercase();
        assert!(
            !lower.contains("remind") && !lower.contains("on the way"),
            "{done}"
        );
        app.stop().await;
    }
);

store_test!(
    fn invoice_notices_carry_the_pay_link_on_the_tenant_cadence(db: &TestDb) {
        let store = db.store();
        let now = clock_now();
        let demo = frontdesk::seed::seed_demo(&store, now).await.expect("seed");
        let t = store.tenant(demo.demo).await.expect("tenant");
        let today = t.timezone.local(now).date_naive();
        let id = store
            .insert_invoice(
                demo.demo,
                &frontdesk::store::NewInvoice {
                    customer_id: demo.rachel_kim,
                    number: "T-1".into(),
                    amount_cents: frontdesk::domain::Cents(12_500),
                    balance_cents: frontdesk::domain::Cents(12_500),
                    issued_on: today,
                    due_on: today + chrono::Duration::days(10),
                    status: frontdesk::domain::InvoiceStatus::Open,
                },
            )
            .await
            .expect("invoice");
        frontdesk::jobs::run_pass(&store, PUBLIC_URL, now, 1000, 60)
            .await
            .expect("pass");
        let link = format!("{PUBLIC_URL}/portal/invoices/{}", id.0);
        let sent: Vec<_> = outbox_to(&store, demo.demo, RACHEL).await;
        let new: Vec<_> = sent.iter().filter(|m| m.purpose == "invoice_new").collect();
        assert_eq!(new.len(), 1, "{sent:?}");
        assert!(
            new[0].body.contains(&link) && new[0].body.contains("$125.00"),
            "{}",
            new[0].body
        );
        // Day after the due date, then every 7 days, at most 3.
        for k in 0..5 {
            let day = today + chrono::Duration::days(11 + 7 * k);
            let at = t
                .timezone
                .instant(day, NaiveTime::from_hms_opt(9, 30, 0).expect("t"));
            frontdesk::jobs::run_pass(&store, PUBLIC_URL, at, 1000, 60)
                .await
                .expect("pass");
        }
        let overdue: Vec<_> = outbox_to(&store, demo.demo, RACHEL)
            .await
            .into_iter()
            .filter(|m| m.purpose == "invoice_overdue" && m.body.contains(&link))
            .collect();
        assert_eq!(overdue.len(), 3);
    }
);
