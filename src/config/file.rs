//! `openclaw.json`: where it is, reading it safely (a regular file, bounded in size and nesting), and
//! its `session.writeLock` section as a layer of settings, re-read only when the file changes.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use serde_json::json;

use super::raw::Raw;
use super::{invalid, validate, Key, Layer, Source, Warning};
use crate::error::ConfigError;

/// The most of `openclaw.json` ever read: anything larger is refused, not slurped (`/dev/zero`).
pub const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;

/// Deeper nesting than this is refused before parsing: the JSON5 parser recurses once per level, and a
/// file 30 000 levels deep would overflow the stack.
pub const MAX_CONFIG_DEPTH: usize = 256;

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

fn file_error(path: &Path, message: String) -> ConfigError {
    ConfigError {
        message,
        fields: json!({ "source": format!("file:{}", path.display()), "path": path }),
    }
}

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

/// The settings of `session.writeLock` in a file's text, and warnings about unknown keys.
pub fn file_layer(text: &str, path: &Path) -> Result<(Layer, Vec<Warning>), ConfigError> {
    if nests_deeper_than(text, MAX_CONFIG_DEPTH) {
        let message = format!(
            "invalid JSON5 in {}: nested more than {MAX_CONFIG_DEPTH} levels deep",
            path.display()
        );
        return Err(file_error(path, message));
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
    let mut layer = Layer::default();
    let mut warnings = Vec::new();
    let Some(write_lock) = doc.lookup("session").and_then(|s| s.lookup("writeLock")) else {
        return Ok((layer, warnings));
    };
    let Raw::Object(entries) = write_lock else {
        return Err(invalid(&source, "writeLock", write_lock, "an object"));
    };
    for (name, raw) in entries {
        match Key::from_name(name) {
            Some(key) => layer.set(key, validate(key, raw, &source)?),
            None => warnings.push(Warning {
                code: "SESSION_WRITE_LOCK_CONFIG_UNKNOWN_KEY",
                message: format!(
                    "unknown key session.writeLock.{name} in {} (known: {})",
                    path.display(),
                    Key::names().join(", ")
                ),
            }),
        }
    }
    Ok((layer, warnings))
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
pub fn cached_file_layer(path: &Path, named: bool) -> Result<(Layer, Vec<Warning>), ConfigError> {
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
            return Ok((Layer::default(), vec![warning]));
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
        None => Ok((Layer::default(), Vec::new())), // no file: defaults, silently
        Some(_) => read_bounded(path).and_then(|bytes| match String::from_utf8(bytes) {
            Ok(text) => file_layer(&text, path),
            Err(_) => Err(file_error(
                path,
                format!("invalid JSON5 in {}: not UTF-8", path.display()),
            )),
        }),
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
        let message = format!(
            "session write lock configuration {} is larger than {MAX_CONFIG_BYTES} bytes",
            path.display()
        );
        return Err(file_error(path, message));
    }
    Ok(bytes)
}

fn not_regular(path: &Path) -> ConfigError {
    let message = format!(
        "session write lock configuration {} is not a regular file (a FIFO, socket or device)",
        path.display()
    );
    file_error(path, message)
}

fn unreadable(path: &Path, e: &std::io::Error) -> ConfigError {
    ConfigError {
        message: format!(
            "cannot read session write lock configuration {}: {}",
            path.display(),
            crate::error::plain(e)
        ),
        fields: json!({ "source": format!("file:{}", path.display()), "path": path, "errno": crate::os_file::errno_name(e) }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::durability::Durability;

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
        assert_eq!(file(&quoted).unwrap().0.stale_ms, Some(5.0));
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
        assert_eq!(
            layer,
            Layer {
                acquire_timeout_ms: Some(30_000.0),
                stale_ms: Some(60_000.0),
                max_hold_ms: Some(f64::INFINITY),
                notice_after_ms: None,
                durability: Some(Durability::Data),
            }
        );
        assert!(warnings.is_empty());
    }

    #[test]
    fn unknown_keys_warn_and_missing_sections_are_silent() {
        let (layer, warnings) = file("{session: {writeLock: {timeout: 5}}}").unwrap();
        assert_eq!(layer, Layer::default());
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].code, "SESSION_WRITE_LOCK_CONFIG_UNKNOWN_KEY");
        assert!(warnings[0].message.contains("session.writeLock.timeout"));
        assert_eq!(file("{}").unwrap().0, Layer::default());
        assert_eq!(file("{session: {}}").unwrap().0, Layer::default());
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
