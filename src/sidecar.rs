//! The `.lock` sidecar as a file: where it is, how it is opened safely, whether the path still names the
//! file we hold, and bounded reads and writes of its payload.

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind};
use std::path::{Component, Path, PathBuf};

use crate::error::LockError;
use crate::os_file;
pub use crate::os_file::FileId;
use crate::payload::{self, MAX_PAYLOAD_BYTES};
use crate::{clock, process};

/// Where the sidecar of a transcript lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockTarget {
    /// The transcript, resolved against the working directory (`path.resolve`).
    pub session_file: PathBuf,
    /// `realpath(dirname(resolve(file))) + "/" + basename(file) + ".lock"`: the legacy path.
    pub lock_path: PathBuf,
}

/// Checks a transcript path the way every entry point needs it checked, before anything touches the disk.
pub fn validate_session_path(file: &str) -> Result<(), LockError> {
    if file.is_empty() {
        return Err(LockError::invalid(
            "The \"sessionFile\" argument must be a non-empty string.",
        ));
    }
    if file.contains('\0') {
        return Err(LockError::invalid(
            "The \"sessionFile\" argument must not contain null bytes.",
        ));
    }
    if file.ends_with('/') || (cfg!(windows) && file.ends_with('\\')) {
        return Err(LockError::invalid(format!(
            "The \"sessionFile\" argument must name a file, not a directory. Received '{file}'"
        )));
    }
    Ok(())
}

/// Resolves the lock path. With `create_dir`, a missing session directory is created first, as the legacy
/// lock did; without it, a missing directory is an `ENOENT` error.
pub fn resolve(file: &str, create_dir: bool) -> Result<LockTarget, LockError> {
    validate_session_path(file)?;
    let session_file = if Path::new(file).is_absolute() {
        normalize(Path::new(file))
    } else {
        let cwd =
            std::env::current_dir().map_err(|e| LockError::io("getcwd", Path::new("."), e))?;
        normalize(&cwd.join(file))
    };
    let (Some(dir), Some(name)) = (session_file.parent(), session_file.file_name()) else {
        return Err(LockError::invalid(format!(
            "The \"sessionFile\" argument must name a file. Received '{file}'"
        )));
    };
    let real_dir = match fs::canonicalize(dir) {
        Err(e) if create_dir && e.kind() == ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(|e| {
                // A symlink to nothing: the directory is missing where it points, not "already there".
                if fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink()) {
                    LockError::io("realpath", dir, ErrorKind::NotFound.into())
                } else {
                    LockError::io("mkdir", dir, e)
                }
            })?;
            fs::canonicalize(dir)
        }
        other => other,
    }
    .map_err(|e| LockError::io("realpath", dir, e))?;
    let real_dir = os_file::plain_path(real_dir);
    check_transcript(&real_dir.join(name))?;
    let mut lock_name = name.to_os_string();
    lock_name.push(".lock");
    if lock_name.len() > 255 {
        return Err(LockError::io(
            "open",
            &real_dir.join(&lock_name),
            os_file::name_too_long(),
        ));
    }
    Ok(LockTarget {
        session_file,
        lock_path: real_dir.join(lock_name),
    })
}

/// The transcript, if it exists, must be a regular file: a directory is `EISDIR`, and a symlink or FIFO
/// is refused, so that no write through this lock can land anywhere else.
fn check_transcript(path: &Path) -> Result<(), LockError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(LockError::io("lstat", path, e)),
    };
    let ft = meta.file_type();
    if ft.is_dir() {
        return Err(LockError::invalid(format!(
            "The \"sessionFile\" argument must name a file, not a directory. Received '{}'",
            path.display()
        )));
    }
    if ft.is_symlink() {
        return Err(LockError::UnsafeLockPath {
            path: path.into(),
            what: "a symbolic link (transcript)",
        });
    }
    if !ft.is_file() {
        return Err(LockError::UnsafeLockPath {
            path: path.into(),
            what: "not a regular file (transcript)",
        });
    }
    Ok(())
}

/// Lexical `.`/`..` resolution, as Node's `path.resolve` does.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// An open sidecar and whether this open created it.
#[derive(Debug)]
pub struct Opened {
    pub file: File,
    pub created: bool,
}

/// Opens the sidecar read-write: `O_CREAT|O_EXCL` first, so we know whether we created it, else the
/// existing file. Never through a symlink, close-on-exec, mode 0600. Anything but a regular file with one
/// link is refused and left untouched.
pub fn open(lock_path: &Path) -> Result<Opened, LockError> {
    let mut pending = 0;
    loop {
        let mut create = OpenOptions::new();
        create.read(true).write(true).create_new(true);
        match os_file::no_follow(&mut create).open(lock_path) {
            Ok(file) => {
                return Ok(Opened {
                    file,
                    created: true,
                })
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(LockError::io("open", lock_path, e)),
        }
        match open_existing_raw(lock_path, true) {
            Ok(file) => {
                check_regular(&file, lock_path)?;
                return Ok(Opened {
                    file,
                    created: false,
                });
            }
            // Released between our two opens: try to create it again.
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            // Windows without POSIX delete: a released sidecar's name lingers until its holder's last
            // handle closes, which is a moment away.
            Err(e)
                if cfg!(windows)
                    && e.kind() == ErrorKind::PermissionDenied
                    && pending < 100
                    && !fs::symlink_metadata(lock_path).is_ok_and(|m| m.is_dir()) =>
            {
                pending += 1;
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Err(e) => return Err(refusal(lock_path, e)),
        }
    }
}

/// A sidecar with `payload` already in it, not yet named: the first half of [`publish`].
pub struct Unpublished {
    pub file: File,
    pub stat: Stat,
}

/// Prepares a sidecar that will appear at `lock_path` with its payload already in place (Linux
/// `O_TMPFILE`). `None` where that is not possible; the caller then [`open`]s the usual way. The caller
/// takes its kernel lock, then [`publish`]es it.
pub fn unpublished(lock_path: &Path, payload: &[u8]) -> Option<Unpublished> {
    let file = os_file::unnamed_in(lock_path.parent()?)?;
    os_file::write_all_at(&file, payload, 0).ok()?;
    let stat = stat(&file).ok()?;
    Some(Unpublished { file, stat })
}

/// Names a prepared sidecar `lock_path`, unless something is there already: an exclusive create that
/// nobody ever sees empty (2026.2 deletes an empty sidecar on sight, and 2026.4+ wait for it). Returns
/// the file when it is now the sidecar; else why not, with the prepared file back when it was only
/// that the name was taken (it can be published later).
pub fn publish(
    prepared: Unpublished,
    lock_path: &Path,
) -> Result<(File, Stat), Option<Unpublished>> {
    match os_file::link_unnamed(&prepared.file, lock_path) {
        Ok(()) => Ok((prepared.file, prepared.stat)),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Err(Some(prepared)),
        Err(_) => Err(None),
    }
}

/// Opens an existing sidecar without creating it, never following a symlink, and refuses anything but
/// a regular file with one link.
pub fn open_existing(lock_path: &Path, writable: bool) -> Result<File, LockError> {
    let file = open_existing_raw(lock_path, writable).map_err(|e| refusal(lock_path, e))?;
    check_regular(&file, lock_path)?;
    Ok(file)
}

/// Opens an existing sidecar read-only for inspection.
pub fn open_for_inspection(lock_path: &Path) -> Result<File, LockError> {
    open_existing(lock_path, false)
}

fn open_existing_raw(lock_path: &Path, writable: bool) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.read(true).write(writable);
    os_file::no_follow_nonblocking(&mut o).open(lock_path)
}

fn refusal(lock_path: &Path, e: io::Error) -> LockError {
    if os_file::is_symlink_refusal(&e) {
        return LockError::UnsafeLockPath {
            path: lock_path.into(),
            what: "a symbolic link",
        };
    }
    let dir = e.kind() == ErrorKind::IsADirectory
        || (e.kind() == ErrorKind::PermissionDenied
            && fs::symlink_metadata(lock_path).is_ok_and(|m| m.is_dir()));
    if dir {
        return LockError::UnsafeLockPath {
            path: lock_path.into(),
            what: "a directory",
        };
    }
    LockError::io("open", lock_path, e)
}

fn check_regular(file: &File, lock_path: &Path) -> Result<(), LockError> {
    let meta = file
        .metadata()
        .map_err(|e| LockError::io("fstat", lock_path, e))?;
    let ft = meta.file_type();
    if !ft.is_file() || ft.is_symlink() {
        let what = if ft.is_dir() {
            "a directory"
        } else if ft.is_symlink() {
            "a symbolic link"
        } else {
            "not a regular file (FIFO, socket or device)"
        };
        return Err(LockError::UnsafeLockPath {
            path: lock_path.into(),
            what,
        });
    }
    let links = os_file::identity(file)
        .map_err(|e| LockError::io("fstat", lock_path, e))?
        .links;
    if links > 1 {
        // A hard link planted at the lock path would make us truncate some other file.
        return Err(LockError::UnsafeLockPath {
            path: lock_path.into(),
            what: "a file with several hard links",
        });
    }
    Ok(())
}

/// What one `fstat` of an open sidecar tells the protocol.
#[derive(Debug, Clone, Copy)]
pub struct Stat {
    pub id: FileId,
    pub size: u64,
    pub mtime_ms: i64,
}

/// One `fstat` where the OS gives the identity with the metadata (Unix).
pub fn stat(file: &File) -> io::Result<Stat> {
    let (m, identity) = os_file::fstat(file)?;
    Ok(Stat {
        id: identity.id,
        size: m.len(),
        mtime_ms: os_file::mtime_ms(&m),
    })
}

/// Does `path` still name the file with this identity? (Without following a symlink.)
pub fn names(path: &Path, id: FileId) -> io::Result<bool> {
    Ok(os_file::path_identity(path)? == Some(id))
}

/// Does `path` still name the file `file` has open? (fstat against lstat.)
#[cfg(test)]
pub fn still_named_by(file: &File, path: &Path) -> io::Result<bool> {
    names(path, stat(file)?.id)
}

/// Reads at most [`MAX_PAYLOAD_BYTES`] + 1 bytes from the start, so an oversized file is detectable
/// without being slurped.
pub fn read_payload(file: &File) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; MAX_PAYLOAD_BYTES + 1];
    let len = os_file::read_full_at(file, &mut buf, 0)?;
    buf.truncate(len);
    Ok(buf)
}

/// Replaces the payload in place: write first, then cut the length (when the old one was longer), so
/// that a concurrent legacy reader seldom sees an empty file.
pub fn write_payload(file: &File, payload: &[u8], old_len: u64) -> io::Result<()> {
    os_file::write_all_at(file, payload, 0)?;
    if old_len > payload.len() as u64 {
        file.set_len(payload.len() as u64)?;
    }
    Ok(())
}

/// Writes our payload (pid, createdAt, starttime, the kernel marker, acquiredAt, who holds) into a
/// sidecar we hold, whose current length is `old_len`.
pub fn write_our_payload(
    file: &File,
    old_len: u64,
    acquired_at_ms: i64,
    owner: Option<&str>,
) -> std::io::Result<()> {
    write_payload(file, our_payload(acquired_at_ms, owner).as_bytes(), old_len)
}

/// Our payload as of now, for a hold acquired at `acquired_at_ms` by `owner` (the caller's label).
pub fn our_payload(acquired_at_ms: i64, owner: Option<&str>) -> String {
    let (pid, starttime) = process::self_identity();
    let (hostname, program) = process::self_description();
    let holder = payload::Holder {
        owner,
        hostname,
        process: program,
    };
    payload::render(pid, clock::now_ms(), acquired_at_ms, starttime, &holder)
}

/// Unlinks `path` only if it still names the file with identity `id`. Returns whether it did.
pub fn unlink_if_named(path: &Path, id: FileId) -> io::Result<bool> {
    os_file::delete_if_named(path, id)
}

/// A sidecar that a hold of this process passes straight to the next caller of the same session in
/// this process, still named and still kernel-locked: the next hold rewrites the payload and goes on,
/// with no unlink, no new file and no wake of another thread or process. Dropped untaken, it is
/// released as a hold is: unlinked if the path still names it, then closed.
pub struct Handed {
    file: Option<File>,
    id: FileId,
    lock_path: PathBuf,
    /// The holds of this process in a row on this sidecar, and when the first of them began.
    pub chain: Chain,
}

/// A run of holds of one process that passed one sidecar on without releasing it.
#[derive(Clone, Copy, Debug)]
pub struct Chain {
    /// The holds so far, the first included.
    pub holds: u32,
    /// When the sidecar was first passed on (not counting the first hold: any hold may be long).
    pub since: Option<std::time::Instant>,
}

impl Chain {
    /// The most holds of one process in a row on a sidecar before it is released for real...
    pub const MAX_HOLDS: u32 = 64;
    /// ...and the longest it goes on being passed on: then other processes get their chance at the
    /// kernel lock.
    pub const MAX_SPAN: std::time::Duration = std::time::Duration::from_millis(20);

    /// The chain of a sidecar just taken from the kernel.
    pub fn fresh() -> Chain {
        Chain {
            holds: 1,
            since: None,
        }
    }

    /// The chain once the sidecar goes on to one more hold, or `None` when it has gone on long
    /// enough and must be released.
    pub fn next(self, now: std::time::Instant) -> Option<Chain> {
        let since = self.since.unwrap_or(now);
        (self.holds < Self::MAX_HOLDS && now.duration_since(since) < Self::MAX_SPAN).then_some(
            Chain {
                holds: self.holds + 1,
                since: Some(since),
            },
        )
    }
}

impl Handed {
    pub fn new(file: File, id: FileId, lock_path: &Path, chain: Chain) -> Handed {
        Handed {
            file: Some(file),
            id,
            lock_path: lock_path.to_path_buf(),
            chain,
        }
    }

    /// The descriptor, to write the next hold's payload through.
    pub fn file(&self) -> &File {
        self.file.as_ref().expect("a handed sidecar is taken once")
    }

    /// The descriptor and identity, for the next hold; the release is then that hold's to make.
    pub fn take(mut self) -> (File, FileId, Chain) {
        let file = self.file.take().expect("a handed sidecar is taken once");
        (file, self.id, self.chain)
    }
}

impl Drop for Handed {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            let _ = unlink_if_named(&self.lock_path, self.id);
            crate::kernel_lock::unlock_before_close(&file);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TempDir;

    /// A directory of its own, canonical (removed when the guard drops).
    fn tempdir(tag: &str) -> (TempDir, PathBuf) {
        let guard = TempDir::new(&format!("sidecar-{tag}"));
        let dir = os_file::plain_path(fs::canonicalize(guard.path()).unwrap());
        (guard, dir)
    }

    #[test]
    #[cfg(unix)]
    fn resolves_the_legacy_path_through_a_symlinked_directory() {
        let (_guard, dir) = tempdir("resolve");
        fs::create_dir(dir.join("real")).unwrap();
        std::os::unix::fs::symlink(dir.join("real"), dir.join("link")).unwrap();
        let file = format!("{}/link/./x/../s.jsonl", dir.display());
        // `x` does not exist, but `..` is lexical as in path.resolve, so only link/ must exist.
        let t = resolve(&file, false).unwrap();
        assert_eq!(t.lock_path, dir.join("real/s.jsonl.lock"));
        assert_eq!(t.session_file, dir.join("link/s.jsonl"));
    }

    #[test]
    fn creates_a_missing_session_directory_only_when_asked() {
        let (_guard, dir) = tempdir("mkdir");
        let file = format!("{}/a/b/s.jsonl", dir.display());
        assert!(matches!(resolve(&file, false), Err(LockError::Io { .. })));
        let t = resolve(&file, true).unwrap();
        assert!(dir.join("a/b").is_dir());
        assert_eq!(t.lock_path, dir.join("a/b/s.jsonl.lock"));
    }

    #[test]
    fn rejects_bad_paths_before_touching_the_disk() {
        for bad in ["", "a\0b", "dir/"] {
            assert!(
                matches!(resolve(bad, true), Err(LockError::InvalidArgument { .. })),
                "{bad:?}"
            );
        }
        let long = format!("{}/{}", std::env::temp_dir().display(), "x".repeat(300));
        assert_eq!(resolve(&long, false).unwrap_err().code(), "ENAMETOOLONG");
    }

    #[test]
    #[cfg(unix)]
    fn a_transcript_that_is_a_directory_symlink_or_fifo_is_refused() {
        let (_guard, dir) = tempdir("transcript");
        fs::create_dir(dir.join("d.jsonl")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.join("l.jsonl")).unwrap();
        let at = |n: &str| format!("{}/{n}", dir.display());
        let err = resolve(&at("d.jsonl"), true).unwrap_err();
        assert_eq!(err.code(), "ERR_INVALID_ARG_VALUE");
        assert!(err.to_string().contains("not a directory"), "{err}");
        assert_eq!(
            resolve(&at("l.jsonl"), true).unwrap_err().code(),
            "SESSION_WRITE_LOCK_UNSAFE_PATH"
        );
        fs::write(dir.join("f.jsonl"), "").unwrap();
        assert!(resolve(&at("f.jsonl"), true).is_ok());
        assert!(resolve(&at("new.jsonl"), true).is_ok());
    }

    #[test]
    fn a_chain_goes_on_for_so_many_holds_or_so_long_after_its_first_handoff() {
        let t0 = std::time::Instant::now();
        let mut chain = Chain::fresh();
        for _ in 1..Chain::MAX_HOLDS {
            chain = chain.next(t0).expect("within the bounds");
        }
        assert_eq!(chain.holds, Chain::MAX_HOLDS);
        assert!(chain.next(t0).is_none(), "no more holds in a row");
        // However long the first hold lasted, the span counts from the first handoff.
        let first = Chain::fresh()
            .next(t0 + std::time::Duration::from_secs(60))
            .unwrap();
        assert!(first
            .next(t0 + std::time::Duration::from_secs(60))
            .is_some());
        assert!(first
            .next(t0 + std::time::Duration::from_secs(60) + Chain::MAX_SPAN)
            .is_none());
    }

    #[test]
    fn a_handed_sidecar_dropped_untaken_is_released_like_a_hold() {
        let (_guard, dir) = tempdir("handed");
        let lock = dir.join("s.jsonl.lock");
        let opened = open(&lock).unwrap();
        let id = stat(&opened.file).unwrap().id;
        assert!(crate::kernel_lock::try_lock(&opened.file).unwrap());
        let handed = Handed::new(opened.file, id, &lock, Chain::fresh());
        assert_eq!(stat(handed.file()).unwrap().id, id);
        drop(handed);
        assert!(!lock.exists(), "unlinked");
        // Taken, it is the taker's: nothing is released.
        let opened = open(&lock).unwrap();
        let id = stat(&opened.file).unwrap().id;
        let (file, taken_id, _) = Handed::new(opened.file, id, &lock, Chain::fresh()).take();
        assert_eq!(taken_id, id);
        assert!(lock.exists());
        drop(file);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_prepared_sidecar_whose_name_is_taken_comes_back_for_later() {
        let (_guard, dir) = tempdir("publish");
        let lock = dir.join("s.jsonl.lock");
        let Some(prepared) = unpublished(&lock, b"{\"pid\":1}") else {
            eprintln!("skipped: no O_TMPFILE on this file system");
            return;
        };
        fs::write(&lock, "taken").unwrap();
        let Err(Some(prepared)) = publish(prepared, &lock) else {
            panic!("the name is taken, and the prepared file comes back")
        };
        fs::remove_file(&lock).unwrap();
        let Ok((file, st)) = publish(prepared, &lock) else {
            panic!("published once the name is free")
        };
        assert_eq!(stat(&file).unwrap().id, st.id);
        assert_eq!(fs::read(&lock).unwrap(), b"{\"pid\":1}");
    }

    #[test]
    fn open_creates_with_mode_0600_then_reopens() {
        let (_guard, dir) = tempdir("open");
        let lock = dir.join("s.jsonl.lock");
        let first = open(&lock).unwrap();
        assert!(first.created);
        #[cfg(unix)]
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&first.file.metadata().unwrap().permissions())
                & 0o777,
            0o600
        );
        let second = open(&lock).unwrap();
        assert!(!second.created);
        assert!(still_named_by(&second.file, &lock).unwrap());
    }

    #[test]
    #[cfg(unix)]
    fn refuses_symlinks_directories_fifos_and_hard_links_untouched() {
        let (_guard, dir) = tempdir("refuse");
        let target = dir.join("victim");
        fs::write(&target, "precious").unwrap();
        std::os::unix::fs::symlink(&target, dir.join("sym.lock")).unwrap();
        fs::create_dir(dir.join("dir.lock")).unwrap();
        let fifo = dir.join("fifo.lock");
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        fs::hard_link(&target, dir.join("hard.lock")).unwrap();
        for name in ["sym.lock", "dir.lock", "fifo.lock", "hard.lock"] {
            let err = open(&dir.join(name)).unwrap_err();
            assert_eq!(err.code(), "SESSION_WRITE_LOCK_UNSAFE_PATH", "{name}");
        }
        assert_eq!(fs::read_to_string(&target).unwrap(), "precious");
    }

    #[test]
    fn identity_follows_unlink_and_replacement() {
        let (_guard, dir) = tempdir("identity");
        let vanish = os_file::names_vanish_while_open(&dir);
        if cfg!(windows) && !vanish {
            // Windows without POSIX delete semantics (FAT, Wine): an open file's name stays until it
            // closes, so it cannot be replaced under a holder, which is what this test is about.
            eprintln!("skipped: an open file's name cannot be deleted here");
            return;
        }
        assert!(vanish, "on Unix, unlink removes an open file's name");
        let lock = dir.join("s.jsonl.lock");
        let held = open(&lock).unwrap().file;
        assert!(still_named_by(&held, &lock).unwrap());
        os_file::delete_as_another_process(&lock).unwrap();
        assert!(!still_named_by(&held, &lock).unwrap());
        fs::write(&lock, "other").unwrap();
        assert!(!still_named_by(&held, &lock).unwrap());
        assert!(!unlink_if_named(&lock, stat(&held).unwrap().id).unwrap());
        assert_eq!(fs::read_to_string(&lock).unwrap(), "other");
    }

    #[test]
    fn payload_io_is_bounded_and_in_place() {
        let (_guard, dir) = tempdir("payload");
        let lock = dir.join("s.jsonl.lock");
        let f = open(&lock).unwrap().file;
        write_payload(&f, b"a longer first payload", 0).unwrap();
        write_payload(&f, b"short", 22).unwrap();
        assert_eq!(read_payload(&f).unwrap(), b"short");
        f.set_len(10 * 1024 * 1024).unwrap();
        assert_eq!(read_payload(&f).unwrap().len(), MAX_PAYLOAD_BYTES + 1);
    }
}
