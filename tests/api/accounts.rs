//! Accounts, API keys and authentication.

use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, TestApp, expect_error};

#[tokio::test]
async fn admin_routes_need_the_admin_key() {
    let app = TestApp::spawn().await;
    let anonymous = app
        .client
        .post(app.url("/v1/accounts"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    expect_error(anonymous, 401, "unauthorized").await;
    let wrong = app
        .client
        .post(app.url("/v1/accounts"))
        .bearer_auth("not-the-admin-key-at-all")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    expect_error(wrong, 401, "unauthorized").await;
    let account = app.new_account().await;
    let as_account = app
        .client
        .post(app.url("/v1/events"))
        .bearer_auth(&account.key)
        .json(&json!({"type": "signup", "account_id": account.id, "data": {}}))
        .send()
        .await
        .unwrap();
    expect_error(as_account, 401, "unauthorized").await;
}

#[tokio::test]
async fn an_account_can_be_created_without_a_body() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url("/v1/accounts"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert!(body["id"].as_str().unwrap().starts_with("acc_"));
}

#[tokio::test]
async fn api_keys_are_shown_once_and_work_as_x_api_key_or_bearer() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    assert!(account.key.starts_with("hb_"));
    let me: Value = app.get_as(&account, "/v1/me").await.json().await.unwrap();
    assert_eq!(me["id"], account.id.as_str());
    assert_eq!(me["name"], "Test account");
    let bearer = app
        .client
        .get(app.url("/v1/me"))
        .bearer_auth(&account.key)
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 200);
    let missing = app.client.get(app.url("/v1/me")).send().await.unwrap();
    expect_error(missing, 401, "unauthorized").await;
    let wrong = app
        .client
        .get(app.url("/v1/me"))
        .header("X-Api-Key", format!("{}x", account.key))
        .send()
        .await
        .unwrap();
    expect_error(wrong, 401, "unauthorized").await;
}

#[tokio::test]
async fn the_key_prefix_is_configurable() {
    let app = TestApp::spawn_with(|c| c.key_prefix = "zsky".into()).await;
    let account = app.new_account().await;
    assert!(account.key.starts_with("zsky_"), "{}", account.key);
}

#[tokio::test]
async fn keys_for_unknown_accounts_are_refused() {
    let app = TestApp::spawn().await;
    let response = app
        .admin_post("/v1/accounts/acc_nope/api-keys", &json!({}))
        .await;
    expect_error(response, 404, "not_found").await;
}
