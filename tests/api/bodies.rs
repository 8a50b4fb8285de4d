//! Generated bodies for the subscription doors (`POST /v1/webhooks`,
//! `POST /v1/hooks`): fields of the right names with values valid, invalid
//! and random, plus unknown fields. Every answer is 201 or a JSON 4xx, never
//! a 5xx, and a refused body stores nothing (a proptest corpus, run against
//! the real router).

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::{Map, Value, json};

use crate::helpers::TestApp;

fn any_json() -> impl Strategy<Value = Value> {
    let scalar = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    scalar.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
            prop::collection::btree_map(".{0,8}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A value for the field `name`: usually a plausible one, sometimes junk.
fn value_for(name: &'static str) -> BoxedStrategy<Value> {
    let plausible: BoxedStrategy<Value> = match name {
        "url" | "hookUrl" | "target_url" => prop_oneof![
            6 => Just(json!("http://127.0.0.1:9/hook")),
            1 => Just(json!("https://example.com/hook")),
            1 => Just(json!("ftp://example.com/")),
            1 => Just(json!("not a url")),
            1 => Just(json!("")),
        ]
        .boxed(),
        "events" => prop_oneof![
            3 => Just(json!(["generation_complete"])),
            2 => Just(json!(["*"])),
            1 => Just(json!([])),
            1 => Just(json!(["no_such_type"])),
            1 => Just(json!("signup")),
        ]
        .boxed(),
        "event" => prop_oneof![
            3 => Just(json!("signup")),
            1 => Just(json!("*")),
            2 => Just(json!("zip.completed")),
            1 => Just(json!("nope")),
        ]
        .boxed(),
        "filter" => prop_oneof![
            Just(json!({"type": "video"})),
            Just(json!({"type": ["image", "vidoe"]})),
            Just(json!({"object.status": "failed"})),
            Just(json!({"": 1})),
            Just(json!({"type": {"nested": true}})),
        ]
        .boxed(),
        "format" => prop_oneof![
            Just(json!("flat")),
            Just(json!("envelope")),
            Just(json!("xml"))
        ]
        .boxed(),
        "source" => prop_oneof![
            Just(json!("zapier")),
            Just(json!("make")),
            Just(json!("n8n")),
            Just(json!("fax"))
        ]
        .boxed(),
        "headers" => prop_oneof![
            Just(json!({"Authorization": "Bearer x"})),
            Just(json!({"Content-Type": "text/plain"})),
            Just(json!({"bad header": "x"})),
            Just(json!({"X-Ok": "line\nbreak"})),
        ]
        .boxed(),
        "secret" => prop_oneof![
            Just(json!("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")),
            Just(json!("short")),
        ]
        .boxed(),
        _ => ".{0,600}".prop_map(Value::from).boxed(),
    };
    prop_oneof![8 => plausible, 1 => any_json()].boxed()
}

/// A body for a door taking the fields `names`: each present half of the
/// time, and now and then a field the door does not know.
fn body(names: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let fields: Vec<BoxedStrategy<Option<(String, Value)>>> = names
        .iter()
        .map(|&name| {
            let presence = if matches!(name, "url" | "event") {
                0.9
            } else {
                0.4
            };
            prop::option::weighted(
                presence,
                value_for(name).prop_map(move |v| (name.to_owned(), v)),
            )
            .boxed()
        })
        .collect();
    (
        fields,
        prop::option::weighted(0.1, ("[a-z]{1,6}", any_json())),
    )
        .prop_map(|(fields, extra)| {
            let mut body: Map<String, Value> = fields.into_iter().flatten().collect();
            body.extend(extra);
            Value::Object(body)
        })
}

const WEBHOOK_FIELDS: &[&str] = &[
    "url",
    "events",
    "filter",
    "format",
    "headers",
    "secret",
    "description",
];
const HOOK_FIELDS: &[&str] = &["hookUrl", "target_url", "url", "event", "filter", "source"];

#[tokio::test]
async fn generated_subscription_bodies_get_201_or_a_json_4xx_and_refusals_store_nothing() {
    const CASES: usize = 150;
    let app = TestApp::spawn_with(|config| config.rate_limit = 0).await;
    let account = app.new_account().await;
    let mut runner = TestRunner::deterministic();
    let doors = [
        ("/v1/webhooks", body(WEBHOOK_FIELDS).boxed()),
        ("/v1/hooks", body(HOOK_FIELDS).boxed()),
    ];
    let (mut created, mut refused) = (0, 0);
    for _ in 0..CASES {
        for (path, strategy) in &doors {
            let body = strategy.new_tree(&mut runner).unwrap().current();
            let response = app.post_as(&account, path, &body).await;
            let status = response.status().as_u16();
            let answer: Value = response
                .json()
                .await
                .unwrap_or_else(|_| panic!("POST {path} {body}: a non-JSON {status}"));
            match status {
                201 => created += 1,
                400..=499 => {
                    assert_ne!(status, 429, "the rate limit is off here");
                    assert!(answer["error"]["code"].is_string(), "{answer}");
                    refused += 1;
                }
                _ => panic!("POST {path} {body}: {status} {answer}"),
            }
        }
    }
    let listed: Value = app
        .get_as(&account, "/v1/webhooks?limit=250")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["data"].as_array().unwrap().len(),
        created,
        "exactly the accepted bodies are stored"
    );
    println!("generated bodies: {created} created, {refused} refused with a JSON 4xx");
    assert!(
        created > 10 && refused > 10,
        "{created} created, {refused} refused"
    );
}
