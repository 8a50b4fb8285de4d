//! The one subscription model behind the three doors (`/api/webhooks/register`,
//! `/v1/webhooks`, `/v1/hooks`): one validator that turns caller input into a
//! [`Subscription`], and one JSON view of it.

use serde_json::Value;

use super::event_types::refresh_unless_known;
use super::{ApiError, AppState, Detail};
use crate::catalog::{Catalog, admits_type, enum_values};
use crate::domain::{
    AccountId, CustomHeaders, EventSelection, Filter, Format, Ordering, RateLimit, SigningSecret,
    Source, SubscriptionId, Timestamp, check_text,
};
use crate::store::Subscription;

/// The longest description accepted.
const MAX_DESCRIPTION: usize = 1024;

/// Caller input for a subscription; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct Draft {
    /// The target URL and the pointer of the field it came in.
    pub url: Option<(&'static str, String)>,
    /// Event type names; empty or `["*"]` for all.
    pub events: Option<Vec<String>>,
    /// `Some(None)` clears the filter.
    pub filter: Option<Option<Value>>,
    /// The body format.
    pub format: Option<Format>,
    /// Free text.
    pub description: Option<String>,
    /// Custom headers (replacing all earlier ones).
    pub headers: Option<Value>,
    /// A user-chosen secret.
    pub secret: Option<String>,
    /// Enable or disable deliveries.
    pub enabled: Option<bool>,
    /// One at a time in publish order, or not.
    pub ordering: Option<Ordering>,
    /// Deliveries per second at most; `Some(None)` removes the limit.
    pub rate_limit: Option<Option<u32>>,
}

/// A new subscription for `account_id` from `draft`, which must name a URL.
pub async fn create(
    state: &AppState,
    account_id: &AccountId,
    source: Source,
    draft: Draft,
) -> Result<Subscription, ApiError> {
    if draft.url.is_none() {
        return Err(ApiError::invalid(
            "invalid_request",
            "a target URL is required",
            vec![Detail::at("/url", "missing")],
        ));
    }
    let fresh = Subscription::new(
        SubscriptionId::generate(),
        account_id.clone(),
        String::new(),
        source,
    );
    apply(state, draft, fresh).await
}

/// Validate every field `draft` sets and apply them to `base`; all problems
/// are reported at once, and nothing is changed when there is any.
pub async fn apply(
    state: &AppState,
    draft: Draft,
    mut base: Subscription,
) -> Result<Subscription, ApiError> {
    let mut details = Vec::new();
    if let Some((pointer, url)) = draft.url {
        match state.target_rules.guard.check(&url).await {
            Ok(parsed) => base.url = parsed.to_string(),
            Err(e) => details.push(Detail::at(pointer, e.to_string())),
        }
    }
    if let Some(events) = draft.events {
        refresh_unless_known(state, &events).await?;
        match event_selection(&state.catalog, events) {
            Ok(selection) => base.events = selection,
            Err(mut problems) => details.append(&mut problems),
        }
    }
    if let Some(filter) = draft.filter {
        match filter.map(|raw| Filter::parse(&raw)).transpose() {
            Ok(parsed) => base.filter = parsed.filter(|f| !f.is_empty()),
            Err(e) => details.push(Detail::from_invalid("/filter", e)),
        }
    }
    if let Some(format) = draft.format {
        base.format = format;
    }
    if let Some(ordering) = draft.ordering {
        base.ordering = ordering;
    }
    if let Some(rate_limit) = draft.rate_limit {
        match rate_limit.map(RateLimit::new).transpose() {
            Ok(limit) => base.rate_limit = limit,
            Err(e) => details.push(Detail::from_invalid("/rate_limit", e)),
        }
    }
    if let Some(description) = draft.description {
        if let Err(problem) = check_text(&description, MAX_DESCRIPTION) {
            details.push(Detail::from_invalid("/description", problem));
        }
        base.description = description;
    }
    if let Some(headers) = draft.headers {
        match CustomHeaders::parse(&headers, &state.target_rules.signature_header) {
            Ok(parsed) => base.headers = parsed,
            Err(e) => details.push(Detail::from_invalid("/headers", e)),
        }
    }
    if let Some(secret) = draft.secret {
        match SigningSecret::parse(&secret) {
            Ok(parsed) => base.secret = parsed,
            Err(e) => details.push(Detail::from_invalid("/secret", e)),
        }
    }
    if let Some(enabled) = draft.enabled {
        base.enabled = enabled;
        if enabled {
            base.disabled_reason = None;
            base.failing_since = None;
        }
    }
    if details.is_empty() {
        details = filter_against_schemas(&state.catalog, &base);
    }
    if !details.is_empty() {
        return Err(ApiError::invalid(
            "invalid_subscription",
            "the subscription is invalid",
            details,
        ));
    }
    base.updated_at = Timestamp::now();
    Ok(base)
}

fn event_selection(catalog: &Catalog, events: Vec<String>) -> Result<EventSelection, Vec<Detail>> {
    if events.is_empty() || events.iter().any(|e| e == "*") {
        return Ok(EventSelection::All);
    }
    let unknown: Vec<Detail> = events
        .iter()
        .enumerate()
        .filter(|(_, name)| catalog.get(name).is_none())
        .map(|(i, name)| {
            let known = catalog.names();
            Detail::at(
                format!("/events/{i}"),
                format!(
                    "unknown event type {name:?}; known types: {}, or \"*\" for all",
                    known.join(", ")
                ),
            )
        })
        .collect();
    if !unknown.is_empty() {
        return Err(unknown);
    }
    let mut types = events;
    types.dedup();
    Ok(EventSelection::Only(types))
}

/// For a subscription to named types, a filter must name fields those types
/// have, with values of the field's JSON type and, where a field is an enum,
/// only values of that enum: a typo would otherwise silently match nothing.
fn filter_against_schemas(catalog: &Catalog, subscription: &Subscription) -> Vec<Detail> {
    let (Some(filter), EventSelection::Only(types)) = (&subscription.filter, &subscription.events)
    else {
        return Vec::new();
    };
    let selected: Vec<_> = types.iter().filter_map(|t| catalog.get(t)).collect();
    let mut details = Vec::new();
    for (field, values) in filter.fields() {
        let pointer = format!("/filter/{}", field.replace('~', "~0").replace('/', "~1"));
        let schemas: Vec<&Value> = selected
            .iter()
            .filter_map(|t| t.field_schema(field))
            .collect();
        if schemas.is_empty() {
            details.push(Detail::at(
                pointer,
                format!("no field {field:?} in the schema of {}", types.join(", ")),
            ));
            continue;
        }
        let mistyped = values
            .iter()
            .filter(|value| !schemas.iter().any(|schema| admits_type(schema, value)));
        for value in mistyped {
            details.push(Detail::at(
                pointer.clone(),
                format!(
                    "{value} can never match: {field:?} has type {}",
                    schemas[0]["type"]
                ),
            ));
        }
        let Some(allowed) = schemas
            .iter()
            .map(|schema| enum_values(schema))
            .collect::<Option<Vec<_>>>()
            .map(|lists| lists.concat())
        else {
            continue;
        };
        let admitted = |v: &&Value| schemas.iter().any(|schema| admits_type(schema, v));
        for value in values
            .iter()
            .filter(admitted)
            .filter(|v| !allowed.contains(v))
        {
            details.push(Detail::at(
                pointer.clone(),
                format!("{value} is not one of {}", Value::from(allowed.clone())),
            ));
        }
    }
    details
}
