//! Process-wide counters and timing samples, reported by `sessionLockStats()`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Default)]
pub struct Counters {
    pub acquisitions: AtomicU64,
    pub contended: AtomicU64,
    pub timeouts: AtomicU64,
    pub aborts: AtomicU64,
    /// Sidecars of crashed holders of this protocol, taken over.
    pub recoveries: AtomicU64,
    /// Stale legacy (or unknown) sidecars, taken over by the legacy rules.
    pub legacy_takeovers: AtomicU64,
    /// Takeovers given up because a racing legacy waiter deleted the sidecar during the settle.
    pub legacy_races: AtomicU64,
    pub revocations: AtomicU64,
    pub repairs: AtomicU64,
    pub releases: AtomicU64,
    /// Holds that got their sidecar straight from the hold before them in this process.
    pub handed_on: AtomicU64,
}

pub static COUNTERS: Counters = Counters {
    acquisitions: AtomicU64::new(0),
    contended: AtomicU64::new(0),
    timeouts: AtomicU64::new(0),
    aborts: AtomicU64::new(0),
    recoveries: AtomicU64::new(0),
    legacy_takeovers: AtomicU64::new(0),
    legacy_races: AtomicU64::new(0),
    revocations: AtomicU64::new(0),
    repairs: AtomicU64::new(0),
    releases: AtomicU64::new(0),
    handed_on: AtomicU64::new(0),
};

pub fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Relaxed);
}

/// The most recent samples of a duration, kept in a fixed-size ring.
pub struct Samples {
    ring: Mutex<(Vec<u64>, usize)>,
}

const RING: usize = 4096;

impl Samples {
    pub const fn new() -> Self {
        Samples {
            ring: Mutex::new((Vec::new(), 0)),
        }
    }

    pub fn record(&self, d: Duration) {
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let mut guard = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        let (ring, next) = &mut *guard;
        if ring.len() < RING {
            ring.push(micros);
        } else {
            ring[*next] = micros;
        }
        *next = (*next + 1) % RING;
    }

    /// `(p50, p90, p99, max)` in milliseconds over the kept samples; zeros when there are none.
    pub fn percentiles(&self) -> [f64; 4] {
        let mut sorted = self
            .ring
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .clone();
        if sorted.is_empty() {
            return [0.0; 4];
        }
        sorted.sort_unstable();
        let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0;
        [at(0.5), at(0.9), at(0.99), at(1.0)]
    }
}

impl Default for Samples {
    fn default() -> Self {
        Self::new()
    }
}

pub static WAIT_TIMES: Samples = Samples::new();
pub static HOLD_TIMES: Samples = Samples::new();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_series() {
        let s = Samples::new();
        assert_eq!(s.percentiles(), [0.0; 4]);
        for ms in 1..=100 {
            s.record(Duration::from_millis(ms));
        }
        let [p50, p90, p99, max] = s.percentiles();
        assert_eq!((p50.round(), p90, p99, max), (51.0, 90.0, 99.0, 100.0));
    }

    #[test]
    fn the_ring_keeps_only_recent_samples() {
        let s = Samples::new();
        for _ in 0..RING {
            s.record(Duration::from_secs(9));
        }
        for _ in 0..RING {
            s.record(Duration::from_millis(1));
        }
        assert_eq!(s.percentiles()[3], 1.0);
    }
}
