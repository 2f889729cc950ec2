//! Acquiring and waiting: at once when the lock is free, else a ticket that `waitLock` settles off the
//! event loop and off the libuv threadpool; the blocking twin; who holds a sidecar.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use napi::bindgen_prelude::*;
use napi_derive::napi;

use super::config::LockSettings;
use super::{duration_or_forever, env, holds, to_napi, window_ms};
use crate::acquire::{self, Attempt, Cancel, Finished, Granted, Request, Settings};
use crate::error::{LockError, Owner};
use crate::sidecar;

/// What one call asks for besides the settings in force (`lib/options.js` checked it).
#[napi(object)]
pub struct LockRequest {
    /// Lock a session on a network filesystem anyway.
    pub allow_network_filesystem: Option<bool>,
    /// Who holds, in words (a run id, a session key, a channel), written into the payload.
    pub owner: Option<String>,
}

/// The domain's settings for one acquisition, from the settings in force and the request.
fn settings(s: &LockSettings, request: &LockRequest) -> Settings {
    Settings {
        timeout: duration_or_forever(s.acquire_timeout_ms),
        stale_ms: window_ms(s.stale_ms),
        max_hold: duration_or_forever(s.max_hold_ms),
        on_revoke: env::revoke_listener(),
        allow_network_fs: request.allow_network_filesystem.unwrap_or(false),
        owner: request.owner.as_deref().map(Arc::from),
    }
}

/// Says once what this process is, for every payload of ours: the machine and the program.
#[napi]
pub fn describe_process(hostname: String, program: String) {
    crate::process::describe_self(hostname, program);
}

/// An acquisition waiting in `waitLock`: taken out when the wait starts, with the token that aborts it
/// and the environment that waits.
struct Pending {
    request: Option<Box<Request>>,
    cancel: Cancel,
    env: u64,
}

fn pending() -> MutexGuard<'static, HashMap<u32, Pending>> {
    static PENDING: OnceLock<Mutex<HashMap<u32, Pending>>> = OnceLock::new();
    PENDING
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// Gives up every wait of one environment (it is being torn down).
pub fn cancel_all_of(env: u64) {
    for p in pending().values().filter(|p| p.env == env) {
        p.cancel.cancel();
    }
}

/// The canonical sidecar path of a transcript, without creating anything. Throws `ENOENT` when the
/// session directory does not exist.
#[napi]
pub fn sidecar_path_for(session_file: String) -> Result<String> {
    let target = sidecar::resolve(&session_file, false).map_err(to_napi)?;
    Ok(target.lock_path.to_string_lossy().into_owned())
}

/// Takes the lock at once when nothing stands in the way and returns its id (> 0); otherwise joins
/// this process's FIFO queue for the session and returns a ticket for `waitLock`, negated (< 0).
/// Never waits.
#[napi]
pub fn request_lock(
    session_file: String,
    settings_in_force: LockSettings,
    request: LockRequest,
) -> Result<f64> {
    static NEXT_TICKET: AtomicU32 = AtomicU32::new(1);
    let target = sidecar::resolve(&session_file, true).map_err(to_napi)?;
    let s = settings(&settings_in_force, &request);
    match acquire::request(target, s).map_err(to_napi)? {
        Attempt::Acquired(held) => holds::register(held, env::this_env()),
        Attempt::Pending(request) => {
            let ticket = NEXT_TICKET.fetch_add(1, Ordering::Relaxed);
            let entry = Pending {
                request: Some(request),
                cancel: Cancel::default(),
                env: env::this_env(),
            };
            pending().insert(ticket, entry);
            Ok(-f64::from(ticket))
        }
    }
}

/// Waits for a ticket from `requestLock`, off the event loop and off the libuv threadpool. Resolves
/// with the lock's id; or with 0 when the sidecar it obtained needs a further wait (a live legacy
/// holder, a takeover that must settle): call it again with the same ticket. A lock the kernel hands
/// over goes straight from the thread the kernel wakes to this thread, which claims it.
#[napi(ts_return_type = "Promise<number>")]
pub fn wait_lock(env: &Env, ticket: u32) -> Result<Object<'_>> {
    let taken = pending().get_mut(&ticket).and_then(|p| {
        let request = p.request.take()?;
        Some((request, p.cancel.clone(), p.env))
    });
    let Some((request, cancel, env_id)) = taken else {
        return Err(to_napi(LockError::invalid(format!(
            "unknown lock ticket {ticket}"
        ))));
    };
    let (deferred, promise) = env.create_deferred()?;
    let deliver: acquire::Deliver = Box::new(move |finished| {
        let resolution = match finished {
            Finished::Held(held) => {
                pending().remove(&ticket);
                match holds::register(held, env_id) {
                    Ok(id) => Resolution::Id(id),
                    Err(e) => return deferred.reject(e),
                }
            }
            Finished::Failed(e) => {
                pending().remove(&ticket);
                return deferred.reject(to_napi(e));
            }
            Finished::Granted(granted) => Resolution::Claim(granted),
        };
        deferred.resolve(move |_| match resolution {
            Resolution::Id(id) => Ok(id),
            Resolution::Claim(granted) => claim_granted(ticket, granted, env_id),
        });
    });
    napi::bindgen_prelude::spawn(acquire::wait_then(request, cancel, deliver));
    Ok(promise)
}

/// What a wait's promise resolves with, made on the JavaScript thread.
enum Resolution {
    Id(f64),
    /// A kernel grant to claim there.
    Claim(Granted),
}

/// Claims a kernel grant on the JavaScript thread: the lock's id, or 0 with the ticket's request put
/// back for the next `waitLock`.
fn claim_granted(ticket: u32, granted: Granted, env_id: u64) -> Result<f64> {
    match granted.claim() {
        Ok(Attempt::Acquired(held)) => {
            pending().remove(&ticket);
            holds::register(held, env_id)
        }
        Ok(Attempt::Pending(request)) => match pending().get_mut(&ticket) {
            Some(p) => {
                p.request = Some(request);
                Ok(0.0)
            }
            None => Err(to_napi(LockError::invalid(format!(
                "unknown lock ticket {ticket}"
            )))),
        },
        Err(e) => {
            pending().remove(&ticket);
            Err(to_napi(e))
        }
    }
}

/// The sidecar a ticket from `requestLock` waits for: the `lockPath` its hold will have. Asked
/// before the wait, so that the hold's lock object need not ask once it is granted.
#[napi]
pub fn pending_lock_path(ticket: u32) -> Option<String> {
    let pending = pending();
    let request = pending.get(&ticket)?.request.as_ref()?;
    Some(request.lock_path().to_string_lossy().into_owned())
}

/// Aborts the wait of a ticket (`SESSION_WRITE_LOCK_ABORTED`).
#[napi]
pub fn cancel_lock(ticket: u32) {
    if let Some(p) = pending().get(&ticket) {
        p.cancel.cancel();
    }
}

/// Acquires on the calling thread, blocking it (and so the event loop) until the lock is granted.
#[napi]
pub fn acquire_lock_sync(
    session_file: String,
    settings_in_force: LockSettings,
    request: LockRequest,
) -> Result<f64> {
    let target = sidecar::resolve(&session_file, true).map_err(to_napi)?;
    let s = settings(&settings_in_force, &request);
    let held = acquire::acquire_blocking(target, s).map_err(to_napi)?;
    holds::register(held, env::this_env())
}

/// Who holds a sidecar right now.
#[napi]
pub fn lock_owner(lock_path: String) -> Owner {
    acquire::current_owner(Path::new(&lock_path))
}
