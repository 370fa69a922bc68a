//! Bad input, table-driven, on every operation the router serves (`openapi::OPERATIONS`):
//! hostile path parameters, missing, forged and expired credentials, malformed, mistyped,
//! oversized, invalid UTF-8 and NUL-laden bodies, absurd paging. Every answer is below 500;
//! an API error is the stable JSON shape with nothing internal in it; an unsigned Twilio
//! webhook gets Twilio's bare 403; and the server is healthy after all of it.

use futures_util::StreamExt;
use reqwest::Method;
use serde_json::Value;

use crate::common::app::TestApp;
use frontdesk::domain::Role;
use frontdesk::http::openapi::{Access, Op, OPERATIONS};

/// Strings that must never reach a client.
const LEAKS: &[&str] = &[
    "SELECT ",
    "INSERT ",
    "sqlx",
    "panicked",
    "src/",
    ".rs:",
    "stack backtrace",
    "/home/",
    "/root/",
    "/tmp/",
    "SQLITE_",
    "relation \"",
];

/// What stands in for a path parameter.
const HOSTILE_SEGMENTS: &[&str] = &[
    "0",
    "-1",
    "99999999999999999999999999",
    "1.5",
    "%00",
    "%FF",
    "%C3%28",
    "1%20OR%201%3D1",
    "..%2F..%2Fetc%2Fpasswd",
    "%E2%80%AE",
];

/// Bodies (sent as JSON content) for operations that take one.
fn hostile_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    vec![
        ("empty", Vec::new()),
        ("empty object", b"{}".to_vec()),
        ("array", b"[1,2]".to_vec()),
        ("wrong types", br#"{"text": 5, "channel": [], "from": {}, "to": null, "slot_id": "x", "email": 1, "password": false, "name": 7}"#.to_vec()),
        ("truncated", b"{\"text\":".to_vec()),
        ("invalid utf-8", b"{\"text\": \"\xff\xfe\xfd\"}".to_vec()),
        ("nul bytes", b"{\"text\": \"a\\u0000b\", \"email\": \"\\u0000\"}".to_vec()),
        ("deep nesting", nested.into_bytes()),
        ("1 MB", vec![b'a'; 1024 * 1024 + 1]),
    ]
}

const JUNK_QUERY: &str = "?page=-1&per_page=99999999999&limit=abc&offset=-5&q=%00%FF&status=%27&from=x&to=y&date=2026-13-45";

/// Fill every `{param}` of a path template with `value`.
fn fill(path: &str, value: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .map_or(rest.len(), |e| start + e + 1);
        out.push_str(value);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

struct Credentials {
    admin: String,
    integration: String,
    portal: String,
    expired_portal: String,
}

impl Credentials {
    /// The credential an operation accepts (`None` when it takes none or a signature).
    fn valid(&self, access: Access) -> Option<&str> {
        match access {
            Access::Admin | Access::Operator | Access::Reader | Access::Session => {
                Some(&self.admin)
            }
            Access::Integration => Some(&self.integration),
            Access::Portal => Some(&self.portal),
            Access::Public | Access::Twilio | Access::Stripe => None,
        }
    }
}

/// One row of the table.
struct Probe {
    op: &'static Op,
    path: String,
    authorization: Option<String>,
    body: Option<Vec<u8>>,
    what: &'static str,
}

/// Send one probe and check what every answer must pass. A fresh connection each time: an
/// answer sent before a body was read (413) closes its connection, which a pooled client
/// would otherwise reuse.
async fn probe(app: &TestApp, http: &reqwest::Client, p: Probe) {
    let Probe {
        op,
        path,
        authorization,
        body,
        what,
    } = p;
    let path = path.as_str();
    let method = Method::from_bytes(op.method.to_uppercase().as_bytes()).expect("a method");
    let mut req = http.request(method, app.url(path));
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b);
    }
    let context = format!("{} {path} ({what})", op.method);
    let res = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{context}: {e:?}"));
    let status = res.status().as_u16();
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if content_type.starts_with("text/event-stream") {
        // A live event stream opened (the junk filters were ignored): it never ends.
        assert_eq!(status, 200, "{context}");
        return;
    }
    let bytes = res.bytes().await.expect("a body");
    let text = String::from_utf8_lossy(&bytes);
    assert!(status < 500, "{context}: {status} {text}");
    for leak in LEAKS {
        assert!(
            !text.contains(leak),
            "{context}: the answer leaks `{leak}`: {text}"
        );
    }
    if op.access == Access::Twilio && status == 403 {
        // Twilio's bare 403: no body worth parsing, nothing to learn from it.
        assert!(
            bytes.len() < 64,
            "{context}: a 403 to Twilio says too much: {text}"
        );
        return;
    }
    let api = path.starts_with("/api/") || path.starts_with("/webhooks/");
    if api && status >= 400 && status != 405 {
        assert!(
            content_type.starts_with("application/json"),
            "{context}: {status} with content type `{content_type}`"
        );
        let v: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{context}: error body is not JSON ({e}): {text}"));
        let code = v["error"]["code"].as_str().unwrap_or_default();
        assert!(
            !code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{context}: no stable error code: {text}"
        );
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{context}: no message: {text}"
        );
    }
}

store_test!(
    fn every_route_answers_hostile_input_with_a_clear_error_and_stays_healthy(db: &TestDb) {
        // Every integration configured, so each route reaches its own checks (Stripe's
        // webhook answers 503 `payments_unavailable` in a deployment without Stripe).
        let app = TestApp::spawn_with(db, |raw| {
            raw.stripe_api_base = Some("http://127.0.0.1:9".into());
            raw.stripe_secret_key = Some(frontdesk::config::Secret::new("sk_test_bad_input"));
            raw.stripe_webhook_secret = Some(frontdesk::config::Secret::new("whsec_bad_input"));
        })
        .await;
        let creds = Credentials {
            admin: app.token(app.demo.demo, Role::Admin).await,
            integration: app.token(app.demo.demo, Role::Integration).await,
            portal: app.portal_token(app.demo.rachel_kim).await,
            expired_portal: app.portal_token_for(app.demo.rachel_kim, -60).await,
        };
        let bearer = |t: &str| Some(format!("Bearer {t}"));
        let mut table = Vec::new();
        let row =
            |op: &'static Op, path: String, auth: Option<String>, body: Option<Vec<u8>>, what| {
                Probe {
                    op,
                    path,
                    authorization: auth,
                    body,
                    what,
                }
            };
        for op in OPERATIONS {
            let canonical = fill(op.path, "1");
            let valid = creds.valid(op.access).and_then(bearer);
            // Hostile path parameters, with a valid credential.
            if op.path.contains('{') {
                for seg in HOSTILE_SEGMENTS {
                    table.push(row(op, fill(op.path, seg), valid.clone(), None, "path"));
                }
                let long = "9".repeat(4_000);
                table.push(row(
                    op,
                    fill(op.path, &long),
                    valid.clone(),
                    None,
                    "long path",
                ));
            }
            // Missing, forged, malformed and expired credentials.
            let forged = [
                None,
                Some("Bearer fd_forged_0000000000000000000000000000".to_string()),
                Some("Bearer".to_string()),
                Some("Basic Zm9vOmJhcg==".to_string()),
                Some(format!("Bearer {}x", creds.portal)),
                bearer(&creds.expired_portal),
                Some("Bearer %00".to_string()),
            ];
            for auth in forged {
                table.push(row(op, canonical.clone(), auth, None, "credentials"));
            }
            // Junk paging and filters.
            table.push(row(
                op,
                format!("{canonical}{JUNK_QUERY}"),
                valid.clone(),
                None,
                "query",
            ));
            // Malformed bodies where the operation takes one (and where it does not).
            if op.method != "get" {
                for (what, body) in hostile_bodies() {
                    table.push(row(op, canonical.clone(), valid.clone(), Some(body), what));
                }
            }
        }
        let probes = table.len();
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(std::time::Duration::from_secs(20))
            .build()
            .expect("a client");
        futures_util::stream::iter(table)
            .for_each_concurrent(8, |p| probe(&app, &http, p))
            .await;
        assert!(
            probes > 1_000,
            "only {probes} probes: the operation table was not read"
        );
        // Healthy after all of it: liveness, readiness (a store round trip) and a real turn.
        for path in ["/healthz", "/readyz"] {
            let res = app.http.get(app.url(path)).send().await.expect(path);
            assert_eq!(res.status(), 200, "{path} after the hostile table");
        }
        let turn = crate::common::api::text_agent(
            &app,
            &creds.integration,
            "+15125550155",
            "how much for ant treatment?",
            "after-hostile-1",
        )
        .await;
        assert!(
            turn["reply"].as_str().is_some_and(|r| !r.is_empty()),
            "no reply after the hostile table: {turn}"
        );
        app.stop().await;
    }
);
