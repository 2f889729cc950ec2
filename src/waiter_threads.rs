//! The threads that block in `flock` for contended sessions, kept for a while after their wait ends so
//! that the next wait reuses one. A thread ending its wait used to exit right after it handed the lock
//! on, and its exit took CPU at the very moment the caller's thread was waking to run the callback:
//! on two cores, that alone cost about 7% of a cross-process handoff. For the same reason, what a wait
//! leaves to drop (the released sidecar, whose last close frees its inode) is dropped only once the
//! thread has been idle for [`LEFTOVER_DELAY`], or before its next wait.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// How long an idle thread waits for another wait before it exits.
pub const LINGER: Duration = Duration::from_secs(5);

/// How long after its job a thread drops what the job left: past the wake of the caller's thread and
/// the start of its callback, a few hundred microseconds on a busy machine.
pub const LEFTOVER_DELAY: Duration = Duration::from_millis(2);

/// Something a job leaves to be dropped a little later.
pub type Leftover = Box<dyn Send>;

/// What a thread runs: one blocking wait, to its end.
pub type Job = Box<dyn FnOnce() -> Option<Leftover> + Send>;

/// An idle thread: the channel it takes its next job from.
struct Idle {
    id: u64,
    jobs: Sender<Job>,
}

/// Threads and the jobs they wait for. The process has one ([`run`]); tests make their own.
struct Pool {
    idle: Mutex<Vec<Idle>>,
    linger: Duration,
    leftover_delay: Duration,
}

static POOL: Pool = Pool::new(LINGER, LEFTOVER_DELAY);

/// Runs `job` on an idle thread, or on a new one when none is idle.
pub fn run(job: Job) -> std::io::Result<()> {
    POOL.run(job)
}

impl Pool {
    const fn new(linger: Duration, leftover_delay: Duration) -> Pool {
        Pool {
            idle: Mutex::new(Vec::new()),
            linger,
            leftover_delay,
        }
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Idle>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn run(&'static self, job: Job) -> std::io::Result<()> {
        let mut job = job;
        while let Some(thread) = self.idle().pop() {
            match thread.jobs.send(job) {
                Ok(()) => return Ok(()),
                // It exited between its timeout and taking itself off the list: try the next.
                Err(mpsc::SendError(back)) => job = back,
            }
        }
        self.spawn(job)
    }

    fn spawn(&'static self, first: Job) -> std::io::Result<()> {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (jobs, next) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("swl-flock-wait".into())
            .stack_size(256 * 1024)
            .spawn(move || self.serve(id, first, jobs, next))?;
        Ok(())
    }

    fn serve(&self, id: u64, first: Job, jobs: Sender<Job>, next: Receiver<Job>) {
        let mut job = first;
        loop {
            #[cfg(test)]
            JOBS_RUN.with(|n| n.set(n.get() + 1));
            let mut leftover = job();
            self.idle().push(Idle {
                id,
                jobs: jobs.clone(),
            });
            if leftover.is_some() {
                let early = next.recv_timeout(self.leftover_delay);
                drop(leftover.take());
                match early {
                    Ok(next_job) => {
                        job = next_job;
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => return,
                    Err(RecvTimeoutError::Timeout) => {}
                }
            }
            job = match next.recv_timeout(self.linger) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) => {
                    let mut list = self.idle();
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
}

#[cfg(test)]
std::thread_local! {
    /// The jobs this thread has started, the current one included.
    static JOBS_RUN: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// How many jobs the calling thread has started (1 in a job on a new thread).
#[cfg(test)]
fn jobs_run_here() -> u32 {
    JOBS_RUN.with(std::cell::Cell::get)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;
    use std::time::Instant;

    /// A pool of this test's own, so that no other test takes its threads.
    fn pool(linger: Duration) -> &'static Pool {
        Box::leak(Box::new(Pool::new(linger, LEFTOVER_DELAY)))
    }

    fn on<T: Send + 'static>(
        pool: &'static Pool,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Receiver<T> {
        let (tx, rx) = channel();
        pool.run(Box::new(move || {
            tx.send(f()).unwrap();
            None
        }))
        .unwrap();
        rx
    }

    /// Waits until `pool` has `n` idle threads.
    fn until_idle(pool: &Pool, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while pool.idle().len() != n {
            assert!(Instant::now() < deadline, "never {n} idle");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn a_thread_whose_wait_ended_takes_the_next_one() {
        let pool = pool(LINGER);
        let first = on(pool, || std::thread::current().id()).recv().unwrap();
        until_idle(pool, 1);
        let (thread, jobs) = on(pool, || (std::thread::current().id(), jobs_run_here()))
            .recv()
            .unwrap();
        assert_eq!((thread, jobs), (first, 2));
    }

    #[test]
    fn a_busy_thread_is_never_given_a_second_job() {
        let pool = pool(LINGER);
        let (unblock, blocked) = channel::<()>();
        let first = on(pool, move || {
            blocked.recv().unwrap();
            std::thread::current().id()
        });
        let second = on(pool, || std::thread::current().id()).recv().unwrap();
        unblock.send(()).unwrap();
        assert_ne!(first.recv().unwrap(), second);
    }

    #[test]
    fn an_idle_thread_exits_after_its_linger_and_the_next_job_gets_a_new_one() {
        let pool = pool(Duration::from_millis(50));
        on(pool, || ()).recv().unwrap();
        until_idle(pool, 1);
        until_idle(pool, 0);
        assert_eq!(on(pool, jobs_run_here).recv().unwrap(), 1);
    }

    /// Sends when it is dropped.
    struct Dropped(std::sync::mpsc::Sender<Instant>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            let _ = self.0.send(Instant::now());
        }
    }

    #[test]
    fn what_a_job_leaves_is_dropped_once_the_thread_has_been_idle_a_while_or_before_its_next_job() {
        let pool = pool(LINGER);
        let (tx, dropped) = channel();
        let ended = Instant::now();
        pool.run(Box::new(move || Some(Box::new(Dropped(tx)) as Leftover)))
            .unwrap();
        let at = dropped
            .recv_timeout(Duration::from_secs(5))
            .expect("dropped");
        assert!(
            at >= ended + LEFTOVER_DELAY,
            "dropped {:?} after its job",
            at - ended
        );
        // A job that comes sooner: the leftover goes first.
        until_idle(pool, 1);
        let (tx, dropped) = channel();
        pool.run(Box::new(move || Some(Box::new(Dropped(tx)) as Leftover)))
            .unwrap();
        until_idle(pool, 1);
        let ran = on(pool, Instant::now).recv().unwrap();
        let at = dropped
            .recv_timeout(Duration::from_secs(5))
            .expect("dropped");
        assert!(at <= ran, "dropped after the next job began");
    }
}
