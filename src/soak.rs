//! `frontdesk soak`: the running system under the faults a production deployment meets,
//! and a count of every promise it broke. It builds a scratch database (PostgreSQL or a
//! SQLite file) with the demo world plus load customers, starts real `frontdesk serve`
//! processes on it with a loopback Twilio REST fake and a loopback OpenAI-compatible fake
//! that hangs, fails and answers garbage on a schedule, and drives conversations through the
//! signed SMS webhook: some messages delivered twice (some at once to two instances), a
//! random instance killed with SIGKILL every few seconds and started again. Then it waits
//! (bounded) for the system to settle and counts, from the database, the fakes and what the
//! senders saw: messages lost, run twice or stuck; turns without a reply or a deliberate
//! silence; appointments moved or booked more often than customers confirmed; slots whose
//! `booked` differs from their appointments; messages sent twice; escalations never
//! acknowledged. Every count must be 0 (`SoakReport::failures`).
//!
//! Loopback only, bounded in count and in time. Compiled with the `test-support` feature
//! (it carries the fakes); the short form runs in the test suite (`tests/it/soak.rs`).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::agent::openai::fake::{FakeChatServer, FakeResponse};
use crate::channels::twilio::fake::FakeTwilio;
use crate::channels::twilio::signature::{sign, HEADER};
use crate::channels::twilio::sms::{fit_sms, inbound_form};
use crate::clock::Clock;
use crate::domain::{
    AppointmentStatus, CustomerId, CustomerStatus, PhoneE164, PropertyKind, TenantId,
};
use crate::instance::{free_port, Instance};
use crate::search::bench::percentile;
use crate::store::{
    create_postgres_database, drop_postgres_database, Integrity, NewAppointment, NewCustomer,
    NewProperty, Store,
};

/// "Now" for every instance: a weekday evening (after hours: escalations wait for the
/// morning, emergencies page the on-call technician).
const CLOCK: &str = "2026-11-23T20:15:00-06:00";
const PUBLIC_URL: &str = "https://frontdesk.soak";
const ACCOUNT_SID: &str = "AC00000000000000000000000000000000";
const AUTH_TOKEN: &str = "soak-auth-token-0123456789abcdef";
/// The demo tenant's main number.
const TENANT_NUMBER: &str = "+15125550000";
/// How long one message may take to be accepted, retries included, before the sender
/// gives up on it (counted as never acknowledged).
const DELIVERY_LIMIT: Duration = Duration::from_secs(90);
/// How long the system may take to settle after the last message.
const SETTLE_LIMIT: Duration = Duration::from_secs(120);

/// What to run.
#[derive(Debug, Clone)]
pub struct SoakOptions {
    /// The `frontdesk` executable started as the instances.
    pub binary: PathBuf,
    /// A PostgreSQL URL of a database the user may `CREATE DATABASE` from; a scratch
    /// database is made beside it and dropped at the end. `None`: a SQLite file.
    pub postgres: Option<String>,
    /// Instances on the one database (SQLite: 1).
    pub instances: usize,
    pub conversations: usize,
    /// Customers texting at the same time.
    pub senders: usize,
    /// Share of messages delivered twice, in percent.
    pub duplicate_percent: u32,
    /// Kill a random instance this often (`None`: never).
    pub kill_every: Option<Duration>,
    pub max_kills: usize,
    /// Stop sending new conversations after this long.
    pub time_limit: Duration,
    pub model: ModelBehaviour,
    pub seed: u64,
    /// Keep the instances' logs (and a SQLite database) even when nothing failed.
    pub keep_logs: bool,
}

impl SoakOptions {
    /// The full run's defaults on `postgres` (or SQLite).
    pub fn new(binary: PathBuf, postgres: Option<String>) -> Self {
        let instances = if postgres.is_some() { 2 } else { 1 };
        SoakOptions {
            binary,
            postgres,
            instances,
            conversations: 10_000,
            senders: 32,
            duplicate_percent: 10,
            kill_every: Some(Duration::from_secs(4)),
            max_kills: 1_000,
            time_limit: Duration::from_secs(3_600),
            model: ModelBehaviour::Flaky,
            seed: 7,
            keep_logs: false,
        }
    }
}

/// What a run did and every promise it broke.
#[derive(Debug, Clone, Default)]
pub struct SoakReport {
    pub engine: &'static str,
    pub model: Option<ModelBehaviour>,
    pub instances: usize,
    pub conversations: usize,
    /// Distinct inbound messages.
    pub messages: usize,
    /// Extra deliveries of a message already sent (10 % by default).
    pub redeliveries: usize,
    /// Of those, sent at the same moment to two instances.
    pub concurrent_redeliveries: usize,
    /// Webhook posts that failed (connection refused or cut, 5xx) and were retried.
    pub retried_posts: usize,
    pub kills: usize,
    pub model_requests: usize,
    pub elapsed: Duration,
    /// Time to answer (first post → the reply in the webhook answer or at the Twilio fake).
    pub answer_p50: Duration,
    pub answer_p99: Duration,
    pub answer_max: Duration,
    pub answered: usize,
    pub replies_by_outbox: usize,
    pub store: Integrity,
    /// A sender gave up on a message (no instance accepted it within the limit).
    pub never_acknowledged: usize,
    /// Acknowledged with 200 but not in the inbox.
    pub lost: usize,
    /// A webhook answer refused a well-formed message (4xx).
    pub refused: usize,
    /// A reply recorded as delivered in a webhook answer that never reached the sender.
    pub replies_lost: usize,
    /// For each lost reply: its message, how it was recorded as delivered, and its start.
    pub lost_replies: Vec<String>,
    /// A reply that reached the sender more than once (two answers, or an answer and the
    /// outbox).
    pub replies_doubled: usize,
    /// Texts at the Twilio fake beyond the outbox rows that sent them.
    pub outbound_doubled: usize,
    /// Customers whose bookings and moves outnumber the confirmations they sent.
    pub writes_beyond_confirmations: usize,
    /// Where the instances' logs were kept (a run with failures).
    pub logs: Option<PathBuf>,
}

impl SoakReport {
    /// The number of broken promises: 0 on a pass.
    pub fn failures(&self) -> u64 {
        let s = &self.store;
        let store = s.inbox_pending
            + s.inbox_without_one_message
            + s.replies_undelivered
            + s.replies_unconfirmed
            + s.unanswered
            + s.slot_mismatches
            + s.escalations_unacknowledged
            + s.outbox_unsent
            + s.outbox_failed;
        let seen = self.never_acknowledged
            + self.lost
            + self.refused
            + self.replies_lost
            + self.replies_doubled
            + self.outbound_doubled
            + self.writes_beyond_confirmations;
        store.max(0) as u64 + seen as u64
    }

    pub fn render(&self) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let s = &self.store;
        format!(
            "soak on {engine}: {instances} instance(s), {conversations} conversations, {messages} messages \
             (+{redeliveries} redelivered, {concurrent} of them to two instances at once), {kills} kills (SIGKILL), \
             {retried} posts retried, {model} model requests ({behaviour:?}), {secs:.1} s\n\
             time to answer: p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms over {answered} replies ({outbox} by the outbox)\n\
             inbound lost: {lost}\n\
             inbound never acknowledged: {nack}\n\
             inbound refused: {refused}\n\
             inbound run twice or not stored once: {twice}\n\
             inbound stuck unprocessed: {stuck}\n\
             turns without a reply or a deliberate silence: {unanswered}\n\
             replies finished but never delivered: {undelivered}\n\
             replies answered inline but never confirmed sent: {unconfirmed}\n\
             replies recorded as delivered but lost: {rlost}\n\
             replies delivered twice: {rdoubled}\n\
             appointments moved or booked beyond confirmations: {moves}\n\
             slots whose booked differs from their appointments: {slots}\n\
             outbound messages sent twice: {odoubled}\n\
             outbound messages unsent / failed: {unsent} / {failed}\n\
             escalations without an acknowledgement: {unack}\n\
             failures: {failures}{logs}{details}",
            engine = self.engine,
            instances = self.instances,
            conversations = self.conversations,
            messages = self.messages,
            redeliveries = self.redeliveries,
            concurrent = self.concurrent_redeliveries,
            kills = self.kills,
            retried = self.retried_posts,
            model = self.model_requests,
            behaviour = self.model,
            secs = self.elapsed.as_secs_f64(),
            p50 = ms(self.answer_p50),
            p99 = ms(self.answer_p99),
            max = ms(self.answer_max),
            answered = self.answered,
            outbox = self.replies_by_outbox,
            lost = self.lost,
            nack = self.never_acknowledged,
            refused = self.refused,
            twice = s.inbox_without_one_message,
            stuck = s.inbox_pending,
            unanswered = s.unanswered,
            undelivered = s.replies_undelivered,
            unconfirmed = s.replies_unconfirmed,
            rlost = self.replies_lost,
            rdoubled = self.replies_doubled,
            moves = self.writes_beyond_confirmations,
            slots = s.slot_mismatches,
            odoubled = self.outbound_doubled,
            unsent = s.outbox_unsent,
            failed = s.outbox_failed,
            unack = s.escalations_unacknowledged,
            failures = self.failures(),
            logs = self
                .logs
                .as_ref()
                .map(|d| format!(" (instance logs kept in {})", d.display()))
                .unwrap_or_default(),
            details = self
                .lost_replies
                .iter()
                .map(|l| format!("\n  lost: {l}"))
                .collect::<String>(),
        )
    }
}

/// A small deterministic generator (xorshift), so a run can be repeated from its seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn percent(&mut self, p: u32) -> bool {
        self.next() % 100 < u64::from(p)
    }
}

/// The messages a conversation sends, in order. Agreement messages count as confirmations.
fn script(rng: &mut Rng, escalating_phone: bool) -> Vec<String> {
    const DAYS: [&str; 5] = ["monday", "tuesday", "wednesday", "thursday", "friday"];
    const PARTS: [&str; 2] = ["morning", "afternoon"];
    let day = DAYS[rng.below(DAYS.len())];
    let part = PARTS[rng.below(PARTS.len())];
    if escalating_phone {
        return match rng.below(3) {
            0 => vec!["can I talk to a real person please".into(), "hello?".into()],
            1 => vec!["there's a swarm of bees in my kid's bedroom right now".into()],
            _ => vec!["I want to cancel my service, who do I talk to".into()],
        };
    }
    match rng.below(10) {
        // Moves and bookings race for the same early windows.
        0..=2 => vec![
            format!("can I move my appointment to {day} {part}"),
            "yes".into(),
        ],
        3..=4 => vec![
            "i'd like to book a mosquito treatment".into(),
            "the first one works".into(),
            "yes".into(),
        ],
        5 => vec!["how much for ant treatment?".into()],
        6 => vec!["when is my next appointment?".into()],
        7 => vec!["thanks!".into()],
        8 => vec!["🐜🐜 ants in the kitchen again 🐜".into(), "ok".into()],
        _ => vec![format!("can u come {day} instead"), "no".into()],
    }
}

/// Whether a text at Twilio is this reply as the outbox sends it (folded to GSM-7 and fitted
/// to the segments a reply may take).
fn carries(reply: &str, text: &str) -> bool {
    !reply.trim().is_empty() && (1..=4).any(|max| fit_sms(reply, max) == text)
}

/// One line about a reply that never reached its sender, for the report.
fn lost(sid: &str, delivery: &str, reply: Option<&str>, s: &Seen) -> String {
    let start: String = reply.unwrap_or_default().chars().take(60).collect();
    format!(
        "{sid} from {} ({delivery}; {} answers with a message, {} failed posts): {start:?}",
        s.from, s.messages, s.failed_posts
    )
}

fn is_confirmation(text: &str) -> bool {
    matches!(text, "yes" | "ok" | "the first one works")
}

/// How the model endpoint behaves during a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelBehaviour {
    /// One request in twenty answers normally; the others hang past the client's timeout,
    /// fail, or answer garbage, malformed tool calls, tool-call syntax as text, or a write the
    /// customer never confirmed.
    Flaky,
    /// Every request hangs (an outage that accepts connections).
    Hang,
    /// Every request answers 500.
    Fail,
    /// Every request answers 200 with a body that is not a completion, or a malformed tool
    /// call, in turn.
    Malformed,
    /// No model endpoint: the built-in model answers every turn, whose steps then share one
    /// transaction unless a tool wrote (`agent::runtime::TurnTx`).
    Builtin,
}

fn model_answer(behaviour: ModelBehaviour, n: usize) -> FakeResponse {
    match behaviour {
        ModelBehaviour::Flaky => flaky_model(n),
        ModelBehaviour::Hang => {
            FakeResponse::reply("Thanks, noted.").with_delay(Duration::from_secs(60))
        }
        ModelBehaviour::Fail => FakeResponse::error(500, "the model is down"),
        ModelBehaviour::Malformed => match n % 3 {
            0 => flaky_model(5),
            1 => flaky_model(7),
            _ => flaky_model(8),
        },
        // Never asked (the instances run the built-in model).
        ModelBehaviour::Builtin => FakeResponse::error(500, "not the model of this run"),
    }
}

/// The flaky schedule (see [`ModelBehaviour::Flaky`]).
fn flaky_model(n: usize) -> FakeResponse {
    match n % 20 {
        0 => FakeResponse::reply("Thanks, noted.").with_delay(Duration::from_secs(30)),
        1..=4 => FakeResponse::error(500, "the model is overloaded"),
        5 | 6 => FakeResponse::raw(200, "{\"choices\": [{\"message\": "),
        7 => FakeResponse::completion(
            json!({"content": "", "tool_calls": [{"id": "call_bad", "type": "function",
                "function": {"name": "reschedule_appointment", "arguments": "{oops"}}]}),
            "tool_calls",
        ),
        8 => FakeResponse::reply("functions.escalate:"),
        9 => FakeResponse::tool_calls(&[(
            "call_write",
            "reschedule_appointment",
            json!({"appointment_id": 1, "slot_id": 1}),
        )]),
        10 => FakeResponse::error(400, "messages: invalid"),
        11 => FakeResponse::reply("Thanks for your message. How can I help?"),
        _ => FakeResponse::error(503, "unavailable"),
    }
}

struct Fakes {
    twilio: FakeTwilio,
    model: FakeChatServer,
}

async fn start_instance(
    opts: &SoakOptions,
    db_url: &str,
    fakes: &Fakes,
    log: &std::path::Path,
) -> anyhow::Result<Instance> {
    let mut env = vec![
        ("FRONTDESK_DATABASE_URL", db_url.to_string()),
        ("FRONTDESK_PUBLIC_URL", PUBLIC_URL.to_string()),
        ("FRONTDESK_CLOCK", CLOCK.to_string()),
        ("FRONTDESK_TWILIO_ACCOUNT_SID", ACCOUNT_SID.to_string()),
        ("FRONTDESK_TWILIO_AUTH_TOKEN", AUTH_TOKEN.to_string()),
        ("FRONTDESK_TWILIO_API_BASE", fakes.twilio.api_base()),
        ("FRONTDESK_WHISPER_MODEL", "off".to_string()),
        ("FRONTDESK_RATE_LIMITS", "off".to_string()),
        ("FRONTDESK_LEASE_SECS", "5".to_string()),
        ("RUST_LOG", "warn".to_string()),
    ];
    match opts.model {
        ModelBehaviour::Builtin => env.push(("FRONTDESK_MODEL", "builtin".to_string())),
        behaviour => {
            env.extend([
                ("FRONTDESK_MODEL", "openai".to_string()),
                ("FRONTDESK_OPENAI_BASE_URL", fakes.model.base_url()),
                ("FRONTDESK_OPENAI_MODEL", "soak".to_string()),
            ]);
            if behaviour == ModelBehaviour::Flaky {
                // Hangs in the schedule cost 2 s, not the turn's whole budget; an outage
                // run keeps the defaults, to show the budget holds.
                env.push(("FRONTDESK_OPENAI_TIMEOUT_SECS", "2".to_string()));
            }
        }
    }
    Instance::start(&opts.binary, free_port()?, &["--no-seed"], &env, log).await
}

/// A load customer: one phone, one property, maybe an upcoming visit.
struct LoadCustomer {
    id: CustomerId,
    phone: String,
    escalating: bool,
}

/// The demo world, then `n` load customers with a property each; half of them get a visit
/// in the coming weeks (while stops last).
async fn arrange(
    store: &Store,
    n: usize,
    now: DateTime<Utc>,
) -> anyhow::Result<(TenantId, Vec<LoadCustomer>)> {
    let demo = crate::seed::seed_demo(store, now).await?.demo;
    let zones = store.zones(demo).await?;
    anyhow::ensure!(!zones.is_empty(), "the demo world has no zones");
    let phones: Vec<String> = (0..n).map(|i| format!("+1737556{i:04}")).collect();
    let customers: Vec<NewCustomer> = phones
        .iter()
        .enumerate()
        .map(|(i, phone)| {
            Ok(NewCustomer {
                first_name: format!("Soak{i}"),
                last_name: "Loadtest".into(),
                company: None,
                status: CustomerStatus::Active,
                autopay: false,
                phones: vec![PhoneE164::parse(phone)?],
                emails: vec![],
                properties: vec![NewProperty {
                    street: format!("{} Soak Test Ln", 100 + i),
                    city: "Austin".into(),
                    state: "TX".into(),
                    zip: "78701".into(),
                    zone_id: zones[i % zones.len()].id,
                    sq_ft: Some(2_000),
                    kind: PropertyKind::Residential,
                }],
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let ids = store
        .insert_customers(demo, &customers, now.timestamp())
        .await?;
    let service = store
        .services(demo)
        .await?
        .into_iter()
        .next()
        .context("the demo world has no services")?;
    let mut open: HashMap<i64, Vec<crate::store::Slot>> = HashMap::new();
    for zone in &zones {
        let slots = store
            .open_slots(
                demo,
                zone.id,
                now + chrono::Duration::days(3),
                now + chrono::Duration::days(20),
                500,
            )
            .await?;
        open.insert(zone.id.0, slots);
    }
    let mut out = Vec::with_capacity(n);
    for (i, (id, phone)) in ids.into_iter().zip(phones).enumerate() {
        if i % 2 == 0 {
            let property = store.properties(demo, id).await?;
            if let (Some(property), Some(slots)) =
                (property.first(), open.get_mut(&property[0].zone_id.0))
            {
                while let Some(slot) = slots.first().cloned() {
                    let booked = store
                        .book_appointment(
                            demo,
                            &NewAppointment {
                                customer_id: id,
                                property_id: property.id,
                                service_id: service.id,
                                slot_id: slot.id,
                                status: AppointmentStatus::Scheduled,
                                price_cents: crate::domain::Cents(9_900),
                            },
                            now,
                        )
                        .await;
                    if booked.is_ok() {
                        break;
                    }
                    slots.remove(0);
                }
            }
        }
        out.push(LoadCustomer {
            id,
            phone,
            escalating: i % 10 == 9,
        });
    }
    Ok((demo, out))
}

/// Per customer: visits not cancelled and moves so far.
async fn writes(
    store: &Store,
    tenant: TenantId,
    customers: &[LoadCustomer],
) -> anyhow::Result<Vec<i64>> {
    let mut out = Vec::with_capacity(customers.len());
    for c in customers {
        let visits = store.appointments(tenant, c.id).await?;
        let live = visits
            .iter()
            .filter(|a| a.status != AppointmentStatus::Cancelled)
            .count() as i64;
        let moves: i64 = visits.iter().map(|a| a.reschedule_count).sum();
        out.push(live + moves);
    }
    Ok(out)
}

/// What the senders saw of one message.
#[derive(Debug, Default, Clone)]
struct Seen {
    from: String,
    first_post: Option<Instant>,
    first_post_wall: Option<std::time::SystemTime>,
    acknowledged: bool,
    refused: bool,
    /// Answers that carried a `<Message>`.
    messages: usize,
    /// Posts that failed (connection refused or cut, 5xx) and were retried.
    failed_posts: usize,
    answered_after: Option<Duration>,
}

struct Drive {
    instances: Vec<Mutex<Option<String>>>,
    fakes: Arc<Fakes>,
    http: reqwest::Client,
    seen: Mutex<HashMap<String, Seen>>,
    retried: AtomicUsize,
    redeliveries: AtomicUsize,
    concurrent: AtomicUsize,
    confirmations: Mutex<HashMap<String, i64>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Drive {
    fn alive(&self) -> Vec<String> {
        self.instances
            .iter()
            .filter_map(|i| lock(i).clone())
            .collect()
    }

    /// One post of a message to `base`: `Ok(the reply, if the answer carried one)` when
    /// accepted; `Err(true)` when refused (4xx), `Err(false)` when it failed (retry).
    async fn post_once(
        &self,
        base: &str,
        from: &str,
        sid: &str,
        text: &str,
    ) -> Result<Option<String>, bool> {
        let params = inbound_form(sid, from, TENANT_NUMBER, text);
        let signature = sign(AUTH_TOKEN, &format!("{PUBLIC_URL}/twilio/sms"), &params);
        let res = self
            .http
            .post(format!("{base}/twilio/sms"))
            .header(HEADER, signature)
            .form(&params)
            .send()
            .await;
        match res {
            Ok(r) if r.status().is_success() => match r.text().await {
                Ok(body) => Ok(twiml_message(&body)),
                // The answer was cut (the instance died while sending it): not received.
                Err(_) => Err(false),
            },
            Ok(r) if r.status().is_server_error() => Err(false),
            Ok(_) => Err(true),
            Err(_) => Err(false),
        }
    }

    /// Deliver until an instance accepts (bounded), retrying elsewhere like Twilio's
    /// fallback URL; returns whether an answer carried the reply.
    async fn deliver(&self, rng_pick: usize, from: &str, sid: &str, text: &str) {
        {
            let mut seen = lock(&self.seen);
            let s = seen.entry(sid.to_string()).or_default();
            s.from = from.to_string();
            s.first_post.get_or_insert_with(Instant::now);
            s.first_post_wall
                .get_or_insert_with(std::time::SystemTime::now);
        }
        let deadline = Instant::now() + DELIVERY_LIMIT;
        let mut attempt = 0usize;
        while Instant::now() < deadline {
            let alive = self.alive();
            if alive.is_empty() {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            let base = &alive[(rng_pick + attempt) % alive.len()];
            match self.post_once(base, from, sid, text).await {
                Ok(reply) => {
                    if let Some(body) = &reply {
                        // Twilio sends a TwiML reply as a message of the account.
                        self.fakes
                            .twilio
                            .record_twiml_reply(TENANT_NUMBER, from, body);
                    }
                    let mut seen = lock(&self.seen);
                    let s = seen.entry(sid.to_string()).or_default();
                    s.acknowledged = true;
                    if reply.is_some() {
                        s.messages += 1;
                        if s.answered_after.is_none() {
                            s.answered_after = s.first_post.map(|t| t.elapsed());
                        }
                    }
                    return;
                }
                Err(true) => {
                    lock(&self.seen).entry(sid.to_string()).or_default().refused = true;
                    return;
                }
                Err(false) => {
                    self.retried.fetch_add(1, Ordering::Relaxed);
                    lock(&self.seen)
                        .entry(sid.to_string())
                        .or_default()
                        .failed_posts += 1;
                    attempt += 1;
                    let backoff = Duration::from_millis((50 * attempt as u64).min(1_000));
                    tokio::time::sleep(backoff).await;
                }
            }
        }
    }
}

/// The text of a TwiML answer's `<Message>`, unescaped.
fn twiml_message(xml: &str) -> Option<String> {
    let start = xml.find("<Message")?;
    let open_end = start + xml[start..].find('>')? + 1;
    if xml[start..open_end].ends_with("/>") {
        return None;
    }
    let close = open_end + xml[open_end..].find("</Message>")?;
    Some(
        xml[open_end..close]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

/// Run the soak and report (the caller decides what a non-zero count means).
pub async fn run(opts: SoakOptions) -> anyhow::Result<SoakReport> {
    anyhow::ensure!(opts.instances >= 1, "at least one instance");
    anyhow::ensure!(opts.senders >= 1, "at least one sender");
    anyhow::ensure!(
        opts.postgres.is_some() || opts.instances == 1,
        "SQLite runs one instance"
    );
    let started = Instant::now();
    // Runs in one process (tests) each get their own files and database.
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let run = RUNS.fetch_add(1, Ordering::Relaxed);
    let name = format!("{}_{run}_{}", std::process::id(), opts.seed);
    let dir = std::env::temp_dir().join(format!("frontdesk-soak-{name}"));
    std::fs::create_dir_all(&dir)?;
    let scratch = format!("frontdesk_soak_{name}");
    let (engine, db_url) = match &opts.postgres {
        Some(admin) => (
            "postgresql",
            create_postgres_database(admin, &scratch).await?,
        ),
        None => ("sqlite", crate::config::default_database_url(&dir)),
    };
    let outcome = run_on(&opts, engine, &db_url, &dir).await;
    if let Some(admin) = &opts.postgres {
        if let Err(e) = drop_postgres_database(admin, &scratch).await {
            tracing::warn!(error = %e, "could not drop the scratch database");
        }
    }
    let mut report = outcome?;
    if report.failures() == 0 && !opts.keep_logs {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        report.logs = Some(dir);
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

async fn run_on(
    opts: &SoakOptions,
    engine: &'static str,
    db_url: &str,
    dir: &std::path::Path,
) -> anyhow::Result<SoakReport> {
    let now = Clock::parse(CLOCK)?.now();
    let store = Store::connect(db_url, 4).await?;
    let phones = (opts.senders * 8).max(opts.conversations / 4).min(9_999);
    let (tenant, customers) = arrange(&store, phones, now).await?;
    let before = writes(&store, tenant, &customers).await?;

    let twilio = FakeTwilio::start_for(ACCOUNT_SID, AUTH_TOKEN).await?;
    let model = FakeChatServer::start().await?;
    model.forget_bodies();
    let schedule = Arc::new(AtomicUsize::new(0));
    {
        let schedule = schedule.clone();
        let behaviour = opts.model;
        model.respond_with(move |_| {
            model_answer(behaviour, schedule.fetch_add(1, Ordering::Relaxed))
        });
    }
    let fakes = Arc::new(Fakes { twilio, model });

    let mut running = Vec::with_capacity(opts.instances);
    for i in 0..opts.instances {
        running.push(
            start_instance(opts, db_url, &fakes, &dir.join(format!("instance-{i}.log"))).await?,
        );
    }
    let drive = Arc::new(Drive {
        instances: running
            .iter()
            .map(|i| Mutex::new(Some(i.base.clone())))
            .collect(),
        fakes: fakes.clone(),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?,
        seen: Mutex::new(HashMap::new()),
        retried: AtomicUsize::new(0),
        redeliveries: AtomicUsize::new(0),
        concurrent: AtomicUsize::new(0),
        confirmations: Mutex::new(HashMap::new()),
    });

    // Senders: each owns a disjoint set of phones and runs its conversations one at a time.
    let customers = Arc::new(customers);
    let next = Arc::new(AtomicUsize::new(0));
    let stop_at = Instant::now() + opts.time_limit;
    let mut senders = Vec::with_capacity(opts.senders);
    for s in 0..opts.senders {
        let (drive, customers, next) = (drive.clone(), customers.clone(), next.clone());
        let opts = opts.clone();
        senders.push(tokio::spawn(async move {
            let mut rng = Rng::new(opts.seed ^ (s as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407));
            let mine: Vec<usize> = (s..customers.len()).step_by(opts.senders).collect();
            let mut m = 0usize;
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= opts.conversations || Instant::now() >= stop_at || mine.is_empty() {
                    break;
                }
                let who = &customers[mine[rng.below(mine.len())]];
                for text in script(&mut rng, who.escalating) {
                    m += 1;
                    let sid = format!(
                        "SM{:08x}{:08x}{:016x}",
                        opts.seed as u32, s as u32, m as u64
                    );
                    if is_confirmation(&text) {
                        *lock(&drive.confirmations)
                            .entry(who.phone.clone())
                            .or_default() += 1;
                    }
                    let pick = rng.below(64);
                    if rng.percent(opts.duplicate_percent) {
                        drive.redeliveries.fetch_add(1, Ordering::Relaxed);
                        if drive.instances.len() > 1 && rng.percent(50) {
                            // At the same moment to two instances.
                            drive.concurrent.fetch_add(1, Ordering::Relaxed);
                            tokio::join!(
                                drive.deliver(pick, &who.phone, &sid, &text),
                                drive.deliver(pick + 1, &who.phone, &sid, &text)
                            );
                        } else {
                            drive.deliver(pick, &who.phone, &sid, &text).await;
                            drive.deliver(pick + 1, &who.phone, &sid, &text).await;
                        }
                    } else {
                        drive.deliver(pick, &who.phone, &sid, &text).await;
                    }
                }
            }
        }));
    }

    // The killer: SIGKILL a random instance every few seconds, then start it again.
    let mut kills = 0usize;
    let mut rng = Rng::new(opts.seed ^ 0x5eed);
    let all_sent = async {
        for s in senders {
            let _ = s.await;
        }
    };
    tokio::pin!(all_sent);
    loop {
        let tick = async {
            match opts.kill_every {
                Some(every) if kills < opts.max_kills => tokio::time::sleep(every).await,
                _ => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = &mut all_sent => break,
            _ = tick => {
                let i = rng.below(running.len());
                *lock(&drive.instances[i]) = None;
                let _ = running[i].kill();
                kills += 1;
                running[i] = start_instance(opts, db_url, &fakes, &dir.join(format!("instance-{i}.log"))).await?;
                *lock(&drive.instances[i]) = Some(running[i].base.clone());
            }
        }
    }

    // Settle: every run finished, every reply delivered, the outbox drained (bounded).
    let deadline = Instant::now() + SETTLE_LIMIT;
    while !store.settled(tenant).await? && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let integrity = store.integrity(tenant).await?;
    let after = writes(&store, tenant, &customers).await?;
    let inbox = store.inbox_deliveries(tenant).await?;
    let outbox_sent = store.outbox_sent(tenant).await?;
    drop(running);

    let seen = std::mem::take(&mut *lock(&drive.seen));
    let confirmations = std::mem::take(&mut *lock(&drive.confirmations));
    let texts = fakes.twilio.messages();
    let mut report = SoakReport {
        engine,
        instances: opts.instances,
        conversations: next.load(Ordering::Relaxed).min(opts.conversations),
        messages: seen.len(),
        redeliveries: drive.redeliveries.load(Ordering::Relaxed),
        concurrent_redeliveries: drive.concurrent.load(Ordering::Relaxed),
        retried_posts: drive.retried.load(Ordering::Relaxed),
        kills,
        model: Some(opts.model),
        model_requests: fakes.model.hits(),
        store: integrity,
        ..SoakReport::default()
    };

    // What the senders saw against the inbox.
    let in_inbox: HashMap<&str, (Option<&str>, Option<&str>)> = inbox
        .iter()
        .map(|(sid, delivery, reply)| (sid.as_str(), (delivery.as_deref(), reply.as_deref())))
        .collect();
    let mut latencies = Vec::new();
    let mut used_texts: HashSet<usize> = HashSet::new();
    for (sid, s) in &seen {
        if s.refused {
            report.refused += 1;
        }
        if !s.acknowledged {
            report.never_acknowledged += 1;
            continue;
        }
        let Some(&(delivery, reply)) = in_inbox.get(sid.as_str()) else {
            report.lost += 1;
            continue;
        };
        if s.messages > 1 {
            report.replies_doubled += 1;
        }
        match delivery {
            // A deliberate silence is claimed inline too, with nothing to say.
            Some("inline") if s.messages == 0 && reply.is_some_and(|r| !r.trim().is_empty()) => {
                report.replies_lost += 1;
                report.lost_replies.push(lost(sid, "inline", reply, s));
            }
            Some("outbox") => {
                // Handed to the outbox (the answer had stopped waiting, or its process died
                // before confirming it): the REST text it sent, if any.
                let reply = reply.unwrap_or_default();
                let at = texts.iter().enumerate().find(|(i, t)| {
                    !used_texts.contains(i)
                        && t.to() == Some(s.from.as_str())
                        && t.body().is_some_and(|b| carries(reply, b))
                });
                match (at, s.messages) {
                    // Sent by REST although an answer already carried it.
                    (Some(_), n) if n > 0 => report.replies_doubled += 1,
                    (Some((i, t)), _) => {
                        used_texts.insert(i);
                        report.replies_by_outbox += 1;
                        if let Some(sent) = s.first_post_wall {
                            latencies.push(t.received_at.duration_since(sent).unwrap_or_default());
                        }
                    }
                    // The answer carried it; the outbox found it in the message list.
                    (None, n) if n > 0 => {}
                    // Neither: never reached the customer.
                    (None, _) if !reply.trim().is_empty() => {
                        report.replies_lost += 1;
                        let to_them = texts
                            .iter()
                            .filter(|t| t.to() == Some(s.from.as_str()))
                            .count();
                        report.lost_replies.push(format!(
                            "{}; {to_them} texts to the number",
                            lost(sid, "outbox", Some(reply), s)
                        ));
                    }
                    (None, _) => {}
                }
            }
            _ => {}
        }
        if let Some(d) = s.answered_after {
            latencies.push(d);
        }
    }
    latencies.sort_unstable();
    report.answered = latencies.len();
    report.answer_p50 = percentile(&latencies, 0.50);
    report.answer_p99 = percentile(&latencies, 0.99);
    report.answer_max = latencies.last().copied().unwrap_or_default();

    // Texts at Twilio beyond the outbox rows that sent them.
    let mut sent_rows: HashMap<(&str, &str), i64> = HashMap::new();
    for (to, body) in &outbox_sent {
        *sent_rows.entry((to.as_str(), body.as_str())).or_default() += 1;
    }
    let mut at_twilio: HashMap<(String, String), i64> = HashMap::new();
    for t in &texts {
        let key = (
            t.to().unwrap_or_default().to_string(),
            t.body().unwrap_or_default().to_string(),
        );
        *at_twilio.entry(key).or_default() += 1;
    }
    for ((to, body), n) in &at_twilio {
        let rows = sent_rows
            .get(&(to.as_str(), body.as_str()))
            .copied()
            .unwrap_or(0);
        report.outbound_doubled += (n - rows).max(0) as usize;
    }

    // Bookings and moves never outnumber the confirmations a customer sent.
    for ((c, b), a) in customers.iter().zip(&before).zip(&after) {
        let confirmed = confirmations.get(&c.phone).copied().unwrap_or(0);
        if a - b > confirmed {
            report.writes_beyond_confirmations += 1;
        }
    }
    store.close().await;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_is_recognised_as_the_outbox_sends_it() {
        // The outbox folds a reply to GSM-7 and fits it to its segments; a text compared with
        // the raw reply was counted as a lost reply although it had been sent.
        let reply = "We’ll call you back today — a technician is on the way.";
        let sent = fit_sms(reply, 2);
        assert_ne!(sent, reply, "the example must change when sent");
        assert!(carries(reply, &sent));
        let long = "Here is what we offer: ".to_string() + &"ant treatment, ".repeat(40);
        assert!(carries(&long, &fit_sms(&long, 3)));
        assert!(!carries(reply, "We'll call you back tomorrow."));
        assert!(!carries("", ""));
    }
}
