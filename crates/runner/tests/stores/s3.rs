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

/// A fault-injecting proxy (`tests/services/faulty_proxy.py`) in front of the real moto
/// server: the one part of these tests that is not the real thing, as no real server
/// fails on demand. Stopped by its PID when dropped.
struct FaultyProxy {
    child: std::process::Child,
    control: std::path::PathBuf,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl FaultyProxy {
    fn start(listen: &str) -> FaultyProxy {
        let dir = tempfile::tempdir().unwrap();
        let (control, log) = (dir.path().join("mode"), dir.path().join("requests.log"));
        std::fs::write(&control, "ok").unwrap();
        let script = crate::services::workspace().join("tests/services/faulty_proxy.py");
        let child = std::process::Command::new("python3")
            .arg(script)
            .args([listen, PORT])
            .arg(&control)
            .arg(&log)
            .spawn()
            .unwrap();
        let addr = format!("127.0.0.1:{listen}");
        for _ in 0..100 {
            if std::net::TcpStream::connect(&addr).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        FaultyProxy { child, control, log, _dir: dir }
    }

    fn set(&self, mode: &str) {
        std::fs::write(&self.control, mode).unwrap();
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for FaultyProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A 500 now and then is retried; a store that keeps failing stops the build naming the
/// store and the object; a download cut short fails the step and leaves nothing behind; a
/// shared cache whose downloads are cut is not used, and the build goes on.
#[test]
fn faults_are_retried_then_named() {
    let Some(store) = start() else { return };
    let proxy = FaultyProxy::start("15011");
    let keys = store.keys.replace(&format!(":{PORT}\""), ":15011\"");
    let p = store.project();
    p.write(
        "pipeline.toml",
        &format!(
            "[datastores.lake]\n{keys}\n\n[data.a]\ndatastore = \"lake\"\npath = \"raw/a.csv\"\n\n\
             [steps.copy]\ncommand = [\"cp\", \"${{inputs.a}}\", \"${{outputs.o}}/a.csv\"]\n\
             inputs = {{ a = \"data.a\" }}\noutputs = [\"o\"]\n"
        ),
    );
    p.write("a.csv", &"x,y\n".repeat(1000));
    p.run(&["upload", "a.csv", "--datastore", "lake", "--target", "raw"]).assert_code(0);

    proxy.set("500 2");
    let flaky = p.build(&[]);
    flaky.assert_code(0);
    assert_eq!(flaky.step("copy").status, "ran");
    assert_eq!(proxy.log().matches("(injected)").count(), 2, "{}", proxy.log());

    proxy.set("500 always");
    let down = p.run(&["build"]);
    down.assert_code(2);
    assert!(down.stderr.contains("datastore `lake`: raw/"), "{}", down.transcript());
    assert!(
        down.stderr.contains("500") && down.stderr.contains("retries"),
        "{}",
        down.transcript()
    );

    // A store that hangs: each request times out (here after 1 s), is retried, then named.
    proxy.set("stall");
    let started = std::time::Instant::now();
    let hung = p.cmd().env("RUNNER_DATASTORE_TIMEOUT", "1").arg("build").output().unwrap();
    let stderr = String::from_utf8_lossy(&hung.stderr);
    assert_eq!(hung.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("datastore `lake`: raw/") && stderr.contains("retries"), "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(25), "{:?}", started.elapsed());

    proxy.set("ok");
    p.write("a.csv", &"x,z\n".repeat(1000));
    p.run(&["upload", "a.csv", "--datastore", "lake", "--target", "raw", "--overwrite"])
        .assert_code(0);
    // A download cut short is resumed where it stopped (a ranged GET), and checked.
    proxy.set("cut");
    let resumed = p.build(&[]);
    resumed.assert_code(0);
    assert!(proxy.log().contains("(cut)") && proxy.log().contains("-> 206"), "{}", proxy.log());
    assert_eq!(p.output("copy", "o", "a.csv"), "x,z\n".repeat(1000));
    // Cut every time: the step fails naming the object, and no partial download is kept.
    p.write("a.csv", &"x,w\n".repeat(1000));
    p.run(&["upload", "a.csv", "--datastore", "lake", "--target", "raw", "--overwrite"])
        .assert_code(0);
    let before = crate::support::Project::files_under(&p.state().join("datastores/lake"));
    proxy.set("cut always");
    let cut = p.build(&[]);
    assert_eq!(cut.run.code, Some(1), "{}\n{}", cut.run.transcript(), proxy.log());
    assert!(cut.reason("copy").contains("datastore `lake`: raw/a.csv"), "{}", cut.run.transcript());
    let after = crate::support::Project::files_under(&p.state().join("datastores/lake"));
    assert_eq!(before, after, "a cut download was kept");
    proxy.set("ok");
    let healed = p.build(&[]);
    healed.assert_code(0);
    assert_eq!(p.output("copy", "o", "a.csv"), "x,w\n".repeat(1000));

    // The shared cache behind the proxy: clone A fills it, clone B's downloads are cut.
    let pipeline = format!(
        "[datastores.c]\n{keys}\n\n[cache]\nremote = \"c\"\ndownload = \"all\"\n\n{}",
        crate::two_steps("cut-me")
    );
    let a = store.project();
    a.write("pipeline.toml", &pipeline);
    a.build(&[]).assert_code(0);
    let b = store.project();
    b.write("pipeline.toml", &pipeline);
    proxy.set("cut always");
    let partial = b.build(&[]);
    partial.assert_code(0);
    assert!(
        partial.run.stderr.contains("the shared cache `c` failed"),
        "{}",
        partial.run.transcript()
    );
    assert_eq!(b.output("two", "o", "b.txt"), "cut-me\n");
    assert!(
        !b.state().join("cache/tmp").read_dir().unwrap().any(|_| true),
        "a temporary file was left"
    );
}
