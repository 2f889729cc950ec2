//! Acquiring a session's lock: the protocol's steps 1 to 5 (docs/design.md).
//!
//! [`request`] never waits: it takes the in-process turn and the kernel lock when both are free, which
//! is the whole cost of an uncontended acquisition. Otherwise it returns a [`Request`] that [`wait`]
//! drives to completion on the runtime, bounded by the timeout and a [`Cancel`] token.

use std::fs::File;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};

use crate::error::{LockError, Owner, OwnerKind};
use crate::hold::{Claimed, HoldGuard, RevokeHook, Takeover};
use crate::kernel_lock::{self, Adopted, KernelWait, OnGrant};
use crate::payload::Payload;
use crate::process::{self, Os};
use crate::queue::{self, Entry, Turn};
use crate::sidecar::{self, LockTarget};
use crate::staleness::{self, Context, Judge, Verdict};
use crate::stats::{self, COUNTERS, WAIT_TIMES};
use crate::{clock, monitor, network_fs};

/// What one acquisition is allowed to do.
#[derive(Clone)]
pub struct Settings {
    /// `None` waits forever.
    pub timeout: Option<Duration>,
    /// The legacy staleness window, for judging legacy sidecars.
    pub stale_ms: i64,
    /// Revoke the hold past this; `None` never does.
    pub max_hold: Option<Duration>,
    pub on_revoke: Option<RevokeHook>,
    /// Lock sessions on NFS, SMB and other network filesystems anyway.
    pub allow_network_fs: bool,
    /// Who holds, in words (a run id, a session key), written into the payload.
    pub owner: Option<Arc<str>>,
}

/// Aborts a pending acquisition from another thread.
#[derive(Clone)]
pub struct Cancel(Arc<watch::Sender<bool>>);

impl Default for Cancel {
    fn default() -> Self {
        Cancel(Arc::new(watch::channel(false).0))
    }
}

impl Cancel {
    pub fn cancel(&self) {
        self.0.send_replace(true);
    }

    async fn cancelled(&self) {
        let _ = self.0.subscribe().wait_for(|c| *c).await;
    }
}

enum Blocked {
    /// Another process holds the kernel lock on this sidecar.
    Kernel { file: File, created: bool },
    /// A legacy holder may be alive.
    Legacy,
    /// We took over a stale or crashed holder's sidecar; a legacy waiter that judged it stale a moment
    /// earlier may still delete it by path. Wait, then check that it is still ours (see [`SETTLE`]).
    Settling {
        file: File,
        id: sidecar::FileId,
        acquired_at_ms: i64,
        took_over: Box<Takeover>,
    },
}

/// How long a takeover waits before it counts. A legacy waiter reads a sidecar, judges it stale and
/// deletes it by path, with no check in between; if we took that same sidecar over meanwhile, its
/// deletion removes ours. Waiting this long after writing our payload, then re-checking the path, lets
/// such a racing deletion land first, so we retry instead of holding a lock that a legacy process also
/// holds. Takeovers are rare (a crash, a stale legacy file), so the delay costs little.
pub const SETTLE: Duration = Duration::from_millis(100);

enum Stage {
    Queued(queue::Queued),
    Blocked(Turn, Blocked),
}

/// An acquisition that has to wait.
pub struct Request {
    target: LockTarget,
    settings: Settings,
    started: Instant,
    stage: Stage,
}

impl Request {
    /// The sidecar it waits for (the lock path its hold will have).
    pub fn lock_path(&self) -> &Path {
        &self.target.lock_path
    }
}

pub enum Attempt {
    Acquired(HoldGuard),
    Pending(Box<Request>),
}

enum Step {
    Claimed(HoldGuard),
    Blocked(Turn, Blocked),
}

enum Interrupt {
    Timeout,
    Aborted,
}

/// Refuses a session on a network filesystem unless allowed (see `filesystem`).
fn check_filesystem(target: &LockTarget, settings: &Settings) -> Result<(), LockError> {
    if settings.allow_network_fs || network_fs::allowed_by_env() {
        return Ok(());
    }
    let dir = target.lock_path.parent().unwrap_or(Path::new("/"));
    match network_fs::network_fs(dir).map_err(|e| LockError::io("statfs", dir, e))? {
        Some(fs) => Err(LockError::NetworkFilesystem {
            path: dir.to_path_buf(),
            fs,
        }),
        None => Ok(()),
    }
}

/// Takes the lock now if nothing stands in the way; never waits.
pub fn request(target: LockTarget, settings: Settings) -> Result<Attempt, LockError> {
    check_filesystem(&target, &settings)?;
    let started = Instant::now();
    let stage = match queue::enter(&target.lock_path) {
        Entry::Queued(q) => Stage::Queued(q),
        Entry::Turn(turn) => match claim(&target, &settings, turn, None, started)? {
            Step::Claimed(held) => return Ok(Attempt::Acquired(held)),
            Step::Blocked(turn, blocked) => Stage::Blocked(turn, blocked),
        },
    };
    stats::bump(&COUNTERS.contended);
    Ok(Attempt::Pending(Box::new(Request {
        target,
        settings,
        started,
        stage,
    })))
}

/// How a pending acquisition ended.
pub enum Finished {
    Held(HoldGuard),
    Failed(LockError),
    /// The kernel lock is ours; steps 3 to 5 are left for the receiver to run ([`Granted::claim`]) on
    /// the thread it resumes on, so that the thread the kernel woke only has to pass it on.
    Granted(Granted),
}

/// Receives a pending acquisition's end, once, on the thread that got there: the `flock` thread for a
/// kernel grant, the runtime otherwise.
pub type Deliver = Box<dyn FnOnce(Finished) + Send>;

/// A kernel lock obtained for a pending acquisition, its claim not made yet. Dropping it closes the
/// descriptor, which lets the lock go, and hands the turn on.
pub struct Granted {
    pending: Arc<Pending>,
    turn: Turn,
    file: File,
    created: bool,
}

impl Granted {
    /// Steps 3 to 5 on the sidecar just locked: the hold, or (a live legacy holder, a takeover that
    /// must settle) a request to wait on further, still timed from the first attempt.
    pub fn claim(self) -> Result<Attempt, LockError> {
        let p = &self.pending;
        let locked = Some((self.file, self.created));
        Ok(
            match claim(&p.target, &p.settings, self.turn, locked, p.started)? {
                Step::Claimed(held) => Attempt::Acquired(held),
                Step::Blocked(turn, blocked) => Attempt::Pending(Box::new(Request {
                    target: p.target.clone(),
                    settings: p.settings.clone(),
                    started: p.started,
                    stage: Stage::Blocked(turn, blocked),
                })),
            },
        )
    }
}

/// What a pending acquisition needs wherever it ends, and where its end goes (once).
struct Pending {
    target: LockTarget,
    settings: Settings,
    started: Instant,
    deliver: std::sync::Mutex<Option<Deliver>>,
}

impl Pending {
    /// Whether its end has gone to the receiver already.
    fn delivered(&self) -> bool {
        self.deliver
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
    }

    fn deliver(&self, finished: Finished) {
        let deliver = self
            .deliver
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(deliver) = deliver {
            deliver(finished);
        }
    }
}

/// Waits for a pending acquisition, without blocking any thread but the session's `flock` waiter, and
/// delivers how it ended to `deliver`. A kernel grant goes straight from the thread the kernel woke to
/// `deliver`, so that a cross-process handoff wakes no other thread before the caller's.
pub async fn wait_then(req: Box<Request>, cancel: Cancel, deliver: Deliver) {
    let Request {
        target,
        settings,
        started,
        stage,
    } = *req;
    let pending = Arc::new(Pending {
        target,
        settings,
        started,
        deliver: std::sync::Mutex::new(Some(deliver)),
    });
    // `None`: delivered already (by the `flock` thread, or a direct claim in the queue); unless the
    // `flock` thread's claim panicked, which this then reports.
    let finished = drive(&pending, stage, &cancel).await.unwrap_or_else(|| {
        Finished::Failed(LockError::invalid("the thread waiting for the lock failed"))
    });
    pending.deliver(finished);
}

/// [`wait_then`] to the end, claiming a kernel grant on the calling thread.
pub async fn wait(mut req: Box<Request>, cancel: Cancel) -> Result<HoldGuard, LockError> {
    loop {
        let (tx, rx) = oneshot::channel();
        let deliver: Deliver = Box::new(move |finished| {
            let _ = tx.send(finished);
        });
        wait_then(req, cancel.clone(), deliver).await;
        match rx.await {
            Ok(Finished::Held(held)) => return Ok(held),
            Ok(Finished::Failed(e)) => return Err(e),
            Ok(Finished::Granted(granted)) => match granted.claim()? {
                Attempt::Acquired(held) => return Ok(held),
                Attempt::Pending(next) => req = next,
            },
            Err(_) => return Err(LockError::invalid("a lock wait ended without an outcome")),
        }
    }
}

/// The stages of a wait, up to its end; `None` when it was delivered elsewhere (the `flock` thread, a
/// direct claim).
async fn drive(p: &Arc<Pending>, stage: Stage, cancel: &Cancel) -> Option<Finished> {
    let (target, settings, started) = (&p.target, &p.settings, p.started);
    let deadline = settings.timeout.and_then(|t| started.checked_add(t));
    let interrupted = |why: Interrupt| fail(target, settings, started, why);
    let (mut turn, mut blocked) = match stage {
        Stage::Blocked(turn, blocked) => (turn, blocked),
        Stage::Queued(queued) => {
            queued.claim_handed_with(claim_handed_here(p));
            let turn = match bounded(queued.rx, deadline, cancel).await {
                Ok(Ok(turn)) => turn,
                // The turn came with its sidecar and was claimed where the hold before ended (see
                // `claim_handed_here`), which delivered it; or the registry is gone with the process.
                Ok(Err(_)) => {
                    return Some(Finished::Failed(LockError::invalid(
                        "session lock queue closed",
                    )))
                }
                // Claimed that way, and its channel kept for a while (`queue`): nothing timed out.
                Err(_) if p.delivered() => return None,
                Err(why) => return Some(Finished::Failed(interrupted(why))),
            };
            match claim(target, settings, turn, None, started) {
                Ok(Step::Claimed(held)) => return Some(Finished::Held(held)),
                Ok(Step::Blocked(turn, b)) => (turn, b),
                Err(e) => return Some(Finished::Failed(e)),
            }
        }
    };
    let mut attempt = 0u32;
    let mut ready = None;
    loop {
        let locked = match blocked {
            Blocked::Kernel { file, created } => {
                match wait_kernel(p, turn, (file, created), ready.take(), deadline, cancel).await {
                    Ok(None) => return None,
                    Ok(Some((t, b, r))) => {
                        (turn, blocked, ready) = (t, b, r);
                        continue;
                    }
                    Err(e) => return Some(Finished::Failed(e)),
                }
            }
            Blocked::Legacy => {
                if let Err(why) =
                    bounded(tokio::time::sleep(backoff(attempt)), deadline, cancel).await
                {
                    return Some(Finished::Failed(interrupted(why)));
                }
                attempt += 1;
                None
            }
            Blocked::Settling {
                file,
                id,
                acquired_at_ms,
                took_over,
            } => {
                // Not bounded by the acquire timeout: a takeover is not a wait for a busy holder.
                if let Err(why) = bounded(tokio::time::sleep(SETTLE), None, cancel).await {
                    let _ = sidecar::unlink_if_named(&target.lock_path, id);
                    return Some(Finished::Failed(interrupted(why)));
                }
                if sidecar::names(&target.lock_path, id).unwrap_or(false) {
                    let claimed = Claimed {
                        file,
                        id,
                        acquired_at_ms,
                        turn,
                        took_over: Some(*took_over),
                        chain: sidecar::Chain::fresh(),
                    };
                    return Some(Finished::Held(granted(target, settings, claimed, started)));
                }
                // A legacy waiter deleted it: it holds the session now. Start over.
                stats::bump(&COUNTERS.legacy_races);
                None
            }
        };
        match claim(target, settings, turn, locked, started) {
            Ok(Step::Claimed(held)) => return Some(Finished::Held(held)),
            Ok(Step::Blocked(t, b)) => (turn, blocked) = (t, b),
            Err(e) => return Some(Finished::Failed(e)),
        }
    }
}

/// The longest pause between two looks at a live legacy holder: the interval 2026.5+ waiters poll at
/// themselves, so a legacy release reaches us as fast as it reaches them (a look costs a few syscalls).
pub const LEGACY_POLL_MAX: Duration = Duration::from_millis(50);

/// Capped, jittered exponential backoff for polling a live legacy holder (which cannot wake us).
fn backoff(attempt: u32) -> Duration {
    let cap = LEGACY_POLL_MAX.as_millis() as u64;
    let base = 4u64.saturating_mul(1 << attempt.min(6)).min(cap);
    let jitter = clock::now_ms().unsigned_abs() % (base / 2 + 1);
    Duration::from_millis(base / 2 + jitter)
}

async fn bounded<F: Future>(
    fut: F,
    deadline: Option<Instant>,
    cancel: &Cancel,
) -> Result<F::Output, Interrupt> {
    let sleep = async {
        match deadline {
            Some(at) => tokio::time::sleep_until(at.into()).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        out = fut => Ok(out),
        () = sleep => Err(Interrupt::Timeout),
        () = cancel.cancelled() => Err(Interrupt::Aborted),
    }
}

/// What a kernel wait leaves for the runtime.
enum Slot {
    /// Waiting: the turn, for whichever ends the wait (the thread that gets the lock, an interruption).
    Armed(Turn),
    /// Delivered (or given up).
    Taken,
    /// The thread got the lock of a released sidecar, but another process of this protocol was first
    /// to the name: wait on its sidecar next, with the prepared one.
    Again(Turn, Blocked, Option<Ready>),
}

/// Waits for the kernel lock through the session's single `flock` waiter thread, which delivers the
/// grant itself. `Ok(None)` once it has; `Ok(Some(..))` when the lock it got was not the session's
/// any more, and the wait goes on on the sidecar that is.
async fn wait_kernel(
    p: &Arc<Pending>,
    turn: Turn,
    (file, created): (File, bool),
    ready: Option<Ready>,
    deadline: Option<Instant>,
    cancel: &Cancel,
) -> Result<Option<(Turn, Blocked, Option<Ready>)>, LockError> {
    let path = &p.target.lock_path;
    let in_flight = turn.kernel_wait();
    let slot = Arc::new(std::sync::Mutex::new(Slot::Armed(turn)));
    let ready = ready.or_else(|| Ready::prepare(path, p.settings.owner.as_deref()));
    let claimant = deliver_on_grant(p, &slot, ready);
    let wait = match in_flight {
        Some(w) => match w.adopt(claimant) {
            Adopted::Pending => w,
            Adopted::Gone(claimant) => start_kernel_wait(file, created, claimant, &slot, path)?,
        },
        None => start_kernel_wait(file, created, claimant, &slot, path)?,
    };
    let interrupted = bounded(wait.finished(), deadline, cancel).await.err();
    if let Some(why) = interrupted {
        if !wait.unclaim() {
            // Too late: the thread has the lock. Its outcome stands, unless it is a further wait.
            wait.finished().await;
            if let Slot::Taken = take(&slot) {
                return Ok(None);
            }
        }
        // The turn (and whatever the thread left) goes to the next caller of this process.
        drop(take(&slot));
        return Err(fail(&p.target, &p.settings, p.started, why));
    }
    Ok(match take(&slot) {
        Slot::Again(turn, blocked, ready) => Some((turn, blocked, ready)),
        Slot::Taken | Slot::Armed(_) => None,
    })
}

fn take(slot: &std::sync::Mutex<Slot>) -> Slot {
    std::mem::replace(
        &mut *slot.lock().unwrap_or_else(|p| p.into_inner()),
        Slot::Taken,
    )
}

/// Starts the session's `flock` waiter on `file` and records it for the next turn-holder to adopt.
fn start_kernel_wait(
    file: File,
    created: bool,
    claimant: OnGrant,
    slot: &std::sync::Mutex<Slot>,
    path: &Path,
) -> Result<Arc<KernelWait>, LockError> {
    let wait =
        KernelWait::start(file, created, claimant).map_err(|e| LockError::io("flock", path, e))?;
    // Unless the thread has had the lock already (it then cleared the session's record).
    if let Slot::Armed(turn) = &*slot.lock().unwrap_or_else(|p| p.into_inner()) {
        turn.set_kernel_wait(Some(Arc::clone(&wait)));
    }
    Ok(wait)
}

/// The claimant of a kernel wait, on the `flock` thread, the moment it has the lock. The holder it
/// woke has unlinked its sidecar (a release unlinks before it unlocks), so the name is usually free:
/// then `ready` is named, and that is the whole claim. When another process of this protocol was
/// first to the name, the wait goes on on its sidecar (left in `slot` for the runtime). Otherwise (a
/// crashed holder's sidecar, a legacy newcomer) the lock goes unclaimed to the acquisition's receiver,
/// which makes the usual claim.
fn deliver_on_grant(
    p: &Arc<Pending>,
    slot: &Arc<std::sync::Mutex<Slot>>,
    ready: Option<Ready>,
) -> OnGrant {
    let (p, slot) = (Arc::clone(p), Arc::clone(slot));
    Box::new(move |result, created| {
        let mut guard = slot.lock().unwrap_or_else(|p| p.into_inner());
        let Slot::Armed(turn) = std::mem::replace(&mut *guard, Slot::Taken) else {
            return None;
        };
        turn.set_kernel_wait(None);
        let path = &p.target.lock_path;
        let file = match result {
            Ok(file) => file,
            Err(e) => {
                drop(guard);
                p.deliver(Finished::Failed(LockError::io("flock", path, e)));
                return None;
            }
        };
        let owner = p.settings.owner.as_deref();
        let ready = match ready.map(|r| publish_ready(r, path, owner)) {
            Some(Ok((published, st, acquired_at_ms))) => {
                drop(guard);
                let claimed = Claimed::free(published, st.id, acquired_at_ms, turn);
                p.deliver(Finished::Held(granted(
                    &p.target,
                    &p.settings,
                    claimed,
                    p.started,
                )));
                // Unlocked now, so that other processes' waiters on the released sidecar move on
                // to ours; closed once the caller's thread has had its CPU: the last close of an
                // unlinked file frees it, which costs as much as the claim.
                let _ = kernel_lock::unlock(&file);
                return Some(file);
            }
            Some(Err(back)) => back,
            None => None,
        };
        // The name is taken. By another holder of this protocol (its kernel lock is held): wait on
        // that. (Not when it is the very file just locked: a holder that died without unlinking.)
        let (mut file, mut created) = (file, created);
        let id = |f: &File| sidecar::stat(f).ok().map(|st| st.id);
        if let Ok(next) = sidecar::open(path) {
            if id(&next.file) != id(&file) {
                match kernel_lock::try_lock(&next.file) {
                    Ok(false) => {
                        let blocked = Blocked::Kernel {
                            file: next.file,
                            created: next.created,
                        };
                        *guard = Slot::Again(turn, blocked, ready);
                        return None;
                    }
                    // Free (or just created, empty): the sidecar to claim is that one.
                    Ok(true) => (file, created) = (next.file, next.created),
                    Err(_) => discard_if_created(&next.file, next.created, path),
                }
            }
        }
        drop(guard);
        p.deliver(Finished::Granted(Granted {
            pending: Arc::clone(&p),
            turn,
            file,
            created,
        }));
        None
    })
}

/// One pass over steps 1 to 5, with the turn in hand. `locked` is a sidecar whose kernel lock a wait
/// just obtained.
fn claim(
    target: &LockTarget,
    settings: &Settings,
    mut turn: Turn,
    mut locked: Option<(File, bool)>,
    started: Instant,
) -> Result<Step, LockError> {
    let path = &target.lock_path;
    if let Some(handed) = turn.take_handed() {
        return claim_handed(target, settings, turn, handed, started).map(Step::Claimed);
    }
    loop {
        let (file, created) = match locked.take() {
            Some(pair) => pair,
            None => {
                if let Some((file, st, acquired_at_ms)) =
                    publish_fresh(path, settings.owner.as_deref())
                {
                    let claimed = Claimed::free(file, st.id, acquired_at_ms, turn);
                    return Ok(Step::Claimed(granted(target, settings, claimed, started)));
                }
                let opened = sidecar::open(path)?;
                let got = kernel_lock::try_lock(&opened.file)
                    .map_err(|e| LockError::io("flock", path, e));
                if !got.inspect_err(|_| discard_if_created(&opened.file, opened.created, path))? {
                    return Ok(Step::Blocked(
                        turn,
                        Blocked::Kernel {
                            file: opened.file,
                            created: opened.created,
                        },
                    ));
                }
                (opened.file, opened.created)
            }
        };
        // Step 3: the previous holder may have unlinked it before we got its lock.
        let st = sidecar::stat(&file).map_err(|e| LockError::io("fstat", path, e))?;
        if !sidecar::names(path, st.id).map_err(|e| LockError::io("lstat", path, e))? {
            continue;
        }
        let verdict = judge(&file, &st, created, settings.stale_ms, path);
        let verdict = verdict.inspect_err(|_| discard_if_created(&file, created, path))?;
        let takeover = match verdict {
            Verdict::Busy { .. } => return Ok(Step::Blocked(turn, Blocked::Legacy)),
            Verdict::Fresh => None,
            Verdict::RecoverCrashed { pid } => {
                stats::bump(&COUNTERS.recoveries);
                Some(Takeover {
                    pid,
                    reasons: vec!["crashed"],
                })
            }
            Verdict::TakeOverStale { reasons, pid } => {
                stats::bump(&COUNTERS.legacy_takeovers);
                let reasons = reasons.iter().map(|r| r.as_str()).collect();
                Some(Takeover { pid, reasons })
            }
        };
        let acquired_at_ms = clock::now_ms();
        sidecar::write_our_payload(&file, st.size, acquired_at_ms, settings.owner.as_deref())
            .map_err(|e| LockError::io("write", path, e))
            .inspect_err(|_| discard_if_created(&file, created, path))?;
        if let Some(took_over) = takeover {
            let settling = Blocked::Settling {
                file,
                id: st.id,
                acquired_at_ms,
                took_over: Box::new(took_over),
            };
            return Ok(Step::Blocked(turn, settling));
        }
        let claimed = Claimed::free(file, st.id, acquired_at_ms, turn);
        return Ok(Step::Claimed(granted(target, settings, claimed, started)));
    }
}

/// The sidecar the previous hold of this process passed on: our payload replaces its payload, and the
/// hold goes on. A write that fails releases it (unlinked if still ours, then closed).
fn claim_handed(
    target: &LockTarget,
    settings: &Settings,
    turn: Turn,
    handed: sidecar::Handed,
    started: Instant,
) -> Result<HoldGuard, LockError> {
    let path = &target.lock_path;
    let acquired_at_ms = clock::now_ms();
    let owner = settings.owner.as_deref();
    // Its length, so that it is cut only when the new payload is shorter (an `ftruncate` costs
    // more than the `fstat`).
    let written = sidecar::stat(handed.file())
        .and_then(|st| sidecar::write_our_payload(handed.file(), st.size, acquired_at_ms, owner));
    if let Err(e) = written {
        drop(handed);
        return Err(LockError::io("write", path, e));
    }
    let (file, id, chain) = handed.take();
    stats::bump(&COUNTERS.handed_on);
    let claimed = Claimed {
        file,
        id,
        acquired_at_ms,
        turn,
        took_over: None,
        chain,
    };
    Ok(granted(target, settings, claimed, started))
}

/// How a queued acquisition claims a turn that comes with its sidecar: on the thread that ended the
/// hold before it, at once, and delivered from there (unless its wait has ended meanwhile: then the
/// turn goes back, to the caller after it).
fn claim_handed_here(p: &Arc<Pending>) -> queue::Direct {
    let p = Arc::clone(p);
    Box::new(move |mut turn| {
        let Some(deliver) = p.deliver.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return Err(turn);
        };
        let finished = match turn.take_handed() {
            Some(handed) => match claim_handed(&p.target, &p.settings, turn, handed, p.started) {
                Ok(held) => Finished::Held(held),
                Err(e) => Finished::Failed(e),
            },
            None => Finished::Failed(LockError::invalid("a handed turn came without its sidecar")),
        };
        deliver(finished);
        Ok(())
    })
}

/// Step 1 where the OS allows it (Linux): the sidecar appears with our payload already in it and its
/// kernel lock already taken, so no legacy waiter ever sees it empty (2026.2 deletes an empty sidecar
/// on sight). `None` when the name is taken or the file system cannot: then the usual `O_EXCL` path.
fn publish_fresh(path: &Path, owner: Option<&str>) -> Option<(File, sidecar::Stat, i64)> {
    publish_ready(Ready::prepare(path, owner)?, path, owner).ok()
}

/// A sidecar made ready to appear: unnamed, its payload written and its kernel lock taken. A waiter
/// prepares one while it waits, so that when the kernel wakes it, one `linkat` makes it the holder.
struct Ready {
    prepared: sidecar::Unpublished,
    acquired_at_ms: i64,
}

/// How old a prepared payload may be when it is published; older, it is written again first.
const READY_FRESH_MS: i64 = 1_000;

impl Ready {
    fn prepare(path: &Path, owner: Option<&str>) -> Option<Ready> {
        let acquired_at_ms = clock::now_ms();
        let payload = sidecar::our_payload(acquired_at_ms, owner);
        let prepared = sidecar::unpublished(path, payload.as_bytes())?;
        if !kernel_lock::try_lock(&prepared.file).unwrap_or(false) {
            return None;
        }
        Some(Ready {
            prepared,
            acquired_at_ms,
        })
    }
}

/// Names a prepared sidecar `path` unless something is there: then the usual claim, with the prepared
/// sidecar back when it can still serve (the name was only taken).
fn publish_ready(
    ready: Ready,
    path: &Path,
    owner: Option<&str>,
) -> Result<(File, sidecar::Stat, i64), Option<Ready>> {
    let Ready {
        prepared,
        mut acquired_at_ms,
    } = ready;
    let now = clock::now_ms();
    if now - acquired_at_ms > READY_FRESH_MS {
        acquired_at_ms = now;
        sidecar::write_our_payload(&prepared.file, prepared.stat.size, now, owner)
            .map_err(|_| None)?;
    }
    match sidecar::publish(prepared, path) {
        Ok((file, st)) => Ok((file, st, acquired_at_ms)),
        Err(back) => Err(back.map(|prepared| Ready {
            prepared,
            acquired_at_ms,
        })),
    }
}

/// Counts a grant and makes its hold.
fn granted(target: &LockTarget, s: &Settings, claimed: Claimed, started: Instant) -> HoldGuard {
    stats::bump(&COUNTERS.acquisitions);
    let waited = started.elapsed();
    WAIT_TIMES.record(waited);
    hold_for(target, s, claimed, waited)
}

/// Makes the hold and puts it under the monitor's watch (re-verification, refresh, `maxHoldMs`).
fn hold_for(target: &LockTarget, s: &Settings, claimed: Claimed, waited: Duration) -> HoldGuard {
    let held = HoldGuard::new(
        target.clone(),
        claimed,
        waited,
        s.stale_ms,
        s.max_hold,
        s.on_revoke.clone(),
        s.owner.clone(),
    );
    monitor::watch(&held.share());
    held
}

/// Step 4: reads the sidecar (unless it is empty) and decides.
fn judge(
    file: &File,
    st: &sidecar::Stat,
    created: bool,
    stale_ms: i64,
    path: &Path,
) -> Result<Verdict, LockError> {
    let payload = if st.size == 0 {
        Payload::Empty
    } else {
        Payload::parse(&sidecar::read_payload(file).map_err(|e| LockError::io("read", path, e))?)
    };
    let self_pid = i64::from(process::self_identity().0);
    let ctx = Context {
        now_ms: clock::now_ms(),
        mtime_ms: st.mtime_ms,
        stale_ms,
        self_pid,
        judge: Judge::Acquirer,
    };
    Ok(staleness::decide(&payload, created, &ctx, &Os))
}

/// A sidecar we created but could not claim is removed, so nobody mistakes it for a holder.
fn discard_if_created(file: &File, created: bool, path: &Path) {
    if created {
        if let Ok(st) = sidecar::stat(file) {
            let _ = sidecar::unlink_if_named(path, st.id);
        }
    }
}

/// Who holds the sidecar now, for a timeout report or a wait notice.
pub fn current_owner(path: &Path) -> Owner {
    let payload = sidecar::open_for_inspection(path)
        .ok()
        .and_then(|f| sidecar::read_payload(&f).ok())
        .map(|b| Payload::parse(&b));
    let Some(payload) = payload else {
        return Owner {
            pid: None,
            alive: None,
            kind: OwnerKind::Unknown,
            held_for_ms: None,
            label: None,
            hostname: None,
            process: None,
        };
    };
    let pid = payload.pid();
    let kind = match &payload {
        _ if pid == Some(i64::from(process::self_identity().0)) => OwnerKind::InProcess,
        p if p.is_kernel() => OwnerKind::Kernel,
        Payload::Parsed(_) => OwnerKind::Legacy,
        _ => OwnerKind::Unknown,
    };
    let fields = payload.fields();
    let since = fields.and_then(|f| f.acquired_at_ms.or(f.created_at_ms));
    Owner {
        pid,
        alive: pid.map(process::pid_alive),
        kind,
        held_for_ms: since.map(|t| (clock::now_ms() - t).max(0)),
        label: fields.and_then(|f| f.owner.clone()),
        hostname: fields.and_then(|f| f.hostname.clone()),
        process: fields.and_then(|f| f.process.clone()),
    }
}

fn fail(target: &LockTarget, settings: &Settings, started: Instant, why: Interrupt) -> LockError {
    let waited_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let lock_path = target.lock_path.clone();
    match why {
        Interrupt::Aborted => {
            stats::bump(&COUNTERS.aborts);
            LockError::Aborted {
                lock_path,
                waited_ms,
            }
        }
        Interrupt::Timeout => {
            stats::bump(&COUNTERS.timeouts);
            let timeout_ms = settings.timeout.map_or(u64::MAX, |t| t.as_millis() as u64);
            LockError::Timeout {
                owner: Box::new(current_owner(&lock_path)),
                lock_path,
                timeout_ms,
                waited_ms,
            }
        }
    }
}

/// Acquires on the calling thread, blocking it until the lock is granted (the sync twins).
pub fn acquire_blocking(target: LockTarget, settings: Settings) -> Result<HoldGuard, LockError> {
    match request(target, settings)? {
        Attempt::Acquired(held) => Ok(held),
        Attempt::Pending(req) => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .map_err(|e| LockError::io("runtime", &req.target.lock_path.clone(), e))?;
            rt.block_on(wait(req, Cancel::default()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TempDir;
    use std::fs;
    use std::path::PathBuf;

    /// A session in a directory of its own (removed when the guard drops).
    fn target(tag: &str) -> (TempDir, LockTarget) {
        let dir = TempDir::new(&format!("acquire-{tag}"));
        let t = sidecar::resolve(dir.join("s.jsonl").to_str().unwrap(), true).unwrap();
        (dir, t)
    }

    fn settings(timeout_ms: u64) -> Settings {
        Settings {
            timeout: Some(Duration::from_millis(timeout_ms)),
            stale_ms: 1_800_000,
            max_hold: None,
            on_revoke: None,
            allow_network_fs: false,
            owner: None,
        }
    }

    fn must_acquire(t: &LockTarget) -> HoldGuard {
        match request(t.clone(), settings(1000)).unwrap() {
            Attempt::Acquired(h) => h,
            Attempt::Pending(_) => panic!("expected an uncontended acquisition"),
        }
    }

    #[test]
    fn acquire_writes_a_kernel_payload_and_release_unlinks() {
        let (_dir, t) = target("basic");
        let held = must_acquire(&t);
        let text = fs::read_to_string(&t.lock_path).unwrap();
        let p = Payload::parse(text.as_bytes());
        assert!(p.is_kernel());
        assert_eq!(p.pid(), Some(i64::from(std::process::id())));
        drop(held);
        assert!(!t.lock_path.exists());
    }

    #[test]
    fn a_crashed_holders_payload_is_recovered_at_once() {
        let (_dir, t) = target("crashed");
        fs::write(&t.lock_path, hold_payload_of_dead_kernel_holder()).unwrap();
        let before = COUNTERS
            .recoveries
            .load(std::sync::atomic::Ordering::Relaxed);
        // Taken over without waiting for any holder: only the settle, then the sidecar is ours.
        let started = Instant::now();
        let held = acquire_blocking(t.clone(), settings(0)).unwrap();
        assert!(started.elapsed() >= SETTLE && started.elapsed() < SETTLE * 5);
        assert!(held.is_held());
        assert!(
            COUNTERS
                .recoveries
                .load(std::sync::atomic::Ordering::Relaxed)
                > before
        );
        // What the tracing channels report: whom it took over, and why.
        let expected = Takeover {
            pid: Some(1),
            reasons: vec!["crashed"],
        };
        assert_eq!(held.origin.took_over, Some(expected));
        assert!(held.origin.waited >= SETTLE);
    }

    #[test]
    fn a_dead_legacy_holders_sidecar_is_taken_over_with_its_stale_rule() {
        let (_dir, t) = target("dead-legacy");
        let dead = process::test_pids::dead();
        let legacy = format!(
            "{{\"pid\":{dead},\"createdAt\":\"{}\"}}",
            clock::format_iso_ms(clock::now_ms())
        );
        fs::write(&t.lock_path, legacy).unwrap();
        let held = acquire_blocking(t.clone(), settings(0)).unwrap();
        let took_over = held.origin.took_over.clone().expect("a takeover");
        assert_eq!(took_over.pid, Some(dead));
        assert_eq!(took_over.reasons, vec!["dead-pid"]);
        drop(held);
        // A free session is no takeover, and no wait to speak of.
        let fresh = must_acquire(&t);
        assert_eq!(fresh.origin.took_over, None);
        assert!(fresh.origin.waited < SETTLE);
    }

    #[test]
    fn a_takeover_whose_sidecar_is_deleted_during_the_settle_starts_over() {
        let (_dir, t) = target("settle-race");
        let vanish = crate::os_file::names_vanish_while_open(t.lock_path.parent().unwrap());
        if cfg!(windows) && !vanish {
            eprintln!("skipped: an open sidecar cannot be deleted and replaced here");
            return;
        }
        assert!(vanish, "on Unix, unlink removes an open file's name");
        fs::write(&t.lock_path, hold_payload_of_dead_kernel_holder()).unwrap();
        let Attempt::Pending(req) = request(t.clone(), settings(5_000)).unwrap() else {
            panic!("a takeover settles first")
        };
        // What a racing legacy waiter does: delete by path, create its own with a live pid.
        let me = std::process::id();
        let (_, st) = process::self_identity();
        crate::os_file::delete_as_another_process(&t.lock_path).unwrap();
        let legacy = format!(
            "{{\"pid\":{me},\"createdAt\":\"{}\",\"starttime\":{}}}",
            clock::format_iso_ms(clock::now_ms()),
            st.unwrap_or(0)
        );
        fs::write(&t.lock_path, &legacy).unwrap();
        let before = COUNTERS
            .legacy_races
            .load(std::sync::atomic::Ordering::Relaxed);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let remover = std::thread::spawn({
            let path = t.lock_path.clone();
            move || {
                std::thread::sleep(Duration::from_millis(400));
                crate::os_file::delete_as_another_process(&path).unwrap(); // the legacy holder releases
            }
        });
        let held = rt.block_on(wait(req, Cancel::default())).unwrap();
        remover.join().unwrap();
        assert!(
            COUNTERS
                .legacy_races
                .load(std::sync::atomic::Ordering::Relaxed)
                > before
        );
        assert!(held.is_held(), "acquired after the legacy holder let go");
    }

    fn hold_payload_of_dead_kernel_holder() -> String {
        // A live pid: only the kernel marker, and the free kernel lock, make it reclaimable.
        crate::payload::render(
            1,
            clock::now_ms(),
            clock::now_ms(),
            None,
            &crate::payload::Holder::default(),
        )
    }

    #[test]
    fn a_live_legacy_holder_times_out_with_its_owner() {
        let (_dir, t) = target("legacy");
        let me = std::process::id();
        let (_, st) = process::self_identity();
        let legacy = format!(
            "{{\"pid\":{me},\"createdAt\":\"{}\",\"starttime\":{}}}",
            clock::format_iso_ms(clock::now_ms()),
            st.unwrap_or(0)
        );
        fs::write(&t.lock_path, legacy).unwrap();
        let Attempt::Pending(req) = request(t.clone(), settings(60)).unwrap() else {
            panic!("a live legacy holder must block")
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let err = rt.block_on(wait(req, Cancel::default())).err().unwrap();
        let LockError::Timeout {
            owner, waited_ms, ..
        } = err
        else {
            panic!("expected a timeout")
        };
        assert_eq!(owner.pid, Some(i64::from(me)));
        assert!(waited_ms >= 60);
        assert!(
            t.lock_path.exists(),
            "the legacy holder's file is left alone"
        );
    }

    #[test]
    fn a_queued_caller_can_be_cancelled() {
        let (_dir, t) = target("cancel");
        let held = must_acquire(&t);
        let Attempt::Pending(req) = request(t.clone(), settings(60_000)).unwrap() else {
            panic!()
        };
        let cancel = Cancel::default();
        cancel.cancel();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        assert!(matches!(
            rt.block_on(wait(req, cancel)),
            Err(LockError::Aborted { .. })
        ));
        drop(held);
        drop(must_acquire(&t));
        let _: PathBuf = t.lock_path;
    }
}
