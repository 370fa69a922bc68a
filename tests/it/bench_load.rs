//! `frontdesk bench load --spawn`: the one command that reproduces the load figures starts
//! its own server, loads it, and reports what the server spent per turn.

use std::process::Command;

/// The number after `label` in `text`.
fn figure(text: &str, label: &str) -> f64 {
    let at = text
        .find(label)
        .unwrap_or_else(|| panic!("no `{label}` in:\n{text}"));
    text[at + label.len()..]
        .split_whitespace()
        .next()
        .and_then(|n| n.trim_end_matches([',', ';']).parse().ok())
        .unwrap_or_else(|| panic!("no figure after `{label}` in:\n{text}"))
}

/// The number just before `label` in `text`.
fn count_before(text: &str, label: &str) -> f64 {
    let at = text
        .find(label)
        .unwrap_or_else(|| panic!("no `{label}` in:\n{text}"));
    text[..at]
        .split_whitespace()
        .last()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no figure before `{label}` in:\n{text}"))
}

#[test]
fn a_spawned_server_is_loaded_and_its_cost_per_turn_reported() {
    let out = Command::new(env!("CARGO_BIN_EXE_frontdesk"))
        .args([
            "bench",
            "load",
            "--spawn",
            "--senders",
            "1,2",
            "--seconds",
            "1",
        ])
        .env("RUST_LOG", "warn")
        .output()
        .expect("run frontdesk bench load");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench load failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // One run per sender count, every request answered.
    let runs: Vec<&str> = stdout.split("bench load: ").skip(1).collect();
    assert_eq!(runs.len(), 2, "{stdout}");
    for (run, senders) in runs.iter().zip([1.0, 2.0]) {
        assert_eq!(count_before(run, " senders,"), senders, "{run}");
        assert!(count_before(run, " ok,") >= 1.0, "no turn answered: {run}");
        assert_eq!(count_before(run, " errors"), 0.0, "{run}");
        // Each turn costs the server CPU and a hold of SQLite's one writer.
        assert!(figure(run, "server CPU per turn:") > 0.0, "{run}");
        assert!(figure(run, "held") > 0.0, "{run}");
        // A turn takes SQLite's writer three times: the message with the conversation's
        // lease, the turn (one transaction when the model is the built-in one and its
        // tools only read, with the reply's delivery claimed in it), the inline answer's
        // confirmation. Background work adds a little.
        let taken = figure(run, "SQLite writer taken");
        assert!(
            (2.5..3.5).contains(&taken),
            "writer taken {taken} times a turn: {run}"
        );
    }
    assert!(
        figure(&stdout, "server peak resident memory:") > 1.0,
        "{stdout}"
    );
}
