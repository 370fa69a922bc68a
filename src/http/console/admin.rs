//! The office manager's pages: the policy editor (with who changed what), the dashboard
//! (charts drawn here as SVG from the summary report) and the audit log.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::extract::State;
use chrono::{Duration, NaiveTime};
use serde_json::Value;

use super::{esc, page, time_el, Nav, Operator, PageResult};
use crate::app::AppState;
use crate::operators::reports::summarize;
use crate::store::AuditFilter;

/// Days the dashboard covers, ending today.
const DASHBOARD_DAYS: i64 = 14;

/// One input per number and flag of the settings document, named by its dotted path.
fn inputs(path: &str, v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            if !path.is_empty() {
                let _ = write!(
                    out,
                    "<fieldset><legend>{}</legend>",
                    esc(&path.replace(['.', '_'], " "))
                );
            }
            for (k, v) in map {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                inputs(&p, v, out);
            }
            if !path.is_empty() {
                out.push_str("</fieldset>");
            }
        }
        Value::Bool(b) => {
            let _ = write!(
                out,
                "<label class=\"inline\"><input type=\"checkbox\" name=\"{p}\"{c}> {l}</label>",
                p = esc(path),
                c = if *b { " checked" } else { "" },
                l = esc(&label(path)),
            );
        }
        Value::Number(n) => {
            let _ = write!(
                out,
                "<label>{l} <input type=\"number\" name=\"{p}\" value=\"{n}\" data-type=\"number\" step=\"any\"></label>",
                p = esc(path),
                l = esc(&label(path)),
            );
        }
        _ => {}
    }
}

fn label(path: &str) -> String {
    path.rsplit('.').next().unwrap_or(path).replace('_', " ")
}

pub async fn policy(State(state): State<AppState>, op: Operator) -> PageResult {
    op.require_admin()?;
    let now = state.clock.now();
    let t = &op.tenant;
    let policy = serde_json::to_value(&t.policy).unwrap_or(Value::Null);
    let hours = serde_json::to_string_pretty(&t.business_hours).unwrap_or_default();
    let mut fields = String::new();
    inputs("policy", &policy, &mut fields);
    let mut history = String::new();
    let entries = state
        .store
        .audit_entries(
            t.id,
            &AuditFilter {
                action: Some("tenant.settings".into()),
                limit: 20,
                ..AuditFilter::default()
            },
        )
        .await?;
    for e in &entries {
        let changes = diff(e.before.as_ref(), e.after.as_ref());
        let _ = write!(
            history,
            "<li>{} · <strong>{}</strong> changed {}</li>",
            time_el(op.tz(), e.at),
            esc(&super::who_label(&state, &op, &e.actor).await),
            esc(&changes)
        );
    }
    if entries.is_empty() {
        history.push_str("<li class=\"empty\">No changes yet.</li>");
    }
    let body = format!(
        "<h1>Policy and hours</h1><form id=\"policy\" data-api=\"/api/v1/operator/policy\" data-method=\"PUT\">\
{fields}<fieldset><legend>on call</legend><label>On-call number <input name=\"on_call_number\" value=\"{on_call}\" data-type=\"nullable\"></label></fieldset>\
<fieldset><legend>business hours</legend><label for=\"hours\">Weekly hours (JSON, local time; null is closed)</label>\
<textarea id=\"hours\" name=\"business_hours\" rows=\"9\" data-type=\"json\">{hours}</textarea></fieldset>\
<button type=\"submit\">Save</button></form>\
<section class=\"card\"><h2>Changes</h2><ul id=\"policy-history\">{history}</ul></section>",
        on_call = esc(t.on_call_number.as_deref().unwrap_or("")),
        hours = esc(&hours),
    );
    Ok(page(&op, now, Nav::Policy, "Policy", &body))
}

/// `a.b: 1 → 2, …` for the leaves that differ.
fn diff(before: Option<&Value>, after: Option<&Value>) -> String {
    fn leaves(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    leaves(&p, v, out);
                }
            }
            other => {
                out.insert(prefix.to_string(), other.to_string());
            }
        }
    }
    let (mut b, mut a) = (BTreeMap::new(), BTreeMap::new());
    if let Some(v) = before {
        leaves("", v, &mut b);
    }
    if let Some(v) = after {
        leaves("", v, &mut a);
    }
    let mut out = Vec::new();
    for (k, av) in &a {
        let bv = b.get(k).map(String::as_str).unwrap_or("—");
        if bv != av {
            out.push(format!("{k}: {bv} → {av}"));
        }
    }
    if out.is_empty() {
        "nothing".into()
    } else {
        out.join(", ")
    }
}

/// A horizontal bar chart.
fn bars(title: &str, data: &[(String, f64)], unit: &str) -> String {
    let max = data
        .iter()
        .map(|(_, v)| *v)
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let row = 26;
    let h = (data.len().max(1) * row + 10) as i64;
    let mut svg = format!(
        "<figure class=\"chart\"><figcaption>{}</figcaption><svg role=\"img\" aria-label=\"{}\" viewBox=\"0 0 520 {h}\" width=\"520\" height=\"{h}\">",
        esc(title),
        esc(title)
    );
    for (i, (label, v)) in data.iter().enumerate() {
        let y = i * row + 5;
        let w = (v / max * 300.0).round() as i64;
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{ty}\" font-size=\"12\" fill=\"#333\">{l}</text>\
<rect x=\"170\" y=\"{y}\" width=\"{w}\" height=\"18\" fill=\"#2f7d5b\"></rect>\
<text x=\"{tx}\" y=\"{ty}\" font-size=\"12\" fill=\"#333\">{v}{unit}</text>",
            ty = y + 14,
            l = esc(label),
            tx = 176 + w,
            v = if v.fract() == 0.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.1}")
            },
        );
    }
    if data.is_empty() {
        svg.push_str("<text x=\"0\" y=\"20\" font-size=\"12\" fill=\"#666\">No data yet</text>");
    }
    svg.push_str("</svg></figure>");
    svg
}

/// Columns over days.
fn columns(title: &str, data: &[(String, i64)]) -> String {
    let max = data.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1) as f64;
    let w = 34;
    let width = data.len() as i64 * w + 10;
    let mut svg = format!(
        "<figure class=\"chart\"><figcaption>{t}</figcaption><svg role=\"img\" aria-label=\"{t}\" viewBox=\"0 0 {width} 170\" width=\"{width}\" height=\"170\">",
        t = esc(title)
    );
    for (i, (label, v)) in data.iter().enumerate() {
        let x = i as i64 * w + 5;
        let h = (*v as f64 / max * 120.0).round() as i64;
        let _ = write!(
            svg,
            "<rect x=\"{x}\" y=\"{y}\" width=\"24\" height=\"{h}\" fill=\"#3a6ea5\"></rect>\
<text x=\"{tx}\" y=\"{vy}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#333\">{v}</text>\
<text x=\"{tx}\" y=\"165\" font-size=\"9\" text-anchor=\"middle\" fill=\"#555\">{l}</text>",
            y = 140 - h,
            vy = 136 - h,
            tx = x + 12,
            l = esc(label),
        );
    }
    svg.push_str("</svg></figure>");
    svg
}

pub async fn dashboard(State(state): State<AppState>, op: Operator) -> PageResult {
    op.require_admin()?;
    let now = state.clock.now();
    let t = &op.tenant;
    let tz = op.tz();
    let today = tz.local(now).date_naive();
    let start_day = today - Duration::days(DASHBOARD_DAYS - 1);
    let midnight = |d: chrono::NaiveDate| tz.instant(d, NaiveTime::MIN);
    let (from, to) = (midnight(start_day), midnight(today + Duration::days(1)));
    let rows = state.store.report_rows(t.id, from, to).await?;
    let s = summarize(&rows, tz, &t.business_hours, to, now);
    let mut per_day = Vec::new();
    for i in 0..DASHBOARD_DAYS {
        let d = start_day + Duration::days(i);
        let (f, e) = (midnight(d), midnight(d + Duration::days(1)));
        let rows = state.store.report_rows(t.id, f, e).await?;
        let day = summarize(&rows, tz, &t.business_hours, e, now);
        per_day.push((d.format("%-m/%-d").to_string(), day.escalations));
    }
    let by_reason: Vec<(String, f64)> = s
        .escalations_by_reason
        .iter()
        .map(|(k, v)| (k.replace('_', " "), *v as f64))
        .collect();
    let containment = vec![
        ("contained".to_string(), s.contained as f64),
        (
            "escalated".to_string(),
            (s.conversations - s.contained) as f64,
        ),
    ];
    let claim = vec![
        (
            "median to claim".to_string(),
            s.median_minutes_to_claim.unwrap_or(0.0),
        ),
        (
            "median to resolve".to_string(),
            s.median_minutes_to_resolve.unwrap_or(0.0),
        ),
    ];
    let after_hours = vec![
        (
            "after-hours bookings".to_string(),
            s.after_hours_bookings as f64,
        ),
        ("agent bookings".to_string(), s.agent_bookings as f64),
        (
            "after-hours conversations".to_string(),
            s.after_hours_conversations as f64,
        ),
    ];
    let body = format!(
        "<h1>Dashboard</h1><p class=\"muted\">{from} to {to} ({tzname})</p>\
<ul class=\"kpis\"><li><span>Conversations</span><strong id=\"kpi-conversations\">{conv}</strong></li>\
<li><span>Escalations</span><strong id=\"kpi-escalations\">{esc_n}</strong></li>\
<li><span>Containment</span><strong>{rate:.0}%</strong></li>\
<li><span>SLA breaches</span><strong>{breaches}</strong></li>\
<li><span>After-hours bookings</span><strong>{ahb}</strong></li></ul>\
<div class=\"charts\">{c1}{c2}{c3}{c4}{c5}</div>",
        from = start_day.format("%b %-d"),
        to = today.format("%b %-d, %Y"),
        tzname = esc(tz.name()),
        conv = s.conversations,
        esc_n = s.escalations,
        rate = s.containment_rate * 100.0,
        breaches = s.sla_breaches,
        ahb = s.after_hours_bookings,
        c1 = columns("Escalations per day", &per_day),
        c2 = bars("Escalations by reason", &by_reason, ""),
        c3 = bars("Containment (conversations)", &containment, ""),
        c4 = bars("Time to claim and resolve (minutes)", &claim, " min"),
        c5 = bars("Bookings", &after_hours, ""),
    );
    Ok(page(&op, now, Nav::Dashboard, "Dashboard", &body))
}

pub async fn audit(State(state): State<AppState>, op: Operator) -> PageResult {
    op.require_admin()?;
    let now = state.clock.now();
    let entries = state
        .store
        .audit_entries(
            op.tenant.id,
            &AuditFilter {
                limit: 100,
                ..AuditFilter::default()
            },
        )
        .await?;
    let mut rows = String::new();
    for e in &entries {
        let _ = write!(
            rows,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} {}</td><td>{}</td></tr>",
            time_el(op.tz(), e.at),
            esc(&super::who_label(&state, &op, &e.actor).await),
            esc(&e.action),
            esc(&e.target_kind),
            esc(e.target_id.as_deref().unwrap_or("")),
            esc(e.note.as_deref().unwrap_or(""))
        );
    }
    let body = format!(
        "<h1>Audit log</h1><table class=\"audit\"><thead><tr><th>When</th><th>Who</th><th>Action</th><th>Target</th><th>Note</th></tr></thead><tbody>{rows}</tbody></table>"
    );
    Ok(page(&op, now, Nav::Audit, "Audit log", &body))
}
