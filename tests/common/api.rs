//! Talking to the served API the way a client does: JSON requests with a bearer token, the
//! status and JSON body back, operator tokens tied to a user, agent turns through
//! `POST /api/v1/messages`, and one assertion for the API's error shape that also makes
//! sure no SQL, path or stack trace leaked into the body.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::app::TestApp;
use frontdesk::domain::{Role, TenantId, UserId};

/// The demo tenant's first Twilio number (the `to` of its customers' texts).
pub const DEMO_NUMBER: &str = "+15125550000";

/// One request as a table row: method, path, optional token, optional raw body.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: Method,
    pub path: String,
    pub token: Option<String>,
    /// Sent as-is with `content-type: application/json`.
    pub body: Option<String>,
    /// A whole `authorization` header value, overriding `token`.
    pub authorization: Option<String>,
}

impl Req {
    pub fn get(path: impl Into<String>) -> Req {
        Req::new(Method::GET, path)
    }

    pub fn post(path: impl Into<String>, body: Value) -> Req {
        let mut r = Req::new(Method::POST, path);
        r.body = Some(body.to_string());
        r
    }

    pub fn new(method: Method, path: impl Into<String>) -> Req {
        Req {
            method,
            path: path.into(),
            token: None,
            body: None,
            authorization: None,
        }
    }

    pub fn token(mut self, token: &str) -> Req {
        self.token = Some(token.to_string());
        self
    }

    pub fn authorization(mut self, value: &str) -> Req {
        self.authorization = Some(value.to_string());
        self
    }

    pub fn raw_body(mut self, body: String) -> Req {
        self.body = Some(body);
        self
    }
}

fn build(app: &TestApp, req: &Req) -> reqwest::RequestBuilder {
    let mut b = app.http.request(req.method.clone(), app.url(&req.path));
    if let Some(a) = &req.authorization {
        b = b.header("authorization", a);
    } else if let Some(t) = &req.token {
        b = b.bearer_auth(t);
    }
    if let Some(body) = &req.body {
        b = b
            .header("content-type", "application/json")
            .body(body.clone());
    }
    b
}

/// Send a request; returns the status and the body parsed as JSON (`Value::Null` when the
/// body is empty, a JSON string holding the text when it is not JSON).
pub async fn send(app: &TestApp, req: &Req) -> (StatusCode, Value) {
    // A server that refuses an oversized body answers before reading it and closes the
    // connection; the client can then see its write fail instead of the answer. Such a
    // transport error is retried (bounded); any answer is taken as it is.
    let mut attempts = 0;
    let res = loop {
        attempts += 1;
        match tokio::time::timeout(std::time::Duration::from_secs(30), build(app, req).send())
            .await
            .expect("the server answered within 30 s")
        {
            Ok(res) => break res,
            Err(e) if attempts < 3 => eprintln!("retrying after a transport error: {e}"),
            Err(e) => panic!("the request reached the server: {e}"),
        }
    };
    let status = res.status();
    let text = res.text().await.expect("a readable body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

pub async fn get(app: &TestApp, path: &str, token: &str) -> (StatusCode, Value) {
    send(app, &Req::get(path).token(token)).await
}

pub async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
    send(app, &Req::post(path, body).token(token)).await
}

/// GET that must succeed; returns the JSON body.
pub async fn get_ok(app: &TestApp, path: &str, token: &str) -> Value {
    let (status, body) = get(app, path, token).await;
    assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
    body
}

/// Words that must never reach a client in an error body.
const LEAKS: &[&str] = &[
    "SELECT",
    "INSERT",
    "UPDATE ",
    "sqlx",
    "sqlite",
    "postgres",
    "panicked",
    "src/",
    ".rs:",
    "stack backtrace",
    "/home/",
    "/tmp/",
];

/// Assert the body is exactly `{"error":{"code","message"}}` with this code, and leaks nothing.
pub fn assert_error_body(body: &Value, code: &str, context: &str) {
    let outer = body
        .as_object()
        .unwrap_or_else(|| panic!("{context}: error body is not a JSON object: {body}"));
    assert_eq!(
        outer.len(),
        1,
        "{context}: only `error` at top level: {body}"
    );
    let err = outer
        .get("error")
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("{context}: no `error` object: {body}"));
    let mut keys: Vec<&str> = err.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["code", "message"], "{context}: {body}");
    assert_eq!(err["code"], code, "{context}: {body}");
    let message = err["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{context}: message is not a string: {body}"));
    assert!(!message.trim().is_empty(), "{context}: empty message");
    for leak in LEAKS {
        assert!(
            !message.contains(leak),
            "{context}: message leaks `{leak}`: {message}"
        );
    }
}

/// Send a request and assert its status and, for errors, the error code and shape.
pub async fn check(app: &TestApp, req: Req, status: u16, code: Option<&str>) -> Value {
    let (got, body) = send(app, &req).await;
    let context = format!("{} {}", req.method, req.path);
    assert_eq!(got.as_u16(), status, "{context}: {body}");
    if let Some(code) = code {
        assert_error_body(&body, code, &context);
    }
    body
}

/// An operator token tied to a user (as a CSR signed in to the console would hold).
pub async fn user_token(app: &TestApp, tenant: TenantId, user: UserId, role: Role) -> String {
    app.state
        .store
        .create_token(tenant, Some(user), role, "test", 0)
        .await
        .expect("user token")
}

/// One agent turn through the integration API: a text from `from` to the demo number.
pub async fn text_agent(app: &TestApp, token: &str, from: &str, text: &str, id: &str) -> Value {
    let (status, body) = post(
        app,
        "/api/v1/messages",
        token,
        json!({ "channel": "sms", "from": from, "to": DEMO_NUMBER, "text": text, "external_id": id }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "turn `{text}`: {body}");
    body
}

/// Read an SSE response until `want` events arrived; returns (id, event, data) triples.
pub async fn read_events(res: &mut reqwest::Response, want: usize) -> Vec<(i64, String, Value)> {
    let mut buf = String::new();
    let mut out = Vec::new();
    while out.len() < want {
        let chunk = tokio::time::timeout(Duration::from_secs(3), res.chunk())
            .await
            .expect("an event within 3 s (streams re-read on their own only every 5 s)")
            .expect("stream readable")
            .expect("stream still open");
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let (mut id, mut ev, mut data) = (None, String::new(), String::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().parse().ok();
                } else if let Some(v) = line.strip_prefix("event:") {
                    ev = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim());
                }
            }
            if let Some(id) = id {
                out.push((id, ev, serde_json::from_str(&data).unwrap_or(Value::Null)));
            }
        }
    }
    out
}

pub async fn open_stream(app: &TestApp, token: &str, last: Option<i64>) -> reqwest::Response {
    let mut r = app
        .http
        .get(app.url("/api/v1/operator/events"))
        .bearer_auth(token);
    if let Some(id) = last {
        r = r.header("last-event-id", id.to_string());
    }
    let res = r.send().await.expect("stream");
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap_or("")
        .starts_with("text/event-stream"));
    res
}
