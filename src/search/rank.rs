//! Re-ranking. The index only gathers candidates (its fuzzy matches all score alike); here
//! each candidate is scored against the parsed query: for every query word the best match
//! over the customer's fields (exact > prefix > one typo > two typos), weighted by field
//! (name > phone > street > zip > email > city), plus bonuses when the street number or the
//! zip agrees exactly, when a full phone number or email matches, when several query words
//! land in the same field, and for the share of the name or street the query covers. Ties break on customer id so results are deterministic.

use std::collections::BTreeSet;

use super::text::{self, edit_distance, is_numeric, max_typos, street_form};

/// A field a query word can match; reported back in `SearchHit::matched`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum MatchField {
    Name,
    Street,
    City,
    Zip,
    Phone,
    Email,
}

impl MatchField {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            MatchField::Name => "name",
            MatchField::Street => "street",
            MatchField::City => "city",
            MatchField::Zip => "zip",
            MatchField::Phone => "phone",
            MatchField::Email => "email",
        }
    }

    fn weight(self) -> f32 {
        match self {
            MatchField::Name => 3.0,
            MatchField::Phone => 3.0,
            MatchField::Street => 2.0,
            MatchField::Zip => 1.5,
            MatchField::Email => 1.5,
            MatchField::City => 1.0,
        }
    }
}

const STREET_NUMBER_BONUS: f32 = 1.0;
const ZIP_BONUS: f32 = 1.0;
const FULL_PHONE_BONUS: f32 = 2.0;
const EMAIL_BONUS: f32 = 4.0;
const SAME_FIELD_BONUS: f32 = 0.5;
/// Times the share of a name's (or the best street's) words the query matched: `creek`
/// fits `Creek Dr` better than `Falcon Creek Way`.
const COVERAGE_BONUS: f32 = 0.5;

/// One query word, normalised, with its street spelling and characters precomputed.
#[derive(Debug, Clone)]
pub(crate) struct QueryWord {
    pub text: String,
    pub street: String,
    /// Length in characters.
    pub len: usize,
    pub numeric: bool,
    /// Whether the word contains a digit (no typo tolerance for those: `1402` ≠ `1403`).
    pub has_digit: bool,
}

/// A query as the index and the re-ranker use it.
#[derive(Debug, Clone, Default)]
pub(crate) struct ParsedQuery {
    pub words: Vec<QueryWord>,
    /// Runs of two or more adjacent digit groups joined (`512 555-0133` → `5125550133`),
    /// tried against phone numbers only.
    pub phone_runs: Vec<String>,
    /// Whole email addresses typed in the query, lowercased.
    pub emails: Vec<String>,
}

/// At most this many words of a query are used; the rest is ignored.
pub(crate) const MAX_QUERY_WORDS: usize = 12;
/// Queries are cut to this many characters before parsing.
pub(crate) const MAX_QUERY_CHARS: usize = 256;

impl ParsedQuery {
    pub(crate) fn parse(raw: &str) -> ParsedQuery {
        let raw: String = raw.chars().take(MAX_QUERY_CHARS).collect();
        let mut words: Vec<QueryWord> = Vec::new();
        for w in text::words(&raw) {
            if words.len() == MAX_QUERY_WORDS {
                break;
            }
            if words.iter().any(|q| q.text == w) {
                continue;
            }
            words.push(QueryWord {
                street: street_form(&w).to_string(),
                len: w.chars().count(),
                numeric: is_numeric(&w),
                has_digit: w.bytes().any(|b| b.is_ascii_digit()),
                text: w,
            });
        }
        let mut phone_runs = Vec::new();
        let mut run: Vec<&str> = Vec::new();
        let all = text::words(&raw);
        for w in all.iter().map(String::as_str).chain(std::iter::once("")) {
            if is_numeric(w) {
                run.push(w);
                continue;
            }
            if run.len() >= 2 {
                let joined: String = run.concat();
                if joined.len() >= 7 && joined.len() <= 15 && !phone_runs.contains(&joined) {
                    phone_runs.push(joined);
                }
            }
            run.clear();
        }
        let emails = raw
            .split_whitespace()
            .filter(|w| w.contains('@'))
            .map(|w| {
                w.trim_matches(|c: char| !c.is_alphanumeric())
                    .to_lowercase()
            })
            .filter(|w| !w.is_empty())
            .collect();
        ParsedQuery {
            words,
            phone_runs,
            emails,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.words.is_empty() && self.phone_runs.is_empty() && self.emails.is_empty()
    }
}

/// A candidate's stored fields, already normalised at indexing time.
#[derive(Debug, Default)]
pub(crate) struct CandidateFields<'a> {
    pub name: Vec<&'a str>,
    /// One entry per property: the street's words.
    pub streets: Vec<Vec<&'a str>>,
    pub city: Vec<&'a str>,
    pub zip: Vec<&'a str>,
    /// Digits only.
    pub phones: Vec<&'a str>,
    /// Lowercased whole addresses.
    pub emails: Vec<&'a str>,
    /// The words of the addresses.
    pub email_words: Vec<&'a str>,
}

/// The outcome of scoring one candidate.
#[derive(Debug, PartialEq)]
pub(crate) struct Scored {
    pub score: f32,
    pub matched: Vec<&'static str>,
}

/// How well a query word matches one stored word, in 0..=1.
fn word_similarity(q: &QueryWord, q_text: &str, d: &str) -> f32 {
    if q_text == d {
        return 1.0;
    }
    if q.has_digit || d.is_empty() {
        return 0.0;
    }
    let n = q.len;
    let mut best: f32 = 0.0;
    if d.starts_with(q_text) {
        best = match n {
            1 => 0.3,
            2 => 0.55,
            _ => 0.8,
        };
    }
    let max = usize::from(max_typos(n));
    if max == 0 {
        return best;
    }
    let typo = if q_text.is_ascii() && d.is_ascii() {
        typo_similarity(q_text.as_bytes(), d.as_bytes(), max)
    } else {
        let q_chars: Vec<char> = q_text.chars().collect();
        let d_chars: Vec<char> = d.chars().collect();
        typo_similarity(&q_chars, &d_chars, max)
    };
    best.max(typo)
}

/// Similarity from the edit distance of a whole word, or of a word not finished yet
/// (`oakmnt` against `oakmont`'s first six letters).
fn typo_similarity<T: PartialEq>(q: &[T], d: &[T], max: usize) -> f32 {
    match edit_distance(q, d, max) {
        Some(0) => return 1.0,
        Some(1) if d.len() == q.len() => return 0.78,
        Some(1) => return 0.75,
        Some(_) => return 0.5,
        None => {}
    }
    if q.len() >= 4 && d.len() > q.len() && edit_distance(q, &d[..q.len()], 1) == Some(1) {
        return 0.5;
    }
    0.0
}

/// How a query matches the words of one field value.
struct FieldMatch {
    /// Best similarity per query word.
    best: Vec<f32>,
    /// Share of the value's words that some query word matched.
    coverage: f32,
}

fn field_match(q: &[QueryWord], street: bool, doc_words: &[&str]) -> FieldMatch {
    let mut best = vec![0.0f32; q.len()];
    let mut covered = 0usize;
    for d in doc_words {
        let mut hit = false;
        for (i, w) in q.iter().enumerate() {
            let text = if street { &w.street } else { &w.text };
            let s = word_similarity(w, text, d);
            if s > 0.0 {
                hit = true;
                best[i] = best[i].max(s);
            }
        }
        covered += usize::from(hit);
    }
    FieldMatch {
        best,
        coverage: covered as f32 / doc_words.len().max(1) as f32,
    }
}

/// The best per-word similarities over several values of one field (properties), and the
/// best coverage of any single value.
fn merge(matches: &[FieldMatch], n: usize) -> FieldMatch {
    let mut best = vec![0.0f32; n];
    let mut coverage: f32 = 0.0;
    for m in matches {
        for (b, s) in best.iter_mut().zip(&m.best) {
            *b = b.max(*s);
        }
        coverage = coverage.max(m.coverage);
    }
    FieldMatch { best, coverage }
}

/// Score one candidate against a query. A score of zero means nothing matched.
pub(crate) fn score(q: &ParsedQuery, c: &CandidateFields) -> Scored {
    let mut total: f32 = 0.0;
    let mut matched: BTreeSet<MatchField> = BTreeSet::new();
    let mut per_field = [0usize; 6];
    let n = q.words.len();

    let name = field_match(&q.words, false, &c.name);
    let streets: Vec<FieldMatch> = c
        .streets
        .iter()
        .map(|s| field_match(&q.words, true, s))
        .collect();
    let street = merge(&streets, n);
    let city = field_match(&q.words, false, &c.city);
    let email = field_match(&q.words, false, &c.email_words);

    for (i, w) in q.words.iter().enumerate() {
        let mut best: Option<(f32, MatchField)> = None;
        let mut consider = |field: MatchField, sim: f32| {
            let s = sim * field.weight();
            if s > 0.0 && best.is_none_or(|(b, _)| s > b) {
                best = Some((s, field));
            }
        };
        consider(MatchField::Name, name.best[i]);
        consider(MatchField::Street, street.best[i]);
        consider(MatchField::City, city.best[i]);
        if w.numeric {
            if c.zip.contains(&w.text.as_str()) {
                consider(MatchField::Zip, 1.0);
            }
            if w.text.len() >= text::MIN_PHONE_SUFFIX {
                consider(MatchField::Phone, phone_similarity(&w.text, &c.phones));
            }
        } else {
            consider(MatchField::Email, email.best[i]);
        }
        if let Some((s, field)) = best {
            total += s;
            matched.insert(field);
            per_field[field as usize] += 1;
        }
        if w.numeric {
            if c.streets
                .iter()
                .any(|s| s.first() == Some(&w.text.as_str()))
            {
                total += STREET_NUMBER_BONUS;
                matched.insert(MatchField::Street);
            }
            if c.zip.contains(&w.text.as_str()) {
                total += ZIP_BONUS;
                matched.insert(MatchField::Zip);
            }
        }
    }
    if matched.contains(&MatchField::Name) {
        total += COVERAGE_BONUS * name.coverage;
    }
    if matched.contains(&MatchField::Street) {
        total += COVERAGE_BONUS * street.coverage;
    }

    for run in &q.phone_runs {
        let sim = phone_similarity(run, &c.phones);
        if sim > 0.0 {
            total += sim * MatchField::Phone.weight() + FULL_PHONE_BONUS;
            matched.insert(MatchField::Phone);
        }
    }
    for email in &q.emails {
        if c.emails.iter().any(|e| e == email) {
            total += EMAIL_BONUS;
            matched.insert(MatchField::Email);
        }
    }
    for count in per_field {
        if count >= 2 {
            total += SAME_FIELD_BONUS * (count - 1) as f32;
        }
    }
    Scored {
        score: total,
        matched: matched.into_iter().map(MatchField::as_str).collect(),
    }
}

/// How well a string of digits matches the end of one of the phone numbers: the whole
/// national number or more counts fully, the last four a little less.
fn phone_similarity(query_digits: &str, phones: &[&str]) -> f32 {
    if query_digits.len() < text::MIN_PHONE_SUFFIX {
        return 0.0;
    }
    if !phones.iter().any(|p| p.ends_with(query_digits)) {
        return 0.0;
    }
    match query_digits.len() {
        0..=5 => 0.7,
        6..=9 => 0.9,
        _ => 1.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Normalised words, leaked so the borrowed candidate outlives the test helper.
    fn leak(words: Vec<String>) -> Vec<&'static str> {
        words
            .into_iter()
            .map(|w| &*Box::leak(w.into_boxed_str()))
            .collect()
    }

    fn fields(name: &str, street: &str, city: &str, zip: &str) -> CandidateFields<'static> {
        CandidateFields {
            name: leak(text::words(name)),
            streets: vec![leak(text::street_words(street))],
            city: leak(text::words(city)),
            zip: leak(text::words(zip)),
            phones: vec!["15125550133"],
            emails: vec!["jsmith@example.com"],
            email_words: vec!["jsmith", "example", "com"],
        }
    }

    #[test]
    fn exact_beats_prefix_beats_typo_and_name_beats_street() {
        let doc = fields("John Smith", "1402 Oak Hollow Dr", "Austin", "78745");
        let s = |q: &str| score(&ParsedQuery::parse(q), &doc).score;
        assert!(s("smith") > s("smi"), "exact over prefix");
        assert!(s("smi") > s("smyth"), "prefix over a typo");
        assert!(s("smyth") > s("smmyyth"), "one typo over none matching");
        assert_eq!(s("smmyyth"), 0.0);
        assert!(s("john") > s("hollow"), "name over street");
        assert!(s("hollow") > s("austin"), "street over city");
        assert!(s("1402") > s("hollow"), "street number bonus");
        assert!(
            s("john smith") > s("john") + s("smith") - 0.01,
            "same-field bonus"
        );
    }

    #[test]
    fn matched_lists_the_fields_that_carried_words() {
        let doc = fields("John Smith", "1402 Oak Hollow Dr", "Austin", "78745");
        let m = |q: &str| score(&ParsedQuery::parse(q), &doc).matched;
        assert_eq!(m("jhon oak 78745"), ["name", "street", "zip"]);
        assert_eq!(m("512-555-0133"), ["phone"]);
        assert_eq!(m("0133"), ["phone"]);
        assert_eq!(m("JSmith@Example.com"), ["name", "email"]);
        assert!(m("nothing").is_empty());
    }

    #[test]
    fn parse_joins_digit_groups_and_keeps_emails() {
        let q = ParsedQuery::parse("+1 (512) 555-0133 jo@x.io smith smith");
        assert_eq!(q.phone_runs, ["15125550133"]);
        assert_eq!(q.emails, ["jo@x.io"]);
        let texts: Vec<&str> = q.words.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(texts, ["1", "512", "555", "0133", "jo", "x", "io", "smith"]);
        assert!(ParsedQuery::parse("  ?!* ").is_empty());
        let many: String = (0..200).map(|i| format!("w{i} ")).collect();
        assert_eq!(ParsedQuery::parse(&many).words.len(), MAX_QUERY_WORDS);
        assert_eq!(
            ParsedQuery::parse(&"word ".repeat(200)).words.len(),
            2,
            "word, and a cut-off wo"
        );
    }
}
