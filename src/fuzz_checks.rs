//! Property checks shared by the `cargo fuzz` targets (`fuzz/`) and the corpus replay test
//! (`tests/fuzz_corpus.rs`). Each takes arbitrary bytes and panics only if an invariant breaks.

use std::fs;
use std::path::PathBuf;

use crate::config;
use crate::jsonl::{self, Durability, Repair};
use crate::payload::{self, Payload};
use crate::process::ProcessTable;
use crate::staleness::{self, Context, Judge, Verdict};

/// A process table decided by the input: which pids are alive, and their start times.
struct FromBytes<'a>(&'a [u8]);

impl ProcessTable for FromBytes<'_> {
    fn alive(&self, pid: i64) -> bool {
        self.0
            .get((pid.unsigned_abs() % 64) as usize)
            .is_some_and(|b| b & 1 == 1)
    }
    fn starttime(&self, pid: i64) -> Option<u64> {
        self.0
            .get((pid.unsigned_abs() % 32) as usize)
            .map(|b| u64::from(*b))
    }
}

/// The payload parser and the staleness rules: no panic, and verdicts consistent with the rules.
pub fn check_payload(data: &[u8]) {
    let parsed = Payload::parse(data);
    if let Some(f) = parsed.fields() {
        assert!(f.pid.is_none_or(|p| p > 0), "a pid must be > 0 to count");
    }
    let word = |i: usize| data.get(i).copied().unwrap_or(0) as i64;
    let ctx = Context {
        now_ms: 1_800_000_000_000,
        mtime_ms: 1_800_000_000_000 - word(0) * 100_000,
        stale_ms: 1 + word(1) * 60_000,
        self_pid: word(2),
        judge: if word(7) & 1 == 1 {
            Judge::Cleaner
        } else {
            Judge::Acquirer
        },
    };
    let procs = FromBytes(data);
    let legacy = staleness::judge_legacy(parsed.fields(), &ctx, &procs);
    if legacy.reasons.is_empty() {
        assert!(!legacy.stale, "no reason, yet stale");
    }
    let created = word(3) & 1 == 1;
    match staleness::decide(&parsed, created, &ctx, &procs) {
        Verdict::Fresh => assert!(created && parsed == Payload::Empty),
        Verdict::RecoverCrashed { .. } => assert!(parsed.is_kernel()),
        Verdict::TakeOverStale { reasons, .. } => assert!(!reasons.is_empty()),
        Verdict::Busy { .. } => assert!(
            !parsed.is_kernel(),
            "a kernel payload whose lock we hold is never busy"
        ),
    }
    // What we write, we read back.
    let pid = u32::try_from(word(4) + 1).unwrap_or(1);
    let at = 1_000_000_000_000 + word(5) * 1_000_003;
    let holder = payload::Holder {
        owner: std::str::from_utf8(data).ok(),
        ..payload::Holder::default()
    };
    let text = payload::render(pid, at, at - 7, Some(word(6) as u64), &holder);
    let back = Payload::parse(text.as_bytes());
    let f = back.fields().expect("our payload parses");
    assert_eq!(
        (f.pid, f.created_at_ms, f.kernel),
        (Some(i64::from(pid)), Some(at), true)
    );
}

/// Torn-tail repair: whatever the transcript holds, an append leaves every complete line before it in
/// place, ends the file with the appended line, and keeps a quarantined fragment byte for byte.
pub fn check_tail_repair(data: &[u8]) {
    let dir = std::env::temp_dir().join(format!("swl-fuzz-tail-{}", std::process::id()));
    let _ = fs::create_dir_all(&dir);
    let file: PathBuf = dir.join("t.jsonl");
    fs::write(&file, data).unwrap();
    let entry = b"{\"fuzz\":true}\n";
    let appended = jsonl::append(&file, entry, Durability::None).expect("append");
    let after = fs::read(&file).unwrap();
    let complete = data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    assert!(
        after.starts_with(&data[..complete]),
        "a complete line was lost"
    );
    assert!(after.ends_with(entry));
    match appended.repair {
        None => assert!(data.is_empty() || data.ends_with(b"\n")),
        Some(Repair::Completed { offset }) => {
            assert_eq!(offset as usize, complete);
            assert!(serde_json::from_slice::<serde_json::Value>(&data[complete..]).is_ok());
        }
        Some(Repair::Quarantined {
            offset, sidecar, ..
        }) => {
            assert_eq!(offset as usize, complete);
            assert_eq!(fs::read(&sidecar).unwrap(), &data[complete..]);
            assert_eq!(after.len(), complete + entry.len());
            let _ = fs::remove_file(sidecar);
        }
    }
    let _ = fs::remove_file(&file);
    let _ = fs::remove_dir(&dir);
}

/// The configuration parser: no panic on any text; every accepted value is valid.
pub fn check_config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let durations = |l: &config::Layer| {
        [
            l.acquire_timeout_ms,
            l.stale_ms,
            l.max_hold_ms,
            l.notice_after_ms,
        ]
    };
    if let Ok((layer, _)) = config::file_layer(&text, std::path::Path::new("/fuzz/openclaw.json")) {
        for ms in durations(&layer).into_iter().flatten() {
            assert!(ms >= 0.0, "accepted a negative duration");
        }
    }
    let value = text.lines().next().unwrap_or_default().to_string();
    let env = config::env_layer(|name| name.ends_with("_STALE_MS").then(|| value.clone()));
    if let Ok(layer) = env {
        assert!(layer.stale_ms.is_none_or(|ms| ms >= 0.0));
    }
}

#[cfg(test)]
mod corpus {
    //! Replays every committed corpus seed and regression input, so that `cargo test` keeps them
    //! passing without a fuzzer.

    use std::path::Path;

    fn replay(target: &str, check: fn(&[u8])) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus")
            .join(target);
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            check(&std::fs::read(&path).unwrap());
            n += 1;
        }
        assert!(n > 0, "no seeds in {}", dir.display());
    }

    #[test]
    fn payload_corpus() {
        replay("payload", super::check_payload);
    }

    #[test]
    fn tail_repair_corpus() {
        replay("tail_repair", super::check_tail_repair);
    }

    #[test]
    fn config_corpus() {
        replay("config", super::check_config);
    }
}
