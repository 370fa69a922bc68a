//! `frontdesk eval`: suites of scenarios run against the agent in isolated worlds, with pass
//! rates per tag, pass^k over repeated trials, latency, tokens and cost, reports (JSON, JUnit
//! XML, Markdown), regressions against a committed baseline, a simulated customer for LLM
//! runs, and capture of a real conversation as a new scenario. The format is documented in
//! `evals/README.md`.

pub mod capture;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod simulate;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use clap::{Args, Subcommand};

use crate::config::{ModelSettings, Settings};
use report::{Baseline, Report};
use runner::{EvalModel, RunOptions};

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Run scenarios and write results.json, junit.xml and report.md.
    Run(RunArgs),
    /// Print a stored conversation as a draft scenario (TOML) on stdout.
    Capture(CaptureArgs),
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Scenario files or folders (searched recursively for *.toml).
    #[arg(default_value = "evals")]
    pub paths: Vec<PathBuf>,
    /// Run each scenario this many times (pass^k uses k = trials).
    #[arg(long, default_value_t = 1)]
    pub trials: usize,
    /// Only scenarios with at least one of these tags (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Scenarios run at once.
    #[arg(long, default_value_t = 2)]
    pub jobs: usize,
    /// Folder for results.json, junit.xml and report.md.
    #[arg(long, default_value = "eval-results")]
    pub out: PathBuf,
    /// Exit 1 if a scenario that passed in this baseline fails now.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Write this run's outcome as a baseline file.
    #[arg(long)]
    pub write_baseline: Option<PathBuf>,
    /// Override a policy setting in every world, e.g. `agent_reschedule.max_reschedules=0`.
    #[arg(long = "policy", value_name = "KEY=VALUE")]
    pub policy: Vec<String>,
    /// USD per 1,000 prompt tokens (cost column; LLM runs).
    #[arg(long, default_value_t = 0.0)]
    pub price_prompt: f64,
    /// USD per 1,000 completion tokens.
    #[arg(long, default_value_t = 0.0)]
    pub price_completion: f64,
    /// No progress line on stderr.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Args)]
pub struct CaptureArgs {
    /// The conversation id.
    pub conversation: i64,
    /// Tenant slug.
    #[arg(long, default_value = "demo")]
    pub tenant: String,
}

/// Parse `key.path=value`; the value is read as TOML (numbers, booleans), else as a string.
pub fn parse_override(s: &str) -> anyhow::Result<(String, toml::Value)> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| anyhow::anyhow!("--policy `{s}`: expected KEY=VALUE"))?;
    let k = k.trim();
    if k.is_empty()
        || !k
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    {
        anyhow::bail!(
            "--policy `{s}`: the key is a dotted path like agent_reschedule.max_reschedules"
        );
    }
    let value = match toml::from_str::<toml::Table>(&format!("v = {}", v.trim())) {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or(toml::Value::String(v.trim().into())),
        Err(_) => toml::Value::String(v.trim().into()),
    };
    Ok((k.to_string(), value))
}

/// C(n, k) as a float (exact for the small numbers of trials used here).
pub fn binomial(n: usize, k: usize) -> f64 {
    if k > n {
        return 0.0;
    }
    let k = k.min(n - k);
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

/// The chance that `k` trials drawn from these `trials` all pass: C(successes, k) / C(trials, k).
pub fn pass_hat_k(successes: usize, trials: usize, k: usize) -> f64 {
    if trials == 0 || k == 0 || k > trials {
        return 0.0;
    }
    binomial(successes, k) / binomial(trials, k)
}

/// pass^k of a suite: the mean over scenarios of [`pass_hat_k`].
pub fn mean_pass_hat_k(scenarios: &[(usize, usize)], k: usize) -> f64 {
    if scenarios.is_empty() {
        return 0.0;
    }
    scenarios
        .iter()
        .map(|(s, n)| pass_hat_k(*s, *n, k))
        .sum::<f64>()
        / scenarios.len() as f64
}

/// What a run produced and the exit code it deserves.
pub struct RunOutcome {
    pub report: Report,
    pub regressions: Vec<String>,
    /// Failing scenarios not listed in `KNOWN_FAILURES.md` beside the baseline.
    pub unexplained: Vec<String>,
    /// 0: fine; 1: a regression against the baseline, a failure not listed as known (or,
    /// without a baseline, any failure).
    pub exit_code: i32,
}

/// The known failures: `KNOWN_FAILURES.md` lines of the form "- `scenario-id` — reason".
/// A line without a reason does not count.
pub fn parse_known_failures(text: &str) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix("- `") else {
            continue;
        };
        let Some((id, reason)) = rest.split_once('`') else {
            continue;
        };
        let reason = reason.trim().trim_start_matches(['—', '-', ':']).trim();
        if !id.is_empty() && !reason.is_empty() {
            out.insert(id.to_string(), reason.to_string());
        }
    }
    out
}

/// Failing scenarios of the report that the known-failures list does not explain.
pub fn unexplained_failures(
    report: &Report,
    known: &std::collections::BTreeMap<String, String>,
) -> Vec<String> {
    report
        .scenarios
        .iter()
        .filter(|s| !s.passed && !known.contains_key(&s.id))
        .map(|s| s.id.clone())
        .collect()
}

/// `frontdesk eval run`: load, run, report, compare.
pub async fn run(args: &RunArgs, settings: &Settings) -> anyhow::Result<RunOutcome> {
    let started = Instant::now();
    let mut scenarios = scenario::load_all(&args.paths)?;
    if !args.tags.is_empty() {
        scenarios.retain(|s| s.tags.iter().any(|t| args.tags.contains(t)));
    }
    if scenarios.is_empty() {
        anyhow::bail!("no scenarios to run");
    }
    let (model, simulator) = match &settings.model {
        ModelSettings::Builtin => (EvalModel::builtin(), None),
        ModelSettings::OpenAi { .. } => {
            let m = crate::app::build_model(&settings.model)?;
            let name = m.name();
            (
                EvalModel {
                    model: m.clone(),
                    name,
                    price_per_1k_prompt_usd: args.price_prompt,
                    price_per_1k_completion_usd: args.price_completion,
                },
                Some(simulate::Simulator::new(m)),
            )
        }
    };
    let model_name = model.name.clone();
    let policy_overrides = args
        .policy
        .iter()
        .map(|p| parse_override(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let work_dir = std::env::temp_dir().join(format!(
        "frontdesk-eval-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    let opts = Arc::new(RunOptions {
        model,
        simulator,
        trials: args.trials.max(1),
        jobs: args.jobs.max(1),
        policy_overrides,
        work_dir,
        progress: !args.quiet,
    });
    let results = runner::run_scenarios(scenarios, opts).await?;
    let report = Report::new(
        &model_name,
        args.trials.max(1),
        results,
        started.elapsed().as_secs_f64(),
    );
    let regressions = match &args.baseline {
        Some(path) => Baseline::read(path)?.regressions(&report),
        None => Vec::new(),
    };
    // With a baseline (what CI runs), every failure must be explained in KNOWN_FAILURES.md
    // next to it.
    let unexplained = match &args.baseline {
        Some(path) => {
            let file = path
                .parent()
                .unwrap_or_else(|| std::path::Path::new("."))
                .join("KNOWN_FAILURES.md");
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            unexplained_failures(&report, &parse_known_failures(&text))
        }
        None => Vec::new(),
    };
    report.write_all(&args.out, &regressions)?;
    if let Some(path) = &args.write_baseline {
        std::fs::write(
            path,
            serde_json::to_string_pretty(&Baseline::of(&report))? + "\n",
        )?;
    }
    let failed = report.summary.scenarios - report.summary.scenarios_passed;
    let exit_code = match (&args.baseline, regressions.is_empty(), failed) {
        (Some(_), false, _) => 1,
        (Some(_), true, _) if !unexplained.is_empty() => 1,
        (Some(_), true, _) => 0,
        (None, _, 0) => 0,
        (None, _, _) => 1,
    };
    Ok(RunOutcome {
        report,
        regressions,
        unexplained,
        exit_code,
    })
}

/// The console summary printed after a run.
pub fn summary_text(outcome: &RunOutcome, args: &RunArgs) -> String {
    let s = &outcome.report.summary;
    let mut out = format!(
        "{}/{} scenarios passed ({} trials each, trial pass rate {:.1}%, pass^{} {:.3}) in {:.1} s; \
         latency p50 {:.1} ms p95 {:.1} ms; tokens {}+{}; cost ${:.4}\n",
        s.scenarios_passed,
        s.scenarios,
        s.trials,
        s.pass_rate * 100.0,
        s.trials,
        s.pass_hat_k,
        s.wall_seconds,
        s.latency_p50_ms,
        s.latency_p95_ms,
        s.prompt_tokens,
        s.completion_tokens,
        s.cost_usd
    );
    for (tag, t) in &s.by_tag {
        out.push_str(&format!(
            "  {tag:<24} {:>3}/{:<3} {:>5.1}%\n",
            t.scenarios_passed,
            t.scenarios,
            t.pass_rate * 100.0
        ));
    }
    let failed: Vec<&str> = outcome
        .report
        .scenarios
        .iter()
        .filter(|r| !r.passed)
        .map(|r| r.id.as_str())
        .collect();
    if !failed.is_empty() {
        out.push_str(&format!("failing: {}\n", failed.join(", ")));
    }
    if args.baseline.is_some() {
        if outcome.regressions.is_empty() {
            out.push_str("no regressions against the baseline\n");
        } else {
            out.push_str(&format!(
                "REGRESSIONS against the baseline: {}\n",
                outcome.regressions.join(", ")
            ));
        }
        if !outcome.unexplained.is_empty() {
            out.push_str(&format!(
                "FAILING and not listed in KNOWN_FAILURES.md: {}\n",
                outcome.unexplained.join(", ")
            ));
        }
    }
    out.push_str(&format!("reports in {}\n", args.out.display()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pass_hat_k_is_the_chance_that_k_draws_all_pass() {
        assert_eq!(pass_hat_k(3, 3, 3), 1.0);
        assert_eq!(pass_hat_k(2, 3, 3), 0.0);
        assert!((pass_hat_k(2, 3, 1) - 2.0 / 3.0).abs() < 1e-12);
        assert!((pass_hat_k(3, 5, 2) - 3.0 / 10.0).abs() < 1e-12);
        assert!((mean_pass_hat_k(&[(3, 3), (0, 3)], 3) - 0.5).abs() < 1e-12);
        assert_eq!(binomial(5, 2), 10.0);
    }

    #[test]
    fn known_failures_need_an_id_and_a_reason() {
        let known = parse_known_failures(
            "# Known\n\n- `quote-roach` — roach maps to the general service\n- `no-reason`\n- `x`: why\ntext\n",
        );
        assert_eq!(known.len(), 2);
        assert!(known.contains_key("quote-roach"));
        assert_eq!(known.get("x").map(String::as_str), Some("why"));
        assert!(!known.contains_key("no-reason"));
    }

    #[test]
    fn policy_overrides_parse_numbers_booleans_and_reject_nonsense() {
        let (k, v) = parse_override("agent_reschedule.max_reschedules=0").expect("ok");
        assert_eq!(k, "agent_reschedule.max_reschedules");
        assert_eq!(v, toml::Value::Integer(0));
        assert_eq!(
            parse_override("booking.enabled = false").expect("ok").1,
            toml::Value::Boolean(false)
        );
        assert!(parse_override("no equals sign").is_err());
    }
}
