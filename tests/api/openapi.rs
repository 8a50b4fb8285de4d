//! `GET /openapi.json`: an OpenAPI 3.1 document generated from the handlers,
//! covering every route the service answers and nothing it does not.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::helpers::TestApp;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Every `$ref` in `node`.
fn refs<'v>(node: &'v Value, found: &mut Vec<&'v str>) {
    match node {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                found.push(target);
            }
            map.values().for_each(|v| refs(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_openapi_3_1_with_unique_operations_and_resolvable_refs() {
    let app = TestApp::spawn().await;
    let document = app.get_public("/openapi.json").await;
    assert!(
        document["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        document["openapi"]
    );
    let mut operation_ids = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"].as_str().unwrap();
            assert!(
                operation_ids.insert(id),
                "{method} {path}: operationId {id} is used twice"
            );
            assert!(
                operation["responses"]
                    .as_object()
                    .is_some_and(|r| !r.is_empty())
            );
        }
    }
    let mut targets = Vec::new();
    refs(&document, &mut targets);
    assert!(!targets.is_empty());
    for target in targets {
        let pointer = target.strip_prefix('#').expect("a local reference");
        assert!(
            document.pointer(pointer).is_some(),
            "{target} does not resolve"
        );
    }
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["api_key"]["name"], "X-Api-Key");
    assert_eq!(schemes["admin_key"]["scheme"], "bearer");
}

/// Each documented operation reaches a handler: it is neither the router's
/// "route not found" nor "method not allowed".
#[tokio::test]
async fn every_documented_operation_is_served() {
    let app = TestApp::spawn().await;
    let unrouted = app.get_public("/v1/not-a-route").await;
    assert_eq!(
        unrouted["error"]["message"], "route not found",
        "the check below relies on this message"
    );
    let document = app.get_public("/openapi.json").await;
    let mut checked = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        let concrete = path
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "x"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in item.as_object().unwrap().keys() {
            let response = app
                .client
                .request(method.to_uppercase().parse().unwrap(), app.url(&concrete))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            assert_ne!(status, 405, "{method} {path}");
            assert_ne!(
                body["error"]["message"], "route not found",
                "{method} {path} is documented but not served"
            );
            checked += 1;
        }
    }
    assert!(checked >= 29, "only {checked} operations");
}

/// Every route is added through the documented router (`routes!` over
/// annotated handlers), so a route cannot exist without its description. This
/// fails when someone adds one the plain axum way.
#[test]
fn no_route_is_added_outside_the_documented_router() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let source = std::fs::read_to_string(&path).unwrap();
        for forbidden in [".route(", ".route_service(", ".nest(", ".nest_service("] {
            assert!(
                !source.contains(forbidden),
                "{} adds a route with {forbidden}: use OpenApiRouter::routes(routes!(...)) \
                 with a #[utoipa::path] handler so /openapi.json describes it",
                path.display()
            );
        }
    }
}

/// The documented operations are exactly the API's surface: a route missing
/// from the document fails here, as does a documented one that was dropped.
#[tokio::test]
async fn the_document_lists_every_route_of_the_api() {
    let app = TestApp::spawn().await;
    let document = app.get_public("/openapi.json").await;
    let documented: BTreeSet<String> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|m| METHODS.contains(&m.as_str()))
                .map(move |m| format!("{} {path}", m.to_uppercase()))
        })
        .collect();
    let expected: BTreeSet<String> = [
        "POST /api/webhooks/register",
        "GET /healthz",
        "GET /metrics",
        "GET /openapi.json",
        "GET /readyz",
        "POST /v1/accounts",
        "GET /v1/accounts/{id}",
        "POST /v1/accounts/{id}/api-keys",
        "POST /v1/deliveries/{id}/resend",
        "GET /v1/event-types",
        "POST /v1/event-types",
        "GET /v1/event-types/{name}",
        "PUT /v1/event-types/{name}",
        "GET /v1/events",
        "POST /v1/events",
        "GET /v1/events/{id}/attempts",
        "GET /v1/events/{id}/deliveries",
        "POST /v1/hooks",
        "DELETE /v1/hooks/{id}",
        "GET /v1/me",
        "GET /v1/webhooks",
        "POST /v1/webhooks",
        "GET /v1/webhooks/{id}",
        "PATCH /v1/webhooks/{id}",
        "DELETE /v1/webhooks/{id}",
        "GET /v1/webhooks/{id}/attempts",
        "POST /v1/webhooks/{id}/resend-failed",
        "POST /v1/webhooks/{id}/rotate-secret",
        "POST /v1/webhooks/{id}/test",
    ]
    .map(String::from)
    .into();
    assert_eq!(documented, expected);
}
