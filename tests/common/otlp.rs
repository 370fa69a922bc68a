//! An OTLP/HTTP trace collector on loopback: `POST /v1/traces` with an
//! `application/x-protobuf` body, decoded as the `ExportTraceServiceRequest` of the
//! OpenTelemetry protocol and kept; anything else is refused and noted. Spans are flattened
//! with their attributes as text, for assertions.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use prost::Message;
use tokio::sync::watch;

/// One span as received: its names, ids and every attribute value as text.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    pub name: String,
    pub span_id: Vec<u8>,
    pub parent_span_id: Vec<u8>,
    pub trace_id: Vec<u8>,
    pub attributes: Vec<(String, String)>,
    /// The span's events, each as its name and attributes.
    pub events: Vec<(String, Vec<(String, String)>)>,
}

impl ReceivedSpan {
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Received {
    spans: Vec<ReceivedSpan>,
    /// `service.name` of each request's resources.
    services: Vec<String>,
    /// Every attribute value of the resources, as text.
    resource_values: Vec<String>,
    /// Requests that were not OTLP/HTTP protobuf trace exports, and why.
    problems: Vec<String>,
}

pub struct Collector {
    pub addr: SocketAddr,
    received: Arc<Mutex<Received>>,
    requests: watch::Receiver<usize>,
}

#[derive(Clone)]
struct Shared {
    received: Arc<Mutex<Received>>,
    requests: Arc<watch::Sender<usize>>,
}

impl Collector {
    pub async fn start() -> Collector {
        let received = Arc::new(Mutex::new(Received::default()));
        let (tx, rx) = watch::channel(0usize);
        let shared = Shared {
            received: received.clone(),
            requests: Arc::new(tx),
        };
        let app = Router::new()
            .route("/v1/traces", post(traces))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the collector");
        let addr = listener.local_addr().expect("collector address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Collector {
            addr,
            received,
            requests: rx,
        }
    }

    /// The base URL the exporter is configured with (`/v1/traces` is appended by it).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Received> {
        self.received.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.lock().spans.clone()
    }

    pub fn services(&self) -> Vec<String> {
        self.lock().services.clone()
    }

    pub fn resource_values(&self) -> Vec<String> {
        self.lock().resource_values.clone()
    }

    pub fn problems(&self) -> Vec<String> {
        self.lock().problems.clone()
    }

    /// Wait (at most `within`) until a received span satisfies `found`; every request the
    /// collector takes wakes the check.
    pub async fn wait_for_span(
        &self,
        within: Duration,
        found: impl Fn(&ReceivedSpan) -> bool,
    ) -> Option<ReceivedSpan> {
        let mut requests = self.requests.clone();
        let check = |c: &Collector| c.lock().spans.iter().find(|s| found(s)).cloned();
        tokio::time::timeout(within, async {
            loop {
                if let Some(span) = check(self) {
                    return Some(span);
                }
                if requests.changed().await.is_err() {
                    return check(self);
                }
            }
        })
        .await
        .ok()
        .flatten()
    }
}

async fn traces(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let outcome = if content_type != "application/x-protobuf" {
        Err(format!("content type `{content_type}`"))
    } else {
        ExportTraceServiceRequest::decode(body).map_err(|e| format!("not a trace export: {e}"))
    };
    let ok = outcome.is_ok();
    {
        let mut received = shared
            .received
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match outcome {
            Ok(request) => keep(&mut received, request),
            Err(problem) => received.problems.push(problem),
        }
    }
    shared.requests.send_modify(|n| *n += 1);
    if !ok {
        return StatusCode::BAD_REQUEST.into_response();
    }
    // Full success: a response without partial rejections, in the request's encoding.
    (
        [(header::CONTENT_TYPE, "application/x-protobuf")],
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
        .into_response()
}

fn keep(received: &mut Received, request: ExportTraceServiceRequest) {
    for resource_spans in request.resource_spans {
        if let Some(resource) = &resource_spans.resource {
            let attrs = texts(&resource.attributes);
            if let Some((_, name)) = attrs.iter().find(|(k, _)| k == "service.name") {
                received.services.push(name.clone());
            }
            received
                .resource_values
                .extend(attrs.into_iter().map(|(_, v)| v));
        }
        for scope_spans in resource_spans.scope_spans {
            for span in scope_spans.spans {
                received.spans.push(ReceivedSpan {
                    name: span.name,
                    span_id: span.span_id,
                    parent_span_id: span.parent_span_id,
                    trace_id: span.trace_id,
                    attributes: texts(&span.attributes),
                    events: span
                        .events
                        .into_iter()
                        .map(|e| (e.name, texts(&e.attributes)))
                        .collect(),
                });
            }
        }
    }
}

fn texts(attributes: &[KeyValue]) -> Vec<(String, String)> {
    attributes
        .iter()
        .map(|kv| {
            (
                kv.key.clone(),
                kv.value.as_ref().map(text).unwrap_or_default(),
            )
        })
        .collect()
}

/// An attribute value as text (arrays and maps joined), so a search covers all of it.
fn text(value: &AnyValue) -> String {
    match &value.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BytesValue(b)) => String::from_utf8_lossy(b).into_owned(),
        Some(any_value::Value::ArrayValue(a)) => {
            a.values.iter().map(text).collect::<Vec<_>>().join(" ")
        }
        Some(any_value::Value::KvlistValue(l)) => texts(&l.values)
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" "),
        Some(_) | None => String::new(),
    }
}
