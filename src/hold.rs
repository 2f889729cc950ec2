//! A granted lock: the open sidecar, its kernel lock and the in-process turn, released by a drop guard.
//!
//! Release unlinks the sidecar *while still holding the kernel lock* (and only if the path still names
//! our file), then closes the descriptor, which drops the kernel lock even when the unlink failed, then
//! hands the in-process turn on. A hold can also be revoked (its sidecar was replaced under it, or it
//! outlived `maxHoldMs`): it is then reported lost and no write goes through it any more.

use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::LockError;
use crate::jsonl::{self, Appended, Durability};
use crate::kernel_lock;
use crate::queue::Turn;
use crate::sidecar::{self, Chain, FileId, Handed, LockTarget};
use crate::stats::{self, COUNTERS, HOLD_TIMES};

/// Called (from the monitor thread) with the hold's id and the reason when a hold is revoked.
pub type RevokeHook = Arc<dyn Fn(u64, &str) + Send + Sync>;

struct Live {
    file: File,
    id: FileId,
    turn: Turn,
    chain: Chain,
}

struct Inner {
    live: Option<Live>,
    lost: Option<String>,
    last_refresh: Instant,
}

pub struct Hold {
    pub id: u64,
    pub target: LockTarget,
    pub acquired_at: Instant,
    /// Wall-clock time of the acquisition, as written in the payload's `acquiredAt`.
    pub acquired_at_ms: i64,
    max_hold: Option<Duration>,
    refresh_every: Duration,
    on_revoke: Option<RevokeHook>,
    /// Who holds, in words, kept in the payload when it is refreshed.
    pub owner: Option<Arc<str>>,
    pub origin: Origin,
    inner: Mutex<Inner>,
}

/// The drop guard: dropping it releases the lock.
pub struct HoldGuard(Arc<Hold>);

impl std::ops::Deref for HoldGuard {
    type Target = Hold;
    fn deref(&self) -> &Hold {
        &self.0
    }
}

impl Drop for HoldGuard {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// Our payload says `createdAt`; legacy waiters judge a hold "too old" past their `staleMs`, so we
/// refresh it well before that.
fn refresh_interval(stale_ms: i64) -> Duration {
    Duration::from_millis((stale_ms / 3).clamp(1_000, 600_000) as u64)
}

/// A sidecar whose kernel lock and in-process turn were just obtained, with our payload written.
pub struct Claimed {
    pub file: File,
    pub id: FileId,
    pub acquired_at_ms: i64,
    pub turn: Turn,
    /// The stale or crashed holder whose sidecar this claim took over, if it did.
    pub took_over: Option<Takeover>,
    /// The holds of this process in a row on this sidecar, this one included.
    pub chain: Chain,
}

impl Claimed {
    /// A claim of a free sidecar: nothing was taken over.
    pub fn free(file: File, id: FileId, acquired_at_ms: i64, turn: Turn) -> Claimed {
        Claimed {
            file,
            id,
            acquired_at_ms,
            turn,
            took_over: None,
            chain: Chain::fresh(),
        }
    }
}

/// What a claim took over: the previous holder, as its payload said, and why it could be taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Takeover {
    pub pid: Option<i64>,
    /// The stale rules that applied (`dead-pid`, …), or `crashed` for a holder of this protocol.
    pub reasons: Vec<&'static str>,
}

/// How a hold began, for tracing: how long its caller waited, and what it took over.
#[derive(Clone, Debug, Default)]
pub struct Origin {
    pub waited: Duration,
    pub took_over: Option<Takeover>,
}

impl HoldGuard {
    pub(crate) fn new(
        target: LockTarget,
        claimed: Claimed,
        waited: Duration,
        stale_ms: i64,
        max_hold: Option<Duration>,
        on_revoke: Option<RevokeHook>,
        owner: Option<Arc<str>>,
    ) -> HoldGuard {
        let Claimed {
            file,
            id,
            acquired_at_ms,
            turn,
            took_over,
            chain,
        } = claimed;
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let now = Instant::now();
        let hold = Arc::new(Hold {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            target,
            acquired_at: now,
            acquired_at_ms,
            max_hold,
            refresh_every: refresh_interval(stale_ms),
            on_revoke,
            owner,
            origin: Origin { waited, took_over },
            inner: Mutex::new(Inner {
                live: Some(Live {
                    file,
                    id,
                    turn,
                    chain,
                }),
                lost: None,
                last_refresh: now,
            }),
        });
        HoldGuard(hold)
    }

    /// A second reference to the same hold; dropping it does not release.
    pub fn share(&self) -> Arc<Hold> {
        Arc::clone(&self.0)
    }
}

impl Hold {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn is_held(&self) -> bool {
        self.inner().live.is_some()
    }

    /// Why the hold ended without a release (revoked, taken over), if it did.
    pub fn lost_reason(&self) -> Option<String> {
        let inner = self.inner();
        inner.live.is_none().then(|| inner.lost.clone()).flatten()
    }

    fn lost_error(&self, inner: &Inner) -> LockError {
        LockError::Lost {
            lock_path: Some(self.target.lock_path.clone()),
            reason: inner.lost.clone().unwrap_or_else(|| "released".into()),
        }
    }

    /// Runs `f` with the sidecar's descriptor after checking that the path still names it. Every write
    /// made under the lock goes through here, so none goes through a hold that was taken over.
    pub fn with_file<R>(&self, f: impl FnOnce(&File) -> R) -> Result<R, LockError> {
        let mut inner = self.inner();
        if inner.live.is_some() {
            // The hold's age, not only the watchdog's tick: a holder frozen past maxHoldMs (SIGSTOP, a
            // long GC) must not get one more write through when it resumes, before the tick.
            if let Some(reason) = self.overdue(Instant::now()) {
                let hook = self.revoke_locked(&mut inner, &reason, true);
                let err = self.lost_error(&inner);
                drop(inner);
                self.notify(hook);
                return Err(err);
            }
        }
        let Some(live) = &inner.live else {
            return Err(self.lost_error(&inner));
        };
        match sidecar::names(&self.target.lock_path, live.id) {
            Ok(true) => Ok(f(&live.file)),
            Ok(false) => {
                let hook =
                    self.revoke_locked(&mut inner, "sidecar replaced by another process", false);
                let err = self.lost_error(&inner);
                drop(inner);
                self.notify(hook);
                Err(err)
            }
            Err(e) => Err(LockError::io("lstat", &self.target.lock_path, e)),
        }
    }

    /// Appends whole lines to the transcript, checking first that the hold is live and still ours.
    pub fn append(&self, bytes: &[u8], durability: Durability) -> Result<Appended, LockError> {
        let appended =
            self.with_file(|_| jsonl::append(&self.target.session_file, bytes, durability))??;
        if appended.repair.is_some() {
            stats::bump(&COUNTERS.repairs);
        }
        Ok(appended)
    }

    /// Replaces the transcript atomically, checking first that the hold is live and still ours.
    pub fn rewrite(&self, bytes: &[u8], durability: Durability) -> Result<u64, LockError> {
        self.with_file(|_| jsonl::rewrite(&self.target.session_file, bytes, durability))?
    }

    /// Fails with `SESSION_WRITE_LOCK_LOST` unless this hold is live and its sidecar is still ours.
    pub fn assert_held(&self) -> Result<(), LockError> {
        self.with_file(|_| ())
    }

    /// Releases the lock. Returns whether it was still held.
    pub fn release(&self) -> bool {
        let live = self.inner().live.take();
        let Some(live) = live else { return false };
        let path = &self.target.lock_path;
        let Live {
            file,
            id,
            turn,
            chain,
        } = live;
        // A caller of this process waits: it gets the sidecar as it is, still ours and still locked,
        // unless this process has kept it long enough for others to get their chance.
        let next = chain.next(Instant::now());
        if let Some(next) =
            next.filter(|_| turn.has_waiters() && sidecar::names(path, id).unwrap_or(false))
        {
            turn.hand_over(Handed::new(file, id, path, next));
        } else {
            // Errors are ignored, as the legacy release did: closing drops the kernel lock regardless.
            let _ = sidecar::unlink_if_named(path, id);
            kernel_lock::unlock_before_close(&file);
            drop(file);
            drop(turn);
        }
        HOLD_TIMES.record(self.acquired_at.elapsed());
        stats::bump(&COUNTERS.releases);
        true
    }

    /// Revokes the hold: waiters proceed and later use of it fails with `SESSION_WRITE_LOCK_LOST`.
    pub fn revoke(&self, reason: &str) {
        let hook = {
            let mut inner = self.inner();
            self.revoke_locked(&mut inner, reason, true)
        };
        self.notify(hook);
    }

    /// Revokes the hold without calling the revocation hook: for a caller that ends holds itself (a
    /// termination signal, a test reset) and reports that on its own.
    /// Returns whether it was still held.
    pub fn revoke_quietly(&self, reason: &str) -> bool {
        let mut inner = self.inner();
        let live = inner.live.is_some();
        self.revoke_locked(&mut inner, reason, true);
        live
    }

    fn revoke_locked(
        &self,
        inner: &mut Inner,
        reason: &str,
        unlink: bool,
    ) -> Option<(RevokeHook, String)> {
        let live = inner.live.take()?;
        if unlink {
            let _ = sidecar::unlink_if_named(&self.target.lock_path, live.id);
        }
        kernel_lock::unlock_before_close(&live.file);
        drop(live);
        inner.lost = Some(reason.to_string());
        stats::bump(&COUNTERS.revocations);
        HOLD_TIMES.record(self.acquired_at.elapsed());
        self.on_revoke.clone().map(|h| (h, reason.to_string()))
    }

    fn notify(&self, hook: Option<(RevokeHook, String)>) {
        if let Some((hook, reason)) = hook {
            hook(self.id, &reason);
        }
    }

    /// One pass of the monitor: watchdog, identity re-verification and payload refresh.
    /// Why the hold must end now, if it is older than `maxHoldMs`.
    fn overdue(&self, now: Instant) -> Option<String> {
        let max = self.max_hold?;
        (now.duration_since(self.acquired_at) > max)
            .then(|| format!("held longer than maxHoldMs ({} ms)", max.as_millis()))
    }

    pub(crate) fn maintain(&self, now: Instant) {
        if let Some(reason) = self.overdue(now) {
            return self.revoke(&reason);
        }
        let refresh_due = now.duration_since(self.inner().last_refresh) >= self.refresh_every;
        let refreshed = self.with_file(|file| {
            refresh_due.then(|| {
                let owner = self.owner.as_deref();
                sidecar::write_our_payload(file, u64::MAX, self.acquired_at_ms, owner)
            })
        });
        if let Ok(Some(_)) = refreshed {
            self.inner().last_refresh = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_interval_is_a_third_of_the_stale_window_within_bounds() {
        assert_eq!(refresh_interval(1_800_000), Duration::from_secs(600));
        assert_eq!(refresh_interval(30_000), Duration::from_secs(10));
        assert_eq!(refresh_interval(10), Duration::from_secs(1));
    }
}
