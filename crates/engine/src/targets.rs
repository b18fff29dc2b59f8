//! Which compute target runs each step: a target the caller registered for the step's
//! `compute` name ([`Targets`]), else the one its `[compute.NAME] kind` names (`local`:
//! this machine). Adding a kind is an `exec::ComputeTarget` implementation registered here
//! (or by the caller); the build loop does not change.

use std::collections::BTreeMap;
use std::sync::Arc;

use exec::{CancelToken, ComputeTarget, Finished, Job, JobFuture, Outcome};

/// Compute targets by the name a pipeline gives them (`[compute.NAME]`), overriding the
/// kind the pipeline names: for a host that brings its own (a test target; next, ssh hosts
/// and a Slurm cluster). Cheap to clone.
#[derive(Clone, Default)]
pub struct Targets(BTreeMap<String, Arc<dyn ComputeTarget>>);

impl Targets {
    /// These targets, and `target` for the steps whose `compute` is `name`.
    pub fn with(mut self, name: &str, target: Arc<dyn ComputeTarget>) -> Targets {
        self.0.insert(name.to_owned(), target);
        self
    }

    /// The target of compute name `name`, of kind `kind`.
    pub(crate) fn resolve(&self, name: &str, kind: &str) -> Arc<dyn ComputeTarget> {
        if let Some(t) = self.0.get(name) {
            return t.clone();
        }
        match kind {
            "local" => Arc::new(exec::Local),
            other => Arc::new(Unavailable(other.to_owned())),
        }
    }
}

impl std::fmt::Debug for Targets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

/// A kind this build cannot run (the checker reserves `ssh` and `slurm` until they come):
/// every job fails, saying so.
struct Unavailable(String);

impl ComputeTarget for Unavailable {
    fn describe(&self) -> String {
        self.0.clone()
    }

    fn run(&self, _job: Job, _cancel: CancelToken) -> JobFuture<'_> {
        let why = format!("compute targets of kind `{}` cannot run steps yet", self.0);
        Box::pin(async move {
            let now = std::time::SystemTime::now();
            let outcome = Outcome::SpawnFailed(why);
            Finished { outcome, elapsed: std::time::Duration::ZERO, window: (now, now) }
        })
    }
}
