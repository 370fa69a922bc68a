//! Outbound SMS through (a fake of) Twilio's Messages REST API: on-call pages, refusals,
//! quiet hours and delivery status callbacks (slow turns and late replies: `turn_safety`).

use std::time::Duration;

use frontdesk::domain::Channel;
use frontdesk::store::{NewOutbound, Outbound};

use crate::common::app::{series, TestApp, PUBLIC_URL};
use crate::common::twilio::*;

const MARIA_GARCIA: &str = "+15125550111";

async fn outbox(app: &TestApp) -> Vec<Outbound> {
    app.state
        .store
        .outbound_of(app.demo.demo, None)
        .await
        .expect("outbox")
}

async fn row(app: &TestApp, id: i64) -> Outbound {
    outbox(app)
        .await
        .into_iter()
        .find(|m| m.id == id)
        .expect("outbox row")
}

/// Wait (bounded) until the row leaves `queued`.
async fn settled(app: &TestApp, id: i64) -> Outbound {
    eventually(Duration::from_secs(10), || async move {
        let r = row(app, id).await;
        (r.status != "queued").then_some(r)
    })
    .await
    .unwrap_or_else(|| panic!("outbox row {id} was never delivered"))
}

async fn enqueue(app: &TestApp, to: &str, purpose: &str, body: &str) -> i64 {
    let id = app
        .state
        .store
        .enqueue_outbound(
            app.demo.demo,
            &NewOutbound {
                conversation_id: None,
                channel: Channel::Sms,
                to: to.into(),
                from: DEMO_NUMBER.into(),
                body: body.into(),
                purpose: purpose.into(),
            },
            app.state.clock.now(),
        )
        .await
        .expect("enqueue");
    app.state.outbox.notify_one();
    id
}

store_test!(
    fn emergency_pages_on_call_and_status_updates(db: &TestDb) {
        let fake = fake_twilio().await;
        let app = TestApp::spawn_with(db, |raw| raw.twilio_api_base = Some(fake.api_base())).await;
        let twilio = TwilioClient::new(&app);

        let r = twilio
            .sms(RACHEL_KIM, "wasps inside my house, my son is allergic")
            .await;
        let reply = r.message();
        assert!(reply.contains("911"), "safety guidance: {reply}");
        assert!(reply.contains("on-call"), "the promise survives: {reply}");
        assert!(
            frontdesk::channels::twilio::sms::segments(&reply).segments <= 3,
            "{reply}"
        );

        let sent = fake.wait_for_messages(1, Duration::from_secs(10)).await;
        let pages: Vec<_> = sent
            .iter()
            .filter(|m| m.field("To") == Some(DEMO_ON_CALL))
            .collect();
        assert_eq!(pages.len(), 1, "one page: {sent:?}");
        let page = pages[0];
        assert!(page.authorized, "basic auth with the account SID and token");
        assert!(page
            .content_type
            .starts_with("application/x-www-form-urlencoded"));
        assert_eq!(page.field("From"), Some(DEMO_NUMBER));
        assert!(
            page.field("Body").is_some_and(|b| b.contains(RACHEL_KIM)),
            "{page:?}"
        );
        assert_eq!(
            page.field("StatusCallback"),
            Some(format!("{PUBLIC_URL}/twilio/status").as_str())
        );
        let message_sid = page.answered_sid.clone().expect("accepted");

        let rows: Vec<Outbound> = outbox(&app)
            .await
            .into_iter()
            .filter(|m| m.purpose == "page")
            .collect();
        assert_eq!(rows.len(), 1);
        let page_row = settled(&app, rows[0].id).await;
        assert_eq!(page_row.status, "sent");
        assert_eq!(page_row.to, DEMO_ON_CALL);
        assert_eq!(page_row.provider_id.as_deref(), Some(message_sid.as_str()));

        // The customer got her answer in the TwiML only: nothing by REST as well. The turn
        // committed before the TwiML went out, so a REST reply would already be in the outbox.
        let to_rachel: Vec<Outbound> = outbox(&app)
            .await
            .into_iter()
            .filter(|m| m.to == RACHEL_KIM)
            .collect();
        assert!(to_rachel.is_empty(), "{to_rachel:?}");
        assert!(
            fake.messages_to(RACHEL_KIM).is_empty(),
            "{:?}",
            fake.messages()
        );

        // Twilio reports delivery (signed, `From` = our number).
        let p = message_status_params(&message_sid, DEMO_NUMBER, DEMO_ON_CALL, "delivered", None);
        let ack = twilio.post("/twilio/status", &p).await;
        assert!((200..300).contains(&ack.status), "{ack:?}");
        assert_eq!(row(&app, page_row.id).await.status, "delivered");
        // A forged one changes nothing.
        let p = message_status_params(
            &message_sid,
            DEMO_NUMBER,
            DEMO_ON_CALL,
            "failed",
            Some("30003"),
        );
        let forged = twilio
            .post_raw(
                "/twilio/status",
                &p,
                Some("bm90IGEgc2lnbmF0dXJlIGF0IGFsbA=="),
                &[],
            )
            .await;
        assert_eq!(forged.status, 403);
        assert_eq!(row(&app, page_row.id).await.status, "delivered");
        // Undelivered with an error code.
        let ack = twilio.post("/twilio/status", &p).await;
        assert!((200..300).contains(&ack.status), "{ack:?}");
        let failed = row(&app, page_row.id).await;
        assert_eq!(failed.status, "failed");
        assert!(
            failed.error.as_deref().is_some_and(|e| e.contains("30003")),
            "{failed:?}"
        );
        app.stop().await;
        fake.stop().await;
    }
);

store_test!(
    fn refused_21610_marks_the_row_failed(db: &TestDb) {
        let fake = fake_twilio().await;
        let app = TestApp::spawn_with(db, |raw| raw.twilio_api_base = Some(fake.api_base())).await;
        fake.fail_next(400, 21610, "Attempt to send to unsubscribed recipient");
        let failed =
            "frontdesk_outbound_total{channel=\"sms\",purpose=\"csr_reply\",result=\"failed\"}";
        let sent_series =
            "frontdesk_outbound_total{channel=\"sms\",purpose=\"csr_reply\",result=\"sent\"}";
        let before = app.metrics().await;
        let id = enqueue(&app, MARIA_GARCIA, "csr_reply", "Hi Maria, this is Carlos.").await;
        let r = settled(&app, id).await;
        assert_eq!(r.status, "failed");
        // Counted by channel, purpose and result (just after the row's outcome is written;
        // the metrics are the process's, and other tests send too).
        let scraped = &app;
        let counted = |name: &'static str, earlier: String| async move {
            let earlier = &earlier;
            eventually(Duration::from_secs(10), move || async move {
                let now = scraped.metrics().await;
                (series(&now, name) > series(earlier, name)).then_some(now)
            })
            .await
            .unwrap_or_else(|| panic!("{name} did not grow"))
        };
        let after_failure = counted(failed, before).await;
        assert!(
            r.error.as_deref().is_some_and(|e| e.contains("21610")),
            "{r:?}"
        );
        assert_eq!(
            fake.messages_to(MARIA_GARCIA).len(),
            1,
            "tried once, not retried"
        );

        // The next message goes through.
        let id = enqueue(&app, MARIA_GARCIA, "csr_reply", "Hi again.").await;
        let r = settled(&app, id).await;
        assert_eq!(r.status, "sent");
        let sent = fake.messages_to(MARIA_GARCIA);
        assert_eq!(sent.len(), 2);
        assert_eq!(r.provider_id.as_deref(), sent[1].answered_sid.as_deref());
        assert_eq!(sent[1].field("Body"), Some("Hi again."));
        counted(sent_series, after_failure).await;
        app.stop().await;
        fake.stop().await;
    }
);

store_test!(
    fn quiet_hours_hold_csr_replies_not_pages(db: &TestDb) {
        let fake = fake_twilio().await;
        // 10:30 PM in Austin: inside the demo's quiet hours (21:00–08:00).
        let app = TestApp::spawn_with(db, |raw| {
            raw.twilio_api_base = Some(fake.api_base());
            raw.clock = Some("2026-11-23T22:30:00-06:00".into());
        })
        .await;
        let held = enqueue(
            &app,
            MARIA_GARCIA,
            "csr_reply",
            "Following up on your visit.",
        )
        .await;
        let page = enqueue(&app, DEMO_ON_CALL, "page", "URGENT test page").await;
        assert_eq!(settled(&app, page).await.status, "sent");
        let rest = frontdesk::outbound::TwilioRest::new(&app.state.settings.twilio, PUBLIC_URL)
            .expect("rest");
        frontdesk::outbound::deliver_pending(&app.state.store, &rest, app.state.clock.now(), 50)
            .await
            .expect("deliver");
        assert_eq!(row(&app, held).await.status, "queued", "held until morning");
        assert!(fake.messages_to(MARIA_GARCIA).is_empty());

        // At 8:30 the next morning it goes.
        let morning = app.state.clock.now() + chrono::Duration::hours(10);
        frontdesk::outbound::deliver_pending(&app.state.store, &rest, morning, 50)
            .await
            .expect("deliver");
        assert_eq!(row(&app, held).await.status, "sent");
        assert_eq!(fake.messages_to(MARIA_GARCIA).len(), 1);
        app.stop().await;
        fake.stop().await;
    }
);

store_test!(
    fn fast_turns_are_not_sent_twice(db: &TestDb) {
        let fake = fake_twilio().await;
        let app = TestApp::spawn_with(db, |raw| raw.twilio_api_base = Some(fake.api_base())).await;
        let twilio = TwilioClient::new(&app);
        for ask in ["how much is mosquito service?", "what do I owe?"] {
            let r = twilio.sms(RACHEL_KIM, ask).await;
            assert_eq!(r.messages().len(), 1, "{r:?}");
        }
        // Both turns committed before their TwiML went out: nothing for Rachel is queued, so
        // no sender pass (the background one or this one) can text her.
        let queued: Vec<Outbound> = outbox(&app)
            .await
            .into_iter()
            .filter(|m| m.to == RACHEL_KIM)
            .collect();
        assert!(queued.is_empty(), "{queued:?}");
        let rest = frontdesk::outbound::TwilioRest::new(&app.state.settings.twilio, PUBLIC_URL)
            .expect("rest");
        frontdesk::outbound::deliver_pending(&app.state.store, &rest, app.state.clock.now(), 50)
            .await
            .expect("deliver");
        assert!(fake.messages().is_empty(), "{:?}", fake.messages());
        assert!(
            outbox(&app).await.iter().all(|m| m.purpose != "late_reply"),
            "{:?}",
            outbox(&app).await
        );
        app.stop().await;
        fake.stop().await;
    }
);
