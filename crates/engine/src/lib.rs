//! The build engine: what `runner build`, `runner watch`, the language server's "▶ build
//! step" and (next) the REST server call to plan against recorded state, reuse or run each
//! step, and record the run. It prints nothing: what happens is reported as [`Event`]s to a
//! [`Sink`] the caller supplies, and what happened is a [`BuildSummary`].
//!
//! - [`run_build`]: one build of an already-loaded, checked project ([`driver::Project`]),
//!   through a cache ([`open_cache`]) on a runtime ([`runtime`]), cancellable with an
//!   `exec::CancelToken`; [`BuildOptions`] say what to build and how.
//! - [`Session`]: builds again and again as files change (`runner watch`): one database
//!   updated in place, one cache kept open; the caller says what changed, each
//!   [`Session::cycle`] checks, plans and builds when something must run.
//! - [`memo`]: the no-op fast path ([`memo::try_noop`], before a project is loaded) and the
//!   memo a clean build writes ([`memo::write_memo`]).
//! - [`supervise_if_asked`] and [`ssh_connect_if_asked`]: a binary hosting the engine calls
//!   them first thing in `main`, so that its copy started as a build's supervisor (see
//!   `exec::supervise`), or by ssh to open a connection to a host (`compute::ssh_connect`),
//!   does that job.
//! - [`Error`]: why a build could not start or be recorded (a failed step is not one);
//!   [`error_text`]: an error and its causes on one line, each cause once.

mod build;
mod envs;
pub use envs::envs_root;
mod error;
mod events;
mod git;
mod session;
mod targets;

pub use build::memo;
pub use build::stored::layout as stored_output_path;
pub use build::{
    BuildOptions, BuildSummary, Outcome, SETTLE_WAIT, open_cache, run_build, runtime, selection,
};
pub use error::{Error, Result};
pub use events::{Event, Quiet, Recorder, Sink, StepEnd};
pub use session::{Cycle, Session};
pub use targets::Targets;

/// `BINARY __ssh-connect HOST PORT`: started by ssh as its `ProxyCommand` for an ssh
/// target (see `compute::ssh_connect`), not a command for people: connects to the host
/// with `TCP_NODELAY` and hands the socket to ssh. `None` for any other command line;
/// else what to exit with: success, or the line to print on stderr before exiting with 255
/// (ssh's own code for a failed connection).
pub fn ssh_connect_if_asked() -> Option<std::result::Result<(), String>> {
    let mut args = std::env::args_os().skip(1);
    if args.next()? != compute::ssh_connect::CONNECT_ARG {
        return None;
    }
    let rest: Vec<String> = args.map(|a| a.to_string_lossy().into_owned()).collect();
    Some(compute::ssh_connect::serve(&rest))
}

/// The git state of the repository holding `root` (commit, branch, dirty), as a run
/// records it; `None` outside a repository or before its first commit.
pub fn git_state(root: &std::path::Path) -> Option<history::GitInfo> {
    git::GitProbe::start(root).finish()
}

/// The hidden argument a build gives the copy of its binary it starts as its supervisor.
pub const SUPERVISE_ARG: &str = "__supervise";

/// `BINARY __supervise TAG`: a build's supervisor (see `exec::supervise`), not a command for
/// people: waits for the build's pipe on stdin to close, then kills what the build left
/// running if the build died. Returns the exit code (0, or 2 for a malformed tag) when this
/// process was started as one, `None` for any other command line.
pub fn supervise_if_asked() -> Option<u8> {
    let mut args = std::env::args_os().skip(1);
    if args.next()? != SUPERVISE_ARG {
        return None;
    }
    let tag = args.next().and_then(|t| exec::supervise::RunTag::parse(t.to_str()?));
    let Some(tag) = tag else { return Some(2) };
    exec::supervise::serve(&tag, std::io::stdin().lock());
    Some(0)
}

/// `err` and its causes, `: `-separated, as `{:#}` prints them, less a cause whose text the
/// message already holds (a library error that shows its source's text and also returns it
/// as its source would otherwise print it twice: `…: No space left on device (os error 28):
/// No space left on device (os error 28)`).
pub fn error_text(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let part = cause.to_string();
        if text.is_empty() {
            text = part;
        } else if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
    }
    text
}
