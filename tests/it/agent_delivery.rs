//! Exactly once and in order: a redelivered message is one turn with one reply, and
//! messages of one conversation that arrive together — at one instance or at two instances
//! sharing the database — are processed in the order they were enqueued.

use std::collections::HashSet;

use frontdesk::agent::{Agent, Caller, Inbound};
use frontdesk::domain::{Channel, Direction};

use crate::common::agent::*;
use crate::common::app::TestApp;

fn inbound(app: &TestApp, from: &str, text: &str, external_id: &str) -> Inbound {
    Inbound {
        tenant: app.demo.demo,
        channel: Channel::Sms,
        participant: from.to_string(),
        text: text.to_string(),
        external_id: Some(external_id.to_string()),
        media: vec![],
        caller: Caller::phone(from, true),
        reply_from: None,
    }
}

store_test!(
    fn a_redelivered_message_is_one_turn_with_the_same_reply(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let agent = &app.state.agent;
        let first = agent
            .handle(inbound(
                &app,
                RACHEL,
                "how much is mosquito service?",
                "SM-dup-1",
            ))
            .await
            .expect("first delivery");
        let again = agent
            .handle(inbound(
                &app,
                RACHEL,
                "how much is mosquito service?",
                "SM-dup-1",
            ))
            .await
            .expect("second delivery");
        assert!(!first.duplicate);
        assert!(again.duplicate);
        assert_eq!(again.reply, first.reply);
        assert_eq!(again.conversation_id, first.conversation_id);

        // Two more deliveries of another message, at the same time.
        let (a, b) = tokio::join!(
            agent.handle(inbound(&app, RACHEL, "what are your hours?", "SM-dup-2")),
            agent.handle(inbound(&app, RACHEL, "what are your hours?", "SM-dup-2")),
        );
        let (a, b) = (a.expect("a"), b.expect("b"));
        assert_eq!(a.reply, b.reply);
        assert_eq!(
            [a.duplicate, b.duplicate].iter().filter(|d| **d).count(),
            1,
            "exactly one of them is the duplicate"
        );

        let messages = app
            .state
            .store
            .messages(app.demo.demo, first.conversation_id)
            .await
            .expect("messages");
        let inbound_count = messages
            .iter()
            .filter(|m| m.direction == Direction::Inbound)
            .count();
        let outbound_count = messages
            .iter()
            .filter(|m| m.direction == Direction::Outbound)
            .count();
        assert_eq!(
            (inbound_count, outbound_count),
            (2, 2),
            "one turn per message"
        );
        let quotes = db
            .scalar(&format!(
                "SELECT COUNT(*) FROM tool_calls WHERE conversation_id = {} AND tool = 'quote_price'",
                first.conversation_id.0
            ))
            .await;
        assert_eq!(quotes, 1, "the tools ran once");
        app.stop().await;
    }
);

/// Send `texts` of one conversation all at once, round-robin over `agents`, and check they
/// were processed in enqueue order with one reply each.
async fn concurrent_in_order(app: &TestApp, agents: &[Agent], from: &str, tag: &str) {
    let texts = [
        "hi",
        "what are your hours?",
        "how much is mosquito service?",
        "do you treat scorpions?",
        "how much is ant treatment?",
        "thanks",
        "what services do you offer?",
        "bye",
    ];
    let mut tasks = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let agent = agents[i % agents.len()].clone();
        let msg = inbound(app, from, text, &format!("{tag}-{i}"));
        tasks.push(tokio::spawn(async move { agent.handle(msg).await }));
    }
    let mut conversations = HashSet::new();
    for task in tasks {
        let out = task.await.expect("task").expect("turn");
        assert!(out.reply.is_some(), "every message is answered");
        assert!(!out.duplicate);
        conversations.insert(out.conversation_id);
    }
    assert_eq!(conversations.len(), 1, "one conversation");
    let conversation = *conversations.iter().next().expect("one");
    let store = &app.state.store;
    let messages = store
        .messages(app.demo.demo, conversation)
        .await
        .expect("messages");
    assert_eq!(messages.len(), texts.len() * 2);
    // Inbound messages were stored in the order of their inbox rows (enqueue order), each
    // followed by its own reply.
    let mut inbox_ids = Vec::new();
    for pair in messages.chunks(2) {
        assert_eq!(pair[0].direction, Direction::Inbound, "{messages:?}");
        assert_eq!(pair[1].direction, Direction::Outbound, "{messages:?}");
        let external = pair[0].external_id.clone().expect("external id");
        let item = store
            .inbox_item(app.demo.demo, &external)
            .await
            .expect("inbox")
            .expect("the inbox row");
        assert!(item.done);
        assert_eq!(item.reply.as_deref(), Some(pair[1].text.as_str()));
        inbox_ids.push(item.id);
    }
    let mut sorted = inbox_ids.clone();
    sorted.sort();
    assert_eq!(inbox_ids, sorted, "processed in arrival order");
}

store_test!(
    fn concurrent_messages_of_one_conversation_run_in_arrival_order(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let one = vec![app.state.agent.clone()];
        concurrent_in_order(&app, &one, RACHEL, "one").await;
        app.stop().await;
    }
);

store_test!(
    fn two_instances_on_one_database_keep_order_and_exactly_once(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let other = second_agent(db).await;
        let two = vec![app.state.agent.clone(), other.clone()];
        concurrent_in_order(&app, &two, STRANGER, "two").await;

        // The same delivery at both instances at once: one turn, one reply.
        let (a, b) = tokio::join!(
            app.state.agent.handle(inbound(
                &app,
                GREG,
                "how much is mosquito service?",
                "SM-both"
            )),
            other.handle(inbound(
                &app,
                GREG,
                "how much is mosquito service?",
                "SM-both"
            )),
        );
        let (a, b) = (a.expect("a"), b.expect("b"));
        assert_eq!(a.reply, b.reply);
        assert!(a.duplicate != b.duplicate, "one of them is the duplicate");
        let stored = db
            .scalar(&format!(
                "SELECT COUNT(*) FROM messages WHERE conversation_id = {}",
                a.conversation_id.0
            ))
            .await;
        assert_eq!(stored, 2);
        other.store.close().await;
        app.stop().await;
    }
);
