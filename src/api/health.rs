//! Probes and metrics: `GET /healthz` (the process answers), `GET /readyz`
//! (the database answers too) and `GET /metrics` (Prometheus, admin key).

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

use super::extract::Admin;
use super::views::HealthView;
use super::{ApiError, AppState, ErrorBody};
use crate::domain::Timestamp;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(ready))
        .routes(routes!(metrics))
}

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    summary = "The process answers",
    responses(
        (status = 200, description = "`{status: ok}`", body = HealthView)
    )
)]
async fn healthz() -> Json<HealthView> {
    Json(HealthView {
        status: "ok".into(),
    })
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    summary = "Prometheus metrics",
    responses(
        (status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"),
        (status = 401, description = "Missing or wrong key", body = ErrorBody)
    ),
    security(("admin_key" = []))
)]
async fn metrics(_: Admin, State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let (depth, oldest) = state.store.queue_stats().await?;
    let age = oldest.map_or(0, |at| {
        Timestamp::now().0.saturating_sub(at.0).max(0) as u64 / 1000
    });
    let size = state.store.database_size().await?;
    Ok((
        [(CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(depth, age, size),
    ))
}

#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    summary = "The process and its database answer, and the database takes writes",
    responses(
        (status = 200, description = "`{status: ready}`", body = HealthView),
        (status = 503, description = "The database does not answer (`unavailable`), or its storage is full (`storage_full`)", body = ErrorBody)
    )
)]
async fn ready(State(state): State<AppState>) -> Result<Json<HealthView>, ApiError> {
    if state.storage.is_full() {
        return Err(ApiError::storage_full(
            "a write was refused for lack of space, and no probe has passed since",
        ));
    }
    state.store.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness check failed");
        ApiError::unavailable("the database does not answer")
    })?;
    Ok(Json(HealthView {
        status: "ready".into(),
    }))
}
