//! The committed fuzz corpus (`fuzz/corpus/<target>/`: hand-written seeds and minimized
//! inputs that once failed) replayed through the same checks the fuzz targets make, so a
//! regression fails a plain `cargo test` without a fuzz engine.

use std::path::Path;

use frontdesk::fuzzing::TARGETS;

#[test]
fn fuzz_corpus_replays_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut replayed = 0;
    for (name, check) in TARGETS {
        let dir = root.join(name);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("corpus of {name} at {}: {e}", dir.display()))
            .map(|entry| entry.expect("corpus entry").path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no corpus for fuzz target {name}");
        for file in files {
            let data = std::fs::read(&file).expect("read corpus file");
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(
                outcome.is_ok(),
                "fuzz target {name} fails on {}",
                file.display()
            );
            replayed += 1;
        }
    }
    assert!(replayed >= TARGETS.len());
}

#[test]
fn fuzz_targets_all_have_a_corpus_and_a_target_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("fuzz/Cargo.toml");
    for (name, _) in TARGETS {
        assert!(
            root.join("fuzz_targets")
                .join(format!("{name}.rs"))
                .is_file(),
            "fuzz/fuzz_targets/{name}.rs is missing"
        );
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "fuzz/Cargo.toml does not list {name}"
        );
    }
}

/// The checker the TwiML target relies on refuses what is not well-formed.
#[test]
fn xml_check_refuses_malformed_documents() {
    use frontdesk::fuzzing::xml_strings;
    let decl = r#"<?xml version="1.0" encoding="UTF-8"?>"#;
    let ok =
        format!(r#"{decl}<Response><Say voice="a &amp; b">x &lt; y</Say><Hangup/></Response>"#);
    assert_eq!(
        xml_strings(&ok).expect("well-formed"),
        vec!["a & b".to_string(), "x < y".to_string()]
    );
    for bad in [
        "<Response/>".to_string(),
        format!("{decl}<Response>"),
        format!("{decl}<Response><Say>a < b</Say></Response>"),
        format!("{decl}<Response><Say>a & b</Say></Response>"),
        format!("{decl}<Response><Say>a</Message></Response>"),
        format!(r#"{decl}<Response><Say v="a"b">x</Say></Response>"#),
        format!(r#"{decl}<Response><Say v="1" v="2"/></Response>"#),
        format!("{decl}<Response>\u{1}</Response>"),
        format!("{decl}<Response/><Response/>"),
        format!("{decl}<Response/>x"),
        format!("{decl}<Response>&nbsp;</Response>"),
    ] {
        assert!(xml_strings(&bad).is_err(), "accepted {bad:?}");
    }
}
