//! The HTTP edges: what an integration token may assert about a caller, the tenant of a
//! delivery status, the JSON shape of every rejection, who may read `/metrics` and how many
//! series it can grow, NUL characters in inbound text, and portal tokens parsed strictly.

use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::common::api::{check, post, send, Req, DEMO_NUMBER};
use crate::common::app::{series, TestApp};
use crate::common::twilio::{message_status_params, TwilioClient};
use frontdesk::domain::{Channel, ConversationId, Role, TenantId};
use frontdesk::store::NewOutbound;

const RACHEL: &str = "+15125550155";

async fn allowed_tools(app: &TestApp, conversation: i64) -> Vec<String> {
    app.state
        .store
        .tool_calls(app.demo.demo, ConversationId(conversation))
        .await
        .expect("tool calls")
        .into_iter()
        .filter(|c| c.decision == "allowed")
        .map(|c| c.tool)
        .collect()
}

/// A message over the integration API; the JSON answer (which must be a 200).
async fn api_message(app: &TestApp, token: &str, channel: &str, text: &str, id: &str) -> Value {
    let (status, body) = post(
        app,
        "/api/v1/messages",
        token,
        json!({ "channel": channel, "from": RACHEL, "to": DEMO_NUMBER, "text": text, "external_id": id }),
    )
    .await;
    assert_eq!(status.as_u16(), 200, "`{text}`: {body}");
    body
}

store_test!(
    fn finding_02_integration_token_cannot_read_a_customers_balance(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let token = app.token(app.demo.demo, Role::Integration).await;
        for (n, channel) in ["api", "sms", "voice", "chat"].into_iter().enumerate() {
            let body = api_message(
                &app,
                &token,
                channel,
                "what is my balance",
                &format!("f2-balance-{n}"),
            )
            .await;
            let reply = body["reply"].as_str().unwrap_or_default();
            assert!(
                !reply.contains('$'),
                "{channel}: a balance was given: {reply}"
            );
            let conversation = body["conversation_id"].as_i64().expect("conversation");
            assert!(
                !allowed_tools(&app, conversation)
                    .await
                    .contains(&"get_balance".to_string()),
                "{channel}: get_balance ran"
            );
            let row = app
                .state
                .store
                .conversation(app.demo.demo, ConversationId(conversation))
                .await
                .expect("conversation");
            assert_ne!(row.identity_level.as_str(), "verified", "{channel}");
            assert_eq!(row.channel, Channel::Api, "{channel}: an API conversation");
        }
        // With the knowledge factor (like a voice caller) it is answered.
        let body = api_message(&app, &token, "api", "7305", "f2-balance-factor").await;
        let conversation = body["conversation_id"].as_i64().expect("conversation");
        let row = app
            .state
            .store
            .conversation(app.demo.demo, ConversationId(conversation))
            .await
            .expect("conversation");
        assert_eq!(row.identity_level.as_str(), "verified", "{body}");

        // A token declared to verify its callers (an answering service) is trusted.
        let service = app
            .state
            .store
            .create_token_with(
                app.demo.demo,
                None,
                Role::Integration,
                "answering service",
                true,
                0,
            )
            .await
            .expect("token");
        let body = api_message(&app, &service, "sms", "what is my balance", "f2-svc-1").await;
        let reply = body["reply"].as_str().unwrap_or_default();
        assert!(
            reply.contains('$'),
            "the verified caller hears the balance: {reply}"
        );
        app.stop().await;
    }
);

store_test!(
    fn finding_02_integration_cannot_confirm_an_sms_proposal(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let store = app.state.store.clone();
        let twilio = TwilioClient::new(&app);
        let visit = app.demo.rachel_kim_appointment.expect("Rachel's visit");
        let before = store
            .appointment(app.demo.demo, visit)
            .await
            .expect("visit");

        let offer = twilio.sms(RACHEL, "Hi, can I move my appointment?").await;
        assert!(offer.message().contains("1)"), "{offer:?}");
        let proposal = twilio.sms(RACHEL, "the first one").await;
        assert!(proposal.message().contains("Move your"), "{proposal:?}");
        let sms_conversation = db
            .scalar("SELECT MAX(id) FROM conversations WHERE channel = 'sms'")
            .await;
        let proposed = app
            .state
            .store
            .tool_calls(app.demo.demo, ConversationId(sms_conversation))
            .await
            .expect("tool calls")
            .into_iter()
            .any(|c| c.tool == "reschedule_appointment" && c.decision == "needs_confirmation");
        assert!(proposed, "a reschedule waits for the customer's yes");

        // Even a token trusted to verify its callers never speaks in the carrier's thread.
        for (n, verifies) in [false, true].into_iter().enumerate() {
            let token = store
                .create_token_with(app.demo.demo, None, Role::Integration, "crm", verifies, 0)
                .await
                .expect("token");
            let body = api_message(&app, &token, "sms", "yes", &format!("f2-yes-{n}")).await;
            assert_ne!(
                body["conversation_id"].as_i64(),
                Some(sms_conversation),
                "{body}"
            );
        }
        let after = store
            .appointment(app.demo.demo, visit)
            .await
            .expect("visit");
        assert_eq!(after.slot_id, before.slot_id, "the visit did not move");
        assert_eq!(after.reschedule_count, before.reschedule_count);
        assert!(
            !allowed_tools(&app, sms_conversation)
                .await
                .contains(&"reschedule_appointment".to_string()),
            "nothing was confirmed in the SMS thread"
        );
        app.stop().await;
    }
);

store_test!(
    fn finding_12_delivery_status_is_scoped_to_the_sending_tenant(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let store = app.state.store.clone();
        let now = app.state.clock.now();
        let demo = app.demo.demo;
        let id = store
            .enqueue_outbound(
                demo,
                &NewOutbound {
                    conversation_id: None,
                    channel: Channel::Sms,
                    to: RACHEL.into(),
                    from: DEMO_NUMBER.into(),
                    body: "hello".into(),
                    purpose: "csr_reply".into(),
                },
                now,
            )
            .await
            .expect("queued");
        let sid = "SM0123456789abcdef0123456789abcdef";
        store
            .mark_outbound(id, "sent", Some(sid), None, now)
            .await
            .expect("sent");
        let status_of = |store: frontdesk::store::Store, tenant: TenantId| async move {
            store
                .outbound_of(tenant, None)
                .await
                .expect("outbox")
                .into_iter()
                .find(|o| o.id == id)
                .map(|o| o.status)
        };

        // Another tenant's correctly signed callback naming the demo's message id.
        let twilio = TwilioClient::new(&app);
        let p = message_status_params(sid, "+16175550000", RACHEL, "failed", Some("30003"));
        let ack = twilio.post("/twilio/status", &p).await;
        assert!(ack.status < 500, "{ack:?}");
        assert_eq!(
            status_of(store.clone(), demo).await.as_deref(),
            Some("sent"),
            "another tenant cannot change the demo's delivery status"
        );
        // The owner's callback still applies.
        let p = message_status_params(sid, DEMO_NUMBER, RACHEL, "delivered", None);
        let ack = twilio.post("/twilio/status", &p).await;
        assert!((200..300).contains(&ack.status), "{ack:?}");
        assert_eq!(
            status_of(store.clone(), demo).await.as_deref(),
            Some("delivered")
        );
        app.stop().await;
    }
);

store_test!(
    fn finding_12_every_extractor_rejection_is_a_json_error(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let admin = app.token(app.demo.demo, Role::Admin).await;
        let integration = app.token(app.demo.demo, Role::Integration).await;
        let portal = app.portal_token(app.demo.rachel_kim).await;
        let table: Vec<(Req, u16, &str)> = vec![
            (
                Req::get("/api/v1/operator/customers/%FF").token(&admin),
                400,
                "malformed_id",
            ),
            (
                Req::get("/api/v1/operator/customers/%FF/record").token(&admin),
                400,
                "malformed_id",
            ),
            (
                Req::get("/api/v1/operator/customers/%C3%28").token(&admin),
                400,
                "malformed_id",
            ),
            (
                Req::new(Method::POST, "/api/v1/operator/escalations/%FF/claim").token(&admin),
                400,
                "malformed_id",
            ),
            (
                Req::post(
                    "/api/v1/operator/conversations/%FF/reply",
                    json!({ "text": "hi" }),
                )
                .token(&admin),
                400,
                "malformed_id",
            ),
            (
                Req::get("/api/v1/operator/customers?page=%FF").token(&admin),
                400,
                "invalid_query",
            ),
            // A portal chat GET that is not a WebSocket handshake.
            (
                Req::get("/api/v1/portal/chat").token(&portal),
                400,
                "websocket_required",
            ),
            (
                Req::post("/api/v1/messages", json!([1, 2])).token(&integration),
                400,
                "invalid_json",
            ),
            (
                Req::new(Method::POST, "/api/v1/messages")
                    .token(&integration)
                    .raw_body("{\"channel\":".into()),
                400,
                "invalid_json",
            ),
            (
                Req::new(Method::DELETE, "/api/v1/messages").token(&integration),
                405,
                "method_not_allowed",
            ),
            (Req::get("/no/such/route"), 404, "route_not_found"),
            (Req::get("/api/v1/operator/%FF"), 404, "route_not_found"),
        ];
        for (req, status, code) in table {
            check(&app, req, status, Some(code)).await;
        }
        // Without a JSON content type.
        let res = app
            .http
            .post(app.url("/api/v1/messages"))
            .bearer_auth(&integration)
            .header("content-type", "text/plain")
            .body("hello")
            .send()
            .await
            .expect("post");
        assert_eq!(res.status(), 415);
        let body: Value = res.json().await.expect("a JSON error");
        crate::common::api::assert_error_body(&body, "unsupported_media_type", "text/plain");
        app.stop().await;
    }
);

store_test!(
    fn finding_12_metrics_labels_are_bounded(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        for n in 0..5 {
            let method = Method::from_bytes(format!("BREW{n}").as_bytes()).expect("method");
            let _ = send(&app, &Req::new(method, format!("/random-{n}/x"))).await;
            let _ = send(&app, &Req::get(format!("/random-{n}"))).await;
        }
        let _ = send(&app, &Req::new(Method::PATCH, "/healthz")).await;
        let text = app
            .http
            .get(app.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        assert!(!text.contains("BREW"), "{text}");
        assert!(!text.contains("random-"), "{text}");
        assert!(text.contains("method=\"OTHER\""), "{text}");
        assert!(text.contains("route=\"unmatched\""), "{text}");
        assert!(
            text.contains("method=\"PATCH\",route=\"/healthz\""),
            "{text}"
        );
        app.stop().await;
    }
);

store_test!(
    fn finding_12_metrics_need_the_metrics_token_when_one_is_set(db: &TestDb) {
        let app = TestApp::spawn_with(db, |raw| {
            raw.metrics_token = Some(frontdesk::config::Secret::new("m-0123456789"));
        })
        .await;
        check(&app, Req::get("/metrics"), 401, Some("unauthorized")).await;
        check(
            &app,
            Req::get("/metrics").token("m-0123456789x"),
            401,
            Some("unauthorized"),
        )
        .await;
        let res = app
            .http
            .get(app.url("/metrics"))
            .bearer_auth("m-0123456789")
            .send()
            .await
            .expect("metrics");
        assert_eq!(res.status(), 200);
        assert!(res
            .text()
            .await
            .expect("text")
            .contains("frontdesk_http_requests_total"));
        app.stop().await;
    }
);

store_test!(
    fn finding_15_nul_characters_are_refused_at_the_api_edges(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let integration = app.token(app.demo.demo, Role::Integration).await;
        let admin = app.token(app.demo.demo, Role::Admin).await;
        let portal = app.portal_token(app.demo.rachel_kim).await;
        let table: Vec<Req> = vec![
            Req::post(
                "/api/v1/messages",
                json!({ "channel": "sms", "from": RACHEL, "to": DEMO_NUMBER, "text": "hi\u{0}there", "external_id": "n1" }),
            )
            .token(&integration),
            Req::post(
                "/api/v1/messages",
                json!({ "channel": "sms", "from": RACHEL, "to": DEMO_NUMBER, "text": "hi", "external_id": "n\u{0}2" }),
            )
            .token(&integration),
            Req::post(
                "/api/v1/portal/chat",
                json!({ "text": "hello\u{0}", "client_message_id": "c1" }),
            )
            .token(&portal),
            Req::post(
                "/api/v1/portal/chat",
                json!({ "text": "hello", "client_message_id": "c\u{0}2" }),
            )
            .token(&portal),
            Req::post(
                "/api/v1/portal/events",
                json!({ "kind": "invoice_viewed", "detail": { "note": "a\u{0}b" } }),
            )
            .token(&portal),
            Req::post(
                "/api/v1/operator/conversations/1/reply",
                json!({ "text": "hi\u{0}" }),
            )
            .token(&admin),
        ];
        let before = db.scalar("SELECT COUNT(*) FROM messages").await;
        for req in table {
            check(&app, req, 400, Some("invalid_characters")).await;
        }
        assert_eq!(db.scalar("SELECT COUNT(*) FROM messages").await, before);

        // The portal WebSocket answers the same error in a frame.
        let url = format!("ws://{}/api/v1/portal/chat?token={portal}", app.addr);
        let (mut ws, _) = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            tokio_tungstenite::connect_async(url),
        )
        .await
        .expect("connect in time")
        .expect("websocket");
        ws.send(WsMessage::Text(
            json!({ "text": "when\u{0}", "client_message_id": "w1" })
                .to_string()
                .into(),
        ))
        .await
        .expect("send");
        let frame = tokio::time::timeout(std::time::Duration::from_secs(20), ws.next())
            .await
            .expect("an answer in time")
            .expect("a frame")
            .expect("a good frame");
        let answer: Value = match frame {
            WsMessage::Text(t) => serde_json::from_str(t.as_str()).expect("json frame"),
            other => panic!("expected a text frame, got {other:?}"),
        };
        assert_eq!(answer["error"]["code"], "invalid_characters", "{answer}");
        let _ = ws.close(None).await;
        app.stop().await;
    }
);

store_test!(
    fn finding_15_a_twilio_body_with_nul_is_stored_not_dropped(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let twilio = TwilioClient::new(&app);
        let reply = twilio
            .sms(RACHEL, "how much is\u{0} mosquito service?")
            .await;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert!(reply.message().contains('$'), "answered: {reply:?}");
        let stored = db
            .scalar(
                "SELECT COUNT(*) FROM messages WHERE direction = 'inbound' \
                 AND text = 'how much is\u{FFFD} mosquito service?'",
            )
            .await;
        assert_eq!(stored, 1, "the message is stored with U+FFFD for the NUL");
        app.stop().await;
    }
);

store_test!(
    fn finding_16_a_portal_token_with_anything_appended_is_refused(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let token = app.portal_token(app.demo.rachel_kim).await;
        check(&app, Req::get("/api/v1/portal/me").token(&token), 200, None).await;
        for suffix in ["0", "a", "00", "x", "=", "%", " a"] {
            let bad = format!("{token}{suffix}");
            check(
                &app,
                Req::get("/api/v1/portal/me").authorization(&format!("Bearer {bad}")),
                401,
                Some("unauthorized"),
            )
            .await;
        }
        app.stop().await;
    }
);

store_test!(
    fn domain_metrics_count_turns_escalations_and_overdue_escalations(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let scrape = || app.metrics();
        let turns = "frontdesk_turns_total{channel=\"sms\",outcome=\"escalated\"}";
        let escalations = "frontdesk_escalations_total{reason=\"cancellation\",priority=";
        let before = scrape().await;
        let reply = crate::common::twilio::TwilioClient::new(&app)
            .sms("+15125550155", "I want to cancel my service plan")
            .await;
        assert!(!reply.messages().is_empty(), "{}", reply.body);
        let after = scrape().await;
        assert!(series(&after, turns) > series(&before, turns), "{after}");
        assert!(
            series(&after, escalations) > series(&before, escalations),
            "{after}"
        );
        assert!(
            after.contains("frontdesk_turn_duration_seconds_count{channel=\"sms\"}"),
            "{after}"
        );
        assert!(
            after.contains("# TYPE frontdesk_escalations_overdue gauge"),
            "{after}"
        );
        // A month on, the new escalation is past due.
        let later = app.state.clock.now() + chrono::Duration::days(30);
        let overdue = app
            .state
            .store
            .overdue_escalations(later)
            .await
            .expect("overdue");
        assert!(
            overdue.iter().any(|(slug, n)| slug == "demo" && *n >= 1),
            "{overdue:?}"
        );
        app.stop().await;
    }
);
