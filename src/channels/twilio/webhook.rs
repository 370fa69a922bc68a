//! Typed views of Twilio's webhook parameters: inbound SMS, voice calls, speech-gather
//! results, recording callbacks and message status callbacks, each parsed from the decoded
//! form pairs after the signature check. Required fields that are missing or malformed are
//! reported by name (never by value, which may be a phone number); parameters not named here
//! are ignored, since Twilio adds new ones without notice.
//!
//! `From` and `To` are E.164 for phones, but a call can come from a `client:` or `sip:`
//! identity, a withheld caller id, or a short code; those are kept as [`Party::Other`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::domain::{ParseError, PhoneE164};

/// Media items Twilio attaches to one MMS at most.
pub const MAX_MEDIA: usize = 10;

/// A webhook whose parameters cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("required parameter `{0}` is missing or empty")]
    Missing(&'static str),
    #[error("parameter `{field}` is malformed: {reason}")]
    Invalid {
        field: &'static str,
        reason: &'static str,
    },
}

impl WebhookError {
    /// A stable snake_case code for logs and error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing(_) => "missing_parameter",
            Self::Invalid { .. } => "invalid_parameter",
        }
    }
}

macro_rules! sid_type {
    ($($(#[$m:meta])* $name:ident),* $(,)?) => {$(
        $(#[$m])*
        /// Twilio identifiers are ASCII letters and digits (a two-letter prefix and 32 hex
        /// digits in practice); anything else is refused, so a SID is safe to log and store.
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Option<Self> {
                let ok = (1..=64).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_alphanumeric());
                ok.then(|| Self(raw.to_string()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ParseError;
            fn try_from(raw: String) -> Result<Self, ParseError> {
                Self::parse(&raw).ok_or_else(|| {
                    ParseError::new("invalid_sid", concat!("not a valid ", stringify!($name)))
                })
            }
        }

        impl From<$name> for String {
            fn from(sid: $name) -> String {
                sid.0
            }
        }
    )*};
}

sid_type!(
    /// `SM…`/`MM…`: one message; the de-duplication key of inbound SMS.
    MessageSid,
    /// `AC…`: the Twilio account (or subaccount).
    AccountSid,
    /// `CA…`: one call.
    CallSid,
    /// `RE…`: one recording.
    RecordingSid,
    /// `MG…`: a messaging service.
    MessagingServiceSid,
    /// `MZ…`: one Media Streams WebSocket stream.
    StreamSid,
);

/// An enum of the words Twilio uses for a state, each written once beside its variant:
/// `parse` (trimmed) and `as_str` give the word; `Other` (named first in the list, last in
/// the enum) keeps one this code does not know.
macro_rules! twilio_words {
    (
        $(#[$m:meta])*
        pub enum $name:ident {
            $(#[$om:meta])* Other(String);
            $($(#[$vm:meta])* $variant:ident = $word:literal,)*
        }
    ) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vm])* $variant,)*
            $(#[$om])*
            Other(String),
        }

        impl $name {
            pub fn parse(raw: &str) -> Self {
                match raw.trim() {
                    $($word => Self::$variant,)*
                    other => Self::Other(other.to_string()),
                }
            }

            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $word,)*
                    Self::Other(s) => s,
                }
            }
        }
    };
}

/// One end of a message or call.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Party {
    Phone(PhoneE164),
    /// `client:alice`, `sip:…`, a short code, a withheld caller id, anything not E.164.
    Other(String),
}

/// Caller ids a withheld number arrives as: words, or the words spelt on a keypad.
const WITHHELD: &[&str] = &[
    "anonymous",
    "restricted",
    "blocked",
    "unavailable",
    "unknown",
    "private",
    "+266696687",
    "266696687",
    "+7378742833",
    "7378742833",
    "+2562533",
    "2562533",
    "+8656696",
    "8656696",
];

impl Party {
    /// Only `+`-prefixed values are read as phone numbers: Twilio writes every phone number in
    /// E.164, so bare digits are a short code (or a keypad spelling of a withheld id).
    pub fn parse(raw: &str) -> Self {
        let raw = raw.trim();
        if raw.starts_with('+') && !Self::is_withheld_str(raw) {
            if let Ok(phone) = PhoneE164::parse(raw) {
                return Self::Phone(phone);
            }
        }
        Self::Other(raw.to_string())
    }

    pub fn phone(&self) -> Option<&PhoneE164> {
        match self {
            Self::Phone(p) => Some(p),
            Self::Other(_) => None,
        }
    }

    /// The caller hid their number: nothing can be looked up from it.
    pub fn is_withheld(&self) -> bool {
        match self {
            Self::Phone(_) => false,
            Self::Other(raw) => Self::is_withheld_str(raw),
        }
    }

    fn is_withheld_str(raw: &str) -> bool {
        raw.is_empty() || WITHHELD.iter().any(|w| raw.eq_ignore_ascii_case(w))
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Phone(p) => p.as_str(),
            Self::Other(raw) => raw,
        }
    }
}

/// The number a voice caller id names, or `None` when there is none to look up: withheld
/// (`anonymous`, `restricted`, a keypad spelling such as `+266696687`, empty, …), a SIP or
/// client identity, or anything else that is not E.164.
pub fn caller_number(raw_from: &str) -> Option<PhoneE164> {
    Party::parse(raw_from).phone().cloned()
}

impl fmt::Display for Party {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The raw `From` of a webhook form (first occurrence), read before the signature is checked
/// where it names our number (status callbacks) and kept as the caller's number in calls.
pub fn from_param(params: &[(String, String)]) -> Option<&str> {
    Params(params).get("From")
}

/// The raw `To` of a webhook form (first occurrence): our number, read before the signature
/// is checked to find the tenant whose auth token signs the request.
pub fn to_param(params: &[(String, String)]) -> Option<&str> {
    Params(params).get("To")
}

/// Read access to decoded form pairs; the first occurrence of a key wins.
struct Params<'a>(&'a [(String, String)]);

impl<'a> Params<'a> {
    fn get(&self, key: &str) -> Option<&'a str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Present and not blank.
    fn non_empty(&self, key: &str) -> Option<&'a str> {
        self.get(key).filter(|v| !v.trim().is_empty())
    }

    fn required(&self, key: &'static str) -> Result<&'a str, WebhookError> {
        self.non_empty(key).ok_or(WebhookError::Missing(key))
    }

    fn sid<T>(&self, key: &'static str, parse: fn(&str) -> Option<T>) -> Result<T, WebhookError> {
        parse(self.required(key)?.trim()).ok_or(WebhookError::Invalid {
            field: key,
            reason: "not a Twilio SID",
        })
    }

    fn optional_sid<T>(
        &self,
        key: &'static str,
        parse: fn(&str) -> Option<T>,
    ) -> Result<Option<T>, WebhookError> {
        match self.non_empty(key) {
            None => Ok(None),
            Some(_) => self.sid(key, parse).map(Some),
        }
    }

    fn party(&self, key: &'static str) -> Result<Party, WebhookError> {
        // An anonymous caller may arrive with an empty `From`; that is a party, not an error.
        self.get(key)
            .map(Party::parse)
            .ok_or(WebhookError::Missing(key))
    }

    fn optional_u32(&self, key: &'static str) -> Result<Option<u32>, WebhookError> {
        match self.non_empty(key) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| WebhookError::Invalid {
                    field: key,
                    reason: "not a whole number",
                }),
        }
    }

    fn optional_text(&self, key: &str) -> Option<String> {
        self.non_empty(key).map(str::to_string)
    }
}

/// One MMS attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaItem {
    pub url: String,
    /// As Twilio reports it, e.g. `image/jpeg`; empty when absent.
    pub content_type: String,
}

/// `POST /twilio/sms`: a customer's text.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundSms {
    pub message_sid: MessageSid,
    pub account_sid: AccountSid,
    pub from: Party,
    pub to: Party,
    /// Empty for a picture-only message.
    pub body: String,
    pub num_media: u32,
    pub media: Vec<MediaItem>,
    pub messaging_service_sid: Option<MessagingServiceSid>,
}

impl InboundSms {
    pub fn from_form(form: &[(String, String)]) -> Result<Self, WebhookError> {
        let p = Params(form);
        // Older integrations name the message `SmsMessageSid` or `SmsSid`.
        let message_sid = ["MessageSid", "SmsMessageSid", "SmsSid"]
            .into_iter()
            .find(|key| p.non_empty(key).is_some())
            .ok_or(WebhookError::Missing("MessageSid"))
            .and_then(|key| p.sid(key, MessageSid::parse))?;
        let num_media = p.optional_u32("NumMedia")?.unwrap_or(0);
        let media = (0..num_media.min(MAX_MEDIA as u32))
            .filter_map(|i| {
                let url = p.non_empty(&format!("MediaUrl{i}"))?;
                let content_type = p.get(&format!("MediaContentType{i}")).unwrap_or("");
                Some(MediaItem {
                    url: url.to_string(),
                    content_type: content_type.to_string(),
                })
            })
            .collect();
        Ok(Self {
            message_sid,
            account_sid: p.sid("AccountSid", AccountSid::parse)?,
            from: p.party("From")?,
            to: p.party("To")?,
            body: p.get("Body").unwrap_or("").to_string(),
            num_media,
            media,
            messaging_service_sid: p
                .optional_sid("MessagingServiceSid", MessagingServiceSid::parse)?,
        })
    }
}

twilio_words! {
    /// A call's progress as Twilio reports it.
    pub enum CallStatus {
        /// A status this code does not know yet; kept rather than failing the call.
        Other(String);
        Queued = "queued",
        Initiated = "initiated",
        Ringing = "ringing",
        InProgress = "in-progress",
        Completed = "completed",
        Busy = "busy",
        Failed = "failed",
        NoAnswer = "no-answer",
        Canceled = "canceled",
    }
}

impl CallStatus {
    /// The call is over.
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Busy | Self::Failed | Self::NoAnswer | Self::Canceled
        )
    }
}

twilio_words! {
    /// Which way a call goes.
    pub enum CallDirection {
        Other(String);
        Inbound = "inbound",
        /// Started through the REST API.
        OutboundApi = "outbound-api",
        /// A leg created by `<Dial>`.
        OutboundDial = "outbound-dial",
    }
}

/// `POST /twilio/voice`: a call arriving (and the common parameters of later voice requests).
#[derive(Debug, Clone, PartialEq)]
pub struct VoiceCall {
    pub call_sid: CallSid,
    pub account_sid: AccountSid,
    pub from: Party,
    pub to: Party,
    pub call_status: CallStatus,
    /// `None` when Twilio leaves it out.
    pub direction: Option<CallDirection>,
    /// Only with a caller-name lookup enabled on the number.
    pub caller_name: Option<String>,
}

impl VoiceCall {
    pub fn from_form(form: &[(String, String)]) -> Result<Self, WebhookError> {
        let p = Params(form);
        Ok(Self {
            call_sid: p.sid("CallSid", CallSid::parse)?,
            account_sid: p.sid("AccountSid", AccountSid::parse)?,
            from: p.party("From")?,
            to: p.party("To")?,
            call_status: CallStatus::parse(p.required("CallStatus")?),
            direction: p.non_empty("Direction").map(CallDirection::parse),
            caller_name: p.optional_text("CallerName"),
        })
    }
}

/// `POST /twilio/voice/turn`: what a speech `<Gather>` heard.
#[derive(Debug, Clone, PartialEq)]
pub struct GatherResult {
    pub call_sid: CallSid,
    /// `None` when nothing was understood (with `actionOnEmptyResult`).
    pub speech_result: Option<String>,
    /// 0..=1 when Twilio reports it; absent, unparseable or out-of-range values are `None`.
    pub confidence: Option<f32>,
    pub digits: Option<String>,
}

impl GatherResult {
    pub fn from_form(form: &[(String, String)]) -> Result<Self, WebhookError> {
        let p = Params(form);
        let confidence = p
            .non_empty("Confidence")
            .and_then(|v| f32::from_str(v.trim()).ok())
            .filter(|c| (0.0..=1.0).contains(c));
        Ok(Self {
            call_sid: p.sid("CallSid", CallSid::parse)?,
            speech_result: p.optional_text("SpeechResult"),
            confidence,
            digits: p.optional_text("Digits"),
        })
    }

    /// Whether the caller said or pressed anything.
    pub fn is_empty(&self) -> bool {
        self.speech_result.is_none() && self.digits.is_none()
    }
}

twilio_words! {
    /// A recording's state in a status callback.
    pub enum RecordingStatus {
        Other(String);
        InProgress = "in-progress",
        Completed = "completed",
        /// Nothing (or only silence) was recorded.
        Absent = "absent",
        Failed = "failed",
    }
}

/// `POST /twilio/voice/recording`: a voicemail recording. `RecordingUrl` serves WAV; add
/// `.mp3` for MP3. The `<Record action>` request carries the same fields without a status.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingCallback {
    pub call_sid: CallSid,
    pub recording_sid: RecordingSid,
    pub recording_url: String,
    /// Seconds; `None` when absent or not a whole number of seconds.
    pub recording_duration: Option<u32>,
    pub recording_status: Option<RecordingStatus>,
}

impl RecordingCallback {
    pub fn from_form(form: &[(String, String)]) -> Result<Self, WebhookError> {
        let p = Params(form);
        Ok(Self {
            call_sid: p.sid("CallSid", CallSid::parse)?,
            recording_sid: p.sid("RecordingSid", RecordingSid::parse)?,
            recording_url: p.required("RecordingUrl")?.trim().to_string(),
            recording_duration: p.optional_u32("RecordingDuration").ok().flatten(),
            recording_status: p.non_empty("RecordingStatus").map(RecordingStatus::parse),
        })
    }
}

twilio_words! {
    /// Delivery state of a message the front desk sent.
    pub enum MessageStatus {
        Other(String);
        Accepted = "accepted",
        Scheduled = "scheduled",
        Queued = "queued",
        Sending = "sending",
        Sent = "sent",
        Delivered = "delivered",
        Undelivered = "undelivered",
        Failed = "failed",
        Read = "read",
        Canceled = "canceled",
    }
}

impl MessageStatus {
    /// The message will not arrive.
    pub fn is_failure(&self) -> bool {
        matches!(self, Self::Undelivered | Self::Failed)
    }
}

/// A status callback for an outbound message.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageStatusCallback {
    pub message_sid: MessageSid,
    pub message_status: MessageStatus,
    /// For example 21610: the recipient opted out.
    pub error_code: Option<u32>,
}

impl MessageStatusCallback {
    pub fn from_form(form: &[(String, String)]) -> Result<Self, WebhookError> {
        let p = Params(form);
        Ok(Self {
            message_sid: p.sid("MessageSid", MessageSid::parse)?,
            message_status: MessageStatus::parse(p.required("MessageStatus")?),
            error_code: p.optional_u32("ErrorCode")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::twilio::form;

    const SMS_BODY: &str = "AccountSid=AC0123456789abcdef0123456789abcdef&ApiVersion=2010-04-01&Body=Ol%C3%A1%21+caf%C3%A9+%E2%98%95+STOP%3F&From=%2B14158675310&FromCity=&FromCountry=US&FromState=CA&FromZip=&MessageSid=SM0123456789abcdef0123456789abcdef&NumMedia=0&NumSegments=1&SmsMessageSid=SM0123456789abcdef0123456789abcdef&SmsSid=SM0123456789abcdef0123456789abcdef&SmsStatus=received&To=%2B18005551212&ToCity=&ToCountry=US&ToState=CA&ToZip=";

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn without(form: Vec<(String, String)>, key: &str) -> Vec<(String, String)> {
        form.into_iter().filter(|(k, _)| k != key).collect()
    }

    fn with(form: Vec<(String, String)>, key: &str, value: &str) -> Vec<(String, String)> {
        let mut out = without(form, key);
        out.push((key.to_string(), value.to_string()));
        out
    }

    fn phone(raw: &str) -> Party {
        Party::Phone(PhoneE164::parse(raw).expect("valid test number"))
    }

    #[test]
    fn inbound_sms_from_the_reference_body() {
        let form = form::decode(SMS_BODY.as_bytes()).expect("valid body");
        let sms = InboundSms::from_form(&form).expect("valid sms");
        assert_eq!(
            sms.message_sid.as_str(),
            "SM0123456789abcdef0123456789abcdef"
        );
        assert_eq!(
            sms.account_sid.as_str(),
            "AC0123456789abcdef0123456789abcdef"
        );
        assert_eq!(sms.from, phone("+14158675310"));
        assert_eq!(sms.to, phone("+18005551212"));
        assert_eq!(sms.body, "Olá! café ☕ STOP?");
        assert_eq!((sms.num_media, sms.media.len()), (0, 0));
        assert_eq!(sms.messaging_service_sid, None);
    }

    const MMS: &[(&str, &str)] = &[
        ("MessageSid", "MM123"),
        ("AccountSid", "AC123"),
        ("MessagingServiceSid", "MG123"),
        ("From", "+14155550123"),
        ("To", "+18005550199"),
        ("Body", ""),
        ("NumMedia", "3"),
        ("MediaUrl0", "https://api.twilio.com/m/0"),
        ("MediaContentType0", "image/jpeg"),
        ("MediaUrl1", "https://api.twilio.com/m/1"),
        ("MediaUrl2", "https://api.twilio.com/m/2"),
        ("MediaContentType2", "video/mp4"),
        ("MediaUrl3", "https://api.twilio.com/m/3-not-counted"),
    ];

    #[test]
    fn mms_media_is_bounded_by_num_media() {
        let sms = InboundSms::from_form(&pairs(MMS)).expect("valid mms");
        assert_eq!(sms.num_media, 3);
        assert_eq!(
            sms.media,
            vec![
                MediaItem {
                    url: "https://api.twilio.com/m/0".into(),
                    content_type: "image/jpeg".into()
                },
                MediaItem {
                    url: "https://api.twilio.com/m/1".into(),
                    content_type: String::new()
                },
                MediaItem {
                    url: "https://api.twilio.com/m/2".into(),
                    content_type: "video/mp4".into()
                },
            ]
        );
        assert_eq!(
            sms.messaging_service_sid.map(|s| s.to_string()),
            Some("MG123".into())
        );
        assert_eq!(sms.body, "");
    }

    #[test]
    fn mms_media_never_exceeds_ten() {
        let mut form = with(pairs(MMS), "NumMedia", "4000000000");
        for i in 0..20 {
            form.push((format!("MediaUrl{i}"), format!("https://m/{i}")));
        }
        let sms = InboundSms::from_form(&form).expect("valid mms");
        assert_eq!(sms.media.len(), MAX_MEDIA);
        assert_eq!(sms.media[9].url, "https://m/9");
    }

    #[test]
    fn inbound_sms_missing_and_malformed_fields() {
        let check = |form: Vec<(String, String)>, expected: WebhookError| {
            assert_eq!(InboundSms::from_form(&form), Err(expected));
        };
        check(
            without(pairs(MMS), "MessageSid"),
            WebhookError::Missing("MessageSid"),
        );
        check(
            with(pairs(MMS), "MessageSid", "  "),
            WebhookError::Missing("MessageSid"),
        );
        check(
            without(pairs(MMS), "AccountSid"),
            WebhookError::Missing("AccountSid"),
        );
        check(without(pairs(MMS), "From"), WebhookError::Missing("From"));
        check(without(pairs(MMS), "To"), WebhookError::Missing("To"));
        check(
            with(pairs(MMS), "MessageSid", "SM<script>"),
            WebhookError::Invalid {
                field: "MessageSid",
                reason: "not a Twilio SID",
            },
        );
        check(
            with(pairs(MMS), "NumMedia", "-1"),
            WebhookError::Invalid {
                field: "NumMedia",
                reason: "not a whole number",
            },
        );
        check(
            with(pairs(MMS), "MessagingServiceSid", "MG 1"),
            WebhookError::Invalid {
                field: "MessagingServiceSid",
                reason: "not a Twilio SID",
            },
        );
        let err =
            InboundSms::from_form(&without(pairs(MMS), "MessageSid")).expect_err("missing sid");
        assert_eq!(
            err.to_string(),
            "required parameter `MessageSid` is missing or empty"
        );
        assert_eq!(err.code(), "missing_parameter");

        // The legacy names stand in for MessageSid.
        let legacy = with(
            pairs(&[
                ("AccountSid", "AC1"),
                ("From", "+14155550123"),
                ("To", "+18005550199"),
            ]),
            "SmsSid",
            "SM9",
        );
        assert_eq!(
            InboundSms::from_form(&legacy).map(|s| s.message_sid.to_string()),
            Ok("SM9".into())
        );
        // A missing Body is an empty body, NumMedia defaults to none.
        let bare = without(without(pairs(MMS), "Body"), "NumMedia");
        let sms = InboundSms::from_form(&bare).expect("valid sms");
        assert_eq!(
            (sms.body.as_str(), sms.num_media, sms.media.len()),
            ("", 0, 0)
        );
    }

    #[test]
    fn parties() {
        let table: &[(&str, Option<&str>, bool)] = &[
            ("+14155550123", Some("+14155550123"), false),
            (" +442079460958 ", Some("+442079460958"), false),
            ("client:alice", None, false),
            ("sip:bob@example.sip.twilio.com", None, false),
            ("Anonymous", None, true),
            ("RESTRICTED", None, true),
            ("+266696687", None, true),
            ("+2562533", None, true),
            ("", None, true),
            ("12345", None, false),
            ("4155550123", None, false),
            ("+1", None, false),
            ("+1415555012345678901234", None, false),
            ("+1 (415) 555-0123", Some("+14155550123"), false),
            ("+\u{0}", None, false),
        ];
        for (raw, phone, withheld) in table {
            let party = Party::parse(raw);
            assert_eq!(party.phone().map(PhoneE164::as_str), *phone, "raw {raw:?}");
            assert_eq!(party.is_withheld(), *withheld, "raw {raw:?}");
        }
    }

    const CALL: &[(&str, &str)] = &[
        ("CallSid", "CA0123456789abcdef0123456789abcdef"),
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
        ("From", "+14155550123"),
        ("To", "+18005550199"),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
        ("CallerName", "SMITH JOHN"),
        ("ForwardedFrom", "+18005550100"),
        ("ApiVersion", "2010-04-01"),
    ];

    #[test]
    fn voice_call() {
        let call = VoiceCall::from_form(&pairs(CALL)).expect("valid call");
        assert_eq!(call.call_sid.as_str(), "CA0123456789abcdef0123456789abcdef");
        assert_eq!(call.from, phone("+14155550123"));
        assert_eq!(call.call_status, CallStatus::Ringing);
        assert_eq!(call.direction, Some(CallDirection::Inbound));
        assert_eq!(call.caller_name.as_deref(), Some("SMITH JOHN"));

        let anonymous = with(with(pairs(CALL), "From", "Anonymous"), "CallerName", "");
        let call = VoiceCall::from_form(&anonymous).expect("anonymous caller");
        assert!(call.from.is_withheld());
        assert_eq!(call.caller_name, None);

        let client = with(pairs(CALL), "From", "client:alice");
        assert_eq!(
            VoiceCall::from_form(&client).map(|c| c.from),
            Ok(Party::Other("client:alice".into()))
        );

        let odd_status = with(pairs(CALL), "CallStatus", "teleporting");
        assert_eq!(
            VoiceCall::from_form(&odd_status).map(|c| c.call_status),
            Ok(CallStatus::Other("teleporting".into()))
        );
        assert_eq!(
            VoiceCall::from_form(&without(pairs(CALL), "CallStatus")),
            Err(WebhookError::Missing("CallStatus"))
        );
        assert_eq!(
            VoiceCall::from_form(&without(pairs(CALL), "CallSid")),
            Err(WebhookError::Missing("CallSid"))
        );
        assert_eq!(
            VoiceCall::from_form(&without(pairs(CALL), "Direction")).map(|c| c.direction),
            Ok(None)
        );
    }

    #[test]
    fn call_statuses() {
        for (raw, status, last) in [
            ("queued", CallStatus::Queued, false),
            ("initiated", CallStatus::Initiated, false),
            ("ringing", CallStatus::Ringing, false),
            ("in-progress", CallStatus::InProgress, false),
            ("completed", CallStatus::Completed, true),
            ("busy", CallStatus::Busy, true),
            ("failed", CallStatus::Failed, true),
            ("no-answer", CallStatus::NoAnswer, true),
            ("canceled", CallStatus::Canceled, true),
        ] {
            assert_eq!(CallStatus::parse(raw), status);
            assert_eq!(status.is_final(), last, "{raw}");
        }
        assert_eq!(
            CallDirection::parse("outbound-dial"),
            CallDirection::OutboundDial
        );
        assert_eq!(
            CallDirection::parse("outbound-api"),
            CallDirection::OutboundApi
        );
    }

    #[test]
    fn gather_results() {
        let base = [("CallSid", "CA1"), ("AccountSid", "AC1")];
        let check = |extra: &[(&str, &str)],
                     speech: Option<&str>,
                     confidence: Option<f32>,
                     digits: Option<&str>| {
            let mut form = pairs(&base);
            form.extend(pairs(extra));
            let got = GatherResult::from_form(&form).expect("valid gather");
            assert_eq!(
                (
                    got.speech_result.as_deref(),
                    got.confidence,
                    got.digits.as_deref()
                ),
                (speech, confidence, digits),
                "extra {extra:?}"
            );
        };
        check(
            &[
                ("SpeechResult", "I need to move my appointment."),
                ("Confidence", "0.92"),
            ],
            Some("I need to move my appointment."),
            Some(0.92),
            None,
        );
        check(&[("SpeechResult", "yes")], Some("yes"), None, None);
        check(
            &[("SpeechResult", ""), ("Confidence", "0.0")],
            None,
            Some(0.0),
            None,
        );
        check(&[("Digits", "1")], None, None, Some("1"));
        for odd in ["NaN", "inf", "-0.5", "1.5", "high", ""] {
            check(
                &[("SpeechResult", "hi"), ("Confidence", odd)],
                Some("hi"),
                None,
                None,
            );
        }
        assert!(GatherResult::from_form(&pairs(&base))
            .expect("valid gather")
            .is_empty());
        assert_eq!(
            GatherResult::from_form(&pairs(&[("SpeechResult", "hi")])),
            Err(WebhookError::Missing("CallSid"))
        );
    }

    #[test]
    fn recording_callbacks() {
        let form = pairs(&[
            ("AccountSid", "AC1"),
            ("CallSid", "CA1"),
            ("RecordingSid", "RE1"),
            (
                "RecordingUrl",
                "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",
            ),
            ("RecordingDuration", "14"),
            ("RecordingStatus", "completed"),
            ("RecordingChannels", "1"),
        ]);
        let rec = RecordingCallback::from_form(&form).expect("valid recording");
        assert_eq!(rec.recording_sid.as_str(), "RE1");
        assert_eq!(rec.recording_duration, Some(14));
        assert_eq!(rec.recording_status, Some(RecordingStatus::Completed));

        let absent = with(
            with(form.clone(), "RecordingStatus", "absent"),
            "RecordingDuration",
            "-1",
        );
        let rec = RecordingCallback::from_form(&absent).expect("absent recording");
        assert_eq!(
            (rec.recording_status, rec.recording_duration),
            (Some(RecordingStatus::Absent), None)
        );

        let action = without(form.clone(), "RecordingStatus");
        assert_eq!(
            RecordingCallback::from_form(&action).map(|r| r.recording_status),
            Ok(None)
        );
        let no_url = without(form, "RecordingUrl");
        assert_eq!(
            RecordingCallback::from_form(&no_url),
            Err(WebhookError::Missing("RecordingUrl"))
        );
    }

    #[test]
    fn message_status_callbacks() {
        let form = pairs(&[
            ("MessageSid", "SM1"),
            ("MessageStatus", "undelivered"),
            ("ErrorCode", "21610"),
        ]);
        let cb = MessageStatusCallback::from_form(&form).expect("valid callback");
        assert_eq!(cb.message_status, MessageStatus::Undelivered);
        assert!(cb.message_status.is_failure());
        assert_eq!(cb.error_code, Some(21610));

        let delivered = pairs(&[
            ("MessageSid", "SM1"),
            ("MessageStatus", "delivered"),
            ("ErrorCode", ""),
        ]);
        let cb = MessageStatusCallback::from_form(&delivered).expect("valid callback");
        assert_eq!(
            (cb.message_status, cb.error_code),
            (MessageStatus::Delivered, None)
        );

        let bad = pairs(&[
            ("MessageSid", "SM1"),
            ("MessageStatus", "sent"),
            ("ErrorCode", "x"),
        ]);
        assert_eq!(
            MessageStatusCallback::from_form(&bad),
            Err(WebhookError::Invalid {
                field: "ErrorCode",
                reason: "not a whole number"
            })
        );
        assert_eq!(
            MessageStatusCallback::from_form(&pairs(&[("MessageSid", "SM1")])),
            Err(WebhookError::Missing("MessageStatus"))
        );
    }

    #[test]
    fn odd_forms_never_panic() {
        let long = "a".repeat(10_000);
        let odd_values = [
            "",
            " ",
            "\u{0}",
            "é",
            "🐜",
            "%",
            "+",
            "-1",
            "99999999999999999999",
            &long,
        ];
        let keys = [
            "MessageSid",
            "AccountSid",
            "From",
            "To",
            "Body",
            "NumMedia",
            "MediaUrl0",
            "CallSid",
            "CallStatus",
            "Confidence",
            "RecordingSid",
            "RecordingUrl",
            "RecordingDuration",
            "MessageStatus",
            "ErrorCode",
        ];
        for value in odd_values {
            let form: Vec<(String, String)> = keys
                .iter()
                .map(|k| (k.to_string(), value.to_string()))
                .collect();
            let _ = InboundSms::from_form(&form);
            let _ = VoiceCall::from_form(&form);
            let _ = GatherResult::from_form(&form);
            let _ = RecordingCallback::from_form(&form);
            let _ = MessageStatusCallback::from_form(&form);
        }
        assert_eq!(
            InboundSms::from_form(&[]),
            Err(WebhookError::Missing("MessageSid"))
        );
    }
}
