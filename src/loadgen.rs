//! `frontdesk bench load`: a load generator for a running frontdesk. C concurrent senders
//! post signed Twilio SMS webhooks (or `POST /api/v1/messages` with an integration token) for
//! D seconds, each sender as its own customer number, and the run prints throughput,
//! latency percentiles and errors. Loopback targets only; bounded in time and in count.
//!
//! With `--spawn` it starts the server itself ([`run_spawned`]): the same binary's `serve`
//! on a free loopback port, over a new SQLite file (or the empty PostgreSQL database given),
//! demo world, rate limits off; then one run per sender count, and what the server spent per
//! turn (CPU time; how often and how long it took SQLite's writer, or PostgreSQL's commits
//! and WAL syncs) and its peak memory.

use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::channels::twilio::signature::sign;
use crate::channels::twilio::sms::inbound_form;
use crate::search::bench::percentile;

/// What to send, where, and for how long.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Where the server listens (loopback only), e.g. `http://127.0.0.1:8080`.
    pub url: String,
    /// The public base URL the server signs against (`FRONTDESK_PUBLIC_URL`); `url` if unset.
    pub public_url: Option<String>,
    /// The tenant's Twilio auth token (signs the webhooks).
    pub twilio_auth_token: Option<String>,
    /// With a token: `POST /api/v1/messages` instead of the SMS webhook.
    pub api_token: Option<String>,
    /// The tenant number customers write to.
    pub to: String,
    pub senders: usize,
    pub seconds: u64,
    /// Stop after this many requests in all, whatever the time.
    pub max_requests: usize,
}

/// The questions senders cycle through: answered from the catalog and the hours, so each
/// request is a full turn (identity by caller id, tools, reply) without changing the world.
const TEXTS: &[&str] = &[
    "how much is mosquito service?",
    "what are your hours?",
    "do you treat for ants",
    "how much for a termite inspection",
];

#[derive(Default)]
struct SenderResult {
    latencies: Vec<Duration>,
    errors: usize,
    first_error: Option<String>,
}

/// Refuse anything but a loopback target: this tool generates load.
fn loopback_only(url: &str) -> anyhow::Result<reqwest::Url> {
    let parsed = reqwest::Url::parse(url).with_context(|| format!("`{url}` is not a URL"))?;
    let host = parsed.host_str().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    anyhow::ensure!(loopback, "bench load targets loopback only, not `{host}`");
    Ok(parsed)
}

pub async fn run(opts: LoadOptions) -> anyhow::Result<String> {
    Ok(run_counted(opts).await?.0)
}

/// [`run`], also returning how many requests succeeded.
async fn run_counted(opts: LoadOptions) -> anyhow::Result<(String, usize)> {
    let base = loopback_only(&opts.url)?;
    let base = base.as_str().trim_end_matches('/').to_string();
    let public = opts
        .public_url
        .clone()
        .unwrap_or_else(|| base.clone())
        .trim_end_matches('/')
        .to_string();
    anyhow::ensure!(opts.senders > 0, "--senders must be at least 1");
    if opts.api_token.is_none() {
        anyhow::ensure!(
            opts.twilio_auth_token.is_some(),
            "signing SMS webhooks needs the tenant's Twilio auth token (FRONTDESK_TWILIO_AUTH_TOKEN)"
        );
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(opts.senders)
        .build()?;
    let deadline = Instant::now() + Duration::from_secs(opts.seconds.max(1));
    let per_sender = opts.max_requests.div_ceil(opts.senders).max(1);
    // Message ids are new in every run: a later run of the same process (`--spawn` with a
    // list of sender counts) re-sending an earlier run's ids would be answered as
    // redeliveries, without turns.
    static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let run_id = std::process::id();
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(opts.senders);
    for s in 0..opts.senders {
        let (http, base, public, opts) = (http.clone(), base.clone(), public.clone(), opts.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = SenderResult::default();
            // A number of its own per sender (a stranger to the demo world: asks general
            // questions, which the agent answers without verification).
            let from = format!(
                "+1512{:07}",
                7_000_000 + (run_id as usize % 1000) * 1000 + s
            );
            for i in 0..per_sender {
                if Instant::now() >= deadline {
                    break;
                }
                let text = TEXTS[(s + i) % TEXTS.len()];
                let sid = format!("SMload{run_id:x}r{run}s{s}n{i}");
                let t0 = Instant::now();
                let res = match &opts.api_token {
                    Some(token) => {
                        http.post(format!("{base}/api/v1/messages"))
                            .bearer_auth(token)
                            .json(&serde_json::json!({
                                "channel": "sms", "from": from, "to": opts.to,
                                "text": text, "external_id": sid,
                            }))
                            .send()
                            .await
                    }
                    None => {
                        let params = inbound_form(&sid, &from, &opts.to, text);
                        let url = format!("{public}/twilio/sms");
                        let signature = sign(
                            opts.twilio_auth_token.as_deref().unwrap_or(""),
                            &url,
                            &params,
                        );
                        http.post(format!("{base}/twilio/sms"))
                            .header(crate::channels::twilio::signature::HEADER, signature)
                            .form(&params)
                            .send()
                            .await
                    }
                };
                let ok = match res {
                    Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
                    Ok(r) => {
                        out.first_error
                            .get_or_insert_with(|| format!("HTTP {}", r.status()));
                        false
                    }
                    Err(e) => {
                        out.first_error.get_or_insert_with(|| e.to_string());
                        false
                    }
                };
                if ok {
                    out.latencies.push(t0.elapsed());
                } else {
                    out.errors += 1;
                }
            }
            out
        }));
    }
    let mut latencies = Vec::new();
    let (mut errors, mut first_error) = (0, None);
    for t in tasks {
        let r = t.await?;
        latencies.extend(r.latencies);
        errors += r.errors;
        first_error = first_error.or(r.first_error);
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mut report = format!(
        "bench load: {} senders, {:.1} s, {} ok, {} errors, {:.0} req/s\n\
         latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
        opts.senders,
        elapsed.as_secs_f64(),
        latencies.len(),
        errors,
        latencies.len() as f64 / elapsed.as_secs_f64(),
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.90)),
        ms(percentile(&latencies, 0.99)),
        ms(latencies.last().copied().unwrap_or_default()),
    );
    if let Some(e) = first_error {
        report.push_str(&format!("\nfirst error: {e}"));
    }
    Ok((report, latencies.len()))
}

/// What a spawned server is loaded with: one run per entry of `senders`.
#[derive(Debug, Clone)]
pub struct SpawnOptions {
    /// An empty PostgreSQL database for the server (it seeds the demo world); a new SQLite
    /// file in a temporary folder when unset.
    pub database_url: Option<String>,
    pub senders: Vec<usize>,
    pub seconds: u64,
    pub max_requests: usize,
    pub to: String,
}

/// Start `frontdesk serve` (this binary), load it once per sender count, report each run
/// with the server's CPU time and SQLite writer time per turn, then its peak memory.
pub async fn run_spawned(opts: SpawnOptions) -> anyhow::Result<String> {
    use crate::instance::{free_port, Instance};
    anyhow::ensure!(
        !opts.senders.is_empty(),
        "--senders needs at least one count"
    );
    let dir = std::env::temp_dir().join(format!("frontdesk-bench-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let outcome = async {
        let port = free_port()?;
        let base = format!("http://127.0.0.1:{port}");
        let token = crate::auth::generate_token()?;
        let db = match &opts.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", dir.join("frontdesk.db").display()),
        };
        let env = [
            ("FRONTDESK_DATABASE_URL", db),
            ("FRONTDESK_PUBLIC_URL", base.clone()),
            ("FRONTDESK_TWILIO_ACCOUNT_SID", format!("AC{:032}", 0)),
            ("FRONTDESK_TWILIO_AUTH_TOKEN", token.clone()),
            // Replies are answered inline; nothing may leave the machine.
            (
                "FRONTDESK_TWILIO_API_BASE",
                format!("http://127.0.0.1:{}", free_port()?),
            ),
            ("FRONTDESK_WHISPER_MODEL", "off".to_string()),
            ("FRONTDESK_RATE_LIMITS", "off".to_string()),
            ("FRONTDESK_METRICS_TOKEN", token.clone()),
            ("RUST_LOG", "warn".to_string()),
        ];
        let server = Instance::start(
            &std::env::current_exe()?,
            port,
            &[],
            &env,
            &dir.join("server.log"),
        )
        .await?;
        let http = reqwest::Client::new();
        let pg = opts
            .database_url
            .as_deref()
            .filter(|url| url.starts_with("postgres"));
        wait_until_idle(&http, &base, &token, pg).await?;
        let mut report = String::new();
        for &senders in &opts.senders {
            let before = (
                server.cpu_time(),
                writer_use(&http, &base, &token).await?,
                pg_commits(pg).await?,
            );
            let (text, turns) = run_counted(LoadOptions {
                url: base.clone(),
                public_url: None,
                twilio_auth_token: Some(token.clone()),
                api_token: None,
                to: opts.to.clone(),
                senders,
                seconds: opts.seconds,
                max_requests: opts.max_requests,
            })
            .await?;
            let after = (
                server.cpu_time(),
                writer_use(&http, &base, &token).await?,
                pg_commits(pg).await?,
            );
            report.push_str(&text);
            let turns = turns.max(1) as f64;
            let per_turn = |secs: f64| secs * 1000.0 / turns;
            if let (Some(b), Some(a)) = (before.0, after.0) {
                report.push_str(&format!(
                    "\nserver CPU per turn: {:.2} ms",
                    per_turn((a - b).as_secs_f64())
                ));
            }
            let (b, a) = (before.1, after.1);
            if a.taken > b.taken {
                report.push_str(&format!(
                    "; SQLite writer taken {:.2} times, held {:.2} ms, waited for {:.2} ms",
                    (a.taken - b.taken) / turns,
                    per_turn(a.held - b.held),
                    per_turn(a.waited - b.waited)
                ));
            }
            if let (Some(b), Some(a)) = (before.2, after.2) {
                report.push_str(&format!(
                    "; PostgreSQL {:.2} commits, {:.2} WAL syncs",
                    (a.0 - b.0) as f64 / turns,
                    (a.1 - b.1) as f64 / turns
                ));
            }
            report.push('\n');
        }
        if let Some(peak) = server.peak_rss() {
            report.push_str(&format!(
                "server peak resident memory: {:.1} MB\n",
                peak as f64 / 1e6
            ));
        }
        Ok::<_, anyhow::Error>(report)
    }
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

/// How much the server has used SQLite's writer so far (all 0 on PostgreSQL).
#[derive(Clone, Copy)]
struct WriterUse {
    /// Times a write took it (a transaction or a statement of its own).
    taken: f64,
    /// Seconds it was held, and seconds writes waited for it.
    held: f64,
    waited: f64,
}

/// The server's `frontdesk_store_writer_{held,wait}_seconds` histograms.
async fn writer_use(http: &reqwest::Client, base: &str, token: &str) -> anyhow::Result<WriterUse> {
    let text = http
        .get(format!("{base}/metrics"))
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    let sum = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Ok(WriterUse {
        taken: sum("frontdesk_store_writer_held_seconds_count{}"),
        held: sum("frontdesk_store_writer_held_seconds_sum{}"),
        waited: sum("frontdesk_store_writer_wait_seconds_sum{}"),
    })
}

/// PostgreSQL's commits and WAL syncs so far (`store::pg_commits_and_syncs`), when the
/// server runs on PostgreSQL.
async fn pg_commits(url: Option<&str>) -> anyhow::Result<Option<(i64, i64)>> {
    Ok(match url {
        Some(url) => Some(crate::store::pg_commits_and_syncs(url).await?),
        None => None,
    })
}

/// Wait (at most 60 s) until the server's start-up work is done — a second without a
/// write (SQLite's writer untouched, no WAL sync on PostgreSQL) — so the first run's
/// figures are the turns' own.
async fn wait_until_idle(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    pg: Option<&str>,
) -> anyhow::Result<()> {
    let until = Instant::now() + Duration::from_secs(60);
    let writes = || async {
        let taken = writer_use(http, base, token).await?.taken;
        let syncs = pg_commits(pg).await?.map(|(_, syncs)| syncs);
        anyhow::Ok((taken, syncs))
    };
    let mut last = writes().await?;
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = writes().await?;
        if now == last {
            break;
        }
        last = now;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::loopback_only;

    #[test]
    fn only_loopback_targets_are_accepted() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://localhost:1",
            "http://[::1]:9",
        ] {
            assert!(loopback_only(ok).is_ok(), "{ok}");
        }
        for bad in ["http://10.0.0.1:8080", "https://example.com", "not a url"] {
            assert!(loopback_only(bad).is_err(), "{bad}");
        }
    }
}
