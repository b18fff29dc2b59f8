//! Running the `object_store` futures from the synchronous [`crate::Datastore`] calls.
//!
//! The driver and the engine call a datastore from plain threads and from tokio's blocking
//! pool; `Runtime::block_on` panics on a thread that is already inside a runtime. So the
//! futures run on one process-wide runtime of this crate's own (never dropped: dropping a
//! runtime inside another one panics too), and the caller waits on a channel.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::Runtime;

fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("runner-stores")
            .enable_all()
            .build()
            .expect("a tokio runtime for the datastores")
    })
}

/// Runs `f` to completion on the datastores' runtime, blocking this thread until it ends.
pub(crate) fn run<F>(f: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime().spawn(async move {
        let _ = tx.send(f.await);
    });
    // The task only ends by sending (a panic inside it drops the sender).
    rx.recv().expect("a datastore request panicked")
}
