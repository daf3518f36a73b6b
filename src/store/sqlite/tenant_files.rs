//! Tenant files on SQLite: one WAL database per tenant under `<data>/tenants/`, the
//! whole-file rollback copies (the checkpoints) beside them, what is kept aside of a
//! tenant under `archive/<tenant>/` and `copies/<tenant>/`, and the per-tenant OS locks
//! under `locks/`. A [`Kept`] item is a file; its reference is the file's path. Opening a
//! file for work gives a [`SqliteTenantDb`].

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::domain::change::FileKind;
use crate::domain::module::Engine;
use crate::domain::name::TenantName;
use crate::domain::{Error, Result};
use crate::store::clock::{Clock, format_time};
use crate::store::lock::FileLock;
use crate::store::sqlite::error::{configure, sql_error};
use crate::store::sqlite::files::{kept_path, remove_if_exists, tenant_file, with_suffix};
use crate::store::sqlite::schema::INTERNAL_SCHEMA;
use crate::store::sqlite::tenant_db::SqliteTenantDb;
use crate::store::sqlite::{archive, check, copy};
use crate::store::storage::io_error;
use crate::store::{ArchiveSummary, Checkpoint, Interrupts, KeepFor, Kept, KeptItem, TenantDb, TenantFileCheck, TenantFiles, TenantLock};

pub struct SqliteTenantFiles {
    data_dir: PathBuf,
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
            data_dir: data_dir.to_path_buf(),
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

    /// The tenant's file.
    pub fn path(&self, tenant: &str) -> PathBuf {
        self.tenants_dir.join(format!("{tenant}.db"))
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

/// The folders of the data folder that hold kept files, a folder a tenant.
const KEPT_FOLDERS: [(&str, FileKind); 2] = [("archive", FileKind::Uninstall), ("copies", FileKind::UpgradeCopy)];

/// A path as it can be compared: absolute, links resolved (records keep the path as the
/// data folder was given then).
fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The entries of a folder, sorted; none when it does not exist.
fn entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let read = match std::fs::read_dir(dir) {
        Ok(read) => read,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(format!("cannot read `{}`", dir.display()), e)),
    };
    let mut paths = read
        .map(|entry| entry.map(|e| e.path()).map_err(|e| io_error(format!("cannot read `{}`", dir.display()), e)))
        .collect::<Result<Vec<_>>>()?;
    paths.sort();
    Ok(paths)
}

impl TenantFiles for SqliteTenantFiles {
    fn engine(&self) -> Engine {
        Engine::Sqlite
    }

    fn location(&self, tenant: &str) -> String {
        self.path(tenant).display().to_string()
    }

    /// A hook that may not write finds the file locked by modreg's transaction.
    fn hook_env(&self, tenant: &str, _writes: bool) -> Vec<(String, String)> {
        let path = self.path(tenant);
        let path = std::path::absolute(&path).unwrap_or(path);
        vec![("MODREG_TENANT_DB".to_string(), path.display().to_string())]
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

    fn retire(&self, tenant: &str, kept: Option<&Kept>) -> Result<()> {
        let dest = kept.map(kept_path);
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

    fn checkpoint(&self, tenant: &str) -> Checkpoint {
        if self.copy_path(tenant).is_file() {
            Checkpoint::Complete
        } else if self.partial_copy_path(tenant).is_file() {
            Checkpoint::Partial
        } else {
            Checkpoint::None
        }
    }

    fn discard_partial_checkpoint(&self, tenant: &str) -> Result<()> {
        remove_if_exists(&self.partial_copy_path(tenant))
    }

    fn place(&self, tenant: &str, what: KeepFor<'_>) -> Kept {
        let (folder, file) = match what {
            KeepFor::Archive { module, version, batch } => ("archive", format!("{module}-{version}-{batch}.db")),
            KeepFor::UpgradeCopy { module, from, batch } => ("copies", format!("{module}-{from}-{batch}.db")),
            KeepFor::RemovedTenant { stamp } => ("archive", format!("tenant-{stamp}.db")),
        };
        Kept::new(self.data_dir.join(folder).join(tenant).join(file).display().to_string())
    }

    fn kept_size(&self, kept: &Kept) -> Option<u64> {
        std::fs::metadata(kept_path(kept)).ok().filter(|m| m.is_file()).map(|m| m.len())
    }

    fn read_archive(&self, kept: &Kept) -> Result<ArchiveSummary> {
        archive::read_summary(kept_path(kept))
    }

    fn kept_here(&self, only: Option<&BTreeSet<&str>>, referenced: &[Kept]) -> Result<Vec<KeptItem>> {
        let referenced: BTreeSet<PathBuf> = referenced.iter().map(|k| canonical(kept_path(k))).collect();
        let mut items = Vec::new();
        for (folder, kind) in KEPT_FOLDERS {
            for tenant_dir in entries(&self.data_dir.join(folder))? {
                let tenant = tenant_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                if !tenant_dir.is_dir() || only.is_some_and(|only| !only.contains(tenant.as_str())) {
                    continue;
                }
                for file in entries(&tenant_dir)?.into_iter().filter(|f| f.is_file()) {
                    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    let removed_tenant = kind == FileKind::Uninstall && name.starts_with("tenant-") && name.ends_with(".db");
                    let written_at = std::fs::metadata(&file).and_then(|m| m.modified()).ok().map(|t| format_time(t.into()));
                    items.push(KeptItem {
                        tenant: tenant.clone(),
                        referenced: referenced.contains(&canonical(&file)),
                        kept: Kept::new(file.display().to_string()),
                        kind: if removed_tenant { FileKind::Tenant } else { kind },
                        partial: name.ends_with(".partial"),
                        written_at,
                    });
                }
            }
        }
        Ok(items)
    }

    fn discard_kept(&self, kept: &Kept) -> Result<bool> {
        let path = kept_path(kept);
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
        let mut names = Vec::new();
        for path in entries(&self.tenants_dir)?.into_iter().filter(|p| p.is_file()) {
            let Some(tenant) = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".db")) else { continue };
            if TenantName::parse(tenant).is_ok() {
                names.push(tenant.to_string());
            }
        }
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
