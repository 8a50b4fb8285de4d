//! `GET /v1/event-types`: the catalog, public so integrations can read it.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/event-types", get(list))
}

async fn list(State(state): State<AppState>) -> Json<Value> {
    let types = state.catalog.iter().map(|t| {
        json!({
            "type": t.name(),
            "description": t.description(),
            "schema": t.schema(),
            "examples": t.examples(),
        })
    });
    Json(Value::Array(types.collect()))
}
