//! The file primitives whose system calls differ between Unix and Windows: opening without following a
//! link, file identity, positional I/O, deleting a file only if a path still names it, and the names of
//! OS errors. The modules above use these and stay portable; each OS has its own file here.

use std::fs::Metadata;
use std::time::UNIX_EPOCH;

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub use unix::*;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub use windows::*;

/// A file's identity: device and inode on Unix, volume serial number and file index on Windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

/// What the protocol needs to know of an open file beyond `fstat`'s portable part.
#[derive(Debug, Clone, Copy)]
pub struct Identity {
    pub id: FileId,
    pub links: u64,
}

/// The Node-style name of an error that carries no OS code.
fn kind_name(kind: std::io::ErrorKind) -> &'static str {
    use std::io::ErrorKind as K;
    match kind {
        K::NotFound => "ENOENT",
        K::PermissionDenied => "EACCES",
        K::AlreadyExists => "EEXIST",
        K::InvalidInput => "EINVAL",
        K::IsADirectory => "EISDIR",
        K::NotADirectory => "ENOTDIR",
        K::InvalidFilename => "ENAMETOOLONG",
        K::StorageFull => "ENOSPC",
        K::ReadOnlyFilesystem => "EROFS",
        K::ResourceBusy => "EBUSY",
        _ => "EIO",
    }
}

/// The plain spelling of a Windows verbatim path, if it has one: `\\?\C:\x` is `C:\x` and
/// `\\?\UNC\server\share\x` is `\\server\share\x`. Pure string logic, so that every OS tests it.
pub fn plain_spelling(verbatim: &str) -> Option<String> {
    if let Some(rest) = verbatim.strip_prefix(r"\\?\UNC\") {
        return Some(format!(r"\\{rest}"));
    }
    let rest = verbatim.strip_prefix(r"\\?\")?;
    let b = rest.as_bytes();
    let drive = b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && b[2] == b'\\';
    // A plain path longer than MAX_PATH, or with components Win32 would rewrite, needs the prefix.
    let plain_safe = rest.len() < 260
        && !rest
            .split('\\')
            .any(|c| c == "." || c == ".." || c.ends_with('.') || c.ends_with(' '));
    (drive && plain_safe).then(|| rest.to_string())
}

/// Modification time in milliseconds since the epoch (negative before it).
pub fn mtime_ms(meta: &Metadata) -> i64 {
    match meta.modified() {
        Ok(t) => match t.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            Err(before) => -i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX),
        },
        Err(_) => 0,
    }
}

/// Reads until `buf` is full or the file ends; returns how much was read.
pub fn read_full_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut len = 0;
    while len < buf.len() {
        match read_at(file, &mut buf[len..], offset + len as u64) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(len)
}

/// Reads exactly `buf.len()` bytes at `offset`, or fails with `UnexpectedEof`.
pub fn read_exact_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    if read_full_at(file, buf, offset)? == buf.len() {
        Ok(())
    } else {
        Err(std::io::ErrorKind::UnexpectedEof.into())
    }
}

/// Deletes whatever `path` names, as another process's `unlink` would.
#[cfg(test)]
pub fn delete_as_another_process(path: &std::path::Path) -> std::io::Result<()> {
    match path_identity(path)? {
        Some(id) if delete_if_named(path, id)? => Ok(()),
        _ => Err(std::io::ErrorKind::NotFound.into()),
    }
}

/// Does a deleted file's name go away while a handle to it is still open? Always on Unix; on Windows
/// only with POSIX delete semantics (NTFS on Windows 10 and later, not Wine or FAT). Where it does not,
/// nobody can replace a sidecar that is open, and tests of that race have nothing to test.
#[cfg(test)]
pub fn names_vanish_while_open(dir: &std::path::Path) -> bool {
    let p = dir.join(format!(".swl-probe-{}", std::process::id()));
    let Ok(f) = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&p)
    else {
        return false;
    };
    let _ = delete_as_another_process(&p);
    let gone = matches!(path_identity(&p), Ok(None));
    drop(f);
    let _ = std::fs::remove_file(&p);
    gone
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::{self, OpenOptions};
    use std::io::Write;

    fn scratch(tag: &str) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("swl-osfile-{tag}-{}", std::process::id()));
        let _ = fs::remove_file(&p);
        let _ = fs::remove_file(p.with_extension("new"));
        p
    }

    fn create(p: &std::path::Path) -> fs::File {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(p)
            .unwrap()
    }

    /// A different file at `p`: created under another name while the old one still exists, so that
    /// the file system cannot hand it the old one's inode, then renamed over it once the old one is
    /// closed, and opened afresh.
    fn replace(p: &std::path::Path, old: fs::File) -> fs::File {
        let mut tmp = p.as_os_str().to_owned();
        tmp.push(".new");
        drop(create(std::path::Path::new(&tmp)));
        drop(old);
        fs::rename(&tmp, p).unwrap();
        OpenOptions::new().read(true).write(true).open(p).unwrap()
    }

    #[test]
    fn identity_follows_the_file_not_the_name() {
        let p = scratch("id");
        let f = create(&p);
        let ident = identity(&f).unwrap();
        assert_eq!(ident.links, 1);
        assert_eq!(path_identity(&p).unwrap(), Some(ident.id));
        let g = replace(&p, f);
        assert_eq!(path_identity(&p).unwrap(), Some(identity(&g).unwrap().id));
        assert_ne!(path_identity(&p).unwrap(), Some(ident.id), "a new file");
        drop(g);
        fs::remove_file(&p).unwrap();
        assert_eq!(path_identity(&p).unwrap(), None);
    }

    #[test]
    fn delete_if_named_spares_a_replacement() {
        let p = scratch("del");
        let first = create(&p);
        let old = identity(&first).unwrap().id;
        let mut second = replace(&p, first);
        second.write_all(b"x").unwrap();
        assert!(!delete_if_named(&p, old).unwrap(), "not ours any more");
        assert!(p.exists());
        let new = identity(&second).unwrap().id;
        assert!(
            delete_if_named(&p, new).unwrap(),
            "deleted while a handle is open"
        );
        drop(second);
        assert!(!p.exists());
        assert!(!delete_if_named(&p, new).unwrap());
    }

    #[test]
    fn positional_io_round_trips() {
        let p = scratch("pio");
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&p)
            .unwrap();
        write_all_at(&f, b"hello world", 0).unwrap();
        write_all_at(&f, b"W", 6).unwrap();
        let mut buf = [0u8; 32];
        let n = read_full_at(&f, &mut buf, 0).unwrap();
        assert_eq!(&buf[..n], b"hello World");
        let mut five = [0u8; 5];
        read_exact_at(&f, &mut five, 6).unwrap();
        assert_eq!(&five, b"World");
        assert!(read_exact_at(&f, &mut buf, 6).is_err());
        drop(f);
        fs::remove_file(&p).unwrap();
    }

    #[test]
    fn verbatim_windows_paths_get_their_plain_spelling() {
        assert_eq!(
            plain_spelling(r"\\?\C:\Users\a\s"),
            Some(r"C:\Users\a\s".into())
        );
        assert_eq!(
            plain_spelling(r"\\?\UNC\nas\share\s"),
            Some(r"\\nas\share\s".into())
        );
        assert_eq!(plain_spelling(r"C:\Users"), None, "already plain");
        assert_eq!(
            plain_spelling(r"\\?\Volume{1234}\s"),
            None,
            "no drive letter"
        );
        assert_eq!(
            plain_spelling(r"\\?\C:\trailing.\s"),
            None,
            "Win32 would strip the dot"
        );
        let long = format!(r"\\?\C:\{}", "x".repeat(300));
        assert_eq!(plain_spelling(&long), None, "longer than MAX_PATH");
    }

    #[test]
    fn made_up_errors_have_node_names() {
        assert_eq!(errno_name(&name_too_long()), "ENAMETOOLONG");
        assert_eq!(errno_name(&is_a_directory()), "EISDIR");
        assert_eq!(
            errno_name(&std::io::Error::from(std::io::ErrorKind::NotFound)),
            "ENOENT"
        );
    }
}
