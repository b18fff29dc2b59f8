//! The git state a run records: commit, branch and whether tracked files differ from it.
//!
//! The commit and branch are read from the repository's files (`HEAD`, the loose ref or
//! `packed-refs`, following a worktree's `gitdir:` and `commondir`), which costs a few file
//! reads instead of starting `git` twice; anything unusual falls back to `git rev-parse`.
//! Whether the tree is dirty needs git's index logic, so `git status --porcelain
//! --untracked-files=no` runs in a background thread while the build plans
//! ([`GitProbe::start`], [`GitProbe::finish`]). Outside a repository nothing is started.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::JoinHandle;

use history::GitInfo;

/// Git state being gathered for a folder.
pub(crate) struct GitProbe {
    head: Option<(String, Option<String>)>,
    dirty: Option<JoinHandle<Option<bool>>>,
}

impl GitProbe {
    /// Starts looking at the repository holding `root`, if any.
    pub(crate) fn start(root: &Path) -> GitProbe {
        let Some(git_dir) = find_git_dir(root) else { return GitProbe { head: None, dirty: None } };
        let head = read_head(&git_dir).or_else(|| rev_parse(root));
        let dirty = head.is_some().then(|| {
            let root = root.to_path_buf();
            std::thread::spawn(move || {
                git(&root, &["status", "--porcelain", "--untracked-files=no"])
                    .map(|s| !s.is_empty())
            })
        });
        GitProbe { head, dirty }
    }

    /// The commit, branch (`None` when detached) and dirty flag; `None` outside a repository
    /// or before the first commit.
    pub(crate) fn finish(self) -> Option<GitInfo> {
        let (commit, branch) = self.head?;
        let dirty = self.dirty.and_then(|h| h.join().ok().flatten()).unwrap_or(false);
        Some(GitInfo { commit, branch, dirty })
    }
}

fn git(root: &Path, args: &[&str]) -> Option<String> {
    Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
}

fn rev_parse(root: &Path) -> Option<(String, Option<String>)> {
    let commit = git(root, &["rev-parse", "HEAD"])?;
    let branch = git(root, &["rev-parse", "--abbrev-ref", "HEAD"]).filter(|b| b != "HEAD");
    Some((commit, branch))
}

/// The git folder of the repository holding `root`: the nearest `.git` folder, or the folder a
/// `.git` file (`gitdir: …`, worktrees and submodules) names.
fn find_git_dir(root: &Path) -> Option<PathBuf> {
    let start = std::fs::canonicalize(root).ok()?;
    for dir in start.ancestors() {
        let dot = dir.join(".git");
        let Ok(meta) = std::fs::metadata(&dot) else { continue };
        if meta.is_dir() {
            return Some(dot);
        }
        let text = std::fs::read_to_string(&dot).ok()?;
        let target = Path::new(text.trim().strip_prefix("gitdir:")?.trim());
        return Some(if target.is_absolute() { target.to_path_buf() } else { dir.join(target) });
    }
    None
}

/// Commit and branch from `HEAD` and the refs; `None` when anything is unusual.
fn read_head(git_dir: &Path) -> Option<(String, Option<String>)> {
    let head = std::fs::read_to_string(git_dir.join("HEAD")).ok()?;
    let head = head.trim();
    let Some(refname) = head.strip_prefix("ref:").map(str::trim) else {
        return is_sha(head).then(|| (head.to_owned(), None));
    };
    let common = match std::fs::read_to_string(git_dir.join("commondir")) {
        Ok(rel) => git_dir.join(rel.trim()),
        Err(_) => git_dir.to_path_buf(),
    };
    let commit = [git_dir, &common]
        .iter()
        .find_map(|d| std::fs::read_to_string(d.join(refname)).ok())
        .map(|s| s.trim().to_owned())
        .or_else(|| packed_ref(&common, refname))?;
    let branch = refname.strip_prefix("refs/heads/").map(str::to_owned);
    is_sha(&commit).then_some((commit, branch))
}

fn packed_ref(common: &Path, refname: &str) -> Option<String> {
    let text = std::fs::read_to_string(common.join("packed-refs")).ok()?;
    text.lines().find_map(|l| {
        let (sha, name) = l.split_once(' ')?;
        (name == refname).then(|| sha.to_owned())
    })
}

fn is_sha(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(dir: &Path, args: &[&str]) {
        let ok = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"])
            .args(args)
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    }

    /// The files agree with `git rev-parse` for a branch, a packed ref, a detached HEAD
    /// and a linked worktree; dirty follows tracked edits.
    #[test]
    fn reads_what_rev_parse_says() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        std::fs::create_dir(&repo).unwrap();
        run(&repo, &["init", "-q", "-b", "feature/x"]);
        assert!(GitProbe::start(&repo).finish().is_none(), "no commit yet");
        std::fs::write(repo.join("a.txt"), "1").unwrap();
        run(&repo, &["add", "a.txt"]);
        run(&repo, &["commit", "-q", "-m", "one"]);
        let expect = rev_parse(&repo).unwrap();
        assert_eq!(expect.1.as_deref(), Some("feature/x"));
        let info = GitProbe::start(&repo).finish().unwrap();
        assert_eq!((info.commit.clone(), info.branch.clone()), expect);
        assert!(!info.dirty);

        std::fs::write(repo.join("a.txt"), "2").unwrap();
        assert!(GitProbe::start(&repo.join(".")).finish().unwrap().dirty);

        run(&repo, &["pack-refs", "--all"]);
        assert!(!repo.join(".git/refs/heads/feature/x").exists());
        assert_eq!(read_head(&repo.join(".git")), Some(expect.clone()));

        run(&repo, &["worktree", "add", "-q", "--detach", "../wt"]);
        let wt = dir.path().join("wt");
        assert_eq!(
            GitProbe::start(&wt).finish().map(|i| (i.commit, i.branch)),
            Some((expect.0, None))
        );
        assert_eq!(rev_parse(&wt).map(|r| r.1), Some(None));
    }
}
