//! The scenario file format (TOML, one scenario per file): the world it starts from, the
//! clock, the channel and caller, the customer's turns (scripted, or a goal and persona for
//! a simulated customer) and the expected outcome. Parsing checks everything that can be
//! checked without a database, so a typo in a suite fails before any world is built.

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc, Weekday};
use serde::{Deserialize, Serialize};

use crate::domain::{Channel, EscalationReason, PhoneE164, Priority};

/// A check named in `never`. Every one of them also runs on every scenario (they are the
/// agent's invariants); naming one documents the scenario's point. A name that is not one
/// of these is a parse error, never a phrase: phrases go in `never_says`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NeverCheck {
    /// A reschedule or booking ran without its change shown and agreed to first.
    WriteWithoutConfirmation,
    /// A reply to an unverified caller named a customer, street or balance.
    DiscloseBeforeVerification,
    /// A tool refused and the reply still claims success.
    ClaimsSuccessAfterRefusal,
    /// A reply claims something no tool result or tenant setting backs: a reminder, a
    /// price, a follow-up time, a change made.
    UnbackedClaims,
    /// A reply that does not suit its channel: an SMS over the tenant's segment budget (it
    /// would be cut on delivery), or a spoken reply that asks to "reply YES" or reads more
    /// than three choices.
    WrongForChannel,
}

impl NeverCheck {
    pub const ALL: [NeverCheck; 5] = [
        NeverCheck::WriteWithoutConfirmation,
        NeverCheck::DiscloseBeforeVerification,
        NeverCheck::ClaimsSuccessAfterRefusal,
        NeverCheck::UnbackedClaims,
        NeverCheck::WrongForChannel,
    ];
}

/// The hard-case customers of the demo world a scenario may name (`DemoSummary` fields).
pub const NAMED_CUSTOMERS: &[&str] = &[
    "maria_garcia",
    "jose_garcia",
    "dana_whitfield",
    "john_smith",
    "jon_smith",
    "jon_smyth",
    "jane_smythe",
    "eleanor_price",
    "tom_becker",
    "rachel_kim",
    "greg_holloway",
];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub id: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// `"demo"`, a named fixture (`evals/worlds/<name>.toml`), or a table.
    #[serde(default)]
    pub world: WorldSpec,
    /// "Now" for the whole scenario, RFC 3339 with an offset.
    pub clock: String,
    pub channel: String,
    #[serde(default)]
    pub caller: Caller,
    /// Scripted customer messages, in order.
    #[serde(default)]
    pub turns: Vec<String>,
    /// For a simulated customer (LLM runs only): what the customer wants…
    #[serde(default)]
    pub goal: Option<String>,
    /// …and how they write.
    #[serde(default)]
    pub persona: Option<String>,
    /// Upper bound on customer messages (simulated runs stop here).
    #[serde(default = "default_max_turns")]
    pub max_turns: usize,
    #[serde(default)]
    pub expect: Expect,
    /// Where the file was read from (not part of the format).
    #[serde(skip)]
    pub path: PathBuf,
}

fn default_max_turns() -> usize {
    8
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum WorldSpec {
    Named(String),
    Table(WorldTable),
}

impl Default for WorldSpec {
    fn default() -> Self {
        WorldSpec::Named("demo".into())
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorldTable {
    /// A named fixture to start from (default: the plain demo world).
    pub fixture: Option<String>,
    /// Policy settings to override, as in the tenant policy (`agent_reschedule.max_days_from_original = 7`).
    pub policy: Option<toml::Table>,
    /// Extra phone numbers on the SMS opt-out list.
    pub opt_outs: Vec<String>,
}

/// A world fixture file: the same adjustments as an inline `[world]` table.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorldFixture {
    pub description: String,
    pub policy: Option<toml::Table>,
    pub opt_outs: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Caller {
    /// A phone number in E.164 (an unknown number is fine).
    pub phone: Option<String>,
    /// A demo hard case (`rachel_kim`): their phone for sms/voice/api, their portal session for chat.
    pub customer: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Expect {
    /// Appointments of named customers at the end.
    pub appointments: Vec<AppointmentExpect>,
    /// New bookings that must exist at the end.
    pub bookings: Vec<BookingExpect>,
    /// No appointment may be created, moved or cancelled.
    pub no_writes: bool,
    /// An escalation of this conversation.
    pub escalation: Option<EscalationExpect>,
    /// The conversation must not be escalated.
    pub no_escalation: bool,
    /// Whether the caller's number ends up on the opt-out list.
    pub opted_out: Option<bool>,
    /// Identity level at the end: anonymous, matched or verified.
    pub identity: Option<String>,
    /// Policy rules that must appear in the tool-call audit trail (`agent_reschedule.max_reschedules`).
    pub rules: Vec<String>,
    /// Tools that must have been called.
    pub tools: Vec<String>,
    /// Tools that must not have been called.
    pub tools_not: Vec<String>,
    /// Facts the agent must communicate somewhere in its replies: a phrase, or a list of
    /// alternatives of which one suffices. Case-insensitive; `{price:MOSQ}` placeholders.
    pub says: Vec<Says>,
    /// Checks that must hold (`write_without_confirmation`, `disclose_before_verification`,
    /// `claims_success_after_refusal`, `unbacked_claims`, `wrong_for_channel`); all of them run
    /// on every scenario.
    pub never: Vec<NeverCheck>,
    /// Phrases no reply may contain. Case-insensitive.
    pub never_says: Vec<String>,
    /// The agent must have replied to every message (no silent turn).
    pub always_replies: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Says {
    One(String),
    AnyOf(Vec<String>),
}

impl Says {
    pub fn alternatives(&self) -> Vec<String> {
        match self {
            Says::One(s) => vec![s.clone()],
            Says::AnyOf(v) => v.clone(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppointmentExpect {
    pub customer: String,
    /// Which appointment: the customer's first upcoming one unless `street` picks a property.
    #[serde(default)]
    pub street: Option<String>,
    /// The appointment is exactly where it started.
    #[serde(default)]
    pub unchanged: bool,
    /// The appointment moved (to anything).
    #[serde(default)]
    pub moved: bool,
    /// Local date of the new window (`2026-03-10`, quoted or as a TOML date).
    #[serde(default, deserialize_with = "de_date")]
    pub date: Option<NaiveDate>,
    /// Weekday of the new window (`tuesday`).
    #[serde(default)]
    pub weekday: Option<String>,
    /// `morning` (starts before noon) or `afternoon`.
    #[serde(default)]
    pub part_of_day: Option<String>,
    /// The window starts at this local hour.
    #[serde(default)]
    pub start_hour: Option<u32>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookingExpect {
    pub customer: String,
    /// Catalog code of the booked service.
    pub service: String,
    #[serde(default)]
    pub street: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EscalationExpect {
    /// The reason (from the fixed list), or leave out to accept any.
    pub reason: Option<String>,
    /// Any of these reasons.
    pub reasons: Vec<String>,
    pub priority: Option<String>,
    /// The escalation is tied to this named customer.
    pub customer: Option<String>,
}

/// A TOML local date (`date = 2026-03-10`) or the same as a string.
fn de_date<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Toml(toml::value::Datetime),
    }
    let text = match Raw::deserialize(d)? {
        Raw::Text(s) => s,
        Raw::Toml(dt) => dt.to_string(),
    };
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map(Some)
        .map_err(|_| serde::de::Error::custom(format!("`{text}` is not a date like 2026-03-10")))
}

/// A scenario that could not be read, with the file and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ScenarioError {
    pub path: String,
    pub message: String,
}

impl Scenario {
    /// Parse and check one scenario file's text.
    pub fn parse(text: &str, path: &Path) -> Result<Scenario, ScenarioError> {
        let err = |message: String| ScenarioError {
            path: path.display().to_string(),
            message,
        };
        let mut s: Scenario = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        s.path = path.to_path_buf();
        s.validate().map_err(err)?;
        Ok(s)
    }

    pub fn clock(&self) -> Result<DateTime<Utc>, String> {
        DateTime::parse_from_rfc3339(self.clock.trim())
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| format!("clock `{}` is not RFC 3339", self.clock))
    }

    pub fn channel(&self) -> Result<Channel, String> {
        self.channel
            .parse::<Channel>()
            .map_err(|_| format!("channel `{}` is not sms, voice, chat or api", self.channel))
    }

    pub fn simulated(&self) -> bool {
        self.turns.is_empty() && self.goal.is_some()
    }

    fn validate(&self) -> Result<(), String> {
        if self.id.trim().is_empty()
            || !self
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        {
            return Err(format!(
                "id `{}` must be non-empty letters, digits, `-`, `_` or `.`",
                self.id
            ));
        }
        self.clock()?;
        let channel = self.channel()?;
        match (&self.caller.phone, &self.caller.customer) {
            (Some(_), Some(_)) => return Err("caller: give `phone` or `customer`, not both".into()),
            (None, None) => return Err("caller: `phone` or `customer` is required".into()),
            (Some(p), None) => {
                if channel == Channel::Chat {
                    return Err("a chat caller is a portal customer: use `customer`".into());
                }
                PhoneE164::parse(p).map_err(|e| format!("caller.phone: {}", e.message))?;
            }
            (None, Some(c)) => check_customer(c)?,
        }
        if self.turns.is_empty() && self.goal.is_none() {
            return Err("give `turns` (scripted) or `goal` (simulated customer)".into());
        }
        if !self.turns.is_empty() && self.goal.is_some() {
            return Err("give `turns` or `goal`, not both".into());
        }
        if self.max_turns == 0 || self.max_turns > 50 {
            return Err("max_turns must be between 1 and 50".into());
        }
        if self.turns.len() > self.max_turns {
            return Err(format!(
                "{} turns but max_turns = {}",
                self.turns.len(),
                self.max_turns
            ));
        }
        if let WorldSpec::Named(n) = &self.world {
            check_name(n, "world")?;
        }
        if let WorldSpec::Table(t) = &self.world {
            if let Some(f) = &t.fixture {
                check_name(f, "world.fixture")?;
            }
            for p in &t.opt_outs {
                PhoneE164::parse(p).map_err(|e| format!("world.opt_outs: {}", e.message))?;
            }
        }
        let e = &self.expect;
        for a in &e.appointments {
            check_customer(&a.customer)?;
            if a.unchanged && (a.moved || a.date.is_some() || a.weekday.is_some()) {
                return Err("expect.appointments: `unchanged` with a new window".into());
            }
            if let Some(w) = &a.weekday {
                w.parse::<Weekday>()
                    .map_err(|_| format!("expect.appointments: weekday `{w}`"))?;
            }
            if let Some(p) = &a.part_of_day {
                if p != "morning" && p != "afternoon" {
                    return Err(format!(
                        "expect.appointments: part_of_day `{p}` (morning or afternoon)"
                    ));
                }
            }
        }
        for b in &e.bookings {
            check_customer(&b.customer)?;
        }
        if let Some(x) = &e.escalation {
            for r in x.reason.iter().chain(x.reasons.iter()) {
                r.parse::<EscalationReason>()
                    .map_err(|_| format!("expect.escalation: unknown reason `{r}`"))?;
            }
            if let Some(p) = &x.priority {
                p.parse::<Priority>()
                    .map_err(|_| format!("expect.escalation: unknown priority `{p}`"))?;
            }
            if let Some(c) = &x.customer {
                check_customer(c)?;
            }
            if e.no_escalation {
                return Err("expect: `escalation` and `no_escalation` together".into());
            }
        }
        if let Some(level) = &e.identity {
            level
                .parse::<crate::domain::IdentityLevel>()
                .map_err(|_| format!("expect.identity `{level}`"))?;
        }
        for s in &e.says {
            if s.alternatives().iter().all(|a| a.trim().is_empty()) {
                return Err("expect.says: an empty phrase".into());
            }
        }
        Ok(())
    }
}

fn check_customer(c: &str) -> Result<(), String> {
    if NAMED_CUSTOMERS.contains(&c) {
        Ok(())
    } else {
        Err(format!(
            "unknown customer `{c}`; one of {}",
            NAMED_CUSTOMERS.join(", ")
        ))
    }
}

fn check_name(n: &str, what: &str) -> Result<(), String> {
    if !n.is_empty()
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        Ok(())
    } else {
        Err(format!("{what} `{n}` is not a plain name"))
    }
}

/// Every scenario under the given files and folders (folders recursively, `*.toml` only,
/// skipping `worlds/`), sorted by path; ids must be unique.
pub fn load_all(paths: &[PathBuf]) -> Result<Vec<Scenario>, ScenarioError> {
    let mut files = Vec::new();
    for p in paths {
        collect(p, &mut files, 0)?;
    }
    files.sort();
    files.dedup();
    let mut out: Vec<Scenario> = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|e| ScenarioError {
            path: f.display().to_string(),
            message: e.to_string(),
        })?;
        let s = Scenario::parse(&text, &f)?;
        if let Some(other) = out.iter().find(|o| o.id == s.id) {
            return Err(ScenarioError {
                path: f.display().to_string(),
                message: format!("id `{}` is also used by {}", s.id, other.path.display()),
            });
        }
        out.push(s);
    }
    Ok(out)
}

fn collect(p: &Path, out: &mut Vec<PathBuf>, depth: usize) -> Result<(), ScenarioError> {
    let io = |e: std::io::Error| ScenarioError {
        path: p.display().to_string(),
        message: e.to_string(),
    };
    if depth > 8 {
        return Ok(());
    }
    let meta = std::fs::metadata(p).map_err(io)?;
    if meta.is_file() {
        out.push(p.to_path_buf());
        return Ok(());
    }
    for entry in std::fs::read_dir(p).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "worlds") {
                continue;
            }
            collect(&path, out, depth + 1)?;
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
    Ok(())
}

/// Find `worlds/<name>.toml` next to the scenario file or in one of its parent folders.
pub fn find_fixture(scenario_path: &Path, name: &str) -> Option<PathBuf> {
    let mut dir = scenario_path.parent();
    for _ in 0..4 {
        let d = dir?;
        let candidate = d.join("worlds").join(format!("{name}.toml"));
        if candidate.is_file() {
            return Some(candidate);
        }
        dir = d.parent();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(text, Path::new("t.toml"))
    }

    #[test]
    fn a_full_scenario_parses_and_bad_ones_say_why() {
        let s = parse(
            r#"
id = "r1"
tags = ["reschedule"]
clock = "2026-03-02T20:30:00-06:00"
channel = "sms"
caller = { customer = "rachel_kim" }
turns = ["move my visit", "yes"]
[world.policy]
agent_reschedule.max_days_from_original = 7
[expect]
says = ["tuesday", ["$69", "69 dollars"]]
never = ["write_without_confirmation", "unbacked_claims"]
never_says = ["reminder"]
escalation = { reason = "out_of_policy" }
[[expect.appointments]]
customer = "rachel_kim"
unchanged = true
"#,
        )
        .expect("parses");
        assert_eq!(s.turns.len(), 2);
        assert!(matches!(s.world, WorldSpec::Table(ref t) if t.policy.is_some()));
        assert_eq!(s.expect.says[1].alternatives().len(), 2);

        let bad = [
            ("id = \"x\"\nclock = \"tomorrow\"\nchannel = \"sms\"\ncaller = { phone = \"+15125550155\" }\nturns = [\"hi\"]", "clock"),
            ("id = \"x\"\nclock = \"2026-03-02T20:30:00Z\"\nchannel = \"fax\"\ncaller = { phone = \"+15125550155\" }\nturns = [\"hi\"]", "channel"),
            ("id = \"x\"\nclock = \"2026-03-02T20:30:00Z\"\nchannel = \"sms\"\ncaller = { customer = \"nobody\" }\nturns = [\"hi\"]", "unknown customer"),
            ("id = \"x\"\nclock = \"2026-03-02T20:30:00Z\"\nchannel = \"sms\"\ncaller = { phone = \"+15125550155\" }", "turns"),
            ("id = \"x\"\nclock = \"2026-03-02T20:30:00Z\"\nchannel = \"sms\"\ncaller = { phone = \"+15125550155\" }\nturns = [\"hi\"]\n[expect]\nescalation = { reason = \"angry\" }", "reason"),
            ("id = \"x\"\nclock = \"2026-03-02T20:30:00Z\"\nchannel = \"sms\"\ncaller = { phone = \"+15125550155\" }\nturns = [\"hi\"]\n[expect]\nsayz = [\"a\"]", "sayz"),
            ("id = \"x\"\nclock = \"2026-03-02T20:30:00Z\"\nchannel = \"sms\"\ncaller = { phone = \"+15125550155\" }\nturns = [\"hi\"]\n[expect]\nnever = [\"write_without_confirmaton\"]", "write_without_confirmaton"),
        ];
        for (text, needle) in bad {
            let e = parse(text).expect_err(needle);
            assert!(
                e.to_string().contains(needle),
                "{e} should mention {needle}"
            );
        }
    }
}
