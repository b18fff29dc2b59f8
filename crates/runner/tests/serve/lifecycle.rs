//! A server's life: SIGKILL and a restart (what ran fails, what waited runs), SIGTERM (a
//! graceful stop that cancels what runs and keeps what waits).

use serde_json::json;

use crate::{Served, project, publish, run_doc, submit, token, wait_end, wait_for};

fn prep_running(d: &serde_json::Value) -> bool {
    d["Steps"]
        .as_array()
        .is_some_and(|a| a.iter().any(|x| x["Name"] == "prep" && x["Status"] == "running"))
}

#[test]
fn a_server_killed_with_sigkill_fails_what_ran_and_keeps_the_queue() {
    let p = project("kill");
    let id = publish(&p, "served", "1.0");
    let t = token(&p, "ci");
    let mut s = Served::start(&p, &["--max-runs", "1"]);
    let slow = submit(&s, &t, &id, "e", json!({"sleep": 60}));
    let waiting: Vec<String> =
        (1..=2).map(|i| submit(&s, &t, &id, "e", json!({"pipeline_arg": 100 + i}))).collect();
    wait_for(&s, &t, &slow, prep_running);
    assert!(!s.signal("KILL").success());

    let s = Served::start(&p, &["--max-runs", "1"]);
    assert!(s.stderr().contains("2 queued submission(s) taken up again"), "{}", s.stderr());
    let doc = run_doc(&s, &t, &slow);
    assert_eq!(doc["Status"], "Failed", "{doc}");
    assert!(doc["Message"].as_str().unwrap().contains("interrupted"), "{doc}");
    for run in &waiting {
        let doc = wait_end(&s, &t, run);
        assert_eq!(doc["Status"], "Finished", "{doc}");
    }
}

#[test]
fn sigterm_stops_gracefully_cancelling_what_runs_and_keeping_what_waits() {
    let p = project("term");
    let id = publish(&p, "served", "1.0");
    let t = token(&p, "ci");
    let mut s = Served::start(&p, &["--max-runs", "1"]);
    let slow = submit(&s, &t, &id, "e", json!({"sleep": 60}));
    let waiting = submit(&s, &t, &id, "e", json!({"pipeline_arg": 55}));
    wait_for(&s, &t, &slow, prep_running);
    let status = s.signal("TERM");
    assert!(status.success() && !s.stderr().contains("panicked"), "{status:?}\n{}", s.stderr());
    assert!(
        s.stderr().contains("stopped: 1 build(s) cancelled, 1 submission(s) left queued"),
        "{}",
        s.stderr()
    );
    let s = Served::start(&p, &[]);
    let doc = run_doc(&s, &t, &slow);
    assert_eq!(doc["Status"], "Canceled", "{doc}");
    assert_eq!(wait_end(&s, &t, &waiting)["Status"], "Finished");
}
