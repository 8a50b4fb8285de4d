//! Subscription filters: conditional routing on an event's fields.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Invalid;

const MAX_FIELDS: usize = 20;
const MAX_VALUES: usize = 100;

/// `{"field": value | [values]}`: an event matches when every named field
/// equals one of its values. A field name is a top-level key of the event's
/// data; where no such key exists, a dotted name reaches into nested objects
/// (`object.status` for `zip.completed`). An empty list places no constraint
/// (what a form with nothing selected means).
#[derive(Debug, Clone, PartialEq)]
pub struct Filter(BTreeMap<String, Vec<Value>>);

impl Filter {
    /// Validate a filter object as given by a caller.
    pub fn parse(raw: &Value) -> Result<Self, Invalid> {
        let Value::Object(fields) = raw else {
            return Err(Invalid::whole(
                "a filter is an object of field names to a value or a list of values",
            ));
        };
        if fields.len() > MAX_FIELDS {
            return Err(Invalid::whole(format!(
                "a filter names at most {MAX_FIELDS} fields"
            )));
        }
        let mut parsed = BTreeMap::new();
        for (name, wanted) in fields {
            let at = format!("/{}", pointer_escape(name));
            if name.is_empty() || name.len() > 128 {
                return Err(Invalid::at(at, "a field name is 1 to 128 characters"));
            }
            let values = match wanted {
                Value::Array(items) if items.is_empty() => continue,
                Value::Array(items) => items.clone(),
                scalar => vec![scalar.clone()],
            };
            if values.len() > MAX_VALUES {
                return Err(Invalid::at(
                    at,
                    format!("a list holds at most {MAX_VALUES} values"),
                ));
            }
            if values.iter().any(|v| v.is_object() || v.is_array()) {
                return Err(Invalid::at(
                    at,
                    "filter values are strings, numbers, booleans or null",
                ));
            }
            parsed.insert(name.clone(), values);
        }
        Ok(Self(parsed))
    }

    /// Whether the filter constrains nothing (and so is no filter at all).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether an event's data passes this filter.
    pub fn matches(&self, data: &Value) -> bool {
        self.0.iter().all(|(name, wanted)| {
            field(data, name).is_some_and(|found| wanted.iter().any(|w| same_scalar(w, found)))
        })
    }

    /// The field names this filter constrains.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &[Value])> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// The filter as JSON, with single values unwrapped as the caller wrote them.
    pub fn to_json(&self) -> Value {
        let fields = self.0.iter().map(|(name, values)| {
            let value = match values.as_slice() {
                [one] => one.clone(),
                many => Value::Array(many.to_vec()),
            };
            (name.clone(), value)
        });
        Value::Object(fields.collect())
    }
}

fn field<'a>(data: &'a Value, name: &str) -> Option<&'a Value> {
    data.get(name).or_else(|| {
        name.split('.')
            .try_fold(data, |node, segment| node.get(segment))
    })
}

fn same_scalar(wanted: &Value, found: &Value) -> bool {
    match (wanted, found) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => wanted == found,
    }
}

fn pointer_escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_are_any_of_and_fields_are_all_of() {
        let filter = Filter::parse(&json!({"type": ["image", "video"], "tier": "pro"})).unwrap();
        assert!(filter.matches(&json!({"type": "video", "tier": "pro"})));
        assert!(!filter.matches(&json!({"type": "video", "tier": "ultra"})));
        assert!(!filter.matches(&json!({"tier": "pro"})));
    }

    #[test]
    fn dotted_names_reach_nested_fields_and_numbers_compare_by_value() {
        let filter = Filter::parse(&json!({"object.status": "failed", "n": 1})).unwrap();
        assert!(filter.matches(&json!({"object": {"status": "failed"}, "n": 1.0})));
        assert!(!filter.matches(&json!({"object": {"status": "succeeded"}, "n": 1})));
    }

    #[test]
    fn nested_values_are_refused() {
        assert!(Filter::parse(&json!({"type": {"a": 1}})).is_err());
        assert!(Filter::parse(&json!({"type": [["image"]]})).is_err());
        assert!(Filter::parse(&json!(["type"])).is_err());
    }

    #[test]
    fn an_empty_list_places_no_constraint() {
        let filter = Filter::parse(&json!({"type": [], "tier": "pro"})).unwrap();
        assert_eq!(filter.to_json(), json!({"tier": "pro"}));
        assert!(filter.matches(&json!({"type": "video", "tier": "pro"})));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Scalars as filters and event data hold them.
        fn scalar() -> impl Strategy<Value = Value> {
            prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                "[a-z]{0,8}".prop_map(Value::from),
            ]
        }

        /// Any JSON, nested a few levels.
        fn json() -> impl Strategy<Value = Value> {
            scalar().prop_recursive(4, 64, 8, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                    prop::collection::btree_map("[a-z.]{0,6}", inner, 0..6)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        proptest! {
            #[test]
            fn parsing_any_json_never_panics_and_accepted_filters_round_trip(raw in json()) {
                if let Ok(filter) = Filter::parse(&raw) {
                    prop_assert_eq!(Filter::parse(&filter.to_json()).unwrap(), filter.clone());
                    let _ = filter.matches(&raw);
                }
            }

            #[test]
            fn a_filter_made_of_an_events_own_fields_matches_it(
                data in prop::collection::btree_map("[a-z]{1,6}", scalar(), 1..8),
            ) {
                let event = Value::Object(data.clone().into_iter().collect());
                let filter = Filter::parse(&event).unwrap();
                prop_assert!(filter.matches(&event));
                let (name, value) = data.into_iter().next().unwrap();
                let mut other = event.clone();
                other[&name] = json!([value]);
                prop_assert!(!filter.matches(&other), "a list is not the scalar it holds");
            }
        }
    }
}
