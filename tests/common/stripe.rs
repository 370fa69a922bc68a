//! Stripe, as the application meets it, on loopback: `POST /v1/checkout/sessions` with the
//! secret key, a form-encoded body in bracket notation and an `Idempotency-Key` (each request
//! is checked and recorded with what was wrong with it; the same key answers the same
//! session), and a hosted checkout page whose "Pay" button sends the signed
//! `checkout.session.completed` webhook to the app, then redirects to the `success_url` as
//! Stripe does.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::oneshot;

use super::twilio::{form_decode, param, Params};

pub const SECRET_KEY: &str = "sk_test_frontdesk_0123456789";
pub const WEBHOOK_SECRET: &str = "whsec_frontdesk_test_0123456789";

/// One session create the fake received.
#[derive(Debug, Clone)]
pub struct SessionRequest {
    pub authorized: bool,
    pub content_type: String,
    pub idempotency_key: Option<String>,
    pub form: Params,
    /// What was not as Stripe requires (empty: well-formed).
    pub problems: Vec<String>,
}

impl SessionRequest {
    pub fn field(&self, key: &str) -> Option<&str> {
        param(&self.form, key)
    }
}

#[derive(Default)]
struct FakeState {
    requests: Vec<SessionRequest>,
    /// Sessions by id.
    sessions: HashMap<String, Value>,
    /// Session id by idempotency key.
    by_key: HashMap<String, String>,
    /// Where "Pay" sends the webhook.
    webhook_url: Option<String>,
    /// Clock of the app (unix seconds) for the webhook's `t`.
    now: i64,
    events: u64,
}

struct Shared {
    state: Mutex<FakeState>,
    base: String,
}

fn lock(m: &Mutex<FakeState>) -> MutexGuard<'_, FakeState> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub struct FakeStripe {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl FakeStripe {
    pub async fn start() -> FakeStripe {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake Stripe");
        let addr = listener.local_addr().expect("fake addr");
        let shared = Arc::new(Shared {
            state: Mutex::new(FakeState::default()),
            base: format!("http://{addr}"),
        });
        let router = Router::new()
            .route("/v1/checkout/sessions", post(create_session))
            .route("/checkout/{id}", get(checkout_page))
            .route("/checkout/{id}/pay", post(pay))
            .with_state(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        FakeStripe {
            addr,
            shared,
            shutdown: Some(tx),
        }
    }

    /// What to set as `stripe_api_base`.
    pub fn api_base(&self) -> String {
        self.shared.base.clone()
    }

    /// Where "Pay" posts the signed webhook, and the app's clock for its timestamp.
    pub fn deliver_webhooks_to(&self, url: &str, app_now: i64) {
        let mut s = lock(&self.shared.state);
        s.webhook_url = Some(url.to_string());
        s.now = app_now;
    }

    pub fn requests(&self) -> Vec<SessionRequest> {
        lock(&self.shared.state).requests.clone()
    }

    /// A created session's JSON.
    pub fn session(&self, id: &str) -> Option<Value> {
        lock(&self.shared.state).sessions.get(id).cloned()
    }

    /// The `checkout.session.completed` event Stripe would send for a paid session.
    pub fn completed_event(&self, session_id: &str, event_id: &str) -> Vec<u8> {
        completed_event(&self.shared, session_id, event_id)
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn completed_event(shared: &Shared, session_id: &str, event_id: &str) -> Vec<u8> {
    let mut session = lock(&shared.state)
        .sessions
        .get(session_id)
        .cloned()
        .expect("a session the fake created");
    session["status"] = json!("complete");
    session["payment_status"] = json!("paid");
    session["payment_intent"] = json!(format!("pi_{session_id}"));
    let event = json!({
        "id": event_id,
        "object": "event",
        "api_version": "2024-06-20",
        "type": "checkout.session.completed",
        "created": 1_700_000_000,
        "livemode": false,
        "data": { "object": session },
    });
    serde_json::to_vec_pretty(&event).expect("event json")
}

/// The `Stripe-Signature` header for `body` at `t`, computed here independently of the
/// application's code: HMAC-SHA256(secret, t + "." + body), hex.
pub fn signature_header(secret: &str, t: i64, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("hmac key");
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    let sig: String = m
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={t},v1={sig}")
}

fn stripe_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "error": { "type": "invalid_request_error", "message": message } }).to_string(),
    )
        .into_response()
}

fn check(form: &Params) -> Vec<String> {
    let mut problems = Vec::new();
    let want = |k: &str, p: &mut Vec<String>| -> Option<String> {
        match param(form, k) {
            Some(v) if !v.is_empty() => Some(v.to_string()),
            _ => {
                p.push(format!("missing {k}"));
                None
            }
        }
    };
    if want("mode", &mut problems)
        .as_deref()
        .is_some_and(|m| m != "payment")
    {
        problems.push("mode must be payment".into());
    }
    for url in ["success_url", "cancel_url"] {
        if want(url, &mut problems)
            .is_some_and(|u| !(u.starts_with("https://") || u.starts_with("http://")))
        {
            problems.push(format!("{url} must be an absolute URL"));
        }
    }
    if param(form, "success_url").is_some_and(|u| !u.contains("{CHECKOUT_SESSION_ID}")) {
        problems.push("success_url should carry {CHECKOUT_SESSION_ID}".into());
    }
    if want("line_items[0][quantity]", &mut problems).as_deref() != Some("1") {
        problems.push("quantity must be 1".into());
    }
    if want("line_items[0][price_data][currency]", &mut problems).as_deref() != Some("usd") {
        problems.push("currency must be usd".into());
    }
    let amount = want("line_items[0][price_data][unit_amount]", &mut problems);
    if amount
        .as_deref()
        .is_some_and(|a| !matches!(a.parse::<i64>(), Ok(n) if n > 0))
    {
        problems.push("unit_amount must be a positive integer of cents".into());
    }
    want(
        "line_items[0][price_data][product_data][name]",
        &mut problems,
    );
    want("metadata[invoice_id]", &mut problems);
    want("metadata[tenant_id]", &mut problems);
    for (k, _) in form {
        let known = [
            "mode",
            "success_url",
            "cancel_url",
            "client_reference_id",
            "customer_email",
        ]
        .contains(&k.as_str())
            || k.starts_with("metadata[")
            || k.starts_with("line_items[0][");
        if !known || k.contains("][]") {
            problems.push(format!("unknown parameter {k}"));
        }
    }
    problems
}

async fn create_session(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {SECRET_KEY}"));
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let idempotency_key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let form = form_decode(&body);
    let mut problems = check(&form);
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        problems.push(format!("content type {content_type}"));
    }
    if idempotency_key.is_none() {
        problems.push("no Idempotency-Key".into());
    }
    let mut state = lock(&shared.state);
    state.requests.push(SessionRequest {
        authorized,
        content_type,
        idempotency_key: idempotency_key.clone(),
        form: form.clone(),
        problems: problems.clone(),
    });
    if !authorized {
        return stripe_error(StatusCode::UNAUTHORIZED, "Invalid API Key provided");
    }
    if !problems.is_empty() {
        return stripe_error(StatusCode::BAD_REQUEST, &problems.join("; "));
    }
    if let Some(id) = idempotency_key.as_ref().and_then(|k| state.by_key.get(k)) {
        let session = state.sessions[id].clone();
        return (StatusCode::OK, axum::Json(session)).into_response();
    }
    let id = format!("cs_test_{:04}", state.sessions.len() + 1);
    let metadata: serde_json::Map<String, Value> = form
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("metadata[")
                .and_then(|k| k.strip_suffix(']'))
                .map(|k| (k.to_string(), json!(v)))
        })
        .collect();
    let amount: i64 = param(&form, "line_items[0][price_data][unit_amount]")
        .and_then(|a| a.parse().ok())
        .unwrap_or_default();
    let session = json!({
        "id": id,
        "object": "checkout.session",
        "url": format!("{}/checkout/{id}", shared.base),
        "status": "open",
        "payment_status": "unpaid",
        "mode": "payment",
        "amount_total": amount,
        "currency": "usd",
        "client_reference_id": param(&form, "client_reference_id"),
        "metadata": metadata,
        "success_url": param(&form, "success_url"),
        "cancel_url": param(&form, "cancel_url"),
        "expires_at": 1_700_086_400,
    });
    state.sessions.insert(id.clone(), session.clone());
    if let Some(k) = idempotency_key {
        state.by_key.insert(k, id);
    }
    (StatusCode::OK, axum::Json(session)).into_response()
}

async fn checkout_page(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let Some(session) = lock(&shared.state).sessions.get(&id).cloned() else {
        return (StatusCode::NOT_FOUND, "no such session").into_response();
    };
    Html(format!(
        "<!doctype html><html><head><meta name=viewport content='width=device-width'><title>Pay</title></head>\
         <body><h1>Test checkout</h1><p id=amount>{}</p>\
         <form method=post action='/checkout/{id}/pay'><button id=pay type=submit>Pay</button></form></body></html>",
        session["amount_total"]
    ))
    .into_response()
}

async fn pay(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let (session, url, now, n) = {
        let mut s = lock(&shared.state);
        s.events += 1;
        let Some(session) = s.sessions.get(&id).cloned() else {
            return (StatusCode::NOT_FOUND, "no such session").into_response();
        };
        (session, s.webhook_url.clone(), s.now, s.events)
    };
    let Some(url) = url else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "no webhook URL").into_response();
    };
    let body = completed_event(&shared, &id, &format!("evt_test_{n:04}"));
    let res = reqwest::Client::new()
        .post(&url)
        .header(
            "stripe-signature",
            signature_header(WEBHOOK_SECRET, now, &body),
        )
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await;
    if !res.is_ok_and(|r| r.status().is_success()) {
        return (StatusCode::BAD_GATEWAY, "the webhook was refused").into_response();
    }
    let success = session["success_url"]
        .as_str()
        .unwrap_or("")
        .replace("{CHECKOUT_SESSION_ID}", &id);
    Redirect::to(&success).into_response()
}
