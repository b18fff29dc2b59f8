//! A job as it lies on a target: its folder under the target's `workdir`, where each of
//! the job's local paths goes there, and the POSIX `sh` script that runs it.
//!
//! ```text
//! <workdir>/envs/<digest>/            a step environment, made once (`.runner-ready` inside)
//! <workdir>/jobs/<run>-<step>-<n>/    one job:
//!     r0/ r1/ …                        what it reads (its snapshot first), staged
//!     o0/ o1/ …                        its output folders, empty when it starts
//!     requirements.txt                 its environment's requirements, if it makes one
//!     run.sh                           the script below
//!     stdout.log stderr.log            its logs (one `out.log` when they share a file)
//!     metrics.txt                      RUNNER_METRICS
//!     pgid, rc, why, outputs.sha256    its process group, exit code, why it failed
//!                                      before the step started, its outputs' digests
//! ```
//!
//! Every value the script holds comes from the pipeline (paths, arguments, environment
//! variables) and is written single-quoted ([`quote`]): nothing is ever read as shell text
//! but the script's own words.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use exec::{Job, Program};

use crate::Error;

/// The job's folder and where each of its local paths goes there.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// The job's folder on the target.
    pub dir: String,
    /// The target's `workdir`.
    pub workdir: String,
    /// (local path, its place on the target) for what the job reads, in `Job::reads` order.
    pub reads: Vec<(PathBuf, String)>,
    /// (local output folder, its place on the target), in `Job::outputs` order.
    pub outputs: Vec<(PathBuf, String)>,
    /// Whether stdout and stderr share one log.
    pub shared_log: bool,
}

/// What runs a job on the target ([`Layout::command`]): argv, working folder and
/// environment variables, as the target sees them. Each value is one word: never shell text.
#[derive(Debug, Clone)]
pub(crate) struct Command {
    /// `argv[0]`; `None`: the interpreter of the job's Python environment, known only
    /// where the environment is made.
    pub program: Option<String>,
    /// The rest of argv.
    pub args: Vec<String>,
    /// The working folder (the staged snapshot).
    pub cwd: String,
    /// Environment variables set on top of the target's own, in order.
    pub env: Vec<(String, String)>,
}

/// Why a job fails when its working folder is not on the target (its `why`).
pub(crate) const NO_SNAPSHOT: &str = "its snapshot is missing on the target";

/// `s` single-quoted for `sh`: read back as exactly these bytes, whatever they hold.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

fn utf8<'a>(s: &'a OsStr, what: &str) -> Result<&'a str, Error> {
    s.to_str().ok_or_else(|| Error::Stage(format!("{what} is not UTF-8: {}", s.to_string_lossy())))
}

impl Layout {
    /// The layout of `job` in `workdir` (a path the target's shell resolves: absolute, or
    /// relative to the login's home), in a folder named `<run>-<step>-<nonce>`.
    pub fn new(workdir: &str, job: &Job, nonce: u64) -> Layout {
        let dir = format!("{workdir}/jobs/{}-{}-{nonce:x}", job.run_id, job.step);
        let reads = job.reads.iter().enumerate().map(|(i, p)| (p.clone(), format!("{dir}/r{i}")));
        let outputs =
            job.outputs.iter().enumerate().map(|(i, p)| (p.clone(), format!("{dir}/o{i}")));
        Layout {
            workdir: workdir.to_owned(),
            reads: reads.collect(),
            outputs: outputs.collect(),
            shared_log: job.spec.stdout_path == job.spec.stderr_path,
            dir,
        }
    }

    /// `text` with every local path of the job replaced by its place on the target (the
    /// longest first, so a folder inside another maps to its own place).
    ///
    /// Errors: `text` is not UTF-8 (a target's script is text).
    pub fn map(&self, text: &OsStr, job: &Job) -> Result<String, Error> {
        let mut s = utf8(text, "an argument or environment value")?.to_owned();
        let metrics = (job.metrics.clone(), format!("{}/metrics.txt", self.dir));
        let mut pairs: Vec<(&Path, &str)> = self
            .reads
            .iter()
            .chain(&self.outputs)
            .chain(std::iter::once(&metrics))
            .map(|(l, r)| (l.as_path(), r.as_str()))
            .collect();
        pairs.sort_by_key(|(l, _)| std::cmp::Reverse(l.as_os_str().len()));
        for (local, remote) in pairs {
            let local = utf8(local.as_os_str(), "a staged path")?;
            if s.contains(local) {
                s = s.replace(local, remote);
            }
        }
        Ok(s)
    }

    /// The environment's folder on the target.
    pub fn env_dir(&self, env: &exec::Environment) -> String {
        format!("{}/envs/{}", self.workdir, env.digest)
    }

    /// The script that runs `job` on the target: make its environment if missing (with its
    /// output in the step's stderr log), go to its snapshot, run its argv with its
    /// environment variables, record its exit code in `rc` and its outputs' digests in
    /// `outputs.sha256`. `python`: the target's interpreter for `.py` scripts and for
    /// making environments when the environment names none of its own. `sums`: whether
    /// the script records the digests itself (`find` and `sha256sum`), or leaves them to
    /// whoever fetches the outputs (the ssh agent hashes them as it sends them).
    ///
    /// Errors: an argument, value or path is not UTF-8; an environment variable's name is
    /// not a shell name (letters, digits and `_`).
    pub fn script(&self, job: &Job, python: &str, sums: bool) -> Result<String, Error> {
        let q = quote;
        let cmd = self.command(job, python)?;
        let mut s = String::new();
        let _ = writeln!(s, "#!/bin/sh\n# runner: step {} of run {}", job.step, job.run_id);
        let _ = writeln!(s, "J={}\ncd \"$J\" || exit 120\necho $$ > pgid", q(&self.dir));
        let (out, err) = self.log_names();
        let _ = writeln!(s, "OUT=\"$J/{out}\"\nERR=\"$J/{err}\"\n: > \"$OUT\"\n: >> \"$ERR\"");
        // `rc` is written by `echo`, a builtin (no process): a script killed before its one
        // write leaves it empty, which reads as no exit code, as a missing one does.
        s.push_str("fail() { echo \"$1\" > why; echo 1 > rc; exit 121; }\n");
        if let Program::Python(Some(env)) = &job.program {
            s.push_str(&self.env_block(env, python));
        }
        let _ = writeln!(s, "cd {} || fail {}", q(&cmd.cwd), q(NO_SNAPSHOT));
        for (k, v) in &cmd.env {
            let _ = writeln!(s, "export {k}={}", q(v));
        }
        let argv0 = cmd.program.as_deref().map_or_else(|| "\"$PY\"".to_owned(), q);
        let mut words = vec![argv0];
        words.extend(cmd.args.iter().map(|a| q(a)));
        let _ = writeln!(s, "{} > \"$OUT\" 2>> \"$ERR\" < /dev/null", words.join(" "));
        s.push_str("rc=$?\ncd \"$J\"\n");
        // The outputs' digests, for the fetch to verify what it brought back.
        let outs: Vec<String> = (0..self.outputs.len()).map(|i| format!("o{i}")).collect();
        if sums && !outs.is_empty() {
            let _ = writeln!(
                s,
                "[ \"$rc\" -ne 0 ] || find {} -type f -exec sha256sum {{}} + > outputs.sha256",
                outs.join(" ")
            );
        }
        s.push_str("echo \"$rc\" > rc\nexit \"$rc\"\n");
        Ok(s)
    }

    /// The names of the job's logs in its folder: stdout's and stderr's, the same name
    /// when they share one.
    pub fn log_names(&self) -> (&'static str, &'static str) {
        if self.shared_log { ("out.log", "out.log") } else { ("stdout.log", "stderr.log") }
    }

    /// What runs `job` on the target, every local path replaced by its place there.
    /// `python`: the target's interpreter for `.py` scripts without an environment.
    ///
    /// Errors: an argument, value or path is not UTF-8; an environment variable's name is
    /// not a shell name (letters, digits and `_`).
    pub fn command(&self, job: &Job, python: &str) -> Result<Command, Error> {
        let program = match &job.program {
            Program::Given => Some(self.map(&job.spec.argv[0], job)?),
            Program::Shell => Some("sh".to_owned()),
            Program::Python(None) => Some(python.to_owned()),
            Program::Python(Some(_)) => None,
        };
        let mut env = Vec::with_capacity(job.spec.env.len());
        for (k, v) in &job.spec.env {
            let k = utf8(k, "an environment variable's name")?;
            let shell_name = !k.is_empty()
                && !k.starts_with(|c: char| c.is_ascii_digit())
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !shell_name {
                return Err(Error::Stage(format!("environment variable name `{k}`")));
            }
            env.push((k.to_owned(), self.map(v, job)?));
        }
        let args = job.spec.argv[1..].iter().map(|a| self.map(a, job)).collect::<Result<_, _>>()?;
        Ok(Command { program, args, cwd: self.map(job.spec.cwd.as_os_str(), job)?, env })
    }

    /// Makes `env` on the target when missing, under a lock (`flock`, where the target has
    /// it), logging into the step's stderr log; sets `PY` to its interpreter.
    fn env_block(&self, env: &exec::Environment, python: &str) -> String {
        let q = quote;
        let base = if env.python == "python3" { python } else { env.python.as_str() };
        let e = self.env_dir(env);
        let req = match &env.requirements {
            Some(_) => "if command -v uv > /dev/null 2>&1; \
                 then uv pip install -q --python \"$E/bin/python\" -r \"$J/requirements.txt\"; \
                 else \"$E/bin/python\" -m pip install -q --disable-pip-version-check \
                 -r \"$J/requirements.txt\"; fi"
                .to_owned(),
            None => "true".to_owned(),
        };
        format!(
            "E={e}\nPY=\"$E/bin/python\"\n\
             if [ ! -e \"$E/.runner-ready\" ]; then\n\
             mkdir -p {envs} || fail 'cannot create the environments folder'\n\
             (\n\
             command -v flock > /dev/null 2>&1 && flock 9\n\
             if [ ! -e \"$E/.runner-ready\" ]; then\n\
             echo \"runner: making environment {name} ({short}) in $E on $(hostname)\"\n\
             rm -rf \"$E\" && {base} -m venv \"$E\" && {req} && : > \"$E/.runner-ready\"\n\
             fi\n\
             ) 9> \"$E.lock\" >> \"$ERR\" 2>&1 || fail {why}\n\
             fi\n",
            e = q(&e),
            envs = q(&format!("{}/envs", self.workdir)),
            name = env.name,
            short = &env.digest[..env.digest.len().min(12)],
            base = q(base),
            why = q(&format!("making environment {} failed (its log is in stderr)", env.name)),
        )
    }
}

impl Layout {
    /// Copies the logs and metrics the job left in `from` (its folder, or where its folder
    /// was fetched to) to where the run keeps them: its log files (one when stdout and
    /// stderr share one), and its metrics appended to the run's metrics file.
    pub fn bring_back_logs(&self, from: &Path, job: &Job) {
        for (name, to) in self.log_places(job) {
            let log = from.join(name);
            if std::fs::metadata(&log).is_ok_and(|m| m.len() > 0) {
                if let Some(parent) = to.parent() {
                    let _ = std::fs::create_dir_all(parent);
                }
                let _ = std::fs::copy(&log, to);
            }
        }
        append_metrics(&from.join("metrics.txt"), &job.metrics);
    }
}

impl Layout {
    /// Each log a job leaves in its folder, by name, and where the run keeps it.
    fn log_places<'j>(&self, job: &'j Job) -> Vec<(&'static str, &'j Path)> {
        if self.shared_log {
            vec![("out.log", &job.spec.stdout_path)]
        } else {
            vec![("stdout.log", &job.spec.stdout_path), ("stderr.log", &job.spec.stderr_path)]
        }
    }

    /// Writes the logs and metrics a job left, given by name in its folder (`stdout.log`,
    /// `metrics.txt`, …), where the run keeps them, as [`Layout::bring_back_logs`] does.
    pub fn bring_back_records(&self, records: &BTreeMap<String, Vec<u8>>, job: &Job) {
        for (name, to) in self.log_places(job) {
            if let Some(log) = records.get(name).filter(|l| !l.is_empty()) {
                if let Some(parent) = to.parent() {
                    let _ = std::fs::create_dir_all(parent);
                }
                let _ = std::fs::write(to, log);
            }
        }
        if let Some(metrics) = records.get("metrics.txt") {
            append_metric_bytes(metrics, &job.metrics);
        }
    }
}

/// Appends the metrics a job wrote (`from`) to the run's metrics file `to`.
fn append_metrics(from: &Path, to: &Path) {
    let Ok(text) = std::fs::read(from) else { return };
    append_metric_bytes(&text, to);
}

/// Appends the metrics `text` a job wrote to the run's metrics file `to`.
fn append_metric_bytes(text: &[u8], to: &Path) {
    use std::io::Write as _;
    if text.is_empty() {
        return;
    }
    if let Some(parent) = to.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(to) {
        let _ = f.write_all(text);
    }
}

/// The digests a job's script recorded for its outputs (`sha256sum` lines: `HEX  PATH`),
/// by path relative to the job folder (`o0/model.pkl`). Lines `sha256sum` escapes (names
/// with a newline or a backslash) are unescaped.
pub(crate) fn parse_sums(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let (escaped, line) = match line.strip_prefix('\\') {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        let Some((hex, path)) = line.split_once("  ") else { continue };
        let path =
            if escaped { path.replace("\\n", "\n").replace("\\\\", "\\") } else { path.to_owned() };
        out.insert(path.trim_start_matches("./").to_owned(), hex.to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_every_byte() {
        for s in ["plain", "it's", "$(rm -rf /)", "a\nb", "`x` ${y} \\ \"z\"", ""] {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {}", quote(s)))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), s);
        }
    }

    /// A job whose argument, environment value and paths hold shell syntax, run by its
    /// script through a real `sh`: each value arrives as written, nothing is executed, and
    /// the local paths are replaced by their staged places.
    #[test]
    fn the_script_runs_hostile_values_as_data() {
        let t = tempfile::tempdir().unwrap();
        let local = t.path().join("local");
        let (snapshot, out) = (local.join("snap $(touch S)"), local.join("out"));
        let hostile = "hello; touch PWNED `touch P2` $(touch P3) 'q\" \\ ${HOME}";
        let job = Job {
            pipeline: "p".into(),
            step: "s".into(),
            run_id: 1,
            program: Program::Given,
            metrics: local.join("metrics.txt"),
            spec: exec::ProcessSpec {
                argv: vec![
                    "sh".into(),
                    "-c".into(),
                    "printf '%s|%s|%s' \"$0\" \"$X\" \"$1\" > \"$1/got.txt\"".into(),
                    hostile.into(),
                    out.clone().into_os_string(),
                ],
                cwd: snapshot.clone(),
                env: vec![("X".into(), format!("{hostile} {}", snapshot.display()).into())],
                stdout_path: local.join("stdout.log"),
                stderr_path: local.join("stderr.log"),
                timeout: None,
                grace: std::time::Duration::from_secs(1),
            },
            reads: vec![snapshot.clone()],
            outputs: vec![out],
        };
        let workdir = t.path().join("work").display().to_string();
        let layout = Layout::new(&workdir, &job, 7);
        for (_, staged) in layout.reads.iter().chain(&layout.outputs) {
            std::fs::create_dir_all(staged).unwrap();
        }
        let script = layout.script(&job, "python3", true).unwrap();
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .current_dir(t.path())
            .status()
            .unwrap();
        assert!(status.success(), "{script}");
        let got = std::fs::read_to_string(format!("{}/o0/got.txt", layout.dir)).unwrap();
        let staged_snapshot = &layout.reads[0].1;
        assert_eq!(got, format!("{hostile}|{hostile} {staged_snapshot}|{}/o0", layout.dir));
        assert_eq!(std::fs::read_to_string(format!("{}/rc", layout.dir)).unwrap(), "0\n");
        for planted in ["PWNED", "P2", "P3", "S"] {
            for dir in [t.path().to_path_buf(), staged_snapshot.into()] {
                assert!(!dir.join(planted).exists(), "{planted} was created in {}", dir.display());
            }
        }
    }

    #[test]
    fn sums_with_escaped_names() {
        let text = "ab12  o0/model.pkl\n\\cd34  o0/a\\nb\n";
        let sums = parse_sums(text);
        assert_eq!(sums.get("o0/model.pkl").map(String::as_str), Some("ab12"));
        assert_eq!(sums.get("o0/a\nb").map(String::as_str), Some("cd34"));
    }
}
