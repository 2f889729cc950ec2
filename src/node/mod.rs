//! Node bindings: conversions between JavaScript and the domain modules, one file per domain. Nothing
//! here decides anything about the lock.

pub mod config;
pub mod env;
pub mod holds;
pub mod inspect;
pub mod lock;
pub mod stats;
pub mod transcript;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::error::LockError;

/// Prefix of a native error message that carries a JSON descriptor for `lib/errors.js` to turn into a
/// typed error (a `#[napi] async fn` cannot give its error a `code` of its own).
#[napi]
pub const ERROR_DESCRIPTOR_MARK: &str = "\u{1}swl:";

pub(crate) fn to_napi(err: LockError) -> napi::Error {
    napi::Error::new(
        Status::GenericFailure,
        format!("{ERROR_DESCRIPTOR_MARK}{}", err.descriptor()),
    )
}

/// The `code` each kind of native error carries (the kinds of `LockError::descriptor`), so that
/// `lib/errors.js` builds its classes from this one table.
#[napi(object)]
pub struct ErrorCodes {
    pub timeout: String,
    pub aborted: String,
    pub lost: String,
    pub unsafe_path: String,
    pub network: String,
    pub config: String,
}

#[napi]
pub fn error_codes() -> ErrorCodes {
    use crate::error::codes;
    ErrorCodes {
        timeout: codes::TIMEOUT.into(),
        aborted: codes::ABORTED.into(),
        lost: codes::LOST.into(),
        unsafe_path: codes::UNSAFE_PATH.into(),
        network: codes::NETWORK_FS.into(),
        config: codes::CONFIG.into(),
    }
}

/// A duration from milliseconds; `Infinity`, and any span too long for a `Duration` (`1e300`), is
/// forever. Never panics.
pub(crate) fn duration_or_forever(ms: f64) -> Option<std::time::Duration> {
    std::time::Duration::try_from_secs_f64(ms / 1000.0).ok()
}

/// A staleness window in whole milliseconds; `Infinity` (and beyond) saturates.
pub(crate) fn window_ms(ms: f64) -> i64 {
    if ms.is_finite() {
        ms as i64
    } else {
        i64::MAX
    }
}
