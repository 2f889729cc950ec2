//! JavaScript environments: the main thread's and each worker's. Every hold and every wait belongs to
//! the environment that asked for it, so that when one is torn down (`worker.terminate()`), what it
//! holds is released and what it waits for is given up at once.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;

use super::{holds, lock};
use crate::hold::RevokeHook;

thread_local! {
    /// The revocation listener of the JavaScript environment running on this thread.
    static REVOKE_LISTENER: RefCell<Option<RevokeHook>> = const { RefCell::new(None) };
    /// The JavaScript environment on this thread.
    static ENV_ID: Cell<u64> = const { Cell::new(0) };
}

/// The environment of the calling JavaScript thread.
pub fn this_env() -> u64 {
    ENV_ID.with(Cell::get)
}

/// The revocation listener of the calling JavaScript thread's environment.
pub fn revoke_listener() -> Option<RevokeHook> {
    REVOKE_LISTENER.with(|l| l.borrow().clone())
}

/// Environments torn down. A wait of theirs that completes afterwards must not leave a hold behind that
/// nobody can release.
pub fn ended() -> MutexGuard<'static, HashSet<u64>> {
    static ENDED: OnceLock<Mutex<HashSet<u64>>> = OnceLock::new();
    ENDED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

type RevokeListener =
    ThreadsafeFunction<FnArgs<(f64, String)>, (), FnArgs<(f64, String)>, Status, false, true>;

/// Registers the function called with `(lockId, reason)` when a hold of this environment is revoked,
/// and ties this environment's holds and waits to its life. The listener never keeps the process alive.
#[napi(ts_args_type = "listener: (lockId: number, reason: string) => void")]
pub fn set_revoke_listener(env: Env, listener: RevokeListener) -> Result<()> {
    static NEXT_ENV: AtomicU32 = AtomicU32::new(1);
    let env_id = u64::from(NEXT_ENV.fetch_add(1, Ordering::Relaxed));
    ENV_ID.with(|e| e.set(env_id));
    env.add_env_cleanup_hook(env_id, end)?;
    let listener = Arc::new(listener);
    let hook: RevokeHook = Arc::new(move |id, reason: &str| {
        let args = FnArgs::from((id as f64, reason.to_string()));
        listener.call(args, ThreadsafeFunctionCallMode::NonBlocking);
    });
    REVOKE_LISTENER.with(|l| *l.borrow_mut() = Some(hook));
    Ok(())
}

/// An environment is being torn down: release what it holds, give up what it waits for. It is marked
/// ended first, so that a grant racing this is released by `holds::register`.
fn end(env_id: u64) {
    ended().insert(env_id);
    holds::release_all_of(env_id);
    lock::cancel_all_of(env_id);
}
