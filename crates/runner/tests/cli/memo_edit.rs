//! An edit under the build memo: only some inputs' content changed, so the memo keys again
//! the steps that read them (and their downstream steps) and reuses what the action cache
//! holds for the new keys, verified; anything that must run goes through the database, with
//! its reasons. Each test here would fail if that path reused a stale result.

use std::time::SystemTime;

use crate::support::{Build, Project};
use crate::{ALL_REUSED, built_chain};

fn planner(b: &Build) -> &str {
    b.doc["planner"].as_str().unwrap_or_else(|| panic!("no planner\n{}", b.run.transcript()))
}

/// The step key a build reports for `step`.
fn key(b: &Build, step: &str) -> String {
    let steps = b.doc["steps"].as_array().expect("steps");
    let s = steps.iter().find(|s| s["step"] == step).expect("step in the build");
    s["key"].as_str().expect("a key").to_owned()
}

/// Writes `text` (the same size as before) into `rel` and sets its mtime back to what it
/// was: only the ctime (and the bytes) say it changed.
fn rewrite_keeping_mtime(p: &Project, rel: &str, text: &str) {
    let path = p.path(rel);
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.len(), text.len() as u64, "same size");
    let mtime: SystemTime = meta.modified().unwrap();
    std::fs::write(&path, text).unwrap();
    std::fs::File::options().write(true).open(&path).unwrap().set_modified(mtime).unwrap();
}

/// The chain built at raw.txt = "1,2,3" (run 1) and at "4,5,6" (run 2), left at "4,5,6".
fn built_twice() -> (Project, Build) {
    let p = built_chain();
    p.write("raw.txt", "4,5,6\n");
    let b = p.build(&[]);
    b.assert_code(0).assert_steps(&[
        ("prepare", "ran"),
        ("train", "ran"),
        ("report", "ran"),
        ("lint", "reused"),
    ]);
    assert_eq!(planner(&b), "database", "content never built: the steps run");
    b.assert_reason("prepare", "raw");
    (p, b)
}

/// Content the cache holds a result for is reused from the memo, downstream steps keyed
/// again through their upstream outputs, and the views follow; new content runs through the
/// database with its reasons.
#[test]
fn an_edit_to_content_the_cache_holds_is_reused_without_the_database() {
    let (p, _) = built_twice();
    p.write("raw.txt", "1,2,3\n");
    let b = p.build(&[]);
    b.assert_code(0).assert_steps(ALL_REUSED);
    assert_eq!(planner(&b), "memo", "{}", b.run.transcript());
    for step in ["prepare", "train", "report", "lint"] {
        assert_eq!(b.step(step).reused_from, Some(1), "{step}");
    }
    assert_eq!(p.output("report", "report", "report.txt"), "1,2,3\nn=1\nreported\n");

    p.write("raw.txt", "4,5,6\n");
    let b = p.build(&[]);
    b.assert_code(0).assert_steps(ALL_REUSED);
    assert_eq!(planner(&b), "memo");
    assert_eq!(b.step("report").reused_from, Some(2));
    assert_eq!(b.step("lint").reused_from, Some(1));
    assert_eq!(p.output("train", "model", "model.txt"), "4,5,6\nn=1\n");
    assert_eq!(p.output("report", "report", "report.txt"), "4,5,6\nn=1\nreported\n");
    let noop = p.build(&[]);
    noop.assert_code(0).assert_steps(ALL_REUSED);
    assert_eq!(planner(&noop), "memo");
    assert_eq!(noop.step("report").reused_from, Some(2));

    // A stat change that is no content change: nothing is keyed again, nothing runs.
    p.touch("raw.txt");
    let b = p.build(&[]);
    b.assert_code(0).assert_steps(ALL_REUSED);
    assert_eq!(planner(&b), "memo");

    // Content never built: the database runs what must run and says why.
    p.write("raw.txt", "7,8,9\n");
    let b = p.build(&[]);
    b.assert_code(0).assert_steps(&[
        ("prepare", "ran"),
        ("train", "ran"),
        ("report", "ran"),
        ("lint", "reused"),
    ]);
    assert_eq!(planner(&b), "database");
    b.assert_reason("prepare", "raw");
    assert_eq!(p.output("report", "report", "report.txt"), "7,8,9\nn=1\nreported\n");
}

/// Same size, same mtime, other bytes, right after a build (the racy window): the change is
/// seen, whether the cache holds the new content's result or not.
#[test]
fn a_change_keeping_size_and_mtime_is_never_missed() {
    let (p, _) = built_twice();
    p.write("raw.txt", "1,2,3\n");
    assert_eq!(planner(&p.build(&[])), "memo");
    rewrite_keeping_mtime(&p, "raw.txt", "4,5,6\n");
    let b = p.build(&[]);
    b.assert_code(0).assert_steps(ALL_REUSED);
    assert_eq!(b.step("report").reused_from, Some(2));
    assert_eq!(p.output("report", "report", "report.txt"), "4,5,6\nn=1\nreported\n");

    rewrite_keeping_mtime(&p, "raw.txt", "7,8,9\n");
    let b = p.build(&[]);
    b.assert_code(0).assert_steps(&[
        ("prepare", "ran"),
        ("train", "ran"),
        ("report", "ran"),
        ("lint", "reused"),
    ]);
    assert_eq!(p.output("report", "report", "report.txt"), "7,8,9\nn=1\nreported\n");
}

/// A result the edit would reuse whose blob is gone: the new key is looked up and verified,
/// so the step runs again (through the database, which says why).
#[test]
fn an_edit_does_not_reuse_a_result_whose_blob_is_gone() {
    let (p, _) = built_twice();
    p.write("raw.txt", "1,2,3\n");
    assert_eq!(planner(&p.build(&[])), "memo");
    // The blob of the report at "4,5,6" is named by the sha256 of its bytes.
    let report = "4,5,6\nn=1\nreported\n";
    let sum = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write as _;
            c.stdin.take().unwrap().write_all(report.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    let blob = String::from_utf8(sum.stdout).unwrap()[..64].to_owned();
    std::fs::remove_file(p.state().join(format!("cache/cas/{blob}"))).unwrap();

    p.write("raw.txt", "4,5,6\n");
    let b = p.build(&[]);
    b.assert_code(0).assert_steps(&[
        ("prepare", "reused"),
        ("train", "reused"),
        ("report", "ran"),
        ("lint", "reused"),
    ]);
    assert_eq!(planner(&b), "database");
    b.assert_reason("report", "missing");
    assert_eq!(p.output("report", "report", "report.txt"), report);
}

/// An action cache entry removed behind the memo's back (another process, an edit of the
/// database): the edit looks the new key up for real and does not find it.
#[test]
fn an_edit_does_not_reuse_a_removed_action_cache_entry() {
    let (p, at_456) = built_twice();
    let train = key(&at_456, "train");
    p.write("raw.txt", "1,2,3\n");
    assert_eq!(planner(&p.build(&[])), "memo");
    // Through the cache's own API, as another process would.
    let cache = cache::Cache::open(&p.state().join("cache")).unwrap();
    cache.remove_action(&train.parse::<cache::Digest>().unwrap()).unwrap();
    drop(cache);

    p.write("raw.txt", "4,5,6\n");
    let b = p.build(&[]);
    b.assert_code(0).assert_steps(&[
        ("prepare", "reused"),
        ("train", "ran"),
        ("report", "reused"),
        ("lint", "reused"),
    ]);
    assert_eq!(planner(&b), "database");
    // Field by field, against its last success (at "1,2,3").
    b.assert_reason("train", "upstream prepare");
}

/// The memo's key records damaged or missing: the database plans the edit (reusing what the
/// cache holds), and writes them again.
#[test]
fn damaged_key_records_send_an_edit_to_the_database() {
    let (p, _) = built_twice();
    let keys = p.state().join("buildmemo.keys");
    let mut bytes = std::fs::read(&keys).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&keys, bytes).unwrap();
    p.write("raw.txt", "1,2,3\n");
    let b = p.build(&[]);
    b.assert_code(0).assert_steps(ALL_REUSED);
    assert_eq!(planner(&b), "database");

    std::fs::remove_file(&keys).unwrap();
    p.write("raw.txt", "4,5,6\n");
    let b = p.build(&[]);
    b.assert_code(0).assert_steps(ALL_REUSED);
    assert_eq!(planner(&b), "database");
    assert!(keys.is_file(), "written again");
    p.write("raw.txt", "1,2,3\n");
    assert_eq!(planner(&p.build(&[])), "memo");
}
