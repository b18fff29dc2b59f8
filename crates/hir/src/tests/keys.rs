//! Step key fields: what goes in, and what stays out.

use expect_test::expect;

use crate::tests::load;
use crate::{KeySlot, SourceFile, StepKeyFields, find_step, step_key_fields};

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
            schema: 2,
            script: Some(
                (
                    "train.py",
                    75c9e7fd353e74255efd61f2c2f784d4f835dd5877a0e5d5ccdb91a83f477d69,
                ),
            ),
            modules: [],
            sources: [
                (
                    "train.py",
                    cc42155088fca5730758db72b2a5bca33112a941dfaa2d43098ec422ce4ea213,
                ),
            ],
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

/// `step_key_paths` names exactly the paths whose digests `step_key_fields` reads, slot by
/// slot: a caller substitutes a changed path's digest where it says, and must get the fields
/// the query would compute.
#[test]
fn key_paths_name_where_each_digest_comes_from() {
    let (mut db, file, _) = load(
        r#"
//- /pipeline.toml
[environments.py]
requirements = "req.txt"
[data.raw]
path = "raw.csv"
[steps.train]
script = "train.py"
source_directory = "src"
environment = "py"
arguments = ["${inputs.d}", "${outputs.m}"]
inputs = { d = "data.raw" }
outputs = ["m"]
hash_paths = ["./lib/", "more.py"]
//- /req.txt
numpy
//- /raw.csv
1
//- /src/train.py
print(1)
//- /src/more.py
//- /src/lib/u.py
"#,
    );
    let item = find_step(&db, file, "train").unwrap();
    let paths = crate::step_key_paths(&db, file, item).unwrap();
    let fields = step_key_fields(&db, file, item).clone().unwrap();
    let state = |p: &str| match crate::Db::fs_entry(&db, p).state(&db) {
        crate::FsState::File(d) | crate::FsState::Dir(Some(d)) => d,
        other => panic!("{p}: {other:?}"),
    };
    let mut seen = 0;
    for (slot, path) in &paths {
        match slot {
            KeySlot::Script => assert_eq!(fields.script.as_ref().unwrap().1, state(path)),
            KeySlot::HashPath(i) => assert_eq!(fields.hash_paths[*i as usize].1, state(path)),
            KeySlot::Data(input) => {
                let d = fields.data_inputs.iter().find(|(n, _, _)| n == input).unwrap().2;
                assert_eq!(d, state(path));
            }
            KeySlot::Environment => assert_eq!(path, "req.txt"),
            // Keyed by its tokens: not the digest of its bytes.
            KeySlot::Python => {
                assert_eq!(path, "src/train.py");
                assert_ne!(fields.script.as_ref().unwrap().1, state(path));
            }
        }
        seen += 1;
    }
    assert_eq!(seen, 1 + 2 + 1 + 1, "{paths:?}");
    // Every digest the fields hold changes with the path named for it, and with no other.
    let before = fields;
    db.set_fs_state("src/more.py", crate::FsState::File(crate::Digest::of_bytes(b"x")));
    let item = find_step(&db, file, "train").unwrap();
    let after = step_key_fields(&db, file, item).clone().unwrap();
    assert_eq!(after.hash_paths[1].1, crate::Digest::of_bytes(b"x"));
    assert_eq!(StepKeyFields { hash_paths: before.hash_paths.clone(), ..after }, before);
}
