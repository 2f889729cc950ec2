//! The exclusive kernel lock on an open sidecar, and waiting for it on a thread we own.
//!
//! `flock` has no asynchronous form, so a contended wait blocks one dedicated thread per session (never
//! the event loop, never the libuv pool; the threads are reused, see `waiter_threads`). The kernel wakes
//! that thread the moment the holder closes its descriptor, which is what makes a cross-process handoff
//! take microseconds instead of a poll interval.
//! On Windows the lock is `LockFileEx` on a byte range instead, with the same semantics: exclusive per
//! handle, released when the handle closes.
//!
//! A wait that nobody wants any more (timeout, abort) is not cancelled, since `flock` cannot be: the
//! next acquirer of the same session adopts it, and if nobody does, the thread drops the lock as soon as
//! it gets it.

use std::fs::File;
use std::io;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::waiter_threads::Leftover;

#[cfg(unix)]
pub use flock::{lock_blocking, try_lock, unlock, unlock_before_close};
#[cfg(windows)]
pub use lock_file_ex::{lock_blocking, try_lock, unlock, unlock_before_close};

/// Unix: `flock` on the whole file, through fs4. It is advisory, so legacy readers still read the
/// payload. On macOS `flock` and `fcntl` locks share one table; nothing in this crate takes `fcntl` locks.
#[cfg(unix)]
mod flock {
    use std::fs::File;
    use std::io;

    /// Takes the exclusive kernel lock if it is free. `Ok(false)` means someone else holds it.
    pub fn try_lock(file: &File) -> io::Result<bool> {
        loop {
            // fs4's method, named in full: std's File::try_lock has the same name.
            match fs4::FileExt::try_lock(file) {
                Ok(()) => return Ok(true),
                Err(fs4::TryLockError::WouldBlock) => return Ok(false),
                // A signal arrived during the call: it did nothing, so ask again.
                Err(fs4::TryLockError::Error(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(fs4::TryLockError::Error(e)) => return Err(e),
            }
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

    pub fn unlock(file: &File) -> io::Result<()> {
        fs4::FileExt::unlock(file)
    }

    /// Nothing: closing the descriptor drops a `flock` at once.
    pub fn unlock_before_close(_file: &File) {}
}

/// Windows: `LockFileEx` on one byte far beyond any payload. Windows byte-range locks are mandatory, so
/// locking the whole file (as fs4 does) would make a legacy reader's `readFile` of the pid payload fail;
/// the payload is at most 64 KiB, so the range below [`LOCK_OFFSET`] stays readable and writable.
#[cfg(windows)]
mod lock_file_ex {
    use std::fs::File;
    use std::io;
    use std::os::windows::io::AsRawHandle;

    use windows_sys::Win32::Foundation::{ERROR_LOCK_VIOLATION, HANDLE};
    use windows_sys::Win32::Storage::FileSystem::{
        LockFileEx, UnlockFileEx, LOCKFILE_EXCLUSIVE_LOCK, LOCKFILE_FAIL_IMMEDIATELY,
    };
    use windows_sys::Win32::System::IO::OVERLAPPED;

    /// Where the locked byte is: 2^62, past any file a sidecar could be and below the signed limit.
    pub const LOCK_OFFSET: u64 = 1 << 62;

    fn at_lock_offset() -> OVERLAPPED {
        // SAFETY: OVERLAPPED is plain data; all-zero is its documented initial state.
        let mut o: OVERLAPPED = unsafe { std::mem::zeroed() };
        o.Anonymous.Anonymous.Offset = LOCK_OFFSET as u32;
        o.Anonymous.Anonymous.OffsetHigh = (LOCK_OFFSET >> 32) as u32;
        o
    }

    fn lock(file: &File, flags: u32) -> io::Result<()> {
        let mut o = at_lock_offset();
        // SAFETY: the handle is open for the call; `o` outlives it (the handle is synchronous, so the
        // call completes before returning).
        let ok = unsafe {
            LockFileEx(
                file.as_raw_handle() as HANDLE,
                LOCKFILE_EXCLUSIVE_LOCK | flags,
                0,
                1,
                0,
                &mut o,
            )
        };
        if ok == 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// Takes the exclusive kernel lock if it is free. `Ok(false)` means someone else holds it.
    pub fn try_lock(file: &File) -> io::Result<bool> {
        match lock(file, LOCKFILE_FAIL_IMMEDIATELY) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(ERROR_LOCK_VIOLATION as i32) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Blocks the calling thread until the exclusive kernel lock is granted.
    pub fn lock_blocking(file: &File) -> io::Result<()> {
        lock(file, 0)
    }

    pub fn unlock(file: &File) -> io::Result<()> {
        let mut o = at_lock_offset();
        // SAFETY: as in `lock`.
        let ok = unsafe { UnlockFileEx(file.as_raw_handle() as HANDLE, 0, 1, 0, &mut o) };
        if ok == 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// Windows drops a closed handle's locks only "when resources allow", so a handle that holds the
    /// lock unlocks before it closes, and the next waiter is woken at once.
    pub fn unlock_before_close(file: &File) {
        let _ = unlock(file);
    }
}

/// Is the kernel lock on this file held by anyone (including another descriptor of this process)?
/// The probe takes the lock for the duration of two syscalls when it is free.
pub fn is_held(file: &File) -> io::Result<bool> {
    let free = try_lock(file)?;
    if free {
        unlock(file)?;
    }
    Ok(!free)
}

/// What the waiting thread does with the lock once it has it, on that thread: finish the acquisition
/// there (identity check, payload, and telling JavaScript), so that the grant wakes no other thread
/// on its way. Gets the locked descriptor (or the error of the wait) and whether its open created it.
/// May return a descriptor, unlocked already, to be closed a little later (`waiter_threads`): the
/// last close of an unlinked file frees it, which is as costly as the claim.
pub type OnGrant = Box<dyn FnOnce(io::Result<File>, bool) -> Option<File> + Send>;

enum State {
    /// Blocked in the kernel; `claimant` is who gets the lock (none: nobody wants it now).
    Waiting { claimant: Option<OnGrant> },
    /// Granted, and its claimant is being given it.
    Handing,
    /// Handed on; or granted while nobody wanted it, and dropped.
    Finished,
}

/// What a wait that delivered its claim leaves to its thread (`waiter_threads`): the released file,
/// closed when this drops, then the news that the wait is over.
struct Ended {
    file: Option<File>,
    wait: Arc<KernelWait>,
}

impl Drop for Ended {
    fn drop(&mut self) {
        drop(self.file.take());
        self.wait.done.send_replace(true);
    }
}

/// A thread blocked in `flock` on behalf of a session.
pub struct KernelWait {
    state: Mutex<State>,
    done: watch::Sender<bool>,
    /// Whether the waiting descriptor's open created the sidecar (its empty content is then ours).
    pub created: bool,
}

/// What [`KernelWait::adopt`] found.
pub enum Adopted {
    /// Still blocked: the grant goes to the new claimant; await [`KernelWait::finished`].
    Pending,
    /// This wait is over and its descriptor gone: start a new one. The claimant comes back.
    Gone(OnGrant),
}

impl KernelWait {
    /// Starts a thread that blocks until `file` is locked, then calls `claimant` there.
    pub fn start(file: File, created: bool, claimant: OnGrant) -> io::Result<Arc<KernelWait>> {
        let (done, _) = watch::channel(false);
        let wait = Arc::new(KernelWait {
            state: Mutex::new(State::Waiting {
                claimant: Some(claimant),
            }),
            done,
            created,
        });
        let worker = Arc::clone(&wait);
        crate::waiter_threads::run(Box::new(move || {
            let result = lock_blocking(&file).map(|()| file);
            let claimant = {
                let mut state = worker.state();
                match std::mem::replace(&mut *state, State::Handing) {
                    State::Waiting { claimant } => claimant,
                    _ => None,
                }
            };
            let leftover = match claimant {
                // A panic there must still end the wait (below), or its waiter would wait on.
                Some(claimant) => {
                    let created = worker.created;
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                        claimant(result, created)
                    }))
                    .unwrap_or(None)
                }
                // Nobody wants it: unlock, and dropping `result` closes the descriptor.
                None => {
                    if let Ok(file) = &result {
                        unlock_before_close(file);
                    }
                    None
                }
            };
            *worker.state() = State::Finished;
            match leftover {
                // The claim was delivered: the runtime's wait for this thread only has to end, so it
                // is told when the released file is closed, not now, when it would take CPU from
                // the caller's thread waking.
                Some(file) => Some(Box::new(Ended {
                    file: Some(file),
                    wait: worker,
                }) as Leftover),
                None => {
                    worker.done.send_replace(true);
                    None
                }
            }
        }))?;
        Ok(wait)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Gives the grant of this wait to a new claimant, if the wait is still blocked.
    pub fn adopt(&self, claimant: OnGrant) -> Adopted {
        let mut state = self.state();
        match &mut *state {
            State::Waiting { claimant: slot } if slot.is_none() => {
                *slot = Some(claimant);
                Adopted::Pending
            }
            _ => Adopted::Gone(claimant),
        }
    }

    /// Takes the grant back from its claimant. `false` when too late: the claimant has been given the
    /// lock (or is being given it), and [`KernelWait::finished`] says when that is done.
    pub fn unclaim(&self) -> bool {
        match &mut *self.state() {
            State::Waiting { claimant } => claimant.take().is_some(),
            _ => false,
        }
    }

    /// Resolves once the thread has finished: the lock handed to its claimant, or dropped.
    pub async fn finished(&self) {
        let mut rx = self.done.subscribe();
        let _ = rx.wait_for(|done| *done).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TempDir;
    use std::fs::OpenOptions;
    use std::path::PathBuf;
    use std::time::Duration;

    /// Two descriptors of one file in a directory of its own (removed when the guard drops).
    fn pair(tag: &str) -> (File, File, TempDir, PathBuf) {
        let dir = TempDir::new(&format!("kl-{tag}"));
        let path = dir.join("lock");
        let open = || {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .unwrap()
        };
        (open(), open(), dir, path)
    }

    /// Whether the lock on `file`'s inode is free within a second. Not at once: a child process that
    /// another test of this binary is spawning holds a copy of every descriptor from its fork to its
    /// exec (O_CLOEXEC closes them only then), and so the lock of a descriptor just closed here.
    fn released_soon(file: &File) -> bool {
        let until = std::time::Instant::now() + Duration::from_secs(1);
        loop {
            if !is_held(file).unwrap() {
                return true;
            }
            if std::time::Instant::now() > until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn two_descriptors_exclude_each_other() {
        let (a, b, _dir, _path) = pair("excl");
        assert!(try_lock(&a).unwrap());
        assert!(!try_lock(&b).unwrap());
        assert!(is_held(&b).unwrap());
        drop(a);
        assert!(released_soon(&b));
        assert!(try_lock(&b).unwrap());
    }

    #[test]
    fn a_held_lock_leaves_the_payload_readable_and_writable_through_other_handles() {
        // What a legacy process does while we hold the lock: read our pid payload, or write its own.
        // Windows locks are mandatory, so this holds only because the locked byte lies past any payload.
        // (Wine does not enforce byte-range locks on reads and writes: there, and on Unix, where flock
        // is advisory, this cannot fail; on Windows it fails if the lock ever covers the payload.)
        let (a, b, _dir, _path) = pair("payload");
        crate::os_file::write_all_at(&a, b"{\"pid\":1}", 0).unwrap();
        assert!(try_lock(&a).unwrap());
        let mut buf = [0u8; 64];
        let n = crate::os_file::read_full_at(&b, &mut buf, 0).unwrap();
        assert_eq!(&buf[..n], b"{\"pid\":1}");
        crate::os_file::write_all_at(&b, b"{\"pid\":2}", 0).unwrap();
        b.set_len(9).unwrap();
        assert!(
            is_held(&b).unwrap(),
            "still held after the other handle's I/O"
        );
    }

    /// A claimant that sends what it was given (on the waiting thread) to the test.
    fn claimant() -> (
        OnGrant,
        std::sync::mpsc::Receiver<(io::Result<File>, std::thread::ThreadId)>,
    ) {
        let (tx, rx) = std::sync::mpsc::channel();
        let on_grant: OnGrant = Box::new(move |result, _created| {
            let _ = tx.send((result, std::thread::current().id()));
            None
        });
        (on_grant, rx)
    }

    fn finish(wait: &KernelWait) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(wait.finished());
    }

    #[test]
    fn a_wait_hands_the_lock_to_its_claimant_on_the_waiting_thread() {
        let (a, b, _dir, path) = pair("grant");
        let probe = OpenOptions::new().read(true).open(&path).unwrap();
        assert!(try_lock(&a).unwrap());
        let (on_grant, got) = claimant();
        let wait = KernelWait::start(b, false, on_grant).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert!(got.try_recv().is_err(), "not before the holder lets go");
        drop(a);
        let (file, thread) = got.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_ne!(thread, std::thread::current().id());
        assert!(is_held(&probe).unwrap(), "the claimant holds it");
        drop(file.unwrap());
        finish(&wait);
        let (again, _) = claimant();
        assert!(
            matches!(wait.adopt(again), Adopted::Gone(_)),
            "a finished wait is not adopted"
        );
        assert!(!wait.unclaim());
    }

    #[test]
    fn an_abandoned_wait_can_be_adopted_by_the_next_claimant() {
        let (a, b, _dir, _path) = pair("adopt");
        assert!(try_lock(&a).unwrap());
        let (first, first_got) = claimant();
        let wait = KernelWait::start(b, false, first).unwrap();
        assert!(wait.unclaim(), "taken back before the grant");
        let (second, second_got) = claimant();
        assert!(matches!(wait.adopt(second), Adopted::Pending));
        drop(a);
        assert!(second_got
            .recv_timeout(Duration::from_secs(5))
            .unwrap()
            .0
            .is_ok());
        finish(&wait);
        assert!(
            first_got.try_recv().is_err(),
            "the first claimant gets nothing"
        );
    }

    #[test]
    fn an_unwanted_grant_is_dropped_not_kept() {
        let (a, b, _dir, path) = pair("unwanted");
        let probe = OpenOptions::new().read(true).open(&path).unwrap();
        assert!(try_lock(&a).unwrap());
        let (on_grant, got) = claimant();
        let wait = KernelWait::start(b, false, on_grant).unwrap();
        assert!(wait.unclaim());
        drop(a);
        finish(&wait);
        assert!(got.try_recv().is_err());
        assert!(
            released_soon(&probe),
            "the abandoned waiter must not keep the lock"
        );
    }
}
