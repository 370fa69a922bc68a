//! Signed outbound webhooks: a CSR's reply to an API conversation reaches the integration's
//! callback with a valid signature; a failing callback is retried with backoff and every
//! attempt is logged; the address policy refuses loopback unless allowed; admins only.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::common::api::{check, get_ok, post, user_token, Req};
use crate::common::app::TestApp;
use crate::common::twilio::eventually;
use frontdesk::domain::Role;

/// A loopback receiver: records every request; answers 500 to the first `fail_first`.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<(HeaderMap, String)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start(fail_first: usize) -> Receiver {
        let got: Arc<Mutex<Vec<(HeaderMap, String)>>> = Arc::default();
        let seen = Arc::new(AtomicUsize::new(0));
        let (g, s) = (got.clone(), seen.clone());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let (g, s) = (g.clone(), s.clone());
                async move {
                    g.lock().expect("lock").push((headers, body));
                    if s.fetch_add(1, Ordering::SeqCst) < fail_first {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::NO_CONTENT
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { url, got, task }
    }

    fn bodies(&self) -> Vec<(HeaderMap, String)> {
        self.got.lock().expect("lock").clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Checks `Frontdesk-Signature: t=<t>,v1=<hex>` against the secret and body.
fn signature_valid(headers: &HeaderMap, secret: &str, body: &str) -> bool {
    let Some(h) = headers
        .get("frontdesk-signature")
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut t = None;
    let mut v1 = None;
    for part in h.split(',') {
        match part.split_once('=') {
            Some(("t", x)) => t = Some(x.to_string()),
            Some(("v1", x)) => v1 = Some(x.to_string()),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{t}.{body}").as_bytes());
    let want: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    want == v1
}

async fn subscribe(app: &TestApp, admin: &str, url: &str, kinds: Value) -> (i64, String) {
    let (status, body) = post(
        app,
        "/api/v1/operator/webhooks",
        admin,
        json!({ "url": url, "kinds": kinds }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let secret = body["secret"]
        .as_str()
        .expect("secret shown once")
        .to_string();
    (body["id"].as_i64().expect("id"), secret)
}

store_test!(
    fn csr_reply_to_an_api_conversation_reaches_the_callback_signed(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let d = app.demo.clone();
        let rx = Receiver::start(0).await;
        let admin = app.token(d.demo, Role::Admin).await;
        let (sub, secret) = subscribe(&app, &admin, &rx.url, json!(["message.out"])).await;
        // The secret is not listed again.
        let listed = get_ok(&app, "/api/v1/operator/webhooks", &admin).await;
        assert_eq!(listed["webhooks"][0]["id"], sub);
        assert!(listed["webhooks"][0].get("secret").is_none(), "{listed}");

        let int = app.token(d.demo, Role::Integration).await;
        let (status, turn) = post(
            &app,
            "/api/v1/messages",
            &int,
            json!({ "channel": "api", "from": "+15125557777", "to": "+15125550000",
                    "text": "how much is mosquito service?", "external_id": "wh-1" }),
        )
        .await;
        assert_eq!(status, 200, "{turn}");
        let conv = turn["conversation_id"].as_i64().expect("conversation");
        let csr = user_token(&app, d.demo, d.carlos_mendez, Role::Csr).await;
        let text = "Carlos here: mosquito service is on special this month.";
        let (status, body) = post(
            &app,
            &format!("/api/v1/operator/conversations/{conv}/reply"),
            &csr,
            json!({ "text": text }),
        )
        .await;
        assert!(status.is_success(), "{status} {body}");

        let (headers, body) = eventually(Duration::from_secs(20), || async {
            rx.bodies().into_iter().find(|(_, b)| b.contains(text))
        })
        .await
        .expect("the CSR's reply reaches the callback");
        assert!(
            signature_valid(&headers, &secret, &body),
            "signed: {headers:?}"
        );
        assert!(!signature_valid(&headers, "another secret!!", &body));
        let event: Value = serde_json::from_str(&body).expect("json body");
        assert_eq!(event["kind"], "message.out");
        assert_eq!(event["payload"]["conversation_id"], conv);
        assert_eq!(event["payload"]["channel"], "api");
        assert_eq!(event["payload"]["text"], text);
        // Only the subscribed kind is sent.
        assert!(rx
            .bodies()
            .iter()
            .all(|(_, b)| b.contains("\"message.out\"")));
        app.stop().await;
    }
);

store_test!(
    fn failing_callback_is_retried_with_backoff_and_logged(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        let d = app.demo.clone();
        let rx = Receiver::start(2).await;
        let admin = app.token(d.demo, Role::Admin).await;
        let (sub, secret) = subscribe(&app, &admin, &rx.url, json!(["customer.note_added"])).await;
        let csr = user_token(&app, d.demo, d.carlos_mendez, Role::Csr).await;
        let (status, _) = post(
            &app,
            &format!("/api/v1/operator/customers/{}/notes", d.rachel_kim),
            &csr,
            json!({ "text": "prefers mornings" }),
        )
        .await;
        assert_eq!(status, 201);

        let path = format!("/api/v1/operator/webhooks/{sub}/deliveries");
        let delivery = eventually(Duration::from_secs(30), || async {
            let body = get_ok(&app, &path, &admin).await;
            let d = body["deliveries"][0].clone();
            (d["status"] == "delivered").then_some(d)
        })
        .await
        .expect("delivered after retries");
        assert_eq!(delivery["attempts"], 3, "{delivery}");
        let codes: Vec<i64> = delivery["log"]
            .as_array()
            .expect("log")
            .iter()
            .map(|a| a["status_code"].as_i64().unwrap_or(0))
            .collect();
        assert_eq!(codes, [500, 500, 204]);
        let got = rx.bodies();
        assert_eq!(got.len(), 3, "one request per attempt");
        assert!(got.iter().all(|(h, b)| signature_valid(h, &secret, b)));
        assert!(
            got.iter().all(|(_, b)| *b == got[0].1),
            "the same event each time"
        );

        // Removing the subscription; it is gone from the list and its log.
        check(
            &app,
            Req::new(
                reqwest::Method::DELETE,
                format!("/api/v1/operator/webhooks/{sub}"),
            )
            .token(&admin),
            204,
            None,
        )
        .await;
        let listed = get_ok(&app, "/api/v1/operator/webhooks", &admin).await;
        assert_eq!(listed["webhooks"], json!([]));
        check(
            &app,
            Req::get(&path).token(&admin),
            404,
            Some("webhook_not_found"),
        )
        .await;
        app.stop().await;
    }
);

store_test!(
    fn webhook_addresses_and_kinds_are_checked(db: &TestDb) {
        let app = TestApp::spawn_with(db, |raw| raw.webhook_allow_private = Some(false)).await;
        let d = app.demo.clone();
        let admin = app.token(d.demo, Role::Admin).await;
        for url in [
            "http://127.0.0.1:9/hook",
            "http://10.0.0.5/hook",
            "http://169.254.169.254/latest",
            "http://[::1]/x",
        ] {
            check(
                &app,
                Req::post(
                    "/api/v1/operator/webhooks",
                    json!({ "url": url, "kinds": ["message.out"] }),
                )
                .token(&admin),
                400,
                Some("webhook_address_refused"),
            )
            .await;
        }
        check(
            &app,
            Req::post(
                "/api/v1/operator/webhooks",
                json!({ "url": "ftp://example.com/x", "kinds": ["message.out"] }),
            )
            .token(&admin),
            400,
            Some("webhook_address_refused"),
        )
        .await;
        let csr = app.token(d.demo, Role::Csr).await;
        check(
            &app,
            Req::post(
                "/api/v1/operator/webhooks",
                json!({ "url": "http://127.0.0.1:9/hook", "kinds": ["message.out"] }),
            )
            .token(&csr),
            403,
            Some("forbidden"),
        )
        .await;
        // A public address passes the policy; the kinds are checked next.
        check(
            &app,
            Req::post(
                "/api/v1/operator/webhooks",
                json!({ "url": "http://93.184.216.34/hook", "kinds": ["no.such_kind"] }),
            )
            .token(&admin),
            400,
            Some("invalid_webhook_kinds"),
        )
        .await;
        check(
            &app,
            Req::post(
                "/api/v1/operator/webhooks",
                json!({ "url": "http://93.184.216.34/hook", "kinds": [] }),
            )
            .token(&admin),
            400,
            Some("invalid_webhook_kinds"),
        )
        .await;
        app.stop().await;
    }
);
