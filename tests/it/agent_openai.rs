//! An OpenAI-compatible model end to end, against the loopback fake chat server: its tool
//! calls run under policy, a failing endpoint falls back to the built-in model, a write it
//! makes without confirmation is refused by the guard, and card numbers never reach it.
//! What real servers need: tool-call steps sent with string content (llama.cpp answers 500
//! to `null`), tool-call syntax in text never sent to a customer, priority and follow-up set
//! by the rules, no retry of what cannot succeed, and the built-in model answering rather
//! than a `model_failure` escalation.

use frontdesk::agent::openai::fake::{FakeChatServer, FakeResponse};
use serde_json::{json, Value};

use crate::common::agent::*;
use crate::common::app::{series, TestApp};
use crate::common::TestDb;

async fn spawn_with_fake(db: &TestDb, fake: &FakeChatServer) -> TestApp {
    spawn_with_fake_at(db, fake, crate::common::app::CLOCK).await
}

async fn spawn_with_fake_at(db: &TestDb, fake: &FakeChatServer, clock: &str) -> TestApp {
    let base = fake.base_url();
    let clock = clock.to_string();
    TestApp::spawn_with(db, move |raw| {
        raw.model = Some("openai".into());
        raw.openai_base_url = Some(base);
        raw.openai_model = Some("fake-model".into());
        raw.clock = Some(clock);
    })
    .await
}

/// A Monday, 3 AM at the demo company (America/Chicago): hours away from opening.
const THREE_AM: &str = "2026-11-23T03:00:00-06:00";

async fn pages(db: &TestDb) -> i64 {
    db.scalar("SELECT COUNT(*) FROM outbox WHERE purpose = 'page'")
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
    fn model_steps_tokens_cost_and_fallbacks_are_metrics(db: &TestDb) {
        let fake = FakeChatServer::start().await.expect("fake server");
        fake.push(
            FakeResponse::tool_calls(&[(
                "call_q",
                "quote_price",
                json!({ "service_code": "MOSQ" }),
            )])
            .with_usage(1000, 100),
        );
        fake.push(FakeResponse::reply("Mosquito Control is $65.00 a month.").with_usage(1000, 100));
        let base = fake.base_url();
        // A model name of its own (per engine: both run at once): the metrics are the
        // process's, shared by parallel tests.
        let name = format!("metrics-{}", db.engine());
        let model = format!("model=\"openai:{name}\"");
        let app = TestApp::spawn_with(db, move |raw| {
            raw.model = Some("openai".into());
            raw.openai_base_url = Some(base);
            raw.openai_model = Some(name);
            raw.openai_usd_per_1k_prompt_tokens = Some(0.5);
            raw.openai_usd_per_1k_completion_tokens = Some(2.0);
        })
        .await;
        let ok = format!("frontdesk_model_requests_total{{{model},outcome=\"ok\"}}");
        let failed = format!("frontdesk_model_requests_total{{{model},outcome=\"error\"}}");
        let prompt = format!("frontdesk_model_tokens_total{{{model},kind=\"prompt\"}}");
        let completion = format!("frontdesk_model_tokens_total{{{model},kind=\"completion\"}}");
        let cost = format!("frontdesk_model_cost_usd_total{{{model}}}");
        let latency = format!("frontdesk_model_duration_seconds_count{{{model}}}");
        let fallbacks = "frontdesk_model_fallbacks_total{reason=\"error\"}";
        let builtin = "frontdesk_model_requests_total{model=\"builtin\",outcome=\"ok\"}";

        let mut conv = Conversation::sms(&app, RACHEL);
        let reply = conv.say("how much is mosquito service?").await;
        assert_eq!(reply, "Mosquito Control is $65.00 a month.");
        let after_turn = app.metrics().await;
        assert_eq!(series(&after_turn, &ok), 2.0, "{after_turn}");
        assert_eq!(series(&after_turn, &latency), 2.0, "{after_turn}");
        assert_eq!(series(&after_turn, &prompt), 2000.0, "{after_turn}");
        assert_eq!(series(&after_turn, &completion), 200.0, "{after_turn}");
        // Two steps at 1,000 prompt tokens ($0.50) and 100 completion tokens ($0.20).
        assert!(
            (series(&after_turn, &cost) - 1.4).abs() < 1e-9,
            "{after_turn}"
        );
        assert_eq!(series(&after_turn, &failed), 0.0, "{after_turn}");

        // The endpoint refuses: the built-in model answers, and that is counted.
        fake.respond_with(|_| FakeResponse::error(400, "model not loaded"));
        let out = conv.send("how much is mosquito service?").await;
        assert!(out.reply.is_some(), "{out:?}");
        let after_fallback = app.metrics().await;
        assert_eq!(series(&after_fallback, &failed), 1.0, "{after_fallback}");
        assert!(
            series(&after_fallback, fallbacks) >= 1.0,
            "{after_fallback}"
        );
        assert!(
            series(&after_fallback, builtin) > series(&after_turn, builtin),
            "{after_fallback}"
        );
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

store_test!(
    fn a_tool_call_step_is_sent_in_the_shape_llama_cpp_accepts(db: &TestDb) {
        let fake = FakeChatServer::start().await.expect("fake server");
        // 500 to `content: null` with tool calls, as llama.cpp's servers answer.
        fake.reject_null_content();
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
        let requests = fake.requests();
        assert_eq!(requests.len(), 2, "no failed attempt, no retry");
        let messages = requests[1].body["messages"].as_array().expect("messages");
        let assistant = messages
            .iter()
            .find(|m| m["role"] == "assistant" && m.get("tool_calls").is_some())
            .expect("the tool-call step");
        assert_eq!(assistant["content"], json!(""));
        assert_eq!(assistant["tool_calls"][0]["id"], "call_q");
        assert_eq!(
            assistant["tool_calls"][0]["function"]["arguments"],
            json!("{\"service_code\":\"MOSQ\"}")
        );
        assert!(requests.iter().all(|r| r.rejected.is_none()));
        app.stop().await;
    }
);

store_test!(
    fn tool_call_syntax_in_a_reply_is_never_sent_to_the_customer(db: &TestDb) {
        let fake = FakeChatServer::start().await.expect("fake server");
        fake.respond_with(|_| FakeResponse::reply("functions.escalate:"));
        let app = spawn_with_fake(db, &fake).await;
        let mut conv = Conversation::sms(&app, RACHEL);
        let out = conv.send("how much is mosquito service?").await;
        let reply = out.reply.expect("an answer");
        assert!(!reply.contains("functions."), "{reply}");
        assert!(reply.contains('$'), "the built-in model answered: {reply}");
        assert!(!out.escalated);
        assert_eq!(fake.hits(), 1, "a malformed answer is not retried");
        for text in conv.stored_texts().await {
            assert!(!text.contains("functions."), "stored: {text}");
        }
        app.stop().await;
    }
);

store_test!(
    fn the_rules_not_the_model_set_priority_and_the_promised_time(db: &TestDb) {
        let fake = FakeChatServer::start().await.expect("fake server");
        fake.push(FakeResponse::tool_calls(&[(
            "call_e",
            "escalate",
            json!({ "reason": "customer_request", "priority": "urgent",
                    "summary": "Wants to talk about the next visit." }),
        )]));
        fake.push(FakeResponse::tool_calls(&[(
            "call_e2",
            "escalate",
            json!({ "reason": "emergency", "priority": "urgent",
                    "summary": "Says it is an emergency." }),
        )]));
        let app = spawn_with_fake_at(db, &fake, THREE_AM).await;

        let mut plain = Conversation::sms(&app, RACHEL);
        let out = plain
            .send("can someone from the office call me about my next visit")
            .await;
        let reply = out.reply.expect("an acknowledgement");
        assert!(out.escalated);
        assert!(!reply.contains("15 minutes"), "{reply}");
        assert!(!reply.contains("on-call"), "{reply}");
        assert_eq!(
            plain.escalations(db).await,
            vec![("customer_request".into(), "normal".into(), "open".into())]
        );

        let mut claimed = Conversation::sms(&app, GREG);
        let out = claimed
            .send("i need someone to look at my account asap")
            .await;
        let reply = out.reply.expect("an acknowledgement");
        assert!(out.escalated);
        assert!(!reply.contains("15 minutes"), "{reply}");
        assert!(!reply.contains("on-call"), "{reply}");
        assert_eq!(
            claimed.escalations(db).await,
            vec![("other".into(), "high".into(), "open".into())]
        );
        assert_eq!(pages(db).await, 0, "nobody is paged for a plain request");
        app.stop().await;
    }
);

store_test!(
    fn a_real_emergency_is_still_paged_whatever_the_model_says(db: &TestDb) {
        let fake = FakeChatServer::start().await.expect("fake server");
        fake.respond_with(|_| FakeResponse::reply("No rush, we will call next week."));
        let app = spawn_with_fake_at(db, &fake, THREE_AM).await;
        let mut conv = Conversation::sms(&app, RACHEL);
        let out = conv
            .send("there are wasps inside my house and my son is allergic!!")
            .await;
        let reply = out.reply.expect("safety guidance");
        assert!(out.escalated);
        assert!(reply.contains("15 minutes"), "{reply}");
        assert_eq!(
            conv.escalations(db).await,
            vec![("emergency".into(), "urgent".into(), "open".into())]
        );
        assert_eq!(pages(db).await, 1);
        assert_eq!(fake.hits(), 0, "the rules answered before any model call");
        app.stop().await;
    }
);

store_test!(
    fn a_server_error_about_the_request_is_not_retried(db: &TestDb) {
        let fake = FakeChatServer::start().await.expect("fake server");
        fake.respond_with(|_| {
            FakeResponse::json(500, frontdesk::agent::openai::fake::null_content_error())
        });
        let app = spawn_with_fake(db, &fake).await;
        let mut conv = Conversation::sms(&app, RACHEL);
        let out = conv.send("how much is mosquito service?").await;
        let reply = out.reply.expect("an answer");
        assert!(reply.contains('$'), "the built-in model answered: {reply}");
        assert!(!out.escalated);
        assert_eq!(fake.hits(), 1, "one attempt: it can never succeed");
        app.stop().await;
    }
);

store_test!(
    fn a_model_that_never_finishes_hands_the_turn_to_the_builtin_model(db: &TestDb) {
        let fake = FakeChatServer::start().await.expect("fake server");
        fake.respond_with(|body| {
            let n = body["messages"].as_array().map_or(0, Vec::len);
            FakeResponse::tool_calls(&[(&format!("call_{n}"), "list_services", json!({}))])
        });
        let app = spawn_with_fake(db, &fake).await;
        let mut conv = Conversation::sms(&app, RACHEL);
        let out = conv.send("how much is mosquito service?").await;
        let reply = out.reply.expect("an answer");
        assert!(!out.escalated, "no model_failure escalation: {reply}");
        assert!(reply.contains('$'), "{reply}");
        assert!(conv.escalations(db).await.is_empty());
        assert_eq!(fake.hits(), frontdesk::agent::runtime::MAX_STEPS);
        app.stop().await;
    }
);
