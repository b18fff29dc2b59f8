//! Local execution: running one step's process, and scheduling the nodes of a step graph.
//!
//! The crate has three parts, each usable on its own:
//!
//! - [`run_process`] runs one program (never through a shell) in its **own process group**, with its
//!   stdout and stderr redirected to files, a wall-clock timeout and cooperative cancellation. Stopping
//!   follows the Bazel/Cargo recipe: `SIGTERM` to the whole group, a grace period, then `SIGKILL` to the
//!   group; the child is always reaped, and processes it left behind in its group are killed, so no
//!   stray process keeps writing into an output folder after the step is over.
//! - [`schedule`] runs the nodes of a DAG with a global parallelism cap: a node starts once all its
//!   dependencies succeeded, failures skip only their downstream nodes, and a fired [`CancelToken`]
//!   stops new starts while in-flight nodes are awaited.
//! - [`supervise`] tags a run's step processes and kills them when their runner dies (a
//!   [`supervise::Supervisor`] per build) or at the next build.
//! - [`ComputeTarget`]: where a step runs, [`Local`] first (this machine); see `target`.
//! - [`tail_lines`] reads the end of a log file, to show a failed step's stderr.
//!
//! [`CancelToken`] is the one cancellation signal shared by all of them (the CLI's Ctrl-C handler,
//! the scheduler, and every running process).
//!
//! Unix only: process groups and signals are POSIX concepts.

mod cancel;
mod process;
mod scheduler;
pub mod supervise;
mod tail;
mod target;
pub mod trace;

pub use cancel::CancelToken;
pub use process::{Outcome, ProcessSpec, run_process};
pub use scheduler::{NodeState, schedule};
pub use tail::tail_lines;
pub use target::{
    ComputeTarget, Environment, Finished, Job, JobFuture, Local, Program, WarmFuture,
};
