//! Name resolution: what each name refers to, checked across items.
//!
//! [`index`] collects the names each item defines, without spans, so it stays equal (and
//! salsa backdates it) through most edits. [`resolve_step`] checks one step's references,
//! placeholders and paths against it; [`check_item`] does the same for data references and
//! environments. A name that does not resolve is looked up in [`names`] (the names of its
//! kind, indexed for "did you mean"), which is built once per file and kind, and only when
//! some name of that kind does not resolve.

use std::collections::HashMap;
use std::collections::{BTreeMap, BTreeSet};

use syntax::Span;

use crate::db::ParamName;
use crate::diagnostics::{
    Diagnostic, dynamic_import, invalid_reference, path_not_found, path_outside_project, suggest,
    unknown_placeholder, unresolved_reference, unused,
};
use crate::group::{Named, group_names};
use crate::lower::ItemData;
use crate::model::{ParamValue, PipelineMeta, Spanned, Step};
use crate::name_index::{Names, SCAN_MAX};
use crate::paths::{join, normalize};
use crate::template::{self, Kind, Piece};
use crate::{Db, FsState, Item, ItemKind, SourceFile, items, lower_item, schema};

/// The names the file defines, with what later queries need of each.
#[derive(Clone, Debug, PartialEq, Eq, Default, salsa::SalsaValue)]
pub struct Index {
    /// `[pipeline]`.
    pub meta: PipelineMeta,
    /// Parameter names. (Values live in [`param_values`], so editing a default does not
    /// change the index and re-resolve every step.)
    pub params: BTreeSet<String>,
    /// Data reference → its path relative to the pipeline's folder (None when its
    /// datastore or path is missing).
    pub data: BTreeMap<String, Option<String>>,
    /// Step → its output names.
    pub steps: BTreeMap<String, Vec<String>>,
    /// Environment → (python, requirements path relative to the pipeline's folder).
    pub environments: BTreeMap<String, (String, Option<String>)>,
    /// Compute target → its kind and max_nodes; includes the built-in `local`.
    pub computes: BTreeMap<String, ComputeInfo>,
    /// Datastore → folder relative to the pipeline's folder; includes the built-in
    /// `workspace` (the pipeline's folder) unless redeclared.
    pub datastores: BTreeMap<String, String>,
    /// Data reference → its datastore and its path inside it (normalised), for references
    /// that name a path: what a datastore that is not a local folder is asked about.
    pub data_locations: BTreeMap<String, (String, String)>,
    /// The datastores that are not folders here (`azure_blob`, `s3`), by name: what a host
    /// needs to open them. Their entry in [`Index::datastores`] is
    /// [`remote_folder`]`(name)`, a name for the database, never read as a folder.
    pub remote_datastores: BTreeMap<String, DatastoreInfo>,
    /// `[cache]`, when it names a `remote`.
    pub cache: Option<CacheInfo>,
}

/// What the engine needs of `[cache]`: where the shared cache is and how it is used.
#[derive(Clone, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub struct CacheInfo {
    /// `remote`: the datastore holding it.
    pub remote: String,
    /// `upload`: write results of steps that ran here.
    pub upload: bool,
    /// `download`: `all`, `final` or `none`.
    pub download: String,
}

/// What a host needs to open a `[datastores.NAME]` that is not a local folder.
#[derive(Clone, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub struct DatastoreInfo {
    /// `kind`: `azure_blob` or `s3`.
    pub kind: String,
    /// The kind's own keys, checked: `account`, `container`, `bucket`, `region`, `endpoint`.
    pub options: BTreeMap<String, String>,
}

/// The folder a remote datastore's paths are named under in the database (inside the
/// state folder, which no pipeline path may name, so it never meets a real path): the
/// driver asks the store about them instead of this machine.
pub fn remote_folder(name: &str) -> String {
    format!(".runner/remote/{name}")
}

/// What the engine needs of a `[compute.NAME]` table: where its steps run and how many at
/// once (Azure ML's compute target with its `max_nodes`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub struct ComputeInfo {
    /// `kind`: `local` (this machine), `ssh`, `slurm`.
    pub kind: String,
    /// `max_nodes`: steps at once on this target (`None`: the number of CPUs).
    pub max_nodes: Option<u32>,
    /// The kind's own keys, checked ([`crate::model::Compute::options`]): `host`, `workdir`, …
    pub options: BTreeMap<String, String>,
}

/// Builds the [`Index`] from every group's [`crate::group::group_names`].
#[salsa::tracked(returns(ref))]
pub fn index(db: &dyn Db, file: SourceFile) -> Index {
    let mut ix = Index::default();
    let items = items(db, file);
    // Collected first and sorted once: building 100,000-entry maps one insert at a time
    // costs more. Names are unique per kind (`items` merges repeats).
    let mut steps = Vec::with_capacity(items.items.len());
    let mut params = Vec::new();
    let mut data_refs = Vec::new();
    let mut environments = Vec::new();
    let builtin = ComputeInfo {
        kind: schema::BUILTIN_COMPUTE.to_owned(),
        max_nodes: None,
        options: BTreeMap::new(),
    };
    let mut computes = vec![(schema::BUILTIN_COMPUTE.to_owned(), builtin)];
    let mut datastores = vec![(schema::BUILTIN_DATASTORE.to_owned(), ".".to_owned())];
    let (mut remotes, mut locals) = (Vec::new(), Vec::new());
    for &group in &items.groups {
        for named in &group_names(db, group).names {
            match named {
                Named::Meta(meta) => ix.meta = meta.clone(),
                Named::Cache(c) => ix.cache = Some(c.clone()),
                Named::Param(name) => params.push(name.clone()),
                Named::Step(name, outputs) => steps.push((name.clone(), outputs.clone())),
                Named::Environment(name, python, requirements) => {
                    environments.push((name.clone(), (python.clone(), requirements.clone())));
                }
                Named::Compute(name, info) => computes.push((name.clone(), info.clone())),
                Named::Datastore(name, path, remote) => {
                    datastores.push((name.clone(), path.clone()));
                    match remote {
                        Some(info) => remotes.push((name.clone(), info.clone())),
                        None => locals.push(name.clone()),
                    }
                }
                Named::Data(name, store, path) => data_refs.push((name, store, path)),
            }
        }
    }
    // `from_iter` keeps the last of equal keys, as inserting in order would.
    ix.steps = steps.into_iter().collect();
    ix.params = params.into_iter().collect();
    ix.environments = environments.into_iter().collect();
    ix.computes = computes.into_iter().collect();
    ix.datastores = datastores.into_iter().collect();
    // A name declared twice keeps its last table, as `datastores` does.
    let mut remote_datastores: BTreeMap<String, DatastoreInfo> = remotes.into_iter().collect();
    for name in locals {
        if ix.datastores.get(&name).is_some_and(|f| *f != remote_folder(&name)) {
            remote_datastores.remove(&name);
        }
    }
    ix.remote_datastores = remote_datastores;
    let data: Vec<(String, Option<String>)> = data_refs
        .iter()
        .map(|&(name, store, path)| {
            let path = match (ix.datastores.get(store), path) {
                (Some(root), Some(p)) => Some(join(root, p)),
                _ => None,
            };
            (name.clone(), path)
        })
        .collect();
    ix.data = data.into_iter().collect();
    ix.data_locations = data_refs
        .iter()
        .filter_map(|&(name, store, path)| {
            Some((name.clone(), (store.clone(), crate::paths::normalize(path.as_ref()?))))
        })
        .collect();
    ix
}

/// A kind of name the file defines, for [`names`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub enum NameKind {
    /// Steps.
    Step,
    /// Parameters.
    Parameter,
    /// Data references.
    Data,
    /// Environments.
    Environment,
    /// Compute targets (with the built-in `local`).
    Compute,
    /// Datastores (with the built-in `workspace`).
    Datastore,
}

/// The file's names of one kind, indexed for "did you mean" ([`Names::closest`]: the same
/// answer as [`crate::diagnostics::suggest`], without comparing the name with every one).
///
/// Only asked for when a name of that kind does not resolve, so a file without such a
/// mistake never builds it. It re-runs when [`index`] changes, and is backdated when the
/// names of its kind did not (a step's outputs edited), so what reads it does not re-run.
#[salsa::tracked(returns(ref))]
pub fn names(db: &dyn Db, file: SourceFile, kind: NameKind) -> Names {
    let ix = index(db, file);
    match kind {
        NameKind::Step => Names::new(ix.steps.keys().map(String::as_str)),
        NameKind::Parameter => Names::new(ix.params.iter().map(String::as_str)),
        NameKind::Data => Names::new(ix.data.keys().map(String::as_str)),
        NameKind::Environment => Names::new(ix.environments.keys().map(String::as_str)),
        NameKind::Compute => Names::new(ix.computes.keys().map(String::as_str)),
        NameKind::Datastore => Names::new(ix.datastores.keys().map(String::as_str)),
    }
}

/// The outputs of step `step`, indexed as [`names`] does, for a step with more than
/// [`SCAN_MAX`] of them (fewer are scanned). One per step that references name an output
/// it lacks, so many such references cost one index, not a scan each.
#[salsa::tracked(returns(ref))]
pub(crate) fn step_outputs(db: &dyn Db, file: SourceFile, step: String) -> Names {
    Names::new(index(db, file).steps.get(&step).into_iter().flatten().map(String::as_str))
}

/// The closest of `candidates` to `name`: a scan when they are few, else an index built on
/// first use (kept in `index` for the next name).
fn closest_of<'a>(
    name: &str,
    candidates: impl ExactSizeIterator<Item = &'a str> + Clone,
    index: &'a mut Option<Names>,
) -> Option<&'a str> {
    if candidates.len() <= SCAN_MAX {
        return suggest(name, candidates);
    }
    index.get_or_insert_with(|| Names::new(candidates)).closest(name)
}

/// Parameter values for this run: defaults, then `--param` overrides.
#[derive(Clone, Debug, PartialEq, Eq, Default, salsa::SalsaValue)]
pub struct ParamValues {
    /// Name → value, for every parameter with a value.
    pub values: BTreeMap<String, ParamValue>,
    /// Overrides that name no parameter or do not parse (`--param lr=abc: expected a float`).
    pub errors: Vec<String>,
}

/// Merges defaults and the file's overrides.
#[salsa::tracked(returns(ref))]
pub fn param_values(db: &dyn Db, file: SourceFile) -> ParamValues {
    let mut defaults: BTreeMap<String, Option<ParamValue>> = BTreeMap::new();
    for item in items(db, file).of_kind(ItemKind::Parameter) {
        let default = match &lower_item(db, item).data {
            Some(ItemData::Parameter(p)) => p.default.as_ref().map(|d| d.value.clone()),
            _ => None,
        };
        defaults.insert(item.name(db).clone(), default);
    }
    let mut out = ParamValues::default();
    for (name, default) in &defaults {
        if let Some(v) = default {
            out.values.insert(name.clone(), v.clone());
        }
    }
    for (name, raw) in file.overrides(db) {
        match defaults.get(name) {
            None => {
                // (The parameters are the index's: every parameter item, as here.)
                let hint = names(db, file, NameKind::Parameter)
                    .closest(name)
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                out.errors
                    .push(format!("--param {name}: the pipeline has no parameter `{name}`{hint}"));
            }
            Some(None) => out.errors.push(format!(
                "--param {name}: the parameter has no valid default to take its type from"
            )),
            Some(Some(default)) => match default.parse_like(raw) {
                Ok(v) => {
                    out.values.insert(name.clone(), v);
                }
                Err(e) => out.errors.push(format!("--param {name}={raw}: {e}")),
            },
        }
    }
    out
}

/// One parameter's value for this run. Re-runs on every parameter edit but only changes
/// (and so only re-keys the steps that read it) when this parameter's value does.
#[salsa::tracked(returns(ref))]
pub fn param_value<'db>(
    db: &'db dyn Db,
    file: SourceFile,
    name: ParamName<'db>,
) -> Option<ParamValue> {
    param_values(db, file).values.get(name.text(db)).cloned()
}

/// What an input is bound to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub enum Target {
    /// A data reference (by name).
    Data(String),
    /// Output `output` of step `step`.
    Output {
        /// The upstream step.
        step: String,
        /// Its output.
        output: String,
    },
}

/// A step's resolved references.
#[derive(Clone, Debug, PartialEq, Eq, Default, salsa::SalsaValue)]
pub struct ResolvedStep {
    /// Inputs that resolved, in declaration order.
    pub inputs: Vec<(String, Target)>,
    /// Upstream steps (each once, in input order).
    pub deps: Vec<String>,
    /// Parameters the step's templates use (each once, sorted).
    pub params_used: Vec<String>,
    /// Diagnostics, spans relative to the step item.
    pub diagnostics: Vec<Diagnostic>,
}

/// Resolves one step (of `item`'s file; a one-argument query, so no interning per call).
/// [`crate::resolve_step`] is the public form.
#[salsa::tracked(returns(ref))]
pub(crate) fn resolve_step<'db>(db: &'db dyn Db, item: Item<'db>) -> ResolvedStep {
    let Some(step) = lower_item(db, item).step() else { return ResolvedStep::default() };
    let file = item.file(db);
    resolve(db, file, step, index(db, file))
}

/// Resolves `step` against `ix` (the index of `file`): the body of [`resolve_step`], shared
/// with [`crate::group::group_checked`].
pub(crate) fn resolve(db: &dyn Db, file: SourceFile, step: &Step, ix: &Index) -> ResolvedStep {
    let mut out = ResolvedStep::default();
    let mut diags = Vec::new();
    // Upstream steps seen, to keep `deps` free of repeats without a linear search per input
    // (a step reading the outputs of 10,000 steps).
    let mut seen = std::collections::HashSet::new();
    for input in &step.inputs {
        if let Some(target) = resolve_reference(db, file, ix, &input.reference, &mut diags) {
            if let Target::Output { step, .. } = &target
                && seen.insert(step.clone())
            {
                out.deps.push(step.clone());
            }
            out.inputs.push((input.name.value.clone(), target));
        }
    }
    let (used_inputs, used_outputs, params) = check_templates(db, file, step, ix, &mut diags);
    out.params_used = params;
    for (input, used) in step.inputs.iter().zip(used_inputs) {
        if !used {
            diags.push(unused::input(input.name.span, &input.name.value));
        }
    }
    for (o, used) in step.outputs.iter().zip(used_outputs) {
        if !used {
            diags.push(unused::output(o.span, &o.value));
        }
    }
    if let Some(env) = &step.environment
        && !ix.environments.contains_key(&env.value)
    {
        diags.push(unresolved(db, file, NameKind::Environment, env, "environment"));
    }
    if let Some(c) = &step.compute
        && !ix.computes.contains_key(&c.value)
    {
        diags.push(unresolved(db, file, NameKind::Compute, c, "compute target"));
    }
    for (_, store) in &step.output_stores {
        if !ix.datastores.contains_key(&store.value) {
            diags.push(unresolved(db, file, NameKind::Datastore, store, "datastore"));
        }
    }
    check_step_paths(db, step, &mut diags);
    out.diagnostics = diags;
    out
}

/// E0102 for `s`, a name written whole (an environment, say) that no item of `kind` has.
fn unresolved(
    db: &dyn Db,
    file: SourceFile,
    kind: NameKind,
    s: &Spanned<String>,
    noun: &str,
) -> Diagnostic {
    unresolved_name(db, file, kind, s.span, &s.value, noun, &s.value)
}

/// E0102 for `name` (in the reference `written`), which no item of `kind` has; the
/// suggestion and the list of known names come from [`names`].
fn unresolved_name(
    db: &dyn Db,
    file: SourceFile,
    kind: NameKind,
    span: Span,
    written: &str,
    noun: &str,
    name: &str,
) -> Diagnostic {
    let known = names(db, file, kind);
    unresolved_reference::new(span, written, noun, name, known.closest(name), known.iter())
}

fn resolve_reference(
    db: &dyn Db,
    file: SourceFile,
    ix: &Index,
    reference: &Spanned<String>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Target> {
    let r = &reference.value;
    let span = reference.span;
    match r.split('.').collect::<Vec<_>>().as_slice() {
        ["data", name] => {
            if ix.data.contains_key(*name) {
                return Some(Target::Data((*name).to_owned()));
            }
            let noun = "data reference";
            diags.push(unresolved_name(db, file, NameKind::Data, span, r, noun, name));
        }
        ["steps", step, "outputs", output] => match ix.steps.get(*step) {
            Some(outputs) if outputs.iter().any(|o| o == output) => {
                return Some(Target::Output {
                    step: (*step).to_owned(),
                    output: (*output).to_owned(),
                });
            }
            Some(outputs) => {
                let known = outputs.iter().map(String::as_str);
                let closest = match outputs.len() <= SCAN_MAX {
                    true => suggest(output, known.clone()),
                    false => step_outputs(db, file, (*step).to_owned()).closest(output),
                };
                diags.push(unresolved_reference::new(span, r, "output", output, closest, known));
            }
            None => {
                diags.push(unresolved_name(db, file, NameKind::Step, span, r, "step", step));
            }
        },
        _ => diags.push(invalid_reference::new(span, r)),
    }
    None
}

/// Which inputs and outputs (by position) the templates use, and the parameters they
/// use (sorted, each once).
type Used = (Vec<bool>, Vec<bool>, Vec<String>);

/// A step's input or output names.
#[derive(Clone, Copy)]
enum Declared<'a> {
    Inputs(&'a Step),
    Outputs(&'a Step),
}

impl<'a> Declared<'a> {
    /// The names in declaration order (without allocating: this runs per placeholder).
    fn names(self) -> impl ExactSizeIterator<Item = &'a str> + Clone {
        let (inputs, outputs) = match self {
            Declared::Inputs(s) => (&s.inputs[..], &[][..]),
            Declared::Outputs(s) => (&[][..], &s.outputs[..]),
        };
        // (A range, not a chain: its length is known, for `closest_of`.)
        (0..inputs.len() + outputs.len()).map(move |k| match inputs.get(k) {
            Some(i) => i.name.value.as_str(),
            None => outputs[k - inputs.len()].value.as_str(),
        })
    }
}

/// Name → its positions in `names`.
fn positions<'a>(names: impl Iterator<Item = &'a str>) -> HashMap<&'a str, Vec<usize>> {
    let mut at: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, n) in names.enumerate() {
        at.entry(n).or_default().push(i);
    }
    at
}

fn check_templates(
    db: &dyn Db,
    file: SourceFile,
    step: &Step,
    ix: &Index,
    diags: &mut Vec<Diagnostic>,
) -> Used {
    let mut inputs = vec![false; step.inputs.len()];
    let mut outputs = vec![false; step.outputs.len()];
    let mut params = Vec::new();
    // Name → positions, per kind, so a placeholder is found without a scan (a step can
    // declare thousands of inputs). Every declaration of a name counts (a repeat is E0108).
    let input_at = positions(Declared::Inputs(step).names());
    let output_at = positions(Declared::Outputs(step).names());
    // The declared names indexed for "did you mean", built at the first placeholder that
    // names none of them, when there are many (a step of thousands of inputs, each used
    // misspelt, would otherwise scan them all for each).
    let (mut input_names, mut output_names) = (None, None);
    for t in step.templates() {
        if !t.value.contains("${") {
            continue;
        }
        for piece in template::pieces(&t.value) {
            match piece {
                Piece::Text(_) => {}
                Piece::Malformed(text) => diags.push(unknown_placeholder::bad_form(t.span, text)),
                Piece::Placeholder { kind: Kind::Params, name, text } => {
                    if ix.params.contains(name) {
                        params.push(name.to_owned());
                    } else {
                        let kind = NameKind::Parameter;
                        let noun = "parameter";
                        diags.push(unresolved_name(db, file, kind, t.span, text, noun, name));
                    }
                }
                Piece::Placeholder { kind, name, text } => {
                    let (declared, used, at, what, index) = match kind {
                        Kind::Inputs => {
                            let d = Declared::Inputs(step);
                            (d, &mut inputs, &input_at, "input", &mut input_names)
                        }
                        _ => {
                            let d = Declared::Outputs(step);
                            (d, &mut outputs, &output_at, "output", &mut output_names)
                        }
                    };
                    let found = at.get(name).is_some_and(|all| {
                        for &i in all {
                            used[i] = true;
                        }
                        true
                    });
                    if !found {
                        let closest = closest_of(name, declared.names(), index);
                        diags.push(unknown_placeholder::undeclared(
                            t.span, text, what, name, closest,
                        ));
                    }
                }
            }
        }
    }
    params.sort_unstable();
    params.dedup();
    (inputs, outputs, params)
}

/// What a path must be.
#[derive(Clone, Copy)]
enum Want {
    File,
    Dir,
    Any,
}

fn check_path(
    db: &dyn Db,
    span: Span,
    what: &str,
    written: &str,
    resolved: &str,
    want: Want,
) -> Option<Diagnostic> {
    let problem = match (db.fs_entry(resolved).state(db), want) {
        (FsState::Unknown, _)
        | (FsState::File(_), Want::File | Want::Any)
        | (FsState::Dir(_), Want::Dir | Want::Any) => {
            return None;
        }
        (FsState::Missing, _) => "was not found",
        (FsState::Dir(_), Want::File) => "is a folder, not a file",
        (FsState::File(_), Want::Dir) => "is a file, not a folder",
    };
    Some(path_not_found::new(span, what, written, resolved, problem))
}

fn check_step_paths(db: &dyn Db, step: &Step, diags: &mut Vec<Diagnostic>) {
    if step.source_directory.is_none() && step.script.is_none() && step.hash_paths.is_empty() {
        return;
    }
    let src = normalize(step.source_directory());
    // Paths inside a source directory that leaves the folder are said to leave only once.
    let outside = match &step.source_directory {
        Some(sd) => path_outside_project::check(sd.span, "source directory", &sd.value, &src),
        None => None,
    };
    let src_leaves = outside.is_some();
    diags.extend(outside);
    let script = step.script.iter().map(|s| (s, "script", Want::File));
    let hash_paths = step.hash_paths.iter().map(|h| (h, "hash path", Want::Any));
    let files: Vec<(&Spanned<String>, &str, Want, String)> = script
        .chain(hash_paths)
        .map(|(p, what, want)| (p, what, want, join(&src, &p.value)))
        .collect();
    if !src_leaves {
        for (p, what, _, resolved) in &files {
            diags.extend(path_outside_project::check(p.span, what, &p.value, resolved));
        }
    }
    if let Some(sd) = &step.source_directory
        && let Some(d) = check_path(db, sd.span, "source directory", &sd.value, &src, Want::Dir)
    {
        // Everything inside a missing folder is missing too: say it once.
        diags.push(d);
        return;
    }
    for (p, what, want, resolved) in &files {
        diags.extend(check_path(db, p.span, what, &p.value, resolved, *want));
    }
    if let Some(script) = &step.script
        && script.value.ends_with(".py")
        && step.reuse.track_imports != Some(false)
    {
        check_dynamic_imports(db, script, &src, diags);
    }
}

/// `N0302` for each import by a computed name in `script` and the modules it imports.
fn check_dynamic_imports(
    db: &dyn Db,
    script: &Spanned<String>,
    src: &str,
    diags: &mut Vec<Diagnostic>,
) {
    let path = join(src, &script.value);
    let modules = &crate::modules::script_modules(db, db.fs_entry(&path)).modules;
    for file in std::iter::once(&path).chain(modules) {
        let Some(analysis) = db.fs_entry(file).python(db).clone() else { continue };
        let shown = match src {
            "." => file.as_str(),
            _ => file.strip_prefix(src).and_then(|r| r.strip_prefix('/')).unwrap_or(file),
        };
        for d in &analysis.dynamic {
            diags.push(dynamic_import::new(script.span, shown, d.line, &d.call));
        }
    }
}

/// Checks a non-step item's references and paths (spans relative to the item).
#[salsa::tracked(returns(ref))]
pub fn check_item<'db>(db: &'db dyn Db, item: Item<'db>) -> Vec<Diagnostic> {
    let file = item.file(db);
    check_other(db, file, lower_item(db, item).data.as_ref(), || index(db, file))
}

/// The body of [`check_item`], shared with [`crate::group::group_checked`]; `index` (of
/// `file`) is only asked for when needed (data references).
pub(crate) fn check_other<'a>(
    db: &dyn Db,
    file: SourceFile,
    data: Option<&ItemData>,
    index: impl FnOnce() -> &'a Index,
) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    match data {
        Some(ItemData::Data(d)) => {
            let ix = index();
            match ix.datastores.get(&d.datastore.value) {
                None => {
                    let kind = NameKind::Datastore;
                    diags.push(unresolved(db, file, kind, &d.datastore, "datastore"));
                }
                Some(_) if ix.remote_datastores.contains_key(&d.datastore.value) => {
                    if let Some(p) = &d.path {
                        let resolved = join(&remote_folder(&d.datastore.value), &p.value);
                        let found = check_path(db, p.span, "data", &p.value, &resolved, Want::Any);
                        let store = &d.datastore.value;
                        diags.extend(
                            found.map(|_| path_not_found::in_datastore(p.span, &p.value, store)),
                        );
                    }
                }
                Some(root) => {
                    if let Some(p) = &d.path {
                        let resolved = join(root, &p.value);
                        // A datastore outside the folder says so itself.
                        if !path_outside_project::leaves(root) {
                            let note =
                                path_outside_project::check(p.span, "data", &p.value, &resolved);
                            diags.extend(note);
                        }
                        diags.extend(check_path(
                            db,
                            p.span,
                            "data",
                            &p.value,
                            &resolved,
                            Want::Any,
                        ));
                    }
                }
            }
        }
        Some(ItemData::Cache(c)) => {
            if let Some(remote) = &c.remote
                && !index().datastores.contains_key(&remote.value)
            {
                diags.push(unresolved(db, file, NameKind::Datastore, remote, "datastore"));
            }
        }
        Some(ItemData::Environment(e)) => {
            if let Some(r) = &e.requirements {
                let resolved = normalize(&r.value);
                let what = "requirements file";
                diags.extend(path_outside_project::check(r.span, what, &r.value, &resolved));
                diags.extend(check_path(db, r.span, what, &r.value, &resolved, Want::File));
            }
        }
        Some(ItemData::Datastore(d)) => {
            if let Some(p) = &d.path {
                let resolved = normalize(&p.value);
                diags.extend(path_outside_project::check(
                    p.span,
                    "datastore path",
                    &p.value,
                    &resolved,
                ));
            }
        }
        _ => {}
    }
    diags
}
