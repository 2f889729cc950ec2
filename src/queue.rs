//! The in-process side of the lock: one FIFO queue per canonical lock path, in a process-wide static so
//! that every caller (worker threads included) shares it.
//!
//! Whoever holds a session's [`Turn`] is the only one in this process allowed to touch that session's
//! kernel lock, so a process takes part in the kernel lock with one descriptor per session at most.
//! Dropping a `Turn` hands it to the next caller that is still waiting, in arrival order.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use tokio::sync::oneshot;

use crate::kernel_lock::KernelWait;
use crate::sidecar::Handed;

struct State {
    busy: bool,
    queue: VecDeque<Waiter>,
    /// A thread already blocked in `flock` for this session, for the next turn-holder to adopt.
    kernel_wait: Option<Arc<KernelWait>>,
    /// The channels of callers whose turn was claimed directly. Dropping one wakes the wait that still
    /// listens on it, only to end it: that wake (a futex wake of a runtime thread, on the releasing
    /// thread) cost 10-20% of each handoff in a drain, so they are dropped together, when the queue
    /// empties or [`RETIRED_MAX`] have gathered.
    retired: Vec<oneshot::Sender<Turn>>,
}

/// How many channels of directly claimed turns a session keeps before it drops them.
const RETIRED_MAX: usize = 32;

pub struct Session {
    key: PathBuf,
    state: Mutex<State>,
}

/// The exclusive right, within this process, to acquire and hold one session's lock; it may come with
/// the sidecar itself, passed on by the hold before it ([`Handed`]).
pub struct Turn {
    session: Arc<Session>,
    armed: bool,
    handed: Option<Handed>,
}

/// Claims a turn that comes with its sidecar ([`Handed`]) on the thread that ended the hold before
/// it, so that the next caller of this process needs no other thread to wake. `Err` gives the turn
/// back: its caller is gone.
pub type Direct = Box<dyn FnOnce(Turn) -> Result<(), Turn> + Send>;

/// A caller waiting for its turn: the channel its wait listens on, and how to claim a handed turn
/// without it.
struct Waiter {
    tx: oneshot::Sender<Turn>,
    direct: Arc<Mutex<Option<Direct>>>,
}

/// A place in a session's queue.
pub struct Queued {
    /// Resolves with the turn once every earlier caller is done.
    pub rx: oneshot::Receiver<Turn>,
    direct: Arc<Mutex<Option<Direct>>>,
}

impl Queued {
    /// From now on, a turn that comes with its sidecar goes to `direct` instead of the channel.
    pub fn claim_handed_with(&self, direct: Direct) {
        *lock(&self.direct) = Some(direct);
    }
}

/// The outcome of [`enter`].
pub enum Entry {
    Turn(Turn),
    Queued(Queued),
}

fn sessions() -> MutexGuard<'static, HashMap<PathBuf, Arc<Session>>> {
    static SESSIONS: OnceLock<Mutex<HashMap<PathBuf, Arc<Session>>>> = OnceLock::new();
    lock(SESSIONS.get_or_init(Default::default))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not wedge every session of the process.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Takes the turn for `key` if it is free, else joins the end of its queue.
pub fn enter(key: &Path) -> Entry {
    let mut map = sessions();
    let session = map
        .entry(key.to_path_buf())
        .or_insert_with(|| {
            Arc::new(Session {
                key: key.to_path_buf(),
                state: Mutex::new(State {
                    busy: false,
                    queue: VecDeque::new(),
                    kernel_wait: None,
                    retired: Vec::new(),
                }),
            })
        })
        .clone();
    let mut state = lock(&session.state);
    if !state.busy && state.queue.is_empty() {
        state.busy = true;
        drop(state);
        return Entry::Turn(Turn {
            session,
            armed: true,
            handed: None,
        });
    }
    let (tx, rx) = oneshot::channel();
    let direct = Arc::new(Mutex::new(None));
    state.queue.push_back(Waiter {
        tx,
        direct: Arc::clone(&direct),
    });
    Entry::Queued(Queued { rx, direct })
}

/// How many sessions the registry currently tracks (for leak checks).
pub fn tracked_sessions() -> usize {
    sessions().len()
}

/// How many callers wait behind the current turn of `key`.
#[cfg(test)]
pub fn queue_len(key: &Path) -> usize {
    sessions()
        .get(key)
        .map_or(0, |s| lock(&s.state).queue.len())
}

impl Turn {
    /// The kernel wait this session already has in flight, if any.
    pub fn kernel_wait(&self) -> Option<Arc<KernelWait>> {
        lock(&self.session.state).kernel_wait.clone()
    }

    pub fn set_kernel_wait(&self, wait: Option<Arc<KernelWait>>) {
        lock(&self.session.state).kernel_wait = wait;
    }

    /// Whether a caller of this process is queued behind this turn.
    pub fn has_waiters(&self) -> bool {
        !lock(&self.session.state).queue.is_empty()
    }

    /// Ends this turn, passing `sidecar` on with it to the next caller still waiting; with nobody
    /// left, the sidecar is released.
    pub fn hand_over(mut self, sidecar: Handed) {
        self.handed = Some(sidecar);
    }

    /// The sidecar the previous hold passed on with this turn, if it did.
    pub fn take_handed(&mut self) -> Option<Handed> {
        self.handed.take()
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut handed = self.handed.take();
        let mut state = lock(&self.session.state);
        while let Some(next) = state.queue.pop_front() {
            let direct = handed.as_ref().and_then(|_| lock(&next.direct).take());
            let turn = Turn {
                session: Arc::clone(&self.session),
                armed: true,
                handed: handed.take(),
            };
            let refused = match direct {
                // Claimed here, outside the session's lock (the claim may end up handing on again).
                Some(direct) => {
                    state.retired.push(next.tx);
                    let full = state.retired.len() >= RETIRED_MAX || state.queue.is_empty();
                    let retired = if full {
                        std::mem::take(&mut state.retired)
                    } else {
                        Vec::new()
                    };
                    drop(state);
                    let refused = direct(turn).err();
                    drop(retired); // after the claim: its caller is on its way first
                    state = lock(&self.session.state);
                    refused
                }
                None => next.tx.send(turn).err(),
            };
            let Some(mut unused) = refused else { return };
            // That caller gave up: disarm the turn we made for it and try the one after.
            unused.armed = false;
            handed = unused.handed.take();
        }
        // Nobody took it: released while the turn is still busy, so that no newcomer of this
        // process meets it still locked.
        drop(handed);
        state.busy = false;
        let idle = state.kernel_wait.is_none();
        let retired = std::mem::take(&mut state.retired);
        drop(state);
        drop(retired);
        if idle {
            forget_if_idle(&self.session);
        }
    }
}

/// Drops an idle session from the map, so that memory stays bounded however many sessions a process
/// has touched.
fn forget_if_idle(session: &Arc<Session>) {
    let mut map = sessions();
    let state = lock(&session.state);
    let idle = !state.busy && state.queue.is_empty() && state.kernel_wait.is_none();
    if idle
        && map
            .get(&session.key)
            .is_some_and(|s| Arc::ptr_eq(s, session))
    {
        map.remove(&session.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(tag: &str) -> PathBuf {
        PathBuf::from(format!("/registry-test/{tag}.jsonl.lock"))
    }

    #[test]
    fn first_caller_gets_the_turn_and_the_rest_queue_in_order() {
        let k = key("fifo");
        let first = enter_turn(&k);
        let mut queued: Vec<_> = (0..5)
            .map(|_| match enter(&k) {
                Entry::Queued(q) => q.rx,
                Entry::Turn(_) => panic!("turn taken twice"),
            })
            .collect();
        assert_eq!(queue_len(&k), 5);
        drop(first);
        for i in 0..5 {
            let turn = queued[i]
                .try_recv()
                .unwrap_or_else(|_| panic!("caller {i} should have the turn"));
            for later in &mut queued[i + 1..] {
                assert!(
                    later.try_recv().is_err(),
                    "a later caller got the turn early"
                );
            }
            drop(turn);
        }
        assert_eq!(queue_len(&k), 0);
    }

    #[test]
    fn callers_that_gave_up_are_skipped() {
        let k = key("skip");
        let first = enter_turn(&k);
        let gone = enter_queued(&k);
        let mut kept = enter_queued(&k);
        drop(gone);
        drop(first);
        assert!(kept.rx.try_recv().is_ok());
    }

    #[test]
    fn a_turn_sent_to_a_caller_who_then_leaves_is_passed_on() {
        let k = key("inflight");
        let first = enter_turn(&k);
        let leaving = enter_queued(&k);
        let mut next = enter_queued(&k);
        drop(first); // the turn now sits in `leaving`'s channel
        drop(leaving);
        assert!(next.rx.try_recv().is_ok());
    }

    /// A real sidecar to hand on (the turn's release of an untaken one unlinks it).
    fn sidecar(dir: &crate::test_support::TempDir) -> (Handed, PathBuf) {
        let path = dir.join("s.jsonl.lock");
        let opened = crate::sidecar::open(&path).unwrap();
        let id = crate::sidecar::stat(&opened.file).unwrap().id;
        let chain = crate::sidecar::Chain::fresh();
        (Handed::new(opened.file, id, &path, chain), path)
    }

    #[test]
    fn a_handed_turn_goes_to_the_direct_claimant_and_a_plain_one_through_the_channel() {
        let dir = crate::test_support::TempDir::new("queue-direct");
        let k = key("direct");
        let first = enter_turn(&k);
        let mut second = enter_queued(&k);
        let (tx, rx) = std::sync::mpsc::channel();
        second.claim_handed_with(Box::new(move |mut turn| {
            let _ = tx.send(turn.take_handed().is_some());
            drop(turn);
            Ok(())
        }));
        let (handed, path) = sidecar(&dir);
        first.hand_over(handed);
        assert_eq!(
            rx.try_recv(),
            Ok(true),
            "claimed on this thread, with the sidecar"
        );
        assert!(second.rx.try_recv().is_err(), "not through the channel");
        assert!(!path.exists(), "the claimant dropped it untaken: released");
        let third = enter_turn(&k);
        let mut fourth = enter_queued(&k);
        fourth.claim_handed_with(Box::new(|_| panic!("a plain turn is not claimed directly")));
        drop(third);
        assert!(
            fourth.rx.try_recv().is_ok(),
            "a plain turn goes through the channel"
        );
    }

    #[test]
    fn a_direct_claimant_that_is_gone_passes_the_sidecar_on_and_with_nobody_left_it_is_released() {
        let dir = crate::test_support::TempDir::new("queue-refused");
        let k = key("refused");
        let first = enter_turn(&k);
        let gone = enter_queued(&k);
        gone.claim_handed_with(Box::new(Err));
        let mut next = enter_queued(&k);
        let (handed, path) = sidecar(&dir);
        first.hand_over(handed);
        let mut turn = next.rx.try_recv().expect("passed on to the caller after");
        assert!(path.exists(), "still held, by the turn");
        let handed = turn.take_handed().expect("with the sidecar");
        turn.hand_over(handed); // nobody waits any more
        assert!(!path.exists(), "released");
        assert_eq!(queue_len(&k), 0);
        drop(gone);
    }

    #[test]
    fn the_channels_of_direct_claims_are_dropped_together_when_the_queue_empties_or_fills() {
        use tokio::sync::oneshot::error::TryRecvError;
        let dir = crate::test_support::TempDir::new("queue-retired");
        let k = key("retired");
        let first = enter_turn(&k);
        let mut queued: Vec<Queued> = (0..RETIRED_MAX + 3).map(|_| enter_queued(&k)).collect();
        for q in &queued {
            q.claim_handed_with(hands_on());
        }
        let (handed, path) = sidecar(&dir);
        first.hand_over(handed);
        let closed = |q: &mut Queued| matches!(q.rx.try_recv(), Err(TryRecvError::Closed));
        assert!(
            queued.iter_mut().all(closed),
            "every channel dropped once the queue emptied"
        );
        assert!(!path.exists(), "the last claimant released the sidecar");
        assert_eq!(queue_len(&k), 0);
        // With callers still queued behind: dropped when the limit is reached, the rest kept.
        let first = enter_turn(&k);
        let mut chain: Vec<Queued> = (0..=RETIRED_MAX).map(|_| enter_queued(&k)).collect();
        for q in &chain {
            q.claim_handed_with(hands_on());
        }
        let mut holder = enter_queued(&k);
        holder.claim_handed_with(Box::new(|turn| {
            std::mem::forget(turn); // holds on for the rest of the test: the next caller waits
            Ok(())
        }));
        let mut waiting = enter_queued(&k);
        let (handed, _path) = sidecar(&dir);
        first.hand_over(handed);
        let states: Vec<bool> = chain.iter_mut().map(closed).collect();
        assert_eq!(
            states[..RETIRED_MAX],
            vec![true; RETIRED_MAX],
            "dropped at the limit"
        );
        assert!(!states[RETIRED_MAX], "kept: fewer than the limit since");
        assert!(matches!(holder.rx.try_recv(), Err(TryRecvError::Empty)));
        assert!(matches!(waiting.rx.try_recv(), Err(TryRecvError::Empty)));
        queued.clear();
    }

    /// A direct claimant that hands the sidecar on at once, to the next caller.
    fn hands_on() -> Direct {
        Box::new(|mut turn| {
            let handed = turn.take_handed().expect("with the sidecar");
            turn.hand_over(handed);
            Ok(())
        })
    }

    fn enter_turn(k: &Path) -> Turn {
        match enter(k) {
            Entry::Turn(t) => t,
            Entry::Queued(_) => panic!("the turn should be free"),
        }
    }

    fn enter_queued(k: &Path) -> Queued {
        match enter(k) {
            Entry::Queued(q) => q,
            Entry::Turn(_) => panic!("turn taken twice"),
        }
    }

    #[test]
    fn sessions_are_independent_and_forgotten_when_idle() {
        let (a, b) = (key("ind-a"), key("ind-b"));
        let ta = enter_turn(&a);
        let tb = enter_turn(&b); // another session must not wait
        drop((ta, tb));
        assert!(!sessions().contains_key(&a));
        assert!(!sessions().contains_key(&b));
    }
}
