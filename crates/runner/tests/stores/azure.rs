//! Azure Blob Storage, on Azurite.

use crate::services::Service;
use crate::{Store, installed};

const PORT: &str = "10010";
const ACCOUNT: &str = "devstoreaccount1";
/// Azurite's documented development key (not a secret anywhere).
const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

fn start() -> Option<Store> {
    let program = installed("azurite/node_modules/.bin/azurite-blob");
    let service = Service::start("azurite", &[PORT, "data"], &[&program, "node"])?;
    let endpoint = format!("http://127.0.0.1:{PORT}/{ACCOUNT}");
    Some(Store {
        keys: format!(
            "kind = \"azure_blob\"\naccount = \"{ACCOUNT}\"\ncontainer = \"data\"\nendpoint = \"{endpoint}\""
        ),
        env: vec![(
            "AZURE_STORAGE_CONNECTION_STRING".to_owned(),
            format!("DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"),
        )],
        log: service.dir.join("azurite.log"),
        _service: service,
    })
}

#[test]
fn azure_blob_data_and_shared_cache() {
    let Some(store) = start() else { return };
    crate::two_clones_share_their_results(&store);
    crate::upload_keeps_other_content(&store);
    crate::outputs_are_written_to_the_store(&store);
    crate::garbled_blob_is_not_used(&store);
    crate::hostile_entry_is_not_used(&store);
    crate::no_op_lists_each_prefix_once(&store, "comp=list");
    let dead = format!(
        "kind = \"azure_blob\"\naccount = \"{ACCOUNT}\"\ncontainer = \"data\"\nendpoint = \"http://127.0.0.1:9/{ACCOUNT}\""
    );
    crate::unreachable_cache_warns_once(&store, &dead);
    missing_container_is_named(&store);
    no_credentials_says_what_to_set(&store);
}

fn missing_container_is_named(store: &Store) {
    let p = store.project();
    let keys = store.keys.replace("container = \"data\"", "container = \"nope\"");
    p.write("pipeline.toml", &format!("[datastores.gone]\n{keys}\n"));
    p.write("x.csv", "1\n");
    let up = p.run(&["upload", "x.csv", "--datastore", "gone"]);
    up.assert_code(2);
    assert!(up.stderr.contains("nope"), "{}", up.transcript());
    assert!(!up.stderr.contains(KEY), "{}", up.transcript());
}

fn no_credentials_says_what_to_set(store: &Store) {
    let p = crate::support::Project::new();
    p.write(
        "pipeline.toml",
        &format!("{}\n[data.d]\ndatastore = \"blob\"\npath = \"a.csv\"\n", store.table("blob")),
    );
    let mut cmd = p.cmd();
    cmd.env_remove("AZURE_STORAGE_CONNECTION_STRING")
        .env_remove("AZURE_STORAGE_ACCOUNT_KEY")
        .env_remove("AZURE_STORAGE_SAS_TOKEN");
    let out = cmd.args(["check"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no credentials: set AZURE_STORAGE_CONNECTION_STRING"), "{stderr}");
    crate::secret_stays_secret(&p, KEY);
}
