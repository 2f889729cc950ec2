//! Errors of the lock engine, each with a stable `code`.
//!
//! The napi layer turns a [`LockError`] into a descriptor (see [`LockError::descriptor`]) and the
//! JavaScript wrapper turns the descriptor into the matching exported error class.

use std::io;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// An OS error as a person reads it: "Permission denied", not "Permission denied (os error 13)" (the
/// code is in the error's `code` and `errno` already).
pub fn plain(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// A configuration problem, with everything the message names as fields.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub message: String,
    pub fields: Value,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// What kind of holder a sidecar names.
#[cfg_attr(feature = "node", napi_derive::napi(string_enum = "kebab-case"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OwnerKind {
    /// A holder of this package, in another process.
    Kernel,
    /// The legacy JavaScript lock.
    Legacy,
    /// This very process.
    InProcess,
    /// The payload could not be read.
    Unknown,
}

/// The process that held the lock when a wait gave up.
#[cfg_attr(feature = "node", napi_derive::napi(object))]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Owner {
    pub pid: Option<i64>,
    pub alive: Option<bool>,
    pub kind: OwnerKind,
    /// How long it has held the lock, from the payload (`acquiredAt`, else `createdAt`).
    pub held_for_ms: Option<i64>,
    /// Who holds, in words: the holder's `owner` option (a run id, a session key), as its payload says.
    pub label: Option<String>,
    /// The holder's machine and program, as its payload says (holders of this package write them).
    pub hostname: Option<String>,
    pub process: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// The wait exceeded its timeout. The message keeps the legacy prefix that gateway code matches on.
    #[error("session file locked (timeout {timeout_ms}ms): {} {}", owner_label(.owner), .lock_path.display())]
    Timeout {
        lock_path: PathBuf,
        timeout_ms: u64,
        waited_ms: u64,
        /// Boxed: it is the largest part of the error, and errors travel in every `Result`.
        owner: Box<Owner>,
    },

    #[error("session write lock wait aborted: {}", .lock_path.display())]
    Aborted { lock_path: PathBuf, waited_ms: u64 },

    /// `lock_path` is `None` when only the lock's id is known (the JavaScript side knows the path).
    #[error("session write lock lost ({reason}): {}", .lock_path.as_deref().map_or_else(|| "(released lock)".to_string(), |p| p.display().to_string()))]
    Lost {
        lock_path: Option<PathBuf>,
        reason: String,
    },

    /// A symlink, directory, FIFO or hard-linked file sits at the lock path; it is left untouched.
    #[error("refusing to use {}: the lock path is {what}, not a regular file we can own", .path.display())]
    UnsafeLockPath { path: PathBuf, what: &'static str },

    /// The session directory is on a network filesystem, where kernel locks cannot be trusted.
    #[error("refusing to lock {}: it is on a network filesystem ({fs}), where flock is not reliable across machines; \
             set allowNetworkFilesystem (or OPENCLAW_SESSION_WRITE_LOCK_ALLOW_NETWORK_FS=1) to accept the risk", .path.display())]
    NetworkFilesystem { path: PathBuf, fs: &'static str },

    #[error("{message}")]
    InvalidArgument { message: String },

    /// A configuration value (file, environment or `configureSessionWriteLock`) is invalid.
    #[error("{0}")]
    Config(ConfigError),

    #[error("{syscall} failed for {}: {}", .path.display(), plain(.source))]
    Io {
        syscall: &'static str,
        path: PathBuf,
        source: io::Error,
    },

    /// A write of the transcript failed, and cutting it back to its old length failed too: the entries
    /// may be in it, so a caller that retries could write them twice.
    #[error("{syscall} failed for {}: {}; cutting it back failed too ({}), so the entries may be in the transcript", .path.display(), plain(.source), plain(.rollback))]
    NotRolledBack {
        syscall: &'static str,
        path: PathBuf,
        source: io::Error,
        rollback: io::Error,
    },
}

/// `pid=<P> alive=<bool> ageMs=<N>`, or `owner=unknown`, as the 2026.7 message says it (2026.2 to 2026.4
/// said `pid=<P>` alone, a prefix of this).
fn owner_label(owner: &Owner) -> String {
    let Some(pid) = owner.pid else {
        return "owner=unknown".to_string();
    };
    let mut label = format!("pid={pid} alive={}", owner.alive.unwrap_or(false));
    if let Some(age) = owner.held_for_ms {
        label.push_str(&format!(" ageMs={age}"));
    }
    label
}

/// The stable `code` of each error the lock raises (I/O errors carry their errno name instead).
pub mod codes {
    /// A lock timeout: the code every OpenClaw generation since 2026.5 recognises, so that the
    /// gateway's failover reads contention as contention, whichever API raised it.
    pub const TIMEOUT: &str = "OPENCLAW_SESSION_WRITE_LOCK_TIMEOUT";
    pub const ABORTED: &str = "SESSION_WRITE_LOCK_ABORTED";
    pub const LOST: &str = "SESSION_WRITE_LOCK_LOST";
    pub const UNSAFE_PATH: &str = "SESSION_WRITE_LOCK_UNSAFE_PATH";
    pub const NETWORK_FS: &str = "SESSION_WRITE_LOCK_NETWORK_FS";
    pub const CONFIG: &str = "SESSION_WRITE_LOCK_CONFIG";
    pub const INVALID_ARG: &str = "ERR_INVALID_ARG_VALUE";
}

impl LockError {
    pub fn io(syscall: &'static str, path: &Path, source: io::Error) -> Self {
        LockError::Io {
            syscall,
            path: path.to_path_buf(),
            source,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        LockError::InvalidArgument {
            message: message.into(),
        }
    }

    /// The stable `code` string the JavaScript error carries.
    pub fn code(&self) -> String {
        match self {
            LockError::Timeout { .. } => codes::TIMEOUT.into(),
            LockError::Aborted { .. } => codes::ABORTED.into(),
            LockError::Lost { .. } => codes::LOST.into(),
            LockError::UnsafeLockPath { .. } => codes::UNSAFE_PATH.into(),
            LockError::NetworkFilesystem { .. } => codes::NETWORK_FS.into(),
            LockError::InvalidArgument { .. } => codes::INVALID_ARG.into(),
            LockError::Config(_) => codes::CONFIG.into(),
            LockError::Io { source, .. } | LockError::NotRolledBack { source, .. } => {
                crate::os_file::errno_name(source).to_string()
            }
        }
    }

    /// Everything the JavaScript side needs to build the error object.
    pub fn descriptor(&self) -> Value {
        let mut d = json!({ "code": self.code(), "message": self.to_string() });
        let extra = match self {
            LockError::Timeout {
                lock_path,
                timeout_ms,
                waited_ms,
                owner,
            } => json!({
                "kind": "timeout",
                "reason": "session_busy",
                "lockPath": lock_path,
                "timeoutMs": timeout_ms,
                "waitedMs": waited_ms,
                "owner": owner,
                "ownerLabel": owner_label(owner),
            }),
            LockError::Aborted {
                lock_path,
                waited_ms,
            } => {
                json!({ "kind": "aborted", "lockPath": lock_path, "waitedMs": waited_ms })
            }
            LockError::Lost { lock_path, reason } => {
                json!({ "kind": "lost", "lockPath": lock_path, "reason": reason })
            }
            LockError::UnsafeLockPath { path, .. } => json!({ "kind": "unsafe", "path": path }),
            LockError::NetworkFilesystem { path, fs } => {
                json!({ "kind": "network", "path": path, "filesystem": fs })
            }
            LockError::InvalidArgument { .. } => json!({ "kind": "type" }),
            LockError::Config(e) => {
                let mut fields = e.fields.clone();
                if let Value::Object(f) = &mut fields {
                    f.insert("kind".into(), "config".into());
                }
                fields
            }
            LockError::Io {
                syscall,
                path,
                source,
            } => json!({
                "kind": "io",
                "syscall": syscall,
                "path": path,
                "errno": crate::os_file::node_errno(source),
            }),
            LockError::NotRolledBack {
                syscall,
                path,
                source,
                rollback,
            } => json!({
                "kind": "io",
                "syscall": syscall,
                "path": path,
                "errno": crate::os_file::node_errno(source),
                "rolledBack": false,
                "rollbackCode": crate::os_file::errno_name(rollback),
            }),
        };
        if let (Value::Object(d), Value::Object(extra)) = (&mut d, extra) {
            d.extend(extra);
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_message_keeps_the_legacy_prefix() {
        let err = LockError::Timeout {
            lock_path: PathBuf::from("/s/a.jsonl.lock"),
            timeout_ms: 10_000,
            waited_ms: 10_003,
            owner: Box::new(Owner {
                pid: Some(42),
                alive: Some(true),
                kind: OwnerKind::Kernel,
                held_for_ms: Some(5),
                label: None,
                hostname: None,
                process: None,
            }),
        };
        assert_eq!(
            err.to_string(),
            "session file locked (timeout 10000ms): pid=42 alive=true ageMs=5 /s/a.jsonl.lock"
        );
        let d = err.descriptor();
        assert_eq!(d["code"], "OPENCLAW_SESSION_WRITE_LOCK_TIMEOUT");
        assert_eq!(d["reason"], "session_busy");
        assert_eq!(d["owner"]["pid"], 42);
        assert_eq!(d["waitedMs"], 10_003);
    }

    #[test]
    fn io_errors_keep_their_errno_name_and_path() {
        let err = LockError::io(
            "open",
            Path::new("/ro/x.lock"),
            io::Error::from(io::ErrorKind::PermissionDenied),
        );
        assert_eq!(err.code(), "EACCES");
        let d = err.descriptor();
        assert_eq!(d["path"], "/ro/x.lock");
        assert_eq!(d["syscall"], "open");
        assert!(d["message"].as_str().unwrap().contains("/ro/x.lock"));
    }

    #[test]
    fn unknown_owner_prints_unknown() {
        let err = LockError::Timeout {
            lock_path: PathBuf::from("/l"),
            timeout_ms: 5,
            waited_ms: 5,
            owner: Box::new(Owner {
                pid: None,
                alive: None,
                kind: OwnerKind::Unknown,
                held_for_ms: None,
                label: None,
                hostname: None,
                process: None,
            }),
        };
        assert_eq!(
            err.to_string(),
            "session file locked (timeout 5ms): owner=unknown /l"
        );
    }
}
