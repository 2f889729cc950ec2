//! Process-wide counters and timings.

use std::sync::atomic::{AtomicU64, Ordering};

use napi_derive::napi;

use crate::{queue, stats};

/// Percentiles of a timing series, in milliseconds.
#[napi(object)]
pub struct TimingStats {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

/// Process-wide lock counters.
#[napi(object)]
pub struct NativeLockStats {
    pub acquisitions: f64,
    pub contended: f64,
    pub timeouts: f64,
    pub aborts: f64,
    /// Sidecars of crashed holders of this protocol that were taken over.
    pub recoveries: f64,
    /// Stale legacy sidecars taken over under the legacy rules.
    pub legacy_takeovers: f64,
    /// Takeovers given up because a racing legacy waiter deleted the sidecar first.
    pub legacy_races: f64,
    pub revocations: f64,
    pub repairs: f64,
    pub releases: f64,
    /// Acquisitions that got the sidecar straight from the hold before them in this process, still
    /// locked (no unlink, no new file): a caller queued behind another of the same process.
    pub handed_on: f64,
    /// Sessions with a holder or waiters in this process right now.
    pub active_sessions: f64,
    pub wait_ms: TimingStats,
    pub hold_ms: TimingStats,
}

fn timing(s: &stats::Samples) -> TimingStats {
    let [p50, p90, p99, max] = s.percentiles();
    TimingStats { p50, p90, p99, max }
}

#[napi]
pub fn native_lock_stats() -> NativeLockStats {
    let c = &stats::COUNTERS;
    let n = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64;
    NativeLockStats {
        acquisitions: n(&c.acquisitions),
        contended: n(&c.contended),
        timeouts: n(&c.timeouts),
        aborts: n(&c.aborts),
        recoveries: n(&c.recoveries),
        legacy_takeovers: n(&c.legacy_takeovers),
        legacy_races: n(&c.legacy_races),
        revocations: n(&c.revocations),
        repairs: n(&c.repairs),
        releases: n(&c.releases),
        handed_on: n(&c.handed_on),
        active_sessions: queue::tracked_sessions() as f64,
        wait_ms: timing(&stats::WAIT_TIMES),
        hold_ms: timing(&stats::HOLD_TIMES),
    }
}
