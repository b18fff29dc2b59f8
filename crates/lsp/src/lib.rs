//! The language server of `runner` (`runner lsp`): the only crate that knows LSP and
//! JSON-RPC. Built on tower-lsp-server with the rules of `shared/research/lsp-deps.md`:
//!
//! * `backend`: the `LanguageServer` impl. Notifications push `(uri, version, change)` to
//!   the database thread before any `.await`; requests run on snapshots in
//!   `spawn_blocking` under `salsa::Cancelled::catch` (stale → `ContentModified`, panic →
//!   internal error; the server goes on).
//! * `state`: the database thread (one OS thread owns every document's salsa database and
//!   applies edits in order; probes the files the pipeline names) and the diagnostics
//!   publisher (with document versions, stale results dropped).
//! * `handlers/`: one file per request; `convert`: positions (UTF-16, or UTF-8 when the
//!   client offers it), diagnostics, URIs; `plan`: the build plan behind the code lenses.
//! * `sanitize`: frames stdin so that no garbage byte, bad header or non-JSON body can end
//!   the session (tower-lsp-server stops reading at the first decode error).
//!
//! The analysis itself lives in the `ide` crate.

mod backend;
mod convert;
mod handlers;
mod plan;
mod sanitize;
mod state;

use tokio::io::{AsyncRead, AsyncWrite};
use tower_lsp_server::{LspService, Server};

pub use convert::Enc;

/// Writes a line to stderr, which editors show as the server's log (stdout is the
/// protocol).
#[allow(clippy::print_stderr)]
pub(crate) fn log(message: &str) {
    eprintln!("runner lsp: {message}");
}

/// Switches for [`serve_with`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Enables the test-only requests `runner/testPanic` and `runner/testSlow`
    /// (`run_stdio` turns them on when `RUNNER_LSP_TEST_HOOKS=1`).
    pub test_hooks: bool,
}

/// Serves LSP on stdin/stdout until the client sends `exit` or closes stdin.
pub fn run_stdio() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("runner-lsp")
        .build()?;
    let options = Options { test_hooks: handlers::test_hooks::enabled() };
    rt.block_on(serve_with(tokio::io::stdin(), tokio::io::stdout(), options));
    // Blocking tasks still running (a slow request nobody waits for) must not hold the
    // process open.
    rt.shutdown_timeout(std::time::Duration::from_millis(100));
    Ok(())
}

/// Serves LSP on any byte streams (tests use in-memory pipes). Runs inside a tokio
/// runtime; returns when the client exits or `input` ends.
pub async fn serve_with<I, O>(input: I, output: O, options: Options)
where
    I: AsyncRead + Unpin + Send + 'static,
    O: AsyncWrite + Unpin,
{
    let rt = tokio::runtime::Handle::current();
    let (service, socket) = LspService::build(|client| {
        backend::Backend::new(client, rt.clone(), options.test_hooks)
            .expect("start the database thread")
    })
    .custom_method("runner/testPanic", backend::Backend::test_panic)
    .custom_method("runner/testSlow", backend::Backend::test_slow)
    .finish();
    let (clean, pipe) = tokio::io::duplex(1 << 16);
    let sanitizer = tokio::spawn(sanitize::forward(input, pipe));
    Server::new(clean, output, socket).concurrency_level(32).serve(service).await;
    sanitizer.abort();
}
