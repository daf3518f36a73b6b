//! One tenant's SQLite file, opened for work. Module work runs inside one transaction of
//! modreg's (SQLite DDL is transactional), through the sandbox, with ownership of every
//! object recorded in `_modreg_objects`. A whole-file rollback copy is taken only when
//! hooks that write the tenant database, which run between transactions, are part of
//! the work: by reflink where the file system can, else by copying the file, each while
//! the file alone holds the whole database; else with SQLite's backup API.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::{Connection, MAIN_DB, OpenFlags, OptionalExtension, params};

use crate::domain::change::Change;
use crate::domain::module::ModuleVersion;
use crate::domain::name::ModuleName;
use crate::domain::ownership::{self, Ownership};
use crate::domain::{Error, Result};
use crate::store::clock::Clock;
use crate::store::sqlite::driver::{Driver, migration_error};
use crate::store::sqlite::error::{sql_error, work_failure};
use crate::store::sqlite::files::{kept_path, remove_if_exists, tenant_file};
use crate::store::sqlite::sandbox::Sandbox;
use crate::store::sqlite::schema::{self, INTERNAL_SCHEMA, INTERNAL_TABLES, SchemaObject, history_table, quote, quote_literal};
use crate::store::sqlite::{archive, kept};
use crate::store::storage::io_error;
use crate::store::{
    ApplyReport, ArchiveSummary, CopyMethod, Interrupts, Kept, SchemaItem, TenantDb, Unrecorded, WorkError, WorkStep, file_copy,
};

pub(crate) struct SqliteTenantDb {
    conn: Connection,
    path: Option<PathBuf>,
    copy: PathBuf,
    partial_copy: PathBuf,
    sandbox: Sandbox,
    in_transaction: bool,
    clock: Arc<dyn Clock>,
}

impl SqliteTenantDb {
    pub(crate) fn new(
        mut conn: Connection,
        path: Option<PathBuf>,
        copy: PathBuf,
        partial_copy: PathBuf,
        sql_timeout: Duration,
        clock: Arc<dyn Clock>,
        interrupts: Arc<dyn Interrupts>,
    ) -> Result<Self> {
        let err = |e| sql_error(tenant_file(path.as_deref()), e);
        // The bundled SQLite enforces foreign keys by default; schema changes must not
        // (dropping a table would cascade into its children's rows), as SQLite's own
        // ALTER TABLE procedure says. Applications keep their own setting.
        conn.pragma_update(None, "foreign_keys", false).map_err(err)?;
        let sandbox = Sandbox::install(&mut conn, sql_timeout, interrupts).map_err(err)?;
        let names = INTERNAL_TABLES.iter().map(|t| quote_literal(t)).collect::<Vec<_>>().join(", ");
        let present: i64 = conn
            .query_row(&format!("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN ({names})"), [], |r| r.get(0))
            .map_err(err)?;
        if present < INTERNAL_TABLES.len() as i64 {
            conn.execute_batch(INTERNAL_SCHEMA).map_err(err)?;
        }
        Ok(SqliteTenantDb { conn, path, copy, partial_copy, sandbox, in_transaction: false, clock })
    }

    fn err(&self, e: rusqlite::Error) -> Error {
        sql_error(tenant_file(self.path.as_deref()), e)
    }

    fn require_transaction(&self, step: &str) -> std::result::Result<(), WorkError> {
        if self.in_transaction { Ok(()) } else { Err(WorkError::new(step, Error::internal("module work outside a transaction"))) }
    }

    fn record_objects(&self, module: &str, before: &[SchemaObject]) -> rusqlite::Result<(Vec<SchemaItem>, Vec<String>)> {
        let after = schema::list(&self.conn)?;
        fn names(objects: &[SchemaObject]) -> Vec<&str> {
            objects.iter().map(|o| o.name.as_str()).collect()
        }
        let owned = schema::owned_names(&self.conn, module)?;
        let (new, dropped) = ownership::changed_objects(&names(before), &names(&after), &owned);
        let new: HashSet<&str> = new.into_iter().collect();
        let mut created = Vec::new();
        let mut insert =
            self.conn.prepare_cached("INSERT OR REPLACE INTO _modreg_objects (name, module, type, tbl_name) VALUES (?1, ?2, ?3, ?4)")?;
        for object in after.iter().filter(|o| new.contains(o.name.as_str())) {
            insert.execute(params![object.name, module, object.kind, object.tbl_name])?;
            created.push(SchemaItem { name: object.name.clone(), kind: object.kind.clone() });
        }
        let mut delete = self.conn.prepare_cached("DELETE FROM _modreg_objects WHERE name = ?1")?;
        for name in &dropped {
            delete.execute([name])?;
        }
        Ok((created, dropped))
    }

    /// Writes the partial rollback copy, syncs it and puts it in place.
    fn write_rollback_copy(&mut self, path: &Path) -> Result<CopyMethod> {
        let method = match self.copy_whole_file(path)? {
            Some(method) => method,
            None => {
                remove_if_exists(&self.partial_copy)?;
                self.conn
                    .backup(MAIN_DB, &self.partial_copy, None::<fn(rusqlite::backup::Progress)>)
                    .map_err(|e| sql_error("rollback copy", e))?;
                CopyMethod::Backup
            }
        };
        std::fs::File::open(&self.partial_copy)
            .and_then(|f| f.sync_all())
            .map_err(|e| io_error(format!("cannot sync `{}`", self.partial_copy.display()), e))?;
        std::fs::rename(&self.partial_copy, &self.copy)
            .map_err(|e| io_error(format!("cannot rename `{}`", self.partial_copy.display()), e))?;
        Ok(method)
    }

    /// Copies the tenant file by itself to the partial copy, by reflink where the file
    /// system can: that is a whole, consistent database only while nobody writes it and
    /// the write-ahead log holds nothing the file lacks. So this holds the write lock
    /// (no commit can happen, so no checkpoint has anything to write into the file) and
    /// has the log checkpointed first. `None` when the checkpoint could not take all of
    /// it (a reader is still on an older snapshot): then only the backup API will do.
    fn copy_whole_file(&mut self, path: &Path) -> Result<Option<CopyMethod>> {
        self.conn.execute_batch("BEGIN IMMEDIATE").map_err(|e| self.err(e))?;
        let copied = if checkpointed(path) {
            file_copy::clone_or_copy(path, &self.partial_copy)
                .map(Some)
                .map_err(|e| io_error(format!("cannot copy `{}` to `{}`", path.display(), self.partial_copy.display()), e))
        } else {
            Ok(None)
        };
        self.conn.execute_batch("ROLLBACK").map_err(|e| self.err(e))?;
        copied
    }

    fn set_module_record(&self, module: &ModuleVersion) -> rusqlite::Result<()> {
        let now = self.clock.now_text();
        self.conn
            .prepare_cached(
                "INSERT INTO _modreg_modules (module, version, checksum, installed_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)
                 ON CONFLICT (module) DO UPDATE SET version = excluded.version, checksum = excluded.checksum, updated_at = excluded.updated_at",
            )?
            .execute(params![module.name().as_str(), module.version().to_string(), module.checksum, now])?;
        Ok(())
    }
}

/// Whether the database file at `path` holds every committed change: its write-ahead log
/// (if it has one) is checkpointed completely, by a connection of its own, since a
/// connection in a transaction cannot checkpoint. A passive checkpoint waits for no one:
/// it takes what no reader still needs, and any failure means no.
fn checkpointed(path: &Path) -> bool {
    let Ok(conn) = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX) else {
        return false;
    };
    // (busy, frames in the log, frames checkpointed); -1 frames when not in WAL mode.
    let outcome =
        conn.query_row("PRAGMA main.wal_checkpoint(PASSIVE)", [], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)));
    matches!(outcome, Ok((0, log, done)) if log == done)
}

impl TenantDb for SqliteTenantDb {
    fn begin(&mut self) -> Result<()> {
        self.conn.execute_batch("BEGIN IMMEDIATE").map_err(|e| self.err(e))?;
        self.in_transaction = true;
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        self.conn.execute_batch("COMMIT").map_err(|e| self.err(e))?;
        self.in_transaction = false;
        Ok(())
    }

    fn rollback(&mut self) -> Result<()> {
        if self.conn.is_autocommit() {
            self.in_transaction = false;
            return Ok(());
        }
        self.conn.execute_batch("ROLLBACK").map_err(|e| self.err(e))?;
        self.in_transaction = false;
        Ok(())
    }

    /// Rolled-back frames stay in the write-ahead log, which SQLite reuses but never
    /// shrinks; a truncating checkpoint hands their space back.
    fn release_space(&mut self) -> Result<()> {
        self.conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).map_err(|e| self.err(e))
    }

    fn save_checkpoint(&mut self) -> Result<Option<CopyMethod>> {
        let Some(path) = self.path.clone() else { return Ok(None) };
        remove_if_exists(&self.partial_copy)?;
        let saved = self.write_rollback_copy(&path);
        if saved.is_err() {
            let _ = remove_if_exists(&self.partial_copy);
        }
        saved.map(Some)
    }

    fn restore_checkpoint(&mut self) -> Result<bool> {
        if self.path.is_none() || !self.copy.is_file() {
            return Ok(false);
        }
        self.rollback()?;
        self.conn
            .restore(MAIN_DB, &self.copy, None::<fn(rusqlite::backup::Progress)>)
            .map_err(|e| sql_error(format!("restoring the rollback copy `{}`", self.copy.display()), e))?;
        remove_if_exists(&self.copy)?;
        Ok(true)
    }

    fn discard_checkpoint(&mut self) -> Result<()> {
        remove_if_exists(&self.copy)?;
        remove_if_exists(&self.partial_copy)
    }

    fn apply(
        &mut self,
        module: &ModuleVersion,
        seeds: bool,
        writable: &BTreeSet<ModuleName>,
    ) -> std::result::Result<ApplyReport, WorkError> {
        let name = module.name().as_str();
        self.require_transaction("migrate")?;
        let internal = |e: rusqlite::Error| WorkError::new("migrate", self.err(e));
        let before = schema::list(&self.conn).map_err(internal)?;
        let foreign = schema::foreign_objects(&self.conn, name, &before).map_err(internal)?;
        self.sandbox.prepare(Ownership::new(name, foreign, writable.iter().map(ToString::to_string).collect()));

        let runner = crate::store::migration_error::runner(module, &module.migrations, history_table(name))?;
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
                if let Err(e) = self.sandbox.run_script(&self.conn, &seed.sql) {
                    let what = format!("seed `{}` of `{name}`", seed.name);
                    let mut failure = e.work_error(step, &what, &format!("seeds/{}", seed.name), &seed.sql);
                    failure.done = steps;
                    return Err(failure);
                }
                steps.push(WorkStep { name: step, duration: started.elapsed(), detail: None });
            }
        }
        // Trigger and view bodies are checked by the authorizer only when they run, which
        // may be in an application's connection: refuse any that names modreg's tables,
        // and triggers that would write where the module may not.
        let after = schema::list(&self.conn).map_err(internal)?;
        let planted = after
            .iter()
            .find(|o| matches!(o.kind.as_str(), "trigger" | "view") && o.sql.as_deref().is_some_and(ownership::refers_to_internal));
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
        let existed: HashSet<String> = before.iter().map(|o| o.name.to_lowercase()).collect();
        for trigger in after.iter().filter(|o| o.kind == "trigger" && !existed.contains(&o.name.to_lowercase())) {
            if let Err(mut failure) = self.sandbox.check_trigger(&self.conn, trigger) {
                failure.done = steps;
                return Err(failure);
            }
        }
        let (objects_created, objects_dropped) = self.record_objects(name, &before).map_err(internal)?;
        self.set_module_record(module).map_err(internal)?;
        Ok(ApplyReport { steps, objects_created, objects_dropped })
    }

    fn save_module(&mut self, module: &str, flags: &BTreeMap<String, bool>, kept: &Kept) -> Result<ArchiveSummary> {
        archive::save(&self.conn, module, flags, kept_path(kept), &self.clock.now_text())
    }

    fn remove_module(&mut self, module: &str) -> std::result::Result<Vec<String>, WorkError> {
        self.require_transaction("remove")?;
        let fail = |e: rusqlite::Error| {
            WorkError::new(
                "remove objects",
                work_failure(format!("cannot remove the objects of `{module}`"), &tenant_file(self.path.as_deref()), &e),
            )
        };
        let objects = schema::module_objects(&self.conn, module).map_err(fail)?;
        let kinds: Vec<&str> = objects.iter().map(|o| o.kind.as_str()).collect();
        let mut removed = Vec::new();
        for object in ownership::removal_order(&kinds).into_iter().map(|i| &objects[i]) {
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

    fn restore_module(&mut self, kept: &Kept) -> std::result::Result<ArchiveSummary, WorkError> {
        self.require_transaction("restore")?;
        archive::restore(&self.conn, kept_path(kept), &self.clock.now_text())
    }

    fn foreign_key_problems(&mut self, module: &str) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        for table in schema::module_objects(&self.conn, module).map_err(|e| self.err(e))?.iter().filter(|o| o.kind == "table") {
            let mut stmt = self.conn.prepare(&format!("PRAGMA foreign_key_check({})", quote(&table.name))).map_err(|e| self.err(e))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?, r.get::<_, String>(2)?)))
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                .map_err(|e| self.err(e))?;
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
            .map_err(|e| self.err(e))
    }

    fn record(&mut self, changes: &[Change]) -> Result<()> {
        changes.iter().try_for_each(|change| kept::record(&self.conn, change)).map_err(|e| self.err(e))
    }

    fn unrecorded(&mut self) -> Result<Unrecorded> {
        kept::unrecorded(&self.conn).map_err(|e| self.err(e))
    }

    fn mark_jobs(&mut self, jobs: &[i64], batch: &str) -> Result<()> {
        let now = self.clock.now_text();
        let mut insert = self
            .conn
            .prepare_cached("INSERT OR REPLACE INTO _modreg_jobs (job_id, batch, at) VALUES (?1, ?2, ?3)")
            .map_err(|e| self.err(e))?;
        for job in jobs {
            insert.execute(params![job, batch, now]).map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    fn job_marked(&mut self, job: i64) -> Result<bool> {
        self.conn
            .prepare_cached("SELECT 1 FROM _modreg_jobs WHERE job_id = ?1")
            .and_then(|mut s| s.query_row([job], |_| Ok(())).optional())
            .map(|r| r.is_some())
            .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::TenantFiles;
    use crate::store::clock::SystemClock;
    use crate::store::sqlite::SqliteTenantFiles;

    fn count(path: &Path) -> i64 {
        Connection::open(path).unwrap().query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap()
    }

    /// A tenant file whose latest rows are only in its write-ahead log, with an
    /// application connection that keeps the log from being checkpointed.
    #[test]
    fn a_rollback_copy_holds_what_is_still_in_the_write_ahead_log() {
        let dir = tempfile::tempdir().unwrap();
        let never = Arc::new(crate::store::interrupt::Switch::default());
        let files = SqliteTenantFiles::new(dir.path(), Duration::from_secs(5), Duration::from_secs(60), Arc::new(SystemClock), never);
        files.create("acme").unwrap();
        let path = files.path("acme");
        let app = Connection::open(&path).unwrap();
        app.execute_batch("PRAGMA wal_autocheckpoint = 0; CREATE TABLE t (x); INSERT INTO t VALUES (1);").unwrap();
        let wal = dir.path().join("tenants/acme.db-wal");
        let copy = dir.path().join("tenants/acme.db.rollback");

        let mut db = files.open("acme").unwrap();
        assert!(std::fs::metadata(&wal).unwrap().len() > 0, "the rows are in the log");
        let method = db.save_checkpoint().unwrap();
        assert!(matches!(method, Some(CopyMethod::Reflink | CopyMethod::FileCopy)), "{method:?}");
        assert_eq!(count(&copy), 1);
        db.discard_checkpoint().unwrap();

        // A reader on an older snapshot keeps the newest frames out of the file: the copy
        // of the file alone would miss them, so the backup API takes its place.
        let reader = Connection::open(&path).unwrap();
        reader.execute_batch("BEGIN; SELECT count(*) FROM t;").unwrap();
        app.execute_batch("INSERT INTO t VALUES (2);").unwrap();
        assert_eq!(db.save_checkpoint().unwrap(), Some(CopyMethod::Backup));
        assert_eq!(count(&copy), 2);
        reader.execute_batch("COMMIT").unwrap();

        // Putting the copy back undoes what came after it.
        app.execute_batch("INSERT INTO t VALUES (3);").unwrap();
        assert!(db.restore_checkpoint().unwrap());
        assert_eq!(count(&path), 2);
        assert!(!copy.exists());
    }
}
