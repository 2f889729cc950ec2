//! Lock limits from configuration: `session.writeLock` in `openclaw.json` (JSON5), the
//! `OPENCLAW_SESSION_WRITE_LOCK_*` environment variables, `configureSessionWriteLock()` from code and
//! per-call options, strongest first: call, configure, environment, file, defaults.
//!
//! The file is parsed only when it changes (device, inode, mtime or size differ), so a lock call costs
//! one `stat` of it, and an edit takes effect on the next acquisition without a restart.

mod file;
pub mod raw;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use serde_json::json;

pub use file::{config_path, file_layer, MAX_CONFIG_BYTES, MAX_CONFIG_DEPTH};
use raw::Raw;

use crate::durability::Durability;
use crate::error::ConfigError;

/// One setting: its name under `session.writeLock` and its environment variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    AcquireTimeoutMs,
    StaleMs,
    MaxHoldMs,
    NoticeAfterMs,
    Durability,
}

impl Key {
    /// Every key, in report order.
    pub const ALL: [Key; 5] = [
        Key::AcquireTimeoutMs,
        Key::StaleMs,
        Key::MaxHoldMs,
        Key::NoticeAfterMs,
        Key::Durability,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Key::AcquireTimeoutMs => "acquireTimeoutMs",
            Key::StaleMs => "staleMs",
            Key::MaxHoldMs => "maxHoldMs",
            Key::NoticeAfterMs => "noticeAfterMs",
            Key::Durability => "durability",
        }
    }

    /// The environment variable (the first three are the names OpenClaw itself adopted).
    pub fn env(self) -> &'static str {
        match self {
            Key::AcquireTimeoutMs => "OPENCLAW_SESSION_WRITE_LOCK_ACQUIRE_TIMEOUT_MS",
            Key::StaleMs => "OPENCLAW_SESSION_WRITE_LOCK_STALE_MS",
            Key::MaxHoldMs => "OPENCLAW_SESSION_WRITE_LOCK_MAX_HOLD_MS",
            Key::NoticeAfterMs => "OPENCLAW_SESSION_WRITE_LOCK_NOTICE_AFTER_MS",
            Key::Durability => "OPENCLAW_SESSION_WRITE_LOCK_DURABILITY",
        }
    }

    pub fn from_name(name: &str) -> Option<Key> {
        Key::ALL.into_iter().find(|k| k.name() == name)
    }

    pub fn names() -> Vec<&'static str> {
        Key::ALL.iter().map(|k| k.name()).collect()
    }
}

/// What one source (the call, `configure`, the environment, the file) says; `None` where it is
/// silent. Durations are milliseconds, `f64::INFINITY` for "never".
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Layer {
    pub acquire_timeout_ms: Option<f64>,
    pub stale_ms: Option<f64>,
    pub max_hold_ms: Option<f64>,
    pub notice_after_ms: Option<f64>,
    pub durability: Option<Durability>,
}

/// One validated value: milliseconds, or a durability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Ms(f64),
    Durability(Durability),
}

impl Layer {
    /// Sets `key`; `validate` hands out the kind of value each key takes.
    pub fn set(&mut self, key: Key, value: Value) {
        match (key, value) {
            (Key::Durability, Value::Durability(d)) => self.durability = Some(d),
            (Key::AcquireTimeoutMs, Value::Ms(ms)) => self.acquire_timeout_ms = Some(ms),
            (Key::StaleMs, Value::Ms(ms)) => self.stale_ms = Some(ms),
            (Key::MaxHoldMs, Value::Ms(ms)) => self.max_hold_ms = Some(ms),
            (Key::NoticeAfterMs, Value::Ms(ms)) => self.notice_after_ms = Some(ms),
            _ => unreachable!("validate gives each key its kind of value"),
        }
    }

    pub fn clear(&mut self, key: Key) {
        match key {
            Key::AcquireTimeoutMs => self.acquire_timeout_ms = None,
            Key::StaleMs => self.stale_ms = None,
            Key::MaxHoldMs => self.max_hold_ms = None,
            Key::NoticeAfterMs => self.notice_after_ms = None,
            Key::Durability => self.durability = None,
        }
    }

    pub fn has(&self, key: Key) -> bool {
        match key {
            Key::AcquireTimeoutMs => self.acquire_timeout_ms.is_some(),
            Key::StaleMs => self.stale_ms.is_some(),
            Key::MaxHoldMs => self.max_hold_ms.is_some(),
            Key::NoticeAfterMs => self.notice_after_ms.is_some(),
            Key::Durability => self.durability.is_some(),
        }
    }
}

/// Every setting in force.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    pub acquire_timeout_ms: f64,
    pub stale_ms: f64,
    pub max_hold_ms: f64,
    pub notice_after_ms: f64,
    pub durability: Durability,
}

/// The built-in defaults: the acquire timeout of OpenClaw 2026.5+ (60 s; 2026.2 to 2026.4 waited 10 s),
/// and the legacy lock's staleness window and longest hold.
pub const DEFAULTS: Settings = Settings {
    acquire_timeout_ms: 60_000.0,
    stale_ms: 1_800_000.0,
    max_hold_ms: 300_000.0,
    notice_after_ms: 2_000.0,
    durability: Durability::None,
};

/// Where each setting in force came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sources {
    pub acquire_timeout_ms: Source,
    pub stale_ms: Source,
    pub max_hold_ms: Source,
    pub notice_after_ms: Source,
    pub durability: Source,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Call,
    Configure,
    Env(&'static str),
    File(PathBuf),
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Call => f.write_str("call"),
            Source::Configure => f.write_str("configure"),
            Source::Env(name) => write!(f, "env:{name}"),
            Source::File(p) => write!(f, "file:{}", p.display()),
            Source::Default => f.write_str("default"),
        }
    }
}

/// Something about the configuration that is worth one warning, not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// `SESSION_WRITE_LOCK_CONFIG_UNKNOWN_KEY` or `SESSION_WRITE_LOCK_CONFIG_UNREADABLE`.
    pub code: &'static str,
    pub message: String,
}

fn invalid(source: &Source, key: &str, got: &Raw, expected: &str) -> ConfigError {
    let where_ = match source {
        Source::File(p) => format!("{} (session.writeLock.{key})", p.display()),
        Source::Env(name) => (*name).to_string(),
        Source::Configure => format!("configureSessionWriteLock() ({key})"),
        Source::Call => format!("options.{key}"),
        Source::Default => key.to_string(),
    };
    ConfigError {
        message: format!("invalid session write lock setting {key} from {where_}: got {got}, expected {expected}"),
        fields: json!({ "source": source.to_string(), "key": key, "value": got.to_string(), "expected": expected }),
    }
}

/// Checks one value of one key.
pub fn validate(key: Key, raw: &Raw, source: &Source) -> Result<Value, ConfigError> {
    if key == Key::Durability {
        let expected = "one of \"none\", \"data\", \"full\"";
        return match raw {
            Raw::Text(s) => Durability::from_name(s).map(Value::Durability),
            _ => None,
        }
        .ok_or_else(|| invalid(source, key.name(), raw, expected));
    }
    let expected = "a non-negative number of milliseconds, or Infinity";
    let n = match raw {
        Raw::Number(n) => Some(*n),
        Raw::Text(s) if matches!(source, Source::Env(_)) => parse_env_number(s),
        _ => None,
    };
    match n {
        Some(n) if n >= 0.0 => Ok(Value::Ms(n)), // NaN fails the comparison
        _ => Err(invalid(source, key.name(), raw, expected)),
    }
}

/// A decimal number or `Infinity`, as an environment variable spells it. `NaN`, `inf`, hex and empty
/// strings are not numbers here.
fn parse_env_number(s: &str) -> Option<f64> {
    let s = s.trim();
    if s == "Infinity" {
        return Some(f64::INFINITY);
    }
    let valid = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
        && s.chars().any(|c| c.is_ascii_digit());
    // Only the word `Infinity` means "never": `1e400` overflows to it, and is refused instead.
    valid
        .then(|| s.parse().ok())
        .flatten()
        .filter(|n: &f64| n.is_finite())
}

/// The environment layer, read now. A key for which `get` has nothing (or an empty value) is silent.
pub fn env_layer(get: impl Fn(&str) -> Option<String>) -> Result<Layer, ConfigError> {
    let mut layer = Layer::default();
    for key in Key::ALL {
        if let Some(v) = get(key.env()).filter(|v| !v.is_empty()) {
            layer.set(key, validate(key, &Raw::Text(v), &Source::Env(key.env()))?);
        }
    }
    Ok(layer)
}

fn configured() -> &'static Mutex<Layer> {
    static CONFIGURED: OnceLock<Mutex<Layer>> = OnceLock::new();
    CONFIGURED.get_or_init(Default::default)
}

/// `configureSessionWriteLock(partial)`: validates every entry first, then merges them all (or none).
/// A `null` value clears its key.
pub fn configure(entries: &[(String, Raw)]) -> Result<(), ConfigError> {
    let mut updates = Vec::new();
    for (name, raw) in entries {
        let Some(key) = Key::from_name(name) else {
            let expected = format!("one of the keys {}", Key::names().join(", "));
            return Err(invalid(&Source::Configure, name, raw, &expected));
        };
        let value = match raw {
            Raw::Null => None,
            _ => Some(validate(key, raw, &Source::Configure)?),
        };
        updates.push((key, value));
    }
    let mut layer = configured().lock().unwrap_or_else(|p| p.into_inner());
    for (key, value) in updates {
        match value {
            Some(v) => layer.set(key, v),
            None => layer.clear(key),
        }
    }
    Ok(())
}

/// The effective settings with their sources, and warnings that are new since the last call.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub settings: Settings,
    pub sources: Sources,
    pub config_path: Option<PathBuf>,
    pub warnings: Vec<Warning>,
}

/// The value of the strongest layer that sets it, with that layer's source; else the default.
fn strongest<T: Copy>(values: [Option<T>; 4], sources: [Source; 4], default: T) -> (T, Source) {
    values
        .into_iter()
        .zip(sources)
        .find_map(|(value, source)| value.map(|v| (v, source)))
        .unwrap_or((default, Source::Default))
}

/// Resolves every key through the five layers. `call` is the per-call layer.
pub fn resolve(call: &Layer, explicit_path: Option<&Path>) -> Result<Resolved, ConfigError> {
    let get = |name: &str| std::env::var(name).ok();
    let path = config_path(explicit_path, get);
    let named =
        explicit_path.is_some() || get("OPENCLAW_CONFIG_PATH").is_some_and(|v| !v.is_empty());
    let (file, warnings) = match &path {
        Some(p) => file::cached_file_layer(p, named)?,
        None => (Layer::default(), Vec::new()),
    };
    let configured = *configured().lock().unwrap_or_else(|p| p.into_inner());
    // A variable whose key a stronger layer sets is not read, so not judged either: a 2026.5+ gateway
    // passes every limit explicitly (its resolvers skip values they cannot read), and a value there that
    // this layer would refuse must not fail its calls.
    let overridden = |name: &str| {
        Key::ALL
            .into_iter()
            .find(|k| k.env() == name)
            .is_some_and(|k| call.has(k) || configured.has(k))
    };
    let env = env_layer(|name| get(name).filter(|_| !overridden(name)))?;
    // The file layer is empty when there is no path, so its source is never reported then.
    let file_source = path.clone().map_or(Source::Default, Source::File);
    let layers = [call, &configured, &env, &file];
    let sources = |key: Key| {
        [
            Source::Call,
            Source::Configure,
            Source::Env(key.env()),
            file_source.clone(),
        ]
    };
    let (acquire_timeout_ms, acquire_source) = strongest(
        layers.map(|l| l.acquire_timeout_ms),
        sources(Key::AcquireTimeoutMs),
        DEFAULTS.acquire_timeout_ms,
    );
    let (stale_ms, stale_source) = strongest(
        layers.map(|l| l.stale_ms),
        sources(Key::StaleMs),
        DEFAULTS.stale_ms,
    );
    let (max_hold_ms, max_hold_source) = strongest(
        layers.map(|l| l.max_hold_ms),
        sources(Key::MaxHoldMs),
        DEFAULTS.max_hold_ms,
    );
    let (notice_after_ms, notice_source) = strongest(
        layers.map(|l| l.notice_after_ms),
        sources(Key::NoticeAfterMs),
        DEFAULTS.notice_after_ms,
    );
    let (durability, durability_source) = strongest(
        layers.map(|l| l.durability),
        sources(Key::Durability),
        DEFAULTS.durability,
    );
    Ok(Resolved {
        settings: Settings {
            acquire_timeout_ms,
            stale_ms,
            max_hold_ms,
            notice_after_ms,
            durability,
        },
        sources: Sources {
            acquire_timeout_ms: acquire_source,
            stale_ms: stale_source,
            max_hold_ms: max_hold_source,
            notice_after_ms: notice_source,
            durability: durability_source,
        },
        config_path: path,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_values() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let layer = env_layer(env(&[
            ("OPENCLAW_SESSION_WRITE_LOCK_ACQUIRE_TIMEOUT_MS", "Infinity"),
            ("OPENCLAW_SESSION_WRITE_LOCK_STALE_MS", " 1500 "),
            ("OPENCLAW_SESSION_WRITE_LOCK_DURABILITY", "full"),
        ]))
        .unwrap();
        assert_eq!(layer.acquire_timeout_ms, Some(f64::INFINITY));
        assert_eq!(layer.stale_ms, Some(1500.0));
        assert_eq!(layer.durability, Some(Durability::Full));
        for bad in ["NaN", "-5", "ten", "0x10", "inf", "1,000", "1e400"] {
            let pairs: &'static [(&'static str, &'static str)] =
                Box::leak(Box::new([("OPENCLAW_SESSION_WRITE_LOCK_MAX_HOLD_MS", bad)]));
            let err = env_layer(env(pairs)).unwrap_err();
            assert_eq!(
                err.fields["source"], "env:OPENCLAW_SESSION_WRITE_LOCK_MAX_HOLD_MS",
                "{bad}"
            );
            assert!(
                err.message.contains(&format!("got {bad:?}")),
                "{}",
                err.message
            );
        }
    }

    #[test]
    fn keys_know_their_names_and_variables() {
        for key in Key::ALL {
            assert_eq!(Key::from_name(key.name()), Some(key));
            assert!(key.env().starts_with("OPENCLAW_SESSION_WRITE_LOCK_"));
        }
        assert_eq!(Key::from_name("timeout"), None);
    }

    #[test]
    fn configure_validates_everything_before_it_changes_anything() {
        let before = *configured().lock().unwrap();
        let err = configure(&[
            ("noticeAfterMs".into(), Raw::Number(5.0)),
            ("staleMs".into(), Raw::Number(-1.0)),
        ])
        .unwrap_err();
        assert_eq!(err.fields["key"], "staleMs");
        assert_eq!(*configured().lock().unwrap(), before, "nothing changed");
        assert!(configure(&[("bogus".into(), Raw::Number(1.0))]).is_err());
    }
}
