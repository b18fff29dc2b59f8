//! Format v1, as data: every table, every key, its type, default, meaning and an example.
//!
//! This table is the one source of truth for the format. Lowering checks keys against it
//! (unknown keys, "did you mean"), the language server's hover and completion read it,
//! `docs/pipeline-format.md` is generated from it ([`markdown`], kept current by a test),
//! and so is the JSON Schema that `runner schema` prints.

/// The type a key takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    /// A string.
    String,
    /// An integer.
    Integer,
    /// `true` or `false`.
    Bool,
    /// An array of strings.
    StringArray,
    /// An array of strings, integers, floats or booleans (each one argv element; numbers and
    /// booleans as written).
    ArgArray,
    /// A table of string values.
    StringTable,
    /// A string, integer, float or boolean.
    Scalar,
}

impl Ty {
    /// How messages and docs name the type.
    pub fn describe(self) -> &'static str {
        match self {
            Ty::String => "string",
            Ty::Integer => "integer",
            Ty::Bool => "boolean",
            Ty::StringArray => "array of strings",
            Ty::ArgArray => "array of strings, numbers or booleans",
            Ty::StringTable => "table of strings",
            Ty::Scalar => "string, integer, float or boolean",
        }
    }
}

/// One key of a table.
#[derive(Debug)]
pub struct KeySpec {
    /// The key.
    pub name: &'static str,
    /// Its type.
    pub ty: Ty,
    /// Whether the table must have it.
    pub required: bool,
    /// The default, when there is one: TOML text (`"local"`, `[]`), or words when no value
    /// can say it (`the number of CPUs`). [`markdown`] and the JSON Schema tell them apart by
    /// whether the text parses as a TOML value.
    pub default: Option<&'static str>,
    /// What it means (Markdown, one paragraph).
    pub doc: &'static str,
    /// An example line.
    pub example: &'static str,
}

/// One kind of table.
#[derive(Debug)]
pub struct TableSpec {
    /// The table's header: `pipeline`, or `steps` for `[steps.NAME]` tables.
    pub name: &'static str,
    /// Whether the table holds named sub-tables (`[steps.NAME]`).
    pub named: bool,
    /// What the table is for (Markdown).
    pub doc: &'static str,
    /// Its keys. Empty for `[parameters]`, whose keys are the parameters' names.
    pub keys: &'static [KeySpec],
    /// A complete example of the table.
    pub example: &'static str,
}

impl TableSpec {
    /// The key named `name`.
    pub fn key(&self, name: &str) -> Option<&'static KeySpec> {
        self.keys.iter().find(|k| k.name == name)
    }
}

/// The table named `name` (`pipeline`, `steps`, …).
pub fn table(name: &str) -> Option<&'static TableSpec> {
    TABLES.iter().find(|t| t.name == name)
}

macro_rules! key {
    ($name:literal, $ty:ident, req, $doc:literal, $ex:literal) => {
        KeySpec { name: $name, ty: Ty::$ty, required: true, default: None, doc: $doc, example: $ex }
    };
    ($name:literal, $ty:ident, $default:expr, $doc:literal, $ex:literal) => {
        KeySpec {
            name: $name,
            ty: Ty::$ty,
            required: false,
            default: $default,
            doc: $doc,
            example: $ex,
        }
    };
}

/// Names of built-in items that exist without being declared.
pub const BUILTIN_DATASTORE: &str = "workspace";
/// The built-in compute target.
pub const BUILTIN_COMPUTE: &str = "local";

/// The compute kinds, and the keys of `[compute.NAME]` each takes beside `kind`,
/// `max_nodes` and `description`.
pub const COMPUTE_KINDS: &[(&str, &[&str])] = &[
    ("local", &[]),
    ("ssh", &["host", "port", "user", "identity_file", "known_hosts", "python", "workdir"]),
    ("slurm", &["workdir", "partition", "time_limit", "cpus_per_task", "mem"]),
];

/// The datastore kinds, and the keys of `[datastores.NAME]` each takes beside `kind` and
/// `description`. Credentials are never keys: they come from each cloud's environment
/// variables (`docs/datastores.md`).
pub const DATASTORE_KINDS: &[(&str, &[&str])] = &[
    ("local", &["path"]),
    ("azure_blob", &["account", "container", "endpoint"]),
    ("s3", &["bucket", "region", "endpoint"]),
];

/// Every table of format v1, in the order the docs present them.
pub static TABLES: &[TableSpec] = &[
    TableSpec {
        name: "pipeline",
        named: false,
        doc: "What the pipeline is called. Optional as a whole.",
        keys: &[
            key!(
                "name",
                String,
                Some("the name of the pipeline's folder"),
                "The pipeline's name, shown in run history and used as the default experiment.",
                r#"name = "digits""#
            ),
            key!(
                "description",
                String,
                None,
                "A sentence about what the pipeline does.",
                r#"description = "Train two classifiers and compare them""#
            ),
            key!(
                "experiment",
                String,
                Some("the pipeline's name"),
                "The experiment runs are recorded under (Azure ML `Experiment`); `runner build --experiment NAME` overrides it.",
                r#"experiment = "nightly""#
            ),
            key!(
                "track_imports",
                Bool,
                Some("true"),
                "The default of every step's `track_imports`: whether the local modules a `.py` script imports (transitively: `import x`, `from . import y`, a package's `__init__.py`), found the way Python finds them from the script's folder, feed the step key. Azure ML hashes only the main script; `false` gives exactly that (list helper modules in `hash_paths` then). Installed and standard-library modules never feed it (the environment covers them).",
                "track_imports = false"
            ),
            key!(
                "normalize_script",
                Bool,
                Some("true"),
                "The default of every step's `normalize_script`: whether a `.py` script and its modules are keyed by their Python tokens: comments, blank lines and spacing inside a line do not change the key (a comment-only edit reuses the result and says so); every token, string, docstring and indentation does. `false` keys the bytes.",
                "normalize_script = false"
            ),
            key!(
                "trace_reads",
                Bool,
                Some("false"),
                "The default of every step's `trace_reads`: whether the files a step opens are traced (with `strace`), so that a read of a file under the project that is not part of the step key is reported (`step train read config.yaml, which is not part of its key`). Off by default: tracing stops the step at every file it opens, which slows a Python step's start (figures in docs/pipeline-format.md). `runner build --trace-reads` turns it on for one build.",
                "trace_reads = true"
            ),
            key!(
                "strict_reads",
                Bool,
                Some("false"),
                "Whether a step that reads a file outside its key fails (its result is not cached), rather than warns. Implies `trace_reads`. `runner build --strict-reads` turns it on for one build.",
                "strict_reads = true"
            ),
        ],
        example: "[pipeline]\nname = \"digits\"\ndescription = \"Train two classifiers on the digits data set and compare them\"\n",
    },
    TableSpec {
        name: "parameters",
        named: false,
        doc: "Named values with a default, overridable per run with `runner build --param NAME=VALUE` (Azure ML `PipelineParameter`). Each key is a parameter: either `NAME = VALUE` (a string, integer, float or boolean; the type is the default's) or `NAME = { default = VALUE, description = \"…\" }`. Steps use them as `${params.NAME}`; a parameter's value is always exactly one argument, never split or passed to a shell. An override must parse as the default's type.",
        keys: &[
            key!(
                "default",
                Scalar,
                req,
                "The value used when the run does not override it. Its type is the parameter's type.",
                "lr = { default = 0.1 }"
            ),
            key!(
                "description",
                String,
                None,
                "What the parameter controls.",
                r#"seed = { default = 42, description = "random seed" }"#
            ),
        ],
        example: "[parameters]\nseed = 42\nn_estimators = { default = 200, description = \"trees in the forest\" }\n",
    },
    TableSpec {
        name: "environments",
        named: true,
        doc: "An environment a step's Python scripts run in: a virtual environment built once per content digest of its requirements file (with `uv` when present, else `pip`), in the user's cache (`$RUNNER_CACHE_DIR/envs`, else `$XDG_CACHE_HOME/runner/envs`, else `~/.cache/runner/envs`), shared by every project with the same environment. Its digest is part of the key of every step that uses it.",
        keys: &[
            key!(
                "requirements",
                String,
                None,
                "A pip requirements file, relative to the pipeline's folder. Without it the environment is the bare interpreter.",
                r#"requirements = "requirements.txt""#
            ),
            key!(
                "python",
                String,
                Some("\"python3\""),
                "The interpreter the environment is made from (a name on `PATH` or a path).",
                r#"python = "python3.11""#
            ),
            key!(
                "description",
                String,
                None,
                "What the environment is for.",
                r#"description = "scikit-learn 1.5""#
            ),
        ],
        example: "[environments.sklearn]\nrequirements = \"requirements.txt\"\n",
    },
    TableSpec {
        name: "datastores",
        named: true,
        doc: "Where data references live (Azure ML `Datastore`). A datastore named `workspace`, a local folder at the pipeline's folder, always exists; declaring `[datastores.workspace]` moves it.",
        keys: &[
            key!(
                "kind",
                String,
                Some("\"local\""),
                "`local` (a folder, key `path`); `azure_blob` (an Azure Blob Storage container: keys `account`, `container`, `endpoint`); `s3` (an S3 bucket, or any S3-compatible store: keys `bucket`, `region`, `endpoint`). Credentials come from the environment, never from the file (`AZURE_STORAGE_CONNECTION_STRING`, `AZURE_STORAGE_ACCOUNT_KEY` or `AZURE_STORAGE_SAS_TOKEN`; `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`).",
                r#"kind = "azure_blob""#
            ),
            key!(
                "path",
                String,
                Some("\".\""),
                "(`local`) Its folder, its folder, relative to the pipeline's folder.",
                r#"path = "datastore""#
            ),
            key!(
                "account",
                String,
                None,
                "(`azure_blob`, required) The storage account's name.",
                r#"account = "mlworkspace1234""#
            ),
            key!(
                "container",
                String,
                None,
                "(`azure_blob`, required) The blob container holding the data.",
                r#"container = "data""#
            ),
            key!(
                "bucket",
                String,
                None,
                "(`s3`, required) The bucket holding the data.",
                r#"bucket = "ml-data""#
            ),
            key!(
                "region",
                String,
                Some("\"us-east-1\""),
                "(`s3`) The bucket's region (`AWS_REGION` when not given).",
                r#"region = "eu-west-1""#
            ),
            key!(
                "endpoint",
                String,
                None,
                "(`azure_blob`, `s3`) The service's URL, for an emulator, a sovereign cloud or another S3-compatible store; `http://` allows plain HTTP. Azure: the account's blob endpoint (default `https://ACCOUNT.blob.core.windows.net`; for Azurite `http://127.0.0.1:10000/devstoreaccount1`), winning over a connection string's `BlobEndpoint`. S3: the service's root (path-style requests).",
                r#"endpoint = "http://127.0.0.1:10000/devstoreaccount1""#
            ),
            key!(
                "description",
                String,
                None,
                "What the datastore holds.",
                r#"description = "raw exports""#
            ),
        ],
        example: "[datastores.workspace]\nkind = \"local\"\npath = \"datastore\"\n",
    },
    TableSpec {
        name: "data",
        named: true,
        doc: "A data reference (Azure ML `DataReference`): a file or folder in a datastore. A step binds it as an input (`inputs = { raw = \"data.NAME\" }`); `${inputs.raw}` then expands to its path, and its content digest is part of the step's key.",
        keys: &[
            key!(
                "datastore",
                String,
                Some("\"workspace\""),
                "The datastore holding it.",
                r#"datastore = "workspace""#
            ),
            key!(
                "path",
                String,
                req,
                "The file or folder, relative to the datastore's folder.",
                r#"path = "raw/digits.csv""#
            ),
            key!(
                "description",
                String,
                None,
                "What the data is.",
                r#"description = "8x8 digit images""#
            ),
        ],
        example: "[data.digits]\ndatastore = \"workspace\"\npath = \"raw/digits.csv\"\n",
    },
    TableSpec {
        name: "compute",
        named: true,
        doc: "A compute target (Azure ML `ComputeTarget`): where steps run. A target named `local` (this machine) always exists; declare it to set `max_nodes`. Not part of any step key.",
        keys: &[
            key!(
                "kind",
                String,
                Some("\"local\""),
                "`local` runs steps as processes on this machine; `ssh` on a host reached by OpenSSH (keys `host`, `port`, `user`, `identity_file`, `known_hosts`, `python`, `workdir`); `slurm` as jobs of a Slurm cluster (keys `workdir`, `partition`, `time_limit`, `cpus_per_task`, `mem`). A result is reused on every target alike: the target is not in the step key.",
                r#"kind = "slurm""#
            ),
            key!(
                "max_nodes",
                Integer,
                Some("the number of CPUs"),
                "How many steps run at once on this target (1 to 4294967295).",
                "max_nodes = 2"
            ),
            key!(
                "description",
                String,
                None,
                "What the target is.",
                r#"description = "this laptop""#
            ),
            key!(
                "workdir",
                String,
                Some("the folder `runner-work` in the login's home (`ssh`); none (`slurm`)"),
                "(`ssh`, `slurm`; required for `slurm`) The folder steps are staged in and run from: on the host for `ssh` (`~/` and relative paths are in the login's home; created on first use), and for `slurm` an absolute folder every node sees (a shared filesystem), created if missing.",
                r#"workdir = "/srv/runner""#
            ),
            key!(
                "host",
                String,
                None,
                "(`ssh`, required) The host to run steps on, as `ssh` takes it (a name, an address, or a `Host` alias of `~/.ssh/config`).",
                r#"host = "gpu-box.example.org""#
            ),
            key!(
                "port",
                Integer,
                Some("22"),
                "(`ssh`) The host's SSH port (1 to 65535).",
                "port = 2222"
            ),
            key!(
                "user",
                String,
                Some("the current user"),
                "(`ssh`) The login on the host.",
                r#"user = "runner""#
            ),
            key!(
                "identity_file",
                String,
                None,
                "(`ssh`) The private key to log in with (`~/` is this machine's home). Without it, ssh's own defaults and agent.",
                r#"identity_file = "~/.ssh/id_ed25519""#
            ),
            key!(
                "known_hosts",
                String,
                Some("the user's own (`~/.ssh/known_hosts`), as ssh reads it"),
                "(`ssh`) The known_hosts file the host's key is checked against. The check is always strict: an unknown or changed host key fails the step, naming the host; it is never accepted.",
                r#"known_hosts = "ci/known_hosts""#
            ),
            key!(
                "python",
                String,
                Some("\"python3\""),
                "(`ssh`) The host's Python, which runs `.py` scripts and makes environments there.",
                r#"python = "/usr/bin/python3.11""#
            ),
            key!(
                "partition",
                String,
                Some("the cluster's default partition"),
                "(`slurm`) The partition jobs are submitted to (`sbatch --partition`).",
                r#"partition = "gpu""#
            ),
            key!(
                "time_limit",
                String,
                None,
                "(`slurm`) Each job's time limit (`sbatch --time`), in one of Slurm's forms: `MM`, `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM`, `D-HH:MM:SS`. A step's `timeout` overrides it (rounded up to whole minutes).",
                r#"time_limit = "00:30:00""#
            ),
            key!(
                "cpus_per_task",
                Integer,
                None,
                "(`slurm`) CPUs per job (`sbatch --cpus-per-task`, 1 to 4294967295).",
                "cpus_per_task = 4"
            ),
            key!(
                "mem",
                String,
                None,
                "(`slurm`) Memory per node of each job (`sbatch --mem`): a whole number with an optional unit `K`, `M`, `G` or `T` (megabytes without one).",
                r#"mem = "8G""#
            ),
        ],
        example: "[compute.cluster]\nkind = \"slurm\"\nmax_nodes = 4\nworkdir = \"/srv/runner\"\npartition = \"debug\"\n",
    },
    TableSpec {
        name: "steps",
        named: true,
        doc: "A step (Azure ML `PythonScriptStep`): a script or command with inputs, outputs and parameters. Steps are connected by their inputs: an input naming `steps.S.outputs.O` makes this step run after `S` and read that output. The graph must be acyclic.",
        keys: &[
            key!(
                "script",
                String,
                None,
                "The script to run, relative to `source_directory` (Azure's rule). `.py` runs with the environment's Python (`python3` without one), `.sh` with `sh`, anything else must be executable. Give `script` or `command`, not both. Its content digest is part of the step key.",
                r#"script = "train.py""#
            ),
            key!(
                "command",
                ArgArray,
                None,
                "An argv array run as is (no shell), from `source_directory`; placeholders allowed. Instead of `script`. The template is part of the step key. A program that runs code from an element (`sh -c`, `python -c`, `perl -e`, …) turns a placeholder inside that element into code (warning W0205): pass values as elements after the code instead (`\"$0\"`, `\"$1\"` in a shell script, as in the example).",
                r#"command = ["sh", "-c", "wc -l \"$0\" > \"$1/count\"", "${inputs.raw}", "${outputs.count}"]"#
            ),
            key!(
                "source_directory",
                String,
                Some("\".\""),
                "The folder the step runs in, relative to the pipeline's folder. The step runs in a snapshot of it taken when it starts, which leaves out what `.amlignore` (or, without one, `.gitignore`) ignores, and the data references inside it (read them through `${inputs.NAME}`; one listed in `hash_paths` stays in). A symlink in it that leads to a place inside it is copied as a symlink (so is a loop), as the step key hashes it: by its target text. One that leads outside (an absolute target, or `..` climbing out; to a file or a folder; dangling or not) fails the step before it runs, naming the link and its target: it is neither kept (the step could write through it) nor copied as what it names (that content would not be in the key). Leave it out with `.amlignore`, or declare what it names as a data reference.",
                r#"source_directory = "src""#
            ),
            key!(
                "arguments",
                ArgArray,
                Some("[]"),
                "Arguments after the script: each element is exactly one argument, never split or passed to a shell. `${inputs.NAME}` expands to the input's path, `${outputs.NAME}` to the output's (empty) folder, `${params.NAME}` to the parameter's value. A placeholder may sit inside a longer string (`--lr=${params.lr}`).",
                r#"arguments = ["--data", "${inputs.data}", "--lr", "${params.lr}"]"#
            ),
            key!(
                "inputs",
                StringTable,
                Some("{}"),
                "Named inputs: `NAME = \"data.X\"` (a data reference) or `NAME = \"steps.S.outputs.O\"` (another step's output, which makes this step depend on `S`). Their content digests are part of the step key.",
                r#"inputs = { data = "steps.prepare.outputs.split" }"#
            ),
            key!(
                "outputs",
                StringArray,
                Some("[]"),
                "Output names; an output written `{ name = \"model\", datastore = \"blob\" }` is also written to that datastore, under `runner-outputs/PIPELINE/STEP/OUTPUT/DIGEST/` (its content digest: a new content never replaces an old one), and `runner show RUN STEP` prints where (Azure ML's `PipelineData(datastore=...)`). Each output is a folder, created empty before the step runs; the step must put something in it. Its content is stored in the cache and fed to downstream steps. A step that reruns and writes byte-identical outputs leaves its downstream steps reused (early cutoff), which needs deterministic outputs: seed every random generator from a parameter, and set `PYTHONHASHSEED` in `env` (a pickled model that holds a set, or a file that holds a timestamp, differs from run to run and reruns everything downstream).",
                r#"outputs = ["model"]"#
            ),
            key!(
                "hash_paths",
                StringArray,
                Some("[]"),
                "More files or folders, relative to `source_directory`, whose content feeds the step key: configs and other files the script reads (the local modules a `.py` script imports are found without it: `track_imports`). Folders honour `.amlignore`/`.gitignore`.",
                r#"hash_paths = ["config/"]"#
            ),
            key!(
                "environment",
                String,
                None,
                "The environment `.py` scripts run in. Without one, `python3` from `PATH`.",
                r#"environment = "sklearn""#
            ),
            key!(
                "compute",
                String,
                Some("\"local\""),
                "The compute target the step runs on.",
                r#"compute = "local""#
            ),
            key!(
                "allow_reuse",
                Bool,
                Some("true"),
                "Whether a recorded result with the same step key may be reused (Azure ML `allow_reuse`). `false` runs the step on every build.",
                "allow_reuse = false"
            ),
            key!(
                "track_imports",
                Bool,
                Some("true"),
                "Whether the local modules a `.py` script imports (transitively: `import x`, `from . import y`, a package's `__init__.py`), found the way Python finds them from the script's folder, feed the step key. Azure ML hashes only the main script; `false` gives exactly that (list helper modules in `hash_paths` then). Installed and standard-library modules never feed it (the environment covers them).",
                "track_imports = false"
            ),
            key!(
                "normalize_script",
                Bool,
                Some("true"),
                "Whether a `.py` script and its modules are keyed by their Python tokens: comments, blank lines and spacing inside a line do not change the key (a comment-only edit reuses the result and says so); every token, string, docstring and indentation does. `false` keys the bytes.",
                "normalize_script = false"
            ),
            key!(
                "trace_reads",
                Bool,
                Some("false"),
                "Whether the files the step opens are traced (with `strace`), so that a read of a file under the project that is not part of the step key is reported (`step train read config.yaml, which is not part of its key`). Off by default: tracing stops the step at every file it opens, which slows a Python step's start (figures in docs/pipeline-format.md). `runner build --trace-reads` turns it on for one build.",
                "trace_reads = true"
            ),
            key!(
                "timeout",
                Integer,
                None,
                "Seconds the step may run before it is stopped (SIGTERM, then SIGKILL) and fails (at least 1). Without it, no limit.",
                "timeout = 3600"
            ),
            key!(
                "env",
                StringTable,
                Some("{}"),
                "Environment variables set for the step; placeholders allowed. Names are letters, digits and `_`, not starting with a digit; a number or boolean value is passed as written. Names and values are part of the step key.",
                r#"env = { OMP_NUM_THREADS = "1" }"#
            ),
            key!(
                "description",
                String,
                None,
                "What the step does.",
                r#"description = "fit a random forest""#
            ),
        ],
        example: "[steps.train]\nscript = \"train.py\"\nsource_directory = \"src\"\nenvironment = \"sklearn\"\narguments = [\"--data\", \"${inputs.data}\", \"--model\", \"${outputs.model}\", \"--n\", \"${params.n_estimators}\"]\ninputs = { data = \"steps.prepare.outputs.split\" }\noutputs = [\"model\"]\nhash_paths = [\"config/\"]\n",
    },
    TableSpec {
        name: "cache",
        named: false,
        doc: "The shared cache: step results (action cache entries and their output blobs) kept in a datastore, so that a teammate's clone or CI reuses every step someone already ran with the same key. A build looks in the local cache first, then in the shared one; what it downloads is verified (each blob hashes to its digest) before use; what it uploads is written with `If-None-Match: *`, so writers never clobber each other. A shared cache is as trustworthy as everyone who can write to it: use `upload = false` for untrusted builds (pull requests).",
        keys: &[
            key!(
                "remote",
                String,
                req,
                "The datastore holding the shared cache (`azure_blob`, `s3`, or a `local` folder every machine sees).",
                r#"remote = "blob""#
            ),
            key!(
                "upload",
                Bool,
                Some("true"),
                "Whether results of steps that ran here are written to the shared cache (`false`: read only).",
                "upload = false"
            ),
            key!(
                "download",
                String,
                Some("\"final\""),
                "Which outputs of a step reused from the shared cache are downloaded: `all`; `final` (those no step of the pipeline consumes; an output a step that runs needs is fetched then); `none`.",
                r#"download = "all""#
            ),
        ],
        example: "[cache]\nremote = \"blob\"\n",
    },
];

/// `docs/pipeline-format.md`, generated from [`TABLES`].
pub fn markdown() -> String {
    let mut out = String::from(
        "<!-- Generated from crates/hir/src/schema.rs by `UPDATE_EXPECT=1 cargo test -p hir schema`; do not edit. -->\n\
         # `pipeline.toml` format v1\n\n\
         A pipeline is one TOML file, `pipeline.toml` (or `NAME.pipeline.toml`). Its tables are listed below; \
         every key not listed is an error (`E0101 unknown-key`). Names of steps, outputs, inputs, parameters \
         and other items are letters, digits and `_` (`-` also allowed), starting with a letter or `_`.\n\n\
         Paths: `source_directory` is relative to the folder holding `pipeline.toml`; `script` and \
         `hash_paths` are relative to `source_directory`; a `local` datastore's `path` is relative to the \
         pipeline's folder, and a data reference's `path` to its datastore.\n\n\
         References: an input is `data.NAME` or `steps.STEP.outputs.OUTPUT`. Placeholders in `arguments`, \
         `command` and `env`: `${inputs.NAME}`, `${outputs.NAME}`, `${params.NAME}`; `$${` writes a literal `${`.\n\n\
         Reuse: a step's key covers its script, the local modules a `.py` script imports \
         (`track_imports`), its `hash_paths`, the content of its inputs, the parameters and \
         arguments it uses, its environment and its `env`. A `.py` script and its modules are keyed \
         by their Python tokens, so a comment or a blank line reruns nothing (`normalize_script`). \
         Azure ML keys the main script's bytes alone (\"only the main script file is hashed\"): \
         `track_imports = false` and `normalize_script = false` give that rule back. A file a step \
         reads without naming it is found by tracing the step (`trace_reads`, `runner build \
         --trace-reads`): a warning names it, `strict_reads` fails the step, and a result made \
         reading it is not reused once it changes. See `docs/reuse.md`.\n\n\
         Editors: `runner schema` prints a JSON Schema of this format (also in `docs/pipeline.schema.json`) \
         for TOML extensions such as Even Better TOML; `runner check` checks what a schema cannot \
         (references, paths, placeholders, cycles).\n\n",
    );
    for t in TABLES {
        let header = if t.named { format!("[{}.NAME]", t.name) } else { format!("[{}]", t.name) };
        out.push_str(&format!("## `{header}`\n\n{}\n\n", t.doc));
        if t.name == "parameters" {
            out.push_str("The long form takes these keys:\n\n");
        }
        out.push_str("| key | type | default | meaning |\n|---|---|---|---|\n");
        for k in t.keys {
            let default = match (k.required, k.default) {
                (true, _) => "required".to_owned(),
                (false, Some(d)) if is_toml_value(d) => format!("`{d}`"),
                (false, Some(words)) => words.to_owned(),
                (false, None) => "—".to_owned(),
            };
            out.push_str(&format!(
                "| `{}` | {} | {} | {} Example: `{}` |\n",
                k.name,
                k.ty.describe(),
                default,
                k.doc.replace('|', "\\|"),
                k.example.replace('|', "\\|")
            ));
        }
        out.push_str(&format!("\n```toml\n{}```\n\n", t.example));
    }
    out
}

/// Whether a default is a TOML value (`"local"`, `[]`) rather than words.
fn is_toml_value(default: &str) -> bool {
    let parse = syntax::parse(&format!("v = {default}\n"));
    parse.errors.is_empty() && parse.root.entries.len() == 1
}
