//! Any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama, llama.cpp server)
//! as a [`Model`], spoken directly over HTTP: the request and response types below are the
//! wire format, nothing more. Transient failures (connect errors, timeouts, 408, 429, 5xx)
//! are retried with bounded, jittered backoff; everything else maps onto [`ModelError`]
//! without secrets.

/// Compiled for this crate's tests and, through the `test-support` feature, for the
/// integration tests; never part of a release build.
#[cfg(any(test, feature = "test-support"))]
pub mod fake;

/// Recorded exchanges with real servers, replayed in tests.
#[cfg(any(test, feature = "test-support"))]
pub mod cassette;

#[cfg(test)]
mod tests;

use std::net::IpAddr;
use std::time::Duration;

use reqwest::header::{HeaderMap, AUTHORIZATION, RETRY_AFTER};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::agent::model::{
    is_tool_call_syntax, ChatMessage, Model, ModelError, ModelFuture, ModelRequest, ModelResponse,
    ModelStep, ToolCallRequest, ToolSpec, Usage,
};
use crate::config::Secret;

/// At most this many tool calls are taken from one model answer; the rest are dropped.
pub const MAX_TOOL_CALLS_PER_STEP: usize = 8;
/// First retry waits about this long; each further retry doubles it.
const BACKOFF_BASE: Duration = Duration::from_millis(250);
/// No single backoff wait is longer than this.
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// A `Retry-After` longer than this is not waited for: the attempt fails instead, so a
/// fallback can answer while the customer is still there.
const RETRY_AFTER_MAX: Duration = Duration::from_secs(5);
/// Error bodies and malformed answers are cut to this many characters in error messages.
const BODY_EXCERPT_CHARS: usize = 500;

/// How to reach one chat-completions endpoint.
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// Up to and including the version segment, e.g. `https://api.openai.com/v1` or
    /// `http://127.0.0.1:11434/v1`; `/chat/completions` is appended.
    pub base_url: String,
    pub model: String,
    /// Sent as `Authorization: Bearer …` when set; local servers usually need none.
    pub api_key: Option<Secret>,
    /// Per attempt, from connecting until the whole answer has arrived.
    pub timeout: Duration,
    /// Further attempts after the first on transient failures.
    pub max_retries: u32,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
    /// For cost reports only.
    pub price_per_1k_prompt_usd: Option<f64>,
    pub price_per_1k_completion_usd: Option<f64>,
}

impl OpenAiConfig {
    /// A config with conservative defaults: 20 s timeout, 2 retries, temperature 0.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        OpenAiConfig {
            base_url: base_url.into(),
            model: model.into(),
            api_key: None,
            timeout: Duration::from_secs(20),
            max_retries: 2,
            temperature: Some(0.0),
            max_tokens: None,
            price_per_1k_prompt_usd: None,
            price_per_1k_completion_usd: None,
        }
    }
}

/// A chat-completions endpoint as a [`Model`].
#[derive(Debug)]
pub struct OpenAiModel {
    cfg: OpenAiConfig,
    endpoint: String,
    http: reqwest::Client,
}

impl OpenAiModel {
    pub fn new(mut cfg: OpenAiConfig) -> Result<Self, ModelError> {
        let base = cfg.base_url.trim().trim_end_matches('/').to_owned();
        let url = reqwest::Url::parse(&base)
            .map_err(|e| ModelError::Transport(format!("invalid model base_url: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ModelError::Transport(
                "model base_url must be http or https".to_owned(),
            ));
        }
        if cfg.model.trim().is_empty() {
            return Err(ModelError::Transport("model name is empty".to_owned()));
        }
        if cfg.timeout.is_zero() {
            return Err(ModelError::Transport("model timeout is zero".to_owned()));
        }
        let mut builder = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout.min(Duration::from_secs(5)));
        // A model on this machine is never reached through a proxy.
        if is_loopback(&url) {
            builder = builder.no_proxy();
        }
        let http = builder
            .build()
            .map_err(|e| ModelError::Transport(format!("cannot build HTTP client: {e}")))?;
        cfg.base_url = base;
        let endpoint = format!("{}/chat/completions", cfg.base_url);
        Ok(OpenAiModel {
            cfg,
            endpoint,
            http,
        })
    }

    pub fn config(&self) -> &OpenAiConfig {
        &self.cfg
    }

    async fn call(&self, request: &ModelRequest) -> Result<ModelResponse, ModelError> {
        let body = wire_request(&self.cfg, request);
        let attempts = self.cfg.max_retries.saturating_add(1);
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let (err, wait) = match self.attempt(&body).await {
                Ok(resp) => return Ok(resp),
                Err(Failure::Final(e)) => return Err(e),
                Err(Failure::Transient(e, retry_after)) => (e, retry_after),
            };
            if attempt >= attempts {
                return Err(err);
            }
            let wait = match wait {
                Some(RetryAfter::Within(d)) => d,
                Some(RetryAfter::TooLong) => return Err(err),
                None => backoff(attempt - 1),
            };
            tracing::warn!(
                model = %self.cfg.model,
                attempt,
                error = %err,
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "model call failed, retrying"
            );
            tokio::time::sleep(wait).await;
        }
    }

    async fn attempt(&self, body: &WireRequest<'_>) -> Result<ModelResponse, Failure> {
        let mut req = self.http.post(&self.endpoint).json(body);
        if let Some(key) = &self.cfg.api_key {
            req = req.header(AUTHORIZATION, format!("Bearer {}", key.expose()));
        }
        let resp = req.send().await.map_err(transport_failure)?;
        let status = resp.status();
        let retry_after = retry_after(resp.headers());
        let bytes = resp.bytes().await.map_err(transport_failure)?;
        if !status.is_success() {
            let body = String::from_utf8_lossy(&bytes);
            let err = ModelError::Status {
                status: status.as_u16(),
                body: excerpt(&body),
            };
            return Err(if is_retryable(status, &body) {
                let wait = if status == StatusCode::TOO_MANY_REQUESTS {
                    retry_after
                } else {
                    None
                };
                Failure::Transient(err, wait)
            } else {
                Failure::Final(err)
            });
        }
        parse_response(&bytes).map_err(Failure::Final)
    }
}

impl Model for OpenAiModel {
    fn name(&self) -> String {
        format!("openai:{}", self.cfg.model)
    }

    fn complete<'a>(&'a self, request: &'a ModelRequest) -> ModelFuture<'a> {
        Box::pin(self.call(request))
    }

    /// What `usage` cost at the configured prices; `None` when no price is configured.
    fn cost_usd(&self, usage: &Usage) -> Option<f64> {
        let (p, c) = (
            self.cfg.price_per_1k_prompt_usd,
            self.cfg.price_per_1k_completion_usd,
        );
        if p.is_none() && c.is_none() {
            return None;
        }
        // Token counts stay far below 2^53, so the conversions are exact.
        let prompt = usage.prompt_tokens as f64 / 1000.0 * p.unwrap_or(0.0);
        let completion = usage.completion_tokens as f64 / 1000.0 * c.unwrap_or(0.0);
        Some(prompt + completion)
    }
}

// ---------------------------------------------------------------------------------------
// Retries

enum Failure {
    /// Worth another attempt; with the server's own wait when it gave one.
    Transient(ModelError, Option<RetryAfter>),
    Final(ModelError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RetryAfter {
    Within(Duration),
    TooLong,
}

/// Only what another attempt can change: a timeout, rate limiting, or a server error that is
/// not about the request itself. Any other 4xx, a 501, and a 5xx whose body says the request
/// was invalid (servers built on validation libraries or prompt templates answer 500 to
/// input they cannot render) fail the same way every time.
fn is_retryable(status: StatusCode, body: &str) -> bool {
    if status == StatusCode::REQUEST_TIMEOUT || status == StatusCode::TOO_MANY_REQUESTS {
        return true;
    }
    status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED && !rejects_request(body)
}

/// Error-body phrases that say the request is invalid, not that the server is unwell.
const REQUEST_REJECTED: &[&str] = &[
    "invalid_request_error",
    "validation error",
    "validationerror",
    "unprocessable",
    "typeerror",
    "templateerror",
    "undefinederror",
    "can only concatenate",
    "nonetype",
    "input should be",
    "field required",
    "must be a string",
    "type must be",
    "type_error",
    "failed to parse",
];

fn rejects_request(body: &str) -> bool {
    let lower = body.to_lowercase();
    REQUEST_REJECTED.iter().any(|p| lower.contains(p))
}

fn transport_failure(e: reqwest::Error) -> Failure {
    if e.is_timeout() {
        return Failure::Transient(ModelError::Timeout, None);
    }
    // The URL may carry credentials (query keys); never print it.
    let e = e.without_url();
    let msg = if e.is_connect() {
        format!("cannot connect: {e}")
    } else {
        e.to_string()
    };
    if e.is_builder() {
        Failure::Final(ModelError::Transport(msg))
    } else {
        Failure::Transient(ModelError::Transport(msg), None)
    }
}

/// `Retry-After` in seconds, or OpenAI's `retry-after-ms`. HTTP dates are ignored (backoff).
fn retry_after(headers: &HeaderMap) -> Option<RetryAfter> {
    let header = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    let wait = header("retry-after-ms")
        .map(|ms| Duration::from_secs_f64(ms / 1000.0))
        .or_else(|| header(RETRY_AFTER.as_str()).map(Duration::from_secs_f64))?;
    Some(if wait <= RETRY_AFTER_MAX {
        RetryAfter::Within(wait)
    } else {
        RetryAfter::TooLong
    })
}

/// Wait before retry number `n` (0-based): `BACKOFF_BASE · 2^n`, capped at `BACKOFF_MAX`,
/// then a random point in its upper half so clients that failed together spread out.
fn backoff(n: u32) -> Duration {
    let full = BACKOFF_BASE
        .saturating_mul(1u32.checked_shl(n.min(16)).unwrap_or(u32::MAX))
        .min(BACKOFF_MAX);
    let half = full / 2;
    let jitter = getrandom::u32().unwrap_or(0) % 1001;
    half + half.mul_f64(f64::from(jitter) / 1000.0)
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn excerpt(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(BODY_EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------
// Wire format: request

#[derive(Debug, Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
}

#[derive(Debug, Serialize)]
#[serde(tag = "role", rename_all = "snake_case")]
enum WireMessage<'a> {
    System {
        content: &'a str,
    },
    User {
        content: &'a str,
    },
    Assistant {
        /// Always a string, `""` when the message only carries tool calls. OpenAI documents
        /// `content` as "required unless tool_calls is specified" and accepts `null` or a
        /// string there; vLLM and Ollama take either; llama.cpp's servers (llama-server and
        /// llama-cpp-python's chat formats) render the content into the prompt template and
        /// answer 500 to `null`. The empty string is the one shape all four accept.
        content: &'a str,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<WireToolCall<'a>>,
    },
    Tool {
        tool_call_id: &'a str,
        content: &'a str,
    },
}

#[derive(Debug, Serialize)]
struct WireToolCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireFunctionCall<'a>,
}

#[derive(Debug, Serialize)]
struct WireFunctionCall<'a> {
    name: &'a str,
    /// The arguments object, serialised to a JSON string as the API expects.
    arguments: String,
}

#[derive(Debug, Serialize)]
struct WireTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: &'a ToolSpec,
}

fn wire_request<'a>(cfg: &'a OpenAiConfig, request: &'a ModelRequest) -> WireRequest<'a> {
    let mut messages = Vec::with_capacity(request.messages.len() + 1);
    messages.push(WireMessage::System {
        content: &request.system,
    });
    for m in &request.messages {
        messages.push(match m {
            ChatMessage::User { content } => WireMessage::User { content },
            ChatMessage::Assistant {
                content,
                tool_calls,
            } => WireMessage::Assistant {
                content: content.as_deref().unwrap_or(""),
                tool_calls: tool_calls
                    .iter()
                    .map(|c| WireToolCall {
                        id: &c.id,
                        kind: "function",
                        function: WireFunctionCall {
                            name: &c.name,
                            arguments: c.arguments.to_string(),
                        },
                    })
                    .collect(),
            },
            ChatMessage::Tool {
                call_id, content, ..
            } => WireMessage::Tool {
                tool_call_id: call_id,
                content,
            },
        });
    }
    let tools: Vec<WireTool<'a>> = request
        .tools
        .iter()
        .map(|t| WireTool {
            kind: "function",
            function: t,
        })
        .collect();
    WireRequest {
        model: &cfg.model,
        messages,
        tool_choice: (!tools.is_empty()).then_some("auto"),
        tools,
        temperature: cfg.temperature,
        max_tokens: cfg.max_tokens,
    }
}

// ---------------------------------------------------------------------------------------
// Wire format: response (lenient: servers differ in what they leave out)

#[derive(Debug, Deserialize)]
struct WireResponse {
    #[serde(default)]
    choices: Vec<WireChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct WireChoice {
    #[serde(default)]
    message: Option<WireAnswer>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WireAnswer {
    /// A string, `null`, or (some servers) an array of `{type: "text", text}` parts.
    #[serde(default)]
    content: Option<Value>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<WireToolCallIn>>,
}

#[derive(Debug, Deserialize)]
struct WireToolCallIn {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<WireFunctionIn>,
}

#[derive(Debug, Deserialize)]
struct WireFunctionIn {
    #[serde(default)]
    name: Option<String>,
    /// Normally a JSON string; some servers send the object itself.
    #[serde(default)]
    arguments: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
}

fn parse_response(bytes: &[u8]) -> Result<ModelResponse, ModelError> {
    let malformed = |what: &str| ModelError::Malformed(what.to_owned());
    let wire: WireResponse = serde_json::from_slice(bytes).map_err(|e| {
        ModelError::Malformed(format!(
            "answer is not a chat completion ({e}): {}",
            excerpt(&String::from_utf8_lossy(bytes))
        ))
    })?;
    if let Some(err) = wire.error {
        return Err(ModelError::Malformed(format!(
            "answer carries an error: {}",
            excerpt(&err.to_string())
        )));
    }
    let usage = wire.usage.unwrap_or_default();
    let usage = Usage {
        prompt_tokens: usage.prompt_tokens.unwrap_or(0),
        completion_tokens: usage.completion_tokens.unwrap_or(0),
    };
    let choice = wire
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| malformed("answer has no choices"))?;
    let finish = choice.finish_reason.unwrap_or_default();
    let message = choice
        .message
        .ok_or_else(|| malformed("answer has no message"))?;

    let text = content_text(message.content.as_ref())?
        .or(message.refusal)
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());

    let wire_calls = message.tool_calls.unwrap_or_default();
    if wire_calls.len() > MAX_TOOL_CALLS_PER_STEP {
        tracing::warn!(
            asked = wire_calls.len(),
            kept = MAX_TOOL_CALLS_PER_STEP,
            "model asked for too many tool calls in one step; keeping the first ones"
        );
    }
    let calls = wire_calls
        .into_iter()
        .take(MAX_TOOL_CALLS_PER_STEP)
        .enumerate()
        .map(|(i, c)| tool_call(i, c))
        .collect::<Result<Vec<_>, _>>()?;

    let step = if !calls.is_empty() {
        ModelStep::ToolCalls { text, calls }
    } else if let Some(text) = text {
        // Small models often write the call instead of making it; such text is never
        // something to say to a customer (on a call it would be read aloud).
        if is_tool_call_syntax(&text) {
            return Err(ModelError::Malformed(format!(
                "reply is tool-call syntax, not a message: {}",
                excerpt(&text)
            )));
        }
        ModelStep::Reply { text }
    } else {
        return Err(ModelError::Malformed(format!(
            "answer has neither text nor tool calls (finish_reason {finish:?})"
        )));
    };
    Ok(ModelResponse { step, usage })
}

fn content_text(content: Option<&Value>) -> Result<Option<String>, ModelError> {
    match content {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Array(parts)) => {
            let text: String = parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect();
            Ok(Some(text))
        }
        Some(other) => Err(ModelError::Malformed(format!(
            "message content is neither text nor parts: {}",
            excerpt(&other.to_string())
        ))),
    }
}

fn tool_call(index: usize, call: WireToolCallIn) -> Result<ToolCallRequest, ModelError> {
    let function = call
        .function
        .ok_or_else(|| ModelError::Malformed(format!("tool call {index} has no function")))?;
    let name = function
        .name
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ModelError::Malformed(format!("tool call {index} has no name")))?;
    let arguments = match function.arguments {
        None | Some(Value::Null) => Value::Object(Default::default()),
        Some(Value::String(s)) if s.trim().is_empty() => Value::Object(Default::default()),
        Some(Value::String(s)) => serde_json::from_str(&s).map_err(|e| {
            ModelError::Malformed(format!(
                "arguments of tool call {name} are not JSON ({e}): {}",
                excerpt(&s)
            ))
        })?,
        Some(v) => v,
    };
    if !arguments.is_object() {
        return Err(ModelError::Malformed(format!(
            "arguments of tool call {name} are not an object: {}",
            excerpt(&arguments.to_string())
        )));
    }
    let id = call
        .id
        .filter(|id| !id.trim().is_empty())
        .unwrap_or_else(|| format!("call_{index}"));
    Ok(ToolCallRequest {
        id,
        name,
        arguments,
    })
}
