//! `runner serve` end to end: the real binary serving a project on a loopback port, called
//! over real HTTP (ureq), the article's Python client, and the dashboard in Debian's
//! Chromium driven by playwright-core (`tests/services/chromium.sh install`; elsewhere,
//! `RUNNER_TEST_SERVICES=skip` skips the browser test only).
//!
//! Each test makes its own project, publishes it, makes tokens and starts its own server
//! (port 0: the OS picks one), and stops it by PID.

#![allow(missing_docs, clippy::print_stderr)]

#[path = "../cli/support.rs"]
#[allow(dead_code)]
mod support;

mod dashboard;
mod lifecycle;
mod rest;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::Project;

/// The project every test serves: two steps, `prep` (reads `raw.txt`, sleeps `sleep`
/// seconds) and `train` (logs the metric `score`, `pipeline_arg` / 100).
pub fn project(description: &str) -> Project {
    Project::with(&[
        (
            "pipeline.toml",
            &format!(
                r#"[pipeline]
name = "served"
description = "{description}"

[parameters]
pipeline_arg = 10
sleep = 0.0
label = "plain"

[data.raw]
path = "raw.txt"

[steps.prep]
command = ["python3", "prep.py", "${{inputs.raw}}", "${{outputs.split}}", "${{params.sleep}}", "${{params.label}}"]
inputs = {{ raw = "data.raw" }}
outputs = ["split"]
hash_paths = ["prep.py"]

[steps.train]
command = ["python3", "train.py", "${{inputs.split}}", "${{outputs.model}}", "${{params.pipeline_arg}}"]
inputs = {{ split = "steps.prep.outputs.split" }}
outputs = ["model"]
hash_paths = ["train.py"]
"#
            ),
        ),
        ("raw.txt", "rows\n"),
        (
            "prep.py",
            "import sys, time\nraw, out, sleep, label = sys.argv[1:5]\ntime.sleep(float(sleep))\n\
             open(out + '/split.txt', 'w').write(open(raw).read() + label)\nprint('prep done', label)\n",
        ),
        (
            "train.py",
            "import os, sys\nsplit, out, arg = sys.argv[1:4]\nopen(out + '/model.txt', 'w').write(arg)\n\
             open(os.environ['RUNNER_METRICS'], 'a').write(f'score {int(arg) / 100}\\n')\n",
        ),
    ])
}

/// `runner publish` of `p` as `name` `version`: its id.
pub fn publish(p: &Project, name: &str, version: &str) -> String {
    let run = p.run(&["publish", "--name", name, "--version", version, "--format", "json"]);
    run.assert_code(0);
    let doc: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    doc["id"].as_str().unwrap().to_owned()
}

/// `runner token create --name NAME`: the token.
pub fn token(p: &Project, name: &str) -> String {
    let run = p.run(&["token", "create", "--name", name]);
    run.assert_code(0);
    run.stdout.trim().to_owned()
}

/// A `runner serve` process; killed on drop.
pub struct Served {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    log: PathBuf,
    _logs: tempfile::TempDir,
}

impl Served {
    /// `runner serve` in `p` on a port the OS picks, with `args`; returns once it listens.
    pub fn start(p: &Project, args: &[&str]) -> Served {
        Served::start_at(p, "127.0.0.1:0", args)
    }

    /// As [`Served::start`], bound to `bind`.
    pub fn start_at(p: &Project, bind: &str, args: &[&str]) -> Served {
        let logs = tempfile::tempdir().unwrap();
        let log = logs.path().join("serve.log");
        let mut child = p
            .cmd()
            .args(["serve", "--bind", bind])
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(rest) = text.split("serving on ").nth(1) {
                let addr = rest.split_whitespace().next().unwrap().to_owned();
                // A server bound to every address is reached on loopback.
                let url = addr.replace("0.0.0.0", "127.0.0.1");
                return Served { child, url, log, _logs: logs };
            }
            if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
                let _ = child.kill();
                let _ = child.wait();
                panic!("runner serve did not start:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What the server printed so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends `signal` (`KILL`, `TERM`) and waits for the process to exit.
    pub fn signal(&mut self, signal: &str) -> ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args([&format!("-{signal}"), &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not exit on SIG{signal}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer: status and body.
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    /// The body as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The error code of a JSON error body.
    #[track_caller]
    pub fn code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap_or_default().to_owned()
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// `METHOD url` with `token` as bearer and `body`, whatever the status.
pub fn call(method: &str, url: &str, token: Option<&str>, body: Option<&[u8]>) -> Answer {
    let agent = agent();
    let auth = token.map(|t| format!("Bearer {t}"));
    let result = match method {
        "GET" => {
            let mut r = agent.get(url);
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            r.call()
        }
        "POST" | "PATCH" => {
            let mut r = if method == "POST" { agent.post(url) } else { agent.patch(url) };
            if let Some(a) = &auth {
                r = r.header("Authorization", a);
            }
            r = r.header("Content-Type", "application/json");
            r.send(body.unwrap_or(b""))
        }
        other => panic!("no method {other}"),
    };
    let mut resp = result.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status().as_u16();
    let mut body = String::new();
    resp.body_mut().as_reader().read_to_string(&mut body).unwrap();
    Answer { status, body }
}

/// `POST url` with a JSON body.
pub fn post_json(url: &str, token: &str, body: &Value) -> Answer {
    call("POST", url, Some(token), Some(body.to_string().as_bytes()))
}

/// Submits published pipeline `id` with `params` under experiment `experiment`: the run id.
#[track_caller]
pub fn submit(s: &Served, token: &str, id: &str, experiment: &str, params: Value) -> String {
    let body = json!({"ExperimentName": experiment, "ParameterAssignments": params});
    let a = post_json(&format!("{}/pipelines/{id}", s.url), token, &body);
    assert_eq!(a.status, 200, "{}", a.body);
    a.json()["Id"].as_str().unwrap().to_owned()
}

/// `GET /runs/ID`.
pub fn run_doc(s: &Served, token: &str, id: &str) -> Value {
    let a = call("GET", &format!("{}/runs/{id}", s.url), Some(token), None);
    assert_eq!(a.status, 200, "{}", a.body);
    a.json()
}

/// Polls run `id` until `done` holds for it (at most 120 s).
#[track_caller]
pub fn wait_for(s: &Served, token: &str, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let doc = run_doc(s, token, id);
        if done(&doc) {
            return doc;
        }
        assert!(Instant::now() < deadline, "run {id} stayed {doc}\n{}", s.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls run `id` until it ends: its document.
#[track_caller]
pub fn wait_end(s: &Served, token: &str, id: &str) -> Value {
    wait_for(s, token, id, |d| {
        matches!(d["Status"].as_str(), Some("Finished" | "Failed" | "Canceled"))
    })
}

/// Each step's status in a run document.
pub fn step_statuses(doc: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = doc["Steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["Name"].as_str().unwrap().to_owned(), s["Status"].as_str().unwrap().to_owned()))
        .collect();
    out.sort();
    out
}

/// The workspace's root (for the examples and scripts).
pub fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}
