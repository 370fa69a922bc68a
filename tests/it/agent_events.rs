//! Live events from the agent's side: every turn's message in and out, a customer writing
//! while the queue owns the conversation, the agent's and the portal's appointment changes,
//! and portal activity — each stored in the transaction that wrote the change.

use frontdesk::domain::Role;
use frontdesk::store::Event;
use serde_json::{json, Value};

use crate::common::agent::*;
use crate::common::api::{open_stream, read_events};
use crate::common::app::TestApp;

async fn events_since(app: &TestApp, after: i64) -> Vec<Event> {
    app.state
        .store
        .events_after(app.demo.demo, after, 1000)
        .await
        .expect("events")
}

fn kinds(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| e.kind.to_string()).collect()
}

store_test!(
    fn sms_turn_emits_message_in_and_out_on_the_stream(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let admin = app.token(app.demo.demo, Role::Admin).await;
        let mut stream = open_stream(&app, &admin, None).await;
        let mut conv = Conversation::sms(&app, RACHEL);
        let reply = conv.say("how much is mosquito service?").await;

        let got = read_events(&mut stream, 2).await;
        let conv_id = conv.id().0;
        assert_eq!(got[0].1, "message.in", "{got:?}");
        assert_eq!(got[0].2["payload"]["conversation_id"], conv_id);
        assert_eq!(got[0].2["payload"]["owner"], "agent");
        assert_eq!(got[0].2["payload"]["author"], "customer");
        assert_eq!(got[0].2["payload"]["channel"], "sms");
        assert_eq!(got[1].1, "message.out", "{got:?}");
        assert_eq!(got[1].2["payload"]["conversation_id"], conv_id);
        assert_eq!(got[1].2["payload"]["owner"], "agent");
        assert_eq!(got[1].2["payload"]["author"], "agent");
        assert_eq!(got[1].2["payload"]["text"], Value::String(reply));
        assert!(got[0].0 < got[1].0, "ids increase");
        app.stop().await;
    }
);

store_test!(
    fn queue_owned_message_marks_customer_waiting_and_gets_no_reply(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let mut conv = Conversation::sms(&app, RACHEL);
        let first = conv.send("I want to talk to a human").await;
        assert!(first.escalated, "escalated");
        let kinds_first = kinds(&events_since(&app, 0).await);
        assert!(
            kinds_first.contains(&"escalation.opened".to_string())
                && kinds_first.contains(&"message.out".to_string()),
            "{kinds_first:?}"
        );
        let before = app
            .state
            .store
            .last_event_id(app.demo.demo)
            .await
            .expect("last id");
        let admin = app.token(app.demo.demo, Role::Admin).await;
        let mut stream = open_stream(&app, &admin, Some(before)).await;

        let out = conv.send("hello? is anyone there?").await;
        assert_eq!(out.reply, None, "the agent stays silent");
        let got = read_events(&mut stream, 2).await;
        assert_eq!(got[0].1, "message.in");
        assert_eq!(got[0].2["payload"]["owner"], "queue");
        assert_eq!(got[1].1, "escalation.customer_waiting");
        assert_eq!(got[1].2["payload"]["conversation_id"], conv.id().0);
        assert_eq!(
            got[1].2["payload"]["escalation_ids"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
        // Nothing else: no reply, no message.out.
        assert_eq!(
            kinds(&events_since(&app, before).await),
            ["message.in", "escalation.customer_waiting"]
        );
        let texts = conv.stored_texts().await;
        assert_eq!(
            texts.last().map(String::as_str),
            Some("hello? is anyone there?")
        );
        // The queue shows the customer waiting.
        let e = got[1].2["payload"]["escalation_ids"][0]
            .as_i64()
            .expect("id");
        let item = app
            .state
            .store
            .queue_item(app.demo.demo, frontdesk::domain::EscalationId(e))
            .await
            .expect("queue item");
        assert!(item.customer_waiting_since.is_some());
        app.stop().await;
    }
);

store_test!(
    fn agent_reschedule_emits_appointment_moved_by_agent(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let before = rachel_appointment(&app).await;
        let mut conv = Conversation::sms(&app, RACHEL);
        conv.say("Hi, can I move my appointment?").await;
        conv.say("the second one").await;
        let start = app
            .state
            .store
            .last_event_id(app.demo.demo)
            .await
            .expect("last id");
        conv.say("yes").await;
        let after = rachel_appointment(&app).await;
        assert_ne!(after.slot_id, before.slot_id, "moved");
        let events = events_since(&app, start).await;
        assert_eq!(
            kinds(&events),
            ["message.in", "appointment.moved", "message.out"]
        );
        let moved = &events[1].payload;
        assert_eq!(moved["appointment_id"], before.id.0);
        assert_eq!(moved["by"], "agent");
        assert_eq!(moved["slot_id"], after.slot_id.0);
        assert_eq!(moved["conversation_id"], conv.id().0);
        app.stop().await;
    }
);

store_test!(
    fn reported_portal_activity_is_evented(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let token = app.portal_token(app.demo.rachel_kim).await;
        for (kind, detail) in [
            ("invoice_viewed", json!({ "invoice": 7 })),
            ("chat_opened", json!({})),
        ] {
            let res = app
                .http
                .post(app.url("/api/v1/portal/events"))
                .bearer_auth(&token)
                .json(&json!({ "kind": kind, "detail": detail }))
                .send()
                .await
                .expect("report event");
            assert_eq!(res.status(), 200);
        }
        let events = events_since(&app, 0).await;
        assert_eq!(kinds(&events), ["portal.activity", "portal.activity"]);
        assert_eq!(events[0].payload["kind"], "invoice_viewed");
        assert_eq!(events[0].payload["customer_id"], app.demo.rachel_kim.0);
        assert_eq!(events[1].payload["kind"], "chat_opened");
        // A reschedule is evented by the server when it happens (tests/it/portal.rs).
        app.stop().await;
    }
);

store_test!(
    /// After a hand-back the model reads what the CSR wrote as the company's own words.
    fn csr_messages_reach_the_model_after_hand_back(db: &TestDb) {
        use frontdesk::agent::openai::fake::{FakeChatServer, FakeResponse};
        use frontdesk::store::Csr;

        let fake = FakeChatServer::start().await.expect("fake server");
        fake.respond_with(|_| FakeResponse::reply("Happy to help."));
        let base = fake.base_url();
        let app = TestApp::spawn_with(db, move |raw| {
            raw.model = Some("openai".into());
            raw.openai_base_url = Some(base);
            raw.openai_model = Some("fake-model".into());
        })
        .await;
        let d = app.demo.clone();
        let store = &app.state.store;
        let mut conv = Conversation::sms(&app, RACHEL);
        conv.say("how much is mosquito service?").await;
        let carlos = Csr::new(Some(d.carlos_mendez), Role::Csr);
        let now = app.state.clock.now();
        let csr_text = "Carlos here: I waived the trip fee for your next visit (marker-5521).";
        store
            .csr_reply(d.demo, conv.id(), &carlos, csr_text, None, now)
            .await
            .expect("CSR reply");
        store
            .hand_back(d.demo, conv.id(), &carlos, now)
            .await
            .expect("hand back");

        conv.say("great, thanks! so what do I owe now?").await;
        let requests = fake.requests();
        let last = requests.last().expect("a model request");
        let messages = last.body["messages"].as_array().expect("messages");
        let csr_at = messages
            .iter()
            .position(|m| m["role"] == "assistant" && m["content"] == csr_text)
            .unwrap_or_else(|| panic!("the CSR's message is in the history: {messages:?}"));
        let question_at = messages
            .iter()
            .position(|m| {
                m["role"] == "user" && m["content"] == "great, thanks! so what do I owe now?"
            })
            .expect("the new question");
        assert!(csr_at < question_at, "in conversation order");
        app.stop().await;
    }
);

store_test!(
    fn csr_reply_to_portal_chat_reaches_the_open_websocket_and_the_history(db: &TestDb) {
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message as WsMessage;

        async fn next_json<S>(ws: &mut S) -> Value
        where
            S: StreamExt<Item = Result<WsMessage, tokio_tungstenite::tungstenite::Error>> + Unpin,
        {
            loop {
                let frame = tokio::time::timeout(std::time::Duration::from_secs(20), ws.next())
                    .await
                    .expect("a frame in time")
                    .expect("a frame")
                    .expect("a good frame");
                if let WsMessage::Text(t) = frame {
                    return serde_json::from_str(t.as_str()).expect("json frame");
                }
            }
        }

        let app = TestApp::spawn(db).await;
        let d = app.demo.clone();
        let token = app.portal_token(d.rachel_kim).await;
        let url = format!("ws://{}/api/v1/portal/chat?token={token}", app.addr);
        let (mut ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket");
        ws.send(WsMessage::Text(
            json!({ "text": "how much is mosquito service?", "client_message_id": "p1" })
                .to_string()
                .into(),
        ))
        .await
        .expect("send");
        let answer = next_json(&mut ws).await;
        let conv = answer["conversation_id"].as_i64().expect("conversation");

        let csr = crate::common::api::user_token(&app, d.demo, d.carlos_mendez, Role::Csr).await;
        let text = "Hi Rachel, Carlos here. I can add mosquito service to your next visit.";
        let (status, body) = crate::common::api::post(
            &app,
            &format!("/api/v1/operator/conversations/{conv}/reply"),
            &csr,
            json!({ "text": text }),
        )
        .await;
        assert!(status.is_success(), "{status} {body}");
        let live = next_json(&mut ws).await;
        assert_eq!(live["type"], "message", "{live}");
        assert_eq!(live["conversation_id"], conv);
        assert_eq!(live["author"], "staff");
        assert_eq!(live["text"], text);
        let _ = ws.close(None).await;

        // Coming back later: the whole chat, the CSR's reply included, nothing internal.
        let res = app
            .http
            .get(app.url("/api/v1/portal/chat/messages"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("messages");
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["conversation_id"], conv);
        let messages = body["messages"].as_array().expect("messages");
        let authors: Vec<&str> = messages
            .iter()
            .map(|m| m["author"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(authors, ["customer", "agent", "staff"], "{body}");
        assert_eq!(messages[2]["text"], text);
        assert!(!body.to_string().contains("csr:"), "no user ids: {body}");
        // Another customer sees none of it; no token is a 401.
        let other = app.portal_token(d.john_smith).await;
        let body: Value = app
            .http
            .get(app.url("/api/v1/portal/chat/messages"))
            .bearer_auth(&other)
            .send()
            .await
            .expect("messages")
            .json()
            .await
            .expect("json");
        assert_eq!(body["messages"], json!([]));
        let res = app
            .http
            .get(app.url("/api/v1/portal/chat/messages"))
            .send()
            .await
            .expect("messages");
        assert_eq!(res.status(), 401);
        app.stop().await;
    }
);
