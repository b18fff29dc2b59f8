//! Dirty reasons: why a step's key differs from its last recorded one.

use std::collections::BTreeMap;
use std::fmt;

use crate::KeyRecord;

/// Why a step runs. `Display` gives the one-line text the CLI, history and the editor show
/// (`script train.py changed`, `params.C 1.0 → 0.5`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DirtyReason {
    /// The step has never succeeded before.
    NoPreviousRun,
    /// `allow_reuse = false`.
    ReuseDisabled,
    /// `--regenerate`.
    Regenerate,
    /// The key encoding changed (a new runner version).
    SchemaChanged,
    /// The script's content changed (or it was renamed: `old` is the previous path).
    ScriptChanged {
        /// Current path.
        path: String,
        /// Previous path when it differs.
        renamed_from: Option<String>,
    },
    /// A helper module the script imports changed, or the script started or stopped
    /// importing it (`track_imports`).
    ModuleChanged {
        /// The module's path, relative to `source_directory`.
        path: String,
        /// "changed", "added" or "removed".
        how: &'static str,
    },
    /// The step switched between `script` and `command`, or the command changed.
    CommandChanged,
    /// A `hash_paths` entry's content changed, or it was added or removed.
    HashPathChanged {
        /// The entry.
        path: String,
        /// "changed", "added" or "removed".
        how: &'static str,
    },
    /// Arguments other than parameter values changed.
    ArgumentsChanged,
    /// A parameter's value changed, or the step started or stopped using it.
    ParamChanged {
        /// The parameter.
        name: String,
        /// Old value (None: not used before).
        old: Option<String>,
        /// New value (None: not used now).
        new: Option<String>,
    },
    /// An input's content changed.
    InputChanged {
        /// The input.
        name: String,
        /// What it is bound to.
        source: String,
    },
    /// An input was added, removed or bound to something else.
    InputsRebound,
    /// The environment (interpreter or requirements) changed.
    EnvironmentChanged,
    /// An environment variable of the step changed.
    EnvVarChanged {
        /// The variable.
        name: String,
    },
    /// A result with this exact key exists but an output failed verification.
    CachedOutputUnusable {
        /// The output.
        output: String,
        /// What is wrong.
        detail: String,
    },
    /// The key equals the last successful one, but the action cache has no entry (it was
    /// cleared or garbage-collected).
    NotInCache,
    /// The result for this key was made by a run that read a file outside the key (traced:
    /// `trace_reads`), and that file changed since.
    UndeclaredReadChanged {
        /// The file, relative to the project's folder.
        path: String,
    },
}

impl fmt::Display for DirtyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "(unused)".to_owned());
        match self {
            DirtyReason::NoPreviousRun => write!(f, "no previous run"),
            DirtyReason::ReuseDisabled => write!(f, "allow_reuse = false"),
            DirtyReason::Regenerate => write!(f, "--regenerate"),
            DirtyReason::SchemaChanged => write!(f, "step key format changed"),
            DirtyReason::ScriptChanged { path, renamed_from: None } => {
                write!(f, "script {path} changed")
            }
            DirtyReason::ScriptChanged { path, renamed_from: Some(old) } => {
                write!(f, "script changed: {old} → {path}")
            }
            DirtyReason::ModuleChanged { path, how: "changed" } => {
                write!(f, "helper module {path} changed")
            }
            DirtyReason::ModuleChanged { path, how: "added" } => {
                write!(f, "helper module {path} is now imported")
            }
            DirtyReason::ModuleChanged { path, how } => write!(f, "helper module {path} {how}"),
            DirtyReason::CommandChanged => write!(f, "command changed"),
            DirtyReason::HashPathChanged { path, how } => write!(f, "hash_paths {path} {how}"),
            DirtyReason::ArgumentsChanged => write!(f, "arguments changed"),
            DirtyReason::ParamChanged { name, old, new } => {
                write!(f, "params.{name} {} → {}", opt(old), opt(new))
            }
            DirtyReason::InputChanged { name, source } => match source.strip_prefix("steps.") {
                Some(rest) => {
                    let step = rest.split('.').next().unwrap_or(rest);
                    write!(f, "input {name} changed: upstream {step} produced new output")
                }
                None => write!(f, "{source} changed (input {name})"),
            },
            DirtyReason::InputsRebound => write!(f, "inputs changed"),
            DirtyReason::EnvironmentChanged => write!(f, "environment changed"),
            DirtyReason::EnvVarChanged { name } => write!(f, "env {name} changed"),
            DirtyReason::CachedOutputUnusable { output, detail } => {
                write!(f, "cached output {output} is unusable: {detail}")
            }
            DirtyReason::NotInCache => {
                write!(f, "no cached result for this key (cache was cleared)")
            }
            DirtyReason::UndeclaredReadChanged { path } => {
                write!(f, "{path} changed, which the step read outside its key")
            }
        }
    }
}

/// Every difference between `old` and `new`, in a fixed order: schema, script/command,
/// helper modules, hash_paths, parameters, arguments, inputs, environment, env vars. Empty when equal.
pub fn dirty_reasons(old: &KeyRecord, new: &KeyRecord) -> Vec<DirtyReason> {
    let mut out = Vec::new();
    if old.schema != new.schema {
        return vec![DirtyReason::SchemaChanged];
    }
    match (&old.script, &new.script) {
        (Some((op, od)), Some((np, nd))) if op != np || od != nd => {
            out.push(DirtyReason::ScriptChanged {
                path: np.clone(),
                renamed_from: (op != np).then(|| op.clone()),
            })
        }
        (Some(_), Some(_)) => {}
        _ if old.script.is_some() != new.script.is_some() || old.command != new.command => {
            out.push(DirtyReason::CommandChanged)
        }
        _ => {}
    }
    diff_maps(&old.modules, &new.modules, |path, o, n| {
        let how = match (o, n) {
            (None, _) => "added",
            (_, None) => "no longer imported",
            _ => "changed",
        };
        out.push(DirtyReason::ModuleChanged { path: path.to_owned(), how });
    });
    diff_maps(&old.hash_paths, &new.hash_paths, |path, o, n| {
        let how = match (o, n) {
            (None, _) => "added",
            (_, None) => "removed",
            _ => "changed",
        };
        out.push(DirtyReason::HashPathChanged { path: path.to_owned(), how });
    });
    diff_maps(&old.params, &new.params, |name, o, n| {
        out.push(DirtyReason::ParamChanged {
            name: name.to_owned(),
            old: o.cloned(),
            new: n.cloned(),
        });
    });
    // Arguments hold parameter values; only report them when something else changed.
    if old.arguments != new.arguments
        && out.iter().all(|r| !matches!(r, DirtyReason::ParamChanged { .. }))
    {
        out.push(DirtyReason::ArgumentsChanged);
    }
    let bound = |r: &KeyRecord| {
        r.inputs.iter().map(|i| (i.name.clone(), i.source.clone())).collect::<Vec<_>>()
    };
    if bound(old) != bound(new) {
        out.push(DirtyReason::InputsRebound);
    } else {
        for (o, n) in old.inputs.iter().zip(&new.inputs) {
            if o.digest != n.digest {
                out.push(DirtyReason::InputChanged {
                    name: n.name.clone(),
                    source: n.source.clone(),
                });
            }
        }
    }
    if old.environment != new.environment {
        out.push(DirtyReason::EnvironmentChanged);
    }
    diff_maps(&old.env_vars, &new.env_vars, |name, _, _| {
        out.push(DirtyReason::EnvVarChanged { name: name.to_owned() })
    });
    out
}

/// Calls `f(key, old, new)` for each key whose value differs between two pair lists.
fn diff_maps(
    old: &[(String, String)],
    new: &[(String, String)],
    mut f: impl FnMut(&str, Option<&String>, Option<&String>),
) {
    let o: BTreeMap<&String, &String> = old.iter().map(|(k, v)| (k, v)).collect();
    let n: BTreeMap<&String, &String> = new.iter().map(|(k, v)| (k, v)).collect();
    let mut keys: Vec<&&String> = o.keys().chain(n.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let (a, b) = (o.get(*k).copied(), n.get(*k).copied());
        if a != b {
            f(k, a, b);
        }
    }
}
