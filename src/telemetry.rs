//! Tracing set-up: logs on standard error, filtered by `RUST_LOG` (default `info`), as
//! human-readable text (coloured only when standard error is a terminal) or, with
//! `log_format = "json"`, one JSON object per line for log collectors; and, when
//! `otlp_endpoint` is set, traces exported over OTLP/HTTP (protobuf) to that collector.
//!
//! Traces are the crate's own spans only (`frontdesk::…` targets; never events, so no log
//! message becomes a span event): `http` per request, `turn` per customer message
//! (`agent::runtime`), `model_step` and `tool_call` beneath it. Their fields are ids, names
//! and outcomes — never message text or phone numbers. Spans are batched on the SDK's own
//! thread and sent with the crate's reqwest client on the Tokio runtime
//! ([`ReqwestOnTokio`]); [`Traces::shutdown`] flushes what is left (orderly shutdown).

use std::io::IsTerminal;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing::Subscriber;
use tracing_subscriber::filter::{filter_fn, EnvFilter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::config::{LogFormat, Settings};

/// The filter when `RUST_LOG` is unset: `info` for the service; warnings only for batch
/// commands (`eval`) whose output is a report, not a log.
pub fn default_filter(quiet: bool) -> &'static str {
    if quiet {
        "warn"
    } else {
        "info,sqlx=warn,tower_http=info,tantivy=warn"
    }
}

/// The service name traces carry (`service.name`).
pub const SERVICE_NAME: &str = "frontdesk";

/// How long one export request may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the process set up; [`Telemetry::shutdown`] flushes it before the process ends.
pub struct Telemetry {
    traces: Option<Traces>,
}

impl Telemetry {
    /// Flush and stop the trace exporter (nothing to do without one).
    pub async fn shutdown(self) {
        if let Some(traces) = self.traces {
            traces.shutdown().await;
        }
    }
}

/// Install the process's subscriber (once; later calls change nothing): logs, and the
/// trace exporter when `settings.otlp_endpoint` is set. Call within the Tokio runtime.
pub fn init(settings: &Settings, quiet: bool) -> anyhow::Result<Telemetry> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter(quiet)));
    let logs = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_writer(std::io::stderr);
    let logs = match settings.log_format {
        LogFormat::Text => logs
            .with_ansi(std::io::stderr().is_terminal())
            .with_filter(filter)
            .boxed(),
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_filter(filter)
            .boxed(),
    };
    let traces = Traces::start(settings)?;
    let _ = tracing_subscriber::registry()
        .with(logs)
        .with(traces.as_ref().map(Traces::layer))
        .try_init();
    Ok(Telemetry { traces })
}

/// The trace pipeline: spans → batch (the SDK's thread) → OTLP/HTTP protobuf export.
pub struct Traces {
    provider: SdkTracerProvider,
}

impl Traces {
    /// The exporter to `settings.otlp_endpoint`, or `None` when it is unset (no exporter,
    /// no spans kept). Call within the Tokio runtime the exports should run on.
    pub fn start(settings: &Settings) -> anyhow::Result<Option<Traces>> {
        let Some(endpoint) = &settings.otlp_endpoint else {
            return Ok(None);
        };
        let client = ReqwestOnTokio {
            client: reqwest::Client::builder().timeout(EXPORT_TIMEOUT).build()?,
            runtime: tokio::runtime::Handle::try_current()
                .map_err(|e| anyhow::anyhow!("traces need the Tokio runtime: {e}"))?,
        };
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client)
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(format!("{endpoint}/v1/traces"))
            .with_timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|e| anyhow::anyhow!("FRONTDESK_OTLP_ENDPOINT: {e}"))?;
        let resource = Resource::builder_empty()
            .with_service_name(SERVICE_NAME)
            .with_attribute(opentelemetry::KeyValue::new(
                "service.version",
                env!("CARGO_PKG_VERSION"),
            ))
            .build();
        let provider = SdkTracerProvider::builder()
            .with_resource(resource)
            .with_batch_exporter(exporter)
            .build();
        Ok(Some(Traces { provider }))
    }

    /// The layer that turns the crate's spans into OpenTelemetry spans of this pipeline.
    /// It takes spans only, and only the crate's: no event (log line) becomes part of a
    /// trace, and libraries' spans stay out.
    pub fn layer<S>(&self) -> impl Layer<S> + 'static
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer(SERVICE_NAME))
            .with_threads(false)
            .with_tracked_inactivity(false)
            .with_filter(filter_fn(|meta| {
                meta.is_span()
                    && (meta.target() == "frontdesk" || meta.target().starts_with("frontdesk::"))
            }))
    }

    /// Export what is still batched and stop. The SDK blocks while it flushes, so this
    /// runs on a blocking thread and the runtime stays free to send the last batch.
    pub async fn shutdown(self) {
        let provider = self.provider;
        match tokio::task::spawn_blocking(move || provider.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "trace exporter did not flush"),
            Err(e) => tracing::warn!(error = %e, "trace exporter shutdown failed"),
        }
    }
}

/// The exporter's HTTP client: the crate's reqwest, each request run as a task on the Tokio
/// runtime (the SDK's batch thread has no reactor of its own), so no second HTTP stack.
#[derive(Debug)]
pub struct ReqwestOnTokio {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

/// The most of a collector's answer that is read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for ReqwestOnTokio {
    async fn send_bytes(
        &self,
        request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
        let request = reqwest::Request::try_from(request)?;
        let client = self.client.clone();
        let task = self.runtime.spawn(async move {
            let mut response = client.execute(request).await?;
            let status = response.status();
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await? {
                let room = MAX_ANSWER_BYTES.saturating_sub(body.len());
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if room <= chunk.len() {
                    break;
                }
            }
            Ok::<_, reqwest::Error>((status, body))
        });
        let (status, body) = task.await??;
        Ok(http::Response::builder()
            .status(status)
            .body(bytes::Bytes::from(body))?)
    }
}
