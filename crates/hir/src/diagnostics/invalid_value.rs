//! Diagnostic: `E0112 invalid-value`.
//!
//! A value of the right type that is not allowed: `max_nodes = 0`, an unsupported `kind`,
//! `timeout = -5`, a `--param` override that does not parse as the parameter's type.

use syntax::Span;

use super::{Code, Diagnostic};

/// `message` says what is wrong with the value.
pub(crate) fn new(span: Span, message: impl Into<String>) -> Diagnostic {
    Diagnostic::new(Code::InvalidValue, span, message)
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use crate::tests::check;

    #[test]
    fn bad_values() {
        check(
            r#"
[compute.cluster]
kind = "slurm"
max_nodes = 0
[datastores.blob]
kind = "ftp"
[steps.a]
command = ["true"]
compute = "cluster"
timeout = -5
"#,
            expect![[r#"
                error[E0112] 2:8-2:15: compute kind `slurm` is not supported yet
                  help: only `local` runs today
                error[E0112] 3:13-3:14: `max_nodes` must be at least 1
                error[E0112] 5:8-5:13: unknown datastore kind `ftp`
                  help: only `local` runs today
                error[E0112] 9:11-9:13: `timeout` must be a positive number of seconds
            "#]],
        );
    }
}
