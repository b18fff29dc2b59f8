//! What every request and build of one server shares: where the workspace is, its history
//! (one connection behind a lock: the requests' queries are short, and builds write through
//! their own), the queue.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use history::History;

use crate::Error;
use crate::queue::Queue;

/// See the module docs.
pub(crate) struct App {
    /// The project's folder (absolute).
    pub root: PathBuf,
    /// The project's state folder (absolute): history, cache, views, logs, and the
    /// published pipelines' snapshots laid out (`published/ID/tree`).
    pub state: PathBuf,
    /// The pipeline file's name in its folder: a published snapshot is built from the
    /// file of that name in it.
    pub pipeline_file: String,
    /// Where the server listens.
    pub addr: SocketAddr,
    /// Whether `addr` is a loopback address (pages readable without a token).
    pub loopback: bool,
    db: Mutex<History>,
    /// Submissions waiting, and the builds running.
    pub queue: Queue,
}

impl App {
    /// Opens `config.project`'s workspace (made if missing) and recovers the submissions of
    /// a previous server: returns the app (not yet bound: see [`App::at`]) and the ids of
    /// the queued submissions, oldest first.
    pub fn open(config: &crate::Config) -> Result<(App, Vec<String>), Error> {
        let project = |e: anyhow::Error| Error::Project(format!("{e:#}"));
        let file = driver::locate(&config.project).map_err(project)?;
        let root = std::path::absolute(driver::folder_of(&file))
            .map_err(|e| Error::Project(format!("{}: {e}", file.display())))?;
        let state = driver::checked_state_dir(&root).map_err(project)?;
        driver::make_state_dir(&state).map_err(project)?;
        let pipeline_file = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| Error::Project(format!("{} is not a file", file.display())))?;
        let history = History::open(&state.join("history.sqlite"))?;
        let recovered = history
            .recover_submissions("interrupted: the server stopped while it ran", now_ms())?;
        let ids = recovered.into_iter().map(|s| s.id).collect();
        let app = App {
            root,
            state,
            pipeline_file,
            addr: config.bind,
            loopback: config.bind.ip().is_loopback(),
            db: Mutex::new(history),
            queue: Queue::new(config.max_runs.max(1)),
        };
        Ok((app, ids))
    }

    /// The app, listening on `addr` (the bound address, with its port).
    pub fn at(mut self, addr: SocketAddr) -> App {
        self.addr = addr;
        self
    }

    /// The history connection (a poisoned lock is taken over: a query that panicked left
    /// nothing half-written, SQLite rolled it back).
    pub fn db(&self) -> MutexGuard<'_, History> {
        self.db.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The URL clients reach the server at, without a trailing slash: the request's
    /// `Host` when it sent one that is a plain `host[:port]`, else the bound address.
    pub fn base_url(&self, host: Option<&str>) -> String {
        let plain = |h: &&str| {
            !h.is_empty()
                && h.len() < 256
                && h.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        };
        match host.filter(plain) {
            Some(h) => format!("http://{h}"),
            None => format!("http://{}", self.addr),
        }
    }

    /// The folder a published pipeline's snapshot is laid out in.
    pub fn tree_of(&self, published_id: &str) -> PathBuf {
        // Ids are UUIDs made by `runner publish`; anything else is kept out of the path.
        let safe: String = published_id
            .chars()
            .map(|c| if c.is_ascii_hexdigit() || c == '-' { c } else { '_' })
            .collect();
        self.state.join("published").join(safe).join("tree")
    }

    /// The project's pipeline file as it is now (for the graph of a run `runner build`
    /// made: the history keeps no pipeline text).
    pub fn current_pipeline(&self) -> Option<String> {
        std::fs::read_to_string(self.root.join(&self.pipeline_file)).ok()
    }

    /// Whether `p` is inside the state folder (a log folder read from history).
    pub fn in_state(&self, p: &Path) -> bool {
        p.is_absolute()
            && (p.starts_with(&self.state) || p.starts_with(self.root.join(".runner")))
            && !p.components().any(|c| matches!(c, std::path::Component::ParentDir))
    }
}

/// Now, in milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// 16 random bytes from the OS, as a version-4 UUID (RFC 9562 §5.4).
pub(crate) fn uuid_v4() -> Result<String, crate::ApiError> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b)
        .map_err(|e| crate::ApiError::internal(format!("no randomness: {e}")))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..]))
}
