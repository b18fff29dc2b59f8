//! Diagnostic: `E0110 path-not-found`.
//!
//! A file or folder the pipeline names does not exist: a script, a `source_directory`, a
//! `hash_paths` entry, a data reference's path, an environment's requirements file. Paths
//! are shown resolved relative to the pipeline's folder, so the user sees where we looked.

use syntax::Span;

use super::{Code, Diagnostic};

/// `what` (e.g. "script") `written` was looked for at `resolved` and is not there, or is a
/// file where a folder was expected (or the reverse), as `problem` says.
pub(crate) fn new(
    span: Span,
    what: &str,
    written: &str,
    resolved: &str,
    problem: &str,
) -> Diagnostic {
    let d = Diagnostic::new(Code::PathNotFound, span, format!("{what} `{written}` {problem}"));
    if resolved == written {
        d
    } else {
        d.with_help(format!("looked for `{resolved}`, relative to the pipeline's folder"))
    }
}

/// A data reference's `written` path is not in the remote datastore `store` (its
/// identity was asked of the store: no object or prefix there).
pub(crate) fn in_datastore(span: Span, written: &str, store: &str) -> Diagnostic {
    let message = format!("data `{written}` was not found in datastore `{store}`");
    Diagnostic::new(Code::PathNotFound, span, message)
        .with_help(format!("upload it with `runner upload FILE --datastore {store} --target DIR`"))
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use crate::tests::check;

    /// A data reference to a remote datastore is asked of the store (the driver sets what
    /// it answered under `.runner/remote/NAME/`): a missing object says so, with the upload.
    #[test]
    fn missing_in_a_remote_datastore() {
        check(
            r#"
//- /pipeline.toml
[datastores.blob]
kind = "s3"
bucket = "ml"
[data.here]
datastore = "blob"
path = "raw/a.csv"
[data.gone]
datastore = "blob"
path = "raw/b.csv"
//- /.runner/remote/blob/raw/a.csv
"#,
            expect![[r#"
                warning[W0202] 4:7-4:11: data reference `here` is never used
                  help: bind it as a step input: `inputs = { x = "data.here" }`
                warning[W0202] 7:7-7:11: data reference `gone` is never used
                  help: bind it as a step input: `inputs = { x = "data.gone" }`
                error[E0110] 9:8-9:19: data `raw/b.csv` was not found in datastore `blob`
                  help: upload it with `runner upload FILE --datastore blob --target DIR`
            "#]],
        );
    }

    #[test]
    fn missing_files_and_folders() {
        check(
            r#"
//- /pipeline.toml
[environments.py]
requirements = "requirements.txt"
[data.raw]
path = "raw/x.csv"
[steps.a]
script = "train.py"
source_directory = "src"
hash_paths = ["common/", "util.py"]
environment = "py"
arguments = ["${inputs.raw}"]
inputs = { raw = "data.raw" }
[steps.b]
script = "b.py"
source_directory = "src/b.py"
//- /src/util.py
//- /src/b.py
"#,
            expect![[r#"
                error[E0110] 2:16-2:34: requirements file `requirements.txt` was not found
                error[E0110] 4:8-4:19: data `raw/x.csv` was not found
                error[E0110] 6:10-6:20: script `train.py` was not found
                  help: looked for `src/train.py`, relative to the pipeline's folder
                error[E0110] 8:15-8:24: hash path `common/` was not found
                  help: looked for `src/common`, relative to the pipeline's folder
                error[E0110] 14:20-14:30: source directory `src/b.py` is a file, not a folder
            "#]],
        );
    }
}
