//! Media Streams: the JSON text frames of Twilio's call-audio WebSocket in both directions,
//! the G.711 µ-law codec its audio uses (8 kHz mono), an 8 kHz → 16 kHz resampler for speech
//! recognition, and an energy-based end-of-turn detector that decides when the caller has
//! finished speaking.
//!
//! Twilio writes most numbers in these frames as strings (`"sequenceNumber":"2"`); the types
//! accept strings and numbers alike. Event types this code does not know parse as
//! [`StreamEvent::Unknown`] rather than failing the stream.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize};

use super::webhook::{AccountSid, CallSid, StreamSid};

// ---- Twilio → server ----------------------------------------------------------------------

/// One text frame from Twilio.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum StreamEvent {
    /// The first frame: `{"event":"connected","protocol":"Call","version":"1.0.0"}`.
    Connected {
        #[serde(default)]
        protocol: String,
        #[serde(default)]
        version: String,
    },
    Start(Start),
    Media(Media),
    /// A key the caller pressed.
    Dtmf(Dtmf),
    /// Audio sent before a `mark` has finished playing.
    Mark(Mark),
    /// The stream ended (the call hung up or the stream was stopped).
    Stop(Stop),
    #[serde(other)]
    Unknown,
}

impl StreamEvent {
    /// Parse one WebSocket text frame.
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Start {
    #[serde(default, deserialize_with = "opt_number")]
    pub sequence_number: Option<u64>,
    pub stream_sid: StreamSid,
    pub start: StartInfo,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartInfo {
    pub stream_sid: StreamSid,
    pub account_sid: AccountSid,
    pub call_sid: CallSid,
    #[serde(default)]
    pub tracks: Vec<Track>,
    /// The `<Parameter>`s of the `<Stream>` verb.
    #[serde(default)]
    pub custom_parameters: BTreeMap<String, String>,
    pub media_format: MediaFormat,
}

impl StartInfo {
    /// The caller's number, as the `From` `<Parameter>` the stream was opened with
    /// (see `twiml::Stream::call_numbers`); empty when absent.
    pub fn caller(&self) -> String {
        self.custom_parameters
            .get("From")
            .cloned()
            .unwrap_or_default()
    }

    /// The number called (ours), as the `To` `<Parameter>`; empty when absent.
    pub fn called(&self) -> String {
        self.custom_parameters
            .get("To")
            .cloned()
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaFormat {
    /// `audio/x-mulaw`.
    pub encoding: String,
    #[serde(deserialize_with = "number")]
    pub sample_rate: u64,
    #[serde(deserialize_with = "number")]
    pub channels: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Track {
    /// The caller.
    #[serde(alias = "inbound_track")]
    Inbound,
    /// What Twilio plays to the caller.
    #[serde(alias = "outbound_track")]
    Outbound,
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Media {
    #[serde(default, deserialize_with = "opt_number")]
    pub sequence_number: Option<u64>,
    pub stream_sid: StreamSid,
    pub media: MediaChunk,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MediaChunk {
    pub track: Track,
    #[serde(deserialize_with = "number")]
    pub chunk: u64,
    /// Milliseconds since the stream started.
    #[serde(deserialize_with = "number")]
    pub timestamp: u64,
    /// Base64 µ-law, 8 kHz mono, no header.
    pub payload: String,
}

impl MediaChunk {
    /// The raw µ-law bytes.
    pub fn mulaw(&self) -> Result<Vec<u8>, base64::DecodeError> {
        STANDARD.decode(self.payload.as_bytes())
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dtmf {
    #[serde(default, deserialize_with = "opt_number")]
    pub sequence_number: Option<u64>,
    pub stream_sid: StreamSid,
    pub dtmf: DtmfDigit,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DtmfDigit {
    #[serde(default)]
    pub track: Option<Track>,
    pub digit: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mark {
    #[serde(default, deserialize_with = "opt_number")]
    pub sequence_number: Option<u64>,
    pub stream_sid: StreamSid,
    pub mark: MarkName,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkName {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stop {
    #[serde(default, deserialize_with = "opt_number")]
    pub sequence_number: Option<u64>,
    pub stream_sid: StreamSid,
    #[serde(default)]
    pub stop: Option<StopInfo>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StopInfo {
    pub account_sid: AccountSid,
    pub call_sid: CallSid,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrString {
    Number(u64),
    String(String),
}

fn number<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match NumberOrString::deserialize(d)? {
        NumberOrString::Number(n) => Ok(n),
        NumberOrString::String(s) => s.trim().parse().map_err(serde::de::Error::custom),
    }
}

fn opt_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    number(d).map(Some)
}

// ---- server → Twilio ----------------------------------------------------------------------

/// One text frame to Twilio.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Outbound {
    /// Audio to play: raw µ-law 8 kHz mono, base64.
    Media {
        #[serde(rename = "streamSid")]
        stream_sid: StreamSid,
        media: OutboundMedia,
    },
    /// Echoed back as a [`Mark`] once the audio sent before it has played.
    Mark {
        #[serde(rename = "streamSid")]
        stream_sid: StreamSid,
        mark: MarkName,
    },
    /// Drop audio not yet played (the caller started talking over it).
    Clear {
        #[serde(rename = "streamSid")]
        stream_sid: StreamSid,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboundMedia {
    pub payload: String,
}

impl Outbound {
    pub fn media(stream_sid: StreamSid, mulaw: &[u8]) -> Self {
        Self::Media {
            stream_sid,
            media: OutboundMedia {
                payload: STANDARD.encode(mulaw),
            },
        }
    }

    pub fn mark(stream_sid: StreamSid, name: impl Into<String>) -> Self {
        Self::Mark {
            stream_sid,
            mark: MarkName { name: name.into() },
        }
    }

    pub fn clear(stream_sid: StreamSid) -> Self {
        Self::Clear { stream_sid }
    }

    /// The WebSocket text frame.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

// ---- G.711 µ-law ---------------------------------------------------------------------------

const MULAW_BIAS: i32 = 0x84;
const MULAW_CLIP: i32 = 32_635;

/// One µ-law byte to a 16-bit linear sample (range ±32124).
pub fn mulaw_decode(byte: u8) -> i16 {
    let u = !byte;
    let exponent = (u >> 4) & 0x07;
    let mantissa = i32::from(u & 0x0F);
    let magnitude = (((mantissa << 3) + MULAW_BIAS) << exponent) - MULAW_BIAS;
    let sample = if u & 0x80 != 0 { -magnitude } else { magnitude };
    // |sample| <= 32124, always within i16.
    i16::try_from(sample).unwrap_or(0)
}

/// One 16-bit linear sample to µ-law (ITU-T G.711, with the usual clipping at 32635).
pub fn mulaw_encode(sample: i16) -> u8 {
    let sample = i32::from(sample);
    let sign: u8 = if sample < 0 { 0x80 } else { 0 };
    let magnitude = sample.abs().min(MULAW_CLIP) + MULAW_BIAS;
    // The highest set bit of `magnitude` is between bit 7 and bit 14.
    let exponent = (31 - magnitude.leading_zeros()).saturating_sub(7).min(7);
    let mantissa = (magnitude >> (exponent + 3)) & 0x0F;
    let exponent = u8::try_from(exponent).unwrap_or(7);
    let mantissa = u8::try_from(mantissa).unwrap_or(0x0F);
    !(sign | (exponent << 4) | mantissa)
}

pub fn mulaw_to_pcm16(bytes: &[u8]) -> Vec<i16> {
    bytes.iter().map(|b| mulaw_decode(*b)).collect()
}

/// µ-law to f32 in [-1, 1).
pub fn mulaw_to_f32(bytes: &[u8]) -> Vec<f32> {
    bytes
        .iter()
        .map(|b| f32::from(mulaw_decode(*b)) / 32_768.0)
        .collect()
}

/// f32 samples (clamped to [-1, 1]; NaN is silence) to µ-law.
pub fn f32_to_mulaw(samples: &[f32]) -> Vec<u8> {
    samples
        .iter()
        .map(|s| mulaw_encode(f32_to_i16(*s)))
        .collect()
}

fn f32_to_i16(sample: f32) -> i16 {
    if sample.is_nan() {
        return 0;
    }
    // In range after clamping; `as` saturates in any case.
    (sample.clamp(-1.0, 1.0) * 32_767.0).round() as i16
}

// ---- 8 kHz → 16 kHz ------------------------------------------------------------------------

/// Doubles the sample rate by linear interpolation: each input sample yields the midpoint
/// between it and the previous sample, then itself. Telephone audio holds nothing above
/// 4 kHz and linear interpolation attenuates the images above it, which is enough for speech
/// recognition; it is not a studio-grade resampler. State carries across chunks, so a stream
/// can be fed 20 ms at a time with no seams and no added delay.
#[derive(Debug, Clone, Default)]
pub struct Upsampler {
    previous: Option<f32>,
}

impl Upsampler {
    pub fn new() -> Self {
        Self::default()
    }

    /// Append `2 * input.len()` samples at 16 kHz, each in [-1, 1] (NaN becomes 0).
    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) {
        out.reserve(input.len() * 2);
        for &x in input {
            let x = if x.is_nan() { 0.0 } else { x.clamp(-1.0, 1.0) };
            let previous = self.previous.unwrap_or(x);
            out.push((previous + x) / 2.0);
            out.push(x);
            self.previous = Some(x);
        }
    }
}

/// One-shot [`Upsampler`].
pub fn upsample_8k_to_16k(input: &[f32]) -> Vec<f32> {
    let mut out = Vec::with_capacity(input.len() * 2);
    Upsampler::new().push(input, &mut out);
    out
}

/// Decode a Media Streams payload straight to 16 kHz f32 mono for speech recognition.
pub fn mulaw_8k_to_f32_16k(upsampler: &mut Upsampler, mulaw: &[u8], out: &mut Vec<f32>) {
    upsampler.push(&mulaw_to_f32(mulaw), out);
}

// ---- end of turn ---------------------------------------------------------------------------

/// The detector's unit of time.
pub const FRAME: Duration = Duration::from_millis(20);

/// Settings of [`EndOfTurn`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TurnConfig {
    /// RMS level in dBFS at or above which a frame is speech (a full-scale sine is -3 dBFS;
    /// telephone speech sits around -30 to -15, line noise below -50).
    pub speech_threshold_dbfs: f32,
    /// Silence that ends a turn.
    pub silence_hang: Duration,
    /// Less speech than this before the silence is noise (a cough, a click), not a turn.
    pub min_speech: Duration,
    /// A turn is cut here even if the caller keeps talking.
    pub max_utterance: Duration,
}

impl Default for TurnConfig {
    fn default() -> Self {
        Self {
            speech_threshold_dbfs: -40.0,
            silence_hang: Duration::from_millis(800),
            min_speech: Duration::from_millis(200),
            max_utterance: Duration::from_secs(15),
        }
    }
}

/// What one frame meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnEvent {
    /// No turn in progress and none starting.
    Silence,
    /// This frame started a possible turn; keep its audio.
    SpeechStarted,
    /// A turn is in progress.
    Speaking,
    /// The turn is over.
    Ended(Utterance),
    /// What started was too short to be speech; drop its audio.
    Discarded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utterance {
    /// Frames at or above the threshold.
    pub speech: Duration,
    /// From the first speech frame to this one, the closing silence included.
    pub length: Duration,
    pub reason: EndReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    Silence,
    MaxLength,
}

/// Energy-based voice activity over 20 ms frames, deciding when a caller's turn ends.
#[derive(Debug, Clone)]
pub struct EndOfTurn {
    threshold_dbfs: f32,
    hang_frames: u32,
    min_speech_frames: u32,
    max_frames: u32,
    frame_len: usize,
    pending: Vec<f32>,
    turn: Option<Turn>,
}

#[derive(Debug, Clone, Copy)]
struct Turn {
    frames: u32,
    speech_frames: u32,
    silent_run: u32,
}

impl EndOfTurn {
    /// `sample_rate` of the audio that will be pushed (8000 for µ-law as received, 16000
    /// after upsampling).
    pub fn new(config: TurnConfig, sample_rate: u32) -> Self {
        let frames = |d: Duration| {
            let n = d.as_millis().div_ceil(FRAME.as_millis()).max(1);
            u32::try_from(n).unwrap_or(u32::MAX)
        };
        let frame_len = (u64::from(sample_rate) * 20 / 1000).max(1);
        Self {
            threshold_dbfs: config.speech_threshold_dbfs,
            hang_frames: frames(config.silence_hang),
            min_speech_frames: frames(config.min_speech),
            max_frames: frames(config.max_utterance),
            frame_len: usize::try_from(frame_len).unwrap_or(160),
            pending: Vec::new(),
            turn: None,
        }
    }

    /// Whether a turn is in progress.
    pub fn in_turn(&self) -> bool {
        self.turn.is_some()
    }

    /// Forget any turn in progress and buffered samples (e.g. after barge-in handling).
    pub fn reset(&mut self) {
        self.turn = None;
        self.pending.clear();
    }

    /// Feed samples of any length; they are cut into 20 ms frames internally. Returns the
    /// transitions only: `SpeechStarted`, `Ended` and `Discarded`.
    pub fn push(&mut self, samples: &[f32]) -> Vec<TurnEvent> {
        let mut events = Vec::new();
        self.pending.extend_from_slice(samples);
        let mut start = 0;
        while self.pending.len() - start >= self.frame_len {
            let end = start + self.frame_len;
            let energy = frame_dbfs(&self.pending[start..end]);
            let event = self.step(energy);
            if !matches!(event, TurnEvent::Silence | TurnEvent::Speaking) {
                events.push(event);
            }
            start = end;
        }
        self.pending.drain(..start);
        events
    }

    /// Feed exactly one 20 ms frame.
    pub fn push_frame(&mut self, frame: &[f32]) -> TurnEvent {
        self.step(frame_dbfs(frame))
    }

    fn step(&mut self, dbfs: f32) -> TurnEvent {
        let voiced = dbfs >= self.threshold_dbfs;
        let Some(mut turn) = self.turn else {
            if voiced {
                self.turn = Some(Turn {
                    frames: 1,
                    speech_frames: 1,
                    silent_run: 0,
                });
                return TurnEvent::SpeechStarted;
            }
            return TurnEvent::Silence;
        };
        turn.frames += 1;
        if voiced {
            turn.speech_frames += 1;
            turn.silent_run = 0;
        } else {
            turn.silent_run += 1;
        }
        let ended = |reason| {
            TurnEvent::Ended(Utterance {
                speech: FRAME * turn.speech_frames,
                length: FRAME * turn.frames,
                reason,
            })
        };
        let event = if turn.silent_run >= self.hang_frames {
            if turn.speech_frames >= self.min_speech_frames {
                ended(EndReason::Silence)
            } else {
                TurnEvent::Discarded
            }
        } else if turn.frames >= self.max_frames {
            ended(EndReason::MaxLength)
        } else {
            TurnEvent::Speaking
        };
        self.turn = match event {
            TurnEvent::Speaking => Some(turn),
            _ => None,
        };
        event
    }
}

/// RMS level of a frame in dBFS; silence, an empty frame or NaN give negative infinity.
fn frame_dbfs(frame: &[f32]) -> f32 {
    if frame.is_empty() {
        return f32::NEG_INFINITY;
    }
    let sum: f32 = frame
        .iter()
        .map(|s| if s.is_finite() { s * s } else { 0.0 })
        .sum();
    let rms = (sum / frame.len() as f32).sqrt();
    if rms > 0.0 {
        20.0 * rms.log10()
    } else {
        f32::NEG_INFINITY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: &str = r#"{"event":"start","sequenceNumber":"1","start":{"accountSid":"AC0123","streamSid":"MZ0123","callSid":"CA0123","tracks":["inbound"],"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1},"customParameters":{"tenant":"7","caller":"+14155550123"}},"streamSid":"MZ0123"}"#;

    fn sid(raw: &str) -> StreamSid {
        StreamSid::parse(raw).expect("valid sid")
    }

    #[test]
    fn parses_connected_and_start() {
        assert_eq!(
            StreamEvent::parse(r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#).ok(),
            Some(StreamEvent::Connected {
                protocol: "Call".into(),
                version: "1.0.0".into()
            })
        );
        let Ok(StreamEvent::Start(start)) = StreamEvent::parse(START) else {
            panic!("start frame did not parse");
        };
        assert_eq!(start.sequence_number, Some(1));
        assert_eq!(start.stream_sid.as_str(), "MZ0123");
        assert_eq!(start.start.call_sid.as_str(), "CA0123");
        assert_eq!(start.start.account_sid.as_str(), "AC0123");
        assert_eq!(start.start.tracks, vec![Track::Inbound]);
        assert_eq!(
            start
                .start
                .custom_parameters
                .get("tenant")
                .map(String::as_str),
            Some("7")
        );
        assert_eq!(
            start.start.media_format,
            MediaFormat {
                encoding: "audio/x-mulaw".into(),
                sample_rate: 8000,
                channels: 1
            }
        );
        // Numbers written as strings are read the same.
        let stringly = START.replace(
            r#""sampleRate":8000,"channels":1"#,
            r#""sampleRate":"8000","channels":"1""#,
        );
        assert!(
            matches!(StreamEvent::parse(&stringly), Ok(StreamEvent::Start(s)) if s.start.media_format.sample_rate == 8000)
        );
    }

    #[test]
    fn parses_media_dtmf_mark_stop() {
        let media = r#"{"event":"media","sequenceNumber":"3","media":{"track":"inbound","chunk":"1","timestamp":"5","payload":"/////w=="},"streamSid":"MZ0123"}"#;
        let Ok(StreamEvent::Media(m)) = StreamEvent::parse(media) else {
            panic!("media frame did not parse");
        };
        assert_eq!(
            (m.sequence_number, m.media.chunk, m.media.timestamp),
            (Some(3), 1, 5)
        );
        assert_eq!(m.media.track, Track::Inbound);
        assert_eq!(m.media.mulaw().ok(), Some(vec![0xFF; 4]));
        assert_eq!(mulaw_to_pcm16(&[0xFF; 4]), vec![0; 4]);

        let dtmf = r#"{"event":"dtmf","streamSid":"MZ0123","sequenceNumber":"5","dtmf":{"track":"inbound_track","digit":"1"}}"#;
        assert!(
            matches!(StreamEvent::parse(dtmf), Ok(StreamEvent::Dtmf(d)) if d.dtmf.digit == "1" && d.dtmf.track == Some(Track::Inbound))
        );

        let mark = r#"{"event":"mark","sequenceNumber":"4","streamSid":"MZ0123","mark":{"name":"reply-1"}}"#;
        assert!(
            matches!(StreamEvent::parse(mark), Ok(StreamEvent::Mark(m)) if m.mark.name == "reply-1")
        );

        let stop = r#"{"event":"stop","sequenceNumber":"9","streamSid":"MZ0123","stop":{"accountSid":"AC0123","callSid":"CA0123"}}"#;
        assert!(
            matches!(StreamEvent::parse(stop), Ok(StreamEvent::Stop(s)) if s.stop.as_ref().is_some_and(|i| i.call_sid.as_str() == "CA0123"))
        );
    }

    #[test]
    fn odd_frames_are_errors_or_unknown_never_panics() {
        assert_eq!(
            StreamEvent::parse(r#"{"event":"teleport","x":1}"#).ok(),
            Some(StreamEvent::Unknown)
        );
        for bad in [
            "",
            "null",
            "[]",
            "{}",
            r#"{"event":1}"#,
            r#"{"event":"media"}"#,
            r#"{"event":"media","streamSid":"MZ1","media":{"track":"inbound","chunk":"x","timestamp":"5","payload":""}}"#,
            r#"{"event":"media","streamSid":"MZ1","media":{"track":"inbound","chunk":"-1","timestamp":"5","payload":""}}"#,
            r#"{"event":"start","streamSid":"MZ 1","start":{}}"#,
            r#"{"event":"stop","streamSid":"<script>"}"#,
            "\u{0}",
        ] {
            assert!(StreamEvent::parse(bad).is_err(), "{bad:?}");
        }
        let garbage = r#"{"event":"media","streamSid":"MZ1","media":{"track":"inbound","chunk":"1","timestamp":"5","payload":"%%%"}}"#;
        let Ok(StreamEvent::Media(m)) = StreamEvent::parse(garbage) else {
            panic!("media frame did not parse");
        };
        assert!(m.media.mulaw().is_err());
    }

    #[test]
    fn outbound_frames_are_exact() {
        assert_eq!(
            Outbound::media(sid("MZ0123"), &[0xFF, 0x7F, 0x00])
                .to_json()
                .ok()
                .as_deref(),
            Some(r#"{"event":"media","streamSid":"MZ0123","media":{"payload":"/38A"}}"#)
        );
        assert_eq!(
            Outbound::mark(sid("MZ0123"), "reply \"1\"")
                .to_json()
                .ok()
                .as_deref(),
            Some(r#"{"event":"mark","streamSid":"MZ0123","mark":{"name":"reply \"1\""}}"#)
        );
        assert_eq!(
            Outbound::clear(sid("MZ0123")).to_json().ok().as_deref(),
            Some(r#"{"event":"clear","streamSid":"MZ0123"}"#)
        );
    }

    #[test]
    fn mulaw_reference_values() {
        assert_eq!(mulaw_decode(0xFF), 0);
        assert_eq!(mulaw_decode(0x7F), 0);
        assert_eq!(mulaw_decode(0x80), 32_124);
        assert_eq!(mulaw_decode(0x00), -32_124);
        assert_eq!(mulaw_decode(0xFE), 8);
        assert_eq!(mulaw_decode(0x7E), -8);
        assert_eq!(mulaw_decode(0xEF), 132);
        assert_eq!(mulaw_encode(0), 0xFF);
        assert_eq!(mulaw_encode(i16::MAX), 0x80);
        assert_eq!(mulaw_encode(i16::MIN), 0x00);
        assert_eq!(mulaw_encode(-1), 0x7F);
    }

    #[test]
    fn mulaw_round_trips_every_code() {
        for byte in 0..=255u8 {
            let sample = mulaw_decode(byte);
            let expected = if byte == 0x7F { 0xFF } else { byte }; // two codes for zero
            assert_eq!(
                mulaw_encode(sample),
                expected,
                "byte {byte:#04x} sample {sample}"
            );
        }
    }

    #[test]
    fn mulaw_encoding_error_is_bounded_and_monotonic() {
        let mut previous = i16::MIN;
        for s in (i16::MIN..=i16::MAX).step_by(7) {
            let decoded = mulaw_decode(mulaw_encode(s));
            let error = (i32::from(decoded) - i32::from(s)).abs();
            // Quantisation step is at most 1024 in the top segment; clipping adds up to ~640.
            assert!(
                error <= 1024 || i32::from(s).abs() > MULAW_CLIP,
                "sample {s} decoded {decoded}"
            );
            assert!(decoded >= previous, "not monotonic at {s}");
            previous = decoded;
        }
    }

    #[test]
    fn f32_conversions() {
        let samples = mulaw_to_f32(&(0..=255u8).collect::<Vec<_>>());
        assert!(samples.iter().all(|s| (-1.0..1.0).contains(s)));
        assert_eq!(
            f32_to_mulaw(&[0.0, f32::NAN, 5.0, -5.0, f32::INFINITY]),
            vec![0xFF, 0xFF, 0x80, 0x00, 0x80]
        );
    }

    #[test]
    fn upsampling_interpolates_and_streams_without_seams() {
        assert_eq!(upsample_8k_to_16k(&[]), Vec::<f32>::new());
        assert_eq!(upsample_8k_to_16k(&[0.5]), vec![0.5, 0.5]);
        assert_eq!(
            upsample_8k_to_16k(&[0.0, 1.0, 0.0]),
            vec![0.0, 0.0, 0.5, 1.0, 0.5, 0.0]
        );
        assert_eq!(
            upsample_8k_to_16k(&[2.0, f32::NAN, -3.0]),
            vec![1.0, 1.0, 0.5, 0.0, -0.5, -1.0]
        );

        let input: Vec<f32> = (0..480).map(|i| (i as f32 * 0.1).sin() * 0.8).collect();
        let whole = upsample_8k_to_16k(&input);
        let mut streamed = Vec::new();
        let mut up = Upsampler::new();
        for chunk in input.chunks(160) {
            up.push(chunk, &mut streamed);
        }
        assert_eq!(whole, streamed);
        assert_eq!(whole.len(), 960);
        assert!(whole.iter().all(|s| (-1.0..=1.0).contains(s)));
    }

    // ---- end of turn ----

    const RATE: u32 = 8000;

    fn tone(ms: u32, amplitude: f32) -> Vec<f32> {
        let n = RATE * ms / 1000;
        (0..n)
            .map(|i| {
                amplitude * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / RATE as f32).sin()
            })
            .collect()
    }

    /// Deterministic low-level noise (about -66 dBFS).
    fn hiss(ms: u32) -> Vec<f32> {
        let mut state: u32 = 12345;
        (0..RATE * ms / 1000)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                ((state >> 16) as f32 / 32_768.0 - 1.0) * 0.001
            })
            .collect()
    }

    fn run(config: TurnConfig, parts: &[Vec<f32>]) -> Vec<TurnEvent> {
        let mut detector = EndOfTurn::new(config, RATE);
        let mut events = Vec::new();
        for part in parts {
            // Feed in Twilio-sized 20 ms chunks, with an odd split to exercise the framing.
            for chunk in part.chunks(97) {
                events.extend(detector.push(chunk));
            }
        }
        events
    }

    fn ended(speech_ms: u64, length_ms: u64, reason: EndReason) -> TurnEvent {
        TurnEvent::Ended(Utterance {
            speech: Duration::from_millis(speech_ms),
            length: Duration::from_millis(length_ms),
            reason,
        })
    }

    #[test]
    fn a_sentence_then_silence_ends_the_turn() {
        let events = run(
            TurnConfig::default(),
            &[hiss(200), tone(1000, 0.3), hiss(2000)],
        );
        assert_eq!(
            events,
            vec![
                TurnEvent::SpeechStarted,
                ended(1000, 1800, EndReason::Silence)
            ]
        );
    }

    #[test]
    fn a_short_pause_inside_speech_does_not_end_the_turn() {
        let events = run(
            TurnConfig::default(),
            &[
                tone(600, 0.3),
                vec![0.0; 8 * 500],
                tone(400, 0.3),
                vec![0.0; 8 * 1000],
            ],
        );
        assert_eq!(
            events,
            vec![
                TurnEvent::SpeechStarted,
                ended(1000, 2300, EndReason::Silence)
            ]
        );
    }

    #[test]
    fn a_click_is_discarded() {
        let events = run(
            TurnConfig::default(),
            &[tone(60, 0.5), hiss(1000), tone(300, 0.3), hiss(1000)],
        );
        assert_eq!(
            events,
            vec![
                TurnEvent::SpeechStarted,
                TurnEvent::Discarded,
                TurnEvent::SpeechStarted,
                ended(300, 1100, EndReason::Silence)
            ]
        );
    }

    #[test]
    fn a_monologue_is_cut_at_the_maximum() {
        let config = TurnConfig {
            max_utterance: Duration::from_secs(2),
            ..TurnConfig::default()
        };
        let events = run(config, &[tone(3000, 0.3), hiss(1000)]);
        assert_eq!(
            events,
            vec![
                TurnEvent::SpeechStarted,
                ended(2000, 2000, EndReason::MaxLength),
                TurnEvent::SpeechStarted,
                ended(1000, 1800, EndReason::Silence)
            ]
        );
    }

    #[test]
    fn quiet_noise_and_odd_samples_are_silence() {
        assert_eq!(
            run(TurnConfig::default(), &[hiss(3000), vec![0.0; 8000]]),
            vec![]
        );
        assert_eq!(run(TurnConfig::default(), &[tone(1000, 0.005)]), vec![]); // about -49 dBFS
        assert_eq!(
            run(
                TurnConfig::default(),
                &[vec![f32::NAN; 8000], vec![f32::INFINITY; 800]]
            ),
            vec![]
        );
        let mut detector = EndOfTurn::new(TurnConfig::default(), RATE);
        assert_eq!(detector.push_frame(&[]), TurnEvent::Silence);
        assert!(detector.push(&[]).is_empty());
        assert_eq!(
            detector.push_frame(&tone(20, 0.3)),
            TurnEvent::SpeechStarted
        );
        assert!(detector.in_turn());
        detector.reset();
        assert!(!detector.in_turn());
    }

    #[test]
    fn odd_configs_do_not_panic() {
        for config in [
            TurnConfig {
                silence_hang: Duration::ZERO,
                min_speech: Duration::ZERO,
                max_utterance: Duration::ZERO,
                ..TurnConfig::default()
            },
            TurnConfig {
                silence_hang: Duration::MAX,
                min_speech: Duration::MAX,
                max_utterance: Duration::MAX,
                ..TurnConfig::default()
            },
            TurnConfig {
                speech_threshold_dbfs: f32::NAN,
                ..TurnConfig::default()
            },
        ] {
            for rate in [0, 1, 8000, u32::MAX] {
                let mut detector = EndOfTurn::new(config, rate);
                let _ = detector.push(&tone(100, 0.3));
            }
        }
    }

    #[test]
    fn the_full_telephone_path() {
        // A caller's tone and silence travel as µ-law at 8 kHz, are decoded and upsampled to
        // 16 kHz, and the detector (at 16 kHz) finds the turn.
        let mut audio = tone(700, 0.3);
        audio.extend(vec![0.0; 8 * 1200]);
        let mulaw = f32_to_mulaw(&audio);
        let mut up = Upsampler::new();
        let mut detector = EndOfTurn::new(TurnConfig::default(), 16_000);
        let mut events = Vec::new();
        for chunk in mulaw.chunks(160) {
            let mut pcm = Vec::new();
            mulaw_8k_to_f32_16k(&mut up, chunk, &mut pcm);
            assert_eq!(pcm.len(), chunk.len() * 2);
            events.extend(detector.push(&pcm));
        }
        assert_eq!(
            events,
            vec![
                TurnEvent::SpeechStarted,
                ended(700, 1500, EndReason::Silence)
            ]
        );
    }
}
