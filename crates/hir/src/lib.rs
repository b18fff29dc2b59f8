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

pub mod azure_ml;
pub mod compute;
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
mod modules;
mod name_index;
pub mod paths;
mod resolve;
pub mod schema;
mod structure;
pub mod template;

pub use db::{Db, Digest, FsEntry, FsState, ParamName, RootDatabase, SourceFile};
pub use diagnostics::{Code, Diagnostic, Fix, Related, Severity, diagnostics as file_diagnostics};
pub use graph::{StepGraph, step_graph};
pub use item::{
    BLOCK_MAX_BYTES, BLOCK_MAX_CHUNKS, BLOCK_SPLIT, Block, BlockParse, Group, Header, Item,
    ItemKind, Items, MAX_SYNTAX_ERRORS, Part, blocks, items, parse, parse_block,
};
pub use key::{KEY_SCHEMA_VERSION, KeyError, KeySlot, StepKeyFields, UpstreamInput};
pub use lower::{ItemData, Lowered, lower_item};
pub use model::{
    CacheSettings, Compute, DataRef, Datastore, Environment, InputBinding, ParamValue, Parameter,
    PipelineMeta, ReuseSwitches, Spanned, Step,
};
pub use modules::ModuleScan;
pub use name_index::Names;
pub use paths::{PathNeed, PathUse, needed_paths};
pub use resolve::{
    CacheInfo, ComputeInfo, DatastoreInfo, Index, NameKind, ParamValues, ResolvedStep, Target,
    check_item, index, names, param_value, param_values, remote_folder,
};

/// Computes the whole-file queries top-down, each at the top of the query stack, and for
/// a large file the per-block and per-group queries under them on two threads.
///
/// Why the order: salsa 0.28 reuses one query frame per stack depth and drains its
/// dependency map on every pop, which clears (memsets) the map's whole capacity. If a query
/// that reads every item (`index`, `items`, `step_graph`) first runs nested at depth d,
/// every later small query at depth d pays for that capacity: quadratic on a file with
/// 100,000 steps. Calling this first keeps the big frames at depth 1.
///
/// Why threads: parsing blocks, lowering items (`group::group_names`) and
/// resolving them (`group::group_checked`) is most of a large file's check and
/// needs nothing from other blocks or groups, so a second handle ([`Db::fork`]) computes
/// half of them while this one computes the other half; the whole-file queries then find
/// them done. Results are the same either way; drivers call this before asking for
/// diagnostics or keys.
pub fn prime(db: &dyn Db, file: SourceFile) {
    let blocks = blocks(db, file);
    on_two_threads(db, blocks, |db, &block| {
        let _ = parse_block(db, block);
    });
    let items = items(db, file);
    on_two_threads(db, &items.groups, |db, &group| {
        let _ = group::group_names(db, group);
    });
    let _ = index(db, file);
    let _ = param_values(db, file);
    let _ = needed_paths(db, file);
    on_two_threads(db, &items.groups, |db, &group| {
        let _ = group::group_checked(db, group);
    });
    let _ = step_graph(db, file);
}

/// Below this many blocks or groups (about 16,000 items) a second thread is not worth
/// starting. (Tests use two threads on small files too.)
#[cfg(not(test))]
const PARALLEL_MIN: usize = 1_000;
#[cfg(test)]
const PARALLEL_MIN: usize = 4;

/// Runs `each` over `all` on this thread and, when there are enough and the database can
/// fork, on a second handle on another thread: both take the next run of [`SHARE`] from a
/// shared counter until none is left, so a thread the OS does not schedule holds up at
/// most one run. A panic there (salsa's cancellation, say) goes on here, unchanged.
fn on_two_threads<T: Sync>(db: &dyn Db, all: &[T], each: impl Fn(&dyn Db, &T) + Sync) {
    // (`available_parallelism` reads cgroup files: only asked for a large file.)
    let worth_it = all.len() >= PARALLEL_MIN
        && std::thread::available_parallelism().is_ok_and(|n| n.get() > 1);
    let Some(fork) = worth_it.then(|| db.fork()).flatten() else { return };
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = |db: &dyn Db| loop {
        let at = next.fetch_add(SHARE, std::sync::atomic::Ordering::Relaxed);
        let Some(run) = all.get(at..all.len().min(at + SHARE)) else { break };
        run.iter().for_each(|x| each(db, x));
    };
    std::thread::scope(|scope| {
        let work = &work;
        // No thread to be had: this one does it all.
        let other = std::thread::Builder::new()
            .name("hir-prime".to_owned())
            .spawn_scoped(scope, move || work(&*fork));
        work(db);
        if let Ok(other) = other
            && let Err(panic) = other.join()
        {
            std::panic::resume_unwind(panic);
        }
    });
}

/// How many blocks or groups a thread of [`prime`] takes at a time.
const SHARE: usize = 32;

/// Resolves one step: its references, placeholders and paths checked against the
/// [`index`] of `file` (the item's file; the query itself takes only the item).
pub fn resolve_step<'db>(db: &'db dyn Db, file: SourceFile, item: Item<'db>) -> &'db ResolvedStep {
    debug_assert!(item.file(db) == file, "the item belongs to another file");
    resolve::resolve_step(db, item)
}

/// A step's key fields (see the `key` module's table), from the digests set on the database; `file`
/// is the item's file (the query itself takes only the item).
pub fn step_key_fields<'db>(
    db: &'db dyn Db,
    file: SourceFile,
    item: Item<'db>,
) -> &'db Result<StepKeyFields, KeyError> {
    debug_assert!(item.file(db) == file, "the item belongs to another file");
    key::step_key_fields(db, item)
}

/// Every named path a step's key fields read, and where its digest goes (see
/// `KeySlot`); `file` is the item's file. `None` for an invalid step.
pub fn step_key_paths(
    db: &dyn Db,
    file: SourceFile,
    item: Item<'_>,
) -> Option<Vec<(KeySlot, String)>> {
    debug_assert!(item.file(db) == file, "the item belongs to another file");
    key::step_key_paths(db, item)
}

/// The helper modules of the `.py` script at `path` (normalised, relative to the pipeline's
/// folder), as far as the file states set on the database let the scan go (see
/// `ModuleScan::pending`).
pub fn script_modules<'db>(db: &'db dyn Db, path: &str) -> &'db ModuleScan {
    modules::script_modules(db, db.fs_entry(path))
}

/// Finds the step named `name`, if the file defines it.
pub fn find_step<'db>(db: &'db dyn Db, file: SourceFile, name: &str) -> Option<Item<'db>> {
    items(db, file).of_kind(ItemKind::Step).find(|it| it.name(db) == name)
}

#[cfg(test)]
mod tests;
