//! Lock limits from configuration: `session.writeLock` in `openclaw.json` (JSON5), the
//! `OPENCLAW_SESSION_WRITE_LOCK_*` environment variables, `configureSessionWriteLock()` from code and
//! per-call options, strongest first: call, configure, environment, file, defaults.
//!
//! The file is parsed only when it changes (device, inode, mtime or size differ), so a lock call costs
//! one `stat` of it, and an edit takes effect on the next acquisition without a restart.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{json, Value as Json};

use crate::jsonl::Durability;

/// The keys under `session.writeLock`, in report order.
pub const KEYS: [&str; 5] = [
    "acquireTimeoutMs",
    "staleMs",
    "maxHoldMs",
    "noticeAfterMs",
    "durability",
];

/// The environment variable of each key (the names OpenClaw itself adopted).
pub const ENV: [&str; 5] = [
    "OPENCLAW_SESSION_WRITE_LOCK_ACQUIRE_TIMEOUT_MS",
    "OPENCLAW_SESSION_WRITE_LOCK_STALE_MS",
    "OPENCLAW_SESSION_WRITE_LOCK_MAX_HOLD_MS",
    "OPENCLAW_SESSION_WRITE_LOCK_NOTICE_AFTER_MS",
    "OPENCLAW_SESSION_WRITE_LOCK_DURABILITY",
];

const DURABILITY: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Setting {
    /// Milliseconds; `f64::INFINITY` means "never".
    Ms(f64),
    Durability(Durability),
}

impl Setting {
    pub fn ms(self) -> f64 {
        match self {
            Setting::Ms(v) => v,
            Setting::Durability(_) => f64::NAN,
        }
    }
}

pub fn defaults() -> [Setting; 5] {
    [
        Setting::Ms(60_000.0),
        Setting::Ms(1_800_000.0),
        Setting::Ms(300_000.0),
        Setting::Ms(2_000.0),
        Setting::Durability(Durability::None),
    ]
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

/// A configuration problem, with everything the message names as fields.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub message: String,
    pub fields: Json,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Something about the configuration that is worth one warning, not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// `SESSION_WRITE_LOCK_CONFIG_UNKNOWN_KEY` or `SESSION_WRITE_LOCK_CONFIG_UNREADABLE`.
    pub code: &'static str,
    pub message: String,
}

/// The most of `openclaw.json` ever read: anything larger is refused, not slurped (`/dev/zero`).
pub const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;

/// Deeper nesting than this is refused before parsing: the JSON5 parser recurses once per level, and a
/// file 30 000 levels deep would overflow the stack.
pub const MAX_CONFIG_DEPTH: usize = 256;

/// A raw value as some source gave it, before validation.
#[derive(Debug, Clone, PartialEq)]
pub enum Raw {
    Null,
    Bool(bool),
    Number(f64),
    Text(String),
    Array,
    Object(Vec<(String, Raw)>),
}

impl fmt::Display for Raw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Raw::Null => f.write_str("null"),
            Raw::Bool(b) => write!(f, "{b}"),
            Raw::Number(n) if n.is_infinite() => {
                f.write_str(if *n > 0.0 { "Infinity" } else { "-Infinity" })
            }
            Raw::Number(n) => write!(f, "{n}"),
            Raw::Text(s) => write!(f, "{s:?}"),
            Raw::Array => f.write_str("an array"),
            Raw::Object(_) => f.write_str("an object"),
        }
    }
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Raw, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Raw;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON5 value")
            }
            fn visit_unit<E>(self) -> Result<Raw, E> {
                Ok(Raw::Null)
            }
            fn visit_none<E>(self) -> Result<Raw, E> {
                Ok(Raw::Null)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Raw, E> {
                Ok(Raw::Bool(b))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Raw, E> {
                Ok(Raw::Number(n as f64))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Raw, E> {
                Ok(Raw::Number(n as f64))
            }
            fn visit_f64<E>(self, n: f64) -> Result<Raw, E> {
                Ok(Raw::Number(n))
            }
            fn visit_str<E>(self, s: &str) -> Result<Raw, E> {
                Ok(Raw::Text(s.to_owned()))
            }
            fn visit_string<E>(self, s: String) -> Result<Raw, E> {
                Ok(Raw::Text(s))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(Raw::Array)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
                let mut entries = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Raw>()? {
                    entries.push((k, v));
                }
                Ok(Raw::Object(entries))
            }
        }
        d.deserialize_any(V)
    }
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
pub fn validate(index: usize, raw: &Raw, source: &Source) -> Result<Setting, ConfigError> {
    let key = KEYS[index];
    if index == DURABILITY {
        let expected = "one of \"none\", \"data\", \"full\"";
        return match raw {
            Raw::Text(s) => Durability::parse(s).map(Setting::Durability),
            _ => None,
        }
        .ok_or_else(|| invalid(source, key, raw, expected));
    }
    let expected = "a non-negative number of milliseconds, or Infinity";
    let n = match raw {
        Raw::Number(n) => Some(*n),
        Raw::Text(s) if matches!(source, Source::Env(_)) => parse_env_number(s),
        _ => None,
    };
    match n {
        Some(n) if n >= 0.0 => Ok(Setting::Ms(n)), // NaN fails the comparison
        _ => Err(invalid(source, key, raw, expected)),
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

/// One layer of settings; `None` where the layer is silent.
pub type Layer = [Option<Setting>; 5];

/// Whether `text` nests `{`/`[` deeper than `max`, outside strings and comments (JSON5's: `"…"`, `'…'`,
/// `// …`, `/* … */`). Linear, with no recursion.
fn nests_deeper_than(text: &str, max: usize) -> bool {
    let b = text.as_bytes();
    let (mut depth, mut i) = (0usize, 0);
    while i < b.len() {
        match b[i] {
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    false
}

/// The settings of `session.writeLock` in a parsed file, and warnings about unknown keys.
pub fn file_layer(text: &str, path: &Path) -> Result<(Layer, Vec<Warning>), ConfigError> {
    if nests_deeper_than(text, MAX_CONFIG_DEPTH) {
        return Err(ConfigError {
            message: format!(
                "invalid JSON5 in {}: nested more than {MAX_CONFIG_DEPTH} levels deep",
                path.display()
            ),
            fields: json!({ "source": format!("file:{}", path.display()), "path": path }),
        });
    }
    let doc: Raw = json5::from_str(text).map_err(|e| {
        let pos = e.position().map(|p| (p.line + 1, p.column + 1));
        let what = e.code().map_or_else(|| e.to_string(), |c| c.to_string());
        let at = pos.map_or_else(String::new, |(l, c)| format!(" at line {l}, column {c}"));
        ConfigError {
            message: format!("invalid JSON5 in {}{at}: {what}", path.display()),
            fields: json!({ "source": format!("file:{}", path.display()), "path": path, "line": pos.map(|p| p.0), "column": pos.map(|p| p.1) }),
        }
    })?;
    let source = Source::File(path.to_path_buf());
    let mut layer: Layer = [None; 5];
    let mut warnings = Vec::new();
    let Some(write_lock) = lookup(&doc, "session").and_then(|s| lookup(s, "writeLock")) else {
        return Ok((layer, warnings));
    };
    let Raw::Object(entries) = write_lock else {
        return Err(invalid(&source, "writeLock", write_lock, "an object"));
    };
    for (key, raw) in entries {
        match KEYS.iter().position(|k| k == key) {
            Some(i) => layer[i] = Some(validate(i, raw, &source)?),
            None => warnings.push(Warning {
                code: "SESSION_WRITE_LOCK_CONFIG_UNKNOWN_KEY",
                message: format!(
                    "unknown key session.writeLock.{key} in {} (known: {})",
                    path.display(),
                    KEYS.join(", ")
                ),
            }),
        }
    }
    Ok((layer, warnings))
}

fn lookup<'a>(raw: &'a Raw, key: &str) -> Option<&'a Raw> {
    match raw {
        Raw::Object(entries) => entries.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
        _ => None,
    }
}

/// The environment layer, read now.
pub fn env_layer(get: impl Fn(&str) -> Option<String>) -> Result<Layer, ConfigError> {
    let mut layer: Layer = [None; 5];
    for (i, name) in ENV.iter().enumerate() {
        if let Some(v) = get(name).filter(|v| !v.is_empty()) {
            layer[i] = Some(validate(i, &Raw::Text(v), &Source::Env(name))?);
        }
    }
    Ok(layer)
}

/// Where `openclaw.json` is: the explicit path, else `OPENCLAW_CONFIG_PATH`, else
/// `$OPENCLAW_STATE_DIR/openclaw.json`, else `~/.openclaw/openclaw.json`.
pub fn config_path(
    explicit: Option<&Path>,
    get: impl Fn(&str) -> Option<String>,
) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    let nonempty = |name: &str| get(name).filter(|v| !v.is_empty());
    if let Some(p) = nonempty("OPENCLAW_CONFIG_PATH") {
        return Some(PathBuf::from(p));
    }
    if let Some(dir) = nonempty("OPENCLAW_STATE_DIR") {
        return Some(Path::new(&dir).join("openclaw.json"));
    }
    // Node's os.homedir(): HOME, and on Windows USERPROFILE when HOME is unset.
    nonempty("HOME")
        .or_else(|| nonempty("USERPROFILE").filter(|_| cfg!(windows)))
        .map(|home| Path::new(&home).join(".openclaw").join("openclaw.json"))
}

type Stamp = (u64, u64, Option<std::time::SystemTime>, u64);

struct Cached {
    path: PathBuf,
    stamp: Option<Stamp>,
    parsed: Result<Layer, ConfigError>,
    warnings: Vec<Warning>,
}

/// The file layer, re-read only when the file changed. New warnings are returned once per change.
/// `named` says whether the caller named the file (`configPath`, `OPENCLAW_CONFIG_PATH`): then a file
/// that cannot even be looked up is an error; a default location that cannot be looked up (a HOME this
/// user may not enter) counts as no file, with a warning.
fn cached_file_layer(path: &Path, named: bool) -> Result<(Layer, Vec<Warning>), ConfigError> {
    static CACHE: OnceLock<Mutex<Option<Cached>>> = OnceLock::new();
    let stamp = match fs::metadata(path) {
        // Reading a directory is EISDIR on Unix but EPERM on Windows: say EISDIR everywhere.
        Ok(m) if m.is_dir() => return Err(unreadable(path, &crate::os_file::is_a_directory())),
        // A FIFO would block the event loop forever, a device would be read until memory runs out.
        Ok(m) if !m.is_file() => return Err(not_regular(path)),
        Ok(m) => Some(crate::os_file::change_stamp(&m)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) if !named => {
            let warning = Warning {
                code: "SESSION_WRITE_LOCK_CONFIG_UNREADABLE",
                message: format!(
                    "cannot look up {} ({}); using the defaults as if it did not exist",
                    path.display(),
                    crate::os_file::errno_name(&e)
                ),
            };
            return Ok(([None; 5], vec![warning]));
        }
        Err(e) => return Err(unreadable(path, &e)),
    };
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(c) = cache
        .as_mut()
        .filter(|c| c.path == path && c.stamp == stamp)
    {
        return c
            .parsed
            .clone()
            .map(|layer| (layer, std::mem::take(&mut c.warnings)));
    }
    let loaded = match stamp {
        None => Ok(([None; 5], Vec::new())), // no file: defaults, silently
        Some(_) => match read_bounded(path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => file_layer(&text, path),
                Err(_) => Err(ConfigError {
                    message: format!("invalid JSON5 in {}: not UTF-8", path.display()),
                    fields: json!({ "source": format!("file:{}", path.display()), "path": path }),
                }),
            },
            Err(e) => Err(e),
        },
    };
    let (parsed, warnings) = match loaded {
        Ok((layer, warnings)) => (Ok(layer), warnings),
        Err(e) => (Err(e), Vec::new()),
    };
    *cache = Some(Cached {
        path: path.to_path_buf(),
        stamp,
        parsed: parsed.clone(),
        warnings: Vec::new(),
    });
    parsed.map(|layer| (layer, warnings))
}

/// Reads a regular file of at most [`MAX_CONFIG_BYTES`], checking what it is on the opened descriptor
/// (the path may have been swapped for a FIFO since it was looked up; opening one does not block).
fn read_bounded(path: &Path) -> Result<Vec<u8>, ConfigError> {
    use std::io::Read;
    let mut o = fs::OpenOptions::new();
    o.read(true);
    let file = crate::os_file::nonblocking(&mut o)
        .open(path)
        .map_err(|e| unreadable(path, &e))?;
    let meta = file.metadata().map_err(|e| unreadable(path, &e))?;
    if !meta.is_file() {
        return Err(not_regular(path));
    }
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| unreadable(path, &e))?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(ConfigError {
            message: format!(
                "session write lock configuration {} is larger than {MAX_CONFIG_BYTES} bytes",
                path.display()
            ),
            fields: json!({ "source": format!("file:{}", path.display()), "path": path }),
        });
    }
    Ok(bytes)
}

fn not_regular(path: &Path) -> ConfigError {
    ConfigError {
        message: format!(
            "session write lock configuration {} is not a regular file (a FIFO, socket or device)",
            path.display()
        ),
        fields: json!({ "source": format!("file:{}", path.display()), "path": path }),
    }
}

fn unreadable(path: &Path, e: &std::io::Error) -> ConfigError {
    ConfigError {
        message: format!(
            "cannot read session write lock configuration {}: {e}",
            path.display()
        ),
        fields: json!({ "source": format!("file:{}", path.display()), "path": path, "errno": crate::os_file::errno_name(e) }),
    }
}

fn configured() -> &'static Mutex<Layer> {
    static CONFIGURED: OnceLock<Mutex<Layer>> = OnceLock::new();
    CONFIGURED.get_or_init(|| Mutex::new([None; 5]))
}

/// `configureSessionWriteLock(partial)`: validates every entry first, then merges them all (or none).
pub fn configure(entries: &[(String, Raw)]) -> Result<(), ConfigError> {
    let mut updates = Vec::new();
    for (key, raw) in entries {
        let Some(i) = KEYS.iter().position(|k| k == key) else {
            return Err(invalid(
                &Source::Configure,
                key,
                raw,
                &format!("one of the keys {}", KEYS.join(", ")),
            ));
        };
        // `null` or `undefined` clears the key.
        let value = if *raw == Raw::Null {
            None
        } else {
            Some(validate(i, raw, &Source::Configure)?)
        };
        updates.push((i, value));
    }
    let mut layer = configured().lock().unwrap_or_else(|p| p.into_inner());
    for (i, value) in updates {
        layer[i] = value;
    }
    Ok(())
}

/// The effective settings with their sources, and warnings that are new since the last call.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub values: [(Setting, Source); 5],
    pub config_path: Option<PathBuf>,
    pub warnings: Vec<Warning>,
}

/// Resolves every key through the five layers. `call` is the per-call layer.
pub fn resolve(call: &Layer, explicit_path: Option<&Path>) -> Result<Resolved, ConfigError> {
    let get = |name: &str| std::env::var(name).ok();
    let path = config_path(explicit_path, get);
    let named =
        explicit_path.is_some() || get("OPENCLAW_CONFIG_PATH").is_some_and(|v| !v.is_empty());
    let (file, warnings) = match &path {
        Some(p) => cached_file_layer(p, named)?,
        None => ([None; 5], Vec::new()),
    };
    let configured = *configured().lock().unwrap_or_else(|p| p.into_inner());
    // A variable whose key a stronger layer sets is not read, so not judged either: a 2026.5+ gateway
    // passes every limit explicitly (its resolvers skip values they cannot read), and a value there that
    // this layer would refuse must not fail its calls.
    let overridden = |name: &str| {
        ENV.iter()
            .position(|n| *n == name)
            .is_some_and(|i| call[i].is_some() || configured[i].is_some())
    };
    let env = env_layer(|name| get(name).filter(|_| !overridden(name)))?;
    let defaults = defaults();
    let values = std::array::from_fn(|i| {
        if let Some(v) = call[i] {
            (v, Source::Call)
        } else if let Some(v) = configured[i] {
            (v, Source::Configure)
        } else if let Some(v) = env[i] {
            (v, Source::Env(ENV[i]))
        } else if let (Some(v), Some(p)) = (file[i], &path) {
            (v, Source::File(p.clone()))
        } else {
            (defaults[i], Source::Default)
        }
    });
    Ok(Resolved {
        values,
        config_path: path,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> Result<(Layer, Vec<Warning>), ConfigError> {
        file_layer(text, Path::new("/etc/openclaw.json"))
    }

    #[test]
    fn nesting_is_bounded_before_the_parser_sees_it() {
        let deep = "{\"a\":".repeat(30_000);
        let err = file(&deep).unwrap_err();
        assert!(err.message.contains("nested more than"), "{}", err.message);
        assert_eq!(err.fields["path"], "/etc/openclaw.json");
        assert!(file(&"[".repeat(300_000)).is_err());
        // Brackets inside strings and comments are not nesting.
        let quoted = format!(
            "{{ s: '{}', t: \"{}\", // {}\n /* {} */ session: {{ writeLock: {{ staleMs: 5 }} }} }}",
            "[".repeat(1000),
            "{\\\"".repeat(1000),
            "[".repeat(1000),
            "{".repeat(1000)
        );
        assert_eq!(file(&quoted).unwrap().0[1], Some(Setting::Ms(5.0)));
        let just_under = format!(
            "{}1{}",
            "[".repeat(MAX_CONFIG_DEPTH),
            "]".repeat(MAX_CONFIG_DEPTH)
        );
        assert!(file(&just_under).is_ok());
    }

    #[test]
    fn json5_with_comments_trailing_commas_and_unquoted_keys() {
        let (layer, warnings) = file(
            "// gateway\n{ session: { writeLock: { acquireTimeoutMs: 30000, /* long */ staleMs: 60e3, \
             maxHoldMs: Infinity, durability: 'data', }, }, other: [1,2,], }",
        )
        .unwrap();
        assert_eq!(layer[0], Some(Setting::Ms(30_000.0)));
        assert_eq!(layer[1], Some(Setting::Ms(60_000.0)));
        assert_eq!(layer[2], Some(Setting::Ms(f64::INFINITY)));
        assert_eq!(layer[3], None);
        assert_eq!(layer[4], Some(Setting::Durability(Durability::Data)));
        assert!(warnings.is_empty());
    }

    #[test]
    fn unknown_keys_warn_and_missing_sections_are_silent() {
        let (layer, warnings) = file("{session: {writeLock: {timeout: 5}}}").unwrap();
        assert_eq!(layer, [None; 5]);
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].code, "SESSION_WRITE_LOCK_CONFIG_UNKNOWN_KEY");
        assert!(warnings[0].message.contains("session.writeLock.timeout"));
        assert_eq!(file("{}").unwrap().0, [None; 5]);
        assert_eq!(file("{session: {}}").unwrap().0, [None; 5]);
    }

    #[test]
    fn syntax_errors_name_the_file_line_and_column() {
        let err = file("{\n  session: {\n    writeLock: { staleMs: 5 ]\n}").unwrap_err();
        assert!(
            err.message
                .starts_with("invalid JSON5 in /etc/openclaw.json at line 3, column"),
            "{}",
            err.message
        );
        assert_eq!(err.fields["line"], 3);
        assert!(err.fields["column"].as_u64().unwrap() > 1);
    }

    #[test]
    fn bad_values_name_source_key_value_and_expectation() {
        let err = file("{session: {writeLock: {maxHoldMs: -1}}}").unwrap_err();
        assert_eq!(
            err.message,
            "invalid session write lock setting maxHoldMs from /etc/openclaw.json (session.writeLock.maxHoldMs): \
             got -1, expected a non-negative number of milliseconds, or Infinity"
        );
        assert_eq!(err.fields["source"], "file:/etc/openclaw.json");
        assert_eq!(err.fields["key"], "maxHoldMs");
        assert_eq!(err.fields["value"], "-1");
        for bad in ["'10'", "true", "null", "[1]", "{}", "NaN"] {
            let text = format!("{{session: {{writeLock: {{staleMs: {bad}}}}}}}");
            assert!(file(&text).is_err(), "{bad} must be refused");
        }
        let err = file("{session: {writeLock: {durability: 'always'}}}").unwrap_err();
        assert!(err
            .message
            .contains("expected one of \"none\", \"data\", \"full\""));
        assert!(file("{session: {writeLock: 5}}").is_err());
    }

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
        assert_eq!(layer[0], Some(Setting::Ms(f64::INFINITY)));
        assert_eq!(layer[1], Some(Setting::Ms(1500.0)));
        assert_eq!(layer[4], Some(Setting::Durability(Durability::Full)));
        for bad in ["NaN", "-5", "ten", "0x10", "inf", "1,000"] {
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
    fn config_path_precedence() {
        let env = |pairs: Vec<(&'static str, &'static str)>| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let all = vec![
            ("OPENCLAW_CONFIG_PATH", "/c.json"),
            ("OPENCLAW_STATE_DIR", "/state"),
            ("HOME", "/home/u"),
        ];
        assert_eq!(
            config_path(Some(Path::new("/x.json")), env(all.clone())),
            Some("/x.json".into())
        );
        assert_eq!(config_path(None, env(all)), Some("/c.json".into()));
        let state = vec![("OPENCLAW_STATE_DIR", "/state"), ("HOME", "/home/u")];
        assert_eq!(
            config_path(None, env(state)),
            Some("/state/openclaw.json".into())
        );
        assert_eq!(
            config_path(None, env(vec![("HOME", "/home/u")])),
            Some("/home/u/.openclaw/openclaw.json".into())
        );
        assert_eq!(config_path(None, env(vec![])), None);
    }
}
