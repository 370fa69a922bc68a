//! E.164 phone numbers. Parsing accepts what people type (spaces, dashes, brackets, a bare
//! 10-digit North American number) and yields the canonical `+<digits>` form; nothing after
//! parsing ever sees an unnormalised number.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::ParseError;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneE164(String);

impl PhoneE164 {
    /// Parse a phone number; bare 10-digit numbers (and 11 digits starting with 1) are taken
    /// as North American (+1), which is where the product's tenants operate.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let trimmed = raw.trim();
        let has_plus = trimmed.starts_with('+');
        let mut digits = String::with_capacity(16);
        for c in trimmed.chars() {
            match c {
                '0'..='9' => digits.push(c),
                '+' | ' ' | '-' | '(' | ')' | '.' => {}
                _ => return Err(invalid(raw)),
            }
        }
        if trimmed[usize::from(has_plus)..].contains('+') {
            return Err(invalid(raw));
        }
        let e164 = if has_plus {
            digits
        } else if digits.len() == 10 {
            format!("1{digits}")
        } else if digits.len() == 11 && digits.starts_with('1') {
            digits
        } else {
            return Err(invalid(raw));
        };
        if !(8..=15).contains(&e164.len()) || e164.starts_with('0') {
            return Err(invalid(raw));
        }
        // North American numbers: area code and exchange never start with 0 or 1.
        if let Some(national) = e164.strip_prefix('1') {
            let b = national.as_bytes();
            if national.len() != 10 || b[0] < b'2' || b[3] < b'2' {
                return Err(invalid(raw));
            }
        }
        Ok(Self(format!("+{e164}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last four digits, the only part of a number shown to someone not yet verified.
    pub fn last4(&self) -> &str {
        &self.0[self.0.len() - 4..]
    }
}

fn invalid(raw: &str) -> ParseError {
    ParseError::new(
        "invalid_phone",
        format!("`{raw}` is not a phone number in E.164 form"),
    )
}

impl fmt::Display for PhoneE164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for PhoneE164 {
    type Error = ParseError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<PhoneE164> for String {
    fn from(value: PhoneE164) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Option<&str>) {
        let got = PhoneE164::parse(input).ok();
        assert_eq!(
            got.as_ref().map(PhoneE164::as_str),
            expected,
            "input {input:?}"
        );
    }

    #[test]
    fn parses_what_people_type() {
        check("+14155550123", Some("+14155550123"));
        check("(415) 555-0123", Some("+14155550123"));
        check("415.555.0123", Some("+14155550123"));
        check("1 415 555 0123", Some("+14155550123"));
        check("+44 20 7946 0958", Some("+442079460958"));
        check("555-0123", None);
        check("+1 015 555 0123", None);
        check("+1415555012a", None);
        check("++14155550123", None);
        check("", None);
        check("+0123456789", None);
    }

    #[test]
    fn last4() {
        assert_eq!(
            PhoneE164::parse("+14155550123")
                .map(|p| p.last4().to_string())
                .ok(),
            Some("0123".into())
        );
    }
}
