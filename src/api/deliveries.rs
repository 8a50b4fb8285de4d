//! Deliveries: `POST /v1/deliveries/{id}/resend` makes one of the account's
//! deliveries due now again (a delivery that failed, or one to send twice).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Caller;
use super::{ApiError, AppState, ErrorBody};
use crate::domain::DeliveryId;
use crate::store::DeliveryStatus;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(resend))
}

#[utoipa::path(
    post,
    path = "/v1/deliveries/{id}/resend",
    tag = "deliveries",
    summary = "Make a delivery due now again",
    params(("id" = String, Path, description = "The resource id")),
    responses(
        (status = 202, description = "The delivery, pending", body = DeliveryStatus),
        (status = 401, description = "Missing or wrong key", body = ErrorBody),
        (status = 404, description = "No such resource in this account", body = ErrorBody)
    ),
    security(("api_key" = []), ("api_key_bearer" = []))
)]
async fn resend(
    Caller(account): Caller,
    State(state): State<AppState>,
    Path(id): Path<DeliveryId>,
) -> Result<(StatusCode, Json<DeliveryStatus>), ApiError> {
    let delivery = state
        .deliveries
        .resend(&account.id, &id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found("delivery (or its webhook, or it is being attempted now)")
        })?;
    Ok((StatusCode::ACCEPTED, Json(delivery)))
}
