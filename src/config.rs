//! Settings, parsed once at start-up from (lowest first) built-in defaults, an optional TOML
//! file, `FRONTDESK_*` environment variables and command-line flags. Everything after this
//! module sees typed values; secrets are wrapped so they never print.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::clock::Clock;
use crate::ratelimit::{LimitSettings, Rate};

/// A string that must not end up in logs.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: String,
    pub db_max_connections: u32,
    pub bind: SocketAddr,
    /// Public base URL Twilio and browsers use (no trailing slash).
    pub public_url: String,
    pub clock: Clock,
    /// Seed the demo world when the store has no tenants.
    pub seed_demo: bool,
    pub request_timeout: Duration,
    pub body_limit_bytes: usize,
    pub twilio: TwilioSettings,
    pub model: ModelSettings,
    /// Whisper model file (`off` disables; unset: `models/ggml-tiny.en.bin` if present).
    pub whisper_model: Option<String>,
    /// Threads whisper.cpp uses per transcription (1–64).
    pub whisper_threads: u32,
    /// Bearer token for `GET /metrics`; unset: served to loopback peers only.
    pub metrics_token: Option<Secret>,
    /// Outbound webhooks may go to loopback and private addresses (tests, closed networks).
    pub webhook_allow_private: bool,
    /// Rate limits on model-triggering routes (`crate::ratelimit`).
    pub rate_limits: LimitSettings,
    pub stripe: StripeSettings,
    /// SMTP server for e-mail notices (`smtp://[user:password@]host[:port]`); unset: no e-mail.
    pub smtp_url: Option<Secret>,
    /// The sender of e-mail notices.
    pub smtp_from: String,
    /// How long a job runner or outbox sender holds what it claimed before another instance
    /// may take it over (seconds, 5–600).
    pub lease_secs: i64,
    /// Log lines as text (default) or JSON.
    pub log_format: LogFormat,
    /// OTLP/HTTP collector base URL traces are exported to (`/v1/traces` is appended);
    /// unset: no exporter.
    pub otlp_endpoint: Option<String>,
}

/// The payment provider (Stripe): REST base, secret key, webhook endpoint secret.
#[derive(Debug, Clone)]
pub struct StripeSettings {
    pub api_base: String,
    pub secret_key: Option<Secret>,
    pub webhook_secret: Option<Secret>,
}

/// Which model answers customers. The built-in one is always the fallback.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelSettings {
    Builtin,
    OpenAi {
        base_url: String,
        model: String,
        api_key: Option<Secret>,
        timeout: Duration,
        /// Prices for the cost metric (`frontdesk_model_cost_usd_total`); unset: no cost.
        usd_per_1k_prompt_tokens: Option<f64>,
        usd_per_1k_completion_tokens: Option<f64>,
    },
}

/// How log lines are written to standard error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// One human-readable line per event (colour only on a terminal).
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

impl LogFormat {
    pub fn parse(s: &str) -> anyhow::Result<LogFormat> {
        match s.trim() {
            "" | "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => anyhow::bail!("FRONTDESK_LOG_FORMAT must be `text` or `json`, got `{other}`"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct TwilioSettings {
    pub account_sid: Option<String>,
    pub auth_token: Option<Secret>,
    pub api_base: String,
    /// How long a webhook waits for the agent before answering empty TwiML; a slower reply
    /// goes out by REST. Twilio gives a webhook 15 s in all.
    pub reply_budget: Duration,
}

/// The default of `Settings::whisper_threads`.
pub const DEFAULT_WHISPER_THREADS: u32 = 2;

/// The default of `TwilioSettings::reply_budget`.
pub const DEFAULT_TWILIO_REPLY_BUDGET: Duration = Duration::from_secs(10);

/// Declares [`RawSettings`] from its one list of fields, and from the same list [`KEYS`] and
/// the field-by-field merge [`RawSettings::over`].
macro_rules! raw_settings {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $($(#[$doc:meta])* $fvis:vis $field:ident: $ty:ty,)*
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $($(#[$doc])* $fvis $field: $ty,)*
        }

        /// Every setting's key: in the config file as is, in the environment as
        /// `FRONTDESK_<KEY>` (upper case). One per field of [`RawSettings`]; the README's table
        /// lists them all (both checked by tests).
        pub const KEYS: &[&str] = &[$(stringify!($field)),*];

        impl $name {
            /// Values in `self` win over `lower`.
            pub fn over(self, lower: $name) -> $name {
                $name {
                    $($field: self.$field.or(lower.$field),)*
                }
            }
        }
    };
}

raw_settings! {
    /// The raw, optional values from each source, merged field by field.
    #[derive(Debug, Default, Clone, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct RawSettings {
        pub database_url: Option<String>,
        pub db_max_connections: Option<u32>,
        pub bind: Option<String>,
        pub public_url: Option<String>,
        pub clock: Option<String>,
        pub seed_demo: Option<bool>,
        pub request_timeout_secs: Option<u64>,
        pub body_limit_bytes: Option<usize>,
        pub twilio_account_sid: Option<String>,
        pub twilio_auth_token: Option<Secret>,
        pub twilio_api_base: Option<String>,
        /// Milliseconds; at most 14 000 (Twilio's 15 s limit, less a margin).
        pub twilio_reply_budget_ms: Option<u64>,
        /// `builtin` (default) or `openai` (any OpenAI-compatible endpoint).
        pub model: Option<String>,
        pub openai_base_url: Option<String>,
        pub openai_model: Option<String>,
        pub openai_api_key: Option<Secret>,
        pub openai_timeout_secs: Option<u64>,
        /// US dollars per 1,000 prompt (input) tokens, for the cost metric.
        pub openai_usd_per_1k_prompt_tokens: Option<f64>,
        /// US dollars per 1,000 completion (output) tokens.
        pub openai_usd_per_1k_completion_tokens: Option<f64>,
        pub whisper_model: Option<String>,
        pub whisper_threads: Option<u32>,
        /// Bearer token `GET /metrics` requires; unset: only loopback peers are served.
        pub metrics_token: Option<Secret>,
        /// Outbound webhooks may go to loopback and private addresses (default false).
        pub webhook_allow_private: Option<bool>,
        /// `on` (default) or `off` (load tests).
        pub rate_limits: Option<String>,
        /// Rates like `600/min,burst=100`.
        pub rate_limit_messages: Option<String>,
        pub rate_limit_portal_chat_customer: Option<String>,
        pub rate_limit_portal_chat_address: Option<String>,
        pub rate_limit_sms_replies: Option<String>,
        /// Stripe's REST base (default `https://api.stripe.com`; a loopback fake in tests).
        pub stripe_api_base: Option<String>,
        pub stripe_secret_key: Option<Secret>,
        /// The webhook endpoint's signing secret (`whsec_…`).
        pub stripe_webhook_secret: Option<Secret>,
        pub smtp_url: Option<Secret>,
        pub smtp_from: Option<String>,
        pub lease_secs: Option<i64>,
        /// `text` (default) or `json`.
        pub log_format: Option<String>,
        /// OTLP/HTTP collector base URL, e.g. `http://127.0.0.1:4318`.
        pub otlp_endpoint: Option<String>,
    }
}

impl RawSettings {
    /// The `FRONTDESK_<KEY>` variables among `vars`. A value is taken as text, or else as
    /// a whole number, a decimal number or a boolean when the key wants one; other
    /// `FRONTDESK_` variables (the config file's path, test settings) are not settings and
    /// are ignored.
    pub fn from_env(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<RawSettings> {
        let mut out = RawSettings::default();
        for (name, value) in vars {
            let Some(key) = name.strip_prefix("FRONTDESK_").map(str::to_ascii_lowercase) else {
                continue;
            };
            if !KEYS.contains(&key.as_str()) {
                continue;
            }
            let one = |v: toml::Value| {
                let mut t = toml::Table::new();
                t.insert(key.clone(), v);
                RawSettings::deserialize(t)
            };
            let parsed = one(toml::Value::String(value.clone()))
                .or_else(|e| match value.trim().parse::<i64>() {
                    Ok(n) => one(toml::Value::Integer(n)),
                    Err(_) => Err(e),
                })
                .or_else(|e| match value.trim().parse::<f64>() {
                    Ok(x) => one(toml::Value::Float(x)),
                    Err(_) => Err(e),
                })
                .or_else(|e| match value.trim().parse::<bool>() {
                    Ok(b) => one(toml::Value::Boolean(b)),
                    Err(_) => Err(e),
                })
                .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
            out = parsed.over(out);
        }
        Ok(out)
    }

    pub fn from_file(path: &Path) -> anyhow::Result<RawSettings> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
        toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("invalid config file {}: {e}", path.display()))
    }

    pub fn resolve(self) -> anyhow::Result<Settings> {
        let rate_limits = self.rate_limit_settings()?;
        let bind_raw = self.bind.unwrap_or_else(|| "127.0.0.1:8080".into());
        let bind: SocketAddr = bind_raw.parse().map_err(|_| {
            anyhow::anyhow!("FRONTDESK_BIND must be host:port with an IP host, got `{bind_raw}`")
        })?;
        let clock = match self
            .clock
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(s) => Clock::parse(s).map_err(|e| anyhow::anyhow!("FRONTDESK_CLOCK: {e}"))?,
            None => Clock::System,
        };
        let public_url = self
            .public_url
            .unwrap_or_else(|| format!("http://{bind}"))
            .trim_end_matches('/')
            .to_string();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            anyhow::bail!(
                "FRONTDESK_PUBLIC_URL must start with http:// or https://, got `{public_url}`"
            );
        }
        let reply_budget = match self.twilio_reply_budget_ms {
            None => DEFAULT_TWILIO_REPLY_BUDGET,
            Some(ms) if (1..=14_000).contains(&ms) => Duration::from_millis(ms),
            Some(ms) => anyhow::bail!(
                "FRONTDESK_TWILIO_REPLY_BUDGET_MS must be 1..=14000 (Twilio waits 15 s), got {ms}"
            ),
        };
        let model = match self.model.as_deref().unwrap_or("builtin") {
            "builtin" => ModelSettings::Builtin,
            "openai" => ModelSettings::OpenAi {
                base_url: self
                    .openai_base_url
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "FRONTDESK_OPENAI_BASE_URL is required with FRONTDESK_MODEL=openai"
                        )
                    })?
                    .trim_end_matches('/')
                    .to_string(),
                model: self.openai_model.ok_or_else(|| {
                    anyhow::anyhow!(
                        "FRONTDESK_OPENAI_MODEL is required with FRONTDESK_MODEL=openai"
                    )
                })?,
                api_key: self.openai_api_key.filter(|k| !k.expose().is_empty()),
                timeout: Duration::from_secs(self.openai_timeout_secs.unwrap_or(15)),
                usd_per_1k_prompt_tokens: price(
                    self.openai_usd_per_1k_prompt_tokens,
                    "FRONTDESK_OPENAI_USD_PER_1K_PROMPT_TOKENS",
                )?,
                usd_per_1k_completion_tokens: price(
                    self.openai_usd_per_1k_completion_tokens,
                    "FRONTDESK_OPENAI_USD_PER_1K_COMPLETION_TOKENS",
                )?,
            },
            other => anyhow::bail!("FRONTDESK_MODEL must be `builtin` or `openai`, got `{other}`"),
        };
        let whisper_threads = self.whisper_threads.unwrap_or(DEFAULT_WHISPER_THREADS);
        if !(1..=64).contains(&whisper_threads) {
            anyhow::bail!("FRONTDESK_WHISPER_THREADS must be 1 to 64, got {whisper_threads}");
        }
        let log_format = LogFormat::parse(self.log_format.as_deref().unwrap_or(""))?;
        let otlp_endpoint = otlp_endpoint(self.otlp_endpoint.as_deref())?;
        let lease_secs = self.lease_secs.unwrap_or(crate::outbound::LEASE_SECS);
        if !(5..=600).contains(&lease_secs) {
            anyhow::bail!("FRONTDESK_LEASE_SECS must be 5 to 600, got {lease_secs}");
        }
        Ok(Settings {
            rate_limits,
            smtp_url: self.smtp_url.filter(|s| !s.expose().trim().is_empty()),
            smtp_from: self
                .smtp_from
                .filter(|s| !s.trim().is_empty())
                .unwrap_or_else(|| "frontdesk <no-reply@localhost>".into()),
            lease_secs,
            log_format,
            otlp_endpoint,
            model,
            whisper_model: self.whisper_model,
            whisper_threads,
            metrics_token: self.metrics_token.filter(|s| !s.expose().trim().is_empty()),
            webhook_allow_private: self.webhook_allow_private.unwrap_or(false),
            stripe: StripeSettings {
                api_base: self
                    .stripe_api_base
                    .unwrap_or_else(|| "https://api.stripe.com".into())
                    .trim_end_matches('/')
                    .to_string(),
                secret_key: self.stripe_secret_key.filter(|s| !s.expose().is_empty()),
                webhook_secret: self
                    .stripe_webhook_secret
                    .filter(|s| !s.expose().is_empty()),
            },
            database_url: self
                .database_url
                .unwrap_or_else(|| default_database_url(Path::new("data"))),
            db_max_connections: self.db_max_connections.unwrap_or(10),
            bind,
            public_url,
            clock,
            seed_demo: self.seed_demo.unwrap_or(true),
            request_timeout: Duration::from_secs(self.request_timeout_secs.unwrap_or(30)),
            body_limit_bytes: self.body_limit_bytes.unwrap_or(256 * 1024),
            twilio: TwilioSettings {
                account_sid: self.twilio_account_sid.filter(|s| !s.is_empty()),
                auth_token: self.twilio_auth_token.filter(|s| !s.expose().is_empty()),
                api_base: self
                    .twilio_api_base
                    .unwrap_or_else(|| "https://api.twilio.com".into())
                    .trim_end_matches('/')
                    .to_string(),
                reply_budget,
            },
        })
    }
}

impl RawSettings {
    fn rate_limit_settings(&self) -> anyhow::Result<LimitSettings> {
        let enabled = match self.rate_limits.as_deref().map(str::trim) {
            None | Some("") | Some("on") => true,
            Some("off") => false,
            Some(other) => {
                anyhow::bail!("FRONTDESK_RATE_LIMITS must be `on` or `off`, got `{other}`")
            }
        };
        let mut out = LimitSettings {
            enabled,
            ..LimitSettings::default()
        };
        for (raw, env, slot) in [
            (
                &self.rate_limit_messages,
                "FRONTDESK_RATE_LIMIT_MESSAGES",
                &mut out.messages_per_token,
            ),
            (
                &self.rate_limit_portal_chat_customer,
                "FRONTDESK_RATE_LIMIT_PORTAL_CHAT_CUSTOMER",
                &mut out.portal_chat_per_customer,
            ),
            (
                &self.rate_limit_portal_chat_address,
                "FRONTDESK_RATE_LIMIT_PORTAL_CHAT_ADDRESS",
                &mut out.portal_chat_per_address,
            ),
            (
                &self.rate_limit_sms_replies,
                "FRONTDESK_RATE_LIMIT_SMS_REPLIES",
                &mut out.sms_replies_per_number,
            ),
        ] {
            if let Some(raw) = raw {
                *slot = Rate::parse(raw).map_err(|e| anyhow::anyhow!("{env}: {e}"))?;
            }
        }
        Ok(out)
    }
}

/// A price: finite and not negative.
fn price(value: Option<f64>, env: &str) -> anyhow::Result<Option<f64>> {
    match value {
        Some(p) if !(p.is_finite() && p >= 0.0) => {
            anyhow::bail!("{env} must be a price in US dollars (0 or more), got {p}")
        }
        other => Ok(other),
    }
}

/// The collector's base URL: empty is unset; otherwise http(s), without a trailing slash.
fn otlp_endpoint(value: Option<&str>) -> anyhow::Result<Option<String>> {
    let Some(url) = value.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let url = url.trim_end_matches('/');
    let host = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    match host {
        Some(rest) if !rest.is_empty() && !rest.contains(char::is_whitespace) => {
            Ok(Some(url.to_string()))
        }
        _ => anyhow::bail!(
            "FRONTDESK_OTLP_ENDPOINT must be an http:// or https:// base URL (e.g. \
             http://127.0.0.1:4318), got `{url}`"
        ),
    }
}

pub fn default_database_url(dir: &Path) -> String {
    let path: PathBuf = dir.join("frontdesk.db");
    format!("sqlite://{}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_precedence() {
        let s = RawSettings::default().resolve().expect("defaults");
        assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(s.database_url, "sqlite://data/frontdesk.db");
        assert_eq!(s.public_url, "http://127.0.0.1:8080");
        assert_eq!(s.clock, Clock::System);

        let file = RawSettings {
            bind: Some("127.0.0.1:9000".into()),
            public_url: Some("https://x.example/".into()),
            ..Default::default()
        };
        let env = RawSettings {
            bind: Some("0.0.0.0:7000".into()),
            ..Default::default()
        };
        let s = env.over(file).resolve().expect("merged");
        assert_eq!(s.bind.to_string(), "0.0.0.0:7000");
        assert_eq!(s.public_url, "https://x.example");
    }

    #[test]
    fn bad_values_are_named() {
        for (raw, needle) in [
            (
                RawSettings {
                    bind: Some("localhost".into()),
                    ..Default::default()
                },
                "FRONTDESK_BIND",
            ),
            (
                RawSettings {
                    clock: Some("yesterday".into()),
                    ..Default::default()
                },
                "FRONTDESK_CLOCK",
            ),
            (
                RawSettings {
                    public_url: Some("ftp://x".into()),
                    ..Default::default()
                },
                "FRONTDESK_PUBLIC_URL",
            ),
        ] {
            let err = raw.resolve().expect_err("must fail").to_string();
            assert!(err.contains(needle), "{err}");
        }
    }

    #[test]
    fn the_environment_sets_every_key_by_type() {
        let env = [
            ("FRONTDESK_BIND", "127.0.0.1:9001"),
            ("FRONTDESK_DB_MAX_CONNECTIONS", "3"),
            ("FRONTDESK_SEED_DEMO", "false"),
            ("FRONTDESK_TWILIO_AUTH_TOKEN", "12345"),
            ("FRONTDESK_RATE_LIMITS", "off"),
            ("FRONTDESK_TEST_PG_URL", "postgres://elsewhere"),
            ("PATH", "/bin"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let s = RawSettings::from_env(env)
            .expect("env")
            .resolve()
            .expect("ok");
        assert_eq!(s.bind.to_string(), "127.0.0.1:9001");
        assert_eq!(s.db_max_connections, 3);
        assert!(!s.seed_demo);
        // A number-looking secret stays text.
        assert_eq!(
            s.twilio.auth_token.as_ref().map(Secret::expose),
            Some("12345")
        );
        assert!(!s.rate_limits.enabled);
        let bad = RawSettings::from_env([("FRONTDESK_DB_MAX_CONNECTIONS".into(), "many".into())]);
        assert!(bad
            .expect_err("must fail")
            .to_string()
            .contains("FRONTDESK_DB_MAX_CONNECTIONS"));
    }

    #[test]
    fn every_key_is_a_field_and_every_field_a_key() {
        // A key that is no field is refused (`deny_unknown_fields`).
        for key in KEYS {
            let mut t = toml::Table::new();
            t.insert(key.to_string(), toml::Value::Boolean(true));
            let err = RawSettings::deserialize(t).err().map(|e| e.to_string());
            assert!(!err.unwrap_or_default().contains("unknown field"), "{key}");
        }
        // Every field of `RawSettings` is in KEYS.
        let src = include_str!("config.rs");
        let body = &src[src.find("pub struct RawSettings {").expect("present")..];
        let body = &body[..body.find("\n}\n").expect("present")];
        for line in body.lines().skip(1) {
            if let Some(field) = line
                .trim()
                .strip_prefix("pub ")
                .and_then(|l| l.split(':').next())
            {
                assert!(
                    KEYS.contains(&field),
                    "`{field}` is missing from config::KEYS"
                );
            }
        }
    }

    #[test]
    fn log_format_is_text_or_json() {
        let s = RawSettings::default().resolve().expect("defaults");
        assert_eq!(s.log_format, LogFormat::Text);
        let env = |v: &str| {
            RawSettings::from_env([("FRONTDESK_LOG_FORMAT".to_string(), v.to_string())])
                .expect("env")
                .resolve()
        };
        assert_eq!(env("json").expect("json").log_format, LogFormat::Json);
        assert_eq!(env("text").expect("text").log_format, LogFormat::Text);
        let file: RawSettings = toml::from_str("log_format = \"json\"").expect("file");
        assert_eq!(file.resolve().expect("ok").log_format, LogFormat::Json);
        for bad in ["JSON", "yaml", "1"] {
            let err = env(bad).expect_err("must fail").to_string();
            assert!(
                err.contains("FRONTDESK_LOG_FORMAT") && err.contains("`text` or `json`"),
                "{err}"
            );
            assert!(err.contains(bad), "the value is named: {err}");
        }
    }

    #[test]
    fn otlp_endpoint_is_an_http_base_url() {
        let s = RawSettings::default().resolve().expect("defaults");
        assert_eq!(s.otlp_endpoint, None, "no exporter unless configured");
        let env = |v: &str| {
            RawSettings::from_env([("FRONTDESK_OTLP_ENDPOINT".to_string(), v.to_string())])
                .expect("env")
                .resolve()
        };
        assert_eq!(
            env("http://127.0.0.1:4318/").expect("ok").otlp_endpoint,
            Some("http://127.0.0.1:4318".to_string())
        );
        assert_eq!(env("  ").expect("blank").otlp_endpoint, None);
        let file: RawSettings =
            toml::from_str("otlp_endpoint = \"https://otel.example\"").expect("file");
        assert_eq!(
            file.resolve().expect("ok").otlp_endpoint.as_deref(),
            Some("https://otel.example")
        );
        for bad in [
            "127.0.0.1:4318",
            "grpc://collector:4317",
            "http://",
            "http://a b",
        ] {
            let err = env(bad).expect_err("must fail").to_string();
            assert!(err.contains("FRONTDESK_OTLP_ENDPOINT"), "{err}");
        }
    }

    #[test]
    fn model_prices_are_decimal_numbers() {
        let env = [
            ("FRONTDESK_MODEL", "openai"),
            ("FRONTDESK_OPENAI_BASE_URL", "http://127.0.0.1:8000/v1"),
            ("FRONTDESK_OPENAI_MODEL", "m"),
            ("FRONTDESK_OPENAI_USD_PER_1K_PROMPT_TOKENS", "0.15"),
            ("FRONTDESK_OPENAI_USD_PER_1K_COMPLETION_TOKENS", "1"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let s = RawSettings::from_env(env)
            .expect("env")
            .resolve()
            .expect("ok");
        match s.model {
            ModelSettings::OpenAi {
                usd_per_1k_prompt_tokens,
                usd_per_1k_completion_tokens,
                ..
            } => {
                assert_eq!(usd_per_1k_prompt_tokens, Some(0.15));
                assert_eq!(usd_per_1k_completion_tokens, Some(1.0));
            }
            other => panic!("{other:?}"),
        }
        let negative = RawSettings {
            model: Some("openai".into()),
            openai_base_url: Some("http://127.0.0.1:8000/v1".into()),
            openai_model: Some("m".into()),
            openai_usd_per_1k_prompt_tokens: Some(-1.0),
            ..Default::default()
        };
        let err = negative.resolve().expect_err("must fail").to_string();
        assert!(
            err.contains("FRONTDESK_OPENAI_USD_PER_1K_PROMPT_TOKENS"),
            "{err}"
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let s = RawSettings {
            twilio_auth_token: Some(Secret::new("hunter2")),
            ..Default::default()
        }
        .resolve()
        .expect("ok");
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
