//! `runner upload`: copying files into a datastore (Azure ML's `Datastore.upload_files`):
//! a local folder, or an Azure Blob container or S3 bucket (`stores::ObjectDatastore::upload`,
//! in parts past 16 MiB). Without `--overwrite`, something already at a destination with
//! other content is an error naming it, and nothing is written; the same content is left as
//! it is.
//!
//! Local datastores:
//! The datastore's folder is where the pipeline declares it (inside the project or not; a
//! pipeline with errors declares nothing, and nothing is uploaded);
//! everything the upload writes or replaces lies inside that folder. `--target` and each
//! file's name are resolved under it by `cache::resolve_beneath` (no `..`, no absolute
//! path, no symlink on the way that leads out) before anything is written, and a folder
//! already there is replaced only once its new copy is complete: the copy is made beside
//! it, then the two are swapped by renames.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use driver::Project;

/// `runner upload` arguments.
#[derive(clap::Args)]
pub(crate) struct UploadArgs {
    /// Files to copy.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The datastore (`workspace` unless declared otherwise).
    #[arg(long, default_value = "workspace")]
    datastore: String,
    /// Folder inside the datastore to copy them into.
    #[arg(long, default_value = ".")]
    target: String,
    /// Replace what is at a destination when its content differs (else that is an error).
    #[arg(long)]
    overwrite: bool,
    /// pipeline.toml, or a folder holding one.
    #[arg(long, short = 'p', default_value = ".")]
    path: PathBuf,
}

/// `runner upload`.
pub(crate) fn upload(a: UploadArgs) -> anyhow::Result<ExitCode> {
    let project = Project::load(&a.path, Vec::new())?;
    // The datastores come from the pipeline: a file with errors (or not a pipeline at all)
    // does not say where one is.
    let diags = project.diagnostics();
    if diags.iter().any(|d| d.severity() == hir::Severity::Error) {
        let (errors, _) = crate::report(&project, &diags);
        eprintln!("{}: {errors} error{}: fix them to upload", project.display, plural(errors));
        return Ok(ExitCode::from(1));
    }
    let ix = hir::index(&project.db, project.file);
    let store = ix.datastores.get(&a.datastore).with_context(|| {
        format!(
            "no datastore `{}` (known: {})",
            a.datastore,
            ix.datastores.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    })?;
    if let Some(info) = ix.remote_datastores.get(&a.datastore) {
        return upload_remote(&project, &a, info);
    }
    let root = std::path::absolute(project.abs(store))?;
    let target = Path::new(&a.target);
    let inside = |rel: &Path| {
        cache::resolve_beneath(&root, rel)
            .with_context(|| format!("datastore `{}`: --target {}", a.datastore, a.target))
    };
    let dest_dir = inside(target)?;
    // Every destination is checked before anything is written.
    let mut copies = Vec::new();
    for f in &a.files {
        let name = f.file_name().with_context(|| format!("{} has no file name", f.display()))?;
        copies.push((f, name, inside(&target.join(name))?));
    }
    std::fs::create_dir_all(&dest_dir)
        .with_context(|| format!("creating {}", dest_dir.display()))?;
    for (f, _, dest) in &copies {
        if let Some(clash) = clash(f, dest)?
            && !a.overwrite
        {
            anyhow::bail!(
                "datastore `{}`: {} already exists with other content (--overwrite replaces it)",
                a.datastore,
                clash.strip_prefix(&root).unwrap_or(&clash).display()
            );
        }
    }
    for (f, name, dest) in copies {
        if f.is_dir() {
            if clash(f, &dest)?.is_none() && dest.is_dir() {
                eprintln!("unchanged {} → {}:{}", f.display(), a.datastore, a.target);
                continue;
            }
            replace_tree(f, &dest)?;
        } else {
            let bytes = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
            cache::write_atomic(&dest, &bytes)
                .with_context(|| format!("writing {}", dest.display()))?;
        }
        eprintln!(
            "uploaded {} → {}:{}",
            f.display(),
            a.datastore,
            hir::paths::join(&a.target, &name.to_string_lossy())
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The first path under `dest` that holds other content than `from` does (a file with
/// other bytes, a file where a folder is or the reverse, for a folder a name only one side
/// has), or `None` when `dest` is absent or the same.
fn clash(from: &Path, dest: &Path) -> anyhow::Result<Option<PathBuf>> {
    let Ok(there) = std::fs::symlink_metadata(dest) else { return Ok(None) };
    if from.is_dir() != there.is_dir() {
        return Ok(Some(dest.to_owned()));
    }
    if !from.is_dir() {
        let same = cache::hash_file(from).ok() == cache::hash_file(dest).ok();
        return Ok((!same).then(|| dest.to_owned()));
    }
    let names = |p: &Path| -> anyhow::Result<std::collections::BTreeSet<OsString>> {
        let entries = std::fs::read_dir(p).with_context(|| format!("reading {}", p.display()))?;
        Ok(entries.filter_map(|e| e.ok().map(|e| e.file_name())).collect())
    };
    let (mine, theirs) = (names(from)?, names(dest)?);
    if let Some(extra) = theirs.symmetric_difference(&mine).next() {
        return Ok(Some(dest.join(extra)));
    }
    for name in mine {
        if let Some(c) = clash(&from.join(&name), &dest.join(&name))? {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

/// `runner upload` to an `azure_blob` or `s3` datastore: each file (a folder's files,
/// recursively; a symlink is refused) to `TARGET/<its name>[/<path inside>]`.
fn upload_remote(
    project: &Project,
    a: &UploadArgs,
    info: &hir::DatastoreInfo,
) -> anyhow::Result<ExitCode> {
    let downloads = project.state_dir().join("datastores").join(&a.datastore);
    let store = stores::open(&a.datastore, info, downloads)?;
    let target = hir::paths::normalize(&a.target);
    if target.starts_with("..") || target.starts_with('/') {
        anyhow::bail!("datastore `{}`: --target {} leads outside the store", a.datastore, a.target);
    }
    let mut files = Vec::new();
    for f in &a.files {
        let name = f.file_name().with_context(|| format!("{} has no file name", f.display()))?;
        let key = hir::paths::join(&target, &name.to_string_lossy());
        walk_files(f, &key, true, &mut files)?;
    }
    for (file, key) in &files {
        let done = store.upload(file, key, a.overwrite)?;
        let what = match done {
            stores::Uploaded::New => "uploaded",
            stores::Uploaded::Same => "unchanged",
            stores::Uploaded::Replaced => "replaced",
        };
        eprintln!("{what} {} → {}:{key}", file.display(), a.datastore);
    }
    Ok(ExitCode::SUCCESS)
}

/// The files under `path` (itself, if a file) with the key each goes to under `key`. A
/// symlink named on the command line is followed; one found inside a folder is refused.
fn walk_files(
    path: &Path,
    key: &str,
    named: bool,
    out: &mut Vec<(PathBuf, String)>,
) -> anyhow::Result<()> {
    let read = |e| format!("reading {}: {e}", path.display());
    let meta = std::fs::symlink_metadata(path).map_err(|e| anyhow::anyhow!(read(e)))?;
    if meta.is_symlink() && !named {
        anyhow::bail!("`{}` is a symlink: upload what it points to instead", path.display());
    }
    if !std::fs::metadata(path).map_err(|e| anyhow::anyhow!(read(e)))?.is_dir() {
        out.push((path.to_owned(), key.to_owned()));
        return Ok(());
    }
    let mut entries: Vec<_> = std::fs::read_dir(path)
        .map_err(|e| anyhow::anyhow!(read(e)))?
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        let Some(name) = name.to_str() else {
            anyhow::bail!("{}: not UTF-8, so not an object name", e.path().display());
        };
        walk_files(&e.path(), &format!("{key}/{name}"), false, out)?;
    }
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Makes `dest` a copy of the folder `from`: the copy is made beside `dest` first, then
/// swapped in, and what was at `dest` removed last, so a failed copy leaves `dest` as it
/// was (and `from` is read before anything is removed, even when it lies inside `dest`).
fn replace_tree(from: &Path, dest: &Path) -> anyhow::Result<()> {
    let sibling = |what: &str| {
        let mut name = OsString::from(".");
        name.push(dest.file_name().unwrap_or_default());
        name.push(format!(".{what}.{}", std::process::id()));
        dest.with_file_name(name)
    };
    let (fresh, old) = (sibling("upload"), sibling("replaced"));
    cache::copy_tree(from, &fresh, cache::IgnoreRules::None)
        .with_context(|| format!("copying {}", from.display()))?;
    let moved_aside = match std::fs::rename(dest, &old) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&fresh);
            return Err(e).with_context(|| format!("replacing {}", dest.display()));
        }
    };
    std::fs::rename(&fresh, dest).with_context(|| format!("writing {}", dest.display()))?;
    if moved_aside {
        // A symlink or file moved aside is removed itself; a folder with what it holds.
        let _ = std::fs::remove_dir_all(&old).or_else(|_| std::fs::remove_file(&old));
    }
    Ok(())
}
