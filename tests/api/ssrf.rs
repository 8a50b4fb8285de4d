//! The target guard at registration, with private targets not allowed.

use serde_json::json;

use crate::helpers::{TestApp, expect_error};

#[tokio::test]
async fn private_and_non_https_targets_are_refused_at_registration() {
    let app = TestApp::spawn_with(|c| c.allow_private_targets = false).await;
    let account = app.new_account().await;
    for url in [
        "http://example.com/hook",
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://2130706433/hook",
        "https://0177.0.0.1/hook",
        "https://10.0.0.8/hook",
        "https://192.168.0.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://100.100.100.200/",
        "https://0.0.0.0/",
        "https://[::1]/",
        "https://[fd00::1]/",
        "https://[::ffff:127.0.0.1]/",
        "file:///etc/passwd",
        "gopher://example.com/",
    ] {
        let error = expect_error(
            app.post_as(&account, "/v1/webhooks", &json!({"url": url}))
                .await,
            422,
            "invalid_subscription",
        )
        .await;
        assert_eq!(error["details"][0]["pointer"], "/url", "{url}");
        let error = expect_error(
            app.post_as(
                &account,
                "/v1/hooks",
                &json!({"hookUrl": url, "event": "signup"}),
            )
            .await,
            422,
            "invalid_subscription",
        )
        .await;
        assert_eq!(error["details"][0]["pointer"], "/hookUrl", "{url}");
    }
    let accepted = app
        .post_as(
            &account,
            "/v1/webhooks",
            &json!({"url": "https://93.184.216.34/hook"}),
        )
        .await;
    assert_eq!(accepted.status(), 201);
}
