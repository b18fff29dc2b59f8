//! `runner upload` writes only inside its datastore's folder: `--target` and the files'
//! names with `..`, absolute paths, symlinks that lead out and shell text, in the built-in
//! datastore (the project) and in one declared outside the project.

use crate::world::World;

/// The pipeline: the built-in `workspace` datastore, and `ext` declared in the world.
const STORES: &str = r#"
[datastores.ext]
path = "../ext"
"#;

/// Finding 1: `runner upload DIR --target /abs/path` deleted and replaced `/abs/path/DIR`.
/// Now it is refused before anything is written, naming the path and the datastore's folder.
#[test]
fn an_absolute_target_is_refused_and_deletes_nothing() {
    let w = World::new();
    w.write("pipeline.toml", STORES);
    let victim = w.at("victim");
    let run = w.run_safely(&["upload", "DIR", "--target", &victim]);
    run.assert_code(2);
    let root = w.project().display().to_string();
    assert!(run.stderr.contains(&format!("{victim} leads outside {root}")), "{}", run.transcript());
    assert!(run.stderr.contains("it is an absolute path"), "{}", run.transcript());
    assert!(w.root().join("victim/DIR/keep.txt").is_file());
}

/// Every hostile `--target`, into both datastores: refused (exit 2) or written inside the
/// datastore's folder, never outside. Each with a folder (replacing one that is there: the
/// remove that finding 1 reached outside with) and a file.
#[test]
fn hostile_targets_write_only_inside_the_datastore() {
    let refused = [
        "..".to_owned(),
        "../victim".into(),
        "a/../../victim".into(),
        "escape".into(),
        "escape/sub".into(),
        "up/victim".into(),
        "/".into(),
    ];
    let inside = ["$(touch PWNED)", "; touch PWNED", "`touch PWNED`", "*", ".", "a/./b"];
    for store in ["workspace", "ext"] {
        let w = World::new();
        w.write("pipeline.toml", STORES);
        // The declared datastore has the project's two symlinks that lead out of it too.
        std::fs::create_dir(w.root().join("ext")).unwrap();
        std::os::unix::fs::symlink(w.root().join("secret"), w.root().join("ext/escape")).unwrap();
        std::os::unix::fs::symlink("..", w.root().join("ext/up")).unwrap();
        let mut targets: Vec<String> = refused.to_vec();
        targets.extend([w.at("victim"), w.at("ext")]);
        for target in &targets {
            for file in ["DIR", "data.txt"] {
                let run = w.run_safely(&["upload", file, "--datastore", store, "--target", target]);
                run.assert_code(2);
                assert!(run.stderr.contains("leads outside"), "{}", run.transcript());
            }
        }
        for target in inside {
            // Twice: the second replaces what the first wrote.
            for _ in 0..2 {
                for file in ["DIR", "data.txt"] {
                    let args = ["upload", file, "--datastore", store, "--target", target];
                    if store == "ext" {
                        // Writing into the declared datastore is the point: compare the
                        // world without it.
                        let before = outside_but_ext(&w);
                        let run = w.run(&args);
                        run.assert_code(0);
                        assert_eq!(outside_but_ext(&w), before, "{}", run.transcript());
                        assert!(w.pwned().is_empty());
                    } else {
                        w.run_safely(&args).assert_code(0);
                    }
                }
            }
            let root = if store == "ext" { w.root().join("ext") } else { w.project() };
            let folder = root.join(target);
            assert_eq!(std::fs::read_to_string(folder.join("DIR/file.txt")).unwrap(), "uploaded\n");
            assert_eq!(std::fs::read_to_string(folder.join("data.txt")).unwrap(), "data\n");
        }
    }
}

/// The world outside the project, leaving out the `ext` datastore's folder.
fn outside_but_ext(w: &World) -> crate::world::Tree {
    crate::world::tree(w.root(), &[w.project(), w.root().join("ext")])
}

/// Files named through `..`, absolute paths and the symlinks that lead out are read (that
/// is what an upload does) and copied inside the datastore; a folder holding a symlink that
/// leads out of it is refused, as a snapshot would be.
#[test]
fn uploaded_files_are_read_from_anywhere_and_written_inside() {
    let w = World::new();
    w.write("pipeline.toml", STORES);
    for file in ["../sentinel.txt".to_owned(), w.at("secret"), "escape".into(), "up/tool.sh".into()]
    {
        w.run_safely(&["upload", &file, "--target", "in"]).assert_code(0);
    }
    let inside = w.project().join("in");
    assert_eq!(
        std::fs::read_to_string(inside.join("sentinel.txt")).unwrap(),
        "SENTINEL, keep out\n"
    );
    assert_eq!(std::fs::read_to_string(inside.join("escape/sub/b.txt")).unwrap(), "b\n");
    assert!(!inside.join("escape").is_symlink(), "a copy, not the symlink");
    std::os::unix::fs::symlink(w.root().join("secret"), w.project().join("DIR/link")).unwrap();
    let run = w.run_safely(&["upload", "DIR", "--target", "in"]);
    run.assert_code(2);
    assert!(run.stderr.contains("`link` is a symlink to"), "{}", run.transcript());
    assert!(!inside.join("DIR").exists(), "nothing half-written");
}
