//! The dashboard: server-rendered pages, every one reachable from `/` by links.
//!
//! | page | what |
//! |---|---|
//! | `/` | experiments, and the newest runs (status, duration, parameters, commit, who submitted) |
//! | `/ui/experiments/{name}` | an experiment's runs, and each metric across them as a chart |
//! | `/ui/runs/{number}` | a run: its step graph (SVG), each step's reasons, key, metrics and log tail |
//! | `/ui/runs/{number}/events` | server-sent events while the run goes (the run page's script follows them) |
//! | `/ui/pipelines` | published pipelines, endpoints, and an enable/disable toggle |
//! | `/ui/login` | a form that keeps a token in a cookie, for browsers off loopback |
//!
//! Pages are readable without a token on a loopback address (`auth::may_read`); actions go
//! through the REST routes, which always need one.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use futures::Stream;
use history::RunSummary;
use tokio::sync::broadcast::error::RecvError;

use crate::ApiError;
use crate::app::App;
use crate::auth;
use crate::html::{badge, duration, esc, page, time, url_segment};

/// The pages above, on `app`.
pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/ui/experiments/{name}", get(experiment))
        .route("/ui/runs/{run}", get(run))
        .route("/ui/runs/{run}/events", get(events))
        .route("/ui/pipelines", get(pipelines))
        .route("/ui/login", get(login_form).post(login))
        .with_state(app)
}

/// An error as a page (its status, its message escaped).
struct PageError(ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> PageError {
        PageError(e)
    }
}

impl From<history::Error> for PageError {
    fn from(e: history::Error) -> PageError {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let e = self.0;
        let login = if e.status == StatusCode::UNAUTHORIZED {
            "<p><a href=\"/ui/login\">Sign in with a token</a></p>"
        } else {
            ""
        };
        let body = format!("<h1>{}</h1><p>{}</p>{login}", e.status, esc(&e.message));
        (e.status, Html(page("error", &body))).into_response()
    }
}

type PageResult = Result<Html<String>, PageError>;

/// The newest runs, with who submitted each: `(run, token name)`.
fn runs_with_submitter(
    app: &App,
    experiment: Option<&str>,
    limit: usize,
) -> Result<Vec<(RunSummary, Option<String>)>, PageError> {
    let db = app.db();
    let runs = db.runs(experiment, limit)?;
    let mut out = Vec::with_capacity(runs.len());
    for r in runs {
        let who = db.submission_of_run(r.id)?.map(|s| s.submitted_by.unwrap_or_else(|| "?".into()));
        out.push((r, who));
    }
    Ok(out)
}

/// A table of runs.
fn runs_table(runs: &[(RunSummary, Option<String>)]) -> String {
    let mut t = String::from(
        "<table id=\"runs\"><tr><th>run</th><th>experiment</th><th>status</th><th>started</th>\
         <th>duration</th><th>steps</th><th>parameters</th><th>commit</th><th>submitted by</th></tr>\n",
    );
    for (r, who) in runs {
        let took = r.ended_ms.map(|e| duration(e.saturating_sub(r.started_ms))).unwrap_or_default();
        let params: Vec<String> =
            r.params.iter().map(|(k, v)| format!("{}={}", esc(k), esc(v))).collect();
        let commit = r.git.as_ref().map(|g| {
            let short: String = g.commit.chars().take(10).collect();
            format!("<code>{}</code>{}", esc(&short), if g.dirty { " (dirty)" } else { "" })
        });
        let _ = writeln!(
            t,
            "<tr><td><a href=\"/ui/runs/{id}\">#{id}</a></td><td><a href=\"/ui/experiments/{eu}\">{e}</a></td>\
             <td>{st}</td><td>{started}</td><td>{took}</td><td>{ran} ran, {reused} reused, {failed} failed</td>\
             <td><code>{params}</code></td><td>{commit}</td><td>{who}</td></tr>",
            id = r.id,
            eu = url_segment(&r.experiment),
            e = esc(&r.experiment),
            st = badge(r.status.as_str()),
            started = time(r.started_ms),
            ran = r.steps_ran,
            reused = r.steps_reused,
            failed = r.steps_failed,
            params = params.join(" "),
            commit = commit.unwrap_or_default(),
            who = who.as_deref().map(esc).unwrap_or_else(|| "command line".into()),
        );
    }
    t.push_str("</table>");
    t
}

async fn index(State(app): State<Arc<App>>, headers: HeaderMap) -> PageResult {
    auth::may_read(&app, &headers)?;
    let experiments = app.db().experiments()?;
    let mut body = format!(
        "<h1>Workspace</h1><p><code>{}</code></p>\n<h2>Experiments</h2>\n",
        esc(&app.root.display().to_string())
    );
    if experiments.is_empty() {
        body.push_str(
            "<p>No runs yet: <code>runner build</code>, or submit a published pipeline.</p>",
        );
    } else {
        body.push_str(
            "<table id=\"experiments\"><tr><th>experiment</th><th>runs</th><th>newest</th></tr>\n",
        );
        for (name, n, newest) in &experiments {
            let _ = writeln!(
                body,
                "<tr><td><a href=\"/ui/experiments/{}\">{}</a></td><td>{n}</td><td><a href=\"/ui/runs/{newest}\">#{newest}</a></td></tr>",
                url_segment(name),
                esc(name)
            );
        }
        body.push_str("</table>");
    }
    body.push_str("\n<h2>Newest runs</h2>\n");
    body.push_str(&runs_table(&runs_with_submitter(&app, None, 50)?));
    body.push_str("\n<p><a href=\"/ui/pipelines\">Published pipelines</a> · <a href=\"/openapi.json\">REST API (OpenAPI)</a></p>");
    Ok(Html(page("Experiments", &body)))
}

async fn experiment(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> PageResult {
    auth::may_read(&app, &headers)?;
    let runs = runs_with_submitter(&app, Some(&name), 200)?;
    if runs.is_empty() {
        return Err(ApiError::not_found(format!("no runs in experiment {name}")).into());
    }
    // Each metric (step.name) across runs, oldest run first: the last value a run logged.
    let mut series: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    {
        let db = app.db();
        for (r, _) in runs.iter().rev() {
            let mut last: BTreeMap<String, f64> = BTreeMap::new();
            for (step, m) in db.metrics(r.id, None)? {
                last.insert(format!("{step}.{}", m.name), m.value);
            }
            for (k, v) in last {
                if v.is_finite() {
                    series.entry(k).or_default().push((r.id, v));
                }
            }
        }
    }
    let mut body = format!("<h1>Experiment {}</h1>\n", esc(&name));
    if !series.is_empty() {
        body.push_str("<h2>Metrics across runs</h2>\n");
        for (metric, points) in &series {
            body.push_str(&chart(metric, points));
        }
    }
    body.push_str("<h2>Runs</h2>\n");
    body.push_str(&runs_table(&runs));
    Ok(Html(page(&format!("Experiment {name}"), &body)))
}

/// A line chart of one metric's values by run number.
fn chart(metric: &str, points: &[(i64, f64)]) -> String {
    const W: f64 = 480.0;
    const H: f64 = 140.0;
    const PAD: f64 = 30.0;
    let (lo, hi) =
        points.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
    let span = if hi > lo { hi - lo } else { 1.0 };
    let n = points.len().max(2) - 1;
    let at = |i: usize, v: f64| {
        let x = PAD + (W - 2.0 * PAD) * i as f64 / n as f64;
        let y = H - PAD - (H - 2.0 * PAD) * (v - lo) / span;
        (x, y)
    };
    let mut line = String::new();
    let mut dots = String::new();
    for (i, (run, v)) in points.iter().enumerate() {
        let (x, y) = at(i, *v);
        let _ = write!(line, "{x:.1},{y:.1} ");
        let _ = write!(
            dots,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\" fill=\"#2563eb\"><title>run #{run}: {v}</title></circle>"
        );
    }
    format!(
        "<figure class=\"metric\" data-metric=\"{m}\"><figcaption>{m}</figcaption>\
         <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\">\
         <text x=\"2\" y=\"{top}\" class=\"sub\">{hi}</text><text x=\"2\" y=\"{bottom}\" class=\"sub\">{lo}</text>\
         <polyline fill=\"none\" stroke=\"#2563eb\" stroke-width=\"1.5\" points=\"{line}\"/>{dots}</svg></figure>\n",
        m = esc(metric),
        top = PAD - 8.0,
        bottom = H - PAD + 14.0,
    )
}

async fn run(
    State(app): State<Arc<App>>,
    Path(number): Path<i64>,
    headers: HeaderMap,
) -> PageResult {
    auth::may_read(&app, &headers)?;
    let (summary, steps, metrics, submission) = {
        let db = app.db();
        let summary =
            db.run(number)?.ok_or_else(|| ApiError::not_found(format!("no run #{number}")))?;
        let steps = db.steps(number)?;
        let metrics = db.metrics(number, None)?;
        let submission = db.submission_of_run(number)?;
        (summary, steps, metrics, submission)
    };
    let text = match &submission {
        Some(s) => app.db().published_one(&s.published_id)?.map(|p| p.pipeline),
        None => app.current_pipeline(),
    };
    let graph = text.as_deref().map(crate::graph::of_pipeline).unwrap_or_default();
    let mut status: HashMap<String, String> =
        steps.iter().map(|s| (s.step.clone(), s.status.as_str().to_owned())).collect();
    let live =
        app.queue.live().values().find(|l| l.run_id == Some(number)).map(|l| l.steps.clone());
    if let Some(live) = &live {
        for (step, st) in live {
            status.entry(step.clone()).or_insert_with(|| st.clone());
        }
    }
    let mut body = run_header(number, &summary, submission.as_ref());
    body.push_str("<h2>Steps</h2>\n");
    body.push_str(&crate::graph::svg(&graph, &status));
    let mut by_step: BTreeMap<&str, Vec<(String, f64)>> = BTreeMap::new();
    for (step, m) in &metrics {
        by_step.entry(step.as_str()).or_default().push((m.name.clone(), m.value));
    }
    let mut order: Vec<String> = graph.steps.iter().map(|s| s.name.clone()).collect();
    for s in &steps {
        if !order.contains(&s.step) {
            order.push(s.step.clone());
        }
    }
    for name in &order {
        let record = steps.iter().find(|s| &s.step == name);
        let st = status.get(name).map_or("pending", String::as_str);
        let _ = write!(
            body,
            "<section class=\"step\" id=\"step-{n}\"><h3>{n} <span id=\"badge-{n}\" class=\"badge b-{s}\">{s}</span></h3>",
            n = esc(name),
            s = esc(st)
        );
        if let Some(r) = record {
            step_details(&app, &mut body, r, by_step.get(name.as_str()));
        }
        body.push_str("</section>\n");
    }
    if live.is_some() {
        body.push_str(&live_script(number));
    }
    Ok(Html(page(&format!("Run #{number}"), &body)))
}

/// A run page's title line, its facts and its parameters.
fn run_header(
    number: i64,
    summary: &RunSummary,
    submission: Option<&history::Submission>,
) -> String {
    let mut body = format!(
        "<h1>Run #{number} {}</h1>\n<p>pipeline <b>{}</b> · experiment <a href=\"/ui/experiments/{}\">{}</a> · started {}{}{}</p>\n",
        badge(summary.status.as_str()),
        esc(&summary.pipeline),
        url_segment(&summary.experiment),
        esc(&summary.experiment),
        time(summary.started_ms),
        summary
            .ended_ms
            .map(|e| format!(" · took {}", duration(e.saturating_sub(summary.started_ms))))
            .unwrap_or_default(),
        submission
            .map(|s| format!(
                " · submitted over REST by {} as <code>{}</code> ({})",
                esc(s.submitted_by.as_deref().unwrap_or("?")),
                esc(&s.id),
                badge(s.status.as_str())
            ))
            .unwrap_or_default(),
    );
    if !summary.params.is_empty() {
        body.push_str("<p>parameters: ");
        for (k, v) in &summary.params {
            let _ = write!(body, "<code>{}={}</code> ", esc(k), esc(v));
        }
        body.push_str("</p>\n");
    }
    body
}

/// A step's reasons, key, metrics and log tail.
fn step_details(
    app: &App,
    body: &mut String,
    r: &history::StepRecord,
    metrics: Option<&Vec<(String, f64)>>,
) {
    if let Some(reason) = &r.dirty_reason {
        let _ = write!(body, "<p>why: {}</p>", esc(reason));
    }
    if let Some(from) = r.reused_from {
        let _ = write!(body, "<p>reused from <a href=\"/ui/runs/{from}\">run #{from}</a></p>");
    }
    if let Some(ms) = r.duration_ms {
        let _ = write!(body, "<p>ran for {}</p>", duration(ms));
    }
    if let Some(key) = &r.key {
        let _ = write!(body, "<p>key <code>{}</code></p>", esc(key));
    }
    if let Some(fields) = &r.key_fields {
        let pretty = serde_json::from_str::<serde_json::Value>(fields)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or_else(|| fields.clone());
        let _ = write!(
            body,
            "<details><summary>key fields</summary><pre>{}</pre></details>",
            esc(&pretty)
        );
    }
    if let Some(ms) = metrics {
        body.push_str("<table class=\"metrics\"><tr><th>metric</th><th>value</th></tr>");
        for (k, v) in ms {
            let _ = write!(body, "<tr><td>{}</td><td>{v}</td></tr>", esc(k));
        }
        body.push_str("</table>");
    }
    if let Ok((_, stdout, stderr)) = step_logs(app, r.run_id, &r.step, 4 * 1024) {
        for (name, text) in [("stdout", stdout), ("stderr", stderr)] {
            if !text.is_empty() {
                let _ = write!(
                    body,
                    "<details><summary>{name} (tail)</summary><pre>{}</pre></details>",
                    esc(&text)
                );
            }
        }
    }
}

/// The script that follows a live run's events: each step's node and badge change class
/// as it goes; the page reloads once the run ended.
fn live_script(number: i64) -> String {
    format!(
        r#"<script>
const es = new EventSource('/ui/runs/{number}/events');
es.addEventListener('step', (e) => {{
  const u = JSON.parse(e.data);
  const node = document.getElementById('node-' + u.step);
  if (node) node.setAttribute('class', 'node st-' + u.status);
  const b = document.getElementById('badge-' + u.step);
  if (b) {{ b.textContent = u.status; b.className = 'badge b-' + u.status; }}
}});
es.addEventListener('end', () => {{ es.close(); setTimeout(() => location.reload(), 200); }});
</script>"#
    )
}

/// The last `max` bytes of a step's stdout and stderr in run `run_id` (a reused step's are
/// those of the run that produced its result): `(that run, stdout, stderr)`.
///
/// Errors: 404 when the run has no such step, or its logs are gone or outside the
/// workspace.
pub(crate) fn step_logs(
    app: &App,
    run_id: i64,
    step: &str,
    max: u64,
) -> Result<(i64, String, String), ApiError> {
    let db = app.db();
    let rec = db
        .step(run_id, step)?
        .ok_or_else(|| ApiError::not_found(format!("run #{run_id} has no step {step}")))?;
    let produced = match (&rec.log_dir, rec.reused_from) {
        (None, Some(from)) => db.step(from, step)?.filter(|p| p.log_dir.is_some()),
        _ => None,
    };
    drop(db);
    let (number, dir) = match produced {
        Some(p) => (p.run_id, p.log_dir),
        None => (run_id, rec.log_dir),
    };
    let dir = dir
        .ok_or_else(|| ApiError::not_found(format!("step {step} of run #{run_id} has no logs")))?;
    let dir = std::path::PathBuf::from(dir);
    if !app.in_state(&dir) {
        return Err(ApiError::not_found(format!(
            "the logs of step {step} are not in this workspace"
        )));
    }
    let tail = |name: &str| tail(&dir.join(name), max);
    Ok((number, tail("stdout.log"), tail("stderr.log")))
}

/// The last `max` bytes of `path` as text (lossy), from a line start when it was cut; empty
/// when it cannot be read.
fn tail(path: &std::path::Path, max: u64) -> String {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else { return String::new() };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(max);
    if f.seek(SeekFrom::Start(start)).is_err() {
        return String::new();
    }
    let mut bytes = Vec::new();
    let _ = f.take(max).read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes).into_owned();
    match (start > 0, text.find('\n')) {
        (true, Some(nl)) => text[nl + 1..].to_owned(),
        _ => text,
    }
}

async fn events(
    State(app): State<Arc<App>>,
    Path(number): Path<i64>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, PageError> {
    auth::may_read(&app, &headers)?;
    // Subscribe before the snapshot, so nothing between the two is missed.
    let rx = app.queue.subscribe();
    let stopping = app.queue.stopping();
    let snapshot =
        app.queue.live().values().find(|l| l.run_id == Some(number)).map(|l| l.steps.clone());
    let mut first = VecDeque::new();
    let done = snapshot.is_none();
    match snapshot {
        Some(steps) => first.extend(steps.into_iter().map(|(s, st)| step_event(&s, &st))),
        None => first.push_back(SseEvent::default().event("end").data("not running")),
    }
    let state = (first, rx, stopping, done);
    let stream = futures::stream::unfold(
        state,
        move |(mut first, mut rx, mut stopping, done)| async move {
            if let Some(e) = first.pop_front() {
                return Some((Ok(e), (first, rx, stopping, done)));
            }
            if done || *stopping.borrow() {
                return None;
            }
            loop {
                tokio::select! {
                    got = rx.recv() => match got {
                        Ok(u) if u.run_id == number => match u.step {
                            Some(step) => return Some((Ok(step_event(&step, &u.status)), (first, rx, stopping, false))),
                            None if u.status != "Running" => {
                                let end = SseEvent::default().event("end").data(u.status);
                                return Some((Ok(end), (first, rx, stopping, true)));
                            }
                            None => {}
                        },
                        Ok(_) => {}
                        // Missed updates: the page reloads to catch up.
                        Err(RecvError::Lagged(_)) => {
                            let end = SseEvent::default().event("end").data("lagged");
                            return Some((Ok(end), (first, rx, stopping, true)));
                        }
                        Err(RecvError::Closed) => return None,
                    },
                    _ = stopping.changed() => return None,
                }
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

fn step_event(step: &str, status: &str) -> SseEvent {
    let data = serde_json::json!({"step": step, "status": status}).to_string();
    SseEvent::default().event("step").data(data)
}

async fn pipelines(State(app): State<Arc<App>>, headers: HeaderMap) -> PageResult {
    auth::may_read(&app, &headers)?;
    let all = app.db().published(true)?;
    let base = app.base_url(headers.get(header::HOST).and_then(|h| h.to_str().ok()));
    let mut body = String::from(
        "<h1>Published pipelines</h1>\n<p>Enabling and disabling needs a token: \
         <input id=\"token\" type=\"password\" placeholder=\"bearer token\" autocomplete=\"off\"> \
         <span id=\"message\" role=\"alert\"></span></p>\n",
    );
    if all.is_empty() {
        body.push_str(
            "<p>Nothing published yet: <code>runner publish --name NAME --version 1.0</code>.</p>",
        );
    }
    body.push_str("<table id=\"pipelines\"><tr><th>name</th><th>version</th><th>description</th><th>status</th><th>endpoint</th><th>published</th><th></th></tr>\n");
    for p in &all {
        let (state, to, label) = if p.enabled {
            ("Active", "Disabled", "Disable")
        } else {
            ("Disabled", "Active", "Enable")
        };
        let _ = writeln!(
            body,
            "<tr id=\"pipeline-{id}\"><td>{name}</td><td>{version}</td><td>{desc}</td><td>{st}</td>\
             <td><code>{base}/pipelines/{id}</code></td><td>{at}</td>\
             <td><button class=\"toggle\" data-id=\"{id}\" data-to=\"{to}\">{label}</button></td></tr>",
            id = esc(&p.id),
            name = esc(&p.name),
            version = esc(&p.version),
            desc = esc(p.description.as_deref().unwrap_or("")),
            st = badge(state),
            base = esc(&base),
            at = time(p.created_ms),
        );
    }
    body.push_str("</table>\n");
    body.push_str(
        r#"<script>
const field = document.getElementById('token');
field.value = sessionStorage.getItem('runner_token') || '';
for (const b of document.querySelectorAll('button.toggle')) {
  b.addEventListener('click', async () => {
    const token = field.value.trim();
    if (token) sessionStorage.setItem('runner_token', token);
    const headers = { 'Content-Type': 'application/json' };
    if (token) headers['Authorization'] = 'Bearer ' + token;
    const r = await fetch('/pipelines/' + encodeURIComponent(b.dataset.id),
      { method: 'PATCH', headers, body: JSON.stringify({ Status: b.dataset.to }) });
    if (r.ok) { location.reload(); return; }
    const e = await r.json().catch(() => ({ error: { message: r.statusText } }));
    document.getElementById('message').textContent = e.error.message;
  });
}
</script>"#,
    );
    Ok(Html(page("Published pipelines", &body)))
}

async fn login_form() -> Html<String> {
    Html(page(
        "Sign in",
        "<h1>Sign in</h1><form method=\"post\" action=\"/ui/login\">\
         <label>Token <input name=\"token\" type=\"password\" autocomplete=\"off\"></label> \
         <button>Sign in</button></form><p>Make one with <code>runner token create --name NAME</code>.</p>",
    ))
}

/// The login form's body.
#[derive(serde::Deserialize)]
struct LoginForm {
    token: String,
}

async fn login(
    State(app): State<Arc<App>>,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    let token = form.token.trim();
    let mut probe = HeaderMap::new();
    let value = format!("Bearer {token}");
    let value = axum::http::HeaderValue::from_str(&value).map_err(|_| {
        ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", "that is not a token")
    })?;
    probe.insert(header::AUTHORIZATION, value);
    auth::require(&app, &probe)?;
    let cookie = format!("{}={token}; HttpOnly; SameSite=Strict; Path=/", auth::COOKIE);
    let mut response = Redirect::to("/").into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_has_a_point_per_run_and_escapes_its_name() {
        let svg = chart("evaluate.<acc>", &[(1, 0.5), (2, 0.75), (3, 0.7)]);
        assert_eq!(svg.matches("<circle").count(), 3, "{svg}");
        assert!(svg.contains("evaluate.&lt;acc&gt;") && !svg.contains("<acc>"), "{svg}");
        // One point (a single run) still draws.
        assert_eq!(chart("m", &[(1, 2.0)]).matches("<circle").count(), 1);
    }

    #[test]
    fn a_log_tail_starts_at_a_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        std::fs::write(&p, "first line\nsecond\nthird\n").unwrap();
        assert_eq!(tail(&p, 1000), "first line\nsecond\nthird\n");
        assert_eq!(tail(&p, 10), "third\n");
        assert_eq!(tail(&dir.path().join("missing"), 10), "");
    }
}
