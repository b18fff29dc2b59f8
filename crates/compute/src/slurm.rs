//! A Slurm cluster (`[compute.NAME] kind = "slurm"`): each job becomes one batch job
//! (`sbatch --parsable`), named `runner:<pipeline>:<step>:<run id>`, staged in a folder of
//! `workdir`, which every node must see (a shared filesystem). The states of all of a
//! target's jobs are read at once, one `squeue --states=all` call per poll (the controller
//! keeps a finished job's state for `MinJobAge`, 300 s by default; no accounting daemon is
//! needed). `COMPLETED` is success; `FAILED` is the step's own exit code; any other end
//! (`TIMEOUT`, `OUT_OF_MEMORY`, `NODE_FAIL`, `CANCELLED`, `PREEMPTED`, …) fails the step with
//! a message naming the state and the job id. Cancelling the build `scancel`s the job.
//! Sources: sbatch(1), squeue(1) "JOB STATE CODES", scancel(1) of Slurm 22.05.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use exec::{CancelToken, ComputeTarget, Finished, Job, JobFuture, Outcome};
use tokio::process::Command;
use tokio::sync::oneshot;

use crate::job::{Layout, parse_sums};
use crate::{Error, finished, nonce, tail, tree};

/// A Slurm target's settings (`[compute.NAME]` keys of kind `slurm`).
#[derive(Debug, Clone)]
pub struct SlurmConfig {
    /// `workdir`: an absolute folder every node sees; jobs are staged under `jobs/`,
    /// environments made under `envs/`. Created when missing.
    pub workdir: PathBuf,
    /// `partition` (`sbatch --partition`); `None`: the cluster's default.
    pub partition: Option<String>,
    /// `time_limit` in one of Slurm's forms (`sbatch --time`); a step's `timeout` wins.
    pub time_limit: Option<String>,
    /// `cpus_per_task` (`sbatch --cpus-per-task`).
    pub cpus_per_task: Option<u32>,
    /// `mem` (`sbatch --mem`).
    pub mem: Option<String>,
    /// How often job states are read (one `squeue` call for all jobs).
    pub poll: Duration,
}

impl SlurmConfig {
    /// The settings of a target whose `workdir` is `workdir`, with the cluster's defaults
    /// for everything else.
    pub fn new(workdir: PathBuf) -> SlurmConfig {
        SlurmConfig {
            workdir,
            partition: None,
            time_limit: None,
            cpus_per_task: None,
            mem: None,
            poll: Duration::from_millis(500),
        }
    }
}

/// A Slurm cluster reached through its commands on this machine (`sbatch`, `squeue`,
/// `scancel`; `SLURM_CONF` and `PATH` as the environment gives them).
pub struct Slurm {
    name: String,
    config: SlurmConfig,
    poller: Arc<Poller>,
}

impl Slurm {
    /// The target named `name` in the pipeline.
    pub fn new(name: &str, config: SlurmConfig) -> Slurm {
        let poller = Arc::new(Poller { waiting: Mutex::default(), every: config.poll });
        Slurm { name: name.to_owned(), config, poller }
    }
}

impl ComputeTarget for Slurm {
    fn describe(&self) -> String {
        format!("slurm cluster `{}`", self.name)
    }

    fn runs_here(&self) -> bool {
        false
    }

    fn run(&self, job: Job, cancel: CancelToken) -> JobFuture<'_> {
        Box::pin(self.run_job(job, cancel))
    }
}

/// States after which a job never runs again (squeue(1), "JOB STATE CODES").
const ENDED: &[&str] = &[
    "BOOT_FAIL",
    "CANCELLED",
    "COMPLETED",
    "DEADLINE",
    "FAILED",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "PREEMPTED",
    "SPECIAL_EXIT",
    "TIMEOUT",
];

impl Slurm {
    async fn run_job(&self, job: Job, cancel: CancelToken) -> Finished {
        let (started, clock) = (SystemTime::now(), Instant::now());
        let workdir = self.config.workdir.to_string_lossy().into_owned();
        let layout = Layout::new(&workdir, &job, nonce());
        let staging = {
            let (layout, job) = (layout.clone(), job.clone());
            tokio::task::spawn_blocking(move || stage(&layout, &job)).await
        };
        match staging {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return finished(Outcome::SpawnFailed(e.to_string()), started, clock),
            Err(e) => return finished(Outcome::SpawnFailed(e.to_string()), started, clock),
        }
        if cancel.is_cancelled() {
            return finished(Outcome::Cancelled, started, clock);
        }
        let id = match self.submit(&layout, &job).await {
            Ok(id) => id,
            Err(e) => return finished(Outcome::SpawnFailed(e.to_string()), started, clock),
        };
        let ended = tokio::select! {
            state = self.poller.wait(&id) => Some(state),
            () = cancel.cancelled() => None,
        };
        let Some(state) = ended else {
            self.cancel_job(&id).await;
            layout.bring_back_logs(Path::new(&layout.dir), &job);
            return finished(Outcome::Cancelled, started, clock);
        };
        layout.bring_back_logs(Path::new(&layout.dir), &job);
        let outcome = self.outcome(&layout, &job, &id, &state);
        let outcome = match outcome {
            Outcome::Exited(0) => match fetch_outputs(&layout, &job) {
                Ok(()) => {
                    let _ = std::fs::remove_dir_all(&layout.dir);
                    Outcome::Exited(0)
                }
                Err(e) => Outcome::Failed(format!("Slurm job {id}: {e}")),
            },
            other => other,
        };
        finished(outcome, started, clock)
    }

    /// What a job that ended in `state` means for its step.
    fn outcome(&self, layout: &Layout, job: &Job, id: &str, state: &str) -> Outcome {
        let dir = Path::new(&layout.dir);
        let rc = std::fs::read_to_string(dir.join("rc")).ok().and_then(|s| s.trim().parse().ok());
        let why = std::fs::read_to_string(dir.join("why")).ok();
        if let Some(why) = why {
            return Outcome::Failed(format!("Slurm job {id}: {}", why.trim()));
        }
        match (state, rc) {
            ("COMPLETED" | "FAILED", Some(code)) => Outcome::Exited(code),
            ("TIMEOUT", _) => {
                let limit = self.time_limit(job).unwrap_or_else(|| "the partition's".into());
                Outcome::Failed(format!(
                    "Slurm job {id} ended TIMEOUT (time limit {limit} minutes)"
                ))
            }
            (state, _) => {
                let slurm_out = std::fs::read_to_string(dir.join("slurm.out")).unwrap_or_default();
                let said = tail(&slurm_out, 3);
                let said = if said.is_empty() { String::new() } else { format!(": {said}") };
                Outcome::Failed(format!("Slurm job {id} ended {state}{said}"))
            }
        }
    }

    /// `--time` for `job`, in whole minutes: its `timeout` rounded up (Slurm's granularity),
    /// else the target's `time_limit` as written.
    fn time_limit(&self, job: &Job) -> Option<String> {
        match job.spec.timeout {
            Some(t) => Some(t.as_secs().div_ceil(60).max(1).to_string()),
            None => self.config.time_limit.clone(),
        }
    }

    /// Submits the staged job; gives its id.
    async fn submit(&self, layout: &Layout, job: &Job) -> Result<String, Error> {
        let mut cmd = Command::new("sbatch");
        cmd.arg("--parsable")
            .arg(format!("--job-name=runner:{}:{}:{}", job.pipeline, job.step, job.run_id))
            .arg(format!("--chdir={}", layout.dir))
            .arg(format!("--output={}/slurm.out", layout.dir))
            .arg("--nodes=1")
            .arg("--ntasks=1");
        if let Some(t) = self.time_limit(job) {
            cmd.arg(format!("--time={t}"));
        }
        if let Some(p) = &self.config.partition {
            cmd.arg(format!("--partition={p}"));
        }
        if let Some(c) = self.config.cpus_per_task {
            cmd.arg(format!("--cpus-per-task={c}"));
        }
        if let Some(m) = &self.config.mem {
            cmd.arg(format!("--mem={m}"));
        }
        cmd.arg(format!("{}/run.sh", layout.dir));
        let out = output(cmd, "sbatch").await?;
        // `--parsable`: `ID` or `ID;CLUSTER`.
        let text = String::from_utf8_lossy(&out);
        let id = text.trim().split(';').next().unwrap_or_default().to_owned();
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
            return Err(Error::Command(format!("sbatch answered `{}`, not a job id", text.trim())));
        }
        Ok(id)
    }

    /// `scancel`s job `id` and waits (a while) until it has ended.
    async fn cancel_job(&self, id: &str) {
        let mut cmd = Command::new("scancel");
        cmd.arg(id);
        let _ = output(cmd, "scancel").await;
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            match states(std::slice::from_ref(&id.to_owned())).await {
                Ok(s) if s.get(id).is_some_and(|st| !ENDED.contains(&st.as_str())) => {}
                _ => return,
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Runs `cmd` to its end; its stdout.
///
/// Errors: it could not start, or exited non-zero (with what it printed on stderr).
async fn output(mut cmd: Command, what: &str) -> Result<Vec<u8>, Error> {
    cmd.stdin(std::process::Stdio::null()).kill_on_drop(true);
    let out = cmd.output().await.map_err(|e| Error::Command(format!("{what}: {e}")))?;
    if !out.status.success() {
        let said = tail(&String::from_utf8_lossy(&out.stderr), 5);
        return Err(Error::Command(format!("{what} failed ({}): {said}", out.status)));
    }
    Ok(out.stdout)
}

/// The states of jobs `ids`, by id, from one `squeue` call (`--states=all` lists jobs
/// that ended while the controller still holds them). A job it does not list is absent.
async fn states(ids: &[String]) -> Result<HashMap<String, String>, Error> {
    let mut cmd = Command::new("squeue");
    cmd.args(["--noheader", "--states=all", "--format=%i %T"])
        .arg(format!("--jobs={}", ids.join(",")));
    let out = output(cmd, "squeue").await?;
    let text = String::from_utf8_lossy(&out);
    Ok(text
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(id, st)| (id.trim().to_owned(), st.trim().to_owned()))
        .collect())
}

/// Reads the states of all of a target's jobs at once, and tells each waiting job when
/// its job has ended.
struct Poller {
    waiting: Mutex<BTreeMap<String, oneshot::Sender<String>>>,
    every: Duration,
}

impl Poller {
    /// Waits until job `id` has ended; gives its final state (`UNKNOWN` when the cluster
    /// forgot the job before it was seen to end).
    async fn wait(self: &Arc<Self>, id: &str) -> String {
        let (tx, rx) = oneshot::channel();
        let start = {
            let mut w = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
            w.insert(id.to_owned(), tx);
            w.len() == 1
        };
        if start {
            let me = self.clone();
            tokio::spawn(async move { me.poll().await });
        }
        rx.await.unwrap_or_else(|_| "UNKNOWN".to_owned())
    }

    /// Polls while any job is waiting.
    async fn poll(self: Arc<Self>) {
        let mut missing: HashMap<String, u32> = HashMap::new();
        loop {
            tokio::time::sleep(self.every).await;
            let ids: Vec<String> = {
                let w = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
                if w.is_empty() {
                    return;
                }
                w.keys().cloned().collect()
            };
            let Ok(now) = states(&ids).await else { continue };
            let mut w = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
            for id in ids {
                let ended = match now.get(&id) {
                    Some(st) if ENDED.contains(&st.as_str()) => Some(st.clone()),
                    Some(_) => None,
                    // A job just submitted may not be listed yet; one forgotten stays absent.
                    None => {
                        let n = missing.entry(id.clone()).or_default();
                        *n += 1;
                        (*n > 10).then(|| "UNKNOWN".to_owned())
                    }
                };
                if let Some(st) = ended
                    && let Some(tx) = w.remove(&id)
                {
                    let _ = tx.send(st);
                }
            }
            if w.is_empty() {
                // Checked again under the lock: a job registered now starts its own poll.
                return;
            }
        }
    }
}

/// Makes the job's folder on the shared filesystem: what it reads copied in, empty output
/// folders, its requirements, its script.
fn stage(layout: &Layout, job: &Job) -> Result<(), Error> {
    let dir = Path::new(&layout.dir);
    std::fs::create_dir_all(dir).map_err(|e| Error::Io(dir.to_path_buf(), e))?;
    for (local, remote) in &layout.reads {
        tree::copy_tree(local, Path::new(remote))?;
    }
    for (_, remote) in &layout.outputs {
        std::fs::create_dir(remote).map_err(|e| Error::Io(remote.into(), e))?;
    }
    if let exec::Program::Python(Some(env)) = &job.program
        && let Some(req) = &env.requirements
    {
        let to = dir.join("requirements.txt");
        std::fs::copy(req, &to).map_err(|e| Error::Io(req.clone(), e))?;
    }
    let script = layout.script(job, "python3", true)?;
    let path = dir.join("run.sh");
    std::fs::write(&path, script).map_err(|e| Error::Io(path, e))
}

/// Copies the job's outputs into its output folders and checks them against the digests
/// its script recorded.
fn fetch_outputs(layout: &Layout, job: &Job) -> Result<(), Error> {
    let dir = Path::new(&layout.dir);
    let sums = std::fs::read_to_string(dir.join("outputs.sha256")).unwrap_or_default();
    for (local, remote) in &layout.outputs {
        for entry in std::fs::read_dir(remote).map_err(|e| Error::Io(remote.into(), e))? {
            let entry = entry.map_err(|e| Error::Io(remote.into(), e))?;
            tree::copy_tree(&entry.path(), &local.join(entry.file_name()))?;
        }
    }
    tree::verify(&job.outputs, &parse_sums(&sums))
}
