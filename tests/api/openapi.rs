//! `GET /openapi.json`: an OpenAPI 3.1 document generated from the handlers,
//! covering every route the service answers and nothing it does not.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Receiver, TestAccount, TestApp, generation};

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
        "GET /v1/operational-webhooks",
        "POST /v1/operational-webhooks",
        "DELETE /v1/operational-webhooks/{id}",
        "GET /v1/webhooks",
        "POST /v1/webhooks",
        "GET /v1/webhooks/{id}",
        "PATCH /v1/webhooks/{id}",
        "DELETE /v1/webhooks/{id}",
        "GET /v1/webhooks/{id}/attempts",
        "POST /v1/webhooks/{id}/replay",
        "POST /v1/webhooks/{id}/resend-failed",
        "POST /v1/webhooks/{id}/rotate-secret",
        "POST /v1/webhooks/{id}/test",
    ]
    .map(String::from)
    .into();
    assert_eq!(documented, expected);
}

/// Checks real answers against the response schemas the document gives.
struct Documented {
    document: Value,
    checked: BTreeSet<String>,
}

impl Documented {
    /// Assert `response` is documented for `method template` with its status
    /// and that its JSON body validates against that schema; the body.
    async fn check(&mut self, method: &str, template: &str, response: reqwest::Response) -> Value {
        let status = response.status().as_u16().to_string();
        let body: Value = response.json().await.expect("a JSON body");
        let answer = &self.document["paths"][template][method]["responses"][&status];
        assert!(
            answer.is_object(),
            "{method} {template} does not document {status}: {body}"
        );
        let schema = &answer["content"]["application/json"]["schema"];
        assert!(
            schema.as_object().is_some_and(|s| !s.is_empty()),
            "{method} {template} {status} has no response schema"
        );
        let mut root = schema.as_object().unwrap().clone();
        root.insert("components".into(), self.document["components"].clone());
        let validator = jsonschema::validator_for(&Value::Object(root)).expect("a usable schema");
        let problems: Vec<String> = validator
            .iter_errors(&body)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        assert!(
            problems.is_empty(),
            "{method} {template} {status}: {problems:?}\n{body}"
        );
        self.checked.insert(format!("{method} {template}"));
        body
    }
}

#[tokio::test]
async fn real_answers_match_the_documented_response_schemas() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let mut documented = Documented {
        document: app.get_public("/openapi.json").await,
        checked: BTreeSet::new(),
    };
    let d = &mut documented;

    let account = d
        .check(
            "post",
            "/v1/accounts",
            app.admin_post("/v1/accounts", &json!({"name": "Docs"}))
                .await,
        )
        .await;
    let id = account["id"].as_str().unwrap();
    d.check(
        "get",
        "/v1/accounts/{id}",
        app.admin_get(&format!("/v1/accounts/{id}")).await,
    )
    .await;
    let key = d
        .check(
            "post",
            "/v1/accounts/{id}/api-keys",
            app.admin_post(&format!("/v1/accounts/{id}/api-keys"), &json!({}))
                .await,
        )
        .await;
    let caller = TestAccount {
        id: id.to_owned(),
        key: key["key"].as_str().unwrap().to_owned(),
    };
    d.check("get", "/v1/me", app.get_as(&caller, "/v1/me").await)
        .await;

    let webhook = d
        .check(
            "post",
            "/v1/webhooks",
            app.post_as(
                &caller,
                "/v1/webhooks",
                &json!({"url": receiver.url, "events": ["generation_complete"], "filter": {"type": "video"}, "headers": {"Authorization": "Bearer x"}}),
            )
            .await,
        )
        .await;
    let webhook_id = webhook["id"].as_str().unwrap().to_owned();
    d.check(
        "post",
        "/api/webhooks/register",
        app.post_as(
            &caller,
            "/api/webhooks/register",
            &json!({"url": receiver.url, "events": ["signup"]}),
        )
        .await,
    )
    .await;
    d.check(
        "get",
        "/v1/webhooks",
        app.get_as(&caller, "/v1/webhooks?limit=1").await,
    )
    .await;
    let one = format!("/v1/webhooks/{webhook_id}");
    d.check("get", "/v1/webhooks/{id}", app.get_as(&caller, &one).await)
        .await;
    d.check(
        "patch",
        "/v1/webhooks/{id}",
        app.patch_as(&caller, &one, &json!({"description": "documented"}))
            .await,
    )
    .await;
    d.check(
        "post",
        "/v1/webhooks/{id}/rotate-secret",
        app.post_as(&caller, &format!("{one}/rotate-secret"), &json!({}))
            .await,
    )
    .await;
    d.check(
        "post",
        "/v1/webhooks/{id}/test",
        app.post_as(&caller, &format!("{one}/test"), &json!({}))
            .await,
    )
    .await;

    let published = d
        .check(
            "post",
            "/v1/events",
            app.publish(&caller, "generation_complete", generation("video"))
                .await,
        )
        .await;
    let event_id = published["id"].as_str().unwrap().to_owned();
    receiver.wait_for(2, Duration::from_secs(10)).await;
    let deliveries = d
        .check(
            "get",
            "/v1/events/{id}/deliveries",
            app.get_as(&caller, &format!("/v1/events/{event_id}/deliveries"))
                .await,
        )
        .await;
    let delivery_id = deliveries["data"][0]["id"].as_str().unwrap().to_owned();
    d.check(
        "get",
        "/v1/events/{id}/attempts",
        app.get_as(&caller, &format!("/v1/events/{event_id}/attempts"))
            .await,
    )
    .await;
    d.check(
        "get",
        "/v1/webhooks/{id}/attempts",
        app.get_as(&caller, &format!("{one}/attempts")).await,
    )
    .await;
    d.check(
        "post",
        "/v1/deliveries/{id}/resend",
        app.post_as(
            &caller,
            &format!("/v1/deliveries/{delivery_id}/resend"),
            &json!({}),
        )
        .await,
    )
    .await;
    d.check(
        "post",
        "/v1/webhooks/{id}/resend-failed",
        app.post_as(
            &caller,
            &format!("{one}/resend-failed"),
            &json!({"since": "2020-01-01T00:00:00Z"}),
        )
        .await,
    )
    .await;
    d.check(
        "post",
        "/v1/webhooks/{id}/replay",
        app.post_as(
            &caller,
            &format!("{one}/replay"),
            &json!({"since": "2020-01-01T00:00:00Z", "only": "missing"}),
        )
        .await,
    )
    .await;
    d.check(
        "get",
        "/v1/events",
        app.get_as(&caller, "/v1/events?type=signup").await,
    )
    .await;

    let hook = d
        .check(
            "post",
            "/v1/hooks",
            app.post_as(
                &caller,
                "/v1/hooks",
                &json!({"hookUrl": receiver.url, "event": "signup"}),
            )
            .await,
        )
        .await;
    let hook_id = hook["id"].as_str().unwrap();
    d.check(
        "delete",
        "/v1/hooks/{id}",
        app.delete_as(&caller, &format!("/v1/hooks/{hook_id}"))
            .await,
    )
    .await;

    d.check(
        "post",
        "/v1/operational-webhooks",
        app.admin_post(
            "/v1/operational-webhooks",
            &json!({"url": receiver.url, "events": ["delivery.exhausted"]}),
        )
        .await,
    )
    .await;
    d.check(
        "get",
        "/v1/operational-webhooks",
        app.admin_get("/v1/operational-webhooks").await,
    )
    .await;
    d.check(
        "delete",
        "/v1/operational-webhooks/{id}",
        app.admin_delete("/v1/operational-webhooks/sub_nope").await,
    )
    .await;

    let definition = json!({
        "name": "invoice.paid",
        "description": "An invoice was paid.",
        "schema": {"type": "object", "properties": {"amount": {"type": "integer"}}},
        "examples": [{"amount": 1}],
    });
    d.check(
        "post",
        "/v1/event-types",
        app.admin_post("/v1/event-types", &definition).await,
    )
    .await;
    let replacement = json!({"description": "Paid.", "schema": {"type": "object"}});
    d.check(
        "put",
        "/v1/event-types/{name}",
        app.admin_put("/v1/event-types/invoice.paid", &replacement)
            .await,
    )
    .await;
    d.check(
        "get",
        "/v1/event-types",
        app.client
            .get(app.url("/v1/event-types"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    d.check(
        "get",
        "/v1/event-types/{name}",
        app.client
            .get(app.url("/v1/event-types/signup"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    d.check(
        "get",
        "/healthz",
        app.client.get(app.url("/healthz")).send().await.unwrap(),
    )
    .await;
    d.check(
        "get",
        "/readyz",
        app.client.get(app.url("/readyz")).send().await.unwrap(),
    )
    .await;

    // Errors have their documented shape too.
    d.check(
        "get",
        "/v1/webhooks/{id}",
        app.get_as(&caller, "/v1/webhooks/sub_nope").await,
    )
    .await;
    d.check(
        "post",
        "/v1/webhooks",
        app.post_as(&caller, "/v1/webhooks", &json!({"url": "not a url"}))
            .await,
    )
    .await;

    // Every JSON operation was checked but the webhook delete (204, no
    // body), the metrics text and this document itself.
    let mut expected = BTreeSet::new();
    for (path, item) in documented.document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            expected.insert(format!("{method} {path}"));
        }
    }
    for unchecked in [
        "delete /v1/webhooks/{id}",
        "get /metrics",
        "get /openapi.json",
    ] {
        expected.remove(unchecked);
    }
    assert_eq!(documented.checked, expected);
}

#[tokio::test]
async fn every_account_operation_and_publishing_documents_its_429() {
    let app = TestApp::spawn_with(|config| {
        config.rate_limit = 1;
        config.publish_rate_limit = 1;
    })
    .await;
    let document = app.get_public("/openapi.json").await;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let by_account = operation["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.get("api_key").is_some()));
            let publishes = method == "post" && path == "/v1/events";
            let limited = &operation["responses"]["429"];
            assert_eq!(
                limited.is_object(),
                by_account || publishes,
                "{method} {path}: 429 documented exactly where a limit applies"
            );
            if limited.is_object() {
                assert!(
                    limited["headers"]["Retry-After"].is_object(),
                    "{method} {path}"
                );
            }
        }
    }

    // Real 429s validate against what is documented.
    let mut documented = Documented {
        document,
        checked: BTreeSet::new(),
    };
    let account = app.new_account().await;
    let mut refused = None;
    for _ in 0..50 {
        let response = app.get_as(&account, "/v1/me").await;
        if response.status() == 429 {
            refused = Some(response);
            break;
        }
    }
    let refused = refused.expect("a 429 within 50 requests at 1 request/s");
    assert!(refused.headers().contains_key("retry-after"));
    documented.check("get", "/v1/me", refused).await;
    let mut refused = None;
    for _ in 0..50 {
        let response = app
            .publish(&account, "generation_complete", generation("image"))
            .await;
        if response.status() == 429 {
            refused = Some(response);
            break;
        }
        assert_eq!(response.status(), 202);
    }
    let refused = refused.expect("a 429 within 50 publishes at 1 event/s");
    documented.check("post", "/v1/events", refused).await;
}
