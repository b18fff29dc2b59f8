//! Diagnostic: `E0001 toml-syntax`, `E0002 nesting-too-deep`.
//!
//! The file is not valid TOML. The parser recovers, so diagnostics for the rest of the file
//! still appear. Nesting deeper than 128 levels is refused before parsing.

use syntax::Span;

use super::{Code, Diagnostic};

/// A TOML syntax error with the parser's message.
pub(crate) fn toml(span: Span, message: &str) -> Diagnostic {
    Diagnostic::new(Code::TomlSyntax, span, format!("invalid TOML: {message}"))
}

/// `n` more syntax errors, from `span` on, left out (see [`crate::MAX_SYNTAX_ERRORS`]).
pub(crate) fn more(span: Span, n: usize) -> Diagnostic {
    Diagnostic::new(
        Code::TomlSyntax,
        span,
        format!("invalid TOML: {n} more syntax errors from here on are not shown"),
    )
    .with_help(format!("the first {} are; is this file TOML?", crate::MAX_SYNTAX_ERRORS))
}

/// Arrays or inline tables nested too deep.
pub(crate) fn too_deep(span: Span, message: &str) -> Diagnostic {
    Diagnostic::new(Code::TooDeep, span, message.to_owned())
        .with_help("pipelines never need deep nesting; the rest of the file was not checked")
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use crate::tests::check;

    #[test]
    fn semantic_diagnostics_survive_a_syntax_error() {
        check(
            r#"
[steps.a]
script = "a.py
arguments = ["${outputs.x}"]
outputs = ["x", "x"]
"#,
            expect![[r#"
                error[E0001] 2:15-2:15: invalid TOML: invalid basic string, expected `"`
                error[E0108] 4:17-4:20: output `x` is declared twice
                  related 4:12-4:15: first declared here
            "#]],
        );
    }

    #[test]
    fn too_deep() {
        let text = format!("x = {}", "[".repeat(300));
        check(
            &text,
            expect![[r#"
                error[E0002] 1:133-1:134: arrays or inline tables nested deeper than 128 levels
                  help: pipelines never need deep nesting; the rest of the file was not checked
            "#]],
        );
    }

    #[test]
    fn a_broken_header_hides_only_its_own_table() {
        check(
            r#"
[steps.a]
command = ["true", "${outputs.o}"]
outputs = ["o"]
[steps.b
command = ["x"]
outputs = [
[steps.c]
command = ["cat", "${inputs.x}"]
inputs = { x = "data.nope" }
[steps.d
"#,
            expect![[r#"
                error[E0001] 4:9-4:9: invalid TOML: unclosed table, expected `]`
                error[E0001] 6:12-6:12: invalid TOML: unclosed array, expected `]`
                error[E0102] 9:16-9:27: unresolved reference `data.nope`: no data reference named `nope`
                error[E0104] 10:8-10:9: step `d` has neither `script` nor `command`
                  help: add `script = "d.py"` or `command = ["…"]`
                error[E0001] 10:9-10:9: invalid TOML: unclosed table, expected `]`
            "#]],
        );
    }

    #[test]
    fn tables_defined_twice() {
        check(
            r#"
[pipeline]
name = "x"
[steps.a]
command = ["true", "${outputs.o}"]
outputs = ["o"]
[parameters]
p = 1
[ steps . a ]
description = "again"
[parameters]
q = 2
[steps.a]
timeout = 5
[pipeline]
[steps.b.env]
X = "1"
[steps.b]
command = ["true"]
[steps.b.env]
Y = "2"
"#,
            expect![[r#"
                warning[W0201] 7:1-7:2: parameter `p` is never used
                  help: pass it to a step as `${params.p}`, or remove it
                error[E0001] 8:1-8:10: invalid TOML: table [steps.a] is defined twice
                  related 3:1-3:10: first defined here
                error[E0001] 10:1-10:13: invalid TOML: table [parameters] is defined twice
                  related 6:1-6:13: first defined here
                warning[W0201] 11:1-11:2: parameter `q` is never used
                  help: pass it to a step as `${params.q}`, or remove it
                error[E0001] 12:1-12:10: invalid TOML: table [steps.a] is defined twice
                  related 8:1-8:10: first defined here
                error[E0001] 14:1-14:11: invalid TOML: table [pipeline] is defined twice
                  related 1:1-1:11: first defined here
                error[E0001] 19:1-19:14: invalid TOML: table [steps.b.env] is defined twice
                  related 15:1-15:14: first defined here
            "#]],
        );
    }

    #[test]
    fn syntax_errors_are_capped() {
        let text = "[steps.a]\n".to_owned() + &"= 1\n".repeat(crate::MAX_SYNTAX_ERRORS + 500);
        let (db, file, _) = crate::tests::load(&text);
        let diags = crate::file_diagnostics(&db, file);
        let syntax: Vec<_> = diags.iter().filter(|d| d.code == crate::Code::TomlSyntax).collect();
        assert_eq!(syntax.len(), crate::MAX_SYNTAX_ERRORS + 1);
        let more: Vec<_> = syntax.iter().filter(|d| d.message.contains("more syntax")).collect();
        assert_eq!(more.len(), 1, "{more:?}");
        assert!(more[0].message.ends_with("more syntax errors from here on are not shown"));
    }
}
