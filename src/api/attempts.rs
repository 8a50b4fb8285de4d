//! Delivery attempts: `GET /v1/webhooks/{id}/attempts` and
//! `GET /v1/events/{id}/attempts`, newest first, cursor-paginated.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::extract::{ApiQuery, Caller};
use super::lists::{ListQuery, list_json};
use super::webhooks::owned_webhook;
use super::{ApiError, AppState};
use crate::domain::rfc3339;
use crate::store::{Attempt, AttemptsOf};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/webhooks/{id}/attempts", get(of_webhook))
        .route("/v1/events/{id}/attempts", get(of_event))
}

fn attempt_json(a: &Attempt) -> Value {
    json!({
        "id": a.id,
        "delivery_id": a.delivery_id,
        "webhook_id": a.subscription_id,
        "event_id": a.event_id,
        "event_type": a.event_type,
        "status": a.result.status,
        "latency_ms": a.result.latency_ms,
        "response": a.result.response_snippet,
        "error": a.result.error,
        "created_at": rfc3339(a.result.started_at),
    })
}

async fn of_webhook(
    Caller(account): Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    owned_webhook(&state, &account.id, &id).await?;
    let page = state
        .store
        .attempts(&account.id, AttemptsOf::Subscription(id), query.page())
        .await?;
    Ok(Json(list_json(&page, attempt_json)))
}

async fn of_event(
    Caller(account): Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    if state
        .store
        .deliveries_for_event(&account.id, &id)
        .await?
        .is_none()
    {
        return Err(ApiError::not_found("event"));
    }
    let page = state
        .store
        .attempts(&account.id, AttemptsOf::Event(id), query.page())
        .await?;
    Ok(Json(list_json(&page, attempt_json)))
}
