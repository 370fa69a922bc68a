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

    assert_eq!(
        resp.step,
        ModelStep::Reply {
            text: "We open at 8 tomorrow.".to_owned()
        }
    );
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

    m.complete(&request(vec![user("hi")], vec![]))
        .await
        .expect("reply");

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
            calls: vec![ToolCallRequest {
                id: "call_abc".to_owned(),
                name: "find_appointments".to_owned(),
                arguments: json!({"from": "2025-06-01"}),
            }],
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
                ToolCallRequest {
                    id: "call_1".to_owned(),
                    name: "find_appointments".to_owned(),
                    arguments: json!({}),
                },
                ToolCallRequest {
                    id: "call_2".to_owned(),
                    name: "open_windows".to_owned(),
                    arguments: json!({"days": 7}),
                },
            ],
        },
        ChatMessage::Tool {
            call_id: "call_1".to_owned(),
            name: "find_appointments".to_owned(),
            content: r#"{"appointments":[]}"#.to_owned(),
        },
        ChatMessage::Tool {
            call_id: "call_2".to_owned(),
            name: "open_windows".to_owned(),
            content: r#"{"windows":["tue 08-12"]}"#.to_owned(),
        },
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
            {"role": "assistant", "content": null, "tool_calls": [
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

    let resp = m.complete(&request(vec![user("hi")], vec![])).await;

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

    let err = m
        .complete(&request(vec![user("hi")], vec![]))
        .await
        .expect_err("all attempts fail");

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
    let resp = m.complete(&request(vec![user("hi")], vec![])).await;

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

    let err = m
        .complete(&request(vec![user("hi")], vec![]))
        .await
        .expect_err("gives up");

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

    let err = m
        .complete(&request(vec![user("hi")], vec![]))
        .await
        .expect_err("400");

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

    let err = m
        .complete(&request(vec![user("hi")], vec![]))
        .await
        .expect_err("401");

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
    let err = m
        .complete(&request(vec![user("hi")], vec![]))
        .await
        .expect_err("timeout");

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

    let err = m
        .complete(&request(vec![user("hi")], vec![]))
        .await
        .expect_err("nothing listens");

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
            calls: vec![ToolCallRequest {
                id: "call_0".to_owned(),
                name: "find_appointments".to_owned(),
                arguments: json!({"from": "x"}),
            }],
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
            calls: vec![ToolCallRequest {
                id: "c".to_owned(),
                name: "f".to_owned(),
                arguments: json!({}),
            }],
        }
    );

    // Content as parts.
    let r = parse(answer(json!({"content": [
        {"type": "text", "text": "Hello "}, {"type": "text", "text": "there."}
    ]})))
    .expect("parts");
    assert_eq!(
        r.step,
        ModelStep::Reply {
            text: "Hello there.".to_owned()
        }
    );
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

    assert_eq!(
        (a.step, b.step),
        (
            ModelStep::Reply {
                text: "scripted".to_owned()
            },
            ModelStep::Reply {
                text: "2 messages".to_owned()
            }
        )
    );
    assert_eq!(server.pending(), 0);
}
