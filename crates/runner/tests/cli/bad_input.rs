//! The bad-input corpus through the real binary: every case yields diagnostics and exit 1
//! (an empty file: exit 0), never a panic (exit 101), a hang or a stack overflow. How fast
//! each answers is measured by `bench/bad_input.sh`, not asserted here.

use crate::support::Project;

/// Writes `bytes` as pipeline.toml, runs `runner check --format json`, returns (exit code,
/// error codes reported).
fn check_bytes(bytes: &[u8]) -> (Option<i32>, Vec<String>) {
    let p = Project::new();
    std::fs::write(p.path("pipeline.toml"), bytes).unwrap();
    let run = p.run(&["check", ".", "--format", "json"]);
    assert_ne!(run.code, Some(101), "panicked\n{}", run.transcript());
    let doc: serde_json::Value = serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| panic!("no JSON document ({e})\n{}", run.transcript()));
    let codes = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap().to_owned())
        .collect();
    (run.code, codes)
}

#[test]
fn empty_file_is_a_valid_empty_pipeline() {
    assert_eq!(check_bytes(b""), (Some(0), vec![]));
}

#[test]
fn invalid_utf8_is_reported_with_its_own_code() {
    let (code, codes) = check_bytes(b"[steps.a]\ncommand = [\"echo\", \"\xff\xfe\"]\n");
    assert_eq!(code, Some(1));
    assert!(codes.contains(&"E0003".to_owned()), "{codes:?}");
}

#[test]
fn binary_garbage() {
    let garbage: Vec<u8> =
        (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let (code, codes) = check_bytes(&garbage);
    assert_eq!(code, Some(1));
    assert!(!codes.is_empty());
}

#[test]
fn deep_nesting_of_arrays_and_inline_tables() {
    let arrays = format!("a = {}{}", "[".repeat(100_000), "]".repeat(100_000));
    let tables = format!("a = {}1{}", "{b = ".repeat(100_000), "}".repeat(100_000));
    for text in [arrays, tables] {
        let (code, codes) = check_bytes(text.as_bytes());
        assert_eq!(code, Some(1));
        assert_eq!(codes, vec!["E0002"]);
    }
}

#[test]
fn syntax_errors_everywhere_keep_semantic_diagnostics() {
    let text = "[steps.a\ncommand = [\"true\"]\n[steps.b]\ncommand = [\"cat\", \"${inputs.x}\"]\ninputs = { x = \"data.nope\" }\n= 3\n";
    let (code, codes) = check_bytes(text.as_bytes());
    assert_eq!(code, Some(1));
    assert!(codes.contains(&"E0001".to_owned()), "{codes:?}");
    assert!(
        codes.contains(&"E0102".to_owned()),
        "the step below the broken header is still checked: {codes:?}"
    );
}

#[test]
fn ten_megabyte_file() {
    let mut text = String::new();
    let mut i = 0;
    while text.len() < 10_000_000 {
        text.push_str(&format!(
            "[steps.s{i}]\ncommand = [\"echo\", \"${{outputs.o}}\"]\noutputs = [\"o\"]\n"
        ));
        i += 1;
    }
    text.push_str("[steps.broken\n");
    let (code, codes) = check_bytes(text.as_bytes());
    assert_eq!(code, Some(1));
    // The broken header, and the step it still declares has no script.
    assert_eq!(codes, vec!["E0104", "E0001"]);
}

/// `runner schema | head -1`: the reader goes away; the runner ends quietly with success
/// instead of panicking on the broken pipe.
#[test]
fn closed_stdout_is_not_a_panic() {
    let p = Project::new();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out =
        p.cmd().arg("schema").stdout(writer).stderr(std::process::Stdio::piped()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
