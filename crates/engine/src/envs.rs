//! Environments: a virtual environment per environment digest, in the user's cache
//! ([`envs_root`]: `$RUNNER_CACHE_DIR/envs`, else `$XDG_CACHE_HOME/runner/envs`, else
//! `~/.cache/runner/envs`), shared by every project whose environment has the same digest
//! (its requirements' content and interpreter), as pip's and uv's own caches are.
//!
//! Built once: `python -m venv`, then `uv pip install -r` when `uv` is on `PATH`, else
//! `pip install -r`, with the installer's lines reported as they come
//! ([`crate::Event::EnvironmentOutput`]) and the time it took. A `.complete` marker is
//! written last, so a build that was killed or failed is redone from scratch next time. An
//! exclusive lock file serialises builds (of any project) making the same environment: the
//! second waits and uses the first's. The environment's folder and lock file are resolved
//! under the root (`cache::resolve_beneath`): a symlink planted in their place that leads
//! out is refused, so the folder removed before a rebuild is always the runner's own.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::Context as _;

/// Where environments are made: `$RUNNER_CACHE_DIR/envs`, else
/// `$XDG_CACHE_HOME/runner/envs`, else `$HOME/.cache/runner/envs` (the XDG Base Directory
/// rule); `None` without any of them (a build then makes them in its state folder).
pub fn envs_root() -> Option<PathBuf> {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    let base = var("RUNNER_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|x| x.join("runner")))
        .or_else(|| var("HOME").map(|h| h.join(".cache").join("runner")))?;
    Some(base.join("envs"))
}

/// The interpreter of environment `name` (digest hex `digest`), building it if needed, in
/// [`envs_root`] (or `state/envs` without one).
///
/// # Errors
/// When the interpreter cannot make a venv, or the install fails; the message names the
/// package pip could not install when pip says which.
pub(crate) fn ensure(
    state: &Path,
    name: &str,
    python: &str,
    requirements: Option<&Path>,
    digest: &str,
    sink: &dyn crate::Sink,
) -> anyhow::Result<PathBuf> {
    let root = envs_root().unwrap_or_else(|| state.join("envs"));
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let folder = digest[..digest.len().min(32)].to_owned();
    let dir = std::path::absolute(cache::resolve_beneath(&root, Path::new(&folder))?)?;
    let interpreter = dir.join("bin").join("python");
    let marker = dir.join(".complete");
    if marker.exists() {
        return Ok(interpreter);
    }
    let lock_path = cache::resolve_beneath(&root, Path::new(&(folder + ".lock")))?;
    // Opened, not truncated: only its lock matters.
    let lock = std::fs::File::options()
        .create(true)
        .write(true)
        .truncate(false)
        .open(&lock_path)
        .with_context(|| format!("creating {}", lock_path.display()))?;
    lock.lock().with_context(|| format!("locking {}", lock_path.display()))?;
    if marker.exists() {
        return Ok(interpreter);
    }
    let started = Instant::now();
    let _ = std::fs::remove_dir_all(&dir);
    sink.event(crate::Event::Environment {
        name: name.to_owned(),
        requirements: requirements.map(Path::to_path_buf),
        dir: dir.clone(),
    });
    let out = Command::new(python)
        .args(["-m", "venv"])
        .arg(&dir)
        .output()
        .with_context(|| format!("environment {name}: running `{python} -m venv`"))?;
    if !out.status.success() {
        anyhow::bail!(
            "environment {name}: `{python} -m venv` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    if let Some(req) = requirements {
        let uv = Command::new("uv").arg("--version").output().is_ok_and(|o| o.status.success());
        let mut cmd = if uv {
            let mut c = Command::new("uv");
            c.args(["pip", "install", "--python"]).arg(&interpreter).arg("-r").arg(req);
            c
        } else {
            let mut c = Command::new(&interpreter);
            c.args(["-m", "pip", "install", "--disable-pip-version-check", "--progress-bar"])
                .args(["off", "-r"])
                .arg(req);
            c
        };
        let (ok, stderr) = run_reporting(&mut cmd, name, sink)
            .with_context(|| format!("environment {name}: running the installer"))?;
        if !ok {
            let _ = std::fs::remove_dir_all(&dir);
            anyhow::bail!("environment {name}: {}", install_error(&stderr));
        }
    }
    std::fs::write(&marker, b"").with_context(|| format!("writing {}", marker.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    sink.event(crate::Event::EnvironmentReady { name: name.to_owned(), seconds });
    Ok(interpreter)
}

/// Runs the installer, reporting each line it prints on stdout or stderr as it comes;
/// gives whether it succeeded and what it printed on stderr.
fn run_reporting(
    cmd: &mut Command,
    name: &str,
    sink: &dyn crate::Sink,
) -> std::io::Result<(bool, String)> {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let report = |line: String| {
        if !line.trim().is_empty() {
            sink.event(crate::Event::EnvironmentOutput { name: name.to_owned(), line });
        }
    };
    let stderr_text = std::thread::scope(|scope| {
        let err = scope.spawn(|| {
            let mut all = String::new();
            for line in stderr.map(std::io::BufReader::new).into_iter().flat_map(|r| r.lines()) {
                let Ok(line) = line else { break };
                all.push_str(&line);
                all.push('\n');
                report(line);
            }
            all
        });
        for line in stdout.map(std::io::BufReader::new).into_iter().flat_map(|r| r.lines()) {
            let Ok(line) = line else { break };
            report(line);
        }
        err.join().unwrap_or_default()
    });
    Ok((child.wait()?.success(), stderr_text))
}

/// The useful line of a failed pip/uv install.
fn install_error(stderr: &str) -> String {
    for line in stderr.lines() {
        if let Some(pkg) = line.split("No matching distribution found for ").nth(1) {
            return format!("could not install `{}`: no matching distribution", pkg.trim());
        }
        if let Some(pkg) =
            line.split("Could not find a version that satisfies the requirement ").nth(1)
        {
            let pkg = pkg.split(" (").next().unwrap_or(pkg);
            return format!("could not install `{}`: no version satisfies it", pkg.trim());
        }
        if line.contains("No solution found") || line.contains("not found in the package registry")
        {
            return format!("could not install: {}", line.trim());
        }
    }
    let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
    format!("install failed: {}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_the_package() {
        let pip = "ERROR: Could not find a version that satisfies the requirement nosuchpkg==9 (from versions: none)\nERROR: No matching distribution found for nosuchpkg==9\n";
        assert_eq!(
            super::install_error(pip),
            "could not install `nosuchpkg==9`: no version satisfies it"
        );
    }
}
