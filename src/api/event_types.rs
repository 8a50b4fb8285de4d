//! Event types: the catalog, public so integrations can read it
//! (`GET /v1/event-types`, `GET /v1/event-types/{name}`), and the producer's
//! own types (admin): `POST /v1/event-types` registers one with its JSON
//! Schema, `PUT /v1/event-types/{name}` replaces a registered one. Registered
//! types are stored, so they survive restarts and reach every node.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Admin, ApiJson};
use super::views::EventTypeView;
use super::{ApiError, AppState, Detail, ErrorBody};
use crate::catalog::{CatalogError, EventType, Origin};
use crate::domain::{EventTypeName, Timestamp, check_text};
use crate::service::{lookup_event_type, reload_event_types};
use crate::store::RegisteredEventType;

/// The longest description accepted.
const MAX_DESCRIPTION: usize = 500;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, register))
        .routes(routes!(one, replace))
}

/// The catalog's type called `name`. A name this node does not know may have
/// been registered through another node (or just now): the registered types
/// are reloaded from the store before the answer is no.
pub async fn lookup(state: &AppState, name: &str) -> Result<Option<Arc<EventType>>, ApiError> {
    Ok(lookup_event_type(&state.catalog, state.store.as_ref(), name).await?)
}

/// Reload the registered types when any of `names` is unknown here.
pub async fn refresh_unless_known(state: &AppState, names: &[String]) -> Result<(), ApiError> {
    if names
        .iter()
        .any(|n| n != "*" && state.catalog.get(n).is_none())
    {
        reload(state).await?;
    }
    Ok(())
}

async fn reload(state: &AppState) -> Result<(), ApiError> {
    Ok(reload_event_types(&state.catalog, state.store.as_ref()).await?)
}

#[utoipa::path(
    get,
    path = "/v1/event-types",
    tag = "event-types",
    operation_id = "list_event_types",
    summary = "Every event type with its schema and examples",
    responses(
        (status = 200, description = "Every type, built-in and registered", body = Vec<EventTypeView>)
    )
)]
async fn list(State(state): State<AppState>) -> Result<Json<Vec<EventTypeView>>, ApiError> {
    reload(&state).await?;
    let types = state.catalog.all();
    Ok(Json(
        types.iter().map(|t| EventTypeView::from(&**t)).collect(),
    ))
}

#[utoipa::path(
    get,
    path = "/v1/event-types/{name}",
    tag = "event-types",
    operation_id = "get_event_type",
    summary = "One event type",
    params(("name" = String, Path, description = "The event type")),
    responses(
        (status = 200, description = "The type", body = EventTypeView),
        (status = 404, description = "No such resource in this account", body = ErrorBody)
    )
)]
async fn one(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<EventTypeView>, ApiError> {
    let event_type = lookup(&state, &name)
        .await?
        .ok_or_else(|| ApiError::not_found("event type"))?;
    Ok(Json(EventTypeView::from(&*event_type)))
}

/// A type's definition as the producer sends it. `description` and
/// `examples` may instead sit inside the schema, as JSON Schema allows.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Definition {
    /// The type's name (`invoice.paid`); required to register, optional
    /// (and unchangeable) when replacing.
    #[serde(default)]
    name: Option<String>,
    /// One sentence; Zapier and Make show it.
    #[serde(default)]
    description: Option<String>,
    /// The JSON Schema of the event's `data` (`"type": "object"`).
    #[schema(value_type = Object)]
    schema: Value,
    /// Example payloads, each valid against the schema.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    examples: Option<Vec<Value>>,
}

/// Check a definition completely: the name, the description, the schema as
/// a JSON Schema describing an object, and every example against it.
fn compile(name: &str, body: Definition) -> Result<(EventType, RegisteredEventType), ApiError> {
    let invalid = |details| {
        ApiError::invalid(
            "invalid_event_type",
            "the event type definition is invalid",
            details,
        )
    };
    let name =
        EventTypeName::parse(name).map_err(|e| invalid(vec![Detail::from_invalid("/name", e)]))?;
    let description = body
        .description
        .or_else(|| body.schema.get("description")?.as_str().map(str::to_owned))
        .unwrap_or_default();
    let description = description.trim().to_owned();
    if description.is_empty() || check_text(&description, MAX_DESCRIPTION).is_err() {
        return Err(invalid(vec![Detail::at(
            "/description",
            format!(
                "a description of 1 to {MAX_DESCRIPTION} characters (no NUL) is required \
                 (Zapier and Make show it), here or as the schema's \"description\""
            ),
        )]));
    }
    let examples = body
        .examples
        .or_else(|| body.schema.get("examples")?.as_array().cloned())
        .unwrap_or_default();
    let event_type = EventType::new(
        name.as_str(),
        &description,
        body.schema.clone(),
        examples.clone(),
        Origin::Registered,
    )
    .map_err(|error| match error {
        CatalogError::InvalidSchema {
            pointer, reason, ..
        } => ApiError::invalid(
            "invalid_schema",
            "schema is not a JSON Schema this service can use",
            vec![Detail::at(format!("/schema{pointer}"), reason)],
        ),
        CatalogError::InvalidExample {
            index, violations, ..
        } => ApiError::invalid(
            "invalid_example",
            format!("example {index} does not match the schema"),
            violations
                .into_iter()
                .map(|v| Detail {
                    pointer: format!("/examples/{index}{}", v.pointer),
                    message: v.message,
                    keyword: Some(v.keyword),
                })
                .collect(),
        ),
    })?;
    let now = Timestamp::now();
    let record = RegisteredEventType {
        name: name.as_str().to_owned(),
        description,
        schema: body.schema,
        examples,
        created_at: now,
        updated_at: now,
    };
    Ok((event_type, record))
}

fn builtin_conflict(name: &str) -> ApiError {
    ApiError::conflict(
        "event_type_exists",
        format!("{name:?} is a built-in event type and cannot be changed"),
    )
}

#[utoipa::path(
    post,
    path = "/v1/event-types",
    tag = "event-types",
    summary = "Register an event type with its JSON Schema",
    request_body = Definition,
    responses(
        (status = 201, description = "The type as stored", body = EventTypeView),
        (status = 401, description = "Missing or wrong key", body = ErrorBody),
        (status = 400, description = "Malformed JSON or query", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 422, description = "Invalid content; one detail per problem, each with a JSON pointer", body = ErrorBody)
    ),
    security(("admin_key" = []))
)]
async fn register(
    _: Admin,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Definition>,
) -> Result<(StatusCode, Json<EventTypeView>), ApiError> {
    let Some(name) = body.name.clone() else {
        return Err(ApiError::invalid(
            "invalid_event_type",
            "the event type definition is invalid",
            vec![Detail::at("/name", "the event type's name is required")],
        ));
    };
    let (event_type, record) = compile(&name, body)?;
    let revision = record.updated_at.0;
    if let Some(existing) = state.catalog.get(&name) {
        return Err(match existing.origin() {
            Origin::Builtin => builtin_conflict(&name),
            Origin::Registered => already_registered(&name),
        });
    }
    if !state.store.create_event_type(record).await? {
        return Err(already_registered(&name));
    }
    let shown = EventTypeView::from(&event_type);
    state.catalog.register(event_type.at_revision(revision));
    Ok((StatusCode::CREATED, Json(shown)))
}

fn already_registered(name: &str) -> ApiError {
    ApiError::conflict(
        "event_type_exists",
        format!(
            "event type {name:?} is already registered; PUT /v1/event-types/{name} replaces it"
        ),
    )
}

#[utoipa::path(
    put,
    path = "/v1/event-types/{name}",
    tag = "event-types",
    summary = "Replace a registered event type",
    params(("name" = String, Path, description = "The event type")),
    request_body = Definition,
    responses(
        (status = 200, description = "The type as stored", body = EventTypeView),
        (status = 401, description = "Missing or wrong key", body = ErrorBody),
        (status = 400, description = "Malformed JSON or query", body = ErrorBody),
        (status = 404, description = "No such resource in this account", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 422, description = "Invalid content; one detail per problem, each with a JSON pointer", body = ErrorBody)
    ),
    security(("admin_key" = []))
)]
async fn replace(
    _: Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<Definition>,
) -> Result<Json<EventTypeView>, ApiError> {
    if body.name.as_ref().is_some_and(|given| *given != name) {
        return Err(ApiError::invalid(
            "invalid_event_type",
            "the event type definition is invalid",
            vec![Detail::at(
                "/name",
                "the name cannot change; register a new type instead",
            )],
        ));
    }
    if lookup(&state, &name)
        .await?
        .is_some_and(|t| t.origin() == Origin::Builtin)
    {
        return Err(builtin_conflict(&name));
    }
    let (event_type, record) = compile(&name, body)?;
    let revision = record.updated_at.0;
    if !state.store.replace_event_type(record).await? {
        return Err(ApiError::not_found("event type"));
    }
    let shown = EventTypeView::from(&event_type);
    state.catalog.register(event_type.at_revision(revision));
    Ok(Json(shown))
}
