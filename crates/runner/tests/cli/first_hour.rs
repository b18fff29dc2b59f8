//! What a new user meets in the first hour: the state folder is not committed by accident,
//! a mistyped path is called a path, the shell completes commands.

use crate::support::Project;
use crate::{built_chain, chain};

/// The first build leaves `.runner/` ignored by git (`*` in its own `.gitignore`) and
/// tagged as a cache for backup tools; a user's own `.gitignore` there is kept.
#[test]
fn the_state_folder_ignores_itself_and_is_tagged_as_a_cache() {
    let p = built_chain();
    let ignore = std::fs::read_to_string(p.state().join(".gitignore")).unwrap();
    assert_eq!(ignore.lines().filter(|l| !l.starts_with('#')).collect::<Vec<_>>(), ["*"]);
    let tag = std::fs::read_to_string(p.state().join("CACHEDIR.TAG")).unwrap();
    assert!(tag.starts_with("Signature: 8a477f597d28d172789f06886806bc55"), "{tag}");
    std::fs::write(p.state().join(".gitignore"), "# mine\n*\n").unwrap();
    p.build(&[]).assert_code(0);
    assert_eq!(std::fs::read_to_string(p.state().join(".gitignore")).unwrap(), "# mine\n*\n");
}

/// `runner build /tmp/amlprt` says the path does not exist (it used to look for a step of
/// that name in `.`); a name that can be a step is still a step, with a suggestion.
#[test]
fn a_mistyped_path_is_a_path_and_a_mistyped_step_gets_a_suggestion() {
    let p = chain();
    let missing = p.root().join("amlprt").display().to_string();
    for arg in [missing.as_str(), "amlprt.toml"] {
        let r = p.run(&["build", arg]);
        r.assert_code(2);
        assert!(
            r.stderr.contains("amlprt") && r.stderr.contains("does not exist"),
            "{}",
            r.transcript()
        );
    }
    let r = p.run(&["build", "trian"]);
    r.assert_code(2);
    assert!(
        r.stderr.contains("no step named `trian` (did you mean `train`?)"),
        "{}",
        r.transcript()
    );
}

/// `runner completions SHELL` prints a script that shell loads, naming the commands.
#[test]
fn completions_for_each_shell() {
    let p = Project::new();
    for (shell, marker) in [
        ("bash", "complete -F _runner"),
        ("zsh", "#compdef runner"),
        ("fish", "complete -c runner"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let r = p.run(&["completions", shell]);
        r.assert_code(0);
        assert!(r.stdout.contains(marker), "{shell}: {}", &r.stdout[..r.stdout.len().min(300)]);
        assert!(r.stdout.contains("build") && r.stdout.contains("status"), "{shell}");
    }
    let r = p.run(&["completions", "tcsh"]);
    r.assert_code(2);
}

/// `runner build --format github`: a failed step is an `::error` at its header with its
/// log's tail, a step that ran a `::notice` saying why, a warning of the checker a
/// `::warning`; the job summary gets a table of the steps with their metrics.
#[test]
fn build_for_github_actions_annotates_steps_and_writes_the_job_summary() {
    let p = chain();
    let text = format!(
        "{}\n[parameters.unused]\ndefault = 1\n\n[steps.broken]\n\
         command = [\"sh\", \"-c\", \"echo bad input >&2; exit 3\"]\n\n[steps.scored]\n\
         command = [\"sh\", \"-c\", \"echo 'accuracy 0.97222' >> \\\"$RUNNER_METRICS\\\"\"]\n",
        crate::CHAIN_TOML
    );
    p.write("pipeline.toml", &text);
    let summary_file = p.root().join("summary.md");
    let root = p.root().display().to_string();
    let out = p
        .cmd()
        .env("GITHUB_STEP_SUMMARY", &summary_file)
        .args(["build", &root, "--format", "github"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let line = text.lines().position(|l| l == "[steps.broken]").unwrap() + 1;
    let error =
        stdout.lines().find(|l| l.starts_with("::error ")).unwrap_or_else(|| panic!("{stdout}"));
    let at = format!("pipeline.toml,line={line},title=step broken failed::exited with code 3");
    assert!(error.starts_with("::error file=") && error.contains(&at), "{error}");
    assert!(error.contains("%0Abad input"), "{error}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("::notice ")
                && l.contains("title=step prepare ran::no previous run")),
        "{stdout}"
    );
    assert!(stdout.lines().any(|l| l.starts_with("::warning ") && l.contains("W0201")), "{stdout}");
    let summary = std::fs::read_to_string(&summary_file).unwrap();
    assert!(summary.contains("| step | status | time | why | metrics |"), "{summary}");
    assert!(summary.contains("| broken | failed |"), "{summary}");
    assert!(
        summary.contains("| scored | ran |") && summary.contains("accuracy=0.9722"),
        "{summary}"
    );
    assert!(summary.contains("| prepare | ran |"), "{summary}");
}

/// A step's lines come after those of the steps it depends on: "running train" never
/// before "ran prepare" (the upstream's line waits for checks made after its process
/// ended, while the downstream's process already starts).
#[test]
fn progress_lines_follow_the_graph() {
    for _ in 0..5 {
        let p = chain();
        let root = p.root().display().to_string();
        let r = p.run(&["build", &root]);
        r.assert_code(0);
        let at = |needle: &str| {
            r.stderr.find(needle).unwrap_or_else(|| panic!("no `{needle}` in\n{}", r.stderr))
        };
        assert!(at("ran prepare") < at("running train"), "{}", r.stderr);
        assert!(at("ran train") < at("running report"), "{}", r.stderr);
    }
}

/// Environments live in the user's cache (`RUNNER_CACHE_DIR` here): a second project with
/// the same environment uses the first's, without making it again; the first build says
/// where it made it and how long it took.
#[test]
fn environments_are_shared_between_projects() {
    let cache = tempfile::tempdir().unwrap();
    let pipeline = "[environments.py]\n\n[steps.where]\nscript = \"where.py\"\nenvironment = \"py\"\n\
                    arguments = [\"${outputs.o}\"]\noutputs = [\"o\"]\n";
    let script =
        "import sys, os\nopen(os.path.join(sys.argv[1], 'prefix.txt'), 'w').write(sys.prefix)\n";
    let mut prefixes = Vec::new();
    for first in [true, false] {
        let p = crate::support::Project::with(&[("pipeline.toml", pipeline), ("where.py", script)]);
        let root = p.root().display().to_string();
        let out = p.cmd().env("RUNNER_CACHE_DIR", cache.path()).args(["build", &root]).output();
        let out = out.unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert_eq!(stderr.contains("build environment py"), first, "{stderr}");
        assert_eq!(stderr.contains("environment py ready in "), first, "{stderr}");
        prefixes.push(p.output("where", "o", "prefix.txt"));
        assert!(!p.state().join("envs").exists());
    }
    assert_eq!(prefixes[0], prefixes[1]);
    assert!(
        prefixes[0].starts_with(&cache.path().join("envs").display().to_string()),
        "{prefixes:?}"
    );
}

/// `runner graph --data` draws what the example's diagram shows: data references, and the
/// output and input each edge carries.
#[test]
fn graph_with_data_references_and_edge_labels() {
    let p = chain();
    let root = p.root().display().to_string();
    let r = p.run(&["graph", &root, "--data"]);
    r.assert_code(0);
    for line in [
        "  \"data.raw\" [shape=cylinder];",
        "  \"data.raw\" -> \"prepare\" [label=\"raw\"];",
        "  \"prepare\" -> \"train\" [label=\"split → data\"];",
        "  \"train\" -> \"report\" [label=\"model → model\"];",
    ] {
        assert!(r.stdout.lines().any(|l| l == line), "no `{line}` in\n{}", r.stdout);
    }
    let r = p.run(&["graph", &root, "--data", "--format", "mermaid"]);
    assert!(r.stdout.contains("  data__raw[(data.raw)]\n"), "{}", r.stdout);
    assert!(r.stdout.contains("  prepare -->|\"split → data\"| train\n"), "{}", r.stdout);
    // Without `--data`, steps only, as before.
    let r = p.run(&["graph", &root]);
    assert!(r.stdout.contains("  \"prepare\" -> \"train\";\n") && !r.stdout.contains("data.raw"));
}

/// Two pipeline files in one folder would share `.runner/` (one cache, one history, one
/// set of views): the second to build is refused, saying why and what to do; the first
/// goes on building.
#[test]
fn two_pipelines_in_one_folder_do_not_share_state() {
    let p = chain();
    p.write("other.pipeline.toml", "[steps.x]\ncommand = [\"true\"]\n");
    p.build(&[]).assert_code(0);
    let other = p.root().join("other.pipeline.toml").display().to_string();
    let r = p.run(&["build", &other]);
    r.assert_code(2);
    assert!(
        r.stderr.contains("holds the runs of `pipeline.toml`; `other.pipeline.toml` beside it would share its cache and history: put each pipeline in a folder of its own"),
        "{}",
        r.transcript()
    );
    p.build(&["--regenerate"]).assert_code(0);
}

/// Every command takes the pipeline as `-p PATH` (as `show`, `logs` and `upload` do); those
/// that take it positionally still do, and both at once is a usage error.
#[test]
fn every_command_takes_dash_p() {
    let p = built_chain();
    let root = p.root().display().to_string();
    p.run(&["check", "-p", &root]).assert_code(0);
    p.run(&["status", "-p", &root]).assert_code(0);
    let g = p.run(&["graph", "-p", &root]);
    assert!(g.stdout.contains("\"prepare\" -> \"train\""), "{}", g.stdout);
    let runs = p.run(&["runs", "-p", &root]);
    assert!(runs.stdout.contains("chain"), "{}", runs.stdout);
    let b = p.run(&["build", "-p", &root, "lint", "--format", "json"]);
    b.assert_code(0);
    assert!(b.stdout.contains("\"step\":\"lint\"") && !b.stdout.contains("\"step\":\"train\""));
    p.run(&["check", &root, "-p", &root]).assert_code(2);
}
