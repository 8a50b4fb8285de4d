//! Identifiers: generated ids are a prefix plus a time-ordered ULID, so ids of
//! one kind sort by creation and serve as pagination cursors.

use super::Invalid;

/// A new id such as `evt_01jd...`: prefix, underscore, lower-case ULID.
pub fn new_id(prefix: &str) -> String {
    let mut text = [0; ulid::ULID_LEN];
    let ulid = ulid::Ulid::new().array_to_str(&mut text);
    ulid.make_ascii_lowercase();
    let mut id = String::with_capacity(prefix.len() + 1 + ulid::ULID_LEN);
    id.push_str(prefix);
    id.push('_');
    id.push_str(ulid);
    id
}

/// Declares the newtype of one kind of generated id (`acc_...`, `sub_...`):
/// made by [`new_id`] with its prefix, or taken as given from a caller or a
/// row. An id a caller names is only ever looked up, never trusted, so any
/// text converts into one; what the type adds is that an account id cannot
/// be passed where a subscription id belongs.
macro_rules! generated_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A fresh id.
            pub fn generate() -> Self {
                Self(new_id($prefix))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(text: String) -> Self {
                Self(text)
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                Self(text.to_owned())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                String::schema()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

generated_id!(
    /// A customer account's id (`acc_...`).
    AccountId,
    "acc"
);
generated_id!(
    /// A subscription's id (`sub_...`): a webhook or a Zapier or Make hook.
    SubscriptionId,
    "sub"
);
generated_id!(
    /// A delivery's id (`dlv_...`): one event to one subscription.
    DeliveryId,
    "dlv"
);

/// An event id: generated (`evt_...`) or chosen by the producer for idempotent
/// publishing (1 to 128 characters of `A-Z a-z 0-9 _ - . :`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventId(String);

impl EventId {
    /// A fresh generated id.
    pub fn generate() -> Self {
        Self(new_id("evt"))
    }

    /// Accept a producer-chosen id if it is safe to echo in headers and URLs.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':');
        if raw.is_empty() || raw.len() > 128 || !raw.chars().all(ok_char) {
            return Err(Invalid::whole(
                "an event id is 1 to 128 characters of letters, digits, '_', '-', '.' or ':'",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::new_id;

    #[test]
    fn a_new_id_is_its_prefix_and_a_lower_case_ulid() {
        let id = new_id("dlv");
        let (prefix, ulid) = id.split_once('_').expect("an underscore");
        assert_eq!(prefix, "dlv");
        assert_eq!(ulid.len(), ulid::ULID_LEN);
        assert!(
            ulid.chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
        );
        assert!(ulid::Ulid::from_string(&ulid.to_ascii_uppercase()).is_ok());
    }
}
