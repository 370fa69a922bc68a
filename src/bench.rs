//! `frontdesk bench`: measured figures for BENCHMARKS.md. Numbers are printed, never
//! asserted. Each benchmark builds its own world in a temporary database.

use std::time::{Duration, Instant};

use crate::agent::Inbound;
use crate::config::RawSettings;
use crate::domain::Channel;
use crate::store::Store;

/// Latency percentiles of a sample, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Percentiles {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

pub fn percentiles(samples: &mut [Duration]) -> Percentiles {
    samples.sort();
    let at = |q: f64| {
        if samples.is_empty() {
            return 0.0;
        }
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[i].as_secs_f64() * 1000.0
    };
    Percentiles {
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        max_ms: at(1.0),
    }
}

/// Turn overhead with the built-in model: `conversations` demo customers (their phones on
/// file) each send a short scripted exchange (a reschedule request, a pick, a yes, a price
/// question) through the full runtime on `database_url` (a fresh SQLite file when `None`).
pub async fn turns(database_url: Option<String>, conversations: usize) -> anyhow::Result<String> {
    let dir = std::env::temp_dir().join(format!("frontdesk-bench-{}", std::process::id()));
    let url = database_url.unwrap_or_else(|| crate::config::default_database_url(&dir));
    let settings = RawSettings {
        database_url: Some(url.clone()),
        clock: Some("2026-11-23T20:15:00-06:00".into()),
        ..Default::default()
    }
    .resolve()?;
    let store = Store::connect(&url, 10).await?;
    let state = crate::app::build_state(settings, store.clone()).await?;
    let tenant = store
        .tenant_by_slug("demo")
        .await?
        .ok_or_else(|| anyhow::anyhow!("demo tenant missing"))?;
    let script = [
        "hi, can u move my appt to next week",
        "the first one",
        "yes",
        "how much is mosquito service?",
    ];
    // Real demo customers, one phone each (a phone on file verifies by SMS), so turns list
    // appointments, search windows, reschedule and quote against real rows.
    let mut phones: Vec<String> = Vec::new();
    let mut page = 1;
    while phones.len() < conversations && page <= 100 {
        let (customers, _) = store.list_customers(tenant.id, page, 100).await?;
        if customers.is_empty() {
            break;
        }
        for c in customers {
            if let Some(p) = c.phones.first() {
                let p = p.to_string();
                if !phones.contains(&p) {
                    phones.push(p);
                }
            }
        }
        page += 1;
    }
    if phones.is_empty() {
        anyhow::bail!("the demo tenant has no customer phones");
    }
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
                    external_id: Some(format!("bench-{i}-{j}")),
                    media: vec![],
                    portal_customer: None,
                })
                .await?;
            samples.push(t.elapsed());
        }
    }
    let wall = started.elapsed();
    let n = samples.len();
    let p = percentiles(&mut samples);
    store.close().await;
    if url.starts_with("sqlite") {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(format!(
        "turns: {n} turns ({conversations} conversations) on {}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {:.0} turns/s (sequential)",
        if url.starts_with("sqlite") { "SQLite" } else { "PostgreSQL" },
        p.p50_ms,
        p.p99_ms,
        p.max_ms,
        n as f64 / wall.as_secs_f64()
    ))
}
