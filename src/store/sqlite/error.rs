//! What SQLite's errors mean to a user (a full disk, a damaged file, a busy database),
//! and the settings every connection gets: a leaf of `store::sqlite`, used by every
//! adapter in it.

use std::time::Duration;

use rusqlite::{Connection, ErrorCode};

use crate::domain::Error;
use crate::store::sqlite::script;
use crate::store::storage::StorageFault;

/// Maps a SQLite error to a user-facing one, `what` naming the file (``the landlord
/// `…` ``): "database is locked" never reaches a user raw, and a full disk or a damaged
/// file is a storage error that says what to do.
pub(crate) fn sql_error(what: impl std::fmt::Display, e: rusqlite::Error) -> Error {
    if let Some(fault) = storage_fault(&e) {
        return fault.error(what);
    }
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            Error::busy(format!("{what}: the database is busy; another process held it past the lock timeout"))
                .with_hint("retry when the other process has finished, or raise `--lock-timeout`")
        }
        Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => {
            Error::internal(format!("{what}: {e}")).with_hint("check that the data folder exists and is writable")
        }
        _ => Error::internal(format!("{what}: {e}")),
    }
}

/// The storage fault a SQLite error reports, if it reports one: SQLITE_FULL (SQLite's
/// word for ENOSPC on a write), SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_NOTADB.
pub(crate) fn storage_fault(e: &rusqlite::Error) -> Option<StorageFault> {
    match e.sqlite_error_code()? {
        ErrorCode::DiskFull => Some(StorageFault::Full),
        ErrorCode::SystemIoFailure => Some(StorageFault::Io),
        ErrorCode::DatabaseCorrupt => Some(StorageFault::Damaged),
        ErrorCode::NotADatabase => Some(StorageFault::NotADatabase),
        _ => None,
    }
}

/// An error of work that reads one file (`read`) and writes another (`write`): damage
/// is the file read's, anything else (a full disk first) the file written's.
pub(crate) fn read_or_write_error(e: rusqlite::Error, read: &str, write: &str) -> Error {
    match storage_fault(&e) {
        Some(StorageFault::Damaged | StorageFault::NotADatabase) => sql_error(read, e),
        _ => sql_error(write, e),
    }
}

/// The failure of module work (`what`: ``cannot remove the objects of `m` ``) that SQLite
/// stopped with `e`: a storage error that names `file` when the storage failed, the
/// work's own failure with SQLite's words otherwise.
pub(crate) fn work_failure(what: impl std::fmt::Display, file: &str, e: &rusqlite::Error) -> Error {
    match storage_fault(e) {
        Some(fault) => fault.error(format!("{what} in {file}")),
        None => Error::failed(format!("{what}: {}", script::sqlite_message(e))),
    }
}

/// Settings every modreg connection uses.
pub(crate) fn configure(conn: &Connection, busy_timeout: Duration) -> rusqlite::Result<()> {
    conn.busy_timeout(busy_timeout)?;
    Ok(())
}
