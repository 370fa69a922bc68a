//! The CSR's queue actions over the served application, on both engines: the queue order
//! and filters, claim, resolve (closing or handing back), hand-back, and replies on the
//! customer's channel — each checked through the API's answers, the stored state, the
//! agent's behaviour on the next inbound message, and tenant isolation.

use chrono::Duration;
use serde_json::{json, Value};

use crate::common::api::{check, get_ok, post, text_agent, user_token, Req};
use crate::common::app::TestApp;
use frontdesk::domain::{
    Channel, ConversationId, CustomerId, Direction, EscalationId, EscalationReason,
    EscalationStatus, IdentityLevel, Priority, Role,
};
use frontdesk::store::{NewConversation, NewEscalation};

const RACHEL: &str = "+15125550155";
const TOM_OPTED_OUT: &str = "+15125550144";

/// A conversation with one open escalation, written straight to the store.
async fn escalate(
    app: &TestApp,
    customer: Option<CustomerId>,
    channel: Channel,
    participant: &str,
    priority: Priority,
    due_in_hours: i64,
) -> (ConversationId, EscalationId) {
    let store = &app.state.store;
    let now = app.state.clock.now();
    let tenant = app.demo.demo;
    let conversation = store
        .insert_conversation(
            tenant,
            &NewConversation {
                channel,
                customer_id: customer,
                identity_level: IdentityLevel::Verified,
                participant: participant.to_string(),
            },
            now,
        )
        .await
        .expect("conversation");
    let escalation = store
        .insert_escalation(
            tenant,
            &NewEscalation {
                conversation_id: conversation,
                customer_id: customer,
                reason: EscalationReason::BillingDispute,
                priority,
                summary: format!("{priority} case for {participant}"),
                due_at: now + Duration::hours(due_in_hours),
            },
            now,
        )
        .await
        .expect("escalation");
    (conversation, escalation)
}

fn ids(body: &Value) -> Vec<i64> {
    body["escalations"]
        .as_array()
        .expect("escalations")
        .iter()
        .map(|e| e["id"].as_i64().expect("id"))
        .collect()
}

store_test!(
    fn queue_lists_most_urgent_first_per_tenant(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let d = &app.demo;
        let csr = app.token(d.demo, Role::Csr).await;
        let (_, normal_late) = escalate(
            &app,
            Some(d.john_smith),
            Channel::Sms,
            "+15125550133",
            Priority::Normal,
            30,
        )
        .await;
        let (_, normal_soon) = escalate(
            &app,
            Some(d.jon_smith),
            Channel::Voice,
            "+15125550134",
            Priority::Normal,
            2,
        )
        .await;
        let (_, urgent) = escalate(
            &app,
            Some(d.greg_holloway),
            Channel::Sms,
            "+15125550166",
            Priority::Urgent,
            40,
        )
        .await;
        let (_, low) = escalate(&app, None, Channel::Chat, "anonymous-web", Priority::Low, 1).await;
        let (chat_conv, high) = escalate(
            &app,
            Some(d.eleanor_price),
            Channel::Chat,
            "portal:eleanor",
            Priority::High,
            12,
        )
        .await;

        let body = get_ok(&app, "/api/v1/operator/escalations", &csr).await;
        assert_eq!(
            ids(&body),
            vec![urgent.0, high.0, normal_soon.0, normal_late.0, low.0]
        );
        assert_eq!(body["total"], 5);
        let first_high = &body["escalations"][1];
        assert_eq!(first_high["customer_name"], "Eleanor Price");
        assert_eq!(first_high["customer_id"], d.eleanor_price.0);
        assert_eq!(first_high["priority"], "high");
        assert_eq!(first_high["reason"], "billing_dispute");
        assert_eq!(first_high["status"], "open");
        assert_eq!(first_high["summary"], "high case for portal:eleanor");
        assert_eq!(first_high["conversation_id"], chat_conv.0);
        assert_eq!(first_high["channel"], "chat");
        let due = first_high["due_at"].as_str().expect("due_at");
        assert!(due.ends_with("-06:00"), "local due time with offset: {due}");
        assert_eq!(
            chrono::DateTime::parse_from_rfc3339(due).expect("rfc3339"),
            app.state.clock.now() + Duration::hours(12)
        );
        assert!(
            body["escalations"][4]["customer_name"].is_null(),
            "unknown customer"
        );

        // Filters and paging.
        let carlos = user_token(&app, d.demo, d.carlos_mendez, Role::Csr).await;
        let (status, _) = post(
            &app,
            &format!("/api/v1/operator/escalations/{high}/claim"),
            &carlos,
            json!({}),
        )
        .await;
        assert_eq!(status, 200);
        let open = get_ok(&app, "/api/v1/operator/escalations?status=open", &csr).await;
        assert_eq!(
            ids(&open),
            vec![urgent.0, normal_soon.0, normal_late.0, low.0]
        );
        let claimed = get_ok(&app, "/api/v1/operator/escalations?status=claimed", &csr).await;
        assert_eq!(ids(&claimed), vec![high.0]);
        assert_eq!(
            claimed["escalations"][0]["assignee"],
            format!("csr:{}", d.carlos_mendez)
        );
        let resolved = get_ok(&app, "/api/v1/operator/escalations?status=resolved", &csr).await;
        assert!(ids(&resolved).is_empty());
        let page2 = get_ok(&app, "/api/v1/operator/escalations?per_page=2&page=2", &csr).await;
        assert_eq!(ids(&page2), vec![normal_soon.0, normal_late.0]);
        for bad in ["status=closed", "status=OPEN", "page=0", "per_page=9999"] {
            check(
                &app,
                Req::get(format!("/api/v1/operator/escalations?{bad}")).token(&csr),
                400,
                Some("invalid_query"),
            )
            .await;
        }

        // One escalation by id; the other tenant sees none of them.
        let one = get_ok(
            &app,
            &format!("/api/v1/operator/escalations/{urgent}"),
            &csr,
        )
        .await;
        assert_eq!(one["customer_name"], "Greg Holloway");
        let north = app.token(d.northwind, Role::Admin).await;
        let theirs = get_ok(&app, "/api/v1/operator/escalations", &north).await;
        assert!(ids(&theirs).is_empty(), "{theirs}");
        check(
            &app,
            Req::get(format!("/api/v1/operator/escalations/{urgent}")).token(&north),
            404,
            Some("escalation_not_found"),
        )
        .await;
        check(
            &app,
            Req::get("/api/v1/operator/escalations/abc").token(&csr),
            400,
            Some("malformed_id"),
        )
        .await;
        app.stop().await;
    }
);

store_test!(
    fn claim_assigns_once_and_conflicts_for_others(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let d = &app.demo;
        let store = &app.state.store;
        let carlos = user_token(&app, d.demo, d.carlos_mendez, Role::Csr).await;
        let olivia = user_token(&app, d.demo, d.olivia_reyes, Role::Admin).await;
        let desk = app.token(d.demo, Role::Csr).await;
        let (conv, e) = escalate(
            &app,
            Some(d.john_smith),
            Channel::Sms,
            "+15125550133",
            Priority::Normal,
            4,
        )
        .await;
        let claim = format!("/api/v1/operator/escalations/{e}/claim");

        let body = check(&app, Req::post(&claim, json!({})).token(&carlos), 200, None).await;
        assert_eq!(body["status"], "claimed");
        assert_eq!(body["assignee"], format!("csr:{}", d.carlos_mendez));
        let stored = &store
            .escalations_of(d.demo, d.john_smith)
            .await
            .expect("escalations")[0];
        assert_eq!(stored.status, EscalationStatus::Claimed);
        assert_eq!(stored.assignee, Some(d.carlos_mendez));
        let c = store
            .conversation(d.demo, conv)
            .await
            .expect("conversation");
        assert_eq!(c.owner, format!("csr:{}", d.carlos_mendez));

        // Again by the same CSR: fine, nothing changes. By anyone else: conflict.
        check(&app, Req::post(&claim, json!({})).token(&carlos), 200, None).await;
        check(
            &app,
            Req::post(&claim, json!({})).token(&olivia),
            409,
            Some("conflict"),
        )
        .await;
        check(
            &app,
            Req::post(&claim, json!({})).token(&desk),
            409,
            Some("conflict"),
        )
        .await;
        let still = &store
            .escalations_of(d.demo, d.john_smith)
            .await
            .expect("escalations")[0];
        assert_eq!(still.assignee, Some(d.carlos_mendez));

        // A token without a user claims under its role's label.
        let (conv2, e2) = escalate(
            &app,
            Some(d.jon_smith),
            Channel::Sms,
            "+15125550134",
            Priority::High,
            4,
        )
        .await;
        let body = check(
            &app,
            Req::post(
                format!("/api/v1/operator/escalations/{e2}/claim"),
                json!({}),
            )
            .token(&desk),
            200,
            None,
        )
        .await;
        assert_eq!(body["assignee"], "csr:csr");
        assert_eq!(
            store.conversation(d.demo, conv2).await.expect("conv").owner,
            "csr:csr"
        );
        check(
            &app,
            Req::post(
                format!("/api/v1/operator/escalations/{e2}/claim"),
                json!({}),
            )
            .token(&carlos),
            409,
            Some("conflict"),
        )
        .await;

        // Other tenant, unknown and malformed ids, and a resolved escalation.
        let north = app.token(d.northwind, Role::Admin).await;
        check(
            &app,
            Req::post(&claim, json!({})).token(&north),
            404,
            Some("escalation_not_found"),
        )
        .await;
        check(
            &app,
            Req::post("/api/v1/operator/escalations/999999/claim", json!({})).token(&carlos),
            404,
            Some("escalation_not_found"),
        )
        .await;
        check(
            &app,
            Req::post("/api/v1/operator/escalations/0/claim", json!({})).token(&carlos),
            400,
            Some("malformed_id"),
        )
        .await;
        let integration = app.token(d.demo, Role::Integration).await;
        check(
            &app,
            Req::post(&claim, json!({})).token(&integration),
            403,
            Some("forbidden"),
        )
        .await;
        check(
            &app,
            Req::post(
                format!("/api/v1/operator/escalations/{e}/resolve"),
                json!({"resolution": "refunded"}),
            )
            .token(&carlos),
            200,
            None,
        )
        .await;
        check(
            &app,
            Req::post(&claim, json!({})).token(&carlos),
            409,
            Some("conflict"),
        )
        .await;
        app.stop().await;
    }
);

store_test!(
    fn resolve_closes_the_conversation_unless_handed_back(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let d = &app.demo;
        let store = &app.state.store;
        let carlos = user_token(&app, d.demo, d.carlos_mendez, Role::Csr).await;
        let olivia = user_token(&app, d.demo, d.olivia_reyes, Role::Admin).await;
        let integration = app.token(d.demo, Role::Integration).await;

        // Rachel asks to cancel: the agent escalates and then stays silent.
        let t1 = text_agent(
            &app,
            &integration,
            RACHEL,
            "I want to cancel my service",
            "q-res-1",
        )
        .await;
        assert_eq!(t1["escalated"], true, "{t1}");
        let conv = ConversationId(t1["conversation_id"].as_i64().expect("conversation"));
        let e = store
            .escalations_of(d.demo, d.rachel_kim)
            .await
            .expect("escalations")[0]
            .id;
        let resolve = format!("/api/v1/operator/escalations/{e}/resolve");

        check(
            &app,
            Req::post(&resolve, json!({"resolution": "  "})).token(&carlos),
            400,
            Some("empty_resolution"),
        )
        .await;
        check(
            &app,
            Req::post(&resolve, json!({})).token(&carlos),
            400,
            Some("invalid_json"),
        )
        .await;
        check(
            &app,
            Req::post(&resolve, json!({"resolution": "x", "extra": 1})).token(&carlos),
            400,
            Some("invalid_json"),
        )
        .await;
        let north = app.token(d.northwind, Role::Admin).await;
        check(
            &app,
            Req::post(&resolve, json!({"resolution": "x"})).token(&north),
            404,
            Some("escalation_not_found"),
        )
        .await;

        // Claimed by Carlos: Olivia may not resolve it.
        check(
            &app,
            Req::post(format!("/api/v1/operator/escalations/{e}/claim"), json!({})).token(&carlos),
            200,
            None,
        )
        .await;
        check(
            &app,
            Req::post(&resolve, json!({"resolution": "x"})).token(&olivia),
            409,
            Some("conflict"),
        )
        .await;

        let body = check(
            &app,
            Req::post(
                &resolve,
                json!({"resolution": "kept the plan with a 10% courtesy credit"}),
            )
            .token(&carlos),
            200,
            None,
        )
        .await;
        assert_eq!(body["status"], "resolved");
        assert_eq!(
            body["resolution"],
            "kept the plan with a 10% courtesy credit"
        );
        assert!(
            body["resolved_at"]
                .as_str()
                .is_some_and(|s| s.ends_with("-06:00")),
            "{body}"
        );
        let stored = &store
            .escalations_of(d.demo, d.rachel_kim)
            .await
            .expect("escalations")[0];
        assert_eq!(stored.status, EscalationStatus::Resolved);
        assert_eq!(stored.resolved_at, Some(app.state.clock.now()));
        let c = store
            .conversation(d.demo, conv)
            .await
            .expect("conversation");
        assert_eq!(
            c.status, "closed",
            "no hand-back: the conversation is closed"
        );
        check(
            &app,
            Req::post(&resolve, json!({"resolution": "again"})).token(&carlos),
            409,
            Some("conflict"),
        )
        .await;

        // The next text starts a new conversation that the agent answers.
        let t2 = text_agent(
            &app,
            &integration,
            RACHEL,
            "what time is my appointment?",
            "q-res-2",
        )
        .await;
        assert!(t2["reply"].as_str().is_some_and(|r| !r.is_empty()), "{t2}");
        assert_ne!(t2["conversation_id"], conv.0);

        // With hand_back the same conversation goes back to the agent.
        let t3 = text_agent(
            &app,
            &integration,
            RACHEL,
            "actually I want to cancel everything",
            "q-res-3",
        )
        .await;
        assert_eq!(t3["escalated"], true, "{t3}");
        let conv3 = ConversationId(t3["conversation_id"].as_i64().expect("conversation"));
        let e3 = store
            .escalations_of(d.demo, d.rachel_kim)
            .await
            .expect("escalations")
            .into_iter()
            .find(|x| x.conversation_id == conv3)
            .expect("new escalation")
            .id;
        let body = check(
            &app,
            Req::post(
                format!("/api/v1/operator/escalations/{e3}/resolve"),
                json!({"resolution": "explained the cancellation terms", "hand_back": true}),
            )
            .token(&olivia),
            200,
            None,
        )
        .await;
        assert_eq!(body["status"], "resolved");
        assert_eq!(body["assignee"], json!(format!("csr:{}", d.olivia_reyes)));
        let c = store
            .conversation(d.demo, conv3)
            .await
            .expect("conversation");
        assert_eq!((c.status.as_str(), c.owner.as_str()), ("open", "agent"));
        let t4 = text_agent(
            &app,
            &integration,
            RACHEL,
            "ok thanks, how much is mosquito service?",
            "q-res-4",
        )
        .await;
        assert_eq!(t4["conversation_id"], conv3.0);
        assert!(
            t4["reply"].as_str().is_some_and(|r| r.contains('$')),
            "{t4}"
        );
        app.stop().await;
    }
);

store_test!(
    fn hand_back_returns_the_conversation_to_the_agent(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let d = &app.demo;
        let store = &app.state.store;
        let carlos = user_token(&app, d.demo, d.carlos_mendez, Role::Csr).await;
        let integration = app.token(d.demo, Role::Integration).await;

        let t1 = text_agent(
            &app,
            &integration,
            RACHEL,
            "I want to cancel my service",
            "q-hb-1",
        )
        .await;
        assert_eq!(t1["escalated"], true, "{t1}");
        let conv = t1["conversation_id"].as_i64().expect("conversation");
        // Before hand-back the agent stays silent.
        let t2 = text_agent(&app, &integration, RACHEL, "hello? anyone there?", "q-hb-2").await;
        assert!(
            t2["reply"].is_null(),
            "the agent does not talk over the queue: {t2}"
        );
        assert_eq!(t2["conversation_id"], conv);

        let hand_back = format!("/api/v1/operator/conversations/{conv}/hand-back");
        let north = app.token(d.northwind, Role::Admin).await;
        check(
            &app,
            Req::post(&hand_back, json!({})).token(&north),
            404,
            Some("conversation_not_found"),
        )
        .await;
        check(
            &app,
            Req::post("/api/v1/operator/conversations/x/hand-back", json!({})).token(&carlos),
            400,
            Some("malformed_id"),
        )
        .await;

        let body = check(
            &app,
            Req::post(&hand_back, json!({})).token(&carlos),
            200,
            None,
        )
        .await;
        assert_eq!(body["owner"], "agent");
        let esc = store
            .escalations_of(d.demo, d.rachel_kim)
            .await
            .expect("escalations");
        assert_eq!(body["resolved"], json!([esc[0].id.0]));
        assert_eq!(esc[0].status, EscalationStatus::Resolved);
        assert_eq!(esc[0].resolution.as_deref(), Some("handed back"));
        assert_eq!(esc[0].assignee, Some(d.carlos_mendez));

        let t3 = text_agent(
            &app,
            &integration,
            RACHEL,
            "how much is mosquito service?",
            "q-hb-3",
        )
        .await;
        assert_eq!(t3["conversation_id"], conv);
        assert!(
            t3["reply"].as_str().is_some_and(|r| r.contains('$')),
            "the agent answers again: {t3}"
        );

        // Another CSR's conversation cannot be handed back by someone else.
        let olivia = user_token(&app, d.demo, d.olivia_reyes, Role::Admin).await;
        let (conv2, e2) = escalate(
            &app,
            Some(d.john_smith),
            Channel::Sms,
            "+15125550133",
            Priority::Normal,
            4,
        )
        .await;
        check(
            &app,
            Req::post(
                format!("/api/v1/operator/escalations/{e2}/claim"),
                json!({}),
            )
            .token(&olivia),
            200,
            None,
        )
        .await;
        check(
            &app,
            Req::post(
                format!("/api/v1/operator/conversations/{conv2}/hand-back"),
                json!({}),
            )
            .token(&carlos),
            409,
            Some("conflict"),
        )
        .await;
        let c2 = store
            .conversation(d.demo, conv2)
            .await
            .expect("conversation");
        assert_eq!(c2.owner, format!("csr:{}", d.olivia_reyes));
        app.stop().await;
    }
);

store_test!(
    fn csr_replies_on_the_customers_channel(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let d = &app.demo;
        let store = &app.state.store;
        let carlos = user_token(&app, d.demo, d.carlos_mendez, Role::Csr).await;
        let olivia = user_token(&app, d.demo, d.olivia_reyes, Role::Admin).await;
        // SMS (a carrier thread): stored, queued for Twilio, and the reply takes the conversation over.
        let mut sms = crate::common::agent::Conversation::sms(&app, RACHEL);
        let t1 = sms.send("I want to cancel my service").await;
        let conv = t1.conversation_id;
        let reply = format!("/api/v1/operator/conversations/{conv}/reply");
        let text = "Hi Rachel, this is Carlos from Greenleaf. Can I call you tomorrow at 9?";
        let body = check(
            &app,
            Req::post(&reply, json!({ "text": text })).token(&carlos),
            201,
            None,
        )
        .await;
        assert_eq!(body["delivery"], "sms_queued");
        assert_eq!(body["author"], format!("csr:{}", d.carlos_mendez));
        let messages = store.messages(d.demo, conv).await.expect("messages");
        let last = messages.last().expect("a message");
        assert_eq!(
            (last.direction, last.text.as_str()),
            (Direction::Outbound, text)
        );
        assert_eq!(last.author, format!("csr:{}", d.carlos_mendez));
        let out = store.outbound_of(d.demo, Some(conv)).await.expect("outbox");
        let queued: Vec<_> = out.iter().filter(|o| o.purpose == "csr_reply").collect();
        assert_eq!(queued.len(), 1, "{out:?}");
        assert_eq!(
            (queued[0].to.as_str(), queued[0].body.as_str()),
            (RACHEL, text)
        );
        assert_eq!(queued[0].from, "+15125550000");
        let esc = &store
            .escalations_of(d.demo, d.rachel_kim)
            .await
            .expect("escalations")[0];
        assert_eq!(
            (esc.status, esc.assignee),
            (EscalationStatus::Claimed, Some(d.carlos_mendez))
        );
        assert_eq!(body["claimed"], json!([esc.id.0]));
        assert_eq!(
            store.conversation(d.demo, conv).await.expect("conv").owner,
            format!("csr:{}", d.carlos_mendez)
        );

        // The customer's answer waits for Carlos; Olivia may not talk over him.
        let t2 = sms.send("yes 9 works").await;
        assert!(t2.reply.is_none(), "{t2:?}");
        check(
            &app,
            Req::post(&reply, json!({ "text": "hi" })).token(&olivia),
            409,
            Some("conflict"),
        )
        .await;

        // Bad input, other tenant.
        check(
            &app,
            Req::post(&reply, json!({ "text": "   " })).token(&carlos),
            400,
            Some("empty_text"),
        )
        .await;
        check(
            &app,
            Req::post(&reply, json!({ "text": "x".repeat(1601) })).token(&carlos),
            400,
            Some("text_too_long"),
        )
        .await;
        check(
            &app,
            Req::post(&reply, json!({ "txt": "hi" })).token(&carlos),
            400,
            Some("invalid_json"),
        )
        .await;
        let north = app.token(d.northwind, Role::Admin).await;
        check(
            &app,
            Req::post(&reply, json!({ "text": "hi" })).token(&north),
            404,
            Some("conversation_not_found"),
        )
        .await;
        check(
            &app,
            Req::post(
                "/api/v1/operator/conversations/999999/reply",
                json!({ "text": "hi" }),
            )
            .token(&carlos),
            404,
            Some("conversation_not_found"),
        )
        .await;

        // An opted-out number is never texted, and nothing is stored.
        let (tom_conv, _) = escalate(
            &app,
            Some(d.tom_becker),
            Channel::Sms,
            TOM_OPTED_OUT,
            Priority::Normal,
            4,
        )
        .await;
        check(
            &app,
            Req::post(
                format!("/api/v1/operator/conversations/{tom_conv}/reply"),
                json!({ "text": "hi Tom" }),
            )
            .token(&carlos),
            409,
            Some("opted_out"),
        )
        .await;
        assert!(store
            .messages(d.demo, tom_conv)
            .await
            .expect("messages")
            .is_empty());
        assert!(store
            .outbound_of(d.demo, Some(tom_conv))
            .await
            .expect("outbox")
            .is_empty());

        // Chat: stored for the portal, nothing sent.
        let (chat, chat_e) = escalate(
            &app,
            Some(d.eleanor_price),
            Channel::Chat,
            "portal:eleanor",
            Priority::Normal,
            4,
        )
        .await;
        let body = check(
            &app,
            Req::post(
                format!("/api/v1/operator/conversations/{chat}/reply"),
                json!({ "text": "Hello Eleanor" }),
            )
            .token(&olivia),
            201,
            None,
        )
        .await;
        assert_eq!(body["delivery"], "stored");
        assert!(body["outbound_id"].is_null());
        assert_eq!(
            store.messages(d.demo, chat).await.expect("messages").len(),
            1
        );
        assert!(store
            .outbound_of(d.demo, Some(chat))
            .await
            .expect("outbox")
            .is_empty());
        let item = get_ok(
            &app,
            &format!("/api/v1/operator/escalations/{chat_e}"),
            &olivia,
        )
        .await;
        assert_eq!(item["status"], "claimed");
        app.stop().await;
    }
);

store_test! {
    fn escalations_close_to_their_due_time_are_announced_once(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let store = &app.state.store;
        let tenant = app.demo.demo;
        let (_, escalation) = escalate(
            &app,
            Some(app.demo.rachel_kim),
            Channel::Sms,
            RACHEL,
            Priority::High,
            10,
        )
        .await;
        let now = app.state.clock.now();
        let near_breach = |events: &[frontdesk::store::Event]| {
            events
                .iter()
                .filter(|e| {
                    e.kind == frontdesk::store::EventKind::SlaNearBreach
                        && e.payload["escalation_id"] == json!(escalation.0)
                })
                .count()
        };
        // Half the time left: nothing to announce.
        store.flag_near_breaches(now + Duration::hours(5), 100).await.expect("ok");
        let events = store.events_after(tenant, 0, 10_000).await.expect("ok");
        assert_eq!(near_breach(&events), 0);
        // A fifth left: announced, and only once however often the watch runs.
        store.flag_near_breaches(now + Duration::hours(8) + Duration::minutes(1), 100).await.expect("ok");
        store.flag_near_breaches(now + Duration::hours(9), 100).await.expect("ok");
        let events = store.events_after(tenant, 0, 10_000).await.expect("ok");
        assert_eq!(near_breach(&events), 1, "{events:?}");
        let event = events
            .iter()
            .find(|e| e.kind == frontdesk::store::EventKind::SlaNearBreach)
            .expect("ok");
        assert_eq!(event.payload["overdue"], json!(false));
        assert_eq!(event.payload["priority"], json!("high"));
        app.stop().await;
    }
}
