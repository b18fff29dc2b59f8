//! The Azure ML SDK's names for what `pipeline.toml` spells otherwise, so that a user
//! porting a pipeline is told what a name maps to, or that it is not needed, instead of a
//! list of every key. Sources: the SDK v1 reference of `PythonScriptStep`,
//! `PipelineParameter`, `DataReference`, `AmlCompute.provisioning_configuration`,
//! `Environment` and `Datastore.register_azure_blob_container`.

/// What an Azure ML name becomes here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AzureMl {
    /// The same thing under another key: write this one.
    Rename(&'static str),
    /// Nothing here needs it: why.
    NotNeeded(&'static str),
}

/// The Azure ML meaning of key `key` in a table of kind `table` (`steps`, `compute`, …),
/// if it is an SDK name.
pub fn lookup(table: &str, key: &str) -> Option<AzureMl> {
    use AzureMl::*;
    Some(match (table, key) {
        ("steps", "script_name") => Rename("script"),
        ("steps", "compute_target") => Rename("compute"),
        ("steps", "runconfig" | "run_config") => NotNeeded(
            "a step names its Python environment with `environment = \"NAME\"` ([environments.NAME])",
        ),
        ("steps", "name") => NotNeeded("a step's name is its table's: `[steps.NAME]`"),
        ("steps", "params") => {
            NotNeeded("pass a parameter as an argument: `arguments = [\"--lr\", \"${params.lr}\"]`")
        }
        ("parameters", "default_value") => Rename("default"),
        ("data", "path_on_datastore") => Rename("path"),
        ("data", "data_reference_name") => {
            NotNeeded("a data reference's name is its table's: `[data.NAME]`")
        }
        ("data", "mode") => NotNeeded(
            "a step reads a data reference through `${inputs.NAME}`, mounted or downloaded as the datastore needs",
        ),
        ("compute", "min_nodes") => NotNeeded(
            "runner starts steps when they are ready and keeps no nodes idle; `max_nodes` caps how many run at once",
        ),
        ("compute", "vm_size") => NotNeeded(
            "a target here is a machine that exists (this one, a Slurm cluster, an ssh host); for Slurm, ask for resources with `cpus_per_task` and `mem`",
        ),
        ("compute", "idle_seconds_before_scaledown") => {
            NotNeeded("runner provisions nothing, so there is nothing to scale down")
        }
        ("environments", "conda_dependencies" | "pip_packages") => {
            NotNeeded("list the packages in a requirements file and set `requirements = \"FILE\"`")
        }
        _ => return None,
    })
}
