//! Targets elsewhere warmed up ahead of their first job (`exec::ComputeTarget::warm_up`):
//! the moment the build knows a step on such a target must run (its lookup missed and its
//! upstream are all reused), the target starts opening its connection, while the engine
//! looks up the other steps and prepares this one. A build that runs nothing there never
//! warms it, so opens no connection.

use std::collections::HashMap;
use std::sync::Mutex;

use super::Shared;

/// The targets warmed up during a build, by compute name, with their warm-up task.
#[derive(Default)]
pub(super) struct Warming(Mutex<HashMap<String, tokio::task::JoinHandle<()>>>);

impl Shared {
    /// Step `i` must run: warms up its target if it runs jobs elsewhere and has not been
    /// warmed up yet. Called on the scheduler's runtime.
    pub(super) fn warm_up(&self, i: usize) {
        let name = self.compute_of(i);
        let Some((target, _)) = self.targets.get(name) else { return };
        if target.runs_here() {
            return;
        }
        let mut warming = self.warming.0.lock().unwrap_or_else(|e| e.into_inner());
        if !warming.contains_key(name) {
            let target = target.clone();
            let task = tokio::spawn(async move { target.warm_up().await });
            warming.insert(name.to_owned(), task);
        }
    }

    /// Stops warm-ups still under way: the build is over, and no job will use them.
    pub(super) fn stop_warming(&self) {
        let warming =
            std::mem::take(&mut *self.warming.0.lock().unwrap_or_else(|e| e.into_inner()));
        for task in warming.into_values() {
            task.abort();
        }
    }
}
