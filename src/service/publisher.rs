//! Publishing: an event checked against its type's schema, stored with one
//! delivery per matching subscription, and the dispatcher told where.

use std::sync::Arc;

use serde_json::Value;

use super::lookup_event_type;
use crate::catalog::{Catalog, Violation};
use crate::delivery::wake::Wake;
use crate::domain::{AccountId, EventId, Invalid, Timestamp};
use crate::metrics::{Metrics, UNKNOWN_TYPE_LABEL};
use crate::store::{NewEvent, Store, StoreError};

/// Accepts events for delivery.
pub struct Publisher {
    store: Arc<dyn Store>,
    catalog: Catalog,
    wake: Arc<Wake>,
    metrics: Arc<Metrics>,
}

/// An event as a producer publishes it, not yet checked.
#[derive(Debug)]
pub struct Publication {
    /// The event type's name.
    pub event_type: String,
    /// The account whose subscribers receive it.
    pub account_id: AccountId,
    /// The payload, to be checked against the type's schema.
    pub data: Value,
    /// The producer's id for the event (idempotency), if it gave one.
    pub id: Option<String>,
}

/// What publishing did.
#[derive(Debug)]
pub struct Published {
    /// The event's id (the first event's, for a duplicate).
    pub id: String,
    /// Whether the account had published this id before: nothing was stored.
    pub duplicate: bool,
    /// How many deliveries were created.
    pub deliveries: u64,
}

/// Why an event was not accepted; nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The type is not in the catalog.
    #[error("unknown event type {name:?}")]
    UnknownType {
        /// The name given.
        name: String,
        /// Every known type's name.
        known: Vec<String>,
    },
    /// The producer's event id is not a valid id.
    #[error("the event id is invalid: {0}")]
    InvalidId(Invalid),
    /// The data does not match the type's schema.
    #[error("data does not match the {event_type} schema")]
    Schema {
        /// The type's name.
        event_type: String,
        /// One entry per problem.
        violations: Vec<Violation>,
    },
    /// The store refused or failed (an unknown account, a full disk).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Publisher {
    /// A publisher storing into `store`, checking against `catalog`, ringing
    /// `wake` for new deliveries and counting in `metrics`.
    pub fn new(
        store: Arc<dyn Store>,
        catalog: Catalog,
        wake: Arc<Wake>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            store,
            catalog,
            wake,
            metrics,
        }
    }

    /// Check `publication` and store it with its deliveries (durably, before
    /// this returns); the dispatcher is told which targets have work. A
    /// refused event is counted by type and reason, under one label for
    /// every unknown type name.
    pub async fn publish(&self, publication: Publication) -> Result<Published, PublishError> {
        let Some(event_type) =
            lookup_event_type(&self.catalog, self.store.as_ref(), &publication.event_type).await?
        else {
            self.metrics.rejected(UNKNOWN_TYPE_LABEL, "unknown_type");
            return Err(PublishError::UnknownType {
                name: publication.event_type,
                known: self.catalog.names(),
            });
        };
        let id = match &publication.id {
            Some(raw) => EventId::parse(raw).map_err(PublishError::InvalidId)?,
            None => EventId::generate(),
        };
        let violations = event_type.violations(&publication.data);
        if !violations.is_empty() {
            self.metrics.rejected(event_type.name(), "schema");
            return Err(PublishError::Schema {
                event_type: event_type.name().to_owned(),
                violations,
            });
        }
        let outcome = self
            .store
            .ingest(NewEvent {
                id,
                account_id: publication.account_id,
                event_type: event_type.type_name().clone(),
                data: publication.data,
                created_at: Timestamp::now(),
            })
            .await?;
        if !outcome.targets.is_empty() {
            self.wake.due_now(outcome.targets);
        }
        if !outcome.duplicate {
            self.metrics.accepted(event_type.name());
        }
        Ok(Published {
            id: outcome.event_id,
            duplicate: outcome.duplicate,
            deliveries: outcome.deliveries as u64,
        })
    }
}
