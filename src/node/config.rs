//! Settings in force for a lock call: the per-call options over `configureSessionWriteLock()`, the
//! environment, `openclaw.json` and the defaults.

use std::path::Path;

use napi::bindgen_prelude::*;
use napi_derive::napi;

use super::to_napi;
use crate::config::{self, raw::Raw, Layer, Settings, Source};
use crate::durability::Durability;
use crate::error::LockError;

/// The per-call layer: what one call's options say (checked by `lib/options.js`).
#[napi(object)]
pub struct CallSettings {
    pub acquire_timeout_ms: Option<f64>,
    pub stale_ms: Option<f64>,
    pub max_hold_ms: Option<f64>,
    pub notice_after_ms: Option<f64>,
    pub durability: Option<Durability>,
}

impl From<&CallSettings> for Layer {
    fn from(c: &CallSettings) -> Layer {
        Layer {
            acquire_timeout_ms: c.acquire_timeout_ms,
            stale_ms: c.stale_ms,
            max_hold_ms: c.max_hold_ms,
            notice_after_ms: c.notice_after_ms,
            durability: c.durability,
        }
    }
}

/// The settings in force for one lock call. Durations are milliseconds; `Infinity` means never.
#[napi(object)]
pub struct LockSettings {
    /// How long a caller waits for the lock. Default 60 000.
    pub acquire_timeout_ms: f64,
    /// When a legacy sidecar counts as too old. Default 1 800 000.
    pub stale_ms: f64,
    /// When the watchdog revokes a hold. Default 300 000.
    pub max_hold_ms: f64,
    /// When a waiter gets its one notice. Default 2 000.
    pub notice_after_ms: f64,
    /// How hard appends are pushed to storage. Default `none`.
    pub durability: Durability,
    /// Set only when there are new warnings about the configuration.
    pub warnings: Option<Vec<ConfigWarning>>,
}

fn settings_of(s: Settings, warnings: Vec<config::Warning>) -> LockSettings {
    LockSettings {
        acquire_timeout_ms: s.acquire_timeout_ms,
        stale_ms: s.stale_ms,
        max_hold_ms: s.max_hold_ms,
        notice_after_ms: s.notice_after_ms,
        durability: s.durability,
        warnings: (!warnings.is_empty()).then(|| warnings.into_iter().map(Into::into).collect()),
    }
}

/// A configuration problem worth one warning (`process.emitWarning` with this `code`).
#[napi(object)]
pub struct ConfigWarning {
    pub code: String,
    pub message: String,
}

impl From<config::Warning> for ConfigWarning {
    fn from(w: config::Warning) -> Self {
        ConfigWarning {
            code: w.code.into(),
            message: w.message,
        }
    }
}

/// The built-in defaults.
#[napi]
pub fn default_lock_settings() -> LockSettings {
    settings_of(config::DEFAULTS, Vec::new())
}

/// The environment variable of each setting.
#[napi(object)]
pub struct SettingVariables {
    pub acquire_timeout_ms: String,
    pub stale_ms: String,
    pub max_hold_ms: String,
    pub notice_after_ms: String,
    pub durability: String,
}

#[napi]
pub fn setting_variables() -> SettingVariables {
    use config::Key;
    SettingVariables {
        acquire_timeout_ms: Key::AcquireTimeoutMs.env().into(),
        stale_ms: Key::StaleMs.env().into(),
        max_hold_ms: Key::MaxHoldMs.env().into(),
        notice_after_ms: Key::NoticeAfterMs.env().into(),
        durability: Key::Durability.env().into(),
    }
}

fn resolve(call: &CallSettings, config_path: Option<String>) -> Result<config::Resolved> {
    config::resolve(&call.into(), config_path.as_deref().map(Path::new))
        .map_err(|e| to_napi(LockError::Config(e)))
}

/// The settings in force for one lock call, without sources: the per-acquisition fast path.
#[napi]
pub fn lock_settings(call: CallSettings, config_path: Option<String>) -> Result<LockSettings> {
    resolve(&call, config_path).map(|r| settings_of(r.settings, r.warnings))
}

/// A duration in force and where it came from (`call`, `configure`, `env:<NAME>`, `file:<path>` or
/// `default`).
#[napi(object)]
pub struct ResolvedMs {
    pub value: f64,
    pub source: String,
}

/// The durability in force and where it came from.
#[napi(object)]
pub struct ResolvedDurability {
    pub value: Durability,
    pub source: String,
}

/// Every setting in force, each with its source.
#[napi(object)]
pub struct ResolvedLockConfig {
    pub config_path: Option<String>,
    pub acquire_timeout_ms: ResolvedMs,
    pub stale_ms: ResolvedMs,
    pub max_hold_ms: ResolvedMs,
    pub notice_after_ms: ResolvedMs,
    pub durability: ResolvedDurability,
    /// Set only when there are new warnings about the configuration.
    pub warnings: Option<Vec<ConfigWarning>>,
}

/// Resolves the settings through the layers, with the source of each.
#[napi]
pub fn resolve_lock_config(
    call: CallSettings,
    config_path: Option<String>,
) -> Result<ResolvedLockConfig> {
    let r = resolve(&call, config_path)?;
    let ms = |value: f64, source: &Source| ResolvedMs {
        value,
        source: source.to_string(),
    };
    Ok(ResolvedLockConfig {
        config_path: r
            .config_path
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned()),
        acquire_timeout_ms: ms(r.settings.acquire_timeout_ms, &r.sources.acquire_timeout_ms),
        stale_ms: ms(r.settings.stale_ms, &r.sources.stale_ms),
        max_hold_ms: ms(r.settings.max_hold_ms, &r.sources.max_hold_ms),
        notice_after_ms: ms(r.settings.notice_after_ms, &r.sources.notice_after_ms),
        durability: ResolvedDurability {
            value: r.settings.durability,
            source: r.sources.durability.to_string(),
        },
        warnings: (!r.warnings.is_empty())
            .then(|| r.warnings.into_iter().map(Into::into).collect()),
    })
}

/// A value handed to `configureSessionWriteLock`, described by `lib/config.js` without losing
/// `Infinity`, `NaN` or its type.
#[napi(object)]
pub struct ConfigEntry {
    pub key: String,
    /// `typeof` of the value (`null` for null).
    pub kind: String,
    pub number: Option<f64>,
    pub text: Option<String>,
}

impl From<&ConfigEntry> for Raw {
    fn from(e: &ConfigEntry) -> Raw {
        match (e.kind.as_str(), e.number, &e.text) {
            ("number", Some(n), _) => Raw::Number(n),
            ("string", _, Some(t)) => Raw::Text(t.clone()),
            ("boolean", _, Some(t)) => Raw::Bool(t == "true"),
            ("null" | "undefined", _, _) => Raw::Null,
            ("object", _, _) => Raw::Object(Vec::new()),
            (_, _, text) => Raw::Text(text.clone().unwrap_or_default()),
        }
    }
}

/// Sets settings from code, above the environment and the file. Every entry is validated first; on an
/// error nothing changes. A `null` value clears that key.
#[napi]
pub fn configure_lock(entries: Vec<ConfigEntry>) -> Result<()> {
    let raw: Vec<(String, Raw)> = entries.iter().map(|e| (e.key.clone(), e.into())).collect();
    config::configure(&raw).map_err(|e| to_napi(LockError::Config(e)))
}
