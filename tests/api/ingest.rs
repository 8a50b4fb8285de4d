//! Publishing events: validation, bad input, idempotency.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, Receiver, TestApp, expect_error, generation, pointers};

/// Nothing of `account`'s was stored: samples still fall back to examples.
async fn assert_no_events_stored(app: &TestApp, account: &crate::helpers::TestAccount) {
    let recent: Vec<Value> = app
        .get_as(account, "/v1/events?type=generation_complete&limit=100")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        recent
            .iter()
            .all(|e| e["id"].as_str().unwrap().starts_with("evt_example_")),
        "{recent:?}"
    );
}

#[tokio::test]
async fn schema_violations_get_422_with_one_pointer_each_and_store_nothing() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let mut data = generation("gif");
    data.as_object_mut().unwrap().remove("output_url");
    data["credits_used"] = json!("one");
    let error = expect_error(
        app.publish(&account, "generation_complete", data).await,
        422,
        "schema_violation",
    )
    .await;
    let pointers = pointers(&error);
    for expected in ["/data/type", "/data/output_url", "/data/credits_used"] {
        assert!(
            pointers.iter().any(|p| p == expected),
            "{expected} missing from {pointers:?}"
        );
    }
    assert_eq!(pointers.len(), 3, "{error}");
    assert_no_events_stored(&app, &account).await;
}

#[tokio::test]
async fn unknown_types_and_accounts_are_refused() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let error = expect_error(
        app.publish(&account, "order_shipped", json!({})).await,
        422,
        "unknown_event_type",
    )
    .await;
    assert_eq!(error["details"][0]["pointer"], "/type");
    let response = app
        .admin_post(
            "/v1/events",
            &json!({"type": "signup", "account_id": "acc_missing", "data": {"email": "a@b.c", "plan": "free"}}),
        )
        .await;
    expect_error(response, 404, "not_found").await;
}

#[tokio::test]
async fn bad_input_gets_a_clear_json_error_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let receiver = Receiver::start().await;
    app.create_webhook(&account, json!({"url": receiver.url}))
        .await;
    let post = |body: Vec<u8>, content_type: &'static str| {
        app.client
            .post(app.url("/v1/events"))
            .bearer_auth(ADMIN_KEY)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    expect_error(
        post(b"{\"type\": ".to_vec(), "application/json")
            .await
            .unwrap(),
        400,
        "malformed_json",
    )
    .await;
    expect_error(
        post(vec![0xff, 0xfe, b'{'], "application/json")
            .await
            .unwrap(),
        400,
        "malformed_json",
    )
    .await;
    let valid = json!({"type": "generation_complete", "account_id": account.id, "data": generation("image")});
    expect_error(
        post(valid.to_string().into_bytes(), "text/plain")
            .await
            .unwrap(),
        415,
        "unsupported_media_type",
    )
    .await;
    let mut huge = valid.clone();
    huge["data"]["padding"] = json!("x".repeat(2 * 1024 * 1024));
    expect_error(
        post(huge.to_string().into_bytes(), "application/json")
            .await
            .unwrap(),
        413,
        "payload_too_large",
    )
    .await;
    let mut unknown_field = valid.clone();
    unknown_field["colour"] = json!("red");
    let error = expect_error(
        post(unknown_field.to_string().into_bytes(), "application/json")
            .await
            .unwrap(),
        422,
        "invalid_request",
    )
    .await;
    assert!(
        error["message"].as_str().unwrap().contains("colour"),
        "{error}"
    );
    assert_no_events_stored(&app, &account).await;
    receiver.assert_quiet(0, Duration::from_millis(300)).await;
}

#[tokio::test]
async fn publishing_the_same_id_twice_delivers_once() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let receiver = Receiver::start().await;
    app.create_webhook(&account, json!({"url": receiver.url}))
        .await;
    let body = json!({"type": "generation_complete", "account_id": account.id,
                      "data": generation("image"), "id": "evt_order_42"});
    let first = app.admin_post("/v1/events", &body).await;
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["id"], "evt_order_42");
    let second = app.admin_post("/v1/events", &body).await;
    assert_eq!(second.status(), 202);
    let second: Value = second.json().await.unwrap();
    assert_eq!(second["id"], "evt_order_42");
    assert_eq!(second["duplicate"], true);
    let got = receiver.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got[0].json()["id"], "evt_order_42");
    receiver.assert_quiet(1, Duration::from_millis(500)).await;
}

/// Publishes arriving together may share a transaction (group commit, on
/// either backend): each still gets its own answer, one id published many times at
/// once is stored and delivered once, and an unknown account fails only its
/// own publish.
#[tokio::test]
async fn publishes_arriving_together_are_each_answered_on_their_own() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let receiver = Receiver::start().await;
    app.create_webhook(&account, json!({"url": receiver.url}))
        .await;
    let body = |account_id: &str, id: String| {
        json!({"type": "generation_complete", "account_id": account_id,
               "data": generation("image"), "id": id})
    };
    let mut bodies = Vec::new();
    for i in 0..60 {
        bodies.push(match i % 3 {
            0 => body(&account.id, "evt_same".to_owned()),
            1 => body(&account.id, format!("evt_distinct_{i}")),
            _ => body("acc_missing", format!("evt_orphan_{i}")),
        });
    }
    let answers = futures_util::future::join_all(bodies.iter().map(|b| async {
        let response = app.admin_post("/v1/events", b).await;
        let status = response.status().as_u16();
        (status, response.json::<Value>().await.unwrap())
    }))
    .await;
    let mut stored_once = 0;
    for (i, (status, answer)) in answers.iter().enumerate() {
        match i % 3 {
            0 => {
                assert_eq!(*status, 202, "{answer}");
                assert_eq!(answer["id"], "evt_same");
                if answer["duplicate"] == false {
                    stored_once += 1;
                    assert_eq!(answer["deliveries"], 1);
                }
            }
            1 => {
                assert_eq!(*status, 202, "{answer}");
                assert_eq!(answer["id"], format!("evt_distinct_{i}"));
                assert_eq!(answer["duplicate"], false);
                assert_eq!(answer["deliveries"], 1);
            }
            _ => {
                assert_eq!(*status, 404, "{answer}");
                assert_eq!(answer["error"]["code"], "not_found", "{answer}");
            }
        }
    }
    assert_eq!(stored_once, 1, "exactly one publish of evt_same stored it");
    let got = receiver.wait_for(21, Duration::from_secs(10)).await;
    let mut ids: Vec<String> = got
        .iter()
        .map(|r| r.json()["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 21, "{ids:?}");
    receiver.assert_quiet(21, Duration::from_millis(500)).await;
}

/// The PostgreSQL store's group commit itself: publishes queued together
/// land in one batch (this runtime polls every publish before the
/// committers run), where one id several times is stored once and an
/// unknown account fails alone.
#[tokio::test]
async fn postgres_group_commit_answers_each_publish_of_a_batch_on_its_own() {
    use hookbridge::domain::{EventId, Timestamp};
    use hookbridge::store::{Account, NewEvent, StoreError};

    let database = crate::helpers::TestDatabase::postgres();
    let store = database.open_store().await;
    store
        .create_account(Account {
            id: "acc_batch".into(),
            name: "batch".into(),
            created_at: Timestamp::now(),
        })
        .await
        .unwrap();
    let event = |account: &str, id: &str| NewEvent {
        id: EventId::parse(id).unwrap(),
        account_id: account.into(),
        event_type: hookbridge::domain::EventTypeName::parse("generation_complete").unwrap(),
        data: generation("image"),
        created_at: Timestamp::now(),
    };
    let events = [
        event("acc_batch", "evt_twice"),
        event("acc_missing", "evt_orphan"),
        event("acc_batch", "evt_once"),
        event("acc_batch", "evt_twice"),
    ];
    let outcomes =
        futures_util::future::join_all(events.into_iter().map(|e| store.ingest(e))).await;
    let outcome = |i: usize| outcomes[i].as_ref().unwrap();
    assert!(!outcome(0).duplicate, "the first evt_twice is stored");
    assert!(
        matches!(&outcomes[1], Err(StoreError::AccountNotFound(id)) if id == "acc_missing"),
        "{:?}",
        outcomes[1]
    );
    assert!(!outcome(2).duplicate);
    assert!(outcome(3).duplicate, "the second evt_twice is not");
    let again = store.ingest(event("acc_batch", "evt_twice")).await.unwrap();
    assert!(again.duplicate);
    let stored = store
        .recent_events(&"acc_batch".into(), None, 10)
        .await
        .unwrap()
        .len();
    assert_eq!(stored, 2);
}

#[tokio::test]
async fn generated_event_ids_are_evt_prefixed_and_bad_ids_refused() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let accepted: Value = app
        .publish_accepted(&account, "generation_complete", generation("video"))
        .await;
    assert!(accepted["id"].as_str().unwrap().starts_with("evt_"));
    let response = app
        .admin_post(
            "/v1/events",
            &json!({"type": "generation_complete", "account_id": account.id,
                    "data": generation("image"), "id": "has spaces/and slashes"}),
        )
        .await;
    let error = expect_error(response, 422, "invalid_request").await;
    assert_eq!(error["details"][0]["pointer"], "/id");
}

#[tokio::test]
async fn framework_rejections_are_json_too() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    expect_error(
        app.get_as(&account, "/v1/webhooks/%FF%FE").await,
        400,
        "bad_request",
    )
    .await;
    expect_error(
        app.get_as(&account, "/no/such/route").await,
        404,
        "not_found",
    )
    .await;
    let wrong_method = app.client.put(app.url("/v1/events")).send().await.unwrap();
    expect_error(wrong_method, 405, "method_not_allowed").await;
}

/// Hostile bodies on publish: each gets a clear JSON 4xx and nothing is
/// stored or delivered.
#[tokio::test]
async fn hostile_bodies_get_a_clear_4xx_and_store_nothing() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let receiver = Receiver::start().await;
    app.create_webhook(&account, json!({"url": receiver.url}))
        .await;
    let envelope = |data: &str| {
        format!(
            r#"{{"type": "generation_complete", "account_id": "{}", "data": {data}}}"#,
            account.id
        )
    };
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    let ten_megabytes = format!(r#"{{"padding": "{}"}}"#, "x".repeat(10 * 1024 * 1024));
    let cases: [(&str, String, u16, &str); 5] = [
        (
            "10,000 levels of nesting",
            envelope(&deep),
            400,
            "malformed_json",
        ),
        (
            "a number beyond f64",
            envelope(r#"{"type": "image", "credits_used": 1e400}"#),
            400,
            "malformed_json",
        ),
        (
            "a negative number beyond f64",
            envelope(r#"{"credits_used": -1e400}"#),
            400,
            "malformed_json",
        ),
        (
            "a 10 MB body",
            envelope(&ten_megabytes),
            413,
            "payload_too_large",
        ),
        (
            "a lone surrogate",
            envelope(r#"{"type": "\ud800"}"#),
            400,
            "malformed_json",
        ),
    ];
    for (what, body, status, code) in cases {
        let response = app
            .client
            .post(app.url("/v1/events"))
            .bearer_auth(ADMIN_KEY)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{what}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], code, "{what}: {error}");
    }
    assert_no_events_stored(&app, &account).await;
    receiver.assert_quiet(0, Duration::from_millis(300)).await;
}

/// A client that sends its request headers a byte at a time (slowloris) is
/// cut off once the header deadline passes, while other clients are served.
#[tokio::test]
async fn a_client_trickling_its_headers_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app =
        TestApp::spawn_with(|config| config.header_timeout = Duration::from_millis(500)).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&address).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut closed = false;
    for byte in b"X-Slow: 1\r\n".repeat(20) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if slow.write_all(&[byte]).await.is_err() {
            closed = true;
            break;
        }
        let mut buffer = [0u8; 256];
        match tokio::time::timeout(Duration::from_millis(1), slow.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(_)) => {
                closed = true;
                break;
            }
            Err(_) => {}
        }
        assert_eq!(
            app.client
                .get(app.url("/healthz"))
                .send()
                .await
                .unwrap()
                .status(),
            200,
            "others are served meanwhile"
        );
    }
    assert!(
        closed,
        "the trickling connection was still open after {:?}",
        started.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// NUL characters, which PostgreSQL cannot store as text, are refused with a
/// 4xx wherever a caller can send one (found by the generated bodies test on
/// PostgreSQL, where a description with a NUL was a 500).
#[tokio::test]
async fn nul_characters_get_a_4xx_wherever_they_can_be_sent() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let webhook = app
        .post_as(
            &account,
            "/v1/webhooks",
            &json!({"url": "http://127.0.0.1:9/h", "description": "a\u{0}b"}),
        )
        .await;
    expect_error(webhook, 422, "invalid_subscription").await;
    let named = app
        .admin_post("/v1/accounts", &json!({"name": "nul\u{0}name"}))
        .await;
    expect_error(named, 422, "invalid_request").await;
    for path in [
        "/v1/webhooks/a%00b",
        "/v1/webhooks?cursor=%00",
        "/v1/events/x%00/deliveries",
    ] {
        expect_error(app.get_as(&account, path).await, 400, "bad_request").await;
    }
    let publish = app
        .admin_post(
            "/v1/events",
            &json!({"type": "signup", "account_id": "acc\u{0}", "data": {"email": "a@b.c", "plan": "free"}}),
        )
        .await;
    expect_error(publish, 404, "not_found").await;
    assert_no_events_stored(&app, &account).await;
}
