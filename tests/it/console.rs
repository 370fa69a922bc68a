//! The web console in a real browser (headless Chromium through chromedriver): a CSR works
//! an escalation live, an admin changes policy, and customer markup stays text. These run on
//! SQLite only: the console reads and writes through the same store API as everything else,
//! which the rest of the suite covers on both engines.

use std::time::Duration;

use serde_json::json;

use crate::common::agent::{rachel_appointment, Conversation};
use crate::common::app::TestApp;
use crate::common::browser::{screens_dir, Browser};
use crate::common::twilio::{fake_twilio, param, TwilioClient, RACHEL_KIM};
use crate::common::TestDb;
use frontdesk::domain::EscalationStatus;

const OLIVIA: &str = "olivia@greenleaf.example";
const CARLOS: &str = "carlos@greenleaf.example";
const OLIVIA_PW: &str = "olivia-console-password-1";
const CARLOS_PW: &str = "carlos-console-password-1";
/// How long a live update may take to reach an open page.
const LIVE: Duration = Duration::from_secs(5);

async fn set_passwords(app: &TestApp) {
    let now = app.state.clock.now();
    for (email, pw) in [(OLIVIA, OLIVIA_PW), (CARLOS, CARLOS_PW)] {
        frontdesk::operators::set_password(&app.state.store, app.demo.demo, email, pw, "test", now)
            .await
            .expect("set password");
    }
}

async fn sign_in(b: &Browser, app: &TestApp, email: &str, password: &str) {
    b.goto(&app.url("/console")).await;
    b.wait_until(
        "the sign-in form",
        "return location.pathname === '/console/sign-in' && !!document.querySelector('#sign-in')",
        b.default_wait,
    )
    .await;
    b.type_into("#email", email).await;
    b.type_into("#password", password).await;
    b.click("#sign-in button").await;
    b.wait_until(
        "the queue after sign-in",
        "return location.pathname === '/console/queue' && document.body.getAttribute('data-live') === 'on'",
        b.default_wait,
    )
    .await;
}

/// Submit a form and wait for the page it reloads into to be ready again.
async fn submit(b: &Browser, form: &str) {
    b.script(
        "document.body.setAttribute('data-before-submit', '1'); return true",
        json!([]),
    )
    .await;
    b.click(&format!("{form} button[type=submit]")).await;
    b.wait_until(
        &format!("{form} to be done"),
        &format!(
            "var f = document.querySelector({f}); var err = f && f.querySelector('.form-error'); \
             if (err && err.textContent) return 'error: ' + err.textContent; \
             return !document.body.hasAttribute('data-before-submit') && document.readyState === 'complete' \
               && (document.querySelectorAll('[data-live][id]').length === 0 || document.body.getAttribute('data-live') === 'on')",
            f = json!(form)
        ),
        b.default_wait,
    )
    .await;
    let err = b
        .script(
            &format!(
                "var e = document.querySelector({} + ' .form-error'); return e ? e.textContent : null",
                json!(form)
            ),
            json!([]),
        )
        .await;
    assert!(err.is_null(), "{form} was refused: {err}");
}

async fn shot(b: &Browser, name: &str) {
    b.screenshot(&screens_dir().join(format!("{name}.png")))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn csr_works_an_escalation_and_admin_changes_policy_in_the_browser() {
    let db = TestDb::sqlite().await;
    db.bounded(async {
        let fake = fake_twilio().await;
        let api_base = fake.api_base();
        let app = TestApp::spawn_with(&db, |raw| raw.twilio_api_base = Some(api_base)).await;
        set_passwords(&app).await;
        let d = app.demo.clone();
        let store = app.state.store.clone();
        let b = Browser::start().await;

        // The CSR signs in and watches the open queue.
        sign_in(&b, &app, CARLOS, CARLOS_PW).await;
        b.open(&app.url("/console/queue?status=open")).await;
        b.wait_until(
            "a page with a CSP and the live stream",
            "return document.body.getAttribute('data-live') === 'on'",
            b.default_wait,
        )
        .await;

        // A customer asks for a person: the escalation appears without a reload.
        b.script("window.__samePage = 'yes'; return true", json!([])).await;
        TwilioClient::new(&app)
            .sms(RACHEL_KIM, "can I talk to a person")
            .await;
        let row = b
            .wait_until(
                "the new escalation on the open queue",
                "var r = Array.from(document.querySelectorAll('tr[data-escalation]')).find(r => r.textContent.includes('Rachel Kim')); \
                 return r ? r.getAttribute('data-escalation') : null",
                LIVE,
            )
            .await;
        let esc: i64 = row.as_str().expect("id").parse().expect("escalation id");
        assert_eq!(
            b.script("return window.__samePage", json!([])).await,
            "yes",
            "no reload"
        );
        shot(&b, "queue").await;

        // Open it, claim it.
        b.click(&format!("tr[data-escalation='{esc}'] a.button")).await;
        b.wait_until(
            "the conversation",
            "return !!document.querySelector('#claim') && document.body.getAttribute('data-live') === 'on'",
            b.default_wait,
        )
        .await;
        b.wait_for_text("#transcript", "can I talk to a person").await;
        submit(&b, "#claim").await;
        b.wait_for_text("#conv-head", "Carlos").await;
        let e = store
            .queue_item(d.demo, frontdesk::domain::EscalationId(esc))
            .await
            .expect("escalation");
        assert_eq!(e.escalation.status, EscalationStatus::Claimed);

        // Reply: the segment counter counts, the loopback Twilio fake receives the SMS.
        let reply = "Hi Rachel, this is Carlos at Greenleaf. I can help with that.";
        b.type_into("#reply-text", reply).await;
        b.wait_for_text("#reply-count", "1 SMS segment").await;
        submit(&b, "#reply").await;
        b.wait_for_text("#transcript", "this is Carlos at Greenleaf").await;
        let sent = fake.wait_for_messages(1, Duration::from_secs(10)).await;
        assert!(
            sent.iter().any(|m| param(&m.form, "To") == Some(RACHEL_KIM)
                && param(&m.form, "Body").is_some_and(|t| t.contains("this is Carlos"))),
            "{sent:?}"
        );
        shot(&b, "conversation").await;
        let conversation_url: String = b
            .script("return location.href", json!([]))
            .await
            .as_str()
            .expect("url")
            .to_string();

        // Reschedule her visit from the record screen, to a window with room.
        let before = rachel_appointment(&app).await;
        b.click("#conv-head a[href^='/console/customers/']").await;
        b.wait_until(
            "the record",
            "return !!document.querySelector('#schedule') && document.body.getAttribute('data-live') === 'on'",
            b.default_wait,
        )
        .await;
        let form = format!("li[data-appointment='{}'] form.reschedule", before.id);
        let picked = b
            .script(
                "var s = document.querySelector(arguments[0] + ' select'); \
                 var o = Array.from(s.options).find(o => !o.disabled && o.value !== String(arguments[1]) && / [1-9][0-9]* left$/.test(o.textContent)); \
                 s.value = o.value; s.dispatchEvent(new Event('change', { bubbles: true })); return Number(o.value)",
                json!([form, before.slot_id.0]),
            )
            .await
            .as_i64()
            .expect("a window with room");
        b.type_into(&format!("{form} input[name=reason]"), "customer asked by text")
            .await;
        shot(&b, "record").await;
        submit(&b, &form).await;
        let after = rachel_appointment(&app).await;
        assert_eq!(after.slot_id.0, picked, "moved to the picked window");
        assert_eq!(after.last_rescheduled_by.as_deref(), Some("csr"));

        // Resolve, handing the conversation back to the agent.
        b.open(&conversation_url).await;
        b.script(
            "document.querySelector('#outcome').value = 'rescheduled'; return true",
            json!([]),
        )
        .await;
        b.type_into("#resolution", "moved the visit as asked").await;
        b.click("#resolve input[name=hand_back]").await;
        submit(&b, "#resolve").await;
        b.wait_for_text("#conv-head", "Resolved").await;
        let e = store
            .queue_item(d.demo, frontdesk::domain::EscalationId(esc))
            .await
            .expect("escalation");
        assert_eq!(e.escalation.status, EscalationStatus::Resolved);
        b.click("header form[data-method=DELETE] button").await;
        b.wait_until(
            "signed out",
            "return location.pathname === '/console/sign-in'",
            b.default_wait,
        )
        .await;

        // The office manager raises the agent's minimum notice; a bad value reads as a message.
        sign_in(&b, &app, OLIVIA, OLIVIA_PW).await;
        b.open(&app.url("/console/admin/policy")).await;
        let field = "#policy input[name='policy.agent_reschedule.min_hours_ahead']";
        b.type_into(field, "5000").await;
        b.click("#policy button[type=submit]").await;
        b.wait_for_text("#policy .form-error", "min_hours_ahead").await;
        let shown = b.text("#policy .form-error").await;
        assert!(!shown.contains('{'), "a readable message, not JSON: {shown}");
        b.type_into(field, "96").await;
        submit(&b, "#policy").await;
        b.wait_for_text("#policy-history", "agent_reschedule.min_hours_ahead: 12 → 96")
            .await;
        b.wait_for_text("#policy-history", "Olivia").await;

        // The next agent turn obeys it: every window offered is at least 96 hours out.
        let now = app.state.clock.now();
        let mut conv = Conversation::sms(&app, RACHEL_KIM);
        conv.say("Hi, can I move my appointment?").await;
        let call = conv
            .tool_calls()
            .await
            .into_iter()
            .rev()
            .find(|c| c.tool == "find_open_windows")
            .expect("the agent looked for windows");
        let windows = call.result["windows"].as_array().cloned().unwrap_or_default();
        assert!(!windows.is_empty(), "{}", call.result);
        for w in &windows {
            let start = chrono::DateTime::parse_from_rfc3339(w["start"].as_str().expect("start"))
                .expect("rfc3339");
            assert!(
                start >= now + chrono::Duration::hours(96),
                "offered {w} sooner than the new notice"
            );
        }

        // The dashboard counts the escalation.
        b.open(&app.url("/console/admin/dashboard")).await;
        let n: i64 = b.text("#kpi-escalations").await.trim().parse().expect("a count");
        assert!(n >= 1, "{n}");
        let reason = e.escalation.reason.as_str().replace('_', " ");
        b.wait_for_text("figure.chart", &reason).await;
        shot(&b, "dashboard").await;

        b.quit().await;
        app.stop().await;
        fake.stop().await;
    })
    .await;
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn customer_markup_renders_as_text_in_every_view() {
    let db = TestDb::sqlite().await;
    db.bounded(async {
        let app = TestApp::spawn(&db).await;
        set_passwords(&app).await;
        let d = app.demo.clone();
        let b = Browser::start().await;
        sign_in(&b, &app, CARLOS, CARLOS_PW).await;
        let evil = "<img src=x onerror=alert(1)>";
        TwilioClient::new(&app)
            .sms(RACHEL_KIM, &format!("{evil} can I talk to a person"))
            .await;
        let no_img_and_visible = format!(
            "return document.querySelectorAll('main img, main script, main [onerror]').length === 0 \
             && document.querySelector('main').innerText.includes({})",
            json!(evil)
        );
        let views = [
            "/console/queue".to_string(),
            format!("/console/customers/{}", d.rachel_kim),
        ];
        for v in &views {
            b.open(&app.url(v)).await;
            b.wait_until(&format!("{v} to show the text"), &no_img_and_visible, LIVE)
                .await;
        }
        // Claimed elsewhere (by another operator through the API): the open queue page shows
        // who, without a reload.
        b.open(&app.url("/console/queue")).await;
        let esc = b
            .script(
                "var r = document.querySelector('tr[data-escalation]'); return r ? r.getAttribute('data-escalation') : null",
                json!([]),
            )
            .await;
        let esc = esc.as_str().expect("an escalation row").to_string();
        b.script("window.__samePage = 'yes'; return true", json!([]))
            .await;
        let olivia = crate::common::api::user_token(
            &app,
            d.demo,
            d.olivia_reyes,
            frontdesk::domain::Role::Admin,
        )
        .await;
        let res = app
            .http
            .post(app.url(&format!("/api/v1/operator/escalations/{esc}/claim")))
            .bearer_auth(&olivia)
            .send()
            .await
            .expect("claim");
        assert!(res.status().is_success(), "{}", res.status());
        b.wait_for_text(
            &format!("tr[data-escalation='{esc}'] .claimed-by"),
            "Olivia Reyes",
        )
        .await;
        assert_eq!(b.script("return window.__samePage", json!([])).await, "yes");
        b.open(&app.url(&views[1])).await;

        let conv = b
            .script(
                "var a = document.querySelector('#conversations a'); return a ? a.getAttribute('href') : null",
                json!([]),
            )
            .await;
        b.open(&app.url(conv.as_str().expect("a conversation link"))).await;
        b.wait_until("the conversation to show the text", &no_img_and_visible, LIVE)
            .await;
        // Every console answer carries the policy that forbids inline script.
        let res = app
            .http
            .get(app.url("/console/sign-in"))
            .send()
            .await
            .expect("sign-in page");
        let csp = res.headers()["content-security-policy"]
            .to_str()
            .expect("ascii")
            .to_string();
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
        b.quit().await;
        app.stop().await;
    })
    .await;
    db.finish().await;
}
