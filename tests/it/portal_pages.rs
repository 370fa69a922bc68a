//! The customer portal's pages in a real browser at phone size (390×844, headless Chromium
//! through chromedriver): sign in by the link read from the loopback SMS fake, move a visit
//! with the window picker, pay a bill through the fake Stripe checkout page, sign an
//! agreement, and chat (the agent answers; a CSR's reply appears live). After each step the
//! operator event stream (the events table the SSE API serves) must show it.

use std::time::{Duration, Instant};

use frontdesk::domain::{AgreementStatus, Cents, Role, SignatureStatus, TenantId};
use frontdesk::store::{Event, EventKind, NewAgreement};
use serde_json::json;

use crate::common::app::TestApp;
use crate::common::browser::{screens_dir, Browser};
use crate::common::stripe::{self as fake_stripe, FakeStripe};
use crate::common::twilio::{fake_twilio, RACHEL_KIM};
use crate::portal::{open_invoice, reschedule_world};

/// The acceptance bound for an action to show on the operator event stream. Each action
/// commits its event in the same transaction, so by the time the page shows the result the
/// event is there; the bound only stops a broken build from hanging.
const ON_STREAM: Duration = Duration::from_secs(2);

/// Wait until an event after `after` matches `pred`; answer it and how long it took.
async fn on_stream(
    app: &TestApp,
    tenant: TenantId,
    after: i64,
    what: &str,
    pred: impl Fn(&Event) -> bool,
) -> (Event, Duration) {
    let started = Instant::now();
    loop {
        let events = app
            .state
            .store
            .events_after(tenant, after, 500)
            .await
            .expect("events");
        if let Some(e) = events.into_iter().find(|e| pred(e)) {
            return (e, started.elapsed());
        }
        assert!(
            started.elapsed() < ON_STREAM,
            "{what} did not reach the operator event stream within {ON_STREAM:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn portal_activity(kind: &'static str) -> impl Fn(&Event) -> bool {
    move |e| e.kind == EventKind::PortalActivity && e.payload["kind"] == kind
}

/// A port for the app, known before it starts, so its public URL (in the texted link and
/// in Stripe's return URL) is where the browser can reach it.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Wait for the page at `path` to have finished loading with its script.
async fn at(b: &Browser, path: &str) {
    b.wait_until(
        &format!("the page {path}"),
        &format!(
            "return location.pathname === {} && document.readyState === 'complete'",
            json!(path)
        ),
        b.default_wait,
    )
    .await;
}

store_test!(
    fn a_customer_signs_in_by_text_moves_a_visit_pays_signs_and_chats_on_a_phone(db: &TestDb) {
        if !crate::common::browser::available() {
            eprintln!("chromedriver not installed; skipping the portal browser test");
            return;
        }
        let twilio = fake_twilio().await;
        let stripe = FakeStripe::start().await;
        let port = free_port();
        let (twilio_base, stripe_base) = (twilio.api_base(), stripe.api_base());
        let app = TestApp::spawn_with(db, move |raw| {
            raw.bind = Some(format!("127.0.0.1:{port}"));
            raw.public_url = Some(format!("http://127.0.0.1:{port}"));
            raw.twilio_api_base = Some(twilio_base);
            raw.stripe_api_base = Some(stripe_base);
            raw.stripe_secret_key = Some(frontdesk::config::Secret::new(fake_stripe::SECRET_KEY));
            raw.stripe_webhook_secret =
                Some(frontdesk::config::Secret::new(fake_stripe::WEBHOOK_SECRET));
        })
        .await;
        let t = app.demo.demo;
        let rachel = app.demo.rachel_kim;
        let store = app.state.store.clone();
        stripe.deliver_webhooks_to(
            &app.url("/webhooks/stripe"),
            app.state.clock.now().timestamp(),
        );
        let w = reschedule_world(&app).await;
        let invoice = open_invoice(&app).await;
        let property = store.properties(t, rachel).await.expect("properties")[0].id;
        let service = store.services(t).await.expect("services")[0].id;
        let today = app.state.clock.now().date_naive();
        let agreement = store
            .insert_agreement(
                t,
                &NewAgreement {
                    customer_id: rachel,
                    property_id: property,
                    service_id: service,
                    status: AgreementStatus::PendingRenewal,
                    signature_status: SignatureStatus::Pending,
                    starts_on: today,
                    renews_on: today + chrono::Duration::days(365),
                    price_cents: Cents(44_900),
                },
            )
            .await
            .expect("agreement");
        let mut took = Vec::new();

        let b = Browser::start().await;
        b.set_size(390, 844).await;
        let shots = screens_dir();

        // Signed out, the portal asks for a phone or e-mail; the page fits the phone.
        b.goto(&app.url("/portal")).await;
        at(&b, "/portal/sign-in").await;
        let fits = b
            .script(
                "return [window.innerWidth, document.documentElement.scrollWidth]",
                json!([]),
            )
            .await;
        let (width, scroll) = (fits[0].as_i64().expect("w"), fits[1].as_i64().expect("s"));
        assert!(width <= 390, "the window is phone-sized: {fits}");
        assert!(
            scroll <= width,
            "nothing scrolls sideways at 390 px: {fits}"
        );
        b.type_into("#contact", RACHEL_KIM).await;
        b.click("#login button[type=submit]").await;
        b.wait_for_text("#login .notice", "sign-in link is on its way")
            .await;

        // The texted link: one tap opens the account.
        twilio.wait_for_messages(1, Duration::from_secs(10)).await;
        let sms = twilio
            .messages_to(RACHEL_KIM)
            .into_iter()
            .last()
            .expect("an SMS");
        let body = sms.field("Body").expect("body").to_string();
        let start = body.find("http://").expect("a link in the SMS");
        let link: String = body[start..]
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect();
        assert!(link.starts_with(&app.url("/portal/link/")), "{link}");
        let before = store.last_event_id(t).await.expect("last");
        b.goto(&link).await;
        b.click("#continue").await;
        at(&b, "/portal").await;
        b.wait_for_text("main h1", "Hello, Rachel").await;
        let (_, d) = on_stream(&app, t, before, "the sign-in", portal_activity("login")).await;
        took.push(("login", d));
        b.screenshot(&shots.join("portal-home-390.png")).await;

        // The visit moves through the window picker.
        let before = store.last_event_id(t).await.expect("last");
        b.goto(&app.url(&format!("/portal/visits/{}", w.appointment)))
            .await;
        at(&b, &format!("/portal/visits/{}", w.appointment)).await;
        assert!(
            b.script(
                &format!(
                    "return !document.querySelector('input[name=slot_id][value=\"{}\"]')",
                    w.far_slot
                ),
                json!([])
            )
            .await
                == json!(true),
            "a window beyond 14 days is not offered"
        );
        b.click(&format!("input[name=slot_id][value=\"{}\"]", w.ok_slot))
            .await;
        b.screenshot(&shots.join("portal-windows-390.png")).await;
        b.click("form.action button[type=submit]").await;
        at(&b, "/portal/visits").await;
        let (moved, d) = on_stream(
            &app,
            t,
            before,
            "the reschedule",
            portal_activity("reschedule_done"),
        )
        .await;
        took.push(("reschedule", d));
        assert_eq!(moved.payload["customer_id"], rachel.0, "{}", moved.payload);
        let a = store.appointment(t, w.appointment).await.expect("visit");
        assert_eq!(a.slot_id, w.ok_slot, "the visit is in the new window");

        // Pay the bill on the provider's page and come back to the paid invoice.
        let before = store.last_event_id(t).await.expect("last");
        b.goto(&app.url("/portal/invoices")).await;
        at(&b, "/portal/invoices").await;
        b.click(&format!(
            "[data-invoice=\"{}\"] button[type=submit]",
            invoice.id
        ))
        .await;
        b.wait_until(
            "the provider's checkout page",
            "return !!document.querySelector('#pay')",
            b.default_wait,
        )
        .await;
        b.click("#pay").await;
        at(&b, &format!("/portal/invoices/{}", invoice.id)).await;
        b.wait_for_text(".notice", "Thank you").await;
        b.wait_for_text("#balance", "$0.00").await;
        let (paid, d) = on_stream(&app, t, before, "the payment", portal_activity("payment")).await;
        took.push(("payment", d));
        assert_eq!(paid.payload["customer_id"], rachel.0, "{}", paid.payload);
        let requests = stripe.requests();
        assert_eq!(requests.len(), 1);
        assert!(
            requests[0].problems.is_empty(),
            "{:?}",
            requests[0].problems
        );

        // Sign the agreement with a typed name and consent.
        let before = store.last_event_id(t).await.expect("last");
        let path = format!("/portal/agreements/{agreement}");
        b.goto(&app.url(&path)).await;
        at(&b, &path).await;
        b.type_into("#full_name", "Rachel Kim").await;
        b.click("#consent").await;
        b.click("form.action button[type=submit]").await;
        b.wait_for_text("main p.notice", "Signed by Rachel Kim")
            .await;
        let (signed, d) = on_stream(
            &app,
            t,
            before,
            "the signature",
            portal_activity("agreement_signed"),
        )
        .await;
        took.push(("signature", d));
        assert_eq!(
            signed.payload["customer_id"], rachel.0,
            "{}",
            signed.payload
        );

        // Chat: the agent answers, and a CSR's reply appears without reloading.
        let before = store.last_event_id(t).await.expect("last");
        b.goto(&app.url("/portal/chat")).await;
        at(&b, "/portal/chat").await;
        b.wait_until(
            "the chat socket",
            "return document.body.getAttribute('data-chat') === 'open'",
            b.default_wait,
        )
        .await;
        let text = "Can the technician also look at the garage?";
        b.type_into("#chat-text", text).await;
        b.click("#chat-form button[type=submit]").await;
        b.wait_until(
            "the agent's answer",
            "return document.querySelectorAll('#chat-log .msg.agent').length > 0",
            Duration::from_secs(30),
        )
        .await;
        let (said, d) = on_stream(&app, t, before, "the chat message", |e| {
            e.kind == EventKind::MessageIn && e.payload["text"] == text
        })
        .await;
        took.push(("chat", d));
        let conv = said.payload["conversation_id"]
            .as_i64()
            .expect("conversation");
        let csr = crate::common::api::user_token(&app, t, app.demo.carlos_mendez, Role::Csr).await;
        let reply = "Hi Rachel, Carlos here. The technician will check the garage too.";
        let (status, body) = crate::common::api::post(
            &app,
            &format!("/api/v1/operator/conversations/{conv}/reply"),
            &csr,
            json!({ "text": reply }),
        )
        .await;
        assert!(status.is_success(), "{status} {body}");
        b.wait_for_text("#chat-log .msg.staff", "Carlos here").await;
        b.screenshot(&shots.join("portal-chat-390.png")).await;

        // The history page lists what the customer did.
        b.goto(&app.url("/portal/history")).await;
        at(&b, "/portal/history").await;
        for label in ["Moved a visit", "Payment", "Signed an agreement"] {
            b.wait_for_text(".history li", label).await;
        }
        eprintln!(
            "portal actions on the operator event stream after the page showed them: {took:?}"
        );
        b.quit().await;
        app.stop().await;
        stripe.stop().await;
        twilio.stop().await;
    }
);

store_test!(
    fn portal_pages_need_the_cookie_links_survive_previews_and_text_stays_text(db: &TestDb) {
        use crate::portal::{ask_link, link_in, spawn_with_twilio};
        let twilio = fake_twilio().await;
        let app = spawn_with_twilio(db, &twilio, None).await;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let header = |res: &reqwest::Response, name: &str| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };

        // Signed out: to the sign-in page, with the strict policy on every answer.
        let res = http
            .get(app.url("/portal/visits"))
            .send()
            .await
            .expect("get");
        assert_eq!(res.status(), 303);
        assert_eq!(header(&res, "location"), "/portal/sign-in");
        assert!(header(&res, "content-security-policy").contains("script-src 'self'"));
        let res = http
            .get(app.url("/portal/sign-in"))
            .send()
            .await
            .expect("get");
        assert_eq!(res.status(), 200);
        assert!(header(&res, "content-security-policy").contains("default-src 'none'"));
        let page = res.text().await.expect("html");
        assert!(page.contains("Greenleaf Pest Control"), "tenant branding");
        assert!(page.contains("brand.css?color=%232E7D32"), "tenant colour");

        // A link preview (GET) does not use the link up; the tap (POST) does, once.
        assert_eq!(ask_link(&app, json!({ "phone": RACHEL_KIM })).await.0, 202);
        twilio.wait_for_messages(1, Duration::from_secs(10)).await;
        let token = link_in(&twilio, RACHEL_KIM).expect("link");
        let link = app.url(&format!("/portal/link/{token}"));
        for _ in 0..2 {
            let res = http.get(&link).send().await.expect("preview");
            assert_eq!(res.status(), 200);
        }
        let res = http.post(&link).send().await.expect("tap");
        assert_eq!(res.status(), 303);
        assert_eq!(header(&res, "location"), "/portal");
        let set = header(&res, "set-cookie");
        assert!(
            set.starts_with("fd_portal=")
                && set.contains("HttpOnly")
                && set.contains("SameSite=Lax"),
            "{set}"
        );
        let cookie = set.split(';').next().expect("pair").to_string();
        let res = http.post(&link).send().await.expect("tap again");
        assert_eq!(res.status(), 401);
        assert!(header(&res, "content-type").starts_with("text/html"));
        assert!(res.text().await.expect("html").contains("cannot be used"));

        // Signed in: the page, and its CSRF token, which API writes by cookie need.
        let res = http
            .get(app.url("/portal"))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("home");
        assert_eq!(res.status(), 200);
        let page = res.text().await.expect("html");
        assert!(page.contains("Hello, Rachel"), "{page}");
        let csrf = page
            .split("name=\"csrf-token\" content=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .expect("csrf meta")
            .to_string();
        let chat = |with_csrf: bool| {
            let mut req = http
                .post(app.url("/api/v1/portal/chat"))
                .header("cookie", &cookie)
                .json(&json!({ "text": "<b>bold</b> & <script>alert(1)</script>" }));
            if with_csrf {
                req = req.header("x-csrf-token", &csrf);
            }
            req.send()
        };
        let res = chat(false).await.expect("chat");
        assert_eq!(res.status(), 403);
        let body: serde_json::Value = res.json().await.expect("json");
        assert_eq!(body["error"]["code"], "csrf_token_invalid");
        assert_eq!(chat(true).await.expect("chat").status(), 200);

        // What the customer typed comes back as text.
        let page = http
            .get(app.url("/portal/chat"))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("chat page")
            .text()
            .await
            .expect("html");
        assert!(
            page.contains("&lt;b&gt;bold&lt;/b&gt; &amp; &lt;script&gt;alert(1)&lt;/script&gt;"),
            "{page}"
        );
        assert!(!page.contains("<script>alert"));

        // Another customer's visit is not found; an unknown asset is a page, not JSON.
        let res = http
            .get(app.url("/portal/visits/999999"))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("visit");
        assert_eq!(res.status(), 404);
        assert!(header(&res, "content-type").starts_with("text/html"));

        // Signing out clears the cookie.
        let res = http
            .post(app.url("/portal/sign-out"))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("sign out");
        assert_eq!(res.status(), 303);
        assert!(header(&res, "set-cookie").contains("Max-Age=0"));
        app.stop().await;
        twilio.stop().await;
    }
);
