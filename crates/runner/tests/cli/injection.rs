//! The injection matrix: shell syntax, globs, `..` and control characters as a parameter
//! value, given with `--param` to steps that use it as an argv element (alone, inside a
//! template, in a `command`) and as an environment variable. Every value reaches the step
//! byte for byte as one argument, and none runs: the `PWNED` files the payloads would create
//! (in the world folder, or wherever they would run) never appear, and nothing outside the
//! project changes. Steps of the form `sh -c "… ${params.q} …"` hand the value to a shell
//! by their own choice and are left out (a checker warning covers them).

use crate::world::World;

/// Four steps, each writing what it received as `q` to `v.txt` in its output.
const PIPELINE: &str = r#"
[parameters]
q = "plain"

[steps.argv]
script = "echo_arg.sh"
arguments = ["${params.q}", "${outputs.o}"]
outputs = ["o"]

[steps.templated]
script = "echo_arg.sh"
arguments = ["<${params.q}>", "${outputs.o}"]
outputs = ["o"]

[steps.command]
command = ["sh", "echo_arg.sh", "${params.q}", "${outputs.o}"]
outputs = ["o"]

[steps.env]
script = "echo_env.sh"
arguments = ["${outputs.o}"]
env = { Q = "${params.q}" }
outputs = ["o"]
"#;

/// The values; `{W}` is the world folder, where a payload that ran would leave its mark.
const PAYLOADS: &[&str] = &[
    "$(touch {W}/PWNED-subst)",
    "`touch {W}/PWNED-backtick`",
    "; touch {W}/PWNED-semicolon",
    "| touch {W}/PWNED-pipe",
    "&& touch {W}/PWNED-and",
    "|| touch {W}/PWNED-or",
    "\n touch {W}/PWNED-newline",
    "' ; touch {W}/PWNED-single '",
    "\" ; touch {W}/PWNED-double \"",
    "${IFS}touch${IFS}{W}/PWNED-ifs",
    "$(touch PWNED-relative)",
    "> {W}/PWNED-redirect",
    "*",
    "{W}/*",
    "../../x",
    "{W}/sentinel.txt",
    "-rf",
    "--help",
    "%s%n%x",
    "${params.q}",
    "$${x}",
    "",
    "  two  spaces  ",
    "tab\there\r\n",
    "\u{1b}[31mred\u{1b}[0m",
    "ünïcødé",
];

/// Every payload through `build`, `build --dry-run` and `status`, in one project (each
/// changes the key, so each build runs all four steps again): each step got the value as
/// sent.
#[test]
fn parameter_values_are_inert_argv_elements() {
    let w = World::new();
    w.write("pipeline.toml", PIPELINE);
    w.write("echo_arg.sh", "printf '%s' \"$1\" > \"$2/v.txt\"\n");
    w.write("echo_env.sh", "printf '%s' \"$Q\" > \"$1/v.txt\"\n");
    let world = w.root().display().to_string();
    for payload in PAYLOADS {
        let value = payload.replace("{W}", &world);
        let param = format!("q={value}");
        for cmd in [&["build"][..], &["build", "--dry-run"], &["status"]] {
            let args: Vec<&str> = cmd.iter().copied().chain(["--param", &param]).collect();
            w.run_safely(&args).assert_code(0);
        }
        let seen = |step: &str| {
            let view = w.project().join(format!(".runner/outputs/{step}.o/v.txt"));
            std::fs::read(&view).unwrap_or_else(|e| panic!("{}: {e}", view.display()))
        };
        for step in ["argv", "command", "env"] {
            assert_eq!(seen(step), value.as_bytes(), "{step} got another value for {value:?}");
        }
        assert_eq!(seen("templated"), format!("<{value}>").as_bytes(), "{value:?}");
    }
}

/// Shell text where the command line takes names: parameter names, step names, the
/// experiment, `-j`. Refused (exit 2) or recorded as text; never run.
#[test]
fn names_on_the_command_line_are_never_run() {
    let w = World::new();
    w.write("pipeline.toml", PIPELINE);
    w.write("echo_arg.sh", "printf '%s' \"$1\" > \"$2/v.txt\"\n");
    w.write("echo_env.sh", "printf '%s' \"$Q\" > \"$1/v.txt\"\n");
    let mark = format!("$(touch {}/PWNED-name)", w.root().display());
    let as_param = format!("{mark}=1");
    let refused: &[&[&str]] = &[
        &["build", "--param", &as_param],
        &["status", "--param", &as_param],
        &["build", "--param", &mark],
        &["build", &mark],
        &["build", ".", &mark],
        &["build", "-j", &mark],
        &["runs", "--limit", &mark],
    ];
    for args in refused {
        w.run_safely(args).assert_code(2);
    }
    w.run_safely(&["build", "--experiment", &mark]).assert_code(0);
    let run = w.run_safely(&["runs", "--experiment", &mark]);
    run.assert_code(0);
    assert!(
        run.stdout.lines().count() >= 2,
        "the experiment is recorded as text\n{}",
        run.transcript()
    );
}

/// A NUL in a parameter value can only come from `pipeline.toml` (not from an argument):
/// the step cannot be started with it, and says so; nothing panics or runs.
#[test]
fn a_nul_in_a_parameter_value_fails_cleanly() {
    let w = World::new();
    w.write("pipeline.toml", &PIPELINE.replace("q = \"plain\"", "q = \"a\\u0000b\""));
    w.write("echo_arg.sh", "printf '%s' \"$1\" > \"$2/v.txt\"\n");
    w.write("echo_env.sh", "printf '%s' \"$Q\" > \"$1/v.txt\"\n");
    for cmd in [&["check"][..], &["build"], &["build", "--dry-run"], &["status"]] {
        let run = w.run_safely(cmd);
        if cmd == ["build"] {
            assert!(matches!(run.code, Some(1 | 2)), "{}", run.transcript());
        }
    }
}
