//! Diagnostic: `W0205 shell-interpolation`.
//!
//! A placeholder inside code that a shell or interpreter parses: the script of `sh -c`,
//! `bash -c` (and `dash`, `zsh`, `ksh`, `mksh`, `ash`, `yash`, `fish`), the code of
//! `python -c` (any `python*` or `pypy*`), `perl -e`/`-E`, `node -e`/`-p`/`--eval`/
//! `--print`, `ruby -e`, `Rscript -e`, `php -r` and `lua -e`. Steps run as argv with no shell
//! of ours, so a placeholder is always one argv element, but inside such an element it
//! becomes code: `--param 'q=x; touch /tmp/PWNED'` runs `touch` through
//! `["sh", "-c", "echo ${params.q}"]`. Parameters can come from a run's caller (`--param`,
//! and later the REST endpoint of a published pipeline), so this is a code injection path;
//! an input or output path with a space or a quote in it breaks the script. The fix is the
//! one `sh -c` is made for: pass the value as its own element after the script and refer to
//! it there (`"$1"`, `sys.argv[1]`, …).
//!
//! A warning, not an error: pipelines written this way keep running. What is recognised:
//! the program by name or by path (`/bin/sh`), behind the wrappers `env` (its options and
//! `NAME=VALUE` assignments), `nice`, `nohup`, `timeout`, `stdbuf`, `command` and `busybox`;
//! shell options combined with `-c` (`-ec`, `-xc`, `-c -e`); code attached to its flag
//! (`-cprint(1)`, `--eval=…`). Over a step's `command` followed by its `arguments`, as it
//! runs. A `script` step is not checked: its arguments are positional parameters of the
//! script file, the safe form (what the script then does with them is its own business).

use syntax::Span;

use super::{Code, Diagnostic};
use crate::model::Spanned;
use crate::template::{self, Kind, Piece};

/// How a program takes code on its command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Style {
    /// A POSIX-style shell: `c` in an option cluster makes the first operand the script.
    Shell,
    /// The code is the argument of one of these flags (short, or long with `--`).
    Flag { short: &'static [char], long: &'static [&'static str] },
}

/// A program that runs code given on its command line.
#[derive(Clone, Copy, Debug)]
struct Interpreter {
    /// How messages name the language (`shell`, `Python`).
    language: &'static str,
    /// How the code is passed.
    style: Style,
    /// How the code reads its first extra argument, for the help line.
    first_arg: &'static str,
}

/// Which interpreter `program` (a name or a path) is, if any.
fn interpreter(program: &str) -> Option<Interpreter> {
    let name = program.rsplit('/').next().unwrap_or(program);
    let versioned = |prefix: &str| {
        name.strip_prefix(prefix)
            .is_some_and(|v| v.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
    };
    let flag = |short, long| Style::Flag { short, long };
    let (language, style, first_arg) = match name {
        "sh" | "bash" | "dash" | "zsh" | "ksh" | "mksh" | "ash" | "yash" => {
            ("shell", Style::Shell, "\"$1\"")
        }
        "fish" => ("shell", flag(&['c'], &["--command"]), "$argv[1]"),
        _ if versioned("python") || versioned("pypy") => {
            ("Python", flag(&['c'], &[]), "sys.argv[1]")
        }
        _ if versioned("perl") => ("Perl", flag(&['e', 'E'], &[]), "$ARGV[0]"),
        "node" | "nodejs" => {
            ("JavaScript", flag(&['e', 'p'], &["--eval", "--print"]), "process.argv[1]")
        }
        "ruby" => ("Ruby", flag(&['e'], &[]), "ARGV[0]"),
        "Rscript" => ("R", flag(&['e'], &[]), "commandArgs(TRUE)[1]"),
        "php" => ("PHP", flag(&['r'], &[]), "$argv[1]"),
        _ if versioned("lua") => ("Lua", flag(&['e'], &[]), "arg[1]"),
        _ => return None,
    };
    Some(Interpreter { language, style, first_arg })
}

/// Where the program is in `argv`: past the wrappers the module docs list.
fn program_at(argv: &[&str]) -> usize {
    let mut i = 0;
    while let Some(&arg) = argv.get(i) {
        let name = arg.rsplit('/').next().unwrap_or(arg);
        // Options of the wrapper that take the next element as their value.
        let takes_value: &[&str] = match name {
            "env" => &["-u", "--unset", "-C", "--chdir"],
            "nice" => &["-n", "--adjustment"],
            "timeout" => &["-s", "--signal", "-k", "--kill-after"],
            "stdbuf" => &["-i", "-o", "-e"],
            "nohup" | "command" | "busybox" => &[],
            _ => return i,
        };
        i += 1;
        while let Some(&a) = argv.get(i) {
            if a == "--" {
                i += 1;
                break;
            }
            if takes_value.contains(&a) {
                i += 2;
            } else if a.starts_with('-') || (name == "env" && a.contains('=')) {
                i += 1;
            } else {
                break;
            }
        }
        if name == "timeout" {
            i += 1; // the duration
        }
    }
    i
}

/// The positions of the elements of `argv` that hold code for an interpreter (the script
/// of `sh -c`, each `perl -e` line), with the interpreter.
fn code_args(argv: &[&str]) -> Vec<(usize, Interpreter)> {
    let at = program_at(argv);
    let Some(interp) = argv.get(at).and_then(|p| interpreter(p)) else { return Vec::new() };
    let mut out = Vec::new();
    let mut i = at + 1;
    let mut shell_c = false;
    while let Some(&a) = argv.get(i) {
        let option = (a.starts_with('-') || (interp.style == Style::Shell && a.starts_with('+')))
            && a.len() > 1;
        if a == "--" || !option {
            if a == "--" {
                i += 1;
            }
            if shell_c && argv.get(i).is_some() {
                out.push((i, interp));
            }
            break;
        }
        match interp.style {
            Style::Shell => {
                if matches!(a, "-o" | "+o") {
                    i += 1;
                } else if !a.starts_with("--") && a[1..].contains('c') {
                    shell_c = true;
                }
            }
            Style::Flag { short, long } => {
                if let Some(long_flag) = a.strip_prefix("--") {
                    let (flag, attached) = match long_flag.split_once('=') {
                        Some((f, _)) => (f, true),
                        None => (long_flag, false),
                    };
                    if long.iter().any(|l| l.strip_prefix("--") == Some(flag)) {
                        out.push((if attached { i } else { i + 1 }, interp));
                        i += usize::from(!attached);
                    }
                } else if let Some(k) = a[1..].find(|c| short.contains(&c)) {
                    // `-c` ends the cluster: the code is the rest of it, else the next element.
                    let attached = 1 + k + 1 < a.len();
                    out.push((if attached { i } else { i + 1 }, interp));
                    i += usize::from(!attached);
                }
            }
        }
        i += 1;
    }
    out.retain(|(i, _)| *i < argv.len());
    out
}

/// W0205 for every element of `argv` (a step's `command` then its `arguments`) that holds
/// interpreter code with a placeholder in it.
pub(crate) fn check(argv: &[&Spanned<String>], diags: &mut Vec<Diagnostic>) {
    if !argv.iter().any(|a| a.value.contains("${")) {
        return;
    }
    let words: Vec<&str> = argv.iter().map(|a| a.value.as_str()).collect();
    for (i, interp) in code_args(&words) {
        let code = argv[i];
        let placeholders: Vec<(Kind, &str)> = template::pieces(&code.value)
            .into_iter()
            .filter_map(|p| match p {
                Piece::Placeholder { kind, text, .. } => Some((kind, text)),
                _ => None,
            })
            .collect();
        if placeholders.is_empty() {
            continue;
        }
        let program = words[program_at(&words)];
        diags.push(new(code.span, program, interp, &placeholders));
    }
}

fn new(span: Span, program: &str, interp: Interpreter, found: &[(Kind, &str)]) -> Diagnostic {
    let (kind, first) = found.iter().copied().find(|(k, _)| *k == Kind::Params).unwrap_or(found[0]);
    let named = match found.len() {
        1 => format!("`{first}` is"),
        n => {
            format!("`{first}` and {} more placeholder{} are", n - 1, if n > 2 { "s" } else { "" })
        }
    };
    let risk = match kind {
        Kind::Params => "a value such as `x; touch pwned` would run as code",
        Kind::Inputs | Kind::Outputs => "a path with a space or a quote in it breaks the code",
    };
    let language = interp.language;
    let message = format!("{named} pasted into the {language} code run by `{program}`: {risk}");
    let help = match interp.style {
        Style::Shell => format!(
            "pass it as an argument instead: write {} in the script and put \"sh\", \"{first}\" \
             after it (the element after the script is $0, the next $1)",
            interp.first_arg
        ),
        Style::Flag { .. } => format!(
            "pass it as an argument instead: put \"{first}\" after the code as its own element \
             and read it there as `{}`",
            interp.first_arg
        ),
    };
    Diagnostic::new(Code::ShellInterpolation, span, message).with_help(help)
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::code_args;
    use crate::tests::check;

    /// The positions of code elements in `argv` (written space-separated).
    fn code(argv: &str) -> Vec<usize> {
        let words: Vec<&str> = argv.split(' ').collect();
        code_args(&words).into_iter().map(|(i, _)| i).collect()
    }

    #[test]
    fn finds_the_script_of_each_form() {
        assert_eq!(code("sh -c S a"), [2]);
        assert_eq!(code("/bin/sh -c S"), [2]);
        assert_eq!(code("/usr/bin/env bash -c S"), [3]);
        assert_eq!(code("env -i A=1 -u B dash -ec S"), [7]);
        assert_eq!(code("bash -xc S a b"), [2]);
        assert_eq!(code("bash -c -e S"), [3]);
        assert_eq!(code("sh -o pipefail -c S"), [4]);
        assert_eq!(code("bash --norc -c -- S"), [4]);
        assert_eq!(code("nice -n 5 timeout -s KILL 10 zsh -c S"), [9]);
        assert_eq!(code("python3 -c S a"), [2]);
        assert_eq!(code("python3.12 -u -c S"), [3]);
        assert_eq!(code("/usr/bin/python -cS"), [1]);
        assert_eq!(code("perl -w -e S1 -E S2"), [3, 5]);
        assert_eq!(code("node --eval S"), [2]);
        assert_eq!(code("node --eval=S"), [1]);
        assert_eq!(code("node -p S"), [2]);
        assert_eq!(code("Rscript -e S"), [2]);
        // Not code: a script file, arguments after it, a shell without -c, a dangling -c.
        assert_eq!(code("sh run.sh S"), Vec::<usize>::new());
        assert_eq!(code("bash -e run.sh"), Vec::<usize>::new());
        assert_eq!(code("python3 train.py -c S"), Vec::<usize>::new());
        assert_eq!(code("sh -c"), Vec::<usize>::new());
        assert_eq!(code("echo -c S"), Vec::<usize>::new());
        assert_eq!(code("shellcheck -c S"), Vec::<usize>::new());
    }

    #[test]
    fn placeholder_in_a_shell_script() {
        check(
            r#"
[parameters]
q = "x"
[steps.a]
command = ["sh", "-c", "echo ${params.q} > \"$0/unsafe.txt\"", "${outputs.o}"]
outputs = ["o"]
"#,
            expect![[r#"
                warning[W0205] 4:24-4:62: `${params.q}` is pasted into the shell code run by `sh`: a value such as `x; touch pwned` would run as code
                  help: pass it as an argument instead: write "$1" in the script and put "sh", "${params.q}" after it (the element after the script is $0, the next $1)
            "#]],
        );
    }

    #[test]
    fn paths_interpreters_and_arguments() {
        check(
            r#"
[parameters]
n = 3
[steps.a]
command = ["/usr/bin/env", "bash", "-ec"]
arguments = ["wc -l ${inputs.d} > ${outputs.o}/n"]
inputs = { d = "steps.b.outputs.o" }
outputs = ["o"]
[steps.b]
command = ["python3", "-c", "print(${params.n})", "${outputs.o}"]
outputs = ["o"]
[steps.c]
command = ["sh", "-c", "cat \"$1\" > \"$2/x\"", "sh", "${params.n}", "${outputs.o}"]
outputs = ["o"]
"#,
            expect![[r#"
                warning[W0205] 5:14-5:50: `${inputs.d}` and 1 more placeholder are pasted into the shell code run by `bash`: a path with a space or a quote in it breaks the code
                  help: pass it as an argument instead: write "$1" in the script and put "sh", "${inputs.d}" after it (the element after the script is $0, the next $1)
                warning[W0205] 9:29-9:49: `${params.n}` is pasted into the Python code run by `python3`: a value such as `x; touch pwned` would run as code
                  help: pass it as an argument instead: put "${params.n}" after the code as its own element and read it there as `sys.argv[1]`
            "#]],
        );
    }

    #[test]
    fn positional_arguments_literals_and_script_steps_are_fine() {
        check(
            r#"
//- /pipeline.toml
[parameters]
q = "x"
[steps.a]
command = ["sh", "-c", "echo \"$1\" $${params.q} > \"$0/x\"", "${outputs.o}", "${params.q}"]
outputs = ["o"]
[steps.b]
script = "run.sh"
arguments = ["-c", "echo ${params.q}"]
[steps.c]
command = ["echo", "-c", "${params.q}"]
//- /run.sh
"#,
            expect![[""]],
        );
    }
}
