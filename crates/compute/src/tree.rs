//! Files on this machine: copying a tree as it is (files with their modes, folders,
//! symlinks as symlinks), hashing, and checking fetched outputs against the digests the
//! target recorded.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;

use sha2::{Digest as _, Sha256};

use crate::Error;

/// Copies `src` (a file, a folder or a symlink) to `dst`, which must not exist: files with
/// their permission bits, symlinks as symlinks (their target text unchanged).
///
/// Errors: reading `src` or writing `dst` failed (the error names the path).
pub(crate) fn copy_tree(src: &Path, dst: &Path) -> Result<(), Error> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |e| Error::Io(p, e)
    };
    let meta = std::fs::symlink_metadata(src).map_err(io(src))?;
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(src).map_err(io(src))?;
        std::os::unix::fs::symlink(target, dst).map_err(io(dst))?;
    } else if meta.is_dir() {
        std::fs::create_dir(dst).map_err(io(dst))?;
        for entry in std::fs::read_dir(src).map_err(io(src))? {
            let entry = entry.map_err(io(src))?;
            copy_tree(&entry.path(), &dst.join(entry.file_name()))?;
        }
    } else {
        std::fs::copy(src, dst).map_err(io(src))?;
    }
    Ok(())
}

/// The SHA-256 of `path`'s bytes, as 64 lowercase hex digits.
///
/// Errors: the file cannot be read.
pub(crate) fn sha256_file(path: &Path) -> Result<String, Error> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::Io(path.to_path_buf(), e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::Io(path.to_path_buf(), e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Checks that each output folder (`o<i>` of the job, fetched to `local[i]`) holds exactly
/// the files `sums` lists for it (paths `o<i>/REL`), each with its digest.
///
/// Errors: [`Error::Verify`] naming the first file missing, extra or different.
pub(crate) fn verify(
    local: &[std::path::PathBuf],
    sums: &BTreeMap<String, String>,
) -> Result<(), Error> {
    let mut seen = 0;
    for (i, dir) in local.iter().enumerate() {
        let mut files = Vec::new();
        list_files(dir, dir, &mut files)?;
        for rel in files {
            let key = format!("o{i}/{rel}");
            let Some(want) = sums.get(&key) else {
                return Err(Error::Verify(format!("{key} was not written by the job")));
            };
            if sha256_file(&dir.join(&rel))? != *want {
                return Err(Error::Verify(format!("{key} differs from what the job wrote")));
            }
            seen += 1;
        }
    }
    if seen != sums.len() {
        return Err(Error::Verify(format!(
            "{} of the {} files the job wrote did not arrive",
            sums.len() - seen,
            sums.len()
        )));
    }
    Ok(())
}

/// Regular files under `dir`, relative to `root`, `/`-separated (symlinks are not files:
/// `find -type f` does not list them either).
fn list_files(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), Error> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::Io(dir.to_path_buf(), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::Io(dir.to_path_buf(), e))?;
        let path = entry.path();
        let ty = entry.file_type().map_err(|e| Error::Io(path.clone(), e))?;
        if ty.is_dir() {
            list_files(root, &path, out)?;
        } else if ty.is_file() {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            out.push(rel.to_string_lossy().into_owned());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_and_verifies_a_tree() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("sub/a.txt"), "a").unwrap();
        std::os::unix::fs::symlink("sub/a.txt", src.join("link")).unwrap();
        let dst = t.path().join("dst");
        copy_tree(&src, &dst).unwrap();
        assert_eq!(std::fs::read_link(dst.join("link")).unwrap(), Path::new("sub/a.txt"));
        let mut sums = BTreeMap::new();
        sums.insert("o0/sub/a.txt".to_owned(), sha256_file(&src.join("sub/a.txt")).unwrap());
        verify(std::slice::from_ref(&dst), &sums).unwrap();
        std::fs::write(dst.join("sub/a.txt"), "b").unwrap();
        let err = verify(std::slice::from_ref(&dst), &sums).unwrap_err();
        assert!(err.to_string().contains("o0/sub/a.txt differs"), "{err}");
        std::fs::write(dst.join("extra"), "x").unwrap();
        assert!(verify(&[dst], &sums).unwrap_err().to_string().contains("not written"));
    }
}
