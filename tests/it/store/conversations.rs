//! Conversations, messages and escalations.

use super::*;

store_test!(
    fn messages_come_back_in_order_and_touch_the_conversation(store: Store) {
        let w = world::minimal(&store).await;
        let conv = sms_conversation(&store, &w, 0).await;
        let c = store
            .conversation(w.tenant, conv)
            .await
            .expect("conversation");
        assert_eq!(
            (c.channel, c.customer_id, c.property_id, c.identity_level),
            (
                Channel::Sms,
                Some(w.customer),
                None,
                IdentityLevel::Verified
            )
        );
        assert_eq!(
            (c.owner.as_str(), c.status.as_str(), c.participant.as_str()),
            ("agent", "open", "+15125550142")
        );
        assert_eq!((c.created_at, c.updated_at), (w.now, w.now));

        let mut photo = message(Direction::Inbound, "here is the nest", Some("SM2"));
        photo.media = vec!["https://media.example.test/nest.jpg".into()];
        let sent = [
            message(Direction::Inbound, "Can you move my visit?", Some("SM1")),
            message(Direction::Outbound, "Sure — Thursday 8–12 works?", None),
            photo,
        ];
        for (i, m) in sent.iter().enumerate() {
            store
                .insert_message(w.tenant, conv, m, w.now + Duration::minutes(i as i64 + 1))
                .await
                .expect("insert message");
        }
        let got = store.messages(w.tenant, conv).await.expect("messages");
        let summary: Vec<_> = got
            .iter()
            .map(|m| {
                (
                    m.direction,
                    m.author.as_str(),
                    m.text.as_str(),
                    m.external_id.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    Direction::Inbound,
                    "customer",
                    "Can you move my visit?",
                    Some("SM1")
                ),
                (
                    Direction::Outbound,
                    "agent",
                    "Sure — Thursday 8–12 works?",
                    None
                ),
                (
                    Direction::Inbound,
                    "customer",
                    "here is the nest",
                    Some("SM2")
                ),
            ]
        );
        assert_eq!(got[2].media, vec!["https://media.example.test/nest.jpg"]);
        assert_eq!(got[2].at, w.now + Duration::minutes(3));
        let c = store
            .conversation(w.tenant, conv)
            .await
            .expect("conversation");
        assert_eq!(c.updated_at, w.now + Duration::minutes(3));
    }
);

store_test!(
    fn a_repeated_external_id_is_a_conflict_and_writes_nothing(store: Store) {
        let w = world::minimal(&store).await;
        let conv = sms_conversation(&store, &w, 0).await;
        store
            .insert_message(
                w.tenant,
                conv,
                &message(Direction::Inbound, "first delivery", Some("SM1")),
                w.now + Duration::minutes(1),
            )
            .await
            .expect("insert message");
        let again = store
            .insert_message(
                w.tenant,
                conv,
                &message(Direction::Inbound, "redelivery", Some("SM1")),
                w.now + Duration::minutes(5),
            )
            .await;
        assert_err!(again, StoreError::Conflict(_));
        let got = store.messages(w.tenant, conv).await.expect("messages");
        assert_eq!(
            got.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
            vec!["first delivery"]
        );
        let c = store
            .conversation(w.tenant, conv)
            .await
            .expect("conversation");
        assert_eq!(c.updated_at, w.now + Duration::minutes(1));

        // Messages without an external id never collide.
        for _ in 0..2 {
            store
                .insert_message(
                    w.tenant,
                    conv,
                    &message(Direction::Outbound, "ok", None),
                    w.now + Duration::minutes(2),
                )
                .await
                .expect("insert message");
        }
        // External ids are unique per tenant, not across tenants.
        let theirs = store
            .insert_conversation(
                w.other_tenant,
                &NewConversation {
                    channel: Channel::Sms,
                    customer_id: None,
                    identity_level: IdentityLevel::Anonymous,
                    participant: "+15045550123".into(),
                },
                w.now,
            )
            .await
            .expect("insert conversation");
        store
            .insert_message(
                w.other_tenant,
                theirs,
                &message(Direction::Inbound, "hello", Some("SM1")),
                w.now,
            )
            .await
            .expect("the same id in another tenant");
        assert_eq!(
            store
                .messages(w.tenant, conv)
                .await
                .expect("messages")
                .len(),
            3
        );
    }
);

store_test!(
    fn tool_calls_keep_their_arguments_and_results(store: Store) {
        let w = world::minimal(&store).await;
        let conv = sms_conversation(&store, &w, 0).await;
        let args = json!({ "appointment_id": 7, "slot_id": 12, "confirm": true });
        let result = json!({
            "ok": true,
            "window": { "start": "2026-05-07T13:00:00Z", "end": "2026-05-07T17:00:00Z" },
            "reschedules_left": [2]
        });
        store
            .insert_tool_call(
                w.tenant,
                conv,
                &NewToolCall {
                    tool: "reschedule_appointment".into(),
                    arguments: args.clone(),
                    result: result.clone(),
                    decision: frontdesk::domain::Decision::Allowed,
                    rule: "agent_reschedule".into(),
                },
                w.now + Duration::minutes(1),
            )
            .await
            .expect("insert tool call");
        let refused = json!({ "error": "out_of_policy", "rule": "max_reschedules" });
        store
            .insert_tool_call(
                w.tenant,
                conv,
                &NewToolCall {
                    tool: "reschedule_appointment".into(),
                    arguments: args.clone(),
                    result: refused.clone(),
                    decision: frontdesk::domain::Decision::Refused,
                    rule: "agent_reschedule.max_reschedules".into(),
                },
                w.now + Duration::minutes(2),
            )
            .await
            .expect("insert tool call");

        let calls = store.tool_calls(w.tenant, conv).await.expect("tool calls");
        assert_eq!(calls.len(), 2);
        assert_eq!(
            (
                calls[0].tool.as_str(),
                &calls[0].arguments,
                &calls[0].result
            ),
            ("reschedule_appointment", &args, &result)
        );
        assert_eq!(
            (
                calls[0].decision.as_str(),
                calls[0].rule.as_str(),
                calls[0].at
            ),
            ("allowed", "agent_reschedule", w.now + Duration::minutes(1))
        );
        assert_eq!(
            (calls[1].decision.as_str(), &calls[1].result),
            ("refused", &refused)
        );
    }
);

store_test!(
    fn escalating_hands_the_conversation_to_the_queue(store: Store) {
        let w = world::minimal(&store).await;
        let conv = sms_conversation(&store, &w, 0).await;
        let at = w.now + Duration::minutes(2);
        let first = store
            .insert_escalation(
                w.tenant,
                &NewEscalation {
                    conversation_id: conv,
                    customer_id: Some(w.customer),
                    reason: EscalationReason::BillingDispute,
                    priority: Priority::High,
                    summary: "Maria Lopez (verified by SMS) disputes INV-1002".into(),
                    due_at: w.now + Duration::hours(1),
                },
                at,
            )
            .await
            .expect("insert escalation");
        let c = store
            .conversation(w.tenant, conv)
            .await
            .expect("conversation");
        assert_eq!((c.owner.as_str(), c.updated_at), ("queue", at));

        let urgent = store
            .insert_escalation(
                w.tenant,
                &NewEscalation {
                    conversation_id: conv,
                    customer_id: Some(w.customer),
                    reason: EscalationReason::Emergency,
                    priority: Priority::Urgent,
                    summary: "wasps indoors".into(),
                    due_at: w.now + Duration::minutes(15),
                },
                at,
            )
            .await
            .expect("insert escalation");
        let list = store
            .escalations_of(w.tenant, w.customer)
            .await
            .expect("escalations");
        assert_eq!(
            list.iter().map(|e| e.id).collect::<Vec<_>>(),
            vec![urgent, first],
            "soonest due first"
        );
        let e = &list[1];
        assert_eq!((e.conversation_id, e.customer_id), (conv, Some(w.customer)));
        assert_eq!(
            (e.reason, e.priority, e.status),
            (
                EscalationReason::BillingDispute,
                Priority::High,
                EscalationStatus::Open
            )
        );
        assert_eq!(e.summary, "Maria Lopez (verified by SMS) disputes INV-1002");
        assert_eq!(
            (e.assignee, e.due_at, e.created_at),
            (None, w.now + Duration::hours(1), at)
        );
        assert_eq!((e.resolved_at, e.resolution.as_deref()), (None, None));
    }
);

store_test!(
    fn a_customers_conversations_list_open_ones_first(db: &TestDb) {
        let store = db.store();
        let w = world::minimal(&store).await;
        // One open conversation per participant and channel: three channels.
        let oldest = conversation_on(&store, &w, Channel::Sms, 0).await;
        let middle = conversation_on(&store, &w, Channel::Chat, 1).await;
        let closed = conversation_on(&store, &w, Channel::Api, 2).await;
        // A message makes the oldest the most recently active.
        store
            .insert_message(
                w.tenant,
                oldest,
                &message(Direction::Inbound, "still there?", None),
                w.now + Duration::minutes(10),
            )
            .await
            .expect("insert message");
        // No store method closes a conversation yet; arrange it directly. The closed one is the
        // most recently touched of all, so only the open-first rule puts it last.
        let touched = db
            .execute(&format!(
                "UPDATE conversations SET status = 'closed', updated_at = {} WHERE id = {}",
                (w.now + Duration::hours(1)).timestamp(),
                closed.0
            ))
            .await;
        assert_eq!(touched, 1);
        let anonymous = store
            .insert_conversation(
                w.tenant,
                &NewConversation {
                    channel: Channel::Voice,
                    customer_id: None,
                    identity_level: IdentityLevel::Anonymous,
                    participant: "+15125550000".into(),
                },
                w.now,
            )
            .await
            .expect("insert conversation");

        let list = store
            .conversations_of(w.tenant, w.customer)
            .await
            .expect("conversations");
        assert_eq!(
            list.iter().map(|c| c.id).collect::<Vec<_>>(),
            vec![oldest, middle, closed]
        );
        assert!(!list.iter().any(|c| c.id == anonymous));
    }
);

store_test!(
    fn opt_out_and_opt_in_are_idempotent(store: Store) {
        let w = world::minimal(&store).await;
        assert_eq!(
            store.opted_out(w.tenant, &w.phone).await.expect("read"),
            None
        );
        store
            .opt_out(w.tenant, &w.phone, w.now)
            .await
            .expect("opt out");
        store
            .opt_out(w.tenant, &w.phone, w.now + Duration::hours(1))
            .await
            .expect("opt out again");
        assert_eq!(
            store.opted_out(w.tenant, &w.phone).await.expect("read"),
            Some(w.now),
            "the first STOP counts"
        );
        assert_eq!(
            store
                .opted_out(w.other_tenant, &w.phone)
                .await
                .expect("read"),
            None
        );

        store.opt_in(w.tenant, &w.phone).await.expect("opt in");
        store
            .opt_in(w.tenant, &w.phone)
            .await
            .expect("opt in again");
        assert_eq!(
            store.opted_out(w.tenant, &w.phone).await.expect("read"),
            None
        );
        store
            .opt_out(w.tenant, &w.phone, w.now + Duration::hours(2))
            .await
            .expect("opt out");
        assert_eq!(
            store.opted_out(w.tenant, &w.phone).await.expect("read"),
            Some(w.now + Duration::hours(2))
        );
    }
);
