//! Custom headers a developer attaches to deliveries (e.g. `Authorization`).
//! They are write-only: stored and sent, never shown again.

use std::collections::BTreeMap;

use http::{HeaderName, HeaderValue};
use serde_json::Value;

use super::Invalid;

const MAX_HEADERS: usize = 20;

/// Headers that the delivery itself sets and a user may not override.
const RESERVED: &[&str] = &[
    "content-type",
    "content-length",
    "host",
    "transfer-encoding",
    "connection",
    "user-agent",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
];

/// Validated custom headers, names lower-cased.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomHeaders(BTreeMap<String, String>);

impl CustomHeaders {
    /// Validate `{"Name": "value"}`; `signature_header` is reserved too.
    pub fn parse(raw: &Value, signature_header: &HeaderName) -> Result<Self, Invalid> {
        let Value::Object(entries) = raw else {
            return Err(Invalid::whole(
                "headers is an object of header names to string values",
            ));
        };
        if entries.len() > MAX_HEADERS {
            return Err(Invalid::whole(format!(
                "at most {MAX_HEADERS} custom headers"
            )));
        }
        let mut headers = BTreeMap::new();
        for (name, value) in entries {
            let at = format!("/{name}");
            let parsed = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| Invalid::at(&at, "not a valid HTTP header name"))?;
            if RESERVED.contains(&parsed.as_str()) || parsed == *signature_header {
                return Err(Invalid::at(
                    &at,
                    format!("{parsed} is set by the delivery and cannot be overridden"),
                ));
            }
            let Value::String(text) = value else {
                return Err(Invalid::at(&at, "a header value is a string"));
            };
            if text.len() > 4096 || HeaderValue::from_str(text).is_err() {
                return Err(Invalid::at(
                    &at,
                    "a header value is visible ASCII, at most 4096 characters",
                ));
            }
            headers.insert(parsed.as_str().to_owned(), text.clone());
        }
        Ok(Self(headers))
    }

    /// Rebuild from storage, trusting what was validated when written.
    pub fn from_stored(headers: BTreeMap<String, String>) -> Self {
        Self(headers)
    }

    /// Name and value pairs, to send.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The header names only: all an API response ever reveals.
    pub fn names(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }

    /// The map, to store.
    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }
}
