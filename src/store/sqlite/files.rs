//! Naming and removing the files of the SQLite adapters: the leaf every other module of
//! `store::sqlite` may use, and that uses none of them.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::domain::Result;
use crate::store::Kept;
use crate::store::storage::io_error;

/// A tenant file (the scratch database, without one), as messages name it.
pub(crate) fn tenant_file(path: Option<&Path>) -> String {
    path.map_or_else(|| "the scratch database".to_string(), |path| format!("the tenant file `{}`", path.display()))
}

/// The tenant file a connection is open on, as messages name it.
pub(crate) fn connection_file(conn: &Connection) -> String {
    tenant_file(conn.path().filter(|p| !p.is_empty()).map(Path::new))
}

/// The file a kept item is: its reference is the file's path.
pub(crate) fn kept_path(kept: &Kept) -> &Path {
    Path::new(kept.reference())
}

pub(crate) fn remove_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error(format!("cannot remove `{}`", path.display()), e)),
    }
}

pub(crate) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The landlord at `path` (in memory when empty), as messages name it.
pub(crate) fn landlord_file(path: &Path) -> String {
    if path.as_os_str().is_empty() { "the landlord in memory".to_string() } else { format!("the landlord `{}`", path.display()) }
}
