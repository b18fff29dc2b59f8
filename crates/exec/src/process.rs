//! Running one process: its own process group, logs to files, timeout, cancellation, clean stop.
//!
//! # Mechanism
//!
//! 1. stdout and stderr are pipes (one pipe for both when they share a log file, so their order
//!    is kept), stdin is `/dev/null`, and the program is spawned directly (no shell) with
//!    `CommandExt::process_group(0)`, so the child leads a new process group whose id is its pid.
//!    `setpgid` runs in the child before `exec`, and `spawn` returns only after the `exec`
//!    succeeded, so the group exists before anything can signal it. A task copies each pipe into
//!    its log file, which is created (parent folders too) when the first byte arrives: a step that
//!    prints nothing costs no file (creating one can cost 0.3 ms on a busy ext4, more than many
//!    steps take), as ninja, which also reads its commands' output through pipes.
//! 2. We wait for the first of: the child exits, the timeout elapses, the [`CancelToken`] fires.
//! 3. To stop (timeout or cancel), `SIGTERM` goes to the whole group (`killpg`), so grandchildren get it
//!    too, and a well-behaved program can clean up. We wait up to `grace` for the child to exit and for
//!    the rest of its group to go away; whatever is still there then gets `SIGKILL` (this also handles
//!    programs that trap or ignore `SIGTERM`). The child is always reaped.
//! 4. Whenever the call ends, processes left in the group (say, a background job the step forgot) are
//!    sent `SIGKILL`: a step is over when its process is, and nothing may keep writing to its outputs.
//!    The same happens if the returned future is dropped before completion (e.g. its task is aborted);
//!    tokio then reaps the killed child in the background. Then the pipes are drained into the logs
//!    (for at most [`DRAIN_LIMIT`] more, in case a process that left the group still holds them).
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

/// How long, after the process ended and its group was killed, its output is still read: only
/// a process that left the group (`setsid`) can keep a pipe open that long.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(2);

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
    /// stdout is written to this file, created (or truncated) with missing parent folders when
    /// the process first writes to stdout; no file when it writes nothing.
    pub stdout_path: PathBuf,
    /// stderr is written to this file, as for `stdout_path`. May equal `stdout_path`: both
    /// streams then share one pipe and one file, in the order they were written.
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
    /// It exited with `code`, but what it printed could not be written to its log file (the
    /// message names the file, and says why: a full disk, say, which may also be why it
    /// failed); its run cannot be trusted to be complete.
    LogFailed {
        /// Its exit code.
        code: i32,
        /// Which log could not be written, and why.
        message: String,
    },
    /// It ran elsewhere and ended without an exit code of its own: a Slurm job that ended
    /// `TIMEOUT`, `NODE_FAIL`, …, or a connection to its host lost while it ran. The message
    /// names the state or the failure and the job (a Slurm job id, a host).
    Failed(String),
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
            Outcome::LogFailed { code: 0, message } => {
                write!(f, "its output could not be logged: {message}")
            }
            Outcome::LogFailed { code, message } => {
                write!(f, "exited with code {code}; its output could not be logged: {message}")
            }
            Outcome::Failed(msg) => f.write_str(msg),
        }
    }
}

/// Runs one process to completion and returns how it ended and its wall time.
///
/// Spawns `spec.argv` in its own process group (`CommandExt::process_group(0)`) with stdin null and
/// stdout/stderr piped into `spec.stdout_path`/`spec.stderr_path` (each created on its first byte),
/// then waits for it. On timeout, or when `cancel` fires, sends `SIGTERM` to the whole group, waits
/// up to `spec.grace`, then sends `SIGKILL` to the group; the child is always reaped. Processes it
/// left in its group are killed when the call ends, and also if this future is dropped early; then
/// its output is drained into the logs (for at most `DRAIN_LIMIT`, 2 s, more).
///
/// Returns [`Outcome::Cancelled`] without spawning if `cancel` already fired,
/// [`Outcome::SpawnFailed`] for an empty `argv`, a missing working directory, or a program that
/// cannot be executed, and [`Outcome::LogFailed`] instead of `Exited` when a log file could not
/// be written. If the process exits on its own at the same moment a stop is triggered, its real
/// exit status wins. The duration runs from just before the spawn to the reap.
pub async fn run_process(spec: ProcessSpec, cancel: CancelToken) -> (Outcome, Duration) {
    let started = Instant::now();
    if cancel.is_cancelled() {
        return (Outcome::Cancelled, started.elapsed());
    }
    let (mut child, drains) = match spawn(&spec) {
        Ok(spawned) => spawned,
        Err(msg) => return (Outcome::SpawnFailed(msg), started.elapsed()),
    };
    let drain = tokio::spawn(drains);
    let program = display_program(&spec.argv[0]);
    let group = GroupGuard { pgid: child.id().and_then(|pid| libc::pid_t::try_from(pid).ok()) };
    let outcome = wait(&mut child, &spec, &cancel, &group, &program).await;
    // Leftovers in the group would keep the pipes open; the guard kills them again on drop.
    group.signal(libc::SIGKILL);
    let logged = match tokio::time::timeout(DRAIN_LIMIT, drain).await {
        Ok(Ok(r)) => r,
        Ok(Err(join)) => Err(format!("copying its output failed: {join}")),
        // Someone outside the group still holds a pipe: what was read so far is in the log.
        Err(_) => Ok(()),
    };
    let outcome = match (outcome, logged) {
        (Outcome::Exited(code), Err(message)) => Outcome::LogFailed { code, message },
        (outcome, _) => outcome,
    };
    (outcome, started.elapsed())
}

/// Waits for the child to exit, or stops it on timeout or cancellation.
async fn wait(
    child: &mut Child,
    spec: &ProcessSpec,
    cancel: &CancelToken,
    group: &GroupGuard,
    program: &str,
) -> Outcome {
    let deadline = spec.timeout.and_then(|t| tokio::time::Instant::now().checked_add(t));
    let stop_reason = tokio::select! {
        biased;
        status = child.wait() => return exit_outcome(status, program),
        () = sleep_until_opt(deadline) => Outcome::TimedOut,
        () = cancel.cancelled() => Outcome::Cancelled,
    };

    group.signal(libc::SIGTERM);
    let grace_end = Instant::now().checked_add(spec.grace);
    match tokio::time::timeout(spec.grace, child.wait()).await {
        Ok(Ok(_)) => group.wait_empty(grace_end).await,
        Ok(Err(e)) => return wait_failed(program, &e),
        Err(_elapsed) => {
            group.signal(libc::SIGKILL);
            if let Err(e) = child.wait().await {
                return wait_failed(program, &e);
            }
        }
    }
    stop_reason
}

/// Copies everything each pipe delivers into its log (see [`LazyLog`]); the first write error.
type Drains = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>>;

/// Spawns the child with its output piped; errors are user-facing messages.
fn spawn(spec: &ProcessSpec) -> Result<(Child, Drains), String> {
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
    let pipe_err = |e: std::io::Error| format!("cannot create a pipe for its output: {e}");
    let (out_r, out_w) = std::io::pipe().map_err(pipe_err)?;
    let shared = spec.stderr_path == spec.stdout_path;
    let (err_r, err_w) = if shared {
        (None, out_w.try_clone().map_err(pipe_err)?)
    } else {
        let (r, w) = std::io::pipe().map_err(pipe_err)?;
        (Some(r), w)
    };
    // The read ends are registered with the runtime before the child exists, so nothing can
    // fail between its spawn and the return.
    let out_r = receiver(out_r)?;
    let err_r = err_r.map(receiver).transpose()?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(&spec.cwd)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::from(out_w))
        .stderr(Stdio::from(err_w))
        .process_group(0);
    let child =
        cmd.spawn().map_err(|e| format!("cannot run `{}`: {e}", display_program(program)))?;
    // `cmd` holds the write ends until it is dropped: drop it, so the pipes end with the child.
    drop(cmd);
    let out = LazyLog::new(&spec.stdout_path, "stdout");
    let err = LazyLog::new(&spec.stderr_path, "stderr");
    let drains: Drains = Box::pin(async move {
        let (a, b) = tokio::join!(out.copy_from(out_r), async move {
            match err_r {
                Some(r) => err.copy_from(r).await,
                None => Ok(()),
            }
        });
        a.and(b)
    });
    Ok((child, drains))
}

fn receiver(r: std::io::PipeReader) -> Result<tokio::net::unix::pipe::Receiver, String> {
    tokio::net::unix::pipe::Receiver::from_owned_fd(std::os::fd::OwnedFd::from(r))
        .map_err(|e| format!("cannot read its output pipe: {e}"))
}

/// A log file created on the first byte written to it.
struct LazyLog {
    path: PathBuf,
    which: &'static str,
}

impl LazyLog {
    fn new(path: &Path, which: &'static str) -> LazyLog {
        LazyLog { path: path.to_path_buf(), which }
    }

    /// Copies `pipe` to the file until end of input. After a write error the rest is still
    /// read (and dropped), so the writer never blocks on a full pipe.
    async fn copy_from(self, mut pipe: tokio::net::unix::pipe::Receiver) -> Result<(), String> {
        use std::io::Write as _;
        use tokio::io::AsyncReadExt as _;
        let mut file: Option<File> = None;
        let mut failed: Option<String> = None;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match pipe.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    failed.get_or_insert(format!("reading its {}: {e}", self.which));
                    break;
                }
            };
            if failed.is_some() {
                continue;
            }
            if file.is_none() {
                match create_log(&self.path, self.which) {
                    Ok(f) => file = Some(f),
                    Err(msg) => {
                        failed = Some(msg);
                        continue;
                    }
                }
            }
            // Page-cache writes of a log: short enough to do on the runtime's thread.
            if let Some(f) = file.as_mut()
                && let Err(e) = f.write_all(&buf[..n])
            {
                failed =
                    Some(format!("writing the {} file `{}`: {e}", self.which, self.path.display()));
            }
        }
        failed.map_or(Ok(()), Err)
    }
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
