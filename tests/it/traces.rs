//! Traces over OTLP/HTTP, on the wire: with `otlp_endpoint` naming a loopback collector, a
//! real SMS turn arrives as protobuf `ExportTraceServiceRequest`s once the app stops (the
//! orderly shutdown flushes the batch): a `turn` span with the tenant and conversation ids,
//! channel and outcome, its model steps and tool calls beneath it, under the service name
//! `frontdesk` — and no attribute or event anywhere carries the message text or the
//! customer's phone number.

use std::time::Duration;

use crate::common::app::TestApp;
use crate::common::otlp::{Collector, ReceivedSpan};
use crate::common::twilio::{sid, sms_params, TwilioClient, DEMO_NUMBER, RACHEL_KIM};

/// What the customer writes: a question the built-in model answers, with words no
/// attribute may repeat.
const TEXT: &str = "how much is mosquito service for the back porch by the magnolia tree?";

/// Every text a span carries: attribute values, event names and event attribute values.
fn carried(span: &ReceivedSpan) -> Vec<String> {
    let mut out: Vec<String> = span.attributes.iter().map(|(_, v)| v.clone()).collect();
    for (name, attrs) in &span.events {
        out.push(name.clone());
        out.extend(attrs.iter().map(|(_, v)| v.clone()));
    }
    out
}

store_test!(
    current_thread fn an_sms_turn_is_exported_as_a_trace(db: &TestDb) {
        let collector = Collector::start().await;
        let app = TestApp::spawn_with(db, |raw| raw.otlp_endpoint = Some(collector.url())).await;
        let tenant = app.demo.demo;
        // This thread runs the test, the app and the collector: the app's spans go to its
        // exporter through this subscriber, and no other test's do.
        let subscriber = app.trace_subscriber().expect("the exporter is on");
        let traced = tracing::subscriber::set_default(subscriber);

        let twilio = TwilioClient::new(&app);
        let message_sid = sid("SM");
        let reply = twilio
            .post("/twilio/sms", &sms_params(&message_sid, RACHEL_KIM, DEMO_NUMBER, TEXT))
            .await;
        assert!(reply.is_twiml(), "{reply:?}");
        assert!(reply.message().contains('$'), "a price: {reply:?}");
        let conversation = db
            .scalar(&format!(
                "SELECT conversation_id FROM inbox WHERE external_id = '{message_sid}'"
            ))
            .await;
        let tool_calls = db
            .scalar(&format!(
                "SELECT COUNT(*) FROM tool_calls WHERE conversation_id = {conversation}"
            ))
            .await;

        // Orderly shutdown: the batch still held is exported before `stop` returns.
        app.stop().await;
        drop(traced);
        let turn = collector
            .wait_for_span(Duration::from_secs(30), |s| {
                s.name == "turn" && s.attr("conversation_id") == Some(&conversation.to_string())
            })
            .await
            .unwrap_or_else(|| {
                panic!(
                    "no turn span for conversation {conversation}; received {:?}, problems {:?}",
                    collector.spans(),
                    collector.problems()
                )
            });
        assert!(collector.problems().is_empty(), "{:?}", collector.problems());
        assert_eq!(turn.attr("tenant_id"), Some(tenant.0.to_string().as_str()));
        assert_eq!(turn.attr("channel"), Some("sms"));
        assert_eq!(turn.attr("outcome"), Some("replied"));
        assert!(turn.attr("inbox_id").is_some(), "{turn:?}");
        assert!(
            collector.services().iter().all(|s| s == "frontdesk") && !collector.services().is_empty(),
            "service names: {:?}",
            collector.services()
        );

        let spans = collector.spans();
        let children = |name: &str| -> Vec<&ReceivedSpan> {
            spans
                .iter()
                .filter(|s| s.name == name && s.parent_span_id == turn.span_id)
                .collect()
        };
        let steps = children("model_step");
        assert!(!steps.is_empty(), "model steps under the turn: {spans:?}");
        for step in &steps {
            assert_eq!(step.trace_id, turn.trace_id);
            assert_eq!(step.attr("model"), Some("builtin"), "{step:?}");
            assert_eq!(step.attr("result"), Some("ok"), "{step:?}");
        }
        let tools = children("tool_call");
        assert_eq!(
            tools.len() as i64,
            tool_calls,
            "one span per stored tool call: {tools:?}"
        );
        for tool in &tools {
            assert!(tool.attr("tool").is_some_and(|t| !t.is_empty()), "{tool:?}");
            assert!(tool.attr("decision").is_some_and(|d| !d.is_empty()), "{tool:?}");
        }

        // Ids, names and outcomes only: neither the message nor the number, in any form.
        let digits: String = RACHEL_KIM.chars().filter(char::is_ascii_digit).collect();
        let local = &digits[1..];
        let forbidden = [TEXT, "back porch", "magnolia", RACHEL_KIM, &digits, local];
        let mut everything: Vec<String> = spans.iter().flat_map(carried).collect();
        everything.extend(collector.resource_values());
        for value in &everything {
            for needle in forbidden {
                assert!(
                    !value.contains(needle),
                    "`{needle}` went out in a trace: `{value}`"
                );
            }
        }
    }
);

store_test!(
    fn without_an_endpoint_there_is_no_exporter(db: &TestDb) {
        let app = TestApp::spawn(db).await;
        assert!(
            app.trace_subscriber().is_none(),
            "no `otlp_endpoint`, no exporter"
        );
        app.stop().await;
    }
);
