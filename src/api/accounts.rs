//! Accounts and their API keys (admin), and `GET /v1/me` (account).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::{Admin, Caller, OptionalJson, key_hash};
use super::{ApiError, AppState, Detail};
use crate::domain::{Timestamp, new_id, rfc3339};
use crate::store::{Account, ApiKeyRecord};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/accounts", post(create_account))
        .route("/v1/accounts/{id}", get(get_account))
        .route("/v1/accounts/{id}/api-keys", post(create_api_key))
        .route("/v1/me", get(me))
}

/// `POST /v1/accounts` body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAccount {
    #[serde(default)]
    name: Option<String>,
}

fn account_json(account: &Account) -> Value {
    json!({"id": account.id, "name": account.name, "created_at": rfc3339(account.created_at)})
}

async fn create_account(
    _: Admin,
    State(state): State<AppState>,
    OptionalJson(body): OptionalJson<NewAccount>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let name = body.name.unwrap_or_default().trim().to_owned();
    if name.chars().count() > 200 {
        return Err(ApiError::invalid(
            "invalid_request",
            "the account name is too long",
            vec![Detail::at("/name", "at most 200 characters")],
        ));
    }
    let account = Account {
        id: new_id("acc"),
        name,
        created_at: Timestamp::now(),
    };
    let account = state.store.create_account(account).await?;
    Ok((StatusCode::CREATED, Json(account_json(&account))))
}

async fn get_account(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let account = state.store.account(&id).await?;
    account
        .map(|a| Json(account_json(&a)))
        .ok_or_else(|| ApiError::not_found("account"))
}

/// `POST /v1/accounts/{id}/api-keys` takes no fields.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewApiKey {}

async fn create_api_key(
    _: Admin,
    State(state): State<AppState>,
    Path(account_id): Path<String>,
    OptionalJson(NewApiKey {}): OptionalJson<NewApiKey>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut secret = [0u8; 24];
    rand::rng().fill_bytes(&mut secret);
    let key = format!("{}_{}", state.key_prefix, URL_SAFE_NO_PAD.encode(secret));
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
        Json(json!({
            "id": record.id,
            "account_id": record.account_id,
            "key": key,
            "created_at": rfc3339(record.created_at),
        })),
    ))
}

async fn me(Caller(account): Caller) -> Json<Value> {
    Json(account_json(&account))
}
