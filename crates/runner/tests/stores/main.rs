//! Datastores in object stores and the shared cache, end to end against real services that
//! each test starts and stops by PID (`tests/services/*.sh`): Azurite (Azure Blob) and
//! moto's S3 server. `.ci/run` installs them (`azurite.sh install`, `s3.sh install`);
//! elsewhere, set `RUNNER_TEST_SERVICES=skip` to skip them.
//!
//! The example pipeline (`examples/digits`) with its data uploaded to the store and the
//! store as its shared cache: built in one clone, then in a second clone with an empty
//! `.runner/` that runs nothing, then a parameter edit in the second clone that the first
//! reuses. Then the faults: a store that is down, a blob that does not hash to its name,
//! an upload over other content, a missing container, and the requests a no-op makes.

#![allow(missing_docs, clippy::print_stderr)]

#[path = "../cli/support.rs"]
#[allow(dead_code)]
mod support;

#[path = "../targets/services.rs"]
#[allow(dead_code)]
mod services;

mod azure;
mod s3;

use std::path::PathBuf;

use services::{Service, digits_into, workspace};
use support::Project;

/// A store under test: how a pipeline declares it and the credentials it needs.
pub struct Store {
    /// `[datastores.NAME]`'s keys beside the name (kind, account or bucket, endpoint).
    pub keys: String,
    /// The environment variables holding its credentials.
    pub env: Vec<(String, String)>,
    /// The service's log, which lists each request it served.
    pub log: PathBuf,
    /// Keeps the service running.
    pub _service: Service,
}

impl Store {
    /// `[datastores.NAME]` for this store.
    pub fn table(&self, name: &str) -> String {
        format!("[datastores.{name}]\n{}\n", self.keys)
    }

    /// A new project whose commands get this store's credentials.
    pub fn project(&self) -> Project {
        let mut p = Project::new();
        for (k, v) in &self.env {
            p.set_env(k, v);
        }
        p
    }

    /// Requests the service has logged so far whose line contains `needle`.
    pub fn requests(&self, needle: &str) -> usize {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log.lines().filter(|l| l.contains("HTTP/1.1\"") && l.contains(needle)).count()
    }
}

/// Where `tests/services/NAME.sh install` put a service's program.
pub fn installed(rel: &str) -> String {
    workspace().join("target/services").join(rel).display().to_string()
}

/// `examples/digits` in `project`, its data reference read from the datastore `workspace`
/// declared as `store`, which also holds the shared cache; the local copy of the data is
/// removed, so what a build reads comes from the store.
pub fn digits_on(store: &Store, project: &Project) {
    digits_into(project.root(), "");
    let file = project.root().join("pipeline.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let local = "[datastores.workspace]\nkind = \"local\"\npath = \"datastore\"\n";
    assert!(text.contains(local), "the example's datastore table changed");
    let text = text.replace(local, &store.table("workspace"));
    std::fs::write(&file, format!("{text}\n[cache]\nremote = \"workspace\"\n")).unwrap();
}

/// Uploads the example's data from `project` to the store, then removes the local copy.
pub fn upload_digits(project: &Project) {
    let up = project.run(&[
        "upload",
        "datastore/raw/digits.csv",
        "--datastore",
        "workspace",
        "--target",
        "raw",
    ]);
    up.assert_code(0);
    assert!(up.stderr.contains("→ workspace:raw/digits.csv"), "{}", up.transcript());
    std::fs::remove_dir_all(project.root().join("datastore")).unwrap();
}

/// The whole story of the issue on one store: see the module docs.
pub fn two_clones_share_their_results(store: &Store) {
    let a = store.project();
    digits_on(store, &a);
    upload_digits(&a);
    let first = a.build(&[]);
    first.assert_code(0);
    let steps = first.steps();
    assert!(steps.len() == 6 && steps.values().all(|s| s.status == "ran"), "{steps:?}");
    let uploaded = first.doc["shared_cache"]["uploaded_bytes"].as_u64().unwrap();
    assert!(uploaded > 0, "{}", first.run.transcript());

    // A second clone with an empty `.runner/`: nothing runs, the report is there, and the
    // intermediate outputs stay in the store (`download = "final"`).
    let b = store.project();
    digits_on(store, &b);
    std::fs::remove_dir_all(b.root().join("datastore")).unwrap();
    let second = b.build(&[]);
    second.assert_code(0);
    let steps = second.steps();
    assert!(steps.values().all(|s| s.status == "reused"), "{}", second.run.transcript());
    let origin = format!(
        "from the shared cache: run {} of digits in {}",
        first.run_id(),
        a.root().display()
    );
    assert!(second.reason("compare").contains(&origin), "{}", second.run.transcript());
    assert!(b.output("compare", "report", "report.md").contains("better model"));
    assert!(
        !b.state().join("outputs/prepare.split").exists(),
        "an intermediate output was downloaded"
    );
    let show = b.run(&["show", &second.run_id().to_string(), "compare"]);
    show.assert_code(0);
    assert!(show.stdout.contains(&origin), "{}", show.transcript());
    let forest = b.run(&["show", &second.run_id().to_string(), "evaluate_forest"]);
    assert!(forest.stdout.contains("metric accuracy = "), "{}", forest.transcript());
    let logs = b.run(&["logs", &second.run_id().to_string(), "train_forest"]);
    logs.assert_code(0);

    // A parameter edit in the second clone runs what it reaches (the split it reads is
    // fetched from the store then) and shares the results, which the first clone reuses.
    let third = b.build(&["--param", "n_estimators=20"]);
    third.assert_code(0);
    third.assert_steps(&[
        ("prepare", "reused"),
        ("train_logreg", "reused"),
        ("evaluate_logreg", "reused"),
        ("train_forest", "ran"),
        ("evaluate_forest", "ran"),
        ("compare", "ran"),
    ]);
    let fourth = a.build(&["--param", "n_estimators=20"]);
    fourth.assert_code(0);
    let steps = fourth.steps();
    assert!(steps.values().all(|s| s.status == "reused"), "{}", fourth.run.transcript());
    assert!(fourth.reason("compare").contains(&b.root().display().to_string()));
}

/// A shared cache that cannot be reached: one warning, and the build goes on locally.
pub fn unreachable_cache_warns_once(store: &Store, dead_keys: &str) {
    let p = store.project();
    p.write(
        "pipeline.toml",
        &format!(
            "[datastores.down]\n{dead_keys}\n\n[cache]\nremote = \"down\"\n\n{}",
            two_steps("x")
        ),
    );
    let build = p.build(&[]);
    build.assert_code(0);
    build.assert_steps(&[("one", "ran"), ("two", "ran")]);
    let warned = build.run.stderr.matches("the shared cache `down` failed").count();
    assert_eq!(warned, 1, "{}", build.run.transcript());
    assert!(
        build.run.stderr.contains("goes on with the local cache"),
        "{}",
        build.run.transcript()
    );
}

/// Two steps, the second reading the first's output; `tag` goes into the first's output.
pub fn two_steps(tag: &str) -> String {
    format!(
        r#"[steps.one]
command = ["sh", "-c", "echo {tag} > \"$0/a.txt\"", "${{outputs.o}}"]
outputs = ["o"]

[steps.two]
command = ["sh", "-c", "cat \"$0/a.txt\" > \"$1/b.txt\"", "${{inputs.i}}", "${{outputs.o}}"]
inputs = {{ i = "steps.one.outputs.o" }}
outputs = ["o"]
"#
    )
}

/// The blob of the shared cache that holds `bytes`, as `runner upload` names it.
pub fn blob_name(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    let hex: String = sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
    format!("runner-cache/v1/cas/{hex}")
}

/// A blob of the shared cache replaced by other bytes (as someone with write access could):
/// a clone that needs it does not use the entry, says why, and runs the step.
pub fn garbled_blob_is_not_used(store: &Store) {
    // Past the size an entry carries inline, so the blob is read from `cas/`.
    let tag = "g".repeat(20_000);
    let a = store.project();
    let pipeline = format!(
        "{}\n[cache]\nremote = \"cache\"\ndownload = \"all\"\n\n{}",
        store.table("cache"),
        two_steps(&tag)
    );
    a.write("pipeline.toml", &pipeline);
    a.build(&[]).assert_code(0);
    // Replace the blob of `one`'s output with other bytes under the same name.
    let name = blob_name(format!("{tag}\n").as_bytes());
    let (dir, file) = name.rsplit_once('/').unwrap();
    a.write(file, "tampered\n");
    a.run(&["upload", file, "--datastore", "cache", "--target", dir, "--overwrite"]).assert_code(0);
    let b = store.project();
    b.write("pipeline.toml", &pipeline);
    let build = b.build(&[]);
    build.assert_code(0);
    assert_eq!(build.step("one").status, "ran", "{}", build.run.transcript());
    assert!(build.run.stderr.contains("does not hash to its name"), "{}", build.run.transcript());
    assert_eq!(b.output("two", "o", "b.txt"), format!("{tag}\n"));
}

/// A shared cache entry is hostile input: one whose outputs are not the step's (a name
/// that would lead a view out of `.runner/`) is not used, and nothing is written outside.
pub fn hostile_entry_is_not_used(store: &Store) {
    let pipeline = format!(
        "{}\n[cache]\nremote = \"h\"\nupload = false\n\n{}",
        store.table("h"),
        two_steps("hostile")
    );
    let a = store.project();
    a.write("pipeline.toml", &pipeline);
    let built = a.build(&[]);
    built.assert_code(0);
    let key = built.doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "one")
        .and_then(|s| s["key"].as_str())
        .unwrap()
        .to_owned();
    let zero = "0".repeat(64);
    let entry = format!(
        "{{\"step\":\"one\",\"outputs\":{{\"../../../escaped\":\"{zero}\"}},\"run_id\":1,\"created_ms\":0}}"
    );
    a.write(&key, &entry);
    let put = a.run(&["upload", &key, "--datastore", "h", "--target", "runner-cache/v1/ac"]);
    put.assert_code(0);
    let b = store.project();
    b.write("pipeline.toml", &pipeline);
    let build = b.build(&[]);
    build.assert_code(0);
    assert_eq!(build.step("one").status, "ran", "{}", build.run.transcript());
    assert!(
        build.run.stderr.contains("names other outputs than the step's"),
        "{}",
        build.run.transcript()
    );
    assert!(!b.root().join("../escaped").exists() && !b.root().join("escaped").exists());
}

/// `runner upload` over other content needs `--overwrite`; the same content is left alone.
pub fn upload_keeps_other_content(store: &Store) {
    let p = store.project();
    p.write(
        "pipeline.toml",
        &format!(
            "{}\n[data.wine]\ndatastore = \"up\"\npath = \"raw/wine.csv\"\n",
            store.table("up")
        ),
    );
    p.write("wine.csv", "a,b\n1,2\n");
    let up = |extra: &[&str]| {
        let mut args = vec!["upload", "wine.csv", "--datastore", "up", "--target", "raw"];
        args.extend_from_slice(extra);
        p.run(&args)
    };
    up(&[]).assert_code(0);
    let same = up(&[]);
    same.assert_code(0);
    assert!(same.stderr.contains("unchanged wine.csv"), "{}", same.transcript());
    p.write("wine.csv", "a,b\n3,4\n");
    let refused = up(&[]);
    refused.assert_code(2);
    assert!(
        refused.stderr.contains("raw/wine.csv: already exists with other content"),
        "{}",
        refused.transcript()
    );
    let replaced = up(&["--overwrite"]);
    replaced.assert_code(0);
    assert!(replaced.stderr.contains("replaced wine.csv"), "{}", replaced.transcript());
    p.run(&["check"]).assert_code(0);
}

/// 100 data references to objects under one prefix: a no-op build makes one request for
/// them all (a listing of the prefix), and a changed object reruns exactly its step.
pub fn no_op_lists_each_prefix_once(store: &Store, list_marker: &str) {
    let p = store.project();
    let mut text = store.table("many");
    for i in 0..100 {
        p.write(&format!("refs/r{i:03}.txt"), &format!("{i}\n"));
        text.push_str(&format!(
            "\n[data.r{i:03}]\ndatastore = \"many\"\npath = \"refs/r{i:03}.txt\"\n\n[steps.s{i:03}]\n\
             command = [\"sh\", \"-c\", \"cat \\\"$0\\\" > \\\"$1/c.txt\\\"\", \"${{inputs.d}}\", \"${{outputs.o}}\"]\n\
             inputs = {{ d = \"data.r{i:03}\" }}\noutputs = [\"o\"]\n"
        ));
    }
    p.write("pipeline.toml", &text);
    p.run(&["upload", "refs", "--datastore", "many"]).assert_code(0);
    let first = p.build(&[]);
    first.assert_code(0);
    assert_eq!(first.steps().values().filter(|s| s.status == "ran").count(), 100);
    let before = store.requests("");
    let noop = p.build(&[]);
    noop.assert_code(0);
    assert!(noop.steps().values().all(|s| s.status == "reused"));
    let made = store.requests("") - before;
    let lists = store.requests(list_marker);
    assert_eq!(made, 1, "a no-op made {made} requests ({lists} listings in all)");
    eprintln!(
        "no-op of 100 data references: {made} request, {:.3} s",
        noop.doc["seconds"].as_f64().unwrap()
    );

    p.write("refs/r042.txt", "changed\n");
    p.run(&["upload", "refs/r042.txt", "--datastore", "many", "--target", "refs", "--overwrite"])
        .assert_code(0);
    let after = p.build(&[]);
    after.assert_code(0);
    let ran: Vec<String> =
        after.steps().into_iter().filter(|(_, s)| s.status == "ran").map(|(n, _)| n).collect();
    assert_eq!(ran, ["s042"], "{}", after.run.transcript());
    assert!(after.reason("s042").starts_with("data.r042 changed"), "{}", after.reason("s042"));
    assert_eq!(p.output("s042", "o", "c.txt"), "changed\n");
}

/// An output named with the datastore is written there; `runner show` gives its URL, and
/// another pipeline reads it back as a data reference.
pub fn outputs_are_written_to_the_store(store: &Store) {
    let p = store.project();
    let text = format!(
        "[pipeline]\nname = \"writer\"\n\n{}\n[steps.train]\ncommand = [\"sh\", \"-c\", \"echo weights > \\\"$0/m.txt\\\"\", \"${{outputs.model}}\"]\noutputs = [{{ name = \"model\", datastore = \"out\" }}]\n",
        store.table("out")
    );
    p.write("pipeline.toml", &text);
    let built = p.build(&[]);
    built.assert_code(0);
    let show = p.run(&["show", &built.run_id().to_string(), "train"]);
    let line = show
        .stdout
        .lines()
        .find(|l| l.contains("output model is also in datastore out: "))
        .unwrap_or_else(|| panic!("{}", show.transcript()));
    let (_, rest) = line.split_once("/runner-outputs/").unwrap();
    assert!(rest.starts_with("writer/train/model/"), "{line}");
    let reader = store.project();
    reader.write(
        "pipeline.toml",
        &format!(
            "{}\n[data.model]\ndatastore = \"out\"\npath = \"runner-outputs/{rest}/m.txt\"\n\n[steps.use]\ncommand = [\"cp\", \"${{inputs.m}}\", \"${{outputs.o}}/copy.txt\"]\ninputs = {{ m = \"data.model\" }}\noutputs = [\"o\"]\n",
            store.table("out")
        ),
    );
    reader.build(&[]).assert_code(0);
    assert_eq!(reader.output("use", "o", "copy.txt"), "weights\n");
}

/// The credentials never reach the output or the project's state.
pub fn secret_stays_secret(project: &Project, secret: &str) {
    for file in Project::files_under(&project.state()) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
        assert!(!found, "the secret is in {}", file.display());
    }
}
