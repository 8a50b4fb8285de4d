//! The HTTP API: one module per resource, sharing [`AppState`], the
//! extractors in [`extract`] and the single [`ApiError`] type.

mod accounts;
mod attempts;
mod deliveries;
mod error;
mod event_types;
mod events;
pub mod extract;
mod health;
mod hooks;
pub mod limits;
mod lists;
mod openapi;
mod operational_webhooks;
mod subscriptions;
pub mod views;
mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::body::to_bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::Request;
use axum::http::HeaderName;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::{self, Next, map_response};
use axum::response::{IntoResponse, Response};
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;

pub use error::{ApiError, Detail, ErrorBody};
pub use openapi::document as openapi_document;

use crate::catalog::Catalog;
use crate::delivery::guard::TargetGuard;
use crate::metrics::Metrics;
use crate::service::{Deliveries, Publisher};
use crate::store::capacity::StorageHealth;
use crate::store::{Store, StoreError};

/// The largest request body accepted (1 MiB); larger bodies get 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The records (accounts, keys, webhooks, event types, listings).
    pub store: Arc<dyn Store>,
    /// The event types.
    pub catalog: Catalog,
    /// Accepts published events.
    pub publisher: Arc<Publisher>,
    /// Test sends and resends.
    pub deliveries: Arc<Deliveries>,
    /// Who may call, and how often.
    pub access: Arc<Access>,
    /// What a webhook's target and headers must satisfy.
    pub target_rules: TargetRules,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Whether the database has room to write.
    pub storage: Arc<StorageHealth>,
}

/// Who may call the API, and how often.
pub struct Access {
    /// SHA-256 of the admin key.
    pub admin_key_hash: [u8; 32],
    /// Prefix of account API keys (`hb` gives `hb_...`).
    pub key_prefix: String,
    /// Per-account request and publish limits.
    pub limits: limits::RateLimits,
}

/// What a webhook's target URL and custom headers must satisfy.
#[derive(Clone)]
pub struct TargetRules {
    /// The SSRF policy for target URLs.
    pub guard: TargetGuard,
    /// The `sha256=` signature header's name, reserved against custom headers.
    pub signature_header: HeaderName,
}

/// Every route with its OpenAPI description: the only place routes are
/// added, so the document at `/openapi.json` covers each of them.
fn documented_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .merge(accounts::routes())
        .merge(event_types::routes())
        .merge(events::routes())
        .merge(webhooks::routes())
        .merge(hooks::routes())
        .merge(operational_webhooks::routes())
        .merge(deliveries::routes())
        .merge(attempts::routes())
        .merge(health::routes())
        .merge(openapi::routes())
}

/// The complete router: the documented API and the dashboard at `/`.
pub fn router(state: AppState) -> Router {
    let (routes, _) = documented_routes().split_for_parts();
    routes
        .merge(crate::dashboard::routes())
        .fallback(|| async { ApiError::not_found("route") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(refuse_nul_in_urls))
        .layer(middleware::from_fn_with_state(
            state.storage.clone(),
            watch_storage,
        ))
        .layer(map_response(errors_as_json))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Tell the storage watch of each request the database refused for lack of
/// space (an episode starts, logged once).
async fn watch_storage(
    axum::extract::State(storage): axum::extract::State<Arc<StorageHealth>>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    if let Some(refusal) = response.extensions().get::<error::StorageRefusal>() {
        storage.note_error(&StoreError::StorageFull(refusal.0.clone()));
    }
    response
}

/// Refuse a URL carrying an encoded NUL (`%00`) in its path or query: no id
/// or cursor contains one, and PostgreSQL cannot take one as text.
async fn refuse_nul_in_urls(request: Request, next: Next) -> Response {
    let uri = request.uri();
    let carries_nul = |part: &str| part.to_ascii_lowercase().contains("%00");
    if carries_nul(uri.path()) || uri.query().is_some_and(carries_nul) {
        return ApiError::bad_request("bad_request", "URLs cannot contain NUL characters (%00)")
            .into_response();
    }
    next.run(request).await
}

/// The safety net behind the promise that every 4xx/5xx body is JSON: an
/// error produced below the handlers (a path that does not decode, say) is
/// rewrapped in the `ApiError` shape with its text as the message.
async fn errors_as_json(response: Response) -> Response {
    let status = response.status();
    let is_error = status.is_client_error() || status.is_server_error();
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !is_error || is_json {
        return response;
    }
    let text = to_bytes(response.into_body(), 4096)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let message = match text.trim() {
        "" => status.canonical_reason().unwrap_or("error").to_owned(),
        said => said.to_owned(),
    };
    ApiError::from_status(status, message).into_response()
}
