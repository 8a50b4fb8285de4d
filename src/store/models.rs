//! The records the store reads and writes. The values the delivery queue
//! speaks in (claims, leases, jobs, outcomes) are in [`crate::delivery::work`]
//! and re-exported here for the stores.

use serde_json::Value;

use crate::delivery::payload::RenderedBodies;
pub use crate::delivery::work::*;
use crate::domain::{
    AccountId, CustomHeaders, DeliveryId, DeliveryState, EventId, EventSelection, EventTypeName,
    Filter, Format, Ordering, RateLimit, Route, SigningSecret, Source, SubscriptionId, Timestamp,
};

/// A customer account of the product.
#[derive(Debug, Clone)]
pub struct Account {
    /// `acc_...`
    pub id: AccountId,
    /// Display name (Zapier shows it as the connection label).
    pub name: String,
    /// Creation time.
    pub created_at: Timestamp,
}

/// An API key, known only by its hash after creation.
#[derive(Debug, Clone)]
pub struct ApiKeyRecord {
    /// `key_...`
    pub id: String,
    /// The owning account.
    pub account_id: AccountId,
    /// SHA-256 of the key, hex.
    pub hash: String,
    /// The last four characters, to recognise a key in a listing.
    pub last_four: String,
    /// Creation time.
    pub created_at: Timestamp,
}

/// One subscription: a target URL that wants some event types.
#[derive(Debug, Clone)]
pub struct Subscription {
    /// `sub_...`
    pub id: SubscriptionId,
    /// The owning account.
    pub account_id: AccountId,
    /// Where deliveries go (checked by the target guard when set).
    pub url: String,
    /// The event types wanted.
    pub events: EventSelection,
    /// Conditional routing on the event's fields.
    pub filter: Option<Filter>,
    /// The body shape.
    pub format: Format,
    /// The signing secret.
    pub secret: SigningSecret,
    /// Write-only headers sent with every delivery.
    pub headers: CustomHeaders,
    /// Free text for the developer.
    pub description: String,
    /// Which door it came in through.
    pub source: Source,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// The secret a rotation replaced, still signing until its expiry.
    pub previous_secret: Option<PreviousSecret>,
    /// Whether deliveries flow; a disabled subscription's pending ones pause.
    pub enabled: bool,
    /// Why it was disabled, when the service disabled it.
    pub disabled_reason: Option<String>,
    /// When its current run of failed attempts began (none after a success).
    pub failing_since: Option<Timestamp>,
    /// Whether its deliveries go out one at a time in publish order.
    pub ordering: Ordering,
    /// At most this many deliveries a second start; `None` for no limit.
    pub rate_limit: Option<RateLimit>,
}

/// A rotated-out secret and when it stops signing.
#[derive(Debug, Clone)]
pub struct PreviousSecret {
    /// The old secret.
    pub secret: SigningSecret,
    /// When it stops signing.
    pub until: Timestamp,
}

impl Subscription {
    /// A new subscription `id` of `account_id` to `url`, made through
    /// `source`: enabled, for every event type, unfiltered, flat, with a
    /// fresh secret, no custom headers and no description.
    pub fn new(id: SubscriptionId, account_id: AccountId, url: String, source: Source) -> Self {
        let now = Timestamp::now();
        Self {
            id,
            account_id,
            url,
            events: EventSelection::All,
            filter: None,
            format: Format::Flat,
            secret: SigningSecret::generate(),
            headers: CustomHeaders::default(),
            description: String::new(),
            source,
            created_at: now,
            updated_at: now,
            previous_secret: None,
            enabled: true,
            disabled_reason: None,
            failing_since: None,
            ordering: Ordering::None,
            rate_limit: None,
        }
    }

    /// What routing needs of it (its id, event types and filter), whether
    /// it is enabled or not.
    pub fn route(&self) -> Route {
        Route {
            subscription_id: self.id.clone(),
            events: self.events.clone(),
            filter: self.filter.clone(),
        }
    }

    /// The previous secret, while it still signs.
    pub fn previous_secret_in_grace(&self, now: Timestamp) -> Option<&SigningSecret> {
        self.previous_secret
            .as_ref()
            .filter(|p| p.until > now)
            .map(|p| &p.secret)
    }
}

/// An event to store.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// The event id (generated or the producer's).
    pub id: EventId,
    /// The owning account.
    pub account_id: AccountId,
    /// The event type (checked against the catalog).
    pub event_type: EventTypeName,
    /// The validated payload.
    pub data: Value,
    /// When it was accepted.
    pub created_at: Timestamp,
}

/// A stored event.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// The event id.
    pub id: String,
    /// The event type.
    pub event_type: String,
    /// The payload.
    pub data: Value,
    /// When it was accepted.
    pub created_at: Timestamp,
    /// Its delivery bodies, serialized once per format.
    pub bodies: RenderedBodies,
}

impl From<NewEvent> for StoredEvent {
    /// The event as stored, once its transaction has committed.
    fn from(event: NewEvent) -> Self {
        Self {
            id: event.id.as_str().to_owned(),
            event_type: event.event_type.into(),
            data: event.data,
            created_at: event.created_at,
            bodies: Default::default(),
        }
    }
}

/// A recorded attempt, for listings.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// `att_...`
    pub id: String,
    /// The delivery it belongs to.
    pub delivery_id: DeliveryId,
    /// The event delivered.
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// The subscription it went to.
    pub subscription_id: SubscriptionId,
    /// What it saw.
    pub result: AttemptResult,
}

/// Whose attempts to list.
#[derive(Debug, Clone)]
pub enum AttemptsOf {
    /// Those of one subscription (`sub_...`).
    Subscription(SubscriptionId),
    /// Those of one event, to every subscription (its event id).
    Event(String),
}

/// The state of one delivery, as the API shows it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct DeliveryStatus {
    /// `dlv_...`
    pub id: DeliveryId,
    /// The subscription it goes to.
    pub subscription_id: SubscriptionId,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts made.
    pub attempts: u32,
    /// The last status code seen.
    pub last_status: Option<u16>,
    /// The last error seen.
    pub last_error: Option<String>,
}

/// Cursor pagination: items strictly older than `cursor`, at most `limit`.
#[derive(Debug, Clone)]
pub struct PageRequest {
    /// How many items at most.
    pub limit: usize,
    /// The id of the last item of the previous page.
    pub cursor: Option<String>,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The items, newest first.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// An event type a producer registered at run time (built-in types live in
/// code, not in the store).
#[derive(Debug, Clone, PartialEq)]
pub struct RegisteredEventType {
    /// The type's name (`invoice.paid`).
    pub name: String,
    /// One-sentence description.
    pub description: String,
    /// The JSON Schema of the event's `data`, as the producer sent it.
    pub schema: Value,
    /// Example payloads (valid against the schema).
    pub examples: Vec<Value>,
    /// First registration.
    pub created_at: Timestamp,
    /// Last replacement (equal to `created_at` until replaced).
    pub updated_at: Timestamp,
}
