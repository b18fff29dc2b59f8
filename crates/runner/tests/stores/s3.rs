//! S3, on moto's server.

use crate::services::Service;
use crate::{Store, installed};

const PORT: &str = "15010";
const SECRET: &str = "a-secret-that-must-not-leak";

fn start() -> Option<Store> {
    let program = installed("moto/bin/moto_server");
    let service = Service::start("s3", &[PORT, "data"], &[&program])?;
    Some(Store {
        keys: format!(
            "kind = \"s3\"\nbucket = \"data\"\nregion = \"us-east-1\"\nendpoint = \"http://127.0.0.1:{PORT}\""
        ),
        env: vec![
            ("AWS_ACCESS_KEY_ID".to_owned(), "test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY".to_owned(), SECRET.to_owned()),
        ],
        log: service.dir.join("moto.log"),
        _service: service,
    })
}

#[test]
fn s3_data_and_shared_cache() {
    let Some(store) = start() else { return };
    crate::two_clones_share_their_results(&store);
    crate::upload_keeps_other_content(&store);
    crate::outputs_are_written_to_the_store(&store);
    crate::garbled_blob_is_not_used(&store);
    crate::no_op_lists_each_prefix_once(&store, "list-type=2");
    let dead = "kind = \"s3\"\nbucket = \"data\"\nendpoint = \"http://127.0.0.1:9\"";
    crate::unreachable_cache_warns_once(&store, dead);
    writers_never_clobber(&store);
}

/// A build that recomputes a key someone already shared (`--regenerate`, a step whose
/// output differs each time) does not replace the shared entry: a third clone gets the
/// first writer's result.
fn writers_never_clobber(store: &Store) {
    let pipeline = format!(
        "{}\n[cache]\nremote = \"c\"\n\n[steps.stamp]\ncommand = [\"sh\", \"-c\", \"date +%s%N > \\\"$0/t.txt\\\"\", \"${{outputs.o}}\"]\noutputs = [\"o\"]\n",
        store.table("c")
    );
    let a = store.project();
    a.write("pipeline.toml", &pipeline);
    a.build(&[]).assert_code(0);
    let first = a.output("stamp", "o", "t.txt");
    let b = store.project();
    b.write("pipeline.toml", &pipeline);
    let again = b.build(&["--regenerate"]);
    again.assert_code(0);
    assert_eq!(again.step("stamp").status, "ran");
    assert_ne!(b.output("stamp", "o", "t.txt"), first);
    let c = store.project();
    c.write("pipeline.toml", &pipeline);
    let third = c.build(&[]);
    third.assert_code(0);
    assert_eq!(third.step("stamp").status, "reused", "{}", third.run.transcript());
    assert_eq!(c.output("stamp", "o", "t.txt"), first, "the first writer's result was replaced");
    crate::secret_stays_secret(&a, SECRET);
    crate::secret_stays_secret(&c, SECRET);
    assert!(!third.run.stderr.contains(SECRET));
}
