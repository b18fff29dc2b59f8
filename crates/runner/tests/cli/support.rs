//! A pipeline folder in a temp dir, and the real `runner` binary run against it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use serde_json::Value;

/// The `runner` binary cargo built for these tests.
pub fn runner_bin() -> &'static str {
    env!("CARGO_BIN_EXE_runner")
}

/// A pipeline folder in a fresh temp dir. Files are written relative to it.
pub struct Project {
    root: PathBuf,
    /// The temp dir `root` is, removed on drop (`None`: a folder the caller owns).
    _dir: Option<tempfile::TempDir>,
    /// Variables every command gets ([`Project::set_env`]).
    env: Vec<(String, String)>,
}

impl Project {
    /// An empty project folder.
    pub fn new() -> Project {
        let dir = tempfile::Builder::new().prefix("runner-cli-").tempdir().unwrap();
        Project { root: dir.path().to_path_buf(), _dir: Some(dir), env: Vec::new() }
    }

    /// A project in the existing folder `root`, which the caller removes.
    pub fn at(root: &Path) -> Project {
        Project { root: root.to_path_buf(), _dir: None, env: Vec::new() }
    }

    /// A project with these files written.
    pub fn with(files: &[(&str, &str)]) -> Project {
        let p = Project::new();
        for (path, text) in files {
            p.write(path, text);
        }
        p
    }

    /// The project folder (absolute).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `root/rel`.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    /// Writes (creating folders) `rel` with `text`.
    pub fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, text).unwrap();
    }

    /// Reads `rel` as text.
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel))
            .unwrap_or_else(|e| panic!("reading {}: {e}", self.path(rel).display()))
    }

    /// Rewrites `rel` with its own bytes and moves its mtime forward: same content, new stat.
    pub fn touch(&self, rel: &str) {
        let p = self.path(rel);
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes).unwrap();
        let f = std::fs::File::options().write(true).open(&p).unwrap();
        f.set_modified(SystemTime::now() + Duration::from_secs(60)).unwrap();
    }

    /// The folder `runner` keeps its state in.
    pub fn state(&self) -> PathBuf {
        self.path(".runner")
    }

    /// The current view of a step's output, `.runner/outputs/STEP.OUTPUT/FILE`.
    pub fn output(&self, step: &str, output: &str, file: &str) -> String {
        self.read(&format!(".runner/outputs/{step}.{output}/{file}"))
    }

    /// Sets `name` to `value` in the environment of every command run from now on.
    pub fn set_env(&mut self, name: &str, value: &str) {
        self.env.push((name.to_owned(), value.to_owned()));
    }

    /// A `runner` command running in the project folder.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(runner_bin());
        c.current_dir(self.root()).env("NO_COLOR", "1");
        c.envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    /// Runs `runner ARGS` in the project folder.
    pub fn run(&self, args: &[&str]) -> Run {
        let out = self.cmd().args(args).output().unwrap();
        Run::from(args, out)
    }

    /// `runner build ROOT ARGS --format json`, parsed.
    pub fn build(&self, args: &[&str]) -> Build {
        let root = self.root().display().to_string();
        let mut all = vec!["build", root.as_str()];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--format", "json"]);
        let run = self.run(&all);
        let doc = serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| {
            panic!("`runner build` did not print one JSON document ({e})\n{}", run.transcript())
        });
        Build { run, doc }
    }

    /// Every file under `dir` (recursively), sorted.
    pub fn files_under(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else { continue };
            for e in entries.flatten() {
                let p = e.path();
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(p);
                } else {
                    out.push(p);
                }
            }
        }
        out.sort();
        out
    }
}

/// One finished `runner` invocation.
pub struct Run {
    pub args: Vec<String>,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(args: &[&str], out: Output) -> Run {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        Run::from_output(&args, out)
    }

    /// The run of `runner ARGS` that gave `out`.
    pub fn from_output(args: &[String], out: Output) -> Run {
        Run {
            args: args.to_vec(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Everything about the invocation, for failure messages.
    pub fn transcript(&self) -> String {
        format!(
            "$ runner {:?}\nexit: {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.args, self.code, self.stdout, self.stderr
        )
    }

    /// Asserts the exit code.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Run {
        assert_eq!(self.code, Some(code), "unexpected exit code\n{}", self.transcript());
        self
    }
}

/// What one step did in a build, from the JSON document.
#[derive(Debug, Clone)]
pub struct StepResult {
    pub status: String,
    pub reason: Option<String>,
    pub reused_from: Option<i64>,
}

/// A finished `runner build --format json`.
pub struct Build {
    pub run: Run,
    pub doc: Value,
}

impl Build {
    /// The run id.
    pub fn run_id(&self) -> i64 {
        self.doc["run"].as_i64().expect("run id")
    }

    /// `succeeded`, `failed` or `interrupted`.
    pub fn status(&self) -> &str {
        self.doc["status"].as_str().expect("status")
    }

    /// Step name → what it did.
    pub fn steps(&self) -> BTreeMap<String, StepResult> {
        let mut out = BTreeMap::new();
        for s in self.doc["steps"].as_array().expect("steps array") {
            let name = s["step"].as_str().expect("step name").to_owned();
            let r = StepResult {
                status: s["status"].as_str().expect("step status").to_owned(),
                reason: s["reason"].as_str().map(str::to_owned),
                reused_from: s["reused_from"].as_i64(),
            };
            assert!(out.insert(name.clone(), r).is_none(), "step {name} listed twice");
        }
        out
    }

    /// One step's result (panics if the step is not in the document).
    #[track_caller]
    pub fn step(&self, name: &str) -> StepResult {
        self.steps()
            .remove(name)
            .unwrap_or_else(|| panic!("no step {name} in the build\n{}", self.run.transcript()))
    }

    /// The reason a step ran (empty when none).
    #[track_caller]
    pub fn reason(&self, name: &str) -> String {
        self.step(name).reason.unwrap_or_default()
    }

    /// Asserts the exit code.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Build {
        self.run.assert_code(code);
        self
    }

    /// Asserts the build lists exactly these steps with exactly these statuses.
    #[track_caller]
    pub fn assert_steps(&self, expected: &[(&str, &str)]) -> &Build {
        let got: BTreeMap<String, String> =
            self.steps().into_iter().map(|(k, v)| (k, v.status)).collect();
        let want: BTreeMap<String, String> =
            expected.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        if got != want {
            let mut reasons = String::new();
            for (name, s) in self.steps() {
                let _ = writeln!(reasons, "  {name}: {} ({:?})", s.status, s.reason);
            }
            panic!(
                "step statuses differ\n  want: {want:?}\n  got:  {got:?}\n{reasons}{}",
                self.run.transcript()
            );
        }
        self
    }

    /// Asserts a step's reason contains `needle`.
    #[track_caller]
    pub fn assert_reason(&self, step: &str, needle: &str) -> &Build {
        let reason = self.reason(step);
        assert!(
            reason.contains(needle),
            "reason of {step} is {reason:?}, expected it to mention {needle:?}\n{}",
            self.run.transcript()
        );
        self
    }
}
