//! A step reading the outputs of many steps: its copies of them are laid out as each upstream
//! step finishes (`copy_ahead`, from four upstream steps on), it reads exactly what they
//! wrote, and no copy outlives the build.

use crate::support::Project;

/// Five producers (`p3` runs a script, to make it fail), each writing `v.txt`; `agg` joins
/// them in order.
fn fan_in_toml() -> String {
    let mut toml = String::from("[parameters]\nv = \"a\"\n");
    for k in [1, 2, 4, 5] {
        toml += &format!(
            "\n[steps.p{k}]\ncommand = [\"sh\", \"-c\", \"echo $1{k} > \\\"$0/v.txt\\\"\", \
             \"${{outputs.out}}\", \"${{params.v}}\"]\noutputs = [\"out\"]\n"
        );
    }
    toml += "\n[steps.p3]\nscript = \"p3.sh\"\narguments = [\"${outputs.out}\", \"${params.v}\"]\n\
             outputs = [\"out\"]\n";
    toml += r#"
[steps.agg]
command = ["sh", "-c", "cat \"$1/v.txt\" \"$2/v.txt\" \"$3/v.txt\" \"$4/v.txt\" \"$5/v.txt\" > \"$0/all.txt\"",
           "${outputs.out}", "${inputs.a}", "${inputs.b}", "${inputs.c}", "${inputs.d}", "${inputs.e}"]
inputs = { a = "steps.p1.outputs.out", b = "steps.p2.outputs.out", c = "steps.p3.outputs.out", d = "steps.p4.outputs.out", e = "steps.p5.outputs.out" }
outputs = ["out"]
"#;
    toml
}

const P3: &str = "echo \"$2\"3 > \"$1/v.txt\"\n";

#[test]
fn a_step_reading_many_outputs_gets_each_as_its_upstream_wrote_it() {
    let p = Project::with(&[("pipeline.toml", &fan_in_toml()), ("p3.sh", P3)]);
    let b = p.build(&[]);
    b.assert_code(0);
    assert_eq!(b.step("agg").status, "ran");
    assert_eq!(p.output("agg", "out", "all.txt"), "a1\na2\na3\na4\na5\n");
    // The copies went to the trash with the build's other input copies.
    assert!(!p.state().join(format!("runs/{}/inputs", b.run_id())).exists());
    let binned = p.state().join(format!("trash/{}-inputs/agg.c/v.txt", b.run_id()));
    assert_eq!(std::fs::read_to_string(binned).unwrap(), "a3\n");

    // One producer changes: it runs, the others are reused, `agg` reads the new output.
    p.write("p3.sh", "echo \"$2\"33 > \"$1/v.txt\"\n");
    let b = p.build(&[]);
    b.assert_code(0);
    assert_eq!(b.step("p3").status, "ran");
    assert_eq!(b.step("p1").status, "reused");
    assert_eq!(b.step("agg").status, "ran");
    assert_eq!(p.output("agg", "out", "all.txt"), "a1\na2\na33\na4\na5\n");

    // Every producer runs again (a new parameter) and gives `agg` new outputs.
    let b = p.build(&["--param", "v=b"]);
    b.assert_code(0);
    assert_eq!(p.output("agg", "out", "all.txt"), "b1\nb2\nb33\nb4\nb5\n");
}

/// The producers run and lay out their copies for `agg`, but `p3` fails and `agg` is skipped:
/// the copies made for it are discarded, not left in the run's folder.
#[test]
fn copies_laid_out_for_a_step_that_is_skipped_are_discarded() {
    let p = Project::with(&[("pipeline.toml", &fan_in_toml()), ("p3.sh", "exit 3\n")]);
    let b = p.build(&[]);
    b.assert_code(1);
    assert_eq!(b.step("p3").status, "failed");
    assert_eq!(b.step("agg").status, "skipped");
    for k in [1, 2, 4, 5] {
        assert_eq!(b.step(&format!("p{k}")).status, "ran");
    }
    assert!(!p.state().join(format!("runs/{}/inputs", b.run_id())).exists());
    let binned = p.state().join(format!("trash/{}-agg.a/v.txt", b.run_id()));
    assert_eq!(std::fs::read_to_string(binned).unwrap(), "a1\n");
}
