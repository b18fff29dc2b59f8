//! Concurrent builds on one `.runner/`: 8 at once, with two parameter values between them,
//! round after round. Every build succeeds without "database is locked"; a key is computed
//! once however many builds want it (they wait for each other's results); and the views and
//! the build memo always show the outputs of the build that reported last for them.

use std::process::Stdio;
use std::time::Instant;

use crate::pipeline::{env_or, expected, generate, write, wrong_views};
use crate::support::{Project, Run};

const BUILDS: usize = 8;

#[test]
fn concurrent_builds() {
    let rounds = env_or("RELIABILITY_ROUNDS", 20);
    let p = Project::new();
    let steps = generate(10, 0xc0c0_a11e, 0.03);
    write(&p, &steps);
    let root = p.root().display().to_string();
    let (mut ran, mut locked, mut failed, mut wrong) = (0, 0, 0, 0);
    let started = Instant::now();
    for round in 0..rounds {
        let salts = [format!("a{round}"), format!("b{round}")];
        let children: Vec<_> = (0..BUILDS)
            .map(|i| {
                let param = format!("salt={}", salts[i % 2]);
                let args = ["build", root.as_str(), "--param", param.as_str(), "--format", "json"];
                let child = p
                    .cmd()
                    .args(args)
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                (args.map(str::to_owned), child)
            })
            .collect();
        for (args, child) in children {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let run = Run::from(&args, child.wait_with_output().unwrap());
            if run.stderr.contains("locked") {
                locked += 1;
            }
            if run.code != Some(0) {
                failed += 1;
                eprintln!("round {round}: a build failed\n{}", run.transcript());
                continue;
            }
            let doc: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
            ran += doc["steps"].as_array().unwrap().iter().filter(|s| s["status"] == "ran").count();
        }
        // Each value once more, alone: its views, and the memo that vouches for them, must
        // be its own, whatever the concurrent builds left.
        for salt in &salts {
            let b = p.build(&["--param", &format!("salt={salt}")]);
            if b.run.code != Some(0) {
                failed += 1;
            }
            let bad = wrong_views(&p, &expected(&steps, salt));
            if !bad.is_empty() {
                eprintln!(
                    "round {round}, salt {salt}: wrong views {bad:?}\n{}",
                    b.run.transcript()
                );
            }
            wrong += bad.len();
        }
    }
    let most = rounds * BUILDS * steps.len();
    eprintln!(
        "concurrency: {rounds} rounds of {BUILDS} builds at once (2 parameter values) of a \
         {}-step pipeline: {failed} failed builds, {locked} 'locked' errors, {wrong} wrong views, \
         {ran} step executions of at most {most} ({:.0}% shared), in {:.0} s",
        steps.len(),
        100.0 * (1.0 - ran as f64 / most as f64),
        started.elapsed().as_secs_f64()
    );
    assert_eq!((failed, locked, wrong), (0, 0, 0));
    assert!(ran < most, "no work was shared: {ran} of {most}");
    assert!(ran <= rounds * 2 * steps.len() * 2, "little work was shared: {ran} of {most}");
}
