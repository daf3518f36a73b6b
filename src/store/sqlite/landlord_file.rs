//! The SQLite landlord as one file, without opening it as a landlord (it may be the
//! broken part): checked whole, read-only.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

use crate::domain::{Error, Result};
use crate::store::LandlordFile;
use crate::store::sqlite::check::{foreign_keys, integrity, open_read_only};
use crate::store::sqlite::landlord::landlord_file;
use crate::store::sqlite::sql_error;

/// The SQLite landlord's file, checked without opening it as a landlord.
pub struct SqliteLandlordFile {
    path: PathBuf,
    busy_timeout: Duration,
}

impl SqliteLandlordFile {
    pub fn new(data_dir: &Path, busy_timeout: Duration) -> SqliteLandlordFile {
        SqliteLandlordFile { path: data_dir.join("landlord.db"), busy_timeout }
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let what = landlord_file(&self.path);
        if !self.path.is_file() {
            return Err(Error::not_found(format!("there is no landlord at `{}`", self.path.display())));
        }
        open_read_only(&self.path, self.busy_timeout).and_then(|conn| f(&conn)).map_err(|e| sql_error(what, e))
    }
}

impl LandlordFile for SqliteLandlordFile {
    fn path(&self) -> &Path {
        &self.path
    }

    fn integrity(&self) -> Result<Vec<String>> {
        self.read(integrity)
    }

    fn foreign_keys(&self) -> Result<Vec<String>> {
        self.read(foreign_keys)
    }
}
