//! Producer-registered event types (`POST`/`PUT /v1/event-types`): checked on
//! arrival, then used for validation, filters and samples like the built-in
//! ones, kept across restarts and exported for the app generators.

use serde_json::{Value, json};

use crate::helpers::{BinaryApp, Receiver, TestApp, TestDatabase, client, expect_error, pointers};

fn invoice_paid() -> Value {
    json!({
        "name": "invoice.paid",
        "description": "An invoice was paid or refunded.",
        "schema": {
            "type": "object",
            "required": ["invoice_id", "amount", "status"],
            "properties": {
                "invoice_id": {"type": "string", "minLength": 1},
                "amount": {"type": "integer", "minimum": 0},
                "status": {"type": "string", "enum": ["paid", "refunded"]}
            }
        },
        "examples": [{"invoice_id": "inv_1", "amount": 1200, "status": "paid"}]
    })
}

fn names(types: &Value) -> Vec<&str> {
    types
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["type"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_registered_type_validates_filters_and_samples_like_a_builtin_one() {
    let app = TestApp::spawn().await;
    let created = app.admin_post("/v1/event-types", &invoice_paid()).await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["origin"], "registered");
    assert_eq!(created["schema"]["x-event-type"], "invoice.paid");
    assert!(names(&app.get_public("/v1/event-types").await).contains(&"invoice.paid"));
    let one = app.get_public("/v1/event-types/invoice.paid").await;
    assert_eq!(one["description"], "An invoice was paid or refunded.");

    let account = app.new_account().await;
    let samples: Value = app
        .get_as(&account, "/v1/events?type=invoice.paid")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(samples[0]["invoice_id"], "inv_1");
    assert_eq!(samples[0]["event"], "invoice.paid");

    let typo = app
        .post_as(
            &account,
            "/v1/webhooks",
            &json!({"url": "http://127.0.0.1:9/", "events": ["invoice.paid"],
                    "filter": {"status": ["pending"]}}),
        )
        .await;
    let error = expect_error(typo, 422, "invalid_subscription").await;
    assert_eq!(pointers(&error), ["/filter/status"]);

    let receiver = Receiver::start().await;
    app.create_webhook(
        &account,
        json!({"url": receiver.url, "events": ["invoice.paid"], "filter": {"status": ["refunded"]}}),
    )
    .await;
    let bad = app
        .publish(
            &account,
            "invoice.paid",
            json!({"invoice_id": "", "amount": -5}),
        )
        .await;
    let error = expect_error(bad, 422, "schema_violation").await;
    let mut at = pointers(&error);
    at.sort();
    assert_eq!(at, ["/data/amount", "/data/invoice_id", "/data/status"]);

    app.publish_accepted(
        &account,
        "invoice.paid",
        json!({"invoice_id": "inv_2", "amount": 5, "status": "paid"}),
    )
    .await;
    app.publish_accepted(
        &account,
        "invoice.paid",
        json!({"invoice_id": "inv_3", "amount": 5, "status": "refunded"}),
    )
    .await;
    let delivered = receiver
        .wait_for(1, std::time::Duration::from_secs(10))
        .await;
    assert_eq!(delivered[0].json()["invoice_id"], "inv_3");
    receiver
        .assert_quiet(1, std::time::Duration::from_millis(500))
        .await;
}

#[tokio::test]
async fn bad_definitions_get_clear_errors_and_change_nothing() {
    let app = TestApp::spawn().await;
    let before = app.get_public("/v1/event-types").await;

    let anonymous = client()
        .post(app.url("/v1/event-types"))
        .json(&invoice_paid())
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let account = app.new_account().await;
    let not_admin = app
        .post_as(&account, "/v1/event-types", &invoice_paid())
        .await;
    assert_eq!(not_admin.status(), 401);

    let cases = [
        ("/name", json!({"name": "Invoice Paid"})),
        ("/name", json!({"name": null})),
        ("/description", json!({"description": "  "})),
        ("/schema/type", json!({"schema": {"type": "array"}})),
        (
            "/schema/properties/amount/type",
            json!({"schema": {"type": "object", "properties": {"amount": {"type": "integr"}}}}),
        ),
        (
            "/examples/0/amount",
            json!({"examples": [{"invoice_id": "i", "amount": -1, "status": "paid"}]}),
        ),
    ];
    for (pointer, change) in cases {
        let mut body = invoice_paid();
        for (key, value) in change.as_object().unwrap() {
            if value.is_null() {
                body.as_object_mut().unwrap().remove(key);
            } else {
                body[key] = value.clone();
            }
        }
        let response = app.admin_post("/v1/event-types", &body).await;
        assert_eq!(response.status(), 422, "{pointer}");
        let error = response.json::<Value>().await.unwrap()["error"].clone();
        assert!(
            pointers(&error).iter().any(|p| p == pointer),
            "{pointer}: {error}"
        );
    }

    let mut builtin = invoice_paid();
    builtin["name"] = json!("signup");
    let clash = app.admin_post("/v1/event-types", &builtin).await;
    expect_error(clash, 409, "event_type_exists").await;
    let replace_builtin = app.admin_put("/v1/event-types/signup", &builtin).await;
    expect_error(replace_builtin, 409, "event_type_exists").await;
    let replace_unknown = app
        .admin_put("/v1/event-types/invoice.paid", &invoice_paid())
        .await;
    expect_error(replace_unknown, 404, "not_found").await;

    assert_eq!(app.get_public("/v1/event-types").await, before);
    let unknown = app.publish(&account, "invoice.paid", json!({})).await;
    expect_error(unknown, 422, "unknown_event_type").await;

    assert_eq!(
        app.admin_post("/v1/event-types", &invoice_paid())
            .await
            .status(),
        201
    );
    let twice = app.admin_post("/v1/event-types", &invoice_paid()).await;
    expect_error(twice, 409, "event_type_exists").await;
}

#[tokio::test]
async fn replacing_a_type_changes_what_is_accepted() {
    let app = TestApp::spawn().await;
    app.admin_post("/v1/event-types", &invoice_paid()).await;
    let mut stricter = invoice_paid();
    stricter["schema"]["required"] = json!(["invoice_id", "amount", "status", "currency"]);
    stricter["schema"]["properties"]["currency"] =
        json!({"type": "string", "pattern": "^[A-Z]{3}$"});
    stricter["examples"][0]["currency"] = json!("EUR");
    let renamed = {
        let mut body = stricter.clone();
        body["name"] = json!("invoice.settled");
        app.admin_put("/v1/event-types/invoice.paid", &body).await
    };
    expect_error(renamed, 422, "invalid_event_type").await;
    let replaced = app
        .admin_put("/v1/event-types/invoice.paid", &stricter)
        .await;
    assert_eq!(replaced.status(), 200);

    let account = app.new_account().await;
    let old_shape = app
        .publish(
            &account,
            "invoice.paid",
            json!({"invoice_id": "i", "amount": 1, "status": "paid"}),
        )
        .await;
    let error = expect_error(old_shape, 422, "schema_violation").await;
    assert_eq!(pointers(&error), ["/data/currency"]);
    app.publish_accepted(
        &account,
        "invoice.paid",
        json!({"invoice_id": "i", "amount": 1, "status": "paid", "currency": "EUR"}),
    )
    .await;
}

#[tokio::test]
async fn registered_types_survive_a_restart_and_export_for_the_generators() {
    let database = TestDatabase::new();
    let mut first = BinaryApp::start(&database, &[]);
    let created = first
        .api()
        .admin_post("/v1/event-types", &invoice_paid())
        .await;
    assert_eq!(created.status(), 201);
    assert!(first.terminate().success());

    let second = BinaryApp::start(&database, &[]);
    let api = second.api();
    let account = api.new_account().await;
    let invalid = api
        .publish(&account, "invoice.paid", json!({"amount": "lots"}))
        .await;
    expect_error(invalid, 422, "schema_violation").await;

    let out = database.dir.path().join("schemas");
    let exported = std::process::Command::new(env!("CARGO_BIN_EXE_hookbridge"))
        .args(["schemas", "export", "--from", &second.address, "--dir"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(exported.status.success(), "{exported:?}");
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("invoice.paid.json")).unwrap())
            .unwrap();
    assert_eq!(file["x-event-type"], "invoice.paid");
    assert_eq!(file["examples"][0]["invoice_id"], "inv_1");
    assert!(out.join("zip.completed.json").exists());
}
