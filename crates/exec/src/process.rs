//! Running one process: its own process group, logs to files, timeout, cancellation, clean stop.
//!
//! # Mechanism
//!
//! 1. The log files are created (parent folders too), stdin is `/dev/null`, and the program is spawned
//!    directly (no shell) with `CommandExt::process_group(0)`, so the child leads a new process group
//!    whose id is its pid. `setpgid` runs in the child before `exec`, and `spawn` returns only after
//!    the `exec` succeeded, so the group exists before anything can signal it.
//! 2. We wait for the first of: the child exits, the timeout elapses, the [`CancelToken`] fires.
//! 3. To stop (timeout or cancel), `SIGTERM` goes to the whole group (`killpg`), so grandchildren get it
//!    too, and a well-behaved program can clean up. We wait up to `grace` for the child to exit and for
//!    the rest of its group to go away; whatever is still there then gets `SIGKILL` (this also handles
//!    programs that trap or ignore `SIGTERM`). The child is always reaped.
//! 4. Whenever the call ends, processes left in the group (say, a background job the step forgot) are
//!    sent `SIGKILL`: a step is over when its process is, and nothing may keep writing to its outputs.
//!    The same happens if the returned future is dropped before completion (e.g. its task is aborted);
//!    tokio then reaps the killed child in the background.
//!
//! A process that moves itself to another group or session (`setsid`, daemons) escapes; reaching those
//! would need cgroups or a subreaper, which the local target does not use.

use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::CancelToken;

/// Poll interval while waiting, during the grace period, for the rest of a group to exit.
const GROUP_POLL: Duration = Duration::from_millis(10);

/// One process to run. Nothing goes through a shell: `argv[0]` is the program, each later element one
/// argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSpec {
    /// The program (`argv[0]`, looked up in `PATH` when it has no `/`) and its arguments, passed
    /// verbatim. Must not be empty.
    pub argv: Vec<OsString>,
    /// Working directory of the process; must exist.
    pub cwd: PathBuf,
    /// Extra environment variables, added to the inherited environment (a name given here overrides
    /// the inherited value).
    pub env: Vec<(OsString, OsString)>,
    /// stdout is written to this file (created or truncated; missing parent folders are created).
    pub stdout_path: PathBuf,
    /// stderr is written to this file (created or truncated; missing parent folders are created).
    /// May equal `stdout_path`: both streams then share one file, interleaved.
    pub stderr_path: PathBuf,
    /// Wall-clock limit; `None` = no limit.
    pub timeout: Option<Duration>,
    /// Time between `SIGTERM` and `SIGKILL` when stopping (timeout or cancel).
    pub grace: Duration,
}

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It exited by itself with this exit code (0 = success).
    Exited(i32),
    /// It was killed by this signal number, sent by something other than us (e.g. the OOM killer).
    Signaled(i32),
    /// It ran longer than [`ProcessSpec::timeout`] and was stopped.
    TimedOut,
    /// The [`CancelToken`] fired (before the start, or while it ran and it was stopped).
    Cancelled,
    /// It could not be started (or waited for); the message says why and names the program or file.
    SpawnFailed(String),
}

impl Outcome {
    /// Whether the process exited with code 0.
    pub fn success(&self) -> bool {
        *self == Outcome::Exited(0)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Exited(code) => write!(f, "exited with code {code}"),
            Outcome::Signaled(sig) => write!(f, "killed by signal {sig}"),
            Outcome::TimedOut => f.write_str("timed out"),
            Outcome::Cancelled => f.write_str("cancelled"),
            Outcome::SpawnFailed(msg) => write!(f, "failed to start: {msg}"),
        }
    }
}

/// Runs one process to completion and returns how it ended and its wall time.
///
/// Spawns `spec.argv` in its own process group (`CommandExt::process_group(0)`) with stdin null and
/// stdout/stderr redirected to `spec.stdout_path`/`spec.stderr_path`, then waits for it. On timeout,
/// or when `cancel` fires, sends `SIGTERM` to the whole group, waits up to `spec.grace`, then sends
/// `SIGKILL` to the group; the child is always reaped. Processes it left in its group are killed when
/// the call ends, and also if this future is dropped early.
///
/// Returns [`Outcome::Cancelled`] without spawning if `cancel` already fired, and
/// [`Outcome::SpawnFailed`] for an empty `argv`, a missing working directory, an unwritable log file,
/// or a program that cannot be executed. If the process exits on its own at the same moment a stop is
/// triggered, its real exit status wins. The duration runs from just before the spawn to the reap.
pub async fn run_process(spec: ProcessSpec, cancel: CancelToken) -> (Outcome, Duration) {
    let started = Instant::now();
    if cancel.is_cancelled() {
        return (Outcome::Cancelled, started.elapsed());
    }
    let mut child = match spawn(&spec) {
        Ok(child) => child,
        Err(msg) => return (Outcome::SpawnFailed(msg), started.elapsed()),
    };
    let program = display_program(&spec.argv[0]);
    // Kills leftovers in the group when dropped: at every return below, or if we are dropped.
    let group = GroupGuard { pgid: child.id().and_then(|pid| libc::pid_t::try_from(pid).ok()) };

    let deadline = spec.timeout.and_then(|t| tokio::time::Instant::now().checked_add(t));
    let stop_reason = tokio::select! {
        biased;
        status = child.wait() => return (exit_outcome(status, &program), started.elapsed()),
        () = sleep_until_opt(deadline) => Outcome::TimedOut,
        () = cancel.cancelled() => Outcome::Cancelled,
    };

    group.signal(libc::SIGTERM);
    let grace_end = Instant::now().checked_add(spec.grace);
    match tokio::time::timeout(spec.grace, child.wait()).await {
        Ok(Ok(_)) => group.wait_empty(grace_end).await,
        Ok(Err(e)) => return (wait_failed(&program, &e), started.elapsed()),
        Err(_elapsed) => {
            group.signal(libc::SIGKILL);
            if let Err(e) = child.wait().await {
                return (wait_failed(&program, &e), started.elapsed());
            }
        }
    }
    (stop_reason, started.elapsed())
}

/// Opens the log files and spawns the child; errors are user-facing messages.
fn spawn(spec: &ProcessSpec) -> Result<Child, String> {
    let Some((program, args)) = spec.argv.split_first() else {
        return Err("empty command line (argv has no program)".to_owned());
    };
    if !spec.cwd.is_dir() {
        return Err(format!(
            "cannot run `{}`: working directory `{}` does not exist",
            display_program(program),
            spec.cwd.display()
        ));
    }
    let stdout = create_log(&spec.stdout_path, "stdout")?;
    let stderr = if spec.stderr_path == spec.stdout_path {
        stdout.try_clone().map_err(|e| format!("cannot share the stdout file for stderr: {e}"))?
    } else {
        create_log(&spec.stderr_path, "stderr")?
    };
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(&spec.cwd)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0);
    cmd.spawn().map_err(|e| format!("cannot run `{}`: {e}", display_program(program)))
}

fn create_log(path: &Path, which: &str) -> Result<File, String> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| {
            format!("cannot create the folder of the {which} file `{}`: {e}", path.display())
        })?;
    }
    File::create(path)
        .map_err(|e| format!("cannot create the {which} file `{}`: {e}", path.display()))
}

fn display_program(program: &std::ffi::OsStr) -> String {
    program.to_string_lossy().into_owned()
}

fn exit_outcome(status: std::io::Result<ExitStatus>, program: &str) -> Outcome {
    match status {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => Outcome::Exited(code),
            (None, Some(sig)) => Outcome::Signaled(sig),
            // `wait` reports only terminated children, which have a code or a signal.
            (None, None) => Outcome::Exited(-1),
        },
        Err(e) => wait_failed(program, &e),
    }
}

fn wait_failed(program: &str, e: &std::io::Error) -> Outcome {
    Outcome::SpawnFailed(format!("waiting for `{program}` failed: {e}"))
}

async fn sleep_until_opt(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// The child's process group. Dropping it sends `SIGKILL` to whatever is still in the group.
///
/// After the leader is reaped, its pid stays reserved by the kernel while any member of the group
/// lives, so signalling the group then reaches only our leftovers; once the group is empty the signal
/// fails with `ESRCH`, which is ignored.
struct GroupGuard {
    /// `None` only if the pid was unavailable (cannot happen right after a successful spawn).
    pgid: Option<libc::pid_t>,
}

impl GroupGuard {
    fn signal(&self, sig: libc::c_int) {
        if let Some(pgid) = self.pgid {
            // ESRCH (group already gone) is the expected failure; nothing else can be done anyway.
            let _ = killpg(pgid, sig);
        }
    }

    /// Whether any process is left in the group (probed with signal 0).
    fn is_alive(&self) -> bool {
        self.pgid.is_some_and(|pgid| match killpg(pgid, 0) {
            Ok(()) => true,
            Err(e) => e.raw_os_error() != Some(libc::ESRCH),
        })
    }

    /// Waits until the group is empty or `until` passes (`None` = no limit).
    async fn wait_empty(&self, until: Option<Instant>) {
        while self.is_alive() && until.is_none_or(|t| Instant::now() < t) {
            tokio::time::sleep(GROUP_POLL).await;
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.signal(libc::SIGKILL);
    }
}

/// Sends `sig` to every process in group `pgid`. Refuses `pgid <= 1`, which would mean our own group
/// (0) or every process we may signal (-1 / 1 semantics).
#[allow(unsafe_code)]
fn killpg(pgid: libc::pid_t, sig: libc::c_int) -> std::io::Result<()> {
    if pgid <= 1 {
        return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: killpg(2) takes two plain integers and touches no memory of ours; it has no
    // preconditions beyond valid arguments, and invalid ones only make it return an error.
    let rc = unsafe { libc::killpg(pgid, sig) };
    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}
