//! Settings of `hookbridge serve`: flags, then environment variables, then
//! defaults (clap), each parsed into a typed value once at start so a bad
//! setting stops the service with a clear message.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use clap::Args;
use http::HeaderName;

use crate::delivery::retry::RetrySchedule;
use crate::store::sealing::EncryptionKey;

/// The address `serve` listens on when none is given.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Where the data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `sqlite://PATH`: the embedded default.
    Sqlite(PathBuf),
    /// `postgres://...`: the multi-node backend.
    Postgres(String),
}

impl FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        if let Some(path) = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err("sqlite:// needs a file path, e.g. sqlite://hookbridge.db".into());
            }
            Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
        } else if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            Ok(DatabaseUrl::Postgres(raw.to_owned()))
        } else {
            Err(format!(
                "{raw:?} is not a database URL; use sqlite://PATH or postgres://USER@HOST/DB"
            ))
        }
    }
}

impl std::fmt::Display for DatabaseUrl {
    /// The URL without any password, fit for logs and error messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            DatabaseUrl::Postgres(raw) => match url::Url::parse(raw) {
                Ok(mut parsed) => {
                    if parsed.password().is_some() {
                        let _ = parsed.set_password(Some("***"));
                    }
                    write!(f, "{parsed}")
                }
                Err(_) => f.write_str("postgres://(unparsable URL)"),
            },
        }
    }
}

fn admin_key(raw: &str) -> Result<String, String> {
    if raw.len() < 16 || !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("the admin key needs at least 16 printable characters without spaces".into());
    }
    Ok(raw.to_owned())
}

fn key_prefix(raw: &str) -> Result<String, String> {
    let ok = (1..=16).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(raw.to_owned())
    } else {
        Err("the key prefix is 1 to 16 lower-case letters or digits (e.g. hb, zsky)".into())
    }
}

/// `--auto-disable-after`: a span such as `5d`, or `never`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoDisable(pub Option<std::time::Duration>);

impl FromStr for AutoDisable {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        if raw.eq_ignore_ascii_case("never") {
            return Ok(Self(None));
        }
        humantime::parse_duration(raw)
            .map(|span| Self(Some(span)))
            .map_err(|e| format!("{raw:?} is not a span such as 5d or 12h, or never: {e}"))
    }
}

/// `--retention`: how long finished events are kept (`30d`), or `never`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention(pub Option<std::time::Duration>);

impl FromStr for Retention {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        if raw.eq_ignore_ascii_case("never") {
            return Ok(Self(None));
        }
        match humantime::parse_duration(raw) {
            Ok(span) if span >= std::time::Duration::from_secs(1) => Ok(Self(Some(span))),
            Ok(_) => Err("the retention is at least 1s (or never)".into()),
            Err(e) => Err(format!(
                "{raw:?} is not a span such as 30d or 12h, or never: {e}"
            )),
        }
    }
}

/// `--lease`: how long a claim holds a delivery; at least twice the attempt
/// timeout, since a shorter lease could run out while its attempt is still
/// running and let another node (or the next claim) make it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseSpan(pub std::time::Duration);

impl LeaseSpan {
    /// The shortest lease accepted.
    pub const MIN: std::time::Duration =
        std::time::Duration::from_secs(2 * crate::delivery::sender::ATTEMPT_TIMEOUT.as_secs());
}

impl FromStr for LeaseSpan {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match humantime::parse_duration(raw) {
            Ok(span) if span >= Self::MIN => Ok(Self(span)),
            Ok(_) => Err(format!(
                "the lease is at least {}s, twice the attempt timeout, so no delivery is claimed \
                 again while its attempt runs",
                Self::MIN.as_secs()
            )),
            Err(e) => Err(format!("{raw:?} is not a span such as 90s: {e}")),
        }
    }
}

fn header_name(raw: &str) -> Result<HeaderName, String> {
    HeaderName::from_str(raw).map_err(|_| format!("{raw:?} is not a valid HTTP header name"))
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (timestamp, level, target, fields), for log
    /// collectors.
    Json,
}

/// `hookbridge serve` settings.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// HTTP address to listen on (port 0 picks a free port).
    #[arg(long, env = "HOOKBRIDGE_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// Log lines as `text` or as `json` objects, one per line.
    #[arg(
        long,
        env = "HOOKBRIDGE_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,

    /// sqlite://PATH (embedded default) or postgres://...
    #[arg(
        long,
        env = "HOOKBRIDGE_DATABASE_URL",
        default_value = "sqlite://hookbridge.db"
    )]
    pub database_url: DatabaseUrl,

    /// PEM file of CA certificates trusted for PostgreSQL's TLS, beside the
    /// system's roots (a managed database's bundle, or a private CA). TLS is
    /// used as the URL's sslmode says, and the server is always verified.
    #[arg(long, env = "HOOKBRIDGE_DATABASE_CA_FILE")]
    pub database_ca_file: Option<std::path::PathBuf>,

    /// The producer's key; generated on first start and printed once if unset.
    #[arg(long, env = "HOOKBRIDGE_ADMIN_KEY", value_parser = admin_key, hide_env_values = true)]
    pub admin_key: Option<String>,

    /// Allow http:// and loopback/private targets (local development and tests only).
    /// The variable takes 1/0, true/false, yes/no or on/off.
    #[arg(
        long,
        env = "HOOKBRIDGE_ALLOW_PRIVATE_TARGETS",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub allow_private_targets: bool,

    /// Delays after each failed attempt, e.g. 1s,2s,5s (default: about three days).
    #[arg(long, env = "HOOKBRIDGE_RETRY_SCHEDULE")]
    pub retry_schedule: Option<RetrySchedule>,

    /// Name of the sha256= signature header (a ZSky deployment sets X-ZSky-Signature).
    #[arg(long, env = "HOOKBRIDGE_SIGNATURE_HEADER", default_value = "X-Hookbridge-Signature", value_parser = header_name)]
    pub signature_header: HeaderName,

    /// Disable a webhook whose every attempt failed for this long (e.g. 5d), or never.
    /// (The default is `DEFAULT_AUTO_DISABLE`, spelled for clap.)
    #[arg(long, env = "HOOKBRIDGE_AUTO_DISABLE_AFTER", default_value = "5d")]
    pub auto_disable_after: AutoDisable,

    /// Prefix of account API keys (hb gives hb_...; ZSky uses zsky).
    #[arg(long, env = "HOOKBRIDGE_KEY_PREFIX", default_value = "hb", value_parser = key_prefix)]
    pub key_prefix: String,

    /// How long a node's claim holds a delivery; when a node dies, others take
    /// its deliveries over once this runs out. Keep it well above the 10 s
    /// attempt timeout (the default, 90s, is nine times it).
    #[arg(long, env = "HOOKBRIDGE_LEASE", default_value = "90s")]
    pub lease: LeaseSpan,

    /// Stop attempting a webhook after this many consecutive failed attempts
    /// (no answer, 5xx, 408, 429) for a cool-down, then probe it with one;
    /// its deliveries wait, spending no attempts. 0 turns the breaker off.
    #[arg(long, env = "HOOKBRIDGE_CIRCUIT_BREAKER_AFTER", default_value_t = 10)]
    pub circuit_breaker_after: u32,

    /// The circuit breaker's first cool-down; each failed probe doubles it,
    /// up to five minutes.
    #[arg(long, env = "HOOKBRIDGE_CIRCUIT_BREAKER_COOLDOWN", default_value = "5s", value_parser = humantime::parse_duration)]
    pub circuit_breaker_cooldown: std::time::Duration,

    /// How long a client may take to send a request's headers before the
    /// connection is closed (against clients that trickle them, slowloris).
    #[arg(long, env = "HOOKBRIDGE_HEADER_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub header_timeout: std::time::Duration,

    /// API requests per second each account may make with its key (bursts of
    /// twice that), per node; 0 turns the limit off.
    #[arg(long, env = "HOOKBRIDGE_RATE_LIMIT", default_value_t = 100)]
    pub rate_limit: u32,

    /// Events per second that may be published for each account (bursts of
    /// twice that), per node; 0 (the default) turns the limit off.
    #[arg(long, env = "HOOKBRIDGE_PUBLISH_RATE_LIMIT", default_value_t = 0)]
    pub publish_rate_limit: u32,

    /// The key that encrypts signing secrets and custom header values at rest:
    /// 32 bytes in base64 (openssl rand -base64 32). Unset with SQLite, one is
    /// generated on first start into the database's path plus `.key`; required
    /// with PostgreSQL (the same on every node).
    #[arg(long, env = "HOOKBRIDGE_ENCRYPTION_KEY", hide_env_values = true)]
    pub encryption_key: Option<EncryptionKey>,

    /// How long an event is kept once every delivery of it has finished
    /// (delivered, failed, cancelled), e.g. 30d or 12h, or never. Older
    /// events are deleted with their deliveries and attempts; one still
    /// pending (a disabled webhook, an open circuit) is kept. An event id
    /// can be published again as a new event once its first is deleted.
    #[arg(long, env = "HOOKBRIDGE_RETENTION", default_value = "30d")]
    pub retention: Retention,

    /// Keys used before a rotation, comma-separated: values sealed under them
    /// stay readable and are sealed under the current key when next written.
    #[arg(
        long,
        env = "HOOKBRIDGE_OLD_ENCRYPTION_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub old_encryption_keys: Vec<EncryptionKey>,
}

impl Config {
    /// Settings for tests and embedding: the given database, a free loopback port,
    /// private targets allowed, and the given admin key and retry schedule.
    pub fn for_tests(database: DatabaseUrl, admin_key: &str, schedule: RetrySchedule) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            log_format: LogFormat::Text,
            database_url: database,
            database_ca_file: None,
            admin_key: Some(admin_key.to_owned()),
            allow_private_targets: true,
            retry_schedule: Some(schedule),
            signature_header: HeaderName::from_static("x-hookbridge-signature"),
            key_prefix: "hb".into(),
            auto_disable_after: AutoDisable(Some(crate::delivery::worker::DEFAULT_AUTO_DISABLE)),
            lease: LeaseSpan(crate::delivery::worker::LEASE),
            circuit_breaker_after: 10,
            circuit_breaker_cooldown: std::time::Duration::from_secs(5),
            header_timeout: std::time::Duration::from_secs(10),
            rate_limit: 100,
            publish_rate_limit: 0,
            encryption_key: None,
            retention: Retention(Some(crate::retention::DEFAULT_RETENTION)),
            old_encryption_keys: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_shorter_than_twice_the_attempt_timeout_is_refused() {
        assert_eq!("20s".parse::<LeaseSpan>().unwrap().0.as_secs(), 20);
        assert_eq!("90s".parse::<LeaseSpan>().unwrap().0.as_secs(), 90);
        let refused = "5s".parse::<LeaseSpan>().unwrap_err();
        assert!(refused.contains("at least 20s"), "{refused}");
        assert!("soon".parse::<LeaseSpan>().is_err());
    }

    #[test]
    fn a_retention_is_a_span_of_a_second_or_more_or_never() {
        let days = "30d".parse::<Retention>().unwrap().0.unwrap();
        assert_eq!(days.as_secs(), 30 * 86_400);
        assert_eq!("never".parse::<Retention>().unwrap(), Retention(None));
        assert_eq!("NEVER".parse::<Retention>().unwrap(), Retention(None));
        assert!("500ms".parse::<Retention>().is_err());
        assert!("a month".parse::<Retention>().is_err());
    }
}
