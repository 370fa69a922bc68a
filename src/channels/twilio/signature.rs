//! `X-Twilio-Signature`: proof that a webhook came from Twilio. The check matches the
//! `RequestValidator` of Twilio's Python SDK byte for byte: HMAC-SHA1 keyed with the auth
//! token over the full URL Twilio requested, followed for form POSTs by `key + value` of every
//! parameter sorted by key then value (byte order, duplicates removed), base64-encoded and
//! compared in constant time. The URL is accepted both without its port and with the default
//! port added (`:443` for https and wss, `:80` for http and ws); the scheme is never swapped.
//! JSON bodies are covered by a `bodySHA256` query parameter instead, and a Media Streams
//! handshake is also tried with a trailing `/` on the path.
//!
//! The URL must be the one Twilio used, rebuilt from the configured [`PublicBaseUrl`] rather
//! than from `Host` or `X-Forwarded-*` headers, which a caller controls.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::form::{self, FormError};
use crate::domain::ParseError;

/// The request header that carries the signature.
pub const HEADER: &str = "X-Twilio-Signature";

/// The query parameter Twilio adds to a JSON request: the hex SHA-256 of the raw body.
pub const BODY_HASH_PARAM: &str = "bodySHA256";

/// Why a request was not accepted as coming from Twilio.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Twilio-Signature header is missing")]
    Missing,
    #[error("the X-Twilio-Signature header does not match the request")]
    Mismatch,
    #[error("a JSON request has no bodySHA256 query parameter")]
    MissingBodyHash,
    #[error("the request body does not match its bodySHA256 query parameter")]
    BodyHashMismatch,
    #[error("the form body is malformed: {0}")]
    Form(#[from] FormError),
}

impl SignatureError {
    /// A stable snake_case code for logs and error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing => "missing_signature",
            Self::Mismatch => "invalid_signature",
            Self::MissingBodyHash => "missing_body_hash",
            Self::BodyHashMismatch => "body_hash_mismatch",
            Self::Form(_) => "malformed_form",
        }
    }
}

/// The public origin Twilio is configured to call (`https://api.example.com`, optionally with
/// a port and a path prefix), parsed once at startup. Behind a TLS-terminating proxy this is
/// the only trustworthy source of the scheme and host Twilio signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicBaseUrl {
    /// `http` or `https`, lowercase.
    scheme: &'static str,
    /// Everything after `://`: authority and optional path prefix, no trailing `/`.
    rest: String,
}

impl PublicBaseUrl {
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let invalid = |why: &str| {
            ParseError::new(
                "invalid_public_base_url",
                format!("`{raw}` is not a public base URL: {why}"),
            )
        };
        let trimmed = raw.trim();
        let (scheme, rest) = trimmed
            .split_once("://")
            .ok_or_else(|| invalid("it needs http:// or https://"))?;
        let scheme = if scheme.eq_ignore_ascii_case("https") {
            "https"
        } else if scheme.eq_ignore_ascii_case("http") {
            "http"
        } else {
            return Err(invalid("the scheme must be http or https"));
        };
        if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("it contains whitespace"));
        }
        if rest.contains(['?', '#']) {
            return Err(invalid("it must not have a query or fragment"));
        }
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() || rest.starts_with(['/', ':', '@']) {
            return Err(invalid("it has no host"));
        }
        Ok(Self {
            scheme,
            rest: rest.to_string(),
        })
    }

    /// The URL Twilio requested: base + path + `?` + raw query, exactly as received (the query
    /// is not decoded or re-encoded). An empty query adds nothing.
    pub fn request_url(&self, path: &str, raw_query: Option<&str>) -> String {
        self.url_with_scheme(self.scheme, path, raw_query)
    }

    /// The `wss://` (or `ws://`) URL of a WebSocket path; Twilio signs the Media Streams
    /// handshake over this form, and it is what `<Stream url=..>` must name.
    pub fn websocket_url(&self, path: &str) -> String {
        let scheme = if self.scheme == "https" { "wss" } else { "ws" };
        self.url_with_scheme(scheme, path, None)
    }

    fn url_with_scheme(&self, scheme: &str, path: &str, raw_query: Option<&str>) -> String {
        let mut url = format!("{scheme}://{}", self.rest);
        if !path.starts_with('/') {
            url.push('/');
        }
        url.push_str(path);
        if let Some(query) = raw_query.filter(|q| !q.is_empty()) {
            url.push('?');
            url.push_str(query);
        }
        url
    }
}

impl fmt::Display for PublicBaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.rest)
    }
}

/// Checks signatures with one account's auth token. `Debug` never prints the token.
#[derive(Clone)]
pub struct Validator {
    token: String,
}

impl fmt::Debug for Validator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Validator")
            .field("token", &"[redacted]")
            .finish()
    }
}

impl Validator {
    pub fn new(auth_token: impl Into<String>) -> Self {
        Self {
            token: auth_token.into(),
        }
    }

    /// A form POST: decode the raw `application/x-www-form-urlencoded` body, check the
    /// signature over the URL and every parameter, and hand back the decoded pairs.
    pub fn validate_form(
        &self,
        url: &str,
        body: &[u8],
        signature: Option<&str>,
    ) -> Result<Vec<(String, String)>, SignatureError> {
        let signature = present(signature)?;
        let params = form::decode(body)?;
        self.check(url, &params, signature)?;
        Ok(form::without_nul(params))
    }

    /// Already-decoded parameters (a GET passes none: the query is part of the URL).
    pub fn validate<K: AsRef<str>, V: AsRef<str>>(
        &self,
        url: &str,
        params: &[(K, V)],
        signature: Option<&str>,
    ) -> Result<(), SignatureError> {
        self.check(url, params, present(signature)?)
    }

    /// A GET: the signature covers the URL alone, query string included.
    pub fn validate_get(&self, url: &str, signature: Option<&str>) -> Result<(), SignatureError> {
        self.validate::<&str, &str>(url, &[], signature)
    }

    /// A JSON body: the signature covers the URL (which carries `bodySHA256`), then the hash
    /// of the raw body must equal that parameter. A JSON request without it is refused.
    pub fn validate_json(
        &self,
        url: &str,
        body: &[u8],
        signature: Option<&str>,
    ) -> Result<(), SignatureError> {
        let signature = present(signature)?;
        let claimed = query_param(url, BODY_HASH_PARAM).ok_or(SignatureError::MissingBodyHash)?;
        self.check::<&str, &str>(url, &[], signature)?;
        let actual = body_sha256_hex(body);
        if bool::from(actual.as_bytes().ct_eq(claimed.as_bytes())) {
            Ok(())
        } else {
            Err(SignatureError::BodyHashMismatch)
        }
    }

    /// The Media Streams WebSocket handshake (a GET to the `wss://` URL). When the URL as
    /// requested fails, the same URL with a trailing `/` on its path is tried.
    pub fn validate_stream_handshake(
        &self,
        url: &str,
        signature: Option<&str>,
    ) -> Result<(), SignatureError> {
        let signature = present(signature)?;
        let first = self.check::<&str, &str>(url, &[], signature);
        match (first, with_trailing_slash(url)) {
            (Err(SignatureError::Mismatch), Some(slashed)) => {
                self.check::<&str, &str>(&slashed, &[], signature)
            }
            (result, _) => result,
        }
    }

    fn check<K: AsRef<str>, V: AsRef<str>>(
        &self,
        url: &str,
        params: &[(K, V)],
        signature: &str,
    ) -> Result<(), SignatureError> {
        let (without_port, with_port) = url_variants(url);
        let given = signature.as_bytes();
        let a = sign(&self.token, &without_port, params);
        let b = sign(&self.token, &with_port, params);
        if bool::from(a.as_bytes().ct_eq(given) | b.as_bytes().ct_eq(given)) {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }
}

fn present(signature: Option<&str>) -> Result<&str, SignatureError> {
    match signature.map(str::trim) {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(SignatureError::Missing),
    }
}

/// The signature Twilio would send for `url` and `params` (used by tests and by a fake Twilio
/// that signs its requests). `url` is signed exactly as given: no port or fragment handling.
pub fn sign<K: AsRef<str>, V: AsRef<str>>(token: &str, url: &str, params: &[(K, V)]) -> String {
    let mut sorted: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .collect();
    // Sorting the pairs groups each key and orders its values; dedup drops repeated pairs.
    sorted.sort_unstable();
    sorted.dedup();
    // HMAC accepts keys of any length, so this never fails; an empty string matches nothing.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(token.as_bytes()) else {
        return String::new();
    };
    mac.update(url.as_bytes());
    for (key, value) in sorted {
        mac.update(key.as_bytes());
        mac.update(value.as_bytes());
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Lowercase hex SHA-256 of a raw body, as Twilio puts in `bodySHA256`.
pub fn body_sha256_hex(body: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(body);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0F)]));
    }
    out
}

/// `url` with `bodySHA256=<hash of body>` appended to its query, as Twilio sends JSON.
pub fn url_with_body_hash(url: &str, body: &[u8]) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!(
        "{url}{separator}{BODY_HASH_PARAM}={}",
        body_sha256_hex(body)
    )
}

/// The first non-empty value of a query parameter, percent-decoded.
fn query_param(url: &str, name: &str) -> Option<String> {
    let (_, query) = strip_fragment(url).split_once('?')?;
    form::decode(query.as_bytes())
        .ok()?
        .into_iter()
        .find(|(k, v)| k == name && !v.is_empty())
        .map(|(_, v)| v)
}

fn strip_fragment(url: &str) -> &str {
    url.split_once('#').map_or(url, |(before, _)| before)
}

/// The two forms of `url` a signature may cover: without any port, and with the port (the
/// default one for the scheme when none is given). Fragments such as Twilio's `#rc=..`
/// connection overrides are dropped, the scheme is lowercased and an empty `?` removed, as
/// the reference validator's URL parsing does.
fn url_variants(url: &str) -> (String, String) {
    let url = strip_fragment(url);
    let url = url.strip_suffix('?').unwrap_or(url);
    let Some((scheme, after)) = url.split_once("://") else {
        return (url.to_string(), url.to_string());
    };
    let scheme = scheme.to_ascii_lowercase();
    let authority_end = after.find(['/', '?']).unwrap_or(after.len());
    let (authority, tail) = after.split_at(authority_end);
    let (userinfo, host_port) = match authority.rfind('@') {
        Some(at) => authority.split_at(at + 1),
        None => ("", authority),
    };
    let (host, port) = split_port(host_port);
    let default_port = match scheme.as_str() {
        "https" | "wss" => "443",
        _ => "80",
    };
    let without = format!("{scheme}://{userinfo}{host}{tail}");
    let with = format!(
        "{scheme}://{userinfo}{host}:{}{tail}",
        port.unwrap_or(default_port)
    );
    (without, with)
}

/// Split `host[:port]`, minding bracketed IPv6 literals.
fn split_port(host_port: &str) -> (&str, Option<&str>) {
    let search_from = if host_port.starts_with('[') {
        host_port.find(']').unwrap_or(0)
    } else {
        0
    };
    match host_port[search_from..].rfind(':') {
        Some(i) => {
            let i = search_from + i;
            (
                &host_port[..i],
                Some(&host_port[i + 1..]).filter(|p| !p.is_empty()),
            )
        }
        None => (host_port, None),
    }
}

/// The URL with `/` added to the end of its path, or `None` when it already ends with one.
fn with_trailing_slash(url: &str) -> Option<String> {
    let url = strip_fragment(url);
    let (head, query) = match url.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (url, None),
    };
    if head.ends_with('/') {
        return None;
    }
    Some(match query {
        Some(q) => format!("{head}/?{q}"),
        None => format!("{head}/"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const VOICE_PARAMS: [(&str, &str); 5] = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675310"),
        ("Digits", "1234"),
        ("From", "+14158675310"),
        ("To", "+18005551212"),
    ];
    const MYCOMPANY: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const MYCOMPANY_SIG: &str = "GvWf1cFY/Q7PnoempGyD5oXAezc=";

    const JSON_BODY: &str = r#"{"property": "value", "boolean": true}"#;
    const JSON_HASH: &str = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
    const JSON_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
    const JSON_SIG: &str = "a9nBmqA0ju/hNViExpshrM61xv4=";

    const SMS_TOKEN: &str = "0123456789abcdef0123456789abcdef";
    const SMS_URL: &str = "https://api.example.com/twilio/sms";
    const SMS_BODY: &str = "AccountSid=AC0123456789abcdef0123456789abcdef&ApiVersion=2010-04-01&Body=Ol%C3%A1%21+caf%C3%A9+%E2%98%95+STOP%3F&From=%2B14158675310&FromCity=&FromCountry=US&FromState=CA&FromZip=&MessageSid=SM0123456789abcdef0123456789abcdef&NumMedia=0&NumSegments=1&SmsMessageSid=SM0123456789abcdef0123456789abcdef&SmsSid=SM0123456789abcdef0123456789abcdef&SmsStatus=received&To=%2B18005551212&ToCity=&ToCountry=US&ToState=CA&ToZip=";
    const SMS_SIG: &str = "D00IPBjR2gJaITpb/qxdLcm/znk=";

    const REPEATED: [(&str, &str); 5] = [
        ("Sid", "CA123"),
        ("SidAccount", "AC123"),
        ("Digits", "5678"),
        ("Digits", "1234"),
        ("Digits", "1234"),
    ];
    const REPEATED_SIG: &str = "IK+Dwps556ElfBT0I3Rgjkr1wJU=";

    fn validator() -> Validator {
        Validator::new("12345")
    }

    // ---- the reference vectors -------------------------------------------------------

    #[test]
    fn vector_1_form_post_with_query_string() {
        let url = "https://example.com/myapp.php?foo=1&bar=2";
        assert_eq!(
            sign("12345", url, &VOICE_PARAMS),
            "L/OH5YylLD5NRKLltdqwSvS0BnU="
        );
        assert_eq!(
            validator().validate(url, &VOICE_PARAMS, Some("L/OH5YylLD5NRKLltdqwSvS0BnU=")),
            Ok(())
        );
        assert_eq!(sign("12345", MYCOMPANY, &VOICE_PARAMS), MYCOMPANY_SIG);
        assert_eq!(
            validator().validate(MYCOMPANY, &VOICE_PARAMS, Some(MYCOMPANY_SIG)),
            Ok(())
        );
    }

    #[test]
    fn vector_1_is_also_valid_with_the_default_port() {
        let with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        assert_eq!(
            validator().validate(with_port, &VOICE_PARAMS, Some(MYCOMPANY_SIG)),
            Ok(())
        );
        // And a signature made over the URL with the port is valid for the bare URL.
        let sig_with_port = sign("12345", with_port, &VOICE_PARAMS);
        assert_ne!(sig_with_port, MYCOMPANY_SIG);
        assert_eq!(
            validator().validate(MYCOMPANY, &VOICE_PARAMS, Some(&sig_with_port)),
            Ok(())
        );
    }

    #[test]
    fn vector_1_params_order_in_the_request_does_not_matter() {
        let mut reversed = VOICE_PARAMS;
        reversed.reverse();
        assert_eq!(sign("12345", MYCOMPANY, &reversed), MYCOMPANY_SIG);
    }

    #[test]
    fn vector_2_json_body() {
        assert_eq!(body_sha256_hex(JSON_BODY.as_bytes()), JSON_HASH);
        assert_eq!(
            url_with_body_hash(MYCOMPANY, JSON_BODY.as_bytes()),
            JSON_URL
        );
        assert_eq!(sign::<&str, &str>("12345", JSON_URL, &[]), JSON_SIG);
        assert_eq!(
            validator().validate_json(JSON_URL, JSON_BODY.as_bytes(), Some(JSON_SIG)),
            Ok(())
        );
    }

    #[test]
    fn vector_3_sms_with_utf8_body() {
        let params = Validator::new(SMS_TOKEN)
            .validate_form(SMS_URL, SMS_BODY.as_bytes(), Some(SMS_SIG))
            .expect("the reference SMS is valid");
        assert_eq!(params.len(), 19);
        assert!(params.contains(&("Body".into(), "Olá! café ☕ STOP?".into())));
        assert!(params.contains(&("FromCity".into(), String::new())));
        assert_eq!(sign(SMS_TOKEN, SMS_URL, &params), SMS_SIG);
    }

    #[test]
    fn vector_3_through_the_public_base_url() {
        let base = PublicBaseUrl::parse("https://api.example.com/").expect("valid base");
        let url = base.request_url("/twilio/sms", None);
        assert_eq!(url, SMS_URL);
        assert!(Validator::new(SMS_TOKEN)
            .validate_form(&url, SMS_BODY.as_bytes(), Some(SMS_SIG))
            .is_ok());
    }

    #[test]
    fn vector_4_repeated_keys() {
        assert_eq!(sign("12345", MYCOMPANY, &REPEATED), REPEATED_SIG);
        assert_eq!(
            validator().validate(MYCOMPANY, &REPEATED, Some(REPEATED_SIG)),
            Ok(())
        );
        let body = form::encode(&REPEATED);
        assert_eq!(
            validator()
                .validate_form(MYCOMPANY, body.as_bytes(), Some(REPEATED_SIG))
                .map(|p| p.len()),
            Ok(5)
        );
        // A repeat of an existing pair does not change the signature; a new value does.
        let mut once = REPEATED.to_vec();
        once.pop();
        assert_eq!(sign("12345", MYCOMPANY, &once), REPEATED_SIG);
        once.push(("Digits", "9"));
        assert_ne!(sign("12345", MYCOMPANY, &once), REPEATED_SIG);
    }

    // ---- refusals --------------------------------------------------------------------

    fn refuse<K: AsRef<str>, V: AsRef<str>>(
        url: &str,
        params: &[(K, V)],
        signature: Option<&str>,
        expected: SignatureError,
    ) {
        assert_eq!(
            validator().validate(url, params, signature),
            Err(expected),
            "url {url:?} signature {signature:?}"
        );
    }

    #[test]
    fn refuses_missing_and_forged_signatures() {
        use SignatureError::*;
        refuse(MYCOMPANY, &VOICE_PARAMS, None, Missing);
        refuse(MYCOMPANY, &VOICE_PARAMS, Some(""), Missing);
        refuse(MYCOMPANY, &VOICE_PARAMS, Some("   "), Missing);
        for forged in [
            "GvWf1cFY/Q7PnoempGyD5oXAezd=",
            "GvWf1cFY/Q7PnoempGyD5oXAez",
            "gvwf1cfy/q7pnoempgyd5oxaezc=",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            "not base64 at all ✗",
            "GvWf1cFY/Q7PnoempGyD5oXAezc=GvWf1cFY/Q7PnoempGyD5oXAezc=",
        ] {
            refuse(MYCOMPANY, &VOICE_PARAMS, Some(forged), Mismatch);
        }
        // Surrounding whitespace in a header value is not part of the signature.
        assert_eq!(
            validator().validate(
                MYCOMPANY,
                &VOICE_PARAMS,
                Some(" GvWf1cFY/Q7PnoempGyD5oXAezc=\t")
            ),
            Ok(())
        );
    }

    #[test]
    fn refuses_a_wrong_token() {
        for token in ["1234", "123456", "", "12345 "] {
            assert_eq!(
                Validator::new(token).validate(MYCOMPANY, &VOICE_PARAMS, Some(MYCOMPANY_SIG)),
                Err(SignatureError::Mismatch),
                "token {token:?}"
            );
        }
    }

    #[test]
    fn refuses_a_stale_or_different_url() {
        for url in [
            "https://mycompany.com/myapp.php",
            "https://mycompany.com/myapp.php?foo=1",
            "https://mycompany.com/myapp.php?bar=2&foo=1",
            "https://mycompany.com/myapp.php?foo=1&bar=2&x=3",
            "https://mycompany.com/other.php?foo=1&bar=2",
            "https://mycompany.com/myapp.php/?foo=1&bar=2",
            "https://old.mycompany.com/myapp.php?foo=1&bar=2",
            "https://mycompany.com:80/myapp.php?foo=1&bar=2x",
        ] {
            refuse(
                url,
                &VOICE_PARAMS,
                Some(MYCOMPANY_SIG),
                SignatureError::Mismatch,
            );
        }
    }

    #[test]
    fn http_and_https_are_never_interchangeable() {
        let http = "http://mycompany.com/myapp.php?foo=1&bar=2";
        refuse(
            http,
            &VOICE_PARAMS,
            Some(MYCOMPANY_SIG),
            SignatureError::Mismatch,
        );
        refuse(
            "http://mycompany.com:443/myapp.php?foo=1&bar=2",
            &VOICE_PARAMS,
            Some(MYCOMPANY_SIG),
            SignatureError::Mismatch,
        );
        let http_sig = sign("12345", http, &VOICE_PARAMS);
        refuse(
            MYCOMPANY,
            &VOICE_PARAMS,
            Some(&http_sig),
            SignatureError::Mismatch,
        );
        assert_eq!(
            validator().validate(http, &VOICE_PARAMS, Some(&http_sig)),
            Ok(())
        );
        // http's default port is 80, not 443.
        assert_eq!(
            validator().validate(
                "http://mycompany.com:80/myapp.php?foo=1&bar=2",
                &VOICE_PARAMS,
                Some(&http_sig)
            ),
            Ok(())
        );
        let sig_443 = sign(
            "12345",
            "http://mycompany.com:443/myapp.php?foo=1&bar=2",
            &VOICE_PARAMS,
        );
        refuse(
            http,
            &VOICE_PARAMS,
            Some(&sig_443),
            SignatureError::Mismatch,
        );
    }

    #[test]
    fn refuses_modified_extra_or_missing_params() {
        let mut modified = VOICE_PARAMS;
        modified[2] = ("Digits", "1235");
        refuse(
            MYCOMPANY,
            &modified,
            Some(MYCOMPANY_SIG),
            SignatureError::Mismatch,
        );

        let mut renamed = VOICE_PARAMS;
        renamed[2] = ("digits", "1234");
        refuse(
            MYCOMPANY,
            &renamed,
            Some(MYCOMPANY_SIG),
            SignatureError::Mismatch,
        );

        let mut extra = VOICE_PARAMS.to_vec();
        extra.push(("Body", "hi"));
        refuse(
            MYCOMPANY,
            &extra,
            Some(MYCOMPANY_SIG),
            SignatureError::Mismatch,
        );

        let mut blank_extra = VOICE_PARAMS.to_vec();
        blank_extra.push(("FromCity", ""));
        refuse(
            MYCOMPANY,
            &blank_extra,
            Some(MYCOMPANY_SIG),
            SignatureError::Mismatch,
        );

        refuse(
            MYCOMPANY,
            &VOICE_PARAMS[1..],
            Some(MYCOMPANY_SIG),
            SignatureError::Mismatch,
        );
        refuse::<&str, &str>(
            MYCOMPANY,
            &[],
            Some(MYCOMPANY_SIG),
            SignatureError::Mismatch,
        );
    }

    #[test]
    fn refuses_a_tampered_sms_body() {
        let v = Validator::new(SMS_TOKEN);
        let tampered = SMS_BODY.replace("STOP%3F", "START");
        assert_eq!(
            v.validate_form(SMS_URL, tampered.as_bytes(), Some(SMS_SIG)),
            Err(SignatureError::Mismatch)
        );
        let extra = format!("{SMS_BODY}&Injected=1");
        assert_eq!(
            v.validate_form(SMS_URL, extra.as_bytes(), Some(SMS_SIG)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            v.validate_form(SMS_URL, b"Body=%FF", Some(SMS_SIG)),
            Err(SignatureError::Form(FormError { index: 0 }))
        );
        assert_eq!(
            v.validate_form(SMS_URL, SMS_BODY.as_bytes(), None),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn json_refusals() {
        let v = validator();
        let body = JSON_BODY.as_bytes();
        assert_eq!(
            v.validate_json(
                JSON_URL,
                br#"{"property": "value", "boolean": false}"#,
                Some(JSON_SIG)
            ),
            Err(SignatureError::BodyHashMismatch)
        );
        assert_eq!(
            v.validate_json(MYCOMPANY, body, Some(JSON_SIG)),
            Err(SignatureError::MissingBodyHash)
        );
        assert_eq!(
            v.validate_json(&format!("{MYCOMPANY}&bodySHA256="), body, Some(JSON_SIG)),
            Err(SignatureError::MissingBodyHash)
        );
        // A hash swapped in the URL breaks the URL signature.
        let other = url_with_body_hash(MYCOMPANY, b"{}");
        assert_eq!(
            v.validate_json(&other, b"{}", Some(JSON_SIG)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            v.validate_json(JSON_URL, body, None),
            Err(SignatureError::Missing)
        );
        // The JSON URL with the default port added is also accepted.
        let with_port = JSON_URL.replace("mycompany.com", "mycompany.com:443");
        assert_eq!(v.validate_json(&with_port, body, Some(JSON_SIG)), Ok(()));
    }

    // ---- URL handling ----------------------------------------------------------------

    #[test]
    fn get_signs_the_url_only() {
        let url = "https://api.example.com/twilio/voice?CallSid=CA1&From=%2B14155550123";
        let sig = sign::<&str, &str>("12345", url, &[]);
        assert_eq!(validator().validate_get(url, Some(&sig)), Ok(()));
        assert_eq!(
            validator().validate_get(
                "https://api.example.com/twilio/voice?CallSid=CA1",
                Some(&sig)
            ),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn connection_override_fragments_are_ignored() {
        let with_fragment = format!("{MYCOMPANY}#rc=5&rp=all");
        assert_eq!(
            validator().validate(&with_fragment, &VOICE_PARAMS, Some(MYCOMPANY_SIG)),
            Ok(())
        );
    }

    #[test]
    fn stream_handshake_retries_with_a_trailing_slash() {
        let base = PublicBaseUrl::parse("https://api.example.com").expect("valid base");
        let url = base.websocket_url("/twilio/voice/stream");
        assert_eq!(url, "wss://api.example.com/twilio/voice/stream");
        let v = validator();

        let plain = sign::<&str, &str>("12345", &url, &[]);
        assert_eq!(v.validate_stream_handshake(&url, Some(&plain)), Ok(()));

        let slashed = sign::<&str, &str>("12345", &format!("{url}/"), &[]);
        assert_eq!(v.validate_stream_handshake(&url, Some(&slashed)), Ok(()));
        assert_eq!(
            v.validate_get(&url, Some(&slashed)),
            Err(SignatureError::Mismatch)
        );

        let with_port = sign::<&str, &str>(
            "12345",
            "wss://api.example.com:443/twilio/voice/stream",
            &[],
        );
        assert_eq!(v.validate_stream_handshake(&url, Some(&with_port)), Ok(()));

        let https = sign::<&str, &str>("12345", "https://api.example.com/twilio/voice/stream", &[]);
        assert_eq!(
            v.validate_stream_handshake(&url, Some(&https)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            v.validate_stream_handshake(&url, None),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn url_variants_table() {
        let check = |url: &str, without: &str, with: &str| {
            assert_eq!(
                url_variants(url),
                (without.to_string(), with.to_string()),
                "url {url:?}"
            );
        };
        check(
            "https://a.com/p?x=1",
            "https://a.com/p?x=1",
            "https://a.com:443/p?x=1",
        );
        check(
            "https://a.com:443/p",
            "https://a.com/p",
            "https://a.com:443/p",
        );
        check(
            "https://a.com:8443/p",
            "https://a.com/p",
            "https://a.com:8443/p",
        );
        check("http://a.com/p", "http://a.com/p", "http://a.com:80/p");
        check("wss://a.com/s", "wss://a.com/s", "wss://a.com:443/s");
        check("HTTPS://A.com/p", "https://A.com/p", "https://A.com:443/p");
        check("https://a.com", "https://a.com", "https://a.com:443");
        check("https://a.com?x", "https://a.com?x", "https://a.com:443?x");
        check("https://a.com/p?", "https://a.com/p", "https://a.com:443/p");
        check(
            "https://a.com/p#rc=3",
            "https://a.com/p",
            "https://a.com:443/p",
        );
        check(
            "https://u:pw@a.com:99/p",
            "https://u:pw@a.com/p",
            "https://u:pw@a.com:99/p",
        );
        check(
            "https://u:pw@a.com/p",
            "https://u:pw@a.com/p",
            "https://u:pw@a.com:443/p",
        );
        check(
            "https://[::1]:8443/p",
            "https://[::1]/p",
            "https://[::1]:8443/p",
        );
        check("https://[::1]/p", "https://[::1]/p", "https://[::1]:443/p");
        check("https://a.com:/p", "https://a.com/p", "https://a.com:443/p");
        check("no scheme", "no scheme", "no scheme");
        check("", "", "");
    }

    #[test]
    fn odd_urls_and_signatures_never_panic() {
        let odd_urls = [
            "",
            "://",
            "https://",
            "https://[",
            "https://[::1",
            "https://]:",
            "https://@",
            "https://a:b:c@d:e/f",
            "https://é.com:443/ü?ä=ö#ß",
            "wss://x/",
            "https://a.com/p?bodySHA256=%ZZ",
            "?#",
            "#",
            "/relative",
            "https://a.com:99999999999999999999/",
            "\u{0}\u{1}",
            "https://a.com/p/?q",
        ];
        let v = validator();
        for url in odd_urls {
            for sig in [None, Some(""), Some("x"), Some("====")] {
                let _ = v.validate(url, &VOICE_PARAMS, sig);
                let _ = v.validate_get(url, sig);
                let _ = v.validate_json(url, b"\xff\x00", sig);
                let _ = v.validate_stream_handshake(url, sig);
                let _ = v.validate_form(url, b"%%%&&==+%C3", sig);
            }
            let sig = sign("12345", &url_variants(url).1, &VOICE_PARAMS);
            assert_eq!(
                v.validate(url, &VOICE_PARAMS, Some(&sig)),
                Ok(()),
                "url {url:?}"
            );
            let _ = with_trailing_slash(url);
        }
    }

    #[test]
    fn public_base_url_parsing() {
        let ok = |raw: &str, shown: &str| {
            let base = PublicBaseUrl::parse(raw).expect(raw);
            assert_eq!(base.to_string(), shown);
        };
        ok("https://api.example.com", "https://api.example.com");
        ok(" https://api.example.com/ ", "https://api.example.com");
        ok(
            "HTTPS://api.example.com:8443/fd/",
            "https://api.example.com:8443/fd",
        );
        ok("http://localhost:3000", "http://localhost:3000");
        for bad in [
            "",
            "api.example.com",
            "ftp://x",
            "https://",
            "https:///p",
            "https://x?y=1",
            "https://x#f",
            "https://a b",
            "wss://x",
            "https://:443",
        ] {
            let err = PublicBaseUrl::parse(bad).expect_err(bad);
            assert_eq!(err.code, "invalid_public_base_url");
        }
    }

    #[test]
    fn request_and_websocket_urls() {
        let base = PublicBaseUrl::parse("https://x.com/fd/").expect("valid base");
        assert_eq!(
            base.request_url("/twilio/sms", None),
            "https://x.com/fd/twilio/sms"
        );
        assert_eq!(
            base.request_url("/twilio/sms", Some("")),
            "https://x.com/fd/twilio/sms"
        );
        assert_eq!(
            base.request_url("/twilio/voice", Some("a=1&b=%2B1")),
            "https://x.com/fd/twilio/voice?a=1&b=%2B1"
        );
        assert_eq!(
            base.request_url("twilio/sms", None),
            "https://x.com/fd/twilio/sms"
        );
        assert_eq!(base.websocket_url("/s"), "wss://x.com/fd/s");
        let http = PublicBaseUrl::parse("http://127.0.0.1:8080").expect("valid base");
        assert_eq!(http.websocket_url("/s"), "ws://127.0.0.1:8080/s");
    }

    #[test]
    fn debug_never_prints_the_token() {
        let shown = format!("{:?}", Validator::new("super-secret-token"));
        assert!(!shown.contains("super-secret"), "{shown}");
    }

    #[test]
    fn error_codes_are_stable() {
        assert_eq!(SignatureError::Missing.code(), "missing_signature");
        assert_eq!(SignatureError::Mismatch.code(), "invalid_signature");
        assert_eq!(
            SignatureError::Form(FormError { index: 0 }).code(),
            "malformed_form"
        );
    }
}
