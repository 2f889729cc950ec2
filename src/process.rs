//! What the OS says about a pid: alive or not, and when it started.

/// The view of the process table that the staleness rules need. Tests use a fake.
pub trait ProcessTable {
    /// The legacy rule: `kill(pid, 0)` failing for any reason (EPERM included) means dead, and so does a
    /// zombie.
    fn alive(&self, pid: i64) -> bool;
    /// When the process started ([`starttime`]), where the OS tells.
    fn starttime(&self, pid: i64) -> Option<u64>;
}

/// The real process table of this machine.
pub struct Os;

impl ProcessTable for Os {
    fn alive(&self, pid: i64) -> bool {
        pid_alive(pid)
    }

    fn starttime(&self, pid: i64) -> Option<u64> {
        starttime(pid)
    }
}

/// Is `pid` a live process? Unix: `kill(pid, 0)` succeeds and it is not a zombie. Windows: the process
/// opens for a query and has not exited (Node's `process.kill(pid, 0)` asks the same).
pub fn pid_alive(pid: i64) -> bool {
    os::pid_alive(pid)
}

/// When `pid` started, in the OS's own clock: clock ticks since boot on Linux (`/proc/<pid>/stat`
/// field 22), FILETIME on Windows, nothing elsewhere. Compared only with values from the same machine,
/// to tell a recycled pid from the process that wrote a payload.
pub fn starttime(pid: i64) -> Option<u64> {
    os::starttime(pid)
}

#[cfg(unix)]
mod os {
    pub fn pid_alive(pid: i64) -> bool {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        if pid <= 0 {
            return false;
        }
        // SAFETY: signal 0 only checks for existence and permission; no signal is delivered.
        if unsafe { libc::kill(pid, 0) } != 0 {
            return false;
        }
        !is_zombie(pid)
    }

    #[cfg(target_os = "linux")]
    fn is_zombie(pid: libc::pid_t) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("State:"))
                    .map(|l| l.contains('Z'))
            })
            .unwrap_or(false)
    }

    #[cfg(not(target_os = "linux"))]
    fn is_zombie(_pid: libc::pid_t) -> bool {
        false
    }

    #[cfg(target_os = "linux")]
    pub fn starttime(pid: i64) -> Option<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        super::parse_stat_starttime(&stat)
    }

    #[cfg(not(target_os = "linux"))]
    pub fn starttime(_pid: i64) -> Option<u64> {
        None
    }
}

#[cfg(windows)]
mod os {
    use windows_sys::Win32::Foundation::{CloseHandle, FILETIME, HANDLE, WAIT_TIMEOUT};
    use windows_sys::Win32::System::Threading::{
        GetProcessTimes, OpenProcess, WaitForSingleObject, PROCESS_QUERY_LIMITED_INFORMATION,
        PROCESS_SYNCHRONIZE,
    };

    /// A process handle, closed on drop.
    struct Process(HANDLE);

    impl Process {
        fn open(pid: i64) -> Option<Process> {
            let pid = u32::try_from(pid).ok().filter(|p| *p != 0)?;
            // SAFETY: plain call; a null handle means failure.
            let h = unsafe {
                OpenProcess(
                    PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_SYNCHRONIZE,
                    0,
                    pid,
                )
            };
            (!h.is_null()).then_some(Process(h))
        }
    }

    impl Drop for Process {
        fn drop(&mut self) {
            // SAFETY: we own the handle.
            unsafe { CloseHandle(self.0) };
        }
    }

    pub fn pid_alive(pid: i64) -> bool {
        // As the legacy rule: a process we may not open counts as dead.
        let Some(p) = Process::open(pid) else {
            return false;
        };
        // SAFETY: a process handle with SYNCHRONIZE access; a zero timeout only polls.
        unsafe { WaitForSingleObject(p.0, 0) == WAIT_TIMEOUT }
    }

    pub fn starttime(pid: i64) -> Option<u64> {
        let p = Process::open(pid)?;
        let zero = FILETIME {
            dwLowDateTime: 0,
            dwHighDateTime: 0,
        };
        let (mut created, mut exited, mut kernel, mut user) = (zero, zero, zero, zero);
        // SAFETY: a process handle with query access, and four FILETIME out-parameters.
        let ok = unsafe { GetProcessTimes(p.0, &mut created, &mut exited, &mut kernel, &mut user) };
        (ok != 0)
            .then(|| (u64::from(created.dwHighDateTime) << 32) | u64::from(created.dwLowDateTime))
    }
}

/// Field 22 of a `/proc/<pid>/stat` line. The command name (field 2) may hold spaces and parentheses,
/// so fields are counted from the last `)`.
pub fn parse_stat_starttime(stat: &str) -> Option<u64> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    // After the comm come field 3 (state) onwards; starttime is field 22, so the 20th of these.
    after_comm.split_whitespace().nth(19)?.parse().ok()
}

/// This process's id and start time, as written into our payload. Node never forks a process that
/// keeps running JavaScript, so both are read once.
pub fn self_identity() -> (u32, Option<u64>) {
    use std::sync::OnceLock;
    static SELF: OnceLock<(u32, Option<u64>)> = OnceLock::new();
    *SELF.get_or_init(|| {
        let pid = std::process::id();
        (pid, starttime(i64::from(pid)))
    })
}

/// The machine and the program this process is, in words, as the JavaScript side knows them
/// (`os.hostname()`, the script's name): set once, written into every payload of ours.
static DESCRIPTION: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();

pub fn describe_self(hostname: String, program: String) {
    let _ = DESCRIPTION.set((hostname, program));
}

/// `(hostname, program)`, once `describe_self` was called.
pub fn self_description() -> (Option<&'static str>, Option<&'static str>) {
    DESCRIPTION
        .get()
        .map_or((None, None), |(h, p)| (Some(h.as_str()), Some(p.as_str())))
}

/// Real processes for tests, on every OS: this test binary run again as a child.
#[cfg(test)]
pub mod test_pids {
    use std::process::{Child, Command, Stdio};

    fn this_binary(args: &[&str]) -> Child {
        Command::new(std::env::current_exe().unwrap())
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// The pid of a process that has exited and been reaped.
    pub fn dead() -> i64 {
        let mut child = this_binary(&["--list"]);
        let pid = i64::from(child.id());
        child.wait().unwrap();
        pid
    }

    /// A live process other than this one, killed when dropped.
    pub struct Live(Child);

    impl Live {
        pub fn spawn() -> Live {
            Live(this_binary(&[
                "--ignored",
                "--exact",
                "process::test_pids::linger",
            ]))
        }

        pub fn pid(&self) -> i64 {
            i64::from(self.0.id())
        }
    }

    impl Drop for Live {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// What [`Live`] runs.
    #[test]
    #[ignore = "run by Live as a child process"]
    fn linger() {
        std::thread::sleep(std::time::Duration::from_secs(120));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_parsing_survives_odd_command_names() {
        let line = "4242 (we ird) (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(parse_stat_starttime(line), Some(987_654));
        assert_eq!(parse_stat_starttime("garbage"), None);
    }

    #[test]
    fn this_process_is_alive_and_has_a_start_time() {
        let (pid, st) = self_identity();
        assert!(pid_alive(i64::from(pid)));
        if cfg!(any(target_os = "linux", windows)) {
            assert!(st.is_some());
            assert_eq!(starttime(i64::from(pid)), st);
        }
    }

    #[test]
    fn nonsense_pids_are_dead() {
        assert!(!pid_alive(0));
        assert!(!pid_alive(-1));
        assert!(!pid_alive(i64::MAX));
    }

    #[test]
    fn a_reaped_child_is_dead_and_a_running_one_alive() {
        assert!(!pid_alive(test_pids::dead()));
        let live = test_pids::Live::spawn();
        assert!(pid_alive(live.pid()));
        assert!(starttime(live.pid()).is_some() || !cfg!(any(target_os = "linux", windows)));
    }
}
