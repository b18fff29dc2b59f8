//! The typed form of each table of format v1, as lowering produces it.
//!
//! Spans inside these types are relative to their item (see [`crate::items`]); the
//! diagnostics query shifts them back. Every field that came from the file keeps its span,
//! so the language server can point at it.

use syntax::Span;

/// A value and where it was written.
#[derive(Clone, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it was written (relative to the item).
    pub span: Span,
}

impl<T> Spanned<T> {
    /// Pairs `value` with `span`.
    pub fn new(value: T, span: Span) -> Self {
        Spanned { value, span }
    }
}

/// `[pipeline]`: name, description, experiment.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default, salsa::SalsaValue)]
pub struct PipelineMeta {
    /// `name`; the driver falls back to the folder's name.
    pub name: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `experiment`: the experiment runs are recorded under (default: the pipeline's name).
    pub experiment: Option<String>,
    /// The pipeline-wide defaults of the steps' reuse switches.
    pub reuse: ReuseSwitches,
    /// `strict_reads`: a step that reads a file outside its key fails (implies tracing).
    pub strict_reads: Option<bool>,
}

/// The switches of how a Python step is keyed and watched, as written on a step or in
/// `[pipeline]` (the step's own value wins; see [`ReuseSwitches::or`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub struct ReuseSwitches {
    /// `track_imports` (default `true`): the local modules a `.py` script imports feed its key.
    pub track_imports: Option<bool>,
    /// `normalize_script` (default `true`): a `.py` script and its modules are keyed by their
    /// tokens, without comments and layout.
    pub normalize_script: Option<bool>,
    /// `trace_reads` (default `false`): the files the step opens are traced, and a read
    /// outside its key is reported.
    pub trace_reads: Option<bool>,
}

impl ReuseSwitches {
    /// Each switch as set here, else as set in `defaults`.
    pub fn or(self, defaults: ReuseSwitches) -> ReuseSwitches {
        ReuseSwitches {
            track_imports: self.track_imports.or(defaults.track_imports),
            normalize_script: self.normalize_script.or(defaults.normalize_script),
            trace_reads: self.trace_reads.or(defaults.trace_reads),
        }
    }

    /// `track_imports`, defaulted.
    pub fn tracks_imports(self) -> bool {
        self.track_imports.unwrap_or(true)
    }

    /// `normalize_script`, defaulted.
    pub fn normalizes(self) -> bool {
        self.normalize_script.unwrap_or(true)
    }

    /// `trace_reads`, defaulted.
    pub fn traces_reads(self) -> bool {
        self.trace_reads.unwrap_or(false)
    }
}

/// A parameter's value: TOML's scalar types (Azure ML's `PipelineParameter` takes the same).
#[derive(Clone, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub enum ParamValue {
    /// A string.
    String(String),
    /// A 64-bit integer.
    Integer(i64),
    /// A float, as its canonical text (see [`ParamValue::canonical`]).
    Float(String),
    /// A boolean.
    Bool(bool),
}

impl ParamValue {
    /// The text a placeholder expands to and the step key records: strings as they are,
    /// integers in decimal, booleans as `true`/`false`, floats in Rust's shortest
    /// round-trip form with a `.0` kept (`1.0`, `0.25`, `1e-5`), so `1.0` and `1.00` are
    /// the same value.
    pub fn canonical(&self) -> String {
        match self {
            ParamValue::String(s) | ParamValue::Float(s) => s.clone(),
            ParamValue::Integer(i) => i.to_string(),
            ParamValue::Bool(b) => b.to_string(),
        }
    }

    /// The type's name, as messages say it.
    pub fn type_name(&self) -> &'static str {
        match self {
            ParamValue::String(_) => "string",
            ParamValue::Integer(_) => "integer",
            ParamValue::Float(_) => "float",
            ParamValue::Bool(_) => "boolean",
        }
    }

    /// Canonical float text for `f`, or `None` for NaN.
    pub fn float(f: f64) -> Option<ParamValue> {
        (!f.is_nan()).then(|| ParamValue::Float(format!("{f:?}")))
    }

    /// Parses an override (`--param name=value`) as the same type as `self`.
    ///
    /// # Errors
    /// A message saying what was expected, e.g. ``expected an integer, found `abc` ``.
    pub fn parse_like(&self, raw: &str) -> Result<ParamValue, String> {
        match self {
            ParamValue::String(_) => Ok(ParamValue::String(raw.to_owned())),
            ParamValue::Integer(_) => raw
                .trim()
                .replace('_', "")
                .parse::<i64>()
                .map(ParamValue::Integer)
                .map_err(|_| format!("expected an integer, found `{raw}`")),
            ParamValue::Float(_) => raw
                .trim()
                .replace('_', "")
                .parse::<f64>()
                .ok()
                .and_then(ParamValue::float)
                .ok_or_else(|| format!("expected a float, found `{raw}`")),
            ParamValue::Bool(_) => match raw.trim() {
                "true" => Ok(ParamValue::Bool(true)),
                "false" => Ok(ParamValue::Bool(false)),
                _ => Err(format!("expected `true` or `false`, found `{raw}`")),
            },
        }
    }
}

/// `[parameters] name = value` or `name = { default = value, description = "…" }`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub struct Parameter {
    /// The default value (`None` when it is missing or of a type parameters cannot have).
    pub default: Option<Spanned<ParamValue>>,
    /// `description`.
    pub description: Option<String>,
}

/// `[environments.NAME]`: a virtual environment built from a requirements file.
#[derive(Clone, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub struct Environment {
    /// `requirements`: pip requirements file, relative to the pipeline's folder.
    pub requirements: Option<Spanned<String>>,
    /// `python`: the interpreter the environment is made from (default `python3`).
    pub python: Option<Spanned<String>>,
}

/// `[datastores.NAME]`: where data references live.
#[derive(Clone, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub struct Datastore {
    /// `kind`: `local`, `azure_blob` or `s3` ([`crate::schema::DATASTORE_KINDS`]).
    pub kind: Spanned<String>,
    /// `path`: a local datastore's folder, relative to the pipeline's folder (default `.`).
    pub path: Option<Spanned<String>>,
    /// The other keys of its kind that were given and are valid (`account`, `bucket`, …).
    pub options: std::collections::BTreeMap<String, Spanned<String>>,
}

/// `[cache]`: the shared cache, kept in a datastore.
#[derive(Clone, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub struct CacheSettings {
    /// `remote`: the datastore holding it.
    pub remote: Option<Spanned<String>>,
    /// `upload` (default `true`): results of steps that ran are written there.
    pub upload: Option<bool>,
    /// `download` (default `final`): `all`, `final` or `none`, checked.
    pub download: Option<Spanned<String>>,
}

/// `[data.NAME]`: a data reference (Azure ML `DataReference`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub struct DataRef {
    /// `datastore` (default `workspace`).
    pub datastore: Spanned<String>,
    /// `path` inside the datastore.
    pub path: Option<Spanned<String>>,
}

/// `[compute.NAME]`: a compute target.
#[derive(Clone, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub struct Compute {
    /// `kind`: `local`, `ssh` or `slurm`.
    pub kind: Spanned<String>,
    /// `max_nodes`: steps that run at once on this target (default: the number of CPUs).
    pub max_nodes: Option<Spanned<u32>>,
    /// The kind's own keys ([`crate::schema::COMPUTE_KINDS`]) that were given and are valid,
    /// as text (integers in decimal).
    pub options: std::collections::BTreeMap<String, Spanned<String>>,
}

/// One `inputs` entry: `name = "data.X"` or `name = "steps.S.outputs.O"`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub struct InputBinding {
    /// The input's name (what `${inputs.NAME}` refers to).
    pub name: Spanned<String>,
    /// The reference string as written.
    pub reference: Spanned<String>,
}

/// `[steps.NAME]`: one step (Azure ML `PythonScriptStep`, or a command).
#[derive(Clone, Debug, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub struct Step {
    /// `script`, relative to `source_directory`.
    pub script: Option<Spanned<String>>,
    /// `command`: an argv template, run as is (no shell).
    pub command: Option<Vec<Spanned<String>>>,
    /// `source_directory`, relative to the pipeline's folder (default `.`).
    pub source_directory: Option<Spanned<String>>,
    /// `arguments`: argv elements after the script; scalars are turned into their text.
    pub arguments: Vec<Spanned<String>>,
    /// `inputs`, in source order.
    pub inputs: Vec<InputBinding>,
    /// `outputs`: output names, in source order.
    pub outputs: Vec<Spanned<String>>,
    /// The outputs written as `{ name = "model", datastore = "blob" }`: (output name, the
    /// datastore it is also written to). Not part of the step key.
    pub output_stores: Vec<(String, Spanned<String>)>,
    /// `hash_paths`: more files or folders that feed the key, relative to `source_directory`.
    pub hash_paths: Vec<Spanned<String>>,
    /// `environment`.
    pub environment: Option<Spanned<String>>,
    /// `compute` (default `local`).
    pub compute: Option<Spanned<String>>,
    /// `allow_reuse` (default `true`).
    pub allow_reuse: bool,
    /// `track_imports`, `normalize_script`, `trace_reads` as set on the step (the
    /// pipeline's defaults are in [`PipelineMeta::reuse`]).
    pub reuse: ReuseSwitches,
    /// `timeout` in seconds.
    pub timeout: Option<u64>,
    /// `env`: environment variables the step sets (they feed the key).
    pub env: Vec<(Spanned<String>, Spanned<String>)>,
    /// The span of the step's name in its header (relative: usually `0..len`).
    pub name_span: Span,
}

impl Step {
    /// `source_directory` as written, or `.`.
    pub fn source_directory(&self) -> &str {
        self.source_directory.as_ref().map_or(".", |s| s.value.as_str())
    }

    /// Every string that may hold placeholders: command, arguments, env values.
    pub fn templates(&self) -> impl Iterator<Item = &Spanned<String>> {
        self.command.iter().flatten().chain(&self.arguments).chain(self.env.iter().map(|(_, v)| v))
    }
}
