//! The built-in deterministic model: a careful CSR written as rules. It reads the latest
//! customer message through `agent::builtin` (intents, dates, pests, yes/no, identity facts),
//! looks at what the tools already answered this turn and at the runtime's facts, and
//! proposes the next tool call or the reply. Offline, free, and the baseline for evals.
//! It never decides policy: the tools refuse what policy refuses, and it explains.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime};
use serde_json::{json, Value};

use super::builtin::{
    self, spanish, AppointmentRef, DayPart, Intent, Lang, Understanding, WhenSpec,
};
use super::model::{
    ChatMessage, Model, ModelFuture, ModelRequest, ModelResponse, ModelStep, ToolCallRequest, Usage,
};

#[derive(Debug, Default, Clone, Copy)]
pub struct BuiltinModel;

impl Model for BuiltinModel {
    fn name(&self) -> String {
        "builtin".into()
    }

    fn in_process(&self) -> bool {
        true
    }

    fn complete<'a>(&'a self, request: &'a ModelRequest) -> ModelFuture<'a> {
        Box::pin(async move {
            Ok(ModelResponse {
                step: decide(request),
                usage: Usage::default(),
            })
        })
    }
}

/// One tool call made earlier in this turn, with its result.
struct Done {
    name: String,
    result: Value,
}

struct View<'a> {
    req: &'a ModelRequest,
    u: Understanding,
    /// Earlier customer messages, newest first, with what they said.
    earlier: Vec<Understanding>,
    done: Vec<Done>,
    lang: Lang,
    verified: bool,
    state: &'a Value,
}

impl Done {
    fn status(&self) -> Option<&str> {
        self.result.get("status").and_then(Value::as_str)
    }

    /// The result's list under `key` (`appointments`, `windows`), empty when there is none.
    fn list(&self, key: &str) -> Vec<Value> {
        self.result
            .get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }
}

impl View<'_> {
    fn called(&self, name: &str) -> Option<&Done> {
        self.done.iter().rev().find(|d| d.name == name)
    }
    /// The customer has several properties and has not said which one this is about.
    fn needs_property(&self) -> bool {
        self.state
            .get("needs_property_choice")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
    fn t(&self, en: &str, es: &str) -> String {
        match self.lang {
            Lang::Es => es.to_string(),
            _ => en.to_string(),
        }
    }
}

fn now_local(req: &ModelRequest) -> NaiveDateTime {
    chrono::DateTime::parse_from_rfc3339(&req.facts.now_local)
        .map(|t| t.naive_local())
        .unwrap_or_else(|_| chrono::Utc::now().naive_utc())
}

fn call(name: &str, arguments: Value) -> ModelStep {
    ModelStep::ToolCalls {
        text: None,
        calls: vec![ToolCallRequest {
            id: format!("call_{name}"),
            name: name.into(),
            arguments,
        }],
    }
}

fn reply(text: impl Into<String>) -> ModelStep {
    ModelStep::Reply { text: text.into() }
}

fn view(req: &ModelRequest) -> View<'_> {
    let ctx = builtin::Context {
        now_local: now_local(req),
    };
    let last_user = req
        .messages
        .iter()
        .rposition(|m| matches!(m, ChatMessage::User { .. }));
    let mut texts = user_texts(&req.messages);
    let text = texts.next().unwrap_or("");
    let earlier_texts: Vec<&str> = texts.take(12).collect();
    let mut done = Vec::new();
    if let Some(i) = last_user {
        let mut pending: Vec<(&str, &str)> = Vec::new();
        for m in &req.messages[i + 1..] {
            match m {
                ChatMessage::Assistant { tool_calls, .. } => {
                    pending.extend(tool_calls.iter().map(|c| (c.id.as_str(), c.name.as_str())));
                }
                ChatMessage::Tool {
                    call_id, content, ..
                } => {
                    if let Some(pos) = pending.iter().position(|(id, _)| id == call_id) {
                        let (_, name) = pending.remove(pos);
                        done.push(Done {
                            name: name.to_string(),
                            result: serde_json::from_str(content).unwrap_or(Value::Null),
                        });
                    }
                }
                ChatMessage::User { .. } => {}
            }
        }
    }
    let u = understand_cached(text, &ctx);
    let earlier: Vec<Understanding> = earlier_texts
        .iter()
        .map(|t| understand_cached(t, &ctx))
        .collect();
    let lang = if u.language == Lang::Es
        || (u.intents.iter().all(|i| *i == Intent::Unknown)
            && earlier.first().is_some_and(|e| e.language == Lang::Es))
    {
        Lang::Es
    } else {
        Lang::En
    };
    View {
        verified: req.facts.identity_level == "verified",
        lang,
        u,
        earlier,
        done,
        req,
        state: &req.facts.state,
    }
}

/// `builtin::understand`, remembered per thread: one turn asks the model several times (once
/// per tool step) and each time reads the same messages again, up to twelve earlier ones.
fn understand_cached(text: &str, ctx: &builtin::Context) -> Understanding {
    use std::cell::RefCell;
    use std::collections::HashMap;
    const KEEP: usize = 256;
    thread_local! {
        static SEEN: RefCell<HashMap<(String, NaiveDateTime), Understanding>> =
            RefCell::new(HashMap::new());
    }
    let key = (text.to_string(), ctx.now_local);
    if let Some(u) = SEEN.with(|m| m.borrow().get(&key).cloned()) {
        return u;
    }
    let u = builtin::understand(text, ctx);
    SEEN.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= KEEP {
            m.clear();
        }
        m.insert(key, u.clone());
    });
    u
}

const ACCOUNT_GOALS: &[Intent] = &[
    Intent::Reschedule,
    Intent::Book,
    Intent::Balance,
    Intent::ListAppointments,
    Intent::AppointmentStatus,
];
const GOALS: &[Intent] = &[
    Intent::Reschedule,
    Intent::Book,
    Intent::Quote,
    Intent::Balance,
    Intent::ListAppointments,
    Intent::AppointmentStatus,
    Intent::Hours,
    Intent::Services,
];

pub fn decide(req: &ModelRequest) -> ModelStep {
    let v = view(req);
    let step = decide_for(&v);
    // A portal customer who just failed to reschedule online hears that we know, once.
    match step {
        ModelStep::Reply { text } if !text.is_empty() => match portal_refusal(&v) {
            Some(note) if v.u.intents.contains(&Intent::Reschedule) => {
                reply(format!("{note} {text}"))
            }
            _ => reply(text),
        },
        other => other,
    }
}

/// "I see the portal couldn't move your visit (…)": from a `reschedule_refused` portal
/// event on the first turn of a portal chat.
fn portal_refusal(v: &View<'_>) -> Option<String> {
    if v.req.facts.channel != "chat" || v.state.get("turn").and_then(Value::as_u64) != Some(1) {
        return None;
    }
    let events = v.state.get("recent_portal_events")?.as_array()?;
    let refused = events
        .iter()
        .find(|e| e.get("kind").and_then(Value::as_str) == Some("reschedule_refused"))?;
    let reason = refused
        .get("detail")
        .and_then(|d| d.get("reason"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim();
    Some(match (v.lang, reason.is_empty()) {
        (Lang::Es, _) => {
            "Veo que el portal no pudo cambiar su visita. Yo le puedo ayudar por aquí.".to_string()
        }
        (_, true) => "I see the portal couldn't move your visit; I can help here.".to_string(),
        (_, false) => format!(
            "I see the portal couldn't move your visit ({}). I can help here.",
            reason.trim_end_matches('.')
        ),
    })
}

fn decide_for(v: &View<'_>) -> ModelStep {
    // Once escalated, the runtime sends the acknowledgement.
    if v.called("escalate").is_some() {
        return reply("");
    }

    // A write already ran (or was put to the customer) this turn: say how it went. A change
    // waiting for the customer's yes does not stop questions asked alongside it from being
    // answered in the same reply (the confirmation question goes last).
    let mut pending_confirm: Option<String> = None;
    for tool in ["reschedule_appointment", "book_service"] {
        if let Some(d) = v.called(tool) {
            let asks_more = v.u.intents.iter().any(|i| INFO_GOALS.contains(i));
            if asks_more && d.status() == Some("needs_confirmation") {
                pending_confirm = Some(field(&d.result, "confirm_text"));
                break;
            }
            return after_write(v, d);
        }
    }

    // 1. What the agent may never do, and emergencies: straight to a person.
    let has = |i: Intent| v.u.intents.contains(&i);
    let escalation = if has(Intent::Emergency) {
        Some(("emergency", "urgent"))
    } else if has(Intent::Human) {
        Some(("customer_request", "normal"))
    } else if has(Intent::Cancel) {
        Some(("cancellation", "high"))
    } else if has(Intent::BillingDispute) {
        Some(("billing_dispute", "high"))
    } else if has(Intent::Discount) || has(Intent::Renegotiate) {
        Some(("renegotiation", "normal"))
    } else {
        None
    };
    if let Some((reason, priority)) = escalation {
        return call(
            "escalate",
            json!({ "reason": reason, "priority": priority, "summary": summary_of(v) }),
        );
    }

    // 2. A change is waiting for the customer's yes.
    if let Some(p) = v.state.get("proposal").filter(|p| !p.is_null()) {
        let tool = p
            .get("tool")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let new_request = v.u.when.is_some() || v.u.intents.iter().any(|i| GOALS.contains(i));
        if v.u.yes_no == Some(true) && !new_request {
            return match v.called(&tool) {
                None => call(&tool, p.get("arguments").cloned().unwrap_or(Value::Null)),
                Some(d) => after_write(v, d),
            };
        }
        if v.u.yes_no == Some(false) && !new_request {
            return reply(v.t(
                "No problem, I haven't changed anything. Is there another time that works better?",
                "De acuerdo, no he cambiado nada. ¿Hay otro horario que le funcione mejor?",
            ));
        }
    }

    // 3. What are we working on? This message's goals, or the one we were on.
    let mut goals: Vec<Intent> =
        v.u.intents
            .iter()
            .copied()
            .filter(|i| GOALS.contains(i))
            .collect();
    goals.dedup();
    let continuing = v.u.when.is_some()
        || !v.u.pests.is_empty()
        || gives_identity(&v.u)
        || v.u.appointment_ref.is_some()
        || !matches!(pick(v), Pick::None)
        || answers_property_question(v)
        || v.called("verify_identity").is_some();
    // "Will I get a reminder?": answered with the visit itself (and no promise).
    let continuing_reminder = gives_identity(&v.u) || v.called("verify_identity").is_some();
    if goals.is_empty() && asks_reminder(v, if continuing_reminder { 2 } else { 1 }) {
        goals.push(Intent::AppointmentStatus);
    }
    if goals.is_empty() && continuing {
        let asked = v
            .earlier
            .iter()
            .find_map(|e| e.intents.iter().copied().find(|i| GOALS.contains(i)))
            // A wish alone started it (see below).
            .or_else(|| {
                v.earlier
                    .iter()
                    .any(only_a_wish)
                    .then_some(Intent::Reschedule)
            });
        if let Some(prev) = asked {
            goals.push(prev);
        } else if !v.u.pests.is_empty() {
            goals.push(Intent::Quote);
        } else if only_a_wish(&v.u) {
            // "Sat AM if you can, if not anything early next week", with nothing asked
            // before: a new time for the visit (without one, the answer offers a booking).
            goals.push(Intent::Reschedule);
        }
    }
    if goals.is_empty() {
        return small_talk(v);
    }

    // 4. Account work needs a verified customer (and a chosen property).
    if goals.iter().any(|g| ACCOUNT_GOALS.contains(g)) {
        if let Some(step) = identity_step(v) {
            return step;
        }
    }

    // 5. Work through the goals; each either needs a tool call or yields a sentence.
    let mut parts: Vec<String> = Vec::new();
    for goal in goals {
        if pending_confirm.is_some() && !INFO_GOALS.contains(&goal) {
            continue;
        }
        match goal_step(v, goal) {
            GoalStep::Call(step) | GoalStep::Final(step)
                if matches!(step, ModelStep::ToolCalls { .. }) =>
            {
                return step
            }
            GoalStep::Final(ModelStep::Reply { text }) => return reply(text),
            GoalStep::Say(text) => parts.push(text),
            GoalStep::Call(step) | GoalStep::Final(step) => return step,
        }
    }
    parts.extend(pending_confirm);
    parts.retain(|p| !p.is_empty());
    reply(parts.join(" "))
}

/// Goals answered with information only (no write), which can share a reply.
const INFO_GOALS: &[Intent] = &[
    Intent::Quote,
    Intent::Balance,
    Intent::ListAppointments,
    Intent::AppointmentStatus,
    Intent::Hours,
    Intent::Services,
];

enum GoalStep {
    /// Run a tool first.
    Call(ModelStep),
    /// A sentence for the combined reply.
    Say(String),
    /// This ends the turn on its own (a confirmation question, an escalation).
    Final(ModelStep),
}

/// The agent asked which property and the answer is a short free text ("willow creek"):
/// read it as the street.
fn answers_property_question(v: &View<'_>) -> bool {
    v.needs_property() && property_hint(v).is_some()
}

/// A street named without a suffix: the whole of a short answer that is nothing else, or the
/// words after "at" in a request ("the visit at westgate to wednesday").
fn property_hint(v: &View<'_>) -> Option<String> {
    let text = builtin::normalized(&last_user_text(v.req)).to_lowercase();
    let words: Vec<&str> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let nothing_else = v.u.intents.iter().all(|i| *i == Intent::Unknown)
        && v.u.when.is_none()
        && v.u.yes_no.is_none()
        && v.u.pests.is_empty();
    if nothing_else && (1..=4).contains(&words.len()) {
        let hint: Vec<&str> = words
            .iter()
            .copied()
            .filter(|w| !matches!(*w, "the" | "one" | "on" | "at" | "its" | "it" | "is" | "s"))
            .collect();
        return (!hint.is_empty()).then(|| hint.join(" "));
    }
    const STOP: &[&str] = &[
        "to", "on", "for", "in", "this", "next", "tomorrow", "today", "please", "pls", "from",
        "and", "asap", "instead", "until", "till",
    ];
    let at = words.iter().position(|w| *w == "at")?;
    let hint: Vec<&str> = words[at + 1..]
        .iter()
        .copied()
        .take_while(|w| !STOP.contains(w) && !w.chars().all(|c| c.is_ascii_digit()))
        .take(3)
        .collect();
    (!hint.is_empty()).then(|| hint.join(" "))
}

/// A message that says nothing but when: a day, a part of the day or a range, no request,
/// no answer, no pest, no identity detail.
fn only_a_wish(u: &Understanding) -> bool {
    let names_time = u.when.as_ref().is_some_and(|w| {
        !w.dates.is_empty()
            || w.part.is_some()
            || w.earliest_date.is_some()
            || w.shift_days.is_some()
            || w.fallback.is_some()
    });
    names_time
        && u.intents.iter().all(|i| *i == Intent::Unknown)
        && u.yes_no.is_none()
        && !u.counter_proposal
        && u.pests.is_empty()
        && u.appointment_ref.is_none()
        && !gives_identity(u)
}

fn gives_identity(u: &Understanding) -> bool {
    u.zip.is_some() || u.street_number.is_some() || !u.street_words.is_empty() || u.name.is_some()
}

fn summary_of(v: &View<'_>) -> String {
    let mut s = format!("Customer wrote: \"{}\"", last_user_text(v.req));
    if !v.u.pests.is_empty() {
        s.push_str(&format!(
            " (pests: {})",
            v.u.pests
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    s
}

fn small_talk(v: &View<'_>) -> ModelStep {
    let company = &v.req.facts.company;
    let has = |i: Intent| v.u.intents.contains(&i);
    if has(Intent::Thanks) || has(Intent::Goodbye) {
        return reply(v.t(
            "You're welcome! Text us anytime.",
            "¡Con gusto! Escríbanos cuando quiera.",
        ));
    }
    // An open offer: the answer did not pick one, so ask again in other words.
    let offer = open_offer(v);
    if !offer.is_empty() {
        if v.u.yes_no == Some(false)
            || builtin::normalized(&last_user_text(v.req))
                .to_lowercase()
                .contains("none")
        {
            return reply(v.t(
                "No problem. What day or time would work better? I can look for other openings.",
                "De acuerdo. ¿Qué día u horario le funcionaría mejor? Puedo buscar otros horarios.",
            ));
        }
        return reply(match v.lang {
            Lang::Es => format!(
                "Perdón, no entendí cuál le funciona. {}",
                ask_which(v, &offer)
            ),
            _ => format!(
                "Sorry, I didn't catch which one you'd like. {}",
                ask_which(v, &offer)
            ),
        });
    }
    // A change waiting for a yes or no, and the answer is neither: put it again.
    if let Some(p) = v.state.get("proposal").filter(|p| !p.is_null()) {
        let turn = v.state.get("turn").and_then(Value::as_u64);
        let shown = p.get("shown_in_turn").and_then(Value::as_u64);
        let just_shown = matches!((shown, turn), (Some(s), Some(t)) if s + 1 == t);
        if v.u.yes_no.is_none() && !has(Intent::Greeting) && just_shown {
            if let Some(tool) = p.get("tool").and_then(Value::as_str) {
                return call(tool, p.get("arguments").cloned().unwrap_or(Value::Null));
            }
        }
    }
    if v.u.yes_no.is_some() && v.state.get("proposal").is_none_or(Value::is_null) {
        return reply(v.t(
            "Got it. What can I help you with today?",
            "Entendido. ¿En qué le puedo ayudar hoy?",
        ));
    }
    if has(Intent::Greeting) {
        return reply(match v.lang {
            Lang::Es => format!("¡Hola! Soy el asistente automático de {company}. Puedo cambiar una cita, darle un precio o agendar un servicio. ¿En qué le ayudo?"),
            _ => format!("Hi! This is {company}'s automated assistant. I can move an appointment, quote a price or book a visit. How can I help?"),
        });
    }
    let unknown_streak = 1 + v
        .earlier
        .iter()
        .take_while(|e| e.intents.iter().all(|i| *i == Intent::Unknown))
        .count();
    if unknown_streak >= 3 {
        return call(
            "escalate",
            json!({ "reason": "other", "summary": summary_of(v) }),
        );
    }
    reply(v.t(
        "I can reschedule a visit, quote our services, book service or check your balance. For anything else I can get a person from our team to help. What would you like to do?",
        "Puedo cambiar una cita, darle precios, agendar un servicio o revisar su saldo. Para otra cosa, le comunico con una persona de nuestro equipo. ¿Qué desea hacer?",
    ))
}

/// What identity still needs, or `None` when the customer is verified and the property known.
fn identity_step(v: &View<'_>) -> Option<ModelStep> {
    let needs_property = v.needs_property();
    let failures = v
        .state
        .get("failed_verifications")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if v.verified && !needs_property {
        return None;
    }
    let verify = v.called("verify_identity");
    if let Some(d) = verify {
        if d.status() == Some("verified") && !needs_property {
            return None;
        }
        if failures >= 3 {
            return Some(call(
                "escalate",
                json!({ "reason": "identity_unresolved", "summary": "Could not verify the caller after several attempts." }),
            ));
        }
    }
    // On a call the caller id can be anyone's: the question, and the answer to a partial or
    // wrong reply, are the same whether or not the caller id is on file.
    if v.req.facts.channel == "voice" && !v.verified {
        return Some(voice_identity_step(v, needs_property, verify.is_some()));
    }
    let street = street_text(&v.u).or_else(|| {
        if needs_property {
            property_hint(v)
        } else {
            None
        }
    });
    if needs_property {
        if verify.is_none() && street.is_some() {
            return Some(call(
                "verify_identity",
                json!({ "street": street, "zip": v.u.zip }),
            ));
        }
        if verify.is_some_and(|d| d.status() == Some("matched")) {
            // Property chosen on a call: one knowledge factor still needed.
            return Some(reply(v.t(
                "Thanks. For your security, what's the ZIP code of that address?",
                "Gracias. Por seguridad, ¿cuál es el código postal de esa dirección?",
            )));
        }
        return Some(reply(if verify.is_some() {
            v.t(
                "I couldn't find that address on this account. Which service address is this about? The street name is enough.",
                "No encontré esa dirección en esta cuenta. ¿De qué dirección de servicio se trata? Basta con el nombre de la calle.",
            )
        } else {
            v.t(
                "Happy to help. Which service address is this about? The street name is enough.",
                "Con gusto. ¿De qué dirección de servicio se trata? Basta con el nombre de la calle.",
            )
        }));
    }
    if v.req.facts.identity_level == "matched" {
        // A caller id we know, on a call: one knowledge factor.
        if verify.is_none() && (v.u.zip.is_some() || v.u.street_number.is_some()) {
            return Some(call(
                "verify_identity",
                json!({ "street_number": v.u.street_number, "zip": v.u.zip }),
            ));
        }
        return Some(reply(v.t(
            "For your security, can you tell me the house number or ZIP code of the service address?",
            "Por seguridad, ¿me puede decir el número de casa o el código postal de la dirección de servicio?",
        )));
    }
    // Unknown number: name, service address and ZIP, gathered across messages.
    let details = Details::gathered(v);
    if verify.is_none() && details.complete() {
        return Some(details.verify());
    }
    let missing = details.missing();
    if verify.is_some() {
        return Some(reply(v.t(
            "I couldn't match those details. Please send your full name, the service address and ZIP code exactly as on your account.",
            "No pude confirmar esos datos. Envíe su nombre completo, la dirección de servicio y el código postal tal como aparecen en su cuenta.",
        )));
    }
    let missing = if missing.is_empty() {
        "your full name, the service address and ZIP code".to_string()
    } else {
        join_and(&missing)
    };
    Some(reply(match v.lang {
        Lang::Es => "Con gusto le ayudo. Para proteger su cuenta, necesito su nombre completo, la dirección de servicio y el código postal.".to_string(),
        _ => format!("Happy to help with that. To protect your account, please send {missing}."),
    }))
}

/// Voice before verification. Everyone is asked for the same details (full name, service
/// address, ZIP), gathered across the call; a caller id on file may verify sooner with a house
/// number or ZIP (the tool decides), but what the caller hears never depends on whether their
/// caller id matched a record: a partial or wrong answer is met with the same request.
fn voice_identity_step(v: &View<'_>, needs_property: bool, tried: bool) -> ModelStep {
    let details = Details::gathered(v);
    let complete = details.complete();
    if !tried {
        if complete {
            return details.verify();
        }
        let on_file = v.req.facts.identity_level == "matched" || needs_property;
        if on_file && (v.u.zip.is_some() || v.u.street_number.is_some()) {
            return call(
                "verify_identity",
                json!({ "street": street_text(&v.u), "street_number": v.u.street_number, "zip": v.u.zip }),
            );
        }
    }
    if tried && complete {
        return reply(v.t(
            "I couldn't match those details. Please tell me your full name, the service address and ZIP code exactly as on your account.",
            "No pude confirmar esos datos. Dígame su nombre completo, la dirección de servicio y el código postal tal como aparecen en su cuenta.",
        ));
    }
    let missing = details.missing();
    let missing = if missing.len() == 3 {
        "your full name, the service address and ZIP code".to_string()
    } else {
        join_and(&missing)
    };
    reply(match v.lang {
        Lang::Es => "Con gusto le ayudo. Para proteger su cuenta, dígame su nombre completo, la dirección de servicio y el código postal.".to_string(),
        _ => format!("Happy to help with that. To protect your account, please tell me {missing}."),
    })
}

/// Full name, service address and ZIP: each the newest the customer gave, across messages.
struct Details {
    name: Option<String>,
    street: Option<String>,
    zip: Option<String>,
}

impl Details {
    fn gathered(v: &View<'_>) -> Details {
        let mut d = Details {
            name: None,
            street: None,
            zip: None,
        };
        for u in std::iter::once(&v.u).chain(v.earlier.iter()) {
            d.name = d.name.or_else(|| u.name.clone());
            d.street = d.street.or_else(|| street_text(u));
            d.zip = d.zip.or_else(|| u.zip.clone());
        }
        d
    }

    fn complete(&self) -> bool {
        self.name.is_some() && self.street.is_some() && self.zip.is_some()
    }

    fn verify(&self) -> ModelStep {
        call(
            "verify_identity",
            json!({ "name": self.name, "street": self.street, "zip": self.zip }),
        )
    }

    /// What is still missing, as the request for it names it.
    fn missing(&self) -> Vec<&'static str> {
        [
            (self.name.is_none(), "your full name"),
            (self.street.is_none(), "the service address"),
            (self.zip.is_none(), "the ZIP code"),
        ]
        .into_iter()
        .filter_map(|(m, s)| m.then_some(s))
        .collect()
    }
}

fn join_and(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [a] => a.to_string(),
        [a, b] => format!("{a} and {b}"),
        [rest @ .., last] => format!("{}, and {last}", rest.join(", ")),
    }
}

fn street_text(u: &Understanding) -> Option<String> {
    if u.street_words.is_empty() {
        return None;
    }
    let words = u.street_words.join(" ");
    Some(match &u.street_number {
        Some(n) => format!("{n} {words}"),
        None => words,
    })
}

fn goal_step(v: &View<'_>, goal: Intent) -> GoalStep {
    match goal {
        Intent::Hours => GoalStep::Say(match v.lang {
            Lang::Es => format!("Nuestro horario de oficina: {}.", v.req.facts.hours),
            _ => format!("Our office hours are {}.", v.req.facts.hours),
        }),
        Intent::Services => match v.called("list_services") {
            None => GoalStep::Call(call("list_services", json!({}))),
            Some(d) if not_offered(v, &services(&d.result)).is_some() => {
                GoalStep::Say(not_offered(v, &services(&d.result)).unwrap_or_default())
            }
            Some(d) if v.req.facts.channel == "sms" => {
                // Two segments: names only, as many as fit, then "and more".
                let mut names: Vec<String> = Vec::new();
                for s in services(&d.result) {
                    let name = short_service_name(&s.name);
                    if !names.contains(&name) {
                        names.push(name);
                    }
                }
                GoalStep::Say(fit_list(
                    &v.t("We offer: ", "Ofrecemos: "),
                    &names,
                    &v.t("and more", "y más"),
                    &v.t(
                        ". Which pest is it? I'll give you the price.",
                        ". ¿Qué plaga es? Le doy el precio.",
                    ),
                    SMS_TWO_SEGMENTS,
                ))
            }
            Some(d) => {
                let names: Vec<String> = services(&d.result)
                    .iter()
                    .map(|s| format!("{} (from {})", s.name, s.from))
                    .collect();
                GoalStep::Say(match v.lang {
                    Lang::Es => format!("Ofrecemos: {}.", names.join("; ")),
                    _ => format!("We offer: {}.", names.join("; ")),
                })
            }
        },
        Intent::Quote => quote_step(v),
        Intent::Balance => match v.called("get_balance") {
            None => GoalStep::Call(call("get_balance", json!({}))),
            Some(d) => {
                let r = &d.result;
                let balance = r.get("balance").and_then(Value::as_str).unwrap_or("$0.00");
                let overdue = r.get("overdue").and_then(Value::as_str).unwrap_or("$0.00");
                GoalStep::Say(if overdue != "$0.00" {
                    v.t(&format!("Your balance is {balance}, of which {overdue} is past due. You can pay in the customer portal."), &format!("Su saldo es {balance}; {overdue} está vencido. Puede pagar en el portal de clientes."))
                } else {
                    v.t(
                        &format!("Your balance is {balance}."),
                        &format!("Su saldo es {balance}."),
                    )
                })
            }
        },
        Intent::ListAppointments | Intent::AppointmentStatus => match v.called("list_appointments")
        {
            None => GoalStep::Call(call("list_appointments", json!({}))),
            Some(d) => {
                let appts = d.list("appointments");
                let note = if asks_reminder(v, 2) {
                    v.t(
                        "I can't promise a reminder message, so it's worth noting the time. ",
                        "No puedo prometerle un mensaje de aviso, así que le conviene anotar la hora. ",
                    )
                } else {
                    String::new()
                };
                GoalStep::Say(
                    note + &match appts.first() {
                        None => v.t(
                            "I don't see any upcoming visits on your account.",
                            "No veo visitas programadas en su cuenta.",
                        ),
                        Some(a) => v.t(
                            &format!(
                                "Your next visit is {} on {}.",
                                field(a, "service"),
                                field(a, "window")
                            ),
                            &format!(
                                "Su próxima visita es {} el {}.",
                                field(a, "service"),
                                spanish::window_es(&field(a, "window"))
                            ),
                        ),
                    },
                )
            }
        },
        Intent::Reschedule => reschedule_step(v),
        Intent::Book => book_step(v),
        _ => GoalStep::Say(String::new()),
    }
}

fn field(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

struct ServiceInfo {
    code: String,
    name: String,
    from: String,
    pests: Vec<String>,
    bookable: bool,
}

fn services(list: &Value) -> Vec<ServiceInfo> {
    list.get("services")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|s| ServiceInfo {
                    code: field(s, "code"),
                    name: field(s, "name"),
                    from: field(s, "from_price"),
                    pests: s
                        .get("pests")
                        .and_then(Value::as_array)
                        .map(|p| {
                            p.iter()
                                .filter_map(Value::as_str)
                                .map(str::to_lowercase)
                                .collect()
                        })
                        .unwrap_or_default(),
                    bookable: s
                        .get("bookable_by_agent")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The catalog service the customer means: by pest (preferring the one-time treatment that
/// is bookable and names the fewest other pests), or by a word of the service's name.
fn pick_service<'s>(v: &View<'_>, list: &'s [ServiceInfo]) -> Option<&'s ServiceInfo> {
    let pests: Vec<String> =
        v.u.pests
            .iter()
            .chain(v.earlier.iter().flat_map(|e| e.pests.iter()))
            .map(|p| p.as_str().to_string())
            .collect();
    let text = builtin::normalized(&last_user_text(v.req)).to_lowercase();
    let wants_plan = text.contains("plan")
        || text.contains("quarterly")
        || text.contains("monthly")
        || text.contains("recurring");
    let pests: Vec<String> = pests
        .into_iter()
        .chain(v.u.target.as_deref().and_then(target_stem))
        .collect();
    let mut best: Option<(i64, &ServiceInfo)> = None;
    for s in list {
        let mut score = 0i64;
        let matches = |sp: &String, p: &String| sp.contains(p.as_str()) || p.contains(sp.as_str());
        for p in pests.iter().take(3) {
            if s.pests.iter().any(|sp| matches(sp, p)) {
                score += 10;
            }
        }
        // A service for exactly these pests (the Cockroach Clean-Out for roaches) before a
        // general one that also covers them.
        if !pests.is_empty()
            && s.pests
                .iter()
                .all(|sp| pests.iter().any(|p| matches(sp, p)))
        {
            score += 3;
        }
        let name = s.name.to_lowercase();
        // Every word of the service's name the customer used ("termite treatment").
        score += 4 * name
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.len() > 3 && text.contains(w))
            .count() as i64;
        if score == 0 {
            continue;
        }
        if s.bookable {
            score += 1;
        }
        let is_plan =
            name.contains("plan") || name.contains("quarterly") || name.contains("monthly");
        if is_plan == wants_plan {
            score += 2;
        }
        score -= s.pests.len() as i64 / 4;
        if best.is_none_or(|(b, _)| score > b) {
            best = Some((score, s));
        }
    }
    best.map(|(_, s)| s)
}

/// The customer asks (in the last `depth` messages) whether they will be reminded.
fn asks_reminder(v: &View<'_>, depth: usize) -> bool {
    let cue = |t: &str| {
        let t = builtin::normalized(t).to_lowercase();
        [
            "remind",
            "recordatorio",
            "recordar",
            "avisar",
            "avisan",
            "avisen",
        ]
        .iter()
        .any(|w| t.contains(w))
    };
    user_texts(&v.req.messages).take(depth).any(cue)
}

/// The customer's messages, newest first.
fn user_texts(messages: &[ChatMessage]) -> impl Iterator<Item = &str> {
    messages.iter().rev().filter_map(|m| match m {
        ChatMessage::User { content } => Some(content.as_str()),
        _ => None,
    })
}

fn last_user_text(req: &ModelRequest) -> String {
    user_texts(&req.messages)
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The creature word of a target ("gopher removal" → "gophe"), as catalog text is matched.
fn target_stem(target: &str) -> Option<String> {
    let word = target.split_whitespace().next()?;
    let word = word.trim_end_matches('s');
    (word.len() >= 3).then(|| word.chars().take(5).collect())
}

/// "Sorry, we don't offer gopher removal.": the customer asked for something to be treated
/// that is neither a pest this model knows nor named anywhere in the catalog.
fn not_offered(v: &View<'_>, list: &[ServiceInfo]) -> Option<String> {
    if !v.u.pests.is_empty() || list.is_empty() {
        return None;
    }
    let target = v.u.target.as_deref()?;
    let stem = target_stem(target)?;
    let served = list.iter().any(|s| {
        s.name.to_lowercase().contains(&stem) || s.pests.iter().any(|p| p.contains(&stem))
    });
    (!served).then(|| match v.lang {
        Lang::Es => format!(
            "Lo siento, no ofrecemos ese servicio ({target}). Pregúnteme por cualquier otra plaga y le doy el precio."
        ),
        _ => format!(
            "Sorry, we don't offer {target}. Ask me about any other pest and I'll look up the price."
        ),
    })
}

fn quote_step(v: &View<'_>) -> GoalStep {
    let Some(list) = v.called("list_services") else {
        return GoalStep::Call(call("list_services", json!({})));
    };
    let list = services(&list.result);
    if let Some(text) = not_offered(v, &list) {
        // Asked together with "do you do …": that answer says it already.
        return GoalStep::Say(if v.u.has(Intent::Services) {
            String::new()
        } else {
            text
        });
    }
    // A pest no service here treats: say so, never quote another service instead.
    if let Some(pest) = v.u.pests.first() {
        let p = pest.as_str().replace('_', " ");
        let stem = p
            .trim_end_matches('s')
            .trim_end_matches("oe")
            .trim_end_matches("che");
        let stem: String = stem.chars().take(5).collect();
        let served = list.iter().any(|s| {
            s.name.to_lowercase().contains(&stem)
                || s.pests
                    .iter()
                    .any(|sp| sp.replace('_', " ").contains(&stem))
        });
        if !served && !list.is_empty() {
            let names: Vec<&str> = list.iter().map(|s| s.name.as_str()).collect();
            return GoalStep::Say(match v.lang {
                Lang::Es => format!(
                    "Lo siento, no ofrecemos servicio para {p}. Ofrecemos: {}.",
                    names.join("; ")
                ),
                _ => format!(
                    "Sorry, we don't offer {p} service. What we offer: {}.",
                    names.join("; ")
                ),
            });
        }
    }
    let Some(service) = pick_service(v, &list) else {
        return GoalStep::Say(v.t(
            "Which pest or service would you like a price for? We treat ants, roaches, spiders, mosquitoes, rodents, termites, bed bugs, wasps and more.",
            "¿Para qué plaga o servicio quiere el precio? Tratamos hormigas, cucarachas, arañas, mosquitos, roedores, termitas, chinches, avispas y más.",
        ));
    };
    match v.called("quote_price") {
        None => GoalStep::Call(call("quote_price", json!({ "service_code": service.code }))),
        Some(d) if d.status() == Some("refused") => GoalStep::Say(v.t(
            "I can't give a price for that one here; our office will quote it for you.",
            "No puedo dar ese precio aquí; nuestra oficina se lo cotizará.",
        )),
        Some(d) => {
            let r = &d.result;
            let per = field(r, "per_visit");
            let fee = field(r, "initial_fee");
            let total = field(r, "first_visit_total");
            // On SMS the pricing rule's wording costs a segment the facts do not need.
            let rule = if v.req.facts.channel == "sms" {
                String::new()
            } else {
                field(r, "rule")
            };
            let fee_text = if fee != "$0.00" && !fee.is_empty() {
                format!(" plus a one-time {fee} initial fee (first visit {total})")
            } else {
                String::new()
            };
            GoalStep::Say(match v.lang {
                Lang::Es => format!(
                    "{}: {per} por visita{}.{}",
                    field(r, "service"),
                    if fee_text.is_empty() {
                        String::new()
                    } else {
                        format!(" más {fee} de cargo inicial")
                    },
                    if rule.is_empty() {
                        String::new()
                    } else {
                        format!(" Regla: {rule}.")
                    }
                ),
                _ => format!(
                    "{} is {per} per visit{fee_text}{}.",
                    field(r, "service"),
                    if rule.is_empty() {
                        String::new()
                    } else {
                        format!(" ({rule})")
                    }
                ),
            })
        }
    }
}

/// What the customer's answer does with the windows offered in the agent's last reply.
enum Pick {
    /// Exactly one window.
    Slot(i64),
    /// An answer that fits several of them ("yes" to a list, "the afternoon one" twice):
    /// ask which, among these.
    Ask(Vec<Value>),
    /// Not an answer to the offer (or no offer is open).
    None,
}

/// The windows offered in the agent's last reply, if that reply was the offer (an offer
/// answered, replaced or left behind is closed).
fn open_offer(v: &View<'_>) -> Vec<Value> {
    let Some(offered) = v.state.get("offered").and_then(Value::as_array) else {
        return Vec::new();
    };
    let last_user = v
        .req
        .messages
        .iter()
        .rposition(|m| matches!(m, ChatMessage::User { .. }))
        .unwrap_or(0);
    let last_reply = v.req.messages[..last_user]
        .iter()
        .rev()
        .find_map(|m| match m {
            ChatMessage::Assistant {
                content: Some(c), ..
            } if !c.trim().is_empty() => Some(c.as_str()),
            _ => None,
        });
    let Some(text) = last_reply else {
        return Vec::new();
    };
    let shown = |o: &Value| {
        let label = field(o, "label");
        [
            label.clone(),
            spanish::window_es(&label),
            spoken_label(&label),
        ]
        .iter()
        .flat_map(|l| [l.clone(), l.replace('–', "-")])
        .any(|l| {
            // "(Mon Mar 9, 8 AM-12 PM)" names the visit being moved, not a choice.
            text.matches(l.as_str()).count() > text.matches(&format!("({l})")).count()
        })
    };
    // Only the windows the last reply showed can be picked: a search may have found more
    // than were offered, and "which one: 1) …; 2) …?" narrows the list.
    offered.iter().filter(|o| shown(o)).cloned().collect()
}

const WEEKDAY_WORDS: &[(&str, &str)] = &[
    ("monday", "Mon"),
    ("mon", "Mon"),
    ("lunes", "Mon"),
    ("tuesday", "Tue"),
    ("tue", "Tue"),
    ("tues", "Tue"),
    ("martes", "Tue"),
    ("wednesday", "Wed"),
    ("wed", "Wed"),
    ("weds", "Wed"),
    ("miercoles", "Wed"),
    ("thursday", "Thu"),
    ("thu", "Thu"),
    ("thur", "Thu"),
    ("thurs", "Thu"),
    ("jueves", "Thu"),
    ("friday", "Fri"),
    ("fri", "Fri"),
    ("viernes", "Fri"),
    ("saturday", "Sat"),
    ("sat", "Sat"),
    ("sabado", "Sat"),
    ("sunday", "Sun"),
    ("sun", "Sun"),
    ("domingo", "Sun"),
];

/// Which of the offered windows the answer picks: by position ("the first one", "2nd",
/// "option 3", "the last one"), by day ("the tuesday one", "the 8th"), by part of the day
/// ("afternoon"), or by agreeing ("yes", "that works") when only one was offered.
fn pick(v: &View<'_>) -> Pick {
    let offered = open_offer(v);
    if offered.is_empty() {
        return Pick::None;
    }
    let slot = |o: &Value| o.get("slot_id").and_then(Value::as_i64);
    let text = builtin::normalized(&last_user_text(v.req)).to_lowercase();
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(builtin::fold)
        .collect();
    let has = |w: &str| words.iter().any(|x| x == w);
    // By position.
    let ordinal = |w: &str| match w {
        "first" | "1st" | "primero" | "primera" | "primer" => Some(0),
        "second" | "2nd" | "segundo" | "segunda" => Some(1),
        "third" | "3rd" | "tercero" | "tercera" | "tercer" => Some(2),
        "fourth" | "4th" | "cuarto" | "cuarta" => Some(3),
        "fifth" | "5th" => Some(4),
        "last" | "ultimo" | "ultima" => Some(usize::MAX),
        _ => None,
    };
    let cardinal = |w: &str| match w {
        "1" | "one" | "uno" | "una" => Some(0),
        "2" | "two" | "dos" => Some(1),
        "3" | "three" | "tres" => Some(2),
        "4" | "four" | "cuatro" => Some(3),
        "5" | "five" | "cinco" => Some(4),
        _ => None,
    };
    if words.len() <= 8 {
        let mut index = words.iter().find_map(|w| ordinal(w));
        if index.is_none() {
            // A bare number, or one after "option", "number", "#".
            for (i, w) in words.iter().enumerate() {
                let lead = i > 0
                    && matches!(
                        words[i - 1].as_str(),
                        "option" | "number" | "opcion" | "numero" | "no"
                    );
                if words.len() <= 2 || lead || text.contains(&format!("#{w}")) {
                    if let Some(k) = cardinal(w) {
                        index = Some(k);
                        break;
                    }
                }
            }
        }
        // "the 2nd" is a position when the list is that long; "the 8th" is a day.
        if let Some(k) = index {
            let k = if k == usize::MAX {
                offered.len() - 1
            } else {
                k
            };
            if let Some(o) = offered.get(k) {
                return slot(o).map_or(Pick::None, Pick::Slot);
            }
        }
    }
    // By day, date and part of the day.
    let weekday = words
        .iter()
        .find_map(|w| WEEKDAY_WORDS.iter().find(|(k, _)| k == w).map(|(_, a)| *a));
    let part = v.u.when.as_ref().and_then(|w| w.part);
    let dates =
        v.u.when
            .as_ref()
            .map(|w| w.dates.clone())
            .unwrap_or_default();
    let days: Vec<u32> = dates.iter().map(|d| d.day()).collect();
    let matching: Vec<Value> = offered
        .iter()
        .filter(|o| {
            let label = field(o, "label");
            let morning = label
                .split(',')
                .nth(1)
                .and_then(|t| t.split_whitespace().nth(1))
                .is_some_and(|w| w.starts_with("AM"));
            let part_ok = match part {
                Some(DayPart::Morning) => morning,
                Some(DayPart::Afternoon) | Some(DayPart::Evening) => !morning,
                _ => true,
            };
            let weekday_ok = weekday.is_none_or(|a| label.starts_with(a));
            let label_day = label
                .split(',')
                .next()
                .and_then(|d| d.split_whitespace().nth(2))
                .and_then(|d| d.parse::<u32>().ok());
            let date_ok = dates.is_empty()
                || dates
                    .iter()
                    .any(|d| label.contains(&d.format("%b %-d,").to_string()))
                || v.u.ordinal_is_also_date && label_day.is_some_and(|n| days.contains(&n));
            part_ok && weekday_ok && date_ok
        })
        .cloned()
        .collect();
    let criteria = part.is_some() || weekday.is_some() || !dates.is_empty();
    if criteria {
        return match matching.len() {
            0 => Pick::None,
            1 => slot(&matching[0]).map_or(Pick::None, Pick::Slot),
            _ => Pick::Ask(matching),
        };
    }
    // Agreement without saying which.
    let any = has("any")
        || has("either")
        || has("whichever")
        || has("cualquiera")
        || text.contains("doesnt matter")
        || text.contains("does not matter");
    let agrees = v.u.yes_no == Some(true)
        || any
        || text.contains("that works")
        || text.contains("works for me")
        || text.contains("sounds good")
        || text.contains("that one")
        || text.contains("that s fine")
        || text.contains("thats fine")
        || has("perfect")
        || has("great")
        || has("perfecto");
    if agrees && !v.u.intents.iter().any(|i| GOALS.contains(i)) {
        if offered.len() == 1 || any {
            return slot(&offered[0]).map_or(Pick::None, Pick::Slot);
        }
        return Pick::Ask(offered);
    }
    Pick::None
}

/// "Which one works for you: 1) …; 2) …?" for a pick that fits several windows.
fn ask_which(v: &View<'_>, among: &[Value]) -> String {
    let labels: Vec<String> = among
        .iter()
        .enumerate()
        .map(|(i, w)| format!("{}) {}", i + 1, window_text(v, &field(w, "label"))))
        .collect();
    let voice = v.req.facts.channel == "voice";
    match (v.lang, voice) {
        (Lang::Es, _) => format!(
            "¿Cuál de estos horarios prefiere: {}? Puede decir «el primero» o el día.",
            labels.join("; ")
        ),
        (_, true) => format!(
            "Which one would you like: {}? You can say the first one, or the day.",
            labels.join("; ")
        ),
        _ => format!(
            "Which one works for you: {}? You can answer with the number or the day.",
            labels.join("; ")
        ),
    }
}

/// What the customer asked for as to time: this message's, or (when this one names no time,
/// e.g. it answers a security question) the one given with the request.
/// A correction names a time of day but no day ("sorry i meant the morning"): the day of
/// the request it corrects stays.
fn wish(v: &View<'_>) -> Option<WhenSpec> {
    let request = || {
        for e in &v.earlier {
            if e.when.is_some() {
                return e.when.clone();
            }
            if e.intents.iter().any(|i| GOALS.contains(i)) {
                break;
            }
        }
        None
    };
    match &v.u.when {
        Some(w) if names_no_day(w) => Some(match request() {
            Some(before) => WhenSpec {
                dates: before.dates,
                earliest_date: before.earliest_date,
                latest_date: before.latest_date,
                excluded: [before.excluded, w.excluded.clone()].concat(),
                shift_days: before.shift_days,
                ..w.clone()
            },
            None => w.clone(),
        }),
        Some(w) => Some(w.clone()),
        None => request(),
    }
}

/// A time of day without any day: no date, range, shift or "asap".
fn names_no_day(w: &WhenSpec) -> bool {
    w.dates.is_empty()
        && w.earliest_date.is_none()
        && w.latest_date.is_none()
        && w.shift_days.is_none()
        && w.fallback.is_none()
        && !w.asap
        && (w.part.is_some() || w.after.is_some() || w.before.is_some() || w.at.is_some())
}

fn when_args(v: &View<'_>, args: Value) -> Value {
    match wish(v) {
        Some(w) => spec_args(&w, args),
        None => args,
    }
}

/// The wish as `find_open_windows` arguments.
fn spec_args(w: &WhenSpec, mut args: Value) -> Value {
    {
        if !w.dates.is_empty() {
            args["dates"] = json!(w.dates.iter().map(NaiveDate::to_string).collect::<Vec<_>>());
        }
        if let Some(from) = w.earliest_date {
            args["from"] = json!(from.to_string());
        }
        if let Some(to) = w.latest_date {
            args["to"] = json!(to.to_string());
        }
        match w.part {
            Some(DayPart::Morning) => args["part_of_day"] = json!("morning"),
            Some(DayPart::Afternoon) => args["part_of_day"] = json!("afternoon"),
            _ => {}
        }
        if let Some(after) = w.after {
            args["after"] = json!(after.format("%H:%M").to_string());
        }
        // Days ruled out are dropped from the answer (`usable`), so ask for more.
        if !w.excluded.is_empty() {
            args["limit"] = json!(10);
        }
    }
    args
}

/// The windows a search found, without the days the customer ruled out, three at most.
fn usable(v: &View<'_>, windows: Vec<Value>) -> Vec<Value> {
    let excluded = wish(v).map(|w| w.excluded).unwrap_or_default();
    windows
        .into_iter()
        .filter(|w| {
            let day = field(w, "start");
            !excluded.iter().any(|d| day.starts_with(&d.to_string()))
        })
        .take(3)
        .collect()
}

/// A window label read aloud: "Tue Mar 10, 12 PM-4 PM" → "Tuesday March 10, between noon
/// and 4 PM". Anything not in the label format is returned unchanged.
fn spoken_label(label: &str) -> String {
    let Some((date, times)) = label.split_once(", ") else {
        return label.to_string();
    };
    let Some((from, to)) = times.split_once(['-', '–']) else {
        return label.to_string();
    };
    let mut parts = date.split_whitespace();
    let day = match parts.next() {
        Some("Mon") => "Monday",
        Some("Tue") => "Tuesday",
        Some("Wed") => "Wednesday",
        Some("Thu") => "Thursday",
        Some("Fri") => "Friday",
        Some("Sat") => "Saturday",
        Some("Sun") => "Sunday",
        _ => return label.to_string(),
    };
    let month = match parts.next() {
        Some("Jan") => "January",
        Some("Feb") => "February",
        Some("Mar") => "March",
        Some("Apr") => "April",
        Some("May") => "May",
        Some("Jun") => "June",
        Some("Jul") => "July",
        Some("Aug") => "August",
        Some("Sep") => "September",
        Some("Oct") => "October",
        Some("Nov") => "November",
        Some("Dec") => "December",
        _ => return label.to_string(),
    };
    let Some(dom) = parts.next() else {
        return label.to_string();
    };
    let say = |t: &str| match t.trim() {
        "12 PM" => "noon".to_string(),
        "12 AM" => "midnight".to_string(),
        other => other.to_string(),
    };
    format!("{day} {month} {dom}, between {} and {}", say(from), say(to))
}

/// A window as this channel and language say it.
/// On SMS, an en dash alone would make the whole text UCS-2 (67 characters a segment
/// instead of 153), so windows are written with a hyphen there.
fn window_text(v: &View<'_>, label: &str) -> String {
    let text = match (v.lang, v.req.facts.channel.as_str()) {
        (Lang::Es, _) => spanish::window_es(label),
        (_, "voice") => spoken_label(label),
        _ => label.to_string(),
    };
    if v.req.facts.channel == "sms" {
        text.replace('–', "-")
    } else {
        text
    }
}

/// A wish that names a day, a part of the day or a time (not just "sometime").
fn specific(w: &WhenSpec) -> bool {
    !w.dates.is_empty() || w.part.is_some() || w.after.is_some()
}

fn offer_text(v: &View<'_>, windows: &[Value], what: &str) -> String {
    let labels: Vec<String> = windows
        .iter()
        .enumerate()
        .map(|(i, w)| format!("{}) {}", i + 1, window_text(v, &field(w, "window"))))
        .collect();
    match v.lang {
        Lang::Es => format!(
            "Tengo estos horarios para {}: {}. ¿Le funciona alguno?",
            spanish::dates_es(what),
            labels.join("; ")
        ),
        _ => format!(
            "I can offer these windows for {what}: {}. Which works for you?",
            labels.join("; ")
        ),
    }
}

/// After a write that the customer confirmed.
fn after_write(v: &View<'_>, d: &Done) -> ModelStep {
    let r = &d.result;
    // What the tenant will send before the visit (empty when it sends nothing).
    let next = field(r, "what_next");
    let step = after_write_text(v, d);
    match step {
        ModelStep::Reply { text } if !next.is_empty() => reply(format!("{text} {next}")),
        other => other,
    }
}

fn after_write_text(v: &View<'_>, d: &Done) -> ModelStep {
    let r = &d.result;
    match d.status() {
        Some("rescheduled") => reply(v.t(
            &format!(
                "Done! Your {} visit is now {}.",
                field(r, "service"),
                field(r, "to")
            ),
            &format!(
                "¡Listo! Su visita de {} quedó para el {}.",
                field(r, "service"),
                spanish::window_es(&field(r, "to"))
            ),
        )),
        Some("booked") => reply(v.t(
            &format!(
                "You're booked: {} on {}, {}. See you then!",
                field(r, "service"),
                field(r, "window"),
                field(r, "price")
            ),
            &format!(
                "Quedó agendado: {} el {}, {}.",
                field(r, "service"),
                spanish::window_es(&field(r, "window")),
                field(r, "price")
            ),
        )),
        Some("needs_confirmation") => reply(field(r, "confirm_text")),
        _ => {
            let rule = field(r, "rule");
            if rule.starts_with("agent_reschedule.") || rule.starts_with("booking.") {
                call(
                    "escalate",
                    json!({ "reason": "out_of_policy", "summary": format!("{} refused by policy ({rule}): {}", d.name, field(r, "message")) }),
                )
            } else {
                reply(v.t(
                    "Sorry, that window was just taken. Would you like me to look for another time?",
                    "Lo siento, ese horario ya se ocupó. ¿Busco otro horario?",
                ))
            }
        }
    }
}

/// The listed appointment a customer's reference points at.
fn pick_appointment<'a>(appts: &'a [Value], r: &AppointmentRef) -> Option<&'a Value> {
    match r {
        AppointmentRef::Ordinal(n) => appts.get(usize::from(*n).checked_sub(1)?),
        AppointmentRef::Last => appts.last(),
        AppointmentRef::Street(words) => appts.iter().find(|a| {
            let street = field(a, "property").to_lowercase();
            words.iter().all(|w| street.contains(w.as_str()))
        }),
        AppointmentRef::Date(d) => appts
            .iter()
            .find(|a| field(a, "window_start").starts_with(&d.to_string())),
    }
}

fn reschedule_step(v: &View<'_>) -> GoalStep {
    let Some(list) = v.called("list_appointments") else {
        return GoalStep::Call(call("list_appointments", json!({})));
    };
    let appts = list.list("appointments");
    if appts.is_empty() {
        return GoalStep::Say(v.t(
            "I don't see an upcoming visit to move. Would you like to book one?",
            "No veo una visita programada para cambiar. ¿Quiere agendar una?",
        ));
    }
    // Which visit: the one they referred to, the only one, or the soonest.
    let appt =
        v.u.appointment_ref
            .as_ref()
            .and_then(|r| pick_appointment(&appts, r))
            .unwrap_or(&appts[0])
            .clone();
    let appointment_id = appt
        .get("appointment_id")
        .and_then(Value::as_i64)
        .unwrap_or_default();
    let move_to = |slot: i64| {
        GoalStep::Final(call(
            "reschedule_appointment",
            json!({ "appointment_id": appointment_id, "slot_id": slot }),
        ))
    };
    // A search without the customer's wish: the earliest windows there are.
    let any_window = json!({ "appointment_id": appointment_id, "limit": 4 });
    let what = format!(
        "your {} visit ({})",
        field(&appt, "service"),
        field(&appt, "window")
    );
    // The same, as the customer reads it.
    let what_said = match v.lang {
        Lang::Es => format!(
            "su visita de {} ({})",
            field(&appt, "service"),
            window_text(v, &field(&appt, "window"))
        ),
        _ => format!(
            "your {} visit ({})",
            field(&appt, "service"),
            window_text(v, &field(&appt, "window"))
        ),
    };

    if let Some(d) = v.called("reschedule_appointment") {
        return GoalStep::Final(after_write(v, d));
    }
    match pick(v) {
        Pick::Slot(slot) => return move_to(slot),
        Pick::Ask(among) => return GoalStep::Final(reply(ask_which(v, &among))),
        Pick::None => {}
    }
    let searches: Vec<&Done> = v
        .done
        .iter()
        .filter(|d| d.name == "find_open_windows")
        .collect();
    let wished = wish(v);
    // A move counted from the visit ("bump it out a week"): windows after the visit.
    let visit_day = NaiveDate::parse_from_str(
        field(&appt, "window_start").get(..10).unwrap_or(""),
        "%Y-%m-%d",
    )
    .ok();
    let shift = wished
        .as_ref()
        .and_then(|w| w.shift_days.map(|s| (s, w.same_time)))
        .zip(visit_day);
    let Some(search) = searches.last() else {
        let mut args = when_args(v, any_window);
        if let Some((((lo, hi), same_time), day)) = shift {
            args["from"] = json!((day + Duration::days(lo)).to_string());
            args["to"] = json!((day + Duration::days(hi)).to_string());
            if same_time && args.get("part_of_day").is_none() {
                let morning = field(&appt, "window_start")
                    .get(11..13)
                    .and_then(|h| h.parse::<u32>().ok())
                    .is_some_and(|h| h < 12);
                args["part_of_day"] = json!(if morning { "morning" } else { "afternoon" });
            }
        }
        return GoalStep::Call(call("find_open_windows", args));
    };
    if search.status() == Some("refused") {
        return GoalStep::Final(call(
            "escalate",
            json!({ "reason": "out_of_policy", "summary": format!("Wants to move {what}; refused by policy ({}): {}", field(&search.result, "rule"), field(&search.result, "message")) }),
        ));
    }
    // The visit's own window is no move.
    let current = field(&appt, "window");
    let mut windows = search.list("windows");
    windows.retain(|w| field(w, "window") != current);
    let windows = usable(v, windows);
    // A time inside the minimum notice ("tonight", "tomorrow at 8am"): say so, and offer the
    // earliest windows there are instead.
    let notice = match (searches.first(), &wished) {
        (Some(first), Some(w)) if shift.is_none() => too_soon(v, w, &first.result),
        _ => None,
    };
    if let Some(hours) = notice {
        if searches.len() == 1 {
            return GoalStep::Call(call("find_open_windows", any_window));
        }
        if !windows.is_empty() {
            let why = match v.lang {
                Lang::Es => format!(
                    "Ese horario es demasiado pronto: necesitamos al menos {hours} horas de aviso para cambiar una visita. "
                ),
                _ => format!(
                    "That's too soon: we need at least {hours} hours' notice to move a visit. "
                ),
            };
            return GoalStep::Final(reply(format!(
                "{why}{}",
                offer_text(v, &windows, &what_said)
            )));
        }
    }
    let asked_specific = shift.is_none() && wished.as_ref().is_some_and(specific);
    let fallback = wished.as_ref().and_then(|w| w.fallback.as_deref().cloned());
    if windows.is_empty() && searches.len() == 1 {
        if let Some(fb) = &fallback {
            return GoalStep::Call(call("find_open_windows", spec_args(fb, any_window)));
        }
    }
    let on_fallback = fallback.is_some() && searches.len() == 2;
    if on_fallback && !windows.is_empty() && fallback.as_ref().is_some_and(specific) {
        return move_to(first_slot(&windows));
    }
    if windows.is_empty() {
        if let (Some((_, day)), 1) = (shift, searches.len()) {
            return GoalStep::Call(call(
                "find_open_windows",
                json!({ "appointment_id": appointment_id, "limit": 4, "from": (day + Duration::days(1)).to_string() }),
            ));
        }
        if asked_specific && searches.len() == 1 {
            // Nothing then: is it outside what policy allows, or just full?
            let latest = allowed(&search.result, "latest");
            let earliest = allowed(&search.result, "earliest");
            let dates = wished.as_ref().map(|w| w.dates.clone()).unwrap_or_default();
            let outside = !dates.is_empty()
                && dates.iter().all(|d| {
                    latest.is_some_and(|l| *d > l.date_naive())
                        || earliest.is_some_and(|e| *d < e.date_naive())
                });
            let outside = outside
                || search
                    .result
                    .get("requested_outside_policy")
                    .and_then(Value::as_bool)
                    == Some(true);
            if outside {
                return GoalStep::Final(call(
                    "escalate",
                    json!({ "reason": "out_of_policy", "summary": format!("Wants to move {what} to {}, outside the agent's reschedule window.", dates.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")) }),
                ));
            }
            return GoalStep::Call(call("find_open_windows", any_window));
        }
        return GoalStep::Final(call(
            "escalate",
            json!({ "reason": "out_of_policy", "summary": format!("No open window the agent may offer for {what}.") }),
        ));
    }
    if asked_specific && searches.len() == 1 {
        return move_to(first_slot(&windows));
    }
    let prefix = if asked_specific || on_fallback {
        v.t(
            "I don't have an opening then. ",
            "No tengo espacio en ese horario. ",
        )
    } else {
        String::new()
    };
    GoalStep::Final(reply(format!(
        "{prefix}{}",
        offer_text(v, &windows, &what_said)
    )))
}

/// The first slot a search found (the caller checked there is one).
fn first_slot(windows: &[Value]) -> i64 {
    windows[0]
        .get("slot_id")
        .and_then(Value::as_i64)
        .unwrap_or_default()
}

/// The `earliest` or `latest` moment of a `find_open_windows` result's allowed range.
fn allowed(search: &Value, bound: &str) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    let at = search.get("allowed_range")?.get(bound)?.as_str()?;
    chrono::DateTime::parse_from_rfc3339(at).ok()
}

/// The hours of notice a move needs, when every day the customer asked for ends (for the
/// time or part of the day asked) before the earliest moment policy allows: `search` is a
/// `find_open_windows` result, whose allowed range starts at now plus the notice.
fn too_soon(v: &View<'_>, w: &WhenSpec, search: &Value) -> Option<i64> {
    if w.dates.is_empty() {
        return None;
    }
    let earliest = allowed(search, "earliest")?.naive_local();
    let now = now_local(v.req);
    let minutes = (earliest - now).num_minutes();
    if minutes <= 0 {
        return None;
    }
    let hours = (minutes + 30) / 60;
    let inside = |d: NaiveDate| -> bool {
        if let Some(at) = w.at {
            return d.and_time(at) < earliest;
        }
        let hour = |h: u32| d.and_hms_opt(h, 0, 0);
        let end = match w.part {
            Some(DayPart::Morning) => hour(12),
            Some(DayPart::Afternoon) => hour(17),
            _ => (d + Duration::days(1)).and_hms_opt(0, 0, 0),
        };
        let end = match (end, w.before) {
            (Some(e), Some(b)) => Some(e.min(d.and_time(b))),
            (e, _) => e,
        };
        end.is_some_and(|e| e <= earliest)
    };
    w.dates.iter().all(|d| inside(*d)).then_some(hours)
}

fn book_step(v: &View<'_>) -> GoalStep {
    let Some(list) = v.called("list_services") else {
        return GoalStep::Call(call("list_services", json!({})));
    };
    let list = services(&list.result);
    if let Some(text) = not_offered(v, &list) {
        return GoalStep::Final(reply(text));
    }
    let Some(service) = pick_service(v, &list) else {
        return GoalStep::Final(reply(v.t(
            "Sure! What do you need treated (ants, roaches, mosquitoes, rodents…)?",
            "¡Claro! ¿Qué plaga necesita tratar (hormigas, cucarachas, mosquitos, roedores…)?",
        )));
    };
    if !service.bookable {
        return GoalStep::Final(call(
            "escalate",
            json!({ "reason": "out_of_policy", "summary": format!("Wants to book {}, which the office schedules.", service.name) }),
        ));
    }
    if let Some(d) = v.called("book_service") {
        return GoalStep::Final(after_write(v, d));
    }
    let book = |slot: i64| {
        GoalStep::Final(call(
            "book_service",
            json!({ "service_code": service.code, "slot_id": slot }),
        ))
    };
    match pick(v) {
        Pick::Slot(slot) => return book(slot),
        Pick::Ask(among) => return GoalStep::Final(reply(ask_which(v, &among))),
        Pick::None => {}
    }
    let searches: Vec<&Done> = v
        .done
        .iter()
        .filter(|d| d.name == "find_open_windows")
        .collect();
    let Some(search) = searches.last() else {
        return GoalStep::Call(call(
            "find_open_windows",
            when_args(v, json!({ "service_code": service.code, "limit": 3 })),
        ));
    };
    if search.status() == Some("refused") {
        return GoalStep::Final(call(
            "escalate",
            json!({ "reason": "out_of_policy", "summary": format!("Wants to book {}: {}", service.name, field(&search.result, "message")) }),
        ));
    }
    let windows = usable(v, search.list("windows"));
    let asked_specific = wish(v).as_ref().is_some_and(specific);
    let fallback = wish(v).and_then(|w| w.fallback.map(|b| *b));
    if windows.is_empty() && searches.len() == 1 {
        if let Some(fb) = &fallback {
            return GoalStep::Call(call(
                "find_open_windows",
                spec_args(fb, json!({ "service_code": service.code, "limit": 3 })),
            ));
        }
    }
    if windows.is_empty() {
        if searches.len() == 1 {
            return GoalStep::Call(call(
                "find_open_windows",
                json!({ "service_code": service.code, "limit": 3 }),
            ));
        }
        return GoalStep::Final(call(
            "escalate",
            json!({ "reason": "out_of_policy", "summary": format!("No open window to book {}.", service.name) }),
        ));
    }
    if asked_specific && searches.len() == 1 {
        return book(first_slot(&windows));
    }
    GoalStep::Final(reply(offer_text(v, &windows, &service.name)))
}

/// Characters of two GSM-7 SMS segments.
const SMS_TWO_SEGMENTS: usize = 2 * 153;

/// A catalog name without its parenthetical or its plan suffix ("General Pest Control -
/// Quarterly Plan" → "General Pest Control").
fn short_service_name(name: &str) -> String {
    let name = name.split(" (").next().unwrap_or(name);
    name.split(" - ").next().unwrap_or(name).trim().to_string()
}

/// `prefix` + as many `items` as fit in `max` characters (", "-separated, then `more`) +
/// `suffix`.
fn fit_list(prefix: &str, items: &[String], more: &str, suffix: &str, max: usize) -> String {
    let len = |s: &str| s.chars().count();
    let mut out = prefix.to_string();
    for (i, item) in items.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let rest_needs = if i + 1 < items.len() {
            len(", ") + len(more)
        } else {
            0
        };
        if len(&out) + len(sep) + len(item) + rest_needs + len(suffix) > max {
            out.push_str(if i == 0 { "" } else { ", " });
            out.push_str(more);
            out.push_str(suffix);
            return out;
        }
        out.push_str(sep);
        out.push_str(item);
    }
    out.push_str(suffix);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_list_fits_its_budget_and_says_there_is_more() {
        let items: Vec<String> = (0..30).map(|i| format!("Service number {i}")).collect();
        let text = super::fit_list("We offer: ", &items, "and more", ".", 120);
        assert!(text.chars().count() <= 120, "{text}");
        assert!(text.ends_with(", and more."), "{text}");
        assert!(text.contains("Service number 0") && !text.contains("Service number 29"));
        let few = super::fit_list("We offer: ", &items[..2], "and more", ".", 120);
        assert_eq!(few, "We offer: Service number 0, Service number 1.");
        assert_eq!(
            super::short_service_name("General Pest Control - Quarterly Plan"),
            "General Pest Control"
        );
        assert_eq!(
            super::short_service_name("Ant Treatment (including fire ants)"),
            "Ant Treatment"
        );
    }

    use super::*;
    use crate::agent::model::TurnFacts;

    /// A turn where the customer wrote `text` and `list_services` answered `services`.
    fn after_list(text: &str, services: Value) -> ModelRequest {
        let mut req = turn(
            &[],
            text,
            &[("list_services", json!({ "services": services }))],
        );
        req.facts.identity_level = "anonymous".into();
        req
    }

    fn reply_text(step: ModelStep) -> String {
        match step {
            ModelStep::Reply { text } => text,
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    #[test]
    fn a_service_the_tenant_does_not_sell_is_not_quoted_as_another() {
        let catalog = json!([
            { "code": "ANT", "name": "Ant Treatment", "from_price": "$175.00", "pests": ["ants", "fire ants"], "bookable_by_agent": true },
            { "code": "GPO", "name": "General Pest (one-time)", "from_price": "$149.00", "pests": ["ants", "spiders", "roaches"], "bookable_by_agent": true },
        ]);
        let step = decide(&after_list(
            "how much is mosquito treatment",
            catalog.clone(),
        ));
        let text = reply_text(step);
        assert!(text.contains("don't offer mosquito"), "{text}");
        assert!(!text.contains("$175"), "{text}");
        // A pest it does treat goes on to a quote.
        let step = decide(&after_list("how much for ants", catalog));
        assert!(
            matches!(&step, ModelStep::ToolCalls { calls, .. } if calls[0].name == "quote_price"),
            "{step:?}"
        );
    }

    /// A verified SMS turn: earlier customer messages (oldest first, each answered), the
    /// latest one, and the tools that already ran for it.
    fn turn(earlier: &[&str], text: &str, done: &[(&str, Value)]) -> ModelRequest {
        let mut messages = Vec::new();
        for e in earlier {
            messages.push(ChatMessage::User {
                content: (*e).into(),
            });
            messages.push(ChatMessage::Assistant {
                content: Some("Which works for you?".into()),
                tool_calls: Vec::new(),
            });
        }
        messages.push(ChatMessage::User {
            content: text.into(),
        });
        for (name, result) in done {
            let id = format!("call_{name}");
            messages.push(ChatMessage::Assistant {
                content: None,
                tool_calls: vec![ToolCallRequest {
                    id: id.clone(),
                    name: (*name).into(),
                    arguments: json!({}),
                }],
            });
            messages.push(ChatMessage::Tool {
                call_id: id,
                name: (*name).into(),
                content: result.to_string(),
            });
        }
        ModelRequest {
            system: String::new(),
            messages,
            tools: Vec::new(),
            facts: TurnFacts {
                channel: "sms".into(),
                now_local: "2026-03-02T20:30:00-06:00".into(),
                identity_level: "verified".into(),
                state: json!({}),
                ..TurnFacts::default()
            },
        }
    }

    fn rachels_visit() -> Value {
        json!({ "appointments": [{
            "appointment_id": 1,
            "service": "General Pest",
            "window": "Mon Mar 9, 8 AM-12 PM",
            "window_start": "2026-03-09T08:00:00-05:00",
            "property": "7305 Texas Oaks Dr",
        }]})
    }

    fn first_call(step: &ModelStep) -> (&str, &Value) {
        match step {
            ModelStep::ToolCalls { calls, .. } => (calls[0].name.as_str(), &calls[0].arguments),
            other => panic!("expected a tool call, got {other:?}"),
        }
    }

    #[test]
    fn a_correction_of_the_time_of_day_keeps_the_day() {
        let step = decide(&turn(
            &["can you move my visit to thursday march 12 in the afternoon"],
            "sorry i meant the morning",
            &[("list_appointments", rachels_visit())],
        ));
        let (name, args) = first_call(&step);
        assert_eq!(name, "find_open_windows");
        assert_eq!(args["dates"], json!(["2026-03-12"]));
        assert_eq!(args["part_of_day"], json!("morning"));
    }

    #[test]
    fn a_time_inside_the_notice_is_explained_with_the_earliest_windows() {
        let asked = json!({
            "windows": [{ "slot_id": 7, "window": "Tue Mar 3, 12 PM-4 PM", "start": "2026-03-03T12:00:00-06:00" }],
            "allowed_range": { "earliest": "2026-03-03T08:30:00-06:00", "latest": "2026-03-31T00:00:00-05:00" },
            "requested_outside_policy": false,
        });
        // Tomorrow at 8 is before the earliest allowed 8:30: search without the time.
        let done = [
            ("list_appointments", rachels_visit()),
            ("find_open_windows", asked.clone()),
        ];
        let step = decide(&turn(&[], "can u move it to tomorrow at 8am", &done));
        let (name, args) = first_call(&step);
        assert_eq!(name, "find_open_windows");
        assert!(args.get("dates").is_none(), "{args}");
        let done = [
            ("list_appointments", rachels_visit()),
            ("find_open_windows", asked.clone()),
            ("find_open_windows", asked),
        ];
        let step = decide(&turn(&[], "can u move it to tomorrow at 8am", &done));
        let text = reply_text(step);
        assert!(text.contains("12 hours' notice"), "{text}");
        assert!(text.contains("1) Tue Mar 3, 12 PM-4 PM"), "{text}");
    }

    #[test]
    fn something_not_in_the_catalog_is_said_not_to_be_offered() {
        let catalog = json!([
            { "code": "ANT", "name": "Ant Treatment", "from_price": "$175.00", "pests": ["fire ants"], "bookable_by_agent": true },
            { "code": "WASP", "name": "Wasp Nest Removal", "from_price": "$149.00", "pests": ["paper wasps"], "bookable_by_agent": true },
        ]);
        let step = decide(&after_list(
            "do you guys do gopher removal? how much",
            catalog.clone(),
        ));
        let text = reply_text(step);
        assert!(text.contains("don't offer gopher removal"), "{text}");
        assert!(!text.contains("Ant Treatment"), "{text}");
        assert!(!text.contains("Wasp"), "{text}");
    }

    #[test]
    fn a_service_for_just_that_pest_is_quoted_before_a_general_one() {
        let catalog = json!([
            { "code": "GPO", "name": "General Pest (one-time)", "from_price": "$149.00", "pests": ["ants", "cockroaches", "spiders"], "bookable_by_agent": true },
            { "code": "ROACH", "name": "Cockroach Clean-Out", "from_price": "$225.00", "pests": ["German cockroaches", "American cockroaches"], "bookable_by_agent": true },
        ]);
        let step = decide(&after_list("price for roach treatment?", catalog));
        let (name, args) = first_call(&step);
        assert_eq!(name, "quote_price");
        assert_eq!(args["service_code"], json!("ROACH"));
    }

    #[test]
    fn windows_are_read_aloud_naturally() {
        assert_eq!(
            spoken_label("Tue Mar 10, 12 PM–4 PM"),
            "Tuesday March 10, between noon and 4 PM"
        );
        assert_eq!(
            spoken_label("Wed Mar 4, 8 AM–12 PM"),
            "Wednesday March 4, between 8 AM and noon"
        );
        assert_eq!(spoken_label("soon"), "soon");
        assert_eq!(
            spoken_label("Tue Mar 10, 12 PM-4 PM"),
            "Tuesday March 10, between noon and 4 PM"
        );
    }
}
