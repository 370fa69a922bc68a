//! Re-ranking. The index only gathers candidates (its fuzzy matches all score alike); here
//! each candidate is scored against the parsed query: for every query word the best match
//! over the customer's fields (exact > prefix > one typo > two typos), weighted by field
//! (name > phone > street > zip > email > city), plus bonuses when the street number or the
//! zip agrees exactly, when a full phone number or email matches, and when several query
//! words land in the same field. Ties break on customer id so results are deterministic.

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

/// One query word, normalised, with its street spelling and characters precomputed.
#[derive(Debug, Clone)]
pub(crate) struct QueryWord {
    pub text: String,
    pub street: String,
    pub chars: Vec<char>,
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
                chars: w.chars().collect(),
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
pub(crate) struct CandidateFields {
    pub name: Vec<String>,
    /// One entry per property: the street's words.
    pub streets: Vec<Vec<String>>,
    pub city: Vec<String>,
    pub zip: Vec<String>,
    /// Digits only.
    pub phones: Vec<String>,
    /// Lowercased whole addresses.
    pub emails: Vec<String>,
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
    let n = q.chars.len();
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
    let d_chars: Vec<char> = d.chars().collect();
    if let Some(dist) = edit_distance(&q.chars, &d_chars, max) {
        let same_len = d_chars.len() == n;
        let s = match dist {
            0 => 1.0,
            1 if same_len => 0.78,
            1 => 0.75,
            _ => 0.5,
        };
        best = best.max(s);
    }
    // A typo in a word not finished yet: `oakmnt` against `oakmont`'s first six letters.
    if n >= 4 && d_chars.len() > n && best < 0.5 {
        if let Some(1) = edit_distance(&q.chars, &d_chars[..n], 1) {
            best = best.max(0.5);
        }
    }
    best
}

fn best_in<'a>(q: &QueryWord, q_text: &str, words: impl Iterator<Item = &'a String>) -> f32 {
    let mut best: f32 = 0.0;
    for d in words {
        best = best.max(word_similarity(q, q_text, d));
        if best >= 1.0 {
            break;
        }
    }
    best
}

/// Score one candidate against a query. A score of zero means nothing matched.
pub(crate) fn score(q: &ParsedQuery, c: &CandidateFields) -> Scored {
    let mut total: f32 = 0.0;
    let mut matched: BTreeSet<MatchField> = BTreeSet::new();
    let mut per_field = [0usize; 6];
    let email_words: Vec<String> = c.emails.iter().flat_map(|e| text::words(e)).collect();

    for w in &q.words {
        let mut best: Option<(f32, MatchField)> = None;
        let mut consider = |field: MatchField, sim: f32| {
            let s = sim * field.weight();
            if s > 0.0 && best.is_none_or(|(b, _)| s > b) {
                best = Some((s, field));
            }
        };
        consider(MatchField::Name, best_in(w, &w.text, c.name.iter()));
        consider(
            MatchField::Street,
            best_in(w, &w.street, c.streets.iter().flatten()),
        );
        consider(MatchField::City, best_in(w, &w.text, c.city.iter()));
        if w.numeric {
            if c.zip.contains(&w.text) {
                consider(MatchField::Zip, 1.0);
            }
            if w.text.len() >= text::MIN_PHONE_SUFFIX {
                let sim = phone_similarity(&w.text, &c.phones);
                consider(MatchField::Phone, sim);
            }
        } else {
            consider(MatchField::Email, best_in(w, &w.text, email_words.iter()));
        }
        if let Some((s, field)) = best {
            total += s;
            matched.insert(field);
            per_field[field as usize] += 1;
        }
        if w.numeric {
            if c.streets.iter().any(|s| s.first() == Some(&w.text)) {
                total += STREET_NUMBER_BONUS;
                matched.insert(MatchField::Street);
            }
            if c.zip.contains(&w.text) {
                total += ZIP_BONUS;
                matched.insert(MatchField::Zip);
            }
        }
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
fn phone_similarity(query_digits: &str, phones: &[String]) -> f32 {
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

    fn fields(name: &str, street: &str, city: &str, zip: &str) -> CandidateFields {
        CandidateFields {
            name: text::words(name),
            streets: vec![text::street_words(street)],
            city: text::words(city),
            zip: text::words(zip),
            phones: vec!["15125550133".into()],
            emails: vec!["jsmith@example.com".into()],
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
