//! The OpenAPI document of the REST API (`GET /openapi.json`), derived with `utoipa` from
//! the handlers' `#[utoipa::path]` annotations and the bodies' types, so it cannot drift
//! from the routes.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::rest;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "runner",
        description = "Published pipelines of a runner workspace, started over REST as Azure ML's \
                       published pipeline endpoints are (see docs/server.md)."
    ),
    paths(
        rest::submit,
        rest::list_pipelines,
        rest::get_pipeline,
        rest::patch_pipeline,
        rest::get_run,
        rest::step_logs,
        rest::cancel_run
    ),
    components(schemas(
        rest::SubmitBody,
        rest::Submitted,
        rest::PipelineDoc,
        rest::PatchBody,
        rest::RunDoc,
        rest::StepDoc,
        rest::LogsDoc,
        rest::ErrorBody
    )),
    modifiers(&Bearer)
)]
struct ApiDoc;

/// Declares the `bearer` security scheme the paths name.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components
            .add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// The document.
pub(crate) fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    // `POST /pipelines/{id}/submit` is the same operation as `POST /pipelines/{id}`.
    if let Some(item) = doc.paths.paths.get("/pipelines/{id}").cloned()
        && let Some(post) = item.post
    {
        let mut submit = utoipa::openapi::PathItem::default();
        submit.post = Some(post);
        doc.paths.paths.insert("/pipelines/{id}/submit".to_owned(), submit);
    }
    doc
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_route_is_described() {
        let doc = serde_json::to_value(super::document()).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        let mut described: Vec<String> = Vec::new();
        for (path, item) in paths {
            for method in item.as_object().unwrap().keys() {
                described.push(format!("{} {path}", method.to_uppercase()));
            }
        }
        described.sort();
        assert_eq!(
            described,
            [
                "GET /pipelines",
                "GET /pipelines/{id}",
                "GET /runs/{id}",
                "GET /runs/{id}/steps/{step}/logs",
                "PATCH /pipelines/{id}",
                "POST /pipelines/{id}",
                "POST /pipelines/{id}/submit",
                "POST /runs/{id}/cancel",
            ]
        );
        assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    }
}
