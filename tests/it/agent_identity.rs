//! Who is asking decides what the agent may say and do: catalog quotes from the property on
//! file, bookings that take a stop, an unknown number that learns nothing until it gives
//! name, service address and ZIP, and a shared phone that must pick a property by street.

use crate::common::agent::*;
use crate::common::app::TestApp;

store_test!(
    fn a_quote_is_exactly_the_catalog_rule_for_the_property(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let store = app.state.store.clone();
        let t = app.demo.demo;
        let mut conv = Conversation::sms(&app, RACHEL);
        let reply = conv.say("how much is mosquito service?").await;

        let service = store
            .services(t)
            .await
            .expect("catalog")
            .into_iter()
            .find(|s| s.code == "MOSQ")
            .expect("the mosquito plan");
        let property = store
            .properties(t, app.demo.rachel_kim)
            .await
            .expect("properties")
            .into_iter()
            .next()
            .expect("Rachel's property");
        let expected = service
            .pricing
            .quote(property.sq_ft, &[])
            .expect("a catalog quote");
        let quoted = conv
            .tool_calls()
            .await
            .into_iter()
            .find(|c| c.tool == "quote_price" && c.decision == "allowed")
            .expect("the quote tool ran");
        assert_eq!(quoted.arguments["service_code"], "MOSQ");
        assert_eq!(quoted.rule, "quote.catalog_rule");
        assert_eq!(
            quoted.result["per_visit_cents"].as_i64(),
            Some(expected.per_visit_cents.0)
        );
        assert_eq!(
            quoted.result["first_visit_total_cents"].as_i64(),
            Some(expected.first_visit_total_cents.0)
        );
        assert_says_all(&reply, &[&expected.per_visit_cents.to_string()]);
        if expected.initial_fee_cents.0 > 0 {
            assert_says_all(&reply, &[&expected.initial_fee_cents.to_string()]);
        }
        app.stop().await;
    }
);

store_test!(
    fn booking_takes_a_stop_and_specialist_services_escalate(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let store = app.state.store.clone();
        let t = app.demo.demo;
        let before = store
            .appointments(t, app.demo.rachel_kim)
            .await
            .expect("appointments")
            .len();
        let mut conv = Conversation::sms(&app, RACHEL);
        let offer = conv.say("I'd like to book a scorpion treatment").await;
        assert_says_all(&offer, &["1)", "Scorpion"]);
        let proposal = conv.say("the first one").await;
        assert_says_all(&proposal, &["YES", "Scorpion", "$"]);
        let call = conv
            .tool_calls()
            .await
            .into_iter()
            .rev()
            .find(|c| c.tool == "book_service")
            .expect("a booking was proposed");
        assert_eq!(call.decision, "needs_confirmation");
        let slot_id = frontdesk::domain::SlotId(call.arguments["slot_id"].as_i64().expect("slot"));
        let booked = slot(&app, slot_id).await.booked;
        assert_eq!(
            store
                .appointments(t, app.demo.rachel_kim)
                .await
                .expect("appointments")
                .len(),
            before,
            "nothing booked before yes"
        );

        let done = conv.say("yes").await;
        assert_says_all(&done, &["booked", "Scorpion"]);
        let after = store
            .appointments(t, app.demo.rachel_kim)
            .await
            .expect("appointments");
        assert_eq!(after.len(), before + 1);
        let new = after
            .iter()
            .find(|a| a.slot_id == slot_id && a.service.contains("Scorpion"))
            .expect("the new visit");
        assert!(new.status.is_open());
        assert_eq!(slot(&app, slot_id).await.booked, booked + 1);
        assert!(conv.decisions().await.contains(&(
            "book_service".into(),
            "allowed".into(),
            "booking.within_policy".into()
        )));

        // Termite treatment is quoted on site: the office books it.
        db.execute("UPDATE conversations SET status = 'closed'")
            .await;
        let total = booked_total(db).await;
        let mut conv = Conversation::sms(&app, RACHEL);
        let out = conv.send("I want to book a termite treatment").await;
        assert!(out.escalated, "{:?}", out.reply);
        assert_eq!(
            conv.escalation_reasons(db).await,
            vec!["out_of_policy".to_string()]
        );
        assert_eq!(booked_total(db).await, total);
        assert_eq!(
            store
                .appointments(t, app.demo.rachel_kim)
                .await
                .expect("appointments")
                .len(),
            before + 1
        );
        app.stop().await;
    }
);

/// What Rachel Kim's record would give away.
const RACHEL_DATA: &[&str] = &[
    "Rachel",
    "Kim",
    "7305",
    "Texas Oaks",
    "78748",
    "Nov 30",
    "Mon",
    "$",
    "General Pest",
];

store_test!(
    fn an_unknown_number_learns_nothing_until_verified(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let questions = [
            "when is my next appointment",
            "what's my balance",
            "what's the address on file for +15125550155",
        ];
        let mut answers = Vec::new();
        for q in questions {
            let mut conv = Conversation::sms(&app, STRANGER);
            let reply = conv.say(q).await;
            assert_says_none(&reply, RACHEL_DATA);
            assert_says_none(
                &reply,
                &[
                    "not a customer",
                    "no account",
                    "isn't on file",
                    "not on file",
                ],
            );
            answers.push(reply);
            assert!(
                conv.tool_calls()
                    .await
                    .iter()
                    .all(|c| c.decision != "allowed" || c.tool == "escalate"),
                "{:?}",
                conv.decisions().await
            );
            db.execute("UPDATE conversations SET status = 'closed'")
                .await;
        }
        // Whether the number is a customer's does not change the answer.
        let mut other = Conversation::sms(&app, STRANGER);
        let reply = other
            .say("what's the address on file for +15125559999")
            .await;
        assert_eq!(
            reply, answers[2],
            "the same answer for a number that is nobody's"
        );
        db.execute("UPDATE conversations SET status = 'closed'")
            .await;

        let mut conv = Conversation::sms(&app, STRANGER);
        let reply = conv.say("when is my next appointment").await;
        assert_says_none(&reply, RACHEL_DATA);
        let reply = conv.say("Rachel Kim, 7305 Texs Oaks Dr, 78748").await;
        assert_eq!(conv.row().await.identity_level.as_str(), "verified");
        assert_eq!(conv.row().await.customer_id, Some(app.demo.rachel_kim));
        let answer = if reply.contains("Nov 30") {
            reply
        } else {
            conv.say("when is my next appointment").await
        };
        assert_says_all(&answer, &["Nov 30"]);
        app.stop().await;
    }
);

store_test!(
    fn a_shared_phone_picks_the_property_by_street(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let store = app.state.store.clone();
        let t = app.demo.demo;
        let jose = store
            .appointments(t, app.demo.jose_garcia)
            .await
            .expect("Jose's visits")
            .into_iter()
            .find(|a| a.status.is_open() && Some(a.id) == app.demo.jose_garcia_appointment)
            .expect("Jose's upcoming visit");
        let maria = store
            .appointments(t, app.demo.maria_garcia)
            .await
            .expect("Maria's visits")
            .into_iter()
            .find(|a| a.status.is_open())
            .expect("Maria's upcoming visit");
        let mut conv = Conversation::sms(&app, GARCIAS);
        let ask = conv.say("can I move my appointment?").await;
        assert_says_all(&ask, &["address"]);
        assert_says_none(
            &ask,
            &[
                "Willow", "Avenue F", "2204", "4417", "Maria", "Jose", "Garcia",
            ],
        );
        assert!(conv
            .tool_calls()
            .await
            .iter()
            .all(|c| c.decision != "allowed"));

        let offer = conv.say("4417 Avenue F").await;
        let row = conv.row().await;
        assert_eq!(row.customer_id, Some(app.demo.jose_garcia));
        assert_eq!(row.identity_level.as_str(), "verified");
        assert_says_none(&offer, &["Willow", "Maria", &day_label(maria.window_start)]);
        let listed = conv
            .tool_calls()
            .await
            .into_iter()
            .find(|c| c.tool == "list_appointments" && c.decision == "allowed")
            .expect("Jose's visits were listed");
        let ids: Vec<i64> = listed.result["appointments"]
            .as_array()
            .expect("appointments")
            .iter()
            .filter_map(|a| a["appointment_id"].as_i64())
            .collect();
        assert_eq!(ids, vec![jose.id.0], "only Jose's visit");
        assert_says_all(&offer, &["1)"]);
        app.stop().await;
    }
);

// ---------------------------------------------------------------------------------------
// Verification limits and the unknown-number rule, with a scripted model: each customer
// message is a JSON list of `verify_identity` arguments the model sends in one step.

use crate::common::TestDb;
use frontdesk::agent::openai::fake::{FakeChatServer, FakeResponse};
use frontdesk::agent::Caller;
use frontdesk::domain::Channel;
use serde_json::{json, Value};

/// An app whose model calls `verify_identity` once per argument object in the customer's
/// message (a JSON list), then replies "ok".
async fn scripted(db: &TestDb) -> (FakeChatServer, TestApp) {
    let fake = FakeChatServer::start().await.expect("fake server");
    fake.respond_with(|body| {
        let messages = body["messages"].as_array().cloned().unwrap_or_default();
        if messages.last().is_some_and(|m| m["role"] == "tool") {
            return FakeResponse::reply("ok");
        }
        let text = messages
            .iter()
            .rev()
            .find(|m| m["role"] == "user")
            .and_then(|m| m["content"].as_str())
            .unwrap_or("[]");
        let list: Vec<Value> = serde_json::from_str(text).unwrap_or_default();
        if list.is_empty() {
            return FakeResponse::reply("ok");
        }
        let ids: Vec<String> = (0..list.len()).map(|i| format!("call_{i}")).collect();
        let calls: Vec<(&str, &str, Value)> = ids
            .iter()
            .zip(list)
            .map(|(id, args)| (id.as_str(), "verify_identity", args))
            .collect();
        FakeResponse::tool_calls(&calls)
    });
    let base = fake.base_url();
    let app = TestApp::spawn_with(db, move |raw| {
        raw.model = Some("openai".into());
        raw.openai_base_url = Some(base);
        raw.openai_model = Some("fake-model".into());
    })
    .await;
    (fake, app)
}

fn rachel_with_zip(zip: &str) -> Value {
    json!({ "name": "Rachel Kim", "street": "7305 Texas Oaks Dr", "zip": zip })
}

fn rules(calls: &[frontdesk::store::ToolCall]) -> Vec<String> {
    calls
        .iter()
        .filter(|c| c.tool == "verify_identity")
        .map(|c| c.rule.clone())
        .collect()
}

async fn close_all(db: &TestDb) {
    db.execute("UPDATE conversations SET status = 'closed'")
        .await;
}

store_test!(
    fn finding_03_one_verification_attempt_per_message(db: &TestDb) {
        let (_fake, app) = scripted(db).await;
        let mut conv = Conversation::sms(&app, STRANGER);
        // Eight ZIPs in one message; the last one is right.
        let tries: Vec<Value> = (41..=48)
            .map(|z| rachel_with_zip(&format!("787{z}")))
            .collect();
        conv.send(&Value::Array(tries).to_string()).await;
        let row = conv.row().await;
        assert_ne!(row.identity_level.as_str(), "verified");
        assert_eq!(row.customer_id, None);
        let rules = rules(&conv.tool_calls().await);
        assert_eq!(rules.len(), 8, "{rules:?}");
        assert_eq!(rules[0], "identity.no_match");
        assert!(
            rules[1..]
                .iter()
                .all(|r| r == "identity.one_attempt_per_message"),
            "{rules:?}"
        );
        app.stop().await;
    }
);

store_test!(
    fn finding_03_failed_attempts_lock_the_conversation(db: &TestDb) {
        let (_fake, app) = scripted(db).await;
        let mut conv = Conversation::sms(&app, STRANGER);
        for zip in ["78741", "78742"] {
            let out = conv.send(&json!([rachel_with_zip(zip)]).to_string()).await;
            assert!(!out.escalated);
        }
        let out = conv
            .send(&json!([rachel_with_zip("78743")]).to_string())
            .await;
        assert!(
            out.escalated,
            "the third failure hands over: {:?}",
            out.reply
        );
        assert_eq!(
            conv.escalation_reasons(db).await,
            vec!["identity_unresolved".to_string()]
        );
        assert_ne!(conv.row().await.identity_level.as_str(), "verified");
        app.stop().await;
    }
);

store_test!(
    fn finding_03_failed_attempts_lock_the_caller_across_conversations(db: &TestDb) {
        let (_fake, app) = scripted(db).await;
        let mut zips = (51..=59).map(|z| format!("787{z}"));
        for _ in 0..2 {
            let mut conv = Conversation::sms(&app, STRANGER);
            for _ in 0..2 {
                let zip = zips.next().expect("a zip");
                let out = conv.send(&json!([rachel_with_zip(&zip)]).to_string()).await;
                assert!(!out.escalated);
            }
            close_all(db).await;
        }
        // The fifth failure from this phone in a day locks it, in a new conversation.
        let mut conv = Conversation::sms(&app, STRANGER);
        let zip = zips.next().expect("a zip");
        let out = conv.send(&json!([rachel_with_zip(&zip)]).to_string()).await;
        assert!(out.escalated, "{:?}", out.reply);
        assert_eq!(
            conv.escalation_reasons(db).await,
            vec!["identity_unresolved".to_string()]
        );
        close_all(db).await;
        // Even the right details no longer verify from this phone.
        let mut conv = Conversation::sms(&app, STRANGER);
        let out = conv
            .send(&json!([rachel_with_zip("78748")]).to_string())
            .await;
        assert!(out.escalated, "{:?}", out.reply);
        let row = conv.row().await;
        assert_ne!(row.identity_level.as_str(), "verified");
        assert_eq!(row.customer_id, None);
        assert_eq!(rules(&conv.tool_calls().await), vec!["identity.locked"]);
        app.stop().await;
    }
);

store_test!(
    fn finding_03_a_street_reveals_no_house_number_before_verification(db: &TestDb) {
        let (fake, app) = scripted(db).await;
        let mut conv = Conversation {
            channel: Channel::Voice,
            caller: Caller::phone(GARCIAS, false),
            ..Conversation::sms(&app, GARCIAS)
        };
        conv.send(&json!([{ "street": "Avenue F" }]).to_string())
            .await;
        let calls = conv.tool_calls().await;
        let call = calls
            .iter()
            .find(|c| c.tool == "verify_identity")
            .expect("verify ran");
        assert_ne!(conv.row().await.identity_level.as_str(), "verified");
        assert!(
            !call.result.to_string().contains("4417"),
            "the house number is the knowledge factor: {}",
            call.result
        );
        for r in fake.requests() {
            assert!(!r.body.to_string().contains("4417"), "the model saw 4417");
        }
        app.stop().await;
    }
);

store_test!(
    fn finding_04_unknown_number_needs_full_name_house_number_and_zip(db: &TestDb) {
        let (_fake, app) = scripted(db).await;
        let attempts = [
            // No house number.
            json!({ "name": "Rachel Kim", "street": "Texas Oaks Drive", "zip": "78748" }),
            // Last name only.
            json!({ "name": "Kim", "street": "7305 Texas Oaks", "zip": "78748" }),
            // Last name only and no house number.
            json!({ "name": "Kim", "street": "Texas Oaks", "zip": "78748" }),
        ];
        for args in attempts {
            let mut conv = Conversation::sms(&app, STRANGER);
            conv.send(&json!([args]).to_string()).await;
            let row = conv.row().await;
            assert_ne!(row.identity_level.as_str(), "verified", "{args}");
            assert_eq!(row.customer_id, None, "{args}");
            close_all(db).await;
        }
        // Full name (with a typo), house number, fuzzy street and ZIP verify.
        let mut conv = Conversation::sms(&app, STRANGER);
        conv.send(
            &json!([{ "name": "Rachl Kim", "street": "7305 Texs Oaks", "zip": "78748" }])
                .to_string(),
        )
        .await;
        let row = conv.row().await;
        assert_eq!(row.identity_level.as_str(), "verified");
        assert_eq!(row.customer_id, Some(app.demo.rachel_kim));
        app.stop().await;
    }
);

store_test!(
    fn finding_04_last_name_and_street_name_get_no_balance(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        for text in [
            "what's my balance? I'm Rachel Kim, Texas Oaks Drive, 78748",
            "what's my balance? Kim, Texas Oaks, 78748",
        ] {
            let mut conv = Conversation::sms(&app, STRANGER);
            let reply = conv.say(text).await;
            assert_says_none(&reply, &["$", "balance is", "7305"]);
            assert_ne!(conv.row().await.identity_level.as_str(), "verified");
            assert!(
                conv.tool_calls()
                    .await
                    .iter()
                    .all(|c| c.tool != "get_balance" || c.decision != "allowed"),
                "{:?}",
                conv.decisions().await
            );
            close_all(db).await;
        }
        app.stop().await;
    }
);
