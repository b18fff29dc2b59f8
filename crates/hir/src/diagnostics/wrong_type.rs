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
    fn whole_table_of_wrong_type() {
        check(
            r#"
steps = 3
"#,
            expect![[r#"
                error[E0103] 1:9-1:10: `steps` must be a table, found an integer
            "#]],
        );
    }
}
