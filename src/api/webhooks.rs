//! Raw webhooks for developers: `/v1/webhooks` CRUD, the seed-compatible
//! `POST /api/webhooks/register`, and the attempts made for a webhook.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use std::time::Duration;

use super::event_types::lookup;
use super::extract::{ApiJson, ApiQuery, Caller, OptionalJson};
use super::lists::{ListPage, ListQuery};
use super::subscriptions::{self, Draft};
use super::views::{ReplayedView, ResentView, TestOutcomeView, WebhookView};
use super::{ApiError, AppState, Detail, ErrorBody};
use crate::domain::{
    AccountId, EventId, EventSelection, Format, Ordering, SigningSecret, Source, SubscriptionId,
    TimeWindow, Timestamp,
};
use crate::service::ReplayScope;
use crate::store::{NewEvent, PreviousSecret, Subscription};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register_compat))
        .routes(routes!(create, list))
        .routes(routes!(show, update, remove))
        .routes(routes!(rotate_secret))
        .routes(routes!(send_test))
        .routes(routes!(resend_failed))
        .routes(routes!(replay))
}

/// One of the account's webhooks, or 404 (also for another account's id).
pub(super) async fn owned_webhook(
    state: &AppState,
    account_id: &AccountId,
    id: &SubscriptionId,
) -> Result<Subscription, ApiError> {
    state
        .store
        .subscription(account_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook"))
}

/// Save a changed webhook; 404 when it was deleted meanwhile.
async fn save_webhook(
    state: &AppState,
    subscription: Subscription,
) -> Result<Subscription, ApiError> {
    state
        .store
        .update_subscription(subscription)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook"))
}

/// Distinguish an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// The body of `POST /v1/webhooks` and of the seed's register call.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewWebhook {
    /// Where deliveries go (HTTPS, public).
    url: String,
    /// Event types; empty or `["*"]` for all.
    #[serde(default)]
    events: Option<Vec<String>>,
    /// A `whsec_` secret of your choosing; generated when absent.
    #[serde(default)]
    secret: Option<String>,
    /// `{field: value | [values]}`: deliver only matching events.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    filter: Option<Value>,
    /// `flat` (default) or `envelope`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    format: Option<Format>,
    /// Free text.
    #[serde(default)]
    description: Option<String>,
    /// Headers sent with every delivery (write-only).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    headers: Option<Value>,
    /// `none` (default) or `fifo`: deliveries one at a time, in publish order.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    ordering: Option<Ordering>,
    /// At most this many deliveries start per second (1 to 100,000); null
    /// or absent for no limit.
    #[serde(default)]
    rate_limit: Option<u32>,
}

/// The seed page's `POST /api/webhooks/register`: the same as
/// `POST /v1/webhooks`.
#[utoipa::path(
    post,
    path = "/api/webhooks/register",
    tag = "webhooks",
    summary = "Register a webhook (the seed page's call)",
    request_body = NewWebhook,
    responses(
        (status = 201, description = "The webhook with its secret", body = WebhookView),
        (status = 401, description = "Missing or wrong key", body = ErrorBody),
        (status = 400, description = "Malformed JSON or query", body = ErrorBody),
        (status = 422, description = "Invalid content; one detail per problem, each with a JSON pointer", body = ErrorBody)
    ),
    security(("api_key" = []), ("api_key_bearer" = []))
)]
async fn register_compat(
    caller: Caller,
    state: State<AppState>,
    body: ApiJson<NewWebhook>,
) -> Result<(StatusCode, Json<WebhookView>), ApiError> {
    create(caller, state, body).await
}

#[utoipa::path(
    post,
    path = "/v1/webhooks",
    tag = "webhooks",
    summary = "Register a webhook",
    request_body = NewWebhook,
    responses(
        (status = 201, description = "The webhook with its secret", body = WebhookView),
        (status = 401, description = "Missing or wrong key", body = ErrorBody),
        (status = 400, description = "Malformed JSON or query", body = ErrorBody),
        (status = 422, description = "Invalid content; one detail per problem, each with a JSON pointer", body = ErrorBody)
    ),
    security(("api_key" = []), ("api_key_bearer" = []))
)]
async fn create(
    Caller(account): Caller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<NewWebhook>,
) -> Result<(StatusCode, Json<WebhookView>), ApiError> {
    let draft = Draft {
        url: Some(("/url", body.url)),
        events: body.events,
        filter: body.filter.map(Some),
        format: body.format,
        description: body.description,
        headers: body.headers,
        secret: body.secret,
        enabled: None,
        ordering: body.ordering,
        rate_limit: Some(body.rate_limit),
    };
    let subscription = subscriptions::create(&state, &account.id, Source::Api, draft).await?;
    let subscription = state.store.create_subscription(subscription).await?;
    Ok((
        StatusCode::CREATED,
        Json(WebhookView::of(&subscription, true)),
    ))
}

/// `PATCH /v1/webhooks/{id}` body: every field optional; `filter: null` clears.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct WebhookPatch {
    /// Where deliveries go.
    #[serde(default)]
    url: Option<String>,
    /// Event types; empty or `["*"]` for all.
    #[serde(default)]
    events: Option<Vec<String>>,
    /// A new filter; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    filter: Option<Option<Value>>,
    /// `flat` or `envelope`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    format: Option<Format>,
    /// Free text.
    #[serde(default)]
    description: Option<String>,
    /// Replaces the custom headers (write-only).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    headers: Option<Value>,
    /// Disable or re-enable deliveries.
    #[serde(default)]
    enabled: Option<bool>,
    /// `none` or `fifo`. Back to `none`, the deliveries waiting their turn
    /// go at once.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    ordering: Option<Ordering>,
    /// Deliveries per second at most; `null` removes the limit.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>)]
    rate_limit: Option<Option<u32>>,
}

#[utoipa::path(
    patch,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    summary = "Change a webhook",
    params(("id" = String, Path, description = "The resource id")),
    request_body = WebhookPatch,
    responses(
        (status = 200, description = "The webhook", body = WebhookView),
        (status = 401, description = "Missing or wrong key", body = ErrorBody),
        (status = 400, description = "Malformed JSON or query", body = ErrorBody),
        (status = 404, description = "No such resource in this account", body = ErrorBody),
        (status = 422, description = "Invalid content; one detail per problem, each with a JSON pointer", body = ErrorBody)
    ),
    security(("api_key" = []), ("api_key_bearer" = []))
)]
async fn update(
    Caller(account): Caller,
    State(state): State<AppState>,
    Path(id): Path<SubscriptionId>,
    ApiJson(body): ApiJson<WebhookPatch>,
) -> Result<Json<WebhookView>, ApiError> {
    let existing = owned_webhook(&state, &account.id, &id).await?;
    let draft = Draft {
        url: body.url.map(|url| ("/url", url)),
        events: body.events,
        filter: body.filter,
        format: body.format,
        description: body.description,
        headers: body.headers,
        secret: None,
        enabled: body.enabled,
        ordering: body.ordering,
        rate_limit: body.rate_limit,
    };
    let changed = subscriptions::apply(&state, draft, existing).await?;
    let saved = save_webhook(&state, changed).await?;
    Ok(Json(WebhookView::of(&saved, false)))
}

#[utoipa::path(
    get,
    path = "/v1/webhooks",
    tag = "webhooks",
    operation_id = "list_webhooks",
    summary = "The account's webhooks, newest first",
    params(ListQuery),
    responses(
        (status = 200, description = "One page of webhooks, newest first", body = ListPage<WebhookView>),
        (status = 401, description = "Missing or wrong key", body = ErrorBody),
        (status = 400, description = "Malformed JSON or query", body = ErrorBody)
    ),
    security(("api_key" = []), ("api_key_bearer" = []))
)]
async fn list(
    Caller(account): Caller,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<ListPage<WebhookView>>, ApiError> {
    let page = state
        .store
        .list_subscriptions(&account.id, query.page())
        .await?;
    Ok(Json(ListPage::of(&page, |s| WebhookView::of(s, false))))
}

#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    summary = "One webhook",
    params(("id" = String, Path, description = "The resource id")),
    responses(
        (status = 200, description = "The webhook", body = WebhookView),
        (status = 401, description = "Missing or wrong key", body = ErrorBody),
        (status = 404, description = "No such resource in this account", body = ErrorBody)
    ),
    security(("api_key" = []), ("api_key_bearer" = []))
)]
async fn show(
    Caller(account): Caller,
    State(state): State<AppState>,
    Path(id): Path<SubscriptionId>,
) -> Result<Json<WebhookView>, ApiError> {
    let subscription = owned_webhook(&state, &account.id, &id).await?;
    Ok(Json(WebhookView::of(&subscription, false)))
}

#[utoipa::path(
    delete,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    summary = "Delete a webhook and cancel its pending deliveries",
    params(("id" = String, Path, description = "The resource id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or wrong key", body = ErrorBody),
        (status = 404, description = "No such resource in this account", body = ErrorBody)
    ),
    security(("api_key" = []), ("api_key_bearer" = []))
)]
async fn remove(
    Caller(account): Caller,
    State(state): State<AppState>,
    Path(id): Path<SubscriptionId>,
) -> Result<StatusCode, ApiError> {
    if state.store.delete_subscription(&account.id, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("webhook"))
    }
}

/// The longest grace period a rotated-out secret may keep signing.
const MAX_GRACE_SECONDS: u64 = 7 * 24 * 3600;
/// The default grace period, as Svix's.
const DEFAULT_GRACE_SECONDS: u64 = 24 * 3600;

/// `POST /v1/webhooks/{id}/rotate-secret` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Rotate {
    /// How long the old secret keeps signing beside the new one.
    #[serde(default)]
    grace_seconds: Option<u64>,
    /// A secret of the caller's choosing instead of a generated one.
    #[serde(default)]
    secret: Option<String>,
}

/// A new secret, shown once; the old one keeps signing for the grace period
/// (Standard Webhooks carries both signatures; the single-valued `sha256=`
/// header keeps the old secret until the grace period ends).
#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/rotate-secret",
    tag = "webhooks",
    summary = "Rotate the signing secret, keeping the old one for a grace period",
    params(("id" = String, Path, description = "The resource id")),
    request_body = Option<Rotate>,
    responses(
        (status = 200, description = "The webhook with its new secret, shown once", body = WebhookView),
        (status = 401, description = "Missing or wrong key", body = ErrorBody),
        (status = 400, description = "Malformed JSON or query", body = ErrorBody),
        (status = 404, description = "No such resource in this account", body = ErrorBody),
        (status = 422, description = "Invalid content; one detail per problem, each with a JSON pointer", body = ErrorBody)
    ),
    security(("api_key" = []), ("api_key_bearer" = []))
)]
async fn rotate_secret(
    Caller(account): Caller,
    State(state): State<AppState>,
    Path(id): Path<SubscriptionId>,
    OptionalJson(body): OptionalJson<Rotate>,
) -> Result<Json<WebhookView>, ApiError> {
    let grace = body.grace_seconds.unwrap_or(DEFAULT_GRACE_SECONDS);
    if grace > MAX_GRACE_SECONDS {
        return Err(ApiError::invalid(
            "invalid_request",
            "the grace period is too long",
            vec![Detail::at(
                "/grace_seconds",
                format!("at most {MAX_GRACE_SECONDS} (7 days)"),
            )],
        ));
    }
    let secret = match &body.secret {
        Some(raw) => SigningSecret::parse(raw).map_err(|e| {
            ApiError::invalid(
                "invalid_request",
                "the secret is invalid",
                vec![Detail::from_invalid("/secret", e)],
            )
        })?,
        None => SigningSecret::generate(),
    };
    let mut subscription = owned_webhook(&state, &account.id, &id).await?;
    let now = Timestamp::now();
    let old = std::mem::replace(&mut subscription.secret, secret);
    subscription.previous_secret = (grace > 0).then(|| PreviousSecret {
        secret: old,
        until: now.after(Duration::from_secs(grace)),
    });
    subscription.updated_at = now;
    let saved = save_webhook(&state, subscription).await?;
    Ok(Json(WebhookView::of(&saved, true)))
}

/// `POST /v1/webhooks/{id}/test` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TestEvent {
    /// The event type whose example is sent; by default the first type the
    /// webhook wants.
    #[serde(default)]
    event_type: Option<String>,
}

/// Send the example of an event type to the webhook now, signed like any
/// delivery, and answer with what the endpoint said. The attempt is recorded
/// (it shows in the attempts list); the test event is never a sample and is
/// not retried.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/test",
    tag = "webhooks",
    summary = "Send a signed example event now",
    params(("id" = String, Path, description = "The resource id")),
    request_body = Option<TestEvent>,
    responses(
        (status = 200, description = "The attempt's outcome", body = TestOutcomeView),
        (status = 401, description = "Missing or wrong key", body = ErrorBody),
        (status = 400, description = "Malformed JSON or query", body = ErrorBody),
        (status = 404, description = "No such resource in this account", body = ErrorBody),
        (status = 422, description = "Invalid content; one detail per problem, each with a JSON pointer", body = ErrorBody)
    ),
    security(("api_key" = []), ("api_key_bearer" = []))
)]
async fn send_test(
    Caller(account): Caller,
    State(state): State<AppState>,
    Path(id): Path<SubscriptionId>,
    OptionalJson(body): OptionalJson<TestEvent>,
) -> Result<Json<TestOutcomeView>, ApiError> {
    let subscription = owned_webhook(&state, &account.id, &id).await?;
    let wanted = match (&body.event_type, &subscription.events) {
        (Some(name), _) => name.clone(),
        (None, EventSelection::Only(types)) => types[0].clone(),
        (None, EventSelection::All) => state.catalog.names().into_iter().next().unwrap_or_default(),
    };
    let event_type = lookup(&state, &wanted).await?.ok_or_else(|| {
        ApiError::invalid(
            "unknown_event_type",
            format!("unknown event type {wanted:?}"),
            vec![Detail::at(
                "/event_type",
                "not in the catalog (GET /v1/event-types)",
            )],
        )
    })?;
    let example = event_type
        .examples()
        .first()
        .cloned()
        .unwrap_or_else(|| json!({}));
    let event = NewEvent {
        id: EventId::generate(),
        account_id: account.id.clone(),
        event_type: event_type.type_name().clone(),
        data: example,
        created_at: Timestamp::now(),
    };
    let sent = state
        .deliveries
        .send_test(event, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook"))?;
    Ok(Json(TestOutcomeView {
        event_id: sent.event_id,
        event_type: sent.event_type,
        delivery_id: sent.delivery_id.to_string(),
        delivered: sent.delivered,
        status: sent.attempt.status,
        latency_ms: sent.attempt.latency_ms,
        response: sent.attempt.response_snippet,
        error: sent.attempt.error,
    }))
}

/// `POST /v1/webhooks/{id}/resend-failed` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ResendFailed {
    /// RFC 3339 time: deliveries that failed at or after it are resent.
    since: String,
}

/// Resend every delivery of the webhook that failed since a time: for an
/// endpoint that was down.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/resend-failed",
    tag = "webhooks",
    summary = "Resend every delivery that failed since a time",
    params(("id" = String, Path, description = "The resource id")),
    request_body = ResendFailed,
    responses(
        (status = 202, description = "How many deliveries are due again", body = ResentView),
        (status = 401, description = "Missing or wrong key", body = ErrorBody),
        (status = 400, description = "Malformed JSON or query", body = ErrorBody),
        (status = 404, description = "No such resource in this account", body = ErrorBody),
        (status = 422, description = "Invalid content; one detail per problem, each with a JSON pointer", body = ErrorBody)
    ),
    security(("api_key" = []), ("api_key_bearer" = []))
)]
async fn resend_failed(
    Caller(account): Caller,
    State(state): State<AppState>,
    Path(id): Path<SubscriptionId>,
    ApiJson(body): ApiJson<ResendFailed>,
) -> Result<(StatusCode, Json<ResentView>), ApiError> {
    let since = rfc3339_field("since", &body.since)?;
    let webhook = owned_webhook(&state, &account.id, &id).await?;
    let window = TimeWindow {
        since,
        until: Timestamp::now(),
    };
    let resent = state
        .deliveries
        .replay(&webhook, window, ReplayScope::Failed)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ResentView {
            resent: resent as u64,
        }),
    ))
}

/// The RFC 3339 time in the body's field `field`, to the millisecond; a
/// 422 pointing at the field when it is not one.
fn rfc3339_field(field: &str, text: &str) -> Result<Timestamp, ApiError> {
    let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|e| {
            ApiError::invalid(
                "invalid_request",
                format!("{field} is not an RFC 3339 time"),
                vec![Detail::at(format!("/{field}"), e.to_string())],
            )
        })?;
    Ok(Timestamp((at.unix_timestamp_nanos() / 1_000_000) as i64))
}

/// `POST /v1/webhooks/{id}/replay` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Replay {
    /// RFC 3339 time, not in the future: the window's start (included).
    since: String,
    /// RFC 3339 time after `since`: the window's end (included); now when
    /// absent.
    #[serde(default)]
    until: Option<String>,
    /// What is replayed; `all` when absent.
    #[serde(default)]
    only: ReplayOnly,
}

/// What a replay makes due.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum ReplayOnly {
    /// Deliveries that failed within the window (as resend-failed).
    Failed,
    /// Events published within the window that match the webhook now but
    /// were never delivered to it (it was created later, or disabled).
    Missing,
    /// `missing`, plus every existing delivery of the window's events made
    /// due again, whatever its state (unless an attempt is in flight).
    #[default]
    All,
}

impl From<ReplayOnly> for ReplayScope {
    fn from(only: ReplayOnly) -> Self {
        match only {
            ReplayOnly::Failed => ReplayScope::Failed,
            ReplayOnly::Missing => ReplayScope::Missing,
            ReplayOnly::All => ReplayScope::All,
        }
    }
}

/// The window a replay body names: `since` not in the future, `until`
/// (now by default) after it.
fn replay_window(body: &Replay) -> Result<TimeWindow, ApiError> {
    let now = Timestamp::now();
    let since = rfc3339_field("since", &body.since)?;
    let until = match &body.until {
        Some(text) => rfc3339_field("until", text)?,
        None => now,
    };
    let problem = if since > now {
        Some(("/since", "since is in the future"))
    } else if since >= until {
        Some(("/until", "until is not after since"))
    } else {
        None
    };
    match problem {
        Some((pointer, message)) => Err(ApiError::invalid(
            "invalid_request",
            message,
            vec![Detail::at(pointer, message)],
        )),
        None => Ok(TimeWindow { since, until }),
    }
}

/// Replay events to the webhook: the deliveries that failed in a window
/// (`failed`), the window's events it never got (`missing`: it was created
/// later or disabled), or both and every delivery it already had (`all`).
/// Replayed deliveries carry the original event id.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/replay",
    tag = "webhooks",
    summary = "Replay a time window's events to the webhook",
    description = "`since` and `until` (default now) are RFC 3339 times, `since` not in the \
        future and before `until`; both are included. `missing` and `all` window the events' \
        publish time: every stored event of the account in the window that matches the \
        webhook's event types and filter now and has no delivery to it gets one, due now \
        (test events excepted); `all` also makes each of the webhook's existing deliveries of \
        those events due again, whatever its state, unless an attempt is in flight. `failed` \
        makes due again the deliveries that failed within the window. A disabled webhook's \
        deliveries wait, paused, until it is enabled. Receivers deduplicate on the event id, \
        which a replay keeps.",
    params(("id" = String, Path, description = "The resource id")),
    request_body = Replay,
    responses(
        (status = 202, description = "How many deliveries were made due", body = ReplayedView),
        (status = 401, description = "Missing or wrong key", body = ErrorBody),
        (status = 400, description = "Malformed JSON or query", body = ErrorBody),
        (status = 404, description = "No such resource in this account", body = ErrorBody),
        (status = 422, description = "Invalid content; one detail per problem, each with a JSON pointer", body = ErrorBody)
    ),
    security(("api_key" = []), ("api_key_bearer" = []))
)]
async fn replay(
    Caller(account): Caller,
    State(state): State<AppState>,
    Path(id): Path<SubscriptionId>,
    ApiJson(body): ApiJson<Replay>,
) -> Result<(StatusCode, Json<ReplayedView>), ApiError> {
    let window = replay_window(&body)?;
    let webhook = owned_webhook(&state, &account.id, &id).await?;
    let replayed = state
        .deliveries
        .replay(&webhook, window, body.only.into())
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ReplayedView {
            replayed: replayed as u64,
        }),
    ))
}
