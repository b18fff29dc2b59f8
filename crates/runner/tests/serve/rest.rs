//! The REST API: the article's call, reuse with the command line both ways, the error
//! cases, the auth matrix, cancelling, and 50 submissions at once.

use std::process::Command;

use serde_json::json;

use crate::{
    Served, call, post_json, project, publish, run_doc, step_statuses, submit, token, wait_end,
    wait_for, workspace,
};

#[test]
fn the_articles_python_call_starts_a_run_and_the_command_line_reuses_it_and_back() {
    let p = project("two steps");
    let id = publish(&p, "served", "1.0");
    let t = token(&p, "ci");
    let s = Served::start(&p, &[]);
    // The article's call, from examples/aml-article/submit.py, against this server.
    let endpoint = format!("{}/pipelines/{id}", s.url);
    let script = workspace().join("examples/aml-article/submit.py");
    let out = Command::new("python3").arg(&script).args([&endpoint, &t]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(" Finished"), "{stdout}");
    let run_id = stdout.split_whitespace().nth(1).unwrap();
    let doc = run_doc(&s, &t, run_id);
    assert_eq!(doc["ExperimentName"], "My_Pipeline");
    assert_eq!(doc["ParameterAssignments"]["pipeline_arg"], "20");
    assert_eq!(doc["SubmittedBy"], "ci");
    assert_eq!(
        step_statuses(&doc),
        [("prep".into(), "ran".into()), ("train".into(), "ran".into())]
    );
    let train = doc["Steps"].as_array().unwrap().iter().find(|s| s["Name"] == "train").unwrap();
    assert_eq!(train["Metrics"]["score"], 0.2, "{doc}");

    // The command line reuses what the server ran…
    p.build(&["--param", "pipeline_arg=20"])
        .assert_code(0)
        .assert_steps(&[("prep", "reused"), ("train", "reused")]);
    // …and the server reuses what the command line ran.
    p.build(&["--param", "pipeline_arg=30"]).assert_code(0);
    let again = submit(&s, &t, "served", "by-name", json!({"pipeline_arg": 30}));
    let doc = wait_end(&s, &t, &again);
    assert_eq!(doc["Status"], "Finished", "{doc}");
    assert_eq!(
        step_statuses(&doc),
        [("prep".into(), "reused".into()), ("train".into(), "reused".into())]
    );

    // Logs of a step that ran.
    let logs = call("GET", &format!("{}/runs/{run_id}/steps/prep/logs", s.url), Some(&t), None);
    assert_eq!(logs.status, 200, "{}", logs.body);
    assert!(logs.json()["Stdout"].as_str().unwrap().contains("prep done plain"), "{}", logs.body);
}

#[test]
fn a_published_pipeline_does_not_change_with_the_working_tree() {
    let p = project("v1");
    let id = publish(&p, "served", "1.0");
    p.write("prep.py", "raise SystemExit('the edited script must not run')\n");
    let t = token(&p, "ci");
    let s = Served::start(&p, &[]);
    let doc = wait_end(&s, &t, &submit(&s, &t, &id, "e", json!({})));
    assert_eq!(doc["Status"], "Finished", "{doc}");
    // A second version is a new published pipeline; the name's endpoint starts the latest.
    p.write("prep.py", "import sys\nopen(sys.argv[2] + '/split.txt', 'w').write('v2')\n");
    publish(&p, "served", "2.0");
    let body = json!({"ExperimentName": "e"});
    let a = post_json(&format!("{}/pipelines/served/submit", s.url), &t, &body);
    let doc = wait_end(&s, &t, a.json()["Id"].as_str().unwrap());
    assert_eq!(doc["Status"], "Finished", "{doc}");
    let prep =
        &doc["Steps"].as_array().unwrap().iter().find(|s| s["Name"] == "prep").unwrap().clone();
    assert_eq!(prep["Status"], "ran", "version 2's script is new: {doc}");
    // Version 1 by name and "Version".
    let v1 = json!({"ExperimentName": "e", "Version": "1.0"});
    let a = post_json(&format!("{}/pipelines/served/submit", s.url), &t, &v1);
    assert_eq!(a.json()["PipelineId"], id.as_str());
    wait_end(&s, &t, a.json()["Id"].as_str().unwrap());
}

#[test]
fn errors_are_json_and_say_what_is_wrong() {
    let p = project("errors");
    let id = publish(&p, "served", "1.0");
    let t = token(&p, "ci");
    let s = Served::start(&p, &[]);
    let url = |path: &str| format!("{}{path}", s.url);
    let submit_url = url(&format!("/pipelines/{id}"));

    let a = post_json(&submit_url, &t, &json!({"ParameterAssignments": {"pipeline_args": 1}}));
    assert_eq!((a.status, a.code().as_str()), (400, "unknown_parameter"), "{}", a.body);
    assert!(
        a.body.contains("`pipeline_args`") && a.body.contains("label, pipeline_arg, sleep"),
        "{}",
        a.body
    );
    let a = post_json(&submit_url, &t, &json!({"ParameterAssignments": {"pipeline_arg": "many"}}));
    assert_eq!((a.status, a.code().as_str()), (400, "invalid_parameter"), "{}", a.body);
    assert!(a.body.contains("expects an integer"), "{}", a.body);
    let a = post_json(&submit_url, &t, &json!({"ParameterAssignments": {"sleep": [1]}}));
    assert!(a.status == 400 && a.body.contains("expects a float"), "{}", a.body);
    let a = call("POST", &submit_url, Some(&t), Some(b"{not json"));
    assert_eq!((a.status, a.code().as_str()), (400, "invalid_body"), "{}", a.body);
    let a = post_json(&submit_url, &t, &json!({"ExperimentName": "e", "Extra": 1}));
    assert!(a.status == 400 && a.body.contains("Extra"), "{}", a.body);
    let big = vec![b' '; (1 << 20) + 1];
    let a = call("POST", &submit_url, Some(&t), Some(&big));
    assert_eq!((a.status, a.code().as_str()), (413, "body_too_large"), "{}", a.body);
    let a = post_json(&url("/pipelines/nope"), &t, &json!({}));
    assert_eq!((a.status, a.code().as_str()), (404, "not_found"), "{}", a.body);
    let a = post_json(&url("/pipelines/served/submit"), &t, &json!({"Version": "9"}));
    assert!(a.status == 404 && a.body.contains("no version 9"), "{}", a.body);
    for path in ["/runs/nope", "/runs/nope/steps/prep/logs", "/no/such/route"] {
        let a = call("GET", &url(path), Some(&t), None);
        assert_eq!((a.status, a.code().as_str()), (404, "not_found"), "{path}: {}", a.body);
    }
    let a =
        call("PATCH", &url(&format!("/pipelines/{id}")), Some(&t), Some(b"{\"Status\": \"Off\"}"));
    assert_eq!(a.status, 400, "{}", a.body);

    // Disabled: refused with 409 naming it; enabled again: taken.
    let a = call(
        "PATCH",
        &url(&format!("/pipelines/{id}")),
        Some(&t),
        Some(b"{\"Status\": \"Disabled\"}"),
    );
    assert_eq!((a.status, a.json()["Status"].as_str()), (200, Some("Disabled")), "{}", a.body);
    let a = post_json(&submit_url, &t, &json!({}));
    assert_eq!((a.status, a.code().as_str()), (409, "pipeline_disabled"), "{}", a.body);
    assert!(a.body.contains("served version 1.0") && a.body.contains(&id), "{}", a.body);
    p.run(&["published", "enable", &id]).assert_code(0);
    let run = submit(&s, &t, &id, "e", json!({"pipeline_arg": 7, "label": "x y; rm -rf /"}));
    let doc = wait_end(&s, &t, &run);
    assert_eq!(doc["Status"], "Finished", "{doc}");
    // A value is one argument, never shell text: prep wrote it as given.
    let logs = call("GET", &url(&format!("/runs/{run}/steps/prep/logs")), Some(&t), None);
    assert!(logs.body.contains("prep done x y; rm -rf /"), "{}", logs.body);
    let a = call("POST", &url(&format!("/runs/{run}/cancel")), Some(&t), None);
    assert_eq!((a.status, a.code().as_str()), (409, "conflict"), "{}", a.body);
    // The pipelines list has absolute endpoints.
    let a = call("GET", &url("/pipelines"), Some(&t), None);
    assert_eq!(a.json()[0]["Endpoint"], format!("{}/pipelines/{id}", s.url));
}

#[test]
fn every_route_checks_its_token_and_a_revoke_takes_effect_at_once() {
    let p = project("auth");
    let id = publish(&p, "served", "1.0");
    let t = token(&p, "ci");
    let old = token(&p, "old");
    let s = Served::start(&p, &[]);
    let run = submit(&s, &t, &id, "e", json!({}));
    wait_end(&s, &t, &run);
    // Valid until revoked, refused from the next request on.
    assert_eq!(call("GET", &format!("{}/pipelines", s.url), Some(&old), None).status, 200);
    p.run(&["token", "revoke", "old"]).assert_code(0);
    let wrong = "rt_0000000000000000000000000000000000000000000000000000000000000000";
    let routes: Vec<(&str, String, Option<&[u8]>, u16)> = vec![
        ("POST", format!("/pipelines/{id}"), Some(b"{}"), 200),
        ("POST", "/pipelines/served/submit".to_owned(), Some(b"{}"), 200),
        ("GET", "/pipelines".to_owned(), None, 200),
        ("GET", format!("/pipelines/{id}"), None, 200),
        ("PATCH", format!("/pipelines/{id}"), Some(b"{\"Status\": \"Active\"}"), 200),
        ("GET", format!("/runs/{run}"), None, 200),
        ("GET", format!("/runs/{run}/steps/prep/logs"), None, 200),
        ("POST", format!("/runs/{run}/cancel"), None, 409),
    ];
    for (method, path, body, ok) in &routes {
        let url = format!("{}{path}", s.url);
        for (who, tok, status, code) in [
            ("none", None, 401, "missing_token"),
            ("wrong", Some(wrong), 401, "invalid_token"),
            ("revoked", Some(old.as_str()), 401, "revoked_token"),
            ("valid", Some(t.as_str()), *ok, ""),
        ] {
            let a = call(method, &url, tok, *body);
            assert_eq!(a.status, status, "{method} {path} with {who} token: {}", a.body);
            if !code.is_empty() {
                assert_eq!(a.code(), code, "{method} {path} with {who} token");
            }
        }
    }
    // Pages on loopback: readable without a token, never with a bad one.
    for page in ["/", "/ui/pipelines", "/ui/runs/1", "/ui/experiments/e"] {
        let url = format!("{}{page}", s.url);
        for (who, tok, status) in [
            ("none", None, 200),
            ("wrong", Some(wrong), 401),
            ("revoked", Some(old.as_str()), 401),
            ("valid", Some(t.as_str()), 200),
        ] {
            assert_eq!(call("GET", &url, tok, None).status, status, "{page} with {who} token");
        }
    }
    assert_eq!(call("GET", &format!("{}/openapi.json", s.url), None, None).status, 200);

    // Off loopback every page needs a token too.
    let open = Served::start_at(&p, "0.0.0.0:0", &[]);
    for page in ["/", "/ui/pipelines", "/ui/runs/1"] {
        let url = format!("{}{page}", open.url);
        assert_eq!(call("GET", &url, None, None).status, 401, "{page}");
        assert_eq!(call("GET", &url, Some(&t), None).status, 200, "{page}");
    }
}

#[test]
fn a_queued_run_and_a_running_run_are_cancelled() {
    let p = project("cancel");
    let id = publish(&p, "served", "1.0");
    let t = token(&p, "ci");
    let s = Served::start(&p, &["--max-runs", "1"]);
    let slow = submit(&s, &t, &id, "e", json!({"sleep": 60}));
    let queued = submit(&s, &t, &id, "e", json!({"pipeline_arg": 11}));
    wait_for(&s, &t, &slow, |d| {
        d["Steps"].as_array().is_some_and(|a| a.iter().any(|x| x["Status"] == "running"))
    });
    assert_eq!(run_doc(&s, &t, &queued)["Status"], "Queued");
    let a = call("POST", &format!("{}/runs/{queued}/cancel", s.url), Some(&t), None);
    assert_eq!((a.status, a.json()["Status"].as_str()), (200, Some("Canceled")), "{}", a.body);
    let a = call("POST", &format!("{}/runs/{slow}/cancel", s.url), Some(&t), None);
    assert_eq!((a.status, a.json()["Status"].as_str()), (200, Some("Canceled")), "{}", a.body);
    let doc = run_doc(&s, &t, &slow);
    assert_eq!(step_statuses(&doc)[0], ("prep".into(), "interrupted".into()), "{doc}");
    // Nothing the cancelled step wrote was cached: a build with its parameters runs it.
    let plan = p.run(&["status", "--param", "sleep=60", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    assert_eq!(doc["steps"][0]["step"], "prep", "{}", plan.transcript());
    assert_eq!(doc["steps"][0]["action"], "will run", "{}", plan.transcript());
}

#[test]
fn fifty_submissions_at_once_of_a_cached_pipeline_all_finish() {
    let p = project("fifty");
    let id = publish(&p, "served", "1.0");
    let t = token(&p, "ci");
    let s = Served::start(&p, &[]);
    let first = submit(&s, &t, &id, "warm", json!({}));
    assert_eq!(wait_end(&s, &t, &first)["Status"], "Finished");
    let ids: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> =
            (0..50).map(|_| scope.spawn(|| submit(&s, &t, &id, "fifty", json!({})))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 50);
    for run in &ids {
        let doc = wait_end(&s, &t, run);
        assert_eq!(doc["Status"], "Finished", "{doc}");
        assert_eq!(
            step_statuses(&doc),
            [("prep".into(), "reused".into()), ("train".into(), "reused".into())]
        );
    }
}
