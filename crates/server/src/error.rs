//! Errors: [`Error`], why a server could not start or serve; [`ApiError`], what a request is
//! answered when it cannot be served, as JSON `{"error": {"code", "message"}}`.

use std::net::SocketAddr;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Why a server could not start or keep serving.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No pipeline at the path, or its state folder cannot be used.
    #[error("{0}")]
    Project(String),
    /// The history database cannot be opened or read.
    #[error(transparent)]
    History(#[from] history::Error),
    /// The address cannot be bound (in use, not this machine's, no permission).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// Accepting connections failed.
    #[error("serving failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// A request's failure: an HTTP status, a stable `code` for programs and a `message` for
/// people, answered as `{"error": {"code": CODE, "message": MESSAGE}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status (4xx for the client's mistakes, 5xx for the server's).
    pub status: StatusCode,
    /// A stable, snake_case code: `missing_token`, `invalid_token`, `revoked_token`,
    /// `not_found`, `pipeline_disabled`, `unknown_parameter`, `invalid_parameter`,
    /// `invalid_body`, `body_too_large`, `conflict`, `shutting_down`, `internal`.
    pub code: &'static str,
    /// What went wrong, one sentence.
    pub message: String,
}

impl ApiError {
    /// An error with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }

    /// 404 `not_found`.
    pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 400 `invalid_body`.
    pub(crate) fn bad_body(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", message)
    }

    /// 500 `internal`, for a failure of the server's own state (its database); the
    /// message says what failed, never a secret.
    pub(crate) fn internal(what: impl std::fmt::Display) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", what.to_string())
    }
}

impl From<history::Error> for ApiError {
    fn from(e: history::Error) -> ApiError {
        ApiError::internal(format!("run history: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 6750 §3: a 401 names the scheme the client should use.
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"runner\""),
            );
        }
        response
    }
}
