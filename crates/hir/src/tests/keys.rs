//! Step key fields: what goes in, and what stays out.

use expect_test::expect;

use crate::tests::load;
use crate::{SourceFile, find_step, step_key_fields};

#[test]
fn key_fields_of_a_step() {
    let (db, file, _) = load(
        r#"
//- /pipeline.toml
[parameters]
lr = { default = 0.10 }
unused_here = 1
[environments.py]
requirements = "req.txt"
[data.raw]
path = "raw.csv"
[steps.prep]
command = ["cp", "${inputs.raw}", "${outputs.o}/x"]
inputs = { raw = "data.raw" }
outputs = ["o"]
[steps.train]
script = "train.py"
source_directory = "src"
environment = "py"
arguments = ["--lr=${params.lr}", "${inputs.d}", "${outputs.m}", "$${literal}"]
inputs = { d = "steps.prep.outputs.o" }
outputs = ["m"]
hash_paths = ["./lib/"]
env = { SEED = "${params.unused_here}" }
compute = "local"
timeout = 10
//- /req.txt
numpy
//- /raw.csv
1
//- /src/train.py
print(1)
//- /src/lib/u.py
"#,
    );
    let key = step_key_fields(&db, file, find_step(&db, file, "train").unwrap()).clone().unwrap();
    expect![[r#"
        StepKeyFields {
            schema: 1,
            script: Some(
                (
                    "train.py",
                    cc42155088fca5730758db72b2a5bca33112a941dfaa2d43098ec422ce4ea213,
                ),
            ),
            command: None,
            hash_paths: [
                (
                    "lib",
                    ae889be05deebb09f4e5fbae47275cbcb8fb2068bbf3c909a280f131cddf4d4d,
                ),
            ],
            arguments: [
                "--lr=0.1",
                "${inputs.d}",
                "${outputs.m}",
                "${literal}",
            ],
            params: [
                (
                    "lr",
                    "0.1",
                ),
                (
                    "unused_here",
                    "1",
                ),
            ],
            data_inputs: [],
            upstream_inputs: [
                UpstreamInput {
                    input: "d",
                    step: "prep",
                    output: "o",
                },
            ],
            environment: Some(
                (
                    "py",
                    ff0d0a3035273e87b3625e60dd892cfdd59fbfbc3f8844f3c45d74f7c4fd1571,
                ),
            ),
            env_vars: [
                (
                    "SEED",
                    "1",
                ),
            ],
        }
    "#]]
    .assert_debug_eq(&key);
}

#[test]
fn overrides_change_the_key_and_bad_ones_are_reported() {
    let (mut db, file, _) =
        load("[parameters]\nlr = 0.1\n[steps.a]\ncommand = [\"echo\", \"${params.lr}\"]\n");
    use salsa::Setter;
    file.set_overrides(&mut db).to(vec![("lr".into(), "1".into()), ("lrr".into(), "2".into())]);
    let values = crate::param_values(&db, file);
    assert_eq!(values.values["lr"].canonical(), "1.0");
    expect![[r#"
        [
            "--param lrr: the pipeline has no parameter `lrr` (did you mean `lr`?)",
        ]
    "#]]
    .assert_debug_eq(&values.errors);
    file.set_overrides(&mut db).to(vec![("lr".into(), "abc".into())]);
    assert_eq!(
        crate::param_values(&db, file).errors,
        vec!["--param lr=abc: expected a float, found `abc`"]
    );
    let _: SourceFile = file;
}
