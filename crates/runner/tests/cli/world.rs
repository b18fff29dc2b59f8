//! A project inside a "world" folder of sentinels, for the traversal and injection
//! matrices: what the runner may write is the project (its `.runner/` included); anything
//! else in the world that is created, changed or deleted is a defect, and so is a file named
//! `PWNED…` anywhere (the mark of parameter text that ran).
//!
//! ```text
//! world/
//!   sentinel.txt  tool.sh  req.txt      files a hostile pipeline may name
//!   secret/{a.txt, sub/b.txt, step.sh}  a folder it may name (as a source_directory too)
//!   victim/DIR/keep.txt                 what `upload DIR --target world/victim` replaced
//!   empty/                              an empty folder (a step's output must not be it)
//!   project/
//!     .amlignore                        leaves the two symlinks below out of snapshots
//!     escape -> world/secret            absolute symlink leading out
//!     up -> ..                          relative symlink leading out
//!     step.sh  data.txt  req.txt  DIR/file.txt
//! ```

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{Run, runner_bin};

/// What a step script does besides writing its output: writes into its working folder and
/// tries to write through the project's two symlinks (if a snapshot kept them).
pub const STEP_SH: &str = "for p in cwd_write escape/written_through up/written_through; do \
                           (: > \"$p\") 2>/dev/null || true; done\nprintf ok > \"$1/o.txt\"\n";

/// One entry of a folder tree, as compared before and after a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A folder: mode and mtime (an entry created or removed in it moves the mtime).
    Dir { mode: u32, mtime_ns: i128 },
    /// A file: mode, mtime and its whole content.
    File { mode: u32, mtime_ns: i128, bytes: Vec<u8> },
    /// A symlink and its target text.
    Link { target: PathBuf },
}

/// A folder tree by relative path (`""` is the folder itself), symlinks not followed.
pub type Tree = BTreeMap<PathBuf, Node>;

/// Everything under `root` except the paths in `skip` (and what is below them).
pub fn tree(root: &Path, skip: &[PathBuf]) -> Tree {
    let mut out = Tree::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        if skip.contains(&p) {
            continue;
        }
        let m = std::fs::symlink_metadata(&p).unwrap();
        let rel = p.strip_prefix(root).unwrap().to_path_buf();
        let (mode, mtime_ns) =
            (m.mode() & 0o7777, i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()));
        let node = if m.file_type().is_symlink() {
            Node::Link { target: std::fs::read_link(&p).unwrap() }
        } else if m.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
            Node::Dir { mode, mtime_ns }
        } else {
            Node::File { mode, mtime_ns, bytes: std::fs::read(&p).unwrap() }
        };
        out.insert(rel, node);
    }
    out
}

/// A project inside a world of sentinels (see the module docs).
pub struct World {
    dir: tempfile::TempDir,
}

impl World {
    /// A fresh world, its project holding `step.sh`, `data.txt`, `req.txt`, `DIR/` and the
    /// two symlinks that lead out.
    pub fn new() -> World {
        let dir = tempfile::Builder::new().prefix("runner-world-").tempdir().unwrap();
        let w = World { dir };
        for (rel, text) in [
            ("sentinel.txt", "SENTINEL, keep out\n"),
            ("tool.sh", "printf tool > \"$1/o.txt\"\n"),
            ("req.txt", "# nothing to install\n"),
            ("secret/a.txt", "a\n"),
            ("secret/sub/b.txt", "b\n"),
            ("secret/step.sh", STEP_SH),
            ("victim/DIR/keep.txt", "keep me\n"),
            ("project/.amlignore", "escape\nup\n"),
            ("project/step.sh", STEP_SH),
            ("project/data.txt", "data\n"),
            ("project/req.txt", "# nothing to install\n"),
            ("project/DIR/file.txt", "uploaded\n"),
        ] {
            w.write_abs(&w.root().join(rel), text);
        }
        std::fs::create_dir(w.root().join("empty")).unwrap();
        symlink(w.root().join("secret"), w.project().join("escape")).unwrap();
        symlink("..", w.project().join("up")).unwrap();
        w
    }

    /// The world folder (absolute).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The project folder, `world/project`.
    pub fn project(&self) -> PathBuf {
        self.root().join("project")
    }

    /// `world/rel` as text, for pipeline values.
    pub fn at(&self, rel: &str) -> String {
        self.root().join(rel).display().to_string()
    }

    /// Writes `rel` in the project (creating folders).
    pub fn write(&self, rel: &str, text: &str) {
        self.write_abs(&self.project().join(rel), text);
    }

    fn write_abs(&self, path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// The world outside the project, as it is now.
    pub fn outside(&self) -> Tree {
        tree(self.root(), &[self.project()])
    }

    /// Runs `runner ARGS` in the project folder.
    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> Run {
        let out = Command::new(runner_bin())
            .args(args)
            .current_dir(self.project())
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let shown: Vec<String> =
            args.iter().map(|a| a.as_ref().to_string_lossy().into_owned()).collect();
        Run::from_output(&shown, out)
    }

    /// Files and folders named `PWNED…` anywhere in the world, the project included.
    pub fn pwned(&self) -> Vec<PathBuf> {
        tree(self.root(), &[])
            .into_keys()
            .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("PWNED")))
            .collect()
    }

    /// Runs `runner ARGS` and asserts the run neither panicked, nor changed anything in the
    /// world outside the project, nor ran parameter text. Returns the run.
    #[track_caller]
    pub fn run_safely<S: AsRef<OsStr>>(&self, args: &[S]) -> Run {
        let before = self.outside();
        let run = self.run(args);
        self.assert_safe(&run, &before);
        run
    }

    /// [`World::run_safely`]'s assertions for a `run` made since `before` was taken.
    #[track_caller]
    pub fn assert_safe(&self, run: &Run, before: &Tree) {
        assert_ne!(run.code, Some(101), "panicked\n{}", run.transcript());
        assert!(!run.stderr.contains("panicked"), "panicked\n{}", run.transcript());
        assert!(matches!(run.code, Some(0..=2)), "unexpected exit\n{}", run.transcript());
        let after = self.outside();
        let changed: Vec<String> = before
            .keys()
            .chain(after.keys())
            .filter(|k| before.get(*k) != after.get(*k))
            .map(|k| {
                format!("  {}: {:?} → {:?}", k.display(), short(before.get(k)), short(after.get(k)))
            })
            .collect();
        assert!(
            changed.is_empty(),
            "the world outside the project changed:\n{}\n{}",
            changed.join("\n"),
            run.transcript()
        );
        let pwned = self.pwned();
        assert!(pwned.is_empty(), "parameter text ran: {pwned:?}\n{}", run.transcript());
    }
}

/// A node for messages: a file's bytes as text, shortened.
fn short(n: Option<&Node>) -> String {
    match n {
        None => "absent".into(),
        Some(Node::File { mode, mtime_ns, bytes }) => {
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(40)]).into_owned();
            format!("file {mode:o} @{mtime_ns} {text:?}")
        }
        Some(other) => format!("{other:?}"),
    }
}
