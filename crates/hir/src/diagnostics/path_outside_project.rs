//! Diagnostic: `N0301 path-outside-project`, a note.
//!
//! A path the pipeline reads that resolves outside the pipeline's folder: an absolute
//! path, or one that climbs out with `..`. That is allowed (Azure ML takes absolute
//! `hash_paths`, and data often lives elsewhere), but a copy of the pipeline's folder alone
//! no longer runs, and a reviewer of the pipeline should see what it reads from where. The
//! note goes where the path leaves: on a `source_directory` or a datastore's `path` that
//! leaves, not again on every script, `hash_paths` entry or data reference inside it.

use syntax::Span;

use super::{Code, Diagnostic};

/// Whether `resolved` (normalised, relative to the pipeline's folder, as
/// [`crate::paths::join`] gives it) is outside the pipeline's folder.
pub(crate) fn leaves(resolved: &str) -> bool {
    resolved.starts_with('/') || resolved == ".." || resolved.starts_with("../")
}

/// The note for `what` (e.g. "hash path") `written`, which resolves to `resolved`, when that
/// is outside the pipeline's folder.
pub(crate) fn check(span: Span, what: &str, written: &str, resolved: &str) -> Option<Diagnostic> {
    if !leaves(resolved) {
        return None;
    }
    let how = if resolved.starts_with('/') {
        "an absolute path".to_owned()
    } else {
        format!("`{resolved}` from the pipeline's folder")
    };
    Some(
        Diagnostic::new(
            Code::PathOutsideProject,
            span,
            format!("{what} `{written}` is outside the pipeline's folder ({how})"),
        )
        .with_help("allowed; the pipeline now depends on files outside its folder"),
    )
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use crate::tests::check;

    #[test]
    fn paths_that_leave_the_folder() {
        check(
            r#"
//- /pipeline.toml
[datastores.shared]
path = "/mnt/shared"
[datastores.up]
path = "../data"
[data.a]
datastore = "shared"
path = "a.csv"
[data.b]
path = "../b.csv"
[data.c]
datastore = "up"
path = "c.csv"
[environments.py]
requirements = "../requirements.txt"
[steps.s]
script = "s.py"
source_directory = "src"
hash_paths = ["../common", "/etc/hosts", "lib"]
environment = "py"
arguments = ["${inputs.a}", "${inputs.b}", "${inputs.c}"]
inputs = { a = "data.a", b = "data.b", c = "data.c" }
[steps.t]
script = "../t.py"
source_directory = "../elsewhere"
[steps.u]
command = ["/bin/true"]
hash_paths = ["src/../src/lib"]
//- /src/s.py
//- /src/lib/x.py
//- /src/common/x.py
"#,
            expect![[r#"
                note[N0301] 2:8-2:21: datastore path `/mnt/shared` is outside the pipeline's folder (an absolute path)
                  help: allowed; the pipeline now depends on files outside its folder
                note[N0301] 4:8-4:17: datastore path `../data` is outside the pipeline's folder (`../data` from the pipeline's folder)
                  help: allowed; the pipeline now depends on files outside its folder
                error[E0110] 7:8-7:15: data `a.csv` was not found
                  help: looked for `/mnt/shared/a.csv`, relative to the pipeline's folder
                error[E0110] 9:8-9:18: data `../b.csv` was not found
                note[N0301] 9:8-9:18: data `../b.csv` is outside the pipeline's folder (`../b.csv` from the pipeline's folder)
                  help: allowed; the pipeline now depends on files outside its folder
                error[E0110] 12:8-12:15: data `c.csv` was not found
                  help: looked for `../data/c.csv`, relative to the pipeline's folder
                error[E0110] 14:16-14:37: requirements file `../requirements.txt` was not found
                note[N0301] 14:16-14:37: requirements file `../requirements.txt` is outside the pipeline's folder (`../requirements.txt` from the pipeline's folder)
                  help: allowed; the pipeline now depends on files outside its folder
                error[E0110] 18:15-18:26: hash path `../common` was not found
                  help: looked for `common`, relative to the pipeline's folder
                error[E0110] 18:28-18:40: hash path `/etc/hosts` was not found
                note[N0301] 18:28-18:40: hash path `/etc/hosts` is outside the pipeline's folder (an absolute path)
                  help: allowed; the pipeline now depends on files outside its folder
                error[E0110] 24:20-24:34: source directory `../elsewhere` was not found
                note[N0301] 24:20-24:34: source directory `../elsewhere` is outside the pipeline's folder (`../elsewhere` from the pipeline's folder)
                  help: allowed; the pipeline now depends on files outside its folder
            "#]],
        );
    }
}
