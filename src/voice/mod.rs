//! Speech to text for voicemail and live calls. `Transcriber` is the seam: local whisper
//! (cargo feature `whisper`) when a model is configured, otherwise none, in which case
//! recordings go to the human queue with their link.

pub mod call;
pub mod cli;
pub mod model;
#[cfg(feature = "whisper")]
pub mod whisper;

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Audio in, words out. Implementations run blocking work off the async runtime.
pub trait Transcriber: Send + Sync {
    fn name(&self) -> String;
    /// 16 kHz mono f32 samples in [-1, 1]; `prompt` biases recognition (company, names,
    /// streets, pests).
    fn transcribe(&self, pcm_16k: &[f32], prompt: &str) -> anyhow::Result<String>;
}

pub type SharedTranscriber = Option<Arc<dyn Transcriber>>;

/// Which model file to load: the configured path (`FRONTDESK_WHISPER_MODEL`; empty or `off`
/// disables transcription), else `models/ggml-tiny.en.bin` when it exists.
pub fn model_path(configured: Option<&str>) -> Option<PathBuf> {
    match configured.map(str::trim) {
        Some("" | "off" | "none") => None,
        Some(p) => Some(PathBuf::from(p)),
        None => Some(PathBuf::from(model::DEFAULT_MODEL_PATH)).filter(|p| p.is_file()),
    }
}

/// The transcriber for a server: whisper when the feature is built in and the model loads.
/// Anything else is a warning, never a failed start: voicemail then goes to the human queue
/// with its recording link.
pub fn load_transcriber(configured: Option<&str>, threads: u32) -> SharedTranscriber {
    let path = model_path(configured)?;
    match load(&path, threads) {
        Ok(t) => {
            tracing::info!(model = %path.display(), engine = %t.name(), "speech to text ready");
            Some(t)
        }
        Err(e) => {
            tracing::warn!(error = %e, "speech to text is off; voicemail goes to the human queue");
            None
        }
    }
}

#[cfg(feature = "whisper")]
fn load(path: &Path, threads: u32) -> anyhow::Result<Arc<dyn Transcriber>> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    // One loaded model per file per process (tests start many apps).
    static LOADED: OnceLock<Mutex<HashMap<PathBuf, Arc<whisper::WhisperTranscriber>>>> =
        OnceLock::new();
    let key = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let cache = LOADED.get_or_init(|| Mutex::new(HashMap::new()));
    let mut cache = cache
        .lock()
        .map_err(|_| anyhow::anyhow!("model cache poisoned"))?;
    if let Some(t) = cache.get(&key) {
        return Ok(t.clone());
    }
    let threads = i32::try_from(threads).unwrap_or(2);
    let t = Arc::new(whisper::WhisperTranscriber::load(path, threads)?);
    cache.insert(key, t.clone());
    Ok(t)
}

#[cfg(not(feature = "whisper"))]
fn load(path: &Path, _threads: u32) -> anyhow::Result<Arc<dyn Transcriber>> {
    anyhow::bail!(
        "{} is configured but this build has no `whisper` feature",
        path.display()
    )
}

/// Decode a PCM WAV (8 or 16 kHz, 16-bit, mono or stereo) or µ-law WAV into 16 kHz mono f32.
pub fn wav_to_16k_mono(bytes: &[u8]) -> anyhow::Result<Vec<f32>> {
    use crate::channels::twilio::media::{mulaw_decode, upsample_8k_to_16k};
    let (fmt, data) = riff_chunks(bytes)?;
    if fmt.len() < 16 {
        anyhow::bail!("WAV fmt chunk too short");
    }
    let format = u16::from_le_bytes([fmt[0], fmt[1]]);
    let channels = usize::from(u16::from_le_bytes([fmt[2], fmt[3]]).max(1));
    let rate = u32::from_le_bytes([fmt[4], fmt[5], fmt[6], fmt[7]]);
    let bits = u16::from_le_bytes([fmt[14], fmt[15]]);
    let mono: Vec<f32> = match (format, bits) {
        (1, 16) => data
            .chunks_exact(2 * channels)
            .map(|frame| {
                let sum: f32 = frame
                    .chunks_exact(2)
                    .map(|s| f32::from(i16::from_le_bytes([s[0], s[1]])) / 32768.0)
                    .sum();
                sum / channels as f32
            })
            .collect(),
        (7, 8) => data
            .chunks_exact(channels)
            .map(|frame| {
                frame
                    .iter()
                    .map(|b| f32::from(mulaw_decode(*b)) / 32768.0)
                    .sum::<f32>()
                    / channels as f32
            })
            .collect(),
        _ => anyhow::bail!("unsupported WAV encoding (format {format}, {bits} bits)"),
    };
    match rate {
        16_000 => Ok(mono),
        8_000 => Ok(upsample_8k_to_16k(&mono)),
        other => anyhow::bail!("unsupported sample rate {other} Hz (8000 or 16000 expected)"),
    }
}

fn riff_chunks(bytes: &[u8]) -> anyhow::Result<(&[u8], &[u8])> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        anyhow::bail!("not a WAV file");
    }
    let mut pos = 12;
    let (mut fmt, mut data) = (None, None);
    // Bounded by the buffer: each step advances at least 8 bytes.
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let len = u32::from_le_bytes([
            bytes[pos + 4],
            bytes[pos + 5],
            bytes[pos + 6],
            bytes[pos + 7],
        ]) as usize;
        let start = pos + 8;
        let end = start.saturating_add(len).min(bytes.len());
        match id {
            b"fmt " => fmt = Some(&bytes[start..end]),
            b"data" => data = Some(&bytes[start..end]),
            _ => {}
        }
        pos = end + (len & 1);
    }
    Ok((
        fmt.ok_or_else(|| anyhow::anyhow!("WAV without fmt chunk"))?,
        data.ok_or_else(|| anyhow::anyhow!("WAV without data chunk"))?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(rate: u32, format: u16, bits: u16, data: &[u8]) -> Vec<u8> {
        let mut v = b"RIFF".to_vec();
        v.extend(&(36 + data.len() as u32).to_le_bytes());
        v.extend(b"WAVEfmt ");
        v.extend(&16u32.to_le_bytes());
        v.extend(&format.to_le_bytes());
        v.extend(&1u16.to_le_bytes());
        v.extend(&rate.to_le_bytes());
        v.extend(&(rate * u32::from(bits) / 8).to_le_bytes());
        v.extend(&(bits / 8).to_le_bytes());
        v.extend(&bits.to_le_bytes());
        v.extend(b"data");
        v.extend(&(data.len() as u32).to_le_bytes());
        v.extend(data);
        v
    }

    #[test]
    fn decodes_pcm_and_mulaw_and_upsamples_8k() {
        let pcm: Vec<u8> = [0i16, 16384, -16384, 32767]
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect();
        let out = wav_to_16k_mono(&wav(16_000, 1, 16, &pcm)).expect("pcm");
        assert_eq!(out.len(), 4);
        assert!((out[1] - 0.5).abs() < 1e-3 && (out[2] + 0.5).abs() < 1e-3);
        let out = wav_to_16k_mono(&wav(8_000, 1, 16, &pcm)).expect("8k");
        assert_eq!(out.len(), 8, "8 kHz doubles");
        let out = wav_to_16k_mono(&wav(8_000, 7, 8, &[0xff, 0x7f])).expect("mulaw");
        assert_eq!(out.len(), 4);
        assert!(wav_to_16k_mono(b"RIFF....WAVE").is_err());
        assert!(wav_to_16k_mono(&wav(44_100, 1, 16, &pcm)).is_err());
        assert!(wav_to_16k_mono(b"hello").is_err());
    }
}
