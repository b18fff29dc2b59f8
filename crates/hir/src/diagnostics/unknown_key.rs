//! Diagnostic: `E0101 unknown-key`.
//!
//! A key that format v1 does not define, in a known table or at the top level. Usually a
//! typo, so the closest known key is suggested.

use syntax::Span;

use super::{Code, Diagnostic, did_you_mean, shown};

/// `key` is not one of `known` in table `table` (`steps.train`).
pub(crate) fn new(span: Span, key: &str, table: &str, known: &[&str]) -> Diagnostic {
    let message = format!("unknown key `{}` in `[{table}]`", shown(key));
    let d = Diagnostic::new(Code::UnknownKey, span, message);
    match did_you_mean(key, known.iter().copied()) {
        Some(help) => d.with_help(help),
        None => d.with_help(format!("expected one of: {}", known.join(", "))),
    }
}

/// An unknown top-level table.
pub(crate) fn top_level(span: Span, key: &str, known: &[&str]) -> Diagnostic {
    let d = Diagnostic::new(Code::UnknownKey, span, format!("unknown table `{}`", shown(key)));
    match did_you_mean(key, known.iter().copied()) {
        Some(help) => d.with_help(help),
        None => d.with_help(format!("expected one of: {}", known.join(", "))),
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use crate::tests::check;

    #[test]
    fn typo_in_step_key() {
        check(
            r#"
[steps.a]
command = ["true"]
alow_reuse = false
"#,
            expect![[r#"
                error[E0101] 3:1-3:11: unknown key `alow_reuse` in `[steps.a]`
                  help: did you mean `allow_reuse`?
            "#]],
        );
    }

    #[test]
    fn unknown_table() {
        check(
            r#"
[step.a]
command = ["true"]
"#,
            expect![[r#"
                error[E0101] 1:2-1:6: unknown table `step`
                  help: did you mean `steps`?
            "#]],
        );
    }

    #[test]
    fn unknown_key_in_parameter() {
        check(
            r#"
[parameters]
lr = { default = 0.1, descripton = "x" }
[steps.a]
command = ["echo", "${params.lr}"]
"#,
            expect![[r#"
                error[E0101] 2:23-2:33: unknown key `descripton` in `[parameters.lr]`
                  help: did you mean `description`?
            "#]],
        );
    }

    #[test]
    fn a_huge_key_is_shortened_and_gets_no_suggestion() {
        let key = "k".repeat(5 << 20);
        let (db, file, _) =
            crate::tests::load(&format!("[steps.a]\ncommand = [\"true\"]\n{key} = 1\n"));
        let diags = crate::file_diagnostics(&db, file);
        let [d] = &diags[..] else { panic!("{diags:?}") };
        assert_eq!(
            d.message,
            format!("unknown key `{}… (5242880 bytes)` in `[steps.a]`", &key[..64])
        );
        assert!(d.help.as_deref().unwrap().starts_with("expected one of:"), "{d:?}");
    }
}
