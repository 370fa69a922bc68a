//! Rate limits: the integration message API per token, portal chat per customer, and the
//! reply-loop guard on SMS (messages stored and run, replies withheld), each answered in the
//! JSON error shape with `Retry-After`.

use serde_json::json;

use crate::common::api::{post, send, Req, DEMO_NUMBER};
use crate::common::app::TestApp;
use crate::common::twilio::{sid, sms_params, TwilioClient};
use frontdesk::auth::portal::{self, PortalClaims};
use frontdesk::domain::{CustomerId, Role};
use frontdesk::store::Delivery;

store_test! {
    fn integration_messages_are_limited_per_token(db: &TestDb) {
        let app = TestApp::spawn_with(db, |raw| {
            raw.rate_limit_messages = Some("60/min,burst=2".into());
        })
        .await;
        let a = app.token(app.demo.demo, Role::Integration).await;
        let b = app.token(app.demo.demo, Role::Integration).await;
        let msg = |n: u32| json!({ "channel": "sms", "from": "+15125550177", "to": DEMO_NUMBER,
                                   "text": "how much is ant treatment", "external_id": format!("rl-{n}") });
        for n in 0..2 {
            let (status, body) = post(&app, "/api/v1/messages", &a, msg(n)).await;
            assert_eq!(status.as_u16(), 200, "{body}");
        }
        let response = app
            .http
            .post(app.url("/api/v1/messages"))
            .bearer_auth(&a)
            .json(&msg(2))
            .send()
            .await
            .expect("ok");
        assert_eq!(response.status().as_u16(), 429);
        let retry: u64 = response.headers()["retry-after"].to_str().expect("ok").parse().expect("ok");
        assert!((1..=60).contains(&retry), "Retry-After {retry}");
        let body: serde_json::Value = response.json().await.expect("ok");
        assert_eq!(body["error"]["code"], "rate_limited", "{body}");
        // Another token has its own allowance.
        let (status, body) = post(&app, "/api/v1/messages", &b, msg(3)).await;
        assert_eq!(status.as_u16(), 200, "{body}");
        app.stop().await;
    }
}

store_test! {
    fn portal_chat_is_limited_per_customer(db: &TestDb) {
        let app = TestApp::spawn_with(db, |raw| {
            raw.rate_limit_portal_chat_customer = Some("60/min,burst=2".into());
        })
        .await;
        let tenant = app.state.store.tenant(app.demo.demo).await.expect("ok");
        let token = |customer: CustomerId| {
            portal::sign(
                &tenant.portal_key,
                PortalClaims {
                    tenant: tenant.id,
                    customer,
                    expires_at: app.state.clock.now().timestamp() + 3600,
                },
            )
        };
        let (customers, _) = app.state.store.list_customers(tenant.id, 1, 2).await.expect("ok");
        let (first, second) = (token(customers[0].id), token(customers[1].id));
        for _ in 0..2 {
            let (status, body) =
                post(&app, "/api/v1/portal/chat", &first, json!({ "text": "hi" })).await;
            assert_eq!(status.as_u16(), 200, "{body}");
        }
        let (status, body) =
            send(&app, &Req::post("/api/v1/portal/chat", json!({ "text": "hi" })).token(&first)).await;
        assert_eq!(status.as_u16(), 429, "{body}");
        assert_eq!(body["error"]["code"], "rate_limited", "{body}");
        let (status, body) =
            post(&app, "/api/v1/portal/chat", &second, json!({ "text": "hi" })).await;
        assert_eq!(status.as_u16(), 200, "{body}");
        app.stop().await;
    }
}

store_test! {
    fn a_number_in_a_reply_loop_is_stored_and_run_but_not_answered(db: &TestDb) {
        let app = TestApp::spawn_with(db, |raw| {
            raw.rate_limit_sms_replies = Some("60/min,burst=2".into());
        })
        .await;
        let twilio = TwilioClient::new(&app);
        let from = "+15125550188";
        let sids: Vec<String> = (0..3).map(|_| sid("SM")).collect();
        let mut replies = vec![];
        for s in &sids {
            let p = sms_params(s, from, DEMO_NUMBER, "Thanks for your message! We'll reply soon.");
            replies.push(twilio.post("/twilio/sms", &p).await);
        }
        assert!(!replies[0].messages().is_empty(), "{}", replies[0].body);
        assert!(!replies[1].messages().is_empty(), "{}", replies[1].body);
        assert!(replies[2].is_empty_response(), "{}", replies[2].body);
        let tenant = app.demo.demo;
        let third = app
            .state
            .store
            .inbox_item(tenant, &sids[2])
            .await
            .expect("ok")
            .expect("the third message is stored");
        assert!(third.done, "the third message still ran");
        assert_eq!(third.delivery, Some(Delivery::Withheld));
        // Nothing was queued to text it later either.
        let queued = app
            .state
            .store
            .outbound_of(tenant, Some(third.conversation_id))
            .await
            .expect("ok");
        assert!(queued.is_empty(), "{queued:?}");
        // Another number is answered.
        let other = twilio.sms("+15125550189", "hi").await;
        assert!(!other.messages().is_empty(), "{}", other.body);
        app.stop().await;
    }
}
