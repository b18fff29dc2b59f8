//! Hover: key docs, reference summaries, placeholder expansions, step key fields.

use expect_test::{Expect, expect};

use super::{digits_at, load};
use crate::{PlanView, StepState};

#[track_caller]
fn check(fixture: &str, expect: Expect) {
    check_with_plan(fixture, None, expect)
}

#[track_caller]
fn check_with_plan(fixture: &str, plan: Option<&PlanView>, expect: Expect) {
    let fx = load(fixture);
    let got = match crate::hover(&fx.db, fx.file, fx.offset, plan) {
        Some(h) => format!("{}\n---\n{}", &fx.text()[h.span.range()], h.markdown),
        None => "(none)".to_owned(),
    };
    expect.assert_eq(&got);
}

#[test]
fn key_shows_schema_docs() {
    check(
        &digits_at("hash_paths", 0),
        expect![[r#"
            hash_paths
            ---
            **`hash_paths`**: array of strings, default `[]`

            More files or folders, relative to `source_directory`, whose content feeds the step key: configs and other files the script reads (the local modules a `.py` script imports are found without it: `track_imports`). Folders honour `.amlignore`/`.gitignore`.

            Example: `hash_paths = ["config/"]`"#]],
    );
}

#[test]
fn table_in_header_shows_table_docs() {
    check(
        "[st$0eps.a]\nscript = \"a.py\"\n",
        expect![[r#"
            steps
            ---
            **`[steps.NAME]`**

            A step (Azure ML `PythonScriptStep`): a script or command with inputs, outputs and parameters. Steps are connected by their inputs: an input naming `steps.S.outputs.O` makes this step run after `S` and read that output. The graph must be acyclic.

            ```toml
            [steps.train]
            script = "train.py"
            source_directory = "src"
            environment = "sklearn"
            arguments = ["--data", "${inputs.data}", "--model", "${outputs.model}", "--n", "${params.n_estimators}"]
            inputs = { data = "steps.prepare.outputs.split" }
            outputs = ["model"]
            hash_paths = ["config/"]
            ```"#]],
    );
}

#[test]
fn data_reference() {
    check(
        &digits_at("digits\"", 0),
        expect![[r#"
        digits
        ---
        **data reference** `digits`

        datastore `workspace`, path `raw/digits.csv`

        `raw/digits.csv`: file, sha256 `52186c933993`

        read by `prepare` (input `raw`)"#]],
    );
}

#[test]
fn output_reference_names_readers() {
    check(
        &digits_at("split\"", 0),
        expect![[r#"
        split
        ---
        **output** `split` of step `prepare`

        a folder, created empty before the step runs; its content is cached

        read by `train` (input `data`)"#]],
    );
}

#[test]
fn param_placeholder_expands_to_value() {
    check(
        &digits_at("params.lr", 0),
        expect![[r#"
        ${params.lr}
        ---
        `${params.lr}` expands to `0.5`

        **parameter** `lr`: float = `0.5`

        learning rate

        used by `train`"#]],
    );
}

#[test]
fn input_placeholder_expands_to_data_path() {
    check(
        &digits_at("inputs.raw", 0),
        expect![[r#"
        ${inputs.raw}
        ---
        `${inputs.raw}` expands to the path of data reference `digits`: `raw/digits.csv` (relative to the pipeline's folder; file, sha256 `52186c933993`)"#]],
    );
}

#[test]
fn input_placeholder_bound_to_output() {
    check(
        &digits_at("inputs.data", 0),
        expect![[r#"
        ${inputs.data}
        ---
        `${inputs.data}` expands to the folder of output `split` of step `prepare` (its recorded result, read only)"#]],
    );
}

#[test]
fn output_placeholder() {
    check(
        &digits_at("outputs.model", 0),
        expect![[r#"
        ${outputs.model}
        ---
        `${outputs.model}` expands to the folder of output `model` of step `train`: created empty before the step runs; what the step writes there is cached"#]],
    );
}

#[test]
fn environment_name() {
    check(
        &digits_at("sklearn\"", 0),
        expect![[r#"
        sklearn
        ---
        **environment** `sklearn`

        python `python3`, requirements `requirements.txt` (file, sha256 `76b532ee126e`)"#]],
    );
}

#[test]
fn builtin_compute() {
    check(
        "[steps.a]\nscript = \"a.py\"\ncompute = \"lo$0cal\"\n",
        expect![[r#"
            local
            ---
            **compute target** `local` (built in: this machine)

            kind: local

            max_nodes: the number of CPUs"#]],
    );
}

#[test]
fn script_path() {
    check(
        &digits_at("train.py", 0),
        expect![[r#"
        "train.py"
        ---
        **script** `src/train.py`

        file, sha256 `e3b0c44298fc`"#]],
    );
}

#[test]
fn step_header_with_plan_shows_key_fields_and_state() {
    let mut plan = PlanView::new();
    plan.insert("train".into(), StepState::Run(vec!["params.lr 0.1 → 0.5".into()]));
    check_with_plan(
        &digits_at("train]", 0),
        Some(&plan),
        expect![[r#"
            train
            ---
            **step** `train`

            **will run: params.lr 0.1 → 0.5**

            script `train.py` in `src`

            runs after `prepare`

            outputs `model`

            | key field | value | state |
            |---|---|---|
            | script | `train.py` `6ec83ac77f8e` | same |
            | hash_paths `common` | `993b170c7c8c` | same |
            | params.lr | `0.5` | **changed** |
            | input `data` | steps.prepare.outputs.split | same |
            | arguments | `--data ${inputs.data} --model ${outputs.model} --lr=0.5` | same |
        "#]],
    );
}

#[test]
fn step_header_with_missing_script() {
    check(
        "//- /pipeline.toml\n[steps.a$0]\nscript = \"a.py\"\n//- /other.py\n",
        expect![[r#"
            a
            ---
            **step** `a`

            script `a.py` in `.`

            key: not computed (`a.py` is not hashed: missing?)"#]],
    );
}

#[test]
fn nothing_on_whitespace() {
    check("[steps.a]\n\n$0\nscript = \"a.py\"\n", expect!["(none)"]);
}

#[test]
fn step_header_lists_the_helper_modules_in_its_key() {
    let mut plan = PlanView::new();
    plan.insert("t".into(), StepState::Run(vec!["helper module lib/util.py changed".into()]));
    check_with_plan(
        "//- /pipeline.toml\n[steps.t$0]\nscript = \"t.py\"\n\
         //- /t.py\nfrom lib import util\nimport os\n//- /lib/__init__.py\n//- /lib/util.py\nX = 1\n",
        Some(&plan),
        expect![[r#"
            t
            ---
            **step** `t`

            **will run: helper module lib/util.py changed**

            script `t.py` in `.`

            | key field | value | state |
            |---|---|---|
            | script | `t.py` `88034b06b7d7` | same |
            | helper module | `lib/__init__.py` `6ec83ac77f8e` | same |
            | helper module | `lib/util.py` `a6fc9182d2c1` | **changed** |
        "#]],
    );
}
