//! Twilio, as the application meets it, on loopback:
//!
//! - [`TwilioClient`]: posts webhooks exactly as Twilio does (every parameter Twilio sends,
//!   `application/x-www-form-urlencoded`, `X-Twilio-Signature` over the public URL), to the
//!   test app's loopback address.
//! - [`FakeTwilio`] (`frontdesk::channels::twilio::fake`, shared with `frontdesk soak`):
//!   Twilio's Messages REST API and recording downloads, started for the test app's account
//!   by [`fake_twilio`].
//! - A small TwiML reader for assertions.

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::header;

use serde_json::Value;

use super::app::{TestApp, PUBLIC_URL, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN};
pub use frontdesk::channels::twilio::fake::{
    form_decode, param, sid, wav_tone, FakeTwilio, Params,
};
use frontdesk::channels::twilio::signature::sign;

/// The fake Twilio REST API for the test app's account.
pub async fn fake_twilio() -> FakeTwilio {
    FakeTwilio::start_for(TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)
        .await
        .expect("start the fake Twilio")
}

/// The demo tenant's Twilio numbers.
pub const DEMO_NUMBER: &str = "+15125550000";
pub const DEMO_NUMBER_2: &str = "+15125550001";
pub const DEMO_OFFICE: &str = "+15125550009";
pub const DEMO_ON_CALL: &str = "+15125550999";
pub const RACHEL_KIM: &str = "+15125550155";
pub const TOM_BECKER: &str = "+15125550144";

fn params(list: &[(&str, &str)]) -> Params {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Encode a form body the way Twilio does: unreserved characters stay, space is `+`, the
/// rest is `%XX` (upper-case hex). Written here rather than borrowed from the code under test.
pub fn form_encode(pairs: &[(String, String)]) -> String {
    fn escape(out: &mut String, s: &str) {
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    out.push(char::from(b))
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
    }
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        escape(&mut out, k);
        out.push('=');
        escape(&mut out, v);
    }
    out
}

// ------------------------------------------------------------------------------------------
// Webhook parameters, as Twilio sends them

/// An inbound SMS (long code, no media): every parameter Twilio posts.
pub fn sms_params(message_sid: &str, from: &str, to: &str, body: &str) -> Params {
    let mut p = params(&[
        ("ToCountry", "US"),
        ("ToState", "TX"),
        ("SmsMessageSid", message_sid),
        ("NumMedia", "0"),
        ("ToCity", "AUSTIN"),
        ("FromZip", "78748"),
        ("SmsSid", message_sid),
        ("FromState", "TX"),
        ("SmsStatus", "received"),
        ("FromCity", "AUSTIN"),
        ("Body", body),
        ("FromCountry", "US"),
        ("To", to),
        ("ToZip", ""),
        ("NumSegments", "1"),
        ("MessageSid", message_sid),
        ("AccountSid", TWILIO_ACCOUNT_SID),
        ("From", from),
        ("ApiVersion", "2010-04-01"),
    ]);
    p.sort();
    p
}

/// An MMS: the SMS parameters with `NumMedia` and one `MediaUrlN`/`MediaContentTypeN` per item.
pub fn mms_params(
    message_sid: &str,
    from: &str,
    to: &str,
    body: &str,
    media: &[(&str, &str)],
) -> Params {
    let mut p: Params = sms_params(message_sid, from, to, body)
        .into_iter()
        .filter(|(k, _)| k != "NumMedia")
        .collect();
    p.push(("NumMedia".into(), media.len().to_string()));
    for (i, (url, content_type)) in media.iter().enumerate() {
        p.push((format!("MediaUrl{i}"), url.to_string()));
        p.push((format!("MediaContentType{i}"), content_type.to_string()));
    }
    p.sort();
    p
}

fn call_base(call_sid: &str, from: &str, to: &str, status: &str) -> Params {
    params(&[
        ("AccountSid", TWILIO_ACCOUNT_SID),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", call_sid),
        ("CallStatus", status),
        ("Called", to),
        ("CalledCity", "AUSTIN"),
        ("CalledCountry", "US"),
        ("CalledState", "TX"),
        ("CalledZip", ""),
        ("Caller", from),
        ("CallerCity", "AUSTIN"),
        ("CallerCountry", "US"),
        ("CallerState", "TX"),
        ("CallerZip", "78748"),
        ("Direction", "inbound"),
        ("From", from),
        ("FromCity", "AUSTIN"),
        ("FromCountry", "US"),
        ("FromState", "TX"),
        ("FromZip", "78748"),
        ("To", to),
        ("ToCity", "AUSTIN"),
        ("ToCountry", "US"),
        ("ToState", "TX"),
        ("ToZip", ""),
    ])
}

/// A call arriving (`POST /twilio/voice`).
pub fn call_params(call_sid: &str, from: &str, to: &str) -> Params {
    let mut p = call_base(call_sid, from, to, "ringing");
    p.push((
        "CallToken".into(),
        "%7B%22parentCallInfoToken%22%3A%22eyJ%22%7D".into(),
    ));
    p.push(("StirVerstat".into(), "TN-Validation-Passed-A".into()));
    p.sort();
    p
}

/// A speech `<Gather>` result (`POST` to its action): the call parameters plus what was heard.
pub fn speech_params(
    call_sid: &str,
    from: &str,
    to: &str,
    speech: &str,
    confidence: Option<f32>,
) -> Params {
    let mut p = call_base(call_sid, from, to, "in-progress");
    p.push(("SpeechResult".into(), speech.into()));
    if let Some(c) = confidence {
        p.push(("Confidence".into(), format!("{c:.8}")));
    }
    p.push(("Language".into(), "en-US".into()));
    p.sort();
    p
}

/// A DTMF `<Gather>` result.
pub fn digits_params(call_sid: &str, from: &str, to: &str, digits: &str) -> Params {
    let mut p = call_base(call_sid, from, to, "in-progress");
    p.push(("Digits".into(), digits.into()));
    p.push(("FinishedOnKey".into(), "".into()));
    p.sort();
    p
}

/// A `recordingStatusCallback`: Twilio sends only the recording's fields, no `From`/`To`.
pub fn recording_status_params(call_sid: &str, recording_sid: &str, url: &str) -> Params {
    let mut p = params(&[
        ("AccountSid", TWILIO_ACCOUNT_SID),
        ("CallSid", call_sid),
        ("RecordingSid", recording_sid),
        ("RecordingUrl", url),
        ("RecordingStatus", "completed"),
        ("RecordingDuration", "7"),
        ("RecordingChannels", "1"),
        ("RecordingStartTime", "Tue, 24 Nov 2026 02:16:02 +0000"),
        ("RecordingSource", "RecordVerb"),
        ("ErrorCode", "0"),
    ]);
    p.sort();
    p
}

/// The `<Record action>` request: call parameters plus the recording.
pub fn record_action_params(
    call_sid: &str,
    from: &str,
    to: &str,
    recording_sid: &str,
    url: &str,
) -> Params {
    let mut p = call_base(call_sid, from, to, "completed");
    p.push(("RecordingSid".into(), recording_sid.into()));
    p.push(("RecordingUrl".into(), url.into()));
    p.push(("RecordingDuration".into(), "7".into()));
    p.push(("Digits".into(), "hangup".into()));
    p.sort();
    p
}

/// A message status callback (`StatusCallback` of an outbound message).
pub fn message_status_params(
    message_sid: &str,
    from: &str,
    to: &str,
    status: &str,
    error_code: Option<&str>,
) -> Params {
    let mut p = params(&[
        ("AccountSid", TWILIO_ACCOUNT_SID),
        ("ApiVersion", "2010-04-01"),
        ("From", from),
        ("MessageSid", message_sid),
        ("MessageStatus", status),
        ("SmsSid", message_sid),
        ("SmsStatus", status),
        ("To", to),
    ]);
    if let Some(code) = error_code {
        p.push(("ErrorCode".into(), code.into()));
    }
    p.sort();
    p
}

// ------------------------------------------------------------------------------------------
// The signing client

/// What the app answered a webhook with.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
    pub elapsed: Duration,
}

impl Reply {
    pub fn is_twiml(&self) -> bool {
        self.status == 200 && self.content_type.starts_with("text/xml")
    }

    /// The texts of all `<Message>` verbs, unescaped.
    pub fn messages(&self) -> Vec<String> {
        elements(&self.body, "Message")
            .into_iter()
            .map(|e| e.text)
            .collect()
    }

    /// The one `<Message>`, or a panic that shows the body.
    pub fn message(&self) -> String {
        let m = self.messages();
        assert_eq!(m.len(), 1, "expected one <Message>: {}", self.body);
        m.into_iter().next().unwrap_or_default()
    }

    /// `<Response/>` or `<Response></Response>`: nothing for the caller.
    pub fn is_empty_response(&self) -> bool {
        let b = self.body.trim();
        let b = b
            .strip_prefix(r#"<?xml version="1.0" encoding="UTF-8"?>"#)
            .unwrap_or(b)
            .trim();
        b == "<Response/>" || b == "<Response></Response>"
    }

    pub fn elements(&self, tag: &str) -> Vec<Element> {
        elements(&self.body, tag)
    }

    /// Everything spoken (`<Say>` anywhere), joined.
    pub fn said(&self) -> String {
        elements(&self.body, "Say")
            .into_iter()
            .map(|e| e.text)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// One TwiML element: its attributes and its (unescaped) text content.
#[derive(Debug, Clone)]
pub struct Element {
    pub attrs: Vec<(String, String)>,
    /// Raw inner XML (not unescaped).
    pub inner: String,
    /// Inner XML with tags removed and entities decoded.
    pub text: String,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

fn strip_tags(s: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// Every `<tag …>…</tag>` or `<tag …/>` in a (flat enough) XML document.
pub fn elements(xml: &str, tag: &str) -> Vec<Element> {
    let mut out = Vec::new();
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        // `<Gather` must not match `<GatherX`.
        if !after.starts_with([' ', '>', '/']) {
            rest = after;
            continue;
        }
        let Some(end_of_open) = after.find('>') else {
            break;
        };
        let head = &after[..end_of_open];
        let self_closing = head.ends_with('/');
        let attrs = parse_attrs(head.trim_end_matches('/'));
        if self_closing {
            out.push(Element {
                attrs,
                inner: String::new(),
                text: String::new(),
            });
            rest = &after[end_of_open + 1..];
            continue;
        }
        let body = &after[end_of_open + 1..];
        let Some(end) = body.find(&close) else {
            break;
        };
        let inner = &body[..end];
        out.push(Element {
            attrs,
            inner: inner.to_string(),
            text: xml_unescape(&strip_tags(inner)),
        });
        rest = &body[end + close.len()..];
    }
    out
}

fn parse_attrs(head: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = head.trim();
    while let Some(eq) = rest.find("=\"") {
        let name = rest[..eq].trim().to_string();
        let value_start = &rest[eq + 2..];
        let Some(end) = value_start.find('"') else {
            break;
        };
        out.push((name, xml_unescape(&value_start[..end])));
        rest = value_start[end + 1..].trim_start();
    }
    out
}

/// Posts webhooks to the app as Twilio would.
#[derive(Clone)]
pub struct TwilioClient {
    http: reqwest::Client,
    addr: SocketAddr,
    pub public_url: String,
    pub auth_token: String,
}

impl TwilioClient {
    pub fn new(app: &TestApp) -> Self {
        TwilioClient {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
            addr: app.addr,
            public_url: PUBLIC_URL.to_string(),
            auth_token: TWILIO_AUTH_TOKEN.to_string(),
        }
    }

    /// The signature Twilio sends for `path_and_query` (under the public URL) and `params`.
    pub fn signature(&self, path_and_query: &str, params: &[(String, String)]) -> String {
        sign(
            &self.auth_token,
            &format!("{}{path_and_query}", self.public_url),
            params,
        )
    }

    /// A correctly signed POST.
    pub async fn post(&self, path_and_query: &str, params: &[(String, String)]) -> Reply {
        let signature = self.signature(path_and_query, params);
        self.post_raw(path_and_query, params, Some(&signature), &[])
            .await
    }

    /// A POST with any signature (or none) and extra headers.
    pub async fn post_raw(
        &self,
        path_and_query: &str,
        params: &[(String, String)],
        signature: Option<&str>,
        extra_headers: &[(&str, &str)],
    ) -> Reply {
        let url = format!("http://{}{path_and_query}", self.addr);
        let mut req = self
            .http
            .post(url)
            .header(
                header::CONTENT_TYPE,
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .header(header::USER_AGENT, "TwilioProxy/1.1")
            .header("I-Twilio-Idempotency-Token", sid("ID").to_lowercase())
            .header(header::ACCEPT, "*/*")
            .body(form_encode(params));
        if let Some(s) = signature {
            req = req.header("X-Twilio-Signature", s);
        }
        for (k, v) in extra_headers {
            req = req.header(*k, *v);
        }
        let started = std::time::Instant::now();
        let res = req.send().await.expect("webhook request");
        let status = res.status().as_u16();
        let content_type = res
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let headers = res.headers().clone();
        let body = res.text().await.expect("webhook body");
        Reply {
            status,
            content_type,
            headers,
            body,
            elapsed: started.elapsed(),
        }
    }

    /// Text the app from `from`: one signed inbound SMS with a fresh `MessageSid`.
    pub async fn sms(&self, from: &str, body: &str) -> Reply {
        self.sms_to(from, DEMO_NUMBER, body).await
    }

    pub async fn sms_to(&self, from: &str, to: &str, body: &str) -> Reply {
        let p = sms_params(&sid("SM"), from, to, body);
        self.post("/twilio/sms", &p).await
    }
}

/// Poll `check` (bounded) until it yields a value.
pub async fn eventually<T, F, Fut>(within: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A JSON value's string, or "".
pub fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}
