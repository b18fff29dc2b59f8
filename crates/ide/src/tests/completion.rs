//! Completion: keys, reference targets, placeholders and names valid at the cursor.

use expect_test::{Expect, expect};

use super::{digits_at, load};

#[track_caller]
fn check(fixture: &str, expect: Expect) {
    let fx = load(fixture);
    let items = crate::completions(&fx.db, fx.file, fx.offset);
    let got: Vec<String> = items
        .iter()
        .map(|c| {
            format!(
                "{:?} {} [{}] → {:?}{}",
                c.kind,
                c.label,
                &fx.text()[c.replace.range()],
                c.insert,
                c.detail.as_ref().map(|d| format!("  ({d})")).unwrap_or_default()
            )
        })
        .collect();
    expect.assert_eq(&got.join("\n"));
}

#[test]
fn keys_not_yet_present() {
    check(
        "[steps.a]\nscript = \"a.py\"\nou$0\n",
        expect![[r#"
            Key command [ou] → "command = "  (array of strings, numbers or booleans)
            Key source_directory [ou] → "source_directory = "  (string)
            Key arguments [ou] → "arguments = "  (array of strings, numbers or booleans)
            Key inputs [ou] → "inputs = "  (table of strings)
            Key outputs [ou] → "outputs = "  (array of strings)
            Key hash_paths [ou] → "hash_paths = "  (array of strings)
            Key environment [ou] → "environment = "  (string)
            Key compute [ou] → "compute = "  (string)
            Key allow_reuse [ou] → "allow_reuse = "  (boolean)
            Key track_imports [ou] → "track_imports = "  (boolean)
            Key normalize_script [ou] → "normalize_script = "  (boolean)
            Key trace_reads [ou] → "trace_reads = "  (boolean)
            Key timeout [ou] → "timeout = "  (integer)
            Key env [ou] → "env = "  (table of strings)
            Key description [ou] → "description = "  (string)"#]],
    );
}

#[test]
fn keys_of_pipeline_table() {
    check(
        "[pipeline]\nname = \"x\"\n$0\n",
        expect![[r#"
            Key description [] → "description = "  (string)
            Key experiment [] → "experiment = "  (string)
            Key track_imports [] → "track_imports = "  (boolean)
            Key normalize_script [] → "normalize_script = "  (boolean)
            Key trace_reads [] → "trace_reads = "  (boolean)
            Key strict_reads [] → "strict_reads = "  (boolean)"#]],
    );
}

#[test]
fn table_names_in_header() {
    check(
        "[st$0",
        expect![[r#"
            Table pipeline [st] → "pipeline"  ([pipeline])
            Table parameters [st] → "parameters"  ([parameters])
            Table environments [st] → "environments."  ([environments.NAME])
            Table datastores [st] → "datastores."  ([datastores.NAME])
            Table data [st] → "data."  ([data.NAME])
            Table compute [st] → "compute."  ([compute.NAME])
            Table steps [st] → "steps."  ([steps.NAME])
            Table cache [st] → "cache"  ([cache])"#]],
    );
}

#[test]
fn data_references() {
    check(
        &digits_at("digits\" }", 0).replace("$0digits", "$0"),
        expect![[r#"Data data.digits [data.] → "data.digits"  (raw/digits.csv)"#]],
    );
}

#[test]
fn step_output_references() {
    check(
        "[steps.a]\noutputs = [\"x\", \"y\"]\n[steps.b]\ninputs = { i = \"steps.a.outputs.$0\" }\n",
        expect![[r#"
            Output steps.a.outputs.x [steps.a.outputs.] → "steps.a.outputs.x"  (output of step a)
            Output steps.a.outputs.y [steps.a.outputs.] → "steps.a.outputs.y"  (output of step a)"#]],
    );
}

#[test]
fn empty_input_offers_every_reference() {
    check(
        &digits_at("steps.prepare.outputs.split\"", 0)
            .replace("$0steps.prepare.outputs.split", "$0"),
        expect![[r#"
        Data data.digits [] → "data.digits"  (raw/digits.csv)
        Output steps.prepare.outputs.split [] → "steps.prepare.outputs.split"  (output of step prepare)"#]],
    );
}

#[test]
fn placeholder_kinds() {
    check(
        "[steps.a]\narguments = [\"${$0\"]\n",
        expect![[r#"
        Placeholder inputs. [] → "inputs."
        Placeholder outputs. [] → "outputs."
        Placeholder params. [] → "params.""#]],
    );
}

#[test]
fn placeholder_inputs_of_this_step_only() {
    check(
        &digits_at("inputs.data", 0).replace("$0inputs.data}", "inputs.$0"),
        expect![[r#"Input data [] → "data}"  (input steps.prepare.outputs.split)"#]],
    );
}

#[test]
fn placeholder_outputs_before_closing_brace() {
    check(
        &digits_at("outputs.model}", 0).replace("$0outputs.model}", "outputs.m$0}"),
        expect![[r#"Output model [m] → "model"  (output output folder)"#]],
    );
}

#[test]
fn placeholder_params() {
    check(
        "[parameters]\nlr = 0.1\nseed = 1\n[steps.a]\narguments = [\n  \"--lr=${params.$0\",\n]\n",
        expect![[r#"
            Parameter lr [] → "lr}"  (parameter = 0.1)
            Parameter seed [] → "seed}"  (parameter = 1)"#]],
    );
}

#[test]
fn environment_names_in_string() {
    check(
        "[environments.sk]\n[environments.torch]\n[steps.a]\nenvironment = \"$0\"\n",
        expect![[r#"
        Named sk [] → "sk"  (environment)
        Named torch [] → "torch"  (environment)"#]],
    );
}

#[test]
fn compute_names_unquoted() {
    check(
        "[compute.gpu]\nkind = \"local\"\n[steps.a]\ncompute = $0\n",
        expect![[r#"
        Named gpu [] → "\"gpu\""  (compute target)
        Named local [] → "\"local\""  (compute target)"#]],
    );
}

#[test]
fn booleans() {
    check("[steps.a]\nallow_reuse = f$0\n", expect![[""]]);
}

#[test]
fn nothing_in_comments() {
    check("[steps.a]\n# scr$0\n", expect![[""]]);
}
