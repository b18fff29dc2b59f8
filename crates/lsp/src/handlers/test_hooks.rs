//! Requests that exist only for tests, enabled by `RUNNER_LSP_TEST_HOOKS=1` in the
//! server's environment: `runner/testPanic` panics inside a request, `runner/testSlow`
//! keeps a snapshot busy (reading queries) for `millis` ms, so a test can watch an edit
//! cancel it.

use std::time::{Duration, Instant};

use salsa::Database as _;

use crate::state::Snapshot;

/// Whether the hooks are on.
pub fn enabled() -> bool {
    std::env::var_os("RUNNER_LSP_TEST_HOOKS").is_some_and(|v| v == "1")
}

pub fn panic(snap: &Snapshot) -> serde_json::Value {
    let _ = hir::file_diagnostics(&snap.db, snap.file);
    panic!("runner/testPanic: a deliberate panic inside a request");
}

pub fn slow(snap: &Snapshot, millis: u64) -> serde_json::Value {
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(millis) {
        let _ = hir::file_diagnostics(&snap.db, snap.file);
        snap.db.unwind_if_revision_cancelled();
        std::thread::sleep(Duration::from_millis(2));
    }
    serde_json::json!({ "version": snap.version })
}
