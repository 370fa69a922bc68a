//! The customer portal API on both stores: the account as the customer sees it (a property
//! manager's properties and filter; no CSR notes), browser-truthful activity only,
//! self-serve reschedule (success and each refusal, recorded and evented), Stripe checkout and
//! webhook (well-formed request, once per event, bad or stale signatures change nothing),
//! autopay, e-signature (hash of the exact text), and magic-link sign-in (single use,
//! expiry by the app's clock, limits, the same answer for unknown contacts).

use chrono::{DateTime, Duration, Utc};
use frontdesk::domain::{AppointmentId, AppointmentStatus, Cents, CustomerId, SlotId, ZoneId};
use frontdesk::store::{Csr, NewAppointment};
use serde_json::{json, Value};

use crate::common::app::TestApp;
use crate::common::stripe::{self as fake_stripe, FakeStripe};
use crate::common::twilio::{fake_twilio, FakeTwilio};
use crate::common::TestDb;

async fn get(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let res = app
        .http
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("get");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    let res = app
        .http
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("post");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn event_kinds_since(app: &TestApp, after: i64) -> Vec<(String, Value)> {
    app.state
        .store
        .events_after(app.demo.demo, after, 500)
        .await
        .expect("events")
        .into_iter()
        .map(|e| (e.kind.to_string(), e.payload))
        .collect()
}

store_test!(
    fn the_account_is_the_customers_own_and_never_shows_csr_notes(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let t = app.demo.demo;
        let dana = app.demo.dana_whitfield;
        let now = app.state.clock.now();
        app.state
            .store
            .add_customer_note(
                t,
                &Csr::new(None, frontdesk::domain::Role::Csr),
                dana,
                "internal-marker-5521: slow payer, do not discount",
                now,
            )
            .await
            .expect("note");
        let token = app.portal_token(dana).await;

        let (status, summary) = get(&app, &token, "/api/v1/portal/summary").await;
        assert_eq!(status, 200, "{summary}");
        let properties = summary["properties"].as_array().expect("properties");
        let stored = app.state.store.properties(t, dana).await.expect("props");
        assert_eq!(properties.len(), stored.len());
        assert!(
            properties.len() >= 12,
            "a property manager sees all: {}",
            properties.len()
        );
        let invoices = app.state.store.invoices(t, dana).await.expect("invoices");
        let balance: i64 = invoices
            .iter()
            .filter(|i| i.status != frontdesk::domain::InvoiceStatus::Void)
            .map(|i| i.balance_cents.0)
            .sum();
        assert_eq!(summary["balance_cents"], balance);
        assert!(summary["next_visit"]["id"].is_i64(), "{summary}");

        // All visits, then one property's only.
        let (_, all) = get(&app, &token, "/api/v1/portal/visits").await;
        let upcoming = all["upcoming"].as_array().expect("upcoming");
        assert!(upcoming.len() >= 3, "{all}");
        let one = upcoming[1]["property_id"].as_i64().expect("property");
        let (status, filtered) = get(
            &app,
            &token,
            &format!("/api/v1/portal/visits?property_id={one}"),
        )
        .await;
        assert_eq!(status, 200);
        let fu = filtered["upcoming"].as_array().expect("upcoming");
        assert!(!fu.is_empty());
        assert!(fu.iter().all(|v| v["property_id"] == one));
        assert!(filtered["past"]
            .as_array()
            .expect("past")
            .iter()
            .all(|v| v["property_id"] == one));
        // Someone else's property is not a filter.
        let other = app
            .state
            .store
            .properties(t, app.demo.rachel_kim)
            .await
            .expect("props")[0]
            .id;
        let (status, body) = get(
            &app,
            &token,
            &format!("/api/v1/portal/visits?property_id={other}"),
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (404, Some("property_not_found"))
        );

        // Past visits carry what the technician reported.
        let past = &all["past"][0];
        for key in [
            "technician",
            "notes",
            "findings",
            "products",
            "completed_at",
        ] {
            assert!(!past[key].is_null(), "{key}: {past}");
        }

        // Invoices and one invoice with its lines and payments; another customer's is 404.
        let (_, list) = get(&app, &token, "/api/v1/portal/invoices").await;
        let first = list["invoices"][0]["id"].as_i64().expect("invoice id");
        let (status, inv) = get(&app, &token, &format!("/api/v1/portal/invoices/{first}")).await;
        assert_eq!(status, 200);
        assert!(inv["lines"].as_array().is_some_and(|l| !l.is_empty()));
        assert!(inv["payments"].is_array());
        let rachels = open_invoice(&app).await.id;
        let (status, _) = get(&app, &token, &format!("/api/v1/portal/invoices/{rachels}")).await;
        assert_eq!(status, 404);

        // Agreements with their exact text.
        let (_, ags) = get(&app, &token, "/api/v1/portal/agreements").await;
        let a = ags["agreements"][0]["id"].as_i64().expect("agreement");
        let (status, one) = get(&app, &token, &format!("/api/v1/portal/agreements/{a}")).await;
        assert_eq!(status, 200);
        let text = one["text"].as_str().expect("text");
        assert!(text.contains("Service agreement"), "{text}");
        assert_eq!(one["text_sha256"], frontdesk::portal::sha256_hex(text));

        // Nothing the CSR wrote reaches any of it.
        for path in [
            "/api/v1/portal/summary".to_string(),
            "/api/v1/portal/visits".into(),
            "/api/v1/portal/invoices".into(),
            "/api/v1/portal/agreements".into(),
            "/api/v1/portal/history".into(),
            "/api/v1/portal/me".into(),
            format!("/api/v1/portal/agreements/{a}"),
            format!("/api/v1/portal/invoices/{first}"),
        ] {
            let (status, body) = get(&app, &token, &path).await;
            assert_eq!(status, 200, "{path}: {body}");
            assert!(!body.to_string().contains("internal-marker-5521"), "{path}");
        }
        // No token, no account.
        let res = app
            .http
            .get(app.url("/api/v1/portal/summary"))
            .send()
            .await
            .expect("get");
        assert_eq!(res.status(), 401);
        app.stop().await;
    }
);

store_test!(
    fn portal_events_accept_only_what_a_browser_can_truthfully_report(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let token = app.portal_token(app.demo.rachel_kim).await;
        for kind in ["invoice_viewed", "chat_opened"] {
            let (status, body) = post(
                &app,
                &token,
                "/api/v1/portal/events",
                json!({ "kind": kind, "detail": { "invoice": 1 } }),
            )
            .await;
            assert_eq!(status, 200, "{kind}: {body}");
        }
        let before = db.scalar("SELECT COUNT(*) FROM portal_events").await;
        for kind in [
            "payment",
            "agreement_signed",
            "reschedule_done",
            "reschedule_refused",
            "login",
        ] {
            let (status, body) = post(
                &app,
                &token,
                "/api/v1/portal/events",
                json!({ "kind": kind, "detail": {} }),
            )
            .await;
            assert_eq!(status, 400, "{kind}");
            assert_eq!(body["error"]["code"], "event_kind_not_reportable", "{kind}");
        }
        assert_eq!(
            db.scalar("SELECT COUNT(*) FROM portal_events").await,
            before
        );
        app.stop().await;
    }
);

/// A visit of Rachel Kim's and windows around it in her zone, placed at minutes no demo
/// window uses.
pub(crate) struct RescheduleWorld {
    pub(crate) appointment: AppointmentId,
    pub(crate) near: AppointmentId,
    pub(crate) ok_slot: SlotId,
    pub(crate) far_slot: SlotId,
    pub(crate) full_slot: SlotId,
    pub(crate) other_zone_slot: SlotId,
}

async fn slot_at(app: &TestApp, zone: ZoneId, at: DateTime<Utc>, capacity: i64) -> SlotId {
    let t = app.demo.demo;
    let tech = app.state.store.technicians(t).await.expect("techs")[0].id;
    app.state
        .store
        .insert_slot(t, zone, tech, at, at + Duration::hours(2), capacity)
        .await
        .expect("slot")
}

async fn book(app: &TestApp, customer: CustomerId, slot: SlotId) -> AppointmentId {
    let t = app.demo.demo;
    let property = app
        .state
        .store
        .properties(t, customer)
        .await
        .expect("props")[0]
        .id;
    let service = app.state.store.services(t).await.expect("services")[0].id;
    app.state
        .store
        .book_appointment(
            t,
            &NewAppointment {
                customer_id: customer,
                property_id: property,
                service_id: service,
                slot_id: slot,
                status: AppointmentStatus::Scheduled,
                price_cents: Cents(12_900),
            },
            app.state.clock.now(),
        )
        .await
        .expect("book")
}

pub(crate) async fn reschedule_world(app: &TestApp) -> RescheduleWorld {
    let t = app.demo.demo;
    let rachel = app.demo.rachel_kim;
    let zone = app.state.store.properties(t, rachel).await.expect("props")[0].zone_id;
    let other_zone = app
        .state
        .store
        .zones(t)
        .await
        .expect("zones")
        .into_iter()
        .find(|z| z.id != zone)
        .expect("another zone")
        .id;
    let now = app.state.clock.now();
    let odd = |days: i64| now + Duration::days(days) + Duration::minutes(17);
    let visit = slot_at(app, zone, odd(5), 4).await;
    let near_slot = slot_at(app, zone, odd(1), 4).await;
    let ok_slot = slot_at(app, zone, odd(7), 4).await;
    let far_slot = slot_at(app, zone, odd(5 + 15), 4).await;
    let full_slot = slot_at(app, zone, odd(8), 1).await;
    let other_zone_slot = slot_at(app, other_zone, odd(6), 4).await;
    // The full window's one stop is taken by someone else's visit.
    book(app, app.demo.tom_becker, full_slot).await;
    RescheduleWorld {
        appointment: book(app, rachel, visit).await,
        near: book(app, rachel, near_slot).await,
        ok_slot,
        far_slot,
        full_slot,
        other_zone_slot,
    }
}

store_test!(
    fn self_serve_reschedule_moves_within_policy_and_records_each_refusal(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let t = app.demo.demo;
        let w = reschedule_world(&app).await;
        let token = app.portal_token(app.demo.rachel_kim).await;
        let path = |a: AppointmentId, what: &str| format!("/api/v1/portal/visits/{a}/{what}");

        // The window picker offers the good window and none of the bad ones.
        let (status, windows) = get(&app, &token, &path(w.appointment, "windows")).await;
        assert_eq!(status, 200, "{windows}");
        assert_eq!(windows["reschedulable"], true);
        let offered: Vec<i64> = windows["windows"]
            .as_array()
            .expect("windows")
            .iter()
            .map(|s| s["slot_id"].as_i64().expect("slot"))
            .collect();
        assert!(offered.contains(&w.ok_slot.0), "{windows}");
        for bad in [w.far_slot, w.full_slot, w.other_zone_slot] {
            assert!(!offered.contains(&bad.0), "{bad} offered: {windows}");
        }
        let (_, near_windows) = get(&app, &token, &path(w.near, "windows")).await;
        assert_eq!(near_windows["reschedulable"], false);
        assert_eq!(near_windows["refusal"]["code"], "too_close_to_visit");

        // Each refusal: stable code and rule, nothing moved, recorded as activity.
        let cases = [
            (
                w.near,
                w.ok_slot,
                "too_close_to_visit",
                "portal_reschedule.min_hours_ahead = 48",
            ),
            (
                w.appointment,
                w.far_slot,
                "window_too_far",
                "portal_reschedule.max_days_from_original = 14",
            ),
            (w.appointment, w.full_slot, "window_full", "capacity"),
        ];
        for (appointment, slot, code, rule) in cases {
            let before = app
                .state
                .store
                .appointment(t, appointment)
                .await
                .expect("appt");
            let (status, body) = post(
                &app,
                &token,
                &path(appointment, "reschedule"),
                json!({ "slot_id": slot }),
            )
            .await;
            assert_eq!(status, 409, "{code}: {body}");
            assert_eq!(body["error"]["code"], code);
            assert_eq!(body["error"]["rule"], rule);
            let after = app
                .state
                .store
                .appointment(t, appointment)
                .await
                .expect("appt");
            assert_eq!(after.slot_id, before.slot_id, "{code}");
            let latest = &app
                .state
                .store
                .portal_events(t, app.demo.rachel_kim, 1)
                .await
                .expect("events")[0];
            assert_eq!(latest.kind.as_str(), "reschedule_refused");
            assert_eq!(latest.detail["rule"], rule);
            assert_eq!(latest.detail["code"], code);
            assert!(latest.detail["reason"]
                .as_str()
                .is_some_and(|r| !r.is_empty()));
        }
        // The refusal shows in the operator's record.
        let record = frontdesk::record::customer_record(
            &app.state.store,
            &app.state.store.tenant(t).await.expect("tenant"),
            app.demo.rachel_kim,
            app.state.clock.now(),
        )
        .await
        .expect("record");
        assert!(record
            .portal_activity
            .iter()
            .any(|e| e.kind.as_str() == "reschedule_refused" && e.detail["code"] == "window_full"));

        // Success: moved, the full window untouched, counted, recorded and evented.
        let last_event = app.state.store.last_event_id(t).await.expect("last");
        let full_booked = app
            .state
            .store
            .slot(t, w.full_slot)
            .await
            .expect("slot")
            .booked;
        let (status, body) = post(
            &app,
            &token,
            &path(w.appointment, "reschedule"),
            json!({ "slot_id": w.ok_slot }),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "moved");
        let moved = app
            .state
            .store
            .appointment(t, w.appointment)
            .await
            .expect("appt");
        assert_eq!(moved.slot_id, w.ok_slot);
        assert_eq!(moved.last_rescheduled_by.as_deref(), Some("portal"));
        assert_eq!(
            app.state
                .store
                .slot(t, w.ok_slot)
                .await
                .expect("slot")
                .booked,
            1
        );
        assert_eq!(
            app.state
                .store
                .slot(t, w.full_slot)
                .await
                .expect("slot")
                .booked,
            full_booked
        );
        let events: Vec<(String, Value)> = event_kinds_since(&app, last_event)
            .await
            .into_iter()
            .filter(|(_, p)| p["customer_id"] == app.demo.rachel_kim.0)
            .collect();
        let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            kinds,
            ["portal.activity", "appointment.moved"],
            "{events:?}"
        );
        assert_eq!(events[0].1["kind"], "reschedule_done");
        assert_eq!(events[1].1["by"], "portal");
        assert_eq!(events[1].1["appointment_id"], w.appointment.0);

        // Someone else's visit is not found.
        let other = app.portal_token(app.demo.tom_becker).await;
        let (status, _) = post(
            &app,
            &other,
            &path(w.appointment, "reschedule"),
            json!({ "slot_id": w.ok_slot }),
        )
        .await;
        assert_eq!(status, 404);
        app.stop().await;
    }
);

/// The app with the fake Stripe as its provider.
async fn spawn_with_stripe(db: &TestDb, stripe: &FakeStripe) -> TestApp {
    let base = stripe.api_base();
    TestApp::spawn_with(db, move |raw| {
        raw.stripe_api_base = Some(base);
        raw.stripe_secret_key = Some(frontdesk::config::Secret::new(fake_stripe::SECRET_KEY));
        raw.stripe_webhook_secret =
            Some(frontdesk::config::Secret::new(fake_stripe::WEBHOOK_SECRET));
    })
    .await
}

async fn post_webhook(app: &TestApp, body: &[u8], signature: &str) -> (u16, Value) {
    let res = app
        .http
        .post(app.url("/webhooks/stripe"))
        .header("stripe-signature", signature)
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .expect("webhook");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// An open invoice of Rachel Kim's with a balance.
pub(crate) async fn open_invoice(app: &TestApp) -> frontdesk::store::Invoice {
    let t = app.demo.demo;
    let rachel = app.demo.rachel_kim;
    app.state
        .store
        .insert_invoice(
            t,
            &frontdesk::store::NewInvoice {
                customer_id: rachel,
                number: "INV-PORTAL-1".into(),
                amount_cents: Cents(18_950),
                balance_cents: Cents(18_950),
                issued_on: app.state.clock.now().date_naive(),
                due_on: app.state.clock.now().date_naive() + Duration::days(30),
                status: frontdesk::domain::InvoiceStatus::Open,
            },
        )
        .await
        .expect("invoice");
    app.state
        .store
        .invoices(t, rachel)
        .await
        .expect("invoices")
        .into_iter()
        .find(|i| i.number == "INV-PORTAL-1")
        .expect("the invoice")
}

store_test!(
    fn stripe_checkout_is_well_formed_and_a_signed_webhook_pays_exactly_once(db: &TestDb) {
        let stripe = FakeStripe::start().await;
        let app = spawn_with_stripe(db, &stripe).await;
        let t = app.demo.demo;
        let invoice = open_invoice(&app).await;
        let token = app.portal_token(app.demo.rachel_kim).await;

        let (status, checkout) = post(
            &app,
            &token,
            &format!("/api/v1/portal/invoices/{}/checkout", invoice.id),
            json!({}),
        )
        .await;
        assert_eq!(status, 200, "{checkout}");
        let requests = stripe.requests();
        assert_eq!(requests.len(), 1);
        let r = &requests[0];
        assert!(r.authorized);
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert_eq!(
            r.field("line_items[0][price_data][unit_amount]"),
            Some("18950")
        );
        assert_eq!(
            r.field("metadata[invoice_id]"),
            Some(invoice.id.to_string().as_str())
        );
        assert!(r.idempotency_key.is_some());
        let session_id = checkout["session_id"]
            .as_str()
            .expect("session")
            .to_string();
        assert_eq!(
            checkout["url"].as_str(),
            stripe.session(&session_id).expect("session")["url"].as_str()
        );
        // A second click is the same session (same Idempotency-Key).
        let (_, again) = post(
            &app,
            &token,
            &format!("/api/v1/portal/invoices/{}/checkout", invoice.id),
            json!({}),
        )
        .await;
        assert_eq!(again["session_id"], session_id.as_str());
        assert_eq!(stripe.requests()[1].idempotency_key, r.idempotency_key);

        // The signed event, twice: paid once.
        let body = stripe.completed_event(&session_id, "evt_test_once");
        let now = app.state.clock.now().timestamp();
        let last_event = app.state.store.last_event_id(t).await.expect("last");
        for _ in 0..2 {
            let sig = fake_stripe::signature_header(fake_stripe::WEBHOOK_SECRET, now - 10, &body);
            let (status, answer) = post_webhook(&app, &body, &sig).await;
            assert_eq!(status, 200, "{answer}");
        }
        let paid = app
            .state
            .store
            .invoices(t, app.demo.rachel_kim)
            .await
            .expect("invoices")
            .into_iter()
            .find(|i| i.id == invoice.id)
            .expect("invoice");
        assert_eq!(paid.balance_cents, Cents(0));
        assert_eq!(paid.status.as_str(), "paid");
        assert_eq!(
            db.scalar(&format!(
                "SELECT COUNT(*) FROM payments WHERE invoice_id = {} AND tenant_id = {t}",
                invoice.id
            ))
            .await,
            1
        );
        let events = event_kinds_since(&app, last_event).await;
        let payments: Vec<_> = events
            .iter()
            .filter(|(k, p)| k == "portal.activity" && p["kind"] == "payment")
            .collect();
        assert_eq!(payments.len(), 1, "{events:?}");
        assert_eq!(payments[0].1["detail"]["amount_cents"], 18_950);
        let (_, inv) = get(
            &app,
            &token,
            &format!("/api/v1/portal/invoices/{}", invoice.id),
        )
        .await;
        assert_eq!(inv["payments"].as_array().map(Vec::len), Some(1));
        assert_eq!(inv["payable"], false);
        app.stop().await;
        stripe.stop().await;
    }
);

store_test!(
    fn a_badly_signed_or_stale_stripe_webhook_is_400_and_changes_nothing(db: &TestDb) {
        let stripe = FakeStripe::start().await;
        let app = spawn_with_stripe(db, &stripe).await;
        let invoice = open_invoice(&app).await;
        let token = app.portal_token(app.demo.rachel_kim).await;
        let (_, checkout) = post(
            &app,
            &token,
            &format!("/api/v1/portal/invoices/{}/checkout", invoice.id),
            json!({}),
        )
        .await;
        let session_id = checkout["session_id"]
            .as_str()
            .expect("session")
            .to_string();
        let body = stripe.completed_event(&session_id, "evt_test_bad");
        let now = app.state.clock.now().timestamp();
        let good = fake_stripe::signature_header(fake_stripe::WEBHOOK_SECRET, now, &body);
        let mut tampered = body.clone();
        tampered.extend_from_slice(b" ");
        let payments = || db.scalar("SELECT COUNT(*) FROM payments");
        let before = payments().await;
        let balance_sql = format!(
            "SELECT balance_cents FROM invoices WHERE id = {}",
            invoice.id
        );
        let balance = || db.scalar(&balance_sql);
        for (what, body, sig) in [
            (
                "wrong secret",
                body.clone(),
                fake_stripe::signature_header("whsec_other", now, &body),
            ),
            (
                "stale",
                body.clone(),
                fake_stripe::signature_header(fake_stripe::WEBHOOK_SECRET, now - 301, &body),
            ),
            (
                "future",
                body.clone(),
                fake_stripe::signature_header(fake_stripe::WEBHOOK_SECRET, now + 301, &body),
            ),
            ("body changed", tampered.clone(), good.clone()),
            ("no header", body.clone(), String::new()),
            ("v0 only", body.clone(), good.replace("v1=", "v0=")),
        ] {
            let (status, answer) = post_webhook(&app, &body, &sig).await;
            assert_eq!(status, 400, "{what}: {answer}");
            assert_eq!(answer["error"]["code"], "invalid_signature", "{what}");
        }
        assert_eq!(payments().await, before);
        assert_eq!(balance().await, 18_950);
        assert_eq!(db.scalar("SELECT COUNT(*) FROM payment_events").await, 0);
        // Within the tolerance it is taken.
        let edge = fake_stripe::signature_header(fake_stripe::WEBHOOK_SECRET, now - 299, &body);
        assert_eq!(post_webhook(&app, &body, &edge).await.0, 200);
        assert_eq!(balance().await, 0);
        app.stop().await;
        stripe.stop().await;
    }
);

store_test!(
    fn autopay_turns_on_and_off(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let rachel = app.demo.rachel_kim;
        let token = app.portal_token(rachel).await;
        for on in [true, false, true] {
            let res = app
                .http
                .put(app.url("/api/v1/portal/autopay"))
                .bearer_auth(&token)
                .json(&json!({ "enabled": on }))
                .send()
                .await
                .expect("put");
            assert_eq!(res.status(), 200);
            let c = app
                .state
                .store
                .customer(app.demo.demo, rachel)
                .await
                .expect("c");
            assert_eq!(c.autopay, on);
            let (_, summary) = get(&app, &token, "/api/v1/portal/summary").await;
            assert_eq!(summary["customer"]["autopay"], on);
        }
        app.stop().await;
    }
);

store_test!(
    fn a_signature_stores_the_hash_of_the_text_and_new_text_needs_a_new_one(db: &TestDb) {
        use sha2::{Digest, Sha256};
        let app = TestApp::spawn(db).await;
        let t = app.demo.demo;
        let dana = app.demo.dana_whitfield;
        let token = app.portal_token(dana).await;
        let (_, ags) = get(&app, &token, "/api/v1/portal/agreements").await;
        let a = ags["agreements"]
            .as_array()
            .expect("agreements")
            .iter()
            .find(|a| a["needs_signature"] == true)
            .unwrap_or(&ags["agreements"][0])["id"]
            .as_i64()
            .expect("id");
        let (_, doc) = get(&app, &token, &format!("/api/v1/portal/agreements/{a}")).await;
        let text = doc["text"].as_str().expect("text").to_string();
        let expected: String = Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let sign_path = format!("/api/v1/portal/agreements/{a}/sign");
        // Consent and a full name are required.
        for (body, code) in [
            (
                json!({ "full_name": "Dana Whitfield", "consent": false }),
                "consent_required",
            ),
            (
                json!({ "full_name": "Dana", "consent": true }),
                "full_name_required",
            ),
            (
                json!({ "full_name": "Dana Whitfield", "consent": true, "text_sha256": "00" }),
                "agreement_text_changed",
            ),
        ] {
            let (status, answer) = post(&app, &token, &sign_path, body).await;
            assert!(status == 400 || status == 409, "{answer}");
            assert_eq!(answer["error"]["code"], code);
        }
        let last_event = app.state.store.last_event_id(t).await.expect("last");
        let res = app
            .http
            .post(app.url(&sign_path))
            .bearer_auth(&token)
            .header("user-agent", "PortalTest/1.0 (phone)")
            .json(
                &json!({ "full_name": "Dana Whitfield", "consent": true, "text_sha256": expected }),
            )
            .send()
            .await
            .expect("sign");
        assert_eq!(res.status(), 200);
        let sigs = app
            .state
            .store
            .agreement_signatures(t, dana)
            .await
            .expect("sigs");
        assert_eq!(sigs.len(), 1);
        let s = &sigs[0];
        assert_eq!(s.text_sha256, expected);
        assert_eq!(s.signer_name, "Dana Whitfield");
        assert_eq!(s.user_agent, "PortalTest/1.0 (phone)");
        assert_eq!(s.ip_address, "127.0.0.1");
        assert_eq!(
            app.state
                .store
                .signed_document(t, dana, s.id)
                .await
                .expect("copy"),
            text
        );
        let events = event_kinds_since(&app, last_event).await;
        assert!(events
            .iter()
            .any(|(k, p)| k == "portal.activity" && p["kind"] == "agreement_signed"));
        // The operator's record shows it.
        let record = frontdesk::record::customer_record(
            &app.state.store,
            &app.state.store.tenant(t).await.expect("tenant"),
            dana,
            app.state.clock.now(),
        )
        .await
        .expect("record");
        assert!(record.signatures.iter().any(|x| x.text_sha256 == expected));
        assert!(record
            .agreements
            .iter()
            .any(|x| x.id.0 == a && x.signature_status.as_str() == "signed"));
        // The same text again is refused; a changed text is a new signature.
        let (status, answer) = post(
            &app,
            &token,
            &sign_path,
            json!({ "full_name": "Dana Whitfield", "consent": true }),
        )
        .await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (409, Some("already_signed"))
        );
        db.execute(&format!(
            "UPDATE agreements SET price_cents = price_cents + 500 WHERE id = {a}"
        ))
        .await;
        let (_, changed) = get(&app, &token, &format!("/api/v1/portal/agreements/{a}")).await;
        assert_eq!(changed["needs_signature"], true);
        assert_ne!(changed["text_sha256"], expected.as_str());
        let (status, _) = post(
            &app,
            &token,
            &sign_path,
            json!({ "full_name": "Dana Whitfield", "consent": true }),
        )
        .await;
        assert_eq!(status, 200);
        let sigs = app
            .state
            .store
            .agreement_signatures(t, dana)
            .await
            .expect("sigs");
        assert_eq!(sigs.len(), 2);
        assert_eq!(
            sigs[0].text_sha256,
            changed["text_sha256"].as_str().unwrap_or("")
        );
        app.stop().await;
    }
);

/// The link in the last SMS to `to`.
pub(crate) fn link_in(twilio: &FakeTwilio, to: &str) -> Option<String> {
    let m = twilio.messages_to(to).into_iter().last()?;
    let body = m.field("Body")?.to_string();
    let start = body.find("/portal/link/")? + "/portal/link/".len();
    Some(
        body[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect(),
    )
}

pub(crate) async fn spawn_with_twilio(
    db: &TestDb,
    twilio: &FakeTwilio,
    clock: Option<&str>,
) -> TestApp {
    let base = twilio.api_base();
    let clock = clock.map(str::to_string);
    TestApp::spawn_with(db, move |raw| {
        raw.twilio_api_base = Some(base);
        if let Some(c) = clock {
            raw.clock = Some(c);
        }
    })
    .await
}

pub(crate) async fn ask_link(app: &TestApp, body: Value) -> (u16, Value) {
    let res = app
        .http
        .post(app.url("/api/v1/portal/login"))
        .json(&body)
        .send()
        .await
        .expect("login");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn use_link(app: &TestApp, link: &str) -> (u16, Value) {
    let res = app
        .http
        .post(app.url("/api/v1/portal/session"))
        .json(&json!({ "link_token": link }))
        .send()
        .await
        .expect("session");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

store_test!(
    fn a_magic_link_is_single_use_and_unknown_contacts_get_the_same_answer(db: &TestDb) {
        let twilio = fake_twilio().await;
        let app = spawn_with_twilio(db, &twilio, None).await;
        let rachel = crate::common::twilio::RACHEL_KIM;
        let (status, known) = ask_link(&app, json!({ "phone": rachel })).await;
        assert_eq!(status, 202);
        let (status, unknown) = ask_link(&app, json!({ "phone": "+15125558888" })).await;
        assert_eq!(status, 202);
        assert_eq!(known, unknown);
        let (status, email) = ask_link(&app, json!({ "email": "nobody@nowhere.example" })).await;
        assert_eq!((status, &email), (202, &known));
        let messages = twilio
            .wait_for_messages(1, std::time::Duration::from_secs(10))
            .await;
        assert_eq!(messages.len(), 1, "only the known contact gets a text");
        assert!(twilio.messages_to("+15125558888").is_empty());
        let link = link_in(&twilio, rachel).expect("a link in the SMS");

        let (status, session) = use_link(&app, &link).await;
        assert_eq!(status, 200, "{session}");
        let token = session["token"].as_str().expect("token");
        let (status, me) = get(&app, token, "/api/v1/portal/summary").await;
        assert_eq!(status, 200);
        assert_eq!(me["customer"]["id"], app.demo.rachel_kim.0);
        // Once only.
        let (status, again) = use_link(&app, &link).await;
        assert_eq!(
            (status, again["error"]["code"].as_str()),
            (401, Some("invalid_link"))
        );
        let logins = app
            .state
            .store
            .portal_events(app.demo.demo, app.demo.rachel_kim, 20)
            .await
            .expect("events")
            .into_iter()
            .filter(|e| e.kind.as_str() == "login" && e.detail["method"] == "link")
            .count();
        assert_eq!(
            logins, 1,
            "the seeded world has logins of its own; one is by link"
        );
        // An e-mail on file stores a link for the mailer.
        let (status, _) = ask_link(&app, json!({ "email": "DANA@hillcountrypm.example" })).await;
        assert_eq!(status, 202);
        assert_eq!(
            db.scalar(&format!(
                "SELECT COUNT(*) FROM portal_links WHERE channel = 'email' AND customer_id = {}",
                app.demo.dana_whitfield
            ))
            .await,
            1
        );
        app.stop().await;
        twilio.stop().await;
    }
);

store_test!(
    fn a_magic_link_expires_after_fifteen_minutes_of_the_apps_clock(db: &TestDb) {
        let twilio = fake_twilio().await;
        let app = spawn_with_twilio(db, &twilio, None).await;
        let rachel = crate::common::twilio::RACHEL_KIM;
        assert_eq!(ask_link(&app, json!({ "phone": rachel })).await.0, 202);
        twilio
            .wait_for_messages(1, std::time::Duration::from_secs(10))
            .await;
        let link = link_in(&twilio, rachel).expect("link");
        let issued = app.state.clock.now();
        // The same database, served with the clock 16 and then 14 minutes later (the apps
        // share the test's pool, so they stop together at the end).
        let later = |m: i64| (issued + Duration::minutes(m)).to_rfc3339();
        let late = spawn_with_twilio(db, &twilio, Some(&later(16))).await;
        let (status, body) = use_link(&late, &link).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (401, Some("invalid_link"))
        );
        let in_time = spawn_with_twilio(db, &twilio, Some(&later(14))).await;
        assert_eq!(use_link(&in_time, &link).await.0, 200);
        in_time.stop().await;
        late.stop().await;
        app.stop().await;
        twilio.stop().await;
    }
);

store_test!(
    fn magic_link_requests_are_limited_per_contact_and_per_address(db: &TestDb) {
        let twilio = fake_twilio().await;
        let app = spawn_with_twilio(db, &twilio, None).await;
        let rachel = crate::common::twilio::RACHEL_KIM;
        for _ in 0..frontdesk::portal::links::PER_CONTACT_LIMIT {
            assert_eq!(ask_link(&app, json!({ "phone": rachel })).await.0, 202);
        }
        let (status, body) = ask_link(&app, json!({ "phone": rachel })).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (429, Some("too_many_link_requests"))
        );
        // Other contacts from the same address, until the address limit.
        let mut refused = None;
        for i in 0..frontdesk::portal::links::PER_ADDRESS_LIMIT {
            let (status, _) =
                ask_link(&app, json!({ "phone": format!("+1512555{:04}", 7000 + i) })).await;
            if status == 429 {
                refused = Some(i);
                break;
            }
        }
        let limit = frontdesk::portal::links::PER_ADDRESS_LIMIT;
        let sent = frontdesk::portal::links::PER_CONTACT_LIMIT + 1;
        assert_eq!(
            refused,
            Some(limit - sent),
            "the address limit counts every request"
        );
        app.stop().await;
        twilio.stop().await;
    }
);
