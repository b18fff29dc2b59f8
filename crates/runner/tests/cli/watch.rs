//! `runner watch`: a real watcher on a temp pipeline, one JSON document per cycle on stdout.

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Build, Project, Run};
use crate::{CHAIN_TOML, TRAIN_SH, chain};

/// How long a cycle may take to show up on a loaded 2-core machine.
const CYCLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `runner watch PATH --format json`.
struct Watch {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Arc<Mutex<String>>,
    seen: Vec<String>,
}

impl Watch {
    fn start(p: &Project) -> Watch {
        let root = p.root().display().to_string();
        let mut child = p
            .cmd()
            .args(["watch", &root, "--format", "json", "--debounce", "50"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr: Arc<Mutex<String>> = Arc::default();
        let mut pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Watch { child, lines, stderr, seen: Vec::new() }
    }

    fn transcript(&self) -> String {
        format!(
            "--- cycles so far\n{}\n--- stderr\n{}",
            self.seen.join("\n"),
            self.stderr.lock().unwrap()
        )
    }

    /// The next cycle's document.
    #[track_caller]
    fn next_cycle(&mut self) -> Value {
        match self.lines.recv_timeout(CYCLE_TIMEOUT) {
            Ok(line) => {
                self.seen.push(line.clone());
                serde_json::from_str(&line).unwrap_or_else(|e| {
                    panic!("not a JSON cycle document ({e}): {line}\n{}", self.transcript())
                })
            }
            Err(_) => panic!("no cycle within {CYCLE_TIMEOUT:?}\n{}", self.transcript()),
        }
    }

    /// Asserts no cycle starts for `d`.
    #[track_caller]
    fn assert_quiet_for(&mut self, d: Duration) {
        if let Ok(line) = self.lines.recv_timeout(d) {
            panic!("unexpected cycle: {line}\n{}", self.transcript());
        }
    }

    /// A cycle's document as a `Build`, to reuse its assertions.
    fn as_build(&self, doc: Value) -> Build {
        let run = Run {
            args: vec!["watch".into()],
            code: None,
            stdout: self.seen.join("\n"),
            stderr: self.stderr.lock().unwrap().clone(),
        };
        Build { run, doc }
    }

    /// Sends SIGINT and returns the exit code.
    fn interrupt(&mut self) -> Option<i32> {
        let sent = Command::new("kill").args(["-INT", &self.child.id().to_string()]).status();
        assert!(sent.unwrap().success());
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "watch did not stop on SIGINT\n{}",
                self.transcript()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[track_caller]
    fn assert_running(&mut self) {
        assert!(self.child.try_wait().unwrap().is_none(), "watch exited\n{}", self.transcript());
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn changed(doc: &Value) -> Vec<String> {
    doc["changed"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
}

/// The whole story of a watch session: initial build; a script edit reruns that step and
/// what its new output feeds; an unrelated file starts nothing; a broken pipeline shows
/// its diagnostics and waits; the fix builds; two edits 5 ms apart both land; SIGINT while
/// idle exits 0.
#[test]
fn watch_rebuilds_exactly_what_changes_invalidate() {
    let p = chain();
    let mut w = Watch::start(&p);

    let c = w.next_cycle();
    assert_eq!(c["cycle"], 1);
    w.as_build(c).assert_steps(&[
        ("prepare", "ran"),
        ("train", "ran"),
        ("report", "ran"),
        ("lint", "ran"),
    ]);

    // A script edit: that step, and downstream because its output changes.
    let train_v2 = TRAIN_SH.replace("echo \"n=$2\"", "echo \"n=$2 v2\"");
    p.write("train.sh", &train_v2);
    let c = w.next_cycle();
    assert_eq!(changed(&c), ["train.sh"], "{c}");
    let hashed = c["hashed_bytes"].as_u64().unwrap();
    let len = train_v2.len() as u64;
    assert_eq!(hashed, len, "only train.sh is read\n{c}");
    let b = w.as_build(c);
    b.assert_steps(&[
        ("prepare", "reused"),
        ("train", "ran"),
        ("report", "ran"),
        ("lint", "reused"),
    ]);
    b.assert_reason("train", "train.sh");
    assert_eq!(p.output("report", "report", "report.txt"), "1,2,3\nn=1 v2\nreported\n");

    // Files no key reads start nothing.
    p.write("notes.txt", "unrelated\n");
    p.write("scratch/more.txt", "unrelated\n");
    w.assert_quiet_for(Duration::from_millis(1500));

    // A broken pipeline: diagnostics, no crash, no build.
    p.write("pipeline.toml", &CHAIN_TOML.replace("n = 1", "n = 2\n[oops"));
    let c = w.next_cycle();
    assert_eq!(c["status"], "invalid", "{c}");
    assert!(c["errors"].as_u64().unwrap() >= 1, "{c}");
    let diags = c["check"]["diagnostics"].as_array().unwrap();
    assert!(diags.iter().any(|d| d["code"] == "E0001"), "{c}");
    w.assert_running();

    // The fix: the build resumes with the new parameter.
    p.write("pipeline.toml", &CHAIN_TOML.replace("n = 1", "n = 2"));
    let c = w.next_cycle();
    assert_eq!(changed(&c), ["pipeline.toml"], "{c}");
    let b = w.as_build(c);
    b.assert_steps(&[
        ("prepare", "reused"),
        ("train", "ran"),
        ("report", "ran"),
        ("lint", "reused"),
    ]);
    b.assert_reason("train", "params.n");

    // Two edits within 10 ms: the outputs end up reflecting the second.
    p.write("raw.txt", "first\n");
    std::thread::sleep(Duration::from_millis(5));
    p.write("raw.txt", "second\n");
    let deadline = Instant::now() + CYCLE_TIMEOUT;
    loop {
        let c = w.next_cycle();
        assert_eq!(c["status"], "succeeded", "{c}");
        if p.output("prepare", "split", "split.txt") == "second\n" {
            break;
        }
        assert!(Instant::now() < deadline, "the second edit was never built\n{}", w.transcript());
    }
    assert_eq!(p.output("report", "report", "report.txt"), "second\nn=2 v2\nreported\n");
    w.assert_quiet_for(Duration::from_millis(800));

    // Ctrl-C while idle: a clean stop.
    assert_eq!(w.interrupt(), Some(0), "{}", w.transcript());
}

/// A hashed folder is watched whole, by the snapshot rules: a new file in a new subfolder
/// reruns the step; a file its `.gitignore` leaves out starts nothing; nor does `.runner/`.
#[test]
fn watch_follows_hashed_folders_and_their_ignore_files() {
    let p = Project::with(&[
        (
            "pipeline.toml",
            r#"
[steps.pack]
script = "pack.sh"
arguments = ["${outputs.out}"]
outputs = ["out"]
hash_paths = ["lib"]
"#,
        ),
        (
            "pack.sh",
            "set -e\ncat lib/*.txt > \"$1/all.txt\" 2>/dev/null || echo none > \"$1/all.txt\"\n",
        ),
        ("lib/.gitignore", "*.tmp\n"),
        ("lib/a.txt", "a\n"),
    ]);
    let mut w = Watch::start(&p);
    let c = w.next_cycle();
    w.as_build(c).assert_steps(&[("pack", "ran")]);

    p.write("lib/junk.tmp", "ignored\n");
    w.assert_quiet_for(Duration::from_millis(1000));

    p.write("lib/deep/new/b.py", "print('b')\n");
    let c = w.next_cycle();
    assert_eq!(changed(&c), ["lib"], "{c}");
    let b = w.as_build(c);
    b.assert_steps(&[("pack", "ran")]);
    b.assert_reason("pack", "lib");

    // The folder created in the last cycle is watched now.
    p.write("lib/deep/new/c.py", "print('c')\n");
    let c = w.next_cycle();
    w.as_build(c).assert_steps(&[("pack", "ran")]);

    // The runner's own writes never start a cycle.
    p.write(".runner/scratch.txt", "x\n");
    w.assert_quiet_for(Duration::from_millis(800));
    assert_eq!(w.interrupt(), Some(0), "{}", w.transcript());
}

/// Ctrl-C during a watch build: the running step's process group is stopped, the run is
/// recorded interrupted, and watch exits 130.
#[test]
fn watch_interrupted_mid_build_exits_130_and_leaves_no_orphan() {
    let p = Project::new();
    let marker = p.path("marker.pid");
    p.write(
        "pipeline.toml",
        &format!(
            r#"
[steps.slow]
script = "slow.sh"
arguments = ["${{outputs.out}}"]
outputs = ["out"]
env = {{ MARKER = "{}" }}
"#,
            marker.display()
        ),
    );
    p.write(
        "slow.sh",
        "echo slow > \"$1/s.txt\"\n\
         echo $$ > \"$MARKER.tmp\" && mv \"$MARKER.tmp\" \"$MARKER\"\n\
         sleep 30\n",
    );
    let mut w = Watch::start(&p);
    let started = Instant::now();
    let pgid: u32 = loop {
        if let Some(pid) = std::fs::read_to_string(&marker).ok().and_then(|s| s.trim().parse().ok())
        {
            break pid;
        }
        assert!(started.elapsed() < CYCLE_TIMEOUT, "slow step never started\n{}", w.transcript());
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(w.interrupt(), Some(130), "{}", w.transcript());
    let group_alive = Command::new("kill")
        .args(["-9", "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(!group_alive, "the step's process group outlived watch");
    let c = w.next_cycle();
    assert_eq!(c["status"], "interrupted", "{c}");
    w.as_build(c).assert_steps(&[("slow", "interrupted")]);

    let root = p.root().display().to_string();
    let runs = p.run(&["runs", &root, "--format", "json"]);
    let doc: Value = serde_json::from_str(runs.stdout.trim()).unwrap();
    assert_eq!(doc[0]["status"], "interrupted", "{}", runs.transcript());
}

/// A change while a step runs is not lost: the step finishes (its result is not cached, as
/// what it read changed under it), then the next cycle starts by itself and builds the new
/// content.
#[test]
fn change_during_a_build_starts_the_next_cycle() {
    let p = Project::new();
    let marker = p.path("started");
    p.write(
        "pipeline.toml",
        &format!(
            r#"
[data.raw]
path = "raw.txt"

[steps.copy]
script = "copy.sh"
arguments = ["${{inputs.raw}}", "${{outputs.out}}"]
inputs = {{ raw = "data.raw" }}
outputs = ["out"]
env = {{ MARKER = "{}" }}
"#,
            marker.display()
        ),
    );
    p.write("copy.sh", "set -e\ntouch \"$MARKER\"\nsleep 1\ncat \"$1\" > \"$2/out.txt\"\n");
    p.write("raw.txt", "old\n");
    let mut w = Watch::start(&p);
    let started = Instant::now();
    while !marker.exists() {
        assert!(started.elapsed() < CYCLE_TIMEOUT, "the step never started\n{}", w.transcript());
        std::thread::sleep(Duration::from_millis(10));
    }
    p.write("raw.txt", "new\n");
    let c = w.next_cycle();
    assert_eq!(c["cycle"], 1);
    let b = w.as_build(c);
    b.assert_steps(&[("copy", "ran")]);
    b.assert_reason("copy", "changed during the build");
    let c = w.next_cycle();
    assert_eq!(changed(&c), ["raw.txt"], "{c}");
    let b = w.as_build(c);
    b.assert_steps(&[("copy", "ran")]);
    b.assert_reason("copy", "raw");
    assert_eq!(p.output("copy", "out", "out.txt"), "new\n");
    w.assert_quiet_for(Duration::from_millis(800));
    assert_eq!(w.interrupt(), Some(0), "{}", w.transcript());
}

/// The session keeps its cache between cycles (entries and verified blobs in memory); when
/// `.runner/` is removed under it, the next cycle starts a new cache and runs every step
/// again, instead of trusting what it remembered or writing into a folder that is gone.
#[test]
fn state_folder_removed_during_a_session_starts_afresh() {
    let p = chain();
    let mut w = Watch::start(&p);
    let c = w.next_cycle();
    w.as_build(c).assert_steps(&[
        ("prepare", "ran"),
        ("train", "ran"),
        ("report", "ran"),
        ("lint", "ran"),
    ]);

    std::fs::remove_dir_all(p.root().join(".runner")).unwrap();
    p.write("train.sh", &TRAIN_SH.replace("echo \"n=$2\"", "echo \"n=$2 v2\""));
    let c = w.next_cycle();
    assert_eq!(c["status"], "succeeded", "{c}");
    w.as_build(c).assert_steps(&[
        ("prepare", "ran"),
        ("train", "ran"),
        ("report", "ran"),
        ("lint", "ran"),
    ]);
    assert_eq!(p.output("report", "report", "report.txt"), "1,2,3\nn=1 v2\nreported\n");

    // The new cache serves the next cycle in turn.
    p.write("train.sh", TRAIN_SH);
    let c = w.next_cycle();
    let b = w.as_build(c);
    b.assert_steps(&[
        ("prepare", "reused"),
        ("train", "ran"),
        ("report", "ran"),
        ("lint", "reused"),
    ]);
    assert_eq!(w.interrupt(), Some(0), "{}", w.transcript());
}
