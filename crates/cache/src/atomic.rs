//! Atomic file publication: write a uniquely named temp file, fsync it, rename it over the final
//! name, fsync the folder.
//!
//! A reader therefore sees either the old file or the whole new one, never a torn write, and after
//! the folder fsync the new name survives a crash or power loss (the fsync before the rename makes
//! sure the name cannot point at unwritten blocks, the failure gitaly traced loose-ref corruption
//! to). Temp names are `.<name>.tmp.<pid>.<counter>` created with `O_EXCL`, so concurrent writers
//! (threads or processes) never share a temp file; the last rename wins. If anything fails, the temp
//! file is removed.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Error, Result};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` atomically: temp file in the same folder, fsync, rename, fsync the
/// folder. Creates missing parent folders. Replaces an existing file (last writer wins).
///
/// Errors: [`Error::Write`] naming the temp file, `path` or the folder that failed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = parent_of(path);
    fs::create_dir_all(dir).map_err(Error::write(dir))?;
    write_via(dir, path, bytes, true)
}

/// [`write_atomic`] without the fsyncs: readers still see the old file or the whole new one,
/// but a power loss may lose the write. For files nothing trusts (a lost one is only redone).
/// Creates missing parent folders.
///
/// Errors: [`Error::Write`] naming the temp file, `path` or the folder that failed.
pub fn write_replace(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = parent_of(path);
    fs::create_dir_all(dir).map_err(Error::write(dir))?;
    write_via(dir, path, bytes, false)
}

/// Writes `bytes` to a temp file in `tmp_dir` (same filesystem as `path`), then renames it to
/// `path`. With `durable`, fsyncs the file before and the destination folder after the rename.
/// The destination folder must exist.
pub(crate) fn write_via(tmp_dir: &Path, path: &Path, bytes: &[u8], durable: bool) -> Result<()> {
    let (mut file, tmp) = create_temp(tmp_dir, path)?;
    let guard = TempPath(Some(tmp.clone()));
    file.write_all(bytes).map_err(Error::write(&tmp))?;
    if durable {
        file.sync_all().map_err(Error::write(&tmp))?;
    }
    drop(file);
    fs::rename(&tmp, path).map_err(Error::write(path))?;
    guard.disarm();
    if durable {
        sync_dir(parent_of(path))?;
    }
    Ok(())
}

/// Creates a new, uniquely named temp file in `dir`, named after `target`'s file name.
pub(crate) fn create_temp(dir: &Path, target: &Path) -> Result<(File, PathBuf)> {
    loop {
        let tmp = temp_name(dir, target);
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((f, tmp)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::Write { path: tmp, source: e }),
        }
    }
}

/// A fresh name `dir/.<target name>.tmp.<pid>.<n>` (not created).
pub(crate) fn temp_name(dir: &Path, target: &Path) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut name = OsString::from(".");
    name.push(target.file_name().unwrap_or_else(|| "tmp".as_ref()));
    name.push(format!(".tmp.{}.{n}", std::process::id()));
    dir.join(name)
}

/// Reads a small file whole: open, read until end of file, close, with no `stat` for a size
/// hint first (`fs::read` makes one). Planning a 10,000-step pipeline reads two such files
/// per step, where every syscall saved shows.
pub(crate) fn read_small(path: &Path) -> io::Result<Vec<u8>> {
    let mut file = File::open(path)?;
    let mut out = Vec::new();
    read_rest(&mut file, &mut out, 16 * 1024)?;
    Ok(out)
}

/// Appends what is left of `file` to `out`, reading `chunk` bytes at a time. A read that
/// returns less than asked ends it: for a regular file that is the end (POSIX: a short read
/// of a regular file happens only there, or on a signal, which Rust retries), which saves
/// the last `read` that would return 0.
pub(crate) fn read_rest(file: &mut File, out: &mut Vec<u8>, chunk: usize) -> io::Result<()> {
    use std::io::Read as _;
    loop {
        let start = out.len();
        out.resize(start + chunk, 0);
        let n = loop {
            match file.read(&mut out[start..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break r,
            }
        };
        let n = match n {
            Ok(n) => n,
            Err(e) => {
                out.truncate(start);
                return Err(e);
            }
        };
        out.truncate(start + n);
        if n < chunk {
            return Ok(());
        }
    }
}

/// fsyncs a folder so that renames and links into it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(Error::write(dir))
}

/// The folder holding `path` (`.` for a bare file name).
pub(crate) fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Removes a temp file or folder on drop unless disarmed (best effort).
pub(crate) struct TempPath(pub(crate) Option<PathBuf>);

impl TempPath {
    /// Keeps the path (it was renamed into place or already removed).
    pub(crate) fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            match fs::symlink_metadata(&p) {
                Ok(m) if m.is_dir() => {
                    let _ = fs::remove_dir_all(&p);
                }
                Ok(_) => {
                    let _ = fs::remove_file(&p);
                }
                Err(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/x.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let names: Vec<_> =
            fs::read_dir(dir.path().join("sub")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![OsString::from("x.json")]);
    }

    #[test]
    fn failed_rename_removes_temp() {
        let dir = tempfile::tempdir().unwrap();
        // Renaming a file over a non-empty folder fails.
        let p = dir.path().join("d");
        fs::create_dir(&p).unwrap();
        fs::write(p.join("inner"), b"").unwrap();
        let err = write_atomic(&p, b"x").unwrap_err();
        assert!(matches!(err, Error::Write { .. }), "{err}");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
