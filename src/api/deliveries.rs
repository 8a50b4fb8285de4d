//! Deliveries: `POST /v1/deliveries/{id}/resend` makes one of the account's
//! deliveries due now again (a delivery that failed, or one to send twice).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::extract::Caller;
use super::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/deliveries/{id}/resend", post(resend))
}

async fn resend(
    Caller(account): Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let delivery = state.store.resend(&account.id, &id).await?.ok_or_else(|| {
        ApiError::not_found("delivery (or its webhook, or it is being attempted now)")
    })?;
    state.wake.notify_one();
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "id": delivery.id,
            "subscription_id": delivery.subscription_id,
            "state": delivery.state,
            "attempts": delivery.attempts,
        })),
    ))
}
