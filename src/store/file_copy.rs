//! Whole-file copies for rollback copies: a reflink (`ioctl FICLONE`) where the file
//! system shares blocks between files (Btrfs, XFS with reflink, bcachefs, OCFS2), which
//! costs the same for a 1 GB file as for an empty one; a byte copy elsewhere. What is
//! copied, and whether the file is consistent while it is, is the caller's business.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

use crate::store::CopyMethod;

/// Copies `source` to `dest`, which must not exist, by reflink where the file system
/// can and by bytes where it cannot. Does not sync `dest`.
pub(crate) fn clone_or_copy(source: &Path, dest: &Path) -> io::Result<CopyMethod> {
    let from = File::open(source)?;
    let to = OpenOptions::new().write(true).create_new(true).open(dest)?;
    if reflink(&from, &to) {
        return Ok(CopyMethod::Reflink);
    }
    // std's copy uses copy_file_range on Linux: the kernel copies, without a round
    // trip through this process.
    io::copy(&mut &from, &mut &to)?;
    Ok(CopyMethod::FileCopy)
}

/// Whether `to` (empty) now shares `from`'s blocks. A file system without reflinks says
/// `EOPNOTSUPP` (ext4, tmpfs) or `EINVAL`/`ENOTTY`; whatever the reason, a byte copy
/// follows, and reports its own failure if there is one.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn reflink(from: &File, to: &File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: FICLONE takes the source descriptor by value and touches no memory of ours;
    // both descriptors are open for the duration of the call.
    unsafe { libc::ioctl(to.as_raw_fd(), libc::FICLONE, from.as_raw_fd()) == 0 }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn reflink(_from: &File, _to: &File) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_has_the_same_bytes_whichever_way_it_was_made() {
        let dir = tempfile::tempdir().unwrap();
        let (source, dest) = (dir.path().join("a"), dir.path().join("b"));
        let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&source, &bytes).unwrap();
        let method = clone_or_copy(&source, &dest).unwrap();
        assert!(matches!(method, CopyMethod::Reflink | CopyMethod::FileCopy));
        assert_eq!(std::fs::read(&dest).unwrap(), bytes);
        // The copy is a file of its own: changing one leaves the other.
        std::fs::write(&source, b"changed").unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), bytes);
        // It never overwrites.
        assert_eq!(clone_or_copy(&source, &dest).unwrap_err().kind(), io::ErrorKind::AlreadyExists);
    }
}
