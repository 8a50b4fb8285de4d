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
