//! The command line: `serve` (the default), `migrate`, `seed`, `chat`, `eval`, `bench`,
//! `token create`. Flags and
//! `FRONTDESK_*` variables feed the same typed settings as the config file.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::app::{shutdown_signal, Application};
use crate::config::{RawSettings, Settings};
use crate::domain::{CustomerId, Role};
use crate::store::Store;

#[derive(Debug, Parser)]
#[command(
    name = "frontdesk",
    version,
    about = "The AI front desk for field-service companies"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Flags for the settings people change by hand. Every setting (these too) is also a key of
/// the config file and a `FRONTDESK_<KEY>` environment variable (`config::KEYS`).
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// TOML config file (keys as in `config.example.toml`).
    #[arg(long, env = "FRONTDESK_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// `sqlite://path/to/file.db` or `postgres://user@host/db`.
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    /// Listen address, host:port.
    #[arg(long, global = true)]
    pub bind: Option<String>,
    /// Public base URL (used to check Twilio signatures behind a proxy).
    #[arg(long, global = true)]
    pub public_url: Option<String>,
    /// Pin "now" (RFC 3339) for demos and tests.
    #[arg(long, global = true)]
    pub clock: Option<String>,
    /// `builtin` (default, offline) or `openai` (any OpenAI-compatible endpoint).
    #[arg(long, global = true)]
    pub model: Option<String>,
    /// Whisper model file for voicemail and live calls (`off` disables).
    #[arg(long, global = true)]
    pub whisper_model: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (the default command).
    Serve {
        /// Do not seed the demo world into an empty store.
        #[arg(long)]
        no_seed: bool,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Seed the demo world, or a large generated tenant with `--customers`.
    Seed {
        /// Generate a tenant with this many customers (for benchmarks).
        #[arg(long)]
        customers: Option<usize>,
        /// Slug of the generated tenant.
        #[arg(long, default_value = "bench")]
        tenant: String,
    },
    /// Chat with the agent from a terminal, as a customer texting from `--from`.
    Chat {
        /// The customer's phone number (E.164).
        #[arg(long)]
        from: String,
        /// Tenant slug.
        #[arg(long, default_value = "demo")]
        tenant: String,
        /// sms, voice, api.
        #[arg(long, default_value = "sms")]
        channel: String,
    },
    /// Run the system under faults and count every broken promise (needs the
    /// `test-support` feature: it carries the loopback Twilio and model fakes).
    #[cfg(feature = "test-support")]
    Soak(SoakArgs),
    /// Measure: search latency on a generated world, turn overhead with the built-in model.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Run eval scenarios against the agent, or capture a conversation as a scenario.
    Eval {
        #[command(subcommand)]
        command: crate::eval::EvalCommand,
    },
    /// Speech to text: fetch the model, transcribe a file, benchmark.
    Voice {
        #[command(subcommand)]
        command: crate::voice::cli::VoiceCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Manage operator users (people who sign in to the console).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Tool specs: write `tools/*.json` from the typed contracts.
    Tools {
        #[command(subcommand)]
        command: ToolsCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ToolsCommand {
    /// Write `tools/<name>.json` for every tool from its argument and result types.
    WriteSchemas {
        /// The folder to write into.
        #[arg(long, default_value = "tools")]
        dir: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add an operator user (then set a password with `frontdesk user password`).
    Add {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// admin or csr.
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
    /// Set a user's password, read from standard input (first line); signs them out everywhere.
    Password {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
    },
}

/// `frontdesk soak`: a scratch database, real instances, loopback fakes, faults.
#[cfg(feature = "test-support")]
#[derive(Debug, Args)]
pub struct SoakArgs {
    /// PostgreSQL URL of a database from which a scratch database may be created (two
    /// instances); without it, a SQLite file (one instance).
    #[arg(long)]
    pub postgres: Option<String>,
    #[arg(long)]
    pub instances: Option<usize>,
    #[arg(long, default_value_t = 10_000)]
    pub conversations: usize,
    #[arg(long, default_value_t = 32)]
    pub senders: usize,
    /// Share of messages delivered twice, in percent.
    #[arg(long, default_value_t = 10)]
    pub duplicate_percent: u32,
    /// Seconds between kills (SIGKILL) of a random instance; 0: never.
    #[arg(long, default_value_t = 4)]
    pub kill_every: u64,
    #[arg(long, default_value_t = 1_000)]
    pub max_kills: usize,
    /// Stop starting conversations after this many seconds.
    #[arg(long, default_value_t = 3_600)]
    pub time_limit: u64,
    /// How the loopback model endpoint misbehaves.
    #[arg(long, value_enum, default_value = "flaky")]
    pub model_fault: crate::soak::ModelBehaviour,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Keep the instances' logs even when nothing failed.
    #[arg(long)]
    pub keep_logs: bool,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Load N generated customers into the store at --database-url, then time caller
    /// lookups by phone through the store, and misspelled name + street lookups through the
    /// index (and PostgreSQL trigram search).
    Search {
        #[arg(long, default_value_t = 1_000_000)]
        customers: usize,
        #[arg(long, default_value_t = 1_000)]
        queries: usize,
        /// Skip the PostgreSQL trigram comparison.
        #[arg(long)]
        no_trigram: bool,
        /// No store: fill an in-memory index directly and time the searches only.
        #[arg(long)]
        index_only: bool,
    },
    /// Load a running server (loopback only): C senders post signed Twilio SMS (or
    /// `/api/v1/messages` with --api-token) for D seconds; throughput and latency.
    Load {
        /// The server, e.g. http://127.0.0.1:8080.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// Concurrent senders; with --spawn a list runs once per count (`1,16,64`).
        #[arg(long, default_value = "16", value_delimiter = ',')]
        senders: Vec<usize>,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Start the server here first (this binary's `serve` on a free loopback port, over
        /// a new SQLite file, or the empty PostgreSQL database of --database-url) and report
        /// its CPU and SQLite writer time per turn and its peak memory; --url is not used.
        #[arg(long)]
        spawn: bool,
        /// Stop after this many requests in all.
        #[arg(long, default_value_t = 100_000)]
        max_requests: usize,
        /// The tenant number the customers write to.
        #[arg(long, default_value = "+15125550000")]
        to: String,
        /// Post to `/api/v1/messages` with this integration token instead of SMS webhooks.
        #[arg(long)]
        api_token: Option<String>,
    },
    /// Cost of reading customer messages: the built-in model's language layer over every
    /// scripted customer message of the eval scenarios, R rounds; no store, no IO per message.
    Understand {
        /// Scenario files or folders.
        #[arg(default_value = "evals")]
        paths: Vec<std::path::PathBuf>,
        #[arg(long, default_value_t = 20)]
        rounds: usize,
    },
    /// Turn overhead of the runtime with the built-in model on a fresh demo world.
    Turns {
        #[arg(long, default_value_t = 200)]
        conversations: usize,
        /// Run on this store instead of a temporary SQLite file.
        #[arg(long)]
        store: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it (it is stored hashed and cannot be shown again).
    Create {
        #[arg(long)]
        tenant: String,
        /// admin, csr or integration.
        #[arg(long, value_parser = parse_role)]
        role: Option<Role>,
        /// A portal customer token for this customer id instead of an operator token.
        #[arg(long)]
        customer: Option<CustomerId>,
        #[arg(long, default_value = "cli")]
        label: String,
        /// An integration that verifies its callers itself (an answering service): a phone
        /// on file then counts as verified in `POST /api/v1/messages`. Integration only.
        #[arg(long)]
        verifies_callers: bool,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse::<Role>().map_err(|e| e.message)
}

impl GlobalArgs {
    /// Flags over the environment over the config file over the defaults.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let from_flags = RawSettings {
            database_url: self.database_url.clone(),
            bind: self.bind.clone(),
            public_url: self.public_url.clone(),
            clock: self.clock.clone(),
            model: self.model.clone(),
            whisper_model: self.whisper_model.clone(),
            ..RawSettings::default()
        };
        let from_env = RawSettings::from_env(std::env::vars())?;
        let from_file = match &self.config {
            Some(path) => RawSettings::from_file(path)?,
            None => RawSettings::default(),
        };
        from_flags.over(from_env.over(from_file)).resolve()
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(Command::Tools {
        command: ToolsCommand::WriteSchemas { dir },
    }) = &cli.command
    {
        for (file, text) in crate::agent::tools::contracts::spec_files() {
            let path = dir.join(&file);
            std::fs::write(&path, text)?;
            println!("wrote {}", path.display());
        }
        return Ok(());
    }
    let settings = cli.global.settings()?;
    let quiet = matches!(cli.command, Some(Command::Eval { .. }));
    let telemetry = crate::telemetry::init(&settings, quiet)?;
    if let crate::clock::Clock::Fixed(t) = settings.clock {
        tracing::warn!(now = %t, "clock pinned by FRONTDESK_CLOCK");
    }
    let result = execute(cli.command, settings).await;
    // Orderly shutdown: the spans still batched are exported before the process ends.
    telemetry.shutdown().await;
    result
}

/// One command, once logging (and tracing) is set up.
async fn execute(command: Option<Command>, mut settings: Settings) -> anyhow::Result<()> {
    match command.unwrap_or(Command::Serve { no_seed: false }) {
        Command::Serve { no_seed } => {
            if no_seed {
                settings.seed_demo = false;
            }
            let app = Application::build(settings).await?;
            eprintln!("{}", app.welcome()?);
            app.run_until(shutdown_signal()).await
        }
        Command::Migrate => {
            let store = Store::connect(&settings.database_url, 1).await?;
            println!("migrations applied ({})", store.backend_name());
            Ok(())
        }
        Command::Seed { customers, tenant } => {
            let store = Store::connect(&settings.database_url, settings.db_max_connections).await?;
            match customers {
                Some(n) => {
                    let started = std::time::Instant::now();
                    let id =
                        crate::seed::seed_large(&store, settings.clock.now(), &tenant, n).await?;
                    println!(
                        "tenant `{tenant}` (#{id}) with {n} customers in {:.1?}",
                        started.elapsed()
                    );
                }
                None => {
                    let summary = crate::seed::seed_demo(&store, settings.clock.now()).await?;
                    println!("{summary:#?}");
                }
            }
            Ok(())
        }
        Command::Chat {
            from,
            tenant,
            channel,
        } => chat(settings, &from, &tenant, &channel).await,
        Command::Bench {
            command:
                BenchCommand::Search {
                    customers,
                    queries,
                    no_trigram,
                    index_only,
                },
        } => {
            let out = crate::bench::search(
                &settings.database_url,
                customers,
                queries,
                !no_trigram,
                index_only,
            )
            .await?;
            println!("{out}");
            Ok(())
        }
        Command::Bench {
            command:
                BenchCommand::Load {
                    url,
                    senders,
                    seconds,
                    spawn,
                    max_requests,
                    to,
                    api_token,
                },
        } => {
            if spawn {
                anyhow::ensure!(api_token.is_none(), "--spawn loads the SMS webhook only");
                let opts = crate::loadgen::SpawnOptions {
                    database_url: (settings.database_url.starts_with("postgres"))
                        .then(|| settings.database_url.clone()),
                    senders,
                    seconds,
                    max_requests,
                    to,
                };
                print!("{}", crate::loadgen::run_spawned(opts).await?);
                return Ok(());
            }
            for senders in senders {
                let opts = crate::loadgen::LoadOptions {
                    url: url.clone(),
                    public_url: Some(settings.public_url.clone()),
                    twilio_auth_token: settings
                        .twilio
                        .auth_token
                        .as_ref()
                        .map(|t| t.expose().to_string()),
                    api_token: api_token.clone(),
                    to: to.clone(),
                    senders,
                    seconds,
                    max_requests,
                };
                println!("{}", crate::loadgen::run(opts).await?);
            }
            Ok(())
        }
        Command::Bench {
            command: BenchCommand::Understand { paths, rounds },
        } => {
            println!("{}", crate::bench::understand(&paths, rounds)?);
            Ok(())
        }
        Command::Bench {
            command:
                BenchCommand::Turns {
                    conversations,
                    store,
                },
        } => {
            println!("{}", crate::bench::turns(store, conversations).await?);
            Ok(())
        }
        #[cfg(feature = "test-support")]
        Command::Soak(args) => soak(args).await,
        Command::Eval { command } => eval(settings, command).await,
        Command::User { command } => user(settings, command).await,
        Command::Tools { .. } => Ok(()),
        Command::Voice { command } => crate::voice::cli::run(command, &settings).await,
        Command::Token {
            command:
                TokenCommand::Create {
                    tenant,
                    role,
                    customer,
                    label,
                    verifies_callers,
                },
        } => {
            let store = Store::connect(&settings.database_url, 1).await?;
            let t = tenant_by_slug(&store, &tenant).await?;
            if let Some(customer) = customer {
                if verifies_callers {
                    anyhow::bail!(
                        "--verifies-callers is for integration tokens, not portal tokens"
                    );
                }
                store
                    .customer(t.id, customer)
                    .await
                    .map_err(|_| anyhow::anyhow!("no customer #{customer} in `{tenant}`"))?;
                let claims = crate::auth::portal::PortalClaims {
                    tenant: t.id,
                    customer,
                    expires_at: settings.clock.now().timestamp() + 30 * 24 * 3600,
                };
                println!("{}", crate::auth::portal::sign(&t.portal_key, claims));
                return Ok(());
            }
            let role = role
                .ok_or_else(|| anyhow::anyhow!("--role is required (admin, csr or integration)"))?;
            let token = store
                .create_token_with(
                    t.id,
                    None,
                    role,
                    &label,
                    verifies_callers,
                    settings.clock.now().timestamp(),
                )
                .await?;
            println!("{token}");
            Ok(())
        }
    }
}

/// The tenant with this slug, or an error that names the slug.
async fn tenant_by_slug(store: &Store, slug: &str) -> anyhow::Result<crate::store::Tenant> {
    store
        .tenant_by_slug(slug)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no tenant with slug `{slug}`"))
}

/// `frontdesk user add|password`.
async fn user(settings: Settings, command: UserCommand) -> anyhow::Result<()> {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let store = Store::connect(&settings.database_url, 1).await?;
    let slug = match &command {
        UserCommand::Add { tenant, .. } | UserCommand::Password { tenant, .. } => tenant.clone(),
    };
    let t = tenant_by_slug(&store, &slug).await?;
    let now = settings.clock.now();
    match command {
        UserCommand::Add {
            email, name, role, ..
        } => {
            let id =
                crate::operators::add_user(&store, t.id, &email, &name, role, "cli", now).await?;
            println!("user #{id} added; set a password with `frontdesk user password --tenant {slug} --email {email}`");
        }
        UserCommand::Password { email, .. } => {
            let mut line = String::new();
            BufReader::new(tokio::io::stdin())
                .read_line(&mut line)
                .await?;
            let password = line.trim_end_matches(['\r', '\n']);
            crate::operators::set_password(&store, t.id, &email, password, "cli", now).await?;
            println!("password set for {email}; their sessions were signed out");
        }
    }
    Ok(())
}

/// `frontdesk eval run|capture`; a regression (or a failure without a baseline) exits 1.
async fn eval(settings: Settings, command: crate::eval::EvalCommand) -> anyhow::Result<()> {
    match command {
        crate::eval::EvalCommand::Run(args) => {
            let outcome = crate::eval::run(&args, &settings).await?;
            print!("{}", crate::eval::summary_text(&outcome, &args));
            if outcome.exit_code != 0 {
                std::process::exit(outcome.exit_code);
            }
            Ok(())
        }
        crate::eval::EvalCommand::Capture(args) => {
            let store = Store::connect(&settings.database_url, 2).await?;
            let toml = crate::eval::capture::capture(
                &store,
                &args.tenant,
                crate::domain::ConversationId(args.conversation),
            )
            .await?;
            print!("{toml}");
            Ok(())
        }
    }
}

/// A terminal conversation with the agent over the configured store and model.
async fn chat(settings: Settings, from: &str, tenant: &str, channel: &str) -> anyhow::Result<()> {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let phone = crate::domain::PhoneE164::parse(from)?;
    let channel: crate::domain::Channel = channel.parse()?;
    let store = Store::connect(&settings.database_url, settings.db_max_connections).await?;
    let state = crate::app::build_state(settings, store).await?;
    let t = tenant_by_slug(&state.store, tenant).await?;
    println!(
        "Texting {} as {phone} ({channel}). Empty line or Ctrl-D to quit.",
        t.name
    );
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    // Bounded: a terminal session of at most this many messages.
    for _ in 0..10_000 {
        print!("> ");
        use std::io::Write;
        std::io::stdout().flush()?;
        let Some(line) = lines.next_line().await? else {
            break;
        };
        if line.trim().is_empty() {
            break;
        }
        let out = state
            .agent
            .handle(crate::agent::Inbound {
                tenant: t.id,
                channel,
                participant: phone.to_string(),
                text: line,
                external_id: None,
                media: vec![],
                caller: crate::agent::Caller::Phone {
                    phone: phone.clone(),
                    verifies: true,
                },
                reply_from: None,
            })
            .await?;
        match out.reply {
            Some(r) => println!("{}{}", r, if out.escalated { "  [escalated]" } else { "" }),
            None => println!("(no reply: a person from the team owns this conversation)"),
        }
    }
    Ok(())
}

#[cfg(feature = "test-support")]
async fn soak(args: SoakArgs) -> anyhow::Result<()> {
    let mut opts = crate::soak::SoakOptions::new(std::env::current_exe()?, args.postgres);
    if let Some(n) = args.instances {
        opts.instances = n;
    }
    opts.conversations = args.conversations;
    opts.senders = args.senders;
    opts.duplicate_percent = args.duplicate_percent;
    opts.kill_every =
        (args.kill_every > 0).then(|| std::time::Duration::from_secs(args.kill_every));
    opts.max_kills = args.max_kills;
    opts.time_limit = std::time::Duration::from_secs(args.time_limit);
    opts.seed = args.seed;
    opts.model = args.model_fault;
    opts.keep_logs = args.keep_logs;
    let report = crate::soak::run(opts).await?;
    println!("{}", report.render());
    anyhow::ensure!(
        report.failures() == 0,
        "{} broken promises",
        report.failures()
    );
    Ok(())
}
