//! Environments: a virtual environment per environment digest, under `.runner/envs/`.
//!
//! Built once: `python -m venv`, then `uv pip install -r` when `uv` is on `PATH`, else
//! `pip install -r`. A `.complete` marker is written last, so a build that was killed or
//! failed is redone from scratch next time. An exclusive lock file serialises two runners
//! building the same environment. The environment's folder and lock file are resolved
//! under the state folder (`cache::resolve_beneath`): a symlink planted in their place that
//! leads out is refused, so the folder removed before a rebuild is always the runner's own.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context as _;

/// The interpreter of environment `name` (digest hex `digest`), building it if needed.
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
    let folder = format!("{name}-{}", &digest[..digest.len().min(16)]);
    let dir = cache::resolve_beneath(state, &Path::new("envs").join(&folder))?;
    let dir = std::path::absolute(&dir)?;
    let interpreter = dir.join("bin").join("python");
    let marker = dir.join(".complete");
    if marker.exists() {
        return Ok(interpreter);
    }
    std::fs::create_dir_all(state.join("envs"))?;
    let lock_path = cache::resolve_beneath(state, &Path::new("envs").join(folder + ".lock"))?;
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
    let _ = std::fs::remove_dir_all(&dir);
    sink.event(crate::Event::Environment {
        name: name.to_owned(),
        requirements: requirements.map(Path::to_path_buf),
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
        let out = if uv {
            Command::new("uv")
                .args(["pip", "install", "--quiet", "--python"])
                .arg(&interpreter)
                .arg("-r")
                .arg(req)
                .output()
        } else {
            Command::new(&interpreter)
                .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r"])
                .arg(req)
                .output()
        }
        .with_context(|| format!("environment {name}: running the installer"))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let _ = std::fs::remove_dir_all(&dir);
            anyhow::bail!("environment {name}: {}", install_error(&stderr));
        }
    }
    std::fs::write(&marker, b"").with_context(|| format!("writing {}", marker.display()))?;
    Ok(interpreter)
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
