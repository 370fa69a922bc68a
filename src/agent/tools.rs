//! Tools the model may call, bound to the specs in `tools/*.json`. Policy is enforced here,
//! whatever the model asks: identity comes from the runtime (never from arguments), every
//! rule that allows or refuses a call is named, writes pass the confirmation guard, and
//! every call is stored with its arguments, result and decision.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Timelike, Utc};
use serde_json::{json, Value};

use super::escalation::{self, EscalationRequest};
use super::state::{AgentState, OfferedWindow, Proposal};
use super::ToolSpec;
use crate::domain::{
    AppointmentId, Channel, ConversationId, CustomerId, EscalationReason, IdentityLevel,
    PropertyId, PropertyKind, SlotId, TenantTz,
};
use crate::search::SearchIndex;
use crate::store::{
    EventKind, NewAppointment, NewToolCall, Property, Service, Store, StoreError, Tenant, Tx,
};

/// The specs, reviewable as files, compiled in.
const SPECS: &[&str] = &[
    include_str!("../../tools/verify_identity.json"),
    include_str!("../../tools/list_appointments.json"),
    include_str!("../../tools/find_open_windows.json"),
    include_str!("../../tools/reschedule_appointment.json"),
    include_str!("../../tools/quote_price.json"),
    include_str!("../../tools/book_service.json"),
    include_str!("../../tools/get_balance.json"),
    include_str!("../../tools/list_services.json"),
    include_str!("../../tools/escalate.json"),
];

pub fn specs() -> Vec<ToolSpec> {
    SPECS
        .iter()
        .filter_map(|s| serde_json::from_str(s).ok())
        .collect()
}

/// Who the runtime believes is on the other end.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub level: IdentityLevel,
    pub customer: Option<CustomerId>,
    pub property: Option<PropertyId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    Refused,
    NeedsConfirmation,
    Error,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allowed => "allowed",
            Decision::Refused => "refused",
            Decision::NeedsConfirmation => "needs_confirmation",
            Decision::Error => "error",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ToolOutcome {
    pub decision: Decision,
    pub rule: String,
    pub result: Value,
}

impl ToolOutcome {
    fn allowed(rule: &str, result: Value) -> Self {
        ToolOutcome {
            decision: Decision::Allowed,
            rule: rule.into(),
            result,
        }
    }
    fn refused(rule: &str, message: &str) -> Self {
        ToolOutcome {
            decision: Decision::Refused,
            rule: rule.into(),
            result: json!({ "status": "refused", "rule": rule, "message": message }),
        }
    }
    fn error(message: &str) -> Self {
        ToolOutcome {
            decision: Decision::Error,
            rule: "error".into(),
            result: json!({ "status": "error", "message": message }),
        }
    }
}

/// Everything a tool may use. The runtime builds it per turn.
pub struct ToolCtx<'a> {
    pub store: &'a Store,
    pub tx: &'a mut Tx,
    pub search: &'a SearchIndex,
    pub tenant: &'a Tenant,
    pub conversation: ConversationId,
    /// The inbox row of the message this turn answers.
    pub inbox_id: i64,
    pub channel: Channel,
    /// How a person reaches the writer (their number when the channel reported one).
    pub participant: &'a str,
    /// The channel vouches for the writer's number (SMS from the carrier, a trusted
    /// integration, a portal session): a phone on file verifies without a knowledge factor.
    pub caller_verifies: bool,
    pub identity: &'a mut Identity,
    pub state: &'a mut AgentState,
    pub now: DateTime<Utc>,
    /// The customer's latest message agrees to what was last proposed.
    pub customer_affirmed: bool,
    /// The latest customer message (for escalation summaries).
    pub customer_text: &'a str,
    /// Set by `escalate`: the acknowledgement to send.
    pub escalated: Option<escalation::Escalated>,
    /// A confirmation question a write tool needs shown in this turn's reply.
    pub confirm_text: Option<String>,
    /// The customer writes in Spanish: confirmation questions and acknowledgements follow.
    pub spanish: bool,
    /// Short log of what tools did this turn (for summaries).
    pub actions: Vec<String>,
}

/// Run one tool call under policy and store it in the audit trail.
pub async fn run(
    ctx: &mut ToolCtx<'_>,
    name: &str,
    args: &Value,
) -> Result<ToolOutcome, StoreError> {
    let outcome = match dispatch(ctx, name, args).await {
        Ok(o) => o,
        Err(StoreError::WindowFull) => {
            ToolOutcome::refused("capacity", "that window just filled up; offer another")
        }
        Err(StoreError::NotFound) => {
            ToolOutcome::refused("not_found", "no such record for this customer")
        }
        Err(StoreError::Conflict(what)) => ToolOutcome::refused("conflict", what),
        Err(e) => return Err(e),
    };
    ctx.actions.push(format!(
        "{name} → {} ({})",
        outcome.decision.as_str(),
        outcome.rule
    ));
    let call = NewToolCall {
        tool: name.to_string(),
        arguments: super::builtin::mask_json(args),
        result: super::builtin::mask_json(&outcome.result),
        decision: outcome.decision.as_str().to_string(),
        rule: outcome.rule.clone(),
    };
    ctx.tx
        .insert_tool_call(ctx.tenant.id, ctx.conversation, &call, ctx.now)
        .await?;
    Ok(outcome)
}

async fn dispatch(
    ctx: &mut ToolCtx<'_>,
    name: &str,
    args: &Value,
) -> Result<ToolOutcome, StoreError> {
    match name {
        "verify_identity" => verify_identity(ctx, args).await,
        "list_appointments" => list_appointments(ctx).await,
        "find_open_windows" => find_open_windows(ctx, args).await,
        "reschedule_appointment" => reschedule(ctx, args).await,
        "quote_price" => quote_price(ctx, args).await,
        "book_service" => book_service(ctx, args).await,
        "get_balance" => get_balance(ctx).await,
        "list_services" => list_services(ctx).await,
        "escalate" => escalate(ctx, args).await,
        other => Ok(ToolOutcome::error(&format!("unknown tool `{other}`"))),
    }
}

// ---------------------------------------------------------------------------------------
// Argument helpers

fn arg_str<'v>(args: &'v Value, key: &str) -> Option<&'v str> {
    args.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn arg_i64(args: &Value, key: &str) -> Option<i64> {
    args.get(key).and_then(|v| {
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
    })
}

fn arg_list(args: &Value, key: &str) -> Vec<String> {
    args.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn arg_date(args: &Value, key: &str) -> Option<NaiveDate> {
    arg_str(args, key).and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
}

/// "Tue Nov 24, 8 AM–12 PM" in the tenant's zone.
pub fn window_label(tz: TenantTz, start: DateTime<Utc>, end: DateTime<Utc>) -> String {
    let s = tz.local(start);
    let e = tz.local(end);
    format!(
        "{}, {}–{}",
        s.format("%a %b %-d"),
        hour_label(s.hour(), s.minute()),
        hour_label(e.hour(), e.minute())
    )
}

fn hour_label(h: u32, m: u32) -> String {
    let (h12, ampm) = match h {
        0 => (12, "AM"),
        1..=11 => (h, "AM"),
        12 => (12, "PM"),
        _ => (h - 12, "PM"),
    };
    if m == 0 {
        format!("{h12} {ampm}")
    } else {
        format!("{h12}:{m:02} {ampm}")
    }
}

fn require_verified(ctx: &ToolCtx<'_>) -> Option<ToolOutcome> {
    if ctx.identity.level != IdentityLevel::Verified || ctx.identity.customer.is_none() {
        return Some(ToolOutcome::refused(
            "identity.verified_required",
            "verify the customer first; until then share nothing about any account",
        ));
    }
    if !ctx.state.property_candidates.is_empty() && ctx.identity.property.is_none() {
        return Some(ToolOutcome::refused(
            "identity.property_required",
            "ask which service address (street) this is about",
        ));
    }
    None
}

async fn customer_properties(ctx: &ToolCtx<'_>) -> Result<Vec<Property>, StoreError> {
    let Some(customer) = ctx.identity.customer else {
        return Ok(Vec::new());
    };
    let mut props = ctx.store.properties(ctx.tenant.id, customer).await?;
    if let Some(p) = ctx.identity.property {
        props.retain(|x| x.id == p);
    }
    Ok(props)
}

// ---------------------------------------------------------------------------------------
// Identity

/// Street text agreement: the best token-level similarity of the given street against a
/// property's street (typo-tolerant), in 0..=1.
pub fn street_similarity(given: &str, street: &str) -> f64 {
    let norm = |s: &str| -> Vec<String> {
        s.to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty() && !STREET_SUFFIXES.contains(w))
            .map(str::to_string)
            .collect()
    };
    let g = norm(given);
    let s = norm(street);
    if g.is_empty() || s.is_empty() {
        return 0.0;
    }
    let mut total = 0.0;
    for w in &g {
        let best = s.iter().map(|t| similarity(w, t)).fold(0.0, f64::max);
        total += best;
    }
    total / g.len() as f64
}

const STREET_SUFFIXES: &[&str] = &[
    "st", "street", "dr", "drive", "ave", "avenue", "rd", "road", "ln", "lane", "ct", "court",
    "blvd", "way", "cv", "cove", "trl", "trail", "pl", "place", "cir", "circle", "pkwy", "the",
    "on", "at", "apt", "unit",
];

/// 1 - normalised Damerau–Levenshtein distance.
pub fn similarity(a: &str, b: &str) -> f64 {
    let d = damerau(a, b) as f64;
    let n = a.chars().count().max(b.chars().count()).max(1) as f64;
    1.0 - d / n
}

pub fn damerau(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    super::builtin::damerau_levenshtein(&a, &b)
}

fn street_number(street: &str) -> Option<&str> {
    street
        .split_whitespace()
        .next()
        .filter(|w| w.chars().all(|c| c.is_ascii_digit()))
}

fn name_words(given: &str) -> Vec<String> {
    given
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric() && c != '\'' && c != '-')
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// One name part agrees with what was said: close in edit distance (typo-tolerant).
fn name_part_agrees(given: &str, on_file: &str) -> bool {
    similarity(given, on_file) >= 0.7
        || (on_file.chars().count() >= 3 && damerau(given, on_file) <= 1)
}

/// A full name (first AND last, typo-tolerant, in any order) agrees with the one on file;
/// a single word never does. See docs/identity.md.
fn full_name_agrees(given: &str, first: &str, last: &str) -> bool {
    let g = name_words(given);
    if g.len() < 2 {
        return false;
    }
    let first = first.to_lowercase();
    let last = last.to_lowercase();
    // A last name of several words ("Garcia Lopez") may be said whole.
    let last_words = name_words(&last);
    let last_ok = |i: usize| {
        name_part_agrees(&g[i], &last)
            || (last_words.len() > 1 && g[i..].join(" ").starts_with(&last))
    };
    (0..g.len())
        .any(|i| name_part_agrees(&g[i], &first) && (0..g.len()).any(|j| j != i && last_ok(j)))
}

const VERIFY_FAIL: &str =
    "I couldn't match those details. Please check the name, service address and ZIP.";

/// Rules of `verify_identity` outcomes that checked no knowledge factor (not an attempt).
const NOT_AN_ATTEMPT: &[&str] = &[
    "identity.already_verified",
    "identity.details_required",
    "identity.property_required",
];

/// `verify_identity` under the attempt limits of docs/identity.md: one attempt per customer
/// message, and a lock (with an `identity_unresolved` escalation) after too many failures in
/// this conversation or from this caller within the policy's window.
async fn verify_identity(ctx: &mut ToolCtx<'_>, args: &Value) -> Result<ToolOutcome, StoreError> {
    if ctx.identity.level == IdentityLevel::Verified && ctx.state.property_candidates.is_empty() {
        return Ok(ToolOutcome::allowed(
            "identity.already_verified",
            json!({ "status": "verified" }),
        ));
    }
    let limits = ctx.tenant.policy.identity.clone();
    let since = ctx.now - Duration::hours(limits.caller_window_hours);
    let caller_failures = ctx
        .tx
        .failed_verifications(ctx.tenant.id, ctx.participant, since)
        .await?;
    if ctx.state.identity_locked
        || ctx.state.failed_verifications >= limits.max_failed_per_conversation
        || caller_failures >= i64::from(limits.max_failed_per_caller)
    {
        lock_identity(ctx).await?;
        return Ok(ToolOutcome::refused(
            "identity.locked",
            "too many failed verification attempts; a person will follow up",
        ));
    }
    if ctx.state.verification_attempt_turn == Some(ctx.state.turn) {
        return Ok(ToolOutcome::refused(
            "identity.one_attempt_per_message",
            "one verification attempt per customer message; ask the customer",
        ));
    }
    let outcome = verify_attempt(ctx, args).await?;
    if !NOT_AN_ATTEMPT.contains(&outcome.rule.as_str()) {
        ctx.state.verification_attempt_turn = Some(ctx.state.turn);
    }
    if outcome.rule == "identity.no_match" {
        ctx.state.failed_verifications += 1;
        if ctx.state.failed_verifications >= limits.max_failed_per_conversation
            || caller_failures + 1 >= i64::from(limits.max_failed_per_caller)
        {
            lock_identity(ctx).await?;
        }
    }
    Ok(outcome)
}

/// No more verification in this conversation: hand it to a person (once).
async fn lock_identity(ctx: &mut ToolCtx<'_>) -> Result<(), StoreError> {
    ctx.state.identity_locked = true;
    if ctx.escalated.is_none() && !ctx.state.acknowledged_escalation {
        let request = EscalationRequest {
            reason: EscalationReason::IdentityUnresolved,
            priority: None,
            model_summary: "Verification attempts exhausted; the caller is not verified."
                .to_string(),
        };
        ctx.escalated = Some(escalation::open(ctx, request).await?);
    }
    Ok(())
}

/// One verification attempt. Failures carry the rule `identity.no_match` (what the limits
/// count); nothing returned before verification holds a knowledge factor.
async fn verify_attempt(ctx: &mut ToolCtx<'_>, args: &Value) -> Result<ToolOutcome, StoreError> {
    let t = ctx.tenant.id;
    let street = arg_str(args, "street");
    let number = arg_str(args, "street_number")
        .map(str::to_string)
        .or_else(|| street.and_then(street_number).map(str::to_string));
    let zip = arg_str(args, "zip");
    let name = arg_str(args, "name");

    // Several properties behind this phone (families, property managers): pick by street.
    if !ctx.state.property_candidates.is_empty() {
        let Some(street) = street else {
            return Ok(ToolOutcome::refused(
                "identity.property_required",
                "ask which service street this is about",
            ));
        };
        let mut best: Option<(f64, Property)> = None;
        for pid in ctx.state.property_candidates.clone() {
            let p = ctx.store.property(t, pid).await?;
            let mut score = street_similarity(street, &p.street);
            if number
                .as_deref()
                .is_some_and(|n| street_number(&p.street) == Some(n))
            {
                score += 0.5;
            }
            if best.as_ref().is_none_or(|(s, _)| score > *s) {
                best = Some((score, p));
            }
        }
        return Ok(match best {
            Some((score, p)) if score >= 0.75 => {
                ctx.identity.customer = Some(p.customer_id);
                ctx.identity.property = Some(p.id);
                ctx.state.property_candidates.clear();
                // A number the channel vouches for verifies; otherwise (voice, an integration
                // that does not verify its callers) a knowledge factor is needed, which a
                // matching street number or ZIP provides.
                let factor = number
                    .as_deref()
                    .is_some_and(|n| street_number(&p.street) == Some(n))
                    || zip == Some(p.zip.as_str());
                if ctx.caller_verifies || factor {
                    ctx.identity.level = IdentityLevel::Verified;
                }
                // The street with its house number is a knowledge factor: only a verified
                // caller gets it back.
                let result = if ctx.identity.level == IdentityLevel::Verified {
                    json!({ "status": "verified", "property": p.street })
                } else {
                    json!({ "status": ctx.identity.level.as_str() })
                };
                ToolOutcome::allowed("identity.property_selected", result)
            }
            _ => ToolOutcome::refused(
                "identity.no_match",
                "no service address on this account matches; ask again, never list addresses",
            ),
        });
    }

    // Caller id matched (voice): one knowledge factor verifies.
    if ctx.identity.level == IdentityLevel::Matched {
        let props = customer_properties(ctx).await?;
        let ok = props.iter().any(|p| {
            number
                .as_deref()
                .is_some_and(|n| street_number(&p.street) == Some(n))
                || zip == Some(p.zip.as_str())
        });
        if ok {
            ctx.identity.level = IdentityLevel::Verified;
            return Ok(ToolOutcome::allowed(
                "identity.knowledge_factor",
                json!({ "status": "verified" }),
            ));
        }
        if number.is_some() || zip.is_some() {
            return Ok(ToolOutcome::refused("identity.no_match", VERIFY_FAIL));
        }
    }

    // Unknown number: full name + service address with house number + ZIP, typo-tolerant
    // through the search index (docs/identity.md).
    let (Some(name), Some(street), Some(number), Some(zip)) = (name, street, number, zip) else {
        return Ok(ToolOutcome::refused(
            "identity.details_required",
            "ask for the full name (first and last), the service address with the house number, and the ZIP code",
        ));
    };
    // The street name itself (a house number alone is not an address).
    let street_name: String = street
        .split_whitespace()
        .filter(|w| !w.chars().all(|c| c.is_ascii_digit()))
        .collect::<Vec<_>>()
        .join(" ");
    if name_words(name).len() < 2 || street_name.is_empty() {
        return Ok(ToolOutcome::refused(
            "identity.details_required",
            "ask for the full name (first and last), the service address with the house number, and the ZIP code",
        ));
    }
    let query = format!("{name} {number} {street_name}");
    let hits = ctx
        .search
        .search(t, &query, 20)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut best: Option<(f64, CustomerId, PropertyId)> = None;
    for hit in hits {
        let Ok(c) = ctx.store.customer(t, hit.customer_id).await else {
            continue;
        };
        if !full_name_agrees(name, &c.first_name, &c.last_name) {
            continue;
        }
        for p in ctx.store.properties(t, c.id).await? {
            if p.zip != zip {
                continue;
            }
            let s = street_similarity(&street_name, &p.street);
            if s >= 0.7 && street_number(&p.street) == Some(number.as_str()) {
                let score = s;
                if best.is_none_or(|(b, _, _)| score > b) {
                    best = Some((score, c.id, p.id));
                }
            }
        }
    }
    Ok(match best {
        Some((_, customer, property)) => {
            ctx.identity.customer = Some(customer);
            ctx.identity.property = Some(property);
            ctx.identity.level = IdentityLevel::Verified;
            ctx.state.property_candidates.clear();
            ToolOutcome::allowed("identity.name_address_zip", json!({ "status": "verified" }))
        }
        None => ToolOutcome::refused("identity.no_match", VERIFY_FAIL),
    })
}

// ---------------------------------------------------------------------------------------
// Scheduling

async fn list_appointments(ctx: &mut ToolCtx<'_>) -> Result<ToolOutcome, StoreError> {
    if let Some(refusal) = require_verified(ctx) {
        return Ok(refusal);
    }
    let Some(customer) = ctx.identity.customer else {
        return Ok(ToolOutcome::error("no customer"));
    };
    let tz = ctx.tenant.timezone;
    let props = customer_properties(ctx).await?;
    let appts: Vec<Value> = ctx
        .store
        .appointments(ctx.tenant.id, customer)
        .await?
        .into_iter()
        .filter(|a| {
            a.status.is_open()
                && a.window_end > ctx.now
                && props.iter().any(|p| p.id == a.property_id)
        })
        .map(|a| {
            let street = props
                .iter()
                .find(|p| p.id == a.property_id)
                .map(|p| p.street.clone())
                .unwrap_or_default();
            json!({
                "appointment_id": a.id,
                "service": a.service,
                "window": window_label(tz, a.window_start, a.window_end),
                "window_start": crate::record::local(tz, a.window_start),
                "property": street,
                "status": a.status,
                "reschedule_count": a.reschedule_count,
            })
        })
        .collect();
    Ok(ToolOutcome::allowed(
        "identity.verified",
        json!({ "appointments": appts }),
    ))
}

struct WindowQuery {
    earliest: DateTime<Utc>,
    latest: DateTime<Utc>,
    dates: Vec<NaiveDate>,
    morning: Option<bool>,
    after: Option<NaiveTime>,
    limit: usize,
}

async fn find_open_windows(ctx: &mut ToolCtx<'_>, args: &Value) -> Result<ToolOutcome, StoreError> {
    if let Some(refusal) = require_verified(ctx) {
        return Ok(refusal);
    }
    let t = ctx.tenant.id;
    let policy = &ctx.tenant.policy;
    let tz = ctx.tenant.timezone;
    let (zone, earliest, latest, rule) = if let Some(aid) = arg_i64(args, "appointment_id") {
        let a = ctx.store.appointment(t, AppointmentId(aid)).await?;
        if Some(a.customer_id) != ctx.identity.customer {
            return Ok(ToolOutcome::refused(
                "not_found",
                "no such appointment for this customer",
            ));
        }
        let p = ctx.store.property(t, a.property_id).await?;
        let r = &policy.agent_reschedule;
        // Offering windows for a visit the agent may not move would only disappoint.
        if !r.enabled {
            return Ok(ToolOutcome::refused(
                "agent_reschedule.enabled",
                "the agent may not reschedule; escalate",
            ));
        }
        if a.reschedule_count >= r.max_reschedules {
            return Ok(ToolOutcome::refused(
                "agent_reschedule.max_reschedules",
                "this visit was moved too many times; escalate (out_of_policy)",
            ));
        }
        (
            p.zone_id,
            ctx.now + Duration::hours(r.min_hours_ahead),
            a.original_window_start + Duration::days(r.max_days_from_original + 1),
            "agent_reschedule.window",
        )
    } else {
        let props = customer_properties(ctx).await?;
        let Some(p) = props.first() else {
            return Ok(ToolOutcome::refused(
                "booking.known_property",
                "no known property to book at",
            ));
        };
        (
            p.zone_id,
            ctx.now + Duration::hours(policy.agent_reschedule.min_hours_ahead),
            ctx.now + Duration::days(policy.booking.max_days_ahead),
            "booking.window",
        )
    };
    let mut q = WindowQuery {
        earliest,
        latest,
        dates: arg_list(args, "dates")
            .iter()
            .filter_map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            .collect(),
        morning: match arg_str(args, "part_of_day") {
            Some("morning") => Some(true),
            Some("afternoon") => Some(false),
            _ => None,
        },
        after: arg_str(args, "after").and_then(|s| NaiveTime::parse_from_str(s, "%H:%M").ok()),
        limit: arg_i64(args, "limit").unwrap_or(3).clamp(1, 10) as usize,
    };
    if let Some(from) = arg_date(args, "from") {
        q.earliest = q.earliest.max(tz.instant(from, NaiveTime::MIN));
    }
    if let Some(to) = arg_date(args, "to") {
        q.latest = q
            .latest
            .min(tz.instant(to + Duration::days(1), NaiveTime::MIN));
    }
    let slots = ctx
        .store
        .open_slots(t, zone, q.earliest, q.latest, 500)
        .await?;
    let matches = |s: &crate::store::Slot| {
        let local = tz.local(s.starts_at);
        let date_ok = q.dates.is_empty() || q.dates.contains(&local.date_naive());
        let part_ok = q.morning.is_none_or(|m| (local.hour() < 12) == m);
        let after_ok = q.after.is_none_or(|a| {
            tz.local(s.ends_at).time() > a
                && local.time() >= a.min(NaiveTime::from_hms_opt(12, 0, 0).unwrap_or(a))
        });
        date_ok && part_ok && after_ok
    };
    // Did the customer ask for dates the policy puts out of reach (too soon, too far)?
    // Every requested date is outside the allowed range, or all of its windows (of the
    // requested part of the day) start outside it.
    let mut requested_outside_policy = !q.dates.is_empty();
    for d in &q.dates {
        let day_start = tz.instant(*d, NaiveTime::MIN);
        let day_end = tz.instant(*d + Duration::days(1), NaiveTime::MIN);
        if day_end <= earliest || day_start >= latest {
            continue;
        }
        let day: Vec<crate::store::Slot> = ctx
            .store
            .open_slots(t, zone, day_start, day_end, 50)
            .await?
            .into_iter()
            .filter(|s| {
                q.morning
                    .is_none_or(|m| (tz.local(s.starts_at).hour() < 12) == m)
            })
            .collect();
        if day.is_empty()
            || day
                .iter()
                .any(|s| s.starts_at >= earliest && s.starts_at < latest)
        {
            requested_outside_policy = false;
            break;
        }
    }
    let mut chosen: Vec<&crate::store::Slot> = Vec::new();
    // Preferred dates in the customer's order first, then the earliest others.
    for d in &q.dates {
        chosen.extend(
            slots
                .iter()
                .filter(|s| tz.local(s.starts_at).date_naive() == *d && matches(s)),
        );
    }
    if q.dates.is_empty() {
        chosen.extend(slots.iter().filter(|s| matches(s)));
    }
    chosen.truncate(q.limit);
    ctx.state.offered = chosen
        .iter()
        .map(|s| OfferedWindow {
            slot_id: s.id,
            label: window_label(tz, s.starts_at, s.ends_at),
        })
        .collect();
    let windows: Vec<Value> = chosen
        .iter()
        .map(|s| json!({ "slot_id": s.id, "window": window_label(tz, s.starts_at, s.ends_at), "start": crate::record::local(tz, s.starts_at) }))
        .collect();
    Ok(ToolOutcome::allowed(
        rule,
        json!({
            "windows": windows,
            "allowed_range": { "earliest": crate::record::local(tz, earliest), "latest": crate::record::local(tz, latest) },
            "requested_outside_policy": requested_outside_policy,
        }),
    ))
}

/// The confirmation guard. `Some(outcome)` means: do not write now.
fn guard(ctx: &mut ToolCtx<'_>, tool: &str, args: &Value, summary: String) -> Option<ToolOutcome> {
    let canonical = canonical_args(args);
    let confirmed = ctx.state.proposal.as_ref().is_some_and(|p| {
        p.tool == tool
            && p.arguments == canonical
            && p.shown_in_turn.is_some_and(|t| t + 1 == ctx.state.turn)
            // The agreement must have been written after the question was sent.
            && p.answerable_after_inbox.is_some_and(|after| ctx.inbox_id > after)
            && ctx.customer_affirmed
    });
    if confirmed {
        ctx.state.proposal = None;
        return None;
    }
    let question = match (ctx.spanish, ctx.channel == Channel::Voice) {
        (true, true) => format!("{summary} Diga sí para confirmar."),
        (true, false) => format!("{summary} Responda SÍ para confirmar."),
        (false, true) => format!("{summary} Say yes to confirm."),
        (false, false) => format!("{summary} Reply YES to confirm."),
    };
    ctx.state.proposal = Some(Proposal {
        tool: tool.into(),
        arguments: canonical,
        summary: summary.clone(),
        shown_in_turn: None,
        answerable_after_inbox: None,
    });
    ctx.confirm_text = Some(question.clone());
    Some(ToolOutcome {
        decision: Decision::NeedsConfirmation,
        rule: "confirmation.required".into(),
        result: json!({ "status": "needs_confirmation", "confirm_text": question }),
    })
}

fn canonical_args(args: &Value) -> Value {
    let mut v = args.clone();
    if let Some(obj) = v.as_object_mut() {
        obj.retain(|_, val| !val.is_null());
        for (_, val) in obj.iter_mut() {
            if let Some(n) = val.as_str().and_then(|s| s.trim().parse::<i64>().ok()) {
                *val = json!(n);
            }
        }
    }
    v
}

async fn reschedule(ctx: &mut ToolCtx<'_>, args: &Value) -> Result<ToolOutcome, StoreError> {
    if let Some(refusal) = require_verified(ctx) {
        return Ok(refusal);
    }
    let t = ctx.tenant.id;
    let tz = ctx.tenant.timezone;
    let r = ctx.tenant.policy.agent_reschedule.clone();
    let (Some(aid), Some(sid)) = (arg_i64(args, "appointment_id"), arg_i64(args, "slot_id")) else {
        return Ok(ToolOutcome::error(
            "appointment_id and slot_id are required",
        ));
    };
    let a = ctx.store.appointment(t, AppointmentId(aid)).await?;
    if Some(a.customer_id) != ctx.identity.customer
        || ctx.identity.property.is_some_and(|p| p != a.property_id)
    {
        return Ok(ToolOutcome::refused(
            "not_found",
            "no such appointment for this customer",
        ));
    }
    if !r.enabled {
        return Ok(ToolOutcome::refused(
            "agent_reschedule.enabled",
            "the agent may not reschedule; escalate",
        ));
    }
    if !a.status.is_open() {
        return Ok(ToolOutcome::refused(
            "agent_reschedule.status",
            "this visit can no longer be moved; escalate",
        ));
    }
    if a.reschedule_count >= r.max_reschedules {
        return Ok(ToolOutcome::refused(
            "agent_reschedule.max_reschedules",
            "this visit was moved too many times; escalate (out_of_policy)",
        ));
    }
    let slot = ctx.store.slot(t, SlotId(sid)).await?;
    let property = ctx.store.property(t, a.property_id).await?;
    if slot.zone_id != property.zone_id {
        return Ok(ToolOutcome::refused(
            "agent_reschedule.zone",
            "that window is not in this property's zone",
        ));
    }
    if slot.starts_at < ctx.now + Duration::hours(r.min_hours_ahead) {
        return Ok(ToolOutcome::refused(
            "agent_reschedule.min_hours_ahead",
            "the new window is too soon; offer a later one or escalate",
        ));
    }
    let distance = (tz.local(slot.starts_at).date_naive()
        - tz.local(a.original_window_start).date_naive())
    .num_days()
    .abs();
    if distance > r.max_days_from_original {
        return Ok(ToolOutcome::refused(
            "agent_reschedule.max_days_from_original",
            "the new window is too far from the original date; escalate (out_of_policy)",
        ));
    }
    if slot.booked >= slot.capacity {
        return Ok(ToolOutcome::refused(
            "capacity",
            "that window is full; offer another",
        ));
    }
    let from = window_label(tz, a.window_start, a.window_end);
    let to = window_label(tz, slot.starts_at, slot.ends_at);
    let summary = if ctx.spanish {
        format!(
            "¿Cambiamos su visita de {} en {} del {} al {}?",
            a.service,
            property.street,
            crate::agent::builtin::spanish::window_es(&from),
            crate::agent::builtin::spanish::window_es(&to)
        )
    } else {
        format!(
            "Move your {} visit at {} from {from} to {to}?",
            a.service, property.street
        )
    };
    if let Some(wait) = guard(ctx, "reschedule_appointment", args, summary) {
        return Ok(wait);
    }
    ctx.tx
        .reschedule_appointment(t, a.id, slot.id, "agent", ctx.now)
        .await?;
    ctx.tx
        .emit_event(
            t,
            EventKind::AppointmentMoved,
            json!({ "appointment_id": a.id, "customer_id": a.customer_id, "by": "agent",
                    "conversation_id": ctx.conversation, "slot_id": slot.id,
                    "from": a.window_start, "to": slot.starts_at }),
            ctx.now,
        )
        .await?;
    Ok(ToolOutcome::allowed(
        "agent_reschedule.within_policy",
        json!({ "status": "rescheduled", "appointment_id": a.id, "from": from, "to": to, "service": a.service,
                "what_next": crate::notices::what_next(ctx.tenant, ctx.spanish) }),
    ))
}

// ---------------------------------------------------------------------------------------
// Catalog, booking, billing

fn find_service<'s>(services: &'s [Service], code: &str) -> Option<&'s Service> {
    let code_l = code.trim().to_lowercase();
    services
        .iter()
        .find(|s| s.code.to_lowercase() == code_l || s.name.to_lowercase() == code_l)
}

async fn quote_price(ctx: &mut ToolCtx<'_>, args: &Value) -> Result<ToolOutcome, StoreError> {
    let Some(code) = arg_str(args, "service_code") else {
        return Ok(ToolOutcome::error("service_code is required"));
    };
    let services = ctx.store.services(ctx.tenant.id).await?;
    let Some(service) = find_service(&services, code) else {
        return Ok(ToolOutcome::refused(
            "quote.catalog_only",
            "not a catalog service; do not guess a price — escalate or list services",
        ));
    };
    // The verified customer's own property size wins over a size the caller states.
    let mut sq_ft = arg_i64(args, "sq_ft");
    let mut basis = "stated size";
    if ctx.identity.level == IdentityLevel::Verified {
        if let Some(p) = customer_properties(ctx).await?.first() {
            if p.sq_ft.is_some() {
                sq_ft = p.sq_ft;
                basis = "property on file";
            }
        }
    }
    match service.pricing.quote(sq_ft, &arg_list(args, "add_ons")) {
        Ok(q) => Ok(ToolOutcome::allowed(
            "quote.catalog_rule",
            json!({
                "service": service.name,
                "service_code": service.code,
                "per_visit": q.per_visit_cents.to_string(),
                "initial_fee": q.initial_fee_cents.to_string(),
                "first_visit_total": q.first_visit_total_cents.to_string(),
                "per_visit_cents": q.per_visit_cents,
                "first_visit_total_cents": q.first_visit_total_cents,
                "recurring_interval_days": service.recurring_interval_days,
                "rule": q.rule,
                "size_basis": if sq_ft.is_some() { basis } else { "base price (size unknown)" },
            }),
        )),
        Err(e) => Ok(ToolOutcome::refused("quote.catalog_only", &e.to_string())),
    }
}

async fn book_service(ctx: &mut ToolCtx<'_>, args: &Value) -> Result<ToolOutcome, StoreError> {
    if let Some(refusal) = require_verified(ctx) {
        return Ok(refusal);
    }
    let t = ctx.tenant.id;
    let tz = ctx.tenant.timezone;
    let policy = ctx.tenant.policy.booking.clone();
    if !policy.enabled {
        return Ok(ToolOutcome::refused(
            "booking.enabled",
            "the agent may not book; escalate",
        ));
    }
    let (Some(code), Some(sid)) = (arg_str(args, "service_code"), arg_i64(args, "slot_id")) else {
        return Ok(ToolOutcome::error("service_code and slot_id are required"));
    };
    let services = ctx.store.services(t).await?;
    let Some(service) = find_service(&services, code).cloned() else {
        return Ok(ToolOutcome::refused(
            "booking.catalog_only",
            "unknown service; escalate",
        ));
    };
    if !service.agent_bookable {
        return Ok(ToolOutcome::refused(
            "booking.agent_bookable",
            "this service needs a specialist; escalate (out_of_policy)",
        ));
    }
    let props = customer_properties(ctx).await?;
    let Some(property) = props.first().cloned() else {
        return Ok(ToolOutcome::refused(
            "booking.known_property",
            "no known property; escalate",
        ));
    };
    if props.len() > 1 && ctx.identity.property.is_none() {
        return Ok(ToolOutcome::refused(
            "identity.property_required",
            "ask which service address (street) this is for",
        ));
    }
    if property.kind == PropertyKind::Commercial && !policy.allow_commercial {
        return Ok(ToolOutcome::refused(
            "booking.residential_only",
            "commercial properties are booked by the office; escalate",
        ));
    }
    let slot = ctx.store.slot(t, SlotId(sid)).await?;
    if slot.zone_id != property.zone_id {
        return Ok(ToolOutcome::refused(
            "booking.zone",
            "that window is not in this property's zone",
        ));
    }
    if slot.starts_at
        < ctx.now + Duration::hours(ctx.tenant.policy.agent_reschedule.min_hours_ahead)
        || slot.starts_at > ctx.now + Duration::days(policy.max_days_ahead)
    {
        return Ok(ToolOutcome::refused(
            "booking.window",
            "that window is outside the booking range",
        ));
    }
    if slot.booked >= slot.capacity {
        return Ok(ToolOutcome::refused(
            "capacity",
            "that window is full; offer another",
        ));
    }
    let quote = match service
        .pricing
        .quote(property.sq_ft, &arg_list(args, "add_ons"))
    {
        Ok(q) => q,
        Err(e) => return Ok(ToolOutcome::refused("booking.catalog_only", &e.to_string())),
    };
    let when = window_label(tz, slot.starts_at, slot.ends_at);
    let fee = if quote.initial_fee_cents.0 > 0 {
        format!(" (includes a {} initial fee)", quote.initial_fee_cents)
    } else {
        String::new()
    };
    let summary = format!(
        "Book {} at {} for {when}, {}{fee}?",
        service.name, property.street, quote.first_visit_total_cents
    );
    if let Some(wait) = guard(ctx, "book_service", args, summary) {
        return Ok(wait);
    }
    let Some(customer) = ctx.identity.customer else {
        return Ok(ToolOutcome::error("no customer"));
    };
    let new = NewAppointment {
        customer_id: customer,
        property_id: property.id,
        service_id: service.id,
        slot_id: slot.id,
        status: crate::domain::AppointmentStatus::Scheduled,
        price_cents: quote.first_visit_total_cents,
    };
    let id = ctx.tx.book_appointment(t, &new, ctx.now).await?;
    ctx.tx
        .emit_event(
            t,
            EventKind::AppointmentCreated,
            json!({ "appointment_id": id, "customer_id": customer, "by": "agent",
                    "conversation_id": ctx.conversation, "slot_id": slot.id,
                    "window_start": slot.starts_at, "price_cents": new.price_cents }),
            ctx.now,
        )
        .await?;
    Ok(ToolOutcome::allowed(
        "booking.within_policy",
        json!({ "status": "booked", "appointment_id": id, "service": service.name, "window": when, "price": quote.first_visit_total_cents.to_string(),
                "what_next": crate::notices::what_next(ctx.tenant, ctx.spanish) }),
    ))
}

async fn get_balance(ctx: &mut ToolCtx<'_>) -> Result<ToolOutcome, StoreError> {
    if let Some(refusal) = require_verified(ctx) {
        return Ok(refusal);
    }
    let Some(customer) = ctx.identity.customer else {
        return Ok(ToolOutcome::error("no customer"));
    };
    let today = ctx.tenant.timezone.local(ctx.now).date_naive();
    let invoices = ctx.store.invoices(ctx.tenant.id, customer).await?;
    let open: Vec<Value> = invoices
        .iter()
        .filter(|i| i.balance_cents.0 > 0)
        .map(|i| json!({ "number": i.number, "amount": i.amount_cents.to_string(), "balance": i.balance_cents.to_string(), "due_on": i.due_on, "overdue": i.due_on < today }))
        .collect();
    let balance: crate::domain::Cents = invoices.iter().map(|i| i.balance_cents).sum();
    let overdue: crate::domain::Cents = invoices
        .iter()
        .filter(|i| i.balance_cents.0 > 0 && i.due_on < today)
        .map(|i| i.balance_cents)
        .sum();
    let c = ctx.store.customer(ctx.tenant.id, customer).await?;
    Ok(ToolOutcome::allowed(
        "billing.verified",
        json!({ "balance": balance.to_string(), "balance_cents": balance, "overdue": overdue.to_string(), "open_invoices": open, "autopay": c.autopay }),
    ))
}

async fn list_services(ctx: &mut ToolCtx<'_>) -> Result<ToolOutcome, StoreError> {
    let services: Vec<Value> = ctx
        .store
        .services(ctx.tenant.id)
        .await?
        .into_iter()
        .map(|s| {
            let from = s.pricing.size_tiers.first().map(|t| t.price_cents).unwrap_or(s.pricing.base_cents);
            json!({
                "code": s.code, "name": s.name, "description": s.description, "pests": s.pests,
                "from_price": from.to_string(), "initial_fee": s.pricing.initial_fee_cents.to_string(),
                "recurring_interval_days": s.recurring_interval_days, "bookable_by_agent": s.agent_bookable,
            })
        })
        .collect();
    Ok(ToolOutcome::allowed(
        "catalog.public",
        json!({ "services": services }),
    ))
}

async fn escalate(ctx: &mut ToolCtx<'_>, args: &Value) -> Result<ToolOutcome, StoreError> {
    let reason = arg_str(args, "reason")
        .and_then(|r| r.parse::<EscalationReason>().ok())
        .unwrap_or(EscalationReason::Other);
    let priority = arg_str(args, "priority").and_then(|p| p.parse().ok());
    let request = EscalationRequest {
        reason,
        priority,
        model_summary: arg_str(args, "summary").unwrap_or("").to_string(),
    };
    let done = escalation::open(ctx, request).await?;
    let result = json!({ "status": "escalated", "escalation_id": done.id, "priority": done.priority, "follow_up": done.follow_up });
    ctx.escalated = Some(done);
    Ok(ToolOutcome::allowed("escalation.always_allowed", result))
}
