//! The served application end to end: health, readiness, metrics, and one agent turn over
//! the integration API, on both engines.

use serde_json::{json, Value};

use crate::common::app::TestApp;
use frontdesk::domain::Role;

store_test!(
    fn serves_health_and_an_agent_turn(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let health: Value = app
            .http
            .get(app.url("/healthz"))
            .send()
            .await
            .expect("healthz")
            .json()
            .await
            .expect("json");
        assert_eq!(health["status"], "ok");
        let ready = app
            .http
            .get(app.url("/readyz"))
            .send()
            .await
            .expect("readyz");
        assert_eq!(ready.status(), 200);

        let token = app.token(app.demo.demo, Role::Integration).await;
        let res = app
            .http
            .post(app.url("/api/v1/messages"))
            .bearer_auth(&token)
            .json(&json!({ "channel": "sms", "from": "+15125550155", "to": "+15125550000", "text": "how much is mosquito service?", "external_id": "smoke-1" }))
            .send()
            .await
            .expect("post");
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.expect("json");
        let reply = body["reply"].as_str().expect("reply");
        assert!(reply.contains('$'), "a price was quoted: {reply}");
        assert_eq!(body["escalated"], false);

        let metrics = app
            .http
            .get(app.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        assert!(
            metrics.contains("route=\"/api/v1/messages\",status=\"200\""),
            "{metrics}"
        );
        app.stop().await;
    }
);
