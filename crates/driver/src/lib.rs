//! The driver: the IO side of the checker, shared by `runner` (check, build, status, watch)
//! and the language server.
//!
//! * [`Project`] reads a pipeline file into a [`hir::RootDatabase`] and hashes the paths it
//!   names ([`Project::refresh_fs`]), so queries never touch the disk;
//!   [`Project::refresh_fs_with`] does it through a persistent [`StatCache`]
//!   (`.runner/statcache`), so files whose stat did not change are not read again.
//! * `status` ([`plan()`], [`plan_with`], [`decide_step`], [`lookup`]) answers "what would a build do now, and
//!   why" from the action cache and run history, read only: the plan `runner status` prints
//!   and the editor's code lenses show.
//! * [`checked_state_dir`] and [`new_run_dir`] check the state folder `.runner/` before
//!   anything is written there (it, and what it holds, must not lead out of the project).
//! * [`datastore`] is the datastore seam: where data references live ([`datastore::Datastore`],
//!   the local folder its first kind); [`Project`] probes data references through it.
//! * [`memo`] is the build memo: what lets a no-op `runner build` skip the database and the
//!   action cache when nothing it depends on changed.

pub mod datastore;
pub mod memo;
mod project;
mod state;
mod status;

pub use cache::StatCache;
pub use project::{
    DataSource, Project, analyze_python, folder_of, locate, probe, probe_below, probe_with,
};
pub use state::{UNDECLARED_READS_FILE, checked_state_dir, make_state_dir, new_run_dir};
pub use status::{
    Found, Plan, Planned, Prefetch, Recorded, StepDecision, StepPlan, decide_step, lookup,
    lookup_with, open_cache_read_only, open_history, plan, plan_with, previous, recorded_reads,
    steps_by_name,
};
