//! Which compute target runs each step: a target the caller registered for the step's
//! `compute` name ([`Targets`]), else the one its `[compute.NAME] kind` names: `local`
//! (this machine, `exec::Local`), `slurm` (`compute::Slurm`) or `ssh` (`compute::Ssh`).
//! Adding a kind is an `exec::ComputeTarget` implementation made here from the kind's keys
//! (or registered by the caller); the build loop does not change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use exec::ComputeTarget;

/// Compute targets by the name a pipeline gives them (`[compute.NAME]`), overriding the
/// kind the pipeline names: for a host that brings its own (a test target, or a target it
/// keeps between builds). Cheap to clone.
#[derive(Clone, Default)]
pub struct Targets(BTreeMap<String, Arc<dyn ComputeTarget>>);

impl Targets {
    /// These targets, and `target` for the steps whose `compute` is `name`.
    pub fn with(mut self, name: &str, target: Arc<dyn ComputeTarget>) -> Targets {
        self.0.insert(name.to_owned(), target);
        self
    }

    /// The target of compute name `name`, declared as `info`, for the pipeline in `root`;
    /// `helpers`: this process's binary serves the engine's hidden commands
    /// ([`crate::BuildOptions::supervise`]), so an ssh target may connect through it.
    pub(crate) fn resolve(
        &self,
        name: &str,
        info: &hir::ComputeInfo,
        root: &Path,
        helpers: bool,
    ) -> Arc<dyn ComputeTarget> {
        if let Some(t) = self.0.get(name) {
            return t.clone();
        }
        let ssh = helpers && info.kind == "ssh";
        let connector = if ssh { std::env::current_exe().ok() } else { None };
        from_info(name, info, root, connector)
    }
}

/// The target `[compute.NAME]` declares (its keys were checked by the checker: a build
/// starts only on a file without errors). `connector`: a program serving
/// `compute::ssh_connect::CONNECT_ARG` (this binary), for an ssh target to connect through.
pub fn from_info(
    name: &str,
    info: &hir::ComputeInfo,
    root: &Path,
    connector: Option<PathBuf>,
) -> Arc<dyn ComputeTarget> {
    let opt = |k: &str| info.options.get(k).cloned();
    let num = |k: &str| opt(k).and_then(|v| v.parse::<u32>().ok());
    match info.kind.as_str() {
        "slurm" => {
            let workdir = PathBuf::from(opt("workdir").unwrap_or_default());
            let mut config = compute::SlurmConfig::new(root.join(workdir));
            config.partition = opt("partition");
            config.time_limit = opt("time_limit");
            config.cpus_per_task = num("cpus_per_task");
            config.mem = opt("mem");
            Arc::new(compute::Slurm::new(name, config))
        }
        "ssh" => {
            let workdir = opt("workdir").unwrap_or_else(|| "runner-work".to_owned());
            let workdir = workdir.strip_prefix("~/").map(str::to_owned).unwrap_or(workdir);
            let config = compute::SshConfig {
                host: opt("host").unwrap_or_default(),
                port: num("port").and_then(|p| u16::try_from(p).ok()),
                user: opt("user"),
                identity_file: opt("identity_file").map(|p| home_relative(&p, root)),
                known_hosts: opt("known_hosts").map(|p| home_relative(&p, root)),
                python: opt("python").unwrap_or_else(|| "python3".to_owned()),
                workdir,
                connector,
            };
            Arc::new(compute::Ssh::new(name, config))
        }
        _ => Arc::new(exec::Local),
    }
}

/// A path of this machine as a pipeline gives it: `~/` is the user's home, a relative
/// path is relative to the pipeline's folder.
fn home_relative(path: &str, root: &Path) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => root.join(path),
    }
}

impl std::fmt::Debug for Targets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}
