//! The one shape of every list: `?limit=&cursor=` in, `{"data": [...],
//! "next_cursor": str | null}` out, newest first.

use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;

use crate::store::{Page, PageRequest};

/// The default page size.
const DEFAULT_LIMIT: usize = 50;
/// The largest page size.
const MAX_LIMIT: usize = 250;

/// Pagination parameters of a list endpoint.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size: 1 to 250, default 50.
    #[serde(default)]
    limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    #[serde(default)]
    cursor: Option<String>,
}

impl ListQuery {
    /// The page asked for, its size clamped to 1..=250 (default 50).
    pub fn page(self) -> PageRequest {
        PageRequest {
            limit: self.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT),
            cursor: self.cursor,
        }
    }
}

/// A page as JSON, each item through `view`.
pub fn list_json<T>(page: &Page<T>, view: impl Fn(&T) -> Value) -> Value {
    let data: Vec<Value> = page.items.iter().map(view).collect();
    json!({"data": data, "next_cursor": page.next_cursor})
}
