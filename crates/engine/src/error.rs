//! The engine's errors: why a build could not start, or could not be recorded, typed so
//! that a host tells them apart (a REST server answers an unknown step with 400 and a full
//! disk with 507; the CLI exits 2 for all of them). A step that fails is not an error: it is
//! a `StepStatus::Failed` in the `BuildSummary`.

/// Why the engine could not build. Every variant but [`Error::UnknownStep`], [`Error::UnknownCompute`] and
/// [`Error::SharedState`] keeps the
/// whole chain of causes of what failed (`anyhow`'s context: which file, which operation),
/// and displays as that chain's first message; walk `source()` (or use
/// [`crate::error_text`]) for the rest.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A step named to build is not in the pipeline.
    #[error("no step named `{name}`{}", .closest.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    UnknownStep {
        /// The name asked for.
        name: String,
        /// The closest step name, if one is close (see `hir::diagnostics::suggest`).
        closest: Option<String>,
    },
    /// The compute target every step was asked to run on (`BuildOptions::compute`) is not
    /// declared in the pipeline.
    #[error("no compute target named `{name}`{}", .closest.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    UnknownCompute {
        /// The name asked for.
        name: String,
        /// The closest declared compute target, if one is close.
        closest: Option<String>,
    },
    /// The state folder holds the runs of another pipeline file of the same folder
    /// (`pipeline.toml` and `train.pipeline.toml` side by side would share one cache and
    /// one history, and each build would take the other's views for stale).
    #[error(
        "{state} holds the runs of `{other}`; `{this}` beside it would share its cache and history: put each pipeline in a folder of its own"
    )]
    SharedState {
        /// The state folder.
        state: String,
        /// The file name of the pipeline whose runs it holds.
        other: String,
        /// The file name of the pipeline asked to build.
        this: String,
    },
    /// The disk holding the state folder is full (ENOSPC or EDQUOT), after the build freed
    /// what it could: nothing of the run's results was lost, and a build on a disk with
    /// room goes on from them.
    #[error(transparent)]
    NoSpace(anyhow::Error),
    /// The run history (`.runner/history.sqlite`) cannot be opened, read or written.
    #[error(transparent)]
    History(anyhow::Error),
    /// The cache (`.runner/cache`) cannot be opened, read or written.
    #[error(transparent)]
    Cache(anyhow::Error),
    /// Anything else: the state folder cannot be used (it leads outside the project, a run
    /// folder is left from a removed history), a file cannot be read or written, the
    /// scheduler cannot start, a datastore does not answer.
    #[error(transparent)]
    Io(anyhow::Error),
}

impl Error {
    /// `err` by the first cause that says what it is: a full disk first (whatever layer
    /// hit it), then history, then the cache, else [`Error::Io`].
    pub(crate) fn classify(err: anyhow::Error) -> Error {
        let full = err.chain().any(|c| {
            c.downcast_ref::<std::io::Error>().is_some_and(|e| {
                matches!(
                    e.kind(),
                    std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
                )
            }) || c.downcast_ref::<history::Error>().is_some_and(history::Error::is_disk_full)
        });
        if full {
            Error::NoSpace(err)
        } else if err.chain().any(|c| c.is::<history::Error>()) {
            Error::History(err)
        } else if err.chain().any(|c| c.is::<cache::Error>()) {
            Error::Cache(err)
        } else {
            Error::Io(err)
        }
    }
}

/// What the engine's functions return.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use anyhow::Context as _;

    use super::Error;

    fn io(kind: std::io::ErrorKind) -> anyhow::Error {
        Err::<(), _>(std::io::Error::from(kind)).context("writing x").unwrap_err()
    }

    #[test]
    fn a_full_disk_is_told_apart_at_any_depth_and_keeps_its_message() {
        for kind in [std::io::ErrorKind::StorageFull, std::io::ErrorKind::QuotaExceeded] {
            let err = Error::classify(io(kind).context("storing outputs of step a"));
            assert!(matches!(err, Error::NoSpace(_)), "{err:?}");
            assert_eq!(err.to_string(), "storing outputs of step a");
            let text = crate::error_text(&anyhow::Error::from(err));
            assert!(text.starts_with("storing outputs of step a: writing x: "), "{text}");
        }
        let cache = cache::Error::Write {
            path: "/s/cache/blob".into(),
            source: std::io::Error::from(std::io::ErrorKind::StorageFull),
        };
        assert!(matches!(Error::classify(cache.into()), Error::NoSpace(_)));
    }

    #[test]
    fn history_and_cache_errors_keep_their_kind_and_others_are_io() {
        let history = history::Error::NoSuchRun(7);
        assert!(matches!(
            Error::classify(anyhow::Error::from(history).context("x")),
            Error::History(_)
        ));
        let cache = cache::Error::Exists { path: "/s/cache/b".into() };
        assert!(matches!(Error::classify(cache.into()), Error::Cache(_)));
        let other = io(std::io::ErrorKind::PermissionDenied);
        assert!(matches!(Error::classify(other), Error::Io(_)));
    }
}
