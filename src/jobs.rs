//! The job scheduler every instance runs: plan (reminders of upcoming visits, notices of
//! unpaid invoices), then claim what is due under a lease (`store::jobs`), run it
//! (`notices::run_job`), and on an error try again later with backoff (2, 4, 8 … seconds),
//! at most `MAX_ATTEMPTS` times. A job's messages are written in the transaction that
//! finishes it, by the runner whose lease still holds it, so each is queued once; the
//! outbox (`outbound`) then sends each row once.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::notices::{self, Ran};
use crate::store::{Job, Store, StoreResult};

/// Attempts before a job that keeps failing is given up (and logged).
pub const MAX_ATTEMPTS: i64 = 8;

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub planned: usize,
    pub claimed: usize,
    /// Messages queued in the outbox.
    pub queued: usize,
}

/// Plan, then run up to `limit` due jobs.
pub async fn run_pass(
    store: &Store,
    public_url: &str,
    now: DateTime<Utc>,
    limit: i64,
    lease_secs: i64,
) -> StoreResult<Pass> {
    let mut pass = Pass {
        planned: notices::plan_reminders(store, now).await?
            + notices::plan_invoice_notices(store, now).await?,
        ..Pass::default()
    };
    let jobs = store.claim_jobs(now, limit, lease_secs).await?;
    pass.claimed = jobs.len();
    for j in jobs {
        match notices::run_job(store, public_url, &j, now).await {
            Ok(Ran::Done(true)) => pass.queued += 1,
            Ok(Ran::Lost) => {
                tracing::warn!(
                    job = j.id,
                    "a job's lease expired before it finished; another runner has it"
                )
            }
            Ok(_) => {}
            Err(e) => retry_later(store, &j, &e.to_string()).await?,
        }
    }
    Ok(pass)
}

async fn retry_later(store: &Store, j: &Job, error: &str) -> StoreResult<()> {
    if j.attempts >= MAX_ATTEMPTS {
        tracing::error!(job = j.id, kind = %j.kind, attempts = j.attempts, error, "giving up on a job");
        let mut tx = store.begin().await?;
        if tx.finish_job(j, "failed", Some(error)).await? {
            tx.commit().await?;
        }
        return Ok(());
    }
    tracing::warn!(job = j.id, kind = %j.kind, error, "job failed; will retry");
    let backoff = 1i64 << j.attempts.clamp(1, 9);
    store
        .retry_job(j, crate::store::wall_now() + backoff, error)
        .await?;
    Ok(())
}

/// Run the scheduler until `stop` flips: a pass when woken and at least every `every`, at
/// once again while passes find a full batch. Queued messages wake the outbox sender.
pub async fn run_scheduler(
    store: Store,
    public_url: String,
    clock: crate::clock::Clock,
    outbox: Arc<tokio::sync::Notify>,
    lease_secs: i64,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    const BATCH: i64 = 100;
    loop {
        let mut full = false;
        match run_pass(&store, &public_url, clock.now(), BATCH, lease_secs).await {
            Ok(p) => {
                if p.queued > 0 {
                    outbox.notify_one();
                }
                full = p.claimed as i64 >= BATCH;
            }
            Err(e) => tracing::warn!(error = %e, "job scheduler pass failed"),
        }
        if full && !*stop.borrow() {
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => break,
        }
    }
}
