//! Diagnostic: `E0103 wrong-type`.
//!
//! A key holds a value of the wrong TOML type (`outputs = "model"` instead of
//! `outputs = ["model"]`).

use syntax::Span;

use super::{Code, Diagnostic};

/// `key` should be `expected` but is `found` (type names as [`syntax::Value::type_name`]
/// and [`crate::schema::Ty::describe`] give them).
pub(crate) fn new(span: Span, key: &str, expected: &str, found: &str) -> Diagnostic {
    let (a, b) = (article(expected), article(found));
    Diagnostic::new(
        Code::WrongType,
        span,
        format!("`{key}` must be {a} {expected}, found {b} {found}"),
    )
    // A caller that knows the key's example replaces this with it.
    .with_help(format!("write {a} {expected} here{}", quoting_hint(expected, found)))
}

/// A hint for the commonest slip: a number or boolean where a string is wanted (or the
/// other way round) is a matter of quotes.
fn quoting_hint(expected: &str, found: &str) -> &'static str {
    match (expected, found) {
        ("string", "integer" | "float" | "boolean") => " (in quotes)",
        ("integer" | "boolean", "string") => " (without quotes)",
        _ => "",
    }
}

/// `an` before a vowel (`an integer`, `an array`), else `a`.
fn article(noun: &str) -> &'static str {
    if noun.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use crate::tests::check;

    #[test]
    fn string_instead_of_array() {
        check(
            r#"
[steps.a]
command = ["true"]
outputs = "model"
allow_reuse = "no"
"#,
            expect![[r#"
                error[E0103] 3:11-3:18: `outputs` must be an array of strings, found a string
                  help: write `outputs = ["model"]`
                error[E0103] 4:15-4:19: `allow_reuse` must be a boolean, found a string
                  help: for example `allow_reuse = false`
            "#]],
        );
    }

    #[test]
    fn every_type_error_has_a_help_line() {
        check(
            r#"
[parameters]
lr = [0.1]
[steps.a]
command = ["true", ["x"]]
source_directory = 3
env = { A = ["x"] }
"#,
            expect![[r#"
                warning[W0201] 2:1-2:3: parameter `lr` is never used
                  help: pass it to a step as `${params.lr}`, or remove it
                error[E0103] 2:6-2:11: `parameters.lr` must be a string, integer, float or boolean, found an array
                  help: write a string, integer, float or boolean here
                error[E0103] 4:20-4:25: `command[1]` must be a string or number, found an array
                  help: write a string or number here
                error[E0103] 5:20-5:21: `source_directory` must be a string, found an integer
                  help: for example `source_directory = "src"`
                error[E0103] 6:13-6:18: `env.A` must be a string, found an array
                  help: write a string here
            "#]],
        );
    }

    #[test]
    fn whole_table_of_wrong_type() {
        check(
            r#"
steps = 3
"#,
            expect![[r#"
                error[E0103] 1:9-1:10: `steps` must be a table, found an integer
                  help: write a table here
            "#]],
        );
    }
}
