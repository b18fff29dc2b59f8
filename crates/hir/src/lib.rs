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
//! 1. [`blocks`] and [`parse_block`]: the text in runs of top-level chunks, each parsed on
//!    its own (`syntax`), so an edit reparses one block. ([`parse`] parses the whole text,
//!    for tools that want one tree.)
//! 2. [`items`]: one tracked [`Item`] per named table (`steps.train`, `data.raw`, …), each
//!    holding its own syntax with spans made relative to the item, so an edit in one step
//!    leaves every other item's syntax equal and salsa reuses their later queries; and the
//!    items grouped by block ([`Group`]).
//! 3. [`lower_item`]: an item's syntax → typed data ([`Step`], [`Parameter`], …) + its
//!    diagnostics (unknown keys, wrong types, invalid names, missing keys).
//! 4. [`index`]: the names every item defines (spanless, so it backdates on most edits),
//!    gathered per group.
//! 5. [`resolve_step`]: a step's references and placeholders checked against the index
//!    (per item, for keys and editors; the whole-file queries resolve a group at a time).
//! 6. [`step_graph`]: edges, topological order and cycles (petgraph).
//! 7. [`file_diagnostics`]: everything above, with absolute spans, sorted.
//! 8. [`step_key_fields`]: what goes into a step's key, from the digests it is given.
//!
//! Every query returns plain values; nothing is accumulated. Parsing and checking never fail.

mod db;
pub mod diagnostics;
#[cfg(any(test, feature = "test-fixture"))]
pub mod fixture;
mod fxhash;
mod graph;
mod group;
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
pub use item::{
    BLOCK_MAX_BYTES, BLOCK_MAX_CHUNKS, BLOCK_SPLIT, Block, BlockParse, Group, Header, Item,
    ItemKind, Items, Part, blocks, items, parse, parse_block,
};
pub use key::{KEY_SCHEMA_VERSION, KeyError, StepKeyFields, UpstreamInput};
pub use lower::{ItemData, Lowered, lower_item};
pub use model::{
    Compute, DataRef, Datastore, Environment, InputBinding, ParamValue, Parameter, PipelineMeta,
    Spanned, Step,
};
pub use paths::{PathNeed, PathUse, needed_paths};
pub use resolve::{
    Index, ParamValues, ResolvedStep, Target, check_item, index, param_value, param_values,
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
    let _ = blocks(db, file);
    let _ = items(db, file);
    let _ = index(db, file);
    let _ = param_values(db, file);
    let _ = needed_paths(db, file);
    let _ = step_graph(db, file);
}

/// Resolves one step: its references, placeholders and paths checked against the
/// [`index`] of `file` (the item's file; the query itself takes only the item).
pub fn resolve_step<'db>(db: &'db dyn Db, file: SourceFile, item: Item<'db>) -> &'db ResolvedStep {
    debug_assert!(item.file(db) == file, "the item belongs to another file");
    resolve::resolve_step(db, item)
}

/// A step's key fields (see [`key`]'s table), from the digests set on the database; `file`
/// is the item's file (the query itself takes only the item).
pub fn step_key_fields<'db>(
    db: &'db dyn Db,
    file: SourceFile,
    item: Item<'db>,
) -> &'db Result<StepKeyFields, KeyError> {
    debug_assert!(item.file(db) == file, "the item belongs to another file");
    key::step_key_fields(db, item)
}

/// Finds the step named `name`, if the file defines it.
pub fn find_step<'db>(db: &'db dyn Db, file: SourceFile, name: &str) -> Option<Item<'db>> {
    items(db, file).of_kind(ItemKind::Step).find(|it| it.name(db) == name)
}

#[cfg(test)]
mod tests;
