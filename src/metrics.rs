//! Prometheus metrics, kept in-process and rendered as text for `GET /metrics`: HTTP
//! requests per application, and the process's domain metrics (`domain`, written through
//! `record`): turns by channel and outcome, turn and model latency, tokens, cost, fallbacks,
//! tool decisions by rule, escalations by reason, outbound sends. A small registry of labelled
//! counters and latency histograms is all the service needs; overdue escalations are counted
//! from the store when scraped.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Counters and histograms keyed by metric name and a rendered label set like
/// `route="/x",status="200"`. Label values come from closed sets (routes, channels, tools,
/// rules, reasons), never from what a client sends.
#[derive(Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<(&'static str, String), f64>>,
    histograms: Mutex<BTreeMap<(&'static str, String), Histogram>>,
}

/// The process's domain metrics (turns, model, tools, escalations, outbound), recorded where
/// the work happens and rendered after the HTTP metrics by `GET /metrics`.
pub fn domain() -> &'static Metrics {
    static DOMAIN: std::sync::LazyLock<Metrics> = std::sync::LazyLock::new(Metrics::default);
    &DOMAIN
}

impl Metrics {
    /// Add to a counter.
    pub fn incr(&self, name: &'static str, labels: String, by: u64) {
        // Counts stay far below 2^53, so the conversion is exact.
        self.add(name, labels, by as f64);
    }

    /// Add an amount (dollars, seconds) to a counter.
    pub fn add(&self, name: &'static str, labels: String, amount: f64) {
        if let Ok(mut c) = self.counters.lock() {
            *c.entry((name, labels)).or_default() += amount;
        }
    }

    /// One observation of a duration histogram.
    pub fn observe(&self, name: &'static str, labels: String, elapsed: Duration) {
        if let Ok(mut h) = self.histograms.lock() {
            let h = h.entry((name, labels)).or_default();
            let secs = elapsed.as_secs_f64();
            for (i, b) in BUCKETS.iter().enumerate() {
                if secs <= *b {
                    h.counts[i] += 1;
                }
            }
            h.count += 1;
            h.sum += secs;
        }
    }

    /// One served request. Labels stay bounded whatever clients send: `method` is one of the
    /// standard methods or `OTHER`, and `route` must be a route template (or `unmatched`),
    /// never a raw path.
    pub fn observe_http(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let method = method_label(method);
        let route = escape(route);
        self.incr(
            "frontdesk_http_requests_total",
            format!("method=\"{method}\",route=\"{route}\",status=\"{status}\""),
            1,
        );
        self.observe(
            "frontdesk_http_request_duration_seconds",
            format!("route=\"{route}\""),
            elapsed,
        );
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Ok(c) = self.counters.lock() {
            let mut last = "";
            for ((name, labels), v) in c.iter() {
                if *name != last {
                    let _ = writeln!(out, "# TYPE {name} counter");
                    last = name;
                }
                let _ = writeln!(out, "{name}{{{labels}}} {v}");
            }
        }
        if let Ok(h) = self.histograms.lock() {
            let mut last = "";
            for ((name, labels), h) in h.iter() {
                if *name != last {
                    let _ = writeln!(out, "# TYPE {name} histogram");
                    last = name;
                }
                let sep = if labels.is_empty() { "" } else { "," };
                for (i, b) in BUCKETS.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {}",
                        h.counts[i]
                    );
                }
                let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", h.count);
                let _ = writeln!(out, "{name}_sum{{{labels}}} {}", h.sum);
                let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.count);
            }
        }
        out
    }
}

/// What the domain records, one function per fact, so names and labels live in one place.
/// The same bounded labels are written on the current trace span when it has the field
/// (`turn`, `model_step`, `tool_call`: see `telemetry`), so a trace says what the metrics
/// say; a span without the field ignores it.
pub mod record {
    use std::time::Duration;

    use super::{domain, escape};

    /// A finished turn: `outcome` is `replied`, `escalated` or `silent` (a person owns the
    /// conversation).
    pub fn turn(channel: &str, outcome: &'static str, elapsed: Duration) {
        let span = tracing::Span::current();
        span.record("channel", channel);
        span.record("outcome", outcome);
        let channel = escape(channel);
        domain().incr(
            "frontdesk_turns_total",
            format!("channel=\"{channel}\",outcome=\"{outcome}\""),
            1,
        );
        domain().observe(
            "frontdesk_turn_duration_seconds",
            format!("channel=\"{channel}\""),
            elapsed,
        );
    }

    /// One model step: `outcome` is `ok`, `error` or `timeout`; tokens as the model reported
    /// them (prompt, completion); the cost in US dollars when the model has prices.
    pub fn model_step(
        model: &str,
        outcome: &'static str,
        elapsed: Duration,
        tokens: (u64, u64),
        cost_usd: Option<f64>,
    ) {
        let span = tracing::Span::current();
        span.record("model", model);
        span.record("result", outcome);
        span.record("prompt_tokens", tokens.0);
        span.record("completion_tokens", tokens.1);
        let model = escape(model);
        domain().incr(
            "frontdesk_model_requests_total",
            format!("model=\"{model}\",outcome=\"{outcome}\""),
            1,
        );
        domain().observe(
            "frontdesk_model_duration_seconds",
            format!("model=\"{model}\""),
            elapsed,
        );
        for (kind, n) in [("prompt", tokens.0), ("completion", tokens.1)] {
            if n > 0 {
                domain().incr(
                    "frontdesk_model_tokens_total",
                    format!("model=\"{model}\",kind=\"{kind}\""),
                    n,
                );
            }
        }
        if let Some(cost) = cost_usd.filter(|c| c.is_finite() && *c > 0.0) {
            domain().add(
                "frontdesk_model_cost_usd_total",
                format!("model=\"{model}\""),
                cost,
            );
        }
    }

    /// The built-in model answered instead of the configured one: `reason` is `error`,
    /// `timeout`, `no_budget` (the turn's budget was spent) or `unfinished` (the model did
    /// not finish within the step bound).
    pub fn fallback(reason: &'static str) {
        domain().incr(
            "frontdesk_model_fallbacks_total",
            format!("reason=\"{reason}\""),
            1,
        );
    }

    /// A tool call and the policy decision on it, by the rule that decided.
    pub fn tool(tool: &str, decision: &str, rule: &str) {
        let span = tracing::Span::current();
        span.record("tool", tool);
        span.record("decision", decision);
        span.record("rule", rule);
        domain().incr(
            "frontdesk_tool_calls_total",
            format!(
                "tool=\"{}\",decision=\"{}\",rule=\"{}\"",
                escape(tool),
                escape(decision),
                escape(rule)
            ),
            1,
        );
    }

    /// An escalation opened.
    pub fn escalation(reason: &str, priority: &str) {
        domain().incr(
            "frontdesk_escalations_total",
            format!(
                "reason=\"{}\",priority=\"{}\"",
                escape(reason),
                escape(priority)
            ),
            1,
        );
    }

    /// What became of an outbound message's send attempt, by channel (`sms`, `email`) and
    /// purpose: `result` is `sent`, `failed` (given up), `blocked` (opted out), `retried`
    /// (tried again later) or `deferred` (quiet hours).
    pub fn outbound(channel: &str, purpose: &str, result: &'static str) {
        domain().incr(
            "frontdesk_outbound_total",
            format!(
                "channel=\"{}\",purpose=\"{}\",result=\"{result}\"",
                escape(channel),
                escape(purpose)
            ),
            1,
        );
    }

    /// How long a write waited for SQLite's one writer (`store::WriterTurn`).
    pub fn store_writer_wait(elapsed: Duration) {
        domain().observe(
            "frontdesk_store_writer_wait_seconds",
            String::new(),
            elapsed,
        );
    }

    /// How long a write (a statement or a transaction) held SQLite's one writer.
    pub fn store_writer_held(elapsed: Duration) {
        domain().observe(
            "frontdesk_store_writer_held_seconds",
            String::new(),
            elapsed,
        );
    }
}

/// The standard methods keep their name; anything else a client invents is `OTHER`.
pub fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ];
    KNOWN
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("OTHER")
}

pub(crate) fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.observe_http("GET", "/healthz", 200, Duration::from_millis(3));
        m.observe_http("GET", "/healthz", 200, Duration::from_millis(300));
        let text = m.render();
        for want in [
            "frontdesk_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 2",
            "route=\"/healthz\",le=\"0.005\"} 1",
            "route=\"/healthz\",le=\"0.5\"} 2",
            "frontdesk_http_request_duration_seconds_count{route=\"/healthz\"} 2",
        ] {
            assert!(text.contains(want), "{want} missing from {text}");
        }
    }

    #[test]
    fn domain_facts_render_with_their_labels() {
        record::turn("sms", "replied", Duration::from_millis(4));
        record::tool("reschedule_appointment", "refused", "min_notice_hours");
        record::model_step("gpt-x", "timeout", Duration::from_secs(3), (120, 0), None);
        record::model_step(
            "gpt-y",
            "ok",
            Duration::from_millis(800),
            (1000, 100),
            Some(0.25),
        );
        record::outbound("sms", "page", "sent");
        let text = domain().render();
        for want in [
            "frontdesk_turns_total{channel=\"sms\",outcome=\"replied\"}",
            "frontdesk_turn_duration_seconds_bucket{channel=\"sms\",le=\"0.005\"}",
            "rule=\"min_notice_hours\"",
            "frontdesk_model_tokens_total{model=\"gpt-x\",kind=\"prompt\"}",
            "frontdesk_model_cost_usd_total{model=\"gpt-y\"} 0.25",
            "frontdesk_outbound_total{channel=\"sms\",purpose=\"page\",result=\"sent\"}",
        ] {
            assert!(text.contains(want), "{want} missing from {text}");
        }
        for unwanted in [
            "model=\"gpt-x\",kind=\"completion\"",
            "frontdesk_model_cost_usd_total{model=\"gpt-x\"}",
        ] {
            assert!(!text.contains(unwanted), "{unwanted} in {text}");
        }
    }

    #[test]
    fn finding_12_invented_methods_share_one_label() {
        let m = Metrics::default();
        for method in ["BREW", "get", "X-ANY", "PROPFIND"] {
            m.observe_http(method, "unmatched", 405, Duration::from_millis(1));
        }
        m.observe_http("PATCH", "/healthz", 405, Duration::from_millis(1));
        let text = m.render();
        assert!(
            text.contains("method=\"OTHER\",route=\"unmatched\",status=\"405\"} 4"),
            "{text}"
        );
        assert!(text.contains("method=\"PATCH\""), "{text}");
        assert!(
            !text.contains("BREW") && !text.contains("PROPFIND"),
            "{text}"
        );
    }
}
