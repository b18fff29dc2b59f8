//! The persistent stat cache (`.runner/statcache`): a no-op build reads no file, and a
//! fast same-size rewrite with its mtime put back is still seen.

use std::os::unix::fs::MetadataExt as _;
use std::time::{Duration, UNIX_EPOCH};

use crate::{ALL_REUSED, TRAIN_SH, built_chain};

fn hashed_bytes(b: &crate::support::Build) -> u64 {
    b.doc["hashed_bytes"]
        .as_u64()
        .unwrap_or_else(|| panic!("no hashed_bytes\n{}", b.run.transcript()))
}

/// A build right after a build hashes 0 bytes; so does one after `check` and `status`.
#[test]
fn noop_build_hashes_nothing() {
    let p = built_chain();
    assert!(p.state().join("statcache").is_file());
    // The files were written just before the first build, within their racy window: a
    // build hashes such small files again rather than wait for the window to pass. One
    // build after the window, their entries are settled.
    std::thread::sleep(Duration::from_millis(150));
    p.build(&[]).assert_code(0);
    let b = p.build(&[]);
    b.assert_code(0).assert_steps(ALL_REUSED);
    assert_eq!(hashed_bytes(&b), 0, "{}", b.run.transcript());

    let root = p.root().display().to_string();
    p.run(&["check", &root]).assert_code(0);
    p.run(&["status", &root]).assert_code(0);
    let b = p.build(&[]);
    b.assert_code(0).assert_steps(ALL_REUSED);
    assert_eq!(hashed_bytes(&b), 0, "{}", b.run.transcript());

    // A touched file (same bytes, mtime a minute ahead) is read again by the next build,
    // then trusted again (once hashed after its racy window: a small file just changed is
    // re-hashed rather than waited for).
    p.touch("helper.txt");
    std::thread::sleep(Duration::from_millis(150));
    let b = p.build(&[]);
    b.assert_code(0).assert_steps(ALL_REUSED);
    assert_eq!(hashed_bytes(&b), "helper v1\n".len() as u64, "{}", b.run.transcript());
    assert_eq!(hashed_bytes(&p.build(&[])), 0);
}

/// Git's racy-clean case end to end: the script is rewritten with the same size right after
/// a scan, and its mtime is set back to what the scan recorded. The next build still sees
/// the new content (the ctime moved, or the entry is racy and re-hashed).
#[test]
fn same_size_rewrite_with_restored_mtime_is_seen() {
    let p = built_chain();
    let script = p.path("train.sh");
    let before = std::fs::metadata(&script).unwrap();
    let root = p.root().display().to_string();
    // A scan now records the script's stat...
    p.run(&["status", &root]).assert_code(0);
    // ...and at once, within the same tick if the machine is fast, a same-size rewrite.
    let v2 = TRAIN_SH.replace("n=", "N=");
    assert_eq!(v2.len(), TRAIN_SH.len());
    p.write("train.sh", &v2);
    let mtime = UNIX_EPOCH + Duration::new(before.mtime() as u64, before.mtime_nsec() as u32);
    std::fs::File::options().write(true).open(&script).unwrap().set_modified(mtime).unwrap();
    let after = std::fs::metadata(&script).unwrap();
    assert_eq!(
        (after.len(), after.mtime(), after.mtime_nsec()),
        (before.len(), before.mtime(), before.mtime_nsec())
    );

    let b = p.build(&[]);
    b.assert_code(0).assert_steps(&[
        ("prepare", "reused"),
        ("train", "ran"),
        ("report", "ran"),
        ("lint", "reused"),
    ]);
    b.assert_reason("train", "train.sh");
    assert_eq!(p.output("train", "model", "model.txt"), "1,2,3\nN=1\n");
}

/// A damaged stat cache is never trusted: the build re-hashes and rewrites it.
#[test]
fn damaged_stat_cache_is_rebuilt() {
    let p = built_chain();
    std::thread::sleep(Duration::from_millis(150));
    let file = p.state().join("statcache");
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();
    let b = p.build(&[]);
    b.assert_code(0).assert_steps(ALL_REUSED);
    assert!(hashed_bytes(&b) > 0);
    assert_eq!(hashed_bytes(&p.build(&[])), 0);
}
