//! Step keys: what decides whether a recorded result can be reused.
//!
//! A step's key is sha256 over a canonical, versioned encoding of these fields
//! ([`StepKeyFields`]); the `plan` crate completes them with the digests of upstream
//! outputs and computes the hash. Everything hashed:
//!
//! | field | what goes in |
//! |---|---|
//! | `schema` | [`KEY_SCHEMA_VERSION`]; bumps when this table changes |
//! | `script` | the script's path relative to `source_directory`, and the sha256 of its bytes; for a `.py` script (unless `normalize_script = false`), of its tokens without comments and layout (`python::analyze`) |
//! | `modules` | for a `.py` script (unless `track_imports = false`), each local module it imports, transitively (`crate::modules`): its path relative to `source_directory` and its digest, normalised like the script's |
//! | `command` | the argv template, parameters substituted |
//! | `hash_paths` | each entry as written and the digest of the file or folder tree (ignore files honoured) |
//! | `arguments` | the template, parameters substituted; `${inputs.X}`/`${outputs.X}` stay as written (paths are not keyed, contents are) |
//! | `params` | name and canonical value of each parameter the step uses |
//! | `data_inputs` | input name, data reference name and content digest |
//! | `upstream_inputs` | input name, step and output; the output's manifest digest is added by `plan` (early cutoff: identical bytes give an identical key) |
//! | `environment` | name and digest of (interpreter name, requirements file digest) |
//! | `env_vars` | names and values (parameters substituted) of the step's `env` |
//!
//! Not in the key: the compute target, `timeout`, `allow_reuse`, descriptions, absolute
//! paths, timestamps, run ids, and files of `source_directory` that are neither the script,
//! a module it imports, nor listed in `hash_paths`. Beside the key, not in it:
//! [`StepKeyFields::sources`], the byte digests of the files keyed by their tokens, so a
//! reuse can say that a file changed only in comments.

use crate::ParamName;
use crate::lower::ItemData;
use crate::paths::{join, normalize};
use crate::resolve::param_value;
use crate::resolve::resolve_step;
use crate::template::{self, Kind};
use crate::{Db, Digest, FsState, Item, Target, index, lower_item};

/// Bumps whenever the fields or their encoding change, so old results stop matching.
pub const KEY_SCHEMA_VERSION: u32 = 2;

/// An input bound to another step's output.
#[derive(Clone, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub struct UpstreamInput {
    /// The input's name.
    pub input: String,
    /// The upstream step.
    pub step: String,
    /// Its output.
    pub output: String,
}

/// The fields of a step key that the checker can compute (all but upstream output
/// digests). See the module docs for what each holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
#[allow(missing_docs)]
pub struct StepKeyFields {
    pub schema: u32,
    pub script: Option<(String, Digest)>,
    pub modules: Vec<(String, Digest)>,
    /// Not keyed: (path as in `script`/`modules`, sha256 of its bytes) of each file keyed by
    /// its tokens.
    pub sources: Vec<(String, Digest)>,
    pub command: Option<Vec<String>>,
    pub hash_paths: Vec<(String, Digest)>,
    pub arguments: Vec<String>,
    pub params: Vec<(String, String)>,
    pub data_inputs: Vec<(String, String, Digest)>,
    pub upstream_inputs: Vec<UpstreamInput>,
    pub environment: Option<(String, Digest)>,
    pub env_vars: Vec<(String, String)>,
}

/// Why a key cannot be computed yet.
#[derive(Clone, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub enum KeyError {
    /// The step has errors (see the diagnostics); or is not a step.
    Invalid,
    /// A file the key needs has not been hashed yet, or is missing: its path.
    NoDigest(String),
}

/// Computes a step's key fields from the digests set on the database (a one-argument
/// query; [`crate::step_key_fields`] is the public form).
#[salsa::tracked(returns(ref))]
pub(crate) fn step_key_fields<'db>(
    db: &'db dyn Db,
    item: Item<'db>,
) -> Result<StepKeyFields, KeyError> {
    let Some(ItemData::Step(step)) = &lower_item(db, item).data else {
        return Err(KeyError::Invalid);
    };
    let file = item.file(db);
    let resolved = resolve_step(db, item);
    if resolved.inputs.len() != step.inputs.len() {
        return Err(KeyError::Invalid);
    }
    let ix = index(db, file);
    let values: std::collections::BTreeMap<&str, String> = resolved
        .params_used
        .iter()
        .filter_map(|n| {
            param_value(db, file, ParamName::new(db, n.clone()))
                .as_ref()
                .map(|v| (n.as_str(), v.canonical()))
        })
        .collect();
    let digest = |path: &str| match db.fs_entry(path).state(db) {
        FsState::File(d) | FsState::Dir(Some(d)) => Ok(d),
        _ => Err(KeyError::NoDigest(path.to_owned())),
    };
    let subst = |t: &str| {
        template::expand(t, |k, n| (k == Kind::Params).then(|| values.get(n).cloned()).flatten())
    };
    let src = normalize(step.source_directory());
    let switches = step.reuse.or(ix.meta.reuse);
    let (script, modules, sources) = match &step.script {
        Some(s) => script_fields(db, &src, &s.value, switches)?,
        None => (None, Vec::new(), Vec::new()),
    };
    let mut hash_paths = Vec::new();
    for h in &step.hash_paths {
        hash_paths.push((normalize(&h.value), digest(&join(&src, &h.value))?));
    }
    let mut data_inputs = Vec::new();
    let mut upstream_inputs = Vec::new();
    for (input, target) in &resolved.inputs {
        match target {
            Target::Data(name) => {
                let path = ix.data.get(name).cloned().flatten().ok_or(KeyError::Invalid)?;
                data_inputs.push((input.clone(), name.clone(), digest(&path)?));
            }
            Target::Output { step, output } => upstream_inputs.push(UpstreamInput {
                input: input.clone(),
                step: step.clone(),
                output: output.clone(),
            }),
        }
    }
    let environment = match &step.environment {
        Some(e) => {
            let (python, requirements) = ix.environments.get(&e.value).ok_or(KeyError::Invalid)?;
            let req = match requirements {
                Some(r) => digest(r)?.to_hex(),
                None => "none".to_owned(),
            };
            Some((
                e.value.clone(),
                Digest::of_bytes(
                    format!("env-v1\npython={python}\nrequirements={req}\n").as_bytes(),
                ),
            ))
        }
        None => None,
    };
    let mut params: Vec<(String, String)> = Vec::new();
    for name in &resolved.params_used {
        let v = values.get(name.as_str()).ok_or(KeyError::Invalid)?;
        params.push((name.clone(), v.clone()));
    }
    Ok(StepKeyFields {
        schema: KEY_SCHEMA_VERSION,
        script,
        modules,
        sources,
        command: step.command.as_ref().map(|c| c.iter().map(|a| subst(&a.value)).collect()),
        hash_paths,
        arguments: step.arguments.iter().map(|a| subst(&a.value)).collect(),
        params,
        data_inputs,
        upstream_inputs,
        environment,
        env_vars: step.env.iter().map(|(k, v)| (k.value.clone(), subst(&v.value))).collect(),
    })
}

/// A script's key fields: the script (path as written, digest), its helper modules and the
/// byte digests of the files keyed by their tokens (`sources`). See the module docs.
type ScriptFields = (Option<(String, Digest)>, Vec<(String, Digest)>, Vec<(String, Digest)>);

/// [`ScriptFields`] of script `written` in source directory `src`.
fn script_fields(
    db: &dyn Db,
    src: &str,
    written: &str,
    switches: crate::ReuseSwitches,
) -> Result<ScriptFields, KeyError> {
    let mut sources = Vec::new();
    // A `.py` file's digest in the key: of its tokens when normalised and it parses.
    let mut keyed = |path: &str, shown: &str| -> Result<Digest, KeyError> {
        let raw = match db.fs_entry(path).state(db) {
            FsState::File(d) | FsState::Dir(Some(d)) => d,
            _ => return Err(KeyError::NoDigest(path.to_owned())),
        };
        if !(switches.normalizes() && path.ends_with(".py")) {
            return Ok(raw);
        }
        let analysis = db.fs_entry(path).python(db).clone();
        match analysis.ok_or_else(|| KeyError::NoDigest(path.to_owned()))?.normalized {
            Some(tokens) => {
                sources.push((shown.to_owned(), raw));
                Ok(tokens)
            }
            None => Ok(raw),
        }
    };
    let (path, shown) = (join(src, written), normalize(written));
    let script = Some((shown.clone(), keyed(&path, &shown)?));
    let mut modules = Vec::new();
    if path.ends_with(".py") && switches.tracks_imports() {
        let scan = crate::modules::script_modules(db, db.fs_entry(&path));
        if let Some(p) = &scan.pending {
            return Err(KeyError::NoDigest(p.clone()));
        }
        for m in &scan.modules {
            let shown = relative_to(src, m);
            modules.push((shown.clone(), keyed(m, &shown)?));
        }
    }
    Ok((script, modules, sources))
}

/// `path` (normalised, relative to the pipeline's folder) relative to `src`, as the key
/// writes paths; unchanged when it is not below `src`.
fn relative_to(src: &str, path: &str) -> String {
    if src == "." {
        return path.to_owned();
    }
    path.strip_prefix(src).and_then(|r| r.strip_prefix('/')).unwrap_or(path).to_owned()
}

/// Where a named path's digest enters a step's key fields ([`crate::step_key_paths`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KeySlot {
    /// `script`'s digest.
    Script,
    /// A Python file keyed by what was read from it (a script keyed by its tokens or whose
    /// imports are followed, a helper module): its digest in the key may not be the digest
    /// of its bytes, and a change to it may change which modules are keyed, so only a new
    /// load can key it.
    Python,
    /// The digest of `hash_paths[i]`.
    HashPath(u32),
    /// The digest of data input `NAME` (the input's name).
    Data(String),
    /// Mixed into the environment's digest (its requirements file): not a digest of its own.
    Environment,
}

/// Every named path whose state a step's key fields read ([`step_key_fields`]), and where
/// its digest goes: the same paths that query reads, in the same way, so that a caller that
/// knows a step's complete key record and which paths changed (content only) can tell
/// which fields change. `None` when the fields cannot be computed from the syntax (an
/// invalid step).
pub(crate) fn step_key_paths(db: &dyn Db, item: Item<'_>) -> Option<Vec<(KeySlot, String)>> {
    let Some(ItemData::Step(step)) = &lower_item(db, item).data else { return None };
    let file = item.file(db);
    let resolved = resolve_step(db, item);
    let ix = index(db, file);
    let src = normalize(step.source_directory());
    let switches = step.reuse.or(ix.meta.reuse);
    let mut out = Vec::new();
    if let Some(s) = &step.script {
        let path = join(&src, &s.value);
        let python = path.ends_with(".py");
        if python && switches.tracks_imports() {
            let scan = crate::modules::script_modules(db, db.fs_entry(&path));
            out.extend(scan.modules.iter().map(|m| (KeySlot::Python, m.clone())));
        }
        // Read for its tokens or its imports: a change to it may change more than a digest.
        let read = python && (switches.normalizes() || switches.tracks_imports());
        let slot = if read { KeySlot::Python } else { KeySlot::Script };
        out.insert(0, (slot, path));
    }
    for (i, h) in step.hash_paths.iter().enumerate() {
        out.push((KeySlot::HashPath(u32::try_from(i).ok()?), join(&src, &h.value)));
    }
    for (input, target) in &resolved.inputs {
        if let Target::Data(name) = target {
            out.push((KeySlot::Data(input.clone()), ix.data.get(name).cloned().flatten()?));
        }
    }
    if let Some(e) = &step.environment
        && let Some((_, Some(r))) = ix.environments.get(&e.value)
    {
        out.push((KeySlot::Environment, r.clone()));
    }
    Some(out)
}
