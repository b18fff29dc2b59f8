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

use std::collections::HashSet;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use exec::{CancelToken, ComputeTarget, Finished, Job, JobFuture, Outcome};

use crate::job::{Layout, parse_sums, quote};
use crate::slurm::append_metrics;
use crate::{Error, finished, nonce, tail, tree};

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
        let out =
            self.output(self.remote(&m, &format!("mkdir -p {wd} && cd {wd} && pwd -P"))).await?;
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

impl Ssh {
    async fn run_job(&self, job: Job, cancel: CancelToken) -> Finished {
        let (started, clock) = (SystemTime::now(), Instant::now());
        let workdir = match self.connect().await {
            Ok(w) => w,
            Err(e) => return finished(Outcome::SpawnFailed(e.to_string()), started, clock),
        };
        let layout = Layout::new(&workdir, &job, nonce());
        if let Err(e) = self.stage(&layout, &job, &workdir).await {
            return finished(Outcome::SpawnFailed(e.to_string()), started, clock);
        }
        let outcome = self.execute(&layout, &job, &cancel).await;
        let fetched = self.fetch(&layout, &job, outcome == Outcome::Exited(0)).await;
        let outcome = match (outcome, fetched) {
            (Outcome::Exited(0), Err(e)) => Outcome::Failed(e.to_string()),
            (Outcome::Exited(code), Ok(Some(why))) if code != 0 => Outcome::Failed(why),
            (outcome, _) => outcome,
        };
        if outcome.success()
            && let Some(m) = self.master.lock().await.as_ref()
        {
            let _ = self.output(self.remote(m, &format!("rm -rf {}", quote(&layout.dir)))).await;
        }
        finished(outcome, started, clock)
    }

    /// Sends what the job reads (blobs the host lacks, and its tree as links to them),
    /// its script and requirements, in one tar stream; the host copies the tree out of
    /// the links into the job's folder.
    async fn stage(&self, layout: &Layout, job: &Job, workdir: &str) -> Result<(), Error> {
        let (layout2, job2) = (layout.clone(), job.clone());
        let entries = tokio::task::spawn_blocking(move || list_job(&layout2, &job2))
            .await
            .map_err(|e| Error::Stage(e.to_string()))??;
        let master = self.master.lock().await;
        let m = master.as_ref().ok_or_else(|| Error::Stage("no connection".into()))?;
        // Which blobs the host lacks: digests on stdin, the missing ones back.
        let wanted: Vec<String> = {
            let mut seen = HashSet::new();
            entries.iter().filter_map(Entry::blob).filter(|b| seen.insert(b.clone())).collect()
        };
        let ask = format!(
            "mkdir -p {w}/blobs && cd {w}/blobs && while read d; do [ -e \"$d\" ] || echo \"$d\"; done",
            w = quote(workdir)
        );
        let missing = self
            .with_stdin(self.remote(m, &ask), format!("{}\n", wanted.join("\n")).into_bytes())
            .await?;
        let missing: HashSet<String> =
            String::from_utf8_lossy(&missing).lines().map(str::to_owned).collect();
        let rel = layout.dir.strip_prefix(&format!("{workdir}/")).unwrap_or(&layout.dir).to_owned();
        let script = layout.script(job, &self.config.python)?;
        let (rel2, entries2, job2) = (rel.clone(), entries, job.clone());
        let archive = tokio::task::spawn_blocking(move || {
            build_tar(&rel2, &entries2, &missing, &script, &job2)
        })
        .await
        .map_err(|e| Error::Stage(e.to_string()))??;
        self.sent.fetch_add(archive.len() as u64, Ordering::Relaxed);
        let unpack = format!(
            "cd {w} && tar -xf - && cd {r} && cp -R stage/. . && rm -rf stage",
            w = quote(workdir),
            r = quote(&rel)
        );
        self.with_stdin(self.remote(m, &unpack), archive).await.map(|_| ())
    }

    /// Runs `cmd` with `input` on its stdin; its stdout.
    async fn with_stdin(&self, cmd: Command, input: Vec<u8>) -> Result<Vec<u8>, Error> {
        let host = self.config.host.clone();
        tokio::task::spawn_blocking(move || {
            let mut cmd = cmd;
            cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
            let mut child = cmd.spawn().map_err(|e| Error::Command(format!("ssh: {e}")))?;
            let mut stdin = child.stdin.take().expect("piped");
            let writer = std::thread::spawn(move || {
                let _ = stdin.write_all(&input);
            });
            let out = child.wait_with_output().map_err(|e| Error::Command(format!("ssh: {e}")))?;
            let _ = writer.join();
            if !out.status.success() {
                let said = tail(&String::from_utf8_lossy(&out.stderr), 3);
                return Err(Error::Command(format!("ssh host `{host}`: {} ({said})", out.status)));
            }
            Ok(out.stdout)
        })
        .await
        .map_err(|e| Error::Command(e.to_string()))?
    }

    /// Runs the job's script in its own session on the host, stopping its process group
    /// on cancel or timeout.
    async fn execute(&self, layout: &Layout, job: &Job, cancel: &CancelToken) -> Outcome {
        let mut cmd = {
            let master = self.master.lock().await;
            let Some(m) = master.as_ref() else {
                return Outcome::SpawnFailed("no connection".into());
            };
            let run = format!("cd {} && exec setsid -w sh run.sh", quote(&layout.dir));
            tokio::process::Command::from(self.remote(m, &run))
        };
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).kill_on_drop(true);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => return Outcome::SpawnFailed(format!("ssh: {e}")),
        };
        let timeout = async {
            match job.spec.timeout {
                Some(t) => tokio::time::sleep(t).await,
                None => std::future::pending().await,
            }
        };
        let stop = tokio::select! {
            status = child.wait() => {
                let mut said = String::new();
                if let Some(mut err) = child.stderr.take() {
                    use tokio::io::AsyncReadExt as _;
                    let _ = err.read_to_string(&mut said).await;
                }
                return match status.ok().and_then(|s| s.code()) {
                    Some(255) | None => {
                        self.after_lost_connection(layout).await;
                        Outcome::Failed(format!(
                        "the connection to ssh host `{}` was lost while the step ran{}",
                        self.config.host,
                        if said.trim().is_empty() { String::new() } else { format!(": {}", tail(&said, 2)) }
                    ))
                    }
                    Some(code) => Outcome::Exited(code),
                };
            }
            () = cancel.cancelled() => Outcome::Cancelled,
            () = timeout => Outcome::TimedOut,
        };
        self.kill_group(layout, job.spec.grace).await;
        let _ = child.kill().await;
        stop
    }

    /// After the connection was lost under a job: forgets the master (the next job opens a
    /// new one) and, if the host answers again, stops what the job left running there.
    async fn after_lost_connection(&self, layout: &Layout) {
        *self.master.lock().await = None;
        if self.connect().await.is_ok() {
            self.kill_group(layout, Duration::from_secs(1)).await;
        }
    }

    /// Stops the job's process group on the host: SIGTERM, then SIGKILL after `grace`.
    async fn kill_group(&self, layout: &Layout, grace: Duration) {
        let master = self.master.lock().await;
        let Some(m) = master.as_ref() else { return };
        let d = quote(&layout.dir);
        let g = grace.as_secs().max(1);
        let kill = format!(
            "cd {d} && [ -s pgid ] && p=$(cat pgid) && kill -TERM -$p 2>/dev/null; \
             i=0; while [ $i -lt {g} ] && kill -0 -$p 2>/dev/null; do sleep 1; i=$((i+1)); done; \
             kill -KILL -$p 2>/dev/null; true"
        );
        let _ = self.output(self.remote(m, &kill)).await;
    }

    /// Brings the job's folder back (logs, metrics, exit code, and with `outputs` its
    /// outputs, checked against their digests). Gives why the job failed before the step
    /// started, if it did.
    async fn fetch(
        &self,
        layout: &Layout,
        job: &Job,
        outputs: bool,
    ) -> Result<Option<String>, Error> {
        let mut names: Vec<String> =
            ["stdout.log", "stderr.log", "out.log", "metrics.txt", "why", "outputs.sha256"]
                .map(String::from)
                .into();
        if outputs {
            names.extend((0..layout.outputs.len()).map(|i| format!("o{i}")));
        }
        let pack = format!(
            "cd {} && tar -cf - $(for f in {}; do [ -e \"$f\" ] && echo \"$f\"; done)",
            quote(&layout.dir),
            names.join(" ")
        );
        let archive = {
            let master = self.master.lock().await;
            let m = master.as_ref().ok_or_else(|| Error::Stage("no connection".into()))?;
            self.output(self.remote(m, &pack)).await?
        };
        let (layout, job) = (layout.clone(), job.clone());
        tokio::task::spawn_blocking(move || unpack(&archive, &layout, &job, outputs))
            .await
            .map_err(|e| Error::Stage(e.to_string()))?
    }
}

/// One entry of a job's tree, relative to the job's staging folder.
enum Entry {
    Dir(String),
    File { rel: String, digest: String, exec: bool },
    Symlink { rel: String, target: PathBuf },
}

impl Entry {
    /// The blob a file entry is a link to: its digest, with `.x` when executable (a hard
    /// link shares its blob's mode).
    fn blob(&self) -> Option<String> {
        match self {
            Entry::File { digest, exec, .. } => {
                Some(format!("{digest}{}", if *exec { ".x" } else { "" }))
            }
            _ => None,
        }
    }
}

/// The job's tree: what it reads (`r<i>`), hashed, and its empty output folders.
fn list_job(layout: &Layout, job: &Job) -> Result<Vec<Entry>, Error> {
    let mut out = Vec::new();
    for (i, local) in job.reads.iter().enumerate() {
        walk(local, &format!("r{i}"), &mut out)?;
    }
    for i in 0..layout.outputs.len() {
        out.push(Entry::Dir(format!("o{i}")));
    }
    Ok(out)
}

fn walk(path: &Path, rel: &str, out: &mut Vec<Entry>) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::symlink_metadata(path).map_err(|e| Error::Io(path.to_path_buf(), e))?;
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(path).map_err(|e| Error::Io(path.to_path_buf(), e))?;
        out.push(Entry::Symlink { rel: rel.to_owned(), target });
    } else if meta.is_dir() {
        out.push(Entry::Dir(rel.to_owned()));
        let mut names: Vec<_> = std::fs::read_dir(path)
            .map_err(|e| Error::Io(path.to_path_buf(), e))?
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        names.sort();
        for name in names {
            let Some(n) = name.to_str() else {
                return Err(Error::Stage(format!(
                    "a file name under {} is not UTF-8",
                    path.display()
                )));
            };
            walk(&path.join(n), &format!("{rel}/{n}"), out)?;
        }
    } else {
        let digest = tree::sha256_file(path)?;
        out.push(Entry::File {
            rel: rel.to_owned(),
            digest,
            exec: meta.permissions().mode() & 0o111 != 0,
        });
    }
    Ok(())
}

/// The tar stream that stages a job: the `missing` blobs (`blobs/…`), the tree as
/// `<rel>/stage/…` (hard links to the blobs), and `<rel>/run.sh` and
/// `<rel>/requirements.txt`.
fn build_tar(
    rel: &str,
    entries: &[Entry],
    missing: &HashSet<String>,
    script: &str,
    job: &Job,
) -> Result<Vec<u8>, Error> {
    let io = |e: std::io::Error| Error::Stage(format!("building the tar stream: {e}"));
    let mut b = tar::Builder::new(Vec::new());
    let mut sent = HashSet::new();
    // Blobs first: the links below must find them.
    for e in entries {
        let (Entry::File { rel: path, exec, .. }, Some(blob)) = (e, e.blob()) else { continue };
        if !missing.contains(&blob) || !sent.insert(blob.clone()) {
            continue;
        }
        let local = local_path(job, path);
        let mut h = tar::Header::new_gnu();
        let data = std::fs::read(&local).map_err(|e| Error::Io(local.clone(), e))?;
        h.set_size(data.len() as u64);
        h.set_mode(if *exec { 0o755 } else { 0o644 });
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, format!("blobs/{blob}"), data.as_slice()).map_err(io)?;
    }
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        match e {
            Entry::Dir(p) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                b.append_data(&mut h, format!("{rel}/stage/{p}"), std::io::empty()).map_err(io)?;
            }
            Entry::File { rel: p, .. } => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_mode(0o644);
                let blob = format!("blobs/{}", e.blob().unwrap_or_default());
                b.append_link(&mut h, format!("{rel}/stage/{p}"), blob).map_err(io)?;
            }
            Entry::Symlink { rel: p, target } => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                b.append_link(&mut h, format!("{rel}/stage/{p}"), target).map_err(io)?;
            }
        }
    }
    let mut file = |name: &str, data: &[u8], mode: u32| -> Result<(), Error> {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, format!("{rel}/{name}"), data).map_err(io)
    };
    file("run.sh", script.as_bytes(), 0o644)?;
    if let exec::Program::Python(Some(env)) = &job.program
        && let Some(req) = &env.requirements
    {
        let data = std::fs::read(req).map_err(|e| Error::Io(req.clone(), e))?;
        file("requirements.txt", &data, 0o644)?;
    }
    b.into_inner().map_err(io)
}

/// The local file of tree entry `rel` (`r<i>/…`).
fn local_path(job: &Job, rel: &str) -> PathBuf {
    let (first, rest) = rel.split_once('/').unwrap_or((rel, ""));
    let i: usize = first.trim_start_matches('r').parse().unwrap_or(0);
    let base = &job.reads[i];
    if rest.is_empty() { base.clone() } else { base.join(rest) }
}

/// Unpacks a fetched job folder into a scratch folder beside the job's logs, then puts
/// each part where the run keeps it.
fn unpack(
    archive: &[u8],
    layout: &Layout,
    job: &Job,
    outputs: bool,
) -> Result<Option<String>, Error> {
    let parent = job.spec.stderr_path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let scratch = parent.join(format!("fetched-{:x}", nonce()));
    std::fs::create_dir_all(&scratch).map_err(|e| Error::Io(scratch.clone(), e))?;
    let result = (|| {
        tar::Archive::new(archive)
            .unpack(&scratch)
            .map_err(|e| Error::Stage(format!("unpacking what the host sent: {e}")))?;
        let logs: &[(&str, &Path)] = if layout.shared_log {
            &[("out.log", &job.spec.stdout_path)]
        } else {
            &[("stdout.log", &job.spec.stdout_path), ("stderr.log", &job.spec.stderr_path)]
        };
        for (name, to) in logs {
            let from = scratch.join(name);
            if std::fs::metadata(&from).is_ok_and(|m| m.len() > 0) {
                std::fs::rename(&from, to).map_err(|e| Error::Io(to.to_path_buf(), e))?;
            }
        }
        append_metrics(&scratch.join("metrics.txt"), &job.metrics);
        if outputs {
            for (i, local) in job.outputs.iter().enumerate() {
                let from = scratch.join(format!("o{i}"));
                for entry in std::fs::read_dir(&from).map_err(|e| Error::Io(from.clone(), e))? {
                    let entry = entry.map_err(|e| Error::Io(from.clone(), e))?;
                    let to = local.join(entry.file_name());
                    std::fs::rename(entry.path(), &to).map_err(|e| Error::Io(to, e))?;
                }
            }
            let sums = std::fs::read_to_string(scratch.join("outputs.sha256")).unwrap_or_default();
            tree::verify(&job.outputs, &parse_sums(&sums))?;
        }
        Ok(std::fs::read_to_string(scratch.join("why")).ok().map(|w| w.trim().to_owned()))
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    result
}
