//! Tenant files on SQLite: one WAL database per tenant under `<data>/tenants/`, the
//! whole-file rollback copies beside them, and the per-tenant OS locks under `locks/`.
//! Opening a file for work gives a [`SqliteTenantDb`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::domain::name::TenantName;
use crate::domain::{Error, Result};
use crate::store::clock::Clock;
use crate::store::lock::FileLock;
use crate::store::sqlite::error::{configure, sql_error};
use crate::store::sqlite::files::{remove_if_exists, tenant_file, with_suffix};
use crate::store::sqlite::schema::INTERNAL_SCHEMA;
use crate::store::sqlite::tenant_db::SqliteTenantDb;
use crate::store::sqlite::{archive, check, copy};
use crate::store::storage::io_error;
use crate::store::{ArchiveSummary, Interrupts, RollbackCopy, TenantDb, TenantFileCheck, TenantFiles, TenantLock};

pub struct SqliteTenantFiles {
    tenants_dir: PathBuf,
    locks_dir: PathBuf,
    busy_timeout: Duration,
    /// How long one migration or seed may run (`MODREG_SQL_TIMEOUT`).
    sql_timeout: Duration,
    clock: Arc<dyn Clock>,
    /// Module SQL stops when the process is interrupted.
    interrupts: Arc<dyn Interrupts>,
}

impl SqliteTenantFiles {
    /// Tenant files under `data_dir`; each migration and seed may run for `sql_timeout`,
    /// and until `interrupts` says the process was interrupted.
    pub fn new(
        data_dir: &Path,
        busy_timeout: Duration,
        sql_timeout: Duration,
        clock: Arc<dyn Clock>,
        interrupts: Arc<dyn Interrupts>,
    ) -> Self {
        SqliteTenantFiles {
            tenants_dir: data_dir.join("tenants"),
            locks_dir: data_dir.join("locks"),
            busy_timeout,
            sql_timeout,
            clock,
            interrupts,
        }
    }

    fn copy_path(&self, tenant: &str) -> PathBuf {
        self.tenants_dir.join(format!("{tenant}.db.rollback"))
    }

    fn partial_copy_path(&self, tenant: &str) -> PathBuf {
        self.tenants_dir.join(format!("{tenant}.db.rollback.tmp"))
    }

    /// The tenant's file, which must exist.
    fn require_file(&self, tenant: &str) -> Result<PathBuf> {
        let path = self.path(tenant);
        if !path.is_file() {
            return Err(Error::not_found(format!("the database file of tenant `{tenant}` is missing: `{}`", path.display())));
        }
        Ok(path)
    }

    fn connect(&self, path: &Path, flags: OpenFlags) -> Result<Connection> {
        let what = tenant_file(Some(path));
        let conn = Connection::open_with_flags(path, flags).map_err(|e| sql_error(&what, e))?;
        configure(&conn, self.busy_timeout).map_err(|e| sql_error(&what, e))?;
        Ok(conn)
    }
}

impl TenantFiles for SqliteTenantFiles {
    fn path(&self, tenant: &str) -> PathBuf {
        self.tenants_dir.join(format!("{tenant}.db"))
    }

    fn exists(&self, tenant: &str) -> bool {
        self.path(tenant).is_file()
    }

    fn create(&self, tenant: &str) -> Result<()> {
        std::fs::create_dir_all(&self.tenants_dir).map_err(|e| io_error(format!("cannot create `{}`", self.tenants_dir.display()), e))?;
        let path = self.path(tenant);
        let conn =
            self.connect(&path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
        let what = tenant_file(Some(&path));
        conn.pragma_update(None, "journal_mode", "WAL").map_err(|e| sql_error(&what, e))?;
        conn.execute_batch(INTERNAL_SCHEMA).map_err(|e| sql_error(&what, e))?;
        Ok(())
    }

    fn open(&self, tenant: &str) -> Result<Box<dyn TenantDb>> {
        let path = self.require_file(tenant).map_err(|e| e.with_hint(format!("`modreg tenant add {tenant}` recreates an empty one")))?;
        let conn = self.connect(&path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
        let db = SqliteTenantDb::new(
            conn,
            Some(path),
            self.copy_path(tenant),
            self.partial_copy_path(tenant),
            self.sql_timeout,
            self.clock.clone(),
            self.interrupts.clone(),
        )?;
        Ok(Box::new(db))
    }

    fn scratch(&self) -> Result<Box<dyn TenantDb>> {
        let conn = Connection::open_in_memory().map_err(|e| sql_error("scratch database", e))?;
        let db =
            SqliteTenantDb::new(conn, None, PathBuf::new(), PathBuf::new(), self.sql_timeout, self.clock.clone(), self.interrupts.clone())?;
        Ok(Box::new(db))
    }

    fn retire(&self, tenant: &str, dest: Option<&Path>) -> Result<()> {
        let path = self.path(tenant);
        if path.is_file() {
            // Fold the WAL into the main file so that one file holds everything.
            let conn = self.connect(&path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).map_err(|e| sql_error(tenant_file(Some(&path)), e))?;
            drop(conn);
            match dest {
                Some(dest) => {
                    if let Some(parent) = dest.parent() {
                        std::fs::create_dir_all(parent).map_err(|e| io_error(format!("cannot create `{}`", parent.display()), e))?;
                    }
                    std::fs::rename(&path, dest).map_err(|e| io_error(format!("cannot move `{}`", path.display()), e))?;
                }
                None => remove_if_exists(&path)?,
            }
        }
        for suffix in ["-wal", "-shm", ".rollback", ".rollback.tmp"] {
            remove_if_exists(&with_suffix(&path, suffix))?;
        }
        Ok(())
    }

    fn rollback_copy(&self, tenant: &str) -> RollbackCopy {
        if self.copy_path(tenant).is_file() {
            RollbackCopy::Complete
        } else if self.partial_copy_path(tenant).is_file() {
            RollbackCopy::Partial
        } else {
            RollbackCopy::None
        }
    }

    fn discard_partial_copy(&self, tenant: &str) -> Result<()> {
        remove_if_exists(&self.partial_copy_path(tenant))
    }

    fn read_archive(&self, path: &Path) -> Result<ArchiveSummary> {
        archive::read_summary(path)
    }

    fn discard_kept(&self, path: &Path) -> Result<bool> {
        // An archive is written as `<name>.partial`, a copy as `<name>.db.partial`.
        let mut found = false;
        for file in [path.to_path_buf(), path.with_extension("partial"), with_suffix(path, ".partial")] {
            found |= file.exists();
            remove_if_exists(&file)?;
        }
        Ok(found)
    }

    fn lock(&self, tenant: &str, timeout: Duration) -> Result<TenantLock> {
        let path = self.locks_dir.join(format!("{tenant}.lock"));
        let lock = FileLock::acquire(&path, timeout).map_err(|e| match e {
            Some(e) => e,
            None => Error::busy(format!("tenant `{tenant}` is busy: another modreg process is working on it"))
                .with_hint("wait for it to finish, or raise `--lock-timeout`"),
        })?;
        Ok(Box::new(lock))
    }

    fn names(&self) -> Result<Vec<String>> {
        let entries = match std::fs::read_dir(&self.tenants_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error(format!("cannot read `{}`", self.tenants_dir.display()), e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_error(format!("cannot read `{}`", self.tenants_dir.display()), e))?;
            let name = entry.file_name();
            let Some(tenant) = name.to_str().and_then(|n| n.strip_suffix(".db")) else { continue };
            if TenantName::parse(tenant).is_ok() && entry.path().is_file() {
                names.push(tenant.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    fn check(&self, tenant: &str) -> Result<TenantFileCheck> {
        let path = self.require_file(tenant)?;
        let conn = self.connect(&path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
        let what = tenant_file(Some(&path));
        let integrity = check::integrity(&conn).map_err(|e| sql_error(&what, e))?;
        // Damage explains any broken reference: only an undamaged file's are worth listing.
        let foreign_keys = if integrity.is_empty() { check::foreign_keys(&conn).map_err(|e| sql_error(&what, e))? } else { Vec::new() };
        let records = check::tenant_records(&conn).map_err(|e| sql_error(&what, e));
        Ok(TenantFileCheck { integrity, foreign_keys, records })
    }

    fn copy_to(&self, tenant: &str, dest: &Path) -> Result<u64> {
        let path = self.require_file(tenant)?;
        copy::copy_database(&path, &tenant_file(Some(&path)), dest, self.busy_timeout)
    }
}
