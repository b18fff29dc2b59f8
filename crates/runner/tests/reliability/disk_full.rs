//! A full disk: a small tmpfs holds the project, and a filler file leaves little room at
//! points of a build (from nothing to a few steps' worth). Each build out of space fails
//! with a clear error (exit 1 or 2, the OS error once per line), records how it ended
//! (`failed`, not left `running`), and once the filler is gone the next build succeeds
//! with every output right: nothing partial was kept.
//!
//! Mounting needs root: without it the test says it skipped.

use std::process::Command;
use std::time::Instant;

use crate::pipeline::{expected, generate, write, wrong_views};
use crate::support::Project;

/// The tmpfs's size.
const SIZE: &str = "24m";

/// Room left by the filler at each point, in KiB.
const ROOM_KIB: [u64; 6] = [0, 8, 64, 256, 1024, 4096];

/// A tmpfs mounted on a temp folder, unmounted when dropped.
struct Tmpfs(tempfile::TempDir);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

fn mount() -> Option<Tmpfs> {
    let dir = tempfile::tempdir().unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={SIZE}"), "tmpfs"])
        .arg(dir.path())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    mounted.then_some(Tmpfs(dir))
}

fn available_kib(path: &std::path::Path) -> u64 {
    let out = Command::new("df").args(["--output=avail", "-k"]).arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().nth(1).unwrap().trim().parse().unwrap()
}

#[test]
fn disk_full() {
    let Some(fs) = mount() else {
        eprintln!("disk full: skipped (mounting a tmpfs needs root)");
        return;
    };
    let root = fs.0.path().join("project");
    std::fs::create_dir(&root).unwrap();
    let on_fs = Project::at(&root);
    let steps = generate(12, 0xd15c_f011, 0.0);
    write(&on_fs, &steps);
    // Steps that write a few hundred KiB each, so room runs out at different places.
    let text = on_fs.read("pipeline.toml").replace(
        r#"sha256sum | cut -c1-64 > \"$out/out.txt\""#,
        r#"sha256sum | cut -c1-64 > \"$out/out.txt\"; head -c 300000 /dev/zero > \"$out/pad.bin\""#,
    );
    assert!(text.contains("pad.bin"));
    on_fs.write("pipeline.toml", &text);
    let (mut failures, mut clear, mut doubled, mut recovered, mut wrong, mut left_running) =
        (0, 0, 0, 0, 0, 0);
    let started = Instant::now();
    for (i, room) in ROOM_KIB.iter().enumerate() {
        let salt = format!("f{i}");
        let filler = fs.0.path().join("filler");
        let fill = available_kib(fs.0.path()).saturating_sub(*room);
        let made = Command::new("fallocate")
            .args(["-l", &format!("{fill}KiB")])
            .arg(&filler)
            .status()
            .unwrap();
        assert!(made.success());
        let run = on_fs.run(&["build", ".", "--param", &format!("salt={salt}")]);
        assert!(matches!(run.code, Some(0..=2)), "room {room} KiB\n{}", run.transcript());
        if run.code != Some(0) {
            failures += 1;
            let said = run.stderr.contains("No space left on device")
                || run.stderr.contains("disk is full");
            clear += usize::from(said);
            if !said {
                eprintln!("room {room} KiB: failed without saying why\n{}", run.transcript());
            }
            doubled += run
                .stderr
                .lines()
                .filter(|l| l.matches("No space left on device").count() > 1)
                .count();
        }
        let runs = on_fs.run(&["runs", ".", "--format", "json"]);
        let doc: serde_json::Value = serde_json::from_str(runs.stdout.trim()).unwrap_or_default();
        left_running +=
            doc.as_array().into_iter().flatten().filter(|r| r["status"] == "running").count();
        std::fs::remove_file(&filler).unwrap();
        let b = on_fs.build(&["--param", &format!("salt={salt}")]);
        if b.run.code == Some(0) {
            recovered += 1;
        } else {
            eprintln!("room {room} KiB: no recovery\n{}", b.run.transcript());
        }
        let bad = wrong_views(&on_fs, &expected(&steps, &salt));
        if !bad.is_empty() {
            eprintln!("room {room} KiB: wrong outputs {bad:?}");
        }
        wrong += bad.len();
    }
    eprintln!(
        "disk full: {} points ({ROOM_KIB:?} KiB left on a {SIZE} tmpfs), {failures} builds out \
         of space: {clear} said so, {doubled} lines with the error twice, {left_running} runs \
         left running; {recovered} recoveries, {wrong} wrong outputs, in {:.1} s",
        ROOM_KIB.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(failures >= 4, "the filler should make most points fail: {failures}");
    assert_eq!((clear, doubled, left_running), (failures, 0, 0));
    assert_eq!((recovered, wrong), (ROOM_KIB.len(), 0));
}
