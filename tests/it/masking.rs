//! Card numbers never reach storage or a model, whatever separates their digits: inbound
//! messages, messages filed for humans (voicemail transcripts), portal events and escalation
//! summaries all pass through one masking function.

use frontdesk::agent::builtin::mask_secrets;
use frontdesk::agent::openai::fake::{FakeChatServer, FakeResponse};
use frontdesk::agent::{Caller, Inbound};
use frontdesk::domain::{Channel, EscalationReason};
use serde_json::json;

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

/// The digits of a test card, in any grouping.
fn holds_card(text: &str) -> bool {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    digits.contains("4111111111111111") || digits.contains("5555555555554444")
}

#[test]
fn finding_11_cards_are_masked_whatever_the_separators() {
    let card = "[card ending 1111]";
    let table = [
        ("4111, 1111, 1111, 1111", card.to_string()),
        ("4111.1111.1111.1111", card.to_string()),
        ("4111/1111/1111/1111", card.to_string()),
        ("4111 - 1111 - 1111 - 1111", card.to_string()),
        ("4111-1111.1111/1111", card.to_string()),
        ("4111 1111, 1111.1111", card.to_string()),
        ("4111,1111,1111,1111", card.to_string()),
        ("4111111111111111", card.to_string()),
        ("card: 4111,1111,1111,1111.", format!("card: {card}.")),
        (
            "it's 5555.5555.5555.4444, thanks",
            "it's [card ending 4444], thanks".to_string(),
        ),
        (
            "amex 3782/822463/10005",
            "amex [card ending 0005]".to_string(),
        ),
        // Not cards: left alone.
        ("4111.1111.1111.1112", "4111.1111.1111.1112".to_string()),
        (
            "call 512-555-0155 about 7305 Texas Oaks Dr, 78748",
            "call 512-555-0155 about 7305 Texas Oaks Dr, 78748".to_string(),
        ),
        ("$1,234.56 due 12/01", "$1,234.56 due 12/01".to_string()),
    ];
    for (input, want) in table {
        assert_eq!(mask_secrets(input), want, "{input}");
    }
}

store_test!(
    fn finding_11_a_card_in_a_message_never_reaches_storage_or_the_model(db: &TestDb) {
        let fake = FakeChatServer::start().await.expect("fake server");
        fake.respond_with(|_| FakeResponse::reply("Please don't send card numbers here."));
        let app = spawn_with_fake(db, &fake).await;
        let mut conv = Conversation::sms(&app, RACHEL);
        conv.say("pay with 4111, 1111, 1111, 1111 or 5555.5555.5555.4444")
            .await;
        let texts = conv.stored_texts().await;
        assert!(texts.iter().all(|t| !holds_card(t)), "{texts:?}");
        assert!(
            texts.iter().any(|t| t.contains("[card ending 1111]")),
            "{texts:?}"
        );
        for r in fake.requests() {
            assert!(!holds_card(&r.body.to_string()), "{}", r.body);
        }
        app.stop().await;
    }
);

store_test!(
    fn finding_11_a_voicemail_filed_for_humans_is_masked(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let text = "Voicemail: \"hi it's Rachel, my card is 4111.1111.1111.1111\" (recording: https://api.twilio.com/rec/RE1)";
        let conversation = app
            .state
            .agent
            .file_for_humans(
                Inbound {
                    tenant: app.demo.demo,
                    channel: Channel::Voice,
                    participant: RACHEL.to_string(),
                    text: text.to_string(),
                    external_id: Some("rec:RE1".into()),
                    media: vec![],
                    caller: Caller::phone(RACHEL, false),
                    reply_from: None,
                },
                EscalationReason::Voicemail,
                text,
            )
            .await
            .expect("filed");
        let messages = app
            .state
            .store
            .messages(app.demo.demo, conversation)
            .await
            .expect("messages");
        assert!(!messages.is_empty());
        for m in &messages {
            assert!(!holds_card(&m.text), "{}", m.text);
        }
        assert_eq!(
            db.scalar(&format!(
                "SELECT COUNT(*) FROM escalations WHERE conversation_id = {}",
                conversation.0
            ))
            .await,
            1
        );
        assert_eq!(
            db.scalar("SELECT COUNT(*) FROM escalations WHERE summary LIKE '%4111.1111%'")
                .await,
            0
        );
        assert_eq!(
            db.scalar("SELECT COUNT(*) FROM inbox WHERE text LIKE '%4111.1111%'")
                .await,
            0
        );
        app.stop().await;
    }
);

store_test!(
    fn finding_11_portal_event_detail_is_masked_in_storage_and_prompt(db: &TestDb) {
        let fake = FakeChatServer::start().await.expect("fake server");
        fake.respond_with(|_| FakeResponse::reply("ok"));
        let app = spawn_with_fake(db, &fake).await;
        let customer = app.demo.rachel_kim;
        let token = app.portal_token(customer).await;
        let res = app
            .http
            .post(app.url("/api/v1/portal/events"))
            .bearer_auth(&token)
            .json(&json!({ "kind": "invoice_viewed", "detail": {
                "note": "card 4111/1111/1111/1111 declined",
                "card": 5555555555554444_u64,
            } }))
            .send()
            .await
            .expect("report event");
        assert_eq!(res.status(), 200);
        let events = app
            .state
            .store
            .portal_events(app.demo.demo, customer, 5)
            .await
            .expect("events");
        assert!(!events.is_empty());
        for e in &events {
            assert!(!holds_card(&e.detail.to_string()), "{}", e.detail);
        }
        let mut conv = Conversation::portal(&app, customer);
        conv.say("why did my payment fail?").await;
        let requests = fake.requests();
        assert!(!requests.is_empty());
        for r in &requests {
            assert!(!holds_card(&r.body.to_string()), "{}", r.body);
        }
        app.stop().await;
    }
);

store_test!(
    fn finding_11_escalation_summaries_and_tool_arguments_are_masked(db: &TestDb) {
        let fake = FakeChatServer::start().await.expect("fake server");
        fake.push(FakeResponse::tool_calls(&[(
            "call_e",
            "escalate",
            json!({ "reason": "billing_dispute", "summary": "wants a refund to 4111 - 1111 - 1111 - 1111" }),
        )]));
        fake.respond_with(|_| FakeResponse::reply("ok"));
        let app = spawn_with_fake(db, &fake).await;
        let mut conv = Conversation::sms(&app, RACHEL);
        let out = conv.send("I want my money back").await;
        assert!(out.escalated);
        assert_eq!(
            db.scalar("SELECT COUNT(*) FROM escalations WHERE summary LIKE '%1111 - 1111%'")
                .await,
            0
        );
        for c in conv.tool_calls().await {
            assert!(!holds_card(&c.arguments.to_string()), "{}", c.arguments);
        }
        app.stop().await;
    }
);
