//! Writing the transcript through a held lock: appends (with torn-tail repair and rollback) and atomic
//! rewrites.

use napi::bindgen_prelude::*;
use napi_derive::napi;

use super::{holds, to_napi};
use crate::durability::Durability;
use crate::jsonl;

/// What a torn-tail repair before an append did.
#[napi(string_enum = "lowercase")]
pub enum Repair {
    /// The unterminated last line was valid JSON: a newline completed it.
    Completed,
    /// It was not: it was moved to `quarantinePath` and cut from the transcript.
    Quarantined,
}

/// What one append wrote.
#[napi(object)]
pub struct AppendResult {
    /// Byte offset where the appended lines start.
    pub offset: f64,
    pub bytes: f64,
    /// Set when a torn last line was repaired first.
    pub repair: Option<Repair>,
    /// Where a quarantined fragment was moved.
    pub quarantine_path: Option<String>,
}

impl From<jsonl::Appended> for AppendResult {
    fn from(a: jsonl::Appended) -> Self {
        let (repair, quarantine_path) = match a.repair {
            None => (None, None),
            Some(jsonl::Repair::Completed { .. }) => (Some(Repair::Completed), None),
            Some(jsonl::Repair::Quarantined { sidecar, .. }) => (
                Some(Repair::Quarantined),
                Some(sidecar.to_string_lossy().into_owned()),
            ),
        };
        AppendResult {
            offset: a.offset as f64,
            bytes: a.bytes as f64,
            repair,
            quarantine_path,
        }
    }
}

/// Appends whole JSONL lines to the transcript in one write, repairing a torn tail first and rolling
/// back on failure.
#[napi]
pub fn append_locked(id: f64, data: &[u8], durability: Durability) -> Result<AppendResult> {
    holds::with_hold(id, |h| {
        h.append(data, durability)
            .map(AppendResult::from)
            .map_err(to_napi)
    })
}

/// Replaces the transcript atomically (temporary file and rename), keeping its mode. Returns the bytes
/// written.
#[napi]
pub fn rewrite_locked(id: f64, data: &[u8], durability: Durability) -> Result<f64> {
    holds::with_hold(id, |h| {
        h.rewrite(data, durability)
            .map(|b| b as f64)
            .map_err(to_napi)
    })
}
