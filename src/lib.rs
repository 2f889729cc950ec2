//! Node bindings. This file only converts between JavaScript and the domain modules below; the lock
//! itself lives in those modules, which know nothing of napi. The bindings are the `node` feature (on by
//! default), so that the fuzz targets can link the domain modules without a Node runtime.

pub mod acquire;
pub mod clock;
pub mod config;
pub mod error;
pub mod filesystem;
#[doc(hidden)]
pub mod fuzz_checks;
pub mod hold;
pub mod inspect;
pub mod jsonl;
pub mod kernel_lock;
pub mod monitor;
pub mod os_file;
pub mod payload;
pub mod process;
pub mod registry;
pub mod sidecar;
pub mod staleness;
pub mod stats;

#[cfg(feature = "node")]
pub mod node {
    use super::*;

    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use napi::bindgen_prelude::*;
    use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
    use napi_derive::napi;

    use acquire::{Attempt, Cancel, Request, Settings};
    use error::LockError;
    use hold::{Held, RevokeHook};

    /// Prefix of a native error message that carries a JSON descriptor for `index.js` to turn into a typed
    /// error.
    const DESCRIPTOR_MARK: &str = "\u{1}swl:";

    fn to_napi(err: LockError) -> napi::Error {
        napi::Error::new(
            Status::GenericFailure,
            format!("{DESCRIPTOR_MARK}{}", err.descriptor()),
        )
    }

    /// Limits of one acquisition, already validated and resolved by `index.js`.
    #[napi(object)]
    pub struct NativeLockOptions {
        /// Milliseconds; `Infinity` waits forever.
        pub timeout_ms: f64,
        /// Legacy staleness window in milliseconds.
        pub stale_ms: f64,
        /// Revoke the hold after this many milliseconds; `Infinity` never does.
        pub max_hold_ms: f64,
        /// Lock sessions on network filesystems anyway.
        pub allow_network_filesystem: Option<bool>,
    }

    /// A duration from milliseconds; `Infinity`, and any span too long for a `Duration` (`1e300`), is
    /// forever. Never panics.
    fn duration_or_forever(ms: f64) -> Option<Duration> {
        Duration::try_from_secs_f64(ms / 1000.0).ok()
    }

    type RevokeListener =
        ThreadsafeFunction<FnArgs<(f64, String)>, (), FnArgs<(f64, String)>, Status, false, true>;

    thread_local! {
        /// The revocation listener of the JavaScript environment running on this thread.
        static REVOKE_LISTENER: RefCell<Option<RevokeHook>> = const { RefCell::new(None) };
        /// The JavaScript environment on this thread (the main thread's, or a worker's): every hold and
        /// every wait belongs to the environment that asked for it.
        static ENV_ID: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }

    /// Environments torn down (a worker ended by `worker.terminate()` or by its own exit). A wait of
    /// theirs that completes afterwards must not leave a hold behind that nobody can release.
    fn ended_envs() -> std::sync::MutexGuard<'static, std::collections::HashSet<u64>> {
        static ENDED: std::sync::OnceLock<Mutex<std::collections::HashSet<u64>>> =
            std::sync::OnceLock::new();
        ENDED
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn this_env() -> u64 {
        ENV_ID.with(|e| e.get())
    }

    /// Registers the function called with `(lockId, reason)` when a hold of this environment is revoked,
    /// and ties this environment's holds and waits to its life: when it is torn down, its holds are
    /// released and its waits given up, at once. The listener never keeps the process alive.
    #[napi(ts_args_type = "listener: (lockId: number, reason: string) => void")]
    pub fn set_revoke_listener(env: Env, listener: RevokeListener) -> Result<()> {
        static NEXT_ENV: AtomicU32 = AtomicU32::new(1);
        let env_id = u64::from(NEXT_ENV.fetch_add(1, Ordering::Relaxed));
        ENV_ID.with(|e| e.set(env_id));
        env.add_env_cleanup_hook(env_id, end_env)?;
        let listener = Arc::new(listener);
        let hook: RevokeHook = Arc::new(move |id, reason: &str| {
            let args = FnArgs::from((id as f64, reason.to_string()));
            listener.call(args, ThreadsafeFunctionCallMode::NonBlocking);
        });
        REVOKE_LISTENER.with(|l| *l.borrow_mut() = Some(hook));
        Ok(())
    }

    /// An environment is being torn down: release what it holds, give up what it waits for.
    fn end_env(env_id: u64) {
        ended_envs().insert(env_id);
        let mine: Vec<Owned> = {
            let mut table = holds();
            let ids: Vec<u64> = table
                .iter()
                .filter(|(_, o)| o.env == env_id)
                .map(|(id, _)| *id)
                .collect();
            ids.iter().filter_map(|id| table.remove(id)).collect()
        };
        drop(mine); // each guard releases as it drops, outside the table's mutex
        for (_, cancel, _) in pending().values().filter(|(_, _, env)| *env == env_id) {
            cancel.cancel();
        }
    }

    fn settings(opts: &NativeLockOptions) -> Settings {
        Settings {
            timeout: duration_or_forever(opts.timeout_ms),
            stale_ms: stale_ms(opts.stale_ms),
            max_hold: duration_or_forever(opts.max_hold_ms),
            on_revoke: REVOKE_LISTENER.with(|l| l.borrow().clone()),
            allow_network_fs: opts.allow_network_filesystem.unwrap_or(false),
        }
    }

    /// Every lock this process holds through the bindings, by id. Removing an entry drops its `Held`
    /// guard, which releases the lock: the sidecar is unlinked while the kernel lock is still held, then
    /// the descriptor is closed. (A table, not a JavaScript object per hold: wrapping one object per
    /// acquisition costs V8 handles that it releases only lazily.)
    fn holds() -> std::sync::MutexGuard<'static, HashMap<u64, Owned>> {
        static HOLDS: std::sync::OnceLock<Mutex<HashMap<u64, Owned>>> = std::sync::OnceLock::new();
        HOLDS
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// A hold and the environment it belongs to.
    struct Owned {
        held: Held,
        env: u64,
    }

    /// Registers a new hold of environment `env` and returns its id. The hold of an environment that
    /// has ended meanwhile is released at once.
    fn register(held: Held, env: u64) -> Result<f64> {
        let id = held.id;
        {
            // Checked under the table's lock: `end_env` marks the environment ended first, then takes
            // the table, so either it finds this hold or this finds the mark.
            let mut table = holds();
            if !ended_envs().contains(&env) {
                table.insert(id, Owned { held, env });
                return Ok(id as f64);
            }
        }
        drop(held); // released outside the table's lock
        Err(to_napi(LockError::invalid(
            "the JavaScript environment that asked for this lock has ended",
        )))
    }

    fn released(id: f64) -> napi::Error {
        to_napi(LockError::Lost {
            lock_path: format!("(lock {id})").into(),
            reason: "released".into(),
        })
    }

    /// Runs `f` on a live entry of the table; `SESSION_WRITE_LOCK_LOST` when it was released.
    fn with_hold<R>(id: f64, f: impl FnOnce(&hold::Hold) -> Result<R>) -> Result<R> {
        // A second reference (not a guard): the table's mutex is not held while `f` does I/O.
        let shared = holds().get(&(id as u64)).map(|o| o.held.share());
        match shared {
            Some(hold) => f(&hold),
            None => Err(released(id)),
        }
    }

    /// Releases a lock. Returns `false` when it was already released or revoked.
    #[napi]
    pub fn release_lock(id: f64) -> bool {
        let owned = holds().remove(&(id as u64));
        owned.is_some_and(|o| o.held.is_held())
    }

    /// Ends a hold as a revocation with `reason`, without calling the revocation listener: later writes
    /// through it fail with `SESSION_WRITE_LOCK_LOST`. Returns `false` when it was not held any more.
    #[napi]
    pub fn revoke_lock(id: f64, reason: String) -> bool {
        let shared = holds().get(&(id as u64)).map(|o| o.held.share());
        shared.is_some_and(|h| h.revoke_quietly(&reason))
    }

    /// Releases every hold of the process, whichever thread took it (before a termination signal is
    /// raised again). Returns how many there were.
    #[napi]
    pub fn release_all_locks() -> u32 {
        let all: Vec<Owned> = holds().drain().map(|(_, owned)| owned).collect();
        let n = all.len() as u32;
        drop(all); // each guard releases as it drops, outside the table's mutex
        n
    }

    /// Whether a lock is still held (not released, not revoked).
    #[napi]
    pub fn lock_held(id: f64) -> bool {
        holds().get(&(id as u64)).is_some_and(|o| o.held.is_held())
    }

    /// The `.lock` sidecar of a held lock.
    #[napi]
    pub fn lock_path_of(id: f64) -> Result<String> {
        with_hold(id, |h| {
            Ok(h.target.lock_path.to_string_lossy().into_owned())
        })
    }

    /// Throws `SESSION_WRITE_LOCK_LOST` unless the lock is held and its sidecar is still ours.
    #[napi]
    pub fn assert_lock_held(id: f64) -> Result<()> {
        with_hold(id, |h| h.assert_held().map_err(to_napi))
    }

    /// Appends whole JSONL lines to the transcript in one write, repairing a torn tail first and rolling
    /// back on failure. `durability` is `none`, `data` or `full`.
    #[napi]
    pub fn append_locked(id: f64, data: &[u8], durability: String) -> Result<AppendResult> {
        let durability = durability_of(&durability)?;
        with_hold(id, |h| {
            h.append(data, durability)
                .map(AppendResult::from)
                .map_err(to_napi)
        })
    }

    /// Replaces the transcript atomically (temporary file and rename), keeping its mode.
    #[napi]
    pub fn rewrite_locked(id: f64, data: &[u8], durability: String) -> Result<f64> {
        let durability = durability_of(&durability)?;
        with_hold(id, |h| {
            h.rewrite(data, durability)
                .map(|b| b as f64)
                .map_err(to_napi)
        })
    }

    fn durability_of(s: &str) -> Result<jsonl::Durability> {
        jsonl::Durability::parse(s).ok_or_else(|| {
            to_napi(LockError::invalid(format!(
                "durability must be \"none\", \"data\" or \"full\". Received '{s}'"
            )))
        })
    }

    /// What one append wrote.
    #[napi(object)]
    pub struct AppendResult {
        /// Byte offset where the appended lines start.
        pub offset: f64,
        pub bytes: f64,
        /// `completed` or `quarantined` when a torn last line was repaired first.
        pub repair: Option<String>,
        /// Where a quarantined fragment was moved.
        pub quarantine_path: Option<String>,
    }

    impl From<jsonl::Appended> for AppendResult {
        fn from(a: jsonl::Appended) -> Self {
            let (repair, quarantine_path) = match a.repair {
                None => (None, None),
                Some(jsonl::Repair::Completed { .. }) => (Some("completed".into()), None),
                Some(jsonl::Repair::Quarantined { sidecar, .. }) => (
                    Some("quarantined".into()),
                    Some(sidecar.to_string_lossy().into_owned()),
                ),
            };
            AppendResult {
                offset: a.offset as f64,
                bytes: a.bytes as f64,
                repair,
                quarantine_path,
            }
        }
    }

    /// The holder of a sidecar, read from its payload.
    #[napi(object)]
    pub struct LockOwner {
        pub pid: Option<f64>,
        pub alive: Option<bool>,
        /// `kernel`, `legacy`, `in-process` or `unknown`.
        pub kind: String,
        /// How long it has held the lock (`acquiredAt`, else `createdAt`).
        pub held_for_ms: Option<f64>,
    }

    /// Who holds a sidecar right now.
    #[napi]
    pub fn lock_owner(lock_path: String) -> LockOwner {
        let o = acquire::current_owner(std::path::Path::new(&lock_path));
        LockOwner {
            pid: o.pid.map(|p| p as f64),
            alive: o.alive,
            kind: o.kind.into(),
            held_for_ms: o.held_for_ms.map(|h| h as f64),
        }
    }

    static NEXT_TICKET: AtomicU32 = AtomicU32::new(1);

    /// Acquisitions waiting in `waitLock`, by ticket, each with the token that aborts it and the
    /// environment that waits.
    type PendingMap = HashMap<u32, (Option<Request>, Cancel, u64)>;

    fn pending() -> std::sync::MutexGuard<'static, PendingMap> {
        static PENDING: std::sync::OnceLock<Mutex<PendingMap>> = std::sync::OnceLock::new();
        PENDING
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Computes the canonical lock path of a transcript without creating anything. Throws `ENOENT` when
    /// the session directory does not exist.
    #[napi]
    pub fn lock_path_for(session_file: String) -> Result<String> {
        let target = sidecar::resolve(&session_file, false).map_err(to_napi)?;
        Ok(target.lock_path.to_string_lossy().into_owned())
    }

    /// Takes the lock at once when nothing stands in the way and returns its id (> 0); otherwise joins
    /// this process's FIFO queue for the session and returns a ticket for `waitLock`, negated (< 0).
    /// Never waits.
    #[napi]
    pub fn request_lock(session_file: String, options: NativeLockOptions) -> Result<f64> {
        let target = sidecar::resolve(&session_file, true).map_err(to_napi)?;
        match acquire::request(target, settings(&options)).map_err(to_napi)? {
            Attempt::Acquired(held) => register(held, this_env()),
            Attempt::Pending(req) => {
                let ticket = NEXT_TICKET.fetch_add(1, Ordering::Relaxed);
                pending().insert(ticket, (Some(req), Cancel::default(), this_env()));
                Ok(-f64::from(ticket))
            }
        }
    }

    /// Waits for a ticket from `requestLock`, off the event loop and off the libuv threadpool; resolves
    /// with the lock's id.
    #[napi]
    pub async fn wait_lock(ticket: u32) -> Result<f64> {
        let (req, cancel, env) = {
            let mut map = pending();
            let entry = map.get_mut(&ticket);
            match entry.and_then(|(req, cancel, env)| req.take().map(|r| (r, cancel.clone(), *env)))
            {
                Some(found) => found,
                None => {
                    return Err(to_napi(LockError::invalid(format!(
                        "unknown lock ticket {ticket}"
                    ))))
                }
            }
        };
        let result = acquire::wait(req, cancel).await;
        pending().remove(&ticket);
        register(result.map_err(to_napi)?, env)
    }

    /// Aborts the wait of a ticket (`SESSION_WRITE_LOCK_ABORTED`).
    #[napi]
    pub fn cancel_lock(ticket: u32) {
        if let Some((_, cancel, _)) = pending().get(&ticket) {
            cancel.cancel();
        }
    }

    /// Acquires on the calling thread, blocking it (and so the event loop) until the lock is granted.
    #[napi]
    pub fn acquire_lock_sync(session_file: String, options: NativeLockOptions) -> Result<f64> {
        let target = sidecar::resolve(&session_file, true).map_err(to_napi)?;
        let held = acquire::acquire_blocking(target, settings(&options)).map_err(to_napi)?;
        register(held, this_env())
    }

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
        let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed) as f64;
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
            active_sessions: registry::tracked_sessions() as f64,
            wait_ms: timing(&stats::WAIT_TIMES),
            hold_ms: timing(&stats::HOLD_TIMES),
        }
    }

    /// One `.lock` sidecar as inspection sees it.
    #[napi(object)]
    pub struct LockInspection {
        pub lock_path: String,
        /// `kernel` (this package), `legacy` (the JavaScript lock) or `unknown` (empty or malformed).
        pub kind: String,
        /// Someone holds its kernel lock right now.
        pub held: bool,
        pub pid: Option<f64>,
        pub pid_alive: bool,
        pub created_at: Option<String>,
        pub age_ms: Option<f64>,
        pub mtime_ms: f64,
        pub size: f64,
        /// The next acquirer would take it over.
        pub stale: bool,
        pub stale_reasons: Vec<String>,
        pub removed: bool,
    }

    impl From<inspect::Inspection> for LockInspection {
        fn from(i: inspect::Inspection) -> Self {
            LockInspection {
                lock_path: i.lock_path.to_string_lossy().into_owned(),
                kind: i.kind.as_str().into(),
                held: i.held,
                pid: i.pid.map(|p| p as f64),
                pid_alive: i.pid_alive,
                created_at: i.created_at,
                age_ms: i.age_ms.map(|a| a as f64),
                mtime_ms: i.mtime_ms as f64,
                size: i.size as f64,
                stale: i.stale,
                stale_reasons: i.stale_reasons.into_iter().map(String::from).collect(),
                removed: i.removed,
            }
        }
    }

    fn stale_ms(ms: f64) -> i64 {
        if ms.is_finite() {
            ms as i64
        } else {
            i64::MAX
        }
    }

    /// Paths in `dir` whose names end in `suffix`, sorted. A missing directory has none.
    #[napi]
    pub fn list_lock_files(dir: String, suffix: String) -> Result<Vec<String>> {
        let found = inspect::scan(std::path::Path::new(&dir), &suffix).map_err(to_napi)?;
        Ok(found
            .into_iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect())
    }

    /// Inspects one sidecar without disturbing its holder.
    #[napi]
    pub fn inspect_lock_file(
        lock_path: String,
        stale_ms_window: f64,
        now_ms: Option<f64>,
    ) -> Result<LockInspection> {
        inspect::inspect(
            std::path::Path::new(&lock_path),
            stale_ms(stale_ms_window),
            now_ms.map(|n| n as i64),
        )
        .map(Into::into)
        .map_err(to_napi)
    }

    /// Removes a sidecar only if it is still stale when judged again under its kernel lock.
    #[napi]
    pub fn remove_stale_lock_file(
        lock_path: String,
        stale_ms_window: f64,
        now_ms: Option<f64>,
    ) -> Result<LockInspection> {
        inspect::remove_if_stale(
            std::path::Path::new(&lock_path),
            stale_ms(stale_ms_window),
            now_ms.map(|n| n as i64),
        )
        .map(Into::into)
        .map_err(to_napi)
    }

    /// A value handed to `configureSessionWriteLock`, described by `index.js` without losing `Infinity`,
    /// `NaN` or its type.
    #[napi(object)]
    pub struct ConfigEntry {
        pub key: String,
        /// `typeof` of the value (`null` for null).
        pub kind: String,
        pub number: Option<f64>,
        pub text: Option<String>,
    }

    fn raw_of(e: &ConfigEntry) -> config::Raw {
        use config::Raw;
        match (e.kind.as_str(), e.number, &e.text) {
            ("number", Some(n), _) => Raw::Number(n),
            ("string", _, Some(t)) => Raw::Text(t.clone()),
            ("boolean", _, Some(t)) => Raw::Bool(t == "true"),
            ("null" | "undefined", _, _) => Raw::Null,
            ("object", _, _) => Raw::Object(Vec::new()),
            (_, _, text) => Raw::Text(text.clone().unwrap_or_default()),
        }
    }

    /// Sets settings from code, above the environment and the file. Every entry is validated first; on
    /// an error nothing changes. A `null` value clears that key.
    #[napi]
    pub fn configure_lock(entries: Vec<ConfigEntry>) -> Result<()> {
        let raw: Vec<(String, config::Raw)> =
            entries.iter().map(|e| (e.key.clone(), raw_of(e))).collect();
        config::configure(&raw).map_err(|e| to_napi(LockError::Config(e)))
    }

    /// Per-call settings, already validated by `index.js`.
    #[napi(object)]
    pub struct CallSettings {
        pub acquire_timeout_ms: Option<f64>,
        pub stale_ms: Option<f64>,
        pub max_hold_ms: Option<f64>,
        pub notice_after_ms: Option<f64>,
        pub durability: Option<String>,
    }

    /// The effective settings, each with its source (`call`, `configure`, `env:<NAME>`, `file:<path>` or
    /// `default`), in the order acquireTimeoutMs, staleMs, maxHoldMs, noticeAfterMs, durability.
    #[napi(object)]
    pub struct ResolvedLockConfig {
        /// The values, as `lockSettings` returns them (with any new warnings).
        pub values: LockSettings,
        pub sources: Vec<String>,
        pub config_path: Option<String>,
    }

    fn resolve_layers(call: CallSettings, config_path: Option<String>) -> Result<config::Resolved> {
        use config::{Setting, Source};
        let ms = |v: Option<f64>| v.map(Setting::Ms);
        let durability = call
            .durability
            .as_deref()
            .map(|d| config::validate(4, &config::Raw::Text(d.into()), &Source::Call))
            .transpose()
            .map_err(|e| to_napi(LockError::Config(e)))?;
        let layer = [
            ms(call.acquire_timeout_ms),
            ms(call.stale_ms),
            ms(call.max_hold_ms),
            ms(call.notice_after_ms),
            durability,
        ];
        config::resolve(&layer, config_path.as_deref().map(std::path::Path::new))
            .map_err(|e| to_napi(LockError::Config(e)))
    }

    fn durability_name(s: config::Setting) -> String {
        match s {
            config::Setting::Durability(jsonl::Durability::Data) => "data",
            config::Setting::Durability(jsonl::Durability::Full) => "full",
            _ => "none",
        }
        .into()
    }

    /// Resolves the settings through the layers: call, configure, environment, file, defaults.
    #[napi]
    pub fn resolve_lock_config(
        call: CallSettings,
        config_path: Option<String>,
    ) -> Result<ResolvedLockConfig> {
        let r = resolve_layers(call, config_path)?;
        let sources = r.values.iter().map(|(_, src)| src.to_string()).collect();
        let config_path = r
            .config_path
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned());
        Ok(ResolvedLockConfig {
            values: settings_of(r),
            sources,
            config_path,
        })
    }

    fn settings_of(r: config::Resolved) -> LockSettings {
        let [a, s, m, n, d] = &r.values;
        LockSettings {
            acquire_timeout_ms: a.0.ms(),
            stale_ms: s.0.ms(),
            max_hold_ms: m.0.ms(),
            notice_after_ms: n.0.ms(),
            durability: durability_name(d.0),
            warnings: (!r.warnings.is_empty()).then(|| {
                r.warnings
                    .into_iter()
                    .map(|w| ConfigWarning {
                        code: w.code.into(),
                        message: w.message,
                    })
                    .collect()
            }),
        }
    }

    /// The settings in force for one lock call, without sources: the per-acquisition fast path.
    #[napi(object)]
    pub struct LockSettings {
        pub acquire_timeout_ms: f64,
        pub stale_ms: f64,
        pub max_hold_ms: f64,
        pub notice_after_ms: f64,
        pub durability: String,
        /// Set only when there are new warnings about the file.
        pub warnings: Option<Vec<ConfigWarning>>,
    }

    /// A configuration problem worth one warning (`process.emitWarning` with this `code`).
    #[napi(object)]
    pub struct ConfigWarning {
        pub code: String,
        pub message: String,
    }

    /// Like `resolveLockConfig`, for every acquisition: values only.
    #[napi]
    pub fn lock_settings(call: CallSettings, config_path: Option<String>) -> Result<LockSettings> {
        resolve_layers(call, config_path).map(settings_of)
    }
}
