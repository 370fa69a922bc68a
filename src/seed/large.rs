//! Large generated tenants for load and search tests: the demo tenant's zones, catalog,
//! technicians and windows, plus N generated customers (phone, e-mail, one property each;
//! about 3% share a phone with the customer before them, like a family), loaded in bulk.
//!
//! Each customer is a pure function of the tenant slug and its index, so a load is
//! reproducible and batches need no shared state.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use chrono::{DateTime, Utc};

use super::fixtures::{Fixtures, People};
use super::rng::SplitMix64;
use super::scaffold::{self, ZoneCtx};
use crate::domain::{CustomerStatus, PhoneE164, PropertyKind, TenantId};
use crate::store::{NewCustomer, NewProperty, Store};

/// The PRNG seed of generated tenants ("LARGESEE").
const SEED: u64 = 0x4C41_5247_4553_4545;
/// Customers per transaction.
const BATCH: usize = 20_000;
/// Progress is reported every this many customers.
const REPORT_EVERY: usize = 100_000;
/// Distinct phone numbers the generator can produce (two area codes × 8M local numbers).
const PHONE_SPACE: u64 = 16_000_000;
/// Odd and not a multiple of 5, hence coprime with `PHONE_SPACE`: `i ↦ i·M + C mod SPACE`
/// is a bijection, so distinct indexes get distinct numbers.
const PHONE_MULTIPLIER: u64 = 7_919_351;
const PHONE_OFFSET: u64 = 1_234_567;
/// Percent of customers who share the previous customer's phone.
const SHARED_PHONE_PERCENT: u64 = 3;

/// Where a large load stands.
#[derive(Debug, Clone, Copy)]
pub struct LargeProgress {
    pub done: usize,
    pub total: usize,
    pub elapsed: Duration,
}

impl LargeProgress {
    pub fn rows_per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.done as f64 / secs
        } else {
            0.0
        }
    }
}

/// Create tenant `slug` with `customers` generated customers; progress goes to `tracing`
/// every 100,000 customers. Fails if the slug is taken.
pub async fn seed_large(
    store: &Store,
    now: DateTime<Utc>,
    slug: &str,
    customers: usize,
) -> anyhow::Result<TenantId> {
    seed_large_with_progress(store, now, slug, customers, |p| {
        tracing::info!(
            done = p.done,
            total = p.total,
            elapsed_ms = p.elapsed.as_millis() as u64,
            per_second = p.rows_per_second() as u64,
            "generated customers loaded"
        );
    })
    .await
}

/// [`seed_large`] with a progress callback, called every 100,000 customers and once at the
/// end (after the indexes are settled).
pub async fn seed_large_with_progress(
    store: &Store,
    now: DateTime<Utc>,
    slug: &str,
    customers: usize,
    mut progress: impl FnMut(&LargeProgress),
) -> anyhow::Result<TenantId> {
    if slug.is_empty()
        || slug.len() > 64
        || !slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        bail!("tenant slug `{slug}`: use 1-64 characters a-z, 0-9, - or _");
    }
    if customers as u64 > PHONE_SPACE {
        bail!("at most {PHONE_SPACE} generated customers per tenant");
    }
    if store.tenant_by_slug(slug).await?.is_some() {
        bail!("a tenant with slug `{slug}` already exists");
    }
    let fx = Fixtures::load()?;
    let mut template = fx.tenant(super::demo::DEMO_SLUG)?.clone();
    template.slug = slug.to_string();
    template.name = format!("Generated tenant {slug}");
    template.numbers.clear();
    template.operators.clear();
    template.generated_customers = customers;
    let w = scaffold::build(store, &template, &fx.catalog, now).await?;
    let gen = Generator {
        people: &fx.people,
        zones: &w.zones,
        state: &w.state,
        seed: SplitMix64::from_text(SEED, slug).next_u64(),
    };
    let started = Instant::now();
    let mut done = 0;
    let mut next_report = REPORT_EVERY;
    while done < customers {
        let n = BATCH.min(customers - done);
        let batch = (done..done + n)
            .map(|i| gen.customer(i))
            .collect::<anyhow::Result<Vec<_>>>()?;
        store
            .bulk_load_customers(w.tenant, &batch, now.timestamp())
            .await?;
        done += n;
        if done >= next_report && done < customers {
            progress(&LargeProgress {
                done,
                total: customers,
                elapsed: started.elapsed(),
            });
            while next_report <= done {
                next_report += REPORT_EVERY;
            }
        }
    }
    store.finish_bulk_load().await?;
    progress(&LargeProgress {
        done,
        total: customers,
        elapsed: started.elapsed(),
    });
    Ok(w.tenant)
}

struct Generator<'a> {
    people: &'a People,
    zones: &'a [ZoneCtx],
    state: &'a str,
    seed: u64,
}

impl Generator<'_> {
    fn rng(&self, i: usize, stream: u64) -> SplitMix64 {
        SplitMix64::new(
            self.seed
                ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03),
        )
    }

    fn shares_previous_phone(&self, i: usize) -> bool {
        i > 0 && self.rng(i, 1).percent(SHARED_PHONE_PERCENT)
    }

    /// The index whose phone customer `i` uses: its own, or (for family members) the first
    /// customer of its run of sharers.
    fn phone_owner(&self, i: usize) -> usize {
        let mut j = i;
        while self.shares_previous_phone(j) {
            j -= 1;
        }
        j
    }

    fn phone(&self, owner: usize) -> anyhow::Result<PhoneE164> {
        let p = ((owner as u64 % PHONE_SPACE) * PHONE_MULTIPLIER + PHONE_OFFSET) % PHONE_SPACE;
        let area = if p < PHONE_SPACE / 2 { 512 } else { 737 };
        let local = p % (PHONE_SPACE / 2);
        let exchange = 200 + local / 10_000;
        let line = local % 10_000;
        PhoneE164::parse(&format!("+1{area}{exchange:03}{line:04}"))
            .map_err(|e| anyhow!("generated phone: {e}"))
    }

    fn last_name(&self, i: usize) -> &str {
        let mut r = self.rng(i, 2);
        r.pick(&self.people.last_names).as_str()
    }

    fn customer(&self, i: usize) -> anyhow::Result<NewCustomer> {
        let mut r = self.rng(i, 3);
        let owner = self.phone_owner(i);
        // Family members usually share the surname of the phone's owner.
        let last = if owner != i && r.percent(70) {
            self.last_name(owner)
        } else {
            self.last_name(i)
        }
        .to_string();
        let first = r.pick(&self.people.first_names).clone();
        let domain = r.pick(&self.people.email_domains);
        let email = format!("{first}.{last}{}@{domain}", i % 1000).to_lowercase();
        let zone = &self.zones[r.index(self.zones.len())];
        let street = r.pick(&zone.streets);
        let status = match r.below(100) {
            0..=91 => CustomerStatus::Active,
            92..=96 => CustomerStatus::Inactive,
            _ => CustomerStatus::Prospect,
        };
        Ok(NewCustomer {
            first_name: first,
            last_name: last,
            company: None,
            status,
            autopay: status == CustomerStatus::Active && r.percent(35),
            phones: vec![self.phone(owner)?],
            emails: vec![email],
            properties: vec![NewProperty {
                street: format!("{} {}", r.range(100, 19999), street.name),
                city: street.city.clone(),
                state: self.state.to_string(),
                zip: street.zip.clone(),
                zone_id: zone.id,
                sq_ft: Some(r.range(90, 480) * 10),
                kind: PropertyKind::Residential,
            }],
        })
    }
}
