//! Twilio's REST API on loopback, for tests and the soak run (`frontdesk soak`): `POST
//! /2010-04-01/Accounts/{sid}/Messages.json` with basic auth and 201 JSON answers in Twilio's
//! shape, scripted errors (e.g. 21610) and broken answers, the message list that the outbox
//! checks after an uncertain send, and recording downloads (`GET …/Recordings/{sid}` serving a
//! WAV). Every request is recorded. Its form decoding is its own, not the code under test's.
//! Compiled only for tests (`test-support` feature); never part of a release build.

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
    /// When the request arrived.
    pub received_at: std::time::SystemTime,
}

impl RestRequest {
    pub fn field(&self, key: &str) -> Option<&str> {
        param(&self.form, key)
    }

    /// A message create's recipient.
    pub fn to(&self) -> Option<&str> {
        self.field("To")
    }

    /// A message create's text.
    pub fn body(&self) -> Option<&str> {
        self.field("Body")
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
    /// Binds `127.0.0.1:0` and serves the account `account_sid` (basic auth with
    /// `auth_token`) on the current runtime.
    pub async fn start_for(account_sid: &str, auth_token: &str) -> std::io::Result<FakeTwilio> {
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
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(FakeTwilio {
            addr,
            shared,
            shutdown: Some(tx),
        })
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

    /// A message Twilio sent because a webhook answered with TwiML `<Message>`: it is in
    /// the account's message list like any other (not a REST create).
    pub fn record_twiml_reply(&self, from: &str, to: &str, body: &str) {
        let mut state = lock(&self.shared.state);
        state.requests.push(RestRequest {
            method: "TWIML".into(),
            path: String::new(),
            account_sid: self.shared.account_sid.clone(),
            authorized: true,
            content_type: String::new(),
            form: vec![
                ("From".into(), from.into()),
                ("To".into(), to.into()),
                ("Body".into(), body.into()),
            ],
            answered_sid: Some(sid("SM")),
            received_at: std::time::SystemTime::now(),
        });
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
        received_at: std::time::SystemTime::now(),
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
        received_at: std::time::SystemTime::now(),
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
        .filter(|r| (r.method == "POST" || r.method == "TWIML") && r.answered_sid.is_some())
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
        received_at: std::time::SystemTime::now(),
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
