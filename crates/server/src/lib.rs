//! `runner serve`: the project's published pipelines over REST, a queue that builds their
//! submissions through the engine, and a web dashboard of its runs, on one `axum` server.
//!
//! - [`Server::bind`] opens the project's workspace (its `.runner/`: history, cache), takes
//!   up the submissions a previous server left queued (and fails the ones it was running
//!   when it died), and binds the address; [`Server::run`] serves until the future it is
//!   given resolves, then stops taking submissions, cancels the running builds and waits
//!   for them to be recorded ([`Summary`]).
//! - REST (`rest`): a published pipeline's endpoint takes Azure ML's body
//!   (`{"ExperimentName", "ParameterAssignments"}`) with a bearer token and answers the
//!   run's `Id`; runs, logs, cancel, enable/disable; `GET /openapi.json` describes it all.
//!   Errors are `{"error": {"code", "message"}}` ([`ApiError`]).
//! - The queue (`queue`, `run`): at most `max_runs` builds at once, each a published
//!   pipeline's snapshot laid out once under `.runner/published/ID/tree` and built with the
//!   project's own state (`driver::Project::with_state_dir`), so the server and
//!   `runner build` reuse each other's steps.
//! - The dashboard (`dashboard`, `graph`): server-rendered pages reachable from `/` by
//!   links, a run's step graph as SVG in the page, live updates by server-sent events.
//!
//! Nothing here prints: the binary says where it listens and what the shutdown left.

mod app;
mod auth;
mod dashboard;
mod error;
mod graph;
mod html;
mod openapi;
mod queue;
mod rest;
mod run;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub use error::{ApiError, Error};

/// How a [`Server`] is set up.
#[derive(Clone, Debug)]
pub struct Config {
    /// The project whose workspace is served: a pipeline file, or a folder holding one.
    pub project: PathBuf,
    /// Where to listen. On a loopback address the dashboard's pages are readable without a
    /// token; on any other, every route needs one.
    pub bind: SocketAddr,
    /// Builds at once, at most (1 or more); further submissions wait in the queue.
    pub max_runs: usize,
}

/// What [`Server::run`] left when it stopped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Builds that were running and were cancelled (recorded `Canceled`).
    pub cancelled: usize,
    /// Submissions still queued: the next server takes them up.
    pub queued: usize,
}

/// A bound server; see the module docs.
pub struct Server {
    app: Arc<app::App>,
    listener: tokio::net::TcpListener,
    /// Submissions a previous server left queued, oldest first, for the queue to take up.
    recovered: Vec<String>,
}

impl Server {
    /// Opens the workspace of `config.project` and binds `config.bind`. Must be called on
    /// a tokio runtime.
    ///
    /// Errors: [`Error::Project`] (no pipeline there, or its state cannot be opened),
    /// [`Error::History`], [`Error::Bind`].
    pub async fn bind(config: Config) -> Result<Server, Error> {
        let (app, recovered) = app::App::open(&config)?;
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(|source| Error::Bind { addr: config.bind, source })?;
        let addr =
            listener.local_addr().map_err(|source| Error::Bind { addr: config.bind, source })?;
        let app = Arc::new(app.at(addr));
        Ok(Server { app, listener, recovered })
    }

    /// The address it listens on (the port chosen when `bind` asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.app.addr
    }

    /// How many queued submissions a previous server left, which this one takes up.
    pub fn recovered(&self) -> usize {
        self.recovered.len()
    }

    /// Serves until `shutdown` resolves, then shuts down gracefully: no new submission is
    /// taken (503), running builds are cancelled and recorded `Canceled`, queued ones stay
    /// queued for the next server, open event streams end.
    ///
    /// Errors: [`Error::Serve`] when accepting connections fails.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<Summary, Error> {
        let Server { app, listener, recovered } = self;
        // Builds run on a runtime of their own (the engine blocks on it from the queue's
        // blocking threads). It lives as long as the process: dropping a runtime from
        // inside another one's shutdown is refused by tokio.
        let engine_rt = engine::runtime().map_err(|e| Error::Project(e.to_string()))?;
        let engine_rt: &'static tokio::runtime::Runtime = Box::leak(Box::new(engine_rt));
        queue::start(&app, engine_rt, recovered);
        let router = rest::router(app.clone())
            .merge(dashboard::router(app.clone()))
            .fallback(|| async { ApiError::not_found("no such route (see GET /openapi.json)") });
        let stopping = app.clone();
        let graceful = async move {
            shutdown.await;
            stopping.queue.stop_taking();
        };
        axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(graceful)
            .await
            .map_err(Error::Serve)?;
        let cancelled = app.queue.drain().await;
        let queued = app
            .db()
            .connection()
            .query_row("SELECT COUNT(*) FROM submissions WHERE status = 'Queued'", [], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(|e| Error::Project(format!("reading the queue: {e}")))?;
        Ok(Summary { cancelled, queued: usize::try_from(queued).unwrap_or(0) })
    }
}
