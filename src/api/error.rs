//! `ApiError`: the one error type at the HTTP edge. Every 4xx/5xx body is
//! `{"error": {"code", "message", "details": [...]}}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::Invalid;
use crate::store::StoreError;
use crate::store::capacity::STORAGE_FULL_RETRY_AFTER;

/// One problem with a request, located by a JSON pointer into its body.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
pub struct Detail {
    /// JSON pointer into the request body (e.g. `/data/type`).
    pub pointer: String,
    /// What is wrong there.
    pub message: String,
    /// The JSON Schema keyword that failed, for payload validation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyword: Option<String>,
}

impl Detail {
    /// A detail at `pointer`.
    pub fn at(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            message: message.into(),
            keyword: None,
        }
    }

    /// A detail from a domain refusal of the value at `pointer`.
    pub fn from_invalid(pointer: &str, invalid: Invalid) -> Self {
        Self::at(format!("{pointer}{}", invalid.field), invalid.message)
    }
}

/// An error answered to the client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Vec<Detail>,
    retry_after: Option<u64>,
    /// The database's words, when it refused a write for lack of space.
    storage_refusal: Option<String>,
}

/// Set on a response whose request the database refused for lack of
/// space, with the database's words, for the storage watch (see
/// `super::watch_storage`) to note.
#[derive(Debug, Clone)]
pub struct StorageRefusal(pub String);

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
            retry_after: None,
            storage_refusal: None,
        }
    }

    /// 429: over a rate limit; `Retry-After` says when to come back.
    pub fn rate_limited(what: &str, wait: std::time::Duration) -> Self {
        let seconds = super::limits::retry_after_seconds(wait);
        Self {
            retry_after: Some(seconds),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many {what}; retry in {seconds} s"),
            )
        }
    }

    /// 400: the body is not JSON, or a query parameter is wrong.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401: no key, or a wrong one.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 404: no such thing for this caller.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    /// 405.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this method is not allowed on this path",
        )
    }

    /// 413: the body is over the limit.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than {limit} bytes"),
        )
    }

    /// 415: not `application/json`.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with Content-Type: application/json",
        )
    }

    /// 422: the request is well-formed JSON but its content is invalid.
    pub fn invalid(code: &'static str, message: impl Into<String>, details: Vec<Detail>) -> Self {
        Self {
            details,
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
        }
    }

    /// This error with `more` details after its own.
    pub fn with_details(mut self, more: Vec<Detail>) -> Self {
        self.details.extend(more);
        self
    }

    /// 409: the request conflicts with what exists.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 500, logged with its cause; the client sees no internals.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "an internal error occurred; it has been logged",
        )
    }

    /// An error for a bare status produced below the handlers (a framework
    /// rejection), with `message` as its text.
    pub fn from_status(status: StatusCode, message: impl Into<String>) -> Self {
        let code = match status {
            StatusCode::BAD_REQUEST => "bad_request",
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            StatusCode::REQUEST_TIMEOUT => "request_timeout",
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::UNPROCESSABLE_ENTITY => "invalid_request",
            s if s.is_server_error() => "internal_error",
            _ => "error",
        };
        Self::new(status, code, message)
    }

    /// 503: the service is shutting down.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// 503: the database refused a write for lack of space (`cause`, in
    /// its words); nothing was stored. Not logged here: the storage watch
    /// logs each episode once (see `StorageHealth`).
    pub fn storage_full(cause: impl Into<String>) -> Self {
        Self {
            retry_after: Some(STORAGE_FULL_RETRY_AFTER),
            storage_refusal: Some(cause.into()),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_full",
                "the database's storage is full; nothing was stored; retry once space is freed",
            )
        }
    }
}

impl ApiError {
    /// Move details found at pointer `from` to `to` (when a door's field name
    /// differs from the shared validator's).
    pub fn repoint(mut self, from: &str, to: &str) -> Self {
        for detail in self.details.iter_mut().filter(|d| d.pointer == from) {
            detail.pointer = to.to_owned();
        }
        self
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::AccountNotFound(_) => ApiError::not_found("account"),
            StoreError::Closed => ApiError::unavailable("the service is shutting down"),
            StoreError::StorageFull(cause) => ApiError::storage_full(cause),
            StoreError::Contention(_) => {
                ApiError::unavailable("the write conflicted with another; try again")
            }
            StoreError::Database(_) | StoreError::Sealed(_) => ApiError::internal(error),
        }
    }
}

/// The body of every 4xx and 5xx answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorObject,
}

/// The error inside [`ErrorBody`].
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorObject {
    /// A stable machine-readable code (`schema_violation`, `not_found`, ...).
    pub code: &'static str,
    /// What went wrong, in words.
    pub message: String,
    /// One entry per problem, each located by a JSON pointer.
    pub details: Vec<Detail>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorObject {
                code: self.code,
                message: self.message,
                details: self.details,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(cause) = self.storage_refusal {
            response.extensions_mut().insert(StorageRefusal(cause));
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}
