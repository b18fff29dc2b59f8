//! The kill matrix: SIGKILL at pseudo-random moments of a 40-step build, alternately to the
//! runner alone and to its whole process group. After each kill: the killed build's step
//! processes die (its supervisor, or the next build, kills them), the next build succeeds,
//! and every output holds exactly what it must.

use std::os::unix::process::CommandExt as _;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::pipeline::{Rng, env_or, expected, generate, processes_with_env, write, wrong_views};
use crate::support::Project;

#[test]
fn kill_matrix() {
    let kills = env_or("RELIABILITY_KILLS", 100);
    let p = Project::new();
    let steps = generate(40, 0x5eed_4b11, 0.01);
    write(&p, &steps);
    let root = p.root().display().to_string();
    let tag = format!("KILL_MATRIX={}", std::process::id());
    let mut rng = Rng(0x0004_b111_5eed);
    let (mut failed_recoveries, mut wrong, mut survivors, mut lingering) = (0, 0, 0, 0);
    let mut outcomes = [0usize; 2]; // killed mid-build, finished before the kill
    let started = Instant::now();
    for round in 0..kills {
        let salt = format!("r{round}");
        let param = format!("salt={salt}");
        let mut child = p
            .cmd()
            .args(["build", &root, "-j", "4", "--param", &param])
            .env("KILL_MATRIX", std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.below(400) as u64));
        let group = round % 2 == 1;
        let target = if group { format!("-{}", child.id()) } else { child.id().to_string() };
        let _ = std::process::Command::new("kill").args(["-9", "--", &target]).status();
        let status = child.wait().unwrap();
        outcomes[usize::from(status.success())] += 1;
        // The killed build's supervisor kills its steps (SIGTERM, then SIGKILL 2 s later).
        let waited = Instant::now();
        while !processes_with_env(&tag).is_empty() && waited.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        lingering += processes_with_env(&tag).len();
        let b = p.build(&["--param", &param, "-j", "4"]);
        if b.run.code != Some(0) {
            failed_recoveries += 1;
            eprintln!("round {round}: recovery failed\n{}", b.run.transcript());
        }
        survivors += processes_with_env(&tag).len();
        let bad = wrong_views(&p, &expected(&steps, &salt));
        if !bad.is_empty() {
            eprintln!("round {round}: wrong outputs: {bad:?}");
        }
        wrong += bad.len();
    }
    eprintln!(
        "kill matrix: {kills} SIGKILLs (half to the group) of a 40-step build, {} mid-build, \
         {} after it ended: {failed_recoveries} failed recoveries, {wrong} wrong outputs, \
         {lingering} step processes alive 5 s after a kill, {survivors} after the next build, \
         in {:.0} s",
        outcomes[0],
        outcomes[1],
        started.elapsed().as_secs_f64()
    );
    assert_eq!((failed_recoveries, wrong, survivors, lingering), (0, 0, 0, 0));
    assert!(outcomes[0] * 2 >= kills, "most kills should land mid-build: {outcomes:?}");
}
