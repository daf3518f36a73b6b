//! The landlord on SQLite: one file, WAL, a busy timeout, a schema versioned with
//! refinery's embedded migrations. Each trait method is one transaction. Here: opening
//! and migrating, the helpers the stores share, the catalog and the tenants; change sets
//! in `changes`, jobs in `jobs`, flags, subscriptions and events in `runtime`, API
//! tokens in `tokens`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, Transaction, TransactionBehavior, params};

use crate::domain::change::FileKind;
use crate::domain::module::ModuleVersion;
use crate::domain::{Error, Result};
use crate::store::sqlite::SqliteReadModel;
use crate::store::sqlite::error::{configure, sql_error};
use crate::store::sqlite::files::landlord_file;
use crate::store::storage::io_error;
use crate::store::version_content;
use crate::store::{
    ArchiveRecord, CatalogEntry, CatalogStore, Changed, Exclusive, HistoryEntry, InstalledModule, ReadModel, ReadModelSource,
    StoredVersion, TenantRecord, TenantStore,
};

mod changes;
mod jobs;
mod runtime;
mod tokens;

mod embedded {
    refinery::embed_migrations!("src/store/sqlite/landlord_migrations");
}

/// The landlord schema version this binary writes: the number of embedded migrations.
pub(crate) const SCHEMA_VERSION: i32 = 3;

pub struct SqliteLandlord {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl SqliteLandlord {
    /// Opens (creating when needed) `landlord.db` in `data_dir`, upgrading its schema.
    pub fn open(data_dir: &Path, busy_timeout: Duration) -> Result<SqliteLandlord> {
        std::fs::create_dir_all(data_dir).map_err(|e| io_error(format!("cannot create the data folder `{}`", data_dir.display()), e))?;
        let path = data_dir.join("landlord.db");
        let err = |e| sql_error(landlord_file(&path), e);
        let mut conn = Connection::open(&path).map_err(err)?;
        configure(&conn, busy_timeout).map_err(err)?;
        conn.pragma_update(None, "foreign_keys", true).map_err(err)?;
        let version: i32 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(err)?;
        if version > SCHEMA_VERSION {
            return Err(Error::internal(format!(
                "the landlord `{}` has schema version {version}, newer than this modreg understands ({SCHEMA_VERSION})",
                path.display()
            ))
            .with_hint("use the modreg release that last wrote it, or a newer one"));
        }
        if version < SCHEMA_VERSION {
            migrate(&mut conn, data_dir, &path)?;
        }
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(err)?;
        stable_plans(&conn).map_err(err)?;
        Ok(SqliteLandlord { conn: Mutex::new(conn), path })
    }

    /// Opens an existing landlord read-only (for `validate` and the library API).
    pub fn open_read_only(data_dir: &Path) -> Result<Option<SqliteLandlord>> {
        let path = data_dir.join("landlord.db");
        if !path.exists() {
            return Ok(None);
        }
        let err = |e| sql_error(landlord_file(&path), e);
        let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX).map_err(err)?;
        configure(&conn, Duration::from_secs(5)).map_err(err)?;
        stable_plans(&conn).map_err(err)?;
        Ok(Some(SqliteLandlord { conn: Mutex::new(conn), path }))
    }

    /// An empty landlord in memory: what commands that need no state see when there is
    /// none on disk (they must not create one).
    pub fn open_in_memory() -> Result<SqliteLandlord> {
        let mut conn = Connection::open_in_memory().map_err(|e| sql_error(landlord_file(Path::new("")), e))?;
        run_migrations(&mut conn, Path::new(""))?;
        stable_plans(&conn).map_err(|e| sql_error(landlord_file(Path::new("")), e))?;
        Ok(SqliteLandlord { conn: Mutex::new(conn), path: PathBuf::new() })
    }

    /// The landlord's file (empty for one in memory).
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: rusqlite::Error) -> Error {
        sql_error(landlord_file(&self.path), e)
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A poisoned lock means a panic elsewhere; the connection itself is still sound.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs a query and maps every row.
    fn rows<T>(&self, sql: &str, params: impl rusqlite::Params, map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>) -> Result<Vec<T>> {
        let conn = self.conn();
        conn.prepare_cached(sql).and_then(|mut s| s.query_map(params, map)?.collect()).map_err(|e| self.err(e))
    }

    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>) -> Result<T> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| self.err(e))?;
        let value = f(&tx).map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(value)
    }
}

/// Plans that do not depend on the values bound to a statement (SQLite's query planner
/// stability guarantee). Without it, the bundled SQLite (3.54, built with STAT4) marks
/// some statements to be compiled again whenever a parameter is bound: the
/// `WHERE tenant = ?1 ORDER BY module` on `tenant_modules` that every check and status
/// makes was prepared anew on each call (11 µs against 4 µs). The landlord has no
/// `sqlite_stat*` tables and binds no LIKE patterns, so no plan here could use a bound
/// value anyway: the plans are the same, only the recompiling goes.
fn stable_plans(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true).map(|_| ())
}

/// Runs the embedded migrations under a file lock, so that two processes creating the
/// landlord at once do not both try.
fn migrate(conn: &mut Connection, data_dir: &Path, path: &Path) -> Result<()> {
    let err = |e| sql_error(landlord_file(path), e);
    let lock_path = data_dir.join(".landlord.lock");
    let lock_file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| Error::internal(format!("cannot open `{}`: {e}", lock_path.display())))?;
    lock_file.lock().map_err(|e| Error::internal(format!("cannot lock `{}`: {e}", lock_path.display())))?;
    let version: i32 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(err)?;
    if version < SCHEMA_VERSION {
        conn.pragma_update(None, "journal_mode", "WAL").map_err(err)?;
        run_migrations(conn, path)?;
    }
    Ok(())
}

/// Brings the landlord's schema to this binary's version.
fn run_migrations(conn: &mut Connection, path: &Path) -> Result<()> {
    embedded::migrations::runner()
        .set_migration_table_name("_landlord_schema_history")
        .run(conn)
        .map_err(|e| Error::internal(format!("cannot upgrade the landlord schema: {e}")))?;
    conn.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(|e| sql_error(landlord_file(path), e))?;
    Ok(())
}

/// A tenant's modules: what every check and status reads.
const INSTALLED: &str =
    "SELECT tenant, module, version, enabled, installed_at, updated_at FROM tenant_modules WHERE tenant = ?1 ORDER BY module";

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

fn bad_row(e: impl std::fmt::Display) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.to_string().into())
}

impl ReadModelSource for SqliteLandlord {
    fn read_model(&self) -> Result<Box<dyn ReadModel>> {
        if self.path.as_os_str().is_empty() {
            return Err(Error::internal("an empty in-memory landlord has no read model"));
        }
        Ok(Box::new(SqliteReadModel::open(&self.path)?))
    }

    /// `PRAGMA data_version` costs no I/O: the read model asks it on every read.
    fn watch(&self, _: Duration, _: Arc<dyn Fn(Changed) + Send + Sync>) -> Result<Option<Exclusive>> {
        Ok(None)
    }
}

impl CatalogStore for SqliteLandlord {
    fn catalog_entries(&self) -> Result<Vec<CatalogEntry>> {
        self.rows("SELECT module, version, checksum, first_seen_at FROM catalog", [], |r| {
            Ok(CatalogEntry { module: r.get(0)?, version: r.get(1)?, checksum: r.get(2)?, first_seen_at: r.get(3)? })
        })
    }

    fn record_versions(&self, versions: &[&ModuleVersion], now: &str) -> Result<()> {
        if versions.is_empty() {
            return Ok(());
        }
        self.write(|tx| {
            let mut insert = tx.prepare_cached(
                "INSERT INTO catalog (module, version, checksum, manifest, migrations, seeds, first_seen_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (module, version) DO NOTHING",
            )?;
            for v in versions {
                let (migrations, seeds) = version_content::encode(v);
                insert.execute(params![
                    v.name().as_str(),
                    v.version().to_string(),
                    v.checksum,
                    v.manifest_text,
                    to_json(&migrations),
                    to_json(&seeds),
                    now
                ])?;
            }
            Ok(())
        })
    }

    fn known_module(&self, module: &str) -> Result<bool> {
        let conn = self.conn();
        conn.prepare_cached("SELECT 1 FROM catalog WHERE module = ?1 LIMIT 1")
            .and_then(|mut s| s.query_row([module], |_| Ok(())).optional())
            .map(|found| found.is_some())
            .map_err(|e| self.err(e))
    }

    fn stored_version(&self, module: &str, version: &str) -> Result<Option<StoredVersion>> {
        let conn = self.conn();
        conn.prepare_cached("SELECT checksum, manifest, migrations, seeds, first_seen_at FROM catalog WHERE module = ?1 AND version = ?2")
            .and_then(|mut stmt| {
                stmt.query_row(params![module, version], |r| {
                    let migrations: String = r.get(2)?;
                    let seeds: String = r.get(3)?;
                    let json = |text: &str| serde_json::from_str::<serde_json::Value>(text).map_err(bad_row);
                    let (migrations, seeds, postgres) = version_content::decode(json(&migrations)?, json(&seeds)?).map_err(bad_row)?;
                    Ok(StoredVersion {
                        module: module.to_string(),
                        version: version.to_string(),
                        checksum: r.get(0)?,
                        manifest: r.get(1)?,
                        migrations,
                        seeds,
                        postgres,
                        first_seen_at: r.get(4)?,
                    })
                })
                .optional()
            })
            .map_err(|e| self.err(e))
    }
}

/// A tenant row: name, created_at, number of modules.
fn tenant_from_row(r: &Row<'_>) -> rusqlite::Result<TenantRecord> {
    Ok(TenantRecord { name: r.get(0)?, created_at: r.get(1)?, modules: r.get::<_, i64>(2)? as usize, host: r.get(3)? })
}

fn installed_from_row(r: &Row<'_>) -> rusqlite::Result<InstalledModule> {
    Ok(InstalledModule {
        tenant: r.get(0)?,
        module: r.get(1)?,
        version: r.get(2)?,
        enabled: r.get(3)?,
        installed_at: r.get(4)?,
        updated_at: r.get(5)?,
    })
}

impl TenantStore for SqliteLandlord {
    fn tenant(&self, name: &str) -> Result<Option<TenantRecord>> {
        let conn = self.conn();
        conn.prepare_cached(
            "SELECT name, created_at, (SELECT count(*) FROM tenant_modules WHERE tenant = name), host FROM tenants WHERE name = ?1",
        )
        .and_then(|mut s| s.query_row([name], tenant_from_row).optional())
        .map_err(|e| self.err(e))
    }

    fn tenants(&self) -> Result<Vec<TenantRecord>> {
        self.rows(
            "SELECT t.name, t.created_at, count(m.module), t.host FROM tenants t LEFT JOIN tenant_modules m ON m.tenant = t.name GROUP BY t.name ORDER BY t.name",
            [],
            tenant_from_row,
        )
    }

    fn installed(&self, tenant: &str) -> Result<Vec<InstalledModule>> {
        self.rows(INSTALLED, [tenant], installed_from_row)
    }

    fn installed_everywhere(&self) -> Result<Vec<InstalledModule>> {
        self.rows(
            "SELECT tenant, module, version, enabled, installed_at, updated_at FROM tenant_modules ORDER BY tenant, module",
            [],
            installed_from_row,
        )
    }

    fn history(&self, tenant: &str, module: Option<&str>) -> Result<Vec<HistoryEntry>> {
        self.rows(
            "SELECT tenant, module, from_version, to_version, job_id, at FROM version_history
             WHERE tenant = ?1 AND (?2 IS NULL OR module = ?2) ORDER BY id",
            params![tenant, module],
            |r| {
                Ok(HistoryEntry {
                    tenant: r.get(0)?,
                    module: r.get(1)?,
                    from_version: r.get(2)?,
                    to_version: r.get(3)?,
                    job_id: r.get(4)?,
                    at: r.get(5)?,
                })
            },
        )
    }

    fn archives(&self, tenant: &str, module: Option<&str>, kind: Option<FileKind>) -> Result<Vec<ArchiveRecord>> {
        let kind = kind.map(FileKind::as_str);
        self.rows(
            "SELECT id, tenant, module, version, kind, path, job_id, created_at FROM archives
             WHERE tenant = ?1 AND (?2 IS NULL OR module = ?2) AND (?3 IS NULL OR kind = ?3) AND deleted_at IS NULL ORDER BY id DESC",
            params![tenant, module, kind],
            archive_from_row,
        )
    }

    fn archives_everywhere(&self) -> Result<Vec<ArchiveRecord>> {
        self.rows(
            "SELECT id, tenant, module, version, kind, path, job_id, created_at FROM archives
             WHERE deleted_at IS NULL ORDER BY tenant, id DESC",
            [],
            archive_from_row,
        )
    }
}

fn archive_from_row(r: &Row<'_>) -> rusqlite::Result<ArchiveRecord> {
    Ok(ArchiveRecord {
        id: r.get(0)?,
        tenant: r.get(1)?,
        module: r.get(2)?,
        version: r.get(3)?,
        kind: r.get(4)?,
        path: r.get(5)?,
        job_id: r.get(6)?,
        created_at: r.get(7)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenants_modules_are_read_without_compiling_the_statement_again() {
        let dir = tempfile::tempdir().unwrap();
        let landlord = SqliteLandlord::open(dir.path(), Duration::from_secs(5)).unwrap();
        for tenant in ["acme", "globex", "acme"] {
            landlord.installed(tenant).unwrap();
        }
        let conn = landlord.conn();
        let statement = conn.prepare_cached(INSTALLED).unwrap();
        assert_eq!(statement.get_status(rusqlite::StatementStatus::RePrepare), 0);
    }
}
