//! A host reached by OpenSSH (`[compute.NAME] kind = "ssh"`). One master connection per
//! target for the length of the build (`ssh -M`, `ControlPersist=no`: it ends with the
//! build), opened as soon as the engine knows a job will run there
//! ([`ComputeTarget::warm_up`], while it prepares the job) or by the first job, so a build
//! that runs nothing opens none. The host key is checked strictly (`StrictHostKeyChecking=yes`, against the user's
//! known_hosts or the target's `known_hosts`): an unknown or changed key fails every job,
//! naming the host; it is never accepted. Sources: ssh(1), ssh_config(5) of OpenSSH 9.2.
//!
//! The master's own session is the agent (module `agent`): one Python process on the host
//! (the target's `python`, sent as `-c` text) that makes the workdir, says its absolute
//! path (which is also how runner learns the connection is up, without polling its control
//! socket), then serves every job of the build over the session's stdin and stdout. A job
//! then costs no ssh session and no process on the host but its own step's. When the host
//! cannot run the agent (no such `python`, or not Python 3), the master's session only
//! holds the connection, and each job is one ssh session over it (module `session`, with
//! `tar`, `cp` and `setsid` on the host).
//!
//! What a job reads is sent content-addressed: each file's SHA-256 names a blob in
//! `<workdir>/blobs/` on the host; only blobs the host lacks are sent, a blob there is
//! always whole (written beside, then linked or renamed in, never replacing one), and the
//! job gets copies, never the blobs themselves. The job runs in its own session, so
//! cancelling or a timeout kills its whole process group there. When it ends, its folder
//! comes back (logs, records, and on success its outputs), every path checked to lie in
//! the job's output folders (module `back`; a tar stream is unpacked by the `tar` crate,
//! which writes nothing outside the scratch folder it is given), and its outputs are
//! checked against the digests recorded on the host. A connection lost while a job runs (the agent's stream ends, or
//! the job's session ends with ssh's own failure) fails that job, saying so; nothing of it
//! is cached.

mod agent;
mod back;
pub mod connect;
mod session;
mod stage;

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent::Agent;

use exec::{CancelToken, ComputeTarget, Job, JobFuture, WarmFuture};

use crate::job::quote;
use crate::{Error, nonce, tail};

/// An ssh target's settings (`[compute.NAME]` keys of kind `ssh`).
#[derive(Debug, Clone)]
pub struct SshConfig {
    /// `host`, as ssh takes it (never starting with `-`: the checker refuses that).
    pub host: String,
    /// `port`; `None`: ssh's (22, or the host's `Port` in ssh_config).
    pub port: Option<u16>,
    /// `user`; `None`: ssh's (the current user, or `User` in ssh_config).
    pub user: Option<String>,
    /// `identity_file`, `~/` expanded; `None`: ssh's defaults and agent.
    pub identity_file: Option<PathBuf>,
    /// `known_hosts`; `None`: ssh's own.
    pub known_hosts: Option<PathBuf>,
    /// `python`: the host's interpreter.
    pub python: String,
    /// `workdir` on the host: absolute, or relative to the login's home (`~/` stripped).
    pub workdir: String,
    /// A program that serves [`connect::CONNECT_ARG`] (runner's own binary): ssh then takes
    /// the connection it opens, with `TCP_NODELAY` (module [`connect`]), where the user's
    /// ssh configuration for the host leaves the connecting to it. `None`: ssh connects.
    pub connector: Option<PathBuf>,
}

/// A host reached by OpenSSH's client (`ssh` on `PATH`).
pub struct Ssh {
    name: String,
    config: SshConfig,
    master: tokio::sync::Mutex<Option<Master>>,
    sent: AtomicU64,
    /// Connections opened so far; each one's number tells a job's own from a newer one.
    opened: AtomicU64,
    /// How the last connection runs jobs: 0 none yet, 1 through the agent, 2 one session each.
    mode: AtomicU8,
    /// Whether the connector opens the connection, to which host name and port (`None`:
    /// ssh connects), once `ssh -G` was asked.
    via_connector: tokio::sync::OnceCell<Option<(String, String)>>,
}

/// The master connection: its process (whose own session is the agent, or a `cat` that
/// holds the connection when there is none), its control socket, and what jobs use of it.
struct Master {
    child: Mutex<std::process::Child>,
    socket_dir: PathBuf,
    conn: Conn,
    /// The master's stdin when no agent holds it: its session lasts until it closes.
    _stdin: Option<ChildStdin>,
}

/// What a job uses of the connection.
#[derive(Clone)]
struct Conn {
    /// The workdir's absolute path on the host.
    workdir: String,
    /// The agent; `None`: the host has no usable Python, and each job is one ssh session.
    agent: Option<Arc<Agent>>,
    /// Which connection of this target this is (see [`Ssh::ended_early`]).
    number: u64,
    /// The last of what the master printed on stderr.
    said: Arc<Mutex<String>>,
}

impl Ssh {
    /// The target named `name` in the pipeline.
    pub fn new(name: &str, config: SshConfig) -> Ssh {
        Ssh {
            name: name.to_owned(),
            config,
            master: tokio::sync::Mutex::new(None),
            sent: AtomicU64::new(0),
            opened: AtomicU64::new(0),
            mode: AtomicU8::new(0),
            via_connector: tokio::sync::OnceCell::new(),
        }
    }

    /// Bytes this target has sent to its host for jobs (blobs, job trees and scripts, with
    /// the agent's framing, or tar streams without an agent).
    pub fn bytes_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Whether jobs run through the agent on the host (`Some(true)`), or one ssh session
    /// each, because the host has no usable `python` (`Some(false)`); `None` before a
    /// connection has opened.
    pub fn uses_agent(&self) -> Option<bool> {
        match self.mode.load(Ordering::Relaxed) {
            1 => Some(true),
            2 => Some(false),
            _ => None,
        }
    }

    /// ssh's options for this target, with control socket `socket`, in a process group of
    /// its own.
    fn base(&self, socket: &Path) -> Command {
        use std::os::unix::process::CommandExt as _;
        let mut cmd = Command::new("ssh");
        // Its own process group: Ctrl-C in a terminal reaches runner, which stops the jobs
        // over these connections, not the connections first.
        cmd.process_group(0);
        cmd.args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"])
            .args(["-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"])
            .arg("-o")
            .arg(format!("ConnectTimeout={}", connect::CONNECT_TIMEOUT.as_secs()))
            .args(["-o", "LogLevel=ERROR", "-S"])
            .arg(socket);
        if let Some(kh) = &self.config.known_hosts {
            cmd.arg("-o").arg(format!("UserKnownHostsFile={}", kh.display()));
        }
        if let Some(p) = self.config.port {
            cmd.arg("-p").arg(p.to_string());
        }
        if let Some(u) = &self.config.user {
            cmd.arg("-l").arg(u);
        }
        if let Some(i) = &self.config.identity_file {
            cmd.arg("-i").arg(i).args(["-o", "IdentitiesOnly=yes"]);
        }
        cmd
    }

    /// `ssh … HOST COMMAND` over the master connection; `command` is shell text for the
    /// host's shell, made only of our own words and [`quote`]d values.
    fn remote(&self, m: &Master, command: &str) -> Command {
        let mut cmd = self.base(&m.socket_dir.join("ctl"));
        cmd.arg("--").arg(&self.config.host).arg(command);
        cmd
    }

    /// Opens the master connection if it is not open: with the agent, or, when the host
    /// cannot run it, without.
    async fn connect(&self) -> Result<Conn, Error> {
        let mut master = self.master.lock().await;
        if let Some(m) = master.as_ref() {
            return Ok(m.conn.clone());
        }
        let m = match self.open(true).await? {
            Some(m) => m,
            None => self.open(false).await?.ok_or_else(|| {
                Error::Command(format!("ssh host `{}`: the connection ended", self.config.host))
            })?,
        };
        let agent = m.conn.agent.is_some();
        self.mode.store(if agent { 1 } else { 2 }, Ordering::Relaxed);
        let conn = m.conn.clone();
        *master = Some(m);
        Ok(conn)
    }

    /// Opens a master connection whose own session is the agent (`agent`), or a `cat` that
    /// holds it; either first makes the workdir and says its absolute path. `None`: the
    /// session ended before that, not by ssh's failure (the host has no usable Python).
    ///
    /// Errors: ssh failed (the host key, no route, no login), or the workdir cannot be made.
    async fn open(&self, agent: bool) -> Result<Option<Master>, Error> {
        let socket_dir = std::env::temp_dir().join(format!("runner-ssh-{:x}", nonce()));
        std::fs::create_dir(&socket_dir).map_err(|e| Error::Io(socket_dir.clone(), e))?;
        let mut cmd = self.base(&socket_dir.join("ctl"));
        if let Some((program, host, port)) = self.connector().await {
            let proxy = connect::proxy_command(program, &host, &port);
            cmd.arg("-o").arg(format!("ProxyCommand={proxy}"));
            cmd.args(["-o", "ProxyUseFdpass=yes"]);
        }
        cmd.args(["-M", "-e", "none", "-o", "ControlPersist=no", "--"]);
        cmd.arg(&self.config.host).arg(self.master_command(agent));
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&socket_dir);
                return Err(Error::Command(format!("ssh: {e}")));
            }
        };
        let (mut stdin, stdout, stderr) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take());
        let said = Arc::new(Mutex::new(String::new()));
        let drained = stderr.map(|e| {
            let said = said.clone();
            std::thread::spawn(move || drain(e, &said))
        });
        let number = self.opened.fetch_add(1, Ordering::Relaxed);
        let conn = Conn { workdir: String::new(), agent: None, number, said: said.clone() };
        let mut m = Master { child: Mutex::new(child), socket_dir, conn, _stdin: None };
        let Some(stdout) = stdout else { return Err(Error::Command("ssh: no pipes".into())) };
        let first = tokio::task::spawn_blocking(move || {
            let mut r = BufReader::new(stdout);
            let mut line = String::new();
            let _ = r.read_line(&mut line);
            (r, line)
        });
        let Ok(Ok((r, line))) = tokio::time::timeout(OPEN_TIMEOUT, first).await else {
            return Err(Error::Command(format!(
                "ssh host `{}`: no connection after {} s",
                self.config.host,
                OPEN_TIMEOUT.as_secs()
            )));
        };
        if let Some(workdir) = agent::read_hello(&line)
            && let Some(stdin) = stdin.take()
        {
            m.conn.workdir = workdir;
            m.conn.agent = Some(Agent::start(stdin, r));
            return Ok(Some(m));
        } else if let Some(workdir) = line.strip_prefix("RUNNER-PLAIN ") {
            m.conn.workdir = workdir.trim_end_matches('\n').to_owned();
            m._stdin = stdin;
            return Ok(Some(m));
        }
        match self.why_ended(m, drained, &said, agent).await {
            Some(e) => Err(e),
            None => Ok(None),
        }
    }

    /// The connector to open the connection with, and the host name and port it connects
    /// to, when there is one and the user's ssh configuration for the host (`ssh -G`,
    /// asked once per target) leaves the connecting to it ([`connect::plain_connect`]).
    async fn connector(&self) -> Option<(&Path, String, String)> {
        let program = self.config.connector.as_deref()?;
        let resolved = self.via_connector.get_or_init(|| async {
            let mut cmd = self.base(Path::new("none"));
            cmd.args(["-G", "--"]).arg(&self.config.host);
            let out = self.output(cmd).await.ok()?;
            connect::plain_connect(&String::from_utf8_lossy(&out))
        });
        let (host, port) = resolved.await.clone()?;
        Some((program, host, port))
    }

    /// The master's own session, shell text of our own words with the workdir and the
    /// interpreter [`quote`]d: the agent (`agent`, when `python` is there) or a `cat` that
    /// holds the connection, either after making the workdir and saying its absolute path.
    fn master_command(&self, agent: bool) -> String {
        let wd = quote(&self.config.workdir);
        let plain = format!(
            "mkdir -p {wd}/blobs && cd {wd} && echo \"RUNNER-PLAIN $(pwd -P)\" && exec cat > /dev/null"
        );
        if !agent {
            return plain;
        }
        let py = quote(&self.config.python);
        let script = quote(agent::SCRIPT);
        // `-I -S`: the agent needs the standard library only, so neither the host's
        // PYTHON* variables nor its site packages may change it, and it starts sooner.
        format!("command -v {py} > /dev/null 2>&1 && exec {py} -I -S -c {script} {wd}; {plain}")
    }

    /// Why master `m` ended before its session's first line, from ssh's status and what it
    /// said (`said`, filled by the thread `drained`); `None` when it ran the agent and
    /// ended otherwise than by ssh's failure (the caller then tries without).
    async fn why_ended(
        &self,
        m: Master,
        drained: Option<std::thread::JoinHandle<()>>,
        said: &Mutex<String>,
        agent: bool,
    ) -> Option<Error> {
        let status = tokio::task::spawn_blocking(move || {
            let status = m.child.lock().unwrap_or_else(|e| e.into_inner()).wait();
            if let Some(t) = drained {
                let _ = t.join();
            }
            status
        })
        .await;
        let status = status.ok().and_then(Result::ok);
        let said = said.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let status_text = status.map_or_else(|| "no status".to_owned(), |s| s.to_string());
        if status.is_none_or(|s| s.code() == Some(255)) {
            return Some(self.connect_error(&said, &status_text));
        }
        if agent {
            return None;
        }
        Some(Error::Command(format!(
            "ssh host `{}`: cannot make the workdir `{}` ({status_text}): {}",
            self.config.host,
            self.config.workdir,
            tail(&said, 3).replace('\n', " ")
        )))
    }

    fn connect_error(&self, said: &str, status: &str) -> Error {
        let host = &self.config.host;
        let key = ["Host key verification failed", "HOST IDENTIFICATION HAS CHANGED", "host key"];
        if key.iter().any(|k| said.contains(k)) {
            return Error::Command(format!(
                "ssh host `{host}`: host key verification failed: its key is not in known_hosts, \
                 or it changed (runner never accepts a host key: check the key's fingerprint, \
                 then add it with `ssh-keyscan`): {}",
                tail(said, 2).replace('\n', " ")
            ));
        }
        Error::Command(format!(
            "ssh host `{host}`: cannot connect ({status}): {}",
            tail(said, 3).replace('\n', " ")
        ))
    }

    /// Runs `cmd` to its end on a blocking thread; its stdout.
    async fn output(&self, cmd: Command) -> Result<Vec<u8>, Error> {
        let host = self.config.host.clone();
        let mut cmd = tokio::process::Command::from(cmd);
        cmd.stdin(Stdio::null()).kill_on_drop(true);
        let out = cmd.output().await.map_err(|e| Error::Command(format!("ssh: {e}")))?;
        if !out.status.success() {
            let said = tail(&String::from_utf8_lossy(&out.stderr), 3);
            return Err(Error::Command(format!("ssh host `{host}`: {} ({said})", out.status)));
        }
        Ok(out.stdout)
    }
}

/// How long opening a connection may take, login and the agent's start included.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// Reads what the master prints on stderr until it ends, keeping the last few KiB in
/// `said` (read unless the pipe would fill and stop the master).
fn drain(mut from: std::process::ChildStderr, said: &Mutex<String>) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 {
            break;
        }
        let mut s = said.lock().unwrap_or_else(|e| e.into_inner());
        s.push_str(&String::from_utf8_lossy(&buf[..n]));
        if s.len() > 8192 {
            let cut = s.len() - 4096;
            let cut = (cut..s.len()).find(|i| s.is_char_boundary(*i)).unwrap_or(s.len());
            s.drain(..cut);
        }
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        // Its connection ends with it (`ControlPersist=no`): jobs over it are over too.
        let child = self.child.get_mut().unwrap_or_else(|e| e.into_inner());
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(&self.socket_dir);
    }
}

impl ComputeTarget for Ssh {
    fn describe(&self) -> String {
        format!("ssh host `{}` (`{}`)", self.config.host, self.name)
    }

    fn runs_here(&self) -> bool {
        false
    }

    fn run(&self, job: Job, cancel: CancelToken) -> JobFuture<'_> {
        Box::pin(self.run_job(job, cancel))
    }

    /// Opens the connection (its failure is left for the jobs, which try again and report).
    fn warm_up(&self) -> WarmFuture<'_> {
        Box::pin(async {
            let _ = self.connect().await;
        })
    }
}
