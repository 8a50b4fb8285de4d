//! Operational webhooks, for the product itself (admin key): where it hears
//! about its customers' endpoints (`webhook.disabled`,
//! `delivery.exhausted`, `subscription.removed`). Each is a webhook of the
//! reserved operator account, so its events are signed, retried and
//! guarded like every delivery; `POST`, `GET` and `DELETE`
//! `/v1/operational-webhooks`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Admin, ApiJson, ApiQuery};
use super::lists::{ListPage, ListQuery};
use super::subscriptions::{self, Draft};
use super::{ApiError, AppState, Detail, ErrorBody};
use crate::domain::{
    EventSelection, OPERATIONAL_EVENT_TYPES, Source, SubscriptionId, Timestamp, operator_account,
    rfc3339,
};
use crate::store::{Account, Subscription};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(remove))
}

/// `POST /v1/operational-webhooks` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewOperationalWebhook {
    /// Where the operational events go.
    url: String,
    /// Which of `webhook.disabled`, `delivery.exhausted`,
    /// `subscription.removed` it hears (at least one).
    events: Vec<String>,
    /// A secret of your choosing (`whsec_` + base64), else one is made.
    #[serde(default)]
    secret: Option<String>,
}

/// An operational webhook.
#[derive(Debug, Serialize, ToSchema)]
struct OperationalWebhookView {
    /// `sub_...`
    id: String,
    /// Where operational events go.
    url: String,
    /// The operational event types it hears.
    events: Vec<String>,
    /// Whether deliveries are made (an endpoint failing every attempt for
    /// the auto-disable span is disabled).
    enabled: bool,
    /// Why it was disabled, when it was.
    disabled_reason: Option<String>,
    /// RFC 3339.
    created_at: String,
    /// The signing secret: only when it is created.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

impl OperationalWebhookView {
    fn of(subscription: &Subscription, with_secret: bool) -> Self {
        Self {
            id: subscription.id.to_string(),
            url: subscription.url.clone(),
            events: subscription.events.to_list(),
            enabled: subscription.enabled,
            disabled_reason: subscription.disabled_reason.clone(),
            created_at: rfc3339(subscription.created_at),
            secret: with_secret.then(|| subscription.secret.shown().to_owned()),
        }
    }
}

/// The operational event types named, or one detail per unknown name.
fn operational_events(events: &[String]) -> Result<Vec<String>, Vec<Detail>> {
    if events.is_empty() {
        return Err(vec![Detail::at(
            "/events",
            format!(
                "name at least one of {}",
                OPERATIONAL_EVENT_TYPES.join(", ")
            ),
        )]);
    }
    let unknown: Vec<Detail> = events
        .iter()
        .enumerate()
        .filter(|(_, name)| !OPERATIONAL_EVENT_TYPES.contains(&name.as_str()))
        .map(|(i, name)| {
            Detail::at(
                format!("/events/{i}"),
                format!(
                    "unknown operational event {name:?}; known: {}",
                    OPERATIONAL_EVENT_TYPES.join(", ")
                ),
            )
        })
        .collect();
    if !unknown.is_empty() {
        return Err(unknown);
    }
    let mut names = events.to_vec();
    names.sort_unstable();
    names.dedup();
    Ok(names)
}

/// Make sure the operator account exists (another node may be creating it
/// at the same moment).
async fn ensure_operator(state: &AppState) -> Result<(), ApiError> {
    let operator = operator_account();
    if state.store.account(&operator).await?.is_some() {
        return Ok(());
    }
    let account = Account {
        id: operator.clone(),
        name: "Operational webhooks".to_owned(),
        created_at: Timestamp::now(),
    };
    match state.store.create_account(account).await {
        Ok(_) => Ok(()),
        Err(error) => match state.store.account(&operator).await? {
            Some(_) => Ok(()),
            None => Err(error.into()),
        },
    }
}

#[utoipa::path(
    post,
    path = "/v1/operational-webhooks",
    tag = "operational webhooks",
    operation_id = "create_operational_webhook",
    summary = "Hear about customers' endpoints: disabled, exhausted, removed",
    request_body = NewOperationalWebhook,
    responses(
        (status = 201, description = "The operational webhook with its secret", body = OperationalWebhookView),
        (status = 401, description = "Missing or wrong key", body = ErrorBody),
        (status = 400, description = "Malformed JSON or query", body = ErrorBody),
        (status = 422, description = "Invalid content; one detail per problem, each with a JSON pointer", body = ErrorBody)
    ),
    security(("admin_key" = []))
)]
async fn create(
    _: Admin,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<NewOperationalWebhook>,
) -> Result<(StatusCode, Json<OperationalWebhookView>), ApiError> {
    let events = operational_events(&body.events);
    let draft = Draft {
        url: Some(("/url", body.url)),
        secret: body.secret,
        ..Draft::default()
    };
    let operator = operator_account();
    let subscription = subscriptions::create(&state, &operator, Source::Api, draft).await;
    let (mut subscription, events) = match (subscription, events) {
        (Ok(subscription), Ok(events)) => (subscription, events),
        (Ok(_), Err(details)) => {
            return Err(ApiError::invalid(
                "invalid_subscription",
                "the operational webhook is invalid",
                details,
            ));
        }
        (Err(error), Ok(_)) => return Err(error),
        (Err(error), Err(details)) => return Err(error.with_details(details)),
    };
    subscription.events = EventSelection::Only(events);
    ensure_operator(&state).await?;
    let subscription = state.store.create_subscription(subscription).await?;
    Ok((
        StatusCode::CREATED,
        Json(OperationalWebhookView::of(&subscription, true)),
    ))
}

#[utoipa::path(
    get,
    path = "/v1/operational-webhooks",
    tag = "operational webhooks",
    operation_id = "list_operational_webhooks",
    summary = "The operational webhooks, newest first",
    params(ListQuery),
    responses(
        (status = 200, description = "One page of operational webhooks, newest first", body = ListPage<OperationalWebhookView>),
        (status = 401, description = "Missing or wrong key", body = ErrorBody),
        (status = 400, description = "Malformed JSON or query", body = ErrorBody)
    ),
    security(("admin_key" = []))
)]
async fn list(
    _: Admin,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<ListPage<OperationalWebhookView>>, ApiError> {
    let page = state
        .store
        .list_subscriptions(&operator_account(), query.page())
        .await?;
    Ok(Json(ListPage::of(&page, |s| {
        OperationalWebhookView::of(s, false)
    })))
}

#[utoipa::path(
    delete,
    path = "/v1/operational-webhooks/{id}",
    tag = "operational webhooks",
    operation_id = "delete_operational_webhook",
    summary = "Delete an operational webhook",
    params(("id" = String, Path, description = "The resource id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or wrong key", body = ErrorBody),
        (status = 404, description = "No such resource in this account", body = ErrorBody)
    ),
    security(("admin_key" = []))
)]
async fn remove(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<SubscriptionId>,
) -> Result<StatusCode, ApiError> {
    if state
        .store
        .delete_subscription(&operator_account(), &id)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("operational webhook"))
    }
}
