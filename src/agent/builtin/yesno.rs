//! Yes and no, in the many ways customers say them, for answering a proposal the agent made.
//!
//! Decisions, since every write needs the customer's explicit consent:
//! - A strong word at the start of a clause decides ("yes i want that", "nope, not friday",
//!   "sí", "dale", "👍"). A weak word ("ok", "k", "cool", "si" without its accent) decides only
//!   when its clause holds nothing else but politeness ("ok thanks", "k").
//! - A clause ending in "works" / "is fine" / "está bien" agrees ("friday works"); one ending in
//!   "doesn't work" / "no puedo" refuses.
//! - Acknowledgements are not consent and not refusal: "no problem, thanks", "no worries",
//!   "that's ok", "I'm good" leave the answer open (they often follow a finished action, and
//!   "that's ok" / "I'm good" as replies to an offer usually mean "no thanks").
//! - A reply that agrees or refuses *and* proposes something else ("yes but can it be thursday
//!   instead", "no, how about monday") is a counter-proposal: no answer, and `counter` is set;
//!   the new date is in `when`.
//! - Agreement and refusal in the same message cancel out.

use std::sync::LazyLock;

use super::normalize::Token;
use super::phrase::PatternSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Yes,
    WeakYes,
    No,
    WeakNo,
    Neutral,
    Filler,
}

const TABLE: &[(Kind, &[&str])] = &[
    (
        Kind::Yes,
        &[
            "yes",
            "yep",
            "yeah",
            "ya",
            "yup",
            "ye",
            "sure",
            "sure thing",
            "surely",
            "absolutely",
            "definitely",
            "certainly",
            "of course",
            "ofc",
            "please do",
            "do it",
            "do that",
            "go ahead",
            "go for it",
            "sounds good",
            "sounds great",
            "sounds perfect",
            "sounds fine",
            "that works",
            "that would work",
            "that will work",
            "works for me",
            "that works for me",
            "thats fine",
            "thats good",
            "thats great",
            "thats perfect",
            "that is fine",
            "that is good",
            "lets do it",
            "lets do that",
            "book it",
            "book that",
            "correct",
            "thats right",
            "thats correct",
            "affirmative",
            "claro",
            "claro que si",
            "dale",
            "de acuerdo",
            "esta bien",
            "por supuesto",
            "perfecto",
            "correcto",
            "👍",
            "👌",
            "✅",
            "✔",
            "☑",
            "yessir",
            "you bet",
            "for sure",
            "i confirm",
            "please confirm",
            "yes please",
            "of course",
            "sounds like a plan",
            "si claro",
            "si por favor",
        ],
    ),
    (
        Kind::WeakYes,
        &[
            "ok",
            "k",
            "kk",
            "alright",
            "all right",
            "fine",
            "cool",
            "great",
            "good",
            "awesome",
            "perfect",
            "got it",
            "vale",
            "bueno",
            "listo",
            "si",
            "confirm",
            "confirmed",
            "y",
            "excellent",
            "wonderful",
            "nice",
            "right",
            "its fine",
            "works",
            "ok dokey",
        ],
    ),
    (
        Kind::No,
        &[
            "no",
            "nope",
            "nah",
            "naw",
            "negative",
            "not really",
            "never mind",
            "cancel that",
            "no thanks",
            "no thank you",
            "no gracias",
            "not now",
            "not yet",
            "no way",
            "wait",
            "hold on",
            "hold off",
            "dont",
            "please dont",
            "dont do it",
            "dont do that",
            "dont book it",
            "neither",
            "that doesnt work",
            "doesnt work",
            "that wont work",
            "wont work",
            "that does not work",
            "not good",
            "mejor no",
            "todavia no",
            "aun no",
            "👎",
            "❌",
            "not interested",
            "no no",
            "nono",
            "i dont want that",
            "never",
            "not that one",
            "no mejor no",
        ],
    ),
    (Kind::WeakNo, &["n"]),
    (
        Kind::Neutral,
        &[
            "no problem",
            "no prob",
            "no probs",
            "no problemo",
            "no worries",
            "not a problem",
            "no rush",
            "no hurry",
            "dont worry",
            "dont know",
            "i dont know",
            "no one",
            "no idea",
            "not sure",
            "im not sure",
            "thats ok",
            "its ok",
            "im good",
            "im ok",
            "im fine",
            "de nada",
            "no te preocupes",
            "no hay problema",
            "no hay prisa",
            "maybe",
            "not bad",
            "no pasa nada",
            "no biggie",
            "no big deal",
        ],
    ),
    (
        Kind::Filler,
        &[
            "please",
            "thanks",
            "thank you",
            "thank",
            "you",
            "so",
            "much",
            "very",
            "sir",
            "maam",
            "then",
            "lol",
            "haha",
            "oh",
            "um",
            "uh",
            "well",
            "hmm",
            "and",
            "por favor",
            "gracias",
            "muchas",
            "bro",
            "man",
            "dude",
            "🙂",
            "😊",
            "🙏",
            "😀",
            "❤",
            "just",
            "that",
            "it",
            "yall",
            "guys",
            "hi",
            "hey",
            "hello",
            "hola",
            "bye",
            "goodbye",
            "again",
            "really",
            "appreciate it",
            "much appreciated",
            "!",
            "amigo",
            "senor",
            "senora",
        ],
    ),
];

/// Clause endings that agree or refuse ("friday works", "el viernes no puedo").
const ENDINGS: &[(bool, &str)] = &[
    (true, "works $"),
    (true, "works for me $"),
    (true, "works great $"),
    (true, "is fine $"),
    (true, "is good $"),
    (true, "is perfect $"),
    (true, "is great $"),
    (true, "sounds good $"),
    (true, "esta bien $"),
    (true, "me sirve $"),
    (true, "me funciona $"),
    (true, "me queda bien $"),
    (false, "doesnt work $"),
    (false, "dont work $"),
    (false, "wont work $"),
    (false, "doesnt work for me $"),
    (false, "is no good $"),
    (false, "isnt good $"),
    (false, "no me sirve $"),
    (false, "no puedo $"),
];

const COUNTER_CUES: &[&str] = &[
    "but",
    "instead",
    "rather",
    "how about",
    "what about",
    "can it be",
    "could it be",
    "can we do",
    "could we do",
    "can you do",
    "could you do",
    "prefer",
    "better",
    "pero",
    "en vez",
    "en lugar",
    "mejor",
    "only if",
    "as long as",
    "unless",
    "actually",
    "what if",
    "can you make it",
    "could you make it",
    "can we make it",
    "can it",
    "could it",
    "is there anything",
    "anything on",
    "any openings",
    "do you have",
];

struct Tables {
    /// `TABLE`'s phrases in order, with their kinds by id.
    phrases: PatternSet,
    kinds: Vec<Kind>,
    endings: PatternSet,
    agrees: Vec<bool>,
    counters: PatternSet,
}

fn tables() -> &'static Tables {
    static T: LazyLock<Tables> = LazyLock::new(|| Tables {
        phrases: PatternSet::parse(TABLE.iter().flat_map(|(_, list)| list.iter().copied())),
        kinds: TABLE
            .iter()
            .flat_map(|(k, list)| list.iter().map(move |_| *k))
            .collect(),
        endings: PatternSet::parse(ENDINGS.iter().map(|(_, p)| *p)),
        agrees: ENDINGS.iter().map(|(b, _)| *b).collect(),
        counters: PatternSet::parse(COUNTER_CUES.iter().copied()),
    });
    &T
}

/// The customer's answer to a proposal, if the message gives one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Answer {
    pub yes_no: Option<bool>,
    pub counter: bool,
}

/// The longest phrase starting at `i` (the first of the table among equally long ones).
/// `ids` is scratch space.
fn longest_at(toks: &[Token], i: usize, ids: &mut Vec<u32>) -> Option<(Kind, usize)> {
    let t = tables();
    let mut best: Option<(Kind, usize)> = None;
    t.phrases.candidates(&toks[i], ids);
    for &id in ids.iter() {
        let id = id as usize;
        if let Some(end) = t.phrases.pattern(id).match_at(toks, i) {
            if best.is_none_or(|(_, e)| end > e) {
                best = Some((t.kinds[id], end));
            }
        }
    }
    // "sí" with its accent is never "if".
    if let Some((Kind::WeakYes, end)) = best {
        if end == i + 1 && toks[i].norm == "si" && toks[i].raw.to_lowercase() == "sí" {
            best = Some((Kind::Yes, end));
        }
    }
    best
}

/// The polarity of one clause: Some(Some(b)) decided, Some(None) neutral, None no reading.
fn clause(toks: &[Token]) -> Option<Option<bool>> {
    if toks.is_empty() {
        return None;
    }
    let mut i = 0;
    let mut seen: Vec<Kind> = Vec::new();
    let mut first_meaningful: Option<Kind> = None;
    let mut ids = Vec::new();
    while i < toks.len() {
        match longest_at(toks, i, &mut ids) {
            Some((kind, end)) => {
                if kind != Kind::Filler && first_meaningful.is_none() {
                    first_meaningful = Some(kind);
                }
                seen.push(kind);
                i = end;
            }
            None => break,
        }
    }
    let covered = i >= toks.len();
    let yes = seen.iter().any(|k| matches!(k, Kind::Yes | Kind::WeakYes));
    let no = seen.iter().any(|k| matches!(k, Kind::No | Kind::WeakNo));
    if covered {
        return match (yes, no) {
            (true, false) => Some(Some(true)),
            (false, true) => Some(Some(false)),
            (false, false) if seen.contains(&Kind::Neutral) => Some(None),
            _ => None,
        };
    }
    // Not all of it is yes/no vocabulary: a strong word leading the clause still decides.
    match first_meaningful {
        Some(Kind::Yes) => return Some(Some(true)),
        Some(Kind::No) => return Some(Some(false)),
        Some(Kind::Neutral) => return Some(None),
        _ => {}
    }
    if toks.len() >= 2 {
        let endings = &tables().endings;
        let starts = endings.starts(toks);
        for (id, agree) in tables().agrees.iter().enumerate() {
            if let Some((s, end)) = endings.find(id, toks, &starts) {
                if s > 0 && end == toks.len() {
                    return Some(Some(*agree));
                }
            }
        }
    }
    None
}

/// Read yes/no from a message; `has_when` says whether a date or time was mentioned.
pub(crate) fn read(toks: &[Token], has_when: bool) -> Answer {
    let mut decided: Vec<bool> = Vec::new();
    let mut start = 0;
    for i in 0..=toks.len() {
        let at_break = i == toks.len()
            || toks[i].is_clause_break()
            || toks[i].norm == "but"
            || toks[i].norm == "pero";
        if !at_break {
            continue;
        }
        let piece = &toks[start..i];
        // A question ("friday works?") asks, it does not answer.
        let question = toks.get(i).is_some_and(|t| t.norm == "?");
        if let Some(Some(b)) = clause(piece) {
            if !(question && piece.len() > 1) {
                decided.push(b);
            }
        }
        start = i + 1;
    }
    let counter = has_when && tables().counters.any_match(toks);
    let yes_no = if counter {
        None
    } else if decided.iter().all(|b| *b) && !decided.is_empty() {
        Some(true)
    } else if decided.iter().all(|b| !*b) && !decided.is_empty() {
        Some(false)
    } else {
        None
    };
    Answer { yes_no, counter }
}

/// Every literal word used in the phrase tables.
#[cfg(test)]
pub(crate) fn vocabulary() -> Vec<&'static str> {
    pattern_sets()
        .into_iter()
        .flat_map(|set| (0..set.len()).flat_map(|id| set.pattern(id).words()))
        .collect()
}

/// The phrase, ending and counter-proposal tables, compiled.
#[cfg(test)]
pub(crate) fn pattern_sets() -> [&'static PatternSet; 3] {
    let t = tables();
    [&t.phrases, &t.endings, &t.counters]
}
