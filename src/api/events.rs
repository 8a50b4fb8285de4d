//! Events: publishing (admin), sample polling for Zapier and Make, and the
//! delivery status of one event (account).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::event_types::lookup;
use super::extract::{Admin, ApiJson, ApiQuery, Caller};
use super::views::{Items, PublishedView};
use super::{ApiError, AppState, Detail, ErrorBody};
use crate::catalog::EventType;
use crate::delivery::payload::{EventParts, flat};
use crate::service::{Publication, PublishError};
use crate::store::DeliveryStatus;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(recent, publish))
        .routes(routes!(deliveries))
}

/// The timestamp sample payloads carry (the seed's example time).
const SAMPLE_TIMESTAMP: i64 = 1_710_000_000;

/// `POST /v1/events` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Publish {
    /// The event type (`GET /v1/event-types`).
    #[serde(rename = "type")]
    event_type: String,
    /// The account whose subscribers receive it.
    account_id: String,
    /// The payload, valid against the type's schema.
    #[schema(value_type = Object)]
    data: Value,
    /// Your id for the event: publishing it again is a no-op (idempotency).
    #[serde(default)]
    id: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/events",
    tag = "events",
    summary = "Publish an event (stored durably before 202)",
    request_body = Publish,
    responses(
        (status = 202, description = "Accepted: stored, and delivered to every matching webhook", body = PublishedView),
        (status = 503, description = "The database's storage is full (`storage_full`, with `Retry-After`): nothing was stored; publish again later", body = ErrorBody),
        (status = 401, description = "Missing or wrong key", body = ErrorBody),
        (status = 400, description = "Malformed JSON or query", body = ErrorBody),
        (status = 404, description = "No such resource in this account", body = ErrorBody),
        (status = 422, description = "Invalid content; one detail per problem, each with a JSON pointer", body = ErrorBody)
    ),
    security(("admin_key" = []))
)]
async fn publish(
    _: Admin,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Publish>,
) -> Result<(StatusCode, Json<PublishedView>), ApiError> {
    if body.account_id.contains('\0') {
        return Err(ApiError::not_found("account"));
    }
    state.access.limits.publish(&body.account_id)?;
    let published = state
        .publisher
        .publish(Publication {
            event_type: body.event_type,
            account_id: body.account_id.into(),
            data: body.data,
            id: body.id,
        })
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(PublishedView {
            id: published.id,
            duplicate: published.duplicate,
            deliveries: published.deliveries,
        }),
    ))
}

impl From<PublishError> for ApiError {
    fn from(error: PublishError) -> Self {
        match error {
            PublishError::UnknownType { name, known } => ApiError::invalid(
                "unknown_event_type",
                format!("unknown event type {name:?}"),
                vec![Detail::at(
                    "/type",
                    format!("known types: {}", known.join(", ")),
                )],
            ),
            PublishError::InvalidId(invalid) => ApiError::invalid(
                "invalid_request",
                "the event id is invalid",
                vec![Detail::from_invalid("/id", invalid)],
            ),
            PublishError::Schema {
                event_type,
                violations,
            } => ApiError::invalid(
                "schema_violation",
                format!("data does not match the {event_type} schema"),
                violations
                    .into_iter()
                    .map(|v| Detail {
                        pointer: format!("/data{}", v.pointer),
                        message: v.message,
                        keyword: Some(v.keyword),
                    })
                    .collect(),
            ),
            PublishError::Store(error) => error.into(),
        }
    }
}

/// `GET /v1/events` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct RecentQuery {
    /// Only events of this type.
    #[serde(default, rename = "type")]
    #[param(rename = "type")]
    event_type: Option<String>,
    /// How many (default 3, at most 100).
    #[serde(default)]
    limit: Option<usize>,
}

/// The account's latest events (of one type, or of any), newest first, each
/// exactly as a flat delivery would carry it; the examples of the type (or
/// of every type) while there are none.
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "events",
    summary = "Sample polling: the latest events as flat deliveries, or the examples",
    params(RecentQuery),
    responses(
        (status = 200, description = "Flat event bodies, newest first", body = Vec<Object>),
        (status = 401, description = "Missing or wrong key", body = ErrorBody),
        (status = 400, description = "Malformed JSON or query", body = ErrorBody),
        (status = 422, description = "Invalid content; one detail per problem, each with a JSON pointer", body = ErrorBody)
    ),
    security(("api_key" = []), ("api_key_bearer" = []))
)]
async fn recent(
    Caller(account): Caller,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<RecentQuery>,
) -> Result<Json<Value>, ApiError> {
    let wanted = match &query.event_type {
        Some(name) => Some(lookup(&state, name).await?.ok_or_else(|| {
            ApiError::invalid(
                "unknown_event_type",
                format!("unknown event type {name:?}"),
                vec![Detail::at(
                    "/type",
                    "not in the catalog (GET /v1/event-types)",
                )],
            )
        })?),
        None => None,
    };
    let limit = query.limit.unwrap_or(3).clamp(1, 100);
    let events = state
        .store
        .recent_events(&account.id, wanted.as_ref().map(|t| t.name()), limit)
        .await?;
    if !events.is_empty() {
        let bodies = events.iter().map(|e| {
            flat(&EventParts {
                id: &e.id,
                event_type: &e.event_type,
                data: &e.data,
                created: e.created_at.unix_seconds(),
            })
        });
        return Ok(Json(Value::Array(bodies.collect())));
    }
    let types: Vec<Arc<EventType>> = match wanted {
        Some(one) => vec![one],
        None => state.catalog.all(),
    };
    let samples = types.iter().flat_map(|event_type| {
        event_type
            .examples()
            .iter()
            .enumerate()
            .map(|(i, example)| {
                flat(&EventParts {
                    id: &format!("evt_example_{}_{}", event_type.name(), i + 1),
                    event_type: event_type.name(),
                    data: example,
                    created: SAMPLE_TIMESTAMP,
                })
            })
    });
    Ok(Json(Value::Array(samples.take(limit).collect())))
}

/// `GET /v1/events/{id}/deliveries`: one row per subscription the event went to.
#[utoipa::path(
    get,
    path = "/v1/events/{id}/deliveries",
    tag = "events",
    summary = "One event's deliveries",
    params(("id" = String, Path, description = "The resource id")),
    responses(
        (status = 200, description = "The event's deliveries", body = Items<DeliveryStatus>),
        (status = 401, description = "Missing or wrong key", body = ErrorBody),
        (status = 404, description = "No such resource in this account", body = ErrorBody)
    ),
    security(("api_key" = []), ("api_key_bearer" = []))
)]
async fn deliveries(
    Caller(account): Caller,
    State(state): State<AppState>,
    Path(event_id): Path<String>,
) -> Result<Json<Items<DeliveryStatus>>, ApiError> {
    let deliveries = state
        .store
        .deliveries_for_event(&account.id, &event_id)
        .await?
        .ok_or_else(|| ApiError::not_found("event"))?;
    Ok(Json(Items { data: deliveries }))
}
