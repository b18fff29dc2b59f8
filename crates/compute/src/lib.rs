//! Compute targets elsewhere: a Slurm cluster ([`Slurm`]) and hosts reached by OpenSSH
//! ([`Ssh`]), each an [`exec::ComputeTarget`] the engine hands prepared jobs to.
//!
//! Both run a job the same way (module `job`): its snapshot, inputs and environment's
//! requirements are staged in a folder of the target's `workdir`; a POSIX `sh` script made
//! from the job (every value single-quoted: a parameter is never shell text) makes its
//! Python environment there once per digest when it needs one, runs its argv with its
//! local paths replaced by their staged places, and records its exit code and the digests
//! of its outputs. When the job ends, its logs and metrics are brought back into the run's
//! folders, and on success its outputs into the job's output folders, checked file by file
//! against those digests; the engine then stores them as any step's. What a failed,
//! cancelled or lost job wrote is never fetched, so never cached.
//!
//! The step key never includes the target: a result computed here is reused on any target.

mod job;
mod slurm;
mod ssh;
mod tree;

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

pub use slurm::{Slurm, SlurmConfig};
pub use ssh::connect as ssh_connect;
pub use ssh::{Ssh, SshConfig};

/// Why a job could not be staged, run or fetched. Becomes the step's failure message
/// ([`exec::Outcome::SpawnFailed`] before it started, [`exec::Outcome::Failed`] after).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file of this machine could not be read or written.
    #[error("{path}: {source}", path = .0.display(), source = .1)]
    Io(PathBuf, #[source] std::io::Error),
    /// The job cannot be written as a script for the target (a value that is not UTF-8, an
    /// environment variable name that is not a shell name).
    #[error("cannot stage the job: {0}")]
    Stage(String),
    /// A command the target is driven by (`sbatch`, `ssh`, …) failed; the message names it
    /// and gives what it printed.
    #[error("{0}")]
    Command(String),
    /// An output fetched from the target differs from what the job recorded.
    #[error("fetched outputs do not match the job's: {0}")]
    Verify(String),
}

/// A job's [`exec::Finished`] for `outcome`, having started at `started`.
fn finished(
    outcome: exec::Outcome,
    started: SystemTime,
    clock: std::time::Instant,
) -> exec::Finished {
    let elapsed: Duration = clock.elapsed();
    exec::Finished { outcome, elapsed, window: (started, SystemTime::now()) }
}

/// A number that tells this process's jobs apart in a shared `workdir` (with the run id
/// and step in the folder's name): the process id and a counter.
fn nonce() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    (u64::from(std::process::id()) << 20) | NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The last lines of a text, for messages.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
