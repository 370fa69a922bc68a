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

pub mod contracts;

pub use crate::domain::Decision;
use contracts::{parse_args, Outcome};

/// `tools/<name>.json` and its text, for each name.
macro_rules! spec_files {
    ($($name:literal),* $(,)?) => {
        &[$((
            concat!("tools/", $name, ".json"),
            include_str!(concat!("../../tools/", $name, ".json")),
        )),*]
    };
}

/// The specs, reviewable as files, compiled in: `(file, text)`.
const SPEC_FILES: &[(&str, &str)] = spec_files!(
    "verify_identity",
    "list_appointments",
    "find_open_windows",
    "reschedule_appointment",
    "quote_price",
    "book_service",
    "get_balance",
    "list_services",
    "escalate",
);

/// The rule of a call to a tool that does not exist.
const UNKNOWN_TOOL: &str = "unknown_tool";

/// A tool spec file is unusable; the process does not start with it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("tool spec {file}: {problem}")]
pub struct SpecError {
    pub file: String,
    pub problem: String,
}

/// One `tools/*.json` file.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecFile {
    name: String,
    description: String,
    parameters: Value,
    /// The result's schema, for reviewers; the model is not sent it.
    #[allow(dead_code)]
    result: Value,
}

/// Parse and check spec files: each is well-formed, names a tool that has a handler, takes
/// an object of arguments, and appears once; every tool has its file.
pub fn parse_specs(files: &[(&str, &str)]) -> Result<Vec<ToolSpec>, SpecError> {
    let err = |file: &str, problem: String| SpecError {
        file: file.to_string(),
        problem,
    };
    let mut specs: Vec<ToolSpec> = Vec::with_capacity(files.len());
    for (file, text) in files {
        let f: SpecFile =
            serde_json::from_str(text).map_err(|e| err(file, format!("not a tool spec: {e}")))?;
        if !contracts::CONTRACTS.iter().any(|c| c.name == f.name) {
            return Err(err(file, format!("no tool is called `{}`", f.name)));
        }
        if f.description.trim().is_empty() {
            return Err(err(file, "the description is empty".into()));
        }
        if f.parameters.get("type").and_then(Value::as_str) != Some("object") {
            return Err(err(
                file,
                "`parameters` must be a schema of type object".into(),
            ));
        }
        if specs.iter().any(|s| s.name == f.name) {
            return Err(err(file, format!("`{}` is specified twice", f.name)));
        }
        specs.push(ToolSpec {
            name: f.name,
            description: f.description,
            parameters: f.parameters,
        });
    }
    for c in contracts::CONTRACTS {
        if !specs.iter().any(|s| s.name == c.name) {
            return Err(err(
                &format!("tools/{}.json", c.name),
                "missing: every tool needs its spec".into(),
            ));
        }
    }
    Ok(specs)
}

static SPECS: std::sync::LazyLock<Result<Vec<ToolSpec>, SpecError>> =
    std::sync::LazyLock::new(|| parse_specs(SPEC_FILES));

/// Checked at start-up: a malformed spec stops the process with this error.
pub fn check_specs() -> Result<(), SpecError> {
    SPECS.as_ref().map(|_| ()).map_err(Clone::clone)
}

/// The specs the model is told about (start-up checked them; see [`check_specs`]).
pub fn specs() -> Vec<ToolSpec> {
    match SPECS.as_ref() {
        Ok(s) => s.clone(),
        Err(e) => panic!("{e}"),
    }
}

/// Who the runtime believes is on the other end.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub level: IdentityLevel,
    pub customer: Option<CustomerId>,
    pub property: Option<PropertyId>,
}

#[derive(Debug, Clone)]
pub struct ToolOutcome {
    pub decision: Decision,
    pub rule: String,
    pub result: Value,
}

impl ToolOutcome {
    fn with<T: serde::Serialize>(decision: Decision, rule: &str, result: Outcome<T>) -> Self {
        ToolOutcome {
            decision,
            rule: rule.into(),
            result: serde_json::to_value(result).unwrap_or(Value::Null),
        }
    }
    fn allowed<T: serde::Serialize>(rule: &str, result: T) -> Self {
        Self::with(Decision::Allowed, rule, Outcome::Done(result))
    }
    fn refused(rule: &str, message: &str) -> Self {
        Self::with::<()>(
            Decision::Refused,
            rule,
            Outcome::Refused(contracts::Refused {
                status: contracts::RefusedWord::Refused,
                rule: rule.into(),
                message: message.into(),
            }),
        )
    }
    fn error(message: &str) -> Self {
        Self::with::<()>(
            Decision::Error,
            "error",
            Outcome::Error(contracts::Failed {
                status: contracts::ErrorWord::Error,
                message: message.into(),
            }),
        )
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
#[tracing::instrument(name = "tool_call", skip_all, fields(tool, decision, rule))]
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
        decision: outcome.decision,
        rule: outcome.rule.clone(),
    };
    ctx.tx
        .insert_tool_call(ctx.tenant.id, ctx.conversation, &call, ctx.now)
        .await?;
    // A model may invent tool names: those share one label.
    let label = if call.rule == UNKNOWN_TOOL {
        "unknown"
    } else {
        name
    };
    crate::metrics::record::tool(label, call.decision.as_str(), &call.rule);
    Ok(outcome)
}

/// Whether a tool only reads (its one write is its own audit row): a batch of such calls
/// needs no commit of its own before the model's next step (`agent::runtime::TurnTx`).
/// A tool missing here counts as writing.
pub fn reads_only(name: &str) -> bool {
    matches!(
        name,
        "find_open_windows" | "get_balance" | "list_appointments" | "list_services" | "quote_price"
    )
}

async fn dispatch(
    ctx: &mut ToolCtx<'_>,
    name: &str,
    args: &Value,
) -> Result<ToolOutcome, StoreError> {
    /// Typed arguments, or an error result that tells the model what was wrong.
    macro_rules! typed {
        ($t:ty) => {
            match parse_args::<$t>(name, args) {
                Ok(a) => a,
                Err(message) => return Ok(ToolOutcome::error(&message)),
            }
        };
    }
    match name {
        "verify_identity" => verify_identity(ctx, typed!(contracts::VerifyIdentityArgs)).await,
        "list_appointments" => {
            typed!(contracts::NoArgs);
            list_appointments(ctx).await
        }
        "find_open_windows" => find_open_windows(ctx, typed!(contracts::FindOpenWindowsArgs)).await,
        "reschedule_appointment" => {
            reschedule(ctx, typed!(contracts::RescheduleAppointmentArgs), args).await
        }
        "quote_price" => quote_price(ctx, typed!(contracts::QuotePriceArgs)).await,
        "book_service" => book_service(ctx, typed!(contracts::BookServiceArgs), args).await,
        "get_balance" => {
            typed!(contracts::NoArgs);
            get_balance(ctx).await
        }
        "list_services" => {
            typed!(contracts::NoArgs);
            list_services(ctx).await
        }
        "escalate" => escalate(ctx, typed!(contracts::EscalateArgs)).await,
        other => Ok(ToolOutcome {
            rule: UNKNOWN_TOOL.into(),
            ..ToolOutcome::error(&format!("unknown tool `{other}`"))
        }),
    }
}

/// "Tue Nov 24, 8 AM-12 PM" in the tenant's zone. A plain hyphen: an en dash alone would
/// make every SMS carrying a window UCS-2 (70 characters a segment instead of 160).
pub fn window_label(tz: TenantTz, start: DateTime<Utc>, end: DateTime<Utc>) -> String {
    let s = tz.local(start);
    let e = tz.local(end);
    format!(
        "{}, {}-{}",
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

/// 1 - normalised edit distance (optimal string alignment: Levenshtein plus adjacent swaps).
pub fn similarity(a: &str, b: &str) -> f64 {
    let d = strsim::osa_distance(a, b) as f64;
    let n = a.chars().count().max(b.chars().count()).max(1) as f64;
    1.0 - d / n
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
        || (on_file.chars().count() >= 3 && strsim::osa_distance(given, on_file) <= 1)
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
async fn verify_identity(
    ctx: &mut ToolCtx<'_>,
    args: contracts::VerifyIdentityArgs,
) -> Result<ToolOutcome, StoreError> {
    if ctx.identity.level == IdentityLevel::Verified && ctx.state.property_candidates.is_empty() {
        return Ok(ToolOutcome::allowed(
            "identity.already_verified",
            verified(None),
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
    let outcome = verify_attempt(ctx, &args).await?;
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

fn verified(property: Option<String>) -> contracts::VerifyIdentityResult {
    contracts::VerifyIdentityResult {
        status: IdentityLevel::Verified,
        property,
    }
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
        ctx.escalated = Some(open_escalation(ctx, request).await?);
    }
    Ok(())
}

/// One verification attempt. Failures carry the rule `identity.no_match` (what the limits
/// count); nothing returned before verification holds a knowledge factor.
async fn verify_attempt(
    ctx: &mut ToolCtx<'_>,
    args: &contracts::VerifyIdentityArgs,
) -> Result<ToolOutcome, StoreError> {
    let t = ctx.tenant.id;
    let street = contracts::text(&args.street);
    let number = contracts::text(&args.street_number)
        .map(str::to_string)
        .or_else(|| street.and_then(street_number).map(str::to_string));
    let zip = contracts::text(&args.zip);
    let name = contracts::text(&args.name);

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
                let result = contracts::VerifyIdentityResult {
                    status: ctx.identity.level,
                    property: (ctx.identity.level == IdentityLevel::Verified).then_some(p.street),
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
                verified(None),
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
            ToolOutcome::allowed("identity.name_address_zip", verified(None))
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
    let appts: Vec<contracts::AppointmentItem> = ctx
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
            contracts::AppointmentItem {
                appointment_id: a.id.0,
                window: window_label(tz, a.window_start, a.window_end),
                window_start: contracts::LocalInstant(crate::record::local(tz, a.window_start)),
                service: a.service,
                property: street,
                status: a.status,
                reschedule_count: a.reschedule_count,
            }
        })
        .collect();
    Ok(ToolOutcome::allowed(
        "identity.verified",
        contracts::ListAppointmentsResult {
            appointments: appts,
        },
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

async fn find_open_windows(
    ctx: &mut ToolCtx<'_>,
    args: contracts::FindOpenWindowsArgs,
) -> Result<ToolOutcome, StoreError> {
    if let Some(refusal) = require_verified(ctx) {
        return Ok(refusal);
    }
    let t = ctx.tenant.id;
    let policy = &ctx.tenant.policy;
    let tz = ctx.tenant.timezone;
    let (zone, earliest, latest, rule) = if let Some(contracts::Int(aid)) = args.appointment_id {
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
        dates: args
            .dates
            .unwrap_or_default()
            .into_iter()
            .map(|d| d.0)
            .collect(),
        morning: match args.part_of_day {
            Some(contracts::PartOfDay::Morning) => Some(true),
            Some(contracts::PartOfDay::Afternoon) => Some(false),
            _ => None,
        },
        after: args.after.map(|t| t.0),
        limit: args.limit.map_or(3, |l| l.0).clamp(1, 10) as usize,
    };
    if let Some(contracts::IsoDate(from)) = args.from {
        q.earliest = q.earliest.max(tz.instant(from, NaiveTime::MIN));
    }
    if let Some(contracts::IsoDate(to)) = args.to {
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
    let windows: Vec<contracts::WindowItem> = chosen
        .iter()
        .map(|s| contracts::WindowItem {
            slot_id: s.id.0,
            window: window_label(tz, s.starts_at, s.ends_at),
            start: contracts::LocalInstant(crate::record::local(tz, s.starts_at)),
        })
        .collect();
    Ok(ToolOutcome::allowed(
        rule,
        contracts::FindOpenWindowsResult {
            windows,
            allowed_range: contracts::AllowedRange {
                earliest: contracts::LocalInstant(crate::record::local(tz, earliest)),
                latest: contracts::LocalInstant(crate::record::local(tz, latest)),
            },
            requested_outside_policy,
        },
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
        result: serde_json::to_value(Outcome::<()>::NeedsConfirmation(
            contracts::NeedsConfirmation {
                status: contracts::NeedsConfirmationWord::NeedsConfirmation,
                confirm_text: question,
            },
        ))
        .unwrap_or(Value::Null),
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

async fn reschedule(
    ctx: &mut ToolCtx<'_>,
    typed: contracts::RescheduleAppointmentArgs,
    args: &Value,
) -> Result<ToolOutcome, StoreError> {
    if let Some(refusal) = require_verified(ctx) {
        return Ok(refusal);
    }
    let t = ctx.tenant.id;
    let tz = ctx.tenant.timezone;
    let r = ctx.tenant.policy.agent_reschedule.clone();
    let (aid, sid) = (typed.appointment_id.0, typed.slot_id.0);
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
        contracts::RescheduledResult {
            status: contracts::RescheduledWord::Rescheduled,
            appointment_id: a.id.0,
            from,
            to,
            service: a.service,
            what_next: crate::notices::what_next(ctx.tenant, ctx.spanish),
        },
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

async fn quote_price(
    ctx: &mut ToolCtx<'_>,
    args: contracts::QuotePriceArgs,
) -> Result<ToolOutcome, StoreError> {
    let code = args.service_code.trim();
    if code.is_empty() {
        return Ok(ToolOutcome::error("service_code is required"));
    }
    let services = ctx.store.services(ctx.tenant.id).await?;
    let Some(service) = find_service(&services, code) else {
        return Ok(ToolOutcome::refused(
            "quote.catalog_only",
            "not a catalog service; do not guess a price — escalate or list services",
        ));
    };
    // The verified customer's own property size wins over a size the caller states.
    let mut sq_ft = args.sq_ft.map(|s| s.0);
    let mut basis = "stated size";
    if ctx.identity.level == IdentityLevel::Verified {
        if let Some(p) = customer_properties(ctx).await?.first() {
            if p.sq_ft.is_some() {
                sq_ft = p.sq_ft;
                basis = "property on file";
            }
        }
    }
    match service
        .pricing
        .quote(sq_ft, &args.add_ons.clone().unwrap_or_default())
    {
        Ok(q) => Ok(ToolOutcome::allowed(
            "quote.catalog_rule",
            contracts::QuoteResult {
                service: service.name.clone(),
                service_code: service.code.clone(),
                per_visit: q.per_visit_cents.to_string(),
                initial_fee: q.initial_fee_cents.to_string(),
                first_visit_total: q.first_visit_total_cents.to_string(),
                per_visit_cents: q.per_visit_cents.0,
                first_visit_total_cents: q.first_visit_total_cents.0,
                recurring_interval_days: service.recurring_interval_days,
                rule: q.rule,
                size_basis: if sq_ft.is_some() {
                    basis
                } else {
                    "base price (size unknown)"
                }
                .to_string(),
            },
        )),
        Err(e) => Ok(ToolOutcome::refused("quote.catalog_only", &e.to_string())),
    }
}

async fn book_service(
    ctx: &mut ToolCtx<'_>,
    typed: contracts::BookServiceArgs,
    args: &Value,
) -> Result<ToolOutcome, StoreError> {
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
    let (code, sid) = (typed.service_code.trim(), typed.slot_id.0);
    if code.is_empty() {
        return Ok(ToolOutcome::error("service_code is required"));
    }
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
        .quote(property.sq_ft, &typed.add_ons.clone().unwrap_or_default())
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
        contracts::BookedResult {
            status: contracts::BookedWord::Booked,
            appointment_id: id.0,
            service: service.name,
            window: when,
            price: quote.first_visit_total_cents.to_string(),
            what_next: crate::notices::what_next(ctx.tenant, ctx.spanish),
        },
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
    let open: Vec<contracts::InvoiceItem> = invoices
        .iter()
        .filter(|i| i.balance_cents.0 > 0)
        .map(|i| contracts::InvoiceItem {
            number: i.number.clone(),
            amount: i.amount_cents.to_string(),
            balance: i.balance_cents.to_string(),
            due_on: contracts::NaiveDateText(i.due_on),
            overdue: i.due_on < today,
        })
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
        contracts::BalanceResult {
            balance: balance.to_string(),
            balance_cents: balance.0,
            overdue: overdue.to_string(),
            open_invoices: open,
            autopay: c.autopay,
        },
    ))
}

async fn list_services(ctx: &mut ToolCtx<'_>) -> Result<ToolOutcome, StoreError> {
    let services: Vec<contracts::ServiceItem> = ctx
        .store
        .services(ctx.tenant.id)
        .await?
        .into_iter()
        .map(|s| {
            let from = s
                .pricing
                .size_tiers
                .first()
                .map(|t| t.price_cents)
                .unwrap_or(s.pricing.base_cents);
            contracts::ServiceItem {
                code: s.code,
                name: s.name,
                description: s.description,
                pests: s.pests,
                from_price: from.to_string(),
                initial_fee: s.pricing.initial_fee_cents.to_string(),
                recurring_interval_days: s.recurring_interval_days,
                bookable_by_agent: s.agent_bookable,
            }
        })
        .collect();
    Ok(ToolOutcome::allowed(
        "catalog.public",
        contracts::ListServicesResult { services },
    ))
}

/// `escalate` as the model calls it. The rules, not the model, set the priority and so the
/// promised follow-up time (docs/policy.md): the priority the model names is only noted for
/// the CSR, and an emergency the model claims but the emergency rules do not find in the
/// customer's message is handled as a high-priority request — no page, no on-call promise.
async fn escalate(
    ctx: &mut ToolCtx<'_>,
    args: contracts::EscalateArgs,
) -> Result<ToolOutcome, StoreError> {
    let mut reason: EscalationReason = args.reason.into();
    let mut priority = None;
    let mut summary = args.summary.trim().to_string();
    if reason == EscalationReason::Emergency && !emergency_by_rules(ctx) {
        reason = EscalationReason::Other;
        priority = Some(crate::domain::Priority::High);
        summary = format!(
            "{summary} (The model flagged a possible emergency; the emergency rules did not \
             find one in the customer's words.)"
        );
    }
    if let Some(p) = args.priority {
        tracing::debug!(?p, "model named a priority; the rules set it");
    }
    let request = EscalationRequest {
        reason,
        priority,
        model_summary: summary,
    };
    let done = open_escalation(ctx, request).await?;
    let result = contracts::EscalatedResult {
        status: contracts::EscalatedWord::Escalated,
        escalation_id: done.id.0,
        priority: done.priority,
        follow_up: done.follow_up.clone(),
    };
    ctx.escalated = Some(done);
    Ok(ToolOutcome::allowed("escalation.always_allowed", result))
}

/// Hand the conversation to a person: the escalation (`escalation::open`) with a summary of
/// the turn for the CSR, an on-call page for an emergency, and what the customer is told.
pub async fn open_escalation(
    ctx: &mut ToolCtx<'_>,
    req: EscalationRequest,
) -> Result<escalation::Escalated, StoreError> {
    let tenant = ctx.tenant;
    let who = match ctx.identity.customer {
        Some(c) => match ctx.store.customer(tenant.id, c).await {
            Ok(c) => format!("{} (customer #{}, {})", c.name, c.id, ctx.identity.level),
            Err(_) => format!("customer #{c}"),
        },
        None if ctx.identity.level == IdentityLevel::Anonymous
            && !ctx.state.candidates.is_empty() =>
        {
            format!(
                "unverified caller {} (caller id matches {} record(s))",
                ctx.participant,
                ctx.state.candidates.len()
            )
        }
        None => format!("unknown caller {}", ctx.participant),
    };
    let wants = if req.model_summary.trim().is_empty() {
        format!("Last message: \"{}\"", ctx.customer_text)
    } else {
        req.model_summary.clone()
    };
    let done = if ctx.actions.is_empty() {
        "nothing yet".to_string()
    } else {
        ctx.actions.join("; ")
    };
    let summary = escalation::summary(&who, &wants, &done, ctx.channel, req.reason);
    let opened = escalation::open(
        ctx.tx,
        tenant,
        escalation::Opening {
            conversation: ctx.conversation,
            customer: ctx.identity.customer,
            reason: req.reason,
            priority: req.priority,
            summary: &summary,
        },
        ctx.now,
    )
    .await?;
    let follow_up = escalation::follow_up_text(tenant, opened.due_at, ctx.now);
    let emergency = req.reason == EscalationReason::Emergency;
    let paged = emergency
        && escalation::page_on_call(
            ctx.tx,
            tenant,
            ctx.conversation,
            ctx.participant,
            &opened.summary,
            ctx.now,
        )
        .await?;
    ctx.state.paged_escalation = emergency.then_some(opened.id);
    Ok(escalation::Escalated {
        id: opened.id,
        reason: req.reason,
        priority: opened.priority,
        due_at: opened.due_at,
        acknowledgement: escalation::acknowledgement(
            tenant,
            req.reason,
            ctx.spanish,
            paged,
            &follow_up,
        ),
        follow_up,
    })
}

/// An emergency in a conversation a person already owns: the open escalation becomes
/// urgent and on-call is paged — once per escalation — and the customer gets the safety
/// guidance and the promise. Returns what the customer is told.
pub async fn emergency_while_queued(ctx: &mut ToolCtx<'_>) -> Result<String, StoreError> {
    let tenant = ctx.tenant;
    let due = escalation::due_at(tenant, crate::domain::Priority::Urgent, ctx.now);
    let note = format!(
        " EMERGENCY reported while waiting: \"{}\"",
        ctx.customer_text
    );
    let raised = ctx
        .tx
        .raise_open_escalation(tenant.id, ctx.conversation, due, &note)
        .await?;
    let mut paged = false;
    if let Some(id) = raised {
        paged = ctx.state.paged_escalation == Some(id);
        if !paged {
            let summary = format!("Customer reported an emergency: \"{}\"", ctx.customer_text);
            paged = escalation::page_on_call(
                ctx.tx,
                tenant,
                ctx.conversation,
                ctx.participant,
                &summary,
                ctx.now,
            )
            .await?;
            ctx.state.paged_escalation = Some(id);
        }
    }
    let follow_up = escalation::follow_up_text(tenant, due, ctx.now);
    Ok(escalation::emergency_acknowledgement(
        ctx.spanish,
        paged,
        &follow_up,
    ))
}

/// The emergency rules (the same ones that page before any model runs) on this message.
fn emergency_by_rules(ctx: &ToolCtx<'_>) -> bool {
    super::builtin::understand(
        ctx.customer_text,
        &super::builtin::Context {
            now_local: ctx.tenant.timezone.local(ctx.now).naive_local(),
        },
    )
    .has(super::builtin::Intent::Emergency)
}
