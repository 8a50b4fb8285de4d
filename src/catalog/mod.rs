//! The event catalog: which event types exist, their JSON Schemas (generated
//! from the Rust types in [`builtin`]), their examples, and validation of
//! published payloads against validators compiled once at start.

pub mod builtin;

use std::collections::BTreeMap;
use std::sync::Arc;

use jsonschema::error::ValidationErrorKind;
use schemars::generate::SchemaSettings;
use serde_json::Value;

use builtin::BuiltinEvent;

/// One violation of an event type's schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON pointer of the offending field inside the payload (for a missing
    /// required field, the pointer the field would have).
    pub pointer: String,
    /// The schema keyword that failed (`required`, `enum`, `type`, ...).
    pub keyword: String,
    /// What is wrong.
    pub message: String,
}

/// Errors building the catalog.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A schema does not compile.
    #[error("event type {name}: invalid JSON Schema: {reason}")]
    InvalidSchema {
        /// The event type.
        name: String,
        /// The compiler's message.
        reason: String,
    },
}

/// An event type with its schema, examples and compiled validator.
pub struct EventType {
    name: String,
    description: String,
    schema: Value,
    examples: Vec<Value>,
    validator: jsonschema::Validator,
}

impl EventType {
    /// Build from a schema, compiling its validator.
    pub fn new(
        name: &str,
        description: &str,
        schema: Value,
        examples: Vec<Value>,
    ) -> Result<Self, CatalogError> {
        let validator =
            jsonschema::validator_for(&schema).map_err(|e| CatalogError::InvalidSchema {
                name: name.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            name: name.to_owned(),
            description: description.to_owned(),
            schema,
            examples,
            validator,
        })
    }

    /// The type's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// One-sentence description.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The JSON Schema of the event's `data`.
    pub fn schema(&self) -> &Value {
        &self.schema
    }

    /// Example payloads.
    pub fn examples(&self) -> &[Value] {
        &self.examples
    }

    /// The schema of a field named as filters name them: a top-level
    /// property, or a dotted path through nested object properties.
    pub fn field_schema(&self, name: &str) -> Option<&Value> {
        fn property<'s>(schema: &'s Value, key: &str) -> Option<&'s Value> {
            schema.get("properties")?.get(key)
        }
        let schema = &self.schema;
        property(schema, name).or_else(|| {
            name.split('.')
                .try_fold(schema, |node, segment| property(node, segment))
        })
    }

    /// Every way `data` violates the schema; empty when valid.
    pub fn violations(&self, data: &Value) -> Vec<Violation> {
        self.validator
            .iter_errors(data)
            .map(|error| {
                let mut pointer = error.instance_path().to_string();
                if let ValidationErrorKind::Required { property } = error.kind() {
                    if let Some(name) = property.as_str() {
                        pointer =
                            format!("{pointer}/{}", name.replace('~', "~0").replace('/', "~1"));
                    }
                }
                Violation {
                    pointer,
                    keyword: error.kind().keyword().to_owned(),
                    message: error.to_string(),
                }
            })
            .collect()
    }
}

/// The set of event types this deployment knows.
#[derive(Clone)]
pub struct Catalog {
    types: Arc<BTreeMap<String, Arc<EventType>>>,
}

impl Catalog {
    /// The four built-in event types.
    pub fn builtin() -> Result<Self, CatalogError> {
        let types = [
            builtin_type::<builtin::GenerationComplete>()?,
            builtin_type::<builtin::Signup>()?,
            builtin_type::<builtin::Subscription>()?,
            builtin_type::<builtin::ZipCompleted>()?,
        ];
        Ok(Self {
            types: Arc::new(
                types
                    .into_iter()
                    .map(|t| (t.name.clone(), Arc::new(t)))
                    .collect(),
            ),
        })
    }

    /// Look up a type by name.
    pub fn get(&self, name: &str) -> Option<&Arc<EventType>> {
        self.types.get(name)
    }

    /// Every type, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<EventType>> {
        self.types.values()
    }
}

/// The generated JSON Schema of a built-in type, with its name, description
/// and examples embedded so `schemas/` alone drives the app generators.
pub fn builtin_schema<T: BuiltinEvent>() -> Value {
    let mut settings = SchemaSettings::draft2020_12();
    settings.inline_subschemas = true;
    let schema = settings.into_generator().into_root_schema_for::<T>();
    let mut schema = schema.to_value();
    if let Value::Object(map) = &mut schema {
        map.insert("$id".into(), Value::String(format!("{}.json", T::NAME)));
        map.insert("description".into(), Value::String(T::DESCRIPTION.into()));
        map.insert("x-event-type".into(), Value::String(T::NAME.into()));
        map.insert("examples".into(), Value::Array(T::examples()));
    }
    schema
}

fn builtin_type<T: BuiltinEvent>() -> Result<EventType, CatalogError> {
    EventType::new(
        T::NAME,
        T::DESCRIPTION,
        builtin_schema::<T>(),
        T::examples(),
    )
}

/// The values a field schema allows, when it is a closed set: its `enum`, or
/// the `const` of each `oneOf` branch (how documented enum variants appear).
pub fn enum_values(schema: &Value) -> Option<Vec<Value>> {
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return Some(values.clone());
    }
    schema
        .get("oneOf")?
        .as_array()?
        .iter()
        .map(|branch| branch.get("const").cloned())
        .collect()
}

/// The schema files `hookbridge schemas export` writes: `(file name, pretty JSON)`.
pub fn schema_files(catalog: &Catalog) -> Vec<(String, String)> {
    catalog
        .iter()
        .map(|t| {
            let text = serde_json::to_string_pretty(t.schema()).unwrap_or_default() + "\n";
            (format!("{}.json", t.name()), text)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_example_is_valid_against_its_own_schema() {
        let catalog = Catalog::builtin().unwrap();
        for event_type in catalog.iter() {
            for example in event_type.examples() {
                assert_eq!(
                    event_type.violations(example),
                    vec![],
                    "{}",
                    event_type.name()
                );
            }
        }
    }

    #[test]
    fn violations_point_at_the_offending_and_missing_fields() {
        let catalog = Catalog::builtin().unwrap();
        let generation = catalog.get("generation_complete").unwrap();
        let violations = generation.violations(&json!({
            "type": "gif", "user_id": "u", "credits_used": -1, "generation_id": "g"
        }));
        let pointers: Vec<_> = violations.iter().map(|v| v.pointer.as_str()).collect();
        assert!(pointers.contains(&"/type"), "{pointers:?}");
        assert!(pointers.contains(&"/credits_used"), "{pointers:?}");
        assert!(pointers.contains(&"/output_url"), "{pointers:?}");
    }
}
