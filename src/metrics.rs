//! Prometheus metrics: what was accepted, refused, delivered and purged,
//! how long attempts took, and how deep and old the queue is and how large
//! the database (read at scrape time).

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

use crate::store::{NextStep, Purged};

/// The `type` label of a refused event whose type the catalog does not
/// know: one series for every unknown name, however many callers invent.
pub const UNKNOWN_TYPE_LABEL: &str = "(unknown)";

/// The service's metrics and the registry that renders them.
pub struct Metrics {
    registry: Registry,
    events_accepted: IntCounterVec,
    events_rejected: IntCounterVec,
    attempts: IntCounterVec,
    attempt_seconds: Histogram,
    claims: IntCounter,
    claims_everywhere: IntCounter,
    claimed: IntCounter,
    released: IntCounter,
    handed: IntCounter,
    handed_back: IntCounter,
    purged_rows: IntCounterVec,
    queue_depth: IntGauge,
    oldest_pending_seconds: IntGauge,
    database_bytes: IntGauge,
}

impl Metrics {
    /// Fresh metrics, registered.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("hookbridge".into()), None)?;
        let events_accepted = IntCounterVec::new(
            Opts::new("events_accepted_total", "Events accepted (202), by type"),
            &["type"],
        )?;
        let events_rejected = IntCounterVec::new(
            Opts::new(
                "events_rejected_total",
                "Events refused, by type and reason",
            ),
            &["type", "reason"],
        )?;
        let attempts = IntCounterVec::new(
            Opts::new("delivery_attempts_total", "Delivery attempts, by outcome"),
            &["outcome"],
        )?;
        let attempt_seconds = Histogram::with_opts(
            HistogramOpts::new("delivery_attempt_seconds", "Time from request to response")
                .buckets(vec![
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ]),
        )?;
        let claims = IntCounter::new(
            "dispatcher_claims_total",
            "Round trips the dispatcher made to claim due deliveries",
        )?;
        let claims_everywhere = IntCounter::new(
            "dispatcher_claims_everywhere_total",
            "Of those, claims over all targets in due order (not for named targets)",
        )?;
        let claimed = IntCounter::new(
            "dispatcher_claimed_total",
            "Deliveries the dispatcher claimed",
        )?;
        let released = IntCounter::new(
            "dispatcher_released_total",
            "Claimed deliveries given back unattempted (target busy or its circuit open, shutdown)",
        )?;
        let handed = IntCounter::new(
            "dispatcher_handed_total",
            "Deliveries ingest handed straight to the dispatcher, leased, with no claim",
        )?;
        let handed_back = IntCounter::new(
            "dispatcher_handed_back_total",
            "Of those, given back at once to wait in the store (target busy or its circuit open)",
        )?;
        let purged_rows = IntCounterVec::new(
            Opts::new(
                "purged_rows_total",
                "Rows deleted by retention, by table (events, deliveries, attempts)",
            ),
            &["table"],
        )?;
        let queue_depth = IntGauge::new("queue_depth", "Pending deliveries")?;
        let oldest_pending_seconds = IntGauge::new(
            "oldest_pending_seconds",
            "Age of the oldest pending delivery, in seconds",
        )?;
        let database_bytes = IntGauge::new(
            "database_bytes",
            "Bytes the database takes on disk (SQLite: file and log; PostgreSQL: the database)",
        )?;
        registry.register(Box::new(events_accepted.clone()))?;
        registry.register(Box::new(events_rejected.clone()))?;
        registry.register(Box::new(attempts.clone()))?;
        registry.register(Box::new(attempt_seconds.clone()))?;
        registry.register(Box::new(claims.clone()))?;
        registry.register(Box::new(claims_everywhere.clone()))?;
        registry.register(Box::new(claimed.clone()))?;
        registry.register(Box::new(released.clone()))?;
        registry.register(Box::new(handed.clone()))?;
        registry.register(Box::new(handed_back.clone()))?;
        registry.register(Box::new(purged_rows.clone()))?;
        registry.register(Box::new(queue_depth.clone()))?;
        registry.register(Box::new(oldest_pending_seconds.clone()))?;
        registry.register(Box::new(database_bytes.clone()))?;
        Ok(Self {
            registry,
            events_accepted,
            events_rejected,
            attempts,
            attempt_seconds,
            claims,
            claims_everywhere,
            claimed,
            released,
            handed,
            handed_back,
            purged_rows,
            queue_depth,
            oldest_pending_seconds,
            database_bytes,
        })
    }

    /// An event of `event_type` was accepted.
    pub fn accepted(&self, event_type: &str) {
        self.events_accepted.with_label_values(&[event_type]).inc();
    }

    /// An event was refused (`reason`: `schema`, `unknown_type`, ...);
    /// `event_type` is a catalog type or [`UNKNOWN_TYPE_LABEL`].
    pub fn rejected(&self, event_type: &str, reason: &str) {
        self.events_rejected
            .with_label_values(&[event_type, reason])
            .inc();
    }

    /// An attempt ended with `next` after `latency_ms`.
    pub fn attempted(&self, next: &NextStep, latency_ms: u64) {
        let outcome = match next {
            NextStep::Delivered => "delivered",
            NextStep::RetryAt(_) => "retry",
            NextStep::Failed => "failed",
            NextStep::RemoveSubscription => "gone",
        };
        self.attempts.with_label_values(&[outcome]).inc();
        self.attempt_seconds.observe(latency_ms as f64 / 1000.0);
    }

    /// The dispatcher claimed `count` deliveries in one round trip, over all
    /// targets (`everywhere`) or for named ones.
    pub fn claimed(&self, count: usize, everywhere: bool) {
        self.claims.inc();
        if everywhere {
            self.claims_everywhere.inc();
        }
        self.claimed.inc_by(count as u64);
    }

    /// The dispatcher gave back `count` claimed deliveries unattempted.
    pub fn released(&self, count: usize) {
        self.released.inc_by(count as u64);
    }

    /// Ingest handed the dispatcher `count` deliveries, of which it gave
    /// `back` back to wait in the store.
    pub fn handed(&self, count: usize, back: usize) {
        self.handed.inc_by(count as u64);
        self.handed_back.inc_by(back as u64);
    }

    /// Retention deleted `purged`.
    pub fn purged(&self, purged: Purged) {
        for (table, rows) in [
            ("events", purged.events),
            ("deliveries", purged.deliveries),
            ("attempts", purged.attempts),
        ] {
            if rows > 0 {
                self.purged_rows.with_label_values(&[table]).inc_by(rows);
            }
        }
    }

    /// The Prometheus text exposition, with the queue and the database as
    /// they are now.
    pub fn render(
        &self,
        queue_depth: u64,
        oldest_pending_seconds: u64,
        database_bytes: u64,
    ) -> String {
        self.database_bytes
            .set(i64::try_from(database_bytes).unwrap_or(i64::MAX));
        self.queue_depth.set(queue_depth as i64);
        self.oldest_pending_seconds
            .set(oldest_pending_seconds as i64);
        let mut buffer = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buffer);
        String::from_utf8(buffer).unwrap_or_default()
    }
}
