//! The traversal matrix: every path-taking pipeline key, every command's path argument and
//! planted symlinks in the state folder, each given `..`, absolute, symlinked and NUL paths,
//! run through the real binary in a project inside a world of sentinels (`world`). After
//! every command nothing outside the project (and its `.runner/`) was created, changed or
//! deleted, nothing panicked, and no `PWNED` file appeared.
//!
//! A NUL inside a path key is a diagnostic (exit 1) or an error naming the path (exit 2):
//! both pass, a panic does not. A NUL cannot reach the runner through its arguments at all
//! (`execve` takes C strings), which [`a_nul_cannot_reach_the_runner_as_an_argument`] pins.

use crate::world::World;

/// The commands every pipeline of the key matrix goes through.
pub const COMMANDS: &[&[&str]] =
    &[&["check"], &["build"], &["build", "--dry-run"], &["status"], &["graph"]];

/// The pipeline the key matrix varies: `{req}`, `{store}`, `{data}`, `{script}`, `{src}`
/// and `{hash}` are TOML string contents.
const PIPELINE: &str = r#"
[pipeline]
name = "traversal"

[environments.e]
requirements = "{req}"

[datastores.store]
path = "{store}"

[data.d]
datastore = "store"
path = "{data}"

[steps.s]
script = "{script}"
source_directory = "{src}"
hash_paths = ["{hash}"]
environment = "e"
inputs = { d = "data.d" }
arguments = ["${outputs.o}", "${inputs.d}"]
outputs = ["o"]
"#;

/// A NUL byte, as a TOML escape.
const NUL: &str = "a\\u0000b";

/// The pipeline with every key at a harmless value inside the project, but `overrides`;
/// `{W}` in a value is the world folder.
fn pipeline(overrides: &[(&str, &str)], w: &World) -> String {
    let mut text = PIPELINE.to_owned();
    let defaults = [
        ("req", "req.txt"),
        ("store", "."),
        ("data", "data.txt"),
        ("script", "step.sh"),
        ("src", "."),
        ("hash", "data.txt"),
    ];
    for (key, default) in defaults {
        let value = overrides.iter().find(|(k, _)| *k == key).map_or(default, |(_, v)| v);
        text = text.replace(&format!("{{{key}}}"), &value.replace("{W}", &w.at("")));
    }
    text
}

/// The hostile cases of `key`: climbing out with `..`, absolute (`{W}/…`), through the
/// project's symlinks that lead out (`escape`, `up`), and a NUL. A datastore's case sets its
/// data reference's path too.
fn cases(key: &'static str) -> Vec<Vec<(&'static str, &'static str)>> {
    let values: &[&'static str] = match key {
        "script" => &["../tool.sh", "{W}/tool.sh", "escape/step.sh", "up/tool.sh", NUL],
        "src" => {
            // The step's script and hash_paths are relative to it: ones it holds.
            let world = [("script", "secret/step.sh"), ("hash", "sentinel.txt")];
            let secret = [("script", "step.sh"), ("hash", "a.txt")];
            let srcs = [
                ("..", world),
                ("../secret", secret),
                ("{W}/secret", secret),
                ("escape", secret),
                ("up", world),
                (NUL, secret),
            ];
            return srcs
                .iter()
                .map(|&(src, rest)| [vec![("src", src)], rest.into()].concat())
                .collect();
        }
        "hash" => &["../secret", "../sentinel.txt", "{W}/secret", "escape", "up/sentinel.txt", NUL],
        "data" => &["../sentinel.txt", "{W}/sentinel.txt", "escape/a.txt", "up/secret", NUL],
        "req" => &["../req.txt", "{W}/req.txt", "up/req.txt", "escape/a.txt", NUL],
        "store" => {
            let stores = [
                ("..", "sentinel.txt"),
                ("{W}", "sentinel.txt"),
                ("escape", "a.txt"),
                ("up", "secret/a.txt"),
                (NUL, "data.txt"),
                (".", "../sentinel.txt"),
            ];
            return stores.iter().map(|&(s, d)| vec![("store", s), ("data", d)]).collect();
        }
        _ => unreachable!("{key}"),
    };
    values.iter().map(|&v| vec![(key, v)]).collect()
}

/// Every case of `key`, in a fresh world each, through every command. Some build must run
/// its step, or the matrix would only test how the runner refuses.
fn key_matrix(key: &'static str) {
    let mut ran = 0;
    for case in cases(key) {
        let w = World::new();
        w.write("pipeline.toml", &pipeline(&case, &w));
        for cmd in COMMANDS {
            let run = w.run_safely(cmd);
            ran += usize::from(cmd == &["build"] && run.stderr.contains("1 ran"));
            // `graph` reads no path: it draws the steps whatever they name.
            if case.iter().any(|(_, v)| *v == NUL) && cmd[0] != "graph" {
                assert!(matches!(run.code, Some(1 | 2)), "NUL accepted\n{}", run.transcript());
            }
        }
    }
    assert!(ran > 0, "no build of a {key} case ran its step");
}

#[test]
fn script_paths_that_leave_write_nothing_outside() {
    key_matrix("script");
}

#[test]
fn source_directories_that_leave_write_nothing_outside() {
    key_matrix("src");
}

#[test]
fn hash_paths_that_leave_write_nothing_outside() {
    key_matrix("hash");
}

#[test]
fn data_paths_that_leave_write_nothing_outside() {
    key_matrix("data");
}

#[test]
fn datastore_paths_that_leave_write_nothing_outside() {
    key_matrix("store");
}

#[test]
fn requirements_paths_that_leave_write_nothing_outside() {
    key_matrix("req");
}

/// The path argument of every command (and `-p` of those that take it) given `..`, an
/// absolute path, the symlinks that lead out, the project through one of them, shell text
/// and a folder without a pipeline. What a path names is the project: none of these may
/// write outside one, and the runner reads them, it never runs them.
#[test]
fn command_path_arguments_write_nothing_outside() {
    let w = World::new();
    w.write("pipeline.toml", &pipeline(&[], &w));
    let paths = [
        "..".to_owned(),
        w.at("sentinel.txt"),
        w.at("empty"),
        "escape".into(),
        "up".into(),
        "up/project".into(),
        "./../project/../..".into(),
        "$(touch PWNED)".into(),
        "; touch PWNED".into(),
        "`touch PWNED`".into(),
    ];
    let mut ran = 0;
    for path in &paths {
        let p = path.as_str();
        for cmd in [
            vec!["check", p],
            vec!["build", p],
            vec!["build", p, "--dry-run"],
            vec!["status", p],
            vec!["graph", p],
            vec!["runs", p],
            vec!["show", "1", "-p", p],
            vec!["logs", "1", "s", "-p", p],
            vec!["upload", "data.txt", "-p", p],
        ] {
            let run = w.run_safely(&cmd);
            ran += usize::from(run.stderr.contains("1 ran"));
        }
    }
    assert_eq!(ran, 1, "only `build up/project` (the project itself) builds");
}

/// `runner runs`, `show` and `logs` name runs and steps, not paths: hostile names are
/// looked up, found missing, and never used as paths or run.
#[test]
fn history_commands_take_names_not_paths() {
    let w = World::new();
    w.write("pipeline.toml", &pipeline(&[], &w));
    w.run_safely(&["build"]).assert_code(0);
    w.run_safely(&["show", "1", "s"]).assert_code(0);
    let names = ["../../sentinel.txt", "escape", "$(touch PWNED)", "; touch PWNED", "s/../s", "*"];
    for name in names {
        w.run_safely(&["show", "1", name]).assert_code(2);
        w.run_safely(&["logs", "1", name]).assert_code(2);
        w.run_safely(&["logs", "1", name, "--stderr"]).assert_code(2);
        w.run_safely(&["runs", "--experiment", name]).assert_code(0);
    }
    for run in ["0", "-1", "99999999999", "1;touch PWNED"] {
        let r = w.run_safely(&["show", run]);
        assert_ne!(r.code, Some(0), "{}", r.transcript());
    }
}

/// A NUL cannot reach the runner through its arguments: `execve` takes C strings, and the
/// standard library refuses to spawn such an argument. (Inside `pipeline.toml` it can, and
/// the key matrix gives it to every path key.)
#[test]
fn a_nul_cannot_reach_the_runner_as_an_argument() {
    let w = World::new();
    let err = std::process::Command::new(crate::support::runner_bin())
        .args(["upload", "data.txt", "--target", "a\0b"])
        .current_dir(w.project())
        .output()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
}
