//! The event catalog: which event types exist, their JSON Schemas (generated
//! from the Rust types in [`builtin`], or registered by the producer at run
//! time), their examples, and validation of published payloads against
//! validators compiled once per type.

pub mod builtin;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use jsonschema::error::ValidationErrorKind;
use schemars::generate::SchemaSettings;
use serde_json::Value;

use builtin::BuiltinEvent;

use crate::domain::EventTypeName;
use crate::store::RegisteredEventType;

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

/// Errors building an event type.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A schema is not a valid JSON Schema, or does not describe an object.
    #[error("event type {name}: invalid JSON Schema at {pointer:?}: {reason}")]
    InvalidSchema {
        /// The event type.
        name: String,
        /// Where in the schema the problem is (a JSON pointer).
        pointer: String,
        /// What is wrong.
        reason: String,
    },
    /// An example does not satisfy the type's own schema.
    #[error("event type {name}: example {index} violates the schema")]
    InvalidExample {
        /// The event type.
        name: String,
        /// Which example (0-based).
        index: usize,
        /// How it violates the schema.
        violations: Vec<Violation>,
    },
}

/// Where an event type comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Defined in Rust in [`builtin`]; cannot be changed at run time.
    Builtin,
    /// Registered by the producer through `POST /v1/event-types`.
    Registered,
}

impl Origin {
    /// `builtin` or `registered`, as the API shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Builtin => "builtin",
            Origin::Registered => "registered",
        }
    }
}

/// An event type with its schema, examples and compiled validator.
pub struct EventType {
    name: EventTypeName,
    description: String,
    schema: Value,
    examples: Vec<Value>,
    origin: Origin,
    revision: i64,
    validator: jsonschema::Validator,
}

impl EventType {
    /// Build a type from its schema document, compiling its validator and
    /// checking each example against it. The schema must describe a JSON
    /// object (event data is always one). The name, description and examples
    /// are embedded into the stored document (`x-event-type`, `description`,
    /// `examples`), so a schema file alone drives the app generators.
    pub fn new(
        name: &str,
        description: &str,
        schema: Value,
        examples: Vec<Value>,
        origin: Origin,
    ) -> Result<Self, CatalogError> {
        let invalid = |pointer: String, reason: String| CatalogError::InvalidSchema {
            name: name.to_owned(),
            pointer,
            reason,
        };
        let type_name =
            EventTypeName::parse(name).map_err(|e| invalid(String::new(), e.message))?;
        let Value::Object(mut document) = schema else {
            return Err(invalid(
                String::new(),
                "a schema must be a JSON object".into(),
            ));
        };
        if document.get("type") != Some(&Value::String("object".into())) {
            return Err(invalid(
                "/type".into(),
                "event data is a JSON object: the schema must say \"type\": \"object\"".into(),
            ));
        }
        document
            .entry("$id")
            .or_insert_with(|| Value::String(format!("{name}.json")));
        document.insert("description".into(), Value::String(description.into()));
        document.insert("x-event-type".into(), Value::String(name.into()));
        document.insert("examples".into(), Value::Array(examples.clone()));
        let schema = Value::Object(document);
        let validator = jsonschema::validator_for(&schema)
            .map_err(|e| invalid(e.instance_path().to_string(), e.to_string()))?;
        let event_type = Self {
            name: type_name,
            description: description.to_owned(),
            schema,
            examples,
            origin,
            revision: 0,
            validator,
        };
        for (index, example) in event_type.examples.iter().enumerate() {
            let violations = event_type.violations(example);
            if !violations.is_empty() {
                return Err(CatalogError::InvalidExample {
                    name: name.to_owned(),
                    index,
                    violations,
                });
            }
        }
        Ok(event_type)
    }

    /// The type's name.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// The type's name, typed.
    pub fn type_name(&self) -> &EventTypeName {
        &self.name
    }

    /// Built in, or registered at run time.
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// Which definition of a registered type this is: its last change in the
    /// store (unix milliseconds); 0 for built-in types.
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// The same type, marked as the stored definition of `revision`.
    pub fn at_revision(self, revision: i64) -> Self {
        Self { revision, ..self }
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
                if let ValidationErrorKind::Required { property } = error.kind()
                    && let Some(name) = property.as_str()
                {
                    pointer = format!("{pointer}/{}", name.replace('~', "~0").replace('/', "~1"));
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

type TypeMap = BTreeMap<String, Arc<EventType>>;

/// The set of event types this deployment knows: the built-in ones and those
/// registered at run time. Clones share one set; readers take a snapshot, so
/// a registration never blocks publishing for longer than a map swap.
#[derive(Clone)]
pub struct Catalog {
    types: Arc<RwLock<Arc<TypeMap>>>,
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
        let map: TypeMap = types
            .into_iter()
            .map(|t| (t.name().to_owned(), Arc::new(t)))
            .collect();
        Ok(Self {
            types: Arc::new(RwLock::new(Arc::new(map))),
        })
    }

    fn snapshot(&self) -> Arc<TypeMap> {
        self.types
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Look up a type by name.
    pub fn get(&self, name: &str) -> Option<Arc<EventType>> {
        self.snapshot().get(name).cloned()
    }

    /// Every type, sorted by name.
    pub fn all(&self) -> Vec<Arc<EventType>> {
        self.snapshot().values().cloned().collect()
    }

    /// Every type's name, sorted.
    pub fn names(&self) -> Vec<String> {
        self.snapshot().keys().cloned().collect()
    }

    /// Add or replace a registered type. A built-in type is never replaced:
    /// the call is ignored and returns false.
    pub fn register(&self, event_type: EventType) -> bool {
        let mut types = self
            .types
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if types
            .get(event_type.name())
            .is_some_and(|t| t.origin == Origin::Builtin)
        {
            return false;
        }
        let mut next = TypeMap::clone(&types);
        next.insert(event_type.name().to_owned(), Arc::new(event_type));
        *types = Arc::new(next);
        true
    }

    /// Register every stored type not already loaded at its revision. A
    /// stored type that no longer compiles (a validator upgrade tightened
    /// something) is logged and left out rather than stopping the service.
    pub fn load(&self, stored: &[RegisteredEventType]) {
        for record in stored {
            let revision = record.updated_at.0;
            if self
                .get(&record.name)
                .is_some_and(|t| t.revision >= revision)
            {
                continue;
            }
            let compiled = EventType::new(
                &record.name,
                &record.description,
                record.schema.clone(),
                record.examples.clone(),
                Origin::Registered,
            );
            match compiled {
                Ok(event_type) => {
                    self.register(event_type.at_revision(revision));
                }
                Err(error) => tracing::error!(%error, "a registered event type was not loaded"),
            }
        }
    }
}

/// The JSON Schema schemars generates for a built-in type (subschemas
/// inlined, so field schemas are found without resolving references).
pub fn builtin_schema<T: BuiltinEvent>() -> Value {
    let mut settings = SchemaSettings::draft2020_12();
    settings.inline_subschemas = true;
    settings
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value()
}

fn builtin_type<T: BuiltinEvent>() -> Result<EventType, CatalogError> {
    EventType::new(
        T::NAME,
        T::DESCRIPTION,
        builtin_schema::<T>(),
        T::examples(),
        Origin::Builtin,
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

/// Whether `value`'s JSON type is one the field `schema` declares (`type`,
/// a name or a list); a schema without `type` admits anything.
pub fn admits_type(schema: &Value, value: &Value) -> bool {
    let declared: Vec<&str> = match schema.get("type") {
        Some(Value::String(name)) => vec![name.as_str()],
        Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).collect(),
        _ => return true,
    };
    declared.iter().any(|name| match (*name, value) {
        ("string", Value::String(_)) | ("boolean", Value::Bool(_)) | ("null", Value::Null) => true,
        ("number", Value::Number(_)) => true,
        ("integer", Value::Number(n)) => {
            n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        ("object", Value::Object(_)) | ("array", Value::Array(_)) => true,
        _ => false,
    })
}

/// The schema files `hookbridge schemas export` writes: `(file name, pretty JSON)`.
pub fn schema_files(catalog: &Catalog) -> Vec<(String, String)> {
    catalog
        .all()
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
        for event_type in catalog.all() {
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

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn json() -> impl Strategy<Value = Value> {
            let scalar = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                any::<f64>().prop_map(Value::from),
                "[a-z]{0,8}".prop_map(Value::from),
            ];
            scalar.prop_recursive(4, 64, 8, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                    prop::collection::btree_map(
                        prop_oneof![
                            Just("type".to_owned()),
                            Just("credits_used".to_owned()),
                            Just("object".to_owned()),
                            Just("status".to_owned()),
                            "[a-z_]{1,8}"
                        ],
                        inner,
                        0..6
                    )
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        proptest! {
            /// Whatever is published, validation answers without panicking,
            /// and every violation points into the payload: at the offending
            /// value, or for a missing field at a parent that exists.
            #[test]
            fn violations_always_point_into_the_payload(data in json()) {
                let catalog = Catalog::builtin().unwrap();
                for event_type in catalog.all() {
                    for violation in event_type.violations(&data) {
                        let at = if violation.keyword == "required" {
                            violation.pointer.rsplit_once('/').map_or("", |(parent, _)| parent)
                        } else {
                            violation.pointer.as_str()
                        };
                        prop_assert!(
                            data.pointer(at).is_some(),
                            "{} points at {} in {}", violation.keyword, violation.pointer, data
                        );
                    }
                }
            }
        }
    }
}
