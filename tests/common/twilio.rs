//! Twilio, as the application meets it, on loopback:
//!
//! - [`TwilioClient`]: posts webhooks exactly as Twilio does (every parameter Twilio sends,
//!   `application/x-www-form-urlencoded`, `X-Twilio-Signature` over the public URL), to the
//!   test app's loopback address.
//! - [`FakeTwilio`]: Twilio's Messages REST API (`POST /2010-04-01/Accounts/{sid}/Messages.json`
//!   with basic auth, 201 JSON answers, scripted errors like 21610) and recording downloads
//!   (`GET …/Recordings/{sid}` serving a WAV), recording every request.
//! - A small TwiML reader for assertions.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
use tokio::sync::oneshot;

use super::app::{TestApp, PUBLIC_URL, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN};
use frontdesk::channels::twilio::signature::sign;

/// The demo tenant's Twilio numbers.
pub const DEMO_NUMBER: &str = "+15125550000";
pub const DEMO_NUMBER_2: &str = "+15125550001";
pub const DEMO_OFFICE: &str = "+15125550009";
pub const DEMO_ON_CALL: &str = "+15125550999";
pub const RACHEL_KIM: &str = "+15125550155";
pub const TOM_BECKER: &str = "+15125550144";

static SID_COUNTER: AtomicU64 = AtomicU64::new(1);

/// A fresh Twilio-shaped SID: two-letter prefix and 32 lowercase hex digits.
pub fn sid(prefix: &str) -> String {
    let n = SID_COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{prefix}{:016x}{:016x}", n, nanos as u64)
}

pub type Params = Vec<(String, String)>;

fn params(list: &[(&str, &str)]) -> Params {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Encode a form body the way Twilio does: unreserved characters stay, space is `+`, the
/// rest is `%XX` (upper-case hex). Written here rather than borrowed from the code under test.
pub fn form_encode(pairs: &[(String, String)]) -> String {
    fn escape(out: &mut String, s: &str) {
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    out.push(char::from(b))
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
    }
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        escape(&mut out, k);
        out.push('=');
        escape(&mut out, v);
    }
    out
}

/// Decode a form body (for the fake's side).
pub fn form_decode(body: &[u8]) -> Params {
    fn unescape(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz");
                    match u8::from_str_radix(hex, 16) {
                        Ok(b) => {
                            out.push(b);
                            i += 2;
                        }
                        Err(_) => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (unescape(k), unescape(v)),
            None => (unescape(p), String::new()),
        })
        .collect()
}

/// The first value of `key` in decoded form pairs.
pub fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

// ------------------------------------------------------------------------------------------
// Webhook parameters, as Twilio sends them

/// An inbound SMS (long code, no media): every parameter Twilio posts.
pub fn sms_params(message_sid: &str, from: &str, to: &str, body: &str) -> Params {
    let mut p = params(&[
        ("ToCountry", "US"),
        ("ToState", "TX"),
        ("SmsMessageSid", message_sid),
        ("NumMedia", "0"),
        ("ToCity", "AUSTIN"),
        ("FromZip", "78748"),
        ("SmsSid", message_sid),
        ("FromState", "TX"),
        ("SmsStatus", "received"),
        ("FromCity", "AUSTIN"),
        ("Body", body),
        ("FromCountry", "US"),
        ("To", to),
        ("ToZip", ""),
        ("NumSegments", "1"),
        ("MessageSid", message_sid),
        ("AccountSid", TWILIO_ACCOUNT_SID),
        ("From", from),
        ("ApiVersion", "2010-04-01"),
    ]);
    p.sort();
    p
}

/// An MMS: the SMS parameters with `NumMedia` and one `MediaUrlN`/`MediaContentTypeN` per item.
pub fn mms_params(
    message_sid: &str,
    from: &str,
    to: &str,
    body: &str,
    media: &[(&str, &str)],
) -> Params {
    let mut p: Params = sms_params(message_sid, from, to, body)
        .into_iter()
        .filter(|(k, _)| k != "NumMedia")
        .collect();
    p.push(("NumMedia".into(), media.len().to_string()));
    for (i, (url, content_type)) in media.iter().enumerate() {
        p.push((format!("MediaUrl{i}"), url.to_string()));
        p.push((format!("MediaContentType{i}"), content_type.to_string()));
    }
    p.sort();
    p
}

fn call_base(call_sid: &str, from: &str, to: &str, status: &str) -> Params {
    params(&[
        ("AccountSid", TWILIO_ACCOUNT_SID),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", call_sid),
        ("CallStatus", status),
        ("Called", to),
        ("CalledCity", "AUSTIN"),
        ("CalledCountry", "US"),
        ("CalledState", "TX"),
        ("CalledZip", ""),
        ("Caller", from),
        ("CallerCity", "AUSTIN"),
        ("CallerCountry", "US"),
        ("CallerState", "TX"),
        ("CallerZip", "78748"),
        ("Direction", "inbound"),
        ("From", from),
        ("FromCity", "AUSTIN"),
        ("FromCountry", "US"),
        ("FromState", "TX"),
        ("FromZip", "78748"),
        ("To", to),
        ("ToCity", "AUSTIN"),
        ("ToCountry", "US"),
        ("ToState", "TX"),
        ("ToZip", ""),
    ])
}

/// A call arriving (`POST /twilio/voice`).
pub fn call_params(call_sid: &str, from: &str, to: &str) -> Params {
    let mut p = call_base(call_sid, from, to, "ringing");
    p.push((
        "CallToken".into(),
        "%7B%22parentCallInfoToken%22%3A%22eyJ%22%7D".into(),
    ));
    p.push(("StirVerstat".into(), "TN-Validation-Passed-A".into()));
    p.sort();
    p
}

/// A speech `<Gather>` result (`POST` to its action): the call parameters plus what was heard.
pub fn speech_params(
    call_sid: &str,
    from: &str,
    to: &str,
    speech: &str,
    confidence: Option<f32>,
) -> Params {
    let mut p = call_base(call_sid, from, to, "in-progress");
    p.push(("SpeechResult".into(), speech.into()));
    if let Some(c) = confidence {
        p.push(("Confidence".into(), format!("{c:.8}")));
    }
    p.push(("Language".into(), "en-US".into()));
    p.sort();
    p
}

/// A DTMF `<Gather>` result.
pub fn digits_params(call_sid: &str, from: &str, to: &str, digits: &str) -> Params {
    let mut p = call_base(call_sid, from, to, "in-progress");
    p.push(("Digits".into(), digits.into()));
    p.push(("FinishedOnKey".into(), "".into()));
    p.sort();
    p
}

/// A `recordingStatusCallback`: Twilio sends only the recording's fields, no `From`/`To`.
pub fn recording_status_params(call_sid: &str, recording_sid: &str, url: &str) -> Params {
    let mut p = params(&[
        ("AccountSid", TWILIO_ACCOUNT_SID),
        ("CallSid", call_sid),
        ("RecordingSid", recording_sid),
        ("RecordingUrl", url),
        ("RecordingStatus", "completed"),
        ("RecordingDuration", "7"),
        ("RecordingChannels", "1"),
        ("RecordingStartTime", "Tue, 24 Nov 2026 02:16:02 +0000"),
        ("RecordingSource", "RecordVerb"),
        ("ErrorCode", "0"),
    ]);
    p.sort();
    p
}

/// The `<Record action>` request: call parameters plus the recording.
pub fn record_action_params(
    call_sid: &str,
    from: &str,
    to: &str,
    recording_sid: &str,
    url: &str,
) -> Params {
    let mut p = call_base(call_sid, from, to, "completed");
    p.push(("RecordingSid".into(), recording_sid.into()));
    p.push(("RecordingUrl".into(), url.into()));
    p.push(("RecordingDuration".into(), "7".into()));
    p.push(("Digits".into(), "hangup".into()));
    p.sort();
    p
}

/// A message status callback (`StatusCallback` of an outbound message).
pub fn message_status_params(
    message_sid: &str,
    from: &str,
    to: &str,
    status: &str,
    error_code: Option<&str>,
) -> Params {
    let mut p = params(&[
        ("AccountSid", TWILIO_ACCOUNT_SID),
        ("ApiVersion", "2010-04-01"),
        ("From", from),
        ("MessageSid", message_sid),
        ("MessageStatus", status),
        ("SmsSid", message_sid),
        ("SmsStatus", status),
        ("To", to),
    ]);
    if let Some(code) = error_code {
        p.push(("ErrorCode".into(), code.into()));
    }
    p.sort();
    p
}

// ------------------------------------------------------------------------------------------
// The signing client

/// What the app answered a webhook with.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: String,
    pub elapsed: Duration,
}

impl Reply {
    pub fn is_twiml(&self) -> bool {
        self.status == 200 && self.content_type.starts_with("text/xml")
    }

    /// The texts of all `<Message>` verbs, unescaped.
    pub fn messages(&self) -> Vec<String> {
        elements(&self.body, "Message")
            .into_iter()
            .map(|e| e.text)
            .collect()
    }

    /// The one `<Message>`, or a panic that shows the body.
    pub fn message(&self) -> String {
        let m = self.messages();
        assert_eq!(m.len(), 1, "expected one <Message>: {}", self.body);
        m.into_iter().next().unwrap_or_default()
    }

    /// `<Response/>` or `<Response></Response>`: nothing for the caller.
    pub fn is_empty_response(&self) -> bool {
        let b = self.body.trim();
        let b = b
            .strip_prefix(r#"<?xml version="1.0" encoding="UTF-8"?>"#)
            .unwrap_or(b)
            .trim();
        b == "<Response/>" || b == "<Response></Response>"
    }

    pub fn elements(&self, tag: &str) -> Vec<Element> {
        elements(&self.body, tag)
    }

    /// Everything spoken (`<Say>` anywhere), joined.
    pub fn said(&self) -> String {
        elements(&self.body, "Say")
            .into_iter()
            .map(|e| e.text)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// One TwiML element: its attributes and its (unescaped) text content.
#[derive(Debug, Clone)]
pub struct Element {
    pub attrs: Vec<(String, String)>,
    /// Raw inner XML (not unescaped).
    pub inner: String,
    /// Inner XML with tags removed and entities decoded.
    pub text: String,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

fn strip_tags(s: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// Every `<tag …>…</tag>` or `<tag …/>` in a (flat enough) XML document.
pub fn elements(xml: &str, tag: &str) -> Vec<Element> {
    let mut out = Vec::new();
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        // `<Gather` must not match `<GatherX`.
        if !after.starts_with([' ', '>', '/']) {
            rest = after;
            continue;
        }
        let Some(end_of_open) = after.find('>') else {
            break;
        };
        let head = &after[..end_of_open];
        let self_closing = head.ends_with('/');
        let attrs = parse_attrs(head.trim_end_matches('/'));
        if self_closing {
            out.push(Element {
                attrs,
                inner: String::new(),
                text: String::new(),
            });
            rest = &after[end_of_open + 1..];
            continue;
        }
        let body = &after[end_of_open + 1..];
        let Some(end) = body.find(&close) else {
            break;
        };
        let inner = &body[..end];
        out.push(Element {
            attrs,
            inner: inner.to_string(),
            text: xml_unescape(&strip_tags(inner)),
        });
        rest = &body[end + close.len()..];
    }
    out
}

fn parse_attrs(head: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = head.trim();
    while let Some(eq) = rest.find("=\"") {
        let name = rest[..eq].trim().to_string();
        let value_start = &rest[eq + 2..];
        let Some(end) = value_start.find('"') else {
            break;
        };
        out.push((name, xml_unescape(&value_start[..end])));
        rest = value_start[end + 1..].trim_start();
    }
    out
}

/// Posts webhooks to the app as Twilio would.
#[derive(Clone)]
pub struct TwilioClient {
    http: reqwest::Client,
    addr: SocketAddr,
    pub public_url: String,
    pub auth_token: String,
}

impl TwilioClient {
    pub fn new(app: &TestApp) -> Self {
        TwilioClient {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
            addr: app.addr,
            public_url: PUBLIC_URL.to_string(),
            auth_token: TWILIO_AUTH_TOKEN.to_string(),
        }
    }

    /// The signature Twilio sends for `path_and_query` (under the public URL) and `params`.
    pub fn signature(&self, path_and_query: &str, params: &[(String, String)]) -> String {
        sign(
            &self.auth_token,
            &format!("{}{path_and_query}", self.public_url),
            params,
        )
    }

    /// A correctly signed POST.
    pub async fn post(&self, path_and_query: &str, params: &[(String, String)]) -> Reply {
        let signature = self.signature(path_and_query, params);
        self.post_raw(path_and_query, params, Some(&signature), &[])
            .await
    }

    /// A POST with any signature (or none) and extra headers.
    pub async fn post_raw(
        &self,
        path_and_query: &str,
        params: &[(String, String)],
        signature: Option<&str>,
        extra_headers: &[(&str, &str)],
    ) -> Reply {
        let url = format!("http://{}{path_and_query}", self.addr);
        let mut req = self
            .http
            .post(url)
            .header(
                header::CONTENT_TYPE,
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .header(header::USER_AGENT, "TwilioProxy/1.1")
            .header("I-Twilio-Idempotency-Token", sid("ID").to_lowercase())
            .header(header::ACCEPT, "*/*")
            .body(form_encode(params));
        if let Some(s) = signature {
            req = req.header("X-Twilio-Signature", s);
        }
        for (k, v) in extra_headers {
            req = req.header(*k, *v);
        }
        let started = std::time::Instant::now();
        let res = req.send().await.expect("webhook request");
        let status = res.status().as_u16();
        let content_type = res
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = res.text().await.expect("webhook body");
        Reply {
            status,
            content_type,
            body,
            elapsed: started.elapsed(),
        }
    }

    /// Text the app from `from`: one signed inbound SMS with a fresh `MessageSid`.
    pub async fn sms(&self, from: &str, body: &str) -> Reply {
        self.sms_to(from, DEMO_NUMBER, body).await
    }

    pub async fn sms_to(&self, from: &str, to: &str, body: &str) -> Reply {
        let p = sms_params(&sid("SM"), from, to, body);
        self.post("/twilio/sms", &p).await
    }
}

// ------------------------------------------------------------------------------------------
// The fake REST API

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct RestRequest {
    pub method: String,
    pub path: String,
    pub account_sid: String,
    /// Basic auth matched the account SID and auth token.
    pub authorized: bool,
    pub content_type: String,
    pub form: Params,
    /// The SID the fake answered with (messages accepted only).
    pub answered_sid: Option<String>,
}

impl RestRequest {
    pub fn field(&self, key: &str) -> Option<&str> {
        param(&self.form, key)
    }
}

#[derive(Default)]
struct FakeState {
    requests: Vec<RestRequest>,
    /// Answers to give instead of accepting, in order: (HTTP status, Twilio error code, message).
    errors: VecDeque<(u16, i64, String)>,
    /// Accept this many next creates but answer them with an unreadable body, as when the
    /// connection breaks after Twilio took the message.
    garble: usize,
}

struct Shared {
    state: Mutex<FakeState>,
    account_sid: String,
    auth_token: String,
    recording: Vec<u8>,
    notify: tokio::sync::Notify,
}

pub struct FakeTwilio {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
}

fn lock(m: &Mutex<FakeState>) -> MutexGuard<'_, FakeState> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FakeTwilio {
    /// The fake for the test app's account.
    pub async fn start() -> FakeTwilio {
        Self::start_for(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN).await
    }

    pub async fn start_for(account_sid: &str, auth_token: &str) -> FakeTwilio {
        let shared = Arc::new(Shared {
            state: Mutex::new(FakeState::default()),
            account_sid: account_sid.to_string(),
            auth_token: auth_token.to_string(),
            recording: wav_tone(8000, 800),
            notify: tokio::sync::Notify::new(),
        });
        let router = Router::new()
            .route(
                "/2010-04-01/Accounts/{account}/Messages.json",
                post(create_message).get(list_messages),
            )
            .route(
                "/2010-04-01/Accounts/{account}/Recordings/{recording}",
                get(recording),
            )
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake Twilio");
        let addr = listener.local_addr().expect("fake addr");
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        FakeTwilio {
            addr,
            shared,
            shutdown: Some(tx),
        }
    }

    /// What to set as `twilio_api_base`.
    pub fn api_base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Where a recording of this account lives (WAV, basic auth like Twilio's).
    pub fn recording_url(&self, recording_sid: &str) -> String {
        format!(
            "http://{}/2010-04-01/Accounts/{}/Recordings/{recording_sid}",
            self.addr, self.shared.account_sid
        )
    }

    /// Refuse the next message create with Twilio's error shape.
    pub fn fail_next(&self, status: u16, code: i64, message: &str) {
        lock(&self.shared.state)
            .errors
            .push_back((status, code, message.to_string()));
    }

    /// Accept the next message create but answer with a broken body: the sender cannot
    /// know the message went out.
    pub fn garble_next(&self) {
        lock(&self.shared.state).garble += 1;
    }

    pub fn requests(&self) -> Vec<RestRequest> {
        lock(&self.shared.state).requests.clone()
    }

    /// Message creates only.
    pub fn messages(&self) -> Vec<RestRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "POST")
            .collect()
    }

    /// Message creates to `to`.
    pub fn messages_to(&self, to: &str) -> Vec<RestRequest> {
        self.messages()
            .into_iter()
            .filter(|r| r.field("To") == Some(to))
            .collect()
    }

    /// Wait (bounded) until at least `n` message creates arrived; returns them all.
    pub async fn wait_for_messages(&self, n: usize, within: Duration) -> Vec<RestRequest> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let notified = self.shared.notify.notified();
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.messages();
            }
        }
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn basic_auth_ok(headers: &HeaderMap, sid: &str, token: &str) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(encoded) = value.strip_prefix("Basic ") else {
        return false;
    };
    let Ok(decoded) = STANDARD.decode(encoded.trim()) else {
        return false;
    };
    decoded == format!("{sid}:{token}").as_bytes()
}

fn twilio_error(status: u16, code: i64, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status.as_u16(),
        })
        .to_string(),
    )
        .into_response()
}

async fn create_message(
    State(shared): State<Arc<Shared>>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let authorized = account == shared.account_sid
        && basic_auth_ok(&headers, &shared.account_sid, &shared.auth_token);
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let form = form_decode(&body);
    let mut request = RestRequest {
        method: "POST".into(),
        path: format!("/2010-04-01/Accounts/{account}/Messages.json"),
        account_sid: account.clone(),
        authorized,
        content_type: content_type.clone(),
        form: form.clone(),
        answered_sid: None,
    };
    let answer = {
        let mut state = lock(&shared.state);
        let answer = if !authorized {
            twilio_error(401, 20003, "Authenticate")
        } else if !content_type.starts_with("application/x-www-form-urlencoded") {
            twilio_error(400, 12300, "Invalid Content-Type")
        } else if param(&form, "To").is_none_or(str::is_empty) {
            twilio_error(400, 21604, "A 'To' phone number is required.")
        } else if param(&form, "From").is_none_or(str::is_empty) {
            twilio_error(400, 21603, "A 'From' phone number is required.")
        } else if param(&form, "Body").is_none_or(str::is_empty) {
            twilio_error(400, 21602, "Message body is required.")
        } else if let Some((status, code, message)) = state.errors.pop_front() {
            twilio_error(status, code, &message)
        } else {
            let message_sid = sid("SM");
            request.answered_sid = Some(message_sid.clone());
            let text = param(&form, "Body").unwrap_or_default();
            if state.garble > 0 {
                state.garble -= 1;
                state.requests.push(request);
                shared.notify.notify_waiters();
                return (StatusCode::CREATED, "{\"sid\": \"SM").into_response();
            }
            (
                StatusCode::CREATED,
                [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                json!({
                    "account_sid": account,
                    "api_version": "2010-04-01",
                    "body": text,
                    "date_created": "Tue, 24 Nov 2026 02:15:00 +0000",
                    "date_sent": null,
                    "date_updated": "Tue, 24 Nov 2026 02:15:00 +0000",
                    "direction": "outbound-api",
                    "error_code": null,
                    "error_message": null,
                    "from": param(&form, "From"),
                    "messaging_service_sid": null,
                    "num_media": "0",
                    "num_segments": "1",
                    "price": null,
                    "price_unit": "USD",
                    "sid": message_sid,
                    "status": "queued",
                    "subresource_uris": {"media": format!("/2010-04-01/Accounts/{account}/Messages/{message_sid}/Media.json")},
                    "to": param(&form, "To"),
                    "uri": format!("/2010-04-01/Accounts/{account}/Messages/{message_sid}.json"),
                })
                .to_string(),
            )
                .into_response()
        };
        state.requests.push(request);
        answer
    };
    shared.notify.notify_waiters();
    answer
}

/// `GET …/Messages.json?To=&From=&DateSent>=`: the messages this fake accepted, newest
/// first, in Twilio's list shape.
async fn list_messages(
    State(shared): State<Arc<Shared>>,
    Path(account): Path<String>,
    headers: HeaderMap,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    let authorized = account == shared.account_sid
        && basic_auth_ok(&headers, &shared.account_sid, &shared.auth_token);
    let filters = form_decode(query.unwrap_or_default().as_bytes());
    let mut state = lock(&shared.state);
    state.requests.push(RestRequest {
        method: "GET".into(),
        path: format!("/2010-04-01/Accounts/{account}/Messages.json"),
        account_sid: account.clone(),
        authorized,
        content_type: String::new(),
        form: filters.clone(),
        answered_sid: None,
    });
    if !authorized {
        return twilio_error(401, 20003, "Authenticate");
    }
    let wanted =
        |key: &str, r: &RestRequest| param(&filters, key).is_none_or(|v| r.field(key) == Some(v));
    let messages: Vec<Value> = state
        .requests
        .iter()
        .rev()
        .filter(|r| r.method == "POST" && r.answered_sid.is_some())
        .filter(|r| wanted("To", r) && wanted("From", r))
        .map(|r| {
            json!({
                "sid": r.answered_sid,
                "body": r.field("Body"),
                "to": r.field("To"),
                "from": r.field("From"),
                "status": "sent",
            })
        })
        .collect();
    Json(json!({
        "messages": messages,
        "page": 0,
        "page_size": 50,
        "next_page_uri": null,
    }))
    .into_response()
}

async fn recording(
    State(shared): State<Arc<Shared>>,
    Path((account, recording)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let authorized = account == shared.account_sid
        && basic_auth_ok(&headers, &shared.account_sid, &shared.auth_token);
    lock(&shared.state).requests.push(RestRequest {
        method: "GET".into(),
        path: format!("/2010-04-01/Accounts/{account}/Recordings/{recording}"),
        account_sid: account,
        authorized,
        content_type: String::new(),
        form: Vec::new(),
        answered_sid: None,
    });
    shared.notify.notify_waiters();
    if !authorized {
        return twilio_error(401, 20003, "Authenticate");
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "audio/x-wav")],
        shared.recording.clone(),
    )
        .into_response()
}

/// A mono 16-bit PCM WAV: a 440 Hz tone of `millis` at `rate`.
pub fn wav_tone(rate: u32, millis: u32) -> Vec<u8> {
    let n = rate * millis / 1000;
    let data_len = n * 2;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..n {
        let t = i as f32 / rate as f32;
        let s = (t * 440.0 * std::f32::consts::TAU).sin() * 8000.0;
        out.extend_from_slice(&(s as i16).to_le_bytes());
    }
    out
}

/// Poll `check` (bounded) until it yields a value.
pub async fn eventually<T, F, Fut>(within: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A JSON value's string, or "".
pub fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}
