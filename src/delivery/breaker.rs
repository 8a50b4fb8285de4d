//! The circuit breaker: a target whose last `threshold` attempts all failed
//! is left alone for a cool-down (its deliveries stay pending and are not
//! claimed, so no attempt of the retry schedule is spent on it); then one
//! probe is let through. A probe that succeeds closes the circuit; one that
//! fails opens it again for twice as long, up to a ceiling. Kept per node.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::domain::SubscriptionId;

/// The breaker's settings.
#[derive(Debug, Clone, Copy)]
pub struct BreakerSettings {
    /// Consecutive failed attempts that open the circuit; 0 turns it off.
    pub threshold: u32,
    /// The first cool-down; each failed probe doubles it.
    pub cooldown: Duration,
    /// The longest cool-down.
    pub max_cooldown: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            threshold: 10,
            cooldown: Duration::from_secs(5),
            max_cooldown: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Default)]
struct Circuit {
    failures: u32,
    open_until: Option<Instant>,
    cooldown: Duration,
    probing: bool,
}

impl Circuit {
    fn is_open(&self, now: Instant) -> bool {
        self.probing || self.open_until.is_some_and(|until| now < until)
    }
}

/// What the dispatcher may do with a target now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Closed: attempt freely.
    Closed,
    /// Half-open: one probe may run.
    Probe,
    /// Open: leave it alone.
    Open,
}

/// Circuits by subscription id. Only failing targets have an entry.
#[derive(Debug)]
pub struct Breaker {
    settings: BreakerSettings,
    circuits: Mutex<HashMap<SubscriptionId, Circuit>>,
}

impl Breaker {
    /// A breaker with no open circuits.
    pub fn new(settings: BreakerSettings) -> Self {
        Self {
            settings,
            circuits: Mutex::new(HashMap::new()),
        }
    }

    fn circuits(&self) -> std::sync::MutexGuard<'_, HashMap<SubscriptionId, Circuit>> {
        self.circuits.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Record an attempt's outcome for `target`.
    pub fn record(&self, target: &SubscriptionId, succeeded: bool) {
        if self.settings.threshold == 0 {
            return;
        }
        let mut circuits = self.circuits();
        if succeeded {
            circuits.remove(target);
            return;
        }
        let circuit = circuits.entry(target.to_owned()).or_default();
        circuit.failures = circuit.failures.saturating_add(1);
        if circuit.probing {
            circuit.probing = false;
            circuit.cooldown = (circuit.cooldown * 2).min(self.settings.max_cooldown);
            circuit.open_until = Some(Instant::now() + circuit.cooldown);
        } else if circuit.failures >= self.settings.threshold && circuit.open_until.is_none() {
            circuit.cooldown = self.settings.cooldown;
            circuit.open_until = Some(Instant::now() + circuit.cooldown);
            tracing::info!(subscription = %target, cooldown = ?circuit.cooldown, "circuit opened: the target failed every recent attempt");
        }
    }

    /// What may be done with `target` now; a `Probe` answer reserves the probe.
    pub fn admit(&self, target: &SubscriptionId) -> Admission {
        let mut circuits = self.circuits();
        let Some(circuit) = circuits.get_mut(target) else {
            return Admission::Closed;
        };
        match circuit.open_until {
            None => Admission::Closed,
            Some(_) if circuit.probing => Admission::Open,
            Some(until) if Instant::now() < until => Admission::Open,
            Some(_) => {
                circuit.probing = true;
                Admission::Probe
            }
        }
    }

    /// What [`Breaker::admit`] would answer for `target` now, without
    /// reserving the probe.
    pub fn peek(&self, target: &SubscriptionId) -> Admission {
        match self.circuits().get(target) {
            None
            | Some(Circuit {
                open_until: None, ..
            }) => Admission::Closed,
            Some(circuit) if circuit.is_open(Instant::now()) => Admission::Open,
            Some(_) => Admission::Probe,
        }
    }

    /// Targets whose circuit is not closed: open, or waiting for or running
    /// its probe.
    pub fn tripped_targets(&self) -> Vec<SubscriptionId> {
        self.circuits()
            .iter()
            .filter(|(_, c)| c.open_until.is_some())
            .map(|(id, _)| id.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(BreakerSettings {
            threshold: 3,
            cooldown: Duration::from_millis(50),
            max_cooldown: Duration::from_millis(120),
        })
    }

    #[test]
    fn opens_after_the_threshold_then_probes_once_and_closes_on_success() {
        let breaker = breaker();
        let (t, u) = (SubscriptionId::from("t"), SubscriptionId::from("u"));
        for _ in 0..2 {
            breaker.record(&t, false);
        }
        assert_eq!(breaker.admit(&t), Admission::Closed);
        breaker.record(&t, false);
        assert_eq!(breaker.admit(&t), Admission::Open);
        assert_eq!(breaker.tripped_targets(), ["t"]);
        assert_eq!(breaker.peek(&t), Admission::Open);
        assert_eq!(breaker.peek(&u), Admission::Closed);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(breaker.peek(&t), Admission::Probe);
        assert_eq!(
            breaker.peek(&t),
            Admission::Probe,
            "peeking reserves nothing"
        );
        assert_eq!(breaker.tripped_targets(), ["t"]);
        assert_eq!(breaker.admit(&t), Admission::Probe);
        assert_eq!(breaker.admit(&t), Admission::Open, "one probe at a time");
        assert_eq!(breaker.peek(&t), Admission::Open);
        breaker.record(&t, true);
        assert_eq!(breaker.admit(&t), Admission::Closed);
        assert!(breaker.tripped_targets().is_empty());
        assert_eq!(breaker.peek(&t), Admission::Closed);
    }

    #[test]
    fn a_failed_probe_reopens_for_longer_up_to_the_ceiling() {
        let breaker = breaker();
        let t = SubscriptionId::from("t");
        for _ in 0..3 {
            breaker.record(&t, false);
        }
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(breaker.admit(&t), Admission::Probe);
        breaker.record(&t, false);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(breaker.admit(&t), Admission::Open, "100 ms now, not 50");
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(breaker.admit(&t), Admission::Probe);
        breaker.record(&t, false);
        let circuits = breaker.circuits();
        assert_eq!(circuits[&t].cooldown, Duration::from_millis(120));
    }
}
