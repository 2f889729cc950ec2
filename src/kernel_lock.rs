//! The exclusive kernel lock on an open sidecar, and waiting for it on a thread we own.
//!
//! `flock` has no asynchronous form, so a contended wait blocks one dedicated thread per session (never
//! the event loop, never the libuv pool). The kernel wakes that thread the moment the holder closes its
//! descriptor, which is what makes a cross-process handoff take microseconds instead of a poll interval.
//! A wait that nobody wants any more (timeout, abort) is not cancelled, since `flock` cannot be: the
//! next acquirer of the same session adopts it, and if nobody does, the thread drops the lock as soon as
//! it gets it.

use std::fs::File;
use std::io;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// Takes the exclusive kernel lock if it is free. `Ok(false)` means someone else holds it.
pub fn try_lock(file: &File) -> io::Result<bool> {
    // fs4's method, named in full: std's File::try_lock has the same name.
    match fs4::FileExt::try_lock(file) {
        Ok(()) => Ok(true),
        Err(fs4::TryLockError::WouldBlock) => Ok(false),
        Err(fs4::TryLockError::Error(e)) => Err(e),
    }
}

/// Blocks the calling thread until the exclusive kernel lock is granted.
pub fn lock_blocking(file: &File) -> io::Result<()> {
    loop {
        match fs4::FileExt::lock(file) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Is the kernel lock on this file held by anyone (including another descriptor of this process)?
/// The probe takes the lock for the duration of two syscalls when it is free.
pub fn is_held(file: &File) -> io::Result<bool> {
    let free = try_lock(file)?;
    if free {
        fs4::FileExt::unlock(file)?;
    }
    Ok(!free)
}

enum State {
    Waiting {
        wanted: bool,
    },
    Granted(io::Result<File>),
    /// Granted while nobody wanted it, and dropped; or handed to its claimant.
    Finished,
}

/// A thread blocked in `flock` on behalf of a session.
pub struct KernelWait {
    state: Mutex<State>,
    done: watch::Sender<bool>,
    /// Whether the waiting descriptor's open created the sidecar (its empty content is then ours).
    pub created: bool,
}

/// What [`KernelWait::claim`] found.
pub enum Claim {
    /// Still blocked; await [`KernelWait::granted`].
    Pending,
    Ready(io::Result<File>),
    /// This wait is over and its descriptor gone; start a new one.
    Gone,
}

impl KernelWait {
    /// Starts a thread that blocks until `file` is locked. The wait starts out claimed.
    pub fn start(file: File, created: bool) -> io::Result<Arc<KernelWait>> {
        let (done, _) = watch::channel(false);
        let wait = Arc::new(KernelWait {
            state: Mutex::new(State::Waiting { wanted: true }),
            done,
            created,
        });
        let worker = Arc::clone(&wait);
        std::thread::Builder::new()
            .name("swl-flock-wait".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                let result = lock_blocking(&file).map(|()| file);
                let mut state = worker.state.lock().unwrap_or_else(|p| p.into_inner());
                *state = match *state {
                    State::Waiting { wanted: true } => State::Granted(result),
                    // Nobody wants it: dropping `result` closes the descriptor and its lock.
                    _ => State::Finished,
                };
                drop(state);
                worker.done.send_replace(true);
            })?;
        Ok(wait)
    }

    /// Adopts this wait for a new turn-holder.
    pub fn claim(&self) -> Claim {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match std::mem::replace(&mut *state, State::Finished) {
            State::Waiting { .. } => {
                *state = State::Waiting { wanted: true };
                Claim::Pending
            }
            State::Granted(result) => Claim::Ready(result),
            State::Finished => Claim::Gone,
        }
    }

    /// Gives the wait up. A lock granted in the meantime is dropped at once, never left held.
    pub fn unclaim(&self) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match *state {
            State::Waiting { .. } => *state = State::Waiting { wanted: false },
            State::Granted(_) => *state = State::Finished,
            State::Finished => {}
        }
    }

    /// Resolves once the thread has finished waiting.
    pub async fn granted(&self) {
        let mut rx = self.done.subscribe();
        let _ = rx.wait_for(|done| *done).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;
    use std::time::Duration;

    fn pair(tag: &str) -> (File, File) {
        let path = std::env::temp_dir().join(format!("swl-kl-{tag}-{}", std::process::id()));
        let open = || {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .unwrap()
        };
        (open(), open())
    }

    #[test]
    fn two_descriptors_exclude_each_other() {
        let (a, b) = pair("excl");
        assert!(try_lock(&a).unwrap());
        assert!(!try_lock(&b).unwrap());
        assert!(is_held(&b).unwrap());
        drop(a);
        assert!(!is_held(&b).unwrap());
        assert!(try_lock(&b).unwrap());
    }

    #[test]
    fn a_wait_is_granted_when_the_holder_closes() {
        let (a, b) = pair("grant");
        assert!(try_lock(&a).unwrap());
        let wait = KernelWait::start(b, false).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert!(matches!(wait.claim(), Claim::Pending));
        drop(a);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(wait.granted());
        assert!(matches!(wait.claim(), Claim::Ready(Ok(_))));
        assert!(matches!(wait.claim(), Claim::Gone));
    }

    #[test]
    fn an_unwanted_grant_is_dropped_not_kept() {
        let (a, b) = pair("unwanted");
        let probe = OpenOptions::new()
            .read(true)
            .open(std::env::temp_dir().join(format!("swl-kl-unwanted-{}", std::process::id())))
            .unwrap();
        assert!(try_lock(&a).unwrap());
        let wait = KernelWait::start(b, false).unwrap();
        wait.unclaim();
        drop(a);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(wait.granted());
        assert!(matches!(wait.claim(), Claim::Gone));
        assert!(
            !is_held(&probe).unwrap(),
            "the abandoned waiter must not keep the lock"
        );
    }
}
