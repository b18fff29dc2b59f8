//! End-to-end tests of the `runner` binary: real builds of tiny `sh` pipelines in temp
//! folders, asserting exactly which steps ran and which were reused, and why.
//!
//! Each test writes a pipeline, runs `runner build PATH --format json` (see `support`), and
//! compares the step → status map of the JSON document. Nothing needs Python.

#![allow(missing_docs)]

mod bad_input;
mod check;
mod failures;
mod fan_in;
mod first_hour;
mod imports;
mod injection;
mod kill;
mod memo;
mod memo_edit;
mod planted;
mod publish;
mod reuse;
mod select;
mod statcache;
mod state;
mod stored;
mod support;
mod tamper;
mod traversal;
mod upload;
mod watch;
mod world;

use support::Project;

/// The pipeline most tests use:
///
/// ```text
/// data.raw ─▶ prepare ─▶ train ─▶ report        lint (independent)
///                         ▲
///           params.n, hash_paths helper.txt
/// ```
///
/// Every step's output carries its input's bytes, so a content change flows downstream,
/// and an identical output stops it (early cutoff).
pub const CHAIN_TOML: &str = r#"
[pipeline]
name = "chain"

[parameters]
n = 1

[data.raw]
path = "raw.txt"

[steps.prepare]
script = "prepare.sh"
arguments = ["${inputs.raw}", "${outputs.split}"]
inputs = { raw = "data.raw" }
outputs = ["split"]

[steps.train]
script = "train.sh"
arguments = ["${inputs.data}", "${params.n}", "${outputs.model}"]
inputs = { data = "steps.prepare.outputs.split" }
outputs = ["model"]
hash_paths = ["helper.txt"]

[steps.report]
script = "report.sh"
arguments = ["${inputs.model}", "${outputs.report}"]
inputs = { model = "steps.train.outputs.model" }
outputs = ["report"]

[steps.lint]
script = "lint.sh"
arguments = ["${outputs.log}"]
outputs = ["log"]
"#;

pub const PREPARE_SH: &str = "set -e\ncat \"$1\" > \"$2/split.txt\"\n";
pub const TRAIN_SH: &str = "set -e\n{ cat \"$1/split.txt\"; echo \"n=$2\"; } > \"$3/model.txt\"\n";
pub const REPORT_SH: &str =
    "set -e\n{ cat \"$1/model.txt\"; echo reported; } > \"$2/report.txt\"\n";
pub const LINT_SH: &str = "set -e\necho 'lint: clean' > \"$1/lint.txt\"\n";

/// A fresh copy of the chain pipeline.
pub fn chain() -> Project {
    Project::with(&[
        ("pipeline.toml", CHAIN_TOML),
        ("raw.txt", "1,2,3\n"),
        ("helper.txt", "helper v1\n"),
        ("prepare.sh", PREPARE_SH),
        ("train.sh", TRAIN_SH),
        ("report.sh", REPORT_SH),
        ("lint.sh", LINT_SH),
    ])
}

/// The chain pipeline after one successful build (all four steps ran).
pub fn built_chain() -> Project {
    let p = chain();
    p.build(&[]).assert_code(0).assert_steps(&[
        ("prepare", "ran"),
        ("train", "ran"),
        ("report", "ran"),
        ("lint", "ran"),
    ]);
    p
}

/// All four chain steps reused.
pub const ALL_REUSED: &[(&str, &str)] =
    &[("prepare", "reused"), ("train", "reused"), ("report", "reused"), ("lint", "reused")];
