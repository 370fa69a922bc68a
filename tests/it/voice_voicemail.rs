//! Voicemail end to end with the real model: a spoken message (espeak-ng, phone quality),
//! served as the recording, a signed recording callback, local transcription, a voice turn,
//! and the SMS answer delivered through (fake) Twilio.

use std::time::Duration;

use crate::common::app::{TestApp, PUBLIC_URL, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN};
use crate::common::voice::{model_path, scratch_dir, speak, FakeTwilio};
use crate::common::TestDb;
use frontdesk::channels::twilio::signature::{sign, HEADER};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn voicemail_is_transcribed_and_answered_by_sms() {
    let db = TestDb::sqlite().await;
    db.bounded(async {
        let dir = scratch_dir();
        let speech = speak(
            "Hi, this is Rachel Kim, I need to move my appointment to next Tuesday afternoon.",
            &dir,
        );
        let fake = FakeTwilio::spawn().await;
        fake.set_recording(speech.wav_mulaw);
        let model = model_path();
        let app = TestApp::spawn_with(&db, |raw| {
            raw.twilio_api_base = Some(fake.base());
            raw.whisper_model = Some(model.display().to_string());
        })
        .await;
        assert!(app.state.transcriber.is_some(), "the model loaded");

        let recording_url = format!(
            "{}/recordings/RE0000000000000000000000000000a001",
            fake.base()
        );
        let params = [
            ("AccountSid", TWILIO_ACCOUNT_SID.to_string()),
            ("CallSid", "CA0000000000000000000000000000a001".to_string()),
            ("From", "+15125550155".to_string()),
            ("To", "+15125550000".to_string()),
            (
                "RecordingSid",
                "RE0000000000000000000000000000a001".to_string(),
            ),
            ("RecordingUrl", recording_url.clone()),
            ("RecordingStatus", "completed".to_string()),
            ("RecordingDuration", "6".to_string()),
        ];
        let signature = sign(
            TWILIO_AUTH_TOKEN,
            &format!("{PUBLIC_URL}/twilio/voice/recording"),
            &params,
        );
        let res = app
            .http
            .post(app.url("/twilio/voice/recording"))
            .header(HEADER, &signature)
            .form(&params)
            .send()
            .await
            .expect("post");
        assert_eq!(
            res.status(),
            204,
            "accepted at once, handled in the background"
        );

        // The answer leaves as an SMS to the caller, through Twilio's REST API.
        let sms = fake
            .wait_for("/Messages.json", Duration::from_secs(90))
            .await;
        assert_eq!(sms.param("To"), Some("+15125550155"));
        assert_eq!(sms.param("From"), Some("+15125550000"));
        let body = sms.param("Body").unwrap_or_default().to_string();
        assert!(body.starts_with("Thanks for your voicemail."), "{body}");

        // The transcript is the customer's message in the conversation, and the agent answered it.
        let outbox = app
            .state
            .store
            .outbound_of(app.demo.demo, None)
            .await
            .expect("outbox");
        let row = outbox
            .iter()
            .find(|o| o.to == "+15125550155" && o.purpose == "reply")
            .expect("an SMS reply was queued for the caller");
        let conversation = row.conversation_id.expect("conversation");
        let messages = app
            .state
            .store
            .messages(app.demo.demo, conversation)
            .await
            .expect("messages");
        let said = messages
            .iter()
            .find(|m| m.external_id.as_deref() == Some("rec:RE0000000000000000000000000000a001"))
            .expect("the voicemail is in the conversation");
        let heard = said.text.to_lowercase();
        println!("transcript: {}\nreply: {body}", said.text);
        assert!(heard.contains("appointment"), "transcript: {}", said.text);
        assert!(heard.contains("rachel"), "transcript: {}", said.text);
        assert_eq!(said.media, vec![recording_url]);
        let _ = std::fs::remove_dir_all(dir);
        app.stop().await;
    })
    .await;
    db.finish().await;
}
