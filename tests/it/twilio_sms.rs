//! The SMS channel end to end, through signed webhooks posted exactly as Twilio sends them:
//! signature checks, de-duplication, compliance keywords and opt-outs, reply size and
//! escaping, MMS, and a full reschedule over SMS visible in the operator record.

use serde_json::Value;

use crate::common::app::{TestApp, PUBLIC_URL, TWILIO_AUTH_TOKEN};
use crate::common::twilio::*;
use crate::common::TestDb;
use frontdesk::channels::twilio::signature::sign;
use frontdesk::channels::twilio::sms::segments;
use frontdesk::domain::{PhoneE164, Role};
use frontdesk::store::NewOutbound;

async fn count(db: &TestDb, sql: &str) -> i64 {
    db.scalar(sql).await
}

/// Rows that a webhook may create: conversations, messages, inbox items.
async fn footprint(db: &TestDb) -> (i64, i64, i64) {
    (
        count(db, "SELECT COUNT(*) FROM conversations").await,
        count(db, "SELECT COUNT(*) FROM messages").await,
        count(db, "SELECT COUNT(*) FROM inbox").await,
    )
}

fn assert_forbidden(reply: &Reply, what: &str) {
    assert_eq!(reply.status, 403, "{what}: {reply:?}");
    assert!(reply.body.is_empty(), "{what}: 403 with a body: {reply:?}");
}

/// The operator record of a customer, as a CSR's console fetches it.
pub async fn record(app: &TestApp, customer: i64) -> Value {
    let token = app.token(app.demo.demo, Role::Admin).await;
    let res = app
        .http
        .get(app.url(&format!("/api/v1/operator/customers/{customer}/record")))
        .bearer_auth(token)
        .send()
        .await
        .expect("record");
    assert_eq!(res.status(), 200);
    res.json().await.expect("record json")
}

fn assert_fits(text: &str) {
    let info = segments(text);
    assert!(
        info.segments <= 2,
        "reply takes {} segments ({:?}): {text}",
        info.segments,
        info.encoding
    );
}

store_test!(
    fn sms_signatures_are_checked(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let twilio = TwilioClient::new(&app);

        // Correctly signed: TwiML with a reply.
        let ok = twilio
            .sms(RACHEL_KIM, "how much is mosquito service?")
            .await;
        assert!(ok.is_twiml(), "{ok:?}");
        assert!(ok.content_type.starts_with("text/xml"), "{ok:?}");
        assert!(ok.message().contains('$'), "{ok:?}");
        let before = footprint(db).await;

        let p = sms_params(&sid("SM"), RACHEL_KIM, DEMO_NUMBER, "what do I owe?");
        let good = twilio.signature("/twilio/sms", &p);

        // A forged signature (right shape, wrong key).
        let forged = sign(
            "not-the-auth-token",
            &format!("{PUBLIC_URL}/twilio/sms"),
            &p,
        );
        assert_forbidden(
            &twilio.post_raw("/twilio/sms", &p, Some(&forged), &[]).await,
            "forged",
        );
        // No header at all; an empty one.
        assert_forbidden(
            &twilio.post_raw("/twilio/sms", &p, None, &[]).await,
            "missing",
        );
        assert_forbidden(
            &twilio.post_raw("/twilio/sms", &p, Some(""), &[]).await,
            "empty",
        );
        // Signed for another URL: http instead of https, another host (a stale public URL),
        // another path, another query.
        let http_url = PUBLIC_URL.replacen("https://", "http://", 1);
        for url in [
            format!("{http_url}/twilio/sms"),
            "https://old-host.example/twilio/sms".to_string(),
            format!("{PUBLIC_URL}/twilio/voice"),
            format!("{PUBLIC_URL}/twilio/sms?x=1"),
        ] {
            let s = sign(TWILIO_AUTH_TOKEN, &url, &p);
            assert_forbidden(
                &twilio.post_raw("/twilio/sms", &p, Some(&s), &[]).await,
                &url,
            );
        }
        // A valid signature over other parameters (the body was tampered with).
        let mut tampered = p.clone();
        for (k, v) in tampered.iter_mut() {
            if k == "Body" {
                *v = "cancel everything".into();
            }
        }
        assert_forbidden(
            &twilio
                .post_raw("/twilio/sms", &tampered, Some(&good), &[])
                .await,
            "tampered",
        );
        // A `To` that is no tenant's number, correctly signed.
        let stranger = sms_params(&sid("SM"), RACHEL_KIM, "+15125559876", "hello");
        assert_forbidden(&twilio.post("/twilio/sms", &stranger).await, "unknown To");

        assert_eq!(
            footprint(db).await,
            before,
            "a refused webhook stored nothing"
        );

        // The untouched request still goes through.
        let later = twilio.post_raw("/twilio/sms", &p, Some(&good), &[]).await;
        assert!(later.is_twiml(), "{later:?}");
        assert_eq!(later.messages().len(), 1, "{later:?}");
        app.stop().await;
    }
);

store_test!(
    fn sms_same_message_sid_is_one_turn(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let twilio = TwilioClient::new(&app);
        let message_sid = sid("SM");
        let p = sms_params(
            &message_sid,
            RACHEL_KIM,
            DEMO_NUMBER,
            "can u move my appt to next tues afternoon",
        );
        let first = twilio.post("/twilio/sms", &p).await;
        assert_eq!(first.messages().len(), 1, "{first:?}");
        let tool_calls = count(db, "SELECT COUNT(*) FROM tool_calls").await;
        assert!(tool_calls > 0, "the turn used tools");
        let messages = count(db, "SELECT COUNT(*) FROM messages").await;

        // Twilio retries (or the fallback URL delivers) the same message.
        let second = twilio.post("/twilio/sms", &p).await;
        assert!(second.is_twiml(), "{second:?}");
        assert!(
            second.messages().is_empty(),
            "a duplicate is not answered twice: {second:?}"
        );
        let inbound = count(
            db,
            &format!(
                "SELECT COUNT(*) FROM messages WHERE external_id = '{message_sid}' AND direction = 'inbound'"
            ),
        )
        .await;
        assert_eq!(inbound, 1);
        assert_eq!(
            count(
                db,
                &format!("SELECT COUNT(*) FROM inbox WHERE external_id = '{message_sid}'")
            )
            .await,
            1
        );
        assert_eq!(count(db, "SELECT COUNT(*) FROM messages").await, messages);
        assert_eq!(
            count(db, "SELECT COUNT(*) FROM tool_calls").await,
            tool_calls
        );

        // The same SID posted twice at once: still one turn.
        let racing = sms_params(&sid("SM"), RACHEL_KIM, DEMO_NUMBER, "what do I owe?");
        let (a, b) = tokio::join!(
            twilio.post("/twilio/sms", &racing),
            twilio.post("/twilio/sms", &racing)
        );
        assert_eq!(
            a.messages().len() + b.messages().len(),
            1,
            "exactly one answer: {a:?} {b:?}"
        );
        app.stop().await;
    }
);

store_test!(
    fn sms_stop_start_help_and_opt_outs(db: &TestDb) {
        let fake = fake_twilio().await;
        let app = TestApp::spawn_with(db, |raw| raw.twilio_api_base = Some(fake.api_base())).await;
        let twilio = TwilioClient::new(&app);
        let store = app.state.store.clone();
        let tenant = app.demo.demo;
        let rachel = PhoneE164::parse(RACHEL_KIM).expect("phone");

        // HELP: the company and how to reach the office.
        let help = twilio.sms(RACHEL_KIM, "HELP").await;
        let text = help.message();
        assert!(text.contains("Greenleaf Pest Control"), "{text}");
        assert!(text.contains(DEMO_OFFICE), "{text}");
        assert!(text.contains("STOP"), "{text}");

        // STOP: recorded, nothing said (the carrier confirms), shown to the CSR.
        let stop = twilio.sms(RACHEL_KIM, "Stop").await;
        assert!(stop.is_empty_response(), "{stop:?}");
        assert!(store
            .opted_out(tenant, &rachel)
            .await
            .expect("opt-out")
            .is_some());
        let rec = record(&app, app.demo.rachel_kim.0).await;
        assert_eq!(
            rec["customer"]["opted_out"], true,
            "record shows the opt-out"
        );

        // Anything after STOP: no <Message>.
        let after = twilio
            .sms(RACHEL_KIM, "how much is mosquito service?")
            .await;
        assert!(after.is_empty_response(), "{after:?}");

        // A CSR reply queued for her is blocked, and Twilio is never asked.
        let id = store
            .enqueue_outbound(
                tenant,
                &NewOutbound {
                    conversation_id: None,
                    channel: frontdesk::domain::Channel::Sms,
                    to: RACHEL_KIM.into(),
                    from: DEMO_NUMBER.into(),
                    body: "Hi Rachel, this is Carlos from Greenleaf.".into(),
                    purpose: "csr_reply".into(),
                },
                app.state.clock.now(),
            )
            .await
            .expect("enqueue");
        let rest = frontdesk::outbound::TwilioRest::new(&app.state.settings.twilio, PUBLIC_URL)
            .expect("rest");
        frontdesk::outbound::deliver_pending(&store, &rest, app.state.clock.now(), 50)
            .await
            .expect("deliver");
        // This call or the app's own sender (woken by the last turn) takes the row.
        let status = eventually(std::time::Duration::from_secs(10), || async {
            let row = store
                .outbound_of(tenant, None)
                .await
                .expect("outbox")
                .into_iter()
                .find(|m| m.id == id)
                .expect("row");
            (row.status != "queued").then_some(row.status)
        })
        .await;
        assert_eq!(status.as_deref(), Some("blocked"));
        assert!(
            fake.messages_to(RACHEL_KIM).is_empty(),
            "{:?}",
            fake.requests()
        );

        // START: subscribed again, and the agent answers again.
        let start = twilio.sms(RACHEL_KIM, "START").await;
        assert!(start.message().contains("subscribed"), "{start:?}");
        assert!(store
            .opted_out(tenant, &rachel)
            .await
            .expect("opt-out")
            .is_none());
        let rec = record(&app, app.demo.rachel_kim.0).await;
        assert_eq!(rec["customer"]["opted_out"], false);
        let again = twilio
            .sms(RACHEL_KIM, "how much is mosquito service?")
            .await;
        assert!(again.message().contains('$'), "{again:?}");

        // Tom Becker opted out before: nothing, whatever he writes, and nothing by REST.
        let tom = twilio.sms(TOM_BECKER, "when is my next visit?").await;
        assert!(tom.is_empty_response(), "{tom:?}");
        let rec = record(&app, app.demo.tom_becker.0).await;
        assert_eq!(rec["customer"]["opted_out"], true);
        store
            .enqueue_outbound(
                tenant,
                &NewOutbound {
                    conversation_id: None,
                    channel: frontdesk::domain::Channel::Sms,
                    to: TOM_BECKER.into(),
                    from: DEMO_NUMBER.into(),
                    body: "Hi Tom".into(),
                    purpose: "csr_reply".into(),
                },
                app.state.clock.now(),
            )
            .await
            .expect("enqueue");
        frontdesk::outbound::deliver_pending(&store, &rest, app.state.clock.now(), 50)
            .await
            .expect("deliver");
        let toms: Vec<_> = store
            .outbound_of(tenant, None)
            .await
            .expect("outbox")
            .into_iter()
            .filter(|m| m.to == TOM_BECKER)
            .collect();
        assert!(!toms.is_empty());
        assert!(toms.iter().all(|m| m.status == "blocked"), "{toms:?}");
        assert!(fake.messages_to(TOM_BECKER).is_empty());
        app.stop().await;
        fake.stop().await;
    }
);

store_test!(
    fn sms_replies_fit_two_segments_and_are_escaped(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let twilio = TwilioClient::new(&app);
        // A catalog name with an ampersand comes back escaped in the XML and intact in text.
        let wasp = twilio
            .sms(RACHEL_KIM, "how much is wasp nest removal?")
            .await;
        let text = wasp.message();
        assert!(text.contains("Hornet & Yellowjacket"), "{text}");
        assert!(
            wasp.body.contains("Hornet &amp; Yellowjacket"),
            "{}",
            wasp.body
        );
        assert_fits(&text);
        // Whatever the agent says, it fits in two segments (GSM-7 or UCS-2).
        for (n, ask) in [
            "what services do you offer?",
            "hola, cuánto cuesta el control de mosquitos?",
            "Hi!!! 😀 I have ants <everywhere> & roaches, what can you do and how much?",
            "what do I owe?",
            "can u move my appt to next tues afternoon",
        ]
        .iter()
        .enumerate()
        {
            let r = twilio.sms(RACHEL_KIM, ask).await;
            assert!(r.is_twiml(), "{n}: {r:?}");
            for m in r.messages() {
                assert_fits(&m);
            }
            assert!(!r.body.contains("<everywhere>"), "{}", r.body);
        }
        app.stop().await;
    }
);

store_test!(
    fn sms_mms_media_is_stored(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let twilio = TwilioClient::new(&app);
        let media_url = format!(
            "https://api.twilio.com/2010-04-01/Accounts/{}/Messages/{}/Media/{}",
            crate::common::app::TWILIO_ACCOUNT_SID,
            sid("MM"),
            sid("ME")
        );
        let message_sid = sid("MM");
        let p = mms_params(
            &message_sid,
            RACHEL_KIM,
            DEMO_NUMBER,
            "found these in my kitchen, what are they?",
            &[(&media_url, "image/jpeg")],
        );
        let r = twilio.post("/twilio/sms", &p).await;
        assert!(r.is_twiml(), "{r:?}");
        let rec = record(&app, app.demo.rachel_kim.0).await;
        let all: Vec<Value> = rec["conversations"]
            .as_array()
            .expect("conversations")
            .iter()
            .flat_map(|c| c["messages"].as_array().cloned().unwrap_or_default())
            .collect();
        let inbound = all
            .iter()
            .find(|m| m["external_id"] == message_sid.as_str())
            .unwrap_or_else(|| panic!("the MMS is in the record: {all:?}"));
        assert_eq!(inbound["media"], serde_json::json!([media_url]));
        app.stop().await;
    }
);

store_test!(
    fn sms_reschedule_end_to_end(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let twilio = TwilioClient::new(&app);
        let appt_id = app.demo.rachel_kim_appointment.expect("Rachel's visit");
        let tenant = app.demo.demo;
        let before = app
            .state
            .store
            .appointment(tenant, appt_id)
            .await
            .expect("appointment");

        let ask = twilio
            .sms(RACHEL_KIM, "can u move my appt to next tues afternoon")
            .await;
        let proposal = ask.message();
        assert!(
            proposal.contains("PM") || proposal.to_lowercase().contains("afternoon"),
            "a concrete window is proposed: {proposal}"
        );
        // Nothing moved before she agrees.
        let unchanged = app
            .state
            .store
            .appointment(tenant, appt_id)
            .await
            .expect("a");
        assert_eq!(unchanged.window_start, before.window_start);

        let yes = twilio.sms(RACHEL_KIM, "yes").await;
        let done = yes.message();
        assert!(done.starts_with("Done!"), "{done}");
        assert_fits(&done);

        let after = app
            .state
            .store
            .appointment(tenant, appt_id)
            .await
            .expect("a");
        assert_ne!(after.window_start, before.window_start, "the visit moved");
        assert_eq!(after.reschedule_count, before.reschedule_count + 1);

        let rec = record(&app, app.demo.rachel_kim.0).await;
        let item = rec["schedule"]
            .as_array()
            .expect("schedule")
            .iter()
            .find(|s| s["id"] == appt_id.0)
            .expect("the visit in the record")
            .clone();
        let start = chrono::DateTime::parse_from_rfc3339(s(&item["window_start"])).expect("time");
        assert_eq!(start.with_timezone(&chrono::Utc), after.window_start);
        assert_eq!(item["reschedule_count"], after.reschedule_count);
        assert!(
            item["window_start"]
                .as_str()
                .expect("s")
                .contains("T12:00:00-06:00"),
            "{item}"
        );
        let conv = rec["conversations"]
            .as_array()
            .expect("conversations")
            .iter()
            .find(|c| c["channel"] == "sms")
            .expect("the SMS conversation")
            .clone();
        let texts: Vec<&str> = conv["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| s(&m["text"]))
            .collect();
        assert!(
            texts.contains(&"can u move my appt to next tues afternoon"),
            "{texts:?}"
        );
        assert!(texts.contains(&"yes"), "{texts:?}");
        assert!(texts.iter().any(|t| t.starts_with("Done!")), "{texts:?}");
        let tools: Vec<(&str, &str)> = conv["tool_calls"]
            .as_array()
            .expect("tool calls")
            .iter()
            .map(|t| (s(&t["tool"]), s(&t["decision"])))
            .collect();
        assert!(
            tools.contains(&("reschedule_appointment", "allowed")),
            "{tools:?}"
        );
        app.stop().await;
    }
);

store_test!(
    fn an_answered_webhook_confirms_its_inline_reply(db: &TestDb) {
        // Until the answer has left the process its reply is unconfirmed (recovery would
        // check it against Twilio's message list); a normal answer confirms it.
        let app = TestApp::spawn(db).await;
        let twilio = TwilioClient::new(&app);
        let reply = twilio.sms(RACHEL_KIM, "what are your hours?").await;
        assert_eq!(reply.messages().len(), 1, "{reply:?}");
        let store = app.state.store.clone();
        let confirmed = eventually(std::time::Duration::from_secs(10), || {
            let store = store.clone();
            async move {
                store
                    .unconfirmed_inline_replies(0)
                    .await
                    .expect("unconfirmed")
                    .is_empty()
                    .then_some(())
            }
        })
        .await;
        assert!(confirmed.is_some(), "the answered reply stayed unconfirmed");
        app.stop().await;
    }
);
