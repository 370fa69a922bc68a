//! The operator back end over the served application, on both engines: sign-in and sessions
//! (cookie, CSRF, throttling, expiry, revocation), roles on every operator route for bearer
//! tokens and cookie sessions, a CSR's actions on the record (capacity kept, audited,
//! evented), the append-only audit log, and live events across instances.

use std::time::Duration;

use chrono::Duration as ChronoDuration;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::api::{
    assert_error_body, check, get_ok, open_stream, post, read_events, send, Req,
};
use crate::common::app::TestApp;
use crate::common::TestDb;
use frontdesk::domain::{
    Channel, ConversationId, EscalationId, EscalationReason, IdentityLevel, Priority, Role, SlotId,
    TenantId,
};
use frontdesk::store::{NewConversation, NewEscalation};

const OLIVIA: &str = "olivia@greenleaf.example";
const CARLOS: &str = "carlos@greenleaf.example";
const OLIVIA_PW: &str = "olivia-demo-password-1";
const CARLOS_PW: &str = "carlos-demo-password-1";

async fn set_passwords(app: &TestApp) {
    let now = app.state.clock.now();
    for (email, pw) in [(OLIVIA, OLIVIA_PW), (CARLOS, CARLOS_PW)] {
        frontdesk::operators::set_password(&app.state.store, app.demo.demo, email, pw, "test", now)
            .await
            .expect("set password");
    }
}

/// A signed-in browser: its cookie and CSRF token.
#[derive(Debug, Clone)]
struct Browser {
    cookie: String,
    csrf: String,
}

async fn sign_in_raw(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.http
        .post(app.url("/api/v1/operator/session"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .expect("sign-in request")
}

async fn sign_in(app: &TestApp, email: &str, password: &str) -> Browser {
    let res = sign_in_raw(app, email, password).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let set_cookie = res
        .headers()
        .get("set-cookie")
        .expect("a session cookie")
        .to_str()
        .expect("ascii")
        .to_string();
    let body: Value = res.json().await.expect("json");
    let cookie = set_cookie
        .split(';')
        .next()
        .expect("name=value")
        .to_string();
    Browser {
        cookie,
        csrf: body["csrf_token"].as_str().expect("csrf token").to_string(),
    }
}

/// Send with a session cookie (and the CSRF header when `csrf`).
async fn send_cookie(
    app: &TestApp,
    b: &Browser,
    method: Method,
    path: &str,
    body: Option<&Value>,
    csrf: bool,
) -> (StatusCode, Value) {
    let mut r = app
        .http
        .request(method, app.url(path))
        .header("cookie", &b.cookie);
    if csrf {
        r = r.header("x-csrf-token", &b.csrf);
    }
    if let Some(body) = body {
        r = r.json(body);
    }
    let res = r.send().await.expect("request");
    let status = res.status();
    let text = res.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn open_escalation(
    app: &TestApp,
    tenant: TenantId,
    participant: &str,
) -> (ConversationId, EscalationId) {
    let store = &app.state.store;
    let now = app.state.clock.now();
    let conversation = store
        .insert_conversation(
            tenant,
            &NewConversation {
                channel: Channel::Sms,
                customer_id: None,
                identity_level: IdentityLevel::Anonymous,
                participant: participant.to_string(),
            },
            now,
        )
        .await
        .expect("conversation");
    let escalation = store
        .insert_escalation(
            tenant,
            &NewEscalation {
                conversation_id: conversation,
                customer_id: None,
                reason: EscalationReason::BillingDispute,
                priority: Priority::Normal,
                summary: "test".into(),
                due_at: now + ChronoDuration::hours(4),
            },
            now,
        )
        .await
        .expect("escalation");
    (conversation, escalation)
}

store_test!(
    fn sign_in_sets_a_hardened_cookie_and_answers_unknown_emails_like_wrong_passwords(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        set_passwords(&app).await;

        let res = sign_in_raw(&app, OLIVIA, OLIVIA_PW).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let cookie = res.headers()["set-cookie"]
            .to_str()
            .expect("ascii")
            .to_string();
        for attr in [
            "fd_session=fd_",
            "HttpOnly",
            "SameSite=Strict",
            "Secure",
            "Max-Age=",
        ] {
            assert!(cookie.contains(attr), "cookie lacks {attr}: {cookie}");
        }
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["user"]["role"], "admin");
        assert_eq!(body["tenant"], "demo");

        let wrong = sign_in_raw(&app, OLIVIA, "not her password at all").await;
        let wrong_status = wrong.status();
        let wrong_body: Value = wrong.json().await.expect("json");
        let unknown =
            sign_in_raw(&app, "nobody@greenleaf.example", "not her password at all").await;
        assert_eq!(unknown.status(), wrong_status);
        assert_eq!(wrong_status, StatusCode::UNAUTHORIZED);
        let unknown_body: Value = unknown.json().await.expect("json");
        assert_eq!(unknown_body, wrong_body, "identical answers");
        assert_error_body(&wrong_body, "invalid_credentials", "wrong password");

        // The failure and the success are audited for the existing account.
        let n = db
            .scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'session.sign_in_failed'")
            .await;
        assert_eq!(n, 1);
        let n = db
            .scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'session.sign_in'")
            .await;
        assert_eq!(n, 1);
        app.stop().await;
    }
);

store_test!(
    fn failed_sign_ins_are_throttled_per_account_known_or_not(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        set_passwords(&app).await;
        for email in [CARLOS, "ghost@greenleaf.example"] {
            for _ in 0..5 {
                let res = sign_in_raw(&app, email, "wrong password here").await;
                assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
            }
            // Now even the right password is refused, the same way for both accounts.
            let pw = if email == CARLOS {
                CARLOS_PW
            } else {
                "wrong password here"
            };
            let res = sign_in_raw(&app, email, pw).await;
            assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "{email}");
            let body: Value = res.json().await.expect("json");
            assert_error_body(&body, "too_many_attempts", email);
        }
        // Another account is not affected (the per-address limit is higher).
        sign_in(&app, OLIVIA, OLIVIA_PW).await;
        // The window passes: the account may try again.
        db.execute("UPDATE sign_in_failures SET at = at - 3600")
            .await;
        sign_in(&app, CARLOS, CARLOS_PW).await;
        app.stop().await;
    }
);

store_test!(
    fn failed_sign_ins_are_throttled_per_address(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        set_passwords(&app).await;
        for i in 0..20 {
            let res = sign_in_raw(
                &app,
                &format!("guess{i}@example.com"),
                "wrong password here",
            )
            .await;
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        }
        let res = sign_in_raw(&app, OLIVIA, OLIVIA_PW).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        app.stop().await;
    }
);

store_test!(
    fn sessions_need_csrf_for_writes_expire_and_are_revocable(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        set_passwords(&app).await;
        let carlos = sign_in(&app, CARLOS, CARLOS_PW).await;
        let (s, body) = send_cookie(
            &app,
            &carlos,
            Method::GET,
            "/api/v1/operator/session",
            None,
            false,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(body["csrf_token"], carlos.csrf.as_str());
        assert_eq!(body["user"]["email"], CARLOS);

        let customer = app.demo.john_smith;
        let note_path = format!("/api/v1/operator/customers/{customer}/notes");
        let note = json!({ "text": "prefers morning visits" });
        let (s, body) =
            send_cookie(&app, &carlos, Method::POST, &note_path, Some(&note), false).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        assert_error_body(&body, "csrf_token_invalid", "no csrf");
        let forged = Browser {
            cookie: carlos.cookie.clone(),
            csrf: "fd_forged".into(),
        };
        let (s, _) = send_cookie(&app, &forged, Method::POST, &note_path, Some(&note), true).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, body) =
            send_cookie(&app, &carlos, Method::POST, &note_path, Some(&note), true).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        assert_eq!(body["author"], format!("csr:{}", app.demo.carlos_mendez));

        // Idle too long: refused.
        db.execute("UPDATE operator_sessions SET last_seen_at = last_seen_at - 3601")
            .await;
        let (s, _) = send_cookie(&app, &carlos, Method::GET, &note_path, None, false).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);

        // Past the absolute expiry even when active.
        let carlos = sign_in(&app, CARLOS, CARLOS_PW).await;
        db.execute("UPDATE operator_sessions SET expires_at = created_at WHERE revoked_at IS NULL")
            .await;
        let (s, _) = send_cookie(&app, &carlos, Method::GET, &note_path, None, false).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);

        // Sign-out ends it server-side; a password change ends every session of the user.
        let carlos = sign_in(&app, CARLOS, CARLOS_PW).await;
        let (s, _) = send_cookie(
            &app,
            &carlos,
            Method::DELETE,
            "/api/v1/operator/session",
            None,
            true,
        )
        .await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, _) = send_cookie(&app, &carlos, Method::GET, &note_path, None, false).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let carlos = sign_in(&app, CARLOS, CARLOS_PW).await;
        frontdesk::operators::set_password(
            &app.state.store,
            app.demo.demo,
            CARLOS,
            "a brand new password",
            "test",
            app.state.clock.now(),
        )
        .await
        .expect("password");
        let (s, _) = send_cookie(&app, &carlos, Method::GET, &note_path, None, false).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        app.stop().await;
    }
);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Who {
    Admin,
    Csr,
    Integration,
    Customer,
    Nobody,
    OtherTenant,
    AdminSession,
    CsrSession,
}

/// Which roles a route admits.
#[derive(Clone, Copy)]
enum Allowed {
    Admin,
    Operators,
    Readers,
}

fn admits(allowed: Allowed, who: Who) -> bool {
    use Who::*;
    match allowed {
        Allowed::Admin => matches!(who, Admin | AdminSession | OtherTenant),
        Allowed::Operators => matches!(who, Admin | Csr | AdminSession | CsrSession | OtherTenant),
        Allowed::Readers => matches!(
            who,
            Admin | Csr | Integration | AdminSession | CsrSession | OtherTenant
        ),
    }
}

store_test!(
    fn every_operator_route_checks_its_role(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        set_passwords(&app).await;
        let d = &app.demo;
        let (conv, esc) = open_escalation(&app, d.demo, "+15125550101").await;
        let _ = conv;
        let john = d.john_smith;
        let admin = app.token(d.demo, Role::Admin).await;
        let csr = app.token(d.demo, Role::Csr).await;
        let integration = app.token(d.demo, Role::Integration).await;
        let other = app.token(d.northwind, Role::Admin).await;
        let tenant = app.state.store.tenant(d.demo).await.expect("tenant");
        let customer = frontdesk::auth::portal::sign(
            &tenant.portal_key,
            frontdesk::auth::portal::PortalClaims {
                tenant: d.demo,
                customer: john,
                expires_at: i64::MAX / 2,
            },
        );
        let olivia = sign_in(&app, OLIVIA, OLIVIA_PW).await;
        let carlos = sign_in(&app, CARLOS, CARLOS_PW).await;

        // (method, path, body, who may, status when admitted, status for the other tenant)
        let bad = json!({});
        let rows: Vec<(Method, String, Option<Value>, Allowed, u16, u16)> = vec![
            (
                Method::GET,
                "/tenant".into(),
                None,
                Allowed::Operators,
                200,
                200,
            ),
            (
                Method::GET,
                "/catalog".into(),
                None,
                Allowed::Operators,
                200,
                200,
            ),
            (
                Method::GET,
                "/customers".into(),
                None,
                Allowed::Operators,
                200,
                200,
            ),
            (
                Method::GET,
                format!("/customers/{john}"),
                None,
                Allowed::Operators,
                200,
                404,
            ),
            (
                Method::GET,
                format!("/customers/{john}/record"),
                None,
                Allowed::Operators,
                200,
                404,
            ),
            (
                Method::GET,
                format!("/customers/{john}/notes"),
                None,
                Allowed::Operators,
                200,
                404,
            ),
            (
                Method::GET,
                "/escalations".into(),
                None,
                Allowed::Operators,
                200,
                200,
            ),
            (
                Method::GET,
                format!("/escalations/{esc}"),
                None,
                Allowed::Operators,
                200,
                404,
            ),
            (
                Method::POST,
                "/escalations/x/claim".into(),
                None,
                Allowed::Operators,
                400,
                400,
            ),
            (
                Method::POST,
                format!("/escalations/{esc}/resolve"),
                Some(bad.clone()),
                Allowed::Operators,
                400,
                400,
            ),
            (
                Method::POST,
                "/conversations/x/hand-back".into(),
                None,
                Allowed::Operators,
                400,
                400,
            ),
            (
                Method::POST,
                format!("/conversations/{conv}/reply"),
                Some(bad.clone()),
                Allowed::Operators,
                400,
                400,
            ),
            (
                Method::POST,
                "/appointments/1/reschedule".into(),
                Some(bad.clone()),
                Allowed::Operators,
                400,
                400,
            ),
            (
                Method::POST,
                "/appointments/1/cancel".into(),
                Some(bad.clone()),
                Allowed::Operators,
                400,
                400,
            ),
            (
                Method::POST,
                format!("/customers/{john}/appointments"),
                Some(bad.clone()),
                Allowed::Operators,
                400,
                400,
            ),
            (
                Method::POST,
                format!("/customers/{john}/notes"),
                Some(bad.clone()),
                Allowed::Operators,
                400,
                400,
            ),
            (
                Method::GET,
                "/slots".into(),
                None,
                Allowed::Operators,
                200,
                200,
            ),
            (Method::GET, "/audit".into(), None, Allowed::Admin, 200, 200),
            (
                Method::GET,
                "/webhooks".into(),
                None,
                Allowed::Admin,
                200,
                200,
            ),
            (
                Method::POST,
                "/webhooks".into(),
                Some(bad.clone()),
                Allowed::Admin,
                400,
                400,
            ),
            (
                Method::DELETE,
                "/webhooks/999999".into(),
                None,
                Allowed::Admin,
                404,
                404,
            ),
            (
                Method::GET,
                "/webhooks/999999/deliveries".into(),
                None,
                Allowed::Admin,
                404,
                404,
            ),
            (
                Method::GET,
                "/events".into(),
                None,
                Allowed::Readers,
                200,
                200,
            ),
        ];
        let everyone = [
            Who::Admin,
            Who::Csr,
            Who::Integration,
            Who::Customer,
            Who::Nobody,
            Who::OtherTenant,
            Who::AdminSession,
            Who::CsrSession,
        ];
        for (method, path, body, allowed, ok, other_status) in &rows {
            for who in everyone {
                let url = app.url(&format!("/api/v1/operator{path}"));
                let mut r = app.http.request(method.clone(), url);
                r = match who {
                    Who::Admin => r.bearer_auth(&admin),
                    Who::Csr => r.bearer_auth(&csr),
                    Who::Integration => r.bearer_auth(&integration),
                    Who::Customer => r.bearer_auth(&customer),
                    Who::Nobody => r,
                    Who::OtherTenant => r.bearer_auth(&other),
                    Who::AdminSession => r
                        .header("cookie", &olivia.cookie)
                        .header("x-csrf-token", &olivia.csrf),
                    Who::CsrSession => r
                        .header("cookie", &carlos.cookie)
                        .header("x-csrf-token", &carlos.csrf),
                };
                if let Some(b) = body {
                    r = r.json(b);
                }
                let res = tokio::time::timeout(Duration::from_secs(30), r.send())
                    .await
                    .expect("answer in time")
                    .expect("request");
                let expected = if !admits(*allowed, who) {
                    if matches!(who, Who::Customer | Who::Nobody) {
                        401
                    } else {
                        403
                    }
                } else if who == Who::OtherTenant {
                    *other_status
                } else {
                    *ok
                };
                assert_eq!(
                    res.status().as_u16(),
                    expected,
                    "{method} {path} as {who:?}"
                );
                // Event streams never end: only the status matters here.
                drop(res);
            }
        }
        app.stop().await;
    }
);

/// The first upcoming open appointment of the demo tenant with its property's zone, and a
/// window ahead in that zone other than its own (one with a stop left, one full).
async fn appointment_and_windows(app: &TestApp) -> (i64, i64, i64, Option<i64>) {
    let d = &app.demo;
    let appt = d
        .rachel_kim_appointment
        .expect("Rachel Kim has an upcoming visit");
    let a = app
        .state
        .store
        .appointment(d.demo, appt)
        .await
        .expect("appointment");
    let p = app
        .state
        .store
        .property(d.demo, a.property_id)
        .await
        .expect("property");
    let now = app.state.clock.now();
    let slots = app
        .state
        .store
        .zone_slots_between(
            d.demo,
            Some(p.zone_id),
            now,
            now + ChronoDuration::days(30),
            500,
        )
        .await
        .expect("slots");
    let free = slots
        .iter()
        .find(|s| s.id != a.slot_id && s.booked < s.capacity && s.starts_at > now)
        .expect("a free window");
    let full = slots
        .iter()
        .find(|s| s.id != a.slot_id && s.booked >= s.capacity && s.starts_at > now)
        .map(|s| s.id.0);
    (appt.0, a.slot_id.0, free.id.0, full)
}

async fn booked(db: &TestDb, slot: i64) -> i64 {
    db.scalar(&format!("SELECT booked FROM slots WHERE id = {slot}"))
        .await
}

store_test!(
    fn csr_moves_cancels_and_books_within_capacity_audited_and_evented(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let d = &app.demo;
        let csr = crate::common::api::user_token(&app, d.demo, d.carlos_mendez, Role::Csr).await;
        let (appt, old_slot, free, full) = appointment_and_windows(&app).await;
        let path = format!("/api/v1/operator/appointments/{appt}/reschedule");

        // A reason is required.
        check(
            &app,
            Req::post(&path, json!({ "slot_id": free, "reason": "  " })).token(&csr),
            400,
            Some("empty_reason"),
        )
        .await;
        // A full window is refused and nothing moves.
        let full = match full {
            Some(f) => f,
            None => {
                db.execute(&format!("UPDATE slots SET capacity = booked WHERE id <> {old_slot} AND id <> {free} AND booked > 0")).await;
                db.scalar(&format!("SELECT id FROM slots WHERE id <> {old_slot} AND booked = capacity AND booked > 0 ORDER BY id LIMIT 1")).await
            }
        };
        let (old_before, full_before) = (booked(db, old_slot).await, booked(db, full).await);
        let (status, body) = send(
            &app,
            &Req::post(
                &path,
                json!({ "slot_id": full, "reason": "customer asked" }),
            )
            .token(&csr),
        )
        .await;
        assert!(status == StatusCode::CONFLICT, "{body}");
        assert_eq!(booked(db, old_slot).await, old_before);
        assert_eq!(booked(db, full).await, full_before);

        // A free window: moved, stops follow, audited with before/after, evented.
        let free_before = booked(db, free).await;
        let (status, body) = send(
            &app,
            &Req::post(
                &path,
                json!({ "slot_id": free, "reason": "customer asked, beyond policy" }),
            )
            .token(&csr),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["slot_id"], free);
        assert_eq!(body["last_rescheduled_by"], "csr");
        assert_eq!(booked(db, old_slot).await, old_before - 1);
        assert_eq!(booked(db, free).await, free_before + 1);

        let admin = app.token(d.demo, Role::Admin).await;
        let audit = get_ok(
            &app,
            &format!("/api/v1/operator/audit?action=appointment.reschedule&target_id={appt}"),
            &admin,
        )
        .await;
        let e = &audit["entries"][0];
        assert_eq!(e["actor"], format!("csr:{}", d.carlos_mendez));
        assert_eq!(e["actor_role"], "csr");
        assert_eq!(e["before"]["slot_id"], old_slot);
        assert_eq!(e["after"]["slot_id"], free);
        assert_eq!(e["note"], "customer asked, beyond policy");
        assert_eq!(audit["entries"].as_array().map(Vec::len), Some(1));

        // Cancel: the stop comes back; cancelling again is a conflict.
        let cancel = format!("/api/v1/operator/appointments/{appt}/cancel");
        let body = check(
            &app,
            Req::post(&cancel, json!({ "reason": "moving away" })).token(&csr),
            200,
            None,
        )
        .await;
        assert_eq!(body["status"], "cancelled");
        assert_eq!(booked(db, free).await, free_before);
        check(
            &app,
            Req::post(&cancel, json!({ "reason": "again" })).token(&csr),
            409,
            None,
        )
        .await;

        // Book the freed window again for the same property.
        let a = app
            .state
            .store
            .appointment(d.demo, frontdesk::domain::AppointmentId(appt))
            .await
            .expect("appt");
        let service = app.state.store.services(d.demo).await.expect("services")[0]
            .code
            .clone();
        let book = format!("/api/v1/operator/customers/{}/appointments", a.customer_id);
        let body = check(
            &app,
            Req::post(
                &book,
                json!({ "property_id": a.property_id, "service": service, "slot_id": free }),
            )
            .token(&csr),
            201,
            None,
        )
        .await;
        assert_eq!(body["slot_id"], free);
        assert_eq!(booked(db, free).await, free_before + 1);
        // Another customer's property is not found; a full window is refused.
        let other_book = format!("/api/v1/operator/customers/{}/appointments", d.john_smith);
        check(
            &app,
            Req::post(
                &other_book,
                json!({ "property_id": a.property_id, "service": service, "slot_id": free }),
            )
            .token(&csr),
            404,
            Some("property_not_found"),
        )
        .await;

        // Events: moved, cancelled, created, in that order.
        let kinds: Vec<String> = app
            .state
            .store
            .events_after(d.demo, 0, 1000)
            .await
            .expect("events")
            .into_iter()
            .map(|e| e.kind.to_string())
            .filter(|k| k.starts_with("appointment."))
            .collect();
        assert_eq!(
            kinds,
            [
                "appointment.moved",
                "appointment.cancelled",
                "appointment.created"
            ]
        );

        // Another tenant's CSR finds none of it.
        let other = app.token(d.northwind, Role::Csr).await;
        check(
            &app,
            Req::post(&cancel, json!({ "reason": "x" })).token(&other),
            404,
            Some("appointment_not_found"),
        )
        .await;
        check(
            &app,
            Req::post(&path, json!({ "slot_id": free, "reason": "x" })).token(&other),
            404,
            Some("appointment_not_found"),
        )
        .await;
        app.stop().await;
    }
);

store_test!(
    fn slots_list_windows_with_capacity_left(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let csr = app.token(app.demo.demo, Role::Csr).await;
        let body = get_ok(
            &app,
            "/api/v1/operator/slots?from=2026-11-24&to=2026-11-26",
            &csr,
        )
        .await;
        let slots = body["slots"].as_array().expect("slots");
        assert!(!slots.is_empty());
        for s in slots {
            assert_eq!(
                s["left"],
                s["capacity"].as_i64().unwrap_or(0) - s["booked"].as_i64().unwrap_or(0)
            );
            let start = s["starts_at"].as_str().expect("start");
            assert!(("2026-11-24".."2026-11-26").contains(&start), "{start}");
        }
        check(
            &app,
            Req::get("/api/v1/operator/slots?zone=nowhere").token(&csr),
            404,
            Some("zone_not_found"),
        )
        .await;
        check(
            &app,
            Req::get("/api/v1/operator/slots?from=tomorrow").token(&csr),
            400,
            Some("invalid_query"),
        )
        .await;
        app.stop().await;
    }
);

store_test!(
    fn the_audit_log_is_append_only_in_the_database(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        set_passwords(&app).await;
        sign_in(&app, OLIVIA, OLIVIA_PW).await;
        assert!(db.scalar("SELECT COUNT(*) FROM audit_log").await > 0);
        for sql in [
            "UPDATE audit_log SET actor = 'someone else'",
            "DELETE FROM audit_log",
        ] {
            let refused = std::panic::AssertUnwindSafe(db.execute(sql));
            let outcome = futures_util::FutureExt::catch_unwind(refused).await;
            assert!(outcome.is_err(), "`{sql}` must be refused");
        }
        let admin = app.token(app.demo.demo, Role::Admin).await;
        let body = get_ok(&app, "/api/v1/operator/audit?action=session.", &admin).await;
        assert!(body["entries"].as_array().is_some_and(|e| !e.is_empty()));
        app.stop().await;
    }
);

store_test!(
    fn events_reach_a_stream_on_another_instance_and_resume_loses_nothing(db: &TestDb) {
        let one = TestApp::spawn(db).await;
        let two = TestApp::spawn_instance(db).await;
        let d = one.demo.clone();
        let csr_two = two.token(d.demo, Role::Csr).await;
        let mut stream = open_stream(&two, &csr_two, None).await;

        // An SMS through instance one that the agent escalates.
        let int = one.token(d.demo, Role::Integration).await;
        crate::common::api::text_agent(
            &one,
            &int,
            "+15125550155",
            "I want to speak to a manager about my bill, this is wrong",
            "ev-1",
        )
        .await;
        // The customer's message, the escalation, the agent's acknowledgement.
        let got = read_events(&mut stream, 3).await;
        let kinds: Vec<&str> = got.iter().map(|(_, k, _)| k.as_str()).collect();
        assert_eq!(
            kinds,
            ["message.in", "escalation.opened", "message.out"],
            "{got:?}"
        );
        assert_eq!(got[2].2["payload"]["owner"], "queue");
        let got = &got[1..];
        let first = got[1].0;
        let escalation = got[0].2["payload"]["escalation_id"]
            .as_i64()
            .expect("escalation id");

        // Cut the stream; while it is down, a claim and a reply happen on instance one.
        drop(stream);
        let csr_one =
            crate::common::api::user_token(&one, d.demo, d.carlos_mendez, Role::Csr).await;
        check(
            &one,
            Req::post(
                format!("/api/v1/operator/escalations/{escalation}/claim"),
                json!({}),
            )
            .token(&csr_one),
            200,
            None,
        )
        .await;
        let conv = got[0].2["payload"]["conversation_id"]
            .as_i64()
            .expect("conversation");
        post(
            &one,
            &format!("/api/v1/operator/conversations/{conv}/reply"),
            &csr_one,
            json!({ "text": "Hi, Carlos here." }),
        )
        .await;

        // Resume on instance two from the first id: both, in order, then live ones too.
        let mut stream = open_stream(&two, &csr_two, Some(first)).await;
        let got = read_events(&mut stream, 2).await;
        let kinds: Vec<&str> = got.iter().map(|(_, k, _)| k.as_str()).collect();
        assert_eq!(kinds, ["escalation.claimed", "message.out"]);
        assert!(got[0].0 > first && got[1].0 > got[0].0);
        check(
            &one,
            Req::post(
                format!("/api/v1/operator/escalations/{escalation}/resolve"),
                json!({ "resolution": "explained the bill", "outcome": "answered" }),
            )
            .token(&csr_one),
            200,
            None,
        )
        .await;
        let got = read_events(&mut stream, 1).await;
        assert_eq!(got[0].1, "escalation.resolved");
        assert_eq!(got[0].2["payload"]["outcome"], "answered");

        drop(stream);
        two.stop().await;
        one.stop().await;
    }
);

store_test!(
    fn resolve_takes_an_outcome_code(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let csr = app.token(app.demo.demo, Role::Csr).await;
        let (_, esc) = open_escalation(&app, app.demo.demo, "+15125550102").await;
        let path = format!("/api/v1/operator/escalations/{esc}/resolve");
        check(
            &app,
            Req::post(&path, json!({ "resolution": "done", "outcome": "made_up" })).token(&csr),
            400,
            Some("invalid_outcome"),
        )
        .await;
        check(
            &app,
            Req::post(
                &path,
                json!({ "resolution": "rebooked for Friday", "outcome": "rescheduled" }),
            )
            .token(&csr),
            200,
            None,
        )
        .await;
        assert_eq!(
            db.scalar(&format!(
                "SELECT COUNT(*) FROM escalations WHERE id = {esc} AND outcome = 'rescheduled'"
            ))
            .await,
            1
        );
        app.stop().await;
    }
);

fn chicago(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s)
        .expect("time")
        .with_timezone(&chrono::Utc)
}

const WEEKDAYS_8_TO_5: &str = r#"{ "business_hours": {
    "mon": { "open": "08:00:00", "close": "17:00:00" }, "tue": { "open": "08:00:00", "close": "17:00:00" },
    "wed": { "open": "08:00:00", "close": "17:00:00" }, "thu": { "open": "08:00:00", "close": "17:00:00" },
    "fri": { "open": "08:00:00", "close": "17:00:00" }, "sat": null, "sun": null } }"#;

store_test!(
    fn policy_changes_are_validated_audited_and_seen_by_every_instance(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let two = TestApp::spawn_instance(db).await;
        let d = app.demo.clone();
        let admin = crate::common::api::user_token(&app, d.demo, d.olivia_reyes, Role::Admin).await;
        let csr = app.token(d.demo, Role::Csr).await;
        let before = get_ok(&app, "/api/v1/operator/policy", &admin).await;
        check(
            &app,
            Req::get("/api/v1/operator/policy").token(&csr),
            403,
            Some("forbidden"),
        )
        .await;
        let put = |body: Value| {
            Req::new(Method::PUT, "/api/v1/operator/policy")
                .raw_body(body.to_string())
                .token(&admin)
        };
        check(
            &app,
            put(json!({ "policy": { "quiet_hours_start": 25 } })),
            400,
            Some("policy_out_of_range"),
        )
        .await;
        check(
            &app,
            put(json!({ "policy": { "nope": 1 } })),
            400,
            Some("unknown_setting"),
        )
        .await;
        check(
            &app,
            put(json!({ "on_call_number": "not a phone" })),
            400,
            Some("invalid_on_call_number"),
        )
        .await;
        check(
            &app,
            put(
                json!({ "business_hours": { "mon": { "open": "18:00:00", "close": "09:00:00" } } }),
            ),
            400,
            Some("invalid_business_hours"),
        )
        .await;
        check(
            &app,
            Req::new(Method::PUT, "/api/v1/operator/policy")
                .raw_body(json!({ "policy": { "sms_max_segments": 3 } }).to_string())
                .token(&csr),
            403,
            None,
        )
        .await;
        // Nothing changed so far.
        assert_eq!(
            get_ok(&app, "/api/v1/operator/policy", &admin).await,
            before
        );

        let body = check(&app, put(json!({ "policy": { "agent_reschedule": { "max_reschedules": 1 }, "quiet_hours_start": 20 }, "on_call_number": "+15125550177" })), 200, None).await;
        assert_eq!(body["policy"]["agent_reschedule"]["max_reschedules"], 1);
        assert_eq!(
            body["policy"]["agent_reschedule"]["min_hours_ahead"],
            before["policy"]["agent_reschedule"]["min_hours_ahead"]
        );
        // The other instance hears of the change (PostgreSQL: its listener drops its copy of
        // the tenant; SQLite: one process, one copy) and reads the new settings.
        let admin_two = two.token(d.demo, Role::Admin).await;
        let seen = crate::common::twilio::eventually(Duration::from_secs(10), || async {
            let seen = get_ok(&two, "/api/v1/operator/policy", &admin_two).await;
            (seen == body).then_some(seen)
        })
        .await;
        assert_eq!(
            seen.as_ref(),
            Some(&body),
            "instance two never saw the change"
        );
        let t = two.state.store.tenant(d.demo).await.expect("tenant");
        assert_eq!(t.policy.agent_reschedule.max_reschedules, 1);
        assert_eq!(t.on_call_number.as_deref(), Some("+15125550177"));

        let audit = get_ok(
            &app,
            "/api/v1/operator/audit?action=tenant.settings",
            &admin,
        )
        .await;
        let e = &audit["entries"][0];
        assert_eq!(e["actor"], format!("csr:{}", d.olivia_reyes));
        assert_eq!(e["before"], before);
        assert_eq!(e["after"], body);
        two.stop().await;
        app.stop().await;
    }
);

store_test!(
    fn the_summary_report_matches_hand_computed_numbers(db: &TestDb) {
        use frontdesk::domain::{AppointmentStatus, Cents, CustomerId, PhoneE164, PortalEventKind};
        use frontdesk::store::{Csr, NewAppointment, NewToolCall};

        let app = TestApp::spawn(db).await;
        let d = app.demo.clone();
        let store = app.state.store.clone();
        let admin = app.token(d.demo, Role::Admin).await;
        check(
            &app,
            Req::new(Method::PUT, "/api/v1/operator/policy")
                .raw_body(WEEKDAYS_8_TO_5.to_string())
                .token(&admin),
            200,
            None,
        )
        .await;
        let t = d.demo;
        let carlos = Csr::new(Some(d.carlos_mendez), Role::Csr);

        let conv = |channel: Channel, participant: &'static str, at: &'static str| {
            let store = store.clone();
            async move {
                store
                    .insert_conversation(
                        t,
                        &NewConversation {
                            channel,
                            customer_id: None,
                            identity_level: IdentityLevel::Anonymous,
                            participant: participant.into(),
                        },
                        chicago(at),
                    )
                    .await
                    .expect("conversation")
            }
        };
        let escalate = |c: ConversationId,
                        reason: EscalationReason,
                        priority: Priority,
                        at: &'static str,
                        due: &'static str| {
            let store = store.clone();
            async move {
                store
                    .insert_escalation(
                        t,
                        &NewEscalation {
                            conversation_id: c,
                            customer_id: None,
                            reason,
                            priority,
                            summary: "s".into(),
                            due_at: chicago(due),
                        },
                        chicago(at),
                    )
                    .await
                    .expect("escalation")
            }
        };
        // Monday 2027-03-01 .. Monday 2027-03-08, America/Chicago (UTC-6).
        let _c1 = conv(Channel::Sms, "+15125550301", "2027-03-01T10:00:00-06:00").await;
        let c2 = conv(Channel::Sms, "+15125550302", "2027-03-01T21:00:00-06:00").await;
        let c3 = conv(Channel::Voice, "+15125550303", "2027-03-02T03:00:00-06:00").await;
        let _c4 = conv(Channel::Chat, "portal:x", "2027-03-03T11:00:00-06:00").await;
        let _outside = conv(Channel::Sms, "+15125550305", "2027-03-08T09:00:00-06:00").await;
        // e1: claimed after 30 min (before due), resolved after 60.
        let e1 = escalate(
            c2,
            EscalationReason::BillingDispute,
            Priority::Normal,
            "2027-03-01T21:00:00-06:00",
            "2027-03-02T01:00:00-06:00",
        )
        .await;
        store
            .claim_escalation(t, e1, &carlos, chicago("2027-03-01T21:30:00-06:00"))
            .await
            .expect("claim");
        store
            .resolve_escalation(
                t,
                e1,
                &carlos,
                "done",
                "answered",
                false,
                chicago("2027-03-01T22:00:00-06:00"),
            )
            .await
            .expect("resolve");
        // e2: never claimed, resolved after 120 min, past its due time: a breach.
        let e2 = escalate(
            c3,
            EscalationReason::Emergency,
            Priority::High,
            "2027-03-02T03:00:00-06:00",
            "2027-03-02T04:00:00-06:00",
        )
        .await;
        store
            .resolve_escalation(
                t,
                e2,
                &carlos,
                "tech sent",
                "technician_dispatched",
                false,
                chicago("2027-03-02T05:00:00-06:00"),
            )
            .await
            .expect("resolve");

        // An agent booking after hours (12 345 cents) and a CSR booking in hours.
        let john = d.john_smith;
        let property = store.properties(t, john).await.expect("properties")[0].clone();
        let service = store.services(t).await.expect("services")[0].id;
        let now = app.state.clock.now();
        let open: Vec<i64> = store
            .zone_slots_between(
                t,
                Some(property.zone_id),
                now,
                now + ChronoDuration::days(60),
                500,
            )
            .await
            .expect("slots")
            .into_iter()
            .filter(|s| s.booked + 1 < s.capacity)
            .map(|s| s.id.0)
            .collect();
        let new = |slot: i64, cents: i64| NewAppointment {
            customer_id: CustomerId(john.0),
            property_id: property.id,
            service_id: service,
            slot_id: SlotId(slot),
            status: AppointmentStatus::Scheduled,
            price_cents: Cents(cents),
        };
        let agent_appt = store
            .book_appointment(
                t,
                &new(open[0], 12_345),
                chicago("2027-03-01T22:30:00-06:00"),
            )
            .await
            .expect("book");
        let call = |tool: &str, decision: &str, result: Value| NewToolCall {
            tool: tool.into(),
            arguments: json!({}),
            result,
            decision: decision.parse().expect("a decision"),
            rule: "test".into(),
        };
        store
            .insert_tool_call(
                t,
                c2,
                &call(
                    "book_service",
                    "allowed",
                    json!({ "status": "booked", "appointment_id": agent_appt }),
                ),
                chicago("2027-03-01T22:30:00-06:00"),
            )
            .await
            .expect("call");
        let csr_appt = store
            .operator_book(
                t,
                &carlos,
                &new(open[1], 5_000),
                chicago("2027-03-02T10:00:00-06:00"),
            )
            .await
            .expect("book");
        // Reschedules: one by the agent (a refused attempt does not count), one by a CSR, one in the portal.
        store
            .insert_tool_call(
                t,
                c2,
                &call(
                    "reschedule_appointment",
                    "allowed",
                    json!({ "status": "rescheduled" }),
                ),
                chicago("2027-03-03T12:00:00-06:00"),
            )
            .await
            .expect("call");
        store
            .insert_tool_call(
                t,
                c2,
                &call(
                    "reschedule_appointment",
                    "refused",
                    json!({ "status": "refused" }),
                ),
                chicago("2027-03-03T12:05:00-06:00"),
            )
            .await
            .expect("call");
        store
            .operator_reschedule(
                t,
                &carlos,
                csr_appt,
                SlotId(open[2]),
                "asked",
                chicago("2027-03-04T10:00:00-06:00"),
            )
            .await
            .expect("move");
        store
            .insert_portal_event(
                t,
                john,
                PortalEventKind::RescheduleDone,
                &json!({}),
                chicago("2027-03-04T12:00:00-06:00"),
            )
            .await
            .expect("portal");
        store
            .insert_portal_event(
                t,
                john,
                PortalEventKind::RescheduleDone,
                &json!({}),
                chicago("2027-03-09T12:00:00-06:00"),
            )
            .await
            .expect("portal");
        // One opt-out inside the window.
        store
            .opt_out(
                t,
                &PhoneE164::parse("+15125550399").expect("phone"),
                chicago("2027-03-05T12:00:00-06:00"),
            )
            .await
            .expect("opt out");

        let body = get_ok(
            &app,
            "/api/v1/operator/reports/summary?from=2027-03-01&to=2027-03-08",
            &admin,
        )
        .await;
        let s = &body["summary"];
        let expected = json!({
            "conversations": 4,
            "conversations_by_channel": { "chat": 1, "sms": 2, "voice": 1 },
            "contained": 2,
            "containment_rate": 0.5,
            "escalations": 2,
            "escalations_by_reason": { "billing_dispute": 1, "emergency": 1 },
            "escalations_by_priority": { "high": 1, "normal": 1 },
            "median_minutes_to_claim": 30.0,
            "median_minutes_to_resolve": 90.0,
            "sla_breaches": 1,
            "after_hours_conversations": 2,
            "after_hours_bookings": 1,
            "reschedules_by_agent": 1,
            "reschedules_by_csr": 1,
            "reschedules_by_portal": 1,
            "agent_bookings": 1,
            "agent_revenue_cents": 12345,
            "opt_outs": 1,
        });
        assert_eq!(s, &expected);

        let res =
            app.http
                .get(app.url(
                    "/api/v1/operator/reports/summary?from=2027-03-01&to=2027-03-08&format=csv",
                ))
                .bearer_auth(&admin)
                .send()
                .await
                .expect("csv");
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/csv"));
        let csv = res.text().await.expect("text");
        assert!(csv.starts_with("metric,value\n"));
        for line in [
            "conversations,4",
            "conversations_by_channel.sms,2",
            "agent_revenue_cents,12345",
            "median_minutes_to_resolve,90.0",
            "sla_breaches,1",
        ] {
            assert!(csv.lines().any(|l| l == line), "{line} in\n{csv}");
        }
        check(
            &app,
            Req::get("/api/v1/operator/reports/summary?from=2027-03-08&to=2027-03-01")
                .token(&admin),
            400,
            Some("invalid_query"),
        )
        .await;
        let csr = app.token(t, Role::Csr).await;
        check(
            &app,
            Req::get("/api/v1/operator/reports/summary?from=2027-03-01&to=2027-03-08").token(&csr),
            403,
            None,
        )
        .await;
        app.stop().await;
    }
);

store_test!(
    fn a_cancellation_escalation_is_finished_entirely_through_the_api(db: &TestDb) {
        use crate::common::twilio::{fake_twilio, param, TwilioClient, RACHEL_KIM};

        let fake = fake_twilio().await;
        let api_base = fake.api_base();
        let app = TestApp::spawn_with(db, |raw| raw.twilio_api_base = Some(api_base)).await;
        let d = app.demo.clone();
        let appt = d.rachel_kim_appointment.expect("Rachel has a visit");
        let admin = app.token(d.demo, Role::Admin).await;
        let csr = crate::common::api::user_token(&app, d.demo, d.carlos_mendez, Role::Csr).await;
        let report = "/api/v1/operator/reports/summary?from=2026-11-23&to=2026-11-24";
        let before = get_ok(&app, report, &admin).await["summary"].clone();
        let mut stream = open_stream(&app, &csr, None).await;

        TwilioClient::new(&app)
            .sms(RACHEL_KIM, "I want to cancel my appointment, we're moving")
            .await;
        let got = read_events(&mut stream, 3).await;
        let kinds: Vec<&str> = got.iter().map(|(_, k, _)| k.as_str()).collect();
        assert_eq!(
            kinds,
            ["message.in", "escalation.opened", "message.out"],
            "{got:?}"
        );
        let payload = &got[1].2["payload"];
        assert_eq!(payload["reason"], "cancellation");
        let esc = payload["escalation_id"].as_i64().expect("escalation");
        let conv = payload["conversation_id"].as_i64().expect("conversation");

        check(
            &app,
            Req::post(
                format!("/api/v1/operator/escalations/{esc}/claim"),
                json!({}),
            )
            .token(&csr),
            200,
            None,
        )
        .await;
        check(
            &app,
            Req::post(
                format!("/api/v1/operator/appointments/{appt}/cancel"),
                json!({ "reason": "moving out of the area" }),
            )
            .token(&csr),
            200,
            None,
        )
        .await;
        let sent = check(
            &app,
            Req::post(
                format!("/api/v1/operator/conversations/{conv}/reply"),
                json!({ "text": "Done, your visit is cancelled. Good luck with the move!" }),
            )
            .token(&csr),
            201,
            None,
        )
        .await;
        assert_eq!(sent["delivery"], "sms_queued");
        check(&app, Req::post(format!("/api/v1/operator/escalations/{esc}/resolve"), json!({ "resolution": "cancelled at the customer's request", "outcome": "cancelled" })).token(&csr), 200, None).await;

        // The loopback Twilio fake received the reply.
        let messages = fake.wait_for_messages(1, Duration::from_secs(10)).await;
        assert!(
            messages
                .iter()
                .any(|m| param(&m.form, "To") == Some(RACHEL_KIM)
                    && param(&m.form, "Body").is_some_and(|b| b.contains("cancelled"))),
            "{messages:?}"
        );
        // The stream saw each step, in order.
        let got = read_events(&mut stream, 4).await;
        let kinds: Vec<&str> = got.iter().map(|(_, k, _)| k.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "escalation.claimed",
                "appointment.cancelled",
                "message.out",
                "escalation.resolved"
            ]
        );
        drop(stream);
        // The record shows the visit cancelled and the escalation resolved.
        let record = get_ok(
            &app,
            &format!("/api/v1/operator/customers/{}/record", d.rachel_kim),
            &csr,
        )
        .await;
        let visit = record["schedule"]
            .as_array()
            .expect("schedule")
            .iter()
            .find(|s| s["id"] == appt.0)
            .cloned()
            .expect("the visit");
        assert_eq!(visit["status"], "cancelled", "{visit}");
        let e = record["escalations"]
            .as_array()
            .expect("escalations")
            .iter()
            .find(|e| e["id"] == esc)
            .cloned()
            .expect("the escalation");
        assert_eq!(e["status"], "resolved");
        // The audit log has each action.
        let actions: Vec<String> = get_ok(
            &app,
            &format!("/api/v1/operator/audit?actor=csr:{}", d.carlos_mendez),
            &admin,
        )
        .await["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .rev()
            .map(|e| e["action"].as_str().unwrap_or("").to_string())
            .collect();
        assert_eq!(
            actions,
            [
                "escalation.claim",
                "appointment.cancel",
                "conversation.reply",
                "escalation.resolve"
            ]
        );
        // The report counts it.
        let after = get_ok(&app, report, &admin).await["summary"].clone();
        let n = |v: &Value, k: &str| v[k].as_i64().unwrap_or(0);
        assert_eq!(n(&after, "escalations"), n(&before, "escalations") + 1);
        assert_eq!(
            after["escalations_by_reason"]["cancellation"]
                .as_i64()
                .unwrap_or(0),
            before["escalations_by_reason"]["cancellation"]
                .as_i64()
                .unwrap_or(0)
                + 1
        );
        assert_eq!(n(&after, "conversations"), n(&before, "conversations") + 1);
        app.stop().await;
        fake.stop().await;
    }
);

store_test!(
    fn first_start_gives_the_demo_operators_passwords_once(db: &TestDb) {
        use frontdesk::config::RawSettings;
        let settings = || {
            RawSettings {
                database_url: Some(db.url().to_string()),
                bind: Some("127.0.0.1:0".into()),
                clock: Some(crate::common::app::CLOCK.into()),
                whisper_model: Some("off".into()),
                seed_demo: Some(true),
                ..RawSettings::default()
            }
            .resolve()
            .expect("settings")
        };
        let store = db.store();
        let state = frontdesk::app::build_state(settings(), store.clone())
            .await
            .expect("first start");
        let tenant = store
            .tenant_by_slug("demo")
            .await
            .expect("lookup")
            .expect("demo seeded");
        let mut hashes = Vec::new();
        for email in [OLIVIA, CARLOS] {
            let u = store.user_by_email(tenant.id, email).await.expect("user");
            let h = u.password_hash.expect("a password was set at first start");
            assert!(h.starts_with("$argon2id$"), "{h}");
            hashes.push(h);
        }
        drop(state);
        // A second start leaves them alone.
        frontdesk::app::build_state(settings(), store.clone())
            .await
            .expect("second start");
        for (email, h) in [OLIVIA, CARLOS].iter().zip(&hashes) {
            let u = store.user_by_email(tenant.id, email).await.expect("user");
            assert_eq!(u.password_hash.as_ref(), Some(h));
        }
        let n = db
            .scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'user.password_set'")
            .await;
        assert_eq!(n, 2);
    }
);
