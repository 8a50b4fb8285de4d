//! The JSON bodies the API answers with, typed: handlers return these, and
//! `/openapi.json` documents each response from the same structs, so the
//! document cannot drift from what is sent (a test validates real answers
//! against it).

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::catalog::EventType;
use crate::domain::{Filter, Format, Ordering, RateLimit, Source, Timestamp, rfc3339};
use crate::store::{Account, Attempt, Subscription};

/// An account.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    /// `acct_...`
    pub id: String,
    /// Its display name.
    pub name: String,
    /// RFC 3339.
    pub created_at: String,
}

impl From<&Account> for AccountView {
    fn from(account: &Account) -> Self {
        Self {
            id: account.id.to_string(),
            name: account.name.clone(),
            created_at: rfc3339(account.created_at),
        }
    }
}

/// A new API key, shown only in this answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    /// `key_...`
    pub id: String,
    /// The account it belongs to.
    pub account_id: String,
    /// The key itself; only its SHA-256 hash is stored.
    pub key: String,
    /// RFC 3339.
    pub created_at: String,
}

/// A webhook (a subscription, through any of its doors).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    /// `sub_...`
    pub id: String,
    /// Where deliveries go.
    pub url: String,
    /// Event types; `["*"]` for all.
    pub events: Vec<String>,
    /// `{field: value | [values]}`, or null for every event.
    #[schema(value_type = Option<Object>)]
    pub filter: Option<Value>,
    /// `flat` or `envelope`.
    #[schema(value_type = String)]
    pub format: Format,
    /// Free text.
    pub description: String,
    /// `api`, `zapier`, `make` or `n8n`.
    #[schema(value_type = String)]
    pub source: Source,
    /// Names of the custom headers sent; their values are never shown.
    pub header_names: Vec<String>,
    /// Whether deliveries are made.
    pub enabled: bool,
    /// `none`, or `fifo`: one at a time, in publish order.
    #[schema(value_type = String)]
    pub ordering: Ordering,
    /// Deliveries per second at most, or null for no limit.
    pub rate_limit: Option<u32>,
    /// Why it was disabled, when it was.
    pub disabled_reason: Option<String>,
    /// Until when the previous secret also signs, after a rotation.
    pub previous_secret_expires_at: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// The signing secret: only when it is created or rotated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl WebhookView {
    /// The view of `subscription`; the secret only when `with_secret`.
    pub fn of(subscription: &Subscription, with_secret: bool) -> Self {
        Self {
            id: subscription.id.to_string(),
            url: subscription.url.clone(),
            events: subscription.events.to_list(),
            filter: subscription.filter.as_ref().map(Filter::to_json),
            format: subscription.format,
            description: subscription.description.clone(),
            source: subscription.source,
            header_names: subscription.headers.names(),
            enabled: subscription.enabled,
            ordering: subscription.ordering,
            rate_limit: subscription.rate_limit.map(RateLimit::per_second),
            disabled_reason: subscription.disabled_reason.clone(),
            previous_secret_expires_at: subscription
                .previous_secret
                .as_ref()
                .filter(|p| p.until > Timestamp::now())
                .map(|p| rfc3339(p.until)),
            created_at: rfc3339(subscription.created_at),
            updated_at: rfc3339(subscription.updated_at),
            secret: with_secret.then(|| subscription.secret.shown().to_owned()),
        }
    }
}

/// A REST hook as Zapier and Make see it: the webhook plus its one event.
#[derive(Debug, Serialize, ToSchema)]
pub struct HookView {
    /// The webhook.
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// The event type subscribed to.
    pub event: String,
}

/// The answer to an unsubscribe.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnsubscribedView {
    /// The hook id asked for.
    pub id: String,
    /// False when it was already gone.
    pub deleted: bool,
}

/// One delivery attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptView {
    /// `att_...`
    pub id: String,
    /// The delivery it belongs to (`POST /v1/deliveries/{id}/resend`).
    pub delivery_id: String,
    /// The webhook it went to.
    pub webhook_id: String,
    /// The event delivered.
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// The endpoint's status code; null when it did not answer.
    pub status: Option<u16>,
    /// Milliseconds until the answer (or the failure).
    pub latency_ms: u64,
    /// The start of the answer's body.
    pub response: String,
    /// Why there was no answer.
    pub error: Option<String>,
    /// RFC 3339.
    pub created_at: String,
}

impl From<&Attempt> for AttemptView {
    fn from(attempt: &Attempt) -> Self {
        Self {
            id: attempt.id.clone(),
            delivery_id: attempt.delivery_id.to_string(),
            webhook_id: attempt.subscription_id.to_string(),
            event_id: attempt.event_id.clone(),
            event_type: attempt.event_type.clone(),
            status: attempt.result.status,
            latency_ms: attempt.result.latency_ms,
            response: attempt.result.response_snippet.clone(),
            error: attempt.result.error.clone(),
            created_at: rfc3339(attempt.result.started_at),
        }
    }
}

/// What a test event's attempt saw.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestOutcomeView {
    /// The test event.
    pub event_id: String,
    /// Its type.
    pub event_type: String,
    /// Its delivery.
    pub delivery_id: String,
    /// Whether the endpoint answered 2xx.
    pub delivered: bool,
    /// The endpoint's status code; null when it did not answer.
    pub status: Option<u16>,
    /// Milliseconds until the answer (or the failure).
    pub latency_ms: u64,
    /// The start of the answer's body.
    pub response: String,
    /// Why there was no answer.
    pub error: Option<String>,
}

/// An event type of the catalog.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventTypeView {
    /// Its name, e.g. `generation_complete`.
    #[serde(rename = "type")]
    pub name: String,
    /// What it means.
    pub description: String,
    /// The JSON Schema of its data.
    #[schema(value_type = Object)]
    pub schema: Value,
    /// Example data, valid against the schema.
    #[schema(value_type = Vec<Object>)]
    pub examples: Vec<Value>,
    /// `builtin` or `registered`.
    pub origin: String,
}

impl From<&EventType> for EventTypeView {
    fn from(event_type: &EventType) -> Self {
        Self {
            name: event_type.name().to_owned(),
            description: event_type.description().to_owned(),
            schema: event_type.schema().clone(),
            examples: event_type.examples().to_vec(),
            origin: event_type.origin().as_str().to_owned(),
        }
    }
}

/// The answer to a publish.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublishedView {
    /// The event's id (given or generated).
    pub id: String,
    /// True when this id was already stored: nothing new was delivered.
    pub duplicate: bool,
    /// Deliveries created for it.
    pub deliveries: u64,
}

/// How many deliveries were made due again.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResentView {
    /// Deliveries due again.
    pub resent: u64,
}

/// How many deliveries a replay made due.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayedView {
    /// Deliveries made due: new ones and existing ones due again.
    pub replayed: u64,
}

/// A health probe's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthView {
    /// `ok` (the process) or `ready` (the database too).
    pub status: String,
}

/// Every item, in one answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Items<T> {
    /// The items.
    pub data: Vec<T>,
}
