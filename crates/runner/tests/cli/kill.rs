//! A runner killed with SIGKILL mid-build leaves nothing a later build trusts.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::Project;

/// Table row 14: `kill -9` of the runner while a step sleeps; the orphaned step's process group is
/// killed too. A fresh build then completes, and the killed step runs again: its key is
/// unchanged (only an unkeyed flag file is removed), so a trusted cache entry would have
/// made it `reused`. A step that completed before the kill is reused.
#[test]
fn killed_build_leaves_no_trusted_result() {
    let p = Project::new();
    // `slow` writes its output first, so a half-finished output exists when it is killed.
    let marker = slow_step_project(
        &p,
        r#"
[compute.local]
max_nodes = 2

[steps.after]
command = ["sh", "-c", "cp \"$0/s.txt\" \"$1/s.txt\"", "${inputs.s}", "${outputs.out}"]
inputs = { s = "steps.slow.outputs.out" }
outputs = ["out"]

[steps.quick]
command = ["sh", "-c", "echo quick > \"$0/q.txt\"", "${outputs.out}"]
outputs = ["out"]
"#,
    );

    let root = p.root().display().to_string();
    let mut child = spawn_build(&p, &root);
    let started = Instant::now();
    let pgid: u32 = loop {
        if let Some(pid) = std::fs::read_to_string(&marker).ok().and_then(|s| s.trim().parse().ok())
        {
            break pid;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("runner exited ({status}) before the slow step started");
        }
        assert!(started.elapsed() < Duration::from_secs(20), "slow step never started");
        std::thread::sleep(Duration::from_millis(20));
    };
    // `quick` runs beside `slow`; let it finish, so the killed build has completed work.
    // Quick steps' results are committed in groups (at most 100 ms after they end): wait
    // until run 1's history lists it, which is written with its action cache entry.
    let recorded = || {
        let shown = p.run(&["show", "1", "quick", "--path", &root, "--format", "json"]);
        shown.stdout.contains("\"ran\"")
    };
    while !recorded() {
        assert!(started.elapsed() < Duration::from_secs(20), "quick step never finished");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    // The step leads its own process group and outlived the runner: its supervisor kills it.
    assert!(gone(pgid, Duration::from_secs(10)), "the orphaned step {pgid} is still running");

    let staged = p.state().join("outputs/.slow.out.run1");
    assert!(staged.join("s.txt").is_file(), "the killed step's half-finished output");
    std::fs::remove_file(p.path("slow.flag")).unwrap();
    let b = p.build(&[]);
    // What finished before the kill is trusted; what did not is run.
    b.assert_code(0).assert_steps(&[("slow", "ran"), ("after", "ran"), ("quick", "reused")]);
    // The killed run's leftovers went to the trash, which that build emptied.
    assert!(!staged.exists(), "the killed run's staging folder is left behind");
    assert_eq!(std::fs::read_dir(p.state().join("trash")).unwrap().count(), 1, "this build's");
    assert_eq!(b.status(), "succeeded");
    assert_eq!(p.output("after", "out", "s.txt"), "slow\n");
    p.build(&[]).assert_code(0).assert_steps(&[
        ("slow", "reused"),
        ("after", "reused"),
        ("quick", "reused"),
    ]);

    // The killed run is not left `running` in history.
    let runs = p.run(&["runs", &root, "--format", "json"]);
    runs.assert_code(0);
    let doc: serde_json::Value = serde_json::from_str(runs.stdout.trim()).unwrap();
    let first = doc
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"].as_i64() == Some(1))
        .unwrap_or_else(|| panic!("run 1 in history\n{}", runs.transcript()));
    assert_eq!(first["status"], "interrupted", "{}", runs.transcript());
}

/// A step that ran for a second or more has its result committed when it ends, not with
/// the next group of quick steps' (`build::ledger`): a runner killed right after still
/// leaves it trusted. Its view appears only after the commit, so the kill comes as soon as
/// the view is there.
#[test]
fn long_step_result_survives_a_kill_right_after_it() {
    let p = Project::new();
    let marker = slow_step_project(
        &p,
        r#"
[compute.local]
max_nodes = 2

[steps.long]
command = ["sh", "-c", "sleep 1.2; echo long > \"$0/l.txt\"", "${outputs.out}"]
outputs = ["out"]
"#,
    );
    let root = p.root().display().to_string();
    let mut child = spawn_build(&p, &root);
    let started = Instant::now();
    let view = p.state().join("outputs").join("long.out");
    while !view.exists() {
        assert!(started.elapsed() < Duration::from_secs(20), "long step never finished");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let pgid: u32 = std::fs::read_to_string(&marker).unwrap().trim().parse().unwrap();
    assert!(gone(pgid, Duration::from_secs(10)), "the orphaned step {pgid} is still running");
    std::fs::remove_file(p.path("slow.flag")).unwrap();
    p.build(&[]).assert_code(0).assert_steps(&[("long", "reused"), ("slow", "ran")]);
}

/// Ctrl-C (SIGINT to the runner): running steps are stopped, the build exits 130 with
/// status `interrupted`, and the interrupted step runs on the next build.
#[test]
fn interrupted_build_exits_130_and_reruns_step() {
    let p = Project::new();
    let marker = slow_step_project(
        &p,
        r#"
[steps.after]
command = ["sh", "-c", "cp \"$0/s.txt\" \"$1/s.txt\"", "${inputs.s}", "${outputs.out}"]
inputs = { s = "steps.slow.outputs.out" }
outputs = ["out"]
"#,
    );
    let root = p.root().display().to_string();
    let child = p
        .cmd()
        .args(["build", &root, "--format", "json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let pgid: u32 = loop {
        if let Some(pid) = std::fs::read_to_string(&marker).ok().and_then(|s| s.trim().parse().ok())
        {
            break pid;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "slow step never started");
        std::thread::sleep(Duration::from_millis(20));
    };
    let sent = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Whatever happened, leave no sleeping step behind.
    let group_alive = Command::new("kill")
        .args(["-9", "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert_eq!(out.status.code(), Some(130), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(!group_alive, "the step's process group outlived the interrupted build");
    assert!(started.elapsed() < Duration::from_secs(10), "interrupt took too long");
    let doc: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("no JSON document ({e})\nstdout:\n{stdout}\nstderr:\n{stderr}"));
    assert_eq!(doc["status"], "interrupted", "{doc}");
    let status = |name: &str| {
        doc["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["step"] == name)
            .map(|s| s["status"].as_str().unwrap().to_owned())
    };
    assert_eq!(status("slow").as_deref(), Some("interrupted"), "{doc}");
    assert_ne!(status("after").as_deref(), Some("ran"), "{doc}");

    std::fs::remove_file(p.path("slow.flag")).unwrap();
    p.build(&[]).assert_code(0).assert_steps(&[("slow", "ran"), ("after", "ran")]);
}

/// SIGTERM (`kill`, `timeout`, a CI cancel) and SIGHUP (a closed terminal) stop a build as
/// Ctrl-C does: the steps are stopped, the run is recorded as interrupted, and the exit code
/// is 128 + the signal's number.
#[test]
fn sigterm_and_sighup_stop_a_build() {
    for (signal, code) in [("TERM", 143), ("HUP", 129)] {
        let p = Project::new();
        let marker = slow_step_project(&p, "");
        let root = p.root().display().to_string();
        let child = p
            .cmd()
            .args(["build", &root, "--format", "json"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pgid = wait_for_pid(&marker);
        let sent = Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "SIG{signal}\n{stdout}\n{stderr}");
        assert!(gone(pgid, Duration::from_secs(1)), "SIG{signal}: the step outlived the build");
        assert!(stderr.contains(&format!("SIG{signal}: stopping running steps")), "{stderr}");
        let doc: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
        assert_eq!(doc["status"], "interrupted", "{doc}");
    }
}

/// A process a step started in a session of its own (`setsid`: it left the step's process
/// group, so killing the group misses it) still carries the run's tag, and dies with a
/// runner killed by SIGKILL.
#[test]
fn a_setsid_grandchild_dies_with_a_killed_runner() {
    let p = Project::new();
    let pidfile = p.path("escapee.pid");
    p.write(
        "pipeline.toml",
        &format!(
            r#"
[steps.escape]
command = ["sh", "-c", "setsid sh -c 'echo $$ > {0}.tmp; mv {0}.tmp {0}; exec sleep 60' & sleep 60", "${{outputs.out}}"]
outputs = ["out"]
"#,
            pidfile.display()
        ),
    );
    let root = p.root().display().to_string();
    let mut child = spawn_build(&p, &root);
    let escapee = wait_for_pid(&pidfile);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(gone(escapee, Duration::from_secs(10)), "the setsid grandchild outlived its runner");
}

/// When the supervisor dies with the runner (both killed), the next build kills what the
/// dead run left running before it starts its own steps.
#[test]
fn the_next_build_kills_what_a_dead_run_left() {
    let p = Project::new();
    let marker = slow_step_project(&p, "");
    let root = p.root().display().to_string();
    let mut child = spawn_build(&p, &root);
    let pgid = wait_for_pid(&marker);
    let supervisor = supervisor_of(child.id()).expect("the build's supervisor");
    assert!(Command::new("kill").args(["-9", &supervisor.to_string()]).status().unwrap().success());
    child.kill().unwrap();
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(!gone(pgid, Duration::ZERO), "the step should have outlived both");
    std::fs::remove_file(p.path("slow.flag")).unwrap();
    p.build(&[]).assert_code(0).assert_steps(&[("slow", "ran")]);
    assert!(gone(pgid, Duration::ZERO), "the next build left the dead run's step running");
}

/// The pid a step wrote to `path`, once it is there.
fn wait_for_pid(path: &std::path::Path) -> u32 {
    let started = Instant::now();
    loop {
        if let Some(pid) = std::fs::read_to_string(path).ok().and_then(|s| s.trim().parse().ok()) {
            return pid;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no pid in {}", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether process `pid` is gone (or a zombie) within `timeout`.
fn gone(pid: u32, timeout: Duration) -> bool {
    let started = Instant::now();
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
        if matches!(state, None | Some('Z' | 'X')) {
            return true;
        }
        if started.elapsed() >= timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The pid of the supervisor runner `pid` started (`runner __supervise TAG`), if any.
fn supervisor_of(pid: u32) -> Option<u32> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Some(child) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            let ppid = stat.rsplit_once(')').and_then(|(_, rest)| {
                rest.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok())
            });
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            if ppid == Some(pid) && cmdline.split(|&b| b == 0).any(|a| a == b"__supervise") {
                return Some(child);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Writes a pipeline of step `slow` and the steps (and tables) in `others`: `slow` writes
/// its output, then its pid (its process group's) to `marker.pid`, then sleeps 30 s while
/// `slow.flag` exists (it does). Returns the marker's path.
fn slow_step_project(p: &Project, others: &str) -> std::path::PathBuf {
    let marker = p.path("marker.pid");
    let slow = format!(
        r#"
[steps.slow]
script = "slow.sh"
arguments = ["${{outputs.out}}"]
outputs = ["out"]
env = {{ MARKER = "{}" }}
"#,
        marker.display()
    );
    p.write("pipeline.toml", &(slow + others));
    p.write(
        "slow.sh",
        "echo slow > \"$1/s.txt\"\n\
         echo $$ > \"$MARKER.tmp\" && mv \"$MARKER.tmp\" \"$MARKER\"\n\
         if [ -e slow.flag ]; then sleep 30; fi\n",
    );
    p.write("slow.flag", "");
    marker
}

/// `runner build ROOT -j 2` in the background, its output discarded.
fn spawn_build(p: &Project, root: &str) -> std::process::Child {
    p.cmd()
        .args(["build", root, "-j", "2"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}
