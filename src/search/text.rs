//! Text normalisation shared by indexing, querying and re-ranking, so all three see the same
//! tokens: lowercase, accents folded to ASCII, apostrophes dropped (`O'Brien` → `obrien`),
//! split on anything that is not a letter or digit, over-long tokens dropped. Street words
//! are also mapped to their postal abbreviations (`Drive` → `dr`), phone numbers are reduced
//! to digits, and edit distances are computed here.

use std::cell::RefCell;

use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer,
};

/// Tokens longer than this (in bytes) are dropped: nobody types a 40-letter name.
pub(crate) const MAX_TOKEN_BYTES: usize = 40;

/// The shortest phone suffix that is indexed and matched (the "last four").
pub(crate) const MIN_PHONE_SUFFIX: usize = 4;

thread_local! {
    static ANALYZER: RefCell<TextAnalyzer> = RefCell::new(
        TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
            .filter(LowerCaser)
            .filter(AsciiFoldingFilter)
            .build(),
    );
}

/// The normalised words of `text`, in order.
pub(crate) fn words(text: &str) -> Vec<String> {
    let cleaned: String = text
        .chars()
        .filter(|c| !matches!(c, '\'' | '\u{2019}' | '\u{02BC}' | '`'))
        .collect();
    ANALYZER.with(|cell| {
        let mut analyzer = cell.borrow_mut();
        let mut stream = analyzer.token_stream(&cleaned);
        let mut out = Vec::new();
        while stream.advance() {
            let t = &stream.token().text;
            if !t.is_empty() {
                out.push(t.clone());
            }
        }
        out
    })
}

/// The normalised words of a street line, with suffixes and directions abbreviated the way
/// the postal service does, so `Oak Hollow Drive` and `oak hollow dr` agree.
pub(crate) fn street_words(text: &str) -> Vec<String> {
    words(text)
        .into_iter()
        .map(|w| street_form(&w).to_string())
        .collect()
}

/// The postal abbreviation of one normalised street word (the word itself if it has none).
pub(crate) fn street_form(word: &str) -> &str {
    match word {
        "street" | "str" => "st",
        "drive" | "drv" => "dr",
        "court" => "ct",
        "avenue" | "av" | "avn" => "ave",
        "road" => "rd",
        "lane" => "ln",
        "boulevard" | "blv" => "blvd",
        "circle" | "circ" => "cir",
        "place" => "pl",
        "parkway" | "pky" => "pkwy",
        "trail" => "trl",
        "terrace" => "ter",
        "highway" => "hwy",
        "cove" => "cv",
        "crossing" => "xing",
        "square" => "sq",
        "point" => "pt",
        "north" => "n",
        "south" => "s",
        "east" => "e",
        "west" => "w",
        "northeast" => "ne",
        "northwest" => "nw",
        "southeast" => "se",
        "southwest" => "sw",
        "suite" => "ste",
        "apartment" => "apt",
        other => other,
    }
}

/// Whether a normalised token is made of digits only.
pub(crate) fn is_numeric(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit())
}

/// The digits of a phone number in whatever format (`+1 (512) 555-0133` → `15125550133`).
pub(crate) fn digits(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

/// Every suffix of a phone's digits from the last four up to the whole number, so a query
/// of digits matches by exact term whichever part of the number the caller typed.
pub(crate) fn phone_suffixes(phone_digits: &str) -> Vec<&str> {
    (0..=phone_digits.len().saturating_sub(MIN_PHONE_SUFFIX))
        .map(|start| &phone_digits[start..])
        .filter(|s| s.len() >= MIN_PHONE_SUFFIX)
        .collect()
}

/// Optimal-string-alignment distance (Levenshtein plus adjacent transpositions) between two
/// words (as bytes when both are ASCII, as chars otherwise), or `None` when it exceeds `max`.
/// Rows live on the stack: words longer than [`MAX_TOKEN_BYTES`] never reach this and are
/// reported as too far apart.
pub(crate) fn edit_distance<T: PartialEq>(a: &[T], b: &[T], max: usize) -> Option<usize> {
    const W: usize = MAX_TOKEN_BYTES + 1;
    if a.len().abs_diff(b.len()) > max || a.len() >= W || b.len() >= W {
        return None;
    }
    if a == b {
        return Some(0);
    }
    let n = b.len();
    let mut prev2 = [0usize; W];
    let mut prev = [0usize; W];
    let mut cur = [0usize; W];
    for (j, v) in prev.iter_mut().enumerate().take(n + 1) {
        *v = j;
    }
    for i in 1..=a.len() {
        cur[0] = i;
        let mut row_min = i;
        for j in 1..=n {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(prev2[j - 2] + 1);
            }
            cur[j] = v;
            row_min = row_min.min(v);
        }
        if row_min > max {
            return None;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    Some(prev[n]).filter(|d| *d <= max)
}

/// How many typos a query word of `len` characters may carry: none for one or two letters,
/// one up to five, two beyond.
pub(crate) fn max_typos(len: usize) -> u8 {
    match len {
        0..=2 => 0,
        3..=5 => 1,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_fold_case_accents_apostrophes_and_punctuation() {
        let cases: &[(&str, &[&str])] = &[
            ("John SMITH", &["john", "smith"]),
            ("O'Brien", &["obrien"]),
            ("José Núñez-García", &["jose", "nunez", "garcia"]),
            ("  ", &[]),
            ("!!!???", &[]),
            ("🐜🐜 ants", &["ants"]),
            (
                "smith~2 AND (oak OR \"hollow\")^3",
                &["smith", "2", "and", "oak", "or", "hollow", "3"],
            ),
            ("jsmith@example.com", &["jsmith", "example", "com"]),
        ];
        for (input, expected) in cases {
            assert_eq!(words(input), *expected, "input {input:?}");
        }
        assert!(
            words(&"a".repeat(500)).is_empty(),
            "over-long tokens are dropped"
        );
    }

    #[test]
    fn street_words_use_postal_abbreviations() {
        assert_eq!(
            street_words("1402 Oak Hollow Drive"),
            ["1402", "oak", "hollow", "dr"]
        );
        assert_eq!(street_words("7 North Elm Street"), ["7", "n", "elm", "st"]);
        assert_eq!(street_words("88 Elm St."), ["88", "elm", "st"]);
    }

    #[test]
    fn phone_suffixes_run_from_last_four_to_whole_number() {
        assert_eq!(
            phone_suffixes("15125550133"),
            [
                "15125550133",
                "5125550133",
                "125550133",
                "25550133",
                "5550133",
                "550133",
                "50133",
                "0133"
            ]
        );
        assert!(phone_suffixes("123").is_empty());
        assert_eq!(digits("+1 (512) 555-0133"), "15125550133");
    }

    #[test]
    fn edit_distance_counts_transpositions_as_one() {
        let d = |a: &str, b: &str, max| {
            let a: Vec<char> = a.chars().collect();
            let b: Vec<char> = b.chars().collect();
            edit_distance(&a, &b, max)
        };
        let cases = [
            ("john", "john", 2, Some(0)),
            ("jhon", "john", 2, Some(1)),
            ("jhon", "jon", 2, Some(1)),
            ("smyth", "smith", 2, Some(1)),
            ("smithe", "smythe", 2, Some(1)),
            ("gonzales", "gonzalez", 2, Some(1)),
            ("jane", "john", 2, None),
            ("abc", "abcdef", 2, None),
            ("", "ab", 2, Some(2)),
            ("kitten", "sitting", 3, Some(3)),
            ("núñez", "nunez", 2, Some(2)),
        ];
        for (a, b, max, expected) in cases {
            assert_eq!(d(a, b, max), expected, "{a} vs {b}");
            if a.is_ascii() && b.is_ascii() {
                assert_eq!(
                    edit_distance(a.as_bytes(), b.as_bytes(), max),
                    expected,
                    "{a} vs {b} as bytes"
                );
            }
        }
        let long = "a".repeat(MAX_TOKEN_BYTES + 5);
        assert_eq!(edit_distance(long.as_bytes(), long.as_bytes(), 2), None);
    }
}
