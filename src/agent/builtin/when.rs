//! Dates and times as customers write them, resolved against the tenant's local clock.
//!
//! Rules, so callers and evals can rely on them:
//! - A bare weekday ("tues", "el viernes") is its next occurrence *after* today; "this friday"
//!   includes today; "next friday" / "el próximo viernes" is the Friday of next calendar week
//!   (weeks start on Monday), and so is "friday next week".
//! - A day of the month ("the 3rd", "el 15", "to the tenth") and a month and day ("Dec 9",
//!   "12/9", "march eleventh") are their next occurrence *on or after* today. A weekday with
//!   a day number and no month ("el martes 10", "miercoles 11") is that coming day of the
//!   month when it falls on that weekday. Numeric dates are month/day in English and
//!   day/month in Spanish; when one reading is impossible the other is used.
//! - Before 04:00, "tomorrow" / "mañana" means the calendar day that has just begun: someone
//!   texting at 1 a.m. about "tomorrow" means the day they wake up to.
//! - "next week" is next Monday–Sunday, "this week" today–Sunday, "this weekend" the coming
//!   Saturday–Sunday (today onwards when it is the weekend), "next weekend" the one after.
//! - "mañana" alone is tomorrow, but "en/por/de la mañana" is the morning.
//! - A date said about the appointment the customer already has ("from friday", "my friday
//!   appointment", "the one on the 3rd") is not a candidate: it is reported separately.
//! - A date after "not", "except", "can't", "won't" is excluded, not a candidate.
//! - Hours without am/pm: 1–6 are afternoon, 7–11 morning, 12 noon.
//! - A count of days or weeks after a move verb or before "later" ("bump it a week", "a day
//!   later"), and "the following week", are counted from the visit (`shift_days`).

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Weekday};
use serde::{Deserialize, Serialize};

use super::normalize::{Token, TokenKind};
use super::Lang;

/// A part of the day a customer asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayPart {
    /// Arrival before noon.
    Morning,
    /// Arrival from noon.
    Afternoon,
    /// Arrival from 17:00 ("tonight", "after work").
    Evening,
    /// The customer said any time is fine.
    Any,
}

impl DayPart {
    pub fn as_str(self) -> &'static str {
        match self {
            DayPart::Morning => "morning",
            DayPart::Afternoon => "afternoon",
            DayPart::Evening => "evening",
            DayPart::Any => "any",
        }
    }
}

/// When a customer wants something, as far as the message says.
///
/// `dates` are candidate days in the order mentioned ("monday or tuesday"); empty means any
/// day, bounded by `earliest_date`/`latest_date` when those are set ("next week"). Times are
/// local wall-clock times: `after` is the earliest acceptable arrival, `before` the latest,
/// `at` a time the customer named ("at 3"). `asap` means the earliest slot there is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhenSpec {
    pub dates: Vec<NaiveDate>,
    pub earliest_date: Option<NaiveDate>,
    pub latest_date: Option<NaiveDate>,
    /// Days the customer ruled out ("not friday", "can't do tomorrow").
    pub excluded: Vec<NaiveDate>,
    pub part: Option<DayPart>,
    pub after: Option<NaiveTime>,
    pub before: Option<NaiveTime>,
    pub at: Option<NaiveTime>,
    pub asap: bool,
    /// A move relative to the visit itself ("bump it out 7 days", "a week later", "same
    /// time next month"): the least and most days after the visit's date.
    #[serde(default)]
    pub shift_days: Option<(i64, i64)>,
    /// "same time next month": keep the visit's part of the day.
    #[serde(default)]
    pub same_time: bool,
    /// What the customer takes if this is not possible ("Saturday morning if you can, if
    /// not anything early next week").
    #[serde(default)]
    pub fallback: Option<Box<WhenSpec>>,
}

impl WhenSpec {
    /// Whether a service window on `date` from `start` to `end` fits what the customer said.
    /// Windows are the usual arrival windows (e.g. 08:00–12:00): a morning window starts
    /// before noon, an afternoon one ends after noon, an evening one ends after 17:00; `after`
    /// needs the whole window to start no earlier, `before` to end no later, `at` to contain it.
    pub fn accepts(&self, date: NaiveDate, start: NaiveTime, end: NaiveTime) -> bool {
        if self.excluded.contains(&date) {
            return false;
        }
        if !self.dates.is_empty() && !self.dates.contains(&date) {
            return false;
        }
        if self.earliest_date.is_some_and(|d| date < d)
            || self.latest_date.is_some_and(|d| date > d)
        {
            return false;
        }
        let noon = NaiveTime::from_hms_opt(12, 0, 0).unwrap_or_default();
        let five = NaiveTime::from_hms_opt(17, 0, 0).unwrap_or_default();
        let part_ok = match self.part {
            None | Some(DayPart::Any) => true,
            Some(DayPart::Morning) => start < noon,
            Some(DayPart::Afternoon) => end > noon,
            Some(DayPart::Evening) => end > five,
        };
        part_ok
            && self.after.is_none_or(|t| start >= t)
            && self.before.is_none_or(|t| end <= t)
            && self.at.is_none_or(|t| start <= t && t < end)
    }

    fn is_empty(&self) -> bool {
        self.dates.is_empty()
            && self.earliest_date.is_none()
            && self.latest_date.is_none()
            && self.excluded.is_empty()
            && self.part.is_none()
            && self.after.is_none()
            && self.before.is_none()
            && self.at.is_none()
            && !self.asap
            && self.shift_days.is_none()
    }

    /// A short human-readable form for transcripts.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.asap {
            parts.push("asap".to_string());
        }
        if !self.dates.is_empty() {
            let ds: Vec<String> = self
                .dates
                .iter()
                .map(|d| d.format("%a %Y-%m-%d").to_string())
                .collect();
            parts.push(ds.join(" or "));
        }
        match (self.earliest_date, self.latest_date) {
            (Some(a), Some(b)) => parts.push(format!("{a}..{b}")),
            (Some(a), None) => parts.push(format!("from {a}")),
            (None, Some(b)) => parts.push(format!("until {b}")),
            (None, None) => {}
        }
        if !self.excluded.is_empty() {
            let ds: Vec<String> = self.excluded.iter().map(|d| d.to_string()).collect();
            parts.push(format!("not {}", ds.join(",")));
        }
        if let Some(p) = self.part {
            parts.push(p.as_str().to_string());
        }
        if let Some(t) = self.after {
            parts.push(format!("after {}", t.format("%H:%M")));
        }
        if let Some(t) = self.before {
            parts.push(format!("before {}", t.format("%H:%M")));
        }
        if let Some(t) = self.at {
            parts.push(format!("at {}", t.format("%H:%M")));
        }
        if let Some((a, b)) = self.shift_days {
            parts.push(format!("visit+{a}..{b}d"));
        }
        if self.same_time {
            parts.push("same time".to_string());
        }
        parts.join(" ")
    }
}

/// What the date reader found, including what is not part of the customer's wish.
#[derive(Debug, Default)]
pub(crate) struct WhenParse {
    pub spec: Option<WhenSpec>,
    /// The date of the appointment the customer already has ("from friday").
    pub existing: Option<NaiveDate>,
    /// A bare ordinal read as a day of the month ("the 2nd"): it may be a pick from a list.
    pub bare_ordinal: Option<u8>,
    /// Tokens that belong to a date or time expression.
    pub consumed: Vec<bool>,
}

pub(crate) fn parse(toks: &[Token], now: NaiveDateTime, lang: Lang) -> WhenParse {
    // "X if you can, if not Y" / "X, otherwise Y" / "X y si no Y": two wishes, in order.
    if let Some((at, len)) = fallback_marker(toks) {
        let mut first = parse_one(&toks[..at], now, lang);
        let second = parse_one(&toks[at + len..], now, lang);
        if let (Some(a), Some(b)) = (first.spec.as_mut(), second.spec.clone()) {
            a.fallback = Some(Box::new(b));
            first.consumed.extend(std::iter::repeat_n(true, len));
            first.consumed.extend(second.consumed);
            first.existing = first.existing.or(second.existing);
            return first;
        }
    }
    parse_one(toks, now, lang)
}

/// Where a fallback starts: "if not", "otherwise", "or else", "if that doesn't work",
/// "si no", "sino", "de lo contrario"; its index and length in tokens.
fn fallback_marker(toks: &[Token]) -> Option<(usize, usize)> {
    let w = |i: usize| toks.get(i).map_or("", |t| t.norm.as_str());
    for i in 1..toks.len() {
        let len = match (w(i), w(i + 1), w(i + 2)) {
            ("if", "not", _) | ("si", "no", _) | ("or", "else", _) => 2,
            ("otherwise", _, _) | ("sino", _, _) => 1,
            ("de", "lo", "contrario") => 3,
            ("if", "that", "doesnt" | "dont" | "isnt" | "cant") => 3,
            ("if", "you", "cant") => 3,
            _ => continue,
        };
        if i + len < toks.len() {
            return Some((i, len));
        }
    }
    None
}

fn parse_one(toks: &[Token], now: NaiveDateTime, lang: Lang) -> WhenParse {
    let mut p = Parser {
        toks,
        now,
        today: now.date(),
        lang,
        spec: WhenSpec::default(),
        existing: None,
        bare_ordinal: None,
        consumed: vec![false; toks.len()],
        plain_weekdays: Vec::new(),
        last_weekday: None,
        weekday_dates: Vec::new(),
    };
    p.run();
    let spec = (!p.spec.is_empty()).then_some(p.spec);
    WhenParse {
        spec,
        existing: p.existing,
        bare_ordinal: p.bare_ordinal,
        consumed: p.consumed,
    }
}

const WEEKDAYS: &[(&str, Weekday)] = &[
    ("monday", Weekday::Mon),
    ("mondays", Weekday::Mon),
    ("tuesday", Weekday::Tue),
    ("tuesdays", Weekday::Tue),
    ("wednesday", Weekday::Wed),
    ("wednesdays", Weekday::Wed),
    ("thursday", Weekday::Thu),
    ("thursdays", Weekday::Thu),
    ("friday", Weekday::Fri),
    ("fridays", Weekday::Fri),
    ("saturday", Weekday::Sat),
    ("saturdays", Weekday::Sat),
    ("sunday", Weekday::Sun),
    ("sundays", Weekday::Sun),
    ("lunes", Weekday::Mon),
    ("martes", Weekday::Tue),
    ("miercoles", Weekday::Wed),
    ("jueves", Weekday::Thu),
    ("viernes", Weekday::Fri),
    ("sabado", Weekday::Sat),
    ("sabados", Weekday::Sat),
    ("domingo", Weekday::Sun),
    ("domingos", Weekday::Sun),
];

/// Abbreviations that are also ordinary words; read as weekdays only in context.
const SHY_WEEKDAYS: &[(&str, Weekday)] = &[
    ("wed", Weekday::Wed),
    ("sat", Weekday::Sat),
    ("sun", Weekday::Sun),
];

const MONTHS: &[(&str, u32)] = &[
    ("january", 1),
    ("february", 2),
    ("march", 3),
    ("april", 4),
    ("june", 6),
    ("july", 7),
    ("august", 8),
    ("september", 9),
    ("october", 10),
    ("november", 11),
    ("december", 12),
    ("enero", 1),
    ("febrero", 2),
    ("marzo", 3),
    ("abril", 4),
    ("mayo", 5),
    ("junio", 6),
    ("julio", 7),
    ("agosto", 8),
    ("septiembre", 9),
    ("setiembre", 9),
    ("octubre", 10),
    ("noviembre", 11),
    ("diciembre", 12),
];

/// Month words that need a day number next to them ("may 5", not "may I").
const SHY_MONTHS: &[(&str, u32)] = &[
    ("jan", 1),
    ("feb", 2),
    ("mar", 3),
    ("apr", 4),
    ("may", 5),
    ("jun", 6),
    ("jul", 7),
    ("aug", 8),
    ("sep", 9),
    ("sept", 9),
    ("oct", 10),
    ("nov", 11),
    ("dec", 12),
    ("ene", 1),
    ("abr", 4),
    ("ago", 8),
    ("dic", 12),
];

const ORDINAL_WORDS: &[(&str, u32)] = &[
    ("first", 1),
    ("second", 2),
    ("third", 3),
    ("fourth", 4),
    ("fifth", 5),
    ("sixth", 6),
    ("seventh", 7),
    ("eighth", 8),
    ("ninth", 9),
    ("tenth", 10),
    ("eleventh", 11),
    ("twelfth", 12),
    ("thirteenth", 13),
    ("fourteenth", 14),
    ("fifteenth", 15),
    ("sixteenth", 16),
    ("seventeenth", 17),
    ("eighteenth", 18),
    ("nineteenth", 19),
    ("twentieth", 20),
    ("thirtieth", 30),
    ("primero", 1),
];

/// "twenty first", "thirty-first": the tens of a compound ordinal.
const ORDINAL_TENS: &[(&str, u32)] = &[("twenty", 20), ("thirty", 30)];

/// Words after an ordinal that make it something other than a day of the month.
const NOT_DAY_NOUNS: &[&str] = &[
    "one",
    "ones",
    "option",
    "choice",
    "appointment",
    "appointments",
    "address",
    "property",
    "house",
    "home",
    "slot",
    "window",
    "time",
    "times",
    "floor",
    "grade",
    "notice",
    "visit",
    "treatment",
    "opinion",
    "bill",
    "invoice",
    "st",
    "street",
    "ave",
    "avenue",
    "rd",
    "road",
    "dr",
    "drive",
    "ln",
    "lane",
    "blvd",
    "pl",
    "place",
    "ct",
    "court",
    "way",
    "cir",
    "pkwy",
    "hwy",
    "highway",
    "one?",
    "uno",
    "una",
    "opcion",
    "cita",
    "service",
    "location",
    "account",
    "place",
    "unit",
    "apt",
    "suite",
    "year",
    "person",
    "customer",
    "tech",
    "week",
    "month",
];

const APPT_WORDS: &[&str] = &[
    "appointment",
    "appointments",
    "appt",
    "visit",
    "service",
    "treatment",
    "booking",
    "inspection",
    "spray",
    "cita",
    "servicio",
    "visita",
];

/// Verbs that move a visit: a count of days after them is a move ("bump it a week").
const MOVE_VERBS: &[&str] = &[
    "bump", "bumped", "push", "pushed", "move", "moved", "shift", "delay", "postpone",
];

const EXCLUDERS: &[&str] = &[
    "not", "except", "cant", "cannot", "wont", "excepto", "menos", "no", "besides",
];

const COUNT_WORDS: &[(&str, i64)] = &[
    ("a", 1),
    ("an", 1),
    ("one", 1),
    ("two", 2),
    ("three", 3),
    ("four", 4),
    ("five", 5),
    ("six", 6),
    ("seven", 7),
    ("eight", 8),
    ("nine", 9),
    ("ten", 10),
    ("un", 1),
    ("una", 1),
    ("uno", 1),
    ("dos", 2),
    ("tres", 3),
    ("cuatro", 4),
    ("cinco", 5),
];

fn lookup<T: Copy>(table: &[(&str, T)], w: &str) -> Option<T> {
    table.iter().find(|(k, _)| *k == w).map(|(_, v)| *v)
}

fn hm(h: u32, m: u32) -> Option<NaiveTime> {
    NaiveTime::from_hms_opt(h, m, 0)
}

struct Parser<'a> {
    toks: &'a [Token],
    now: NaiveDateTime,
    today: NaiveDate,
    lang: Lang,
    spec: WhenSpec,
    existing: Option<NaiveDate>,
    bare_ordinal: Option<u8>,
    consumed: Vec<bool>,
    /// Dates read from a weekday with no "next" ("friday", "this friday").
    plain_weekdays: Vec<NaiveDate>,
    /// Where the last weekday expression ended and how it was read.
    last_weekday: Option<(usize, &'static str)>,
    /// Every date read from a weekday word (with or without "next").
    weekday_dates: Vec<NaiveDate>,
}

/// The role a date plays in the message.
enum Role {
    Candidate,
    Existing,
    Excluded,
}

impl<'a> Parser<'a> {
    fn w(&self, i: usize) -> &'a str {
        self.toks.get(i).map_or("", |t| t.norm.as_str())
    }

    fn tok(&self, i: usize) -> Option<&'a Token> {
        self.toks.get(i)
    }

    fn prev(&self, i: usize, back: usize) -> &'a str {
        i.checked_sub(back).map_or("", |j| self.w(j))
    }

    fn at_clause_end(&self, i: usize) -> bool {
        self.toks.get(i).is_none_or(|t| t.is_clause_break())
    }

    fn tomorrow(&self) -> NaiveDate {
        if self.now.hour() < 4 {
            self.today
        } else {
            self.today + Duration::days(1)
        }
    }

    fn run(&mut self) {
        let mut i = 0;
        while i < self.toks.len() {
            if let Some(len) = self.try_at(i) {
                let len = len.max(1);
                for k in i..(i + len).min(self.toks.len()) {
                    self.consumed[k] = true;
                }
                i += len;
            } else {
                i += 1;
            }
        }
        self.drop_weekdays_naming_a_date();
        self.align_weekdays();
    }

    /// "tuesday march 10", "martes 10 de marzo", "tues 3/10": the weekday names the date
    /// beside it, not the next Tuesday on its own.
    fn drop_weekdays_naming_a_date(&mut self) {
        let plain = std::mem::take(&mut self.plain_weekdays);
        let mut kept = Vec::new();
        for d in plain {
            let named =
                self.spec.dates.iter().any(|x| {
                    *x != d && x.weekday() == d.weekday() && !self.weekday_dates.contains(x)
                });
            if named {
                self.spec.dates.retain(|x| *x != d);
            } else {
                kept.push(d);
            }
        }
        self.plain_weekdays = kept;
    }

    /// "anytime next week except wednesday": a bare weekday said next to a range means the
    /// one inside the range.
    fn align_weekdays(&mut self) {
        let (Some(first), Some(last)) = (self.spec.earliest_date, self.spec.latest_date) else {
            return;
        };
        let inside = |d: NaiveDate| first <= d && d <= last;
        let move_in = |d: NaiveDate| -> NaiveDate {
            if inside(d) {
                return d;
            }
            let offset = (i64::from(d.weekday().num_days_from_monday())
                - i64::from(first.weekday().num_days_from_monday()))
            .rem_euclid(7);
            let moved = first + Duration::days(offset);
            if inside(moved) {
                moved
            } else {
                d
            }
        };
        for d in std::mem::take(&mut self.plain_weekdays) {
            for list in [&mut self.spec.dates, &mut self.spec.excluded] {
                for x in list.iter_mut() {
                    if *x == d {
                        *x = move_in(d);
                    }
                }
            }
        }
    }

    fn try_at(&mut self, i: usize) -> Option<usize> {
        self.greeting(i)
            .or_else(|| self.spanish_part(i))
            .or_else(|| self.relative_day(i))
            .or_else(|| self.asap(i))
            .or_else(|| self.relative_move(i))
            .or_else(|| self.in_n(i))
            .or_else(|| self.week_ranges(i))
            .or_else(|| self.weekday(i))
            .or_else(|| self.month_day(i))
            .or_else(|| self.numeric_date(i))
            .or_else(|| self.ordinal_day(i))
            .or_else(|| self.time_phrase(i))
            .or_else(|| self.part_word(i))
    }

    // ---- roles -------------------------------------------------------------------------

    fn role(&self, start: usize, end: usize) -> Role {
        let before1 = self.prev(start, 1);
        let before2 = self.prev(start, 2);
        let before3 = self.prev(start, 3);
        let after = self.w(end);
        if before1 == "from"
            || (before2 == "from" && matches!(before1, "this" | "on" | "the"))
            || (before2 == "instead" && before1 == "of")
        {
            return Role::Existing;
        }
        if APPT_WORDS.contains(&after)
            && !matches!(before1, "a" | "an" | "new" | "another" | "una" | "otra")
        {
            return Role::Existing;
        }
        if matches!(before1, "on" | "for" | "del")
            && (APPT_WORDS.contains(&before2) || before2 == "one")
            && matches!(before3, "my" | "the" | "our" | "mi" | "la" | "el")
        {
            return Role::Existing;
        }
        // "la del viernes", "el de mañana", "the friday one".
        if (matches!(before1, "del" | "de") && matches!(before2, "la" | "el"))
            || (after == "one" && before1 == "the")
        {
            return Role::Existing;
        }
        // "not friday", "can't do tomorrow", "anything but monday".
        for back in 1..=3 {
            let Some(j) = start.checked_sub(back) else {
                break;
            };
            let t = &self.toks[j];
            if t.is_clause_break() {
                break;
            }
            // Spanish "no" rules a day out only as "no puedo el viernes" or right before it.
            let spanish_no = t.norm == "no"
                && !(j + 1 == start
                    || matches!(
                        self.w(j + 1),
                        "puedo" | "podemos" | "puede" | "quiero" | "me"
                    ));
            if EXCLUDERS.contains(&t.norm.as_str()) && !spanish_no {
                return Role::Excluded;
            }
            // "don't come tomorrow" (but not "I don't mind friday").
            if t.norm == "dont"
                && matches!(
                    self.w(j + 1),
                    "come" | "do" | "book" | "schedule" | "send" | "want"
                )
            {
                return Role::Excluded;
            }
            if t.norm == "but" && matches!(self.prev(j, 1), "anything" | "any" | "anytime") {
                return Role::Excluded;
            }
        }
        Role::Candidate
    }

    fn add_date(&mut self, d: NaiveDate, start: usize, end: usize) {
        match self.role(start, end) {
            Role::Existing => {
                if self.existing.is_none() {
                    self.existing = Some(d);
                }
            }
            Role::Excluded => {
                if !self.spec.excluded.contains(&d) {
                    self.spec.excluded.push(d);
                }
            }
            Role::Candidate => {
                if !self.spec.dates.contains(&d) {
                    self.spec.dates.push(d);
                }
            }
        }
    }

    fn add_range(&mut self, a: NaiveDate, b: NaiveDate, start: usize, end: usize) {
        if let Role::Excluded = self.role(start, end) {
            return;
        }
        self.spec.earliest_date = Some(self.spec.earliest_date.map_or(a, |x| x.min(a)));
        self.spec.latest_date = Some(self.spec.latest_date.map_or(b, |x| x.max(b)));
    }

    fn set_part(&mut self, part: DayPart) {
        if self.spec.part.is_none() {
            self.spec.part = Some(part);
        }
    }

    // ---- rules -------------------------------------------------------------------------

    /// "good morning", "buenas tardes", "have a good night": greetings, not times.
    fn greeting(&self, i: usize) -> Option<usize> {
        let a = self.w(i);
        let b = self.w(i + 1);
        let part = matches!(
            b,
            "morning"
                | "afternoon"
                | "evening"
                | "night"
                | "day"
                | "weekend"
                | "tardes"
                | "noches"
                | "dias"
                | "tarde"
                | "noche"
        );
        if part
            && matches!(
                a,
                "good" | "great" | "nice" | "lovely" | "buenos" | "buenas" | "buena"
            )
        {
            return Some(2);
        }
        if a == "hasta" && matches!(b, "manana" | "luego" | "pronto") {
            return Some(2);
        }
        None
    }

    /// "en la mañana", "por la tarde", "de la noche", "en las mañanas".
    fn spanish_part(&mut self, i: usize) -> Option<usize> {
        if !matches!(self.w(i), "en" | "por" | "de" | "a" | "temprano") {
            return None;
        }
        if self.w(i) == "temprano" {
            self.set_part(DayPart::Morning);
            return Some(1);
        }
        if !matches!(self.w(i + 1), "la" | "las") {
            return None;
        }
        let part = match self.w(i + 2) {
            "manana" | "mananas" => DayPart::Morning,
            "tarde" | "tardes" => DayPart::Afternoon,
            "noche" | "noches" => DayPart::Evening,
            _ => return None,
        };
        self.set_part(part);
        Some(3)
    }

    fn relative_day(&mut self, i: usize) -> Option<usize> {
        let (a, b, c, d) = (self.w(i), self.w(i + 1), self.w(i + 2), self.w(i + 3));
        let day_after_tomorrow = match (a, b, c, d) {
            ("pasado", "manana", ..) => Some(2),
            ("day", "after", "tomorrow", _) => Some(3),
            ("the", "day", "after", "tomorrow") => Some(4),
            _ => None,
        };
        if let Some(len) = day_after_tomorrow {
            let day = self.tomorrow() + Duration::days(1);
            self.add_date(day, i, i + len);
            return Some(len);
        }
        if (a == "the" || a == "la") && matches!(b, "manana" | "mananas") {
            // "la mañana" is the morning.
            self.set_part(DayPart::Morning);
            return Some(2);
        }
        match a {
            "tomorrow" | "tomorrows" | "manana" => {
                let day = self.tomorrow();
                self.add_date(day, i, i + 1);
                Some(1)
            }
            "today" | "todays" | "hoy" => {
                self.add_date(self.today, i, i + 1);
                Some(1)
            }
            "tonight" => {
                self.add_date(self.today, i, i + 1);
                self.set_part(DayPart::Evening);
                Some(1)
            }
            "esta" if b == "noche" => {
                self.add_date(self.today, i, i + 2);
                self.set_part(DayPart::Evening);
                Some(2)
            }
            "esta" | "this"
                if matches!(b, "manana" | "morning" | "afternoon" | "evening" | "tarde") =>
            {
                self.add_date(self.today, i, i + 2);
                let part = match b {
                    "manana" | "morning" => DayPart::Morning,
                    "evening" => DayPart::Evening,
                    _ => DayPart::Afternoon,
                };
                self.set_part(part);
                Some(2)
            }
            "later" if b == "today" => {
                self.add_date(self.today, i, i + 2);
                Some(2)
            }
            "later" if b == "this" && c == "week" => {
                let sunday = self.end_of_week(self.today);
                let start = self.today + Duration::days(1);
                if start <= sunday {
                    self.add_range(start, sunday, i, i + 3);
                }
                Some(3)
            }
            _ => None,
        }
    }

    fn asap(&mut self, i: usize) -> Option<usize> {
        let (a, b, c, d) = (self.w(i), self.w(i + 1), self.w(i + 2), self.w(i + 3));
        let len = match (a, b, c, d) {
            ("asap" | "soonest" | "urgently", ..) => 1,
            ("as", "soon", "as", "possible" | "you" | "u" | "can") => 4,
            ("right", "now", ..) | ("right", "away", ..) => 2,
            ("first" | "next" | "earliest", "available" | "opening" | "slot", ..) => 2,
            ("earliest", "possible" | "time" | "date" | "day", ..) => 2,
            ("the", "earliest" | "soonest", ..) => 2,
            ("lo", "antes", "posible", _) => 3,
            ("lo", "mas", "pronto", _) => 3,
            ("cuanto", "antes", ..) => 2,
            ("lo", "mas", "rapido", _) => 3,
            _ => return None,
        };
        self.spec.asap = true;
        Some(len)
    }

    fn count_at(&self, i: usize) -> Option<(i64, usize)> {
        let a = self.w(i);
        if a == "a" && self.w(i + 1) == "couple" {
            let len = if self.w(i + 2) == "of" { 3 } else { 2 };
            return Some((2, len));
        }
        if let Some(n) = self.tok(i).and_then(Token::number) {
            return (1..=60).contains(&n).then_some((i64::from(n), 1));
        }
        lookup(COUNT_WORDS, a).map(|n| (n, 1))
    }

    /// A move counted from the visit: "bump it out about 7 days", "push it back a week",
    /// "a week later", "a few days later", "the following week", "same time next month",
    /// "un mes después".
    fn relative_move(&mut self, i: usize) -> Option<usize> {
        // "the following week", "the week after": the week after the visit's.
        let following = match (self.w(i), self.w(i + 1), self.w(i + 2)) {
            ("the", "following", "week") => 3,
            ("the", "week", "after") if self.at_clause_end(i + 3) => 3,
            _ => 0,
        };
        if following > 0 {
            self.spec.shift_days = Some((7, 13));
            return Some(following);
        }
        if self.w(i) == "same" && self.w(i + 1) == "time" && self.w(i + 2) == "next" {
            let days = match self.w(i + 3) {
                "month" => (28, 31),
                "week" => (7, 7),
                _ => return None,
            };
            self.spec.shift_days = Some(days);
            self.spec.same_time = true;
            return Some(4);
        }
        let mut j = i;
        let mut lead = matches!(self.w(j), "out" | "back" | "by");
        if lead {
            j += 1;
        } else {
            // "bump my appointment a week", "push it a few days": the verb says which way.
            lead = !matches!(
                self.prev(i, 1),
                "in" | "within" | "for" | "every" | "than" | "after" | "en" | "per" | "to" | "on"
            ) && {
                let before: Vec<&Token> = (1..=4)
                    .map_while(|back| i.checked_sub(back).and_then(|k| self.tok(k)))
                    .take_while(|t| !t.is_clause_break())
                    .collect();
                // "move it up a week" is earlier.
                before.iter().any(|t| MOVE_VERBS.contains(&t.norm.as_str()))
                    && !before
                        .iter()
                        .any(|t| matches!(t.norm.as_str(), "up" | "forward" | "earlier"))
            };
        }
        while matches!(
            self.w(j),
            "about" | "like" | "around" | "roughly" | "maybe" | "another" | "abt" | "approx"
        ) {
            j += 1;
        }
        let (range, used) = if self.w(j) == "a" && self.w(j + 1) == "few" {
            ((2, 5), 2)
        } else if self.w(j) == "few" {
            ((2, 5), 1)
        } else {
            let (n, used) = self.count_at(j)?;
            ((n, n), used)
        };
        j += used;
        let per = match self.w(j) {
            "day" | "days" | "dia" | "dias" => 1,
            "week" | "weeks" | "wk" | "wks" | "semana" | "semanas" => 7,
            "month" | "mes" => 30,
            _ => return None,
        };
        j += 1;
        // "a day earlier" is not a move later.
        if matches!(self.w(j), "earlier" | "sooner" | "before" | "antes" | "ago") {
            return None;
        }
        let trail = matches!(
            self.w(j),
            "later" | "out" | "after" | "back" | "despues" | "mas"
        );
        if trail {
            j += 1;
        }
        if !(lead || trail) {
            return None;
        }
        let (a, b) = (range.0 * per, range.1 * per);
        let b = if a == b { b + 3 } else { b };
        self.spec.shift_days = Some((a, b));
        Some(j - i)
    }

    /// "in 2 days", "in a week", "in a couple of days", "in a few days", "en 3 días".
    fn in_n(&mut self, i: usize) -> Option<usize> {
        if !matches!(self.w(i), "in" | "en" | "within") {
            return None;
        }
        // (first day, last day, length): "in a few days", "in a day or two".
        let range = match (self.w(i + 1), self.w(i + 2), self.w(i + 3)) {
            ("a", "few", "days") => Some((2, 4, 4)),
            ("a", "day", "or") => Some((1, 2, 5)),
            _ => None,
        };
        if let Some((first, last, len)) = range {
            let days = |n| self.today + Duration::days(n);
            self.add_range(days(first), days(last), i, i + len);
            return Some(len);
        }
        let (n, len) = self.count_at(i + 1)?;
        let unit = self.w(i + 1 + len);
        let days = match unit {
            "day" | "days" | "dia" | "dias" => n,
            "week" | "weeks" | "semana" | "semanas" => n * 7,
            _ => return None,
        };
        let d = self.today + Duration::days(days);
        self.add_date(d, i, i + 2 + len);
        Some(2 + len)
    }

    fn end_of_week(&self, d: NaiveDate) -> NaiveDate {
        d + Duration::days(6 - i64::from(d.weekday().num_days_from_monday()))
    }

    fn next_monday(&self) -> NaiveDate {
        self.today + Duration::days(7 - i64::from(self.today.weekday().num_days_from_monday()))
    }

    fn this_weekend(&self) -> (NaiveDate, NaiveDate) {
        let wd = self.today.weekday();
        match wd {
            Weekday::Sat => (self.today, self.today + Duration::days(1)),
            Weekday::Sun => (self.today, self.today),
            _ => {
                let sat = self.today + Duration::days(5 - i64::from(wd.num_days_from_monday()));
                (sat, sat + Duration::days(1))
            }
        }
    }

    fn week_ranges(&mut self, i: usize) -> Option<usize> {
        #[derive(PartialEq)]
        enum Span {
            NextWeek,
            ThisWeek,
            ThisWeekend,
            NextWeekend,
            NextMonth,
            ThisMonth,
        }
        let words = [
            self.w(i),
            self.w(i + 1),
            self.w(i + 2),
            self.w(i + 3),
            self.w(i + 4),
        ];
        let (len, span) = match words {
            ["next" | "following", "week", ..] | ["proxima", "semana", ..] => (2, Span::NextWeek),
            ["la", "proxima" | "siguiente", "semana", ..]
            | ["la", "semana", "proxima" | "siguiente", ..]
            | ["semana", "que", "viene", ..] => (3, Span::NextWeek),
            ["la", "semana", "que", "viene", _] => (4, Span::NextWeek),
            ["this" | "esta", "week" | "semana", ..] => (2, Span::ThisWeek),
            ["next", "weekend", ..] => (2, Span::NextWeekend),
            ["el", "proximo", "fin", "de", "semana"] => (5, Span::NextWeekend),
            ["this" | "the" | "on" | "over", "weekend" | "weekends", ..] => (2, Span::ThisWeekend),
            ["weekend" | "weekends", ..] => (1, Span::ThisWeekend),
            ["este" | "el", "fin", "de", "semana", _] => (4, Span::ThisWeekend),
            ["fin", "de", "semana", ..] => (3, Span::ThisWeekend),
            ["next", "month", ..] | ["proximo", "mes", ..] => (2, Span::NextMonth),
            ["el", "proximo", "mes", ..] | ["el", "mes", "proximo", ..] => (3, Span::NextMonth),
            ["el", "mes", "que", "viene", _] => (4, Span::NextMonth),
            ["this" | "este", "month" | "mes", ..] => (2, Span::ThisMonth),
            _ => return None,
        };
        // "next week tuesday": a date in that week.
        if span == Span::NextWeek {
            if let Some(wd) = self.weekday_word(i + len) {
                let d = self.next_monday() + Duration::days(i64::from(wd.num_days_from_monday()));
                self.add_date(d, i, i + len + 1);
                return Some(len + 1);
            }
        }
        let (start, end) = match span {
            Span::NextWeek => {
                let mon = self.next_monday();
                (mon, mon + Duration::days(6))
            }
            Span::ThisWeek => (self.today, self.end_of_week(self.today)),
            Span::ThisWeekend => self.this_weekend(),
            Span::NextWeekend => {
                let (s, _) = self.this_weekend();
                let sat = if s.weekday() == Weekday::Sun {
                    s - Duration::days(1)
                } else {
                    s
                };
                (sat + Duration::days(7), sat + Duration::days(8))
            }
            Span::NextMonth => {
                let first = first_of_next_month(self.today)?;
                (first, first_of_next_month(first)? - Duration::days(1))
            }
            Span::ThisMonth => (
                self.today,
                first_of_next_month(self.today)? - Duration::days(1),
            ),
        };
        self.add_range(start, end, i, i + len);
        Some(len)
    }

    fn weekday_word(&self, i: usize) -> Option<Weekday> {
        let w = self.w(i);
        if let Some(wd) = lookup(WEEKDAYS, w) {
            return Some(wd);
        }
        let wd = lookup(SHY_WEEKDAYS, w)?;
        let before = self.prev(i, 1);
        let after = self.w(i + 1);
        let context_before = matches!(
            before,
            "on" | "this"
                | "next"
                | "or"
                | "and"
                | "by"
                | "until"
                | "til"
                | "till"
                | "el"
                | "/"
                | ","
                | "coming"
                | "every"
                | "from"
                | "to"
        );
        let context_after = matches!(
            after,
            "or" | "and"
                | "/"
                | "morning"
                | "afternoon"
                | "evening"
                | "night"
                | "am"
                | "pm"
                | "at"
                | "?"
                | "works"
                | "is"
        ) || self.lookup_shy_neighbour(i + 1);
        let short = self
            .toks
            .iter()
            .filter(|t| t.kind != TokenKind::Punct)
            .count()
            <= 3;
        (context_before || context_after || short).then_some(wd)
    }

    fn lookup_shy_neighbour(&self, i: usize) -> bool {
        lookup(WEEKDAYS, self.w(i)).is_some()
    }

    fn weekday(&mut self, i: usize) -> Option<usize> {
        // Optional lead: this / this coming / next / coming / el / el próximo / próximo.
        let (lead, kind) = match (self.w(i), self.w(i + 1)) {
            ("this", "coming") => (2, "plain"),
            ("this" | "coming" | "esta" | "este", _) => (1, "this"),
            ("next", _) | ("proximo" | "proxima", _) => (1, "next"),
            ("el", "proximo") => (2, "next"),
            ("el" | "los", _) => (1, "plain"),
            _ => (0, "plain"),
        };
        let wd = self.weekday_word(i + lead)?;
        let mut len = lead + 1;
        let mut kind = kind;
        // "next tuesday or wednesday": the second weekday is next week's too.
        if lead == 0 && matches!(self.prev(i, 1), "or" | "and" | "/" | "," | "o" | "y") {
            if let Some((end, prev_kind)) = self.last_weekday {
                if end + 1 == i {
                    kind = prev_kind;
                }
            }
        }
        match (self.w(i + len), self.w(i + len + 1)) {
            ("next" | "proxima", "week" | "semana") => {
                kind = "next";
                len += 2;
            }
            ("de", "la") if self.w(i + len + 2) == "proxima" && self.w(i + len + 3) == "semana" => {
                kind = "next";
                len += 4;
            }
            ("que", "viene") => len += 2,
            ("after", "next") => {
                kind = "after_next";
                len += 2;
            }
            _ => {}
        }
        // "el martes 10", "miercoles 11", "friday 13th": the weekday names that day of the
        // month (the next one falling on that weekday), not the next such weekday.
        if matches!(kind, "this" | "plain") {
            if let Some((d, used)) = self.weekday_day_number(wd, i + len) {
                self.weekday_dates.push(d);
                self.last_weekday = Some((i + len + used, kind));
                self.add_date(d, i, i + len + used);
                return Some(len + used);
            }
        }
        let offset = i64::from(wd.num_days_from_monday());
        let d = match kind {
            "next" => self.next_monday() + Duration::days(offset),
            "after_next" => self.next_monday() + Duration::days(offset + 7),
            "this" => next_weekday(self.today, wd, true),
            _ => next_weekday(self.today, wd, false),
        };
        if matches!(kind, "this" | "plain") {
            self.plain_weekdays.push(d);
        }
        self.weekday_dates.push(d);
        self.last_weekday = Some((i + len, kind));
        self.add_date(d, i, i + len);
        Some(len)
    }

    /// A day of the month right after a weekday: the coming date with that day number, when
    /// it falls on `wd`, and the tokens it takes. Not a time ("friday 9am", "sat 9-12"), not a
    /// date with its month ("martes 10 de marzo", "tues 3/10"; read elsewhere).
    fn weekday_day_number(&self, wd: Weekday, i: usize) -> Option<(NaiveDate, usize)> {
        let (day, used, _) = self.day_number_at(i)?;
        let after = self.w(i + used);
        if matches!(
            after,
            "am" | "pm"
                | "a"
                | "p"
                | "oclock"
                | ":"
                | "/"
                | "-"
                | "to"
                | "till"
                | "til"
                | "until"
                | "hasta"
                | "de"
                | "of"
        ) || self.month_word(i + used, true).is_some()
        {
            return None;
        }
        // The coming one only: "tuesday 5" when the 5th is a Saturday is a time, not January.
        let d = self.next_day_of_month(day)?;
        (d.weekday() == wd).then_some((d, used))
    }

    fn day_number_at(&self, i: usize) -> Option<(u32, usize, bool)> {
        // Returns (day, tokens used, had an ordinal suffix or word).
        let t = self.tok(i)?;
        if let Some(n) = lookup(ORDINAL_WORDS, &t.norm) {
            return Some((n, 1, true));
        }
        if let Some(tens) = lookup(ORDINAL_TENS, &t.norm) {
            let j = if self.w(i + 1) == "-" { i + 2 } else { i + 1 };
            let unit = lookup(ORDINAL_WORDS, self.w(j)).filter(|u| (1..=9).contains(u))?;
            return (tens + unit <= 31).then_some((tens + unit, j + 1 - i, true));
        }
        let n = t.number()?;
        if !(1..=31).contains(&n) || t.norm.len() > 2 {
            return None;
        }
        // Not a time ("9:30") and not a card/phone group.
        if self.w(i + 1) == ":" {
            return None;
        }
        match self.tok(i + 1) {
            Some(s)
                if s.glued && matches!(s.norm.as_str(), "st" | "nd" | "rd" | "th" | "o" | "ro") =>
            {
                Some((n, 2, true))
            }
            _ => Some((n, 1, false)),
        }
    }

    fn year_at(&self, i: usize) -> Option<(i32, usize)> {
        let mut j = i;
        if self.w(j) == "," {
            j += 1;
        }
        let t = self.tok(j)?;
        let n = t.number()?;
        if t.norm.len() == 4 && (2000..=2100).contains(&n) {
            return Some((n as i32, j + 1 - i));
        }
        None
    }

    fn month_word(&self, i: usize, shy_ok: bool) -> Option<u32> {
        let w = self.w(i);
        lookup(MONTHS, w).or_else(|| if shy_ok { lookup(SHY_MONTHS, w) } else { None })
    }

    fn resolve_month_day(&self, month: u32, day: u32, year: Option<i32>) -> Option<NaiveDate> {
        match year {
            Some(y) => NaiveDate::from_ymd_opt(y, month, day),
            None => {
                let y = self.today.year();
                match NaiveDate::from_ymd_opt(y, month, day) {
                    Some(d) if d >= self.today => Some(d),
                    _ => NaiveDate::from_ymd_opt(y + 1, month, day),
                }
            }
        }
    }

    /// "Dec 9", "december 9th", "9 dec", "9th of december", "9 de diciembre", "diciembre 9".
    fn month_day(&mut self, i: usize) -> Option<usize> {
        // Month first.
        if let Some(month) = self.month_word(i, true) {
            let mut j = i + 1;
            if self.w(j) == "." {
                j += 1;
            }
            if let Some((day, used, _)) = self.day_number_at(j) {
                j += used;
                let year = self.year_at(j);
                if let Some((_, ylen)) = year {
                    j += ylen;
                }
                if let Some(d) = self.resolve_month_day(month, day, year.map(|y| y.0)) {
                    self.add_date(d, i, j);
                    return Some(j - i);
                }
            }
            // A month alone after "in": the whole month.
            if self.month_word(i, false).is_some()
                && matches!(self.prev(i, 1), "in" | "en" | "during" | "de")
            {
                let first = self.resolve_month_day(month, 1, None)?;
                let first =
                    if first.month() == self.today.month() && first.year() > self.today.year() {
                        NaiveDate::from_ymd_opt(self.today.year(), month, 1)?
                    } else {
                        first
                    };
                let last = first_of_next_month(first)? - Duration::days(1);
                let start = first.max(self.today);
                self.add_range(start, last, i, i + 1);
                return Some(1);
            }
            return None;
        }
        // Day first.
        let (day, used, _) = self.day_number_at(i)?;
        let mut j = i + used;
        if matches!(self.w(j), "of" | "de") {
            j += 1;
        }
        let month = self.month_word(j, true)?;
        j += 1;
        let year = self.year_at(j);
        if let Some((_, ylen)) = year {
            j += ylen;
        }
        let d = self.resolve_month_day(month, day, year.map(|y| y.0))?;
        // "el 9 de diciembre": take the article too.
        self.add_date(d, i, j);
        Some(j - i)
    }

    /// "12/9", "12/9/26", "12/09/2026"; day/month in Spanish.
    fn numeric_date(&mut self, i: usize) -> Option<usize> {
        let a = self.tok(i)?;
        let slash = self.tok(i + 1)?;
        let b = self.tok(i + 2)?;
        if slash.norm != "/" || !slash.glued || !b.glued {
            return None;
        }
        let (x, y) = (a.number()?, b.number()?);
        if a.norm.len() > 2 || b.norm.len() > 2 {
            return None;
        }
        let mut len = 3;
        let mut year = None;
        if self.w(i + 3) == "/" && self.tok(i + 4).is_some_and(|t| t.glued) {
            if let Some(t) = self.tok(i + 4) {
                let n = t.number()?;
                year = match t.norm.len() {
                    2 => Some(2000 + n as i32),
                    4 => Some(n as i32),
                    _ => None,
                };
                len = 5;
            }
        }
        if matches!(
            self.w(i + len),
            "price" | "off" | "hour" | "hours" | "acre" | "inch" | "mile"
        ) || matches!(
            self.prev(i, 1),
            "exp" | "expires" | "expiry" | "expiration" | "vence" | "vencimiento"
        ) || (self.prev(i, 1) == "date" && self.prev(i, 2).starts_with("exp"))
        {
            return None;
        }
        let (m, d) = if self.lang == Lang::Es {
            (y, x)
        } else {
            (x, y)
        };
        let date = if (1..=12).contains(&m) && (1..=31).contains(&d) {
            self.resolve_month_day(m, d, year)
        } else {
            None
        }
        .or_else(|| {
            // The other reading, when this one is impossible ("25/12" in English).
            if (1..=12).contains(&d) && (1..=31).contains(&m) {
                self.resolve_month_day(d, m, year)
            } else {
                None
            }
        })?;
        self.add_date(date, i, i + len);
        Some(len)
    }

    fn next_day_of_month(&self, day: u32) -> Option<NaiveDate> {
        let mut y = self.today.year();
        let mut m = self.today.month();
        for _ in 0..13 {
            if let Some(d) = NaiveDate::from_ymd_opt(y, m, day) {
                if d >= self.today {
                    return Some(d);
                }
            }
            m += 1;
            if m > 12 {
                m = 1;
                y += 1;
            }
        }
        None
    }

    /// "the 3rd", "on the 15th", "15th", "el 15", "on the first".
    fn ordinal_day(&mut self, i: usize) -> Option<usize> {
        let (day, used, ordinal) = self.day_number_at(i)?;
        let word_ordinal =
            lookup(ORDINAL_WORDS, self.w(i)).is_some() || lookup(ORDINAL_TENS, self.w(i)).is_some();
        let before = self.prev(i, 1);
        let before2 = self.prev(i, 2);
        let after = self.w(i + used);
        if NOT_DAY_NOUNS.contains(&after) {
            return None;
        }
        let accepted = if word_ordinal {
            // Words like "first" are dates only in "on the first", "to the tenth".
            before == "the"
                && matches!(
                    before2,
                    "on" | "to" | "for" | "until" | "till" | "til" | "by" | "from"
                )
        } else if ordinal {
            true
        } else {
            // A bare number: "el 15", or "the 15" at the end of a clause.
            (before == "el" && self.lang == Lang::Es)
                || (before == "the"
                    && (self.at_clause_end(i + used)
                        || matches!(after, "or" | "and" | "at" | "in" | "morning" | "afternoon")))
        };
        if !accepted {
            return None;
        }
        let d = self.next_day_of_month(day)?;
        if day <= 10 && !matches!(self.role(i, i + used), Role::Existing) {
            self.bare_ordinal = Some(day as u8);
        }
        self.add_date(d, i, i + used);
        Some(used)
    }

    /// A clock time at `i`: (time, tokens used, whether am/pm or a word made it explicit).
    fn clock_at(&self, i: usize, hinted: bool) -> Option<(NaiveTime, usize, bool)> {
        let mut j = i;
        if matches!(self.w(j), "las" | "la") {
            j += 1;
        }
        match self.w(j) {
            "noon" | "midday" | "mediodia" | "lunchtime" => {
                return Some((hm(12, 0)?, j + 1 - i, true))
            }
            "midnight" | "medianoche" => return Some((hm(0, 0)?, j + 1 - i, true)),
            _ => {}
        }
        let t = self.tok(j)?;
        let n = t.number()?;
        if t.norm.len() > 2 || n > 23 {
            return None;
        }
        j += 1;
        let mut minute = 0;
        // "10:30" is a clock time even without am/pm.
        let mut has_minutes = false;
        if self.w(j) == ":"
            && self
                .tok(j + 1)
                .is_some_and(|m| m.glued && m.norm.len() == 2)
        {
            minute = self.tok(j + 1).and_then(Token::number)?;
            if minute > 59 {
                return None;
            }
            j += 2;
            has_minutes = true;
        }
        // am / pm, glued or spaced; "a.m."; "de la tarde".
        let mut meridiem: Option<bool> = None; // Some(true) = pm
        match self.w(j) {
            "am" => {
                meridiem = Some(false);
                j += 1;
            }
            "pm" => {
                meridiem = Some(true);
                j += 1;
            }
            "a" | "p" if self.tok(j).is_some_and(|t| t.glued) => {
                meridiem = Some(self.w(j) == "p");
                j += 1;
                if self.w(j) == "." && self.w(j + 1) == "m" {
                    j += 2;
                    if self.w(j) == "." {
                        j += 1;
                    }
                }
            }
            "oclock" => j += 1,
            "de" | "in" if matches!(self.w(j + 1), "la" | "the") => match self.w(j + 2) {
                "tarde" | "noche" | "afternoon" | "evening" | "night" => {
                    meridiem = Some(true);
                    j += 3;
                }
                "manana" | "morning" => {
                    meridiem = Some(false);
                    j += 3;
                }
                _ => {}
            },
            _ => {}
        }
        if meridiem.is_none() && !hinted && !has_minutes {
            return None;
        }
        let hour = match meridiem {
            Some(pm) => {
                if n == 0 || n > 12 {
                    return None;
                }
                match (n, pm) {
                    (12, false) => 0,
                    (12, true) => 12,
                    (h, true) => h + 12,
                    (h, false) => h,
                }
            }
            None => match n {
                0 => return None,
                1..=6 => n + 12,
                _ => n,
            },
        };
        Some((hm(hour, minute)?, j - i, meridiem.is_some() || has_minutes))
    }

    fn time_phrase(&mut self, i: usize) -> Option<usize> {
        let (a, b, c) = (self.w(i), self.w(i + 1), self.w(i + 2));
        // Ranges: "between 2 and 4", "entre las 2 y las 4", "from 8 to 12", "2-4pm".
        let range_lead = match a {
            "between" | "entre" | "from" => 1,
            _ => 0,
        };
        if let Some((t1, l1, e1)) = self.clock_at(i + range_lead, true) {
            let k = i + range_lead + l1;
            if matches!(
                self.w(k),
                "and" | "y" | "-" | "to" | "till" | "til" | "until" | "a"
            ) {
                if let Some((t2, l2, e2)) = self.clock_at(k + 1, true) {
                    let window =
                        matches!(self.w(k + 1 + l2), "window" | "windows" | "slot" | "slots")
                            || self.prev(i, 1) == "the";
                    if range_lead == 1 || e1 || e2 || window {
                        let mut t1 = t1;
                        // "2-4pm": the first time takes the second's half of the day.
                        if !e1
                            && e2
                            && t2.hour() >= 12
                            && t1.hour() < 12
                            && t1.hour() + 12 <= t2.hour()
                        {
                            t1 = hm(t1.hour() + 12, t1.minute())?;
                        }
                        if !e1 && t1 > t2 && t1.hour() >= 12 {
                            t1 = hm(t1.hour() - 12, t1.minute())?;
                        }
                        self.spec.after = Some(t1);
                        self.spec.before = Some(t2);
                        return Some(k + 1 + l2 - i);
                    }
                }
            }
        }
        // Words of the day as bounds.
        match (a, b, c) {
            ("after" | "despues", "lunch" | "lunchtime" | "comer" | "almuerzo", _) => {
                self.set_part(DayPart::Afternoon);
                return Some(2);
            }
            ("before" | "antes", "lunch" | "lunchtime", _) => {
                self.set_part(DayPart::Morning);
                return Some(2);
            }
            ("after" | "despues", "work" | "school" | "trabajo", _) => {
                self.spec.after = hm(if b == "school" { 15 } else { 17 }, 0);
                return Some(2);
            }
            ("first", "thing", _) => {
                self.set_part(DayPart::Morning);
                return Some(2);
            }
            _ => {}
        }
        // After / before / at.
        let (lead, kind) = match (a, b, c) {
            ("not", "before", _) => (2, "after"),
            ("no", "later", "than") => (3, "before"),
            ("not", "after" | "later", _) => (2, "before"),
            ("after" | "past", ..) => (1, "after"),
            ("despues", "de" | "del", _) => (2, "after"),
            ("before" | "by" | "until" | "till" | "til", ..) => (1, "before"),
            ("antes", "de" | "del", _) => (2, "before"),
            ("at" | "around" | "about" | "arround" | "like" | "approx", ..) => (1, "at"),
            ("a", "las" | "la", _) => (1, "at"),
            _ => (0, "at"),
        };
        let (t, len, explicit) = self.clock_at(i + lead, lead > 0)?;
        if lead == 0 && !explicit {
            return None;
        }
        // A bare number is a time only when nothing after it makes it something else
        // ("at 12 Oak St", "after 2 weeks", "by 3 days").
        if !explicit && !self.time_friendly(i + lead + len) {
            return None;
        }
        match kind {
            "after" => self.spec.after = Some(t),
            "before" => self.spec.before = Some(t),
            _ => self.spec.at = Some(t),
        }
        Some(lead + len)
    }

    fn time_friendly(&self, i: usize) -> bool {
        self.at_clause_end(i)
            || matches!(
                self.w(i),
                "or" | "and"
                    | "on"
                    | "tomorrow"
                    | "today"
                    | "tonight"
                    | "this"
                    | "next"
                    | "please"
                    | "if"
                    | "works"
                    | "would"
                    | "is"
                    | "manana"
                    | "hoy"
                    | "el"
                    | "y"
                    | "o"
                    | "por"
                    | "but"
                    | "then"
                    | "for"
                    | "thanks"
                    | "gracias"
                    | "ok"
            )
            || lookup(WEEKDAYS, self.w(i)).is_some()
            || self.tok(i).is_some_and(|t| t.kind == TokenKind::Symbol)
    }

    fn part_word(&mut self, i: usize) -> Option<usize> {
        let (a, b) = (self.w(i), self.w(i + 1));
        let before = self.prev(i, 1);
        let part = match a {
            "morning" | "mornings" => DayPart::Morning,
            "afternoon" | "afternoons" => DayPart::Afternoon,
            "evening" | "evenings" => DayPart::Evening,
            "night" | "nights" if before != "last" => DayPart::Evening,
            "pm" if before != "i" => DayPart::Afternoon,
            "am" if self.am_means_morning(i) => DayPart::Morning,
            "anytime" | "whenever" | "flexible" => DayPart::Any,
            "any" if matches!(b, "time" | "hour") => {
                self.spec.part = Some(DayPart::Any);
                return Some(2);
            }
            "all" if b == "day" => {
                self.spec.part = Some(DayPart::Any);
                return Some(2);
            }
            "cualquier" if matches!(b, "hora" | "momento" | "dia") => {
                self.spec.part = Some(DayPart::Any);
                return Some(2);
            }
            "cuando" if b == "sea" => {
                self.spec.part = Some(DayPart::Any);
                return Some(2);
            }
            _ => return None,
        };
        self.set_part(part);
        Some(1)
    }

    /// "am" is the morning in "tomorrow am" or "in the am", never in "I am".
    fn am_means_morning(&self, i: usize) -> bool {
        let before = self.prev(i, 1);
        if matches!(
            before,
            "i" | "where" | "what" | "who" | "how" | "so" | "still"
        ) {
            return false;
        }
        let after = self.w(i + 1);
        matches!(
            before,
            "the" | "tomorrow" | "today" | "manana" | "or" | "/" | "an"
        ) || lookup(WEEKDAYS, before).is_some()
            || lookup(SHY_WEEKDAYS, before).is_some()
            || matches!(
                after,
                "or" | "slot" | "window" | "appointment" | "please" | "works" | "/"
            )
            || (self.at_clause_end(i + 1) && i > 0 && !self.toks[i - 1].is_word())
    }
}

fn next_weekday(today: NaiveDate, wd: Weekday, include_today: bool) -> NaiveDate {
    let from = i64::from(today.weekday().num_days_from_monday());
    let to = i64::from(wd.num_days_from_monday());
    let mut delta = (to - from).rem_euclid(7);
    if delta == 0 && !include_today {
        delta = 7;
    }
    today + Duration::days(delta)
}

fn first_of_next_month(d: NaiveDate) -> Option<NaiveDate> {
    if d.month() == 12 {
        NaiveDate::from_ymd_opt(d.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(d.year(), d.month() + 1, 1)
    }
}
