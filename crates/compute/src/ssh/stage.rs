//! What goes to the host and what comes back: a job's tree, hashed (`list_job`), the tar
//! stream that stages it (`build_tar`: blobs the host lacks, the tree as hard links to
//! them), and the job's folder when it ends (`unpack`, by the `tar` crate, which writes
//! nothing outside the folder it is given).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use exec::Job;

use crate::job::{Layout, parse_sums};
use crate::{Error, nonce, tree};

/// One entry of a job's tree, relative to the job's staging folder.
pub(super) enum Entry {
    Dir(String),
    File { rel: String, digest: String, exec: bool },
    Symlink { rel: String, target: PathBuf },
}

impl Entry {
    /// The blob a file entry is a link to: its digest, with `.x` when executable (a hard
    /// link shares its blob's mode).
    pub(super) fn blob(&self) -> Option<String> {
        match self {
            Entry::File { digest, exec, .. } => {
                Some(format!("{digest}{}", if *exec { ".x" } else { "" }))
            }
            _ => None,
        }
    }
}

/// The job's tree: what it reads (`r<i>`, from `reads[from]` on: the agent stages the
/// snapshot, `r0`, once for every job that shares it), hashed, and its empty output
/// folders.
pub(super) fn list_job(layout: &Layout, job: &Job, from: usize) -> Result<Vec<Entry>, Error> {
    let mut out = Vec::new();
    for (i, local) in job.reads.iter().enumerate().skip(from) {
        walk(local, &format!("r{i}"), &mut out)?;
    }
    for i in 0..layout.outputs.len() {
        out.push(Entry::Dir(format!("o{i}")));
    }
    Ok(out)
}

/// The tree of `path` as entries named from `rel` (`rel` itself first), files hashed.
pub(super) fn walk(path: &Path, rel: &str, out: &mut Vec<Entry>) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::symlink_metadata(path).map_err(|e| Error::Io(path.to_path_buf(), e))?;
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(path).map_err(|e| Error::Io(path.to_path_buf(), e))?;
        out.push(Entry::Symlink { rel: rel.to_owned(), target });
    } else if meta.is_dir() {
        out.push(Entry::Dir(rel.to_owned()));
        let mut names: Vec<_> = std::fs::read_dir(path)
            .map_err(|e| Error::Io(path.to_path_buf(), e))?
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        names.sort();
        for name in names {
            let Some(n) = name.to_str() else {
                return Err(Error::Stage(format!(
                    "a file name under {} is not UTF-8",
                    path.display()
                )));
            };
            walk(&path.join(n), &format!("{rel}/{n}"), out)?;
        }
    } else {
        let digest = tree::sha256_file(path)?;
        out.push(Entry::File {
            rel: rel.to_owned(),
            digest,
            exec: meta.permissions().mode() & 0o111 != 0,
        });
    }
    Ok(())
}

/// The tar stream that stages a job: the `missing` blobs (`<rel>/new/…`, moved into the
/// shared `blobs/` by the host once unpacked), the tree as `<rel>/stage/…` (hard links to
/// those, or to `blobs/…` for a blob the host has), and `<rel>/run.sh` and
/// `<rel>/requirements.txt`.
///
/// Sent blobs go to the job's own folder first because two jobs unpacking the same blob
/// into `blobs/` at once would race: tar replaces a file it extracts over by unlinking it,
/// which pulled a blob from under the other job's hard links (seen in CI: `Cannot hard
/// link to 'blobs/…': No such file or directory`). Moved in by rename, a blob in `blobs/`
/// is always whole, so a job that finds it there may link to it.
pub(super) fn build_tar(
    rel: &str,
    entries: &[Entry],
    missing: &HashSet<String>,
    script: &str,
    job: &Job,
) -> Result<Vec<u8>, Error> {
    let io = |e: std::io::Error| Error::Stage(format!("building the tar stream: {e}"));
    let mut b = tar::Builder::new(Vec::new());
    let mut sent = HashSet::new();
    // Blobs first: the links below must find them.
    for e in entries {
        let (Entry::File { rel: path, exec, .. }, Some(blob)) = (e, e.blob()) else { continue };
        if !missing.contains(&blob) || !sent.insert(blob.clone()) {
            continue;
        }
        let local = local_path(job, path);
        let mut h = tar::Header::new_gnu();
        let data = std::fs::read(&local).map_err(|e| Error::Io(local.clone(), e))?;
        h.set_size(data.len() as u64);
        h.set_mode(if *exec { 0o755 } else { 0o644 });
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, format!("{rel}/new/{blob}"), data.as_slice()).map_err(io)?;
    }
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        match e {
            Entry::Dir(p) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                b.append_data(&mut h, format!("{rel}/stage/{p}"), std::io::empty()).map_err(io)?;
            }
            Entry::File { rel: p, .. } => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_mode(0o644);
                let blob = e.blob().unwrap_or_default();
                let target = if missing.contains(&blob) {
                    format!("{rel}/new/{blob}")
                } else {
                    format!("blobs/{blob}")
                };
                b.append_link(&mut h, format!("{rel}/stage/{p}"), target).map_err(io)?;
            }
            Entry::Symlink { rel: p, target } => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                b.append_link(&mut h, format!("{rel}/stage/{p}"), target).map_err(io)?;
            }
        }
    }
    let mut file = |name: &str, data: &[u8], mode: u32| -> Result<(), Error> {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, format!("{rel}/{name}"), data).map_err(io)
    };
    file("run.sh", script.as_bytes(), 0o644)?;
    if let exec::Program::Python(Some(env)) = &job.program
        && let Some(req) = &env.requirements
    {
        let data = std::fs::read(req).map_err(|e| Error::Io(req.clone(), e))?;
        file("requirements.txt", &data, 0o644)?;
    }
    b.into_inner().map_err(io)
}

/// The local file of tree entry `rel` (`r<i>/…`).
pub(super) fn local_path(job: &Job, rel: &str) -> PathBuf {
    let (first, rest) = rel.split_once('/').unwrap_or((rel, ""));
    let i: usize = first.trim_start_matches('r').parse().unwrap_or(0);
    let base = &job.reads[i];
    if rest.is_empty() { base.clone() } else { base.join(rest) }
}

/// What came back of a job.
pub(super) struct Fetched {
    /// Its exit code, when its script recorded one.
    pub rc: Option<i32>,
    /// Why it failed before the step started, if it did.
    pub why: Option<String>,
}

/// Unpacks a fetched job folder (a tar stream) into a scratch folder beside the job's
/// logs, then puts each part where the run keeps it ([`settle`]).
///
/// Errors: the stream is not a tar the `tar` crate unpacks, or as [`settle`].
pub(super) fn unpack(
    archive: &[u8],
    layout: &Layout,
    job: &Job,
    outputs: bool,
) -> Result<Fetched, Error> {
    in_scratch(job, |scratch| {
        tar::Archive::new(archive)
            .unpack(scratch)
            .map_err(|e| Error::Stage(format!("unpacking what the host sent: {e}")))?;
        let sums = std::fs::read_to_string(scratch.join("outputs.sha256")).unwrap_or_default();
        settle(scratch, layout, job, outputs, &parse_sums(&sums))
    })
}

/// Runs `f` on a new scratch folder beside the job's logs, removed after.
///
/// Errors: the folder cannot be made, or what `f` returns.
fn in_scratch<T>(job: &Job, f: impl FnOnce(&Path) -> Result<T, Error>) -> Result<T, Error> {
    let parent = job.spec.stderr_path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let scratch = parent.join(format!("fetched-{:x}", nonce()));
    std::fs::create_dir_all(&scratch).map_err(|e| Error::Io(scratch.clone(), e))?;
    let result = f(&scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

/// Puts each part of a job's folder, fetched into `scratch`, where the run keeps it: logs,
/// metrics, and (with `outputs`, when the job succeeded) its outputs, checked against
/// `sums`, the SHA-256 of each output file by path in the job's folder (`o0/model.pkl`).
///
/// Errors: an output is missing or differs, a file cannot be moved.
fn settle(
    scratch: &Path,
    layout: &Layout,
    job: &Job,
    outputs: bool,
    sums: &BTreeMap<String, String>,
) -> Result<Fetched, Error> {
    layout.bring_back_logs(scratch, job);
    let read = |name: &str| std::fs::read_to_string(scratch.join(name)).ok();
    let fetched = Fetched {
        rc: read("rc").and_then(|s| s.trim().parse().ok()),
        why: read("why").map(|w| w.trim().to_owned()),
    };
    if outputs && fetched.rc == Some(0) && fetched.why.is_none() {
        for (i, local) in job.outputs.iter().enumerate() {
            let from = scratch.join(format!("o{i}"));
            for entry in std::fs::read_dir(&from).map_err(|e| Error::Io(from.clone(), e))? {
                let entry = entry.map_err(|e| Error::Io(from.clone(), e))?;
                let to = local.join(entry.file_name());
                std::fs::rename(entry.path(), &to).map_err(|e| Error::Io(to, e))?;
            }
        }
        tree::verify(&job.outputs, sums)?;
    }
    Ok(fetched)
}
