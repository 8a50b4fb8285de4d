//! Delivery bodies: the flat format (the seed's shape) and the Stripe-style
//! envelope (the ZipKit page's shape).

use serde_json::{Map, Value, json};

use crate::domain::Format;

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
