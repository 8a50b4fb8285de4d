//! Delivery bodies: the flat format (the seed's shape) and the Stripe-style
//! envelope (the ZipKit page's shape), each rendered once per event and
//! shared by its deliveries ([`RenderedBodies`]).

use std::sync::OnceLock;

use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::domain::Format;

/// An event's delivery bodies, one per [`Format`], each serialized by the
/// first delivery that needs it and shared by the event's other deliveries
/// (ten subscriptions to an event render and serialize it once, not ten times).
#[derive(Debug, Clone, Default)]
pub struct RenderedBodies {
    flat: OnceLock<Bytes>,
    envelope: OnceLock<Bytes>,
}

impl RenderedBodies {
    /// The body in `format`, made with `render` if no delivery made it yet.
    pub fn get_or_render(&self, format: Format, render: impl FnOnce() -> Bytes) -> Bytes {
        let slot = match format {
            Format::Flat => &self.flat,
            Format::Envelope => &self.envelope,
        };
        slot.get_or_init(render).clone()
    }
}

/// The parts of an event a body is made of.
pub struct EventParts<'a> {
    /// The event id.
    pub id: &'a str,
    /// The event type.
    pub event_type: &'a str,
    /// The payload.
    pub data: &'a Value,
    /// Acceptance time in unix seconds.
    pub created: i64,
}

/// The body as JSON in the requested format.
pub fn render(format: Format, event: &EventParts<'_>) -> Value {
    match format {
        Format::Flat => flat(event),
        Format::Envelope => json!({
            "id": event.id,
            "object": "event",
            "type": event.event_type,
            "created": event.created,
            "data": event.data,
        }),
    }
}

/// The data with `id`, `event` and `timestamp` set at top level (these three
/// always carry Hookbridge's values, whatever the data held).
pub fn flat(event: &EventParts<'_>) -> Value {
    let mut body = match event.data {
        Value::Object(fields) => fields.clone(),
        other => Map::from_iter([("data".to_owned(), other.clone())]),
    };
    body.insert("id".into(), Value::String(event.id.to_owned()));
    body.insert("event".into(), Value::String(event.event_type.to_owned()));
    body.insert("timestamp".into(), Value::from(event.created));
    Value::Object(body)
}
