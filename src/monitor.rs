//! One background thread for every hold of the process: it re-verifies that each sidecar is still ours,
//! refreshes payloads for legacy readers, and revokes holds past `maxHoldMs`. It sleeps on a condition
//! variable while nothing is held, so an idle process spends nothing on it.

use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use crate::hold::Hold;

/// How often held locks are checked: the bound on how late a revocation is noticed.
pub const TICK: Duration = Duration::from_millis(200);

struct Monitor {
    holds: Mutex<Vec<Weak<Hold>>>,
    wake: Condvar,
}

fn monitor() -> &'static Monitor {
    static MONITOR: OnceLock<Monitor> = OnceLock::new();
    MONITOR.get_or_init(|| {
        // If the thread cannot start, holds simply go unmonitored; the lock itself still works.
        let _ = std::thread::Builder::new()
            .name("swl-monitor".into())
            .stack_size(128 * 1024)
            .spawn(run);
        Monitor {
            holds: Mutex::new(Vec::new()),
            wake: Condvar::new(),
        }
    })
}

pub fn watch(hold: &Arc<Hold>) {
    let m = monitor();
    let mut holds = m.holds.lock().unwrap_or_else(|p| p.into_inner());
    let was_empty = holds.is_empty();
    holds.push(Arc::downgrade(hold));
    if was_empty {
        m.wake.notify_one();
    }
}

fn run() {
    let m = monitor();
    loop {
        let live: Vec<Arc<Hold>> = {
            let mut holds = m.holds.lock().unwrap_or_else(|p| p.into_inner());
            holds.retain(|w| w.upgrade().is_some_and(|h| h.is_held()));
            holds = if holds.is_empty() {
                m.wake.wait(holds).unwrap_or_else(|p| p.into_inner())
            } else {
                m.wake
                    .wait_timeout(holds, TICK)
                    .unwrap_or_else(|p| p.into_inner())
                    .0
            };
            holds.iter().filter_map(Weak::upgrade).collect()
        };
        let now = Instant::now();
        for hold in live {
            hold.maintain(now);
        }
    }
}
