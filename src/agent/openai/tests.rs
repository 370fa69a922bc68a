//! Tests of the chat-completions client against the loopback fake server, and of the
//! response parser, retry rules and fallback on their own.

use std::time::Instant;

use serde_json::json;

use super::fake::{check_chat_request, FakeChatServer, FakeResponse};
use super::*;
use crate::agent::model::TurnFacts;

const KEY: &str = "sk-test-not-a-real-key";

async fn server() -> FakeChatServer {
    FakeChatServer::start().await.expect("bind loopback")
}

fn config(server: &FakeChatServer) -> OpenAiConfig {
    OpenAiConfig {
        base_url: server.base_url(),
        model: "gpt-test".to_owned(),
        api_key: Some(Secret::new(KEY)),
        timeout: Duration::from_secs(5),
        max_retries: 2,
        temperature: Some(0.2),
        max_tokens: Some(300),
        price_per_1k_prompt_usd: Some(0.15),
        price_per_1k_completion_usd: Some(0.6),
    }
}

fn model(cfg: OpenAiConfig) -> OpenAiModel {
    OpenAiModel::new(cfg).expect("valid config")
}

fn lookup_tool() -> ToolSpec {
    ToolSpec {
        name: "find_appointments".to_owned(),
        description: "Upcoming appointments of the verified customer.".to_owned(),
        parameters: json!({
            "type": "object",
            "properties": {"from": {"type": "string"}},
            "required": [],
        }),
    }
}

fn request(messages: Vec<ChatMessage>, tools: Vec<ToolSpec>) -> ModelRequest {
    ModelRequest {
        system: "You are the front desk of Acme Pest.".to_owned(),
        messages,
        tools,
        facts: TurnFacts::default(),
    }
}

fn user(text: &str) -> ChatMessage {
    ChatMessage::User {
        content: text.to_owned(),
    }
}

/// One customer message, no tools.
async fn ask(m: &OpenAiModel, text: &str) -> Result<ModelResponse, ModelError> {
    m.complete(&request(vec![user(text)], vec![])).await
}

fn reply(text: &str) -> ModelStep {
    ModelStep::Reply {
        text: text.to_owned(),
    }
}

fn call(id: &str, name: &str, arguments: serde_json::Value) -> ToolCallRequest {
    ToolCallRequest {
        id: id.to_owned(),
        name: name.to_owned(),
        arguments,
    }
}

fn tool_result(call_id: &str, name: &str, content: &str) -> ChatMessage {
    ChatMessage::Tool {
        call_id: call_id.to_owned(),
        name: name.to_owned(),
        content: content.to_owned(),
    }
}

#[tokio::test]
async fn plain_reply_sends_the_wire_format_and_parses_usage() {
    let server = server().await;
    server.push(FakeResponse::reply("We open at 8 tomorrow.").with_usage(120, 9));
    let m = model(config(&server));

    let resp = m
        .complete(&request(
            vec![user("when do you open?")],
            vec![lookup_tool()],
        ))
        .await
        .expect("reply");

    assert_eq!(resp.step, reply("We open at 8 tomorrow."));
    assert_eq!(
        resp.usage,
        Usage {
            prompt_tokens: 120,
            completion_tokens: 9
        }
    );
    let cost = m.cost_usd(&resp.usage).expect("prices configured");
    assert!((cost - (0.12 * 0.15 + 0.009 * 0.6)).abs() < 1e-9);

    let seen = server.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].rejected, None);
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some(&*format!("Bearer {KEY}"))
    );
    let body = &seen[0].body;
    assert_eq!(body["model"], "gpt-test");
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": "You are the front desk of Acme Pest."},
            {"role": "user", "content": "when do you open?"},
        ])
    );
    assert_eq!(
        body["tools"],
        json!([{
            "type": "function",
            "function": {
                "name": "find_appointments",
                "description": "Upcoming appointments of the verified customer.",
                "parameters": {
                    "type": "object",
                    "properties": {"from": {"type": "string"}},
                    "required": [],
                },
            },
        }])
    );
    assert_eq!(body["tool_choice"], "auto");
    assert_eq!(body["max_tokens"], 300);
    let temperature = body["temperature"].as_f64().expect("temperature sent");
    assert!((temperature - 0.2).abs() < 1e-6);
}

#[tokio::test]
async fn without_key_or_tools_neither_is_sent() {
    let server = server().await;
    server.push(FakeResponse::reply("Hello!"));
    let m = model(OpenAiConfig {
        api_key: None,
        temperature: None,
        max_tokens: None,
        ..config(&server)
    });

    ask(&m, "hi").await.expect("reply");

    let seen = server.requests();
    assert_eq!(seen[0].authorization, None);
    let body = seen[0].body.as_object().expect("object body");
    for absent in ["tools", "tool_choice", "temperature", "max_tokens"] {
        assert!(!body.contains_key(absent), "{absent} should not be sent");
    }
}

#[tokio::test]
async fn tool_call_answer_becomes_tool_calls() {
    let server = server().await;
    server.push(FakeResponse::tool_calls(&[(
        "call_abc",
        "find_appointments",
        json!({"from": "2025-06-01"}),
    )]));
    let m = model(config(&server));

    let resp = m
        .complete(&request(
            vec![user("when is my visit?")],
            vec![lookup_tool()],
        ))
        .await
        .expect("tool calls");

    assert_eq!(
        resp.step,
        ModelStep::ToolCalls {
            text: None,
            calls: vec![call(
                "call_abc",
                "find_appointments",
                json!({"from": "2025-06-01"})
            )],
        }
    );
    // The fake filled in a usage estimate, which must have been read.
    assert!(resp.usage.prompt_tokens > 0);
}

#[tokio::test]
async fn multi_step_transcript_is_serialised_in_order() {
    let server = server().await;
    server.push(FakeResponse::reply("Moved to Tuesday 8–12."));
    let m = model(config(&server));
    let messages = vec![
        user("can you move my visit?"),
        ChatMessage::Assistant {
            content: None,
            tool_calls: vec![
                call("call_1", "find_appointments", json!({})),
                call("call_2", "open_windows", json!({"days": 7})),
            ],
        },
        tool_result("call_1", "find_appointments", r#"{"appointments":[]}"#),
        tool_result("call_2", "open_windows", r#"{"windows":["tue 08-12"]}"#),
        ChatMessage::Assistant {
            content: Some("Tuesday 8–12 is open. Shall I move it?".to_owned()),
            tool_calls: vec![],
        },
        user("yes"),
    ];

    m.complete(&request(messages, vec![lookup_tool()]))
        .await
        .expect("reply");

    let seen = server.requests();
    assert_eq!(seen[0].rejected, None);
    assert_eq!(
        seen[0].body["messages"],
        json!([
            {"role": "system", "content": "You are the front desk of Acme Pest."},
            {"role": "user", "content": "can you move my visit?"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "find_appointments", "arguments": "{}"}},
                {"id": "call_2", "type": "function",
                 "function": {"name": "open_windows", "arguments": "{\"days\":7}"}},
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "{\"appointments\":[]}"},
            {"role": "tool", "tool_call_id": "call_2", "content": "{\"windows\":[\"tue 08-12\"]}"},
            {"role": "assistant", "content": "Tuesday 8–12 is open. Shall I move it?"},
            {"role": "user", "content": "yes"},
        ])
    );
}

#[tokio::test]
async fn server_error_then_success_is_retried() {
    let server = server().await;
    server.push(FakeResponse::error(500, "overloaded"));
    server.push(FakeResponse::reply("ok"));
    let m = model(config(&server));

    let resp = ask(&m, "hi").await;

    assert!(resp.is_ok(), "{resp:?}");
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn server_errors_give_up_after_max_retries() {
    let server = server().await;
    server.push_n(5, FakeResponse::error(503, "down"));
    let m = model(OpenAiConfig {
        max_retries: 2,
        ..config(&server)
    });

    let err = ask(&m, "hi").await.expect_err("all attempts fail");

    assert!(
        matches!(err, ModelError::Status { status: 503, .. }),
        "{err:?}"
    );
    assert_eq!(server.hits(), 3);
}

#[tokio::test]
async fn too_many_requests_honours_retry_after() {
    let server = server().await;
    server.push(FakeResponse::error(429, "slow down").with_header("retry-after", "1"));
    server.push(FakeResponse::reply("ok"));
    let m = model(config(&server));

    let started = Instant::now();
    let resp = ask(&m, "hi").await;

    assert!(resp.is_ok(), "{resp:?}");
    assert_eq!(server.hits(), 2);
    assert!(started.elapsed() >= Duration::from_millis(950));
}

#[tokio::test]
async fn too_many_requests_with_a_long_retry_after_is_not_waited_for() {
    let server = server().await;
    server.push(FakeResponse::error(429, "slow down").with_header("retry-after", "60"));
    server.push(FakeResponse::reply("ok"));
    let m = model(config(&server));

    let err = ask(&m, "hi").await.expect_err("gives up");

    assert!(
        matches!(err, ModelError::Status { status: 429, .. }),
        "{err:?}"
    );
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn bad_request_is_not_retried() {
    let server = server().await;
    server.push(FakeResponse::error(400, "context too long"));
    server.push(FakeResponse::reply("never sent"));
    let m = model(config(&server));

    let err = ask(&m, "hi").await.expect_err("400");

    match &err {
        ModelError::Status { status, body } => {
            assert_eq!(*status, 400);
            assert!(body.contains("context too long"), "{body}");
        }
        other => panic!("expected Status, got {other:?}"),
    }
    assert_eq!(server.hits(), 1);
    assert!(!err.to_string().contains(KEY));
}

#[tokio::test]
async fn error_bodies_are_truncated() {
    let server = server().await;
    server.push(FakeResponse::raw(401, "x".repeat(5000)));
    let m = model(config(&server));

    let err = ask(&m, "hi").await.expect_err("401");

    match err {
        ModelError::Status { status: 401, body } => assert!(body.chars().count() <= 501),
        other => panic!("expected Status, got {other:?}"),
    }
}

#[tokio::test]
async fn slow_server_times_out() {
    let server = server().await;
    server.push_n(
        2,
        FakeResponse::reply("too late").with_delay(Duration::from_secs(3)),
    );
    let m = model(OpenAiConfig {
        timeout: Duration::from_millis(200),
        max_retries: 1,
        ..config(&server)
    });

    let started = Instant::now();
    let err = ask(&m, "hi").await.expect_err("timeout");

    assert!(matches!(err, ModelError::Timeout), "{err:?}");
    assert_eq!(server.hits(), 2);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn unreachable_endpoint_is_a_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let m = model(OpenAiConfig {
        base_url: format!("http://{addr}/v1"),
        max_retries: 1,
        ..OpenAiConfig::new("http://unused", "gpt-test")
    });

    let err = ask(&m, "hi").await.expect_err("nothing listens");

    assert!(matches!(err, ModelError::Transport(_)), "{err:?}");
}

#[tokio::test]
async fn malformed_arguments_are_malformed_and_not_retried() {
    let server = server().await;
    server.push(FakeResponse::completion(
        json!({"content": null, "tool_calls": [{
            "id": "call_1", "type": "function",
            "function": {"name": "find_appointments", "arguments": "{\"from\": "},
        }]}),
        "tool_calls",
    ));
    let m = model(config(&server));

    let err = m
        .complete(&request(vec![user("hi")], vec![lookup_tool()]))
        .await
        .expect_err("malformed");

    assert!(matches!(err, ModelError::Malformed(_)), "{err:?}");
    assert_eq!(server.hits(), 1);
}

#[test]
fn config_debug_hides_the_key() {
    let cfg = OpenAiConfig {
        api_key: Some(Secret::new(KEY)),
        ..OpenAiConfig::new("https://api.example.com/v1", "m")
    };
    assert!(!format!("{cfg:?}").contains(KEY));
}

#[test]
fn bad_configs_are_refused() {
    for cfg in [
        OpenAiConfig::new("not a url", "m"),
        OpenAiConfig::new("ftp://127.0.0.1/v1", "m"),
        OpenAiConfig::new("http://127.0.0.1/v1", " "),
        OpenAiConfig {
            timeout: Duration::ZERO,
            ..OpenAiConfig::new("http://127.0.0.1/v1", "m")
        },
    ] {
        assert!(OpenAiModel::new(cfg.clone()).is_err(), "{cfg:?}");
    }
    let m =
        OpenAiModel::new(OpenAiConfig::new("http://127.0.0.1:11434/v1/", "llama3")).expect("valid");
    assert_eq!(m.endpoint, "http://127.0.0.1:11434/v1/chat/completions");
}

fn parse(v: serde_json::Value) -> Result<ModelResponse, ModelError> {
    parse_response(v.to_string().as_bytes())
}

fn answer(message: serde_json::Value) -> serde_json::Value {
    json!({"choices": [{"message": message, "finish_reason": "stop"}]})
}

#[test]
fn parser_tolerates_what_servers_differ_in() {
    // Arguments as an object, no id, no usage.
    let r = parse(answer(json!({"tool_calls": [
        {"function": {"name": "find_appointments", "arguments": {"from": "x"}}}
    ]})))
    .expect("object arguments");
    assert_eq!(
        r.step,
        ModelStep::ToolCalls {
            text: None,
            calls: vec![call("call_0", "find_appointments", json!({"from": "x"}))],
        }
    );
    assert_eq!(r.usage, Usage::default());

    // Empty arguments string means no arguments; text beside calls is kept.
    let r = parse(answer(json!({"content": "One moment.", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": ""}}
    ]})))
    .expect("empty arguments");
    assert_eq!(
        r.step,
        ModelStep::ToolCalls {
            text: Some("One moment.".to_owned()),
            calls: vec![call("c", "f", json!({}))],
        }
    );

    // Content as parts.
    let r = parse(answer(json!({"content": [
        {"type": "text", "text": "Hello "}, {"type": "text", "text": "there."}
    ]})))
    .expect("parts");
    assert_eq!(r.step, reply("Hello there."));
}

#[test]
fn parser_caps_tool_calls_per_step() {
    let calls: Vec<_> = (0..12)
        .map(|i| {
            json!({"id": format!("c{i}"), "type": "function",
                        "function": {"name": "f", "arguments": "{}"}})
        })
        .collect();
    let r = parse(answer(json!({"content": null, "tool_calls": calls}))).expect("calls");
    match r.step {
        ModelStep::ToolCalls { calls, .. } => assert_eq!(calls.len(), MAX_TOOL_CALLS_PER_STEP),
        other => panic!("expected tool calls, got {other:?}"),
    }
}

#[test]
fn parser_rejects_answers_it_cannot_use() {
    let cases = [
        ("empty content", answer(json!({"content": ""}))),
        ("null content", answer(json!({"content": null}))),
        ("whitespace", answer(json!({"content": "  \n"}))),
        ("no choices", json!({"choices": []})),
        (
            "no message",
            json!({"choices": [{"finish_reason": "stop"}]}),
        ),
        ("error object", json!({"error": {"message": "quota"}})),
        (
            "arguments not an object",
            answer(
                json!({"tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "[1]"}}]}),
            ),
        ),
        (
            "tool call without a name",
            answer(json!({"tool_calls": [{"id": "c", "function": {"arguments": "{}"}}]})),
        ),
        ("content a number", answer(json!({"content": 7}))),
    ];
    for (what, body) in cases {
        let r = parse(body);
        assert!(matches!(r, Err(ModelError::Malformed(_))), "{what}: {r:?}");
    }
    assert!(matches!(
        parse_response(b"<html>gateway</html>"),
        Err(ModelError::Malformed(_))
    ));
}

#[test]
fn backoff_is_bounded_and_grows() {
    for n in 0..40 {
        let d = backoff(n);
        let full = BACKOFF_BASE
            .saturating_mul(1u32 << n.min(16))
            .min(BACKOFF_MAX);
        assert!(d >= full / 2 && d <= full, "retry {n}: {d:?}");
    }
    assert!(backoff(0) <= Duration::from_millis(250));
    assert!(backoff(10) >= Duration::from_secs(1));
}

#[test]
fn retry_after_headers() {
    let check = |name: &str, value: &str, expected: Option<RetryAfter>| {
        let mut h = HeaderMap::new();
        h.insert(
            reqwest::header::HeaderName::from_bytes(name.as_bytes()).expect("name"),
            value.parse().expect("value"),
        );
        assert_eq!(retry_after(&h), expected, "{name}: {value}");
    };
    check(
        "retry-after",
        "1",
        Some(RetryAfter::Within(Duration::from_secs(1))),
    );
    check(
        "retry-after",
        "5",
        Some(RetryAfter::Within(Duration::from_secs(5))),
    );
    check("retry-after", "6", Some(RetryAfter::TooLong));
    check("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT", None);
    check("retry-after", "-3", None);
    check(
        "retry-after-ms",
        "300",
        Some(RetryAfter::Within(Duration::from_millis(300))),
    );
    assert_eq!(retry_after(&HeaderMap::new()), None);
}

#[test]
fn excerpts_cut_on_char_boundaries() {
    assert_eq!(excerpt("  short  "), "short");
    let long = "é".repeat(600);
    let cut = excerpt(&long);
    assert_eq!(cut.chars().count(), BODY_EXCERPT_CHARS + 1);
    assert!(cut.ends_with('…'));
}

#[test]
fn loopback_hosts() {
    for (url, expected) in [
        ("http://127.0.0.1:8080/v1", true),
        ("http://localhost:11434/v1", true),
        ("http://[::1]:8000/v1", true),
        ("https://api.openai.com/v1", false),
        ("http://10.0.0.5/v1", false),
    ] {
        let u = reqwest::Url::parse(url).expect("url");
        assert_eq!(is_loopback(&u), expected, "{url}");
    }
}

#[test]
fn fake_server_rejects_what_openai_rejects() {
    let ok = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    assert_eq!(check_chat_request(&ok), Ok(()));
    let bad = [
        json!({"messages": [{"role": "user", "content": "hi"}]}),
        json!({"model": "m", "messages": []}),
        json!({"model": "m", "messages": [{"role": "tool", "tool_call_id": "x", "content": "r"}]}),
        json!({"model": "m", "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "user", "content": "unanswered call"},
        ]}),
        json!({"model": "m", "messages": [
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "f", "arguments": {}}}]},
            {"role": "tool", "tool_call_id": "a", "content": "r"},
        ]}),
        json!({"model": "m", "messages": [{"role": "assistant", "content": null}]}),
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": []}),
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "tool_choice": "auto"}),
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
               "tools": [{"type": "function", "function": {"name": "f"}}]}),
    ];
    for body in bad {
        assert!(check_chat_request(&body).is_err(), "{body}");
    }
}

#[tokio::test]
async fn fake_server_answers_from_its_responder_once_the_queue_is_empty() {
    let server = server().await;
    server.push(FakeResponse::reply("scripted"));
    server.respond_with(|body| {
        let n = body["messages"].as_array().map_or(0, Vec::len);
        FakeResponse::reply(&format!("{n} messages"))
    });
    let m = model(config(&server));
    let req = request(vec![user("hi")], vec![]);

    let a = m.complete(&req).await.expect("scripted");
    let b = m.complete(&req).await.expect("responder");

    assert_eq!((a.step, b.step), (reply("scripted"), reply("2 messages")));
    assert_eq!(server.pending(), 0);
}

fn tool_step_transcript() -> Vec<ChatMessage> {
    vec![
        user("when is my visit?"),
        ChatMessage::Assistant {
            content: None,
            tool_calls: vec![call("call_1", "find_appointments", json!({}))],
        },
        tool_result("call_1", "find_appointments", r#"{"appointments":[]}"#),
    ]
}

#[tokio::test]
async fn a_tool_call_step_is_sent_with_empty_string_content_that_llama_cpp_accepts() {
    let server = server().await;
    server.reject_null_content();
    server.push(FakeResponse::reply("You have no upcoming visits."));
    let m = model(config(&server));

    let resp = m
        .complete(&request(tool_step_transcript(), vec![lookup_tool()]))
        .await
        .expect("accepted");

    assert_eq!(resp.step, reply("You have no upcoming visits."));
    let seen = server.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].rejected, None);
    let assistant = &seen[0].body["messages"][2];
    assert_eq!(assistant["role"], "assistant");
    assert_eq!(assistant["content"], json!(""));
    assert_eq!(
        assistant["tool_calls"][0]["function"]["name"],
        "find_appointments"
    );
}

#[tokio::test]
async fn a_server_error_that_rejects_the_request_is_not_retried() {
    let server = server().await;
    server.push(FakeResponse::json(500, super::fake::null_content_error()));
    server.push(FakeResponse::json(
        500,
        json!({"error": {"message": "1 validation error for CreateChatCompletionRequest", "type": "internal_server_error"}}),
    ));
    server.push(FakeResponse::reply("never sent"));
    let m = model(config(&server));

    for _ in 0..2 {
        let err = ask(&m, "hi").await.expect_err("500");
        assert!(
            matches!(err, ModelError::Status { status: 500, .. }),
            "{err:?}"
        );
    }
    // One attempt each: neither was retried.
    assert_eq!(server.hits(), 2);
    assert_eq!(server.pending(), 1);
}

#[tokio::test]
async fn unprocessable_and_not_implemented_are_not_retried() {
    let server = server().await;
    server.push(FakeResponse::error(
        422,
        "messages.2.content: field required",
    ));
    server.push(FakeResponse::error(501, "tools are not supported"));
    server.push(FakeResponse::reply("never sent"));
    let m = model(config(&server));

    for status in [422, 501] {
        let err = ask(&m, "hi").await.expect_err("refused");
        assert!(
            matches!(err, ModelError::Status { status: s, .. } if s == status),
            "{err:?}"
        );
    }
    assert_eq!(server.hits(), 2);
}

#[test]
fn retry_rules_take_only_what_can_succeed() {
    let overloaded = r#"{"error":{"message":"overloaded","type":"server_error"}}"#;
    assert!(is_retryable(StatusCode::INTERNAL_SERVER_ERROR, overloaded));
    assert!(is_retryable(
        StatusCode::BAD_GATEWAY,
        "<html>bad gateway</html>"
    ));
    assert!(is_retryable(StatusCode::SERVICE_UNAVAILABLE, ""));
    assert!(is_retryable(StatusCode::TOO_MANY_REQUESTS, ""));
    assert!(is_retryable(StatusCode::REQUEST_TIMEOUT, ""));
    assert!(!is_retryable(StatusCode::BAD_REQUEST, overloaded));
    assert!(!is_retryable(StatusCode::UNAUTHORIZED, ""));
    assert!(!is_retryable(StatusCode::UNPROCESSABLE_ENTITY, ""));
    assert!(!is_retryable(StatusCode::NOT_IMPLEMENTED, ""));
    assert!(!is_retryable(
        StatusCode::INTERNAL_SERVER_ERROR,
        &super::fake::null_content_error().to_string()
    ));
    assert!(!is_retryable(
        StatusCode::INTERNAL_SERVER_ERROR,
        r#"{"error":{"message":"Invalid value","type":"invalid_request_error"}}"#
    ));
}

#[tokio::test]
async fn a_reply_that_is_tool_call_syntax_is_malformed_and_not_retried() {
    let server = server().await;
    server.push(FakeResponse::reply("functions.escalate:"));
    server.push(FakeResponse::reply(
        "<tool_call>\n{\"name\": \"reschedule_appointment\", \"arguments\": {}}\n</tool_call>",
    ));
    server.push(FakeResponse::reply("never sent"));
    let m = model(config(&server));

    for _ in 0..2 {
        let err = m
            .complete(&request(vec![user("move my visit")], vec![lookup_tool()]))
            .await
            .expect_err("malformed");
        assert!(
            matches!(&err, ModelError::Malformed(m) if m.contains("tool-call syntax")),
            "{err:?}"
        );
    }
    assert_eq!(server.hits(), 2);
}

// ---------------------------------------------------------------------------------------
// Cassettes

fn cassette_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cassettes")
}

fn cassettes() -> Vec<(String, super::cassette::Cassette)> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(cassette_dir()).expect("tests/cassettes");
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().and_then(|x| x.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("cassette");
        let c =
            serde_json::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        out.push((path.display().to_string(), c));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// `expected` is part of `sent`: its keys with equal (contained) values; arrays of the same
/// length, element by element. Documented cassettes give the parts of the request their
/// server cares about; recorded ones are compared whole.
fn json_contains(sent: &serde_json::Value, expected: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (sent, expected) {
        (Value::Object(s), Value::Object(e)) => e
            .iter()
            .all(|(k, v)| s.get(k).is_some_and(|sv| json_contains(sv, v))),
        (Value::Array(s), Value::Array(e)) => {
            s.len() == e.len() && s.iter().zip(e).all(|(a, b)| json_contains(a, b))
        }
        (a, b) => a == b,
    }
}

/// Every exchange of every cassette, replayed: the fake answers what the real server
/// answered, the request this client sends must be the recorded one, and the client must
/// make of the answer what `expect` says.
#[tokio::test]
async fn cassettes_replay_with_request_bodies_checked() {
    let all = cassettes();
    assert!(!all.is_empty(), "no cassettes in tests/cassettes");
    let requests = super::cassette::requests();
    let mut replayed = 0;
    for (file, c) in &all {
        assert!(
            c.source == "recorded" || c.source == "documented",
            "{file}: source must say where the exchanges come from"
        );
        for x in &c.exchanges {
            let server = server().await;
            server.push(FakeResponse::json(x.status, x.response.clone()));
            server.push(FakeResponse::reply(
                "a retry the client should not have sent",
            ));
            let cfg = OpenAiConfig {
                api_key: None,
                temperature: c.temperature,
                max_tokens: c.max_tokens,
                max_retries: 2,
                ..OpenAiConfig::new(server.base_url(), c.model.clone())
            };
            let m = model(cfg);
            let name = x.name.strip_prefix("raw:").unwrap_or(&x.name);
            let (_, request) = requests
                .iter()
                .find(|(n, _)| *n == name)
                .unwrap_or_else(|| panic!("{file}: no request called {name}"));
            let got = m.complete(request).await;
            let sent = server.requests();
            if x.name.starts_with("raw:") {
                // Sent as-is when recorded; this client sends its own shape instead.
            } else if c.source == "recorded" {
                assert_eq!(
                    sent[0].body, x.request,
                    "{file} {}: the request differs from the recorded one",
                    x.name
                );
            } else {
                assert!(
                    json_contains(&sent[0].body, &x.request),
                    "{file} {}: the request lacks {}; sent {}",
                    x.name,
                    x.request,
                    sent[0].body
                );
            }
            let what = match &got {
                Ok(r) => match &r.step {
                    ModelStep::Reply { .. } => "reply".to_string(),
                    ModelStep::ToolCalls { calls, .. } => format!("tool_calls:{}", calls[0].name),
                },
                Err(ModelError::Malformed(_)) => "malformed".to_string(),
                Err(ModelError::Status { .. }) if sent.len() == 1 => "final_error".to_string(),
                Err(e) => format!("error after {} attempts: {e}", sent.len()),
            };
            assert_eq!(what, x.expect, "{file} {}: {got:?}", x.name);
            replayed += 1;
        }
    }
    assert!(replayed >= 4, "{replayed} exchanges replayed");
}

/// Records `tests/cassettes/<FRONTDESK_RECORD_NAME>.json` from a real server at
/// `FRONTDESK_RECORD_BASE_URL` (e.g. llama-cpp-python's server on loopback). `expect` is
/// left empty to be written by hand. Run with `--ignored`.
#[tokio::test]
#[ignore = "needs a real chat-completions server"]
async fn record_cassette_from_a_real_server() {
    let base = std::env::var("FRONTDESK_RECORD_BASE_URL").expect("FRONTDESK_RECORD_BASE_URL");
    let name = std::env::var("FRONTDESK_RECORD_NAME").expect("FRONTDESK_RECORD_NAME");
    let server_name = std::env::var("FRONTDESK_RECORD_SERVER").unwrap_or_default();
    let cfg = OpenAiConfig {
        max_tokens: Some(160),
        ..OpenAiConfig::new(base.clone(), "local")
    };
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(600))
        .build()
        .expect("client");
    let mut exchanges = Vec::new();
    for (n, request) in super::cassette::requests() {
        let mut bodies = vec![(
            n.to_string(),
            serde_json::to_value(wire_request(&cfg, &request)).expect("body"),
        )];
        if n == "after_a_tool_call" {
            // The shape this client no longer sends, to record how the server treats it.
            let mut raw = bodies[0].1.clone();
            raw["messages"][2]["content"] = serde_json::Value::Null;
            bodies.push((format!("raw:{n}"), raw));
        }
        for (label, body) in bodies {
            let resp = http
                .post(format!("{}/chat/completions", base.trim_end_matches('/')))
                .json(&body)
                .send()
                .await
                .expect("the server answers");
            let status = resp.status().as_u16();
            let text = resp.text().await.expect("body");
            let response = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
            exchanges.push(super::cassette::Exchange {
                name: label,
                request: body,
                status,
                response,
                expect: String::new(),
            });
        }
    }
    let c = super::cassette::Cassette {
        server: server_name,
        source: "recorded".into(),
        note: String::new(),
        model: cfg.model.clone(),
        temperature: cfg.temperature,
        max_tokens: cfg.max_tokens,
        exchanges,
    };
    let path = cassette_dir().join(format!("{name}.json"));
    std::fs::create_dir_all(cassette_dir()).expect("dir");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&c).expect("json") + "\n",
    )
    .expect("write");
}
