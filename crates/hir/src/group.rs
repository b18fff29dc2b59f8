//! Per-[`Group`] summaries: what whole-file queries need of a few dozen items at a time.
//!
//! [`group_names`] holds what the group's items add to the [`crate::Index`] and to
//! [`crate::needed_paths`]; it reads only the items' lowering. [`group_checked`] resolves
//! the group's items against the index (references, placeholders, paths) and gathers
//! their diagnostics, relative to each item. The whole-file queries read these instead of
//! every item's queries, so a 100,000-step file costs a few thousand reads there, and an
//! edit recomputes one group's summaries, which salsa backdates when they did not change
//! (editing an argument changes no name and no diagnostic, so [`crate::index`],
//! [`crate::step_graph`] and [`crate::file_diagnostics`] do not re-run).
//!
//! Per-item queries stay for what needs one item ([`crate::resolve_step`] for keys and
//! editors, [`crate::lower_item`] for everything): they share the resolution code
//! ([`crate::resolve::resolve`], [`crate::resolve::check_other`]).

use crate::diagnostics::Diagnostic;
use crate::lower::ItemData;
use crate::model::PipelineMeta;
use crate::paths::{PathUse, normalize};
use crate::resolve::{Target, check_other, resolve};
use crate::{Db, Group, ItemKind, index, lower_item};

/// What one item adds to the [`crate::Index`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub(crate) enum Named {
    /// `[pipeline]`.
    Meta(PipelineMeta),
    /// A parameter.
    Param(String),
    /// A step and its outputs.
    Step(String, Vec<String>),
    /// An environment: python, requirements path (normalised).
    Environment(String, String, Option<String>),
    /// A compute target, its kind and its `max_nodes`.
    Compute(String, crate::ComputeInfo),
    /// A datastore and its folder (normalised).
    Datastore(String, String, Option<crate::DatastoreInfo>),
    /// A data reference: its datastore and path (resolved against the datastores later).
    Data(String, String, Option<String>),
    /// `[cache]`.
    Cache(crate::CacheInfo),
}

/// A path one item names, as [`crate::needed_paths`] lists it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub(crate) enum NamedPath {
    /// A normalised path and its use.
    Path(String, PathUse),
    /// A step's script, with the step's own `track_imports` (the pipeline's default applies
    /// when `None`).
    Script(String, Option<bool>),
    /// A step's source directory when it is the pipeline's folder (most steps).
    Here,
    /// The path of the data reference with this name (known once the index is).
    Data(String),
}

/// What a group's items define: index entries and paths, in item order.
#[derive(Clone, Debug, PartialEq, Eq, Default, Hash, salsa::SalsaValue)]
pub(crate) struct GroupNames {
    pub(crate) names: Vec<Named>,
    pub(crate) paths: Vec<NamedPath>,
}

/// The names and paths a group's items define. Reads only their lowering.
#[salsa::tracked(returns(ref))]
pub(crate) fn group_names<'db>(db: &'db dyn Db, group: Group<'db>) -> GroupNames {
    let mut out = GroupNames::default();
    for &item in group.items(db) {
        let kind = item.kind(db);
        let name = || item.name(db).clone();
        match &lower_item(db, item).data {
            Some(ItemData::Pipeline(meta)) => out.names.push(Named::Meta(meta.clone())),
            Some(ItemData::Cache(c)) => {
                if let Some(remote) = &c.remote {
                    out.names.push(Named::Cache(crate::CacheInfo {
                        remote: remote.value.clone(),
                        upload: c.upload.unwrap_or(true),
                        download: c
                            .download
                            .as_ref()
                            .map_or("final", |d| d.value.as_str())
                            .to_owned(),
                    }));
                }
            }
            Some(ItemData::Parameter(_)) => out.names.push(Named::Param(name())),
            Some(ItemData::Step(s)) => {
                let outputs = s.outputs.iter().map(|o| o.value.clone()).collect();
                out.names.push(Named::Step(name(), outputs));
                let src = match &s.source_directory {
                    None => {
                        out.paths.push(NamedPath::Here);
                        ".".to_owned()
                    }
                    Some(d) => {
                        let src = normalize(&d.value);
                        out.paths.push(NamedPath::Path(src.clone(), PathUse::SourceDirectory));
                        src
                    }
                };
                if let Some(script) = &s.script {
                    let path = crate::paths::join(&src, &script.value);
                    out.paths.push(NamedPath::Script(path, s.reuse.track_imports));
                }
                for h in &s.hash_paths {
                    let path = crate::paths::join(&src, &h.value);
                    out.paths.push(NamedPath::Path(path, PathUse::HashPath));
                }
            }
            Some(ItemData::Environment(e)) => {
                let python = e.python.as_ref().map_or("python3", |p| p.value.as_str()).to_owned();
                let requirements = e.requirements.as_ref().map(|r| normalize(&r.value));
                if let Some(r) = &requirements {
                    out.paths.push(NamedPath::Path(r.clone(), PathUse::Requirements));
                }
                out.names.push(Named::Environment(name(), python, requirements));
            }
            Some(ItemData::Compute(c)) => {
                let info = crate::ComputeInfo {
                    kind: c.kind.value.clone(),
                    max_nodes: c.max_nodes.as_ref().map(|m| m.value),
                    options: c.options.iter().map(|(k, v)| (k.clone(), v.value.clone())).collect(),
                };
                out.names.push(Named::Compute(name(), info));
            }
            Some(ItemData::Datastore(d)) if d.kind.value != "local" => {
                let info = crate::DatastoreInfo {
                    kind: d.kind.value.clone(),
                    options: d.options.iter().map(|(k, v)| (k.clone(), v.value.clone())).collect(),
                };
                let name = name();
                let folder = crate::resolve::remote_folder(&name);
                out.names.push(Named::Datastore(name, folder, Some(info)));
            }
            Some(ItemData::Datastore(d)) => {
                let path = normalize(d.path.as_ref().map_or(".", |p| p.value.as_str()));
                out.names.push(Named::Datastore(name(), path, None));
            }
            Some(ItemData::Data(d)) => {
                let path = d.path.as_ref().map(|p| p.value.clone());
                out.names.push(Named::Data(name(), d.datastore.value.clone(), path));
            }
            None => match kind {
                ItemKind::Step => out.names.push(Named::Step(name(), Vec::new())),
                ItemKind::Parameter => out.names.push(Named::Param(name())),
                _ => {}
            },
        }
        if kind == ItemKind::Data {
            out.paths.push(NamedPath::Data(name()));
        }
    }
    out
}

/// A group's items checked against the index.
#[derive(Clone, Debug, PartialEq, Eq, Default, Hash, salsa::SalsaValue)]
pub(crate) struct GroupChecked {
    /// For each step of the group, in order: the steps it reads from.
    pub(crate) deps: Vec<Vec<String>>,
    /// Parameters the group's steps use.
    pub(crate) params_used: Vec<String>,
    /// Data references the group's steps take as inputs.
    pub(crate) data_used: Vec<String>,
    /// Diagnostics from lowering and resolution: the item's position in the group and the
    /// diagnostic, spans relative to the item.
    pub(crate) diagnostics: Vec<(u32, Diagnostic)>,
}

/// Resolves and checks a group's items (see the module docs).
#[salsa::tracked(returns(ref))]
pub(crate) fn group_checked<'db>(db: &'db dyn Db, group: Group<'db>) -> GroupChecked {
    let mut out = GroupChecked::default();
    let items = group.items(db);
    let Some(&first) = items.first() else { return out };
    let file = first.file(db);
    let ix = index(db, file);
    for (i, &item) in items.iter().enumerate() {
        let at = u32::try_from(i).unwrap_or(u32::MAX);
        let lowered = lower_item(db, item);
        out.diagnostics.extend(lowered.diagnostics.iter().map(|d| (at, d.clone())));
        if item.kind(db) != ItemKind::Step {
            let diags = check_other(db, file, lowered.data.as_ref(), || ix);
            out.diagnostics.extend(diags.into_iter().map(|d| (at, d)));
            continue;
        }
        let Some(step) = lowered.step() else {
            out.deps.push(Vec::new());
            continue;
        };
        let resolved = resolve(db, file, step, ix);
        for p in resolved.params_used {
            if !out.params_used.contains(&p) {
                out.params_used.push(p);
            }
        }
        for (_, target) in &resolved.inputs {
            if let Target::Data(name) = target
                && !out.data_used.contains(name)
            {
                out.data_used.push(name.clone());
            }
        }
        out.diagnostics.extend(resolved.diagnostics.into_iter().map(|d| (at, d)));
        out.deps.push(resolved.deps);
    }
    out
}
