//! The REST API: Azure ML's published pipeline endpoints and runs, as `runner` keeps them.
//!
//! | route | what |
//! |---|---|
//! | `POST /pipelines/{id}` | start published pipeline `id` (Azure ML's `PublishedPipeline.endpoint`) |
//! | `POST /pipelines/{id}/submit` | the same; `id` may be a name (Azure ML's `PipelineEndpoint`): its latest enabled version, or the body's `"Version"` |
//! | `GET /pipelines`, `GET /pipelines/{id}` | published pipelines, with absolute endpoints |
//! | `PATCH /pipelines/{id}` | `{"Status": "Disabled" \| "Active"}` (Azure ML's `disable()`/`enable()`) |
//! | `GET /runs/{id}` | a submission: `Status` as Azure ML names it, steps, metrics |
//! | `GET /runs/{id}/steps/{step}/logs` | a step's stdout and stderr |
//! | `POST /runs/{id}/cancel` | cancel a queued or running submission |
//! | `GET /openapi.json` | the OpenAPI 3.1 document of all of it |
//!
//! Every route but `/openapi.json` needs a bearer token (`auth`). Bodies are at most
//! [`MAX_BODY`] bytes. Parameter values reach steps as `--param`-style overrides, checked
//! against the published pipeline's types; they are only ever argv, never shell text.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use history::{Published, Submission, SubmissionStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ApiError;
use crate::app::{App, now_ms, uuid_v4};
use crate::auth;

/// The largest request body taken, in bytes (1 MiB); a larger one is answered 413.
pub(crate) const MAX_BODY: usize = 1 << 20;

/// The routes above, on `app`.
pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/pipelines", get(list_pipelines))
        .route("/pipelines/{id}", post(submit).get(get_pipeline).patch(patch_pipeline))
        .route("/pipelines/{id}/submit", post(submit))
        .route("/runs/{id}", get(get_run))
        .route("/runs/{id}/steps/{step}/logs", get(step_logs))
        .route("/runs/{id}/cancel", post(cancel_run))
        .route("/openapi.json", get(openapi))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(app)
}

/// The body of a submission (Azure ML's `PipelineSubmissionRequest`, the fields `runner`
/// reads).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct SubmitBody {
    /// The experiment to record the run under (default: the published pipeline's name).
    pub experiment_name: Option<String>,
    /// Parameter values by name: numbers, strings or booleans, of each parameter's type.
    #[schema(value_type = Object)]
    pub parameter_assignments: Option<serde_json::Map<String, serde_json::Value>>,
    /// For `POST /pipelines/{name}/submit`: the version to start (default: the latest
    /// enabled one).
    pub version: Option<String>,
}

/// What a submission is answered: the run's id (Azure ML's `Id`) and status.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Submitted {
    /// The run's id: `GET /runs/{Id}`.
    pub id: String,
    /// `Queued`.
    pub status: String,
    /// The published pipeline started.
    pub pipeline_id: String,
    /// The experiment the run is recorded under.
    pub experiment_name: String,
}

/// A published pipeline.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PipelineDoc {
    /// Its id (UUID).
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// What it does.
    pub description: Option<String>,
    /// `Active` or `Disabled`.
    pub status: String,
    /// The URL to POST a submission to.
    pub endpoint: String,
    /// Its parameters and their defaults (canonical text).
    pub parameters: BTreeMap<String, String>,
    /// The git commit it was published from.
    pub git_commit: Option<String>,
    /// When it was published, in milliseconds since the Unix epoch.
    pub created_ms: u64,
}

/// `PATCH /pipelines/{id}`'s body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct PatchBody {
    /// `Active` or `Disabled`.
    pub status: String,
}

/// A step of a run.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct StepDoc {
    /// The step.
    pub name: String,
    /// `running`, `ran`, `reused`, `failed`, `skipped` or `interrupted`.
    pub status: String,
    /// Why it ran, failed or was skipped.
    pub reason: Option<String>,
    /// The run (history run number) a reused result came from.
    pub reused_from: Option<i64>,
    /// When its process started, in milliseconds since the Unix epoch.
    pub started_ms: Option<u64>,
    /// How long its process ran, in milliseconds.
    pub duration_ms: Option<u64>,
    /// Its step key (64 hex).
    pub key: Option<String>,
    /// The metrics it logged, by name (the last value of each).
    pub metrics: BTreeMap<String, f64>,
}

/// A run started over REST.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RunDoc {
    /// Its id (UUID).
    pub id: String,
    /// `NotStarted`, `Queued`, `Running`, `Finished`, `Failed` or `Canceled`.
    pub status: String,
    /// The published pipeline it started.
    pub pipeline_id: String,
    /// The experiment it is recorded under.
    pub experiment_name: String,
    /// The parameter values it was given.
    pub parameter_assignments: BTreeMap<String, String>,
    /// The token that submitted it.
    pub submitted_by: Option<String>,
    /// Its number in the project's run history (`runner show N`), once started.
    pub run_number: Option<i64>,
    /// Why it failed or was cancelled.
    pub message: Option<String>,
    /// When it was submitted, started and ended, in milliseconds since the Unix epoch.
    pub submitted_ms: u64,
    /// See `SubmittedMs`.
    pub started_ms: Option<u64>,
    /// See `SubmittedMs`.
    pub ended_ms: Option<u64>,
    /// Its steps, in the order they ended (running ones last).
    pub steps: Vec<StepDoc>,
    /// Its page on the dashboard.
    pub dashboard_url: Option<String>,
}

/// A step's logs.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct LogsDoc {
    /// The step.
    pub step: String,
    /// The history run that produced them (another run's for a reused step).
    pub run_number: i64,
    /// Its standard output (the last 64 KiB).
    pub stdout: String,
    /// Its standard error (the last 64 KiB).
    pub stderr: String,
}

/// An error's body.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    /// `{"code", "message"}`.
    #[schema(value_type = Object)]
    pub error: serde_json::Value,
}

type ApiResult<T> = Result<Json<T>, ApiError>;

fn host(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::HOST).and_then(|h| h.to_str().ok())
}

/// The JSON of a body that fits and parses.
fn json_body<T: serde::de::DeserializeOwned + Default>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let bytes = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("the body is over {MAX_BODY} bytes"),
            )
        } else {
            ApiError::bad_body(format!("cannot read the body: {r}"))
        }
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_body(format!("the body is not the JSON expected: {e}")))
}

/// `POST /pipelines/{id}` and `POST /pipelines/{id}/submit`.
#[utoipa::path(post, path = "/pipelines/{id}", request_body = SubmitBody,
    params(("id" = String, Path, description = "a published pipeline's id, or (with /submit) its name")),
    responses((status = 200, body = Submitted), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn submit(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Submitted> {
    let who = auth::require(&app, &headers)?;
    let body: SubmitBody = json_body(body)?;
    if !app.queue.taking() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the server is stopping",
        ));
    }
    let published = resolve(&app, &id, body.version.as_deref())?;
    if !published.enabled {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "pipeline_disabled",
            format!(
                "published pipeline {} version {} ({}) is disabled (`runner published enable {}`)",
                published.name, published.version, published.id, published.id
            ),
        ));
    }
    let params = assignments(&published, body.parameter_assignments.unwrap_or_default())?;
    let experiment = body.experiment_name.unwrap_or_else(|| published.name.clone());
    if experiment.trim().is_empty()
        || experiment.len() > 256
        || experiment.chars().any(char::is_control)
    {
        return Err(ApiError::bad_body("ExperimentName must be 1 to 256 printable characters"));
    }
    let submission = Submission {
        id: uuid_v4()?,
        published_id: published.id.clone(),
        experiment: experiment.clone(),
        params,
        submitted_by: Some(who),
        status: SubmissionStatus::Queued,
        run_id: None,
        message: None,
        submitted_ms: now_ms(),
        started_ms: None,
        ended_ms: None,
    };
    app.db().submit(&submission)?;
    app.queue.push(submission.id.clone());
    Ok(Json(Submitted {
        id: submission.id,
        status: SubmissionStatus::Queued.as_str().to_owned(),
        pipeline_id: published.id,
        experiment_name: experiment,
    }))
}

/// The published pipeline `key` names: an id, else a name (its `version`, or its latest
/// enabled version, or its latest one when none is enabled, to say it is disabled).
fn resolve(app: &App, key: &str, version: Option<&str>) -> Result<Published, ApiError> {
    let db = app.db();
    if let Some(p) = db.published_one(key)? {
        return Ok(p);
    }
    let all = db.published(true)?;
    let named: Vec<&Published> = all.iter().filter(|p| p.name == key).collect();
    let found = match version {
        Some(v) => named.iter().find(|p| p.version == v),
        None => named.iter().find(|p| p.enabled).or(named.first()),
    };
    found.map(|p| (*p).clone()).ok_or_else(|| match (version, named.is_empty()) {
        (Some(v), false) => ApiError::not_found(format!("pipeline {key} has no version {v}")),
        _ => ApiError::not_found(format!("no published pipeline {key} (see GET /pipelines)")),
    })
}

/// The body's parameter assignments as override text, checked against `published`'s
/// parameters: each must exist and hold a value of its type.
fn assignments(
    published: &Published,
    given: serde_json::Map<String, serde_json::Value>,
) -> Result<Vec<(String, String)>, ApiError> {
    let db = hir::RootDatabase::default();
    let file = hir::SourceFile::new(&db, "published".into(), published.pipeline.clone(), vec![]);
    let defaults = &hir::param_values(&db, file).values;
    let mut out = Vec::new();
    for (name, value) in given {
        let Some(default) = defaults.get(&name) else {
            let known: Vec<&str> = defaults.keys().map(String::as_str).collect();
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "unknown_parameter",
                format!(
                    "the pipeline has no parameter `{name}`; its parameters: {}",
                    if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                ),
            ));
        };
        let wrong = || {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_parameter",
                format!(
                    "parameter `{name}` expects {}, found {value}",
                    with_article(default.type_name())
                ),
            )
        };
        let raw = match &value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            _ => return Err(wrong()),
        };
        if raw.len() > 64 * 1024 || default.parse_like(&raw).is_err() {
            return Err(wrong());
        }
        out.push((name, raw));
    }
    Ok(out)
}

/// `integer` → `an integer`, `float` → `a float`.
fn with_article(noun: &str) -> String {
    let vowel = noun.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {noun}", if vowel { "an" } else { "a" })
}

fn pipeline_doc(app: &App, p: Published, host: Option<&str>) -> PipelineDoc {
    PipelineDoc {
        endpoint: format!("{}/pipelines/{}", app.base_url(host), p.id),
        status: if p.enabled { "Active" } else { "Disabled" }.to_owned(),
        parameters: p.params.into_iter().collect(),
        id: p.id,
        name: p.name,
        version: p.version,
        description: p.description,
        git_commit: p.git_commit,
        created_ms: p.created_ms,
    }
}

/// `GET /pipelines`: every published pipeline, newest first, disabled ones included.
#[utoipa::path(get, path = "/pipelines",
    responses((status = 200, body = Vec<PipelineDoc>), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn list_pipelines(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> ApiResult<Vec<PipelineDoc>> {
    auth::require(&app, &headers)?;
    let all = app.db().published(true)?;
    Ok(Json(all.into_iter().map(|p| pipeline_doc(&app, p, host(&headers))).collect()))
}

/// `GET /pipelines/{id}`.
#[utoipa::path(get, path = "/pipelines/{id}", params(("id" = String, Path, description = "id or name")),
    responses((status = 200, body = PipelineDoc), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn get_pipeline(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<PipelineDoc> {
    auth::require(&app, &headers)?;
    let p = resolve(&app, &id, None)?;
    Ok(Json(pipeline_doc(&app, p, host(&headers))))
}

/// `PATCH /pipelines/{id}`: enable or disable; takes effect for the next submission.
#[utoipa::path(patch, path = "/pipelines/{id}", request_body = PatchBody,
    params(("id" = String, Path, description = "id")),
    responses((status = 200, body = PipelineDoc), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn patch_pipeline(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<PipelineDoc> {
    auth::require(&app, &headers)?;
    let body: Option<PatchBody> = json_body::<Option<PatchBody>>(body)?;
    let enabled = match body.as_ref().map(|b| b.status.as_str()) {
        Some("Active") => true,
        Some("Disabled") => false,
        _ => {
            return Err(ApiError::bad_body(
                "the body must be {\"Status\": \"Active\"} or {\"Status\": \"Disabled\"}",
            ));
        }
    };
    let p = app
        .db()
        .published_one(&id)?
        .ok_or_else(|| ApiError::not_found(format!("no published pipeline {id}")))?;
    app.db().set_published_enabled(&p.id, enabled)?;
    let p = Published { enabled, ..p };
    Ok(Json(pipeline_doc(&app, p, host(&headers))))
}

/// `GET /runs/{id}`.
#[utoipa::path(get, path = "/runs/{id}", params(("id" = String, Path, description = "the run's id")),
    responses((status = 200, body = RunDoc), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn get_run(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<RunDoc> {
    auth::require(&app, &headers)?;
    let s = submission(&app, &id)?;
    Ok(Json(run_doc(&app, s, host(&headers))?))
}

fn submission(app: &App, id: &str) -> Result<Submission, ApiError> {
    app.db().submission(id)?.ok_or_else(|| ApiError::not_found(format!("no run {id}")))
}

fn run_doc(app: &App, s: Submission, host: Option<&str>) -> Result<RunDoc, ApiError> {
    let mut steps = Vec::new();
    if let Some(run_id) = s.run_id {
        let db = app.db();
        let mut metrics: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
        for (step, m) in db.metrics(run_id, None)? {
            metrics.entry(step).or_default().insert(m.name, m.value);
        }
        for r in db.steps(run_id)? {
            steps.push(StepDoc {
                metrics: metrics.remove(&r.step).unwrap_or_default(),
                name: r.step,
                status: r.status.as_str().to_owned(),
                reason: r.dirty_reason,
                reused_from: r.reused_from,
                started_ms: r.started_ms,
                duration_ms: r.duration_ms,
                key: r.key,
            });
        }
    }
    if let Some(live) = app.queue.live().get(&s.id) {
        for (step, status) in &live.steps {
            if status == "running" && !steps.iter().any(|d| &d.name == step) {
                steps.push(StepDoc {
                    name: step.clone(),
                    status: status.clone(),
                    reason: None,
                    reused_from: None,
                    started_ms: None,
                    duration_ms: None,
                    key: None,
                    metrics: BTreeMap::new(),
                });
            }
        }
    }
    Ok(RunDoc {
        dashboard_url: s.run_id.map(|r| format!("{}/ui/runs/{r}", app.base_url(host))),
        id: s.id,
        status: s.status.as_str().to_owned(),
        pipeline_id: s.published_id,
        experiment_name: s.experiment,
        parameter_assignments: s.params.into_iter().collect(),
        submitted_by: s.submitted_by,
        run_number: s.run_id,
        message: s.message,
        submitted_ms: s.submitted_ms,
        started_ms: s.started_ms,
        ended_ms: s.ended_ms,
        steps,
    })
}

/// `GET /runs/{id}/steps/{step}/logs`.
#[utoipa::path(get, path = "/runs/{id}/steps/{step}/logs",
    params(("id" = String, Path, description = "the run's id"), ("step" = String, Path, description = "the step")),
    responses((status = 200, body = LogsDoc), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn step_logs(
    State(app): State<Arc<App>>,
    Path((id, step)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<LogsDoc> {
    auth::require(&app, &headers)?;
    let s = submission(&app, &id)?;
    let run_id =
        s.run_id.ok_or_else(|| ApiError::not_found(format!("run {id} has not started")))?;
    let (run_number, stdout, stderr) = crate::dashboard::step_logs(&app, run_id, &step, 64 * 1024)?;
    Ok(Json(LogsDoc { step, run_number, stdout, stderr }))
}

/// `POST /runs/{id}/cancel`: a queued run is cancelled at once, a running one is stopped
/// (its steps killed) and recorded `Canceled`.
#[utoipa::path(post, path = "/runs/{id}/cancel", params(("id" = String, Path, description = "the run's id")),
    responses((status = 200, body = RunDoc), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn cancel_run(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<RunDoc> {
    use SubmissionStatus::{Canceled, Queued};
    auth::require(&app, &headers)?;
    let s = submission(&app, &id)?;
    if s.status.is_terminal() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("run {id} has ended: {}", s.status),
        ));
    }
    let moved =
        app.db().move_submission(&id, &[Queued], Canceled, None, Some("cancelled"), now_ms())?;
    if !moved && let Some(live) = app.queue.live().get(&id) {
        live.cancel.cancel();
    }
    // A running build records its end itself; wait for it briefly so the answer says so.
    for _ in 0..250 {
        let now = submission(&app, &id)?;
        if now.status.is_terminal() {
            return Ok(Json(run_doc(&app, now, host(&headers))?));
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Ok(Json(run_doc(&app, submission(&app, &id)?, host(&headers))?))
}

/// `GET /openapi.json`: the OpenAPI document (no token needed: it describes, it holds
/// nothing).
pub(crate) async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(crate::openapi::document())
}
