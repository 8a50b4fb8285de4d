//! Where a delivery stands.

use serde::Serialize;

/// The state of one delivery, as stored and as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Waiting for its first attempt or its next retry (or being attempted).
    Pending,
    /// A 2xx answered one of its attempts.
    Delivered,
    /// Its retries ran out, or its subscription was removed by a 410.
    Failed,
    /// Its subscription was deleted before it was delivered.
    Cancelled,
}

impl DeliveryState {
    /// The state a stored name stands for; `None` for an unknown name.
    pub fn from_stored(name: &str) -> Option<Self> {
        Some(match name {
            // An ordered webhook's delivery waiting its turn is pending.
            "pending" | "waiting" => DeliveryState::Pending,
            "delivered" => DeliveryState::Delivered,
            "failed" => DeliveryState::Failed,
            "cancelled" => DeliveryState::Cancelled,
            _ => return None,
        })
    }
}
