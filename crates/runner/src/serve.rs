//! `runner serve`: the project's published pipelines over REST and its dashboard (the
//! `server` crate), until SIGINT or SIGTERM; then a graceful stop (no new submissions,
//! running builds cancelled and recorded, queued ones kept for the next start).

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::PathArg;

/// `runner serve` arguments.
#[derive(clap::Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    path: PathArg,
    /// Where to listen. On a loopback address the dashboard's pages are readable without a
    /// token; on any other (`0.0.0.0:8765`) every page and route needs one. Actions
    /// (submit, cancel, enable/disable) always do.
    #[arg(long, default_value = "127.0.0.1:8765")]
    bind: SocketAddr,
    /// Builds at once, at most (1 to 64); further submissions wait in the queue.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    max_runs: u16,
}

/// `runner serve`.
pub(crate) fn serve(a: ServeArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the server's runtime")?;
    rt.block_on(async {
        let config = server::Config {
            project: a.path.get().to_path_buf(),
            bind: a.bind,
            max_runs: usize::from(a.max_runs),
        };
        let server = server::Server::bind(config).await?;
        let url = format!("http://{}", server.local_addr());
        let recovered = match server.recovered() {
            0 => String::new(),
            n => format!("; {n} queued submission(s) taken up again"),
        };
        eprintln!("runner: serving on {url} (dashboard {url}/, API {url}/openapi.json){recovered}");
        let (tx, rx) = tokio::sync::oneshot::channel();
        crate::signals::on_stop(move |name| {
            eprintln!("runner: {name}: stopping (running builds are cancelled; again to exit now)");
            let _ = tx.send(());
        })
        .context("installing signal handlers")?;
        let summary = server
            .run(async {
                let _ = rx.await;
            })
            .await?;
        eprintln!(
            "runner: stopped: {} build(s) cancelled, {} submission(s) left queued for the next start",
            summary.cancelled, summary.queued
        );
        Ok(ExitCode::SUCCESS)
    })
}
