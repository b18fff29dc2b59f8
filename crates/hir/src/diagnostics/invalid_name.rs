//! Diagnostic: `E0111 invalid-name`.
//!
//! Names of steps, outputs, inputs, parameters and other items appear inside references
//! (`steps.S.outputs.O`) and placeholders (`${params.P}`), so they are restricted to
//! letters, digits, `_` and `-`, starting with a letter or `_`. Environment variable names
//! follow POSIX: letters, digits and `_`, not starting with a digit.

use syntax::Span;

use super::{Code, Diagnostic};

/// Whether `name` is a valid item name.
pub fn is_valid(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Whether `name` is a valid environment variable name.
pub fn is_valid_env(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `name` (a `what`: "step", "output", …) is not a valid name.
pub(crate) fn new(span: Span, what: &str, name: &str) -> Diagnostic {
    Diagnostic::new(Code::InvalidName, span, format!("invalid {what} name `{name}`"))
        .with_help("names are letters, digits, `_` and `-`, starting with a letter or `_`")
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use crate::tests::check;

    #[test]
    fn invalid_step_and_output_names() {
        check(
            r#"
[steps."2nd step"]
command = ["true", "${outputs.a.b}"]
outputs = ["a.b"]
"#,
            expect![[r#"
                error[E0111] 1:8-1:18: invalid step name `2nd step`
                  help: names are letters, digits, `_` and `-`, starting with a letter or `_`
                error[E0111] 3:12-3:17: invalid output name `a.b`
                  help: names are letters, digits, `_` and `-`, starting with a letter or `_`
            "#]],
        );
    }

    #[test]
    fn names() {
        assert!(super::is_valid("train_2"));
        assert!(super::is_valid("_x-y"));
        assert!(!super::is_valid("9a"));
        assert!(!super::is_valid(""));
        assert!(super::is_valid_env("OMP_NUM_THREADS"));
        assert!(!super::is_valid_env("A-B"));
    }
}
