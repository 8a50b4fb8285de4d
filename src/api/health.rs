//! Probes and metrics: `GET /healthz` (the process answers), `GET /readyz`
//! (the database answers too) and `GET /metrics` (Prometheus, admin key).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

use super::extract::Admin;
use super::{ApiError, AppState};
use crate::domain::Timestamp;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
}

async fn metrics(_: Admin, State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let (depth, oldest) = state.store.queue_stats().await?;
    let age = oldest.map_or(0, |at| {
        Timestamp::now().0.saturating_sub(at.0).max(0) as u64 / 1000
    });
    Ok((
        [(CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(depth, age),
    ))
}

async fn ready(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.store.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness check failed");
        ApiError::unavailable("the database does not answer")
    })?;
    Ok(Json(json!({"status": "ready"})))
}
