//! Deliveries over HTTPS, through the real binary: a target whose
//! certificate chains to a CA the machine trusts gets signed deliveries; a
//! target whose certificate nobody vouches for gets none, and its attempts
//! say why.

use std::time::Duration;

use serde_json::{Value, json};
use standardwebhooks::Webhook;

use crate::helpers::{BinaryApp, Receiver, TestDatabase, eventually, generation};
use crate::postgres_server::issue_certificates;

#[tokio::test]
async fn https_targets_are_delivered_to_only_when_their_certificate_is_trusted() {
    let trusted = tempfile::tempdir().unwrap();
    let stranger = tempfile::tempdir().unwrap();
    issue_certificates(trusted.path());
    issue_certificates(stranger.path());
    let good = Receiver::start_tls(
        &trusted.path().join("server.crt"),
        &trusted.path().join("server.key"),
    )
    .await;
    let bad = Receiver::start_tls(
        &stranger.path().join("server.crt"),
        &stranger.path().join("server.key"),
    )
    .await;
    let database = TestDatabase::new();
    let node = BinaryApp::start_with_env(
        &database,
        &[("SSL_CERT_FILE", &trusted.path().join("ca.crt"))],
    );
    let app = node.api();
    let account = app.new_account().await;
    let secret = format!("whsec_{}", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    let good_hook = app
        .create_webhook(&account, json!({"url": good.url, "secret": secret}))
        .await;
    let bad_hook = app.create_webhook(&account, json!({"url": bad.url})).await;
    let published = app
        .publish_accepted(&account, "generation_complete", generation("image"))
        .await;

    let got = good.wait_for(1, Duration::from_secs(20)).await;
    let delivery = &got[0];
    assert_eq!(delivery.json()["id"], published["id"]);
    Webhook::new(&secret)
        .unwrap()
        .verify(&delivery.body, &delivery.headers)
        .expect("a valid Standard Webhooks signature over TLS");

    let bad_id = bad_hook["id"].as_str().unwrap().to_owned();
    let failed: Value = eventually(Duration::from_secs(20), || async {
        app.attempts(&account, &bad_id).await.into_iter().next()
    })
    .await;
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(failed["status"].is_null(), "{failed}");
    assert!(
        error.contains("certificate"),
        "the attempt says the certificate was refused: {error}"
    );
    assert!(bad.received().is_empty(), "no request passed the handshake");
    let good_id = good_hook["id"].as_str().unwrap().to_owned();
    let recorded: Value = eventually(Duration::from_secs(20), || async {
        app.attempts(&account, &good_id).await.into_iter().next()
    })
    .await;
    assert_eq!(recorded["status"], 200);
}

/// A target that offers HTTP/2 by ALPN gets its deliveries over HTTP/2,
/// signed as over HTTP/1.1.
#[tokio::test]
async fn a_target_offering_http2_is_delivered_to_over_http2() {
    const EVENTS: usize = 20;
    let certificates = tempfile::tempdir().unwrap();
    issue_certificates(certificates.path());
    let target = Receiver::start_tls_offering(
        &certificates.path().join("server.crt"),
        &certificates.path().join("server.key"),
        true,
    )
    .await;
    let database = TestDatabase::new();
    let node = BinaryApp::start_with_env(
        &database,
        &[("SSL_CERT_FILE", &certificates.path().join("ca.crt"))],
    );
    let app = node.api();
    let account = app.new_account().await;
    let secret = format!("whsec_{}", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    app.create_webhook(&account, json!({"url": target.url, "secret": secret}))
        .await;
    for _ in 0..EVENTS {
        app.publish_accepted(&account, "generation_complete", generation("image"))
            .await;
    }
    let got = target.wait_for(EVENTS, Duration::from_secs(20)).await;
    let verifier = Webhook::new(&secret).unwrap();
    for delivery in &got {
        assert_eq!(delivery.version, axum::http::Version::HTTP_2);
        verifier
            .verify(&delivery.body, &delivery.headers)
            .expect("a valid Standard Webhooks signature over HTTP/2");
    }
}
