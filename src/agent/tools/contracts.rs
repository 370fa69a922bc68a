//! The tools' contracts as Rust types: each tool's arguments (what the model may send) and
//! result (what it gets back). `tools/*.json` is generated from these types
//! (`frontdesk tools write-schemas`) and a test fails when a checked-in file differs, so the
//! specs the model reads and the handlers that run can never drift apart.

use std::borrow::Cow;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime};
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::domain::{AppointmentStatus, IdentityLevel, Priority};

// ---------------------------------------------------------------------------------------
// Lenient scalars: models write integers as strings ("42") and pad text; the schema still
// says what is expected.

/// A schema written out here and inlined where the type is used: a fixed one, or (`enum`) a
/// domain type's words (`ALL`, `as_str`).
macro_rules! inline_schema {
    (enum $ty:ident) => {
        inline_schema!($ty, {
            "type": "string",
            "enum": $ty::ALL.iter().map(|p| p.as_str()).collect::<Vec<&str>>()
        });
    };
    ($ty:ident, $schema:tt) => {
        impl JsonSchema for $ty {
            fn schema_name() -> Cow<'static, str> {
                stringify!($ty).into()
            }
            fn inline_schema() -> bool {
                true
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!($schema)
            }
        }
    };
}

/// An integer, also accepted as a string of digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Int(pub i64);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Number(n) => n
                .as_i64()
                .map(Int)
                .ok_or_else(|| serde::de::Error::custom(format!("{n} is not a whole number"))),
            Value::String(s) => s
                .trim()
                .parse()
                .map(Int)
                .map_err(|_| serde::de::Error::custom(format!("{s:?} is not a whole number"))),
            other => Err(serde::de::Error::custom(format!(
                "expected a whole number, got {other}"
            ))),
        }
    }
}

inline_schema!(Int, { "type": "integer" });

/// A calendar date, `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IsoDate(pub NaiveDate);

impl<'de> Deserialize<'de> for IsoDate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
            .map(IsoDate)
            .map_err(|_| serde::de::Error::custom(format!("{s:?} is not a date (YYYY-MM-DD)")))
    }
}

inline_schema!(IsoDate, { "type": "string", "format": "date" });

/// A local time of day, `HH:MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime(pub NaiveTime);

impl<'de> Deserialize<'de> for LocalTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        NaiveTime::parse_from_str(s.trim(), "%H:%M")
            .map(LocalTime)
            .map_err(|_| serde::de::Error::custom(format!("{s:?} is not a time (HH:MM)")))
    }
}

inline_schema!(LocalTime, { "type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9]$" });

/// An instant as the tenant's local time with its offset (RFC 3339).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LocalInstant(pub DateTime<FixedOffset>);

inline_schema!(LocalInstant, { "type": "string", "format": "date-time" });

/// Text with surrounding blanks removed; blank text counts as absent.
pub fn text(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

// ---------------------------------------------------------------------------------------
// Arguments

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyIdentityArgs {
    /// Full name (first and last) as the customer gave it.
    pub name: Option<String>,
    /// Service street address as given, e.g. '1402 Oak Hollow Dr' or 'oak hollow'.
    pub street: Option<String>,
    /// House number of the service address.
    pub street_number: Option<String>,
    /// 5-digit ZIP code of the service address.
    pub zip: Option<String>,
}

/// No arguments.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartOfDay {
    Morning,
    Afternoon,
    Any,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FindOpenWindowsArgs {
    /// The appointment to move.
    pub appointment_id: Option<Int>,
    /// Catalog code of a service to book.
    pub service_code: Option<String>,
    /// Preferred dates (YYYY-MM-DD), in order of preference.
    #[serde(default)]
    pub dates: Option<Vec<IsoDate>>,
    /// Earliest date (YYYY-MM-DD).
    pub from: Option<IsoDate>,
    /// Latest date (YYYY-MM-DD).
    pub to: Option<IsoDate>,
    pub part_of_day: Option<PartOfDay>,
    /// Earliest local start time, HH:MM.
    pub after: Option<LocalTime>,
    #[schemars(range(min = 1, max = 10))]
    pub limit: Option<Int>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RescheduleAppointmentArgs {
    pub appointment_id: Int,
    pub slot_id: Int,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotePriceArgs {
    pub service_code: String,
    /// Property size when no verified property is known.
    #[schemars(range(min = 100, max = 200000))]
    pub sq_ft: Option<Int>,
    #[serde(default)]
    pub add_ons: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BookServiceArgs {
    pub service_code: String,
    pub slot_id: Int,
    #[serde(default)]
    pub add_ons: Option<Vec<String>>,
}

/// Why the model hands a conversation to a person. The runtime's own reasons
/// (`model_failure`, `voicemail`) are not the model's to give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EscalateReason {
    CustomerRequest,
    OutOfPolicy,
    Cancellation,
    Renegotiation,
    BillingDispute,
    Emergency,
    IdentityUnresolved,
    Other,
}

impl From<EscalateReason> for crate::domain::EscalationReason {
    fn from(r: EscalateReason) -> Self {
        use crate::domain::EscalationReason as R;
        match r {
            EscalateReason::CustomerRequest => R::CustomerRequest,
            EscalateReason::OutOfPolicy => R::OutOfPolicy,
            EscalateReason::Cancellation => R::Cancellation,
            EscalateReason::Renegotiation => R::Renegotiation,
            EscalateReason::BillingDispute => R::BillingDispute,
            EscalateReason::Emergency => R::Emergency,
            EscalateReason::IdentityUnresolved => R::IdentityUnresolved,
            EscalateReason::Other => R::Other,
        }
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalateArgs {
    pub reason: EscalateReason,
    /// What the customer wants, in one or two sentences, for the CSR.
    pub summary: String,
    /// How urgent the model thinks it is. Only recorded for the CSR: the rules in
    /// docs/policy.md set the priority and the promised follow-up time.
    pub priority: Option<PriorityArg>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PriorityArg {
    Urgent,
    High,
    Normal,
    Low,
}

// ---------------------------------------------------------------------------------------
// Results

/// A status that is always the same word for one kind of result.
macro_rules! status_word {
    ($name:ident, $variant:ident) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $variant,
        }
    };
}
status_word!(RefusedWord, Refused);
status_word!(ErrorWord, Error);
status_word!(NeedsConfirmationWord, NeedsConfirmation);
status_word!(RescheduledWord, Rescheduled);
status_word!(BookedWord, Booked);
status_word!(EscalatedWord, Escalated);

/// Policy said no: the rule, and what to do instead.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Refused {
    pub status: RefusedWord,
    pub rule: String,
    pub message: String,
}

/// The call could not run as given (missing or malformed arguments).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Failed {
    pub status: ErrorWord,
    pub message: String,
}

/// A write waiting for the customer's agreement: show `confirm_text` in the reply.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct NeedsConfirmation {
    pub status: NeedsConfirmationWord,
    pub confirm_text: String,
}

/// What any tool call returns: its own result, or one of the common answers.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Outcome<T> {
    Done(T),
    Refused(Refused),
    NeedsConfirmation(NeedsConfirmation),
    Error(Failed),
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct VerifyIdentityResult {
    /// The identity level now: `anonymous`, `matched` or `verified`.
    pub status: IdentityLevel,
    /// The selected property's street, only once verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AppointmentItem {
    pub appointment_id: i64,
    pub service: String,
    /// In words, e.g. "Tue Nov 24, 8 AM–12 PM".
    pub window: String,
    pub window_start: LocalInstant,
    pub property: String,
    pub status: AppointmentStatus,
    pub reschedule_count: i64,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ListAppointmentsResult {
    pub appointments: Vec<AppointmentItem>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct WindowItem {
    pub slot_id: i64,
    pub window: String,
    pub start: LocalInstant,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AllowedRange {
    pub earliest: LocalInstant,
    pub latest: LocalInstant,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct FindOpenWindowsResult {
    pub windows: Vec<WindowItem>,
    pub allowed_range: AllowedRange,
    /// Every requested date is outside what policy allows.
    pub requested_outside_policy: bool,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RescheduledResult {
    pub status: RescheduledWord,
    pub appointment_id: i64,
    pub from: String,
    pub to: String,
    pub service: String,
    /// What the customer will hear from the company next (reminders, on-the-way texts), from
    /// the tenant's notice settings; empty when nothing is sent.
    pub what_next: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct QuoteResult {
    pub service: String,
    pub service_code: String,
    /// Money in words, e.g. "$175.00".
    pub per_visit: String,
    pub initial_fee: String,
    pub first_visit_total: String,
    pub per_visit_cents: i64,
    pub first_visit_total_cents: i64,
    pub recurring_interval_days: Option<i64>,
    /// The pricing rule that produced the price.
    pub rule: String,
    pub size_basis: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BookedResult {
    pub status: BookedWord,
    pub appointment_id: i64,
    pub service: String,
    pub window: String,
    pub price: String,
    /// As in a reschedule's result.
    pub what_next: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct InvoiceItem {
    pub number: String,
    pub amount: String,
    pub balance: String,
    pub due_on: NaiveDateText,
    pub overdue: bool,
}

/// A date as `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct NaiveDateText(pub NaiveDate);

inline_schema!(NaiveDateText, { "type": "string", "format": "date" });

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BalanceResult {
    pub balance: String,
    pub balance_cents: i64,
    pub overdue: String,
    pub open_invoices: Vec<InvoiceItem>,
    pub autopay: bool,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ServiceItem {
    pub code: String,
    pub name: String,
    pub description: String,
    pub pests: Vec<String>,
    pub from_price: String,
    pub initial_fee: String,
    pub recurring_interval_days: Option<i64>,
    pub bookable_by_agent: bool,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ListServicesResult {
    pub services: Vec<ServiceItem>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct EscalatedResult {
    pub status: EscalatedWord,
    pub escalation_id: i64,
    /// Set by the rules, not by the caller.
    pub priority: Priority,
    /// When a person follows up, in the customer's words ("by 8:15 AM tomorrow").
    pub follow_up: String,
}

inline_schema!(enum Priority);

inline_schema!(enum AppointmentStatus);

inline_schema!(enum IdentityLevel);

// ---------------------------------------------------------------------------------------
// The catalog of tools

/// One tool: its name, what the model is told, and the schemas of its arguments and result.
pub struct Contract {
    pub name: &'static str,
    pub description: &'static str,
    pub parameters: fn() -> Value,
    pub result: fn() -> Value,
}

/// The schema of `T` as a plain JSON Schema object for a tool file: inline (no `$defs`),
/// optional fields as their own type (not `[T, "null"]`, which some servers' grammar
/// builders cannot read), no `$schema` or `title`.
pub fn schema_of<T: JsonSchema>() -> Value {
    let mut settings = schemars::generate::SchemaSettings::draft2020_12();
    settings.inline_subschemas = true;
    settings.meta_schema = None;
    let schema = settings.into_generator().into_root_schema_for::<T>();
    let mut v = schema.to_value();
    strip(&mut v, true);
    v
}

fn strip(v: &mut Value, root: bool) {
    match v {
        Value::Object(m) => {
            if root {
                m.remove("title");
                m.remove("description");
            }
            // `["string", "null"]` → `"string"`: absent and null mean the same here.
            if let Some(Value::Array(types)) = m.get("type") {
                let kept: Vec<Value> = types
                    .iter()
                    .filter(|t| t.as_str() != Some("null"))
                    .cloned()
                    .collect();
                if kept.len() == 1 {
                    m.insert("type".into(), kept[0].clone());
                }
            }
            // `anyOf: [X, {type: null}]` (an optional enum or struct) → X.
            if let Some(Value::Array(any)) = m.get("anyOf") {
                let kept: Vec<Value> = any
                    .iter()
                    .filter(|s| s.get("type").and_then(Value::as_str) != Some("null"))
                    .cloned()
                    .collect();
                if kept.len() == 1 && any.len() == 2 {
                    m.remove("anyOf");
                    if let Value::Object(inner) = &kept[0] {
                        for (k, val) in inner {
                            m.entry(k.clone()).or_insert_with(|| val.clone());
                        }
                    }
                }
            }
            // An enum value list with `null` among them (an optional enum).
            if let Some(Value::Array(values)) = m.get_mut("enum") {
                values.retain(|x| !x.is_null());
            }
            for (_, child) in m.iter_mut() {
                strip(child, false);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|c| strip(c, false)),
        _ => {}
    }
}

macro_rules! contract {
    ($name:literal, $args:ty, $result:ty, $description:expr) => {
        Contract {
            name: $name,
            description: $description,
            parameters: schema_of::<$args>,
            result: schema_of::<Outcome<$result>>,
        }
    };
}

/// Every tool, in the order the model is told about them.
pub const CONTRACTS: &[Contract] = &[
    contract!("verify_identity", VerifyIdentityArgs, VerifyIdentityResult,
        "Check who the customer is from details they gave. Use the service street (and street number) to pick a property when several share this phone; on a phone call, the service street number or ZIP verifies the caller; from an unknown number, the full name (first and last) plus the service address WITH its house number plus the ZIP are all needed. Call it at most once per customer message with exactly what the customer said; never guess or try variations. After too many failed attempts verification locks and a person follows up. Never reveal whether a name, number or address is on file."),
    contract!("list_appointments", NoArgs, ListAppointmentsResult,
        "The verified customer's upcoming appointments (for the selected property when one is selected), with ids, service, window and status."),
    contract!("find_open_windows", FindOpenWindowsArgs, FindOpenWindowsResult,
        "Open service windows in the customer's zone. Give appointment_id when rescheduling (windows are limited to what policy allows for that appointment) or service_code when booking new service. Optionally narrow by dates and part of day."),
    contract!("reschedule_appointment", RescheduleAppointmentArgs, RescheduledResult,
        "Move an appointment to an open window (slot_id from find_open_windows). The first call returns needs_confirmation with the exact change to show the customer; call again with the same arguments only after the customer has agreed in a later message."),
    contract!("quote_price", QuotePriceArgs, QuoteResult,
        "The catalog price of a service, computed from the pricing rule (size tier of the verified customer's property, or the given square footage, initial fee for plans, add-ons). Never invent or discount prices."),
    contract!("book_service", BookServiceArgs, BookedResult,
        "Book a new visit of a bookable catalog service at the verified customer's known property, in an open window (slot_id from find_open_windows). The first call returns needs_confirmation with service, window and price to show the customer; call again with the same arguments only after the customer has agreed in a later message."),
    contract!("get_balance", NoArgs, BalanceResult,
        "The verified customer's balance, overdue amount and open invoices. Never card details."),
    contract!("list_services", NoArgs, ListServicesResult,
        "The company's service catalog: codes, names, pests covered, starting prices, whether recurring. Public information."),
    contract!("escalate", EscalateArgs, EscalatedResult,
        "Hand the conversation to the human team. Use for anything policy does not let you do (cancellations, disputes, discounts, contract changes, out-of-policy changes, commercial or new-address bookings, unknown services), when the customer asks for a person, when identity cannot be resolved, and for emergencies (stinging insects indoors, allergic reaction, structural risk). After this you stop answering; the reply tells the customer when a human will follow up."),
];

/// The file `tools/<name>.json` as generated from the contract.
pub fn spec_file(c: &Contract) -> String {
    let v = serde_json::json!({
        "name": c.name,
        "description": c.description,
        "parameters": (c.parameters)(),
        "result": (c.result)(),
    });
    let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
    s.push('\n');
    s
}

/// Every tool's file: `(file name, text)`.
pub fn spec_files() -> Vec<(String, String)> {
    CONTRACTS
        .iter()
        .map(|c| (format!("{}.json", c.name), spec_file(c)))
        .collect()
}

/// Parse the arguments of `C` from what the model sent; the error says what was wrong in
/// words the model can act on.
pub fn parse_args<T: serde::de::DeserializeOwned>(tool: &str, args: &Value) -> Result<T, String> {
    // A model that sends no arguments at all means "none".
    let args = if args.is_null() {
        Value::Object(Default::default())
    } else {
        args.clone()
    };
    serde_json::from_value(args).map_err(|e| format!("invalid arguments for {tool}: {e}"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::agent::tools::{parse_specs, SpecError};

    /// CI keeps `tools/*.json` equal to what the contracts generate.
    #[test]
    fn checked_in_tool_specs_are_the_generated_ones() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tools");
        let mut stale = Vec::new();
        for (file, generated) in spec_files() {
            let on_disk = std::fs::read_to_string(dir.join(&file)).unwrap_or_default();
            if on_disk != generated {
                stale.push(file);
            }
        }
        assert!(
            stale.is_empty(),
            "tools/{stale:?} differ from the typed contracts; run `frontdesk tools write-schemas`"
        );
        let files: Vec<(String, String)> = spec_files();
        let borrowed: Vec<(&str, &str)> = files
            .iter()
            .map(|(f, t)| (f.as_str(), t.as_str()))
            .collect();
        let specs = parse_specs(&borrowed).expect("generated specs parse");
        assert_eq!(specs.len(), CONTRACTS.len());
    }

    #[test]
    fn generated_schemas_are_plain_json_schema() {
        let p = schema_of::<FindOpenWindowsArgs>();
        assert_eq!(p["type"], "object");
        assert_eq!(p["additionalProperties"], false);
        assert_eq!(p["properties"]["appointment_id"]["type"], "integer");
        assert_eq!(p["properties"]["from"]["format"], "date");
        assert_eq!(
            p["properties"]["part_of_day"]["enum"],
            json!(["morning", "afternoon", "any"])
        );
        assert_eq!(p["properties"]["limit"]["maximum"], 10);
        assert!(!p.to_string().contains("null"), "{p}");
        let r = schema_of::<RescheduleAppointmentArgs>();
        assert_eq!(r["required"], json!(["appointment_id", "slot_id"]));
        let e = schema_of::<EscalateArgs>();
        let reasons = e["properties"]["reason"]["enum"].to_string();
        assert!(reasons.contains("emergency") && !reasons.contains("model_failure"));
    }

    #[test]
    fn arguments_parse_leniently_where_models_differ_and_strictly_elsewhere() {
        let a: RescheduleAppointmentArgs = parse_args(
            "reschedule_appointment",
            &json!({"appointment_id": "12", "slot_id": 7}),
        )
        .expect("string digits are a number");
        assert_eq!((a.appointment_id, a.slot_id), (Int(12), Int(7)));
        let none: NoArgs = parse_args("get_balance", &Value::Null).expect("null is no arguments");
        let _ = none;
        let errors = [
            parse_args::<RescheduleAppointmentArgs>(
                "reschedule_appointment",
                &json!({"slot_id": 7}),
            )
            .expect_err("missing"),
            parse_args::<FindOpenWindowsArgs>(
                "find_open_windows",
                &json!({"from": "next tuesday"}),
            )
            .expect_err("not a date"),
            parse_args::<FindOpenWindowsArgs>("find_open_windows", &json!({"zone": 3}))
                .expect_err("unknown field"),
            parse_args::<EscalateArgs>(
                "escalate",
                &json!({"reason": "model_failure", "summary": "x"}),
            )
            .expect_err("not the model's reason"),
        ];
        assert!(errors[0].contains("appointment_id"), "{}", errors[0]);
        assert!(errors[1].contains("YYYY-MM-DD"), "{}", errors[1]);
        assert!(errors[2].contains("zone"), "{}", errors[2]);
        assert!(errors[3].contains("model_failure"), "{}", errors[3]);
    }

    #[test]
    fn a_malformed_spec_is_a_clear_error_not_a_missing_tool() {
        let files = spec_files();
        let with = |name: &str, text: &str| -> Result<Vec<crate::agent::ToolSpec>, SpecError> {
            let mut v: Vec<(&str, &str)> = files
                .iter()
                .map(|(f, t)| (f.as_str(), t.as_str()))
                .collect();
            for entry in v.iter_mut() {
                if entry.0 == name {
                    entry.1 = text;
                }
            }
            parse_specs(&v)
        };
        let broken = with(
            "escalate.json",
            "{\"name\": \"escalate\", \"description\": ",
        );
        let e = broken.expect_err("truncated JSON");
        assert_eq!(e.file, "escalate.json");
        assert!(e.to_string().contains("not a tool spec"), "{e}");

        let unknown = with(
            "escalate.json",
            r#"{"name": "escalate_now", "description": "d", "parameters": {"type": "object"}, "result": {}}"#,
        );
        assert!(unknown
            .expect_err("no such tool")
            .problem
            .contains("escalate_now"));

        let not_object = with(
            "get_balance.json",
            r#"{"name": "get_balance", "description": "d", "parameters": {"type": "array"}, "result": {}}"#,
        );
        assert!(not_object.expect_err("array").problem.contains("object"));

        let extra_key = with(
            "get_balance.json",
            r#"{"name": "get_balance", "description": "d", "parameters": {"type": "object"}, "result": {}, "strict": true}"#,
        );
        assert!(extra_key
            .expect_err("unknown key")
            .problem
            .contains("strict"));

        let twice = with("get_balance.json", &spec_file(&CONTRACTS[0]));
        let e = twice.expect_err("verify_identity twice, get_balance missing");
        assert!(e.problem.contains("twice"), "{e}");
    }
}
