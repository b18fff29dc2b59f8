//! The JSON Schema (draft-07) of `pipeline.toml`, printed by `runner schema` and committed as
//! `docs/pipeline.schema.json` for editors (VS Code's Even Better TOML, taplo).
//!
//! It is generated from [`hir::schema::TABLES`], the table the checker checks keys against,
//! so the two cannot disagree about which keys exist, their types or which are required.
//! The schema is built by hand with `serde_json::json!`: schemars derives schemas from Rust
//! types, and the format's keys are data here, not types.
//!
//! The schema is deliberately no stricter than the checker: it rejects unknown keys, wrong
//! types, missing required keys and invalid names, and leaves references, paths and
//! placeholders to `runner check`.

use hir::schema::{KeySpec, TABLES, TableSpec, Ty};
use serde_json::{Map, Value, json};
use syntax::Value as Toml;

/// Names of steps, outputs, inputs, parameters and other items
/// (`hir::diagnostics::invalid_name::is_valid`).
const NAME_PATTERN: &str = "^[A-Za-z_][A-Za-z0-9_-]*$";
/// Environment variable names (`hir::diagnostics::invalid_name::is_valid_env`).
const ENV_NAME_PATTERN: &str = "^[A-Za-z_][A-Za-z0-9_]*$";

/// The schema of `pipeline.toml`.
pub(crate) fn json_schema() -> Value {
    let properties: Map<String, Value> =
        TABLES.iter().map(|t| (t.name.to_owned(), table_schema(t))).collect();
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "urn:runner:pipeline-format:v1",
        "title": "pipeline.toml",
        "description": "A pipeline for `runner` (format v1): parameters, environments, datastores, data references, compute targets and steps. Generated from crates/hir/src/schema.rs; see docs/pipeline-format.md. `runner check` checks what a schema cannot: references, paths, placeholders and cycles.",
        "type": "object",
        "properties": properties,
        "additionalProperties": false,
    })
}

/// The schema of a top-level table: one object, or (for `named` tables and `[parameters]`)
/// an object of them keyed by name.
fn table_schema(t: &TableSpec) -> Value {
    let examples = table_examples(t);
    if t.name == "parameters" {
        let mut s = json!({
            "type": "object",
            "description": t.doc,
            "propertyNames": { "pattern": NAME_PATTERN },
            "additionalProperties": parameter_schema(t),
        });
        insert_examples(&mut s, examples);
        return s;
    }
    let mut item = item_schema(t);
    if !t.named {
        insert_examples(&mut item, examples);
        return item;
    }
    insert_examples(&mut item, examples);
    json!({
        "type": "object",
        "description": t.doc,
        "propertyNames": { "pattern": NAME_PATTERN },
        "additionalProperties": item,
    })
}

/// One `[pipeline]`, `[steps.NAME]`, … table.
fn item_schema(t: &TableSpec) -> Value {
    let properties: Map<String, Value> =
        t.keys.iter().map(|k| (k.name.to_owned(), key_schema(t, k))).collect();
    let required: Vec<&str> = t.keys.iter().filter(|k| k.required).map(|k| k.name).collect();
    let mut s = json!({
        "type": "object",
        "description": t.doc,
        "properties": properties,
        "additionalProperties": false,
    });
    if !required.is_empty() {
        s["required"] = json!(required);
    }
    if t.name == "steps" {
        // `missing-script` and `script-and-command`: exactly one of the two.
        s["oneOf"] = json!([
            { "required": ["script"] },
            { "required": ["command"] },
        ]);
    }
    s
}

/// A parameter: `NAME = VALUE` or `NAME = { default = VALUE, description = "…" }`.
fn parameter_schema(t: &TableSpec) -> Value {
    let mut long = item_schema(t);
    long["description"] = json!("The long form: a default and a description.");
    json!({
        "description": "A parameter: `NAME = VALUE` (a string, integer, float or boolean) or `NAME = { default = VALUE, description = \"…\" }`. Steps use it as `${params.NAME}`.",
        "oneOf": [
            {
                "type": ["string", "number", "boolean"],
                "description": "The short form: the default value.",
            },
            long,
        ],
    })
}

/// One key: its type, meaning, default and example.
fn key_schema(t: &TableSpec, k: &KeySpec) -> Value {
    let mut s = match k.ty {
        Ty::String => json!({ "type": "string" }),
        Ty::Integer => json!({ "type": "integer" }),
        Ty::Bool => json!({ "type": "boolean" }),
        Ty::StringArray => json!({ "type": "array", "items": { "type": "string" } }),
        Ty::ArgArray => {
            json!({ "type": "array", "items": { "type": ["string", "number", "boolean"] } })
        }
        Ty::StringTable => {
            json!({ "type": "object", "additionalProperties": { "type": "string" } })
        }
        Ty::Scalar => json!({ "type": ["string", "number", "boolean"] }),
    };
    match (t.name, k.name) {
        ("steps", "inputs") => s["propertyNames"] = json!({ "pattern": NAME_PATTERN }),
        ("steps", "outputs") => {
            let stored = json!({
                "type": "object",
                "properties": {
                    "name": { "type": "string", "pattern": NAME_PATTERN },
                    "datastore": { "type": "string" },
                },
                "required": ["name", "datastore"],
                "additionalProperties": false,
            });
            s["items"] =
                json!({ "anyOf": [{ "type": "string", "pattern": NAME_PATTERN }, stored] });
            s["uniqueItems"] = json!(true);
        }
        // Numbers and booleans are accepted as their text (`OMP_NUM_THREADS = 1`).
        ("steps", "env") => {
            s["propertyNames"] = json!({ "pattern": ENV_NAME_PATTERN });
            s["additionalProperties"] = json!({ "type": ["string", "number", "boolean"] });
        }
        _ => {}
    }
    s["description"] = json!(k.doc);
    // Defaults are TOML text, or prose ("the number of CPUs") that no value can say.
    if let Some(d) = k.default.and_then(|d| toml_value(&format!("v = {d}\n"), &["v"])) {
        s["default"] = d;
    }
    // An example is a line `KEY = VALUE`; the parameters' examples name a parameter instead.
    if let Some(e) = toml_value(k.example, &[k.name]) {
        s["examples"] = json!([e]);
    }
    s
}

/// The table's example as instances of the schema [`table_schema`] puts `examples` on:
/// the named items for a named table, else the table itself.
fn table_examples(t: &TableSpec) -> Vec<Value> {
    match toml_value(t.example, &[t.name]) {
        Some(Value::Object(items)) if t.named => items.into_iter().map(|(_, v)| v).collect(),
        Some(v) => vec![v],
        None => Vec::new(),
    }
}

fn insert_examples(schema: &mut Value, examples: Vec<Value>) {
    if !examples.is_empty() {
        schema["examples"] = Value::Array(examples);
    }
}

/// The value at `path` in TOML `text`, as JSON; `None` when the text does not parse or has
/// anything besides that path.
fn toml_value(text: &str, path: &[&str]) -> Option<Value> {
    let parse = syntax::parse(text);
    if !parse.errors.is_empty() {
        return None;
    }
    let mut table = &parse.root;
    let (last, parents) = path.split_last()?;
    for key in parents {
        let [entry] = table.entries.as_slice() else { return None };
        let Toml::Table(t) = &entry.node.value else { return None };
        if entry.key != *key {
            return None;
        }
        table = t;
    }
    match table.entries.as_slice() {
        [entry] if entry.key == *last => to_json(&entry.node.value),
        _ => None,
    }
}

fn to_json(v: &Toml) -> Option<Value> {
    Some(match v {
        Toml::String(s) | Toml::Datetime(s) => json!(s),
        Toml::Integer(i, _) => json!((*i)?),
        Toml::Float(text) => {
            Value::Number(serde_json::Number::from_f64(text.replace('_', "").parse().ok()?)?)
        }
        Toml::Bool(b) => json!(b),
        Toml::Array(items) => {
            Value::Array(items.iter().map(|n| to_json(&n.value)).collect::<Option<_>>()?)
        }
        Toml::Table(t) => Value::Object(
            t.entries
                .iter()
                .map(|e| Some((e.key.clone(), to_json(&e.node.value)?)))
                .collect::<Option<_>>()?,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validator() -> jsonschema::Validator {
        jsonschema::draft7::new(&json_schema()).expect("the schema is a valid draft-07 schema")
    }

    /// Pipeline text as JSON, as an editor extension sees it.
    fn instance(text: &str) -> Value {
        toml::from_str(text).expect("valid TOML")
    }

    fn errors(text: &str) -> Vec<String> {
        let v = validator();
        let doc = instance(text);
        v.iter_errors(&doc).map(|e| format!("{}: {e}", e.instance_path())).collect()
    }

    /// `docs/pipeline.schema.json` is what `runner schema` prints.
    /// `UPDATE_EXPECT=1 cargo test -p runner schema` rewrites it.
    #[test]
    fn schema_file_is_current() {
        let text = serde_json::to_string_pretty(&json_schema()).unwrap() + "\n";
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/pipeline.schema.json");
        expect_test::expect_file![path].assert_eq(&text);
    }

    #[test]
    fn schema_is_valid_draft_07() {
        jsonschema::meta::validate(&json_schema()).unwrap();
    }

    #[test]
    fn example_pipeline_is_valid() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/digits/pipeline.toml");
        let text = std::fs::read_to_string(path).unwrap();
        assert_eq!(errors(&text), Vec::<String>::new());
    }

    /// Every default and example in the spec is valid where it stands, and the prose
    /// defaults are the only ones left out.
    #[test]
    fn spec_defaults_and_examples_are_valid() {
        let schema = json_schema();
        let v = validator();
        let mut checked = 0;
        for t in TABLES {
            let table = &schema["properties"][t.name];
            for ex in table_examples(t) {
                let doc = if t.named {
                    json!({ t.name: { "example": ex } })
                } else {
                    json!({ t.name: ex })
                };
                assert!(v.is_valid(&doc), "{}: example {ex}", t.name);
                checked += 1;
            }
            let keys = if t.named { &table["additionalProperties"] } else { table };
            for k in t.keys {
                let key = if t.name == "parameters" {
                    &table["additionalProperties"]["oneOf"][1]["properties"][k.name]
                } else {
                    &keys["properties"][k.name]
                };
                let key_validator = jsonschema::draft7::new(key).unwrap();
                for value in key
                    .get("default")
                    .into_iter()
                    .chain(key["examples"].as_array().into_iter().flatten())
                {
                    assert!(key_validator.is_valid(value), "{}.{}: {value}", t.name, k.name);
                    checked += 1;
                }
                if let Some(d) = k.default
                    && key.get("default").is_none()
                {
                    assert!(
                        d.starts_with("the "),
                        "{}.{}: default `{d}` is not TOML",
                        t.name,
                        k.name
                    );
                }
            }
        }
        assert!(checked > 20, "only {checked} values checked");
    }

    #[test]
    fn invalid_pipelines_are_rejected() {
        let cases = [
            // An unknown key in a step, and `outputs` not an array.
            ("[steps.a]\nscript = \"a.py\"\nouputs = [\"x\"]\n", "/steps/a"),
            ("[steps.a]\nscript = \"a.py\"\noutputs = \"x\"\n", "/steps/a/outputs"),
            ("[steps.a]\noutputs = [\"x\"]\n", "/steps/a"),
            ("[steps.a]\nscript = \"a.py\"\ncommand = [\"true\"]\n", "/steps/a"),
            ("[steps.a]\nscript = \"a.py\"\noutputs = [\"x\", \"x\"]\n", "/steps/a/outputs"),
            ("[steps.a]\nscript = \"a.py\"\nenv = { \"A-B\" = \"1\" }\n", "/steps/a/env"),
            ("[steps.\"1a\"]\nscript = \"a.py\"\n", "/steps"),
            ("[steps.a]\nscript = \"a.py\"\nallow_reuse = \"no\"\n", "/steps/a/allow_reuse"),
            ("[pipline]\nname = \"x\"\n", ""),
            ("[parameters]\nlr = { description = \"no default\" }\n", "/parameters/lr"),
            ("[parameters]\nlr = [1, 2]\n", "/parameters/lr"),
            ("[data.raw]\ndatastore = \"workspace\"\n", "/data/raw"),
            ("[compute.local]\nmax_nodes = \"2\"\n", "/compute/local/max_nodes"),
        ];
        for (text, at) in cases {
            let errors = errors(text);
            assert!(!errors.is_empty(), "accepted:\n{text}");
            assert!(
                errors.iter().all(|e| e.starts_with(&format!("{at}: "))),
                "{text}\n{errors:#?}"
            );
        }
    }

    #[test]
    fn valid_variants_are_accepted() {
        let text = r#"
[parameters]
flag = true
name = "x"
lr = { default = 0.1 }
[steps.a]
command = ["sleep", 1, true, 0.5]
env = { OMP_NUM_THREADS = 1, DEBUG = true, NAME = "x" }
[steps.b-2]
script = "b.sh"
inputs = { a_out = "steps.a.outputs.o" }
timeout = 60
"#;
        assert_eq!(errors(text), Vec::<String>::new());
    }

    /// The name patterns say what the checker's name rules say.
    #[test]
    fn name_patterns_match_the_checker() {
        use hir::diagnostics::invalid_name::{is_valid, is_valid_env};
        let name = regex_like(NAME_PATTERN);
        let env = regex_like(ENV_NAME_PATTERN);
        for s in ["a", "_", "A1", "a-b", "a_b", "1a", "-a", "a.b", "a b", "", "é", "a-", "Z9_-"] {
            assert_eq!(name(s), is_valid(s), "{s:?}");
            assert_eq!(env(s), is_valid_env(s), "{s:?}");
        }
    }

    /// The pattern as the validator runs it.
    fn regex_like(pattern: &str) -> impl Fn(&str) -> bool {
        let v = jsonschema::draft7::new(&json!({ "type": "string", "pattern": pattern })).unwrap();
        move |s| v.is_valid(&json!(s))
    }
}
