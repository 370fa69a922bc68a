//! The voice channel end to end: the greeting and speech gather, the knowledge factor voice
//! needs before account details, low-confidence speech, reaching a person (voicemail after
//! hours, the office during business hours), a reschedule by voice, and the voicemail
//! recording callback landing in the human queue.

use std::time::Duration;

use serde_json::Value;

use crate::common::app::{TestApp, PUBLIC_URL};
use crate::common::twilio::*;
use frontdesk::domain::Role;

/// Tuesday 2026-11-24, 10:00 in Austin: the office is open.
const BUSINESS_HOURS: &str = "2026-11-24T10:00:00-06:00";

/// The path and query of a URL under the public base (what Twilio will request).
fn path_of(url: &str) -> String {
    url.strip_prefix(PUBLIC_URL)
        .unwrap_or_else(|| panic!("{url} is not under {PUBLIC_URL}"))
        .to_string()
}

/// The `<Gather>` of a voice answer: checks the attributes Twilio needs and returns the
/// action's path and query.
fn gather_action(reply: &Reply) -> String {
    assert!(reply.is_twiml(), "{reply:?}");
    let gathers = reply.elements("Gather");
    assert_eq!(gathers.len(), 1, "{}", reply.body);
    let g = &gathers[0];
    assert_eq!(g.attr("input"), Some("speech"), "{}", reply.body);
    assert_eq!(g.attr("speechTimeout"), Some("auto"), "{}", reply.body);
    assert!(
        g.attr("speechModel").is_some_and(|m| !m.is_empty()),
        "speechTimeout=auto needs a speechModel: {}",
        reply.body
    );
    let action = g.attr("action").expect("action");
    path_of(action)
}

struct Call<'a> {
    twilio: &'a TwilioClient,
    call_sid: String,
    from: String,
    next: String,
}

impl<'a> Call<'a> {
    async fn start(twilio: &'a TwilioClient, from: &str) -> (Call<'a>, Reply) {
        let call_sid = sid("CA");
        let reply = twilio
            .post("/twilio/voice", &call_params(&call_sid, from, DEMO_NUMBER))
            .await;
        let next = gather_action(&reply);
        (
            Call {
                twilio,
                call_sid,
                from: from.to_string(),
                next,
            },
            reply,
        )
    }

    /// Say something (with a recogniser confidence) to the current gather.
    async fn say(&mut self, speech: &str, confidence: f32) -> Reply {
        let p = speech_params(
            &self.call_sid,
            &self.from,
            DEMO_NUMBER,
            speech,
            Some(confidence),
        );
        let reply = self.twilio.post(&self.next, &p).await;
        assert!(reply.is_twiml(), "{reply:?}");
        if let Some(g) = reply.elements("Gather").first() {
            self.next = path_of(g.attr("action").expect("action"));
        }
        reply
    }

    async fn press(&mut self, digits: &str) -> Reply {
        let p = digits_params(&self.call_sid, &self.from, DEMO_NUMBER, digits);
        self.twilio.post(&self.next, &p).await
    }
}

store_test!(
    fn voice_greets_and_needs_a_knowledge_factor(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let twilio = TwilioClient::new(&app);
        let (mut call, greeting) = Call::start(&twilio, RACHEL_KIM).await;
        let said = greeting.said();
        assert!(said.contains("Greenleaf Pest Control"), "{said}");
        assert!(said.contains("automated assistant"), "{said}");
        assert!(
            call.next.starts_with("/twilio/voice/turn?n="),
            "{}",
            call.next
        );

        let appt = app
            .state
            .store
            .appointment(
                app.demo.demo,
                app.demo.rachel_kim_appointment.expect("visit"),
            )
            .await
            .expect("appointment");
        let day = appt
            .window_start
            .with_timezone(&chrono_tz::America::Chicago)
            .format("%b %-d")
            .to_string();

        // Caller id alone is not enough on the phone: no account detail before the factor.
        let ask = call.say("when is my next appointment", 0.91).await;
        let text = ask.said();
        assert!(
            !text.contains(&day),
            "no visit date before verification: {text}"
        );
        assert!(
            text.to_lowercase().contains("zip") || text.to_lowercase().contains("street"),
            "asks for a knowledge factor: {text}"
        );

        // Mumbled: asked again, the conversation is untouched.
        let messages = db.scalar("SELECT COUNT(*) FROM messages").await;
        let again = call.say("mm hmm uh", 0.12).await;
        assert!(again.said().contains("didn't catch"), "{}", again.body);
        assert!(!again.elements("Gather").is_empty());
        assert_eq!(db.scalar("SELECT COUNT(*) FROM messages").await, messages);

        // The right ZIP: now the visit can be discussed.
        let told = call.say("my zip code is 78748", 0.88).await;
        let text = told.said();
        assert!(
            text.contains(&day),
            "after the factor the visit is named ({day}): {text}"
        );
        app.stop().await;
    }
);

store_test!(
    fn voice_wrong_factor_reveals_nothing(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let twilio = TwilioClient::new(&app);
        let (mut call, _) = Call::start(&twilio, RACHEL_KIM).await;
        call.say("when is my next appointment", 0.9).await;
        let wrong = call.say("my zip is 78701", 0.9).await;
        let text = wrong.said();
        assert!(!text.contains("Texas Oaks"), "{text}");
        let day = app
            .state
            .store
            .appointment(
                app.demo.demo,
                app.demo.rachel_kim_appointment.expect("visit"),
            )
            .await
            .expect("appointment")
            .window_start
            .with_timezone(&chrono_tz::America::Chicago)
            .format("%b %-d")
            .to_string();
        assert!(!text.contains(&day), "{text}");
        app.stop().await;
    }
);

store_test!(
    fn voice_reschedule_end_to_end(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let twilio = TwilioClient::new(&app);
        let tenant = app.demo.demo;
        let appt_id = app.demo.rachel_kim_appointment.expect("visit");
        let before = app
            .state
            .store
            .appointment(tenant, appt_id)
            .await
            .expect("a");

        let (mut call, _) = Call::start(&twilio, RACHEL_KIM).await;
        let mut replies = vec![];
        let r = call
            .say(
                "can you move my appointment to next tuesday afternoon",
                0.93,
            )
            .await;
        replies.push(r.said());
        let r = call
            .say("seven three zero five texas oaks drive, 78748", 0.9)
            .await;
        replies.push(r.said());
        // Verified, the agent offers windows; she picks one and hears the exact change.
        let offer = r.said();
        assert!(offer.contains("PM"), "windows are offered: {replies:?}");
        let r = call.say("the first one", 0.9).await;
        let proposal = r.said();
        replies.push(proposal.clone());
        assert!(proposal.contains("PM"), "the change is stated: {replies:?}");
        let unchanged = app
            .state
            .store
            .appointment(tenant, appt_id)
            .await
            .expect("a");
        assert_eq!(
            unchanged.window_start, before.window_start,
            "not before a yes"
        );

        let done = call.say("yes please", 0.95).await;
        let text = done.said();
        assert!(text.contains("Done"), "{replies:?} then {text}");
        assert!(
            !done.elements("Gather").is_empty(),
            "the call goes on: {}",
            done.body
        );
        let after = app
            .state
            .store
            .appointment(tenant, appt_id)
            .await
            .expect("a");
        assert_ne!(after.window_start, before.window_start);

        let token = app.token(tenant, Role::Admin).await;
        let rec: Value = app
            .http
            .get(app.url(&format!(
                "/api/v1/operator/customers/{}/record",
                app.demo.rachel_kim.0
            )))
            .bearer_auth(token)
            .send()
            .await
            .expect("record")
            .json()
            .await
            .expect("json");
        let conv = rec["conversations"]
            .as_array()
            .expect("conversations")
            .iter()
            .find(|c| c["channel"] == "voice")
            .expect("the call is in the record")
            .clone();
        assert_eq!(conv["identity_level"], "verified", "{conv}");
        let item = rec["schedule"]
            .as_array()
            .expect("schedule")
            .iter()
            .find(|s| s["id"] == appt_id.0)
            .expect("visit")
            .clone();
        let start = chrono::DateTime::parse_from_rfc3339(s(&item["window_start"])).expect("t");
        assert_eq!(start.with_timezone(&chrono::Utc), after.window_start);
        app.stop().await;
    }
);

store_test!(
    fn voice_agent_after_hours_is_voicemail(db: &TestDb) {
        let fake = fake_twilio().await;
        let app = TestApp::spawn_with(db, |raw| raw.twilio_api_base = Some(fake.api_base())).await;
        let twilio = TwilioClient::new(&app);

        // Saying "agent".
        let (mut call, _) = Call::start(&twilio, RACHEL_KIM).await;
        let r = call.say("agent", 0.9).await;
        assert!(r.elements("Dial").is_empty(), "{}", r.body);
        let records = r.elements("Record");
        assert_eq!(records.len(), 1, "{}", r.body);
        let callback = records[0]
            .attr("recordingStatusCallback")
            .expect("recordingStatusCallback")
            .to_string();
        assert!(callback.starts_with(&format!("{PUBLIC_URL}/twilio/voice/recording")));
        assert!(r.said().to_lowercase().contains("closed"), "{}", r.body);

        // Pressing 0 does the same.
        let (mut other, _) = Call::start(&twilio, "+15125557777").await;
        let zero = other.press("0").await;
        assert_eq!(zero.elements("Record").len(), 1, "{}", zero.body);

        // Twilio then reports the recording (only recording fields, no From/To), at the
        // callback URL it was given; no transcriber here, so it goes to the queue.
        let recording_sid = sid("RE");
        let url = fake.recording_url(&recording_sid);
        let p = recording_status_params(&call.call_sid, &recording_sid, &url);
        let ack = twilio.post(&path_of(&callback), &p).await;
        assert!((200..300).contains(&ack.status), "{ack:?}");
        // The <Record action> request ends the call.
        let action = path_of(records[0].attr("action").expect("action"));
        let bye = twilio
            .post(
                &action,
                &record_action_params(
                    &call.call_sid,
                    RACHEL_KIM,
                    DEMO_NUMBER,
                    &recording_sid,
                    &url,
                ),
            )
            .await;
        assert!(
            bye.is_twiml() && !bye.elements("Hangup").is_empty(),
            "{bye:?}"
        );

        let store = app.state.store.clone();
        let tenant = app.demo.demo;
        let rachel = app.demo.rachel_kim;
        let esc = eventually(Duration::from_secs(10), || {
            let store = store.clone();
            async move {
                store
                    .escalations_of(tenant, rachel)
                    .await
                    .ok()?
                    .into_iter()
                    .find(|e| e.reason.to_string() == "voicemail")
            }
        })
        .await
        .expect("a voicemail escalation for Rachel");
        let msgs = store
            .messages(tenant, esc.conversation_id)
            .await
            .expect("messages");
        assert!(
            msgs.iter()
                .any(|m| m.text.contains(&url) || m.media.contains(&url)),
            "the recording link is on the queue item: {msgs:?}"
        );
        // Posted again (Twilio retries): still one escalation.
        let again = twilio.post(&path_of(&callback), &p).await;
        assert!((200..300).contains(&again.status), "{again:?}");
        // The callback is handled on its own task: wait until it is done.
        tokio::time::timeout(Duration::from_secs(10), app.state.background.idle())
            .await
            .expect("voicemail handling finished");
        let n = store
            .escalations_of(tenant, rachel)
            .await
            .expect("escalations")
            .into_iter()
            .filter(|e| e.reason.to_string() == "voicemail")
            .count();
        assert_eq!(n, 1);

        // A forged recording callback is refused.
        let forged = twilio
            .post_raw(
                &path_of(&callback),
                &p,
                Some("AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
                &[],
            )
            .await;
        assert_eq!(forged.status, 403);
        app.stop().await;
        fake.stop().await;
    }
);

store_test!(
    fn voice_agent_in_business_hours_dials_the_office(db: &TestDb) {
        let app = TestApp::spawn_with(db, |raw| raw.clock = Some(BUSINESS_HOURS.into())).await;
        let twilio = TwilioClient::new(&app);
        let (mut call, _) = Call::start(&twilio, RACHEL_KIM).await;
        let r = call.say("I want to talk to a representative", 0.9).await;
        let dials = r.elements("Dial");
        assert_eq!(dials.len(), 1, "{}", r.body);
        assert!(dials[0].text.contains(DEMO_OFFICE), "{}", r.body);
        assert!(r.elements("Record").is_empty());

        let (mut other, _) = Call::start(&twilio, RACHEL_KIM).await;
        let zero = other.press("0").await;
        assert!(
            zero.elements("Dial")[0].text.contains(DEMO_OFFICE),
            "{}",
            zero.body
        );
        app.stop().await;
    }
);
