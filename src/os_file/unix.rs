//! Unix: `O_NOFOLLOW`, device and inode, `pread`/`pwrite`, and errno names.

use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, ErrorKind, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{FileId, Identity};

/// Never follow a symlink in the last component (`O_NOFOLLOW`: opening one fails with `ELOOP`), and
/// create new files with mode 0600.
pub fn no_follow(o: &mut OpenOptions) -> &mut OpenOptions {
    o.mode(0o600).custom_flags(libc::O_NOFOLLOW)
}

/// [`no_follow`], and opening a FIFO must not hang (`O_NONBLOCK`, no effect on a regular file).
pub fn no_follow_nonblocking(o: &mut OpenOptions) -> &mut OpenOptions {
    o.mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
}

/// Opening a FIFO must not hang (`O_NONBLOCK`, no effect on a regular file); symlinks are followed.
pub fn nonblocking(o: &mut OpenOptions) -> &mut OpenOptions {
    o.custom_flags(libc::O_NONBLOCK)
}

/// Opened for appending: every write lands at the end (`O_APPEND`).
pub fn for_append(o: &mut OpenOptions) -> &mut OpenOptions {
    o.append(true)
}

/// A canonical path as Node's `fs.realpath` spells it: unchanged on Unix.
pub fn plain_path(path: PathBuf) -> PathBuf {
    path
}

/// Writes all of `bytes` at the end of a file opened [`for_append`] (`O_APPEND` puts them there).
pub fn append_all(mut file: &File, bytes: &[u8]) -> io::Result<()> {
    file.write_all(bytes)
}

/// Did an open fail because the last component is a symlink?
pub fn is_symlink_refusal(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ELOOP)
}

/// One `fstat`: the metadata and the identity together.
pub fn fstat(file: &File) -> io::Result<(Metadata, Identity)> {
    let m = file.metadata()?;
    let identity = identity_in(&m);
    Ok((m, identity))
}

fn identity_in(m: &Metadata) -> Identity {
    Identity {
        id: FileId {
            dev: m.dev(),
            ino: m.ino(),
        },
        links: m.nlink(),
    }
}

pub fn identity(file: &File) -> io::Result<Identity> {
    Ok(identity_in(&file.metadata()?))
}

/// The identity of what `path` names, without following a symlink; `None` if nothing is there.
pub fn path_identity(path: &Path) -> io::Result<Option<FileId>> {
    match fs::symlink_metadata(path) {
        Ok(m) => Ok(Some(FileId {
            dev: m.dev(),
            ino: m.ino(),
        })),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

pub fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    file.read_at(buf, offset)
}

pub fn write_all_at(file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    file.write_all_at(buf, offset)
}

/// Unlinks `path` if it still names the file `id`. Returns whether it did. (`lstat` then `unlink`: the
/// gap between them is covered by the protocol, which re-checks identity after every lock.)
pub fn delete_if_named(path: &Path, id: FileId) -> io::Result<bool> {
    if path_identity(path)? != Some(id) {
        return Ok(false);
    }
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// A file in `dir` that has no name yet (Linux `O_TMPFILE`), read-write, mode 0600; `None` where the
/// kernel or the file system has no such files (or `dir` cannot take one: the caller's usual path then
/// reports why).
#[cfg(target_os = "linux")]
pub fn unnamed_in(dir: &Path) -> Option<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE)
        .open(dir)
        .ok()
}

#[cfg(not(target_os = "linux"))]
pub fn unnamed_in(_dir: &Path) -> Option<File> {
    None
}

/// Gives a file from [`unnamed_in`] the name `path`, failing with `AlreadyExists` when the name is
/// taken: an exclusive create whose content is in place before anyone can open it. Through
/// `/proc/self/fd`, as open(2) documents for `O_TMPFILE` files (no privilege needed).
#[cfg(target_os = "linux")]
pub fn link_unnamed(file: &File, path: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::OsStrExt;
    let from = CString::new(format!("/proc/self/fd/{}", file.as_raw_fd()))?;
    let to = CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: two NUL-terminated paths that outlive the call; no other memory is passed.
    let r = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
pub fn link_unnamed(_file: &File, _path: &Path) -> io::Result<()> {
    Err(ErrorKind::Unsupported.into())
}

/// `fsync` of the file; `F_FULLFSYNC` on macOS, where plain `fsync` leaves data in the drive's cache.
pub fn full_sync(file: &File) -> io::Result<()> {
    #[cfg(target_os = "macos")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: F_FULLFSYNC on a descriptor we own; no memory is passed.
        if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_FULLFSYNC) } == 0 {
            return Ok(());
        }
    }
    file.sync_all()
}

/// `fsync` of a directory, so a newly created entry in it survives a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Gives `file` the permission bits of `from` (a replaced transcript keeps its mode).
pub fn copy_permissions(from: Option<&Metadata>, file: &File) -> io::Result<()> {
    let mode = from.map_or(0o600, |m| m.mode() & 0o7777);
    file.set_permissions(fs::Permissions::from_mode(mode))
}

/// What changes when a file is replaced or edited: device, inode, mtime and size.
pub fn change_stamp(m: &Metadata) -> (u64, u64, Option<std::time::SystemTime>, u64) {
    (m.dev(), m.ino(), m.modified().ok(), m.size())
}

pub fn name_too_long() -> io::Error {
    io::Error::from_raw_os_error(libc::ENAMETOOLONG)
}

pub fn is_a_directory() -> io::Error {
    io::Error::from_raw_os_error(libc::EISDIR)
}

/// Node's `errno` for an OS error: the negated errno, as libuv reports it.
pub fn node_errno(err: &io::Error) -> Option<i64> {
    err.raw_os_error().map(|e| -i64::from(e))
}

/// The Node-style name of an OS error (`ENOENT`, `EACCES`, ...).
pub fn errno_name(err: &io::Error) -> &'static str {
    let Some(errno) = err.raw_os_error() else {
        return super::kind_name(err.kind());
    };
    match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::EXDEV => "EXDEV",
        libc::ENOTDIR => "ENOTDIR",
        libc::EISDIR => "EISDIR",
        libc::EINVAL => "EINVAL",
        libc::ENFILE => "ENFILE",
        libc::EMFILE => "EMFILE",
        libc::ETXTBSY => "ETXTBSY",
        libc::EFBIG => "EFBIG",
        libc::ENOSPC => "ENOSPC",
        libc::EROFS => "EROFS",
        libc::EMLINK => "EMLINK",
        libc::ENAMETOOLONG => "ENAMETOOLONG",
        libc::ENOLCK => "ENOLCK",
        libc::ELOOP => "ELOOP",
        libc::EDQUOT => "EDQUOT",
        libc::EINTR => "EINTR",
        libc::ESTALE => "ESTALE",
        _ => "UNKNOWN",
    }
}
