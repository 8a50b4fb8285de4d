//! REST hooks for Zapier and Make: `POST /v1/hooks` subscribes a hook URL to
//! one event type, `DELETE /v1/hooks/{id}` unsubscribes and never fails twice.
//! A hook is the same subscription a raw webhook is (`webhooks.rs`), made
//! by a platform on a user's behalf: one type, its source (`zapier`, `make`, `n8n`)
//! deciding what a 410 means, and the platform's own request shape.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use url::Url;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ApiJson, Caller};
use super::subscriptions::{self, Draft};
use super::views::{HookView, UnsubscribedView, WebhookView};
use super::{ApiError, AppState, Detail, ErrorBody};
use crate::domain::{Source, SubscriptionId};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(subscribe))
        .routes(routes!(unsubscribe))
}

/// The subscribe body: the URL under Zapier's (`hookUrl`), Make's
/// (`target_url`) or the plain (`url`) name. The source is the explicit
/// `source`, else the platform the URL's host belongs to, else Zapier for
/// `hookUrl` and a raw webhook otherwise. Make is never inferred from the
/// field name alone, because a Make subscription survives `410 Gone`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Subscribe {
    /// The hook URL, as Zapier names it.
    #[serde(default, rename = "hookUrl")]
    hook_url: Option<String>,
    /// The hook URL, as Make names it.
    #[serde(default)]
    target_url: Option<String>,
    /// The hook URL.
    #[serde(default)]
    url: Option<String>,
    /// One event type, or `*` for all.
    event: String,
    /// `{field: value | [values]}`: deliver only matching events.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    filter: Option<Value>,
    /// `api`, `zapier`, `make` or `n8n`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    source: Option<Source>,
}

/// Which platform a hook URL belongs to, judged by its host.
fn source_of_host(url: &str) -> Option<Source> {
    let host = Url::parse(url).ok()?.host_str()?.to_ascii_lowercase();
    let under = |domain: &str| host == domain || host.ends_with(&format!(".{domain}"));
    if under("zapier.com") {
        Some(Source::Zapier)
    } else if under("make.com") || under("integromat.com") {
        Some(Source::Make)
    } else {
        None
    }
}

#[utoipa::path(
    post,
    path = "/v1/hooks",
    tag = "hooks",
    summary = "REST hook subscribe (Zapier, Make, n8n)",
    request_body = Subscribe,
    responses(
        (status = 201, description = "The subscription with its secret", body = HookView),
        (status = 401, description = "Missing or wrong key", body = ErrorBody),
        (status = 400, description = "Malformed JSON or query", body = ErrorBody),
        (status = 422, description = "Invalid content; one detail per problem, each with a JSON pointer", body = ErrorBody)
    ),
    security(("api_key" = []), ("api_key_bearer" = []))
)]
async fn subscribe(
    Caller(account): Caller,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Subscribe>,
) -> Result<(StatusCode, Json<HookView>), ApiError> {
    let given = [
        ("/hookUrl", body.hook_url, Source::Zapier),
        ("/target_url", body.target_url, Source::Api),
        ("/url", body.url, Source::Api),
    ];
    let mut given: Vec<_> = given
        .into_iter()
        .filter_map(|(pointer, url, source)| Some((pointer, url?, source)))
        .collect();
    if given.len() != 1 {
        return Err(ApiError::invalid(
            "invalid_request",
            "give the hook URL once, as hookUrl, target_url or url",
            vec![Detail::at(
                "/hookUrl",
                "exactly one of hookUrl, target_url, url",
            )],
        ));
    }
    let (pointer, url, by_field) = given.remove(0);
    let source = body
        .source
        .or_else(|| source_of_host(&url))
        .unwrap_or(by_field);
    let draft = Draft {
        url: Some((pointer, url)),
        events: Some(vec![body.event]),
        filter: body.filter.map(Some),
        ..Draft::default()
    };
    let subscription = subscriptions::create(&state, &account.id, source, draft)
        .await
        .map_err(|e| e.repoint("/events/0", "/event"))?;
    let subscription = state.store.create_subscription(subscription).await?;
    let event = subscription.events.to_list().swap_remove(0);
    let webhook = WebhookView::of(&subscription, true);
    Ok((StatusCode::CREATED, Json(HookView { webhook, event })))
}

#[utoipa::path(
    delete,
    path = "/v1/hooks/{id}",
    tag = "hooks",
    summary = "REST hook unsubscribe; 200 also when already gone",
    params(("id" = String, Path, description = "The resource id")),
    responses(
        (status = 200, description = "`deleted` is false when it was already gone", body = UnsubscribedView),
        (status = 401, description = "Missing or wrong key", body = ErrorBody)
    ),
    security(("api_key" = []), ("api_key_bearer" = []))
)]
async fn unsubscribe(
    Caller(account): Caller,
    State(state): State<AppState>,
    Path(id): Path<SubscriptionId>,
) -> Result<Json<UnsubscribedView>, ApiError> {
    let deleted = state.store.delete_subscription(&account.id, &id).await?;
    Ok(Json(UnsubscribedView {
        id: id.to_string(),
        deleted,
    }))
}
