//! Typed domain values: each type here can only hold a valid value, so the
//! API validates once at the edge and the rest of the code trusts the types.

mod delivery_state;
mod event_type;
mod filter;
mod headers;
mod ids;
mod operational;
mod routing;
mod secret;
mod subscription;
mod time;

pub use delivery_state::DeliveryState;
pub use event_type::EventTypeName;
pub use filter::Filter;
pub use headers::CustomHeaders;
pub use ids::{AccountId, DeliveryId, EventId, SubscriptionId, new_id};
pub use operational::{
    OPERATIONAL_EVENT_TYPES, OPERATOR_ACCOUNT, OperationalEvent, is_operator, operator_account,
};
pub use routing::{Route, matching};
pub use secret::SigningSecret;
pub use subscription::{EventSelection, Format, Ordering, RateLimit, Source};
pub use time::{TimeWindow, Timestamp, rfc3339};

/// Why a value given by a caller was refused; `field` names the offending
/// part relative to the value itself (empty for the value as a whole).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    /// JSON pointer below the value (e.g. `/type/0`), or empty.
    pub field: String,
    /// What is wrong, in words a developer can act on.
    pub message: String,
}

/// Check free text a caller gives (a name, a description): at most `max`
/// characters, and no NUL character, which PostgreSQL cannot store in text.
pub fn check_text(raw: &str, max: usize) -> Result<(), Invalid> {
    if raw.contains('\0') {
        return Err(Invalid::whole(
            "text cannot contain NUL characters (\\u0000)",
        ));
    }
    if raw.chars().count() > max {
        return Err(Invalid::whole(format!("at most {max} characters")));
    }
    Ok(())
}

impl Invalid {
    /// A problem with the value as a whole.
    pub fn whole(message: impl Into<String>) -> Self {
        Self {
            field: String::new(),
            message: message.into(),
        }
    }

    /// A problem at `field` (a JSON pointer below the value).
    pub fn at(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}
