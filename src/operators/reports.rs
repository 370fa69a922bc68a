//! The office summary report, computed from the records of a window (never from counters):
//! conversations by channel, containment, escalations by reason and priority, median minutes
//! to claim and to resolve, SLA breaches, after-hours conversations and bookings,
//! reschedules by who made them, revenue the agent booked, opt-outs.
//!
//! An escalation breaches its SLA when it was first picked up (claimed, or resolved without
//! a claim) after its due time, or is still untouched at the end of the window (or now, if
//! earlier) past its due time.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::{BusinessHours, TenantTz};
use crate::store::ReportRows;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub conversations: i64,
    pub conversations_by_channel: BTreeMap<String, i64>,
    /// Conversations that never needed a person.
    pub contained: i64,
    /// `contained / conversations`, rounded to 3 places (0 when there are none).
    pub containment_rate: f64,
    pub escalations: i64,
    pub escalations_by_reason: BTreeMap<String, i64>,
    pub escalations_by_priority: BTreeMap<String, i64>,
    pub median_minutes_to_claim: Option<f64>,
    pub median_minutes_to_resolve: Option<f64>,
    pub sla_breaches: i64,
    pub after_hours_conversations: i64,
    pub after_hours_bookings: i64,
    pub reschedules_by_agent: i64,
    pub reschedules_by_csr: i64,
    pub reschedules_by_portal: i64,
    pub agent_bookings: i64,
    pub agent_revenue_cents: i64,
    pub opt_outs: i64,
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    let m = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some((m * 10.0).round() / 10.0)
}

pub fn summarize(
    rows: &ReportRows,
    tz: TenantTz,
    hours: &BusinessHours,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Summary {
    let after_hours = |at: i64| !hours.is_open(tz, crate::store::ts_pub(at));
    let mut by_channel = BTreeMap::new();
    for (_, ch, _, _) in &rows.conversations {
        *by_channel.entry(ch.clone()).or_insert(0) += 1;
    }
    let conversations = rows.conversations.len() as i64;
    let contained = rows.conversations.iter().filter(|c| !c.3).count() as i64;
    let mut by_reason = BTreeMap::new();
    let mut by_priority = BTreeMap::new();
    let mut to_claim = Vec::new();
    let mut to_resolve = Vec::new();
    let mut breaches = 0;
    let horizon = to.min(now).timestamp();
    for (_, reason, priority, created, due, resolved, claimed) in &rows.escalations {
        *by_reason.entry(reason.clone()).or_insert(0) += 1;
        *by_priority.entry(priority.clone()).or_insert(0) += 1;
        if let Some(c) = claimed {
            to_claim.push((c - created) as f64 / 60.0);
        }
        if let Some(r) = resolved {
            to_resolve.push((r - created) as f64 / 60.0);
        }
        let picked_up = claimed.or(*resolved);
        let breached = match picked_up {
            Some(at) => at > *due,
            None => horizon > *due,
        };
        breaches += i64::from(breached);
    }
    Summary {
        conversations,
        conversations_by_channel: by_channel,
        contained,
        containment_rate: if conversations == 0 {
            0.0
        } else {
            ((contained as f64 / conversations as f64) * 1000.0).round() / 1000.0
        },
        escalations: rows.escalations.len() as i64,
        escalations_by_reason: by_reason,
        escalations_by_priority: by_priority,
        median_minutes_to_claim: median(to_claim),
        median_minutes_to_resolve: median(to_resolve),
        sla_breaches: breaches,
        after_hours_conversations: rows
            .conversations
            .iter()
            .filter(|c| after_hours(c.2))
            .count() as i64,
        after_hours_bookings: rows.bookings.iter().filter(|at| after_hours(**at)).count() as i64,
        reschedules_by_agent: rows.agent_reschedules,
        reschedules_by_csr: rows.csr_reschedules,
        reschedules_by_portal: rows.portal_reschedules,
        agent_bookings: rows.agent_bookings.len() as i64,
        agent_revenue_cents: rows.agent_bookings.iter().map(|b| b.1).sum(),
        opt_outs: rows.opt_outs,
    }
}

/// The summary as `metric,value` CSV lines (maps flattened as `metric.key`).
pub fn to_csv(s: &Summary) -> String {
    let mut out = String::from("metric,value\n");
    let v = serde_json::to_value(s).unwrap_or_default();
    if let Some(obj) = v.as_object() {
        for (k, val) in obj {
            match val {
                serde_json::Value::Object(m) => {
                    for (mk, mv) in m {
                        out.push_str(&format!("{k}.{mk},{mv}\n"));
                    }
                }
                serde_json::Value::Null => out.push_str(&format!("{k},\n")),
                other => out.push_str(&format!("{k},{other}\n")),
            }
        }
    }
    out
}
