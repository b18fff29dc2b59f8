//! Planning: from a step's key fields and what was recorded before, decide whether the
//! step is reused or runs, and say why.
//!
//! * [`KeyRecord`] is a step key in full: the checker's [`hir::StepKeyFields`] plus the
//!   manifest digest of every upstream output it reads. It is stored, field by field, with
//!   every result (action cache and run history), so a later build can compare.
//! * [`KeyRecord::digest`] is the step key: sha256 over `runner-step-key\n` and the
//!   record's canonical JSON (fields in declaration order, no whitespace). See `hir::key`
//!   for the table of everything hashed, and what is not.
//! * [`dirty_reasons`] compares two records field by field, as cargo's fingerprint module
//!   does, and yields one [`DirtyReason`] per difference.
//! * [`decide`] turns that and the cache lookup into a [`Decision`].
//!
//! No IO: the driver looks things up and passes them in.

mod reason;

use std::collections::BTreeMap;

use hir::{Digest, StepKeyFields};
use serde::{Deserialize, Serialize};

pub use reason::{DirtyReason, dirty_reasons};

/// One input in a key record: name, what it is bound to, and the content digest (hex).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputRecord {
    /// The input's name.
    pub name: String,
    /// `data.NAME` or `steps.STEP.outputs.OUTPUT`.
    pub source: String,
    /// Content digest: of the data, or the upstream output's manifest digest (hex).
    pub digest: String,
}

/// A complete step key, field by field. Digests are hex strings so the JSON is readable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct KeyRecord {
    pub schema: u32,
    pub script: Option<(String, String)>,
    /// Helper modules: (path relative to `source_directory`, digest).
    #[serde(default)]
    pub modules: Vec<(String, String)>,
    pub command: Option<Vec<String>>,
    pub hash_paths: Vec<(String, String)>,
    pub arguments: Vec<String>,
    pub params: Vec<(String, String)>,
    pub inputs: Vec<InputRecord>,
    pub environment: Option<(String, String)>,
    pub env_vars: Vec<(String, String)>,
    /// Not part of the key: the byte digests of the files keyed by their tokens
    /// ([`hir::StepKeyFields::sources`]), to tell a reuse whose files changed only in
    /// comments ([`cosmetic_changes`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<(String, String)>,
}

impl KeyRecord {
    /// Completes `fields` with upstream output digests from `upstream(step, output)`.
    /// Returns `Err(step)` naming the first upstream step whose output is not known yet.
    pub fn new(
        fields: &StepKeyFields,
        upstream: impl Fn(&str, &str) -> Option<Digest>,
    ) -> Result<KeyRecord, String> {
        let mut inputs: Vec<InputRecord> = fields
            .data_inputs
            .iter()
            .map(|(name, data, d)| InputRecord {
                name: name.clone(),
                source: format!("data.{data}"),
                digest: d.to_hex(),
            })
            .collect();
        for u in &fields.upstream_inputs {
            let d = upstream(&u.step, &u.output).ok_or_else(|| u.step.clone())?;
            inputs.push(InputRecord {
                name: u.input.clone(),
                source: format!("steps.{}.outputs.{}", u.step, u.output),
                digest: d.to_hex(),
            });
        }
        inputs.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(KeyRecord {
            schema: fields.schema,
            script: fields.script.as_ref().map(|(p, d)| (p.clone(), d.to_hex())),
            modules: fields.modules.iter().map(|(p, d)| (p.clone(), d.to_hex())).collect(),
            command: fields.command.clone(),
            hash_paths: fields.hash_paths.iter().map(|(p, d)| (p.clone(), d.to_hex())).collect(),
            arguments: fields.arguments.clone(),
            params: fields.params.clone(),
            inputs,
            environment: fields.environment.as_ref().map(|(n, d)| (n.clone(), d.to_hex())),
            env_vars: fields.env_vars.clone(),
            sources: fields.sources.iter().map(|(p, d)| (p.clone(), d.to_hex())).collect(),
        })
    }

    /// The canonical JSON text (what is stored; [`Self::digest`] hashes it without
    /// `sources`).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a key record always serializes")
    }

    /// Parses a stored record; `None` if it is from another schema or unreadable.
    pub fn from_json(text: &str) -> Option<KeyRecord> {
        serde_json::from_str(text).ok()
    }

    /// The step key: over every field but `sources`.
    pub fn digest(&self) -> Digest {
        let json = if self.sources.is_empty() {
            self.to_json()
        } else {
            KeyRecord { sources: Vec::new(), ..self.clone() }.to_json()
        };
        Digest::of_bytes(format!("runner-step-key\n{json}").as_bytes())
    }
}

/// What a cache lookup for the current key found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// No entry for this key.
    Miss,
    /// An entry whose outputs are all present and intact, recorded by run `run_id`.
    Hit {
        /// The run that produced it.
        run_id: i64,
        /// Output name → manifest digest.
        outputs: BTreeMap<String, Digest>,
        /// The entry's `sources` (see [`KeyRecord::sources`]): (path, hex digest).
        sources: Vec<(String, String)>,
        /// Files the run that made it read outside its key (unchanged since: checked).
        reads: Vec<String>,
    },
    /// An entry made by a run that read `path` outside the step's key, and `path` changed
    /// since: its result may not be what the step gives now.
    ReadChanged {
        /// The file, relative to the project's folder.
        path: String,
    },
    /// An entry whose outputs failed verification: which output, and what is wrong.
    Broken {
        /// The output.
        output: String,
        /// What verification found.
        detail: String,
    },
}

/// Per-build switches that force runs.
#[derive(Clone, Copy, Debug, Default)]
pub struct Policy {
    /// `--regenerate`: run every step (Azure's `regenerate_outputs`).
    pub regenerate: bool,
}

/// What to do with a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Take the recorded result.
    Reuse {
        /// The run that produced it.
        run_id: i64,
        /// Its outputs.
        outputs: BTreeMap<String, Digest>,
        /// Files whose bytes differ from those the result was made from, in comments and
        /// layout only ([`cosmetic_changes`]): said with the reuse.
        cosmetic: Vec<String>,
        /// Files the run that made it read outside its key: said with the reuse.
        reads: Vec<String>,
    },
    /// Run it, for these reasons (never empty).
    Run(Vec<DirtyReason>),
}

/// Decides one step. `previous` is the key record of the step's last successful result
/// (from history), used only to explain a run.
pub fn decide(
    allow_reuse: bool,
    policy: Policy,
    current: &KeyRecord,
    lookup: Lookup,
    previous: Option<&KeyRecord>,
) -> Decision {
    if policy.regenerate {
        return Decision::Run(vec![DirtyReason::Regenerate]);
    }
    if !allow_reuse {
        return Decision::Run(vec![DirtyReason::ReuseDisabled]);
    }
    match lookup {
        Lookup::Hit { run_id, outputs, sources, reads } => {
            let cosmetic = cosmetic_changes(&sources, current);
            Decision::Reuse { run_id, outputs, cosmetic, reads }
        }
        Lookup::ReadChanged { path } => {
            Decision::Run(vec![DirtyReason::UndeclaredReadChanged { path }])
        }
        Lookup::Broken { output, detail } => {
            Decision::Run(vec![DirtyReason::CachedOutputUnusable { output, detail }])
        }
        Lookup::Miss => {
            let reasons = match previous {
                None => vec![DirtyReason::NoPreviousRun],
                Some(prev) => {
                    let r = dirty_reasons(prev, current);
                    if r.is_empty() { vec![DirtyReason::NotInCache] } else { r }
                }
            };
            Decision::Run(reasons)
        }
    }
}

/// The files of `current`'s `sources` whose bytes differ from those of `recorded` (a
/// result's `sources`): with equal keys, they changed only in comments and layout. Each is
/// said as `script` or `helper module PATH`. Files not in `recorded` (a result from before
/// sources were kept) are not reported.
pub fn cosmetic_changes(recorded: &[(String, String)], current: &KeyRecord) -> Vec<String> {
    let old: BTreeMap<&str, &str> =
        recorded.iter().map(|(p, d)| (p.as_str(), d.as_str())).collect();
    let script = current.script.as_ref().map(|(p, _)| p.as_str());
    current
        .sources
        .iter()
        .filter(|(p, d)| old.get(p.as_str()).is_some_and(|o| o != d))
        .map(|(p, _)| {
            if Some(p.as_str()) == script {
                "script".to_owned()
            } else {
                format!("helper module {p}")
            }
        })
        .collect()
}

/// How a reuse says [`cosmetic_changes`] and the files its result was made reading outside
/// the key: `script changed only in comments; read config.txt outside its key when it ran`.
/// `None` when there is nothing to say.
pub fn reuse_note(cosmetic: &[String], reads: &[String]) -> Option<String> {
    let notes: Vec<String> = cosmetic
        .iter()
        .map(|c| format!("{c} changed only in comments"))
        .chain(reads.iter().map(|r| format!("read {r} outside its key when it ran")))
        .collect();
    (!notes.is_empty()).then(|| notes.join("; "))
}

#[cfg(test)]
mod tests;
