//! The turn under faults: emergencies paged before any model call and never swallowed by
//! the human queue, a confirmation that must postdate its question, a slow or hung model
//! that neither locks the database nor leaves the customer unanswered, turns and replies
//! finished after a crash, external ids scoped to their sender, and an outbox that puts
//! pages first, never sends a row twice and never resends a message Twilio already took.
//! Each test is named after the finding it closes.

use std::time::Duration;

use frontdesk::agent::openai::fake::{FakeChatServer, FakeResponse};
use frontdesk::agent::runtime::{Accepted, Pending};
use frontdesk::agent::{Caller, Inbound};
use frontdesk::domain::Channel;
use frontdesk::store::{Delivery, NewOutbound, Outbound};
use serde_json::json;

use crate::common::agent::*;
use crate::common::api::post;
use crate::common::app::{TestApp, PUBLIC_URL};
use crate::common::twilio::{eventually, fake_twilio, sid, sms_params, TwilioClient, DEMO_ON_CALL};

const WASPS: &str = "there are wasps in the house and my son is allergic";

fn sms(app: &TestApp, from: &str, text: &str, external_id: &str) -> Inbound {
    Inbound {
        tenant: app.demo.demo,
        channel: Channel::Sms,
        participant: from.to_string(),
        text: text.to_string(),
        external_id: Some(external_id.to_string()),
        media: vec![],
        caller: Caller::phone(from, true),
        reply_from: Some(DEMO_NUMBER.to_string()),
    }
}

/// Store a message without running its turn (as a process that dies right after would).
async fn accept_only(app: &TestApp, inbound: &Inbound) -> (i64, frontdesk::domain::ConversationId) {
    match app.state.agent.accept(inbound).await.expect("accepted") {
        Accepted::Pending(p) => (p.inbox_id, p.conversation),
        Accepted::Done(out) => panic!("a new message was already answered: {out:?}"),
    }
}

/// A message accepted by `accept_only`, as `Agent::wait_for` takes it.
fn pending(inbox_id: i64, conversation: frontdesk::domain::ConversationId) -> Pending {
    Pending {
        inbox_id,
        conversation,
        duplicate: false,
        lease: None,
    }
}

async fn outbox(app: &TestApp) -> Vec<Outbound> {
    app.state
        .store
        .outbound_of(app.demo.demo, None)
        .await
        .expect("outbox")
}

async fn pages(app: &TestApp) -> Vec<Outbound> {
    outbox(app)
        .await
        .into_iter()
        .filter(|m| m.purpose == "page")
        .collect()
}

/// A model that answers (with `text`) only after `delay`.
async fn slow_model(text: &'static str, delay: Duration) -> FakeChatServer {
    let model = FakeChatServer::start().await.expect("fake model");
    model.respond_with(move |_| FakeResponse::reply(text).with_delay(delay));
    model
}

fn use_model(raw: &mut frontdesk::config::RawSettings, model: &FakeChatServer) {
    raw.model = Some("openai".into());
    raw.openai_base_url = Some(model.base_url());
    raw.openai_model = Some("fake".into());
}

store_test!(
    fn finding_06_a_slow_turn_pages_an_emergency_before_the_model_answers(db: &TestDb) {
        let fake = fake_twilio().await;
        // A model slower than the webhook's budget: had the turn waited for it, the answer
        // would be empty. The budget is generous for a turn that only runs the rules, so a
        // busy machine does not miss it.
        let model = slow_model("Sorry to hear that.", Duration::from_millis(6000)).await;
        let app = TestApp::spawn_with(db, |raw| {
            raw.twilio_api_base = Some(fake.api_base());
            raw.twilio_reply_budget_ms = Some(4000);
            use_model(raw, &model);
        })
        .await;
        let r = TwilioClient::new(&app).sms(RACHEL, WASPS).await;
        // Answered at once, from the rules, with the safety guidance and the promise.
        assert_says_all(&r.message(), &["on-call"]);
        assert_eq!(
            model.hits(),
            0,
            "the model was not consulted for an emergency"
        );
        // The page and the urgent escalation exist when the webhook has answered.
        let page = pages(&app).await;
        assert_eq!(page.len(), 1, "{page:?}");
        assert_eq!(page[0].to, DEMO_ON_CALL);
        let conv = app
            .state
            .store
            .conversation(page[0].tenant_id, page[0].conversation_id.expect("conv"))
            .await
            .expect("conversation");
        assert_eq!(conv.owner, "queue");
        assert!(
            fake.wait_for_messages(1, Duration::from_secs(10))
                .await
                .iter()
                .any(|m| m.field("To") == Some(DEMO_ON_CALL)),
            "the page went out"
        );
        app.stop().await;
        fake.stop().await;
    }
);

store_test!(
    fn finding_07_an_emergency_in_a_queued_conversation_pages_once_with_guidance(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let mut conv = Conversation::sms(&app, RACHEL);
        conv.say("can I talk to a person please").await;
        assert_eq!(conv.row().await.owner, "queue");
        assert!(pages(&app).await.is_empty());

        let guidance = conv.say(WASPS).await;
        assert_says_all(&guidance, &["on-call"]);
        assert_eq!(pages(&app).await.len(), 1, "paged once");
        let escalations = conv.escalations(db).await;
        assert_eq!(escalations.len(), 1, "{escalations:?}");
        assert_eq!(escalations[0].1, "urgent", "{escalations:?}");

        // A second emergency message: guidance again, no second page.
        let again = conv
            .say("the wasps got inside again and he is allergic")
            .await;
        assert_says_all(&again, &["on-call"]);
        assert_eq!(pages(&app).await.len(), 1, "still one page");

        // Anything else while a person owns it: silence.
        let out = conv.send("hello?").await;
        assert_eq!(out.reply, None);
        app.stop().await;
    }
);

store_test!(
    fn finding_08_a_yes_sent_before_the_question_does_not_confirm(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let before = rachel_appointment(&app).await;
        let agent = &app.state.agent;
        // Both arrive before the first is answered.
        let ask = sms(&app, RACHEL, "can u mvoe my appt to thurs morning", "f08-1");
        let yes = sms(&app, RACHEL, "yes", "f08-2");
        let (ask_id, conv) = accept_only(&app, &ask).await;
        let (yes_id, _) = accept_only(&app, &yes).await;
        let asked = agent
            .wait_for(app.demo.demo, pending(ask_id, conv), None)
            .await
            .expect("turn");
        let answered = agent
            .wait_for(app.demo.demo, pending(yes_id, conv), None)
            .await
            .expect("turn");
        assert_says_all(asked.reply.as_deref().unwrap_or_default(), &["YES"]);
        assert_eq!(
            rachel_appointment(&app).await.slot_id,
            before.slot_id,
            "the early yes never saw the question"
        );
        // The question is put again; a yes written after it confirms.
        assert_says_all(answered.reply.as_deref().unwrap_or_default(), &["YES"]);
        let done = agent
            .handle(sms(&app, RACHEL, "yes", "f08-3"))
            .await
            .expect("turn");
        assert_ne!(
            rachel_appointment(&app).await.slot_id,
            before.slot_id,
            "{done:?}"
        );
        app.stop().await;
    }
);

store_test!(
    fn finding_13_a_hung_model_still_answers_within_the_budget(db: &TestDb) {
        let model = slow_model("too late", Duration::from_secs(30)).await;
        let app = TestApp::spawn_with(db, |raw| {
            raw.twilio_reply_budget_ms = Some(3000);
            use_model(raw, &model);
        })
        .await;
        let message_sid = sid("SM");
        let r = TwilioClient::new(&app)
            .post(
                "/twilio/sms",
                &sms_params(
                    &message_sid,
                    RACHEL,
                    DEMO_NUMBER,
                    "how much is mosquito service?",
                ),
            )
            .await;
        // The built-in model answered in the model's place.
        assert!(!r.messages().is_empty(), "{r:?}");
        assert_says_none(&r.message(), &["too late"]);
        let stored = app
            .state
            .store
            .inbox_item(app.demo.demo, &message_sid)
            .await
            .expect("inbox")
            .expect("the message is stored");
        assert!(stored.done);
        app.stop().await;
    }
);

store_test!(
    fn finding_13_no_write_lock_is_held_while_a_model_runs(db: &TestDb) {
        let model = slow_model("Sure.", Duration::from_secs(4)).await;
        let app = TestApp::spawn_with(db, |raw| use_model(raw, &model)).await;
        let agent = app.state.agent.clone();
        let slow = sms(&app, RACHEL, "how much is mosquito service?", "f13-slow");
        let running = tokio::spawn(async move { agent.handle(slow).await });
        // Wait (bounded) until the model has the request.
        eventually(Duration::from_secs(10), || async {
            (model.hits() > 0).then_some(())
        })
        .await
        .expect("the model got the request");
        // Another customer's message is stored while the model still thinks.
        let other = sms(&app, JOHN_SMITH, "what are your hours?", "f13-other");
        accept_only(&app, &other).await;
        assert!(
            !running.is_finished(),
            "the other message was stored while the model ran"
        );
        running
            .await
            .expect("join")
            .expect("the slow turn finished");
        app.stop().await;
    }
);

store_test!(
    fn finding_14_a_turn_left_pending_by_a_crash_is_finished_and_its_reply_sent(db: &TestDb) {
        let fake = fake_twilio().await;
        let app = TestApp::spawn_with(db, |raw| raw.twilio_api_base = Some(fake.api_base())).await;
        // The process died right after storing the message.
        let (inbox_id, _) =
            accept_only(&app, &sms(&app, RACHEL, "what do I owe?", "SMf14crash")).await;
        // Any instance's recovery pass finishes it and texts the answer.
        let n = app
            .state
            .agent
            .recover(Duration::ZERO, Duration::ZERO)
            .await
            .expect("recover");
        assert!(n >= 1);
        let item = app
            .state
            .store
            .inbox_by_id(app.demo.demo, inbox_id)
            .await
            .expect("row");
        assert!(item.done);
        app.state.outbox.notify_one();
        let sent = fake.wait_for_messages(1, Duration::from_secs(10)).await;
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0].field("To"), Some(RACHEL));
        assert_eq!(sent[0].field("Body"), item.reply.as_deref());
        // A second pass sends nothing more.
        app.state
            .agent
            .recover(Duration::ZERO, Duration::ZERO)
            .await
            .expect("recover");
        app.state.outbox.notify_one();
        assert_eq!(fake.messages().len(), 1);
        app.stop().await;
        fake.stop().await;
    }
);

store_test!(
    fn finding_14_the_carriers_retry_of_an_unanswered_message_gets_the_reply(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let twilio = TwilioClient::new(&app);
        let message_sid = sid("SM");
        // The turn finished but the process died before answering the webhook.
        let (_, conv) = accept_only(&app, &sms(&app, RACHEL, "what do I owe?", &message_sid)).await;
        drain_now(&app, conv).await;
        let retry = twilio
            .post(
                "/twilio/sms",
                &sms_params(&message_sid, RACHEL, DEMO_NUMBER, "what do I owe?"),
            )
            .await;
        assert_eq!(retry.messages().len(), 1, "{retry:?}");
        app.stop().await;
    }
);

store_test!(
    fn a_turn_cut_short_after_it_escalated_still_acknowledges(db: &TestDb) {
        // Found by `frontdesk soak`: a process killed between the transaction that opened an
        // escalation and the one that writes the reply left the customer with silence (the
        // resumed turn saw a person-owned conversation). The acknowledgement is staged with
        // the escalation; the resumed turn sends it.
        let app = TestApp::spawn(db).await;
        let (id, conv) = accept_only(
            &app,
            &sms(
                &app,
                RACHEL,
                "can I talk to a real person please",
                &sid("SM"),
            ),
        )
        .await;
        drain_now(&app, conv).await;
        let done = app
            .state
            .store
            .inbox_by_id(app.demo.demo, id)
            .await
            .expect("inbox row");
        let ack = done.reply.clone().expect("an acknowledgement");
        assert!(done.escalated, "the turn did not escalate: {ack}");
        // The state a crash after the escalating transaction leaves: the turn started, the
        // escalation and the conversation's owner committed, no reply written or sent.
        db.execute(&format!(
            "UPDATE inbox SET status = 'pending', processed_at = NULL, processed_wall = NULL, delivery = NULL WHERE id = {id}"
        ))
        .await;
        db.execute(&format!(
            "DELETE FROM messages WHERE conversation_id = {} AND direction = 'outbound'",
            conv.0
        ))
        .await;
        drain_now(&app, conv).await;
        let resumed = app
            .state
            .store
            .inbox_by_id(app.demo.demo, id)
            .await
            .expect("inbox row");
        assert!(resumed.done, "the resumed turn did not finish");
        assert_eq!(
            resumed.reply.as_deref(),
            Some(ack.as_str()),
            "silence after a crash"
        );
        assert!(resumed.escalated);
        app.stop().await;
    }
);

store_test!(
    fn an_inline_answer_is_confirmed_only_after_it_was_handed_over_whole(db: &TestDb) {
        // Found by `frontdesk soak`: the answer was confirmed from inside its own chunked
        // body, before the chunk that ends it was written, so a kill in between cut an answer
        // already recorded as sent (and the sender's retry got an empty one). The answer now
        // goes with its length, in one piece, and is confirmed after the connection took it.
        let app = TestApp::spawn(db).await;
        let reply = TwilioClient::new(&app)
            .sms(RACHEL, "what are your hours?")
            .await;
        assert!(reply.is_twiml() && !reply.message().is_empty(), "{reply:?}");
        assert!(
            reply.headers.get("transfer-encoding").is_none(),
            "{reply:?}"
        );
        let length = reply
            .headers
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        assert_eq!(length, Some(reply.body.len()), "{reply:?}");
        app.state.background.idle().await;
        let unconfirmed = app
            .state
            .store
            .unconfirmed_inline_replies(-3600)
            .await
            .expect("unconfirmed");
        assert!(unconfirmed.is_empty(), "{unconfirmed:?}");
        app.stop().await;
    }
);

store_test!(
    fn a_message_taken_to_run_holds_the_lease_and_its_turn_claims_the_delivery(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let (agent, store, tenant) = (&app.state.agent, &app.state.store, app.demo.demo);
        let to_pending = |a: Accepted| match a {
            Accepted::Pending(p) => p,
            Accepted::Done(out) => panic!("a new message was already answered: {out:?}"),
        };
        let first = sms(&app, RACHEL, "what are your hours?", "lease-1");
        let first = to_pending(agent.accept_to_run(&first).await.expect("accepted"));
        assert!(first.lease.is_some(), "the lease was free: {first:?}");
        // The conversation's lease is held: a second message waits for its holder.
        let second = sms(&app, RACHEL, "do you treat for ants", "lease-2");
        let second = to_pending(agent.accept_to_run(&second).await.expect("accepted"));
        assert_eq!(second.conversation, first.conversation);
        assert!(second.lease.is_none(), "{second:?}");
        let (first_id, second_id) = (first.inbox_id, second.inbox_id);
        // The holder runs both; the first turn records its inline delivery itself.
        let out = agent
            .wait_for(tenant, first, Some(Delivery::Inline))
            .await
            .expect("turn");
        assert_eq!(out.delivery, Some(Delivery::Inline));
        let row = store.inbox_by_id(tenant, first_id).await.expect("row");
        assert_eq!(row.delivery, Some(Delivery::Inline));
        assert!(
            !store
                .claim_delivery(tenant, first_id, Delivery::Inline)
                .await
                .expect("claim"),
            "claimed twice"
        );
        // Until the answer has left, it is unconfirmed (recovery would check it).
        let unconfirmed = store.unconfirmed_inline_replies(-3600).await.expect("list");
        assert!(
            unconfirmed.iter().any(|(i, _)| i.id == first_id),
            "{unconfirmed:?}"
        );
        let row = store.inbox_by_id(tenant, second_id).await.expect("row");
        assert!(row.done && row.delivery.is_none(), "{row:?}");
        let out = agent
            .wait_for(tenant, second, Some(Delivery::Inline))
            .await
            .expect("turn");
        assert_eq!(out.delivery, None, "another call ran its turn");
        assert!(out.reply.is_some());
        app.stop().await;
    }
);

/// A message whose turn finished and whose reply was claimed for an inline answer by a
/// request whose process then died: its reply.
async fn claimed_inline_then_died(app: &TestApp, text: &str, external_id: &str) -> String {
    let (inbox_id, conv) = accept_only(app, &sms(app, RACHEL, text, external_id)).await;
    drain_now(app, conv).await;
    let (store, tenant) = (&app.state.store, app.demo.demo);
    assert!(store
        .claim_delivery(tenant, inbox_id, frontdesk::store::Delivery::Inline)
        .await
        .expect("claim"));
    let item = store.inbox_by_id(tenant, inbox_id).await.expect("row");
    item.reply.expect("a reply")
}

/// Recovery with no grace, then the outbox woken.
async fn recover_now(app: &TestApp) {
    app.state
        .agent
        .recover(Duration::ZERO, Duration::ZERO)
        .await
        .expect("recover");
    app.state.outbox.notify_one();
}

store_test!(
    fn a_reply_that_repeats_an_earlier_one_is_not_taken_for_it(db: &TestDb) {
        // Found by `frontdesk soak`: a reply whose inline answer never left was looked up in
        // Twilio's message list by its text, and an earlier identical reply to the same
        // number ("Got it. What can I help you with today?") was taken for it: never sent.
        let fake = fake_twilio().await;
        let app = TestApp::spawn_with(db, |raw| raw.twilio_api_base = Some(fake.api_base())).await;
        let question = "what are your hours?";
        // The first answer went inline and reached Twilio.
        let first = TwilioClient::new(&app).sms(RACHEL, question).await;
        let answered = first.message();
        assert!(!answered.is_empty(), "{first:?}");
        fake.record_twiml_reply(DEMO_NUMBER, RACHEL, &answered);
        app.state.background.idle().await;
        // The same question again: its answer was claimed inline, then the process died.
        let reply = claimed_inline_then_died(&app, question, "SMrepeat2").await;
        let text = frontdesk::channels::twilio::sms::fit_sms(&reply, 2);
        assert_eq!(text, answered, "the example needs the same reply twice");
        recover_now(&app).await;
        let sent = fake.wait_for_messages(1, Duration::from_secs(10)).await;
        assert_eq!(sent.len(), 1, "the repeated reply was never sent: {sent:?}");
        assert_eq!(sent[0].body(), Some(text.as_str()));
        app.stop().await;
    }
);

store_test!(
    fn a_reply_claimed_for_an_answer_that_never_left_is_sent_once(db: &TestDb) {
        // Found by `frontdesk soak`: a process killed after recording "answered inline" and
        // before the answer left it lost the reply. An unconfirmed inline reply is checked
        // against Twilio's message list by recovery and sent only if it is not there.
        let fake = fake_twilio().await;
        let app = TestApp::spawn_with(db, |raw| raw.twilio_api_base = Some(fake.api_base())).await;
        let store = app.state.store.clone();
        let tenant = app.demo.demo;
        let mut replies = Vec::new();
        for (text, id) in [
            ("what do I owe?", "SMlost1"),
            ("what are your hours?", "SMlost2"),
        ] {
            replies.push(claimed_inline_then_died(&app, text, id).await);
        }
        // The second answer did reach Twilio (it is a message of the account); the first did not.
        let answered = frontdesk::channels::twilio::sms::fit_sms(&replies[1], 2);
        fake.record_twiml_reply(DEMO_NUMBER, RACHEL, &answered);
        recover_now(&app).await;
        let sent = fake.wait_for_messages(1, Duration::from_secs(10)).await;
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(
            sent[0].body().map(str::to_owned),
            Some(frontdesk::channels::twilio::sms::fit_sms(&replies[0], 2))
        );
        // Both rows are settled: nothing waits, nothing goes out again.
        let settled = eventually(Duration::from_secs(10), || {
            let store = store.clone();
            async move { store.settled(tenant).await.expect("settled").then_some(()) }
        })
        .await;
        assert!(settled.is_some(), "the outbox did not settle");
        recover_now(&app).await;
        let bodies: Vec<_> = fake
            .messages()
            .iter()
            .map(|m| m.body().map(str::to_owned))
            .collect();
        assert_eq!(
            bodies.len(),
            1,
            "a reply went out twice: {bodies:?} (replies {replies:?})"
        );
        app.stop().await;
        fake.stop().await;
    }
);

store_test!(
    fn finding_17_an_external_id_reused_for_other_text_is_a_conflict(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let token = app
            .token(app.demo.demo, frontdesk::domain::Role::Integration)
            .await;
        let msg = |from: &str, text: &str| json!({ "channel": "sms", "from": from, "to": DEMO_NUMBER, "text": text, "external_id": "f17" });
        let (s, first) = post(
            &app,
            "/api/v1/messages",
            &token,
            msg(RACHEL, "what are your hours?"),
        )
        .await;
        assert_eq!(s, 200, "{first}");
        // The same delivery again: the same answer.
        let (s, again) = post(
            &app,
            "/api/v1/messages",
            &token,
            msg(RACHEL, "what are your hours?"),
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(again["duplicate"], true);
        assert_eq!(again["reply"], first["reply"]);
        // The same id with other text: refused, never the earlier reply.
        let (s, reused) = post(
            &app,
            "/api/v1/messages",
            &token,
            msg(RACHEL, "what do I owe?"),
        )
        .await;
        assert_eq!(s, 409, "{reused}");
        crate::common::api::assert_error_body(&reused, "external_id_reused", "reused id");
        // Another sender's id space is its own.
        let (s, other) = post(
            &app,
            "/api/v1/messages",
            &token,
            msg(JOHN_SMITH, "what do I owe?"),
        )
        .await;
        assert_eq!(s, 200, "{other}");
        assert_eq!(other["duplicate"], false);
        app.stop().await;
    }
);

store_test!(
    fn finding_02_an_id_used_on_one_channel_never_drops_a_message_on_another(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let agent = &app.state.agent;
        let first = agent
            .handle(sms(&app, RACHEL, "what are your hours?", "shared-id"))
            .await
            .expect("sms turn");
        let chat = agent
            .handle(Inbound {
                tenant: app.demo.demo,
                channel: Channel::Chat,
                participant: "portal:1".into(),
                text: "what do I owe?".into(),
                external_id: Some("shared-id".into()),
                media: vec![],
                caller: Caller::Portal(frontdesk::domain::CustomerId(1)),
                reply_from: None,
            })
            .await
            .expect("chat turn");
        assert!(
            !chat.duplicate,
            "a different sender's message is its own turn"
        );
        assert_ne!(chat.conversation_id, first.conversation_id);
        assert_ne!(chat.reply, first.reply);
        app.stop().await;
    }
);

async fn enqueue(app: &TestApp, to: &str, purpose: &str, body: &str) -> i64 {
    app.state
        .store
        .enqueue_outbound(
            app.demo.demo,
            &NewOutbound {
                conversation_id: None,
                channel: Channel::Sms,
                to: to.to_string(),
                from: DEMO_NUMBER.to_string(),
                body: body.to_string(),
                purpose: purpose.to_string(),
            },
            app.state.clock.now(),
        )
        .await
        .expect("enqueue")
}

async fn status_of(app: &TestApp, id: i64) -> Outbound {
    outbox(app)
        .await
        .into_iter()
        .find(|m| m.id == id)
        .expect("outbox row")
}

store_test!(
    fn finding_10_a_page_is_not_held_behind_deferred_messages(db: &TestDb) {
        let fake = fake_twilio().await;
        // 10:30 PM: inside quiet hours, so CSR replies wait for the morning.
        let app = TestApp::spawn_with(db, |raw| {
            raw.twilio_api_base = Some(fake.api_base());
            raw.clock = Some("2026-11-23T22:30:00-06:00".into());
        })
        .await;
        for i in 0..60 {
            enqueue(&app, GARCIAS, "csr_reply", &format!("Following up {i}")).await;
        }
        let page = enqueue(&app, DEMO_ON_CALL, "page", "URGENT wasps").await;
        app.state.outbox.notify_one();
        let sent = eventually(Duration::from_secs(10), || async {
            (status_of(&app, page).await.status == "sent").then_some(())
        })
        .await;
        assert!(sent.is_some(), "the page went out");
        assert!(fake.messages_to(GARCIAS).is_empty(), "quiet hours held");
        app.stop().await;
        fake.stop().await;
    }
);

store_test!(
    fn finding_10_two_senders_never_send_a_row_twice(db: &TestDb) {
        let fake = fake_twilio().await;
        let app = TestApp::spawn_with(db, |raw| raw.twilio_api_base = Some(fake.api_base())).await;
        let mut ids = Vec::new();
        for i in 0..20 {
            ids.push(enqueue(&app, GARCIAS, "csr_reply", &format!("Hello {i}")).await);
        }
        let rest = frontdesk::outbound::TwilioRest::new(&app.state.settings.twilio, PUBLIC_URL)
            .expect("rest");
        let now = app.state.clock.now();
        let store = &app.state.store;
        let (a, b) = tokio::join!(
            frontdesk::outbound::deliver_pending(store, &rest, now, 50),
            frontdesk::outbound::deliver_pending(store, &rest, now, 50),
        );
        a.expect("sender a");
        b.expect("sender b");
        let done = eventually(Duration::from_secs(10), || async {
            let rows = outbox(&app).await;
            rows.iter().all(|m| m.status == "sent").then_some(rows)
        })
        .await
        .expect("all sent");
        assert_eq!(done.len(), 20);
        let sent = fake.messages_to(GARCIAS);
        let mut bodies: Vec<_> = sent.iter().filter_map(|m| m.field("Body")).collect();
        bodies.sort();
        bodies.dedup();
        assert_eq!(sent.len(), 20, "each exactly once");
        assert_eq!(bodies.len(), 20);
        app.stop().await;
        fake.stop().await;
    }
);

store_test!(
    fn finding_10_an_uncertain_send_is_checked_not_repeated(db: &TestDb) {
        let fake = fake_twilio().await;
        let app = TestApp::spawn_with(db, |raw| raw.twilio_api_base = Some(fake.api_base())).await;
        // Twilio takes the message but the answer is lost.
        fake.garble_next();
        let id = enqueue(&app, GARCIAS, "csr_reply", "We'll be there Tuesday.").await;
        app.state.outbox.notify_one();
        let row = eventually(Duration::from_secs(20), || async {
            let r = status_of(&app, id).await;
            (r.status == "sent").then_some(r)
        })
        .await
        .expect("settled as sent");
        assert_eq!(fake.messages_to(GARCIAS).len(), 1, "not sent twice");
        assert_eq!(
            row.provider_id.as_deref(),
            fake.messages_to(GARCIAS)[0].answered_sid.as_deref()
        );
        assert!(
            fake.requests().iter().any(|r| r.method == "GET"),
            "the list was checked before resending"
        );
        app.stop().await;
        fake.stop().await;
    }
);
