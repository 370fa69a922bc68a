//! Start-up you can call from tests: connect the store, seed the demo world into an empty
//! store, build the search index and the agent, bind the listener (port 0 in tests), and
//! serve until a shutdown signal.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::agent::builtin_model::BuiltinModel;
use crate::agent::model::Model;
use crate::agent::Agent;
use crate::clock::Clock;
use crate::config::{ModelSettings, Settings};
use crate::metrics::Metrics;
use crate::search::SearchIndex;
use crate::store::Store;

/// What every request handler (and the work it starts) can reach; built once by
/// [`build_state`].
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub search: Arc<SearchIndex>,
    pub agent: Agent,
    pub settings: Arc<Settings>,
    pub clock: Clock,
    pub metrics: Arc<Metrics>,
    pub limits: Arc<crate::ratelimit::Limits>,
    /// Wakes the outbound sender when something was queued.
    pub outbox: Arc<tokio::sync::Notify>,
    pub transcriber: crate::voice::SharedTranscriber,
    /// Work a request started and did not wait for (voicemail handling).
    pub background: Background,
}

/// Tasks that outlive the request that started them, kept so that whoever needs to (a test,
/// an orderly stop) can wait until they are done.
#[derive(Clone, Default)]
pub struct Background(Arc<std::sync::Mutex<tokio::task::JoinSet<()>>>);

impl Background {
    pub fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let mut set = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // Forget the finished ones, so the set holds only what still runs.
        while set.try_join_next().is_some() {}
        set.spawn(task);
    }

    /// Wait until every task started so far (and any they started) has finished.
    pub async fn idle(&self) {
        loop {
            let mut running =
                std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
            if running.is_empty() {
                return;
            }
            while running.join_next().await.is_some() {}
        }
    }
}

pub struct Application {
    listener: TcpListener,
    state: AppState,
    welcome: Welcome,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let store = Store::connect(&settings.database_url, settings.db_max_connections).await?;
        Self::with_store(settings, store).await
    }

    /// Build on an already connected store (tests share one).
    pub async fn with_store(settings: Settings, store: Store) -> anyhow::Result<Application> {
        let (state, welcome) = prepare(settings, store).await?;
        let listener = TcpListener::bind(state.settings.bind).await?;
        Ok(Application {
            listener,
            state,
            welcome,
        })
    }

    /// The start-up block for people: where the console and portal are, and how to sign in
    /// to the demo.
    pub fn welcome(&self) -> anyhow::Result<String> {
        let addr = self.local_addr()?;
        let settings = &self.state.settings;
        // Without a public URL of its own the service is where it listens (port 0 is chosen
        // at bind time).
        let base = if settings.public_url == format!("http://{}", settings.bind) {
            format!("http://{addr}")
        } else {
            settings.public_url.clone()
        };
        Ok(self
            .welcome
            .render(addr, self.state.store.backend_name(), &base))
    }

    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serve until `shutdown` resolves, then finish in-flight requests.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let listener = self.state.store.spawn_event_listener(stop_rx.clone());
        let twilio = crate::outbound::TwilioRest::new(
            &self.state.settings.twilio,
            &self.state.settings.public_url,
        )?;
        let settings = &self.state.settings;
        let mailer = match &settings.smtp_url {
            Some(url) => Some(crate::email::Mailer::new(
                url.expose(),
                &settings.smtp_from,
            )?),
            None => None,
        };
        let sender = tokio::spawn(crate::outbound::run_sender(
            self.state.store.clone(),
            twilio,
            mailer,
            self.state.clock,
            self.state.outbox.clone(),
            std::time::Duration::from_secs(5),
            settings.lease_secs,
            stop_rx,
        ));
        let scheduler = tokio::spawn(crate::jobs::run_scheduler(
            self.state.store.clone(),
            settings.public_url.clone(),
            self.state.clock,
            self.state.outbox.clone(),
            settings.lease_secs,
            std::time::Duration::from_secs(5),
            stop_tx.subscribe(),
        ));
        let webhooks = tokio::spawn(crate::webhooks::run_webhooks(
            self.state.store.clone(),
            self.state.settings.webhook_allow_private,
            stop_tx.subscribe(),
        ));
        let recovery = tokio::spawn(run_recovery(
            self.state.agent.clone(),
            self.state.outbox.clone(),
            self.state.settings.twilio.reply_budget,
            stop_tx.subscribe(),
        ));
        crate::http::serve(self.listener, self.state.clone(), shutdown).await?;
        let _ = stop_tx.send(true);
        let _ = sender.await;
        let _ = scheduler.await;
        let _ = recovery.await;
        let _ = webhooks.await;
        if let Some(l) = listener {
            let _ = l.await;
        }
        self.state.store.close().await;
        Ok(())
    }
}

/// How often every instance looks for turns and replies that a crash left behind.
const RECOVERY_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// At start-up and then periodically: finish messages nobody is running (their worker
/// died) and send finished SMS replies nobody delivered. Safe on every instance at once.
async fn run_recovery(
    agent: Agent,
    outbox: Arc<tokio::sync::Notify>,
    reply_budget: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let grace = reply_budget + RECOVERY_EVERY;
    loop {
        match agent.recover(RECOVERY_EVERY, grace).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(recovered = n, "finished work left behind");
                outbox.notify_one();
            }
            Err(e) => tracing::warn!(error = %e, "recovery pass failed"),
        }
        // Escalations close to their due time are announced to consoles and integrations.
        if let Err(e) = agent.store.flag_near_breaches(agent.clock.now(), 100).await {
            tracing::warn!(error = %e, "SLA watch failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(RECOVERY_EVERY) => {}
            _ = stop.changed() => break,
        }
    }
}

/// Everything a request handler needs, from settings and a connected store.
pub async fn build_state(settings: Settings, store: Store) -> anyhow::Result<AppState> {
    Ok(prepare(settings, store).await?.0)
}

/// [`build_state`], and what the start-up block tells a newcomer.
async fn prepare(settings: Settings, store: Store) -> anyhow::Result<(AppState, Welcome)> {
    let clock = settings.clock;
    let mut welcome = Welcome::default();
    if settings.seed_demo && store.list_tenants().await?.is_empty() {
        let summary = crate::seed::seed_demo(&store, clock.now()).await?;
        if summary.created {
            welcome.seeded = Some(summary.to_string());
            welcome.passwords =
                crate::operators::demo_passwords(&store, summary.demo, clock.now()).await?;
        }
    }
    if let Some(demo) = store.tenant_by_slug(crate::seed::DEMO_SLUG).await? {
        welcome.demo_operators = store
            .operator_users(demo.id)
            .await?
            .into_iter()
            .map(|u| u.email)
            .collect();
    }
    let search = Arc::new(SearchIndex::new_in_ram()?);
    for (tenant, _) in store.list_tenants().await? {
        search.rebuild(&store, tenant).await?;
    }
    // A malformed tool spec stops start-up (never a tool silently missing).
    crate::agent::tools::check_specs()?;
    let model = build_model(&settings.model)?;
    let agent = Agent {
        store: store.clone(),
        gate: crate::agent::runtime::TurnGate::for_pool(settings.db_max_connections),
        search: search.clone(),
        model,
        fallback: Arc::new(BuiltinModel),
        breaker: Default::default(),
        clock,
        turn_budget: turn_budget(settings.twilio.reply_budget),
    };
    let transcriber =
        crate::voice::load_transcriber(settings.whisper_model.as_deref(), settings.whisper_threads);
    let state = AppState {
        store,
        search,
        agent,
        clock,
        limits: Arc::new(crate::ratelimit::Limits::new(&settings.rate_limits)),
        settings: Arc::new(settings),
        metrics: Arc::new(Metrics::default()),
        outbox: Arc::new(tokio::sync::Notify::new()),
        transcriber,
        background: Background::default(),
    };
    Ok((state, welcome))
}

/// The model's share of a reply budget: what is left after a margin for storing the turn
/// and answering (a fifth of the budget, at most a second).
pub fn turn_budget(reply_budget: std::time::Duration) -> std::time::Duration {
    let margin = (reply_budget / 5).min(std::time::Duration::from_secs(1));
    reply_budget.saturating_sub(margin)
}

/// What a newcomer needs at start-up. First start: the demo operators get random passwords,
/// shown once here (only hashes are stored); `frontdesk user password` sets another one.
#[derive(Default)]
struct Welcome {
    /// The demo world seeded by this start, summarised.
    seeded: Option<String>,
    /// The demo tenant's operators (e-mail addresses), when it exists.
    demo_operators: Vec<String>,
    /// E-mail and password of each demo operator given one by this start.
    passwords: Vec<(String, String)>,
}

impl Welcome {
    fn render(&self, addr: SocketAddr, store: &str, public_url: &str) -> String {
        let mut out = format!(
            "frontdesk is listening on {addr} (store: {store})\n  \
             console  {public_url}/console\n  \
             portal   {public_url}/portal\n  \
             API      {public_url}/api/v1/openapi.json"
        );
        if let Some(seeded) = &self.seeded {
            for (i, line) in seeded.lines().enumerate() {
                let indent = if i == 0 { "  " } else { "    " };
                out.push_str(&format!("\n{indent}{}", line.trim_start()));
            }
        }
        if !self.passwords.is_empty() {
            out.push_str(&format!(
                "\n  demo console sign-in (passwords shown only now; change one with \
                 `frontdesk user password --tenant {} --email …`):",
                crate::seed::DEMO_SLUG
            ));
            for (email, password) in &self.passwords {
                out.push_str(&format!("\n    {email}  {password}"));
            }
        } else if !self.demo_operators.is_empty() {
            out.push_str(&format!(
                "\n  sign in to the demo console as {} (passwords were shown at first start; \
                 set one with `frontdesk user password --tenant {} --email …`)",
                self.demo_operators.join(" or "),
                crate::seed::DEMO_SLUG
            ));
        }
        out
    }
}

pub fn build_model(settings: &ModelSettings) -> anyhow::Result<Arc<dyn Model>> {
    Ok(match settings {
        ModelSettings::Builtin => Arc::new(BuiltinModel),
        ModelSettings::OpenAi {
            base_url,
            model,
            api_key,
            timeout,
            usd_per_1k_prompt_tokens,
            usd_per_1k_completion_tokens,
        } => {
            let mut cfg = crate::agent::openai::OpenAiConfig::new(base_url.clone(), model.clone());
            cfg.api_key = api_key.clone();
            cfg.timeout = *timeout;
            cfg.price_per_1k_prompt_usd = *usd_per_1k_prompt_tokens;
            cfg.price_per_1k_completion_usd = *usd_per_1k_completion_tokens;
            Arc::new(crate::agent::openai::OpenAiModel::new(cfg)?)
        }
    })
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
