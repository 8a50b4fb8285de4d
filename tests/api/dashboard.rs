//! The dashboard as a browser receives it: the page and its two assets
//! served at `/`, same-origin only, under a strict Content-Security-Policy.
//! (What the page does is tested in a real browser by `dashboard/test/`.)

use reqwest::StatusCode;

use crate::helpers::{TestApp, expect_error};

/// The three files the page consists of, with their content types.
const ASSETS: [(&str, &str); 3] = [
    ("/", "text/html; charset=utf-8"),
    ("/dashboard/app.js", "text/javascript; charset=utf-8"),
    ("/dashboard/app.css", "text/css; charset=utf-8"),
];

#[tokio::test]
async fn the_page_and_its_assets_are_served_from_the_binary_with_a_strict_policy() {
    let app = TestApp::spawn().await;
    let mut page = String::new();
    for (path, content_type) in ASSETS {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers().clone();
        let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(
            header("content-type").as_deref(),
            Some(content_type),
            "{path}"
        );
        assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"));
        assert_eq!(header("x-frame-options").as_deref(), Some("DENY"));
        assert_eq!(header("referrer-policy").as_deref(), Some("no-referrer"));
        let policy = header("content-security-policy").expect("a CSP on every dashboard file");
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(policy.contains(directive), "{path}: {policy}");
        }
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        let body = response.text().await.unwrap();
        assert!(body.len() > 200, "{path} is the real file");
        // No CDN, font service or other origin: everything is on this service.
        for external in ["http://", "https://", "//cdn", "@import"] {
            let hits: Vec<&str> = body.lines().filter(|l| l.contains(external)).collect();
            let allowed =
                |line: &&str| line.contains("placeholder:") || line.contains("example.com");
            assert!(
                hits.iter().all(allowed),
                "{path} refers to another origin: {hits:?}"
            );
        }
        if path == "/" {
            page = body;
        }
    }
    assert!(page.contains(r#"<script type="module" src="/dashboard/app.js"></script>"#));
    assert!(page.contains(r#"<link rel="stylesheet" href="/dashboard/app.css">"#));
    assert!(
        !page.contains("<script>"),
        "no inline script: the CSP would refuse it"
    );
}

#[tokio::test]
async fn other_paths_under_the_dashboard_are_json_404s() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(app.url("/dashboard/missing.js"))
        .send()
        .await
        .unwrap();
    expect_error(response, 404, "not_found").await;
}
