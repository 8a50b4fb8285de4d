//! One delivery attempt: render the body, sign it, POST it with the pooled
//! client, and report what happened.
//!
//! The client is hyper's pooled client over rustls (the platform's
//! verifier), with host names resolved through the target guard. It follows
//! no redirects and has no retry or proxy layers: an attempt is one request,
//! and the dispatcher owns retries.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use http::{HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::guard::{GuardedResolver, TargetGuard};
use super::payload::{EventParts, render};
use super::signing::{seed_signature, standard_signature};
use crate::domain::Timestamp;
use crate::store::{AttemptResult, DeliveryJob};

/// How long one attempt may take, response body included.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long connecting to a target may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How much of a response body is kept with the attempt.
const SNIPPET_BYTES: usize = 1024;
/// The `User-Agent` of every delivery.
const AGENT: &str = concat!("Hookbridge/", env!("CARGO_PKG_VERSION"));

/// How many checked target URLs a sender keeps parsed; past this many it
/// starts afresh (a node rarely delivers to more targets than this).
const CACHED_TARGETS: usize = 4096;

/// The Standard Webhooks headers.
const WEBHOOK_ID: HeaderName = HeaderName::from_static("webhook-id");
const WEBHOOK_TIMESTAMP: HeaderName = HeaderName::from_static("webhook-timestamp");
const WEBHOOK_SIGNATURE: HeaderName = HeaderName::from_static("webhook-signature");

/// The delivery client: HTTP/1.1 or HTTP/2 (by ALPN), plain or TLS.
type DeliveryClient = Client<HttpsConnector<HttpConnector<GuardedResolver>>, Full<Bytes>>;

/// Makes delivery attempts over one pooled HTTP client.
pub struct Sender {
    client: DeliveryClient,
    guard: TargetGuard,
    signature_header: HeaderName,
    /// Target URLs that passed the guard's syntax check, parsed: parsing a
    /// URL on every attempt was 1.6% of a ten-endpoint burst's samples.
    targets: Mutex<HashMap<String, Uri>>,
}

/// Errors building the HTTP client.
#[derive(Debug, thiserror::Error)]
#[error("could not build the delivery HTTP client: {0}")]
pub struct SenderError(#[from] rustls::Error);

impl Sender {
    /// A sender whose client follows no redirects and, unless private targets
    /// are allowed, connects only to public addresses. It keeps up to
    /// `max_in_flight` idle connections per host, the most that attempts can
    /// use at once: with fewer, a burst to one host closed the surplus
    /// connections after each attempt and opened new ones for the next, and
    /// the load benchmark opened a TCP connection for every second delivery.
    pub fn new(
        guard: TargetGuard,
        signature_header: HeaderName,
        max_in_flight: usize,
    ) -> Result<Self, SenderError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut http = HttpConnector::new_with_resolver(guard.resolver());
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let https = HttpsConnectorBuilder::new()
            .try_with_platform_verifier()?
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_max_idle_per_host(max_in_flight)
            .pool_idle_timeout(Duration::from_secs(60))
            .build(https);
        Ok(Self {
            client,
            guard,
            signature_header,
            targets: Mutex::default(),
        })
    }

    /// Make one attempt at `job`.
    pub async fn attempt(&self, job: &DeliveryJob) -> AttemptResult {
        let started_at = Timestamp::now();
        let clock = Instant::now();
        let outcome = match tokio::time::timeout(ATTEMPT_TIMEOUT, self.send(job)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!(
                "timed out: no answer within {} s",
                ATTEMPT_TIMEOUT.as_secs()
            )),
        };
        let latency_ms = clock.elapsed().as_millis() as u64;
        match outcome {
            Ok(answer) => AttemptResult {
                started_at,
                status: Some(answer.status),
                latency_ms,
                response_snippet: answer.snippet,
                error: None,
                retry_after: answer.retry_after,
            },
            Err(error) => AttemptResult {
                started_at,
                status: None,
                latency_ms,
                response_snippet: String::new(),
                error: Some(error),
                retry_after: None,
            },
        }
    }

    /// The URI of the target at `url`, once the guard's syntax check passes
    /// (the addresses are checked as the connection resolves them).
    fn target(&self, url: &str) -> Result<Uri, String> {
        let known = self.targets.lock().expect("targets lock").get(url).cloned();
        if let Some(uri) = known {
            return Ok(uri);
        }
        let checked = self
            .guard
            .check_syntax(url)
            .map_err(|e| format!("target refused: {e}"))?;
        let uri = Uri::try_from(checked.as_str()).map_err(|e| format!("target refused: {e}"))?;
        let mut targets = self.targets.lock().expect("targets lock");
        if targets.len() >= CACHED_TARGETS {
            targets.clear();
        }
        targets.insert(url.to_owned(), uri.clone());
        Ok(uri)
    }

    /// The signed request for `job`.
    fn request(&self, job: &DeliveryJob) -> Result<Request<Full<Bytes>>, String> {
        let subscription = &job.subscription;
        let uri = self.target(&subscription.url)?;
        let event = &job.event;
        let body = event.bodies.get_or_render(subscription.format, || {
            let parts = EventParts {
                id: &event.id,
                event_type: &event.event_type,
                data: &event.data,
                created: event.created_at.unix_seconds(),
            };
            Bytes::from(render(subscription.format, &parts).to_string())
        });
        let now = Timestamp::now();
        let timestamp = now.unix_seconds();
        let secret = &subscription.secret;
        let previous = subscription.previous_secret_in_grace(now);
        let mut standard = standard_signature(secret, &event.id, timestamp, &body);
        if let Some(old) = previous {
            standard.push(' ');
            standard.push_str(&standard_signature(old, &event.id, timestamp, &body));
        }
        let value = |text: String| {
            HeaderValue::try_from(text).map_err(|e| format!("a delivery header is invalid: {e}"))
        };
        let mut request = Request::new(Full::new(body.clone()));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        headers.reserve(6 + subscription.headers.iter().count());
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(USER_AGENT, HeaderValue::from_static(AGENT));
        headers.insert(
            self.signature_header.clone(),
            value(seed_signature(previous.unwrap_or(secret), &body))?,
        );
        headers.insert(WEBHOOK_ID, value(event.id.clone())?);
        headers.insert(WEBHOOK_TIMESTAMP, HeaderValue::from(timestamp));
        headers.insert(WEBHOOK_SIGNATURE, value(standard)?);
        for (name, text) in subscription.headers.iter() {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| format!("the custom header {name:?} is invalid: {e}"))?;
            headers.append(name, value(text.to_owned())?);
        }
        Ok(request)
    }

    async fn send(&self, job: &DeliveryJob) -> Result<Answer, String> {
        let request = self.request(job)?;
        let response = self.client.request(request).await.map_err(describe)?;
        let status = response.status().as_u16();
        let retry_after = match status {
            429 | 503 => response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(retry_after),
            _ => None,
        };
        let mut body = response.into_body();
        let mut snippet = Vec::new();
        while snippet.len() < SNIPPET_BYTES {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Some(chunk) = frame.data_ref() {
                        snippet.extend_from_slice(chunk);
                    }
                }
                Some(Err(_)) | None => break,
            }
        }
        snippet.truncate(SNIPPET_BYTES);
        Ok(Answer {
            status,
            snippet: String::from_utf8_lossy(&snippet).into_owned(),
            retry_after,
        })
    }
}

/// What a target answered.
struct Answer {
    status: u16,
    snippet: String,
    retry_after: Option<Duration>,
}

/// A `Retry-After` value: delay seconds or an HTTP date.
fn retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// A readable cause for a failed request, including the source chain.
fn describe(error: hyper_util::client::legacy::Error) -> String {
    let kind = if error.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_or_an_http_date() {
        assert_eq!(retry_after(" 120 "), Some(Duration::from_secs(120)));
        let soon = std::time::SystemTime::now() + Duration::from_secs(90);
        let waited = retry_after(&httpdate::fmt_http_date(soon)).unwrap();
        assert!(waited > Duration::from_secs(80) && waited <= Duration::from_secs(90));
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon"), None);
    }
}
