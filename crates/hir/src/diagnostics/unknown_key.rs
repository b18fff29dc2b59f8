//! Diagnostic: `E0101 unknown-key`.
//!
//! A key that format v1 does not define, in a known table or at the top level. Usually a
//! typo, so the closest known key is suggested.

use syntax::Span;

use super::{Code, Diagnostic, did_you_mean, shown};
use crate::azure_ml::AzureMl;

/// `key` is not one of `known` in table `table` (`steps.train`), a table of kind `kind`
/// (`steps`). An Azure ML SDK name says what it maps to ([`crate::azure_ml`]), with a fix
/// when it is the same thing under another key.
pub(crate) fn new(span: Span, key: &str, table: &str, kind: &str, known: &[&str]) -> Diagnostic {
    let message = format!("unknown key `{}` in `[{table}]`", shown(key));
    let d = Diagnostic::new(Code::UnknownKey, span, message);
    match crate::azure_ml::lookup(kind, key) {
        Some(AzureMl::Rename(to)) => {
            let help = format!("`{key}` is the Azure ML SDK's name; here it is `{to}`");
            return d.with_help(help).with_fix(span, to);
        }
        Some(AzureMl::NotNeeded(why)) => {
            return d.with_help(format!("`{key}` (Azure ML SDK) is not needed here: {why}"));
        }
        None => {}
    }
    match did_you_mean(key, known.iter().copied()) {
        Some(help) => d.with_help(help),
        None => d.with_help(format!("expected one of: {}", known.join(", "))),
    }
}

/// `key` is a key of `[compute.NAME]`, but not of a target of kind `kind`, whose own keys
/// are `keys`.
pub(crate) fn for_kind(span: Span, key: &str, kind: &str, keys: &[&str], what: &str) -> Diagnostic {
    let noun = if what == "compute" { "compute target" } else { what };
    let message = format!("`{key}` is not a key of a `{kind}` {noun}");
    let d = Diagnostic::new(Code::UnknownKey, span, message);
    let short = if what == "compute" { "target" } else { what };
    if keys.is_empty() {
        d.with_help(format!("a `{kind}` {short} takes only `kind`, `max_nodes` and `description`"))
    } else {
        d.with_help(format!("a `{kind}` {short}'s own keys: {}", keys.join(", ")))
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
    fn key_of_another_compute_kind() {
        check(
            r#"
[compute.box]
kind = "ssh"
host = "127.0.0.1"
partition = "debug"
[compute.here]
host = "127.0.0.1"
"#,
            expect![[r#"
                error[E0101] 4:1-4:10: `partition` is not a key of a `ssh` compute target
                  help: a `ssh` target's own keys: host, port, user, identity_file, known_hosts, python, workdir
                error[E0101] 6:1-6:5: `host` is not a key of a `local` compute target
                  help: a `local` target takes only `kind`, `max_nodes` and `description`
            "#]],
        );
    }

    #[test]
    fn key_of_another_datastore_kind() {
        check(
            r#"
[datastores.blob]
kind = "azure_blob"
account = "dev"
container = "data"
bucket = "b"
[datastores.here]
region = "us-east-1"
"#,
            expect![[r#"
                error[E0101] 5:1-5:7: `bucket` is not a key of a `azure_blob` datastore
                  help: a `azure_blob` datastore's own keys: account, container, endpoint
                error[E0101] 7:1-7:7: `region` is not a key of a `local` datastore
                  help: a `local` datastore's own keys: path
            "#]],
        );
    }

    #[test]
    fn azure_ml_names_say_what_they_are_here() {
        check(
            r#"
[parameters]
lr = { default_value = 0.1 }
[compute.cluster]
min_nodes = 0
[steps.train]
script_name = "train.py"
compute_target = "cluster"
"#,
            expect![[r#"
                warning[W0201] 2:1-2:3: parameter `lr` is never used
                  help: pass it to a step as `${params.lr}`, or remove it
                error[E0101] 2:8-2:21: unknown key `default_value` in `[parameters.lr]`
                  help: `default_value` is the Azure ML SDK's name; here it is `default`
                error[E0101] 4:1-4:10: unknown key `min_nodes` in `[compute.cluster]`
                  help: `min_nodes` (Azure ML SDK) is not needed here: runner starts steps when they are ready and keeps no nodes idle; `max_nodes` caps how many run at once
                error[E0101] 6:1-6:12: unknown key `script_name` in `[steps.train]`
                  help: `script_name` is the Azure ML SDK's name; here it is `script`
                error[E0101] 7:1-7:15: unknown key `compute_target` in `[steps.train]`
                  help: `compute_target` is the Azure ML SDK's name; here it is `compute`
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
