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
}
