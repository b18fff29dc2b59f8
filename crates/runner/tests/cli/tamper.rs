//! A step that writes into another step's output view (which shares the stored blob's
//! inode) never leads to a result computed from, or a view showing, bytes other than the
//! ones a key names: readers refuse the damaged blob, the build fails naming the file and
//! the step that wrote it, and the next build recovers.

use crate::support::Project;

/// `a` writes a model; `vandal` (once, while `vandal.flag` exists) waits for `a`'s view (it
/// appears once `a`'s result is committed) and overwrites the model through it; `reader` reads `a`'s model, after `vandal` when `gate` is set.
fn vandal_project(gate: bool) -> Project {
    let (reader_inputs, args) = if gate {
        (r#"{ m = "steps.a.outputs.o", gate = "steps.vandal.outputs.o" }"#, r#""${inputs.gate}""#)
    } else {
        (r#"{ m = "steps.a.outputs.o" }"#, r#""-""#)
    };
    let p = Project::new();
    p.write("vandal.flag", "");
    p.write(
        "pipeline.toml",
        &format!(
            r#"
[parameters]
root = "."

[steps.a]
command = ["sh", "-c", "echo original > \"$0/model.txt\"", "${{outputs.o}}"]
outputs = ["o"]

[steps.vandal]
command = ["sh", "-c", "if [ -e \"$1/vandal.flag\" ]; then rm \"$1/vandal.flag\"; v=\"$1/.runner/outputs/a.o/model.txt\"; i=0; while [ ! -e \"$v\" ] && [ $i -lt 100 ]; do sleep 0.02; i=$((i+1)); done; chmod u+w \"$1/.runner/outputs/a.o/model.txt\"; echo TAMPERED > \"$1/.runner/outputs/a.o/model.txt\"; fi; echo v > \"$0/v.txt\"", "${{outputs.o}}", "${{params.root}}", "${{inputs.after}}"]
inputs = {{ after = "steps.a.outputs.o" }}
outputs = ["o"]

[steps.reader]
command = ["sh", "-c", "echo read: $(cat \"$1/model.txt\") > \"$0/r.txt\"", "${{outputs.o}}", "${{inputs.m}}", {args}]
inputs = {reader_inputs}
outputs = ["o"]
"#
        ),
    );
    p
}

#[test]
fn a_reader_after_the_vandal_refuses_the_damaged_output() {
    let p = vandal_project(true);
    let root = format!("root={}", p.root().display());
    let b = p.build(&["--param", &root]);
    b.assert_code(1)
        .assert_steps(&[("a", "ran"), ("vandal", "failed"), ("reader", "failed")])
        .assert_reason("reader", "input m: output o of step a was changed after a stored it")
        .assert_reason("vandal", "wrote into");
    assert!(b.run.stderr.contains("a.o/model.txt"), "{}", b.run.transcript());
    // The damaged result is not reused: `a` runs again, and so does `vandal` (its entry went).
    let b = p.build(&["--param", &root]);
    b.assert_code(0)
        .assert_steps(&[("a", "ran"), ("vandal", "ran"), ("reader", "ran")])
        .assert_reason("a", "corrupt");
    assert_eq!(p.output("reader", "o", "r.txt"), "read: original\n");
    assert_eq!(p.output("a", "o", "model.txt"), "original\n");
    p.build(&["--param", &root]).assert_code(0).assert_steps(&[
        ("a", "reused"),
        ("vandal", "reused"),
        ("reader", "reused"),
    ]);
    assert_eq!(p.output("a", "o", "model.txt"), "original\n");
}

#[test]
fn a_damage_no_reader_saw_still_fails_the_build() {
    let p = vandal_project(false);
    let root = format!("root={}", p.root().display());
    let b = p.build(&["--param", &root, "-j", "1"]);
    b.assert_code(1);
    assert_eq!(b.step("vandal").status, "failed", "{}", b.run.transcript());
    let said = "output o was written into after a stored it, while vandal ran";
    assert!(b.run.stderr.contains(said), "{}", b.run.transcript());
    // What the reader computed came from intact bytes whenever it ran; the next build runs
    // `a` again and leaves the views right.
    let b = p.build(&["--param", &root]);
    b.assert_code(0);
    assert_eq!(b.step("a").status, "ran", "{}", b.run.transcript());
    assert_eq!(p.output("a", "o", "model.txt"), "original\n");
    assert_eq!(p.output("reader", "o", "r.txt"), "read: original\n");
}
