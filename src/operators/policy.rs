//! Changing a tenant's policy, business hours and on-call number by API: the change is a
//! partial document merged over the current settings (unknown keys refused), every number
//! checked against its range, each refusal with a stable code.

use serde_json::Value;

use crate::domain::{BusinessHours, PhoneE164, Policy};

/// A refused change: a stable code and a message naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub code: &'static str,
    pub message: String,
}

fn invalid(code: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        code,
        message: message.into(),
    }
}

/// The settings an admin edits.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Settings {
    pub policy: Policy,
    pub business_hours: BusinessHours,
    pub on_call_number: Option<String>,
}

/// Merge `patch` over `base` (objects key by key; anything else replaces).
fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                match b.get_mut(k) {
                    Some(slot) if v.is_object() && slot.is_object() => merge(slot, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

/// The first key of `patch` that `known` does not have, as a dotted path.
fn unknown_key(patch: &Value, known: &Value, prefix: &str) -> Option<String> {
    let (Value::Object(p), Value::Object(k)) = (patch, known) else {
        return None;
    };
    for (key, v) in p {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match k.get(key) {
            None => return Some(path),
            Some(kv) => {
                if let Some(found) = unknown_key(v, kv, &path) {
                    return Some(found);
                }
            }
        }
    }
    None
}

fn range(field: &str, v: i64, lo: i64, hi: i64) -> Result<(), Invalid> {
    if (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(invalid(
            "policy_out_of_range",
            format!("`{field}` must be from {lo} to {hi}"),
        ))
    }
}

/// Apply a change to the current settings; the result is complete and valid, or refused.
pub fn apply(current: &Settings, patch: &Value) -> Result<Settings, Invalid> {
    if !patch.is_object() {
        return Err(invalid("invalid_settings", "send a JSON object"));
    }
    // Keys every day may have, even when it is closed today.
    let day = serde_json::json!({ "open": "", "close": "" });
    let mut known =
        serde_json::to_value(current).map_err(|e| invalid("invalid_settings", e.to_string()))?;
    if let Some(h) = known
        .get_mut("business_hours")
        .and_then(Value::as_object_mut)
    {
        for v in h.values_mut() {
            *v = day.clone();
        }
    }
    if let Some(path) = unknown_key(patch, &known, "") {
        return Err(invalid(
            "unknown_setting",
            format!("`{path}` is not a setting"),
        ));
    }
    let mut merged =
        serde_json::to_value(current).map_err(|e| invalid("invalid_settings", e.to_string()))?;
    merge(&mut merged, patch);
    let policy: Policy = serde_json::from_value(merged["policy"].clone())
        .map_err(|e| invalid("invalid_policy", e.to_string()))?;
    let business_hours: BusinessHours = serde_json::from_value(merged["business_hours"].clone())
        .map_err(|e| invalid("invalid_business_hours", e.to_string()))?;
    let on_call_number = match &merged["on_call_number"] {
        Value::Null => None,
        Value::String(s) => Some(
            PhoneE164::parse(s)
                .map_err(|_| {
                    invalid(
                        "invalid_on_call_number",
                        "`on_call_number` must be a phone number in E.164 form",
                    )
                })?
                .to_string(),
        ),
        _ => {
            return Err(invalid(
                "invalid_on_call_number",
                "`on_call_number` must be a string or null",
            ))
        }
    };
    let p = &policy;
    range(
        "policy.portal_reschedule.min_hours_ahead",
        p.portal_reschedule.min_hours_ahead,
        0,
        720,
    )?;
    range(
        "policy.portal_reschedule.max_days_from_original",
        p.portal_reschedule.max_days_from_original,
        0,
        365,
    )?;
    range(
        "policy.agent_reschedule.min_hours_ahead",
        p.agent_reschedule.min_hours_ahead,
        0,
        720,
    )?;
    range(
        "policy.agent_reschedule.max_days_from_original",
        p.agent_reschedule.max_days_from_original,
        0,
        365,
    )?;
    range(
        "policy.agent_reschedule.max_reschedules",
        p.agent_reschedule.max_reschedules,
        0,
        50,
    )?;
    range(
        "policy.booking.max_days_ahead",
        p.booking.max_days_ahead,
        1,
        365,
    )?;
    for (f, v) in [
        (
            "policy.escalation.sla_urgent_minutes",
            p.escalation.sla_urgent_minutes,
        ),
        (
            "policy.escalation.sla_high_minutes",
            p.escalation.sla_high_minutes,
        ),
        (
            "policy.escalation.sla_normal_minutes",
            p.escalation.sla_normal_minutes,
        ),
        (
            "policy.escalation.sla_low_minutes",
            p.escalation.sla_low_minutes,
        ),
    ] {
        range(f, v, 1, 10_080)?;
    }
    let e = &p.escalation;
    if !(e.sla_urgent_minutes <= e.sla_high_minutes
        && e.sla_high_minutes <= e.sla_normal_minutes
        && e.sla_normal_minutes <= e.sla_low_minutes)
    {
        return Err(invalid(
            "policy_inconsistent",
            "SLA minutes must not grow with priority: urgent ≤ high ≤ normal ≤ low",
        ));
    }
    range(
        "policy.sms_max_segments",
        i64::from(p.sms_max_segments),
        1,
        10,
    )?;
    range(
        "policy.quiet_hours_start",
        i64::from(p.quiet_hours_start),
        0,
        23,
    )?;
    range(
        "policy.quiet_hours_end",
        i64::from(p.quiet_hours_end),
        0,
        23,
    )?;
    let n = &p.notices;
    for (f, v) in [
        (
            "policy.notices.reminder_day_before_hour",
            n.reminder_day_before_hour,
        ),
        (
            "policy.notices.reminder_morning_of_hour",
            n.reminder_morning_of_hour,
        ),
    ] {
        range(f, i64::from(v), 0, 23)?;
    }
    range(
        "policy.notices.survey_escalate_at_or_below",
        i64::from(n.survey_escalate_at_or_below),
        0,
        5,
    )?;
    range(
        "policy.notices.invoice_overdue_every_days",
        n.invoice_overdue_every_days,
        1,
        90,
    )?;
    range(
        "policy.notices.invoice_overdue_max",
        n.invoice_overdue_max,
        0,
        12,
    )?;
    for (name, d) in [
        ("mon", business_hours.mon),
        ("tue", business_hours.tue),
        ("wed", business_hours.wed),
        ("thu", business_hours.thu),
        ("fri", business_hours.fri),
        ("sat", business_hours.sat),
        ("sun", business_hours.sun),
    ] {
        if let Some(d) = d {
            if d.close <= d.open {
                return Err(invalid(
                    "invalid_business_hours",
                    format!("`business_hours.{name}` must close after it opens"),
                ));
            }
        }
    }
    Ok(Settings {
        policy,
        business_hours,
        on_call_number,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn current() -> Settings {
        Settings {
            policy: Policy::default(),
            business_hours: serde_json::from_value(json!({
                "mon": { "open": "08:00:00", "close": "17:00:00" }, "tue": null, "wed": null,
                "thu": null, "fri": null, "sat": null, "sun": null
            }))
            .expect("hours"),
            on_call_number: Some("+15125550999".into()),
        }
    }

    #[test]
    fn partial_changes_merge_and_bad_ones_are_refused_with_codes() {
        let c = current();
        let s = apply(
            &c,
            &json!({ "policy": { "agent_reschedule": { "max_reschedules": 5 } } }),
        )
        .expect("ok");
        assert_eq!(s.policy.agent_reschedule.max_reschedules, 5);
        assert_eq!(
            s.policy.agent_reschedule.min_hours_ahead,
            c.policy.agent_reschedule.min_hours_ahead
        );
        let s = apply(&c, &json!({ "business_hours": { "tue": { "open": "09:00:00", "close": "12:00:00" } }, "on_call_number": null })).expect("ok");
        assert!(s.business_hours.tue.is_some());
        assert_eq!(s.on_call_number, None);
        let code = |p: Value| apply(&c, &p).expect_err("refused").code;
        assert_eq!(
            code(json!({ "policy": { "quiet_hours_start": 24 } })),
            "policy_out_of_range"
        );
        assert_eq!(
            code(json!({ "policy": { "agent_reschedule": { "max_reschedules": -1 } } })),
            "policy_out_of_range"
        );
        assert_eq!(
            code(json!({ "policy": { "nonsense": 1 } })),
            "unknown_setting"
        );
        assert_eq!(
            code(json!({ "policy": { "booking": { "enabled": "yes" } } })),
            "invalid_policy"
        );
        assert_eq!(
            code(
                json!({ "business_hours": { "mon": { "open": "17:00:00", "close": "08:00:00" } } })
            ),
            "invalid_business_hours"
        );
        assert_eq!(
            code(json!({ "on_call_number": "call Bob" })),
            "invalid_on_call_number"
        );
        assert_eq!(
            code(json!({ "policy": { "escalation": { "sla_urgent_minutes": 600 } } })),
            "policy_inconsistent"
        );
        assert_eq!(code(json!([1])), "invalid_settings");
    }
}
