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
