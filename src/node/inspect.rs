//! Looking at sidecars without disturbing their holders, and removing the stale ones safely.

use std::path::Path;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use super::{to_napi, window_ms};
use crate::inspect::{self, Kind};

/// One `.lock` sidecar as inspection sees it.
#[napi(object)]
pub struct LockInspection {
    pub lock_path: String,
    pub kind: Kind,
    /// Someone holds its kernel lock right now.
    pub held: bool,
    pub pid: Option<f64>,
    pub pid_alive: bool,
    pub created_at: Option<String>,
    pub age_ms: Option<f64>,
    pub mtime_ms: f64,
    pub size: f64,
    /// The cleaner would remove it, and the next acquirer take it over.
    pub stale: bool,
    /// Every reason found, including those that are only reported (`too-old`).
    pub stale_reasons: Vec<String>,
    pub removed: bool,
    /// Who holds, in words: the holder's `owner` option, as its payload says.
    pub owner: Option<String>,
    /// The holder's machine and program, as its payload says.
    pub hostname: Option<String>,
    pub process: Option<String>,
}

impl From<inspect::Inspection> for LockInspection {
    fn from(i: inspect::Inspection) -> Self {
        LockInspection {
            lock_path: i.lock_path.to_string_lossy().into_owned(),
            kind: i.kind,
            held: i.held,
            pid: i.pid.map(|p| p as f64),
            pid_alive: i.pid_alive,
            created_at: i.created_at,
            age_ms: i.age_ms.map(|a| a as f64),
            mtime_ms: i.mtime_ms as f64,
            size: i.size as f64,
            stale: i.stale,
            stale_reasons: i.stale_reasons.into_iter().map(String::from).collect(),
            removed: i.removed,
            owner: i.owner,
            hostname: i.hostname,
            process: i.process,
        }
    }
}

/// Paths in `dir` whose names end in `suffix`, sorted. A missing directory has none.
#[napi]
pub fn list_lock_files(dir: String, suffix: String) -> Result<Vec<String>> {
    let found = inspect::scan(Path::new(&dir), &suffix).map_err(to_napi)?;
    Ok(found
        .into_iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect())
}

/// Inspects one sidecar without disturbing its holder. `now_ms` overrides the clock.
#[napi]
pub fn inspect_lock_file(
    lock_path: String,
    stale_ms: f64,
    now_ms: Option<f64>,
) -> Result<LockInspection> {
    inspect::inspect(
        Path::new(&lock_path),
        window_ms(stale_ms),
        now_ms.map(|n| n as i64),
    )
    .map(Into::into)
    .map_err(to_napi)
}

/// Removes a sidecar only if it is still stale when judged again under its kernel lock.
#[napi]
pub fn remove_stale_lock_file(
    lock_path: String,
    stale_ms: f64,
    now_ms: Option<f64>,
) -> Result<LockInspection> {
    inspect::remove_if_stale(
        Path::new(&lock_path),
        window_ms(stale_ms),
        now_ms.map(|n| n as i64),
    )
    .map(Into::into)
    .map_err(to_napi)
}
