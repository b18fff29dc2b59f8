//! `run_process` against real processes: argv, env, cwd, logs, exit codes, timeouts, cancellation and
//! process-group cleanup.

use std::ffi::OsString;
use std::path::Path;
use std::time::{Duration, Instant};

use exec::{CancelToken, Outcome, ProcessSpec, run_process};

fn spec(dir: &Path, argv: &[&str]) -> ProcessSpec {
    ProcessSpec {
        argv: argv.iter().map(OsString::from).collect(),
        cwd: dir.to_path_buf(),
        env: Vec::new(),
        stdout_path: dir.join("logs/stdout.txt"),
        stderr_path: dir.join("logs/stderr.txt"),
        timeout: None,
        grace: Duration::from_secs(5),
    }
}

fn sh(dir: &Path, script: &str) -> ProcessSpec {
    spec(dir, &["/bin/sh", "-c", script])
}

async fn run(spec: ProcessSpec) -> Outcome {
    run_process(spec, CancelToken::new()).await.0
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// Whether `pid` is a live process (a zombie nobody reaped yet counts as gone).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => {
            let state =
                stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
            state != Some('Z') && state != Some('X')
        }
    }
}

async fn gone_within(pid: u32, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if !alive(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    !alive(pid)
}

/// Waits until `path` holds a complete line and returns it trimmed.
async fn wait_line(path: &Path) -> String {
    let start = Instant::now();
    loop {
        if let Ok(s) = std::fs::read_to_string(path)
            && s.ends_with('\n')
        {
            return s.trim().to_owned();
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{} never appeared", path.display());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn wait_pid(path: &Path) -> u32 {
    let pid: u32 = wait_line(path).await.parse().unwrap();
    assert!(alive(pid), "grandchild {pid} should be running");
    pid
}

#[tokio::test]
async fn exit_codes_and_signals_pass_through() {
    let dir = tempfile::tempdir().unwrap();
    let ok = run(sh(dir.path(), "exit 0")).await;
    assert_eq!(ok, Outcome::Exited(0));
    assert!(ok.success());
    let three = run(sh(dir.path(), "exit 3")).await;
    assert_eq!(three, Outcome::Exited(3));
    assert!(!three.success());
    assert_eq!(run(sh(dir.path(), "kill -9 $$")).await, Outcome::Signaled(9));
}

#[tokio::test]
async fn argv_arrives_literally() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "two words",
        "; rm -rf /",
        "$(echo hi)",
        "`echo hi`",
        "line1\nline2",
        "'single' \"double\"",
        "*",
        "$HOME",
        "",
        "a\\b",
        "| cat > pwned &&",
    ];
    let mut argv = vec!["/bin/sh", "-c", r#"printf '%s\0' "$@""#, "sh"];
    argv.extend(args);
    let (outcome, _) = run_process(spec(dir.path(), &argv), CancelToken::new()).await;
    assert_eq!(outcome, Outcome::Exited(0));
    let out = read(&dir.path().join("logs/stdout.txt"));
    let got: Vec<&str> = out.strip_suffix('\0').unwrap().split('\0').collect();
    assert_eq!(got, args);
    assert!(!dir.path().join("pwned").exists());
}

#[tokio::test]
async fn env_cwd_stdin_and_log_files() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work dir");
    std::fs::create_dir(&work).unwrap();
    let mut s =
        sh(&work, r#"echo "$RUNNER_TEST_VAR"; pwd -P; cat; echo to-stderr >&2; echo "$PATH" >&2"#);
    s.env.push(("RUNNER_TEST_VAR".into(), "value with spaces".into()));
    s.stdout_path = dir.path().join("out/a.log");
    s.stderr_path = dir.path().join("out/b.log");
    std::fs::create_dir(dir.path().join("out")).unwrap();
    std::fs::write(&s.stdout_path, "old content that must be truncated away\n".repeat(10)).unwrap();
    let (outcome, wall) = run_process(s, CancelToken::new()).await;
    assert_eq!(outcome, Outcome::Exited(0));
    assert!(wall < Duration::from_secs(10));
    let expected = format!("value with spaces\n{}\n", work.canonicalize().unwrap().display());
    assert_eq!(read(&dir.path().join("out/a.log")), expected);
    let err = read(&dir.path().join("out/b.log"));
    let (first, path) = err.split_once('\n').unwrap();
    assert_eq!(first, "to-stderr");
    // The rest of the environment is inherited.
    assert_eq!(path.trim_end(), std::env::var("PATH").unwrap());
}

#[tokio::test]
async fn stdout_and_stderr_may_share_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = sh(dir.path(), "echo one; echo two >&2; echo three");
    s.stderr_path = s.stdout_path.clone();
    assert_eq!(run(s).await, Outcome::Exited(0));
    assert_eq!(read(&dir.path().join("logs/stdout.txt")), "one\ntwo\nthree\n");
}

#[tokio::test]
async fn timeout_stops_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = sh(dir.path(), "sleep 30");
    s.timeout = Some(Duration::from_millis(200));
    let (outcome, wall) = run_process(s, CancelToken::new()).await;
    assert_eq!(outcome, Outcome::TimedOut);
    assert!(wall >= Duration::from_millis(200), "{wall:?}");
    assert!(wall < Duration::from_secs(3), "SIGTERM should have ended it: {wall:?}");
}

#[tokio::test]
async fn a_fast_process_is_not_timed_out() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = sh(dir.path(), "exit 4");
    s.timeout = Some(Duration::from_secs(20));
    assert_eq!(run(s).await, Outcome::Exited(4));
}

#[tokio::test]
async fn term_trapping_process_is_killed_after_grace() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = sh(dir.path(), r#"trap "" TERM; echo ready > ready; sleep 30"#);
    s.timeout = Some(Duration::from_millis(300));
    s.grace = Duration::from_millis(400);
    let (outcome, wall) = run_process(s, CancelToken::new()).await;
    assert_eq!(read(&dir.path().join("ready")), "ready\n", "the trap was installed in time");
    assert_eq!(outcome, Outcome::TimedOut);
    assert!(wall >= Duration::from_millis(700), "grace must be waited out: {wall:?}");
    assert!(wall < Duration::from_secs(5), "SIGKILL must follow the grace: {wall:?}");
}

#[tokio::test]
async fn grace_lets_the_process_clean_up() {
    let dir = tempfile::tempdir().unwrap();
    let s = sh(
        dir.path(),
        r#"trap 'echo cleaned > marker; exit 0' TERM; echo ok > ready; sleep 30 & wait"#,
    );
    let cancel = CancelToken::new();
    let task = tokio::spawn(run_process(s, cancel.clone()));
    wait_line(&dir.path().join("ready")).await;
    cancel.cancel();
    let (outcome, wall) = task.await.unwrap();
    assert_eq!(outcome, Outcome::Cancelled);
    assert_eq!(read(&dir.path().join("marker")), "cleaned\n");
    assert!(wall < Duration::from_secs(4), "{wall:?}");
}

#[tokio::test]
async fn cancel_kills_the_whole_group() {
    let dir = tempfile::tempdir().unwrap();
    let s = sh(dir.path(), "sleep 30 & echo $! > pidfile; wait");
    let cancel = CancelToken::new();
    let task = tokio::spawn(run_process(s, cancel.clone()));
    let grandchild = wait_pid(&dir.path().join("pidfile")).await;
    cancel.cancel();
    let (outcome, wall) =
        tokio::time::timeout(Duration::from_secs(10), task).await.unwrap().unwrap();
    assert_eq!(outcome, Outcome::Cancelled);
    assert!(wall < Duration::from_secs(4), "{wall:?}");
    assert!(
        gone_within(grandchild, Duration::from_secs(2)).await,
        "grandchild {grandchild} survived"
    );
}

#[tokio::test]
async fn grandchild_ignoring_term_is_killed_after_grace() {
    let dir = tempfile::tempdir().unwrap();
    // The leader dies on SIGTERM; its child ignores it and must still be SIGKILLed.
    let mut s = sh(dir.path(), r#"(trap "" TERM; exec sleep 30) & echo $! > pidfile; wait"#);
    s.grace = Duration::from_millis(300);
    let cancel = CancelToken::new();
    let task = tokio::spawn(run_process(s, cancel.clone()));
    let grandchild = wait_pid(&dir.path().join("pidfile")).await;
    // Let the subshell install its trap and exec.
    tokio::time::sleep(Duration::from_millis(200)).await;
    cancel.cancel();
    let (outcome, wall) =
        tokio::time::timeout(Duration::from_secs(10), task).await.unwrap().unwrap();
    assert_eq!(outcome, Outcome::Cancelled);
    assert!(wall >= Duration::from_millis(500), "the group's grace must be waited out: {wall:?}");
    assert!(
        gone_within(grandchild, Duration::from_secs(2)).await,
        "grandchild {grandchild} survived"
    );
}

#[tokio::test]
async fn stray_processes_are_killed_after_a_normal_exit() {
    let dir = tempfile::tempdir().unwrap();
    let s = sh(dir.path(), "sleep 30 & echo $! > pidfile");
    assert_eq!(run(s).await, Outcome::Exited(0));
    let stray: u32 = wait_line(&dir.path().join("pidfile")).await.parse().unwrap();
    assert!(gone_within(stray, Duration::from_secs(2)).await, "stray {stray} survived");
}

#[tokio::test]
async fn dropping_the_future_kills_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let s = sh(dir.path(), "sleep 30 & echo $! > pidfile; wait");
    let task = tokio::spawn(run_process(s, CancelToken::new()));
    let grandchild = wait_pid(&dir.path().join("pidfile")).await;
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert!(
        gone_within(grandchild, Duration::from_secs(2)).await,
        "grandchild {grandchild} survived"
    );
}

#[tokio::test]
async fn spawn_failures_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let missing = run(spec(dir.path(), &["definitely-not-a-program-7f3a"])).await;
    let Outcome::SpawnFailed(msg) = &missing else { panic!("{missing:?}") };
    assert!(msg.contains("definitely-not-a-program-7f3a"), "{msg}");
    assert!(!missing.success());

    let mut s = spec(dir.path(), &["/bin/true"]);
    s.cwd = dir.path().join("no-such-dir");
    let Outcome::SpawnFailed(msg) = run(s).await else { panic!() };
    assert!(msg.contains("no-such-dir"), "{msg}");

    let Outcome::SpawnFailed(msg) = run(spec(dir.path(), &[])).await else { panic!() };
    assert!(msg.contains("empty"), "{msg}");

    // A log that cannot be created fails the run once something is written to it.
    std::fs::write(dir.path().join("file"), "").unwrap();
    let mut s = sh(dir.path(), "echo hi");
    s.stdout_path = dir.path().join("file/stdout");
    let Outcome::LogFailed { code: 0, message } = run(s).await else { panic!() };
    assert!(message.contains("stdout") && message.contains("file/stdout"), "{message}");
    // A failed process too: why it failed may be why its log could not be written.
    let mut s = sh(dir.path(), "echo hi; exit 3");
    s.stdout_path = dir.path().join("file/stdout");
    let out = run(s).await;
    assert!(matches!(out, Outcome::LogFailed { code: 3, .. }), "{out:?}");
    assert!(out.to_string().starts_with("exited with code 3; its output could not be logged"));
}

#[tokio::test]
async fn a_silent_process_leaves_no_log_files() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(run(sh(dir.path(), "true")).await, Outcome::Exited(0));
    assert!(!dir.path().join("logs").exists());
    // Only the stream written to gets a file.
    assert_eq!(run(sh(dir.path(), "echo err >&2")).await, Outcome::Exited(0));
    assert!(!dir.path().join("logs/stdout.txt").exists());
    assert_eq!(read(&dir.path().join("logs/stderr.txt")), "err\n");
}

#[tokio::test]
async fn a_background_job_does_not_hold_the_logs_open() {
    // The job inherits the pipes; the group is killed when the step ends, so draining ends.
    let dir = tempfile::tempdir().unwrap();
    let (outcome, wall) =
        run_process(sh(dir.path(), "sleep 30 & echo started"), CancelToken::new()).await;
    assert_eq!(outcome, Outcome::Exited(0));
    assert!(wall < Duration::from_secs(5), "{wall:?}");
    assert_eq!(read(&dir.path().join("logs/stdout.txt")), "started\n");
}

#[tokio::test]
async fn already_cancelled_does_not_spawn() {
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancelToken::new();
    cancel.cancel();
    let (outcome, _) = run_process(sh(dir.path(), "echo ran > ran"), cancel).await;
    assert_eq!(outcome, Outcome::Cancelled);
    assert!(!dir.path().join("ran").exists());
}
