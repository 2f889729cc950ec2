//! Transcript I/O under the lock: one contiguous append with rollback, torn-tail repair before it, and
//! atomic replacement. The caller holds the session lock; nothing here locks.

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Write};
use std::path::{Path, PathBuf};

use crate::clock;
pub use crate::durability::Durability;
use crate::error::LockError;
use crate::os_file::{self, read_exact_at};

/// What a torn-tail repair did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repair {
    /// The unterminated last line was valid JSON: a newline completed it.
    Completed { offset: u64 },
    /// The unterminated last line was not valid JSON: moved to `sidecar`, then cut from the transcript.
    Quarantined {
        offset: u64,
        bytes: u64,
        sidecar: PathBuf,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// Where the appended bytes start.
    pub offset: u64,
    pub bytes: u64,
    pub repair: Option<Repair>,
}

fn io_err<'a>(syscall: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> LockError + 'a {
    move |e| {
        if os_file::is_symlink_refusal(&e) {
            symlink_refused(path)
        } else {
            LockError::io(syscall, path, e)
        }
    }
}

fn symlink_refused(path: &Path) -> LockError {
    LockError::UnsafeLockPath {
        path: path.into(),
        what: "a symbolic link (transcript)",
    }
}

/// A transcript opened for appending, as one `fstat` found it.
struct Transcript {
    file: File,
    created: bool,
    len: u64,
}

fn open_transcript(path: &Path) -> Result<Transcript, LockError> {
    let open = |create_new: bool| {
        let mut o = OpenOptions::new();
        o.read(true).create_new(create_new);
        os_file::for_append(&mut o);
        os_file::no_follow(&mut o).open(path)
    };
    let (file, created) = match open(false) {
        Ok(f) => (f, false),
        Err(e) if e.kind() == ErrorKind::NotFound => match open(true) {
            Ok(f) => (f, true),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                (open(false).map_err(io_err("open", path))?, false)
            }
            Err(e) => return Err(io_err("open", path)(e)),
        },
        Err(e) => return Err(io_err("open", path)(e)),
    };
    let (meta, identity) = os_file::fstat(&file).map_err(io_err("fstat", path))?;
    if meta.file_type().is_symlink() {
        return Err(symlink_refused(path));
    }
    if !meta.file_type().is_file() {
        return Err(LockError::UnsafeLockPath {
            path: path.into(),
            what: "not a regular file (transcript)",
        });
    }
    refuse_hard_links(identity, path)?;
    Ok(Transcript {
        file,
        created,
        len: meta.len(),
    })
}

/// A transcript with several hard links is refused, judged on the opened descriptor: one of its other
/// names may be a file outside the sessions directory, which a repair or an append would change.
fn refuse_hard_links(identity: os_file::Identity, path: &Path) -> Result<(), LockError> {
    if identity.links > 1 {
        return Err(LockError::UnsafeLockPath {
            path: path.into(),
            what: "a file with several hard links (transcript)",
        });
    }
    Ok(())
}

/// Cuts the transcript back to `len` after a failed write; if that fails too, the error says so.
fn rolled_back(
    file: &File,
    len: u64,
    syscall: &'static str,
    path: &Path,
    e: io::Error,
) -> LockError {
    match file.set_len(len) {
        Ok(()) => io_err(syscall, path)(e),
        Err(rollback) => LockError::NotRolledBack {
            syscall,
            path: path.into(),
            source: e,
            rollback,
        },
    }
}

/// Appends `bytes` (whole lines) in one contiguous write, after repairing a torn tail. On failure the
/// file is cut back to its length before the write, so no partial line is left.
pub fn append(path: &Path, bytes: &[u8], durability: Durability) -> Result<Appended, LockError> {
    let Transcript { file, created, len } = open_transcript(path)?;
    let (repair, offset) = repair_tail(&file, len, path)?;
    if let Err(e) = os_file::append_all(&file, bytes) {
        // Roll back whatever part was written; the original error is what the caller needs.
        return Err(rolled_back(&file, offset, "write", path, e));
    }
    if let Err((syscall, e)) = sync(&file, durability, created, path) {
        return Err(rolled_back(&file, offset, syscall, path, e));
    }
    Ok(Appended {
        offset,
        bytes: bytes.len() as u64,
        repair,
    })
}

/// Pushes an append to storage as `durability` asks; on failure, the system call that failed.
fn sync(
    file: &File,
    durability: Durability,
    created: bool,
    path: &Path,
) -> Result<(), (&'static str, io::Error)> {
    match durability {
        Durability::None => Ok(()),
        Durability::Data => file.sync_data().map_err(|e| ("fdatasync", e)),
        Durability::Full => {
            os_file::full_sync(file).map_err(|e| ("fsync", e))?;
            if created {
                let dir = path.parent().unwrap_or(Path::new("."));
                os_file::sync_dir(dir).map_err(|e| ("fsync", e))?;
            }
            Ok(())
        }
    }
}

fn sync_dir(path: &Path) -> Result<(), LockError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    os_file::sync_dir(dir).map_err(io_err("fsync", dir))
}

/// If the file does not end in `\n`, completes or quarantines its last fragment.
/// Repairs a torn tail of a transcript of length `len`; returns the repair, if one was needed, and the
/// length after it (where the next append starts).
fn repair_tail(file: &File, len: u64, path: &Path) -> Result<(Option<Repair>, u64), LockError> {
    if len == 0 {
        return Ok((None, 0));
    }
    let mut last = [0u8];
    read_exact_at(file, &mut last, len - 1).map_err(io_err("read", path))?;
    if last[0] == b'\n' {
        return Ok((None, len));
    }
    let start = last_line_start(file, len).map_err(io_err("read", path))?;
    let mut fragment = vec![0u8; (len - start) as usize];
    read_exact_at(file, &mut fragment, start).map_err(io_err("read", path))?;
    if is_json_value(&fragment) {
        os_file::append_all(file, b"\n").map_err(io_err("write", path))?;
        return Ok((Some(Repair::Completed { offset: start }), len + 1));
    }
    let sidecar = quarantine(path, &fragment)?;
    file.set_len(start).map_err(io_err("ftruncate", path))?;
    let repair = Repair::Quarantined {
        offset: start,
        bytes: len - start,
        sidecar,
    };
    Ok((Some(repair), start))
}

/// Where the last line of a file of length `len` starts (just after the last `\n`, or 0).
fn last_line_start(file: &File, len: u64) -> io::Result<u64> {
    const CHUNK: u64 = 64 * 1024;
    let mut end = len;
    let mut buf = vec![0u8; CHUNK as usize];
    while end > 0 {
        let from = end.saturating_sub(CHUNK);
        let chunk = &mut buf[..(end - from) as usize];
        read_exact_at(file, chunk, from)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            return Ok(from + i as u64 + 1);
        }
        end = from;
    }
    Ok(0)
}

fn is_json_value(bytes: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(bytes).is_ok()
}

/// Writes a torn fragment to `<file>.corrupt-<timestamp>` (a new file, never an existing one).
fn quarantine(path: &Path, fragment: &[u8]) -> Result<PathBuf, LockError> {
    let stamp = clock::format_iso_ms(clock::now_ms()).replace(':', "-");
    for n in 0..100 {
        let suffix = if n == 0 {
            String::new()
        } else {
            format!("-{n}")
        };
        let mut name = path.as_os_str().to_os_string();
        name.push(format!(".corrupt-{stamp}{suffix}"));
        let sidecar = PathBuf::from(name);
        let created =
            os_file::no_follow(OpenOptions::new().write(true).create_new(true)).open(&sidecar);
        match created {
            Ok(mut f) => {
                let written = f
                    .write_all(fragment)
                    .map_err(io_err("write", &sidecar))
                    .and_then(|()| f.sync_all().map_err(io_err("fsync", &sidecar)));
                if written.is_err() {
                    // A quarantine that failed (a full disk) leaves no empty file behind per attempt.
                    drop(f);
                    let _ = fs::remove_file(&sidecar);
                }
                return written.map(|()| sidecar);
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_err("open", &sidecar)(e)),
        }
    }
    Err(LockError::io(
        "open",
        path,
        io::Error::from(ErrorKind::AlreadyExists),
    ))
}

/// Replaces the transcript atomically: a temporary file in the same directory, then `rename`. Readers
/// see the old file or the new one, never a mix. An existing file's mode is kept.
pub fn rewrite(path: &Path, bytes: &[u8], durability: Durability) -> Result<u64, LockError> {
    let existing = match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => return Err(symlink_refused(path)),
        Ok(m) => Some(m),
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => return Err(io_err("lstat", path)(e)),
    };
    if existing.is_some() {
        let mut o = OpenOptions::new();
        o.read(true);
        let current = os_file::no_follow_nonblocking(&mut o)
            .open(path)
            .map_err(io_err("open", path))?;
        refuse_hard_links(
            os_file::identity(&current).map_err(io_err("fstat", path))?,
            path,
        )?;
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.rewrite-{}-{}",
        std::process::id(),
        clock::now_ms()
    ));
    let result = (|| {
        let mut f = os_file::no_follow(OpenOptions::new().write(true).create_new(true))
            .open(&tmp)
            .map_err(io_err("open", &tmp))?;
        os_file::copy_permissions(existing.as_ref(), &f).map_err(io_err("fchmod", &tmp))?;
        f.write_all(bytes).map_err(io_err("write", &tmp))?;
        match durability {
            Durability::None => {}
            Durability::Data => f.sync_data().map_err(io_err("fdatasync", &tmp))?,
            Durability::Full => os_file::full_sync(&f).map_err(io_err("fsync", &tmp))?,
        }
        rename_over(&tmp, path).map_err(io_err("rename", path))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    if durability == Durability::Full {
        sync_dir(path)?;
    }
    Ok(bytes.len() as u64)
}

/// `rename`, retried on Windows while the target is briefly in use. Windows refuses to replace a file
/// that a reader has open without delete sharing, or at all where POSIX rename semantics are missing
/// (older Windows, FAT, Wine); readers hold a transcript open for milliseconds, so a short backoff gets
/// through, as graceful-fs does for npm. The old transcript stays whole in the meantime.
fn rename_over(from: &Path, to: &Path) -> io::Result<()> {
    const BUDGET: std::time::Duration = std::time::Duration::from_secs(2);
    let started = std::time::Instant::now();
    let mut pause = std::time::Duration::from_millis(1);
    loop {
        match fs::rename(from, to) {
            Err(e)
                if cfg!(windows)
                    && matches!(os_file::errno_name(&e), "EPERM" | "EACCES" | "EBUSY")
                    && started.elapsed() < BUDGET =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TempDir;

    /// A transcript with `content` in a directory of its own (removed when the guard drops).
    fn file(tag: &str, content: &[u8]) -> (TempDir, PathBuf) {
        let dir = TempDir::new(&format!("jsonl-{tag}"));
        let p = dir.join("s.jsonl");
        if !content.is_empty() {
            fs::write(&p, content).unwrap();
        }
        (dir, p)
    }

    #[test]
    fn appends_contiguously_and_reports_offsets() {
        let (_dir, p) = file("append", b"");
        let a = append(&p, b"{\"a\":1}\n", Durability::None).unwrap();
        let b = append(&p, b"{\"b\":2}\n{\"c\":3}\n", Durability::Full).unwrap();
        assert_eq!((a.offset, a.bytes, b.offset, b.bytes), (0, 8, 8, 16));
        assert_eq!(fs::read(&p).unwrap(), b"{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n");
        #[cfg(unix)]
        assert_eq!(
            std::os::unix::fs::MetadataExt::mode(&fs::metadata(&p).unwrap()) & 0o777,
            0o600
        );
    }

    #[test]
    fn a_hard_linked_transcript_is_refused_for_append_and_rewrite_and_left_alone() {
        let (_dir, p) = file("hardlink", b"{\"a\":1}\n{\"torn\":");
        let outside = p.with_file_name("outside.json");
        fs::write(&outside, b"{\"keep\": true\n}").unwrap();
        fs::remove_file(&p).unwrap();
        fs::hard_link(&outside, &p).unwrap();
        for err in [
            append(&p, b"{\"b\":2}\n", Durability::None).unwrap_err(),
            rewrite(&p, b"{\"c\":3}\n", Durability::None).unwrap_err(),
        ] {
            assert_eq!(err.code(), "SESSION_WRITE_LOCK_UNSAFE_PATH", "{err}");
        }
        assert_eq!(fs::read(&outside).unwrap(), b"{\"keep\": true\n}");
        let dir = p.parent().unwrap();
        assert_eq!(
            fs::read_dir(dir).unwrap().count(),
            2,
            "no quarantine file, no temporary file"
        );
    }

    #[test]
    fn a_valid_unterminated_tail_is_completed() {
        let (_dir, p) = file("complete", b"{\"a\":1}\n{\"b\":2}");
        let r = append(&p, b"{\"c\":3}\n", Durability::None).unwrap();
        assert_eq!(r.repair, Some(Repair::Completed { offset: 8 }));
        assert_eq!(fs::read(&p).unwrap(), b"{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n");
    }

    #[test]
    fn an_invalid_tail_is_quarantined_and_cut_keeping_complete_lines() {
        let (_dir, p) = file("quarantine", b"{\"a\":1}\n{\"b\":");
        let r = append(&p, b"{\"c\":3}\n", Durability::None).unwrap();
        let Some(Repair::Quarantined {
            offset,
            bytes,
            sidecar,
        }) = r.repair
        else {
            panic!("{r:?}")
        };
        assert_eq!((offset, bytes), (8, 5));
        assert_eq!(fs::read(&sidecar).unwrap(), b"{\"b\":");
        assert!(sidecar.to_string_lossy().contains("s.jsonl.corrupt-"));
        assert_eq!(fs::read(&p).unwrap(), b"{\"a\":1}\n{\"c\":3}\n");
    }

    #[test]
    fn a_file_with_no_newline_at_all_is_one_fragment() {
        let (_dir, p) = file("nonl", b"garbage without newline");
        append(&p, b"{}\n", Durability::None).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"{}\n");
    }

    #[test]
    fn long_tails_are_found_across_chunks() {
        let mut content = b"{\"a\":1}\n".to_vec();
        content.extend(std::iter::repeat_n(b'x', 200_000));
        let (_dir, p) = file("long", &content);
        let r = append(&p, b"{}\n", Durability::None).unwrap();
        assert!(matches!(
            r.repair,
            Some(Repair::Quarantined {
                offset: 8,
                bytes: 200_000,
                ..
            })
        ));
    }

    #[test]
    #[cfg(unix)]
    fn symlinked_transcripts_are_refused() {
        let (_dir, p) = file("symlink", b"");
        let target = p.with_file_name("target");
        fs::write(&target, "keep").unwrap();
        std::os::unix::fs::symlink(&target, &p).unwrap();
        assert_eq!(
            append(&p, b"{}\n", Durability::None).unwrap_err().code(),
            "SESSION_WRITE_LOCK_UNSAFE_PATH"
        );
        assert_eq!(
            rewrite(&p, b"{}\n", Durability::None).unwrap_err().code(),
            "SESSION_WRITE_LOCK_UNSAFE_PATH"
        );
        assert_eq!(fs::read_to_string(&target).unwrap(), "keep");
    }

    #[test]
    #[cfg(unix)]
    fn rewrite_replaces_atomically_and_keeps_the_mode() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let (_dir, p) = file("rewrite", b"old\n");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        let ino = fs::metadata(&p).unwrap().ino();
        rewrite(&p, b"{\"new\":true}\n", Durability::Full).unwrap();
        let meta = fs::metadata(&p).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"{\"new\":true}\n");
        assert_eq!(meta.mode() & 0o777, 0o640);
        assert_ne!(meta.ino(), ino, "a new inode, renamed into place");
        let leftovers: Vec<_> = fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1);
    }
}
