//! The service layer: what the product does, between the HTTP edge and the
//! store and delivery engine. Handlers parse a request, call one function
//! here, and shape its answer; the functions here know nothing of HTTP.
//!
//! [`Publisher`] accepts events (catalog, validation, storage with their
//! deliveries, the dispatcher's doorbell, the metrics); [`Deliveries`]
//! sends test events through the same attempt path as every delivery and
//! makes deliveries due again, or replays a time window to a webhook.

mod deliveries;
mod publisher;

use std::sync::Arc;

pub use deliveries::{Deliveries, ReplayScope, TestSend};
pub use publisher::{Publication, PublishError, Published, Publisher};

use crate::catalog::{Catalog, EventType};
use crate::store::{Store, StoreResult};

/// The event type called `name`: from the catalog, or, when this node does
/// not know it yet, after reloading the types registered in the store (by
/// another node, or since this one started).
pub async fn lookup_event_type(
    catalog: &Catalog,
    store: &dyn Store,
    name: &str,
) -> StoreResult<Option<Arc<EventType>>> {
    if let Some(found) = catalog.get(name) {
        return Ok(Some(found));
    }
    reload_event_types(catalog, store).await?;
    Ok(catalog.get(name))
}

/// Load every event type registered in the store into the catalog.
pub async fn reload_event_types(catalog: &Catalog, store: &dyn Store) -> StoreResult<()> {
    catalog.load(&store.event_types().await?);
    Ok(())
}
