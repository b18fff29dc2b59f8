//! One job on the host, in one ssh session over the master connection, when the host
//! cannot run the agent:
//!
//! 1. runner sends the digests of the blobs the job needs, then `--`; the host answers
//!    those it lacks, then `--`;
//! 2. runner sends one tar stream (the missing blobs, the job's tree as hard links to them,
//!    its script and requirements) and closes its side; the host unpacks it, moves the new
//!    blobs into `blobs/` (by rename, so a blob there is always whole; see
//!    `stage::build_tar`) and copies the tree out of the links into the job's folder;
//! 3. the host runs the job's script in a session of its own (`setsid -w`), then sends the
//!    job's folder back as a tar stream (logs, metrics, exit code, and on success its
//!    outputs with their digests) and removes it when the job succeeded.
//!
//! One session per job keeps a step's round trips to one. Cancelling or a timeout stops
//! the job's process group over a second session ([`Ssh::kill_group`]); the first then
//! ends with what the job left. A session that ends with ssh's own failure (255) lost its
//! connection.

use std::collections::HashSet;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use exec::{CancelToken, Finished, Job, Outcome};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};

use super::stage::{Entry, build_tar, list_job, unpack};
use super::{Conn, Ssh};
use crate::job::{Layout, quote};
use crate::{Error, finished, nonce, tail};

/// The names the host sends back of a job's folder (those that exist).
const BACK: &str = "stdout.log stderr.log out.log metrics.txt rc why outputs.sha256";

impl Ssh {
    pub(super) async fn run_job(&self, job: Job, cancel: CancelToken) -> Finished {
        let (started, clock) = (SystemTime::now(), Instant::now());
        let conn = match self.connect().await {
            Ok(c) => c,
            Err(e) => return finished(Outcome::SpawnFailed(e.to_string()), started, clock),
        };
        let layout = Layout::new(&conn.workdir, &job, nonce());
        let ran = match &conn.agent {
            Some(agent) => self.agent_job(&conn, agent, &layout, &job, &cancel).await,
            None => self.session(&layout, &job, &conn, &cancel).await,
        };
        let outcome = match ran {
            Ok(outcome) => outcome,
            Err(e) => Outcome::SpawnFailed(e.to_string()),
        };
        finished(outcome, started, clock)
    }

    /// The host's side of the session: a script of our own words, the workdir and the
    /// job's folder quoted.
    fn session_script(layout: &Layout, workdir: &str) -> String {
        let rel = layout.dir.strip_prefix(&format!("{workdir}/")).unwrap_or(&layout.dir);
        let outs: Vec<String> = (0..layout.outputs.len()).map(|i| format!("o{i}")).collect();
        format!(
            "W={w}; R={r}\n\
             cd \"$W/blobs\" || exit 120\n\
             while read -r d; do [ \"$d\" = -- ] && break; [ -e \"$d\" ] || echo \"$d\"; done\n\
             echo --\n\
             cd \"$W\" && tar -xf - || exit 120\n\
             if [ -d \"$R/new\" ]; then for f in \"$R\"/new/*; do mv -n \"$f\" blobs/ 2> /dev/null; done; rm -rf \"$R/new\"; fi\n\
             cd \"$R\" && cp -R stage/. . && rm -rf stage || exit 120\n\
             setsid -w sh run.sh < /dev/null > /dev/null 2>&1\n\
             cd \"$W/$R\" || exit 120\n\
             if [ \"$(cat rc 2> /dev/null)\" = 0 ] && [ ! -e why ]; then ok=1; set -- {outs}; else ok=; set --; fi\n\
             tar -cf - $(for f in {back}; do [ -e \"$f\" ] && echo \"$f\"; done) \"$@\"\n\
             [ -z \"$ok\" ] || {{ cd \"$W\" && rm -rf \"$R\"; }}\n\
             exit 0\n",
            w = quote(workdir),
            r = quote(rel),
            outs = outs.join(" "),
            back = BACK,
        )
    }

    /// Stages, runs and fetches one job; see the module docs.
    async fn session(
        &self,
        layout: &Layout,
        job: &Job,
        conn: &Conn,
        cancel: &CancelToken,
    ) -> Result<Outcome, Error> {
        let workdir = conn.workdir.as_str();
        let (layout2, job2) = (layout.clone(), job.clone());
        let entries = tokio::task::spawn_blocking(move || list_job(&layout2, &job2, 0))
            .await
            .map_err(|e| Error::Stage(e.to_string()))??;
        let mut cmd = {
            let master = self.master.lock().await;
            let m = master.as_ref().ok_or_else(|| Error::Stage("no connection".into()))?;
            tokio::process::Command::from(self.remote(m, &Self::session_script(layout, workdir)))
        };
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child =
            cmd.kill_on_drop(true).spawn().map_err(|e| Error::Command(format!("ssh: {e}")))?;
        let (Some(mut stdin), Some(stdout), Some(mut stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(Error::Command("ssh: no pipes".into()));
        };
        let mut stdout = BufReader::new(stdout);
        let said = tokio::spawn(async move {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s).await;
            s
        });

        // 1. Which blobs the host lacks.
        let wanted: Vec<String> = {
            let mut seen = HashSet::new();
            entries.iter().filter_map(Entry::blob).filter(|b| seen.insert(b.clone())).collect()
        };
        let ask = format!("{}--\n", wanted.iter().map(|w| format!("{w}\n")).collect::<String>());
        let mut missing = HashSet::new();
        let asked = async {
            stdin.write_all(ask.as_bytes()).await?;
            let mut line = String::new();
            loop {
                line.clear();
                if stdout.read_line(&mut line).await? == 0 {
                    return Err(std::io::Error::other("the session ended"));
                }
                match line.trim_end() {
                    "--" => return Ok(()),
                    d => missing.insert(d.to_owned()),
                };
            }
        };
        if asked.await.is_err() {
            let status = child.wait().await.ok().and_then(|s| s.code());
            return Ok(self
                .ended_early(status, said.await.unwrap_or_default(), layout, conn)
                .await);
        }

        // 2. The tar stream, then our side closed: the host runs the job.
        let script = layout.script(job, &self.config.python, true)?;
        let rel = layout.dir.strip_prefix(&format!("{workdir}/")).unwrap_or(&layout.dir).to_owned();
        let job2 = job.clone();
        let archive = tokio::task::spawn_blocking(move || {
            build_tar(&rel, &entries, &missing, &script, &job2)
        })
        .await
        .map_err(|e| Error::Stage(e.to_string()))??;
        self.sent.fetch_add(archive.len() as u64, std::sync::atomic::Ordering::Relaxed);
        if stdin.write_all(&archive).await.is_err() || stdin.shutdown().await.is_err() {
            let status = child.wait().await.ok().and_then(|s| s.code());
            return Ok(self
                .ended_early(status, said.await.unwrap_or_default(), layout, conn)
                .await);
        }
        drop(stdin);

        // 3. The job's folder comes back when it ends.
        let mut back = Vec::new();
        let timeout = async {
            match job.spec.timeout {
                Some(t) => tokio::time::sleep(t).await,
                None => std::future::pending().await,
            }
        };
        let stopped = tokio::select! {
            r = stdout.read_to_end(&mut back) => { r.ok(); None }
            () = cancel.cancelled() => Some(Outcome::Cancelled),
            () = timeout => Some(Outcome::TimedOut),
        };
        if let Some(stop) = stopped {
            self.kill_group(layout, job.spec.grace).await;
            let rest = tokio::time::timeout(Duration::from_secs(10), stdout.read_to_end(&mut back));
            let _ = rest.await;
            let _ = child.kill().await;
            // Logs, as far as they came.
            let (layout, job) = (layout.clone(), job.clone());
            let _ = tokio::task::spawn_blocking(move || unpack(&back, &layout, &job, false)).await;
            return Ok(stop);
        }
        let status = child.wait().await.map_err(|e| Error::Command(format!("ssh: {e}")))?;
        if status.code() != Some(0) {
            let said = said.await.unwrap_or_default();
            return Ok(self.ended_early(status.code(), said, layout, conn).await);
        }
        let (layout2, job2) = (layout.clone(), job.clone());
        let fetched = tokio::task::spawn_blocking(move || unpack(&back, &layout2, &job2, true))
            .await
            .map_err(|e| Error::Stage(e.to_string()))?;
        Ok(self.outcome(fetched))
    }

    /// The outcome of a job whose session (or agent) ended before its folder came back,
    /// with exit status `code` (ssh's own failure is 255; `None` for the agent) after
    /// printing `said`. A lost connection is forgotten (the next job opens a new one, unless
    /// another job already did) and, if the host answers again, what the job left running
    /// there is stopped.
    pub(super) async fn ended_early(
        &self,
        code: Option<i32>,
        said: String,
        layout: &Layout,
        conn: &Conn,
    ) -> Outcome {
        let said = if said.trim().is_empty() {
            conn.said.lock().unwrap_or_else(|e| e.into_inner()).clone()
        } else {
            said
        };
        let said = tail(&said, 2).replace('\n', " ");
        let said = if said.trim().is_empty() { String::new() } else { format!(": {said}") };
        let host = &self.config.host;
        if matches!(code, Some(255) | None) {
            {
                let mut master = self.master.lock().await;
                if master.as_ref().is_some_and(|m| m.conn.number == conn.number) {
                    *master = None;
                }
            }
            if self.connect().await.is_ok() {
                self.kill_group(layout, Duration::from_secs(1)).await;
            }
            return Outcome::Failed(format!(
                "the connection to ssh host `{host}` was lost while the step ran{said}"
            ));
        }
        Outcome::Failed(format!("staging the step on ssh host `{host}` failed{said}"))
    }

    /// Stops the job's process group on the host: SIGTERM, then SIGKILL after `grace`.
    pub(super) async fn kill_group(&self, layout: &Layout, grace: Duration) {
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
}
