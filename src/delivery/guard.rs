//! The target guard: deliveries go only to public HTTPS endpoints, never to
//! an address IANA's special-purpose registries call not globally reachable
//! (loopback, private, link-local and cloud metadata, CGNAT, NAT64 of those,
//! and the rest: see `special_addresses.rs`), unless the operator allows
//! private targets for local development.
//!
//! URLs are checked when a subscription is registered and again when sending:
//! IP literals by [`TargetGuard::check_syntax`], host names by the
//! [`GuardedResolver`] the HTTP client connects through, so a DNS answer that
//! changes after registration cannot reach a forbidden address.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::client::legacy::connect::dns::Name;
use url::{Host, Url};

/// The longest target URL accepted.
const MAX_URL_LENGTH: usize = 2048;
/// How long registration waits for DNS before accepting the name unresolved.
const REGISTRATION_DNS_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a target URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Not an absolute URL.
    #[error("not a valid absolute URL: {0}")]
    Malformed(String),
    /// Not https (or http when private targets are allowed).
    #[error("the URL must use https (got {0}:)")]
    Scheme(String),
    /// Credentials in the URL.
    #[error(
        "the URL must not contain a user name or password; send credentials as a custom header"
    )]
    Credentials,
    /// Too long.
    #[error("the URL is longer than {MAX_URL_LENGTH} characters")]
    TooLong,
    /// The host is, or resolves to, an address deliveries may not reach.
    #[error(
        "the URL's host {host} is a {reason} address ({ip}); deliveries only go to public addresses"
    )]
    Forbidden {
        /// The host as written.
        host: String,
        /// The offending address.
        ip: IpAddr,
        /// What kind of address it is.
        reason: &'static str,
    },
}

/// Checks target URLs against the policy.
#[derive(Debug, Clone, Copy)]
pub struct TargetGuard {
    allow_private: bool,
}

impl TargetGuard {
    /// A guard; `allow_private` permits http and private addresses.
    pub fn new(allow_private: bool) -> Self {
        Self { allow_private }
    }

    /// Whether private targets are allowed (development mode).
    pub fn allows_private(&self) -> bool {
        self.allow_private
    }

    /// Check what can be checked without DNS: syntax, scheme, credentials and
    /// IP-literal hosts (including decimal, octal and hex IPv4 spellings,
    /// which URL parsing normalises).
    pub fn check_syntax(&self, raw: &str) -> Result<Url, TargetError> {
        if raw.len() > MAX_URL_LENGTH {
            return Err(TargetError::TooLong);
        }
        let url = Url::parse(raw).map_err(|e| TargetError::Malformed(e.to_string()))?;
        let scheme_ok = match url.scheme() {
            "https" => true,
            "http" => self.allow_private,
            _ => false,
        };
        if !scheme_ok {
            return Err(TargetError::Scheme(url.scheme().to_owned()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(TargetError::Credentials);
        }
        let ip = match url.host() {
            None => return Err(TargetError::Malformed("the URL has no host".into())),
            Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            Some(Host::Domain(_)) => None,
        };
        if let Some(ip) = ip {
            self.check_ip(url.host_str().unwrap_or_default(), ip)?;
        }
        Ok(url)
    }

    /// Full registration check: syntax, then the addresses the host name
    /// resolves to now. A name that does not resolve (yet) is accepted; it is
    /// checked again on every send.
    pub async fn check(&self, raw: &str) -> Result<Url, TargetError> {
        let url = self.check_syntax(raw)?;
        if self.allow_private {
            return Ok(url);
        }
        if let Some(Host::Domain(domain)) = url.host() {
            let port = url.port_or_known_default().unwrap_or(443);
            let lookup = tokio::net::lookup_host((domain, port));
            if let Ok(Ok(addresses)) = tokio::time::timeout(REGISTRATION_DNS_TIMEOUT, lookup).await
            {
                for address in addresses {
                    self.check_ip(domain, address.ip())?;
                }
            }
        }
        Ok(url)
    }

    fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), TargetError> {
        match forbidden_reason(ip) {
            Some(reason) if !self.allow_private => Err(TargetError::Forbidden {
                host: host.to_owned(),
                ip,
                reason,
            }),
            _ => Ok(()),
        }
    }

    /// The DNS resolver the HTTP client must use: the system's, keeping only
    /// public addresses unless private targets are allowed.
    pub fn resolver(&self) -> GuardedResolver {
        GuardedResolver {
            allow_private: self.allow_private,
        }
    }
}

/// What kind of non-public address `ip` is (the name of its block in
/// IANA's special-purpose registries), or `None` for a public one.
pub fn forbidden_reason(ip: IpAddr) -> Option<&'static str> {
    super::special_addresses::refusal(ip)
}

/// Resolves host names for the delivery client and, unless private targets
/// are allowed, drops every address the guard forbids; a name left with none
/// fails the attempt.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    allow_private: bool,
}

/// Why a host name gave no address to connect to.
type ResolveError = Box<dyn std::error::Error + Send + Sync>;

impl GuardedResolver {
    /// The addresses `host` may be reached at.
    pub async fn resolve(self, host: String) -> Result<Vec<SocketAddr>, ResolveError> {
        let resolved = tokio::net::lookup_host((host.as_str(), 0)).await?;
        let allowed: Vec<SocketAddr> = resolved
            .filter(|address| self.allow_private || forbidden_reason(address.ip()).is_none())
            .collect();
        if allowed.is_empty() && self.allow_private {
            return Err(format!("{host} resolves to no address").into());
        }
        if allowed.is_empty() {
            return Err(format!("{host} resolves only to non-public addresses").into());
        }
        Ok(allowed)
    }
}

impl tower_service::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = ResolveError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, ResolveError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ResolveError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let resolver = *self;
        let host = name.as_str().to_owned();
        Box::pin(async move { Ok(resolver.resolve(host).await?.into_iter()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(raw: &str) -> bool {
        TargetGuard::new(false).check_syntax(raw).is_err()
    }

    #[test]
    fn refuses_non_public_literals_in_every_spelling() {
        for raw in [
            "https://127.0.0.1/",
            "https://2130706433/",
            "https://0177.0.0.1/",
            "https://0x7f.1/",
            "https://10.1.2.3/",
            "https://172.16.0.1/",
            "https://192.168.1.1/",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://[::1]/",
            "https://[fc00::1]/",
            "https://[fd12:3456::1]/",
            "https://[fe80::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::ffff:10.0.0.1]/",
            "https://[64:ff9b::a00:1]/",
            "http://example.com/",
            "ftp://example.com/",
            "file:///etc/passwd",
            "https://user:pass@example.com/",
            "not a url",
        ] {
            assert!(refused(raw), "{raw} should be refused");
        }
    }

    #[test]
    fn accepts_public_https() {
        for raw in [
            "https://93.184.216.34/hook",
            "https://[2606:4700::1111]/",
            "https://example.com/x?y=1",
        ] {
            assert!(!refused(raw), "{raw} should be accepted");
        }
    }

    #[tokio::test]
    async fn the_send_time_resolver_drops_non_public_addresses() {
        let error = TargetGuard::new(false)
            .resolver()
            .resolve("localhost".into())
            .await
            .expect_err("localhost is refused");
        assert!(error.to_string().contains("non-public"), "{error}");
        let allowed = TargetGuard::new(true)
            .resolver()
            .resolve("localhost".into())
            .await
            .expect("development mode resolves localhost");
        assert!(allowed.iter().any(|a| a.ip().is_loopback()), "{allowed:?}");
    }

    #[tokio::test]
    async fn registration_refuses_names_that_resolve_to_loopback() {
        let guard = TargetGuard::new(false);
        let refused = guard.check("https://localhost:8443/hook").await;
        assert!(
            matches!(refused, Err(TargetError::Forbidden { .. })),
            "{refused:?}"
        );
    }

    #[test]
    fn development_mode_allows_http_and_loopback() {
        let guard = TargetGuard::new(true);
        assert!(guard.check_syntax("http://127.0.0.1:9000/hook").is_ok());
        assert!(guard.check_syntax("ftp://127.0.0.1/").is_err());
    }
}
