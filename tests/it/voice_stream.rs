//! The Media Streams WebSocket: handshake signatures, DTMF transfer (no model needed), and
//! with the `whisper` feature a spoken request answered by updating the call.

use std::time::Duration;

use crate::common::app::{TestApp, TWILIO_AUTH_TOKEN};
use crate::common::voice::FakeTwilio;
use crate::common::voice::StreamClient;

const CALL: &str = "CA0000000000000000000000000000b001";

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

store_test!(
    fn stream_handshake_is_signed_and_zero_transfers(db: &TestDb) {
        let fake = FakeTwilio::spawn().await;
        let app = TestApp::spawn_with(db, |raw| {
            raw.twilio_api_base = Some(fake.base());
            raw.whisper_model = Some("off".into());
        })
        .await;
        let token = issue(&app, CALL).await;
        // A handshake signed with another token is refused before the upgrade.
        let refused = StreamClient::connect_with(app.addr, "not-the-token", &token)
            .await
            .err();
        assert_eq!(refused, Some(403));

        let mut client = StreamClient::connect_with(app.addr, TWILIO_AUTH_TOKEN, &token)
            .await
            .expect("signed handshake accepted");
        client.start(CALL, "+15125550155", "+15125550000", 1).await;
        client.dtmf("0").await;
        let update = fake
            .wait_for(&format!("/Calls/{CALL}.json"), Duration::from_secs(10))
            .await;
        let twiml = update.param("Twiml").unwrap_or_default().to_string();
        // After hours (the pinned clock is 8:15 PM): a person means voicemail.
        assert!(twiml.contains("<Record"), "{twiml}");
        assert!(twiml.contains("Of course."), "{twiml}");
        client.stop(CALL).await;
        app.stop().await;
    }
);

/// Speak `text` into a call's media stream, then silence, and wait (bounded) for the call
/// update that answers it. Prints how long the update took after the end of speech (the
/// figure in `BENCHMARKS.md`; no bound is asserted: it depends on the machine).
#[cfg(feature = "whisper")]
async fn answer_spoken(text: &str) {
    use crate::common::voice::{model_path, scratch_dir, speak, MULAW_SILENCE};
    use crate::common::TestDb;

    let db = TestDb::sqlite().await;
    db.bounded(async {
        let dir = scratch_dir();
        let speech = speak(text, &dir);
        let fake = FakeTwilio::spawn().await;
        let model = model_path();
        let app = TestApp::spawn_with(&db, |raw| {
            raw.twilio_api_base = Some(fake.base());
            raw.whisper_model = Some(model.display().to_string());
        })
        .await;
        assert!(app.state.transcriber.is_some(), "the model loaded");

        let token = issue(&app, CALL).await;
        let mut client = StreamClient::connect_with(app.addr, TWILIO_AUTH_TOKEN, &token)
            .await
            .expect("handshake");
        client.start(CALL, "+15125550155", "+15125550000", 1).await;
        client.play(&[MULAW_SILENCE; 8000], 1.0).await; // half a second of line before speech
        client.play(&speech.raw_mulaw, 1.0).await;
        let speech_ended = std::time::Instant::now();
        let silence = vec![MULAW_SILENCE; 8000 * 3];
        let playing = tokio::spawn(async move {
            client.play(&silence, 1.0).await;
            client
        });
        let update = fake
            .wait_for(&format!("/Calls/{CALL}.json"), Duration::from_secs(120))
            .await;
        let latency = update.at.duration_since(speech_ended);
        let spoken = speech.raw_mulaw.len() as f64 / 8000.0;
        println!("{spoken:.1} s of speech; end of speech → call update: {latency:?}");
        let client = playing.await.expect("client");
        client.stop(CALL).await;

        let twiml = update.param("Twiml").unwrap_or_default().to_string();
        assert!(twiml.contains("<Say"), "{twiml}");
        assert!(
            twiml.contains(r#"<Stream url="wss://frontdesk.test/twilio/voice/stream/"#),
            "the next turn streams again, on a new stream URL: {twiml}"
        );
        assert!(
            twiml.contains(r#"<Parameter name="n" value="2"/>"#),
            "{twiml}"
        );

        let item = app
            .state
            .store
            .inbox_item(app.demo.demo, &format!("{CALL}:stream:1"))
            .await
            .expect("inbox")
            .expect("the utterance went through the inbox as turn 1");
        let heard = item.text;
        println!("transcript: {heard}\nreply TwiML: {twiml}");
        assert!(heard.to_lowercase().contains("appointment"), "{heard}");
        let _ = std::fs::remove_dir_all(dir);
        app.stop().await;
    })
    .await;
    db.finish().await;
}

#[cfg(feature = "whisper")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn spoken_request_is_answered_by_updating_the_call() {
    answer_spoken(
        "Hi, this is Rachel Kim, I need to move my appointment to next Tuesday afternoon.",
    )
    .await;
}

/// About three seconds of speech (the length the latency target is stated for).
#[cfg(feature = "whisper")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_short_spoken_request_is_answered_by_updating_the_call() {
    answer_spoken("I need to move my appointment to Tuesday.").await;
}
