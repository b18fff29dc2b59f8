//! The build queue: submissions wait in a channel (and in the `submissions` table, which
//! outlives the process); `max_runs` workers take them in order and build each on a
//! blocking thread (`run::execute`). What runs is kept in memory ([`Live`]) for cancelling
//! and for the dashboard, and each change is broadcast ([`Update`]) to its event streams.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use exec::CancelToken;
use tokio::sync::{broadcast, mpsc, watch};

use crate::app::App;

/// A change in a running submission, for the dashboard's live view.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct Update {
    /// The history run it concerns.
    pub run_id: i64,
    /// The step, or `None` for the run itself.
    pub step: Option<String>,
    /// `running`, or a step's outcome (`ran`, `reused`, `failed`, `skipped`,
    /// `interrupted`); for the run: its submission's status once it ended.
    pub status: String,
}

/// A submission being built.
pub(crate) struct Live {
    /// Cancels its build.
    pub cancel: CancelToken,
    /// Its history run, once the build recorded one.
    pub run_id: Option<i64>,
    /// Each step's status so far (`running`, then its outcome).
    pub steps: BTreeMap<String, String>,
}

/// See the module docs.
pub(crate) struct Queue {
    max_runs: usize,
    tx: mpsc::UnboundedSender<String>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<String>>>,
    live: Mutex<HashMap<String, Live>>,
    updates: broadcast::Sender<Update>,
    taking: AtomicBool,
    stopping: watch::Sender<bool>,
}

impl Queue {
    /// A queue that builds `max_runs` submissions at once.
    pub fn new(max_runs: usize) -> Queue {
        let (tx, rx) = mpsc::unbounded_channel();
        Queue {
            max_runs,
            tx,
            rx: Mutex::new(Some(rx)),
            live: Mutex::new(HashMap::new()),
            updates: broadcast::channel(1024).0,
            taking: AtomicBool::new(true),
            stopping: watch::channel(false).0,
        }
    }

    /// Whether submissions are taken (false once shutdown began).
    pub fn taking(&self) -> bool {
        self.taking.load(Ordering::SeqCst)
    }

    /// Queues submission `id` (recorded `Queued` by the caller).
    pub fn push(&self, id: String) {
        let _ = self.tx.send(id);
    }

    /// The submissions being built.
    pub fn live(&self) -> MutexGuard<'_, HashMap<String, Live>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Broadcasts `u` to the event streams (none listening is fine).
    pub fn publish(&self, u: Update) {
        let _ = self.updates.send(u);
    }

    /// A receiver of every [`Update`] from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Update> {
        self.updates.subscribe()
    }

    /// A receiver that turns true when shutdown begins (event streams end then).
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    /// Shutdown begins: no submission is taken or started from now on, and every build
    /// running is cancelled.
    pub fn stop_taking(&self) {
        self.taking.store(false, Ordering::SeqCst);
        self.stopping.send_replace(true);
        for live in self.live().values() {
            live.cancel.cancel();
        }
    }

    /// Stops (as [`Queue::stop_taking`]) and waits for the running builds to be recorded;
    /// returns how many were cancelled.
    pub async fn drain(&self) -> usize {
        let cancelled = self.live().len();
        self.stop_taking();
        while !self.live().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        cancelled
    }
}

/// Starts the workers of `app`'s queue on the current runtime, builds running on
/// `engine_rt`, and queues `recovered` first.
pub(crate) fn start(
    app: &Arc<App>,
    engine_rt: &'static tokio::runtime::Runtime,
    recovered: Vec<String>,
) {
    for id in recovered {
        app.queue.push(id);
    }
    let Some(rx) = app.queue.rx.lock().unwrap_or_else(|e| e.into_inner()).take() else {
        return;
    };
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    for _ in 0..app.queue.max_runs {
        let (app, rx, rt) = (app.clone(), rx.clone(), engine_rt);
        tokio::spawn(async move {
            loop {
                let next = rx.lock().await.recv().await;
                let Some(id) = next else { break };
                if !app.queue.taking() {
                    // Left `Queued` in the table: the next server takes it up.
                    continue;
                }
                let app = app.clone();
                let _ =
                    tokio::task::spawn_blocking(move || crate::run::execute(&app, rt, &id)).await;
            }
        });
    }
}
