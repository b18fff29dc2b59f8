//! Step processes that outlive their runner: tagging them, and killing them when it dies.
//!
//! Every step process of a run carries an environment variable, [`TAG_VAR`], whose value
//! names its run (a [`RunTag`]); children inherit it, so it marks the step's whole process
//! tree, including a grandchild that left the step's process group (`setsid`, a daemon), as
//! long as it keeps its environment. Two mechanisms use the tag:
//!
//! - **A supervisor per build** ([`Supervisor`]): a small process started (in a process group
//!   of its own, so a signal to the runner's group spares it) when a build first spawns a
//!   step. It reads a pipe whose writing end only the runner holds (it is close-on-exec, so no
//!   step inherits it). When the runner ends normally it writes [`Supervisor::finish`]'s
//!   byte first; when it dies any other way (`SIGKILL`, a crash, the OOM killer) the pipe
//!   reaches end-of-file without it, and the supervisor kills every process carrying the tag
//!   ([`kill_tagged`]: `SIGTERM`, a grace period, then `SIGKILL`).
//! - **The next build**: runs whose runner died are found by `history::History::reap_stale`;
//!   the build kills what still carries their tags, in case the supervisor died too.
//!
//! Finding processes: every `/proc/<pid>/environ` readable by us is searched for the tag. A
//! process is signalled through a pidfd opened *before* its environment was read and checked
//! alive *after*, so a pid reused in between is never signalled (pidfds: Linux 5.3; without
//! them, `kill` by pid, with that small race).
//!
//! Limits: a process that clears its environment, or runs as another user, is not found.
//! A cgroup per run would close that gap (kill everything in `cgroup.procs`, or
//! `cgroup.kill` on Linux 5.14+), where the runner may create one (cgroup v2 with delegation,
//! e.g. `systemd-run --user --scope`); the local target does not require it.

use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

/// The environment variable that carries a step's [`RunTag`].
pub const TAG_VAR: &str = "RUNNER_RUN_TAG";

/// The byte a runner writes to its supervisor before it exits normally.
const FINISHED: u8 = b'.';

/// How long [`kill_tagged`] waits after `SIGTERM` before it sends `SIGKILL`.
pub const KILL_GRACE: Duration = Duration::from_secs(2);

/// The tag of one run's step processes: 32 hex characters derived from the run's state
/// folder and id, so two projects' run 7 get different tags and the next build can compute
/// the tag of a run that died.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RunTag(String);

impl RunTag {
    /// The tag of run `run_id` of the state folder `state`, by its canonical path (so every
    /// spelling of the folder gives one tag; `state` as given if it cannot be resolved).
    pub fn new(state: &Path, run_id: i64) -> RunTag {
        let canonical = std::fs::canonicalize(state);
        let state = canonical.as_deref().unwrap_or(state);
        let mut h = Sha256::new();
        h.update(state.as_os_str().as_encoded_bytes());
        h.update([0]);
        h.update(run_id.to_le_bytes());
        let d = h.finalize();
        RunTag(d[..16].iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The value of [`TAG_VAR`] (32 lowercase hex characters).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Parses a tag given to the supervisor; `None` unless it is 32 lowercase hex characters.
    pub fn parse(s: &str) -> Option<RunTag> {
        let ok = s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        ok.then(|| RunTag(s.to_owned()))
    }

    /// `RUNNER_RUN_TAG=<tag>`, an entry of `/proc/<pid>/environ`.
    fn needle(&self) -> Vec<u8> {
        format!("{TAG_VAR}={}", self.0).into_bytes()
    }
}

/// A running supervisor of one build's step processes (see the module docs). Dropping it
/// without [`Supervisor::finish`] makes it kill every process carrying its tag, as the
/// runner's death would.
#[derive(Debug)]
pub struct Supervisor {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Supervisor {
    /// Starts `program args…` as the supervisor of `tag`, in a process group of its own, its
    /// stdin a pipe from us, stdout and stderr discarded. `program` must end up calling
    /// [`serve`] with `tag` (the runner binary re-runs itself with a hidden argument).
    ///
    /// Errors: the program cannot be started.
    pub fn start(program: &Path, args: &[&str]) -> io::Result<Supervisor> {
        use std::os::unix::process::CommandExt as _;
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()?;
        let stdin = child.stdin.take();
        Ok(Supervisor { child, stdin })
    }

    /// Tells the supervisor the runner is ending normally (every step process is gone), and
    /// reaps it.
    pub fn finish(mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(&[FINISHED]);
        }
        let _ = self.child.wait();
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        // Closing the pipe without the byte: the supervisor cleans up, and exits on its own.
        self.stdin.take();
    }
}

/// The supervisor's body: blocks until `input` (the runner's pipe) ends; unless the runner
/// wrote [`Supervisor::finish`]'s byte first, kills every process tagged `tag`. Returns how
/// many processes it signalled.
pub fn serve(tag: &RunTag, mut input: impl Read) -> usize {
    let mut finished = false;
    let mut buf = [0u8; 64];
    loop {
        match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => finished |= buf[..n].contains(&FINISHED),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    if finished { 0 } else { kill_tagged(std::slice::from_ref(tag), KILL_GRACE) }
}

/// Kills every process (other than this one) carrying one of `tags`: `SIGTERM` first, then,
/// after `grace`, `SIGKILL` to those still alive. Returns how many processes were found.
/// Processes we may not read or signal (another user's) are skipped.
pub fn kill_tagged(tags: &[RunTag], grace: Duration) -> usize {
    if tags.is_empty() {
        return 0;
    }
    let needles: Vec<Vec<u8>> = tags.iter().map(RunTag::needle).collect();
    let found = find_tagged(&needles);
    for p in &found {
        p.signal(rustix::process::Signal::TERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && found.iter().any(Tagged::alive) {
        std::thread::sleep(Duration::from_millis(20));
    }
    for p in found.iter().filter(|p| p.alive()) {
        p.signal(rustix::process::Signal::KILL);
    }
    found.len()
}

/// A process found carrying a tag: its pid, and a pidfd where the kernel has them.
struct Tagged {
    pid: rustix::process::Pid,
    pidfd: Option<OwnedFd>,
}

impl Tagged {
    fn signal(&self, sig: rustix::process::Signal) {
        let _ = match &self.pidfd {
            Some(fd) => rustix::process::pidfd_send_signal(fd, sig),
            None => rustix::process::kill_process(self.pid, sig),
        };
    }

    /// Whether it has not exited (a pidfd turns readable when its process exits).
    fn alive(&self) -> bool {
        match &self.pidfd {
            Some(fd) => !exited(fd),
            None => rustix::process::test_kill_process(self.pid).is_ok(),
        }
    }
}

/// Whether the process behind `pidfd` has exited (it polls readable then).
fn exited(pidfd: &OwnedFd) -> bool {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let mut fds = [PollFd::new(pidfd, PollFlags::IN)];
    let zero = Timespec { tv_sec: 0, tv_nsec: 0 };
    matches!(poll(&mut fds, Some(&zero)), Ok(n) if n > 0)
}

/// Every process whose environment holds one of `needles`, found through `/proc`.
fn find_tagged(needles: &[Vec<u8>]) -> Vec<Tagged> {
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Some(pid) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw) else {
            continue;
        };
        // Opened before the environment is read: if the process is still alive after the
        // read, the pid was its own all along.
        let pidfd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok();
        let Ok(env) = std::fs::read(entry.path().join("environ")) else { continue };
        if !needles.iter().any(|n| contains(&env, n)) {
            continue;
        }
        let p = Tagged { pid, pidfd };
        if p.alive() {
            found.push(p);
        }
    }
    found
}

/// Whether `hay` (NUL-separated `NAME=value` entries) holds `needle` as a whole entry.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.split(|&b| b == 0).any(|entry| entry == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `sleep` carrying `tag`, returned once its environment is readable: `spawn` returns
    /// when the child has called `execve`, but the kernel sets the new image's environment
    /// bounds (what `/proc/PID/environ` reads) a moment later, and a loaded machine shows
    /// that moment.
    fn sleeper(tag: &RunTag) -> Child {
        let child = Command::new("sleep").arg("30").env(TAG_VAR, tag.as_str()).spawn().unwrap();
        let environ = format!("/proc/{}/environ", child.id());
        let deadline = Instant::now() + Duration::from_secs(10);
        while !std::fs::read(&environ).is_ok_and(|e| contains(&e, &tag.needle())) {
            assert!(Instant::now() < deadline, "the sleeper's environment never showed its tag");
            std::thread::sleep(Duration::from_millis(1));
        }
        child
    }

    #[test]
    fn tags_differ_per_state_folder_and_run() {
        let a = RunTag::new(Path::new("/p/.runner"), 7);
        assert_eq!(a, RunTag::new(Path::new("/p/.runner"), 7));
        assert_ne!(a, RunTag::new(Path::new("/q/.runner"), 7));
        assert_ne!(a, RunTag::new(Path::new("/p/.runner"), 8));
        assert_eq!(RunTag::parse(a.as_str()), Some(a.clone()));
        assert_eq!(RunTag::parse("not a tag"), None);
        assert_eq!(RunTag::parse(&a.as_str().to_uppercase()), None);
    }

    #[test]
    fn whole_entries_only() {
        let tag = RunTag::parse("0123456789abcdef0123456789abcdef").unwrap();
        let n = tag.needle();
        assert!(contains(b"A=1\0RUNNER_RUN_TAG=0123456789abcdef0123456789abcdef\0", &n));
        // The last entry may lack its NUL.
        assert!(contains(b"A=1\0RUNNER_RUN_TAG=0123456789abcdef0123456789abcdef", &n));
        assert!(!contains(b"XRUNNER_RUN_TAG=0123456789abcdef0123456789abcdef\0", &n));
        assert!(!contains(b"RUNNER_RUN_TAG=0123456789abcdef0123456789abcdef0\0", &n));
    }

    #[test]
    fn kills_tagged_processes_and_spares_the_rest() {
        let tag = RunTag::new(Path::new("/kill/test"), std::process::id().into());
        let other = RunTag::new(Path::new("/kill/other"), std::process::id().into());
        let mut tagged = sleeper(&tag);
        let mut spared = sleeper(&other);
        assert_eq!(kill_tagged(std::slice::from_ref(&tag), KILL_GRACE), 1);
        let status = tagged.wait().unwrap();
        assert!(!status.success(), "{status}");
        assert_eq!(spared.try_wait().unwrap(), None, "a process of another run was killed");
        spared.kill().unwrap();
        spared.wait().unwrap();
    }

    #[test]
    fn serve_kills_on_eof_and_not_after_finish() {
        let tag = RunTag::new(Path::new("/serve/test"), std::process::id().into());
        let mut child = sleeper(&tag);
        assert_eq!(serve(&tag, &[FINISHED][..]), 0);
        assert_eq!(child.try_wait().unwrap(), None, "killed after a normal finish");
        assert_eq!(serve(&tag, &b""[..]), 1);
        assert!(!child.wait().unwrap().success());
    }
}
