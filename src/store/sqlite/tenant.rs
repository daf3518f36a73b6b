//! Tenant files on SQLite: one WAL database per tenant under `<data>/tenants/`. Module
//! work runs inside one transaction of modreg's (SQLite DDL is transactional), through
//! the sandbox, with ownership of every object recorded in `_modreg_objects`. A
//! whole-file rollback copy is taken only when hooks, which run outside the transaction,
//! are part of the work.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use refinery_core::error::Kind;
use rusqlite::{Connection, MAIN_DB, OpenFlags, OptionalExtension, params};

use crate::domain::module::ModuleVersion;
use crate::domain::{Error, Result};
use crate::store::clock;
use crate::store::lock::FileLock;
use crate::store::sqlite::driver::{Driver, DriverError};
use crate::store::sqlite::sandbox::{Sandbox, is_internal};
use crate::store::sqlite::{archive, configure, script, sql_error};
use crate::store::{ApplyReport, ArchiveSummary, RollbackCopy, TenantDb, TenantFiles, TenantLock, WorkError, WorkStep};

/// modreg's own tables in every tenant file.
const INTERNAL_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS _modreg_modules (
    module       TEXT PRIMARY KEY,
    version      TEXT NOT NULL,
    checksum     TEXT NOT NULL,
    installed_at TEXT NOT NULL,
    updated_at   TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS _modreg_objects (
    name     TEXT PRIMARY KEY COLLATE NOCASE,
    module   TEXT NOT NULL,
    type     TEXT NOT NULL,
    tbl_name TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS _modreg_jobs (
    job_id INTEGER PRIMARY KEY,
    batch  TEXT NOT NULL,
    at     TEXT NOT NULL
);
";

/// The name of a module's refinery history table.
pub(crate) fn history_table(module: &str) -> String {
    format!("_modreg_history_{module}")
}

/// Quotes an SQL identifier.
pub(crate) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub struct SqliteTenantFiles {
    tenants_dir: PathBuf,
    locks_dir: PathBuf,
    busy_timeout: Duration,
}

impl SqliteTenantFiles {
    pub fn new(data_dir: &Path, busy_timeout: Duration) -> Self {
        SqliteTenantFiles { tenants_dir: data_dir.join("tenants"), locks_dir: data_dir.join("locks"), busy_timeout }
    }

    fn copy_path(&self, tenant: &str) -> PathBuf {
        self.tenants_dir.join(format!("{tenant}.db.rollback"))
    }

    fn partial_copy_path(&self, tenant: &str) -> PathBuf {
        self.tenants_dir.join(format!("{tenant}.db.rollback.tmp"))
    }

    fn connect(&self, path: &Path, flags: OpenFlags) -> Result<Connection> {
        let what = format!("tenant database `{}`", path.display());
        let conn = Connection::open_with_flags(path, flags).map_err(|e| sql_error(&what, e))?;
        configure(&conn, self.busy_timeout).map_err(|e| sql_error(&what, e))?;
        Ok(conn)
    }
}

fn io_error(what: impl std::fmt::Display, e: std::io::Error) -> Error {
    Error::internal(format!("{what}: {e}"))
}

fn remove_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error(format!("cannot remove `{}`", path.display()), e)),
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
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
        let what = format!("tenant database `{}`", path.display());
        conn.pragma_update(None, "journal_mode", "WAL").map_err(|e| sql_error(&what, e))?;
        conn.execute_batch(INTERNAL_SCHEMA).map_err(|e| sql_error(&what, e))?;
        Ok(())
    }

    fn open(&self, tenant: &str) -> Result<Box<dyn TenantDb>> {
        let path = self.path(tenant);
        if !path.is_file() {
            return Err(Error::not_found(format!("the database file of tenant `{tenant}` is missing: `{}`", path.display()))
                .with_hint(format!("`modreg tenant add {tenant}` recreates an empty one")));
        }
        let conn = self.connect(&path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
        let db = SqliteTenantDb::new(conn, Some(path), self.copy_path(tenant), self.partial_copy_path(tenant))?;
        Ok(Box::new(db))
    }

    fn scratch(&self) -> Result<Box<dyn TenantDb>> {
        let conn = Connection::open_in_memory().map_err(|e| sql_error("scratch database", e))?;
        let db = SqliteTenantDb::new(conn, None, PathBuf::new(), PathBuf::new())?;
        Ok(Box::new(db))
    }

    fn retire(&self, tenant: &str, dest: Option<&Path>) -> Result<()> {
        let path = self.path(tenant);
        if path.is_file() {
            // Fold the WAL into the main file so that one file holds everything.
            let conn = self.connect(&path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).map_err(|e| sql_error("checkpoint", e))?;
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

    fn lock(&self, tenant: &str, timeout: Duration) -> Result<TenantLock> {
        let path = self.locks_dir.join(format!("{tenant}.lock"));
        let lock = FileLock::acquire(&path, timeout).map_err(|e| match e {
            Some(e) => e,
            None => Error::busy(format!("tenant `{tenant}` is busy: another modreg process is working on it"))
                .with_hint("wait for it to finish, or raise `--lock-timeout`"),
        })?;
        Ok(Box::new(lock))
    }
}

/// An object in `sqlite_schema`.
#[derive(Debug, Clone)]
pub(crate) struct SchemaObject {
    pub name: String,
    pub kind: String,
    pub tbl_name: String,
    pub sql: Option<String>,
}

pub(crate) struct SqliteTenantDb {
    pub(crate) conn: Connection,
    path: Option<PathBuf>,
    copy: PathBuf,
    partial_copy: PathBuf,
    pub(crate) sandbox: Sandbox,
    in_transaction: bool,
}

fn err(e: rusqlite::Error) -> Error {
    sql_error("tenant database", e)
}

impl SqliteTenantDb {
    fn new(mut conn: Connection, path: Option<PathBuf>, copy: PathBuf, partial_copy: PathBuf) -> Result<Self> {
        // The bundled SQLite enforces foreign keys by default; schema changes must not
        // (dropping a table would cascade into its children's rows), as SQLite's own
        // ALTER TABLE procedure says. Applications keep their own setting.
        conn.pragma_update(None, "foreign_keys", false).map_err(err)?;
        let sandbox = Sandbox::install(&mut conn).map_err(err)?;
        let has_internal: bool =
            conn.query_row("SELECT count(*) FROM sqlite_schema WHERE name = '_modreg_jobs'", [], |r| r.get::<_, i64>(0)).map_err(err)? > 0;
        if !has_internal {
            conn.execute_batch(INTERNAL_SCHEMA).map_err(err)?;
        }
        Ok(SqliteTenantDb { conn, path, copy, partial_copy, sandbox, in_transaction: false })
    }

    /// Every object of the main schema except SQLite's own, in creation order.
    pub(crate) fn schema(&self) -> rusqlite::Result<Vec<SchemaObject>> {
        let shadow: HashSet<String> = self
            .conn
            .prepare_cached("SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'shadow'")?
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT name, type, tbl_name, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid",
        )?;
        let rows = stmt.query_map([], |r| {
            let name: String = r.get(0)?;
            let mut kind: String = r.get(1)?;
            let sql: Option<String> = r.get(3)?;
            if kind == "table" {
                if shadow.contains(&name) {
                    kind = "shadow".into();
                } else if sql
                    .as_deref()
                    .is_some_and(|s| s.trim_start().get(..20).is_some_and(|p| p.eq_ignore_ascii_case("CREATE VIRTUAL TABLE")))
                {
                    kind = "virtual".into();
                }
            }
            Ok(SchemaObject { name, kind, tbl_name: r.get(2)?, sql })
        })?;
        rows.collect()
    }

    /// Lowercase object name to owning module.
    fn owners(&self) -> rusqlite::Result<HashMap<String, String>> {
        self.conn
            .prepare_cached("SELECT name, module FROM _modreg_objects")?
            .query_map([], |r| Ok((r.get::<_, String>(0)?.to_lowercase(), r.get(1)?)))?
            .collect()
    }

    /// Objects of a module, in creation order.
    pub(crate) fn module_objects(&self, module: &str) -> rusqlite::Result<Vec<SchemaObject>> {
        let owned: HashSet<String> = self
            .conn
            .prepare_cached("SELECT name FROM _modreg_objects WHERE module = ?1")?
            .query_map([module], |r| Ok(r.get::<_, String>(0)?.to_lowercase()))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(self.schema()?.into_iter().filter(|o| owned.contains(&o.name.to_lowercase())).collect())
    }

    fn require_transaction(&self, step: &str) -> std::result::Result<(), WorkError> {
        if self.in_transaction { Ok(()) } else { Err(WorkError::new(step, Error::internal("module work outside a transaction"))) }
    }

    fn record_objects(&self, module: &str, before: &[SchemaObject]) -> rusqlite::Result<(Vec<String>, Vec<String>)> {
        let after = self.schema()?;
        let before_names: HashSet<String> = before.iter().map(|o| o.name.to_lowercase()).collect();
        let after_names: HashSet<String> = after.iter().map(|o| o.name.to_lowercase()).collect();
        let mut created = Vec::new();
        let mut insert =
            self.conn.prepare_cached("INSERT OR REPLACE INTO _modreg_objects (name, module, type, tbl_name) VALUES (?1, ?2, ?3, ?4)")?;
        for object in after.iter().filter(|o| !before_names.contains(&o.name.to_lowercase()) && !is_internal(&o.name)) {
            insert.execute(params![object.name, module, object.kind, object.tbl_name])?;
            created.push(object.name.clone());
        }
        let mut dropped = Vec::new();
        let mut delete = self.conn.prepare_cached("DELETE FROM _modreg_objects WHERE name = ?1")?;
        for object in self.module_objects_listed(module)? {
            if !after_names.contains(&object.to_lowercase()) {
                delete.execute([&object])?;
                dropped.push(object);
            }
        }
        Ok((created, dropped))
    }

    fn module_objects_listed(&self, module: &str) -> rusqlite::Result<Vec<String>> {
        self.conn.prepare_cached("SELECT name FROM _modreg_objects WHERE module = ?1")?.query_map([module], |r| r.get(0))?.collect()
    }

    /// What `module`'s SQL may not create, drop or alter: everything that exists and is
    /// not its own.
    fn foreign_objects(&self, module: &str, schema: &[SchemaObject]) -> rusqlite::Result<HashMap<String, Option<String>>> {
        let owners = self.owners()?;
        Ok(schema
            .iter()
            .map(|o| o.name.to_lowercase())
            .filter(|name| owners.get(name).map(String::as_str) != Some(module))
            .map(|name| {
                let owner = owners.get(&name).cloned();
                (name, owner)
            })
            .collect())
    }

    fn set_module_record(&self, module: &ModuleVersion) -> rusqlite::Result<()> {
        let now = clock::now();
        self.conn
            .prepare_cached(
                "INSERT INTO _modreg_modules (module, version, checksum, installed_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)
                 ON CONFLICT (module) DO UPDATE SET version = excluded.version, checksum = excluded.checksum, updated_at = excluded.updated_at",
            )?
            .execute(params![module.name().as_str(), module.version().to_string(), module.checksum, now])?;
        Ok(())
    }
}

fn sqlite_message(e: &rusqlite::Error) -> String {
    match e {
        rusqlite::Error::SqlInputError { msg, .. } => msg.clone(),
        rusqlite::Error::SqliteFailure(_, Some(msg)) => msg.clone(),
        other => other.to_string(),
    }
}

impl TenantDb for SqliteTenantDb {
    fn begin(&mut self) -> Result<()> {
        self.conn.execute_batch("BEGIN IMMEDIATE").map_err(err)?;
        self.in_transaction = true;
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        self.conn.execute_batch("COMMIT").map_err(err)?;
        self.in_transaction = false;
        Ok(())
    }

    fn rollback(&mut self) -> Result<()> {
        if self.conn.is_autocommit() {
            self.in_transaction = false;
            return Ok(());
        }
        self.conn.execute_batch("ROLLBACK").map_err(err)?;
        self.in_transaction = false;
        Ok(())
    }

    fn save_rollback_copy(&mut self) -> Result<()> {
        if self.path.is_none() {
            return Ok(());
        }
        remove_if_exists(&self.partial_copy)?;
        self.conn.backup(MAIN_DB, &self.partial_copy, None::<fn(rusqlite::backup::Progress)>).map_err(|e| sql_error("rollback copy", e))?;
        std::fs::File::open(&self.partial_copy)
            .and_then(|f| f.sync_all())
            .map_err(|e| io_error(format!("cannot sync `{}`", self.partial_copy.display()), e))?;
        std::fs::rename(&self.partial_copy, &self.copy)
            .map_err(|e| io_error(format!("cannot rename `{}`", self.partial_copy.display()), e))?;
        Ok(())
    }

    fn restore_rollback_copy(&mut self) -> Result<bool> {
        if self.path.is_none() || !self.copy.is_file() {
            return Ok(false);
        }
        self.rollback()?;
        self.conn
            .restore(MAIN_DB, &self.copy, None::<fn(rusqlite::backup::Progress)>)
            .map_err(|e| sql_error("restoring the rollback copy", e))?;
        remove_if_exists(&self.copy)?;
        Ok(true)
    }

    fn discard_rollback_copy(&mut self) -> Result<()> {
        remove_if_exists(&self.copy)?;
        remove_if_exists(&self.partial_copy)
    }

    fn apply(&mut self, module: &ModuleVersion, seeds: bool) -> std::result::Result<ApplyReport, WorkError> {
        let name = module.name().as_str();
        self.require_transaction("migrate")?;
        let internal = |e: rusqlite::Error| WorkError::new("migrate", err(e));
        let before = self.schema().map_err(internal)?;
        let foreign = self.foreign_objects(name, &before).map_err(internal)?;
        self.sandbox.prepare(name, foreign);

        let mut migrations = Vec::with_capacity(module.migrations.len());
        for m in &module.migrations {
            let migration = refinery_core::Migration::unapplied(&m.name, &m.sql).map_err(|e| {
                WorkError::new(format!("migrate {}", m.name), Error::invalid(format!("migration `{}` of `{name}`: {e}", m.name)))
            })?;
            migrations.push(migration);
        }
        let mut runner = refinery_core::Runner::new(&migrations).set_grouped(true).set_abort_divergent(true).set_abort_missing(true);
        runner.set_migration_table_name(history_table(name));
        let mut driver = Driver::new(&self.conn, &self.sandbox, &module.migrations);
        let outcome = runner.run(&mut driver);
        let mut steps = std::mem::take(&mut driver.steps);
        drop(driver);
        if let Err(e) = outcome {
            let mut failure = migration_error(module, e);
            failure.done = steps;
            return Err(failure);
        }
        if seeds {
            for seed in &module.seeds {
                let started = Instant::now();
                let step = format!("seed {}", seed.name);
                let result = self.sandbox.run(|| script::run(&self.conn, &seed.sql));
                if let Err(e) = result {
                    let reason = self.sandbox.take_denial().unwrap_or_else(|| sqlite_message(&e.error));
                    let mut failure = WorkError::new(&step, Error::failed(format!("seed `{}` of `{name}` failed: {reason}", seed.name)));
                    failure.offset = Some(e.offset);
                    failure.done = steps;
                    return Err(failure);
                }
                steps.push(WorkStep { name: step, duration: started.elapsed(), detail: None });
            }
        }
        // Trigger and view bodies are checked by the authorizer only when they run, which
        // may be in an application's connection: refuse any that names modreg's tables.
        let planted = self.schema().map_err(internal)?.into_iter().find(|o| {
            matches!(o.kind.as_str(), "trigger" | "view")
                && o.sql.as_deref().is_some_and(|sql| sql.to_ascii_lowercase().contains("_modreg_"))
        });
        if let Some(object) = planted {
            let mut failure = WorkError::new(
                "record objects",
                Error::failed(format!(
                    "module `{name}` created {} `{}`, which refers to modreg's `_modreg_*` tables",
                    object.kind, object.name
                )),
            );
            failure.done = steps;
            return Err(failure);
        }
        let (objects_created, objects_dropped) = self.record_objects(name, &before).map_err(internal)?;
        self.set_module_record(module).map_err(internal)?;
        Ok(ApplyReport { steps, objects_created, objects_dropped })
    }

    fn save_module(&mut self, module: &str, flags: &BTreeMap<String, bool>, dest: &Path) -> Result<ArchiveSummary> {
        archive::save(self, module, flags, dest)
    }

    fn remove_module(&mut self, module: &str) -> std::result::Result<Vec<String>, WorkError> {
        self.require_transaction("remove")?;
        let fail = |e: rusqlite::Error| {
            WorkError::new("remove objects", Error::failed(format!("cannot remove the objects of `{module}`: {}", sqlite_message(&e))))
        };
        let objects = self.module_objects(module).map_err(fail)?;
        // Dependents first: triggers and views, then indexes, then virtual tables (which
        // take their shadow tables with them), then tables, newest first.
        let rank = |kind: &str| match kind {
            "trigger" => 0,
            "view" => 1,
            "index" => 2,
            "virtual" => 3,
            "table" => 4,
            _ => 5,
        };
        let mut ordered: Vec<(usize, &SchemaObject)> = objects.iter().enumerate().collect();
        ordered.sort_by_key(|(i, o)| (rank(&o.kind), std::cmp::Reverse(*i)));
        let mut removed = Vec::new();
        for (_, object) in ordered {
            if object.kind == "shadow" {
                continue;
            }
            let exists: bool = self
                .conn
                .prepare_cached("SELECT count(*) FROM sqlite_schema WHERE name = ?1 COLLATE NOCASE")
                .and_then(|mut s| s.query_row([&object.name], |r| r.get::<_, i64>(0)))
                .map_err(fail)?
                > 0;
            if !exists {
                continue;
            }
            let kind = match object.kind.as_str() {
                "virtual" => "TABLE",
                other => &other.to_uppercase(),
            };
            self.conn.execute_batch(&format!("DROP {kind} {}", quote(&object.name))).map_err(fail)?;
            removed.push(object.name.clone());
        }
        let history = history_table(module);
        self.conn.execute_batch(&format!("DROP TABLE IF EXISTS {}", quote(&history))).map_err(fail)?;
        self.conn.execute("DELETE FROM _modreg_objects WHERE module = ?1", [module]).map_err(fail)?;
        // Objects of other modules that went with these (a trigger on a dropped table).
        self.conn.execute("DELETE FROM _modreg_objects WHERE name NOT IN (SELECT name FROM sqlite_schema)", []).map_err(fail)?;
        self.conn.execute("DELETE FROM _modreg_modules WHERE module = ?1", [module]).map_err(fail)?;
        Ok(removed)
    }

    fn restore_module(&mut self, archive: &Path) -> std::result::Result<ArchiveSummary, WorkError> {
        self.require_transaction("restore")?;
        archive::restore(self, archive)
    }

    fn foreign_key_problems(&mut self, module: &str) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        for table in self.module_objects(module).map_err(err)?.iter().filter(|o| o.kind == "table") {
            let mut stmt = self.conn.prepare(&format!("PRAGMA foreign_key_check({})", quote(&table.name))).map_err(err)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?, r.get::<_, String>(2)?)))
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                .map_err(err)?;
            for (child, rowid, parent) in rows {
                let row = rowid.map_or_else(|| "a row".to_string(), |id| format!("row {id}"));
                problems.push(format!("{row} of `{child}` refers to a row of `{parent}` that does not exist"));
            }
        }
        Ok(problems)
    }

    fn modules(&mut self) -> Result<BTreeMap<String, String>> {
        self.conn
            .prepare_cached("SELECT module, version FROM _modreg_modules")
            .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
            .map_err(err)
    }

    fn mark_jobs(&mut self, jobs: &[i64], batch: &str) -> Result<()> {
        let now = clock::now();
        let mut insert =
            self.conn.prepare_cached("INSERT OR REPLACE INTO _modreg_jobs (job_id, batch, at) VALUES (?1, ?2, ?3)").map_err(err)?;
        for job in jobs {
            insert.execute(params![job, batch, now]).map_err(err)?;
        }
        Ok(())
    }

    fn job_marked(&mut self, job: i64) -> Result<bool> {
        self.conn
            .prepare_cached("SELECT 1 FROM _modreg_jobs WHERE job_id = ?1")
            .and_then(|mut s| s.query_row([job], |_| Ok(())).optional())
            .map(|r| r.is_some())
            .map_err(err)
    }
}

/// Turns refinery's error into one that names the migration and says what to do.
fn migration_error(module: &ModuleVersion, e: refinery_core::Error) -> WorkError {
    let name = module.name();
    match e.kind() {
        Kind::DivergentVersion(applied, _) => WorkError::new(
            format!("migrate V{}__{}", applied.version(), applied.name()),
            Error::invalid(format!(
                "migration `V{}__{}` of `{name}` has changed since it was applied to this tenant",
                applied.version(),
                applied.name()
            ))
            .with_hint("a published migration never changes: revert the edit and put the change in a new migration of a new version"),
        ),
        Kind::MissingVersion(m) => WorkError::new(
            format!("migrate V{}__{}", m.version(), m.name()),
            Error::invalid(format!(
                "migration `V{}__{}` was applied to this tenant but `{}` does not have it (or has it out of order)",
                m.version(),
                m.name(),
                module.label()
            ))
            .with_hint("a new version must keep every migration of the old one and add new ones with higher numbers"),
        ),
        Kind::RepeatedVersion(m) => {
            WorkError::new("migrate", Error::invalid(format!("`{}` has two migrations numbered {}", module.label(), m.version())))
        }
        Kind::Connection(_, source) => match source.downcast_ref::<DriverError>() {
            Some(driver) => {
                let migration = driver.migration.clone().unwrap_or_else(|| "history".into());
                let reason = driver.denial.clone().unwrap_or_else(|| sqlite_message(&driver.source));
                let mut failure = WorkError::new(
                    format!("migrate {migration}"),
                    Error::failed(format!("migration `{migration}` of `{name}` failed: {reason}")),
                );
                failure.offset = driver.offset;
                failure
            }
            None => WorkError::new("migrate", Error::internal(format!("migrations of `{name}`: {source}"))),
        },
        other => WorkError::new("migrate", Error::internal(format!("migrations of `{name}`: {other}"))),
    }
}
