//! A Slurm cluster: the example pipeline with every step a Slurm job, reuse across
//! targets, a step that outlives its time limit, and a cancelled build.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::services::{Service, digits_into};
use crate::support::{Build, Project, Run};

/// `runner ARGS` in `p`, against the cluster whose configuration is `conf`.
fn run(p: &Project, conf: &Path, args: &[&str]) -> Run {
    let out = p.cmd().env("SLURM_CONF", conf).args(args).output().unwrap();
    Run::from(args, out)
}

/// `runner build ROOT ARGS --format json` against the cluster, parsed.
fn build(p: &Project, conf: &Path, args: &[&str]) -> Build {
    let root = p.root().display().to_string();
    let mut all = vec!["build", root.as_str()];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let run = run(p, conf, &all);
    let doc = serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|e| panic!("no JSON document ({e})\n{}", run.transcript()));
    Build { run, doc }
}

/// The jobs Slurm's job-completion file lists (`jobcomp/filetxt`; `sacct -c` reads it):
/// (name, state) of each.
fn completed_jobs(service: &Service) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(service.dir.join("jobcomp.txt")).unwrap_or_default();
    let field = |line: &str, key: &str| {
        line.split_whitespace().find_map(|w| w.strip_prefix(key)).unwrap_or_default().to_owned()
    };
    text.lines().map(|l| (field(l, "Name="), field(l, "JobState="))).collect()
}

/// The states of the jobs the controller holds whose name starts with `prefix`.
fn queue(conf: &Path, prefix: &str) -> Vec<String> {
    let out = Command::new("squeue")
        .env("SLURM_CONF", conf)
        .args(["--noheader", "--states=all", "--format=%j %T"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(|l| l.split_whitespace().nth(1).unwrap_or_default().to_owned())
        .collect()
}

const SMALL: &str = r#"
[pipeline]
name = "small"

[compute.cluster]
kind = "slurm"
workdir = "WORKDIR"

[parameters]
wait = 100

[steps.slow]
command = ["sh", "-c", "sleep \"$0\"; echo done > \"$1/done.txt\"", "${params.wait}", "${outputs.o}"]
outputs = ["o"]
compute = "cluster"
timeout = 1
"#;

#[test]
fn steps_run_as_slurm_jobs() {
    let Some(cluster) = Service::start("slurm", &[], &["sbatch", "slurmctld", "slurmd", "munged"])
    else {
        return;
    };
    let conf = cluster.dir.join("slurm.conf");
    let small = Project::new();
    let work = cluster.dir.join("work");
    small.write("pipeline.toml", &SMALL.replace("WORKDIR", &work.display().to_string()));

    // A step past its time limit (`timeout = 1`: one minute, Slurm's granularity) ends
    // TIMEOUT; it runs beside the example, which does not wait for it.
    let timing_out = {
        let (small_root, conf) = (small.root().to_path_buf(), conf.clone());
        std::thread::spawn(move || build(&Project::at(&small_root), &conf, &[]))
    };

    // The example, every step on the cluster.
    let digits = Project::new();
    let extra = format!(
        "[compute.cluster]\nkind = \"slurm\"\nmax_nodes = 4\nworkdir = \"{}\"\n",
        work.display()
    );
    digits_into(digits.root(), &extra);
    let first = build(&digits, &conf, &["--compute", "cluster"]);
    first.assert_code(0);
    let steps = first.steps();
    assert!(steps.len() >= 4 && steps.values().all(|s| s.status == "ran"), "{steps:?}");
    let report = digits.output("compare", "report", "report.md");
    assert!(report.contains("better model"), "{report}");
    // Each step was one job, named for the pipeline, step and run, and completed.
    let run = first.run_id();
    let jobs = completed_jobs(&cluster);
    for step in steps.keys() {
        let name = format!("runner:digits:{step}:{run}");
        assert!(
            jobs.iter().any(|(n, st)| *n == name && st == "COMPLETED"),
            "no completed job {name} in {jobs:?}"
        );
    }
    // Its logs and metrics are in the run's history, as a local step's.
    let logs = run_logs(&digits, &conf, run, "prepare");
    assert!(logs.contains("prepare: ") && logs.contains(" train, "), "{logs}");
    let show = shown(&digits, &conf, run);
    assert!(show.contains("metric evaluate_logreg.accuracy = "), "{show}");

    // Built again: nothing is submitted.
    let submitted = completed_jobs(&cluster).len();
    let again = build(&digits, &conf, &["--compute", "cluster"]);
    again.assert_code(0);
    assert!(again.steps().values().all(|s| s.status == "reused"));
    assert_eq!(completed_jobs(&cluster).len(), submitted);
    assert!(queue(&conf, "runner:digits:").len() <= submitted);

    // A local build reuses what the cluster computed (the target is not in the key) …
    let local = build(&digits, &conf, &[]);
    local.assert_code(0);
    assert!(local.steps().values().all(|s| s.status == "reused"), "{:?}", local.steps());
    // … and computed here, the report is the same.
    let here = build(&digits, &conf, &["--regenerate"]);
    here.assert_code(0);
    assert!(here.steps().values().all(|s| s.status == "ran"));
    assert_eq!(digits.output("compare", "report", "report.md"), report);

    let timed_out = timing_out.join().unwrap();
    timed_out.assert_code(1);
    let reason = timed_out.reason("slow");
    assert!(reason.contains("TIMEOUT") && reason.contains("Slurm job"), "{reason}");
    assert!(!small.path(".runner/outputs/slow.o").exists());

    cancelled_build_leaves_no_job(&small, &conf);
}

/// `runner show RUN`: the run, its steps and metrics.
pub fn shown(p: &Project, conf: &Path, run_id: i64) -> String {
    let (run_id, root) = (run_id.to_string(), p.root().display().to_string());
    let r = run(p, conf, &["show", &run_id, "-p", &root]);
    format!("{}{}", r.stdout, r.stderr)
}

/// `runner logs RUN STEP`: the step's stdout in that run.
pub fn run_logs(p: &Project, conf: &Path, run_id: i64, step: &str) -> String {
    let (run_id, root) = (run_id.to_string(), p.root().display().to_string());
    run(p, conf, &["logs", &run_id, step, "-p", &root]).stdout
}

/// Ctrl-C while a job runs: the build ends interrupted (130) and `scancel`s its job.
fn cancelled_build_leaves_no_job(small: &Project, conf: &Path) {
    let root = small.root().display().to_string();
    let child = small
        .cmd()
        .env("SLURM_CONF", conf)
        .args(["build", &root, "--param", "wait=300"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !queue(conf, "runner:small:slow:").iter().any(|s| s == "RUNNING") {
        assert!(Instant::now() < deadline, "the job never ran: {:?}", queue(conf, "runner:small"));
        std::thread::sleep(Duration::from_millis(200));
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let live = ["PENDING", "RUNNING", "CONFIGURING", "SUSPENDED"];
    let states = queue(conf, "runner:small:slow:");
    assert!(states.iter().all(|s| !live.contains(&s.as_str())), "{states:?}");
}
