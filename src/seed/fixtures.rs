//! The data files under `fixtures/demo/`, embedded in the binary and parsed into typed values
//! once: tenants, zones and streets, technicians, the catalog, name lists and the named hard
//! cases. Everything that is checked here (non-empty lists, known codes, valid phones and
//! times) is never checked again by the generators.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{anyhow, bail, Context};
use chrono::{NaiveTime, Weekday};
use serde::Deserialize;

use crate::domain::{
    BusinessHours, DayHours, PhoneE164, PricingRule, PropertyKind, Role, TenantTz,
};

const WORLD: &str = include_str!("../../fixtures/demo/world.toml");
const CATALOG: &str = include_str!("../../fixtures/demo/catalog.toml");
const PEOPLE: &str = include_str!("../../fixtures/demo/people.toml");
const HARD_CASES: &str = include_str!("../../fixtures/demo/hard_cases.toml");

/// A list that is known to hold at least one item, so picking from it cannot fail.
#[derive(Debug, Clone)]
pub(crate) struct Pool<T> {
    items: Vec<T>,
}

impl<T> Pool<T> {
    pub(crate) fn new(items: Vec<T>, what: &str) -> anyhow::Result<Self> {
        if items.is_empty() {
            bail!("fixture list `{what}` is empty");
        }
        Ok(Self { items })
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// The item at `i` modulo the length.
    pub(crate) fn at(&self, i: usize) -> &T {
        &self.items[i % self.items.len()]
    }

    #[cfg(test)]
    pub(crate) fn iter(&self) -> std::slice::Iter<'_, T> {
        self.items.iter()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorldFile {
    tenants: Vec<RawTenant>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTenant {
    slug: String,
    name: String,
    timezone: String,
    numbers: Vec<String>,
    office_phone: String,
    on_call: String,
    state: String,
    invoice_prefix: String,
    generated_customers: usize,
    services: Vec<String>,
    branding: serde_json::Value,
    hours: BTreeMap<String, String>,
    zones: Vec<RawZone>,
    technicians: Vec<RawTechnician>,
    #[serde(default)]
    operators: Vec<RawOperator>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawZone {
    code: String,
    name: String,
    streets: Vec<Street>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Street {
    pub name: String,
    pub zip: String,
    pub city: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTechnician {
    name: String,
    phone: String,
    work: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOperator {
    name: String,
    email: String,
    role: String,
}

/// One tenant of the demo world, validated.
#[derive(Debug, Clone)]
pub(crate) struct TenantFx {
    pub slug: String,
    pub name: String,
    pub timezone: TenantTz,
    pub numbers: Vec<PhoneE164>,
    pub office_phone: PhoneE164,
    pub on_call: PhoneE164,
    pub state: String,
    pub invoice_prefix: String,
    pub generated_customers: usize,
    pub services: Vec<String>,
    pub branding: serde_json::Value,
    pub hours: BusinessHours,
    pub zones: Vec<ZoneFx>,
    pub technicians: Vec<TechnicianFx>,
    pub operators: Vec<OperatorFx>,
}

#[derive(Debug, Clone)]
pub(crate) struct ZoneFx {
    pub code: String,
    pub name: String,
    pub streets: Pool<Street>,
}

#[derive(Debug, Clone)]
pub(crate) struct TechnicianFx {
    pub name: String,
    pub phone: PhoneE164,
    /// (zone code, weekday counted from Monday = 0)
    pub zone_days: Vec<(String, u32)>,
}

#[derive(Debug, Clone)]
pub(crate) struct OperatorFx {
    pub name: String,
    pub email: String,
    pub role: Role,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    services: Vec<ServiceFx>,
}

/// A catalog service with the words technicians use on its visits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServiceFx {
    pub code: String,
    pub name: String,
    pub description: String,
    pub pests: Vec<String>,
    pub duration_minutes: i64,
    #[serde(default)]
    pub recurring_interval_days: Option<i64>,
    pub agent_bookable: bool,
    pub pricing: PricingRule,
    pub notes: Vec<String>,
    pub findings: Vec<String>,
    pub products: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PeopleFile {
    first_names: Vec<String>,
    last_names: Vec<String>,
    companies: Vec<String>,
    email_domains: Vec<String>,
}

/// Name lists for generated people.
#[derive(Debug, Clone)]
pub(crate) struct People {
    pub first_names: Pool<String>,
    pub last_names: Pool<String>,
    pub companies: Pool<String>,
    pub email_domains: Pool<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct HardCasesFile {
    customers: Vec<RawHardCase>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHardCase {
    key: String,
    tenant: String,
    first_name: String,
    last_name: String,
    #[serde(default)]
    company: Option<String>,
    phones: Vec<String>,
    emails: Vec<String>,
    #[serde(default)]
    autopay: bool,
    #[serde(default)]
    portal: bool,
    #[serde(default)]
    plans: Vec<String>,
    properties: Vec<RawHardProperty>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHardProperty {
    street: String,
    city: String,
    zip: String,
    zone: String,
    sq_ft: i64,
    #[serde(default)]
    kind: Option<String>,
}

/// A named customer whose details tests and demos rely on.
#[derive(Debug, Clone)]
pub(crate) struct HardCase {
    pub key: String,
    pub tenant: String,
    pub first_name: String,
    pub last_name: String,
    pub company: Option<String>,
    pub phones: Vec<PhoneE164>,
    pub emails: Vec<String>,
    pub autopay: bool,
    pub portal: bool,
    pub plans: Vec<String>,
    pub properties: Vec<HardProperty>,
}

#[derive(Debug, Clone)]
pub(crate) struct HardProperty {
    pub street: String,
    pub city: String,
    pub zip: String,
    pub zone: String,
    pub sq_ft: i64,
    pub kind: PropertyKind,
}

/// Everything under `fixtures/demo/`, parsed and cross-checked.
#[derive(Debug, Clone)]
pub(crate) struct Fixtures {
    pub tenants: Vec<TenantFx>,
    pub catalog: Vec<ServiceFx>,
    pub people: People,
    pub hard_cases: Vec<HardCase>,
}

impl Fixtures {
    pub(crate) fn load() -> anyhow::Result<Fixtures> {
        let world: WorldFile = toml::from_str(WORLD).context("fixtures/demo/world.toml")?;
        let catalog: CatalogFile = toml::from_str(CATALOG).context("fixtures/demo/catalog.toml")?;
        let people: PeopleFile = toml::from_str(PEOPLE).context("fixtures/demo/people.toml")?;
        let hard: HardCasesFile =
            toml::from_str(HARD_CASES).context("fixtures/demo/hard_cases.toml")?;

        let mut codes = BTreeSet::new();
        for s in &catalog.services {
            if !codes.insert(s.code.clone()) {
                bail!("catalog: service code {} appears twice", s.code);
            }
            if s.notes.is_empty() || s.findings.is_empty() {
                bail!("catalog: service {} needs visit notes and findings", s.code);
            }
        }
        let tenants = world
            .tenants
            .into_iter()
            .map(|t| parse_tenant(t, &codes))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let hard_cases = hard
            .customers
            .into_iter()
            .map(|h| parse_hard_case(h, &tenants, &codes))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut keys = BTreeSet::new();
        for h in &hard_cases {
            if !keys.insert(h.key.as_str()) {
                bail!("hard case {} appears twice", h.key);
            }
        }
        Ok(Fixtures {
            tenants,
            catalog: catalog.services,
            people: People {
                first_names: Pool::new(people.first_names, "first_names")?,
                last_names: Pool::new(people.last_names, "last_names")?,
                companies: Pool::new(people.companies, "companies")?,
                email_domains: Pool::new(people.email_domains, "email_domains")?,
            },
            hard_cases,
        })
    }

    pub(crate) fn tenant(&self, slug: &str) -> anyhow::Result<&TenantFx> {
        self.tenants
            .iter()
            .find(|t| t.slug == slug)
            .ok_or_else(|| anyhow!("fixtures have no tenant `{slug}`"))
    }
}

fn phone(raw: &str, what: &str) -> anyhow::Result<PhoneE164> {
    PhoneE164::parse(raw).map_err(|e| anyhow!("{what}: {e}"))
}

fn weekday(raw: &str) -> anyhow::Result<Weekday> {
    Ok(match raw {
        "mon" => Weekday::Mon,
        "tue" => Weekday::Tue,
        "wed" => Weekday::Wed,
        "thu" => Weekday::Thu,
        "fri" => Weekday::Fri,
        "sat" => Weekday::Sat,
        "sun" => Weekday::Sun,
        other => bail!("`{other}` is not a weekday (mon..sun)"),
    })
}

/// `"08:00-18:00"` or `"closed"`.
fn day_hours(raw: &str) -> anyhow::Result<Option<DayHours>> {
    if raw == "closed" {
        return Ok(None);
    }
    let (open, close) = raw
        .split_once('-')
        .ok_or_else(|| anyhow!("hours `{raw}`: expected HH:MM-HH:MM or closed"))?;
    let t = |s: &str| {
        NaiveTime::parse_from_str(s.trim(), "%H:%M").map_err(|e| anyhow!("hours `{raw}`: {e}"))
    };
    let (open, close) = (t(open)?, t(close)?);
    if open >= close {
        bail!("hours `{raw}`: opening must come before closing");
    }
    Ok(Some(DayHours { open, close }))
}

fn parse_tenant(t: RawTenant, catalog: &BTreeSet<String>) -> anyhow::Result<TenantFx> {
    let ctx = format!("tenant {}", t.slug);
    let timezone = TenantTz::parse(&t.timezone).map_err(|e| anyhow!("{ctx}: {e}"))?;
    let day = |d: &str| -> anyhow::Result<Option<DayHours>> {
        let raw = t
            .hours
            .get(d)
            .ok_or_else(|| anyhow!("{ctx}: hours for `{d}` missing"))?;
        day_hours(raw).with_context(|| ctx.clone())
    };
    let hours = BusinessHours {
        mon: day("mon")?,
        tue: day("tue")?,
        wed: day("wed")?,
        thu: day("thu")?,
        fri: day("fri")?,
        sat: day("sat")?,
        sun: day("sun")?,
    };
    for s in &t.services {
        if !catalog.contains(s) {
            bail!("{ctx}: unknown service code {s}");
        }
    }
    let zones = t
        .zones
        .into_iter()
        .map(|z| {
            Ok(ZoneFx {
                streets: Pool::new(z.streets, &format!("{ctx} zone {} streets", z.code))?,
                code: z.code,
                name: z.name,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if zones.is_empty() {
        bail!("{ctx}: needs at least one zone");
    }
    let mut taken = BTreeSet::new();
    let technicians = t
        .technicians
        .into_iter()
        .map(|tech| {
            let mut zone_days = Vec::new();
            for (zone, days) in &tech.work {
                if !zones.iter().any(|z| &z.code == zone) {
                    bail!("{ctx}: technician {} works unknown zone {zone}", tech.name);
                }
                for d in days {
                    let wd = weekday(d)?.num_days_from_monday();
                    if !taken.insert((zone.clone(), wd)) {
                        bail!("{ctx}: two technicians work {zone} on {d}");
                    }
                    zone_days.push((zone.clone(), wd));
                }
            }
            Ok(TechnicianFx {
                phone: phone(&tech.phone, &ctx)?,
                name: tech.name,
                zone_days,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let operators = t
        .operators
        .into_iter()
        .map(|o| {
            Ok(OperatorFx {
                role: o.role.parse().map_err(|e| anyhow!("{ctx}: {e}"))?,
                name: o.name,
                email: o.email,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(TenantFx {
        numbers: t
            .numbers
            .iter()
            .map(|n| phone(n, &ctx))
            .collect::<anyhow::Result<_>>()?,
        office_phone: phone(&t.office_phone, &ctx)?,
        on_call: phone(&t.on_call, &ctx)?,
        slug: t.slug,
        name: t.name,
        timezone,
        state: t.state,
        invoice_prefix: t.invoice_prefix,
        generated_customers: t.generated_customers,
        services: t.services,
        branding: t.branding,
        hours,
        zones,
        technicians,
        operators,
    })
}

fn parse_hard_case(
    h: RawHardCase,
    tenants: &[TenantFx],
    catalog: &BTreeSet<String>,
) -> anyhow::Result<HardCase> {
    let ctx = format!("hard case {}", h.key);
    let tenant = tenants
        .iter()
        .find(|t| t.slug == h.tenant)
        .ok_or_else(|| anyhow!("{ctx}: unknown tenant {}", h.tenant))?;
    for p in &h.plans {
        if !catalog.contains(p) || !tenant.services.contains(p) {
            bail!("{ctx}: plan {p} is not sold by {}", tenant.slug);
        }
    }
    if h.properties.is_empty() {
        bail!("{ctx}: needs a property");
    }
    let properties = h
        .properties
        .into_iter()
        .map(|p| {
            if !tenant.zones.iter().any(|z| z.code == p.zone) {
                bail!("{ctx}: unknown zone {}", p.zone);
            }
            Ok(HardProperty {
                kind: match p.kind.as_deref() {
                    None => PropertyKind::Residential,
                    Some(k) => k.parse().map_err(|e| anyhow!("{ctx}: {e}"))?,
                },
                street: p.street,
                city: p.city,
                zip: p.zip,
                zone: p.zone,
                sq_ft: p.sq_ft,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(HardCase {
        phones: h
            .phones
            .iter()
            .map(|p| phone(p, &ctx))
            .collect::<anyhow::Result<_>>()?,
        key: h.key,
        tenant: h.tenant,
        first_name: h.first_name,
        last_name: h.last_name,
        company: h.company,
        emails: h.emails,
        autopay: h.autopay,
        portal: h.portal,
        plans: h.plans,
        properties,
    })
}
