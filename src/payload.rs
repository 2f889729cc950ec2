//! The sidecar payload: what a holder writes into `<transcript>.lock`, and how we read what others wrote.
//!
//! The legacy JavaScript lock writes `JSON.stringify({pid, createdAt, starttime}, null, 2)`. We write the
//! same fields plus `kernelLock: true`, which says that an OS lock on the file guards the hold: whoever
//! obtains that kernel lock knows the writer is gone. Legacy readers ignore the extra field.

use serde_json::Value;

use crate::clock::{self, format_iso_ms};

/// Marker field that says "a kernel lock guards this payload".
pub const KERNEL_MARKER: &str = "kernelLock";

/// How much of a sidecar we ever read. A planted huge file is never slurped.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

/// What a sidecar contains, as far as the lock protocol cares.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// Zero bytes: just created, or its writer died before writing.
    Empty,
    /// Not a JSON object (or larger than [`MAX_PAYLOAD_BYTES`]).
    Malformed,
    Parsed(Fields),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Fields {
    /// `Some` only for an integer greater than zero, as the legacy rule requires.
    pub pid: Option<i64>,
    /// Milliseconds since the epoch, when `createdAt` parses.
    pub created_at_ms: Option<i64>,
    /// The raw `createdAt` string, for reports.
    pub created_at: Option<String>,
    pub starttime: Option<u64>,
    /// Written by a kernel-lock holder (this package).
    pub kernel: bool,
    /// When a kernel-lock holder acquired it (`createdAt` is refreshed; this is not).
    pub acquired_at_ms: Option<i64>,
    /// The longest hold a 2026.5+ legacy holder allows itself (an integer greater than zero).
    pub max_hold_ms: Option<i64>,
    /// Who holds, in words (written by this package; see [`Holder`]).
    pub owner: Option<String>,
    pub hostname: Option<String>,
    pub process: Option<String>,
}

impl Payload {
    pub fn parse(bytes: &[u8]) -> Payload {
        if bytes.is_empty() {
            return Payload::Empty;
        }
        if bytes.len() > MAX_PAYLOAD_BYTES {
            return Payload::Malformed;
        }
        let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(bytes) else {
            return Payload::Malformed;
        };
        let pid = map.get("pid").and_then(json_positive_int);
        let created_at = map
            .get("createdAt")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        let created_at_ms = created_at.as_deref().and_then(clock::parse_iso_ms);
        let starttime = map.get("starttime").and_then(|v| v.as_u64());
        let kernel = map.get(KERNEL_MARKER).and_then(|v| v.as_bool()) == Some(true);
        let acquired_at_ms = map
            .get("acquiredAt")
            .and_then(|v| v.as_str())
            .and_then(clock::parse_iso_ms);
        let max_hold_ms = map.get("maxHoldMs").and_then(json_positive_int);
        let label = |name: &str| {
            map.get(name)
                .and_then(|v| v.as_str())
                .filter(|s| s.chars().count() <= MAX_LABEL_CHARS)
                .map(str::to_owned)
        };
        Payload::Parsed(Fields {
            pid,
            created_at_ms,
            created_at,
            starttime,
            kernel,
            acquired_at_ms,
            max_hold_ms,
            owner: label("owner"),
            hostname: label("hostname"),
            process: label("process"),
        })
    }

    pub fn fields(&self) -> Option<&Fields> {
        match self {
            Payload::Parsed(f) => Some(f),
            _ => None,
        }
    }

    pub fn pid(&self) -> Option<i64> {
        self.fields().and_then(|f| f.pid)
    }

    pub fn is_kernel(&self) -> bool {
        self.fields().is_some_and(|f| f.kernel)
    }
}

fn json_positive_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                (i > 0).then_some(i)
            } else {
                // `12.0` is an integer to JavaScript's Number.isInteger.
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f > 0.0 && *f < i64::MAX as f64)
                    .map(|f| f as i64)
            }
        }
        _ => None,
    }
}

/// The longest `owner`, `hostname` or `process` a payload carries (longer ones are cut, or ignored when
/// read): a label, not a document.
pub const MAX_LABEL_CHARS: usize = 256;

/// Who holds, in words, for people reading a stuck session: the caller's `owner` (a run id, a session
/// key, a channel), the machine, and the process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holder<'a> {
    pub owner: Option<&'a str>,
    pub hostname: Option<&'a str>,
    pub process: Option<&'a str>,
}

/// Our payload: 2-space pretty JSON with no trailing newline, as the legacy writer produces.
/// `createdAt` is refreshed while the lock is held; `acquiredAt` is not. Legacy readers ignore the
/// fields they do not know.
pub fn render(
    pid: u32,
    created_at_ms: i64,
    acquired_at_ms: i64,
    starttime: Option<u64>,
    holder: &Holder,
) -> String {
    let mut out = format!(
        "{{\n  \"pid\": {pid},\n  \"createdAt\": \"{}\"",
        format_iso_ms(created_at_ms)
    );
    if let Some(st) = starttime {
        out.push_str(&format!(",\n  \"starttime\": {st}"));
    }
    out.push_str(&format!(
        ",\n  \"{KERNEL_MARKER}\": true,\n  \"acquiredAt\": \"{}\"",
        format_iso_ms(acquired_at_ms)
    ));
    for (name, value) in [
        ("owner", holder.owner),
        ("hostname", holder.hostname),
        ("process", holder.process),
    ] {
        if let Some(v) = value {
            let v: String = v.chars().take(MAX_LABEL_CHARS).collect();
            let quoted = serde_json::to_string(&v).unwrap_or_else(|_| "\"\"".into());
            out.push_str(&format!(",\n  \"{name}\": {quoted}"));
        }
    }
    out.push_str("\n}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_what_the_legacy_reader_expects() {
        let text = render(
            1234,
            1_700_000_000_123,
            1_700_000_000_000,
            Some(987),
            &Holder::default(),
        );
        assert_eq!(
            text,
            "{\n  \"pid\": 1234,\n  \"createdAt\": \"2023-11-14T22:13:20.123Z\",\n  \"starttime\": 987,\n  \"kernelLock\": true,\n  \"acquiredAt\": \"2023-11-14T22:13:20.000Z\"\n}"
        );
        let parsed = Payload::parse(text.as_bytes());
        let f = parsed.fields().unwrap();
        assert_eq!(f.pid, Some(1234));
        assert_eq!(f.created_at_ms, Some(1_700_000_000_123));
        assert_eq!(f.starttime, Some(987));
        assert!(f.kernel);
        assert_eq!(f.acquired_at_ms, Some(1_700_000_000_000));
    }

    #[test]
    fn who_holds_in_words_round_trips_escaped_and_bounded() {
        let long = "x".repeat(MAX_LABEL_CHARS + 10);
        let holder = Holder {
            owner: Some("run \"7\"\n{evil}"),
            hostname: Some("gw-1"),
            process: Some(&long),
        };
        let text = render(1, 0, 0, None, &holder);
        let f = Payload::parse(text.as_bytes()).fields().unwrap().clone();
        assert_eq!(f.owner.as_deref(), Some("run \"7\"\n{evil}"));
        assert_eq!(f.hostname.as_deref(), Some("gw-1"));
        assert_eq!(
            f.process.map(|p| p.len()),
            Some(MAX_LABEL_CHARS),
            "cut to the bound"
        );
        let planted = format!("{{\"pid\": 1, \"owner\": \"{long}\"}}");
        assert_eq!(
            Payload::parse(planted.as_bytes()).fields().unwrap().owner,
            None
        );
    }

    #[test]
    fn legacy_payload_is_not_kernel() {
        let p = Payload::parse(br#"{"pid": 7, "createdAt": "2026-02-01T00:00:00.000Z"}"#);
        assert!(!p.is_kernel());
        assert_eq!(p.pid(), Some(7));
        assert_eq!(p.fields().unwrap().max_hold_ms, None);
    }

    #[test]
    fn the_max_hold_of_a_2026_5_payload_counts_only_as_a_positive_integer() {
        let with = |v: &str| {
            let text = format!(
                "{{\"pid\": 7, \"createdAt\": \"2026-05-01T00:00:00.000Z\", \"maxHoldMs\": {v}}}\n"
            );
            Payload::parse(text.as_bytes())
                .fields()
                .unwrap()
                .max_hold_ms
        };
        assert_eq!(with("300000"), Some(300_000));
        for bad in ["0", "-5", "1.5", "\"300000\"", "null"] {
            assert_eq!(with(bad), None, "{bad}");
        }
    }

    #[test]
    fn empty_malformed_and_odd_pids() {
        assert_eq!(Payload::parse(b""), Payload::Empty);
        assert_eq!(Payload::parse(b"{"), Payload::Malformed);
        assert_eq!(Payload::parse(b"[1]"), Payload::Malformed);
        assert_eq!(
            Payload::parse(&vec![b' '; MAX_PAYLOAD_BYTES + 1]),
            Payload::Malformed
        );
        for bad in [
            r#"{"pid":0}"#,
            r#"{"pid":-3}"#,
            r#"{"pid":"12"}"#,
            r#"{"pid":1.5}"#,
            "{}",
        ] {
            assert_eq!(Payload::parse(bad.as_bytes()).pid(), None, "{bad}");
        }
        assert_eq!(Payload::parse(br#"{"pid":12.0}"#).pid(), Some(12));
    }
}
