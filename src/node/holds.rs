//! Every lock this process holds through the bindings, by id, with the JavaScript environment it
//! belongs to. Removing an entry drops its `HoldGuard` guard, which releases the lock: the sidecar is
//! unlinked while the kernel lock is still held, then the descriptor is closed. (A table, not a
//! JavaScript object per hold: wrapping one object per acquisition costs V8 handles that it releases
//! only lazily.)

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use napi::bindgen_prelude::*;
use napi_derive::napi;

use super::{env, to_napi};
use crate::error::LockError;
use crate::hold::{Hold, HoldGuard};

/// A hold and the environment it belongs to.
struct Owned {
    held: HoldGuard,
    env: u64,
}

fn table() -> MutexGuard<'static, HashMap<u64, Owned>> {
    static HOLDS: OnceLock<Mutex<HashMap<u64, Owned>>> = OnceLock::new();
    HOLDS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// Registers a new hold of environment `env` and returns its id. The hold of an environment that has
/// ended meanwhile is released at once.
pub fn register(held: HoldGuard, env: u64) -> Result<f64> {
    let id = held.id;
    {
        // Checked under the table's lock: `env::end` marks the environment ended first, then takes
        // the table, so either it finds this hold or this finds the mark.
        let mut table = table();
        if !env::ended().contains(&env) {
            table.insert(id, Owned { held, env });
            return Ok(id as f64);
        }
    }
    drop(held); // released outside the table's lock
    Err(to_napi(LockError::invalid(
        "the JavaScript environment that asked for this lock has ended",
    )))
}

/// Releases every hold of one environment.
pub fn release_all_of(env: u64) {
    let mine: Vec<Owned> = {
        let mut table = table();
        let ids: Vec<u64> = table
            .iter()
            .filter(|(_, o)| o.env == env)
            .map(|(id, _)| *id)
            .collect();
        ids.iter().filter_map(|id| table.remove(id)).collect()
    };
    drop(mine); // each guard releases as it drops, outside the table's mutex
}

/// A second reference to a live entry (not a guard: the table's mutex is not held while it is used).
pub fn shared(id: f64) -> Option<Arc<Hold>> {
    table().get(&(id as u64)).map(|o| o.held.share())
}

/// Runs `f` on a live entry of the table; `SESSION_WRITE_LOCK_LOST` when it was released.
pub fn with_hold<R>(id: f64, f: impl FnOnce(&Hold) -> Result<R>) -> Result<R> {
    match shared(id) {
        Some(hold) => f(&hold),
        None => Err(to_napi(LockError::Lost {
            lock_path: None, // the caller knows it
            reason: "released".into(),
        })),
    }
}

/// Releases a lock. Returns `null` when it was held until now; otherwise why it was not: the reason it
/// was revoked, or `released` (one call, where the release used to need a second to ask `lockHeld`).
#[napi]
pub fn release_lock(id: f64) -> Option<String> {
    let owned = table().remove(&(id as u64));
    let Some(owned) = owned else {
        return Some("released".into());
    };
    owned.held.lost_reason() // dropping `owned` releases a live hold
}

/// Ends a hold as a revocation with `reason`, without calling the revocation listener: later writes
/// through it fail with `SESSION_WRITE_LOCK_LOST`. Returns `false` when it was not held any more.
#[napi]
pub fn revoke_lock(id: f64, reason: String) -> bool {
    shared(id).is_some_and(|h| h.revoke_quietly(&reason))
}

/// Releases every hold of the process, whichever thread took it (before a termination signal is
/// raised again). Returns how many there were.
#[napi]
pub fn release_all_locks() -> u32 {
    let all: Vec<Owned> = table().drain().map(|(_, owned)| owned).collect();
    let n = all.len() as u32;
    drop(all); // each guard releases as it drops, outside the table's mutex
    n
}

/// Whether a lock is still held (not released, not revoked).
#[napi]
pub fn lock_held(id: f64) -> bool {
    table().get(&(id as u64)).is_some_and(|o| o.held.is_held())
}

/// The `.lock` sidecar of a held lock.
#[napi]
pub fn held_lock_path(id: f64) -> Result<String> {
    with_hold(id, |h| {
        Ok(h.target.lock_path.to_string_lossy().into_owned())
    })
}

/// Throws `SESSION_WRITE_LOCK_LOST` unless the lock is held and its sidecar is still ours.
#[napi]
pub fn assert_lock_held(id: f64) -> Result<()> {
    with_hold(id, |h| h.assert_held().map_err(to_napi))
}

/// How a hold began and how long it has lasted, for the tracing channels (`lib/trace.js`), which ask
/// only when someone subscribes.
#[napi(object)]
pub struct LockTrace {
    /// How long the caller waited for the lock, in milliseconds.
    pub waited_ms: f64,
    /// How long the lock has been held so far, in milliseconds.
    pub held_ms: f64,
    /// The stale or crashed holder this acquisition took the sidecar over from, if it did.
    pub took_over: Option<LockTakeover>,
}

/// A previous holder whose sidecar an acquisition took over.
#[napi(object)]
pub struct LockTakeover {
    /// Its pid, as its payload said (`null` when the payload named none).
    pub pid: Option<i64>,
    /// Why it could be taken: the stale rules that applied (`dead-pid`, …), or `crashed` for a holder
    /// of this protocol whose kernel lock was free.
    pub reasons: Vec<String>,
}

/// The trace of a lock that was acquired and not yet released (revoked holds included).
#[napi]
pub fn lock_trace(id: f64) -> Option<LockTrace> {
    let hold = shared(id)?;
    let origin = &hold.origin;
    Some(LockTrace {
        waited_ms: origin.waited.as_secs_f64() * 1000.0,
        held_ms: hold.acquired_at.elapsed().as_secs_f64() * 1000.0,
        took_over: origin.took_over.as_ref().map(|t| LockTakeover {
            pid: t.pid,
            reasons: t.reasons.iter().map(|r| (*r).to_string()).collect(),
        }),
    })
}
