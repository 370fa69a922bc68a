//! `frontdesk bench`: measured figures for BENCHMARKS.md. Numbers are printed, never
//! asserted. Each benchmark builds its own world (a new tenant, or a temporary database).

use std::time::{Duration, Instant};

use crate::agent::{Caller, Inbound};
use crate::config::RawSettings;
use crate::domain::Channel;
use crate::search::bench::percentile;
use crate::store::Store;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Caller lookup and search latency on `customers` generated customers in a new tenant of
/// `database_url` (PostgreSQL adds the trigram comparison unless `trigram` is off); with
/// `index_only`, no store: the index is filled directly and only searches are timed.
pub async fn search(
    database_url: &str,
    customers: usize,
    queries: usize,
    trigram: bool,
    index_only: bool,
) -> anyhow::Result<String> {
    if index_only {
        let report = tokio::task::spawn_blocking(move || {
            crate::search::bench::bench_queries(customers, queries, 42, None)
        })
        .await??;
        return Ok(report.to_string());
    }
    let store = Store::connect(database_url, 4).await?;
    let bench =
        crate::search::bench::bench_with_store(&store, customers, queries, 42, trigram).await?;
    store.close().await;
    let mut out = format!(
        "{}: caller lookup plan: {}\n",
        store.backend_name(),
        bench.phone_plan.join(" / ")
    );
    out.push_str(
        &bench
            .reports
            .iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
    );
    Ok(out)
}

/// Turn overhead with the built-in model: `conversations` customers each send a short
/// scripted exchange (a reschedule request, a pick, a yes, a price question) through the full
/// runtime on `database_url` (a fresh SQLite file when `None`).
pub async fn turns(database_url: Option<String>, conversations: usize) -> anyhow::Result<String> {
    const CLOCK: &str = "2026-11-23T20:15:00-06:00";
    let dir = std::env::temp_dir().join(format!("frontdesk-bench-{}", std::process::id()));
    let url = database_url.unwrap_or_else(|| crate::config::default_database_url(&dir));
    let settings = RawSettings {
        database_url: Some(url.clone()),
        clock: Some(CLOCK.into()),
        ..Default::default()
    }
    .resolve()?;
    let store = Store::connect(&url, 10).await?;
    let state = crate::app::build_state(settings, store.clone()).await?;
    let tenant = store
        .tenant_by_slug("demo")
        .await?
        .ok_or_else(|| anyhow::anyhow!("demo tenant missing"))?;
    // Real customers with exactly one phone and one property: every turn does real work
    // (identity by caller id, appointments, windows, a proposal, a write, a quote).
    let (page, _) = store.list_customers(tenant.id, 1, 500).await?;
    let mut phones = Vec::new();
    for c in page.iter().filter(|c| c.phones.len() == 1) {
        let single_owner = store
            .customers_by_phone(tenant.id, &c.phones[0])
            .await?
            .len()
            == 1;
        if single_owner && store.properties(tenant.id, c.id).await?.len() == 1 {
            phones.push(c.phones[0].to_string());
        }
    }
    anyhow::ensure!(
        !phones.is_empty(),
        "no demo customer with a single phone and property"
    );
    let script = [
        "hi, can u move my appt to next week",
        "the first one",
        "yes",
        "how much is mosquito service?",
    ];
    let mut samples = Vec::with_capacity(conversations * script.len());
    let started = Instant::now();
    for i in 0..conversations {
        let from = phones[i % phones.len()].clone();
        for (j, text) in script.iter().enumerate() {
            let t = Instant::now();
            state
                .agent
                .handle(Inbound {
                    tenant: tenant.id,
                    channel: Channel::Sms,
                    participant: from.clone(),
                    text: (*text).to_string(),
                    external_id: Some(format!("bench-{}-{i}-{j}", std::process::id())),
                    media: vec![],
                    caller: Caller::phone(&from, true),
                    reply_from: None,
                })
                .await?;
            samples.push(t.elapsed());
        }
    }
    let wall = started.elapsed();
    let n = samples.len();
    samples.sort();
    store.close().await;
    if url.starts_with("sqlite") {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(format!(
        "turns: {n} turns ({conversations} conversations) on {}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {:.0} turns/s (sequential)",
        if url.starts_with("sqlite") { "SQLite" } else { "PostgreSQL" },
        ms(percentile(&samples, 0.50)),
        ms(percentile(&samples, 0.99)),
        ms(percentile(&samples, 1.0)),
        n as f64 / wall.as_secs_f64()
    ))
}

/// The language layer alone: every scripted customer message of the scenarios under `paths`,
/// read `rounds` times with each scenario's clock as the built-in model reads it
/// (`agent::builtin::understand`, then `normalized` as its reply rules do). Sequential, one
/// thread; the first round warms the tables and is not timed.
pub fn understand(paths: &[std::path::PathBuf], rounds: usize) -> anyhow::Result<String> {
    use crate::agent::builtin;
    let scenarios = crate::eval::scenario::load_all(paths)?;
    let mut messages: Vec<(String, builtin::Context)> = Vec::new();
    for s in &scenarios {
        let now = chrono::DateTime::parse_from_rfc3339(&s.clock)?.naive_local();
        messages.extend(
            s.turns
                .iter()
                .map(|t| (t.clone(), builtin::Context::new(now))),
        );
    }
    anyhow::ensure!(!messages.is_empty(), "no scripted customer messages found");
    let mut checksum = 0usize;
    let read_all = |checksum: &mut usize| {
        for (text, ctx) in &messages {
            let u = builtin::understand(std::hint::black_box(text), ctx);
            *checksum += u.intents.len() + builtin::normalized(text).len();
        }
    };
    read_all(&mut checksum);
    let started = Instant::now();
    for _ in 0..rounds {
        read_all(&mut checksum);
    }
    let wall = started.elapsed();
    let n = messages.len() * rounds;
    Ok(format!(
        "understand: {} messages from {} scenarios x {rounds} rounds: {:.2} us/message, {:.0} messages/s (one thread; checksum {checksum})",
        messages.len(),
        scenarios.len(),
        wall.as_secs_f64() * 1e6 / n.max(1) as f64,
        n as f64 / wall.as_secs_f64().max(f64::MIN_POSITIVE),
    ))
}
