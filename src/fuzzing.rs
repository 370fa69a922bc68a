//! The properties the fuzz targets in `fuzz/` check, one function per target. Each takes the
//! raw input bytes and panics when a property does not hold. The targets call them under
//! libFuzzer; `tests/it/fuzz_corpus.rs` replays the committed corpus (`fuzz/corpus/<target>/`)
//! through the same functions, so a regression shows up in a plain `cargo test`.
//!
//! Inputs with several fields are split on the byte 0x1F (ASCII unit separator); a field that
//! is not UTF-8 is read lossily.

use std::borrow::Cow;
use std::path::Path;

use chrono::NaiveDate;

use crate::agent::builtin::{self, luhn_valid};
use crate::auth::portal::{self, PortalClaims};
use crate::channels::twilio::signature::{self, PublicBaseUrl, Validator};
use crate::channels::twilio::twiml::{self, Dial, Gather, Record, Response, Say, Stream};
use crate::channels::twilio::{form, webhook};
use crate::domain::{AddOn, Cents, CustomerId, PhoneE164, PricingRule, SizeTier, TenantId};
use crate::eval::scenario::Scenario;

/// Every target, by the name of its directory under `fuzz/corpus/` and of its fuzz target.
pub const TARGETS: &[(&str, Check)] = &[
    ("twilio_form", twilio_form),
    ("twiml", twiml),
    ("phone", phone),
    ("understand", understand),
    ("mask_secrets", mask_secrets),
    ("pricing", pricing),
    ("portal_token", portal_token),
    ("scenario", scenario),
];

/// A target's check: panics when the input breaks a property.
pub type Check = fn(&[u8]);

/// The field separator of multi-field inputs.
pub const SEP: u8 = 0x1F;

fn fields(data: &[u8]) -> Vec<Cow<'_, str>> {
    data.split(|b| *b == SEP)
        .map(String::from_utf8_lossy)
        .collect()
}

fn field<'a>(fields: &'a [Cow<'a, str>], i: usize) -> &'a str {
    fields.get(i).map(|f| f.as_ref()).unwrap_or_default()
}

/// (a) A webhook body: `url 0x1F body`. Decoding never panics; what decodes re-encodes to the
/// same pairs; a body signed over the URL validates and NUL is gone from what it hands back;
/// any other signature, or a change to the URL, is refused; every typed reading of the
/// parameters is total.
pub fn twilio_form(data: &[u8]) {
    let (url_bytes, body) = match data.iter().position(|b| *b == SEP) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b""[..], data),
    };
    let url = String::from_utf8_lossy(url_bytes);
    let _ = form::unescape(body);
    let decoded = form::decode(body);
    let token = "fuzz-auth-token";
    let validator = Validator::new(token);
    let Ok(pairs) = decoded else {
        assert!(
            matches!(
                validator.validate_form(&url, body, Some("x")),
                Err(signature::SignatureError::Form(_))
            ),
            "a malformed body must be refused as malformed"
        );
        return;
    };
    let again = form::decode(form::encode(&pairs).as_bytes()).expect("encoded form decodes");
    assert_eq!(again, pairs, "encode then decode changed the pairs");

    // The URL as the server rebuilds it: the configured base, the route, the raw query.
    // (The raw first field is also used as a URL below, for the no-panic checks.)
    let base = PublicBaseUrl::parse("https://api.example.com").expect("a valid base URL");
    let query: String = url.chars().filter(|c| *c != '#').collect();
    let signed_url = base.request_url("/twilio/sms", Some(query.trim_end_matches('?')));
    let sig = signature::sign(token, &signed_url, &pairs);
    let accepted = validator
        .validate_form(&signed_url, body, Some(&sig))
        .expect("a correctly signed body validates");
    assert_eq!(accepted, form::without_nul(pairs.clone()));
    assert!(accepted
        .iter()
        .all(|(k, v)| !k.contains('\0') && !v.contains('\0')));
    assert!(validator
        .validate_form(&signed_url, body, Some(&format!("{sig}x")))
        .is_err());
    assert!(validator.validate_form(&signed_url, body, None).is_err());
    assert!(Validator::new("another-token")
        .validate_form(&signed_url, body, Some(&sig))
        .is_err());
    assert!(validator
        .validate_form(&format!("{signed_url}/other"), body, Some(&sig))
        .is_err());
    let _ = validator.validate_form(&url, body, Some(&sig));
    let _ = validator.validate_get(&url, Some(&sig));
    let _ = validator.validate_json(&url, body, Some(&sig));
    let _ = validator.validate_stream_handshake(&url, Some(&sig));
    let _ = signature::url_with_body_hash(&url, body);

    if let Ok(base) = PublicBaseUrl::parse(&url) {
        for (k, v) in &pairs {
            let _ = base.request_url(k, Some(v));
            let _ = base.websocket_url(v);
        }
    }

    let _ = webhook::InboundSms::from_form(&accepted);
    let _ = webhook::VoiceCall::from_form(&accepted);
    let _ = webhook::GatherResult::from_form(&accepted);
    let _ = webhook::RecordingCallback::from_form(&accepted);
    let _ = webhook::MessageStatusCallback::from_form(&accepted);
    let _ = webhook::from_param(&accepted);
    let _ = webhook::to_param(&accepted);
    for (_, v) in &accepted {
        let party = webhook::Party::parse(v);
        let _ = (party.phone(), party.is_withheld(), party.as_str());
        let _ = webhook::caller_number(v);
        let _ = webhook::CallStatus::parse(v).is_final();
        let _ = webhook::CallDirection::parse(v);
        let _ = webhook::RecordingStatus::parse(v);
        let status = webhook::MessageStatus::parse(v);
        let _ = (status.as_str(), status.is_failure());
    }
}

/// Whether XML 1.0 allows the character in a document.
fn xml_allowed(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && !matches!(c, '\u{FFFE}' | '\u{FFFF}'))
}

/// What [`twiml::Response::to_xml`] must keep of a text: everything but the characters XML
/// 1.0 forbids.
fn xml_kept(text: &str) -> String {
    text.chars().filter(|c| xml_allowed(*c)).collect()
}

/// (b) Fields become verbs (the first character of a field picks the verb, the rest is its
/// text, used for every text and attribute the verb has). The document is always well-formed
/// XML, and every text reads back exactly, with only characters XML forbids dropped.
pub fn twiml(data: &[u8]) {
    let fields = fields(data);
    let mut response = Response::new();
    let mut expected: Vec<String> = Vec::new();
    for f in &fields {
        let mut chars = f.chars();
        let pick = chars.next().map_or(0, u32::from);
        let text = chars.as_str();
        let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
        response = match pick % 9 {
            0 => response.message(text),
            1 => response.say(Say::new(text).voice(text).language(text)),
            2 => response.gather(
                Gather::speech(text, text)
                    .hints(text)
                    .language(text)
                    .action_on_empty_result(len % 2 == 0)
                    .say(Say::new(text)),
            ),
            3 => response.redirect(text),
            4 => response.record(
                Record::new(text)
                    .max_length(len)
                    .play_beep(true)
                    .recording_status_callback(text)
                    .recording_status_callback_event(text),
            ),
            5 => match PhoneE164::parse(text) {
                Ok(number) => response.dial(Dial::number(number.clone()).caller_id(number)),
                Err(_) => response.pause(len),
            },
            6 => match Stream::new(text) {
                Ok(stream) => {
                    response.connect_stream(stream.parameter(text, text).call_numbers(text, text))
                }
                Err(_) => response.hangup(),
            },
            7 => response.hangup(),
            _ => response.pause(len),
        };
        if !matches!(pick % 9, 5..=8) || (pick % 9 == 6 && Stream::new(text).is_ok()) {
            expected.push(xml_kept(text));
        }
    }
    let xml = response.to_xml();
    let strings = match xml_strings(&xml) {
        Ok(strings) => strings,
        Err(why) => panic!("malformed TwiML ({why}): {xml:?}"),
    };
    // Texts read back whole unless `to_xml` shortened them; a shortened document ends within
    // one escaped character (at most 6 bytes) of the limit, or above it.
    if xml.len() + 6 <= twiml::MAX_TWIML_BYTES {
        // An empty text has no text node to read back.
        for text in expected.iter().filter(|t| !t.is_empty()) {
            assert!(
                strings.iter().any(|s| s == text),
                "text {text:?} does not read back from {xml:?}"
            );
        }
    }
}

/// A minimal XML 1.0 well-formedness check for documents shaped like TwiML (declaration, one
/// root element, elements with attributes, text and the five predefined entities; no
/// comments, CDATA or processing instructions, which TwiML rendering never writes). Returns
/// every attribute value and text node, entities decoded, in document order.
pub fn xml_strings(xml: &str) -> Result<Vec<String>, String> {
    let rest = xml
        .strip_prefix(twiml::XML_DECLARATION)
        .ok_or("no XML declaration")?;
    let b = rest.as_bytes();
    let mut i = 0;
    let mut stack: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    let mut text = String::new();
    let mut root_closed = false;
    while i < b.len() {
        if b[i] == b'<' {
            if !text.is_empty() {
                if stack.is_empty() {
                    return Err("text outside the root element".into());
                }
                out.push(std::mem::take(&mut text));
            }
            if root_closed {
                return Err("content after the root element".into());
            }
            if b.get(i + 1) == Some(&b'/') {
                let (name, next) = xml_name(rest, i + 2)?;
                if b.get(next) != Some(&b'>') {
                    return Err(format!("end tag {name} not closed"));
                }
                if stack.pop() != Some(name) {
                    return Err(format!("end tag {name} does not match"));
                }
                root_closed = stack.is_empty();
                i = next + 1;
                continue;
            }
            let (name, mut j) = xml_name(rest, i + 1)?;
            let mut seen: Vec<&str> = Vec::new();
            loop {
                match b.get(j) {
                    Some(b'>') => {
                        stack.push(name);
                        i = j + 1;
                        break;
                    }
                    Some(b'/') if b.get(j + 1) == Some(&b'>') => {
                        root_closed = stack.is_empty();
                        i = j + 2;
                        break;
                    }
                    Some(b' ') => {
                        let (attr, k) = xml_name(rest, j + 1)?;
                        if seen.contains(&attr) {
                            return Err(format!("attribute {attr} repeated"));
                        }
                        seen.push(attr);
                        if b.get(k) != Some(&b'=') || b.get(k + 1) != Some(&b'"') {
                            return Err(format!("attribute {attr} without =\""));
                        }
                        let end = rest[k + 2..]
                            .find('"')
                            .map(|e| k + 2 + e)
                            .ok_or("attribute value not closed")?;
                        out.push(xml_unescape(&rest[k + 2..end], true)?);
                        j = end + 1;
                    }
                    _ => return Err(format!("bad start tag {name}")),
                }
            }
        } else {
            let end = rest[i..].find('<').map_or(rest.len(), |e| i + e);
            text.push_str(&xml_unescape(&rest[i..end], false)?);
            i = end;
        }
    }
    if !text.is_empty() || !stack.is_empty() || !root_closed {
        return Err("document does not end with its root element closed".into());
    }
    Ok(out)
}

fn xml_name(s: &str, start: usize) -> Result<(&str, usize), String> {
    let len = s[start..]
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
        .count();
    let name = &s[start..start + len];
    if name.is_empty() || !name.as_bytes()[0].is_ascii_alphabetic() {
        return Err(format!("bad name at byte {start}"));
    }
    Ok((name, start + len))
}

fn xml_unescape(raw: &str, in_attribute: bool) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(c) = rest.chars().next() {
        if !xml_allowed(c) {
            return Err(format!("character {c:?} is not allowed in XML"));
        }
        match c {
            '&' => {
                let end = rest.find(';').ok_or("unterminated entity")?;
                out.push(match &rest[..=end] {
                    "&amp;" => '&',
                    "&lt;" => '<',
                    "&gt;" => '>',
                    "&quot;" => '"',
                    "&apos;" => '\'',
                    other => return Err(format!("unknown entity {other}")),
                });
                rest = &rest[end + 1..];
                continue;
            }
            '<' => return Err("raw < in content".into()),
            '"' if in_attribute => return Err("raw \" in an attribute".into()),
            '>' if !in_attribute && rest.starts_with(">") && out.ends_with("]]") => {
                return Err("]]> in text".into())
            }
            _ => out.push(c),
        }
        rest = &rest[c.len_utf8()..];
    }
    Ok(out)
}

/// (c) Phone parsing never panics, and a parsed number is canonical: `+` and 8–15 digits,
/// and it parses again to itself.
pub fn phone(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(number) = PhoneE164::parse(&text) else {
        return;
    };
    let s = number.as_str();
    let digits = s.strip_prefix('+').expect("a parsed number starts with +");
    assert!(
        (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()),
        "{text:?} parsed to {s:?}"
    );
    assert_eq!(number.last4().len(), 4);
    assert_eq!(
        PhoneE164::parse(s).as_ref(),
        Ok(&number),
        "{s:?} does not re-parse to itself"
    );
}

/// The fixed moment the language layer reads every fuzzed message at: a Tuesday afternoon.
pub fn understand_context() -> builtin::Context {
    let now = NaiveDate::from_ymd_opt(2026, 3, 10)
        .and_then(|d| d.and_hms_opt(14, 30, 0))
        .expect("a valid fixed date");
    builtin::Context::new(now)
}

/// (d) The built-in language layer (intent, pests, identity, dates and times) reads any text
/// without panicking; hangs are caught by the fuzzer's timeout.
pub fn understand(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let ctx = understand_context();
    let u = builtin::understand(&text, &ctx);
    let _ = u.describe();
    let _ = u.primary();
    let _ = builtin::fold(&text);
    let _ = builtin::normalized(&text);
}

/// Maximal digit runs of `text`, where digits may be joined by one `joiner` (`None`: digits
/// only), as their digit strings.
fn digit_runs(text: &str, joiner: Option<u8>) -> Vec<Vec<u8>> {
    let b = text.as_bytes();
    let mut runs = Vec::new();
    let mut current = Vec::new();
    for (i, &c) in b.iter().enumerate() {
        if c.is_ascii_digit() {
            current.push(c);
            continue;
        }
        let joins = Some(c) == joiner
            && !current.is_empty()
            && b.get(i + 1).is_some_and(u8::is_ascii_digit);
        if !joins && !current.is_empty() {
            runs.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}

/// (e) Masking never panics, and what it returns holds no 13–19 digit run (written together,
/// or grouped with single spaces or dashes) that passes the Luhn check.
pub fn mask_secrets(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let masked = builtin::mask_secrets(&text);
    for joiner in [None, Some(b' '), Some(b'-')] {
        for run in digit_runs(&masked, joiner) {
            assert!(
                !((13..=19).contains(&run.len()) && luhn_valid(&run)),
                "card-like digits survive masking: {text:?} -> {masked:?}"
            );
        }
    }
    let _ = builtin::has_card(&text);
    let _ = builtin::mask_json(&serde_json::Value::String(text.into_owned()));
}

/// Reads fixed-size numbers off the input, zero once it runs out.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let n = N.min(self.0.len());
        out[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        out
    }

    fn i64(&mut self) -> i64 {
        i64::from_le_bytes(self.take::<8>())
    }

    fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }
}

/// (f) A pricing rule and a request read off the bytes: quoting never panics or overflows;
/// a quote it gives adds up.
pub fn pricing(data: &[u8]) {
    let mut r = Bytes(data);
    let tiers = usize::from(r.u8() % 5);
    let add_ons = usize::from(r.u8() % 4);
    let codes = usize::from(r.u8() % 4);
    let rule = PricingRule {
        base_cents: Cents(r.i64()),
        per_extra_1000_sq_ft_cents: Cents(r.i64()),
        initial_fee_cents: Cents(r.i64()),
        size_tiers: (0..tiers)
            .map(|_| SizeTier {
                max_sq_ft: r.i64(),
                price_cents: Cents(r.i64()),
            })
            .collect(),
        add_ons: (0..add_ons)
            .map(|i| AddOn {
                code: format!("a{i}"),
                name: format!("Add-on {i}"),
                price_cents: Cents(r.i64()),
            })
            .collect(),
    };
    let sq_ft = (r.u8() % 2 == 1).then(|| r.i64());
    let codes: Vec<String> = (0..codes).map(|_| format!("A{}", r.u8() % 5)).collect();
    if let Ok(q) = rule.quote(sq_ft, &codes) {
        assert_eq!(
            q.per_visit_cents
                .0
                .checked_add(q.initial_fee_cents.0)
                .and_then(|s| s.checked_add(q.add_ons_cents.0)),
            Some(q.first_visit_total_cents.0),
            "quote does not add up: {q:?}"
        );
        let _ = q.first_visit_total_cents.to_string();
    }
}

/// (g) `key 0x1F token 0x1F claims...`: checking any token never panics; a token signed over
/// claims read from the input verifies, and the same token with any one byte changed (to
/// another byte taken from the input) or with a byte removed never does.
pub fn portal_token(data: &[u8]) {
    let fields = fields(data);
    let key = field(&fields, 0);
    let token = field(&fields, 1);
    let _ = portal::peek(token);
    let _ = portal::verify(key, token, 0);
    let _ = portal::verify(key, token, i64::MAX);
    let _ = portal::verify(key, token, i64::MIN);

    let mut r = Bytes(field(&fields, 2).as_bytes());
    let bound = 1_000_000_000_000_000_000; // under 19 digits, as tokens carry them
    let claims = PortalClaims {
        tenant: TenantId(r.i64().rem_euclid(bound)),
        customer: CustomerId(r.i64().rem_euclid(bound)),
        expires_at: r.i64().rem_euclid(bound - 1) + 1,
    };
    let signed = portal::sign(key, claims);
    assert_eq!(portal::peek(&signed), Some(claims));
    assert_eq!(
        portal::verify(key, &signed, claims.expires_at - 1),
        Some(claims)
    );
    assert_eq!(portal::verify(key, &signed, claims.expires_at), None);
    let with = r.u8();
    for i in 0..signed.len() {
        let mut bytes = signed.clone().into_bytes();
        bytes[i] = if bytes[i] == with { with ^ 1 } else { with };
        if let Ok(changed) = String::from_utf8(bytes) {
            assert_eq!(
                portal::verify(key, &changed, 0),
                None,
                "changed byte {i} still verifies: {changed:?}"
            );
        }
        let mut removed = signed.clone().into_bytes();
        removed.remove(i);
        if let Ok(removed) = String::from_utf8(removed) {
            assert_eq!(portal::verify(key, &removed, 0), None, "{removed:?}");
        }
    }
}

/// (h) Scenario text: parsing never panics, and a parsed scenario's clock and channel read.
pub fn scenario(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(s) = Scenario::parse(&text, Path::new("fuzz.toml")) {
        let _ = s.clock();
        let _ = s.channel();
        let _ = s.simulated();
    }
}
