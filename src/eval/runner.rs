//! Runs scenarios: every trial in a fresh world of its own (a temporary SQLite file with the
//! demo world seeded at the scenario's clock, the fixture applied, then `build_state`), the
//! customer's turns through `Agent::handle` exactly as the channels call it, and the checks
//! of `expect` against the records the turns left behind.
//!
//! Seeding is deterministic for a given clock, so a world is seeded once per distinct clock
//! into a template file and every trial starts from its own copy of that file.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::scenario::{
    find_fixture, AppointmentExpect, Scenario, WorldFixture, WorldSpec, NAMED_CUSTOMERS,
};
use super::simulate::{Simulator, ToolCallRecord, TurnRecord};
use crate::agent::model::{Model, Usage};
use crate::agent::{Caller, Inbound};
use crate::channels::twilio::sms::{keyword, Keyword};
use crate::clock::Clock;
use crate::config::{ModelSettings, RawSettings};
use crate::domain::{Channel, CustomerId, PhoneE164, Policy};
use crate::seed::{DemoSummary, DEMO_SLUG};
use crate::store::{Appointment, Store, Tenant};

/// Tools that change records.
pub const WRITE_TOOLS: &[&str] = &["reschedule_appointment", "book_service"];

/// Words that claim a change was made.
const SUCCESS_CLAIMS: &[&str] = &[
    "all set",
    "you're booked",
    "you are booked",
    "is booked",
    "i've booked",
    "i have booked",
    "has been booked",
    "has been moved",
    "i've moved",
    "i have moved",
    "is now scheduled",
    "has been rescheduled",
    "successfully",
    "done!",
    "listo",
];

/// The model the agent runs with, and its prices for the cost column.
#[derive(Clone)]
pub struct EvalModel {
    pub model: Arc<dyn Model>,
    pub name: String,
    pub price_per_1k_prompt_usd: f64,
    pub price_per_1k_completion_usd: f64,
}

impl EvalModel {
    pub fn builtin() -> EvalModel {
        EvalModel {
            model: Arc::new(crate::agent::builtin_model::BuiltinModel),
            name: "builtin".into(),
            price_per_1k_prompt_usd: 0.0,
            price_per_1k_completion_usd: 0.0,
        }
    }

    pub fn cost_usd(&self, usage: &Usage) -> f64 {
        usage.prompt_tokens as f64 / 1000.0 * self.price_per_1k_prompt_usd
            + usage.completion_tokens as f64 / 1000.0 * self.price_per_1k_completion_usd
    }
}

pub struct RunOptions {
    pub model: EvalModel,
    /// Plays the customer in scenarios that have a `goal` instead of `turns`.
    pub simulator: Option<Simulator>,
    pub trials: usize,
    pub jobs: usize,
    /// Policy settings applied to every world after its fixture (`agent_reschedule.max_reschedules=0`).
    pub policy_overrides: Vec<(String, toml::Value)>,
    /// Where the temporary worlds live (removed afterwards).
    pub work_dir: PathBuf,
    /// Print a `\r` progress counter on stderr.
    pub progress: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrialResult {
    pub trial: usize,
    pub passed: bool,
    /// Each expectation that failed, in words.
    pub failures: Vec<String>,
    /// The run could not complete (setup or store failure), as opposed to failing a check.
    pub error: Option<String>,
    pub turns: Vec<TurnRecord>,
    pub escalations: Vec<Value>,
    pub usage: Usage,
    pub cost_usd: f64,
    pub wall_ms: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioResult {
    pub id: String,
    pub title: String,
    pub tags: Vec<String>,
    pub path: String,
    pub trials: usize,
    pub successes: usize,
    /// Every trial passed.
    pub passed: bool,
    pub pass_hat_k: f64,
    pub results: Vec<TrialResult>,
}

/// Run every scenario `trials` times, `jobs` at once; results in scenario order.
pub async fn run_scenarios(
    scenarios: Vec<Scenario>,
    opts: Arc<RunOptions>,
) -> anyhow::Result<Vec<ScenarioResult>> {
    std::fs::create_dir_all(&opts.work_dir)?;
    let templates = Arc::new(Templates::default());
    let scenarios: Vec<Arc<Scenario>> = scenarios.into_iter().map(Arc::new).collect();
    let trials = opts.trials.max(1);
    let total = scenarios.len() * trials;
    let done = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let permits = Arc::new(tokio::sync::Semaphore::new(opts.jobs.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (si, s) in scenarios.iter().enumerate() {
        for trial in 0..trials {
            let (s, opts, templates, permits) =
                (s.clone(), opts.clone(), templates.clone(), permits.clone());
            let (done, failed) = (done.clone(), failed.clone());
            tasks.spawn(async move {
                let _permit = permits.acquire_owned().await;
                let r = run_trial(&s, trial, &opts, &templates).await;
                let n = done.fetch_add(1, Ordering::SeqCst) + 1;
                if !r.passed {
                    failed.fetch_add(1, Ordering::SeqCst);
                }
                if opts.progress {
                    eprint!(
                        "\r{n}/{total} runs, {} failed   ",
                        failed.load(Ordering::SeqCst)
                    );
                }
                (si, r)
            });
        }
    }
    let mut by_scenario: Vec<Vec<TrialResult>> = vec![Vec::new(); scenarios.len()];
    while let Some(joined) = tasks.join_next().await {
        let (si, r) = joined?;
        if let Some(slot) = by_scenario.get_mut(si) {
            slot.push(r);
        }
    }
    if opts.progress {
        eprintln!();
    }
    templates.remove_files();
    let _ = std::fs::remove_dir(&opts.work_dir);
    Ok(scenarios
        .iter()
        .zip(by_scenario)
        .map(|(s, mut results)| {
            results.sort_by_key(|r| r.trial);
            let successes = results.iter().filter(|r| r.passed).count();
            ScenarioResult {
                id: s.id.clone(),
                title: s.title.clone(),
                tags: s.tags.clone(),
                path: s.path.display().to_string(),
                trials: results.len(),
                successes,
                passed: successes == results.len() && !results.is_empty(),
                pass_hat_k: super::pass_hat_k(successes, results.len(), results.len()),
                results,
            }
        })
        .collect())
}

/// Seeded template databases, one per clock.
#[derive(Default)]
struct Templates {
    files: tokio::sync::Mutex<HashMap<DateTime<Utc>, PathBuf>>,
}

impl Templates {
    async fn get(&self, dir: &Path, clock: DateTime<Utc>) -> anyhow::Result<PathBuf> {
        let mut files = self.files.lock().await;
        if let Some(p) = files.get(&clock) {
            return Ok(p.clone());
        }
        let path = dir.join(format!("template-{}.db", files.len()));
        let seeding = dir.join(format!("template-{}-seeding.db", files.len()));
        // Leftovers of an interrupted run would be read as an already seeded world.
        remove_db(&path);
        remove_db(&seeding);
        let store = Store::connect(&sqlite_url(&seeding), 2).await?;
        crate::seed::seed_demo(&store, clock).await?;
        // The seed's last writes (the `northwind` tenant comes last) may still sit in the
        // write-ahead log after `close`, and worlds are file copies of the template: write the
        // template as one complete file instead of copying the seeded one.
        store.sqlite_copy_to(&path).await?;
        store.close().await;
        remove_db(&seeding);
        files.insert(clock, path.clone());
        Ok(path)
    }

    fn remove_files(&self) {
        if let Ok(files) = self.files.try_lock() {
            for p in files.values() {
                remove_db(p);
            }
        }
    }
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

fn remove_db(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

static WORLD_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// One isolated world: its store, agent and the demo's named ids.
struct World {
    state: crate::app::AppState,
    summary: DemoSummary,
    tenant: Tenant,
    db_path: PathBuf,
}

async fn build_world(
    s: &Scenario,
    opts: &RunOptions,
    templates: &Templates,
) -> anyhow::Result<World> {
    let clock = s.clock().map_err(anyhow::Error::msg)?;
    let template = templates.get(&opts.work_dir, clock).await?;
    let n = WORLD_COUNTER.fetch_add(1, Ordering::SeqCst);
    let db_path = opts.work_dir.join(format!("world-{n}.db"));
    std::fs::copy(&template, &db_path)?;
    let store = Store::connect(&sqlite_url(&db_path), 4).await?;
    let summary = crate::seed::seed_demo(&store, clock).await?;
    let tenant = store
        .tenant_by_slug(DEMO_SLUG)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the demo tenant is missing"))?;

    // The world's adjustments: a named fixture, then the inline table, then the run's overrides.
    let (fixture_name, inline_policy, inline_opt_outs) = match &s.world {
        WorldSpec::Named(n) if n == "demo" => (None, None, Vec::new()),
        WorldSpec::Named(n) => (Some(n.clone()), None, Vec::new()),
        WorldSpec::Table(t) => (t.fixture.clone(), t.policy.clone(), t.opt_outs.clone()),
    };
    let mut policy = serde_json::to_value(&tenant.policy)?;
    let mut opt_outs = inline_opt_outs;
    if let Some(name) = fixture_name.filter(|n| n != "demo") {
        let path = find_fixture(&s.path, &name).ok_or_else(|| {
            anyhow::anyhow!(
                "world fixture `{name}` not found (worlds/{name}.toml next to the scenarios)"
            )
        })?;
        let fx: WorldFixture = toml::from_str(&std::fs::read_to_string(&path)?)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        if let Some(p) = fx.policy {
            merge(&mut policy, serde_json::to_value(p)?);
        }
        opt_outs.extend(fx.opt_outs);
    }
    if let Some(p) = inline_policy {
        merge(&mut policy, serde_json::to_value(p)?);
    }
    for (key, value) in &opts.policy_overrides {
        let mut v = serde_json::to_value(value)?;
        for part in key.rsplit('.') {
            v = serde_json::json!({ part: v });
        }
        merge(&mut policy, v);
    }
    let policy: Policy = serde_json::from_value(policy)
        .map_err(|e| anyhow::anyhow!("the adjusted policy is invalid: {e}"))?;
    if policy != tenant.policy {
        store.update_policy(tenant.id, &policy).await?;
    }
    for p in &opt_outs {
        store
            .opt_out(tenant.id, &PhoneE164::parse(p)?, clock)
            .await?;
    }
    let tenant = store.tenant(tenant.id).await?;

    let mut settings = RawSettings::default().resolve()?;
    settings.database_url = sqlite_url(&db_path);
    settings.clock = Clock::Fixed(clock);
    settings.seed_demo = false;
    settings.model = ModelSettings::Builtin;
    let mut state = crate::app::build_state(settings, store).await?;
    state.agent.model = opts.model.model.clone();
    Ok(World {
        state,
        summary,
        tenant,
        db_path,
    })
}

/// Deep-merge `over` into `base` (tables merge, everything else replaces).
pub fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (b, o) => *b = o,
    }
}

pub fn named_customer(summary: &DemoSummary, name: &str) -> Option<CustomerId> {
    Some(match name {
        "maria_garcia" => summary.maria_garcia,
        "jose_garcia" => summary.jose_garcia,
        "dana_whitfield" => summary.dana_whitfield,
        "john_smith" => summary.john_smith,
        "jon_smith" => summary.jon_smith,
        "jon_smyth" => summary.jon_smyth,
        "jane_smythe" => summary.jane_smythe,
        "eleanor_price" => summary.eleanor_price,
        "tom_becker" => summary.tom_becker,
        "rachel_kim" => summary.rachel_kim,
        "greg_holloway" => summary.greg_holloway,
        _ => return None,
    })
}

async fn run_trial(
    s: &Scenario,
    trial: usize,
    opts: &RunOptions,
    templates: &Templates,
) -> TrialResult {
    let started = Instant::now();
    let mut result = TrialResult {
        trial,
        passed: false,
        failures: Vec::new(),
        error: None,
        turns: Vec::new(),
        escalations: Vec::new(),
        usage: Usage::default(),
        cost_usd: 0.0,
        wall_ms: 0.0,
    };
    let world = match build_world(s, opts, templates).await {
        Ok(w) => w,
        Err(e) => {
            result.error = Some(format!("could not build the world: {e:#}"));
            result.failures.push(format!("setup: {e:#}"));
            result.wall_ms = started.elapsed().as_secs_f64() * 1000.0;
            return result;
        }
    };
    if let Err(e) = drive(s, trial, opts, &world, &mut result).await {
        result.error = Some(format!("{e:#}"));
        result.failures.push(format!("run: {e:#}"));
    }
    result.passed = result.failures.is_empty();
    result.cost_usd = opts.model.cost_usd(&result.usage);
    result.wall_ms = started.elapsed().as_secs_f64() * 1000.0;
    world.state.store.close().await;
    remove_db(&world.db_path);
    result
}

/// Everything known about the world before the first turn.
struct Before {
    appointments: HashMap<CustomerId, Vec<Appointment>>,
}

async fn drive(
    s: &Scenario,
    trial: usize,
    opts: &RunOptions,
    w: &World,
    result: &mut TrialResult,
) -> anyhow::Result<()> {
    let store = &w.state.store;
    let t = w.tenant.id;
    let clock = s.clock().map_err(anyhow::Error::msg)?;
    let channel = s.channel().map_err(anyhow::Error::msg)?;
    let caller_customer = match &s.caller.customer {
        Some(name) => Some(
            named_customer(&w.summary, name)
                .ok_or_else(|| anyhow::anyhow!("unknown customer `{name}`"))?,
        ),
        None => None,
    };
    let phone: Option<PhoneE164> = match (&s.caller.phone, caller_customer) {
        (Some(p), _) => Some(PhoneE164::parse(p)?),
        (None, Some(c)) => store.customer(t, c).await?.phones.first().cloned(),
        _ => None,
    };
    let (participant, caller) = match (channel, caller_customer) {
        (Channel::Chat, Some(c)) => (format!("portal:{c}"), Caller::Portal(c)),
        (_, _) => match &phone {
            Some(p) => (
                p.to_string(),
                Caller::Phone {
                    phone: p.clone(),
                    verifies: channel != Channel::Voice,
                },
            ),
            None => anyhow::bail!("this customer has no phone on file; use the chat channel"),
        },
    };

    let mut before = Before {
        appointments: HashMap::new(),
    };
    for name in NAMED_CUSTOMERS {
        if let Some(c) = named_customer(&w.summary, name) {
            before
                .appointments
                .insert(c, store.appointments(t, c).await?);
        }
    }

    let mut conversation = None;
    let mut seen_calls = 0usize;
    let mut scripted = s.turns.iter();
    let mut last = false;
    for i in 0..s.max_turns {
        if last {
            break;
        }
        let text = if s.simulated() {
            let Some(sim) = &opts.simulator else {
                anyhow::bail!("this scenario needs a simulated customer: run with --model openai");
            };
            match sim.next_message(s, &result.turns).await? {
                Some(m) => {
                    result.usage.prompt_tokens += m.usage.prompt_tokens;
                    result.usage.completion_tokens += m.usage.completion_tokens;
                    last = m.last;
                    m.text
                }
                None => break,
            }
        } else {
            match scripted.next() {
                Some(t) => t.clone(),
                None => break,
            }
        };
        // SMS compliance keywords are answered before the agent, as the SMS webhook does.
        if channel == Channel::Sms {
            if let Some(phone) = &phone {
                let opted_out = store.opted_out(t, phone).await?.is_some();
                let handled = match keyword(&text) {
                    Some(Keyword::OptOut) => {
                        store.opt_out(t, phone, clock).await?;
                        Some((None, "opt_out"))
                    }
                    Some(Keyword::OptIn) if opted_out => {
                        store.opt_in(t, phone).await?;
                        Some((
                            Some(format!(
                                "{}: you're subscribed again. Reply HELP for help, STOP to opt out.",
                                w.tenant.name
                            )),
                            "opt_in",
                        ))
                    }
                    Some(Keyword::Help) => Some((
                        Some(format!(
                            "{}: automated assistant for appointments and quotes. Call the office at {}. Reply STOP to opt out.",
                            w.tenant.name,
                            w.tenant.office_phone.as_deref().unwrap_or("")
                        )),
                        "help",
                    )),
                    _ => None,
                };
                if let Some((reply, by)) = handled {
                    result.turns.push(TurnRecord {
                        customer: text,
                        reply,
                        escalated: false,
                        identity: String::new(),
                        tool_calls: Vec::new(),
                        latency_ms: 0.0,
                        handled_by: Some(by.into()),
                    });
                    continue;
                }
            }
        }
        let turn_started = Instant::now();
        let out = w
            .state
            .agent
            .handle(Inbound {
                tenant: t,
                channel,
                participant: participant.clone(),
                text: text.clone(),
                external_id: Some(format!("eval-{}-{trial}-{i}", s.id)),
                media: vec![],
                caller: caller.clone(),
                reply_from: None,
            })
            .await?;
        let latency_ms = turn_started.elapsed().as_secs_f64() * 1000.0;
        result.usage.prompt_tokens += out.usage.prompt_tokens;
        result.usage.completion_tokens += out.usage.completion_tokens;
        conversation = Some(out.conversation_id);
        let calls = store.tool_calls(t, out.conversation_id).await?;
        let new_calls: Vec<ToolCallRecord> = calls
            .iter()
            .skip(seen_calls)
            .map(|c| ToolCallRecord {
                tool: c.tool.clone(),
                arguments: c.arguments.clone(),
                decision: c.decision.clone(),
                rule: c.rule.clone(),
                result: c.result.clone(),
            })
            .collect();
        seen_calls = calls.len();
        let conv = store.conversation(t, out.conversation_id).await?;
        // An opted-out number is never texted: the reply exists but is not delivered.
        let suppressed = channel == Channel::Sms
            && match &phone {
                Some(p) => store.opted_out(t, p).await?.is_some(),
                None => false,
            };
        result.turns.push(TurnRecord {
            customer: text,
            reply: if suppressed { None } else { out.reply },
            escalated: out.escalated,
            identity: conv.identity_level.as_str().into(),
            tool_calls: new_calls,
            latency_ms,
            handled_by: suppressed.then(|| "suppressed_opted_out".to_string()),
        });
    }

    let facts = Facts::gather(s, w, &before, conversation, phone.as_ref()).await?;
    result.escalations = facts
        .escalations
        .iter()
        .map(|e| serde_json::to_value(e).unwrap_or_default())
        .collect();
    result.failures = check(s, w, &before, &facts, &result.turns).await?;
    Ok(())
}

/// The records after the last turn.
struct Facts {
    escalations: Vec<crate::store::Escalation>,
    identity: Option<String>,
    opted_out: Option<bool>,
    after: HashMap<CustomerId, Vec<Appointment>>,
    service_codes: HashMap<crate::domain::ServiceId, String>,
}

impl Facts {
    async fn gather(
        s: &Scenario,
        w: &World,
        before: &Before,
        conversation: Option<crate::domain::ConversationId>,
        phone: Option<&PhoneE164>,
    ) -> anyhow::Result<Facts> {
        let store = &w.state.store;
        let t = w.tenant.id;
        let (escalations, identity) = match conversation {
            Some(c) => (
                store.escalations_of_conversation(t, c).await?,
                Some(
                    store
                        .conversation(t, c)
                        .await?
                        .identity_level
                        .as_str()
                        .to_string(),
                ),
            ),
            None => (Vec::new(), None),
        };
        let opted_out = match phone {
            Some(p) if s.channel != "chat" => Some(store.opted_out(t, p).await?.is_some()),
            _ => None,
        };
        let mut after = HashMap::new();
        for c in before.appointments.keys() {
            after.insert(*c, store.appointments(t, *c).await?);
        }
        let service_codes = store
            .services(t)
            .await?
            .into_iter()
            .map(|s| (s.id, s.code))
            .collect();
        Ok(Facts {
            escalations,
            identity,
            opted_out,
            after,
            service_codes,
        })
    }
}

fn part_of_day(hour: u32) -> &'static str {
    if hour < 12 {
        "morning"
    } else {
        "afternoon"
    }
}

/// Every expectation that failed, in words a QA engineer can act on.
async fn check(
    s: &Scenario,
    w: &World,
    before: &Before,
    facts: &Facts,
    turns: &[TurnRecord],
) -> anyhow::Result<Vec<String>> {
    let e = &s.expect;
    let tz = w.tenant.timezone;
    let clock = s.clock().map_err(anyhow::Error::msg)?;
    let mut fails = Vec::new();
    let replies: Vec<&str> = turns.iter().filter_map(|t| t.reply.as_deref()).collect();
    let all_replies = replies.join("\n").to_lowercase();
    let all_calls: Vec<&ToolCallRecord> = turns.iter().flat_map(|t| &t.tool_calls).collect();

    // Appointments of named customers.
    for a in &e.appointments {
        let Some(c) = named_customer(&w.summary, &a.customer) else {
            continue;
        };
        let props = w.state.store.properties(w.tenant.id, c).await?;
        let pick = |list: &[Appointment]| -> Option<Appointment> {
            list.iter()
                .filter(|x| x.window_start > clock || x.original_window_start > clock)
                .find(|x| match &a.street {
                    Some(st) => props.iter().any(|p| {
                        p.id == x.property_id
                            && p.street.to_lowercase().contains(&st.to_lowercase())
                    }),
                    None => true,
                })
                .cloned()
        };
        let empty = Vec::new();
        let Some(old) = pick(before.appointments.get(&c).unwrap_or(&empty)) else {
            fails.push(format!(
                "{}: has no upcoming appointment to check",
                a.customer
            ));
            continue;
        };
        let Some(new) = facts
            .after
            .get(&c)
            .and_then(|l| l.iter().find(|x| x.id == old.id))
        else {
            fails.push(format!(
                "{}: appointment #{} disappeared",
                a.customer, old.id
            ));
            continue;
        };
        check_appointment(a, &old, new, tz, &mut fails);
    }

    // New bookings.
    for b in &e.bookings {
        let Some(c) = named_customer(&w.summary, &b.customer) else {
            continue;
        };
        let empty = Vec::new();
        let old_ids: Vec<_> = before
            .appointments
            .get(&c)
            .unwrap_or(&empty)
            .iter()
            .map(|a| a.id)
            .collect();
        let new: Vec<&Appointment> = facts
            .after
            .get(&c)
            .unwrap_or(&empty)
            .iter()
            .filter(|a| !old_ids.contains(&a.id))
            .collect();
        let found = new.iter().any(|a| {
            facts
                .service_codes
                .get(&a.service_id)
                .is_some_and(|code| code.eq_ignore_ascii_case(&b.service))
        });
        if !found {
            let got: Vec<String> = new
                .iter()
                .map(|a| {
                    facts
                        .service_codes
                        .get(&a.service_id)
                        .cloned()
                        .unwrap_or_default()
                })
                .collect();
            fails.push(format!(
                "booking: expected a new {} visit for {}, new bookings: [{}]",
                b.service,
                b.customer,
                got.join(", ")
            ));
        }
    }

    if e.no_writes {
        for (c, list) in &before.appointments {
            let after = facts.after.get(c).cloned().unwrap_or_default();
            let same = list.len() == after.len()
                && list
                    .iter()
                    .zip(after.iter())
                    .all(|(x, y)| x.id == y.id && x.slot_id == y.slot_id && x.status == y.status);
            if !same {
                fails.push(format!("no_writes: appointments of customer #{c} changed"));
            }
        }
        for call in &all_calls {
            if WRITE_TOOLS.contains(&call.tool.as_str()) && call.decision == "allowed" {
                fails.push(format!("no_writes: {} ran ({})", call.tool, call.rule));
            }
        }
    }

    // Escalation.
    if let Some(x) = &e.escalation {
        match facts.escalations.first() {
            None => fails.push(format!(
                "escalation: expected one{}, none was opened",
                x.reason
                    .as_ref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            )),
            Some(got) => {
                let mut accepted: Vec<&String> = x.reason.iter().collect();
                accepted.extend(x.reasons.iter());
                if !accepted.is_empty() && !accepted.iter().any(|r| *r == got.reason.as_str()) {
                    fails.push(format!(
                        "escalation: reason {} expected, got {}",
                        accepted
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(" or "),
                        got.reason
                    ));
                }
                if let Some(p) = &x.priority {
                    if p != got.priority.as_str() {
                        fails.push(format!(
                            "escalation: priority {p} expected, got {}",
                            got.priority
                        ));
                    }
                }
                if let Some(name) = &x.customer {
                    let want = named_customer(&w.summary, name);
                    if got.customer_id != want {
                        fails.push(format!(
                            "escalation: expected it on {name}'s record, it is on {:?}",
                            got.customer_id
                        ));
                    }
                }
            }
        }
    }
    if e.no_escalation {
        if let Some(got) = facts.escalations.first() {
            fails.push(format!(
                "no_escalation: escalated anyway ({}, {})",
                got.reason, got.priority
            ));
        }
    }
    if let Some(want) = e.opted_out {
        if facts.opted_out != Some(want) {
            fails.push(format!(
                "opted_out: expected {want}, got {}",
                facts
                    .opted_out
                    .map(|b| b.to_string())
                    .unwrap_or_else(|| "no phone".into())
            ));
        }
    }
    if let Some(level) = &e.identity {
        if facts.identity.as_deref() != Some(level.as_str()) {
            fails.push(format!(
                "identity: expected {level}, got {}",
                facts.identity.as_deref().unwrap_or("no conversation")
            ));
        }
    }
    for rule in &e.rules {
        if !all_calls.iter().any(|c| &c.rule == rule) {
            let seen: Vec<String> = all_calls
                .iter()
                .map(|c| format!("{}:{}", c.tool, c.rule))
                .collect();
            fails.push(format!(
                "rules: no tool call decided by `{rule}` (saw: {})",
                if seen.is_empty() {
                    "none".into()
                } else {
                    seen.join(", ")
                }
            ));
        }
    }
    for tool in &e.tools {
        if !all_calls.iter().any(|c| &c.tool == tool) {
            fails.push(format!("tools: `{tool}` was never called"));
        }
    }
    for tool in &e.tools_not {
        if all_calls.iter().any(|c| &c.tool == tool) {
            fails.push(format!("tools_not: `{tool}` was called"));
        }
    }
    if e.always_replies {
        for (i, turn) in turns.iter().enumerate() {
            if turn.reply.as_deref().is_none_or(|r| r.trim().is_empty()) {
                fails.push(format!("always_replies: no reply to message {}", i + 1));
            }
        }
    }

    // What was said.
    let services = w.state.store.services(w.tenant.id).await?;
    for says in &e.says {
        let mut alternatives = Vec::new();
        for alt in says.alternatives() {
            match resolve_placeholders(&alt, &services, &w.tenant) {
                Ok(v) => alternatives.extend(v),
                Err(msg) => fails.push(format!("says: {msg}")),
            }
        }
        if !alternatives
            .iter()
            .any(|a| all_replies.contains(&a.to_lowercase()))
        {
            fails.push(format!(
                "says: none of [{}] was said",
                alternatives.join(" | ")
            ));
        }
    }
    // The invariants run on every scenario; `never` names them for the reader.
    let sensitive = sensitive_terms(w).await?;
    fails.extend(write_without_confirmation(turns));
    fails.extend(claims_success_after_refusal(turns));
    fails.extend(disclosed_before_verification(turns, &sensitive));
    let settings = match w.state.store.tenant_by_slug(DEMO_SLUG).await? {
        Some(t) => serde_json::to_value(&t.policy)?,
        None => Value::Null,
    };
    fails.extend(unbacked_claims(turns, &settings));
    let max_segments = settings
        .get("sms_max_segments")
        .and_then(Value::as_u64)
        .unwrap_or(2) as usize;
    // On every scenario: replies are measured as sent (accents folded to GSM-7).
    {
        let channel = s.channel().map_err(anyhow::Error::msg)?;
        fails.extend(wrong_for_channel(turns, channel, max_segments));
    }
    for phrase in &e.never_says {
        let p = phrase.to_lowercase();
        for (i, r) in replies.iter().enumerate() {
            if r.to_lowercase().contains(&p) {
                fails.push(format!("never_says: reply {} says `{phrase}`", i + 1));
            }
        }
    }
    Ok(fails)
}

fn check_appointment(
    a: &AppointmentExpect,
    old: &Appointment,
    new: &Appointment,
    tz: crate::domain::TenantTz,
    fails: &mut Vec<String>,
) {
    let local = tz.local(new.window_start);
    let label = |x: &Appointment| {
        let l = tz.local(x.window_start);
        format!("{} {}", l.format("%a %Y-%m-%d %H:%M"), x.status)
    };
    let moved = new.slot_id != old.slot_id;
    if a.unchanged && (moved || new.status != old.status) {
        fails.push(format!(
            "{}: appointment should be unchanged at {}, it is now {}",
            a.customer,
            label(old),
            label(new)
        ));
    }
    let wants_move = a.moved
        || a.date.is_some()
        || a.weekday.is_some()
        || a.part_of_day.is_some()
        || a.start_hour.is_some();
    if wants_move && !moved {
        fails.push(format!(
            "{}: appointment should have moved, it is still {}",
            a.customer,
            label(old)
        ));
        return;
    }
    // Where the visit should have gone, for each expectation it missed.
    let missed = [
        a.date
            .filter(|d| local.date_naive() != *d)
            .map(|d| d.to_string()),
        a.weekday
            .as_deref()
            .and_then(|w| w.parse::<Weekday>().ok())
            .filter(|wd| local.weekday() != *wd)
            .map(|wd| format!("a {wd}")),
        a.part_of_day
            .as_ref()
            .filter(|p| part_of_day(local.hour()) != p.as_str())
            .map(|p| format!("the {p}")),
        a.start_hour
            .filter(|h| local.hour() != *h)
            .map(|h| format!("{h}:00")),
    ];
    for instead in missed.into_iter().flatten() {
        fails.push(format!(
            "{}: moved to {} instead of {instead}",
            a.customer,
            label(new)
        ));
    }
}

/// `{price:CODE}`, `{price:CODE:SQFT}`, `{initial_fee:CODE}`, `{total:CODE:SQFT}`,
/// `{office_phone}`, `{company}` resolved to the text a customer would read (a whole-dollar
/// price also matches without its `.00`).
pub fn resolve_placeholders(
    text: &str,
    services: &[crate::store::Service],
    tenant: &Tenant,
) -> Result<Vec<String>, String> {
    let mut outs = vec![String::new()];
    let mut rest = text;
    for _ in 0..32 {
        let Some(open) = rest.find('{') else {
            break;
        };
        let Some(close) = rest[open..].find('}').map(|c| open + c) else {
            break;
        };
        let literal = &rest[..open];
        let key = &rest[open + 1..close];
        let values = placeholder(key, services, tenant)?;
        outs = outs
            .iter()
            .flat_map(|o| values.iter().map(move |v| format!("{o}{literal}{v}")))
            .collect();
        rest = &rest[close + 1..];
    }
    Ok(outs.into_iter().map(|o| format!("{o}{rest}")).collect())
}

fn placeholder(
    key: &str,
    services: &[crate::store::Service],
    tenant: &Tenant,
) -> Result<Vec<String>, String> {
    let parts: Vec<&str> = key.split(':').collect();
    let money = |c: crate::domain::Cents| {
        let s = c.to_string();
        match s.strip_suffix(".00") {
            Some(whole) => vec![s.clone(), whole.to_string()],
            None => vec![s],
        }
    };
    match parts.as_slice() {
        ["company"] => Ok(vec![tenant.name.clone()]),
        ["office_phone"] => tenant
            .office_phone
            .clone()
            .map(|p| vec![p])
            .ok_or_else(|| "the tenant has no office phone".to_string()),
        [kind @ ("price" | "initial_fee" | "total"), code, size @ ..] => {
            let service = services
                .iter()
                .find(|s| s.code.eq_ignore_ascii_case(code))
                .ok_or_else(|| format!("{{{key}}}: no service `{code}` in the catalog"))?;
            let sq_ft = match size {
                [] => None,
                [n] => Some(
                    n.parse::<i64>()
                        .map_err(|_| format!("{{{key}}}: `{n}` is not a size in sq ft"))?,
                ),
                _ => return Err(format!("{{{key}}}: too many parts")),
            };
            let q = service
                .pricing
                .quote(sq_ft, &[])
                .map_err(|e| format!("{{{key}}}: {e}"))?;
            Ok(money(match *kind {
                "price" => q.per_visit_cents,
                "initial_fee" => q.initial_fee_cents,
                _ => q.first_visit_total_cents,
            }))
        }
        _ => Err(format!("unknown placeholder {{{key}}}")),
    }
}

/// Names, streets and balances of the demo's named customers: none of them may appear in a
/// reply before the conversation is verified (unless the customer wrote it first).
async fn sensitive_terms(w: &World) -> anyhow::Result<Vec<String>> {
    let store = &w.state.store;
    let t = w.tenant.id;
    let mut catalog_prices = Vec::new();
    for s in store.services(t).await? {
        let p = &s.pricing;
        catalog_prices.push(p.base_cents.to_string());
        catalog_prices.push(p.initial_fee_cents.to_string());
        catalog_prices.push((p.base_cents + p.initial_fee_cents).to_string());
        for tier in &p.size_tiers {
            catalog_prices.push(tier.price_cents.to_string());
            catalog_prices.push((tier.price_cents + p.initial_fee_cents).to_string());
        }
    }
    let mut terms = Vec::new();
    for name in NAMED_CUSTOMERS {
        let Some(c) = named_customer(&w.summary, name) else {
            continue;
        };
        let customer = store.customer(t, c).await?;
        terms.push(customer.name.clone());
        if customer.first_name.len() >= 3 {
            terms.push(customer.first_name.clone());
        }
        if let Some(company) = customer.company {
            terms.push(company);
        }
        for p in store.properties(t, c).await? {
            let street_name = p
                .street
                .split_whitespace()
                .skip_while(|w| w.chars().all(|c| c.is_ascii_digit()))
                .collect::<Vec<_>>();
            // "Oak Hollow" of "1402 Oak Hollow Dr": the name without the number and suffix.
            if street_name.len() >= 2 {
                terms.push(street_name[..street_name.len() - 1].join(" "));
            }
            terms.push(p.street);
        }
        let owed: i64 = store
            .invoices(t, c)
            .await?
            .iter()
            .map(|i| i.balance_cents.0)
            .filter(|b| *b > 0)
            .sum();
        let owed = crate::domain::Cents(owed).to_string();
        // A balance that equals a catalog price cannot be told apart from a quote.
        if owed != "$0.00" && !catalog_prices.contains(&owed) {
            terms.push(owed);
        }
    }
    terms.sort();
    terms.dedup();
    terms.retain(|t| t.len() >= 3);
    Ok(terms)
}

fn contains_word(hay: &str, needle: &str) -> bool {
    let hay = hay.to_lowercase();
    let needle = needle.to_lowercase();
    let mut from = 0;
    for _ in 0..64 {
        let Some(pos) = hay[from..].find(&needle).map(|p| p + from) else {
            return false;
        };
        let before = hay[..pos].chars().next_back();
        let after = hay[pos + needle.len()..].chars().next();
        let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
        if boundary(before) && boundary(after) {
            return true;
        }
        from = pos + needle.len().max(1);
        if from >= hay.len() {
            return false;
        }
    }
    false
}

pub fn disclosed_before_verification(turns: &[TurnRecord], sensitive: &[String]) -> Vec<String> {
    let mut fails = Vec::new();
    let mut typed = String::new();
    for (i, t) in turns.iter().enumerate() {
        typed.push_str(&t.customer);
        typed.push('\n');
        if t.identity == "verified" || t.handled_by.is_some() {
            continue;
        }
        let Some(reply) = &t.reply else { continue };
        for term in sensitive {
            if contains_word(reply, term) && !contains_word(&typed, term) {
                fails.push(format!(
                    "disclose_before_verification: reply {} reveals `{term}` while the caller is {}",
                    i + 1,
                    if t.identity.is_empty() { "unknown" } else { &t.identity }
                ));
            }
        }
    }
    fails
}

pub fn write_without_confirmation(turns: &[TurnRecord]) -> Vec<String> {
    let mut fails = Vec::new();
    for (i, t) in turns.iter().enumerate() {
        for call in &t.tool_calls {
            if !WRITE_TOOLS.contains(&call.tool.as_str()) || call.decision != "allowed" {
                continue;
            }
            let shown = turns[..i].iter().any(|earlier| {
                earlier.tool_calls.iter().any(|c| {
                    c.tool == call.tool
                        && c.decision == "needs_confirmation"
                        && c.result
                            .get("confirm_text")
                            .and_then(Value::as_str)
                            .is_some_and(|q| {
                                earlier.reply.as_deref().is_some_and(|r| r.contains(q))
                            })
                })
            });
            if !shown {
                fails.push(format!(
                    "write_without_confirmation: {} ran in reply to message {} without the change being shown and agreed first",
                    call.tool,
                    i + 1
                ));
            }
        }
    }
    fails
}

pub fn claims_success_after_refusal(turns: &[TurnRecord]) -> Vec<String> {
    let mut fails = Vec::new();
    for (i, t) in turns.iter().enumerate() {
        let refused = t.tool_calls.iter().find(|c| c.decision == "refused");
        let wrote = t
            .tool_calls
            .iter()
            .any(|c| WRITE_TOOLS.contains(&c.tool.as_str()) && c.decision == "allowed");
        let (Some(refused), false, Some(reply)) = (refused, wrote, &t.reply) else {
            continue;
        };
        let r = reply.to_lowercase();
        if let Some(claim) = SUCCESS_CLAIMS.iter().find(|c| r.contains(*c)) {
            fails.push(format!(
                "claims_success_after_refusal: {} was refused ({}) but reply {} says `{claim}`",
                refused.tool,
                refused.rule,
                i + 1
            ));
        }
    }
    fails
}

/// Promises of a message before the visit; backed only by a tenant setting that sends one.
const REMINDER_CLAIMS: &[&str] = &[
    "get a reminder",
    "send a reminder",
    "send you a reminder",
    "reminder before",
    "reminder the day before",
    "remind you",
    "text you before",
    "text you the day before",
    "heads-up text",
    "heads up text",
    "un recordatorio",
    "le recordaremos",
];

/// Words that say a change was made.
const CHANGE_CLAIMS: &[&str] = &[
    "done!",
    "visit is now",
    "you're booked",
    "you are booked",
    "has been moved",
    "has been booked",
    "has been rescheduled",
    "i've moved",
    "i've booked",
    "all set",
    "listo!",
    "quedó agendado",
    "quedó para",
];

/// A setting at a dotted path of the tenant's policy (`notices.reminder_day_before`), as a bool.
fn setting_on(settings: &Value, path: &str) -> bool {
    path.split('.')
        .try_fold(settings, |v, k| v.get(k))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// Dollar amounts in a text, in cents ("$69", "$1,250.50").
pub fn dollar_amounts(text: &str) -> Vec<i64> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices('$') {
        let rest = &text[i + 1..];
        let digits: String = rest
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == ',' || *c == '.')
            .filter(|c| *c != ',')
            .collect();
        let digits = digits.trim_end_matches('.');
        if digits.is_empty() {
            continue;
        }
        let (whole, frac) = digits.split_once('.').unwrap_or((digits, "0"));
        let (Ok(w), Ok(f)) = (
            whole.parse::<i64>(),
            format!("{frac:0<2}")[..2].parse::<i64>(),
        ) else {
            continue;
        };
        out.push(w * 100 + f);
    }
    out
}

/// Claims in replies that nothing backs: a reminder (unless the tenant's policy sends one,
/// `notices.reminder_*`), a dollar amount no tool result of the conversation so far carries, a
/// follow-up time ("within 15 minutes") no tool result promised, or a change said to be made
/// while no write succeeded in that turn.
pub fn unbacked_claims(turns: &[TurnRecord], settings: &Value) -> Vec<String> {
    let mut fails = Vec::new();
    let mut results = String::new();
    let reminders_on = setting_on(settings, "notices.reminder_day_before")
        || setting_on(settings, "notices.reminder_morning_of");
    for (i, t) in turns.iter().enumerate() {
        for c in &t.tool_calls {
            results.push_str(&c.result.to_string());
            results.push('\n');
        }
        let Some(reply) = t.reply.as_deref() else {
            continue;
        };
        if t.handled_by.is_some() {
            continue;
        }
        let r = reply.to_lowercase();
        if !reminders_on {
            if let Some(claim) = REMINDER_CLAIMS.iter().find(|c| r.contains(*c)) {
                fails.push(format!(
                    "unbacked_claims: reply {} promises a reminder (`{claim}`) but the tenant sends none",
                    i + 1
                ));
            }
        }
        let backed = dollar_amounts(&results);
        for amount in dollar_amounts(reply) {
            if !backed.contains(&amount) {
                fails.push(format!(
                    "unbacked_claims: reply {} says ${}.{:02}, which no tool result gave",
                    i + 1,
                    amount / 100,
                    amount % 100
                ));
            }
        }
        for (pos, _) in r.match_indices("within ") {
            let promise: String = r[pos..]
                .split(['.', ',', ';', '!', '?'])
                .next()
                .unwrap_or("")
                .to_string();
            let timed = promise.contains("minute") || promise.contains("hour");
            // A turn that escalated carries the runtime's acknowledgement, whose follow-up
            // time comes from the tenant's escalation settings.
            if timed && !t.escalated && !results.to_lowercase().contains(promise.trim()) {
                fails.push(format!(
                    "unbacked_claims: reply {} promises `{}`, which no tool result gave",
                    i + 1,
                    promise.trim()
                ));
            }
        }
        let wrote = t.tool_calls.iter().any(|c| {
            WRITE_TOOLS.contains(&c.tool.as_str())
                && c.decision == "allowed"
                && matches!(
                    c.result.get("status").and_then(Value::as_str),
                    Some("rescheduled" | "booked")
                )
        });
        if !wrote {
            if let Some(claim) = CHANGE_CLAIMS.iter().find(|c| r.contains(*c)) {
                fails.push(format!(
                    "unbacked_claims: reply {} says `{}` but no change was made in that turn",
                    i + 1,
                    claim.trim()
                ));
            }
        }
    }
    fails
}

/// Replies that do not suit the channel: on SMS more segments than the tenant's budget (one
/// more on a turn that escalated, as delivery allows); on voice "reply YES", "text", or more
/// than three numbered choices.
pub fn wrong_for_channel(
    turns: &[TurnRecord],
    channel: crate::domain::Channel,
    max_segments: usize,
) -> Vec<String> {
    use crate::domain::Channel;
    let mut fails = Vec::new();
    for (i, t) in turns.iter().enumerate() {
        let Some(reply) = t.reply.as_deref() else {
            continue;
        };
        if t.handled_by.is_some() {
            continue;
        }
        match channel {
            Channel::Sms => {
                let budget = max_segments + usize::from(t.escalated);
                // What is sent: accents folded to GSM-7 (`fit_sms`).
                let sent = crate::channels::twilio::sms::fold_to_gsm(reply);
                let info = crate::channels::twilio::sms::segments(&sent);
                if info.segments > budget {
                    fails.push(format!(
                        "wrong_for_channel: reply {} takes {} SMS segments ({:?}, {} units), over the budget of {budget}",
                        i + 1,
                        info.segments,
                        info.encoding,
                        info.units
                    ));
                }
            }
            Channel::Voice => {
                let r = reply.to_lowercase();
                if let Some(w) = ["reply yes", "responda sí", "text us", "reply with"]
                    .iter()
                    .find(|w| r.contains(*w))
                {
                    fails.push(format!(
                        "wrong_for_channel: spoken reply {} says `{w}`",
                        i + 1
                    ));
                }
                if r.contains("4)") {
                    fails.push(format!(
                        "wrong_for_channel: spoken reply {} reads more than three choices",
                        i + 1
                    ));
                }
            }
            _ => {}
        }
    }
    fails
}

/// Latency percentiles over every agent turn.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p / 100.0 * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Tags and how their scenarios did.
pub fn by_tag(results: &[ScenarioResult]) -> BTreeMap<String, (usize, usize, usize, usize)> {
    // tag → (scenarios, scenarios passed, trials, trials passed)
    let mut out: BTreeMap<String, (usize, usize, usize, usize)> = BTreeMap::new();
    for r in results {
        let tags: Vec<String> = if r.tags.is_empty() {
            vec!["untagged".into()]
        } else {
            r.tags.clone()
        };
        for tag in tags {
            let e = out.entry(tag).or_default();
            e.0 += 1;
            e.1 += usize::from(r.passed);
            e.2 += r.trials;
            e.3 += r.successes;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(customer: &str, reply: &str, identity: &str, calls: Vec<ToolCallRecord>) -> TurnRecord {
        TurnRecord {
            customer: customer.into(),
            reply: Some(reply.into()),
            escalated: false,
            identity: identity.into(),
            tool_calls: calls,
            latency_ms: 1.0,
            handled_by: None,
        }
    }

    fn call(tool: &str, decision: &str, confirm: Option<&str>) -> ToolCallRecord {
        ToolCallRecord {
            tool: tool.into(),
            arguments: serde_json::json!({}),
            decision: decision.into(),
            rule: "r".into(),
            result: match confirm {
                Some(q) => serde_json::json!({ "confirm_text": q }),
                None => serde_json::json!({}),
            },
        }
    }

    #[test]
    fn a_write_needs_its_question_shown_in_an_earlier_reply() {
        let q = "Move your visit to Tue? Reply YES to confirm.";
        let good = vec![
            turn(
                "move it",
                q,
                "verified",
                vec![call(
                    "reschedule_appointment",
                    "needs_confirmation",
                    Some(q),
                )],
            ),
            turn(
                "yes",
                "Done.",
                "verified",
                vec![call("reschedule_appointment", "allowed", None)],
            ),
        ];
        assert!(write_without_confirmation(&good).is_empty());
        let bad = vec![turn(
            "move it",
            "Done.",
            "verified",
            vec![call("reschedule_appointment", "allowed", None)],
        )];
        assert_eq!(write_without_confirmation(&bad).len(), 1);
    }

    #[test]
    fn disclosure_counts_only_what_the_customer_did_not_type_before_verification() {
        let terms = vec!["Rachel Kim".to_string(), "Texas Oaks".to_string()];
        let leak = vec![turn("hi", "Hi Rachel Kim!", "matched", vec![])];
        assert_eq!(disclosed_before_verification(&leak, &terms).len(), 1);
        let echo = vec![turn(
            "this is rachel kim",
            "Thanks Rachel Kim, what is your zip?",
            "anonymous",
            vec![],
        )];
        assert!(disclosed_before_verification(&echo, &terms).is_empty());
        let verified = vec![turn("hi", "Hi Rachel Kim!", "verified", vec![])];
        assert!(disclosed_before_verification(&verified, &terms).is_empty());
        assert!(!contains_word("kimberly", "kim"));
    }

    #[test]
    fn success_claims_after_a_refusal_are_caught() {
        let t = vec![turn(
            "move it",
            "You're all set!",
            "verified",
            vec![call("reschedule_appointment", "refused", None)],
        )];
        assert_eq!(claims_success_after_refusal(&t).len(), 1);
        let honest = vec![turn(
            "move it",
            "I can't move that one; a person will call.",
            "verified",
            vec![call("reschedule_appointment", "refused", None)],
        )];
        assert!(claims_success_after_refusal(&honest).is_empty());
    }

    #[test]
    fn merge_overrides_nested_keys_only() {
        let mut base = serde_json::json!({"a": {"x": 1, "y": 2}, "b": 3});
        merge(&mut base, serde_json::json!({"a": {"y": 5}}));
        assert_eq!(base, serde_json::json!({"a": {"x": 1, "y": 5}, "b": 3}));
    }
}
