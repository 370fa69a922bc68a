//! Local transcription with whisper.cpp (through whisper-rs): greedy decoding, English, two
//! threads, biased by an initial prompt. Blocking: callers run it in `spawn_blocking`.

use std::path::Path;
use std::sync::Mutex;

use whisper_rs::{
    FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState,
};

use super::Transcriber;

pub struct WhisperTranscriber {
    ctx: WhisperContext,
    name: String,
    threads: i32,
    /// Decoder states are large (KV caches): keep finished ones for the next call.
    idle: Mutex<Vec<WhisperState>>,
}

impl WhisperTranscriber {
    /// Load a ggml model file. A missing or unreadable file is an error, never a crash.
    pub fn load(path: &Path, threads: i32) -> anyhow::Result<WhisperTranscriber> {
        if !path.is_file() {
            anyhow::bail!("no whisper model at {}", path.display());
        }
        // Route whisper.cpp's own logging away from stderr.
        whisper_rs::install_logging_hooks();
        let ctx = WhisperContext::new_with_params(path, WhisperContextParameters::default())
            .map_err(|e| anyhow::anyhow!("could not load {}: {e}", path.display()))?;
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().to_string())
            .unwrap_or_default();
        Ok(WhisperTranscriber {
            ctx,
            name: format!("whisper.cpp ({file})"),
            threads: threads.max(1),
            idle: Mutex::new(Vec::new()),
        })
    }

    fn state(&self) -> anyhow::Result<WhisperState> {
        let pooled = self.idle.lock().ok().and_then(|mut v| v.pop());
        match pooled {
            Some(s) => Ok(s),
            None => self
                .ctx
                .create_state()
                .map_err(|e| anyhow::anyhow!("whisper state: {e}")),
        }
    }
}

impl Transcriber for WhisperTranscriber {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn transcribe(&self, pcm_16k: &[f32], prompt: &str) -> anyhow::Result<String> {
        // whisper.cpp needs at least a little audio; pad very short input with silence.
        let pcm: std::borrow::Cow<'_, [f32]> = if pcm_16k.len() < 16_000 {
            let mut padded = pcm_16k.to_vec();
            padded.resize(16_000, 0.0);
            padded.into()
        } else {
            pcm_16k.into()
        };
        let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        params.set_n_threads(self.threads);
        params.set_language(Some("en"));
        params.set_no_context(true);
        params.set_no_timestamps(true);
        params.set_print_special(false);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_timestamps(false);
        params.set_suppress_blank(true);
        // Tokenized here and passed as prompt tokens: the same as whisper.cpp does with an
        // initial prompt, without leaking a C string per call.
        let prompt: String = prompt.chars().filter(|c| *c != '\0').collect();
        let tokens = if prompt.trim().is_empty() {
            Vec::new()
        } else {
            self.ctx
                .tokenize(&prompt, 1024)
                .map_err(|e| anyhow::anyhow!("prompt: {e}"))?
        };
        if !tokens.is_empty() {
            params.set_tokens(&tokens);
        }
        let mut state = self.state()?;
        state
            .full(params, &pcm)
            .map_err(|e| anyhow::anyhow!("whisper: {e}"))?;
        let mut text = String::new();
        for segment in state.as_iter() {
            if let Ok(s) = segment.to_str_lossy() {
                text.push_str(&s);
            }
        }
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(state);
        }
        Ok(text.trim().to_string())
    }
}
