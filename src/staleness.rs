//! Deciding what to do with a sidecar whose kernel lock we just obtained, and the legacy staleness rules.
//!
//! Holding the kernel lock proves that no holder of *this* protocol is alive. It proves nothing about a
//! legacy JavaScript holder, which never takes a kernel lock: for those, the legacy rules apply unchanged,
//! so that both implementations reach the same verdict on the same file.

use crate::payload::{Fields, Payload};
use crate::process::ProcessTable;

/// How long an empty sidecar that someone else created counts as "a legacy holder still writing its
/// payload". Legacy code writes right after its O_EXCL create, so anything older was abandoned.
pub const EMPTY_GRACE_MS: i64 = 2_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaleReason {
    MissingPid,
    DeadPid,
    RecycledPid,
    InvalidCreatedAt,
    TooOld,
    OrphanSelf,
    /// Empty for longer than [`EMPTY_GRACE_MS`], and we hold its kernel lock.
    EmptyAbandoned,
}

impl StaleReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StaleReason::MissingPid => "missing-pid",
            StaleReason::DeadPid => "dead-pid",
            StaleReason::RecycledPid => "recycled-pid",
            StaleReason::InvalidCreatedAt => "invalid-createdAt",
            StaleReason::TooOld => "too-old",
            StaleReason::OrphanSelf => "orphan-self",
            StaleReason::EmptyAbandoned => "empty-abandoned",
        }
    }
}

/// The legacy verdict on one payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyJudgement {
    pub stale: bool,
    pub reasons: Vec<StaleReason>,
    pub pid_alive: Option<bool>,
    pub age_ms: Option<i64>,
}

/// Facts about the file and the moment, gathered by the caller.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    pub now_ms: i64,
    pub mtime_ms: i64,
    pub stale_ms: i64,
    pub self_pid: i64,
}

/// The legacy JavaScript `isStale` decision, rule for rule (DESIGN, "Legacy JavaScript protocol").
/// `fields` is `None` for an empty or malformed file.
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
            if pid == ctx.self_pid && f.starttime.is_none() {
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
    let only_weak = reasons
        .iter()
        .all(|r| matches!(r, StaleReason::MissingPid | StaleReason::InvalidCreatedAt));
    let stale = if reasons.is_empty() {
        false
    } else if only_weak {
        ctx.now_ms - ctx.mtime_ms > ctx.stale_ms
    } else {
        true
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
        Payload::Empty if ctx.now_ms - ctx.mtime_ms < EMPTY_GRACE_MS => Verdict::Busy {
            pid: None,
            pid_alive: None,
        },
        Payload::Empty => Verdict::TakeOverStale {
            reasons: vec![StaleReason::EmptyAbandoned],
            pid: None,
        },
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

    fn ctx(mtime_ms: i64) -> Context {
        Context {
            now_ms: NOW,
            mtime_ms,
            stale_ms: STALE,
            self_pid: 1,
        }
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
    fn each_strong_reason_is_stale() {
        assert_eq!(
            legacy(fields(Some(99), Some(0), None), NOW).reasons,
            [StaleReason::DeadPid]
        );
        assert_eq!(
            legacy(fields(Some(50), Some(0), Some(499)), NOW).reasons,
            [StaleReason::RecycledPid]
        );
        assert_eq!(
            legacy(fields(Some(50), Some(STALE + 1), None), NOW).reasons,
            [StaleReason::TooOld]
        );
        assert_eq!(
            legacy(fields(Some(1), Some(0), None), NOW).reasons,
            [StaleReason::OrphanSelf]
        );
        for f in [
            fields(Some(99), Some(0), None),
            fields(Some(50), Some(0), Some(499)),
            fields(Some(50), Some(STALE + 1), None),
            fields(Some(1), Some(0), None),
        ] {
            assert!(legacy(f, NOW).stale);
        }
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
    fn weak_reasons_fall_back_to_mtime() {
        let fresh = judge_legacy(None, &ctx(NOW - 10), &procs());
        assert_eq!(
            fresh.reasons,
            [StaleReason::MissingPid, StaleReason::InvalidCreatedAt]
        );
        assert!(!fresh.stale);
        assert!(judge_legacy(None, &ctx(NOW - STALE - 1), &procs()).stale);
        let no_date = fields(Some(50), None, None);
        assert!(!legacy(no_date.clone(), NOW).stale);
        assert!(legacy(no_date, NOW - STALE - 1).stale);
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
        let old = ctx(NOW - EMPTY_GRACE_MS - 1);
        assert!(matches!(
            decide(&Payload::Empty, false, &old, &p),
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
