//! Operational events: what Hookbridge tells the product about its
//! customers' endpoints (a webhook auto-disabled, a delivery that ran out
//! of attempts, a subscription a 410 removed). They are ordinary events of
//! one reserved account, the operator, whose webhooks are the product's
//! operational webhooks: stored in the same transaction as the outcome
//! that caused them, then delivered, signed and retried like any other.

use serde_json::{Value, json};

use super::{AccountId, DeliveryId, EventId, EventTypeName, SubscriptionId, Timestamp};

/// The reserved account that owns the operational webhooks. Generated
/// account ids are `acc_` and 26 characters, so none can be this one.
pub const OPERATOR_ACCOUNT: &str = "acc_operator";

/// The operator account's id.
pub fn operator_account() -> AccountId {
    AccountId::from(OPERATOR_ACCOUNT)
}

/// Whether `account_id` is the operator account, which only the admin key
/// reaches (through `/v1/operational-webhooks`).
pub fn is_operator(account_id: &AccountId) -> bool {
    account_id.as_str() == OPERATOR_ACCOUNT
}

/// The operational event types, as operational webhooks name them.
pub const OPERATIONAL_EVENT_TYPES: [&str; 3] = [
    "webhook.disabled",
    "delivery.exhausted",
    "subscription.removed",
];

/// One thing that happened to a customer's endpoint.
#[derive(Debug, Clone, PartialEq)]
pub enum OperationalEvent {
    /// Every attempt to the webhook failed for the auto-disable span.
    WebhookDisabled {
        /// The customer's account.
        account_id: AccountId,
        /// The webhook disabled.
        webhook_id: SubscriptionId,
        /// Why, as the webhook's `disabled_reason` says.
        reason: String,
    },
    /// A delivery's retry schedule ran out; it is kept as failed.
    DeliveryExhausted {
        /// The customer's account.
        account_id: AccountId,
        /// The webhook it went to.
        webhook_id: SubscriptionId,
        /// The delivery.
        delivery_id: DeliveryId,
        /// The event it carried.
        event_id: String,
        /// That event's type.
        event_type: String,
        /// The last attempt's HTTP status, if it got one.
        last_status: Option<u16>,
        /// The last attempt's error, if it had one.
        last_error: Option<String>,
    },
    /// The target answered 410 Gone and the subscription was removed.
    SubscriptionRemoved {
        /// The customer's account.
        account_id: AccountId,
        /// The subscription removed.
        webhook_id: SubscriptionId,
        /// Where it delivered to.
        url: String,
        /// How it was made (`api`, `zapier`, `n8n`).
        source: String,
    },
}

impl OperationalEvent {
    /// Whether an outcome of `account_id`'s deliveries is worth telling:
    /// the operator's own webhooks are not, or a failing operational
    /// endpoint would report on itself without end.
    pub fn concerns(account_id: &AccountId) -> bool {
        !is_operator(account_id)
    }

    /// The event type.
    pub fn type_name(&self) -> &'static str {
        match self {
            OperationalEvent::WebhookDisabled { .. } => OPERATIONAL_EVENT_TYPES[0],
            OperationalEvent::DeliveryExhausted { .. } => OPERATIONAL_EVENT_TYPES[1],
            OperationalEvent::SubscriptionRemoved { .. } => OPERATIONAL_EVENT_TYPES[2],
        }
    }

    /// The event's data: it names the account and the webhook.
    pub fn data(&self) -> Value {
        match self {
            OperationalEvent::WebhookDisabled {
                account_id,
                webhook_id,
                reason,
            } => json!({
                "account_id": account_id.as_str(),
                "webhook_id": webhook_id.as_str(),
                "reason": reason,
            }),
            OperationalEvent::DeliveryExhausted {
                account_id,
                webhook_id,
                delivery_id,
                event_id,
                event_type,
                last_status,
                last_error,
            } => json!({
                "account_id": account_id.as_str(),
                "webhook_id": webhook_id.as_str(),
                "delivery_id": delivery_id.as_str(),
                "event_id": event_id,
                "event_type": event_type,
                "last_status": last_status,
                "last_error": last_error,
            }),
            OperationalEvent::SubscriptionRemoved {
                account_id,
                webhook_id,
                url,
                source,
            } => json!({
                "account_id": account_id.as_str(),
                "webhook_id": webhook_id.as_str(),
                "url": url,
                "source": source,
            }),
        }
    }

    /// The operator account's event to store for it, as of now.
    pub fn to_new_event(&self) -> crate::store::NewEvent {
        crate::store::NewEvent {
            id: EventId::generate(),
            account_id: operator_account(),
            event_type: EventTypeName::parse(self.type_name())
                .expect("operational event type names are valid"),
            data: self.data(),
            created_at: Timestamp::now(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_name_is_a_valid_event_type_and_listed() {
        for name in OPERATIONAL_EVENT_TYPES {
            assert!(EventTypeName::parse(name).is_ok(), "{name}");
        }
        let removed = OperationalEvent::SubscriptionRemoved {
            account_id: "acc_a".into(),
            webhook_id: "sub_a".into(),
            url: "https://example.com".into(),
            source: "zapier".into(),
        };
        assert_eq!(removed.type_name(), "subscription.removed");
        assert_eq!(removed.data()["webhook_id"], "sub_a");
    }

    #[test]
    fn the_operator_is_never_told_about_itself() {
        assert!(!OperationalEvent::concerns(&operator_account()));
        assert!(OperationalEvent::concerns(&AccountId::generate()));
        assert_ne!(AccountId::generate().as_str().len(), OPERATOR_ACCOUNT.len());
    }
}
