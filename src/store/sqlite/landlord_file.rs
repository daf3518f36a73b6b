//! The SQLite landlord as one file, without opening it as a landlord (it may be the
//! broken part): checked whole, read-only; copied while other processes keep working;
//! and put back from a copy. A copy goes back through SQLite's backup API into the
//! landlord every process has open, under its write lock, so that each sees the new
//! content at its next read; only a landlord too damaged to write to is replaced as a
//! file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

use crate::domain::{Error, ErrorKind, Result};
use crate::store::sqlite::check::{foreign_keys, integrity, open_read_only};
use crate::store::sqlite::copy::{copy_database, copy_pages};
use crate::store::sqlite::error::{configure, sql_error, storage_fault};
use crate::store::sqlite::files::landlord_file;
use crate::store::sqlite::files::{remove_if_exists, with_suffix};
use crate::store::sqlite::landlord::SCHEMA_VERSION;
use crate::store::storage::{StorageFault, io_error};
use crate::store::{LandlordCopy, LandlordFile};

/// The tables every landlord schema version this binary reads has.
const LANDLORD_TABLES: [&str; 5] = ["_landlord_schema_history", "catalog", "tenants", "tenant_modules", "jobs"];

/// The SQLite landlord's file.
pub struct SqliteLandlordFile {
    path: PathBuf,
    busy_timeout: Duration,
}

impl SqliteLandlordFile {
    pub fn new(data_dir: &Path, busy_timeout: Duration) -> SqliteLandlordFile {
        SqliteLandlordFile { path: data_dir.join("landlord.db"), busy_timeout }
    }

    fn require(&self) -> Result<()> {
        match self.path.is_file() {
            true => Ok(()),
            false => Err(Error::not_found(format!("there is no landlord at `{}`", self.path.display()))),
        }
    }

    fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        self.require()?;
        open_read_only(&self.path, self.busy_timeout).and_then(|conn| f(&conn)).map_err(|e| sql_error(landlord_file(&self.path), e))
    }

    /// Copies the landlord about to be replaced to `aside`: consistently when it reads,
    /// byte for byte (with its log) when it is too damaged to.
    fn keep_aside(&self, aside: &Path) -> Result<()> {
        if copy_database(&self.path, &landlord_file(&self.path), aside, self.busy_timeout).is_ok() {
            return Ok(());
        }
        let copy = |from: &Path, to: &Path| {
            std::fs::copy(from, to).map(|_| ()).map_err(|e| io_error(format!("cannot copy `{}` to `{}`", from.display(), to.display()), e))
        };
        copy(&self.path, aside)?;
        let log = with_suffix(&self.path, "-wal");
        if log.is_file() {
            copy(&log, &with_suffix(aside, "-wal"))?;
        }
        Ok(())
    }

    /// Writes every page of `from` into the landlord, in one transaction of its own.
    fn replace_pages(&self, from: &Connection) -> rusqlite::Result<bool> {
        let mut to = Connection::open(&self.path)?;
        configure(&to, self.busy_timeout)?;
        copy_pages(from, &mut to, self.busy_timeout)
    }

    /// Replaces a landlord that cannot be written to (it is no database any more) with a
    /// copy of `file`, as a file: nothing can have been using it.
    fn replace_file(&self, file: &Path) -> Result<()> {
        for suffix in ["-wal", "-shm"] {
            remove_if_exists(&with_suffix(&self.path, suffix))?;
        }
        let partial = with_suffix(&self.path, ".partial");
        std::fs::copy(file, &partial)
            .and_then(|_| std::fs::File::open(&partial))
            .and_then(|f| f.sync_all())
            .and_then(|()| std::fs::rename(&partial, &self.path))
            .map_err(|e| io_error(format!("cannot copy `{}` to `{}`", file.display(), self.path.display()), e))
    }
}

/// A backup, as messages name it.
fn backup_file(file: &Path) -> String {
    format!("the backup `{}`", file.display())
}

const NOT_RESTORED: &str = "nothing was restored: put back another backup (`modreg backup` makes them)";

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

    fn copy_to(&self, dest: &Path) -> Result<LandlordCopy> {
        self.require()?;
        let bytes = copy_database(&self.path, &landlord_file(&self.path), dest, self.busy_timeout)?;
        let schema_version = open_read_only(dest, self.busy_timeout)
            .and_then(|conn| conn.pragma_query_value(None, "user_version", |r| r.get(0)))
            .map_err(|e| sql_error(format!("the copy `{}`", dest.display()), e))?;
        Ok(LandlordCopy { bytes, schema_version })
    }

    fn check_backup(&self, file: &Path) -> Result<i32> {
        let what = backup_file(file);
        if !file.is_file() {
            return Err(Error::not_found(format!("there is no file `{}`", file.display())));
        }
        if std::fs::canonicalize(file).ok() == std::fs::canonicalize(&self.path).ok() {
            return Err(Error::invalid(format!("`{}` is the landlord itself, not a backup of it", file.display())));
        }
        let refused = |e: rusqlite::Error| {
            let error = sql_error(&what, e);
            if error.kind == ErrorKind::Storage { error.with_hint(NOT_RESTORED) } else { error }
        };
        let conn = open_read_only(file, self.busy_timeout).map_err(refused)?;
        let problems = integrity(&conn).map_err(refused)?;
        if !problems.is_empty() {
            let shown = problems.iter().take(3).cloned().collect::<Vec<_>>().join("; ");
            return Err(Error::storage(format!("{what} is damaged ({} problem(s): {shown})", problems.len())).with_hint(NOT_RESTORED));
        }
        let tables: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'table'")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .map_err(refused)?;
        if let Some(missing) = LANDLORD_TABLES.iter().find(|t| !tables.iter().any(|name| name == *t)) {
            return Err(Error::invalid(format!("{what} is a SQLite database, but no modreg landlord: it has no `{missing}` table"))
                .with_hint("give the `landlord.db` of a folder that `modreg backup` wrote"));
        }
        let version: i32 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(refused)?;
        if !(1..=SCHEMA_VERSION).contains(&version) {
            return Err(Error::invalid(format!(
                "{what} is a landlord of schema version {version}, and this modreg reads versions 1 to {SCHEMA_VERSION}"
            ))
            .with_hint("restore it with the modreg release that wrote it, or a newer one"));
        }
        Ok(version)
    }

    fn restore(&self, file: &Path, aside: &Path) -> Result<bool> {
        self.check_backup(file)?;
        let kept = self.path.is_file();
        if !kept {
            self.replace_file(file)?;
        } else {
            self.keep_aside(aside)?;
            let from = open_read_only(file, self.busy_timeout).map_err(|e| sql_error(backup_file(file), e))?;
            match self.replace_pages(&from) {
                Ok(true) => {}
                Ok(false) => {
                    return Err(Error::busy(format!(
                        "{} stayed locked by another process; nothing was restored",
                        landlord_file(&self.path)
                    ))
                    .with_hint("retry when the other process is done, or raise `--lock-timeout`"));
                }
                Err(e) if matches!(storage_fault(&e), Some(StorageFault::Damaged | StorageFault::NotADatabase)) => {
                    self.replace_file(file)?
                }
                Err(e) => return Err(sql_error(landlord_file(&self.path), e)),
            }
        }
        // The landlord runs with a write-ahead log; a backup is a file of its own.
        Connection::open(&self.path)
            .and_then(|conn| conn.pragma_update(None, "journal_mode", "WAL"))
            .map_err(|e| sql_error(landlord_file(&self.path), e))?;
        Ok(kept)
    }
}
