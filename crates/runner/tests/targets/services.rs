//! Starting and stopping a service of `tests/services/`, and the example pipeline copied
//! into a test's folder.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace's root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// A running service, stopped (by its PID files) when dropped.
pub struct Service {
    script: PathBuf,
    /// Its folder: configuration, keys, logs, PID files.
    pub dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Service {
    /// Starts `tests/services/NAME.sh start DIR ARGS…`, which needs root and the commands
    /// in `needs`. `None` when `RUNNER_TEST_SERVICES=skip` and it cannot run here.
    pub fn start(name: &str, args: &[&str], needs: &[&str]) -> Option<Service> {
        let root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
        let missing: Vec<&str> = needs.iter().copied().filter(|c| !on_path(c)).collect();
        if !root || !missing.is_empty() {
            let why = format!(
                "the {name} service needs root and {needs:?} (missing: {missing:?}); \
                 `.ci/run` installs them"
            );
            if std::env::var("RUNNER_TEST_SERVICES").as_deref() == Ok("skip") {
                eprintln!("skipped: {why}");
                return None;
            }
            panic!("{why}; set RUNNER_TEST_SERVICES=skip to skip");
        }
        let tmp = tempfile::Builder::new().prefix(&format!("runner-{name}-")).tempdir().unwrap();
        let dir = tmp.path().join("service");
        let script = workspace().join(format!("tests/services/{name}.sh"));
        let out = Command::new("bash").arg(&script).arg("start").arg(&dir).args(args).output();
        let out = out.unwrap();
        let service = Service { script, dir, _tmp: tmp };
        assert!(
            out.status.success(),
            "{name} did not start:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Some(service)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(&self.script).arg("stop").arg(&self.dir).status();
    }
}

fn on_path(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
        || Path::new(cmd).is_file()
}

/// Copies `examples/digits` (without its `.runner/`) into `to`, then appends `extra` to
/// its `pipeline.toml`.
pub fn digits_into(to: &Path, extra: &str) {
    copy(&workspace().join("examples/digits"), to);
    let file = to.join("pipeline.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("{text}\n{extra}")).unwrap();
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if name == ".runner" {
            continue;
        }
        let (src, dst) = (e.path(), to.join(&name));
        if e.file_type().unwrap().is_dir() {
            copy(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}
