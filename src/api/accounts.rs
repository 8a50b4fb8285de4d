//! Accounts and their API keys (admin), and `GET /v1/me` (account).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Admin, Caller, OptionalJson, key_hash};
use super::views::{AccountView, ApiKeyView};
use super::{ApiError, AppState, Detail, ErrorBody};
use crate::domain::{AccountId, Timestamp, check_text, is_operator, new_id, rfc3339};
use crate::store::{Account, ApiKeyRecord};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_account))
        .routes(routes!(get_account))
        .routes(routes!(create_api_key))
        .routes(routes!(me))
}

/// `POST /v1/accounts` body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewAccount {
    #[serde(default)]
    name: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/accounts",
    tag = "accounts",
    summary = "Create an account",
    request_body = Option<NewAccount>,
    responses(
        (status = 201, description = "The account", body = AccountView),
        (status = 401, description = "Missing or wrong key", body = ErrorBody),
        (status = 400, description = "Malformed JSON or query", body = ErrorBody),
        (status = 422, description = "Invalid content; one detail per problem, each with a JSON pointer", body = ErrorBody)
    ),
    security(("admin_key" = []))
)]
async fn create_account(
    _: Admin,
    State(state): State<AppState>,
    OptionalJson(body): OptionalJson<NewAccount>,
) -> Result<(StatusCode, Json<AccountView>), ApiError> {
    let name = body.name.unwrap_or_default().trim().to_owned();
    if let Err(problem) = check_text(&name, 200) {
        return Err(ApiError::invalid(
            "invalid_request",
            "the account name is invalid",
            vec![Detail::from_invalid("/name", problem)],
        ));
    }
    let account = Account {
        id: AccountId::generate(),
        name,
        created_at: Timestamp::now(),
    };
    let account = state.store.create_account(account).await?;
    Ok((StatusCode::CREATED, Json(AccountView::from(&account))))
}

#[utoipa::path(
    get,
    path = "/v1/accounts/{id}",
    tag = "accounts",
    summary = "One account",
    params(("id" = String, Path, description = "The resource id")),
    responses(
        (status = 200, description = "The account", body = AccountView),
        (status = 401, description = "Missing or wrong key", body = ErrorBody),
        (status = 404, description = "No such resource in this account", body = ErrorBody)
    ),
    security(("admin_key" = []))
)]
async fn get_account(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<AccountId>,
) -> Result<Json<AccountView>, ApiError> {
    let account = state.store.account(&id).await?;
    account
        .filter(|a| !is_operator(&a.id))
        .map(|a| Json(AccountView::from(&a)))
        .ok_or_else(|| ApiError::not_found("account"))
}

/// `POST /v1/accounts/{id}/api-keys` takes no fields.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewApiKey {}

#[utoipa::path(
    post,
    path = "/v1/accounts/{id}/api-keys",
    tag = "accounts",
    summary = "Create an API key for an account (shown once)",
    params(("id" = String, Path, description = "The resource id")),
    responses(
        (status = 201, description = "The key, shown only now", body = ApiKeyView),
        (status = 401, description = "Missing or wrong key", body = ErrorBody),
        (status = 404, description = "No such resource in this account", body = ErrorBody)
    ),
    security(("admin_key" = []))
)]
async fn create_api_key(
    _: Admin,
    State(state): State<AppState>,
    Path(account_id): Path<AccountId>,
    OptionalJson(NewApiKey {}): OptionalJson<NewApiKey>,
) -> Result<(StatusCode, Json<ApiKeyView>), ApiError> {
    // The operator account's webhooks are reached with the admin key only.
    if is_operator(&account_id) {
        return Err(ApiError::not_found("account"));
    }
    let mut secret = [0u8; 24];
    rand::rng().fill_bytes(&mut secret);
    let key = format!(
        "{}_{}",
        state.access.key_prefix,
        URL_SAFE_NO_PAD.encode(secret)
    );
    let record = ApiKeyRecord {
        id: new_id("key"),
        account_id,
        hash: key_hash(&key),
        last_four: key[key.len() - 4..].to_owned(),
        created_at: Timestamp::now(),
    };
    let record = state.store.create_api_key(record).await?;
    Ok((
        StatusCode::CREATED,
        Json(ApiKeyView {
            id: record.id,
            account_id: record.account_id.to_string(),
            key,
            created_at: rfc3339(record.created_at),
        }),
    ))
}

#[utoipa::path(
    get,
    path = "/v1/me",
    tag = "accounts",
    summary = "The account the key belongs to",
    responses(
        (status = 200, description = "The account", body = AccountView),
        (status = 401, description = "Missing or wrong key", body = ErrorBody)
    ),
    security(("api_key" = []), ("api_key_bearer" = []))
)]
async fn me(Caller(account): Caller) -> Json<AccountView> {
    Json(AccountView::from(&account))
}
