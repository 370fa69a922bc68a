//! Voice identity and the voice edges: identity and conversation belong to one call, a
//! withheld caller id never matches anyone, the verification question does not tell a caller
//! whether their caller id is on file, a slow turn is never cancelled and never leaves the
//! caller in silence, and the Media Streams and recording edges take only what Twilio sends.

use std::time::Duration;

use frontdesk::agent::openai::fake::{FakeChatServer, FakeResponse};

use crate::common::app::{TestApp, PUBLIC_URL, TWILIO_AUTH_TOKEN};
use crate::common::twilio::*;

/// The path and query of a URL under the public base (what Twilio will request).
fn path_of(url: &str) -> String {
    url.strip_prefix(PUBLIC_URL)
        .unwrap_or_else(|| panic!("{url} is not under {PUBLIC_URL}"))
        .to_string()
}

/// One call, as Twilio drives it: a call SID, a caller id and the next gather action.
struct Call<'a> {
    twilio: &'a TwilioClient,
    call_sid: String,
    from: String,
    next: String,
}

impl<'a> Call<'a> {
    async fn start(twilio: &'a TwilioClient, from: &str) -> Call<'a> {
        let call_sid = sid("CA");
        let reply = twilio
            .post("/twilio/voice", &call_params(&call_sid, from, DEMO_NUMBER))
            .await;
        let gather = reply.elements("Gather");
        let next = path_of(gather[0].attr("action").expect("action"));
        Call {
            twilio,
            call_sid,
            from: from.to_string(),
            next,
        }
    }

    async fn say(&mut self, speech: &str) -> Reply {
        let p = speech_params(&self.call_sid, &self.from, DEMO_NUMBER, speech, Some(0.9));
        let reply = self.twilio.post(&self.next, &p).await;
        assert!(reply.is_twiml(), "{reply:?}");
        if let Some(g) = reply.elements("Gather").first() {
            self.next = path_of(g.attr("action").expect("action"));
        }
        reply
    }
}

const CALL: &str = "CA0000000000000000000000000000c001";
const OTHER_CALL: &str = "CA0000000000000000000000000000c002";

/// A stream token for `call`, as the TwiML that connects a stream would carry.
async fn issue(app: &TestApp, call: &str) -> String {
    frontdesk::voice::call::issue_stream_token(
        &app.state.store,
        app.demo.demo,
        call,
        app.state.clock.now(),
    )
    .await
    .expect("stream token")
}

/// Rachel Kim's overdue balance, as the agent says it once she is verified.
const RACHEL_BALANCE: &str = "$149";

store_test!(
    fn finding_01_voice_identity_belongs_to_the_call(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let twilio = TwilioClient::new(&app);

        // Call 1 earns "verified" with the ZIP of the service address.
        let mut first = Call::start(&twilio, RACHEL_KIM).await;
        first.say("what is my balance").await;
        let told = first.say("my zip code is 78748").await.said();
        assert!(told.contains(RACHEL_BALANCE), "verified on call 1: {told}");

        // Call 2 from the same number: a new call, a new conversation, nothing inherited.
        let mut second = Call::start(&twilio, RACHEL_KIM).await;
        let asked = second.say("what is my balance").await.said();
        assert!(
            !asked.contains(RACHEL_BALANCE),
            "call 2 inherited call 1's verification: {asked}"
        );

        // Two callers who withhold their number never share a conversation or an identity.
        let mut anon = Call::start(&twilio, "Anonymous").await;
        anon.say("what is my balance").await;
        let told = anon
            .say("this is Rachel Kim, 7305 Texas Oaks Drive, zip 78748")
            .await
            .said();
        assert!(told.contains(RACHEL_BALANCE), "full details verify: {told}");
        let mut other = Call::start(&twilio, "Anonymous").await;
        let asked = other.say("what is my balance").await.said();
        assert!(
            !asked.contains(RACHEL_BALANCE),
            "a second anonymous caller got the first one's account: {asked}"
        );
        // Keypad spellings of a withheld id are no one's number either.
        let mut keypad = Call::start(&twilio, "+266696687").await;
        let asked = keypad.say("what is my balance").await.said();
        assert!(!asked.contains(RACHEL_BALANCE), "{asked}");

        // One conversation per call, keyed by the call.
        assert_eq!(
            db.scalar("SELECT COUNT(*) FROM conversations WHERE channel = 'voice'")
                .await,
            5
        );
        assert_eq!(
            db.scalar(&format!(
                "SELECT COUNT(*) FROM conversations WHERE channel = 'voice' AND participant = 'call:{}'",
                second.call_sid
            ))
            .await,
            1
        );
        // A withheld caller is never matched to a customer.
        assert_eq!(
            db.scalar(&format!(
                "SELECT COUNT(*) FROM conversations WHERE participant = 'call:{}' AND customer_id IS NOT NULL",
                keypad.call_sid
            ))
            .await,
            0
        );
        app.stop().await;
    }
);

store_test!(
    fn finding_01_voicemail_belongs_to_its_call(db: &TestDb) {
        let fake = fake_twilio().await;
        let app = TestApp::spawn_with(db, |raw| raw.twilio_api_base = Some(fake.api_base())).await;
        let twilio = TwilioClient::new(&app);
        let mut call = Call::start(&twilio, RACHEL_KIM).await;
        let r = call.say("agent").await;
        let callback = path_of(
            r.elements("Record")[0]
                .attr("recordingStatusCallback")
                .expect("callback"),
        );
        let recording_sid = sid("RE");
        let url = fake.recording_url(&recording_sid);
        let ack = twilio
            .post(
                &callback,
                &recording_status_params(&call.call_sid, &recording_sid, &url),
            )
            .await;
        assert!((200..300).contains(&ack.status), "{ack:?}");
        let store = app.state.store.clone();
        let (tenant, rachel) = (app.demo.demo, app.demo.rachel_kim);
        let esc = eventually(Duration::from_secs(10), || {
            let store = store.clone();
            async move { store.escalations_of(tenant, rachel).await.ok()?.pop() }
        })
        .await
        .expect("the voicemail is in the queue, for Rachel");
        let conv = store
            .conversation(tenant, esc.conversation_id)
            .await
            .expect("conversation");
        assert_eq!(conv.participant, format!("call:{}", call.call_sid));
        app.stop().await;
        fake.stop().await;
    }
);

store_test!(
    fn finding_05_voice_question_does_not_reveal_a_match(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let twilio = TwilioClient::new(&app);
        // A caller id on file (one customer; a shared phone; a property manager) and one that
        // is not: the same question, and the same answer to a wrong factor.
        let callers = [RACHEL_KIM, "+15125550111", "+15125550122", "+15125557777"];
        let mut asks = Vec::new();
        let mut wrong = Vec::new();
        for from in callers {
            let mut call = Call::start(&twilio, from).await;
            asks.push(call.say("when is my next appointment").await.said());
            wrong.push(call.say("my zip is 78701").await.said());
        }
        for (i, from) in callers.iter().enumerate() {
            assert_eq!(asks[i], asks[3], "{from} hears another question");
            assert_eq!(wrong[i], wrong[3], "{from} hears another answer");
        }
        app.stop().await;
    }
);

store_test!(
    fn finding_05_system_prompt_does_not_say_the_caller_id_matched(db: &TestDb) {
        let fake = FakeChatServer::start().await.expect("fake model");
        fake.respond_with(|_| FakeResponse::reply("Could you tell me a bit more?"));
        let base = fake.base_url();
        let app = TestApp::spawn_with(db, move |raw| {
            raw.model = Some("openai".into());
            raw.openai_base_url = Some(base);
            raw.openai_model = Some("fake-model".into());
        })
        .await;
        let twilio = TwilioClient::new(&app);
        for from in [RACHEL_KIM, "+15125557777"] {
            let mut call = Call::start(&twilio, from).await;
            call.say("when is my next appointment").await;
        }
        let systems: Vec<String> = fake
            .requests()
            .iter()
            .map(|r| {
                r.body["messages"][0]["content"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        assert_eq!(systems.len(), 2, "{systems:?}");
        assert_eq!(systems[0], systems[1]);
        assert!(!systems[0].contains("matches an account"), "{}", systems[0]);
        app.stop().await;
    }
);

store_test!(
    fn finding_07_slow_voice_turn_completes_and_the_caller_hears_something(db: &TestDb) {
        let fake = FakeChatServer::start().await.expect("fake model");
        fake.respond_with(|_| {
            FakeResponse::reply("We treat ants, yes.").with_delay(Duration::from_millis(1500))
        });
        let base = fake.base_url();
        let app = TestApp::spawn_with(db, move |raw| {
            raw.model = Some("openai".into());
            raw.openai_base_url = Some(base);
            raw.openai_model = Some("fake-model".into());
            raw.twilio_reply_budget_ms = Some(200);
        })
        .await;
        let twilio = TwilioClient::new(&app);

        // A model slower than the budget: the caller still hears something at once — the
        // built-in model's answer, or a message on the way to a person (after hours:
        // voicemail) ...
        let mut call = Call::start(&twilio, RACHEL_KIM).await;
        let r = call.say("do you treat for ants").await;
        assert!(!r.said().trim().is_empty(), "{}", r.body);
        assert_eq!(
            r.elements("Record").len() + r.elements("Gather").len(),
            1,
            "{}",
            r.body
        );
        // ... and the turn still completes: it was not cancelled.
        let store = app.state.store.clone();
        let tenant = app.demo.demo;
        let external = format!("{}:1", call.call_sid);
        let done = eventually(Duration::from_secs(15), || {
            let (store, external) = (store.clone(), external.clone());
            async move {
                store
                    .inbox_item(tenant, &external)
                    .await
                    .ok()
                    .flatten()
                    .filter(|i| i.done)
            }
        })
        .await;
        assert!(done.is_some(), "the voice turn was dropped at the budget");

        // An emergency that the model is too slow for: safety guidance, then a person.
        let mut call = Call::start(&twilio, "+15125557777").await;
        let r = call
            .say("there are wasps in my kitchen and my son is allergic")
            .await;
        let said = r.said();
        assert!(said.contains("911"), "no safety guidance: {said}");
        assert_eq!(r.elements("Record").len(), 1, "{}", r.body);
        app.stop().await;
    }
);

store_test!(
    fn finding_12_voicemail_fetch_only_from_twilio(db: &TestDb) {
        use crate::common::voice::FakeTwilio as MediaHost;
        let twilio_api = MediaHost::spawn().await;
        let elsewhere = MediaHost::spawn().await;
        twilio_api.set_recording(wav_tone(8000, 500));
        elsewhere.set_recording(wav_tone(8000, 500));
        let api = twilio_api.base();
        let app = TestApp::spawn_with(db, move |raw| raw.twilio_api_base = Some(api)).await;
        let tenant = app.state.store.tenant(app.demo.demo).await.expect("tenant");

        // The configured Twilio API serves recordings.
        let ok = frontdesk::voicemail::fetch_recording(
            &app.state,
            &tenant,
            &format!("{}/recordings/RE1", twilio_api.base()),
        )
        .await;
        assert!(ok.is_ok(), "{ok:?}");
        // Any other host is refused before a request (and the credentials) leave.
        let other = frontdesk::voicemail::fetch_recording(
            &app.state,
            &tenant,
            &format!("{}/recordings/RE2", elsewhere.base()),
        )
        .await;
        assert!(other.is_err(), "fetched from a foreign host");
        assert!(
            elsewhere.requested().is_empty(),
            "a request went to a foreign host: {:?}",
            elsewhere.requested()
        );
        // A body larger than any 120 s recording is refused.
        twilio_api.set_recording(vec![0u8; 11 * 1024 * 1024]);
        let big = frontdesk::voicemail::fetch_recording(
            &app.state,
            &tenant,
            &format!("{}/recordings/RE3", twilio_api.base()),
        )
        .await;
        assert!(big.is_err(), "an unbounded body was read");
        app.stop().await;
    }
);

store_test!(
    fn finding_12_stream_refuses_oversized_messages(db: &TestDb) {
        use crate::common::voice::{FakeTwilio as Rest, StreamClient};
        let rest = Rest::spawn().await;
        let app = TestApp::spawn_with(db, |raw| raw.twilio_api_base = Some(rest.base())).await;
        let token = issue(&app, CALL).await;
        let mut client = StreamClient::connect_with(app.addr, TWILIO_AUTH_TOKEN, &token)
            .await
            .expect("handshake");
        client.send_text("x".repeat(256 * 1024)).await;
        assert!(
            client.closed_by_server(Duration::from_secs(10)).await,
            "a 256 KiB message was accepted"
        );
        app.stop().await;
    }
);

store_test!(
    fn finding_12_stream_handshake_is_single_use_and_bound_to_the_call(db: &TestDb) {
        use crate::common::voice::{FakeTwilio as Rest, StreamClient};
        let rest = Rest::spawn().await;
        let app = TestApp::spawn_with(db, |raw| raw.twilio_api_base = Some(rest.base())).await;
        // The fixed URL, even correctly signed, opens nothing.
        let bare = StreamClient::connect(app.addr, TWILIO_AUTH_TOKEN)
            .await
            .err();
        assert_eq!(
            bare,
            Some(403),
            "a signed handshake to the fixed URL was accepted"
        );
        // A token made up by the client opens nothing either.
        let made_up = StreamClient::connect_with(app.addr, TWILIO_AUTH_TOKEN, "fd_0000")
            .await
            .err();
        assert_eq!(made_up, Some(403));

        // A token is bound to its call: a start naming another call ends the stream.
        let token = issue(&app, CALL).await;
        let mut client = StreamClient::connect_with(app.addr, TWILIO_AUTH_TOKEN, &token)
            .await
            .expect("the issued token opens the stream");
        client.start(OTHER_CALL, RACHEL_KIM, DEMO_NUMBER, 1).await;
        assert!(
            client.closed_by_server(Duration::from_secs(10)).await,
            "a start for another call was taken"
        );
        // Single use: the same URL and signature, replayed, are refused.
        let replay = StreamClient::connect_with(app.addr, TWILIO_AUTH_TOKEN, &token)
            .await
            .err();
        assert_eq!(replay, Some(403), "a used stream token was accepted again");

        // Short-lived: a token past its lifetime is refused.
        let old = frontdesk::voice::call::issue_stream_token(
            &app.state.store,
            app.demo.demo,
            CALL,
            app.state.clock.now()
                - chrono::Duration::seconds(frontdesk::voice::call::STREAM_TOKEN_TTL_SECS + 1),
        )
        .await
        .expect("token");
        let expired = StreamClient::connect_with(app.addr, TWILIO_AUTH_TOKEN, &old)
            .await
            .err();
        assert_eq!(expired, Some(403), "an expired stream token was accepted");

        // The right call on a fresh token works (DTMF 0 reaches a person by REST).
        let token = issue(&app, CALL).await;
        let mut client = StreamClient::connect_with(app.addr, TWILIO_AUTH_TOKEN, &token)
            .await
            .expect("handshake");
        client.start(CALL, RACHEL_KIM, DEMO_NUMBER, 1).await;
        client.dtmf("0").await;
        let update = rest
            .wait_for(&format!("/Calls/{CALL}"), Duration::from_secs(10))
            .await;
        assert!(
            update
                .param("Twiml")
                .unwrap_or_default()
                .contains("<Record"),
            "{update:?}"
        );
        assert!(
            rest.received().iter().all(|r| !r.path.contains(OTHER_CALL)),
            "the other call was touched"
        );
        client.stop(CALL).await;
        app.stop().await;
    }
);
