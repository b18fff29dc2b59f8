//! A host reached by OpenSSH (`[compute.NAME] kind = "ssh"`). One master connection per
//! target for the length of the build (`ssh -M`, `ControlPersist=no`: it ends with the
//! build), opened by the first job that runs there, so a build that runs nothing opens
//! none. The host key is checked strictly (`StrictHostKeyChecking=yes`, against the user's
//! known_hosts or the target's `known_hosts`): an unknown or changed key fails every job,
//! naming the host; it is never accepted. Sources: ssh(1), ssh_config(5) of OpenSSH 9.2.
//!
//! What a job reads is sent content-addressed: each file's SHA-256 names a blob in
//! `<workdir>/blobs/` on the host; only blobs the host lacks are sent (in one tar stream,
//! with the job's tree as hard links to them), and the job gets copies, never the blobs
//! themselves. The job runs in its own session (`setsid -w`), so cancelling or a timeout
//! kills its whole process group there. When it ends, its folder comes back in one tar
//! stream (unpacked by the `tar` crate, which writes nothing outside the folder it is
//! given), and its outputs are checked against the digests the job recorded. A connection
//! lost while a job runs fails that job, saying so; nothing of it is cached.

mod session;
mod stage;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use exec::{CancelToken, ComputeTarget, Job, JobFuture};

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
}

/// A host reached by OpenSSH's client (`ssh` on `PATH`).
pub struct Ssh {
    name: String,
    config: SshConfig,
    master: tokio::sync::Mutex<Option<Master>>,
    sent: AtomicU64,
}

/// The master connection: its process, its control socket, the workdir's absolute path.
struct Master {
    child: Mutex<std::process::Child>,
    socket_dir: PathBuf,
    workdir: String,
}

impl Ssh {
    /// The target named `name` in the pipeline.
    pub fn new(name: &str, config: SshConfig) -> Ssh {
        Ssh {
            name: name.to_owned(),
            config,
            master: tokio::sync::Mutex::new(None),
            sent: AtomicU64::new(0),
        }
    }

    /// Bytes this target has sent to its host for jobs (tar streams of blobs and job trees).
    pub fn bytes_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
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
            .args(["-o", "ConnectTimeout=15", "-o", "LogLevel=ERROR", "-S"])
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

    /// Opens the master connection if it is not open; gives the workdir's absolute path.
    async fn connect(&self) -> Result<String, Error> {
        let mut master = self.master.lock().await;
        if let Some(m) = master.as_ref() {
            return Ok(m.workdir.clone());
        }
        let socket_dir = std::env::temp_dir().join(format!("runner-ssh-{:x}", nonce()));
        std::fs::create_dir(&socket_dir).map_err(|e| Error::Io(socket_dir.clone(), e))?;
        let mut cmd = self.base(&socket_dir.join("ctl"));
        cmd.args(["-M", "-N", "-o", "ControlPersist=no", "--"]).arg(&self.config.host);
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let child = cmd.spawn().map_err(|e| Error::Command(format!("ssh: {e}")))?;
        let mut m = Master { child: Mutex::new(child), socket_dir, workdir: String::new() };
        self.wait_ready(&m).await?;
        let wd = quote(&self.config.workdir);
        let out = self
            .output(self.remote(&m, &format!("mkdir -p {wd}/blobs && cd {wd} && pwd -P")))
            .await?;
        m.workdir = String::from_utf8_lossy(&out).trim().to_owned();
        let workdir = m.workdir.clone();
        *master = Some(m);
        Ok(workdir)
    }

    /// Waits until the master's socket answers, or fails with why the master ended.
    async fn wait_ready(&self, m: &Master) -> Result<(), Error> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let exited = m.child.lock().unwrap_or_else(|e| e.into_inner()).try_wait();
            if let Ok(Some(status)) = exited {
                let mut said = String::new();
                if let Some(mut err) =
                    m.child.lock().unwrap_or_else(|e| e.into_inner()).stderr.take()
                {
                    let _ = err.read_to_string(&mut said);
                }
                return Err(self.connect_error(&said, &status.to_string()));
            }
            let mut check = self.base(&m.socket_dir.join("ctl"));
            check.args(["-O", "check", "--"]).arg(&self.config.host);
            check.stdout(Stdio::null()).stderr(Stdio::null()).stdin(Stdio::null());
            if tokio::process::Command::from(check).status().await.is_ok_and(|s| s.success()) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Command(format!(
                    "ssh host `{}`: no connection after 20 s",
                    self.config.host
                )));
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
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
}
