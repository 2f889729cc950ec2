//! Looking at sidecars without taking them: what kind each is, whether it is held right now, and whether
//! the next acquirer would take it over (stale). Also the one safe way to remove a stale sidecar: under
//! its kernel lock, after re-checking that the path still names the file that was judged.

use std::fs::{self, File};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::error::LockError;
use crate::payload::Payload;
use crate::process::{self, Os};
use crate::staleness::{self, Context, Judge, Verdict};
use crate::{clock, kernel_lock, sidecar};

/// Who wrote a sidecar.
#[cfg_attr(feature = "node", napi_derive::napi(string_enum = "lowercase"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A holder of this package's protocol.
    Kernel,
    /// The legacy JavaScript lock.
    Legacy,
    /// Nobody we can tell: empty or malformed.
    Unknown,
}

/// One sidecar, as `inspectSessionLocks` and `cleanStaleLockFiles` report it.
#[derive(Debug, Clone)]
pub struct Inspection {
    pub lock_path: PathBuf,
    pub kind: Kind,
    /// Someone holds its kernel lock right now (a live holder of this protocol).
    pub held: bool,
    pub pid: Option<i64>,
    pub pid_alive: bool,
    pub created_at: Option<String>,
    pub age_ms: Option<i64>,
    pub mtime_ms: i64,
    pub size: u64,
    /// The next acquirer would take it over.
    pub stale: bool,
    pub stale_reasons: Vec<&'static str>,
    pub removed: bool,
    /// Who holds, in words, as the payload says (holders of this package write them).
    pub owner: Option<String>,
    pub hostname: Option<String>,
    pub process: Option<String>,
}

/// Sidecars in `dir` whose names end in `suffix`, sorted by name. A missing directory has none.
pub fn scan(dir: &Path, suffix: &str) -> Result<Vec<PathBuf>, LockError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound && fs::symlink_metadata(dir).is_err() => {
            return Ok(Vec::new())
        }
        // Windows answers listing a file with ERROR_DIRECTORY or ERROR_INVALID_NAME; say ENOTDIR, as
        // Node's readdir does on every OS.
        Err(e)
            if e.kind() != ErrorKind::NotADirectory
                && fs::metadata(dir).is_ok_and(|m| !m.is_dir()) =>
        {
            return Err(LockError::io(
                "scandir",
                dir,
                ErrorKind::NotADirectory.into(),
            ))
        }
        Err(e) => return Err(LockError::io("scandir", dir, e)),
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(suffix))
        .map(|e| e.path())
        .collect();
    found.sort();
    Ok(found)
}

/// Inspects one sidecar. Probing the kernel lock takes it for two syscalls when it is free, which never
/// disturbs a holder.
/// `now_ms` overrides the clock (the legacy `cleanStaleLockFiles` accepted one).
pub fn inspect(
    lock_path: &Path,
    stale_ms: i64,
    now_ms: Option<i64>,
) -> Result<Inspection, LockError> {
    let file = sidecar::open_for_inspection(lock_path)?;
    let held = kernel_lock::is_held(&file).map_err(|e| LockError::io("flock", lock_path, e))?;
    judge(lock_path, &file, held, stale_ms, now_ms)
}

fn judge(
    lock_path: &Path,
    file: &File,
    held: bool,
    stale_ms: i64,
    now_ms: Option<i64>,
) -> Result<Inspection, LockError> {
    let st = sidecar::stat(file).map_err(|e| LockError::io("fstat", lock_path, e))?;
    let bytes = sidecar::read_payload(file).map_err(|e| LockError::io("read", lock_path, e))?;
    let payload = Payload::parse(&bytes);
    let now_ms = now_ms.unwrap_or_else(clock::now_ms);
    let self_pid = i64::from(process::self_identity().0);
    let ctx = Context {
        now_ms,
        mtime_ms: st.mtime_ms,
        stale_ms,
        self_pid,
        judge: Judge::Cleaner,
    };
    let fields = payload.fields();
    let legacy = staleness::judge_legacy(fields, &ctx, &Os);
    let kind = match &payload {
        p if p.is_kernel() => Kind::Kernel,
        Payload::Parsed(f) if f.pid.is_some() || f.created_at.is_some() => Kind::Legacy,
        _ => Kind::Unknown,
    };
    let (stale, stale_reasons) = if held {
        (false, Vec::new())
    } else {
        match staleness::decide(&payload, false, &ctx, &Os) {
            Verdict::Busy { .. } | Verdict::Fresh => (false, reasons(&legacy.reasons)),
            Verdict::RecoverCrashed { .. } => {
                let mut r = reasons(&legacy.reasons);
                r.push("kernel-holder-gone");
                (true, r)
            }
            Verdict::TakeOverStale { reasons: r, .. } => (true, reasons(&r)),
        }
    };
    Ok(Inspection {
        lock_path: lock_path.to_path_buf(),
        kind,
        held,
        pid: payload.pid(),
        pid_alive: legacy.pid_alive.unwrap_or(false),
        created_at: fields.and_then(|f| f.created_at.clone()),
        age_ms: legacy.age_ms.map(|a| a.max(0)),
        mtime_ms: st.mtime_ms,
        size: st.size,
        stale,
        stale_reasons,
        removed: false,
        owner: fields.and_then(|f| f.owner.clone()),
        hostname: fields.and_then(|f| f.hostname.clone()),
        process: fields.and_then(|f| f.process.clone()),
    })
}

fn reasons(r: &[staleness::StaleReason]) -> Vec<&'static str> {
    r.iter().map(|r| r.as_str()).collect()
}

/// Removes the sidecar if, judged again under its exclusive kernel lock, it is still stale. A held,
/// fresh or replaced sidecar is left alone. Returns the final inspection, with `removed` set.
pub fn remove_if_stale(
    lock_path: &Path,
    stale_ms: i64,
    now_ms: Option<i64>,
) -> Result<Inspection, LockError> {
    let file = sidecar::open_existing(lock_path, true)?;
    let locked = kernel_lock::try_lock(&file).map_err(|e| LockError::io("flock", lock_path, e))?;
    let mut report = judge(lock_path, &file, !locked, stale_ms, now_ms)?;
    if !locked || !report.stale {
        return Ok(report);
    }
    let st = sidecar::stat(&file).map_err(|e| LockError::io("fstat", lock_path, e))?;
    report.removed = sidecar::unlink_if_named(lock_path, st.id)
        .map_err(|e| LockError::io("unlink", lock_path, e))?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::format_iso_ms;
    use crate::payload::render;
    use crate::test_support::TempDir;

    fn dir(tag: &str) -> TempDir {
        TempDir::new(&format!("inspect-{tag}"))
    }

    fn legacy_payload(pid: i64, age_ms: i64) -> String {
        format!(
            "{{\n  \"pid\": {pid},\n  \"createdAt\": \"{}\"\n}}",
            format_iso_ms(clock::now_ms() - age_ms)
        )
    }

    #[test]
    fn kinds_and_verdicts() {
        let d = dir("kinds");
        let me = i64::from(std::process::id());
        let dead = crate::process::test_pids::dead();
        let other = crate::process::test_pids::Live::spawn();
        let alive = other.pid();
        fs::write(d.join("live.jsonl.lock"), legacy_payload(alive, 10)).unwrap();
        fs::write(d.join("dead.jsonl.lock"), legacy_payload(dead, 10)).unwrap();
        fs::write(d.join("old.jsonl.lock"), legacy_payload(alive, 10_000)).unwrap();
        fs::write(
            d.join("crashed.jsonl.lock"),
            render(
                me as u32,
                clock::now_ms(),
                clock::now_ms(),
                None,
                &Default::default(),
            ),
        )
        .unwrap();
        fs::write(d.join("junk.jsonl.lock"), "{}").unwrap();
        fs::write(d.join("other.txt"), "").unwrap();
        let found = scan(d.path(), ".jsonl.lock").unwrap();
        assert_eq!(found.len(), 5);
        let get = |name: &str| inspect(&d.join(name), 5_000, None).unwrap();
        let live = get("live.jsonl.lock");
        assert_eq!(
            (live.kind, live.stale, live.pid_alive, live.held),
            (Kind::Legacy, false, true, false)
        );
        let dead_i = get("dead.jsonl.lock");
        assert_eq!(
            (dead_i.stale, dead_i.stale_reasons.clone()),
            (true, vec!["dead-pid"])
        );
        let old = get("old.jsonl.lock");
        assert_eq!(
            (old.stale, old.stale_reasons),
            (false, vec!["too-old"]),
            "too-old is reported, never acted on, while the holder lives"
        );
        let crashed = get("crashed.jsonl.lock");
        assert_eq!((crashed.kind, crashed.stale), (Kind::Kernel, true));
        assert!(crashed.stale_reasons.contains(&"kernel-holder-gone"));
        let junk = get("junk.jsonl.lock");
        assert_eq!(
            (junk.kind, junk.stale),
            (Kind::Unknown, false),
            "fresh malformed files are kept"
        );
    }

    #[test]
    fn removal_happens_only_for_stale_unheld_sidecars() {
        let d = dir("remove");
        let live = d.join("live.jsonl.lock");
        let old = d.join("old.jsonl.lock");
        let dead = d.join("dead.jsonl.lock");
        let other = crate::process::test_pids::Live::spawn();
        let alive = other.pid();
        fs::write(&live, legacy_payload(alive, 10)).unwrap();
        fs::write(&old, legacy_payload(alive, 10_000)).unwrap();
        fs::write(&dead, legacy_payload(crate::process::test_pids::dead(), 10)).unwrap();
        assert!(!remove_if_stale(&live, 5_000, None).unwrap().removed);
        assert!(!remove_if_stale(&old, 5_000, None).unwrap().removed);
        assert!(live.exists() && old.exists());
        let old = dead;
        let held = sidecar::open(&old).unwrap().file;
        assert!(kernel_lock::try_lock(&held).unwrap());
        let r = remove_if_stale(&old, 5_000, None).unwrap();
        assert!(
            r.held && !r.stale && !r.removed,
            "a held sidecar is never removed"
        );
        drop(held);
        assert!(remove_if_stale(&old, 5_000, None).unwrap().removed);
        assert!(!old.exists());
    }
}
