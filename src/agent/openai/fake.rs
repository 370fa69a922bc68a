//! A scriptable chat-completions server on loopback, for tests and evals that need an LLM
//! endpoint without reaching one. It speaks the real wire format on `127.0.0.1:<random>`:
//! answers come from a queue of canned responses (then from an optional responder closure),
//! every request is logged with its body and `Authorization` header, and a request that
//! breaks the chat-completions rules OpenAI enforces is answered with a 400 like OpenAI's.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// Computes an answer from the request body once the queue is empty.
pub type Responder = Arc<dyn Fn(&Value) -> FakeResponse + Send + Sync>;

/// One canned HTTP answer.
#[derive(Debug, Clone)]
pub struct FakeResponse {
    pub status: u16,
    /// JSON answers are sent as JSON; a string is sent verbatim (for broken bodies).
    pub body: FakeBody,
    pub headers: Vec<(String, String)>,
    /// Wait this long before answering (to provoke client timeouts).
    pub delay: Duration,
}

#[derive(Debug, Clone)]
pub enum FakeBody {
    Json(Value),
    Raw(String),
}

impl FakeResponse {
    /// A completion whose assistant message is `message` (`content`, `tool_calls`, …).
    /// `usage` is filled in from the request size unless set with [`FakeResponse::with_usage`].
    pub fn completion(message: Value, finish_reason: &str) -> Self {
        let mut message = message;
        if let Some(m) = message.as_object_mut() {
            m.entry("role").or_insert_with(|| json!("assistant"));
        }
        FakeResponse::json(
            200,
            json!({
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": 0,
                "model": "fake",
                "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
            }),
        )
    }

    /// A plain text answer.
    pub fn reply(text: &str) -> Self {
        FakeResponse::completion(json!({"content": text}), "stop")
    }

    /// Tool calls `(id, name, arguments)`, with the arguments sent as a JSON string.
    pub fn tool_calls(calls: &[(&str, &str, Value)]) -> Self {
        let calls: Vec<Value> = calls
            .iter()
            .map(|(id, name, args)| {
                json!({
                    "id": id,
                    "type": "function",
                    "function": {"name": name, "arguments": args.to_string()},
                })
            })
            .collect();
        FakeResponse::completion(json!({"content": null, "tool_calls": calls}), "tool_calls")
    }

    /// An error the way OpenAI words it.
    pub fn error(status: u16, message: &str) -> Self {
        FakeResponse::json(
            status,
            json!({"error": {"message": message, "type": "fake_error", "code": null}}),
        )
    }

    pub fn json(status: u16, body: Value) -> Self {
        FakeResponse {
            status,
            body: FakeBody::Json(body),
            headers: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    pub fn raw(status: u16, body: impl Into<String>) -> Self {
        FakeResponse {
            status,
            body: FakeBody::Raw(body.into()),
            headers: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    pub fn with_usage(mut self, prompt_tokens: u64, completion_tokens: u64) -> Self {
        if let FakeBody::Json(Value::Object(m)) = &mut self.body {
            m.insert(
                "usage".to_owned(),
                json!({
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                }),
            );
        }
        self
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct ReceivedRequest {
    pub authorization: Option<String>,
    /// The body as JSON (`Value::Null` when it was not JSON).
    pub body: Value,
    /// Why the server rejected the request as invalid chat-completions input, if it did.
    pub rejected: Option<String>,
}

#[derive(Default)]
struct Shared {
    /// Answer 500 to an assistant message whose `content` is `null`, as llama.cpp's
    /// servers do (their prompt templates need a string).
    null_content_fails: std::sync::atomic::AtomicBool,
    /// Log requests without their bodies (long runs).
    forget_bodies: std::sync::atomic::AtomicBool,
    script: Mutex<VecDeque<FakeResponse>>,
    responder: Mutex<Option<Responder>>,
    received: Mutex<Vec<ReceivedRequest>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The running server; stops when dropped.
pub struct FakeChatServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl FakeChatServer {
    /// Binds `127.0.0.1:0` and serves `POST /v1/chat/completions` on the current runtime.
    pub async fn start() -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let app = Router::new()
            .route("/v1/chat/completions", post(handle))
            .with_state(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, "fake chat server stopped");
            }
        });
        Ok(FakeChatServer {
            addr,
            shared,
            shutdown: Some(tx),
        })
    }

    /// The `base_url` to configure a client with (`http://127.0.0.1:<port>/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// From now on, log requests without their bodies (long runs keep memory flat).
    pub fn forget_bodies(&self) {
        self.shared
            .forget_bodies
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// From now on, answer an assistant message with `"content": null` the way llama.cpp's
    /// OpenAI-compatible servers do: 500, because the prompt template cannot render it.
    pub fn reject_null_content(&self) {
        self.shared
            .null_content_fails
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Queue one answer; answers are used in order, one per request.
    pub fn push(&self, response: FakeResponse) {
        lock(&self.shared.script).push_back(response);
    }

    /// Queue the same answer `n` times.
    pub fn push_n(&self, n: usize, response: FakeResponse) {
        let mut script = lock(&self.shared.script);
        script.extend(std::iter::repeat_n(response, n));
    }

    /// Answer with `f` once the queue is empty (without one, an empty queue answers 500).
    pub fn respond_with(&self, f: impl Fn(&Value) -> FakeResponse + Send + Sync + 'static) {
        *lock(&self.shared.responder) = Some(Arc::new(f));
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        lock(&self.shared.received).clone()
    }

    pub fn hits(&self) -> usize {
        lock(&self.shared.received).len()
    }

    /// Canned answers not used yet.
    pub fn pending(&self) -> usize {
        lock(&self.shared.script).len()
    }
}

impl Drop for FakeChatServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

async fn handle(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let authorization = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let parsed: Result<Value, String> =
        serde_json::from_slice(&body).map_err(|e| format!("body is not JSON: {e}"));
    let rejected = match &parsed {
        Ok(v) => check_chat_request(v).err(),
        Err(e) => Some(e.clone()),
    };
    let body = parsed.unwrap_or(Value::Null);
    let forget = shared
        .forget_bodies
        .load(std::sync::atomic::Ordering::Relaxed);
    lock(&shared.received).push(ReceivedRequest {
        authorization,
        body: if forget { Value::Null } else { body.clone() },
        rejected: rejected.clone(),
    });
    if let Some(problem) = rejected {
        return render(FakeResponse::json(
            400,
            json!({"error": {"message": problem, "type": "invalid_request_error", "code": null}}),
        ));
    }
    if shared
        .null_content_fails
        .load(std::sync::atomic::Ordering::SeqCst)
        && has_null_assistant_content(&body)
    {
        return render(FakeResponse::json(500, null_content_error()));
    }
    let next = lock(&shared.script).pop_front();
    let response = match next {
        Some(r) => r,
        None => {
            let responder = lock(&shared.responder).clone();
            match responder {
                Some(f) => f(&body),
                None => FakeResponse::error(500, "fake server: no scripted response left"),
            }
        }
    };
    let response = with_estimated_usage(response, &body);
    if !response.delay.is_zero() {
        tokio::time::sleep(response.delay).await;
    }
    render(response)
}

fn has_null_assistant_content(body: &Value) -> bool {
    body.get("messages")
        .and_then(Value::as_array)
        .is_some_and(|m| {
            m.iter().any(|m| {
                m.get("role").and_then(Value::as_str) == Some("assistant")
                    && m.get("content").is_none_or(Value::is_null)
            })
        })
}

/// The body llama-cpp-python's server sends when its chat template meets `content: null`.
pub fn null_content_error() -> Value {
    json!({"error": {"message": "can only concatenate str (not \"NoneType\") to str",
                     "type": "internal_server_error", "param": null, "code": null}})
}

/// Completions without a `usage` get a rough one (4 bytes a token), like a real server's.
fn with_estimated_usage(mut response: FakeResponse, request: &Value) -> FakeResponse {
    if let FakeBody::Json(Value::Object(m)) = &mut response.body {
        if m.contains_key("choices") && !m.contains_key("usage") {
            let prompt = request.to_string().len() as u64 / 4;
            let completion = m
                .get("choices")
                .map(|c| c.to_string().len() as u64 / 4)
                .unwrap_or(0);
            m.insert(
                "usage".to_owned(),
                json!({"prompt_tokens": prompt, "completion_tokens": completion,
                       "total_tokens": prompt + completion}),
            );
        }
    }
    response
}

fn render(r: FakeResponse) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = match r.body {
        FakeBody::Json(v) => (status, axum::Json(v)).into_response(),
        FakeBody::Raw(s) => (status, s).into_response(),
    };
    for (name, value) in r.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            response.headers_mut().insert(n, v);
        }
    }
    response
}

/// The rules a chat-completions request must follow, as OpenAI enforces them: a model name;
/// messages with known roles; assistant messages with content or tool calls (content may be
/// `null` only then), each call `{id, type: "function", function: {name, arguments: string}}`;
/// every `tool` message answering a call of the assistant message before it; tools, when
/// present, as a non-empty array of `{type: "function", function: {name, parameters}}`.
pub fn check_chat_request(body: &Value) -> Result<(), String> {
    let model = body.get("model").and_then(Value::as_str).unwrap_or("");
    if model.is_empty() {
        return Err("`model` is missing".into());
    }
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
        .ok_or("`messages` must be a non-empty array")?;
    // Calls of the latest assistant message still waiting for their tool message.
    let mut open_calls: HashSet<String> = HashSet::new();
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("");
        let content = m.get("content");
        match role {
            "system" | "user" => {
                unanswered(i, &open_calls)?;
                if !content.is_some_and(Value::is_string) {
                    return Err(format!("messages[{i}] ({role}) needs string content"));
                }
            }
            "assistant" => {
                let calls = match m.get("tool_calls") {
                    None => &[][..],
                    Some(Value::Array(a)) if !a.is_empty() => a.as_slice(),
                    Some(_) => {
                        return Err(format!(
                            "messages[{i}].tool_calls must be a non-empty array when present"
                        ))
                    }
                };
                let content_ok = match content {
                    Some(Value::String(_)) => true,
                    None | Some(Value::Null) => !calls.is_empty(),
                    Some(_) => false,
                };
                if !content_ok {
                    return Err(format!("messages[{i}] needs content or tool_calls"));
                }
                unanswered(i, &open_calls)?;
                for (j, c) in calls.iter().enumerate() {
                    let id = c.get("id").and_then(Value::as_str).unwrap_or("");
                    let kind = c.get("type").and_then(Value::as_str).unwrap_or("");
                    let f = c.get("function");
                    let name = f.and_then(|f| f.get("name")).and_then(Value::as_str);
                    let args = f.and_then(|f| f.get("arguments")).and_then(Value::as_str);
                    if id.is_empty() || kind != "function" || name.is_none() || args.is_none() {
                        return Err(format!(
                            "messages[{i}].tool_calls[{j}] must be \
                             {{id, type: \"function\", function: {{name, arguments: string}}}}"
                        ));
                    }
                    open_calls.insert(id.to_owned());
                }
            }
            "tool" => {
                let id = m.get("tool_call_id").and_then(Value::as_str).unwrap_or("");
                if !open_calls.remove(id) {
                    return Err(format!(
                        "messages[{i}] (tool) must answer a tool call of the preceding \
                         assistant message; `tool_call_id` {id:?} does not"
                    ));
                }
                if !content.is_some_and(Value::is_string) {
                    return Err(format!("messages[{i}] (tool) needs string content"));
                }
            }
            other => return Err(format!("messages[{i}] has unknown role {other:?}")),
        }
    }
    unanswered(messages.len(), &open_calls)?;
    if let Some(tools) = body.get("tools") {
        let tools = tools
            .as_array()
            .filter(|t| !t.is_empty())
            .ok_or("`tools` must be a non-empty array when present")?;
        for (k, t) in tools.iter().enumerate() {
            let kind = t.get("type").and_then(Value::as_str).unwrap_or("");
            let f = t.get("function");
            let name = f.and_then(|f| f.get("name")).and_then(Value::as_str);
            let params = f.and_then(|f| f.get("parameters"));
            if kind != "function"
                || name.is_none_or(str::is_empty)
                || !params.is_some_and(Value::is_object)
            {
                return Err(format!(
                    "tools[{k}] must be {{type: \"function\", function: {{name, description, parameters}}}}"
                ));
            }
        }
    } else if body.get("tool_choice").is_some() {
        return Err("`tool_choice` is only allowed when `tools` are given".into());
    }
    Ok(())
}

fn unanswered(i: usize, open_calls: &HashSet<String>) -> Result<(), String> {
    if open_calls.is_empty() {
        return Ok(());
    }
    let mut ids: Vec<&str> = open_calls.iter().map(String::as_str).collect();
    ids.sort_unstable();
    Err(format!(
        "tool calls {ids:?} must be answered by tool messages before messages[{i}]"
    ))
}
