//! `runner publish`, `runner published` and `runner token`: an immutable published pipeline
//! with its snapshot, enable/disable, and tokens kept as hashes only.

use serde_json::Value;

use crate::support::Project;

const PIPELINE: &str = r#"
[parameters]
C = 1.0

[steps.train]
command = ["sh", "-c", "echo ok > \"$1/m.txt\"", "sh", "${outputs.model}"]
arguments = []
outputs = ["model"]
env = { C = "${params.C}" }
"#;

fn project() -> Project {
    Project::with(&[
        ("pipeline.toml", PIPELINE),
        ("src/helper.py", "X = 1\n"),
        ("notes/scratch.txt", "ignored\n"),
        (".amlignore", "notes/\n"),
    ])
}

fn json(p: &Project, args: &[&str]) -> Value {
    let run = p.run(args);
    run.assert_code(0);
    serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| panic!("{e}\n{}", run.transcript()))
}

fn publish(p: &Project, version: &str) -> Value {
    let root = p.root().display().to_string();
    json(p, &["publish", &root, "--name", "train", "--version", version, "--format", "json"])
}

fn snapshot_of(p: &Project, id: &str) -> String {
    let root = p.root().display().to_string();
    let list = json(p, &["published", "list", "--all", "-p", &root, "--format", "json"]);
    let found = list.as_array().unwrap().iter().find(|x| x["id"] == id).expect("listed");
    found["snapshot"].as_str().unwrap().to_owned()
}

#[test]
fn a_published_pipeline_is_immutable_and_versions_are_published_once() {
    let p = project();
    let root = p.root().display().to_string();
    let v1 = publish(&p, "1.0");
    let id = v1["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 36, "a UUID: {v1}");
    assert_eq!(v1["endpoint"], format!("http://127.0.0.1:8765/pipelines/{id}"));
    let again = p.run(&["publish", &root, "--name", "train", "--version", "1.0"]);
    again.assert_code(2);
    assert!(again.stderr.contains("is published already"), "{}", again.transcript());
    // An ignored file is not in the snapshot; any other edit is, in a new version only.
    let first = snapshot_of(&p, &id);
    p.write("notes/scratch.txt", "edited\n");
    let v2 = publish(&p, "1.1");
    assert_eq!(snapshot_of(&p, v2["id"].as_str().unwrap()), first, ".amlignore honoured");
    p.write("src/helper.py", "X = 2\n");
    p.write("pipeline.toml", &PIPELINE.replace("C = 1.0", "C = 0.5"));
    let v3 = publish(&p, "2.0");
    assert_ne!(snapshot_of(&p, v3["id"].as_str().unwrap()), first);
    assert_eq!(snapshot_of(&p, &id), first, "the published one did not change");
    let show = p.run(&["published", "show", &id, "-p", &root]);
    assert!(show.stdout.contains("param C = 1.0"), "{}", show.transcript());
}

#[test]
fn disabled_pipelines_are_listed_only_with_all() {
    let p = project();
    let root = p.root().display().to_string();
    let id = publish(&p, "1").as_object().unwrap()["id"].as_str().unwrap().to_owned();
    p.run(&["published", "disable", &id, "-p", &root]).assert_code(0);
    let list = p.run(&["published", "list", "-p", &root]);
    assert!(!list.stdout.contains(&id), "{}", list.transcript());
    let all = p.run(&["published", "list", "--all", "-p", &root]);
    assert!(all.stdout.contains(&format!("{id}  train 1  (disabled)")), "{}", all.transcript());
    p.run(&["published", "enable", &id, "-p", &root]).assert_code(0);
    assert!(p.run(&["published", "list", "-p", &root]).stdout.contains(&id));
    let unknown = p.run(&["published", "disable", "no-such-id", "-p", &root]);
    unknown.assert_code(2);
    assert!(
        unknown.stderr.contains("no published pipeline no-such-id"),
        "{}",
        unknown.transcript()
    );
}

#[test]
fn a_token_is_printed_once_and_only_its_hash_is_kept() {
    let p = project();
    let root = p.root().display().to_string();
    let made = p.run(&["token", "create", "--name", "ci", "-p", &root]);
    made.assert_code(0);
    let token = made.stdout.trim().to_owned();
    assert_eq!(made.stdout.lines().count(), 1, "alone on stdout: {}", made.transcript());
    assert!(token.starts_with("rt_") && token.len() == 67, "{token}");
    let stored = std::fs::read(p.state().join("history.sqlite")).unwrap();
    let wal = std::fs::read(p.state().join("history.sqlite-wal")).unwrap_or_default();
    let holds = |bytes: &[u8]| bytes.windows(token.len()).any(|w| w == token.as_bytes());
    assert!(!holds(&stored) && !holds(&wal), "the token's text is not stored");
    let twice = p.run(&["token", "create", "--name", "ci", "-p", &root]);
    twice.assert_code(2);
    assert!(twice.stderr.contains("a token named ci exists"), "{}", twice.transcript());
    let list = json(&p, &["token", "list", "-p", &root, "--format", "json"]);
    assert_eq!(list[0]["name"], "ci");
    assert!(list[0]["revoked_ms"].is_null());
    p.run(&["token", "revoke", "ci", "-p", &root]).assert_code(0);
    assert!(p.run(&["token", "list", "-p", &root]).stdout.contains("ci  (revoked)"));
    p.run(&["token", "revoke", "ci", "-p", &root]).assert_code(2);
    let json_made = json(&p, &["token", "create", "--name", "ci", "-p", &root, "--format", "json"]);
    assert_eq!(json_made["name"], "ci", "a revoked name can be made again");
    assert_ne!(json_made["token"].as_str().unwrap(), token);
}

#[test]
fn a_pipeline_with_errors_is_not_published() {
    let p = Project::with(&[("pipeline.toml", "[steps.a]\nscript = \"missing.py\"\n")]);
    let root = p.root().display().to_string();
    let run = p.run(&["publish", &root, "--name", "a", "--version", "1"]);
    run.assert_code(1);
    assert!(run.stderr.contains("nothing was published"), "{}", run.transcript());
}
