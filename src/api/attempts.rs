//! Delivery attempts: `GET /v1/webhooks/{id}/attempts` and
//! `GET /v1/events/{id}/attempts`, newest first, cursor-paginated.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ApiQuery, Caller};
use super::lists::{ListQuery, list_json};
use super::webhooks::owned_webhook;
use super::{ApiError, AppState, ErrorBody};
use crate::domain::rfc3339;
use crate::store::{Attempt, AttemptsOf};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(of_webhook))
        .routes(routes!(of_event))
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

#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}/attempts",
    tag = "attempts",
    summary = "Attempts to one webhook, newest first",
    params(("id" = String, Path, description = "The resource id"), ListQuery),
    responses(
        (status = 200, description = "`{data, next_cursor}`", body = Value),
        (status = 401, description = "Missing or wrong key", body = ErrorBody),
        (status = 404, description = "No such resource in this account", body = ErrorBody),
        (status = 400, description = "Malformed JSON or query", body = ErrorBody)
    ),
    security(("api_key" = []), ("api_key_bearer" = []))
)]
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

#[utoipa::path(
    get,
    path = "/v1/events/{id}/attempts",
    tag = "attempts",
    summary = "Attempts for one event, newest first",
    params(("id" = String, Path, description = "The resource id"), ListQuery),
    responses(
        (status = 200, description = "`{data, next_cursor}`", body = Value),
        (status = 401, description = "Missing or wrong key", body = ErrorBody),
        (status = 404, description = "No such resource in this account", body = ErrorBody),
        (status = 400, description = "Malformed JSON or query", body = ErrorBody)
    ),
    security(("api_key" = []), ("api_key_bearer" = []))
)]
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
