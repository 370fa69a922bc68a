//! Tidy checks over the source tree (in the style of rust-analyzer's): each concern has one
//! home, and a grep says so. Comments are not code: `//` lines are skipped.

use std::path::{Path, PathBuf};

/// Every `.rs` file under `src/`, as (path relative to the crate root, text).
fn sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    let mut dirs = vec![root.join("src")];
    while let Some(dir) = dirs.pop() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("read src dir")
            .map(|e| e.expect("dir entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path
                    .strip_prefix(root)
                    .expect("under the crate root")
                    .to_string_lossy()
                    .replace('\\', "/");
                let text = std::fs::read_to_string(&path).expect("read source");
                out.push((rel, text));
            }
        }
    }
    assert!(out.len() > 50, "the source tree was not found");
    out
}

/// Lines of code (comment lines dropped) containing any of `needles`, in the files whose
/// path passes `include`.
fn lines_with(needles: &[&str], include: impl Fn(&str) -> bool) -> Vec<String> {
    let mut found = Vec::new();
    for (path, text) in sources() {
        if !include(&path) {
            continue;
        }
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for needle in needles {
                if line.contains(needle) {
                    found.push(format!("{path}:{}: {needle}", n + 1));
                }
            }
        }
    }
    found
}

/// Lines of code containing any of `needles`, outside the allowed homes.
fn offenders(needles: &[&str], allowed: &[&str]) -> Vec<String> {
    lines_with(needles, |path| !allowed.iter().any(|a| path.starts_with(a)))
}

#[test]
fn axum_only_in_http() {
    let bad = offenders(
        &["axum::"],
        &[
            "src/http/",
            // The fake OpenAI-compatible server is compiled only for tests
            // (`cfg(test)` or the `test-support` feature).
            "src/agent/openai/fake.rs",
            "src/channels/twilio/fake.rs",
        ],
    );
    assert!(
        bad.is_empty(),
        "axum outside src/http/:\n{}",
        bad.join("\n")
    );
}

#[test]
fn sqlx_only_in_store() {
    let bad = offenders(&["sqlx::"], &["src/store/"]);
    assert!(
        bad.is_empty(),
        "sqlx outside src/store/:\n{}",
        bad.join("\n")
    );
}

#[test]
fn twilio_parameter_names_only_in_channels_twilio() {
    let names = [
        "\"MessageSid\"",
        "\"CallSid\"",
        "\"AccountSid\"",
        "\"RecordingUrl\"",
        "\"From\"",
        "\"To\"",
        "\"StatusCallback\"",
        "\"Twiml\"",
    ];
    let bad = offenders(&names, &["src/channels/twilio/"]);
    assert!(
        bad.is_empty(),
        "Twilio wire names outside src/channels/twilio/:\n{}",
        bad.join("\n")
    );
}

#[test]
fn every_module_starts_with_a_doc_comment() {
    let bad: Vec<String> = sources()
        .into_iter()
        .filter(|(_, text)| !text.starts_with("//!"))
        .map(|(path, _)| path)
        .collect();
    assert!(
        bad.is_empty(),
        "modules without a `//!` doc:\n{}",
        bad.join("\n")
    );
}

#[test]
fn every_setting_is_in_the_readme_and_the_example_config() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).expect("README.md");
    let example =
        std::fs::read_to_string(format!("{root}/config.example.toml")).expect("config example");
    let mut missing = vec![];
    for key in frontdesk::config::KEYS {
        let env = format!("`FRONTDESK_{}`", key.to_ascii_uppercase());
        if !readme.contains(&format!("| {env} |")) {
            missing.push(format!("README.md table: {env}"));
        }
        let in_example = example.lines().any(|l| {
            l.trim_start_matches(['#', ' '])
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        });
        if !in_example {
            missing.push(format!("config.example.toml: {key}"));
        }
    }
    assert!(missing.is_empty(), "settings not documented: {missing:#?}");
}

/// A statement that writes outside a transaction goes through `with_writer!`, which waits
/// for SQLite's one writer before taking a pooled connection (`Store::writer`): a `with_db!`
/// write would hold a connection while SQLite makes it wait, and enough of those empty the
/// pool under the transaction they wait for.
#[test]
fn store_writes_wait_for_the_writer() {
    let mut bad = Vec::new();
    for (path, text) in sources() {
        if !path.starts_with("src/store/") {
            continue;
        }
        let lines: Vec<&str> = text.lines().collect();
        for (n, line) in lines.iter().enumerate() {
            if !line.contains("with_db!(") || line.trim_start().starts_with("//") {
                continue;
            }
            let window = lines[n..(n + 4).min(lines.len())].join(" ");
            if ["INSERT ", "UPDATE ", "DELETE "]
                .iter()
                .any(|w| window.contains(w))
            {
                bad.push(format!("{path}:{}", n + 1));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "writes through with_db! instead of with_writer!:\n{}",
        bad.join("\n")
    );
}

/// A SQLite write transaction is opened only by `Store::sqlite_write_tx`, which waits for
/// the writer first; a transaction opened on the pool directly would wait inside SQLite
/// holding a connection, as a `with_db!` write would.
#[test]
fn store_transactions_wait_for_the_writer() {
    let begins = lines_with(&["BEGIN IMMEDIATE\")"], |_| true);
    assert!(
        begins.len() == 1 && begins[0].starts_with("src/store/mod.rs:"),
        "SQLite transactions begun elsewhere than Store::sqlite_write_tx:\n{}",
        begins.join("\n")
    );
}

#[test]
fn modules_depend_one_way() {
    // The lower module of each pair, and how it would name the one above it.
    let rules: [(&str, &[&str]); 4] = [
        (
            "src/agent/escalation.rs",
            &["tools::", "ToolCtx", "crate::agent::tools"],
        ),
        ("src/voicemail.rs", &["crate::http", "super::http"]),
        ("src/eval/simulate.rs", &["runner::", "crate::eval::runner"]),
        ("src/auth.rs", &["crate::store", "super::store", "Store"]),
    ];
    let bad: Vec<String> = rules
        .iter()
        .flat_map(|(home, needles)| lines_with(needles, |path| path.starts_with(home)))
        .collect();
    assert!(
        bad.is_empty(),
        "a lower module uses the one above it (a cycle):\n{}",
        bad.join("\n")
    );
}

/// A tool listed as only reading (`tools::reads_only`: its batch is not committed before the
/// model's next step) writes nothing through the turn's transaction; its one write, the audit
/// row, is made by `tools::run`. A tool that starts writing must leave that list.
#[test]
fn read_only_tools_do_not_write_through_the_transaction() {
    let text = std::fs::read_to_string("src/agent/tools.rs").expect("src/agent/tools.rs");
    let read_only: Vec<String> = frontdesk::agent::tools::specs()
        .into_iter()
        .map(|s| s.name)
        .filter(|n| frontdesk::agent::tools::reads_only(n))
        .collect();
    assert!(read_only.len() >= 3, "{read_only:?}");
    for name in &read_only {
        let start = text
            .find(&format!("async fn {name}("))
            .unwrap_or_else(|| panic!("no `async fn {name}(` in src/agent/tools.rs"));
        let body = &text[start..];
        let body = &body[..body.find("\n}\n").unwrap_or(body.len())];
        assert!(
            !body.contains(".tx"),
            "`{name}` is listed in tools::reads_only but uses the turn's transaction"
        );
    }
}
