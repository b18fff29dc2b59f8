//! The checker: a salsa database over `pipeline.toml` and the digests of the files it names.
//!
//! Inputs are set by a driver (the CLI, watch mode, the language server); queries do no IO.
//! * [`SourceFile`]: the pipeline's text and the `--param` overrides of this run.
//! * [`FsEntry`]: one path the pipeline names (script, `hash_paths` entry, data reference,
//!   requirements file, `source_directory`), with its [`FsState`]: missing, a file and its
//!   digest, or a folder and its tree digest. The driver learns which paths to look at from
//!   [`needed_paths`], hashes them and sets the states.
//!
//! Queries, bottom up:
//! 1. [`parse`]: text → spanned tree + syntax errors (`syntax`).
//! 2. [`items`]: the tree → one tracked [`Item`] per named table (`steps.train`, `data.raw`,
//!    …), each holding its own syntax with spans made relative to the item, so an edit in one
//!    step leaves every other item's syntax equal and salsa reuses their later queries.
//! 3. [`lower_item`]: an item's syntax → typed data ([`Step`], [`Parameter`], …) + its
//!    diagnostics (unknown keys, wrong types, invalid names, missing keys).
//! 4. [`index`]: the names every item defines (spanless, so it backdates on most edits).
//! 5. [`resolve_step`]: a step's references and placeholders checked against the index.
//! 6. [`step_graph`]: edges, topological order and cycles (petgraph).
//! 7. [`file_diagnostics`]: everything above, with absolute spans, sorted.
//! 8. [`step_key_fields`]: what goes into a step's key, from the digests it is given.
//!
//! Every query returns plain values; nothing is accumulated. Parsing and checking never fail.

mod db;
pub mod diagnostics;
#[cfg(any(test, feature = "test-fixture"))]
pub mod fixture;
mod graph;
mod item;
mod key;
mod lower;
mod model;
pub mod paths;
mod resolve;
pub mod schema;
pub mod template;

pub use db::{Db, Digest, FsEntry, FsState, ParamName, RootDatabase, SourceFile};
pub use diagnostics::{Code, Diagnostic, Related, Severity, diagnostics as file_diagnostics};
pub use graph::{StepGraph, step_graph};
pub use item::{Chunk, ChunkParse, Item, ItemKind, Items, Part, chunks, items, parse, parse_chunk};
pub use key::{KEY_SCHEMA_VERSION, KeyError, StepKeyFields, UpstreamInput, step_key_fields};
pub use lower::{ItemData, Lowered, lower_item};
pub use model::{
    Compute, DataRef, Datastore, Environment, InputBinding, ParamValue, Parameter, PipelineMeta,
    Spanned, Step,
};
pub use paths::{PathNeed, PathUse, needed_paths};
pub use resolve::{
    Index, ParamValues, ResolvedStep, Target, check_item, index, param_value, param_values,
    resolve_step,
};

/// Computes the whole-file queries top-down, each at the top of the query stack.
///
/// Why: salsa 0.28 reuses one query frame per stack depth and drains its dependency map on
/// every pop, which clears (memsets) the map's whole capacity. If a query that reads every
/// item (`index`, `items`, `step_graph`) first runs nested at depth d, every later small
/// query at depth d pays for that capacity: quadratic on a file with 100,000 steps. Calling
/// this first keeps the big frames at depth 1. Results are the same either way; drivers
/// call it before asking for diagnostics or keys.
pub fn prime(db: &dyn Db, file: SourceFile) {
    let _ = item::chunks(db, file);
    let _ = items(db, file);
    let _ = index(db, file);
    let _ = param_values(db, file);
    let _ = needed_paths(db, file);
    let _ = step_graph(db, file);
}

/// Finds the step named `name`, if the file defines it.
pub fn find_step<'db>(db: &'db dyn Db, file: SourceFile, name: &str) -> Option<Item<'db>> {
    items(db, file).of_kind(ItemKind::Step).find(|it| it.name(db) == name)
}

#[cfg(test)]
mod tests;
