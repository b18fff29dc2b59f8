//! Stopping on a signal: SIGINT (Ctrl-C), SIGTERM (`kill`, `timeout`, `docker stop`, a CI
//! cancel) and SIGHUP (a closed terminal) all stop a build the same way: running steps get
//! SIGTERM, then SIGKILL after their grace period, the run is recorded as interrupted, and
//! the process exits with 128 + the signal's number (130, 143, 129), as shells report a
//! process killed by it. A second signal while stopping exits at once: the build's
//! supervisor (`exec::supervise`) then kills what is still running, and the next build
//! records the run as interrupted.

use std::process::ExitCode;
use std::sync::atomic::{AtomicI32, Ordering};

use tokio::signal::unix::{Signal, SignalKind, signal};

/// The first stopping signal received (0: none).
static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// Calls `on_stop(name)` (`"SIGINT"`, …) on the runtime when the first stopping signal
/// arrives; exits the process at once on the second. Must be called inside a runtime.
///
/// Errors: a signal handler cannot be installed.
pub(crate) fn on_stop(on_stop: impl FnOnce(&'static str) + Send + 'static) -> std::io::Result<()> {
    let mut signals = Signals {
        int: signal(SignalKind::interrupt())?,
        term: signal(SignalKind::terminate())?,
        hup: signal(SignalKind::hangup())?,
    };
    tokio::spawn(async move {
        let (number, name) = signals.next().await;
        RECEIVED.store(number, Ordering::SeqCst);
        on_stop(name);
        let (_, again) = signals.next().await;
        crate::progress::line(format!("runner: {again} again: exiting now"));
        std::process::exit(128 + number);
    });
    Ok(())
}

/// The stopping signals' streams.
struct Signals {
    int: Signal,
    term: Signal,
    hup: Signal,
}

impl Signals {
    /// The next stopping signal: its number and name.
    async fn next(&mut self) -> (i32, &'static str) {
        tokio::select! {
            _ = self.int.recv() => (number::INT, "SIGINT"),
            _ = self.term.recv() => (number::TERM, "SIGTERM"),
            _ = self.hup.recv() => (number::HUP, "SIGHUP"),
        }
    }
}

/// The exit code of a process stopped by a signal: 128 + the first signal's number, or 130
/// (SIGINT's) when none was received (a build cancelled another way).
pub(crate) fn exit_code() -> ExitCode {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => ExitCode::from(130),
        n => ExitCode::from(u8::try_from(128 + n).unwrap_or(130)),
    }
}

/// The signal numbers (POSIX values on Linux).
mod number {
    pub(super) const HUP: i32 = 1;
    pub(super) const INT: i32 = 2;
    pub(super) const TERM: i32 = 15;
}
