//! What an operator is told when the storage itself fails: a full disk, a disk that
//! cannot read or write, a damaged file. The one place that words these errors, for
//! every adapter (SQLite's error codes, the operating system's), so that each names its
//! file, says what happened in plain words, and says what to do next.

use std::fmt;

use crate::domain::{Error, StorageState};

/// How a file's storage failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageFault {
    /// No space left on the disk (or over a quota).
    Full,
    /// The disk could not read or write (which a full disk can also cause).
    Io,
    /// The file's content is damaged.
    Damaged,
    /// The file is not a database at all, or its first page is damaged.
    NotADatabase,
}

impl StorageFault {
    /// The fault behind an operating system error, if it is one.
    pub fn of_io(e: &std::io::Error) -> Option<StorageFault> {
        if e.kind() == std::io::ErrorKind::StorageFull || e.kind() == std::io::ErrorKind::QuotaExceeded {
            return Some(StorageFault::Full);
        }
        match e.raw_os_error() {
            Some(libc::ENOSPC | libc::EDQUOT) => Some(StorageFault::Full),
            Some(libc::EIO) => Some(StorageFault::Io),
            _ => None,
        }
    }

    /// What happened, in words that follow `what:`.
    fn describe(self) -> &'static str {
        match self {
            StorageFault::Full => "the disk is full, so it could not be written",
            StorageFault::Io => "reading or writing it failed with a disk I/O error (the disk may be full, or failing)",
            StorageFault::Damaged => "the file is damaged (SQLite: database disk image is malformed)",
            StorageFault::NotADatabase => "the file is not a SQLite database, or its first page is damaged",
        }
    }

    fn hint(self) -> &'static str {
        match self {
            StorageFault::Full => {
                "free space on that disk, then run the command again; `modreg doctor` checks that the landlord and the tenant files agree"
            }
            StorageFault::Io => "check the disk (free space, the system log), then run `modreg doctor`",
            StorageFault::Damaged | StorageFault::NotADatabase => {
                "run `modreg doctor` to see what is damaged, then put the file back from a backup made with `modreg backup` \
                 (`modreg restore-landlord FILE` for the landlord)"
            }
        }
    }

    /// The storage error of `what`, which names the file (``the tenant file `…` ``).
    pub fn error(self, what: impl fmt::Display) -> Error {
        let state = match self {
            StorageFault::Full | StorageFault::Io => StorageState::Unavailable,
            StorageFault::Damaged | StorageFault::NotADatabase => StorageState::Damaged,
        };
        Error { storage: Some(state), ..Error::storage(format!("{what}: {}", self.describe())).with_hint(self.hint()) }
    }
}

/// An operating system error on a file modreg writes or reads: a storage error when
/// the disk failed, internal otherwise. `what` names the file.
pub(crate) fn io_error(what: impl fmt::Display, e: std::io::Error) -> Error {
    match StorageFault::of_io(&e) {
        Some(fault) => fault.error(what),
        None => Error::internal(format!("{what}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ErrorKind;

    #[test]
    fn a_full_disk_is_storage_and_other_faults_are_internal() {
        let full = io_error("cannot write `a.db`", std::io::Error::from_raw_os_error(libc::ENOSPC));
        assert_eq!(full.kind, ErrorKind::Storage);
        assert_eq!(full.message, "cannot write `a.db`: the disk is full, so it could not be written");
        assert!(full.hint.as_deref().is_some_and(|h| h.contains("free space") && h.contains("`modreg doctor`")));
        let io = io_error("cannot read `a.db`", std::io::Error::from_raw_os_error(libc::EIO));
        assert_eq!(io.kind, ErrorKind::Storage);
        let denied = io_error("cannot write `a.db`", std::io::Error::from_raw_os_error(libc::EACCES));
        assert_eq!(denied.kind, ErrorKind::Internal);
        assert!(denied.message.starts_with("cannot write `a.db`: "), "{}", denied.message);
    }

    #[test]
    fn a_damaged_file_says_how_to_get_it_back() {
        let error = StorageFault::Damaged.error("the landlord `landlord.db`");
        assert!(error.message.starts_with("the landlord `landlord.db`: the file is damaged"), "{}", error.message);
        assert!(error.hint.as_deref().is_some_and(|h| h.contains("`modreg backup`") && h.contains("`modreg doctor`")));
    }
}
