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
kind = "kubernetes"
max_nodes = 0
[datastores.blob]
kind = "ftp"
[steps.a]
command = ["true"]
compute = "cluster"
timeout = -5
"#,
            expect![[r#"
                error[E0112] 2:8-2:20: unknown compute kind `kubernetes`
                  help: one of: local, ssh, slurm
                error[E0112] 3:13-3:14: `max_nodes` must be between 1 and 4294967295
                error[E0112] 5:8-5:13: unknown datastore kind `ftp`
                  help: one of: local, azure_blob, s3
                error[E0112] 9:11-9:13: `timeout` must be between 1 and 9223372036854775807 seconds
            "#]],
        );
    }

    #[test]
    fn datastore_and_cache_values() {
        check(
            r#"
[datastores.blob]
kind = "azure_blob"
account = "my account"
container = "a/b"
endpoint = "ftp://example.org"
[datastores.gcs]
kind = "gcs"
[cache]
remote = "blob"
download = "some"
"#,
            expect![[r#"
                error[E0112] 3:11-3:23: `account` `my account` is not a name: no `/`, no spaces
                  help: e.g. `account = "mlworkspace1234"`
                error[E0112] 4:13-4:18: `container` `a/b` is not a name: no `/`, no spaces
                  help: e.g. `container = "data"`
                error[E0112] 5:12-5:31: `endpoint` `ftp://example.org` is not an http:// or https:// URL
                  help: e.g. `endpoint = "http://127.0.0.1:10000/devstoreaccount1"`
                error[E0112] 7:8-7:13: datastore kind `gcs` is not supported yet
                  help: one of: local, azure_blob, s3
                error[E0112] 10:12-10:18: `download` `some` is not one of `all`, `final`, `none`
                  help: e.g. `download = "final"`
            "#]],
        );
    }

    #[test]
    fn compute_values_ssh_and_sbatch_would_misread() {
        check(
            r#"
[compute.box]
kind = "ssh"
host = "-oProxyCommand=touch /tmp/x"
user = "a b"
port = 70000
[compute.cluster]
kind = "slurm"
workdir = "/srv/runner"
time_limit = "1h"
mem = "2GB"
cpus_per_task = 0
"#,
            expect![[r#"
                error[E0112] 3:8-3:37: `host` starts with `-`, which ssh would read as an option
                  help: e.g. `host = "gpu-box.example.org"`
                error[E0112] 4:8-4:13: `user` holds whitespace, a control character, `@` or `:`
                  help: e.g. `user = "runner"`
                error[E0112] 5:8-5:13: `port` must be between 1 and 65535
                error[E0112] 9:14-9:18: `time_limit` `1h` is not a Slurm time limit
                  help: e.g. `time_limit = "00:30:00"`
                error[E0112] 10:7-10:12: `mem` `2GB` is not a Slurm memory size
                  help: e.g. `mem = "8G"`
                error[E0112] 11:17-11:18: `cpus_per_task` must be between 1 and 4294967295
            "#]],
        );
    }

    #[test]
    fn out_of_range_numbers_name_the_range() {
        check(
            r#"
[compute.local]
max_nodes = 4294967296
[steps.a]
command = ["true"]
timeout = 0
"#,
            expect![[r#"
                error[E0112] 2:13-2:23: `max_nodes` must be between 1 and 4294967295
                error[E0112] 5:11-5:12: `timeout` must be between 1 and 9223372036854775807 seconds
            "#]],
        );
    }

    #[test]
    fn nul_characters_in_paths_and_arguments() {
        check(
            r#"
//- /pipeline.toml
[environments.py]
requirements = "r\u0000.txt"
[datastores.d]
path = "d\u0000"
[data.x]
datastore = "d"
path = "x\u0000.csv"
[steps.a]
script = "s\u0000.sh"
source_directory = "src\u0000"
hash_paths = ["h\u0000"]
environment = "py"
arguments = ["${inputs.x}", "a\u0000"]
inputs = { x = "data.x" }
env = { A = "\u0000" }
[steps.b]
command = ["echo\u0000"]
//- /src/s.sh
"#,
            expect![[r#"
                error[E0112] 2:16-2:29: `requirements` holds a NUL character
                  help: no path, argument or environment variable can hold one: remove it
                error[E0112] 4:8-4:17: `path` holds a NUL character
                  help: no path, argument or environment variable can hold one: remove it
                error[E0112] 7:8-7:21: `path` holds a NUL character
                  help: no path, argument or environment variable can hold one: remove it
                error[E0112] 9:10-9:22: `script` holds a NUL character
                  help: no path, argument or environment variable can hold one: remove it
                error[E0112] 10:20-10:31: `source_directory` holds a NUL character
                  help: no path, argument or environment variable can hold one: remove it
                error[E0112] 11:15-11:24: `hash_paths` holds a NUL character
                  help: no path, argument or environment variable can hold one: remove it
                error[E0112] 13:29-13:38: `arguments` holds a NUL character
                  help: no path, argument or environment variable can hold one: remove it
                error[E0112] 15:13-15:21: `env` holds a NUL character
                  help: no path, argument or environment variable can hold one: remove it
                error[E0112] 17:12-17:24: `command` holds a NUL character
                  help: no path, argument or environment variable can hold one: remove it
            "#]],
        );
        let (db, file, _) =
            crate::tests::load("[steps.a]\nscript = \"s\\u0000.sh\"\nhash_paths = [\"ok.txt\"]\n");
        let paths: Vec<&str> =
            crate::needed_paths(&db, file).iter().map(|n| n.path.as_str()).collect();
        assert_eq!(paths, [".", "ok.txt"], "a path holding a NUL is never probed");
    }
}
