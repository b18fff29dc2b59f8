//! Tests of [`super::resolve_beneath`] and friends on a folder full of symlinks, held
//! against the kernel's own `openat2(RESOLVE_BENEATH)` where it can answer.

use std::fs::File;
use std::os::unix::fs::symlink;

use super::*;

/// `world/root` with real folders, and symlinks that stay, leave, dangle and loop.
fn layout() -> (tempfile::TempDir, PathBuf) {
    let world = tempfile::tempdir().unwrap();
    let w = world.path();
    let root = w.join("root");
    fs::create_dir_all(root.join("dir")).unwrap();
    fs::write(root.join("dir/f"), "f").unwrap();
    fs::write(root.join("file"), "x").unwrap();
    fs::create_dir(w.join("outside")).unwrap();
    fs::write(w.join("outside/secret"), "s").unwrap();
    let link = |target: &Path, name: &str| symlink(target, root.join(name)).unwrap();
    link(Path::new("dir"), "in");
    link(Path::new(".."), "dir/up");
    link(Path::new("../.."), "dir/upup");
    link(&root.join("dir"), "abs_in");
    link(&w.join("outside"), "abs_out");
    link(Path::new("missing"), "dangling_in");
    link(Path::new("../nowhere"), "dangling_out");
    link(Path::new("missing/../../x"), "dangling_deep");
    link(Path::new("loop_b"), "loop_a");
    link(Path::new("loop_a"), "loop_b");
    // Lexically `dir/up/../..` is `.`, but `dir/up` is the root itself: `..` leaves.
    link(Path::new("dir/up/../.."), "sneaky");
    (world, root)
}

fn resolve(root: &Path, rel: &str) -> std::result::Result<PathBuf, String> {
    resolve_beneath(root, Path::new(rel)).map_err(|e| e.to_string())
}

#[test]
fn paths_that_stay_inside_resolve_to_root_join_rel() {
    let (_w, root) = layout();
    for rel in ["dir/f", "dir/new/deeper", "in/f", "in/new", "dir/up/dir/f", "dangling_in"] {
        assert_eq!(resolve(&root, rel), Ok(root.join(rel)), "{rel}");
    }
    assert_eq!(resolve(&root, ""), Ok(root.clone()));
    assert_eq!(resolve(&root, "./dir//f/."), Ok(root.join("dir/f")));
    // Below a file nothing can be created, but nothing leads out either.
    assert_eq!(resolve(&root, "file/x"), Ok(root.join("file/x")));
}

#[test]
fn paths_that_leave_are_refused_naming_path_root_and_reason() {
    let (w, root) = layout();
    let outside = w.path().join("outside");
    let cases: &[(&str, &str)] = &[
        ("../x", "`..` is not allowed"),
        ("dir/../f", "`..` is not allowed"),
        ("/etc/passwd", "it is an absolute path"),
        ("a\0b", "it contains a NUL byte"),
        ("abs_in/f", "`abs_in` is a symlink to"),
        ("abs_out/new", &format!("`abs_out` is a symlink to `{}`", outside.display())),
        ("dir/upup/x", "`dir/upup` is a symlink to `../..`, which climbs out of it"),
        ("dangling_out", "`dangling_out` is a symlink to `../nowhere`, which climbs out"),
        ("dangling_deep/x", "`dangling_deep` is a symlink to `missing/../../x`"),
        ("sneaky/x", "`sneaky` is a symlink to `dir/up/../..`, which climbs out"),
        ("loop_a/x", "more than 40 symlinks"),
    ];
    for (rel, why) in cases {
        let err = resolve(&root, rel).unwrap_err();
        let shown = Path::new(rel).display().to_string();
        assert!(err.starts_with(&format!("{shown} leads outside {}: ", root.display())), "{err}");
        assert!(err.contains(why), "{rel}: {err}");
    }
}

/// Where the kernel resolves the whole path (no component missing), it agrees with the walk:
/// `Ok` inside, `EXDEV` outside, `ELOOP` for a loop.
#[test]
fn the_walk_agrees_with_openat2_resolve_beneath() {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    let (_w, root) = layout();
    let dir = File::open(&root).unwrap();
    let rels = [
        "dir/f",
        "in/f",
        "dir/up/dir",
        "abs_in",
        "abs_out",
        "dir/upup",
        "dangling_out",
        "sneaky",
        "loop_a",
        "file",
    ];
    for rel in rels {
        let kernel = rustix::fs::openat2(
            &dir,
            rel,
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::BENEATH,
        );
        let walked = walk_beneath(&root, rel.split('/').map(OsString::from).collect()).unwrap();
        match kernel {
            Ok(_) => assert_eq!(walked, Resolved::Inside, "{rel}"),
            Err(rustix::io::Errno::XDEV) => {
                assert!(matches!(walked, Resolved::Outside(_)), "{rel}: {walked:?}")
            }
            Err(rustix::io::Errno::LOOP) => {
                assert!(matches!(walked, Resolved::Loop(_)), "{rel}: {walked:?}")
            }
            // No openat2 here (old kernel, sandbox): nothing to compare with.
            Err(rustix::io::Errno::NOSYS | rustix::io::Errno::PERM) => return,
            Err(e) => panic!("{rel}: openat2 said {e}, a case this table should not hold"),
        }
    }
}

#[test]
fn symlinks_are_judged_by_where_they_lead() {
    let (_w, root) = layout();
    for rel in ["in", "dir/up", "dangling_in", "loop_a"] {
        assert_eq!(symlink_leaves(&root, rel).unwrap(), None, "{rel}");
    }
    for rel in ["abs_in", "abs_out", "dir/upup", "dangling_out", "dangling_deep", "sneaky"] {
        assert!(symlink_leaves(&root, rel).unwrap().is_some(), "{rel}");
    }
}

#[test]
fn open_no_symlinks_opens_only_through_real_folders() {
    let (_w, root) = layout();
    let dir = File::open(&root).unwrap();
    let read = |f: io::Result<File>| {
        let mut s = String::new();
        io::Read::read_to_string(&mut f.unwrap(), &mut s).unwrap();
        s
    };
    assert_eq!(read(open_no_symlinks(&dir, "dir/f")), "f");
    let flags = rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NOFOLLOW;
    assert_eq!(read(open_by_components(&dir, &["dir", "f"], flags)), "f");
    for rel in ["in/f", "abs_in/f", "abs_out/secret", "dir/up/file", "dangling_in", "loop_a"] {
        assert!(open_no_symlinks(&dir, rel).is_err(), "{rel}");
        let parts: Vec<&str> = rel.split('/').collect();
        assert!(open_by_components(&dir, &parts, flags).is_err(), "{rel}");
    }
    for rel in ["", "dir/../file", "./file"] {
        let err = open_no_symlinks(&dir, rel).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{rel}");
    }
}

#[test]
fn is_empty_dir_does_not_follow_symlinks() {
    let (w, root) = layout();
    fs::create_dir(root.join("empty")).unwrap();
    fs::create_dir(w.path().join("empty_outside")).unwrap();
    symlink(w.path().join("empty_outside"), root.join("to_empty")).unwrap();
    assert!(is_empty_dir(&root.join("empty")));
    assert!(!is_empty_dir(&root.join("to_empty")));
    assert!(!is_empty_dir(&root.join("dir")));
    assert!(!is_empty_dir(&root.join("file")));
    assert!(!is_empty_dir(&root.join("nothing")));
}
