//! The demo world: Greenleaf Pest Control in Austin (the `demo` tenant) with a few hundred
//! customers, six months of history, four weeks of bookings, billing, agreements and portal
//! activity, the named hard cases of `fixtures/demo/README.md`, and a second tenant
//! (`northwind`) that proves tenant isolation.
//!
//! Everything is placed relative to `now` and drawn from a fixed-seed PRNG, so the same `now`
//! always gives the same world. Appointments go through `Store::book_appointment`, so they
//! take real capacity.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use anyhow::{anyhow, Context};
use chrono::{DateTime, Duration, Months, NaiveDate, Utc};
use serde::Serialize;
use serde_json::json;

use super::fixtures::{Fixtures, HardCase, TenantFx};
use super::rng::SplitMix64;
use super::scaffold::{self, Scaffold, CAPACITY, DAYS_AFTER, DAYS_BEFORE};
use crate::domain::{
    AgreementStatus, AppointmentId, AppointmentStatus, Cents, CustomerId, CustomerStatus,
    InvoiceStatus, PhoneE164, PortalEventKind, PropertyId, PropertyKind, SignatureStatus, SlotId,
    TechnicianId, TenantId, UserId, ZoneId,
};
use crate::store::{
    NewAgreement, NewAppointment, NewCustomer, NewInvoice, NewPayment, NewPortalEvent, NewProperty,
    NewVisit, Store, StoreError, TenantCounts,
};

pub const DEMO_SLUG: &str = "demo";
pub const NORTHWIND_SLUG: &str = "northwind";

/// The PRNG seed of the demo world ("GREENLEA").
const SEED: u64 = 0x4752_4545_4E4C_4541;
/// Days of service history behind `now`.
const HISTORY_DAYS: i64 = 182;
/// Generated bookings stop at this many stops per window, so most windows keep room.
const SOFT_CAP: i64 = 4;
/// One-time services generated customers have had (or book).
const ONE_TIME: [&str; 8] = [
    "GPO", "ANT", "ROACH", "WASP", "SCORP", "RODI", "TERMI", "BEDI",
];
const PAYMENT_METHODS: [&str; 3] = ["check", "card_by_phone", "ach"];

/// What the demo seed produced (or found): the tenants, the named hard-case customers and
/// operators, and the facts tests and demos lean on.
#[derive(Debug, Clone, Serialize)]
pub struct DemoSummary {
    /// False when the demo tenant already existed and nothing was written.
    pub created: bool,
    pub demo: TenantId,
    pub northwind: TenantId,
    pub maria_garcia: CustomerId,
    pub jose_garcia: CustomerId,
    pub dana_whitfield: CustomerId,
    pub john_smith: CustomerId,
    pub jon_smith: CustomerId,
    pub jon_smyth: CustomerId,
    pub jane_smythe: CustomerId,
    pub eleanor_price: CustomerId,
    pub tom_becker: CustomerId,
    pub rachel_kim: CustomerId,
    pub greg_holloway: CustomerId,
    pub northwind_john_smith: CustomerId,
    pub olivia_reyes: UserId,
    pub carlos_mendez: UserId,
    /// Rachel Kim's one upcoming appointment (none once `now` has moved past it).
    pub rachel_kim_appointment: Option<AppointmentId>,
    /// Jose Garcia's upcoming appointment, less than 48 hours away when seeded.
    pub jose_garcia_appointment: Option<AppointmentId>,
    /// Demo windows ahead of `now` with no stop left.
    pub full_windows: Vec<SlotId>,
    pub counts: TenantCounts,
    pub northwind_counts: TenantCounts,
}

impl fmt::Display for DemoSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.counts;
        if self.created {
            writeln!(
                f,
                "seeded demo tenant `{DEMO_SLUG}` (id {}) and `{NORTHWIND_SLUG}` (id {})",
                self.demo, self.northwind
            )?;
        } else {
            writeln!(
                f,
                "demo tenant `{DEMO_SLUG}` already exists (id {}); nothing seeded",
                self.demo
            )?;
        }
        writeln!(
            f,
            "  {} customers, {} properties, {} zones, {} technicians, {} services",
            c.customers, c.properties, c.zones, c.technicians, c.services
        )?;
        writeln!(
            f,
            "  {} windows ({} full ahead), {} appointments, {} visits",
            c.slots,
            self.full_windows.len(),
            c.appointments,
            c.service_visits
        )?;
        write!(
            f,
            "  {} invoices, {} payments, {} agreements, {} portal events, {} opt-outs",
            c.invoices, c.payments, c.agreements, c.portal_events, c.opt_outs
        )
    }
}

/// Seed the demo world unless a tenant with slug `demo` exists; then nothing is written and
/// the summary of the existing world comes back with `created: false`.
pub async fn seed_demo(store: &Store, now: DateTime<Utc>) -> anyhow::Result<DemoSummary> {
    if store.tenant_by_slug(DEMO_SLUG).await?.is_some() {
        tracing::info!("demo tenant already exists; nothing seeded");
        return demo_summary(store, now, false).await;
    }
    let fx = Fixtures::load()?;
    let started = std::time::Instant::now();
    for slug in [DEMO_SLUG, NORTHWIND_SLUG] {
        let tfx = fx.tenant(slug)?;
        World::build(store, &fx, tfx, now)
            .await
            .with_context(|| format!("seeding tenant `{slug}`"))?;
    }
    // The world's past is past: notices of its invoices that were due before now are not
    // sent when an instance first runs.
    crate::notices::plan_invoice_history(store, now).await?;
    let summary = demo_summary(store, now, true).await?;
    tracing::info!(
        customers = summary.counts.customers,
        appointments = summary.counts.appointments,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "demo world seeded"
    );
    Ok(summary)
}

/// Find the ids of an existing demo world.
async fn demo_summary(
    store: &Store,
    now: DateTime<Utc>,
    created: bool,
) -> anyhow::Result<DemoSummary> {
    let fx = Fixtures::load()?;
    let demo = store
        .tenant_by_slug(DEMO_SLUG)
        .await?
        .ok_or_else(|| anyhow!("no demo tenant"))?
        .id;
    let northwind = store
        .tenant_by_slug(NORTHWIND_SLUG)
        .await?
        .ok_or_else(|| anyhow!("the demo tenant exists but `{NORTHWIND_SLUG}` does not"))?
        .id;
    let id = |key: &'static str| hard_case_id(store, &fx, key, demo, northwind);
    let operators = store.operator_users(demo).await?;
    let operator = |email: &str| {
        operators
            .iter()
            .find(|o| o.email == email)
            .map(|o| o.id)
            .ok_or_else(|| anyhow!("demo operator {email} is missing"))
    };
    let rachel_kim = id("rachel_kim").await?;
    let jose_garcia = id("jose_garcia").await?;
    let full_windows = store
        .slots_between(demo, now, now + Duration::days(DAYS_AFTER + 1))
        .await?
        .into_iter()
        .filter(|s| s.booked >= s.capacity)
        .map(|s| s.id)
        .collect();
    Ok(DemoSummary {
        created,
        demo,
        northwind,
        maria_garcia: id("maria_garcia").await?,
        jose_garcia,
        dana_whitfield: id("dana_whitfield").await?,
        john_smith: id("john_smith").await?,
        jon_smith: id("jon_smith").await?,
        jon_smyth: id("jon_smyth").await?,
        jane_smythe: id("jane_smythe").await?,
        eleanor_price: id("eleanor_price").await?,
        tom_becker: id("tom_becker").await?,
        rachel_kim,
        greg_holloway: id("greg_holloway").await?,
        northwind_john_smith: id("northwind_john_smith").await?,
        olivia_reyes: operator("olivia@greenleaf.example")?,
        carlos_mendez: operator("carlos@greenleaf.example")?,
        rachel_kim_appointment: next_open_appointment(store, demo, rachel_kim, now).await?,
        jose_garcia_appointment: next_open_appointment(store, demo, jose_garcia, now).await?,
        full_windows,
        counts: store.tenant_counts(demo).await?,
        northwind_counts: store.tenant_counts(northwind).await?,
    })
}

async fn hard_case_id(
    store: &Store,
    fx: &Fixtures,
    key: &str,
    demo: TenantId,
    northwind: TenantId,
) -> anyhow::Result<CustomerId> {
    let h = fx
        .hard_cases
        .iter()
        .find(|h| h.key == key)
        .ok_or_else(|| anyhow!("fixtures have no hard case {key}"))?;
    let tenant = if h.tenant == NORTHWIND_SLUG {
        northwind
    } else {
        demo
    };
    store
        .customers_named(tenant, &h.first_name, &h.last_name)
        .await?
        .first()
        .copied()
        .ok_or_else(|| anyhow!("hard case {key} is missing from tenant {}", h.tenant))
}

async fn next_open_appointment(
    store: &Store,
    tenant: TenantId,
    customer: CustomerId,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<AppointmentId>> {
    Ok(store
        .appointments(tenant, customer)
        .await?
        .into_iter()
        .find(|a| a.status.is_open() && a.window_start > now)
        .map(|a| a.id))
}

/// What a generated customer's record looks like.
#[derive(Debug, Clone)]
enum Profile {
    /// On recurring plans (history, agreement, next visit booked when it falls in range).
    Plans(Vec<String>),
    /// Had one-time services; sometimes books another.
    OneTime(Vec<String>),
    /// New, no history; often has a first visit booked with an unsigned agreement.
    Prospect,
    /// A former plan customer.
    Inactive,
    /// A named hard case: plan history only, bookings placed explicitly.
    Hard(Vec<String>),
}

#[derive(Debug, Clone, Copy)]
struct PropCtx {
    id: PropertyId,
    zone: ZoneId,
    sq_ft: Option<i64>,
    kind: PropertyKind,
}

struct Cust {
    id: CustomerId,
    key: Option<String>,
    autopay: bool,
    portal: bool,
    profile: Profile,
    props: Vec<PropCtx>,
}

struct PendingInvoice {
    cust: usize,
    amount: Cents,
    issued: NaiveDate,
    force: Option<InvoiceStatus>,
}

struct Booked {
    id: AppointmentId,
    cust: usize,
    slot: usize,
    status: AppointmentStatus,
    hard: bool,
}

/// How to book: morning or afternoon (`None`: any), at the first-visit price (a new plan's
/// initial fee), and whether it is a hard case's booking (which may use every stop).
#[derive(Debug, Clone, Copy)]
struct Ask {
    am: Option<bool>,
    first_visit: bool,
    hard: bool,
}

impl Ask {
    const GENERATED: Ask = Ask {
        am: None,
        first_visit: false,
        hard: false,
    };
    const FIRST_VISIT: Ask = Ask {
        am: None,
        first_visit: true,
        hard: false,
    };

    fn hard(am: Option<bool>) -> Ask {
        Ask {
            am,
            first_visit: false,
            hard: true,
        }
    }
}

/// An explicit booking for a hard case: property index, service, earliest day, window.
struct HardBooking {
    prop: usize,
    code: &'static str,
    days_ahead: i64,
    am: bool,
}

fn hard_bookings(key: &str) -> Vec<HardBooking> {
    let b = |prop, code, days_ahead, am| HardBooking {
        prop,
        code,
        days_ahead,
        am,
    };
    match key {
        // Rachel first: her window is chosen before anything else takes room.
        "rachel_kim" => vec![b(0, "GPQ", 5, true)],
        "maria_garcia" => vec![b(0, "GPQ", 4, true)],
        "dana_whitfield" => vec![
            b(0, "GPQ", 3, false),
            b(3, "GPQ", 8, true),
            b(8, "GPQ", 15, true),
        ],
        "john_smith" => vec![b(0, "GPQ", 10, false)],
        "jon_smith" => vec![b(0, "MOSQ", 2, true)],
        "tom_becker" => vec![b(0, "GPQ", 9, true)],
        "eleanor_price" => vec![b(0, "GPQ", 12, true)],
        "greg_holloway" => vec![b(0, "GPQ", 6, true)],
        "northwind_john_smith" => vec![b(0, "GPQ", 7, true)],
        "northwind_aoife_brennan" => vec![b(0, "GPQ", 3, false)],
        _ => Vec::new(),
    }
}

fn choose<'v>(rng: &mut SplitMix64, items: &'v [String]) -> &'v str {
    items
        .get(rng.index(items.len()))
        .map(String::as_str)
        .unwrap_or("")
}

struct World<'a> {
    store: &'a Store,
    w: Scaffold,
    now: DateTime<Utc>,
    rng: SplitMix64,
    custs: Vec<Cust>,
    visits: Vec<NewVisit>,
    invoices: Vec<PendingInvoice>,
    agreements: Vec<NewAgreement>,
    events: Vec<NewPortalEvent>,
    booked: Vec<Booked>,
}

impl<'a> World<'a> {
    async fn build(
        store: &'a Store,
        fx: &Fixtures,
        tfx: &TenantFx,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let w = scaffold::build(store, tfx, &fx.catalog, now).await?;
        let mut world = World {
            store,
            w,
            now,
            rng: SplitMix64::from_text(SEED, &tfx.slug),
            custs: Vec::new(),
            visits: Vec::new(),
            invoices: Vec::new(),
            agreements: Vec::new(),
            events: Vec::new(),
            booked: Vec::new(),
        };
        let hard: Vec<&HardCase> = fx
            .hard_cases
            .iter()
            .filter(|h| h.tenant == tfx.slug)
            .collect();
        world.create_customers(fx, tfx, &hard).await?;
        world.hard_case_bookings().await?;
        world.histories().await?;
        world.reschedule_some().await?;
        world.fill_windows().await?;
        let numbers = world.finalize_invoices(&tfx.invoice_prefix).await?;
        world.portal_activity(&numbers)?;
        world.flush().await?;
        // Tom Becker texted STOP three weeks ago.
        if let Some(phone) = hard
            .iter()
            .find(|h| h.key == "tom_becker")
            .and_then(|h| h.phones.first())
        {
            store
                .opt_out(world.w.tenant, phone, now - Duration::days(21))
                .await?;
        }
        Ok(())
    }

    fn hard_index(&self, key: &str) -> Option<usize> {
        self.custs
            .iter()
            .position(|c| c.key.as_deref() == Some(key))
    }

    // ---- customers -------------------------------------------------------------------

    async fn create_customers(
        &mut self,
        fx: &Fixtures,
        tfx: &TenantFx,
        hard: &[&HardCase],
    ) -> anyhow::Result<()> {
        let mut new = Vec::new();
        let mut meta: Vec<(Option<String>, bool, bool, Profile)> = Vec::new();
        for h in hard {
            let properties = h
                .properties
                .iter()
                .map(|p| {
                    Ok(NewProperty {
                        street: p.street.clone(),
                        city: p.city.clone(),
                        state: self.w.state.clone(),
                        zip: p.zip.clone(),
                        zone_id: self.w.zone(&p.zone)?.id,
                        sq_ft: Some(p.sq_ft),
                        kind: p.kind,
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            new.push(NewCustomer {
                first_name: h.first_name.clone(),
                last_name: h.last_name.clone(),
                company: h.company.clone(),
                status: CustomerStatus::Active,
                autopay: h.autopay,
                phones: h.phones.clone(),
                emails: h.emails.clone(),
                properties,
            });
            meta.push((
                Some(h.key.clone()),
                h.autopay,
                h.portal,
                Profile::Hard(h.plans.clone()),
            ));
        }

        // Generated customers never reuse a hard case's last name or any phone in use.
        let reserved_last: BTreeSet<&str> =
            fx.hard_cases.iter().map(|h| h.last_name.as_str()).collect();
        let mut names: BTreeSet<(String, String)> = BTreeSet::new();
        let mut phones: BTreeSet<String> = fx
            .hard_cases
            .iter()
            .flat_map(|h| h.phones.iter().map(|p| p.as_str().to_string()))
            .collect();
        let mut emails: BTreeSet<String> = BTreeSet::new();
        let people = &fx.people;
        let mut companies_used = 0usize;
        for _ in 0..tfx.generated_customers {
            let rng = &mut self.rng;
            let (mut first, mut last) = (String::new(), String::new());
            for _ in 0..64 {
                first = rng.pick(&people.first_names).clone();
                last = rng.pick(&people.last_names).clone();
                if !reserved_last.contains(last.as_str())
                    && !names.contains(&(first.clone(), last.clone()))
                {
                    break;
                }
            }
            names.insert((first.clone(), last.clone()));
            let commercial = rng.percent(4);
            let company = commercial.then(|| {
                companies_used += 1;
                people.companies.at(companies_used - 1).clone()
            });
            let mut cust_phones = Vec::new();
            let phone_count = if rng.percent(12) { 2 } else { 1 };
            while cust_phones.len() < phone_count {
                let area = if rng.percent(30) { "737" } else { "512" };
                let raw = format!("+1{area}555{:04}", rng.range(1000, 9999));
                if phones.insert(raw.clone()) {
                    cust_phones
                        .push(PhoneE164::parse(&raw).map_err(|e| anyhow!("generated phone: {e}"))?);
                }
            }
            let mut cust_emails = Vec::new();
            if rng.percent(92) {
                let domain = rng.pick(&people.email_domains);
                let local = match rng.below(3) {
                    0 => format!("{first}.{last}"),
                    1 => format!("{}{last}", first.chars().next().unwrap_or('x')),
                    _ => format!("{first}{last}{}", rng.range(10, 99)),
                }
                .to_lowercase();
                let mut email = format!("{local}@{domain}");
                let mut n = 2;
                while !emails.insert(email.clone()) {
                    email = format!("{local}{n}@{domain}");
                    n += 1;
                }
                cust_emails.push(email);
            }
            let zone_i = rng.index(self.w.zones.len());
            let zone = &self.w.zones[zone_i];
            let street = rng.pick(&zone.streets);
            let (kind, sq_ft) = if commercial {
                (PropertyKind::Commercial, rng.range(25, 150) * 100)
            } else {
                (PropertyKind::Residential, rng.range(110, 420) * 10)
            };
            let property = NewProperty {
                street: format!("{} {}", rng.range(100, 12999), street.name),
                city: street.city.clone(),
                state: self.w.state.clone(),
                zip: street.zip.clone(),
                zone_id: zone.id,
                sq_ft: Some(sq_ft),
                kind,
            };
            let roll = rng.below(100);
            let (status, profile) = if commercial {
                (CustomerStatus::Active, Profile::Plans(vec!["COMM".into()]))
            } else if roll < 6 {
                (CustomerStatus::Prospect, Profile::Prospect)
            } else if roll < 12 {
                (CustomerStatus::Inactive, Profile::Inactive)
            } else if roll < 62 {
                let mut plans = vec!["GPQ".to_string()];
                if rng.percent(30) {
                    plans.push("MOSQ".into());
                }
                (CustomerStatus::Active, Profile::Plans(plans))
            } else if roll < 70 {
                (CustomerStatus::Active, Profile::Plans(vec!["MOSQ".into()]))
            } else {
                let n = if rng.percent(30) { 2 } else { 1 };
                let codes = (0..n)
                    .map(|_| ONE_TIME[rng.index(ONE_TIME.len())].to_string())
                    .collect();
                (CustomerStatus::Active, Profile::OneTime(codes))
            };
            let autopay = status == CustomerStatus::Active && rng.percent(40);
            let portal = status != CustomerStatus::Inactive && rng.percent(45);
            new.push(NewCustomer {
                first_name: first,
                last_name: last,
                company,
                status,
                autopay,
                phones: cust_phones,
                emails: cust_emails,
                properties: vec![property],
            });
            meta.push((None, autopay, portal, profile));
        }

        let ids = self
            .store
            .insert_customers(self.w.tenant, &new, self.now.timestamp())
            .await?;
        for (id, (key, autopay, portal, profile)) in ids.into_iter().zip(meta) {
            let props = self
                .store
                .properties(self.w.tenant, id)
                .await?
                .into_iter()
                .map(|p| PropCtx {
                    id: p.id,
                    zone: p.zone_id,
                    sq_ft: p.sq_ft,
                    kind: p.kind,
                })
                .collect();
            self.custs.push(Cust {
                id,
                key,
                autopay,
                portal,
                profile,
                props,
            });
        }
        Ok(())
    }

    // ---- booking ---------------------------------------------------------------------

    fn status_for(&self, slot: usize) -> AppointmentStatus {
        let s = &self.w.slots[slot];
        if s.ends_at <= self.now {
            AppointmentStatus::Completed
        } else if s.starts_at <= self.now {
            AppointmentStatus::InProgress
        } else if s.starts_at - self.now <= Duration::minutes(90) {
            AppointmentStatus::EnRoute
        } else if s.starts_at - self.now <= Duration::hours(48) {
            AppointmentStatus::Confirmed
        } else {
            AppointmentStatus::Scheduled
        }
    }

    /// The earliest window of `zone` starting at or after `not_before` with fewer than `cap`
    /// stops taken, in the morning or afternoon if asked.
    fn find_slot(
        &self,
        zone: ZoneId,
        not_before: DateTime<Utc>,
        am: Option<bool>,
        cap: i64,
    ) -> Option<usize> {
        self.w.slots.iter().position(|s| {
            s.zone == zone
                && s.starts_at >= not_before
                && s.booked < cap
                && am.is_none_or(|a| s.am == a)
        })
    }

    /// Book a stop in a window; a completed one also becomes a visit with an invoice.
    async fn book(
        &mut self,
        cust: usize,
        prop: usize,
        code: &str,
        slot: usize,
        price: Cents,
        hard: bool,
    ) -> anyhow::Result<Option<AppointmentId>> {
        let status = self.status_for(slot);
        let created =
            self.now.min(self.w.slots[slot].starts_at) - Duration::days(self.rng.range(3, 30));
        let c = &self.custs[cust];
        let p = c.props[prop];
        let new = NewAppointment {
            customer_id: c.id,
            property_id: p.id,
            service_id: self.w.service(code)?.id,
            slot_id: self.w.slots[slot].id,
            status,
            price_cents: price,
        };
        match self
            .store
            .book_appointment(self.w.tenant, &new, created)
            .await
        {
            Ok(id) => {
                self.w.slots[slot].booked += 1;
                if status == AppointmentStatus::Completed {
                    let s = &self.w.slots[slot];
                    let (tech, start) = (s.tech, s.starts_at);
                    let at = start + Duration::minutes(self.rng.range(20, 200));
                    self.record_visit(cust, prop, code, tech, at)?;
                }
                self.booked.push(Booked {
                    id,
                    cust,
                    slot,
                    status,
                    hard,
                });
                Ok(Some(id))
            }
            Err(StoreError::WindowFull) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Book the next visit at least `days_ahead` local days out (and at least an hour away),
    /// in the morning or afternoon as asked (a coin decides when not asked).
    async fn book_ahead(
        &mut self,
        cust: usize,
        prop: usize,
        code: &str,
        days_ahead: i64,
        ask: Ask,
    ) -> anyhow::Result<Option<(AppointmentId, usize)>> {
        let not_before = self
            .w
            .at(self.w.today + Duration::days(days_ahead), 0, 0)
            .max(self.now + Duration::hours(1));
        let am = ask.am.or_else(|| Some(self.rng.percent(50)));
        self.book_from(cust, prop, code, not_before, Ask { am, ..ask })
            .await
    }

    /// Book the earliest window from `not_before` on (morning or afternoon if asked, else
    /// whichever comes first).
    async fn book_from(
        &mut self,
        cust: usize,
        prop: usize,
        code: &str,
        not_before: DateTime<Utc>,
        ask: Ask,
    ) -> anyhow::Result<Option<(AppointmentId, usize)>> {
        let p = self.custs[cust].props[prop];
        let cap = if ask.hard { CAPACITY } else { SOFT_CAP };
        let Some(slot) = self
            .find_slot(p.zone, not_before, ask.am, cap)
            .or_else(|| self.find_slot(p.zone, not_before, None, cap))
        else {
            return Ok(None);
        };
        let svc = self.w.service(code)?;
        let price = if ask.first_visit {
            svc.first_visit(p.sq_ft)
        } else {
            svc.per_visit(p.sq_ft)
        };
        Ok(self
            .book(cust, prop, code, slot, price, ask.hard)
            .await?
            .map(|id| (id, slot)))
    }

    // ---- history ---------------------------------------------------------------------

    fn record_visit(
        &mut self,
        cust: usize,
        prop: usize,
        code: &str,
        tech: TechnicianId,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let svc = self
            .w
            .services
            .get(code)
            .ok_or_else(|| anyhow!("unknown service {code}"))?;
        let rng = &mut self.rng;
        let c = &self.custs[cust];
        let p = c.props[prop];
        let mut products = Vec::new();
        if !svc.fx.products.is_empty() {
            let i = rng.index(svc.fx.products.len());
            products.push(svc.fx.products[i].clone());
            if svc.fx.products.len() > 1 && rng.percent(50) {
                products.push(svc.fx.products[(i + 1) % svc.fx.products.len()].clone());
            }
        }
        self.visits.push(NewVisit {
            customer_id: c.id,
            property_id: p.id,
            service_id: svc.id,
            technician_id: tech,
            completed_at: at,
            notes: choose(rng, &svc.fx.notes).to_string(),
            findings: choose(rng, &svc.fx.findings).to_string(),
            products,
        });
        self.invoices.push(PendingInvoice {
            cust,
            amount: svc.per_visit(p.sq_ft),
            issued: self.w.tz.local(at).date_naive(),
            force: None,
        });
        Ok(())
    }

    /// A visit `days_ago` local days back: in that day's window when one exists (the
    /// appointment then carries its real status), otherwise a visit record on the closest
    /// day the zone was worked.
    async fn past_visit(
        &mut self,
        cust: usize,
        prop: usize,
        code: &str,
        days_ago: i64,
        use_windows: bool,
    ) -> anyhow::Result<()> {
        let p = self.custs[cust].props[prop];
        let date = self.w.today - Duration::days(days_ago);
        if use_windows && days_ago <= DAYS_BEFORE {
            let am = self.rng.percent(50);
            let pick = |am: Option<bool>| {
                self.w.slots.iter().position(|s| {
                    s.zone == p.zone
                        && s.date == date
                        && s.booked < SOFT_CAP
                        && am.is_none_or(|a| s.am == a)
                })
            };
            if let Some(slot) = pick(Some(am)).or_else(|| pick(None)) {
                let price = self.w.service(code)?.per_visit(p.sq_ft);
                if self
                    .book(cust, prop, code, slot, price, false)
                    .await?
                    .is_some()
                {
                    return Ok(());
                }
            }
        }
        let Some((date, tech)) = self.w.worked_day(p.zone, date) else {
            return Ok(());
        };
        let at = self.w.at(
            date,
            self.rng.range(8, 15) as u32,
            self.rng.range(0, 59) as u32,
        );
        if at < self.now {
            self.record_visit(cust, prop, code, tech, at)?;
        }
        Ok(())
    }

    async fn plan_history(
        &mut self,
        cust: usize,
        prop: usize,
        code: &str,
        generated: bool,
    ) -> anyhow::Result<()> {
        let interval = self
            .w
            .service(code)?
            .fx
            .recurring_interval_days
            .unwrap_or(91)
            .max(7);
        let phase = self.rng.range(0, interval - 1);
        let mut earliest = 0;
        let mut days_ago = phase;
        while days_ago <= HISTORY_DAYS {
            earliest = days_ago;
            self.past_visit(cust, prop, code, days_ago, generated)
                .await?;
            days_ago += interval;
        }
        self.running_agreement(cust, prop, code, earliest)?;
        if generated && interval - phase <= DAYS_AFTER {
            self.book_ahead(cust, prop, code, interval - phase, Ask::GENERATED)
                .await?;
        }
        Ok(())
    }

    fn next_anniversary(&self, starts: NaiveDate) -> NaiveDate {
        (1..=40)
            .filter_map(|k| starts.checked_add_months(Months::new(12 * k)))
            .find(|d| *d > self.w.today)
            .unwrap_or(self.w.today + Duration::days(365))
    }

    fn running_agreement(
        &mut self,
        cust: usize,
        prop: usize,
        code: &str,
        earliest_days_ago: i64,
    ) -> anyhow::Result<()> {
        let starts = self.w.today - Duration::days(earliest_days_ago + self.rng.range(14, 540));
        let renews = self.next_anniversary(starts);
        let (status, signature) = if renews <= self.w.today + Duration::days(30) {
            (AgreementStatus::PendingRenewal, SignatureStatus::Pending)
        } else {
            (AgreementStatus::Active, SignatureStatus::Signed)
        };
        self.agreement(cust, prop, code, starts, renews, status, signature)
    }

    #[allow(clippy::too_many_arguments)]
    fn agreement(
        &mut self,
        cust: usize,
        prop: usize,
        code: &str,
        starts: NaiveDate,
        renews: NaiveDate,
        status: AgreementStatus,
        signature: SignatureStatus,
    ) -> anyhow::Result<()> {
        let svc = self.w.service(code)?;
        let c = &self.custs[cust];
        let p = c.props[prop];
        self.agreements.push(NewAgreement {
            customer_id: c.id,
            property_id: p.id,
            service_id: svc.id,
            status,
            signature_status: signature,
            starts_on: starts,
            renews_on: renews,
            price_cents: svc.per_visit(p.sq_ft),
        });
        if c.portal
            && signature == SignatureStatus::Signed
            && starts >= self.w.today - Duration::days(HISTORY_DAYS)
        {
            let at = self.w.at(starts - Duration::days(1), 19, 30).min(self.now);
            self.events.push(NewPortalEvent {
                customer_id: c.id,
                kind: PortalEventKind::AgreementSigned,
                detail: json!({ "service": svc.fx.name, "starts_on": starts.to_string() }),
                at,
            });
        }
        Ok(())
    }

    async fn histories(&mut self) -> anyhow::Result<()> {
        for cust in 0..self.custs.len() {
            let profile = self.custs[cust].profile.clone();
            let props = self.custs[cust].props.clone();
            match profile {
                Profile::Plans(plans) | Profile::Hard(plans) => {
                    let generated = self.custs[cust].key.is_none();
                    for (pi, p) in props.iter().enumerate() {
                        for code in &plans {
                            let code = if p.kind == PropertyKind::Commercial
                                && code == "GPQ"
                                && self.w.services.contains_key("COMM")
                            {
                                "COMM"
                            } else {
                                code.as_str()
                            };
                            self.plan_history(cust, pi, code, generated).await?;
                        }
                    }
                }
                Profile::OneTime(codes) => {
                    for code in &codes {
                        if self.w.services.contains_key(code.as_str()) {
                            let days_ago = self.rng.range(DAYS_BEFORE + 1, HISTORY_DAYS);
                            self.past_visit(cust, 0, code, days_ago, true).await?;
                        }
                    }
                    if self.rng.percent(20) {
                        let code = ONE_TIME[self.rng.index(ONE_TIME.len())];
                        if self.w.services.contains_key(code) {
                            let ahead = self.rng.range(1, DAYS_AFTER - 1);
                            self.book_ahead(cust, 0, code, ahead, Ask::GENERATED)
                                .await?;
                        }
                    }
                }
                Profile::Prospect => {
                    if self.rng.percent(60) {
                        let ahead = self.rng.range(2, 20);
                        if let Some((_, slot)) = self
                            .book_ahead(cust, 0, "GPQ", ahead, Ask::FIRST_VISIT)
                            .await?
                        {
                            let starts = self.w.slots[slot].date;
                            let renews = self.next_anniversary(starts);
                            self.agreement(
                                cust,
                                0,
                                "GPQ",
                                starts,
                                renews,
                                AgreementStatus::Active,
                                SignatureStatus::Pending,
                            )?;
                        }
                    }
                }
                Profile::Inactive => {
                    let visits = self.rng.range(1, 2);
                    for _ in 0..visits {
                        let days_ago = self.rng.range(120, HISTORY_DAYS);
                        self.past_visit(cust, 0, "GPQ", days_ago, true).await?;
                    }
                    let starts = self.w.today - Duration::days(self.rng.range(400, 700));
                    let renews = starts
                        .checked_add_months(Months::new(12))
                        .unwrap_or(starts + Duration::days(365));
                    self.agreement(
                        cust,
                        0,
                        "GPQ",
                        starts,
                        renews,
                        AgreementStatus::Cancelled,
                        SignatureStatus::Signed,
                    )?;
                }
            }
        }
        Ok(())
    }

    // ---- the hard cases' bookings ----------------------------------------------------

    async fn hard_case_bookings(&mut self) -> anyhow::Result<()> {
        let order: Vec<usize> = {
            // Rachel Kim goes first so her window is picked before any other booking.
            let mut v: Vec<usize> = (0..self.custs.len())
                .filter(|i| self.custs[*i].key.is_some())
                .collect();
            v.sort_by_key(|i| self.custs[*i].key.as_deref() != Some("rachel_kim"));
            v
        };
        for cust in order {
            let key = self.custs[cust].key.clone().unwrap_or_default();
            for b in hard_bookings(&key) {
                if b.prop >= self.custs[cust].props.len() {
                    anyhow::bail!("hard case {key} has no property #{}", b.prop + 1);
                }
                let booked = self
                    .book_ahead(cust, b.prop, b.code, b.days_ahead, Ask::hard(Some(b.am)))
                    .await?;
                if booked.is_none() {
                    anyhow::bail!("no window for hard case {key}");
                }
                if key == "greg_holloway" {
                    if let Some((id, slot)) = booked {
                        self.greg_reschedules(cust, id, slot).await?;
                    }
                }
            }
            if key == "jose_garcia" {
                self.jose_refused_reschedule(cust).await?;
            }
        }
        Ok(())
    }

    /// Greg Holloway's visit has been moved three times: the agent's limit.
    async fn greg_reschedules(
        &mut self,
        cust: usize,
        id: AppointmentId,
        mut slot: usize,
    ) -> anyhow::Result<()> {
        let moves = [("portal", 12), ("agent", 6), ("agent", 2)];
        for (by, days_ago) in moves {
            let zone = self.w.slots[slot].zone;
            let from = self.w.at(self.w.slots[slot].date + Duration::days(1), 0, 0);
            let Some(next) = self.find_slot(zone, from, Some(true), CAPACITY) else {
                break;
            };
            let at = self.now - Duration::days(days_ago);
            self.move_booking(cust, id, slot, next, by, at).await?;
            slot = next;
        }
        Ok(())
    }

    /// Move a booked visit from one window to another (`from`, `to`: indexes of slots) as
    /// `by` did at `at`, with the portal's event when the customer did it there.
    async fn move_booking(
        &mut self,
        cust: usize,
        id: AppointmentId,
        from: usize,
        to: usize,
        by: &str,
        at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        self.store
            .reschedule_appointment(self.w.tenant, id, self.w.slots[to].id, by, at)
            .await?;
        if by == "portal" {
            self.events.push(NewPortalEvent {
                customer_id: self.custs[cust].id,
                kind: PortalEventKind::RescheduleDone,
                detail: json!({
                    "appointment_id": id,
                    "from_window_start": self.w.slots[from].starts_at,
                    "to_window_start": self.w.slots[to].starts_at,
                }),
                at,
            });
        }
        self.w.slots[from].booked -= 1;
        self.w.slots[to].booked += 1;
        if let Some(b) = self.booked.iter_mut().find(|b| b.id == id) {
            b.slot = to;
        }
        Ok(())
    }

    /// Jose Garcia's visit is less than 48 hours away; he tried to move it in the portal,
    /// was refused, and opened chat.
    async fn jose_refused_reschedule(&mut self, cust: usize) -> anyhow::Result<()> {
        let tried_at = self.now - Duration::minutes(45);
        let Some((id, slot)) = self
            .book_from(
                cust,
                0,
                "GPQ",
                self.now + Duration::hours(1),
                Ask::hard(None),
            )
            .await?
        else {
            anyhow::bail!("no window for Jose Garcia");
        };
        let s = self.w.slots[slot].clone();
        let wanted = self
            .find_slot(s.zone, s.starts_at + Duration::days(3), None, CAPACITY)
            .map(|i| self.w.slots[i].starts_at);
        let hours = (s.starts_at - tried_at).num_hours();
        let customer_id = self.custs[cust].id;
        self.events.push(NewPortalEvent {
            customer_id,
            kind: PortalEventKind::Login,
            detail: json!({}),
            at: tried_at - Duration::minutes(4),
        });
        self.events.push(NewPortalEvent {
            customer_id,
            kind: PortalEventKind::RescheduleRefused,
            detail: json!({
                "appointment_id": id,
                "window_start": s.starts_at,
                "requested_window_start": wanted,
                "reason": format!(
                    "Online rescheduling closes 48 hours before a visit; this visit starts in {hours} hours."
                ),
                "rule": "portal_reschedule.min_hours_ahead = 48",
            }),
            at: tried_at,
        });
        self.events.push(NewPortalEvent {
            customer_id,
            kind: PortalEventKind::ChatOpened,
            detail: json!({ "page": "appointments" }),
            at: tried_at + Duration::minutes(2),
        });
        Ok(())
    }

    // ---- generated reschedules and full windows --------------------------------------

    async fn reschedule_some(&mut self) -> anyhow::Result<()> {
        let csr = self.w.operators.values().last().copied();
        let candidates: Vec<usize> = (0..self.booked.len())
            .filter(|i| {
                let b = &self.booked[*i];
                !b.hard
                    && b.status == AppointmentStatus::Scheduled
                    && self.w.slots[b.slot].starts_at > self.now + Duration::days(3)
            })
            .collect();
        let mut done = 0;
        for i in candidates {
            if done >= 6 || !self.rng.percent(15) {
                continue;
            }
            let (id, cust, slot) = (self.booked[i].id, self.booked[i].cust, self.booked[i].slot);
            let s = self.w.slots[slot].clone();
            let from = self
                .w
                .at(s.date + Duration::days(self.rng.range(1, 6)), 0, 0);
            let Some(next) = self.find_slot(s.zone, from, None, SOFT_CAP) else {
                continue;
            };
            let by = if self.custs[cust].portal {
                "portal".to_string()
            } else if let (Some(u), true) = (csr, self.rng.percent(50)) {
                format!("csr:{u}")
            } else {
                "agent".to_string()
            };
            let at = self.now - Duration::hours(self.rng.range(1, 72));
            self.move_booking(cust, id, slot, next, &by, at).await?;
            done += 1;
        }
        Ok(())
    }

    /// Two windows are booked to capacity: the South afternoon on the day of Rachel Kim's
    /// visit, and the first Central morning at least three days out.
    async fn fill_windows(&mut self) -> anyhow::Result<()> {
        let Some(rachel) = self.hard_index("rachel_kim") else {
            return Ok(());
        };
        let hard_slots: BTreeSet<usize> = self
            .booked
            .iter()
            .filter(|b| b.hard)
            .map(|b| b.slot)
            .collect();
        let Some(rachel_slot) = self
            .booked
            .iter()
            .find(|b| b.cust == rachel)
            .map(|b| b.slot)
        else {
            return Ok(());
        };
        let r = self.w.slots[rachel_slot].clone();
        let mut targets = Vec::new();
        if let Some(i) = (0..self.w.slots.len()).find(|i| {
            let s = &self.w.slots[*i];
            s.zone == r.zone && s.date >= r.date && !s.am && !hard_slots.contains(i)
        }) {
            targets.push(i);
        }
        if let Ok(central) = self.w.zone("CENTRAL").map(|z| z.id) {
            let from = self.now + Duration::days(3);
            if let Some(i) = (0..self.w.slots.len()).find(|i| {
                let s = &self.w.slots[*i];
                s.zone == central && s.starts_at >= from && s.am && !hard_slots.contains(i)
            }) {
                targets.push(i);
            }
        }
        for slot in targets {
            let zone = self.w.slots[slot].zone;
            let in_slot: BTreeSet<usize> = self
                .booked
                .iter()
                .filter(|b| b.slot == slot)
                .map(|b| b.cust)
                .collect();
            let candidates: Vec<usize> = (0..self.custs.len())
                .filter(|i| {
                    let c = &self.custs[*i];
                    c.key.is_none()
                        && matches!(c.profile, Profile::Plans(_) | Profile::OneTime(_))
                        && c.props
                            .first()
                            .is_some_and(|p| p.zone == zone && p.kind == PropertyKind::Residential)
                        && !in_slot.contains(i)
                })
                .collect();
            for (k, cust) in candidates.into_iter().enumerate() {
                if self.w.slots[slot].booked >= CAPACITY {
                    break;
                }
                let code = if k % 2 == 0 { "ANT" } else { "GPO" };
                let price = self
                    .w
                    .service(code)?
                    .per_visit(self.custs[cust].props[0].sq_ft);
                self.book(cust, 0, code, slot, price, false).await?;
            }
        }
        Ok(())
    }

    // ---- billing and portal ----------------------------------------------------------

    /// Number invoices in date order, settle them (autopay, paid, open, overdue) and record
    /// payments. Returns each customer's invoices as (number, issued, amount).
    async fn finalize_invoices(
        &mut self,
        prefix: &str,
    ) -> anyhow::Result<BTreeMap<usize, Vec<(String, NaiveDate, Cents, InvoiceStatus)>>> {
        let today = self.w.today;
        if let Some(rachel) = self.hard_index("rachel_kim") {
            // Exactly one overdue invoice: her latest one past due.
            let latest_due = self
                .invoices
                .iter()
                .enumerate()
                .filter(|(_, p)| p.cust == rachel && p.issued + Duration::days(30) < today)
                .max_by_key(|(_, p)| p.issued)
                .map(|(i, _)| i);
            for (i, p) in self.invoices.iter_mut().enumerate() {
                if p.cust == rachel {
                    p.force = Some(if Some(i) == latest_due {
                        InvoiceStatus::Overdue
                    } else {
                        InvoiceStatus::Paid
                    });
                }
            }
        }
        self.invoices
            .sort_by_key(|p| (p.issued, self.custs[p.cust].id, p.amount));
        let mut new = Vec::with_capacity(self.invoices.len());
        let mut settle = Vec::with_capacity(self.invoices.len());
        for (n, p) in self.invoices.iter().enumerate() {
            let c = &self.custs[p.cust];
            let due = p.issued + Duration::days(30);
            let status = p.force.unwrap_or_else(|| {
                if c.autopay {
                    InvoiceStatus::Paid
                } else if due < today {
                    if self.rng.percent(82) {
                        InvoiceStatus::Paid
                    } else {
                        InvoiceStatus::Overdue
                    }
                } else if self.rng.percent(45) {
                    InvoiceStatus::Paid
                } else {
                    InvoiceStatus::Open
                }
            });
            new.push(NewInvoice {
                customer_id: c.id,
                number: format!("{prefix}-{}", 10001 + n),
                amount_cents: p.amount,
                balance_cents: if status == InvoiceStatus::Paid {
                    Cents::ZERO
                } else {
                    p.amount
                },
                issued_on: p.issued,
                due_on: due,
                status,
            });
            settle.push(status);
        }
        let ids = self.store.insert_invoices(self.w.tenant, &new).await?;
        let mut payments = Vec::new();
        let mut by_customer: BTreeMap<usize, Vec<(String, NaiveDate, Cents, InvoiceStatus)>> =
            BTreeMap::new();
        for ((inv, id), (p, status)) in new.iter().zip(ids).zip(self.invoices.iter().zip(settle)) {
            by_customer.entry(p.cust).or_default().push((
                inv.number.clone(),
                inv.issued_on,
                inv.amount_cents,
                status,
            ));
            if status != InvoiceStatus::Paid {
                continue;
            }
            let c = &self.custs[p.cust];
            let latest = self.now - Duration::minutes(10);
            let (method, paid_at) = if c.autopay {
                ("card_autopay", self.w.at(inv.issued_on, 18, 0))
            } else {
                let max_days = (today - inv.issued_on).num_days().clamp(0, 25);
                let day = inv.issued_on + Duration::days(self.rng.range(0, max_days));
                let at = self.w.at(
                    day,
                    self.rng.range(9, 20) as u32,
                    self.rng.range(0, 59) as u32,
                );
                let method = if c.portal && self.rng.percent(60) {
                    "portal_card"
                } else {
                    PAYMENT_METHODS[self.rng.index(PAYMENT_METHODS.len())]
                };
                (method, at)
            };
            let paid_at = paid_at.min(latest);
            if method == "portal_card" {
                self.events.push(NewPortalEvent {
                    customer_id: c.id,
                    kind: PortalEventKind::Login,
                    detail: json!({}),
                    at: paid_at - Duration::minutes(3),
                });
                self.events.push(NewPortalEvent {
                    customer_id: c.id,
                    kind: PortalEventKind::Payment,
                    detail: json!({ "invoice_number": inv.number, "amount_cents": inv.amount_cents }),
                    at: paid_at,
                });
            }
            payments.push(NewPayment {
                customer_id: c.id,
                invoice_id: id,
                amount_cents: inv.amount_cents,
                method: method.to_string(),
                paid_at,
            });
        }
        self.store.insert_payments(self.w.tenant, &payments).await?;
        Ok(by_customer)
    }

    /// Logins, invoice views and chats of portal users, plus Rachel Kim looking at her
    /// overdue invoice.
    fn portal_activity(
        &mut self,
        invoices: &BTreeMap<usize, Vec<(String, NaiveDate, Cents, InvoiceStatus)>>,
    ) -> anyhow::Result<()> {
        let empty = Vec::new();
        for cust in 0..self.custs.len() {
            if !self.custs[cust].portal {
                continue;
            }
            let id = self.custs[cust].id;
            let mine = invoices.get(&cust).unwrap_or(&empty);
            let logins = self.rng.range(1, 4);
            for _ in 0..logins {
                let at = self.now - Duration::seconds(self.rng.range(3600, 60 * 86_400));
                self.events.push(NewPortalEvent {
                    customer_id: id,
                    kind: PortalEventKind::Login,
                    detail: json!({}),
                    at,
                });
                let day = self.w.tz.local(at).date_naive();
                let viewed = mine
                    .iter()
                    .filter(|(_, issued, _, _)| *issued <= day)
                    .max_by_key(|(_, issued, _, _)| *issued);
                if let (Some((number, _, amount, _)), true) = (viewed, self.rng.percent(50)) {
                    self.events.push(NewPortalEvent {
                        customer_id: id,
                        kind: PortalEventKind::InvoiceViewed,
                        detail: json!({ "invoice_number": number, "amount_cents": amount }),
                        at: at + Duration::minutes(self.rng.range(1, 5)),
                    });
                }
            }
            if self.rng.percent(12) {
                let at = self.now - Duration::seconds(self.rng.range(3600, 30 * 86_400));
                self.events.push(NewPortalEvent {
                    customer_id: id,
                    kind: PortalEventKind::ChatOpened,
                    detail: json!({ "page": "home" }),
                    at,
                });
            }
        }
        if let Some(rachel) = self.hard_index("rachel_kim") {
            let overdue = invoices
                .get(&rachel)
                .and_then(|v| v.iter().find(|i| i.3 == InvoiceStatus::Overdue));
            if let Some((number, _, amount, _)) = overdue {
                let at = self.now - Duration::days(3);
                let id = self.custs[rachel].id;
                self.events.push(NewPortalEvent {
                    customer_id: id,
                    kind: PortalEventKind::Login,
                    detail: json!({}),
                    at,
                });
                self.events.push(NewPortalEvent {
                    customer_id: id,
                    kind: PortalEventKind::InvoiceViewed,
                    detail: json!({ "invoice_number": number, "amount_cents": amount }),
                    at: at + Duration::minutes(2),
                });
            }
        }
        Ok(())
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        let t = self.w.tenant;
        self.store.insert_visits(t, &self.visits).await?;
        self.store.insert_agreements(t, &self.agreements).await?;
        self.events.sort_by_key(|e| (e.at, e.customer_id));
        self.store.insert_portal_events(t, &self.events).await?;
        Ok(())
    }
}
