//! The real application on port 0 over a test database, with the demo world seeded at a
//! pinned clock. Requests go over loopback with reqwest, exactly as a client would send them.

use std::net::SocketAddr;

use frontdesk::app::{AppState, Application};
use frontdesk::config::{RawSettings, Secret};
use frontdesk::domain::{CustomerId, Role, TenantId};
use frontdesk::seed::DemoSummary;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::TestDb;

/// Monday 2026-11-23, 8:15 PM in Austin: after hours, the demo world's "now".
pub const CLOCK: &str = "2026-11-23T20:15:00-06:00";
/// What Twilio would call; signatures are computed over this, not the loopback address.
pub const PUBLIC_URL: &str = "https://frontdesk.test";
pub const TWILIO_ACCOUNT_SID: &str = "AC00000000000000000000000000000000";
pub const TWILIO_AUTH_TOKEN: &str = "test-auth-token-0123456789abcdef";

pub struct TestApp {
    pub addr: SocketAddr,
    pub state: AppState,
    pub demo: DemoSummary,
    pub http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    /// The trace exporter, when the settings name a collector (as `frontdesk serve` starts
    /// it); `stop` flushes it as the binary does on an orderly shutdown.
    traces: Option<frontdesk::telemetry::Traces>,
}

impl TestApp {
    pub async fn spawn(db: &TestDb) -> TestApp {
        Self::spawn_with(db, |_| {}).await
    }

    /// Spawn with settings adjusted (a model endpoint, a Twilio API base, another clock).
    pub async fn spawn_with(db: &TestDb, adjust: impl FnOnce(&mut RawSettings)) -> TestApp {
        let mut raw = RawSettings {
            database_url: Some(db.url().to_string()),
            bind: Some("127.0.0.1:0".into()),
            public_url: Some(PUBLIC_URL.into()),
            clock: Some(CLOCK.into()),
            twilio_account_sid: Some(TWILIO_ACCOUNT_SID.into()),
            twilio_auth_token: Some(Secret::new(TWILIO_AUTH_TOKEN)),
            twilio_api_base: Some("http://127.0.0.1:9".into()),
            // No speech model unless a test asks for one: with `--features whisper` and a
            // fetched model, voicemail behaviour would otherwise depend on the build.
            whisper_model: Some("off".into()),
            // Tests' webhook receivers listen on loopback.
            webhook_allow_private: Some(true),
            ..RawSettings::default()
        };
        adjust(&mut raw);
        let settings = raw.resolve().expect("test settings");
        let traces = frontdesk::telemetry::Traces::start(&settings).expect("trace exporter");
        let now = settings.clock.now();
        let store = db.store();
        let demo = frontdesk::seed::seed_demo(&store, now)
            .await
            .expect("seed demo");
        let app = Application::with_store(settings, store)
            .await
            .expect("build app");
        let addr = app.local_addr().expect("addr");
        let state = app.state().clone();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let _ = app
                .run_until(async move {
                    let _ = rx.await;
                })
                .await;
        });
        TestApp {
            addr,
            state,
            demo,
            http: reqwest::Client::new(),
            shutdown: Some(tx),
            server: Some(server),
            traces,
        }
    }

    /// The subscriber that hands this app's spans to its trace exporter (`None` without
    /// `otlp_endpoint`). A `current_thread` test installs it for its thread
    /// (`tracing::subscriber::set_default`), where the app's tasks run too.
    pub fn trace_subscriber(&self) -> Option<impl tracing::Subscriber + Send + Sync + 'static> {
        use tracing_subscriber::layer::SubscriberExt;
        self.traces
            .as_ref()
            .map(|t| tracing_subscriber::registry().with(t.layer()))
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A fresh API token for a tenant and role.
    pub async fn token(&self, tenant: TenantId, role: Role) -> String {
        self.state
            .store
            .create_token(tenant, None, role, "test", 0)
            .await
            .expect("token")
    }

    /// A signed customer portal token of the demo tenant, valid for an hour.
    pub async fn portal_token(&self, customer: CustomerId) -> String {
        self.portal_token_for(customer, 3600).await
    }

    /// A signed customer portal token of the demo tenant expiring `expires_in` seconds from
    /// the app's "now" (negative: already expired).
    pub async fn portal_token_for(&self, customer: CustomerId, expires_in: i64) -> String {
        let tenant = self
            .state
            .store
            .tenant(self.demo.demo)
            .await
            .expect("the demo tenant");
        frontdesk::auth::portal::sign(
            &tenant.portal_key,
            frontdesk::auth::portal::PortalClaims {
                tenant: tenant.id,
                customer,
                expires_at: self.state.clock.now().timestamp() + expires_in,
            },
        )
    }

    /// `GET /metrics` as text (the test client is a loopback peer: no token needed).
    pub async fn metrics(&self) -> String {
        self.http
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text")
    }

    /// Stop the server and wait for it (graceful shutdown).
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), server).await;
        }
        if let Some(traces) = self.traces.take() {
            traces.shutdown().await;
        }
    }
}

impl TestApp {
    /// A second server process's view: the same database through its own store (own pool,
    /// own event wake-ups), as another instance of the service would have.
    pub async fn spawn_instance(db: &TestDb) -> TestApp {
        let raw = RawSettings {
            database_url: Some(db.url().to_string()),
            bind: Some("127.0.0.1:0".into()),
            public_url: Some(PUBLIC_URL.into()),
            clock: Some(CLOCK.into()),
            twilio_account_sid: Some(TWILIO_ACCOUNT_SID.into()),
            twilio_auth_token: Some(Secret::new(TWILIO_AUTH_TOKEN)),
            twilio_api_base: Some("http://127.0.0.1:9".into()),
            whisper_model: Some("off".into()),
            // Tests' webhook receivers listen on loopback.
            webhook_allow_private: Some(true),
            ..RawSettings::default()
        };
        let settings = raw.resolve().expect("test settings");
        let store = frontdesk::store::Store::connect(db.url(), super::POOL_SIZE)
            .await
            .expect("a second store on the test database");
        let demo = frontdesk::seed::seed_demo(&store, settings.clock.now())
            .await
            .expect("seed demo (already there)");
        let app = Application::with_store(settings, store)
            .await
            .expect("build app");
        let addr = app.local_addr().expect("addr");
        let state = app.state().clone();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let _ = app
                .run_until(async move {
                    let _ = rx.await;
                })
                .await;
        });
        TestApp {
            addr,
            state,
            demo,
            http: reqwest::Client::new(),
            shutdown: Some(tx),
            server: Some(server),
            traces: None,
        }
    }
}

/// The value of one series in a Prometheus text exposition (0 when absent): the first line
/// that starts with `prefix` (a metric name and its labels).
pub fn series(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}
