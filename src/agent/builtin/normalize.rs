//! Normalisation: the message as a list of tokens the rest of the model can match on.
//!
//! Each token keeps its original text (for quoting names and streets back), a folded form
//! (lowercase, accents stripped, apostrophes inside words dropped) and a normalised form in
//! which texting shorthand is expanded ("appt" → "appointment", "tmrw" → "tomorrow") and the
//! keywords that matter are repaired when misspelt ("reschdule", "thrusday"). Typo repair is
//! deliberately narrow: it only ever produces a word of a fixed vocabulary, it never touches a
//! word that is itself common ("more" stays "more", "nice" stays "nice"), short words are only
//! repaired by swapping two adjacent letters, and the first letter must match.

use std::collections::HashSet;
use std::sync::OnceLock;

/// What a token is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Letters (any script).
    Word,
    /// ASCII digits.
    Number,
    /// One punctuation character, normalised (`¿` → `?`, `…` → `.`, `–` → `-`).
    Punct,
    /// Anything else: emoji and other symbols, one per token.
    Symbol,
}

/// One token of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Normalised: folded, shorthand expanded, keyword typos repaired.
    pub norm: String,
    /// Folded only (lowercase, accents stripped); what names and street words are read from.
    pub folded: String,
    /// The original text.
    pub raw: String,
    pub kind: TokenKind,
    /// No whitespace between this token and the previous one ("8am", "12/9", "#2").
    pub glued: bool,
}

impl Token {
    pub fn is_word(&self) -> bool {
        self.kind == TokenKind::Word
    }

    pub fn is_number(&self) -> bool {
        self.kind == TokenKind::Number
    }

    /// Punctuation that ends a clause.
    pub fn is_clause_break(&self) -> bool {
        self.kind == TokenKind::Punct && matches!(self.norm.as_str(), "," | "." | "!" | "?" | ";")
    }

    /// The value of a number token of at most nine digits.
    pub fn number(&self) -> Option<u32> {
        if self.kind == TokenKind::Number && self.norm.len() <= 9 {
            self.norm.parse().ok()
        } else {
            None
        }
    }
}

/// Lowercase and strip accents: "Mañana" → "manana", "ESTÁ" → "esta".
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        for l in c.to_lowercase() {
            if !is_combining(l) {
                out.push(strip_accent(l));
            }
        }
    }
    out
}

fn is_combining(c: char) -> bool {
    matches!(c, '\u{300}'..='\u{36f}')
}

fn strip_accent(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => 'a',
        'ç' | 'ć' | 'č' => 'c',
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => 'e',
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' => 'i',
        'ñ' | 'ń' | 'ň' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => 'o',
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' => 'u',
        'ý' | 'ÿ' => 'y',
        'ś' | 'š' => 's',
        'ź' | 'ż' | 'ž' => 'z',
        'ł' => 'l',
        'ř' => 'r',
        'ť' => 't',
        'ď' => 'd',
        _ => c,
    }
}

/// Emoji modifiers and joiners that belong to the symbol before them.
fn is_modifier(c: char) -> bool {
    matches!(
        c,
        '\u{fe0f}' | '\u{fe0e}' | '\u{200d}' | '\u{1f3fb}'..='\u{1f3ff}'
    )
}

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '’' | 'ʼ' | '`' | '´')
}

/// Punctuation, normalised to one ASCII character where there is an obvious one.
fn punct_norm(c: char) -> Option<char> {
    if c.is_ascii_punctuation() {
        return Some(c);
    }
    Some(match c {
        '¿' => '?',
        '¡' => '!',
        '…' => '.',
        '–' | '—' | '‐' | '‑' => '-',
        '“' | '”' | '«' | '»' => '"',
        '‘' | '’' => '\'',
        '。' => '.',
        '，' => ',',
        _ => return None,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Letter,
    Digit,
}

/// Split a message into normalised tokens.
pub fn tokenize(text: &str) -> Vec<Token> {
    let mut raw_tokens: Vec<Token> = Vec::new();
    for chunk in text.split_whitespace() {
        tokenize_chunk(chunk, &mut raw_tokens);
    }
    digits_for_words(&mut raw_tokens);
    let mut out = Vec::with_capacity(raw_tokens.len());
    let mut skip = false;
    for i in 0..raw_tokens.len() {
        if std::mem::take(&mut skip) {
            continue;
        }
        let tok = &raw_tokens[i];
        if tok.kind != TokenKind::Word {
            out.push(tok.clone());
            continue;
        }
        let next = raw_tokens.get(i + 1);
        // "in the after noon": speech recognition splits the word.
        if tok.folded == "after"
            && next.is_some_and(|n| n.folded == "noon" && n.kind == TokenKind::Word)
            && out.last().is_some_and(|p: &Token| {
                matches!(p.norm.as_str(), "the" | "this" | "tomorrow" | "today")
                    || DAY_NAMES.contains(&p.norm.as_str())
            })
        {
            let mut t = tok.clone();
            t.norm = "afternoon".to_string();
            out.push(t);
            skip = true;
            continue;
        }
        // "apt 4b" / "apt #2" is an apartment, not an appointment.
        let apartment = tok.folded == "apt"
            && next.is_some_and(|n| n.kind == TokenKind::Number || n.norm == "#");
        match (!apartment).then(|| shorthand(&tok.folded)).flatten() {
            Some(expansion) => {
                for (k, word) in expansion.split(' ').enumerate() {
                    out.push(Token {
                        norm: word.to_string(),
                        folded: tok.folded.clone(),
                        raw: tok.raw.clone(),
                        kind: TokenKind::Word,
                        glued: tok.glued && k == 0,
                    });
                }
            }
            None => {
                let mut t = tok.clone();
                if let Some(fixed) = correct(&t.folded) {
                    t.norm = fixed.to_string();
                }
                out.push(t);
            }
        }
    }
    out
}

const DAY_NAMES: &[&str] = &[
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Words after which a lone number is a number ("at 2", "the 4", "in 2 weeks").
const NUMBER_LEADS: &[&str] = &[
    "at", "by", "around", "about", "from", "or", "and", "until", "til", "till", "before", "after",
    "like", "between", "every", "only", "just", "the", "a", "for", "of", "in", "on", "is", "are",
    "be", "next", "last", "first", "within", "than", "approx", "to", "over", "under", "option",
    "number", "no", "#", "el", "la", "las", "los", "de", "y", "o", "con",
];

/// What a word will read as once normalised (its first word), for looking one token ahead.
fn will_read(folded: &str) -> &str {
    shorthand(folded)
        .or_else(|| correct(folded))
        .map_or(folded, |e| e.split(' ').next().unwrap_or(e))
}

/// Texting shorthand with digits as words: "mve my apt 2 tues" ("to"), "how much 4 ants"
/// ("for"). Only a lone "2" or "4" between words, after a word that does not expect a number
/// ("at 2", "in 2 weeks") and before a word that makes the reading plain: a day or date for
/// "to", a pest, a pronoun or an article for "for" (or anything but a unit after a price word).
fn digits_for_words(toks: &mut [Token]) {
    for i in 1..toks.len() {
        let t = &toks[i];
        if t.kind != TokenKind::Number || t.glued || !matches!(t.norm.as_str(), "2" | "4") {
            continue;
        }
        let prev = &toks[i - 1];
        if prev.kind != TokenKind::Word || NUMBER_LEADS.contains(&prev.folded.as_str()) {
            continue;
        }
        let Some(next) = toks.get(i + 1).filter(|n| !n.glued) else {
            continue;
        };
        let next_word = match next.kind {
            TokenKind::Word => will_read(&next.folded),
            _ => "",
        };
        // A date written with digits: "2 3/10".
        let numeric_date = next.kind == TokenKind::Number
            && toks.get(i + 2).is_some_and(|s| s.norm == "/" && s.glued);
        let word = if t.norm == "2" {
            let day_word = DAY_NAMES.contains(&next_word)
                || matches!(
                    next_word,
                    "tomorrow" | "today" | "tonight" | "next" | "this" | "weekend"
                );
            (day_word || numeric_date).then_some("to")
        } else {
            const UNITS: &[&str] = &[
                "am",
                "pm",
                "a.m",
                "p.m",
                "day",
                "days",
                "week",
                "weeks",
                "hour",
                "hours",
                "month",
                "months",
                "minutes",
                "mins",
                "times",
                "oclock",
                "of",
                "or",
                "and",
                "to",
                "sq",
                "ft",
                "feet",
                "visits",
                "people",
                "kids",
                "dogs",
                "cats",
                "bedrooms",
                "rooms",
                "units",
                "properties",
                "houses",
                "acres",
                "bucks",
                "dollars",
                "years",
                "yrs",
            ];
            let object = super::pests::is_pest_word(next_word)
                || matches!(
                    next_word,
                    "a" | "an"
                        | "the"
                        | "my"
                        | "your"
                        | "me"
                        | "you"
                        | "us"
                        | "it"
                        | "this"
                        | "that"
                        | "sure"
                        | "real"
                        | "now"
                        | "mosquito"
                        | "mosquitoes"
                );
            let price_word = matches!(
                prev.folded.as_str(),
                "much" | "price" | "prices" | "cost" | "quote" | "charge" | "pay"
            );
            let plain_word = next.kind == TokenKind::Word && !UNITS.contains(&next_word);
            (object || (price_word && plain_word)).then_some("for")
        };
        if let Some(w) = word {
            let t = &mut toks[i];
            t.norm = w.to_string();
            t.folded = w.to_string();
            t.kind = TokenKind::Word;
        }
    }
}

fn tokenize_chunk(chunk: &str, out: &mut Vec<Token>) {
    // Shorthand written with digits or slashes ("2nite", "b4", "w/") is looked up whole.
    let core_start = chunk
        .char_indices()
        .find(|(_, c)| c.is_alphanumeric())
        .map(|(i, _)| i);
    if let Some(start) = core_start {
        let end = chunk
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_alphanumeric() || *c == '/')
            .map(|(i, c)| i + c.len_utf8())
            .unwrap_or(chunk.len());
        if start < end {
            let core = &chunk[start..end];
            if let Some(expansion) = chunk_shorthand(&fold(core)) {
                let before = out.len();
                split_chars(&chunk[..start], out, false);
                for (k, word) in expansion.split(' ').enumerate() {
                    out.push(Token {
                        norm: word.to_string(),
                        folded: fold(core),
                        raw: core.to_string(),
                        kind: TokenKind::Word,
                        glued: k == 0 && out.len() > before,
                    });
                }
                split_chars(&chunk[end..], out, true);
                return;
            }
        }
    }
    split_chars(chunk, out, false);
}

/// Split a whitespace-free piece into tokens by character class.
fn split_chars(piece: &str, out: &mut Vec<Token>, glued_first: bool) {
    let chars: Vec<(usize, char)> = piece.char_indices().collect();
    let mut i = 0;
    let mut first = true;
    while i < chars.len() {
        let (start, c) = chars[i];
        let glued = if first { glued_first } else { true };
        first = false;
        let class = if c.is_alphabetic() || is_combining(c) {
            Some(Class::Letter)
        } else if c.is_ascii_digit() {
            Some(Class::Digit)
        } else {
            None
        };
        match class {
            Some(class) => {
                let mut j = i + 1;
                while j < chars.len() {
                    let d = chars[j].1;
                    let same = match class {
                        Class::Letter => {
                            d.is_alphabetic()
                                || is_combining(d)
                                || (is_apostrophe(d)
                                    && chars.get(j + 1).is_some_and(|n| n.1.is_alphabetic()))
                        }
                        Class::Digit => d.is_ascii_digit(),
                    };
                    if !same {
                        break;
                    }
                    j += 1;
                }
                let end = chars.get(j).map_or(piece.len(), |x| x.0);
                let raw = &piece[start..end];
                let folded: String = fold(raw).chars().filter(|c| !is_apostrophe(*c)).collect();
                out.push(Token {
                    norm: folded.clone(),
                    folded,
                    raw: raw.to_string(),
                    kind: if class == Class::Letter {
                        TokenKind::Word
                    } else {
                        TokenKind::Number
                    },
                    glued,
                });
                i = j;
            }
            None if is_modifier(c) => {
                // Skin tones, variation selectors and joiners stay with the symbol before them.
                if let Some(last) = out.last_mut() {
                    if last.kind == TokenKind::Symbol {
                        last.raw.push(c);
                    }
                }
                i += 1;
            }
            None => {
                let (kind, norm) = match punct_norm(c) {
                    Some(p) => (TokenKind::Punct, p.to_string()),
                    None => (TokenKind::Symbol, c.to_string()),
                };
                out.push(Token {
                    norm: norm.clone(),
                    folded: norm,
                    raw: c.to_string(),
                    kind,
                    glued,
                });
                i += 1;
            }
        }
    }
}

/// Whole-chunk shorthand that contains digits or a slash.
fn chunk_shorthand(core: &str) -> Option<&'static str> {
    Some(match core {
        "2nite" | "2night" | "2nyt" => "tonight",
        "2morrow" | "2moro" | "2morow" | "2mrw" | "2mro" | "2mrow" | "2mr" => "tomorrow",
        "2day" => "today",
        "b4" => "before",
        "w/" => "with",
        "w/o" => "without",
        "l8r" | "l8er" => "later",
        "gr8" => "great",
        "some1" => "someone",
        "any1" => "anyone",
        "no1" => "no one",
        "24/7" => "always",
        _ => return None,
    })
}

/// Word shorthand, possibly expanding to several words.
fn shorthand(word: &str) -> Option<&'static str> {
    Some(match word {
        "u" | "yu" | "yoo" => "you",
        "cn" => "can",
        "hw" => "how",
        "mv" | "mve" | "moev" => "move",
        "ola" => "hola",
        "dokie" | "doke" | "dokey" | "dokay" => "dokey",
        "moskito" | "mosqito" | "mosquto" | "mosketo" | "moskeeto" => "mosquito",
        "moskitos" | "moskitoes" | "mosqitos" | "moskeetos" => "mosquitoes",
        "ur" | "youre" => "your",
        "r" => "are",
        "appt" | "appnt" | "apt" | "apmt" | "appmt" | "apptmt" | "appoint" | "apointment" => {
            "appointment"
        }
        "appts" | "appnts" | "apts" | "apmts" | "appmts" => "appointments",
        "pls" | "plz" | "plez" | "plse" | "pleez" | "pleeze" | "plis" | "pleas" => "please",
        "thx" | "thnx" | "thanx" | "thnks" | "thks" | "ty" | "tyvm" | "tysm" | "tks" => "thanks",
        "tmrw" | "tmr" | "tmrow" | "tmrrw" | "tmw" | "tmro" | "tomo" | "tomm" | "tomoro"
        | "tommorow" | "tommorrow" | "tomorow" | "tomorro" | "tmmrw" => "tomorrow",
        "tdy" | "tday" => "today",
        "tonite" | "tonigt" => "tonight",
        "wknd" | "wkend" | "wkd" | "wkn" => "weekend",
        "wknds" | "wkends" => "weekends",
        "wk" => "week",
        "nxt" => "next",
        "resched" | "reskedule" | "resked" | "reschedual" | "reskedual" | "reshedule"
        | "rescedule" | "reschedul" | "rescheduel" => "reschedule",
        "rescheduled" | "reskeduled" => "rescheduled",
        "rn" => "right now",
        "nvm" | "nevermind" | "nvmd" => "never mind",
        "idk" | "dunno" => "dont know",
        "svc" | "srvc" | "serv" => "service",
        "hrs" => "hours",
        "hr" => "hour",
        "mins" => "minutes",
        "msg" => "message",
        "txt" => "text",
        "sry" | "srry" => "sorry",
        "wanna" => "want to",
        "gonna" => "going to",
        "gotta" => "got to",
        "lemme" => "let me",
        "gimme" => "give me",
        "kinda" => "kind of",
        "cya" | "seeya" => "see you",
        "ttyl" => "talk to you later",
        "abt" => "about",
        "thru" => "through",
        "tho" => "though",
        "bc" | "cuz" | "bcuz" | "bcz" | "coz" => "because",
        "wat" | "wut" | "wht" => "what",
        "wen" => "when",
        "okay" | "okey" | "okie" | "oki" | "okk" | "okok" | "okayy" | "okaay" => "ok",
        "yeah" | "yea" | "yeh" | "yah" | "yeahh" | "yeahhh" => "yeah",
        "yess" | "yesss" | "yas" | "yass" | "yesh" => "yes",
        "yepp" | "yupp" => "yep",
        "nope" | "nop" | "nopee" => "nope",
        "wensday" | "wendsday" | "wednsday" | "wedsday" => "wednesday",
        "tues" | "tue" => "tuesday",
        "thur" | "thurs" | "thu" | "thrs" => "thursday",
        "weds" => "wednesday",
        "mon" => "monday",
        "fri" => "friday",
        "skeeter" | "skeeters" | "skeets" | "mozzies" | "mossies" => "mosquitoes",
        "exterm" | "exterminater" => "exterminator",
        "techs" => "technicians",
        "bye-bye" | "byebye" | "bai" => "bye",
        "gm" => "good morning",
        "hla" => "hola",
        "xq" | "pq" | "xk" => "porque",
        "grax" | "grasias" | "grcs" => "gracias",
        "porfa" | "porfis" | "xfa" | "xfavor" | "pf" => "por favor",
        "tb" | "tmb" | "tambn" => "tambien",
        "dsp" => "despues",
        _ => return None,
    })
}

/// Keywords typos are repaired to. Short words here are only ever reached by swapping two
/// adjacent letters.
const VOCAB: &[&str] = &[
    // scheduling
    "reschedule",
    "rescheduled",
    "schedule",
    "scheduled",
    "appointment",
    "appointments",
    "cancel",
    "cancelled",
    "canceled",
    "cancellation",
    "cancelar",
    "move",
    "change",
    "postpone",
    "available",
    "confirm",
    "technician",
    "exterminator",
    "treatment",
    "service",
    "services",
    "inspection",
    // time
    "tomorrow",
    "today",
    "tonight",
    "weekend",
    "week",
    "morning",
    "afternoon",
    "evening",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "january",
    "february",
    "march",
    "april",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "manana",
    "viernes",
    "sabado",
    "domingo",
    "lunes",
    "martes",
    "miercoles",
    "jueves",
    "semana",
    "proxima",
    // money
    "price",
    "pricing",
    "quote",
    "estimate",
    "cost",
    "discount",
    "coupon",
    "balance",
    "invoice",
    "invoices",
    "billing",
    "bills",
    "charged",
    "charge",
    "charges",
    "overcharged",
    "refund",
    "dispute",
    "contract",
    "renegotiate",
    "negotiate",
    "precio",
    "servicio",
    "factura",
    "descuento",
    // people
    "human",
    "person",
    "agent",
    "representative",
    "manager",
    "supervisor",
    "operator",
    "humano",
    "operador",
    "representante",
    // emergencies
    "emergency",
    "allergic",
    "allergy",
    "swelling",
    "throat",
    "stung",
    "sting",
    "bedroom",
    "inside",
    "ceiling",
    "sagging",
    "collapsing",
    "emergencia",
    "alergico",
    // questions
    "hours",
    "thanks",
    "please",
    "gracias",
    // pests
    "ants",
    "roach",
    "roaches",
    "cockroach",
    "cockroaches",
    "mice",
    "mouse",
    "rats",
    "rodents",
    "mosquito",
    "mosquitos",
    "mosquitoes",
    "termite",
    "termites",
    "wasps",
    "yellowjacket",
    "yellowjackets",
    "hornet",
    "hornets",
    "bees",
    "bedbugs",
    "spider",
    "spiders",
    "scorpion",
    "scorpions",
    "fleas",
    "ticks",
    "silverfish",
    "cricket",
    "crickets",
    "hormigas",
    "cucarachas",
    "ratones",
    "chinches",
    "avispas",
    "termitas",
    "alacranes",
    "garrapatas",
];

/// Common words that sit one or two edits from a keyword and must be left alone.
const STOP: &[&str] = &[
    "afternoons",
    "agenda",
    "agendar",
    "agente",
    "agentes",
    "agents",
    "alergica",
    "alert",
    "allege",
    "allergies",
    "argent",
    "arts",
    "aside",
    "augusta",
    "bail",
    "balanced",
    "balances",
    "balls",
    "banana",
    "bathroom",
    "bed",
    "bedbug",
    "bedrooms",
    "beef",
    "beer",
    "bell",
    "bells",
    "beside",
    "besides",
    "bill",
    "billed",
    "bugs",
    "built",
    "bulls",
    "called",
    "calls",
    "camel",
    "canal",
    "cancels",
    "cancer",
    "candle",
    "candy",
    "caner",
    "canned",
    "cases",
    "cast",
    "ceilings",
    "central",
    "chance",
    "chances",
    "changed",
    "changes",
    "charger",
    "charm",
    "chart",
    "chase",
    "chose",
    "cita",
    "citas",
    "cites",
    "clause",
    "clone",
    "close",
    "closed",
    "closer",
    "closes",
    "closet",
    "coach",
    "coast",
    "collapse",
    "collapsed",
    "confirmed",
    "confirms",
    "conform",
    "contact",
    "contacted",
    "contacts",
    "contractor",
    "contracts",
    "contrast",
    "contrato",
    "contratos",
    "costly",
    "costs",
    "cots",
    "couple",
    "coupons",
    "cover",
    "cuando",
    "cuanta",
    "cuanto",
    "cuantos",
    "descuentos",
    "discounts",
    "dispatch",
    "display",
    "dispose",
    "disputed",
    "domingos",
    "emergence",
    "emergencies",
    "estate",
    "estimated",
    "estimates",
    "evenings",
    "exterminador",
    "exterminate",
    "exterminated",
    "exterminators",
    "facturas",
    "feels",
    "fees",
    "flags",
    "flea",
    "flees",
    "fleet",
    "flies",
    "fridays",
    "fridge",
    "ghost",
    "great",
    "greet",
    "honest",
    "honey",
    "horned",
    "horse",
    "hose",
    "host",
    "hour",
    "house",
    "houses",
    "hover",
    "humana",
    "humane",
    "humans",
    "humor",
    "insider",
    "insides",
    "inspect",
    "inspected",
    "inspections",
    "inspector",
    "invite",
    "invited",
    "invoiced",
    "junk",
    "jury",
    "kicks",
    "lanes",
    "licks",
    "lines",
    "lost",
    "lover",
    "lunas",
    "lunch",
    "lungs",
    "manage",
    "managed",
    "managers",
    "manages",
    "mananas",
    "manger",
    "manner",
    "marche",
    "marco",
    "marcy",
    "mares",
    "marsh",
    "marten",
    "marts",
    "match",
    "mike",
    "mild",
    "mile",
    "mine",
    "moaning",
    "mondays",
    "money",
    "moose",
    "more",
    "mornings",
    "most",
    "mound",
    "mourning",
    "mouses",
    "mousse",
    "mouth",
    "moved",
    "mover",
    "movers",
    "moves",
    "movie",
    "movies",
    "moving",
    "mowed",
    "mower",
    "mowing",
    "nice",
    "night",
    "nine",
    "noche",
    "noches",
    "open",
    "opened",
    "opens",
    "opera",
    "operate",
    "operated",
    "operation",
    "oven",
    "overcharge",
    "panel",
    "parson",
    "persona",
    "personas",
    "picks",
    "plea",
    "plead",
    "pleads",
    "pleased",
    "pleasure",
    "post",
    "postponed",
    "precios",
    "priced",
    "prices",
    "pride",
    "pries",
    "prime",
    "prince",
    "prison",
    "prize",
    "proximo",
    "puede",
    "pueden",
    "puedo",
    "question",
    "questions",
    "quick",
    "quickly",
    "quiero",
    "quiet",
    "quit",
    "quite",
    "quota",
    "quoted",
    "quotes",
    "quoth",
    "quoting",
    "ratas",
    "rated",
    "rater",
    "rates",
    "rato",
    "ratos",
    "reach",
    "reaches",
    "reason",
    "refine",
    "refunds",
    "remove",
    "removed",
    "renew",
    "renewal",
    "represent",
    "reprint",
    "rickets",
    "roads",
    "roast",
    "rocks",
    "rodent",
    "rodeo",
    "rouch",
    "sabados",
    "sagged",
    "saggy",
    "saludos",
    "saturdays",
    "saying",
    "schedules",
    "scheduling",
    "sealing",
    "season",
    "seen",
    "selling",
    "semanas",
    "servant",
    "served",
    "server",
    "serves",
    "serviced",
    "servicios",
    "shelling",
    "slider",
    "sliders",
    "sling",
    "smelling",
    "smelly",
    "spell",
    "spelled",
    "spelling",
    "spice",
    "spiced",
    "stand",
    "stank",
    "sticks",
    "stings",
    "stink",
    "stinking",
    "stock",
    "stone",
    "string",
    "strung",
    "study",
    "stunk",
    "stunt",
    "sturdy",
    "sundae",
    "sundays",
    "sundry",
    "swilling",
    "swing",
    "swollen",
    "tacks",
    "tanks",
    "tarde",
    "tardes",
    "technicians",
    "termed",
    "terminal",
    "terminate",
    "thank",
    "thanked",
    "thankful",
    "their",
    "there",
    "these",
    "thick",
    "think",
    "thinks",
    "those",
    "though",
    "thought",
    "threat",
    "three",
    "throats",
    "throne",
    "through",
    "throw",
    "thursdays",
    "tick",
    "tickets",
    "tickle",
    "tics",
    "toady",
    "tonic",
    "tonights",
    "trade",
    "trades",
    "tread",
    "treat",
    "treatments",
    "treats",
    "treaty",
    "trees",
    "tricks",
    "tucks",
    "tuesdays",
    "urgent",
    "verdes",
    "viene",
    "vienen",
    "wake",
    "warps",
    "wasp",
    "waste",
    "wasted",
    "weak",
    "wednesdays",
    "weekday",
    "weekdays",
    "weekends",
    "wisps",
    "woke",
];

/// Whether a word is one of the keywords typos are repaired to (never a street name).
pub fn is_keyword(w: &str) -> bool {
    VOCAB.contains(&w)
}

fn stop_set() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| STOP.iter().chain(VOCAB.iter()).copied().collect())
}

/// How many edits a word of this length may be away from a keyword; `None` means only a
/// swap of two adjacent letters.
fn allowance(len: usize) -> Option<usize> {
    match len {
        0..=4 => None,
        5..=7 => Some(1),
        _ => Some(2),
    }
}

/// The keyword a misspelt word stands for, if exactly one is close enough.
pub fn correct(word: &str) -> Option<&'static str> {
    let len = word.len();
    if !(4..=24).contains(&len) || !word.bytes().all(|b| b.is_ascii_lowercase()) {
        return None;
    }
    if stop_set().contains(word) {
        return None;
    }
    let w = word.as_bytes();
    let mut best: Option<(usize, &'static str)> = None;
    for &cand in VOCAB {
        let c = cand.as_bytes();
        // The first letter must match, unless the first two letters are swapped.
        let first_ok = c[0] == w[0] || (c.len() > 1 && c[1] == w[0] && c[0] == w[1]);
        if !first_ok {
            continue;
        }
        let limit = match (allowance(len), allowance(c.len())) {
            (Some(a), Some(b)) => Some(a.min(b)),
            _ => None,
        };
        let dist = match limit {
            None => {
                if c.len() != len || !is_one_swap(w, c) {
                    continue;
                }
                1
            }
            Some(limit) => {
                if c.len().abs_diff(len) > limit {
                    continue;
                }
                match crate::search::edit_distance(w, c, limit) {
                    Some(d) if d > 0 => d,
                    _ => continue,
                }
            }
        };
        // Ties go to the candidate that ends like the word ("termits" → "termites").
        let better = match best {
            None => true,
            Some((b, prev)) => {
                dist < b
                    || (dist == b && prev.as_bytes().last() != w.last() && c.last() == w.last())
            }
        };
        if better {
            best = Some((dist, cand));
        }
    }
    best.map(|(_, cand)| cand)
}

fn is_one_swap(a: &[u8], b: &[u8]) -> bool {
    let diffs: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
    diffs.len() == 2
        && diffs[1] == diffs[0] + 1
        && a[diffs[0]] == b[diffs[1]]
        && a[diffs[1]] == b[diffs[0]]
}

/// The normalised words of a message joined by spaces, for debugging.
pub fn normalized(text: &str) -> String {
    tokenize(text)
        .iter()
        .map(|t| t.norm.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norms(text: &str) -> Vec<String> {
        tokenize(text).into_iter().map(|t| t.norm).collect()
    }

    #[test]
    fn folds_accents_and_case() {
        assert_eq!(fold("Mañana ESTÁ Bien"), "manana esta bien");
        assert_eq!(fold("e\u{301}"), "e");
    }

    #[test]
    fn splits_numbers_letters_and_punctuation() {
        assert_eq!(norms("8am"), ["8", "am"]);
        assert_eq!(norms("12/9?"), ["12", "/", "9", "?"]);
        assert_eq!(norms("don't"), ["dont"]);
        assert_eq!(norms("¿Cuánto?"), ["?", "cuanto", "?"]);
        let t = tokenize("at 2:30");
        assert!(t[2].glued && t[3].glued && !t[1].glued);
    }

    #[test]
    fn expands_shorthand() {
        assert_eq!(
            norms("can u move my appt 2nite pls"),
            [
                "can",
                "you",
                "move",
                "my",
                "appointment",
                "tonight",
                "please"
            ]
        );
        assert_eq!(norms("rn"), ["right", "now"]);
        assert_eq!(norms("apt 4B"), ["apt", "4", "b"]);
    }

    #[test]
    fn repairs_keyword_typos_but_not_ordinary_words() {
        let table = [
            ("mvoe", Some("move")),
            ("reschdule", Some("reschedule")),
            ("cancle", Some("cancel")),
            ("appointmnet", Some("appointment")),
            ("tuesdy", Some("tuesday")),
            ("thrusday", Some("thursday")),
            ("febuary", Some("february")),
            ("termits", Some("termites")),
            ("cockroches", Some("cockroaches")),
            ("more", None),
            ("nice", None),
            ("rates", None),
            ("contact", None),
            ("quite", None),
            ("arts", None),
            ("movie", None),
        ];
        for (word, want) in table {
            assert_eq!(correct(word), want, "{word}");
        }
    }

    #[test]
    fn emoji_keep_their_modifiers() {
        let t = tokenize("👍🏽 ok");
        assert_eq!(t[0].kind, TokenKind::Symbol);
        assert_eq!(t[0].norm, "👍");
        assert_eq!(t[1].norm, "ok");
    }
}
