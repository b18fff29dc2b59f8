//! The state folder, `.runner/` beside the pipeline: checked before anything is written
//! there.
//!
//! Everything the runner writes for a project goes below `.runner/` (the stat cache, the
//! build memo, run history, the cache, output views, run folders, environments, the trash),
//! and some of it is deleted again (spent copies, the trash, a view being replaced). A
//! checked-out repository can hold a `.runner` of its own, or entries in it, that are
//! symlinks to elsewhere; the trash emptied through one would delete whatever it names. So
//! `.runner` must lie inside the project folder, and each entry directly inside it inside
//! `.runner`, by the rules of `cache::resolve_beneath` (a symlink that stays inside is
//! followed as any folder). Below those entries the runner names its files itself (step,
//! output and environment names are checked by `E0111 invalid-name`, run ids are numbers),
//! and a run's own folder is new ([`new_run_dir`]).

use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// The state folder's name, beside the pipeline file.
const STATE: &str = ".runner";

/// `.runner/` in the project folder `root` (made absolute), proven to lie inside `root`, as
/// does every entry directly inside it (see the module docs). A folder not created yet
/// passes.
/// One `lstat`, and, when the folder exists, one directory read (plus a `readlink` per
/// symlink in it).
///
/// Errors: `.runner` or an entry in it leads outside (a symlink to elsewhere), naming it,
/// the folder it must stay in and the symlink's target; the folder cannot be read.
pub fn checked_state_dir(root: &Path) -> anyhow::Result<PathBuf> {
    // Absolute, so that a message names where the project is.
    let root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    let state = cache::resolve_beneath(&root, Path::new(STATE))
        .context("the state folder must lie inside the project")?;
    let entries = match std::fs::read_dir(&state) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(state),
        Err(e) => return Err(e).with_context(|| format!("reading {}", state.display())),
    };
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", state.display()))?;
        if entry.file_type().is_ok_and(|t| t.is_symlink()) {
            cache::resolve_beneath(&state, Path::new(&entry.file_name()))
                .context("what the state folder holds must lie inside it")?;
        }
    }
    Ok(state)
}

/// The file in a step's run folder that lists the files a traced run of it read outside its
/// key, one path (relative to the pipeline's folder) a line: written by the engine, read by
/// `runner show` and the language server.
pub const UNDECLARED_READS_FILE: &str = "undeclared-reads.txt";

/// `runs/<run_id>/` in the state folder `state`, for a run about to start: it must lead
/// nowhere outside `state` and must not exist yet, so that every folder below it (logs,
/// metrics, input copies, snapshots) is made by this run. Creates nothing.
///
/// Errors: it leads outside `state`; it exists already (left by a run history that was
/// removed since: the message says to move it away).
pub fn new_run_dir(state: &Path, run_id: i64) -> anyhow::Result<PathBuf> {
    let dir = cache::resolve_beneath(state, &Path::new("runs").join(run_id.to_string()))?;
    if std::fs::symlink_metadata(&dir).is_ok() {
        anyhow::bail!(
            "{} already exists, but run {run_id} is new (was run history removed? move the \
             old runs/ folder away)",
            dir.display()
        );
    }
    Ok(dir)
}

/// What `.runner/.gitignore` holds: nothing in the state folder belongs in version control
/// (as Python's venv and cargo's `target/` say of themselves).
const GITIGNORE: &str = "# Written by runner: the state folder is not source.\n*\n";

/// `CACHEDIR.TAG`, by the Cache Directory Tagging Specification
/// (<https://bford.info/cachedir/>): backup tools skip the folder.
const CACHEDIR_TAG: &str = "Signature: 8a477f597d28d172789f06886806bc55\n\
# This file is a cache directory tag created by runner.\n\
# For information about cache directory tags, see https://bford.info/cachedir/\n";

/// Creates the state folder `state` (checked by [`checked_state_dir`]) if needed, with a
/// `.gitignore` holding `*` and a `CACHEDIR.TAG`, each written only when missing (a file a
/// user edited is kept; a name taken by anything else, a symlink included, is left as it
/// is, since nothing reads them).
///
/// Errors: the folder cannot be created. Failing to write the two files is not one.
pub fn make_state_dir(state: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(state).with_context(|| format!("creating {}", state.display()))?;
    for (name, text) in [(".gitignore", GITIGNORE), ("CACHEDIR.TAG", CACHEDIR_TAG)] {
        // `create_new` never follows a symlink at the name, nor replaces what is there.
        let created =
            std::fs::OpenOptions::new().write(true).create_new(true).open(state.join(name));
        if let Ok(mut f) = created {
            use std::io::Write as _;
            let _ = f.write_all(text.as_bytes());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn a_state_folder_inside_passes_and_one_leading_out_does_not() {
        let world = tempfile::tempdir().unwrap();
        let (root, elsewhere) = (world.path().join("p"), world.path().join("elsewhere"));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&elsewhere).unwrap();
        assert_eq!(checked_state_dir(&root).unwrap(), root.join(".runner"), "not made yet");
        symlink(&elsewhere, root.join(".runner")).unwrap();
        let err = format!("{:#}", checked_state_dir(&root).unwrap_err());
        assert!(err.contains(".runner leads outside"), "{err}");
        assert!(err.contains(&elsewhere.display().to_string()), "{err}");
        std::fs::remove_file(root.join(".runner")).unwrap();
        // A symlink to a folder inside the project is followed.
        std::fs::create_dir_all(root.join("build/state")).unwrap();
        symlink("build/state", root.join(".runner")).unwrap();
        assert_eq!(checked_state_dir(&root).unwrap(), root.join(".runner"));
        for name in ["trash", "outputs", "cache", "history.sqlite"] {
            let planted = root.join(".runner").join(name);
            symlink(&elsewhere, &planted).unwrap();
            let err = format!("{:#}", checked_state_dir(&root).unwrap_err());
            assert!(err.contains(&format!("{name} leads outside")), "{err}");
            std::fs::remove_file(&planted).unwrap();
            symlink("runs", &planted).unwrap();
            checked_state_dir(&root).unwrap();
            std::fs::remove_file(&planted).unwrap();
        }
    }

    #[test]
    fn the_state_folder_says_it_is_no_source_and_a_cache() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join(".runner");
        make_state_dir(&state).unwrap();
        let ignore = std::fs::read_to_string(state.join(".gitignore")).unwrap();
        assert_eq!(ignore.lines().last(), Some("*"));
        let tag = std::fs::read_to_string(state.join("CACHEDIR.TAG")).unwrap();
        assert!(tag.starts_with("Signature: 8a477f597d28d172789f06886806bc55\n"), "{tag}");
        // A user's own file is kept; a planted symlink is not written through.
        std::fs::write(state.join(".gitignore"), "mine\n").unwrap();
        std::fs::remove_file(state.join("CACHEDIR.TAG")).unwrap();
        let outside = dir.path().join("outside");
        symlink(&outside, state.join("CACHEDIR.TAG")).unwrap();
        make_state_dir(&state).unwrap();
        assert_eq!(std::fs::read_to_string(state.join(".gitignore")).unwrap(), "mine\n");
        assert!(!outside.exists());
    }

    #[test]
    fn a_run_folder_is_new() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path();
        assert_eq!(new_run_dir(state, 7).unwrap(), state.join("runs/7"));
        std::fs::create_dir_all(state.join("runs/7")).unwrap();
        let err = new_run_dir(state, 7).unwrap_err().to_string();
        assert!(err.contains("runs/7 already exists"), "{err}");
        symlink("/", state.join("runs/8")).unwrap();
        let err = new_run_dir(state, 8).unwrap_err().to_string();
        assert!(err.contains("leads outside"), "{err}");
    }
}
