//! Portal chat: a signed token verifies without questions, portal activity reaches the
//! model's context, the WebSocket variant answers one JSON frame per message, and a bad or
//! expired token is a 401.

use frontdesk::agent::openai::fake::{FakeChatServer, FakeResponse};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::common::agent::*;
use crate::common::app::TestApp;

async fn chat(app: &TestApp, token: &str, text: &str, id: &str) -> reqwest::Response {
    app.http
        .post(app.url("/api/v1/portal/chat"))
        .bearer_auth(token)
        .json(&json!({ "text": text, "client_message_id": id }))
        .send()
        .await
        .expect("portal chat")
}

store_test!(
    fn portal_chat_is_verified_and_knows_the_refused_portal_reschedule(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let jose = app.demo.jose_garcia;
        let appointment = appointment(
            &app,
            app.demo.jose_garcia_appointment.expect("Jose's visit"),
        )
        .await;
        let token = app.portal_token_for(jose, 3600).await;

        let res = chat(&app, &token, "I tried to move my visit online and it wouldn't let me. can you move it to wednesday afternoon?", "p1").await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.expect("json");
        let reply = body["reply"].as_str().expect("reply").to_string();
        // No identity questions, and the portal's refusal is acknowledged.
        assert_says_none(&reply, &["ZIP", "full name", "which service address"]);
        assert_says_all(&reply, &["portal", "48 hours", "Wed Nov 25", "YES"]);
        let res = chat(&app, &token, "yes", "p2").await;
        let body: Value = res.json().await.expect("json");
        assert_says_all(body["reply"].as_str().expect("reply"), &["Wed Nov 25"]);
        let moved = appointment_by_id(&app, appointment.id).await;
        assert_eq!(day_label(moved.window_start), "Wed Nov 25");
        assert_eq!(moved.last_rescheduled_by.as_deref(), Some("agent"));

        // The same client message id again: the same answer, not a second turn.
        let res = chat(&app, &token, "yes", "p2").await;
        let again: Value = res.json().await.expect("json");
        assert_eq!(again["duplicate"], true);
        assert_eq!(again["reply"], body["reply"]);
        app.stop().await;
    }
);

async fn appointment_by_id(
    app: &TestApp,
    id: frontdesk::domain::AppointmentId,
) -> frontdesk::store::Appointment {
    appointment(app, id).await
}

store_test!(
    fn a_refused_portal_reschedule_reaches_the_next_chat_turn(db: &TestDb) {
        let fake = FakeChatServer::start().await.expect("fake server");
        fake.respond_with(|_| {
            FakeResponse::reply("I see the portal could not move it; let me help.")
        });
        let base = fake.base_url();
        let app = TestApp::spawn_with(db, move |raw| {
            raw.model = Some("openai".into());
            raw.openai_base_url = Some(base);
            raw.openai_model = Some("fake-model".into());
        })
        .await;
        // Jose's visit is under 48 hours away: the portal refuses to move it, and records why.
        let jose = app.demo.jose_garcia;
        let token = app.portal_token_for(jose, 3600).await;
        let visit = app.demo.jose_garcia_appointment.expect("Jose's visit");
        let slot = app.demo.full_windows[0];
        let res = app
            .http
            .post(app.url(&format!("/api/v1/portal/visits/{visit}/reschedule")))
            .bearer_auth(&token)
            .json(&json!({ "slot_id": slot }))
            .send()
            .await
            .expect("portal reschedule");
        assert_eq!(res.status(), 409);
        let refusal: Value = res.json().await.expect("json");
        assert_eq!(refusal["error"]["code"], "too_close_to_visit");
        // The next portal chat turn gives the model the refusal with its reason and rule.
        let res = chat(&app, &token, "why can't I reschedule?", "r1").await;
        assert_eq!(res.status(), 200);
        let requests = fake.requests();
        assert!(!requests.is_empty());
        let body = requests[0].body.to_string();
        assert!(body.contains("reschedule_refused"), "{body}");
        assert!(
            body.contains("portal_reschedule.min_hours_ahead = 48"),
            "{body}"
        );
        assert!(
            body.contains("Online rescheduling closes 48 hours before a visit"),
            "{body}"
        );
        let system = requests[0].body["messages"][0]["content"]
            .as_str()
            .unwrap_or("")
            .to_string();
        assert!(
            system.contains("Verified customer: Jose Garcia"),
            "{system}"
        );
        app.stop().await;
    }
);

store_test!(
    fn portal_chat_over_a_websocket_and_bad_tokens(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let token = app.portal_token_for(app.demo.rachel_kim, 3600).await;
        let url = format!("ws://{}/api/v1/portal/chat?token={token}", app.addr);
        let (mut ws, _) = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            tokio_tungstenite::connect_async(url),
        )
        .await
        .expect("connect in time")
        .expect("websocket");
        ws.send(WsMessage::Text(
            json!({ "text": "when is my next appointment?", "client_message_id": "w1" })
                .to_string()
                .into(),
        ))
        .await
        .expect("send");
        let frame = tokio::time::timeout(std::time::Duration::from_secs(20), ws.next())
            .await
            .expect("an answer in time")
            .expect("a frame")
            .expect("a good frame");
        let answer: Value = match frame {
            WsMessage::Text(t) => serde_json::from_str(t.as_str()).expect("json frame"),
            other => panic!("expected a text frame, got {other:?}"),
        };
        let reply = answer["reply"].as_str().expect("reply");
        let visit = rachel_appointment(&app).await;
        assert_says_all(reply, &[&day_label(visit.window_start)]);
        let _ = ws.close(None).await;

        // Bad, expired and other-tenant tokens.
        let expired = app.portal_token_for(app.demo.rachel_kim, -60).await;
        let mut forged = token.clone();
        forged.pop();
        forged.push(if token.ends_with('0') { '1' } else { '0' });
        for bad in [expired.as_str(), forged.as_str(), "garbage"] {
            let res = chat(&app, bad, "hi", "x").await;
            assert_eq!(res.status(), 401, "{bad}");
            let body: Value = res.json().await.expect("json error");
            assert_eq!(body["error"]["code"], "unauthorized");
            let ws_url = format!("ws://{}/api/v1/portal/chat?token={bad}", app.addr);
            let refused = tokio_tungstenite::connect_async(ws_url).await;
            match refused {
                Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
                    assert_eq!(res.status(), 401)
                }
                other => panic!("the WebSocket must be refused: {:?}", other.map(|_| ())),
            }
        }
        app.stop().await;
    }
);
