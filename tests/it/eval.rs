//! `frontdesk eval`: the runner's three reports and their counts, regressions against a
//! baseline when a world's policy is weakened (through the real binary's exit code), pass^k
//! arithmetic, and capture of a real conversation into a scenario that parses and passes.

use std::path::{Path, PathBuf};

use frontdesk::agent::{Caller, Inbound};
use frontdesk::config::{RawSettings, Settings};
use frontdesk::domain::Channel;
use frontdesk::eval::scenario::Scenario;
use frontdesk::eval::{self, RunArgs};

const CLOCK: &str = "2026-03-02T20:30:00-06:00";

fn settings() -> Settings {
    RawSettings::default().resolve().expect("default settings")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "frontdesk-it-eval-{name}-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn args(paths: Vec<PathBuf>, out: &Path) -> RunArgs {
    RunArgs {
        paths,
        trials: 1,
        tags: vec![],
        jobs: 2,
        out: out.to_path_buf(),
        baseline: None,
        write_baseline: None,
        policy: vec![],
        price_prompt: 0.0,
        price_completion: 0.0,
        quiet: true,
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("dir");
    }
    std::fs::write(&path, text).expect("write scenario");
    path
}

fn reschedule_scenario(id: &str, world: &str) -> String {
    format!(
        r#"id = "{id}"
title = "Rachel moves her visit to next Tuesday afternoon"
tags = ["reschedule", "sms"]
world = "{world}"
clock = "{CLOCK}"
channel = "sms"
caller = {{ customer = "rachel_kim" }}
turns = ["can u move my appt to next tues afternoon", "yes"]

[expect]
never = ["write_without_confirmation", "disclose_before_verification", "claims_success_after_refusal"]

[[expect.appointments]]
customer = "rachel_kim"
date = 2026-03-10
part_of_day = "afternoon"
"#
    )
}

#[tokio::test]
async fn a_run_writes_json_junit_and_markdown_with_the_right_counts() {
    let dir = temp_dir("reports");
    let scenarios = dir.join("scenarios");
    write(
        &scenarios,
        "a.toml",
        &reschedule_scenario("moves-visit", "demo"),
    );
    write(
        &scenarios,
        "b.toml",
        &format!(
            r#"id = "quotes-mosquito"
tags = ["quote", "sms"]
clock = "{CLOCK}"
channel = "sms"
caller = {{ customer = "rachel_kim" }}
turns = ["how much is mosquito service?"]
[expect]
no_writes = true
says = [["{{price:MOSQ}}", "{{price:MOSQ:2400}}"]]
"#
        ),
    );
    write(
        &scenarios,
        "c.toml",
        &format!(
            r#"id = "impossible-promise"
tags = ["quote"]
clock = "{CLOCK}"
channel = "sms"
caller = {{ customer = "rachel_kim" }}
turns = ["how much is mosquito service?"]
[expect]
says = ["a phrase no agent ever says"]
"#
        ),
    );
    let out = dir.join("out");
    let mut a = args(vec![scenarios], &out);
    a.trials = 2;
    let outcome = eval::run(&a, &settings()).await.expect("run");

    let s = &outcome.report.summary;
    assert_eq!((s.scenarios, s.scenarios_passed), (3, 2));
    assert_eq!((s.trials_total, s.trials_passed), (6, 4));
    assert_eq!(s.by_tag["quote"].scenarios, 2);
    assert_eq!(s.by_tag["quote"].scenarios_passed, 1);
    assert_eq!(s.by_tag["reschedule"].trials_passed, 2);
    assert!((s.pass_hat_k - 2.0 / 3.0).abs() < 1e-9);
    assert!(s.turns >= 8 && s.latency_p95_ms >= s.latency_p50_ms);
    assert_eq!(outcome.exit_code, 1, "a failure without a baseline exits 1");

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).expect("json"))
            .expect("valid json");
    assert_eq!(json["scenarios"].as_array().map(Vec::len), Some(3));
    assert_eq!(json["summary"]["scenarios_passed"], 2);
    let junit = std::fs::read_to_string(out.join("junit.xml")).expect("junit");
    assert_eq!(junit.matches("<testcase ").count(), 3);
    assert_eq!(junit.matches("<failure ").count(), 1);
    assert!(junit.contains("name=\"impossible-promise\""));
    assert!(junit.contains("customer: how much is mosquito service?"));
    let md = std::fs::read_to_string(out.join("report.md")).expect("markdown");
    assert!(md.contains("## Failures (1)"));
    assert!(md.contains("### `impossible-promise`"));
    assert!(md.contains("says: none of [a phrase no agent ever says] was said"));
    assert!(
        md.contains("tool quote_price"),
        "tool calls are in the transcript:\n{md}"
    );
    assert!(md.contains("| reschedule | 1 | 1 | 100.0% |"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_weakened_policy_fixture_is_reported_as_a_regression_by_name() {
    let dir = temp_dir("regression");
    let good = dir.join("good");
    write(&good, "a.toml", &reschedule_scenario("moves-visit", "demo"));
    write(
        &good,
        "b.toml",
        &reschedule_scenario("moves-visit-again", "demo").replace(
            "turns = [\"can u move my appt to next tues afternoon\", \"yes\"]",
            "turns = [\"can u move my appt to next tues afternoon\", \"yes please\"]",
        ),
    );
    let baseline = dir.join("baseline.json");
    let mut a = args(vec![good.clone()], &dir.join("out1"));
    a.write_baseline = Some(baseline.clone());
    let first = eval::run(&a, &settings()).await.expect("first run");
    assert_eq!(
        first.report.summary.scenarios_passed, 2,
        "both pass on the demo policy"
    );

    // The same scenarios in a world whose agent may not move a visit at all.
    let weak = dir.join("weak");
    write(
        &weak,
        "worlds/weakened.toml",
        "description = \"no agent reschedules\"\n[policy.agent_reschedule]\nmax_reschedules = 0\n",
    );
    for name in ["a.toml", "b.toml"] {
        let text = std::fs::read_to_string(good.join(name)).expect("read");
        write(
            &weak,
            name,
            &text.replace("world = \"demo\"", "world = \"weakened\""),
        );
    }
    let out = dir.join("out2");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_frontdesk"))
        .args(["eval", "run", "--quiet", "--baseline"])
        .arg(&baseline)
        .arg("--out")
        .arg(&out)
        .arg(&weak)
        .env("RUST_LOG", "error")
        .output()
        .expect("run the binary");
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert_eq!(status.status.code(), Some(1), "stdout: {stdout}");
    assert!(
        stdout.contains("REGRESSIONS against the baseline: moves-visit, moves-visit-again"),
        "{stdout}"
    );
    let md = std::fs::read_to_string(out.join("report.md")).expect("report");
    assert!(md.contains("## Regressions against the baseline"));
    assert!(
        md.contains("agent_reschedule.max_reschedules"),
        "the refusing rule is shown:\n{md}"
    );

    // The same weakening through `--policy` on the library entry point.
    let mut b = args(vec![good], &dir.join("out3"));
    b.baseline = Some(baseline);
    b.policy = vec!["agent_reschedule.max_reschedules=0".into()];
    let again = eval::run(&b, &settings()).await.expect("run");
    assert_eq!(again.regressions, vec!["moves-visit", "moves-visit-again"]);
    assert_eq!(again.exit_code, 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn pass_hat_k_arithmetic() {
    // C(s, k) / C(n, k), averaged over scenarios.
    assert_eq!(eval::pass_hat_k(3, 3, 3), 1.0);
    assert_eq!(eval::pass_hat_k(2, 3, 3), 0.0);
    assert!((eval::pass_hat_k(4, 5, 3) - 4.0 / 10.0).abs() < 1e-12);
    assert!((eval::pass_hat_k(1, 4, 1) - 0.25).abs() < 1e-12);
    assert!(
        (eval::mean_pass_hat_k(&[(3, 3), (2, 3), (0, 3)], 2) - (1.0 + 1.0 / 3.0) / 3.0).abs()
            < 1e-12
    );
    assert_eq!(eval::pass_hat_k(0, 0, 1), 0.0);
}

#[tokio::test]
async fn capture_turns_a_conversation_into_a_scenario_that_parses_and_passes() {
    let dir = temp_dir("capture");
    let db = dir.join("world.db");
    let url = format!("sqlite://{}", db.display());
    let store = frontdesk::store::Store::connect(&url, 4)
        .await
        .expect("store");
    let mut world_settings = settings();
    world_settings.database_url = url;
    world_settings.clock = frontdesk::clock::Clock::parse(CLOCK).expect("clock");
    let state = frontdesk::app::build_state(world_settings, store.clone())
        .await
        .expect("state");
    let tenant = store
        .tenant_by_slug("demo")
        .await
        .expect("tenant")
        .expect("demo seeded");
    let mut conversation = None;
    for (i, text) in ["can u move my appt to next tues afternoon", "yes"]
        .iter()
        .enumerate()
    {
        let out = state
            .agent
            .handle(Inbound {
                tenant: tenant.id,
                channel: Channel::Sms,
                participant: "+15125550155".into(),
                text: text.to_string(),
                external_id: Some(format!("cap-{i}")),
                media: vec![],
                caller: Caller::phone("+15125550155", true),
                reply_from: None,
            })
            .await
            .expect("turn");
        conversation = Some(out.conversation_id);
    }
    let conversation = conversation.expect("a conversation");

    let toml = eval::capture::capture(&store, "demo", conversation)
        .await
        .expect("capture");
    let path = write(&dir, "captured/captured.toml", &toml);
    let scenario = Scenario::parse(&toml, &path).expect("the capture parses");
    assert_eq!(
        scenario.turns,
        vec!["can u move my appt to next tues afternoon", "yes"]
    );
    assert_eq!(scenario.caller.customer.as_deref(), Some("rachel_kim"));
    assert_eq!(scenario.expect.appointments.len(), 1, "{toml}");
    assert!(scenario.expect.no_escalation);

    // Replayed in a fresh demo world at the captured clock, it passes.
    let outcome = eval::run(
        &args(vec![dir.join("captured")], &dir.join("out")),
        &settings(),
    )
    .await
    .expect("replay");
    assert_eq!(outcome.report.summary.scenarios_passed, 1, "{toml}");
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_simulated_customer_plays_the_goal_until_it_writes_the_stop_marker() {
    use frontdesk::agent::openai::fake::{FakeChatServer, FakeResponse};

    let server = FakeChatServer::start().await.expect("fake server");
    // One endpoint answers both sides: the customer (its prompt says it is role-playing a
    // customer) from a script, the agent with a catalog price.
    server.respond_with(|body| {
        let system = body["messages"][0]["content"].as_str().unwrap_or_default();
        if system.contains("role-playing a customer") {
            let said = body["messages"]
                .as_array()
                .map(|m| m.iter().filter(|x| x["role"] == "assistant").count())
                .unwrap_or(0);
            match said {
                0 => FakeResponse::reply("hey how much is mosquito service"),
                _ => FakeResponse::reply("ok thanks, that's all ###STOP###"),
            }
        } else {
            // The agent quotes from the tool's result: a price no tool gave would fail the
            // scenario (`unbacked_claims`).
            let messages = body["messages"].as_array().cloned().unwrap_or_default();
            match messages.iter().rev().find(|m| m["role"] == "tool") {
                None => FakeResponse::tool_calls(&[(
                    "call_1",
                    "quote_price",
                    serde_json::json!({ "service_code": "MOSQ" }),
                )]),
                Some(tool) => {
                    let result: serde_json::Value =
                        serde_json::from_str(tool["content"].as_str().unwrap_or("{}"))
                            .unwrap_or_default();
                    FakeResponse::reply(&format!(
                        "Mosquito Control is {} per visit.",
                        result["per_visit"].as_str().unwrap_or("?")
                    ))
                }
            }
        }
    });
    let dir = temp_dir("simulate");
    write(
        &dir,
        "sim.toml",
        &format!(
            r#"id = "simulated-quote"
tags = ["quote", "simulated"]
clock = "{CLOCK}"
channel = "sms"
caller = {{ customer = "rachel_kim" }}
goal = "Find out what monthly mosquito service costs, then end the conversation."
persona = "Busy parent, texts in lowercase."
max_turns = 5
[expect]
says = ["{{price:MOSQ}}"]
no_writes = true
"#
        ),
    );
    let settings = RawSettings {
        model: Some("openai".into()),
        openai_base_url: Some(server.base_url()),
        openai_model: Some("fake-model".into()),
        ..RawSettings::default()
    }
    .resolve()
    .expect("settings");
    let mut a = args(vec![dir.clone()], &dir.join("out"));
    a.price_prompt = 0.5;
    a.price_completion = 1.5;
    let outcome = eval::run(&a, &settings).await.expect("run");
    let s = &outcome.report.summary;
    assert_eq!(s.scenarios_passed, 1, "{}", outcome.report.markdown(&[]));
    let turns = &outcome.report.scenarios[0].results[0].turns;
    assert_eq!(turns.len(), 2, "the customer stopped after the marker");
    assert_eq!(turns[0].customer, "hey how much is mosquito service");
    assert_eq!(turns[1].customer, "ok thanks, that's all");
    assert!(s.prompt_tokens > 0 && s.completion_tokens > 0);
    assert!(s.cost_usd > 0.0);
    assert_eq!(s.model, "openai:fake-model");
    let _ = std::fs::remove_dir_all(&dir);
}
