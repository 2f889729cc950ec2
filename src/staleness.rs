//! Deciding what to do with a sidecar whose kernel lock we just obtained, and the rules for sidecars
//! that a legacy JavaScript lock wrote.
//!
//! Holding the kernel lock proves that no holder of *this* protocol is alive. It proves nothing about a
//! legacy holder, which never takes a kernel lock. The generations of the legacy lock (OpenClaw 2026.2
//! to 2026.7) disagree on when such a sidecar may be taken over, so the rules here are one deliberate
//! set (README, "Stale rules, generation by generation"): a sidecar is taken over only when its holder
//! has stopped holding by the rules of *its own* generation, and among those rules we take the ones that
//! still guarantee progress:
//!
//! - the holder is gone: `dead-pid`, `recycled-pid`, or `orphan-self-pid` (it names this very process,
//!   which holds nothing there; acquisition only, as in every legacy cleaner);
//! - nothing was ever written (empty or malformed, `missing-pid`/`invalid-createdAt` only) and the file
//!   has not changed for [`UNWRITTEN_GRACE_MS`] (capped by `staleMs`): every generation writes its
//!   payload right after creating the file;
//! - `hold-exceeded` for longer than two of the holder's own watchdog intervals: a 2026.5+ holder that
//!   outlives the `maxHoldMs` in its payload force-releases itself within one interval (acquisition
//!   only, as in 2026.5: no legacy cleaner applied it).
//!
//! `too-old` is reported, never acted on: a 2026.2 to 2026.4 holder may legitimately hold longer than
//! `staleMs` (its `maxHoldMs` is not in its payload), and 2026.7 only reports it too.

use crate::payload::{Fields, Payload};
use crate::process::ProcessTable;

/// How long an empty or malformed sidecar that someone else created counts as "a legacy holder still
/// writing its payload": the longest grace any generation gives (2026.7: 30 s), capped by `staleMs`
/// as theirs is.
pub const UNWRITTEN_GRACE_MS: i64 = 30_000;

/// The legacy watchdog's interval (every generation: 60 s): how late a 2026.5+ holder may notice that it
/// outlived its `maxHoldMs` and release.
pub const LEGACY_WATCHDOG_MS: i64 = 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaleReason {
    MissingPid,
    DeadPid,
    RecycledPid,
    InvalidCreatedAt,
    /// Older than `staleMs` while its pid is alive: reported only.
    TooOld,
    /// Older than the `maxHoldMs` its 2026.5+ holder wrote: acted on only after the holder's watchdog
    /// had two chances to release it.
    HoldExceeded,
    /// It names this process, with no start time, and this process holds nothing there.
    OrphanSelf,
}

impl StaleReason {
    /// The name the legacy lock reports.
    pub fn as_str(self) -> &'static str {
        match self {
            StaleReason::MissingPid => "missing-pid",
            StaleReason::DeadPid => "dead-pid",
            StaleReason::RecycledPid => "recycled-pid",
            StaleReason::InvalidCreatedAt => "invalid-createdAt",
            StaleReason::TooOld => "too-old",
            StaleReason::HoldExceeded => "hold-exceeded",
            StaleReason::OrphanSelf => "orphan-self-pid",
        }
    }

    /// The holder is gone, whatever the file's age.
    fn holder_gone(self) -> bool {
        matches!(
            self,
            StaleReason::DeadPid | StaleReason::RecycledPid | StaleReason::OrphanSelf
        )
    }

    /// What an unwritten (empty, malformed or partial) payload shows.
    fn unwritten(self) -> bool {
        matches!(
            self,
            StaleReason::MissingPid | StaleReason::InvalidCreatedAt
        )
    }
}

/// The verdict on one legacy payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyJudgement {
    /// The sidecar may be taken over (by an acquirer) or removed (by a cleaner) now.
    pub stale: bool,
    /// Every reason found, including those only reported (`too-old`, a young `hold-exceeded`).
    pub reasons: Vec<StaleReason>,
    pub pid_alive: Option<bool>,
    pub age_ms: Option<i64>,
}

/// Who is judging: an acquirer may reclaim an orphan naming its own pid, or a hold past its `maxHoldMs`;
/// a cleaner never does (no legacy cleaner did: those rules belong to acquisition).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judge {
    Acquirer,
    Cleaner,
}

/// Facts about the file and the moment, gathered by the caller.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    pub now_ms: i64,
    pub mtime_ms: i64,
    pub stale_ms: i64,
    pub self_pid: i64,
    pub judge: Judge,
}

/// The rules above, for one legacy payload. `fields` is `None` for an empty or malformed file.
pub fn judge_legacy(
    fields: Option<&Fields>,
    ctx: &Context,
    procs: &dyn ProcessTable,
) -> LegacyJudgement {
    let empty = Fields::default();
    let f = fields.unwrap_or(&empty);
    let mut reasons = Vec::new();
    let mut pid_alive = None;
    match f.pid {
        None => reasons.push(StaleReason::MissingPid),
        Some(pid) => {
            let alive = procs.alive(pid);
            pid_alive = Some(alive);
            if !alive {
                reasons.push(StaleReason::DeadPid);
            } else if let Some(stored) = f.starttime {
                if procs.starttime(pid).is_some_and(|now| now != stored) {
                    reasons.push(StaleReason::RecycledPid);
                }
            }
            if ctx.judge == Judge::Acquirer && pid == ctx.self_pid && f.starttime.is_none() {
                // Containers reuse pids: a lock naming us that we do not hold is an orphan.
                reasons.push(StaleReason::OrphanSelf);
            }
        }
    }
    let age_ms = f.created_at_ms.map(|created| ctx.now_ms - created);
    match age_ms {
        None => reasons.push(StaleReason::InvalidCreatedAt),
        Some(age) if age > ctx.stale_ms => reasons.push(StaleReason::TooOld),
        Some(_) => {}
    }
    let past_hold = match (age_ms, f.max_hold_ms) {
        (Some(age), Some(max)) if age > max => {
            reasons.push(StaleReason::HoldExceeded);
            age - max
        }
        _ => 0,
    };
    let stale = if reasons.iter().any(|r| r.holder_gone()) {
        true
    } else if reasons.iter().any(|r| r.unwritten()) {
        ctx.now_ms - ctx.mtime_ms > ctx.stale_ms.min(UNWRITTEN_GRACE_MS)
    } else {
        // As `orphan-self-pid`, an acquirer's rule: no legacy cleaner applied it.
        ctx.judge == Judge::Acquirer && past_hold > 2 * LEGACY_WATCHDOG_MS
    };
    LegacyJudgement {
        stale,
        reasons,
        pid_alive,
        age_ms,
    }
}

/// What the holder of the kernel lock does with the sidecar it found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// We created it a moment ago: it is ours.
    Fresh,
    /// A holder of this protocol wrote it and is gone (we hold its kernel lock). Take it over.
    RecoverCrashed { pid: Option<i64> },
    /// A legacy (or unknown) holder left it and the rules say it is stale. Take it over.
    TakeOverStale {
        reasons: Vec<StaleReason>,
        pid: Option<i64>,
    },
    /// A legacy holder may be alive: let go and poll again.
    Busy {
        pid: Option<i64>,
        pid_alive: Option<bool>,
    },
}

pub fn decide(
    payload: &Payload,
    created_by_us: bool,
    ctx: &Context,
    procs: &dyn ProcessTable,
) -> Verdict {
    match payload {
        Payload::Empty if created_by_us => Verdict::Fresh,
        Payload::Parsed(f) if f.kernel => Verdict::RecoverCrashed { pid: f.pid },
        other => {
            let j = judge_legacy(other.fields(), ctx, procs);
            if j.stale {
                Verdict::TakeOverStale {
                    reasons: j.reasons,
                    pid: other.pid(),
                }
            } else {
                Verdict::Busy {
                    pid: other.pid(),
                    pid_alive: j.pid_alive,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Fake(HashMap<i64, Option<u64>>);
    impl ProcessTable for Fake {
        fn alive(&self, pid: i64) -> bool {
            self.0.contains_key(&pid)
        }
        fn starttime(&self, pid: i64) -> Option<u64> {
            self.0.get(&pid).copied().flatten()
        }
    }

    const NOW: i64 = 1_000_000_000;
    const STALE: i64 = 1_800_000;

    fn ctx_as(mtime_ms: i64, judge: Judge) -> Context {
        Context {
            now_ms: NOW,
            mtime_ms,
            stale_ms: STALE,
            self_pid: 1,
            judge,
        }
    }

    fn ctx(mtime_ms: i64) -> Context {
        ctx_as(mtime_ms, Judge::Acquirer)
    }

    fn procs() -> Fake {
        Fake(HashMap::from([(1, Some(100)), (50, Some(500)), (60, None)]))
    }

    fn fields(pid: Option<i64>, age: Option<i64>, starttime: Option<u64>) -> Fields {
        Fields {
            pid,
            created_at_ms: age.map(|a| NOW - a),
            starttime,
            ..Fields::default()
        }
    }

    fn legacy(f: Fields, mtime: i64) -> LegacyJudgement {
        judge_legacy(Some(&f), &ctx(mtime), &procs())
    }

    #[test]
    fn live_fresh_holder_is_not_stale() {
        let j = legacy(fields(Some(50), Some(1000), Some(500)), NOW);
        assert_eq!(
            (j.stale, j.reasons, j.pid_alive),
            (false, vec![], Some(true))
        );
    }

    #[test]
    fn a_gone_holder_is_stale_at_once() {
        assert_eq!(
            legacy(fields(Some(99), Some(0), None), NOW).reasons,
            [StaleReason::DeadPid]
        );
        assert_eq!(
            legacy(fields(Some(50), Some(0), Some(499)), NOW).reasons,
            [StaleReason::RecycledPid]
        );
        assert_eq!(
            legacy(fields(Some(1), Some(0), None), NOW).reasons,
            [StaleReason::OrphanSelf]
        );
        for f in [
            fields(Some(99), Some(0), None),
            fields(Some(50), Some(0), Some(499)),
            fields(Some(1), Some(0), None),
        ] {
            assert!(legacy(f, NOW).stale);
        }
    }

    #[test]
    fn too_old_is_reported_but_a_live_holder_keeps_its_lock() {
        let j = legacy(
            fields(Some(50), Some(STALE * 10), Some(500)),
            NOW - STALE * 10,
        );
        assert_eq!((j.stale, j.reasons), (false, vec![StaleReason::TooOld]));
        // Dead and old: the dead pid decides.
        assert!(legacy(fields(Some(99), Some(STALE * 10), None), NOW).stale);
    }

    #[test]
    fn hold_exceeded_waits_for_two_watchdog_intervals_of_the_holder() {
        let with_max = |age: i64| Fields {
            max_hold_ms: Some(1_000),
            ..fields(Some(50), Some(age), Some(500))
        };
        assert_eq!(legacy(with_max(900), NOW).reasons, []);
        let young = legacy(with_max(1_001), NOW);
        assert_eq!(
            (young.stale, young.reasons),
            (false, vec![StaleReason::HoldExceeded])
        );
        assert!(!legacy(with_max(1_000 + 2 * LEGACY_WATCHDOG_MS), NOW).stale);
        assert!(legacy(with_max(1_001 + 2 * LEGACY_WATCHDOG_MS), NOW).stale);
    }

    #[test]
    fn the_cleaner_never_applies_the_acquirers_rules() {
        let f = fields(Some(1), Some(0), None);
        let j = judge_legacy(Some(&f), &ctx_as(NOW, Judge::Cleaner), &procs());
        assert_eq!((j.stale, j.reasons), (false, vec![]));
        let held_too_long = Fields {
            max_hold_ms: Some(1_000),
            ..fields(Some(50), Some(10 * LEGACY_WATCHDOG_MS), Some(500))
        };
        let j = judge_legacy(Some(&held_too_long), &ctx_as(NOW, Judge::Cleaner), &procs());
        assert_eq!(
            (j.stale, j.reasons),
            (false, vec![StaleReason::HoldExceeded])
        );
    }

    #[test]
    fn self_pid_with_matching_starttime_is_a_live_legacy_holder_in_this_process() {
        assert!(!legacy(fields(Some(1), Some(0), Some(100)), NOW).stale);
    }

    #[test]
    fn unknown_current_starttime_is_not_recycled() {
        assert!(!legacy(fields(Some(60), Some(0), Some(7)), NOW).stale);
    }

    #[test]
    fn unwritten_payloads_wait_for_the_grace_then_are_stale() {
        let fresh = judge_legacy(None, &ctx(NOW - 10), &procs());
        assert_eq!(
            fresh.reasons,
            [StaleReason::MissingPid, StaleReason::InvalidCreatedAt]
        );
        assert!(!fresh.stale);
        assert!(!judge_legacy(None, &ctx(NOW - UNWRITTEN_GRACE_MS), &procs()).stale);
        assert!(judge_legacy(None, &ctx(NOW - UNWRITTEN_GRACE_MS - 1), &procs()).stale);
        let no_date = fields(Some(50), None, None);
        assert!(!legacy(no_date.clone(), NOW).stale);
        assert!(legacy(no_date, NOW - UNWRITTEN_GRACE_MS - 1).stale);
        // A shorter staleMs caps the grace, as in the legacy rule.
        let short = Context {
            stale_ms: 500,
            ..ctx(NOW - 501)
        };
        assert!(judge_legacy(None, &short, &procs()).stale);
    }

    #[test]
    fn verdicts() {
        let p = procs();
        let c = ctx(NOW - 10);
        assert_eq!(decide(&Payload::Empty, true, &c, &p), Verdict::Fresh);
        assert_eq!(
            decide(&Payload::Empty, false, &c, &p),
            Verdict::Busy {
                pid: None,
                pid_alive: None
            }
        );
        let old = ctx(NOW - UNWRITTEN_GRACE_MS - 1);
        assert!(matches!(
            decide(&Payload::Empty, false, &old, &p),
            Verdict::TakeOverStale { .. }
        ));
        assert!(matches!(
            decide(&Payload::Malformed, false, &old, &p),
            Verdict::TakeOverStale { .. }
        ));
        let mut k = fields(Some(50), Some(0), Some(500));
        k.kernel = true;
        // A kernel payload is recovered even though its pid looks alive: we hold its kernel lock.
        assert_eq!(
            decide(&Payload::Parsed(k), false, &c, &p),
            Verdict::RecoverCrashed { pid: Some(50) }
        );
        let live = Payload::Parsed(fields(Some(50), Some(0), Some(500)));
        assert_eq!(
            decide(&live, false, &c, &p),
            Verdict::Busy {
                pid: Some(50),
                pid_alive: Some(true)
            }
        );
        let dead = Payload::Parsed(fields(Some(99), Some(0), None));
        assert_eq!(
            decide(&dead, false, &c, &p),
            Verdict::TakeOverStale {
                reasons: vec![StaleReason::DeadPid],
                pid: Some(99)
            }
        );
        assert!(matches!(
            decide(&Payload::Malformed, false, &c, &p),
            Verdict::Busy { .. }
        ));
    }
}
