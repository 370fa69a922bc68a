//! Payment card numbers and security codes in free text: found so they can be masked before a
//! message is stored, logged or shown, and so the model never reads digits of a card as a
//! street number or a date.
//!
//! A card number is 13–19 digits that pass the Luhn check, written together or in groups
//! separated by up to three spaces, dashes, commas, dots, slashes or underscores (mixed, as
//! people and speech-to-text write them). A security code is 3–4 digits shortly after "cvv",
//! "cvc", "security code" or "código de seguridad".

/// What a secret span holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretKind {
    Card { last4: String },
    SecurityCode,
}

/// A secret found in a text: the byte range and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSpan {
    pub start: usize,
    pub end: usize,
    pub kind: SecretKind,
}

/// The Luhn check over ASCII digits.
pub fn luhn_valid(digits: &[u8]) -> bool {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d - b'0');
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum % 10 == 0
}

/// Characters that may separate the digit groups of a card number as people write them.
fn is_separator(c: u8) -> bool {
    matches!(c, b' ' | b'-' | b',' | b'.' | b'/' | b'_' | b'\t')
}

/// At most this many separator characters between two groups ("4111 - 1111", "4111, 1111").
const MAX_SEPARATOR: usize = 3;

/// Runs of digit groups joined by short separators (spaces, dashes, commas, dots, slashes,
/// mixed), as lists of `(start, end)` groups.
fn digit_runs(b: &[u8]) -> Vec<Vec<(usize, usize)>> {
    let mut runs = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let mut groups = Vec::new();
        let mut j = i;
        loop {
            let mut k = j;
            while k < b.len() && b[k].is_ascii_digit() {
                k += 1;
            }
            groups.push((j, k));
            let mut next = k;
            while next < b.len() && next - k < MAX_SEPARATOR && is_separator(b[next]) {
                next += 1;
            }
            let joined = next > k && next < b.len() && b[next].is_ascii_digit();
            if !joined {
                i = k;
                break;
            }
            j = next;
        }
        runs.push(groups);
    }
    runs
}

fn find_cards(text: &str, out: &mut Vec<SecretSpan>) {
    let b = text.as_bytes();
    for groups in digit_runs(b) {
        // Every stretch of whole groups holding 13–19 digits that pass Luhn; the longest
        // ones win, so a ZIP or phone number next to a card cannot hide part of it.
        let mut candidates: Vec<(usize, usize, Vec<u8>)> = Vec::new();
        for s in 0..groups.len() {
            let mut digits: Vec<u8> = Vec::new();
            for (e, &(gs, ge)) in groups.iter().enumerate().skip(s) {
                digits.extend_from_slice(&b[gs..ge]);
                if digits.len() > 19 {
                    break;
                }
                if digits.len() >= 13 && luhn_valid(&digits) {
                    candidates.push((s, e, digits.clone()));
                }
            }
        }
        candidates.sort_by_key(|(s, _, d)| (std::cmp::Reverse(d.len()), *s));
        let mut used = vec![false; groups.len()];
        for (s, e, digits) in candidates {
            if used[s..=e].iter().any(|u| *u) {
                continue;
            }
            used[s..=e].iter_mut().for_each(|u| *u = true);
            let last4 = String::from_utf8_lossy(&digits[digits.len() - 4..]).into_owned();
            out.push(SecretSpan {
                start: groups[s].0,
                end: groups[e].1,
                kind: SecretKind::Card { last4 },
            });
        }
    }
}

const CODE_WORDS: &[&str] = &[
    "cvv2",
    "cvv",
    "cvc2",
    "cvc",
    "cvn",
    "csc",
    "cid",
    "security code",
    "sec code",
    "card code",
    "codigo de seguridad",
    "c\u{f3}digo de seguridad",
];

fn find_codes(text: &str, out: &mut Vec<SecretSpan>) {
    let lower = text.to_ascii_lowercase();
    let b = lower.as_bytes();
    for word in CODE_WORDS {
        let mut from = 0;
        while let Some(pos) = lower[from..].find(word) {
            let start = from + pos;
            from = start + word.len();
            let boundary_before = start == 0 || !b[start - 1].is_ascii_alphanumeric();
            let after = start + word.len();
            let boundary_after = after >= b.len() || !b[after].is_ascii_alphanumeric();
            if !boundary_before || !boundary_after {
                continue;
            }
            // Skip a few separating characters or short words ("is", ":", "#").
            let mut k = after;
            while k < b.len() && k - after < 16 && !b[k].is_ascii_digit() {
                if matches!(b[k], b'.' | b'?' | b'!' | b',' | b'\n' | b';') {
                    break;
                }
                k += 1;
            }
            let digits_start = k;
            while k < b.len() && b[k].is_ascii_digit() {
                k += 1;
            }
            let n = k - digits_start;
            if (3..=4).contains(&n) {
                out.push(SecretSpan {
                    start: digits_start,
                    end: k,
                    kind: SecretKind::SecurityCode,
                });
            }
        }
    }
}

/// Every card number and security code in `text`, by position, without overlaps.
pub fn find_secrets(text: &str) -> Vec<SecretSpan> {
    let mut spans = Vec::new();
    // Both kinds are made of digits: most text (every key and word of a tool's arguments
    // and results passes here) has none.
    if !text.bytes().any(|b| b.is_ascii_digit()) {
        return spans;
    }
    find_cards(text, &mut spans);
    find_codes(text, &mut spans);
    spans.sort_by_key(|s| (s.start, std::cmp::Reverse(s.end)));
    let mut out: Vec<SecretSpan> = Vec::new();
    for s in spans {
        if out.last().is_none_or(|last| s.start >= last.end) {
            out.push(s);
        }
    }
    out
}

/// Whether the text holds something that looks like a payment card number.
pub fn has_card(text: &str) -> bool {
    find_secrets(text)
        .iter()
        .any(|s| matches!(s.kind, SecretKind::Card { .. }))
}

/// The text with card numbers replaced by `[card ending 1234]` and security codes by
/// `[redacted]`.
pub fn mask_secrets(text: &str) -> String {
    replace_secrets(text, |kind| match kind {
        SecretKind::Card { last4 } => format!("[card ending {last4}]"),
        SecretKind::SecurityCode => "[redacted]".to_string(),
    })
}

/// A JSON value with every string (keys included) masked, and every number whose digits
/// form a card number replaced by the masked text. For free-form details a client reports.
pub fn mask_json(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) => Value::String(mask_secrets(s)),
        Value::Number(n) => {
            let raw = n.to_string();
            let masked = mask_secrets(&raw);
            if masked == raw {
                value.clone()
            } else {
                Value::String(masked)
            }
        }
        Value::Array(items) => Value::Array(items.iter().map(mask_json).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (mask_secrets(k), mask_json(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The text with each secret replaced by what `with` returns for it.
pub fn replace_secrets(text: &str, with: impl Fn(&SecretKind) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for s in find_secrets(text) {
        // Spans start and end on ASCII digits, so these are character boundaries.
        if let (Some(before), true) = (text.get(at..s.start), text.is_char_boundary(s.end)) {
            out.push_str(before);
            out.push_str(&with(&s.kind));
            at = s.end;
        }
    }
    out.push_str(text.get(at..).unwrap_or_default());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_test_cards_and_rejects_others() {
        assert!(luhn_valid(b"4111111111111111"));
        assert!(luhn_valid(b"378282246310005"));
        assert!(!luhn_valid(b"4111111111111112"));
        assert!(!luhn_valid(b""));
    }

    #[test]
    fn masks_cards_and_codes() {
        let table = [
            (
                "my card is 4111 1111 1111 1111",
                "my card is [card ending 1111]",
            ),
            (
                "4111-1111-1111-1111 exp 12/27",
                "[card ending 1111] exp 12/27",
            ),
            (
                "card 5555555555554444, cvv 123",
                "card [card ending 4444], cvv [redacted]",
            ),
            ("security code is 4321 ok", "security code is [redacted] ok"),
            ("CVV: 987", "CVV: [redacted]"),
            ("código de seguridad 123", "código de seguridad [redacted]"),
            (
                "amex 3782 822463 10005 thanks",
                "amex [card ending 0005] thanks",
            ),
            ("call 214-555-0199 or 75001", "call 214-555-0199 or 75001"),
            ("4111 1111 1111 1112", "4111 1111 1111 1112"),
            (
                "order 12345678901234567890123",
                "order 12345678901234567890123",
            ),
            ("4111111111111111 75001", "[card ending 1111] 75001"),
            ("the cvv is 12", "the cvv is 12"),
        ];
        for (input, want) in table {
            assert_eq!(mask_secrets(input), want, "{input}");
        }
        assert!(has_card("4111 1111 1111 1111"));
        assert!(!has_card("4512 Oak Hollow Dr 75001"));
    }
}
