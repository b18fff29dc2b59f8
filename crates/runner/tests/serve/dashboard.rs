//! The dashboard: every page reachable from `/` by plain links, the graph in the HTML,
//! everything from the pipeline escaped; then the same pages in Chromium.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::json;

use crate::{Served, call, project, publish, submit, token, wait_end, wait_for, workspace};

/// The `href="/…"` links of a page.
fn links(html: &str) -> Vec<String> {
    html.split("href=\"/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|l| format!("/{l}"))
        .collect()
}

#[test]
fn every_page_is_reachable_by_links_and_what_came_from_the_pipeline_is_escaped() {
    let p = project("<script>alert('description')</script>");
    let id = publish(&p, "served", "1.0");
    p.run(&["publish", "--name", "<img src=x>", "--version", "1", "--description", "<b>bold</b>"])
        .assert_code(0);
    let t = token(&p, "<ci>");
    let s = Served::start(&p, &[]);
    let hostile = "<img src=x onerror=alert(1)>";
    let run = submit(&s, &t, &id, "exp <i>", json!({"label": hostile}));
    assert_eq!(wait_end(&s, &t, &run)["Status"], "Finished");
    p.build(&["--param", "pipeline_arg=42"]).assert_code(0);

    let mut seen = BTreeSet::new();
    let mut todo = vec!["/".to_owned()];
    while let Some(page) = todo.pop() {
        let path = page.split('#').next().unwrap().to_owned();
        if !seen.insert(path.clone()) {
            continue;
        }
        let a = call("GET", &format!("{}{path}", s.url), None, None);
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        if path == "/openapi.json" {
            continue;
        }
        assert!(
            !a.body.contains("<img") && !a.body.contains("<i>") && !a.body.contains("<b>bold"),
            "{path} lets markup through:\n{}",
            a.body
        );
        assert!(!a.body.contains("<script>alert"), "{path}");
        todo.extend(links(&a.body));
    }
    for page in [
        "/ui/pipelines",
        "/ui/runs/1",
        "/ui/runs/2",
        "/ui/experiments/exp%20%3Ci%3E",
        "/ui/experiments/served",
        "/openapi.json",
    ] {
        assert!(seen.contains(page), "{page} is not linked from /: {seen:?}");
    }
    let page = call("GET", &format!("{}/ui/runs/1", s.url), None, None).body;
    // The graph is in the HTML: each step a node coloured by its status, the data too.
    assert!(
        page.contains("<svg")
            && page.contains("id=\"node-prep\"")
            && page.contains("id=\"node-train\""),
        "{page}"
    );
    assert!(page.contains("class=\"node st-ran\" id=\"node-prep\""), "{page}");
    assert!(page.contains(">raw</text>"), "{page}");
    assert!(page.contains("label=&lt;img src=x onerror=alert(1)&gt;"), "{page}");
    assert!(page.contains("submitted over REST by &lt;ci&gt;"), "{page}");
    // The experiment page charts the metric across runs.
    let exp = call("GET", &format!("{}/ui/experiments/served", s.url), None, None).body;
    assert!(exp.contains("data-metric=\"train.score\""), "{exp}");
}

#[test]
fn the_dashboard_in_chromium_follows_a_run_and_toggles_a_pipeline() {
    let playwright = workspace().join("target/services/playwright/node_modules");
    if !playwright.join("playwright-core").is_dir()
        || !std::path::Path::new("/usr/bin/chromium").exists()
    {
        let why = "playwright-core or chromium is missing: bash tests/services/chromium.sh install";
        if std::env::var("RUNNER_TEST_SERVICES").as_deref() == Ok("skip") {
            eprintln!("skipped: {why}");
            return;
        }
        panic!("{why}; set RUNNER_TEST_SERVICES=skip to skip");
    }
    let p = project("followed in a browser");
    let id = publish(&p, "served", "1.0");
    let t = token(&p, "browser");
    let s = Served::start(&p, &[]);
    let run = submit(&s, &t, &id, "watched", json!({"sleep": 6}));
    let doc = wait_for(&s, &t, &run, |d| d["RunNumber"].is_i64());
    let number = doc["RunNumber"].as_i64().unwrap().to_string();
    let shots = workspace().join("target/dashboard-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let script = workspace().join("crates/runner/tests/serve/browser.js");
    let out = Command::new("node")
        .arg(&script)
        .args([&s.url, &t, &number, &id, &shots.display().to_string()])
        .env("NODE_PATH", &playwright)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}\n{}", s.stderr());
    for line in [
        "runs listed",
        "graph has prep, train",
        "prep turned ran",
        "disabled",
        "submission refused 409",
    ] {
        assert!(stdout.contains(line), "missing `{line}`:\n{stdout}");
    }
    for shot in ["index.png", "run.png", "pipelines.png"] {
        assert!(shots.join(shot).metadata().is_ok_and(|m| m.len() > 1000), "{shot}");
    }
}
