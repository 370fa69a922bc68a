//! Prometheus metrics, kept in-process and rendered as text for `GET /metrics`. A small
//! registry of labelled counters and latency histograms is all the service needs.

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

#[derive(Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<(String, String), u64>>,
    http: Mutex<BTreeMap<String, Histogram>>,
}

impl Metrics {
    /// Add to a counter: `name` plus a rendered label set like `route="/x",status="200"`.
    pub fn incr(&self, name: &str, labels: String, by: u64) {
        if let Ok(mut c) = self.counters.lock() {
            *c.entry((name.to_string(), labels)).or_default() += by;
        }
    }

    /// One served request. Labels stay bounded whatever clients send: `method` is one of the
    /// standard methods or `OTHER`, and `route` must be a route template (or `unmatched`),
    /// never a raw path.
    pub fn observe_http(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let method = method_label(method);
        self.incr(
            "frontdesk_http_requests_total",
            format!(
                "method=\"{method}\",route=\"{}\",status=\"{status}\"",
                escape(route)
            ),
            1,
        );
        if let Ok(mut h) = self.http.lock() {
            let h = h.entry(route.to_string()).or_default();
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

    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Ok(c) = self.counters.lock() {
            let mut last = "";
            for ((name, labels), v) in c.iter() {
                if name != last {
                    let _ = writeln!(out, "# TYPE {name} counter");
                    last = name;
                }
                let _ = writeln!(out, "{name}{{{labels}}} {v}");
            }
        }
        if let Ok(h) = self.http.lock() {
            let _ = writeln!(
                out,
                "# TYPE frontdesk_http_request_duration_seconds histogram"
            );
            for (route, h) in h.iter() {
                let route = escape(route);
                for (i, b) in BUCKETS.iter().enumerate() {
                    let _ = writeln!(out, "frontdesk_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{b}\"}} {}", h.counts[i]);
                }
                let _ = writeln!(out, "frontdesk_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}", h.count);
                let _ = writeln!(
                    out,
                    "frontdesk_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                    h.sum
                );
                let _ = writeln!(
                    out,
                    "frontdesk_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                    h.count
                );
            }
        }
        out
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

fn escape(s: &str) -> String {
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
        assert!(
            text.contains(
                "frontdesk_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains("route=\"/healthz\",le=\"0.005\"} 1"),
            "{text}"
        );
        assert!(text.contains("route=\"/healthz\",le=\"0.5\"} 2"), "{text}");
        assert!(
            text.contains("frontdesk_http_request_duration_seconds_count{route=\"/healthz\"} 2"),
            "{text}"
        );
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
