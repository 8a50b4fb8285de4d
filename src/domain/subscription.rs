//! The small enumerations that describe a subscription.

use serde::{Deserialize, Serialize};

/// How a delivery body is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// The event's data with `id`, `event` and `timestamp` added at top level.
    #[default]
    Flat,
    /// Stripe-style `{"id", "object": "event", "type", "created", "data"}`.
    Envelope,
}

/// Which door a subscription came in through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A developer's raw webhook (`/api/webhooks/register`, `/v1/webhooks`).
    Api,
    /// A Zapier REST hook.
    Zapier,
    /// A Make.com instant trigger.
    Make,
    /// An n8n trigger node (`n8n-nodes-hookbridge`).
    N8n,
}

impl Source {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Api => "api",
            Source::Zapier => "zapier",
            Source::Make => "make",
            Source::N8n => "n8n",
        }
    }

    /// Parse a stored name.
    pub fn from_stored(name: &str) -> Option<Self> {
        match name {
            "api" => Some(Source::Api),
            "zapier" => Some(Source::Zapier),
            "make" => Some(Source::Make),
            "n8n" => Some(Source::N8n),
            _ => None,
        }
    }

    /// Whether a `410 Gone` answer removes the subscription. Zapier and raw
    /// webhooks follow the REST-hooks rule, and so does n8n (its node deletes
    /// the subscription when a workflow is deactivated; a 404 from n8n, a
    /// workflow it no longer knows, is an ordinary failure). Make answers 410
    /// while a scenario is merely switched off, so a Make subscription keeps
    /// retrying instead.
    pub fn removed_by_gone(self) -> bool {
        !matches!(self, Source::Make)
    }
}

/// The order a webhook's deliveries go out in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ordering {
    /// As soon as each can, many at once (the default).
    #[default]
    None,
    /// In publish order, one at a time: the next waits until the one before
    /// it was delivered or failed for good.
    Fifo,
}

impl Ordering {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Ordering::None => "none",
            Ordering::Fifo => "fifo",
        }
    }

    /// Parse a stored name.
    pub fn from_stored(name: &str) -> Option<Self> {
        match name {
            "none" => Some(Ordering::None),
            "fifo" => Some(Ordering::Fifo),
            _ => None,
        }
    }
}

/// A webhook's limit on deliveries started per second: 1 to
/// [`RateLimit::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit(u32);

impl RateLimit {
    /// The highest limit accepted.
    pub const MAX: u32 = 100_000;

    /// Check `per_second`.
    pub fn new(per_second: u32) -> Result<Self, super::Invalid> {
        if (1..=Self::MAX).contains(&per_second) {
            Ok(Self(per_second))
        } else {
            Err(super::Invalid::whole(format!(
                "a rate limit is 1 to {} deliveries a second, or null for none",
                Self::MAX
            )))
        }
    }

    /// Deliveries a second.
    pub fn per_second(self) -> u32 {
        self.0
    }

    /// The time between two deliveries' starts.
    pub fn interval(self) -> std::time::Duration {
        std::time::Duration::from_secs(1) / self.0
    }
}

impl Format {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Flat => "flat",
            Format::Envelope => "envelope",
        }
    }

    /// Parse a stored name.
    pub fn from_stored(name: &str) -> Option<Self> {
        match name {
            "flat" => Some(Format::Flat),
            "envelope" => Some(Format::Envelope),
            _ => None,
        }
    }
}

/// The event types a subscription wants: all of them, or a named set that the
/// catalog has checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventSelection {
    /// Every event type (`[]` or `["*"]` on the wire).
    All,
    /// Only these types.
    Only(Vec<String>),
}

impl EventSelection {
    /// Whether an event of `event_type` is wanted.
    pub fn wants(&self, event_type: &str) -> bool {
        match self {
            EventSelection::All => true,
            EventSelection::Only(types) => types.iter().any(|t| t == event_type),
        }
    }

    /// The wire form: `["*"]` for all.
    pub fn to_list(&self) -> Vec<String> {
        match self {
            EventSelection::All => vec!["*".to_owned()],
            EventSelection::Only(types) => types.clone(),
        }
    }

    /// Rebuild from the stored list.
    pub fn from_stored(types: Vec<String>) -> Self {
        if types.is_empty() || types.iter().any(|t| t == "*") {
            EventSelection::All
        } else {
            EventSelection::Only(types)
        }
    }
}
