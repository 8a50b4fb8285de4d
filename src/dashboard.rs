//! The web dashboard: one static page (HTML, a stylesheet and one ES module,
//! all embedded in the binary) served at `/`. It signs in with an account API
//! key, keeps it in the tab's session storage and calls the same `/v1` API as
//! any other client, so it can do nothing a key cannot.

use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderName, X_CONTENT_TYPE_OPTIONS};
use axum::response::IntoResponse;
use axum::routing::get;

/// The page itself.
const INDEX_HTML: &str = include_str!("../dashboard/assets/index.html");
/// The page's only script.
const APP_JS: &str = include_str!("../dashboard/assets/app.js");
/// The page's only stylesheet.
const APP_CSS: &str = include_str!("../dashboard/assets/app.css");

/// Same-origin only: no inline script or style, no CDN, no framing, and the
/// API as the one place the page may talk to.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// The dashboard's routes: `/` and its two assets under `/dashboard/`.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/dashboard/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/dashboard/app.css",
            get(|| async { asset("text/css; charset=utf-8", APP_CSS) }),
        )
}

/// One embedded file with the headers every dashboard response carries.
/// `no-cache` makes the browser revalidate, so an upgraded binary's page is
/// never mixed with an old script.
fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, content_type),
            (CACHE_CONTROL, "no-cache"),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (
                HeaderName::from_static("content-security-policy"),
                CONTENT_SECURITY_POLICY,
            ),
            (HeaderName::from_static("referrer-policy"), "no-referrer"),
            (HeaderName::from_static("x-frame-options"), "DENY"),
        ],
        body,
    )
}
