//! An OpenAI-compatible model end to end, against the loopback fake chat server: its tool
//! calls run under policy, a failing endpoint falls back to the built-in model, a write it
//! makes without confirmation is refused by the guard, and card numbers never reach it.

use frontdesk::agent::openai::fake::{FakeChatServer, FakeResponse};
use serde_json::{json, Value};

use crate::common::agent::*;
use crate::common::app::TestApp;
use crate::common::TestDb;

async fn spawn_with_fake(db: &TestDb, fake: &FakeChatServer) -> TestApp {
    let base = fake.base_url();
    TestApp::spawn_with(db, move |raw| {
        raw.model = Some("openai".into());
        raw.openai_base_url = Some(base);
        raw.openai_model = Some("fake-model".into());
    })
    .await
}

fn tool_names(body: &Value) -> Vec<String> {
    body["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| t["function"]["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn system_text(body: &Value) -> String {
    body["messages"][0]["content"]
        .as_str()
        .filter(|_| body["messages"][0]["role"] == "system")
        .unwrap_or_default()
        .to_string()
}

store_test!(
    fn the_model_tool_call_then_reply_is_used(db: &TestDb) {
        let fake = FakeChatServer::start().await.expect("fake server");
        fake.push(FakeResponse::tool_calls(&[(
            "call_q",
            "quote_price",
            json!({ "service_code": "MOSQ" }),
        )]));
        fake.push(FakeResponse::reply("Mosquito Control is $65.00 a month."));
        let app = spawn_with_fake(db, &fake).await;
        let mut conv = Conversation::sms(&app, RACHEL);
        let reply = conv.say("how much is mosquito service?").await;
        assert_eq!(reply, "Mosquito Control is $65.00 a month.");
        let calls = conv.tool_calls().await;
        assert_eq!(calls.len(), 1, "{calls:?}");
        assert_eq!(
            (calls[0].tool.as_str(), calls[0].decision.as_str()),
            ("quote_price", "allowed")
        );

        let requests = fake.requests();
        assert_eq!(requests.len(), 2);
        for r in &requests {
            assert!(r.rejected.is_none(), "{:?}", r.rejected);
            assert_eq!(r.body["model"], "fake-model");
            let names = tool_names(&r.body);
            for t in [
                "verify_identity",
                "reschedule_appointment",
                "quote_price",
                "book_service",
                "escalate",
            ] {
                assert!(names.iter().any(|n| n == t), "{t} offered: {names:?}");
            }
            let system = system_text(&r.body);
            assert!(system.contains("Greenleaf"), "{system}");
            assert!(system.contains("Verified customer: Rachel Kim"), "{system}");
        }
        // The second request carries the tool's result.
        let tool_msg = requests[1].body["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .find(|m| m["role"] == "tool")
            .cloned()
            .expect("a tool message");
        assert_eq!(tool_msg["tool_call_id"], "call_q");
        assert!(
            tool_msg["content"]
                .as_str()
                .unwrap_or("")
                .contains("per_visit"),
            "{tool_msg}"
        );
        app.stop().await;
    }
);

store_test!(
    fn a_failing_endpoint_falls_back_to_the_builtin_model(db: &TestDb) {
        let fake = FakeChatServer::start().await.expect("fake server");
        fake.respond_with(|_| FakeResponse::error(500, "upstream exploded"));
        let app = spawn_with_fake(db, &fake).await;
        let mut conv = Conversation::sms(&app, RACHEL);
        let out = conv.send("how much is mosquito service?").await;
        let reply = out.reply.expect("an answer");
        assert!(reply.contains('$'), "{reply}");
        assert!(!out.escalated);
        assert!(fake.hits() >= 1, "the endpoint was tried");
        app.stop().await;
    }
);

store_test!(
    fn a_write_without_confirmation_is_refused_by_the_guard(db: &TestDb) {
        let fake = FakeChatServer::start().await.expect("fake server");
        let app = spawn_with_fake(db, &fake).await;
        let before = rachel_appointment(&app).await;
        let t = app.demo.demo;
        let property = app
            .state
            .store
            .property(t, before.property_id)
            .await
            .expect("property");
        let now = chrono::DateTime::parse_from_rfc3339(crate::common::app::CLOCK)
            .expect("clock")
            .with_timezone(&chrono::Utc);
        let target = app
            .state
            .store
            .open_slots(
                t,
                property.zone_id,
                now + chrono::Duration::days(2),
                now + chrono::Duration::days(4),
                10,
            )
            .await
            .expect("open slots")
            .into_iter()
            .find(|s| s.id != before.slot_id)
            .expect("an open window in policy");
        let booked = booked_total(db).await;
        fake.push(FakeResponse::tool_calls(&[(
            "call_r",
            "reschedule_appointment",
            json!({ "appointment_id": before.id.0, "slot_id": target.id.0 }),
        )]));
        fake.push(FakeResponse::reply("Done! I moved your visit."));
        let mut conv = Conversation::sms(&app, RACHEL);
        let reply = conv.say("move my appointment to thursday, yes do it").await;
        let calls = conv.tool_calls().await;
        assert_eq!(calls.len(), 1, "{calls:?}");
        assert_eq!(calls[0].decision, "needs_confirmation");
        assert_eq!(calls[0].rule, "confirmation.required");
        assert_eq!(rachel_appointment(&app).await.slot_id, before.slot_id);
        assert_eq!(booked_total(db).await, booked);
        // The reply must put the change to the customer.
        assert_says_all(&reply, &["Reply YES to confirm"]);
        app.stop().await;
    }
);

store_test!(
    fn a_card_number_is_masked_and_never_reaches_the_model(db: &TestDb) {
        let fake = FakeChatServer::start().await.expect("fake server");
        fake.respond_with(|_| {
            FakeResponse::reply("I can't take card details here; please pay in the portal.")
        });
        let app = spawn_with_fake(db, &fake).await;
        let mut conv = Conversation::sms(&app, RACHEL);
        let card = "4242 4242 4242 4242";
        conv.say(&format!("pay my bill with {card} exp 12/29 cvv 123"))
            .await;
        let texts = conv.stored_texts().await;
        let inbound = texts.first().expect("the message");
        assert!(inbound.contains("[card ending 4242]"), "{inbound}");
        for t in &texts {
            assert!(
                !t.contains(card) && !t.contains("4242424242424242"),
                "stored: {t}"
            );
            assert!(!t.contains("cvv 123"), "stored: {t}");
        }
        let rows = db
            .scalar("SELECT COUNT(*) FROM messages WHERE text LIKE '%4242 4242%' OR text LIKE '%4242424242424242%'")
            .await;
        assert_eq!(rows, 0);
        let inbox = db
            .scalar("SELECT COUNT(*) FROM inbox WHERE text LIKE '%4242 4242%' OR text LIKE '%4242424242424242%'")
            .await;
        assert_eq!(inbox, 0);
        assert!(fake.hits() >= 1);
        for r in fake.requests() {
            let body = r.body.to_string();
            assert!(
                !body.contains(card) && !body.contains("4242424242424242"),
                "{body}"
            );
        }
        app.stop().await;
    }
);
