//! The frame every seeded tenant stands on: the tenant row, its zones, catalog, technicians
//! with their zone-days, operator users, and the service windows — two a day (08:00–12:00 and
//! 12:00–16:00 local) on every zone-day a technician works, from a week before `now` to four
//! weeks after, six stops each.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, Utc};

use super::fixtures::{Pool, ServiceFx, Street, TenantFx};
use crate::domain::{
    Cents, Policy, ServiceId, SlotId, TechnicianId, TenantId, TenantTz, UserId, ZoneId,
};
use crate::store::{NewService, NewSlot, NewTenant, Store};

/// Local service windows as (start hour, end hour).
pub(crate) const WINDOWS: [(u32, u32); 2] = [(8, 12), (12, 16)];
/// Stops per window.
pub(crate) const CAPACITY: i64 = 6;
/// Windows exist from this many days before `now`...
pub(crate) const DAYS_BEFORE: i64 = 7;
/// ...to this many days after.
pub(crate) const DAYS_AFTER: i64 = 28;

pub(crate) struct ZoneCtx {
    pub id: ZoneId,
    pub code: String,
    pub streets: Pool<Street>,
}

pub(crate) struct ServiceCtx {
    pub id: ServiceId,
    pub fx: ServiceFx,
}

impl ServiceCtx {
    pub(crate) fn per_visit(&self, sq_ft: Option<i64>) -> Cents {
        self.fx
            .pricing
            .quote(sq_ft, &[])
            .map(|q| q.per_visit_cents)
            .unwrap_or(self.fx.pricing.base_cents)
    }

    pub(crate) fn first_visit(&self, sq_ft: Option<i64>) -> Cents {
        self.fx
            .pricing
            .quote(sq_ft, &[])
            .map(|q| q.first_visit_total_cents)
            .unwrap_or(self.fx.pricing.base_cents)
    }
}

/// One window as the generators track it (with the stops they have taken so far).
#[derive(Debug, Clone)]
pub(crate) struct SlotCtx {
    pub id: SlotId,
    pub zone: ZoneId,
    pub tech: TechnicianId,
    pub date: NaiveDate,
    pub am: bool,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub booked: i64,
}

pub(crate) struct Scaffold {
    pub tenant: TenantId,
    pub tz: TenantTz,
    pub today: NaiveDate,
    pub state: String,
    pub zones: Vec<ZoneCtx>,
    pub services: BTreeMap<String, ServiceCtx>,
    /// Who works a zone on a weekday (Monday = 0).
    pub zone_day_tech: BTreeMap<(ZoneId, u32), TechnicianId>,
    pub slots: Vec<SlotCtx>,
    /// Operator users by e-mail.
    pub operators: BTreeMap<String, UserId>,
}

impl Scaffold {
    pub(crate) fn zone(&self, code: &str) -> anyhow::Result<&ZoneCtx> {
        self.zones
            .iter()
            .find(|z| z.code == code)
            .ok_or_else(|| anyhow::anyhow!("unknown zone {code}"))
    }

    pub(crate) fn service(&self, code: &str) -> anyhow::Result<&ServiceCtx> {
        self.services
            .get(code)
            .ok_or_else(|| anyhow::anyhow!("tenant does not sell service {code}"))
    }

    /// The technician working `zone` on `date`, walking back to the closest earlier day the
    /// zone is worked (history visits happen on working days only).
    pub(crate) fn worked_day(
        &self,
        zone: ZoneId,
        date: NaiveDate,
    ) -> Option<(NaiveDate, TechnicianId)> {
        (0..7).find_map(|back| {
            let d = date - Duration::days(back);
            self.zone_day_tech
                .get(&(zone, d.weekday().num_days_from_monday()))
                .map(|t| (d, *t))
        })
    }

    /// The local wall-clock time on a date as an instant.
    pub(crate) fn at(&self, date: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
        let time =
            NaiveTime::from_hms_opt(hour.min(23), minute.min(59), 0).unwrap_or(NaiveTime::MIN);
        self.tz.instant(date, time)
    }
}

/// Create the tenant and its frame. `services` lists the catalog codes it sells.
pub(crate) async fn build(
    store: &Store,
    fx: &TenantFx,
    catalog: &[ServiceFx],
    now: DateTime<Utc>,
) -> anyhow::Result<Scaffold> {
    let tenant = store
        .insert_tenant(
            &NewTenant {
                slug: fx.slug.clone(),
                name: fx.name.clone(),
                timezone: fx.timezone,
                business_hours: fx.hours.clone(),
                policy: Policy::default(),
                phone_numbers: fx.numbers.iter().map(|n| n.as_str().to_string()).collect(),
                on_call_number: Some(fx.on_call.as_str().to_string()),
                office_phone: Some(fx.office_phone.as_str().to_string()),
                branding: fx.branding.clone(),
            },
            now.timestamp(),
        )
        .await?;

    let mut zones = Vec::with_capacity(fx.zones.len());
    for z in &fx.zones {
        let id = store.insert_zone(tenant, &z.code, &z.name).await?;
        zones.push(ZoneCtx {
            id,
            code: z.code.clone(),
            streets: z.streets.clone(),
        });
    }
    let zone_id = |code: &str| {
        zones
            .iter()
            .find(|z| z.code == code)
            .map(|z| z.id)
            .ok_or_else(|| anyhow::anyhow!("unknown zone {code}"))
    };

    let mut services = BTreeMap::new();
    for code in &fx.services {
        let s = catalog
            .iter()
            .find(|s| &s.code == code)
            .ok_or_else(|| anyhow::anyhow!("unknown service {code}"))?;
        let id = store
            .insert_service(
                tenant,
                &NewService {
                    code: s.code.clone(),
                    name: s.name.clone(),
                    description: s.description.clone(),
                    pests: s.pests.clone(),
                    duration_minutes: s.duration_minutes,
                    pricing: s.pricing.clone(),
                    recurring_interval_days: s.recurring_interval_days,
                    agent_bookable: s.agent_bookable,
                },
            )
            .await?;
        services.insert(code.clone(), ServiceCtx { id, fx: s.clone() });
    }

    let mut zone_day_tech = BTreeMap::new();
    for t in &fx.technicians {
        let days = t
            .zone_days
            .iter()
            .map(|(code, wd)| Ok((zone_id(code)?, *wd)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let id = store
            .insert_technician(tenant, &t.name, Some(t.phone.as_str()), &days)
            .await?;
        for d in days {
            zone_day_tech.insert(d, id);
        }
    }

    let mut operators = BTreeMap::new();
    for o in &fx.operators {
        let id = store
            .insert_operator_user(tenant, &o.name, &o.email, o.role)
            .await?;
        operators.insert(o.email.clone(), id);
    }

    let tz = fx.timezone;
    let today = tz.local(now).date_naive();
    let mut scaffold = Scaffold {
        tenant,
        tz,
        today,
        state: fx.state.clone(),
        zones,
        services,
        zone_day_tech,
        slots: Vec::new(),
        operators,
    };
    let mut planned = Vec::new();
    for offset in -DAYS_BEFORE..=DAYS_AFTER {
        let date = today + Duration::days(offset);
        let wd = date.weekday().num_days_from_monday();
        for z in &scaffold.zones {
            let Some(tech) = scaffold.zone_day_tech.get(&(z.id, wd)) else {
                continue;
            };
            for (start, end) in WINDOWS {
                planned.push(SlotCtx {
                    id: SlotId(0),
                    zone: z.id,
                    tech: *tech,
                    date,
                    am: start < 12,
                    starts_at: scaffold.at(date, start, 0),
                    ends_at: scaffold.at(date, end, 0),
                    booked: 0,
                });
            }
        }
    }
    let new: Vec<NewSlot> = planned
        .iter()
        .map(|s| NewSlot {
            zone_id: s.zone,
            technician_id: s.tech,
            starts_at: s.starts_at,
            ends_at: s.ends_at,
            capacity: CAPACITY,
        })
        .collect();
    let ids = store.insert_slots(tenant, &new).await?;
    for (s, id) in planned.iter_mut().zip(ids) {
        s.id = id;
    }
    scaffold.slots = planned;
    Ok(scaffold)
}
