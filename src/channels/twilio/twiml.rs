//! TwiML, the XML Twilio executes in reply to a webhook: a small builder for the verbs the
//! front desk uses, rendered to exact, compact XML. Text and attribute values are escaped
//! (`& < > " '`) and characters XML 1.0 forbids are dropped, so no customer or model text can
//! break the document. Twilio refuses TwiML over 64 kB (error 11750); [`Response::to_xml`]
//! shortens the longest spoken or texted text, on a character boundary, to stay under it.

use std::fmt::Write as _;

use crate::domain::PhoneE164;

/// The declaration every document starts with.
pub const XML_DECLARATION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// The `Content-Type` of a TwiML reply.
pub const CONTENT_TYPE: &str = "text/xml; charset=utf-8";

/// The largest document [`Response::to_xml`] produces when text can be shortened: under
/// Twilio's 64 kB limit whether a kB is read as 1000 or 1024 bytes.
pub const MAX_TWIML_BYTES: usize = 64_000;

/// A value Twilio would refuse at call time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TwimlError {
    #[error("a <Stream> url must be an absolute wss:// URL without a query string")]
    StreamUrl,
}

/// A `<Response>` document.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Response {
    verbs: Vec<Verb>,
}

#[derive(Debug, Clone, PartialEq)]
enum Verb {
    Message(String),
    Say(Say),
    Gather(Gather),
    Redirect(String),
    Record(Record),
    Dial(Dial),
    Hangup,
    Pause(u32),
    Connect(Stream),
}

impl Response {
    /// An empty response; rendered alone it is `<Response/>` (no reply, nothing to do).
    pub fn new() -> Self {
        Self::default()
    }

    /// `<Message>`: an SMS reply.
    pub fn message(self, text: impl Into<String>) -> Self {
        self.push(Verb::Message(text.into()))
    }

    pub fn say(self, say: Say) -> Self {
        self.push(Verb::Say(say))
    }

    pub fn gather(self, gather: Gather) -> Self {
        self.push(Verb::Gather(gather))
    }

    /// `<Redirect>`: fetch and run the TwiML at `url` (POST, Twilio's default).
    pub fn redirect(self, url: impl Into<String>) -> Self {
        self.push(Verb::Redirect(url.into()))
    }

    pub fn record(self, record: Record) -> Self {
        self.push(Verb::Record(record))
    }

    pub fn dial(self, dial: Dial) -> Self {
        self.push(Verb::Dial(dial))
    }

    pub fn hangup(self) -> Self {
        self.push(Verb::Hangup)
    }

    /// `<Pause length=..>`, in seconds.
    pub fn pause(self, seconds: u32) -> Self {
        self.push(Verb::Pause(seconds))
    }

    /// `<Connect><Stream>`: hand the call's audio to a Media Streams WebSocket.
    pub fn connect_stream(self, stream: Stream) -> Self {
        self.push(Verb::Connect(stream))
    }

    pub fn is_empty(&self) -> bool {
        self.verbs.is_empty()
    }

    fn push(mut self, verb: Verb) -> Self {
        self.verbs.push(verb);
        self
    }

    /// The document, declaration first. When it would exceed [`MAX_TWIML_BYTES`], the longest
    /// `<Message>` or `<Say>` text is cut (repeatedly if needed); attribute values and URLs
    /// are never cut, so only a document made mostly of those can stay over the limit.
    pub fn to_xml(&self) -> String {
        let mut xml = self.render();
        if xml.len() <= MAX_TWIML_BYTES {
            return xml;
        }
        let mut shortened = self.clone();
        loop {
            let excess = xml.len() - MAX_TWIML_BYTES;
            // Longest as rendered: a text of characters XML forbids renders to nothing and
            // cannot be shortened, so it must never be the one picked.
            let Some(text) = shortened
                .texts_mut()
                .into_iter()
                .max_by_key(|t| escaped_len(t))
            else {
                return xml;
            };
            let rendered = escaped_len(text);
            if rendered == 0 {
                return xml;
            }
            // Every pass removes at least one rendered character, so the loop ends.
            let target = rendered.saturating_sub(excess);
            cut_to_escaped_len(text, target);
            xml = shortened.render();
            if xml.len() <= MAX_TWIML_BYTES {
                return xml;
            }
        }
    }

    fn texts_mut(&mut self) -> Vec<&mut String> {
        let mut texts = Vec::new();
        for verb in &mut self.verbs {
            match verb {
                Verb::Message(text) => texts.push(text),
                Verb::Say(say) => texts.push(&mut say.text),
                Verb::Gather(gather) => {
                    texts.extend(gather.prompts.iter_mut().map(|s| &mut s.text))
                }
                _ => {}
            }
        }
        texts
    }

    fn render(&self) -> String {
        let mut out = String::with_capacity(128);
        out.push_str(XML_DECLARATION);
        if self.verbs.is_empty() {
            out.push_str("<Response/>");
            return out;
        }
        out.push_str("<Response>");
        for verb in &self.verbs {
            match verb {
                Verb::Message(text) => element(&mut out, "Message", &[], Some(text)),
                Verb::Say(say) => say.render(&mut out),
                Verb::Gather(gather) => gather.render(&mut out),
                Verb::Redirect(url) => element(&mut out, "Redirect", &[], Some(url)),
                Verb::Record(record) => record.render(&mut out),
                Verb::Dial(dial) => dial.render(&mut out),
                Verb::Hangup => element(&mut out, "Hangup", &[], None),
                Verb::Pause(seconds) => {
                    let length = seconds.to_string();
                    element(&mut out, "Pause", &[("length", Some(&length))], None);
                }
                Verb::Connect(stream) => {
                    out.push_str("<Connect>");
                    stream.render(&mut out);
                    out.push_str("</Connect>");
                }
            }
        }
        out.push_str("</Response>");
        out
    }
}

/// `<Say>`: text spoken to the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct Say {
    text: String,
    voice: Option<String>,
    language: Option<String>,
}

impl Say {
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            voice: None,
            language: None,
        }
    }

    /// For example `Polly.Joanna`.
    pub fn voice(mut self, voice: impl Into<String>) -> Self {
        self.voice = Some(voice.into());
        self
    }

    /// For example `en-US`.
    pub fn language(mut self, language: impl Into<String>) -> Self {
        self.language = Some(language.into());
        self
    }

    fn render(&self, out: &mut String) {
        let attrs = [
            ("voice", self.voice.as_deref()),
            ("language", self.language.as_deref()),
        ];
        element(out, "Say", &attrs, Some(&self.text));
    }
}

/// `<Gather input="speech">` with `speechTimeout="auto"`. Twilio requires an explicit speech
/// model with an automatic timeout, so the constructor takes one. Without input Twilio falls
/// through to the next verb (put a `<Redirect>` after it) unless `actionOnEmptyResult` is set.
#[derive(Debug, Clone, PartialEq)]
pub struct Gather {
    action: String,
    speech_model: String,
    hints: Option<String>,
    language: Option<String>,
    action_on_empty_result: Option<bool>,
    prompts: Vec<Say>,
}

impl Gather {
    pub fn speech(action: impl Into<String>, speech_model: impl Into<String>) -> Self {
        Self {
            action: action.into(),
            speech_model: speech_model.into(),
            hints: None,
            language: None,
            action_on_empty_result: None,
            prompts: Vec::new(),
        }
    }

    /// Comma-separated words or phrases likely to be said.
    pub fn hints(mut self, hints: impl Into<String>) -> Self {
        self.hints = Some(hints.into());
        self
    }

    pub fn language(mut self, language: impl Into<String>) -> Self {
        self.language = Some(language.into());
        self
    }

    pub fn action_on_empty_result(mut self, on: bool) -> Self {
        self.action_on_empty_result = Some(on);
        self
    }

    /// A `<Say>` played while listening.
    pub fn say(mut self, say: Say) -> Self {
        self.prompts.push(say);
        self
    }

    fn render(&self, out: &mut String) {
        let attrs = [
            ("input", Some("speech")),
            ("action", Some(self.action.as_str())),
            ("method", Some("POST")),
            ("speechTimeout", Some("auto")),
            ("speechModel", Some(self.speech_model.as_str())),
            ("hints", self.hints.as_deref()),
            ("language", self.language.as_deref()),
            (
                "actionOnEmptyResult",
                self.action_on_empty_result.map(bool_str),
            ),
        ];
        open_tag(out, "Gather", &attrs);
        if self.prompts.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        for say in &self.prompts {
            say.render(out);
        }
        out.push_str("</Gather>");
    }
}

/// `<Record>`: a voicemail. Transcription is always off (it runs locally instead).
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    action: String,
    max_length: Option<u32>,
    play_beep: Option<bool>,
    status_callback: Option<String>,
    status_callback_event: Option<String>,
}

impl Record {
    pub fn new(action: impl Into<String>) -> Self {
        Self {
            action: action.into(),
            max_length: None,
            play_beep: None,
            status_callback: None,
            status_callback_event: None,
        }
    }

    /// In seconds.
    pub fn max_length(mut self, seconds: u32) -> Self {
        self.max_length = Some(seconds);
        self
    }

    pub fn play_beep(mut self, on: bool) -> Self {
        self.play_beep = Some(on);
        self
    }

    pub fn recording_status_callback(mut self, url: impl Into<String>) -> Self {
        self.status_callback = Some(url.into());
        self
    }

    /// Space-separated events: `in-progress`, `completed`, `absent`.
    pub fn recording_status_callback_event(mut self, events: impl Into<String>) -> Self {
        self.status_callback_event = Some(events.into());
        self
    }

    fn render(&self, out: &mut String) {
        let max_length = self.max_length.map(|n| n.to_string());
        let attrs = [
            ("action", Some(self.action.as_str())),
            ("maxLength", max_length.as_deref()),
            ("playBeep", self.play_beep.map(bool_str)),
            ("recordingStatusCallback", self.status_callback.as_deref()),
            (
                "recordingStatusCallbackEvent",
                self.status_callback_event.as_deref(),
            ),
            ("transcribe", Some("false")),
        ];
        element(out, "Record", &attrs, None);
    }
}

/// `<Dial>` to one phone number, e.g. the on-call technician.
#[derive(Debug, Clone, PartialEq)]
pub struct Dial {
    number: PhoneE164,
    timeout: Option<u32>,
    caller_id: Option<PhoneE164>,
}

impl Dial {
    pub fn number(number: PhoneE164) -> Self {
        Self {
            number,
            timeout: None,
            caller_id: None,
        }
    }

    /// Seconds to let it ring.
    pub fn timeout(mut self, seconds: u32) -> Self {
        self.timeout = Some(seconds);
        self
    }

    pub fn caller_id(mut self, caller_id: PhoneE164) -> Self {
        self.caller_id = Some(caller_id);
        self
    }

    fn render(&self, out: &mut String) {
        let timeout = self.timeout.map(|n| n.to_string());
        let attrs = [
            ("timeout", timeout.as_deref()),
            ("callerId", self.caller_id.as_ref().map(PhoneE164::as_str)),
        ];
        element(out, "Dial", &attrs, Some(self.number.as_str()));
    }
}

/// `<Stream>` inside `<Connect>`; custom parameters arrive in the stream's `start` message.
#[derive(Debug, Clone, PartialEq)]
pub struct Stream {
    url: String,
    parameters: Vec<(String, String)>,
}

impl Stream {
    /// Twilio connects over `wss://` only and drops query strings: pass data as parameters.
    pub fn new(url: impl Into<String>) -> Result<Self, TwimlError> {
        let url = url.into();
        let host = url
            .get(..6)
            .filter(|scheme| scheme.eq_ignore_ascii_case("wss://"))
            .and_then(|_| url.get(6..))
            .ok_or(TwimlError::StreamUrl)?;
        if host.is_empty() || host.starts_with('/') || url.contains(['?', '#']) {
            return Err(TwimlError::StreamUrl);
        }
        Ok(Self {
            url,
            parameters: Vec::new(),
        })
    }

    pub fn parameter(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.parameters.push((name.into(), value.into()));
        self
    }

    /// The call's numbers as `From` and `To` parameters, read back by
    /// `media::StartInfo::caller` / `called` when the stream starts.
    pub fn call_numbers(self, from: impl Into<String>, to: impl Into<String>) -> Self {
        self.parameter("From", from).parameter("To", to)
    }

    fn render(&self, out: &mut String) {
        open_tag(out, "Stream", &[("url", Some(&self.url))]);
        if self.parameters.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        for (name, value) in &self.parameters {
            element(
                out,
                "Parameter",
                &[("name", Some(name)), ("value", Some(value))],
                None,
            );
        }
        out.push_str("</Stream>");
    }
}

fn bool_str(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

/// `<name attrs>text</name>`, or `<name attrs/>` without text.
fn element(out: &mut String, name: &str, attrs: &[(&str, Option<&str>)], text: Option<&str>) {
    open_tag(out, name, attrs);
    match text {
        Some(text) => {
            out.push('>');
            escape_into(out, text);
            let _ = write!(out, "</{name}>");
        }
        None => out.push_str("/>"),
    }
}

/// `<name a="..." b="..."` (unclosed); attributes without a value are left out.
fn open_tag(out: &mut String, name: &str, attrs: &[(&str, Option<&str>)]) {
    out.push('<');
    out.push_str(name);
    for (key, value) in attrs {
        if let Some(value) = value {
            let _ = write!(out, " {key}=\"");
            escape_into(out, value);
            out.push('"');
        }
    }
}

/// Escape the five XML specials and drop characters not allowed in an XML 1.0 document.
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match escaped(c) {
            Escaped::Entity(entity) => out.push_str(entity),
            Escaped::Same => out.push(c),
            Escaped::Dropped => {}
        }
    }
}

enum Escaped {
    Entity(&'static str),
    Same,
    Dropped,
}

fn escaped(c: char) -> Escaped {
    match c {
        '&' => Escaped::Entity("&amp;"),
        '<' => Escaped::Entity("&lt;"),
        '>' => Escaped::Entity("&gt;"),
        '"' => Escaped::Entity("&quot;"),
        '\'' => Escaped::Entity("&apos;"),
        '\t' | '\n' | '\r' => Escaped::Same,
        c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => Escaped::Dropped,
        _ => Escaped::Same,
    }
}

fn escaped_char_len(c: char) -> usize {
    match escaped(c) {
        Escaped::Entity(entity) => entity.len(),
        Escaped::Same => c.len_utf8(),
        Escaped::Dropped => 0,
    }
}

fn escaped_len(text: &str) -> usize {
    text.chars().map(escaped_char_len).sum()
}

/// Keep the longest prefix of `text` whose escaped form fits in `max` bytes; the cut falls
/// between characters, never inside one.
fn cut_to_escaped_len(text: &mut String, max: usize) {
    let mut used = 0;
    let mut end = text.len();
    for (i, c) in text.char_indices() {
        used += escaped_char_len(c);
        if used > max {
            end = i;
            break;
        }
    }
    text.truncate(end);
}

#[cfg(test)]
mod tests {
    use super::*;

    const DECL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

    fn phone(raw: &str) -> PhoneE164 {
        PhoneE164::parse(raw).expect("valid test number")
    }

    fn check(response: Response, body: &str) {
        assert_eq!(response.to_xml(), format!("{DECL}{body}"));
    }

    #[test]
    fn empty_response() {
        check(Response::new(), "<Response/>");
        assert!(Response::new().is_empty());
    }

    #[test]
    fn message_is_escaped() {
        check(
            Response::new().message("Tom & Jerry <x>"),
            "<Response><Message>Tom &amp; Jerry &lt;x&gt;</Message></Response>",
        );
        check(
            Response::new().message(r#"He said "it's fine""#),
            "<Response><Message>He said &quot;it&apos;s fine&quot;</Message></Response>",
        );
        check(
            Response::new().message("café ☕ 🐜\nline two"),
            "<Response><Message>café ☕ 🐜\nline two</Message></Response>",
        );
        check(
            Response::new().message(""),
            "<Response><Message></Message></Response>",
        );
    }

    #[test]
    fn characters_xml_forbids_are_dropped() {
        check(
            Response::new().message("a\u{0}b\u{1b}[0mc\u{FFFF}\td"),
            "<Response><Message>ab[0mc\td</Message></Response>",
        );
    }

    #[test]
    fn say_with_attributes() {
        check(
            Response::new().say(Say::new("Hi & bye").voice("Polly.Joanna").language("en-US")),
            r#"<Response><Say voice="Polly.Joanna" language="en-US">Hi &amp; bye</Say></Response>"#,
        );
        check(
            Response::new().say(Say::new("Hello")),
            "<Response><Say>Hello</Say></Response>",
        );
    }

    #[test]
    fn gather_speech_then_redirect() {
        let gather = Gather::speech("/twilio/voice/turn?step=1&n=2", "phone_call")
            .hints("termites, ants, \"bed bugs\"")
            .language("en-US")
            .action_on_empty_result(true)
            .say(Say::new("How can I help?").voice("Polly.Joanna"));
        check(
            Response::new().gather(gather).redirect("/twilio/voice"),
            concat!(
                "<Response>",
                r#"<Gather input="speech" action="/twilio/voice/turn?step=1&amp;n=2" method="POST" speechTimeout="auto" speechModel="phone_call" hints="termites, ants, &quot;bed bugs&quot;" language="en-US" actionOnEmptyResult="true">"#,
                r#"<Say voice="Polly.Joanna">How can I help?</Say>"#,
                "</Gather>",
                "<Redirect>/twilio/voice</Redirect>",
                "</Response>"
            ),
        );
        check(
            Response::new()
                .gather(Gather::speech("/t", "googlev2_telephony").action_on_empty_result(false)),
            r#"<Response><Gather input="speech" action="/t" method="POST" speechTimeout="auto" speechModel="googlev2_telephony" actionOnEmptyResult="false"/></Response>"#,
        );
    }

    #[test]
    fn record_voicemail() {
        let record = Record::new("/twilio/voice/recorded")
            .max_length(120)
            .play_beep(true)
            .recording_status_callback("/twilio/voice/recording")
            .recording_status_callback_event("completed absent");
        check(
            Response::new()
                .say(Say::new("Leave a message."))
                .record(record)
                .hangup(),
            concat!(
                "<Response><Say>Leave a message.</Say>",
                r#"<Record action="/twilio/voice/recorded" maxLength="120" playBeep="true" recordingStatusCallback="/twilio/voice/recording" recordingStatusCallbackEvent="completed absent" transcribe="false"/>"#,
                "<Hangup/></Response>"
            ),
        );
        check(
            Response::new().record(Record::new("/r")),
            r#"<Response><Record action="/r" transcribe="false"/></Response>"#,
        );
    }

    #[test]
    fn dial_pause_hangup() {
        check(
            Response::new()
                .pause(2)
                .dial(
                    Dial::number(phone("+14155550123"))
                        .timeout(20)
                        .caller_id(phone("+18005550199")),
                )
                .hangup(),
            r#"<Response><Pause length="2"/><Dial timeout="20" callerId="+18005550199">+14155550123</Dial><Hangup/></Response>"#,
        );
        check(
            Response::new().dial(Dial::number(phone("+14155550123"))),
            "<Response><Dial>+14155550123</Dial></Response>",
        );
    }

    #[test]
    fn connect_stream_with_parameters() {
        let stream = Stream::new("wss://api.example.com/twilio/voice/stream")
            .expect("valid stream url")
            .parameter("tenant", "7")
            .parameter("caller", "Tom & \"Jerry\" <x>");
        check(
            Response::new().connect_stream(stream),
            concat!(
                "<Response><Connect>",
                r#"<Stream url="wss://api.example.com/twilio/voice/stream">"#,
                r#"<Parameter name="tenant" value="7"/>"#,
                r#"<Parameter name="caller" value="Tom &amp; &quot;Jerry&quot; &lt;x&gt;"/>"#,
                "</Stream></Connect></Response>"
            ),
        );
        check(
            Response::new().connect_stream(Stream::new("wss://h/s").expect("valid stream url")),
            r#"<Response><Connect><Stream url="wss://h/s"/></Connect></Response>"#,
        );
    }

    #[test]
    fn stream_urls_twilio_would_refuse() {
        for bad in [
            "",
            "wss://",
            "wss:///p",
            "https://h/s",
            "ws://h/s",
            "wss://h/s?x=1",
            "wss://h/s#f",
            "wß",
            "w",
        ] {
            assert_eq!(Stream::new(bad), Err(TwimlError::StreamUrl), "url {bad:?}");
        }
        assert!(Stream::new("WSS://h/s").is_ok());
    }

    #[test]
    fn oversized_text_is_cut_on_a_char_boundary() {
        // Multi-byte characters and escapes straddle every possible cut point.
        let long: String = "é&🐜x".repeat(20_000);
        let xml = Response::new().message(long.clone()).to_xml();
        assert!(xml.len() <= MAX_TWIML_BYTES, "{} bytes", xml.len());
        assert!(
            xml.len() > MAX_TWIML_BYTES - 16,
            "cut too much: {} bytes",
            xml.len()
        );
        assert!(xml.starts_with(&format!("{DECL}<Response><Message>é&amp;🐜xé")));
        assert!(xml.ends_with("</Message></Response>"));

        // Several texts: the longest is cut, the short one kept whole.
        let xml = Response::new()
            .say(Say::new("Short & sweet."))
            .gather(Gather::speech("/t", "phone_call").say(Say::new("<".repeat(30_000))))
            .message("b".repeat(40_000))
            .to_xml();
        assert!(xml.len() <= MAX_TWIML_BYTES, "{} bytes", xml.len());
        assert!(xml.contains("<Say>Short &amp; sweet.</Say>"));

        // Under the limit nothing changes.
        let fits = "a".repeat(MAX_TWIML_BYTES - 200);
        assert!(Response::new()
            .message(fits.clone())
            .to_xml()
            .contains(&fits));
    }

    #[test]
    fn oversized_urls_are_left_alone_without_panicking() {
        let xml = Response::new()
            .redirect("/".repeat(70_000))
            .message("hi")
            .to_xml();
        assert!(xml.len() > MAX_TWIML_BYTES);
        assert!(xml.contains("<Message></Message>"));
    }

    /// Found by fuzzing (`fuzz/corpus/twiml/crash-hang-text-of-dropped-characters`): markup
    /// alone over the limit, and the longest text in bytes made of characters XML forbids.
    /// That text rendered to nothing, so cutting it changed nothing and `to_xml` looped
    /// forever.
    #[test]
    fn oversized_markup_with_a_text_that_renders_to_nothing_ends() {
        let mut response = Response::new()
            .message("\u{0}\u{1b}".repeat(100))
            .say(Say::new("hi"));
        for _ in 0..2_000 {
            response = response.record(Record::new("/r"));
        }
        let xml = response.to_xml();
        assert!(xml.len() > MAX_TWIML_BYTES, "{} bytes", xml.len());
        assert!(xml.contains("<Message></Message><Say></Say><Record"));
    }

    #[test]
    fn cut_counts_escaped_bytes() {
        let check = |text: &str, max: usize, expected: &str| {
            let mut s = text.to_string();
            cut_to_escaped_len(&mut s, max);
            assert_eq!(s, expected, "{text:?} to {max}");
        };
        check("abc", 5, "abc");
        check("abc", 2, "ab");
        check("é", 1, "");
        check("aé", 2, "a");
        check("🐜🐜", 7, "🐜");
        check("a&b", 5, "a");
        check("a&b", 6, "a&");
        check("a\u{0}b", 2, "a\u{0}b");
        check("", 0, "");
    }
}
