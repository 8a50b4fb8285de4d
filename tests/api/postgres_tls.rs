//! PostgreSQL over TLS: against a server that refuses every TCP client
//! without TLS, a node that trusts the server's CA (`--database-ca-file`)
//! starts and works; one that asks for no TLS, or does not trust the
//! certificate, does not start and says why.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{ADMIN_KEY, BinaryApp, TestDatabase};

/// Start `hookbridge serve` expecting it to fail; its error output.
fn start_fails(database_url: &str, encryption_key: &str, extra: &[&str]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hookbridge"))
        .arg("serve")
        .args(["--listen", "127.0.0.1:0", "--admin-key", ADMIN_KEY])
        .args([
            "--database-url",
            database_url,
            "--encryption-key",
            encryption_key,
        ])
        .args(extra)
        .env("HOOKBRIDGE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the hookbridge binary");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("hookbridge kept running on {database_url} {extra:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success());
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn postgres_is_reached_only_over_verified_tls() {
    let (database, ca_file) = TestDatabase::postgres_tls_only();
    let ca = ca_file.to_str().unwrap();
    let key = database.encryption_key.clone().unwrap();

    // Trusting the CA: the node starts, and stores and reads over TLS (the
    // server rejects any other TCP client).
    let app = BinaryApp::start(&database, &["--database-ca-file", ca]);
    let api = app.api();
    let account = api.new_account().await;
    let me: serde_json::Value = api.get_as(&account, "/v1/me").await.json().await.unwrap();
    assert_eq!(me["id"], account.id.as_str());
    let ready = api.client.get(api.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    drop(app);

    // Asking for no TLS: the server refuses the connection.
    let plain = database.url.replace("sslmode=require", "sslmode=disable");
    let refused = start_fails(&plain, &key, &["--database-ca-file", ca]);
    assert!(refused.contains("no encryption"), "{refused}");

    // Not trusting the server's CA: the handshake fails before anything is
    // sent, and the error says what to do.
    let untrusted = start_fails(&database.url, &key, &[]);
    assert!(untrusted.contains("certificate"), "{untrusted}");
    assert!(untrusted.contains("--database-ca-file"), "{untrusted}");

    // A CA file that is not PEM is refused by name.
    let bogus = database.dir.path().join("bogus.pem");
    std::fs::write(&bogus, "not a certificate").unwrap();
    let unreadable = start_fails(
        &database.url,
        &key,
        &["--database-ca-file", bogus.to_str().unwrap()],
    );
    assert!(unreadable.contains("bogus.pem"), "{unreadable}");
}
