//! A session that builds again and again as files change (`runner watch`, and next the
//! server): one database updated in place, one stat cache, and one cache kept open between
//! builds, so a cycle after an edit re-checks only what the edit touched and looks
//! unchanged steps up in memory. The caller watches the files (it knows its event source)
//! and says what changed ([`Session::apply`]); [`Session::cycle`] checks, plans and, when
//! something must run, builds.

use std::sync::Arc;
use std::time::Duration;

use cache::{Cache, StatCache};
use driver::Project;
use exec::CancelToken;
use plan::Policy;

use crate::{BuildOptions, BuildSummary, Sink};

/// What one [`Session::cycle`] did.
pub enum Cycle {
    /// The pipeline has errors (or `--param` values do not fit): nothing was built.
    Invalid {
        /// How many diagnostics are errors.
        errors: usize,
        /// What is wrong with the parameter values.
        param_errors: Vec<String>,
    },
    /// Every step would be reused: nothing was built (no run recorded).
    UpToDate,
    /// A build ran.
    Built(BuildSummary),
}

/// See the module docs.
pub struct Session {
    project: Project,
    stats: StatCache,
    opts: BuildOptions,
    /// The cache every cycle plans and builds through, opened by the first build: it keeps
    /// the action cache entries it read and the blobs it found intact, so a cycle checks an
    /// unchanged step in memory and with one `stat` per blob. Opened again when it is no
    /// longer current (`.runner/` removed or replaced).
    cache: Option<Cache>,
    cycles: usize,
}

impl Session {
    /// A session on `project`, building with `opts`.
    pub fn new(project: Project, opts: BuildOptions) -> Session {
        let stats = project.load_stat_cache();
        Session { project, stats, opts, cache: None, cycles: 0 }
    }

    /// The project as the last [`Session::apply`] left it.
    pub fn project(&self) -> &Project {
        &self.project
    }

    /// Bytes read so far to hash files whose stat the stat cache could not vouch for.
    pub fn hashed_bytes(&self) -> u64 {
        self.stats.hashed_bytes()
    }

    /// Brings the database up to date with what changed: the pipeline's text (`text`), the
    /// named paths `paths` (as `hir::needed_paths` spells them), or every path (`all`).
    /// Returns what changed: the pipeline file (as `label`) and the paths whose state moved.
    ///
    /// Errors: the pipeline file or a named path cannot be read.
    pub fn apply(
        &mut self,
        text: bool,
        paths: &[String],
        all: bool,
        label: &str,
    ) -> crate::Result<Vec<String>> {
        self.refresh(text, paths, all, label).map_err(crate::Error::classify)
    }

    fn refresh(
        &mut self,
        text: bool,
        paths: &[String],
        all: bool,
        label: &str,
    ) -> anyhow::Result<Vec<String>> {
        let mut changed = Vec::new();
        let mut all = all;
        if text && self.project.reload_text()? {
            changed.push(label.to_owned());
            all = true; // the pipeline may name new paths
        }
        let refreshed = if all {
            self.project.refresh_fs_with(&mut self.stats)?
        } else {
            self.project.refresh_paths_with(paths, &mut self.stats)?
        };
        changed.extend(refreshed);
        Ok(changed)
    }

    /// Checks, plans and, when some step must run, builds (on `rt`, cancellable with
    /// `cancel`, reporting to `sink`). After the first cycle, a plan through the session's
    /// cache comes first: when every step would be reused nothing is built; otherwise its
    /// lookups are handed to the build.
    ///
    /// Errors: the cache or history cannot be opened or written.
    pub fn cycle(
        &mut self,
        rt: &tokio::runtime::Runtime,
        cancel: &CancelToken,
        sink: Arc<dyn Sink>,
    ) -> crate::Result<Cycle> {
        self.cycles += 1;
        let diags = self.project.diagnostics();
        let errors = diags.iter().filter(|d| d.severity() == hir::Severity::Error).count();
        let param_errors = &hir::param_values(&self.project.db, self.project.file).errors;
        if errors > 0 || !param_errors.is_empty() {
            let param_errors = param_errors.iter().map(ToString::to_string).collect();
            self.save_stats();
            return Ok(Cycle::Invalid { errors, param_errors });
        }
        let (current, prefetch) = if self.cycles > 1 { self.up_to_date() } else { (false, None) };
        if current {
            self.save_stats();
            return Ok(Cycle::UpToDate);
        }
        let cache = match self.cache.take() {
            Some(c) if c.is_current() => c,
            _ => crate::open_cache(&self.project)?.remembering(),
        };
        let result =
            crate::run_build(&self.project, &cache, prefetch, &self.opts, rt, cancel, sink);
        self.cache = Some(cache);
        self.save_stats();
        result.map(Cycle::Built)
    }

    /// Whether every step would be reused (nothing to run, nothing blocked), and what the
    /// plan's lookups found, for the build that follows.
    fn up_to_date(&self) -> (bool, Option<driver::Prefetch>) {
        let p = &self.project;
        match &self.cache {
            Some(c) => {
                // Reasons are not needed: the build works out its own.
                let recorded = driver::Recorded {
                    cache: Some(c),
                    history: None,
                    pipeline: "",
                    keep_lookups: true,
                    root: Some(&p.root),
                };
                let plan = driver::plan_with(&p.db, p.file, &recorded, Policy::default());
                (plan.all_reused(), Some(plan.lookups))
            }
            None => (driver::plan(p, Policy::default()).all_reused(), None),
        }
    }

    /// Saves the stat cache (files hashed in their racy window are hashed again first).
    pub fn save_stats(&mut self) {
        self.stats.settle(Duration::ZERO);
        let _ = self.project.save_stat_cache(&mut self.stats);
    }
}
