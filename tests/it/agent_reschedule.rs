//! Rescheduling by SMS on the demo world: in policy (proposal → yes → moved, capacity moved
//! with it), outside the agent's window or past the reschedule limit (escalated, untouched),
//! the confirmation guard (no write without an earlier proposal and a later yes), Spanish,
//! and two requests in one message.

use crate::common::agent::*;
use crate::common::app::TestApp;
use crate::common::TestDb;

/// The reschedule proposal the guard stored for this conversation: `(appointment, slot)`.
async fn proposed(conv: &Conversation<'_>) -> (i64, i64) {
    let call = conv
        .tool_calls()
        .await
        .into_iter()
        .rev()
        .find(|c| c.tool == "reschedule_appointment" && c.decision == "needs_confirmation")
        .expect("a reschedule was put to the customer");
    assert_eq!(call.rule, "confirmation.required");
    (
        call.arguments["appointment_id"]
            .as_i64()
            .expect("appointment id"),
        call.arguments["slot_id"].as_i64().expect("slot id"),
    )
}

/// Asserts the confirmed move of Rachel's visit to `new_slot`, and that the reply says so.
async fn assert_moved(
    app: &TestApp,
    conv: &Conversation<'_>,
    before: &frontdesk::store::Appointment,
    old_booked: i64,
    new_slot: frontdesk::domain::SlotId,
    new_booked: i64,
    reply: &str,
) {
    let after = rachel_appointment(app).await;
    assert_eq!(
        after.slot_id, new_slot,
        "the visit moved to the proposed window"
    );
    assert_eq!(after.reschedule_count, before.reschedule_count + 1);
    assert_eq!(after.last_rescheduled_by.as_deref(), Some("agent"));
    assert_eq!(after.original_window_start, before.original_window_start);
    assert_eq!(slot(app, before.slot_id).await.booked, old_booked - 1);
    assert_eq!(slot(app, new_slot).await.booked, new_booked + 1);
    // The new day, as the reply's language says it ("Fri Nov 27" or "viernes 27 de noviembre").
    let day = day_label(after.window_start);
    let spanish = frontdesk::agent::builtin::spanish::window_es(&format!("{day}, 8 AM–12 PM"));
    let spanish = spanish.split(',').next().unwrap_or_default().to_string();
    if !reply.contains(&spanish) {
        assert_says_all(reply, &[&day]);
    }
    assert!(
        conv.decisions().await.contains(&(
            "reschedule_appointment".into(),
            "allowed".into(),
            "agent_reschedule.within_policy".into()
        )),
        "{:?}",
        conv.decisions().await
    );
    assert_eq!(conv.row().await.owner, "agent");
}

store_test!(
    fn in_policy_reschedule_asks_then_moves_on_yes(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let before = rachel_appointment(&app).await;
        let old_booked = slot(&app, before.slot_id).await.booked;
        let mut conv = Conversation::sms(&app, RACHEL);

        let offer = conv.say("Hi, can I move my appointment?").await;
        assert_says_all(&offer, &["1)", "2)"]);
        assert_eq!(rachel_appointment(&app).await.slot_id, before.slot_id);

        let proposal = conv.say("the second one").await;
        assert_says_all(&proposal, &["YES", "Texas Oaks"]);
        let (appointment, slot_id) = proposed(&conv).await;
        assert_eq!(appointment, before.id.0);
        let new_slot = frontdesk::domain::SlotId(slot_id);
        assert_says_all(
            &proposal,
            &[&day_label(slot(&app, new_slot).await.starts_at)],
        );
        assert_eq!(
            rachel_appointment(&app).await.slot_id,
            before.slot_id,
            "no write before yes"
        );
        let new_booked = slot(&app, new_slot).await.booked;

        let done = conv.say("yes").await;
        assert_moved(
            &app, &conv, &before, old_booked, new_slot, new_booked, &done,
        )
        .await;
        app.stop().await;
    }
);

store_test!(
    fn typo_shorthand_reschedule_to_thursday_morning(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let before = rachel_appointment(&app).await;
        let old_booked = slot(&app, before.slot_id).await.booked;
        let mut conv = Conversation::sms(&app, RACHEL);

        let proposal = conv.say("can u mvoe my appt to thurs morning").await;
        assert_says_all(&proposal, &["Thu Nov 26", "8 AM", "YES"]);
        let (_, slot_id) = proposed(&conv).await;
        let new_slot = frontdesk::domain::SlotId(slot_id);
        let target = slot(&app, new_slot).await;
        assert_eq!(day_label(target.starts_at), "Thu Nov 26");
        assert_eq!(rachel_appointment(&app).await.slot_id, before.slot_id);

        let done = conv.say("yes").await;
        assert_moved(
            &app,
            &conv,
            &before,
            old_booked,
            new_slot,
            target.booked,
            &done,
        )
        .await;
        assert_says_all(&done, &["Thu Nov 26"]);
        app.stop().await;
    }
);

/// Nothing about Rachel's visit or any capacity changed, and the conversation is queued with
/// exactly these escalation reasons.
async fn assert_untouched_and_escalated(
    app: &TestApp,
    db: &TestDb,
    conv: &Conversation<'_>,
    before: &frontdesk::store::Appointment,
    booked_before: i64,
    reason: &str,
) {
    let after = rachel_appointment(app).await;
    assert_eq!(after.slot_id, before.slot_id);
    assert_eq!(after.reschedule_count, before.reschedule_count);
    assert_eq!(booked_total(db).await, booked_before);
    assert_eq!(writes(db).await, 0);
    assert_eq!(conv.escalation_reasons(db).await, vec![reason.to_string()]);
    assert_eq!(conv.row().await.owner, "queue");
}

store_test!(
    fn a_date_past_the_agent_window_escalates_out_of_policy(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let before = rachel_appointment(&app).await;
        let booked = booked_total(db).await;
        let mut conv = Conversation::sms(&app, RACHEL);
        // The visit is on Nov 30; the agent may move it at most 21 days.
        let reply = conv
            .say("can you move my appointment to December 28?")
            .await;
        assert_says_all(&reply, &["follow up"]);
        assert_untouched_and_escalated(&app, db, &conv, &before, booked, "out_of_policy").await;
        app.stop().await;
    }
);

store_test!(
    fn a_window_less_than_12_hours_away_escalates_out_of_policy(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let before = rachel_appointment(&app).await;
        let booked = booked_total(db).await;
        let mut conv = Conversation::sms(&app, RACHEL);
        // Tomorrow's 8 AM window starts 11 h 45 min after the pinned clock.
        let reply = conv
            .say("please move my appointment to tomorrow morning")
            .await;
        assert_says_all(&reply, &["follow up"]);
        assert_untouched_and_escalated(&app, db, &conv, &before, booked, "out_of_policy").await;
        app.stop().await;
    }
);

store_test!(
    fn a_visit_moved_three_times_escalates_out_of_policy(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let greg = app
            .state
            .store
            .appointments(app.demo.demo, app.demo.greg_holloway)
            .await
            .expect("Greg's appointments")
            .into_iter()
            .find(|a| a.status.is_open() && a.reschedule_count == 3)
            .expect("Greg's visit moved three times");
        let booked = booked_total(db).await;
        let mut conv = Conversation::sms(&app, GREG);
        let mut reply = conv
            .say("I need to reschedule my appointment to next week")
            .await;
        // Whatever the agent offers, the fourth move never happens.
        for _ in 0..2 {
            if conv.row().await.owner != "agent" {
                break;
            }
            reply = conv.say("the first one").await;
            if conv.row().await.owner == "agent" {
                reply = conv.say("yes").await;
            }
        }
        assert_says_all(&reply, &["follow up"]);
        let after = appointment(&app, greg.id).await;
        assert_eq!(after.slot_id, greg.slot_id);
        assert_eq!(after.reschedule_count, 3);
        assert_eq!(booked_total(db).await, booked);
        assert_eq!(writes(db).await, 0);
        assert_eq!(
            conv.escalation_reasons(db).await,
            vec!["out_of_policy".to_string()]
        );
        app.stop().await;
    }
);

store_test!(
    fn move_and_yes_in_one_breath_only_proposes(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let before = rachel_appointment(&app).await;
        let booked = booked_total(db).await;
        let mut conv = Conversation::sms(&app, RACHEL);
        let reply = conv
            .say("yes please move my appointment to thursday morning, yes I confirm")
            .await;
        assert_says_all(&reply, &["YES", "Thu Nov 26"]);
        assert_eq!(rachel_appointment(&app).await.slot_id, before.slot_id);
        assert_eq!(booked_total(db).await, booked);
        assert_eq!(writes(db).await, 0);

        // "no" after the proposal writes nothing and drops it; a later bare "yes" does not
        // revive it.
        let reply = conv.say("no").await;
        assert_says_all(&reply, &["haven't changed"]);
        let reply = conv.say("yes").await;
        assert_says_none(&reply, &["Done"]);
        assert_eq!(rachel_appointment(&app).await.slot_id, before.slot_id);
        assert_eq!(booked_total(db).await, booked);
        assert_eq!(writes(db).await, 0);
        app.stop().await;
    }
);

store_test!(
    /// A proposal stands only for the customer's next message: after an unrelated message,
    /// a "yes" does not run the stale change (the customer is asked again instead).
    fn a_stale_proposal_is_not_written(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let before = rachel_appointment(&app).await;
        let booked = booked_total(db).await;
        let mut conv = Conversation::sms(&app, RACHEL);
        let reply = conv
            .say("can you move my appointment to thursday morning")
            .await;
        assert_says_all(&reply, &["YES"]);
        let reply = conv.say("how much is mosquito service?").await;
        assert!(reply.contains('$'), "{reply}");
        let reply = conv.say("yes").await;
        assert_says_none(&reply, &["Done"]);
        assert_eq!(rachel_appointment(&app).await.slot_id, before.slot_id);
        assert_eq!(booked_total(db).await, booked);
        assert_eq!(writes(db).await, 0);
        app.stop().await;
    }
);

store_test!(
    fn spanish_reschedule_flow_replies_in_spanish(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let before = rachel_appointment(&app).await;
        let old_booked = slot(&app, before.slot_id).await.booked;
        let mut conv = Conversation::sms(&app, RACHEL);
        let proposal = conv.say("quiero cambiar mi cita para el viernes").await;
        assert_says_all(&proposal, &["SÍ"]);
        assert_says_none(&proposal, &["Reply YES", "Move your"]);
        let (_, slot_id) = proposed(&conv).await;
        let new_slot = frontdesk::domain::SlotId(slot_id);
        let target = slot(&app, new_slot).await;
        assert_eq!(day_label(target.starts_at), "Fri Nov 27");
        let done = conv.say("sí").await;
        assert_says_all(&done, &["Listo"]);
        assert_moved(
            &app,
            &conv,
            &before,
            old_booked,
            new_slot,
            target.booked,
            &done,
        )
        .await;
        app.stop().await;
    }
);

store_test!(
    /// Two requests at once: the move is put to the customer for confirmation and the price
    /// question is answered in the same reply.
    fn two_requests_in_one_message_are_both_handled(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let before = rachel_appointment(&app).await;
        let old_booked = slot(&app, before.slot_id).await.booked;
        let mut conv = Conversation::sms(&app, RACHEL);
        let reply = conv
            .say("move my appt to friday and how much is mosquito service")
            .await;
        assert_says_all(&reply, &["Fri Nov 27", "YES", "Mosquito", "$"]);
        let (_, slot_id) = proposed(&conv).await;
        let new_slot = frontdesk::domain::SlotId(slot_id);
        let target = slot(&app, new_slot).await;
        assert_eq!(rachel_appointment(&app).await.slot_id, before.slot_id);
        let done = conv.say("yes").await;
        assert_moved(
            &app,
            &conv,
            &before,
            old_booked,
            new_slot,
            target.booked,
            &done,
        )
        .await;
        app.stop().await;
    }
);

store_test!(
    fn a_reschedule_refused_for_capacity_changes_nothing(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let before = rachel_appointment(&app).await;
        let old_booked = slot(&app, before.slot_id).await.booked;
        let mut conv = Conversation::sms(&app, RACHEL);
        conv.say("Hi, can I move my appointment?").await;
        let proposal = conv.say("the second one").await;
        assert_says_all(&proposal, &["YES"]);
        let (_, slot_id) = proposed(&conv).await;
        // Someone else takes the last stops of that window before the customer agrees.
        db.execute(&format!(
            "UPDATE slots SET booked = capacity WHERE id = {slot_id}"
        ))
        .await;
        let new_booked = slot(&app, frontdesk::domain::SlotId(slot_id)).await.booked;

        conv.say("yes").await;
        let refused = conv
            .tool_calls()
            .await
            .into_iter()
            .rev()
            .find(|c| c.tool == "reschedule_appointment")
            .expect("the confirmed move ran");
        assert_eq!(
            (refused.decision.as_str(), refused.rule.as_str()),
            ("refused", "capacity")
        );
        let after = rachel_appointment(&app).await;
        assert_eq!(after.slot_id, before.slot_id);
        assert_eq!(after.reschedule_count, before.reschedule_count);
        assert_eq!(
            slot(&app, before.slot_id).await.booked,
            old_booked,
            "the visit still holds its stop"
        );
        assert_eq!(
            slot(&app, frontdesk::domain::SlotId(slot_id)).await.booked,
            new_booked
        );
        app.stop().await;
    }
);
