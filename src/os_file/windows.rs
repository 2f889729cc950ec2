//! Windows: a link is opened as itself (`FILE_FLAG_OPEN_REPARSE_POINT`) and refused by its type, the
//! identity is the volume serial number and file index, every handle shares delete access, a sidecar
//! is deleted through a handle with POSIX semantics, and Win32 errors get the names libuv gives them.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, ErrorKind, Seek, SeekFrom, Write};
use std::os::windows::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::os::windows::io::AsRawHandle;
use std::path::{Path, PathBuf};

use windows_sys::Win32::Foundation::{self as win, HANDLE};
use windows_sys::Win32::Storage::FileSystem::{
    FileDispositionInfo, FileDispositionInfoEx, GetFileInformationByHandle,
    SetFileInformationByHandle, BY_HANDLE_FILE_INFORMATION, DELETE, FILE_DISPOSITION_FLAG_DELETE,
    FILE_DISPOSITION_FLAG_IGNORE_READONLY_ATTRIBUTE, FILE_DISPOSITION_FLAG_POSIX_SEMANTICS,
    FILE_DISPOSITION_INFO, FILE_DISPOSITION_INFO_EX, FILE_FLAG_BACKUP_SEMANTICS,
    FILE_FLAG_OPEN_REPARSE_POINT, FILE_INFO_BY_HANDLE_CLASS, FILE_READ_ATTRIBUTES,
    FILE_SHARE_DELETE, FILE_SHARE_READ, FILE_SHARE_WRITE,
};

use super::{FileId, Identity};

/// Other processes may read, write, and delete or rename while we hold a handle: a legacy reader keeps
/// reading the payload, and a release can delete the sidecar while others still have it open.
const SHARE_ALL: u32 = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE;

/// Open a symlink or junction as itself, never its target; [`identity`]'s caller then refuses it by its
/// file type. Every handle shares read, write and delete.
pub fn no_follow(o: &mut OpenOptions) -> &mut OpenOptions {
    o.share_mode(SHARE_ALL)
        .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT)
}

/// As [`no_follow`]: a Windows path cannot name a FIFO that would block the open.
pub fn no_follow_nonblocking(o: &mut OpenOptions) -> &mut OpenOptions {
    no_follow(o)
}

/// Windows opens a named pipe without waiting for its other end: nothing to add.
pub fn nonblocking(o: &mut OpenOptions) -> &mut OpenOptions {
    o
}

/// Opened for writing at the end. Windows append-only handles (`FILE_APPEND_DATA` alone) cannot cut the
/// file back after a failed write, so the handle gets full write access and [`append_all`] seeks to the
/// end.
pub fn for_append(o: &mut OpenOptions) -> &mut OpenOptions {
    o.write(true)
}

/// A canonical path as Node's `fs.realpath` spells it: `std::fs::canonicalize` returns the verbatim
/// form (`\\?\C:\dir`, `\\?\UNC\server\share`), the legacy lock path has the plain one (`C:\dir`,
/// `\\server\share`). Verbatim paths that have no plain spelling are kept.
pub fn plain_path(path: PathBuf) -> PathBuf {
    match super::plain_spelling(&path.to_string_lossy()) {
        Some(plain) if path.to_str().is_some() => PathBuf::from(plain),
        _ => path,
    }
}

/// Writes all of `bytes` at the end of a file opened [`for_append`]: a seek to the end, then the write
/// (the session lock keeps other writers out in between).
pub fn append_all(mut file: &File, bytes: &[u8]) -> io::Result<()> {
    file.seek(SeekFrom::End(0))?;
    file.write_all(bytes)
}

/// Windows opens a link as itself (see [`no_follow`]), so no open fails for being one.
pub fn is_symlink_refusal(_e: &io::Error) -> bool {
    false
}

fn handle_info(handle: HANDLE) -> io::Result<BY_HANDLE_FILE_INFORMATION> {
    // SAFETY: `handle` is open for the duration of the call and `info` is a properly sized out-buffer.
    let mut info: BY_HANDLE_FILE_INFORMATION = unsafe { std::mem::zeroed() };
    if unsafe { GetFileInformationByHandle(handle, &mut info) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(info)
}

fn identity_of(handle: HANDLE) -> io::Result<Identity> {
    let info = handle_info(handle)?;
    Ok(Identity {
        id: FileId {
            dev: u64::from(info.dwVolumeSerialNumber),
            ino: (u64::from(info.nFileIndexHigh) << 32) | u64::from(info.nFileIndexLow),
        },
        links: u64::from(info.nNumberOfLinks),
    })
}

pub fn identity(file: &File) -> io::Result<Identity> {
    identity_of(file.as_raw_handle() as HANDLE)
}

/// The metadata and the identity (two calls here: the metadata carries no file index).
pub fn fstat(file: &File) -> io::Result<(Metadata, Identity)> {
    Ok((file.metadata()?, identity(file)?))
}

/// A path whose file is being deleted answers `ERROR_ACCESS_DENIED` (`STATUS_DELETE_PENDING`) until
/// its last handle closes. For the protocol, such a name names nothing.
fn gone(e: &io::Error) -> bool {
    e.kind() == ErrorKind::NotFound
        || matches!(
            e.raw_os_error().map(|c| c as u32),
            Some(win::ERROR_ACCESS_DENIED | win::ERROR_DELETE_PENDING)
        )
}

/// Opens what `path` names (a link as itself, a directory too) with `access`, sharing everything.
fn open_name(path: &Path, access: u32) -> io::Result<File> {
    OpenOptions::new()
        .access_mode(access)
        .share_mode(SHARE_ALL)
        .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT | FILE_FLAG_BACKUP_SEMANTICS)
        .open(path)
}

/// The identity of what `path` names, without following a link; `None` if nothing is there.
pub fn path_identity(path: &Path) -> io::Result<Option<FileId>> {
    match open_name(path, FILE_READ_ATTRIBUTES) {
        Ok(f) => Ok(Some(identity(&f)?.id)),
        Err(e) if gone(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

pub fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    file.seek_read(buf, offset)
}

pub fn write_all_at(file: &File, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match file.seek_write(buf, offset) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => {
                buf = &buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Deletes what `path` names if it is the file `id`. The check and the delete go through one handle,
/// so nothing swapped in between can be deleted by mistake. POSIX semantics take the name away at once
/// while other handles stay open; where the file system lacks them (FAT, old Windows), the file is
/// deleted when its last handle closes, and its name answers "delete pending" until then.
pub fn delete_if_named(path: &Path, id: FileId) -> io::Result<bool> {
    let file = match open_name(path, DELETE | FILE_READ_ATTRIBUTES) {
        Ok(f) => f,
        Err(e) if gone(&e) => return Ok(false),
        Err(e) => return Err(e),
    };
    let handle = file.as_raw_handle() as HANDLE;
    if identity_of(handle)?.id != id {
        return Ok(false);
    }
    let posix = FILE_DISPOSITION_INFO_EX {
        Flags: FILE_DISPOSITION_FLAG_DELETE
            | FILE_DISPOSITION_FLAG_POSIX_SEMANTICS
            | FILE_DISPOSITION_FLAG_IGNORE_READONLY_ATTRIBUTE,
    };
    set_disposition(handle, FileDispositionInfoEx, &posix)
        .or_else(|_| {
            set_disposition(
                handle,
                FileDispositionInfo,
                &FILE_DISPOSITION_INFO { DeleteFile: true },
            )
        })
        .map(|()| true)
}

/// `SetFileInformationByHandle` with a disposition record of the class's own type.
fn set_disposition<T>(
    handle: HANDLE,
    class: FILE_INFO_BY_HANDLE_CLASS,
    info: &T,
) -> io::Result<()> {
    // SAFETY: the handle is open with DELETE access, and `info` is the record `class` expects, passed
    // with its exact size.
    let done = unsafe {
        SetFileInformationByHandle(
            handle,
            class,
            (info as *const T).cast(),
            std::mem::size_of::<T>() as u32,
        )
    };
    if done != 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `FlushFileBuffers`.
pub fn full_sync(file: &File) -> io::Result<()> {
    file.sync_all()
}

/// NTFS journals directory entries itself, and a directory handle cannot be flushed without write
/// access to it: nothing to do.
pub fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

/// A replacement transcript inherits the directory's ACL, as the original did: nothing to copy.
pub fn copy_permissions(_from: Option<&Metadata>, _file: &File) -> io::Result<()> {
    Ok(())
}

/// What changes when a file is replaced or edited: creation time, mtime and size.
pub fn change_stamp(m: &Metadata) -> (u64, u64, Option<std::time::SystemTime>, u64) {
    (0, m.creation_time(), m.modified().ok(), m.file_size())
}

pub fn name_too_long() -> io::Error {
    io::Error::from_raw_os_error(win::ERROR_FILENAME_EXCED_RANGE as i32)
}

pub fn is_a_directory() -> io::Error {
    io::Error::new(ErrorKind::IsADirectory, "is a directory")
}

/// Node's `errno` for a Win32 error is libuv's own number; the JavaScript layer looks it up by name.
pub fn node_errno(_err: &io::Error) -> Option<i64> {
    None
}

/// The name libuv gives a Win32 error (`ENOENT`, `EPERM`, ...), so errors read as Node's do.
pub fn errno_name(err: &io::Error) -> &'static str {
    let Some(code) = err.raw_os_error() else {
        return super::kind_name(err.kind());
    };
    match code as u32 {
        win::ERROR_FILE_NOT_FOUND
        | win::ERROR_PATH_NOT_FOUND
        | win::ERROR_INVALID_NAME
        | win::ERROR_INVALID_DRIVE
        | win::ERROR_BAD_NETPATH => "ENOENT",
        win::ERROR_ACCESS_DENIED | win::ERROR_PRIVILEGE_NOT_HELD => "EPERM",
        win::ERROR_TOO_MANY_OPEN_FILES => "EMFILE",
        win::ERROR_INVALID_HANDLE => "EBADF",
        win::ERROR_NOT_ENOUGH_MEMORY | win::ERROR_OUTOFMEMORY => "ENOMEM",
        win::ERROR_WRITE_PROTECT => "EROFS",
        win::ERROR_SHARING_VIOLATION | win::ERROR_LOCK_VIOLATION | win::ERROR_DELETE_PENDING => {
            "EBUSY"
        }
        win::ERROR_HANDLE_DISK_FULL | win::ERROR_DISK_FULL => "ENOSPC",
        win::ERROR_DISK_QUOTA_EXCEEDED => "EDQUOT",
        win::ERROR_FILE_EXISTS | win::ERROR_ALREADY_EXISTS => "EEXIST",
        win::ERROR_INVALID_PARAMETER => "EINVAL",
        win::ERROR_FILENAME_EXCED_RANGE => "ENAMETOOLONG",
        win::ERROR_DIRECTORY => "ENOTDIR",
        win::ERROR_CANT_RESOLVE_FILENAME => "ELOOP",
        win::ERROR_NOT_SAME_DEVICE => "EXDEV",
        win::ERROR_OPERATION_ABORTED => "EINTR",
        win::ERROR_IO_DEVICE | win::ERROR_CRC => "EIO",
        _ => "UNKNOWN",
    }
}

/// Windows has no unnamed files: the sidecar is created the usual way (`O_EXCL`, then the payload).
pub fn unnamed_in(_dir: &Path) -> Option<File> {
    None
}

/// See the Unix version; never reached on Windows, where [`unnamed_in`] gives nothing.
pub fn link_unnamed(_file: &File, _path: &Path) -> io::Result<()> {
    Err(ErrorKind::Unsupported.into())
}
