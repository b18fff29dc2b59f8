//! The state folder: shared by every way of naming the pipeline, by concurrent builds, and
//! protected from steps that misbehave.

use std::process::Stdio;

use crate::support::Project;
use crate::{ALL_REUSED, built_chain, chain};

/// The pipeline named as a folder, as its file, as a relative path, or not at all (cwd):
/// one state folder, so everything is reused.
#[test]
fn every_way_of_naming_the_pipeline_shares_state() {
    let p = built_chain();
    let file = p.path("pipeline.toml").display().to_string();
    p.build(&[]).assert_code(0).assert_steps(ALL_REUSED);
    let parse = |run: crate::support::Run| {
        let doc: serde_json::Value = serde_json::from_str(run.stdout.trim())
            .unwrap_or_else(|e| panic!("not JSON ({e})\n{}", run.transcript()));
        let steps: Vec<(String, String)> = doc["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["step"].as_str().unwrap().into(), s["status"].as_str().unwrap().into()))
            .collect();
        (run, steps)
    };
    for args in [
        vec!["build", file.as_str(), "--format", "json"],
        vec!["build", "--format", "json"],
        vec!["build", ".", "--format", "json"],
        vec!["build", "pipeline.toml", "--format", "json"],
    ] {
        let (run, steps) = parse(p.run(&args));
        run.assert_code(0);
        assert!(steps.iter().all(|(_, s)| s == "reused"), "{steps:?}\n{}", run.transcript());
        assert_eq!(steps.len(), 4, "{}", run.transcript());
    }
    // From the parent folder, by a relative path.
    let parent = p.root().parent().unwrap();
    let name = p.root().file_name().unwrap().to_str().unwrap();
    let out =
        p.cmd().current_dir(parent).args(["build", name, "--format", "json"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(!stdout.contains("\"ran\""), "{stdout}");
    assert!(!parent.join(".runner").exists(), "state stays beside pipeline.toml");
}

/// The action cache entry removed while history remembers the success: the step runs, and
/// says the cache was cleared.
#[test]
fn cleared_action_cache_reruns_with_reason() {
    let p = built_chain();
    for file in ["ac.sqlite", "ac.sqlite-wal", "ac.sqlite-shm"] {
        std::fs::remove_file(p.state().join("cache").join(file)).unwrap();
    }
    let b = p.build(&[]);
    b.assert_code(0).assert_steps(&[
        ("prepare", "ran"),
        ("train", "ran"),
        ("report", "ran"),
        ("lint", "ran"),
    ]);
    b.assert_reason("lint", "no cached result");
    p.build(&[]).assert_code(0).assert_steps(ALL_REUSED);
}

/// Two builds of one pipeline at once: both succeed, and the state they leave is whole.
#[test]
fn concurrent_builds_share_one_state_folder() {
    let p = chain();
    let root = p.root().display().to_string();
    let spawn = || {
        p.cmd()
            .args(["build", &root, "--format", "json"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "stdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    p.build(&[]).assert_code(0).assert_steps(ALL_REUSED);
    assert_eq!(p.output("report", "report", "report.txt"), "1,2,3\nn=1\nreported\n");
}

/// A step that writes into its input (it should not; as root, read-only modes do not stop
/// it) must not change what the cache holds: a later reader of the same upstream output
/// sees the original bytes, and the upstream's cached result stays valid. Its own result
/// is not cached: its input no longer held the bytes its key names when it ended.
#[test]
fn step_writing_into_its_input_does_not_corrupt_the_cache() {
    let p = Project::with(&[(
        "pipeline.toml",
        r#"
[steps.up]
command = ["sh", "-c", "echo original > \"$0/data.txt\"", "${outputs.out}"]
outputs = ["out"]

[steps.vandal]
command = ["sh", "-c", "echo tampered >> \"$0/data.txt\" 2>/dev/null; echo done > \"$1/v.txt\"", "${inputs.d}", "${outputs.out}"]
inputs = { d = "steps.up.outputs.out" }
outputs = ["out"]

[steps.reader]
command = ["sh", "-c", "cat \"$0/data.txt\" > \"$2/r.txt\"", "${inputs.d}", "${inputs.gate}", "${outputs.out}"]
inputs = { d = "steps.up.outputs.out", gate = "steps.vandal.outputs.out" }
outputs = ["out"]
"#,
    )]);
    p.build(&[]).assert_code(0).assert_steps(&[
        ("up", "ran"),
        ("vandal", "ran"),
        ("reader", "ran"),
    ]);
    assert_eq!(p.output("reader", "out", "r.txt"), "original\n", "reader saw a tampered input");
    // Nothing changed, so nothing may be found broken; the vandal runs again, and its
    // unchanged output leaves the reader reused.
    let b = p.build(&[]);
    b.assert_code(0)
        .assert_steps(&[("up", "reused"), ("vandal", "ran"), ("reader", "reused")])
        .assert_reason("vandal", "not cached: input d (data.txt) changed");
}

/// The snapshot a step runs in leaves out the data references inside it (the step reads
/// them in place, through `${inputs.*}`), unless a step hashes them as `hash_paths`.
#[test]
fn snapshots_leave_out_data_references() {
    let p = Project::with(&[
        (
            "pipeline.toml",
            r#"
[data.raw]
path = "data/raw.txt"

[data.conf]
path = "conf/settings.txt"

[steps.look]
script = "look.sh"
arguments = ["${inputs.raw}", "${outputs.out}"]
inputs = { raw = "data.raw", conf = "data.conf" }
outputs = ["out"]
hash_paths = ["conf"]
"#,
        ),
        ("data/raw.txt", "raw bytes\n"),
        ("conf/settings.txt", "lr=1\n"),
        (
            "look.sh",
            "set -e\n{ cat \"$1\"\n[ -e data/raw.txt ] && echo 'raw copied' || echo 'raw left out'\n\
             cat conf/settings.txt; } > \"$2/seen.txt\"\n",
        ),
    ]);
    p.build(&[]).assert_code(0).assert_steps(&[("look", "ran")]);
    assert_eq!(p.output("look", "out", "seen.txt"), "raw bytes\nraw left out\nlr=1\n");
    // Changing the data still reruns the step: it is in the key, read in place.
    p.write("data/raw.txt", "new bytes\n");
    p.build(&[]).assert_code(0).assert_steps(&[("look", "ran")]);
    assert_eq!(p.output("look", "out", "seen.txt"), "new bytes\nraw left out\nlr=1\n");
}
