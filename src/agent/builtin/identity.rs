//! Facts a customer volunteers about who they are (name, email, service street number and
//! name, zip) and which of several offered items they pick ("the first one", "#2", "the one on
//! oak hollow").
//!
//! A lone number ("4512", "75001", "2") is every slot it can be — street number (1–6 digits),
//! zip (5 digits), pick from a list (1–9) — because only the caller knows what it just asked.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::normalize::{is_keyword, Token, TokenKind};
use super::pests::is_pest_word;

/// Which of several items the customer picked: appointments, properties or offered windows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum AppointmentRef {
    /// 1-based position in the list the agent offered: "the first one", "#2", "option 3".
    Ordinal(u8),
    /// "the last one".
    Last,
    /// Street words of the property: "the one on oak hollow" → `["oak", "hollow"]`.
    Street(Vec<String>),
    /// The date of the appointment: "the one on friday", "my friday appointment".
    Date(NaiveDate),
}

impl AppointmentRef {
    pub fn describe(&self) -> String {
        match self {
            AppointmentRef::Ordinal(n) => format!("#{n}"),
            AppointmentRef::Last => "last".to_string(),
            AppointmentRef::Street(w) => format!("street \"{}\"", w.join(" ")),
            AppointmentRef::Date(d) => format!("date {d}"),
        }
    }
}

/// Identity facts found in a message.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Facts {
    pub street_number: Option<String>,
    pub zip: Option<String>,
    pub street_words: Vec<String>,
    pub name: Option<String>,
    pub appointment_ref: Option<AppointmentRef>,
}

const STREET_SUFFIXES: &[&str] = &[
    "st",
    "street",
    "dr",
    "drive",
    "ave",
    "av",
    "avenue",
    "rd",
    "road",
    "ln",
    "lane",
    "ct",
    "court",
    "blvd",
    "boulevard",
    "way",
    "pl",
    "place",
    "cir",
    "circle",
    "trl",
    "trail",
    "pkwy",
    "parkway",
    "hwy",
    "highway",
    "loop",
    "ter",
    "terrace",
    "cv",
    "cove",
    "run",
    "path",
    "row",
    "sq",
    "square",
    "xing",
    "crossing",
    "pt",
    "point",
    "bnd",
    "bend",
    "holw",
    "pass",
    "pike",
    "calle",
    "avenida",
    "camino",
];

/// Words that are never part of a name or a street name.
const COMMON: &[&str] = &[
    "a",
    "an",
    "the",
    "and",
    "or",
    "but",
    "is",
    "are",
    "was",
    "be",
    "am",
    "i",
    "im",
    "me",
    "my",
    "you",
    "your",
    "we",
    "our",
    "us",
    "it",
    "its",
    "this",
    "that",
    "these",
    "those",
    "there",
    "here",
    "at",
    "on",
    "in",
    "of",
    "for",
    "from",
    "to",
    "with",
    "by",
    "about",
    "regarding",
    "re",
    "as",
    "so",
    "very",
    "really",
    "just",
    "also",
    "not",
    "no",
    "yes",
    "ok",
    "please",
    "thanks",
    "thank",
    "hi",
    "hello",
    "hey",
    "calling",
    "texting",
    "writing",
    "looking",
    "trying",
    "wondering",
    "having",
    "getting",
    "going",
    "still",
    "again",
    "now",
    "today",
    "tomorrow",
    "tonight",
    "soon",
    "sorry",
    "sure",
    "fine",
    "good",
    "great",
    "glad",
    "happy",
    "new",
    "old",
    "customer",
    "client",
    "owner",
    "tenant",
    "homeowner",
    "landlord",
    "manager",
    "wife",
    "husband",
    "mom",
    "dad",
    "son",
    "daughter",
    "mother",
    "father",
    "neighbor",
    "urgent",
    "important",
    "ridiculous",
    "crazy",
    "terrible",
    "awful",
    "unacceptable",
    "frustrating",
    "annoying",
    "insane",
    "wrong",
    "correct",
    "right",
    "late",
    "early",
    "available",
    "home",
    "out",
    "back",
    "done",
    "interested",
    "confused",
    "worried",
    "concerned",
    "upset",
    "angry",
    "allergic",
    "stung",
    "bitten",
    "who",
    "what",
    "when",
    "where",
    "why",
    "how",
    "which",
    "again",
    "regards",
    "best",
    "cheers",
    "appointment",
    "service",
    "invoice",
    "account",
    "address",
    "zip",
    "code",
    "number",
    "phone",
    "email",
    "name",
    "call",
    "text",
    "message",
    "need",
    "want",
    "would",
    "like",
    "can",
    "could",
    "will",
    "should",
    "have",
    "has",
    "had",
    "do",
    "does",
    "did",
    "get",
    "got",
    "one",
    "some",
    "any",
    "all",
    "every",
    "each",
    "house",
    "apartment",
    "apt",
    "unit",
    "suite",
    "ants",
    "roaches",
    "mice",
    "rats",
    "bugs",
    "pests",
    "dollars",
    "bucks",
    "sq",
    "ft",
    "feet",
    "square",
    "acres",
    "acre",
    "minutes",
    "hours",
    "days",
    "weeks",
    "months",
    "years",
    "times",
    "people",
    "kids",
    "dogs",
    "cats",
    "pets",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "de",
    "del",
    "la",
    "el",
    "los",
    "las",
    "un",
    "una",
    "y",
    "o",
    "que",
    "en",
    "con",
    "por",
    "para",
    "mi",
    "su",
    "soy",
    "es",
    "esta",
    "estoy",
    "cliente",
    "nuevo",
    "nueva",
    "yo",
    "muy",
    "aqui",
    "llamando",
    "hola",
    "gracias",
    "buenos",
    "buenas",
    "necesito",
    "quiero",
    "tengo",
    "the",
    "only",
    "same",
    "other",
    "another",
    "first",
    "second",
    "last",
    "next",
    "before",
    "after",
    "then",
    "than",
    "because",
    "if",
    "until",
    "while",
    "since",
    "over",
    "under",
    "near",
    "across",
    "behind",
    "outside",
    "inside",
    "upstairs",
    "downstairs",
    "around",
    "street",
    "called",
    "named",
    "someone",
    "somebody",
    "anyone",
    "nobody",
    "everyone",
    "exterminator",
    "tech",
    "technician",
    "pest",
    "control",
    "company",
    "office",
    "team",
    "agent",
    "human",
    "person",
    "bot",
    "robot",
    "ai",
    "reschedule",
    "cancel",
    "move",
    "book",
    "schedule",
    "asking",
    "following",
    "checking",
    "confirming",
    "reaching",
    "responding",
    "replying",
];

fn is_common(w: &str) -> bool {
    COMMON.contains(&w)
}

fn name_like(t: &Token) -> bool {
    t.kind == TokenKind::Word
        && t.folded.chars().count() >= 2
        && t.folded.chars().all(char::is_alphabetic)
        && !is_common(&t.folded)
        && !is_common(&t.norm)
        && !is_pest_word(&t.norm)
}

/// A word that can be part of a street name: a name, and not one of the model's keywords.
fn street_like(t: &Token) -> bool {
    name_like(t) && !is_keyword(&t.norm) && !is_keyword(&t.folded)
}

fn capitalised(t: &Token) -> bool {
    t.raw.chars().next().is_some_and(char::is_uppercase)
}

/// "john" → "John", "MARIA" → "Maria", "O'Brien" stays.
fn title_case(raw: &str) -> String {
    let all_lower = !raw.chars().any(char::is_uppercase);
    let all_upper = !raw.chars().any(char::is_lowercase);
    if !(all_lower || all_upper) {
        return raw.to_string();
    }
    let mut out = String::with_capacity(raw.len());
    let mut start = true;
    for c in raw.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.extend(c.to_lowercase());
        }
        start = !c.is_alphabetic();
    }
    out
}

/// The first email address in the text, lowercased, with its byte range.
pub(crate) fn find_email(text: &str) -> Option<(String, usize, usize)> {
    let mut offset = 0;
    for chunk in text.split_inclusive(char::is_whitespace) {
        let start_of_chunk = offset;
        offset += chunk.len();
        let trimmed_start = chunk.trim_start_matches(|c: char| !c.is_alphanumeric());
        let lead = chunk.len() - trimmed_start.len();
        let core = trimmed_start.trim_end_matches(|c: char| !c.is_alphanumeric());
        let Some(at) = core.find('@') else { continue };
        let (local, domain) = (&core[..at], &core[at + 1..]);
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._%+-".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels
                .iter()
                .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
            && labels
                .last()
                .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()));
        if local_ok && domain_ok {
            let s = start_of_chunk + lead;
            return Some((core.to_ascii_lowercase(), s, s + core.len()));
        }
    }
    None
}

struct Reader<'a> {
    toks: &'a [Token],
    consumed: &'a [bool],
    facts: Facts,
}

impl<'a> Reader<'a> {
    fn w(&self, i: usize) -> &'a str {
        self.toks.get(i).map_or("", |t| t.norm.as_str())
    }

    fn free_number(&self, i: usize) -> Option<&'a Token> {
        let t = self.toks.get(i)?;
        (t.kind == TokenKind::Number && !self.consumed.get(i).copied().unwrap_or(true)).then_some(t)
    }

    fn at_end(&self, i: usize) -> bool {
        self.toks.get(i).is_none_or(Token::is_clause_break)
    }

    /// Street name words starting at `i`: up to four name-like words, ending at a street
    /// suffix (dropped) or, when `open_end`, at the end of the clause or a zip.
    fn street_words(&self, i: usize, open_end: bool) -> Option<(Vec<String>, usize)> {
        let mut words = Vec::new();
        let mut j = i;
        while j < self.toks.len() && words.len() < 5 {
            let t = &self.toks[j];
            // "Avenue F", "Ave B": a lettered avenue is a whole street name.
            if words.is_empty() && matches!(t.folded.as_str(), "avenue" | "ave") {
                if let Some(letter) = self.toks.get(j + 1).filter(|l| {
                    l.kind == TokenKind::Word
                        && l.folded.chars().count() == 1
                        && l.folded.chars().all(|c| c.is_ascii_alphabetic())
                }) {
                    return Some((vec!["avenue".to_string(), letter.folded.clone()], j + 2));
                }
            }
            if t.kind == TokenKind::Word
                && STREET_SUFFIXES.contains(&t.folded.as_str())
                && !words.is_empty()
            {
                // "Oak Hollow Dr." – the suffix ends the street.
                let mut end = j + 1;
                if self.w(end) == "." && self.toks.get(end).is_some_and(|p| p.glued) {
                    end += 1;
                }
                return Some((words, end));
            }
            // "5th ave": a number with its ordinal suffix is a street word.
            if t.kind == TokenKind::Number
                && self.toks.get(j + 1).is_some_and(|s| {
                    s.glued && matches!(s.norm.as_str(), "st" | "nd" | "rd" | "th")
                })
            {
                words.push(format!("{}{}", t.norm, self.w(j + 1)));
                j += 2;
                continue;
            }
            let direction = matches!(
                t.folded.as_str(),
                "n" | "s" | "e" | "w" | "ne" | "nw" | "se" | "sw"
            );
            if !(street_like(t) || direction) {
                break;
            }
            words.push(t.folded.clone());
            j += 1;
        }
        let closed = self.at_end(j)
            || self.free_number(j).is_some_and(|t| t.norm.len() == 5)
            || matches!(self.w(j), "and" | "in" | "y" | "en");
        (open_end && !words.is_empty() && closed && words.len() <= 4).then_some((words, j))
    }

    fn run(&mut self, when_existing: Option<NaiveDate>, bare_ordinal: Option<u8>) {
        self.street();
        self.zip();
        self.name();
        self.pick(when_existing, bare_ordinal);
        self.lone_number();
    }

    fn street(&mut self) {
        for i in 0..self.toks.len() {
            let Some(num) = self.free_number(i) else {
                continue;
            };
            if num.norm.len() > 6 || self.facts.street_number.is_some() {
                continue;
            }
            // Skip a unit letter glued to the number ("12B").
            let mut j = i + 1;
            if self
                .toks
                .get(j)
                .is_some_and(|t| t.glued && t.kind == TokenKind::Word && t.norm.len() == 1)
            {
                j += 1;
            }
            let before = if i > 0 { self.w(i - 1) } else { "" };
            let before2 = if i > 1 { self.w(i - 2) } else { "" };
            let cued = match before {
                "is" => matches!(before2, "address" | "number" | "direccion"),
                "at" | "address" | "en" | "es" | "numero" | "live" => true,
                _ => false,
            };
            // With a street suffix the number is a street number whatever its length.
            // Without one: a cue ("live at", "address is") or 3+ digits followed by a name
            // that runs to the end of the clause.
            let street = self.street_words(j, false).or_else(|| {
                (cued || num.norm.len() >= 3)
                    .then(|| self.street_words(j, true))
                    .flatten()
            });
            if let Some((words, _)) = street {
                self.facts.street_number = Some(num.norm.clone());
                self.facts.street_words = words;
                continue;
            }
            if cued && num.norm.len() != 5 && self.at_end(j) {
                self.facts.street_number = Some(num.norm.clone());
            }
        }
        // "I live on Oak Hollow Drive", "la calle Oak", "the Oak Street property": street
        // words without a number, after "on" or capitalised.
        if self.facts.street_words.is_empty() {
            for i in 0..self.toks.len() {
                let after_on = i > 0 && matches!(self.w(i - 1), "on" | "calle" | "at");
                let capital = self.toks[i]
                    .raw
                    .chars()
                    .next()
                    .is_some_and(char::is_uppercase);
                if after_on || capital {
                    if let Some((words, _)) = self.street_words(i, false) {
                        self.facts.street_words = words;
                        break;
                    }
                }
            }
        }
    }

    fn zip(&mut self) {
        let mut found: Option<String> = None;
        for i in 0..self.toks.len() {
            let Some(t) = self.free_number(i) else {
                continue;
            };
            if t.norm.len() != 5 || self.facts.street_number.as_deref() == Some(t.norm.as_str()) {
                continue;
            }
            // Glued to letters or other digits means it is part of something else ("A12345").
            if t.glued
                && self
                    .toks
                    .get(i.wrapping_sub(1))
                    .is_some_and(|p| p.kind != TokenKind::Punct)
            {
                continue;
            }
            let cued = (1..=3).any(|back| {
                i.checked_sub(back)
                    .is_some_and(|j| matches!(self.w(j), "zip" | "zipcode" | "postal" | "cp"))
            });
            if cued {
                found = Some(t.norm.clone());
                break;
            }
            found = Some(t.norm.clone());
        }
        self.facts.zip = found;
    }

    fn name(&mut self) {
        let n = self.toks.len();
        for i in 0..n {
            let (a, b, c) = (self.w(i), self.w(i + 1), self.w(i + 2));
            // (trigger length, whether lowercase names are accepted)
            let trigger = match (a, b, c) {
                ("my", "name", "is") | ("mi", "nombre", "es") => Some((3, true)),
                ("name", "is" | ":", _) | ("me", "llamo", _) | ("names", ..) => Some((2, true)),
                ("this", "is", _) | ("le", "habla", _) => Some((2, self.all_lowercase())),
                ("soy", ..) | ("habla", ..) => Some((1, true)),
                ("im", ..) | ("its", ..) => Some((1, false)),
                ("i", "am", _) => Some((2, false)),
                _ => None,
            };
            let Some((len, lower_ok)) = trigger else {
                continue;
            };
            let mut words = Vec::new();
            let mut j = i + len;
            while j < n && words.len() < 3 {
                let t = &self.toks[j];
                // "this is taking forever": a lowercase verb is no name.
                let verb_like = !capitalised(t) && t.folded.ends_with("ing");
                if !name_like(t) || !(lower_ok || capitalised(t)) || verb_like {
                    break;
                }
                words.push(title_case(&t.raw));
                j += 1;
            }
            if !words.is_empty() {
                self.facts.name = Some(words.join(" "));
                return;
            }
        }
        // "Rachel Kim, 7305 Oak Dr, 78748": a message that opens with two or three
        // capitalised name words, then a comma or a number, opens with a name.
        let mut words = Vec::new();
        let mut j = 0;
        while j < n && words.len() < 3 {
            let t = &self.toks[j];
            if !name_like(t)
                || !capitalised(t)
                || STREET_SUFFIXES.contains(&t.folded.as_str())
                || self.consumed.get(j).copied().unwrap_or(false)
            {
                break;
            }
            words.push(title_case(&t.raw));
            j += 1;
        }
        let followed_by_details = self.w(j) == "," || self.free_number(j).is_some();
        if words.len() >= 2 && followed_by_details {
            self.facts.name = Some(words.join(" "));
        }
    }

    /// Written without capitals (the pronoun "I" aside: phones capitalise it on their own).
    fn all_lowercase(&self) -> bool {
        !self.toks.iter().any(|t| {
            t.raw.chars().any(char::is_uppercase)
                && !matches!(t.folded.as_str(), "i" | "im" | "id" | "ive" | "ill")
        })
    }

    fn ordinal_at(&self, i: usize) -> Option<(u8, usize)> {
        let w = self.w(i);
        let word = match w {
            "first" | "1st" | "primero" | "primera" | "primer" => Some(1),
            "second" | "segundo" | "segunda" => Some(2),
            "third" | "tercero" | "tercera" | "tercer" => Some(3),
            "fourth" | "cuarta" => Some(4),
            "fifth" | "quinto" | "quinta" => Some(5),
            _ => None,
        };
        if let Some(n) = word {
            return Some((n, 1));
        }
        let t = self.toks.get(i)?;
        let n = t.number()?;
        let suffix = self.toks.get(i + 1)?;
        if suffix.glued
            && matches!(
                suffix.norm.as_str(),
                "st" | "nd" | "rd" | "th" | "o" | "ro" | "do"
            )
            && (1..=20).contains(&n)
        {
            return Some((n as u8, 2));
        }
        None
    }

    fn pick(&mut self, when_existing: Option<NaiveDate>, bare_ordinal: Option<u8>) {
        const ITEM: &[&str] = &[
            "one",
            "option",
            "choice",
            "appointment",
            "address",
            "property",
            "house",
            "slot",
            "window",
            "uno",
            "una",
            "opcion",
            "cita",
            "location",
            "place",
        ];
        let n = self.toks.len();
        for i in 0..n {
            let (a, b) = (self.w(i), self.w(i + 1));
            // "#2", "number 2", "option 3", "opción 2".
            if matches!(
                a,
                "#" | "option" | "opcion" | "choice" | "numero" | "number" | "no"
            ) {
                if let Some(t) = self.toks.get(i + 1).filter(|t| t.kind == TokenKind::Number) {
                    let glued_ok = a != "#" || t.glued;
                    let no_ok = a != "no" || self.w(i + 1) == ".";
                    if let Some(k) = t.number().filter(|k| (1..=20).contains(k)) {
                        if glued_ok && no_ok && (a != "number" || self.at_end(i + 2)) {
                            self.facts.appointment_ref = Some(AppointmentRef::Ordinal(k as u8));
                            return;
                        }
                    }
                }
            }
            // "the last one", "el último".
            if (a == "last" && ITEM.contains(&b))
                || (a == "the" && b == "last" && self.at_end(i + 2))
                || (matches!(a, "el" | "la") && matches!(b, "ultimo" | "ultima"))
                || (a == "the" && b == "latter")
            {
                self.facts.appointment_ref = Some(AppointmentRef::Last);
                return;
            }
            // "the first one", "2nd option", "the second", "la primera".
            if let Some((k, len)) = self.ordinal_at(i) {
                let after = self.w(i + len);
                let before = if i > 0 { self.w(i - 1) } else { "" };
                let picked = ITEM.contains(&after)
                    || (matches!(before, "the" | "el" | "la") && self.at_end(i + len) && len == 1);
                if picked {
                    self.facts.appointment_ref = Some(AppointmentRef::Ordinal(k));
                    return;
                }
            }
            // "the one on oak hollow", "the one at 123 main", "el de la calle oak".
            let one_on = (a == "one" && matches!(b, "on" | "at" | "in" | "for"))
                || (matches!(a, "el" | "la") && b == "de");
            if one_on {
                let mut j = i + 2;
                while matches!(self.w(j), "the" | "la" | "calle") {
                    j += 1;
                }
                if self.free_number(j).is_some() {
                    j += 1;
                }
                if let Some((words, _)) = self
                    .street_words(j, true)
                    .or_else(|| self.street_words(j, false))
                {
                    if self.facts.street_words.is_empty() {
                        self.facts.street_words = words.clone();
                    }
                    self.facts.appointment_ref = Some(AppointmentRef::Street(words));
                    return;
                }
            }
            // "the oak hollow one", "the Oak Street property", "the tillery st service".
            if a == "the" {
                let mut j = i + 1;
                let mut words = Vec::new();
                while j < n
                    && words.len() < 3
                    && street_like(&self.toks[j])
                    && (words.is_empty() || !STREET_SUFFIXES.contains(&self.w(j)))
                {
                    words.push(self.toks[j].folded.clone());
                    j += 1;
                }
                let suffix = STREET_SUFFIXES.contains(&self.w(j));
                if suffix {
                    j += 1;
                }
                let item = matches!(
                    self.w(j),
                    "one" | "property" | "house" | "address" | "place" | "location" | "home"
                );
                // A visit named by its street needs the suffix ("the westgate blvd visit"):
                // "the quarterly service" names no street.
                let visit = suffix
                    && matches!(
                        self.w(j),
                        "service"
                            | "visit"
                            | "visits"
                            | "appointment"
                            | "treatment"
                            | "spray"
                            | "inspection"
                    );
                if !words.is_empty()
                    && (item || visit)
                    && !self.consumed.get(i + 1).copied().unwrap_or(false)
                {
                    if visit && self.facts.street_words.is_empty() {
                        self.facts.street_words = words.clone();
                    }
                    self.facts.appointment_ref = Some(AppointmentRef::Street(words));
                    return;
                }
            }
        }
        if let Some(d) = when_existing {
            self.facts.appointment_ref = Some(AppointmentRef::Date(d));
            return;
        }
        if let Some(k) = bare_ordinal {
            self.facts.appointment_ref = Some(AppointmentRef::Ordinal(k));
            return;
        }
        // A reply that is only an ordinal word: "first", "the second please".
        let words: Vec<&str> = self
            .toks
            .iter()
            .filter(|t| t.kind == TokenKind::Word)
            .map(|t| t.norm.as_str())
            .filter(|w| {
                !matches!(
                    *w,
                    "the" | "one" | "please" | "el" | "la" | "thanks" | "por" | "favor"
                )
            })
            .collect();
        if let [only] = words.as_slice() {
            if let Some((k, 1)) = (0..n)
                .find(|&i| self.w(i) == *only)
                .and_then(|i| self.ordinal_at(i))
            {
                self.facts.appointment_ref = Some(AppointmentRef::Ordinal(k));
            } else if matches!(*only, "last" | "ultimo" | "ultima") {
                self.facts.appointment_ref = Some(AppointmentRef::Last);
            }
        }
    }

    /// A message that is just a number, maybe with "it's" or "#".
    fn lone_number(&mut self) {
        if self.facts.appointment_ref.is_some() {
            return;
        }
        let mut number: Option<&Token> = None;
        for t in self.toks {
            match t.kind {
                TokenKind::Punct | TokenKind::Symbol => {}
                TokenKind::Number if number.is_none() => number = Some(t),
                TokenKind::Word
                    if matches!(
                        t.norm.as_str(),
                        "its" | "it" | "is" | "ok" | "um" | "uh" | "es" | "the" | "number"
                    ) => {}
                _ => return,
            }
        }
        let Some(t) = number else { return };
        let digits = t.norm.len();
        if digits <= 6 && self.facts.street_number.is_none() {
            self.facts.street_number = Some(t.norm.clone());
        }
        if digits == 5 && self.facts.zip.is_none() {
            self.facts.zip = Some(t.norm.clone());
        }
        if let Some(k) = t.number().filter(|k| (1..=9).contains(k)) {
            if self.facts.appointment_ref.is_none() {
                self.facts.appointment_ref = Some(AppointmentRef::Ordinal(k as u8));
            }
        }
    }
}

/// Read identity facts from tokens; `consumed` marks tokens that belong to dates and times.
pub(crate) fn read(
    toks: &[Token],
    consumed: &[bool],
    when_existing: Option<NaiveDate>,
    bare_ordinal: Option<u8>,
) -> Facts {
    let mut r = Reader {
        toks,
        consumed,
        facts: Facts::default(),
    };
    r.run(when_existing, bare_ordinal);
    r.facts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_emails() {
        let table = [
            (
                "mail me at John.Smith@Example.com.",
                Some("john.smith@example.com"),
            ),
            ("<ana+pest@mail.co.uk>", Some("ana+pest@mail.co.uk")),
            ("me @ home", None),
            ("a@b", None),
        ];
        for (text, want) in table {
            assert_eq!(
                find_email(text).map(|e| e.0),
                want.map(String::from),
                "{text}"
            );
        }
    }

    #[test]
    fn title_cases_only_uniform_case() {
        assert_eq!(title_case("john"), "John");
        assert_eq!(title_case("MARIA"), "Maria");
        assert_eq!(title_case("McDonald"), "McDonald");
    }
}
