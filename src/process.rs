//! What the OS says about a pid: alive or not, and when it started.

/// The view of the process table that the staleness rules need. Tests use a fake.
pub trait ProcessTable {
    /// The legacy rule: `kill(pid, 0)` failing for any reason (EPERM included) means dead, and so does a
    /// zombie.
    fn alive(&self, pid: i64) -> bool;
    /// Field 22 of `/proc/<pid>/stat` (Linux only).
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
    parse_stat_starttime(&stat)
}

#[cfg(not(target_os = "linux"))]
pub fn starttime(_pid: i64) -> Option<u64> {
    None
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
        if cfg!(target_os = "linux") {
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
    fn a_reaped_child_is_dead() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = i64::from(child.id());
        child.wait().unwrap();
        assert!(!pid_alive(pid));
    }
}
