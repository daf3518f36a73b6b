//! The SQLite adapters: the landlord, tenant files with their migration driver and SQL
//! sandbox, and module archives. The only code in modreg that names rusqlite.

mod archive;
mod driver;
pub mod landlord;
mod reader;
mod sandbox;
mod schema;
mod script;
mod tenant_db;
mod tenant_files;

use std::time::Duration;

use rusqlite::{Connection, ErrorCode};

use crate::domain::Error;

pub use landlord::SqliteLandlord;
pub use reader::SqliteReadModel;
pub use tenant_files::SqliteTenantFiles;

/// Maps a SQLite error to a user-facing one; "database is locked" never reaches a user raw.
pub(crate) fn sql_error(what: impl std::fmt::Display, e: rusqlite::Error) -> Error {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            Error::busy(format!("{what}: the database is busy; another process held it past the lock timeout"))
                .with_hint("retry when the other process has finished, or raise `--lock-timeout`")
        }
        Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => {
            Error::internal(format!("{what}: {e}")).with_hint("check that the data folder exists and is writable")
        }
        Some(ErrorCode::DiskFull) => Error::internal(format!("{what}: the disk is full")),
        _ => Error::internal(format!("{what}: {e}")),
    }
}

/// Settings every modreg connection uses.
pub(crate) fn configure(conn: &Connection, busy_timeout: Duration) -> rusqlite::Result<()> {
    conn.busy_timeout(busy_timeout)?;
    Ok(())
}
