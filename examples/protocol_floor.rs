//! The physical floor of the sidecar protocol: its system calls alone, in a loop, with nothing else
//! around them. `npm run bench` builds and runs this beside the JavaScript contenders, on the same file
//! system, and reports our figures as ratios to it.
//!
//! `protocol_floor <dir> <iterations>` prints one JSON line of medians and p99s in microseconds:
//! - `excl`: the classic sequence: `open(O_CREAT|O_EXCL)`, `flock`, `fstat`, `lstat`, `pwrite` of the
//!   payload, then the release: `lstat` (is the name still ours?), `unlink`, `close`;
//! - `exclRealpath`: the same plus a `realpath` of the directory, as a caller that resolves it each time;
//! - `tmpfile` (Linux): what this package does there, so that nobody ever sees the sidecar empty:
//!   `open(O_TMPFILE)`, `pwrite`, `flock`, `fstat`, `linkat`, then the same release;
//! - `create`: `open(O_CREAT|O_EXCL)`, `close`, `unlink`: the smallest thing any sidecar lock does;
//!
//! - `handoffSteps` (Linux): the protocol's own calls on the path of a handoff, timed alone: the holder's
//!   `lstat` and `unlink` (the name goes before the lock is let go) and the waiter's `linkat` of the
//!   sidecar it prepared (the name comes back with the waiter's payload in it). The wake itself is not in
//!   it: the bench measures that as its pipe-wake floor;
//!
//! and, one by one, the calls a round trip of this package makes besides the protocol's, to price what
//! stands between it and the floor: `statMissing` (the `stat` of an `openclaw.json` that does not exist,
//! made per acquisition so that an edit applies to the next one), `realpath` (of the directory), `lstat`
//! (of the transcript, refused early if it is unsafe).

#[cfg(unix)]
use std::ffi::CString;
#[cfg(unix)]
use std::time::Instant;

#[cfg(unix)]
fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .expect("usage: protocol_floor <dir> <iterations>");
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let path = format!("{dir}/session.jsonl.lock");
    let c_dir = CString::new(dir.clone()).unwrap();
    let c_path = CString::new(path).unwrap();
    let payload = br#"{"pid":12345,"createdAt":"2026-12-01T00:00:00.000Z","acquiredAt":1764547200000,"kernel":true}"#;

    let mut report = vec![
        ("excl", measure(n, || excl(&c_path, payload, None))),
        (
            "exclRealpath",
            measure(n, || excl(&c_path, payload, Some(&c_dir))),
        ),
        ("create", measure(n, || create(&c_path))),
    ];
    #[cfg(target_os = "linux")]
    report.push(("tmpfile", measure(n, || tmpfile(&c_dir, &c_path, payload))));
    #[cfg(target_os = "linux")]
    report.push(("handoffSteps", handoff_steps(n, &c_dir, &c_path, payload)));
    let missing = CString::new(format!("{dir}/no-such-openclaw.json")).unwrap();
    let transcript = format!("{dir}/session.jsonl");
    std::fs::write(&transcript, b"").unwrap();
    let transcript = CString::new(transcript).unwrap();
    report.push(("statMissing", measure(n, || stat_of(&missing, false))));
    report.push(("realpath", measure(n, || realpath_of(&c_dir))));
    report.push(("lstat", measure(n, || stat_of(&transcript, true))));
    let fields: Vec<String> = report
        .iter()
        .map(|(name, (median, p99))| {
            format!("\"{name}\":{{\"medianUs\":{median:.3},\"p99Us\":{p99:.3}}}")
        })
        .collect();
    println!("{{{}}}", fields.join(","));
}

#[cfg(not(unix))]
fn main() {
    println!("{{}}"); // the bench reports the floor as unmeasured here
}

/// Median and p99 of `n` timed runs of `f`, in microseconds, after a warm-up of `n / 10`.
#[cfg(unix)]
fn measure(n: usize, mut f: impl FnMut()) -> (f64, f64) {
    for _ in 0..n / 10 {
        f();
    }
    let mut times: Vec<f64> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (times[n / 2], times[(n * 99 / 100).min(n - 1)])
}

#[cfg(unix)]
fn check(r: libc::c_int, what: &str) -> libc::c_int {
    assert!(r >= 0, "{what}: {}", std::io::Error::last_os_error());
    r
}

/// The classic sequence: create exclusively, lock, identify, check the name, write; release.
#[cfg(unix)]
fn excl(path: &CString, payload: &[u8], resolve: Option<&CString>) {
    // SAFETY: NUL-terminated paths and buffers that outlive each call; a zeroed stat is a valid one.
    unsafe {
        if let Some(dir) = resolve {
            realpath_of(dir);
        }
        let flags =
            libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        let fd = check(libc::open(path.as_ptr(), flags, 0o600), "open");
        check(libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB), "flock");
        let mut st: libc::stat = std::mem::zeroed();
        check(libc::fstat(fd, &mut st), "fstat");
        check(libc::lstat(path.as_ptr(), &mut st), "lstat");
        let n = libc::pwrite(fd, payload.as_ptr().cast(), payload.len(), 0);
        assert_eq!(n as usize, payload.len());
        release(fd, path);
    }
}

/// One `stat` (or `lstat`) of a path, whether or not anything is there.
#[cfg(unix)]
fn stat_of(path: &CString, nofollow: bool) {
    // SAFETY: a NUL-terminated path that outlives the call; a zeroed stat is a valid one.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if nofollow {
            libc::lstat(path.as_ptr(), &mut st);
        } else {
            libc::stat(path.as_ptr(), &mut st);
        }
    }
}

#[cfg(unix)]
fn realpath_of(dir: &CString) {
    // SAFETY: a NUL-terminated path; the result is freed at once.
    unsafe {
        let resolved = libc::realpath(dir.as_ptr(), std::ptr::null_mut());
        assert!(!resolved.is_null());
        libc::free(resolved.cast());
    }
}

/// Release: check that the name is still ours, unlink it under the kernel lock, close.
#[cfg(unix)]
unsafe fn release(fd: libc::c_int, path: &CString) {
    // SAFETY: as in the callers.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        check(libc::lstat(path.as_ptr(), &mut st), "lstat");
        check(libc::unlink(path.as_ptr()), "unlink");
        check(libc::close(fd), "close");
    }
}

/// The smallest sidecar lock: create exclusively, close, unlink.
#[cfg(unix)]
fn create(path: &CString) {
    // SAFETY: a NUL-terminated path that outlives the calls.
    unsafe {
        let flags = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC;
        let fd = check(libc::open(path.as_ptr(), flags, 0o600), "open");
        check(libc::close(fd), "close");
        check(libc::unlink(path.as_ptr()), "unlink");
    }
}

/// Median and p99 of the handoff path's protocol calls; the preparation and the closes are not timed.
#[cfg(target_os = "linux")]
fn handoff_steps(n: usize, dir: &CString, path: &CString, payload: &[u8]) -> (f64, f64) {
    let mut times: Vec<f64> = (0..n + n / 10)
        .map(|_| {
            // SAFETY: as in `excl`.
            unsafe {
                let fd = prepared(dir, payload);
                let t = Instant::now();
                publish(fd, path);
                let mut st: libc::stat = std::mem::zeroed();
                check(libc::lstat(path.as_ptr(), &mut st), "lstat");
                check(libc::unlink(path.as_ptr()), "unlink");
                let spent = t.elapsed().as_secs_f64() * 1e6;
                check(libc::close(fd), "close");
                spent
            }
        })
        .skip(n / 10)
        .collect();
    times.sort_by(f64::total_cmp);
    (times[n / 2], times[(n * 99 / 100).min(n - 1)])
}

/// A sidecar without a name yet, its payload written and its kernel lock taken.
#[cfg(target_os = "linux")]
unsafe fn prepared(dir: &CString, payload: &[u8]) -> libc::c_int {
    // SAFETY: as in `excl`.
    unsafe {
        let fd = check(
            libc::open(
                dir.as_ptr(),
                libc::O_TMPFILE | libc::O_RDWR | libc::O_CLOEXEC,
                0o600,
            ),
            "open",
        );
        let n = libc::pwrite(fd, payload.as_ptr().cast(), payload.len(), 0);
        assert_eq!(n as usize, payload.len());
        check(libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB), "flock");
        fd
    }
}

/// Gives a prepared sidecar its name, as the package does: by descriptor (`AT_EMPTY_PATH`, Linux 6.10+
/// for the opener), else through `/proc/self/fd`, decided at the first refusal.
#[cfg(target_os = "linux")]
unsafe fn publish(fd: libc::c_int, path: &CString) {
    use std::sync::atomic::{AtomicBool, Ordering};
    static BY_DESCRIPTOR: AtomicBool = AtomicBool::new(true);
    // SAFETY: NUL-terminated paths that outlive the calls.
    unsafe {
        if BY_DESCRIPTOR.load(Ordering::Relaxed) {
            let empty = c"";
            let (at, flags) = (libc::AT_FDCWD, libc::AT_EMPTY_PATH);
            if libc::linkat(fd, empty.as_ptr(), at, path.as_ptr(), flags) == 0 {
                return;
            }
            BY_DESCRIPTOR.store(false, Ordering::Relaxed);
        }
        let proc_path = CString::new(format!("/proc/self/fd/{fd}")).unwrap();
        check(
            libc::linkat(
                libc::AT_FDCWD,
                proc_path.as_ptr(),
                libc::AT_FDCWD,
                path.as_ptr(),
                libc::AT_SYMLINK_FOLLOW,
            ),
            "linkat",
        );
    }
}

/// What the package does on Linux: the payload is in the file before it has a name.
#[cfg(target_os = "linux")]
fn tmpfile(dir: &CString, path: &CString, payload: &[u8]) {
    // SAFETY: as in `excl`.
    unsafe {
        let fd = prepared(dir, payload);
        let mut st: libc::stat = std::mem::zeroed();
        check(libc::fstat(fd, &mut st), "fstat");
        publish(fd, path);
        release(fd, path);
    }
}
