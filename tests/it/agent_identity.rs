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
