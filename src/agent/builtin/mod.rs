//! The built-in model's understanding of a customer message: pure functions from text and the
//! tenant's local clock to what the customer wants, when, about which pests, who they say they
//! are, and whether they agreed to what was proposed. No IO, no store, deterministic: the same
//! text and clock always give the same reading, which is what makes it the evals' baseline.
//!
//! The pipeline: secrets (card numbers, security codes) and email addresses are lifted out of
//! the text first, so their digits are never read as dates or addresses; the rest is
//! normalised into tokens (`normalize`), then read independently for pests, dates and times,
//! identity facts, intents and yes/no.

mod identity;
mod intent;
mod normalize;
mod pests;
mod phrase;
mod secrets;
pub mod spanish;
mod when;
mod yesno;

#[cfg(test)]
mod tests;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

pub use identity::AppointmentRef;
pub use intent::Intent;
pub use normalize::{fold, normalized};
pub use pests::Pest;
pub use secrets::{has_card, luhn_valid, mask_json, mask_secrets};
pub use when::{DayPart, WhenSpec};

/// Only this many characters of a message are read; SMS segments and chat messages are far
/// shorter, and the bound keeps the worst case cheap.
pub const MAX_CHARS: usize = 4000;

/// The language a message is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    #[default]
    En,
    Es,
}

impl Lang {
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Es => "es",
        }
    }
}

/// What the reading may depend on besides the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    /// The tenant's local wall-clock time when the message arrived.
    pub now_local: NaiveDateTime,
}

impl Context {
    pub fn new(now_local: NaiveDateTime) -> Self {
        Self { now_local }
    }
}

/// Everything the built-in model reads from one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Understanding {
    pub language: Lang,
    /// In the order mentioned; `[Unknown]` when nothing was asked for (the other fields may
    /// still carry an answer, a date or an identity fact).
    pub intents: Vec<Intent>,
    /// Agreement to or refusal of what the agent proposed (see `yesno` for what counts).
    pub yes_no: Option<bool>,
    /// The reply agrees or refuses and proposes something else ("yes but thursday instead");
    /// `yes_no` is then `None` and the alternative is in `when`.
    pub counter_proposal: bool,
    pub when: Option<WhenSpec>,
    pub pests: Vec<Pest>,
    /// Something asked to be treated that is not a known pest: "gopher removal".
    #[serde(default)]
    pub target: Option<String>,
    pub street_number: Option<String>,
    /// Five digits.
    pub zip: Option<String>,
    /// Lowercase words of the street name, without the suffix ("oak", "hollow").
    pub street_words: Vec<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    /// A pick among items the agent listed, or the appointment the customer refers to.
    pub appointment_ref: Option<AppointmentRef>,
    /// The same words gave both `appointment_ref` (an `Ordinal`) and a date in `when`
    /// ("the 2nd"). If the agent's last message offered a list with at least that many
    /// entries, read it as the pick and ignore `when`; otherwise read the date and ignore
    /// `appointment_ref`.
    pub ordinal_is_also_date: bool,
    /// The message holds something that looks like a payment card number.
    pub card_like: bool,
}

impl Understanding {
    /// Whether the customer asked for this.
    pub fn has(&self, intent: Intent) -> bool {
        self.intents.contains(&intent)
    }

    /// The first thing asked for that is not a greeting, thanks or goodbye, if any.
    pub fn primary(&self) -> Intent {
        self.intents
            .iter()
            .copied()
            .find(|i| !i.is_social())
            .unwrap_or(Intent::Unknown)
    }

    /// One line for debugging and eval transcripts.
    pub fn describe(&self) -> String {
        let intents: Vec<&str> = self.intents.iter().map(|i| i.as_str()).collect();
        let mut out = format!(
            "lang={} intents=[{}]",
            self.language.as_str(),
            intents.join(",")
        );
        match self.yes_no {
            Some(true) => out.push_str(" yes"),
            Some(false) => out.push_str(" no"),
            None => {}
        }
        if self.counter_proposal {
            out.push_str(" counter");
        }
        if let Some(w) = &self.when {
            out.push_str(&format!(" when={{{}}}", w.describe()));
        }
        if !self.pests.is_empty() {
            let ps: Vec<&str> = self.pests.iter().map(|p| p.as_str()).collect();
            out.push_str(&format!(" pests=[{}]", ps.join(",")));
        }
        if let Some(t) = &self.target {
            out.push_str(&format!(" target=\"{t}\""));
        }
        if let Some(n) = &self.street_number {
            out.push_str(&format!(" street_number={n}"));
        }
        if !self.street_words.is_empty() {
            out.push_str(&format!(" street=\"{}\"", self.street_words.join(" ")));
        }
        if let Some(z) = &self.zip {
            out.push_str(&format!(" zip={z}"));
        }
        if let Some(n) = &self.name {
            out.push_str(&format!(" name=\"{n}\""));
        }
        if let Some(e) = &self.email {
            out.push_str(&format!(" email={e}"));
        }
        if let Some(r) = &self.appointment_ref {
            out.push_str(&format!(" ref={}", r.describe()));
            if self.ordinal_is_also_date {
                out.push_str("(or date)");
            }
        }
        if self.card_like {
            out.push_str(" card");
        }
        out
    }
}

const SPANISH: &[&str] = &[
    "hola",
    "gracias",
    "quiero",
    "necesito",
    "cita",
    "citas",
    "manana",
    "hoy",
    "por",
    "favor",
    "para",
    "el",
    "la",
    "los",
    "las",
    "de",
    "del",
    "que",
    "mi",
    "mis",
    "tengo",
    "hay",
    "cuanto",
    "cuanta",
    "cuesta",
    "puede",
    "pueden",
    "puedo",
    "usted",
    "buenos",
    "buenas",
    "dias",
    "tardes",
    "noches",
    "semana",
    "proxima",
    "proximo",
    "cancelar",
    "servicio",
    "con",
    "una",
    "es",
    "esta",
    "estoy",
    "soy",
    "llamo",
    "nombre",
    "casa",
    "ayuda",
    "hablar",
    "persona",
    "humano",
    "operador",
    "cuando",
    "donde",
    "porque",
    "pero",
    "tambien",
    "bien",
    "claro",
    "dale",
    "acuerdo",
    "precio",
    "cobro",
    "factura",
    "saldo",
    "lunes",
    "martes",
    "miercoles",
    "jueves",
    "viernes",
    "sabado",
    "domingo",
    "hormigas",
    "cucarachas",
    "ratones",
    "chinches",
    "avispas",
    "termitas",
    "si",
    "tarde",
    "noche",
    "en",
    "un",
    "tiene",
    "tienen",
    "vienen",
    "viene",
    "mas",
    "muy",
    "ya",
    "aqui",
    "quisiera",
    "podrian",
    "podria",
    "cambiar",
    "reprogramar",
    "fumigacion",
    "fumigar",
    "tecnico",
    "perfecto",
    "vale",
    "listo",
    "bueno",
    "senor",
    "senora",
    "nos",
    "lo",
    "se",
    "cobraron",
    "debo",
    "alguien",
    "abren",
    "horario",
];

const ENGLISH: &[&str] = &[
    "the",
    "my",
    "i",
    "you",
    "is",
    "are",
    "to",
    "and",
    "can",
    "please",
    "what",
    "when",
    "how",
    "need",
    "want",
    "have",
    "appointment",
    "tomorrow",
    "thanks",
    "yes",
    "it",
    "do",
    "for",
    "on",
    "of",
    "this",
    "that",
    "with",
    "be",
    "there",
    "hi",
    "hello",
    "hey",
    "would",
    "could",
    "just",
    "your",
    "we",
    "our",
    "get",
    "about",
    "im",
    "dont",
    "cant",
    "will",
    "at",
    "in",
    "tonight",
    "morning",
    "service",
    "price",
    "much",
    "next",
    "week",
    "thank",
    "yeah",
    "sure",
    "nope",
    "move",
    "cancel",
    "bill",
    "tech",
    "coming",
    "anyone",
    "someone",
    "does",
    "did",
    "was",
];

/// Words shared with English texting ("ya", "no") or too short to tell a language by: on
/// their own they never make a message Spanish.
const WEAK_SPANISH: &[&str] = &["ya", "en", "un", "lo", "mas", "nos"];

fn detect_language(text: &str, toks: &[normalize::Token]) -> Lang {
    let mut es = 0usize;
    let mut en = 0usize;
    let mut strong = 0usize;
    for t in toks {
        if SPANISH.contains(&t.folded.as_str()) {
            es += 1;
            if !WEAK_SPANISH.contains(&t.folded.as_str()) {
                strong += 1;
            }
        }
        if ENGLISH.contains(&t.norm.as_str()) {
            en += 1;
        }
    }
    if strong == 0 {
        es = 0;
    }
    es += 2 * text
        .chars()
        .filter(|c| matches!(c, '¿' | '¡' | 'ñ' | 'Ñ'))
        .count()
        .min(2);
    if es > en {
        Lang::Es
    } else {
        Lang::En
    }
}

/// The longest prefix of `text` with at most `max` characters.
fn prefix_chars(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

/// A ZIP code read out digit by digit, as speech recognition writes it: "seven eight seven
/// five six", "7 8 7 5 6", "seven eight seven oh four". Exactly five digits in a row.
fn spoken_zip(toks: &[normalize::Token]) -> Option<String> {
    // (digit, heard as a homophone: "for", "to", "ate", "won")
    let digit = |t: &normalize::Token| -> Option<(char, bool)> {
        Some(match t.norm.as_str() {
            "zero" | "oh" | "o" => ('0', false),
            "one" => ('1', false),
            "two" => ('2', false),
            "three" => ('3', false),
            "four" => ('4', false),
            "five" => ('5', false),
            "six" => ('6', false),
            "seven" => ('7', false),
            "eight" => ('8', false),
            "nine" => ('9', false),
            "won" => ('1', true),
            "to" | "too" => ('2', true),
            "for" | "fore" => ('4', true),
            "ate" => ('8', true),
            w if w.len() == 1 && w.chars().all(|c| c.is_ascii_digit()) => {
                (w.chars().next()?, false)
            }
            _ => return None,
        })
    };
    let mut runs: Vec<Vec<(char, bool)>> = vec![Vec::new()];
    for t in toks {
        if t.norm == "," || t.norm == "-" {
            continue;
        }
        match digit(t) {
            Some(c) => runs.last_mut().expect("one run at least").push(c),
            None => runs.push(Vec::new()),
        }
    }
    runs.into_iter().find_map(|mut r| {
        // A homophone at either end belongs to the sentence ("move to 7 8 7 4 8").
        while r.len() > 5 && r.first().is_some_and(|c| c.1) {
            r.remove(0);
        }
        while r.len() > 5 && r.last().is_some_and(|c| c.1) {
            r.pop();
        }
        // Homophones alone are words; "oh" alone is not a digit: a run needs real digits.
        let real = r.iter().filter(|c| !c.1).count();
        (r.len() == 5 && real >= 3 && r.iter().any(|c| c.0 != '0'))
            .then(|| r.iter().map(|c| c.0).collect())
    })
}

/// Read one customer message.
pub fn understand(text: &str, ctx: &Context) -> Understanding {
    let text = prefix_chars(text, MAX_CHARS);
    // Card numbers and security codes are never read as anything else.
    let spans = secrets::find_secrets(text);
    let card_like = spans
        .iter()
        .any(|s| matches!(s.kind, secrets::SecretKind::Card { .. }));
    let mut analysis = secrets::replace_secrets(text, |_| " ".to_string());
    let email = identity::find_email(&analysis).map(|(email, start, end)| {
        analysis.replace_range(start..end, " ");
        email
    });

    let toks = normalize::tokenize(&analysis);
    let language = detect_language(&analysis, &toks);
    let pests_found = pests::find(&toks);
    let when = when::parse(&toks, ctx.now_local, language);
    let mut facts = identity::read(&toks, &when.consumed, when.existing, when.bare_ordinal);
    if facts.zip.is_none() {
        facts.zip = spoken_zip(&toks);
    }
    let mut intents = intent::detect(&toks, &pests_found);
    // A move counted from the visit ("can we do a week later", "be a day later") is a
    // reschedule whether or not a move verb was used.
    if when.spec.as_ref().is_some_and(|w| w.shift_days.is_some())
        && !intents.contains(&Intent::Reschedule)
        && intents
            .iter()
            .all(|i| i.is_social() || matches!(i, Intent::Unknown | Intent::Book))
    {
        intents.retain(|i| i.is_social());
        intents.push(Intent::Reschedule);
    }
    let answer = yesno::read(&toks, when.spec.is_some());

    let ordinal_is_also_date = matches!(
        (when.bare_ordinal, &facts.appointment_ref),
        (Some(k), Some(AppointmentRef::Ordinal(n))) if k == *n
    ) && when.spec.as_ref().is_some_and(|w| !w.dates.is_empty());

    Understanding {
        language,
        intents,
        yes_no: answer.yes_no,
        counter_proposal: answer.counter,
        when: when.spec,
        target: if pests_found.is_empty() {
            pests::unknown_target(&toks)
        } else {
            None
        },
        pests: pests_found.into_iter().map(|(p, _)| p).collect(),
        street_number: facts.street_number,
        zip: facts.zip,
        street_words: facts.street_words,
        name: facts.name,
        email,
        appointment_ref: facts.appointment_ref,
        ordinal_is_also_date,
        card_like,
    }
}
