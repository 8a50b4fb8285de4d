//! Delivery attempts: `GET /v1/webhooks/{id}/attempts` and
//! `GET /v1/events/{id}/attempts`, newest first, cursor-paginated.

use axum::Json;
use axum::extract::{Path, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ApiQuery, Caller};
use super::lists::{ListPage, ListQuery};
use super::views::AttemptView;
use super::webhooks::owned_webhook;
use super::{ApiError, AppState, ErrorBody};
use crate::domain::SubscriptionId;
use crate::store::AttemptsOf;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(of_webhook))
        .routes(routes!(of_event))
}

#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}/attempts",
    tag = "attempts",
    summary = "Attempts to one webhook, newest first",
    params(("id" = String, Path, description = "The resource id"), ListQuery),
    responses(
        (status = 200, description = "`{data, next_cursor}`", body = ListPage<AttemptView>),
        (status = 401, description = "Missing or wrong key", body = ErrorBody),
        (status = 404, description = "No such resource in this account", body = ErrorBody),
        (status = 400, description = "Malformed JSON or query", body = ErrorBody)
    ),
    security(("api_key" = []), ("api_key_bearer" = []))
)]
async fn of_webhook(
    Caller(account): Caller,
    State(state): State<AppState>,
    Path(id): Path<SubscriptionId>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<ListPage<AttemptView>>, ApiError> {
    owned_webhook(&state, &account.id, &id).await?;
    let page = state
        .store
        .attempts(&account.id, AttemptsOf::Subscription(id), query.page())
        .await?;
    Ok(Json(ListPage::of(&page, |attempt| {
        AttemptView::from(attempt)
    })))
}

#[utoipa::path(
    get,
    path = "/v1/events/{id}/attempts",
    tag = "attempts",
    summary = "Attempts for one event, newest first",
    params(("id" = String, Path, description = "The resource id"), ListQuery),
    responses(
        (status = 200, description = "`{data, next_cursor}`", body = ListPage<AttemptView>),
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
) -> Result<Json<ListPage<AttemptView>>, ApiError> {
    if !state.store.has_event(&account.id, &id).await? {
        return Err(ApiError::not_found("event"));
    }
    let page = state
        .store
        .attempts(&account.id, AttemptsOf::Event(id), query.page())
        .await?;
    Ok(Json(ListPage::of(&page, |attempt| {
        AttemptView::from(attempt)
    })))
}
