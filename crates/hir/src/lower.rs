//! Lowering: an item's syntax → typed data ([`crate::model`]) + the diagnostics that need
//! only the item itself (unknown keys, wrong types, invalid names and values, missing keys).
//!
//! Reads only [`Item::syntax`], so it re-runs only when that item's text changes.

use syntax::{Node, Span, Table, Value};

use crate::compute as hir_compute;
use crate::diagnostics::{
    Diagnostic, duplicate_output, invalid_name, invalid_value, missing_key, missing_script,
    script_and_command, shell_interpolation, unknown_key, wrong_type,
};
use crate::model::*;
use crate::schema::{self, Ty};
use crate::{Db, Item, ItemKind};

/// An item's typed form (per kind) and its own diagnostics (spans relative to the item).
#[derive(Clone, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub struct Lowered {
    /// The typed form; `None` when the item is not even a table.
    pub data: Option<ItemData>,
    /// Diagnostics, relative spans.
    pub diagnostics: Vec<Diagnostic>,
}

/// The typed form of one item.
#[derive(Clone, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
#[allow(missing_docs, clippy::large_enum_variant)] // one per item, never in bulk arrays
pub enum ItemData {
    Pipeline(PipelineMeta),
    Parameter(Parameter),
    Environment(Environment),
    Datastore(Datastore),
    /// `[cache]`.
    Cache(CacheSettings),
    Data(DataRef),
    Compute(Compute),
    Step(Step),
}

impl Lowered {
    /// The step, if this item is one.
    pub fn step(&self) -> Option<&Step> {
        match &self.data {
            Some(ItemData::Step(s)) => Some(s),
            _ => None,
        }
    }
}

/// Lowers one item.
#[salsa::tracked(returns(ref))]
pub fn lower_item<'db>(db: &'db dyn Db, item: Item<'db>) -> Lowered {
    let (node, name_span) = item.syntax(db);
    let node: &Node = node;
    let kind = item.kind(db);
    let name = item.name(db);
    let mut cx = Cx { diags: Vec::new(), kind, name, name_span: *name_span };
    if !kind.is_unnamed() && !invalid_name::is_valid(name) {
        cx.diags.push(invalid_name::new(*name_span, kind.noun(), name));
    }
    let data = if kind == ItemKind::Parameter {
        Some(ItemData::Parameter(lower_parameter(&mut cx, name, node)))
    } else if let Value::Table(table) = &node.value {
        let spec = schema::table(kind.table()).expect("every item kind has a table spec");
        cx.check_keys(table, spec);
        Some(match kind {
            ItemKind::Pipeline => ItemData::Pipeline(PipelineMeta {
                name: cx.string(table, "name").map(|s| s.value),
                description: cx.string(table, "description").map(|s| s.value),
                experiment: cx.string(table, "experiment").map(|s| s.value),
                reuse: lower_switches(&mut cx, table),
                strict_reads: cx.bool(table, "strict_reads"),
            }),
            ItemKind::Environment => {
                let (requirements, python) =
                    (cx.string(table, "requirements"), cx.string(table, "python"));
                ItemData::Environment(Environment {
                    requirements: cx.no_nul(requirements, "requirements"),
                    python: cx.no_nul(python, "python"),
                })
            }
            ItemKind::Datastore => ItemData::Datastore(lower_datastore(&mut cx, table)),
            ItemKind::Data => ItemData::Data(lower_data(&mut cx, table)),
            ItemKind::Compute => ItemData::Compute(lower_compute(&mut cx, table)),
            ItemKind::Step => ItemData::Step(lower_step(&mut cx, name, table)),
            ItemKind::Cache => ItemData::Cache(lower_cache(&mut cx, table)),
            ItemKind::Parameter => unreachable!("handled above"),
        })
    } else {
        cx.diags.push(wrong_type::new(node.span, &cx.path(), "table", node.value.type_name()));
        None
    };
    Lowered { data, diagnostics: cx.diags }
}

struct Cx<'a> {
    diags: Vec<Diagnostic>,
    kind: ItemKind,
    name: &'a str,
    name_span: Span,
}

impl Cx<'_> {
    /// `steps.train`, for messages (made only when a message needs it).
    fn path(&self) -> String {
        match self.kind {
            k if k.is_unnamed() => k.table().to_owned(),
            k => format!("{}.{}", k.table(), self.name),
        }
    }

    fn check_keys(&mut self, table: &Table, spec: &schema::TableSpec) {
        for e in &table.entries {
            if spec.key(&e.key).is_none() {
                let known: Vec<&str> = spec.keys.iter().map(|k| k.name).collect();
                let d = unknown_key::new(e.key_span, &e.key, &self.path(), spec.name, &known);
                self.diags.push(d);
            }
        }
    }

    fn wrong(&mut self, node: &Node, key: &str, ty: Ty) {
        let mut d = wrong_type::new(node.span, key, ty.describe(), node.value.type_name());
        if let (Ty::StringArray, Value::String(s)) = (ty, &node.value) {
            d = d.with_help(format!("write `{key} = [\"{s}\"]`"));
        } else if let Some(k) = schema::table(self.kind.table()).and_then(|t| t.key(key)) {
            d = d.with_help(format!("for example `{}`", k.example));
        }
        self.diags.push(d);
    }

    fn string(&mut self, table: &Table, key: &str) -> Option<Spanned<String>> {
        let e = table.get(key)?;
        match &e.node.value {
            Value::String(s) => Some(Spanned::new(s.clone(), e.node.span)),
            _ => {
                self.wrong(&e.node, key, Ty::String);
                None
            }
        }
    }

    fn bool(&mut self, table: &Table, key: &str) -> Option<bool> {
        let e = table.get(key)?;
        match e.node.value {
            Value::Bool(b) => Some(b),
            _ => {
                self.wrong(&e.node, key, Ty::Bool);
                None
            }
        }
    }

    /// An integer in `min..=max` (`unit` follows the range in messages: ` seconds`).
    fn integer(
        &mut self,
        table: &Table,
        key: &str,
        (min, max): (i64, i64),
        unit: &str,
    ) -> Option<Spanned<i64>> {
        let e = table.get(key)?;
        match &e.node.value {
            Value::Integer(Some(i), _) if (min..=max).contains(i) => {
                Some(Spanned::new(*i, e.node.span))
            }
            // Out of range, or out of 64 bits (also a syntax error, which names that range).
            Value::Integer(..) => {
                self.diags.push(invalid_value::new(
                    e.node.span,
                    format!("`{key}` must be between {min} and {max}{unit}"),
                ));
                None
            }
            _ => {
                self.wrong(&e.node, key, Ty::Integer);
                None
            }
        }
    }

    /// `value`, after an error if it holds a NUL character: no path, argument or
    /// environment variable can (the OS takes them as NUL-terminated strings), so such a
    /// value is reported here and never looked up on disk (see [`crate::needed_paths`]).
    fn no_nul(&mut self, value: Option<Spanned<String>>, key: &str) -> Option<Spanned<String>> {
        if let Some(v) = &value {
            self.check_nul(v, key);
        }
        value
    }

    fn check_nul(&mut self, value: &Spanned<String>, key: &str) {
        if value.value.contains('\0') {
            self.diags.push(
                invalid_value::new(value.span, format!("`{key}` holds a NUL character"))
                    .with_help("no path, argument or environment variable can hold one: remove it"),
            );
        }
    }

    /// An array whose elements are strings (or, with `scalars`, also numbers and booleans,
    /// turned into their source text).
    fn array(&mut self, table: &Table, key: &str, scalars: bool) -> Option<Vec<Spanned<String>>> {
        let e = table.get(key)?;
        let ty = if scalars { Ty::ArgArray } else { Ty::StringArray };
        let Value::Array(items) = &e.node.value else {
            self.wrong(&e.node, key, ty);
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        for n in items {
            match (&n.value, scalars) {
                (Value::String(s), _) => out.push(Spanned::new(s.clone(), n.span)),
                (Value::Integer(_, t) | Value::Float(t), true) => {
                    out.push(Spanned::new(t.clone(), n.span))
                }
                (Value::Bool(b), true) => out.push(Spanned::new(b.to_string(), n.span)),
                _ => self.diags.push(wrong_type::new(
                    n.span,
                    &format!("{key}[{}]", out.len()),
                    if scalars { "string or number" } else { "string" },
                    n.value.type_name(),
                )),
            }
        }
        Some(out)
    }

    /// A table whose values are strings (numbers and booleans accepted as text when
    /// `scalars`). Returns (key, value) pairs in order.
    fn string_table(
        &mut self,
        table: &Table,
        key: &str,
        scalars: bool,
    ) -> Vec<(Spanned<String>, Spanned<String>)> {
        let Some(e) = table.get(key) else { return Vec::new() };
        let Value::Table(t) = &e.node.value else {
            self.wrong(&e.node, key, Ty::StringTable);
            return Vec::new();
        };
        let mut out = Vec::with_capacity(t.entries.len());
        for entry in &t.entries {
            let k = Spanned::new(entry.key.clone(), entry.key_span);
            match (&entry.node.value, scalars) {
                (Value::String(s), _) => out.push((k, Spanned::new(s.clone(), entry.node.span))),
                (Value::Integer(_, t) | Value::Float(t), true) => {
                    out.push((k, Spanned::new(t.clone(), entry.node.span)))
                }
                (Value::Bool(b), true) => {
                    out.push((k, Spanned::new(b.to_string(), entry.node.span)))
                }
                _ => self.diags.push(wrong_type::new(
                    entry.node.span,
                    &format!("{key}.{}", entry.key),
                    "string",
                    entry.node.value.type_name(),
                )),
            }
        }
        out
    }

    fn require<T>(&mut self, value: Option<T>, table: &Table, key: &str) -> Option<T> {
        if value.is_none() && table.get(key).is_none() {
            let example =
                schema::table(self.kind.table()).and_then(|t| t.key(key)).map_or("", |k| k.example);
            self.diags.push(missing_key::new(self.name_span, &self.path(), key, example));
        }
        value
    }
}

fn scalar(node: &Node) -> Result<ParamValue, &'static str> {
    match &node.value {
        Value::String(s) => Ok(ParamValue::String(s.clone())),
        Value::Integer(Some(i), _) => Ok(ParamValue::Integer(*i)),
        // Out of 64 bits: a syntax error already says so, naming the range.
        Value::Integer(None, _) => Err(""),
        Value::Float(text) => text
            .replace('_', "")
            .parse::<f64>()
            .ok()
            .and_then(ParamValue::float)
            .ok_or("number (not nan)"),
        Value::Bool(b) => Ok(ParamValue::Bool(*b)),
        _ => Err("string, integer, float or boolean"),
    }
}

fn lower_parameter(cx: &mut Cx<'_>, name: &str, node: &Node) -> Parameter {
    let (value_node, description) = match &node.value {
        Value::Table(t) => {
            let spec = schema::table("parameters").expect("parameters spec");
            cx.check_keys(t, spec);
            let description = cx.string(t, "description").map(|s| s.value);
            let default = t.get("default").map(|e| &e.node);
            // `default_value` (Azure ML's spelling) already has its own diagnostic and fix.
            if default.is_none() && t.get("default_value").is_none() {
                cx.diags.push(missing_key::new(
                    cx.name_span,
                    &cx.path(),
                    "default",
                    &format!("{name} = {{ default = 0.1 }}"),
                ));
            }
            (default, description)
        }
        _ => (Some(node), None),
    };
    let default = value_node.and_then(|n| match scalar(n) {
        Ok(v) => Some(Spanned::new(v, n.span)),
        Err("") => None,
        Err(expected) => {
            cx.diags.push(wrong_type::new(
                n.span,
                &format!("parameters.{name}"),
                expected,
                n.value.type_name(),
            ));
            None
        }
    });
    Parameter { default, description }
}

/// The keys of `kinds` (a kind → its own keys) that `table` gives and `kind` takes, in
/// name order. Reports an unknown kind (with the known ones) and a key of another kind
/// (`E0101`, with the kind's keys); `what` is `compute` or `datastore`.
fn kind_keys(
    cx: &mut Cx<'_>,
    table: &Table,
    kind: &Spanned<String>,
    kinds: &[(&str, &'static [&'static str])],
    what: &str,
) -> Vec<&'static str> {
    let Some(own) = kinds.iter().find(|(k, _)| *k == kind.value).map(|(_, k)| *k) else {
        let names: Vec<&str> = kinds.iter().map(|(k, _)| *k).collect();
        let msg = match (what, kind.value.as_str()) {
            ("datastore", "gcs") => "datastore kind `gcs` is not supported yet".to_owned(),
            _ => format!("unknown {what} kind `{}`", kind.value),
        };
        let help = format!("one of: {}", names.join(", "));
        cx.diags.push(invalid_value::new(kind.span, msg).with_help(help));
        return Vec::new();
    };
    let mut all: Vec<&'static str> =
        kinds.iter().flat_map(|(_, keys)| keys.iter()).copied().collect();
    all.sort_unstable();
    all.dedup();
    let mut out = Vec::new();
    for key in all {
        let Some(entry) = table.get(key) else { continue };
        if own.contains(&key) {
            out.push(key);
        } else {
            cx.diags.push(unknown_key::for_kind(entry.key_span, key, &kind.value, own, what));
        }
    }
    out
}

fn lower_datastore(cx: &mut Cx<'_>, table: &Table) -> Datastore {
    let kind =
        cx.string(table, "kind").unwrap_or_else(|| Spanned::new("local".to_owned(), cx.name_span));
    let mut path = None;
    let mut options = std::collections::BTreeMap::new();
    for key in kind_keys(cx, table, &kind, schema::DATASTORE_KINDS, "datastore") {
        let value = cx.string(table, key);
        let Some(value) = cx.no_nul(value, key) else { continue };
        if key == "path" {
            path = Some(value);
        } else if let Some(value) = datastore_option(cx, key, value) {
            options.insert(key.to_owned(), value);
        }
    }
    for key in match kind.value.as_str() {
        "azure_blob" => &["account", "container"][..],
        "s3" => &["bucket"][..],
        _ => &[],
    } {
        let value = options.get(*key).cloned();
        cx.require(value, table, key);
    }
    Datastore { kind, path, options }
}

/// One key of a remote datastore, checked: a name the service would read as the name it
/// is (no `/`, no whitespace), an endpoint that is an `http(s)://` URL.
fn datastore_option(cx: &mut Cx<'_>, key: &str, value: Spanned<String>) -> Option<Spanned<String>> {
    let v = value.value.as_str();
    let problem = match key {
        "endpoint" if !(v.starts_with("http://") || v.starts_with("https://")) => {
            Some(format!("`endpoint` `{v}` is not an http:// or https:// URL"))
        }
        "account" | "container" | "bucket" | "region"
            if v.is_empty() || v.contains(|c: char| c == '/' || c.is_whitespace()) =>
        {
            Some(format!("`{key}` `{v}` is not a name: no `/`, no spaces"))
        }
        _ => None,
    };
    match problem {
        None => Some(value),
        Some(msg) => {
            let example =
                schema::table("datastores").and_then(|t| t.key(key)).map_or("", |k| k.example);
            cx.diags
                .push(invalid_value::new(value.span, msg).with_help(format!("e.g. `{example}`")));
            None
        }
    }
}

/// `outputs`: names, or `{ name = "model", datastore = "blob" }` for an output also written
/// to a datastore. Returns the names in order and the (name, datastore) of the latter.
/// An output's name and the datastore it is also written to.
type OutputStore = (String, Spanned<String>);

fn lower_outputs(cx: &mut Cx<'_>, table: &Table) -> (Vec<Spanned<String>>, Vec<OutputStore>) {
    let Some(e) = table.get("outputs") else { return (Vec::new(), Vec::new()) };
    let Value::Array(items) = &e.node.value else {
        cx.wrong(&e.node, "outputs", Ty::StringArray);
        return (Vec::new(), Vec::new());
    };
    let (mut names, mut stores) = (Vec::with_capacity(items.len()), Vec::new());
    for n in items {
        match &n.value {
            Value::String(s) => names.push(Spanned::new(s.clone(), n.span)),
            Value::Table(t) => {
                let at = format!("{}.outputs[{}]", cx.path(), names.len());
                for entry in &t.entries {
                    if entry.key != "name" && entry.key != "datastore" {
                        let known = ["name", "datastore"];
                        let d = unknown_key::new(entry.key_span, &entry.key, &at, "output", &known);
                        cx.diags.push(d);
                    }
                }
                let name = cx.string(t, "name");
                let store = cx.string(t, "datastore");
                match (name, store) {
                    (Some(name), Some(store)) => {
                        stores.push((name.value.clone(), store));
                        names.push(name);
                    }
                    (name, _) => {
                        let missing = if name.is_none() { "name" } else { "datastore" };
                        let example = r#"{ name = "model", datastore = "blob" }"#;
                        cx.diags.push(missing_key::new(n.span, &at, missing, example));
                        names.extend(name);
                    }
                }
            }
            other => cx.diags.push(wrong_type::new(
                n.span,
                &format!("outputs[{}]", names.len()),
                "string or { name, datastore }",
                other.type_name(),
            )),
        }
    }
    (names, stores)
}

fn lower_cache(cx: &mut Cx<'_>, table: &Table) -> CacheSettings {
    let remote = cx.string(table, "remote");
    let remote = cx.require(remote, table, "remote");
    let upload = cx.bool(table, "upload");
    let download = cx.string(table, "download").and_then(|d| {
        if ["all", "final", "none"].contains(&d.value.as_str()) {
            return Some(d);
        }
        let msg = format!("`download` `{}` is not one of `all`, `final`, `none`", d.value);
        cx.diags.push(invalid_value::new(d.span, msg).with_help("e.g. `download = \"final\"`"));
        None
    });
    CacheSettings { remote, upload, download }
}

fn lower_data(cx: &mut Cx<'_>, table: &Table) -> DataRef {
    let datastore = cx
        .string(table, "datastore")
        .unwrap_or_else(|| Spanned::new(schema::BUILTIN_DATASTORE.to_owned(), cx.name_span));
    let path = cx.string(table, "path");
    let path = cx.require(path, table, "path");
    DataRef { datastore, path: cx.no_nul(path, "path") }
}

fn lower_compute(cx: &mut Cx<'_>, table: &Table) -> Compute {
    let kind =
        cx.string(table, "kind").unwrap_or_else(|| Spanned::new("local".to_owned(), cx.name_span));
    let keys = kind_keys(cx, table, &kind, schema::COMPUTE_KINDS, "compute");
    let max_nodes = cx
        .integer(table, "max_nodes", (1, u32::MAX.into()), "")
        .and_then(|n| Some(Spanned::new(u32::try_from(n.value).ok()?, n.span)));
    let mut options = std::collections::BTreeMap::new();
    for key in keys {
        if let Some(v) = compute_option(cx, table, key) {
            options.insert(key.to_owned(), v);
        }
    }
    match kind.value.as_str() {
        "ssh" => {
            let host = options.get("host").cloned();
            cx.require(host, table, "host");
        }
        "slurm" => {
            let workdir = options.get("workdir").cloned();
            cx.require(workdir, table, "workdir");
        }
        _ => {}
    }
    Compute { kind, max_nodes, options }
}

/// One kind key of `[compute.NAME]`, checked: its type, its range, and that `ssh` and
/// `sbatch` will read it as the value it is (never as an option).
fn compute_option(cx: &mut Cx<'_>, table: &Table, key: &str) -> Option<Spanned<String>> {
    let integer = |cx: &mut Cx<'_>, range| {
        cx.integer(table, key, range, "").map(|n| Spanned::new(n.value.to_string(), n.span))
    };
    let value = match key {
        "port" => return integer(cx, (1, 65_535)),
        "cpus_per_task" => return integer(cx, (1, u32::MAX.into())),
        _ => cx.string(table, key),
    };
    let value = cx.no_nul(value, key)?;
    let problem: Option<String> = match key {
        "host" => hir_compute::host_problem(&value.value).map(|p| format!("`host` {p}")),
        "user" => hir_compute::user_problem(&value.value).map(|p| format!("`user` {p}")),
        "time_limit" => hir_compute::time_limit_seconds(&value.value)
            .is_none()
            .then(|| format!("`time_limit` `{}` is not a Slurm time limit", value.value)),
        "mem" => (!hir_compute::is_mem_size(&value.value))
            .then(|| format!("`mem` `{}` is not a Slurm memory size", value.value)),
        "workdir" if value.value.is_empty() => Some("`workdir` is empty".to_owned()),
        _ => None,
    };
    match problem {
        None => Some(value),
        Some(msg) => {
            let help = schema::table("compute").and_then(|t| t.key(key)).map_or("", |k| k.example);
            cx.diags.push(invalid_value::new(value.span, msg).with_help(format!("e.g. `{help}`")));
            None
        }
    }
}

fn lower_step(cx: &mut Cx<'_>, name: &str, table: &Table) -> Step {
    let script = cx.string(table, "script");
    let script = cx.no_nul(script, "script");
    let command = cx.array(table, "command", true);
    let arguments = cx.array(table, "arguments", true).unwrap_or_default();
    for (key, values) in
        [("command", command.as_deref().unwrap_or_default()), ("arguments", &arguments)]
    {
        for v in values {
            cx.check_nul(v, key);
        }
    }
    let argv: Vec<&Spanned<String>> = command.iter().flatten().chain(&arguments).collect();
    shell_interpolation::check(&argv, &mut cx.diags);
    match (&script, &command) {
        // `script_name` (Azure ML's spelling) already has its own diagnostic and fix.
        (None, None)
            if table.get("script").is_none()
                && table.get("command").is_none()
                && table.get("script_name").is_none() =>
        {
            cx.diags.push(missing_script::new(cx.name_span, name));
        }
        (Some(s), Some(_)) => {
            let cmd_span = table.get("command").map_or(cx.name_span, |e| e.node.span);
            cx.diags.push(script_and_command::new(cmd_span, s.span));
        }
        _ => {}
    }
    if let (Some(c), Some(e)) = (&command, table.get("command"))
        && c.is_empty()
    {
        cx.diags.push(invalid_value::new(e.node.span, "`command` must name a program"));
    }
    let inputs: Vec<InputBinding> = cx
        .string_table(table, "inputs", false)
        .into_iter()
        .map(|(name, reference)| InputBinding { name, reference })
        .collect();
    for input in &inputs {
        if !invalid_name::is_valid(&input.name.value) {
            cx.diags.push(invalid_name::new(input.name.span, "input", &input.name.value));
        }
    }
    let (outputs, output_stores) = lower_outputs(cx, table);
    for (i, o) in outputs.iter().enumerate() {
        if !invalid_name::is_valid(&o.value) {
            cx.diags.push(invalid_name::new(o.span, "output", &o.value));
        } else if let Some(first) = outputs[..i].iter().find(|p| p.value == o.value) {
            cx.diags.push(duplicate_output::new(o.span, first.span, &o.value));
        }
    }
    let env = cx.string_table(table, "env", true);
    for (k, v) in &env {
        cx.check_nul(v, "env");
        if !invalid_name::is_valid_env(&k.value) {
            cx.diags.push(
                invalid_value::new(
                    k.span,
                    format!("invalid environment variable name `{}`", k.value),
                )
                .with_help("letters, digits and `_`, not starting with a digit"),
            );
        }
    }
    let timeout = cx
        .integer(table, "timeout", (1, i64::MAX), " seconds")
        .and_then(|t| u64::try_from(t.value).ok());
    let _ = cx.string(table, "description");
    let source_directory = cx.string(table, "source_directory");
    let hash_paths = cx.array(table, "hash_paths", false).unwrap_or_default();
    for h in &hash_paths {
        cx.check_nul(h, "hash_paths");
    }
    Step {
        script,
        command,
        source_directory: cx.no_nul(source_directory, "source_directory"),
        arguments,
        inputs,
        outputs,
        output_stores,
        hash_paths,
        environment: cx.string(table, "environment"),
        compute: cx.string(table, "compute"),
        allow_reuse: cx.bool(table, "allow_reuse").unwrap_or(true),
        reuse: lower_switches(cx, table),
        timeout,
        env,
        name_span: cx.name_span,
    }
}

/// `track_imports`, `normalize_script` and `trace_reads` of a step or `[pipeline]` table.
fn lower_switches(cx: &mut Cx<'_>, table: &Table) -> ReuseSwitches {
    ReuseSwitches {
        track_imports: cx.bool(table, "track_imports"),
        normalize_script: cx.bool(table, "normalize_script"),
        trace_reads: cx.bool(table, "trace_reads"),
    }
}
