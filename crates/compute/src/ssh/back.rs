//! What the agent sends back of a job's folder: its records (logs, metrics, exit code),
//! kept in memory, and on success its output folders' contents, written straight into the
//! job's output folders on this machine (which the engine made, empty, for it). Every path
//! is checked before anything is written: relative, `/`-separated, no empty, `.` or `..`
//! component, a record's name or under an output folder `o<i>` the job has, and never
//! through a symlink the same reply made. Files are created new (`O_EXCL`: an existing
//! name, a symlink included, is refused, never followed).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use crate::Error;

/// The names of a job's folder the agent may send besides its output folders.
pub(super) const RECORDS: [&str; 6] =
    ["stdout.log", "stderr.log", "out.log", "metrics.txt", "rc", "why"];

/// One entry of a job's folder as the agent lists it (`k`: its kind, `p`: its path in the
/// folder).
#[derive(Debug, Deserialize)]
#[serde(tag = "k")]
pub(super) enum Entry {
    /// A folder.
    #[serde(rename = "d")]
    Dir { p: String },
    /// A file of `n` bytes (the next `n` of the reply's body), executable when `x`.
    #[serde(rename = "f")]
    File {
        p: String,
        n: u64,
        #[serde(default)]
        x: bool,
    },
    /// A symlink whose text is `t`.
    #[serde(rename = "l")]
    Symlink { p: String, t: String },
}

/// The agent's reply to a job: its folder's entries (their bytes, in order, are the
/// reply's body), and the SHA-256 of each output file by path (`o0/model.pkl`) when the job
/// succeeded; `error` instead when the job could not be staged or sent back.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Back {
    #[serde(default)]
    pub files: Vec<Entry>,
    #[serde(default)]
    pub sums: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub error: Option<String>,
}

/// `path` checked as a path in a job's folder with `outputs` output folders.
///
/// Errors: [`Error::Stage`] naming the path, when it is absolute, empty, holds an empty,
/// `.` or `..` component, or is not a record or under an output folder of the job.
fn checked(path: &str, outputs: usize) -> Result<PathBuf, Error> {
    let refuse =
        || Error::Stage(format!("the host sent a path outside the job's folder: {path:?}"));
    let parts: Vec<&str> = path.split('/').collect();
    if parts.iter().any(|p| p.is_empty() || *p == "." || *p == ".." || p.contains('\0')) {
        return Err(refuse());
    }
    let top = parts[0];
    let output = top
        .strip_prefix('o')
        .and_then(|i| i.parse::<usize>().ok())
        .is_some_and(|i| i < outputs && top == format!("o{i}"));
    let record = parts.len() == 1 && RECORDS.contains(&top);
    let rel = PathBuf::from(path);
    if !(output || record) || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(refuse());
    }
    Ok(rel)
}

/// Makes `rel`'s parent folders under `root`, each a real folder (not a symlink).
fn parents(root: &Path, rel: &Path) -> Result<(), Error> {
    let mut at = root.to_path_buf();
    let Some(parent) = rel.parent() else { return Ok(()) };
    for c in parent.components() {
        at.push(c);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::Stage(format!(
                    "the host sent a path through a symlink or a file: {}",
                    rel.display()
                )));
            }
            Err(_) => std::fs::create_dir(&at).map_err(|e| Error::Io(at.clone(), e))?,
        }
    }
    Ok(())
}

/// Where an output path `o<i>/REST` goes: `outputs[i]` and `REST` (empty for the folder
/// itself).
fn place<'a>(rel: &'a Path, outputs: &'a [PathBuf]) -> (&'a Path, PathBuf) {
    let mut parts = rel.components();
    let top =
        parts.next().map(|c| c.as_os_str().to_string_lossy().into_owned()).unwrap_or_default();
    let i: usize = top.trim_start_matches('o').parse().unwrap_or(0);
    (outputs[i].as_path(), parts.as_path().to_path_buf())
}

/// Takes `back`'s entries, their bytes in order from `body`: records are returned by name,
/// and, with `outputs` (the job's output folders, `o<i>` being `outputs[i]`), output
/// entries are written there; without, they are checked and dropped.
///
/// Errors: [`Error::Stage`] when a path is refused (see the module docs) or the body is not
/// as long as the entries say; [`Error::Io`] when a file cannot be written.
pub(super) fn write(
    back: &Back,
    body: &[u8],
    count: usize,
    outputs: Option<&[PathBuf]>,
) -> Result<BTreeMap<String, Vec<u8>>, Error> {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let mut records = BTreeMap::new();
    let mut at = 0usize;
    for entry in &back.files {
        let (p, n) = match entry {
            Entry::Dir { p } | Entry::Symlink { p, .. } => (p, 0),
            Entry::File { p, n, .. } => (p, *n),
        };
        let rel = checked(p, count)?;
        let end = usize::try_from(n).ok().and_then(|n| at.checked_add(n));
        let Some(bytes) = end.and_then(|end| body.get(at..end)) else {
            return Err(Error::Stage("the host's reply is shorter than it says".into()));
        };
        at += bytes.len();
        if RECORDS.contains(&p.as_str()) {
            if let Entry::File { .. } = entry {
                records.insert(p.clone(), bytes.to_vec());
            }
            continue;
        }
        let Some(outputs) = outputs else { continue };
        let (root, rest) = place(&rel, outputs);
        if rest.as_os_str().is_empty() {
            continue;
        }
        match entry {
            Entry::Dir { .. } => parents(root, &rest.join("x"))?,
            Entry::File { x, .. } => {
                parents(root, &rest)?;
                let path = root.join(&rest);
                let mode = if *x { 0o755 } else { 0o644 };
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(mode)
                    .open(&path)
                    .map_err(|e| Error::Io(path.clone(), e))?;
                f.write_all(bytes).map_err(|e| Error::Io(path.clone(), e))?;
                let perms = std::fs::Permissions::from_mode(mode);
                f.set_permissions(perms).map_err(|e| Error::Io(path.clone(), e))?;
            }
            Entry::Symlink { t, .. } => {
                parents(root, &rest)?;
                let path = root.join(&rest);
                std::os::unix::fs::symlink(t, &path).map_err(|e| Error::Io(path, e))?;
            }
        }
    }
    if at != body.len() {
        return Err(Error::Stage("the host's reply is longer than it says".into()));
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(p: &str, n: u64) -> Entry {
        Entry::File { p: p.into(), n, x: false }
    }

    fn reply(files: Vec<Entry>) -> Back {
        Back { files, ..Back::default() }
    }

    /// `n` empty output folders in `t`.
    fn outs(t: &Path, n: usize) -> Vec<PathBuf> {
        (0..n)
            .map(|i| {
                let o = t.join(format!("out{i}"));
                std::fs::create_dir(&o).unwrap();
                o
            })
            .collect()
    }

    #[test]
    fn writes_records_and_outputs() {
        let t = tempfile::tempdir().unwrap();
        let o = outs(t.path(), 2);
        let back = reply(vec![
            file("rc", 2),
            Entry::Dir { p: "o0".into() },
            Entry::Dir { p: "o1/empty".into() },
            Entry::File { p: "o0/sub/run".into(), n: 3, x: true },
            Entry::Symlink { p: "o0/link".into(), t: "sub/run".into() },
        ]);
        let records = write(&back, b"0\nabc", 2, Some(&o)).unwrap();
        assert_eq!(records.get("rc").map(Vec::as_slice), Some(&b"0\n"[..]));
        assert_eq!(std::fs::read(o[0].join("sub/run")).unwrap(), b"abc");
        assert!(o[1].join("empty").is_dir());
        assert_eq!(std::fs::read_link(o[0].join("link")).unwrap(), Path::new("sub/run"));
        // Without output folders, outputs are checked and dropped.
        let t = tempfile::tempdir().unwrap();
        let records = write(&back, b"0\nabc", 2, None).unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 0);
    }

    /// Crafted replies, each refused before anything lands outside the output folders.
    #[test]
    fn hostile_paths_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let outside = t.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        let cases: Vec<Vec<Entry>> = vec![
            vec![file("../outside/x", 1)],
            vec![file("o0/../../outside/x", 1)],
            vec![file("o0/../outside/x", 1)],
            vec![file(&format!("{}/x", outside.display()), 1)],
            vec![file("/etc/passwd", 1)],
            vec![file("o0//x", 1)],
            vec![file("o0/./x", 1)],
            vec![file("o2/x", 1)],
            vec![file("o01/x", 1)],
            vec![file("run.sh", 1)],
            vec![file("rc/x", 1)],
            vec![file("", 1)],
            // Through a symlink the reply made, to a folder outside.
            vec![
                Entry::Symlink { p: "o0/l".into(), t: outside.display().to_string() },
                file("o0/l/x", 1),
            ],
            // Over a symlink the reply made: not followed.
            vec![
                Entry::Symlink { p: "o0/m".into(), t: outside.join("x").display().to_string() },
                file("o0/m", 1),
            ],
            vec![Entry::Dir { p: "o1/../../outside/d".into() }],
            vec![Entry::Symlink { p: "../outside/s".into(), t: "/".into() }],
        ];
        for (i, files) in cases.into_iter().enumerate() {
            let case = t.path().join(format!("case{i}"));
            std::fs::create_dir(&case).unwrap();
            let o = outs(&case, 2);
            let err = write(&reply(files), b"x", 2, Some(&o));
            assert!(err.is_err(), "case {i} was accepted");
            assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0, "case {i} wrote outside");
        }
    }

    #[test]
    fn a_body_of_another_length_is_refused() {
        assert!(write(&reply(vec![file("rc", 5)]), b"0\n", 0, None).is_err());
        assert!(write(&reply(vec![file("rc", 1)]), b"0\n", 0, None).is_err());
    }
}
