//! `application/x-www-form-urlencoded`, the body format of every Twilio webhook. Decoding
//! follows the WHATWG URL standard (the behaviour of browsers and of Twilio's Python and Node
//! SDKs): pairs split on `&`, empty pairs skipped, `+` is a space, `%XX` is a byte, a `%` not
//! followed by two hex digits stays literal, blank values are kept. The bytes must then be
//! UTF-8. Encoding is the inverse, used by tests and by a fake Twilio.

/// A form body that is not UTF-8 after percent-decoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("form field {index} is not valid UTF-8 after percent-decoding")]
pub struct FormError {
    /// Zero-based position of the offending pair in the body.
    pub index: usize,
}

/// Decode a form body into its `(key, value)` pairs, in body order, repeats kept.
pub fn decode(body: &[u8]) -> Result<Vec<(String, String)>, FormError> {
    body.split(|b| *b == b'&')
        .filter(|pair| !pair.is_empty())
        .enumerate()
        .map(|(index, pair)| {
            let (key, value) = match pair.iter().position(|b| *b == b'=') {
                Some(eq) => (&pair[..eq], &pair[eq + 1..]),
                None => (pair, &pair[pair.len()..]),
            };
            let key = String::from_utf8(unescape(key)).map_err(|_| FormError { index })?;
            let value = String::from_utf8(unescape(value)).map_err(|_| FormError { index })?;
            Ok((key, value))
        })
        .collect()
}

/// NUL (U+0000) in a decoded value or key becomes U+FFFD. A webhook's text must be kept (Twilio
/// does not resend a message we answered), yet PostgreSQL cannot store NUL in text; the
/// replacement happens after the signature was checked over the values as sent.
pub fn without_nul(pairs: Vec<(String, String)>) -> Vec<(String, String)> {
    let clean = |s: String| {
        if s.contains('\0') {
            s.replace('\0', "\u{FFFD}")
        } else {
            s
        }
    };
    pairs
        .into_iter()
        .map(|(k, v)| (clean(k), clean(v)))
        .collect()
}

/// Decode one form component: `+` to space, `%XX` to the byte it names.
pub fn unescape(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => match (
                raw.get(i + 1).copied().and_then(hex_value),
                raw.get(i + 2).copied().and_then(hex_value),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Encode pairs as a form body, the way Twilio and Python's `urlencode` do: unreserved
/// characters (`A-Z a-z 0-9 - . _ ~`) stay, space becomes `+`, everything else is `%XX`.
pub fn encode<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    let mut out = String::new();
    for (n, (key, value)) in pairs.iter().enumerate() {
        if n > 0 {
            out.push('&');
        }
        escape_into(&mut out, key.as_ref());
        out.push('=');
        escape_into(&mut out, value.as_ref());
    }
    out
}

fn escape_into(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0x0F)]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn check(body: &str, expected: &[(&str, &str)]) {
        assert_eq!(
            decode(body.as_bytes()),
            Ok(pairs(expected)),
            "body {body:?}"
        );
    }

    #[test]
    fn decodes_like_browsers_and_the_twilio_libraries() {
        check("", &[]);
        check("&&", &[]);
        check("a=1&b=2", &[("a", "1"), ("b", "2")]);
        check("a=1&a=2", &[("a", "1"), ("a", "2")]);
        check("Body=Hello+World", &[("Body", "Hello World")]);
        check("From=%2B14158675310", &[("From", "+14158675310")]);
        check("Body=caf%C3%A9+%E2%98%95", &[("Body", "café ☕")]);
        check("Body=caf%c3%a9", &[("Body", "café")]);
        check("FromCity=&FromZip=", &[("FromCity", ""), ("FromZip", "")]);
        check("flag", &[("flag", "")]);
        check("=x", &[("", "x")]);
        check("a==b", &[("a", "=b")]);
        check("a=100%", &[("a", "100%")]);
        check("a=%ZZ%4", &[("a", "%ZZ%4")]);
        check("a=%2", &[("a", "%2")]);
        check("a%20b=c%26d", &[("a b", "c&d")]);
        check("a=%2B+%2b", &[("a", "+ +")]);
    }

    #[test]
    fn finding_15_nul_becomes_the_replacement_character() {
        let decoded = decode(b"Body=a%00b&K%00=v").expect("valid");
        assert_eq!(
            decoded,
            pairs(&[("Body", "a\0b"), ("K\0", "v")]),
            "decode keeps bytes"
        );
        assert_eq!(
            without_nul(decoded),
            pairs(&[("Body", "a\u{FFFD}b"), ("K\u{FFFD}", "v")])
        );
    }

    #[test]
    fn rejects_invalid_utf8_without_panicking() {
        assert_eq!(decode(b"a=1&b=%FF"), Err(FormError { index: 1 }));
        assert_eq!(decode(b"%C3=1"), Err(FormError { index: 0 }));
        assert_eq!(
            decode(&[b'a', b'=', 0xE2, 0x98]),
            Err(FormError { index: 0 })
        );
    }

    #[test]
    fn encode_round_trips_and_matches_twilio_bytes() {
        let body = "Body=Ol%C3%A1%21+caf%C3%A9+%E2%98%95+STOP%3F&From=%2B14158675310&FromCity=";
        let decoded = decode(body.as_bytes()).expect("valid body");
        assert_eq!(encode(&decoded), body);
        let odd = pairs(&[("k y", "a&b=c%d+e"), ("", ""), ("ü", "~-._")]);
        assert_eq!(decode(encode(&odd).as_bytes()), Ok(odd));
    }
}
