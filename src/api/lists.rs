//! The one shape of every list: `?limit=&cursor=` in, `{"data": [...],
//! "next_cursor": str | null}` out, newest first.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

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

/// One page of a list, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListPage<T> {
    /// The items.
    pub data: Vec<T>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

impl<T> ListPage<T> {
    /// A store page, each item through `view`.
    pub fn of<S>(page: &Page<S>, view: impl Fn(&S) -> T) -> Self {
        Self {
            data: page.items.iter().map(view).collect(),
            next_cursor: page.next_cursor.clone(),
        }
    }
}
