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

struct State {
    busy: bool,
    queue: VecDeque<oneshot::Sender<Turn>>,
    /// A thread already blocked in `flock` for this session, for the next turn-holder to adopt.
    kernel_wait: Option<Arc<KernelWait>>,
}

pub struct Session {
    key: PathBuf,
    state: Mutex<State>,
}

/// The exclusive right, within this process, to acquire and hold one session's lock.
pub struct Turn {
    session: Arc<Session>,
    armed: bool,
}

/// The outcome of [`enter`].
pub enum Entry {
    Turn(Turn),
    /// Resolves with the turn once every earlier caller is done.
    Queued(oneshot::Receiver<Turn>),
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
        });
    }
    let (tx, rx) = oneshot::channel();
    state.queue.push_back(tx);
    Entry::Queued(rx)
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
}

impl Drop for Turn {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut state = lock(&self.session.state);
        while let Some(next) = state.queue.pop_front() {
            match next.send(Turn {
                session: Arc::clone(&self.session),
                armed: true,
            }) {
                Ok(()) => return,
                // That caller gave up: disarm the turn we made for it and try the one after.
                Err(mut unused) => unused.armed = false,
            }
        }
        state.busy = false;
        let idle = state.kernel_wait.is_none();
        drop(state);
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
        let Entry::Turn(first) = enter(&k) else {
            panic!("first caller should get the turn")
        };
        let mut queued: Vec<_> = (0..5)
            .map(|_| match enter(&k) {
                Entry::Queued(rx) => rx,
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
        let Entry::Turn(first) = enter(&k) else {
            panic!()
        };
        let Entry::Queued(gone) = enter(&k) else {
            panic!()
        };
        let Entry::Queued(mut kept) = enter(&k) else {
            panic!()
        };
        drop(gone);
        drop(first);
        assert!(kept.try_recv().is_ok());
    }

    #[test]
    fn a_turn_sent_to_a_caller_who_then_leaves_is_passed_on() {
        let k = key("inflight");
        let Entry::Turn(first) = enter(&k) else {
            panic!()
        };
        let Entry::Queued(leaving) = enter(&k) else {
            panic!()
        };
        let Entry::Queued(mut next) = enter(&k) else {
            panic!()
        };
        drop(first); // the turn now sits in `leaving`'s channel
        drop(leaving);
        assert!(next.try_recv().is_ok());
    }

    #[test]
    fn sessions_are_independent_and_forgotten_when_idle() {
        let (a, b) = (key("ind-a"), key("ind-b"));
        let Entry::Turn(ta) = enter(&a) else { panic!() };
        let Entry::Turn(tb) = enter(&b) else {
            panic!("another session must not wait")
        };
        drop((ta, tb));
        assert!(!sessions().contains_key(&a));
        assert!(!sessions().contains_key(&b));
    }
}
