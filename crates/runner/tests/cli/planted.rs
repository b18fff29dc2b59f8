//! Symlinks and hard links planted where the runner writes: in the state folder (as a
//! checked-out repository or an earlier step could leave them), in a `source_directory`
//! (the snapshot), and in a step's output (adoption into the CAS). The runner refuses or
//! steps around each, and the world outside the project stays as it was.

use std::os::unix::fs::{MetadataExt, symlink};
use std::path::Path;

use crate::world::World;

/// One step that runs `step.sh` in the project folder.
const ONE_STEP: &str = r#"
[steps.s]
script = "step.sh"
arguments = ["${outputs.o}"]
outputs = ["o"]
"#;

/// Each entry of `.runner/` (and `.runner` itself) planted as a symlink to a world folder
/// holding files: every command that loads the pipeline stops (exit 2, naming the symlink
/// and its target) before it writes or deletes anything there.
#[test]
fn state_entries_that_lead_out_stop_every_command() {
    let entries = [
        "",
        "trash",
        "outputs",
        "cache",
        "runs",
        "envs",
        "history.sqlite",
        "statcache",
        "buildmemo",
    ];
    for entry in entries {
        let w = World::new();
        w.write("pipeline.toml", ONE_STEP);
        // A real state first (so `trash`, `runs`, … would be used), then the plant.
        if !entry.is_empty() {
            w.run_safely(&["build"]).assert_code(0);
            let planted = w.project().join(".runner").join(entry);
            let _ = std::fs::remove_dir_all(&planted).or_else(|_| std::fs::remove_file(&planted));
        }
        let state = w.project().join(".runner");
        let planted = if entry.is_empty() { state } else { state.join(entry) };
        symlink(w.root().join("secret"), &planted).unwrap();
        for cmd in [&["check"][..], &["build"], &["status"], &["runs"], &["upload", "data.txt"]] {
            let run = w.run_safely(cmd);
            run.assert_code(2);
            let name = if entry.is_empty() { ".runner" } else { entry };
            assert!(run.stderr.contains(&format!("{name} leads outside")), "{}", run.transcript());
            assert!(run.stderr.contains(&w.at("secret")), "{}", run.transcript());
        }
    }
}

/// Below the state folder's entries: a view, a staging folder, a run folder, and a folder
/// in the trash, each planted as (or holding) a symlink to the world. The build replaces
/// or removes the symlink itself, or refuses the run, and never writes through it.
#[test]
fn symlinks_below_the_state_folder_are_never_written_through() {
    let w = World::new();
    w.write("pipeline.toml", ONE_STEP);
    w.run_safely(&["build"]).assert_code(0);
    let state = w.project().join(".runner");
    // The view of s.o: replaced by the next result, through no symlink.
    std::fs::remove_dir_all(state.join("outputs/s.o")).unwrap();
    symlink(w.root().join("secret"), state.join("outputs/s.o")).unwrap();
    // Where run 2 will write its output, made ahead as an (empty) folder elsewhere.
    symlink(w.root().join("empty"), state.join("outputs/.s.o.run2")).unwrap();
    // In the trash: emptying it removes the symlink, not what it names.
    std::fs::create_dir_all(state.join("trash/junk")).unwrap();
    symlink(w.root().join("secret"), state.join("trash/junk/link")).unwrap();
    symlink(w.root().join("secret"), state.join("trash/link")).unwrap();
    w.write("step.sh", &format!("{}\n# changed\n", crate::world::STEP_SH));
    w.run_safely(&["build"]).assert_code(0);
    assert_eq!(std::fs::read_to_string(state.join("outputs/s.o/o.txt")).unwrap(), "ok");
    assert!(!state.join("outputs/s.o").is_symlink());
    // A run folder already there (a history removed since): refused, not written into.
    symlink(w.root().join("secret"), state.join("runs/3")).unwrap();
    w.write("step.sh", &format!("{}\n# changed again\n", crate::world::STEP_SH));
    let run = w.run_safely(&["build"]);
    run.assert_code(2);
    assert!(run.stderr.contains("runs/3 leads outside"), "{}", run.transcript());
    std::fs::remove_file(state.join("runs/3")).unwrap();
    std::fs::create_dir_all(state.join("runs/4/metrics")).unwrap();
    let run = w.run_safely(&["build"]);
    run.assert_code(2);
    assert!(run.stderr.contains("runs/4 already exists"), "{}", run.transcript());
}

/// Finding 3: a symlink in `source_directory` that leads outside is not kept in the
/// snapshot, where the step would write through it: the step fails before it runs, naming
/// the link and its target. Each kind: to a folder, to a file, dangling, relative.
#[test]
fn snapshot_symlinks_that_lead_out_fail_the_step_before_it_runs() {
    let targets = [
        ("to_folder", "{W}/secret"),
        ("to_file", "{W}/sentinel.txt"),
        ("dangling", "{W}/created_through_the_link"),
        ("relative", "../secret"),
    ];
    for (name, target) in targets {
        let w = World::new();
        w.write("pipeline.toml", ONE_STEP);
        let target = target.replace("{W}", &w.at(""));
        let target = target.replace("//", "/");
        symlink(&target, w.project().join(name)).unwrap();
        // The step writes through every symlink it is given.
        w.write(
            "step.sh",
            &format!(": > {name}/through 2>/dev/null; : > {name}\n{}", crate::world::STEP_SH),
        );
        let run = w.run_safely(&["build"]);
        run.assert_code(1);
        assert!(
            run.stderr.contains(&format!("`{name}` is a symlink to `{target}`")),
            "{}",
            run.transcript()
        );
        assert!(!w.project().join(".runner/outputs/s.o").exists(), "the step did not run");
    }
    // The project's own `escape` and `up`, once no `.amlignore` leaves them out.
    let w = World::new();
    w.write("pipeline.toml", ONE_STEP);
    std::fs::remove_file(w.project().join(".amlignore")).unwrap();
    let run = w.run_safely(&["build"]);
    run.assert_code(1);
    assert!(run.stderr.contains("leads outside"), "{}", run.transcript());
}

/// Symlinks that stay inside `source_directory` are kept in the snapshot as they are: the
/// step reads through them (to a file, to a folder) and the key covers what they name.
#[test]
fn snapshot_symlinks_that_stay_inside_are_kept() {
    let w = World::new();
    w.write("pipeline.toml", ONE_STEP);
    w.write("lib/conf.txt", "conf v1\n");
    symlink("lib/conf.txt", w.project().join("conf")).unwrap();
    symlink("lib", w.project().join("libdir")).unwrap();
    w.write(
        "step.sh",
        "set -e\n[ -L conf ] && [ -L libdir ]\ncat conf libdir/conf.txt > \"$1/o.txt\"\n",
    );
    w.run_safely(&["build"]).assert_code(0);
    let view = w.project().join(".runner/outputs/s.o/o.txt");
    assert_eq!(std::fs::read_to_string(&view).unwrap(), "conf v1\nconf v1\n");
}

/// Finding 2: a step that hard-links a file from outside the project into its output.
/// The outside file keeps its mode and bytes, and its inode does not become a blob; the
/// output still holds its bytes (stored by copy).
#[test]
fn a_file_hard_linked_from_outside_is_copied_into_the_cache_not_adopted() {
    let w = World::new();
    w.write(
        "pipeline.toml",
        r#"
[parameters]
outside = ""

[steps.s]
command = ["ln", "${params.outside}", "${outputs.o}/linked.txt"]
outputs = ["o"]
"#,
    );
    let sentinel = w.root().join("sentinel.txt");
    let before = std::fs::metadata(&sentinel).unwrap();
    let param = format!("outside={}", sentinel.display());
    // `ln` changes the sentinel's link count and ctime, which the world's picture leaves
    // out; its mode, bytes and mtime must not move.
    let run = w.run_safely(&["build", "--param", &param]);
    run.assert_code(0);
    let after = std::fs::metadata(&sentinel).unwrap();
    assert_eq!(after.mode(), before.mode(), "the outside file was made read-only");
    let view = w.project().join(".runner/outputs/s.o/linked.txt");
    assert_eq!(std::fs::read(&view).unwrap(), std::fs::read(&sentinel).unwrap());
    let cas = w.project().join(".runner/cache/cas");
    let blobs: Vec<u64> = std::fs::read_dir(&cas)
        .unwrap()
        .map(|e| std::fs::metadata(e.unwrap().path()).unwrap().ino())
        .collect();
    assert!(!blobs.contains(&after.ino()), "the outside file's inode is a blob");
    assert_eq!(after.nlink(), 2, "the step's own link, and no other");
    // Reused as any result: the copy verifies.
    w.run_safely(&["build", "--param", &param]).assert_code(0);
    assert!(Path::new(&view).exists());
}
