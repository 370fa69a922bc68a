//! What a run leaves behind: `results.json` (everything, machine-readable), `junit.xml` (one
//! test case per scenario, for CI dashboards), `report.md` (a summary by tag and every
//! failure with its transcript, tool calls and the expectation that failed), and the
//! baseline: which scenarios passed, and which of those fail now (regressions).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::runner::{by_tag, percentile, ScenarioResult, TrialResult};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TagSummary {
    pub scenarios: usize,
    pub scenarios_passed: usize,
    pub trials: usize,
    pub trials_passed: usize,
    /// Passed trials over trials.
    pub pass_rate: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub model: String,
    pub trials: usize,
    pub scenarios: usize,
    /// Scenarios whose every trial passed.
    pub scenarios_passed: usize,
    pub trials_total: usize,
    pub trials_passed: usize,
    pub pass_rate: f64,
    /// Mean over scenarios of C(successes, k) / C(trials, k), k = trials.
    pub pass_hat_k: f64,
    pub by_tag: BTreeMap<String, TagSummary>,
    pub turns: usize,
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_usd: f64,
    pub wall_seconds: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub summary: Summary,
    pub scenarios: Vec<ScenarioResult>,
}

impl Report {
    pub fn new(
        model: &str,
        trials: usize,
        scenarios: Vec<ScenarioResult>,
        wall_seconds: f64,
    ) -> Report {
        let mut latencies: Vec<f64> = scenarios
            .iter()
            .flat_map(|s| &s.results)
            .flat_map(|r| &r.turns)
            .filter(|t| t.handled_by.is_none())
            .map(|t| t.latency_ms)
            .collect();
        latencies.sort_by(f64::total_cmp);
        let trials_total: usize = scenarios.iter().map(|s| s.trials).sum();
        let trials_passed: usize = scenarios.iter().map(|s| s.successes).sum();
        let all = || scenarios.iter().flat_map(|s| &s.results);
        let by_tag = by_tag(&scenarios)
            .into_iter()
            .map(|(tag, (n, np, t, tp))| {
                (
                    tag,
                    TagSummary {
                        scenarios: n,
                        scenarios_passed: np,
                        trials: t,
                        trials_passed: tp,
                        pass_rate: ratio(tp, t),
                    },
                )
            })
            .collect();
        let summary = Summary {
            model: model.to_string(),
            trials,
            scenarios: scenarios.len(),
            scenarios_passed: scenarios.iter().filter(|s| s.passed).count(),
            trials_total,
            trials_passed,
            pass_rate: ratio(trials_passed, trials_total),
            pass_hat_k: super::mean_pass_hat_k(
                &scenarios
                    .iter()
                    .map(|s| (s.successes, s.trials))
                    .collect::<Vec<_>>(),
                trials,
            ),
            by_tag,
            turns: latencies.len(),
            latency_p50_ms: percentile(&latencies, 50.0),
            latency_p95_ms: percentile(&latencies, 95.0),
            prompt_tokens: all().map(|r| r.usage.prompt_tokens).sum(),
            completion_tokens: all().map(|r| r.usage.completion_tokens).sum(),
            cost_usd: all().map(|r| r.cost_usd).sum(),
            wall_seconds,
        };
        Report { summary, scenarios }
    }

    /// Write `results.json`, `junit.xml` and `report.md` into `dir`.
    pub fn write_all(&self, dir: &Path, regressions: &[String]) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(
            dir.join("results.json"),
            serde_json::to_string_pretty(self)?,
        )?;
        std::fs::write(dir.join("junit.xml"), self.junit())?;
        std::fs::write(dir.join("report.md"), self.markdown(regressions))?;
        Ok(())
    }

    pub fn junit(&self) -> String {
        let s = &self.summary;
        let failures = s.scenarios - s.scenarios_passed;
        let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            x,
            "<testsuites name=\"frontdesk-eval\" tests=\"{}\" failures=\"{failures}\" time=\"{:.3}\">",
            s.scenarios, s.wall_seconds
        );
        let _ = writeln!(
            x,
            "  <testsuite name=\"frontdesk-eval ({})\" tests=\"{}\" failures=\"{failures}\" time=\"{:.3}\">",
            xml(&s.model),
            s.scenarios,
            s.wall_seconds
        );
        for r in &self.scenarios {
            let time: f64 = r.results.iter().map(|t| t.wall_ms).sum::<f64>() / 1000.0;
            let class = r.tags.first().map(String::as_str).unwrap_or("untagged");
            let _ = write!(
                x,
                "    <testcase classname=\"eval.{}\" name=\"{}\" time=\"{time:.3}\"",
                xml(class),
                xml(&r.id)
            );
            if r.passed {
                x.push_str("/>\n");
                continue;
            }
            x.push_str(">\n");
            let first = r.results.iter().find(|t| !t.passed);
            let message = first
                .and_then(|t| t.failures.first().cloned())
                .unwrap_or_default();
            let _ = writeln!(
                x,
                "      <failure message=\"{}/{} trials passed: {}\" type=\"expectation\">{}</failure>",
                r.successes,
                r.trials,
                xml(&message),
                xml(&first.map(trial_text).unwrap_or_default())
            );
            x.push_str("    </testcase>\n");
        }
        x.push_str("  </testsuite>\n</testsuites>\n");
        x
    }

    pub fn markdown(&self, regressions: &[String]) -> String {
        let s = &self.summary;
        let mut m = String::new();
        let _ = writeln!(m, "# Eval report — {}\n", s.model);
        let _ = writeln!(
            m,
            "{} scenarios × {} trials: **{}/{} scenarios passed**, trial pass rate {:.1}%, pass^{} {:.3}.",
            s.scenarios,
            s.trials,
            s.scenarios_passed,
            s.scenarios,
            s.pass_rate * 100.0,
            s.trials,
            s.pass_hat_k
        );
        let _ = writeln!(
            m,
            "Turn latency p50 {:.1} ms, p95 {:.1} ms over {} turns; tokens {} prompt + {} completion; cost ${:.4}; wall time {:.1} s.\n",
            s.latency_p50_ms,
            s.latency_p95_ms,
            s.turns,
            s.prompt_tokens,
            s.completion_tokens,
            s.cost_usd,
            s.wall_seconds
        );
        if !regressions.is_empty() {
            let _ = writeln!(m, "## Regressions against the baseline\n");
            for r in regressions {
                let _ = writeln!(m, "- `{r}`");
            }
            m.push('\n');
        }
        let _ = writeln!(m, "## By tag\n");
        let _ = writeln!(m, "| tag | scenarios | passed | trial pass rate |");
        let _ = writeln!(m, "|---|---:|---:|---:|");
        for (tag, t) in &s.by_tag {
            let _ = writeln!(
                m,
                "| {tag} | {} | {} | {:.1}% |",
                t.scenarios,
                t.scenarios_passed,
                t.pass_rate * 100.0
            );
        }
        let failed: Vec<&ScenarioResult> = self.scenarios.iter().filter(|r| !r.passed).collect();
        let _ = writeln!(m, "\n## Failures ({})\n", failed.len());
        for r in failed {
            let _ = writeln!(
                m,
                "### `{}` — {}\n\n{}/{} trials passed · tags: {} · `{}`\n",
                r.id,
                r.title,
                r.successes,
                r.trials,
                r.tags.join(", "),
                r.path
            );
            if let Some(t) = r.results.iter().find(|t| !t.passed) {
                let _ = writeln!(m, "Failed expectations (trial {}):\n", t.trial + 1);
                for f in &t.failures {
                    let _ = writeln!(m, "- {f}");
                }
                let _ = writeln!(m, "\n```text\n{}```\n", trial_text(t));
            }
        }
        m
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// A trial as a reader wants it: each message, each tool call with decision and rule, reply.
pub fn trial_text(t: &TrialResult) -> String {
    let mut out = String::new();
    if let Some(e) = &t.error {
        let _ = writeln!(out, "error: {e}");
    }
    for (i, turn) in t.turns.iter().enumerate() {
        let _ = writeln!(out, "[{}] customer: {}", i + 1, turn.customer);
        for c in &turn.tool_calls {
            let _ = writeln!(
                out,
                "      tool {} {} → {} ({})",
                c.tool, c.arguments, c.decision, c.rule
            );
        }
        match (&turn.reply, &turn.handled_by) {
            (Some(r), by) => {
                let _ = writeln!(
                    out,
                    "    agent{}{}: {}",
                    by.as_ref().map(|b| format!(" [{b}]")).unwrap_or_default(),
                    if turn.escalated { " [escalated]" } else { "" },
                    r
                );
            }
            (None, Some(by)) => {
                let _ = writeln!(out, "    (no reply: {by})");
            }
            (None, None) => {
                let _ = writeln!(out, "    (no reply)");
            }
        }
        if !turn.identity.is_empty() {
            let _ = writeln!(out, "      identity: {}", turn.identity);
        }
    }
    for e in &t.escalations {
        let _ = writeln!(
            out,
            "escalation: {} / {} — {}",
            e.get("reason").and_then(Value::as_str).unwrap_or(""),
            e.get("priority").and_then(Value::as_str).unwrap_or(""),
            e.get("summary").and_then(Value::as_str).unwrap_or("")
        );
    }
    out
}

fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' && c != '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// The committed baseline: per scenario, whether it passed and how many trials did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Baseline {
    pub model: String,
    pub trials: usize,
    pub scenarios: BTreeMap<String, BaselineEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BaselineEntry {
    pub passed: bool,
    pub successes: usize,
    pub trials: usize,
}

impl Baseline {
    pub fn of(report: &Report) -> Baseline {
        Baseline {
            model: report.summary.model.clone(),
            trials: report.summary.trials,
            scenarios: report
                .scenarios
                .iter()
                .map(|s| {
                    (
                        s.id.clone(),
                        BaselineEntry {
                            passed: s.passed,
                            successes: s.successes,
                            trials: s.trials,
                        },
                    )
                })
                .collect(),
        }
    }

    /// Read a baseline file, or a `results.json` of an earlier run.
    pub fn read(path: &Path) -> anyhow::Result<Baseline> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read baseline {}: {e}", path.display()))?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("baseline {} is not JSON: {e}", path.display()))?;
        if v.get("summary").is_some() {
            let report: Report = serde_json::from_value(v)?;
            return Ok(Baseline::of(&report));
        }
        Ok(serde_json::from_value(v)?)
    }

    /// Scenarios that passed in the baseline and do not pass now, by id.
    pub fn regressions(&self, report: &Report) -> Vec<String> {
        report
            .scenarios
            .iter()
            .filter(|s| !s.passed && self.scenarios.get(&s.id).is_some_and(|b| b.passed))
            .map(|s| s.id.clone())
            .collect()
    }

    /// Scenarios that failed in the baseline and pass now.
    pub fn fixed(&self, report: &Report) -> Vec<String> {
        report
            .scenarios
            .iter()
            .filter(|s| s.passed && self.scenarios.get(&s.id).is_some_and(|b| !b.passed))
            .map(|s| s.id.clone())
            .collect()
    }
}
