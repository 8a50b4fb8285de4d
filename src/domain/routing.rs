//! Routing: which of an account's subscriptions an event goes to. Decided
//! here, once, for every store: a store reads each enabled subscription's
//! [`Route`] and asks it.

use serde_json::Value;

use super::{EventSelection, Filter, SubscriptionId};

/// What routing needs of one enabled subscription: its id, the event types
/// it selects and the filter its events' data must pass.
#[derive(Debug, Clone)]
pub struct Route {
    /// The subscription a matching event gets a delivery to.
    pub subscription_id: SubscriptionId,
    /// The event types it wants.
    pub events: EventSelection,
    /// The fields an event's data must have, if any.
    pub filter: Option<Filter>,
}

impl Route {
    /// Whether an event of `event_type` carrying `data` goes this way.
    pub fn wants(&self, event_type: &str, data: &Value) -> bool {
        self.events.wants(event_type) && self.filter.as_ref().is_none_or(|f| f.matches(data))
    }
}

/// The routes of `routes` an event of `event_type` carrying `data` takes,
/// in their order.
pub fn matching<'a>(
    routes: &'a [Route],
    event_type: &'a str,
    data: &'a Value,
) -> impl Iterator<Item = &'a Route> + 'a {
    routes
        .iter()
        .filter(move |route| route.wants(event_type, data))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn route(id: &str, events: &[&str], filter: Option<Value>) -> Route {
        Route {
            subscription_id: id.into(),
            events: EventSelection::from_stored(events.iter().map(|e| e.to_string()).collect()),
            filter: filter.map(|f| Filter::parse(&f).expect("a valid filter")),
        }
    }

    #[test]
    fn an_event_takes_the_routes_that_select_its_type_and_pass_its_filter() {
        let routes = [
            route("all", &[], None),
            route(
                "images",
                &["generation.completed"],
                Some(json!({"kind": "image"})),
            ),
            route(
                "videos",
                &["generation.completed"],
                Some(json!({"kind": "video"})),
            ),
            route("signups", &["user.signed_up"], None),
        ];
        let image = json!({"kind": "image"});
        let taken: Vec<&str> = matching(&routes, "generation.completed", &image)
            .map(|r| r.subscription_id.as_str())
            .collect();
        assert_eq!(taken, ["all", "images"]);
        let signup = json!({"email": "a@example.com"});
        let taken: Vec<&str> = matching(&routes, "user.signed_up", &signup)
            .map(|r| r.subscription_id.as_str())
            .collect();
        assert_eq!(taken, ["all", "signups"]);
    }
}
