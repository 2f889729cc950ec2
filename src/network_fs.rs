//! Recognizing network filesystems, where `flock` is emulated, local to one client, or can hang: on NFS
//! and SMB mounts two machines may both "hold" the lock. Sessions there are refused with
//! `SESSION_WRITE_LOCK_NETWORK_FS` unless the caller opts in.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// The name of the network filesystem a directory is on, if it is on one.
pub type NetworkFs = Option<&'static str>;

/// Linux `statfs` magic numbers of filesystems whose locks cannot be trusted across clients. FUSE is
/// deliberately absent: it is also what rootless containers use for local storage.
pub fn network_fs_of_magic(magic: i64) -> NetworkFs {
    match magic as u32 {
        0x6969 => Some("nfs"),
        0x517B => Some("smb"),
        0xFF53_4D42 => Some("cifs"),
        0xFE53_4D42 => Some("smb2"),
        0x00C3_6400 => Some("ceph"),
        0x5346_414F => Some("afs"),
        0x7375_7245 => Some("coda"),
        0x564C => Some("ncp"),
        0x0102_1997 => Some("9p"),
        0x0BD0_0BD0 => Some("lustre"),
        0x4741_4A41 => Some("glusterfs"),
        _ => None,
    }
}

/// macOS `statfs.f_fstypename` values of network filesystems.
pub fn network_fs_of_name(name: &str) -> NetworkFs {
    match name {
        "nfs" => Some("nfs"),
        "smbfs" => Some("smb"),
        "afpfs" => Some("afp"),
        "webdav" => Some("webdav"),
        _ => None,
    }
}

/// `statfs(2)` of a directory.
#[cfg(any(target_os = "linux", target_os = "macos"))]
fn statfs(dir: &Path) -> io::Result<libc::statfs> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())?;
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized, zeroed out-buffer.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st)
}

#[cfg(target_os = "linux")]
fn probe(dir: &Path) -> io::Result<NetworkFs> {
    Ok(network_fs_of_magic(statfs(dir)?.f_type as i64))
}

#[cfg(target_os = "macos")]
fn probe(dir: &Path) -> io::Result<NetworkFs> {
    let st = statfs(dir)?;
    // SAFETY: f_fstypename is NUL-terminated by the kernel.
    let name = unsafe { std::ffi::CStr::from_ptr(st.f_fstypename.as_ptr()) };
    Ok(network_fs_of_name(&name.to_string_lossy()))
}

/// `GetDriveTypeW`'s answer for a mapped network drive.
pub const DRIVE_REMOTE: u32 = 4;

/// Windows: a volume reached by a UNC path (`\\server\share`, `\\?\UNC\server\share`) or a drive that
/// `GetDriveTypeW` calls remote is an SMB share (or an NFS client mount, which Windows reports alike).
pub fn network_fs_of_volume(volume_root: &str, drive_type: u32) -> NetworkFs {
    let unc = volume_root
        .get(..8)
        .is_some_and(|p| p.eq_ignore_ascii_case(r"\\?\UNC\"))
        || (volume_root.starts_with(r"\\")
            && !volume_root.starts_with(r"\\?\")
            && !volume_root.starts_with(r"\\.\"));
    (unc || drive_type == DRIVE_REMOTE).then_some("smb")
}

#[cfg(windows)]
fn probe(dir: &Path) -> io::Result<NetworkFs> {
    use std::os::windows::ffi::{OsStrExt, OsStringExt};
    use windows_sys::Win32::Storage::FileSystem::{GetDriveTypeW, GetVolumePathNameW};
    let wide: Vec<u16> = dir.as_os_str().encode_wide().chain(Some(0)).collect();
    let mut root = vec![0u16; wide.len() + 1];
    // SAFETY: `wide` is NUL-terminated, and `root` is at least as long as the path, which bounds the
    // volume path it can hold.
    if unsafe { GetVolumePathNameW(wide.as_ptr(), root.as_mut_ptr(), root.len() as u32) } == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `root` is NUL-terminated by the call above.
    let drive_type = unsafe { GetDriveTypeW(root.as_ptr()) };
    let end = root.iter().position(|&c| c == 0).unwrap_or(root.len());
    let root = std::ffi::OsString::from_wide(&root[..end]);
    Ok(network_fs_of_volume(&root.to_string_lossy(), drive_type))
}

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
fn probe(_dir: &Path) -> io::Result<NetworkFs> {
    Ok(None)
}

// The probes this thread has made: lets the tests tell a cached answer from a fresh one.
#[cfg(test)]
thread_local!(static PROBES: std::cell::Cell<u64> = const { std::cell::Cell::new(0) });

/// The network filesystem `dir` is on, if any. Cached per directory: a mount does not change under a
/// running gateway, and the lock's hot path should not pay a `statfs` per acquisition.
pub fn network_fs(dir: &Path) -> io::Result<NetworkFs> {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, NetworkFs>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(found) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(dir) {
        return Ok(*found);
    }
    #[cfg(test)]
    PROBES.with(|n| n.set(n.get() + 1));
    let found = probe(dir)?;
    let mut map = cache.lock().unwrap_or_else(|p| p.into_inner());
    if map.len() >= 1024 {
        map.clear();
    }
    map.insert(dir.to_path_buf(), found);
    Ok(found)
}

/// Whether network filesystems are allowed without a per-call opt-in:
/// `OPENCLAW_SESSION_WRITE_LOCK_ALLOW_NETWORK_FS=1` (or `true`).
pub fn allowed_by_env() -> bool {
    std::env::var("OPENCLAW_SESSION_WRITE_LOCK_ALLOW_NETWORK_FS")
        .is_ok_and(|v| v == "1" || v == "true")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_magics_are_recognized_and_local_ones_are_not() {
        assert_eq!(network_fs_of_magic(0x6969), Some("nfs"));
        assert_eq!(
            network_fs_of_magic(0xFF53_4D42_u32 as i32 as i64),
            Some("cifs")
        );
        assert_eq!(network_fs_of_magic(0xFE53_4D42), Some("smb2"));
        for local in [
            0xEF53,
            0x0102_1994,
            0x9123_683E,
            0x5846_5342,
            0x794C_7630,
            0x6573_5546,
        ] {
            // ext4, tmpfs, btrfs, xfs, overlayfs, FUSE
            assert_eq!(network_fs_of_magic(local), None, "{local:#x}");
        }
        assert_eq!(network_fs_of_name("smbfs"), Some("smb"));
        assert_eq!(network_fs_of_name("apfs"), None);
    }

    #[test]
    fn windows_shares_and_mapped_drives_are_network_volumes() {
        const FIXED: u32 = 3;
        assert_eq!(network_fs_of_volume(r"C:\", FIXED), None);
        assert_eq!(network_fs_of_volume(r"Z:\", DRIVE_REMOTE), Some("smb"));
        assert_eq!(network_fs_of_volume(r"\\nas\sessions\", FIXED), Some("smb"));
        assert_eq!(
            network_fs_of_volume(r"\\?\UNC\nas\sessions\", FIXED),
            Some("smb")
        );
        assert_eq!(network_fs_of_volume(r"\\?\unc\nas\s\", FIXED), Some("smb"));
        // A verbatim local path and a device path are not shares.
        assert_eq!(network_fs_of_volume(r"\\?\C:\", FIXED), None);
        assert_eq!(network_fs_of_volume(r"\\?\Volume{1234}\", FIXED), None);
        assert_eq!(network_fs_of_volume(r"\\.\PhysicalDrive0\", FIXED), None);
    }

    #[test]
    fn a_local_directory_is_probed_once_then_answered_from_the_cache() {
        // A directory of its own, which no other test has asked about.
        let dir = crate::test_support::TempDir::new("netfs-cache");
        let probes = || PROBES.with(|n| n.get());
        let before = probes();
        assert_eq!(network_fs(dir.path()).unwrap(), None);
        assert_eq!(probes(), before + 1, "the first answer is a probe");
        assert_eq!(network_fs(dir.path()).unwrap(), None);
        assert_eq!(probes(), before + 1, "the second answer is the cached one");
    }
}
