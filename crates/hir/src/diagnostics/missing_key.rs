//! Diagnostic: `E0113 missing-key`.
//!
//! A table lacks a key it needs (`path` of a data reference, `default` of a parameter in
//! long form).

use syntax::Span;

use super::{Code, Diagnostic};

/// `[table]` (pointed at by `span`, its name) needs `key`; `example` shows one.
pub(crate) fn new(span: Span, table: &str, key: &str, example: &str) -> Diagnostic {
    Diagnostic::new(Code::MissingKey, span, format!("`[{table}]` needs `{key}`"))
        .with_help(format!("add `{example}`"))
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use crate::tests::check;

    #[test]
    fn remote_datastores_without_their_place() {
        check(
            r#"
[datastores.blob]
kind = "azure_blob"
[datastores.lake]
kind = "s3"
[cache]
upload = false
"#,
            expect![[r#"
                error[E0113] 1:13-1:17: `[datastores.blob]` needs `account`
                  help: add `account = "mlworkspace1234"`
                error[E0113] 1:13-1:17: `[datastores.blob]` needs `container`
                  help: add `container = "data"`
                error[E0113] 3:13-3:17: `[datastores.lake]` needs `bucket`
                  help: add `bucket = "ml-data"`
                error[E0113] 5:2-5:7: `[cache]` needs `remote`
                  help: add `remote = "blob"`
            "#]],
        );
    }

    #[test]
    fn data_without_path() {
        check(
            r#"
[data.raw]
datastore = "workspace"
[parameters]
lr = { description = "learning rate" }
[steps.a]
command = ["cat", "${inputs.raw}", "${params.lr}"]
inputs = { raw = "data.raw" }
"#,
            expect![[r#"
                error[E0113] 1:7-1:10: `[data.raw]` needs `path`
                  help: add `path = "raw/digits.csv"`
                error[E0113] 4:1-4:3: `[parameters.lr]` needs `default`
                  help: add `lr = { default = 0.1 }`
            "#]],
        );
    }
}
