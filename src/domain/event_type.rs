//! `EventTypeName`: the name a producer gives a registered event type.

use super::Invalid;

/// The longest event type name accepted.
const MAX_LEN: usize = 64;

/// A valid event type name: 1 to 64 characters of lowercase ASCII letters,
/// digits, `_`, `.` and `-`, starting with a letter (`invoice.paid`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTypeName(String);

impl EventTypeName {
    /// Check `raw` and wrap it.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let starts_with_letter = raw.starts_with(|c: char| c.is_ascii_lowercase());
        let allowed = raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'));
        if raw.len() > MAX_LEN || !starts_with_letter || !allowed {
            return Err(Invalid::whole(format!(
                "an event type name is 1 to {MAX_LEN} lowercase letters, digits, '_', '.' or '-', \
                 starting with a letter (like \"invoice.paid\")"
            )));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<EventTypeName> for String {
    fn from(name: EventTypeName) -> Self {
        name.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_dotted_lowercase_names_and_refuses_the_rest() {
        for good in ["invoice.paid", "zip.completed", "a", "user-deleted_v2"] {
            assert!(EventTypeName::parse(good).is_ok(), "{good}");
        }
        let too_long = "a".repeat(MAX_LEN + 1);
        for bad in [
            "",
            "*",
            "Invoice",
            "1st",
            ".x",
            "a b",
            "é",
            too_long.as_str(),
        ] {
            assert!(EventTypeName::parse(bad).is_err(), "{bad}");
        }
    }
}
