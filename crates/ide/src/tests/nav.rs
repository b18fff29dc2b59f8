//! Go to definition: references to their tables, paths to their files.

use expect_test::{Expect, expect};

use super::{digits_at, load};
use crate::NavTarget;

#[track_caller]
fn goto(fixture: &str, expect: Expect) {
    let fx = load(fixture);
    let targets = crate::goto_definition(&fx.db, fx.file, fx.offset);
    let got: Vec<String> = targets
        .iter()
        .map(|t| match t {
            NavTarget::Range(s) => {
                let line = fx.text()[..s.start as usize].matches('\n').count() + 1;
                format!("{}:{line} `{}`", s.start, &fx.text()[s.range()])
            }
            NavTarget::Path(p) => format!("file {p}"),
        })
        .collect();
    expect.assert_eq(&got.join("\n"));
}

#[track_caller]
fn refs(fixture: &str, expect: Expect) {
    let fx = load(fixture);
    let spans = crate::references(&fx.db, fx.file, fx.offset, true);
    expect.assert_eq(&fx.mark(&spans));
}

#[track_caller]
fn rename(fixture: &str, new_name: &str, expect: Expect) {
    let fx = load(fixture);
    let got = match crate::rename(&fx.db, fx.file, fx.offset, new_name) {
        Ok(edits) => {
            let mut text = fx.text().to_owned();
            for e in edits.iter().rev() {
                text.replace_range(e.span.range(), &e.text);
            }
            text
        }
        Err(e) => format!("error: {e}"),
    };
    expect.assert_eq(&got);
}

#[test]
fn goto_output_reference() {
    goto(&digits_at("split\"", 0), expect!["403:17 `split`"]);
}

#[test]
fn goto_step_in_reference() {
    goto(&digits_at("prepare.outputs", 0), expect!["182:11 `prepare`"]);
}

#[test]
fn goto_data() {
    goto(&digits_at("digits\"", 0), expect!["142:8 `digits`"]);
}

#[test]
fn goto_param_placeholder() {
    goto(&digits_at("params.lr", 0), expect!["23:3 `lr`"]);
}

#[test]
fn goto_input_placeholder() {
    goto(&digits_at("inputs.data", 0), expect!["575:23 `data`"]);
}

#[test]
fn goto_script_file() {
    goto(&digits_at("train.py", 0), expect!["file src/train.py"]);
}

#[test]
fn goto_hash_path() {
    goto(&digits_at("common/", 0), expect!["file src/common"]);
}

#[test]
fn goto_environment() {
    goto(&digits_at("sklearn\"", 0), expect!["92:5 `sklearn`"]);
}

#[test]
fn references_of_step() {
    refs(
        "[steps.a$0]\noutputs = [\"o\"]\ncommand = [\"x\", \"${outputs.o}\"]\n[steps.a.env]\nX = \"1\"\n[steps.b]\ncommand = [\"y\", \"${inputs.i}\"]\ninputs = { i = \"steps.a.outputs.o\" }\n",
        expect![[r#"
            [steps.«a»]
            outputs = ["o"]
            command = ["x", "${outputs.o}"]
            [steps.«a».env]
            X = "1"
            [steps.b]
            command = ["y", "${inputs.i}"]
            inputs = { i = "steps.«a».outputs.o" }
        "#]],
    );
}

#[test]
fn references_of_output() {
    refs(
        "[steps.a]\noutputs = [\"o$0\"]\ncommand = [\"x\", \"${outputs.o}\"]\n[steps.b]\ncommand = [\"y\", \"${inputs.i}\"]\ninputs = { i = \"steps.a.outputs.o\" }\n",
        expect![[r#"
            [steps.a]
            outputs = ["«o»"]
            command = ["x", "${outputs.«o»}"]
            [steps.b]
            command = ["y", "${inputs.i}"]
            inputs = { i = "steps.a.outputs.«o»" }
        "#]],
    );
}

#[test]
fn rename_step_everywhere() {
    rename(
        &digits_at("prepare]", 0),
        "split_data",
        expect![[r#"
        [parameters]
        seed = 42
        lr = { default = 0.5, description = "learning rate" }

        [environments.sklearn]
        requirements = "requirements.txt"

        [data.digits]
        path = "raw/digits.csv"

        [steps.split_data]
        script = "prepare.py"
        source_directory = "src"
        environment = "sklearn"
        arguments = ["--raw", "${inputs.raw}", "--out", "${outputs.split}", "--seed", "${params.seed}"]
        inputs = { raw = "data.digits" }
        outputs = ["split"]

        [steps.train]
        script = "train.py"
        source_directory = "src"
        arguments = ["--data", "${inputs.data}", "--model", "${outputs.model}", "--lr=${params.lr}"]
        inputs = { data = "steps.split_data.outputs.split" }
        outputs = ["model"]
        hash_paths = ["common/"]
    "#]],
    );
}

#[test]
fn rename_output_from_placeholder() {
    rename(
        &digits_at("outputs.split", 0),
        "parts",
        expect![[r#"
        [parameters]
        seed = 42
        lr = { default = 0.5, description = "learning rate" }

        [environments.sklearn]
        requirements = "requirements.txt"

        [data.digits]
        path = "raw/digits.csv"

        [steps.prepare]
        script = "prepare.py"
        source_directory = "src"
        environment = "sklearn"
        arguments = ["--raw", "${inputs.raw}", "--out", "${outputs.parts}", "--seed", "${params.seed}"]
        inputs = { raw = "data.digits" }
        outputs = ["parts"]

        [steps.train]
        script = "train.py"
        source_directory = "src"
        arguments = ["--data", "${inputs.data}", "--model", "${outputs.model}", "--lr=${params.lr}"]
        inputs = { data = "steps.prepare.outputs.parts" }
        outputs = ["model"]
        hash_paths = ["common/"]
    "#]],
    );
}

#[test]
fn rename_parameter() {
    rename(
        &digits_at("lr =", 0),
        "learning_rate",
        expect![[r#"
        [parameters]
        seed = 42
        learning_rate = { default = 0.5, description = "learning rate" }

        [environments.sklearn]
        requirements = "requirements.txt"

        [data.digits]
        path = "raw/digits.csv"

        [steps.prepare]
        script = "prepare.py"
        source_directory = "src"
        environment = "sklearn"
        arguments = ["--raw", "${inputs.raw}", "--out", "${outputs.split}", "--seed", "${params.seed}"]
        inputs = { raw = "data.digits" }
        outputs = ["split"]

        [steps.train]
        script = "train.py"
        source_directory = "src"
        arguments = ["--data", "${inputs.data}", "--model", "${outputs.model}", "--lr=${params.learning_rate}"]
        inputs = { data = "steps.prepare.outputs.split" }
        outputs = ["model"]
        hash_paths = ["common/"]
    "#]],
    );
}

#[test]
fn rename_data_reference() {
    rename(
        &digits_at("data.digits\"", 0),
        "images",
        expect![[r#"
        [parameters]
        seed = 42
        lr = { default = 0.5, description = "learning rate" }

        [environments.sklearn]
        requirements = "requirements.txt"

        [data.images]
        path = "raw/digits.csv"

        [steps.prepare]
        script = "prepare.py"
        source_directory = "src"
        environment = "sklearn"
        arguments = ["--raw", "${inputs.raw}", "--out", "${outputs.split}", "--seed", "${params.seed}"]
        inputs = { raw = "data.images" }
        outputs = ["split"]

        [steps.train]
        script = "train.py"
        source_directory = "src"
        arguments = ["--data", "${inputs.data}", "--model", "${outputs.model}", "--lr=${params.lr}"]
        inputs = { data = "steps.prepare.outputs.split" }
        outputs = ["model"]
        hash_paths = ["common/"]
    "#]],
    );
}

#[test]
fn rename_input() {
    rename(
        &digits_at("raw =", 0),
        "source",
        expect![[r#"
        [parameters]
        seed = 42
        lr = { default = 0.5, description = "learning rate" }

        [environments.sklearn]
        requirements = "requirements.txt"

        [data.digits]
        path = "raw/digits.csv"

        [steps.prepare]
        script = "prepare.py"
        source_directory = "src"
        environment = "sklearn"
        arguments = ["--raw", "${inputs.source}", "--out", "${outputs.split}", "--seed", "${params.seed}"]
        inputs = { source = "data.digits" }
        outputs = ["split"]

        [steps.train]
        script = "train.py"
        source_directory = "src"
        arguments = ["--data", "${inputs.data}", "--model", "${outputs.model}", "--lr=${params.lr}"]
        inputs = { data = "steps.prepare.outputs.split" }
        outputs = ["model"]
        hash_paths = ["common/"]
    "#]],
    );
}

#[test]
fn rename_rejects_bad_and_taken_names() {
    rename(
        &digits_at("prepare]", 0),
        "1bad",
        expect![
            "error: `1bad` is not a valid name: letters, digits, `_` and `-`, starting with a letter or `_`"
        ],
    );
    rename(
        &digits_at("prepare]", 0),
        "train",
        expect!["error: a step named `train` already exists"],
    );
}

#[test]
fn rename_inside_escaped_literal_rewrites_it() {
    rename(
        "[parameters]\nlr = 1\n[steps.a]\ncommand = [\"x\", \"\\t${params.lr$0}\"]\n",
        "rate",
        expect![[r#"
            [parameters]
            rate = 1
            [steps.a]
            command = ["x", "\t${params.rate}"]
        "#]],
    );
}
