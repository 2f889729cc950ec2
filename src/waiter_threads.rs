//! The threads that block in `flock` for contended sessions, kept for a while after their wait ends so
//! that the next wait reuses one. A thread ending its wait used to exit right after it handed the lock
//! on, and its exit took CPU at the very moment the caller's thread was waking to run the callback:
//! on two cores, that alone cost about 7% of a cross-process handoff.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// How long an idle thread waits for another wait before it exits.
pub const LINGER: Duration = Duration::from_secs(5);

/// What a thread runs: one blocking wait, to its end.
pub type Job = Box<dyn FnOnce() + Send>;

/// An idle thread: the channel it takes its next job from.
struct Idle {
    id: u64,
    jobs: Sender<Job>,
}

fn idle() -> MutexGuard<'static, Vec<Idle>> {
    static IDLE: Mutex<Vec<Idle>> = Mutex::new(Vec::new());
    IDLE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs `job` on an idle thread, or on a new one when none is idle.
pub fn run(job: Job) -> std::io::Result<()> {
    let mut job = job;
    while let Some(thread) = idle().pop() {
        match thread.jobs.send(job) {
            Ok(()) => return Ok(()),
            // It exited between its timeout and taking itself off the list: try the next.
            Err(mpsc::SendError(back)) => job = back,
        }
    }
    spawn(job)
}

fn spawn(first: Job) -> std::io::Result<()> {
    static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (jobs, next) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("swl-flock-wait".into())
        .stack_size(256 * 1024)
        .spawn(move || serve(id, first, jobs, next))?;
    Ok(())
}

fn serve(id: u64, first: Job, jobs: Sender<Job>, next: Receiver<Job>) {
    let mut job = first;
    loop {
        JOBS_RUN.with(|n| n.set(n.get() + 1));
        job();
        idle().push(Idle {
            id,
            jobs: jobs.clone(),
        });
        job = match next.recv_timeout(LINGER) {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) => {
                let mut list = idle();
                match list.iter().position(|t| t.id == id) {
                    Some(at) => {
                        list.swap_remove(at);
                        return;
                    }
                    // Taken off the list by `run`, which is sending a job: wait for it.
                    None => {
                        drop(list);
                        match next.recv() {
                            Ok(job) => job,
                            Err(_) => return,
                        }
                    }
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
    }
}

std::thread_local! {
    /// The jobs this thread has started, the current one included.
    static JOBS_RUN: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// How many jobs the calling thread has started (1 in a job on a new thread).
pub fn jobs_run_here() -> u32 {
    JOBS_RUN.with(std::cell::Cell::get)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    fn on_pool<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Receiver<T> {
        let (tx, rx) = channel();
        run(Box::new(move || tx.send(f()).unwrap())).unwrap();
        rx
    }

    #[test]
    fn a_thread_whose_wait_ended_takes_the_next_one() {
        // Other tests share the pool and may take the idle thread first: a few tries.
        let reused = (0..20).any(|_| {
            on_pool(|| ()).recv().unwrap();
            std::thread::sleep(Duration::from_millis(5)); // it puts itself on the idle list
            on_pool(jobs_run_here).recv().unwrap() > 1
        });
        assert!(reused, "every job got a new thread");
    }

    #[test]
    fn a_busy_thread_is_never_given_a_second_job() {
        let (unblock, blocked) = channel::<()>();
        let first = on_pool(move || {
            blocked.recv().unwrap();
            std::thread::current().id()
        });
        let second = on_pool(|| std::thread::current().id()).recv().unwrap();
        unblock.send(()).unwrap();
        assert_ne!(first.recv().unwrap(), second);
    }
}
